/* test_checkpoint.c - HDF5 checkpoints (src/checkpoint.c): a bit-exact save/load round trip,
 * resume equal to an uninterrupted run, the keep rule and latest.h5, a failed save that leaves
 * the previous checkpoint loadable (rename blocked; file size limit hit mid-write), damaged
 * and mismatched files each refused with exactly one message line and no HDF5 error stack,
 * and the output directory check. The history file (src/history.c) is tested in test_history.c.
 *
 * Runs from the repository root (make check): the trainers load the first samples of
 * data/mnist. Files go to a fresh directory under /tmp, removed at the end. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_optim.h"
#include "ot_test.h"
#include "ot_train.h"

/* ---------------------------------------------------------------- helpers */

static int setup(void)
{
    ot_gemm_init();
    return ot_test_scratch_init("ckpt");
}

/* Options of the optimizer tests: adam with every feature that carries state or depends on
 * the step (schedule, warm-up, weight decay, clipping, validation, early stopping). */
static const char *const adam_opts[] = {
    "training.optimizer=adam", "training.schedule=cosine", "training.warmup_epochs=1",
    "training.weight_decay=0.001", "training.clip_norm=5", "training.validation=100",
    "training.patience=5", "training.epochs=3", NULL,
};
static const char *const momentum_opts[] = {
    "training.optimizer=nesterov", "training.schedule=step", "training.step_epochs=1",
    "training.step_factor=0.5", NULL,
};

/* A small trainer on the first MNIST images: 784-hidden-10, batches of 50 (12 per epoch for
 * 600 images), 4 shards, 2 threads; opts: NULL or more "section.key=value" settings. */
static int make_trainer_opts(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit,
                             const char *const *opts)
{
    ot_config_t c;
    ot_config_defaults(&c);
    for (size_t i = 0; opts && opts[i]; i++)
        if (ot_config_set(&c, opts[i]))
            return -1;
    snprintf(c.path, sizeof c.path, "tests/ckpt-unit.ini");
    c.sizes[1] = hidden;
    c.train_limit = train_limit;
    c.test_limit = 200;
    c.batch_size = 50;
    c.shards = 4;
    c.seed = seed;
    if (ot_config_check(&c))
        return -1;
    return ot_trainer_init(t, &c, 2);
}

static int make_trainer(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit)
{
    return make_trainer_opts(t, seed, hidden, train_limit, NULL);
}

static int blocks_equal(const float *a, const float *b, size_t n)
{
    return a && b && memcmp(a, b, n * sizeof *a) == 0;
}

static int run_epochs(ot_trainer_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        ot_epoch_stats_t st;
        if (ot_trainer_epoch(t, &st, NULL, NULL))
            return -1;
    }
    return 0;
}

static int params_equal(const ot_net_t *a, const ot_net_t *b)
{
    if (a->n_tensors != b->n_tensors)
        return 0;
    for (size_t i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].size != b->tensors[i].size ||
            memcmp(a->params + a->tensors[i].off, b->params + b->tensors[i].off,
                   a->tensors[i].size * sizeof(float)) != 0)
            return 0;
    return 1;
}

static int count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

static int file_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Copy the first `bytes` bytes of src to dst (all of it when bytes is 0). */
static int copy_file(const char *src, const char *dst, long bytes)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int rc = -1;
    if (in && out) {
        char buf[8192];
        long left = bytes ? bytes : -1;
        size_t n;
        while (left != 0 && (n = fread(buf, 1, left > 0 && left < (long)sizeof buf
                                                   ? (size_t)left : sizeof buf, in)) > 0) {
            if (fwrite(buf, 1, n, out) != n)
                break;
            if (left > 0)
                left -= (long)n;
        }
        rc = 0;
    }
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

/* ---------------------------------------------------------------- tests */

/* Save then load: parameters, PRNG, data order and the whole position come back bit for
 * bit, into a trainer that started from other parameters and another PRNG state. */
static void test_roundtrip(void)
{
    ot_trainer_t a, b;
    char p[256];
    CU_ASSERT_FATAL(make_trainer(&a, 1, 50, 600) == 0);
    CU_ASSERT_FATAL(run_epochs(&a, 1) == 0);
    /* a position inside an epoch, with values whose bits a text round trip would lose */
    a.batch_in_epoch = 3;
    a.step += 3;
    a.samples_seen += 150;
    a.epoch_loss = 1.0 / 3.0;
    a.epoch_correct = 77;
    for (size_t i = 0; i < 3; i++)
        a.step_loss[i] = (float)(0.1 + i / 7.0);
    ot_test_path(p, sizeof p, "roundtrip.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);

    CU_ASSERT_FATAL(make_trainer(&b, 2, 50, 600) == 0);
    CU_ASSERT(!params_equal(&a.net, &b.net)); /* guard: the load has something to do */
    CU_ASSERT(memcmp(&a.rng, &b.rng, sizeof a.rng) != 0);
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(params_equal(&a.net, &b.net));
    CU_ASSERT(memcmp(&a.rng, &b.rng, sizeof a.rng) == 0);
    CU_ASSERT(memcmp(a.order, b.order, a.train.n * sizeof *a.order) == 0);
    CU_ASSERT_EQUAL(b.epoch, 1);
    CU_ASSERT_EQUAL(b.batch_in_epoch, 3);
    CU_ASSERT_EQUAL(b.step, a.step);
    CU_ASSERT_EQUAL(b.samples_seen, a.samples_seen);
    CU_ASSERT(memcmp(&a.epoch_loss, &b.epoch_loss, sizeof a.epoch_loss) == 0);
    CU_ASSERT_EQUAL(b.epoch_correct, 77);
    CU_ASSERT(memcmp(a.step_loss, b.step_loss, 3 * sizeof *a.step_loss) == 0);

    ot_ckpt_info_t in;
    CU_ASSERT_EQUAL(ot_ckpt_info(p, &in), 0);
    CU_ASSERT_EQUAL(in.format_version, OT_CKPT_FORMAT);
    CU_ASSERT_STRING_EQUAL(in.version, OT_VERSION);
    CU_ASSERT_EQUAL(in.epoch, 1);
    CU_ASSERT_EQUAL(in.step, a.step);
    CU_ASSERT_EQUAL(in.batch_in_epoch, 3);
    CU_ASSERT_EQUAL(in.shards, 4);
    CU_ASSERT_EQUAL(in.threads, 2);
    CU_ASSERT_EQUAL(in.seed, 1);
    CU_ASSERT_EQUAL(strlen(in.created), 20); /* 2024-01-02T03:04:05Z */

    /* the parameters alone, into a bare network (what eval does) */
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &a.cfg, NULL) == 0);
    CU_ASSERT_EQUAL(ot_ckpt_load_params(p, &net), 0);
    CU_ASSERT(params_equal(&a.net, &net));
    ot_net_free(&net);
    ot_trainer_free(&a);
    ot_trainer_free(&b);
}

/* 3 epochs straight == 1 epoch, save, load into a new trainer, 2 more epochs, with the same
 * config (3 epochs: a cosine schedule depends on the total). */
static void resume_exact(const char *name, const char *const *opts)
{
    ot_trainer_t a, b, c;
    char dir[256], p[300];
    ot_test_path(dir, sizeof dir, name);
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    CU_ASSERT_FATAL(make_trainer_opts(&a, 7, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(run_epochs(&a, 3) == 0);

    CU_ASSERT_FATAL(make_trainer_opts(&b, 7, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(run_epochs(&b, 1) == 0);
    CU_ASSERT_FATAL(ot_ckpt_save(&b, dir, 0, NULL) == 0);
    ot_trainer_free(&b);

    CU_ASSERT_FATAL(make_trainer_opts(&c, 7, 50, 600, opts) == 0);
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    CU_ASSERT_FATAL(ot_ckpt_load(p, &c) == 0);
    CU_ASSERT_EQUAL(c.epoch, 1);
    CU_ASSERT(!params_equal(&a.net, &c.net));
    CU_ASSERT_FATAL(run_epochs(&c, 2) == 0);
    CU_ASSERT(params_equal(&a.net, &c.net));
    CU_ASSERT(memcmp(&a.rng, &c.rng, sizeof a.rng) == 0);
    CU_ASSERT(memcmp(a.order, c.order, a.train.n * sizeof *a.order) == 0);
    CU_ASSERT_EQUAL(a.step, c.step);
    CU_ASSERT_EQUAL(a.samples_seen, c.samples_seen);
    CU_ASSERT_EQUAL(a.optim.t, c.optim.t);
    size_t bufs = ot_optim_n_buffers(&a.optim);
    if (bufs >= 1)
        CU_ASSERT(blocks_equal(a.optim.m, c.optim.m, a.net.n_params));
    if (bufs >= 2)
        CU_ASSERT(blocks_equal(a.optim.v, c.optim.v, a.net.n_params));
    if (a.best_params) {
        CU_ASSERT(blocks_equal(a.best_params, c.best_params, a.net.n_params));
        CU_ASSERT_EQUAL(a.best_epoch, c.best_epoch);
        CU_ASSERT(memcmp(&a.best_val_loss, &c.best_val_loss, sizeof a.best_val_loss) == 0);
    }
    ot_trainer_free(&a);
    ot_trainer_free(&c);
}

static void test_resume_exact(void)
{
    resume_exact("resume-sgd", NULL);
}

static void test_resume_exact_adam(void)
{
    resume_exact("resume-adam", adam_opts);
}

static void test_resume_exact_nesterov(void)
{
    resume_exact("resume-nesterov", momentum_opts);
}

/* The optimizer's state and the early-stopping state come back bit for bit; a config with
 * another optimizer is refused. */
static void test_roundtrip_optim(void)
{
    ot_trainer_t a, b;
    char p[256];
    CU_ASSERT_FATAL(make_trainer_opts(&a, 11, 50, 600, adam_opts) == 0);
    CU_ASSERT_FATAL(run_epochs(&a, 2) == 0);
    CU_ASSERT_FATAL(a.optim.m && a.optim.v && a.best_params);
    CU_ASSERT(a.best_epoch >= 1);
    ot_test_path(p, sizeof p, "adam.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);

    CU_ASSERT_FATAL(make_trainer_opts(&b, 12, 50, 600, adam_opts) == 0);
    CU_ASSERT(!blocks_equal(a.optim.m, b.optim.m, a.net.n_params)); /* guard */
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(params_equal(&a.net, &b.net));
    CU_ASSERT(blocks_equal(a.optim.m, b.optim.m, a.net.n_params));
    CU_ASSERT(blocks_equal(a.optim.v, b.optim.v, a.net.n_params));
    CU_ASSERT(blocks_equal(a.best_params, b.best_params, a.net.n_params));
    CU_ASSERT_EQUAL(b.optim.t, a.optim.t);
    CU_ASSERT_EQUAL(b.best_epoch, a.best_epoch);
    CU_ASSERT(memcmp(&a.best_val_loss, &b.best_val_loss, sizeof a.best_val_loss) == 0);
    CU_ASSERT_EQUAL(b.stopped, 0);
    ot_ckpt_info_t in;
    CU_ASSERT_EQUAL(ot_ckpt_info(p, &in), 0);
    CU_ASSERT_EQUAL(in.best_epoch, a.best_epoch);
    ot_trainer_free(&b);

    /* another optimizer in the config */
    CU_ASSERT_FATAL(make_trainer(&b, 12, 50, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &b), OT_ECONFIG,
                       "trained with the adam optimizer but the config's training.optimizer is "
                       "sgd");
    ot_trainer_free(&b);
    /* the run's validation split is part of its training set size */
    const char *const no_val[] = {"training.optimizer=adam", NULL};
    CU_ASSERT_FATAL(make_trainer_opts(&b, 12, 50, 600, no_val) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &b), OT_ECONFIG, "training set has 600");
    ot_trainer_free(&b);
    ot_trainer_free(&a);
}

/* Batch norm: gamma and beta with the parameters, the running statistics (a separate state
 * block) in /model too; a model with batch norm on one side only is refused. */
static void test_batchnorm(void)
{
    const char *const bn[] = {"model.batchnorm=1", "model.dropout=0.2", NULL};
    ot_trainer_t a, b, plain;
    char p[256], q[256];
    CU_ASSERT_FATAL(make_trainer_opts(&a, 21, 50, 600, bn) == 0);
    CU_ASSERT_FATAL(a.net.n_state > 0 && a.net.n_state_tensors == 2);
    CU_ASSERT_PTR_NOT_NULL(ot_net_tensor(&a.net, "bn1/gamma"));
    for (size_t k = 0; k < a.net.n_state_tensors; k++) /* the tensors, not the padding */
        for (size_t i = 0; i < a.net.state_tensors[k].size; i++)
            a.net.state[a.net.state_tensors[k].off + i] = 0.25f * (float)(i + 7 * k) - 3.0f;
    for (size_t i = 0; i < a.net.n_params; i++)
        a.net.params[i] += 1e-3f * (float)(i % 17);
    ot_test_path(p, sizeof p, "bn.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);

    CU_ASSERT_FATAL(make_trainer_opts(&b, 22, 50, 600, bn) == 0);
    CU_ASSERT(!blocks_equal(a.net.state, b.net.state, a.net.n_state)); /* guard */
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(params_equal(&a.net, &b.net));
    CU_ASSERT(blocks_equal(a.net.state, b.net.state, a.net.n_state));

    CU_ASSERT_FATAL(make_trainer(&plain, 21, 50, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &plain), OT_ECONFIG,
                       "has /model/bn1, which the config's model has not (checkpoint: affine1, "
                       "affine2, bn1; config: affine1, affine2)");
    ot_test_path(q, sizeof q, "plain.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&plain, q) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load_params(q, &b.net), OT_ECONFIG,
                       "the config's model has bn1, which the checkpoint's has not (checkpoint: "
                       "affine1, affine2; config: affine1, bn1, affine2)");
    ot_trainer_free(&plain);
    ot_trainer_free(&a);
    ot_trainer_free(&b);
}

/* keep = K leaves the K + 1 newest; latest.h5 is a symlink to the newest; checkpoints of
 * later epochs (an abandoned line of the run) go away. */
static void test_keep(void)
{
    ot_trainer_t t;
    char dir[256], p[300], link[64];
    CU_ASSERT_FATAL(make_trainer(&t, 3, 20, 600) == 0);
    ot_test_path(dir, sizeof dir, "keep");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    for (int e = 1; e <= 4; e++) {
        ot_ckpt_saved_t sv;
        t.epoch = e;
        CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 1, &sv) == 0);
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_STRING_EQUAL(sv.path, p);
        CU_ASSERT(sv.bytes > t.net.n_params * sizeof(float));
    }
    for (int e = 1; e <= 4; e++) {
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_EQUAL(file_exists(p), e >= 3);
    }
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CU_ASSERT_FATAL(n > 0);
    link[n] = 0;
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0004.h5");

    /* keep = 0, and a resumed line from epoch 2 drops the later epochs 3 and 4 */
    t.epoch = 2;
    CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 0, NULL) == 0);
    for (int e = 1; e <= 4; e++) {
        snprintf(p, sizeof p, "%s/checkpoint-e%04d.h5", dir, e);
        CU_ASSERT_EQUAL(file_exists(p), e == 2);
    }
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    ot_trainer_free(&t);
}

/* A save that fails - its rename blocked, or the disk "full" mid-write - reports one line,
 * leaves no temporary file, and the previous checkpoint and latest.h5 stay as they were. */
static void test_failed_save(void)
{
    ot_trainer_t t, u;
    char dir[256], p[300], link[64];
    CU_ASSERT_FATAL(make_trainer(&t, 5, 50, 600) == 0);
    CU_ASSERT_FATAL(make_trainer(&u, 6, 50, 600) == 0);
    ot_test_path(dir, sizeof dir, "failed");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    CU_ASSERT_FATAL(run_epochs(&t, 1) == 0);
    CU_ASSERT_FATAL(ot_ckpt_save(&t, dir, 3, NULL) == 0);
    float *good = malloc(t.net.n_params * sizeof(float));
    CU_ASSERT_FATAL(good != NULL);
    memcpy(good, t.net.params, t.net.n_params * sizeof(float));
    CU_ASSERT_FATAL(run_epochs(&t, 1) == 0); /* epoch 2: parameters move on */

    /* 1: the rename onto checkpoint-e0002.h5 fails, since that is a non-empty directory */
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5/blocker", dir);
    CU_ASSERT_FATAL(ot_output_dir_prepare(p) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_save(&t, dir, 3, NULL), OT_EIO, "cannot rename");
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    ot_test_rm_rf(p);

    /* 2: the file size limit cuts the write short (a full disk, without filling one) */
    struct rlimit old, lim;
    CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 16384; /* the parameters alone take 160 KB */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    char txt[2048];
    ot_test_capture_begin();
    int rc = ot_ckpt_save(&t, dir, 3, NULL);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    int lines = ot_test_capture_lines(txt, sizeof txt);
    CU_ASSERT_EQUAL(rc, OT_EIO);
    CU_ASSERT_EQUAL(lines, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(txt, "cannot write"));
    if (lines != 1)
        fprintf(stderr, "\n  size limit: %d lines: %s", lines, txt);
    CU_ASSERT_EQUAL(count_tmp_files(dir), 0);

    /* the previous checkpoint is intact, and latest.h5 still names it */
    snprintf(p, sizeof p, "%s/checkpoint-e0002.h5", dir);
    CU_ASSERT(!file_exists(p));
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    ssize_t n = readlink(p, link, sizeof link - 1);
    CU_ASSERT_FATAL(n > 0);
    link[n] = 0;
    CU_ASSERT_STRING_EQUAL(link, "checkpoint-e0001.h5");
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &u), 0);
    CU_ASSERT_EQUAL(u.epoch, 1);
    CU_ASSERT(memcmp(u.net.params, good, t.net.n_params * sizeof(float)) == 0);

    /* and the next save works again */
    CU_ASSERT_EQUAL(ot_ckpt_save(&t, dir, 3, NULL), 0);
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &u), 0);
    CU_ASSERT(params_equal(&t.net, &u.net));
    free(good);
    ot_trainer_free(&t);
    ot_trainer_free(&u);
}

/* Damage one thing of a good checkpoint with the HDF5 API. */
static int damage(const char *good, const char *bad, const char *what)
{
    if (copy_file(good, bad, 0))
        return -1;
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    herr_t r = 0;
    if (strcmp(what, "order-dup") == 0) {
        hid_t d = H5Dopen2(f, "/state/order", H5P_DEFAULT);
        uint32_t *o = malloc(600 * sizeof *o);
        r = d >= 0 && o ? H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, o) : -1;
        if (r >= 0) {
            o[5] = o[6];
            r = H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, o);
        }
        free(o);
        if (d >= 0)
            H5Dclose(d);
    } else if (strcmp(what, "format") == 0) {
        int v = 2;
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        r = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT, &v) : -1;
        if (a >= 0)
            H5Aclose(a);
    } else {
        r = H5Ldelete(f, what, H5P_DEFAULT);
    }
    return H5Fclose(f) < 0 || r < 0 ? -1 : 0;
}

/* Each bad file: the right code and exactly one line, never HDF5's error stack. */
static void test_bad_files(void)
{
    ot_trainer_t t, other;
    char good[256], bad[256], p[256];
    CU_ASSERT_FATAL(make_trainer(&t, 9, 50, 600) == 0);
    ot_test_path(good, sizeof good, "good.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, good) == 0);
    ot_test_path(bad, sizeof bad, "bad.h5");

    OT_EXPECT_ONE_LINE(ot_ckpt_load(ot_test_path(p, sizeof p, "missing.h5"), &t), OT_EIO,
                       "No such file or directory");
    FILE *f = fopen(bad, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("epoch,loss\n1,0.5\n", f);
    fclose(f);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "not an HDF5 file");
    OT_EXPECT_ONE_LINE(ot_ckpt_info(bad, &(ot_ckpt_info_t){0}), OT_EFORMAT, "not an HDF5 file");
    struct stat st;
    CU_ASSERT_FATAL(stat(good, &st) == 0);
    CU_ASSERT_FATAL(copy_file(good, bad, (long)st.st_size / 2) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "truncated");
    OT_EXPECT_ONE_LINE(ot_ckpt_load(ot_test_scratch, &t), OT_EIO, "is a directory");

    CU_ASSERT_FATAL(damage(good, bad, "/state/order") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "/state/order is missing");
    CU_ASSERT_FATAL(damage(good, bad, "/model/affine2/b") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "/model/affine2/b is missing");
    CU_ASSERT_FATAL(damage(good, bad, "/state") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_info(bad, &(ot_ckpt_info_t){0}), OT_EFORMAT,
                       "/state/epoch is missing");
    CU_ASSERT_FATAL(damage(good, bad, "order-dup") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "not a permutation");
    CU_ASSERT_FATAL(damage(good, bad, "format") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "format_version 2");

    /* the config's model or data do not match the checkpoint's */
    CU_ASSERT_FATAL(make_trainer(&other, 9, 30, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(good, &other), OT_ECONFIG,
                       "/model/affine1/W has shape 784x50 but the config's model needs 784x30");
    ot_trainer_free(&other);
    CU_ASSERT_FATAL(make_trainer(&other, 9, 50, 500) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(good, &other), OT_ECONFIG, "training set has 500");
    ot_trainer_free(&other);
    /* and a good file still loads after all that */
    CU_ASSERT_EQUAL(ot_ckpt_load(good, &t), 0);
    ot_trainer_free(&t);
}

static void test_output_dir(void)
{
    char dir[256], p[300];
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "configs/mnist.ini");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/mnist");
    snprintf(c.path, sizeof c.path, "my.conf");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/my.conf");
    snprintf(c.out_dir, sizeof c.out_dir, "/tmp/x");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "/tmp/x");

    /* parents are made */
    ot_test_path(dir, sizeof dir, "out/a/b/c");
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0);
    struct stat st;
    CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0); /* and an existing one is fine */
    /* under a regular file: even root cannot */
    ot_test_path(p, sizeof p, "regular");
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    ot_test_path(dir, sizeof dir, "regular/sub");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(dir), OT_EIO, "Not a directory");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(p), OT_EIO, "Not a directory");
}

OT_TEST_SUITE(checkpoint, setup, ot_test_scratch_free,
              {"save then load is bit-exact", test_roundtrip},
              {"resume equals an uninterrupted run", test_resume_exact},
              {"resume equals an uninterrupted run: adam, cosine, early stopping",
               test_resume_exact_adam},
              {"resume equals an uninterrupted run: nesterov, step schedule",
               test_resume_exact_nesterov},
              {"optimizer and early-stopping state round trip", test_roundtrip_optim},
              {"batch norm state round trip", test_batchnorm},
              {"keep rule and latest.h5", test_keep},
              {"failed save keeps the previous checkpoint", test_failed_save},
              {"bad files: one line each", test_bad_files},
              {"output directory", test_output_dir})
