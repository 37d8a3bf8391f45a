/* relu.c - the ReLU layer kind: y = max(x, 0), element-wise. */
#include "ot_layers.h"

#include "ot_layer.h"
#include "ot_onnx.h"

/* The one formula of each, for the kernels below and their in-place forms. */
static inline float relu_of(float x)
{
    return x > 0.0f ? x : 0.0f;
}

static inline float relu_grad(float y, float dy)
{
    return y > 0.0f ? dy : 0.0f;
}

void ot_relu_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = relu_of(x[i]);
}

void ot_relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = relu_grad(y[i], dy[i]);
}

/* The same two, in place, for a layer that fuses this one (ops->pointwise_fwd, _bwd). */
static void relu_in_place(float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = relu_of(y[i]);
}

static void relu_mask(const float *restrict y, float *restrict dy, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dy[i] = relu_grad(y[i], dy[i]);
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_relu_forward(c->x, c->y, c->n * L->out_size);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_relu_backward(c->y, c->dy, c->dx, c->n * L->out_size);
}

/* The kink at 0: recorded at the unperturbed point, so that a perturbation of h that moves an
 * input across 0 does not mix two linear pieces into the difference quotient. */
static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    unsigned char *mask = r->mask;
    for (size_t i = 0; i < r->n * L->out_size; i++) {
        if (r->record)
            mask[i] = x[i] > 0.0;
        y[i] = mask[i] ? x[i] : 0.0;
    }
}

static size_t ref_mask(const ot_layer_t *L)
{
    return L->out_size;
}

static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)L, (void)params, (void)state;
    const char *in[1] = {ot_onnx_value(g)};
    return ot_onnx_node(g, "Relu", NULL, in, 1, NULL, 0, OT_ONNX_KEEP);
}

const ot_layer_ops_t ot_relu_ops = {
    .kind = "relu",
    .usage = "relu",
    .example = "conv 3 3x3, relu",
    .parse = ot_layer_parse_none,
    .format = ot_layer_format_none,
    .shape = ot_layer_shape_same,
    .forward = forward,
    .backward = backward,
    .pointwise_fwd = relu_in_place,
    .pointwise_bwd = relu_mask,
    .reference = reference,
    .ref_mask = ref_mask,
    .onnx = onnx,
};
