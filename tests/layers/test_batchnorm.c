/* test_batchnorm.c - the batch normalization kernels (src/layers/batchnorm.c): backward for x,
 * gamma and beta against central differences over a whole batch, and a normalized output of
 * zero mean and unit variance per feature. */
#include <math.h>

#include "ot_batchnorm.h"
#include "ot_rng.h"
#include "ot_test.h"

enum { N = 6, D = 3 };

typedef struct {
    float x[N * D], gamma[D], beta[D], y[N * D], R[N * D];
    float mean[D], inv_std[D];
} bn_ctx;

/* Forward over the whole batch (one shard); returns L = sum(y * R) in double. */
static double bn_loss(bn_ctx *c)
{
    double s[D], mean[D], sq[D];
    ot_bn_partial_sum(c->x, N, D, s);
    for (int f = 0; f < D; f++)
        mean[f] = s[f] / N;
    ot_bn_partial_sqdev(c->x, mean, N, D, sq);
    for (int f = 0; f < D; f++) {
        c->mean[f] = (float)mean[f];
        c->inv_std[f] = (float)(1.0 / sqrt(sq[f] / N + OT_BN_EPS));
    }
    ot_bn_forward(c->x, c->mean, c->inv_std, c->gamma, c->beta, c->y, N, D);
    double L = 0;
    for (int i = 0; i < N * D; i++)
        L += (double)c->y[i] * c->R[i];
    return L;
}

static double numeric(bn_ctx *c, float *p, float h)
{
    float keep = *p;
    *p = keep + h;
    double up = bn_loss(c);
    *p = keep - h;
    double down = bn_loss(c);
    *p = keep;
    return (up - down) / (2.0 * h);
}

static void test_batchnorm_gradient(void)
{
    bn_ctx c;
    ot_rng_t r;
    ot_rng_seed(&r, 9);
    for (int i = 0; i < N * D; i++) {
        c.x[i] = (float)(2.0 * ot_rng_normal(&r) + 1.0);
        c.R[i] = (float)ot_rng_normal(&r);
    }
    for (int f = 0; f < D; f++) {
        c.gamma[f] = (float)(1.0 + 0.5 * ot_rng_normal(&r));
        c.beta[f] = (float)ot_rng_normal(&r);
    }
    bn_loss(&c);
    double sum_dy[D], sum_dy_xhat[D];
    float dx[N * D];
    ot_bn_partial_backward(c.x, c.R, c.mean, c.inv_std, N, D, sum_dy, sum_dy_xhat);
    ot_bn_backward(c.x, c.R, c.mean, c.inv_std, c.gamma, sum_dy, sum_dy_xhat, N, dx, N, D);
    double worst = 0, gmax = 0;
    for (int i = 0; i < N * D; i++) {
        double num = numeric(&c, &c.x[i], 1e-2f);
        worst = fmax(worst, fabs(num - dx[i]) / fmax(1e-2, fabs(num) + fabs(dx[i])));
        gmax = fmax(gmax, fabs(dx[i]));
    }
    for (int f = 0; f < D; f++) {
        double ng = numeric(&c, &c.gamma[f], 1e-2f), nb = numeric(&c, &c.beta[f], 1e-2f);
        worst = fmax(worst, fabs(ng - sum_dy_xhat[f]) / fmax(1e-2, fabs(ng)));
        worst = fmax(worst, fabs(nb - sum_dy[f]) / fmax(1e-2, fabs(nb)));
    }
    CU_ASSERT(gmax > 1e-2); /* an all-zero gradient must not pass */
    CU_ASSERT(worst < 5e-3);

    /* the normalized output has zero mean and unit variance per feature before gamma, beta */
    bn_loss(&c);
    for (int f = 0; f < D; f++) {
        double m = 0, v = 0;
        for (int i = 0; i < N; i++)
            m += (c.y[i * D + f] - c.beta[f]) / c.gamma[f];
        m /= N;
        for (int i = 0; i < N; i++) {
            double z = (c.y[i * D + f] - c.beta[f]) / c.gamma[f] - m;
            v += z * z;
        }
        CU_ASSERT_DOUBLE_EQUAL(m, 0.0, 1e-5);
        CU_ASSERT_DOUBLE_EQUAL(v / N, 1.0, 1e-3);
    }
}

OT_TEST_SUITE(batchnorm, NULL, NULL,
              {"batch norm backward vs numerical gradient", test_batchnorm_gradient})
