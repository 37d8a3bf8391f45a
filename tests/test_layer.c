/* test_layer.c - what every layer kind shares (src/layer.c): integer, window and stride/pad
 * words; one side of a window's output and its errors; shapes and tensor shapes as text; the
 * init scale; the pooling kinds' shared parse, format and shape; the ops of kinds without
 * arguments. */
#include <math.h>
#include <string.h>

#include "ot_common.h"
#include "ot_layer.h"
#include "ot_test.h"

static void test_parse_size(void)
{
    size_t v = 0;
    CU_ASSERT_EQUAL(ot_layer_parse_size("12", 1, 100, &v), 0);
    CU_ASSERT_EQUAL(v, 12);
    CU_ASSERT_EQUAL(ot_layer_parse_size("0", 0, 5, &v), 0);
    CU_ASSERT_EQUAL(v, 0);
    CU_ASSERT_EQUAL(ot_layer_parse_size("100", 1, 100, &v), 0); /* both ends inclusive */
    CU_ASSERT_EQUAL(v, 100);
    CU_ASSERT_EQUAL(ot_layer_parse_size("007", 1, 100, &v), 0);
    CU_ASSERT_EQUAL(v, 7);
    /* refused, and *out left alone */
    const char *bad[] = {"",  "101", "0",  "-1",  "+1", " 1",  "1 ", "1x", "x1",
                         "1.5", "1e2", "0x10", "99999999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        v = 4242;
        int rc = ot_layer_parse_size(bad[i], 1, 100, &v);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_EQUAL(v, 4242);
        if (rc != -1)
            fprintf(stderr, "\n  '%s' was taken as %zu", bad[i], v);
    }
    CU_ASSERT_EQUAL(ot_layer_parse_size(NULL, 0, 100, &v), -1);
}

static void test_parse_window(void)
{
    size_t kh = 0, kw = 0;
    CU_ASSERT_EQUAL(ot_layer_parse_window("5x5", &kh, &kw), 0);
    CU_ASSERT(kh == 5 && kw == 5);
    CU_ASSERT_EQUAL(ot_layer_parse_window("3x7", &kh, &kw), 0); /* height x width */
    CU_ASSERT(kh == 3 && kw == 7);
    CU_ASSERT_EQUAL(ot_layer_parse_window("3", &kh, &kw), 0); /* square */
    CU_ASSERT(kh == 3 && kw == 3);
    CU_ASSERT_EQUAL(ot_layer_parse_window("65536x1", &kh, &kw), 0); /* OT_MAX_SIDE */
    CU_ASSERT(kh == OT_MAX_SIDE && kw == 1);
    const char *bad[] = {"",    "x",   "3x",  "x3",    "0",     "0x3",   "3x0",
                         "3X3", "3x3x3", "-3", "3 x 3", "65537", "1x65537"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = ot_layer_parse_window(bad[i], &kh, &kw);
        CU_ASSERT_EQUAL(rc, -1);
        if (rc != -1)
            fprintf(stderr, "\n  window '%s' was taken as %zux%zu", bad[i], kh, kw);
    }
    /* a long word is read whole or refused, never cut short: 3x39 with 28 leading zeros,
     * whose first 31 characters would read as 3x3 */
    const char *longw = "3x000000000000000000000000000039";
    kh = kw = 0;
    int rc = ot_layer_parse_window(longw, &kh, &kw);
    CU_ASSERT(rc == -1 || (kh == 3 && kw == 39));
}

static void test_parse_stride_pad(void)
{
    char err[128] = "";
    size_t stride = 1, pad = 0;
    CU_ASSERT_EQUAL(ot_layer_parse_stride_pad(0, NULL, &stride, &pad, err, sizeof err), 0);
    CU_ASSERT(stride == 1 && pad == 0); /* nothing given: defaults kept */
    char *a[] = {"stride", "2", "pad", "1"};
    CU_ASSERT_EQUAL(ot_layer_parse_stride_pad(4, a, &stride, &pad, err, sizeof err), 0);
    CU_ASSERT(stride == 2 && pad == 1);
    char *b[] = {"pad", "3", "stride", "4"}; /* any order */
    CU_ASSERT_EQUAL(ot_layer_parse_stride_pad(4, b, &stride, &pad, err, sizeof err), 0);
    CU_ASSERT(stride == 4 && pad == 3);
    char *c[] = {"pad", "0"}; /* no padding is a padding */
    CU_ASSERT_EQUAL(ot_layer_parse_stride_pad(2, c, &stride, &pad, err, sizeof err), 0);
    CU_ASSERT_EQUAL(pad, 0);

    /* refused, with the word and what was expected */
    struct {
        int argc;
        char *argv[4];
        int with_pad;
        const char *err;
    } bad[] = {
        {2, {"stride", "0"}, 1, "'stride 0': S must be an integer in [1, 65536]"},
        {1, {"stride"}, 1, "'stride' without its value"},
        {2, {"pad", "-1"}, 1, "'pad -1': P must be an integer in [0, 65536]"},
        {2, {"step", "2"}, 1, "'step' is not stride S or pad P"},
        {4, {"stride", "2", "pad", "x"}, 1, "'pad x': P must be an integer in [0, 65536]"},
        {2, {"pad", "1"}, 0, "'pad' is not stride S"}, /* pooling: no padding */
        {2, {"stride", "65537"}, 1, "'stride 65537': S must be an integer in [1, 65536]"},
        /* each once: the second used to win silently */
        {4, {"stride", "1", "stride", "2"}, 1, "'stride 2' after 'stride 1': stride S once"},
        {4, {"pad", "1", "pad", "1"}, 1, "'pad 1' after 'pad 1': pad P once"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        int rc = ot_layer_parse_stride_pad(bad[i].argc, bad[i].argv, &stride,
                                           bad[i].with_pad ? &pad : NULL, err, sizeof err);
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_STRING_EQUAL(err, bad[i].err);
    }
}

static void test_out_side(void)
{
    char err[256];
    struct {
        size_t in, k, stride, pad, out;
    } ok[] = {
        {28, 5, 1, 0, 24}, /* SimpleConvNet's conv */
        {8, 3, 1, 1, 8},   /* "same" padding */
        {8, 2, 2, 0, 4},   /* 2x2 pooling */
        {7, 3, 2, 0, 3},   /* (7 - 3) / 2 whole */
        {8, 3, 2, 1, 4},   /* only the last padding row is left out */
        {8, 8, 1, 0, 1},   /* the window is the image */
        {4, 6, 1, 1, 1},   /* the window is the padded image */
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        size_t out = 0;
        int rc = ot_layer_out_side("height", ok[i].in, ok[i].k, ok[i].stride, ok[i].pad, &out,
                                   err, sizeof err);
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_EQUAL(out, ok[i].out);
    }

    size_t out = 99;
    CU_ASSERT_EQUAL(ot_layer_out_side("height", 8, 9, 1, 0, &out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "the window (9) is larger than the height (8 with padding 0), "
                                "expected at most 8");
    CU_ASSERT_EQUAL(ot_layer_out_side("width", 4, 7, 1, 1, &out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "the window (7) is larger than the width (4 with padding 1), "
                                "expected at most 6");
    CU_ASSERT_EQUAL(ot_layer_out_side("width", 8, 3, 2, 0, &out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "stride 2 does not fit the width: windows of 3 at stride 2 (pad "
                                "0) leave out the last 1 of its 8 columns; expected a stride, "
                                "window or padding that covers them");
    CU_ASSERT_EQUAL(ot_layer_out_side("height", 11, 2, 4, 0, &out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "stride 4 does not fit the height: windows of 2 at stride 4 "
                                "(pad 0) leave out the last 1 of its 11 rows; expected a stride, "
                                "window or padding that covers them");
    /* the last real row left out, where only padding may be */
    CU_ASSERT_EQUAL(ot_layer_out_side("height", 8, 2, 3, 1, &out, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "stride 3 does not fit the height: windows of 2 at stride 3 "
                                "(pad 1) leave out the last 1 of its 8 rows; expected a stride, "
                                "window or padding that covers them");
    CU_ASSERT_EQUAL(out, 99); /* not written on failure */
}

/* A sample's shape ("784" flat, HxWxC an image) and a tensor's (dimensions joined by x) as
 * text; both stop at n. */
static void test_shape_str(void)
{
    char buf[64];
    ot_shape_t flat = {784, 1, 1, 1}, img = {1, 28, 28, 0}, wide = {4, 8, 6, 0};
    ot_tensor_t W = {.rank = 2, .shape = {784, 50}}, b = {.rank = 1, .shape = {10}};
    ot_tensor_t K = {.rank = 4, .shape = {3, 3, 1, 4}};
    CU_ASSERT_STRING_EQUAL(ot_shape_str(&flat, buf, sizeof buf), "784");
    CU_ASSERT_STRING_EQUAL(ot_shape_str(&img, buf, sizeof buf), "28x28x1");
    CU_ASSERT_STRING_EQUAL(ot_shape_str(&wide, buf, sizeof buf), "8x6x4"); /* H x W x C */
    CU_ASSERT_STRING_EQUAL(ot_tensor_shape_str(&W, buf, sizeof buf), "784x50");
    CU_ASSERT_STRING_EQUAL(ot_tensor_shape_str(&b, buf, sizeof buf), "10");
    CU_ASSERT_STRING_EQUAL(ot_tensor_shape_str(&K, buf, sizeof buf), "3x3x1x4");
    CU_ASSERT_PTR_EQUAL(ot_shape_str(&wide, buf, sizeof buf), buf);
    CU_ASSERT_PTR_EQUAL(ot_tensor_shape_str(&K, buf, sizeof buf), buf);
    /* cut at n: n - 1 characters and the terminator, nothing past */
    char small[2][8];
    memset(small, '#', sizeof small);
    ot_shape_str(&img, small[0], 4);
    ot_tensor_shape_str(&W, small[1], 5);
    CU_ASSERT_STRING_EQUAL(small[0], "28x");
    CU_ASSERT_STRING_EQUAL(small[1], "784x");
    CU_ASSERT(small[0][4] == '#' && small[1][5] == '#');
}

static void test_init_std(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.init_std = 0.0123;
    c.init = OT_INIT_STD;
    CU_ASSERT_DOUBLE_EQUAL(ot_init_std(&c, 784), 0.0123, 1e-15);
    c.init = OT_INIT_HE;
    CU_ASSERT_DOUBLE_EQUAL(ot_init_std(&c, 50), 0.2, 1e-15);        /* sqrt(2 / 50) */
    CU_ASSERT_DOUBLE_EQUAL(ot_init_std(&c, 784), sqrt(2.0 / 784), 1e-15);
    c.init = OT_INIT_XAVIER;
    CU_ASSERT_DOUBLE_EQUAL(ot_init_std(&c, 100), 0.1, 1e-15);       /* sqrt(1 / 100) */
    CU_ASSERT_DOUBLE_EQUAL(ot_init_std(&c, 784), 1.0 / 28.0, 1e-15);
}

/* A layer of kind maxpool parsed from words; returns parse's status. */
static int pool(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    memset(L, 0, sizeof *L);
    L->ops = ot_layer_find("maxpool");
    return ot_pool_parse(L, argc, argv, err, n);
}

static void test_pool(void)
{
    ot_layer_t L;
    ot_config_t c;
    ot_config_defaults(&c);
    char err[256], text[64];
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, &L);

    char *w2[] = {"2"};
    CU_ASSERT_EQUAL(pool(&L, 1, w2, err, sizeof err), 0);
    CU_ASSERT(a->kh == 2 && a->kw == 2 && a->stride == 2); /* the stride: the window's height */
    ot_pool_format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "2x2 stride 2");
    L.in = (ot_shape_t){4, 8, 8, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), 0);
    CU_ASSERT(L.out.c == 4 && L.out.h == 4 && L.out.w == 4 && !L.out.flat);
    ot_conv_geom_t g = ot_pool_geom(&L);
    CU_ASSERT(g.h == 8 && g.w == 8 && g.c == 4 && g.kh == 2 && g.kw == 2 && g.stride == 2 &&
              g.pad == 0 && g.oh == 4 && g.ow == 4);

    char *w3s2[] = {"3x3", "stride", "2"};
    CU_ASSERT_EQUAL(pool(&L, 3, w3s2, err, sizeof err), 0);
    CU_ASSERT(a->kh == 3 && a->kw == 3 && a->stride == 2);
    ot_pool_format(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "3x3 stride 2");
    L.in = (ot_shape_t){2, 7, 7, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), 0);
    CU_ASSERT(L.out.c == 2 && L.out.h == 3 && L.out.w == 3);
    /* the same window on 8x8 leaves a row out: refused, naming the axis */
    L.in = (ot_shape_t){2, 8, 8, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "stride 2 does not fit the height"));

    char *w23[] = {"2x3"}; /* not square: only the width does not fit 8 */
    CU_ASSERT_EQUAL(pool(&L, 1, w23, err, sizeof err), 0);
    CU_ASSERT(a->kh == 2 && a->kw == 3 && a->stride == 2);
    L.in = (ot_shape_t){2, 8, 8, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "stride 2 does not fit the width"));
    L.in = (ot_shape_t){1, 8, 9, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), 0);
    CU_ASSERT(L.out.h == 4 && L.out.w == 4);
    L.in = (ot_shape_t){1, 8, 2, 0};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "the window (3) is larger than the width (2 with padding 0), "
                                "expected at most 2");
    L.in = (ot_shape_t){64, 1, 1, 1};
    CU_ASSERT_EQUAL(ot_pool_shape(&L, &c, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "expected an image (HxWxC), got a flat vector"));

    /* refused words */
    CU_ASSERT_EQUAL(pool(&L, 0, NULL, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "a window size");
    char *s2[] = {"stride", "2"};
    CU_ASSERT_EQUAL(pool(&L, 2, s2, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'stride': WINDOW must be an integer in [1, 65536], or two as "
                                "KHxKW (2 for 2x2)");
    char *z[] = {"0x2"};
    CU_ASSERT_EQUAL(pool(&L, 1, z, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'0x2': WINDOW must be an integer in [1, 65536], or two as "
                                "KHxKW (2 for 2x2)");
    char *p1[] = {"2", "pad", "1"};
    CU_ASSERT_EQUAL(pool(&L, 3, p1, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "'pad' is not stride S");
}

/* The ops of a kind without arguments (relu, sigmoid, batchnorm, flatten's parse) */
static void test_no_arguments(void)
{
    ot_layer_t L;
    ot_config_t c;
    ot_config_defaults(&c);
    memset(&L, 0, sizeof L);
    char err[64] = "", text[8] = "xyz";
    char *one[] = {"3"};
    CU_ASSERT_EQUAL(ot_layer_parse_none(&L, 0, NULL, err, sizeof err), 0);
    CU_ASSERT_EQUAL(ot_layer_parse_none(&L, 1, one, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "no arguments");
    ot_layer_format_none(&L, text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "");
    L.in = (ot_shape_t){3, 5, 7, 0};
    L.out = (ot_shape_t){0, 0, 0, 1};
    CU_ASSERT_EQUAL(ot_layer_shape_same(&L, &c, err, sizeof err), 0);
    CU_ASSERT(L.out.c == 3 && L.out.h == 5 && L.out.w == 7 && !L.out.flat);
}

/* ot_own_rows: over the threads' parameter parts, the rows of a weight in the middle of the
 * block are taken once each, in order; a row goes with its first element. */
static void test_own_rows(void)
{
    const size_t off = 37, K = 50, N = 30, total = off + K * N + 100;
    int ok = 1;
    for (size_t T = 1; T <= 9; T++) {
        size_t end = 0;
        for (size_t t = 0; t < T; t++) {
            size_t own[2], k0, k1;
            ot_param_part(total, T, t, &own[0], &own[1]);
            ot_own_rows(own, off, K, N, &k0, &k1);
            ok &= k0 == end && k1 >= k0 && k1 <= K;
            for (size_t k = k0; k < k1; k++) /* the row's first element is this thread's */
                ok &= off + k * N >= own[0] && off + k * N < own[1];
            end = k1;
        }
        ok &= end == K;
    }
    CU_ASSERT(ok);
}

OT_TEST_SUITE(layer, NULL, NULL,
              {"own_rows: a weight's rows split by the threads' parameter parts",
               test_own_rows},
              {"parse_size: bounds inclusive, digits only", test_parse_size},
              {"parse_window: 5x5, 3 (square), bad words", test_parse_window},
              {"parse_stride_pad: any order, defaults kept, bad words named",
               test_parse_stride_pad},
              {"out_side: sizes, window too large, stride that leaves rows out", test_out_side},
              {"shape_str, tensor_shape_str: 784, HxWxC, 3x3x1x4; cut at n", test_shape_str},
              {"init_std: std, He, Xavier", test_init_std},
              {"pooling: parse, format, shape, geometry, errors", test_pool},
              {"kinds without arguments: parse, format, same shape", test_no_arguments})
