/* ot_history.h - RUN_DIR/history.h5, the loss curves: /steps/{step,loss} and
 * /epochs/<metric>, growing 1-D datasets appended and flushed after every epoch. HDF5 is called
 * from the master thread only; every function reports its own failures once. */
#ifndef OT_HISTORY_H
#define OT_HISTORY_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_train.h"

#define OT_HISTORY_FORMAT 2 /* root attribute format_version of history.h5: 2 = every dataset
                               carries a checksum of its rows (OT_H5_CRC), renewed with every
                               epoch appended */
#define OT_HISTORY_METRICS 11 /* datasets under /epochs */

/* The run's history file, open for the whole run. */
typedef struct {
    hid_t file;             /* history.h5, or H5I_INVALID_HID */
    hid_t step, loss;       /* /steps/step (u64), /steps/loss (f32) */
    hid_t epochs[OT_HISTORY_METRICS]; /* /epochs/<metric>, in the order of ot_history_metrics */
    uint64_t n_steps;       /* rows of the /steps datasets */
    uint64_t n_epochs;      /* rows of the /epochs datasets */
    uint64_t last_step;     /* largest step number recorded; 0 when none */
    uint64_t last_epoch;    /* largest epoch number recorded when it was opened; 0 when none */
    uint32_t crc[2 + OT_HISTORY_METRICS]; /* the checksums last written: /steps/step,
                                             /steps/loss, then the /epochs datasets */
    int by_path;            /* opened from path (ot_history_open), so it can be opened again */
    int failed;             /* an append failed (and said so) */
    char path[OT_PATH_MAX + 16]; /* DIR/history.h5, for messages */
} ot_history_t;

/* Names of the /epochs datasets: epoch (u32), train_loss, train_acc, test_loss, test_acc,
 * val_loss, val_acc (NaN without a validation split), lr (of the epoch's last step), seconds,
 * samples_per_s (f64), threads (u32). */
extern const char *const ot_history_metrics[OT_HISTORY_METRICS];

/* Open DIR/history.h5 for a run. A fresh run (resume = 0) creates it, replacing any old one.
 * A resumed run opens the existing file and truncates it to the rows of steps <= step and
 * epochs <= epoch (the checkpoint's counts), so the curve continues without duplicates; when
 * there is no history yet, a new one is created and *created is set (may be NULL).
 * Returns 0, OT_EIO or OT_EFORMAT (an existing history that is not a valid one: first of all
 * ot_history_check_layout's line); message printed. Close with ot_history_close(), also after
 * a failure. */
int ot_history_open(ot_history_t *h, const char *dir, int resume, uint64_t step, int epoch,
                    int *created);

/* ot_history_open's resume of an existing history, on a file already open read-write (from a
 * path, or from memory: ot_h5_open_image), named name in messages: the same checks, and the
 * same cut back to step and epoch. h owns f from then on, also after a failure (close with
 * ot_history_close). Every count the file declares is checked before it is used: the rows are
 * read a block at a time, up to the first one past the checkpoint. Returns 0, OT_EIO or
 * OT_EFORMAT (message printed). */
int ot_history_open_h5(ot_history_t *h, hid_t f, const char *name, uint64_t step, int epoch);

/* Whether the open file f holds what a history's readers read, as create_file writes it: the
 * root attributes format_version (I32LE, 1 or OT_HISTORY_FORMAT), omptrain_version and created
 * (strings), /steps and /epochs, and every dataset of the layout (history.c's head) of
 * exactly its type (ot_h5_type_is) and rank 1, growing (an unlimited maximum size), with as
 * many rows as /steps/step or /epochs/epoch; from format 2 on the root's and every dataset's
 * crc32 (U32LE scalar) too (their values are verify's and check_crcs' to check). 0, or -1
 * with the first thing wrong in why[n] ("/epochs/test_acc is missing (not a complete omptrain
 * history)", "/epochs/test_acc is stored as F32LE, expected F64LE as omptrain writes it (a
 * damaged datatype?)"). No message printed; HDF5's printer is the caller's to silence. verify
 * (ot_verify_h5) calls it on every history, and a resume's open before it appends. */
int ot_history_check_layout(hid_t f, char *why, size_t n);

/* Append one epoch: the losses of steps first_step+1 .. first_step+n (loss[i] is step
 * first_step+1+i; steps already recorded are skipped) and the epoch's metrics row, then
 * H5Fflush the file. Returns 0 or OT_EIO (message printed). A failed append (a full disk)
 * leaves the file with the epochs before, as they were, or says that it may be damaged. */
int ot_history_append(ot_history_t *h, uint64_t first_step, const float *loss, size_t n,
                      const ot_epoch_stats_t *st);

/* Close every id; safe on a zeroed or failed history. Returns 0 or OT_EIO when the final
 * close fails (message printed, unless an append failed and said so already).
 * A file whose flush failed leaves HDF5 1.10 unable to terminate cleanly (it crashes in its
 * atexit handler), so a program that appends should call H5dont_atexit() first. */
int ot_history_close(ot_history_t *h);

#endif
