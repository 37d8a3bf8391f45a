/* test_optim.c - every optimizer against values worked out by hand for a few steps; L2 weight
 * decay on weights only; global-norm clipping; learning-rate schedules. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ot_common.h"
#include "ot_optim.h"
#include "ot_test.h"

/* One Affine 2 -> 2: W (2x2) is a weight tensor, b (2) a bias; every parameter starts at 1 and
 * sees the gradient 0.5 at every step. Returns W[0] and b[0] after each of `steps` steps. */
static void run(const char *optimizer, double lr, double wd, int steps, double *w, double *b)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_layers = 1;
    c.sizes[0] = 2;
    c.sizes[1] = 2;
    c.n_classes = 2;
    char set[64];
    snprintf(set, sizeof set, "training.optimizer=%s", optimizer);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    c.weight_decay = wd;
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, NULL) == OT_OK);
    const ot_tensor_t *W = ot_net_tensor(&net, "affine1/W"), *B = ot_net_tensor(&net, "affine1/b");
    CU_ASSERT_FATAL(W && B);
    ot_optim_t o;
    CU_ASSERT_FATAL(ot_optim_init(&o, &c, &net) == OT_OK);
    float *grad = ot_alloc(net.n_params * sizeof(float));
    CU_ASSERT_FATAL(grad != NULL);
    for (size_t i = 0; i < W->size; i++)
        net.params[W->off + i] = 1.0f;
    for (size_t i = 0; i < B->size; i++)
        net.params[B->off + i] = 1.0f;
    for (int s = 0; s < steps; s++) {
        memset(grad, 0, net.n_params * sizeof(float));
        for (size_t i = 0; i < W->size; i++)
            grad[W->off + i] = 0.5f;
        for (size_t i = 0; i < B->size; i++)
            grad[B->off + i] = 0.5f;
        ot_optim_step(&o, net.params, grad, lr);
        w[s] = net.params[W->off];
        b[s] = net.params[B->off];
    }
    ot_free(grad);
    ot_optim_free(&o);
    ot_net_free(&net);
}

#define NEAR(got, want) CU_ASSERT_DOUBLE_EQUAL(got, want, 1e-6 * (1.0 + fabs(want)))

static void test_sgd(void)
{
    double w[3], b[3];
    run("sgd", 0.1, 0.0, 3, w, b);
    NEAR(w[0], 0.95); /* 1 - 0.1 * 0.5 */
    NEAR(w[1], 0.90);
    NEAR(w[2], 0.85);
    NEAR(b[2], 0.85);
}

static void test_momentum(void)
{
    double w[3], b[3];
    run("momentum", 0.1, 0.0, 3, w, b);
    NEAR(w[0], 0.95);   /* v = -0.05 */
    NEAR(w[1], 0.855);  /* v = 0.9 * -0.05 - 0.05 = -0.095 */
    NEAR(w[2], 0.7195); /* v = 0.9 * -0.095 - 0.05 = -0.1355 */
}

static void test_nesterov(void)
{
    double w[2], b[2];
    run("nesterov", 0.1, 0.0, 2, w, b);
    NEAR(w[0], 0.905);  /* v = -0.05; p += 0.9 v - 0.05 */
    NEAR(w[1], 0.7695); /* v = -0.095; p += 0.9 v - 0.05 */
}

static void test_adagrad(void)
{
    double w[2], b[2];
    run("adagrad", 0.1, 0.0, 2, w, b);
    NEAR(w[0], 0.9);                         /* h = 0.25: 1 - 0.1 * 0.5 / 0.5 */
    NEAR(w[1], 0.9 - 0.05 / sqrt(0.5));     /* h = 0.5 */
}

static void test_rmsprop(void)
{
    double w[2], b[2];
    run("rmsprop", 0.1, 0.0, 2, w, b);
    NEAR(w[0], 0.0);                        /* h = 0.01 * 0.25: 1 - 0.05 / 0.05 */
    NEAR(w[1], -0.05 / sqrt(0.004975));     /* h = 0.99 * 0.0025 + 0.0025 */
}

static void test_adam(void)
{
    double w[3], b[3];
    /* with a constant gradient the bias-corrected m^ / sqrt(v^) is exactly 1 */
    run("adam", 0.001, 0.0, 3, w, b);
    NEAR(w[0], 0.999);
    NEAR(w[1], 0.998);
    NEAR(w[2], 0.997);
}

static void test_adamw_decays_weights_only(void)
{
    double w[1], b[1];
    run("adamw", 0.001, 0.1, 1, w, b);
    NEAR(w[0], 1.0 - 0.001 * (1.0 + 0.1)); /* decoupled: lr (1 + wd p) */
    NEAR(b[0], 0.999);                     /* biases never decay */
}

static void test_l2_weights_only(void)
{
    double w[1], b[1];
    run("sgd", 0.1, 0.1, 1, w, b);
    NEAR(w[0], 1.0 - 0.1 * (0.5 + 0.1 * 1.0));
    NEAR(b[0], 0.95);
}

static void test_default_learning_rates(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.01, 0);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.optimizer=adam"), OT_OK);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.001, 0);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.learning_rate=0.5"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.optimizer=rmsprop"), OT_OK);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.5, 0); /* given explicitly: kept */
}

static void test_clip(void)
{
    float g[3] = {3.0f, 4.0f, 0.0f};
    CU_ASSERT_DOUBLE_EQUAL(ot_grad_clip(g, 3, 10.0), 5.0, 1e-12); /* under the limit: kept */
    CU_ASSERT_DOUBLE_EQUAL(g[0], 3.0, 0);
    CU_ASSERT_DOUBLE_EQUAL(ot_grad_clip(g, 3, 1.0), 5.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(g[0], 0.6, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(g[1], 0.8, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(ot_grad_norm(g, 3), 1.0, 1e-6);
}

static void test_schedules(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.lr = 0.1;
    c.epochs = 10;
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 999, 100), 0.1, 0);
    c.schedule = OT_SCHED_STEP;
    c.step_epochs = 3;
    c.step_factor = 0.5;
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 299, 100), 0.1, 1e-15);  /* epoch 2.99 */
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 300, 100), 0.05, 1e-15); /* epoch 3 */
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 650, 100), 0.025, 1e-15);
    c.schedule = OT_SCHED_COSINE;
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 0, 100), 0.1, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 500, 100), 0.05, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 1000, 100), 0.0, 1e-12);
    c.schedule = OT_SCHED_CONSTANT;
    c.warmup_epochs = 2;
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 0, 100), 0.1 / 200, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 99, 100), 0.05, 1e-15);
    CU_ASSERT_DOUBLE_EQUAL(ot_schedule_lr(&c, 200, 100), 0.1, 0);
}

/* The keys that shape the learning rate, where they differ: epochs only for cosine,
 * step_epochs and step_factor only for step, the rest always; one line, in key order. */
static void test_schedule_diff(void)
{
    ot_config_t a, b;
    char buf[256];
    ot_config_defaults(&a);
    b = a;
    CU_ASSERT_EQUAL(ot_schedule_diff(&a, &b, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    b.epochs = a.epochs + 5; /* constant: the curve does not depend on the run's length */
    b.step_epochs = 3;
    CU_ASSERT_EQUAL(ot_schedule_diff(&a, &b, buf, sizeof buf), 0);
    a.schedule = b.schedule = OT_SCHED_COSINE;
    a.epochs = 2;
    b.epochs = 4;
    CU_ASSERT_EQUAL(ot_schedule_diff(&a, &b, buf, sizeof buf), 1);
    CU_ASSERT_STRING_EQUAL(buf, "training.epochs 2 -> 4");
    b = a;
    b.schedule = OT_SCHED_STEP;
    b.lr = 0.05;
    b.step_factor = 0.5;
    b.warmup_epochs = 1;
    CU_ASSERT_EQUAL(ot_schedule_diff(&a, &b, buf, sizeof buf), 4);
    CU_ASSERT_STRING_EQUAL(buf, "training.schedule cosine -> step, training.learning_rate "
                                "0.01 -> 0.05, training.warmup_epochs 0 -> 1, "
                                "training.step_factor 0.1 -> 0.5");
    /* a short buffer holds whole items only */
    CU_ASSERT_EQUAL(ot_schedule_diff(&a, &b, buf, 40), 4);
    CU_ASSERT_STRING_EQUAL(buf, "training.schedule cosine -> step");
}

/* ot_optim_span over pieces that cut across tensors, in any order, then ot_optim_commit: the
 * same bits as ot_optim_step, for every rule, with weight decay (L2, or adamw's), over three
 * steps (adam's bias correction counts them), the second streamed out (shared). The net is
 * 13 -> 5 -> 2: weights and biases of two layers, 82 parameters; the pieces have 7 floats (37
 * in the second step), taken last first. */
static void test_span_is_step(void)
{
    const char *rules[] = {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw"};
    for (size_t r = 0; r < sizeof rules / sizeof *rules; r++) {
        ot_config_t c;
        ot_config_defaults(&c);
        c.n_layers = 2;
        c.sizes[0] = 13;
        c.sizes[1] = 5;
        c.sizes[2] = 2;
        c.n_classes = 2;
        char set[64];
        snprintf(set, sizeof set, "training.optimizer=%s", rules[r]);
        CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
        c.weight_decay = 0.01;
        ot_net_t net;
        CU_ASSERT_FATAL(ot_net_init(&net, &c, NULL) == OT_OK);
        const size_t n = net.n_params;
        ot_optim_t whole, parts;
        CU_ASSERT_FATAL(ot_optim_init(&whole, &c, &net) == OT_OK);
        CU_ASSERT_FATAL(ot_optim_init(&parts, &c, &net) == OT_OK);
        float *p1 = ot_alloc(n * sizeof(float)), *p2 = ot_alloc(n * sizeof(float));
        float *g1 = ot_alloc(n * sizeof(float)), *g2 = ot_alloc(n * sizeof(float));
        CU_ASSERT_FATAL(p1 && p2 && g1 && g2);
        for (size_t i = 0; i < n; i++)
            p1[i] = p2[i] = 0.1f * (float)((i * 7) % 11) - 0.5f;
        int same = 1;
        for (int step = 1; step <= 3; step++) {
            for (size_t i = 0; i < n; i++)
                g1[i] = g2[i] = 0.03f * (float)((i * 5 + (size_t)step) % 13) - 0.2f;
            ot_optim_step(&whole, p1, g1, 0.05); /* stored as the parameters fall */
            /* step 2 shared (streamed out): 37 floats a piece, so that pieces of the first
             * weights have an unaligned head, aligned vectors and a tail */
            const size_t k = step == 2 ? 37 : 7;
            for (size_t hi = n; hi > 0; hi = hi > k ? hi - k : 0) {
                const size_t lo = hi > k ? hi - k : 0;
                ot_optim_span(&parts, p2, g2 + lo, lo, hi, 0.05, step == 2);
            }
            ot_optim_commit(&parts);
            same &= memcmp(p1, p2, n * sizeof(float)) == 0;
            same &= !whole.m || memcmp(whole.m, parts.m, n * sizeof(float)) == 0;
            same &= !whole.v || memcmp(whole.v, parts.v, n * sizeof(float)) == 0;
        }
        if (!same)
            fprintf(stderr, "\n  %s: spans differ from one step\n", rules[r]);
        CU_ASSERT(same);
        CU_ASSERT_EQUAL(parts.t, 3);
        CU_ASSERT(p1[0] != 0.1f * 0.0f - 0.5f); /* it did move */
        ot_free(p1);
        ot_free(p2);
        ot_free(g1);
        ot_free(g2);
        ot_optim_free(&whole);
        ot_optim_free(&parts);
        ot_net_free(&net);
    }
}

OT_TEST_SUITE(optim, NULL, NULL,
              {"the learning-rate keys that differ, by schedule", test_schedule_diff},
              {"ot_optim_span in pieces: the bits of ot_optim_step", test_span_is_step},
              {"sgd", test_sgd},
              {"momentum", test_momentum},
              {"nesterov", test_nesterov},
              {"adagrad", test_adagrad},
              {"rmsprop", test_rmsprop},
              {"adam", test_adam},
              {"adamw decays weights only", test_adamw_decays_weights_only},
              {"L2 weight decay on weights only", test_l2_weights_only},
              {"default learning rates follow the optimizer", test_default_learning_rates},
              {"global-norm clipping", test_clip},
              {"schedules and warm-up", test_schedules})
