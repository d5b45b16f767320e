/* manager.h (internal) — what the checkpoint manager knows about a directory, and its ownership
 * manifest DIR/.savepoint-checkpoints.json.
 *
 * The manifest is the manager's memory across restarts and its proof of ownership: retention
 * removes exactly the files an entry lists, and nothing that no entry lists. An entry is
 *   pending   reserved before its files are written; if the process dies here, the entry is
 *             cleaned up by the next manager (the files, if any, are ours and never referenced);
 *   complete  its files are durable and its sidecar manifest <name>.sha256 written;
 *   deleting  retention decided to remove it; the next manager finishes the job after a crash.
 * The `checkpoint` state file (TensorFlow's) remains the reference for what is active: an
 * entry is listed there while it is among the newest max_to_keep.
 *
 * Layout (JSON, written atomically, sp_json_dumps with indent 2):
 *   {"format": "savepoint-checkpoints", "version": 1, "next_number": 8,
 *    "last_preserved_timestamp": 1700000000.0,
 *    "policy": {"checkpoint_name": "ckpt", "max_to_keep": 5, "keep_checkpoint_every_n_hours": 0,
 *               "keep_best": 0, "mode": "min"},
 *    "checkpoints": [{"name": "ckpt-7", "checkpoint_name": "ckpt", "number": 7, "step": 700,
 *                     "timestamp": 1700000123.5, "metric": 0.25, "status": "complete",
 *                     "preserved": false, "files": ["ckpt-7.data-00000-of-00001", "ckpt-7.index",
 *                     "ckpt-7.sha256"]}, …]}
 */
#ifndef SP_CKPT_MANAGER_H
#define SP_CKPT_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "savepoint/checkpoint.h"

#define SP_CHECKPOINT_MANIFEST_FORMAT "savepoint-checkpoints"

typedef enum sp_entry_status {
  SP_ENTRY_COMPLETE = 0,
  SP_ENTRY_PENDING = 1,
  SP_ENTRY_DELETING = 2
} sp_entry_status;

typedef struct sp_checkpoint_entry {
  char *name;             /* base name of the prefix: "ckpt-7" */
  char *checkpoint_name;  /* "ckpt" */
  char *prefix;           /* directory + name */
  int64_t number;
  int64_t step;           /* -1 when not given */
  double timestamp;
  int has_metric;
  double metric;
  int owned;              /* listed in our manifest */
  sp_entry_status status;
  int preserved;          /* kept by keep_checkpoint_every_n_hours */
  int active;             /* listed in the state file */
  int best;               /* among keep_best (computed) */
  char **files;           /* base names we wrote (owned entries only) */
  size_t file_count;
} sp_checkpoint_entry;

/* The retention policy as recorded in the manifest (savepoint ckpt prune re-applies it). */
typedef struct sp_checkpoint_policy {
  char *checkpoint_name;
  int max_to_keep;
  double keep_checkpoint_every_n_hours;
  int keep_best;
  sp_checkpoint_mode mode;
} sp_checkpoint_policy;

typedef struct sp_checkpoint_ownership {
  sp_checkpoint_entry *entries;
  size_t count, capacity;
  int64_t next_number;
  double last_preserved_timestamp; /* 0 when unknown */
  int has_policy;
  sp_checkpoint_policy policy;
} sp_checkpoint_ownership;

/* Reads DIR/.savepoint-checkpoints.json (hostile input: every field is checked; file names may
 * not contain '/' and must belong to their entry's prefix). A missing manifest gives an empty one. */
sp_status sp_checkpoint_ownership_read(const char *directory, sp_checkpoint_ownership *ownership) SP_MUST_CHECK;
/* Atomically replaces the manifest with the owned entries of ownership (deleted ones included,
 * with status "deleting"). */
sp_status sp_checkpoint_ownership_write(const char *directory, const sp_checkpoint_ownership *ownership) SP_MUST_CHECK;
void sp_checkpoint_ownership_release(sp_checkpoint_ownership *ownership);

void sp_checkpoint_entry_release(sp_checkpoint_entry *entry);
/* Appends a file name to an entry's list (a copy). */
sp_status sp_checkpoint_entry_add_file(sp_checkpoint_entry *entry, const char *name) SP_MUST_CHECK;

/* "min"/"max". */
const char *sp_checkpoint_mode_name(sp_checkpoint_mode mode);
sp_status sp_checkpoint_mode_from_name(const char *name, sp_checkpoint_mode *mode) SP_MUST_CHECK;

#endif
