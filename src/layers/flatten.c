/* flatten.c - the Flatten kind: an image (h, w, c) becomes the vector of its h w c values in
 * memory order (NHWC: channels innermost). An Affine flattens its input by itself; Flatten
 * makes it explicit, and anything that needs an image (convolution, pooling) refuses what
 * comes after it. */
#include <stdio.h>
#include <string.h>

#include "ot_net.h"
#include "ot_onnx.h"

static int shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)c;
    if (L->in.flat) {
        snprintf(err, n, "the input is flat already; flatten goes after the last convolution "
                 "or pooling");
        return -1;
    }
    L->out = (ot_shape_t){L->in_size, 1, 1, 1};
    return 0;
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    memcpy(c->y, c->x, c->n * L->out_size * sizeof(float));
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    memcpy(c->dx, c->dy, c->n * L->in_size * sizeof(float));
}

static int blank(const ot_layer_t *L, const float *params, const float *in, float *out)
{
    (void)params;
    memcpy(out, in, L->out_size * sizeof(float));
    return 0;
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    memcpy(y, x, r->n * L->out_size * sizeof(double));
}

static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)L, (void)params, (void)state;
    return ot_onnx_flatten(g);
}

const ot_layer_ops_t ot_flatten_ops = {
    .kind = "flatten",
    .usage = "flatten",
    .example = "conv 2 3x3, flatten, relu",
    .parse = ot_layer_parse_none,
    .format = ot_layer_format_none,
    .shape = shape,
    .forward = forward,
    .backward = backward,
    .blank = blank,
    .reference = reference,
    .onnx = onnx,
};
