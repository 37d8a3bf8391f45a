/* h5util.c - the HDF5 helpers checkpoints, the history and the verifier share: HDF5's own error
 * printer silenced while omptrain reports, attributes, dataspaces, the reason of a failure, UTC
 * time stamps, and the checksum every dataset carries (ot_h5.h). */
#include "ot_h5.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

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

int ot_h5_crc(hid_t d, uint32_t *crc)
{
    hid_t ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID, space = H5I_INVALID_HID;
    unsigned char *buf = NULL;
    int rc = -1;
    if ((ftype = H5Dget_type(d)) < 0 || (space = H5Dget_space(d)) < 0 ||
        (mtype = H5Tcopy(ftype)) < 0)
        goto out;
    H5T_class_t cls = H5Tget_class(ftype);
    /* numbers little-endian, whatever the file says: the bytes are the values' */
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Tset_order(mtype, H5T_ORDER_LE) < 0)
        goto out;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t size = H5Tget_size(mtype);
    if (n < 0 || size == 0)
        goto out;
    *crc = (uint32_t)crc32(0L, Z_NULL, 0);
    if (n > 0) {
        if ((size_t)n > SIZE_MAX / size || !(buf = malloc((size_t)n * size)) ||
            H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            goto out;
        *crc = crc_bytes(*crc, buf, (size_t)n * size);
    }
    rc = 0;
out:
    free(buf);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* obj's attribute OT_H5_CRC set to crc, replacing any there */
static int put_crc(hid_t obj, uint32_t crc)
{
    htri_t has = H5Aexists(obj, OT_H5_CRC);
    if (has < 0 || (has > 0 && H5Adelete(obj, OT_H5_CRC) < 0))
        return -1;
    return ot_h5_attr_scalar(obj, OT_H5_CRC, H5T_STD_U32LE, H5T_NATIVE_UINT32, &crc);
}

int ot_h5_crc_set(hid_t d)
{
    uint32_t crc;
    return ot_h5_crc(d, &crc) < 0 ? -1 : put_crc(d, crc);
}


/* crc of one attribute's value as stored (numbers little-endian), continued from *crc */
static int attr_value_crc(hid_t a, uint32_t *crc)
{
    hid_t ftype = H5Aget_type(a), space = H5Aget_space(a), mtype = H5I_INVALID_HID;
    unsigned char *buf = NULL;
    int rc = -1;
    if (ftype < 0 || space < 0 || (mtype = H5Tcopy(ftype)) < 0)
        goto out;
    H5T_class_t cls = H5Tget_class(ftype);
    if ((cls == H5T_INTEGER || cls == H5T_FLOAT) && H5Tset_order(mtype, H5T_ORDER_LE) < 0)
        goto out;
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t size = H5Tget_size(mtype);
    if (n < 0 || size == 0 || (n > 0 && (size_t)n > SIZE_MAX / size))
        goto out;
    if (!(buf = malloc((size_t)n * size + 1)) || (n > 0 && H5Aread(a, mtype, buf) < 0))
        goto out;
    *crc = crc_bytes(*crc, buf, (size_t)n * size);
    rc = 0;
out:
    free(buf);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (space >= 0)
        H5Sclose(space);
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
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0 || attr_value_crc(a, &w->crc) < 0)
        w->failed = 1;
    if (a >= 0)
        H5Aclose(a);
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
    return ot_h5_attrs_crc(obj, &crc) < 0 ? -1 : put_crc(obj, crc);
}

/* the stored crc of obj into *have: 0, -1 without one, -2 unreadable */
static int stored_crc(hid_t obj, uint32_t *have)
{
    htri_t has = H5Aexists(obj, OT_H5_CRC);
    if (has <= 0)
        return has == 0 ? -1 : -2;
    hid_t a = H5Aopen(obj, OT_H5_CRC, H5P_DEFAULT);
    herr_t r = a >= 0 ? H5Aread(a, H5T_NATIVE_UINT32, have) : -1;
    if (a >= 0)
        H5Aclose(a);
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
    int r = stored_crc(d, have);
    if (r < 0)
        return r;
    if (ot_h5_crc(d, want) < 0)
        return -2;
    return *have == *want ? 0 : 1;
}
