/* test_sigmoid.c - the Sigmoid kind's kernels (src/layers/sigmoid.c): backward against a
 * central-difference numerical gradient, and saturation without overflow or NaN. */
#include "ot_layers.h"
#include "ot_test.h"

static void test_sigmoid_gradient(void)
{
    CU_ASSERT(ot_test_act_grad(ot_sigmoid_forward, ot_sigmoid_backward, 3) < 2e-3);
    /* saturates without overflow or NaN */
    float x[4] = {-1000.0f, -90.0f, 90.0f, 1000.0f}, y[4];
    ot_sigmoid_forward(x, y, 4);
    CU_ASSERT(y[0] == 0.0f && y[1] >= 0.0f && y[1] < 1e-30f);
    CU_ASSERT(y[2] == 1.0f && y[3] == 1.0f);
}

OT_TEST_SUITE(sigmoid, NULL, NULL,
              {"Sigmoid backward vs numerical gradient", test_sigmoid_gradient})
