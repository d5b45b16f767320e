/* batch.c — the pieces of a training or evaluation step that fit and evaluate share: checking
 * the data arrays, gathering a batch's rows, the losses and metrics of a batch, and evaluation.
 */
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "train/loop.h"

/* ---- arrays ---- */

static sp_status check_group(const sp_arrays *arrays, int expected, const char *kind, const char *what,
                             const sp_model *model, int64_t *rows) {
  if (arrays->count != expected)
    return sp_fail(SP_ERROR_MISMATCH, "%s: model '%s' has %d %s%s but %d array%s were given", what, model->name, expected,
                   kind, expected == 1 ? "" : "s", arrays->count, arrays->count == 1 ? "" : "s");
  for (int i = 0; i < arrays->count; i++) {
    const sp_tensor *tensor = arrays->tensors[i];
    if (!tensor || tensor->rank < 1)
      return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: %s array %d needs a first (sample) dimension", what, kind, i);
    if (tensor->dtype == SP_STRING || sp_dtype_size(tensor->dtype) == 0)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: %s array %d has dtype %s; numeric arrays only", what, kind, i,
                     sp_dtype_name(tensor->dtype));
    if (*rows < 0) *rows = tensor->shape[0];
    if (tensor->shape[0] != *rows)
      return sp_fail(SP_ERROR_MISMATCH, "%s: %s array %d has %lld samples but the first array has %lld; all arrays "
                     "must have the same number of samples", what, kind, i, (long long)tensor->shape[0], (long long)*rows);
  }
  return SP_OK;
}

sp_status sp_arrays_check(const sp_model *model, sp_arrays *x, sp_arrays *y, const char *what) {
  int64_t rows = -1;
  SP_TRY(check_group(x, model->plan->input_count, "input", what, model, &rows));
  SP_TRY(check_group(y, model->plan->output_count, "output", what, model, &rows));
  x->rows = y->rows = rows < 0 ? 0 : rows;
  x->offset = y->offset = 0;
  return SP_OK;
}

/* ---- batches ---- */

sp_status sp_batch_gather(sp_batch *batch, const sp_arrays *arrays, const int64_t *rows, int64_t row_count) {
  if (!batch->tensors) {
    batch->tensors = sp_alloc_zeroed((size_t)(arrays->count ? arrays->count : 1), sizeof *batch->tensors);
    batch->capacities = sp_alloc_zeroed((size_t)(arrays->count ? arrays->count : 1), sizeof *batch->capacities);
    if (!batch->tensors || !batch->capacities) return SP_ERROR_NO_MEMORY;
    batch->count = arrays->count;
  }
  for (int i = 0; i < arrays->count; i++) {
    const sp_tensor *source = arrays->tensors[i];
    sp_tensor *target = &batch->tensors[i];
    size_t row_bytes = source->shape[0] ? source->size / (size_t)source->shape[0] : 0, bytes;
    if (!sp_multiply_size(row_bytes, (size_t)row_count, &bytes)) return sp_fail(SP_ERROR_NO_MEMORY, "batch too large");
    if (batch->capacities[i] < bytes) {
      void *grown = sp_realloc_array(target->data, bytes, 1);
      if (!grown) return SP_ERROR_NO_MEMORY;
      target->data = grown;
      batch->capacities[i] = bytes;
    }
    target->dtype = source->dtype;
    target->rank = source->rank;
    memcpy(target->shape, source->shape, sizeof target->shape);
    target->shape[0] = row_count;
    target->size = bytes;
    target->owns_data = 0;
    const char *from = source->data;
    char *to = target->data;
    for (int64_t r = 0; r < row_count; r++)
      memcpy(to + (size_t)r * row_bytes, from + (size_t)(arrays->offset + rows[r]) * row_bytes, row_bytes);
  }
  return SP_OK;
}

void sp_batch_release(sp_batch *batch) {
  for (int i = 0; batch->tensors && i < batch->count; i++) free(batch->tensors[i].data);
  free(batch->tensors);
  free(batch->capacities);
  memset(batch, 0, sizeof *batch);
}

/* ---- losses and metrics ---- */

sp_status sp_batch_losses(sp_model *model, sp_tracked_metric *metrics, const sp_batch *y, sp_tensor *const *y_pred,
                          sp_tensor **gradients, double *total) {
  const sp_training_config *training = model->training;
  double rows = (double)y_pred[0]->shape[0], sum = 0;
  int losses = 0;
  for (int o = 0; o < training->output_count; o++) {
    const sp_loss *loss = &training->losses[o];
    if (loss->kind == SP_LOSS_NONE) continue;
    double value, weight = training->loss_weights[o];
    sp_status status = sp_loss_compute(loss, &y->tensors[o], y_pred[o], weight, &value, gradients ? gradients[o] : NULL);
    if (status != SP_OK) return sp_error_context(status, "output '%s'", sp_model_output_name(model, o));
    sum += weight * value;
    losses++;
    for (int m = 0; m < training->metric_count; m++)
      if (metrics[m].output_loss && metrics[m].output == o) sp_metric_add(&metrics[m].metric, value, rows);
  }
  if (!losses)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' was compiled without a loss: there is nothing to train or "
                   "evaluate (give compile a loss)", model->name);
  sum += sp_model_regularization(model, gradients != NULL);
  *total = sum;
  sp_metric_add(&metrics[0].metric, sum, rows);
  for (int m = 1; m < training->metric_count; m++) {
    sp_tracked_metric *tracked = &metrics[m];
    if (tracked->output < 0 || tracked->output_loss) continue;
    sp_status status = sp_metric_update(&tracked->metric, &y->tensors[tracked->output], y_pred[tracked->output]);
    if (status != SP_OK) return sp_error_context(status, "metric '%s'", tracked->metric.name);
  }
  return SP_OK;
}

sp_status sp_logs_from_metrics(const sp_tracked_metric *metrics, int count, const char *prefix, sp_logs *logs) {
  for (int m = 0; m < count; m++) {
    char name[SP_LOG_NAME_MAX];
    snprintf(name, sizeof name, "%s%s", prefix, metrics[m].metric.name);
    SP_TRY(sp_logs_set(logs, name, sp_metric_result(&metrics[m].metric)));
  }
  return SP_OK;
}

/* ---- resolving "accuracy" and "crossentropy" from real shapes ---- */

static void forward_inputs(const sp_batch *batch, const sp_tensor **inputs) {
  for (int i = 0; i < batch->count; i++) inputs[i] = &batch->tensors[i];
}

sp_status sp_training_prepare(sp_model *model, sp_runner *runner, const sp_arrays *x, const sp_arrays *y) {
  if (model->training->resolved) return SP_OK;
  if (x->rows == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "no samples were given");
  int64_t rows[8], take = x->rows < 8 ? x->rows : 8;
  for (int64_t r = 0; r < take; r++) rows[r] = r;
  sp_batch xb = {0}, yb = {0};
  const sp_tensor *inputs[SP_MAX_LAYER_INPUTS], *truths[SP_MAX_LAYER_OUTPUTS], *predictions[SP_MAX_LAYER_OUTPUTS];
  sp_status status = sp_batch_gather(&xb, x, rows, take);
  if (status == SP_OK) status = sp_batch_gather(&yb, y, rows, take);
  if (status == SP_OK) {
    forward_inputs(&xb, inputs);
    status = sp_runner_forward(runner, 0, NULL, x->count, inputs);
  }
  if (status == SP_OK) {
    for (int o = 0; o < y->count; o++) {
      truths[o] = &yb.tensors[o];
      predictions[o] = sp_runner_output(runner, o);
    }
    status = sp_training_config_resolve(model->training, y->count, truths, predictions);
  }
  sp_batch_release(&xb);
  sp_batch_release(&yb);
  return status;
}

/* ---- evaluation ---- */

typedef struct evaluation {
  sp_batch x, y;
  int64_t *rows;
  sp_tracked_metric *metrics; /* a copy: evaluating never disturbs the training metrics */
} evaluation;

static sp_status evaluate_batches(sp_model *model, sp_runner *runner, const sp_arrays *x, const sp_arrays *y,
                                  int64_t batch_size, const sp_callback_list *callbacks, sp_training *training,
                                  evaluation *e, sp_logs *results) {
  int count = model->training->metric_count, outputs = model->plan->output_count;
  int64_t steps = (x->rows + batch_size - 1) / batch_size;
  SP_TRY(sp_callbacks_run(callbacks, SP_HOOK_TEST_BEGIN, training, 0, NULL));
  for (int64_t step = 0; step < steps; step++) {
    int64_t start = step * batch_size, take = x->rows - start < batch_size ? x->rows - start : batch_size;
    for (int64_t r = 0; r < take; r++) e->rows[r] = start + r;
    SP_TRY(sp_callbacks_run(callbacks, SP_HOOK_TEST_BATCH_BEGIN, training, step, NULL));
    SP_TRY(sp_batch_gather(&e->x, x, e->rows, take));
    SP_TRY(sp_batch_gather(&e->y, y, e->rows, take));
    const sp_tensor *inputs[SP_MAX_LAYER_INPUTS];
    forward_inputs(&e->x, inputs);
    SP_TRY(sp_runner_forward(runner, 0, NULL, x->count, inputs));
    sp_tensor *predictions[SP_MAX_LAYER_OUTPUTS];
    for (int o = 0; o < outputs; o++) predictions[o] = sp_runner_output(runner, o);
    double total;
    SP_TRY(sp_batch_losses(model, e->metrics, &e->y, predictions, NULL, &total));
    sp_logs logs = {0};
    SP_TRY(sp_logs_from_metrics(e->metrics, count, "", &logs));
    SP_TRY(sp_callbacks_run(callbacks, SP_HOOK_TEST_BATCH_END, training, step, &logs));
  }
  *results = (sp_logs){0};
  SP_TRY(sp_logs_from_metrics(e->metrics, count, "", results));
  return sp_callbacks_run(callbacks, SP_HOOK_TEST_END, training, 0, results);
}

sp_status sp_evaluate_with(sp_model *model, sp_runner *runner, const sp_arrays *x, const sp_arrays *y, int64_t batch_size,
                           const sp_callback_list *callbacks, sp_training *training, sp_logs *results) {
  if (x->rows == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "evaluation: no samples were given");
  SP_TRY(sp_training_prepare(model, runner, x, y));
  const sp_training_config *config = model->training;
  evaluation e = {0};
  e.rows = sp_alloc_zeroed((size_t)batch_size, sizeof *e.rows);
  e.metrics = sp_alloc_zeroed((size_t)config->metric_count, sizeof *e.metrics);
  sp_status status = e.rows && e.metrics ? SP_OK : SP_ERROR_NO_MEMORY;
  if (status == SP_OK) {
    memcpy(e.metrics, config->metrics, (size_t)config->metric_count * sizeof *e.metrics);
    for (int m = 0; m < config->metric_count; m++) sp_metric_reset(&e.metrics[m].metric);
    status = evaluate_batches(model, runner, x, y, batch_size, callbacks, training, &e, results);
  }
  sp_batch_release(&e.x);
  sp_batch_release(&e.y);
  free(e.rows);
  free(e.metrics);
  return status;
}
