/* layers.c - forward/backward kernels: computational-graph nodes, activations, Affine,
 * SoftmaxWithLoss. Shapes are in ot_layers.h; these functions allocate nothing. */
#include "ot_layers.h"

#include <math.h>
#include <string.h>

#include "ot_gemm.h"

/* ---- Mul and Add nodes ---- */

void ot_mul_forward(const float *x, const float *y, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * y[i];
}

void ot_mul_backward(const float *x, const float *y, const float *dout, float *dx, float *dy,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dx[i] = dout[i] * y[i];
        dy[i] = dout[i] * x[i];
    }
}

void ot_add_forward(const float *x, const float *y, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] + y[i];
}

void ot_add_backward(const float *dout, float *dx, float *dy, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dx[i] = dout[i];
        dy[i] = dout[i];
    }
}

/* ---- Activations ---- */

void ot_relu_forward(const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ot_relu_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void ot_sigmoid_forward(const float *x, float *y, size_t n)
{
    /* exp of a non-positive argument never overflows */
    for (size_t i = 0; i < n; i++) {
        float e = expf(-fabsf(x[i]));
        y[i] = x[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
    }
}

void ot_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dx[i] = dy[i] * y[i] * (1.0f - y[i]);
}

/* ---- Affine ---- */

void ot_affine_forward(const float *x, const float *W, const float *b, float *y, size_t n,
                       size_t in, size_t out)
{
    /* seed every row with the bias, then y += x W in one GEMM */
    for (size_t r = 0; r < n; r++)
        memcpy(y + r * out, b, out * sizeof(float));
    ot_gemm(false, false, n, out, in, 1.0f, x, in, W, out, 1.0f, y, out);
}

void ot_affine_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                        float *db, size_t n, size_t in, size_t out)
{
    if (n == 0)
        return;
    /* dW (in, out) += x^T (in, n) dy (n, out) */
    ot_gemm(true, false, in, out, n, 1.0f, x, in, dy, out, 1.0f, dW, out);
    for (size_t r = 0; r < n; r++) {
        const float *row = dy + r * out;
        for (size_t j = 0; j < out; j++)
            db[j] += row[j];
    }
    /* dx (n, in) = dy (n, out) W^T (out, in) */
    if (dx)
        ot_gemm(false, true, n, in, out, 1.0f, dy, out, W, out, 0.0f, dx, in);
}

/* ---- SoftmaxWithLoss ---- */

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
