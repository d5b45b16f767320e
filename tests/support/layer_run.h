/* layer_run.h — running one layer outside a model in unit tests.
 *
 * Builds a layer for given inputs, sets its variables by name, and runs forward in
 * inference or training mode with the scratch and generator a runner would pass.
 * Every helper asserts (Criterion) instead of returning a status.
 */
#ifndef SP_TEST_LAYER_RUN_H
#define SP_TEST_LAYER_RUN_H

#include <stdint.h>

#include "nn/layer.h"

typedef struct sp_test_layer_run {
  int output_count;
  sp_tensor *outputs[SP_MAX_LAYER_OUTPUTS];
  sp_scratch scratch;
} sp_test_layer_run;

/* A float32 tensor holding a copy of values (count = product of shape). */
sp_tensor *sp_test_tensor(int rank, const int64_t *shape, const float *values);
/* Builds the layer for the inputs' shapes unless built; marks every variable initialized. */
void sp_test_build_layer(sp_layer *layer, int input_count, sp_tensor **inputs);
/* The variable called name (asserts that it exists). */
sp_variable *sp_test_variable(const sp_layer *layer, const char *name);
/* Copies values into the variable called name. */
void sp_test_set_variable(sp_layer *layer, const char *name, const float *values);
/* Builds if needed, allocates outputs from compute_shapes and runs forward; seed feeds the
 * generator in training. Reusing run keeps its scratch (as a runner does between calls). */
void sp_test_forward(sp_layer *layer, int input_count, sp_tensor **inputs, int training, uint64_t seed,
                     sp_test_layer_run *run);
void sp_test_layer_run_free(sp_test_layer_run *run);
/* Predicts one-input model on input and compares its first output with expected (count values). */
void sp_test_expect_prediction(sp_model *model, const sp_tensor *input, const float *expected, int count,
                               double relative, double absolute, const char *what);
/* Asserts that creating class_name from config fails with a message containing fragment. */
void sp_test_refused(const char *class_name, const char *config, const char *fragment);

#endif
