/* test_graph.c - the computational-graph nodes of src/graph.c: the textbook's apples and
 * oranges through Mul and Add nodes (price and every derivative), and the Mul and Add backward
 * against a central-difference numerical gradient. */
#include <math.h>

#include "ot_graph.h"
#include "ot_rng.h"
#include "ot_test.h"

/* ---- The computational graph: 2 apples at 100, 3 oranges at 150, tax 1.1 ---- */

static void test_apple_orange_graph(void)
{
    float apple = 100, n_apple = 2, orange = 150, n_orange = 3, tax = 1.1f;
    float apple_price, orange_price, all_price, price;
    ot_mul_forward(&apple, &n_apple, &apple_price, 1);
    ot_mul_forward(&orange, &n_orange, &orange_price, 1);
    ot_add_forward(&apple_price, &orange_price, &all_price, 1);
    ot_mul_forward(&all_price, &tax, &price, 1);
    CU_ASSERT_DOUBLE_EQUAL(price, 715.0, 1e-3);

    float dprice = 1, dall_price, dtax, dapple_price, dorange_price;
    float dapple, dn_apple, dorange, dn_orange;
    ot_mul_backward(&all_price, &tax, &dprice, &dall_price, &dtax, 1);
    ot_add_backward(&dall_price, &dapple_price, &dorange_price, 1);
    ot_mul_backward(&orange, &n_orange, &dorange_price, &dorange, &dn_orange, 1);
    ot_mul_backward(&apple, &n_apple, &dapple_price, &dapple, &dn_apple, 1);
    CU_ASSERT_DOUBLE_EQUAL(dapple, 2.2, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(dn_apple, 110.0, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(dorange, 3.3, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(dn_orange, 165.0, 1e-3);
    CU_ASSERT_DOUBLE_EQUAL(dtax, 650.0, 1e-3);
}

/* ---- Mul and Add against the numerical gradient (ot_test.h) ---- */

enum { N = 5 };

typedef struct {
    int add;
    float x[N], y[N], out[N], R[N], dx[N], dy[N];
} node_ctx;

static double node_loss(void *p)
{
    node_ctx *c = p;
    if (c->add)
        ot_add_forward(c->x, c->y, c->out, N);
    else
        ot_mul_forward(c->x, c->y, c->out, N);
    return ot_test_dot(c->out, c->R, N);
}

static void check_node(int add)
{
    node_ctx c = {.add = add};
    ot_rng_t r;
    ot_rng_seed(&r, 5 + (uint64_t)add);
    ot_test_fill(c.x, N, &r, 1, 0);
    ot_test_fill(c.y, N, &r, 1, 0);
    ot_test_fill(c.R, N, &r, 1, 0);
    node_loss(&c);
    if (add)
        ot_add_backward(c.R, c.dx, c.dy, N);
    else
        ot_mul_backward(c.x, c.y, c.R, c.dx, c.dy, N);
    CU_ASSERT(ot_test_check_grad(c.x, c.dx, N, node_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(ot_test_check_grad(c.y, c.dy, N, node_loss, &c, 1e-2f) < 1e-3);
}

static void test_mul_gradient(void)
{
    check_node(0);
}

static void test_add_gradient(void)
{
    check_node(1);
}

OT_TEST_SUITE(graph, NULL, NULL,
              {"computational graph: apples and oranges", test_apple_orange_graph},
              {"Mul backward vs numerical gradient", test_mul_gradient},
              {"Add backward vs numerical gradient", test_add_gradient})
