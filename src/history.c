/* history.c - RUN_DIR/history.h5: the run's loss curves, growing as training goes.
 *
 *   /                     attributes format_version, omptrain_version, created, crc32 (of the
 *                         others)
 *   /steps/step           u64 (n_steps)   step number, 1-based (step k = the k-th SGD update)
 *   /steps/loss           f32 (n_steps)   mean training loss of that step's batch
 *   /epochs/epoch         u32 (n_epochs)  epoch number, 1-based
 *   /epochs/train_loss, train_acc, test_loss, test_acc, val_loss, val_acc, lr, seconds,
 *           samples_per_s f64             (val_*: NaN without a validation split)
 *   /epochs/threads       u32
 *
 * Every dataset is 1-D, chunked, with an unlimited maximum size; ot_history_check_layout checks
 * that a file holds all this, for verify and for a resume before it appends. The file is opened
 * once per run and flushed after every epoch's append; between appends nothing is written, so a
 * crash or Ctrl-C during training leaves the curve of the epochs done. File locking is off for this
 * file (HDF5 >= 1.10.7), so h5dump or the plot script can read it while training runs. */
#include "ot_history.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ot_common.h"
#include "ot_h5.h"

const char *const ot_history_metrics[OT_HISTORY_METRICS] = {
    "epoch",  "train_loss", "train_acc", "test_loss",     "test_acc", "val_loss",
    "val_acc", "lr",        "seconds",   "samples_per_s", "threads",
};
#define N_METRICS OT_HISTORY_METRICS
#define N_DATASETS (2 + N_METRICS) /* in the order of ot_history_t's crc */

enum { STEP_CHUNK = 4096, EPOCH_CHUNK = 256, ROW_BLOCK = 4096 /* rows read at a time */ };

/* Integer metrics (epoch, threads) are u32, the others f64. */
static int metric_is_int(size_t i)
{
    return i == 0 || i == N_METRICS - 1;
}

/* Our fapl: the default driver, file locking off so that readers can look during the run. */
static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (fapl >= 0 && H5Pset_file_locking(fapl, 0, 1) < 0) {
        H5Pclose(fapl);
        return H5I_INVALID_HID;
    }
#endif
    return fapl;
}

/* A growing 1-D dataset of file type ftype under loc. */
static hid_t create_growing(hid_t loc, const char *name, hid_t ftype, hsize_t chunk)
{
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED};
    hid_t space = H5Screate_simple(1, dims, maxdims), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0)
        d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (space >= 0)
        H5Sclose(space);
    return d;
}

/* The path of dataset i, in the order of ot_history_t's crc, into p (64 bytes). */
static void dataset_path(size_t i, char *p)
{
    snprintf(p, 64, "/%s/%s", i < 2 ? "steps" : "epochs",
             i < 2 ? (i ? "loss" : "step") : ot_history_metrics[i - 2]);
}

/* Dataset i of h in the order of h->crc; its path into p (64 bytes) unless p is NULL. */
static hid_t *dataset(ot_history_t *h, size_t i, char *p)
{
    if (p)
        dataset_path(i, p);
    return i == 0 ? &h->step : i == 1 ? &h->loss : &h->epochs[i - 2];
}

/* The type create_file gives dataset i (in the order of h->crc). */
static ot_h5_kind_t dataset_kind(size_t i)
{
    return i == 0 ? OT_H5_U64 : i == 1 ? OT_H5_F32 : metric_is_int(i - 2) ? OT_H5_U32 : OT_H5_F64;
}

/* Dataset i of f (its path p) one omptrain writes (ot_h5_own_dataset: no more rows than the
 * file has bytes, before they are compared), growing as create_growing makes it (unlimited),
 * with as many rows as the first of its group (*rows, set by the first): 0, or -1 with
 * why[n]. */
static int check_growing(hid_t f, size_t i, const char *p, hsize_t *rows, char *why, size_t n)
{
    hsize_t dims[1], maxdims[1];
    char own[128] = "";
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT), space = d >= 0 ? H5Dget_space(d) : -1;
    int mine = d >= 0 ? ot_h5_own_dataset(d, own) : -1;
    int ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
             H5Sget_simple_extent_dims(space, dims, maxdims) == 1;
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    if (mine < 0 && own[0]) {
        snprintf(why, n, "%s %s", p, own);
        return -1;
    }
    if (mine < 0 || !ok) {
        snprintf(why, n, "%s: cannot read its shape (damaged file?)", p);
        return -1;
    }
    if (maxdims[0] != H5S_UNLIMITED) {
        snprintf(why, n, "%s cannot grow (its maximum size is %llu rows), expected an unlimited "
                 "one as omptrain writes it", p, (unsigned long long)maxdims[0]);
        return -1;
    }
    const size_t first = i < 2 ? 0 : 2; /* /steps/step, /epochs/epoch */
    if (i == first) {
        *rows = dims[0];
    } else if (dims[0] != *rows) {
        char q[64];
        dataset_path(first, q);
        snprintf(why, n, "%s has %llu rows but %s has %llu", p, (unsigned long long)dims[0], q,
                 (unsigned long long)*rows);
        return -1;
    }
    return 0;
}

int ot_history_check_layout(hid_t f, char *why, size_t n)
{
    static const ot_h5_layout_t root[] = {
        {"/", "format_version", OT_H5_I32, 0, 0},
        {"/", "omptrain_version", OT_H5_STR, 0, 0},
        {"/", "created", OT_H5_STR, 0, 0},
        {"/steps", NULL, OT_H5_GROUP, 0, 0},
        {"/epochs", NULL, OT_H5_GROUP, 0, 0},
    };
    for (size_t i = 0; i < sizeof root / sizeof root[0]; i++)
        if (ot_h5_layout_check(f, &root[i], "history", why, n) < 0)
            return -1;
    int format = 0;
    if (ot_h5_attr_get(f, "format_version", H5T_INTEGER, H5T_NATIVE_INT, &format, 0, 0, NULL,
                       0) < 0 ||
        (format != 1 && format != OT_HISTORY_FORMAT)) {
        if (format > OT_HISTORY_FORMAT) /* in verify's words (ot_verify_h5) */
            ot_h5_newer_format(why, n, format, "history", OT_HISTORY_FORMAT);
        else
            snprintf(why, n, "attribute format_version of / is %d, expected 1 or %d (the "
                     "history formats this omptrain reads)", format, OT_HISTORY_FORMAT);
        return -1;
    }
    /* from format 2 on, the root and every dataset carry a checksum */
    const ot_h5_layout_t root_crc = {"/", OT_H5_CRC, OT_H5_U32, 0, 0};
    if (format >= 2 && ot_h5_layout_check(f, &root_crc, "history", why, n) < 0)
        return -1;
    hsize_t rows[2] = {0, 0}; /* of /steps, of /epochs */
    for (size_t i = 0; i < N_DATASETS; i++) {
        char p[64];
        dataset_path(i, p);
        const ot_h5_layout_t ds = {p, NULL, dataset_kind(i), 1, 0};
        const ot_h5_layout_t crc = {p, OT_H5_CRC, OT_H5_U32, 0, 0};
        if (ot_h5_layout_check(f, &ds, "history", why, n) < 0)
            return -1;
        if (format >= 2 && H5Aexists_by_name(f, p, OT_H5_CRC, H5P_DEFAULT) == 0) {
            /* verify's words for a dataset without one */
            snprintf(why, n, "%s has no checksum (attribute %s)", p, OT_H5_CRC);
            return -1;
        }
        if ((format >= 2 && ot_h5_layout_check(f, &crc, "history", why, n) < 0) ||
            check_growing(f, i, p, &rows[i < 2 ? 0 : 1], why, n) < 0)
            return -1;
    }
    return 0;
}

/* Every dataset's checksum, after the rows that are final now, also kept in h->crc: 0 or
 * -1. */
static int set_crcs(ot_history_t *h)
{
    for (size_t i = 0; i < N_DATASETS; i++) {
        hid_t d = *dataset(h, i, NULL);
        if (ot_h5_crc(d, &h->crc[i]) < 0 || ot_h5_crc_put(d, h->crc[i]) < 0)
            return -1;
    }
    return 0;
}

/* An existing history's datasets against their checksums (a format 1 history has none):
 * 0, or OT_EFORMAT after one line naming the dataset. */
static int check_crcs(const ot_history_t *h)
{
    hid_t ds[2 + N_METRICS] = {h->step, h->loss};
    char names[2 + N_METRICS][32] = {"/steps/step", "/steps/loss"};
    for (size_t i = 0; i < N_METRICS; i++) {
        ds[2 + i] = h->epochs[i];
        snprintf(names[2 + i], sizeof names[2 + i], "/epochs/%s", ot_history_metrics[i]);
    }
    for (size_t i = 0; i < 2 + N_METRICS; i++) {
        uint32_t have = 0, want = 0;
        int r = ot_h5_crc_check(ds[i], &have, &want);
        if (r == 0 || r == -1)
            continue;
        if (r == 1)
            ot_error("%s: %s is damaged: its checksum is 0x%08x but its data give 0x%08x (move "
                     "it away to start a new one)", h->path, names[i], have, want);
        else
            ot_error("%s: %s cannot be read (damaged file? move it away to start a new one)",
                     h->path, names[i]);
        return OT_EFORMAT;
    }
    return OT_OK;
}

static int create_file(ot_history_t *h)
{
    hid_t fapl = make_fapl(), g = H5I_INVALID_HID;
    int rc = OT_EIO, format = OT_HISTORY_FORMAT;
    char created[32], reason[128] = "";
    ot_h5_utc_now(created, sizeof created);
    if (fapl < 0 || (h->file = H5Fcreate(h->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        goto fail;
    if (ot_h5_attr_scalar(h->file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &format) ||
        ot_h5_attr_str(h->file, "omptrain_version", OT_VERSION) ||
        ot_h5_attr_str(h->file, "created", created) || ot_h5_attrs_crc_set(h->file))
        goto fail;
    if ((g = H5Gcreate2(h->file, "steps", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        (h->step = create_growing(g, "step", H5T_STD_U64LE, STEP_CHUNK)) < 0 ||
        (h->loss = create_growing(g, "loss", H5T_IEEE_F32LE, STEP_CHUNK)) < 0)
        goto fail;
    H5Gclose(g);
    if ((g = H5Gcreate2(h->file, "epochs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto fail;
    for (size_t i = 0; i < N_METRICS; i++)
        if ((h->epochs[i] = create_growing(g, ot_history_metrics[i],
                                           metric_is_int(i) ? H5T_STD_U32LE : H5T_IEEE_F64LE,
                                           EPOCH_CHUNK)) < 0)
            goto fail;
    if (set_crcs(h) < 0 || H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0)
        goto fail;
    rc = OT_OK;
fail:
    if (rc) {
        ot_h5_reason(reason);
        ot_error("%s: cannot create the history file: %s", h->path, reason);
        h->failed = 1;
    }
    if (g >= 0)
        H5Gclose(g);
    if (fapl >= 0)
        H5Pclose(fapl);
    return rc;
}

/* Open dataset p of an existing history: 1-D, growable, stored as omptrain stores it; its
 * length goes to *n. */
static int open_growing(ot_history_t *h, const char *p, hid_t *d, hsize_t *n)
{
    hsize_t dims[1], maxdims[1];
    hid_t space = H5I_INVALID_HID;
    char why[OT_H5_PATH_MAX + 128];
    int there = ot_h5_find(h->file, p, 0, why, sizeof why);
    if (there <= 0) {
        if (there < 0)
            ot_error("%s: %s (not an omptrain history; move it away to start a new one)",
                     h->path, why);
        else
            ot_error("%s: %s is missing (not an omptrain history; move it away to start a new "
                     "one)", h->path, p);
        return OT_EFORMAT;
    }
    if ((*d = H5Dopen2(h->file, p, H5P_DEFAULT)) >= 0 && ot_h5_own_dataset(*d, why) < 0) {
        ot_error("%s: %s %s (not an omptrain history; move it away to start a new one)",
                 h->path, p, why);
        return OT_EFORMAT;
    }
    int ok = *d >= 0 && (space = H5Dget_space(*d)) >= 0 &&
             H5Sget_simple_extent_ndims(space) == 1 &&
             H5Sget_simple_extent_dims(space, dims, maxdims) == 1 &&
             maxdims[0] == H5S_UNLIMITED;
    if (space >= 0)
        H5Sclose(space);
    if (!ok) {
        ot_error("%s: %s is not a growing 1-D dataset (not an omptrain history; move it away to "
                 "start a new one)", h->path, p);
        return OT_EFORMAT;
    }
    *n = dims[0];
    return OT_OK;
}

/* Rows of a column to keep: those <= limit, the column strictly increasing (as omptrain
 * writes step and epoch numbers); *last is the last one kept (0: none). Read ROW_BLOCK rows at
 * a time, up to the first row past limit: what it reads and keeps in memory does not depend
 * on how many rows the file declares. */
static int count_upto(ot_history_t *h, hid_t d, const char *p, hsize_t n, uint64_t limit,
                      hsize_t *keep, uint64_t *last)
{
    uint64_t v[ROW_BLOCK];
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    int rc = OT_OK;
    *keep = 0;
    *last = 0;
    for (hsize_t r0 = 0; r0 < n && !rc; r0 += ROW_BLOCK) {
        hsize_t m = n - r0 < ROW_BLOCK ? n - r0 : ROW_BLOCK;
        if ((fs = H5Dget_space(d)) < 0 ||
            H5Sselect_hyperslab(fs, H5S_SELECT_SET, &r0, NULL, &m, NULL) < 0 ||
            (ms = H5Screate_simple(1, &m, NULL)) < 0 ||
            H5Dread(d, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, v) < 0) {
            ot_error("%s: %s cannot be read (damaged file? move it away to start a new one)",
                     h->path, p);
            rc = OT_EFORMAT;
        }
        for (hsize_t i = 0; i < m && !rc; i++) {
            if (r0 + i > 0 && v[i] <= *last) {
                ot_error("%s: %s row %llu is %llu after %llu, expected increasing numbers (move "
                         "it away to start a new one)", h->path, p,
                         (unsigned long long)(r0 + i), (unsigned long long)v[i],
                         (unsigned long long)*last);
                rc = OT_EFORMAT;
            } else if (v[i] > limit) {
                n = 0; /* the rows after it come after the checkpoint too */
                break;
            } else {
                *last = v[i];
                *keep = r0 + i + 1;
            }
        }
        if (ms >= 0)
            H5Sclose(ms);
        if (fs >= 0)
            H5Sclose(fs);
        ms = fs = H5I_INVALID_HID;
    }
    return rc;
}

/* The existing history h->file (open read-write) checked and cut back to step and epoch. */
static int cut_back(ot_history_t *h, uint64_t step, int epoch)
{
    int rc = OT_EFORMAT;
    hsize_t n_step, n_loss, n[N_METRICS], keep_steps, keep_epochs;
    uint64_t last_epoch;
    char p[64], why[OT_H5_PATH_MAX + 256];
    /* what verify checks: every dataset there, of its type, growing, the row counts agreeing */
    if (ot_history_check_layout(h->file, why, sizeof why) < 0) {
        ot_error("%s: %s; move it away to start a new one", h->path, why);
        goto out;
    }
    if ((rc = open_growing(h, "/steps/step", &h->step, &n_step)) ||
        (rc = open_growing(h, "/steps/loss", &h->loss, &n_loss)))
        goto out;
    for (size_t i = 0; i < N_METRICS; i++) {
        snprintf(p, sizeof p, "/epochs/%s", ot_history_metrics[i]);
        if ((rc = open_growing(h, p, &h->epochs[i], &n[i])))
            goto out;
    }
    if ((rc = check_crcs(h)))
        goto out;
    /* cut back to the checkpoint: what came after it is redone by this run */
    if ((rc = count_upto(h, h->step, "/steps/step", n_step, step, &keep_steps,
                         &h->last_step)) ||
        (rc = count_upto(h, h->epochs[0], "/epochs/epoch", n[0], (uint64_t)epoch, &keep_epochs,
                         &last_epoch)))
        goto out;
    h->last_epoch = last_epoch;
    rc = OT_EIO;
    if (H5Dset_extent(h->step, &keep_steps) < 0 || H5Dset_extent(h->loss, &keep_steps) < 0)
        goto trunc_fail;
    for (size_t i = 0; i < N_METRICS; i++)
        if (H5Dset_extent(h->epochs[i], &keep_epochs) < 0)
            goto trunc_fail;
    if (set_crcs(h) < 0 || H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0)
        goto trunc_fail;
    h->n_steps = keep_steps;
    h->n_epochs = keep_epochs;
    rc = OT_OK;
    goto out;
trunc_fail:
    ot_error("%s: cannot cut the history back to step %llu, epoch %d", h->path,
             (unsigned long long)step, epoch);
out:
    return rc;
}

static int open_existing(ot_history_t *h, uint64_t step, int epoch)
{
    hid_t fapl = make_fapl();
    htri_t is = ot_h5_is_hdf5(h->path, fapl);
    int rc;
    if (fapl < 0 || is <= 0 || (h->file = H5Fopen(h->path, H5F_ACC_RDWR, fapl)) < 0) {
        ot_error("%s: cannot open the run's history (%s; move it away to start a new one)",
                 h->path, is == 0 ? "not an HDF5 file" : "truncated, damaged or read-only");
        rc = OT_EFORMAT;
    } else {
        rc = cut_back(h, step, epoch);
    }
    if (fapl >= 0)
        H5Pclose(fapl);
    return rc;
}

/* h empty: every id invalid */
static void history_init(ot_history_t *h)
{
    memset(h, 0, sizeof *h);
    h->file = h->step = h->loss = H5I_INVALID_HID;
    for (size_t i = 0; i < N_METRICS; i++)
        h->epochs[i] = H5I_INVALID_HID;
}

int ot_history_open_h5(ot_history_t *h, hid_t f, const char *name, uint64_t step, int epoch)
{
    ot_h5_quiet_t q;
    history_init(h);
    h->file = f;
    snprintf(h->path, sizeof h->path, "%s", name);
    ot_h5_quiet(&q);
    int rc = cut_back(h, step, epoch);
    ot_h5_restore(&q);
    return rc;
}

int ot_history_open(ot_history_t *h, const char *dir, int resume, uint64_t step, int epoch,
                    int *created)
{
    ot_h5_quiet_t q;
    history_init(h);
    if (created)
        *created = 0;
    int len = snprintf(h->path, sizeof h->path, "%s/history.h5", dir);
    if (len < 0 || (size_t)len >= sizeof h->path) {
        ot_error("%s: the output directory name is too long", dir);
        return OT_EIO;
    }
    h->by_path = 1;
    ot_h5_quiet(&q);
    struct stat st;
    int rc;
    if (resume && stat(h->path, &st) == 0) {
        rc = open_existing(h, step, epoch);
    } else {
        rc = create_file(h);
        if (!rc && resume && created)
            *created = 1;
    }
    ot_h5_restore(&q);
    return rc;
}

/* Append k values of memory type mtype at row `at` of the 1-D dataset d; on failure the
 * reason goes to reason[128]. */
static int append(hid_t d, hsize_t at, hsize_t k, hid_t mtype, const void *buf, char *reason)
{
    hsize_t size = at + k, start = at;
    hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    int rc = -1;
    if (H5Dset_extent(d, &size) < 0 || (fs = H5Dget_space(d)) < 0 ||
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &k, NULL) < 0 ||
        (ms = H5Screate_simple(1, &k, NULL)) < 0 ||
        H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf) < 0)
        goto fail;
    rc = 0;
fail:
    if (rc)
        ot_h5_reason(reason);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return rc;
}

/* Close h's datasets and file: 0, or -1 when the file's close (its last flush) fails. */
static int close_ids(ot_history_t *h)
{
    for (size_t i = 0; i < N_DATASETS; i++) {
        hid_t *d = dataset(h, i, NULL);
        if (*d > 0)
            H5Dclose(*d);
        *d = H5I_INVALID_HID;
    }
    int rc = h->file > 0 && H5Fclose(h->file) < 0 ? -1 : 0;
    h->file = H5I_INVALID_HID;
    return rc;
}

/* After a failed append: the file cut back to the rows it had before, steps and epochs, which
 * must still give their checksums crc, and flushed: 0, or -1 when that cannot be done (the file
 * may be damaged). HDF5 1.10 cannot be trusted to go back itself: a failed flush leaves its
 * caches half written, and shrinking the datasets through them lost a chunk of rows that were
 * fine. So the file is closed, writing what it still can, and opened again, and the rows kept
 * are checked there, so that rows lost on the way are not passed off as intact. The cut writes
 * nothing new (the rows it drops hold the newest space), so a full disk takes it; it fails when
 * the append split a node of a chunk index and the new node never reached the disk. */
static int go_back(ot_history_t *h, hsize_t steps, hsize_t epochs, const uint32_t *crc)
{
    hid_t fapl = H5I_INVALID_HID;
    char p[64];
    int rc = -1;
    close_ids(h); /* fails like the append: nothing to say */
    if (!h->by_path) /* an image in memory (ot_history_open_h5): gone with its close */
        goto out;
    /* no rows to keep (the first append): a new history, rather than cutting back one whose
     * first chunk index may point past what reached the disk */
    if (steps == 0 && epochs == 0) {
        rc = create_file(h) ? -1 : 0;
        goto out;
    }
    if ((fapl = make_fapl()) < 0 || (h->file = H5Fopen(h->path, H5F_ACC_RDWR, fapl)) < 0)
        goto out;
    for (size_t i = 0; i < N_DATASETS; i++) {
        hid_t *d = dataset(h, i, p);
        hsize_t rows = i < 2 ? steps : epochs;
        uint32_t have;
        if ((*d = H5Dopen2(h->file, p, H5P_DEFAULT)) < 0 || H5Dset_extent(*d, &rows) < 0 ||
            ot_h5_crc(*d, &have) < 0 || have != crc[i] || ot_h5_crc_put(*d, have) < 0)
            goto out;
    }
    if (H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0)
        goto out;
    memcpy(h->crc, crc, sizeof h->crc);
    rc = 0;
out:
    if (fapl >= 0)
        H5Pclose(fapl);
    return rc;
}

int ot_history_append(ot_history_t *h, uint64_t first_step, const float *loss, size_t n,
                      const ot_epoch_stats_t *st)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    int rc = OT_EIO;
    uint64_t *steps = NULL;
    char reason[128] = "";
    /* what a failed append goes back to */
    const hsize_t n_steps = h->n_steps, n_epochs = h->n_epochs;
    const uint64_t last_step = h->last_step;
    uint32_t crc[N_DATASETS];
    memcpy(crc, h->crc, sizeof crc);
    /* steps already in the file (a resumed epoch's first part) are not written twice */
    size_t skip = h->last_step > first_step ? (size_t)(h->last_step - first_step) : 0;
    if (skip > n)
        skip = n;
    size_t k = n - skip;
    if (k > 0) {
        if (!(steps = malloc(k * sizeof *steps))) {
            ot_error("%s: cannot allocate %zu step numbers", h->path, k);
            rc = OT_ENOMEM;
            goto out;
        }
        for (size_t i = 0; i < k; i++)
            steps[i] = first_step + 1 + skip + i;
        if (append(h->step, h->n_steps, k, H5T_NATIVE_UINT64, steps, reason) ||
            append(h->loss, h->n_steps, k, H5T_NATIVE_FLOAT, loss + skip, reason))
            goto fail;
        h->n_steps += k;
        h->last_step = steps[k - 1];
    }
    const double real[N_METRICS] = {0,           st->train_loss, st->train_acc, st->test_loss,
                                    st->test_acc, st->val_loss,   st->val_acc,   st->lr,
                                    st->seconds,  st->samples_per_s, 0};
    const uint32_t ints[N_METRICS] = {[0] = (uint32_t)st->epoch,
                                      [N_METRICS - 1] = (uint32_t)st->threads};
    for (size_t i = 0; i < N_METRICS; i++)
        if (metric_is_int(i)
                ? append(h->epochs[i], h->n_epochs, 1, H5T_NATIVE_UINT32, &ints[i], reason)
                : append(h->epochs[i], h->n_epochs, 1, H5T_NATIVE_DOUBLE, &real[i], reason))
            goto fail;
    h->n_epochs++;
    if (set_crcs(h) < 0 || H5Fflush(h->file, H5F_SCOPE_LOCAL) < 0) {
        ot_h5_reason(reason);
        goto fail;
    }
    rc = OT_OK;
    goto out;
fail:
    h->n_steps = n_steps;
    h->n_epochs = n_epochs;
    h->last_step = last_step;
    if (go_back(h, n_steps, n_epochs, crc) == 0)
        ot_error("%s: cannot append epoch %d to the history: %s (it keeps the epochs before, "
                 "as they were)", h->path, st->epoch, reason[0] ? reason : "HDF5 error");
    else
        ot_error("%s: cannot append epoch %d to the history: %s; nor go back to the epochs "
                 "before: it may be damaged (move it away to start a new one)", h->path,
                 st->epoch, reason[0] ? reason : "HDF5 error");
    h->failed = 1;
out:
    free(steps);
    ot_h5_restore(&q);
    return rc;
}

int ot_history_close(ot_history_t *h)
{
    ot_h5_quiet_t q;
    int rc = OT_OK;
    ot_h5_quiet(&q);
    /* after a failed append the close may fail too: that error was reported already */
    if (close_ids(h) < 0 && !h->failed) {
        ot_error("%s: cannot close the history file (disk full?)", h->path);
        rc = OT_EIO;
    }
    ot_h5_restore(&q);
    return rc;
}
