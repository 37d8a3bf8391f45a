/* h5data.c - data sets in HDF5 files (see ot_h5data.h): the features and labels datasets are
 * checked (presence, type, rank, N, memory) before anything is read, then read by hyperslabs
 * of whole chunk rows, each H5Dread converting to uint8 or float32 and the library doing the
 * decompression; a block of an N x C x H x W dataset is turned to NHWC on the way. */
#include "ot_h5data.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_h5.h"
#include "ot_memory.h"
#include "ot_common.h"

#define BLOCK_BYTES ((size_t)16 << 20) /* about this much per H5Dread of features */
#define LABEL_BLOCK ((size_t)1 << 20)  /* labels per H5Dread */
#define LIST_NAMES 8                   /* root names listed when a dataset is missing */

/* ---------------------------------------------------------------- memory */


/* "1.5 GiB" */
static const char *bytes_str(size_t b, char *buf, size_t n)
{
    static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = (double)b;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0])
        v /= 1024.0, u++;
    if (u == 0)
        snprintf(buf, n, "%zu bytes", b);
    else
        snprintf(buf, n, "%.1f %s", v, units[u]);
    return buf;
}

/* ---------------------------------------------------------------- HDF5 helpers */

int ot_h5data_is_hdf5(const char *path)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    htri_t is = ot_h5_is_hdf5(path, H5P_DEFAULT);
    ot_h5_restore(&q);
    return is > 0 ? 1 : is == 0 ? 0 : -1;
}

/* What type t is, as numpy would say it: "uint8", "int32", "float64", "strings", ... */
static const char *type_str(hid_t t, char *buf, size_t n)
{
    static const struct {
        H5T_class_t cls;
        const char *what;
    } named[] = {
        {H5T_STRING, "strings"},
        {H5T_COMPOUND, "a compound type (records)"},
        {H5T_ENUM, "an enum (numpy bool?)"},
        {H5T_VLEN, "variable-length sequences (a ragged array)"},
        {H5T_ARRAY, "an array type (each value an array)"},
        {H5T_OPAQUE, "opaque bytes"},
        {H5T_BITFIELD, "bit fields"},
        {H5T_REFERENCE, "references to objects or regions"},
        {H5T_TIME, "times"},
    };
    const size_t bits = 8 * H5Tget_size(t);
    const H5T_class_t cls = H5Tget_class(t);
    const char *what = NULL;
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
        if (named[i].cls == cls)
            what = named[i].what;
    if (cls == H5T_INTEGER)
        snprintf(buf, n, "%sint%zu", H5Tget_sign(t) == H5T_SGN_NONE ? "u" : "", bits);
    else if (cls == H5T_FLOAT)
        snprintf(buf, n, "float%zu", bits);
    else if (what)
        snprintf(buf, n, "%s", what);
    else
        snprintf(buf, n, "a type of HDF5 class %d", (int)cls);
    return buf;
}

/* The kind of object at name in f (H5O_TYPE_DATASET, H5O_TYPE_GROUP, ...), or
 * H5O_TYPE_UNKNOWN when it cannot be told. */
static H5O_type_t object_type(hid_t f, const char *name)
{
    H5O_info_t oi;
#if H5_VERSION_GE(1, 12, 0)
    herr_t got = H5Oget_info_by_name3(f, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#else
    herr_t got = H5Oget_info_by_name2(f, name, &oi, H5O_INFO_BASIC, H5P_DEFAULT);
#endif
    return got < 0 ? H5O_TYPE_UNKNOWN : oi.type;
}

/* The root group's first LIST_NAMES names, ", "-joined, for "the file holds ...". */
static void root_names(hid_t f, char *buf, size_t n)
{
    H5G_info_t gi;
    size_t used = 0;
    buf[0] = '\0';
    if (H5Gget_info(f, &gi) < 0)
        return;
    for (hsize_t i = 0; i < gi.nlinks && i < LIST_NAMES; i++) {
        char name[128];
        ssize_t len = H5Lget_name_by_idx(f, "/", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0)
            break;
        int w = snprintf(buf + used, n - used, "%s'%s'", i ? ", " : "", name);
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
    if (gi.nlinks > LIST_NAMES && used < n)
        snprintf(buf + used, n - used, ", ... (%llu in all)", (unsigned long long)gi.nlinks);
}

/* ---------------------------------------------------------------- the datasets */

/* An open dataset with its type, space and shape. */
typedef struct {
    const char *name; /* as the config gives it */
    const char *key;  /* the config key that names it: "data.features" */
    hid_t d, type, space;
    int rank;
    hsize_t dims[H5S_MAX_RANK];
} dset_t;

static void dset_close(dset_t *s)
{
    if (s->space >= 0)
        H5Sclose(s->space);
    if (s->type >= 0)
        H5Tclose(s->type);
    if (s->d >= 0)
        H5Dclose(s->d);
    s->d = s->type = s->space = H5I_INVALID_HID;
}

/* Open dataset s->name of f: 0, 1 when it is missing and *missing_ok, else OT_EFORMAT after
 * one line. */
static int dset_open(hid_t f, const char *path, dset_t *s, int missing_ok)
{
    char names[512], why[OT_H5_PATH_MAX + 128];
    s->d = s->type = s->space = H5I_INVALID_HID;
    /* every link on the way looked at before it is followed: none may lead out of the file */
    int there = ot_h5_find(f, s->name, 1, why, sizeof why);
    if (there < 0) {
        ot_error("%s: dataset '%s' (%s): %s", path, s->name, s->key, why);
        return OT_EFORMAT;
    }
    if (!there) {
        if (missing_ok)
            return 1;
        root_names(f, names, sizeof names);
        ot_error("%s: no dataset '%s' (%s); the file holds %s", path, s->name, s->key,
                 names[0] ? names : "nothing");
        return OT_EFORMAT;
    }
    const H5O_type_t type = object_type(f, s->name);
    if (type != H5O_TYPE_DATASET) {
        ot_error("%s: '%s' (%s) is %s, expected a dataset", path, s->name, s->key,
                 type == H5O_TYPE_GROUP ? "a group" : "not a dataset");
        return OT_EFORMAT;
    }
    /* where its values lie before anything else is asked (a virtual dataset's shape may come
     * from other files); its chunks are bounded once its size is known */
    if ((s->d = H5Dopen2(f, s->name, H5P_DEFAULT)) >= 0 &&
        ot_h5_storage_check(s->d, SIZE_MAX, 1, why) < 0) {
        ot_error("%s: dataset '%s' (%s) %s", path, s->name, s->key, why);
        dset_close(s);
        return OT_EFORMAT;
    }
    if (s->d < 0 || (s->type = H5Dget_type(s->d)) < 0 ||
        (s->space = H5Dget_space(s->d)) < 0 ||
        (s->rank = H5Sget_simple_extent_ndims(s->space)) < 0 ||
        H5Sget_simple_extent_dims(s->space, s->dims, NULL) < 0) {
        ot_error("%s: dataset '%s' (%s) cannot be opened (damaged file?)", path, s->name,
                 s->key);
        dset_close(s);
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* Will reading s decompress chunks: does it pass its values through filters, and has it
 * stored any (a dataset never written holds only its fill value)? */
static int decompresses(const dset_t *s)
{
    hid_t dcpl = H5Dget_create_plist(s->d);
    int n = dcpl >= 0 ? H5Pget_nfilters(dcpl) : 1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return n != 0 && H5Dget_storage_size(s->d) > 0;
}

/* Select rows [r0, r0 + m) of s (all of every other axis) and make the matching memory
 * space; returns it, or H5I_INVALID_HID. */
static hid_t select_rows(const dset_t *s, hsize_t r0, hsize_t m)
{
    hsize_t start[H5S_MAX_RANK] = {0}, count[H5S_MAX_RANK];
    for (int i = 0; i < s->rank; i++)
        count[i] = s->dims[i];
    start[0] = r0;
    count[0] = m;
    if (H5Sselect_hyperslab(s->space, H5S_SELECT_SET, start, NULL, count, NULL) < 0)
        return H5I_INVALID_HID;
    return H5Screate_simple(s->rank, count, NULL);
}

/* Rows [r0, r0 + m) of s (what: "samples" or "labels", for the message) read as mtype into
 * buf: OT_OK, or OT_EIO with one line naming the rows and why. */
static int read_rows(const dset_t *s, const char *path, const char *what, hsize_t r0,
                     hsize_t m, hid_t mtype, void *buf)
{
    hid_t mem = select_rows(s, r0, m);
    int rc = OT_OK;
    if (mem < 0 || H5Dread(s->d, mtype, mem, s->space, H5P_DEFAULT, buf) < 0) {
        char reason[128];
        ot_error("%s: dataset '%s' (%s): cannot read %s %llu..%llu: %s", path, s->name, s->key,
                 what, (unsigned long long)r0, (unsigned long long)(r0 + m - 1),
                 ot_h5_reason(reason));
        rc = OT_EIO;
    }
    if (mem >= 0)
        H5Sclose(mem);
    return rc;
}

/* The rows one read takes: whole chunk rows (a chunk is then decompressed once, without a
 * chunk cache), about BLOCK_BYTES of memory type. */
static hsize_t block_rows(const dset_t *s, size_t row_bytes, hsize_t n)
{
    hsize_t unit = 1, rows;
    hid_t dcpl = H5Dget_create_plist(s->d);
    if (dcpl >= 0) {
        hsize_t chunk[H5S_MAX_RANK];
        if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, s->rank, chunk) >= 1 &&
            chunk[0] > 0)
            unit = chunk[0];
        H5Pclose(dcpl);
    }
    rows = (hsize_t)(BLOCK_BYTES / (row_bytes ? row_bytes : 1)) / unit * unit;
    if (rows < unit)
        rows = unit;
    return rows < n ? rows : n;
}

/* block (m, c, hw) -> out (m, hw, c): one N x C x H x W block to NHWC */
static void nchw_to_nhwc(const void *block, void *out, size_t m, size_t c, size_t hw,
                         size_t elem)
{
    const char *src = block;
    char *dst = out;
    for (size_t s = 0; s < m; s++)
        for (size_t ch = 0; ch < c; ch++)
            for (size_t p = 0; p < hw; p++)
                memcpy(dst + ((s * hw + p) * c + ch) * elem, src + ((s * c + ch) * hw + p) * elem,
                       elem);
}

/* The first value of x (m samples of ds's shape, the first being sample r0) that is NaN or
 * Inf: reported with its index as the file holds it (nchw: (n, c, h, w)), OT_EFORMAT; else 0. */
static int check_finite(const float *x, size_t m, size_t r0, const ot_dataset_t *ds, int rank,
                        int nchw, const char *path, const dset_t *s)
{
    const size_t dim = ds->dim, C = ds->chans, W = ds->cols;
    for (size_t i = 0; i < m * dim; i++) {
        if (isfinite(x[i]))
            continue;
        const size_t smp = r0 + i / dim, j = i % dim; /* NHWC in memory */
        const size_t h = j / C / W, w = j / C % W, c = j % C;
        char where[96];
        if (rank == 2)
            snprintf(where, sizeof where, "(%zu, %zu)", smp, j);
        else if (rank == 3)
            snprintf(where, sizeof where, "(%zu, %zu, %zu)", smp, h, w);
        else if (nchw)
            snprintf(where, sizeof where, "(%zu, %zu, %zu, %zu)", smp, c, h, w);
        else
            snprintf(where, sizeof where, "(%zu, %zu, %zu, %zu)", smp, h, w, c);
        ot_error("%s: dataset '%s' (%s): element %s is %s%s, expected finite numbers", path,
                 s->name, s->key, where, isnan(x[i]) ? "NaN" : x[i] > 0 ? "Inf" : "-Inf",
                 isnan(x[i]) ? "" : " (or beyond float32's range)");
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* Read features rows [0, n) of s into ds (whose images or features are allocated). */
static int read_features(const dset_t *s, const char *path, ot_dataset_t *ds, size_t n,
                         int file_nchw, const ot_h5data_opts_t *o)
{
    const int bytes = ds->images != NULL;
    const size_t elem = bytes ? 1 : sizeof(float), dim = ds->dim;
    const hid_t mtype = bytes ? H5T_NATIVE_UINT8 : H5T_NATIVE_FLOAT;
    const hsize_t step = block_rows(s, dim * elem, n);
    const int nchw = file_nchw && ds->chans > 1; /* one channel needs no reordering */
    char *dst = bytes ? (char *)ds->images : (char *)ds->features;
    void *tmp = NULL;
    int rc = OT_OK;
    if (nchw && !(tmp = malloc((size_t)step * dim * elem))) {
        ot_error("%s: cannot allocate %zu bytes to reorder '%s' to NHWC", path,
                 (size_t)step * dim * elem, s->name);
        return OT_ENOMEM;
    }
    /* how far reading has come, on a terminal (o->progress), once it takes a while */
    ot_bar_t bar;
    ot_bar_begin(&bar, o->progress, o->progress_after);
    for (hsize_t r0 = 0; r0 < n && !rc; r0 += step) {
        const hsize_t m = n - r0 < step ? n - r0 : step;
        char *out = dst + (size_t)r0 * dim * elem;
        rc = read_rows(s, path, "samples", r0, m, mtype, nchw ? tmp : out);
        if (!rc && nchw)
            nchw_to_nhwc(tmp, out, (size_t)m, ds->chans, ds->rows * ds->cols, elem);
        if (!rc && !bytes)
            rc = check_finite((const float *)(const void *)out, (size_t)m, (size_t)r0, ds,
                              s->rank, file_nchw, path, s);
        if (!rc && r0 + m < n) /* (a message has erased the line: ot_status_line) */
            ot_bar_show(&bar, "  loading %s '%s': %llu of %llu samples (%.0f%%)", path, s->name,
                        (unsigned long long)(r0 + m), (unsigned long long)n,
                        100.0 * (double)(r0 + m) / (double)n);
    }
    if (!rc)
        ot_bar_end(&bar);
    free(tmp);
    return rc;
}

/* Read every label of s (all N: a wrong label is a wrong file, whatever the limit), check
 * each against n_classes, keep the first n in ds->labels. Floating-point labels (Caffe's
 * HDF5Data layer reads its labels as floats, so its users' files hold them so) are taken when
 * they are whole numbers. Unsigned integers are read as uint64, signed ones as int64, so that
 * a label out of range is named as the file holds it (HDF5 clamps what a type cannot hold). */
static int read_labels(const dset_t *s, const char *path, ot_dataset_t *ds, size_t n,
                       int n_classes)
{
    const hsize_t N = s->dims[0];
    const int floats = H5Tget_class(s->type) == H5T_FLOAT;
    const int unsig = !floats && H5Tget_sign(s->type) == H5T_SGN_NONE;
    const hid_t mtype = floats ? H5T_NATIVE_DOUBLE : unsig ? H5T_NATIVE_UINT64
                                                           : H5T_NATIVE_INT64;
    union {
        int64_t *i;
        uint64_t *u;
        double *f;
        void *p;
    } buf = {.p = malloc((N < LABEL_BLOCK ? (size_t)N : LABEL_BLOCK) * sizeof(double))};
    int rc = OT_OK;
    if (!buf.p) {
        ot_error("%s: cannot allocate a buffer for the labels of '%s'", path, s->name);
        return OT_ENOMEM;
    }
    /* A dataset with no storage written holds its fill value in every row, so its first row
     * checks them all: a file can declare 2^31 such rows at no cost, and reading them one by
     * one took the fuzzer's time limit (tests/fuzz/regress/h5data). */
    H5D_space_status_t status;
    const int uniform = H5Dget_space_status(s->d, &status) >= 0 &&
                        status == H5D_SPACE_STATUS_NOT_ALLOCATED;
    const hsize_t scan = uniform && N > 0 ? 1 : N;
    for (hsize_t r0 = 0; r0 < scan && !rc; r0 += LABEL_BLOCK) {
        const hsize_t m = scan - r0 < LABEL_BLOCK ? scan - r0 : LABEL_BLOCK;
        rc = read_rows(s, path, "labels", r0, m, mtype, buf.p);
        for (hsize_t i = 0; i < m && !rc; i++) {
            const double f = floats ? buf.f[i] : 0.0;
            if (floats && !(f >= 0.0 && f < n_classes && f == (double)(int)f)) {
                ot_error("%s: dataset '%s' (%s): label %.17g at index %llu is not a class, "
                         "expected a whole number in 0..%d (data.classes = %d)", path, s->name,
                         s->key, f, (unsigned long long)(r0 + i), n_classes - 1, n_classes);
                rc = OT_EFORMAT;
                break;
            }
            /* a negative label is a large u, and out of range as well */
            const uint64_t u = floats ? (uint64_t)f : unsig ? buf.u[i] : (uint64_t)buf.i[i];
            if (u >= (uint64_t)n_classes) {
                char said[24]; /* as the file holds it */
                if (unsig)
                    snprintf(said, sizeof said, "%llu", (unsigned long long)u);
                else
                    snprintf(said, sizeof said, "%lld", (long long)buf.i[i]);
                ot_error("%s: dataset '%s' (%s): label %s at index %llu is out of range, "
                         "expected 0..%d (data.classes = %d)", path, s->name, s->key, said,
                         (unsigned long long)(r0 + i), n_classes - 1, n_classes);
                rc = OT_EFORMAT;
            } else if (r0 + i < n) {
                ds->labels[r0 + i] = (uint8_t)u;
            }
        }
    }
    if (!rc && uniform && n > 1) /* every row as the first */
        memset(ds->labels + 1, ds->labels[0], n - 1);
    free(buf.p);
    return rc;
}

/* The features' type and rank, into ds's shape; 0 or OT_EFORMAT after one line. */
static int features_shape(const dset_t *s, const char *path, ot_layout_t layout,
                          ot_dataset_t *ds, int *bytes)
{
    char tname[64], shape[128];
    const H5T_class_t cls = H5Tget_class(s->type);
    const size_t size = H5Tget_size(s->type);
    if (cls == H5T_INTEGER && size == 1 && H5Tget_sign(s->type) == H5T_SGN_NONE)
        *bytes = 1;
    else if (cls == H5T_FLOAT && (size == 4 || size == 8))
        *bytes = 0;
    else {
        ot_error("%s: dataset '%s' (%s) holds %s, expected uint8 (scaled to [0, 1]), float32 "
                 "or float64%s", path, s->name, s->key, type_str(s->type, tname, sizeof tname),
                 cls == H5T_VLEN ? ", every sample of one shape (pad or crop the samples to "
                                   "one size)" : "");
        return OT_EFORMAT;
    }
    ot_h5_dims_str(s->rank, s->dims, shape, sizeof shape);
    if (s->rank < 2 || s->rank > 4) {
        ot_error("%s: dataset '%s' (%s) has rank %d (shape %s), expected N x D, N x H x W, "
                 "N x H x W x C or N x C x H x W (data.layout = nchw)", path, s->name, s->key,
                 s->rank, shape);
        return OT_EFORMAT;
    }
    for (int i = 0; i < s->rank; i++)
        if (s->dims[i] == 0) {
            ot_error("%s: dataset '%s' (%s) has shape %s, expected no zero-sized axis", path,
                     s->name, s->key, shape);
            return OT_EFORMAT;
        }
    const hsize_t *d = s->dims;
    if (s->rank == 2)
        ds->chans = d[1], ds->rows = ds->cols = 1, ds->flat = 1;
    else if (s->rank == 3)
        ds->chans = 1, ds->rows = d[1], ds->cols = d[2];
    else if (layout == OT_LAYOUT_NHWC)
        ds->rows = d[1], ds->cols = d[2], ds->chans = d[3];
    else
        ds->chans = d[1], ds->rows = d[2], ds->cols = d[3];
    size_t dim = 1;
    for (int i = 1; i < s->rank; i++)
        if (d[i] > SIZE_MAX || ot_mul_size(dim, (size_t)d[i], &dim) || dim > UINT32_MAX) {
            ot_error("%s: dataset '%s' (%s) has shape %s: more than 2^32 values per sample", path,
                     s->name, s->key, shape);
            return OT_EFORMAT;
        }
    if (d[0] > UINT32_MAX) {
        ot_error("%s: dataset '%s' (%s) has shape %s: more than 2^32 samples", path, s->name,
                 s->key, shape);
        return OT_EFORMAT;
    }
    ds->dim = dim;
    return OT_OK;
}

/* The labels' type and shape against the features' N; 0 or OT_EFORMAT after one line. */
static int labels_shape(const dset_t *s, const dset_t *feat, const char *path, int n_classes)
{
    char tname[64], shape[128];
    if (H5Tget_class(s->type) != H5T_INTEGER && H5Tget_class(s->type) != H5T_FLOAT) {
        ot_error("%s: dataset '%s' (%s) holds %s, expected integers (class indices), or "
                 "floats holding whole numbers", path, s->name, s->key,
                 type_str(s->type, tname, sizeof tname));
        return OT_EFORMAT;
    }
    ot_h5_dims_str(s->rank, s->dims, shape, sizeof shape);
    if (s->rank != 1 && !(s->rank == 2 && s->dims[1] == 1)) {
        /* N x classes: Keras's one-hot rows */
        const int one_hot = s->rank == 2 && s->dims[1] == (hsize_t)n_classes;
        ot_error("%s: dataset '%s' (%s) has shape %s, expected N or N x 1 labels%s", path,
                 s->name, s->key, shape,
                 one_hot ? " (one-hot rows? store each row's class index instead: "
                           "numpy.argmax(y, axis=1))" : "");
        return OT_EFORMAT;
    }
    if (s->dims[0] != feat->dims[0]) {
        ot_error("%s: dataset '%s' (%s) has %llu samples but '%s' (%s) has %llu labels; "
                 "expected one label per sample", path, feat->name, feat->key,
                 (unsigned long long)feat->dims[0], s->name, s->key,
                 (unsigned long long)s->dims[0]);
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* Longest name kept (of a class or a sample), in bytes; a longer one is cut. */
#define NAME_MAX_BYTES 64
/* The most bytes the variable-length strings of a names dataset may take a sample. */
#define NAME_READ_MAX 4096

/* s without a UTF-8 sequence that a cut left incomplete at its end. */
static void utf8_whole(char *s)
{
    size_t n = strlen(s), j = n;
    while (j > 0 && ((unsigned char)s[j - 1] & 0xC0) == 0x80) /* back over continuation bytes */
        j--;
    if (j == 0)
        return;
    const unsigned char lead = (unsigned char)s[j - 1];
    const size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (j - 1 + want > n)
        s[j - 1] = '\0';
}

/* The first n strings of obj, a rank-1 attribute of exactly n strings (dataset 0) or a rank-1
 * dataset of at least n (a limit keeps the first), variable or fixed length: one block of n
 * pointers and the names, each cut at NAME_MAX_BYTES and control characters made '?', so that
 * a name stays one CSV field on one line; NULL when obj is not such strings (the names only
 * label the output). A dataset's variable-length strings are read only when they take at most
 * NAME_READ_MAX bytes a sample (the file cannot make the reader allocate more). */
static char **read_names(hid_t obj, int dataset, size_t n)
{
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, mem = H5I_INVALID_HID;
    hid_t mspace = H5I_INVALID_HID;
    char *raw = NULL, **names = NULL;
    size_t size = 0;
    const hsize_t start[1] = {0}, count[1] = {n};
    int vlen = 0; /* variable-length strings (h5py's), else fixed-length ones */
    if (n == 0 || (type = dataset ? H5Dget_type(obj) : H5Aget_type(obj)) < 0 ||
        H5Tget_class(type) != H5T_STRING ||
        (space = dataset ? H5Dget_space(obj) : H5Aget_space(obj)) < 0 ||
        H5Sget_simple_extent_ndims(space) != 1 ||
        (dataset ? H5Sget_simple_extent_npoints(space) < (hssize_t)n
                 : H5Sget_simple_extent_npoints(space) != (hssize_t)n) ||
        (mem = H5Tcopy(H5T_C_S1)) < 0 || H5Tset_cset(mem, H5Tget_cset(type)) < 0 ||
        (mspace = H5Screate_simple(1, count, NULL)) < 0 ||
        (dataset && H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, count, NULL) < 0))
        goto out;
    if ((vlen = H5Tis_variable_str(type) > 0)) {
        size = sizeof(char *);
        hsize_t heap = 0;
        if (H5Tset_size(mem, H5T_VARIABLE) < 0 ||
            (dataset && (H5Dvlen_get_buf_size(obj, mem, space, &heap) < 0 ||
                         heap > (hsize_t)n * NAME_READ_MAX)))
            goto out;
    } else {
        size = H5Tget_size(type) + 1; /* room for the NUL a padded string lacks */
        if (size < 2 || size > OT_H5_MAX_ELEMENT || H5Tset_size(mem, size) < 0 ||
            H5Tset_strpad(mem, H5T_STR_NULLTERM) < 0)
            goto out;
    }
    if (!(raw = calloc(n, size)))
        goto out;
    if ((dataset ? H5Dread(obj, mem, mspace, space, H5P_DEFAULT, raw)
                 : H5Aread(obj, mem, raw)) < 0) {
        vlen = 0; /* nothing to reclaim */
        goto out;
    }
    if ((names = malloc(n * (sizeof(char *) + NAME_MAX_BYTES + 1)))) {
        char *text = (char *)(names + n);
        for (size_t i = 0; i < n; i++) {
            const char *v = vlen ? ((char **)raw)[i] : raw + i * size;
            char *d = names[i] = text + i * (NAME_MAX_BYTES + 1);
            snprintf(d, NAME_MAX_BYTES + 1, "%s", v ? v : "");
            utf8_whole(d);
            for (; *d; d++)
                if ((unsigned char)*d < 0x20 || *d == 0x7f)
                    *d = '?';
        }
    }
out:
    if (raw && vlen)
        H5Dvlen_reclaim(mem, mspace, H5P_DEFAULT, raw);
    free(raw);
    if (mspace >= 0)
        H5Sclose(mspace);
    if (mem >= 0)
        H5Tclose(mem);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return names;
}

/* The root attribute class_names of f into ds->class_names when it holds n_classes strings in
 * a list, else why not into ds->class_names_note (the caller may say it: the names only label
 * the output, and a file without them is fine). */
static void read_class_names(hid_t f, int n_classes, ot_dataset_t *ds)
{
    char *note = ds->class_names_note, tname[64], shape[128];
    const size_t nn = sizeof ds->class_names_note;
    ot_h5_attr_t at;
    hsize_t dims[H5S_MAX_RANK];
    int rank = -1;
    if (ot_h5_attr_open(f, "class_names", &at) < 0 ||
        (rank = H5Sget_simple_extent_dims(at.space, dims, NULL)) < 0)
        snprintf(note, nn, "attribute class_names cannot be read (damaged file?)");
    else if (H5Tget_class(at.type) != H5T_STRING)
        snprintf(note, nn, "attribute class_names holds %s, expected %d strings, one a class",
                 type_str(at.type, tname, sizeof tname), n_classes);
    else if (rank == 0)
        snprintf(note, nn, "attribute class_names is %s, expected a list of %d, one a class",
                 H5Sget_simple_extent_type(at.space) == H5S_NULL ? "empty (no value)"
                                                               : "a single string",
                 n_classes);
    else if (rank > 1)
        snprintf(note, nn, "attribute class_names has shape %s, expected a list of %d strings, "
                 "one a class", ot_h5_dims_str(rank, dims, shape, sizeof shape), n_classes);
    else if (dims[0] != (hsize_t)n_classes)
        snprintf(note, nn, "attribute class_names holds %llu name%s, not data.classes = %d",
                 (unsigned long long)dims[0], dims[0] == 1 ? "" : "s", n_classes);
    else if (!(ds->class_names = read_names(at.a, 0, (size_t)n_classes)))
        snprintf(note, nn, "attribute class_names: its %d strings cannot be read", n_classes);
    ot_h5_attr_close(&at);
}

/* The names that label the output. The classes', where the file holds them as
 * scripts/to_hdf5.py keeps a PNG folder's: the root attribute class_names, one string per
 * class; any other attribute of that name is left alone, and why said in
 * ds->class_names_note. And for predict (labels optional),
 * the samples': the dataset file_names, one string per sample (to_hdf5.py's file names). */
static void read_output_names(hid_t f, const ot_h5data_opts_t *o, ot_dataset_t *ds)
{
    if (H5Aexists(f, "class_names") > 0)
        read_class_names(f, o->n_classes, ds);
    if (!o->labels_optional || H5Lexists(f, "file_names", H5P_DEFAULT) <= 0)
        return;
    char why[128];
    hid_t d;
    if (object_type(f, "file_names") != H5O_TYPE_DATASET ||
        (d = H5Dopen2(f, "file_names", H5P_DEFAULT)) < 0)
        return;
    /* its values in this file, a chunk no larger than the names may take */
    const int stored = ot_h5_storage_check(d, ds->n * NAME_READ_MAX, 1, why) == 0;
    if (stored)
        ds->sample_names = read_names(d, 1, ds->n);
    if (!ds->sample_names && !ds->class_names_note[0]) { /* said, not dropped in silence */
        hid_t sp = H5Dget_space(d), ty = H5Dget_type(d);
        const int rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
        const long long np = sp >= 0 ? (long long)H5Sget_simple_extent_npoints(sp) : -1;
        const int str = ty >= 0 && H5Tget_class(ty) == H5T_STRING;
        if (!stored)
            snprintf(ds->class_names_note, sizeof ds->class_names_note,
                     "its dataset file_names: %s", why);
        else
            snprintf(ds->class_names_note, sizeof ds->class_names_note,
                     "its dataset file_names holds %lld %s%s, expected one string per "
                     "sample (%zu)", np, str ? "strings" : "values",
                     rank == 1 ? "" : " in more than one dimension", ds->n);
        if (sp >= 0)
            H5Sclose(sp);
        if (ty >= 0)
            H5Tclose(ty);
    }
    H5Dclose(d);
}

/* v into buf (n bytes) when it fits, else nothing: a longer string is not a layout */
static void copy_fitting(char *buf, size_t n, const char *v)
{
    const size_t len = strlen(v);
    if (len < n)
        memcpy(buf, v, len + 1);
}

/* The file's root attribute layout, a scalar string as h5py writes it (variable-length) or
 * a fixed-length one ("nhwc" or "nchw", as scripts/to_hdf5.py --layout records it), into
 * buf; "" when there is none or it is something else. */
static void layout_attr(hid_t f, char *buf, size_t n)
{
    ot_h5_attr_t at;
    hid_t mem = H5I_INVALID_HID;
    buf[0] = '\0';
    if (H5Aexists(f, "layout") <= 0)
        return;
    if (ot_h5_attr_open(f, "layout", &at) < 0 || H5Tget_class(at.type) != H5T_STRING ||
        H5Sget_simple_extent_npoints(at.space) != 1 || (mem = H5Tcopy(H5T_C_S1)) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(at.type)) < 0)
        goto out; /* (h5py's strings are UTF-8, which HDF5 does not convert to ASCII) */
    if (H5Tis_variable_str(at.type) > 0) {
        char *v = NULL;
        if (H5Tset_size(mem, H5T_VARIABLE) >= 0 && H5Aread(at.a, mem, &v) >= 0 && v) {
            copy_fitting(buf, n, v);
            H5free_memory(v);
        }
    } else {
        char v[64] = ""; /* longer ones are not a layout */
        if (H5Tget_size(at.type) < sizeof v && H5Tset_size(mem, sizeof v) >= 0 &&
            H5Tset_strpad(mem, H5T_STR_NULLTERM) >= 0 && H5Aread(at.a, mem, v) >= 0)
            copy_fitting(buf, n, v);
    }
out:
    if (mem >= 0)
        H5Tclose(mem);
    ot_h5_attr_close(&at);
}

/* The bytes of one chunk of s as stored (a whole chunk is decompressed to read any of it);
 * SIZE_MAX when s is not chunked or the product overflows. */
static size_t chunk_bytes(const dset_t *s)
{
    hsize_t chunk[H5S_MAX_RANK];
    size_t bytes = H5Tget_size(s->type);
    hid_t dcpl = H5Dget_create_plist(s->d);
    int rank = dcpl >= 0 && H5Pget_layout(dcpl) == H5D_CHUNKED
                   ? H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk) : -1;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (rank < 1 || bytes == 0)
        return SIZE_MAX;
    for (int i = 0; i < rank; i++)
        if (chunk[i] > SIZE_MAX || ot_mul_size(bytes, (size_t)chunk[i], &bytes))
            return SIZE_MAX;
    return bytes;
}

/* Rows of about 1 MiB of s as stored (scripts/to_hdf5.py's chunks), down to 1, 2 or 5 times a
 * power of ten, at most N: "1000x28x28" for MNIST's images. */
static const char *small_chunk(const dset_t *s, char *buf, size_t n)
{
    size_t row = H5Tget_size(s->type), rows = 1, nice = 1;
    hsize_t dims[H5S_MAX_RANK];
    for (int i = 1; i < s->rank; i++)
        if (ot_mul_size(row, (size_t)s->dims[i], &row))
            row = SIZE_MAX;
    if (row > 0 && row < ((size_t)1 << 20))
        rows = ((size_t)1 << 20) / row;
    for (size_t p = 1; p <= rows; p *= 10) /* rows <= 2^20 */
        for (size_t m = 1; m <= 5; m += m == 1 ? 1 : 3) /* 1, 2, 5 */
            if (p * m <= rows)
                nice = p * m;
    memcpy(dims, s->dims, sizeof dims);
    dims[0] = nice < s->dims[0] ? nice : s->dims[0];
    return ot_h5_dims_str(s->rank, dims, buf, n);
}

/* Whether the chunks of dataset s are no more than a chunk may take: the larger of BLOCK_BYTES
 * and need, the memory of the n samples read, when reading s decompresses them; full is the
 * memory of all N. 0, or OT_EFORMAT after one line saying how large they are; a limit (n < N)
 * lowers the bound, so that it reads only what it keeps: said so, with whether the chunks
 * would pass without it. */
static int check_chunks(const dset_t *s, const char *path, size_t need, size_t n, size_t N,
                        size_t full)
{
    char nb[32], bb[32], shape[128], read[96], why[128];
    const size_t bound = full > BLOCK_BYTES ? full : BLOCK_BYTES;
    const size_t max_chunk = need > BLOCK_BYTES ? need : BLOCK_BYTES;
    if (ot_h5_storage_check(s->d, decompresses(s) ? max_chunk : SIZE_MAX, 1, why) == 0)
        return OT_OK;
    if (n == N)
        snprintf(read, sizeof read, "%zu samples", n);
    else if (chunk_bytes(s) <= bound)
        snprintf(read, sizeof read, "the %zu samples a limit keeps; all %zu would allow these "
                 "chunks", n, N);
    else
        snprintf(read, sizeof read, "the %zu samples a limit keeps", n);
    ot_error("%s: dataset '%s' (%s) %s; HDF5 decompresses a chunk whole, and one may take %s "
             "or the memory of the samples read (%s for %s); expected smaller chunks: "
             "h5repack -l %s:CHUNK=%s %s OUT.h5 rewrites them in chunks of about 1 MiB, as "
             "scripts/to_hdf5.py writes", path, s->name, s->key, why,
             bytes_str(BLOCK_BYTES, bb, sizeof bb), bytes_str(need, nb, sizeof nb), read,
             s->name, small_chunk(s, shape, sizeof shape), path);
    return OT_EFORMAT;
}

/* The features and labels of the open file f (named path in messages) into ds (memset by the
 * caller); f is left open. */
static int load(ot_dataset_t *ds, hid_t f, const char *path, const ot_h5data_opts_t *o,
                int *has_labels)
{
    dset_t feat = {o->features, "data.features", H5I_INVALID_HID, H5I_INVALID_HID,
                   H5I_INVALID_HID, 0, {0}};
    dset_t lab = {o->labels, "data.labels", H5I_INVALID_HID, H5I_INVALID_HID, H5I_INVALID_HID,
                  0, {0}};
    int rc, bytes = 0, labelled = 0;

    if ((rc = dset_open(f, path, &feat, 0)) ||
        (rc = features_shape(&feat, path, o->layout, ds, &bytes)))
        goto out;
    char layout[8];
    layout_attr(f, layout, sizeof layout);
    const char *want = ot_layout_name(o->layout);
    if (feat.rank == 4 && (!strcmp(layout, "nhwc") || !strcmp(layout, "nchw")) &&
        strcmp(layout, want) != 0) { /* the file says how its axes lie: read them that way */
        ot_error("%s: its attribute layout says the samples lie %s, but data.layout = %s reads "
                 "them as %s; expected data.layout = %s", path,
                 layout[1] == 'h' ? "N x H x W x C" : "N x C x H x W", want,
                 want[1] == 'h' ? "N x H x W x C" : "N x C x H x W", layout);
        rc = OT_ECONFIG;
        goto out;
    }
    rc = dset_open(f, path, &lab, o->labels_optional);
    if (rc < 0)
        goto out;
    labelled = rc == 0;
    if (labelled && (rc = labels_shape(&lab, &feat, path, o->n_classes)))
        goto out;

    /* the memory it needs, before any of it is read */
    const size_t N = (size_t)feat.dims[0], n = o->limit && o->limit < N ? o->limit : N;
    const size_t elem = bytes ? 1 : sizeof(float);
    size_t need, avail;
    const char *what = "the limit given";
    if (ot_mul_size(n, ds->dim, &need) || ot_mul_size(need, elem, &need) || need > SIZE_MAX - n)
        need = SIZE_MAX;
    else
        need += n;
    avail = o->mem_limit ? o->mem_limit : (size_t)ot_mem_available(&what);
    if (need > avail) {
        char nb[32], ab[32], shape[128];
        ot_error("%s: dataset '%s' (%s) of shape %s needs %s in memory for %zu samples, more "
                 "than the %s available (%s); expected a smaller data set (data.train_limit and "
                 "data.test_limit read only the first samples)", path, feat.name, feat.key,
                 ot_h5_dims_str(feat.rank, feat.dims, shape, sizeof shape),
                 bytes_str(need, nb, sizeof nb), n, bytes_str(avail, ab, sizeof ab), what);
        rc = OT_ENOMEM;
        goto out;
    }
    /* HDF5 decompresses a stored chunk at a time into a buffer of its size (an unfiltered one
     * it reads in place): no larger than the data set read (the n samples a limit keeps, so
     * that a limit bounds the memory as the message above says), or BLOCK_BYTES. dset_open's
     * check passed, so a chunk too large is all a check here can find. */
    size_t full = SIZE_MAX; /* the memory of all N samples */
    if (!ot_mul_size(N, ds->dim, &full) && !ot_mul_size(full, elem, &full) &&
        full <= SIZE_MAX - N)
        full += N;
    else
        full = SIZE_MAX;
    if ((rc = check_chunks(&feat, path, need, n, N, full)) ||
        (labelled && (rc = check_chunks(&lab, path, need, n, N, full))))
        goto out;
    ds->n = n;
    ds->n_classes = o->n_classes;
    ds->load_bytes = need; /* hyperslabs of the n samples only: nothing else is kept */
    ds->labels = calloc(n, 1);
    if (bytes)
        ds->images = malloc(n * ds->dim);
    else
        ds->features = malloc(n * ds->dim * sizeof(float));
    if (!ds->labels || (!ds->images && !ds->features)) {
        char nb[32];
        ot_error("%s: cannot allocate %s for %zu samples of '%s'", path,
                 bytes_str(need, nb, sizeof nb), n, feat.name);
        rc = OT_ENOMEM;
        goto out;
    }
    const int nchw = feat.rank == 4 && o->layout == OT_LAYOUT_NCHW;
    if ((rc = read_features(&feat, path, ds, n, nchw, o)) ||
        (labelled && (rc = read_labels(&lab, path, ds, n, o->n_classes))))
        goto out;
    if (bytes) { /* as IDX images: the first layer may leave the zero pixels out */
        ds->nonzero = ot_nonzero_fraction(ds->images, n * ds->dim);
        if (ds->nonzero < OT_INDEX_BELOW && ds->dim <= OT_SPARSE_MAX_DIM &&
            (rc = ot_dataset_index(ds)))
            goto out;
    } else {
        ds->nonzero = 1.0f; /* floats: the lists of nonzero pixels hold bytes */
    }
    read_output_names(f, o, ds);
    if (has_labels)
        *has_labels = labelled;
    rc = OT_OK;
out:
    dset_close(&feat);
    dset_close(&lab);
    return rc;
}

/* n_classes within 2..256: 0, or OT_EINVAL after one line */
static int check_classes(const char *path, const ot_h5data_opts_t *o)
{
    if (o->n_classes < 2 || o->n_classes > 256) {
        ot_error("%s: data.classes %d is out of range, expected 2..256", path, o->n_classes);
        return OT_EINVAL;
    }
    return OT_OK;
}

int ot_h5data_load_h5(ot_dataset_t *ds, hid_t f, const char *name, const ot_h5data_opts_t *o,
                      int *has_labels)
{
    ot_h5_quiet_t q;
    memset(ds, 0, sizeof *ds);
    if (has_labels)
        *has_labels = 0;
    int rc = check_classes(name, o);
    if (rc)
        return rc;
    ot_h5_quiet(&q);
    rc = load(ds, f, name, o, has_labels);
    ot_h5_restore(&q);
    if (rc)
        ot_dataset_free(ds);
    return rc;
}

int ot_h5data_load(ot_dataset_t *ds, const char *path, const ot_h5data_opts_t *o,
                   int *has_labels)
{
    ot_h5_quiet_t q;
    struct stat st;
    int rc;

    memset(ds, 0, sizeof *ds);
    if (has_labels)
        *has_labels = 0;
    if ((rc = check_classes(path, o)))
        return rc;
    if (stat(path, &st) != 0) {
        ot_error("cannot open '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    if (S_ISDIR(st.st_mode)) {
        ot_error("cannot open '%s': it is a directory, expected an HDF5 file", path);
        return OT_EIO;
    }
    int is = ot_h5data_is_hdf5(path);
    if (is <= 0) {
        ot_error("%s: %s, expected an HDF5 file with datasets '%s' (data.features) and '%s' "
                 "(data.labels)", path, is == 0 ? "not an HDF5 file" : "cannot be read",
                 o->features, o->labels);
        return is == 0 ? OT_EFORMAT : OT_EIO;
    }
    ot_h5_quiet(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        ot_error("%s: cannot open as HDF5: the file is truncated or damaged", path);
        rc = OT_EFORMAT;
    } else {
        rc = ot_h5data_load_h5(ds, f, path, o, has_labels);
        H5Fclose(f);
    }
    ot_h5_restore(&q);
    return rc;
}
