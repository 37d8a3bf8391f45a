/* checkpoint.c - HDF5 checkpoints: the output directory, writing a run's state atomically,
 * reading it back with every dataset checked before it is trusted.
 *
 * File layout (docs/hdf5.md has the full table):
 *   /                       attributes format_version, omptrain_version, created, threads,
 *                           shards, seed, config
 *   /model/affineK/W, b     f32 (in, out), (out): the parameters, one dataset per tensor
 *   /optimizer              attributes name, learning_rate and the hyperparameters;
 *                           t (u64): updates applied; m/..., v/...: the state buffers (if any)
 *                           in the parameters' layout, one dataset per tensor
 *   /state                  epoch (u32), batch_in_epoch, step, samples_seen, epoch_correct
 *                           (u64), epoch_loss (f64), step_loss (f32, batch_in_epoch),
 *                           rng (u64, 4), order (u32, training samples), best_val_loss (f64),
 *                           best_epoch, stopped (u32), best_params/... (with early stopping)
 *   /input                  the sample shape and the standardisation (ot_input.h)
 *
 * Writing builds the file in memory (HDF5's core driver) and writes it with plain write(2),
 * fsync, rename: see build_image for why. */
#include "ot_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_input.h"
#include "ot_optim.h"

/* ---------------------------------------------------------------- HDF5 helpers */

void ot_h5_quiet(ot_h5_quiet_t *q)
{
    if (H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data) < 0) {
        q->fn = NULL;
        q->data = NULL;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ot_h5_restore(const ot_h5_quiet_t *q)
{
    H5Eset_auto2(H5E_DEFAULT, q->fn, q->data);
}

/* Scalar or 1-D dataspace: rank 0 makes a scalar. */
static hid_t make_space(int rank, const hsize_t *dims)
{
    return rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
}

int ot_h5_attr_str(hid_t obj, const char *name, const char *value)
{
    /* a scalar attribute whose type is a NUL-terminated UTF-8 string of the value's length */
    hid_t type = H5Tcopy(H5T_C_S1);
    int rc = -1;
    if (type >= 0 && H5Tset_size(type, strlen(value) + 1) >= 0 &&
        H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0 && H5Tset_cset(type, H5T_CSET_UTF8) >= 0)
        rc = ot_h5_attr_scalar(obj, name, type, type, value);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

int ot_h5_attr_scalar(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *value)
{
    hid_t space = H5I_INVALID_HID, a = H5I_INVALID_HID;
    int rc = -1;
    if ((space = H5Screate(H5S_SCALAR)) < 0 ||
        (a = H5Acreate2(obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        H5Awrite(a, mtype, value) < 0)
        goto fail;
    rc = 0;
fail:
    if (a >= 0)
        H5Aclose(a);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

void ot_h5_utc_now(char *buf, size_t n)
{
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, n, "unknown");
}

/* The innermost HDF5 error of the current stack: for a failed write this is the file
 * driver's, whose text carries the system's reason ("error message = 'No space left on
 * device'"); only that reason is kept when it is there. */
static herr_t innermost(unsigned n, const H5E_error2_t *err, void *arg)
{
    char *buf = arg;
    if (n == 0 && err->desc) {
        const char *m = strstr(err->desc, "error message = '");
        if (m) {
            m += strlen("error message = '");
            size_t len = strcspn(m, "'");
            snprintf(buf, 128, "%.*s", (int)(len < 127 ? len : 127), m);
        } else {
            snprintf(buf, 128, "%s", err->desc);
        }
    }
    return 0;
}

const char *ot_h5_reason(char *buf)
{
    snprintf(buf, 128, "HDF5 error");
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, buf);
    return buf;
}

/* ---------------------------------------------------------------- output directory */

int ot_output_dir(const ot_config_t *c, char *dir, size_t n)
{
    int len;
    if (c->out_dir[0]) {
        len = snprintf(dir, n, "%s", c->out_dir);
    } else {
        const char *base = strrchr(c->path, '/');
        base = base ? base + 1 : c->path;
        size_t blen = strlen(base);
        if (blen > 4 && strcmp(base + blen - 4, ".ini") == 0)
            blen -= 4;
        len = snprintf(dir, n, "runs/%.*s", (int)blen, base);
    }
    if (len < 0 || (size_t)len >= n) {
        ot_error("%s: output.dir: the output directory name is longer than %zu bytes", c->path,
                 n - 1);
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* mkdir of one level; an existing directory is fine, an existing non-directory is ENOTDIR. */
static int mkdir_one(const char *p)
{
    if (mkdir(p, 0777) == 0)
        return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST || err == EROFS || err == EACCES) {
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                return 0;
            errno = ENOTDIR;
            return -1;
        }
    }
    errno = err;
    return -1;
}

int ot_output_dir_prepare(const char *dir)
{
    char p[OT_PATH_MAX + 64];
    if (!dir[0] || strlen(dir) >= OT_PATH_MAX) {
        ot_error("output directory '%s': expected a path of 1 to %d bytes", dir, OT_PATH_MAX - 1);
        return OT_EIO;
    }
    snprintf(p, sizeof p, "%s", dir);
    /* create each prefix in turn, like mkdir -p */
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        int r = mkdir_one(p);
        int err = errno;
        *s = '/';
        if (r) {
            *s = 0;
            ot_error("cannot create the output directory %s: %s: %s", dir, p, strerror(err));
            return OT_EIO;
        }
    }
    if (mkdir_one(p)) {
        ot_error("cannot create the output directory %s: %s", dir, strerror(errno));
        return OT_EIO;
    }
    snprintf(p, sizeof p, "%s/.omptrain-probe-%ld", dir, (long)getpid());
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 && errno == EEXIST && unlink(p) == 0)
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        ot_error("cannot write in the output directory %s: %s", dir, strerror(errno));
        return OT_EIO;
    }
    close(fd);
    unlink(p);
    return OT_OK;
}

/* ---------------------------------------------------------------- writing */

/* Tensor names become HDF5 paths under /model: one or more components of [A-Za-z0-9_-],
 * separated by single slashes; nothing that HDF5 or a shell would read specially. */
static int safe_name(const char *name)
{
    size_t comp = 0;
    if (!*name)
        return 0;
    for (const char *s = name; *s; s++) {
        if (*s == '/') {
            if (comp == 0)
                return 0;
            comp = 0;
            continue;
        }
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
        comp++;
    }
    return comp > 0;
}

/* One dataset, rank 0 (scalar) or 1 to OT_MAX_RANK, written from buf (may be NULL for an empty one).
 * On failure the reason goes to reason[128] before the cleanup clears HDF5's error stack. */
static int write_ds(hid_t loc, const char *name, hid_t lcpl, hid_t ftype, hid_t mtype, int rank,
                    const hsize_t *dims, const void *buf, char *reason)
{
    hid_t space = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = -1;
    if ((space = make_space(rank, dims)) < 0 ||
        (d = H5Dcreate2(loc, name, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto fail;
    if (H5Sget_simple_extent_npoints(space) > 0 &&
        H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        goto fail;
    herr_t closed = H5Dclose(d);
    d = H5I_INVALID_HID;
    if (closed < 0)
        goto fail;
    rc = 0;
fail:
    if (rc)
        ot_h5_reason(reason);
    if (d >= 0)
        H5Dclose(d);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* A block of floats laid out as tensors[0..n) (the parameters, an optimizer buffer, the
 * early-stopping copy: net->tensors; the running statistics: net->state_tensors) as one
 * dataset per tensor under group: group/affine1/W (in, out), group/affine1/b (out), ...
 * `what` names the dataset being written, for the caller's message. */
static int write_block(hid_t f, const char *group, const ot_tensor_t *tensors, size_t n,
                       const float *block, hid_t lcpl, char *what, size_t what_n, char *reason)
{
    for (size_t i = 0; i < n; i++) {
        const ot_tensor_t *ts = &tensors[i];
        hsize_t dims[OT_MAX_RANK];
        for (size_t k = 0; k < OT_MAX_RANK; k++)
            dims[k] = ts->shape[k];
        int len = snprintf(what, what_n, "%s/%s", group, ts->name);
        if (len < 0 || (size_t)len >= what_n) {
            snprintf(reason, 128, "the dataset name is too long");
            return -1;
        }
        if (write_ds(f, what, lcpl, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (int)ts->rank, dims,
                     block + ts->off, reason))
            return -1;
    }
    return 0;
}

/* Build the checkpoint of t as an HDF5 file image in memory (the core driver, no backing
 * store): HDF5 itself never writes to the disk, so a full disk is a plain write(2) error in
 * write_image, never a half-closed HDF5 file (HDF5 1.10 cannot recover from a file whose
 * flush failed: it crashes at exit). *image is malloc'd, owned by the caller. */
static int build_image(const ot_trainer_t *t, const char *path, void **image, size_t *size)
{
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, lcpl = H5I_INVALID_HID,
          fapl = H5I_INVALID_HID;
    char *config = NULL, reason[128] = "", what[128], created[32];
    int rc = OT_EIO;
    *image = NULL;
    snprintf(what, sizeof what, "the file");
    for (size_t i = 0; i < t->net.n_tensors; i++)
        if (!safe_name(t->net.tensors[i].name)) {
            ot_error("%s: tensor name '%s' is not a safe HDF5 path (expected names like "
                     "affine1/W)", path, t->net.tensors[i].name);
            rc = OT_EINVAL;
            goto out;
        }
    if (!(config = ot_config_to_ini(&t->cfg))) {
        ot_error("%s: cannot allocate the config text", path);
        rc = OT_ENOMEM;
        goto out;
    }
    /* grow the image in steps of about the whole checkpoint: parameters, order, 1 MiB */
    size_t increment = (t->net.n_params + t->train.n) * 4 + ((size_t)1 << 20);
    if ((fapl = H5Pcreate(H5P_FILE_ACCESS)) < 0 || H5Pset_fapl_core(fapl, increment, 0) < 0 ||
        (f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        goto fail;

    /* root attributes: who wrote this, when, with what */
    snprintf(what, sizeof what, "the root attributes");
    int format = OT_CKPT_FORMAT, threads = t->threads;
    uint32_t shards = (uint32_t)t->eng.n_shards;
    uint64_t seed = t->cfg.seed;
    ot_h5_utc_now(created, sizeof created);
    if (ot_h5_attr_scalar(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &format) ||
        ot_h5_attr_str(f, "omptrain_version", OT_VERSION) ||
        ot_h5_attr_str(f, "created", created) ||
        ot_h5_attr_scalar(f, "threads", H5T_STD_I32LE, H5T_NATIVE_INT, &threads) ||
        ot_h5_attr_scalar(f, "shards", H5T_STD_U32LE, H5T_NATIVE_UINT32, &shards) ||
        ot_h5_attr_scalar(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed) ||
        ot_h5_attr_str(f, "config", config))
        goto fail;

    /* /model/<tensor name>: each tensor with its true shape, groups made on the way */
    if ((lcpl = H5Pcreate(H5P_LINK_CREATE)) < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0)
        goto fail;
    const ot_net_t *net = &t->net;
    if (write_block(f, "/model", net->tensors, net->n_tensors, net->params, lcpl, what,
                    sizeof what, reason) ||
        write_block(f, "/model", net->state_tensors, net->n_state_tensors, net->state, lcpl,
                    what, sizeof what, reason))
        goto fail;

    /* /optimizer: the update rule, its hyperparameters, its update count and its buffers in
     * the parameters' layout (m: velocity, squared-gradient sum or average, first moment;
     * v: second moment); plain SGD has no buffers */
    const ot_optim_t *o = &t->optim;
    snprintf(what, sizeof what, "/optimizer");
    if ((g = H5Gcreate2(f, "optimizer", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        ot_h5_attr_str(g, "name", ot_optimizer_name(o->kind)) ||
        ot_h5_attr_scalar(g, "learning_rate", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &t->cfg.lr) ||
        ot_h5_attr_scalar(g, "momentum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &o->momentum) ||
        ot_h5_attr_scalar(g, "rmsprop_decay", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &o->decay) ||
        ot_h5_attr_scalar(g, "beta1", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &o->beta1) ||
        ot_h5_attr_scalar(g, "beta2", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &o->beta2) ||
        ot_h5_attr_scalar(g, "epsilon", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &o->eps) ||
        ot_h5_attr_scalar(g, "weight_decay", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                          &o->weight_decay))
        goto fail;
    snprintf(what, sizeof what, "/optimizer/t");
    if (write_ds(g, "t", H5P_DEFAULT, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, NULL, &o->t, reason))
        goto fail;
    H5Gclose(g);
    g = H5I_INVALID_HID;
    size_t n_bufs = ot_optim_n_buffers(o);
    if ((n_bufs >= 1 && write_block(f, "/optimizer/m", net->tensors, net->n_tensors, o->m, lcpl,
                                    what, sizeof what, reason)) ||
        (n_bufs >= 2 && write_block(f, "/optimizer/v", net->tensors, net->n_tensors, o->v, lcpl,
                                    what, sizeof what, reason)))
        goto fail;

    /* /state: the position, the PRNG and the data order */
    snprintf(what, sizeof what, "/state");
    if ((g = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto fail;
    uint32_t epoch = (uint32_t)t->epoch, best_epoch = (uint32_t)t->best_epoch,
             stopped = (uint32_t)t->stopped;
    uint64_t bie = t->batch_in_epoch, correct = t->epoch_correct;
    const struct {
        const char *name;
        hid_t ftype, mtype;
        int rank;     /* 0: scalar */
        hsize_t n;    /* entries of a 1-D dataset */
        const void *buf;
    } items[] = {
        {"epoch", H5T_STD_U32LE, H5T_NATIVE_UINT32, 0, 1, &epoch},
        {"batch_in_epoch", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 1, &bie},
        {"step", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 1, &t->step},
        {"samples_seen", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 1, &t->samples_seen},
        {"epoch_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 1, &t->epoch_loss},
        {"epoch_correct", H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, 1, &correct},
        {"step_loss", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, t->batch_in_epoch, t->step_loss},
        {"rng", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, 4, t->rng.s},
        {"order", H5T_STD_U32LE, H5T_NATIVE_UINT32, 1, t->train.n, t->order},
        {"best_val_loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, 1, &t->best_val_loss},
        {"best_epoch", H5T_STD_U32LE, H5T_NATIVE_UINT32, 0, 1, &best_epoch},
        {"stopped", H5T_STD_U32LE, H5T_NATIVE_UINT32, 0, 1, &stopped},
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        snprintf(what, sizeof what, "/state/%s", items[i].name);
        if (write_ds(g, items[i].name, H5P_DEFAULT, items[i].ftype, items[i].mtype,
                     items[i].rank, &items[i].n, items[i].buf, reason))
            goto fail;
    }
    H5Gclose(g);
    g = H5I_INVALID_HID;
    /* early stopping: the best parameters so far, when the run keeps them */
    if (t->best_params &&
        (write_block(f, "/state/best_params", net->tensors, net->n_tensors, t->best_params, lcpl,
                     what, sizeof what, reason) ||
         write_block(f, "/state/best_params", net->state_tensors, net->n_state_tensors,
                     t->best_state, lcpl, what, sizeof what, reason)))
        goto fail;
    H5Pclose(lcpl);
    lcpl = H5I_INVALID_HID;

    /* /input: the sample shape and the standardisation's statistics (ot_input.h) */
    snprintf(what, sizeof what, "/input");
    if (ot_input_write(f, &t->input, reason))
        goto fail;

    /* the image, then the in-memory file is closed */
    snprintf(what, sizeof what, "the file image");
    ssize_t n;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0)
        goto fail;
    if (!(*image = malloc((size_t)n))) {
        ot_error("%s: cannot allocate %zd bytes for the checkpoint image", path, n);
        rc = OT_ENOMEM;
        goto out;
    }
    if (H5Fget_file_image(f, *image, (size_t)n) != n)
        goto fail;
    *size = (size_t)n;
    herr_t closed = H5Fclose(f);
    f = H5I_INVALID_HID;
    if (closed < 0)
        goto fail;
    rc = OT_OK;
    goto out;
fail:
    if (!reason[0])
        ot_h5_reason(reason);
    ot_error("%s: cannot build %s of the checkpoint in memory: %s", path, what, reason);
    rc = OT_EIO;
out:
    if (rc) {
        free(*image);
        *image = NULL;
    }
    if (g >= 0)
        H5Gclose(g);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (f >= 0)
        H5Fclose(f);
    if (fapl >= 0)
        H5Pclose(fapl);
    free(config);
    return rc;
}

/* Write size bytes to a new file at path and fsync it before closing. */
static int write_image(const char *path, const void *image, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) {
        ot_error("%s: cannot create the checkpoint file: %s", path, strerror(errno));
        return OT_EIO;
    }
    const char *p = image;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ot_error("%s: cannot write the checkpoint (%zu of %zu bytes written): %s", path,
                     size - left, size, w < 0 ? strerror(errno) : "no progress");
            close(fd);
            return OT_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        ot_error("%s: cannot sync the checkpoint to disk: %s", path, strerror(errno));
        close(fd);
        return OT_EIO;
    }
    if (close(fd) != 0) {
        ot_error("%s: cannot close the checkpoint: %s", path, strerror(errno));
        return OT_EIO;
    }
    return OT_OK;
}

int ot_ckpt_write(const ot_trainer_t *t, const char *path)
{
    ot_h5_quiet_t q;
    void *image;
    size_t size = 0;
    ot_h5_quiet(&q);
    int rc = build_image(t, path, &image, &size);
    ot_h5_restore(&q);
    if (!rc)
        rc = write_image(path, image, size);
    free(image);
    return rc;
}

/* ---------------------------------------------------------------- reading */

/* Open path read-only, telling a missing file, a non-HDF5 file and a damaged one apart. */
static int open_file(const char *path, hid_t *f)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        ot_error("%s: cannot open the checkpoint: %s", path, strerror(errno));
        return OT_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        ot_error("%s: is a directory, expected a checkpoint file (e.g. %s/latest.h5)", path,
                 path);
        return OT_EIO;
    }
#if H5_VERSION_GE(1, 12, 0)
    htri_t is = H5Fis_accessible(path, H5P_DEFAULT);
#else
    htri_t is = H5Fis_hdf5(path);
#endif
    if (is == 0) {
        ot_error("%s: not an HDF5 file (expected an omptrain checkpoint)", path);
        return OT_EFORMAT;
    }
    if (is < 0 || (*f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
        ot_error("%s: cannot open as HDF5: the file is truncated or damaged", path);
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* Does the object at the absolute path p exist? Checked level by level, since H5Lexists
 * fails rather than answers when a group on the way is missing. */
static int exists(hid_t f, const char *p)
{
    char buf[256];
    size_t len = strlen(p);
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, p, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != 0)
            continue;
        char c = buf[i];
        buf[i] = 0;
        htri_t e = H5Lexists(f, buf, H5P_DEFAULT);
        buf[i] = c;
        if (e <= 0)
            return 0;
    }
    return 1;
}

/* "784x50" or "50" or "scalar". */
static void shape_str(char *buf, size_t n, int rank, const hsize_t *dims)
{
    if (rank == 0) {
        snprintf(buf, n, "scalar");
        return;
    }
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%llu", i ? "x" : "",
                                 (unsigned long long)dims[i]);
}

/* Open dataset p, which must exist, hold numbers of class cls (and of `bytes` bytes when
 * bytes > 0) and have the given rank; its dimensions go to dims. */
static int open_ds(hid_t f, const char *path, const char *p, H5T_class_t cls, size_t bytes,
                   int rank, hsize_t *dims, hid_t *d)
{
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = OT_EFORMAT;
    *d = H5I_INVALID_HID;
    if (!exists(f, p)) {
        ot_error("%s: %s is missing (not a complete omptrain checkpoint)", path, p);
        return OT_EFORMAT;
    }
    if ((*d = H5Dopen2(f, p, H5P_DEFAULT)) < 0) {
        ot_error("%s: %s is not a readable dataset", path, p);
        return OT_EFORMAT;
    }
    if ((type = H5Dget_type(*d)) < 0 || (space = H5Dget_space(*d)) < 0) {
        ot_error("%s: %s: cannot read its type and shape", path, p);
        goto fail;
    }
    const char *kind = cls == H5T_FLOAT ? "floats" : "integers";
    if (H5Tget_class(type) != cls || (bytes && H5Tget_size(type) != bytes)) {
        if (bytes)
            ot_error("%s: %s must hold %zu-bit %s", path, p, 8 * bytes, kind);
        else
            ot_error("%s: %s must hold %s", path, p, kind);
        goto fail;
    }
    int r = H5Sget_simple_extent_ndims(space);
    if (r != rank || r < 0) {
        ot_error("%s: %s has rank %d, expected %d", path, p, r, rank);
        goto fail;
    }
    if (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) < 0) {
        ot_error("%s: %s: cannot read its shape", path, p);
        goto fail;
    }
    rc = OT_OK;
fail:
    if (type >= 0)
        H5Tclose(type);
    if (space >= 0)
        H5Sclose(space);
    if (rc && *d >= 0) {
        H5Dclose(*d);
        *d = H5I_INVALID_HID;
    }
    return rc;
}

/* Read the whole dataset p (class cls, rank, expected element count n) into buf. */
static int read_ds(hid_t f, const char *path, const char *p, H5T_class_t cls, int rank,
                   hsize_t n, hid_t mtype, void *buf)
{
    hid_t d;
    hsize_t dims[2] = {1, 1};
    int rc = open_ds(f, path, p, cls, 0, rank, dims, &d);
    if (rc)
        return rc;
    hsize_t have = rank == 0 ? 1 : dims[0];
    if (have != n) {
        ot_error("%s: %s has %llu entries, expected %llu", path, p, (unsigned long long)have,
                 (unsigned long long)n);
        rc = OT_EFORMAT;
    } else if (n > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        ot_error("%s: %s: cannot read it (damaged file?)", path, p);
        rc = OT_EFORMAT;
    }
    H5Dclose(d);
    return rc;
}

/* Read attribute name of obj (at path p, for messages): a scalar of class cls read as mtype,
 * or (mtype < 0) a fixed-length string into str[n]. */
static int read_attr(hid_t obj, const char *path, const char *p, const char *name,
                     H5T_class_t cls, hid_t mtype, void *out, size_t n)
{
    hid_t a = H5I_INVALID_HID, type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = OT_EFORMAT;
    if (H5Aexists(obj, name) <= 0) {
        if (strcmp(name, "format_version") == 0)
            ot_error("%s: not an omptrain checkpoint (no format_version attribute on /)", path);
        else
            ot_error("%s: attribute %s of %s is missing", path, name, p);
        return OT_EFORMAT;
    }
    if ((a = H5Aopen(obj, name, H5P_DEFAULT)) < 0 || (type = H5Aget_type(a)) < 0 ||
        (space = H5Aget_space(a)) < 0) {
        ot_error("%s: attribute %s of %s cannot be read", path, name, p);
        goto fail;
    }
    if (H5Tget_class(type) != cls || H5Sget_simple_extent_npoints(space) != 1 ||
        (cls == H5T_STRING && H5Tis_variable_str(type) != 0)) {
        ot_error("%s: attribute %s of %s must be a single %s", path, name, p,
                 cls == H5T_STRING ? "fixed-length string" : cls == H5T_FLOAT ? "float"
                                                                             : "integer");
        goto fail;
    }
    if (cls == H5T_STRING) {
        size_t size = H5Tget_size(type);
        char *tmp = malloc(size + 1);
        if (!tmp) {
            ot_error("%s: cannot allocate attribute %s", path, name);
            rc = OT_ENOMEM;
            goto fail;
        }
        if (H5Aread(a, type, tmp) < 0) {
            free(tmp);
            ot_error("%s: attribute %s of %s cannot be read", path, name, p);
            goto fail;
        }
        tmp[size] = 0;
        snprintf(out, n, "%s", tmp);
        free(tmp);
    } else if (H5Aread(a, mtype, out) < 0) {
        ot_error("%s: attribute %s of %s cannot be read", path, name, p);
        goto fail;
    }
    rc = OT_OK;
fail:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (a >= 0)
        H5Aclose(a);
    return rc;
}

/* Root attributes and /state scalars. */
static int read_info(hid_t f, const char *path, ot_ckpt_info_t *in)
{
    memset(in, 0, sizeof *in);
    int rc = read_attr(f, path, "/", "format_version", H5T_INTEGER, H5T_NATIVE_INT,
                       &in->format_version, 0);
    if (rc)
        return rc;
    if (in->format_version != OT_CKPT_FORMAT) {
        ot_error("%s: checkpoint format_version %d, this omptrain (%s) reads version %d", path,
                 in->format_version, OT_VERSION, OT_CKPT_FORMAT);
        return OT_EFORMAT;
    }
    uint32_t epoch = 0, stopped = 0, best_epoch = 0;
    uint64_t bie = 0;
    if ((rc = read_attr(f, path, "/", "omptrain_version", H5T_STRING, -1, in->version,
                        sizeof in->version)) ||
        (rc = read_attr(f, path, "/", "created", H5T_STRING, -1, in->created,
                        sizeof in->created)) ||
        (rc = read_attr(f, path, "/", "threads", H5T_INTEGER, H5T_NATIVE_INT, &in->threads, 0)) ||
        (rc = read_attr(f, path, "/", "shards", H5T_INTEGER, H5T_NATIVE_UINT32, &in->shards,
                        0)) ||
        (rc = read_attr(f, path, "/", "seed", H5T_INTEGER, H5T_NATIVE_UINT64, &in->seed, 0)) ||
        (rc = read_ds(f, path, "/state/epoch", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT32, &epoch)) ||
        (rc = read_ds(f, path, "/state/batch_in_epoch", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64,
                      &bie)) ||
        (rc = read_ds(f, path, "/state/step", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64, &in->step)) ||
        (rc = read_ds(f, path, "/state/best_epoch", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT32,
                      &best_epoch)) ||
        (rc = read_ds(f, path, "/state/stopped", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT32,
                      &stopped)))
        return rc;
    if (epoch > (uint32_t)INT_MAX || bie > SIZE_MAX || in->shards == 0 ||
        in->shards > OT_MAX_SHARDS) {
        ot_error("%s: /state/epoch %u, /state/batch_in_epoch %llu or the shards attribute %u is "
                 "out of range", path, epoch, (unsigned long long)bie, in->shards);
        return OT_EFORMAT;
    }
    in->epoch = (int)epoch;
    in->batch_in_epoch = (size_t)bie;
    in->best_epoch = best_epoch > epoch ? 0 : (int)best_epoch;
    in->stopped = stopped != 0;
    return OT_OK;
}

int ot_ckpt_info(const char *path, ot_ckpt_info_t *info)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = H5I_INVALID_HID;
    int rc = open_file(path, &f);
    if (!rc)
        rc = read_info(f, path, info);
    if (f >= 0)
        H5Fclose(f);
    ot_h5_restore(&q);
    return rc;
}

/* Read a block in the parameter layout from one dataset per tensor under group (see
 * write_block), every shape checked before any read. A shape that differs from net's is
 * reported with both shapes and returns mismatch_rc (OT_ECONFIG for the model itself: the
 * config asks for another one; OT_EFORMAT for a buffer that disagrees with its own model). */
static int read_block(hid_t f, const char *path, const char *group, const ot_tensor_t *tensors,
                      size_t n, float *block, int mismatch_rc)
{
    char want[64], have[64], p[OT_NAME_MAX * 2 + 64];
    hid_t d[OT_MAX_TENSORS];
    size_t opened = 0;
    int rc = OT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        const ot_tensor_t *t = &tensors[i];
        hsize_t dims[OT_MAX_RANK] = {0}, need[OT_MAX_RANK];
        int same = 1;
        for (size_t k = 0; k < OT_MAX_RANK; k++)
            need[k] = t->shape[k];
        snprintf(p, sizeof p, "%s/%s", group, t->name);
        if ((rc = open_ds(f, path, p, H5T_FLOAT, sizeof(float), (int)t->rank, dims, &d[i])))
            break;
        opened = i + 1;
        for (size_t k = 0; k < t->rank; k++)
            same &= dims[k] == need[k];
        if (!same) {
            shape_str(have, sizeof have, (int)t->rank, dims);
            shape_str(want, sizeof want, (int)t->rank, need);
            if (mismatch_rc == OT_ECONFIG)
                ot_error("%s: %s has shape %s but the config's model needs %s", path, p, have,
                         want);
            else
                ot_error("%s: %s has shape %s but the model's tensor is %s", path, p, have, want);
            rc = mismatch_rc;
        }
    }
    for (size_t i = 0; i < opened; i++) {
        if (!rc && H5Dread(d[i], H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                           block + tensors[i].off) < 0) {
            ot_error("%s: %s/%s cannot be read (damaged file?)", path, group, tensors[i].name);
            rc = OT_EFORMAT;
        }
        H5Dclose(d[i]);
    }
    return rc;
}

/* Is `layer` ("affine1", "bn1") one of net's layers with tensors or running statistics? */
static int net_has_layer(const ot_net_t *net, const char *layer)
{
    const ot_layer_t *L = ot_net_layer(net, layer);
    return L && (L->nt > 0 || L->s_len > 0);
}

/* The names in list, ", "-joined, into buf. */
static void join_names(char names[][OT_NAME_MAX], size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* /model into net's parameters and running statistics. The layers first (the checkpoint's
 * groups against the config's layers with tensors: a deeper or shallower model, a batch norm
 * on one side only; one message naming both lists), then every tensor's shape, then the
 * data. */
static int load_params(hid_t f, const char *path, ot_net_t *net)
{
    char ck[OT_MAX_STACK][OT_NAME_MAX], cf[OT_MAX_STACK][OT_NAME_MAX], name[64];
    size_t n_ck = 0, n_cf = 0;
    if (!exists(f, "/model")) {
        ot_error("%s: /model is missing (not a complete omptrain checkpoint)", path);
        return OT_EFORMAT;
    }
    H5G_info_t gi;
    hid_t g = H5Gopen2(f, "/model", H5P_DEFAULT);
    herr_t ok = g >= 0 ? H5Gget_info(g, &gi) : -1;
    for (hsize_t i = 0; ok >= 0 && i < gi.nlinks && n_ck < OT_MAX_STACK; i++) {
        ssize_t len = H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0 || (size_t)len >= OT_NAME_MAX) {
            ok = -1;
            break;
        }
        memcpy(ck[n_ck++], name, (size_t)len + 1);
    }
    if (g >= 0)
        H5Gclose(g);
    if (ok < 0) {
        ot_error("%s: /model is not a readable group", path);
        return OT_EFORMAT;
    }
    for (size_t l = 0; l < net->n_layers; l++)
        if (net_has_layer(net, net->layers[l].name))
            snprintf(cf[n_cf++], OT_NAME_MAX, "%s", net->layers[l].name);
    char ck_list[1024], cf_list[1024];
    join_names(ck, n_ck, ck_list, sizeof ck_list);
    join_names(cf, n_cf, cf_list, sizeof cf_list);
    for (size_t i = 0; i < n_ck; i++)
        if (!net_has_layer(net, ck[i])) {
            ot_error("%s: the checkpoint's model has /model/%s, which the config's model has "
                     "not (checkpoint: %s; config: %s)", path, ck[i], ck_list, cf_list);
            return OT_ECONFIG;
        }
    for (size_t i = 0; i < n_cf; i++) {
        snprintf(name, sizeof name, "/model/%s", cf[i]);
        if (!exists(f, name)) {
            ot_error("%s: the config's model has %s, which the checkpoint's has not "
                     "(checkpoint: %s; config: %s)", path, cf[i], ck_list, cf_list);
            return OT_ECONFIG;
        }
    }
    int rc = read_block(f, path, "/model", net->tensors, net->n_tensors, net->params,
                        OT_ECONFIG);
    if (!rc)
        rc = read_block(f, path, "/model", net->state_tensors, net->n_state_tensors, net->state,
                        OT_ECONFIG);
    return rc;
}

int ot_ckpt_load_params(const char *path, ot_net_t *net)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = H5I_INVALID_HID;
    ot_ckpt_info_t info;
    int rc = open_file(path, &f);
    if (!rc)
        rc = read_info(f, path, &info);
    if (!rc)
        rc = load_params(f, path, net);
    if (f >= 0)
        H5Fclose(f);
    ot_h5_restore(&q);
    return rc;
}

int ot_ckpt_load(const char *path, ot_trainer_t *t)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID;
    uint32_t *order = NULL;
    unsigned char *seen = NULL;
    float *step_loss = NULL;
    ot_ckpt_info_t in;
    int rc = open_file(path, &f);
    if (rc)
        goto out;
    if ((rc = read_info(f, path, &in)) || (rc = load_params(f, path, &t->net)))
        goto out;

    /* the optimizer must be the one this trainer runs; its state continues */
    char opt[32];
    hid_t g = exists(f, "/optimizer") ? H5Gopen2(f, "/optimizer", H5P_DEFAULT) : H5I_INVALID_HID;
    if (g < 0) {
        ot_error("%s: /optimizer is missing (not a complete omptrain checkpoint)", path);
        rc = OT_EFORMAT;
        goto out;
    }
    rc = read_attr(g, path, "/optimizer", "name", H5T_STRING, -1, opt, sizeof opt);
    H5Gclose(g);
    if (rc)
        goto out;
    ot_optim_t *o = &t->optim;
    if (strcmp(opt, ot_optimizer_name(o->kind)) != 0) {
        ot_error("%s: the checkpoint was trained with the %s optimizer but the config's "
                 "training.optimizer is %s", path, opt, ot_optimizer_name(o->kind));
        rc = OT_ECONFIG;
        goto out;
    }
    uint64_t updates;
    size_t n_bufs = ot_optim_n_buffers(o);
    if ((rc = read_ds(f, path, "/optimizer/t", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64,
                      &updates)) ||
        (n_bufs >= 1 && (rc = read_block(f, path, "/optimizer/m", t->net.tensors,
                                         t->net.n_tensors, o->m, OT_EFORMAT))) ||
        (n_bufs >= 2 && (rc = read_block(f, path, "/optimizer/v", t->net.tensors,
                                         t->net.n_tensors, o->v, OT_EFORMAT))))
        goto out;

    /* the data order: one entry per training sample, a permutation */
    const size_t N = t->train.n, n_batches = ot_trainer_batches(t);
    hsize_t dims[1] = {0};
    if ((rc = open_ds(f, path, "/state/order", H5T_INTEGER, 0, 1, dims, &d)))
        goto out;
    if (dims[0] != N) {
        ot_error("%s: /state/order is the order of %llu training samples but the config's "
                 "training set has %zu (data.train_limit = %zu, training.validation = %zu)",
                 path, (unsigned long long)dims[0], N, t->cfg.train_limit, t->cfg.validation);
        rc = OT_ECONFIG;
        goto out;
    }
    if (in.batch_in_epoch >= n_batches) {
        ot_error("%s: /state/batch_in_epoch is %zu but an epoch of the config has %zu batches "
                 "(training.batch_size = %zu)", path, in.batch_in_epoch, n_batches,
                 t->cfg.batch_size);
        rc = OT_ECONFIG;
        goto out;
    }
    order = malloc(N * sizeof *order);
    seen = calloc(N, 1);
    step_loss = malloc((in.batch_in_epoch + 1) * sizeof *step_loss);
    if (!order || !seen || !step_loss) {
        ot_error("%s: cannot allocate the data order of %zu samples", path, N);
        rc = OT_ENOMEM;
        goto out;
    }
    if (H5Dread(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, order) < 0) {
        ot_error("%s: /state/order cannot be read (damaged file?)", path);
        rc = OT_EFORMAT;
        goto out;
    }
    for (size_t i = 0; i < N; i++) {
        if (order[i] >= N || seen[order[i]]) {
            ot_error("%s: /state/order is not a permutation of 0..%zu (entry %zu is %u)", path,
                     N - 1, i, order[i]);
            rc = OT_EFORMAT;
            goto out;
        }
        seen[order[i]] = 1;
    }

    ot_rng_t rng;
    uint64_t samples_seen, correct;
    double epoch_loss;
    if ((rc = read_ds(f, path, "/state/samples_seen", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64,
                      &samples_seen)) ||
        (rc = read_ds(f, path, "/state/epoch_loss", H5T_FLOAT, 0, 1, H5T_NATIVE_DOUBLE,
                      &epoch_loss)) ||
        (rc = read_ds(f, path, "/state/epoch_correct", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64,
                      &correct)) ||
        (rc = read_ds(f, path, "/state/step_loss", H5T_FLOAT, 1, in.batch_in_epoch,
                      H5T_NATIVE_FLOAT, step_loss)) ||
        (rc = read_ds(f, path, "/state/rng", H5T_INTEGER, 1, 4, H5T_NATIVE_UINT64, rng.s)))
        goto out;
    if (!(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3])) {
        ot_error("%s: /state/rng is all zero, which no generator state can be", path);
        rc = OT_EFORMAT;
        goto out;
    }
    /* early stopping: the best validation loss, its epoch and (kept by a run with
     * training.patience) its parameters */
    double best_val_loss;
    uint32_t best_epoch, stopped;
    if ((rc = read_ds(f, path, "/state/best_val_loss", H5T_FLOAT, 0, 1, H5T_NATIVE_DOUBLE,
                      &best_val_loss)) ||
        (rc = read_ds(f, path, "/state/best_epoch", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT32,
                      &best_epoch)) ||
        (rc = read_ds(f, path, "/state/stopped", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT32,
                      &stopped)))
        goto out;
    if (best_epoch > (uint32_t)in.epoch) {
        ot_error("%s: /state/best_epoch %u lies after /state/epoch %d", path, best_epoch,
                 in.epoch);
        rc = OT_EFORMAT;
        goto out;
    }
    if (t->best_params && best_epoch > 0 &&
        ((rc = read_block(f, path, "/state/best_params", t->net.tensors, t->net.n_tensors,
                          t->best_params, OT_EFORMAT)) ||
         (rc = read_block(f, path, "/state/best_params", t->net.state_tensors,
                          t->net.n_state_tensors, t->best_state, OT_EFORMAT))))
        goto out;

    /* the standardisation the run was trained with (a checkpoint from before /input has
     * none), for the rest of the run */
    ot_input_t input = {0};
    int has_input;
    if ((rc = ot_input_read(f, path, &input, &has_input)))
        goto out;
    const ot_shape_t in_shape = t->input.shape;
    if ((rc = ot_input_check(&input, has_input, &t->cfg, &in_shape, path,
                             ot_data_path(&t->cfg, 0)))) {
        ot_input_free(&input);
        goto out;
    }

    /* all checked: commit */
    if (has_input) {
        ot_input_free(&t->input);
        t->input = input;
        ot_input_apply(&t->input, &t->train);
        ot_input_apply(&t->input, &t->val);
        ot_input_apply(&t->input, &t->test);
    }
    memcpy(t->order, order, N * sizeof *order);
    memcpy(t->step_loss, step_loss, in.batch_in_epoch * sizeof *step_loss);
    t->rng = rng;
    t->epoch = in.epoch;
    t->batch_in_epoch = in.batch_in_epoch;
    t->step = in.step;
    t->samples_seen = samples_seen;
    t->epoch_loss = epoch_loss;
    t->epoch_correct = correct;
    o->t = updates;
    t->best_val_loss = best_val_loss;
    t->best_epoch = (int)best_epoch;
    t->stopped = stopped != 0;
    rc = OT_OK;
out:
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    free(order);
    free(seen);
    free(step_loss);
    ot_h5_restore(&q);
    return rc;
}

/* ---------------------------------------------------------------- atomic save */

/* fsync a directory, so that a rename in it is on disk. A file system that cannot sync
 * directories (EINVAL) is not an error. */
static int fsync_dir(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int err = errno;
    close(fd);
    if (r != 0 && err == EINVAL)
        return 0;
    errno = err;
    return r;
}

/* "checkpoint-eNNNN.h5", exactly as ot_ckpt_save names it -> its epoch; anything else -> -1
 * (so that the name rebuilt from the epoch is the file found). */
static long ckpt_epoch_of(const char *name)
{
    const char *pre = "checkpoint-e";
    size_t np = strlen(pre);
    if (strncmp(name, pre, np) != 0 || name[np] < '0' || name[np] > '9')
        return -1;
    char *end, canon[64];
    errno = 0;
    long e = strtol(name + np, &end, 10);
    if (errno || strcmp(end, ".h5") != 0 || e < 0 || e > INT_MAX)
        return -1;
    snprintf(canon, sizeof canon, "checkpoint-e%04ld.h5", e);
    return strcmp(canon, name) == 0 ? e : -1;
}

/* A temporary file of a save that did not finish: ".ckpt-<pid>-..." or ".latest-<pid>..."
 * of a process that no longer runs, or of this one (which is not saving at this moment). */
static int stale_temp(const char *name)
{
    const char *s;
    if (strncmp(name, ".ckpt-", 6) == 0)
        s = name + 6;
    else if (strncmp(name, ".latest-", 8) == 0)
        s = name + 8;
    else
        return 0;
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 4, ".tmp") != 0 || *s < '0' || *s > '9')
        return 0;
    long pid = strtol(s, NULL, 10);
    if (pid <= 0)
        return 0;
    return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static int cmp_long_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Keep the newest keep+1 checkpoints of epochs <= epoch; remove the rest (older ones and
 * later ones, which belong to an abandoned line of the run) and stale temporary files.
 * A file that cannot be removed is reported and left; it is not a failure of the save. */
static int prune(const char *dir, int epoch, int keep)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    long *ep = NULL;
    size_t n = 0, cap = 0;
    int removed = 0;
    char p[OT_PATH_MAX + 300];
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (stale_temp(de->d_name)) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
            continue;
        }
        long e = ckpt_epoch_of(de->d_name);
        if (e < 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            long *ne = realloc(ep, nc * sizeof *ne);
            if (!ne)
                break;
            ep = ne;
            cap = nc;
        }
        ep[n++] = e;
    }
    closedir(dp);
    if (n)
        qsort(ep, n, sizeof *ep, cmp_long_desc);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (ep[i] <= epoch && kept < (size_t)keep + 1) {
            kept++;
            continue;
        }
        snprintf(p, sizeof p, "%s/checkpoint-e%04ld.h5", dir, ep[i]);
        if (unlink(p) == 0)
            removed++;
        else if (errno != ENOENT)
            ot_error("warning: cannot remove the old checkpoint %s: %s", p, strerror(errno));
    }
    free(ep);
    return removed;
}

int ot_ckpt_save(const ot_trainer_t *t, const char *dir, int keep, ot_ckpt_saved_t *saved)
{
    double t0 = ot_now();
    char tmp[OT_PATH_MAX + 64], final[OT_PATH_MAX + 32], name[32], link_tmp[OT_PATH_MAX + 64],
        latest[OT_PATH_MAX + 16];
    if (strlen(dir) >= OT_PATH_MAX) {
        ot_error("%s: the output directory name is too long", dir);
        return OT_EIO;
    }
    /* a mid-epoch checkpoint (written on SIGINT/SIGTERM) is named for the epoch in progress;
     * that epoch's own end-of-epoch checkpoint replaces it */
    const int epoch = t->epoch + (t->batch_in_epoch > 0);
    snprintf(name, sizeof name, "checkpoint-e%04d.h5", epoch);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.ckpt-%ld-e%04d.tmp", dir, (long)getpid(), epoch);
    snprintf(link_tmp, sizeof link_tmp, "%s/.latest-%ld.tmp", dir, (long)getpid());
    snprintf(latest, sizeof latest, "%s/latest.h5", dir);

    /* a leftover of this very pid is stale by definition */
    unlink(tmp);
    int rc = ot_ckpt_write(t, tmp);
    if (rc)
        goto fail;
    struct stat st;
    if (stat(tmp, &st) != 0) {
        ot_error("%s: cannot stat the new checkpoint: %s", tmp, strerror(errno));
        goto fail_io;
    }
    if (rename(tmp, final) != 0) {
        ot_error("cannot rename %s to %s: %s", tmp, final, strerror(errno));
        goto fail_io;
    }
    if (fsync_dir(dir) != 0) {
        ot_error("%s: cannot sync the directory after writing %s: %s", dir, name,
                 strerror(errno));
        goto fail_io;
    }
    /* latest.h5 -> checkpoint-eNNNN.h5: a new symlink renamed over the old one */
    unlink(link_tmp);
    if (symlink(name, link_tmp) != 0 || rename(link_tmp, latest) != 0) {
        ot_error("cannot point %s at %s: %s", latest, name, strerror(errno));
        goto fail_io;
    }
    if (fsync_dir(dir) != 0) {
        ot_error("%s: cannot sync the directory after updating latest.h5: %s", dir,
                 strerror(errno));
        goto fail_io;
    }
    int removed = prune(dir, epoch, keep < 0 ? 0 : keep);
    if (saved) {
        snprintf(saved->path, sizeof saved->path, "%s", final);
        saved->bytes = (uint64_t)st.st_size;
        saved->seconds = ot_now() - t0;
        saved->removed = removed;
    }
    return OT_OK;
fail_io:
    rc = OT_EIO;
fail:
    unlink(tmp);
    unlink(link_tmp);
    return rc; /* a checkpoint already renamed into place is complete: it stays */
}
