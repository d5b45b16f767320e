/* fuzz_keras_archive.c — libFuzzer target for the .keras reader (keras_v3.c) on archive bytes:
 * zip validation (zipio), config.json through the safety check and the model builder, and
 * model.weights.h5 through the Keras 3 weights layout, under small limits. Seeds: the fixtures'
 * .keras files (fuzz/seeds/keras_archive.txt). Properties: no crash, no leak, no allocation
 * past the limits, and every model that loads can run a prediction. */
#include <stdint.h>
#include <stdlib.h>

#include "formats/keras_v3.h"
#include "nn/model.h"

static void quiet(const char *message, void *context) {
  (void)message;
  (void)context;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_load_options options = sp_load_defaults();
  options.max_tensor_bytes = UINT64_C(1) << 20;
  options.max_total_bytes = UINT64_C(16) << 20;
  options.max_config_bytes = UINT64_C(1) << 20;
  options.warning = quiet;
  sp_model *model = NULL;
  if (sp_keras_archive_load_memory(data, size, "fuzz.keras", &options, &model) == SP_OK) {
    int rank;
    int64_t shape[SP_MAX_RANK];
    if (sp_model_input_count(model) == 1 && sp_model_input_shape(model, 0, &rank, shape) == SP_OK) {
      shape[0] = 1;
      int64_t count = 1;
      for (int i = 1; i < rank; i++) count *= shape[i] > 0 && shape[i] < 64 ? shape[i] : (shape[i] = 1);
      sp_tensor *input = count < 4096 ? sp_tensor_new(SP_FLOAT32, rank, shape) : NULL;
      int outputs = 0;
      sp_tensor **results = NULL;
      if (input && sp_model_predict(model, 1, (const sp_tensor *const *)&input, &outputs, &results) == SP_OK) {
        for (int i = 0; i < outputs; i++) sp_tensor_free(results[i]);
        free(results);
      }
      sp_tensor_free(input);
    }
    sp_model_free(model);
  }
  return 0;
}
