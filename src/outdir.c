/* outdir.c - a run's output directory: its name, making it, and proving it takes files
 * (ot_outdir.h). */
#include "ot_outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "ot_checkpoint.h"
#include "ot_common.h"

int ot_output_dir(const ot_config_t *c, char *dir, size_t n)
{
    int len;
    if (c->out_dir[0]) {
        len = snprintf(dir, n, "%s", c->out_dir);
    } else {
        const char *base = strrchr(c->path, '/');
        base = base ? base + 1 : c->path;
        size_t blen = strlen(base);
        if (blen > 4 && strcmp(base + blen - 4, ".ini") == 0)
            blen -= 4;
        len = snprintf(dir, n, "runs/%.*s", (int)blen, base);
    }
    if (len < 0 || (size_t)len >= n) {
        ot_error("%s: output.dir: the output directory name is longer than %zu bytes", c->path,
                 n - 1);
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* mkdir of one level; an existing directory is fine, an existing non-directory is ENOTDIR. */
static int mkdir_one(const char *p)
{
    if (mkdir(p, 0777) == 0)
        return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST || err == EROFS || err == EACCES) {
        if (stat(p, &st) == 0) {
            if (S_ISDIR(st.st_mode))
                return 0;
            errno = ENOTDIR;
            return -1;
        }
    }
    errno = err;
    return -1;
}

int ot_output_dir_prepare(const char *dir)
{
    char p[OT_PATH_MAX + 64];
    if (!dir[0] || strlen(dir) >= OT_PATH_MAX) {
        ot_error("output directory '%s': expected a path of 1 to %d bytes", dir, OT_PATH_MAX - 1);
        return OT_EIO;
    }
    snprintf(p, sizeof p, "%s", dir);
    /* create each prefix in turn, like mkdir -p */
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        int r = mkdir_one(p);
        int err = errno;
        *s = '/';
        if (r) {
            *s = 0;
            ot_error("cannot create the output directory %s: %s: %s", dir, p, strerror(err));
            return OT_EIO;
        }
    }
    if (mkdir_one(p)) {
        ot_error("cannot create the output directory %s: %s", dir, strerror(errno));
        return OT_EIO;
    }
    snprintf(p, sizeof p, "%s/.omptrain-probe-%ld", dir, (long)getpid());
    int fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0 && errno == EEXIST && unlink(p) == 0)
        fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        ot_error("cannot write in the output directory %s: %s", dir, strerror(errno));
        return OT_EIO;
    }
    close(fd);
    unlink(p);
    return OT_OK;
}

int ot_output_dir_lock(const char *dir, int *fd)
{
    char p[OT_PATH_MAX + 32];
    *fd = -1;
    snprintf(p, sizeof p, "%s/" OT_LOCK_NAME, dir);
    int f = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0) {
        ot_error("%s: cannot create the run lock %s: %s", dir, OT_LOCK_NAME, strerror(errno));
        return OT_EIO;
    }
    if (flock(f, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        char pid[32] = "";
        ssize_t got = pread(f, pid, sizeof pid - 1, 0);
        pid[got > 0 ? got : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        close(f);
        if (err == EWOULDBLOCK)
            ot_error("%s: in use by another run (process %s); wait for it to end, or give this "
                     "one another output directory (--output DIR)", dir, pid[0] ? pid : "?");
        else
            ot_error("%s: cannot lock %s: %s", dir, OT_LOCK_NAME, strerror(err));
        return OT_EIO;
    }
    /* ours: say who holds it (a dead holder's number is overwritten here) */
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)len, 0) != len) {
        ot_error("%s: cannot write the run lock %s: %s", dir, OT_LOCK_NAME, strerror(errno));
        close(f);
        return OT_EIO;
    }
    *fd = f;
    return OT_OK;
}

/* A file a run writes in its directory, by name. */
static int run_file(const char *name)
{
    return ot_ckpt_epoch_of(name) >= 0 || !strcmp(name, "latest.h5") ||
           !strcmp(name, "history.h5") || !strcmp(name, "history.png");
}

/* Each run file in from: removed (to == NULL) or renamed into to; *count of them. Stops at
 * the first failure: OT_EIO after one line. */
static int move_run_files(const char *from, const char *to, size_t *count)
{
    DIR *d = opendir(from);
    *count = 0;
    if (!d && errno == ENOENT)
        return OT_OK;
    if (!d) {
        ot_error("%s: cannot read it: %s", from, strerror(errno));
        return OT_EIO;
    }
    int rc = OT_OK;
    struct dirent *de;
    while (rc == OT_OK && (de = readdir(d))) {
        if (!run_file(de->d_name))
            continue;
        char src[OT_PATH_MAX + 300], dst[OT_PATH_MAX + 300];
        snprintf(src, sizeof src, "%s/%s", from, de->d_name);
        if (to)
            snprintf(dst, sizeof dst, "%s/%s", to, de->d_name);
        if (to ? rename(src, dst) != 0 : unlink(src) != 0) {
            ot_error("%s: cannot %s it: %s", src, to ? "set aside" : "remove", strerror(errno));
            rc = OT_EIO;
        } else {
            (*count)++;
        }
    }
    closedir(d);
    return rc;
}

int ot_output_dir_set_aside(const char *dir, size_t *moved)
{
    char prev[OT_PATH_MAX + 32];
    size_t n = 0;
    *moved = 0;
    int rc;
    DIR *d = opendir(dir);
    if (!d) {
        ot_error("%s: cannot read the run directory: %s", dir, strerror(errno));
        return OT_EIO;
    }
    struct dirent *de;
    while ((de = readdir(d))) /* a checkpoint: a history alone (a run stopped before its first
                                 checkpoint) has nothing to resume, and is replaced */
        n += ot_ckpt_epoch_of(de->d_name) >= 0 || !strcmp(de->d_name, "latest.h5");
    closedir(d);
    if (n == 0)
        return OT_OK;
    snprintf(prev, sizeof prev, "%s/%s", dir, OT_PREVIOUS_NAME);
    if ((rc = move_run_files(prev, NULL, &n))) /* the run before the last */
        return rc;
    if (mkdir(prev, 0777) != 0 && errno != EEXIST) {
        ot_error("%s: cannot create it to set the earlier run aside: %s", prev, strerror(errno));
        return OT_EIO;
    }
    return move_run_files(dir, prev, moved);
}
