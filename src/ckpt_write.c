/* ckpt_write.c - writing a checkpoint: the run's state built as an HDF5 file image in memory
 * (HDF5's core driver), then written with write(2) and fsynced (see build_image for why).
 * File layout: docs/hdf5.md; the API: ot_checkpoint.h. */
#include "ot_checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_outfile.h"
#include "ot_datasrc.h"
#include "ot_dist.h"
#include "ot_h5.h"
#include "ot_input.h"
#include "ot_optim.h"

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
        if (ot_h5_write_ds(f, what, lcpl, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, (int)ts->rank, dims,
                           block + ts->off, reason))
            return -1;
    }
    return 0;
}

/* Build the checkpoint of t as an HDF5 file image in memory (the core driver, no backing
 * store): HDF5 itself never writes to the disk, so a full disk is a plain write(2) error in
 * ot_write_whole, never a half-closed HDF5 file (HDF5 1.10 cannot recover from a file whose
 * flush failed: it crashes at exit). *image is malloc'd, owned by the caller. */
static int build_image(const ot_trainer_t *t, const char *path, void **image, size_t *size)
{
    hid_t f = H5I_INVALID_HID, g = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
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
    if ((f = ot_h5_create_image(path, increment, reason)) < 0)
        goto fail;

    /* root attributes: who wrote this, when, with what, and which groups' attributes carry a
     * checksum (so that one whose checksum attribute is damaged is found) */
    snprintf(what, sizeof what, "the root attributes");
    int format = OT_CKPT_FORMAT, threads = t->threads, processes = ot_dist_size(t->eng.dist);
    uint32_t shards = (uint32_t)t->eng.n_shards;
    uint64_t seed = t->cfg.seed;
    ot_h5_utc_now(created, sizeof created);
    if (ot_h5_attr_scalar(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &format) ||
        ot_h5_attr_str(f, "omptrain_version", OT_VERSION) ||
        ot_h5_attr_str(f, "created", created) ||
        ot_h5_attr_scalar(f, "threads", H5T_STD_I32LE, H5T_NATIVE_INT, &threads) ||
        ot_h5_attr_scalar(f, "processes", H5T_STD_I32LE, H5T_NATIVE_INT, &processes) ||
        ot_h5_attr_scalar(f, "shards", H5T_STD_U32LE, H5T_NATIVE_UINT32, &shards) ||
        ot_h5_attr_scalar(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &seed) ||
        ot_h5_attr_str(f, "config", config) ||
        ot_h5_attr_str(f, OT_H5_CRC_GROUPS, OT_CKPT_CRC_GROUPS) || ot_h5_attrs_crc_set(f))
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
                          &o->weight_decay) ||
        ot_h5_attrs_crc_set(g)) /* the attributes' checksum, as /input's (ot_h5.h) */
        goto fail;
    snprintf(what, sizeof what, "/optimizer/t");
    if (ot_h5_write_ds(g, "t", H5P_DEFAULT, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, NULL, &o->t,
                       reason))
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
        if (ot_h5_write_ds(g, items[i].name, H5P_DEFAULT, items[i].ftype, items[i].mtype,
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
    if ((rc = ot_h5_get_image(f, image, size)) == OT_ENOMEM) {
        ot_error("%s: cannot allocate %zu bytes for the checkpoint image", path, *size);
        goto out;
    }
    if (rc)
        goto fail;
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
    free(config);
    return rc;
}


int ot_ckpt_write_as(const ot_trainer_t *t, const char *file, const char *name)
{
    ot_h5_quiet_t q;
    void *image;
    size_t size = 0;
    ot_h5_quiet(&q);
    int rc = build_image(t, name, &image, &size);
    ot_h5_restore(&q);
    if (!rc)
        rc = ot_write_whole(file, 0, name, "the checkpoint", image, size);
    free(image);
    return rc;
}

int ot_ckpt_write(const ot_trainer_t *t, const char *path)
{
    return ot_ckpt_write_as(t, path, path);
}
