/* softmax_loss.c - the SoftmaxWithLoss kind: softmax, then cross-entropy against integer
 * labels. It closes every stack: its forward reports each shard's summed loss and hits, its
 * backward starts the gradient (p - onehot(t), the gradient of the SUMMED loss; the engine
 * divides the parameter gradient by the batch size once, at the end). */
#include <math.h>
#include <string.h>

#include "ot_layers.h"

#include "ot_layer.h"
#include "ot_onnx.h"

double ot_softmax_loss_forward(const float *x, const int32_t *t, float *p, size_t n, size_t c,
                               size_t *correct)
{
    double loss = 0.0;
    size_t hits = 0;
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * c;
        float *pr = p + r * c;
        size_t arg = 0;
        for (size_t j = 1; j < c; j++)
            if (xr[j] > xr[arg])
                arg = j;
        float max = xr[arg];
        /* subtracting the max keeps exp in (0, 1]; the sum is >= 1, so its log is finite */
        double sum = 0.0;
        for (size_t j = 0; j < c; j++) {
            pr[j] = expf(xr[j] - max);
            sum += pr[j];
        }
        float inv = (float)(1.0 / sum);
        for (size_t j = 0; j < c; j++)
            pr[j] *= inv;
        /* -log softmax(x)_t = log(sum) - (x_t - max): no log(0) even when p_t underflows */
        loss += log(sum) - (double)(xr[t[r]] - max);
        hits += (size_t)t[r] == arg;
    }
    if (correct)
        *correct += hits;
    return loss;
}

void ot_softmax_loss_backward(const float *p, const int32_t *t, float *dx, size_t n, size_t c)
{
    memcpy(dx, p, n * c * sizeof(float));
    for (size_t r = 0; r < n; r++)
        dx[r * c + (size_t)t[r]] -= 1.0f;
}

/* loss and hits per shard: the engine sums them in shard order */
static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const size_t k = L->out_size;
    for (size_t i = 0; i < c->n_leaves; i++) {
        ot_leaf_t *f = &c->leaves[i];
        f->correct = 0;
        f->loss = ot_softmax_loss_forward(c->x + f->lo * k, c->labels + f->lo, c->y + f->lo * k,
                                          f->rows, k, &f->correct);
    }
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    ot_softmax_loss_backward(c->y, c->labels, c->dx, c->n, L->out_size);
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const size_t d = L->out_size;
    (void)y;
    for (size_t i = 0; i < r->n; i++) {
        const double *row = x + i * d;
        double max = row[0], sum = 0.0;
        for (size_t j = 1; j < d; j++)
            max = fmax(max, row[j]);
        for (size_t j = 0; j < d; j++)
            sum += exp(row[j] - max);
        r->loss += log(sum) - (row[r->labels[i]] - max);
    }
}

/* inference: Softmax over the classes, which must be in omptrain's order */
static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)L, (void)params, (void)state;
    if (ot_onnx_flatten_natural(g))
        return -1;
    const char *in[1] = {ot_onnx_value(g)};
    const ot_onnx_attr_t axis = OT_ONNX_INT("axis", 1);
    return ot_onnx_node(g, "Softmax", NULL, in, 1, &axis, 1, OT_ONNX_FLAT);
}

const ot_layer_ops_t ot_softmax_loss_ops = {
    .kind = "softmax_loss",
    .usage = "nothing: the loss closes every stack by itself",
    .example = "",
    .parse = ot_layer_parse_none,
    .format = ot_layer_format_none,
    .shape = ot_layer_shape_same,
    .forward = forward,
    .backward = backward,
    .is_loss = 1,
    .reference = reference,
    .onnx = onnx,
};
