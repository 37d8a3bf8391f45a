/* ot_h5.h - HDF5 helpers shared by the checkpoint, the history, the verifier and the HDF5 data
 * input. Every caller silences HDF5's own error printer (ot_h5_quiet) and reports failures
 * itself, once. */
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

/* The shape dims[0..rank) as "60000x28x28", "50", or "scalar" for rank 0, into buf[n] (cut to
 * fit); returns buf. */
const char *ot_h5_dims_str(int rank, const hsize_t *dims, char *buf, size_t n);

/* Write attribute name on obj: a fixed-length NUL-terminated string, or one scalar of
 * file type ftype from *value of memory type mtype. Return 0 or -1 (no message). */
int ot_h5_attr_str(hid_t obj, const char *name, const char *value);
int ot_h5_attr_scalar(hid_t obj, const char *name, hid_t ftype, hid_t mtype, const void *value);

/* An open attribute with its type and dataspace. */
typedef struct {
    hid_t a;     /* the attribute */
    hid_t type;  /* its file type */
    hid_t space; /* its dataspace */
} ot_h5_attr_t;

/* Open attribute name of obj, its type and its dataspace into *at: 0, or -1 when one of them
 * cannot be opened (no message). Either way *at holds the ids that opened (the others
 * H5I_INVALID_HID), for ot_h5_attr_close. */
int ot_h5_attr_open(hid_t obj, const char *name, ot_h5_attr_t *at);

/* Close the ids of *at that are open and mark them closed. */
void ot_h5_attr_close(ot_h5_attr_t *at);

/* Read attribute name of obj, which must hold one value of class cls: a fixed-length string of
 * 1 to max_len bytes into out[n] (NUL-terminated, cut to fit), or a number read as mtype into
 * *out. Returns 0; OT_H5_ATTR_MISSING when obj has no such attribute; OT_H5_ATTR_BAD when it
 * is of another class or length or cannot be read. On failure why (NULL: not wanted) completes
 * the phrase "attribute NAME of OBJECT ...": "is missing", "must be a single integer", "is a
 * string of 2000 bytes, expected 1 to 1024", "cannot be read". */
enum { OT_H5_ATTR_MISSING = -1, OT_H5_ATTR_BAD = -2 };
int ot_h5_attr_get(hid_t obj, const char *name, H5T_class_t cls, hid_t mtype, void *out,
                   size_t n, size_t max_len, char *why, size_t why_n);

/* Why the last HDF5 call failed, from the innermost entry of HDF5's error stack: for a file
 * driver error the system's reason ("No space left on device"), else HDF5's description.
 * Call right after the failing call, before another HDF5 call clears the stack. buf holds
 * 128 bytes; returns buf. */
const char *ot_h5_reason(char *buf);

/* HDF5 type t in a few words, into buf[n]: "F64LE", "U32BE", "I32LE" for the standard number
 * types; "F64LE of a non-IEEE layout" (or, for an integer, "of a nonstandard precision or
 * offset") for one whose fields differ from the standard type of its class, size, sign and
 * byte order (a damaged datatype message that HDF5 still converts from); "a fixed-length string
 * of 6 bytes"; "HDF5 type class 6 of 12 bytes" for anything else. Returns buf. */
const char *ot_h5_type_str(hid_t t, char *buf, size_t n);

/* ---- layouts: a checksum covers values, not names or types, so what the readers of a file
 * need is checked as a list of objects and attributes, each of exactly the type and rank
 * omptrain writes (ot_ckpt_check_layout, ot_history_check_layout). */

/* The types omptrain writes, by name: HDF5's H5T_* are not constants, so a table names them. */
typedef enum {
    OT_H5_I32,   /* H5T_STD_I32LE */
    OT_H5_U32,   /* H5T_STD_U32LE */
    OT_H5_U64,   /* H5T_STD_U64LE */
    OT_H5_F32,   /* H5T_IEEE_F32LE */
    OT_H5_F64,   /* H5T_IEEE_F64LE */
    OT_H5_STR,   /* a fixed-length string, of any length */
    OT_H5_GROUP, /* a group (no type) */
} ot_h5_kind_t;

/* One entry of a file's layout. */
typedef struct {
    const char *obj;   /* an absolute path ("/" for the root) */
    const char *attr;  /* an attribute of obj, or NULL for obj itself */
    ot_h5_kind_t type; /* of the attribute or dataset; OT_H5_GROUP: obj is a group */
    int rank;          /* of the attribute or dataset: 0 scalar, 1 */
    int optional;      /* 1: checked only when obj (and attr) is there */
} ot_h5_layout_t;

/* Whether type (of what, for the message) is exactly want: for numbers H5Tequal with the
 * standard type (class, size, byte order and every field: a damaged float datatype that HDF5
 * still converts from is refused), for OT_H5_STR any fixed-length string. 0, or -1 with why[n]
 * "WHAT is stored as F32LE, expected F64LE as omptrain writes it (a damaged datatype?)". */
int ot_h5_type_is(hid_t type, ot_h5_kind_t want, const char *what, char *why, size_t n);

/* Entry e of a layout in the file f, reached through hard links only: 0, or -1 with the
 * first thing wrong in why[n]: "/state/epoch is missing (not a complete omptrain KIND)",
 * "/x is not a dataset (...)", "attribute created of / is missing", ot_h5_type_is's line,
 * "/x has rank 2, expected 1", or a link that leaves the file (ot_h5_find). KIND is
 * file_kind ("checkpoint", "history"). No message printed. */
int ot_h5_layout_check(hid_t f, const ot_h5_layout_t *e, const char *file_kind, char *why,
                       size_t n);

/* Whether the dataset at obj (of that rank, as ot_h5_layout_check found it) has the shape
 * dims: 0, or -1 with why[n] "/x has shape 784x50, expected 784x100". */
int ot_h5_shape_check(hid_t f, const char *obj, int rank, const hsize_t *dims, char *why,
                      size_t n);

/* why[n] = "format_version FORMAT, written by a later omptrain: this one (VERSION) reads KIND
 * formats 1 to NEWEST", for a file_kind's file of a format past this build's. */
void ot_h5_newer_format(char *why, size_t n, int format, const char *file_kind, int newest);

/* ---- checksums: every dataset omptrain writes carries attribute OT_H5_CRC, the zlib crc32 of
 * its values encoded little-endian in its own type (the bytes as HDF5 stores them), and the
 * root group carries one over its other attributes, so that a bit flipped on disk or in a copy
 * is found on load. (HDF5 1.10's metadata checksums need the 1.8 file layout, whose superblock
 * H5Fget_file_image returns with a stale checksum; damaged metadata shows as a missing or
 * misshapen object, or as data that no longer match their checksum.) */

#define OT_H5_CRC "crc32"
#define OT_H5_CRC_GROUPS "crc32_groups" /* root attribute, a string: the groups besides the
                                           root whose attributes carry OT_H5_CRC, by absolute
                                           path, separated by spaces ("/input /optimizer"), so
                                           that one without it is found damaged; a file
                                           without the attribute names none */

#define OT_H5_SLAB ((size_t)1 << 20)        /* bytes a checksum reads at a time */
#define OT_H5_MAX_ELEMENT ((size_t)1 << 16) /* the largest value (a string) checksummed */
#define OT_H5_MAX_ATTR ((size_t)1 << 16)    /* the largest attribute checksummed: HDF5 keeps
                                               attributes in 64 KiB object headers */

/* crc32 of dataset d's values as stored, into *crc, read OT_H5_SLAB bytes at a time: 0, or -1
 * when it cannot be read or holds other than integers, floats or fixed-length strings of at
 * most OT_H5_MAX_ELEMENT bytes (no message; ot_h5_reason says why). */
int ot_h5_crc(hid_t d, uint32_t *crc);

/* Compute d's crc32 and store it in its OT_H5_CRC attribute (created or overwritten): 0 or
 * -1. */
int ot_h5_crc_set(hid_t d);

/* Store crc (of ot_h5_crc or ot_h5_attrs_crc) in obj's OT_H5_CRC attribute (created or
 * overwritten): 0 or -1. */
int ot_h5_crc_put(hid_t obj, uint32_t crc);

/* Write dataset name under loc with its checksum (ot_h5_crc_set): file type ftype, rank 0 (a
 * scalar) or dims[0..rank), from buf of memory type mtype (may be NULL when it holds no values),
 * links made with lcpl (H5P_DEFAULT, or one that makes the groups on the way). 0, or -1 with
 * ot_h5_reason's text in reason[128], taken before the cleanup clears HDF5's error stack. */
int ot_h5_write_ds(hid_t loc, const char *name, hid_t lcpl, hid_t ftype, hid_t mtype, int rank,
                   const hsize_t *dims, const void *buf, char *reason);

/* Check d against its OT_H5_CRC attribute: 0 when they agree; 1 when they differ (*have: the
 * stored value, *want: the computed one); -1 without the attribute; -2 when the attribute is
 * not one integer, d is not a dataset omptrain writes (ot_h5_own_dataset) or its values cannot
 * be read (the file is damaged). */
int ot_h5_crc_check(hid_t d, uint32_t *have, uint32_t *want);

/* crc32 of obj's attributes other than OT_H5_CRC, by name order: each name, then its value
 * as stored (numbers little-endian), into *crc. 0 or -1. */
int ot_h5_attrs_crc(hid_t obj, uint32_t *crc);

/* Store ot_h5_attrs_crc in obj's OT_H5_CRC attribute: 0 or -1. */
int ot_h5_attrs_crc_set(hid_t obj);

/* Check obj's attributes against its OT_H5_CRC attribute, with ot_h5_crc_check's returns;
 * an attribute of more than OT_H5_MAX_ATTR bytes, or of another type than integers, floats or
 * fixed-length strings, cannot be read (-2). */
int ot_h5_attrs_crc_check(hid_t obj, uint32_t *have, uint32_t *want);

/* ---- files from someone else: what omptrain reads comes from the file itself (no external
 * links, external storage or virtual datasets, which would make HDF5 open other files), in
 * bounded memory. */

#define OT_H5_OWN_CHUNK ((size_t)1 << 20) /* the largest chunk of omptrain's own files (the
                                             history's are 32 KiB) */
#define OT_H5_PATH_MAX 1024               /* the longest object path followed */
#define OT_H5_SOFT_DEPTH 8                /* soft links followed in a row, at most */

/* Whether the file at path is HDF5 (as opened with file access list fapl, H5P_DEFAULT for
 * none; HDF5 1.10 asks without it): > 0, 0 when it is not, < 0 when it cannot be read. No
 * message: the caller silences HDF5's printer. */
htri_t ot_h5_is_hdf5(const char *path, hid_t fapl);

/* Open the HDF5 file image of n bytes at buf from memory, through HDF5's core driver: the
 * bytes are copied, and the file is read-only or (rw) writable in memory; nothing is read from
 * or written to disk. name names the file in HDF5's own bookkeeping; HDF5 1.10's core driver
 * still refuses a name under which a file already exists on disk, so give one that does not
 * (the fuzzers' fixed names, a test's scratch path). Returns the file, or < 0 when the image
 * is not HDF5 or is damaged, or the name is taken (no message). */
hid_t ot_h5_open_image(const void *buf, size_t n, const char *name, int rw);

/* A new, empty HDF5 file that HDF5 keeps in memory (the core driver without a backing store,
 * growing by increment bytes at a time): nothing is read from or written to disk; name names it
 * in HDF5's bookkeeping and messages. Returns the file, or < 0 with ot_h5_reason's text in
 * reason[128]. Its bytes: ot_h5_get_image. */
hid_t ot_h5_create_image(const char *name, size_t increment, char *reason);

/* The bytes of file f, one HDF5 keeps in memory (the core driver without a backing store, as
 * checkpoints and predictions are built), flushed first, into *image (malloc'd, owned by the
 * caller) and *size; f stays open. 0; -1 when HDF5 fails (ot_h5_reason says why); OT_ENOMEM
 * when the *size bytes cannot be allocated. No message; *image is NULL on failure. */
int ot_h5_get_image(hid_t f, void **image, size_t *size);

/* Whether dataset d's values can be read from its own file in bounded memory: not virtual (a
 * mapping of other datasets or files), not in external files, with chunks of at most
 * max_chunk bytes (HDF5 holds a whole chunk in memory to decompress it, or to write a part of
 * it) and no filter (compression) unless filters_ok, then only gzip (deflate), shuffle and
 * fletcher32, the ones h5py's files use. 0, or -1 with what is wrong
 * in why[128] ("has its values in 1 external file, expected them in this file"). Looks at the
 * dataset's creation properties only: no value is read. */
int ot_h5_storage_check(hid_t d, size_t max_chunk, int filters_ok, char *why);

/* Whether d is a dataset as omptrain writes them: ot_h5_storage_check with OT_H5_OWN_CHUNK and
 * no filter, integers, floats or fixed-length strings (OT_H5_MAX_ELEMENT bytes at most), and
 * no more values than its file has bytes. 0, or -1 with the reason in why[128]. */
int ot_h5_own_dataset(hid_t d, char *why);

/* Whether the object at path p (absolute, or relative to loc) is there and reached through
 * links that stay in the file: hard links, or (soft_ok) soft links to paths that do, at most
 * OT_H5_SOFT_DEPTH in a row. Each link is looked at before it is followed, so an external
 * link is never opened. Returns 1 (there), 0 (missing) or -1 (a link leaves the file or cannot
 * be read: why, n bytes, says which: "/model/x is an external link (to another file), ..."). */
int ot_h5_find(hid_t loc, const char *p, int soft_ok, char *why, size_t n);

/* Open dataset p of the file at loc (absolute, or relative to loc; reached through links that
 * stay in the file) into *d: it must be there, be a dataset as omptrain writes them
 * (ot_h5_own_dataset), hold numbers of class cls (of `bytes` bytes each when bytes > 0) and
 * have the given rank, its dimensions then into dims; rank < 0 takes any rank and reads no
 * dimensions. 0, or OT_EFORMAT after one line naming path (the file, for the message) and p. */
int ot_h5_open_ds(hid_t loc, const char *path, const char *p, H5T_class_t cls, size_t bytes,
                  int rank, hsize_t *dims, hid_t *d);

/* The current UTC time as "YYYY-MM-DDTHH:MM:SSZ" (buf holds at least 21 bytes). */
void ot_h5_utc_now(char *buf, size_t n);

#endif
