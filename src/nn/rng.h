/* rng.h — the seeded random number generator behind initializers, dropout and shuffling.
 *
 * xoshiro256** with a SplitMix64 seeder. Its whole state is four 64-bit words, a plain
 * value that checkpoints save and restore so a resumed run draws the same numbers an
 * uninterrupted one would. Normal variates use Box–Muller without caching a spare, so
 * the state really is just `state[4]`.
 */
#ifndef SP_NN_RNG_H
#define SP_NN_RNG_H

#include <stdint.h>

typedef struct sp_rng {
  uint64_t state[4];
} sp_rng;

void sp_rng_seed(sp_rng *rng, uint64_t seed);
uint64_t sp_rng_next(sp_rng *rng);
/* Uniform in [0, 1) with 53 random bits. */
double sp_rng_uniform(sp_rng *rng);
/* Standard normal. */
double sp_rng_normal(sp_rng *rng);
/* Uniform integer in [0, bound) without modulo bias; bound > 0. */
uint64_t sp_rng_below(sp_rng *rng, uint64_t bound);
/* Fisher–Yates shuffle of count indices. */
void sp_rng_shuffle(sp_rng *rng, int64_t *indices, int64_t count);

#endif
