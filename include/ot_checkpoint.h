/* ot_checkpoint.h - a run's checkpoints, in HDF5 (docs/hdf5.md has the full layout), written
 * by ckpt_write.c, read by ckpt_read.c, saved and rotated by ckpt_save.c. What a run leaves on
 * disk:
 *
 *   RUN_DIR/checkpoint-eNNNN.h5  the run's parameters and running statistics (/model), the
 *                                optimizer and its buffers (/optimizer) and position (/state:
 *                                epoch, step, PRNG, data order, early stopping), the input's
 *                                shape and standardisation (/input), enough to
 *                                resume bit for bit; written atomically (temp file, fsync,
 *                                rename, fsync of the directory), the last output.keep + 1 kept
 *   RUN_DIR/latest.h5            symlink to the newest checkpoint, replaced atomically
 *   RUN_DIR/history.h5           the loss curves (ot_history.h)
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

#define OT_CKPT_FORMAT 2    /* root attribute format_version of checkpoints: 2 = every dataset
                               carries a checksum (OT_H5_CRC), verified on load; 1 (read too,
                               unverified) had none */
#define OT_CKPT_CRC_GROUPS "/input /optimizer" /* the groups whose attributes carry a
                                                  checksum, as the root attribute
                                                  OT_H5_CRC_GROUPS names them (written from
                                                  2026-12-03 on; format 2 files without it
                                                  still load: ot_verify.h) */
#define OT_CKPT_MAX_STRING 1024 /* the longest string attribute read (version, optimizer) */

/* ---------------------------------------------------------------- checkpoints */

/* What a checkpoint says about itself, read without building a network. */
typedef struct {
    int format_version;     /* root attribute format_version */
    char version[32];       /* root attribute omptrain_version */
    char created[32];       /* root attribute created, ISO-8601 UTC */
    int threads;            /* root attribute threads: OpenMP threads of the writer (per
                               process) */
    int processes;          /* root attribute processes: the writer's run's processes (1 when
                               the attribute is missing: written before there were several) */
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

/* The root attribute config of the checkpoint at path (the writer's config as INI text),
 * malloc'd; NULL when it cannot be read (no message: callers use it for notes only). */
char *ot_ckpt_config_text(const char *path);

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
 * size, and a checkpoint written inside an epoch must have been written at t's batch size
 * (else OT_ECONFIG: the rest of the epoch would replay some samples and skip others).
 * Returns 0 or the codes above; t's run state is unspecified after a failure. */
int ot_ckpt_load(const char *path, ot_trainer_t *t);

/* The three readers above on a file already open, read-only (from a path, or from memory:
 * ot_h5_open_image), named name in messages; the file is verified first as they do it, and
 * left open. Same returns, but OT_EIO only for what cannot be read. */
int ot_ckpt_info_h5(hid_t f, const char *name, ot_ckpt_info_t *info);
int ot_ckpt_load_params_h5(hid_t f, const char *name, ot_net_t *net);
int ot_ckpt_load_h5(hid_t f, const char *name, ot_trainer_t *t);

/* Whether the open file f holds what every checkpoint holds whatever its model: the root
 * attributes, /model, /optimizer with its attributes, its update count and the buffers its
 * optimizer keeps (m but for sgd, v for adam and adamw), /state's datasets, and (when there)
 * /input's attributes, each as ckpt_write.c writes it: an attribute or dataset of exactly that
 * type (class, size, byte order and, for numbers, every field of the type: a damaged float
 * datatype that HDF5 still converts from is refused) and rank; and every dataset under /model,
 * /optimizer/m and /v, /state/best_params and /input 32-bit floats (F32LE). The list is the
 * loaders' (docs/hdf5.md); the model's own tensors are checked where the checkpoint's config
 * and /input lay its model out (each under /model, of its shape), and are the loaders' to
 * check against the config they are given. 0, or -1 with the first thing missing or wrong in
 * why[n] ("/state/epoch is missing (not a complete omptrain checkpoint)", "/state/best_val_loss
 * is stored as F64LE of a non-IEEE layout, expected F64LE ..."). No message printed; HDF5's
 * printer is the caller's to silence.
 * verify (ot_verify_h5) calls it on every checkpoint of format 2 on. */
int ot_ckpt_check_layout(hid_t f, char *why, size_t n);

/* Write t as a checkpoint file at path, replacing whatever is there, and fsync it (not
 * atomic: ot_ckpt_save is, for a run's checkpoints). The file is built in memory with HDF5's
 * core driver and written with write(2), so a disk error is a plain errno and HDF5 is left
 * in a sound state; the image costs the file's size in memory while it lasts. Returns 0,
 * OT_EINVAL (a tensor name is not a safe HDF5 path), OT_ENOMEM or OT_EIO; on failure the
 * file at path may be incomplete. */
int ot_ckpt_write(const ot_trainer_t *t, const char *path);

/* ot_ckpt_write to file, a temporary name, with messages naming `name`, the file it will
 * become (what the user knows). */
int ot_ckpt_write_as(const ot_trainer_t *t, const char *file, const char *name);

/* The epoch of a checkpoint file's name, "checkpoint-eNNNN.h5" exactly as ot_ckpt_save names
 * it; -1 for any other name. */
long ot_ckpt_epoch_of(const char *name);

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

/* A resume into DIR from its checkpoint `resumed`, which bears epoch `epoch` in its name:
 * remove DIR's checkpoints of later epochs (the line of the run it leaves, whose history it
 * cuts away at once) and point DIR/latest.h5 at `resumed` when it pointed at one of them,
 * now rather than at the run's first save: a run stopped before that save (killed) then
 * leaves no checkpoint newer than its history, which a later --resume DIR would continue with
 * a gap in the curves. *removed: how many went, *last: the latest epoch among them. Returns
 * 0 or OT_EIO (a file that cannot be removed, latest.h5 that cannot be pointed; message
 * printed). */
int ot_ckpt_drop_later(const char *dir, long epoch, const char *resumed, size_t *removed,
                       long *last);

#endif
