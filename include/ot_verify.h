/* ot_verify.h - how a checkpoint or history file is verified, in one place: the file must
 * open as HDF5, its root attributes must match their checksum, and so must every dataset
 * (ot_h5.h's OT_H5_CRC), read in full. `omptrain verify PATH...` and `--resume DIR` use it;
 * the loaders check each dataset they read the same way. */
#ifndef OT_VERIFY_H
#define OT_VERIFY_H

#include <hdf5.h>
#include <stddef.h>

/* What a verification found. */
typedef struct {
    int intact;             /* 1 when every check passed */
    int unchecked;          /* 1 when the file has no checksums to check (an older format) */
    int not_hdf5;           /* 1 when it has no HDF5 signature: damaged there, or never HDF5 */
    int newer;              /* 1 when its format is past this build's (its root attributes
                               match their checksum; nothing else is checked) */
    char kind[16];          /* "checkpoint", "history" or "HDF5 file" */
    int format_version;     /* the root attribute format_version (0: none) */
    size_t datasets;        /* datasets checked */
    char why[512];          /* what is damaged (or why nothing could be checked), when not
                               intact: "/model/affine1/W: its checksum is 0x... but ..." */
} ot_verify_t;

/* Whether an output (predictions, CSV, ONNX) may be written at path: not when a checkpoint or
 * history of omptrain is there (a typo such as `--onnx run/latest.h5` would replace the run's
 * checkpoint with another file). Only the file's top-level names are read. Returns 0, or
 * OT_EIO after one line naming path and what it holds. */
int ot_verify_replaceable(const char *path);

/* Whether path names a regular file, the only kind a checkpoint or history is read from
 * (opening a FIFO would wait for a writer for ever; a device has no size): 0, or OT_EIO with
 * why[n] completing "PATH: ...": the system's reason it cannot be looked at ("No such file or
 * directory"), "is a FIFO (named pipe), expected EXPECTED" (a directory, a character or block
 * device, a socket likewise), or "an empty path, expected EXPECTED". Prints nothing, opens
 * nothing. */
int ot_verify_regular(const char *path, const char *expected, char *why, size_t n);

/* Verify the file at path into *v. Returns 0 when it is intact; OT_EIO when it cannot be
 * opened; OT_EFORMAT when it is damaged, is not HDF5, has no checksums to check (an older
 * format) or has a format past this build's (v->newer). Prints nothing. */
int ot_verify_file(const char *path, ot_verify_t *v);

/* ot_verify_file on a file already open (from a path, or from memory: ot_h5_open_image): 0
 * when it is intact, else OT_EFORMAT. Prints nothing; HDF5's printer silenced meanwhile. */
int ot_verify_h5(hid_t f, ot_verify_t *v);

/* The newest checkpoint of run directory dir that verifies (by the epoch in its name), into
 * path (n bytes); each newer one that does not is reported on stderr with why it was skipped.
 * Returns 0, OT_EIO (dir cannot be read) or OT_EFORMAT (no checkpoint there verifies); message
 * printed. */
int ot_verify_newest(const char *dir, char *path, size_t n);

/* The verify command: each path's verdict on stdout, one line a file; a path that is a run
 * directory stands for its checkpoint-eNNNN.h5, latest.h5 and history.h5, in name order (none
 * there: a message, OT_EFORMAT). Returns 0 when every file is intact, else the first
 * failure's code. */
int ot_verify_command(int n_paths, char **paths);

#endif
