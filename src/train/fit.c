/* fit.c — Keras's model.fit: epochs of shuffled mini-batches, callbacks, validation, history.
 *
 * One training step (Keras's train_step): gather the batch's rows, forward in training mode
 * with the batch's dropout stream, losses and their gradients (plus regularization), backward,
 * scale by loss_scale_factor (the optimizer divides it out again), optimizer step, metrics.
 * The loop's state lives in training.state (callbacks.h) and is kept current after every batch,
 * so that a snapshot taken in any hook resumes the run exactly (contract in train.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"
#include "train/loop.h"

sp_fit_options sp_fit_defaults(void) {
  return (sp_fit_options){.batch_size = 32, .epochs = 1, .verbose = 1, .shuffle = 1, .seed = -1};
}

typedef struct fit_run {
  sp_model *model;
  sp_training_config *config;
  sp_fit_options options;
  sp_runner *runner;
  sp_arrays x, y, validation_x, validation_y;
  int validate;
  sp_batch x_batch, y_batch;
  sp_tensor *gradients[SP_MAX_LAYER_OUTPUTS];
  size_t gradient_capacity[SP_MAX_LAYER_OUTPUTS];
  sp_variable **trainable;
  int trainable_count;
  int64_t *order; /* the epoch's sample order */
  sp_callback_list callbacks;
  sp_callback *owned[2]; /* progress and history callbacks made here */
  sp_history *history;
  sp_training training;
} fit_run;

/* ---- setup ---- */

static sp_status check_options(const sp_fit_options *options) {
  if (options->batch_size <= 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "batch_size must be positive, got %lld", (long long)options->batch_size);
  if (options->epochs < 0 || options->initial_epoch < 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "epochs and initial_epoch must be >= 0 (got %d and %d)", options->epochs, options->initial_epoch);
  if (options->verbose < 0 || options->verbose > 2) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "verbose must be 0, 1 or 2, got %d", options->verbose);
  if (!(options->validation_split >= 0 && options->validation_split < 1))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "validation_split must be in [0, 1), got %g", options->validation_split);
  if (options->callback_count < 0 || (options->callback_count > 0 && !options->callbacks))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "callback_count is %d but no callbacks were given", options->callback_count);
  return SP_OK;
}

/* validation_data, or the last validation_split of the arrays (train_validation_split in Keras). */
static sp_status split_validation(fit_run *run) {
  const sp_fit_options *options = &run->options;
  if (options->validation_x || options->validation_y) {
    run->validation_x = (sp_arrays){options->validation_input_count, options->validation_x, 0, 0};
    run->validation_y = (sp_arrays){options->validation_target_count, options->validation_y, 0, 0};
    SP_TRY(sp_arrays_check(run->model, &run->validation_x, &run->validation_y, "validation_data"));
    run->validate = 1;
    return SP_OK;
  }
  if (options->validation_split == 0) return SP_OK;
  int64_t total = run->x.rows, split_at = (int64_t)floor((double)total * (1.0 - options->validation_split));
  if (split_at == 0 || split_at == total)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "training data contains %lld samples, which is not sufficient to split it "
                   "into a validation and training set as specified by validation_split=%g", (long long)total,
                   options->validation_split);
  run->validation_x = run->x;
  run->validation_y = run->y;
  run->validation_x.offset = run->validation_y.offset = split_at;
  run->validation_x.rows = run->validation_y.rows = total - split_at;
  run->x.rows = run->y.rows = split_at;
  run->validate = 1;
  return SP_OK;
}

static sp_status add_callbacks(fit_run *run) {
  const sp_fit_options *options = &run->options;
  if (options->verbose) {
    run->owned[0] = sp_progress_callback(options->progress, options->verbose, 0);
    SP_TRY(sp_callback_list_add(&run->callbacks, run->owned[0]));
  }
  for (int i = 0; i < options->callback_count; i++) SP_TRY(sp_callback_list_add(&run->callbacks, options->callbacks[i]));
  run->history = sp_history_new();
  if (!run->history) return SP_ERROR_NO_MEMORY;
  run->owned[1] = sp_history_callback(run->history);
  return sp_callback_list_add(&run->callbacks, run->owned[1]);
}

static sp_status initial_state(fit_run *run) {
  const sp_fit_options *options = &run->options;
  sp_training *training = &run->training;
  *training = (sp_training){.model = run->model,
                            .epochs = options->epochs,
                            .steps = (run->x.rows + options->batch_size - 1) / options->batch_size,
                            .samples = run->x.rows,
                            .batch_size = options->batch_size,
                            .verbose = options->verbose,
                            .callback_count = options->callback_count,
                            .callbacks = options->callbacks};
  if (options->resume) {
    training->state = *options->resume;
    training->state.stop_training = 0; /* Keras resets model.stop_training when fit starts */
    return SP_OK;
  }
  training->state.epoch = options->initial_epoch;
  training->state.seed = options->seed >= 0 ? (uint64_t)options->seed : sp_default_seed(run->model);
  training->state.iterations = sp_optimizer_iteration_count(run->config->optimizer);
  training->state.metric_count = run->config->metric_count;
  return SP_OK;
}

/* A state a callback handed back must fit this run. */
static sp_status check_state(const fit_run *run) {
  const sp_training_state *state = &run->training.state;
  if (state->epoch < 0 || state->batch < 0 || state->batch > run->training.steps)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "cannot resume at epoch %d, batch %lld: an epoch has %lld batches",
                   state->epoch, (long long)state->batch, (long long)run->training.steps);
  if (state->batch > 0 && state->metric_count != run->config->metric_count)
    return sp_fail(SP_ERROR_MISMATCH, "cannot resume mid-epoch: the state has %d metric sums, the model tracks %d metrics",
                   state->metric_count, run->config->metric_count);
  int64_t iterations = sp_optimizer_iteration_count(run->config->optimizer);
  if (state->iterations != iterations)
    return sp_fail(SP_ERROR_MISMATCH, "cannot resume: the state was taken after %lld optimizer steps but the optimizer "
                   "has taken %lld (load the optimizer variables saved with the state)",
                   (long long)state->iterations, (long long)iterations);
  return SP_OK;
}

static sp_status prepare(fit_run *run, int input_count, const sp_tensor *const *x, int target_count,
                         const sp_tensor *const *y) {
  sp_model *model = run->model;
  if (!model->training) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' must be compiled before fit", model->name);
  run->config = model->training;
  SP_TRY(check_options(&run->options));
  SP_TRY(sp_model_build(model));
  SP_TRY(sp_model_initialize(model));
  SP_TRY(sp_model_build_optimizer(model));
  run->x = (sp_arrays){input_count, x, 0, 0};
  run->y = (sp_arrays){target_count, y, 0, 0};
  SP_TRY(sp_arrays_check(model, &run->x, &run->y, "fit"));
  SP_TRY(split_validation(run));
  if (run->x.rows == 0) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "fit: no training samples were given");
  SP_TRY(sp_runner_new(model, &run->runner));
  SP_TRY(sp_training_prepare(model, run->runner, &run->x, &run->y));
  run->trainable_count = sp_model_collect_variables(model, &run->trainable, 1);
  if (run->trainable_count < 0) return SP_ERROR_NO_MEMORY;
  run->order = sp_alloc_zeroed((size_t)run->x.rows, sizeof *run->order);
  if (!run->order) return SP_ERROR_NO_MEMORY;
  SP_TRY(add_callbacks(run));
  return initial_state(run);
}

static void release(fit_run *run) {
  sp_runner_free(run->runner);
  sp_batch_release(&run->x_batch);
  sp_batch_release(&run->y_batch);
  for (int o = 0; o < SP_MAX_LAYER_OUTPUTS; o++) {
    if (run->gradients[o]) free(run->gradients[o]->data);
    free(run->gradients[o]);
  }
  free(run->trainable);
  free(run->order);
  sp_callback_free(run->owned[0]);
  sp_callback_free(run->owned[1]);
}

/* ---- one step ---- */

/* A gradient buffer per output with the prediction's shape (NULL for outputs without a loss). */
static sp_status shape_gradients(fit_run *run, sp_tensor *const *predictions) {
  for (int o = 0; o < run->config->output_count; o++) {
    if (run->config->losses[o].kind == SP_LOSS_NONE) continue;
    if (!run->gradients[o] && !(run->gradients[o] = sp_alloc_zeroed(1, sizeof(sp_tensor)))) return SP_ERROR_NO_MEMORY;
    sp_tensor *gradient = run->gradients[o];
    const sp_tensor *like = predictions[o];
    if (run->gradient_capacity[o] < like->size) {
      void *grown = sp_realloc_array(gradient->data, like->size, 1);
      if (!grown) return SP_ERROR_NO_MEMORY;
      gradient->data = grown;
      run->gradient_capacity[o] = like->size;
    }
    void *data = gradient->data;
    *gradient = *like;
    gradient->data = data;
    gradient->owns_data = 0;
    gradient->mapping = NULL;
  }
  return SP_OK;
}

static void zero_gradients(fit_run *run) {
  for (int i = 0; i < run->trainable_count; i++) {
    sp_tensor *gradient = sp_variable_gradient(run->trainable[i]);
    if (gradient) memset(gradient->data, 0, gradient->size);
  }
}

/* The trainer scales the loss by loss_scale_factor (Keras's optimizer.scale_loss); the optimizer
 * divides the gradients by it again. */
static void scale_gradients(fit_run *run) {
  const sp_optimizer *optimizer = run->config->optimizer;
  if (!optimizer->loss_scale_factor.set) return;
  float scale = (float)optimizer->loss_scale_factor.value;
  for (int i = 0; i < run->trainable_count; i++) {
    sp_tensor *gradient = run->trainable[i]->gradient;
    for (int64_t k = 0; gradient && k < sp_tensor_count(gradient); k++) sp_tensor_floats(gradient)[k] *= scale;
  }
}

static sp_status train_step(fit_run *run, int64_t batch) {
  sp_training_state *state = &run->training.state;
  int64_t batch_size = run->options.batch_size, start = batch * batch_size;
  int64_t take = run->x.rows - start < batch_size ? run->x.rows - start : batch_size;
  SP_TRY(sp_batch_gather(&run->x_batch, &run->x, run->order + start, take));
  SP_TRY(sp_batch_gather(&run->y_batch, &run->y, run->order + start, take));
  sp_rng rng;
  sp_stream_seed(&rng, state->seed, state->epoch, batch, SP_STREAM_DROPOUT);
  zero_gradients(run);
  const sp_tensor *inputs[SP_MAX_LAYER_INPUTS];
  for (int i = 0; i < run->x.count; i++) inputs[i] = &run->x_batch.tensors[i];
  SP_TRY(sp_runner_forward(run->runner, 1, &rng, run->x.count, inputs));
  sp_tensor *predictions[SP_MAX_LAYER_OUTPUTS];
  for (int o = 0; o < run->config->output_count; o++) predictions[o] = sp_runner_output(run->runner, o);
  SP_TRY(shape_gradients(run, predictions));
  double total;
  SP_TRY(sp_batch_losses(run->model, run->config->metrics, &run->y_batch, predictions, run->gradients, &total));
  SP_TRY(sp_runner_backward(run->runner, run->gradients));
  scale_gradients(run);
  return sp_optimizer_apply(run->config->optimizer);
}

/* ---- epochs ---- */

static void order_samples(fit_run *run, int epoch) {
  for (int64_t i = 0; i < run->x.rows; i++) run->order[i] = i;
  if (!run->options.shuffle) return;
  sp_rng rng;
  sp_stream_seed(&rng, run->training.state.seed, epoch, 0, SP_STREAM_SHUFFLE);
  sp_rng_shuffle(&rng, run->order, run->x.rows);
}

/* The running metric sums live in the training config; the state mirrors them after each batch. */
static void save_metric_sums(fit_run *run) {
  sp_training_state *state = &run->training.state;
  state->metric_count = run->config->metric_count;
  for (int m = 0; m < run->config->metric_count && m < SP_MAX_TRACKED_METRICS; m++) {
    state->metric_totals[m] = run->config->metrics[m].metric.total;
    state->metric_counts[m] = run->config->metrics[m].metric.count;
  }
}

static void restore_metric_sums(fit_run *run, int resuming) {
  const sp_training_state *state = &run->training.state;
  for (int m = 0; m < run->config->metric_count; m++) {
    sp_metric *metric = &run->config->metrics[m].metric;
    sp_metric_reset(metric);
    if (resuming && m < SP_MAX_TRACKED_METRICS) {
      metric->total = state->metric_totals[m];
      metric->count = state->metric_counts[m];
    }
  }
}

static sp_status current_logs(const fit_run *run, sp_logs *logs) {
  *logs = (sp_logs){0};
  return sp_logs_from_metrics(run->config->metrics, run->config->metric_count, "", logs);
}

static sp_status run_epoch(fit_run *run, sp_logs *epoch_logs) {
  sp_training *training = &run->training;
  sp_training_state *state = &training->state;
  int epoch = state->epoch;
  restore_metric_sums(run, state->batch > 0);
  SP_TRY(sp_callbacks_run(&run->callbacks, SP_HOOK_EPOCH_BEGIN, training, epoch, NULL));
  order_samples(run, epoch);
  for (int64_t batch = state->batch; batch < training->steps && !state->stop_training; batch++) {
    SP_TRY(sp_callbacks_run(&run->callbacks, SP_HOOK_TRAIN_BATCH_BEGIN, training, batch, NULL));
    sp_status status = train_step(run, batch);
    if (status != SP_OK) return sp_error_context(status, "epoch %d, batch %lld", epoch + 1, (long long)batch);
    state->batch = batch + 1;
    state->iterations = sp_optimizer_iteration_count(run->config->optimizer);
    save_metric_sums(run);
    sp_logs logs;
    SP_TRY(current_logs(run, &logs));
    SP_TRY(sp_callbacks_run(&run->callbacks, SP_HOOK_TRAIN_BATCH_END, training, batch, &logs));
  }
  int complete = state->batch == training->steps;
  SP_TRY(current_logs(run, epoch_logs));
  if (run->validate) {
    sp_logs validation;
    SP_TRY(sp_evaluate_with(run->model, run->runner, &run->validation_x, &run->validation_y, run->options.batch_size,
                            &run->callbacks, training, &validation));
    for (int i = 0; i < validation.count; i++) {
      char name[SP_LOG_NAME_MAX];
      snprintf(name, sizeof name, "val_%s", validation.entries[i].name);
      SP_TRY(sp_logs_set(epoch_logs, name, validation.entries[i].value));
    }
  }
  SP_TRY(sp_callbacks_run(&run->callbacks, SP_HOOK_EPOCH_END, training, epoch, epoch_logs));
  if (complete) {
    state->epoch = epoch + 1;
    state->batch = 0;
  }
  return SP_OK;
}

static sp_status train(fit_run *run) {
  sp_training *training = &run->training;
  SP_TRY(sp_callbacks_run(&run->callbacks, SP_HOOK_TRAIN_BEGIN, training, 0, NULL));
  SP_TRY(check_state(run));
  sp_logs last = {0};
  while (training->state.epoch < run->options.epochs && !training->state.stop_training) SP_TRY(run_epoch(run, &last));
  if (run->options.epochs > 0) SP_TRY(sp_optimizer_finalize(run->config->optimizer)); /* use_ema: the averages */
  return sp_callbacks_run(&run->callbacks, SP_HOOK_TRAIN_END, training, 0, &last);
}

sp_status sp_model_fit_arrays(sp_model *model, int input_count, const sp_tensor *const *x, int target_count,
                              const sp_tensor *const *y, const sp_fit_options *options, sp_history **history) {
  if (history) *history = NULL;
  fit_run run = {.model = model, .options = options ? *options : sp_fit_defaults()};
  sp_status status = prepare(&run, input_count, x, target_count, y);
  if (status == SP_OK) status = train(&run);
  if (status == SP_OK && run.options.final_state) *run.options.final_state = run.training.state;
  if (status == SP_OK && history) {
    *history = run.history;
    run.history = NULL;
  }
  sp_history_free(run.history);
  release(&run);
  return status == SP_OK ? SP_OK : sp_error_context(status, "fitting model '%s'", model->name);
}

sp_status sp_model_fit(sp_model *model, const sp_tensor *x, const sp_tensor *y, const sp_fit_options *options,
                       sp_history **history) {
  return sp_model_fit_arrays(model, 1, &x, 1, &y, options, history);
}
