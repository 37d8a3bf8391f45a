/* test_maxpool.c - the max-pooling kernels (src/layers/maxpool.c): the maximum per window and
 * channel and the tap it came from, ties to the first in window order; the gradient routed
 * there, added where windows overlap. */
#include <string.h>

#include "ot_conv.h"
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

OT_TEST_SUITE(maxpool, NULL, NULL,
              {"maximum per window and channel; ties to the top-left", test_max_and_ties},
              {"a batch of images, each window within its image", test_batch_of_images})
