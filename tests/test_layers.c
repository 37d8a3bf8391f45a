/* test_layers.c - every layer's backward against a central-difference numerical gradient, and
 * the textbook's computational graph of apples and oranges through Mul and Add nodes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot_graph.h"
#include "ot_layers.h"
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

/* ---- Numerical gradients ----
 * A layer f with output y gets the scalar loss L = sum(y * R) for a fixed random R, so
 * dL/dy = R is what backward receives. Each input is nudged by +-h and the central difference
 * of L (accumulated in double) is compared with the backward's gradient. */

typedef double (*loss_fn)(void *ctx); /* forward, then L */

static void fill(float *a, size_t n, ot_rng_t *r, float scale, float avoid)
{
    for (size_t i = 0; i < n; i++) {
        float v;
        do
            v = scale * (float)ot_rng_normal(r);
        while (fabsf(v) < avoid); /* keep away from kinks (ReLU at 0) */
        a[i] = v;
    }
}

/* Compare analytic grad g[0..n) of parameter p with the numerical one; returns max rel err and
 * asserts the gradient is not trivially zero. */
static double check_grad(float *p, const float *g, size_t n, loss_fn f, void *ctx, float h)
{
    double worst = 0.0, gmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double lp = f(ctx);
        p[i] = keep - h;
        double lm = f(ctx);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * (double)h);
        double err = fabs(num - g[i]) / fmax(1e-2, fabs(num) + fabs(g[i]));
        worst = fmax(worst, err);
        gmax = fmax(gmax, fabs(g[i]));
    }
    CU_ASSERT(gmax > 1e-3); /* an all-zero gradient must not pass */
    return worst;
}

static double dot(const float *y, const float *R, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * R[i];
    return s;
}

enum { N = 5, IN = 7, OUT = 4 };

typedef struct {
    float x[N * IN], W[IN * OUT], b[OUT], y[N * OUT], R[N * OUT];
    float dx[N * IN], dW[IN * OUT], db[OUT];
} affine_ctx;

static double affine_loss(void *p)
{
    affine_ctx *c = p;
    ot_affine_forward(c->x, c->W, c->b, c->y, N, IN, OUT);
    return dot(c->y, c->R, N * OUT);
}

static void test_affine_gradient(void)
{
    affine_ctx c;
    ot_rng_t r;
    ot_rng_seed(&r, 1);
    fill(c.x, N * IN, &r, 1, 0);
    fill(c.W, IN * OUT, &r, 1, 0);
    fill(c.b, OUT, &r, 1, 0);
    fill(c.R, N * OUT, &r, 1, 0);
    memset(c.dW, 0, sizeof c.dW);
    memset(c.db, 0, sizeof c.db);
    affine_loss(&c);
    ot_affine_backward(c.x, c.W, c.R, c.dx, c.dW, c.db, N, IN, OUT);
    CU_ASSERT(check_grad(c.x, c.dx, N * IN, affine_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(check_grad(c.W, c.dW, IN * OUT, affine_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(check_grad(c.b, c.db, OUT, affine_loss, &c, 1e-2f) < 1e-3);

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

typedef struct {
    int sigmoid;
    float x[N * OUT], y[N * OUT], R[N * OUT], dx[N * OUT];
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    if (c->sigmoid)
        ot_sigmoid_forward(c->x, c->y, N * OUT);
    else
        ot_relu_forward(c->x, c->y, N * OUT);
    return dot(c->y, c->R, N * OUT);
}

static void check_activation(int sigmoid)
{
    act_ctx c = {.sigmoid = sigmoid};
    ot_rng_t r;
    ot_rng_seed(&r, 2 + (uint64_t)sigmoid);
    fill(c.x, N * OUT, &r, 2, 0.05f);
    fill(c.R, N * OUT, &r, 1, 0);
    act_loss(&c);
    if (sigmoid)
        ot_sigmoid_backward(c.y, c.R, c.dx, N * OUT);
    else
        ot_relu_backward(c.y, c.R, c.dx, N * OUT);
    CU_ASSERT(check_grad(c.x, c.dx, N * OUT, act_loss, &c, 1e-2f) < 2e-3);
}

static void test_relu_gradient(void)
{
    check_activation(0);
}

static void test_sigmoid_gradient(void)
{
    check_activation(1);
    /* saturates without overflow or NaN */
    float x[4] = {-1000.0f, -90.0f, 90.0f, 1000.0f}, y[4];
    ot_sigmoid_forward(x, y, 4);
    CU_ASSERT(y[0] == 0.0f && y[1] >= 0.0f && y[1] < 1e-30f);
    CU_ASSERT(y[2] == 1.0f && y[3] == 1.0f);
}

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
    fill(c.x, N * OUT, &r, 2, 0);
    for (int i = 0; i < N; i++)
        c.t[i] = (int32_t)ot_rng_below(&r, OUT);
    softmax_loss(&c);
    ot_softmax_loss_backward(c.p, c.t, c.dx, N, OUT);
    CU_ASSERT(check_grad(c.x, c.dx, N * OUT, softmax_loss, &c, 1e-2f) < 2e-3);
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
    return dot(c->out, c->R, N);
}

static void check_node(int add)
{
    node_ctx c = {.add = add};
    ot_rng_t r;
    ot_rng_seed(&r, 5 + (uint64_t)add);
    fill(c.x, N, &r, 1, 0);
    fill(c.y, N, &r, 1, 0);
    fill(c.R, N, &r, 1, 0);
    node_loss(&c);
    if (add)
        ot_add_backward(c.R, c.dx, c.dy, N);
    else
        ot_mul_backward(c.x, c.y, c.R, c.dx, c.dy, N);
    CU_ASSERT(check_grad(c.x, c.dx, N, node_loss, &c, 1e-2f) < 1e-3);
    CU_ASSERT(check_grad(c.y, c.dy, N, node_loss, &c, 1e-2f) < 1e-3);
}

static void test_mul_gradient(void)
{
    check_node(0);
}

static void test_add_gradient(void)
{
    check_node(1);
}

OT_TEST_SUITE(layers, NULL, NULL,
              {"computational graph: apples and oranges", test_apple_orange_graph},
              {"Affine backward vs numerical gradient", test_affine_gradient},
              {"ReLU backward vs numerical gradient", test_relu_gradient},
              {"Sigmoid backward vs numerical gradient", test_sigmoid_gradient},
              {"SoftmaxWithLoss backward vs numerical gradient", test_softmax_loss_gradient},
              {"SoftmaxWithLoss values and stability", test_softmax_loss_values},
              {"Mul backward vs numerical gradient", test_mul_gradient},
              {"Add backward vs numerical gradient", test_add_gradient})
