/* ot_batchnorm.h - batch normalization kernels over a shard of n rows and d features.
 *
 * The statistics span the whole mini-batch, across shards and threads: each shard computes
 * partial sums (ot_bn_partial_*), the engine adds them in shard order, and every shard then
 * normalizes with the batch's mean and variance. Backward needs two batch sums the same way.
 * Partial sums are written (=), parameter gradients accumulated (+=) by the engine. */
#ifndef OT_BATCHNORM_H
#define OT_BATCHNORM_H

#include <stddef.h>

#define OT_BN_EPS 1e-5 /* added to the variance before the square root */

/* x (n, d) -> s (d) = sum over rows of x */
void ot_bn_partial_sum(const float *x, size_t n, size_t d, double *s);

/* x (n, d), mean (d) -> s (d) = sum over rows of (x - mean)^2 */
void ot_bn_partial_sqdev(const float *x, const double *mean, size_t n, size_t d, double *s);

/* x (n, d) -> y = gamma (x - mean) inv_std + beta; mean, inv_std, gamma, beta (d) */
void ot_bn_forward(const float *x, const float *mean, const float *inv_std, const float *gamma,
                   const float *beta, float *y, size_t n, size_t d);

/* x, dy (n, d) -> sum_dy (d) = sum dy, sum_dy_xhat (d) = sum dy xhat, xhat = (x-mean) inv_std.
 * These are also the shard's dbeta and dgamma. */
void ot_bn_partial_backward(const float *x, const float *dy, const float *mean,
                            const float *inv_std, size_t n, size_t d, double *sum_dy,
                            double *sum_dy_xhat);

/* dx (n, d) = gamma inv_std (dy - sum_dy / N - xhat sum_dy_xhat / N), with the sums over the
 * whole batch of N rows. */
void ot_bn_backward(const float *x, const float *dy, const float *mean, const float *inv_std,
                    const float *gamma, const double *sum_dy, const double *sum_dy_xhat,
                    size_t batch, float *dx, size_t n, size_t d);

#endif
