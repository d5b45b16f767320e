/* conv.c — Conv1D, Conv2D and DepthwiseConv2D (and Keras 1's Convolution1D / Convolution2D).
 *
 * channels_last only; a 1-D convolution runs as a 2-D one of height 1 (nn/layers/spatial.h).
 * Forward is im2col + OpenBLAS: the "columns" matrix holds one row per output position with
 * that position's receptive field (zeros over the padding), and columns × kernel is already the
 * channels_last output, because Keras's kernel (kh, kw, in, out) is the (kh·kw·in) × out matrix.
 * DepthwiseConv2D is the same with one group per input channel: its columns are laid out
 * channel-major and each channel multiplies its (kh·kw) × depth_multiplier kernel slice.
 * Samples go through in chunks so the columns stay near COLUMN_BUDGET floats whatever the batch.
 *
 * Backward rebuilds the columns from the forward input (the runner keeps it) instead of saving
 * them; scratch holds only the pre-activation (when the activation's derivative needs it), the
 * activation's delta and one chunk of columns. Forward never writes to the layer.
 */
#include <cblas.h>
#include <limits.h>
#include <string.h>

#include "core/json.h"
#include "nn/activation.h"
#include "nn/initializer.h"
#include "nn/layers/layers.h"
#include "nn/layers/spatial.h"

enum { COLUMN_BUDGET = 1 << 22 }; /* floats of im2col per GEMM chunk (16 MiB) */

typedef struct conv_state {
  sp_window window;
  int depthwise;
  int64_t filters; /* Conv: output channels; DepthwiseConv2D: depth_multiplier */
  int use_bias;
  sp_activation activation;
  sp_variable *kernel, *bias;
} conv_state;

/* ---- configuration ---- */

static sp_status read_kernel_size(sp_layer *layer, sp_window *window) {
  const char *key = "kernel_size";
  if (!sp_json_member(layer->config, key) && window->spatial_rank == 1) key = sp_spatial_key(layer, key, "filter_length");
  if (!sp_json_member(layer->config, key) && window->spatial_rank == 2 && sp_json_member(layer->config, "nb_row")) {
    int64_t rows[2], columns[2]; /* Keras 1 Convolution2D */
    SP_TRY(sp_spatial_read_tuple(layer, "nb_row", 1, 0, rows));
    SP_TRY(sp_spatial_read_tuple(layer, "nb_col", 1, 0, columns));
    window->size[0] = rows[1];
    window->size[1] = columns[1];
    window->size_key = "nb_row/nb_col";
    return SP_OK;
  }
  window->size_key = key;
  return sp_spatial_read_tuple(layer, key, window->spatial_rank, 0, window->size);
}

static sp_status read_output_width(sp_layer *layer, conv_state *state) {
  const char *context = sp_layer_describe(layer);
  const char *key = state->depthwise ? "depth_multiplier" : sp_spatial_key(layer, "filters", "nb_filter");
  SP_TRY(sp_json_get_int(layer->config, key, state->depthwise ? 1 : -1, context, &state->filters));
  if (state->filters <= 0 || state->filters > INT_MAX)
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be a positive integer, found %lld", context, key,
                   (long long)state->filters);
  int64_t groups;
  SP_TRY(sp_json_get_int(layer->config, "groups", 1, context, &groups));
  if (groups != 1)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: 'groups' %lld is not supported (only groups=1)", context, (long long)groups);
  return SP_OK;
}

static sp_status conv_configure(sp_layer *layer, int spatial_rank, int depthwise) {
  conv_state *state = layer->state;
  sp_window *window = &state->window;
  const char *context = sp_layer_describe(layer);
  state->depthwise = depthwise;
  window->spatial_rank = spatial_rank;
  SP_TRY(read_output_width(layer, state));
  SP_TRY(read_kernel_size(layer, window));
  const char *strides = sp_spatial_key(layer, "strides", spatial_rank == 1 ? "subsample_length" : "subsample");
  SP_TRY(sp_spatial_read_tuple(layer, strides, spatial_rank, 1, window->strides));
  SP_TRY(sp_spatial_read_tuple(layer, "dilation_rate", spatial_rank, 1, window->dilation));
  if ((window->strides[0] > 1 || window->strides[1] > 1) && (window->dilation[0] > 1 || window->dilation[1] > 1))
    return sp_fail(SP_ERROR_FORMAT, "%s: '%s' > 1 together with 'dilation_rate' > 1 is not allowed (Keras refuses it too)",
                   context, strides);
  SP_TRY(sp_spatial_read_padding(layer, spatial_rank == 1 && !depthwise, &window->padding));
  SP_TRY(sp_spatial_require_channels_last(layer));
  SP_TRY(sp_json_get_bool(layer->config, sp_spatial_key(layer, "use_bias", "bias"), 1, context, &state->use_bias));
  SP_TRY(sp_activation_parse(sp_json_member(layer->config, "activation"), layer->keras_major, context, &state->activation));
  SP_TRY(sp_initializer_check(sp_json_member(layer->config, depthwise ? "depthwise_initializer" : "kernel_initializer"),
                              context));
  return sp_initializer_check(sp_json_member(layer->config, "bias_initializer"), context);
}

static sp_status conv1d_configure(sp_layer *layer) { return conv_configure(layer, 1, 0); }
static sp_status conv2d_configure(sp_layer *layer) { return conv_configure(layer, 2, 0); }
static sp_status depthwise_conv2d_configure(sp_layer *layer) { return conv_configure(layer, 2, 1); }

/* ---- shapes and variables ---- */

static int64_t output_channels(const conv_state *state, int64_t input_channels) {
  if (!state->depthwise) return state->filters;
  return input_channels < 0 ? -1 : input_channels * state->filters;
}

/* Once built, the input's channels must be the kernel's. */
static sp_status check_channels(const sp_layer *layer, const sp_shape *input, int64_t channels) {
  const sp_tensor *kernel = ((const conv_state *)layer->state)->kernel->value;
  if (channels == kernel->shape[kernel->rank - 2]) return SP_OK;
  char got[96];
  return sp_fail(SP_ERROR_MISMATCH, "%s expects %lld input channels (last axis), got input shape %s",
                 sp_layer_describe(layer), (long long)kernel->shape[kernel->rank - 2],
                 sp_shape_describe(input, got, sizeof got));
}

static sp_status conv_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs, int *output_count,
                                     sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  const conv_state *state = layer->state;
  sp_window_geometry geometry;
  SP_TRY(sp_window_geometry_of(layer, &state->window, &inputs[0], &geometry));
  if (state->kernel) SP_TRY(check_channels(layer, &inputs[0], geometry.channels));
  *output_count = 1;
  outputs[0] = sp_window_output_shape(&state->window, &geometry, output_channels(state, geometry.channels));
  return SP_OK;
}

static sp_status conv_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  conv_state *state = layer->state;
  const sp_window *window = &state->window;
  int64_t channels = inputs[0].dims[inputs[0].rank - 1];
  if (channels <= 0 || channels > INT_MAX)
    return sp_fail(SP_ERROR_MISMATCH, "%s: the channels (last axis) of its input must be known to build it",
                   sp_layer_describe(layer));
  /* Keras shapes: Conv1D (k, in, filters), Conv2D (kh, kw, in, filters), Depthwise (kh, kw, in, multiplier). */
  int64_t shape[4], *next = shape;
  if (window->spatial_rank == 2) *next++ = window->size[0];
  *next++ = window->size[1];
  *next++ = channels;
  *next++ = state->filters;
  int rank = (int)(next - shape);
  if (state->depthwise) {
    /* tf.keras names it depthwise_kernel, Keras 3 kernel; both read depthwise_* config keys. */
    const char *name = layer->keras_major >= 3 ? "kernel" : "depthwise_kernel";
    SP_TRY(sp_layer_add_variable(layer, name, rank, shape, "depthwise", "glorot_uniform", 1, &state->kernel));
  } else {
    SP_TRY(sp_layer_add_variable(layer, "kernel", rank, shape, "kernel", "glorot_uniform", 1, &state->kernel));
  }
  int64_t bias_length = output_channels(state, channels);
  if (state->use_bias) SP_TRY(sp_layer_add_variable(layer, "bias", 1, &bias_length, "bias", "zeros", 1, &state->bias));
  return SP_OK;
}

/* ---- the im2col plan for one input ---- */

typedef struct conv_plan {
  sp_window_geometry geometry;
  int64_t positions;        /* kh·kw */
  int64_t patch;            /* kh·kw·in: the length of one columns row */
  int64_t out_channels;
  int64_t groups;           /* 1, or the input channels for DepthwiseConv2D */
  int64_t rows_per_sample;  /* out_h·out_w */
  int64_t sample_input, sample_output; /* floats per sample */
  int64_t out_count;        /* floats of the whole output */
  int64_t chunk;            /* samples per GEMM */
  int identity;             /* 1×1 window, stride 1, no padding: the input is its own columns */
} conv_plan;

static sp_status plan_for(const sp_layer *layer, const sp_tensor *input, conv_plan *plan) {
  const conv_state *state = layer->state;
  const sp_window *window = &state->window;
  sp_shape shape = sp_shape_of(input);
  SP_TRY(sp_window_geometry_of(layer, window, &shape, &plan->geometry));
  const sp_window_geometry *g = &plan->geometry;
  SP_TRY(check_channels(layer, &shape, g->channels));
  /* Sizes are at most INT32_MAX each (spatial.h, build), so these products cannot overflow. */
  plan->positions = window->size[0] * window->size[1];
  plan->rows_per_sample = g->output[0] * g->output[1];
  plan->out_channels = output_channels(state, g->channels);
  if (plan->positions > INT_MAX || plan->rows_per_sample > INT_MAX || plan->out_channels > INT_MAX ||
      plan->positions * g->channels > INT_MAX) {
    char described[96];
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: input %s is too large for one matrix product", sp_layer_describe(layer),
                   sp_shape_describe(&shape, described, sizeof described));
  }
  plan->patch = plan->positions * g->channels;
  plan->groups = state->depthwise ? g->channels : 1;
  plan->sample_input = g->input[0] * g->input[1] * g->channels;
  plan->sample_output = plan->rows_per_sample * plan->out_channels;
  plan->out_count = g->batch * plan->sample_output;
  plan->identity = plan->positions == 1 && window->strides[0] == 1 && window->strides[1] == 1 &&
                   g->pad_before[0] == 0 && g->pad_before[1] == 0;
  /* As many samples as fit COLUMN_BUDGET, at least one, and never more GEMM rows than an int holds. */
  int64_t rows = plan->rows_per_sample ? plan->rows_per_sample : 1;
  plan->chunk = COLUMN_BUDGET / (rows * (plan->identity ? 1 : plan->patch));
  if (plan->chunk > INT_MAX / rows) plan->chunk = INT_MAX / rows;
  if (plan->chunk < 1) plan->chunk = 1;
  return SP_OK;
}

static int64_t column_floats(const conv_plan *plan) {
  return plan->identity ? 0 : plan->chunk * plan->rows_per_sample * plan->patch;
}

/* Samples in the chunk that starts at sample first. */
static int64_t chunk_at(const conv_plan *plan, int64_t first) {
  int64_t left = plan->geometry.batch - first;
  return left < plan->chunk ? left : plan->chunk;
}

/* Floats at the start of scratch that keep the pre-activation for backward: none when the
 * activation's derivative can be computed from its output. */
static int64_t saved_floats(const conv_state *state, const conv_plan *plan) {
  return sp_activation_needs_input(&state->activation) ? plan->out_count : 0;
}

/* Moves receptive fields between samples [0, count) of input and the columns matrix. With
 * input_gradient NULL it gathers (columns ← input, zeros over padding); otherwise it scatters
 * the adjoint (input_gradient += columns, padding dropped). Row (n, oh, ow) of columns holds
 * element (position, channel) at position·position_stride + channel·channel_stride. */
static void move_columns(const sp_window *window, const conv_plan *plan, int64_t count, const float *input,
                         float *input_gradient, float *columns) {
  const sp_window_geometry *g = &plan->geometry;
  int64_t channel_stride = plan->groups == 1 ? 1 : plan->positions;
  int64_t position_stride = plan->groups == 1 ? g->channels : 1;
  for (int64_t n = 0; n < count; n++)
    for (int64_t oh = 0; oh < g->output[0]; oh++)
      for (int64_t ow = 0; ow < g->output[1]; ow++) {
        float *row = columns + ((n * g->output[0] + oh) * g->output[1] + ow) * plan->patch;
        for (int64_t kh = 0; kh < window->size[0]; kh++) {
          int64_t ih = oh * window->strides[0] - g->pad_before[0] + kh * window->dilation[0];
          for (int64_t kw = 0; kw < window->size[1]; kw++) {
            int64_t iw = ow * window->strides[1] - g->pad_before[1] + kw * window->dilation[1];
            float *cell = row + (kh * window->size[1] + kw) * position_stride;
            int inside = ih >= 0 && ih < g->input[0] && iw >= 0 && iw < g->input[1];
            int64_t offset = ((n * g->input[0] + ih) * g->input[1] + iw) * g->channels;
            for (int64_t c = 0; c < g->channels; c++) {
              if (input_gradient && inside) input_gradient[offset + c] += cell[c * channel_stride];
              else if (!input_gradient) cell[c * channel_stride] = inside ? input[offset + c] : 0.0f;
            }
          }
        }
      }
}

/* The three products, one GEMM per group. Per group g the columns hold k = patch/groups entries at
 * offset g·k, and the kernel and the outputs n = out_channels/groups at offset g·n (row stride
 * out_channels for both, which is how Keras lays out the depthwise kernel). */
static void multiply_forward(const conv_plan *p, int rows, const float *columns, const float *kernel, float beta,
                             float *out) {
  int k = (int)(p->patch / p->groups), n = (int)(p->out_channels / p->groups), ld = (int)p->out_channels;
  for (int64_t g = 0; g < p->groups; g++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, n, k, 1.0f, columns + g * k, (int)p->patch,
                kernel + g * n, ld, beta, out + g * n, ld);
}

static void multiply_kernel_gradient(const conv_plan *p, int rows, const float *columns, const float *delta,
                                     float *kernel_gradient) {
  int k = (int)(p->patch / p->groups), n = (int)(p->out_channels / p->groups), ld = (int)p->out_channels;
  for (int64_t g = 0; g < p->groups; g++)
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, k, n, rows, 1.0f, columns + g * k, (int)p->patch,
                delta + g * n, ld, 1.0f, kernel_gradient + g * n, ld);
}

static void multiply_column_gradient(const conv_plan *p, int rows, const float *delta, const float *kernel,
                                     float *column_gradient) {
  int k = (int)(p->patch / p->groups), n = (int)(p->out_channels / p->groups), ld = (int)p->out_channels;
  for (int64_t g = 0; g < p->groups; g++)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, k, n, 1.0f, delta + g * n, ld, kernel + g * n, ld, 0.0f,
                column_gradient + g * k, (int)p->patch);
}

/* ---- forward and backward ---- */

static sp_status conv_forward(const sp_layer *layer, sp_call *call) {
  const conv_state *state = layer->state;
  conv_plan plan;
  SP_TRY(plan_for(layer, call->inputs[0], &plan));
  int64_t saved = call->training ? saved_floats(state, &plan) : 0;
  float *scratch = sp_call_scratch(call, (size_t)(saved + column_floats(&plan) + 1) * sizeof(float));
  if (!scratch) return SP_ERROR_NO_MEMORY;
  const float *x = sp_tensor_floats(call->inputs[0]), *kernel = sp_tensor_floats(state->kernel->value);
  const float *bias = state->bias ? sp_tensor_floats(state->bias->value) : NULL;
  float *out = sp_tensor_floats(call->outputs[0]), *columns = scratch + saved;
  for (int64_t row = 0; bias && row < plan.out_count / plan.out_channels; row++)
    memcpy(out + row * plan.out_channels, bias, (size_t)plan.out_channels * sizeof *out);
  for (int64_t first = 0; first < plan.geometry.batch; first += plan.chunk) {
    int64_t count = chunk_at(&plan, first);
    const float *input = x + first * plan.sample_input;
    if (!plan.identity) move_columns(&state->window, &plan, count, input, NULL, columns);
    multiply_forward(&plan, (int)(count * plan.rows_per_sample), plan.identity ? input : columns, kernel,
                     bias ? 1.0f : 0.0f, out + first * plan.sample_output);
  }
  if (saved) memcpy(scratch, out, (size_t)saved * sizeof *out);
  sp_activation_forward(&state->activation, out, out, plan.out_count, plan.out_channels);
  return SP_OK;
}

static void add_bias_gradient(const float *delta, int64_t rows, int64_t width, float *gradient) {
  for (int64_t r = 0; r < rows; r++)
    for (int64_t c = 0; c < width; c++) gradient[c] += delta[r * width + c];
}

/* Scratch in backward: [saved pre-activation][delta][columns][column gradients]. */
static sp_status conv_backward(const sp_layer *layer, sp_call *call) {
  const conv_state *state = layer->state;
  conv_plan plan;
  SP_TRY(plan_for(layer, call->inputs[0], &plan));
  sp_tensor *kernel_gradient = sp_variable_gradient(state->kernel);
  sp_tensor *bias_gradient = state->bias ? sp_variable_gradient(state->bias) : NULL;
  float *dx = call->input_gradients[0] ? sp_tensor_floats(call->input_gradients[0]) : NULL;
  int64_t saved = saved_floats(state, &plan), out_count = plan.out_count;
  int64_t columns_size = kernel_gradient ? column_floats(&plan) : 0, gradients_size = dx ? column_floats(&plan) : 0;
  float *scratch = sp_call_scratch(call, (size_t)(saved + out_count + columns_size + gradients_size + 1) * sizeof(float));
  if (!scratch) return SP_ERROR_NO_MEMORY;
  float *delta = scratch + saved, *columns = delta + out_count, *column_gradient = columns + columns_size;
  sp_activation_backward(&state->activation, saved ? scratch : NULL, sp_tensor_floats(call->outputs[0]),
                         sp_tensor_floats(call->output_gradients[0]), delta, out_count, plan.out_channels);
  if (bias_gradient)
    add_bias_gradient(delta, out_count / plan.out_channels, plan.out_channels, sp_tensor_floats(bias_gradient));
  if (dx) memset(dx, 0, call->input_gradients[0]->size);
  const float *x = sp_tensor_floats(call->inputs[0]), *kernel = sp_tensor_floats(state->kernel->value);
  for (int64_t first = 0; first < plan.geometry.batch; first += plan.chunk) {
    int64_t count = chunk_at(&plan, first);
    int rows = (int)(count * plan.rows_per_sample);
    const float *input = x + first * plan.sample_input, *delta_chunk = delta + first * plan.sample_output;
    if (kernel_gradient) {
      if (!plan.identity) move_columns(&state->window, &plan, count, input, NULL, columns);
      multiply_kernel_gradient(&plan, rows, plan.identity ? input : columns, delta_chunk, sp_tensor_floats(kernel_gradient));
    }
    if (dx) {
      float *dx_chunk = dx + first * plan.sample_input;
      multiply_column_gradient(&plan, rows, delta_chunk, kernel, plan.identity ? dx_chunk : column_gradient);
      if (!plan.identity) move_columns(&state->window, &plan, count, NULL, dx_chunk, column_gradient);
    }
  }
  return SP_OK;
}

#define CONV_CLASS(name, configure_function)                                                    \
  {.class_name = name, .module = "keras.layers", .state_size = sizeof(conv_state),              \
   .configure = configure_function, .compute_shapes = conv_compute_shapes, .build = conv_build, \
   .forward = conv_forward, .backward = conv_backward}

const sp_layer_class sp_conv1d_class = CONV_CLASS("Conv1D", conv1d_configure);
const sp_layer_class sp_conv2d_class = CONV_CLASS("Conv2D", conv2d_configure);
const sp_layer_class sp_depthwise_conv2d_class = CONV_CLASS("DepthwiseConv2D", depthwise_conv2d_configure);
/* Keras 1 class names; their configs read through the Keras 1 keys above and are kept as read. */
const sp_layer_class sp_convolution1d_class = CONV_CLASS("Convolution1D", conv1d_configure);
const sp_layer_class sp_convolution2d_class = CONV_CLASS("Convolution2D", conv2d_configure);
