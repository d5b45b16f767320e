/* Tests of BatchNormalization and LayerNormalization: outputs against the Keras formulas
 * computed here in double, moving statistics updated by Keras's rule, training vs inference
 * (and frozen layers), finite-difference gradients for each axis and option, refused configs,
 * and the Keras 2.3.1 hls4ml model with four BatchNormalization layers against the output
 * recorded in PROVENANCE.md. */
#include <criterion/criterion.h>
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradient_check.h"
#include "layer_run.h"
#include "nn/model.h"
#include "savepoint/model.h"
#include "test_support.h"

static sp_layer *configured(const char *class_name, const char *json) {
  sp_layer *layer = sp_layer_new(class_name, json);
  cr_assert_not_null(layer, "%s: %s", class_name, sp_last_error());
  return layer;
}

static void assert_close_double(const float *actual, const double *expected, int count, double tolerance,
                                const char *what) {
  for (int i = 0; i < count; i++)
    cr_assert(fabs(actual[i] - expected[i]) <= tolerance * (1 + fabs(expected[i])), "%s[%d]: %.8g, formula %.8g", what,
              i, actual[i], expected[i]);
}

/* ---- BatchNormalization ---- */

static void set_batch_norm(sp_layer *layer, const float *gamma, const float *beta, const float *mean,
                           const float *variance) {
  sp_test_set_variable(layer, "gamma", gamma);
  sp_test_set_variable(layer, "beta", beta);
  sp_test_set_variable(layer, "moving_mean", mean);
  sp_test_set_variable(layer, "moving_variance", variance);
}

Test(batch_normalization, inference_uses_the_moving_statistics) {
  sp_layer *layer = configured("BatchNormalization", "{\"epsilon\": 0.01}");
  const float x[] = {1, 2, 3, -1, 0, 5};
  sp_tensor *input = sp_test_tensor(2, (int64_t[]){2, 3}, x);
  sp_test_build_layer(layer, 1, &input);
  const float gamma[] = {1, 2, 0.5f}, beta[] = {0, -1, 1}, mean[] = {0.5f, 1, -2}, variance[] = {1, 4, 0.25f};
  set_batch_norm(layer, gamma, beta, mean, variance);
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &input, 0, 0, &run);
  double expected[6];
  for (int i = 0; i < 6; i++) {
    int c = i % 3;
    expected[i] = gamma[c] * (x[i] - mean[c]) / sqrt(variance[c] + 0.01) + beta[c];
  }
  assert_close_double(sp_tensor_floats(run.outputs[0]), expected, 6, 1e-6, "BN inference");
  sp_test_layer_run_free(&run);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

Test(batch_normalization, training_uses_batch_statistics_and_updates_moving_ones) {
  sp_layer *layer = configured("BatchNormalization", "{\"momentum\": 0.9, \"epsilon\": 0.001}");
  const float x[] = {1, 10, 2, 20, 4, 30, 5, 60}; /* (4, 2) */
  sp_tensor *input = sp_test_tensor(2, (int64_t[]){4, 2}, x);
  sp_test_build_layer(layer, 1, &input);
  const float gamma[] = {2, 0.5f}, beta[] = {1, -1}, mean0[] = {0.5f, -1}, variance0[] = {2, 3};
  set_batch_norm(layer, gamma, beta, mean0, variance0);
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &input, 1, 1, &run);
  double expected[8], batch_mean[2] = {0}, batch_variance[2] = {0};
  for (int i = 0; i < 8; i++) batch_mean[i % 2] += x[i] / 4.0;
  for (int i = 0; i < 8; i++) batch_variance[i % 2] += pow(x[i] - batch_mean[i % 2], 2) / 4.0; /* biased */
  for (int i = 0; i < 8; i++) {
    int c = i % 2;
    expected[i] = gamma[c] * (x[i] - batch_mean[c]) / sqrt(batch_variance[c] + 0.001) + beta[c];
  }
  assert_close_double(sp_tensor_floats(run.outputs[0]), expected, 8, 1e-6, "BN training");
  double moving_mean[2], moving_variance[2];
  for (int c = 0; c < 2; c++) {
    moving_mean[c] = mean0[c] * 0.9 + batch_mean[c] * 0.1;
    moving_variance[c] = variance0[c] * 0.9 + batch_variance[c] * 0.1;
  }
  assert_close_double(sp_tensor_floats(sp_test_variable(layer, "moving_mean")->value), moving_mean, 2, 1e-6, "moving_mean");
  assert_close_double(sp_tensor_floats(sp_test_variable(layer, "moving_variance")->value), moving_variance, 2, 1e-6,
                      "moving_variance");
  sp_test_layer_run_free(&run);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

Test(batch_normalization, a_frozen_layer_runs_in_inference_mode_while_training) {
  sp_layer *frozen = configured("BatchNormalization", "{\"trainable\": false}");
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){5, 3}, 2.0, 4);
  sp_test_build_layer(frozen, 1, &input);
  sp_test_set_variable(frozen, "moving_mean", (float[]){0.1f, 0.2f, 0.3f});
  sp_test_set_variable(frozen, "moving_variance", (float[]){1.5f, 2, 2.5f});
  sp_test_layer_run inference = {0}, training = {0};
  sp_test_forward(frozen, 1, &input, 0, 0, &inference);
  sp_test_forward(frozen, 1, &input, 1, 1, &training);
  sp_assert_close(sp_tensor_floats(training.outputs[0]), sp_tensor_floats(inference.outputs[0]), 15, 0, 0,
                  "frozen BN in training = inference");
  cr_assert_eq(sp_tensor_floats(sp_test_variable(frozen, "moving_mean")->value)[1], 0.2f, "moving stats untouched");
  sp_test_layer_run_free(&inference);
  sp_test_layer_run_free(&training);
  sp_gradient_check_options options = {.seed = 2, .skip_input_index = -1};
  sp_check_layer_gradients(frozen, 1, &input, &options); /* input gradient through the affine map */
  sp_tensor_free(input);
  sp_layer_release(frozen);
}

Test(batch_normalization, axis_1_of_rank_4_normalizes_channels_first) {
  sp_layer *layer = configured("BatchNormalization", "{\"axis\": 1, \"epsilon\": 0.001, \"momentum\": 0.5}");
  enum { B = 2, C = 3, H = 2, W = 2 };
  sp_tensor *input = sp_test_random_tensor(4, (int64_t[]){B, C, H, W}, 1.5, 6);
  sp_test_build_layer(layer, 1, &input);
  cr_assert_eq(sp_test_variable(layer, "gamma")->value->shape[0], C);
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &input, 1, 1, &run);
  const float *x = sp_tensor_floats(input);
  double mean[C] = {0}, variance[C] = {0}, expected[B * C * H * W];
  for (int i = 0; i < B * C * H * W; i++) mean[(i / (H * W)) % C] += x[i] / (B * H * W);
  for (int i = 0; i < B * C * H * W; i++) variance[(i / (H * W)) % C] += pow(x[i] - mean[(i / (H * W)) % C], 2) / (B * H * W);
  for (int i = 0; i < B * C * H * W; i++) {
    int c = (i / (H * W)) % C;
    expected[i] = (x[i] - mean[c]) / sqrt(variance[c] + 0.001); /* gamma 1, beta 0 after build */
  }
  memcpy(sp_test_variable(layer, "gamma")->value->data, (float[]){1, 1, 1}, 3 * sizeof(float));
  memset(sp_test_variable(layer, "beta")->value->data, 0, 3 * sizeof(float));
  sp_test_forward(layer, 1, &input, 1, 1, &run);
  assert_close_double(sp_tensor_floats(run.outputs[0]), expected, B * C * H * W, 1e-5, "BN axis 1");
  sp_test_layer_run_free(&run);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

static void check(const char *class_name, const char *config, int rank, const int64_t *shape, uint64_t seed) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *input = sp_test_random_tensor(rank, shape, 1.5, seed);
  sp_gradient_check_options options = {.seed = seed, .skip_input_index = -1, .samples = 40, .step = 3e-3};
  sp_check_layer_gradients(layer, 1, &input, &options);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

Test(batch_normalization, gradients_in_training_mode) {
  check("BatchNormalization", "{}", 2, (int64_t[]){6, 4}, 1);
  check("BatchNormalization", "{\"axis\": -1}", 3, (int64_t[]){3, 4, 2}, 2);
  check("BatchNormalization", "{\"axis\": 1}", 4, (int64_t[]){2, 3, 2, 2}, 3);
  check("BatchNormalization", "{\"axis\": [2]}", 4, (int64_t[]){2, 2, 3, 2}, 4);
  check("BatchNormalization", "{\"center\": false}", 2, (int64_t[]){5, 3}, 5);
  check("BatchNormalization", "{\"scale\": false}", 2, (int64_t[]){5, 3}, 6);
}

Test(batch_normalization, variables_follow_center_and_scale) {
  sp_layer *layer = configured("BatchNormalization", "{\"center\": false}");
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){2, 4}, 1, 1);
  sp_test_build_layer(layer, 1, &input);
  cr_assert_eq(layer->variable_count, 3);
  cr_assert_str_eq(layer->variables[0]->name, "gamma");
  cr_assert_str_eq(layer->variables[1]->name, "moving_mean");
  cr_assert_str_eq(layer->variables[2]->name, "moving_variance");
  cr_assert(layer->variables[0]->trainable && !layer->variables[1]->trainable && !layer->variables[2]->trainable);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

Test(batch_normalization, refuses_the_batch_axis_and_axes_out_of_range) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(1, (int64_t[]){4})));
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("BatchNormalization", "{\"axis\": 0}")), SP_ERROR_UNSUPPORTED,
                  "axis 0 is the batch axis");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("BatchNormalization", "{\"axis\": 3}")), SP_ERROR_MISMATCH,
                  "axis 3 is out of range for inputs of rank 2");
  sp_model_free(model);
}

/* ---- the Keras 2.3.1 hls4ml model: Dense → BatchNormalization → Activation, four times ---- */

static char *read_model_config(hid_t file) {
  hid_t attribute = H5Aopen(file, "model_config", H5P_DEFAULT), type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  char *text = NULL;
  cr_assert(attribute >= 0 && H5Aread(attribute, type, &text) >= 0 && text, "model_config attribute");
  char *copy = strdup(text);
  H5free_memory(text);
  H5Tclose(type);
  H5Aclose(attribute);
  return copy;
}

Test(fixture, keras2_hls4ml_batch_norm_model_predicts_the_recorded_output) {
  char *path = sp_test_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_3layer_batch_norm.h5");
  hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  cr_assert(file >= 0, "open %s", path);
  char *config = read_model_config(file);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config(config, strlen(config), &model));
  sp_variable **variables;
  int count = sp_model_collect_variables(model, &variables, 0);
  cr_assert_eq(count, 4 * 2 + 4 * 4, "4 Dense (kernel, bias) and 4 BatchNormalization (4 each)");
  for (int v = 0; v < count; v++) { /* Keras 2 layout: model_weights/<layer>/<layer>/<name>:0 */
    char dataset_path[256];
    snprintf(dataset_path, sizeof dataset_path, "model_weights/%s/%s/%s:0", variables[v]->layer->name,
             variables[v]->layer->name, variables[v]->name);
    hid_t dataset = H5Dopen2(file, dataset_path, H5P_DEFAULT);
    cr_assert(dataset >= 0, "%s", dataset_path);
    hid_t space = H5Dget_space(dataset);
    cr_assert_eq(H5Sget_simple_extent_npoints(space), sp_tensor_count(variables[v]->value), "%s", dataset_path);
    cr_assert(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, variables[v]->value->data) >= 0);
    variables[v]->initialized = 1;
    H5Sclose(space);
    H5Dclose(dataset);
  }
  float input[3 * 16]; /* gen(16): zeros, ones, linspace(-1, 1, 16) */
  for (int i = 0; i < 16; i++) {
    input[i] = 0;
    input[16 + i] = 1;
    input[32 + i] = (float)(-1 + 2.0 * i / 15);
  }
  sp_tensor *x = sp_test_tensor(2, (int64_t[]){3, 16}, input);
  const float expected[] = {0.008519157f, 0.02836346f, 0.4440174f, 0.4550098f, 0.06409007f,
                            0.3201832f, 0.6036791f, 0.001737321f, 0.02492054f, 0.04947995f,
                            0.9853722f, 0.0007747803f, 0.0007560787f, 0.002246623f, 0.01085019f};
  sp_test_expect_prediction(model, x, expected, 15, 1e-5, 1e-8, "hls4ml BN model (Keras 2.3.1)");
  sp_tensor_free(x);
  free(variables);
  sp_model_free(model);
  free(config);
  H5Fclose(file);
  free(path);
}

/* ---- LayerNormalization ---- */

/* Normalizes groups of `size` consecutive elements (the trailing axes) by the Keras formula. */
static void layer_norm_reference(const float *x, int groups, int size, const float *gamma, const float *beta,
                                 double epsilon, int rms, double *y) {
  for (int g = 0; g < groups; g++) {
    double mean = 0, variance = 0;
    for (int i = 0; i < size; i++) mean += x[g * size + i] / (double)size;
    for (int i = 0; i < size; i++) variance += pow(x[g * size + i] - mean, 2) / size;
    for (int i = 0; i < size; i++) {
      double value = (x[g * size + i] - (rms ? 0 : mean)) / sqrt(variance + epsilon);
      y[g * size + i] = value * (gamma ? gamma[i] : 1) + (beta ? beta[i] : 0);
    }
  }
}

Test(layer_normalization, normalizes_each_sample_over_one_or_two_trailing_axes) {
  const char *configs[] = {"{\"epsilon\": 0.01}", "{\"axis\": [1, 2], \"epsilon\": 0.01}",
                           "{\"axis\": [-2, -1], \"epsilon\": 0.01, \"rms_scaling\": true}"};
  for (int k = 0; k < 3; k++) {
    sp_layer *layer = configured("LayerNormalization", configs[k]);
    sp_tensor *input = sp_test_random_tensor(3, (int64_t[]){2, 3, 4}, 2.0, 10 + k);
    sp_test_build_layer(layer, 1, &input);
    int size = k == 0 ? 4 : 12;
    float gamma[12], beta[12];
    for (int i = 0; i < size; i++) {
      gamma[i] = 0.5f + 0.1f * i;
      beta[i] = 0.2f * i - 1;
    }
    sp_test_set_variable(layer, "gamma", gamma);
    if (k < 2) sp_test_set_variable(layer, "beta", beta);
    else cr_assert_eq(layer->variable_count, 1, "rms_scaling has gamma only");
    sp_test_layer_run run = {0};
    sp_test_forward(layer, 1, &input, 0, 0, &run);
    double expected[24];
    layer_norm_reference(sp_tensor_floats(input), 24 / size, size, gamma, k < 2 ? beta : NULL, 0.01, k == 2, expected);
    assert_close_double(sp_tensor_floats(run.outputs[0]), expected, 24, 1e-5, configs[k]);
    sp_test_layer_run_free(&run);
    sp_tensor_free(input);
    sp_layer_release(layer);
  }
}

Test(layer_normalization, non_contiguous_axes_group_the_rest) {
  /* axis [1, 3] of (2, 2, 3, 2): groups are (sample, axis-2 index), parameters span axes 1 and 3 */
  sp_layer *layer = configured("LayerNormalization", "{\"axis\": [1, 3], \"epsilon\": 0.001}");
  sp_tensor *input = sp_test_random_tensor(4, (int64_t[]){2, 2, 3, 2}, 1.0, 21);
  sp_test_build_layer(layer, 1, &input);
  sp_variable *gamma = sp_test_variable(layer, "gamma");
  cr_assert(gamma->value->rank == 2 && gamma->value->shape[0] == 2 && gamma->value->shape[1] == 2);
  sp_test_set_variable(layer, "gamma", (float[]){1, 2, 3, 4});
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 1, &input, 0, 0, &run);
  const float *x = sp_tensor_floats(input), *y = sp_tensor_floats(run.outputs[0]);
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 3; k++) {
      double mean = 0, variance = 0;
      for (int j = 0; j < 2; j++)
        for (int l = 0; l < 2; l++) mean += x[((b * 2 + j) * 3 + k) * 2 + l] / 4;
      for (int j = 0; j < 2; j++)
        for (int l = 0; l < 2; l++) variance += pow(x[((b * 2 + j) * 3 + k) * 2 + l] - mean, 2) / 4;
      for (int j = 0; j < 2; j++)
        for (int l = 0; l < 2; l++) {
          int e = ((b * 2 + j) * 3 + k) * 2 + l;
          double want = (x[e] - mean) / sqrt(variance + 0.001) * (1 + j * 2 + l);
          cr_assert(fabs(y[e] - want) < 1e-5 * (1 + fabs(want)), "element %d: %g vs %g", e, y[e], want);
        }
    }
  sp_test_layer_run_free(&run);
  sp_tensor_free(input);
  sp_layer_release(layer);
}

Test(layer_normalization, gradients_over_one_and_two_axes) {
  check("LayerNormalization", "{}", 2, (int64_t[]){3, 5}, 31);
  check("LayerNormalization", "{\"axis\": -1}", 3, (int64_t[]){2, 3, 4}, 32);
  check("LayerNormalization", "{\"axis\": [1, 2]}", 3, (int64_t[]){2, 3, 4}, 33);
  check("LayerNormalization", "{\"axis\": [1, 3]}", 4, (int64_t[]){2, 2, 3, 2}, 34);
  check("LayerNormalization", "{\"axis\": 1}", 3, (int64_t[]){2, 4, 3}, 35);
  check("LayerNormalization", "{\"center\": false, \"scale\": false}", 2, (int64_t[]){3, 6}, 36);
  check("LayerNormalization", "{\"rms_scaling\": true}", 3, (int64_t[]){2, 3, 5}, 37);
}

Test(layer_normalization, refuses_bad_axes) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){3, 4})));
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("LayerNormalization", "{\"axis\": [1, -2], \"name\": \"ln\"}")),
                  SP_ERROR_FORMAT, "layer 'ln' (LayerNormalization): axis -2 is listed twice");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("LayerNormalization", "{\"axis\": 5}")), SP_ERROR_MISMATCH,
                  "axis 5 is out of range for inputs of rank 3");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("LayerNormalization", "{\"axis\": \"last\"}")), SP_ERROR_FORMAT,
                  "'axis'");
  SP_ASSERT_OK(sp_model_add(model, sp_layer_normalization()));
  SP_ASSERT_OK(sp_model_add(model, sp_batch_normalization()));
  cr_assert_eq(sp_model_parameter_count(model, 0), 4 + 4 + 4 * 4);
  cr_assert_eq(sp_model_parameter_count(model, 1), 4 + 4 + 2 * 4);
  sp_model_free(model);
}

Test(batch_normalization, refuses_what_it_cannot_do) {
  sp_test_refused("BatchNormalization", "{\"axis\": [1, 2], \"name\": \"bn\"}",
                  "layer 'bn' (BatchNormalization): 'axis' names 2 axes");
  sp_test_refused("BatchNormalization", "{\"renorm\": true}", "'renorm' is not supported");
  sp_test_refused("BatchNormalization", "{\"mode\": 2}", "'mode' is not supported");
  sp_test_refused("BatchNormalization", "{\"momentum\": \"fast\"}", "'momentum' must be a number");
}
