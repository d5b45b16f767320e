/* gradient_check.h — finite-difference checks of a layer's backward pass.
 *
 * For L = sum(R ⊙ forward(x)) with a fixed random R, compares the analytic gradients a
 * layer's backward produces (for every input and trainable variable) against central
 * differences (L(x+h) - L(x-h)) / 2h computed in float64 from float32 forwards. Dropout-like
 * randomness is frozen by re-seeding the generator before every forward.
 */
#ifndef SP_TEST_GRADIENT_CHECK_H
#define SP_TEST_GRADIENT_CHECK_H

#include <stdint.h>

#include "nn/layer.h"

typedef struct sp_gradient_check_options {
  double step;          /* h; default 1e-3 */
  double tolerance;     /* relative, against max(|analytic|, |numeric|, 1e-2); default 2e-2 */
  int samples;          /* elements checked per tensor (random subset); default 40 */
  uint64_t seed;
  int skip_input_index; /* inputs that are not differentiable (indices), -1 for none */
} sp_gradient_check_options;

/* Builds the layer for the inputs' shapes if needed, randomizes its variables, and asserts
 * (Criterion) that every checked gradient element agrees. */
void sp_check_layer_gradients(sp_layer *layer, int input_count, sp_tensor **inputs,
                              const sp_gradient_check_options *options);

/* A float32 tensor of the given shape filled with N(0, scale²) values. */
sp_tensor *sp_test_random_tensor(int rank, const int64_t *shape, double scale, uint64_t seed);

#endif
