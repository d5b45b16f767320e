/* zero_padding.c — ZeroPadding1D and ZeroPadding2D (channels_last).
 *
 * 'padding' is read in every form Keras accepts: ZeroPadding2D an int (all sides), a pair
 * (symmetric height, symmetric width), a pair of pairs ((top, bottom), (left, right)) or Keras
 * 1's flat (top, bottom, left, right); ZeroPadding1D an int or (left, right). Forward copies
 * each input row into a zeroed output; backward crops the gradient back out.
 */
#include <string.h>

#include "core/json.h"
#include "nn/layers/layers.h"
#include "nn/layers/spatial.h"

typedef struct padding_state {
  sp_window window;    /* a 1×1 window: its geometry gives the input's extents and checks the rank */
  int64_t pads[2][2];  /* [height, width][before, after] */
} padding_state;

static sp_status bad_padding(const sp_layer *layer, const json_object *value) {
  char preview[80];
  const char *forms = ((const padding_state *)layer->state)->window.spatial_rank == 2
                          ? "an integer, (height, width) or ((top, bottom), (left, right))"
                          : "an integer or (left, right)";
  return sp_fail(SP_ERROR_FORMAT, "%s: 'padding' must be %s of non-negative integers, found %s",
                 sp_layer_describe(layer), forms, sp_json_preview(value, preview, sizeof preview));
}

static int read_amount(const json_object *value, int64_t *amount) {
  if (!value || !json_object_is_type(value, json_type_int)) return 0;
  *amount = json_object_get_int64(value);
  return *amount >= 0 && *amount <= 0x7fffffff;
}

/* An int n as (n, n) or a list (before, after). */
static int read_pair(const json_object *value, int64_t pair[2]) {
  if (value && json_object_is_type(value, json_type_array))
    return json_object_array_length(value) == 2 && read_amount(json_object_array_get_idx(value, 0), &pair[0]) &&
           read_amount(json_object_array_get_idx(value, 1), &pair[1]);
  if (!read_amount(value, &pair[0])) return 0;
  pair[1] = pair[0];
  return 1;
}

static int read_padding(const json_object *value, int spatial_rank, int64_t pads[2][2]) {
  if (spatial_rank == 1) return read_pair(value, pads[1]);
  if (!json_object_is_type(value, json_type_array)) return read_pair(value, pads[0]) && read_pair(value, pads[1]);
  size_t length = json_object_array_length(value);
  if (length == 4) /* Keras 1: (top, bottom, left, right) */
    return read_amount(json_object_array_get_idx(value, 0), &pads[0][0]) &&
           read_amount(json_object_array_get_idx(value, 1), &pads[0][1]) &&
           read_amount(json_object_array_get_idx(value, 2), &pads[1][0]) &&
           read_amount(json_object_array_get_idx(value, 3), &pads[1][1]);
  return length == 2 && read_pair(json_object_array_get_idx(value, 0), pads[0]) &&
         read_pair(json_object_array_get_idx(value, 1), pads[1]);
}

static sp_status padding_configure(sp_layer *layer, int spatial_rank) {
  padding_state *state = layer->state;
  state->window = (sp_window){.spatial_rank = spatial_rank, .size = {1, 1}, .strides = {1, 1}, .dilation = {1, 1},
                              .padding = SP_PADDING_VALID, .size_key = "padding"};
  json_object *padding = sp_json_member(layer->config, "padding");
  if (!padding || json_object_is_type(padding, json_type_null)) {
    for (int axis = 2 - spatial_rank; axis < 2; axis++) state->pads[axis][0] = state->pads[axis][1] = 1; /* Keras default */
  } else if (!read_padding(padding, spatial_rank, state->pads)) {
    return bad_padding(layer, padding);
  }
  return sp_spatial_require_channels_last(layer);
}

static sp_status padding1d_configure(sp_layer *layer) { return padding_configure(layer, 1); }
static sp_status padding2d_configure(sp_layer *layer) { return padding_configure(layer, 2); }

static sp_status padded_geometry(const sp_layer *layer, const sp_shape *input, sp_window_geometry *g) {
  const padding_state *state = layer->state;
  SP_TRY(sp_window_geometry_of(layer, &state->window, input, g));
  for (int axis = 0; axis < 2; axis++)
    if (g->input[axis] >= 0) g->output[axis] = g->input[axis] + state->pads[axis][0] + state->pads[axis][1];
  return SP_OK;
}

static sp_status padding_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                        int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  sp_window_geometry g;
  SP_TRY(padded_geometry(layer, &inputs[0], &g));
  *output_count = 1;
  outputs[0] = sp_window_output_shape(&((const padding_state *)layer->state)->window, &g, g.channels);
  return SP_OK;
}

/* Copies every input row between the plain tensor and its place inside the padded one. */
static sp_status copy_rows(const sp_layer *layer, const sp_tensor *plain_tensor, float *plain, float *padded,
                           int into_padded) {
  const padding_state *state = layer->state;
  sp_shape shape = sp_shape_of(plain_tensor);
  sp_window_geometry g;
  SP_TRY(padded_geometry(layer, &shape, &g));
  size_t row_bytes = (size_t)(g.input[1] * g.channels) * sizeof(float);
  for (int64_t n = 0; n < g.batch; n++)
    for (int64_t ih = 0; ih < g.input[0]; ih++) {
      float *inside = padded + ((n * g.output[0] + ih + state->pads[0][0]) * g.output[1] + state->pads[1][0]) * g.channels;
      float *row = plain + (n * g.input[0] + ih) * g.input[1] * g.channels;
      memcpy(into_padded ? inside : row, into_padded ? row : inside, row_bytes);
    }
  return SP_OK;
}

static sp_status padding_forward(const sp_layer *layer, sp_call *call) {
  memset(call->outputs[0]->data, 0, call->outputs[0]->size);
  return copy_rows(layer, call->inputs[0], sp_tensor_floats(call->inputs[0]), sp_tensor_floats(call->outputs[0]), 1);
}

static sp_status padding_backward(const sp_layer *layer, sp_call *call) {
  if (!call->input_gradients[0]) return SP_OK;
  return copy_rows(layer, call->inputs[0], sp_tensor_floats(call->input_gradients[0]),
                   sp_tensor_floats(call->output_gradients[0]), 0);
}

#define PADDING_CLASS(name, configure_function)                                       \
  {.class_name = name, .module = "keras.layers", .state_size = sizeof(padding_state), \
   .configure = configure_function, .compute_shapes = padding_compute_shapes,         \
   .forward = padding_forward, .backward = padding_backward}

const sp_layer_class sp_zero_padding1d_class = PADDING_CLASS("ZeroPadding1D", padding1d_configure);
const sp_layer_class sp_zero_padding2d_class = PADDING_CLASS("ZeroPadding2D", padding2d_configure);
