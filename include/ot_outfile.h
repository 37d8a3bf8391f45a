/* ot_outfile.h - output files written whole or not at all: a temporary file next to the
 * target, fsync, rename over it, fsync of the directory (what checkpoints do), so that a
 * crash, a full disk or a kill leaves either the old file or the complete new one. A symbolic
 * link is followed: the temporary file goes beside the file it leads to, which it replaces,
 * and the link stays. A character device (/dev/null) or a FIFO is written in place instead,
 * NOT atomically (a rename would put a regular file where the node was): a failure there may
 * leave part of the bytes written. */
#ifndef OT_OUTFILE_H
#define OT_OUTFILE_H

#include <stddef.h>

#include "ot_config.h"

/* Write size bytes to path atomically through the temporary file DIR/.NAME-<pid>.tmp (DIR and
 * NAME those of a symbolic link's target), or in place on a character device or a FIFO.
 * Returns 0, or OT_EIO after one line naming path (or the temporary file) and the system's
 * reason; the temporary file is removed and whatever was at path is left as it was. */
int ot_write_atomic(const char *path, const void *data, size_t size);

/* One of a command's outputs, for ot_write_outputs. */
typedef struct {
    const char *path; /* a file name, or "-": standard output */
    const char *flag; /* the option that names it ("--csv"), for the messages of "-" */
    int binary;       /* for "-": refuse a terminal (ot_write_stdout) */
    const void *data; /* its bytes */
    size_t size;
} ot_output_t;

/* Write a command's n outputs as ot_write_atomic each, all or none as far as the system
 * allows: first every temporary file, then what is written in place (a character device, a
 * FIFO, "-" as ot_write_stdout), then the renames. A failure before the renames leaves every
 * file as it was and no temporary file (a device or pipe keeps what it was given before it);
 * a rename that fails (the target became a directory meanwhile) leaves the outputs renamed
 * before it new. Returns 0, or OT_EIO (ot_write_stdout's OT_ECONFIG) after one line. */
int ot_write_outputs(const ot_output_t *outs, size_t n);

/* Whether a file can be created at path: its directory (a symbolic link's target's) exists
 * and may be written, and path is not a directory, a block device or a socket; or path is a
 * character device or a FIFO that may be written. For a command that writes several files,
 * checked for each before any is written, so that a wrong path leaves none. Returns 0, or
 * OT_EIO after one line naming path and the reason. */
int ot_outfile_writable(const char *path);

/* Whether path (the output given as `flag`, "--predictions") is a regular file, or nothing yet,
 * through symbolic links: for a format that cannot be written in place on a device or a FIFO;
 * why says so ("HDF5 seeks in its file"). A directory passes (ot_outfile_writable refuses it).
 * Returns 0, or OT_ECONFIG after one line naming path, flag, what path is and what is
 * expected. */
int ot_outfile_regular(const char *path, const char *flag, const char *why);

/* Whether output file out (given as `flag`, e.g. "--csv") is none of the command's n other
 * files (paths[i], each described by what[i]: "the input file (INPUT)", "--predictions"): the
 * same file whatever the spelling (through links, ./, ..), or for two files not there yet the
 * same name. Returns 0, or OT_ECONFIG (a usage error) after one line naming out and the file it
 * would replace. */
int ot_outfile_distinct(const char *out, const char *flag, const char *const *paths,
                        const char *const *what, size_t n);

/* The data files config c reads (data.train_images, train_labels, test_images, test_labels,
 * train_file, test_file, class_names), for ot_outfile_distinct: each into paths[i] (NULL when
 * not set; pointers into c) with what[i] ("the config's data.train_images"); both arrays of
 * OT_OUTFILE_CONFIG_INPUTS. Returns that count. */
#define OT_OUTFILE_CONFIG_INPUTS 7
size_t ot_outfile_config_inputs(const ot_config_t *c, const char **paths, const char **what);

/* Write size bytes to a new file (exclusive: it must not exist; else truncated), fsync it and
 * close it. Returns 0, or OT_EIO after one line naming `name` and `what` ("the checkpoint")
 * and the system's reason. The file is left for the caller to remove. */
int ot_write_whole(const char *file, int exclusive, const char *name, const char *what,
                   const void *data, size_t size);

/* Whether an output path is "-", standard output by the convention of Unix tools. */
int ot_outfile_is_stdout(const char *path);

/* Write size bytes to standard output for the option `flag` ("--csv"), refusing a terminal
 * when binary is set (an ONNX model). Returns 0, or OT_EIO (OT_ECONFIG for the terminal)
 * after one line naming flag and the reason. */
int ot_write_stdout(const char *flag, int binary, const void *data, size_t size);

#endif
