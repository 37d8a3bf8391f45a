/* fuzz_ckpt.c - libFuzzer target for the checkpoint loader (ckpt_read.c, with the verifier,
 * input.c's /input reader and h5util.c's checks under it).
 *
 * The input is an HDF5 file image, opened read-only from memory (ot_h5_open_image, HDF5's core
 * driver: no file is written) and given to
 *   1. ot_ckpt_info_h5 (the root attributes and /state, without a network);
 *   2. ot_ckpt_load_h5 into each of three trainers built once, at start-up, from
 *      tests/fuzz/configs/{mlp,bn-adam,cnn}.ini (the configs the seeds were trained with:
 *      plain SGD; batch norm, dropout, adam and the best parameters of early stopping; a
 *      convolution with batch norm over channels and nesterov);
 *   3. ot_ckpt_load_params_h5 into the mlp trainer's network.
 * A checkpoint that loads must agree with what ot_ckpt_info_h5 read from it, and leave the
 * trainer in a state it could train from: its position within the data (batch_in_epoch below
 * the batches of an epoch, the data order a permutation of the training set). Every HDF5 id a reader opened must be closed again. libFuzzer's
 * -malloc_limit_mb (fuzz.sh: 16) fails any single allocation above it: a checkpoint of these
 * runs needs a few KiB, so sizes taken from the file without a check show up there.
 * The mutator is fuzz_h5.h's (HDF5 edits through HDF5's own API, checksums renewed). */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_ckpt"
#include "fuzz_util.h"
#include "fuzz_h5.h"

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_config.h"
#include "ot_train.h"

#define N_TRAINERS 3
static const char *const configs[N_TRAINERS] = {
    "tests/fuzz/configs/mlp.ini", "tests/fuzz/configs/bn-adam.ini", "tests/fuzz/configs/cnn.ini"};
static ot_trainer_t trainers[N_TRAINERS];

static const char *const names[] = {
    "model", "optimizer", "state", "input", "affine1", "affine2", "bn1", "conv1", "W", "b",
    "gamma", "beta", "running_mean", "running_var", "m", "v", "t", "h", "velocity",
    "best_params", "best_state", "order", "rng", "step", "epoch", "batch_in_epoch",
    "samples_seen", "epoch_loss", "epoch_correct", "step_loss", "best_val_loss", "best_epoch",
    "stopped", "mean", "std", "crc32", "format_version", "omptrain_version", "created",
    "threads", "shards", "seed", "config", "name", "learning_rate", "momentum", "beta1",
    "beta2", "epsilon", "weight_decay", "rmsprop_decay", "height", "width", "channels", "flat",
    "normalize", "normalize_by", "crc32_groups",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_names = names;
    fuzz_n_names = sizeof names / sizeof names[0];
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the readers print their own one line */
    for (int i = 0; i < N_TRAINERS; i++) {
        ot_config_t c;
        ot_config_defaults(&c);
        if (ot_config_load(&c, configs[i]) || ot_config_check(&c) ||
            ot_trainer_init(&trainers[i], &c, 1))
            die("cannot build the trainers (run from the repository root)");
    }
    return 0;
}

/* The loaded trainer t must be one that can go on training, and agree with info. */
static void check_loaded(const ot_trainer_t *t, const ot_ckpt_info_t *info)
{
    if (t->epoch != info->epoch || t->step != info->step ||
        t->batch_in_epoch != info->batch_in_epoch || t->best_epoch != info->best_epoch ||
        !t->stopped != !info->stopped)
        die("ot_ckpt_load_h5 and ot_ckpt_info_h5 disagree on the run's position");
    size_t batches = ot_trainer_batches(t);
    if (t->batch_in_epoch >= batches)
        die("ot_ckpt_load_h5 accepted a position past the end of an epoch");
    if (t->epoch < 0 || t->best_epoch < 0 || t->best_epoch > t->epoch)
        die("ot_ckpt_load_h5 accepted impossible epoch numbers");
    unsigned char *seen = calloc(t->train.n, 1);
    if (!seen)
        die("out of memory");
    for (size_t i = 0; i < t->train.n; i++) {
        if (t->order[i] >= t->train.n || seen[t->order[i]])
            die("ot_ckpt_load_h5 accepted a data order that is not a permutation");
        seen[t->order[i]] = 1;
    }
    free(seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long ids = h5_open_ids();
    hid_t f = ot_h5_open_image(data, size, "fuzz-ckpt.h5", 0);
    if (f < 0) {
        if (h5_open_ids() != ids)
            die("a failed open left HDF5 ids behind");
        return 0;
    }
    ot_ckpt_info_t info;
    int have_info = ot_ckpt_info_h5(f, "fuzz-ckpt.h5", &info) == OT_OK;
    for (int i = 0; i < N_TRAINERS; i++) {
        int rc = ot_ckpt_load_h5(f, "fuzz-ckpt.h5", &trainers[i]);
        if (rc == OT_OK) {
            if (!have_info)
                die("ot_ckpt_load_h5 accepted a file ot_ckpt_info_h5 refused");
            check_loaded(&trainers[i], &info);
        }
    }
    (void)ot_ckpt_load_params_h5(f, "fuzz-ckpt.h5", &trainers[0].net);
    H5Fclose(f);
    if (h5_open_ids() != ids)
        die("the checkpoint readers left HDF5 ids open");
    return 0;
}
