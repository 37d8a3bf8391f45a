/* outfile.c - output files written atomically (see ot_outfile.h): predictions, CSV, ONNX;
 * through a symbolic link to its target; in place on a character device or a FIFO; or to
 * standard output, for an output given as "-". */
#define _XOPEN_SOURCE 700 /* realpath */
#include "ot_outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"

/* path with its directory resolved (realpath), into buf; path itself when that fails. */
static void canonical(const char *path, char *buf, size_t n)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t len = slash ? (size_t)(slash - path) : 0;
    if (len >= sizeof dir) {
        snprintf(buf, n, "%s", path);
        return;
    }
    memcpy(dir, slash ? path : ".", slash ? len : 1);
    dir[slash ? len : 1] = '\0';
    if (slash && len == 0)
        strcpy(dir, "/");
    if (realpath(dir, real))
        snprintf(buf, n, "%s/%s", strcmp(real, "/") ? real : "", base);
    else
        snprintf(buf, n, "%s", path);
}

/* Whether a and b name one file: the same inode when both exist, else (neither there yet)
 * the same resolved name; one there and the other not are two files. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    const int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb)
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea || eb)
        return 0;
    char ca[PATH_MAX + 256], cb[PATH_MAX + 256];
    canonical(a, ca, sizeof ca);
    canonical(b, cb, sizeof cb);
    return strcmp(ca, cb) == 0;
}

int ot_outfile_distinct(const char *out, const char *flag, const char *const *paths,
                        const char *const *what, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (paths[i] && same_file(out, paths[i])) {
            ot_error("%s: %s names %s, which it would replace; expected another file name",
                     out, flag, what[i]);
            return OT_ECONFIG;
        }
    return OT_OK;
}

size_t ot_outfile_config_inputs(const ot_config_t *c, const char **paths, const char **what)
{
    const struct {
        const char *path, *what;
    } in[OT_OUTFILE_CONFIG_INPUTS] = {
        {c->train_images, "the config's data.train_images"},
        {c->train_labels, "the config's data.train_labels"},
        {c->test_images, "the config's data.test_images"},
        {c->test_labels, "the config's data.test_labels"},
        {c->train_file, "the config's data.train_file"},
        {c->test_file, "the config's data.test_file"},
        {c->class_names, "the config's data.class_names"},
    };
    for (size_t i = 0; i < OT_OUTFILE_CONFIG_INPUTS; i++) {
        paths[i] = in[i].path[0] ? in[i].path : NULL;
        what[i] = in[i].what;
    }
    return OT_OUTFILE_CONFIG_INPUTS;
}

/* ---------------------------------------------------------------- where an output goes */

/* The file that dangling symbolic link path leads to, through every link, into out (n bytes):
 * a name that is not there yet. Returns 0, or -1 with errno (ELOOP, ENAMETOOLONG, readlink's). */
static int follow_dangling(const char *path, char *out, size_t n)
{
    char cur[PATH_MAX], link[PATH_MAX];
    if (snprintf(cur, sizeof cur, "%s", path) >= (int)sizeof cur) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (int hops = 0; hops < 40; hops++) { /* Linux's own limit on links in a path */
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) {
            if (snprintf(out, n, "%s", cur) >= (int)n) {
                errno = ENAMETOOLONG;
                return -1;
            }
            return 0;
        }
        ssize_t len = readlink(cur, link, sizeof link - 1);
        if (len < 0)
            return -1;
        link[len] = '\0';
        char next[2 * PATH_MAX + 1];
        const char *slash = strrchr(cur, '/');
        if (link[0] == '/' || !slash) /* absolute, or relative to a link in the working dir */
            snprintf(next, sizeof next, "%s", link);
        else
            snprintf(next, sizeof next, "%.*s/%s", (int)(slash - cur), cur, link);
        if (strlen(next) >= sizeof cur) {
            errno = ENAMETOOLONG;
            return -1;
        }
        strcpy(cur, next);
    }
    errno = ELOOP;
    return -1;
}

/* Where the bytes for path go, into target (n bytes), and how: *in_place 1 for a character
 * device or a FIFO (through links too), written where it is, since a file renamed over it
 * would replace the node (a FIFO, /dev/null) with a regular file; else 0, and target is path,
 * or for a symbolic link the file it leads to (realpath; a dangling link's target by its
 * links), so that the rename replaces that file and the link stays a link. A directory passes
 * (its rename fails; ot_outfile_writable refuses it first). Returns 0, or OT_EIO after one
 * line naming path: a block device or a socket, a link that cannot be followed. */
static int resolve(const char *path, char *target, size_t n, int *in_place)
{
    struct stat st, lst;
    *in_place = 0;
    const int there = stat(path, &st) == 0, stat_errno = errno;
    const int link = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    if (there && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))
        *in_place = 1;
    else if (there && (S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode))) {
        ot_error("%s: is a %s, expected a regular file, a character device or a FIFO", path,
                 S_ISBLK(st.st_mode) ? "block device" : "socket");
        return OT_EIO;
    } else if (link && (there || stat_errno == ENOENT)) {
        char real[PATH_MAX];
        if (there ? !realpath(path, real) : follow_dangling(path, real, sizeof real) != 0) {
            ot_error("%s: cannot follow the symbolic link: %s", path, strerror(errno));
            return OT_EIO;
        }
        if (snprintf(target, n, "%s", real) >= (int)n) {
            ot_error("%s: the path of the link's target is too long", path);
            return OT_EIO;
        }
        return OT_OK;
    } else if (!there && stat_errno == ELOOP) {
        ot_error("%s: cannot follow the symbolic link: %s", path, strerror(ELOOP));
        return OT_EIO;
    }
    if (snprintf(target, n, "%s", path) >= (int)n) {
        ot_error("%s: the path is too long", path);
        return OT_EIO;
    }
    return OT_OK;
}

int ot_outfile_writable(const char *path)
{
    char target[PATH_MAX], dir[PATH_MAX];
    int in_place, rc;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        ot_error("%s: is a directory, expected a file name", path);
        return OT_EIO;
    }
    if ((rc = resolve(path, target, sizeof target, &in_place)))
        return rc;
    if (in_place) { /* a device or a FIFO: opened for writing when written (not now: a FIFO's
                       open waits for a reader) */
        if (access(path, W_OK) != 0) {
            ot_error("%s: cannot write to the %s: %s", path,
                     S_ISFIFO(st.st_mode) ? "FIFO" : "device", strerror(errno));
            return OT_EIO;
        }
        return OT_OK;
    }
    const char *slash = strrchr(target, '/');
    const size_t len = slash ? (size_t)(slash - target) : 0;
    if (!slash)
        strcpy(dir, ".");
    else if (len == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, target, len);
        dir[len] = '\0';
    }
    if (stat(dir, &st) != 0) {
        ot_error("%s: cannot create the file: %s: %s", path, dir, strerror(errno));
        return OT_EIO;
    }
    if (!S_ISDIR(st.st_mode)) {
        ot_error("%s: cannot create the file: %s is not a directory", path, dir);
        return OT_EIO;
    }
    if (access(dir, W_OK | X_OK) != 0) {
        ot_error("%s: cannot create the file in %s: %s", path, dir, strerror(errno));
        return OT_EIO;
    }
    /* a file made read-only is kept, even from root (whom access() lets write anything), and
     * although the rename that replaces it needs only the directory */
    if (stat(target, &st) == 0 && S_ISREG(st.st_mode) &&
        ((st.st_mode & 0222) == 0 || access(target, W_OK) != 0)) {
        ot_error("%s: is read-only (mode %04o); expected a file it may replace (chmod u+w) or "
                 "another path", path, (unsigned)(st.st_mode & 07777));
        return OT_EIO;
    }
    return OT_OK;
}

int ot_outfile_regular(const char *path, const char *flag, const char *why)
{
    struct stat st;
    if (stat(path, &st) != 0 || S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
        return OT_OK; /* none yet, a file, or a directory (refused where it is written) */
    const char *kind = S_ISCHR(st.st_mode)    ? "a character device"
                       : S_ISFIFO(st.st_mode) ? "a FIFO"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    ot_error("%s: %s is %s, %s; expected a regular file", path, flag, kind, why);
    return OT_ECONFIG;
}

/* Write size bytes to fd, open on name (what: "the file"). Returns 0, or OT_EIO after one
 * line. */
static int write_fd(int fd, const char *name, const char *what, const void *data, size_t size)
{
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ot_error("%s: cannot write %s (%zu of %zu bytes written): %s", name, what,
                     size - left, size, w < 0 ? strerror(errno) : "no progress");
            return OT_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    return OT_OK;
}

int ot_write_whole(const char *file, int exclusive, const char *name, const char *what,
                   const void *data, size_t size)
{
    int fd = open(file, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), 0644);
    if (fd < 0) {
        if (strcmp(file, name) != 0)
            ot_error("%s: cannot create %s (as %s): %s", name, what, file, strerror(errno));
        else
            ot_error("%s: cannot create %s: %s", name, what, strerror(errno));
        return OT_EIO;
    }
    if (write_fd(fd, name, what, data, size)) {
        close(fd);
        return OT_EIO;
    }
    if (fsync(fd) != 0) {
        ot_error("%s: cannot sync %s to disk: %s", name, what, strerror(errno));
        close(fd);
        return OT_EIO;
    }
    if (close(fd) != 0) {
        ot_error("%s: cannot close %s: %s", name, what, strerror(errno));
        return OT_EIO;
    }
    return OT_OK;
}

/* size bytes written where path is (a character device or a FIFO: no temporary file, no
 * fsync, which neither has). Returns 0, or OT_EIO after one line naming path. */
static int write_in_place(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        ot_error("%s: cannot open for writing: %s", path, strerror(errno));
        return OT_EIO;
    }
    int rc = write_fd(fd, path, "the file", data, size);
    if (close(fd) != 0 && !rc) {
        ot_error("%s: cannot close the file: %s", path, strerror(errno));
        rc = OT_EIO;
    }
    return rc;
}

/* How one output is written: in place, or through tmp renamed over target in dir. */
typedef struct {
    int in_place, is_stdout;
    int staged;                /* tmp written, not yet renamed */
    char target[PATH_MAX];     /* the file replaced: path, or a symbolic link's target */
    char dir[PATH_MAX];        /* target's directory */
    char tmp[PATH_MAX + 64];   /* DIR/.NAME-<pid>.tmp */
} plan_t;

/* Plan the writing of output o (a file, or "-" when dash is set) into *pl. Returns 0, or
 * OT_EIO after one line. */
static int plan(const ot_output_t *o, int dash, plan_t *pl)
{
    memset(pl, 0, sizeof *pl);
    if (dash && ot_outfile_is_stdout(o->path)) {
        pl->is_stdout = 1;
        return OT_OK;
    }
    int rc = resolve(o->path, pl->target, sizeof pl->target, &pl->in_place);
    if (rc || pl->in_place)
        return rc;
    const char *t = pl->target, *slash = strrchr(t, '/'), *base = slash ? slash + 1 : t;
    size_t dlen = slash ? (size_t)(slash - t) : 1;
    if (!*base || dlen >= sizeof pl->dir) {
        ot_error("%s: expected the path of a file", o->path);
        return OT_EIO;
    }
    if (slash)
        memcpy(pl->dir, slash == t ? "/" : t, slash == t ? 1 : dlen);
    else
        pl->dir[0] = '.';
    pl->dir[slash == t ? 1 : dlen] = '\0';
    const int w = snprintf(pl->tmp, sizeof pl->tmp, "%s/.%s-%ld.tmp", pl->dir, base,
                           (long)getpid());
    if (w < 0 || (size_t)w >= sizeof pl->tmp) {
        ot_error("%s: the path is too long for its temporary file; expected a shorter one",
                 o->path);
        return OT_EIO;
    }
    return OT_OK;
}

/* Outputs o[0..n) written (dash: "-" is standard output), in three rounds, so that a failure
 * in the first two leaves every file as it was: the temporary files, then what is written in
 * place, then the renames. */
static int write_outputs(const ot_output_t *o, size_t n, int dash)
{
    plan_t *pl = calloc(n ? n : 1, sizeof *pl);
    int rc = OT_OK;
    size_t i;
    if (!pl) {
        ot_error("%s: cannot allocate the plan of %zu outputs", n ? o[0].path : "", n);
        return OT_ENOMEM;
    }
    for (i = 0; i < n && !rc; i++)
        rc = plan(&o[i], dash, &pl[i]);
    for (i = 0; i < n && !rc; i++) /* 1: each regular file's temporary file */
        if (!pl[i].in_place && !pl[i].is_stdout) {
            unlink(pl[i].tmp); /* a leftover of this very pid is stale */
            rc = ot_write_whole(pl[i].tmp, 1, o[i].path, "the file", o[i].data, o[i].size);
            pl[i].staged = !rc;
            if (rc)
                unlink(pl[i].tmp);
        }
    for (i = 0; i < n && !rc; i++) /* 2: devices, FIFOs, standard output */
        if (pl[i].is_stdout)
            rc = ot_write_stdout(o[i].flag, o[i].binary, o[i].data, o[i].size);
        else if (pl[i].in_place)
            rc = write_in_place(o[i].path, o[i].data, o[i].size);
    for (i = 0; i < n && !rc; i++) /* 3: the renames */
        if (pl[i].staged) {
            if (rename(pl[i].tmp, pl[i].target) != 0) {
                ot_error("%s: cannot rename %s into place: %s", o[i].path, pl[i].tmp,
                         strerror(errno));
                rc = OT_EIO;
            } else {
                pl[i].staged = 0;
            }
        }
    for (i = 0; i < n; i++)
        if (pl[i].staged) /* after a failure: what was not renamed goes */
            unlink(pl[i].tmp);
    for (i = 0; i < n && !rc; i++) {
        if (pl[i].in_place || pl[i].is_stdout)
            continue;
        int dfd = open(pl[i].dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) { /* a file system that cannot sync a directory (EINVAL) is no error */
            if (fsync(dfd) != 0 && errno != EINVAL) {
                ot_error("%s: cannot sync the directory %s: %s", o[i].path, pl[i].dir,
                         strerror(errno));
                rc = OT_EIO;
            }
            close(dfd);
        }
    }
    free(pl);
    return rc;
}

int ot_write_atomic(const char *path, const void *data, size_t size)
{
    const ot_output_t o = {path, NULL, 0, data, size};
    return write_outputs(&o, 1, 0);
}

int ot_write_outputs(const ot_output_t *outs, size_t n)
{
    return write_outputs(outs, n, 1);
}

int ot_outfile_is_stdout(const char *path)
{
    return path && strcmp(path, "-") == 0;
}

int ot_write_stdout(const char *flag, int binary, const void *data, size_t size)
{
    if (!flag)
        flag = "the output";
    if (binary && isatty(STDOUT_FILENO)) {
        ot_error("%s -: standard output is a terminal, where binary data is no use; expected a "
                 "pipe, a redirection (> FILE) or a file name", flag);
        return OT_ECONFIG;
    }
    if (fwrite(data, 1, size, stdout) != size || fflush(stdout) != 0) {
        ot_error("%s -: cannot write to standard output: %s", flag, strerror(errno));
        return OT_EIO;
    }
    return OT_OK;
}
