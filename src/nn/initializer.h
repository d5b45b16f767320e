/* initializer.h — Keras initializers, regularizers and constraints, driven by their config.
 *
 * Specs are what a Keras config holds: a string ("glorot_uniform") or an object
 * ({"class_name": "VarianceScaling", "config": {...}} with or without Keras 3's module keys).
 * The math follows Keras (fans, truncation at two standard deviations, the 0.8796… correction
 * of VarianceScaling's truncated normal); the random stream is savepoint's own seeded one.
 */
#ifndef SP_NN_INITIALIZER_H
#define SP_NN_INITIALIZER_H

#include <json.h>

#include "core/status.h"
#include "nn/layer.h"
#include "nn/rng.h"

/* Checks that spec names a known initializer with valid arguments. NULL spec means zeros. */
sp_status sp_initializer_check(const json_object *spec, const char *context) SP_MUST_CHECK;
/* Fills a float32 tensor. A spec with an integer "seed" uses its own generator seeded with it. */
sp_status sp_initializer_fill(const json_object *spec, sp_tensor *tensor, sp_rng *rng, const char *context) SP_MUST_CHECK;
/* Keras fan computation for a variable shape. */
void sp_compute_fans(int rank, const int64_t *shape, double *fan_in, double *fan_out);

/* L1, L2, L1L2 (and their lower-case names); NULL spec means none. */
sp_status sp_regularizer_parse(const json_object *spec, const char *context, sp_regularizer *regularizer) SP_MUST_CHECK;
/* Penalty l1*sum|w| + l2*sum w^2, and its gradient added into gradient (may be NULL). */
double sp_regularizer_apply(const sp_regularizer *regularizer, const sp_tensor *value, sp_tensor *gradient);

/* NonNeg, MaxNorm, MinMaxNorm, UnitNorm; NULL spec means none. */
sp_status sp_constraint_parse(const json_object *spec, const char *context, sp_constraint *constraint) SP_MUST_CHECK;
/* Projects value in place as Keras does after each optimizer step. */
void sp_constraint_apply(const sp_constraint *constraint, sp_tensor *value);

#endif
