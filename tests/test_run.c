/* test_run.c - the training and eval commands (src/run.c) on the tiny data (tiny_test.h: 24
 * training images of 4x4, 3 steps an epoch) and a 16-5-3 net with adam and dropout: what a run
 * leaves in its output directory and prints, an exact resume from a checkpoint, SIGTERM and
 * SIGINT (raised as a chosen line is printed), a history whose disk fills up, eval, and the
 * refusals. */
#define _GNU_SOURCE /* fopencookie */
#include <hdf5.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_test.h"
#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_outdir.h"
#include "ot_run.h"
#include "ot_test.h"
#include "ot_train.h"
#include "ot_verify.h"
#include "tiny_test.h"

enum { STEPS = OT_TINY_TRAIN / 8 }; /* an epoch: batches of 8 */

static char *full_out; /* what the uninterrupted run printed */
static int full_rc = 1; /* its status once it ran */

static int setup(void)
{
    ot_gemm_init();
    return ot_test_scratch_init("run") || ot_tiny_make_data() ? 1 : 0;
}

static int cleanup(void)
{
    free(full_out);
    full_out = NULL;
    return ot_test_scratch_free();
}

/* The tiny config with adam, dropout, 2 epochs, a checkpoint every epoch (keep = 1: both stay),
 * output in scratch/out, model 16-hidden-3. */
static void make_config(ot_config_t *c, const char *out, size_t hidden)
{
    char dir[300], layers[64];
    snprintf(dir, sizeof dir, "output.dir=%s/%s", ot_test_scratch, out);
    snprintf(layers, sizeof layers, "model.layers=16, %zu, 3", hidden);
    const char *const opts[] = {dir, layers, "model.dropout=0.1", "training.optimizer=adam",
                                "training.learning_rate=0.05", "training.epochs=2",
                                "output.checkpoint_every=1", "output.keep=1", NULL};
    CU_ASSERT_FATAL(ot_tiny_config(c, opts) == 0);
}

/* ---- stdout into a buffer, raising a signal at a chosen text ----
 * ot_test_stdout_begin moves file descriptor 1, which cannot say when a line is printed; this
 * swaps the FILE * stdout for a stream of ours (fopencookie) whose write raises out.sig inside
 * the printf or fflush that writes out.trigger, so the run meets the signal at a known point. */
static struct {
    char *text;
    size_t len, cap;
    const char *trigger; /* NULL: none, or raised already */
    int sig;
    FILE *saved;         /* the real stdout */
} out;

static ssize_t out_write(void *arg, const char *buf, size_t n)
{
    (void)arg;
    if (out.len + n + 1 > out.cap) {
        size_t cap = 2 * (out.len + n + 1);
        char *t = realloc(out.text, cap);
        if (!t)
            return -1;
        out.text = t;
        out.cap = cap;
    }
    memcpy(out.text + out.len, buf, n);
    out.len += n;
    out.text[out.len] = '\0';
    if (out.trigger && strstr(out.text, out.trigger)) {
        out.trigger = NULL;
        raise(out.sig); /* its handler has run when raise returns */
    }
    return (ssize_t)n;
}

/* stdout into out from now on; 0 or -1. */
static int out_begin(const char *trigger, int sig)
{
    fflush(stdout);
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){.write = out_write});
    if (!f)
        return -1;
    out.text = NULL;
    out.len = out.cap = 0;
    out.trigger = trigger;
    out.sig = sig;
    out.saved = stdout;
    stdout = f;
    return 0;
}

/* The real stdout back; what was printed, malloc'd (NULL when out of memory). */
static char *out_end(void)
{
    fclose(stdout); /* flushes the rest into out */
    stdout = out.saved;
    return out.text ? out.text : strdup("");
}

/* ---- running the commands ---- */

typedef struct {
    int rc;
    char *out;       /* stdout, malloc'd */
    char err[2048];  /* stderr */
    int err_lines;   /* its lines (ot_test_capture_lines) */
} result_t;

/* ot_run_train on 2 threads from resume (or NULL); sig is raised once stdout holds trigger. */
static void train(const ot_config_t *c, const char *resume, const char *trigger, int sig,
                  result_t *r)
{
    omp_set_num_threads(2);
    ot_run_opts_t opts = {.threads = 2, .resume = resume, .dist = NULL};
    CU_ASSERT_FATAL(out_begin(trigger, sig) == 0);
    ot_test_capture_begin();
    r->rc = ot_run_train(c, &opts);
    r->err_lines = ot_test_capture_lines(r->err, sizeof r->err);
    r->out = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(r->out);
}

/* The uninterrupted 2-epoch run into scratch/full, once for the suite; 0 when it succeeded. */
static int full_run(void)
{
    if (!full_out) {
        ot_config_t c;
        result_t r;
        make_config(&c, "full", 5);
        train(&c, NULL, NULL, 0, &r);
        full_out = r.out;
        full_rc = r.rc || r.err_lines != 0;
        if (full_rc)
            fprintf(stderr, "\n  full run: %d, stderr: %s", r.rc, r.err);
    }
    return full_rc;
}

/* The lines of text that start with prefix. */
static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t k = strlen(prefix);
    for (const char *s = text; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : "")
        n += strncmp(s, prefix, k) == 0;
    return n;
}

/* The test loss and accuracy (%) that epoch e's line of a run's output reports: 0 or -1. */
static int epoch_line(const char *text, int e, double *loss, double *acc)
{
    char head[32];
    snprintf(head, sizeof head, "epoch %3d/", e);
    const char *s = strstr(text, head);
    int ep, of;
    double tl, ta;
    return s && sscanf(s, "epoch %d/%d train loss %lf acc %lf%% test loss %lf acc %lf%%", &ep, &of,
                       &tl, &ta, loss, acc) == 6 ? 0 : -1;
}

/* A trainer of c holding the checkpoint at path: 0 or -1. */
static int load(const ot_config_t *c, const char *path, ot_trainer_t *t)
{
    if (ot_trainer_init(t, c, 2))
        return -1;
    return ot_ckpt_load(path, t) ? -1 : 0;
}

/* The checkpoints a and b hold the same position, parameters and adam state, bit for bit. */
static void expect_same_model(const ot_config_t *c, const char *a, const char *b)
{
    ot_trainer_t ta = {0}, tb = {0};
    int loaded = load(c, a, &ta) == 0 && load(c, b, &tb) == 0;
    CU_ASSERT(loaded);
    if (loaded) {
        CU_ASSERT_EQUAL(ta.step, tb.step);
        CU_ASSERT(ot_ck_params_equal(&ta.net, &tb.net));
        CU_ASSERT_EQUAL(ta.optim.t, tb.optim.t);
        CU_ASSERT(ta.optim.m && ta.optim.v && tb.optim.m && tb.optim.v);
        CU_ASSERT(ot_ck_blocks_equal(ta.optim.m, tb.optim.m, ta.optim.n));
        CU_ASSERT(ot_ck_blocks_equal(ta.optim.v, tb.optim.v, ta.optim.n));
    }
    ot_trainer_free(&ta);
    ot_trainer_free(&tb);
}

/* The parameters of the checkpoints a and b: 1 identical, 0 not, -1 not loaded. */
static int same_params(const ot_config_t *c, const char *a, const char *b)
{
    ot_trainer_t ta = {0}, tb = {0};
    int same = load(c, a, &ta) == 0 && load(c, b, &tb) == 0
                   ? ot_ck_params_equal(&ta.net, &tb.net) : -1;
    ot_trainer_free(&ta);
    ot_trainer_free(&tb);
    return same;
}

/* ---- the tests ---- */

/* Two epochs: a checkpoint each epoch (keep = 1 leaves both), latest.h5 naming the last, a
 * history of 2 epochs and 6 steps that agrees with the lines printed, nothing on stderr. */
static void test_train_leaves(void)
{
    char dir[256], p[300], link[64], want[400];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(dir, sizeof dir, "full");
    CU_ASSERT_EQUAL(ot_run_signal(), 0);

    /* the report: the header, one line an epoch, each checkpoint, the peak memory */
    CU_ASSERT_EQUAL(count_lines(full_out, "omptrain "), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(full_out, "model 16-5-3 (103 parameters), 24 train / 10 test "
                                            "samples, batch 8, 2 shards, 2 threads"));
    CU_ASSERT_EQUAL(count_lines(full_out, "epoch "), 2);
    for (int e = 1; e <= 2; e++) {
        snprintf(want, sizeof want, "checkpoint %s/checkpoint-e%04d.h5  ", dir, e);
        CU_ASSERT_PTR_NOT_NULL(strstr(full_out, want));
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT(ot_ck_file_exists(p));
    }
    CU_ASSERT_EQUAL(count_lines(full_out, "peak memory "), 1);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(dir), 0);

    /* latest.h5 -> the epoch-2 checkpoint, which says where the run stood */
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CU_ASSERT_FATAL(n > 0);
    link[n] = '\0';
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0002.h5");
    ot_ckpt_info_t info;
    CU_ASSERT_FATAL(ot_ckpt_info(p, &info) == OT_OK);
    CU_ASSERT_EQUAL(info.epoch, 2);
    CU_ASSERT_EQUAL(info.step, 2 * STEPS);
    CU_ASSERT_EQUAL(info.batch_in_epoch, 0);
    CU_ASSERT_EQUAL(info.shards, 2);
    CU_ASSERT_EQUAL(info.threads, 2);
    CU_ASSERT_EQUAL(info.seed, 5); /* the tiny config's */

    /* history.h5: epochs 1 and 2, steps 1..12, the test figures that were printed */
    snprintf(p, sizeof p, "%s/history.h5", dir);
    uint32_t epoch[4];
    uint64_t step[32];
    double acc[4], loss[4];
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(p, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4), 2);
    CU_ASSERT(epoch[0] == 1 && epoch[1] == 2);
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(p, "/steps/step", H5T_NATIVE_UINT64, step, 32), 2 * STEPS);
    for (int i = 0; i < 2 * STEPS; i++)
        CU_ASSERT_EQUAL(step[i], (uint64_t)i + 1);
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(p, "/epochs/test_acc", H5T_NATIVE_DOUBLE, acc, 4), 2);
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(p, "/epochs/test_loss", H5T_NATIVE_DOUBLE, loss, 4), 2);
    for (int e = 1; e <= 2; e++) {
        double pl, pa;
        CU_ASSERT_FATAL(epoch_line(full_out, e, &pl, &pa) == 0);
        CU_ASSERT_DOUBLE_EQUAL(pl, loss[e - 1], 0.00005 + 1e-12);
        CU_ASSERT_DOUBLE_EQUAL(pa, 100.0 * acc[e - 1], 0.005 + 1e-12);
    }
}

/* Resuming from the epoch-1 checkpoint into a new directory trains epoch 2 alone and ends
 * with the uninterrupted run's parameters and adam state, bit for bit, and the same step
 * losses; the new history starts at epoch 2. */
static void test_resume_exact(void)
{
    char full[256], dir[256], from[300], p[300], q[300], want[600];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(full, sizeof full, "full");
    ot_test_path(dir, sizeof dir, "resumed");
    snprintf(from, sizeof from, "%s/checkpoint-e0001.h5", full);
    ot_config_t c;
    result_t r;
    make_config(&c, "resumed", 5);
    train(&c, from, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_EQUAL(r.err_lines, 0);
    snprintf(want, sizeof want, "resumed from %s: epoch 1, step %d (", from, STEPS);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    snprintf(want, sizeof want, "note: %s/history.h5 was not there; the new one starts at epoch 2",
             dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_EQUAL(count_lines(r.out, "epoch "), 1);
    CU_ASSERT_EQUAL(count_lines(r.out, "epoch   2/2 "), 1);
    CU_ASSERT_PTR_NULL(strstr(r.out, "from the checkpoint's run")); /* the same schedule */
    if (r.rc || r.err_lines)
        fprintf(stderr, "\n  resume: %d: %s%s", r.rc, r.out, r.err);
    free(r.out);

    snprintf(p, sizeof p, "%s/latest.h5", full);
    snprintf(q, sizeof q, "%s/latest.h5", dir);
    expect_same_model(&c, p, q);
    CU_ASSERT_EQUAL(same_params(&c, from, q), 0); /* the comparison sees an epoch's change */

    /* the history: epoch 2's row and steps 4..6, with the uninterrupted run's losses */
    float la[32], lb[32];
    uint32_t epoch[4];
    snprintf(p, sizeof p, "%s/history.h5", full);
    snprintf(q, sizeof q, "%s/history.h5", dir);
    CU_ASSERT_EQUAL(ot_ck_read_1d(q, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4), 1);
    CU_ASSERT_EQUAL(epoch[0], 2);
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(p, "/steps/loss", H5T_NATIVE_FLOAT, la, 32), 2 * STEPS);
    CU_ASSERT_EQUAL_FATAL(ot_ck_read_1d(q, "/steps/loss", H5T_NATIVE_FLOAT, lb, 32), STEPS);
    CU_ASSERT(memcmp(la + STEPS, lb, STEPS * sizeof *la) == 0);
}

/* Resumed under another learning-rate schedule: one note naming the keys that changed it and
 * the step from which the new curve applies; more epochs of a constant schedule need none. */
static void test_resume_schedule_note(void)
{
    char full[256], from[300];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(full, sizeof full, "full");
    snprintf(from, sizeof from, "%s/checkpoint-e0001.h5", full);
    ot_config_t c;
    result_t r;
    make_config(&c, "more-epochs", 5);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.epochs=3"), OT_OK);
    train(&c, from, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_PTR_NULL(strstr(r.out, "from the checkpoint's run"));
    free(r.out);
    make_config(&c, "cosine", 5);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.schedule=cosine"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.learning_rate=0.01"), OT_OK);
    train(&c, from, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_EQUAL(r.err_lines, 0);
    char want[300];
    snprintf(want, sizeof want, "\nnote: training.schedule constant -> cosine, "
             "training.learning_rate 0.05 -> 0.01 differ from the checkpoint's run: the learning "
             "rate from step %d on follows this config's schedule, not the one the checkpoint "
             "was trained under\n", STEPS);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    if (!strstr(r.out, want))
        fprintf(stderr, "\n  schedule note: %s", r.out);
    free(r.out);
}

/* SIGTERM as epoch 1's line is printed, with no checkpoint due until the end: the run saves
 * epoch 1 itself, says how to resume in one line and returns OT_EINTR, and ot_run_signal names
 * the signal; resuming from the directory (its newest checkpoint) ends as the uninterrupted run
 * did, and the history goes on from epoch 1. */
static void test_sigterm(void)
{
    char dir[256], p[300], q[300], want[OT_PATH_MAX + 400];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(dir, sizeof dir, "stopped");
    ot_config_t c;
    result_t r;
    make_config(&c, "stopped", 5);
    CU_ASSERT_FATAL(ot_config_set(&c, "output.checkpoint_every=0") == OT_OK);
    train(&c, NULL, "epoch   1/2 ", SIGTERM, &r);
    CU_ASSERT_EQUAL(r.rc, OT_EINTR);
    CU_ASSERT_EQUAL(ot_run_signal(), SIGTERM);
    CU_ASSERT_EQUAL(r.err_lines, 1);
    snprintf(want, sizeof want, "omptrain: terminated (SIGTERM) at epoch 1, step %d: saved; "
             "continue with: omptrain --resume %s/latest.h5 %s\n", STEPS, dir, c.path);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    snprintf(want, sizeof want, "checkpoint %s/checkpoint-e0001.h5  ", dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_EQUAL(count_lines(r.out, "epoch "), 1);
    CU_ASSERT_EQUAL(count_lines(r.out, "peak memory "), 0);
    free(r.out);
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    CU_ASSERT(!ot_ck_file_exists(p));
    ot_ckpt_info_t info;
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    CU_ASSERT_FATAL(ot_ckpt_info(p, &info) == OT_OK);
    CU_ASSERT_EQUAL(info.epoch, 1);
    CU_ASSERT_EQUAL(info.step, STEPS);

    train(&c, dir, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_EQUAL(ot_run_signal(), 0);
    CU_ASSERT_EQUAL(r.err_lines, 0);
    snprintf(want, sizeof want, "resumed from %s/checkpoint-e0001.h5: epoch 1, step %d", dir,
             STEPS);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    free(r.out);
    ot_test_path(q, sizeof q, "full/latest.h5");
    expect_same_model(&c, p, q);
    uint32_t epoch[4];
    snprintf(p, sizeof p, "%s/history.h5", dir);
    CU_ASSERT_EQUAL(ot_ck_read_1d(p, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4), 2);
    CU_ASSERT(epoch[0] == 1 && epoch[1] == 2);
}

/* SIGINT as epoch 1's line is printed, with a checkpoint due every epoch: the epoch's
 * checkpoint is the one the stop keeps (not written twice), and the line says SIGINT. */
static void test_sigint_after_checkpoint(void)
{
    char dir[256], want[OT_PATH_MAX + 400];
    ot_test_path(dir, sizeof dir, "interrupted");
    ot_config_t c;
    result_t r;
    make_config(&c, "interrupted", 5);
    train(&c, NULL, "epoch   1/2 ", SIGINT, &r);
    CU_ASSERT_EQUAL(r.rc, OT_EINTR);
    CU_ASSERT_EQUAL(ot_run_signal(), SIGINT);
    CU_ASSERT_EQUAL(r.err_lines, 1);
    snprintf(want, sizeof want, "omptrain: interrupted (SIGINT) at epoch 1, step %d: saved; "
             "continue with: omptrain --resume %s/latest.h5 %s\n", STEPS, dir, c.path);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    CU_ASSERT_EQUAL(count_lines(r.out, "checkpoint "), 1);
    CU_ASSERT_EQUAL(count_lines(r.out, "epoch "), 1);
    free(r.out);
}

/* The history file of test_history_full, whose disk fill_disk fills (a SIGUSR1 handler). */
static char history_file[300];

static void fill_disk(int sig)
{
    (void)sig;
    ot_test_disk_full(history_file, 1);
}

/* The history's disk fills up as epoch 1 ends, with no checkpoint due until the end: the
 * append fails in one line and the history keeps what it had (no epoch yet); the run still
 * saves epoch 1's checkpoint, so that no training is lost, and returns OT_EIO. Resumed from the
 * directory, it ends as the uninterrupted run did, its history going on from epoch 2 (epoch
 * 1's row is the one missing). The disk has room again after the first write it refuses: one
 * that stays full is test_history.c's, in a child process (ot_test_in_child), which a training
 * cannot use. */
static void test_history_full(void)
{
    char dir[256], p[300], q[300], want[OT_PATH_MAX + 400];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(dir, sizeof dir, "history-full");
    snprintf(history_file, sizeof history_file, "%s/history.h5", dir);
    ot_config_t c;
    result_t r;
    make_config(&c, "history-full", 5);
    CU_ASSERT_FATAL(ot_config_set(&c, "output.checkpoint_every=0") == OT_OK);
    struct sigaction fill = {.sa_handler = fill_disk}, old;
    sigemptyset(&fill.sa_mask);
    CU_ASSERT_FATAL(sigaction(SIGUSR1, &fill, &old) == 0);
    train(&c, NULL, "epoch   1/2 ", SIGUSR1, &r);
    ot_test_disk_full(NULL, 0);
    sigaction(SIGUSR1, &old, NULL);
    CU_ASSERT_EQUAL(r.rc, OT_EIO);
    CU_ASSERT_EQUAL(r.err_lines, 1);
    snprintf(want, sizeof want, "omptrain: %s: cannot append epoch 1 to the history: No space "
             "left on device (it keeps the epochs before, as they were)\n", history_file);
    CU_ASSERT_STRING_EQUAL(r.err, want);
    snprintf(want, sizeof want, "checkpoint %s/checkpoint-e0001.h5  ", dir);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    CU_ASSERT_EQUAL(count_lines(r.out, "epoch "), 1);
    free(r.out);
    ot_verify_t v;
    CU_ASSERT_EQUAL(ot_verify_file(history_file, &v), 0);

    train(&c, dir, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_EQUAL(r.err_lines, 0);
    if (r.rc || r.err_lines)
        fprintf(stderr, "\n  resume: %d: %s%s", r.rc, r.out, r.err);
    /* the gap is said, not left for the plot to show */
    snprintf(want, sizeof want, "note: %s holds no epoch, and the checkpoint is of epoch 1: the "
             "curves will lack epoch 1\n", history_file);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.out, want));
    free(r.out);
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ot_test_path(q, sizeof q, "full/latest.h5");
    expect_same_model(&c, p, q);
    uint32_t epoch[4];
    CU_ASSERT_EQUAL(ot_ck_read_1d(history_file, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4),
                    1);
    CU_ASSERT_EQUAL(epoch[0], 2);
    CU_ASSERT_EQUAL(ot_verify_file(history_file, &v), 0);
}

/* Eval of the final checkpoint reports the test loss and accuracy that training printed for
 * epoch 2, and a confusion matrix whose rows hold each class's test samples and whose
 * diagonal holds the correct ones. */
static void test_eval(void)
{
    char ck[256], want[OT_PATH_MAX + 64];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(ck, sizeof ck, "full/latest.h5");
    ot_config_t c;
    make_config(&c, "full", 5);
    ot_run_opts_t o = {.threads = 2, .resume = NULL, .dist = NULL};
    char err[2048];
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_test_capture_begin();
    int rc = ot_run_eval(&c, ck, &o);
    int lines = ot_test_capture_lines(err, sizeof err);
    char *out = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_EQUAL(rc, OT_OK);
    CU_ASSERT_EQUAL(lines, 0);
    snprintf(want, sizeof want, "eval %s (epoch 2, step %d, written ", ck, 2 * STEPS);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));
    snprintf(want, sizeof want, "on %s: %d test samples\n", c.test_images, OT_TINY_TEST);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, want));

    double loss, acc, tl, ta;
    size_t correct = 0, n = 0;
    const char *s = strstr(out, "\ntest loss ");
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_FATAL(sscanf(s, " test loss %lf acc %lf%% (%zu of %zu correct", &loss, &acc,
                           &correct, &n) == 4);
    CU_ASSERT_FATAL(epoch_line(full_out, 2, &tl, &ta) == 0);
    CU_ASSERT_EQUAL(loss, tl); /* the same %.4f and %.2f of the same numbers */
    CU_ASSERT_EQUAL(acc, ta);
    CU_ASSERT_EQUAL(n, OT_TINY_TEST);
    CU_ASSERT_DOUBLE_EQUAL(acc, 100.0 * (double)correct / OT_TINY_TEST, 0.005 + 1e-12);

    /* the matrix: a row per true class, its count per predicted class */
    s = strstr(out, "recall\n");
    CU_ASSERT_FATAL(s != NULL);
    s += strlen("recall\n");
    size_t diag = 0;
    for (int i = 0; i < OT_TINY_CLASSES; i++) {
        unsigned long row, cell[OT_TINY_CLASSES], sum = 0, have = 0;
        int used;
        CU_ASSERT_FATAL(sscanf(s, "%lu%lu%lu%lu%n", &row, &cell[0], &cell[1], &cell[2],
                               &used) == 4);
        CU_ASSERT_EQUAL(row, (unsigned long)i);
        for (int j = 0; j < OT_TINY_CLASSES; j++)
            sum += cell[j];
        for (size_t k = 0; k < OT_TINY_TEST; k++) /* the test images are s >= OT_TINY_TRAIN */
            have += ot_tiny_label(OT_TINY_TRAIN + k) == i;
        CU_ASSERT_EQUAL(sum, have);
        diag += cell[i];
        s = strchr(s + used, '\n');
        CU_ASSERT_FATAL(s != NULL);
        s++;
    }
    CU_ASSERT_EQUAL(diag, correct);
    if (rc || lines)
        fprintf(stderr, "\n  eval: %d: %s%s", rc, out, err);
    free(out);
}

/* Resuming a run that finished its epochs says so and trains nothing, leaving its files. */
static void test_resume_finished(void)
{
    char ck[256], hist[256], want[600];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(ck, sizeof ck, "full/latest.h5");
    ot_test_path(hist, sizeof hist, "full/history.h5");
    ot_config_t c;
    result_t r;
    make_config(&c, "full", 5);
    train(&c, ck, NULL, 0, &r);
    CU_ASSERT_EQUAL(r.rc, OT_OK);
    CU_ASSERT_EQUAL(r.err_lines, 0);
    snprintf(want, sizeof want, "omptrain: %s: the run already finished its 2 epochs; raise "
             "training.epochs (e.g. --epochs 5) to train further\n", ck);
    CU_ASSERT_STRING_EQUAL(r.out, want);
    free(r.out);
    uint32_t epoch[4];
    CU_ASSERT_EQUAL(ot_ck_read_1d(hist, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4), 2);
}

/* A checkpoint that is not there (resume, eval), one of another model (eval), and an output
 * directory another run holds: each one line and a non-zero status, before anything is
 * written. */
static void test_refusals(void)
{
    char missing[256], never[256], dir[256], ck[256], hist[256], want[600];
    CU_ASSERT_FATAL(full_run() == 0);
    ot_test_path(missing, sizeof missing, "missing.h5");
    ot_test_path(never, sizeof never, "never");
    ot_config_t c;
    make_config(&c, "never", 5);
    ot_run_opts_t o = {.threads = 2, .resume = missing, .dist = NULL};
    snprintf(want, sizeof want, "%s: cannot open the checkpoint: No such file or directory",
             missing);
    OT_EXPECT_ONE_LINE(ot_run_train(&c, &o), OT_EIO, want);
    CU_ASSERT(!ot_ck_file_exists(never));
    OT_EXPECT_ONE_LINE(ot_run_eval(&c, missing, &o), OT_EIO, want);

    /* the checkpoint's hidden layer is 8 wide, the config's 9 */
    ot_test_path(ck, sizeof ck, "full/latest.h5");
    make_config(&c, "never", 6);
    snprintf(want, sizeof want, "%s: the checkpoint's model is 'affine 5, ", ck);
    OT_EXPECT_ONE_LINE(ot_run_eval(&c, ck, &o), OT_ECONFIG, want);

    /* scratch/full, locked as a running run would hold it */
    ot_test_path(dir, sizeof dir, "full");
    ot_test_path(hist, sizeof hist, "full/history.h5");
    int fd = -1;
    CU_ASSERT_FATAL(ot_output_dir_lock(dir, &fd) == OT_OK);
    make_config(&c, "full", 5);
    o.resume = NULL;
    snprintf(want, sizeof want, "%s: in use by another run (process %d)", dir, (int)getpid());
    OT_EXPECT_ONE_LINE(ot_run_train(&c, &o), OT_EIO, want);
    close(fd);
    uint32_t epoch[4];
    CU_ASSERT_EQUAL(ot_ck_read_1d(hist, "/epochs/epoch", H5T_NATIVE_UINT32, epoch, 4), 2);
}

/* What eval prints of a confusion matrix: whole up to 20 classes (3 here: rows, counts,
 * recall, "-" for a class without samples); past 20, recalls 8 a line and the 10 largest
 * off-diagonal counts, largest first, equal ones in row order (a 100-class data set printed
 * lines of 707 characters until 2026-12). */
static void test_print_confusion(void)
{
    const uint64_t m3[9] = {5, 1, 0, 2, 2, 0, 0, 0, 0};
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_run_print_confusion(m3, 3, NULL);
    char *text = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text,
                           "confusion matrix (rows: true class, columns: predicted class)\n"
                           "            0      1      2   recall\n"
                           "     0      5      1      0   83.33%\n"
                           "     1      2      2      0   50.00%\n"
                           "     2      0      0      0        -\n");
    free(text);
    /* with the classes' names: each after its row's recall (a name may hold blanks) */
    char *const names[3] = {"cat", "big  dog", "owl"};
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_run_print_confusion(m3, 3, names);
    text = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text,
                           "confusion matrix (rows: true class, columns: predicted class)\n"
                           "            0      1      2   recall  class\n"
                           "     0      5      1      0   83.33%  cat\n"
                           "     1      2      2      0   50.00%  big  dog\n"
                           "     2      0      0      0        -  owl\n");
    free(text);

    enum { K = 21 };
    uint64_t m[K * K] = {0};
    for (size_t i = 0; i < K; i++)
        m[i * K + i] = 10; /* every class 10 right */
    m[0 * K + 1] = 10;     /* class 0: 10 of 20 right */
    m[3 * K + 7] = 4, m[2 * K + 9] = 4, m[20 * K + 0] = 7;
    for (size_t i = 4; i < 13; i++)
        m[i * K + (i + 1)] = 1; /* nine 1s: the last list's place goes to the first of them */
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_run_print_confusion(m, K, NULL);
    text = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NULL(strstr(text, "confusion matrix (rows"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "recall by true class (21 classes: the confusion matrix "
                                        "is printed for up to 20)\n"
                                        "     0  50.00%       1 100.00%       2  71.43%"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\n    16 100.00%      17 100.00%      18 100.00%      19 "
                                        "100.00%      20  58.82%\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "most frequent confusions (true class -> predicted class: "
                                        "samples):\n"
                                        "     0 -> 1: 10      20 -> 0: 7       2 -> 9: 4       3 -> "
                                        "7: 4\n"
                                        "     4 -> 5: 1       5 -> 6: 1       6 -> 7: 1       7 -> "
                                        "8: 1\n"
                                        "     8 -> 9: 1       9 -> 10: 1\n"));
    CU_ASSERT_PTR_NULL(strstr(text, "\nclasses:\n"));
    free(text);
    /* past 20 classes the names follow, one a line */
    char *many[K], buf[K][8];
    for (size_t i = 0; i < K; i++)
        snprintf(buf[i], sizeof buf[i], "c %zu", i), many[i] = buf[i];
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_run_print_confusion(m, K, many);
    text = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    const char *at = text ? strstr(text, "9 -> 10: 1\nclasses:\n     0  c 0\n     1  c 1\n") : NULL;
    CU_ASSERT_PTR_NOT_NULL(at);
    CU_ASSERT(at && strcmp(at + strlen(at) - 13, "    20  c 20\n") == 0);
    free(text);

    /* nothing off the diagonal */
    for (size_t q = 0; q < K * K; q++)
        m[q] = q / K == q % K;
    CU_ASSERT_FATAL(out_begin(NULL, 0) == 0);
    ot_run_print_confusion(m, K, NULL);
    text = out_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "samples):  none: every sample's class was predicted\n"));
    free(text);
}

OT_TEST_SUITE(run, setup, cleanup,
              {"train: checkpoints, latest.h5, history.h5 and the report", test_train_leaves},
              {"eval's confusion matrix: whole up to 20 classes, then recalls and the largest "
               "confusions", test_print_confusion},
              {"resume from epoch 1: bit-identical to the uninterrupted run", test_resume_exact},
              {"resume under another schedule: a note names what changed it",
               test_resume_schedule_note},
              {"SIGTERM: saved, one line, OT_EINTR; resume goes on exactly", test_sigterm},
              {"SIGINT after the epoch's checkpoint: saved once", test_sigint_after_checkpoint},
              {"the history's disk full: one line, the epoch's checkpoint saved, resume goes on",
               test_history_full},
              {"eval: the training's test figures and confusion matrix", test_eval},
              {"resuming a finished run trains nothing", test_resume_finished},
              {"refusals: missing checkpoint, another model, directory in use", test_refusals})
