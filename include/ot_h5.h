/* ot_h5.h - HDF5 helpers shared by the checkpoint, the history and the verifier. Every caller
 * silences HDF5's own error printer (ot_h5_quiet) and reports failures itself, once. */
#ifndef OT_H5_H
#define OT_H5_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- checksums: every dataset omptrain writes carries attribute OT_H5_CRC, the zlib crc32 of
 * its values encoded little-endian in its own type (the bytes as HDF5 stores them), and the
 * root group carries one over its other attributes, so that a bit flipped on disk or in a copy
 * is found on load. (HDF5 1.10's metadata checksums need the 1.8 file layout, whose superblock
 * H5Fget_file_image returns with a stale checksum; damaged metadata shows as a missing or
 * misshapen object, or as data that no longer match their checksum.) */

#define OT_H5_CRC "crc32"

/* crc32 of dataset d's values as stored, into *crc: 0, or -1 when it cannot be read (no
 * message; ot_h5_reason says why). */
int ot_h5_crc(hid_t d, uint32_t *crc);

/* Compute d's crc32 and store it in its OT_H5_CRC attribute (created or overwritten): 0 or
 * -1. */
int ot_h5_crc_set(hid_t d);

/* Check d against its OT_H5_CRC attribute: 0 when they agree; 1 when they differ (*have: the
 * stored value, *want: the computed one); -1 without the attribute; -2 when the values cannot
 * be read (the file is damaged). */
int ot_h5_crc_check(hid_t d, uint32_t *have, uint32_t *want);

/* crc32 of obj's attributes other than OT_H5_CRC, by name order: each name, then its value
 * as stored (numbers little-endian), into *crc. 0 or -1. */
int ot_h5_attrs_crc(hid_t obj, uint32_t *crc);

/* Store ot_h5_attrs_crc in obj's OT_H5_CRC attribute: 0 or -1. */
int ot_h5_attrs_crc_set(hid_t obj);

/* Check obj's attributes against its OT_H5_CRC attribute, with ot_h5_crc_check's returns. */
int ot_h5_attrs_crc_check(hid_t obj, uint32_t *have, uint32_t *want);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (buf holds at least 21 bytes). */
void ot_h5_utc_now(char *buf, size_t n);

#endif
