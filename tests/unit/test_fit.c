/* Tests of fit and evaluate: convergence on a known linear target, validation_split taking the
 * last fraction, History and its JSON, the callback hook order, CSVLogger's file, TerminateOnNaN,
 * regularization in the loss, several inputs/outputs, progress lines, and the determinism
 * contract (same seed → same bits; fit(5) + fit(5..10) = fit(10); a mid-epoch stop resumes
 * exactly from its state). Expected values come from the formulas written in each test. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "nn/model.h"
#include "savepoint/train.h"
#include "test_support.h"
#include "train_models.h"

static sp_tensor *matrix(int64_t rows, int64_t columns, float (*value)(int64_t row, int64_t column)) {
  return sp_test_matrix(rows, columns, 0, value);
}

static float feature(int64_t row, int64_t column) { return (float)sin(0.37 * (double)row + 1.7 * (double)column); }
static float linear_target(int64_t row, int64_t column) { return 2 * feature(row, 0) - 3 * feature(row, 1) + 1; }

static sp_model *dense_model(int64_t inputs, int64_t units, const char *extra_config) {
  sp_model *model = sp_sequential("sequential");
  sp_model_set_seed(model, 42);
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){inputs})));
  char config[512];
  snprintf(config, sizeof config, "{\"units\": %lld%s}", (long long)units, extra_config ? extra_config : "");
  SP_ASSERT_OK(sp_model_add(model, sp_layer_new("Dense", config)));
  return model;
}

/* fit options that run one callback and report the final state. */
static void with_callback(sp_fit_options *options, sp_callback **callback, sp_training_state *final_state) {
  options->callbacks = callback;
  options->callback_count = 1;
  options->final_state = final_state;
}

static sp_fit_options quiet(int epochs, int64_t batch_size) {
  sp_fit_options options = sp_fit_defaults();
  options.epochs = epochs;
  options.batch_size = batch_size;
  options.verbose = 0;
  options.seed = 7;
  return options;
}

Test(fit, a_linear_regression_converges_to_its_coefficients) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.1, 0.9, 0), "mse", (const char *[]){"mae", NULL}));
  sp_tensor *x = matrix(256, 2, feature), *y = matrix(256, 0, linear_target);
  sp_fit_options options = quiet(60, 16);
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  int count;
  const double *losses = sp_history_values(history, "loss", &count);
  cr_assert_eq(count, 60);
  cr_assert(losses[59] < 1e-6 && losses[59] < losses[0], "loss went from %g to %g", losses[0], losses[59]);
  const float *kernel = sp_tensor_floats(model->layers[1]->variables[0]->value);
  const float *bias = sp_tensor_floats(model->layers[1]->variables[1]->value);
  cr_assert(fabsf(kernel[0] - 2) < 1e-3 && fabsf(kernel[1] + 3) < 1e-3 && fabsf(bias[0] - 1) < 1e-3,
            "kernel [%g, %g], bias %g", kernel[0], kernel[1], bias[0]);
  sp_logs results;
  SP_ASSERT_OK(sp_model_evaluate(model, x, y, NULL, &results));
  cr_assert(sp_logs_get(&results, "loss", 1) < 1e-6 && sp_logs_find(&results, "mae") == 1);
  sp_history_free(history);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

static float row_index(int64_t row, int64_t column) { return (float)(row + 1); }

Test(fit, validation_split_takes_the_last_fraction_before_shuffling) {
  /* zero weights and no learning: predictions stay 0, so loss = mean(y^2) over each part */
  sp_model *model = dense_model(2, 1, ", \"kernel_initializer\": \"zeros\"");
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.0, 0, 0), "mse", NULL));
  sp_tensor *x = matrix(10, 2, feature), *y = matrix(10, 0, row_index);
  sp_fit_options options = quiet(1, 4);
  options.validation_split = 0.25; /* floor(10 * 0.75) = 7 training rows, the last 3 validate */
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  double train = 0, validation = 0;
  for (int r = 1; r <= 7; r++) train += r * r;
  for (int r = 8; r <= 10; r++) validation += r * r;
  cr_assert_float_eq(sp_history_values(history, "loss", NULL)[0], (float)(train / 7), 1e-6);
  cr_assert_float_eq(sp_history_values(history, "val_loss", NULL)[0], (float)(validation / 3), 1e-6);
  sp_history_free(history);
  options.validation_split = 0.05; /* floor(10 * 0.95) = 9: one row is enough */
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
  options.validation_split = 0.99; /* floor(10 * 0.01) = 0 rows would be left to train on */
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, &options, NULL), SP_ERROR_INVALID_ARGUMENT, "not sufficient");
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

Test(fit, history_json_holds_every_epoch_in_keras_key_order) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_adam(0.01), "mse", (const char *[]){"mae", NULL}));
  sp_tensor *x = matrix(40, 2, feature), *y = matrix(40, 0, linear_target);
  sp_fit_options options = quiet(3, 8);
  options.validation_split = 0.2;
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  const char *keys[] = {"loss", "mae", "val_loss", "val_mae"};
  cr_assert_eq(sp_history_key_count(history), 4);
  for (int k = 0; k < 4; k++) cr_assert_str_eq(sp_history_key(history, k), keys[k]);
  char *text = sp_history_to_json(history);
  json_object *parsed;
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "history", &parsed));
  for (int k = 0; k < 4; k++) {
    json_object *values = sp_json_member(parsed, keys[k]);
    cr_assert_eq(json_object_array_length(values), 3);
    for (int e = 0; e < 3; e++)
      cr_assert_eq(json_object_get_double(json_object_array_get_idx(values, e)), sp_history_values(history, keys[k], NULL)[e]);
  }
  char *directory = sp_test_temp_dir("history"), *path = sp_path_join(directory, "history.json");
  SP_ASSERT_OK(sp_history_save(history, path));
  uint8_t *saved;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 20, &saved, &size));
  cr_assert(size == strlen(text) && memcmp(saved, text, size) == 0);
  free(saved);
  free(path);
  free(directory);
  json_object_put(parsed);
  free(text);
  sp_history_free(history);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

/* ---- callbacks ---- */

typedef struct recording {
  char events[4096];
} recording;

static void note(sp_callback *self, const char *format, long long index) {
  recording *r = self->context;
  size_t used = strlen(r->events);
  snprintf(r->events + used, sizeof r->events - used, format, index);
}

static sp_status rec_train_begin(sp_callback *s, sp_training *t, const sp_logs *l) { note(s, "train_begin ", 0); return SP_OK; }
static sp_status rec_train_end(sp_callback *s, sp_training *t, const sp_logs *l) { note(s, "train_end", 0); return SP_OK; }
static sp_status rec_epoch_begin(sp_callback *s, sp_training *t, int e, const sp_logs *l) { note(s, "epoch_begin:%lld ", e); return SP_OK; }
static sp_status rec_epoch_end(sp_callback *s, sp_training *t, int e, const sp_logs *l) {
  cr_assert(sp_logs_find(l, "val_loss") >= 0, "epoch logs carry validation");
  note(s, "epoch_end:%lld ", e);
  return SP_OK;
}
static sp_status rec_batch_begin(sp_callback *s, sp_training *t, int64_t b, const sp_logs *l) { note(s, "batch_begin:%lld ", b); return SP_OK; }
static sp_status rec_batch_end(sp_callback *s, sp_training *t, int64_t b, const sp_logs *l) {
  cr_assert(sp_logs_find(l, "loss") == 0);
  note(s, "batch_end:%lld ", b);
  return SP_OK;
}
static sp_status rec_test_begin(sp_callback *s, sp_training *t, const sp_logs *l) { note(s, "test_begin ", 0); return SP_OK; }
static sp_status rec_test_end(sp_callback *s, sp_training *t, const sp_logs *l) { note(s, "test_end ", 0); return SP_OK; }
static sp_status rec_test_batch_begin(sp_callback *s, sp_training *t, int64_t b, const sp_logs *l) { note(s, "test_batch_begin:%lld ", b); return SP_OK; }
static sp_status rec_test_batch_end(sp_callback *s, sp_training *t, int64_t b, const sp_logs *l) { note(s, "test_batch_end:%lld ", b); return SP_OK; }

Test(fit, callbacks_are_called_in_keras_order) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", NULL));
  sp_tensor *x = matrix(6, 2, feature), *y = matrix(6, 0, linear_target), *vx = matrix(3, 2, feature), *vy = matrix(3, 0, linear_target);
  recording record = {{0}};
  sp_callback *callback = sp_callback_new("recorder", &record);
  callback->on_train_begin = rec_train_begin;
  callback->on_train_end = rec_train_end;
  callback->on_epoch_begin = rec_epoch_begin;
  callback->on_epoch_end = rec_epoch_end;
  callback->on_train_batch_begin = rec_batch_begin;
  callback->on_train_batch_end = rec_batch_end;
  callback->on_test_begin = rec_test_begin;
  callback->on_test_end = rec_test_end;
  callback->on_test_batch_begin = rec_test_batch_begin;
  callback->on_test_batch_end = rec_test_batch_end;
  sp_fit_options options = quiet(2, 4);
  with_callback(&options, &callback, NULL);
  options.validation_x = (const sp_tensor *const[]){vx};
  options.validation_y = (const sp_tensor *const[]){vy};
  options.validation_input_count = options.validation_target_count = 1;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
  const char *expected =
      "train_begin epoch_begin:0 batch_begin:0 batch_end:0 batch_begin:1 batch_end:1 test_begin test_batch_begin:0 "
      "test_batch_end:0 test_end epoch_end:0 epoch_begin:1 batch_begin:0 batch_end:0 batch_begin:1 batch_end:1 "
      "test_begin test_batch_begin:0 test_batch_end:0 test_end epoch_end:1 train_end";
  cr_assert_str_eq(record.events, expected);
  sp_callback_free(callback);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_tensor_free(vx);
  sp_tensor_free(vy);
  sp_model_free(model);
}

static sp_status failing_epoch_end(sp_callback *s, sp_training *t, int e, const sp_logs *l) {
  return sp_fail(SP_ERROR_IO, "disk full while saving");
}

Test(fit, a_failing_callback_stops_training_with_its_message) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", NULL));
  sp_tensor *x = matrix(6, 2, feature), *y = matrix(6, 0, linear_target);
  sp_callback *callback = sp_callback_new("saver", NULL);
  callback->on_epoch_end = failing_epoch_end;
  sp_fit_options options = quiet(3, 4);
  with_callback(&options, &callback, NULL);
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, &options, NULL), SP_ERROR_IO, "callback 'saver' on_epoch_end: disk full");
  cr_assert_eq(sp_optimizer_iterations(sp_model_optimizer(model)), 2); /* stopped after the first epoch */
  sp_callback_free(callback);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

static char *read_text(const char *path) {
  uint8_t *data;
  size_t size;
  SP_ASSERT_OK(sp_read_file(path, 1 << 20, &data, &size));
  char *text = calloc(size + 1, 1);
  memcpy(text, data, size);
  free(data);
  return text;
}

Test(fit, csv_logger_writes_keras_columns_and_appends) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", (const char *[]){"mae", NULL}));
  sp_tensor *x = matrix(8, 2, feature), *y = matrix(8, 0, linear_target);
  char *directory = sp_test_temp_dir("csv_logger"), *path = sp_path_join(directory, "log.csv");
  sp_callback *logger = sp_csv_logger(path, ',', 0);
  sp_fit_options options = quiet(2, 4);
  with_callback(&options, &logger, NULL);
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  /* no validation ran, so Keras adds val_ columns (empty as NA) after the sorted keys */
  char expected[1024], a[40], b[40];
  size_t used = (size_t)snprintf(expected, sizeof expected, "epoch,loss,mae,val_loss,val_mae\r\n");
  for (int e = 0; e < 2; e++) {
    sp_format_python_float(sp_history_values(history, "loss", NULL)[e], a, sizeof a);
    sp_format_python_float(sp_history_values(history, "mae", NULL)[e], b, sizeof b);
    used += (size_t)snprintf(expected + used, sizeof expected - used, "%d,%s,%s,NA,NA\r\n", e, a, b);
  }
  char *text = read_text(path);
  cr_assert_str_eq(text, expected);
  free(text);
  sp_history_free(history);
  sp_callback_free(logger);
  /* append: the old rows stay, no second header */
  logger = sp_csv_logger(path, ',', 1);
  options.callbacks = &logger;
  options.epochs = 3;
  options.initial_epoch = 2;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
  text = read_text(path);
  cr_assert(strncmp(text, expected, strlen(expected)) == 0, "the earlier rows are kept: %s", text);
  cr_assert(strncmp(text + strlen(expected), "2,", 2) == 0, "then the row of epoch 2: %s", text);
  cr_assert(strstr(text + 1, "epoch,") == NULL, "one header only: %s", text);
  free(text);
  sp_callback_free(logger);
  free(path);
  free(directory);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

static float with_nan(int64_t row, int64_t column) { return row == 2 ? NAN : feature(row, column); }

Test(fit, terminate_on_nan_stops_after_the_batch) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", NULL));
  sp_tensor *x = matrix(16, 2, with_nan), *y = matrix(16, 0, linear_target);
  sp_callback *stopper = sp_terminate_on_nan();
  sp_fit_options options = quiet(5, 4);
  options.shuffle = 0;
  sp_training_state state;
  with_callback(&options, &stopper, &state);
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, &history));
  cr_assert_eq(state.epoch, 0);
  cr_assert_eq(state.batch, 1); /* row 2 is in the first batch */
  cr_assert_eq(sp_history_epoch_count(history), 1);
  cr_assert(isnan(sp_history_values(history, "loss", NULL)[0]));
  sp_history_free(history);
  sp_callback_free(stopper);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

Test(fit, regularization_is_part_of_the_loss) {
  sp_model *model = dense_model(2, 1, ", \"kernel_regularizer\": {\"class_name\": \"L2\", \"config\": {\"l2\": 0.5}}");
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.0, 0, 0), "mse", NULL));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_initialize(model));
  float *kernel = sp_tensor_floats(model->layers[1]->variables[0]->value);
  kernel[0] = 1;
  kernel[1] = -2;
  sp_tensor *x = matrix(5, 2, feature), *y = matrix(5, 0, linear_target);
  double squares = 0;
  for (int r = 0; r < 5; r++) {
    double prediction = feature(r, 0) * 1.0 - 2.0 * feature(r, 1), error = prediction - linear_target(r, 0);
    squares += error * error;
  }
  sp_logs results;
  SP_ASSERT_OK(sp_model_evaluate(model, x, y, NULL, &results));
  cr_assert_float_eq(sp_logs_get(&results, "loss", 0), (float)(squares / 5 + 0.5 * (1 + 4)), 1e-5);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

/* ---- several inputs and outputs ---- */

static float label_of(int64_t row, int64_t column) { return (float)(row % 3); }

Test(fit, several_inputs_and_outputs) {
  sp_model *model = sp_functional("two_by_two");
  sp_model_set_seed(model, 3);
  sp_symbol a, b, joined, score, kind;
  int count;
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){2}), &a));
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){2}), &b));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 4, \"activation\": \"tanh\"}"), 1, &a, 1, &joined, &count));
  sp_symbol second;
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 4, \"activation\": \"tanh\"}"), 1, &b, 1, &second, &count));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 1, \"name\": \"score\"}"), 1, &joined, 1, &score, &count));
  SP_ASSERT_OK(sp_model_call(model, sp_layer_new("Dense", "{\"units\": 3, \"name\": \"kind\"}"), 1, &second, 1, &kind, &count));
  SP_ASSERT_OK(sp_model_set_outputs(model, 2, (sp_symbol[]){score, kind}));
  SP_ASSERT_OK(sp_model_compile_json(model, "{\"optimizer\": {\"class_name\": \"Adam\", \"config\": {\"learning_rate\": 0.01}}, "
                                            "\"loss\": {\"score\": \"mse\", \"kind\": {\"class_name\": \"SparseCategoricalCrossentropy\", "
                                            "\"config\": {\"from_logits\": true}}}, \"loss_weights\": [0.5, 2.0], "
                                            "\"metrics\": {\"kind\": [\"accuracy\"]}}"));
  sp_tensor *x1 = matrix(30, 2, feature), *x2 = matrix(30, 2, feature), *y1 = matrix(30, 0, linear_target), *y2 = matrix(30, 0, label_of);
  const sp_tensor *x[] = {x1, x2}, *y[] = {y1, y2};
  sp_fit_options options = quiet(2, 8);
  sp_history *history;
  SP_ASSERT_OK(sp_model_fit_arrays(model, 2, x, 2, y, &options, &history));
  const char *keys[] = {"loss", "kind_accuracy", "score_loss", "kind_loss"};
  cr_assert_eq(sp_history_key_count(history), 4);
  for (int k = 0; k < 4; k++) cr_assert_str_eq(sp_history_key(history, k), keys[k]);
  sp_logs results;
  SP_ASSERT_OK(sp_model_evaluate_arrays(model, 2, x, 2, y, NULL, &results));
  cr_assert_float_eq(sp_logs_get(&results, "loss", 0),
                     0.5 * sp_logs_get(&results, "score_loss", 0) + 2.0 * sp_logs_get(&results, "kind_loss", 0), 1e-5);
  SP_ASSERT_FAILS(sp_model_fit_arrays(model, 1, x, 2, y, &options, NULL), SP_ERROR_MISMATCH, "has 2 inputs");
  sp_history_free(history);
  sp_tensor *tensors[] = {x1, x2, y1, y2};
  for (int i = 0; i < 4; i++) sp_tensor_free(tensors[i]);
  sp_model_free(model);
}

Test(fit, progress_prints_one_line_per_epoch_when_not_a_terminal) {
  sp_model *model = dense_model(2, 1, NULL);
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", (const char *[]){"mae", NULL}));
  sp_tensor *x = matrix(10, 2, feature), *y = matrix(10, 0, linear_target);
  for (int verbose = 1; verbose <= 2; verbose++) {
    FILE *out = tmpfile();
    sp_fit_options options = quiet(2, 4);
    options.verbose = verbose;
    options.progress = out;
    options.validation_split = 0.2;
    SP_ASSERT_OK(sp_model_fit(model, x, y, &options, NULL));
    rewind(out);
    char first[512], second[512], third[8];
    cr_assert_not_null(fgets(first, sizeof first, out));
    cr_assert_not_null(fgets(second, sizeof second, out));
    cr_assert_null(fgets(third, sizeof third, out));
    cr_assert(strncmp(first, "Epoch 1/2 - 2/2 - ", 18) == 0, "%s", first);
    cr_assert(strncmp(second, "Epoch 2/2 - 2/2 - ", 18) == 0, "%s", second);
    cr_assert(strstr(first, "/step - loss: ") && strstr(first, " - mae: ") && strstr(first, " - val_loss: ") &&
              strstr(first, " - val_mae: "), "%s", first);
    fclose(out);
  }
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

Test(fit, errors_name_the_problem) {
  sp_model *model = dense_model(2, 1, NULL);
  sp_tensor *x = matrix(10, 2, feature), *y = matrix(9, 0, linear_target);
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, NULL, NULL), SP_ERROR_INVALID_ARGUMENT, "must be compiled");
  SP_ASSERT_OK(sp_model_compile(model, sp_sgd(0.01, 0, 0), "mse", NULL));
  SP_ASSERT_FAILS(sp_model_fit(model, x, y, NULL, NULL), SP_ERROR_MISMATCH, "9 samples");
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(model);
}

/* ---- determinism ---- */

static float digit_label(int64_t row, int64_t column) { return (float)((row * 7) % 4); }
static float digit_feature(int64_t row, int64_t column) { return (float)cos(0.11 * (double)(row * 8 + column)); }

static void fit_classifier(sp_model *model, int initial_epoch, int epochs, int64_t seed, sp_history **history) {
  sp_tensor *x = matrix(50, 8, digit_feature), *y = matrix(50, 0, digit_label);
  sp_fit_options options = quiet(epochs, 8);
  options.initial_epoch = initial_epoch;
  options.seed = seed;
  SP_ASSERT_OK(sp_model_fit(model, x, y, &options, history));
  sp_tensor_free(x);
  sp_tensor_free(y);
}

Test(determinism, the_same_seed_gives_the_same_bits) {
  sp_model *a = sp_test_dropout_classifier(), *b = sp_test_dropout_classifier(), *c = sp_test_dropout_classifier();
  fit_classifier(a, 0, 3, 5, NULL);
  fit_classifier(b, 0, 3, 5, NULL);
  fit_classifier(c, 0, 3, 6, NULL);
  cr_assert(sp_test_same_weights(a, b), "two runs with seed 5 differ");
  cr_assert(!sp_test_same_weights(a, c), "seeds 5 and 6 gave the same weights");
  sp_model_free(a);
  sp_model_free(b);
  sp_model_free(c);
}

Test(determinism, five_plus_five_epochs_equal_ten) {
  sp_model *whole = sp_test_dropout_classifier(), *halves = sp_test_dropout_classifier();
  sp_history *first, *second, *all;
  fit_classifier(whole, 0, 10, 11, &all);
  fit_classifier(halves, 0, 5, 11, &first);
  fit_classifier(halves, 5, 10, 11, &second);
  cr_assert(sp_test_same_weights(whole, halves), "fit(5) + fit(initial_epoch=5, epochs=10) differs from fit(10)");
  cr_assert_eq(sp_optimizer_iterations(sp_model_optimizer(halves)), 70);
  cr_assert_eq(sp_history_epoch(second, 0), 5);
  cr_assert_eq(sp_history_values(second, "loss", NULL)[4], sp_history_values(all, "loss", NULL)[9]);
  sp_history_free(first);
  sp_history_free(second);
  sp_history_free(all);
  sp_model_free(whole);
  sp_model_free(halves);
}

/* Stops the run after batch 3 of epoch 2 (0-based), keeping a copy of the weights and of the
 * optimizer's variables as a checkpoint would. */
typedef struct snapshot {
  sp_tensor *weights[16], *optimizer[32];
  int weight_count, optimizer_count;
  char *callback_states[4]; /* save_state of each of the run's callbacks */
} snapshot;

/* A callback with resumable state: it counts the batches it has seen. */
static sp_status count_batch(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  (*(int *)self->context)++;
  return SP_OK;
}
static sp_status save_count(sp_callback *self, char **json) {
  *json = malloc(32);
  snprintf(*json, 32, "{\"batches\": %d}", *(int *)self->context);
  return SP_OK;
}
static sp_status restore_count(sp_callback *self, const char *json) {
  return sscanf(json, "{\"batches\": %d}", (int *)self->context) == 1 ? SP_OK : SP_ERROR_FORMAT;
}
static sp_callback *batch_counter(int *count) {
  sp_callback *callback = sp_callback_new("batch_counter", count);
  callback->on_train_batch_end = count_batch;
  callback->save_state = save_count;
  callback->restore_state = restore_count;
  return callback;
}

static sp_status stop_mid_epoch(sp_callback *self, sp_training *training, int64_t batch, const sp_logs *logs) {
  if (training->state.epoch != 2 || batch != 3) return SP_OK;
  snapshot *saved = self->context;
  sp_variable **variables;
  saved->weight_count = sp_model_collect_variables(training->model, &variables, 0);
  for (int i = 0; i < saved->weight_count; i++) saved->weights[i] = sp_tensor_copy(variables[i]->value);
  free(variables);
  sp_optimizer *optimizer = sp_model_optimizer(training->model);
  saved->optimizer_count = sp_optimizer_variable_count(optimizer);
  for (int i = 0; i < saved->optimizer_count; i++) saved->optimizer[i] = sp_tensor_copy(sp_optimizer_variable_value(optimizer, i));
  for (int i = 0; i < training->callback_count; i++)
    if (training->callbacks[i]->save_state) SP_TRY(training->callbacks[i]->save_state(training->callbacks[i], &saved->callback_states[i]));
  training->state.stop_training = 1;
  return SP_OK;
}

Test(determinism, a_run_stopped_mid_epoch_resumes_bit_identically) {
  sp_model *whole = sp_test_dropout_classifier(), *interrupted = sp_test_dropout_classifier(), *resumed = sp_test_dropout_classifier();
  sp_history *all;
  fit_classifier(whole, 0, 4, 21, &all);

  snapshot saved = {0};
  int counted = 0;
  sp_callback *callbacks[] = {batch_counter(&counted), sp_callback_new("stopper", &saved)};
  callbacks[1]->on_train_batch_end = stop_mid_epoch;
  sp_tensor *x = matrix(50, 8, digit_feature), *y = matrix(50, 0, digit_label);
  sp_fit_options options = quiet(4, 8);
  options.seed = 21;
  sp_training_state state;
  options.callbacks = callbacks;
  options.callback_count = 2;
  options.final_state = &state;
  SP_ASSERT_OK(sp_model_fit(interrupted, x, y, &options, NULL));
  cr_assert(state.epoch == 2 && state.batch == 4, "stopped at epoch %d batch %lld", state.epoch, (long long)state.batch);

  /* a fresh model gets the weights and optimizer variables back, and the state through JSON */
  char *json = sp_training_state_to_json(&state);
  sp_training_state restored;
  SP_ASSERT_OK(sp_training_state_from_json(json, &restored));
  free(json);
  SP_ASSERT_OK(sp_model_build_optimizer_variables(resumed));
  SP_ASSERT_OK(sp_model_initialize(resumed));
  sp_variable **variables;
  int count = sp_model_collect_variables(resumed, &variables, 0);
  for (int i = 0; i < count; i++) memcpy(variables[i]->value->data, saved.weights[i]->data, saved.weights[i]->size);
  free(variables);
  sp_optimizer *optimizer = sp_model_optimizer(resumed);
  cr_assert_eq(sp_optimizer_variable_count(optimizer), saved.optimizer_count);
  for (int i = 0; i < saved.optimizer_count; i++) SP_ASSERT_OK(sp_optimizer_set_variable(optimizer, i, saved.optimizer[i]));
  int recounted = 0;
  sp_callback *counter = batch_counter(&recounted);
  SP_ASSERT_OK(counter->restore_state(counter, saved.callback_states[0]));
  sp_fit_options resume = quiet(4, 8);
  resume.resume = &restored;
  with_callback(&resume, &counter, NULL);
  sp_history *rest;
  SP_ASSERT_OK(sp_model_fit(resumed, x, y, &resume, &rest));
  cr_assert(sp_test_same_weights(whole, resumed), "the resumed run differs from the uninterrupted one");
  cr_assert_eq(recounted, 4 * 7, "the restored callback counted %d batches over the two runs", recounted);
  /* the resumed epoch's logs include the batches run before the stop */
  cr_assert_eq(sp_history_values(rest, "loss", NULL)[0], sp_history_values(all, "loss", NULL)[2]);
  cr_assert_eq(sp_history_values(rest, "accuracy", NULL)[1], sp_history_values(all, "accuracy", NULL)[3]);
  for (int i = 0; i < saved.weight_count; i++) sp_tensor_free(saved.weights[i]);
  for (int i = 0; i < saved.optimizer_count; i++) sp_tensor_free(saved.optimizer[i]);
  free(saved.callback_states[0]);
  sp_callback_free(counter);
  sp_callback_free(callbacks[0]);
  sp_callback_free(callbacks[1]);
  sp_history_free(rest);
  sp_history_free(all);
  sp_tensor_free(x);
  sp_tensor_free(y);
  sp_model_free(whole);
  sp_model_free(interrupted);
  sp_model_free(resumed);
}
