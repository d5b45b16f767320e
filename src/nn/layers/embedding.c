/* embedding.c — Embedding: integer ids to rows of a (input_dim, output_dim) table.
 *
 * Ids arrive as float tensors (the runner casts integer inputs to float32) and are cast to
 * integers as Keras casts them (truncation toward zero). An id outside [0, input_dim) is an
 * error naming the layer, the id and input_dim. Masks are not propagated, so mask_zero=true
 * is refused. Ids are not differentiable: a requested input gradient is zero.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "nn/initializer.h"
#include "nn/layers/layers.h"

typedef struct embedding_state {
  int64_t input_dim, output_dim;
  sp_variable *embeddings;
} embedding_state;

static sp_status embedding_configure(sp_layer *layer) {
  embedding_state *state = layer->state;
  const char *context = sp_layer_describe(layer);
  SP_TRY(sp_json_get_int(layer->config, "input_dim", 0, context, &state->input_dim));
  SP_TRY(sp_json_get_int(layer->config, "output_dim", 0, context, &state->output_dim));
  if (state->input_dim <= 0) return sp_fail(SP_ERROR_FORMAT, "%s: 'input_dim' must be a positive integer", context);
  if (state->output_dim <= 0) return sp_fail(SP_ERROR_FORMAT, "%s: 'output_dim' must be a positive integer", context);
  int mask_zero;
  SP_TRY(sp_json_get_bool(layer->config, "mask_zero", 0, context, &mask_zero));
  if (mask_zero)
    return sp_fail(SP_ERROR_UNSUPPORTED, "%s: 'mask_zero' is not supported: savepoint does not propagate masks, so id 0 "
                   "would not be skipped downstream", context);
  double dropout;
  SP_TRY(sp_json_get_double(layer->config, "dropout", 0, context, &dropout)); /* Keras 1 */
  if (dropout != 0) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: 'dropout' (Keras 1 embedding dropout) is not supported", context);
  int64_t lora_rank;
  SP_TRY(sp_json_get_int(layer->config, "lora_rank", 0, context, &lora_rank));
  if (lora_rank != 0) return sp_fail(SP_ERROR_UNSUPPORTED, "%s: 'lora_rank' is not supported", context);
  return sp_initializer_check(sp_json_member(layer->config, "embeddings_initializer"), context);
}

static sp_status embedding_compute_shapes(const sp_layer *layer, int input_count, const sp_shape *inputs,
                                          int *output_count, sp_shape *outputs) {
  const embedding_state *state = layer->state;
  SP_TRY(sp_layer_expect_inputs(layer, input_count, 1, 1));
  if (inputs[0].rank < 1 || inputs[0].rank >= SP_MAX_RANK) {
    char got[96];
    return sp_fail(SP_ERROR_MISMATCH, "%s needs inputs of rank 1 to %d, got %s", sp_layer_describe(layer),
                   SP_MAX_RANK - 1, sp_shape_describe(&inputs[0], got, sizeof got));
  }
  *output_count = 1;
  outputs[0] = inputs[0];
  outputs[0].dims[outputs[0].rank++] = state->output_dim;
  return SP_OK;
}

static sp_status embedding_build(sp_layer *layer, int input_count, const sp_shape *inputs) {
  embedding_state *state = layer->state;
  int64_t shape[2] = {state->input_dim, state->output_dim};
  return sp_layer_add_variable(layer, "embeddings", 2, shape, "embeddings", "uniform", 1, &state->embeddings);
}

/* The row for element i of the ids, or an error naming the id. */
static sp_status row_of(const sp_layer *layer, float value, int64_t *row) {
  const embedding_state *state = layer->state;
  double id = trunc((double)value);
  if (!(id >= 0 && id < (double)state->input_dim))
    return sp_fail(SP_ERROR_INVALID_ARGUMENT, "%s: input id %g is out of range: ids must be in [0, %lld) (input_dim)",
                   sp_layer_describe(layer), (double)value, (long long)state->input_dim);
  *row = (int64_t)id;
  return SP_OK;
}

static sp_status embedding_forward(const sp_layer *layer, sp_call *call) {
  const embedding_state *state = layer->state;
  const float *ids = sp_tensor_floats(call->inputs[0]), *table = sp_tensor_floats(state->embeddings->value);
  float *out = sp_tensor_floats(call->outputs[0]);
  size_t row_bytes = (size_t)state->output_dim * sizeof *out;
  for (int64_t i = 0; i < sp_tensor_count(call->inputs[0]); i++) {
    int64_t row = 0;
    SP_TRY(row_of(layer, ids[i], &row));
    memcpy(out + i * state->output_dim, table + row * state->output_dim, row_bytes);
  }
  return SP_OK;
}

static sp_status embedding_backward(const sp_layer *layer, sp_call *call) {
  const embedding_state *state = layer->state;
  if (call->input_gradients[0]) memset(call->input_gradients[0]->data, 0, call->input_gradients[0]->size);
  sp_tensor *gradient = sp_variable_gradient(state->embeddings);
  if (!gradient) return SP_OK;
  const float *ids = sp_tensor_floats(call->inputs[0]), *dy = sp_tensor_floats(call->output_gradients[0]);
  float *d_table = sp_tensor_floats(gradient);
  for (int64_t i = 0; i < sp_tensor_count(call->inputs[0]); i++) {
    int64_t row = 0;
    SP_TRY(row_of(layer, ids[i], &row));
    for (int64_t u = 0; u < state->output_dim; u++) d_table[row * state->output_dim + u] += dy[i * state->output_dim + u];
  }
  return SP_OK;
}

const sp_layer_class sp_embedding_class = {
    .class_name = "Embedding", .module = "keras.layers", .state_size = sizeof(embedding_state),
    .configure = embedding_configure, .compute_shapes = embedding_compute_shapes, .build = embedding_build,
    .forward = embedding_forward, .backward = embedding_backward};
