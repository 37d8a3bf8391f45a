/* ot_outdir.h - a run's output directory (RUN_DIR): its name, making sure it takes files and
 * is this run's alone before any training time is spent, and the files a run keeps there. */
#ifndef OT_OUTDIR_H
#define OT_OUTDIR_H

#include <stddef.h>

#include "ot_config.h"

/* The run's output directory: c->out_dir, or runs/<config file name without .ini> when it is
 * empty. Returns 0, or OT_ECONFIG when the name does not fit in n bytes (message printed). */
int ot_output_dir(const ot_config_t *c, char *dir, size_t n);

/* Create dir with its parents (like mkdir -p) and prove that files can be created in it by
 * creating and removing a probe file. Returns 0 or OT_EIO with one line naming the directory
 * and the reason ("Not a directory", "Read-only file system", ...). */
int ot_output_dir_prepare(const char *dir);
/* ot_output_dir_prepare, with in *made how many levels of the path it created (0: dir was
 * there), for ot_output_dir_unmake. */
int ot_output_dir_create(const char *dir, int *made);
/* Undo ot_output_dir_create for a run that failed to start and wrote nothing: when it made
 * dir (made > 0), remove the run lock and dir, then the made parents, each while empty. */
void ot_output_dir_unmake(const char *dir, int made);

/* The files a run writes in its directory, by kind (a mask for ot_run_files). */
enum {
    OT_RUN_CHECKPOINT = 1, /* checkpoint-eNNNN.h5 */
    OT_RUN_LATEST = 2,     /* latest.h5 */
    OT_RUN_HISTORY = 4,    /* history.h5 */
    OT_RUN_PLOT = 8,       /* history.png */
    OT_RUN_ANY = 15
};

/* The kind of a file named name in a run directory; 0 when a run writes no file of that name. */
int ot_run_file_kind(const char *name);

/* The names of the files in dir of a kind in the mask kinds, in name order (strcmp), as one
 * malloc'd array of malloc'd strings for ot_run_files_free; *count of them. Returns 0, OT_EIO
 * ("DIR: cannot read the run directory: REASON") or OT_ENOMEM, message printed. */
int ot_run_files(const char *dir, int kinds, char ***names, size_t *count);
void ot_run_files_free(char **names, size_t count);

/* Where a new run sets the files of the run before it aside (ot_output_dir_set_aside). */
#define OT_PREVIOUS_NAME "previous"

/* A new run (not a resume) into dir, which may hold an earlier run's files: when they include
 * a checkpoint, move them (checkpoint-eNNNN.h5, latest.h5, history.h5, history.png) into
 * dir/previous/, after
 * removing the same files of the run before from there (anything else in previous/ is left
 * alone), so that starting a run again keeps the last one. *moved is set to the number of
 * files moved (0: dir held none). Returns 0, or OT_EIO with one line naming the file and the
 * reason. Call it holding dir's lock. */
int ot_output_dir_set_aside(const char *dir, size_t *moved);

/* A resume of the checkpoint at ckpt into dir (which exists): the run goes on writing its
 * checkpoints and history there, pruning and cutting back what it finds, so dir must be the
 * checkpoint's own directory or hold no run's files (checkpoint-eNNNN.h5, latest.h5,
 * history.h5). Returns 0, OT_ECONFIG with one line naming both and what to give instead (until
 * 2026-12 such a resume replaced the other run's files without a word), or the codes of
 * ot_run_files. */
int ot_output_dir_check_resume(const char *dir, const char *ckpt);

/* The lock file in a run directory while a run writes there. */
#define OT_LOCK_NAME ".omptrain.lock"

/* One run per output directory: take an exclusive advisory lock (flock) on DIR/.omptrain.lock,
 * held through *fd until it is closed; the file holds the holder's process id. The kernel
 * drops the lock when the process ends, however it ends (SIGKILL, a crash), so a dead run's
 * lock never blocks the next one, and there is no check-then-create race. Returns 0, or OT_EIO
 * with one line naming the directory and, when it is in use, the other run's process id. */
int ot_output_dir_lock(const char *dir, int *fd);

#endif
