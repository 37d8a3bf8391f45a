/* test_registry.c - the conformance suite, driven by the layer registry (src/layers/registry.c):
 * every registered kind, in the small network its table's example describes (plus an Affine to
 * the 10 classes) on MNIST images, must
 *   - agree with its double reference: the forward loss, and the gradient of every tensor
 *     against central differences (gradcheck);
 *   - give the same bits at 1, 2, 3, 5, 7, 11 and 16 threads with 5 shards (from 7 threads on,
 *     threads share shards), and the one-shard gradient to float tolerance;
 *   - survive a checkpoint round trip bit for bit, parameters and state;
 *   - work as the model's first layer (its example from the kind on), where backward has no
 *     dx to write: gradcheck and an epoch of training.
 * A kind added to the registry is covered here without a line of this file changing. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_gradcheck.h"
#include "ot_layer.h"
#include "ot_test.h"
#include "ot_train.h"

enum { BATCH = 20 };

static int setup(void)
{
    ot_gemm_init();
    return 0;
}

/* The layers of example from the first of the kind's on ("conv 3 3x3, batchnorm, relu" ->
 * "batchnorm, relu"), into out; "" when no layer of the example is of the kind. */
static void from_kind(const char *example, const ot_layer_ops_t *ops, char *out, size_t n)
{
    out[0] = '\0';
    for (const char *p = example; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const size_t w = strcspn(p, " ,");
        if ((strlen(ops->kind) == w && !strncmp(p, ops->kind, w)) ||
            (ops->prefix && strlen(ops->prefix) == w && !strncmp(p, ops->prefix, w))) {
            snprintf(out, n, "%s", p);
            return;
        }
        p += strcspn(p, ",");
    }
}

/* A trainer on 200 MNIST images whose model is the kind's example (first: from the kind's
 * first layer on) and an Affine to the classes; 5 shards, 2 threads. Returns 0 or -1 (the
 * kind named on stdout). */
static int make_trainer_at(ot_trainer_t *t, const ot_layer_ops_t *ops, uint64_t seed, int first)
{
    char layers[512], stack[600], set[640];
    if (first)
        from_kind(ops->example, ops, layers, sizeof layers);
    else
        snprintf(layers, sizeof layers, "%s", ops->example);
    snprintf(stack, sizeof stack, "%s%saffine 10", layers, layers[0] ? ", " : "");
    snprintf(set, sizeof set, "model.layers=%s", stack);
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "tests/conformance.ini");
    c.train_limit = 200;
    c.test_limit = 50;
    c.batch_size = BATCH;
    c.shards = 5;
    c.seed = seed;
    c.init = OT_INIT_HE;
    if (ot_config_set(&c, set) || ot_config_check(&c) || ot_trainer_init(t, &c, 2)) {
        printf("\n  conformance: %s: cannot build '%s'\n", ops->kind, stack);
        return -1;
    }
    t->eng.seed = seed;
    t->eng.step = 3;
    return 0;
}

static int make_trainer(ot_trainer_t *t, const ot_layer_ops_t *ops, uint64_t seed)
{
    return make_trainer_at(t, ops, seed, 0);
}

/* Whether the kind appears in the trainer's network. */
static int has_kind(const ot_trainer_t *t, const ot_layer_ops_t *ops)
{
    for (size_t l = 0; l < t->net.n_layers; l++)
        if (t->net.layers[l].ops == ops)
            return 1;
    return 0;
}

static void test_every_kind_has_an_example(void)
{
    size_t n = 0;
    for (size_t k = 0; ot_layer_kinds[k]; k++, n++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        CU_ASSERT_PTR_NOT_NULL(ops->example);
        CU_ASSERT_PTR_NOT_NULL(ops->reference);
        CU_ASSERT_PTR_EQUAL(ot_layer_find(ops->kind), ops);
        ot_trainer_t t;
        if (!ops->example || make_trainer(&t, ops, 1)) {
            CU_FAIL("a kind without a working example");
            continue;
        }
        CU_ASSERT(has_kind(&t, ops));
        ot_trainer_free(&t);
    }
    CU_ASSERT(n >= 10); /* affine ... flatten */
}

/* Gradcheck of trainer t (the kind's network): every tensor passes. */
static void gradcheck_passes(ot_trainer_t *t, const ot_layer_ops_t *ops)
{
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 4;
    o.max_entries = 40;
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    ot_gradcheck_fwd_t fwd;
    int rc = ot_gradcheck(&t->eng, &t->train, &o, NULL, rows, &fwd);
    CU_ASSERT_EQUAL(rc, 1);
    if (!fwd.pass)
        printf("\n  conformance: %s: forward loss %.9g, reference %.9g\n", ops->kind, fwd.loss,
               fwd.ref_loss);
    for (size_t i = 0; i < t->net.n_tensors; i++)
        if (!rows[i].pass)
            printf("\n  conformance: %s: gradcheck fails on %s (max rel err %.3g)\n", ops->kind,
                   rows[i].tensor->name, rows[i].max_rel_err);
}

static void test_gradcheck_every_kind(void)
{
    for (size_t k = 0; ot_layer_kinds[k]; k++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        ot_trainer_t t;
        if (make_trainer(&t, ops, 7)) {
            CU_FAIL("cannot build the example");
            continue;
        }
        gradcheck_passes(&t, ops);
        ot_trainer_free(&t);
    }
}

/* The first layer's backward gets no dx to write (ot_ctx_t.dx NULL): batch norm first wrote
 * through it (a segfault at the first step) until it checked. */
static void test_first_layer_every_kind(void)
{
    size_t n = 0;
    for (size_t k = 0; ot_layer_kinds[k]; k++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        if (ops->is_loss)
            continue; /* it closes every stack by itself */
        ot_trainer_t t;
        if (make_trainer_at(&t, ops, 9, 1)) {
            CU_FAIL("cannot build the example from the kind on");
            continue;
        }
        CU_ASSERT(t.net.layers[0].ops == ops);
        gradcheck_passes(&t, ops);
        ot_epoch_stats_t st;
        CU_ASSERT_EQUAL(ot_trainer_epoch(&t, &st, NULL, NULL), OT_OK);
        CU_ASSERT(isfinite(st.train_loss));
        ot_trainer_free(&t);
        n++;
    }
    CU_ASSERT(n >= 9);
}

static void test_sharded_every_kind(void)
{
    uint32_t idx[BATCH];
    for (size_t i = 0; i < BATCH; i++)
        idx[i] = (uint32_t)((i * 7 + 3) % 200);
    for (size_t k = 0; ot_layer_kinds[k]; k++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        ot_trainer_t t;
        if (make_trainer(&t, ops, 11)) {
            CU_FAIL("cannot build the example");
            continue;
        }
        const size_t P = t.net.n_params;
        float *ref = malloc(P * sizeof(float)), *state = malloc(t.net.n_state * sizeof(float) + 1);
        CU_ASSERT_FATAL(ref && state);
        memcpy(state, t.net.state, t.net.n_state * sizeof(float));
        const int threads[] = {1, 2, 3, 5, 7, 11, 16};
        int same = 1;
        double loss = 0.0;
        for (size_t j = 0; j < sizeof threads / sizeof threads[0]; j++) {
            omp_set_num_threads(threads[j]);
            memcpy(t.net.state, state, t.net.n_state * sizeof(float));
            double l = ot_engine_gradient(&t.eng, &t.train, idx, BATCH).loss;
            if (j == 0) {
                loss = l;
                memcpy(ref, t.eng.grad, P * sizeof(float));
            } else {
                same &= l == loss && memcmp(ref, t.eng.grad, P * sizeof(float)) == 0;
            }
        }
        CU_ASSERT(same);
        if (!same)
            printf("\n  conformance: %s: the gradient depends on the thread count\n", ops->kind);
        /* one shard: the same sums in another order */
        ot_engine_t one;
        CU_ASSERT_FATAL(ot_engine_init(&one, &t.net, BATCH, 1) == OT_OK);
        one.seed = t.eng.seed;
        one.step = t.eng.step;
        memcpy(t.net.state, state, t.net.n_state * sizeof(float));
        ot_engine_gradient(&one, &t.train, idx, BATCH);
        double worst = 0.0, gmax = 0.0;
        for (size_t i = 0; i < P; i++) {
            worst = fmax(worst, fabs(one.grad[i] - ref[i]));
            gmax = fmax(gmax, fabs(ref[i]));
        }
        CU_ASSERT(gmax > 0.0);
        CU_ASSERT(worst <= 1e-4 * gmax);
        if (!(worst <= 1e-4 * gmax))
            printf("\n  conformance: %s: one shard differs by %.3g (largest gradient %.3g)\n",
                   ops->kind, worst, gmax);
        ot_engine_free(&one);
        omp_set_num_threads(2);
        free(ref);
        free(state);
        ot_trainer_free(&t);
    }
}

static void test_checkpoint_every_kind(void)
{
    char dir[] = "/tmp/omptrain-conformance-XXXXXX", path[64];
    CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/ck.h5", dir);
    for (size_t k = 0; ot_layer_kinds[k]; k++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        ot_trainer_t a, b;
        if (make_trainer(&a, ops, 21)) {
            CU_FAIL("cannot build the example");
            continue;
        }
        ot_epoch_stats_t st;
        CU_ASSERT_EQUAL(ot_trainer_epoch(&a, &st, NULL, NULL), OT_OK); /* moves every block */
        CU_ASSERT_EQUAL_FATAL(ot_ckpt_write(&a, path), OT_OK);
        CU_ASSERT_FATAL(make_trainer(&b, ops, 22) == 0);
        CU_ASSERT(memcmp(a.net.params, b.net.params, a.net.n_params * sizeof(float)) != 0);
        CU_ASSERT_EQUAL(ot_ckpt_load(path, &b), OT_OK);
        CU_ASSERT(memcmp(a.net.params, b.net.params, a.net.n_params * sizeof(float)) == 0);
        CU_ASSERT(a.net.n_state == 0 ||
                  memcmp(a.net.state, b.net.state, a.net.n_state * sizeof(float)) == 0);
        ot_trainer_free(&a);
        ot_trainer_free(&b);
        unlink(path);
    }
    rmdir(dir);
}

OT_TEST_SUITE(registry, setup, NULL,
              {"every kind has a working example", test_every_kind_has_an_example},
              {"every kind: backward agrees with central differences", test_gradcheck_every_kind},
              {"every kind: same bits at 1, 2, 3, 5, 7, 11, 16 threads on 5 shards; one shard to float tolerance",
               test_sharded_every_kind},
              {"every kind: checkpoint round trip, bit for bit", test_checkpoint_every_kind},
              {"every kind as the first layer: gradcheck and an epoch", test_first_layer_every_kind})
