/* test_dropout.c - the dropout kernels (src/layers/dropout.c): backward against central
 * differences with the mask fixed by its key, the mask's rate and scale, and the mask a pure
 * function of (key, sample, unit), whatever the order of the questions. */
#include <math.h>

#include "ot_dropout.h"
#include "ot_rng.h"
#include "ot_test.h"

enum { N = 6, D = 3 };

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

OT_TEST_SUITE(dropout, NULL, NULL,
              {"dropout backward vs numerical gradient (fixed mask)",
               test_dropout_gradient_with_fixed_mask},
              {"dropout mask: rate, scale, a pure function of its key", test_dropout_mask})
