/* optimizer_steps.c — steps a savepoint optimizer on given gradients, for the torch peer test.
 *
 *   optimizer_steps SPEC.json
 * SPEC: {"optimizer": <Keras optimizer config>, "inputs": k, "units": m,
 *        "kernel": [k*m floats], "bias": [m floats], "gradients": [[k*m + m floats] per step]}
 * The variables are a Dense layer's kernel (k x m) and bias (m), in that order. Prints the
 * weights after every step as JSON: [[kernel..., bias...], ...] with 9 significant digits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/file.h"
#include "core/json.h"
#include "nn/model.h"
#include "nn/optimizer.h"

static sp_status fill(sp_tensor *tensor, const json_object *values, const char *what) {
  if (!json_object_is_type(values, json_type_array) || (int64_t)json_object_array_length(values) != sp_tensor_count(tensor))
    return sp_fail(SP_ERROR_FORMAT, "%s: expected %lld numbers", what, (long long)sp_tensor_count(tensor));
  for (size_t i = 0; i < json_object_array_length(values); i++)
    sp_tensor_floats(tensor)[i] = (float)json_object_get_double(json_object_array_get_idx(values, i));
  return SP_OK;
}

static sp_status run(const json_object *spec) {
  int64_t inputs, units;
  SP_TRY(sp_json_get_int(spec, "inputs", 0, "spec", &inputs));
  SP_TRY(sp_json_get_int(spec, "units", 0, "spec", &units));
  sp_model *model = sp_sequential("sequential");
  sp_optimizer *optimizer = NULL;
  sp_status status = sp_model_add(model, sp_input(1, &inputs));
  if (status == SP_OK) status = sp_model_add(model, sp_dense(units, NULL));
  if (status == SP_OK) status = sp_model_build(model);
  if (status == SP_OK) status = sp_optimizer_parse(sp_json_member(spec, "optimizer"), "spec optimizer", &optimizer);
  if (status == SP_OK) status = sp_optimizer_build(optimizer, model);
  sp_variable *kernel = status == SP_OK ? model->layers[1]->variables[0] : NULL;
  sp_variable *bias = status == SP_OK ? model->layers[1]->variables[1] : NULL;
  if (status == SP_OK) status = fill(kernel->value, sp_json_member(spec, "kernel"), "kernel");
  if (status == SP_OK) status = fill(bias->value, sp_json_member(spec, "bias"), "bias");
  json_object *steps = sp_json_member(spec, "gradients");
  int64_t kernel_count = inputs * units;
  printf("[");
  for (size_t s = 0; status == SP_OK && steps && s < json_object_array_length(steps); s++) {
    json_object *gradient = json_object_array_get_idx(steps, s);
    if ((int64_t)json_object_array_length(gradient) != kernel_count + units) {
      status = sp_fail(SP_ERROR_FORMAT, "gradients[%zu]: expected %lld numbers", s, (long long)(kernel_count + units));
      break;
    }
    for (int64_t i = 0; i < kernel_count + units; i++) {
      float value = (float)json_object_get_double(json_object_array_get_idx(gradient, (size_t)i));
      if (i < kernel_count) sp_tensor_floats(sp_variable_gradient(kernel))[i] = value;
      else sp_tensor_floats(sp_variable_gradient(bias))[i - kernel_count] = value;
    }
    status = sp_optimizer_apply(optimizer);
    printf("%s[", s ? ", " : "");
    for (int64_t i = 0; i < kernel_count + units; i++)
      printf("%s%.9g", i ? ", " : "", i < kernel_count ? sp_tensor_floats(kernel->value)[i] : sp_tensor_floats(bias->value)[i - kernel_count]);
    printf("]");
  }
  printf("]\n");
  sp_optimizer_free(optimizer);
  sp_model_free(model);
  return status;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SPEC.json\n", argv[0]);
    return 2;
  }
  uint8_t *text;
  size_t size;
  json_object *spec = NULL;
  sp_status status = sp_read_file(argv[1], 1 << 26, &text, &size);
  if (status == SP_OK) {
    status = sp_json_parse((const char *)text, size, argv[1], &spec);
    free(text);
  }
  if (status == SP_OK) status = run(spec);
  json_object_put(spec);
  if (status != SP_OK) {
    fprintf(stderr, "optimizer_steps: %s\n", sp_last_error());
    return 1;
  }
  return 0;
}
