/* test_gradcheck.c - gradcheck passes on correct networks and fails, naming the tensor, when a
 * layer's backward is wrong (sign flipped through the engine's test hook): an Affine, an
 * activation, batch norm, a convolution's dW and dx, and a max pooling's routing. At the
 * initial point, zero biases over empty pixels are exact ReLU kinks: the check moves all-zero
 * tensors off zero, so a Winograd F(4x4, 3x3) layer, whose rounding picks a side there,
 * passes, and puts them back. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_gradcheck.h"
#include "ot_test.h"

enum { NS = 40, CLASSES = 5 };

static ot_dataset_t ds, cnn_ds;

static int setup(void)
{
    ot_gemm_init();
    return ot_test_dataset(&ds, NS, 4, 5, CLASSES, 21) ||
           ot_test_dataset(&cnn_ds, NS, 8, 8, CLASSES, 22);
}

static int teardown(void)
{
    ot_dataset_free(&ds);
    ot_dataset_free(&cnn_ds);
    return 0;
}

/* 20-16-12-5: ReLU then Sigmoid, std init 0.1; stack: affine1 relu1 affine2 sigmoid2 affine3
 * softmax_loss (layer indices 0..5). */
static void build_with(ot_net_t *net, ot_engine_t *e, size_t shards, int bn, double dropout)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_layers = 3;
    c.sizes[0] = 20;
    c.sizes[1] = 16;
    c.sizes[2] = 12;
    c.sizes[3] = CLASSES;
    c.act[0] = OT_ACT_RELU;
    c.act[1] = OT_ACT_SIGMOID;
    c.init_std = 0.1;
    c.n_classes = CLASSES;
    c.batchnorm = bn;
    c.dropout = dropout;
    CU_ASSERT_FATAL(ot_net_init(net, &c, NULL) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 5);
    ot_net_init_params(net, &c, &r);
    CU_ASSERT_FATAL(ot_engine_init(e, net, 8, shards) == OT_OK);
    e->seed = 5;
    e->step = 12;
}

static void build(ot_net_t *net, ot_engine_t *e, size_t shards)
{
    build_with(net, e, shards, 0, 0.0);
}

static int run(ot_engine_t *e, ot_gradcheck_row_t *rows)
{
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 6;
    o.max_entries = 0;
    return ot_gradcheck(e, &ds, &o, NULL, rows, NULL);
}

static void test_correct_network_passes(void)
{
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 4);
    ot_gradcheck_row_t rows[6];
    CU_ASSERT_EQUAL(run(&e, rows), 1);
    for (size_t t = 0; t < net.n_tensors; t++) {
        CU_ASSERT(rows[t].pass);
        CU_ASSERT_EQUAL(rows[t].checked, net.tensors[t].size);
        /* with margin: two orders of magnitude below the tolerance */
        CU_ASSERT(rows[t].max_rel_err < 1e-4);
    }
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* The callbacks: the forward result first, then each checked tensor's row as soon as it is
 * known (the command prints them so, instead of every line at the end: 31 s of nothing on the
 * deep CNN until 2026-12), each tensor's entries counted in growing counts up to m (the
 * threads share the entries; the caller is told), before its row; tensors not checked are
 * not reported. */
typedef struct {
    const ot_net_t *net;
    char log[512];
    size_t entries[8]; /* the last `done` told, by tensor */
    int in_order;
} told_t;

static void told_result(const ot_gradcheck_fwd_t *f, const ot_gradcheck_row_t *r, void *arg)
{
    told_t *t = arg;
    const size_t u = strlen(t->log);
    if (f) {
        CU_ASSERT(f->pass);
        snprintf(t->log + u, sizeof t->log - u, "forward;");
        return;
    }
    const size_t i = (size_t)(r->tensor - t->net->tensors);
    CU_ASSERT(r->checked > 0 && t->entries[i] == r->checked); /* every entry told before */
    snprintf(t->log + u, sizeof t->log - u, "%s %s;", r->tensor->name, r->pass ? "ok" : "FAIL");
}

static void told_entry(const ot_tensor_t *T, size_t done, size_t m, void *arg)
{
    told_t *t = arg;
    const size_t i = (size_t)(T - t->net->tensors);
    t->in_order &= done > t->entries[i] && done <= m; /* counts that grow, to m */
    t->entries[i] = done;
}

static void test_results_told_as_known(void)
{
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 4);
    CU_ASSERT_FATAL(net.n_tensors == 6);
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    CU_ASSERT_PTR_NULL(o.on_result);
    CU_ASSERT_PTR_NULL(o.on_entry);
    o.samples = 6;
    o.max_entries = 7;
    told_t t = {.net = &net, .in_order = 1};
    o.on_result = told_result;
    o.on_entry = told_entry;
    o.arg = &t;
    const unsigned char check[6] = {1, 0, 1, 1, 0, 1}; /* affine1/b, affine3/W not checked */
    ot_gradcheck_row_t rows[6];
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &ds, &o, check, rows, NULL), 1);
    CU_ASSERT_STRING_EQUAL(t.log, "forward;affine1/W ok;affine2/W ok;affine2/b ok;affine3/b ok;");
    CU_ASSERT(t.in_order);
    CU_ASSERT_EQUAL(t.entries[0], 7);
    CU_ASSERT_EQUAL(t.entries[1], 0);
    CU_ASSERT_EQUAL(t.entries[4], 0);
    CU_ASSERT_EQUAL(t.entries[5], 5); /* affine3/b: 5 entries, fewer than 7 */
    ot_engine_free(&e);
    ot_net_free(&net);
}

static void test_flipped_affine_fails_naming_it(void)
{
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 3);
    e.fault_layer = 2; /* affine2: its dW and db come out negated */
    ot_gradcheck_row_t rows[6];
    CU_ASSERT_EQUAL(run(&e, rows), 0);
    for (size_t t = 0; t < net.n_tensors; t++) {
        int bad = strncmp(rows[t].tensor->name, "affine2/", 8) == 0;
        CU_ASSERT_EQUAL(rows[t].pass, !bad);
        if (bad)
            CU_ASSERT(rows[t].max_rel_err > 0.5);
    }
    ot_engine_free(&e);
    ot_net_free(&net);
}

static void test_flipped_activation_fails_upstream(void)
{
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 2);
    e.fault_layer = 3; /* sigmoid2: the gradient into affine2 and everything before is negated */
    ot_gradcheck_row_t rows[6];
    CU_ASSERT_EQUAL(run(&e, rows), 0);
    for (size_t t = 0; t < net.n_tensors; t++) {
        int upstream = strncmp(rows[t].tensor->name, "affine3/", 8) != 0;
        CU_ASSERT_EQUAL(rows[t].pass, !upstream);
    }
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* affine1's ReLUs dead for every sample (bias -100): affine1's W and b and affine2's W have a
 * gradient of exactly 0, the numerical one too. They agree, so the check passes, and those rows
 * say they compared nothing; the others are checked as usual. (Until 2026-12 such rows failed,
 * as did a bias before batch norm whose float sum came out exactly 0.) */
static void test_zero_gradient_passes_marked(void)
{
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 2);
    const ot_tensor_t *b1 = ot_net_tensor(&net, "affine1/b");
    CU_ASSERT_FATAL(b1 != NULL);
    for (size_t i = 0; i < b1->size; i++)
        net.params[b1->off + i] = -100.0f;
    ot_gradcheck_row_t rows[6];
    CU_ASSERT_EQUAL(run(&e, rows), 1);
    for (size_t t = 0; t < net.n_tensors; t++) {
        const char *name = rows[t].tensor->name;
        const int dead = !strncmp(name, "affine1/", 8) || !strcmp(name, "affine2/W");
        CU_ASSERT(rows[t].pass);
        CU_ASSERT_EQUAL(rows[t].zero, dead);
    }
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* affine1 bn1 relu1 dropout1 affine2 bn2 sigmoid2 dropout2 affine3 softmax_loss */
static void test_batchnorm_dropout_network(void)
{
    ot_net_t net;
    ot_engine_t e;
    build_with(&net, &e, 3, 1, 0.3);
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    CU_ASSERT_EQUAL(run(&e, rows), 1);
    for (size_t t = 0; t < net.n_tensors; t++)
        CU_ASSERT(rows[t].pass && rows[t].max_rel_err < 1e-3);
    e.fault_layer = 5; /* bn2: its dgamma and dbeta come out negated */
    CU_ASSERT_EQUAL(run(&e, rows), 0);
    for (size_t t = 0; t < net.n_tensors; t++)
        CU_ASSERT_EQUAL(rows[t].pass, strncmp(rows[t].tensor->name, "bn2/", 4) != 0);
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* A network of model.layers `set` on 8x8 images, He init, 3 shards. */
static void build_layers(ot_net_t *net, ot_engine_t *e, const char *set)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = CLASSES;
    c.init = OT_INIT_HE;
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    CU_ASSERT_FATAL(ot_net_init(net, &c, &(ot_shape_t){1, 8, 8, 0}) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 9);
    ot_net_init_params(net, &c, &r);
    CU_ASSERT_FATAL(ot_engine_init(e, net, 8, 3) == OT_OK);
}

/* A small CNN: conv1 relu1 maxpool1 conv2 relu2 affine1 softmax_loss. */
static void build_cnn(ot_net_t *net, ot_engine_t *e)
{
    build_layers(net, e, "model.layers=conv 3 3x3 pad 1, relu, maxpool 2, conv 4 3x3, relu, "
                         "affine 5");
}

/* With a fault at layer `name`, exactly the tensors whose names start with one of `bad` fail. */
static void expect_fault(const char *name, ot_fault_t what, const char *const *bad)
{
    ot_net_t net;
    ot_engine_t e;
    build_cnn(&net, &e);
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 6;
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &cnn_ds, &o, NULL, rows, NULL), 1); /* correct first */
    CU_ASSERT_EQUAL(ot_engine_set_fault(&e, name, what), OT_OK);
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &cnn_ds, &o, NULL, rows, NULL), 0);
    for (size_t t = 0; t < net.n_tensors; t++) {
        int is_bad = 0;
        for (size_t i = 0; bad[i]; i++)
            is_bad |= strncmp(rows[t].tensor->name, bad[i], strlen(bad[i])) == 0;
        CU_ASSERT_EQUAL(rows[t].pass, !is_bad);
        if (is_bad)
            CU_ASSERT(rows[t].max_rel_err > 0.5);
    }
    ot_engine_free(&e);
    ot_net_free(&net);
}

static void test_flipped_conv_dw_fails_naming_it(void)
{
    expect_fault("conv2", OT_FAULT_PARAMS, (const char *const[]){"conv2/", NULL});
}

static void test_flipped_conv_dx_fails_upstream(void)
{
    expect_fault("conv2", OT_FAULT_DX, (const char *const[]){"conv1/", NULL});
}

static void test_flipped_pool_routing_fails_upstream(void)
{
    expect_fault("maxpool1", OT_FAULT_AUTO, (const char *const[]){"conv1/", NULL});
}

/* Images whose right half is empty (0), as MNIST's borders: conv, then winograd4, then ReLU. */
static void test_exact_kinks_moved_off(void)
{
    ot_dataset_t half;
    CU_ASSERT_FATAL(ot_test_dataset(&half, NS, 8, 8, CLASSES, 23) == 0);
    for (size_t i = 0; i < NS * 64; i++)
        if (i % 8 >= 4)
            half.images[i] = 0;
    ot_net_t net;
    ot_engine_t e;
    build_layers(&net, &e, "model.layers=conv 3 3x3 pad 1, relu, conv 4 3x3 pad 1 winograd4, "
                           "relu, affine 5");
    float *before = malloc(net.n_params * sizeof(float));
    CU_ASSERT_FATAL(before != NULL);
    memcpy(before, net.params, net.n_params * sizeof(float));
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 6;
    o.max_entries = 0;
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &half, &o, NULL, rows, NULL), 1);
    for (size_t t = 0; t < net.n_tensors; t++)
        if (!rows[t].pass)
            printf("\n  %s: max rel err %.3g\n", rows[t].tensor->name, rows[t].max_rel_err);
    CU_ASSERT(memcmp(before, net.params, net.n_params * sizeof(float)) == 0); /* put back */
    free(before);
    ot_engine_free(&e);
    ot_net_free(&net);
    ot_dataset_free(&half);
}

/* A subset of entries is drawn without replacement: "checked m" means m different entries.
 * Only feature 0 of the samples is nonzero and only affine1's units 0 and 1 live (the others'
 * bias is -100), so affine1/W has exactly two entries with a nonzero gradient, W[0][0] and
 * W[0][1], and with affine1's gradient flipped they are the only two that fail. 319 distinct
 * entries of its 320 leave out one, so one of the two is checked and the tensor fails under
 * every seed; drawn with replacement (until 2026-12) 319 draws missed both for about 1 seed in
 * 7 (for 9 of seeds 1..40), and the tensor passed there. The draw is the seed's: twice the
 * same seed gives the same row. As many entries as the tensor has or more check each once. */
static void test_entries_distinct(void)
{
    ot_dataset_t one;
    CU_ASSERT_FATAL(ot_test_dataset(&one, NS, 4, 5, CLASSES, 24) == 0);
    for (size_t i = 0; i < NS * 20; i++)
        one.images[i] = i % 20 ? 0 : (uint8_t)(128 + i % 97);
    one.nonzero = ot_nonzero_fraction(one.images, NS * 20);
    ot_net_t net;
    ot_engine_t e;
    build(&net, &e, 2);
    const ot_tensor_t *W1 = ot_net_tensor(&net, "affine1/W"), *b1 = ot_net_tensor(&net, "affine1/b");
    CU_ASSERT_FATAL(W1 != NULL && b1 != NULL && W1 == &net.tensors[0] && W1->size == 320);
    for (size_t j = 0; j < b1->size; j++)
        net.params[b1->off + j] = j < 2 ? 1.0f : -100.0f;
    const unsigned char check[6] = {1, 0, 0, 0, 0, 0}; /* affine1/W alone */
    ot_gradcheck_row_t rows[6], again[6];
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 6;
    o.max_entries = W1->size - 1;
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &one, &o, check, rows, NULL), 1); /* correct: passes */
    CU_ASSERT_EQUAL(rows[0].checked, 319);
    size_t nonzero = 0; /* W (20, 16): W[0][0] and W[0][1] are entries 0 and 1 */
    for (size_t i = 0; i < W1->size; i++)
        nonzero += e.grad[W1->off + i] != 0.0f;
    CU_ASSERT(nonzero == 2 && e.grad[W1->off] != 0.0f && e.grad[W1->off + 1] != 0.0f);
    CU_ASSERT_EQUAL(ot_engine_set_fault(&e, "affine1", OT_FAULT_PARAMS), OT_OK);
    int caught = 0;
    for (uint64_t seed = 1; seed <= 40; seed++) {
        o.seed = seed;
        caught += ot_gradcheck(&e, &one, &o, check, rows, NULL) == 0 && !rows[0].pass &&
                  rows[0].max_rel_err > 0.5;
    }
    CU_ASSERT_EQUAL(caught, 40);
    o.seed = 7;
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &one, &o, check, rows, NULL), 0);
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &one, &o, check, again, NULL), 0);
    CU_ASSERT(rows[0].mean_abs_diff == again[0].mean_abs_diff &&
              rows[0].max_rel_err == again[0].max_rel_err);
    o.max_entries = W1->size + 5;
    CU_ASSERT_EQUAL(ot_gradcheck(&e, &one, &o, check, rows, NULL), 0);
    CU_ASSERT_EQUAL(rows[0].checked, W1->size);
    ot_engine_free(&e);
    ot_net_free(&net);
    ot_dataset_free(&one);
}

/* The threads share the entries of a tensor: the same rows, bit for bit, at 1, 2, 3 and 5
 * threads (more threads than this machine's cores too), on a CNN with batch norm, with all
 * the entries of the smaller tensors and 9 of the larger ones. */
static void test_same_rows_any_threads(void)
{
    ot_net_t net;
    ot_engine_t e;
    build_layers(&net, &e, "model.layers=conv 3 3x3 pad 1, batchnorm, relu, maxpool 2, "
                           "conv 4 3x3, relu, affine 5");
    ot_gradcheck_opts_t o;
    ot_gradcheck_defaults(&o);
    o.samples = 6;
    o.max_entries = 9;
    const int threads[] = {1, 2, 3, 5}, was = omp_get_max_threads();
    ot_gradcheck_row_t rows[4][OT_MAX_TENSORS];
    for (int k = 0; k < 4; k++) {
        omp_set_num_threads(threads[k]);
        CU_ASSERT_EQUAL(ot_gradcheck(&e, &cnn_ds, &o, NULL, rows[k], NULL), 1);
        for (size_t t = 0; t < net.n_tensors; t++) {
            CU_ASSERT_EQUAL(rows[k][t].checked, rows[0][t].checked);
            CU_ASSERT(memcmp(&rows[k][t].mean_abs_diff, &rows[0][t].mean_abs_diff,
                             sizeof(double)) == 0);
            CU_ASSERT(memcmp(&rows[k][t].max_rel_err, &rows[0][t].max_rel_err,
                             sizeof(double)) == 0);
        }
    }
    omp_set_num_threads(was);
    ot_engine_free(&e);
    ot_net_free(&net);
}

static void test_fault_needs_a_layer(void)
{
    ot_net_t net;
    ot_engine_t e;
    build_cnn(&net, &e);
    CU_ASSERT_EQUAL(ot_engine_set_fault(&e, "conv9", OT_FAULT_DX), OT_EINVAL);
    CU_ASSERT_EQUAL(e.fault_layer, -1);
    ot_engine_free(&e);
    ot_net_free(&net);
}

OT_TEST_SUITE(gradcheck, setup, teardown,
              {"a flipped conv dW fails, naming conv2", test_flipped_conv_dw_fails_naming_it},
              {"a flipped conv dx fails upstream (conv1)", test_flipped_conv_dx_fails_upstream},
              {"a flipped max-pool routing fails upstream (conv1)",
               test_flipped_pool_routing_fails_upstream},
              {"a fault needs a layer of that name", test_fault_needs_a_layer},
              {"the threads share the entries: the same rows at 1, 2, 3, 5 threads",
               test_same_rows_any_threads},
              {"--entries below a tensor's size: distinct entries, the seed's",
               test_entries_distinct},
              {"exact kinks at zero biases: moved off for the check, then put back",
               test_exact_kinks_moved_off},
              {"batch norm and dropout pass; a flipped batch norm fails", test_batchnorm_dropout_network},
              {"a correct network passes with margin", test_correct_network_passes},
              {"results told as they are known, entries counted", test_results_told_as_known},
              {"a gradient of 0, numerical and backprop alike, passes and says so",
               test_zero_gradient_passes_marked},
              {"a sign-flipped Affine backward fails, naming it", test_flipped_affine_fails_naming_it},
              {"a sign-flipped Sigmoid backward fails upstream", test_flipped_activation_fails_upstream})
