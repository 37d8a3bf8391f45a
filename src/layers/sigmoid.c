/* sigmoid.c - the Sigmoid layer kind: y = 1 / (1 + exp(-x)), element-wise. */
#include <math.h>

#include "ot_layers.h"

#include "ot_layer.h"
#include "ot_onnx.h"

/* The one formula of each, for the kernels below and their in-place forms. exp of a
 * non-positive argument never overflows. */
static inline float sigmoid_of(float x)
{
    float e = expf(-fabsf(x));
    return x >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
}

static inline float sigmoid_grad_of(float y, float dy)
{
    return dy * y * (1.0f - y);
}

void ot_sigmoid_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sigmoid_of(x[i]);
}

void ot_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = sigmoid_grad_of(y[i], dy[i]);
}

/* The same two, in place, for a layer that fuses this one (ops->pointwise_fwd, _bwd). */
static void sigmoid_in_place(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = sigmoid_of(y[i]);
}

static void sigmoid_grad(const float *restrict y, float *restrict dy, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] = sigmoid_grad_of(y[i], dy[i]);
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_sigmoid_forward(c->x, c->y, c->n * L->out_size);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_sigmoid_backward(c->y, c->dy, c->dx, c->n * L->out_size);
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    for (size_t i = 0; i < r->n * L->out_size; i++)
        y[i] = 1.0 / (1.0 + exp(-x[i]));
}

static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)L, (void)params, (void)state;
    const char *in[1] = {ot_onnx_value(g)};
    return ot_onnx_node(g, "Sigmoid", NULL, in, 1, NULL, 0, OT_ONNX_KEEP);
}

const ot_layer_ops_t ot_sigmoid_ops = {
    .kind = "sigmoid",
    .usage = "sigmoid",
    .example = "conv 3 3x3, sigmoid",
    .parse = ot_layer_parse_none,
    .format = ot_layer_format_none,
    .shape = ot_layer_shape_same,
    .forward = forward,
    .backward = backward,
    .pointwise_fwd = sigmoid_in_place,
    .pointwise_bwd = sigmoid_grad,
    .reference = reference,
    .onnx = onnx,
};
