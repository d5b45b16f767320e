/* state.c — the training loop's state as JSON, and the seeded streams of the determinism
 * contract (train.h): every random draw of a run derives from (seed, epoch, batch, purpose).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "core/memory.h"
#include "train/loop.h"

/* SplitMix64's finalizer: a bijective mix of 64 bits. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void sp_stream_seed(sp_rng *rng, uint64_t seed, int64_t epoch, int64_t batch, int purpose) {
  uint64_t hash = mix(seed);
  hash = mix(hash ^ (uint64_t)epoch);
  hash = mix(hash ^ (uint64_t)batch);
  hash = mix(hash ^ (uint64_t)purpose);
  sp_rng_seed(rng, hash);
}

uint64_t sp_default_seed(const sp_model *model) {
  uint64_t hash = 0;
  for (int i = 0; i < 4; i++) hash = mix(hash ^ model->rng.state[i]);
  return hash;
}

double sp_seconds_now(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* ---- JSON ---- */

static json_object *doubles(const double *values, int count) {
  json_object *list = json_object_new_array();
  for (int i = 0; list && i < count; i++) json_object_array_add(list, json_object_new_double(values[i]));
  return list;
}

char *sp_training_state_to_json(const sp_training_state *state) {
  json_object *root = json_object_new_object();
  if (!root) return NULL;
  char seed[32];
  snprintf(seed, sizeof seed, "%" PRIu64, state->seed); /* a string: JSON readers often lose 64-bit integers */
  json_object_object_add(root, "epoch", json_object_new_int64(state->epoch));
  json_object_object_add(root, "batch", json_object_new_int64(state->batch));
  json_object_object_add(root, "seed", json_object_new_string(seed));
  json_object_object_add(root, "iterations", json_object_new_int64(state->iterations));
  json_object_object_add(root, "metric_totals", doubles(state->metric_totals, state->metric_count));
  json_object_object_add(root, "metric_counts", doubles(state->metric_counts, state->metric_count));
  json_object_object_add(root, "stop_training", json_object_new_boolean(state->stop_training));
  char *text = sp_json_dumps(root, 0);
  json_object_put(root);
  if (!text) sp_fail(SP_ERROR_NO_MEMORY, "cannot serialize the training state");
  return text;
}

static sp_status read_doubles(const json_object *root, const char *key, double *values, int *count) {
  json_object *list;
  SP_TRY(sp_json_require(root, key, json_type_array, "training state", &list));
  size_t length = json_object_array_length(list);
  if (length > SP_MAX_TRACKED_METRICS)
    return sp_fail(SP_ERROR_FORMAT, "training state: '%s' has %zu entries, more than %d", key, length, SP_MAX_TRACKED_METRICS);
  for (size_t i = 0; i < length; i++) {
    json_object *item = json_object_array_get_idx(list, i);
    if (!json_object_is_type(item, json_type_double) && !json_object_is_type(item, json_type_int))
      return sp_fail(SP_ERROR_FORMAT, "training state: '%s'[%zu] is not a number", key, i);
    values[i] = json_object_get_double(item);
  }
  *count = (int)length;
  return SP_OK;
}

static sp_status parse_state(const json_object *root, sp_training_state *state) {
  int64_t epoch, batch, iterations;
  const char *seed;
  SP_TRY(sp_json_get_int(root, "epoch", -1, "training state", &epoch));
  SP_TRY(sp_json_get_int(root, "batch", -1, "training state", &batch));
  SP_TRY(sp_json_get_int(root, "iterations", -1, "training state", &iterations));
  SP_TRY(sp_json_get_string(root, "seed", NULL, "training state", &seed));
  SP_TRY(sp_json_get_bool(root, "stop_training", 0, "training state", &state->stop_training));
  char *end = NULL;
  unsigned long long parsed_seed = seed ? strtoull(seed, &end, 10) : 0;
  if (epoch < 0 || epoch > INT32_MAX || batch < 0 || iterations < 0 || !seed || !*seed || *end)
    return sp_fail(SP_ERROR_FORMAT, "training state: needs epoch, batch and iterations >= 0 and a decimal seed string");
  state->epoch = (int)epoch;
  state->batch = batch;
  state->iterations = iterations;
  state->seed = parsed_seed;
  int totals, counts;
  SP_TRY(read_doubles(root, "metric_totals", state->metric_totals, &totals));
  SP_TRY(read_doubles(root, "metric_counts", state->metric_counts, &counts));
  if (totals != counts) return sp_fail(SP_ERROR_FORMAT, "training state: metric_totals and metric_counts differ in length");
  state->metric_count = totals;
  return SP_OK;
}

sp_status sp_training_state_from_json(const char *json, sp_training_state *state) {
  json_object *root;
  SP_TRY(sp_json_parse(json, strlen(json), "training state", &root));
  sp_training_state parsed = {0};
  sp_status status = parse_state(root, &parsed);
  json_object_put(root);
  if (status == SP_OK) *state = parsed;
  return status;
}
