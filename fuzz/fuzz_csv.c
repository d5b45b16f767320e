/* fuzz_csv.c — libFuzzer target for the numeric CSV reader: header detection, quoting, label
 * selection by index and by name. */
#include <stdint.h>
#include <stdlib.h>

#include "train/dataset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sp_csv_options options[3] = {sp_csv_defaults(), sp_csv_defaults(), sp_csv_defaults()};
  options[1].label_column = 0;
  options[1].header = 1;
  options[2].label_name = "label";
  options[2].separator = ';';
  for (int i = 0; i < 3; i++) {
    sp_tensor *x = NULL, *y = NULL;
    if (sp_csv_parse(data, size, "fuzz", &options[i], &x, &y) == SP_OK) {
      sp_tensor_free(x);
      sp_tensor_free(y);
    }
  }
  return 0;
}
