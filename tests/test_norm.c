/* test_norm.c - batch normalization and dropout kernels: backward against central differences
 * (dropout with its mask fixed by the key), mask statistics and independence of order. */
#include <math.h>
#include <string.h>

#include "ot_batchnorm.h"
#include "ot_dropout.h"
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

static void test_dropout_gradient_with_fixed_mask(void)
{
    ot_dropout_key_t k = {.seed = 3, .step = 17, .layer = 2, .rate = 0.4f};
    uint32_t ids[N] = {5, 99, 3, 1000, 7, 42};
    float x[N * D], y[N * D], R[N * D], dx[N * D];
    ot_rng_t r;
    ot_rng_seed(&r, 4);
    for (int i = 0; i < N * D; i++) {
        x[i] = (float)ot_rng_normal(&r);
        R[i] = (float)ot_rng_normal(&r);
    }
    ot_dropout_backward(&k, ids, R, dx, N, D);
    size_t dropped = 0;
    for (int i = 0; i < N * D; i++) {
        float keep = x[i];
        double L[2];
        for (int s = 0; s < 2; s++) {
            x[i] = keep + (s ? -1e-2f : 1e-2f);
            ot_dropout_forward(&k, ids, x, y, N, D);
            L[s] = 0;
            for (int j = 0; j < N * D; j++)
                L[s] += (double)y[j] * R[j];
        }
        x[i] = keep;
        double num = (L[0] - L[1]) / 2e-2;
        CU_ASSERT_DOUBLE_EQUAL(dx[i], num, 1e-3 * (1 + fabs(num)));
        dropped += dx[i] == 0.0f;
    }
    CU_ASSERT(dropped > 0 && dropped < N * D); /* some dropped, some kept */
}

static void test_dropout_mask(void)
{
    ot_dropout_key_t k = {.seed = 1, .step = 5, .layer = 1, .rate = 0.3f};
    size_t dropped = 0, total = 200000;
    for (size_t i = 0; i < total; i++) {
        float s = ot_dropout_scale(&k, (uint32_t)(i / 100), i % 100);
        CU_ASSERT(s == 0.0f || s == 1.0f / 0.7f);
        dropped += s == 0.0f;
    }
    CU_ASSERT_DOUBLE_EQUAL((double)dropped / total, 0.3, 0.01);
    /* a pure function of the key, the sample and the unit: asking again, or in another order,
     * gives the same answer; another step gives another mask */
    size_t same = 0, differ = 0;
    ot_dropout_key_t k2 = k;
    k2.step = 6;
    for (size_t u = 0; u < 1000; u++) {
        same += ot_dropout_scale(&k, 77, 999 - u) == ot_dropout_scale(&k, 77, 999 - u);
        differ += ot_dropout_scale(&k, 77, u) != ot_dropout_scale(&k2, 77, u);
    }
    CU_ASSERT_EQUAL(same, 1000);
    CU_ASSERT(differ > 300); /* independent masks disagree on 2 * 0.3 * 0.7 = 42% of units */
    k.rate = 0.0f;
    CU_ASSERT(ot_dropout_scale(&k, 1, 1) == 1.0f);
}

OT_TEST_SUITE(norm, NULL, NULL,
              {"batch norm backward vs numerical gradient", test_batchnorm_gradient},
              {"dropout backward vs numerical gradient (fixed mask)", test_dropout_gradient_with_fixed_mask},
              {"dropout mask: rate, scale, a pure function of its key", test_dropout_mask})
