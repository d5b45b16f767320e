/* checkpoint_save — for integration tests: saves checkpoints of a small model through the
 * checkpoint manager, as a training loop would.
 *
 *   checkpoint_save DIRECTORY WIDTH COUNT [MAX_TO_KEEP] [async]
 *
 * The model is Input(WIDTH) → Dense(WIDTH) (about 4·WIDTH² bytes of weights); its weights change
 * before every save. Prints "saved PREFIX" after each save. On failure prints the message on
 * stderr and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/model.h"
#include "savepoint/checkpoint.h"

static int fail(const char *what) {
  fprintf(stderr, "checkpoint_save: %s: %s\n", what, sp_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: checkpoint_save DIRECTORY WIDTH COUNT [MAX_TO_KEEP] [async]\n");
    return 2;
  }
  int64_t width = atoll(argv[2]);
  int count = atoi(argv[3]);
  sp_model *model = sp_sequential("saved");
  if (sp_model_add(model, sp_input(1, &width)) != SP_OK || sp_model_add(model, sp_dense(width, NULL)) != SP_OK ||
      sp_model_build(model) != SP_OK || sp_model_initialize(model) != SP_OK)
    return fail("building the model");
  sp_checkpoint_manager_options options = sp_checkpoint_manager_defaults();
  if (argc > 4) options.max_to_keep = atoi(argv[4]);
  options.async = argc > 5 && strcmp(argv[5], "async") == 0;
  sp_checkpoint_manager *manager;
  if (sp_checkpoint_manager_open(argv[1], &options, &manager) != SP_OK) return fail("opening");
  float *kernel = sp_tensor_floats(model->layers[1]->variables[0]->value);
  for (int i = 0; i < count; i++) {
    kernel[i % (width * width)] += 1.0f;
    char *prefix;
    if (sp_checkpoint_manager_save(manager, model, NULL, &prefix) != SP_OK) {
      int status = fail("saving");
      sp_checkpoint_manager_close(manager);
      return status;
    }
    printf("saved %s\n", prefix);
    fflush(stdout);
    free(prefix);
  }
  if (sp_checkpoint_manager_close(manager) != SP_OK) return fail("closing");
  sp_model_free(model);
  return 0;
}
