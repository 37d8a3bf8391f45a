/* h5util.c - the HDF5 helpers checkpoints, the history and the verifier share: HDF5's own error
 * printer silenced while omptrain reports, attributes, dataspaces, the reason of a failure, UTC
 * time stamps, the checksum every dataset carries, the check of what a file must hold (its
 * layout), and what a file from someone else may make HDF5 do: file images opened from memory,
 * storage and links that stay in the file (ot_h5.h). */
#include "ot_h5.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "ot_common.h"

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

hid_t ot_h5_space(int rank, const hsize_t *dims)
{
    return rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
}

const char *ot_h5_dims_str(int rank, const hsize_t *dims, char *buf, size_t n)
{
    size_t used = 0;
    if (rank == 0) {
        snprintf(buf, n, "scalar");
        return buf;
    }
    buf[0] = '\0';
    for (int i = 0; i < rank && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%llu", i ? "x" : "",
                                 (unsigned long long)dims[i]);
    return buf;
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

int ot_h5_attr_open(hid_t obj, const char *name, ot_h5_attr_t *at)
{
    at->type = at->space = H5I_INVALID_HID;
    if ((at->a = H5Aopen(obj, name, H5P_DEFAULT)) < 0 || (at->type = H5Aget_type(at->a)) < 0 ||
        (at->space = H5Aget_space(at->a)) < 0)
        return -1;
    return 0;
}

void ot_h5_attr_close(ot_h5_attr_t *at)
{
    if (at->space >= 0)
        H5Sclose(at->space);
    if (at->type >= 0)
        H5Tclose(at->type);
    if (at->a >= 0)
        H5Aclose(at->a);
    at->a = at->type = at->space = H5I_INVALID_HID;
}

int ot_h5_attr_get(hid_t obj, const char *name, H5T_class_t cls, hid_t mtype, void *out,
                   size_t n, size_t max_len, char *why, size_t why_n)
{
    char dummy[1];
    if (!why) {
        why = dummy;
        why_n = sizeof dummy;
    }
    if (H5Aexists(obj, name) <= 0) {
        snprintf(why, why_n, "is missing");
        return OT_H5_ATTR_MISSING;
    }
    ot_h5_attr_t at;
    char *tmp = NULL;
    int rc = OT_H5_ATTR_BAD;
    if (ot_h5_attr_open(obj, name, &at) < 0) {
        snprintf(why, why_n, "cannot be read");
        goto out;
    }
    if (H5Tget_class(at.type) != cls || H5Sget_simple_extent_npoints(at.space) != 1 ||
        (cls == H5T_STRING && H5Tis_variable_str(at.type) != 0)) {
        snprintf(why, why_n, "must be a single %s",
                 cls == H5T_STRING ? "fixed-length string" : cls == H5T_FLOAT ? "float"
                                                                             : "integer");
        goto out;
    }
    if (cls == H5T_STRING) {
        const size_t size = H5Tget_size(at.type);
        if (size == 0 || size > max_len) {
            snprintf(why, why_n, "is a string of %zu bytes, expected 1 to %zu", size, max_len);
            goto out;
        }
        if (!(tmp = calloc(size + 1, 1))) {
            snprintf(why, why_n, "cannot be held in memory (%zu bytes)", size);
            goto out;
        }
        if (H5Aread(at.a, at.type, tmp) < 0) {
            snprintf(why, why_n, "cannot be read");
            goto out;
        }
        snprintf(out, n, "%s", tmp);
    } else if (H5Aread(at.a, mtype, out) < 0) {
        snprintf(why, why_n, "cannot be read");
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    ot_h5_attr_close(&at);
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

const char *ot_h5_type_str(hid_t t, char *buf, size_t n)
{
    const H5T_class_t cls = H5Tget_class(t);
    const size_t size = H5Tget_size(t);
    if (cls == H5T_STRING) {
        snprintf(buf, n, "%s string of %zu bytes",
                 H5Tis_variable_str(t) > 0 ? "a variable-length" : "a fixed-length", size);
        return buf;
    }
    if ((cls != H5T_INTEGER && cls != H5T_FLOAT) || (size != 1 && size != 2 && size != 4 &&
                                                     size != 8)) {
        snprintf(buf, n, "HDF5 type class %d of %zu bytes", (int)cls, size);
        return buf;
    }
    const H5T_order_t order = H5Tget_order(t);
    const char *ord = order == H5T_ORDER_LE ? "LE" : order == H5T_ORDER_BE ? "BE" : "?E";
    char name[16];
    snprintf(name, sizeof name, "%c%zu%s",
             cls == H5T_FLOAT ? 'F' : H5Tget_sign(t) == H5T_SGN_NONE ? 'U' : 'I', 8 * size, ord);
    /* the standard type of that name, which the fields of t may not match (a damaged
     * exponent bias, precision or offset) */
    const int be = order == H5T_ORDER_BE;
    hid_t want = H5I_INVALID_HID;
    if (cls == H5T_INTEGER) {
        want = H5Tcopy(size == 1 ? H5T_STD_U8LE : size == 2 ? H5T_STD_U16LE
                       : size == 4 ? H5T_STD_U32LE : H5T_STD_U64LE);
        if (want >= 0 && (H5Tset_sign(want, H5Tget_sign(t)) < 0 ||
                          (be && H5Tset_order(want, H5T_ORDER_BE) < 0))) {
            H5Tclose(want);
            want = H5I_INVALID_HID;
        }
    } else if (size == 4 || size == 8) {
        want = H5Tcopy(size == 4 ? (be ? H5T_IEEE_F32BE : H5T_IEEE_F32LE)
                                 : (be ? H5T_IEEE_F64BE : H5T_IEEE_F64LE));
    }
    const int standard = want >= 0 && H5Tequal(t, want) > 0;
    if (want >= 0)
        H5Tclose(want);
    snprintf(buf, n, "%s%s", name, standard ? "" : cls == H5T_FLOAT
                                                       ? " of a non-IEEE layout"
                                                       : " of a nonstandard precision or offset");
    return buf;
}

/* ---------------------------------------------------------------- layouts */

/* The standard type of k (H5T_* are not constants, so tables name them), or
 * H5I_INVALID_HID for a string or a group. */
static hid_t kind_type(ot_h5_kind_t k)
{
    switch (k) {
    case OT_H5_I32:
        return H5T_STD_I32LE;
    case OT_H5_U32:
        return H5T_STD_U32LE;
    case OT_H5_U64:
        return H5T_STD_U64LE;
    case OT_H5_F32:
        return H5T_IEEE_F32LE;
    case OT_H5_F64:
        return H5T_IEEE_F64LE;
    default:
        return H5I_INVALID_HID;
    }
}

int ot_h5_type_is(hid_t type, ot_h5_kind_t want, const char *what, char *why, size_t n)
{
    char have[96], need[96];
    if (want == OT_H5_STR ? H5Tget_class(type) == H5T_STRING && H5Tis_variable_str(type) == 0
                          : H5Tequal(type, kind_type(want)) > 0)
        return 0;
    if (want == OT_H5_STR)
        snprintf(need, sizeof need, "a fixed-length string");
    else
        ot_h5_type_str(kind_type(want), need, sizeof need);
    snprintf(why, n, "%s is stored as %s, expected %s as omptrain writes it (a damaged "
             "datatype?)", what, ot_h5_type_str(type, have, sizeof have), need);
    return -1;
}

int ot_h5_layout_check(hid_t f, const ot_h5_layout_t *e, const char *file_kind, char *why,
                       size_t n)
{
    char where[OT_H5_PATH_MAX + 128], what[OT_H5_PATH_MAX + 64];
    const char *obj = e->obj, *attr = e->attr;
    int there = strcmp(obj, "/") == 0 ? 1 : ot_h5_find(f, obj, 0, where, sizeof where);
    if (there < 0) {
        snprintf(why, n, "%s", where);
        return -1;
    }
    if (!there) {
        if (e->optional)
            return 0;
        snprintf(why, n, "%s is missing (not a complete omptrain %s)", obj, file_kind);
        return -1;
    }
    hid_t o = H5Oopen(f, obj, H5P_DEFAULT), type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    H5O_info_t oi;
    int rc = -1;
    if (o < 0 || H5Oget_info(o, &oi) < 0) {
        snprintf(why, n, "%s cannot be opened (damaged file?)", obj);
        goto out;
    }
    if (attr) {
        snprintf(what, sizeof what, "attribute %s of %s", attr, obj);
        htri_t has = H5Aexists(o, attr);
        if (has == 0 && e->optional) {
            rc = 0;
            goto out;
        }
        if (has <= 0) {
            snprintf(why, n, "%s %s", what, has == 0 ? "is missing" : "cannot be read");
            goto out;
        }
        hid_t a = H5Aopen(o, attr, H5P_DEFAULT);
        type = a >= 0 ? H5Aget_type(a) : -1;
        space = a >= 0 ? H5Aget_space(a) : -1;
        if (a >= 0)
            H5Aclose(a);
    } else {
        snprintf(what, sizeof what, "%s", obj);
        H5O_type_t want = e->type == OT_H5_GROUP ? H5O_TYPE_GROUP : H5O_TYPE_DATASET;
        if (oi.type != want) {
            snprintf(why, n, "%s is not a %s (not a complete omptrain %s)", obj,
                     want == H5O_TYPE_GROUP ? "group" : "dataset", file_kind);
            goto out;
        }
        if (want == H5O_TYPE_GROUP) {
            rc = 0;
            goto out;
        }
        type = H5Dget_type(o);
        space = H5Dget_space(o);
    }
    int rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (type < 0 || rank < 0) {
        snprintf(why, n, "%s: cannot read its type and shape (damaged file?)", what);
        goto out;
    }
    if (ot_h5_type_is(type, e->type, what, why, n) < 0)
        goto out;
    if (rank != e->rank) {
        snprintf(why, n, "%s has rank %d, expected %d", what, rank, e->rank);
        goto out;
    }
    rc = 0;
out:
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    if (o >= 0)
        H5Oclose(o);
    return rc;
}

int ot_h5_shape_check(hid_t f, const char *obj, int rank, const hsize_t *dims, char *why,
                      size_t n)
{
    hsize_t have[H5S_MAX_RANK];
    hid_t d = H5Dopen2(f, obj, H5P_DEFAULT), space = d >= 0 ? H5Dget_space(d) : -1;
    int rc = -1;
    if (space < 0 || rank > H5S_MAX_RANK || H5Sget_simple_extent_ndims(space) != rank ||
        H5Sget_simple_extent_dims(space, have, NULL) < 0) {
        snprintf(why, n, "%s: cannot read its shape (damaged file?)", obj);
    } else if (rank > 0 && memcmp(have, dims, (size_t)rank * sizeof *dims) != 0) {
        char a[64], b[64];
        ot_h5_dims_str(rank, have, a, sizeof a);
        ot_h5_dims_str(rank, dims, b, sizeof b);
        snprintf(why, n, "%s has shape %s, expected %s", obj, a, b);
    } else {
        rc = 0;
    }
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    return rc;
}

void ot_h5_newer_format(char *why, size_t n, int format, const char *file_kind, int newest)
{
    snprintf(why, n, "format_version %d, written by a later omptrain: this one (%s) reads %s "
             "formats 1 to %d", format, OT_VERSION, file_kind, newest);
}

/* ---------------------------------------------------------------- checksums */

/* zlib's crc32 takes at most UINT_MAX bytes a call */
static uint32_t crc_bytes(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n > 0) {
        uInt step = n > (size_t)1 << 30 ? (uInt)1 << 30 : (uInt)n;
        crc = (uint32_t)crc32(crc, p, step);
        p += step;
        n -= step;
    }
    return crc;
}

/* Can values of type t be checksummed as bytes: integers, floats or fixed-length strings of
 * at most OT_H5_MAX_ELEMENT bytes (variable-length ones would give pointers, and leak)? */
static int plain_type(hid_t t)
{
    H5T_class_t cls = H5Tget_class(t);
    size_t size = H5Tget_size(t);
    return (cls == H5T_INTEGER || cls == H5T_FLOAT ||
            (cls == H5T_STRING && H5Tis_variable_str(t) == 0)) &&
           size > 0 && size <= OT_H5_MAX_ELEMENT;
}

/* The memory type a checksum reads values of file type ftype as: ftype with its numbers
 * little-endian, whatever the file says (the bytes are the values'); < 0 when ftype is not a
 * plain_type or the copy fails. The caller closes it. */
static hid_t crc_type(hid_t ftype)
{
    hid_t mtype;
    if (!plain_type(ftype) || (mtype = H5Tcopy(ftype)) < 0)
        return H5I_INVALID_HID;
    H5T_class_t cls = H5Tget_class(ftype);
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Tset_order(mtype, H5T_ORDER_LE) < 0) {
        H5Tclose(mtype);
        return H5I_INVALID_HID;
    }
    return mtype;
}

/* Continue *crc over dataset d's values as memory type mtype (size bytes each), read in
 * blocks of at most OT_H5_SLAB bytes (one element, when it is larger), in row-major order: the
 * memory it takes does not depend on the dataset's size. */
static int crc_slabs(hid_t d, hid_t mtype, size_t size, uint32_t *crc)
{
    hid_t space = H5Dget_space(d), fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
    hsize_t dims[H5S_MAX_RANK], start[H5S_MAX_RANK], count[H5S_MAX_RANK];
    unsigned char *buf = NULL;
    int rc = -1, rank = space >= 0 ? H5Sget_simple_extent_ndims(space) : -1;
    if (rank < 0 || (rank > 0 && H5Sget_simple_extent_dims(space, dims, NULL) != rank))
        goto out;
    if (H5Sget_simple_extent_npoints(space) == 0) {
        rc = 0;
        goto out;
    }
    if (rank == 0) { /* a scalar */
        if (!(buf = malloc(size)) || H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            goto out;
        *crc = crc_bytes(*crc, buf, size);
        rc = 0;
        goto out;
    }
    /* axes k+1.. are read whole (inner bytes each step of axis k), axis k in blocks of b,
     * the axes before k one index at a time */
    int k = rank - 1;
    size_t inner = size;
    while (k > 0 && dims[k] <= OT_H5_SLAB / inner) {
        inner *= (size_t)dims[k];
        k--;
    }
    const hsize_t b = OT_H5_SLAB / inner > 0 ? OT_H5_SLAB / inner : 1;
    const size_t block = (size_t)(b < dims[k] ? b : dims[k]);
    if (!(buf = malloc(block * inner)))
        goto out;
    for (int i = 0; i < rank; i++) {
        start[i] = 0;
        count[i] = i > k ? dims[i] : 1;
    }
    for (;;) {
        for (hsize_t j = 0; j < dims[k]; j += block) {
            hsize_t m = dims[k] - j < block ? dims[k] - j : block, elems = m * (inner / size);
            start[k] = j;
            count[k] = m;
            if ((fs = H5Scopy(space)) < 0 ||
                H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                (ms = H5Screate_simple(1, &elems, NULL)) < 0 ||
                H5Dread(d, mtype, ms, fs, H5P_DEFAULT, buf) < 0)
                goto out;
            *crc = crc_bytes(*crc, buf, (size_t)m * inner);
            H5Sclose(ms);
            H5Sclose(fs);
            ms = fs = H5I_INVALID_HID;
        }
        /* the next index of the axes before k, the last one fastest */
        int i = k - 1;
        while (i >= 0 && ++start[i] == dims[i])
            start[i--] = 0;
        if (i < 0)
            break;
    }
    rc = 0;
out:
    free(buf);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int ot_h5_crc(hid_t d, uint32_t *crc)
{
    hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    int rc = -1;
    if ((ftype = H5Dget_type(d)) < 0 || (mtype = crc_type(ftype)) < 0)
        goto out;
    *crc = (uint32_t)crc32(0L, Z_NULL, 0);
    rc = crc_slabs(d, mtype, H5Tget_size(mtype), crc);
out:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    return rc;
}

/* obj's attribute OT_H5_CRC set to crc, replacing any there */
int ot_h5_crc_put(hid_t obj, uint32_t crc)
{
    htri_t has = H5Aexists(obj, OT_H5_CRC);
    if (has < 0 || (has > 0 && H5Adelete(obj, OT_H5_CRC) < 0))
        return -1;
    return ot_h5_attr_scalar(obj, OT_H5_CRC, H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc);
}

int ot_h5_crc_set(hid_t d)
{
    uint32_t crc;
    return ot_h5_crc(d, &crc) < 0 ? -1 : ot_h5_crc_put(d, crc);
}


int ot_h5_write_ds(hid_t loc, const char *name, hid_t lcpl, hid_t ftype, hid_t mtype, int rank,
                   const hsize_t *dims, const void *buf, char *reason)
{
    hid_t space = H5I_INVALID_HID, d = H5I_INVALID_HID;
    int rc = -1;
    if ((space = ot_h5_space(rank, dims)) < 0 ||
        (d = H5Dcreate2(loc, name, ftype, space, lcpl, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        goto fail;
    if (H5Sget_simple_extent_npoints(space) > 0 &&
        H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        goto fail;
    if (ot_h5_crc_set(d) < 0) /* of the values as stored */
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

/* crc of the open attribute's value as stored (numbers little-endian), continued from *crc */
static int attr_value_crc(const ot_h5_attr_t *at, uint32_t *crc)
{
    hid_t mtype = crc_type(at->type);
    unsigned char *buf = NULL;
    int rc = -1;
    if (mtype < 0)
        goto out;
    /* omptrain's attributes are scalars and short strings: at most OT_H5_MAX_ATTR bytes */
    hssize_t n = H5Sget_simple_extent_npoints(at->space);
    size_t size = H5Tget_size(mtype);
    if (n < 0 || (size_t)n > OT_H5_MAX_ATTR / size)
        goto out;
    if (!(buf = malloc((size_t)n * size + 1)) || (n > 0 && H5Aread(at->a, mtype, buf) < 0))
        goto out;
    *crc = crc_bytes(*crc, buf, (size_t)n * size);
    rc = 0;
out:
    free(buf);
    if (mtype >= 0)
        H5Tclose(mtype);
    return rc;
}

typedef struct {
    uint32_t crc;
    int failed;
} attrs_walk_t;

static herr_t attr_visit(hid_t obj, const char *name, const H5A_info_t *info, void *arg)
{
    attrs_walk_t *w = arg;
    (void)info;
    if (strcmp(name, OT_H5_CRC) == 0)
        return 0;
    w->crc = crc_bytes(w->crc, (const unsigned char *)name, strlen(name) + 1);
    ot_h5_attr_t at;
    if (ot_h5_attr_open(obj, name, &at) < 0 || attr_value_crc(&at, &w->crc) < 0)
        w->failed = 1;
    ot_h5_attr_close(&at);
    return w->failed ? -1 : 0;
}

int ot_h5_attrs_crc(hid_t obj, uint32_t *crc)
{
    attrs_walk_t w = {(uint32_t)crc32(0L, Z_NULL, 0), 0};
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_visit, &w) < 0 || w.failed)
        return -1;
    *crc = w.crc;
    return 0;
}

int ot_h5_attrs_crc_set(hid_t obj)
{
    uint32_t crc;
    return ot_h5_attrs_crc(obj, &crc) < 0 ? -1 : ot_h5_crc_put(obj, crc);
}

/* the stored crc of obj into *have: 0, -1 without one, -2 unreadable */
static int stored_crc(hid_t obj, uint32_t *have)
{
    htri_t has = H5Aexists(obj, OT_H5_CRC);
    if (has <= 0)
        return has == 0 ? -1 : -2;
    /* one integer, whatever else the attribute declares, before it is read into *have */
    ot_h5_attr_t at;
    herr_t r = -1;
    if (ot_h5_attr_open(obj, OT_H5_CRC, &at) == 0 && H5Tget_class(at.type) == H5T_INTEGER &&
        H5Sget_simple_extent_npoints(at.space) == 1)
        r = H5Aread(at.a, H5T_NATIVE_UINT32, have);
    ot_h5_attr_close(&at);
    return r < 0 ? -2 : 0;
}

int ot_h5_attrs_crc_check(hid_t obj, uint32_t *have, uint32_t *want)
{
    int r = stored_crc(obj, have);
    if (r < 0)
        return r;
    if (ot_h5_attrs_crc(obj, want) < 0)
        return -2;
    return *have == *want ? 0 : 1;
}

int ot_h5_crc_check(hid_t d, uint32_t *have, uint32_t *want)
{
    char why[128];
    int r = stored_crc(d, have);
    if (r < 0)
        return r;
    if (ot_h5_own_dataset(d, why) < 0 || ot_h5_crc(d, want) < 0)
        return -2;
    return *have == *want ? 0 : 1;
}

/* ---------------------------------------------------------------- files from elsewhere */

htri_t ot_h5_is_hdf5(const char *path, hid_t fapl)
{
#if H5_VERSION_GE(1, 12, 0)
    return H5Fis_accessible(path, fapl);
#else
    (void)fapl;
    return H5Fis_hdf5(path);
#endif
}

hid_t ot_h5_open_image(const void *buf, size_t n, const char *name, int rw)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = H5I_INVALID_HID;
    /* the core driver without a backing store: the image is copied in, and the file never
     * leaves memory, even when written to */
    if (fapl >= 0 && n > 0 && H5Pset_fapl_core(fapl, (size_t)1 << 16, 0) >= 0 &&
        H5Pset_file_image(fapl, (void *)(uintptr_t)buf, n) >= 0)
        f = H5Fopen(name, rw ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
    if (fapl >= 0)
        H5Pclose(fapl);
    return f;
}

hid_t ot_h5_create_image(const char *name, size_t increment, char *reason)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = H5I_INVALID_HID;
    if (fapl < 0 || H5Pset_fapl_core(fapl, increment, 0) < 0 ||
        (f = H5Fcreate(name, H5F_ACC_TRUNC, H5P_DEFAULT, fapl)) < 0)
        ot_h5_reason(reason);
    if (fapl >= 0)
        H5Pclose(fapl);
    return f;
}

int ot_h5_get_image(hid_t f, void **image, size_t *size)
{
    ssize_t n;
    *image = NULL;
    *size = 0;
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0 || (n = H5Fget_file_image(f, NULL, 0)) <= 0)
        return -1;
    *size = (size_t)n;
    if (!(*image = malloc(*size)))
        return OT_ENOMEM;
    if (H5Fget_file_image(f, *image, *size) != n) {
        free(*image);
        *image = NULL;
        return -1;
    }
    return 0;
}

int ot_h5_storage_check(hid_t d, size_t max_chunk, int filters_ok, char *why)
{
    hid_t dcpl = H5Dget_create_plist(d), type = H5I_INVALID_HID;
    hsize_t chunk[H5S_MAX_RANK];
    int rc = -1;
    snprintf(why, 128, "its storage cannot be read (damaged file?)");
    if (dcpl < 0)
        goto out;
    H5D_layout_t layout = H5Pget_layout(dcpl);
    if (layout == H5D_VIRTUAL) {
        snprintf(why, 128, "is a virtual dataset (its values are mapped from other datasets "
                 "or files), expected its values in this file");
        goto out;
    }
    if (layout != H5D_COMPACT && layout != H5D_CONTIGUOUS && layout != H5D_CHUNKED)
        goto out;
    int external = H5Pget_external_count(dcpl);
    if (external != 0) {
        snprintf(why, 128, "has its values in %d external file%s, expected them in this file",
                 external, external == 1 ? "" : "s");
        goto out;
    }
    int filters = H5Pget_nfilters(dcpl);
    if (filters < 0 || (filters > 0 && !filters_ok)) {
        snprintf(why, 128, "is compressed or filtered (%d filter%s), which omptrain never "
                 "writes", filters, filters == 1 ? "" : "s");
        goto out;
    }
    /* the filters h5py's and to_hdf5.py's files use, and only them: libhdf5 1.10's decoders
     * of the others (scale-offset, n-bit, szip, or a plugin's) are code a file could choose to
     * run, and scale-offset after deflate reads past its buffer (tests/fuzz/libhdf5/) */
    for (int i = 0; i < filters; i++) {
        unsigned flags = 0;
        size_t n_values = 0;
        char fname[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, (unsigned)i, &flags, &n_values, NULL,
                                         sizeof fname, fname, NULL);
        if (id != H5Z_FILTER_DEFLATE && id != H5Z_FILTER_SHUFFLE && id != H5Z_FILTER_FLETCHER32) {
            snprintf(why, 128, "passes its values through HDF5 filter %d (%.16s), expected "
                     "only gzip (deflate), shuffle or fletcher32", (int)id,
                     fname[0] ? fname : "unnamed");
            goto out;
        }
    }
    if (layout == H5D_CHUNKED) {
        int rank = H5Pget_chunk(dcpl, H5S_MAX_RANK, chunk);
        size_t bytes = 0;
        if (rank < 1 || (type = H5Dget_type(d)) < 0 || !(bytes = H5Tget_size(type)))
            goto out;
        for (int i = 0; i < rank && bytes <= max_chunk; i++)
            if (chunk[i] > max_chunk || ot_mul_size(bytes, (size_t)chunk[i], &bytes))
                bytes = SIZE_MAX;
        if (bytes > max_chunk) {
            char shape[96];
            snprintf(why, 128, "has chunks of %s values, more than the %zu bytes a chunk may "
                     "take", ot_h5_dims_str(rank, chunk, shape, sizeof shape), max_chunk);
            goto out;
        }
    }
    rc = 0;
out:
    if (type >= 0)
        H5Tclose(type);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}

int ot_h5_own_dataset(hid_t d, char *why)
{
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID, file = H5I_INVALID_HID;
    hsize_t file_size = 0;
    int rc = -1;
    if (ot_h5_storage_check(d, OT_H5_OWN_CHUNK, 0, why) < 0)
        return -1;
    snprintf(why, 128, "its type or shape cannot be read (damaged file?)");
    if ((type = H5Dget_type(d)) < 0 || (space = H5Dget_space(d)) < 0 ||
        (file = H5Iget_file_id(d)) < 0 || H5Fget_filesize(file, &file_size) < 0)
        goto out;
    if (!plain_type(type)) {
        snprintf(why, 128, "holds values of HDF5 class %d and %zu bytes, expected integers, "
                 "floats or fixed-length strings", (int)H5Tget_class(type), H5Tget_size(type));
        goto out;
    }
    /* omptrain stores every value it writes: a dataset's values fit in its file */
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t size = H5Tget_size(type);
    if (n < 0 || (hsize_t)n > file_size / size) {
        snprintf(why, 128, "declares %lld values of %zu bytes, more than the file's %llu bytes "
                 "hold", (long long)n, size, (unsigned long long)file_size);
        goto out;
    }
    rc = 0;
out:
    if (file >= 0)
        H5Fclose(file);
    if (space >= 0)
        H5Sclose(space);
    if (type >= 0)
        H5Tclose(type);
    return rc;
}

/* Is the link at p (an absolute path or relative to loc) one that stays in the file: a hard
 * link, or (soft_ok) a soft link whose target does too? depth bounds chains of soft links. */
static int find_at(hid_t loc, const char *p, int soft_ok, int depth, char *why, size_t n)
{
    char buf[OT_H5_PATH_MAX];
    size_t len = strlen(p);
    if (len == 0 || len >= sizeof buf) {
        snprintf(why, n, "'%s' is not a path of at most %d bytes", p, OT_H5_PATH_MAX - 1);
        return -1;
    }
    memcpy(buf, p, len + 1);
    /* every link on the way, in order, each looked at before it is followed */
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        if (buf[i - 1] == '/') /* "//" or a trailing '/' */
            continue;
        char c = buf[i];
        buf[i] = '\0';
        H5L_info_t li;
        htri_t e = H5Lexists(loc, buf, H5P_DEFAULT);
        if (e <= 0 || H5Lget_info(loc, buf, &li, H5P_DEFAULT) < 0) {
            buf[i] = c;
            return 0;
        }
        if (li.type == H5L_TYPE_SOFT && soft_ok && depth < OT_H5_SOFT_DEPTH) {
            char target[OT_H5_PATH_MAX];
            if (li.u.val_size == 0 || li.u.val_size > sizeof target ||
                H5Lget_val(loc, buf, target, sizeof target, H5P_DEFAULT) < 0 ||
                memchr(target, '\0', li.u.val_size) == NULL) {
                snprintf(why, n, "%s is a soft link that cannot be read", buf);
                return -1;
            }
            /* a relative target is relative to the group that holds the link */
            int r;
            if (target[0] == '/') {
                r = find_at(loc, target, soft_ok, depth + 1, why, n);
            } else {
                char full[OT_H5_PATH_MAX];
                char *slash = strrchr(buf, '/');
                int w = snprintf(full, sizeof full, "%.*s/%s", slash ? (int)(slash - buf) : 0,
                                 buf, target);
                r = w < 0 || (size_t)w >= sizeof full
                        ? -1
                        : find_at(loc, full, soft_ok, depth + 1, why, n);
                if (r < 0 && w >= 0 && (size_t)w >= sizeof full)
                    snprintf(why, n, "%s is a soft link to a path too long", buf);
            }
            if (r <= 0) {
                buf[i] = c;
                return r;
            }
        } else if (li.type != H5L_TYPE_HARD) {
            snprintf(why, n, "%s is %s, expected an object in this file", buf,
                     li.type == H5L_TYPE_EXTERNAL ? "an external link (to another file)"
                     : li.type == H5L_TYPE_SOFT   ? (soft_ok ? "a chain of soft links too long"
                                                             : "a soft link")
                                                  : "a user-defined link");
            buf[i] = c;
            return -1;
        }
        buf[i] = c;
    }
    return 1;
}

int ot_h5_find(hid_t loc, const char *p, int soft_ok, char *why, size_t n)
{
    return find_at(loc, p, soft_ok, 0, why, n);
}

int ot_h5_open_ds(hid_t f, const char *path, const char *p, H5T_class_t cls, size_t bytes,
                  int rank, hsize_t *dims, hid_t *d)
{
    hid_t type = H5I_INVALID_HID, space = H5I_INVALID_HID;
    int rc = OT_EFORMAT;
    char why[128];
    *d = H5I_INVALID_HID;
    char where[OT_H5_PATH_MAX + 128];
    int there = ot_h5_find(f, p, 0, where, sizeof where);
    if (there < 0) {
        ot_error("%s: %s", path, where);
        return OT_EFORMAT;
    }
    if (!there) {
        ot_error("%s: %s is missing (not a complete omptrain checkpoint)", path, p);
        return OT_EFORMAT;
    }
    if ((*d = H5Dopen2(f, p, H5P_DEFAULT)) < 0) {
        ot_error("%s: %s is not a readable dataset", path, p);
        return OT_EFORMAT;
    }
    /* where its values lie, its type and its size before anything else (a file of format 1
     * was not verified) */
    if (ot_h5_own_dataset(*d, why) < 0) {
        ot_error("%s: %s %s", path, p, why);
        goto fail;
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
    if (r < 0 || (rank >= 0 && r != rank)) {
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
