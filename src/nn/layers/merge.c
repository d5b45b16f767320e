/* merge.c — Add, Subtract, Multiply, Average and Concatenate: layers that merge a list of tensors.
 *
 * The element-wise merges follow Keras's broadcasting between inputs of the same rank: on
 * each axis the sizes must agree or be 1 (a size-1 axis is repeated). Inputs of different
 * ranks, which Keras would first expand, are refused with a message. Concatenate joins
 * inputs of equal rank along `axis` (default -1; the batch axis is refused); the other axes
 * must agree.
 */
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "nn/layers/layers.h"

/* ---- element-wise merges ---- */

typedef enum merge_kind { MERGE_ADD, MERGE_SUBTRACT, MERGE_MULTIPLY, MERGE_AVERAGE } merge_kind;

typedef struct merge_state {
  merge_kind kind;
} merge_state;

static sp_status merge_configure(sp_layer *layer, merge_kind kind) {
  ((merge_state *)layer->state)->kind = kind;
  return SP_OK;
}
static sp_status add_configure(sp_layer *layer) { return merge_configure(layer, MERGE_ADD); }
static sp_status subtract_configure(sp_layer *layer) { return merge_configure(layer, MERGE_SUBTRACT); }
static sp_status multiply_configure(sp_layer *layer) { return merge_configure(layer, MERGE_MULTIPLY); }
static sp_status average_configure(sp_layer *layer) { return merge_configure(layer, MERGE_AVERAGE); }

static sp_status describe_mismatch(const sp_layer *layer, int input_count, const sp_shape *inputs, const char *problem) {
  char text[512] = "", shape[96];
  size_t used = 0;
  for (int i = 0; i < input_count && used < sizeof text; i++)
    used += (size_t)snprintf(text + used, sizeof text - used, "%s%s", i ? ", " : "",
                             sp_shape_describe(&inputs[i], shape, sizeof shape));
  return sp_fail(SP_ERROR_MISMATCH, "%s %s; got input shapes %s", sp_layer_describe(layer), problem, text);
}

static sp_status merge_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                      int *output_count, sp_shape *outputs) {
  merge_kind kind = ((const merge_state *)layer->state)->kind;
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 2, kind == MERGE_SUBTRACT ? 2 : SP_MAX_LAYER_INPUTS));
  sp_shape out = inputs[0];
  for (int i = 1; i < input_count; i++)
    if (inputs[i].rank != out.rank)
      return describe_mismatch(layer, input_count, inputs, "needs inputs of the same rank (inputs of different ranks "
                               "are not supported)");
  for (int d = 0; d < out.rank; d++) {
    int64_t size = 1;
    int unknown = 0;
    for (int i = 0; i < input_count; i++) {
      int64_t dim = inputs[i].dims[d];
      if (dim < 0) unknown = 1;
      else if (dim != 1 && size != 1 && dim != size)
        return describe_mismatch(layer, input_count, inputs, "needs input shapes that are equal or 1 on each axis");
      else if (dim != 1) size = dim;
    }
    out.dims[d] = size == 1 && unknown ? -1 : size;
  }
  *output_count = 1;
  outputs[0] = out;
  return SP_OK;
}

/* Row-major strides of input within the output's index space, 0 where the input is broadcast. */
static void broadcast_strides(const sp_tensor *input, const sp_tensor *output, int64_t *strides) {
  int64_t stride = 1;
  for (int d = output->rank - 1; d >= 0; d--) {
    strides[d] = input->shape[d] == 1 && output->shape[d] != 1 ? 0 : stride;
    stride *= input->shape[d];
  }
}

static int64_t input_offset(const sp_tensor *output, const int64_t *strides, int64_t index) {
  int64_t offset = 0;
  for (int d = output->rank - 1; d >= 0; d--) {
    offset += index % output->shape[d] * strides[d];
    index /= output->shape[d];
  }
  return offset;
}

typedef struct merge_view {
  merge_kind kind;
  const sp_tensor *out;
  int input_count;
  const float *values[SP_MAX_LAYER_INPUTS];
  int64_t strides[SP_MAX_LAYER_INPUTS][SP_MAX_RANK];
  int broadcast; /* some input differs from the output's shape */
} merge_view;

static void view_inputs(const sp_layer *layer, const sp_call *call, merge_view *view) {
  const sp_tensor *out = call->outputs[0];
  view->kind = ((const merge_state *)layer->state)->kind;
  view->out = out;
  view->input_count = call->input_count;
  view->broadcast = 0;
  for (int i = 0; i < call->input_count; i++) {
    view->values[i] = sp_tensor_floats(call->inputs[i]);
    broadcast_strides(call->inputs[i], out, view->strides[i]);
    view->broadcast |= !sp_tensor_same_shape(call->inputs[i], out);
  }
}

static int64_t offset_in(const merge_view *view, const sp_tensor *out, int input, int64_t index) {
  return view->broadcast ? input_offset(out, view->strides[input], index) : index;
}

static float coefficient(merge_kind kind, int input, int input_count) {
  if (kind == MERGE_SUBTRACT) return input == 0 ? 1.0f : -1.0f;
  if (kind == MERGE_AVERAGE) return 1.0f / (float)input_count;
  return 1.0f;
}

/* The product of every input but `skip` at output element index (skip = -1: all of them). */
static float product_at(const merge_view *view, const sp_tensor *out, int skip, int64_t index) {
  float product = 1.0f;
  for (int i = 0; i < view->input_count; i++)
    if (i != skip) product *= view->values[i][offset_in(view, out, i, index)];
  return product;
}

static sp_status merge_forward(const sp_layer *layer, sp_call *call) {
  merge_view view;
  view_inputs(layer, call, &view);
  float *y = sp_tensor_floats(call->outputs[0]);
  for (int64_t e = 0; e < sp_tensor_count(view.out); e++) {
    if (view.kind == MERGE_MULTIPLY) {
      y[e] = product_at(&view, view.out, -1, e);
      continue;
    }
    float sum = 0;
    for (int i = 0; i < view.input_count; i++)
      sum += coefficient(view.kind, i, view.input_count) * view.values[i][offset_in(&view, view.out, i, e)];
    y[e] = sum;
  }
  return SP_OK;
}

/* Each input's gradient sums the output gradient over the axes it was broadcast along. */
static sp_status merge_backward(const sp_layer *layer, sp_call *call) {
  merge_view view;
  view_inputs(layer, call, &view);
  const float *dy = sp_tensor_floats(call->output_gradients[0]);
  for (int i = 0; i < call->input_count; i++) {
    sp_tensor *gradient = call->input_gradients[i];
    if (!gradient) continue;
    float *dx = sp_tensor_floats(gradient), scale = coefficient(view.kind, i, call->input_count);
    int multiply = view.kind == MERGE_MULTIPLY;
    memset(dx, 0, gradient->size);
    for (int64_t e = 0; e < sp_tensor_count(view.out); e++)
      dx[offset_in(&view, view.out, i, e)] += dy[e] * (multiply ? product_at(&view, view.out, i, e) : scale);
  }
  return SP_OK;
}

#define SP_MERGE_CLASS(variable, name, configure_function)                                                       \
  const sp_layer_class variable = {.class_name = name, .module = "keras.layers", .state_size = sizeof(merge_state), \
                                   .configure = configure_function, .compute_shapes = merge_compute_shapes,      \
                                   .forward = merge_forward, .backward = merge_backward}

SP_MERGE_CLASS(sp_add_class, "Add", add_configure);
SP_MERGE_CLASS(sp_subtract_class, "Subtract", subtract_configure);
SP_MERGE_CLASS(sp_multiply_class, "Multiply", multiply_configure);
SP_MERGE_CLASS(sp_average_class, "Average", average_configure);

/* ---- Concatenate ---- */

typedef struct concatenate_state {
  int axis; /* as configured; may be negative */
} concatenate_state;

static sp_status concatenate_configure(sp_layer *layer) {
  concatenate_state *state = layer->state;
  int64_t axis;
  SP_TRY(sp_json_get_int(layer->config, "axis", -1, sp_layer_describe(layer), &axis));
  if (axis < -SP_MAX_RANK || axis >= SP_MAX_RANK)
    return sp_fail(SP_ERROR_FORMAT, "%s: 'axis' %lld is out of range", sp_layer_describe(layer), (long long)axis);
  state->axis = (int)axis;
  return SP_OK;
}

static sp_status concatenate_axis(const sp_layer *layer, int rank, int *axis) {
  const concatenate_state *state = layer->state;
  *axis = state->axis < 0 ? state->axis + rank : state->axis;
  if (*axis < 0 || *axis >= rank)
    return sp_fail(SP_ERROR_MISMATCH, "%s: axis %d is out of range for inputs of rank %d", sp_layer_describe(layer),
                   state->axis, rank);
  if (*axis == 0)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: concatenating along the batch axis (axis %d) is not supported",
                   sp_layer_describe(layer), state->axis);
  return SP_OK;
}

static sp_status concatenate_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                            int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, SP_MAX_LAYER_INPUTS));
  int axis;
  SP_TRY(concatenate_axis(layer, inputs[0].rank, &axis));
  sp_shape out = inputs[0];
  for (int i = 1; i < input_count; i++) {
    if (inputs[i].rank != out.rank)
      return describe_mismatch(layer, input_count, inputs, "needs inputs of the same rank");
    for (int d = 0; d < out.rank; d++) {
      int64_t dim = inputs[i].dims[d];
      if (d == axis) out.dims[d] = out.dims[d] < 0 || dim < 0 ? -1 : out.dims[d] + dim;
      else if (out.dims[d] < 0) out.dims[d] = dim;
      else if (dim >= 0 && dim != out.dims[d])
        return describe_mismatch(layer, input_count, inputs, "needs inputs that agree on every axis but the "
                                 "concatenation axis");
    }
  }
  *output_count = 1;
  outputs[0] = out;
  return SP_OK;
}

/* Copies between the output and its inputs, blocks of (axis size × inner) per outer index. */
static sp_status concatenate_copy(const sp_layer *layer, sp_call *call, int to_output) {
  const sp_tensor *out = call->outputs[0];
  int axis;
  SP_TRY(concatenate_axis(layer, out->rank, &axis));
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; d++) outer *= out->shape[d];
  for (int d = axis + 1; d < out->rank; d++) inner *= out->shape[d];
  int64_t out_block = out->shape[axis] * inner, start = 0;
  float *y = sp_tensor_floats(to_output ? out : call->output_gradients[0]);
  for (int i = 0; i < call->input_count; i++) {
    int64_t block = call->inputs[i]->shape[axis] * inner;
    sp_tensor *part = to_output ? call->inputs[i] : call->input_gradients[i];
    for (int64_t o = 0; part && o < outer; o++) {
      float *whole = y + o * out_block + start, *piece = sp_tensor_floats(part) + o * block;
      memcpy(to_output ? whole : piece, to_output ? piece : whole, (size_t)block * sizeof(float));
    }
    start += block;
  }
  return SP_OK;
}

static sp_status concatenate_forward(const sp_layer *layer, sp_call *call) { return concatenate_copy(layer, call, 1); }
static sp_status concatenate_backward(const sp_layer *layer, sp_call *call) { return concatenate_copy(layer, call, 0); }

const sp_layer_class sp_concatenate_class = {
    .class_name = "Concatenate", .module = "keras.layers", .state_size = sizeof(concatenate_state),
    .configure = concatenate_configure, .compute_shapes = concatenate_compute_shapes,
    .forward = concatenate_forward, .backward = concatenate_backward};
