/* evaluate.c — Keras's model.evaluate: the loss (with regularization) and the compiled metrics
 * over the data in order, batch by batch, with the test hooks of the given callbacks. */
#include "train/loop.h"

sp_evaluate_options sp_evaluate_defaults(void) { return (sp_evaluate_options){.batch_size = 32}; }

static sp_status evaluate(sp_model *model, sp_arrays *x, sp_arrays *y, const sp_evaluate_options *options,
                          sp_runner **runner, sp_callback_list *callbacks, sp_callback **progress, sp_logs *results) {
  if (!model->training) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "model '%s' must be compiled before evaluate", model->name);
  if (options->batch_size <= 0)
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "batch_size must be positive, got %lld", (long long)options->batch_size);
  SP_TRY(sp_model_build(model));
  SP_TRY(sp_model_initialize(model));
  SP_TRY(sp_arrays_check(model, x, y, "evaluate"));
  SP_TRY(sp_runner_new(model, runner));
  if (options->verbose) {
    *progress = sp_progress_callback(options->progress, options->verbose, 1);
    SP_TRY(sp_callback_list_add(callbacks, *progress));
  }
  for (int i = 0; i < options->callback_count; i++) SP_TRY(sp_callback_list_add(callbacks, options->callbacks[i]));
  sp_training training = {.model = model,
                          .steps = (x->rows + options->batch_size - 1) / options->batch_size,
                          .samples = x->rows,
                          .batch_size = options->batch_size,
                          .verbose = options->verbose,
                          .callback_count = options->callback_count,
                          .callbacks = options->callbacks};
  return sp_evaluate_with(model, *runner, x, y, options->batch_size, callbacks, &training, results);
}

sp_status sp_model_evaluate_arrays(sp_model *model, int input_count, const sp_tensor *const *x, int target_count,
                                   const sp_tensor *const *y, const sp_evaluate_options *options, sp_logs *results) {
  sp_evaluate_options chosen = options ? *options : sp_evaluate_defaults();
  sp_arrays inputs = {input_count, x, 0, 0}, targets = {target_count, y, 0, 0};
  sp_runner *runner = NULL;
  sp_callback_list callbacks = {0};
  sp_callback *progress = NULL;
  *results = (sp_logs){0};
  sp_status status = evaluate(model, &inputs, &targets, &chosen, &runner, &callbacks, &progress, results);
  sp_runner_free(runner);
  sp_callback_free(progress);
  return status == SP_OK ? SP_OK : sp_error_context(status, "evaluating model '%s'", model->name);
}

sp_status sp_model_evaluate(sp_model *model, const sp_tensor *x, const sp_tensor *y, const sp_evaluate_options *options,
                            sp_logs *results) {
  return sp_model_evaluate_arrays(model, 1, &x, 1, &y, options, results);
}
