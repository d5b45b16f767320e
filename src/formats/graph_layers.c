/* graph_layers.c — one emitter per Keras layer class (see graph_layers.h).
 *
 * Ops used, by class:
 *   Dense               MatMul, BiasAdd (Reshape around them for inputs of rank > 2), activation
 *   activations         Relu, Relu6, Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softmax, LogSoftmax, Softplus,
 *                       Softsign, Exp; gelu via Erf (or Tanh), swish via Sigmoid, hard_sigmoid via
 *                       Maximum/Minimum or Relu6, all with Mul/AddV2
 *   ReLU                Relu, Minimum, Greater + Cast (threshold), Mul, Sub
 *   Dropout             Identity
 *   Flatten, Reshape    Reshape with a -1 batch
 *   BatchNormalization  AddV2, Rsqrt, Mul, Sub on the moving statistics (inference)
 *   LayerNormalization  Mean, SquaredDifference, AddV2, Rsqrt, Sub, Mul
 *   Embedding           Cast (non-integer ids, truncating as Keras), GatherV2
 *   Add/Subtract/Multiply/Average/Concatenate   AddV2, Sub, Mul, ConcatV2
 *   Conv1D/2D, DepthwiseConv2D  Conv2D / DepthwiseConv2dNative (NHWC, TF padding, dilations), BiasAdd;
 *                       1-D layers through ExpandDims and Squeeze, 'causal' as Pad then 'valid'
 *   Max/AveragePooling1D/2D  MaxPool / AvgPool;  Global*Pooling  Max / Mean;  ZeroPadding  Pad
 *   SimpleRNN, GRU, LSTM  unrolled over the (fixed) time steps: StridedSlice per gate and step,
 *                       MatMul, BiasAdd, AddV2, Mul, Sub, the cell activations, Pack for sequences
 * Attrs that have defaults are written only when their value differs from the default and the attr
 * is old (Cast's Truncate, GatherV2's batch_dims, the pools' explicit_paddings are left out): TF
 * fills defaults in when it imports a graph, and a TF Serving older than an attr would refuse a
 * NodeDef that mentions it.
 * Recurrent layers are unrolled because TensorFlow's loop ops (While and TensorList) are not
 * "standard ops" a TF1 graph can use without functions; the price is a fixed time dimension in the
 * signature (sp_export_options.sequence_length when the model leaves it unknown).
 */
#include "formats/graph_layers.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "nn/activation.h"
#include "nn/layers/spatial.h"

typedef struct emit_call {
  sp_graph_emitter *emitter;
  sp_graph_builder *graph;
  const sp_layer *layer;
  const char *scope; /* the layer's name: node names are "<scope>/<op>" */
  int input_count;
  const sp_graph_value *inputs;
  int output_count;
  sp_graph_value *outputs; /* shapes filled before the emitter runs */
} emit_call;

typedef sp_status (*emit_function)(emit_call *call);

/* ---- helpers ---- */

static const char *name_in(emit_call *call, const char *op) {
  return sp_graph_printf(call->graph, "%s/%s", call->scope, op);
}

static sp_status unsupported(emit_call *call, const char *what) {
  return sp_graph_builder_fail(call->graph, sp_fail(SP_ERROR_UNSUPPORTED, "%s cannot be exported to a SavedModel: %s",
                                                    sp_layer_describe(call->layer), what));
}

/* The read tensor of the layer's variable `name`, or NULL when the layer has none by that name. */
static const char *variable(emit_call *call, const char *name) {
  for (int i = 0; i < call->layer->variable_count; i++) {
    const sp_variable *candidate = call->layer->variables[i];
    if (strcmp(candidate->name, name) != 0) continue;
    for (size_t v = 0; v < call->emitter->variable_count; v++)
      if (call->emitter->variables[v] == candidate) return call->emitter->variable_reads[v];
  }
  return NULL;
}

static const sp_tensor *variable_value(emit_call *call, const char *name) {
  for (int i = 0; i < call->layer->variable_count; i++)
    if (strcmp(call->layer->variables[i]->name, name) == 0) return call->layer->variables[i]->value;
  return NULL;
}

static const char *unary(emit_call *call, const char *op, const char *x) {
  return sp_graph_op(call->graph, name_in(call, op), op, SP_FLOAT32, x, NULL);
}

static const char *binary(emit_call *call, const char *op, const char *x, const char *y) {
  return sp_graph_op(call->graph, name_in(call, op), op, SP_FLOAT32, x, y, NULL);
}

static const char *scalar(emit_call *call, const char *name, double value) {
  return sp_graph_const_float(call->graph, name_in(call, name), (float)value);
}

static const char *shape_constant(emit_call *call, const char *name, int rank, const int64_t *dims) {
  return sp_graph_const_ints(call->graph, name_in(call, name), SP_INT32, 1, (size_t)rank, dims);
}

static const char *reshape(emit_call *call, const char *x, int rank, const int64_t *dims) {
  const char *shape = shape_constant(call, "Reshape/shape", rank, dims);
  return sp_graph_op(call->graph, name_in(call, "Reshape"), "Reshape", SP_FLOAT32, x, shape, NULL);
}

/* Every dimension but the batch must be known to build a static Reshape. */
static int known_after_batch(const sp_shape *shape) {
  for (int d = 1; d < shape->rank; d++)
    if (shape->dims[d] < 0) return 0;
  return 1;
}

/* A float32 view of an input (the runner casts integer inputs to float32 too). */
static const char *as_float(emit_call *call, const sp_graph_value *value) {
  if (value->dtype == SP_FLOAT32) return value->tensor;
  const char *cast = sp_graph_op(call->graph, name_in(call, "Cast"), "Cast", SP_DTYPE_INVALID, value->tensor, NULL);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "SrcT", value->dtype);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "DstT", SP_FLOAT32);
  return cast;
}

static void set_output(emit_call *call, int index, const char *tensor) {
  call->outputs[index].tensor = tensor;
  call->outputs[index].dtype = SP_FLOAT32;
}

/* ---- activations ---- */

static const char *emit_activation(emit_call *call, const sp_activation *activation, const char *x) {
  sp_graph_builder *graph = call->graph;
  switch (activation->kind) {
    case SP_ACTIVATION_LINEAR: return x;
    case SP_ACTIVATION_RELU: return unary(call, "Relu", x);
    case SP_ACTIVATION_RELU6: return unary(call, "Relu6", x);
    case SP_ACTIVATION_SELU: return unary(call, "Selu", x);
    case SP_ACTIVATION_SIGMOID: return unary(call, "Sigmoid", x);
    case SP_ACTIVATION_TANH: return unary(call, "Tanh", x);
    case SP_ACTIVATION_SOFTMAX: return unary(call, "Softmax", x);
    case SP_ACTIVATION_LOG_SOFTMAX: return unary(call, "LogSoftmax", x);
    case SP_ACTIVATION_SOFTPLUS: return unary(call, "Softplus", x);
    case SP_ACTIVATION_SOFTSIGN: return unary(call, "Softsign", x);
    case SP_ACTIVATION_EXPONENTIAL: return unary(call, "Exp", x);
    case SP_ACTIVATION_SWISH: return binary(call, "Mul", x, unary(call, "Sigmoid", x));
    case SP_ACTIVATION_LEAKY_RELU: {
      const char *y = unary(call, "LeakyRelu", x);
      sp_graph_attr_float(graph, sp_graph_last(graph), "alpha", activation->alpha);
      return y;
    }
    case SP_ACTIVATION_ELU: { /* Elu has alpha 1: relu(x) + alpha·min(elu(x), 0) for others */
      const char *elu = unary(call, "Elu", x);
      if (activation->alpha == 1.0f) return elu;
      const char *negative = binary(call, "Minimum", elu, scalar(call, "zero", 0));
      return binary(call, "AddV2", unary(call, "Relu", x), binary(call, "Mul", negative, scalar(call, "alpha", activation->alpha)));
    }
    case SP_ACTIVATION_GELU: { /* 0.5·x·(1 + erf(x/√2)) */
      const char *erf = unary(call, "Erf", binary(call, "Mul", x, scalar(call, "one_over_sqrt2", 0.7071067811865476)));
      const char *factor = binary(call, "AddV2", erf, scalar(call, "one", 1));
      return binary(call, "Mul", binary(call, "Mul", x, factor), scalar(call, "half", 0.5));
    }
    case SP_ACTIVATION_GELU_APPROXIMATE: { /* 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) */
      const char *cube = binary(call, "Mul", binary(call, "Mul", x, x), x);
      const char *inner = binary(call, "AddV2", x, binary(call, "Mul", cube, scalar(call, "coefficient", 0.044715)));
      const char *t = unary(call, "Tanh", binary(call, "Mul", inner, scalar(call, "sqrt_2_over_pi", 0.7978845608028654)));
      const char *factor = binary(call, "AddV2", t, scalar(call, "one", 1));
      return binary(call, "Mul", binary(call, "Mul", x, factor), scalar(call, "half", 0.5));
    }
    case SP_ACTIVATION_HARD_SIGMOID_KERAS2: { /* clip(0.2x + 0.5, 0, 1) */
      const char *linear = binary(call, "AddV2", binary(call, "Mul", x, scalar(call, "slope", 0.2)), scalar(call, "offset", 0.5));
      return binary(call, "Maximum", binary(call, "Minimum", linear, scalar(call, "one", 1)), scalar(call, "zero", 0));
    }
    case SP_ACTIVATION_HARD_SIGMOID_KERAS3: /* relu6(x + 3) / 6 */
      return binary(call, "Mul", unary(call, "Relu6", binary(call, "AddV2", x, scalar(call, "three", 3))),
                    scalar(call, "one_sixth", 1.0 / 6.0));
    case SP_ACTIVATION_CUSTOM: break;
  }
  char what[160];
  snprintf(what, sizeof what, "activation '%s' is a custom C function, which has no TensorFlow op",
           sp_activation_name(activation));
  unsupported(call, what);
  return NULL;
}

static sp_status activation_of(emit_call *call, const char *key, const char *fallback, sp_activation *activation) {
  json_object *spec = NULL;
  if (!json_object_object_get_ex(call->layer->config, key, &spec) && fallback)
    return sp_activation_from_name(fallback, call->layer->keras_major, sp_layer_describe(call->layer), activation);
  return sp_activation_parse(spec, call->layer->keras_major, sp_layer_describe(call->layer), activation);
}

/* ---- core layers ---- */

static sp_status emit_dense(emit_call *call) {
  const sp_graph_value *input = &call->inputs[0];
  const sp_shape *in = &input->shape;
  const char *kernel = variable(call, "kernel"), *bias = variable(call, "bias");
  const sp_tensor *kernel_value = variable_value(call, "kernel");
  if (!kernel || !kernel_value) return unsupported(call, "it has no kernel");
  int64_t features = kernel_value->shape[0], units = kernel_value->shape[1];
  const char *x = as_float(call, input);
  if (in->rank > 2) {
    if (!known_after_batch(in)) return unsupported(call, "its input has unknown dimensions besides the batch");
    x = reshape(call, x, 2, (int64_t[]){-1, features});
  }
  const char *y = binary(call, "MatMul", x, kernel);
  sp_graph_attr_bool(call->graph, sp_graph_last(call->graph), "transpose_a", 0);
  sp_graph_attr_bool(call->graph, sp_graph_last(call->graph), "transpose_b", 0);
  if (bias) {
    y = binary(call, "BiasAdd", y, bias);
    sp_graph_attr_string(call->graph, sp_graph_last(call->graph), "data_format", "NHWC");
  }
  if (in->rank > 2) {
    sp_shape out = *in;
    out.dims[0] = -1;
    out.dims[out.rank - 1] = units;
    y = reshape(call, y, out.rank, out.dims);
  }
  sp_activation activation;
  SP_TRY(activation_of(call, "activation", NULL, &activation));
  set_output(call, 0, emit_activation(call, &activation, y));
  return SP_OK;
}

static sp_status emit_activation_layer(emit_call *call) {
  sp_activation activation;
  SP_TRY(activation_of(call, "activation", NULL, &activation));
  set_output(call, 0, emit_activation(call, &activation, as_float(call, &call->inputs[0])));
  return SP_OK;
}

/* keras.activations.relu: x above threshold passes (clipped at max_value); below it
 * negative_slope·(x − threshold). */
static sp_status emit_relu_layer(emit_call *call) {
  const char *context = sp_layer_describe(call->layer);
  double max_value = 0, slope, threshold;
  json_object *maximum = sp_json_member(call->layer->config, "max_value");
  int has_max = maximum && !json_object_is_type(maximum, json_type_null);
  if (has_max) SP_TRY(sp_json_get_double(call->layer->config, "max_value", 0, context, &max_value));
  SP_TRY(sp_json_get_double(call->layer->config, "negative_slope", 0, context, &slope));
  SP_TRY(sp_json_get_double(call->layer->config, "threshold", 0, context, &threshold));
  const char *x = as_float(call, &call->inputs[0]), *positive;
  if (threshold == 0) {
    positive = has_max && max_value == 6 ? unary(call, "Relu6", x) : unary(call, "Relu", x);
  } else { /* x·[x > threshold], a step TF has no single op for */
    const char *above = sp_graph_op(call->graph, name_in(call, "Greater"), "Greater", SP_FLOAT32, x,
                                    scalar(call, "threshold", threshold), NULL);
    const char *mask = sp_graph_op(call->graph, name_in(call, "Cast"), "Cast", SP_DTYPE_INVALID, above, NULL);
    sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "SrcT", SP_BOOL);
    sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "DstT", SP_FLOAT32);
      positive = binary(call, "Mul", x, mask);
  }
  if (has_max && !(threshold == 0 && max_value == 6))
    positive = binary(call, "Minimum", positive, scalar(call, "max_value", max_value));
  if (slope != 0) {
    const char *below = unary(call, "Relu", binary(call, "Sub", scalar(call, "threshold", threshold), x));
    positive = binary(call, "Sub", positive, binary(call, "Mul", below, scalar(call, "negative_slope", slope)));
  }
  set_output(call, 0, positive);
  return SP_OK;
}

static sp_status emit_identity(emit_call *call) {
  set_output(call, 0, unary(call, "Identity", as_float(call, &call->inputs[0])));
  return SP_OK;
}

/* Flatten and Reshape: the output shape with a -1 batch. */
static sp_status emit_reshape(emit_call *call) {
  const sp_shape *out = &call->outputs[0].shape;
  if (!known_after_batch(out)) return unsupported(call, "its output shape has unknown dimensions besides the batch");
  sp_shape target = *out;
  target.dims[0] = -1;
  set_output(call, 0, reshape(call, as_float(call, &call->inputs[0]), target.rank, target.dims));
  return SP_OK;
}

/* ---- normalization ---- */

/* A parameter vector over axis of a rank-`rank` input, reshaped to broadcast against it. */
static const char *broadcast_parameter(emit_call *call, const char *parameter, int64_t size, int axis, int rank) {
  if (axis == rank - 1) return parameter;
  int64_t dims[SP_MAX_RANK];
  int count = 0;
  dims[count++] = size;
  for (int d = axis + 1; d < rank; d++) dims[count++] = 1;
  return reshape(call, parameter, count, dims);
}

static sp_status normalization_axes(emit_call *call, int rank, int *axes, int *count) {
  json_object *value = sp_json_member(call->layer->config, "axis");
  int64_t values[SP_MAX_RANK];
  if (!value) {
    values[0] = -1;
    *count = 1;
  } else if (json_object_is_type(value, json_type_int)) {
    values[0] = json_object_get_int64(value);
    *count = 1;
  } else {
    SP_TRY(sp_json_get_int_list(call->layer->config, "axis", SP_MAX_RANK, sp_layer_describe(call->layer), values, count));
  }
  for (int i = 0; i < *count; i++) {
    axes[i] = (int)(values[i] < 0 ? values[i] + rank : values[i]);
    if (axes[i] < 1 || axes[i] >= rank) return unsupported(call, "it normalizes over the batch axis or an axis out of range");
  }
  return SP_OK;
}

static sp_status emit_batch_normalization(emit_call *call) {
  const char *context = sp_layer_describe(call->layer);
  const sp_shape *in = &call->inputs[0].shape;
  int axes[SP_MAX_RANK], axis_count;
  SP_TRY(normalization_axes(call, in->rank, axes, &axis_count));
  if (axis_count != 1) return unsupported(call, "it normalizes over more than one axis");
  double epsilon;
  SP_TRY(sp_json_get_double(call->layer->config, "epsilon", 1e-3, context, &epsilon));
  const char *mean = variable(call, "moving_mean"), *variance = variable(call, "moving_variance");
  const char *gamma = variable(call, "gamma"), *beta = variable(call, "beta");
  const sp_tensor *mean_value = variable_value(call, "moving_mean");
  if (!mean || !variance || !mean_value) return unsupported(call, "it has no moving statistics");
  /* inference: y = x·s + (beta − mean·s), s = gamma / sqrt(variance + epsilon) */
  const char *scale = unary(call, "Rsqrt", binary(call, "AddV2", variance, scalar(call, "epsilon", epsilon)));
  if (gamma) scale = binary(call, "Mul", scale, gamma);
  const char *shift = binary(call, "Mul", mean, scale);
  int64_t channels = mean_value->shape[0];
  const char *x = as_float(call, &call->inputs[0]);
  const char *scaled = binary(call, "Mul", x, broadcast_parameter(call, scale, channels, axes[0], in->rank));
  if (beta) {
    shift = binary(call, "Sub", beta, shift);
    set_output(call, 0, binary(call, "AddV2", scaled, broadcast_parameter(call, shift, channels, axes[0], in->rank)));
  } else {
    set_output(call, 0, binary(call, "Sub", scaled, broadcast_parameter(call, shift, channels, axes[0], in->rank)));
  }
  return SP_OK;
}

static sp_status emit_layer_normalization(emit_call *call) {
  const char *context = sp_layer_describe(call->layer);
  const sp_shape *in = &call->inputs[0].shape;
  int axes[SP_MAX_RANK], axis_count;
  SP_TRY(normalization_axes(call, in->rank, axes, &axis_count));
  int flags[SP_MAX_RANK] = {0};
  for (int i = 0; i < axis_count; i++) flags[axes[i]] = 1;
  int first = in->rank - axis_count;
  for (int d = first; d < in->rank; d++)
    if (!flags[d]) return unsupported(call, "its axes are not the trailing axes of its input");
  double epsilon;
  int rms_scaling;
  SP_TRY(sp_json_get_double(call->layer->config, "epsilon", 1e-3, context, &epsilon));
  SP_TRY(sp_json_get_bool(call->layer->config, "rms_scaling", 0, context, &rms_scaling));
  int64_t reduction[SP_MAX_RANK];
  for (int i = 0; i < axis_count; i++) reduction[i] = first + i;
  const char *x = as_float(call, &call->inputs[0]);
  const char *indices = sp_graph_const_ints(call->graph, name_in(call, "moments/reduction_indices"), SP_INT32, 1,
                                            (size_t)axis_count, reduction);
  const char *mean = binary(call, "Mean", x, indices);
  sp_graph_attr_bool(call->graph, sp_graph_last(call->graph), "keep_dims", 1);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "Tidx", SP_INT32);
  const char *variance = binary(call, "Mean", binary(call, "SquaredDifference", x, mean), indices);
  sp_graph_attr_bool(call->graph, sp_graph_last(call->graph), "keep_dims", 1);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "Tidx", SP_INT32);
  const char *inverse = unary(call, "Rsqrt", binary(call, "AddV2", variance, scalar(call, "epsilon", epsilon)));
  const char *y = binary(call, "Mul", rms_scaling ? x : binary(call, "Sub", x, mean), inverse);
  const char *gamma = variable(call, "gamma"), *beta = variable(call, "beta");
  if (gamma) y = binary(call, "Mul", y, gamma);
  if (beta) y = binary(call, "AddV2", y, beta);
  set_output(call, 0, y);
  return SP_OK;
}

/* ---- embedding ---- */

static sp_status emit_embedding(emit_call *call) {
  const sp_graph_value *ids = &call->inputs[0];
  const char *table = variable(call, "embeddings");
  if (!table) return unsupported(call, "it has no embeddings");
  const char *indices = ids->tensor;
  sp_dtype index_type = ids->dtype;
  if (index_type != SP_INT32 && index_type != SP_INT64) { /* Keras casts ids to int32, truncating */
    indices = sp_graph_op(call->graph, name_in(call, "Cast"), "Cast", SP_DTYPE_INVALID, ids->tensor, NULL);
    sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "SrcT", index_type);
    sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "DstT", SP_INT32);
      index_type = SP_INT32;
  }
  const char *axis = sp_graph_const_ints(call->graph, name_in(call, "GatherV2/axis"), SP_INT32, 0, 1, (int64_t[]){0});
  const char *y = sp_graph_op(call->graph, name_in(call, "GatherV2"), "GatherV2", SP_DTYPE_INVALID, table, indices,
                              axis, NULL);
  Tensorflow__NodeDef *node = sp_graph_last(call->graph);
  sp_graph_attr_type(call->graph, node, "Tparams", SP_FLOAT32);
  sp_graph_attr_type(call->graph, node, "Tindices", index_type);
  sp_graph_attr_type(call->graph, node, "Taxis", SP_INT32);
  set_output(call, 0, y);
  return SP_OK;
}

/* ---- merge layers ---- */

static const char *merge_chain(emit_call *call, const char *op) {
  const char *sum = as_float(call, &call->inputs[0]);
  for (int i = 1; i < call->input_count; i++) sum = binary(call, op, sum, as_float(call, &call->inputs[i]));
  return sum;
}

static sp_status emit_add(emit_call *call) {
  set_output(call, 0, merge_chain(call, "AddV2"));
  return SP_OK;
}

static sp_status emit_subtract(emit_call *call) {
  set_output(call, 0, merge_chain(call, "Sub"));
  return SP_OK;
}

static sp_status emit_multiply(emit_call *call) {
  set_output(call, 0, merge_chain(call, "Mul"));
  return SP_OK;
}

static sp_status emit_average(emit_call *call) {
  const char *sum = merge_chain(call, "AddV2");
  set_output(call, 0, binary(call, "Mul", sum, scalar(call, "reciprocal", 1.0 / call->input_count)));
  return SP_OK;
}

static sp_status emit_concatenate(emit_call *call) {
  int64_t axis;
  SP_TRY(sp_json_get_int(call->layer->config, "axis", -1, sp_layer_describe(call->layer), &axis));
  if (axis < 0) axis += call->inputs[0].shape.rank;
  Tensorflow__NodeDef *node = sp_graph_node(call->graph, name_in(call, "concat"), "ConcatV2");
  for (int i = 0; i < call->input_count; i++) sp_graph_input(call->graph, node, as_float(call, &call->inputs[i]));
  sp_graph_input(call->graph, node, sp_graph_const_ints(call->graph, name_in(call, "concat/axis"), SP_INT32, 0, 1, &axis));
  sp_graph_attr_int(call->graph, node, "N", call->input_count);
  sp_graph_attr_type(call->graph, node, "T", SP_FLOAT32);
  sp_graph_attr_type(call->graph, node, "Tidx", SP_INT32);
  set_output(call, 0, node ? node->name : NULL);
  return SP_OK;
}

/* ---- recurrent layers, unrolled ---- */

typedef enum cell_kind { CELL_SIMPLE, CELL_GRU, CELL_LSTM } cell_kind;

typedef struct rnn {
  emit_call *call;
  cell_kind kind;
  int gates;
  int64_t units, steps;
  int reset_after, go_backwards;
  sp_activation activation, recurrent_activation;
  const char *step_inputs[4];   /* per gate: (batch, steps, units) = x·W_g + b_g */
  const char *recurrent[4];     /* per gate: U_g (units, units) */
  const char *recurrent_bias[4]; /* GRU reset_after: the candidate's recurrent bias (index 2) */
} rnn;

/* columns [gate·units, (gate+1)·units) of a rank-2 tensor (or of row `row` of a (2, n) bias). */
static const char *gate_slice(emit_call *call, const char *tensor, int rank, int row, int gate, int64_t units) {
  int64_t begin[2] = {row, gate * units}, end[2] = {row + 1, (gate + 1) * units}, strides[2] = {1, 1};
  if (rank == 1) begin[0] = gate * units, end[0] = (gate + 1) * units;
  Tensorflow__NodeDef *node = sp_graph_node(call->graph, name_in(call, "strided_slice"), "StridedSlice");
  sp_graph_input(call->graph, node, tensor);
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/begin", rank, begin));
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/end", rank, end));
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/strides", rank, strides));
  sp_graph_attr_type(call->graph, node, "T", SP_FLOAT32);
  sp_graph_attr_type(call->graph, node, "Index", SP_INT32);
  /* rank 2 with a row: keep every row of a kernel (begin/end masks on axis 0) or shrink to the row */
  sp_graph_attr_int(call->graph, node, "begin_mask", rank == 2 && row < 0 ? 1 : 0);
  sp_graph_attr_int(call->graph, node, "end_mask", rank == 2 && row < 0 ? 1 : 0);
  sp_graph_attr_int(call->graph, node, "ellipsis_mask", 0);
  sp_graph_attr_int(call->graph, node, "new_axis_mask", 0);
  sp_graph_attr_int(call->graph, node, "shrink_axis_mask", rank == 2 && row >= 0 ? 1 : 0);
  return node ? node->name : NULL;
}

/* Time step t of a (batch, steps, units) tensor as (batch, units). */
static const char *time_slice(emit_call *call, const char *tensor, int64_t t) {
  int64_t begin[3] = {0, t, 0}, end[3] = {0, t + 1, 0}, strides[3] = {1, 1, 1};
  Tensorflow__NodeDef *node = sp_graph_node(call->graph, name_in(call, "strided_slice"), "StridedSlice");
  sp_graph_input(call->graph, node, tensor);
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/begin", 3, begin));
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/end", 3, end));
  sp_graph_input(call->graph, node, shape_constant(call, "strided_slice/strides", 3, strides));
  sp_graph_attr_type(call->graph, node, "T", SP_FLOAT32);
  sp_graph_attr_type(call->graph, node, "Index", SP_INT32);
  sp_graph_attr_int(call->graph, node, "begin_mask", 5);
  sp_graph_attr_int(call->graph, node, "end_mask", 5);
  sp_graph_attr_int(call->graph, node, "ellipsis_mask", 0);
  sp_graph_attr_int(call->graph, node, "new_axis_mask", 0);
  sp_graph_attr_int(call->graph, node, "shrink_axis_mask", 2);
  return node ? node->name : NULL;
}

static sp_status rnn_configure(emit_call *call, cell_kind kind, rnn *cell) {
  const char *context = sp_layer_describe(call->layer);
  json_object *config = call->layer->config;
  memset(cell, 0, sizeof *cell);
  cell->call = call;
  cell->kind = kind;
  cell->gates = kind == CELL_SIMPLE ? 1 : kind == CELL_GRU ? 3 : 4;
  SP_TRY(activation_of(call, "activation", "tanh", &cell->activation));
  if (kind != CELL_SIMPLE) {
    if (!sp_json_member(config, "recurrent_activation") && sp_json_member(config, "inner_activation"))
      SP_TRY(activation_of(call, "inner_activation", "sigmoid", &cell->recurrent_activation));
    else
      SP_TRY(activation_of(call, "recurrent_activation", "sigmoid", &cell->recurrent_activation));
  }
  SP_TRY(sp_json_get_bool(config, "go_backwards", 0, context, &cell->go_backwards));
  const sp_tensor *recurrent = variable_value(call, "recurrent_kernel");
  const sp_tensor *bias = variable_value(call, "bias");
  if (!recurrent || !variable(call, "kernel")) return unsupported(call, "it has no kernel");
  cell->units = recurrent->shape[0];
  cell->reset_after = kind == CELL_GRU && bias && bias->rank == 2;
  const sp_shape *in = &call->inputs[0].shape;
  cell->steps = in->dims[1];
  if (in->rank != 3 || cell->steps <= 0)
    return unsupported(call, "unrolling needs a known number of time steps; give the export a sequence length "
                             "(sp_export_options.sequence_length, savepoint convert --sequence-length)");
  if (in->dims[2] <= 0) return unsupported(call, "its input has an unknown feature dimension");
  return SP_OK;
}

/* x·W_g + b_g for every gate, over all time steps at once. */
static void rnn_project_inputs(rnn *cell) {
  emit_call *call = cell->call;
  const sp_shape *in = &call->inputs[0].shape;
  const char *kernel = variable(call, "kernel"), *bias = variable(call, "bias"), *recurrent = variable(call, "recurrent_kernel");
  const char *flat = reshape(call, as_float(call, &call->inputs[0]), 2, (int64_t[]){-1, in->dims[2]});
  for (int g = 0; g < cell->gates; g++) {
    const char *projected = binary(call, "MatMul", flat, gate_slice(call, kernel, 2, -1, g, cell->units));
    if (bias) {
      projected = binary(call, "BiasAdd", projected, gate_slice(call, bias, cell->reset_after ? 2 : 1, 0, g, cell->units));
      if (cell->reset_after && g < 2) /* GRU's recurrent z and r biases only add */
        projected = binary(call, "BiasAdd", projected, gate_slice(call, bias, 2, 1, g, cell->units));
    }
    cell->step_inputs[g] = reshape(call, projected, 3, (int64_t[]){-1, cell->steps, cell->units});
    cell->recurrent[g] = gate_slice(call, recurrent, 2, -1, g, cell->units);
  }
  if (cell->reset_after && bias) cell->recurrent_bias[2] = gate_slice(call, bias, 2, 1, 2, cell->units);
}

/* x_t,g + h·U_g (h NULL at the first step, where the state is zero). */
static const char *gate_input(rnn *cell, int gate, int64_t t, const char *h) {
  const char *x = time_slice(cell->call, cell->step_inputs[gate], t);
  return h ? binary(cell->call, "AddV2", x, binary(cell->call, "MatMul", h, cell->recurrent[gate])) : x;
}

static const char *rnn_step(rnn *cell, int64_t t, const char *h, const char **c) {
  emit_call *call = cell->call;
  if (cell->kind == CELL_SIMPLE) return emit_activation(call, &cell->activation, gate_input(cell, 0, t, h));
  if (cell->kind == CELL_LSTM) {
    const char *i = emit_activation(call, &cell->recurrent_activation, gate_input(cell, 0, t, h));
    const char *f = emit_activation(call, &cell->recurrent_activation, gate_input(cell, 1, t, h));
    const char *g = emit_activation(call, &cell->activation, gate_input(cell, 2, t, h));
    const char *o = emit_activation(call, &cell->recurrent_activation, gate_input(cell, 3, t, h));
    const char *ig = binary(call, "Mul", i, g);
    *c = *c ? binary(call, "AddV2", binary(call, "Mul", f, *c), ig) : ig;
    return binary(call, "Mul", o, emit_activation(call, &cell->activation, *c));
  }
  const char *z = emit_activation(call, &cell->recurrent_activation, gate_input(cell, 0, t, h));
  const char *r = emit_activation(call, &cell->recurrent_activation, gate_input(cell, 1, t, h));
  const char *candidate = time_slice(call, cell->step_inputs[2], t);
  if (cell->reset_after) { /* x_h + r ⊙ (h·U_h + b_rh) */
    const char *term = h ? binary(call, "MatMul", h, cell->recurrent[2]) : NULL;
    if (cell->recurrent_bias[2]) term = term ? binary(call, "BiasAdd", term, cell->recurrent_bias[2]) : cell->recurrent_bias[2];
    if (term) candidate = binary(call, "AddV2", candidate, binary(call, "Mul", r, term));
  } else if (h) { /* x_h + (r ⊙ h)·U_h */
    candidate = binary(call, "AddV2", candidate, binary(call, "MatMul", binary(call, "Mul", r, h), cell->recurrent[2]));
  }
  const char *hh = emit_activation(call, &cell->activation, candidate);
  const char *keep = binary(call, "Mul", binary(call, "Sub", scalar(call, "one", 1), z), hh);
  return h ? binary(call, "AddV2", binary(call, "Mul", z, h), keep) : keep;
}

static sp_status emit_recurrent(emit_call *call, cell_kind kind) {
  rnn cell;
  SP_TRY(rnn_configure(call, kind, &cell));
  const char *context = sp_layer_describe(call->layer);
  int return_sequences, return_state;
  SP_TRY(sp_json_get_bool(call->layer->config, "return_sequences", 0, context, &return_sequences));
  SP_TRY(sp_json_get_bool(call->layer->config, "return_state", 0, context, &return_state));
  rnn_project_inputs(&cell);
  const char *h = NULL, *c = NULL;
  Tensorflow__NodeDef *pack = return_sequences ? sp_graph_node(call->graph, name_in(call, "stack"), "Pack") : NULL;
  for (int64_t s = 0; s < cell.steps && sp_graph_builder_status(call->graph) == SP_OK; s++) {
    h = rnn_step(&cell, cell.go_backwards ? cell.steps - 1 - s : s, h, &c);
    if (pack) sp_graph_input(call->graph, pack, h);
  }
  if (pack) {
    sp_graph_attr_int(call->graph, pack, "N", cell.steps);
    sp_graph_attr_type(call->graph, pack, "T", SP_FLOAT32);
    sp_graph_attr_int(call->graph, pack, "axis", 1);
  }
  int next = 0;
  set_output(call, next++, pack ? pack->name : h);
  if (return_state) {
    set_output(call, next++, h);
    if (kind == CELL_LSTM) set_output(call, next++, c);
  }
  return SP_OK;
}

static sp_status emit_simple_rnn(emit_call *call) { return emit_recurrent(call, CELL_SIMPLE); }
static sp_status emit_gru(emit_call *call) { return emit_recurrent(call, CELL_GRU); }
static sp_status emit_lstm(emit_call *call) { return emit_recurrent(call, CELL_LSTM); }


/* ---- convolutions, pooling and padding (NHWC; 1-D layers run as 2-D with height 1) ---- */

/* [1, a, b, 1] for a 2-D window, [1, 1, b, 1] for a 1-D one (values[0] is 1 then). */
static void nhwc(const int64_t values[2], int64_t out[4]) {
  out[0] = 1, out[1] = values[0], out[2] = values[1], out[3] = 1;
}

static const char *expand_dims(emit_call *call, const char *x, int64_t axis) {
  const char *dim = sp_graph_const_ints(call->graph, name_in(call, "ExpandDims/dim"), SP_INT32, 0, 1, &axis);
  const char *y = sp_graph_op(call->graph, name_in(call, "ExpandDims"), "ExpandDims", SP_FLOAT32, x, dim, NULL);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "Tdim", SP_INT32);
  return y;
}

static const char *squeeze_height(emit_call *call, const char *x) {
  const char *y = unary(call, "Squeeze", x);
  sp_graph_attr_int_list(call->graph, sp_graph_last(call->graph), "squeeze_dims", 1, (int64_t[]){1});
  return y;
}

/* Pads the spatial axes of a (batch, width, channels) or (batch, height, width, channels) tensor;
 * pads[0] is the height's (before, after), pads[1] the width's. */
static const char *pad(emit_call *call, const char *x, int rank, const int64_t pads[2][2]) {
  sp_tensor *table = sp_tensor_new(SP_INT32, 2, (int64_t[]){rank, 2});
  if (!table) {
    sp_graph_builder_fail(call->graph, SP_ERROR_NO_MEMORY);
    return NULL;
  }
  int32_t *rows = table->data; /* zero-filled: no padding of the batch and channels */
  for (int axis = 1; axis < rank - 1; axis++) {
    const int64_t *pair = pads[rank == 3 ? 1 : axis - 1];
    rows[2 * axis] = (int32_t)pair[0];
    rows[2 * axis + 1] = (int32_t)pair[1];
  }
  Tensorflow__TensorProto *proto = sp_graph_tensor_proto(call->graph, table);
  sp_tensor_free(table);
  const char *paddings = sp_graph_const(call->graph, name_in(call, "Pad/paddings"), proto);
  const char *y = sp_graph_op(call->graph, name_in(call, "Pad"), "Pad", SP_FLOAT32, x, paddings, NULL);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "Tpaddings", SP_INT32);
  return y;
}

static void window_attrs(emit_call *call, const int64_t strides[2], const char *padding) {
  int64_t values[4];
  nhwc(strides, values);
  Tensorflow__NodeDef *node = sp_graph_last(call->graph);
  sp_graph_attr_int_list(call->graph, node, "strides", 4, values);
  sp_graph_attr_string(call->graph, node, "padding", padding);
  sp_graph_attr_string(call->graph, node, "data_format", "NHWC");
}

static sp_status emit_convolution(emit_call *call) {
  const sp_layer *layer = call->layer;
  int spatial_rank = call->inputs[0].shape.rank - 2, depthwise = strcmp(layer->class->class_name, "DepthwiseConv2D") == 0;
  /* tf.keras names a depthwise kernel depthwise_kernel, Keras 3 kernel */
  const char *kernel_name = depthwise && variable(call, "depthwise_kernel") ? "depthwise_kernel" : "kernel";
  const char *kernel = variable(call, kernel_name), *bias = variable(call, "bias");
  const sp_tensor *kernel_value = variable_value(call, kernel_name);
  if (!kernel || !kernel_value) return unsupported(call, "it has no kernel");
  int64_t strides[2], dilation[2];
  sp_padding_mode mode;
  SP_TRY(sp_spatial_read_tuple(layer, sp_spatial_key(layer, "strides", spatial_rank == 1 ? "subsample_length" : "subsample"),
                               spatial_rank, 1, strides));
  SP_TRY(sp_spatial_read_tuple(layer, "dilation_rate", spatial_rank, 1, dilation));
  SP_TRY(sp_spatial_read_padding(layer, spatial_rank == 1 && !depthwise, &mode));
  const char *x = as_float(call, &call->inputs[0]);
  if (mode == SP_PADDING_CAUSAL) { /* all of the window's reach before the first step, then 'valid' */
    int64_t pads[2][2] = {{0, 0}, {dilation[1] * (kernel_value->shape[0] - 1), 0}};
    x = pad(call, x, 3, pads);
  }
  if (spatial_rank == 1) {
    x = expand_dims(call, x, 1);
    kernel = expand_dims(call, kernel, 0);
  }
  const char *y = binary(call, depthwise ? "DepthwiseConv2dNative" : "Conv2D", x, kernel);
  window_attrs(call, strides, mode == SP_PADDING_SAME ? "SAME" : "VALID");
  int64_t dilations[4];
  nhwc(dilation, dilations);
  Tensorflow__NodeDef *node = sp_graph_last(call->graph);
  sp_graph_attr_int_list(call->graph, node, "dilations", 4, dilations);
  if (!depthwise) sp_graph_attr_bool(call->graph, node, "use_cudnn_on_gpu", 1);
  if (spatial_rank == 1) y = squeeze_height(call, y);
  if (bias) {
    y = binary(call, "BiasAdd", y, bias);
    sp_graph_attr_string(call->graph, sp_graph_last(call->graph), "data_format", "NHWC");
  }
  sp_activation activation;
  SP_TRY(activation_of(call, "activation", NULL, &activation));
  set_output(call, 0, emit_activation(call, &activation, y));
  return SP_OK;
}

/* MaxPooling1D/2D and AveragePooling1D/2D. */
static sp_status emit_pooling(emit_call *call) {
  const sp_layer *layer = call->layer;
  int spatial_rank = call->inputs[0].shape.rank - 2, max = strncmp(layer->class->class_name, "Max", 3) == 0;
  int64_t size[2], strides[2];
  const char *size_key = spatial_rank == 1 ? sp_spatial_key(layer, "pool_size", "pool_length") : "pool_size";
  const char *strides_key = spatial_rank == 1 ? sp_spatial_key(layer, "strides", "stride") : "strides";
  SP_TRY(sp_spatial_read_tuple(layer, size_key, spatial_rank, 2, size));
  json_object *given = sp_json_member(layer->config, strides_key);
  if (given && !json_object_is_type(given, json_type_null))
    SP_TRY(sp_spatial_read_tuple(layer, strides_key, spatial_rank, 1, strides));
  else
    memcpy(strides, size, sizeof strides); /* Keras: strides default to pool_size */
  sp_padding_mode mode;
  SP_TRY(sp_spatial_read_padding(layer, 0, &mode));
  const char *x = as_float(call, &call->inputs[0]);
  if (spatial_rank == 1) x = expand_dims(call, x, 1);
  const char *y = unary(call, max ? "MaxPool" : "AvgPool", x);
  int64_t window[4];
  nhwc(size, window);
  sp_graph_attr_int_list(call->graph, sp_graph_last(call->graph), "ksize", 4, window);
  window_attrs(call, strides, mode == SP_PADDING_SAME ? "SAME" : "VALID");
  set_output(call, 0, spatial_rank == 1 ? squeeze_height(call, y) : y);
  return SP_OK;
}

/* GlobalMaxPooling1D/2D and GlobalAveragePooling1D/2D: Max or Mean over the spatial axes. */
static sp_status emit_global_pooling(emit_call *call) {
  const sp_layer *layer = call->layer;
  int spatial_rank = call->inputs[0].shape.rank - 2, keepdims;
  SP_TRY(sp_json_get_bool(layer->config, "keepdims", 0, sp_layer_describe(layer), &keepdims));
  const char *op = strncmp(layer->class->class_name, "GlobalMax", 9) == 0 ? "Max" : "Mean";
  const char *axes = sp_graph_const_ints(call->graph, name_in(call, "reduction_indices"), SP_INT32, 1,
                                         (size_t)spatial_rank, (int64_t[]){1, 2});
  const char *y = binary(call, op, as_float(call, &call->inputs[0]), axes);
  sp_graph_attr_bool(call->graph, sp_graph_last(call->graph), "keep_dims", keepdims);
  sp_graph_attr_type(call->graph, sp_graph_last(call->graph), "Tidx", SP_INT32);
  set_output(call, 0, y);
  return SP_OK;
}

/* ZeroPadding1D/2D: the pads are what separates the output shape from the input's, split as the
 * config says (int: both sides; pair: before/after, or height/width; pair of pairs). */
static int read_pad_pair(json_object *value, int64_t pair[2]) {
  if (json_object_is_type(value, json_type_int)) {
    pair[0] = pair[1] = json_object_get_int64(value);
    return pair[0] >= 0;
  }
  if (!json_object_is_type(value, json_type_array) || json_object_array_length(value) != 2) return 0;
  json_object *first = json_object_array_get_idx(value, 0), *second = json_object_array_get_idx(value, 1);
  if (!json_object_is_type(first, json_type_int) || !json_object_is_type(second, json_type_int)) return 0;
  pair[0] = json_object_get_int64(first);
  pair[1] = json_object_get_int64(second);
  return pair[0] >= 0 && pair[1] >= 0;
}

static sp_status emit_zero_padding(emit_call *call) {
  int spatial_rank = call->inputs[0].shape.rank - 2;
  int64_t pads[2][2] = {{0, 0}, {0, 0}};
  json_object *value = sp_json_member(call->layer->config, "padding");
  int ok = 1;
  if (!value || json_object_is_type(value, json_type_null)) {
    pads[1][0] = pads[1][1] = 1;
    if (spatial_rank == 2) pads[0][0] = pads[0][1] = 1;
  } else if (spatial_rank == 1) {
    ok = read_pad_pair(value, pads[1]);
  } else if (json_object_is_type(value, json_type_int)) {
    ok = read_pad_pair(value, pads[0]) && read_pad_pair(value, pads[1]);
  } else if (json_object_is_type(value, json_type_array) && json_object_array_length(value) == 2) {
    ok = read_pad_pair(json_object_array_get_idx(value, 0), pads[0]) &&
         read_pad_pair(json_object_array_get_idx(value, 1), pads[1]);
  } else {
    ok = 0;
  }
  if (!ok) return unsupported(call, "its 'padding' is not in a form the exporter reads");
  set_output(call, 0, pad(call, as_float(call, &call->inputs[0]), spatial_rank + 2, pads));
  return SP_OK;
}

/* ---- dispatch ---- */

static const struct {
  const char *class_name;
  emit_function emit;
} emitters[] = {
    {"Dense", emit_dense},
    {"Activation", emit_activation_layer},
    {"ReLU", emit_relu_layer},
    {"Dropout", emit_identity},
    {"Flatten", emit_reshape},
    {"Reshape", emit_reshape},
    {"BatchNormalization", emit_batch_normalization},
    {"LayerNormalization", emit_layer_normalization},
    {"Embedding", emit_embedding},
    {"Add", emit_add},
    {"Subtract", emit_subtract},
    {"Multiply", emit_multiply},
    {"Average", emit_average},
    {"Concatenate", emit_concatenate},
    {"Conv1D", emit_convolution},
    {"Conv2D", emit_convolution},
    {"DepthwiseConv2D", emit_convolution},
    {"Convolution1D", emit_convolution},
    {"Convolution2D", emit_convolution},
    {"MaxPooling1D", emit_pooling},
    {"MaxPooling2D", emit_pooling},
    {"AveragePooling1D", emit_pooling},
    {"AveragePooling2D", emit_pooling},
    {"GlobalMaxPooling1D", emit_global_pooling},
    {"GlobalMaxPooling2D", emit_global_pooling},
    {"GlobalAveragePooling1D", emit_global_pooling},
    {"GlobalAveragePooling2D", emit_global_pooling},
    {"ZeroPadding1D", emit_zero_padding},
    {"ZeroPadding2D", emit_zero_padding},
    {"SimpleRNN", emit_simple_rnn},
    {"GRU", emit_gru},
    {"LSTM", emit_lstm},
};

static emit_function find_emitter(const char *class_name) {
  for (size_t i = 0; i < sizeof emitters / sizeof *emitters; i++)
    if (strcmp(emitters[i].class_name, class_name) == 0) return emitters[i].emit;
  return NULL;
}

int sp_graph_can_emit(const char *class_name) { return find_emitter(class_name) != NULL; }

sp_status sp_graph_emit_layer(sp_graph_emitter *emitter, const sp_layer *layer, int input_count,
                              const sp_graph_value *inputs, int *output_count, sp_graph_value *outputs) {
  emit_function emit = find_emitter(layer->class->class_name);
  if (!emit) {
    char list[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < sizeof emitters / sizeof *emitters && used < sizeof list; i++)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", emitters[i].class_name);
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s cannot be exported to a SavedModel: no TensorFlow ops are defined for "
                   "class '%s' (exportable classes: %s)", sp_layer_describe(layer), layer->class->class_name, list);
  }
  sp_shape shapes[SP_MAX_LAYER_INPUTS], out[SP_MAX_LAYER_OUTPUTS];
  for (int i = 0; i < input_count; i++) shapes[i] = inputs[i].shape;
  SP_TRY(layer->class->compute_shapes(layer, input_count, shapes, output_count, out));
  for (int i = 0; i < *output_count; i++) outputs[i] = (sp_graph_value){NULL, SP_FLOAT32, out[i]};
  emit_call call = {emitter, emitter->graph, layer, layer->name, input_count, inputs, *output_count, outputs};
  sp_status status = emit(&call);
  if (status == SP_OK) status = sp_graph_builder_status(emitter->graph);
  for (int i = 0; status == SP_OK && i < *output_count; i++)
    if (!outputs[i].tensor) status = sp_fail(SP_ERROR_INTERNAL, "%s: output %d was not emitted", sp_layer_describe(layer), i);
  return status;
}
