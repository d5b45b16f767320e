/* gradient_check.c — central-difference checks of layer gradients (see gradient_check.h). */
#include "gradient_check.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/memory.h"

sp_tensor *sp_test_random_tensor(int rank, const int64_t *shape, double scale, uint64_t seed) {
  sp_tensor *tensor = sp_tensor_new(SP_FLOAT32, rank, shape);
  cr_assert_not_null(tensor, "%s", sp_last_error());
  sp_rng rng;
  sp_rng_seed(&rng, seed);
  float *values = sp_tensor_floats(tensor);
  for (int64_t i = 0; i < sp_tensor_count(tensor); i++) values[i] = (float)(scale * sp_rng_normal(&rng));
  return tensor;
}

typedef struct harness {
  sp_layer *layer;
  int input_count;
  sp_tensor **inputs;
  int output_count;
  sp_tensor *outputs[SP_MAX_LAYER_OUTPUTS];
  sp_tensor *weights[SP_MAX_LAYER_OUTPUTS]; /* R */
  sp_scratch scratch;
  uint64_t seed;
} harness;

static void allocate_outputs(harness *h) {
  sp_shape shapes[SP_MAX_LAYER_INPUTS], outputs[SP_MAX_LAYER_OUTPUTS];
  for (int i = 0; i < h->input_count; i++) shapes[i] = sp_shape_of(h->inputs[i]);
  sp_status status = h->layer->class->compute_shapes(h->layer, h->input_count, shapes, &h->output_count, outputs);
  cr_assert_eq(status, SP_OK, "compute_shapes: %s", sp_last_error());
  for (int o = 0; o < h->output_count; o++) {
    h->outputs[o] = sp_tensor_new(SP_FLOAT32, outputs[o].rank, outputs[o].dims);
    h->weights[o] = sp_test_random_tensor(outputs[o].rank, outputs[o].dims, 1.0, h->seed + 100 + (uint64_t)o);
  }
}

/* One training-mode forward; returns L = sum(R ⊙ y) in double. */
static double loss(harness *h) {
  sp_rng rng;
  sp_rng_seed(&rng, h->seed);
  sp_call call = {.training = 1, .input_count = h->input_count, .inputs = h->inputs,
                  .output_count = h->output_count, .outputs = h->outputs, .scratch = &h->scratch, .rng = &rng};
  sp_status status = h->layer->class->forward(h->layer, &call);
  cr_assert_eq(status, SP_OK, "forward: %s", sp_last_error());
  double total = 0;
  for (int o = 0; o < h->output_count; o++) {
    const float *y = sp_tensor_floats(h->outputs[o]), *r = sp_tensor_floats(h->weights[o]);
    for (int64_t i = 0; i < sp_tensor_count(h->outputs[o]); i++) total += (double)y[i] * r[i];
  }
  return total;
}

static void compare(harness *h, float *values, const float *analytic, int64_t count, const char *what,
                    const sp_gradient_check_options *options, sp_rng *picker) {
  int samples = options->samples < count ? options->samples : (int)count;
  for (int s = 0; s < samples; s++) {
    int64_t i = samples == count ? s : (int64_t)sp_rng_below(picker, (uint64_t)count);
    float original = values[i];
    values[i] = (float)(original + options->step);
    double plus = loss(h);
    values[i] = (float)(original - options->step);
    double minus = loss(h);
    values[i] = original;
    double numeric = (plus - minus) / (2 * options->step);
    double scale = fmax(fmax(fabs(numeric), fabs(analytic[i])), 1e-2);
    cr_assert(fabs(numeric - analytic[i]) <= options->tolerance * scale,
              "%s: %s element %lld: analytic %.6g vs numeric %.6g", sp_layer_describe(h->layer), what, (long long)i,
              analytic[i], numeric);
  }
}

void sp_check_layer_gradients(sp_layer *layer, int input_count, sp_tensor **inputs,
                              const sp_gradient_check_options *given) {
  sp_gradient_check_options options = {.step = 1e-3, .tolerance = 2e-2, .samples = 40, .seed = 7, .skip_input_index = -1};
  if (given) {
    if (given->step > 0) options.step = given->step;
    if (given->tolerance > 0) options.tolerance = given->tolerance;
    if (given->samples > 0) options.samples = given->samples;
    options.seed = given->seed;
    options.skip_input_index = given->skip_input_index;
  }
  harness h = {.layer = layer, .input_count = input_count, .inputs = inputs, .seed = options.seed};
  if (!layer->built) {
    sp_shape shapes[SP_MAX_LAYER_INPUTS];
    for (int i = 0; i < input_count; i++) shapes[i] = sp_shape_of(inputs[i]);
    if (layer->class->build) cr_assert_eq(layer->class->build(layer, input_count, shapes), SP_OK, "build: %s", sp_last_error());
    layer->built = 1;
  }
  sp_rng init;
  sp_rng_seed(&init, options.seed + 1);
  for (int v = 0; v < layer->variable_count; v++) {
    float *values = sp_tensor_floats(layer->variables[v]->value);
    int positive = strstr(layer->variables[v]->name, "variance") != NULL;
    for (int64_t i = 0; i < sp_tensor_count(layer->variables[v]->value); i++)
      values[i] = positive ? (float)(0.5 + sp_rng_uniform(&init)) : (float)(0.5 * sp_rng_normal(&init));
    layer->variables[v]->initialized = 1;
  }
  allocate_outputs(&h);
  loss(&h);
  sp_tensor *input_gradients[SP_MAX_LAYER_INPUTS];
  for (int i = 0; i < input_count; i++)
    input_gradients[i] = i == options.skip_input_index ? NULL : sp_tensor_new(SP_FLOAT32, inputs[i]->rank, inputs[i]->shape);
  for (int v = 0; v < layer->variable_count; v++) {
    sp_tensor *gradient = sp_variable_gradient(layer->variables[v]);
    if (gradient) memset(gradient->data, 0, gradient->size);
  }
  sp_rng rng;
  sp_rng_seed(&rng, options.seed);
  sp_call call = {.training = 1, .input_count = input_count, .inputs = inputs, .output_count = h.output_count,
                  .outputs = h.outputs, .output_gradients = h.weights, .input_gradients = input_gradients,
                  .scratch = &h.scratch, .rng = &rng};
  cr_assert_not_null(layer->class->backward, "%s has no backward", sp_layer_describe(layer));
  cr_assert_eq(layer->class->backward(layer, &call), SP_OK, "backward: %s", sp_last_error());
  sp_rng picker;
  sp_rng_seed(&picker, options.seed + 2);
  for (int i = 0; i < input_count; i++) {
    if (!input_gradients[i]) continue;
    char what[32];
    snprintf(what, sizeof what, "input %d", i);
    compare(&h, sp_tensor_floats(inputs[i]), sp_tensor_floats(input_gradients[i]), sp_tensor_count(inputs[i]), what,
            &options, &picker);
  }
  for (int v = 0; v < layer->variable_count; v++) {
    sp_variable *variable = layer->variables[v];
    if (!variable->gradient) continue;
    /* Copy: forward passes during the numeric check must not see accumulating gradients. */
    sp_tensor *analytic = sp_tensor_copy(variable->gradient);
    compare(&h, sp_tensor_floats(variable->value), sp_tensor_floats(analytic), sp_tensor_count(analytic),
            variable->name, &options, &picker);
    sp_tensor_free(analytic);
  }
  for (int i = 0; i < input_count; i++) sp_tensor_free(input_gradients[i]);
  for (int o = 0; o < h.output_count; o++) {
    sp_tensor_free(h.outputs[o]);
    sp_tensor_free(h.weights[o]);
  }
  free(h.scratch.data);
}
