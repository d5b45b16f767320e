/* callbacks.h — the training loop's hook points, its state, and the built-in callbacks.
 *
 * A callback is a table of optional hooks, called at Keras's points (keras.callbacks.Callback):
 *
 *   on_train_begin
 *     on_epoch_begin(epoch)
 *       on_train_batch_begin(batch) … on_train_batch_end(batch, running logs)   per batch
 *       on_test_begin … on_test_batch_begin/end … on_test_end                    validation
 *     on_epoch_end(epoch, epoch logs incl. val_*)
 *   on_train_end(last epoch logs)
 *
 * Logs map names to values ("loss", "accuracy", "val_loss", …). A hook returns SP_OK or a
 * failure, which ends training with that failure (a checkpoint that cannot be written stops the
 * run instead of being skipped silently). Setting training->state.stop_training = 1 ends training
 * after the current batch, as Keras's model.stop_training does.
 *
 * Resuming. The loop's complete state is the plain value sp_training_state: the epoch in progress,
 * how many of its batches are done, the seed every random stream derives from, the optimizer's
 * step count, and the running sums of this epoch's metrics. Together with the model's weights and
 * the optimizer's variables (saved by the formats), and each callback's own state (save_state /
 * restore_state), it resumes a run bit-identically: a callback may replace training->state in
 * on_train_begin (BackupAndRestore does), or fit can be given one (sp_fit_options.resume).
 * The determinism contract is written out in train.h.
 */
#ifndef SAVEPOINT_CALLBACKS_H
#define SAVEPOINT_CALLBACKS_H

#include <stdint.h>

#include "savepoint/model.h"
#include "savepoint/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logs ---- */

enum { SP_LOGS_CAPACITY = 64, SP_LOG_NAME_MAX = 112 };

typedef struct sp_log_entry {
  char name[SP_LOG_NAME_MAX];
  double value;
} sp_log_entry;

/* Metric name → value, in the order Keras reports them. A plain value: copy it freely. */
typedef struct sp_logs {
  int count;
  sp_log_entry entries[SP_LOGS_CAPACITY];
} sp_logs;

/* Index of name, or -1. */
int sp_logs_find(const sp_logs *logs, const char *name);
/* The value of name, or fallback when it is absent. */
double sp_logs_get(const sp_logs *logs, const char *name, double fallback);
/* Sets (or appends) name; fails when the logs are full or the name is too long. */
sp_status sp_logs_set(sp_logs *logs, const char *name, double value);

/* ---- the loop's state ---- */

enum { SP_MAX_TRACKED_METRICS = 64 };

typedef struct sp_training_state {
  int epoch;            /* the epoch in progress, or the next one to run (0-based) */
  int64_t batch;        /* batches of `epoch` already trained */
  uint64_t seed;        /* every random stream of the run derives from it (see train.h) */
  int64_t iterations;   /* optimizer steps taken (its iteration variable), for checks on resume */
  int metric_count;     /* running sums of the epoch's metrics, in logs order */
  double metric_totals[SP_MAX_TRACKED_METRICS];
  double metric_counts[SP_MAX_TRACKED_METRICS];
  int stop_training;    /* set by a callback to end training after the current batch */
} sp_training_state;

/* JSON text of a state (caller frees) and back; for checkpoint metadata files. */
char *sp_training_state_to_json(const sp_training_state *state);
sp_status sp_training_state_from_json(const char *json, sp_training_state *state);

typedef struct sp_callback sp_callback;

/* What callbacks see of a running fit (Keras's callback.model and callback.params). */
typedef struct sp_training {
  sp_model *model;
  sp_training_state state; /* may be replaced in on_train_begin to resume */
  int epochs;              /* fit's epochs (the last epoch index + 1) */
  int64_t steps;           /* batches per epoch (of the evaluation, in sp_model_evaluate) */
  int64_t samples;         /* training samples */
  int64_t batch_size;
  int verbose;
  int callback_count;      /* the caller's callbacks, in order: a checkpointing callback */
  sp_callback *const *callbacks; /* saves and restores their save_state / restore_state */
} sp_training;

/* ---- callbacks ---- */

struct sp_callback {
  const char *name; /* for messages: "csv_logger" */
  void *context;    /* the callback's own data */
  sp_status (*on_train_begin)(sp_callback *self, sp_training *training, const sp_logs *logs);
  sp_status (*on_train_end)(sp_callback *self, sp_training *training, const sp_logs *logs);
  sp_status (*on_epoch_begin)(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs);
  sp_status (*on_epoch_end)(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs);
  sp_status (*on_train_batch_begin)(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs);
  sp_status (*on_train_batch_end)(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs);
  /* Evaluation (sp_model_evaluate, and validation inside fit, where training is the fit's). */
  sp_status (*on_test_begin)(sp_callback *self, sp_training *training, const sp_logs *logs);
  sp_status (*on_test_end)(sp_callback *self, sp_training *training, const sp_logs *logs);
  sp_status (*on_test_batch_begin)(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs);
  sp_status (*on_test_batch_end)(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs);
  /* The callback's own resumable state as JSON text (caller frees), and restoring it. */
  sp_status (*save_state)(sp_callback *self, char **json);
  sp_status (*restore_state)(sp_callback *self, const char *json);
  void (*release)(sp_callback *self); /* frees context; sp_callback_free calls it, then frees self */
};

/* Keras's CSVLogger: a row per epoch, columns "epoch" then the log names sorted (val_ columns
 * added when validation has not run yet), values as Python prints them. append keeps the rows
 * of an earlier run (and its header). The file is rewritten atomically after every epoch. */
sp_callback *sp_csv_logger(const char *path, char separator, int append);
/* The History as JSON ({"loss": [...], ...}, as sp_history_to_json) rewritten atomically at path
 * after every epoch, so a killed run leaves the epochs it finished. Its save_state holds the
 * epochs so far, so a run resumed by BackupAndRestore writes the whole History. */
sp_callback *sp_history_logger(const char *path);
/* Keras's TerminateOnNaN: stops training when a batch's loss is NaN or infinite. */
sp_callback *sp_terminate_on_nan(void);
/* Keras's SwapEMAWeights, for a model whose optimizer keeps weight averages (use_ema, set with
 * sp_optimizer_set(optimizer, "use_ema", 1)): validation inside fit, and sp_model_evaluate given
 * this callback, run on the averages. With swap_on_epoch the averages are also in the model for
 * the callbacks after this one at each epoch's end, so a ModelCheckpoint listed after it saves
 * them. A model whose optimizer has no averages makes the first swap fail. */
sp_callback *sp_swap_ema_weights(int swap_on_epoch);
/* A callback with hooks and context set by the caller (the struct is zeroed; fill in what you need).
 * release, if set, is called by sp_callback_free. */
sp_callback *sp_callback_new(const char *name, void *context);
void sp_callback_free(sp_callback *callback);

#ifdef __cplusplus
}
#endif
#endif
