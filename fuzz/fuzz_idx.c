/* fuzz_idx.c — libFuzzer target for the IDX reader (raw and gzip), both output modes. */
#include <stdint.h>
#include <stdlib.h>

#include "train/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_tensor *tensor = NULL;
  if (sp_idx_parse(data, size, "fuzz", 1, 1.0 / 255.0, &tensor) == SP_OK) sp_tensor_free(tensor);
  if (sp_idx_parse(data, size, "fuzz", 0, 1.0, &tensor) == SP_OK) sp_tensor_free(tensor);
  return 0;
}
