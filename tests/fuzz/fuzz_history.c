/* fuzz_history.c - libFuzzer target for the history reader (history.c): the resume of a run's
 * loss curves, which opens an existing history.h5, checks it and cuts it back to the
 * checkpoint's step and epoch, then appends the next epoch to it.
 *
 * The input is an HDF5 file image, opened read-write in memory (ot_h5_open_image, HDF5's core
 * driver without a backing store: nothing is written to disk) and given to
 * ot_history_open_h5 with a step and epoch chosen by the input's size among a few that fall
 * before, inside and after the seeds' rows (0, mid-epoch, the end, far past it). A history that
 * opens must have kept no step past the checkpoint, and must then take one appended epoch (steps already recorded skipped) and close cleanly.
 * Every HDF5 id a reader opened must be closed again. libFuzzer's -malloc_limit_mb (fuzz.sh:
 * 16) fails any single allocation above it: the rows are read a block at a time, so a
 * history that declares billions of rows shows up there if one is not.
 * The mutator is fuzz_h5.h's (HDF5 edits through HDF5's own API, checksums renewed). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_history"
#include "fuzz_util.h"
#include "fuzz_h5.h"

#include "ot_common.h"
#include "ot_history.h"

static const char *const names[] = {
    "steps", "epochs", "step", "loss", "epoch", "train_loss", "train_acc", "test_loss",
    "test_acc", "val_loss", "val_acc", "lr", "seconds", "samples_per_s", "threads", "crc32",
    "format_version", "omptrain_version", "created",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_names = names;
    fuzz_n_names = sizeof names / sizeof names[0];
    /* a history whose flush failed leaves HDF5 1.10 unable to close at exit (ot_history.h):
     * before any other HDF5 call, which would register the exit handler */
    H5dont_atexit();
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the readers print their own one line */
    return 0;
}

/* The checkpoint's position the history is cut back to: step and epoch. */
static const struct {
    uint64_t step;
    int epoch;
} positions[] = {{0, 0}, {5, 1}, {7, 1}, {10, 2}, {15, 3}, {UINT64_MAX / 2, 1 << 30}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long ids = h5_open_ids();
    hid_t f = ot_h5_open_image(data, size, "fuzz-history.h5", 1);
    if (f < 0) {
        if (h5_open_ids() != ids)
            die("a failed open left HDF5 ids behind");
        return 0;
    }
    const size_t k = size % (sizeof positions / sizeof positions[0]);
    const uint64_t step = positions[k].step;
    const int epoch = positions[k].epoch;
    ot_history_t h;
    if (ot_history_open_h5(&h, f, "fuzz-history.h5", step, epoch) == OT_OK) {
        if (h.last_step > step)
            die("ot_history_open_h5 kept steps past the checkpoint");
        /* the next epoch: 3 steps, the first of them (when the cut kept it) recorded already */
        const uint64_t first = h.last_step > 0 ? h.last_step - 1 : 0;
        const float loss[3] = {0.5f, 0.25f, 0.125f};
        ot_epoch_stats_t st = {.epoch = (int)h.n_epochs + 1, .train_loss = 0.5,
                               .train_acc = 0.5, .test_loss = 0.5, .test_acc = 0.5,
                               .val_loss = NAN, .val_acc = NAN, .lr = 0.1, .seconds = 1,
                               .samples_per_s = 1, .threads = 1};
        if (ot_history_append(&h, first, loss, 3, &st) == OT_OK &&
            h.last_step != first + 3)
            die("ot_history_append recorded another last step than it was given");
    }
    /* h owns f, also after a failure */
    ot_history_close(&h);
    if (h5_open_ids() != ids)
        die("the history reader left HDF5 ids open");
    return 0;
}
