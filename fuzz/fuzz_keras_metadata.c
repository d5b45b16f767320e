/* fuzz_keras_metadata.c — libFuzzer target for keras_metadata.pb: guarded protobuf unpacking, the
 * root record, its JSON, the decoding of Keras's tuple and TensorShape encodings into a model config,
 * and the config safety check. Building the model itself is the config reader's target (its sizes
 * come from the config, not from this file format). */
#include <stdint.h>
#include <stdlib.h>

#include "core/json.h"
#include "formats/keras_saved_model.h"
#include "nn/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  json_object *root = NULL;
  if (sp_keras_metadata_root(data, size, "fuzz", &root) != SP_OK) return 0;
  json_object *config = NULL;
  if (sp_keras_metadata_model_config(root, "fuzz", &config) == SP_OK) {
    (void)sp_config_check_safe(config, "fuzz");
    free(sp_json_dumps(config, 0));
    json_object_put(config);
  }
  json_object_put(root);
  return 0;
}
