/* test_engine.c - the data-parallel step: the sharded gradient equals the one-shard gradient at
 * 1, 2, 3 and 7 threads (batches the thread count does not divide, more shards than rows); with
 * a fixed shard count the result is bit-identical at any thread count; the full-network
 * gradient matches central differences; fused element-wise layers and max pooling run inside
 * the convolution before it change no bit; the update run inside the step changes no bit
 * either, nor does the way parameter lines pass between cores; the phase timers add up to no
 * more than the steps took. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_engine.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_optim.h"
#include "ot_rng.h"
#include "ot_test.h"

enum { NS = 64, DIM = 12, CLASSES = 4 };

static ot_dataset_t ds;
static uint32_t idx[NS];

static int setup(void)
{
    ot_gemm_init();
    for (size_t i = 0; i < NS; i++)
        idx[i] = (uint32_t)((i * 37) % NS); /* a permutation: 37 is coprime with 64 */
    return ot_test_dataset(&ds, NS, 3, 4, CLASSES, 11);
}

static int teardown(void)
{
    ot_dataset_free(&ds);
    return 0;
}

/* 12-16-8-4 with a ReLU and a Sigmoid hidden layer, He init. */
static void make_config(ot_config_t *c)
{
    ot_config_defaults(c);
    c->n_layers = 3;
    c->sizes[0] = DIM;
    c->sizes[1] = 16;
    c->sizes[2] = 8;
    c->sizes[3] = CLASSES;
    c->act[0] = OT_ACT_RELU;
    c->act[1] = OT_ACT_SIGMOID;
    c->init = OT_INIT_HE;
    c->n_classes = CLASSES;
}

/* The net of config c, its parameters drawn from seed 3. */
static void make_net_of(ot_net_t *net, const ot_config_t *c)
{
    CU_ASSERT_FATAL(ot_net_init(net, c, NULL) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 3);
    ot_net_init_params(net, c, &r);
}

static void make_net(ot_net_t *net)
{
    ot_config_t c;
    make_config(&c);
    make_net_of(net, &c);
}

/* Mean gradient and summed loss of rows idx[0..n) with `shards` shards on `threads` threads. */
static double gradient(ot_net_t *net, size_t n, size_t shards, int threads, float *g)
{
    ot_engine_t e;
    CU_ASSERT_FATAL(ot_engine_init(&e, net, NS, shards) == OT_OK);
    omp_set_num_threads(threads);
    ot_batch_result_t r = ot_engine_gradient(&e, &ds, idx, n);
    memcpy(g, e.grad, net->n_params * sizeof(float));
    ot_engine_free(&e);
    return r.loss;
}

static void test_sharded_equals_single(void)
{
    ot_net_t net;
    make_net(&net);
    float *ref = malloc(net.n_params * sizeof(float)), *g = malloc(net.n_params * sizeof(float));
    CU_ASSERT_FATAL(ref && g);
    const size_t sizes[] = {NS, 13, 5}; /* 13 and 5: not divisible; 5 rows < 7 threads */
    const int threads[] = {1, 2, 3, 7};
    for (size_t k = 0; k < 3; k++) {
        size_t n = sizes[k];
        double lref = gradient(&net, n, 1, 1, ref);
        double gmax = 0;
        for (size_t i = 0; i < net.n_params; i++)
            gmax = fmax(gmax, fabs(ref[i]));
        CU_ASSERT(gmax > 1e-3);
        for (size_t j = 0; j < 4; j++) {
            /* one shard per thread: the design's per-thread slices */
            double l = gradient(&net, n, (size_t)threads[j], threads[j], g);
            CU_ASSERT_DOUBLE_EQUAL(l, lref, 1e-4 * fabs(lref));
            double worst = 0;
            for (size_t i = 0; i < net.n_params; i++)
                worst = fmax(worst, fabs(g[i] - ref[i]));
            CU_ASSERT(worst < 1e-5 * gmax + 1e-7);
        }
    }
    free(ref);
    free(g);
    ot_net_free(&net);
}

static void test_fixed_shards_bit_identical(void)
{
    ot_net_t net;
    make_net(&net);
    float *ref = malloc(net.n_params * sizeof(float)), *g = malloc(net.n_params * sizeof(float));
    CU_ASSERT_FATAL(ref && g);
    const int threads[] = {2, 3, 4, 7, 16};
    for (size_t n = 1; n <= NS; n += 21) { /* 1, 22, 43, 64 rows over 16 shards */
        double lref = gradient(&net, n, 16, 1, ref);
        for (size_t j = 0; j < 5; j++) {
            double l = gradient(&net, n, 16, threads[j], g);
            CU_ASSERT(l == lref);
            CU_ASSERT(memcmp(g, ref, net.n_params * sizeof(float)) == 0);
        }
    }
    free(ref);
    free(g);
    ot_net_free(&net);
}

/* Mostly-zero images take the sparse first layer (ds.nonzero < ot_kgemm_sparse_below()):
 * still bit-identical at any thread count, and the same bits as the dense path on the same
 * images (leaving out a zero term of an FMA chain changes nothing). */
static void test_sparse_input(void)
{
    ot_net_t net;
    make_net(&net);
    const size_t P = net.n_params, bytes = NS * ds.dim;
    float *ref = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    uint8_t *keep = malloc(bytes);
    CU_ASSERT_FATAL(ref && g && keep);
    memcpy(keep, ds.images, bytes);
    ot_rng_t r;
    ot_rng_seed(&r, 12);
    for (size_t i = 0; i < bytes; i++)
        if (ot_rng_uniform(&r) < 0.8)
            ds.images[i] = 0;
    ds.nonzero = ot_nonzero_fraction(ds.images, bytes);
    CU_ASSERT(ds.nonzero < ot_kgemm_sparse_below());
    const int threads[] = {2, 3, 7, 16};
    for (size_t n = 5; n <= NS; n += 59) { /* 5 and 64 rows over 16 shards */
        /* the images scanned by the gather, and listed once (as ot_dataset_load does) */
        double lscan = gradient(&net, n, 16, 3, g);
        CU_ASSERT_FATAL(ot_dataset_index(&ds) == OT_OK);
        double lref = gradient(&net, n, 16, 1, ref);
        CU_ASSERT(lscan == lref);
        CU_ASSERT(memcmp(g, ref, P * sizeof(float)) == 0);
        for (size_t j = 0; j < 4; j++) {
            double l = gradient(&net, n, 16, threads[j], g);
            CU_ASSERT(l == lref);
            CU_ASSERT(memcmp(g, ref, P * sizeof(float)) == 0);
        }
        ds.nonzero = 1.0f; /* the dense path on the same images */
        double ld = gradient(&net, n, 16, 2, g);
        ds.nonzero = ot_nonzero_fraction(ds.images, bytes);
        CU_ASSERT(ld == lref);
        CU_ASSERT(memcmp(g, ref, P * sizeof(float)) == 0);
        free(ds.nz_off), free(ds.nz_pix), free(ds.nz_val);
        ds.nz_off = NULL, ds.nz_pix = NULL, ds.nz_val = NULL;
    }
    memcpy(ds.images, keep, bytes);
    ds.nonzero = ot_nonzero_fraction(ds.images, bytes);
    free(keep);
    free(ref);
    free(g);
    ot_net_free(&net);
}

/* A first layer wider than ot_kspmm's column block (200 > 128 units): the sparse forward reads
 * W from its column blocks (ot_kpack_sp, packed by every thread's rows), the same bits as the
 * dense path, at 1, 3 and 7 threads. */
static void test_sparse_wide_layer(void)
{
    ot_config_t c;
    make_config(&c);
    c.sizes[1] = 200;
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, NULL) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 5);
    ot_net_init_params(&net, &c, &r);
    CU_ASSERT_FATAL(c.sizes[1] > ot_kspmm_cols());
    const size_t P = net.n_params, bytes = NS * ds.dim;
    float *ref = malloc(P * sizeof(float)), *g = malloc(P * sizeof(float));
    uint8_t *keep = malloc(bytes);
    CU_ASSERT_FATAL(ref && g && keep);
    memcpy(keep, ds.images, bytes);
    for (size_t i = 0; i < bytes; i++)
        if (ot_rng_uniform(&r) < 0.8)
            ds.images[i] = 0;
    const float sparse = ot_nonzero_fraction(ds.images, bytes);
    CU_ASSERT(sparse < ot_kgemm_sparse_below());
    ds.nonzero = 1.0f; /* the dense path */
    double lref = gradient(&net, NS, 4, 2, ref);
    ds.nonzero = sparse;
    const int threads[] = {1, 3, 7};
    for (size_t j = 0; j < 3; j++) {
        double l = gradient(&net, NS, 4, threads[j], g);
        CU_ASSERT(l == lref);
        CU_ASSERT(memcmp(g, ref, P * sizeof(float)) == 0);
    }
    memcpy(ds.images, keep, bytes);
    ds.nonzero = ot_nonzero_fraction(ds.images, bytes);
    free(keep), free(ref), free(g);
    ot_net_free(&net);
}

static void test_network_numerical_gradient(void)
{
    ot_net_t net;
    make_net(&net);
    ot_engine_t e, probe;
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, NS, 3) == OT_OK);
    CU_ASSERT_FATAL(ot_engine_init(&probe, &net, NS, 1) == OT_OK);
    omp_set_num_threads(2);
    const size_t n = 10;
    ot_engine_gradient(&e, &ds, idx, n);
    /* a sample of entries from every tensor, against the central difference of the mean loss */
    double worst = 0, gmax = 0;
    for (size_t t = 0; t < net.n_tensors; t++) {
        const ot_tensor_t *T = &net.tensors[t];
        for (size_t i = 0; i < T->size; i += 1 + T->size / 6) {
            float *p = net.params + T->off + i, keep = *p, h = 1e-2f;
            *p = keep + h;
            double up = ot_engine_gradient(&probe, &ds, idx, n).loss;
            *p = keep - h;
            double down = ot_engine_gradient(&probe, &ds, idx, n).loss;
            *p = keep;
            double num = (up - down) / (2.0 * h * (double)n);
            double an = e.grad[T->off + i];
            worst = fmax(worst, fabs(num - an) / fmax(1e-2, fabs(num) + fabs(an)));
            gmax = fmax(gmax, fabs(an));
        }
    }
    CU_ASSERT(gmax > 1e-3);
    CU_ASSERT(worst < 5e-3);
    ot_engine_free(&probe);
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* Batch norm after both hidden Affines and dropout after both activations: the batch
 * statistics span all shards, so outputs, loss, gradient and running statistics are the same
 * bits at any thread count, more threads than shards included (threads then share a shard),
 * and equal (to float tolerance) to a one-shard run, itself the same bits at any thread count. */
static void test_batchnorm_dropout_across_threads(void)
{
    ot_config_t c;
    make_config(&c);
    c.batchnorm = 1;
    c.dropout = 0.25;
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, NULL) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 3);
    ot_net_init_params(&net, &c, &r);
    /* affine bn relu dropout affine bn sigmoid dropout affine softmax_loss */
    CU_ASSERT_EQUAL(net.n_layers, 10);
    CU_ASSERT_EQUAL(net.n_state, 2 * 16 + 2 * 16); /* running mean and variance, aligned */
    const size_t SB = net.n_state * sizeof(float), PB = net.n_params * sizeof(float);
    float *ref = malloc(PB), *state = malloc(SB), *sref = malloc(SB), *ref1 = malloc(PB);
    CU_ASSERT_FATAL(ref && state && sref && ref1);
    memcpy(state, net.state, SB);
    const size_t n = 45;
    double lref = 0, lref1 = 0;
    const int threads[] = {1, 2, 3, 7, 8, 13, 16};
    const size_t shard_counts[] = {6, 1};
    for (size_t k = 0; k < 2; k++)
        for (size_t j = 0; j < sizeof threads / sizeof threads[0]; j++) {
            memcpy(net.state, state, SB); /* same running stats */
            ot_engine_t e;
            CU_ASSERT_FATAL(ot_engine_init(&e, &net, NS, shard_counts[k]) == OT_OK);
            e.seed = 9;
            e.step = 4;
            omp_set_num_threads(threads[j]);
            double l = ot_engine_gradient(&e, &ds, idx, n).loss;
            if (k == 1 && j == 0) {
                lref1 = l;
                memcpy(ref1, e.grad, PB);
            } else if (k == 1) {
                CU_ASSERT(l == lref1);
                CU_ASSERT(memcmp(e.grad, ref1, PB) == 0);
            } else if (j == 0) {
                lref = l;
                memcpy(ref, e.grad, PB);
                memcpy(sref, net.state, SB);
            } else {
                CU_ASSERT(l == lref);
                CU_ASSERT(memcmp(e.grad, ref, PB) == 0);
                CU_ASSERT(memcmp(net.state, sref, SB) == 0);
            }
            ot_engine_free(&e);
        }
    free(sref);
    free(ref1);
    /* one shard: the same batch statistics summed in another order */
    ot_engine_t one;
    CU_ASSERT_FATAL(ot_engine_init(&one, &net, NS, 1) == OT_OK);
    one.seed = 9;
    one.step = 4;
    double l1 = ot_engine_gradient(&one, &ds, idx, n).loss;
    CU_ASSERT_DOUBLE_EQUAL(l1, lref, 1e-5 * fabs(lref));
    double worst = 0, gmax = 0;
    for (size_t i = 0; i < net.n_params; i++) {
        worst = fmax(worst, fabs(one.grad[i] - ref[i]));
        gmax = fmax(gmax, fabs(ref[i]));
    }
    CU_ASSERT(gmax > 1e-3);
    CU_ASSERT(worst < 1e-4 * gmax);
    /* the running statistics moved; evaluation uses them and drops nothing */
    CU_ASSERT(memcmp(net.state, state, net.n_state * sizeof(float)) != 0);
    ot_batch_result_t ev = ot_engine_evaluate(&one, &ds, 0, NULL);
    CU_ASSERT(isfinite(ev.loss) && ev.loss > 0);
    ot_engine_free(&one);
    free(ref);
    free(state);
    ot_net_free(&net);
}

/* ot_engine_predict: probabilities that sum to 1, their arg-max, the loss and hits of
 * ot_engine_evaluate, the same bits at 1, 2, 3, 5, 9 and 16 threads on 4 shards (each thread
 * copies its rows; from 5 threads on, threads share shards). */
static void test_predict(void)
{
    ot_net_t net;
    ot_engine_t e;
    make_net(&net);
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, 10, 4) == OT_OK); /* chunks of 10 rows of 64 */
    enum { RUNS = 6 };
    static const int team[RUNS] = {1, 2, 3, 5, 9, 16};
    static float p[RUNS][NS * CLASSES];
    static int32_t cls[RUNS][NS];
    uint64_t confusion[CLASSES * CLASSES] = {0};
    ot_batch_result_t ev = ot_engine_evaluate(&e, &ds, 0, confusion);
    const int was = omp_get_max_threads();
    for (int t = 0; t < RUNS; t++) {
        omp_set_num_threads(team[t]);
        memset(p[t], 0xff, sizeof p[t]);
        ot_batch_result_t r = ot_engine_predict(&e, &ds, p[t], cls[t], NULL);
        CU_ASSERT_EQUAL(r.correct, ev.correct);
        CU_ASSERT_EQUAL(memcmp(&r.loss, &ev.loss, sizeof r.loss), 0);
        CU_ASSERT_EQUAL(memcmp(p[t], p[0], sizeof p[0]), 0);
        CU_ASSERT_EQUAL(memcmp(cls[t], cls[0], sizeof cls[0]), 0);
    }
    omp_set_num_threads(was);
    size_t diag = 0, bad = 0;
    for (size_t i = 0; i < NS; i++) {
        double sum = 0.0;
        size_t arg = 0;
        for (size_t j = 0; j < CLASSES; j++) {
            sum += p[0][i * CLASSES + j];
            if (p[0][i * CLASSES + j] > p[0][i * CLASSES + arg])
                arg = j;
        }
        bad += fabs(sum - 1.0) > 1e-5 || (int32_t)arg != cls[0][i];
        diag += cls[0][i] == (int32_t)ds.labels[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    size_t trace = 0;
    for (size_t j = 0; j < CLASSES; j++)
        trace += confusion[j * CLASSES + j];
    CU_ASSERT_EQUAL(diag, trace); /* eval's confusion matrix counts the same arg-max */
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* What the progress sink (a terminal, set by main) received while f ran with a delay of
 * after seconds: into buf (n bytes). */
static void progress_of(void (*f)(ot_engine_t *), ot_engine_t *e, double after, char *buf,
                        size_t n)
{
    FILE *bar = tmpfile();
    CU_ASSERT_PTR_NOT_NULL_FATAL(bar);
    ot_progress_set(bar, after);
    f(e);
    ot_progress_set(NULL, 0.0);
    rewind(bar);
    buf[fread(buf, 1, n - 1, bar)] = '\0';
    fclose(bar);
}

static void eval_all(ot_engine_t *e)
{
    ot_engine_evaluate(e, &ds, 0, NULL);
}

static void predict_all(ot_engine_t *e)
{
    static float p[NS * CLASSES];
    ot_engine_predict(e, &ds, p, NULL, NULL);
}

/* Evaluation and prediction count their samples on a line of the progress sink once they
 * take longer than its delay (here at once), erased at the end; none before the delay. */
static void test_eval_progress(void)
{
    ot_net_t net;
    ot_engine_t e;
    char got[4096];
    make_net(&net);
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, 10, 4) == OT_OK); /* 64 samples: 7 chunks */
    progress_of(predict_all, &e, 0.0, got, sizeof got);
    /* the first chunk's line (later ones within 0.1 s are not drawn), then erased */
    const char *first = "\r  predicting: 10 of 64 samples (16%)\033[K";
    CU_ASSERT_NSTRING_EQUAL(got, first, strlen(first));
    CU_ASSERT(strlen(got) >= 4 && strcmp(got + strlen(got) - 4, "\r\033[K") == 0);
    progress_of(eval_all, &e, 0.0, got, sizeof got);
    CU_ASSERT_NSTRING_EQUAL(got, "\r  evaluating: 10 of 64 samples (16%)\033[K", 40);
    progress_of(eval_all, &e, 1e9, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, "");
    ot_engine_free(&e);
    ot_net_free(&net);
}

/* The gradient, loss and probabilities of net with layer fusion on (fuse) or off (OT_FUSE=0),
 * `shards` shards on `threads` threads; layer 1 must be fused into layer 0 exactly when on. */
static double run_sparse_ok(const ot_dataset_t *d, ot_net_t *net, int fuse, int sparse_ok,
                            size_t shards, int threads, float *g, float *probs)
{
    if (fuse)
        unsetenv("OT_FUSE");
    else
        setenv("OT_FUSE", "0", 1);
    ot_engine_t e;
    CU_ASSERT_FATAL(ot_engine_init(&e, net, NS, shards) == OT_OK);
    unsetenv("OT_FUSE");
    e.sparse_ok = sparse_ok;
    CU_ASSERT((e.act[1] == e.act[0]) == fuse);
    omp_set_num_threads(threads);
    double l = ot_engine_gradient(&e, d, idx, 45).loss;
    memcpy(g, e.grad, net->n_params * sizeof(float));
    ot_engine_predict(&e, d, probs, NULL, NULL);
    ot_engine_free(&e);
    return l;
}

static double fused_run_on(const ot_dataset_t *d, ot_net_t *net, int fuse, size_t shards,
                           int threads, float *g, float *probs)
{
    return run_sparse_ok(d, net, fuse, 1, shards, threads, g, probs);
}

static double fused_run(ot_net_t *net, int fuse, size_t shards, int threads, float *g,
                        float *probs)
{
    return fused_run_on(&ds, net, fuse, shards, threads, g, probs);
}

/* The update inside the step (ot_step_hook_t) against the step's gradient then
 * ot_optim_step: the same parameters and optimizer state, bit for bit, after three steps of
 * adam with weight decay, at 1, 2, 3 and 7 threads on 4 shards (7: threads share them). A
 * hook whose ok says no leaves the parameters alone and applied 0. */
typedef struct {
    ot_optim_t *o;
    float *params;
    int yes;
} hook_arg_t;

static int hook_ok(void *arg, double loss, size_t n)
{
    (void)loss, (void)n;
    return ((hook_arg_t *)arg)->yes;
}

static void hook_span(void *arg, float *grad, size_t lo, size_t hi, int shared)
{
    hook_arg_t *h = arg;
    ot_optim_span(h->o, h->params, grad, lo, hi, 0.01, shared);
}

/* Steps at 3 threads with room for the phases of 2: both threads' forward and backward take
 * time, no phase is negative, each thread's phases add up to no more than the calls took, and
 * the third thread writes nothing (ASan would see it past the room). */
static void test_phase_times(void)
{
    ot_net_t net;
    make_net(&net);
    ot_engine_t e;
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, NS, 4) == OT_OK);
    double *ph = ot_alloc(2 * OT_PHASE_STRIDE * sizeof *ph);
    CU_ASSERT_FATAL(ph != NULL);
    e.phase_s = ph;
    e.phase_threads = 2;
    omp_set_num_threads(3);
    const double t0 = ot_now();
    for (int step = 0; step < 5; step++)
        ot_engine_gradient(&e, &ds, idx, NS);
    const double wall = ot_now() - t0;
    for (int t = 0; t < 2; t++) {
        double sum = 0.0;
        for (int k = 0; k < OT_PHASES; k++) {
            CU_ASSERT(ph[t * OT_PHASE_STRIDE + k] >= 0.0);
            sum += ph[t * OT_PHASE_STRIDE + k];
        }
        CU_ASSERT(ph[t * OT_PHASE_STRIDE + OT_PHASE_FORWARD] > 0.0);
        CU_ASSERT(ph[t * OT_PHASE_STRIDE + OT_PHASE_BACKWARD] > 0.0);
        CU_ASSERT(sum > 0.0 && sum <= wall);
    }
    for (int k = 0; k < OT_PHASES; k++)
        for (int j = 0; j < k; j++)
            CU_ASSERT(strcmp(ot_phase_name[j], ot_phase_name[k]) != 0);
    ot_free(ph);
    ot_engine_free(&e);
    ot_net_free(&net);
}

static void test_update_in_step(void)
{
    ot_config_t c;
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "training.optimizer=adam") == OT_OK);
    c.weight_decay = 0.001;
    const int threads[] = {1, 2, 3, 7};
    for (size_t k = 0; k < sizeof threads / sizeof *threads; k++) {
        ot_net_t a, b;
        make_net(&a);
        make_net(&b);
        ot_optim_t oa, ob;
        ot_engine_t ea, eb;
        CU_ASSERT_FATAL(ot_optim_init(&oa, &c, &a) == OT_OK && ot_optim_init(&ob, &c, &b) == OT_OK);
        CU_ASSERT_FATAL(ot_engine_init(&ea, &a, NS, 4) == OT_OK);
        CU_ASSERT_FATAL(ot_engine_init(&eb, &b, NS, 4) == OT_OK);
        omp_set_num_threads(threads[k]);
        hook_arg_t h = {&ob, b.params, 1};
        eb.hook = (ot_step_hook_t){hook_ok, hook_span, &h};
        for (int step = 0; step < 3; step++) {
            const uint32_t *rows = idx + (size_t)step * 16;
            double la = ot_engine_gradient(&ea, &ds, rows, 16).loss;
            CU_ASSERT_EQUAL(ea.applied, 0); /* no hook */
            ot_optim_step(&oa, a.params, ea.grad, 0.01);
            double lb = ot_engine_gradient(&eb, &ds, rows, 16).loss;
            CU_ASSERT_EQUAL(eb.applied, 1);
            ot_optim_commit(&ob);
            CU_ASSERT_EQUAL(la, lb);
        }
        CU_ASSERT(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
        CU_ASSERT(memcmp(oa.m, ob.m, a.n_params * sizeof(float)) == 0);
        CU_ASSERT(memcmp(oa.v, ob.v, a.n_params * sizeof(float)) == 0);
        h.yes = 0; /* a step not to apply */
        memcpy(a.params, b.params, a.n_params * sizeof(float));
        ot_engine_gradient(&eb, &ds, idx, 16);
        CU_ASSERT_EQUAL(eb.applied, 0);
        CU_ASSERT(memcmp(a.params, b.params, a.n_params * sizeof(float)) == 0);
        ot_engine_free(&ea);
        ot_engine_free(&eb);
        ot_optim_free(&oa);
        ot_optim_free(&ob);
        ot_net_free(&a);
        ot_net_free(&b);
    }
}

/* One run of test_xfer_same_bits below: wide, at threads threads. */
static void xfer_same_bits(int wide, int threads)
{
    ot_config_t c;
    make_config(&c);
    if (wide) /* 141k parameters: parts of 280 KB at 2 threads, past OT_CACHED_PART_BYTES */
        c.sizes[1] = 6700;
    CU_ASSERT_FATAL(ot_config_set(&c, "training.optimizer=momentum") == OT_OK);
    enum { WAYS = 4, SWITCHED = 3 }; /* ways[SWITCHED]: set before each step */
    const uint64_t steps = wide ? 20 : 40; /* (valgrind runs this suite: the wide net costs) */
    const ot_xfer_t ways[WAYS] = {OT_XFER_PLAIN, OT_XFER_KEEP, OT_XFER_AUTO, OT_XFER_PLAIN};
    ot_net_t net[WAYS];
    ot_optim_t o[WAYS];
    ot_engine_t e[WAYS];
    hook_arg_t h[WAYS];
    omp_set_num_threads(threads);
    for (int w = 0; w < WAYS; w++) {
        make_net_of(&net[w], &c);
        CU_ASSERT_FATAL(ot_optim_init(&o[w], &c, &net[w]) == OT_OK);
        CU_ASSERT_FATAL(ot_engine_init(&e[w], &net[w], NS, 4) == OT_OK);
        e[w].xfer = ways[w];
        h[w] = (hook_arg_t){&o[w], net[w].params, 1};
        e[w].hook = (ot_step_hook_t){hook_ok, hook_span, &h[w]};
        for (uint64_t step = 0; step < steps; step++) {
            if (w == SWITCHED)
                e[w].xfer = step / 5 % 2 ? OT_XFER_KEEP : OT_XFER_PLAIN;
            ot_engine_gradient(&e[w], &ds, idx + (size_t)(step % 4) * 16, 16);
            CU_ASSERT_EQUAL(e[w].applied, 1);
            ot_optim_commit(&o[w]);
        }
    }
    const size_t bytes = net[0].n_params * sizeof(float);
    for (int w = 1; w < WAYS; w++) {
        CU_ASSERT(memcmp(net[0].params, net[w].params, bytes) == 0);
        CU_ASSERT(memcmp(o[0].m, o[w].m, bytes) == 0);
    }
    CU_ASSERT(e[0].xfer_steps[0] == steps && e[0].xfer_steps[1] == 0);
    CU_ASSERT(e[1].xfer_steps[0] == 0 && e[1].xfer_steps[1] == steps);
    CU_ASSERT(e[2].xfer_steps[0] > 0 && e[2].xfer_steps[1] > 0);
    CU_ASSERT_EQUAL(e[2].xfer_steps[0] + e[2].xfer_steps[1], steps);
    CU_ASSERT(e[SWITCHED].xfer_steps[0] == steps / 2 && e[SWITCHED].xfer_steps[1] == steps / 2);
    CU_ASSERT_EQUAL(ot_param_part_cached(net[0].n_params, (size_t)threads), !wide);
    for (int w = 0; w < WAYS; w++) {
        ot_engine_free(&e[w]);
        ot_optim_free(&o[w]);
        ot_net_free(&net[w]);
    }
}

/* The ways of handing lines between cores (ot_xfer_t) give the same bits: 40 steps with the
 * update inside the step (momentum) at 2 and 3 threads, as they fall, kept out of the shared
 * state, chosen by timing (whose first trial runs the other way), and switched from one to the
 * other every 5 steps, so that each way follows the other several times. That on a net whose
 * threads' parts of the parameters stay in their caches (the packs, the tree and the update
 * change their stores); then 20 steps at 2 threads of one too wide for that (the packs
 * alone). */
static void test_xfer_same_bits(void)
{
    for (int threads = 2; threads <= 3; threads++)
        xfer_same_bits(0, threads);
    xfer_same_bits(1, 2);
}

/* OT_XFER_AUTO's choice, fed step times: it tries the other way for a few steps every 256 and
 * goes over when that way's median is lower (the first time within 32 steps of the start),
 * comes back when the costs turn, and one step that lost its core (100 times the others) does
 * not move it. */
static void test_xfer_auto_choice(void)
{
    ot_engine_t e;
    memset(&e, 0, sizeof e);
    e.xfer = OT_XFER_AUTO;
    int tried = 0;
    for (int step = 0; step < 600; step++) { /* kept steps take 1 ms, plain ones 2 */
        const int keep = ot_engine_xfer_keep(&e);
        tried |= keep && step < 256;
        ot_engine_xfer_note(&e, keep ? 1e-3 : 2e-3);
        if (step == 31) /* the first trial, then 16 plain steps: decided */
            CU_ASSERT_EQUAL(e.xfer_auto.keep, 1);
        if (step == 30) /* not before */
            CU_ASSERT_EQUAL(e.xfer_auto.keep, 0);
    }
    CU_ASSERT(tried);
    CU_ASSERT(ot_engine_xfer_keep(&e) == 1 || e.xfer_auto.k % 256 < 16);
    CU_ASSERT_EQUAL(e.xfer_auto.keep, 1);
    for (int step = 0; step < 600; step++) { /* the costs turn */
        const int keep = ot_engine_xfer_keep(&e);
        ot_engine_xfer_note(&e, keep ? 3e-3 : 2e-3);
    }
    CU_ASSERT_EQUAL(e.xfer_auto.keep, 0);
    int moved = 0;
    for (int step = 0; step < 600; step++) { /* plain stays faster; one slow step before each trial */
        const int keep = ot_engine_xfer_keep(&e);
        const int last = e.xfer_auto.k % 256 == 255;
        ot_engine_xfer_note(&e, last ? 0.2 : keep ? 3e-3 : 2e-3);
        moved |= e.xfer_auto.keep;
    }
    CU_ASSERT_FALSE(moved);
    memset(&e, 0, sizeof e); /* a fresh run where plain is faster stays plain from the start */
    e.xfer = OT_XFER_AUTO;
    for (int step = 0; step < 300; step++) {
        const int keep = ot_engine_xfer_keep(&e);
        ot_engine_xfer_note(&e, keep ? 3e-3 : 2e-3);
        moved |= e.xfer_auto.keep;
    }
    CU_ASSERT_FALSE(moved);
    e.xfer = OT_XFER_KEEP;
    CU_ASSERT_EQUAL(ot_engine_xfer_keep(&e), 1);
    e.xfer = OT_XFER_PLAIN;
    CU_ASSERT_EQUAL(ot_engine_xfer_keep(&e), 0);
}

/* Element-wise layers fused into the layer before them give the same bits as their own passes
 * (OT_FUSE=0): gradient, loss and probabilities, with one shard per thread, several shards a
 * thread, and threads sharing shards (where the engine applies the fused backward), for an
 * MLP (ReLU and Sigmoid after Affines) and a CNN (ReLU after a padded Conv). */
static void test_fused_layers_same_bits(void)
{
    ot_net_t nets[2];
    make_net(&nets[0]);
    ot_config_t c;
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 3 2x3 pad 1, relu, maxpool 2, "
                                      "affine 6, sigmoid, affine 4") == 0);
    CU_ASSERT_FATAL(ot_net_init(&nets[1], &c, &(ot_shape_t){1, 3, 4, 0}) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 4);
    ot_net_init_params(&nets[1], &c, &r);
    const size_t shards[] = {1, 4, 2};
    const int threads[] = {1, 2, 3};
    const int was = omp_get_max_threads();
    for (size_t k = 0; k < 2; k++) {
        const size_t P = nets[k].n_params;
        float *g0 = malloc(P * sizeof(float)), *g1 = malloc(P * sizeof(float));
        float *p0 = malloc(NS * CLASSES * sizeof(float)), *p1 = malloc(NS * CLASSES * sizeof(float));
        CU_ASSERT_FATAL(g0 && g1 && p0 && p1);
        for (size_t j = 0; j < 3; j++) {
            double l0 = fused_run(&nets[k], 0, shards[j], threads[j], g0, p0);
            double l1 = fused_run(&nets[k], 1, shards[j], threads[j], g1, p1);
            CU_ASSERT(l0 == l1);
            CU_ASSERT(memcmp(g0, g1, P * sizeof(float)) == 0);
            CU_ASSERT(memcmp(p0, p1, NS * CLASSES * sizeof(float)) == 0);
        }
        free(g0), free(g1), free(p0), free(p1);
        ot_net_free(&nets[k]);
    }
    omp_set_num_threads(was);
}

/* How a run of check_runs_same_bits goes: fusion on, d's share of nonzero pixels taken as nz,
 * and the engine's sparse_ok (training.sparse_input). */
typedef struct {
    int fuse;
    float nz;
    int sparse_ok;
} run_way_t;

/* Two runs of net on d, each on 1, 4, 2 and 8 shards at 1, 2, 3 and 3 threads (threads
 * sharing shards in the last two), one way a and one way b: the same gradient, loss and
 * probabilities bit for bit. */
static void check_runs_same_bits(ot_dataset_t *d, ot_net_t *net, run_way_t a, run_way_t b)
{
    const size_t P = net->n_params, shards[] = {1, 4, 2, 8};
    const int threads[] = {1, 2, 3, 3}, was = omp_get_max_threads();
    const float nz = d->nonzero;
    float *g0 = malloc(P * sizeof(float)), *g1 = malloc(P * sizeof(float));
    float *p0 = malloc(NS * CLASSES * sizeof(float)), *p1 = malloc(NS * CLASSES * sizeof(float));
    CU_ASSERT_FATAL(g0 && g1 && p0 && p1);
    for (size_t j = 0; j < sizeof shards / sizeof *shards; j++) {
        d->nonzero = a.nz;
        double l0 = run_sparse_ok(d, net, a.fuse, a.sparse_ok, shards[j], threads[j], g0, p0);
        d->nonzero = b.nz;
        double l1 = run_sparse_ok(d, net, b.fuse, b.sparse_ok, shards[j], threads[j], g1, p1);
        CU_ASSERT(l0 == l1);
        CU_ASSERT(memcmp(g0, g1, P * sizeof(float)) == 0);
        CU_ASSERT(memcmp(p0, p1, NS * CLASSES * sizeof(float)) == 0);
    }
    d->nonzero = nz;
    free(g0), free(g1), free(p0), free(p1);
    omp_set_num_threads(was);
}

/* Max pooling run inside the convolution before it (ot_ctx_t.next), with the ReLU or Sigmoid
 * between them folded into its backward, gives the same bits as the layers' own passes
 * (OT_FUSE=0): gradient, loss and probabilities on 34x34 images, for a first convolution (no
 * dx; 2x2 windows that tile the image; blocks of one image, each taken in two blocks of
 * rows), one with dx and a Sigmoid before 3x3 windows at stride 2 that overlap, and one with
 * no element-wise layer before 3x3 windows on 3 channels; on one shard, several shards a
 * thread, and threads sharing shards (where nothing runs inside another). */
static void test_chained_pooling_same_bits(void)
{
    ot_dataset_t big;
    CU_ASSERT_FATAL(ot_test_dataset(&big, NS, 34, 34, CLASSES, 5) == OT_OK);
    ot_config_t c;
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 4 3x3 pad 1, relu, maxpool 2, "
                                      "conv 5 3x3 pad 1, sigmoid, maxpool 3 stride 2, "
                                      "conv 3 2x2 pad 1, maxpool 3, affine 6, relu, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &(ot_shape_t){1, 34, 34, 0}) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 6);
    ot_net_init_params(&net, &c, &r);
    check_runs_same_bits(&big, &net, (run_way_t){0, big.nonzero, 1},
                         (run_way_t){1, big.nonzero, 1});
    ot_net_free(&net);
    ot_dataset_free(&big);
}

/* A first convolution on mostly-zero images takes its weight gradient from the nonzero pixels
 * (ds.nonzero < ot_conv_sparse_below(): 95% zeros, below the threshold of every vector
 * width): the same gradient, loss and probabilities as the dense kernel on the same images,
 * with the pooling inside the convolution and without (OT_FUSE=0), on one shard, several
 * shards a thread, and threads sharing shards (each its part of the taps). */
static void test_sparse_conv_same_bits(void)
{
    ot_dataset_t big;
    CU_ASSERT_FATAL(ot_test_dataset(&big, NS, 28, 28, CLASSES, 7) == OT_OK);
    const size_t bytes = NS * big.dim;
    ot_rng_t r;
    ot_rng_seed(&r, 8);
    for (size_t i = 0; i < bytes; i++)
        if (ot_rng_uniform(&r) < 0.95)
            big.images[i] = 0;
    const float sparse = ot_nonzero_fraction(big.images, bytes);
    CU_ASSERT_FATAL(sparse > 0.0f && sparse < ot_conv_sparse_below());
    ot_config_t c;
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 5 3x3 pad 1, relu, maxpool 2, "
                                      "affine 6, relu, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &(ot_shape_t){1, 28, 28, 0}) == OT_OK);
    ot_rng_seed(&r, 9);
    ot_net_init_params(&net, &c, &r);
    for (int fuse = 0; fuse < 2; fuse++) /* the dense kernel (all pixels "nonzero") first */
        check_runs_same_bits(&big, &net, (run_way_t){fuse, 1.0f, 1},
                             (run_way_t){fuse, sparse, 1});
    ot_net_free(&net);
    ot_dataset_free(&big);
}

/* A first convolution's forward leaves out the windows of zeros (training.sparse_input, and
 * OT_LIVE=1: by default only below 40% nonzero pixels): the same gradient, loss and
 * probabilities as the GEMM over every window, on images blank outside a 16x16 box and half
 * zeros in it, with a bias that is not zero (the zero row's output is the bias), for a 5x5
 * convolution with the pooling inside it and without (OT_FUSE=0), and a 3x3 one with padding
 * and stride 2; the dense weight gradient in both runs (nz 1). */
static void test_live_conv_same_bits(void)
{
    ot_dataset_t big;
    CU_ASSERT_FATAL(ot_test_dataset(&big, NS, 28, 28, CLASSES, 11) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 12);
    for (size_t i = 0; i < NS * big.dim; i++) {
        const size_t y = i % big.dim / 28, x = i % 28;
        if (y < 6 || y >= 22 || x < 6 || x >= 22 || ot_rng_uniform(&r) < 0.5)
            big.images[i] = 0;
    }
    const char *models[] = {"model.layers=conv 5 5x5, relu, maxpool 2, affine 6, relu, affine 4",
                            "model.layers=conv 4 3x3 stride 2 pad 1, sigmoid, affine 6, relu, "
                            "affine 4"};
    for (int k = 0; k < 2; k++) {
        ot_config_t c;
        make_config(&c);
        CU_ASSERT_FATAL(ot_config_set(&c, models[k]) == 0);
        ot_net_t net;
        CU_ASSERT_FATAL(ot_net_init(&net, &c, &(ot_shape_t){1, 28, 28, 0}) == OT_OK);
        ot_rng_seed(&r, 13);
        ot_net_init_params(&net, &c, &r);
        const ot_layer_t *L = &net.layers[0];
        const size_t F = L->out.c;
        for (size_t j = 0; j < F; j++) /* the conv's bias, its last F parameters */
            net.params[L->p_off + L->p_len - F + j] = 0.05f * (float)j - 0.1f;
        setenv("OT_LIVE", "1", 1); /* whatever this build's kernel prefers */
        for (int fuse = 0; fuse < 2; fuse++)
            check_runs_same_bits(&big, &net, (run_way_t){fuse, 1.0f, 0},
                                 (run_way_t){fuse, 1.0f, 1});
        unsetenv("OT_LIVE");
        ot_net_free(&net);
    }
    ot_dataset_free(&big);
}

/* Gradient (mean, into g), loss and probabilities of the first 45 of idx on d, 4 shards, T
 * threads, with the blank values (ot_layer_ops_t.blank) formed or not (OT_BLANK=0). */
static double blank_run(const ot_dataset_t *d, ot_net_t *net, int blank, int T, float *g,
                        float *probs)
{
    if (!blank)
        setenv("OT_BLANK", "0", 1);
    ot_engine_t e;
    CU_ASSERT_FATAL(ot_engine_init(&e, net, NS, 4) == OT_OK);
    unsetenv("OT_BLANK");
    CU_ASSERT((e.n_blank > 0) == blank);
    omp_set_num_threads(T);
    double l = ot_engine_gradient(&e, d, idx, 45).loss;
    memcpy(g, e.grad, net->n_params * sizeof(float));
    ot_engine_predict(&e, d, probs, NULL, NULL);
    ot_engine_free(&e);
    return l;
}

/* What a layer's input holds where the data are zero (ot_layer_ops_t.blank), as the engine
 * forms it for each pass, is what the layers below compute for a blank image, bit for bit;
 * the chain stops at a convolution whose input is not zero there. The Affine that takes it out
 * of its input (x - s, b + s W, zero rows left out) then gives the gradient and probabilities
 * of the plain one (OT_BLANK=0) to rounding, and its own bits at 1, 2 and 3 threads (4
 * shards: threads share none, then share them). */
static void test_blank_values(void)
{
    ot_dataset_t big;
    CU_ASSERT_FATAL(ot_test_dataset(&big, NS, 28, 28, CLASSES, 21) == OT_OK);
    for (size_t i = 0; i < NS * big.dim; i++) { /* image 0 all zero, the rest a 14x14 box */
        const size_t y = i % big.dim / 28, x = i % 28;
        if (i < big.dim || y < 7 || y >= 21 || x < 7 || x >= 21)
            big.images[i] = 0;
    }
    ot_config_t c;
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 5 5x5 pad 1, relu, maxpool 2, "
                                      "affine 6, relu, affine 4") == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &(ot_shape_t){1, 28, 28, 0}) == OT_OK);
    ot_rng_t r;
    ot_rng_seed(&r, 22);
    ot_net_init_params(&net, &c, &r);
    const ot_layer_t *L0 = &net.layers[0], *L3 = &net.layers[3];
    for (size_t j = 0; j < L0->out.c; j++) /* a bias with both signs */
        net.params[L0->p_off + L0->p_len - L0->out.c + j] = 0.05f * (float)j - 0.08f;
    ot_engine_t e;
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, NS, 2) == OT_OK);
    float *probs = malloc(NS * CLASSES * sizeof(float));
    CU_ASSERT_FATAL(probs != NULL);
    ot_engine_predict(&e, &big, probs, NULL, NULL);
    CU_ASSERT_EQUAL(e.blank_ok, 4);
    CU_ASSERT(memcmp(e.act[2], e.blank + e.blank_off[3], L3->in_size * sizeof(float)) == 0);
    size_t nonzero = 0;
    for (size_t i = 0; i < L3->in_size; i++)
        nonzero += e.blank[e.blank_off[3] + i] != 0.0f;
    CU_ASSERT(nonzero > 0 && nonzero < L3->in_size); /* relu of both signs */
    ot_engine_free(&e);

    const size_t P = net.n_params;
    float *g0 = malloc(P * sizeof(float)), *g1 = malloc(P * sizeof(float));
    float *p1 = malloc(NS * CLASSES * sizeof(float)), *gt = malloc(P * sizeof(float));
    float *pt = malloc(NS * CLASSES * sizeof(float));
    CU_ASSERT_FATAL(g0 && g1 && p1 && gt && pt);
    const int was = omp_get_max_threads();
    double l0 = blank_run(&big, &net, 0, 1, g0, probs);
    double l1 = blank_run(&big, &net, 1, 1, g1, p1);
    CU_ASSERT_DOUBLE_EQUAL(l1, l0, 1e-5 * fabs(l0));
    double gmax = 0, worst = 0, pworst = 0;
    for (size_t i = 0; i < P; i++) {
        gmax = fmax(gmax, fabs(g0[i]));
        worst = fmax(worst, fabs(g1[i] - g0[i]));
    }
    for (size_t i = 0; i < NS * CLASSES; i++)
        pworst = fmax(pworst, fabs(p1[i] - probs[i]));
    CU_ASSERT(gmax > 1e-3);
    CU_ASSERT(worst < 1e-5 * gmax);
    CU_ASSERT(pworst < 1e-5);
    for (int T = 2; T <= 3; T++) {
        CU_ASSERT(blank_run(&big, &net, 1, T, gt, pt) == l1);
        CU_ASSERT(memcmp(gt, g1, P * sizeof(float)) == 0);
        CU_ASSERT(memcmp(pt, p1, NS * CLASSES * sizeof(float)) == 0);
    }
    omp_set_num_threads(was);
    free(g0), free(g1), free(p1), free(gt), free(pt), free(probs);
    ot_net_free(&net);

    /* a second convolution sees relu of the first one's bias, not zeros: the chain stops */
    make_config(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 3 3x3 pad 1, relu, conv 2 3x3, relu, "
                                      "maxpool 2, affine 6, relu, affine 4") == 0);
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &(ot_shape_t){1, 28, 28, 0}) == OT_OK);
    ot_net_init_params(&net, &c, &r);
    L0 = &net.layers[0];
    net.params[L0->p_off + L0->p_len - 1] = 0.25f;
    CU_ASSERT_FATAL(ot_engine_init(&e, &net, NS, 2) == OT_OK);
    CU_ASSERT_EQUAL(e.n_blank, 6); /* formed up to the Affine... */
    ot_engine_gradient(&e, &big, idx, 10);
    CU_ASSERT_EQUAL(e.blank_ok, 3); /* ...but it ends at the second convolution's input */
    ot_engine_free(&e);
    ot_net_free(&net);
    ot_dataset_free(&big);
}

OT_TEST_SUITE(engine, setup, teardown,
              {"blank values: the stack's output on zeros; the Affine's shift, to rounding",
               test_blank_values},
              {"predict: probabilities, arg-max, eval's numbers, 1-3 threads", test_predict},
              {"evaluate and predict: a progress line on a terminal", test_eval_progress},
              {"batch norm and dropout: same bits at 1, 2, 3, 7 threads", test_batchnorm_dropout_across_threads},
              {"sharded gradient equals one shard at 1, 2, 3, 7 threads", test_sharded_equals_single},
              {"fixed shards: bit-identical at 1..16 threads", test_fixed_shards_bit_identical},
              {"mostly-zero images: sparse first layer, same bits at 1..16 threads and as dense",
               test_sparse_input},
              {"sparse first layer wider than a column block: the dense path's bits",
               test_sparse_wide_layer},
              {"network gradient vs numerical gradient", test_network_numerical_gradient},
              {"the update inside the step: the bits of gradient then ot_optim_step, 1-7 threads",
               test_update_in_step},
              {"fused element-wise layers: the same bits as their own passes",
               test_fused_layers_same_bits},
              {"max pooling inside the convolution before it: the same bits as its own pass",
               test_chained_pooling_same_bits},
              {"first convolution on mostly-zero images: the dense kernel's bits",
               test_sparse_conv_same_bits},
              {"first convolution's forward without its blank windows: the same bits",
               test_live_conv_same_bits},
              {"phase timers: each thread's phases, within the steps' time", test_phase_times},
              {"plain, kept and timed hand-over of parameter lines: the same bits, 2-3 threads",
               test_xfer_same_bits},
              {"timed hand-over: tries, goes over, comes back, ignores one lost step",
               test_xfer_auto_choice})
