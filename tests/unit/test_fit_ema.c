/* Tests of weight averages in training (Keras 3's use_ema and SwapEMAWeights): fit ends with the
 * optimizer's averages in the model (finalize_variable_values); SwapEMAWeights makes validation
 * run on the averages and, with swap_on_epoch, shows them to the callbacks after it at each
 * epoch's end, without changing the run. Expected values come from a run without the swap: the
 * same seed gives the same steps, so its averages and weights are what the swapped run must show. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "nn/optimizer.h"
#include "savepoint/io.h"
#include "savepoint/train.h"
#include "test_support.h"
#include "train_models.h"

enum { EPOCHS = 3, SAMPLES = 48, FEATURES = 8, MAX_COPIES = 8 };

static float feature(int64_t row, int64_t column) { return (float)cos(0.11 * (double)(row * 8 + column)); }
static float label(int64_t row, int64_t column) { return (float)((row * 7) % 4); }

/* The dropout classifier with Adam(0.01, use_ema=True, ema_momentum=0.8). */
static sp_model *averaging_classifier(void) {
  sp_model *model = sp_test_dropout_classifier();
  SP_ASSERT_OK(sp_optimizer_set(sp_model_optimizer(model), "use_ema", 1));
  SP_ASSERT_OK(sp_optimizer_set(sp_model_optimizer(model), "ema_momentum", 0.8));
  return model;
}

/* What a probe callback saw at each epoch's end: the model's trainable variables and the
 * optimizer's averages, concatenated. */
typedef struct probe {
  float *weights[EPOCHS], *averages[EPOCHS];
  size_t size;
} probe;

static float *concatenated(sp_tensor *const *tensors, int count, size_t *size) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += tensors[i]->size;
  char *copy = malloc(total), *at = copy;
  cr_assert_not_null(copy);
  for (int i = 0; i < count; i++) {
    memcpy(at, tensors[i]->data, tensors[i]->size);
    at += tensors[i]->size;
  }
  *size = total;
  return (float *)copy;
}

static float *current_weights(sp_model *model, size_t *size) {
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 1);
  sp_tensor *values[MAX_COPIES];
  cr_assert(count <= MAX_COPIES);
  for (int i = 0; i < count; i++) values[i] = variables[i]->value;
  free(variables);
  return concatenated(values, count, size);
}

static sp_status probe_epoch_end(sp_callback *self, sp_training *training, int epoch, const sp_logs *logs) {
  probe *seen = self->context;
  sp_optimizer *optimizer = sp_model_optimizer(training->model);
  seen->weights[epoch] = current_weights(training->model, &seen->size);
  size_t size;
  seen->averages[epoch] = concatenated(optimizer->averages, optimizer->target_count, &size);
  cr_assert_eq(size, seen->size);
  return SP_OK;
}

static void probe_free(probe *seen) {
  for (int e = 0; e < EPOCHS; e++) {
    free(seen->weights[e]);
    free(seen->averages[e]);
  }
}

/* Trains model for EPOCHS epochs on SAMPLES rows, validating on 16 more, with the callbacks
 * given followed by a probe; returns the History. */
static sp_history *train(sp_model *model, sp_callback *first, probe *seen) {
  sp_tensor *x = sp_test_matrix(SAMPLES, FEATURES, 0, feature), *y = sp_test_matrix(SAMPLES, 0, 0, label);
  sp_tensor *validation_x = sp_test_matrix(16, FEATURES, SAMPLES, feature), *validation_y = sp_test_matrix(16, 0, SAMPLES, label);
  sp_callback *probe_callback = sp_callback_new("probe", seen);
  sp_callback *callbacks[] = {first, probe_callback};
  sp_fit_options options = sp_fit_defaults();
  options.epochs = EPOCHS;
  options.batch_size = 8;
  options.verbose = 0;
  options.seed = 5;
  options.validation_input_count = options.validation_target_count = 1;
  options.validation_x = (const sp_tensor *const[]){validation_x};
  options.validation_y = (const sp_tensor *const[]){validation_y};
  probe_callback->on_epoch_end = probe_epoch_end;
  options.callbacks = first ? callbacks : &probe_callback;
  options.callback_count = first ? 2 : 1;
  sp_history *history = NULL;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  sp_callback_free(probe_callback);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_tensor_free(validation_x);
  sp_tensor_free(validation_y);
  return history;
}

static double last_value(const sp_history *history, const char *key) {
  int count;
  const double *values = sp_history_values(history, key, &count);
  cr_assert(values && count == EPOCHS, "no %s in the history", key);
  return values[EPOCHS - 1];
}

static void assert_same(const float *a, const float *b, size_t size, const char *what) {
  cr_assert(memcmp(a, b, size) == 0, "%s differ", what);
}

Test(fit_ema, fit_ends_with_the_averages) {
  sp_model *model = averaging_classifier();
  probe seen = {0};
  sp_history *history = train(model, NULL, &seen);
  size_t size;
  float *final = current_weights(model, &size);
  assert_same(final, seen.averages[EPOCHS - 1], size, "the model after fit and the averages after the last step");
  cr_assert(memcmp(seen.weights[EPOCHS - 1], seen.averages[EPOCHS - 1], size) != 0,
            "the last step's weights already equal their averages; the test shows nothing");
  free(final);
  probe_free(&seen);
  sp_history_free(history);
  sp_model_free(model);
}

Test(fit_ema, swap_ema_weights_validates_on_the_averages_and_shows_them_at_epoch_end) {
  sp_model *plain = averaging_classifier(), *swapped = averaging_classifier(), *validated = averaging_classifier();
  probe plain_seen = {0}, swapped_seen = {0}, validated_seen = {0};
  sp_callback *swap_on_epoch = sp_swap_ema_weights(1), *swap_for_validation = sp_swap_ema_weights(0);
  sp_history *plain_history = train(plain, NULL, &plain_seen);
  sp_history *swapped_history = train(swapped, swap_on_epoch, &swapped_seen);
  sp_history *validated_history = train(validated, swap_for_validation, &validated_seen);
  size_t size = plain_seen.size;
  for (int e = 0; e < EPOCHS; e++) {
    /* swap_on_epoch: the model holds the averages, the optimizer the weights; the run is unchanged */
    assert_same(swapped_seen.weights[e], plain_seen.averages[e], size, "the swapped model and the averages");
    if (e < EPOCHS - 1) /* the last epoch also copies the averages back (SwapEMAWeights._finalize_ema_values) */
      assert_same(swapped_seen.averages[e], plain_seen.weights[e], size, "the swapped averages and the weights");
    /* without swap_on_epoch the callbacks see the weights */
    assert_same(validated_seen.weights[e], plain_seen.weights[e], size, "the weights after validation");
  }
  assert_same(swapped_seen.averages[EPOCHS - 1], plain_seen.averages[EPOCHS - 1], size, "the last epoch's averages");
  cr_assert(sp_test_same_weights(plain, swapped), "a run with SwapEMAWeights ended with other weights");
  cr_assert(sp_test_same_weights(plain, validated), "a run with SwapEMAWeights(swap_on_epoch=False) ended with other weights");

  /* validation ran on the averages: the plain model holds the last averages after fit */
  sp_tensor *validation_x = sp_test_matrix(16, FEATURES, SAMPLES, feature), *validation_y = sp_test_matrix(16, 0, SAMPLES, label);
  sp_evaluate_options options = sp_evaluate_defaults();
  options.batch_size = 8;
  options.verbose = 0;
  sp_logs logs;
  SP_ASSERT_OK(sp_model_evaluate(plain, validation_x, validation_y, &options, &logs));
  double loss = sp_logs_get(&logs, "loss", NAN);
  cr_assert_float_eq(last_value(swapped_history, "val_loss"), loss, 1e-6);
  cr_assert_float_eq(last_value(validated_history, "val_loss"), loss, 1e-6);
  cr_assert(fabs(last_value(plain_history, "val_loss") - loss) > 1e-6, "validation on the weights gave the loss of the averages");

  sp_tensor_free(validation_x);
  sp_tensor_free(validation_y);
  sp_callback_free(swap_on_epoch);
  sp_callback_free(swap_for_validation);
  sp_history_free(plain_history);
  sp_history_free(swapped_history);
  sp_history_free(validated_history);
  probe_free(&plain_seen);
  probe_free(&swapped_seen);
  probe_free(&validated_seen);
  sp_model_free(plain);
  sp_model_free(swapped);
  sp_model_free(validated);
}

Test(fit_ema, swap_ema_weights_needs_averages_and_keeps_its_state) {
  sp_model *model = sp_test_dropout_classifier(); /* use_ema off */
  sp_callback *swap = sp_swap_ema_weights(1);
  sp_tensor *x = sp_test_matrix(SAMPLES, FEATURES, 0, feature), *y = sp_test_matrix(SAMPLES, 0, 0, label);
  sp_fit_options options = sp_fit_defaults();
  options.verbose = 0;
  options.callbacks = &swap;
  options.callback_count = 1;
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, &options, NULL), SP_ERROR_INVALID_ARGUMENT, "use_ema is off");

  char *state = NULL;
  SP_ASSERT_OK(swap->save_state(swap, &state));
  cr_assert_str_eq(state, "{\"averages_in_model\": false}");
  free(state);
  SP_ASSERT_OK(swap->restore_state(swap, "{\"averages_in_model\": true}"));
  SP_ASSERT_OK(swap->save_state(swap, &state));
  cr_assert_str_eq(state, "{\"averages_in_model\": true}");
  free(state);
  cr_assert_neq(swap->restore_state(swap, "{\"averages_in_model\": 3"), SP_OK);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_callback_free(swap);
  sp_model_free(model);
}

/* The averages are optimizer variables: every whole-model format and a TF checkpoint carry them,
 * so that training resumes with them. */
Test(fit_ema, saved_files_carry_the_averages) {
  sp_model *model = averaging_classifier();
  probe seen = {0};
  sp_history *history = train(model, NULL, &seen);
  sp_optimizer *optimizer = sp_model_optimizer(model);
  char *directory = sp_test_temp_dir("fit_ema");
  const char *names[] = {"model.keras", "model.h5", "checkpoint"};
  for (int f = 0; f < 3; f++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", directory, names[f]);
    sp_model *loaded = NULL;
    if (f < 2) {
      SP_ASSERT_OK(sp_save(model, path, NULL));
      SP_ASSERT_OK(sp_load(path, NULL, &loaded));
    } else {
      SP_ASSERT_OK(sp_save_weights(model, path, NULL));
      loaded = averaging_classifier();
      SP_ASSERT_OK(sp_load_weights(loaded, path, NULL));
    }
    sp_optimizer *restored = sp_model_optimizer(loaded);
    cr_assert(restored && restored->use_ema, "%s: the optimizer lost use_ema", names[f]);
    cr_assert_eq(sp_optimizer_variable_count(restored), sp_optimizer_variable_count(optimizer), "%s", names[f]);
    for (int i = 0; i < sp_optimizer_variable_count(optimizer); i++) {
      const sp_tensor *want = sp_optimizer_variable_value(optimizer, i), *got = sp_optimizer_variable_value(restored, i);
      cr_assert(want->size == got->size && memcmp(want->data, got->data, want->size) == 0, "%s: optimizer variable %s differs",
                names[f], sp_optimizer_variable_name(optimizer, i));
    }
    cr_assert_str_eq(sp_optimizer_variable_name(restored, 2), "adam/classifier_dense_kernel_average");
    sp_model_free(loaded);
  }
  free(directory);
  probe_free(&seen);
  sp_history_free(history);
  sp_model_free(model);
}
