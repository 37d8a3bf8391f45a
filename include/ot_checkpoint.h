/* ot_checkpoint.h - what a run leaves on disk, in HDF5 (docs/hdf5.md has the full layout):
 *
 *   RUN_DIR/checkpoint-eNNNN.h5  the run's parameters and running statistics (/model), the
 *                                optimizer and its buffers (/optimizer) and position (/state:
 *                                epoch, step, PRNG, data order, early stopping), enough to
 *                                resume bit for bit; written atomically (temp file, fsync,
 *                                rename, fsync of the directory), the last output.keep + 1 kept
 *   RUN_DIR/latest.h5            symlink to the newest checkpoint, replaced atomically
 *   RUN_DIR/history.h5           the loss curves: /steps/{step,loss} and /epochs/<metric>,
 *                                growing 1-D datasets appended and flushed after every epoch
 *
 * Every function reports its own failures once through ot_error() ("path: what, expected what")
 * with HDF5's error printer silenced, and returns 0 or a negative OT_E* code. HDF5 is called
 * from the master thread only. */
#ifndef OT_CHECKPOINT_H
#define OT_CHECKPOINT_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_net.h"
#include "ot_train.h"

#define OT_CKPT_FORMAT 1    /* root attribute format_version of checkpoints */
#define OT_HISTORY_FORMAT 1 /* root attribute format_version of history.h5 */
#define OT_HISTORY_METRICS 11 /* datasets under /epochs */

/* ---------------------------------------------------------------- output directory */

/* The run's output directory: c->out_dir, or runs/<config file name without .ini> when it is
 * empty. Returns 0, or OT_ECONFIG when the name does not fit in n bytes (message printed). */
int ot_output_dir(const ot_config_t *c, char *dir, size_t n);

/* Create dir with its parents (like mkdir -p) and prove that files can be created in it by
 * creating and removing a probe file. Returns 0 or OT_EIO with one line naming the directory
 * and the reason ("Not a directory", "Read-only file system", ...). */
int ot_output_dir_prepare(const char *dir);

/* ---------------------------------------------------------------- checkpoints */

/* What a checkpoint says about itself, read without building a network. */
typedef struct {
    int format_version;     /* root attribute format_version */
    char version[32];       /* root attribute omptrain_version */
    char created[32];       /* root attribute created, ISO-8601 UTC */
    int threads;            /* root attribute threads: OpenMP threads of the writer */
    uint32_t shards;        /* root attribute shards: the batch split of the writer */
    uint64_t seed;          /* root attribute seed */
    int epoch;              /* /state/epoch: epochs completed */
    size_t batch_in_epoch;  /* /state/batch_in_epoch */
    uint64_t step;          /* /state/step: optimizer steps done */
    int best_epoch;         /* /state/best_epoch: early stopping's best epoch (0: none) */
    int stopped;            /* /state/stopped: early stopping ended the run */
} ot_ckpt_info_t;

/* Read a checkpoint's root attributes and position. Returns 0, OT_EIO (the file cannot be
 * opened), OT_EFORMAT (not HDF5, truncated or damaged, not an omptrain checkpoint, another
 * format_version, an attribute or dataset missing or malformed); message printed. */
int ot_ckpt_info(const char *path, ot_ckpt_info_t *info);

/* Read /model into net's parameters and running statistics (batch norm). Every tensor of net
 * must be in the file with the same shape and a 32-bit float type, and the file must hold no
 * other layer. Returns 0, OT_ECONFIG ("path: /model/affine1/W has shape 784x100 but the
 * config's model needs 784x50", a layer count that differs, batch norm on one side only), or
 * the codes of ot_ckpt_info; net's parameters are unspecified after a failure. */
int ot_ckpt_load_params(const char *path, ot_net_t *net);

/* Restore a checkpoint into t, which ot_trainer_init built from a config: parameters (as
 * ot_ckpt_load_params), the optimizer's update count and buffers (its name must be the
 * config's training.optimizer, else OT_ECONFIG), the position, the PRNG state, the data order
 * and the early-stopping state, so that training continues exactly where the writer stopped.
 * The data order must have as many entries as t's training set (else OT_ECONFIG) and be a
 * permutation of it (else OT_EFORMAT); batch_in_epoch must lie inside an epoch of t's batch
 * size. Returns 0 or the codes above; t's run state is unspecified after a failure. */
int ot_ckpt_load(const char *path, ot_trainer_t *t);

/* Write t as a checkpoint file at path, replacing whatever is there, and fsync it (not
 * atomic: ot_ckpt_save is, for a run's checkpoints). The file is built in memory with HDF5's
 * core driver and written with write(2), so a disk error is a plain errno and HDF5 is left
 * in a sound state; the image costs the file's size in memory while it lasts. Returns 0,
 * OT_EINVAL (a tensor name is not a safe HDF5 path), OT_ENOMEM or OT_EIO; on failure the
 * file at path may be incomplete. */
int ot_ckpt_write(const ot_trainer_t *t, const char *path);

/* What ot_ckpt_save did. */
typedef struct {
    char path[OT_PATH_MAX + 32]; /* the checkpoint written: DIR/checkpoint-eNNNN.h5 */
    uint64_t bytes;              /* its size */
    double seconds;              /* wall time of the whole save (write, fsyncs, renames) */
    int removed;                 /* older checkpoints removed by the keep rule */
} ot_ckpt_saved_t;

/* Save t atomically as DIR/checkpoint-eNNNN.h5 (NNNN = t->epoch): write a temporary file
 * DIR/.ckpt-<pid>-<n>.tmp, close it, fsync it, rename it into place, fsync DIR; then point
 * DIR/latest.h5 at it (a relative symlink made under a temporary name and renamed over), and
 * keep the `keep` newest older checkpoints besides it: checkpoint files of later epochs
 * (another, abandoned line of the run) and older ones beyond `keep` are removed. A failure
 * removes the temporary file and leaves the previous checkpoints and latest.h5 as they were.
 * saved may be NULL. Returns 0 or the codes of ot_ckpt_write (OT_EIO for the file system
 * steps); message printed. */
int ot_ckpt_save(const ot_trainer_t *t, const char *dir, int keep, ot_ckpt_saved_t *saved);

/* ---------------------------------------------------------------- history */

/* The run's history file, open for the whole run. */
typedef struct {
    hid_t file;             /* history.h5, or H5I_INVALID_HID */
    hid_t step, loss;       /* /steps/step (u64), /steps/loss (f32) */
    hid_t epochs[OT_HISTORY_METRICS]; /* /epochs/<metric>, in the order of ot_history_metrics */
    uint64_t n_steps;       /* rows of the /steps datasets */
    uint64_t n_epochs;      /* rows of the /epochs datasets */
    uint64_t last_step;     /* largest step number recorded; 0 when none */
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
 * Returns 0, OT_EIO or OT_EFORMAT (an existing history that is not a valid one); message
 * printed. Close with ot_history_close(), also after a failure. */
int ot_history_open(ot_history_t *h, const char *dir, int resume, uint64_t step, int epoch,
                    int *created);

/* Append one epoch: the losses of steps first_step+1 .. first_step+n (loss[i] is step
 * first_step+1+i; steps already recorded are skipped) and the epoch's metrics row, then
 * H5Fflush the file. Returns 0 or OT_EIO (message printed). */
int ot_history_append(ot_history_t *h, uint64_t first_step, const float *loss, size_t n,
                      const ot_epoch_stats_t *st);

/* Close every id; safe on a zeroed or failed history. Returns 0 or OT_EIO when the final
 * close fails (message printed, unless an append failed and said so already).
 * A file whose flush failed leaves HDF5 1.10 unable to terminate cleanly (it crashes in its
 * atexit handler), so a program that appends should call H5dont_atexit() first. */
int ot_history_close(ot_history_t *h);

/* ---------------------------------------------------------------- HDF5 helpers */

/* HDF5's automatic error printer, saved and silenced while omptrain reports errors itself. */
typedef struct {
    H5E_auto2_t fn; /* the printer that was installed */
    void *data;     /* its client data */
} ot_h5_quiet_t;

void ot_h5_quiet(ot_h5_quiet_t *q);   /* save the printer and silence it */
void ot_h5_restore(const ot_h5_quiet_t *q); /* put it back */

/* Write attribute name on obj: a fixed-length NUL-terminated string, or one scalar of
 * file type ftype from *value of memory type mtype. Return 0 or -1 (no message). */
int ot_h5_attr_str(hid_t obj, const char *name, const char *value);
int ot_h5_attr_scalar(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *value);

/* Why the last HDF5 call failed, from the innermost entry of HDF5's error stack: for a file
 * driver error the system's reason ("No space left on device"), else HDF5's description.
 * Call right after the failing call, before another HDF5 call clears the stack. buf holds
 * 128 bytes; returns buf. */
const char *ot_h5_reason(char *buf);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (buf holds at least 21 bytes). */
void ot_h5_utc_now(char *buf, size_t n);

#endif
