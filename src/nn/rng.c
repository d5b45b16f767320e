/* rng.c — xoshiro256** (Blackman & Vigna) seeded through SplitMix64 (see rng.h). */
#include "nn/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void sp_rng_seed(sp_rng *rng, uint64_t seed) {
  for (int i = 0; i < 4; i++) rng->state[i] = splitmix64(&seed);
}

static uint64_t rotate_left(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t sp_rng_next(sp_rng *rng) {
  uint64_t *s = rng->state;
  uint64_t result = rotate_left(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotate_left(s[3], 45);
  return result;
}

double sp_rng_uniform(sp_rng *rng) { return (double)(sp_rng_next(rng) >> 11) * 0x1.0p-53; }

double sp_rng_normal(sp_rng *rng) {
  double u1 = sp_rng_uniform(rng), u2 = sp_rng_uniform(rng);
  return sqrt(-2.0 * log1p(-u1)) * cos(2.0 * M_PI * u2); /* log1p(-u1): u1 in [0,1) keeps the log finite */
}

uint64_t sp_rng_below(sp_rng *rng, uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    uint64_t value = sp_rng_next(rng);
    if (value >= threshold) return value % bound;
  }
}

void sp_rng_shuffle(sp_rng *rng, int64_t *indices, int64_t count) {
  for (int64_t i = count - 1; i > 0; i--) {
    int64_t j = (int64_t)sp_rng_below(rng, (uint64_t)i + 1);
    int64_t swap = indices[i];
    indices[i] = indices[j];
    indices[j] = swap;
  }
}
