/* test_conv2d.c - the convolution kernels (src/layers/conv2d.c): the column matrix read
 * through window and tap offsets against its definition, in blocks as whole, with stride,
 * padding and a non-square window, and without padding; col2im as its exact adjoint and
 * with the bits of adding tap by tap; the
 * windows of zeros the first layer's forward leaves out (ot_conv_live_windows); the
 * `winograd` option parsed, printed and refused where it does not apply. (The kind's backward,
 * with and without winograd, against central differences, its sharding and its checkpoint
 * are in the registry's conformance suite, test_registry.c; the transforms in
 * test_winograd.c.) */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_layer.h"
#include "ot_net.h"
#include "ot_simd.h"
#include "ot_test.h"

/* 2 images 5x6 with 3 channels, a 3x2 window, stride 2, padding 1: 3x4 outputs */
static const ot_conv_geom_t G = {5, 6, 3, 3, 2, 2, 1, 3, 4};
enum { N = 2, IN = 5 * 6 * 3, K = 3 * 2 * 3, P = 3 * 4 };

/* x's value at (s, y, x, ch), 0 outside the image: the definition the column matrix follows */
static float at(const ot_conv_geom_t *g, const float *x, size_t s, long y, long xx, size_t ch)
{
    if (y < 0 || y >= (long)g->h || xx < 0 || xx >= (long)g->w)
        return 0.0f;
    return x[((s * g->h + (size_t)y) * g->w + (size_t)xx) * g->c + ch];
}

/* small integers: every sum below is exact */
static void fill(float *v, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        v[i] = (float)((int)((i * 2654435761u + seed) % 19) - 9);
}

/* Rows [q0, q0 + m) of g's column matrix of x, as the GEMM reads them (ot_conv_windows with
 * ot_conv_taps), into col; the buffer is filled with garbage first, so that a border the
 * padding copy leaves unwritten shows. */
static void column(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m, float *col,
                   ot_conv_held_t *held)
{
    const size_t K = g->kh * g->kw * g->c;
    size_t taps[64], row[64];
    static float buf[1024]; /* kept between calls for held */
    CU_ASSERT_FATAL(K <= 64 && m <= 64 && ot_conv_pad_floats(g, m) <= 1024);
    if (!held || !held->x)
        for (size_t i = 0; i < 1024; i++)
            buf[i] = 1e30f;
    ot_conv_taps(g, taps);
    const float *src = ot_conv_windows(g, x, q0, m, buf, held, row);
    CU_ASSERT((src == x + q0 / (g->oh * g->ow) * g->h * g->w * g->c) == (g->pad == 0));
    for (size_t r = 0; r < m; r++)
        for (size_t k = 0; k < K; k++)
            col[r * K + k] = src[row[r] + taps[k]];
}

/* g's column matrix of x (n images) against its definition, whole and in blocks of 5 rows
 * (blocks that start and end inside an image). */
static void check_definition(const ot_conv_geom_t *g, size_t n)
{
    const size_t P = g->oh * g->ow, K = g->kh * g->kw * g->c, in = g->h * g->w * g->c;
    float *x = malloc(n * in * sizeof(float)), *col = malloc(n * P * K * sizeof(float));
    float *part = malloc(n * P * K * sizeof(float));
    CU_ASSERT_FATAL(x && col && part);
    fill(x, n * in, 1);
    int ok = 1;
    for (size_t q0 = 0; q0 < n * P; q0 += 64)
        column(g, x, q0, q0 + 64 <= n * P ? 64 : n * P - q0, col + q0 * K, NULL);
    for (size_t q = 0; q < n * P; q++) {
        size_t s = q / P, oy = q % P / g->ow, ox = q % P % g->ow;
        for (size_t ky = 0; ky < g->kh; ky++)
            for (size_t kx = 0; kx < g->kw; kx++)
                for (size_t ch = 0; ch < g->c; ch++) {
                    long y = (long)(oy * g->stride + ky) - (long)g->pad;
                    long xx = (long)(ox * g->stride + kx) - (long)g->pad;
                    ok &= col[q * K + (ky * g->kw + kx) * g->c + ch] == at(g, x, s, y, xx, ch);
                }
    }
    CU_ASSERT(ok);
    /* blocks that straddle images, then blocks inside them that reuse the padded copy (held) */
    const size_t blocks[2] = {5, P % 3 == 0 ? P / 3 : P};
    for (int b = 0; b < 2; b++) {
        ot_conv_held_t held = {0};
        memset(part, 0, n * P * K * sizeof(float));
        for (size_t q0 = 0; q0 < n * P; q0 += blocks[b])
            column(g, x, q0, q0 + blocks[b] <= n * P ? blocks[b] : n * P - q0, part + q0 * K,
                   &held);
        CU_ASSERT(memcmp(part, col, n * P * K * sizeof(float)) == 0);
    }
    free(x);
    free(col);
    free(part);
}

static void test_columns_follow_the_definition(void)
{
    check_definition(&G, N);
    /* padding is there: the first row's first tap is outside the image */
    float x[N * IN], col[K];
    fill(x, N * IN, 1);
    column(&G, x, 0, 1, col, NULL);
    CU_ASSERT_EQUAL(col[0], 0.0f);
    /* no padding (the images read where they lie): 3 images 6x5, 2 channels, 3x3, stride 1 */
    check_definition(&(ot_conv_geom_t){6, 5, 2, 3, 3, 1, 0, 4, 3}, 3);
}

/* col2im tap by tap, each tap's channels in order: the sums whose bits ot_col2im_add keeps */
static void col2im_by_taps(const ot_conv_geom_t *g, const float *dcol, size_t m, float *dx)
{
    const size_t c = g->c, K = g->kh * g->kw * c, P = g->oh * g->ow;
    for (size_t q = 0; q < m; q++) {
        const size_t s = q / P, oy = q % P / g->ow, ox = q % g->ow;
        const float *src = dcol + q * K;
        for (size_t ky = 0; ky < g->kh; ky++)
            for (size_t kx = 0; kx < g->kw; kx++, src += c) {
                const long iy = (long)(oy * g->stride + ky) - (long)g->pad;
                const long ix = (long)(ox * g->stride + kx) - (long)g->pad;
                if (iy < 0 || iy >= (long)g->h || ix < 0 || ix >= (long)g->w)
                    continue;
                float *d = dx + ((s * g->h + (size_t)iy) * g->w + (size_t)ix) * c;
                for (size_t ch = 0; ch < c; ch++)
                    d[ch] += src[ch];
            }
    }
}

/* ot_col2im_add, a window row's taps inside the image at once, against the tap-by-tap sums
 * bit for bit, on values whose sums round (so that an order changed would show): padding on
 * every side and wider than the window itself, strides past the window, one channel and
 * many, in calls that start and end mid-image. */
static void test_col2im_same_bits(void)
{
    static const ot_conv_geom_t gs[] = {
        {5, 6, 3, 3, 2, 2, 1, 3, 4},  /* G */
        {7, 7, 4, 3, 3, 1, 1, 7, 7},  /* 3x3 pad 1 */
        {7, 7, 2, 3, 3, 1, 2, 9, 9},  /* pad 2: windows wholly outside on a side */
        {9, 8, 1, 5, 5, 1, 0, 5, 4},  /* 5x5, one channel */
        {9, 9, 5, 5, 5, 3, 2, 3, 3},  /* stride 3 with padding */
        {6, 6, 3, 1, 1, 2, 0, 3, 3},  /* 1x1, stride 2: taps left out */
        {4, 5, 2, 3, 3, 1, 5, 12, 13}, /* pad 5 > 3: windows wholly past every side */
    };
    enum { IMAGES = 3 };
    for (size_t t = 0; t < sizeof gs / sizeof gs[0]; t++) {
        const ot_conv_geom_t *g = &gs[t];
        const size_t in = g->h * g->w * g->c, K = g->kh * g->kw * g->c;
        const size_t m = IMAGES * g->oh * g->ow, a = m / 3 + 1;
        float *d = malloc(m * K * sizeof *d), *dx = malloc(IMAGES * in * sizeof *dx),
              *ref = malloc(IMAGES * in * sizeof *ref);
        CU_ASSERT_FATAL(d && dx && ref);
        for (size_t i = 0; i < m * K; i++)
            d[i] = (float)sin(0.7 * (double)i + (double)t) * 3.1f;
        for (size_t i = 0; i < IMAGES * in; i++)
            dx[i] = ref[i] = (float)cos(1.3 * (double)i) * 0.01f;
        ot_col2im_add(g, d, 0, a, dx);
        ot_col2im_add(g, d + a * K, a, m - a, dx);
        col2im_by_taps(g, d, m, ref);
        CU_ASSERT_EQUAL(memcmp(dx, ref, IMAGES * in * sizeof *dx), 0);
        free(d);
        free(dx);
        free(ref);
    }
}

/* <col(x), d> == <x, col2im(d)>: col2im adds each tap back where the column matrix took it */
static void test_col2im_is_the_adjoint(void)
{
    float x[N * IN], d[N * P * K], col[N * P * K], dx[N * IN];
    fill(x, N * IN, 3);
    fill(d, N * P * K, 7);
    for (size_t q0 = 0; q0 < N * P; q0 += 12)
        column(&G, x, q0, 12, col + q0 * K, NULL);
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

/* g's live windows (ot_conv_live_windows) over n images of x, in blocks of `block` rows (the
 * padded copies held between blocks): each row kept exactly when its window, read through
 * ot_conv_windows's offsets, holds a value whose bits are not all zero, with that offset, in
 * order; the same images as ot_conv_windows. Returns how many rows were kept. */
static size_t check_live(const ot_conv_geom_t *g, const float *x, size_t n, size_t block)
{
    const size_t P = g->oh * g->ow, K = g->kh * g->kw * g->c;
    size_t taps[64], all[64], row[64], kept = 0;
    uint8_t live[64];
    uint64_t mask[256];
    static float buf[4096], buf2[4096];
    CU_ASSERT_FATAL(ot_conv_live_fits(g) && K <= 64 && block <= 64 &&
                    ot_conv_live_words(g, block) <= 256 &&
                    ot_conv_pad_floats(g, block) <= 4096);
    ot_conv_taps(g, taps);
    ot_conv_held_t held = {0}, held2 = {0};
    int ok = 1;
    for (size_t q0 = 0; q0 < n * P; q0 += block) {
        const size_t m = q0 + block <= n * P ? block : n * P - q0;
        size_t n_live = 99;
        const float *src = ot_conv_windows(g, x, q0, m, buf, &held, all);
        const float *src2 =
            ot_conv_live_windows(g, x, q0, m, buf2, &held2, mask, row, live, &n_live);
        ok &= (src == buf) == (src2 == buf2);
        size_t j = 0;
        for (size_t r = 0; r < m; r++) {
            int any = 0;
            for (size_t k = 0; k < K; k++)
                any |= ot_bits_nonzero(src[all[r] + taps[k]]) != 0;
            ok &= live[r] == any;
            if (any) /* (with padding the two calls' buffers differ, the offsets do not) */
                ok &= j < n_live && row[j++] == all[r];
        }
        ok &= j == n_live;
        kept += n_live;
    }
    CU_ASSERT(ok);
    return kept;
}

/* Windows of zeros left out: 3 channels with padding, stride 2 and a 3x2 window, one pixel set
 * in one channel (then -0 and NaN there, which count: only +0 is left out, whose taps the
 * GEMM's zero row reproduces bit for bit); one channel without padding on images 12 and 40
 * wide (a vector's tail, whole vectors), blank margins around a few pixels. */
static void test_live_windows(void)
{
    float x[N * IN];
    memset(x, 0, sizeof x);
    CU_ASSERT_EQUAL(check_live(&G, x, N, 5), 0); /* all blank */
    const float marks[3] = {2.0f, -0.0f, NAN};
    for (int i = 0; i < 3; i++) {
        x[IN + (2 * 6 + 3) * 3 + 1] = marks[i]; /* image 1, (2, 3), channel 1 */
        const size_t a = check_live(&G, x, N, 5), b = check_live(&G, x, N, 12);
        CU_ASSERT(a == b && a > 0 && a < N * P);
    }
    const ot_conv_geom_t g12 = {12, 12, 1, 5, 5, 1, 0, 8, 8}, g40 = {6, 40, 1, 3, 3, 1, 0, 4, 38};
    static float y[3 * 12 * 12], z[2 * 6 * 40];
    memset(y, 0, sizeof y);
    memset(z, 0, sizeof z);
    y[5 * 12 + 6] = 1.0f;             /* image 0: one pixel, 25 windows */
    y[144 + 11 * 12 + 11] = 3.0f;     /* image 1: the last pixel, one window */
    y[288 + 0] = y[288 + 143] = 1.0f; /* image 2: two corners */
    CU_ASSERT_EQUAL(check_live(&g12, y, 3, 64), 25 + 1 + 2);
    CU_ASSERT_EQUAL(check_live(&g12, y, 3, 7), 25 + 1 + 2);
    z[3 * 40 + 33] = 1.0f;      /* past two vectors of 16, or four of 8 */
    z[240 + 5 * 40 + 39] = 1.0f; /* the last of a row's tail */
    CU_ASSERT_EQUAL(check_live(&g40, z, 2, 64), 9 + 1);
}

/* "conv ... winograd" and "winograd4": read, printed back, and on a kernel they cannot compute
 * one line why */
static void test_winograd_option(void)
{
    const ot_layer_ops_t *ops = ot_layer_find("conv");
    CU_ASSERT_FATAL(ops != NULL);
    ot_layer_t L;
    char err[256] = "", text[128];
    memset(&L, 0, sizeof L);
    char *w[] = {"16", "3x3", "pad", "2", "winograd"};
    CU_ASSERT_EQUAL(ops->parse(&L, 5, w, err, sizeof err), 0);
    ops->format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "16 3x3 stride 1 pad 2 winograd");
    L.in = (ot_shape_t){4, 5, 7, 0};
    CU_ASSERT_EQUAL(ops->shape(&L, NULL, err, sizeof err), 0);
    CU_ASSERT(L.out.c == 16 && L.out.h == 7 && L.out.w == 9);
    char *w4[] = {"16", "3x3", "winograd4"};
    CU_ASSERT_EQUAL(ops->parse(&L, 3, w4, err, sizeof err), 0);
    ops->format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "16 3x3 stride 1 pad 0 winograd4");
    CU_ASSERT_EQUAL(ops->shape(&L, NULL, err, sizeof err), 0);
    CU_ASSERT(L.out.c == 16 && L.out.h == 3 && L.out.w == 5);
    char *plain[] = {"16", "3x3", "pad", "1"};
    CU_ASSERT_EQUAL(ops->parse(&L, 4, plain, err, sizeof err), 0);
    ops->format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "16 3x3 stride 1 pad 1");
    char *s2[] = {"16", "3x3", "stride", "2", "pad", "1", "winograd"};
    CU_ASSERT_EQUAL(ops->parse(&L, 7, s2, err, sizeof err), 0);
    L.in = (ot_shape_t){4, 8, 8, 0};
    CU_ASSERT_EQUAL(ops->shape(&L, NULL, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "winograd needs a 3x3 kernel, stride 1 and pad 0, 1 or 2, got "
                                "3x3 stride 2 pad 1");
    char *k5[] = {"16", "5x5", "winograd"};
    CU_ASSERT_EQUAL(ops->parse(&L, 3, k5, err, sizeof err), 0);
    CU_ASSERT_EQUAL(ops->shape(&L, NULL, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "got 5x5 stride 1 pad 0"));
    /* anywhere after the kernel: the shape then says why not, rather than the words */
    char *mid[] = {"16", "3x3", "winograd", "stride", "2"};
    CU_ASSERT_EQUAL(ops->parse(&L, 5, mid, err, sizeof err), 0);
    ops->format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "16 3x3 stride 2 pad 0 winograd");
    char *mid4[] = {"8", "3x3", "pad", "1", "winograd4", "stride", "1"};
    CU_ASSERT_EQUAL(ops->parse(&L, 7, mid4, err, sizeof err), 0);
    ops->format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "8 3x3 stride 1 pad 1 winograd4");
    char *both[] = {"8", "3x3", "winograd", "winograd4"};
    CU_ASSERT_EQUAL(ops->parse(&L, 4, both, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'winograd4' after 'winograd': one of winograd or winograd4");
}

/* A word conv cannot read is named, with what it should be. */
static void test_parse_errors(void)
{
    const ot_layer_ops_t *ops = ot_layer_find("conv");
    CU_ASSERT_FATAL(ops != NULL);
    ot_layer_t L;
    char err[256] = "";
    memset(&L, 0, sizeof L);
    char *zero[] = {"0", "5x5"}, *kernel[] = {"30", "5x"}, *one[] = {"30"};
    CU_ASSERT_EQUAL(ops->parse(&L, 2, zero, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'0': FILTERS must be an integer in [1, 1048576]");
    CU_ASSERT_EQUAL(ops->parse(&L, 2, kernel, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'5x': KHxKW must be two integers in [1, 65536] (5x5, or 5 for "
                                "5x5)");
    CU_ASSERT_EQUAL(ops->parse(&L, 1, one, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "a filter count and a kernel size");
}

/* The blank value (ot_layer_ops_t.blank): zeros in (padding too), the bias at every output
 * position; an input with any other bits (-0 included) has none. */
static void test_blank(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = 4;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 3 3x3 stride 2 pad 1, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_layout(&net, &c, &(ot_shape_t){2, 6, 5, 0}) == OT_OK);
    const ot_layer_t *L = &net.layers[0];
    CU_ASSERT_FATAL(L->out.c == 3 && L->out.h == 3 && L->out.w == 3);
    float params[256], in[60] = {0}, out[27];
    CU_ASSERT_FATAL(L->p_off + L->p_len <= 256 && L->in_size == 60);
    for (size_t i = 0; i < 256; i++)
        params[i] = (float)i * 0.5f - 3.0f;
    const float *b = params + L->p_off + L->p_len - 3;
    CU_ASSERT(L->ops->blank(L, params, in, out) == 0);
    size_t bad = 0;
    for (size_t p = 0; p < 9; p++)
        bad += memcmp(out + p * 3, b, 3 * sizeof(float)) != 0;
    CU_ASSERT_EQUAL(bad, 0);
    in[59] = -0.0f;
    CU_ASSERT(L->ops->blank(L, params, in, out) == -1);
    ot_net_free(&net);
}

OT_TEST_SUITE(conv2d, NULL, NULL,
              {"blank value: the bias where the input is zero, else none", test_blank},
              {"parse errors name the word", test_parse_errors},
              {"the column matrix follows its definition, in blocks as whole",
               test_columns_follow_the_definition},
              {"col2im is the column matrix's adjoint and adds", test_col2im_is_the_adjoint},
              {"col2im by window rows: the tap-by-tap sums, bit for bit", test_col2im_same_bits},
              {"windows of +0s alone are left out, -0 and NaN kept, rows in order",
               test_live_windows},
              {"winograd: parsed, printed, refused off 3x3 stride 1", test_winograd_option})
