/* ot_layers.h - the textbook layers' kernels, each a forward/backward pair over a batch of n
 * rows, defined in their kinds' files (src/layers/relu.c, sigmoid.c, affine.c,
 * softmax_loss.c). Kernels are pure: no allocation, no I/O, no globals. In ot_affine_backward
 * the parameter gradients (dW, db) are ACCUMULATED (+=); activation gradients (dx) are
 * WRITTEN (=). All matrices are row-major. */
#ifndef OT_LAYERS_H
#define OT_LAYERS_H

#include <stddef.h>
#include <stdint.h>

/* ---- Activations (element-wise over n values) ---- */

/* y = max(x, 0) */
void ot_relu_forward(const float *x, float *y, size_t n);
/* dx = dy where y > 0, else 0 (uses the forward output y, which is > 0 exactly where x > 0) */
void ot_relu_backward(const float *y, const float *dy, float *dx, size_t n);
/* y = 1 / (1 + exp(-x)), overflow-safe for any x */
void ot_sigmoid_forward(const float *x, float *y, size_t n);
/* dx = dy * y * (1 - y) */
void ot_sigmoid_backward(const float *y, const float *dy, float *dx, size_t n);

/* ---- Affine: y = x W + b ---- */

/* x (n, in), W (in, out), b (out) -> y (n, out) */
void ot_affine_forward(const float *x, const float *W, const float *b, float *y, size_t n,
                       size_t in, size_t out);
/* x (n, in), W (in, out), dy (n, out) -> dW (in, out) += x^T dy, db (out) += sum_rows dy,
 * dx (n, in) = dy W^T; dx may be NULL (first layer: the input needs no gradient). */
void ot_affine_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                        float *db, size_t n, size_t in, size_t out);

/* ---- SoftmaxWithLoss: softmax then cross-entropy against integer labels ---- */

/* x (n, c) scores, t (n) labels in [0, c) -> p (n, c) probabilities. Returns the SUM over the
 * n rows of -log p[t] (log-sum-exp form: finite for any finite x), not the mean: the caller
 * divides once by the full batch. *correct (may be NULL) += rows whose argmax equals t. */
double ot_softmax_loss_forward(const float *x, const int32_t *t, float *p, size_t n, size_t c,
                               size_t *correct);
/* p (n, c), t (n) -> dx (n, c) = p - onehot(t): the gradient of the summed loss. */
void ot_softmax_loss_backward(const float *p, const int32_t *t, float *dx, size_t n, size_t c);

#endif
