/* input.c - the network's input: sample shape and standardisation, its statistics fitted on
 * the training set and kept in checkpoints under /input (see ot_input.h). */
#include "ot_input.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_h5.h"
#include "ot_common.h"

void ot_input_init(ot_input_t *in, const ot_shape_t *shape)
{
    memset(in, 0, sizeof *in);
    in->shape = *shape;
    in->normalize = OT_NORM_NONE;
    in->by = OT_NORM_BY_CHANNEL;
}

void ot_input_free(ot_input_t *in)
{
    free(in->mean);
    free(in->std);
    free(in->mean_x);
    free(in->std_x);
    in->mean = in->std = in->mean_x = in->std_x = NULL;
    in->n_stats = 0;
    in->normalize = OT_NORM_NONE;
}

/* Entries of the statistics: the channels, or every feature. */
static size_t stats_of(const ot_shape_t *s, ot_norm_by_t by)
{
    return by == OT_NORM_BY_CHANNEL ? s->c : ot_shape_size(s);
}

/* Allocate n_stats entries and the per-feature copies; 0 or OT_ENOMEM. */
static int alloc_stats(ot_input_t *in, size_t n_stats)
{
    const size_t dim = ot_shape_size(&in->shape);
    in->n_stats = n_stats;
    in->mean = malloc(n_stats * sizeof(float));
    in->std = malloc(n_stats * sizeof(float));
    in->mean_x = malloc(dim * sizeof(float));
    in->std_x = malloc(dim * sizeof(float));
    if (!in->mean || !in->std || !in->mean_x || !in->std_x) {
        ot_input_free(in);
        ot_error("cannot allocate the input statistics of %zu features", dim);
        return OT_ENOMEM;
    }
    return OT_OK;
}

/* mean_x, std_x from mean, std: feature j of an NHWC sample has channel j % c. */
static void expand(ot_input_t *in)
{
    const size_t dim = ot_shape_size(&in->shape), c = in->shape.c;
    for (size_t j = 0; j < dim; j++) {
        const size_t k = in->by == OT_NORM_BY_CHANNEL ? j % c : j;
        in->mean_x[j] = in->mean[k];
        in->std_x[j] = in->std[k];
    }
}

int ot_input_fit(ot_input_t *in, const ot_dataset_t *ds, ot_norm_by_t by)
{
    const size_t dim = ds->dim, c = in->shape.c;
    const size_t k = stats_of(&in->shape, by);
    double *sum = calloc(k, sizeof *sum), *sq = calloc(k, sizeof *sq);
    float *x = malloc(dim * sizeof *x);
    int rc = OT_ENOMEM;
    ot_input_free(in);
    in->by = by;
    if (!sum || !sq || !x) {
        ot_error("cannot allocate room to compute the input statistics of %zu features", dim);
        goto out;
    }
    if ((rc = alloc_stats(in, k)))
        goto out;
    /* the samples as the network gets them, without any standardisation */
    ot_dataset_t raw = *ds;
    raw.mean = raw.std = NULL;
    const double count = (double)ds->n * (double)(dim / k);
    for (size_t s = 0; s < ds->n; s++) {
        ot_dataset_sample(&raw, s, x);
        for (size_t j = 0; j < dim; j++)
            sum[by == OT_NORM_BY_CHANNEL ? j % c : j] += x[j];
    }
    for (size_t i = 0; i < k; i++)
        sum[i] /= count; /* the means */
    for (size_t s = 0; s < ds->n; s++) {
        ot_dataset_sample(&raw, s, x);
        for (size_t j = 0; j < dim; j++) {
            const size_t i = by == OT_NORM_BY_CHANNEL ? j % c : j;
            const double d = x[j] - sum[i];
            sq[i] += d * d;
        }
    }
    for (size_t i = 0; i < k; i++) {
        const double sd = sqrt(sq[i] / count);
        in->mean[i] = (float)sum[i];
        in->std[i] = sd < OT_INPUT_MIN_STD ? 1.0f : (float)sd;
    }
    expand(in);
    in->normalize = OT_NORM_MEAN_STD;
    rc = OT_OK;
out:
    free(sum);
    free(sq);
    free(x);
    return rc;
}

void ot_input_apply(const ot_input_t *in, ot_dataset_t *ds)
{
    if (in->normalize == OT_NORM_MEAN_STD && in->mean_x)
        ot_dataset_standardise(ds, in->mean_x, in->std_x);
}

const char *ot_input_str(const ot_input_t *in, char *buf, size_t n)
{
    if (in->normalize == OT_NORM_NONE)
        snprintf(buf, n, "as stored (data.normalize = none)");
    else
        snprintf(buf, n, "standardised by %s (data.normalize = mean_std, %zu mean%s and std%s)",
                 ot_norm_by_name(in->by), in->n_stats, in->n_stats == 1 ? "" : "s",
                 in->n_stats == 1 ? "" : "s");
    return buf;
}

/* ---------------------------------------------------------------- HDF5 */

int ot_input_write(hid_t f, const ot_input_t *in, char *reason)
{
    hid_t g = H5I_INVALID_HID;
    int rc = -1, flat = in->shape.flat;
    uint64_t h = in->shape.h, w = in->shape.w, c = in->shape.c;
    if ((g = H5Gcreate2(f, "input", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) < 0 ||
        ot_h5_attr_scalar(g, "height", H5T_STD_U64LE, H5T_NATIVE_UINT64, &h) ||
        ot_h5_attr_scalar(g, "width", H5T_STD_U64LE, H5T_NATIVE_UINT64, &w) ||
        ot_h5_attr_scalar(g, "channels", H5T_STD_U64LE, H5T_NATIVE_UINT64, &c) ||
        ot_h5_attr_scalar(g, "flat", H5T_STD_I32LE, H5T_NATIVE_INT, &flat) ||
        ot_h5_attr_str(g, "normalize", ot_normalize_name(in->normalize)) ||
        ot_h5_attr_str(g, "normalize_by", ot_norm_by_name(in->by)) ||
        ot_h5_attrs_crc_set(g)) { /* the attributes' checksum (ot_h5.h) */
        ot_h5_reason(reason);
        goto out;
    }
    if (in->normalize == OT_NORM_MEAN_STD) {
        /* by channel (c); by feature the sample's own shape, (h, w, c) or (d) */
        hsize_t dims[3] = {h, w, c};
        int rank = 1;
        if (in->by == OT_NORM_BY_CHANNEL || flat)
            dims[0] = in->n_stats;
        else
            rank = 3;
        if (ot_h5_write_ds(g, "mean", H5P_DEFAULT, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims,
                           in->mean, reason) ||
            ot_h5_write_ds(g, "std", H5P_DEFAULT, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims,
                           in->std, reason))
            goto out;
    }
    rc = 0;
out:
    if (g >= 0)
        H5Gclose(g);
    return rc;
}

/* The checkpoint's sample shape ck against the data's: 0, or OT_ECONFIG after one line. */
static int shape_check(const ot_shape_t *ck, const ot_shape_t *data, const char *ckpt,
                       const char *data_path)
{
    char a[64], b[64];
    if (ot_shape_eq(ck, data))
        return OT_OK;
    ot_error("%s: the model was trained on samples of %s but %s holds samples of %s", ckpt,
             ot_shape_str(ck, a, sizeof a), data_path ? data_path : "the config's data",
             ot_shape_str(data, b, sizeof b));
    return OT_ECONFIG;
}

/* A scalar attribute of /input of class cls read as mtype, or (mtype < 0) a string into
 * out[n] (ot_h5_attr_get). */
static int attr(hid_t g, const char *path, const char *name, H5T_class_t cls, hid_t mtype,
                void *out, size_t n)
{
    char why[128];
    if (ot_h5_attr_get(g, name, cls, mtype, out, n, OT_INPUT_MAX_STRING, why, sizeof why)) {
        ot_error("%s: attribute %s of /input %s", path, name, why);
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* The index of name among count NULL-terminated names from name_of, or -1. */
static int find_name(const char *name, const char *(*name_of)(int), int count)
{
    for (int i = 0; i < count; i++)
        if (strcmp(name, name_of(i)) == 0)
            return i;
    return -1;
}

static const char *normalize_of(int i)
{
    return ot_normalize_name((ot_normalize_t)i);
}

static const char *by_of(int i)
{
    return ot_norm_by_name((ot_norm_by_t)i);
}

/* Open /input/<name>, which must hold n floats (checked before anything is allocated for
 * them), into *d: 0 or OT_EFORMAT after one line. */
static int open_stats(hid_t g, const char *path, const char *name, size_t n, hid_t *d)
{
    char p[32];
    snprintf(p, sizeof p, "/input/%s", name);
    int rc = ot_h5_open_ds(g, path, p, H5T_FLOAT, 0, -1, NULL, d);
    if (rc)
        return rc;
    hid_t space = H5Dget_space(*d);
    const hssize_t got = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
    if (space >= 0)
        H5Sclose(space);
    if (got != (hssize_t)n) {
        ot_error("%s: %s has %lld entries, expected %zu (normalize_by and the sample shape of "
                 "/input)", path, p, (long long)got, n);
        H5Dclose(*d);
        *d = H5I_INVALID_HID;
        return OT_EFORMAT;
    }
    return OT_OK;
}

/* Read n floats of the open /input/<name> into out: 0 or OT_EFORMAT after one line. */
static int read_stats(hid_t d, const char *path, const char *name, float *out)
{
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
        ot_error("%s: /input/%s cannot be read (damaged file?)", path, name);
        return OT_EFORMAT;
    }
    return OT_OK;
}

int ot_input_read(hid_t f, const char *path, ot_input_t *in, int *present,
                  const ot_shape_t *expect, const char *data_path)
{
    char norm[32], by[32], why[OT_H5_PATH_MAX + 128];
    uint64_t h, w, c;
    int flat, rc;
    hid_t g = H5I_INVALID_HID, dm = H5I_INVALID_HID, ds = H5I_INVALID_HID;
    ot_input_t got;
    *present = 0;
    int there = ot_h5_find(f, "/input", 0, why, sizeof why);
    if (there < 0) {
        ot_error("%s: %s", path, why);
        return OT_EFORMAT;
    }
    if (!there)
        return OT_OK;
    if ((g = H5Gopen2(f, "/input", H5P_DEFAULT)) < 0) {
        ot_error("%s: /input is not a readable group", path);
        return OT_EFORMAT;
    }
    if ((rc = attr(g, path, "height", H5T_INTEGER, H5T_NATIVE_UINT64, &h, 0)) ||
        (rc = attr(g, path, "width", H5T_INTEGER, H5T_NATIVE_UINT64, &w, 0)) ||
        (rc = attr(g, path, "channels", H5T_INTEGER, H5T_NATIVE_UINT64, &c, 0)) ||
        (rc = attr(g, path, "flat", H5T_INTEGER, H5T_NATIVE_INT, &flat, 0)) ||
        (rc = attr(g, path, "normalize", H5T_STRING, -1, norm, sizeof norm)) ||
        (rc = attr(g, path, "normalize_by", H5T_STRING, -1, by, sizeof by)))
        goto out;
    const int ni = find_name(norm, normalize_of, 2), bi = find_name(by, by_of, 2);
    if (h == 0 || w == 0 || c == 0 || h > UINT32_MAX || w > UINT32_MAX || c > UINT32_MAX ||
        h * w > UINT32_MAX / c || ni < 0 || bi < 0) {
        ot_error("%s: /input says %llux%llux%llu samples, normalize '%s', normalize_by '%s': "
                 "expected sides of at least 1, none or mean_std, channel or feature", path,
                 (unsigned long long)h, (unsigned long long)w, (unsigned long long)c, norm, by);
        rc = OT_EFORMAT;
        goto out;
    }
    ot_input_init(&got, &(ot_shape_t){(size_t)c, (size_t)h, (size_t)w, flat != 0});
    got.by = (ot_norm_by_t)bi;
    /* the shape the data have, before anything is allocated for the file's */
    if (expect && (rc = shape_check(&got.shape, expect, path, data_path)))
        goto out;
    if (ni == OT_NORM_MEAN_STD) {
        const size_t n_stats = stats_of(&got.shape, got.by);
        if ((rc = open_stats(g, path, "mean", n_stats, &dm)) ||
            (rc = open_stats(g, path, "std", n_stats, &ds)) ||
            (rc = alloc_stats(&got, n_stats)))
            goto out;
        if ((rc = read_stats(dm, path, "mean", got.mean)) ||
            (rc = read_stats(ds, path, "std", got.std))) {
            ot_input_free(&got);
            goto out;
        }
        for (size_t i = 0; i < got.n_stats; i++)
            if (!isfinite(got.mean[i]) || !isfinite(got.std[i]) || !(got.std[i] > 0.0f)) {
                ot_error("%s: /input/mean or std entry %zu is %g, %g: expected finite numbers "
                         "and a positive std", path, i, got.mean[i], got.std[i]);
                ot_input_free(&got);
                rc = OT_EFORMAT;
                goto out;
            }
        expand(&got);
        got.normalize = OT_NORM_MEAN_STD;
    }
    ot_input_free(in);
    *in = got;
    *present = 1;
    rc = OT_OK;
out:
    if (ds >= 0)
        H5Dclose(ds);
    if (dm >= 0)
        H5Dclose(dm);
    H5Gclose(g);
    return rc;
}

int ot_input_load(const char *path, ot_input_t *in, int *present, const ot_shape_t *expect,
                  const char *data_path)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    int rc = OT_OK;
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        ot_error("%s: cannot open as HDF5: the file is missing, truncated or damaged", path);
        rc = OT_EFORMAT;
    } else {
        rc = ot_input_read(f, path, in, present, expect, data_path);
        H5Fclose(f);
    }
    ot_h5_restore(&q);
    return rc;
}

int ot_input_check(const ot_input_t *ck, int present, const ot_config_t *c,
                   const ot_shape_t *data, const char *ckpt, const char *data_path)
{
    char a[64], b[64];
    int rc;
    if (!present) { /* a checkpoint from before /input: it was never standardised */
        if (c->normalize != OT_NORM_NONE) {
            ot_error("%s: the checkpoint has no input statistics (/input) but the config says "
                     "data.normalize = %s; expected none for this checkpoint", ckpt,
                     ot_normalize_name(c->normalize));
            return OT_ECONFIG;
        }
        return OT_OK;
    }
    if (data && (rc = shape_check(&ck->shape, data, ckpt, data_path)))
        return rc;
    if (ck->normalize != c->normalize ||
        (ck->normalize == OT_NORM_MEAN_STD && ck->by != c->normalize_by)) {
        if (ck->normalize == OT_NORM_MEAN_STD)
            snprintf(a, sizeof a, "mean_std by %s", ot_norm_by_name(ck->by));
        else
            snprintf(a, sizeof a, "none");
        if (c->normalize == OT_NORM_MEAN_STD)
            snprintf(b, sizeof b, "mean_std by %s", ot_norm_by_name(c->normalize_by));
        else
            snprintf(b, sizeof b, "none");
        ot_error("%s: the checkpoint's input was standardised as data.normalize = %s but the "
                 "config says %s; expected the config the model was trained with", ckpt, a, b);
        return OT_ECONFIG;
    }
    return OT_OK;
}
