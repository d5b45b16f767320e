/* pooling.c — MaxPooling1D/2D, AveragePooling1D/2D and the global max/average poolings.
 *
 * TensorFlow semantics, channels_last: 'same' padding is split with the odd element after
 * (nn/layers/spatial.h), padded positions never take part (max ignores them, average divides
 * by the number of real elements in the window, as tf.nn.avg_pool does), and the gradient of
 * a max goes to the first largest element of its window in row-major scan order (TF's and
 * torch's tie rule). A global pooling is a pooling whose window is the whole input, so both
 * share one walker. Backward recomputes the arg-max from the forward input instead of saving it.
 */
#include <string.h>

#include "core/json.h"
#include "nn/layers/layers.h"
#include "nn/layers/spatial.h"

/* ---- the shared walker ---- */

/* Offset, within one sample, of the largest element of channel c under the window span. */
static int64_t window_argmax(const sp_window_geometry *g, const float *sample, sp_window_span span, int64_t c) {
  int64_t best = (span.row_first * g->input[1] + span.column_first) * g->channels + c;
  for (int64_t ih = span.row_first; ih < span.row_end; ih++)
    for (int64_t iw = span.column_first; iw < span.column_end; iw++) {
      int64_t offset = (ih * g->input[1] + iw) * g->channels + c;
      if (sample[offset] > sample[best]) best = offset;
    }
  return best;
}

/* Forward (out given) or backward (input_gradient given, zeroed, and output_gradient) of one window. */
static void average_window(const sp_window_geometry *g, sp_window_span span, const float *sample, float *out,
                           const float *output_gradient, float *input_gradient) {
  float count = (float)((span.row_end - span.row_first) * (span.column_end - span.column_first));
  if (out) memset(out, 0, (size_t)g->channels * sizeof *out);
  for (int64_t ih = span.row_first; ih < span.row_end; ih++)
    for (int64_t iw = span.column_first; iw < span.column_end; iw++) {
      int64_t offset = (ih * g->input[1] + iw) * g->channels;
      for (int64_t c = 0; c < g->channels; c++) {
        if (out) out[c] += sample[offset + c];
        else input_gradient[offset + c] += output_gradient[c] / count;
      }
    }
  if (out)
    for (int64_t c = 0; c < g->channels; c++) out[c] /= count;
}

/* Runs every window: forward writes y; backward (dy, dx given) adds into dx. */
static void pool_run(const sp_window *window, const sp_window_geometry *g, int max, const float *x, float *y,
                     const float *dy, float *dx) {
  int64_t sample_size = g->input[0] * g->input[1] * g->channels;
  for (int64_t n = 0; n < g->batch; n++) {
    const float *sample = x + n * sample_size;
    float *sample_gradient = dx ? dx + n * sample_size : NULL;
    for (int64_t oh = 0; oh < g->output[0]; oh++)
      for (int64_t ow = 0; ow < g->output[1]; ow++) {
        sp_window_span span = sp_window_span_at(window, g, oh, ow);
        int64_t out = ((n * g->output[0] + oh) * g->output[1] + ow) * g->channels;
        if (!max) {
          average_window(g, span, sample, dx ? NULL : y + out, dx ? dy + out : NULL, sample_gradient);
          continue;
        }
        for (int64_t c = 0; c < g->channels; c++) {
          int64_t at = window_argmax(g, sample, span, c);
          if (dx) sample_gradient[at] += dy[out + c];
          else y[out + c] = sample[at];
        }
      }
  }
}

static sp_status run_pass(const sp_layer *layer, sp_call *call, const sp_window *window, const sp_window_geometry *g,
                          int max, int backward) {
  const float *x = sp_tensor_floats(call->inputs[0]);
  if (!backward) {
    pool_run(window, g, max, x, sp_tensor_floats(call->outputs[0]), NULL, NULL);
    return SP_OK;
  }
  if (!call->input_gradients[0]) return SP_OK;
  memset(call->input_gradients[0]->data, 0, call->input_gradients[0]->size);
  pool_run(window, g, max, x, NULL, sp_tensor_floats(call->output_gradients[0]),
           sp_tensor_floats(call->input_gradients[0]));
  return SP_OK;
}

/* ---- MaxPooling / AveragePooling ---- */

typedef struct pool_state {
  sp_window window;
} pool_state;

static sp_status pool_configure(sp_layer *layer, int spatial_rank) {
  sp_window *window = &((pool_state *)layer->state)->window;
  window->spatial_rank = spatial_rank;
  window->dilation[0] = window->dilation[1] = 1;
  /* Keras 1 spelled the 1-D keys pool_length and stride. */
  window->size_key = spatial_rank == 1 ? sp_spatial_key(layer, "pool_size", "pool_length") : "pool_size";
  SP_TRY(sp_spatial_read_tuple(layer, window->size_key, spatial_rank, 2, window->size));
  const char *strides = spatial_rank == 1 ? sp_spatial_key(layer, "strides", "stride") : "strides";
  json_object *given = sp_json_member(layer->config, strides);
  if (given && !json_object_is_type(given, json_type_null))
    SP_TRY(sp_spatial_read_tuple(layer, strides, spatial_rank, 1, window->strides));
  else
    memcpy(window->strides, window->size, sizeof window->strides); /* Keras: strides default to pool_size */
  SP_TRY(sp_spatial_read_padding(layer, 0, &window->padding));
  return sp_spatial_require_channels_last(layer);
}

static sp_status pool1d_configure(sp_layer *layer) { return pool_configure(layer, 1); }
static sp_status pool2d_configure(sp_layer *layer) { return pool_configure(layer, 2); }

static sp_status pool_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs, int *output_count,
                                     sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  const sp_window *window = &((const pool_state *)layer->state)->window;
  sp_window_geometry g;
  SP_TRY(sp_window_geometry_of(layer, window, &inputs[0], &g));
  *output_count = 1;
  outputs[0] = sp_window_output_shape(window, &g, g.channels);
  return SP_OK;
}

static sp_status pool_pass(const sp_layer *layer, sp_call *call, int max, int backward) {
  const sp_window *window = &((const pool_state *)layer->state)->window;
  sp_shape shape = sp_shape_of(call->inputs[0]);
  sp_window_geometry g;
  SP_TRY(sp_window_geometry_of(layer, window, &shape, &g));
  return run_pass(layer, call, window, &g, max, backward);
}

static sp_status max_pool_forward(const sp_layer *layer, sp_call *call) { return pool_pass(layer, call, 1, 0); }
static sp_status max_pool_backward(const sp_layer *layer, sp_call *call) { return pool_pass(layer, call, 1, 1); }
static sp_status average_pool_forward(const sp_layer *layer, sp_call *call) { return pool_pass(layer, call, 0, 0); }
static sp_status average_pool_backward(const sp_layer *layer, sp_call *call) { return pool_pass(layer, call, 0, 1); }

#define POOL_CLASS(name, configure_function, forward_function, backward_function)  \
  {.class_name = name, .module = "keras.layers", .state_size = sizeof(pool_state), \
   .configure = configure_function, .compute_shapes = pool_compute_shapes,         \
   .forward = forward_function, .backward = backward_function}

const sp_layer_class sp_max_pooling1d_class = POOL_CLASS("MaxPooling1D", pool1d_configure, max_pool_forward, max_pool_backward);
const sp_layer_class sp_max_pooling2d_class = POOL_CLASS("MaxPooling2D", pool2d_configure, max_pool_forward, max_pool_backward);
const sp_layer_class sp_average_pooling1d_class =
    POOL_CLASS("AveragePooling1D", pool1d_configure, average_pool_forward, average_pool_backward);
const sp_layer_class sp_average_pooling2d_class =
    POOL_CLASS("AveragePooling2D", pool2d_configure, average_pool_forward, average_pool_backward);

/* ---- GlobalMaxPooling / GlobalAveragePooling (keepdims) ---- */

typedef struct global_pool_state {
  int spatial_rank;
  int keepdims;
} global_pool_state;

static sp_status global_pool_configure(sp_layer *layer, int spatial_rank) {
  global_pool_state *state = layer->state;
  state->spatial_rank = spatial_rank;
  SP_TRY(sp_json_get_bool(layer->config, "keepdims", 0, sp_layer_describe(layer), &state->keepdims));
  return sp_spatial_require_channels_last(layer);
}

static sp_status global_pool1d_configure(sp_layer *layer) { return global_pool_configure(layer, 1); }
static sp_status global_pool2d_configure(sp_layer *layer) { return global_pool_configure(layer, 2); }

/* The window covering the whole input, and its geometry (one output position). */
static sp_status global_geometry(const sp_layer *layer, const sp_shape *input, sp_window *window, sp_window_geometry *g) {
  *window = (sp_window){.spatial_rank = ((const global_pool_state *)layer->state)->spatial_rank, .size = {1, 1},
                        .strides = {1, 1}, .dilation = {1, 1}, .padding = SP_PADDING_VALID, .size_key = "pool_size"};
  SP_TRY(sp_window_geometry_of(layer, window, input, g));
  if (g->input[0] == 0 || g->input[1] == 0) {
    char shape[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s cannot pool the empty input %s", sp_layer_describe(layer),
                   sp_shape_describe(input, shape, sizeof shape));
  }
  for (int axis = 0; axis < 2; axis++) {
    window->size[axis] = g->input[axis];
    g->output[axis] = 1;
  }
  return SP_OK;
}

static sp_status global_pool_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                            int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  sp_window window;
  sp_window_geometry g;
  SP_TRY(global_geometry(layer, &inputs[0], &window, &g));
  *output_count = 1;
  if (((const global_pool_state *)layer->state)->keepdims) outputs[0] = sp_window_output_shape(&window, &g, g.channels);
  else outputs[0] = (sp_shape){.rank = 2, .dims = {g.batch, g.channels}};
  return SP_OK;
}

static sp_status global_pool_pass(const sp_layer *layer, sp_call *call, int max, int backward) {
  sp_shape shape = sp_shape_of(call->inputs[0]);
  sp_window window;
  sp_window_geometry g;
  SP_TRY(global_geometry(layer, &shape, &window, &g));
  return run_pass(layer, call, &window, &g, max, backward);
}

static sp_status global_max_forward(const sp_layer *layer, sp_call *call) { return global_pool_pass(layer, call, 1, 0); }
static sp_status global_max_backward(const sp_layer *layer, sp_call *call) { return global_pool_pass(layer, call, 1, 1); }
static sp_status global_average_forward(const sp_layer *layer, sp_call *call) { return global_pool_pass(layer, call, 0, 0); }
static sp_status global_average_backward(const sp_layer *layer, sp_call *call) {
  return global_pool_pass(layer, call, 0, 1);
}

#define GLOBAL_POOL_CLASS(name, configure_function, forward_function, backward_function)  \
  {.class_name = name, .module = "keras.layers", .state_size = sizeof(global_pool_state), \
   .configure = configure_function, .compute_shapes = global_pool_compute_shapes,         \
   .forward = forward_function, .backward = backward_function}

const sp_layer_class sp_global_max_pooling1d_class =
    GLOBAL_POOL_CLASS("GlobalMaxPooling1D", global_pool1d_configure, global_max_forward, global_max_backward);
const sp_layer_class sp_global_max_pooling2d_class =
    GLOBAL_POOL_CLASS("GlobalMaxPooling2D", global_pool2d_configure, global_max_forward, global_max_backward);
const sp_layer_class sp_global_average_pooling1d_class =
    GLOBAL_POOL_CLASS("GlobalAveragePooling1D", global_pool1d_configure, global_average_forward, global_average_backward);
const sp_layer_class sp_global_average_pooling2d_class =
    GLOBAL_POOL_CLASS("GlobalAveragePooling2D", global_pool2d_configure, global_average_forward, global_average_backward);
