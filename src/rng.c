/* rng.c - xoshiro256** (Blackman & Vigna), seeded with splitmix64; Box-Muller normals;
 * unbiased bounded integers (Lemire's multiply-and-reject) for the shuffle. */
#include "ot_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void ot_rng_seed(ot_rng_t *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t ot_rng_u64(ot_rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t ot_rng_below(ot_rng_t *r, uint64_t n)
{
    /* Lemire: the high half of x * n is uniform on [0, n) once the biased low zone is rejected */
    unsigned __int128 m = (unsigned __int128)ot_rng_u64(r) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)ot_rng_u64(r) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double ot_rng_uniform(ot_rng_t *r)
{
    return (double)(ot_rng_u64(r) >> 11) * 0x1.0p-53;
}

double ot_rng_normal(ot_rng_t *r)
{
    /* Box-Muller with u1 in (0, 1] so the log is finite; one deviate per call keeps the stream
     * a pure function of the number of draws (no cached second value to checkpoint). */
    double u1 = 1.0 - ot_rng_uniform(r);
    double u2 = ot_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}

void ot_rng_shuffle(ot_rng_t *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)ot_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
