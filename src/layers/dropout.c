/* dropout.c - inverted dropout; masks from a counter-based hash (see ot_dropout.h). */
#include "ot_dropout.h"

/* A 64-bit finalizer (splitmix64's): every input bit affects every output bit. */
static inline uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

float ot_dropout_scale(const ot_dropout_key_t *k, uint32_t sample, size_t unit)
{
    uint64_t h = mix(k->seed ^ 0x6a09e667f3bcc909ULL);
    h = mix(h ^ k->step);
    h = mix(h ^ ((uint64_t)k->layer << 32 | sample));
    h = mix(h ^ (uint64_t)unit);
    /* top 24 bits as a uniform float in [0, 1): exact, so the comparison is too */
    float u = (float)(h >> 40) * 0x1.0p-24f;
    return u < k->rate ? 0.0f : 1.0f / (1.0f - k->rate);
}

void ot_dropout_forward(const ot_dropout_key_t *k, const uint32_t *ids, const float *x, float *y,
                        size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++)
        for (size_t u = 0; u < d; u++)
            y[r * d + u] = x[r * d + u] * ot_dropout_scale(k, ids[r], u);
}

void ot_dropout_backward(const ot_dropout_key_t *k, const uint32_t *ids, const float *dy,
                         float *dx, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++)
        for (size_t u = 0; u < d; u++)
            dx[r * d + u] = dy[r * d + u] * ot_dropout_scale(k, ids[r], u);
}
