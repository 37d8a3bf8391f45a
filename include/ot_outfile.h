/* ot_outfile.h - output files written whole or not at all: a temporary file next to the
 * target, fsync, rename over it, fsync of the directory (what checkpoints do), so that a
 * crash, a full disk or a kill leaves either the old file or the complete new one. */
#ifndef OT_OUTFILE_H
#define OT_OUTFILE_H

#include <stddef.h>

/* Write size bytes to path atomically through the temporary file DIR/.NAME-<pid>.tmp.
 * Returns 0, or OT_EIO after one line naming path (or the temporary file) and the system's
 * reason; the temporary file is removed and whatever was at path is left as it was. */
int ot_write_atomic(const char *path, const void *data, size_t size);

/* Whether a file can be created at path: its directory exists and may be written, and path
 * is not a directory. For a command that writes several files, checked for each before any
 * is written, so that a wrong path leaves none. Returns 0, or OT_EIO after one line naming
 * path and the reason. */
int ot_outfile_writable(const char *path);

/* Whether output file out (given as `flag`, e.g. "--csv") is none of the command's n other
 * files (paths[i], each described by what[i]: "the input file (INPUT)", "--predictions"): the
 * same file whatever the spelling (through links, ./, ..), or for two files not there yet the
 * same name. Returns 0, or OT_EIO after one line naming out and the file it would replace. */
int ot_outfile_distinct(const char *out, const char *flag, const char *const *paths,
                        const char *const *what, size_t n);

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
