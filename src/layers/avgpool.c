/* avgpool.c - the average-pooling kind: each output is the mean of its window, per channel
 * (the sum in window order, divided by the window's size). */
#include <string.h>

#include "ot_conv.h"
#include "ot_net.h"
#include "ot_onnx.h"

/* ---------------------------------------------------------------- the kernels */

void ot_avgpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    const float k = (float)(g->kh * g->kw);
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                float *o = y + s * out + (oy * g->ow + ox) * c;
                memset(o, 0, c * sizeof(float));
                for (size_t ky = 0; ky < g->kh; ky++)
                    for (size_t kx = 0; kx < g->kw; kx++) {
                        const size_t iy = oy * g->stride + ky, ix = ox * g->stride + kx;
                        const float *v = x + s * in + (iy * g->w + ix) * c;
                        for (size_t ch = 0; ch < c; ch++)
                            o[ch] += v[ch];
                    }
                for (size_t ch = 0; ch < c; ch++)
                    o[ch] /= k;
            }
}

void ot_avgpool_backward(const ot_conv_geom_t *g, const float *dy, size_t n, float *dx)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    const float k = (float)(g->kh * g->kw);
    memset(dx, 0, n * in * sizeof(float));
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const float *d = dy + s * out + (oy * g->ow + ox) * c;
                for (size_t ky = 0; ky < g->kh; ky++)
                    for (size_t kx = 0; kx < g->kw; kx++) {
                        const size_t iy = oy * g->stride + ky, ix = ox * g->stride + kx;
                        float *v = dx + s * in + (iy * g->w + ix) * c;
                        for (size_t ch = 0; ch < c; ch++)
                            v[ch] += d[ch] / k;
                    }
            }
}

/* ---------------------------------------------------------------- the kind */

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    ot_avgpool_forward(&g, c->x, c->n, c->y);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    ot_avgpool_backward(&g, c->dy, c->n, c->dx);
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t c = g.c, in = L->in_size, out = L->out_size;
    for (size_t s = 0; s < r->n; s++)
        for (size_t oy = 0; oy < g.oh; oy++)
            for (size_t ox = 0; ox < g.ow; ox++)
                for (size_t ch = 0; ch < c; ch++) {
                    double sum = 0.0;
                    for (size_t ky = 0; ky < g.kh; ky++)
                        for (size_t kx = 0; kx < g.kw; kx++)
                            sum += x[s * in + ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * c + ch];
                    y[s * out + (oy * g.ow + ox) * c + ch] = sum / (double)(g.kh * g.kw);
                }
}

static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)params, (void)state;
    return ot_pool_onnx(L, g, "AveragePool");
}

const ot_layer_ops_t ot_avgpool_ops = {
    .kind = "avgpool",
    .usage = "avgpool WINDOW [stride S] (e.g. avgpool 2)",
    .example = "conv 3 3x3 pad 1, avgpool 3 stride 1",
    .parse = ot_pool_parse,
    .format = ot_pool_format,
    .shape = ot_pool_shape,
    .forward = forward,
    .backward = backward,
    .reference = reference,
    .onnx = onnx,
};
