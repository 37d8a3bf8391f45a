/* maxpool.c - the max-pooling kind: each output is the largest input of its window, per
 * channel. The gradient goes to the input that gave the maximum; of equal maxima the first in
 * window order (row by row, left to right) takes it, in the forward and in the reference
 * alike. The forward records each window's arg-max for the backward. */
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_net.h"

/* ---------------------------------------------------------------- the kernels */

void ot_maxpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y,
                        uint32_t *arg)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const size_t o = s * out + (oy * g->ow + ox) * c;
                float *best = y + o;
                uint32_t *at = arg + o;
                for (size_t ky = 0; ky < g->kh; ky++)
                    for (size_t kx = 0; kx < g->kw; kx++) {
                        const size_t iy = oy * g->stride + ky, ix = ox * g->stride + kx;
                        const size_t i = (iy * g->w + ix) * c;
                        const float *v = x + s * in + i;
                        if (ky == 0 && kx == 0) {
                            for (size_t ch = 0; ch < c; ch++) {
                                best[ch] = v[ch];
                                at[ch] = (uint32_t)(i + ch);
                            }
                            continue;
                        }
                        for (size_t ch = 0; ch < c; ch++)
                            if (v[ch] > best[ch]) { /* strictly: a tie keeps the first */
                                best[ch] = v[ch];
                                at[ch] = (uint32_t)(i + ch);
                            }
                    }
            }
}

void ot_maxpool_backward(const ot_conv_geom_t *g, const float *dy, const uint32_t *arg,
                         size_t n, float *dx)
{
    const size_t in = g->h * g->w * g->c, out = g->oh * g->ow * g->c;
    memset(dx, 0, n * in * sizeof(float));
    for (size_t s = 0; s < n; s++)
        for (size_t o = 0; o < out; o++)
            dx[s * in + arg[s * out + o]] += dy[s * out + o];
}

/* ---------------------------------------------------------------- the kind */

/* Its buffers in an engine: the arg-max of every output of the batch. */
typedef struct {
    uint32_t *arg; /* (max_batch, out_size) */
} maxpool_rt_t;

static void rt_free(void *p)
{
    maxpool_rt_t *rt = p;
    if (rt)
        ot_free(rt->arg);
    ot_free(rt);
}

static int setup(const ot_layer_t *L, size_t B, size_t n_shards, void **out)
{
    (void)n_shards;
    maxpool_rt_t *rt = ot_alloc(sizeof *rt);
    *out = rt;
    if (!rt || !(rt->arg = ot_alloc(B * L->out_size * sizeof(uint32_t))))
        return OT_ENOMEM;
    return OT_OK;
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const maxpool_rt_t *rt = c->rt;
    const ot_conv_geom_t g = ot_pool_geom(L);
    ot_maxpool_forward(&g, c->x, c->n, c->y, rt->arg + c->r0 * L->out_size);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const maxpool_rt_t *rt = c->rt;
    const ot_conv_geom_t g = ot_pool_geom(L);
    ot_maxpool_backward(&g, c->dy, rt->arg + c->r0 * L->out_size, c->n, c->dx);
}

/* The arg-max is the kink: recorded at the unperturbed point, then kept, so that a
 * perturbation that changes which input is largest does not mix two pieces. */
static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t c = g.c, in = L->in_size, out = L->out_size;
    uint32_t *rec = (uint32_t *)(void *)r->mask;
    for (size_t s = 0; s < r->n; s++)
        for (size_t oy = 0; oy < g.oh; oy++)
            for (size_t ox = 0; ox < g.ow; ox++)
                for (size_t ch = 0; ch < c; ch++) {
                    const size_t o = s * out + (oy * g.ow + ox) * c + ch;
                    if (r->record) {
                        size_t at = (oy * g.stride * g.w + ox * g.stride) * c + ch;
                        for (size_t ky = 0; ky < g.kh; ky++)
                            for (size_t kx = 0; kx < g.kw; kx++) {
                                size_t i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * c + ch;
                                if (x[s * in + i] > x[s * in + at])
                                    at = i;
                            }
                        rec[o] = (uint32_t)at;
                    }
                    y[o] = x[s * in + rec[o]];
                }
}

static size_t ref_mask(const ot_layer_t *L)
{
    return L->out_size * sizeof(uint32_t);
}

const ot_layer_ops_t ot_maxpool_ops = {
    .kind = "maxpool",
    .usage = "maxpool WINDOW [stride S] (e.g. maxpool 2, maxpool 3x3 stride 2)",
    .example = "conv 3 3x3 pad 1, maxpool 2",
    .parse = ot_pool_parse,
    .format = ot_pool_format,
    .shape = ot_pool_shape,
    .setup = setup,
    .free = rt_free,
    .forward = forward,
    .backward = backward,
    .reference = reference,
    .ref_mask = ref_mask,
};
