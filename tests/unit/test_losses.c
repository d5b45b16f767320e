/* Tests of the Keras losses: values against Keras's documented examples and the formulas written
 * out here, gradients against the formulas and against central finite differences, from_logits
 * both ways, clipping, label smoothing, reductions, shape reconciliation and names/configs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "nn/loss.h"
#include "layer_run.h"
#include "test_support.h"

static sp_loss loss_named(const char *spec) {
  json_object *value;
  if (spec[0] == '{') SP_ASSERT_OK(sp_json_parse(spec, strlen(spec), "test", &value));
  else value = json_object_new_string(spec);
  sp_loss loss;
  SP_ASSERT_OK(sp_loss_parse(value, "test", &loss));
  json_object_put(value);
  return loss;
}

static double value_of(sp_loss *loss, const sp_tensor *y_true, const sp_tensor *y_pred, sp_tensor *gradient) {
  double value;
  SP_ASSERT_OK(sp_loss_resolve(loss, y_true, y_pred));
  SP_ASSERT_OK(sp_loss_compute(loss, y_true, y_pred, 1.0, &value, gradient));
  return value;
}

Test(losses, mean_squared_and_absolute_error_by_formula) {
  float t[] = {1, 2, 3, 4}, p[] = {1.5f, 1, 2, 5};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){2, 2}, t), *y_pred = sp_test_tensor(2, (int64_t[]){2, 2}, p);
  sp_tensor *gradient = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){2, 2});
  sp_loss mse = loss_named("mse");
  /* mean over the last axis per sample, then the mean of the samples: (0.25 + 1 + 1 + 1) / 4 */
  cr_assert_float_eq(value_of(&mse, y_true, y_pred, gradient), 0.8125, 1e-12);
  const float mse_gradient[] = {2 * 0.5f / 4, 2 * -1.0f / 4, 2 * -1.0f / 4, 2 * 1.0f / 4};
  sp_assert_close(sp_tensor_floats(gradient), mse_gradient, 4, 1e-6, 1e-7, "mse gradient");
  sp_loss mae = loss_named("mean_absolute_error");
  cr_assert_float_eq(value_of(&mae, y_true, y_pred, gradient), (0.5 + 1 + 1 + 1) / 4.0, 1e-12);
  const float mae_gradient[] = {0.25f, -0.25f, -0.25f, 0.25f};
  sp_assert_close(sp_tensor_floats(gradient), mae_gradient, 4, 1e-6, 1e-7, "mae gradient");
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
  sp_tensor_free(gradient);
}

/* keras.losses.binary_crossentropy docstring: [[0,1],[0,0]] vs [[0.6,0.4],[0.4,0.6]] → [0.916, 0.714]. */
Test(losses, binary_crossentropy_matches_keras_documentation) {
  float t[] = {0, 1, 0, 0}, p[] = {0.6f, 0.4f, 0.4f, 0.6f};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){2, 2}, t), *y_pred = sp_test_tensor(2, (int64_t[]){2, 2}, p);
  sp_loss bce = loss_named("binary_crossentropy");
  double sum;
  int64_t count;
  SP_ASSERT_OK(sp_loss_evaluate(&bce, y_true, y_pred, 1, &sum, &count, NULL));
  cr_assert_eq(count, 2);
  double expected_first = -(log(1 - 0.6) + log(0.4)) / 2, expected_second = -(log(0.6) + log(0.4)) / 2;
  cr_assert(fabs(expected_first - 0.916) < 1e-3 && fabs(expected_second - 0.714) < 1e-3);
  cr_assert_float_eq(sum, expected_first + expected_second, 1e-6);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
}

/* categorical_crossentropy docstring: one-hot identity vs b → [0.10536, 0.11653, 0.06188]. */
Test(losses, categorical_crossentropy_matches_keras_documentation) {
  float t[] = {1, 0, 0, 0, 1, 0, 0, 0, 1}, p[] = {.9f, .05f, .05f, .05f, .89f, .06f, .05f, .01f, .94f};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){3, 3}, t), *y_pred = sp_test_tensor(2, (int64_t[]){3, 3}, p);
  sp_loss cce = loss_named("categorical_crossentropy");
  cr_assert_float_eq(value_of(&cce, y_true, y_pred, NULL), (0.10536 + 0.11653 + 0.06188) / 3, 2e-5);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
}

/* sparse_categorical_crossentropy docstring: [1, 2] vs [[0.05,0.95,0],[0.1,0.8,0.1]] → [0.0513, 2.303]. */
Test(losses, sparse_categorical_crossentropy_matches_keras_documentation) {
  float t[] = {1, 2}, p[] = {0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f};
  sp_tensor *y_true = sp_test_tensor(1, (int64_t[]){2}, t), *y_pred = sp_test_tensor(2, (int64_t[]){2, 3}, p);
  sp_loss loss = loss_named("sparse_categorical_crossentropy");
  cr_assert_float_eq(value_of(&loss, y_true, y_pred, NULL), (0.0513 + 2.303) / 2, 1e-3);
  /* labels of shape (N, 1) are the same labels */
  sp_tensor *column = sp_test_tensor(2, (int64_t[]){2, 1}, t);
  cr_assert_float_eq(value_of(&loss, column, y_pred, NULL), (0.0513 + 2.303) / 2, 1e-3);
  sp_tensor_free(column);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
}

static void softmax(const float *logits, float *out, int n) {
  double maximum = logits[0], total = 0;
  for (int i = 1; i < n; i++) maximum = fmax(maximum, logits[i]);
  for (int i = 0; i < n; i++) total += exp(logits[i] - maximum);
  for (int i = 0; i < n; i++) out[i] = (float)(exp(logits[i] - maximum) / total);
}

Test(losses, from_logits_agrees_with_probabilities) {
  float logits[] = {0.3f, -1.2f, 2.0f, 0.1f, 0.7f, -0.4f}, probabilities[6];
  softmax(logits, probabilities, 3);
  softmax(logits + 3, probabilities + 3, 3);
  float labels[] = {2, 0}, one_hot[] = {0, 0, 1, 1, 0, 0};
  sp_tensor *x = sp_test_tensor(2, (int64_t[]){2, 3}, logits), *p = sp_test_tensor(2, (int64_t[]){2, 3}, probabilities);
  sp_tensor *sparse = sp_test_tensor(1, (int64_t[]){2}, labels), *dense = sp_test_tensor(2, (int64_t[]){2, 3}, one_hot);
  sp_loss from_logits = loss_named("{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}");
  sp_loss from_probabilities = loss_named("SparseCategoricalCrossentropy");
  double expected = ((log(exp(0.3) + exp(-1.2) + exp(2.0)) - 2.0) + (log(exp(0.1) + exp(0.7) + exp(-0.4)) - 0.1)) / 2;
  cr_assert_float_eq(value_of(&from_logits, sparse, x, NULL), expected, 1e-6);
  cr_assert_float_eq(value_of(&from_probabilities, sparse, p, NULL), expected, 1e-5);
  sp_loss categorical_logits = loss_named("{\"module\": \"keras.losses\", \"class_name\": \"CategoricalCrossentropy\", "
                                          "\"config\": {\"from_logits\": true, \"name\": \"cce\"}, \"registered_name\": null}");
  cr_assert_str_eq(categorical_logits.name, "cce");
  cr_assert_float_eq(value_of(&categorical_logits, dense, x, NULL), expected, 1e-6);
  /* binary: sigmoid probabilities against logits */
  float binary_logits[] = {-2.0f, 0.5f, 3.0f}, binary_p[3], targets[] = {0, 1, 1};
  for (int i = 0; i < 3; i++) binary_p[i] = (float)(1 / (1 + exp(-binary_logits[i])));
  sp_tensor *bx = sp_test_tensor(2, (int64_t[]){3, 1}, binary_logits), *bp = sp_test_tensor(2, (int64_t[]){3, 1}, binary_p);
  sp_tensor *bt = sp_test_tensor(1, (int64_t[]){3}, targets);
  sp_loss bce_logits = loss_named("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"from_logits\": true}}");
  sp_loss bce = loss_named("bce");
  cr_assert_float_eq(value_of(&bce_logits, bt, bx, NULL), value_of(&bce, bt, bp, NULL), 1e-6);
  sp_tensor *tensors[] = {x, p, sparse, dense, bx, bp, bt};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
}

Test(losses, probabilities_are_clipped_to_keras_epsilon_and_clipped_entries_get_no_gradient) {
  float t[] = {1, 0}, p[] = {0.0f, 1.0f};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){2, 1}, t), *y_pred = sp_test_tensor(2, (int64_t[]){2, 1}, p);
  sp_tensor *gradient = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){2, 1});
  sp_loss bce = loss_named("binary_crossentropy");
  /* both predictions are as wrong as possible; the clip bounds are float32: 1e-7f and 1 - 1e-7f,
     whose complement is 2^-23 (TensorFlow evaluates 1 - output in float32 too) */
  double expected = (-log((double)1e-7f) - log(1 - (double)(1.0f - 1e-7f))) / 2;
  cr_assert_float_eq(value_of(&bce, y_true, y_pred, gradient), expected, 1e-4);
  cr_assert(sp_tensor_floats(gradient)[0] == 0 && sp_tensor_floats(gradient)[1] == 0);
  float classes[] = {0.0f, 1.0f, 0.0f}, label[] = {0};
  sp_tensor *probabilities = sp_test_tensor(2, (int64_t[]){1, 3}, classes), *labels = sp_test_tensor(1, (int64_t[]){1}, label);
  sp_loss scce = loss_named("sparse_categorical_crossentropy");
  /* log-softmax of log(clip(p)): -log(1e-7 / (1e-7 + (1 - 1e-7) + 1e-7)) */
  double clipped = (double)1e-7f, high = (double)(1.0f - 1e-7f);
  cr_assert_float_eq(value_of(&scce, labels, probabilities, NULL), -log(clipped / (2 * clipped + high)), 1e-4);
  sp_tensor_free(probabilities);
  sp_tensor_free(labels);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
  sp_tensor_free(gradient);
}

Test(losses, label_smoothing_follows_keras) {
  float t[] = {1, 0}, p[] = {0.7f, 0.3f};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){1, 2}, t), *y_pred = sp_test_tensor(2, (int64_t[]){1, 2}, p);
  sp_loss cce = loss_named("{\"class_name\": \"CategoricalCrossentropy\", \"config\": {\"label_smoothing\": 0.2}}");
  /* targets become t * 0.8 + 0.2 / 2 = [0.9, 0.1] */
  cr_assert_float_eq(value_of(&cce, y_true, y_pred, NULL), -(0.9 * log(0.7) + 0.1 * log(0.3)), 1e-6);
  sp_loss bce = loss_named("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"label_smoothing\": 0.2}}");
  /* targets become t * 0.8 + 0.1 = [0.9, 0.1]; mean over the two elements */
  double expected = (-(0.9 * log(0.7) + 0.1 * log(0.3)) - (0.1 * log(0.3) + 0.9 * log(0.7))) / 2;
  cr_assert_float_eq(value_of(&bce, y_true, y_pred, NULL), expected, 1e-6);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
}

/* Central differences of the reduced loss against the analytic gradient, element by element. */
static void check_gradient(const char *spec, sp_tensor *y_true, sp_tensor *y_pred) {
  sp_loss loss = loss_named(spec);
  sp_tensor *gradient = sp_tensor_new(SP_FLOAT32, y_pred->rank, y_pred->shape);
  value_of(&loss, y_true, y_pred, gradient);
  float *p = sp_tensor_floats(y_pred);
  for (int64_t i = 0; i < sp_tensor_count(y_pred); i++) {
    float saved = p[i], up = saved + 1e-3f, down = saved - 1e-3f;
    double plus, minus;
    p[i] = up;
    SP_ASSERT_OK(sp_loss_compute(&loss, y_true, y_pred, 1, &plus, NULL));
    p[i] = down;
    SP_ASSERT_OK(sp_loss_compute(&loss, y_true, y_pred, 1, &minus, NULL));
    p[i] = saved;
    double numeric = (plus - minus) / ((double)up - (double)down), analytic = sp_tensor_floats(gradient)[i];
    cr_assert(fabs(numeric - analytic) <= 2e-3 * fmax(fabs(numeric), 1e-2), "%s: element %lld: analytic %.6g, numeric %.6g",
              spec, (long long)i, analytic, numeric);
  }
  sp_tensor_free(gradient);
}

Test(losses, gradients_match_finite_differences) {
  float logits[] = {0.3f, -1.2f, 2.0f, 0.1f, 0.7f, -0.4f, 1.5f, -0.3f}, probabilities[8], regression[8];
  for (int i = 0; i < 8; i++) {
    probabilities[i] = 0.1f + 0.1f * (float)i;
    regression[i] = 0.25f * (float)i - 1.0f;
  }
  float targets[] = {0.5f, -0.25f, 1, 0, 0.3f, 2, -1, 0.1f}, binary[] = {0, 1, 1, 0, 1, 0, 0, 1};
  float one_hot[] = {0, 1, 0, 0, 0, 0, 0, 1}, labels[] = {1, 3};
  sp_tensor *x = sp_test_tensor(2, (int64_t[]){2, 4}, logits), *p = sp_test_tensor(2, (int64_t[]){2, 4}, probabilities);
  sp_tensor *r = sp_test_tensor(2, (int64_t[]){2, 4}, regression), *t = sp_test_tensor(2, (int64_t[]){2, 4}, targets);
  sp_tensor *b = sp_test_tensor(2, (int64_t[]){2, 4}, binary), *h = sp_test_tensor(2, (int64_t[]){2, 4}, one_hot);
  sp_tensor *l = sp_test_tensor(1, (int64_t[]){2}, labels);
  check_gradient("mse", t, r);
  check_gradient("mae", t, r);
  check_gradient("{\"class_name\": \"MeanSquaredError\", \"config\": {\"reduction\": \"sum\"}}", t, r);
  check_gradient("binary_crossentropy", b, p);
  check_gradient("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"from_logits\": true}}", b, x);
  check_gradient("{\"class_name\": \"BinaryCrossentropy\", \"config\": {\"label_smoothing\": 0.1}}", b, p);
  check_gradient("categorical_crossentropy", h, p);
  check_gradient("{\"class_name\": \"CategoricalCrossentropy\", \"config\": {\"from_logits\": true}}", h, x);
  check_gradient("{\"class_name\": \"CategoricalCrossentropy\", \"config\": {\"label_smoothing\": 0.1}}", h, p);
  check_gradient("sparse_categorical_crossentropy", l, p);
  check_gradient("{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"from_logits\": true}}", l, x);
  sp_tensor *tensors[] = {x, p, r, t, b, h, l};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
}

Test(losses, sum_reduction_and_scale) {
  float t[] = {0, 0, 0, 0}, p[] = {1, 2, 3, 4};
  sp_tensor *y_true = sp_test_tensor(2, (int64_t[]){2, 2}, t), *y_pred = sp_test_tensor(2, (int64_t[]){2, 2}, p);
  sp_loss sum = loss_named("{\"class_name\": \"MeanSquaredError\", \"config\": {\"reduction\": \"sum\"}}");
  /* per sample means (1 + 4) / 2 and (9 + 16) / 2, summed */
  cr_assert_float_eq(value_of(&sum, y_true, y_pred, NULL), 2.5 + 12.5, 1e-12);
  sp_loss mean = loss_named("mse");
  sp_tensor *gradient = sp_tensor_new(SP_FLOAT32, 2, (int64_t[]){2, 2});
  double value;
  SP_ASSERT_OK(sp_loss_compute(&mean, y_true, y_pred, 3.0, &value, gradient));
  cr_assert_float_eq(sp_tensor_floats(gradient)[3], 3.0 * 2 * 4 / 4.0, 1e-6);
  sp_tensor_free(gradient);
  sp_tensor_free(y_true);
  sp_tensor_free(y_pred);
}

Test(losses, shapes_are_reconciled_like_keras) {
  float t[] = {1, 2, 3}, p[] = {1, 1, 1};
  sp_tensor *flat = sp_test_tensor(1, (int64_t[]){3}, t), *column = sp_test_tensor(2, (int64_t[]){3, 1}, p);
  sp_loss mse = loss_named("mse");
  /* (3,) against (3, 1): per sample (t - p)^2 → (0 + 1 + 4) / 3 */
  cr_assert_float_eq(value_of(&mse, flat, column, NULL), 5.0 / 3, 1e-9);
  sp_tensor *wrong = sp_test_tensor(2, (int64_t[]){1, 3}, t);
  sp_loss other = loss_named("mse");
  SP_ASSERT_FAILS(sp_loss_resolve(&other, wrong, column), SP_ERROR_MISMATCH, "[1, 3]");
  sp_tensor_free(flat);
  sp_tensor_free(column);
  sp_tensor_free(wrong);
}

Test(losses, crossentropy_is_resolved_from_shapes) {
  float p2[] = {0.2f, 0.8f}, p1[] = {0.4f}, one_hot[] = {0, 1}, label[] = {1};
  sp_tensor *classes = sp_test_tensor(2, (int64_t[]){1, 2}, p2), *single = sp_test_tensor(2, (int64_t[]){1, 1}, p1);
  sp_tensor *dense = sp_test_tensor(2, (int64_t[]){1, 2}, one_hot), *sparse = sp_test_tensor(1, (int64_t[]){1}, label);
  sp_tensor *binary_target = sp_test_tensor(2, (int64_t[]){1, 1}, label);
  sp_loss loss = loss_named("crossentropy");
  SP_ASSERT_OK(sp_loss_resolve(&loss, binary_target, single));
  cr_assert_eq(loss.kind, SP_LOSS_BINARY_CROSSENTROPY);
  loss = loss_named("ce");
  SP_ASSERT_OK(sp_loss_resolve(&loss, sparse, classes));
  cr_assert_eq(loss.kind, SP_LOSS_SPARSE_CATEGORICAL_CROSSENTROPY);
  loss = loss_named("CrossEntropy");
  SP_ASSERT_OK(sp_loss_resolve(&loss, dense, classes));
  cr_assert_eq(loss.kind, SP_LOSS_CATEGORICAL_CROSSENTROPY);
  sp_tensor *tensors[] = {classes, single, dense, sparse, binary_target};
  for (size_t i = 0; i < sizeof tensors / sizeof *tensors; i++) sp_tensor_free(tensors[i]);
}

Test(losses, names_configs_and_errors) {
  cr_assert_str_eq(loss_named("MeanSquaredError").name, "mean_squared_error");
  cr_assert_str_eq(loss_named("MSE").name, "MSE");
  cr_assert_eq(loss_named("{\"module\": \"keras.losses\", \"class_name\": \"function\", \"config\": \"mean_absolute_error\", "
                          "\"registered_name\": \"mean_absolute_error\"}").kind, SP_LOSS_MEAN_ABSOLUTE_ERROR);
  cr_assert_eq(loss_named("{\"class_name\": \"SparseCategoricalCrossentropy\", \"config\": {\"reduction\": \"auto\", "
                          "\"name\": \"sparse_categorical_crossentropy\", \"from_logits\": true}}").from_logits, 1);
  sp_loss loss;
  json_object *unknown = json_object_new_string("hinge_of_doom");
  SP_ASSERT_FAILS(sp_loss_parse(unknown, "compile", &loss), SP_ERROR_UNSUPPORTED, "sparse_categorical_crossentropy");
  json_object_put(unknown);
  json_object *bad;
  const char *text = "{\"class_name\": \"MeanSquaredError\", \"config\": {\"reduction\": \"mean_of_squares\"}}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "test", &bad));
  SP_ASSERT_FAILS(sp_loss_parse(bad, "compile", &loss), SP_ERROR_UNSUPPORTED, "mean_of_squares");
  json_object_put(bad);
}

Test(losses, labels_outside_the_classes_are_refused) {
  float p[] = {0.5f, 0.5f}, label[] = {2};
  sp_tensor *y_pred = sp_test_tensor(2, (int64_t[]){1, 2}, p), *y_true = sp_test_tensor(1, (int64_t[]){1}, label);
  sp_loss loss = loss_named("sparse_categorical_crossentropy");
  double value;
  SP_ASSERT_FAILS(sp_loss_compute(&loss, y_true, y_pred, 1, &value, NULL), SP_ERROR_INVALID_ARGUMENT, "[0, 2)");
  sp_tensor_free(y_pred);
  sp_tensor_free(y_true);
}
