/* ckpt_read.c - reading a checkpoint back: its description (ot_ckpt_info), its parameters
 * (ot_ckpt_load_params) or the whole run state (ot_ckpt_load). The whole file is verified
 * first (ot_verify.h: every dataset and the root attributes against their checksums), then
 * every dataset's type and shape is checked before it is read. File layout: docs/hdf5.md; the API: ot_checkpoint.h. */
#include "ot_checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_h5.h"
#include "ot_input.h"
#include "ot_optim.h"
#include "ot_verify.h"

/* Open path read-only, telling a missing file, a non-HDF5 file and a damaged one apart; HDF5's
 * own error printer is silenced (*q, put back by close_path) from here to close_path. */
static int open_path(const char *path, hid_t *f, ot_h5_quiet_t *q)
{
    struct stat st;
    ot_h5_quiet(q);
    *f = H5I_INVALID_HID;
    if (stat(path, &st) != 0) {
        ot_error("%s: cannot open the checkpoint: %s", path, strerror(errno));
        return OT_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        ot_error("%s: is a directory, expected a checkpoint file (e.g. %s/latest.h5)", path,
                 path);
        return OT_EIO;
    }
    char why[256];
    if (ot_verify_regular(path, "a checkpoint file", why, sizeof why)) { /* a FIFO: fopen and
                                                                           HDF5 would wait */
        ot_error("%s: %s", path, why);
        return OT_EIO;
    }
    FILE *probe = fopen(path, "rb"); /* HDF5 calls a file it cannot read damaged */
    if (!probe) {
        ot_error("%s: cannot read the checkpoint: %s", path, strerror(errno));
        return OT_EIO;
    }
    fclose(probe);
    htri_t is = ot_h5_is_hdf5(path, H5P_DEFAULT);
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

/* The end of what open_path began: f closed (when it opened), HDF5's printer put back; returns
 * rc. */
static int close_path(hid_t f, const ot_h5_quiet_t *q, int rc)
{
    if (f >= 0)
        H5Fclose(f);
    ot_h5_restore(q);
    return rc;
}

/* The whole file against its checksums before anything in it is trusted (a file of format 1
 * has none: it is read as it is). */
static int check_file(hid_t f, const char *path)
{
    ot_verify_t v;
    if (ot_verify_h5(f, &v) != OT_OK && !v.unchecked) {
        ot_error("%s: %s", path, v.why);
        return OT_EFORMAT;
    }
    /* a checkpoint of format 1 has no checksums, but holds what the loaders read as format 2
     * does (verify checks that for format 2) */
    char why[sizeof v.why];
    if (v.unchecked && v.format_version == 1 && ot_ckpt_check_layout(f, why, sizeof why) < 0) {
        ot_error("%s: %s", path, why);
        return OT_EFORMAT;
    }
    if (strcmp(v.kind, "history") == 0) { /* the run's other file: say which one is wanted */
        ot_error("%s: an omptrain history (loss curves), not a checkpoint: give one of the "
                 "run's checkpoint-eNNNN.h5 files or its latest.h5", path);
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* ---------------------------------------------------------------- the layout */

/* What every checkpoint holds whatever its model and optimizer (docs/hdf5.md), each with the
 * exact type ckpt_write.c gives it (and input.c, /input's): the objects and attributes the
 * loaders read, in the order they read them. Optional ones (the attribute processes, /input
 * and its attributes: written from later builds on) are checked when there. */
static const ot_h5_layout_t layout[] = {
    {"/", "format_version", OT_H5_I32, 0, 0},
    {"/", "omptrain_version", OT_H5_STR, 0, 0},
    {"/", "created", OT_H5_STR, 0, 0},
    {"/", "threads", OT_H5_I32, 0, 0},
    {"/", "processes", OT_H5_I32, 0, 1},
    {"/", "shards", OT_H5_U32, 0, 0},
    {"/", "seed", OT_H5_U64, 0, 0},
    {"/", "config", OT_H5_STR, 0, 0},
    {"/state/epoch", NULL, OT_H5_U32, 0, 0},
    {"/state/batch_in_epoch", NULL, OT_H5_U64, 0, 0},
    {"/state/step", NULL, OT_H5_U64, 0, 0},
    {"/state/best_epoch", NULL, OT_H5_U32, 0, 0},
    {"/state/stopped", NULL, OT_H5_U32, 0, 0},
    {"/model", NULL, OT_H5_GROUP, 0, 0},
    {"/optimizer", "name", OT_H5_STR, 0, 0},
    {"/optimizer", "learning_rate", OT_H5_F64, 0, 0},
    {"/optimizer", "momentum", OT_H5_F64, 0, 0},
    {"/optimizer", "rmsprop_decay", OT_H5_F64, 0, 0},
    {"/optimizer", "beta1", OT_H5_F64, 0, 0},
    {"/optimizer", "beta2", OT_H5_F64, 0, 0},
    {"/optimizer", "epsilon", OT_H5_F64, 0, 0},
    {"/optimizer", "weight_decay", OT_H5_F64, 0, 0},
    {"/optimizer/t", NULL, OT_H5_U64, 0, 0},
    {"/state/order", NULL, OT_H5_U32, 1, 0},
    {"/state/samples_seen", NULL, OT_H5_U64, 0, 0},
    {"/state/epoch_loss", NULL, OT_H5_F64, 0, 0},
    {"/state/epoch_correct", NULL, OT_H5_U64, 0, 0},
    {"/state/step_loss", NULL, OT_H5_F32, 1, 0},
    {"/state/rng", NULL, OT_H5_U64, 1, 0},
    {"/state/best_val_loss", NULL, OT_H5_F64, 0, 0},
    {"/input", "height", OT_H5_U64, 0, 1},
    {"/input", "width", OT_H5_U64, 0, 1},
    {"/input", "channels", OT_H5_U64, 0, 1},
    {"/input", "flat", OT_H5_I32, 0, 1},
    {"/input", "normalize", OT_H5_STR, 0, 1},
    {"/input", "normalize_by", OT_H5_STR, 0, 1},
};

/* The groups whose every dataset is a tensor of 32-bit floats (F32LE). */
static const char *const float_groups[] = {"/model", "/optimizer/m", "/optimizer/v",
                                           "/state/best_params", "/input"};

typedef struct {
    const char *group; /* the group walked, for messages */
    char *why;
    size_t n;
    int bad;
} floats_walk_t;

static herr_t floats_visit(hid_t obj, const char *name, const H5O_info_t *info, void *arg)
{
    floats_walk_t *w = arg;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    char what[OT_H5_PATH_MAX];
    snprintf(what, sizeof what, "%s/%s", w->group, name);
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT), type = d >= 0 ? H5Dget_type(d) : -1;
    if (type < 0) {
        snprintf(w->why, w->n, "%s cannot be read (damaged file?)", what);
        w->bad = 1;
    } else if (ot_h5_type_is(type, OT_H5_F32, what, w->why, w->n) < 0) {
        w->bad = 1;
    }
    if (type >= 0)
        H5Tclose(type);
    if (d >= 0)
        H5Dclose(d);
    return w->bad;
}

/* The model the checkpoint f was trained as into *net (layers, shapes and tensors; nothing
 * allocated): its attribute config laid out on the input shape in, or with in NULL on its
 * /input's. 1, or 0 where that config cannot be read or built or there is no /input (older
 * checkpoints); no message either way. */
static int trained_model(hid_t f, const ot_shape_t *in, ot_net_t *net)
{
    char *text = malloc(OT_H5_MAX_ATTR + 1);
    ot_config_t *c = malloc(sizeof *c);
    ot_input_t kept;
    int present = 1;
    ot_input_init(&kept, &(ot_shape_t){0});
    const int muted = ot_error_mute(1);
    int built = text && c &&
                ot_h5_attr_get(f, "config", H5T_STRING, -1, text, OT_H5_MAX_ATTR + 1,
                               OT_H5_MAX_ATTR, NULL, 0) == 0;
    if (built) {
        ot_config_defaults(c);
        built = ot_config_load_text(c, text, "config") == OT_OK &&
                (in || (ot_input_read(f, "checkpoint", &kept, &present, NULL, NULL) == OT_OK &&
                        present)) &&
                ot_net_layout(net, c, in ? in : &kept.shape) == OT_OK;
    }
    ot_error_mute(muted);
    ot_input_free(&kept);
    free(text);
    free(c);
    return built;
}

/* The model's tensors where the checkpoint's own config and /input lay the model out: each a
 * dataset of 32-bit floats of its shape under /model (no checksum sees a damaged link name or
 * a shape changed with its data). A checkpoint whose config does not lay out a model, or
 * without /input (written before it was kept), is left to the loaders, which check the
 * tensors against the config they are given. 0, or -1 with why[n]. */
static int model_layout(hid_t f, char *why, size_t n)
{
    ot_net_t *net = calloc(1, sizeof *net);
    int rc = 0;
    const int built = net && trained_model(f, NULL, net);
    for (int state = 0; built && state <= 1 && !rc; state++) {
        const ot_tensor_t *ts = state ? net->state_tensors : net->tensors;
        const size_t nt = state ? net->n_state_tensors : net->n_tensors;
        for (size_t i = 0; i < nt && !rc; i++) {
            char p[OT_H5_PATH_MAX];
            hsize_t dims[OT_MAX_RANK];
            for (size_t k = 0; k < ts[i].rank; k++)
                dims[k] = ts[i].shape[k];
            snprintf(p, sizeof p, "/model/%.200s", ts[i].name);
            const ot_h5_layout_t e = {p, NULL, OT_H5_F32, (int)ts[i].rank, 0};
            rc = ot_h5_layout_check(f, &e, "checkpoint", why, n) < 0 ||
                         ot_h5_shape_check(f, p, (int)ts[i].rank, dims, why, n) < 0
                     ? -1
                     : 0;
        }
    }
    free(net);
    return rc;
}

int ot_ckpt_check_layout(hid_t f, char *why, size_t n)
{
    for (size_t i = 0; i < sizeof layout / sizeof layout[0]; i++)
        if (ot_h5_layout_check(f, &layout[i], "checkpoint", why, n) < 0)
            return -1;
    /* the optimizer's buffers, by its name: m for all but sgd, v for adam and adamw */
    char opt[32];
    hid_t g = H5Gopen2(f, "/optimizer", H5P_DEFAULT);
    if (g < 0 || ot_h5_attr_get(g, "name", H5T_STRING, -1, opt, sizeof opt,
                                OT_CKPT_MAX_STRING, NULL, 0))
        opt[0] = '\0';
    if (g >= 0)
        H5Gclose(g);
    for (int k = OT_OPT_SGD; k <= OT_OPT_ADAMW; k++) {
        if (strcmp(opt, ot_optimizer_name((ot_optimizer_t)k)) != 0)
            continue;
        const ot_optim_t o = {.kind = (ot_optimizer_t)k};
        const size_t bufs = ot_optim_n_buffers(&o);
        const char *need[2] = {"/optimizer/m", "/optimizer/v"};
        for (size_t b = 0; b < bufs; b++) {
            char where[OT_H5_PATH_MAX + 128];
            int there = ot_h5_find(f, need[b], 0, where, sizeof where);
            if (there <= 0) {
                if (there == 0)
                    snprintf(why, n, "%s is missing (the %s optimizer keeps it)", need[b], opt);
                else
                    snprintf(why, n, "%s", where);
                return -1;
            }
        }
    }
    /* every tensor a 32-bit float as written */
    for (size_t i = 0; i < sizeof float_groups / sizeof float_groups[0]; i++) {
        char where[OT_H5_PATH_MAX + 128];
        if (ot_h5_find(f, float_groups[i], 0, where, sizeof where) <= 0)
            continue; /* absent (checked above where required), or a link the loader refuses */
        floats_walk_t w = {float_groups[i], why, n, 0};
        hid_t grp = H5Gopen2(f, float_groups[i], H5P_DEFAULT);
        if (grp < 0)
            continue;
        herr_t r = H5Ovisit(grp, H5_INDEX_NAME, H5_ITER_INC, floats_visit, &w);
        H5Gclose(grp);
        if (w.bad)
            return -1;
        if (r < 0) {
            snprintf(why, n, "%s: its objects cannot be listed (damaged metadata)",
                     float_groups[i]);
            return -1;
        }
    }
    return model_layout(f, why, n);
}

/* Is the object at the absolute path p there: 1, 0 when it is missing, or OT_EFORMAT (a link
 * on the way leaves the file: omptrain's checkpoints hold hard links only) after one line. */
static int find(hid_t f, const char *path, const char *p)
{
    char why[OT_H5_PATH_MAX + 128];
    int r = ot_h5_find(f, p, 0, why, sizeof why);
    if (r < 0) {
        ot_error("%s: %s", path, why);
        return OT_EFORMAT;
    }
    return r;
}

/* Read the whole dataset p (class cls, rank, expected element count n) into buf. */
static int read_ds(hid_t f, const char *path, const char *p, H5T_class_t cls, int rank,
                   hsize_t n, hid_t mtype, void *buf)
{
    hid_t d;
    hsize_t dims[2] = {1, 1};
    int rc = ot_h5_open_ds(f, path, p, cls, 0, rank, dims, &d);
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
 * or (mtype < 0) a fixed-length string into str[n] (ot_h5_attr_get). */
static int read_attr(hid_t obj, const char *path, const char *p, const char *name,
                     H5T_class_t cls, hid_t mtype, void *out, size_t n)
{
    char why[128];
    const int rc = ot_h5_attr_get(obj, name, cls, mtype, out, n, OT_CKPT_MAX_STRING, why,
                                  sizeof why);
    if (rc == OT_H5_ATTR_MISSING && strcmp(name, "format_version") == 0)
        ot_error("%s: not an omptrain checkpoint (no format_version attribute on /)", path);
    else if (rc)
        ot_error("%s: attribute %s of %s %s", path, name, p, why);
    return rc ? OT_EFORMAT : OT_OK;
}

/* Root attributes and /state scalars. */
static int read_info(hid_t f, const char *path, ot_ckpt_info_t *in)
{
    memset(in, 0, sizeof *in);
    int rc = read_attr(f, path, "/", "format_version", H5T_INTEGER, H5T_NATIVE_INT,
                       &in->format_version, 0);
    if (rc)
        return rc;
    if (in->format_version != OT_CKPT_FORMAT && in->format_version != 1) {
        ot_error("%s: checkpoint format_version %d, this omptrain (%s) reads versions 1 and %d",
                 path, in->format_version, OT_VERSION, OT_CKPT_FORMAT);
        return OT_EFORMAT;
    }
    uint32_t epoch = 0, stopped = 0, best_epoch = 0;
    uint64_t bie = 0;
    if ((rc = read_attr(f, path, "/", "omptrain_version", H5T_STRING, -1, in->version,
                        sizeof in->version)) ||
        (rc = read_attr(f, path, "/", "created", H5T_STRING, -1, in->created,
                        sizeof in->created)) ||
        (rc = read_attr(f, path, "/", "threads", H5T_INTEGER, H5T_NATIVE_INT, &in->threads, 0)) ||
        (H5Aexists(f, "processes") > 0 &&
         (rc = read_attr(f, path, "/", "processes", H5T_INTEGER, H5T_NATIVE_INT,
                         &in->processes, 0))) ||
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
    if (in->processes < 1)
        in->processes = 1;
    in->epoch = (int)epoch;
    in->batch_in_epoch = (size_t)bie;
    in->best_epoch = best_epoch > epoch ? 0 : (int)best_epoch;
    in->stopped = stopped != 0;
    return OT_OK;
}

int ot_ckpt_info_h5(hid_t f, const char *name, ot_ckpt_info_t *info)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    int rc = check_file(f, name);
    if (!rc)
        rc = read_info(f, name, info);
    ot_h5_restore(&q);
    return rc;
}

int ot_ckpt_info(const char *path, ot_ckpt_info_t *info)
{
    ot_h5_quiet_t q;
    hid_t f;
    int rc = open_path(path, &f, &q);
    if (!rc)
        rc = ot_ckpt_info_h5(f, path, info);
    return close_path(f, &q, rc);
}

char *ot_ckpt_config_text(const char *path)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    char *text = malloc(OT_H5_MAX_ATTR + 1), why[256];
    hid_t f = H5I_INVALID_HID;
    if (!text || ot_verify_regular(path, "a checkpoint file", why, sizeof why) ||
        (f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0 ||
        ot_h5_attr_get(f, "config", H5T_STRING, -1, text, OT_H5_MAX_ATTR + 1, OT_H5_MAX_ATTR,
                       NULL, 0)) {
        free(text);
        text = NULL;
    }
    if (f >= 0)
        H5Fclose(f);
    ot_h5_restore(&q);
    return text;
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
        if ((rc = ot_h5_open_ds(f, path, p, H5T_FLOAT, sizeof(float), (int)t->rank, dims, &d[i])))
            break;
        opened = i + 1;
        for (size_t k = 0; k < t->rank; k++)
            same &= dims[k] == need[k];
        if (!same) {
            ot_h5_dims_str((int)t->rank, dims, have, sizeof have);
            ot_h5_dims_str((int)t->rank, need, want, sizeof want);
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

/* net's layers as a list of layers, "conv 30 5x5 ..., relu, affine 10" (the loss left out),
 * into buf. */
static void stack_str(const ot_net_t *net, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t l = 0; l < net->n_layers && used < n; l++) {
        const ot_layer_t *L = &net->layers[l];
        char args[128];
        if (L->ops->is_loss)
            continue;
        L->ops->format(L, args, sizeof args);
        int w = snprintf(buf + used, n - used, "%s%s%s%s", used ? ", " : "", L->ops->kind,
                         args[0] ? " " : "", args);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* The model the checkpoint was trained as (its attribute config, built on net's input)
 * against net: the same kinds of layer in the same order, each with the same input and
 * output shapes and the same words of what it computes (ops->computes: a pooling window
 * that gives the same shape). Layers without parameters (ReLU or Sigmoid, max or average
 * pooling) are where the tensors alone cannot tell two models apart. A difference is one
 * line naming both models and the first layer that differs, and OT_ECONFIG. A checkpoint
 * whose config cannot be read or built (none kept) is left to the tensors' checks. */
static int check_stack(hid_t f, const char *path, const ot_net_t *net)
{
    ot_net_t *ck = calloc(1, sizeof *ck);
    int rc = OT_OK;
    /* a config it cannot read: no check, and no message */
    const int built = ck && trained_model(f, &net->input, ck);
    size_t l = 0;
    char ca[128] = "", cb[128] = ""; /* what layer l computes, on either side */
    for (; built && l < ck->n_layers && l < net->n_layers; l++) {
        const ot_layer_t *a = &ck->layers[l], *b = &net->layers[l];
        if (a->ops != b->ops || !ot_shape_eq(&a->in, &b->in) ||
            !ot_shape_eq(&a->out, &b->out))
            break;
        void (*words)(const ot_layer_t *, char *, size_t) =
            a->ops->computes ? a->ops->computes : a->ops->format;
        words(a, ca, sizeof ca);
        words(b, cb, sizeof cb);
        if (strcmp(ca, cb) != 0)
            break;
    }
    if (built && (l < ck->n_layers || l < net->n_layers)) {
        char was_s[1024], is_s[1024], at[512], sa[64], sb[64]; /* at holds two of ca, cb */
        stack_str(ck, was_s, sizeof was_s);
        stack_str(net, is_s, sizeof is_s);
        if (l >= ck->n_layers || l >= net->n_layers || ck->layers[l].ops->is_loss ||
            net->layers[l].ops->is_loss)
            snprintf(at, sizeof at, "%zu layers in the checkpoint, %zu in the config",
                     ck->n_layers - 1, net->n_layers - 1);
        else if (ck->layers[l].ops != net->layers[l].ops)
            snprintf(at, sizeof at, "layer %zu: %s in the checkpoint, %s in the config", l + 1,
                     ck->layers[l].ops->kind, net->layers[l].ops->kind);
        else if (!ot_shape_eq(&ck->layers[l].out, &net->layers[l].out) ||
                 !ot_shape_eq(&ck->layers[l].in, &net->layers[l].in))
            snprintf(at, sizeof at, "layer %zu, %s: output %s in the checkpoint, %s in the "
                     "config", l + 1, ck->layers[l].name,
                     ot_shape_str(&ck->layers[l].out, sa, sizeof sa),
                     ot_shape_str(&net->layers[l].out, sb, sizeof sb));
        else
            snprintf(at, sizeof at, "layer %zu, %s: %s %s in the checkpoint, %s %s in the config",
                     l + 1, ck->layers[l].name, ck->layers[l].ops->kind, ca,
                     net->layers[l].ops->kind, cb);
        ot_error("%s: the checkpoint's model is '%s' and the config's '%s' (%s); expected the "
                 "checkpoint's layers, which its attribute config holds", path, was_s, is_s, at);
        rc = OT_ECONFIG;
    }
    free(ck);
    return rc;
}

/* /model into net's parameters and running statistics. The two stacks first, where the
 * checkpoint's config lays out (check_stack: one message naming both and the first layer that
 * differs, a stride or padding as much as a width); then, for a checkpoint whose config does
 * not, the layers (the checkpoint's groups against the config's layers with tensors: a deeper
 * or shallower model, a batch norm on one side only; one message naming both lists), every
 * tensor's shape, then the data. */
static int load_params(hid_t f, const char *path, ot_net_t *net)
{
    char ck[OT_MAX_STACK][OT_NAME_MAX], cf[OT_MAX_STACK][OT_NAME_MAX], name[64];
    size_t n_ck = 0, n_cf = 0;
    int there = find(f, path, "/model");
    if (there <= 0) {
        if (there == 0)
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
    int rc = check_stack(f, path, net);
    if (rc)
        return rc;
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
        if ((there = find(f, path, name)) < 0)
            return there;
        if (!there) {
            ot_error("%s: the config's model has %s, which the checkpoint's has not "
                     "(checkpoint: %s; config: %s)", path, cf[i], ck_list, cf_list);
            return OT_ECONFIG;
        }
    }
    rc = read_block(f, path, "/model", net->tensors, net->n_tensors, net->params, OT_ECONFIG);
    if (!rc)
        rc = read_block(f, path, "/model", net->state_tensors, net->n_state_tensors, net->state,
                        OT_ECONFIG);
    return rc;
}

int ot_ckpt_load_params_h5(hid_t f, const char *name, ot_net_t *net)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    ot_ckpt_info_t info;
    int rc = ot_ckpt_info_h5(f, name, &info);
    if (!rc)
        rc = load_params(f, name, net);
    ot_h5_restore(&q);
    return rc;
}

int ot_ckpt_load_params(const char *path, ot_net_t *net)
{
    ot_h5_quiet_t q;
    hid_t f;
    int rc = open_path(path, &f, &q);
    if (!rc)
        rc = ot_ckpt_load_params_h5(f, path, net);
    return close_path(f, &q, rc);
}

int ot_ckpt_load(const char *path, ot_trainer_t *t)
{
    ot_h5_quiet_t q;
    hid_t f;
    int rc = open_path(path, &f, &q);
    if (!rc)
        rc = ot_ckpt_load_h5(f, path, t);
    return close_path(f, &q, rc);
}

/* A checkpoint written inside an epoch (by SIGINT or SIGTERM) continues with the batch after
 * its batch_in_epoch: the same place in the epoch's data order only at the batch size it was
 * written with, which samples_seen tells (its epochs' samples, then batch_in_epoch batches).
 * Another batch size would train some of the epoch's samples twice and skip others, so it is
 * refused (OT_ECONFIG); at an epoch's end any batch size continues. On 0, batch_in_epoch
 * batches of `batch` lie inside the epoch (fewer than its batches). 0 or the code, message
 * printed. */
static int check_position(const char *path, const ot_ckpt_info_t *in, uint64_t samples_seen,
                          size_t n, size_t batch)
{
    const uint64_t bie = in->batch_in_epoch, before = (uint64_t)in->epoch * n;
    if (bie == 0)
        return OT_OK;
    const uint64_t done = samples_seen - before;
    if (samples_seen <= before || done >= n || done % bie != 0) {
        ot_error("%s: /state/samples_seen %llu does not fit /state/epoch %d and "
                 "/state/batch_in_epoch %llu with %zu training samples", path,
                 (unsigned long long)samples_seen, in->epoch, (unsigned long long)bie, n);
        return OT_EFORMAT;
    }
    if (done / bie != batch) {
        ot_error("%s: written inside epoch %d after %llu batches of %llu samples; "
                 "training.batch_size %zu would train some of that epoch's samples twice and "
                 "skip others: finish the epoch first (--set training.batch_size=%llu --epochs "
                 "%d), then resume from there at %zu", path, in->epoch + 1,
                 (unsigned long long)bie, (unsigned long long)(done / bie), batch,
                 (unsigned long long)(done / bie), in->epoch + 1, batch);
        return OT_ECONFIG;
    }
    return OT_OK;
}

int ot_ckpt_load_h5(hid_t f, const char *path, ot_trainer_t *t)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t d = H5I_INVALID_HID;
    uint32_t *order = NULL;
    unsigned char *seen = NULL;
    float *step_loss = NULL;
    ot_ckpt_info_t in;
    int rc;
    if ((rc = ot_ckpt_info_h5(f, path, &in)) || (rc = load_params(f, path, &t->net)))
        goto out;

    /* the optimizer must be the one this trainer runs; its state continues */
    char opt[32];
    int there = find(f, path, "/optimizer");
    hid_t g = there > 0 ? H5Gopen2(f, "/optimizer", H5P_DEFAULT) : H5I_INVALID_HID;
    if (g < 0) {
        if (there >= 0)
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
    const size_t N = t->train.n;
    hsize_t dims[1] = {0};
    if ((rc = ot_h5_open_ds(f, path, "/state/order", H5T_INTEGER, 0, 1, dims, &d)))
        goto out;
    if (dims[0] != N) {
        ot_error("%s: /state/order is the order of %llu training samples but the config's "
                 "training set has %zu (data.train_limit = %zu, training.validation = %zu)",
                 path, (unsigned long long)dims[0], N, t->cfg.train_limit, t->cfg.validation);
        rc = OT_ECONFIG;
        goto out;
    }
    uint64_t samples_seen;
    if ((rc = read_ds(f, path, "/state/samples_seen", H5T_INTEGER, 0, 1, H5T_NATIVE_UINT64,
                      &samples_seen)) ||
        (rc = check_position(path, &in, samples_seen, N, t->cfg.batch_size)))
        goto out;
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
    uint64_t correct;
    double epoch_loss;
    if ((rc = read_ds(f, path, "/state/epoch_loss", H5T_FLOAT, 0, 1, H5T_NATIVE_DOUBLE,
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
    const ot_shape_t in_shape = t->input.shape;
    if ((rc = ot_input_read(f, path, &input, &has_input, &in_shape, ot_data_path(&t->cfg, 0))))
        goto out;
    if ((rc = ot_input_check(&input, has_input, &t->cfg, &in_shape, path,
                             ot_data_path(&t->cfg, 0)))) {
        ot_input_free(&input);
        goto out;
    }

    /* all checked: commit */
    if (has_input)
        ot_trainer_use_input(t, &input);
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
    free(order);
    free(seen);
    free(step_loss);
    ot_h5_restore(&q);
    return rc;
}
