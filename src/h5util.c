/* h5util.c - the HDF5 helpers checkpoints, the history and the verifier share: HDF5's own error
 * printer silenced while omptrain reports, attributes, dataspaces, the reason of a failure, UTC
 * time stamps (ot_h5.h). */
#include "ot_h5.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

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
