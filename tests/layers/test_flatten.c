/* test_flatten.c - the Flatten kind (src/layers/flatten.c): an image becomes the vector of its
 * values in memory order, the gradient goes back unchanged, and a flat input is refused. */
#include <string.h>

#include "ot_common.h"
#include "ot_config.h"
#include "ot_net.h"
#include "ot_test.h"

static void test_shape_and_copy(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = 4;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 2 3x3, flatten, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_layout(&net, &c, &(ot_shape_t){1, 5, 5, 0}) == OT_OK);
    const ot_layer_t *F = &net.layers[1];
    CU_ASSERT_STRING_EQUAL(F->ops->kind, "flatten");
    CU_ASSERT_EQUAL(F->in_size, 3 * 3 * 2);
    CU_ASSERT_EQUAL(F->out_size, 18);
    CU_ASSERT(F->out.flat && F->out.c == 18 && F->out.h == 1 && F->out.w == 1);
    CU_ASSERT(!F->in.flat && F->in.h == 3 && F->in.w == 3 && F->in.c == 2);
    float x[2 * 18], y[2 * 18], dy[2 * 18], dx[2 * 18];
    for (size_t i = 0; i < 36; i++)
        x[i] = (float)i - 7.5f, dy[i] = 0.25f * (float)i;
    ot_ctx_t ctx = {.n = 2, .x = x, .y = y, .dy = dy, .dx = dx};
    F->ops->forward(F, &ctx);
    F->ops->backward(F, &ctx);
    CU_ASSERT(memcmp(x, y, sizeof x) == 0);
    CU_ASSERT(memcmp(dy, dx, sizeof dx) == 0);
    memset(y, 0, sizeof y); /* blank values: passed on as they are */
    CU_ASSERT(F->ops->blank(F, NULL, x, y) == 0);
    CU_ASSERT(memcmp(x, y, 18 * sizeof(float)) == 0);
    ot_net_free(&net);
}

static void test_flat_input_refused(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = 4;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=affine 8, flatten, affine 4") == 0);
    ot_net_t net;
    OT_EXPECT_ONE_LINE(ot_net_layout(&net, &c, &(ot_shape_t){1, 5, 5, 0}), OT_ECONFIG,
                       "the input is flat already");
}

OT_TEST_SUITE(flatten, NULL, NULL,
              {"an image to a vector in memory order; the gradient and blank values unchanged",
               test_shape_and_copy},
              {"a flat input is refused, naming the layer", test_flat_input_refused})
