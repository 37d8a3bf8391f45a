/* test_conv2d.c - the convolution kernels (src/layers/conv2d.c): im2col against its
 * definition, in blocks as whole, with stride, padding and a non-square window; col2im as its
 * exact adjoint. (The kind's backward against central differences, its sharding and its
 * checkpoint are in the registry's conformance suite, test_registry.c.) */
#include <stdlib.h>
#include <string.h>

#include "ot_conv.h"
#include "ot_test.h"

/* 2 images 5x6 with 3 channels, a 3x2 window, stride 2, padding 1: 3x4 outputs */
static const ot_conv_geom_t G = {5, 6, 3, 3, 2, 2, 1, 3, 4};
enum { N = 2, IN = 5 * 6 * 3, K = 3 * 2 * 3, P = 3 * 4 };

/* x's value at (s, y, x, ch), 0 outside the image: the definition im2col must follow */
static float at(const float *x, size_t s, long y, long xx, size_t ch)
{
    if (y < 0 || y >= (long)G.h || xx < 0 || xx >= (long)G.w)
        return 0.0f;
    return x[((s * G.h + (size_t)y) * G.w + (size_t)xx) * G.c + ch];
}

/* small integers: every sum below is exact */
static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int)((i * 2654435761u + seed) % 19) - 9);
}

static void test_im2col_definition(void)
{
    float x[N * IN], col[N * P * K];
    fill(x, N * IN, 1);
    ot_im2col(&G, x, 0, N * P, col);
    int ok = 1;
    for (size_t q = 0; q < N * P; q++) {
        size_t s = q / P, oy = q % P / G.ow, ox = q % P % G.ow;
        for (size_t ky = 0; ky < G.kh; ky++)
            for (size_t kx = 0; kx < G.kw; kx++)
                for (size_t ch = 0; ch < G.c; ch++) {
                    long y = (long)(oy * G.stride + ky) - 1, xx = (long)(ox * G.stride + kx) - 1;
                    ok &= col[q * K + (ky * G.kw + kx) * G.c + ch] == at(x, s, y, xx, ch);
                }
    }
    CU_ASSERT(ok);
    /* padding is there: the first row's first tap is outside the image */
    CU_ASSERT_EQUAL(col[0], 0.0f);
    /* in blocks of any size: the same rows */
    float part[N * P * K];
    for (size_t q0 = 0; q0 < N * P; q0 += 5)
        ot_im2col(&G, x, q0, q0 + 5 <= N * P ? 5 : N * P - q0, part + q0 * K);
    CU_ASSERT(memcmp(part, col, sizeof col) == 0);
}

/* <im2col(x), d> == <x, col2im(d)>: col2im adds each tap back where im2col took it from */
static void test_col2im_is_the_adjoint(void)
{
    float x[N * IN], d[N * P * K], col[N * P * K], dx[N * IN];
    fill(x, N * IN, 3);
    fill(d, N * P * K, 7);
    ot_im2col(&G, x, 0, N * P, col);
    memset(dx, 0, sizeof dx);
    ot_col2im_add(&G, d, 0, 7, dx); /* in two calls */
    ot_col2im_add(&G, d + 7 * K, 7, N * P - 7, dx);
    double lhs = 0.0, rhs = 0.0;
    for (size_t i = 0; i < N * P * K; i++)
        lhs += (double)col[i] * d[i];
    for (size_t i = 0; i < N * IN; i++)
        rhs += (double)x[i] * dx[i];
    CU_ASSERT(lhs != 0.0);
    CU_ASSERT_EQUAL(lhs, rhs);
    /* it adds: a second pass doubles dx */
    float twice[N * IN];
    memcpy(twice, dx, sizeof dx);
    ot_col2im_add(&G, d, 0, N * P, twice);
    int ok = 1;
    for (size_t i = 0; i < N * IN; i++)
        ok &= twice[i] == 2.0f * dx[i];
    CU_ASSERT(ok);
}

OT_TEST_SUITE(conv2d, NULL, NULL,
              {"im2col follows its definition, in blocks as whole", test_im2col_definition},
              {"col2im is im2col's adjoint and adds", test_col2im_is_the_adjoint})
