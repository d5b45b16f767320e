/* loop.h (internal) — what fit and evaluate share: checked data arrays, batch gathering,
 * callback dispatch, the progress printer, the history recorder and the seeded streams.
 */
#ifndef SP_TRAIN_LOOP_H
#define SP_TRAIN_LOOP_H

#include <stdint.h>
#include <stdio.h>

#include "nn/compile.h"
#include "nn/model.h"
#include "nn/rng.h"
#include "savepoint/callbacks.h"
#include "savepoint/train.h"

/* ---- data ---- */

/* Arrays that share their first (sample) dimension, one per model input or output. */
typedef struct sp_arrays {
  int count;
  const sp_tensor *const *tensors;
  int64_t rows;    /* samples: the shared first dimension */
  int64_t offset;  /* first row used (validation_split views the end of the arrays) */
} sp_arrays;

/* Checks that x fits the model's inputs and y its outputs and that all share their sample count. */
sp_status sp_arrays_check(const sp_model *model, sp_arrays *x, sp_arrays *y, const char *what) SP_MUST_CHECK;

/* Row-gathered copies of some arrays for one batch, buffers reused from batch to batch. */
typedef struct sp_batch {
  int count;
  sp_tensor *tensors;   /* tensors[i] has arrays.tensors[i]'s dtype and trailing shape */
  size_t *capacities;
} sp_batch;

sp_status sp_batch_gather(sp_batch *batch, const sp_arrays *arrays, const int64_t *rows, int64_t row_count) SP_MUST_CHECK;
void sp_batch_release(sp_batch *batch);

/* ---- steps ---- */

/* Losses of one batch's predictions: per-output losses weighted and summed, plus regularization.
 * With gradients (a tensor per output shaped like it; NULL entries for outputs without a loss)
 * it writes each output's loss-weighted dL/dy_pred and adds the regularization gradients into
 * the trainable variables. Updates the loss trackers and metrics in metrics (the training
 * config's list, or a copy of it). */
sp_status sp_batch_losses(sp_model *model, sp_tracked_metric *metrics, const sp_batch *y, sp_tensor *const *y_pred,
                          sp_tensor **gradients, double *total) SP_MUST_CHECK;

/* Resolves the training config's losses and metrics against the shapes of the data's first rows
 * (one inference forward), once per compile. */
sp_status sp_training_prepare(sp_model *model, sp_runner *runner, const sp_arrays *x, const sp_arrays *y) SP_MUST_CHECK;

/* Writes the results of metrics into logs (names prefixed with prefix, e.g. "val_"). */
sp_status sp_logs_from_metrics(const sp_tracked_metric *metrics, int count, const char *prefix, sp_logs *logs) SP_MUST_CHECK;

/* Evaluation with a runner and the training config, calling the test hooks of callbacks. */
typedef struct sp_callback_list sp_callback_list;
sp_status sp_evaluate_with(sp_model *model, sp_runner *runner, const sp_arrays *x, const sp_arrays *y, int64_t batch_size,
                           const sp_callback_list *callbacks, sp_training *training, sp_logs *results) SP_MUST_CHECK;

/* ---- callbacks ---- */

typedef enum sp_hook {
  SP_HOOK_TRAIN_BEGIN,
  SP_HOOK_TRAIN_END,
  SP_HOOK_EPOCH_BEGIN,
  SP_HOOK_EPOCH_END,
  SP_HOOK_TRAIN_BATCH_BEGIN,
  SP_HOOK_TRAIN_BATCH_END,
  SP_HOOK_TEST_BEGIN,
  SP_HOOK_TEST_END,
  SP_HOOK_TEST_BATCH_BEGIN,
  SP_HOOK_TEST_BATCH_END
} sp_hook;

struct sp_callback_list {
  int count;
  sp_callback *items[SP_LOGS_CAPACITY];
};

sp_status sp_callback_list_add(sp_callback_list *list, sp_callback *callback) SP_MUST_CHECK;
/* How built-in callbacks are made: *callback gets a callback named name whose context is
 * context_size zeroed bytes; release must free that context (sp_callback_free calls it, also on
 * a constructor's failure path). */
sp_status sp_callback_with_context(const char *name, size_t context_size, void (*release)(sp_callback *self),
                                   sp_callback **callback) SP_MUST_CHECK;
/* A release for callbacks whose context is one allocation. */
void sp_callback_free_context(sp_callback *self);
/* Calls hook on every callback in order; index is the epoch or batch. The first failure stops
 * the calls and is returned with the callback and hook named. */
sp_status sp_callbacks_run(const sp_callback_list *list, sp_hook hook, sp_training *training, int64_t index,
                           const sp_logs *logs) SP_MUST_CHECK;

/* Keras's progress bar / one line per epoch (see progress.c). evaluating: for sp_model_evaluate. */
sp_callback *sp_progress_callback(FILE *out, int verbose, int evaluating);
/* Records each epoch's logs into history. */
sp_callback *sp_history_callback(sp_history *history);
sp_history *sp_history_new(void);

/* ---- streams (the determinism contract in train.h) ---- */

enum { SP_STREAM_SHUFFLE = 1, SP_STREAM_DROPOUT = 2 };

/* A generator seeded with hash(seed, epoch, batch, purpose). */
void sp_stream_seed(sp_rng *rng, uint64_t seed, int64_t epoch, int64_t batch, int purpose);
/* The run seed used when none is given: a hash of the model generator's state (not advanced). */
uint64_t sp_default_seed(const sp_model *model);

/* Seconds on a monotonic clock. */
double sp_seconds_now(void);

#endif
