/* test_maxpool.c - the max-pooling kernels (src/layers/maxpool.c): the maximum per window and
 * channel, ties to the first in window order, the gradient routed to the recorded arg-max and
 * added where windows overlap. */
#include <string.h>

#include "ot_conv.h"
#include "ot_test.h"

static void test_max_and_ties(void)
{
    /* one 3x3 image, 2 channels; 2x2 windows, stride 1: 2x2 outputs */
    const ot_conv_geom_t g = {3, 3, 2, 2, 2, 1, 0, 2, 2};
    float x[18] = {0}, y[8];
    uint32_t arg[8];
    /* channel 0: a 5 at (1, 1), in every window; channel 1: all equal (ties everywhere) */
    for (size_t i = 0; i < 9; i++) {
        x[i * 2] = (float)i * 0.1f;
        x[i * 2 + 1] = 1.0f;
    }
    x[(1 * 3 + 1) * 2] = 5.0f;
    ot_maxpool_forward(&g, x, 1, y, arg);
    for (size_t o = 0; o < 4; o++) {
        size_t oy = o / 2, ox = o % 2;
        CU_ASSERT_EQUAL(y[o * 2], 5.0f);
        CU_ASSERT_EQUAL(arg[o * 2], (1 * 3 + 1) * 2);
        /* the tie goes to the window's top-left input */
        CU_ASSERT_EQUAL(y[o * 2 + 1], 1.0f);
        CU_ASSERT_EQUAL(arg[o * 2 + 1], (oy * 3 + ox) * 2 + 1);
    }
    /* backward: the centre of channel 0 collects all four (overlapping windows add) */
    float dy[8], dx[18];
    for (size_t i = 0; i < 8; i++)
        dy[i] = (float)(i + 1);
    ot_maxpool_backward(&g, dy, arg, 1, dx);
    CU_ASSERT_EQUAL(dx[(1 * 3 + 1) * 2], 1.0f + 3.0f + 5.0f + 7.0f);
    CU_ASSERT_EQUAL(dx[1], 2.0f);              /* channel 1: each top-left its own */
    CU_ASSERT_EQUAL(dx[(1 * 3 + 1) * 2 + 1], 8.0f);
    CU_ASSERT_EQUAL(dx[(2 * 3 + 2) * 2 + 1], 0.0f); /* never a maximum */
}

/* two images, 2x2 windows stride 2: each output its own window, within its own image */
static void test_batch_of_images(void)
{
    const ot_conv_geom_t g = {4, 4, 1, 2, 2, 2, 0, 2, 2};
    float x[32], y[8], dx[32], dy[8];
    uint32_t arg[8];
    for (size_t i = 0; i < 32; i++)
        x[i] = (float)((i * 7) % 13);
    ot_maxpool_forward(&g, x, 2, y, arg);
    for (size_t s = 0; s < 2; s++)
        for (size_t o = 0; o < 4; o++) {
            size_t oy = o / 2, ox = o % 2;
            float best = -1.0f;
            for (size_t ky = 0; ky < 2; ky++)
                for (size_t kx = 0; kx < 2; kx++) {
                    float v = x[s * 16 + (oy * 2 + ky) * 4 + ox * 2 + kx];
                    best = v > best ? v : best;
                }
            CU_ASSERT_EQUAL(y[s * 4 + o], best);
            CU_ASSERT_EQUAL(x[s * 16 + arg[s * 4 + o]], best);
        }
    for (size_t i = 0; i < 8; i++)
        dy[i] = 1.0f;
    ot_maxpool_backward(&g, dy, arg, 2, dx);
    float sum = 0.0f;
    for (size_t i = 0; i < 32; i++)
        sum += dx[i];
    CU_ASSERT_EQUAL(sum, 8.0f);
}

OT_TEST_SUITE(maxpool, NULL, NULL,
              {"maximum per window and channel; ties to the top-left", test_max_and_ties},
              {"a batch of images, each window within its image", test_batch_of_images})
