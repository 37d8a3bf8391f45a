/* ot_rng.h - the project's own seeded PRNG (xoshiro256**, seeded through splitmix64).
 * Every random decision (weight init, shuffle) draws from explicit state: never rand(). */
#ifndef OT_RNG_H
#define OT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
} ot_rng_t;

/* Seed the generator: any 64-bit seed (0 included) gives a valid, distinct state. */
void ot_rng_seed(ot_rng_t *r, uint64_t seed);

/* Next 64 random bits. */
uint64_t ot_rng_u64(ot_rng_t *r);

/* Uniform integer in [0, n), without modulo bias; n > 0. */
uint64_t ot_rng_below(ot_rng_t *r, uint64_t n);

/* Uniform double in [0, 1) with 53 random bits. */
double ot_rng_uniform(ot_rng_t *r);

/* Standard normal deviate (Box-Muller in double precision). */
double ot_rng_normal(ot_rng_t *r);

/* Fisher-Yates shuffle of idx[0..n). */
void ot_rng_shuffle(ot_rng_t *r, uint32_t *idx, size_t n);

#endif
