/* test_conv_sparse.c - the first convolution's weight gradient from the nonzero pixels alone
 * (src/conv_sparse.c): bit for bit the dense kernel's (ot_kgemm_tn_acc_gather over the
 * column matrix) on mostly-zero images with random dy, so that a term out of order or
 * missing changes the bits; without and with padding, several column chunks, a part of the
 * taps, a chain continued over calls, an image with no nonzero pixel; and the geometries it
 * takes. */
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_kgemm.h"
#include "ot_test.h"

static uint64_t next(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return *s >> 33;
}

/* images with a share `zero` of zero pixels, the rest bytes / 255 as the data's are */
static void fill_images(float *x, size_t n, double zero, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (double)(next(&seed) % 1000) < zero * 1000.0
                   ? 0.0f
                   : (float)(1 + next(&seed) % 255) / 255.0f;
}

static void fill_dy(float *v, size_t n, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((double)(next(&seed) % 2000001) / 1e6 - 1.0);
}

/* rows [k0, k1) of dW over images [s0, s1) of x by the dense kernel (acc: continuing) */
static void dense_dw(const ot_conv_geom_t *g, const float *x, size_t s0, size_t s1,
                     const float *dy, size_t F, size_t k0, size_t k1, float *dW, int acc)
{
    const size_t P = g->oh * g->ow, K = g->kh * g->kw * g->c, rows = (s1 - s0) * P;
    size_t *taps = malloc(K * sizeof(size_t)), *row = malloc((rows + 1) * sizeof(size_t));
    float *buf = ot_alloc((ot_conv_pad_floats(g, rows) + 1) * sizeof(float));
    float *work = ot_alloc(ot_kgemm_tn_acc_work_size(rows, F) * sizeof(float));
    CU_ASSERT_FATAL(taps && row && buf && work);
    ot_conv_taps(g, taps);
    const float *src = ot_conv_windows(g, x, s0 * P, rows, buf, NULL, row);
    ot_kgemm_tn_acc_gather(k1 - k0, F, rows, src, row, taps + k0, dy + s0 * P * F, F,
                           dW + k0 * F, F, acc, work);
    free(taps), free(row), ot_free(buf), ot_free(work);
}

/* The sparse gradient of n images against the dense one: all taps at once; taps [k0, k1)
 * over the first split images, then continued over the rest. */
static void check(const ot_conv_geom_t *g, size_t n, size_t F, double zero, size_t k0,
                  size_t k1, size_t split, uint64_t seed)
{
    const size_t P = g->oh * g->ow, K = g->kh * g->kw, in = g->h * g->w;
    CU_ASSERT_FATAL(ot_conv_sparse_fits(g));
    float *x = malloc(n * in * sizeof(float)), *dy = malloc(n * P * F * sizeof(float));
    float *ref = malloc(K * F * sizeof(float)), *got = malloc(K * F * sizeof(float));
    uint32_t *tab = malloc(ot_conv_sparse_table_len(g) * sizeof(uint32_t));
    void *work = malloc(ot_conv_sparse_work_size(g));
    CU_ASSERT_FATAL(x && dy && ref && got && tab && work);
    fill_images(x, n * in, zero, seed);
    fill_dy(dy, n * P * F, seed + 1);
    ot_conv_sparse_tables(g, tab);

    dense_dw(g, x, 0, n, dy, F, 0, K, ref, 0);
    for (size_t i = 0; i < K * F; i++)
        got[i] = 1e30f; /* every element written */
    ot_conv_sparse_dw(g, tab, x, n, dy, F, 0, K, got, 0, work);
    CU_ASSERT(memcmp(got, ref, K * F * sizeof(float)) == 0);

    /* taps [k0, k1), images [0, split) then [split, n) continuing the chains; the rows
     * outside [k0, k1) left alone */
    for (size_t i = 0; i < K * F; i++)
        ref[i] = got[i] = (float)i;
    dense_dw(g, x, 0, split, dy, F, k0, k1, ref, 0);
    dense_dw(g, x, split, n, dy, F, k0, k1, ref, 1);
    ot_conv_sparse_dw(g, tab, x, split, dy, F, k0, k1, got, 0, work);
    ot_conv_sparse_dw(g, tab, x + split * in, n - split, dy + split * P * F, F, k0, k1, got, 1,
                      work);
    CU_ASSERT(memcmp(got, ref, K * F * sizeof(float)) == 0);
    free(x), free(dy), free(ref), free(got), free(tab), free(work);
}

/* MNIST's shape and share of zeros (81%), model (e)'s layer: conv 30 5x5 */
static void test_mnist_shape(void)
{
    const ot_conv_geom_t g = {28, 28, 1, 5, 5, 1, 0, 24, 24};
    check(&g, 3, 30, 0.81, 0, 25, 1, 1);
}

/* padding (taps that feed no output near the border), other densities, widths that take
 * one, two or three column chunks (with a last vector masked, or overlapping the one before
 * it), a part of the taps */
static void test_padding_and_widths(void)
{
    const ot_conv_geom_t g3 = {9, 11, 1, 3, 3, 1, 1, 9, 11};
    check(&g3, 4, 7, 0.6, 2, 7, 3, 2);
    const ot_conv_geom_t g23 = {6, 7, 1, 2, 3, 1, 2, 9, 9};
    check(&g23, 3, 70, 0.5, 1, 5, 2, 3);
    check(&g23, 2, 1, 0.0, 0, 6, 1, 4); /* no zero pixel at all */
    check(&g23, 2, 45, 0.5, 0, 6, 1, 6); /* a last chunk of 13: a vector over its last 8 */
    const ot_conv_geom_t g1 = {5, 4, 1, 1, 1, 1, 0, 5, 4};
    check(&g1, 2, 33, 0.3, 0, 1, 1, 5); /* a 1x1 kernel */
}

/* an image with no nonzero pixel: dW zero, or left as it was when continuing */
static void test_empty_image(void)
{
    const ot_conv_geom_t g = {8, 8, 1, 3, 3, 1, 1, 8, 8};
    const size_t F = 5, K = 9, P = 64;
    float x[64] = {0}, dy[64 * 5], dW[9 * 5], keep[9 * 5];
    uint32_t tab[9 + 8 + 8];
    static char work[4096];
    CU_ASSERT_FATAL(ot_conv_sparse_work_size(&g) <= sizeof work);
    fill_dy(dy, P * F, 9);
    ot_conv_sparse_tables(&g, tab);
    for (size_t i = 0; i < K * F; i++)
        dW[i] = keep[i] = (float)i - 3.5f;
    ot_conv_sparse_dw(&g, tab, x, 1, dy, F, 0, K, dW, 1, work);
    CU_ASSERT(memcmp(dW, keep, sizeof dW) == 0);
    ot_conv_sparse_dw(&g, tab, x, 1, dy, F, 0, K, dW, 0, work);
    for (size_t i = 0; i < K * F; i++)
        CU_ASSERT(dW[i] == 0.0f);
}

/* one channel, stride 1, up to 32 taps, up to 256 x 256 with the padding */
static void test_fits(void)
{
    const ot_conv_geom_t ok = {28, 28, 1, 5, 5, 1, 0, 24, 24};
    ot_conv_geom_t g = ok;
    CU_ASSERT(ot_conv_sparse_fits(&g));
    g.c = 3;
    CU_ASSERT(!ot_conv_sparse_fits(&g));
    g = ok, g.stride = 2, g.oh = g.ow = 12;
    CU_ASSERT(!ot_conv_sparse_fits(&g));
    g = ok, g.kh = g.kw = 7, g.oh = g.ow = 22; /* 49 taps */
    CU_ASSERT(!ot_conv_sparse_fits(&g));
    g = ok, g.h = g.w = 254, g.pad = 1, g.oh = g.ow = 252;
    CU_ASSERT(ot_conv_sparse_fits(&g));
    g.pad = 2, g.oh = g.ow = 254;
    CU_ASSERT(!ot_conv_sparse_fits(&g));
    CU_ASSERT(ot_conv_sparse_below() > 0.0f && ot_conv_sparse_below() < 1.0f);
}

OT_TEST_SUITE(conv_sparse, NULL, NULL,
              {"MNIST's shape: the dense kernel's bits, whole and continued over calls",
               test_mnist_shape},
              {"padding, column chunks, a part of the taps: the dense kernel's bits",
               test_padding_and_widths},
              {"an image of zeros: nothing added", test_empty_image},
              {"the geometries it takes", test_fits})
