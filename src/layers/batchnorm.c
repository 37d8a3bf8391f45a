/* batchnorm.c - batch normalization kernels (shapes in ot_batchnorm.h). */
#include "ot_batchnorm.h"

void ot_bn_partial_sum(const float *x, size_t n, size_t d, double *s)
{
    for (size_t f = 0; f < d; f++)
        s[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++)
            s[f] += x[r * d + f];
}

void ot_bn_partial_sqdev(const float *x, const double *mean, size_t n, size_t d, double *s)
{
    for (size_t f = 0; f < d; f++)
        s[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            double dev = x[r * d + f] - mean[f];
            s[f] += dev * dev;
        }
}

void ot_bn_forward(const float *x, const float *mean, const float *inv_std, const float *gamma,
                   const float *beta, float *y, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++)
            y[r * d + f] = gamma[f] * ((x[r * d + f] - mean[f]) * inv_std[f]) + beta[f];
}

void ot_bn_partial_backward(const float *x, const float *dy, const float *mean,
                            const float *inv_std, size_t n, size_t d, double *sum_dy,
                            double *sum_dy_xhat)
{
    for (size_t f = 0; f < d; f++)
        sum_dy[f] = sum_dy_xhat[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            float xhat = (x[r * d + f] - mean[f]) * inv_std[f];
            sum_dy[f] += dy[r * d + f];
            sum_dy_xhat[f] += (double)dy[r * d + f] * xhat;
        }
}

void ot_bn_backward(const float *x, const float *dy, const float *mean, const float *inv_std,
                    const float *gamma, const double *sum_dy, const double *sum_dy_xhat,
                    size_t batch, float *dx, size_t n, size_t d)
{
    /* the batch's mean of dy and of dy * xhat, per feature, as floats for the row loop */
    const float inv_n = (float)(1.0 / (double)batch);
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            float xhat = (x[r * d + f] - mean[f]) * inv_std[f];
            float mdy = (float)sum_dy[f] * inv_n, mdyx = (float)sum_dy_xhat[f] * inv_n;
            dx[r * d + f] = gamma[f] * inv_std[f] * (dy[r * d + f] - mdy - xhat * mdyx);
        }
}
