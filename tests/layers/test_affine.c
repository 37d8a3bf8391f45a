/* test_affine.c - the Affine kind's kernels (src/layers/affine.c): backward against a
 * central-difference numerical gradient for x, W and b, and dW, db accumulated (+=), not
 * written. */
#include <math.h>
#include <string.h>

#include "ot_layers.h"
#include "ot_rng.h"
#include "ot_test.h"

enum { N = 5, IN = 7, OUT = 4 };

typedef struct {
    float x[N * IN], W[IN * OUT], b[OUT], y[N * OUT], R[N * OUT];
    float dx[N * IN], dW[IN * OUT], db[OUT];
} affine_ctx;

static double affine_loss(void *p)
{
    affine_ctx *c = p;
    ot_affine_forward(c->x, c->W, c->b, c->y, N, IN, OUT);
    return ot_test_dot(c->y, c->R, N * OUT);
}

static void test_affine_gradient(void)
{
    affine_ctx c;
    ot_rng_t r;
    ot_rng_seed(&r, 1);
    ot_test_fill(c.x, N * IN, &r, 1, 0);
    ot_test_fill(c.W, IN * OUT, &r, 1, 0);
    ot_test_fill(c.b, OUT, &r, 1, 0);
    ot_test_fill(c.R, N * OUT, &r, 1, 0);
    memset(c.dW, 0, sizeof c.dW);
    memset(c.db, 0, sizeof c.db);
    affine_loss(&c);
    ot_affine_backward(c.x, c.W, c.R, c.dx, c.dW, c.db, N, IN, OUT);
    CU_ASSERT(ot_test_check_grad(c.x, c.dx, N * IN, affine_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(ot_test_check_grad(c.W, c.dW, IN * OUT, affine_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(ot_test_check_grad(c.b, c.db, OUT, affine_loss, &c, 1e-2f) < 1e-3);

    /* backward accumulates into dW and db: a second call doubles them */
    float dW1[IN * OUT], db1[OUT];
    memcpy(dW1, c.dW, sizeof dW1);
    memcpy(db1, c.db, sizeof db1);
    ot_affine_backward(c.x, c.W, c.R, NULL, c.dW, c.db, N, IN, OUT);
    for (size_t i = 0; i < IN * OUT; i++)
        CU_ASSERT_DOUBLE_EQUAL(c.dW[i], 2 * dW1[i], 1e-5 * (1 + fabsf(dW1[i])));
    for (size_t i = 0; i < OUT; i++)
        CU_ASSERT_DOUBLE_EQUAL(c.db[i], 2 * db1[i], 1e-5 * (1 + fabsf(db1[i])));
}

OT_TEST_SUITE(affine, NULL, NULL,
              {"Affine backward vs numerical gradient", test_affine_gradient})
