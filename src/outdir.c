/* outdir.c - a run's output directory: its name, making it, proving it takes files, its lock,
 * the files a run keeps there, setting an earlier run aside, and where a resume may write
 * (ot_outdir.h). */
#include "ot_outdir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

/* mkdir of one level; an existing directory is fine, an existing non-directory is ENOTDIR.
 * *made is incremented when this call created it. */
static int mkdir_one(const char *p, int *made)
{
    if (mkdir(p, 0777) == 0) {
        ++*made;
        return 0;
    }
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
    int made;
    return ot_output_dir_create(dir, &made);
}

int ot_output_dir_create(const char *dir, int *made)
{
    char p[OT_PATH_MAX + 64];
    *made = 0;
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
        int r = mkdir_one(p, made);
        int err = errno;
        *s = '/';
        if (r) {
            *s = 0;
            ot_error("cannot create the output directory %s: %s: %s", dir, p, strerror(err));
            return OT_EIO;
        }
    }
    if (mkdir_one(p, made)) {
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

void ot_output_dir_unmake(const char *dir, int made)
{
    char p[OT_PATH_MAX + 32];
    if (made <= 0 || strlen(dir) >= OT_PATH_MAX)
        return;
    snprintf(p, sizeof p, "%s/" OT_LOCK_NAME, dir);
    unlink(p);
    snprintf(p, sizeof p, "%s", dir);
    for (int i = 0; i < made; i++) { /* dir, then the parents made with it, while empty */
        size_t len = strlen(p);
        while (len > 1 && p[len - 1] == '/') /* "a/b/" is a/b */
            p[--len] = '\0';
        if (rmdir(p) != 0)
            return;
        char *slash = strrchr(p, '/');
        if (!slash || slash == p)
            return;
        *slash = '\0';
    }
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

int ot_run_file_kind(const char *name)
{
    return ot_ckpt_epoch_of(name) >= 0    ? OT_RUN_CHECKPOINT
           : !strcmp(name, "latest.h5")   ? OT_RUN_LATEST
           : !strcmp(name, "history.h5")  ? OT_RUN_HISTORY
           : !strcmp(name, "history.png") ? OT_RUN_PLOT
                                          : 0;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ot_run_files_free(char **names, size_t count)
{
    for (size_t i = 0; names && i < count; i++)
        free(names[i]);
    free(names);
}

int ot_run_files(const char *dir, int kinds, char ***names, size_t *count)
{
    *names = NULL;
    *count = 0;
    DIR *d = opendir(dir);
    if (!d) {
        ot_error("%s: cannot read the run directory: %s", dir, strerror(errno));
        return OT_EIO;
    }
    char **list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!(ot_run_file_kind(de->d_name) & kinds))
            continue;
        if (n == cap) {
            char **grown = realloc(list, (cap ? 2 * cap : 16) * sizeof *list);
            if (!grown)
                break;
            list = grown;
            cap = cap ? 2 * cap : 16;
        }
        if (!(list[n] = strdup(de->d_name)))
            break;
        n++;
    }
    const int full = de != NULL; /* stopped early: out of memory */
    closedir(d);
    if (full) {
        ot_run_files_free(list, n);
        ot_error("%s: cannot list the run's files: out of memory", dir);
        return OT_ENOMEM;
    }
    if (n > 1)
        qsort(list, n, sizeof *list, cmp_name);
    *names = list;
    *count = n;
    return OT_OK;
}

/* Each run file in from (a missing from holds none): removed (to == NULL) or renamed into to;
 * *count of them. Stops at the first failure: OT_EIO after one line. */
static int move_run_files(const char *from, const char *to, size_t *count)
{
    char **names;
    size_t n;
    int rc;
    *count = 0;
    if (access(from, F_OK) != 0 && errno == ENOENT)
        return OT_OK;
    if ((rc = ot_run_files(from, OT_RUN_ANY, &names, &n)))
        return rc;
    for (size_t i = 0; i < n && rc == OT_OK; i++) {
        char src[OT_PATH_MAX + 300], dst[OT_PATH_MAX + 300];
        snprintf(src, sizeof src, "%s/%s", from, names[i]);
        if (to)
            snprintf(dst, sizeof dst, "%s/%s", to, names[i]);
        if (to ? rename(src, dst) != 0 : unlink(src) != 0) {
            ot_error("%s: cannot %s it: %s", src, to ? "set aside" : "remove", strerror(errno));
            rc = OT_EIO;
        } else {
            (*count)++;
        }
    }
    ot_run_files_free(names, n);
    return rc;
}

int ot_output_dir_set_aside(const char *dir, size_t *moved)
{
    char prev[OT_PATH_MAX + 32], **names;
    size_t n;
    *moved = 0;
    /* a checkpoint: a history alone (a run stopped before its first checkpoint) has nothing
     * to resume, and is replaced */
    int rc = ot_run_files(dir, OT_RUN_CHECKPOINT | OT_RUN_LATEST, &names, &n);
    if (rc)
        return rc;
    ot_run_files_free(names, n);
    if (n == 0)
        return OT_OK;
    snprintf(prev, sizeof prev, "%s/%s", dir, OT_PREVIOUS_NAME);
    struct stat st;
    if (stat(prev, &st) == 0 && !S_ISDIR(st.st_mode)) {
        ot_error("%s: is not a directory, expected none or the directory an earlier run is set "
                 "aside in; move it away, or give another --output", prev);
        return OT_EIO;
    }
    if ((rc = move_run_files(prev, NULL, &n))) /* the run before the last */
        return rc;
    if (mkdir(prev, 0777) != 0 && errno != EEXIST) {
        ot_error("%s: cannot create it to set the earlier run aside: %s", prev, strerror(errno));
        return OT_EIO;
    }
    return move_run_files(dir, prev, moved);
}

/* Whether paths a and b name the same directory (the same device and inode). */
static int same_dir(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int ot_output_dir_check_resume(const char *dir, const char *ckpt)
{
    char from[OT_PATH_MAX], **names;
    size_t n;
    const char *slash = strrchr(ckpt, '/');
    if (!slash)
        snprintf(from, sizeof from, ".");
    else
        snprintf(from, sizeof from, "%.*s", slash == ckpt ? 1 : (int)(slash - ckpt), ckpt);
    if (same_dir(from, dir))
        return OT_OK;
    int rc = ot_run_files(dir, OT_RUN_CHECKPOINT | OT_RUN_LATEST | OT_RUN_HISTORY, &names, &n);
    if (rc)
        return rc;
    if (n > 0) {
        ot_error("%s holds another run than the one in %s (%s%s, %zu file%s): resuming into it "
                 "would replace that run's files; give --output %s (the checkpoint's own "
                 "directory) or a directory without a run", dir, ckpt, names[0],
                 n > 1 ? ", ..." : "", n, n == 1 ? "" : "s", from);
        rc = OT_ECONFIG;
    }
    ot_run_files_free(names, n);
    return rc;
}
