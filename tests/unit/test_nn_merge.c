/* Tests of the merge layers: Add, Subtract, Multiply, Average and Concatenate against their
 * definitions (element by element, with Keras broadcasting of size-1 axes), finite-difference
 * gradients with three inputs, shape errors, and a Functional model that merges branches. */
#include <criterion/criterion.h>
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

Test(merge, element_wise_merges_of_three_inputs) {
  const float a[] = {1, 2, 3, 4}, b[] = {-1, 0.5f, 2, 0}, c[] = {3, 3, -2, 1};
  sp_tensor *inputs[3] = {sp_test_tensor(2, (int64_t[]){2, 2}, a), sp_test_tensor(2, (int64_t[]){2, 2}, b),
                          sp_test_tensor(2, (int64_t[]){2, 2}, c)};
  const char *classes[] = {"Add", "Multiply", "Average"};
  for (int k = 0; k < 3; k++) {
    sp_layer *layer = configured(classes[k], "{}");
    sp_test_layer_run run = {0};
    sp_test_forward(layer, 3, inputs, 0, 0, &run);
    float expected[4];
    for (int i = 0; i < 4; i++)
      expected[i] = k == 0 ? a[i] + b[i] + c[i] : k == 1 ? a[i] * b[i] * c[i] : (a[i] + b[i] + c[i]) / 3;
    sp_assert_close(sp_tensor_floats(run.outputs[0]), expected, 4, 1e-6, 1e-7, classes[k]);
    sp_test_layer_run_free(&run);
    sp_layer_release(layer);
  }
  sp_layer *subtract = configured("Subtract", "{}");
  sp_test_layer_run run = {0};
  sp_test_forward(subtract, 2, inputs, 0, 0, &run);
  sp_assert_close(sp_tensor_floats(run.outputs[0]), (float[]){2, 1.5f, 1, 4}, 4, 0, 0, "Subtract");
  sp_test_layer_run_free(&run);
  sp_shape shapes[3] = {sp_shape_of(inputs[0]), sp_shape_of(inputs[1]), sp_shape_of(inputs[2])}, out[1];
  int count;
  SP_ASSERT_FAILS(subtract->class->compute_shapes(subtract, 3, shapes, &count, out), SP_ERROR_MISMATCH,
                  "expects 2 inputs, got 3");
  sp_layer_release(subtract);
  for (int i = 0; i < 3; i++) sp_tensor_free(inputs[i]);
}

Test(merge, size_one_axes_broadcast) {
  /* (2, 1, 3) + (2, 2, 1) → (2, 2, 3): y[b][i][j] = a[b][0][j] + c[b][i][0] */
  const float a[] = {1, 2, 3, 4, 5, 6}, c[] = {10, 20, 30, 40};
  sp_tensor *inputs[2] = {sp_test_tensor(3, (int64_t[]){2, 1, 3}, a), sp_test_tensor(3, (int64_t[]){2, 2, 1}, c)};
  sp_layer *layer = configured("Add", "{}");
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 2, inputs, 0, 0, &run);
  cr_assert(run.outputs[0]->shape[1] == 2 && run.outputs[0]->shape[2] == 3);
  float expected[12];
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 2; i++)
      for (int j = 0; j < 3; j++) expected[(b * 2 + i) * 3 + j] = a[b * 3 + j] + c[b * 2 + i];
  sp_assert_close(sp_tensor_floats(run.outputs[0]), expected, 12, 0, 0, "broadcast Add");
  sp_test_layer_run_free(&run);
  sp_layer_release(layer);
  for (int i = 0; i < 2; i++) sp_tensor_free(inputs[i]);
}

static void check(const char *class_name, const char *config, int count, const int64_t shapes[][SP_MAX_RANK], int rank,
                  uint64_t seed) {
  sp_layer *layer = configured(class_name, config);
  sp_tensor *inputs[4];
  for (int i = 0; i < count; i++) inputs[i] = sp_test_random_tensor(rank, shapes[i], 1.0, seed + (uint64_t)i);
  sp_gradient_check_options options = {.seed = seed, .skip_input_index = -1};
  sp_check_layer_gradients(layer, count, inputs, &options);
  for (int i = 0; i < count; i++) sp_tensor_free(inputs[i]);
  sp_layer_release(layer);
}

Test(merge, gradients_with_three_inputs_and_broadcasting) {
  const int64_t same[3][SP_MAX_RANK] = {{2, 3, 2}, {2, 3, 2}, {2, 3, 2}};
  const int64_t broadcast[3][SP_MAX_RANK] = {{2, 1, 2}, {2, 3, 1}, {1, 3, 2}};
  const char *classes[] = {"Add", "Multiply", "Average"};
  for (int k = 0; k < 3; k++) {
    check(classes[k], "{}", 3, same, 3, 10 + (uint64_t)k);
    check(classes[k], "{}", 3, broadcast, 3, 20 + (uint64_t)k);
  }
  check("Subtract", "{}", 2, broadcast, 3, 30);
}

Test(concatenate, joins_along_axis_1_and_minus_1) {
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6}, c[] = {7, 8, 9, 10};
  sp_tensor *last[3] = {sp_test_tensor(2, (int64_t[]){2, 2}, a), sp_test_tensor(2, (int64_t[]){2, 1}, b),
                        sp_test_tensor(2, (int64_t[]){2, 2}, c)};
  sp_layer *layer = configured("Concatenate", "{\"axis\": -1}");
  sp_test_layer_run run = {0};
  sp_test_forward(layer, 3, last, 0, 0, &run);
  sp_assert_close(sp_tensor_floats(run.outputs[0]), (float[]){1, 2, 5, 7, 8, 3, 4, 6, 9, 10}, 10, 0, 0, "axis -1");
  sp_test_layer_run_free(&run);
  sp_layer_release(layer);
  /* axis 1 of rank 3: (2, 1, 2) and (2, 2, 2) → (2, 3, 2) */
  sp_tensor *middle[2] = {sp_test_tensor(3, (int64_t[]){2, 1, 2}, a), sp_test_tensor(3, (int64_t[]){2, 2, 2}, (float[]){
                              11, 12, 13, 14, 15, 16, 17, 18})};
  layer = configured("Concatenate", "{\"axis\": 1}");
  sp_test_forward(layer, 2, middle, 0, 0, &run);
  cr_assert_eq(run.outputs[0]->shape[1], 3);
  sp_assert_close(sp_tensor_floats(run.outputs[0]), (float[]){1, 2, 11, 12, 13, 14, 3, 4, 15, 16, 17, 18}, 12, 0, 0,
                  "axis 1");
  sp_test_layer_run_free(&run);
  sp_layer_release(layer);
  for (int i = 0; i < 3; i++) sp_tensor_free(last[i]);
  for (int i = 0; i < 2; i++) sp_tensor_free(middle[i]);
}

Test(concatenate, gradients_on_axis_1_and_minus_1) {
  const int64_t on_last[3][SP_MAX_RANK] = {{2, 3, 1}, {2, 3, 4}, {2, 3, 2}};
  const int64_t on_first[3][SP_MAX_RANK] = {{2, 1, 3}, {2, 4, 3}, {2, 2, 3}};
  check("Concatenate", "{\"axis\": -1}", 3, on_last, 3, 40);
  check("Concatenate", "{\"axis\": 1}", 3, on_first, 3, 41);
}

Test(merge, shape_errors_name_the_layer_and_shapes) {
  sp_model *model = sp_functional("m");
  sp_symbol a, b, c, y;
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){3}), &a));
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){4}), &b));
  SP_ASSERT_OK(sp_model_input(model, sp_input(2, (int64_t[]){1, 3}), &c));
  SP_ASSERT_FAILS(sp_model_call(model, sp_layer_new("Add", "{\"name\": \"sum\"}"), 2, (sp_symbol[]){a, b}, 1, &y, NULL),
                  SP_ERROR_MISMATCH, "layer 'sum' (Add) needs input shapes that are equal or 1 on each axis; got input "
                  "shapes (None, 3), (None, 4)");
  SP_ASSERT_FAILS(sp_model_call(model, sp_multiply(), 2, (sp_symbol[]){a, c}, 1, &y, NULL), SP_ERROR_MISMATCH,
                  "needs inputs of the same rank");
  SP_ASSERT_FAILS(sp_model_call(model, sp_concatenate(1), 2, (sp_symbol[]){a, c}, 1, &y, NULL), SP_ERROR_MISMATCH,
                  "needs inputs of the same rank");
  SP_ASSERT_FAILS(sp_model_call(model, sp_concatenate(0), 2, (sp_symbol[]){a, b}, 1, &y, NULL), SP_ERROR_UNSUPPORTED,
                  "batch axis");
  sp_model_free(model);
}

Test(merge, functional_model_merges_branches_and_trains) {
  sp_model *model = sp_functional("branches");
  sp_symbol x, h1, h2, sum, product, joined, y;
  SP_ASSERT_OK(sp_model_input(model, sp_input(1, (int64_t[]){3}), &x));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(4, "tanh"), 1, &x, 1, &h1, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(4, "sigmoid"), 1, &x, 1, &h2, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_add(), 2, (sp_symbol[]){h1, h2}, 1, &sum, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_multiply(), 3, (sp_symbol[]){h1, h2, sum}, 1, &product, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_concatenate(-1), 2, (sp_symbol[]){sum, product}, 1, &joined, NULL));
  SP_ASSERT_OK(sp_model_call(model, sp_dense(1, NULL), 1, &joined, 1, &y, NULL));
  SP_ASSERT_OK(sp_model_set_outputs(model, 1, &y));
  sp_tensor *input = sp_test_random_tensor(2, (int64_t[]){5, 3}, 1.0, 3);
  int count;
  sp_tensor **outputs;
  SP_ASSERT_OK(sp_model_predict(model, 1, (const sp_tensor *const *)&input, &count, &outputs));
  cr_assert(outputs[0]->rank == 2 && outputs[0]->shape[1] == 1);
  sp_tensor_free(outputs[0]);
  free(outputs);
  sp_runner *runner;
  SP_ASSERT_OK(sp_runner_new(model, &runner));
  sp_rng rng;
  sp_rng_seed(&rng, 1);
  SP_ASSERT_OK(sp_runner_forward(runner, 1, &rng, 1, (const sp_tensor *const *)&input));
  sp_tensor *dy = sp_test_random_tensor(2, (int64_t[]){5, 1}, 1.0, 4);
  SP_ASSERT_OK(sp_runner_backward(runner, &dy));
  cr_assert_not_null(model->layers[1]->variables[0]->gradient, "gradient reached the first branch");
  sp_tensor_free(dy);
  sp_runner_free(runner);
  sp_tensor_free(input);
  sp_model_free(model);
}
