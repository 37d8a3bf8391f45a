/* dropout.c - the Dropout layer kind: inverted dropout with masks from a counter-based hash
 * of (seed, step, sample, layer, unit) (see ot_dropout.h); evaluation passes x through. */
#include "ot_dropout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_layer.h"
#include "ot_onnx.h"

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

/* ---------------------------------------------------------------- the kind */

typedef struct {
    float rate; /* fraction of units dropped in training, in [0, 1) */
} dropout_args_t;
OT_LAYER_ARGS_FIT(dropout_args_t);

static int parse(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    char *end;
    double rate = argc == 1 ? strtod(argv[0], &end) : 0.0;
    if (argc != 1) {
        snprintf(err, n, "one rate");
        return -1;
    }
    if (*end || end == argv[0] || !(rate >= 0.0 && rate < 1.0)) {
        snprintf(err, n, "'%s': RATE must be a fraction in [0, 1)", argv[0]);
        return -1;
    }
    OT_LAYER_ARGS(dropout_args_t, L)->rate = (float)rate;
    return 0;
}

/* The rate in the fewest digits that parse reads back as the same float: "0.3", not the
 * "0.300000012" of %.9g. */
static void format(const ot_layer_t *L, char *buf, size_t n)
{
    const float rate = OT_LAYER_ARGS(dropout_args_t, L)->rate;
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, n, "%.*g", digits, (double)rate);
        if ((float)strtod(buf, NULL) == rate)
            return;
    }
}

static ot_dropout_key_t key(const ot_layer_t *L, uint64_t seed, uint64_t step)
{
    return (ot_dropout_key_t){seed, step, (uint32_t)L->index,
                              OT_LAYER_ARGS(dropout_args_t, L)->rate};
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    if (c->train) {
        ot_dropout_key_t k = key(L, c->seed, c->step);
        ot_dropout_forward(&k, c->ids, c->x, c->y, c->n, L->out_size);
    } else {
        memcpy(c->y, c->x, c->n * L->out_size * sizeof(float));
    }
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_dropout_key_t k = key(L, c->seed, c->step);
    ot_dropout_backward(&k, c->ids, c->dy, c->dx, c->n, L->out_size);
}

/* the training pass's mask: the same key */
static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const size_t d = L->out_size;
    ot_dropout_key_t k = key(L, r->seed, r->step);
    for (size_t i = 0; i < r->n; i++)
        for (size_t j = 0; j < d; j++)
            y[i * d + j] = x[i * d + j] * ot_dropout_scale(&k, r->ids[i], j);
}

/* inverted dropout passes x through at inference: no node at all */
static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)L, (void)g, (void)params, (void)state;
    return 0;
}

const ot_layer_ops_t ot_dropout_ops = {
    .kind = "dropout",
    .usage = "dropout RATE (a fraction in [0, 1))",
    .example = "affine 8, dropout 0.3",
    .parse = parse,
    .format = format,
    .computes = ot_layer_format_none, /* the rate acts in training alone */
    .shape = ot_layer_shape_same,
    .forward = forward,
    .backward = backward,
    .reference = reference,
    .onnx = onnx,
};
