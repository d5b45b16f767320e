/* recurrent.c — SimpleRNN, GRU and LSTM with Keras semantics, forward and backward through time.
 *
 * One engine runs all three cells. Variables are Keras's: kernel (features, k·units),
 * recurrent_kernel (units, k·units) and bias, gates in Keras order (LSTM i, f, c, o;
 * GRU z, r, h; SimpleRNN one "gate"). GRU reset_after=true keeps separate input and
 * recurrent biases, bias (2, 3·units), and applies the reset gate to the recurrent
 * product; reset_after=false has bias (3·units,) and resets the state before its product
 * (Keras 1/2.0, TF.js). The initial state is zero.
 *
 * go_backwards processes time steps last to first; with return_sequences the output
 * sequence is in processing order (output step s follows input step T-1-s), which is what
 * Keras returns ("process the input sequence backwards and return the reversed sequence").
 *
 * Dropout follows Keras 3's DropoutRNNCell: in training, one mask per sequence for the
 * inputs and one for the recurrent state, drawn on the first step and reused at every step.
 * With recurrent_dropout (or implementation=1) Keras uses Keras's "implementation 1", which
 * draws a separate mask for each gate; otherwise one mask serves all gates. Masks touch only
 * the matrix products: GRU's carry z·h_prev uses the unmasked state, as in Keras 3.
 *
 * Working memory comes from the call's scratch. Inference keeps two step records (the
 * current and the previous step); training keeps one per step plus the backward workspace,
 * so forward stays free of allocation and thread-safe at inference.
 */
#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

#include "core/hash.h"
#include "core/json.h"
#include "core/memory.h"
#include "nn/activation.h"
#include "nn/initializer.h"
#include "nn/layers/layers.h"

typedef enum cell_kind { CELL_SIMPLE, CELL_GRU, CELL_LSTM } cell_kind;

enum { GATE_CANDIDATE_GRU = 2 }; /* GRU's h gate: the one the reset gate acts on */

typedef struct recurrent_state {
  cell_kind kind;
  int gates;
  int64_t units;
  sp_activation activation, recurrent_activation;
  int use_bias, return_sequences, return_state, go_backwards, reset_after, unit_forget_bias;
  int mask_per_gate; /* Keras implementation 1: a dropout mask for each gate */
  double dropout, recurrent_dropout;
  sp_variable *kernel, *recurrent_kernel, *bias;
} recurrent_state;

/* ---- configuration ---- */

/* Keras clamps rates into [0, 1] and applies dropout only for 0 < rate < 1. */
static sp_status parse_rate(const sp_layer *layer, const char *key, const char *keras1_key, double *rate) {
  const char *context = sp_layer_describe(layer);
  int keras1 = !json_object_object_get_ex(layer->config, key, NULL) &&
               json_object_object_get_ex(layer->config, keras1_key, NULL);
  const char *used = keras1 ? keras1_key : key;
  SP_TRY(sp_json_get_double(layer->config, used, 0, context, rate));
  if (!isfinite(*rate)) return sp_fail(SP_ERROR_FORMAT, "%s: '%s' must be a number in [0, 1]", context, used);
  *rate = *rate < 0 ? 0 : *rate > 1 ? 1 : *rate;
  if (*rate >= 1) *rate = 0;
  return SP_OK;
}

/* An activation key that defaults to name when absent; an explicit null means linear, as in Keras. */
static sp_status parse_activation(const sp_layer *layer, const char *key, const char *keras1_key, const char *name,
                                  sp_activation *activation) {
  const char *context = sp_layer_describe(layer);
  json_object *spec = NULL;
  int present = json_object_object_get_ex(layer->config, key, &spec);
  if (!present && keras1_key) present = json_object_object_get_ex(layer->config, keras1_key, &spec);
  if (!present) return sp_activation_from_name(name, layer->keras_major, context, activation);
  return sp_activation_parse(spec, layer->keras_major, context, activation);
}

static sp_status refuse_if_set(const sp_layer *layer, const char *key, const char *why) {
  int value;
  SP_TRY(sp_json_get_bool(layer->config, key, 0, sp_layer_describe(layer), &value));
  if (value) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: '%s' is not supported: %s", sp_layer_describe(layer), key, why);
  return SP_OK;
}

static sp_status recurrent_configure(sp_layer *layer, cell_kind kind) {
  recurrent_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  json_object *config = layer->config;
  state->kind = kind;
  state->gates = kind == CELL_SIMPLE ? 1 : kind == CELL_GRU ? 3 : 4;
  SP_TRY(sp_json_get_int(config, "units", -1, context, &state->units));
  if (state->units < 0) SP_TRY(sp_json_get_int(config, "output_dim", -1, context, &state->units)); /* Keras 1 */
  if (state->units <= 0 || state->units > INT_MAX / 4)
    return sp_fail(SP_ERROR_FORMAT, "%s: 'units' must be a positive integer", context);
  SP_TRY(parse_activation(layer, "activation", NULL, "tanh", &state->activation));
  if (kind != CELL_SIMPLE)
    SP_TRY(parse_activation(layer, "recurrent_activation", "inner_activation", "sigmoid", &state->recurrent_activation));
  SP_TRY(sp_json_get_bool(config, "use_bias", 1, context, &state->use_bias));
  SP_TRY(sp_json_get_bool(config, "return_sequences", 0, context, &state->return_sequences));
  SP_TRY(sp_json_get_bool(config, "return_state", 0, context, &state->return_state));
  SP_TRY(sp_json_get_bool(config, "go_backwards", 0, context, &state->go_backwards));
  SP_TRY(refuse_if_set(layer, "stateful", "savepoint starts every batch from a zero state; rebuild the layer with "
                                          "stateful=False to use its weights"));
  SP_TRY(refuse_if_set(layer, "time_major", "inputs must be (batch, time, features)"));
  SP_TRY(parse_rate(layer, "dropout", "dropout_W", &state->dropout));
  SP_TRY(parse_rate(layer, "recurrent_dropout", "dropout_U", &state->recurrent_dropout));
  int64_t implementation;
  SP_TRY(sp_json_get_int(config, "implementation", 2, context, &implementation));
  state->mask_per_gate = kind != CELL_SIMPLE && (implementation == 1 || state->recurrent_dropout > 0);
  if (kind == CELL_GRU) SP_TRY(sp_json_get_bool(config, "reset_after", layer->keras_major >= 3, context, &state->reset_after));
  if (kind == CELL_LSTM) SP_TRY(sp_json_get_bool(config, "unit_forget_bias", 1, context, &state->unit_forget_bias));
  static const char *const initializers[] = {"kernel_initializer", "recurrent_initializer", "bias_initializer"};
  for (size_t i = 0; i < sizeof initializers / sizeof *initializers; i++)
    SP_TRY(sp_initializer_check(sp_json_member(config, initializers[i]), context));
  return SP_OK;
}

static sp_status simple_rnn_configure(sp_layer *layer) { return recurrent_configure(layer, CELL_SIMPLE); }
static sp_status gru_configure(sp_layer *layer) { return recurrent_configure(layer, CELL_GRU); }
static sp_status lstm_configure(sp_layer *layer) { return recurrent_configure(layer, CELL_LSTM); }

/* ---- shapes and variables ---- */

/* One (batch, time, features) input with at least one step and the features it was built for. */
static sp_status check_input(const sp_layer *layer, int input_count, const sp_shape *inputs) {
  const recurrent_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  if (input_count > 1)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: initial_state (or other extra call inputs) is not supported; the "
                   "initial state is zero", context);
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  char got[96];
  if (inputs[0].rank != 3)
    return sp_fail(SP_ERROR_MISMATCH, "%s expects inputs of shape (batch, time, features), got %s", context,
                   sp_shape_describe(&inputs[0], got, sizeof got));
  if (inputs[0].dims[1] == 0)
    return sp_fail(SP_ERROR_MISMATCH, "%s needs at least one time step, got input shape %s", context,
                   sp_shape_describe(&inputs[0], got, sizeof got));
  if (state->kernel && inputs[0].dims[2] != state->kernel->value->shape[0])
    return sp_fail(SP_ERROR_MISMATCH, "%s expects %lld input features (last axis), got input shape %s", context,
                   (long long)state->kernel->value->shape[0], sp_shape_describe(&inputs[0], got, sizeof got));
  return SP_OK;
}

static sp_status recurrent_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                          int *output_count, sp_shape *outputs) {
  const recurrent_state *state = layer->state;
  SP_TRY(check_input(layer, input_count, inputs));
  int64_t batch = inputs[0].dims[0];
  outputs[0] = state->return_sequences ? (sp_shape){.rank = 3, .dims = {batch, inputs[0].dims[1], state->units}}
                                       : (sp_shape){.rank = 2, .dims = {batch, state->units}};
  *output_count = 1;
  if (state->return_state)
    for (int s = 0; s < (state->kind == CELL_LSTM ? 2 : 1); s++)
      outputs[(*output_count)++] = (sp_shape){.rank = 2, .dims = {batch, state->units}};
  return SP_OK;
}

/* Keras's unit_forget_bias: the bias initializer on the i, c and o slices, ones on f. The forget
 * slice must be written after the fill, so the bias is filled here instead of in
 * sp_model_initialize; a random bias initializer then draws from a generator seeded by the
 * layer's name (loaded weights replace all of this anyway). */
static sp_status fill_forget_bias(sp_layer *layer, sp_variable *bias, int64_t units) {
  sp_rng rng;
  sp_rng_seed(&rng, layer->name ? sp_crc32c(layer->name, strlen(layer->name)) : 0);
  json_object *fallback = bias->initializer ? NULL : json_object_new_string("zeros");
  sp_status status = sp_initializer_fill(bias->initializer ? bias->initializer : fallback, bias->value, &rng,
                                         sp_layer_describe(layer));
  json_object_put(fallback);
  SP_TRY(status);
  float *values = sp_tensor_floats(bias->value);
  for (int64_t u = 0; u < units; u++) values[units + u] = 1.0f;
  bias->initialized = 1;
  return SP_OK;
}

static sp_status recurrent_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  recurrent_state *state = layer->state;
  SP_TRY(check_input(layer, input_count, inputs));
  int64_t features = inputs[0].dims[2], width = state->gates * state->units;
  if (features <= 0)
    return sp_fail(SP_ERROR_MISMATCH, "%s: the feature axis of its input must be known to build it",
                   sp_layer_describe(layer));
  int64_t kernel_shape[2] = {features, width}, recurrent_shape[2] = {state->units, width};
  SP_TRY(sp_layer_add_variable(layer, "kernel", 2, kernel_shape, "kernel", "glorot_uniform", 1, &state->kernel));
  SP_TRY(sp_layer_add_variable(layer, "recurrent_kernel", 2, recurrent_shape, "recurrent", "orthogonal", 1,
                               &state->recurrent_kernel));
  if (!state->use_bias) return SP_OK;
  int split = state->kind == CELL_GRU && state->reset_after;
  int64_t bias_shape[2] = {split ? 2 : width, width};
  SP_TRY(sp_layer_add_variable(layer, "bias", split ? 2 : 1, bias_shape, "bias", "zeros", 1, &state->bias));
  if (state->kind == CELL_LSTM && state->unit_forget_bias) return fill_forget_bias(layer, state->bias, state->units);
  return SP_OK;
}

/* ---- the per-call workspace ---- */

typedef struct rnn_run {
  const recurrent_state *state;
  int training;
  int64_t batch, steps, features, units, width; /* width = gates * units */
  int64_t plane;                                /* batch * units */
  int groups;                                   /* dropout mask groups: 1, or one per gate */
  const float *x;                               /* (batch, steps, features) */
  const float *kernel, *recurrent_kernel, *input_bias, *recurrent_bias;
  float *input_masks;     /* groups × (batch, features), NULL without input dropout */
  float *recurrent_masks; /* groups × (batch, units), NULL without recurrent dropout */
  float *projection;      /* (batch, steps, width): masked x · kernel + input bias */
  float *masked_input;    /* (batch, steps, features) */
  float *masked_state;    /* groups × (batch, units) */
  float *zeros;           /* (batch, units): the initial h and c */
  float *records;         /* step records, record_size floats each */
  size_t record_size;
  /* backward workspace (training only) */
  float *d_projection, *dh, *dh_prev, *dc, *dc_prev, *d_pre, *d_masked_state, *temp;
} rnn_run;

/* A step record: pre-activations and activations (gate-major, gates × (batch, units)), h, then
 * extra (LSTM c, GRU reset_after's recurrent h term, GRU reset_before's r·h) and LSTM act(c). */
static float *record_of(const rnn_run *run, int64_t step) {
  return run->records + (size_t)(run->training ? step : step & 1) * run->record_size;
}
static float *pre_of(const rnn_run *run, int64_t step) { return record_of(run, step); }
static float *act_of(const rnn_run *run, int64_t step) { return record_of(run, step) + run->state->gates * run->plane; }
static float *h_of(const rnn_run *run, int64_t step) { return act_of(run, step) + run->state->gates * run->plane; }
static float *extra_of(const rnn_run *run, int64_t step) { return h_of(run, step) + run->plane; }
static float *cell_out_of(const rnn_run *run, int64_t step) { return extra_of(run, step) + run->plane; }
static const float *h_before(const rnn_run *run, int64_t step) { return step ? h_of(run, step - 1) : run->zeros; }
static const float *c_before(const rnn_run *run, int64_t step) { return step ? extra_of(run, step - 1) : run->zeros; }

static int64_t time_of(const rnn_run *run, int64_t step) {
  return run->state->go_backwards ? run->steps - 1 - step : step;
}
static int group_of(const rnn_run *run, int gate) { return run->groups == 1 ? 0 : gate; }
static int dropout_active(double rate, int training) { return training && rate > 0 && rate < 1; }

/* Carves the scratch into the run's buffers; sizes are in floats. */
static sp_status prepare_run(const sp_layer *layer, sp_call *call, int training, rnn_run *run) {
  const recurrent_state *state = layer->state;
  const sp_tensor *x = call->inputs[0];
  memset(run, 0, sizeof *run);
  run->state = state;
  run->training = training;
  run->batch = x->shape[0];
  run->steps = x->shape[1];
  run->features = x->shape[2];
  run->units = state->units;
  run->width = state->gates * state->units;
  run->plane = run->batch * run->units;
  run->x = sp_tensor_floats(x);
  run->kernel = sp_tensor_floats(state->kernel->value);
  run->recurrent_kernel = sp_tensor_floats(state->recurrent_kernel->value);
  if (state->bias) {
    run->input_bias = sp_tensor_floats(state->bias->value);
    if (state->kind == CELL_GRU && state->reset_after) run->recurrent_bias = run->input_bias + run->width;
  }
  if (run->steps < 1)
    return sp_fail(SP_ERROR_MISMATCH, "%s needs at least one time step", sp_layer_describe(layer));
  if (run->batch * run->steps > INT_MAX)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: batch × time steps %lld is too large", sp_layer_describe(layer),
                   (long long)(run->batch * run->steps));
  int input_dropout = dropout_active(state->dropout, training);
  int recurrent_dropout = dropout_active(state->recurrent_dropout, training);
  run->groups = state->mask_per_gate && (input_dropout || recurrent_dropout) ? state->gates : 1;
  size_t sequence = (size_t)(run->batch * run->steps), plane = (size_t)run->plane, width = (size_t)run->width;
  run->record_size = (2 * (size_t)state->gates + 3) * plane;
  size_t record_count = training ? (size_t)run->steps : 2;
  size_t sizes[] = {
      input_dropout ? (size_t)run->groups * (size_t)(run->batch * run->features) : 0, /* input masks */
      recurrent_dropout ? (size_t)run->groups * plane : 0,                           /* recurrent masks */
      sequence * width,                                                              /* projection */
      input_dropout ? sequence * (size_t)run->features : 0,                          /* masked input */
      recurrent_dropout ? (size_t)run->groups * plane : 0,                           /* masked state */
      plane,                                                                         /* zeros */
      record_count * run->record_size,                                               /* records */
      training ? sequence * width : 0,                                               /* d_projection */
      training ? (5 + (size_t)state->gates + (size_t)run->groups) * plane : 0,       /* backward planes */
  };
  size_t total = 0;
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) total += sizes[i];
  size_t bytes;
  if (!sp_multiply_size(total, sizeof(float), &bytes))
    return sp_fail(SP_ERROR_NO_MEMORY, "%s: its working memory is too large", sp_layer_describe(layer));
  float *memory = sp_call_scratch(call, bytes);
  if (!memory) return sp_error_context(SP_ERROR_NO_MEMORY, "%s", sp_layer_describe(layer));
  float **targets[] = {&run->input_masks, &run->recurrent_masks, &run->projection, &run->masked_input,
                       &run->masked_state, &run->zeros, &run->records, &run->d_projection, &run->dh};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    *targets[i] = sizes[i] ? memory : NULL;
    memory += sizes[i];
  }
  memset(run->zeros, 0, plane * sizeof(float));
  if (training) {
    float *planes = run->dh;
    float **backward[] = {&run->dh, &run->dh_prev, &run->dc, &run->dc_prev, &run->temp, &run->d_pre};
    for (size_t i = 0; i < sizeof backward / sizeof *backward; i++) {
      *backward[i] = planes;
      planes += plane;
    }
    planes += ((size_t)state->gates - 1) * plane; /* d_pre spans all gates */
    run->d_masked_state = planes;
  }
  return SP_OK;
}

static sp_status draw_masks(const sp_layer *layer, sp_call *call, rnn_run *run) {
  const recurrent_state *state = layer->state;
  if (!run->input_masks && !run->recurrent_masks) return SP_OK;
  if (!call->rng) return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: dropout in training needs a random generator",
                                 sp_layer_describe(layer));
  struct { float *mask; int64_t count; double rate; } masks[] = {
      {run->input_masks, run->groups * run->batch * run->features, state->dropout},
      {run->recurrent_masks, run->groups * run->plane, state->recurrent_dropout}};
  for (int m = 0; m < 2; m++) {
    if (!masks[m].mask) continue;
    float keep = (float)(1.0 / (1.0 - masks[m].rate));
    for (int64_t i = 0; i < masks[m].count; i++)
      masks[m].mask[i] = sp_rng_uniform(call->rng) >= masks[m].rate ? keep : 0.0f;
  }
  return SP_OK;
}

/* x with group's input mask applied (broadcast over time), or x itself without input dropout. */
static const float *masked_sequence(const rnn_run *run, int group) {
  if (!run->input_masks) return run->x;
  const float *mask = run->input_masks + (size_t)group * (size_t)(run->batch * run->features);
  for (int64_t b = 0; b < run->batch; b++)
    for (int64_t t = 0; t < run->steps; t++) {
      const float *in = run->x + (b * run->steps + t) * run->features;
      float *out = run->masked_input + (b * run->steps + t) * run->features;
      for (int64_t f = 0; f < run->features; f++) out[f] = in[f] * mask[b * run->features + f];
    }
  return run->masked_input;
}

/* Previous state with group's recurrent mask applied, written into the group's plane. */
static const float *masked_state(const rnn_run *run, int group, const float *h_prev) {
  if (!run->recurrent_masks) return h_prev;
  const float *mask = run->recurrent_masks + (size_t)group * (size_t)run->plane;
  float *out = run->masked_state + (size_t)group * (size_t)run->plane;
  for (int64_t i = 0; i < run->plane; i++) out[i] = h_prev[i] * mask[i];
  return out;
}

/* projection = masked x · kernel + input bias (plus GRU's recurrent z and r biases, which only add). */
static void project_inputs(const rnn_run *run) {
  int64_t rows = run->batch * run->steps, width = run->width, columns = width / run->groups;
  for (int64_t r = 0; r < rows; r++) {
    float *row = run->projection + r * width;
    if (run->input_bias) memcpy(row, run->input_bias, (size_t)width * sizeof *row);
    else memset(row, 0, (size_t)width * sizeof *row);
    if (run->recurrent_bias)
      for (int64_t c = 0; c < 2 * run->units; c++) row[c] += run->recurrent_bias[c];
  }
  for (int group = 0; group < run->groups; group++) {
    const float *source = masked_sequence(run, group);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)columns, (int)run->features, 1.0f, source,
                (int)run->features, run->kernel + group * columns, (int)width, 1.0f, run->projection + group * columns,
                (int)width);
  }
}

/* target (batch, units) = beta·target + state · recurrent_kernel[:, gate] */
static void recurrent_product(const rnn_run *run, int gate, const float *state, float beta, float *target) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)run->batch, (int)run->units, (int)run->units, 1.0f, state,
              (int)run->units, run->recurrent_kernel + gate * run->units, (int)run->width, beta, target, (int)run->units);
}

static void gather_projection(const rnn_run *run, int64_t step, float *pre) {
  int64_t t = time_of(run, step);
  for (int gate = 0; gate < run->state->gates; gate++)
    for (int64_t b = 0; b < run->batch; b++)
      memcpy(pre + gate * run->plane + b * run->units,
             run->projection + (b * run->steps + t) * run->width + gate * run->units, (size_t)run->units * sizeof *pre);
}

static void lstm_cell_forward(const rnn_run *run, int64_t step) {
  const recurrent_state *state = run->state;
  float *pre = pre_of(run, step), *act = act_of(run, step), *h = h_of(run, step);
  float *c = extra_of(run, step), *y = cell_out_of(run, step);
  const float *c_prev = c_before(run, step);
  int64_t plane = run->plane;
  for (int gate = 0; gate < 4; gate++)
    sp_activation_forward(gate == 2 ? &state->activation : &state->recurrent_activation, pre + gate * plane,
                          act + gate * plane, plane, run->units);
  const float *i = act, *f = act + plane, *g = act + 2 * plane, *o = act + 3 * plane;
  for (int64_t e = 0; e < plane; e++) c[e] = f[e] * c_prev[e] + i[e] * g[e];
  sp_activation_forward(&state->activation, c, y, plane, run->units);
  for (int64_t e = 0; e < plane; e++) h[e] = o[e] * y[e];
}

static void gru_cell_forward(const rnn_run *run, int64_t step) {
  const recurrent_state *state = run->state;
  float *pre = pre_of(run, step), *act = act_of(run, step), *h = h_of(run, step), *extra = extra_of(run, step);
  const float *h_prev = h_before(run, step);
  int64_t plane = run->plane;
  sp_activation_forward(&state->recurrent_activation, pre, act, 2 * plane, run->units);
  const float *z = act, *r = act + plane;
  float *candidate = pre + 2 * plane;
  if (state->reset_after) { /* extra = h_prev·U_h + b_rh, already computed */
    for (int64_t e = 0; e < plane; e++) candidate[e] += r[e] * extra[e];
  } else { /* extra = r ⊙ masked h_prev */
    const float *masked = masked_state(run, group_of(run, GATE_CANDIDATE_GRU), h_prev);
    for (int64_t e = 0; e < plane; e++) extra[e] = r[e] * masked[e];
    recurrent_product(run, GATE_CANDIDATE_GRU, extra, 1.0f, candidate);
  }
  float *hh = act + 2 * plane;
  sp_activation_forward(&state->activation, candidate, hh, plane, run->units);
  for (int64_t e = 0; e < plane; e++) h[e] = z[e] * h_prev[e] + (1 - z[e]) * hh[e];
}

static void step_forward(const rnn_run *run, int64_t step) {
  const recurrent_state *state = run->state;
  float *pre = pre_of(run, step);
  const float *h_prev = h_before(run, step);
  gather_projection(run, step, pre);
  for (int gate = 0; gate < state->gates; gate++) {
    int candidate = state->kind == CELL_GRU && gate == GATE_CANDIDATE_GRU;
    if (candidate && !state->reset_after) continue; /* needs r first */
    const float *masked = masked_state(run, group_of(run, gate), h_prev);
    if (candidate) { /* GRU reset_after: keep h_prev·U_h + b_rh apart, r scales it */
      float *term = extra_of(run, step);
      for (int64_t b = 0; run->recurrent_bias && b < run->batch; b++)
        memcpy(term + b * run->units, run->recurrent_bias + 2 * run->units, (size_t)run->units * sizeof *term);
      recurrent_product(run, gate, masked, run->recurrent_bias ? 1.0f : 0.0f, term);
    } else {
      recurrent_product(run, gate, masked, 1.0f, pre + gate * run->plane);
    }
  }
  if (state->kind == CELL_SIMPLE) {
    sp_activation_forward(&state->activation, pre, act_of(run, step), run->plane, run->units);
    memcpy(h_of(run, step), act_of(run, step), (size_t)run->plane * sizeof(float));
  } else if (state->kind == CELL_LSTM) {
    lstm_cell_forward(run, step);
  } else {
    gru_cell_forward(run, step);
  }
}

static void write_outputs(const rnn_run *run, sp_call *call, int64_t step) {
  const recurrent_state *state = run->state;
  const float *h = h_of(run, step);
  size_t row = (size_t)run->units * sizeof(float);
  if (state->return_sequences) {
    float *out = sp_tensor_floats(call->outputs[0]);
    for (int64_t b = 0; b < run->batch; b++) memcpy(out + (b * run->steps + step) * run->units, h + b * run->units, row);
  }
  if (step != run->steps - 1) return;
  int next = 1;
  if (!state->return_sequences) memcpy(call->outputs[0]->data, h, (size_t)run->plane * sizeof(float));
  if (!state->return_state) return;
  memcpy(call->outputs[next++]->data, h, (size_t)run->plane * sizeof(float));
  if (state->kind == CELL_LSTM) memcpy(call->outputs[next]->data, extra_of(run, step), (size_t)run->plane * sizeof(float));
}

static sp_status recurrent_forward(const sp_layer *layer, sp_call *call) {
  if (call->inputs[0]->shape[0] == 0) return SP_OK; /* an empty batch has empty outputs */
  rnn_run run;
  SP_TRY(prepare_run(layer, call, call->training, &run));
  SP_TRY(draw_masks(layer, call, &run));
  project_inputs(&run);
  for (int64_t step = 0; step < run.steps; step++) {
    step_forward(&run, step);
    write_outputs(&run, call, step);
  }
  return SP_OK;
}

/* ---- backward through time ---- */

/* dh (and dc) at step from the outputs: the sequence output at step, the last output and states at the end. */
static void add_output_gradients(const rnn_run *run, sp_call *call, int64_t step) {
  const recurrent_state *state = run->state;
  const float *dy = sp_tensor_floats(call->output_gradients[0]);
  if (state->return_sequences)
    for (int64_t b = 0; b < run->batch; b++)
      for (int64_t u = 0; u < run->units; u++) run->dh[b * run->units + u] += dy[(b * run->steps + step) * run->units + u];
  if (step != run->steps - 1) return;
  if (!state->return_sequences)
    for (int64_t e = 0; e < run->plane; e++) run->dh[e] += dy[e];
  if (!state->return_state) return;
  const float *dh_state = sp_tensor_floats(call->output_gradients[1]);
  for (int64_t e = 0; e < run->plane; e++) run->dh[e] += dh_state[e];
  if (state->kind != CELL_LSTM) return;
  const float *dc_state = sp_tensor_floats(call->output_gradients[2]);
  for (int64_t e = 0; e < run->plane; e++) run->dc[e] += dc_state[e];
}

/* LSTM: d_pre from dh and dc; dc_prev = dc_total ⊙ f. */
static void lstm_cell_backward(const rnn_run *run, int64_t step) {
  const recurrent_state *state = run->state;
  int64_t plane = run->plane;
  const float *pre = pre_of(run, step), *act = act_of(run, step), *c = extra_of(run, step), *y = cell_out_of(run, step);
  const float *c_prev = c_before(run, step);
  const float *i = act, *f = act + plane, *g = act + 2 * plane, *o = act + 3 * plane;
  float *d_act = run->d_pre; /* gate gradients before the activations, overwritten in place below */
  for (int64_t e = 0; e < plane; e++) {
    d_act[3 * plane + e] = run->dh[e] * y[e]; /* do */
    run->temp[e] = run->dh[e] * o[e];         /* d act(c) */
  }
  sp_activation_backward(&state->activation, c, y, run->temp, run->temp, plane, run->units);
  for (int64_t e = 0; e < plane; e++) {
    float dc_total = run->dc[e] + run->temp[e];
    d_act[e] = dc_total * g[e];
    d_act[plane + e] = dc_total * c_prev[e];
    d_act[2 * plane + e] = dc_total * i[e];
    run->dc_prev[e] = dc_total * f[e];
  }
  for (int gate = 0; gate < 4; gate++)
    sp_activation_backward(gate == 2 ? &state->activation : &state->recurrent_activation, pre + gate * plane,
                           act + gate * plane, d_act + gate * plane, run->d_pre + gate * plane, plane, run->units);
}

/* GRU: d_pre for z, r, h; the candidate's recurrent side is finished here (its kernel gradient
 * and the gradient into the masked state), since the reset gate sits inside it. */
static void gru_cell_backward(const rnn_run *run, int64_t step, float *d_recurrent_kernel, float *d_recurrent_bias) {
  const recurrent_state *state = run->state;
  int64_t plane = run->plane, units = run->units;
  const float *pre = pre_of(run, step), *act = act_of(run, step), *extra = extra_of(run, step);
  const float *h_prev = h_before(run, step);
  const float *z = act, *r = act + plane, *hh = act + 2 * plane;
  float *d_z = run->d_pre, *d_r = run->d_pre + plane, *d_candidate = run->d_pre + 2 * plane;
  for (int64_t e = 0; e < plane; e++) {
    d_z[e] = run->dh[e] * (h_prev[e] - hh[e]);
    d_candidate[e] = run->dh[e] * (1 - z[e]);
    run->dh_prev[e] += run->dh[e] * z[e];
  }
  sp_activation_backward(&state->activation, pre + 2 * plane, hh, d_candidate, d_candidate, plane, units);
  int group = group_of(run, GATE_CANDIDATE_GRU);
  float *d_masked = run->d_masked_state + (size_t)group * (size_t)plane;
  if (state->reset_after) { /* candidate = x_h + r ⊙ extra, extra = masked h_prev · U_h + b_rh */
    for (int64_t e = 0; e < plane; e++) {
      d_r[e] = d_candidate[e] * extra[e];
      run->temp[e] = d_candidate[e] * r[e]; /* d extra */
    }
    const float *masked = masked_state(run, group, h_prev);
    if (d_recurrent_kernel)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)units, (int)units, (int)run->batch, 1.0f, masked,
                  (int)units, run->temp, (int)units, 1.0f, d_recurrent_kernel + 2 * units, (int)run->width);
    if (d_recurrent_bias)
      for (int64_t b = 0; b < run->batch; b++)
        for (int64_t u = 0; u < units; u++) d_recurrent_bias[2 * units + u] += run->temp[b * units + u];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)run->batch, (int)units, (int)units, 1.0f, run->temp,
                (int)units, run->recurrent_kernel + 2 * units, (int)run->width, 1.0f, d_masked, (int)units);
  } else { /* candidate = x_h + (r ⊙ masked h_prev) · U_h; extra = r ⊙ masked h_prev */
    if (d_recurrent_kernel)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)units, (int)units, (int)run->batch, 1.0f, extra,
                  (int)units, d_candidate, (int)units, 1.0f, d_recurrent_kernel + 2 * units, (int)run->width);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)run->batch, (int)units, (int)units, 1.0f, d_candidate,
                (int)units, run->recurrent_kernel + 2 * units, (int)run->width, 0.0f, run->temp, (int)units);
    const float *masked = masked_state(run, group, h_prev);
    for (int64_t e = 0; e < plane; e++) {
      d_r[e] = run->temp[e] * masked[e];
      d_masked[e] += run->temp[e] * r[e];
    }
  }
  sp_activation_backward(&state->recurrent_activation, pre, act, d_z, d_z, 2 * plane, units);
}

static void scatter_projection_gradient(const rnn_run *run, int64_t step) {
  int64_t t = time_of(run, step);
  for (int gate = 0; gate < run->state->gates; gate++)
    for (int64_t b = 0; b < run->batch; b++)
      memcpy(run->d_projection + (b * run->steps + t) * run->width + gate * run->units,
             run->d_pre + gate * run->plane + b * run->units, (size_t)run->units * sizeof(float));
}

/* The plain recurrent products: kernel gradient and the gradient into each masked state. */
static void recurrent_products_backward(const rnn_run *run, int64_t step, float *d_recurrent_kernel) {
  const recurrent_state *state = run->state;
  const float *h_prev = h_before(run, step);
  int64_t units = run->units;
  for (int gate = 0; gate < state->gates; gate++) {
    if (state->kind == CELL_GRU && gate == GATE_CANDIDATE_GRU) continue; /* done in gru_cell_backward */
    int group = group_of(run, gate);
    const float *masked = masked_state(run, group, h_prev), *d_gate = run->d_pre + gate * run->plane;
    if (d_recurrent_kernel)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)units, (int)units, (int)run->batch, 1.0f, masked,
                  (int)units, d_gate, (int)units, 1.0f, d_recurrent_kernel + gate * units, (int)run->width);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)run->batch, (int)units, (int)units, 1.0f, d_gate,
                (int)units, run->recurrent_kernel + gate * units, (int)run->width, 1.0f,
                run->d_masked_state + (size_t)group * (size_t)run->plane, (int)units);
  }
  for (int group = 0; group < run->groups; group++) {
    const float *d_masked = run->d_masked_state + (size_t)group * (size_t)run->plane;
    const float *mask = run->recurrent_masks ? run->recurrent_masks + (size_t)group * (size_t)run->plane : NULL;
    for (int64_t e = 0; e < run->plane; e++) run->dh_prev[e] += mask ? d_masked[e] * mask[e] : d_masked[e];
  }
}

static void step_backward(const rnn_run *run, int64_t step, float *d_recurrent_kernel, float *d_recurrent_bias) {
  const recurrent_state *state = run->state;
  memset(run->dh_prev, 0, (size_t)run->plane * sizeof(float));
  memset(run->d_masked_state, 0, (size_t)run->groups * (size_t)run->plane * sizeof(float));
  if (state->kind == CELL_SIMPLE)
    sp_activation_backward(&state->activation, pre_of(run, step), act_of(run, step), run->dh, run->d_pre, run->plane,
                           run->units);
  else if (state->kind == CELL_LSTM)
    lstm_cell_backward(run, step);
  else
    gru_cell_backward(run, step, d_recurrent_kernel, d_recurrent_bias);
  scatter_projection_gradient(run, step);
  recurrent_products_backward(run, step, d_recurrent_kernel);
}

/* Gradients of the input projection: kernel, biases and (when asked) the input. */
static void projection_backward(const rnn_run *run, float *d_kernel, float *d_bias, sp_tensor *d_input) {
  int64_t rows = run->batch * run->steps, width = run->width, columns = width / run->groups;
  for (int64_t c = 0; d_bias && c < width; c++) {
    double sum = 0;
    for (int64_t r = 0; r < rows; r++) sum += run->d_projection[r * width + c];
    d_bias[c] += (float)sum;
    if (run->recurrent_bias && c < 2 * run->units) d_bias[width + c] += (float)sum; /* GRU's recurrent z, r biases */
  }
  float *dx = d_input ? sp_tensor_floats(d_input) : NULL;
  if (dx && run->input_masks) memset(dx, 0, d_input->size);
  for (int group = 0; group < run->groups; group++) {
    const float *d_block = run->d_projection + group * columns, *kernel_block = run->kernel + group * columns;
    if (d_kernel)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)run->features, (int)columns, (int)rows, 1.0f,
                  masked_sequence(run, group), (int)run->features, d_block, (int)width, 1.0f, d_kernel + group * columns,
                  (int)width);
    if (!dx) continue;
    float *target = run->input_masks ? run->masked_input : dx;
    float beta = run->input_masks || group == 0 ? 0.0f : 1.0f;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)run->features, (int)columns, 1.0f, d_block,
                (int)width, kernel_block, (int)width, beta, target, (int)run->features);
    if (!run->input_masks) continue;
    const float *mask = run->input_masks + (size_t)group * (size_t)(run->batch * run->features);
    for (int64_t b = 0; b < run->batch; b++)
      for (int64_t t = 0; t < run->steps; t++)
        for (int64_t f = 0; f < run->features; f++)
          dx[(b * run->steps + t) * run->features + f] +=
              target[(b * run->steps + t) * run->features + f] * mask[b * run->features + f];
  }
}

static float *gradient_data(sp_variable *variable) {
  sp_tensor *gradient = variable ? sp_variable_gradient(variable) : NULL;
  return gradient ? sp_tensor_floats(gradient) : NULL;
}

static sp_status recurrent_backward(const sp_layer *layer, sp_call *call) {
  const recurrent_state *state = layer->state;
  if (call->inputs[0]->shape[0] == 0) return SP_OK;
  rnn_run run;
  SP_TRY(prepare_run(layer, call, 1, &run));
  float *d_kernel = gradient_data(state->kernel), *d_recurrent_kernel = gradient_data(state->recurrent_kernel);
  float *d_bias = gradient_data(state->bias);
  float *d_recurrent_bias = d_bias && run.recurrent_bias ? d_bias + run.width : NULL;
  size_t plane_bytes = (size_t)run.plane * sizeof(float);
  memset(run.dh, 0, plane_bytes);
  memset(run.dc, 0, plane_bytes);
  memset(run.dc_prev, 0, plane_bytes); /* stays zero for cells without a carry */
  for (int64_t step = run.steps - 1; step >= 0; step--) {
    add_output_gradients(&run, call, step);
    step_backward(&run, step, d_recurrent_kernel, d_recurrent_bias);
    float *swap = run.dh;
    run.dh = run.dh_prev;
    run.dh_prev = swap;
    swap = run.dc;
    run.dc = run.dc_prev;
    run.dc_prev = swap;
  }
  projection_backward(&run, d_kernel, d_bias, call->input_gradients[0]);
  return SP_OK;
}

const sp_layer_class sp_simple_rnn_class = {
    .class_name = "SimpleRNN", .module = "keras.layers", .state_size = sizeof(recurrent_state),
    .configure = simple_rnn_configure, .compute_shapes = recurrent_compute_shapes, .build = recurrent_build,
    .forward = recurrent_forward, .backward = recurrent_backward};

const sp_layer_class sp_gru_class = {
    .class_name = "GRU", .module = "keras.layers", .state_size = sizeof(recurrent_state),
    .configure = gru_configure, .compute_shapes = recurrent_compute_shapes, .build = recurrent_build,
    .forward = recurrent_forward, .backward = recurrent_backward};

const sp_layer_class sp_lstm_class = {
    .class_name = "LSTM", .module = "keras.layers", .state_size = sizeof(recurrent_state),
    .configure = lstm_configure, .compute_shapes = recurrent_compute_shapes, .build = recurrent_build,
    .forward = recurrent_forward, .backward = recurrent_backward};
