/* test_softmax_loss.c - the SoftmaxWithLoss kind's kernels (src/layers/softmax_loss.c):
 * backward against a central-difference numerical gradient; the summed loss, probabilities
 * and hit count on known scores, finite for huge ones. */
#include <math.h>

#include "ot_layers.h"
#include "ot_rng.h"
#include "ot_test.h"

enum { N = 5, OUT = 4 };

typedef struct {
    float x[N * OUT], p[N * OUT], dx[N * OUT];
    int32_t t[N];
} softmax_ctx;

static double softmax_loss(void *p)
{
    softmax_ctx *c = p;
    return ot_softmax_loss_forward(c->x, c->t, c->p, N, OUT, NULL);
}

static void test_softmax_loss_gradient(void)
{
    softmax_ctx c;
    ot_rng_t r;
    ot_rng_seed(&r, 4);
    ot_test_fill(c.x, N * OUT, &r, 2, 0);
    for (int i = 0; i < N; i++)
        c.t[i] = (int32_t)ot_rng_below(&r, OUT);
    softmax_loss(&c);
    ot_softmax_loss_backward(c.p, c.t, c.dx, N, OUT);
    CU_ASSERT(ot_test_check_grad(c.x, c.dx, N * OUT, softmax_loss, &c, 1e-2f) < 2e-3);
}

static void test_softmax_loss_values(void)
{
    /* uniform scores: loss log(c) per row, summed; probabilities 1/c */
    float x[2 * 4] = {0}, p[2 * 4];
    int32_t t[2] = {1, 3};
    size_t hits = 0;
    double loss = ot_softmax_loss_forward(x, t, p, 2, 4, &hits);
    CU_ASSERT_DOUBLE_EQUAL(loss, 2 * log(4.0), 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(p[5], 0.25, 1e-7);
    /* huge scores stay finite; a confident right answer costs ~0, a wrong one ~the gap */
    float y[2 * 3] = {1e4f, 0, 0, 0, 1e4f, 0};
    int32_t u[2] = {0, 0};
    float q[6];
    hits = 0;
    loss = ot_softmax_loss_forward(y, u, q, 2, 3, &hits);
    CU_ASSERT(isfinite(loss));
    CU_ASSERT_DOUBLE_EQUAL(loss, 1e4, 1e-3);
    CU_ASSERT_EQUAL(hits, 1);
}

OT_TEST_SUITE(softmax_loss, NULL, NULL,
              {"SoftmaxWithLoss backward vs numerical gradient", test_softmax_loss_gradient},
              {"SoftmaxWithLoss values and stability", test_softmax_loss_values})
