/* fuzz_config.c — libFuzzer target for Keras config JSON → model → config JSON (both layouts).
 *
 * Layer sizes are part of a valid config and a config may legitimately ask for gigabytes of
 * weights; so that the fuzzer tests the reader rather than the allocator, inputs holding an
 * integer beyond ±512 are skipped before the model is built. */
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"
#include "savepoint/model.h"

static int small_numbers(const json_object *value) {
  switch (json_object_get_type(value)) {
    case json_type_int: return llabs(json_object_get_int64(value)) <= 512;
    case json_type_double: return json_object_get_double(value) >= -512 && json_object_get_double(value) <= 512;
    case json_type_array:
      for (size_t i = 0; i < json_object_array_length(value); i++)
        if (!small_numbers(json_object_array_get_idx(value, i))) return 0;
      return 1;
    case json_type_object: {
      json_object_object_foreach((json_object *)value, key, member) {
        (void)key;
        if (member && !small_numbers(member)) return 0;
      }
      return 1;
    }
    default: return 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_object *parsed = NULL;
  if (sp_json_parse((const char *)data, size, "fuzz", &parsed) != SP_OK) return 0;
  int bounded = small_numbers(parsed);
  json_object_put(parsed);
  if (!bounded) return 0;
  sp_model *model = NULL;
  if (sp_model_from_config((const char *)data, size, &model) == SP_OK) {
    free(sp_model_to_config(model, 3));
    free(sp_model_to_config(model, 2));
    sp_model_free(model);
  }
  return 0;
}
