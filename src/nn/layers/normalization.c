/* normalization.c — BatchNormalization and LayerNormalization with Keras semantics.
 *
 * Both normalize groups of elements to zero mean and unit variance (the biased variance,
 * as Keras 3's ops.moments computes it), then scale by gamma and shift by beta:
 *   BatchNormalization: one group per channel of `axis`, across the batch and every other
 *     axis. In training (and only when the layer is trainable, as in Keras) it uses the
 *     batch statistics and updates moving = moving·momentum + batch·(1 − momentum); at
 *     inference it uses the moving statistics. Variables: gamma, beta (trainable, when
 *     scale/center), moving_mean, moving_variance (non-trainable), in Keras's order.
 *   LayerNormalization: one group per sample and position of the axes not normalized;
 *     gamma and beta span the normalized axes. rms_scaling (deprecated in Keras) is the
 *     Keras definition: x · rsqrt(var + epsilon) · gamma, without centring.
 * One engine serves both: a per-sample map from element to group and to parameter, with
 * BatchNormalization's groups shared across the batch.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "core/memory.h"
#include "nn/initializer.h"
#include "nn/layers/layers.h"

/* ---- axes ---- */

/* Reads key as an integer or a list of integers (Keras 2 saves BatchNormalization's axis as [3]). */
static sp_status parse_axes(const sp_layer *layer, const char *key, int *axes, int *count) {
  const char *context = sp_layer_describe(layer);
  json_object *value = sp_json_member(layer->config, key);
  if (!value) {
    axes[0] = -1;
    *count = 1;
    return SP_OK;
  }
  if (json_object_is_type(value, json_type_int)) {
    axes[0] = json_object_get_int(value);
    *count = 1;
    return SP_OK;
  }
  int64_t values[SP_MAX_RANK];
  SP_TRY(sp_json_get_int_list(layer->config, key, SP_MAX_RANK, context, values, count));
  if (*count < 1) return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must name at least one axis", context, key);
  for (int i = 0; i < *count; i++) axes[i] = (int)values[i];
  return SP_OK;
}

/* Resolves negative axes against rank; refuses the batch axis, axes out of range and repeats. */
static sp_status resolve_axes(const sp_layer *layer, int rank, const int *axes, int count, int *resolved) {
  const char *context = sp_layer_describe(layer);
  for (int i = 0; i < count; i++) {
    int axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (axis < 0 || axis >= rank)
      return sp_fail(SP_ERROR_MISMATCH, "%s: axis %d is out of range for inputs of rank %d", context, axes[i], rank);
    if (axis == 0)
      return sp_fail(SP_ERROR_UNSUPPORTED, "%s: axis %d is the batch axis, which cannot be normalized over here",
                     context, axes[i]);
    for (int j = 0; j < i; j++)
      if (resolved[j] == axis) return sp_fail(SP_ERROR_FORMAT, "%s: axis %d is listed twice", context, axes[i]);
    resolved[i] = axis;
  }
  return SP_OK;
}

/* ---- the shared engine ---- */

typedef struct norm_plan {
  int64_t batch, sample;     /* sample = elements per batch row */
  int64_t groups;            /* total groups */
  int64_t groups_per_sample; /* 0: groups are shared across the batch (BatchNormalization) */
  int64_t group_size;        /* elements per group */
  const int32_t *group_of;   /* sample → group within the sample (or global group) */
  const int32_t *param_of;   /* sample → gamma/beta index */
  float *mean, *inverse;     /* per group: mean and 1/sqrt(var + epsilon) */
  double *sums;              /* 2 × groups accumulators */
} norm_plan;

static int64_t sample_size(const sp_shape *shape) {
  int64_t sample = 1;
  for (int d = 1; d < shape->rank; d++) sample *= shape->dims[d];
  return sample;
}

static int64_t group_at(const norm_plan *plan, int64_t b, int64_t r) {
  return plan->groups_per_sample ? b * plan->groups_per_sample + plan->group_of[r] : plan->group_of[r];
}

/* Scratch: sums (doubles) first for alignment, then mean, inverse, group_of, param_of. */
static sp_status plan_memory(const sp_layer *layer, sp_call *call, int64_t sample, int64_t groups, norm_plan *plan) {
  size_t doubles = 2 * (size_t)groups, floats = 2 * (size_t)groups, ints = 2 * (size_t)sample;
  size_t bytes = doubles * sizeof(double) + floats * sizeof(float) + ints * sizeof(int32_t);
  if (sample > INT32_MAX) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: samples are too large", sp_layer_describe(layer));
  char *memory = sp_call_scratch(call, bytes ? bytes : 1);
  if (!memory) return sp_error_context(SP_ERROR_NO_MEMORY, "%s", sp_layer_describe(layer));
  plan->sums = (double *)memory;
  plan->mean = (float *)(memory + doubles * sizeof(double));
  plan->inverse = plan->mean + groups;
  plan->group_of = (int32_t *)(plan->inverse + groups);
  plan->param_of = plan->group_of + sample;
  return SP_OK;
}

/* Per-sample maps for normalized axes `axes` of shape: group over the other axes, parameter
 * over the normalized ones (row-major in increasing axis order, as Keras's reshape of gamma). */
static void fill_maps(const sp_shape *shape, const int *axes, int count, int32_t *group_of, int32_t *param_of) {
  int normalized[SP_MAX_RANK] = {0};
  for (int i = 0; i < count; i++) normalized[axes[i]] = 1;
  int64_t coordinates[SP_MAX_RANK] = {0}, sample = sample_size(shape);
  for (int64_t r = 0; r < sample; r++) {
    int64_t group = 0, param = 0;
    for (int d = 1; d < shape->rank; d++) {
      if (normalized[d]) param = param * shape->dims[d] + coordinates[d];
      else group = group * shape->dims[d] + coordinates[d];
    }
    if (group_of) group_of[r] = (int32_t)group;
    param_of[r] = (int32_t)param;
    for (int d = shape->rank - 1; d >= 1 && ++coordinates[d] == shape->dims[d]; d--) coordinates[d] = 0;
  }
}

/* mean and inverse standard deviation of every group from x (two passes, in double); leaves
 * the sums of squared deviations in plan->sums. */
static void compute_statistics(const norm_plan *plan, const float *x, double epsilon) {
  double *sum = plan->sums;
  memset(sum, 0, (size_t)plan->groups * sizeof *sum);
  for (int64_t b = 0; b < plan->batch; b++)
    for (int64_t r = 0; r < plan->sample; r++) sum[group_at(plan, b, r)] += x[b * plan->sample + r];
  for (int64_t g = 0; g < plan->groups; g++) plan->mean[g] = (float)(sum[g] / (double)plan->group_size);
  memset(sum, 0, (size_t)plan->groups * sizeof *sum);
  for (int64_t b = 0; b < plan->batch; b++)
    for (int64_t r = 0; r < plan->sample; r++) {
      int64_t g = group_at(plan, b, r);
      double centred = x[b * plan->sample + r] - (double)plan->mean[g];
      sum[g] += centred * centred;
    }
  for (int64_t g = 0; g < plan->groups; g++)
    plan->inverse[g] = (float)(1.0 / sqrt(sum[g] / (double)plan->group_size + epsilon));
}

/* y = (x − mean)·inverse·gamma + beta, or x·inverse·gamma for rms_scaling. */
static void apply_normalization(const norm_plan *plan, const float *x, const float *gamma, const float *beta,
                                int rms_scaling, float *y) {
  for (int64_t b = 0; b < plan->batch; b++)
    for (int64_t r = 0; r < plan->sample; r++) {
      int64_t e = b * plan->sample + r, g = group_at(plan, b, r), p = plan->param_of[r];
      float value = (x[e] - (rms_scaling ? 0.0f : plan->mean[g])) * plan->inverse[g];
      y[e] = value * (gamma ? gamma[p] : 1.0f) + (beta ? beta[p] : 0.0f);
    }
}

/* Backward with statistics of the batch itself. With s = dy·gamma and x̂ = (x − mean)·inverse:
 *   standard: dx = inverse/M · (M·s − Σs − x̂·Σ(s·x̂))
 *   rms:      dx = inverse·s − inverse³·(x − mean)/M · Σ(s·x)   (y = x·inverse·gamma)      */
static void normalization_backward(const norm_plan *plan, const float *x, const float *dy, const float *gamma,
                                   int rms_scaling, float *dx, float *d_gamma, float *d_beta) {
  double *sum_s = plan->sums, *sum_sx = plan->sums + plan->groups;
  memset(plan->sums, 0, 2 * (size_t)plan->groups * sizeof *plan->sums);
  for (int64_t b = 0; b < plan->batch; b++)
    for (int64_t r = 0; r < plan->sample; r++) {
      int64_t e = b * plan->sample + r, g = group_at(plan, b, r), p = plan->param_of[r];
      double centred = x[e] - (double)plan->mean[g], normalized = centred * plan->inverse[g];
      double s = dy[e] * (gamma ? gamma[p] : 1.0f);
      sum_s[g] += s;
      sum_sx[g] += s * (rms_scaling ? x[e] : normalized);
      if (d_gamma) d_gamma[p] += (float)(dy[e] * (rms_scaling ? x[e] * plan->inverse[g] : normalized));
      if (d_beta) d_beta[p] += dy[e];
    }
  if (!dx) return;
  double size = (double)plan->group_size;
  for (int64_t b = 0; b < plan->batch; b++)
    for (int64_t r = 0; r < plan->sample; r++) {
      int64_t e = b * plan->sample + r, g = group_at(plan, b, r), p = plan->param_of[r];
      double inverse = plan->inverse[g], centred = x[e] - (double)plan->mean[g];
      double s = dy[e] * (gamma ? gamma[p] : 1.0f);
      dx[e] = rms_scaling ? (float)(inverse * s - inverse * inverse * inverse * centred / size * sum_sx[g])
                          : (float)(inverse / size * (size * s - sum_s[g] - centred * inverse * sum_sx[g]));
    }
}

static const float *values_of(const sp_variable *variable) {
  return variable ? sp_tensor_floats(variable->value) : NULL;
}

static float *gradient_of(sp_variable *variable) {
  sp_tensor *gradient = variable ? sp_variable_gradient(variable) : NULL;
  return gradient ? sp_tensor_floats(gradient) : NULL;
}

/* gamma (scale) and beta (center) as both layers create them. */
static sp_status add_affine_variables(sp_layer *layer, int rank, const int64_t *shape, int scale, int center,
                                      sp_variable **gamma, sp_variable **beta) {
  if (scale) SP_TRY(sp_layer_add_variable(layer, "gamma", rank, shape, "gamma", "ones", 1, gamma));
  if (center) SP_TRY(sp_layer_add_variable(layer, "beta", rank, shape, "beta", "zeros", 1, beta));
  return SP_OK;
}

static sp_status check_initializers(const sp_layer *layer, const char *const *keys, size_t count) {
  for (size_t i = 0; i < count; i++)
    SP_TRY(sp_initializer_check(sp_json_member(layer->config, keys[i]), sp_layer_describe(layer)));
  return SP_OK;
}

/* ---- BatchNormalization ---- */

typedef struct batch_norm_state {
  int axis; /* as configured; may be negative */
  double momentum, epsilon;
  int center, scale;
  sp_variable *gamma, *beta, *moving_mean, *moving_variance;
} batch_norm_state;

static sp_status refuse_option(const sp_layer *layer, const char *key, int set, const char *why) {
  if (!set) return SP_OK;
  return sp_fail(SP_ERROR_UNSUPPORTED, "%s: '%s' is not supported (%s)", sp_layer_describe(layer), key, why);
}

static int is_set(const sp_layer *layer, const char *key) {
  json_object *value = sp_json_member(layer->config, key);
  return value && !(json_object_is_type(value, json_type_boolean) && !json_object_get_boolean(value));
}

static sp_status batch_norm_configure(sp_layer *layer) {
  batch_norm_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  int axes[SP_MAX_RANK], count;
  SP_TRY(parse_axes(layer, "axis", axes, &count));
  if (count != 1)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: 'axis' names %d axes; BatchNormalization over one axis is supported",
                   context, count);
  state->axis = axes[0];
  SP_TRY(sp_json_get_double(layer->config, "momentum", 0.99, context, &state->momentum));
  SP_TRY(sp_json_get_double(layer->config, "epsilon", 1e-3, context, &state->epsilon));
  if (!(state->epsilon >= 0)) return sp_fail(SP_ERROR_FORMAT, "%s: 'epsilon' must be >= 0, found %g", context, state->epsilon);
  SP_TRY(sp_json_get_bool(layer->config, "center", 1, context, &state->center));
  SP_TRY(sp_json_get_bool(layer->config, "scale", 1, context, &state->scale));
  int64_t mode;
  SP_TRY(sp_json_get_int(layer->config, "mode", 0, context, &mode)); /* Keras 1 */
  SP_TRY(refuse_option(layer, "mode", mode != 0, "Keras 1 modes other than 0"));
  SP_TRY(refuse_option(layer, "renorm", is_set(layer, "renorm"), "batch renormalization"));
  SP_TRY(refuse_option(layer, "virtual_batch_size", is_set(layer, "virtual_batch_size"), "ghost batches"));
  SP_TRY(refuse_option(layer, "adjustment", is_set(layer, "adjustment"), "it is code"));
  static const char *const keys[] = {"beta_initializer", "gamma_initializer", "moving_mean_initializer",
                                     "moving_variance_initializer"};
  return check_initializers(layer, keys, sizeof keys / sizeof *keys);
}

static sp_status batch_norm_axis(const sp_layer *layer, const sp_shape *shape, int *axis) {
  const batch_norm_state *state = layer->state;
  SP_TRY(resolve_axes(layer, shape->rank, &state->axis, 1, axis));
  if (state->moving_mean && shape->dims[*axis] != state->moving_mean->value->shape[0]) {
    char got[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s expects %lld channels on axis %d, got input shape %s",
                   sp_layer_describe(layer), (long long)state->moving_mean->value->shape[0], state->axis,
                   sp_shape_describe(shape, got, sizeof got));
  }
  return SP_OK;
}

static sp_status batch_norm_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                           int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  int axis;
  SP_TRY(batch_norm_axis(layer, &inputs[0], &axis));
  return sp_same_shape(layer, input_count, inputs, output_count, outputs);
}

static sp_status batch_norm_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  batch_norm_state *state = layer->state;
  int axis;
  SP_TRY(batch_norm_axis(layer, &inputs[0], &axis));
  int64_t channels = inputs[0].dims[axis];
  if (channels <= 0)
    return sp_fail(SP_ERROR_MISMATCH, "%s: axis %d of its input must be known to build it", sp_layer_describe(layer),
                   state->axis);
  SP_TRY(add_affine_variables(layer, 1, &channels, state->scale, state->center, &state->gamma, &state->beta));
  SP_TRY(sp_layer_add_variable(layer, "moving_mean", 1, &channels, "moving_mean", "zeros", 0, &state->moving_mean));
  return sp_layer_add_variable(layer, "moving_variance", 1, &channels, "moving_variance", "ones", 0,
                               &state->moving_variance);
}

/* Groups are the channels; the maps send each element of a sample to its channel. */
static sp_status batch_norm_plan(const sp_layer *layer, sp_call *call, norm_plan *plan) {
  const sp_tensor *x = call->inputs[0];
  sp_shape shape = sp_shape_of(x);
  int axis;
  SP_TRY(batch_norm_axis(layer, &shape, &axis));
  plan->batch = shape.dims[0];
  plan->sample = sample_size(&shape);
  plan->groups = shape.dims[axis];
  plan->groups_per_sample = 0;
  plan->group_size = plan->batch * plan->sample / plan->groups;
  SP_TRY(plan_memory(layer, call, plan->sample, plan->groups, plan));
  fill_maps(&shape, (int[]){axis}, 1, NULL, (int32_t *)plan->param_of);
  plan->group_of = plan->param_of;
  return SP_OK;
}

/* Keras runs a BatchNormalization that is not trainable in inference mode, even in training. */
static int uses_batch_statistics(const sp_layer *layer, const sp_call *call) { return call->training && layer->trainable; }

/* moving = moving·momentum + batch·(1 − momentum), from the statistics just computed. Moving
 * statistics are state, not trainable weights; training runs single-threaded. */
static void update_moving_statistics(const batch_norm_state *state, const norm_plan *plan) {
  float *mean = sp_tensor_floats(state->moving_mean->value), *variance = sp_tensor_floats(state->moving_variance->value);
  double keep = state->momentum, take = 1.0 - state->momentum;
  for (int64_t c = 0; c < plan->groups; c++) {
    mean[c] = (float)(mean[c] * keep + plan->mean[c] * take);
    variance[c] = (float)(variance[c] * keep + plan->sums[c] / (double)plan->group_size * take);
  }
}

static sp_status batch_norm_forward(const sp_layer *layer, sp_call *call) {
  const batch_norm_state *state = layer->state;
  norm_plan plan;
  SP_TRY(batch_norm_plan(layer, call, &plan));
  const float *x = sp_tensor_floats(call->inputs[0]);
  if (uses_batch_statistics(layer, call) && plan.group_size > 0) {
    compute_statistics(&plan, x, state->epsilon);
    update_moving_statistics(state, &plan);
  } else {
    const float *mean = values_of(state->moving_mean), *variance = values_of(state->moving_variance);
    for (int64_t c = 0; c < plan.groups; c++) {
      plan.mean[c] = mean[c];
      plan.inverse[c] = (float)(1.0 / sqrt((double)variance[c] + state->epsilon));
    }
  }
  apply_normalization(&plan, x, values_of(state->gamma), values_of(state->beta), 0, sp_tensor_floats(call->outputs[0]));
  return SP_OK;
}

static sp_status batch_norm_backward(const sp_layer *layer, sp_call *call) {
  const batch_norm_state *state = layer->state;
  norm_plan plan;
  SP_TRY(batch_norm_plan(layer, call, &plan)); /* mean and inverse survive in the scratch from forward */
  const float *x = sp_tensor_floats(call->inputs[0]), *dy = sp_tensor_floats(call->output_gradients[0]);
  const float *gamma = values_of(state->gamma);
  float *dx = call->input_gradients[0] ? sp_tensor_floats(call->input_gradients[0]) : NULL;
  if (layer->trainable) {
    normalization_backward(&plan, x, dy, gamma, 0, dx, gradient_of(state->gamma), gradient_of(state->beta));
    return SP_OK;
  }
  /* frozen: y is affine in x with the moving statistics */
  for (int64_t b = 0; dx && b < plan.batch; b++)
    for (int64_t r = 0; r < plan.sample; r++) {
      int64_t e = b * plan.sample + r, c = plan.group_of[r];
      dx[e] = dy[e] * plan.inverse[c] * (gamma ? gamma[c] : 1.0f);
    }
  return SP_OK;
}

const sp_layer_class sp_batch_normalization_class = {
    .class_name = "BatchNormalization", .module = "keras.layers", .state_size = sizeof(batch_norm_state),
    .configure = batch_norm_configure, .compute_shapes = batch_norm_compute_shapes, .build = batch_norm_build,
    .forward = batch_norm_forward, .backward = batch_norm_backward};

/* ---- LayerNormalization ---- */

typedef struct layer_norm_state {
  int axis_count;
  int axes[SP_MAX_RANK]; /* as configured; may be negative */
  double epsilon;
  int center, scale, rms_scaling;
  sp_variable *gamma, *beta;
} layer_norm_state;

static sp_status layer_norm_configure(sp_layer *layer) {
  layer_norm_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  SP_TRY(parse_axes(layer, "axis", state->axes, &state->axis_count));
  SP_TRY(sp_json_get_double(layer->config, "epsilon", 1e-3, context, &state->epsilon));
  if (!(state->epsilon >= 0)) return sp_fail(SP_ERROR_FORMAT, "%s: 'epsilon' must be >= 0, found %g", context, state->epsilon);
  SP_TRY(sp_json_get_bool(layer->config, "center", 1, context, &state->center));
  SP_TRY(sp_json_get_bool(layer->config, "scale", 1, context, &state->scale));
  SP_TRY(sp_json_get_bool(layer->config, "rms_scaling", 0, context, &state->rms_scaling));
  static const char *const keys[] = {"beta_initializer", "gamma_initializer"};
  return check_initializers(layer, keys, sizeof keys / sizeof *keys);
}

static sp_status layer_norm_axes(const sp_layer *layer, const sp_shape *shape, int *axes) {
  const layer_norm_state *state = layer->state;
  SP_TRY(resolve_axes(layer, shape->rank, state->axes, state->axis_count, axes));
  const sp_variable *parameters = state->gamma ? state->gamma : state->beta;
  for (int i = 0; parameters && i < state->axis_count; i++)
    if (shape->dims[axes[i]] != parameters->value->shape[i]) {
      char got[96];
      return sp_fail(SP_ERROR_MISMATCH, "%s was built for %lld elements on axis %d, got input shape %s",
                     sp_layer_describe(layer), (long long)parameters->value->shape[i], state->axes[i],
                     sp_shape_describe(shape, got, sizeof got));
    }
  return SP_OK;
}

static sp_status layer_norm_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                           int *output_count, sp_shape *outputs) {
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  int axes[SP_MAX_RANK];
  SP_TRY(layer_norm_axes(layer, &inputs[0], axes));
  return sp_same_shape(layer, input_count, inputs, output_count, outputs);
}

static sp_status layer_norm_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  layer_norm_state *state = layer->state;
  int axes[SP_MAX_RANK];
  SP_TRY(layer_norm_axes(layer, &inputs[0], axes));
  int64_t shape[SP_MAX_RANK];
  for (int i = 0; i < state->axis_count; i++) {
    shape[i] = inputs[0].dims[axes[i]];
    if (shape[i] <= 0)
      return sp_fail(SP_ERROR_MISMATCH, "%s: axis %d of its input must be known to build it", sp_layer_describe(layer),
                     state->axes[i]);
  }
  /* Keras: gamma with scale or rms_scaling, beta with center unless rms_scaling */
  return add_affine_variables(layer, state->axis_count, shape, state->scale || state->rms_scaling,
                              state->center && !state->rms_scaling, &state->gamma, &state->beta);
}

static sp_status layer_norm_plan(const sp_layer *layer, sp_call *call, norm_plan *plan) {
  const layer_norm_state *state = layer->state;
  const sp_tensor *x = call->inputs[0];
  sp_shape shape = sp_shape_of(x);
  int axes[SP_MAX_RANK];
  SP_TRY(layer_norm_axes(layer, &shape, axes));
  plan->batch = shape.dims[0];
  plan->sample = sample_size(&shape);
  plan->group_size = 1;
  for (int i = 0; i < state->axis_count; i++) plan->group_size *= shape.dims[axes[i]];
  plan->groups_per_sample = plan->group_size ? plan->sample / plan->group_size : 0;
  plan->groups = plan->batch * plan->groups_per_sample;
  SP_TRY(plan_memory(layer, call, plan->sample, plan->groups, plan));
  fill_maps(&shape, axes, state->axis_count, (int32_t *)plan->group_of, (int32_t *)plan->param_of);
  return SP_OK;
}

static sp_status layer_norm_forward(const sp_layer *layer, sp_call *call) {
  const layer_norm_state *state = layer->state;
  norm_plan plan;
  SP_TRY(layer_norm_plan(layer, call, &plan));
  const float *x = sp_tensor_floats(call->inputs[0]);
  compute_statistics(&plan, x, state->epsilon);
  apply_normalization(&plan, x, values_of(state->gamma), values_of(state->beta), state->rms_scaling,
                      sp_tensor_floats(call->outputs[0]));
  return SP_OK;
}

static sp_status layer_norm_backward(const sp_layer *layer, sp_call *call) {
  const layer_norm_state *state = layer->state;
  norm_plan plan;
  SP_TRY(layer_norm_plan(layer, call, &plan));
  float *dx = call->input_gradients[0] ? sp_tensor_floats(call->input_gradients[0]) : NULL;
  normalization_backward(&plan, sp_tensor_floats(call->inputs[0]), sp_tensor_floats(call->output_gradients[0]),
                         values_of(state->gamma), state->rms_scaling, dx, gradient_of(state->gamma),
                         gradient_of(state->beta));
  return SP_OK;
}

const sp_layer_class sp_layer_normalization_class = {
    .class_name = "LayerNormalization", .module = "keras.layers", .state_size = sizeof(layer_norm_state),
    .configure = layer_norm_configure, .compute_shapes = layer_norm_compute_shapes, .build = layer_norm_build,
    .forward = layer_norm_forward, .backward = layer_norm_backward};
