/* ckpt_save.c - a run's checkpoints on disk: each saved atomically (temporary file, fsync,
 * rename, fsync of the directory), latest.h5 pointed at the newest, the keep rule applied
 * (ot_checkpoint.h). */
#define _XOPEN_SOURCE 700 /* realpath */
#include "ot_checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_outdir.h"

/* fsync a directory, so that a rename in it is on disk. A file system that cannot sync
 * directories (EINVAL) is not an error. */
static int fsync_dir(const char *p)
{
    int fd = open(p, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return -1;
    int r = fsync(fd);
    int err = errno;
    close(fd);
    if (r != 0 && err == EINVAL)
        return 0;
    errno = err;
    return r;
}

/* "checkpoint-eNNNN.h5", exactly as ot_ckpt_save names it -> its epoch; anything else -> -1
 * (so that the name rebuilt from the epoch is the file found). */
long ot_ckpt_epoch_of(const char *name)
{
    const char *pre = "checkpoint-e";
    size_t np = strlen(pre);
    if (strncmp(name, pre, np) != 0 || name[np] < '0' || name[np] > '9')
        return -1;
    char *end, canon[64];
    errno = 0;
    long e = strtol(name + np, &end, 10);
    if (errno || strcmp(end, ".h5") != 0 || e < 0 || e > INT_MAX)
        return -1;
    snprintf(canon, sizeof canon, "checkpoint-e%04ld.h5", e);
    return strcmp(canon, name) == 0 ? e : -1;
}

/* A temporary file of a save that did not finish: ".ckpt-<pid>-..." or ".latest-<pid>..."
 * of a process that no longer runs, or of this one (which is not saving at this moment). */
static int stale_temp(const char *name)
{
    const char *s;
    if (strncmp(name, ".ckpt-", 6) == 0)
        s = name + 6;
    else if (strncmp(name, ".latest-", 8) == 0)
        s = name + 8;
    else
        return 0;
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 4, ".tmp") != 0 || *s < '0' || *s > '9')
        return 0;
    long pid = strtol(s, NULL, 10);
    if (pid <= 0)
        return 0;
    return pid == (long)getpid() || (kill((pid_t)pid, 0) != 0 && errno == ESRCH);
}

static int cmp_long_desc(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x < y) - (x > y);
}

/* Keep the newest keep+1 checkpoints of epochs <= epoch; remove the rest (older ones and
 * later ones, which belong to an abandoned line of the run) and stale temporary files.
 * A file that cannot be removed is reported and left; it is not a failure of the save. */
static int prune(const char *dir, int epoch, int keep)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    long *ep = NULL;
    size_t n = 0, cap = 0;
    int removed = 0;
    char p[OT_PATH_MAX + 300];
    struct dirent *de;
    while ((de = readdir(dp))) {
        if (stale_temp(de->d_name)) {
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            unlink(p);
            continue;
        }
        long e = ot_ckpt_epoch_of(de->d_name);
        if (e < 0)
            continue;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 32;
            long *ne = realloc(ep, nc * sizeof *ne);
            if (!ne)
                break;
            ep = ne;
            cap = nc;
        }
        ep[n++] = e;
    }
    closedir(dp);
    if (n)
        qsort(ep, n, sizeof *ep, cmp_long_desc);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (ep[i] <= epoch && kept < (size_t)keep + 1) {
            kept++;
            continue;
        }
        snprintf(p, sizeof p, "%s/checkpoint-e%04ld.h5", dir, ep[i]);
        if (unlink(p) == 0)
            removed++;
        else if (errno != ENOENT)
            ot_error("warning: cannot remove the old checkpoint %s: %s", p, strerror(errno));
    }
    free(ep);
    return removed;
}

int ot_ckpt_save(const ot_trainer_t *t, const char *dir, int keep, ot_ckpt_saved_t *saved)
{
    double t0 = ot_now();
    char tmp[OT_PATH_MAX + 64], final[OT_PATH_MAX + 32], name[32], link_tmp[OT_PATH_MAX + 64],
        latest[OT_PATH_MAX + 16];
    if (strlen(dir) >= OT_PATH_MAX) {
        ot_error("%s: the output directory name is too long", dir);
        return OT_EIO;
    }
    /* a mid-epoch checkpoint (written on SIGINT/SIGTERM) is named for the epoch in progress;
     * that epoch's own end-of-epoch checkpoint replaces it */
    const int epoch = t->epoch + (t->batch_in_epoch > 0);
    snprintf(name, sizeof name, "checkpoint-e%04d.h5", epoch);
    snprintf(final, sizeof final, "%s/%s", dir, name);
    snprintf(tmp, sizeof tmp, "%s/.ckpt-%ld-e%04d.tmp", dir, (long)getpid(), epoch);
    snprintf(link_tmp, sizeof link_tmp, "%s/.latest-%ld.tmp", dir, (long)getpid());
    snprintf(latest, sizeof latest, "%s/latest.h5", dir);

    /* a leftover of this very pid is stale by definition */
    unlink(tmp);
    int rc = ot_ckpt_write_as(t, tmp, final);
    if (rc)
        goto fail;
    struct stat st;
    if (stat(tmp, &st) != 0) {
        ot_error("%s: cannot stat the new checkpoint: %s", tmp, strerror(errno));
        goto fail_io;
    }
    if (rename(tmp, final) != 0) {
        ot_error("cannot rename %s to %s: %s", tmp, final, strerror(errno));
        goto fail_io;
    }
    if (fsync_dir(dir) != 0) {
        ot_error("%s: cannot sync the directory after writing %s: %s", dir, name,
                 strerror(errno));
        goto fail_io;
    }
    /* latest.h5 -> checkpoint-eNNNN.h5: a new symlink renamed over the old one */
    unlink(link_tmp);
    if (symlink(name, link_tmp) != 0 || rename(link_tmp, latest) != 0) {
        ot_error("cannot point %s at %s: %s", latest, name, strerror(errno));
        goto fail_io;
    }
    if (fsync_dir(dir) != 0) {
        ot_error("%s: cannot sync the directory after updating latest.h5: %s", dir,
                 strerror(errno));
        goto fail_io;
    }
    int removed = prune(dir, epoch, keep < 0 ? 0 : keep);
    if (saved) {
        snprintf(saved->path, sizeof saved->path, "%s", final);
        saved->bytes = (uint64_t)st.st_size;
        saved->seconds = ot_now() - t0;
        saved->removed = removed;
    }
    return OT_OK;
fail_io:
    rc = OT_EIO;
fail:
    unlink(tmp);
    unlink(link_tmp);
    return rc; /* a checkpoint already renamed into place is complete: it stays */
}

int ot_ckpt_drop_later(const char *dir, long epoch, const char *resumed, size_t *removed,
                       long *last)
{
    char **names, p[OT_PATH_MAX + 300], latest[OT_PATH_MAX + 16], target[OT_PATH_MAX];
    char link_tmp[OT_PATH_MAX + 64];
    size_t n;
    *removed = 0;
    *last = epoch;
    if (ot_run_files(dir, OT_RUN_CHECKPOINT, &names, &n))
        return OT_EIO;
    int rc = OT_OK;
    for (size_t i = 0; i < n && !rc; i++) {
        long e = ot_ckpt_epoch_of(names[i]);
        if (e <= epoch)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, names[i]);
        if (unlink(p) != 0 && errno != ENOENT) {
            ot_error("%s: cannot remove it (a checkpoint of an epoch after the resumed one): %s",
                     p, strerror(errno));
            rc = OT_EIO;
        } else {
            (*removed)++;
            *last = e > *last ? e : *last;
        }
    }
    ot_run_files_free(names, n);
    /* latest.h5 at one of them (now dangling): at the resumed checkpoint instead, by its
     * own name (a --resume DIR/latest.h5 resolved it already) */
    snprintf(latest, sizeof latest, "%s/latest.h5", dir);
    ssize_t len = readlink(latest, target, sizeof target - 1);
    if (rc || !*removed || len < 0 || ot_ckpt_epoch_of((target[len] = '\0', target)) <= epoch)
        return rc;
    char real[PATH_MAX];
    const char *base = realpath(resumed, real) ? strrchr(real, '/') + 1 : NULL;
    if (!base || ot_ckpt_epoch_of(base) != epoch) { /* a file of another name: the run's first
                                                       save makes latest.h5 again */
        if (unlink(latest) != 0 && errno != ENOENT) {
            ot_error("%s: cannot remove it: %s", latest, strerror(errno));
            return OT_EIO;
        }
        return OT_OK;
    }
    snprintf(link_tmp, sizeof link_tmp, "%s/.latest-%ld.tmp", dir, (long)getpid());
    unlink(link_tmp);
    if (symlink(base, link_tmp) != 0 || rename(link_tmp, latest) != 0 || fsync_dir(dir) != 0) {
        ot_error("cannot point %s at %s: %s", latest, base, strerror(errno));
        unlink(link_tmp);
        return OT_EIO;
    }
    return OT_OK;
}
