/* checkpoint.h — TensorFlow checkpoints of a model, and the checkpoint manager.
 *
 * One checkpoint (a prefix: "dir/ckpt-3" names dir/ckpt-3.index and dir/ckpt-3.data-*):
 *
 *   sp_checkpoint_write(model, "training_2/cp-0001.ckpt", NULL);  // as tf.keras save_weights
 *   sp_checkpoint_read(model, "training_2/cp-0001.ckpt", NULL);   // object-based or TF1 name-based
 *
 * The layout is tf.keras 2's object-based one (layer_with_weights-0/kernel/.ATTRIBUTES/
 * VARIABLE_VALUE, optimizer slots under .OPTIMIZER_SLOT/optimizer/m, the
 * _CHECKPOINTABLE_OBJECT_GRAPH object graph), so tf.keras `model.load_weights(prefix)` and
 * tf.train.Checkpoint read what savepoint writes, and savepoint reads what they write.
 *
 * The manager keeps a directory of numbered checkpoints, as tf.train.CheckpointManager does, and
 * adds what its users asked for:
 *   - retention by max_to_keep, keep_checkpoint_every_n_hours and keep-best-K by a metric;
 *   - it never deletes a file it did not write: the ownership manifest
 *     DIR/.savepoint-checkpoints.json lists every checkpoint it wrote and its files, and only
 *     those files are ever removed; a foreign file, or a checkpoint some other program listed
 *     in the `checkpoint` state file, survives;
 *   - restarts: a new manager on an existing directory adopts the manifest and the state file,
 *     continues numbering after the highest number it finds, and keeps applying retention to
 *     the checkpoints it wrote before;
 *   - crash safety: each file is written under a temporary name and renamed into place, the index
 *     last; the state file is replaced atomically only after the checkpoint is durable; a crash
 *     at any instant leaves the previous state file naming complete checkpoints. Temporary names
 *     (".ckpt-3.index.tmp-XXXXXX") are ignored, and removed only on request;
 *   - asynchronous saving: save() copies the values (memcpy into reused buffers) and returns
 *     while a writer thread writes them; at most one save is in flight; a failed write is
 *     reported by the next save, wait or close;
 *   - one manager per directory at a time (an advisory lock on the directory; a killed process
 *     releases it).
 */
#ifndef SAVEPOINT_CHECKPOINT_H
#define SAVEPOINT_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "savepoint/callbacks.h"
#include "savepoint/model.h"
#include "savepoint/registry.h"
#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- one checkpoint ---- */

typedef struct sp_checkpoint_options {
  int include_optimizer;      /* the optimizer's variables, when the model is compiled (default 1) */
  int64_t save_counter;       /* writing: > 0 stores save_counter as tf.train.Checkpoint.save() does */
  const char *training_state; /* writing: JSON text kept with the checkpoint for resuming, or NULL */
  int optimizer_only;         /* reading: restore the optimizer's state alone; the model's weights,
                                 loaded from elsewhere, are only matched against the checkpoint */
} sp_checkpoint_options;

sp_checkpoint_options sp_checkpoint_defaults(void);

/* Writes model's variables (and optimizer's) at prefix in tf.keras's object-based layout.
 * options may be NULL. The directory is created when missing. */
sp_status sp_checkpoint_write(const sp_model *model, const char *prefix, const sp_checkpoint_options *options);
/* Reads values into a built model from an object-based or a TF1 name-based checkpoint. A model
 * that does not fit is reported with what differs and left unchanged. options may be NULL. */
sp_status sp_checkpoint_read(sp_model *model, const char *prefix, const sp_checkpoint_options *options);
/* The training state JSON stored with a checkpoint (caller frees); SP_ERROR_NOT_FOUND when none. */
sp_status sp_checkpoint_read_training_state(const char *prefix, char **json);
/* 1 when <prefix>.index exists. */
int sp_checkpoint_exists(const char *prefix);

/* ---- what ModelCheckpoint and EarlyStopping monitor ---- */

typedef enum sp_monitor_mode {
  SP_MONITOR_AUTO = 0, /* from the name, as Keras 3 does: losses and errors down, accuracy-like up */
  SP_MONITOR_MIN = 1,
  SP_MONITOR_MAX = 2
} sp_monitor_mode;

/* ---- the manager ---- */

#define SP_CHECKPOINT_MANIFEST_NAME ".savepoint-checkpoints.json"

typedef struct sp_checkpoint_manager sp_checkpoint_manager;

/* Seconds since the Unix epoch; injectable for tests of keep_checkpoint_every_n_hours. */
typedef double (*sp_checkpoint_clock)(void *context);

typedef enum sp_checkpoint_mode {
  SP_CHECKPOINT_MODE_MIN = 0, /* lower metric is better (a loss) */
  SP_CHECKPOINT_MODE_MAX = 1  /* higher metric is better (an accuracy) */
} sp_checkpoint_mode;

typedef struct sp_checkpoint_manager_options {
  int max_to_keep;                      /* newest checkpoints kept (default 5); 0 keeps all (TF's None) */
  double keep_checkpoint_every_n_hours; /* 0: off; else an evicted checkpoint at least this many hours
                                           after the last preserved one is preserved */
  const char *checkpoint_name;          /* "ckpt": files ckpt-<n>.index, ckpt-<n>.data-…, ckpt-<n>.sha256 */
  int64_t checkpoint_interval;          /* with steps: save only when step >= last saved step + interval */
  int keep_best;                        /* K > 0: the K best checkpoints by their metric are kept too */
  sp_checkpoint_mode mode;              /* what "best" means (default min) */
  int async;                            /* 1: a writer thread writes while training continues */
  int include_optimizer;                /* default 1 */
  int read_only;                        /* inspect only: no lock, never writes (savepoint ckpt list) */
  sp_checkpoint_clock clock;            /* NULL: the system clock */
  void *clock_context;
  sp_registry *registry;                /* records each checkpoint and deletion; NULL: none */
  int64_t registry_run_id;              /* the run the checkpoints belong to, 0 for none */
} sp_checkpoint_manager_options;

sp_checkpoint_manager_options sp_checkpoint_manager_defaults(void);

/* Opens (creating) the directory, takes its lock and adopts what it holds. options may be NULL. */
sp_status sp_checkpoint_manager_open(const char *directory, const sp_checkpoint_manager_options *options,
                                     sp_checkpoint_manager **manager);

typedef struct sp_checkpoint_save_info {
  int64_t step;               /* < 0: number from the manager's counter; else the file is <name>-<step> */
  int has_metric;             /* metric is set (for keep_best and for listings) */
  double metric;
  const char *training_state; /* JSON kept with the checkpoint (see sp_checkpoint_read_training_state) */
} sp_checkpoint_save_info;

/* Saves a checkpoint of model. info may be NULL. *prefix (may be NULL) receives the new
 * checkpoint's prefix (caller frees), or NULL when checkpoint_interval skipped this step. With
 * async the values are copied and the call returns before the files are written; an earlier
 * save's failure is returned here first. */
sp_status sp_checkpoint_manager_save(sp_checkpoint_manager *manager, const sp_model *model,
                                     const sp_checkpoint_save_info *info, char **prefix);
/* With async: maps the snapshot buffers for model now (about one model size of memory), so that
 * the first save during training costs a copy and no page faults. Optional; a no-op otherwise. */
sp_status sp_checkpoint_manager_prepare(sp_checkpoint_manager *manager, const sp_model *model);
/* Waits until no save is in flight; returns the failure of the one that just finished, if any. */
sp_status sp_checkpoint_manager_wait(sp_checkpoint_manager *manager);
/* Waits, releases the lock and frees the manager; returns a pending save failure. */
sp_status sp_checkpoint_manager_close(sp_checkpoint_manager *manager);

enum {
  SP_CHECKPOINT_KEPT_RECENT = 1,    /* among the newest max_to_keep (listed in the state file) */
  SP_CHECKPOINT_KEPT_BEST = 2,      /* among the keep_best best by metric */
  SP_CHECKPOINT_KEPT_PRESERVED = 4  /* preserved by keep_checkpoint_every_n_hours */
};

typedef struct sp_checkpoint_info {
  const char *prefix;    /* full path (borrowed from the manager) */
  int64_t number;
  int64_t step;          /* -1 when not given */
  double timestamp;      /* Unix seconds of the save */
  int has_metric;
  double metric;
  int owned;             /* written by this manager (listed in its manifest): retention may delete it */
  int kept;              /* SP_CHECKPOINT_KEPT_* flags */
} sp_checkpoint_info;

/* Checkpoints the manager knows, oldest first (written ones, and those the state file names). */
size_t sp_checkpoint_manager_count(const sp_checkpoint_manager *manager);
sp_status sp_checkpoint_manager_get(const sp_checkpoint_manager *manager, size_t index, sp_checkpoint_info *info);
/* The directory the manager keeps (borrowed). */
const char *sp_checkpoint_manager_directory(const sp_checkpoint_manager *manager);
/* The newest checkpoint's prefix (borrowed), or NULL when there is none. */
const char *sp_checkpoint_manager_latest(const sp_checkpoint_manager *manager);
/* Applies retention now (e.g. after changing max_to_keep: `savepoint ckpt prune`). */
sp_status sp_checkpoint_manager_prune(sp_checkpoint_manager *manager);
/* Removes temporary files of this manager's checkpoint name that crashed writers left behind
 * (".ckpt-7.index.tmp-XXXXXX"); *removed (may be NULL) gets how many. */
sp_status sp_checkpoint_manager_remove_temporaries(sp_checkpoint_manager *manager, size_t *removed);


/* ---- training callbacks that save (Keras 3's, keras/src/callbacks) ----
 *
 * Each constructor returns a callback for sp_fit_options.callbacks (free it with
 * sp_callback_free after fit). Their resumable state (best value, wait count, batch counters)
 * is exposed through save_state / restore_state, so BackupAndRestore resumes them too.
 */

/* Saves model at path as ModelCheckpoint and `savepoint train --save` do: the format follows the
 * extension (.keras, .h5 whole models; .weights.h5; with weights_only, .h5 legacy weights), and
 * any other name is a TF checkpoint prefix, which holds the weights and the optimizer's state.
 * Creates the parent directory when missing. */
sp_status sp_save_trained(const sp_model *model, const char *path, int weights_only);

/* Records a file or checkpoint prefix that was just saved as a registry artifact (kind from the
 * path: .keras/.h5 model, .weights.h5 weights, otherwise a TF checkpoint), with its SHA-256 and
 * metrics (may be NULL) as the artifact's metrics. A no-op when registry is NULL. */
sp_status sp_record_saved_artifact(sp_registry *registry, int64_t run_id, const char *path, const sp_logs *metrics);

typedef struct sp_model_checkpoint_options {
  const char *filepath;  /* a template, Python str.format with epoch, batch and logged values:
                            "ckpt/weights-{epoch:02d}-{val_loss:.4f}.weights.h5". The format follows
                            the extension: .keras (sp_save), .weights.h5 / .h5 (sp_save_weights with
                            save_weights_only, else sp_save), anything else a TF checkpoint prefix */
  sp_checkpoint_manager *manager; /* instead of filepath: save through this manager (borrowed), step =
                                     the optimizer's iterations, metric = the monitored value */
  const char *monitor;   /* "val_loss" */
  sp_monitor_mode mode;
  int verbose;           /* 1: Keras's messages ("Epoch 3: val_loss improved from …") */
  int save_best_only;
  int save_weights_only;
  int64_t save_freq;     /* 0: at the end of every epoch ("epoch"); N > 0: every N batches */
  int has_initial_value_threshold;
  double initial_value_threshold;
  sp_registry *registry; /* records every file saved (sp_record_saved_artifact); NULL: none */
  int64_t registry_run_id;
  FILE *out;             /* messages; NULL: stdout */
} sp_model_checkpoint_options;

sp_model_checkpoint_options sp_model_checkpoint_defaults(void);
/* Keras's ModelCheckpoint. Fails on options Keras refuses (no filepath, a negative save_freq, a
 * .keras path with save_weights_only, a .weights.h5 path without it, an unplaceable auto mode). */
sp_status sp_model_checkpoint(const sp_model_checkpoint_options *options, sp_callback **callback);

typedef struct sp_early_stopping_options {
  const char *monitor;   /* "val_loss" */
  double min_delta;
  int patience;
  int verbose;
  sp_monitor_mode mode;
  int has_baseline;
  double baseline;
  int restore_best_weights; /* at the end of training, whether it stopped early or not */
  int start_from_epoch;
  FILE *out;             /* messages; NULL: stdout */
} sp_early_stopping_options;

sp_early_stopping_options sp_early_stopping_defaults(void);
/* Keras's EarlyStopping: stops when the monitored value has not improved by more than min_delta
 * for patience epochs (the count restarts only on values that also beat baseline). */
sp_status sp_early_stopping(const sp_early_stopping_options *options, sp_callback **callback);
/* The epoch (0-based) at which it stopped training, or -1 when it did not. */
int sp_early_stopping_stopped_epoch(const sp_callback *early_stopping);

typedef struct sp_backup_options {
  const char *backup_dir;   /* required; a checkpoint manager directory ("backup-<step>") */
  int64_t save_freq;        /* 0: at the end of every epoch; N > 0: every N batches */
  int delete_checkpoint;    /* 1: remove backup_dir when training ends normally */
  int async;                /* 1: a writer thread writes each backup while training continues (the
                               values are copied first); a failed write stops training at the next */
  int verbose;
  sp_registry *registry;    /* records backups and their deletions; NULL: none */
  int64_t registry_run_id;
  FILE *out;                /* messages; NULL: stdout */
} sp_backup_options;

sp_backup_options sp_backup_defaults(void);
/* BackupAndRestore, to the batch: a backup holds the weights, the optimizer's variables, the
 * loop's sp_training_state and every other callback's save_state, so a run killed at any point
 * and started again with the same arguments continues from the last backup and ends with the
 * weights an uninterrupted run ends with, bit for bit. It must be the last callback of the list
 * (it saves what the callbacks before it did with the batch or epoch). */
sp_status sp_backup_and_restore(const sp_backup_options *options, sp_callback **callback);

#ifdef __cplusplus
}
#endif
#endif
