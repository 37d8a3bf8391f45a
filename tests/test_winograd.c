/* test_winograd.c - the F(2x2, 3x3) and F(4x4, 3x3) transforms (src/winograd.c): composed as the convolution
 * kind composes them (filter, input, the 16 per-point channel sums, output), they give the
 * direct 3x3 convolution to float rounding for pads 0, 1, 2 and odd and even sides (tiles
 * past the output's edge); each backward transform is the adjoint of its forward one
 * (<A a, b> = <a, A^T b> in double), channel ranges included; and a channel's transforms give
 * the same bits alone and among 70 (the vector path and the lanes after it). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot_test.h"
#include "ot_winograd.h"

static void fill(float *v, size_t n, unsigned seed)
{
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        v[i] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5);
    }
}

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

/* M[xi] = V[xi] U[xi] over the channels, as the GEMMs of src/layers/conv2d.c form it */
static void pointwise(const ot_wino_geom_t *g, const float *V, size_t psv, const float *U,
                      size_t T, float *M, size_t psm)
{
    for (size_t xi = 0; xi < ot_wino_points(g); xi++)
        for (size_t t = 0; t < T; t++)
            for (size_t f = 0; f < g->f; f++) {
                float s = 0.0f;
                for (size_t c = 0; c < g->c; c++)
                    s += V[xi * psv + t * g->c + c] * U[(xi * g->c + c) * g->f + f];
                M[xi * psm + t * g->f + f] = s;
            }
}

/* y (n, oh, ow, f) = b + the direct convolution of x with W (3, 3, c, f), in double */
static void direct(const ot_wino_geom_t *g, const float *x, const float *W, const float *b,
                   size_t n, double *y)
{
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++)
                for (size_t f = 0; f < g->f; f++) {
                    double v = b[f];
                    for (size_t ky = 0; ky < 3; ky++)
                        for (size_t kx = 0; kx < 3; kx++) {
                            long iy = (long)(oy + ky) - (long)g->pad;
                            long ix = (long)(ox + kx) - (long)g->pad;
                            if (iy < 0 || ix < 0 || iy >= (long)g->h || ix >= (long)g->w)
                                continue;
                            for (size_t c = 0; c < g->c; c++)
                                v += (double)x[((s * g->h + (size_t)iy) * g->w + (size_t)ix) *
                                               g->c + c] *
                                     W[((ky * 3 + kx) * g->c + c) * g->f + f];
                        }
                    y[((s * g->oh + oy) * g->ow + ox) * g->f + f] = v;
                }
}

/* The forward composition against the direct convolution on n images of (h, w, c). */
static void check_forward(size_t h, size_t w, size_t c, size_t f, size_t pad, size_t n,
                          size_t m)
{
    const ot_wino_geom_t g = ot_wino_geom(h, w, c, f, pad, m);
    const size_t T = n * g.th * g.tw, psv = T * c + 16, psm = T * f + 16, NP = ot_wino_points(&g);
    float *x = malloc(n * h * w * c * sizeof(float)), *W = malloc(9 * c * f * sizeof(float));
    float *b = malloc(f * sizeof(float)), *U = malloc(NP * c * f * sizeof(float));
    float *buf = malloc(n * ot_wino_pad_floats(&g) * sizeof(float));
    float *V = malloc(NP * psv * sizeof(float)), *M = malloc(NP * psm * sizeof(float));
    float *y = malloc(n * g.oh * g.ow * f * sizeof(float));
    double *ref = malloc(n * g.oh * g.ow * f * sizeof(double));
    CU_ASSERT_FATAL(x && W && b && U && buf && V && M && y && ref);
    fill(x, n * h * w * c, 1);
    fill(W, 9 * c * f, 2);
    fill(b, f, 3);
    ot_wino_filter(&g, W, 0, c, U, c * f);
    ot_wino_pad(&g, x, n, buf);
    ot_wino_input(&g, buf, n, V, psv);
    pointwise(&g, V, psv, U, T, M, psm);
    ot_wino_output(&g, M, psm, b, n, y);
    direct(&g, x, W, b, n, ref);
    double worst = 0.0;
    for (size_t i = 0; i < n * g.oh * g.ow * f; i++)
        worst = fmax(worst, fabs(y[i] - ref[i]));
    CU_ASSERT(worst < 1e-5 * (double)(9 * c));
    if (worst >= 1e-5 * (double)(9 * c))
        printf("\n  F(%zu, 3) %zux%zux%zu pad %zu: off by %.3g\n", m, h, w, c, pad, worst);
    free(x), free(W), free(b), free(U), free(buf), free(V), free(M), free(y), free(ref);
}

static void test_forward_is_the_convolution(void)
{
    for (size_t m = 2; m <= 4; m += 2) {
        check_forward(28, 28, 3, 4, 1, 2, m); /* even output: whole tiles */
        check_forward(7, 7, 5, 3, 1, 3, m);   /* odd: the last tile partly outside */
        check_forward(7, 6, 2, 2, 0, 2, m);   /* no pad: 5x4 */
        check_forward(5, 8, 3, 2, 2, 1, m);   /* pad 2: 7x10 */
        check_forward(1, 1, 1, 1, 1, 1, m);   /* one pixel */
        check_forward(8, 8, 70, 66, 1, 1, m); /* channels past a run of 64 */
    }
}

static void check_adjoints(size_t m)
{
    const ot_wino_geom_t g = ot_wino_geom(7, 9, 3, 4, 1, m); /* 7x9 out: edge tiles both ways */
    const size_t n = 2, T = n * g.th * g.tw, ps = T * 4 + 16, pf = ot_wino_pad_floats(&g);
    const size_t NP = ot_wino_points(&g);
    enum { BIG = 8192 };
    static float a[BIG], b[BIG], c[BIG], d[BIG];
    CU_ASSERT_FATAL(NP * ps <= BIG && n * pf <= BIG && n * 7 * 9 * 4 <= BIG);

    /* output: <A^T M A, dy> = <M, A dy A^T> */
    fill(a, NP * ps, 4);
    fill(b, n * g.oh * g.ow * 4, 5);
    ot_wino_output(&g, a, ps, NULL, n, c);
    ot_wino_output_grad(&g, b, n, d, ps);
    double l = dot(c, b, n * g.oh * g.ow * 4), r = 0.0;
    for (size_t xi = 0; xi < NP; xi++) /* the planes' padding is neither read nor written */
        r += dot(a + xi * ps, d + xi * ps, T * 4);
    CU_ASSERT(l != 0.0 && fabs(l - r) < 1e-5 * fabs(l));

    /* input: <B^T d B, dV> = <d, B dV B^T>, over the padded images' inside */
    const size_t pc = T * 3 + 16;
    fill(a, n * 7 * 9 * 3, 6);
    ot_wino_pad(&g, a, n, c);
    ot_wino_input(&g, c, n, d, pc);
    fill(b, NP * pc, 7);
    l = 0.0;
    for (size_t xi = 0; xi < NP; xi++)
        l += dot(d + xi * pc, b + xi * pc, T * 3);
    memset(c, 0, n * pf * sizeof(float));
    ot_wino_input_grad(&g, b, pc, n, c);
    fill(d, n * 7 * 9 * 3, 10); /* what was there does not count */
    ot_wino_unpad(&g, c, n, d);
    r = dot(a, d, n * 7 * 9 * 3);
    CU_ASSERT(l != 0.0 && fabs(l - r) < 1e-5 * fabs(l));
    const size_t in0 = (g.m * g.tw + 2 + 1) * 3; /* the first image's first inside element */
    c[in0] = -0.0f;
    ot_wino_unpad(&g, c, n, d);
    CU_ASSERT(d[0] == 0.0f && !signbit(d[0])); /* as 0.0f + -0.0f */

    /* filter: <G g G^T, dU> = <g, G^T dU G>, and a channel range writes only its channels */
    const size_t ups = ot_wino_filter_stride(&g); /* 3 4 + 16: planes apart */
    fill(a, 9 * 3 * 4, 8);
    fill(b, NP * ups, 9);
    ot_wino_filter(&g, a, 0, 3, c, ups);
    for (size_t i = 0; i < 9 * 3 * 4; i++)
        d[i] = -7.0f;
    ot_wino_filter_grad(&g, b, ups, 1, 3, d);
    int kept = 1;
    for (size_t k = 0; k < 9; k++)
        for (size_t f = 0; f < 4; f++)
            kept &= d[(k * 3 + 0) * 4 + f] == -7.0f;
    CU_ASSERT(kept);
    ot_wino_filter_grad(&g, b, ups, 0, 1, d);
    l = 0.0;
    for (size_t xi = 0; xi < NP; xi++)
        l += dot(c + xi * ups, b + xi * ups, 3 * 4);
    CU_ASSERT(l != 0.0 && fabs(l - dot(a, d, 9 * 3 * 4)) < 1e-5 * fabs(l));
}

static void test_transforms_are_adjoints(void)
{
    check_adjoints(2);
    check_adjoints(4);
}

/* Bitwise equality of n floats */
static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* One channel through the four data transforms of F(m x m, 3x3) alone and among C = 70 (past a
 * vector of 16 and a run of 64, so that it takes the vector path, or the lanes after the last
 * whole vector, or, alone, the one-channel path): the same bits every way. */
static void check_channel_alone(size_t h, size_t w, size_t pad, size_t m)
{
    enum { C = 70, N = 2 };
    const ot_wino_geom_t gc = ot_wino_geom(h, w, C, C, pad, m);
    const ot_wino_geom_t g1 = ot_wino_geom(h, w, 1, 1, pad, m);
    const size_t NP = ot_wino_points(&gc), T = N * gc.th * gc.tw, P = gc.oh * gc.ow;
    const size_t psc = T * C + 16, ps1 = T + 16, nx = N * h * w;
    float *x = malloc(nx * C * sizeof(float)), *x1 = malloc(nx * sizeof(float));
    float *buf = malloc(N * ot_wino_pad_floats(&gc) * sizeof(float));
    float *buf1 = malloc(N * ot_wino_pad_floats(&g1) * sizeof(float));
    float *V = malloc(NP * psc * sizeof(float)), *V1 = malloc(NP * ps1 * sizeof(float));
    float *y = malloc(N * P * C * sizeof(float)), *y1 = malloc(N * P * sizeof(float));
    float *b = malloc(C * sizeof(float)), *got = malloc(NP * ps1 * sizeof(float));
    CU_ASSERT_FATAL(x && x1 && buf && buf1 && V && V1 && y && y1 && b && got);
    const size_t chans[3] = {0, 37, C - 1};
    for (int which = 0; which < 3; which++) {
        const size_t ch = chans[which];
        /* input: V = B^T d B */
        fill(x, nx * C, 20);
        for (size_t i = 0; i < nx; i++)
            x1[i] = x[i * C + ch];
        ot_wino_pad(&gc, x, N, buf);
        ot_wino_input(&gc, buf, N, V, psc);
        ot_wino_pad(&g1, x1, N, buf1);
        ot_wino_input(&g1, buf1, N, V1, ps1);
        for (size_t xi = 0; xi < NP; xi++)
            for (size_t t = 0; t < T; t++)
                got[xi * ps1 + t] = V[xi * psc + t * C + ch];
        int same = 1;
        for (size_t xi = 0; xi < NP; xi++)
            same &= same_bits(got + xi * ps1, V1 + xi * ps1, T);
        CU_ASSERT(same);
        /* output: Y = A^T M A + bias, from the planes in V */
        fill(b, C, 21);
        ot_wino_output(&gc, V, psc, b, N, y);
        ot_wino_output(&g1, V1, ps1, b + ch, N, y1);
        for (size_t i = 0; i < N * P; i++)
            got[i] = y[i * C + ch];
        CU_ASSERT(same_bits(got, y1, N * P));
        /* output's adjoint: dM = A dY A^T */
        fill(y, N * P * C, 22);
        for (size_t i = 0; i < N * P; i++)
            y1[i] = y[i * C + ch];
        ot_wino_output_grad(&gc, y, N, V, psc);
        ot_wino_output_grad(&g1, y1, N, V1, ps1);
        same = 1;
        for (size_t xi = 0; xi < NP; xi++)
            for (size_t t = 0; t < T; t++)
                same &= same_bits(&V[xi * psc + t * C + ch], &V1[xi * ps1 + t], 1);
        CU_ASSERT(same);
        /* input's adjoint: dd = B dV B^T onto the padded images, then their inside */
        memset(buf, 0, N * ot_wino_pad_floats(&gc) * sizeof(float));
        memset(buf1, 0, N * ot_wino_pad_floats(&g1) * sizeof(float));
        ot_wino_input_grad(&gc, V, psc, N, buf);
        ot_wino_input_grad(&g1, V1, ps1, N, buf1);
        ot_wino_unpad(&gc, buf, N, x);
        ot_wino_unpad(&g1, buf1, N, x1);
        for (size_t i = 0; i < nx; i++)
            got[i] = x[i * C + ch];
        CU_ASSERT(same_bits(got, x1, nx));
    }
    free(x), free(x1), free(buf), free(buf1), free(V), free(V1), free(y), free(y1), free(b);
    free(got);
}

static void test_channel_alone_same_bits(void)
{
    for (size_t m = 2; m <= 4; m += 2) {
        check_channel_alone(9, 9, 1, m);  /* 9x9 out: edge tiles both ways */
        check_channel_alone(8, 8, 1, m);  /* whole tiles */
        check_channel_alone(6, 7, 2, m);  /* pad 2 */
        check_channel_alone(6, 6, 0, m);  /* no pad */
    }
}

OT_TEST_SUITE(winograd, NULL, NULL,
              {"the transforms composed are the 3x3 convolution, every pad and side",
               test_forward_is_the_convolution},
              {"each backward transform is its forward's adjoint", test_transforms_are_adjoints},
              {"a channel's bits are the same alone and among 70", test_channel_alone_same_bits})
