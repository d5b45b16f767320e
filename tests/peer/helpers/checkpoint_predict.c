/* checkpoint_predict — for peer tests: builds a model from Keras config JSON, reads a TF
 * checkpoint into it with sp_checkpoint_read, and runs it on raw little-endian float32 rows.
 *
 *   checkpoint_predict ARCH.json PREFIX INPUT.f32 ROWS OUTPUT.f32
 *
 * The input file holds ROWS rows of the model's (single) input; the output file receives the
 * (single) output's rows. Exit 0 on success, 1 with a message on failure.
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/file.h"
#include "savepoint/checkpoint.h"
#include "savepoint/model.h"

static int fail(const char *what) {
  fprintf(stderr, "checkpoint_predict: %s: %s\n", what, sp_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: checkpoint_predict ARCH.json PREFIX INPUT.f32 ROWS OUTPUT.f32\n");
    return 2;
  }
  uint8_t *config, *input;
  size_t config_size, input_size;
  if (sp_read_file(argv[1], 1 << 24, &config, &config_size) != SP_OK) return fail("reading the architecture");
  if (sp_read_file(argv[3], 1 << 30, &input, &input_size) != SP_OK) return fail("reading the input");
  sp_model *model;
  if (sp_model_from_config((const char *)config, config_size, &model) != SP_OK) return fail("building the model");
  if (sp_model_build(model) != SP_OK) return fail("building the model");
  if (sp_checkpoint_read(model, argv[2], NULL) != SP_OK) return fail("reading the checkpoint");
  int rank;
  int64_t shape[8];
  if (sp_model_input_shape(model, 0, &rank, shape) != SP_OK) return fail("input shape");
  shape[0] = atoll(argv[4]);
  sp_tensor *x = sp_tensor_wrap(SP_FLOAT32, rank, shape, input);
  int count;
  sp_tensor **outputs;
  if (!x || sp_model_predict(model, 1, (const sp_tensor *const *)&x, &count, &outputs) != SP_OK)
    return fail("predicting");
  if (sp_write_file_atomic(argv[5], outputs[0]->data, outputs[0]->size) != SP_OK) return fail("writing the output");
  for (int i = 0; i < count; i++) sp_tensor_free(outputs[i]);
  free(outputs);
  sp_tensor_free(x);
  sp_model_free(model);
  free(config);
  free(input);
  return 0;
}
