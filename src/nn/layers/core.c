/* core.c — InputLayer, Dense, Activation, ReLU, Dropout, Flatten and Reshape.
 *
 * This file is also the pattern for layer implementations: a typed state struct parsed in
 * configure(), shapes in compute_shapes(), variables in build(), then forward/backward
 * (contract in nn/layer.h). Dense goes through OpenBLAS; everything else is element-wise.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/activation.h"
#include "nn/initializer.h"
#include "nn/layers/layers.h"

/* ---- InputLayer ---- */

typedef struct input_state {
  sp_shape shape;
} input_state;

static sp_status input_configure(sp_layer *layer) {
  input_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  int64_t dims[SP_MAX_RANK];
  int rank = -1;
  if (sp_json_member(layer->config, "batch_shape")) {
    SP_TRY(sp_json_get_int_list(layer->config, "batch_shape", SP_MAX_RANK, context, dims, &rank));
  } else if (sp_json_member(layer->config, "batch_input_shape")) {
    SP_TRY(sp_json_get_int_list(layer->config, "batch_input_shape", SP_MAX_RANK, context, dims, &rank));
  } else if (sp_json_member(layer->config, "shape")) {
    SP_TRY(sp_json_get_int_list(layer->config, "shape", SP_MAX_RANK - 1, context, dims + 1, &rank));
    dims[0] = -1;
    rank++;
  }
  if (rank < 1) return sp_fail(SP_ERROR_FORMAT, "%s: needs batch_shape (or batch_input_shape) with a batch dimension", context);
  for (int i = 1; i < rank; i++)
    if (dims[i] == 0 || dims[i] < -1) return sp_fail(SP_ERROR_FORMAT, "%s: dimension %d of its shape is %lld", context, i, (long long)dims[i]);
  dims[0] = -1;
  state->shape.rank = rank;
  memcpy(state->shape.dims, dims, (size_t)rank * sizeof *dims);
  return SP_OK;
}

static sp_status input_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                      int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 0, 0));
  *output_count = 1;
  outputs[0] = ((const input_state *)layer->state)->shape;
  return SP_OK;
}

static sp_status input_forward(const sp_layer *layer, sp_call *call) {
  return sp_fail(SP_ERROR_INTERNAL, "%s is bound by the runner, not executed", sp_layer_describe(layer));
}

const sp_layer_class sp_input_layer_class = {
    .class_name = "InputLayer", .module = "keras.layers", .state_size = sizeof(input_state),
    .configure = input_configure, .compute_shapes = input_compute_shapes, .forward = input_forward};

/* ---- Dense ---- */

typedef struct dense_state {
  int64_t units;
  int use_bias;
  sp_activation activation;
  sp_variable *kernel, *bias;
} dense_state;

static sp_status dense_configure(sp_layer *layer) {
  dense_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  SP_TRY(sp_json_get_int(layer->config, "units", -1, context, &state->units));
  if (state->units < 0) SP_TRY(sp_json_get_int(layer->config, "output_dim", -1, context, &state->units)); /* Keras 1 */
  if (state->units <= 0) return sp_fail(SP_ERROR_FORMAT, "%s: 'units' must be a positive integer", context);
  SP_TRY(sp_json_get_bool(layer->config, "use_bias", 1, context, &state->use_bias));
  if (!sp_json_member(layer->config, "use_bias")) SP_TRY(sp_json_get_bool(layer->config, "bias", 1, context, &state->use_bias));
  SP_TRY(sp_activation_parse(sp_json_member(layer->config, "activation"), layer->keras_major, context, &state->activation));
  SP_TRY(sp_initializer_check(sp_json_member(layer->config, "kernel_initializer"), context));
  return sp_initializer_check(sp_json_member(layer->config, "bias_initializer"), context);
}

static sp_status dense_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                      int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  const dense_state *state = layer->state;
  if (inputs[0].rank < 2) return sp_fail(SP_ERROR_MISMATCH, "%s needs inputs of rank >= 2", sp_layer_describe(layer));
  int64_t features = inputs[0].dims[inputs[0].rank - 1];
  if (state->kernel && features != state->kernel->value->shape[0]) {
    char got[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s expects %lld input features (last axis), got input shape %s",
                   sp_layer_describe(layer), (long long)state->kernel->value->shape[0],
                   sp_shape_describe(&inputs[0], got, sizeof got));
  }
  *output_count = 1;
  outputs[0] = inputs[0];
  outputs[0].dims[inputs[0].rank - 1] = state->units;
  return SP_OK;
}

static sp_status dense_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  dense_state *state = layer->state;
  int64_t features = inputs[0].dims[inputs[0].rank - 1];
  if (features <= 0)
    return sp_fail(SP_ERROR_MISMATCH, "%s: the last axis of its input must be known to build it", sp_layer_describe(layer));
  int64_t kernel_shape[2] = {features, state->units};
  SP_TRY(sp_layer_add_variable(layer, "kernel", 2, kernel_shape, "kernel", "glorot_uniform", 1, &state->kernel));
  if (state->use_bias) SP_TRY(sp_layer_add_variable(layer, "bias", 1, &state->units, "bias", "zeros", 1, &state->bias));
  return SP_OK;
}

static sp_status dense_forward(const sp_layer *layer, sp_call *call) {
  const dense_state *state = layer->state;
  const sp_tensor *x = call->inputs[0];
  sp_tensor *y = call->outputs[0];
  int64_t features = x->shape[x->rank - 1], rows = sp_tensor_count(x) / (features ? features : 1);
  float *out = sp_tensor_floats(y);
  const float *bias = state->bias ? sp_tensor_floats(state->bias->value) : NULL;
  if (bias)
    for (int64_t r = 0; r < rows; r++) memcpy(out + r * state->units, bias, (size_t)state->units * sizeof *out);
  if (rows == 1)
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)features, (int)state->units, 1.0f, sp_tensor_floats(state->kernel->value),
                (int)state->units, sp_tensor_floats(x), 1, bias ? 1.0f : 0.0f, out, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)state->units, (int)features, 1.0f,
                sp_tensor_floats(x), (int)features, sp_tensor_floats(state->kernel->value), (int)state->units,
                bias ? 1.0f : 0.0f, out, (int)state->units);
  int64_t count = rows * state->units;
  if (call->training && sp_activation_needs_input(&state->activation)) {
    float *saved = sp_call_scratch(call, (size_t)count * 2 * sizeof(float));
    if (!saved) return SP_ERROR_NO_MEMORY;
    memcpy(saved, out, (size_t)count * sizeof *out);
  }
  sp_activation_forward(&state->activation, out, out, count, state->units);
  return SP_OK;
}

static sp_status dense_backward(const sp_layer *layer, sp_call *call) {
  const dense_state *state = layer->state;
  const sp_tensor *x = call->inputs[0];
  int64_t features = x->shape[x->rank - 1], rows = sp_tensor_count(x) / (features ? features : 1);
  int64_t count = rows * state->units;
  int needs_input = sp_activation_needs_input(&state->activation);
  float *scratch = sp_call_scratch(call, (size_t)count * 2 * sizeof(float));
  if (!scratch) return SP_ERROR_NO_MEMORY;
  float *pre_activation = needs_input ? scratch : NULL, *delta = scratch + count;
  sp_activation_backward(&state->activation, pre_activation, sp_tensor_floats(call->outputs[0]),
                         sp_tensor_floats(call->output_gradients[0]), delta, count, state->units);
  sp_tensor *kernel_gradient = sp_variable_gradient(state->kernel);
  if (kernel_gradient)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)features, (int)state->units, (int)rows, 1.0f,
                sp_tensor_floats(x), (int)features, delta, (int)state->units, 1.0f, sp_tensor_floats(kernel_gradient),
                (int)state->units);
  sp_tensor *bias_gradient = state->bias ? sp_variable_gradient(state->bias) : NULL;
  if (bias_gradient) {
    float *g = sp_tensor_floats(bias_gradient);
    for (int64_t r = 0; r < rows; r++)
      for (int64_t u = 0; u < state->units; u++) g[u] += delta[r * state->units + u];
  }
  if (call->input_gradients[0])
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)features, (int)state->units, 1.0f, delta,
                (int)state->units, sp_tensor_floats(state->kernel->value), (int)state->units, 0.0f,
                sp_tensor_floats(call->input_gradients[0]), (int)features);
  return SP_OK;
}

const sp_layer_class sp_dense_class = {
    .class_name = "Dense", .module = "keras.layers", .state_size = sizeof(dense_state),
    .configure = dense_configure, .compute_shapes = dense_compute_shapes, .build = dense_build,
    .forward = dense_forward, .backward = dense_backward};

/* ---- shape-preserving helpers shared by element-wise layers ---- */

sp_status sp_same_shape(const sp_layer *layer, int input_count, const sp_shape *inputs, int *output_count,
                        sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  *output_count = 1;
  outputs[0] = inputs[0];
  return SP_OK;
}

/* ---- Activation ---- */

static sp_status activation_configure(sp_layer *layer) {
  return sp_activation_parse(sp_json_member(layer->config, "activation"), layer->keras_major, sp_layer_describe(layer),
                             layer->state);
}

static int64_t last_axis(const sp_tensor *tensor) { return tensor->rank ? tensor->shape[tensor->rank - 1] : 1; }

static sp_status activation_forward(const sp_layer *layer, sp_call *call) {
  const sp_tensor *x = call->inputs[0];
  sp_activation_forward(layer->state, sp_tensor_floats(x), sp_tensor_floats(call->outputs[0]), sp_tensor_count(x),
                        last_axis(x));
  return SP_OK;
}

static sp_status activation_backward(const sp_layer *layer, sp_call *call) {
  if (!call->input_gradients[0]) return SP_OK;
  const sp_tensor *x = call->inputs[0];
  sp_activation_backward(layer->state, sp_tensor_floats(x), sp_tensor_floats(call->outputs[0]),
                         sp_tensor_floats(call->output_gradients[0]), sp_tensor_floats(call->input_gradients[0]),
                         sp_tensor_count(x), last_axis(x));
  return SP_OK;
}

const sp_layer_class sp_activation_class = {
    .class_name = "Activation", .module = "keras.layers", .state_size = sizeof(sp_activation),
    .configure = activation_configure, .compute_shapes = sp_same_shape, .forward = activation_forward,
    .backward = activation_backward};

/* ---- ReLU (max_value, negative_slope, threshold) ---- */

typedef struct relu_state {
  double max_value, negative_slope, threshold;
  int has_max;
} relu_state;

static sp_status relu_configure(sp_layer *layer) {
  relu_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  json_object *maximum = sp_json_member(layer->config, "max_value");
  state->has_max = maximum && !json_object_is_type(maximum, json_type_null);
  SP_TRY(sp_json_get_double(layer->config, "max_value", 0, context, &state->max_value));
  SP_TRY(sp_json_get_double(layer->config, "negative_slope", 0, context, &state->negative_slope));
  SP_TRY(sp_json_get_double(layer->config, "threshold", 0, context, &state->threshold));
  if (state->has_max && state->max_value < 0) return sp_fail(SP_ERROR_FORMAT, "%s: max_value must be >= 0", context);
  if (state->negative_slope < 0) return sp_fail(SP_ERROR_FORMAT, "%s: negative_slope must be >= 0", context);
  return SP_OK;
}

/* keras.activations.relu: x above threshold passes (clipped at max_value); below it the slope applies. */
static sp_status relu_forward(const sp_layer *layer, sp_call *call) {
  const relu_state *s = layer->state;
  const float *x = sp_tensor_floats(call->inputs[0]);
  float *y = sp_tensor_floats(call->outputs[0]);
  for (int64_t i = 0; i < sp_tensor_count(call->inputs[0]); i++) {
    double v = x[i];
    double positive = v > s->threshold ? (s->has_max && v > s->max_value ? s->max_value : v) : 0;
    y[i] = (float)(positive - s->negative_slope * (v < s->threshold ? s->threshold - v : 0));
  }
  return SP_OK;
}

static sp_status relu_backward(const sp_layer *layer, sp_call *call) {
  if (!call->input_gradients[0]) return SP_OK;
  const relu_state *s = layer->state;
  const float *x = sp_tensor_floats(call->inputs[0]), *dy = sp_tensor_floats(call->output_gradients[0]);
  float *dx = sp_tensor_floats(call->input_gradients[0]);
  for (int64_t i = 0; i < sp_tensor_count(call->inputs[0]); i++) {
    double slope = x[i] > s->threshold ? (s->has_max && x[i] >= s->max_value ? 0 : 1) : x[i] < s->threshold ? s->negative_slope : 0;
    dx[i] = (float)(dy[i] * slope);
  }
  return SP_OK;
}

const sp_layer_class sp_relu_class = {
    .class_name = "ReLU", .module = "keras.layers", .state_size = sizeof(relu_state), .configure = relu_configure,
    .compute_shapes = sp_same_shape, .forward = relu_forward, .backward = relu_backward};

/* ---- Dropout (inverted; active only in training) ---- */

typedef struct dropout_state {
  double rate;
} dropout_state;

static sp_status dropout_configure(sp_layer *layer) {
  dropout_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  SP_TRY(sp_json_get_double(layer->config, "rate", -1, context, &state->rate));
  if (state->rate < 0) SP_TRY(sp_json_get_double(layer->config, "p", 0, context, &state->rate)); /* Keras 1 */
  if (state->rate < 0 || state->rate >= 1) return sp_fail(SP_ERROR_FORMAT, "%s: rate must be in [0, 1), found %g", context, state->rate);
  json_object *noise_shape = sp_json_member(layer->config, "noise_shape");
  if (noise_shape && !json_object_is_type(noise_shape, json_type_null))
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: noise_shape is not supported", context);
  return SP_OK;
}

static sp_status dropout_forward(const sp_layer *layer, sp_call *call) {
  const dropout_state *state = layer->state;
  const sp_tensor *x = call->inputs[0];
  int64_t count = sp_tensor_count(x);
  const float *in = sp_tensor_floats(x);
  float *out = sp_tensor_floats(call->outputs[0]);
  if (!call->training || state->rate == 0) {
    memcpy(out, in, (size_t)count * sizeof *out);
    return SP_OK;
  }
  float *mask = sp_call_scratch(call, (size_t)count * sizeof *mask);
  if (!mask) return SP_ERROR_NO_MEMORY;
  float keep_scale = (float)(1.0 / (1.0 - state->rate));
  for (int64_t i = 0; i < count; i++) {
    mask[i] = sp_rng_uniform(call->rng) >= state->rate ? keep_scale : 0.0f;
    out[i] = in[i] * mask[i];
  }
  return SP_OK;
}

static sp_status dropout_backward(const sp_layer *layer, sp_call *call) {
  if (!call->input_gradients[0]) return SP_OK;
  const dropout_state *state = layer->state;
  int64_t count = sp_tensor_count(call->inputs[0]);
  const float *dy = sp_tensor_floats(call->output_gradients[0]);
  float *dx = sp_tensor_floats(call->input_gradients[0]);
  if (state->rate == 0) {
    memcpy(dx, dy, (size_t)count * sizeof *dx);
    return SP_OK;
  }
  const float *mask = call->scratch->data;
  for (int64_t i = 0; i < count; i++) dx[i] = dy[i] * mask[i];
  return SP_OK;
}

const sp_layer_class sp_dropout_class = {
    .class_name = "Dropout", .module = "keras.layers", .state_size = sizeof(dropout_state),
    .configure = dropout_configure, .compute_shapes = sp_same_shape, .forward = dropout_forward,
    .backward = dropout_backward};

/* ---- Flatten and Reshape: the same bytes under another shape ---- */

static sp_status copy_forward(const sp_layer *layer, sp_call *call) {
  memcpy(call->outputs[0]->data, call->inputs[0]->data, call->inputs[0]->size);
  return SP_OK;
}

static sp_status copy_backward(const sp_layer *layer, sp_call *call) {
  if (call->input_gradients[0])
    memcpy(call->input_gradients[0]->data, call->output_gradients[0]->data, call->input_gradients[0]->size);
  return SP_OK;
}

static sp_status flatten_configure(sp_layer *layer) {
  const char *format;
  SP_TRY(sp_json_get_string(layer->config, "data_format", "channels_last", sp_layer_describe(layer), &format));
  if (strcmp(format, "channels_last") != 0)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: data_format '%s' is not supported (channels_last only)", sp_layer_describe(layer), format);
  return SP_OK;
}

static sp_status flatten_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                        int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  int64_t features = 1;
  for (int d = 1; d < inputs[0].rank; d++) features = inputs[0].dims[d] < 0 || features < 0 ? -1 : features * inputs[0].dims[d];
  *output_count = 1;
  outputs[0] = (sp_shape){.rank = 2, .dims = {inputs[0].dims[0], features}};
  return SP_OK;
}

const sp_layer_class sp_flatten_class = {
    .class_name = "Flatten", .module = "keras.layers", .configure = flatten_configure,
    .compute_shapes = flatten_compute_shapes, .forward = copy_forward, .backward = copy_backward};

typedef struct reshape_state {
  int rank;
  int64_t target[SP_MAX_RANK];
} reshape_state;

static sp_status reshape_configure(sp_layer *layer) {
  reshape_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  SP_TRY(sp_json_get_int_list(layer->config, "target_shape", SP_MAX_RANK - 1, context, state->target, &state->rank));
  int unknown = 0;
  for (int i = 0; i < state->rank; i++) {
    if (state->target[i] == -1) unknown++;
    else if (state->target[i] <= 0) return sp_fail(SP_ERROR_FORMAT, "%s: target_shape has dimension %lld", context, (long long)state->target[i]);
  }
  if (unknown > 1) return sp_fail(SP_ERROR_FORMAT, "%s: target_shape may contain at most one -1", context);
  return SP_OK;
}

static sp_status reshape_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                        int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  const reshape_state *state = layer->state;
  int64_t available = 1, known = 1;
  int unknown_index = -1;
  for (int d = 1; d < inputs[0].rank; d++) available = inputs[0].dims[d] < 0 || available < 0 ? -1 : available * inputs[0].dims[d];
  sp_shape out = {.rank = state->rank + 1};
  out.dims[0] = inputs[0].dims[0];
  for (int i = 0; i < state->rank; i++) {
    out.dims[i + 1] = state->target[i];
    if (state->target[i] < 0) unknown_index = i + 1;
    else known *= state->target[i];
  }
  if (unknown_index > 0) {
    out.dims[unknown_index] = available < 0 ? -1 : available / known;
    if (available >= 0 && available % known != 0) unknown_index = -2;
  }
  if (available >= 0 && (unknown_index == -2 || (unknown_index < 0 && known != available))) {
    char got[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s cannot reshape input %s (%lld values per sample) to its target_shape",
                   sp_layer_describe(layer), sp_shape_describe(&inputs[0], got, sizeof got), (long long)available);
  }
  *output_count = 1;
  outputs[0] = out;
  return SP_OK;
}

const sp_layer_class sp_reshape_class = {
    .class_name = "Reshape", .module = "keras.layers", .state_size = sizeof(reshape_state),
    .configure = reshape_configure, .compute_shapes = reshape_compute_shapes, .forward = copy_forward,
    .backward = copy_backward};
