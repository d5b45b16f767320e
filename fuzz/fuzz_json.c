/* fuzz_json.c — libFuzzer target for the guarded JSON parser and the Python-style printer. */
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_object *value = NULL;
  if (sp_json_parse((const char *)data, size, "fuzz", &value) == SP_OK) {
    free(sp_json_dumps(value, 0));
    free(sp_json_dumps(value, 2));
    json_object_put(value);
  }
  return 0;
}
