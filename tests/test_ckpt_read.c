/* test_ckpt_read.c - reading checkpoints back (src/ckpt_read.c, with src/ckpt_write.c that
 * writes them): a bit-exact save/load round trip, resume equal to an uninterrupted run, the
 * optimizer, early-stopping and batch norm state, and damaged and mismatched files each refused
 * with exactly one message line and no HDF5 error stack. Files go to a fresh directory under
 * /tmp, removed at the end. */
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
#include "ot_h5.h"
#include "ot_optim.h"
#include "ot_outdir.h"
#include "ot_test.h"
#include "ckpt_test.h"
#include "ot_train.h"

static int setup(void)
{
    ot_gemm_init();
    return ot_test_scratch_init("ckpt");
}

/* Save then load: parameters, PRNG, data order and the whole position come back bit for
 * bit, into a trainer that started from other parameters and another PRNG state. */
static void test_roundtrip(void)
{
    ot_trainer_t a, b;
    char p[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer(&a, 1, 50, 600) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&a, 1) == 0);
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

    CU_ASSERT_FATAL(ot_ck_make_trainer(&b, 2, 50, 600) == 0);
    CU_ASSERT(!ot_ck_params_equal(&a.net, &b.net)); /* guard: the load has something to do */
    CU_ASSERT(memcmp(&a.rng, &b.rng, sizeof a.rng) != 0);
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &b.net));
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
    /* the config it was trained with, as written; none from a file that is not there */
    char *text = ot_ckpt_config_text(p), *want = ot_config_to_ini(&a.cfg);
    CU_ASSERT_PTR_NOT_NULL(text);
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    if (text)
        CU_ASSERT_STRING_EQUAL(text, want);
    free(text);
    free(want);
    char none[300];
    ot_test_path(none, sizeof none, "not-there.h5");
    CU_ASSERT_PTR_NULL(ot_ckpt_config_text(none));

    /* the parameters alone, into a bare network (what eval does) */
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &a.cfg, NULL) == 0);
    CU_ASSERT_EQUAL(ot_ckpt_load_params(p, &net), 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &net));
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
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 7, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&a, 3) == 0);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 7, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&b, 1) == 0);
    CU_ASSERT_FATAL(ot_ckpt_save(&b, dir, 0, NULL) == 0);
    ot_trainer_free(&b);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&c, 7, 50, 600, opts) == 0);
    snprintf(p, sizeof p, "%s/latest.h5", dir);
    CU_ASSERT_FATAL(ot_ckpt_load(p, &c) == 0);
    CU_ASSERT_EQUAL(c.epoch, 1);
    CU_ASSERT(!ot_ck_params_equal(&a.net, &c.net));
    CU_ASSERT_FATAL(ot_ck_run_epochs(&c, 2) == 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &c.net));
    CU_ASSERT(memcmp(&a.rng, &c.rng, sizeof a.rng) == 0);
    CU_ASSERT(memcmp(a.order, c.order, a.train.n * sizeof *a.order) == 0);
    CU_ASSERT_EQUAL(a.step, c.step);
    CU_ASSERT_EQUAL(a.samples_seen, c.samples_seen);
    CU_ASSERT_EQUAL(a.optim.t, c.optim.t);
    size_t bufs = ot_optim_n_buffers(&a.optim);
    if (bufs >= 1)
        CU_ASSERT(ot_ck_blocks_equal(a.optim.m, c.optim.m, a.net.n_params));
    if (bufs >= 2)
        CU_ASSERT(ot_ck_blocks_equal(a.optim.v, c.optim.v, a.net.n_params));
    if (a.best_params) {
        CU_ASSERT(ot_ck_blocks_equal(a.best_params, c.best_params, a.net.n_params));
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
    resume_exact("resume-adam", ot_ck_adam_opts);
}

static void test_resume_exact_nesterov(void)
{
    resume_exact("resume-nesterov", ot_ck_momentum_opts);
}

static volatile sig_atomic_t stop_flag;

/* Sets the stop flag after the third step of an epoch, as SIGINT would. */
static void stop_after_3(const ot_trainer_t *t, size_t done, size_t total, void *arg)
{
    (void)t, (void)total, (void)arg;
    if (done == 3)
        stop_flag = 1;
}

/* Stopped after three steps of epoch 2 (the trainer's interrupt flag, which SIGINT sets),
 * saved, loaded into a new trainer and finished: the same parameters, optimizer state,
 * position and epoch statistics as an uninterrupted run, bit for bit, with adam, dropout and
 * shifted images, whose masks and shifts are keyed by the step. (tests/signals.sh stops real
 * runs, but where its signal lands in an epoch is up to the clock.) */
static void test_resume_mid_epoch(void)
{
    const char *const opts[] = {"training.optimizer=adam", "model.dropout=0.2",
                                "training.augment_shift=1", "training.epochs=2", NULL};
    ot_trainer_t a, b, c;
    ot_epoch_stats_t sa, sc;
    char p[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 5, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&a, 1) == 0);
    CU_ASSERT_FATAL(ot_trainer_epoch(&a, &sa, NULL, NULL) == 0);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 5, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&b, 1) == 0);
    stop_flag = 0;
    b.interrupt = &stop_flag;
    CU_ASSERT_EQUAL_FATAL(ot_trainer_epoch(&b, &sc, stop_after_3, NULL), OT_EINTR);
    CU_ASSERT_EQUAL_FATAL(b.batch_in_epoch, 3);
    ot_test_path(p, sizeof p, "mid.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&b, p) == 0);
    ot_trainer_free(&b);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&c, 5, 50, 600, opts) == 0);
    CU_ASSERT_FATAL(ot_ckpt_load(p, &c) == 0);
    CU_ASSERT_EQUAL(c.batch_in_epoch, 3);
    CU_ASSERT(!ot_ck_params_equal(&a.net, &c.net)); /* guard: nine steps still to come */
    CU_ASSERT_FATAL(ot_trainer_epoch(&c, &sc, NULL, NULL) == 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &c.net));
    CU_ASSERT(ot_ck_blocks_equal(a.optim.m, c.optim.m, a.net.n_params));
    CU_ASSERT(ot_ck_blocks_equal(a.optim.v, c.optim.v, a.net.n_params));
    CU_ASSERT_EQUAL(a.optim.t, c.optim.t);
    CU_ASSERT_EQUAL(a.step, c.step);
    CU_ASSERT_EQUAL(a.samples_seen, c.samples_seen);
    CU_ASSERT(memcmp(&a.rng, &c.rng, sizeof a.rng) == 0);
    CU_ASSERT(memcmp(a.step_loss, c.step_loss, ot_trainer_batches(&a) * sizeof *a.step_loss) ==
              0);
    CU_ASSERT(memcmp(&sa.train_loss, &sc.train_loss, sizeof sa.train_loss) == 0);
    CU_ASSERT(memcmp(&sa.train_acc, &sc.train_acc, sizeof sa.train_acc) == 0);
    CU_ASSERT(memcmp(&sa.test_loss, &sc.test_loss, sizeof sa.test_loss) == 0);
    ot_trainer_free(&a);
    ot_trainer_free(&c);
}

/* A checkpoint written inside an epoch continues only at the batch size it was written with
 * (another would train some of the epoch's samples twice and skip others: the old reader
 * resumed it, and reported a train accuracy of 120%); one written at an epoch's end takes any
 * batch size, and the learning-rate schedule then continues from the position in epochs, not
 * from the count of steps of the other size. */
static void test_batch_size_change(void)
{
    const char *const warm[] = {"training.warmup_epochs=3", "training.epochs=3", NULL};
    const char *const warm25[] = {"training.warmup_epochs=3", "training.epochs=3",
                                  "training.batch_size=25", NULL};
    ot_trainer_t a, b;
    char mid[256], end[256], bad[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 3, 50, 600, warm) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&a, 1) == 0);
    ot_test_path(end, sizeof end, "bs-end.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, end) == 0);
    a.batch_in_epoch = 3; /* as SIGINT leaves it: three batches of 50 into epoch 2 */
    a.step += 3;
    a.samples_seen += 150;
    ot_test_path(mid, sizeof mid, "bs-mid.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, mid) == 0);
    a.samples_seen -= 1; /* a position that no run writes */
    ot_test_path(bad, sizeof bad, "bs-bad.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, bad) == 0);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 3, 50, 600, warm25) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(mid, &b), OT_ECONFIG,
                       "written inside epoch 2 after 3 batches of 50 samples; "
                       "training.batch_size 25 would train some of that epoch's samples twice "
                       "and skip others: finish the epoch first (--set training.batch_size=50 "
                       "--epochs 2), then resume from there at 25");
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &b), OT_EFORMAT,
                       "/state/samples_seen 749 does not fit /state/epoch 1 and "
                       "/state/batch_in_epoch 3 with 600 training samples");
    /* at the epoch's end: 24 batches of 25 an epoch, the schedule at epoch 1.0, not 0.5 */
    CU_ASSERT_EQUAL_FATAL(ot_ckpt_load(end, &b), 0);
    CU_ASSERT_EQUAL(b.step, 12);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&b, 1) == 0);
    CU_ASSERT_DOUBLE_EQUAL(b.step_lr, ot_schedule_lr(&b.cfg, 2 * 24 - 1, 24), 0);
    CU_ASSERT(b.step_lr != ot_schedule_lr(&b.cfg, 12 + 24 - 1, 24)); /* guard */
    ot_trainer_free(&b);
    /* the same batch size resumes the mid-epoch checkpoint */
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 3, 50, 600, warm) == 0);
    CU_ASSERT_EQUAL(ot_ckpt_load(mid, &b), 0);
    CU_ASSERT_EQUAL(b.batch_in_epoch, 3);
    ot_trainer_free(&b);
    ot_trainer_free(&a);
}

/* The optimizer's state and the early-stopping state come back bit for bit; a config with
 * another optimizer is refused. */
static void test_roundtrip_optim(void)
{
    ot_trainer_t a, b;
    char p[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 11, 50, 600, ot_ck_adam_opts) == 0);
    CU_ASSERT_FATAL(ot_ck_run_epochs(&a, 2) == 0);
    CU_ASSERT_FATAL(a.optim.m && a.optim.v && a.best_params);
    CU_ASSERT(a.best_epoch >= 1);
    ot_test_path(p, sizeof p, "adam.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 12, 50, 600, ot_ck_adam_opts) == 0);
    CU_ASSERT(!ot_ck_blocks_equal(a.optim.m, b.optim.m, a.net.n_params)); /* guard */
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &b.net));
    CU_ASSERT(ot_ck_blocks_equal(a.optim.m, b.optim.m, a.net.n_params));
    CU_ASSERT(ot_ck_blocks_equal(a.optim.v, b.optim.v, a.net.n_params));
    CU_ASSERT(ot_ck_blocks_equal(a.best_params, b.best_params, a.net.n_params));
    CU_ASSERT_EQUAL(b.optim.t, a.optim.t);
    CU_ASSERT_EQUAL(b.best_epoch, a.best_epoch);
    CU_ASSERT(memcmp(&a.best_val_loss, &b.best_val_loss, sizeof a.best_val_loss) == 0);
    CU_ASSERT_EQUAL(b.stopped, 0);
    ot_ckpt_info_t in;
    CU_ASSERT_EQUAL(ot_ckpt_info(p, &in), 0);
    CU_ASSERT_EQUAL(in.best_epoch, a.best_epoch);
    ot_trainer_free(&b);

    /* another optimizer in the config */
    CU_ASSERT_FATAL(ot_ck_make_trainer(&b, 12, 50, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &b), OT_ECONFIG,
                       "trained with the adam optimizer but the config's training.optimizer is "
                       "sgd");
    ot_trainer_free(&b);
    /* the run's validation split is part of its training set size */
    const char *const no_val[] = {"training.optimizer=adam", NULL};
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 12, 50, 600, no_val) == 0);
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
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 21, 50, 600, bn) == 0);
    CU_ASSERT_FATAL(a.net.n_state > 0 && a.net.n_state_tensors == 2);
    CU_ASSERT_PTR_NOT_NULL(ot_net_tensor(&a.net, "bn1/gamma"));
    for (size_t k = 0; k < a.net.n_state_tensors; k++) /* the tensors, not the padding */
        for (size_t i = 0; i < a.net.state_tensors[k].size; i++)
            a.net.state[a.net.state_tensors[k].off + i] = 0.25f * (float)(i + 7 * k) - 3.0f;
    for (size_t i = 0; i < a.net.n_params; i++)
        a.net.params[i] += 1e-3f * (float)(i % 17);
    ot_test_path(p, sizeof p, "bn.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);

    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 22, 50, 600, bn) == 0);
    CU_ASSERT(!ot_ck_blocks_equal(a.net.state, b.net.state, a.net.n_state)); /* guard */
    CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), 0);
    CU_ASSERT(ot_ck_params_equal(&a.net, &b.net));
    CU_ASSERT(ot_ck_blocks_equal(a.net.state, b.net.state, a.net.n_state));

    CU_ASSERT_FATAL(ot_ck_make_trainer(&plain, 21, 50, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &plain), OT_ECONFIG,
                       "the checkpoint's model is 'affine 50, batchnorm, relu, dropout 0.2, "
                       "affine 10' and the config's 'affine 50, relu, affine 10' (layer 2: "
                       "batchnorm in the checkpoint, relu in the config)");
    ot_test_path(q, sizeof q, "plain.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&plain, q) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load_params(q, &b.net), OT_ECONFIG,
                       "(layer 2: relu in the checkpoint, batchnorm in the config)");
    ot_trainer_free(&plain);
    ot_trainer_free(&a);
    ot_trainer_free(&b);
}

/* A model that differs from the checkpoint's only where the tensors cannot tell (another
 * activation, another pooling, a layer without parameters more or less, a pooling stride, a
 * pooling window that gives the same shape) is refused too, in one line naming both models
 * and the first layer that differs (until 2026-12 they loaded, and eval, predict, export and
 * resume went on with the wrong model; the window until stop 42); so is a convolution's
 * kernel and padding that give the same shape, which the tensors' shapes caught later; what
 * does not change what the layers compute once trained (a dropout rate, Winograd's
 * algorithm) loads. */
static void test_other_layers(void)
{
    static const struct {
        const char *trained, *loaded, *want;
    } cases[] = {
        {"model.activation=relu", "model.activation=sigmoid",
         "the checkpoint's model is 'affine 50, relu, affine 10' and the config's 'affine 50, "
         "sigmoid, affine 10' (layer 2: relu in the checkpoint, sigmoid in the config); expected "
         "the checkpoint's layers, which its attribute config holds"},
        {"model.layers=conv 2 3x3, relu, maxpool 2, affine 10",
         "model.layers=conv 2 3x3, relu, avgpool 2, affine 10",
         "(layer 3: maxpool in the checkpoint, avgpool in the config)"},
        {"model.layers=conv 2 3x3, relu, maxpool 2, affine 10",
         "model.layers=conv 2 3x3, maxpool 2, affine 10",
         "(layer 2: relu in the checkpoint, maxpool in the config)"},
        {"model.layers=conv 2 3x3, relu, maxpool 2, affine 10",
         "model.layers=conv 2 3x3, relu, maxpool 2, relu, affine 10",
         "(layer 4: affine in the checkpoint, relu in the config)"},
        {"model.layers=conv 2 3x3, relu, affine 10, relu", "model.layers=conv 2 3x3, relu, affine 10",
         "(4 layers in the checkpoint, 3 in the config)"},
        {"model.layers=conv 2 3x3, relu, maxpool 2, avgpool 13, affine 10",
         "model.layers=conv 2 3x3, relu, maxpool 2 stride 1, avgpool 25, affine 10",
         "(layer 3, maxpool1: output 13x13x2 in the checkpoint, 25x25x2 in the config)"},
        {"model.layers=conv 2 3x3, relu, maxpool 2, affine 10",
         "model.layers=conv 2 3x3, relu, maxpool 14 stride 1, affine 10",
         "(layer 3, maxpool1: maxpool 2x2 stride 2 in the checkpoint, maxpool 14x14 stride 1 in "
         "the config)"},
        {"model.layers=conv 2 3x3 pad 1, relu, affine 10",
         "model.layers=conv 2 5x5 pad 2, relu, affine 10",
         "(layer 1, conv1: conv 2 3x3 stride 1 pad 1 in the checkpoint, conv 2 5x5 stride 1 pad "
         "2 in the config)"},
        {"model.layers=affine 20, relu, dropout 0.5, affine 10",
         "model.layers=affine 20, relu, dropout 0.2, affine 10", NULL},
        {"model.layers=conv 4 3x3 pad 1, relu, affine 10",
         "model.layers=conv 4 3x3 pad 1 winograd, relu, affine 10", NULL},
    };
    char p[256];
    ot_test_path(p, sizeof p, "layers.h5");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *const trained[] = {cases[i].trained, NULL}, *const loaded[] = {cases[i].loaded,
                                                                                   NULL};
        ot_trainer_t a, b;
        CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&a, 31, 50, 100, trained) == 0);
        CU_ASSERT_FATAL(ot_ckpt_write(&a, p) == 0);
        CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&b, 32, 50, 100, loaded) == 0);
        if (cases[i].want) {
            OT_EXPECT_ONE_LINE(ot_ckpt_load_params(p, &b.net), OT_ECONFIG, cases[i].want);
            OT_EXPECT_ONE_LINE(ot_ckpt_load(p, &b), OT_ECONFIG, cases[i].want);
        } else {
            CU_ASSERT_EQUAL(ot_ckpt_load(p, &b), OT_OK);
            CU_ASSERT(ot_ck_params_equal(&a.net, &b.net));
        }
        ot_trainer_free(&a);
        ot_trainer_free(&b);
    }
}

/* Damage one thing of a good checkpoint with the HDF5 API. */
static int damage(const char *good, const char *bad, const char *what)
{
    if (ot_ck_copy_file(good, bad, 0))
        return -1;
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    herr_t r = 0;
    if (strncmp(what, "order-dup", 9) == 0) { /* "order-dup-stamped": with a new checksum */
        hid_t d = H5Dopen2(f, "/state/order", H5P_DEFAULT);
        uint32_t *o = malloc(600 * sizeof *o);
        r = d >= 0 && o ? H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, o) : -1;
        if (r >= 0) {
            o[5] = o[6];
            r = H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, o);
        }
        if (r >= 0 && strcmp(what, "order-dup-stamped") == 0)
            r = ot_h5_crc_set(d);
        free(o);
        if (d >= 0)
            H5Dclose(d);
    } else if (strcmp(what, "config-stamped") == 0) { /* a config that lays out no model */
        r = H5Adelete(f, "config");
        if (r >= 0)
            r = ot_h5_attr_str(f, "config", "[model]\nlayers = nope\n");
        if (r >= 0)
            r = ot_h5_attrs_crc_set(f);
    } else if (strncmp(what, "format", 6) == 0) { /* "format-stamped": with a new checksum */
        int v = 9;
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        r = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT, &v) : -1;
        if (a >= 0)
            H5Aclose(a);
        if (r >= 0 && strcmp(what, "format-stamped") == 0)
            r = ot_h5_attrs_crc_set(f);
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
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 9, 50, 600) == 0);
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
    CU_ASSERT_FATAL(ot_ck_copy_file(good, bad, (long)st.st_size / 2) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "truncated");
    OT_EXPECT_ONE_LINE(ot_ckpt_load(ot_test_scratch, &t), OT_EIO, "is a directory");

    CU_ASSERT_FATAL(damage(good, bad, "/state/order") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "/state/order is missing");
    CU_ASSERT_FATAL(damage(good, bad, "/model/affine2/b") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "/model/affine2/b is missing");
    CU_ASSERT_FATAL(damage(good, bad, "/state") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_info(bad, &(ot_ckpt_info_t){0}), OT_EFORMAT,
                       "/state/epoch is missing");
    /* a changed value is damage, caught by its checksum; a consistent file with a bad order
     * (its checksum stamped anew) by the permutation check */
    CU_ASSERT_FATAL(damage(good, bad, "order-dup") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT,
                       "/state/order is damaged: its checksum is 0x");
    CU_ASSERT_FATAL(damage(good, bad, "order-dup-stamped") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "not a permutation");
    CU_ASSERT_FATAL(damage(good, bad, "format") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "the root attributes are damaged");
    CU_ASSERT_FATAL(damage(good, bad, "format-stamped") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, "format_version 9");

    /* the config's model or data do not match the checkpoint's */
    CU_ASSERT_FATAL(ot_ck_make_trainer(&other, 9, 30, 600) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(good, &other), OT_ECONFIG,
                       "the checkpoint's model is 'affine 50, relu, affine 10' and the config's "
                       "'affine 30, relu, affine 10' (layer 1, affine1: output 50 in the "
                       "checkpoint, 30 in the config)");
    /* where the checkpoint's config lays out no model, the groups and tensors tell */
    CU_ASSERT_FATAL(damage(good, bad, "config-stamped") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load_params(bad, &other.net), OT_ECONFIG,
                       "/model/affine1/W has shape 784x50 but the config's model needs 784x30");
    ot_trainer_free(&other);
    const char *const bn[] = {"model.batchnorm=1", NULL};
    CU_ASSERT_FATAL(ot_ck_make_trainer_opts(&other, 9, 50, 600, bn) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load_params(bad, &other.net), OT_ECONFIG,
                       "the config's model has bn1, which the checkpoint's has not (checkpoint: "
                       "affine1, affine2; config: affine1, bn1, affine2)");
    ot_trainer_free(&other);
    CU_ASSERT_FATAL(ot_ck_make_trainer(&other, 9, 50, 500) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(good, &other), OT_ECONFIG, "training set has 500");
    ot_trainer_free(&other);
    /* and a good file still loads after all that */
    CU_ASSERT_EQUAL(ot_ckpt_load(good, &t), 0);
    ot_trainer_free(&t);
}

/* good copied to bad, then changed as a file made elsewhere may be, its checksums renewed
 * (they pass verification: the reader's own checks must refuse them): "elink" /model/affine2/b
 * an external link, "soft" a soft link to /model/affine1/b, "deflate" the same values
 * compressed, "version" a 2000-byte omptrain_version. 0 or -1. */
static int craft(const char *good, const char *bad, const char *what)
{
    if (ot_ck_copy_file(good, bad, 0))
        return -1;
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    const char *b = "/model/affine2/b";
    herr_t r = 0;
    if (strcmp(what, "version") == 0) {
        char text[2000];
        memset(text, 'v', sizeof text);
        hid_t t = H5Tcopy(H5T_C_S1), one = H5Screate(H5S_SCALAR), a;
        H5Tset_size(t, sizeof text);
        r = H5Adelete(f, "omptrain_version");
        if (r >= 0 && (a = H5Acreate2(f, "omptrain_version", t, one, H5P_DEFAULT,
                                      H5P_DEFAULT)) >= 0) {
            r = H5Awrite(a, t, text);
            H5Aclose(a);
        }
        H5Sclose(one);
        H5Tclose(t);
        if (r >= 0)
            r = ot_h5_attrs_crc_set(f);
    } else if (strcmp(what, "deflate") == 0) {
        float v[10];
        hsize_t n = 10;
        hid_t d = H5Dopen2(f, b, H5P_DEFAULT), dcpl = H5Pcreate(H5P_DATASET_CREATE),
              s = H5Screate_simple(1, &n, NULL);
        r = d >= 0 ? H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) : -1;
        if (d >= 0)
            H5Dclose(d);
        H5Pset_chunk(dcpl, 1, &n);
        H5Pset_deflate(dcpl, 1);
        if (r >= 0)
            r = H5Ldelete(f, b, H5P_DEFAULT);
        if (r >= 0 && (d = H5Dcreate2(f, b, H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl,
                                      H5P_DEFAULT)) >= 0) {
            r = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            hid_t one = H5Screate(H5S_SCALAR);
            hid_t a = H5Acreate2(d, OT_H5_CRC, H5T_STD_U32LE, one, H5P_DEFAULT, H5P_DEFAULT);
            uint32_t crc = 0;
            if (a >= 0) {
                H5Awrite(a, H5T_NATIVE_UINT32, &crc); /* any value: the storage comes first */
                H5Aclose(a);
            }
            H5Sclose(one);
            H5Dclose(d);
        }
        H5Pclose(dcpl);
        H5Sclose(s);
    } else {
        r = H5Ldelete(f, b, H5P_DEFAULT);
        if (r >= 0)
            r = strcmp(what, "elink") == 0
                    ? H5Lcreate_external("/nonexistent/omptrain-other.h5", "/b", f, b,
                                         H5P_DEFAULT, H5P_DEFAULT)
                    : H5Lcreate_soft("/model/affine1/b", f, b, H5P_DEFAULT, H5P_DEFAULT);
    }
    return H5Fclose(f) < 0 || r < 0 ? -1 : 0;
}

/* A checkpoint from someone else: links that leave the file or are not omptrain's, storage
 * omptrain never writes, strings longer than it writes: each refused in one line before HDF5
 * follows, decompresses or allocates them. */
static void test_from_elsewhere(void)
{
    ot_trainer_t t;
    char good[256], bad[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 9, 50, 600) == 0);
    ot_test_path(good, sizeof good, "good.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, good) == 0);
    ot_test_path(bad, sizeof bad, "crafted.h5");
    CU_ASSERT_FATAL(craft(good, bad, "elink") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT,
                       "/model/affine2/b is an external link (to another file), expected an "
                       "object in this file");
    CU_ASSERT_FATAL(craft(good, bad, "soft") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT,
                       "/model/affine2/b is a soft link, expected an object in this file");
    CU_ASSERT_FATAL(craft(good, bad, "deflate") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT,
                       "/model/affine2/b is compressed or filtered (1 filter), which omptrain "
                       "never writes");
    CU_ASSERT_FATAL(craft(good, bad, "version") == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_info(bad, &(ot_ckpt_info_t){0}), OT_EFORMAT,
                       "attribute omptrain_version of / is a string of 2000 bytes, expected 1 "
                       "to 1024");
    CU_ASSERT_EQUAL(ot_ckpt_load(good, &t), 0);
    ot_trainer_free(&t);
}

/* Only a regular file is read (ot_verify_regular, as verify): a FIFO had made eval, predict,
 * export and --resume wait for a writer for ever (fopen blocks). The FIFO is held open here
 * for reading and writing with bytes in it, so that a reader that opens it reads them (and
 * does not hang this test); a character device likewise. */
static void test_not_a_regular_file(void)
{
    ot_trainer_t t;
    char path[256];
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 3, 20, 300) == 0);
    ot_test_path(path, sizeof path, "fifo.h5");
    int fd = ot_test_fifo(path);
    CU_ASSERT_FATAL(fd >= 0);
    const char *want = "fifo.h5: is a FIFO (named pipe), expected a checkpoint file";
    OT_EXPECT_ONE_LINE(ot_ckpt_load(path, &t), OT_EIO, want);
    OT_EXPECT_ONE_LINE(ot_ckpt_load_params(path, &t.net), OT_EIO, want);
    OT_EXPECT_ONE_LINE(ot_ckpt_info(path, &(ot_ckpt_info_t){0}), OT_EIO, want);
    CU_ASSERT_PTR_NULL(ot_ckpt_config_text(path));
    close(fd);
    ot_test_path(path, sizeof path, "chardev.h5");
    CU_ASSERT_FATAL(ot_test_chardev(path, 0) == 0);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(path, &t), OT_EIO,
                       "chardev.h5: is a character device, expected a checkpoint file");
    ot_trainer_free(&t);
}

static int printed_ck; /* calls of count_printer */

static herr_t count_printer(hid_t stack, void *data)
{
    (void)stack;
    (*(int *)data)++;
    return 0;
}

/* The readers by path (ot_ckpt_info, ot_ckpt_load_params, ot_ckpt_load) print one line of
 * their own and put the caller's HDF5 error printer back on every way out: the file missing,
 * a directory, not HDF5, a good one. */
static void test_printer_back(void)
{
    ot_trainer_t t;
    ot_ckpt_info_t info;
    char good[256], junk[256], missing[256], dir[256];
    H5E_auto2_t fn0, fn;
    void *data0, *data;
    CU_ASSERT_FATAL(ot_ck_make_trainer(&t, 3, 50, 600) == 0);
    ot_test_path(good, sizeof good, "printer.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, good) == 0);
    ot_test_path(junk, sizeof junk, "printer.txt");
    FILE *fp = fopen(junk, "w");
    CU_ASSERT_FATAL(fp != NULL);
    fputs("not HDF5\n", fp);
    fclose(fp);
    ot_test_path(missing, sizeof missing, "printer-missing.h5");
    ot_test_path(dir, sizeof dir, "");
    CU_ASSERT_FATAL(H5Eget_auto2(H5E_DEFAULT, &fn0, &data0) >= 0);
    CU_ASSERT_FATAL(H5Eset_auto2(H5E_DEFAULT, count_printer, &printed_ck) >= 0);
    const char *paths[] = {missing, dir, junk, good};
    const int want[] = {OT_EIO, OT_EIO, OT_EFORMAT, OT_OK};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) {
            printed_ck = 0;
            const int muted = ot_error_mute(1);
            int rc = k == 0 ? ot_ckpt_info(paths[i], &info)
                     : k == 1 ? ot_ckpt_load_params(paths[i], &t.net)
                              : ot_ckpt_load(paths[i], &t);
            ot_error_mute(muted);
            CU_ASSERT_EQUAL(rc, want[i]);
            CU_ASSERT_EQUAL(printed_ck, 0); /* silenced while it read */
            CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &fn, &data) >= 0);
            CU_ASSERT(fn == count_printer && data == &printed_ck);
        }
    printed_ck = 0;
    CU_ASSERT(H5Fopen(missing, H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
    CU_ASSERT_EQUAL(printed_ck, 1); /* guard: the printer is called on a failure */
    H5Eset_auto2(H5E_DEFAULT, fn0, data0);
    ot_trainer_free(&t);
}

OT_TEST_SUITE(ckpt_read, setup, ot_test_scratch_free,
              {"save then load is bit-exact", test_roundtrip},
              {"resume equals an uninterrupted run", test_resume_exact},
              {"resume equals an uninterrupted run: adam, cosine, early stopping",
               test_resume_exact_adam},
              {"resume equals an uninterrupted run: nesterov, step schedule",
               test_resume_exact_nesterov},
              {"resume inside an epoch equals an uninterrupted run", test_resume_mid_epoch},
              {"inside an epoch, resume only at its batch size", test_batch_size_change},
              {"optimizer and early-stopping state round trip", test_roundtrip_optim},
              {"batch norm state round trip", test_batchnorm},
              {"a model other than the checkpoint's where the tensors cannot tell",
               test_other_layers},
              {"bad files: one line each", test_bad_files},
              {"files from elsewhere: links, storage, strings", test_from_elsewhere},
              {"readers by path put HDF5's error printer back", test_printer_back},
              {"only a regular file is read", test_not_a_regular_file})
