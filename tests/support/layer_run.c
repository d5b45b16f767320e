/* layer_run.c — running one layer outside a model in unit tests (see layer_run.h). */
#include "layer_run.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "savepoint/model.h"
#include "test_support.h"

sp_tensor *sp_test_tensor(int rank, const int64_t *shape, const float *values) {
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, rank, shape);
  cr_assert_not_null(tensor, "%s", sp_last_error());
  if (values) memcpy(tensor->data, values, tensor->size);
  return tensor;
}

void sp_test_build_layer(sp_layer *layer, int input_count, sp_tensor **inputs) {
  if (!layer->built) {
    sp_shape shapes[SP_MAX_LAYER_INPUTS];
    for (int i = 0; i < input_count; i++) shapes[i] = sp_shape_of(inputs[i]);
    if (layer->class->build)
      cr_assert_eq(layer->class->build(layer, input_count, shapes), SP_OK, "build: %s", sp_last_error());
    layer->built = 1;
  }
  for (int v = 0; v < layer->variable_count; v++) layer->variables[v]->initialized = 1;
}

sp_variable *sp_test_variable(const sp_layer *layer, const char *name) {
  for (int v = 0; v < layer->variable_count; v++)
    if (strcmp(layer->variables[v]->name, name) == 0) return layer->variables[v];
  cr_assert_fail("%s has no variable '%s'", sp_layer_describe(layer), name);
  return NULL;
}

void sp_test_set_variable(sp_layer *layer, const char *name, const float *values) {
  sp_variable *variable = sp_test_variable(layer, name);
  memcpy(variable->value->data, values, variable->value->size);
}

void sp_test_forward(sp_layer *layer, int input_count, sp_tensor **inputs, int training, uint64_t seed,
                     sp_test_layer_run *run) {
  sp_test_build_layer(layer, input_count, inputs);
  sp_shape shapes[SP_MAX_LAYER_INPUTS], outputs[SP_MAX_LAYER_OUTPUTS];
  for (int i = 0; i < input_count; i++) shapes[i] = sp_shape_of(inputs[i]);
  for (int o = 0; o < run->output_count; o++) sp_tensor_free(run->outputs[o]);
  sp_status status = layer->class->compute_shapes(layer, input_count, shapes, &run->output_count, outputs);
  cr_assert_eq(status, SP_OK, "compute_shapes: %s", sp_last_error());
  for (int o = 0; o < run->output_count; o++) run->outputs[o] = sp_test_tensor(outputs[o].rank, outputs[o].dims, NULL);
  sp_rng rng;
  sp_rng_seed(&rng, seed);
  sp_call call = {.training = training, .input_count = input_count, .inputs = inputs,
                  .output_count = run->output_count, .outputs = run->outputs, .scratch = &run->scratch,
                  .rng = training ? &rng : NULL};
  cr_assert_eq(layer->class->forward(layer, &call), SP_OK, "forward: %s", sp_last_error());
}

void sp_test_layer_run_free(sp_test_layer_run *run) {
  for (int o = 0; o < run->output_count; o++) sp_tensor_free(run->outputs[o]);
  free(run->scratch.data);
  memset(run, 0, sizeof *run);
}

void sp_test_refused(const char *class_name, const char *config, const char *fragment) {
  sp_layer *layer = sp_layer_new(class_name, config);
  cr_assert_null(layer, "%s %s was accepted", class_name, config);
  cr_assert(strstr(sp_last_error(), fragment), "%s %s: message '%s' does not mention '%s'", class_name, config,
            sp_last_error(), fragment);
}

void sp_test_expect_prediction(sp_model *model, const sp_tensor *input, const float *expected, int count,
                               double relative, double absolute, const char *what) {
  int outputs;
  sp_tensor **result;
  sp_status status = sp_model_predict(model, 1, &input, &outputs, &result);
  cr_assert_eq(status, SP_OK, "%s: predict: %s", what, sp_last_error());
  cr_assert_eq(sp_tensor_count(result[0]), count, "%s: output size", what);
  sp_assert_close(sp_tensor_floats(result[0]), expected, (size_t)count, relative, absolute, what);
  for (int o = 0; o < outputs; o++) sp_tensor_free(result[o]);
  free(result);
}
