/* test_avgpool.c - the average-pooling kernels (src/layers/avgpool.c): the mean per window
 * and channel; the gradient spread evenly and added where windows overlap. */
#include "ot_conv.h"
#include "ot_test.h"

static void test_mean_and_spread(void)
{
    /* one 3x3 image, 2 channels; 2x2 windows, stride 1 */
    const ot_conv_geom_t g = {3, 3, 2, 2, 2, 1, 0, 2, 2};
    float x[18], y[8], dy[8], dx[18];
    for (size_t i = 0; i < 18; i++)
        x[i] = (float)i;
    ot_avgpool_forward(&g, x, 1, y);
    for (size_t o = 0; o < 4; o++)
        for (size_t ch = 0; ch < 2; ch++) {
            size_t oy = o / 2, ox = o % 2;
            float s = 0.0f;
            for (size_t ky = 0; ky < 2; ky++)
                for (size_t kx = 0; kx < 2; kx++)
                    s += x[((oy + ky) * 3 + ox + kx) * 2 + ch];
            CU_ASSERT_EQUAL(y[o * 2 + ch], s / 4.0f);
        }
    for (size_t i = 0; i < 8; i++)
        dy[i] = 4.0f;
    ot_avgpool_backward(&g, dy, 1, dx);
    CU_ASSERT_EQUAL(dx[0], 1.0f);                 /* a corner: one window */
    CU_ASSERT_EQUAL(dx[(0 * 3 + 1) * 2], 2.0f);   /* an edge: two */
    CU_ASSERT_EQUAL(dx[(1 * 3 + 1) * 2 + 1], 4.0f); /* the centre: all four */
}

OT_TEST_SUITE(avgpool, NULL, NULL,
              {"mean per window and channel; the gradient spread and added", test_mean_and_spread})
