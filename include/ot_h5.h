/* ot_h5.h - HDF5 helpers shared by the checkpoint, the history and the verifier. Every caller
 * silences HDF5's own error printer (ot_h5_quiet) and reports failures itself, once. */
#ifndef OT_H5_H
#define OT_H5_H

#include <hdf5.h>
#include <stddef.h>

/* HDF5's automatic error printer, saved and silenced while omptrain reports errors itself. */
typedef struct {
    H5E_auto2_t fn; /* the printer that was installed */
    void *data;     /* its client data */
} ot_h5_quiet_t;

void ot_h5_quiet(ot_h5_quiet_t *q);   /* save the printer and silence it */
void ot_h5_restore(const ot_h5_quiet_t *q); /* put it back */

/* A scalar (rank 0) or simple dataspace of rank dims; < 0 on failure. */
hid_t ot_h5_space(int rank, const hsize_t *dims);

/* Write attribute name on obj: a fixed-length NUL-terminated string, or one scalar of
 * file type ftype from *value of memory type mtype. Return 0 or -1 (no message). */
int ot_h5_attr_str(hid_t obj, const char *name, const char *value);
int ot_h5_attr_scalar(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *value);

/* Why the last HDF5 call failed, from the innermost entry of HDF5's error stack: for a file
 * driver error the system's reason ("No space left on device"), else HDF5's description.
 * Call right after the failing call, before another HDF5 call clears the stack. buf holds
 * 128 bytes; returns buf. */
const char *ot_h5_reason(char *buf);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (buf holds at least 21 bytes). */
void ot_h5_utc_now(char *buf, size_t n);

#endif
