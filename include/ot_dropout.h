/* ot_dropout.h - inverted dropout with counter-based masks.
 *
 * Whether unit u of sample i is kept at step t in layer l is a hash of (seed, t, i, l, u): it
 * does not depend on which shard or thread processes the sample, and backward recomputes the
 * mask instead of storing it. Kept units are scaled by 1 / (1 - rate), so evaluation (which
 * never drops) needs no rescaling. */
#ifndef OT_DROPOUT_H
#define OT_DROPOUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t seed;  /* the run's seed */
    uint64_t step;  /* global optimizer step */
    uint32_t layer; /* index of the dropout layer in the stack */
    float rate;     /* fraction dropped, in [0, 1) */
} ot_dropout_key_t;

/* 0 (dropped) or 1 / (1 - rate) (kept) for unit `unit` of sample `sample`. */
float ot_dropout_scale(const ot_dropout_key_t *k, uint32_t sample, size_t unit);

/* x (n, d), ids (n) sample indices -> y = x * scale */
void ot_dropout_forward(const ot_dropout_key_t *k, const uint32_t *ids, const float *x, float *y,
                        size_t n, size_t d);

/* dy (n, d) -> dx = dy * scale (the same mask) */
void ot_dropout_backward(const ot_dropout_key_t *k, const uint32_t *ids, const float *dy,
                         float *dx, size_t n, size_t d);

#endif
