/* test_maxpool.c - the max-pooling kernels (src/layers/maxpool.c): the maximum per window and
 * channel and the tap it came from, ties to the first in window order, with the input in place
 * or through a table of rows; the gradient routed there, added where windows overlap. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ot_common.h"
#include "ot_config.h"
#include "ot_conv.h"
#include "ot_net.h"
#include "ot_test.h"

static void test_max_and_ties(void)
{
    /* one 3x3 image, 2 channels; 2x2 windows, stride 1: 2x2 outputs */
    const ot_conv_geom_t g = {3, 3, 2, 2, 2, 1, 0, 2, 2};
    float x[18] = {0}, y[8];
    uint8_t tap[8];
    /* channel 0: a 5 at (1, 1), in every window; channel 1: all equal (ties everywhere) */
    for (size_t i = 0; i < 9; i++) {
        x[i * 2] = (float)i * 0.1f;
        x[i * 2 + 1] = 1.0f;
    }
    x[(1 * 3 + 1) * 2] = 5.0f;
    ot_maxpool_forward(&g, x, 1, y, tap);
    for (size_t o = 0; o < 4; o++) {
        size_t oy = o / 2, ox = o % 2;
        CU_ASSERT_EQUAL(y[o * 2], 5.0f);
        CU_ASSERT_EQUAL(tap[o * 2], (1 - oy) * 2 + (1 - ox)); /* where (1, 1) sits */
        CU_ASSERT_EQUAL(y[o * 2 + 1], 1.0f);
        CU_ASSERT_EQUAL(tap[o * 2 + 1], 0); /* the tie: the top-left */
    }
    /* backward: the centre of channel 0 collects all four (overlapping windows add); in
     * channel 1 each tie goes to its window's top-left input */
    float dy[8], dx[18];
    for (size_t i = 0; i < 8; i++)
        dy[i] = (float)(i + 1);
    ot_maxpool_backward(&g, dy, tap, 1, dx);
    CU_ASSERT_EQUAL(dx[(1 * 3 + 1) * 2], 1.0f + 3.0f + 5.0f + 7.0f);
    for (size_t o = 0; o < 4; o++) {
        size_t oy = o / 2, ox = o % 2;
        CU_ASSERT_EQUAL(dx[(oy * 3 + ox) * 2 + 1], dy[o * 2 + 1]);
    }
    CU_ASSERT_EQUAL(dx[(0 * 3 + 2) * 2 + 1], 0.0f); /* never a top-left */
    CU_ASSERT_EQUAL(dx[(2 * 3 + 2) * 2 + 1], 0.0f);
    CU_ASSERT_EQUAL(dx[0], 0.0f); /* channel 0: never the maximum */
}

/* two images, 2x2 windows stride 2: each output its own window, within its own image; the
 * gradient lands exactly on the maxima */
static void test_batch_of_images(void)
{
    const ot_conv_geom_t g = {4, 4, 1, 2, 2, 2, 0, 2, 2};
    float x[32], y[8], dx[32], dy[8];
    uint8_t tap[8];
    for (size_t i = 0; i < 32; i++)
        x[i] = (float)((i * 7) % 13);
    ot_maxpool_forward(&g, x, 2, y, tap);
    for (size_t i = 0; i < 8; i++)
        dy[i] = (float)(i + 1);
    ot_maxpool_backward(&g, dy, tap, 2, dx);
    for (size_t s = 0; s < 2; s++)
        for (size_t o = 0; o < 4; o++) {
            size_t oy = o / 2, ox = o % 2, first = 99;
            float best = -1.0f;
            for (size_t ky = 0; ky < 2; ky++)
                for (size_t kx = 0; kx < 2; kx++) {
                    size_t i = s * 16 + (oy * 2 + ky) * 4 + ox * 2 + kx;
                    if (x[i] > best) {
                        best = x[i];
                        first = i;
                    }
                }
            CU_ASSERT_EQUAL(y[s * 4 + o], best);
            CU_ASSERT_EQUAL(dx[first], dy[s * 4 + o]);
        }
    float sum = 0.0f;
    for (size_t i = 0; i < 32; i++)
        sum += dx[i];
    CU_ASSERT_EQUAL(sum, 36.0f); /* 1 + ... + 8: every gradient lands once */
}

/* The window of output (s, oy, ox), channel ch: its maximum (first of equal ones) by the
 * definition, for the test below. */
static size_t ref_argmax(const ot_conv_geom_t *g, const float *x, size_t s, size_t oy, size_t ox,
                         size_t ch)
{
    size_t at = SIZE_MAX;
    for (size_t ky = 0; ky < g->kh; ky++)
        for (size_t kx = 0; kx < g->kw; kx++) {
            size_t i = ((s * g->h + oy * g->stride + ky) * g->w + ox * g->stride + kx) * g->c + ch;
            if (at == SIZE_MAX || x[i] > x[at])
                at = i;
        }
    return at;
}

/* Channel counts around the vector widths (3: one partial vector; 8 and 16: whole ones, of
 * AVX2 and of AVX-512; 9, 20 and 30: a last vector that overlaps the one before it, on AVX2
 * by 7, 4 and 2 lanes, on AVX-512 at 20 and 30 by 12 and 2; 64), windows that tile the image
 * (6x6, 2x2 stride 2) and windows that leave a row and a column out (5x5): maxima, ties to the
 * first, every gradient on its maximum as 0 + dy (so -0 lands as +0), zeros everywhere else,
 * whatever dx held before. */
static void test_many_channels(void)
{
    enum { MAXC = 64, N = 2, MAXH = 6 };
    static float x[N * MAXH * MAXH * MAXC], dx[N * MAXH * MAXH * MAXC], y[N * 9 * MAXC],
        dy[N * 9 * MAXC];
    static uint8_t tap[N * 9 * MAXC], is_max[N * MAXH * MAXH * MAXC];
    const size_t channels[] = {3, 8, 9, 16, 20, 30, 64};
    for (size_t ci = 0; ci < sizeof channels / sizeof channels[0]; ci++)
        for (size_t side = 5; side <= 6; side++) {
            const size_t C = channels[ci];
            const ot_conv_geom_t g = {side, side, C, 2, 2, 2, 0, side / 2, side / 2};
            const size_t in = side * side * C, out = g.oh * g.ow * C;
            for (size_t i = 0; i < N * in; i++)
                x[i] = (float)((i * 37) % 11); /* many ties */
            for (size_t i = 0; i < N * out; i++)
                dy[i] = i % 7 == 0 ? -0.0f : (float)i * 0.5f - 20.0f;
            for (size_t i = 0; i < N * in; i++)
                dx[i] = NAN; /* what an earlier step left */
            ot_maxpool_forward(&g, x, N, y, tap);
            ot_maxpool_backward(&g, dy, tap, N, dx);
            memset(is_max, 0, sizeof is_max);
            for (size_t s = 0; s < N; s++)
                for (size_t oy = 0; oy < g.oh; oy++)
                    for (size_t ox = 0; ox < g.ow; ox++)
                        for (size_t ch = 0; ch < C; ch++) {
                            const size_t o = ((s * g.oh + oy) * g.ow + ox) * C + ch;
                            const size_t at = ref_argmax(&g, x, s, oy, ox, ch);
                            CU_ASSERT_EQUAL(y[o], x[at]);
                            const float want = 0.0f + dy[o];
                            CU_ASSERT(memcmp(&dx[at], &want, sizeof want) == 0);
                            is_max[at] = 1;
                        }
            for (size_t i = 0; i < N * in; i++) /* every other input: +0 */
                if (!is_max[i])
                    CU_ASSERT(dx[i] == 0.0f && !signbit(dx[i]));
        }
}

/* ot_maxpool_forward_rows, the input through a table of rows, as a convolution that left out
 * its blank windows gives it: rows in another order than the images' (each position's row at
 * a scrambled place of a buffer), and a run of positions sharing one row, against
 * ot_maxpool_forward of the same values laid out one row after another; 2x2 and 3x3 windows,
 * channel counts below, at and past the vector widths. */
static void test_rows_table(void)
{
    enum { N = 2, H = 6, MAXC = 33, P = N * H * H };
    static float x[P * MAXC], buf[(P + 1) * MAXC], y_ref[P * MAXC], y_got[P * MAXC];
    static uint8_t t_ref[P * MAXC], t_got[P * MAXC];
    const float *rows[P];
    const size_t channels[] = {3, 8, 20, 30, 33};
    for (size_t ci = 0; ci < sizeof channels / sizeof channels[0]; ci++)
        for (size_t k = 2; k <= 3; k++) {
            const size_t C = channels[ci], o = (H - k) / k + 1;
            const ot_conv_geom_t g = {H, H, C, k, k, k, 0, o, o};
            memset(buf, 0, sizeof buf);
            for (size_t ch = 0; ch < C; ch++) /* the shared row: the last one of buf */
                buf[P * C + ch] = (float)((ch * 5) % 7) - 3.0f;
            for (size_t q = 0; q < P; q++) {
                const int shared = q % 9 < 3; /* three positions in nine share it */
                const size_t at = (q * 7) % P; /* a scrambled place */
                rows[q] = shared ? buf + P * C : buf + at * C;
                for (size_t ch = 0; ch < C; ch++) {
                    const float v = (float)((q * 13 + ch * 29) % 17) - 8.0f; /* ties */
                    if (!shared)
                        buf[at * C + ch] = v;
                    x[q * C + ch] = shared ? buf[P * C + ch] : v;
                }
            }
            ot_maxpool_forward(&g, x, N, y_ref, t_ref);
            ot_maxpool_forward_rows(&g, rows, N, y_got, t_got);
            const size_t out = N * o * o * C;
            CU_ASSERT(memcmp(y_got, y_ref, out * sizeof(float)) == 0);
            CU_ASSERT(memcmp(t_got, t_ref, out) == 0);
        }
}

/* The blank value (ot_layer_ops_t.blank) is the forward of one sample holding it: each
 * window's largest value, for overlapping windows on 3 channels. */
static void test_blank(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = 4;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=maxpool 3 stride 2, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_layout(&net, &c, &(ot_shape_t){3, 7, 7, 0}) == OT_OK);
    const ot_layer_t *M = &net.layers[0];
    const ot_conv_geom_t g = ot_pool_geom(M);
    float in[7 * 7 * 3], want[3 * 3 * 3], got[3 * 3 * 3];
    uint8_t tap[3 * 3 * 3];
    CU_ASSERT_FATAL(M->in_size == 147 && M->out_size == 27);
    for (size_t i = 0; i < 147; i++)
        in[i] = (float)((i * 37) % 23) - 11.0f;
    ot_maxpool_forward(&g, in, 1, want, tap);
    CU_ASSERT(M->ops->blank(M, NULL, in, got) == 0);
    CU_ASSERT(memcmp(want, got, sizeof got) == 0);
    ot_net_free(&net);
}

OT_TEST_SUITE(maxpool, NULL, NULL,
              {"blank value: the forward of one sample holding it", test_blank},
              {"the input through a table of rows, some shared", test_rows_table},
              {"3 to 64 channels, tiling and non-tiling windows, -0 and stale dx", test_many_channels},
              {"maximum per window and channel; ties to the top-left", test_max_and_ties},
              {"a batch of images, each window within its image", test_batch_of_images})
