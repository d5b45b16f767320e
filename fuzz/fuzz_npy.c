/* fuzz_npy.c — libFuzzer target for the .npy reader, the NumPy-style printer and the writer. */
#include <stdint.h>
#include <stdlib.h>

#include "core/bytes.h"
#include "core/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_tensor *tensor = NULL;
  if (sp_npy_parse(data, size, "fuzz", &tensor) != SP_OK) return 0;
  sp_buffer out = {0};
  (void)sp_npy_format(tensor, &out);
  sp_buffer_free(&out);
  (void)sp_npy_encode(tensor, &out);
  sp_buffer_free(&out);
  sp_tensor_free(tensor);
  return 0;
}
