/* Tests of the convolution, pooling and padding layers: output shapes against TensorFlow's
 * output-size formulas (valid: ceil((in - (k-1)·d) / s), same and causal: ceil(in / s)), forward
 * values on small cases computed by hand, gradients against finite differences for every layer
 * and option, config errors, Keras 1 spellings, the C builders, and the hls4ml Conv1D/Conv2D
 * fixture configs against the shapes and counts of PROVENANCE.md Appendix C. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "formats/h5io.h"
#include "gradient_check.h"
#include "nn/config.h"
#include "nn/model.h"
#include "savepoint/model.h"
#include "test_support.h"

static sp_layer *configured(const char *class_name, const char *json) {
  sp_layer *layer = sp_layer_new(class_name, json);
  cr_assert_not_null(layer, "%s %s: %s", class_name, json, sp_last_error());
  return layer;
}

static void build(sp_layer *layer, const sp_shape *input) {
  if (layer->built) return;
  if (layer->class->build) SP_ASSERT_OK(layer->class->build(layer, 1, input));
  layer->built = 1;
}

static sp_status output_shape(sp_layer *layer, sp_shape input, sp_shape *output) {
  int count;
  return layer->class->compute_shapes(layer, 1, &input, &count, output);
}

/* Builds the layer, loads values into its variables in creation order, runs an inference forward. */
static sp_tensor *forward(sp_layer *layer, sp_tensor *input, const float *const *variable_values) {
  sp_shape shape = sp_shape_of(input), out;
  build(layer, &shape);
  for (int v = 0; variable_values && v < layer->variable_count; v++)
    memcpy(layer->variables[v]->value->data, variable_values[v], layer->variables[v]->value->size);
  SP_ASSERT_OK(output_shape(layer, shape, &out));
  sp_tensor *y = sp_tensor_new(SP_FLOAT32, out.rank, out.dims);
  sp_scratch scratch = {0};
  sp_call call = {.input_count = 1, .inputs = &input, .output_count = 1, .outputs = &y, .scratch = &scratch};
  SP_ASSERT_OK(layer->class->forward(layer, &call));
  free(scratch.data);
  return y;
}

static void expect_forward(const char *class_name, const char *config, int rank, const int64_t *shape,
                           const float *input_values, const float *const *variables, int expected_rank,
                           const int64_t *expected_shape, const float *expected) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *x = sp_tensor_wrap(SP_FLOAT32, rank, shape, (void *)input_values);
  sp_tensor *y = forward(layer, x, variables);
  cr_assert_eq(y->rank, expected_rank, "%s %s: rank %d", class_name, config, y->rank);
  for (int d = 0; d < expected_rank; d++)
    cr_assert_eq(y->shape[d], expected_shape[d], "%s %s: dimension %d is %lld, expected %lld", class_name, config, d,
                 (long long)y->shape[d], (long long)expected_shape[d]);
  sp_assert_close(sp_tensor_floats(y), expected, (size_t)sp_tensor_count(y), 1e-6, 1e-6, config);
  sp_tensor_free(y);
  sp_tensor_free(x);
  sp_layer_release(layer);
}

static char *read_text(const char *path) {
  FILE *file = fopen(path, "rb");
  cr_assert_not_null(file, "cannot open %s", path);
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  rewind(file);
  char *text = calloc(1, (size_t)size + 1);
  cr_assert_eq(fread(text, 1, (size_t)size, file), (size_t)size);
  fclose(file);
  return text;
}

/* ---- output shapes against TensorFlow's formulas ---- */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t tf_output_size(const char *padding, int64_t in, int64_t k, int64_t s, int64_t d) {
  if (strcmp(padding, "valid") == 0) return ceil_div(in - (k - 1) * d, s); /* <= 0: no output */
  return ceil_div(in, s);
}

Test(shapes, conv2d_matches_tf_formulas_for_every_padding_stride_and_dilation) {
  const char *paddings[] = {"valid", "same"};
  const int64_t moves[][4] = {{1, 1, 1, 1}, {2, 2, 1, 1}, {3, 1, 1, 1}, {1, 2, 1, 1}, {1, 1, 2, 2}, {1, 1, 3, 1}};
  for (int p = 0; p < 2; p++)
    for (size_t m = 0; m < sizeof moves / sizeof *moves; m++)
      for (int64_t kh = 1; kh <= 4; kh++)
        for (int64_t kw = 1; kw <= 3; kw++) {
          char config[256];
          snprintf(config, sizeof config,
                   "{\"name\": \"c\", \"filters\": 3, \"kernel_size\": [%lld, %lld], \"strides\": [%lld, %lld], "
                   "\"padding\": \"%s\", \"dilation_rate\": [%lld, %lld]}",
                   (long long)kh, (long long)kw, (long long)moves[m][0], (long long)moves[m][1], paddings[p],
                   (long long)moves[m][2], (long long)moves[m][3]);
          sp_layer *layer = configured("Conv2D", config);
          for (int64_t height = 1; height <= 9; height++) {
            int64_t width = 10 - height;
            int64_t out_h = tf_output_size(paddings[p], height, kh, moves[m][0], moves[m][2]);
            int64_t out_w = tf_output_size(paddings[p], width, kw, moves[m][1], moves[m][3]);
            sp_shape out;
            sp_status status = output_shape(layer, (sp_shape){.rank = 4, .dims = {-1, height, width, 2}}, &out);
            if (out_h <= 0 || out_w <= 0) {
              cr_assert_eq(status, SP_ERROR_MISMATCH, "%s on %lldx%lld should not fit", config, (long long)height,
                           (long long)width);
              cr_assert(strstr(sp_last_error(), "layer 'c' (Conv2D): 'kernel_size'"), "%s", sp_last_error());
              continue;
            }
            SP_ASSERT_OK(status);
            cr_assert(out.rank == 4 && out.dims[0] == -1 && out.dims[1] == out_h && out.dims[2] == out_w && out.dims[3] == 3,
                      "%s on %lldx%lld: got (%lld, %lld), TF gives (%lld, %lld)", config, (long long)height,
                      (long long)width, (long long)out.dims[1], (long long)out.dims[2], (long long)out_h, (long long)out_w);
          }
          sp_layer_release(layer);
        }
}

Test(shapes, conv1d_and_depthwise_match_tf_formulas_including_causal) {
  const char *paddings[] = {"valid", "same", "causal"};
  for (int p = 0; p < 3; p++)
    for (int64_t k = 1; k <= 4; k++)
      for (int64_t s = 1; s <= 3; s++)
        for (int64_t d = 1; d <= (s == 1 ? 3 : 1); d++) {
          char config[200];
          snprintf(config, sizeof config, "{\"filters\": 5, \"kernel_size\": %lld, \"strides\": %lld, \"padding\": \"%s\", "
                   "\"dilation_rate\": %lld}", (long long)k, (long long)s, paddings[p], (long long)d);
          sp_layer *layer = configured("Conv1D", config);
          for (int64_t steps = 1; steps <= 12; steps++) {
            int64_t expected = tf_output_size(p == 0 ? "valid" : "same", steps, k, s, d);
            sp_shape out;
            sp_status status = output_shape(layer, (sp_shape){.rank = 3, .dims = {4, steps, 3}}, &out);
            if (expected <= 0) {
              cr_assert_eq(status, SP_ERROR_MISMATCH, "%s on %lld steps", config, (long long)steps);
              continue;
            }
            SP_ASSERT_OK(status);
            cr_assert(out.rank == 3 && out.dims[0] == 4 && out.dims[1] == expected && out.dims[2] == 5,
                      "%s on %lld steps: %lld, TF %lld", config, (long long)steps, (long long)out.dims[1], (long long)expected);
          }
          sp_layer_release(layer);
        }
  sp_layer *depthwise = configured("DepthwiseConv2D", "{\"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", "
                                                      "\"depth_multiplier\": 3}");
  sp_shape out;
  SP_ASSERT_OK(output_shape(depthwise, (sp_shape){.rank = 4, .dims = {-1, 7, 8, 5}}, &out));
  cr_assert(out.dims[1] == 4 && out.dims[2] == 4 && out.dims[3] == 15, "depthwise (%lld, %lld, %lld)",
            (long long)out.dims[1], (long long)out.dims[2], (long long)out.dims[3]);
  SP_ASSERT_OK(output_shape(depthwise, (sp_shape){.rank = 4, .dims = {-1, -1, 8, 5}}, &out));
  cr_assert(out.dims[1] == -1 && out.dims[2] == 4, "unknown extents stay unknown");
  sp_layer_release(depthwise);
}

Test(shapes, pooling_matches_tf_formulas) {
  const char *classes[] = {"MaxPooling2D", "AveragePooling2D"}, *paddings[] = {"valid", "same"};
  for (int c = 0; c < 2; c++)
    for (int p = 0; p < 2; p++)
      for (int64_t k = 1; k <= 3; k++)
        for (int64_t s = 0; s <= 3; s++) { /* 0: strides null, which means pool_size */
          char config[160];
          if (s) snprintf(config, sizeof config, "{\"pool_size\": [%lld, 2], \"strides\": [%lld, 1], \"padding\": \"%s\"}",
                          (long long)k, (long long)s, paddings[p]);
          else snprintf(config, sizeof config, "{\"pool_size\": [%lld, 2], \"strides\": null, \"padding\": \"%s\"}",
                        (long long)k, paddings[p]);
          sp_layer *layer = configured(classes[c], config);
          for (int64_t height = 1; height <= 8; height++) {
            int64_t out_h = tf_output_size(paddings[p], height, k, s ? s : k, 1);
            int64_t out_w = tf_output_size(paddings[p], 5, 2, s ? 1 : 2, 1);
            sp_shape out;
            sp_status status = output_shape(layer, (sp_shape){.rank = 4, .dims = {2, height, 5, 3}}, &out);
            if (out_h <= 0) {
              cr_assert_eq(status, SP_ERROR_MISMATCH);
              cr_assert(strstr(sp_last_error(), "'pool_size'"), "%s", sp_last_error());
              continue;
            }
            SP_ASSERT_OK(status);
            cr_assert(out.dims[1] == out_h && out.dims[2] == out_w && out.dims[3] == 3, "%s %s on %lld: (%lld, %lld)",
                      classes[c], config, (long long)height, (long long)out.dims[1], (long long)out.dims[2]);
          }
          sp_layer_release(layer);
        }
}

Test(shapes, global_pooling_keepdims_and_zero_padding) {
  struct {
    const char *class_name, *config;
    sp_shape input, expected;
  } cases[] = {
      {"GlobalAveragePooling2D", "{}", {4, {-1, 5, 6, 3}}, {2, {-1, 3}}},
      {"GlobalMaxPooling2D", "{\"keepdims\": true}", {4, {-1, 5, 6, 3}}, {4, {-1, 1, 1, 3}}},
      {"GlobalAveragePooling1D", "{\"keepdims\": true}", {3, {2, 7, 4}}, {3, {2, 1, 4}}},
      {"GlobalMaxPooling1D", "{}", {3, {2, 7, 4}}, {2, {2, 4}}},
      {"ZeroPadding2D", "{}", {4, {-1, 5, 6, 3}}, {4, {-1, 7, 8, 3}}},
      {"ZeroPadding2D", "{\"padding\": 2}", {4, {-1, 5, 6, 3}}, {4, {-1, 9, 10, 3}}},
      {"ZeroPadding2D", "{\"padding\": [1, 3]}", {4, {-1, 5, 6, 3}}, {4, {-1, 7, 12, 3}}},
      {"ZeroPadding2D", "{\"padding\": [[1, 0], [0, 2]]}", {4, {-1, 5, -1, 3}}, {4, {-1, 6, -1, 3}}},
      {"ZeroPadding2D", "{\"padding\": [1, 2, 3, 4]}", {4, {-1, 5, 6, 3}}, {4, {-1, 8, 13, 3}}}, /* Keras 1 */
      {"ZeroPadding1D", "{\"padding\": [2, 1]}", {3, {-1, 5, 3}}, {3, {-1, 8, 3}}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    sp_layer *layer = configured(cases[i].class_name, cases[i].config);
    sp_shape out;
    SP_ASSERT_OK(output_shape(layer, cases[i].input, &out));
    cr_assert_eq(out.rank, cases[i].expected.rank, "%s %s", cases[i].class_name, cases[i].config);
    for (int d = 0; d < out.rank; d++)
      cr_assert_eq(out.dims[d], cases[i].expected.dims[d], "%s %s dimension %d", cases[i].class_name, cases[i].config, d);
    sp_layer_release(layer);
  }
}

/* ---- forward values computed by hand ---- */

static const float one_to_nine[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

Test(forward, conv2d_same_even_kernel_pads_bottom_and_right) {
  /* 2x2 ones over 1..9 (3x3): TF 'same' pads 1 row below and 1 column right, none above or left. */
  const float kernel[] = {1, 1, 1, 1};
  const float expected[] = {1 + 2 + 4 + 5, 2 + 3 + 5 + 6, 3 + 6, 4 + 5 + 7 + 8, 5 + 6 + 8 + 9, 6 + 9, 7 + 8, 8 + 9, 9};
  expect_forward("Conv2D", "{\"filters\": 1, \"kernel_size\": 2, \"padding\": \"same\", \"use_bias\": false}", 4,
                 (int64_t[]){1, 3, 3, 1}, one_to_nine, (const float *const[]){kernel}, 4, (int64_t[]){1, 3, 3, 1},
                 expected);
}

Test(forward, conv2d_kernel_layout_is_height_width_in_out) {
  /* Channel 0 = 1..9, channel 1 = 1. Kernel (2, 2, 2, 1): channel 0 weighs the window's corners
   * 1, 10, 100, 1000 (row-major), channel 1 has -1 at the top-left only; bias 0.5. */
  float x[18];
  for (int i = 0; i < 9; i++) {
    x[2 * i] = one_to_nine[i];
    x[2 * i + 1] = 1;
  }
  const float kernel[] = {1, -1, 10, 0, 100, 0, 1000, 0}, bias[] = {0.5f};
  const float expected[] = {1 + 20 + 400 + 5000 - 0.5f, 2 + 30 + 500 + 6000 - 0.5f, 4 + 50 + 700 + 8000 - 0.5f,
                            5 + 60 + 800 + 9000 - 0.5f};
  expect_forward("Conv2D", "{\"filters\": 1, \"kernel_size\": [2, 2]}", 4, (int64_t[]){1, 3, 3, 2}, x,
                 (const float *const[]){kernel, bias}, 4, (int64_t[]){1, 2, 2, 1}, expected);
  const float strided[] = {expected[0]};
  expect_forward("Conv2D", "{\"filters\": 1, \"kernel_size\": [2, 2], \"strides\": 2}", 4, (int64_t[]){1, 3, 3, 2}, x,
                 (const float *const[]){kernel, bias}, 4, (int64_t[]){1, 1, 1, 1}, strided);
  /* relu after a bias of -6000 clips the first position only */
  const float negative_bias[] = {-6000}, relu[] = {0, 531, 2753, 3864};
  expect_forward("Conv2D", "{\"filters\": 1, \"kernel_size\": [2, 2], \"activation\": \"relu\"}", 4,
                 (int64_t[]){1, 3, 3, 2}, x, (const float *const[]){kernel, negative_bias}, 4, (int64_t[]){1, 2, 2, 1},
                 relu);
}

Test(forward, conv1d_dilation_causal_and_strided_same) {
  const float x[] = {1, 2, 3, 4, 5};
  const float taps2[] = {1, 10}, taps3[] = {1, 10, 100};
  /* causal, dilation 2: y[t] = x[t-2] + 10 x[t] with x[<0] = 0 */
  expect_forward("Conv1D", "{\"filters\": 1, \"kernel_size\": 2, \"dilation_rate\": 2, \"padding\": \"causal\", "
                           "\"use_bias\": false}",
                 3, (int64_t[]){1, 5, 1}, x, (const float *const[]){taps2}, 3, (int64_t[]){1, 5, 1},
                 (const float[]){10, 20, 31, 42, 53});
  /* valid, dilation 2: y[t] = x[t] + 10 x[t+2] */
  expect_forward("Conv1D", "{\"filters\": 1, \"kernel_size\": 2, \"dilation_rate\": 2, \"use_bias\": false}", 3,
                 (int64_t[]){1, 5, 1}, x, (const float *const[]){taps2}, 3, (int64_t[]){1, 3, 1},
                 (const float[]){31, 42, 53});
  /* same, kernel 3, stride 2 on 5 steps: 3 outputs, 2 padding split 1 before / 1 after */
  expect_forward("Conv1D", "{\"filters\": 1, \"kernel_size\": 3, \"strides\": 2, \"padding\": \"same\", \"use_bias\": false}",
                 3, (int64_t[]){1, 5, 1}, x, (const float *const[]){taps3}, 3, (int64_t[]){1, 3, 1},
                 (const float[]){10 + 200, 2 + 30 + 400, 4 + 50});
}

Test(forward, depthwise_conv2d_with_depth_multiplier_2) {
  /* (1, 2, 2, 2): channel 0 = 1,2,3,4 and channel 1 = 10,20,30,40 over the 2x2 positions. */
  const float x[] = {1, 10, 2, 20, 3, 30, 4, 40};
  /* Kernel (2, 2, 2, 2) index ((kh·2 + kw)·2 + c)·2 + m: (c0,m0) ones; (c0,m1) top-left only;
   * (c1,m0) ones; (c1,m1) bottom-right only. Bias 0.25 per output channel c·2 + m. */
  const float kernel[] = {1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 1};
  const float bias[] = {0.25f, 0.25f, 0.25f, 0.25f};
  expect_forward("DepthwiseConv2D", "{\"kernel_size\": 2, \"depth_multiplier\": 2}", 4, (int64_t[]){1, 2, 2, 2}, x,
                 (const float *const[]){kernel, bias}, 4, (int64_t[]){1, 1, 1, 4},
                 (const float[]){10.25f, 1.25f, 100.25f, 40.25f});
}

Test(forward, max_pooling_ignores_padding_and_average_divides_by_real_elements) {
  const float negatives[] = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  /* pool 2 stride 2 'same' on 3x3: windows {1,2,4,5} {3,6} {7,8} {9}; a zero pad would win the max */
  expect_forward("MaxPooling2D", "{\"pool_size\": 2, \"padding\": \"same\"}", 4, (int64_t[]){1, 3, 3, 1}, negatives, NULL,
                 4, (int64_t[]){1, 2, 2, 1}, (const float[]){-1, -3, -7, -9});
  expect_forward("AveragePooling2D", "{\"pool_size\": 2, \"padding\": \"same\"}", 4, (int64_t[]){1, 3, 3, 1},
                 one_to_nine, NULL, 4, (int64_t[]){1, 2, 2, 1}, (const float[]){3, 4.5f, 7.5f, 9});
  expect_forward("MaxPooling2D", "{\"pool_size\": [2, 3], \"strides\": 1}", 4, (int64_t[]){1, 3, 3, 1}, one_to_nine, NULL,
                 4, (int64_t[]){1, 2, 1, 1}, (const float[]){6, 9});
  /* pool 3 stride 1 'same' on 4 steps: padding 1 before, 1 after */
  expect_forward("AveragePooling1D", "{\"pool_size\": 3, \"strides\": 1, \"padding\": \"same\"}", 3,
                 (int64_t[]){1, 4, 1}, (const float[]){1, 2, 3, 4}, NULL, 3, (int64_t[]){1, 4, 1},
                 (const float[]){1.5f, 2, 3, 3.5f});
  expect_forward("MaxPooling1D", "{}", 3, (int64_t[]){1, 5, 1}, (const float[]){3, 1, 4, 1, 5}, NULL, 3,
                 (int64_t[]){1, 2, 1}, (const float[]){3, 4});
}

Test(forward, global_pools_and_zero_padding) {
  /* (2, 2, 2, 1) then (1, 3, 2) */
  const float x[] = {1, 5, -2, 4, 0, -1, -3, -8};
  expect_forward("GlobalAveragePooling2D", "{}", 4, (int64_t[]){2, 2, 2, 1}, x, NULL, 2, (int64_t[]){2, 1},
                 (const float[]){2, -3});
  expect_forward("GlobalMaxPooling2D", "{\"keepdims\": true}", 4, (int64_t[]){2, 2, 2, 1}, x, NULL, 4,
                 (int64_t[]){2, 1, 1, 1}, (const float[]){5, 0});
  expect_forward("GlobalMaxPooling1D", "{}", 3, (int64_t[]){1, 3, 2}, (const float[]){1, -1, 7, -4, 2, -2}, NULL, 2,
                 (int64_t[]){1, 2}, (const float[]){7, -1});
  expect_forward("GlobalAveragePooling1D", "{\"keepdims\": true}", 3, (int64_t[]){1, 3, 2},
                 (const float[]){1, -1, 7, -4, 2, -1}, NULL, 3, (int64_t[]){1, 1, 2}, (const float[]){10.0f / 3, -2});
  expect_forward("ZeroPadding2D", "{\"padding\": [[1, 0], [0, 2]]}", 4, (int64_t[]){1, 2, 2, 1},
                 (const float[]){1, 2, 3, 4}, NULL, 4, (int64_t[]){1, 3, 4, 1},
                 (const float[]){0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0});
  expect_forward("ZeroPadding1D", "{\"padding\": [0, 1]}", 3, (int64_t[]){1, 2, 2}, (const float[]){1, 2, 3, 4}, NULL, 3,
                 (int64_t[]){1, 3, 2}, (const float[]){1, 2, 3, 4, 0, 0});
}

Test(backward, max_gradient_goes_to_the_first_of_tied_maxima) {
  const char *classes[] = {"MaxPooling2D", "GlobalMaxPooling2D"};
  for (int c = 0; c < 2; c++) {
    sp_layer *layer = configured(classes[c], c == 0 ? "{\"pool_size\": 2}" : "{\"keepdims\": true}");
    float values[] = {5, 2, 5, 5};
    sp_tensor *x = sp_tensor_wrap(SP_FLOAT32, 4, (int64_t[]){1, 2, 2, 1}, values);
    sp_tensor *y = forward(layer, x, NULL);
    float upstream = 3;
    sp_tensor *dy = sp_tensor_wrap(SP_FLOAT32, 4, (int64_t[]){1, 1, 1, 1}, &upstream);
    sp_tensor *dx = sp_tensor_new(SP_FLOAT32, 4, (int64_t[]){1, 2, 2, 1});
    sp_scratch scratch = {0};
    sp_call call = {.training = 1, .input_count = 1, .inputs = &x, .output_count = 1, .outputs = &y,
                    .output_gradients = &dy, .input_gradients = &dx, .scratch = &scratch};
    SP_ASSERT_OK(layer->class->backward(layer, &call));
    sp_assert_close(sp_tensor_floats(dx), (const float[]){3, 0, 0, 0}, 4, 0, 0, classes[c]);
    free(scratch.data);
    sp_tensor_free(dx);
    sp_tensor_free(dy);
    sp_tensor_free(y);
    sp_tensor_free(x);
    sp_layer_release(layer);
  }
}

/* ---- gradients against finite differences ---- */

static void check_gradients(const char *class_name, const char *config, int rank, const int64_t *shape, uint64_t seed) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *x = sp_test_random_tensor(rank, shape, 1.0, seed);
  sp_check_layer_gradients(layer, 1, &x, &(sp_gradient_check_options){.seed = seed, .skip_input_index = -1});
  sp_tensor_free(x);
  sp_layer_release(layer);
}

/* Max pooling is differentiable away from ties: inputs are a shuffled ladder 0.05 apart, so no
 * finite-difference step (1e-3) changes which element is the largest. */
static void check_max_gradients(const char *class_name, const char *config, int rank, const int64_t *shape, uint64_t seed) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *x = sp_tensor_new(SP_FLOAT32, rank, shape);
  int64_t count = sp_tensor_count(x);
  float *values = sp_tensor_floats(x);
  sp_rng rng;
  sp_rng_seed(&rng, seed);
  for (int64_t i = 0; i < count; i++) values[i] = (float)(0.05 * (double)(i - count / 2));
  for (int64_t i = count - 1; i > 0; i--) {
    int64_t j = (int64_t)sp_rng_below(&rng, (uint64_t)i + 1);
    float swap = values[i];
    values[i] = values[j];
    values[j] = swap;
  }
  sp_check_layer_gradients(layer, 1, &x, &(sp_gradient_check_options){.seed = seed, .samples = 60, .skip_input_index = -1});
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(gradients, conv2d_every_padding_stride_and_dilation) {
  const char *paddings[] = {"valid", "same"};
  const char *moves[] = {"\"strides\": 1", "\"strides\": 2", "\"strides\": [2, 1]", "\"dilation_rate\": 2",
                         "\"dilation_rate\": [1, 2]"};
  const char *kernels[] = {"[2, 3]", "3", "1"};
  uint64_t seed = 100;
  for (int p = 0; p < 2; p++)
    for (size_t m = 0; m < sizeof moves / sizeof *moves; m++)
      for (size_t k = 0; k < sizeof kernels / sizeof *kernels; k++) {
        char config[200];
        snprintf(config, sizeof config, "{\"filters\": 4, \"kernel_size\": %s, \"padding\": \"%s\", %s, \"activation\": \"%s\", "
                 "\"use_bias\": %s}", kernels[k], paddings[p], moves[m], k == 0 ? "tanh" : "linear", m % 2 ? "false" : "true");
        check_gradients("Conv2D", config, 4, (int64_t[]){2, 7, 6, 3}, seed++);
      }
}

Test(gradients, conv2d_batch_larger_than_one_im2col_chunk) {
  /* One sample's columns (200·200 positions × 3·3·12) exceed conv.c's 2^22-float chunk, so the two
   * samples go through forward and backward one chunk at a time. */
  sp_layer *layer = configured("Conv2D", "{\"filters\": 4, \"kernel_size\": 3, \"padding\": \"same\"}");
  sp_tensor *x = sp_test_random_tensor(4, (int64_t[]){2, 200, 200, 12}, 1.0, 77);
  sp_check_layer_gradients(layer, 1, &x, &(sp_gradient_check_options){.seed = 77, .samples = 12, .skip_input_index = -1});
  sp_tensor_free(x);
  sp_layer_release(layer);
}

Test(gradients, conv1d_valid_same_causal_strided_dilated) {
  const char *paddings[] = {"valid", "same", "causal"};
  const char *moves[] = {"\"strides\": 1", "\"strides\": 2", "\"dilation_rate\": 2"};
  uint64_t seed = 200;
  for (int p = 0; p < 3; p++)
    for (int m = 0; m < 3; m++) {
      char config[160];
      snprintf(config, sizeof config, "{\"filters\": 3, \"kernel_size\": 3, \"padding\": \"%s\", %s, \"activation\": \"sigmoid\"}",
               paddings[p], moves[m]);
      check_gradients("Conv1D", config, 3, (int64_t[]){3, 9, 2}, seed++);
    }
}

Test(gradients, depthwise_conv2d_multipliers_paddings_strides_dilation) {
  const char *paddings[] = {"valid", "same"};
  const char *moves[] = {"\"strides\": 1", "\"strides\": 2", "\"dilation_rate\": 2"};
  uint64_t seed = 300;
  for (int multiplier = 1; multiplier <= 2; multiplier++)
    for (int p = 0; p < 2; p++)
      for (int m = 0; m < 3; m++) {
        char config[160];
        snprintf(config, sizeof config, "{\"kernel_size\": [3, 2], \"depth_multiplier\": %d, \"padding\": \"%s\", %s, "
                 "\"activation\": \"elu\"}", multiplier, paddings[p], moves[m]);
        check_gradients("DepthwiseConv2D", config, 4, (int64_t[]){2, 6, 7, 3}, seed++);
      }
  check_gradients("DepthwiseConv2D", "{\"kernel_size\": 1, \"depth_multiplier\": 2}", 4, (int64_t[]){2, 3, 3, 3}, seed);
}

Test(gradients, pooling_every_padding_and_stride) {
  const char *configs[] = {"{\"pool_size\": 2}", "{\"pool_size\": 2, \"padding\": \"same\"}",
                           "{\"pool_size\": 3, \"strides\": 1, \"padding\": \"same\"}", "{\"pool_size\": 3, \"strides\": 2}",
                           "{\"pool_size\": [2, 3], \"strides\": [1, 2], \"padding\": \"same\"}"};
  uint64_t seed = 400;
  for (size_t i = 0; i < sizeof configs / sizeof *configs; i++) {
    check_max_gradients("MaxPooling2D", configs[i], 4, (int64_t[]){2, 5, 7, 3}, seed++);
    check_gradients("AveragePooling2D", configs[i], 4, (int64_t[]){2, 5, 7, 3}, seed++);
    if (i == 4) continue;
    check_max_gradients("MaxPooling1D", configs[i], 3, (int64_t[]){2, 9, 3}, seed++);
    check_gradients("AveragePooling1D", configs[i], 3, (int64_t[]){2, 9, 3}, seed++);
  }
}

Test(gradients, global_pools_and_zero_padding) {
  const char *keepdims[] = {"{}", "{\"keepdims\": true}"};
  for (int k = 0; k < 2; k++) {
    check_max_gradients("GlobalMaxPooling2D", keepdims[k], 4, (int64_t[]){3, 4, 5, 2}, 500 + k);
    check_max_gradients("GlobalMaxPooling1D", keepdims[k], 3, (int64_t[]){3, 6, 2}, 510 + k);
    check_gradients("GlobalAveragePooling2D", keepdims[k], 4, (int64_t[]){3, 4, 5, 2}, 520 + k);
    check_gradients("GlobalAveragePooling1D", keepdims[k], 3, (int64_t[]){3, 6, 2}, 530 + k);
  }
  check_gradients("ZeroPadding2D", "{\"padding\": [[1, 2], [0, 3]]}", 4, (int64_t[]){2, 3, 4, 2}, 540);
  check_gradients("ZeroPadding1D", "{\"padding\": 2}", 3, (int64_t[]){2, 3, 2}, 541);
}

/* ---- configuration errors ---- */

/* Each case of tests/unit/data/nn_conv_config_errors.json: a config that must fail with the status
 * and a message naming the layer and the key. */
Test(config_errors, name_the_layer_and_the_key) {
  char *path = sp_test_source_path("tests/unit/data/nn_conv_config_errors.json");
  char *text = read_text(path);
  json_object *cases;
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), path, &cases));
  cr_assert(json_object_array_length(cases) > 0);
  for (size_t i = 0; i < json_object_array_length(cases); i++) {
    json_object *entry = json_object_array_get_idx(cases, i);
    const char *why = json_object_get_string(sp_json_member(entry, "why"));
    const char *status = json_object_get_string(sp_json_member(entry, "status"));
    const char *message = json_object_get_string(sp_json_member(entry, "message"));
    sp_model *model = sp_sequential("m");
    sp_layer *layer = sp_layer_new(json_object_get_string(sp_json_member(entry, "class_name")),
                                   json_object_to_json_string(sp_json_member(entry, "config")));
    sp_status got = sp_model_add(model, layer);
    cr_assert_str_eq(sp_status_name(got), status, "%s: %s", why, sp_last_error());
    cr_assert(strstr(sp_last_error(), message), "%s: '%s' does not say '%s'", why, sp_last_error(), message);
    sp_model_free(model);
  }
  json_object_put(cases);
  free(text);
  free(path);
}

Test(config_errors, shapes_that_do_not_fit) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(3, (int64_t[]){4, 3, 2})));
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("Conv2D", "{\"name\": \"big\", \"filters\": 2, \"kernel_size\": [5, 2]}")),
                  SP_ERROR_MISMATCH,
                  "layer 'big' (Conv2D): 'kernel_size' 5 is larger than the input's 4 along axis 1 of input shape "
                  "(None, 4, 3, 2) with padding 'valid'");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("Conv2D", "{\"name\": \"wide\", \"filters\": 2, \"kernel_size\": 2, "
                                                             "\"dilation_rate\": [1, 3]}")),
                  SP_ERROR_MISMATCH, "'kernel_size' 2 (dilated to 4) is larger than the input's 3 along axis 2");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("Conv1D", "{\"name\": \"one\", \"filters\": 2, \"kernel_size\": 2}")),
                  SP_ERROR_MISMATCH, "layer 'one' (Conv1D) expects inputs of rank 3 (batch, steps, channels), got shape "
                                     "(None, 4, 3, 2)");
  SP_ASSERT_FAILS(sp_model_add(model, sp_layer_new("MaxPooling2D", "{\"name\": \"pool\", \"pool_size\": 4}")),
                  SP_ERROR_MISMATCH, "layer 'pool' (MaxPooling2D): 'pool_size' 4 is larger than the input's 3 along axis 2");
  sp_model_free(model);
}

/* ---- Keras 1 spellings ---- */

Test(keras1, convolution_and_pooling_keys) {
  sp_layer *conv2d = configured("Convolution2D", "{\"nb_filter\": 4, \"nb_row\": 3, \"nb_col\": 2, \"border_mode\": \"same\", "
                                                 "\"subsample\": [2, 2], \"dim_ordering\": \"tf\", \"bias\": false}");
  sp_shape out, input = {.rank = 4, .dims = {-1, 7, 6, 3}};
  SP_ASSERT_OK(output_shape(conv2d, input, &out));
  cr_assert(out.dims[1] == 4 && out.dims[2] == 3 && out.dims[3] == 4, "(%lld, %lld, %lld)", (long long)out.dims[1],
            (long long)out.dims[2], (long long)out.dims[3]);
  build(conv2d, &input);
  cr_assert_eq(conv2d->variable_count, 1, "bias: false leaves only the kernel");
  int64_t kernel_shape[] = {3, 2, 3, 4};
  for (int d = 0; d < 4; d++) cr_assert_eq(conv2d->variables[0]->value->shape[d], kernel_shape[d]);
  sp_layer_release(conv2d);

  sp_layer *conv1d = configured("Convolution1D", "{\"nb_filter\": 2, \"filter_length\": 3, \"subsample_length\": 2, "
                                                 "\"border_mode\": \"valid\"}");
  SP_ASSERT_OK(output_shape(conv1d, (sp_shape){.rank = 3, .dims = {-1, 9, 5}}, &out));
  cr_assert(out.dims[1] == 4 && out.dims[2] == 2);
  sp_layer_release(conv1d);

  sp_layer *pool = configured("MaxPooling1D", "{\"pool_length\": 3, \"stride\": 1, \"border_mode\": \"valid\"}");
  SP_ASSERT_OK(output_shape(pool, (sp_shape){.rank = 3, .dims = {-1, 9, 5}}, &out));
  cr_assert_eq(out.dims[1], 7);
  sp_layer_release(pool);
}

Test(variables, keras_names_shapes_and_default_initializers) {
  sp_model *model = sp_sequential("m");
  SP_ASSERT_OK(sp_model_add(model, sp_input(3, (int64_t[]){6, 6, 3})));
  SP_ASSERT_OK(sp_model_add(model, sp_depthwise_conv2d(3, 3, 2, NULL)));
  SP_ASSERT_OK(sp_model_build(model));
  sp_layer *depthwise = model->layers[1];
  cr_assert_str_eq(depthwise->variables[0]->name, "kernel", "Keras 3 names the depthwise kernel 'kernel'");
  cr_assert_str_eq(depthwise->variables[1]->name, "bias");
  cr_assert_eq(depthwise->variables[1]->value->shape[0], 6);
  cr_assert_str_eq(depthwise->variables[0]->default_initializer, "glorot_uniform");
  cr_assert_not_null(depthwise->variables[0]->initializer, "the builder's depthwise_initializer is used");
  sp_model_free(model);
  sp_layer *keras2 = NULL;
  json_object *config;
  const char *text = "{\"kernel_size\": [3, 3]}";
  SP_ASSERT_OK(sp_json_parse(text, strlen(text), "t", &config));
  SP_ASSERT_OK(sp_layer_create("DepthwiseConv2D", config, NULL, 2, &keras2));
  build(keras2, &(sp_shape){.rank = 4, .dims = {-1, 5, 5, 2}});
  cr_assert_str_eq(keras2->variables[0]->name, "depthwise_kernel", "tf.keras names it depthwise_kernel");
  cr_assert_str_eq(keras2->variables[0]->default_initializer, "glorot_uniform");
  cr_assert_str_eq(keras2->variables[1]->default_initializer, "zeros");
  json_object_put(config);
  sp_layer_release(keras2);
}

/* ---- C builders ---- */

Test(builders, write_keras3_configs_and_build_cnns) {
  sp_model *model = sp_sequential("cnn");
  SP_ASSERT_OK(sp_model_add(model, sp_input(3, (int64_t[]){12, 12, 1})));
  SP_ASSERT_OK(sp_model_add(model, sp_zero_padding2d(1, 1, 0, 2)));
  SP_ASSERT_OK(sp_model_add(model, sp_conv2d(4, 3, 3, "relu")));
  SP_ASSERT_OK(sp_model_add(model, sp_max_pooling2d(2, 2)));
  SP_ASSERT_OK(sp_model_add(model, sp_depthwise_conv2d(2, 2, 2, NULL)));
  SP_ASSERT_OK(sp_model_add(model, sp_average_pooling2d(2, 1)));
  SP_ASSERT_OK(sp_model_add(model, sp_global_max_pooling2d()));
  SP_ASSERT_OK(sp_model_add(model, sp_dense(3, "softmax")));
  SP_ASSERT_OK(sp_model_build(model));
  /* 12x12 → pad (14, 14) → conv 3 valid (12, 12, 4) → pool 2 (6, 6, 4) → depthwise 2 (5, 5, 8)
     → pool (2, 1) (2, 5, 8) → global (8) → dense (3) */
  int rank;
  int64_t shape[SP_MAX_RANK];
  SP_ASSERT_OK(sp_model_output_shape(model, 0, &rank, shape));
  cr_assert(rank == 2 && shape[1] == 3);
  cr_assert_eq(model->nodes[5].outputs[0].dims[1], 2);
  cr_assert_eq(model->nodes[5].outputs[0].dims[2], 5);
  cr_assert_eq(sp_model_parameter_count(model, 0), (3 * 3 * 1 * 4 + 4) + (2 * 2 * 4 * 2 + 8) + (8 * 3 + 3));
  char *text = sp_model_to_config(model, 3);
  cr_assert(strstr(text, "\"filters\": 4, \"kernel_size\": [3, 3], \"strides\": [1, 1], \"padding\": \"valid\", "
                         "\"data_format\": \"channels_last\", \"dilation_rate\": [1, 1], \"groups\": 1, \"activation\": "
                         "\"relu\", \"use_bias\": true, \"kernel_initializer\": {\"module\": \"keras.initializers\", "
                         "\"class_name\": \"GlorotUniform\""), "%s", text);
  cr_assert(strstr(text, "\"kernel_regularizer\": null, \"bias_regularizer\": null, \"activity_regularizer\": null, "
                         "\"kernel_constraint\": null, \"bias_constraint\": null"), "%s", text);
  cr_assert(strstr(text, "\"depth_multiplier\": 2, \"kernel_size\": [2, 2]"), "%s", text);
  cr_assert(strstr(text, "\"depthwise_initializer\": {"), "%s", text);
  cr_assert(strstr(text, "\"pool_size\": [2, 1], \"padding\": \"valid\", \"strides\": [2, 1], \"data_format\": "
                         "\"channels_last\""), "%s", text);
  cr_assert(strstr(text, "\"padding\": [[1, 1], [0, 2]], \"data_format\": \"channels_last\""), "%s", text);
  cr_assert(strstr(text, "\"data_format\": \"channels_last\", \"keepdims\": false"), "%s", text);
  sp_model *reloaded;
  SP_ASSERT_OK(sp_model_from_config(text, strlen(text), &reloaded));
  cr_assert_eq(sp_model_parameter_count(reloaded, 0), sp_model_parameter_count(model, 0));
  sp_model_free(reloaded);
  free(text);
  sp_tensor *input = sp_test_random_tensor(4, (int64_t[]){3, 12, 12, 1}, 1.0, 9);
  int count;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs));
  for (int row = 0; row < 3; row++) {
    const float *p = sp_tensor_floats(outputs[0]) + row * 3;
    cr_assert_float_eq(p[0] + p[1] + p[2], 1.0f, 1e-5, "softmax rows sum to 1 after the CNN");
  }
  sp_tensor_free(outputs[0]);
  free(outputs);
  sp_tensor_free(input);
  sp_model_free(model);

  model = sp_sequential("sequence");
  SP_ASSERT_OK(sp_model_add(model, sp_input(2, (int64_t[]){16, 2})));
  SP_ASSERT_OK(sp_model_add(model, sp_conv1d(5, 3, "tanh")));
  SP_ASSERT_OK(sp_model_add(model, sp_max_pooling1d(2)));
  SP_ASSERT_OK(sp_model_add(model, sp_average_pooling1d(3)));
  SP_ASSERT_OK(sp_model_add(model, sp_global_average_pooling1d()));
  SP_ASSERT_OK(sp_model_build(model));
  SP_ASSERT_OK(sp_model_output_shape(model, 0, &rank, shape));
  cr_assert(rank == 2 && shape[1] == 5);
  cr_assert_eq(model->nodes[3].outputs[0].dims[1], 2, "16 → conv 14 → pool 7 → pool 3: 2");
  cr_assert_eq(sp_model_parameter_count(model, 0), 3 * 2 * 5 + 5);
  sp_model_free(model);
  sp_layer_free(sp_global_max_pooling1d());
  sp_layer_free(sp_global_average_pooling2d());
}

/* ---- hls4ml fixtures (PROVENANCE.md §24, §25 and Appendix C) ---- */

/* The root attribute model_config of a Keras .h5 file. */
static char *h5_model_config(const char *path) {
  sp_h5_file *file;
  char *text;
  SP_ASSERT_OK(sp_h5_open(path, &file));
  SP_ASSERT_OK(sp_h5_read_string_attribute(file, "/", "model_config", &text, NULL));
  SP_ASSERT_OK(sp_h5_close(file));
  return text;
}

typedef struct expected_layer {
  const char *name;
  int rank;
  int64_t output[4];    /* node output shape */
  int64_t kernel[4];    /* Appendix C dataset shape of kernel:0, rank rank-1 for conv, 2 for dense */
  int kernel_rank;
} expected_layer;

static void check_model(sp_model *model, const expected_layer *layers, int count, int64_t parameters, int64_t outputs) {
  for (int i = 0; i < count; i++) {
    int index = sp_model_find_layer(model, layers[i].name);
    cr_assert(index >= 0, "layer %s", layers[i].name);
    sp_layer *layer = model->layers[index];
    const sp_shape *shape = NULL;
    for (int n = 0; n < model->node_count; n++)
      if (model->nodes[n].layer == layer) shape = &model->nodes[n].outputs[0];
    cr_assert_not_null(shape);
    cr_assert_eq(shape->rank, layers[i].rank, "%s rank", layers[i].name);
    for (int d = 1; d < shape->rank; d++) cr_assert_eq(shape->dims[d], layers[i].output[d], "%s output dim %d", layers[i].name, d);
    if (!layers[i].kernel_rank) continue;
    const sp_tensor *kernel = layer->variables[0]->value;
    cr_assert_str_eq(layer->variables[0]->name, "kernel");
    cr_assert_eq(kernel->rank, layers[i].kernel_rank, "%s kernel rank", layers[i].name);
    for (int d = 0; d < kernel->rank; d++) cr_assert_eq(kernel->shape[d], layers[i].kernel[d], "%s kernel dim %d", layers[i].name, d);
    cr_assert_eq(layer->variables[1]->value->shape[0], layers[i].kernel[kernel->rank - 1], "%s bias", layers[i].name);
  }
  cr_assert_eq(sp_model_parameter_count(model, 0), parameters);
  int rank;
  int64_t shape[SP_MAX_RANK];
  SP_ASSERT_OK(sp_model_output_shape(model, 0, &rank, shape));
  cr_assert(rank == 2 && shape[1] == outputs);
}

Test(fixtures, hls4ml_conv1d_small_model_config) {
  char *path = sp_test_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv1d_small.h5");
  char *text = h5_model_config(path);
  sp_model *model;
  SP_ASSERT_OK(sp_model_from_config(text, strlen(text), &model));
  /* Appendix C: kernels (4, 4, 3), (4, 3, 2), (4, 2, 1); fc1 (10, 5) so 'same' keeps 10 steps. */
  const expected_layer layers[] = {
      {"conv1_relu", 3, {-1, 10, 3}, {4, 4, 3}, 3}, {"conv2_relu", 3, {-1, 10, 2}, {4, 3, 2}, 3},
      {"conv3_relu", 3, {-1, 10, 1}, {4, 2, 1}, 3}, {"flatten_1", 2, {-1, 10}, {0}, 0},
      {"fc1_relu", 2, {-1, 5}, {10, 5}, 2},        {"output_softmax", 2, {-1, 5}, {5, 5}, 2},
  };
  check_model(model, layers, 6, (4 * 4 * 3 + 3) + (4 * 3 * 2 + 2) + (4 * 2 * 1 + 1) + (10 * 5 + 5) + (5 * 5 + 5), 5);
  /* It runs: VarianceScaling initializers (kernels and biases), then softmax rows sum to 1. */
  sp_tensor *input = sp_test_random_tensor(3, (int64_t[]){2, 10, 4}, 1.0, 3);
  int count;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs));
  const float *p = sp_tensor_floats(outputs[0]);
  cr_assert_float_eq(p[0] + p[1] + p[2] + p[3] + p[4], 1.0f, 1e-5);
  sp_tensor_free(outputs[0]);
  free(outputs);
  sp_tensor_free(input);
  sp_model_free(model);
  free(text);
  free(path);
}

static const expected_layer hls4ml_conv2d_layers[] = {
    {"conv2d_1", 4, {-1, 8, 8, 2}, {3, 3, 1, 2}, 4},
    {"flatten_1", 2, {-1, 128}, {0}, 0},
    {"dense_1", 2, {-1, 10}, {128, 10}, 2},
};

Test(fixtures, hls4ml_conv2d_model_keras231_h5_and_keras20_json) {
  char *h5 = sp_test_fixture("hls4ml-example-models-keras2.3.1-h5/keras/keras_conv2d_model.h5");
  char *json = sp_test_fixture("hls4ml-example-models-keras2.0-json-weights/keras/KERAS_conv2d_model.json");
  char *texts[] = {h5_model_config(h5), read_text(json)};
  for (int i = 0; i < 2; i++) {
    sp_model *model;
    SP_ASSERT_OK(sp_model_from_config(texts[i], strlen(texts[i]), &model));
    /* Appendix C: conv2d_1/kernel (3, 3, 1, 2), dense_1/kernel (128, 10): 'same' keeps 8x8x2 = 128. */
    check_model(model, hls4ml_conv2d_layers, 3, (3 * 3 * 1 * 2 + 2) + (128 * 10 + 10), 10);
    sp_model_free(model);
    free(texts[i]);
  }
  free(h5);
  free(json);
}
