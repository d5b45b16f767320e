/* checkpoint_state.h — the `checkpoint` file of a checkpoint directory (formats.md §4.6):
 * a text-format CheckpointState naming the newest checkpoint prefix and the ones kept.
 *
 * Reading parses any text-format spelling (pbtext.h); writing produces what TensorFlow's
 * Python writer produces (fields in number order, doubles as Python's repr) and replaces the
 * file atomically (core/file.h), so a reader sees the old state or the new one.
 * Paths are kept as written; sp_latest_checkpoint resolves relative ones against the directory.
 */
#ifndef SP_FORMATS_CHECKPOINT_STATE_H
#define SP_FORMATS_CHECKPOINT_STATE_H

#include <stddef.h>

#include "core/bytes.h"
#include "core/status.h"

#define SP_CHECKPOINT_STATE_FILE "checkpoint"

typedef struct sp_checkpoint_state {
  char *model_checkpoint_path;           /* the newest prefix ("" when none) */
  char **all_model_checkpoint_paths;     /* oldest first; the last equals model_checkpoint_path */
  size_t path_count;
  double *all_model_checkpoint_timestamps; /* Unix seconds, one per path when present */
  size_t timestamp_count;
  double last_preserved_timestamp;       /* 0 when unset */
} sp_checkpoint_state;

/* Parses CheckpointState text; what names it in errors. Free with sp_checkpoint_state_free. */
sp_status sp_checkpoint_state_parse(const char *text, size_t length, const char *what,
                                    sp_checkpoint_state **state) SP_MUST_CHECK;
/* Reads <directory>/checkpoint. SP_ERROR_NOT_FOUND when the file does not exist. */
sp_status sp_checkpoint_state_read(const char *directory, sp_checkpoint_state **state) SP_MUST_CHECK;
/* Appends the text TensorFlow would write for state. */
sp_status sp_checkpoint_state_format(const sp_checkpoint_state *state, sp_buffer *out) SP_MUST_CHECK;
/* Atomically replaces <directory>/checkpoint. */
sp_status sp_checkpoint_state_write(const char *directory, const sp_checkpoint_state *state) SP_MUST_CHECK;
void sp_checkpoint_state_free(sp_checkpoint_state *state);

/* Like tf.train.latest_checkpoint: the newest prefix named by <directory>/checkpoint, joined to
 * the directory when relative, provided <prefix>.index exists. *prefix is a new string, or NULL
 * with SP_ERROR_NOT_FOUND (and a message saying which of the two is missing) when there is no
 * state file, it names no checkpoint, or the index is absent. A malformed state file is an
 * SP_ERROR_FORMAT error rather than "absent", so that damage is not silently ignored. */
sp_status sp_latest_checkpoint(const char *directory, char **prefix) SP_MUST_CHECK;

#endif
