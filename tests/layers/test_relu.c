/* test_relu.c - the ReLU kind's kernels (src/layers/relu.c): backward against a
 * central-difference numerical gradient. */
#include "ot_layers.h"
#include "ot_test.h"

static void test_relu_gradient(void)
{
    CU_ASSERT(ot_test_act_grad(ot_relu_forward, ot_relu_backward, 2) < 2e-3);
}

OT_TEST_SUITE(relu, NULL, NULL, {"ReLU backward vs numerical gradient", test_relu_gradient})
