/* outfile.c - output files written atomically (see ot_outfile.h): predictions, CSV, ONNX; or
 * to standard output, for an output given as "-". */
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
            return OT_EIO;
        }
    return OT_OK;
}

int ot_outfile_writable(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    const size_t len = slash ? (size_t)(slash - path) : 0;
    if (len >= sizeof dir) {
        ot_error("%s: the path is too long", path);
        return OT_EIO;
    }
    if (!slash)
        strcpy(dir, ".");
    else if (len == 0)
        strcpy(dir, "/");
    else {
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        ot_error("%s: is a directory, expected a file name", path);
        return OT_EIO;
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
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            ot_error("%s: cannot write %s (%zu of %zu bytes written): %s", name, what,
                     size - left, size, w < 0 ? strerror(errno) : "no progress");
            close(fd);
            return OT_EIO;
        }
        p += w;
        left -= (size_t)w;
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

int ot_write_atomic(const char *path, const void *data, size_t size)
{
    char dir[4096], tmp[4200];
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    size_t dlen = slash ? (size_t)(slash - path) : 1;
    if (!*base || dlen >= sizeof dir) {
        ot_error("%s: expected the path of a file", path);
        return OT_EIO;
    }
    if (slash)
        memcpy(dir, slash == path ? "/" : path, slash == path ? 1 : dlen);
    else
        dir[0] = '.';
    dir[slash == path ? 1 : dlen] = '\0';
    snprintf(tmp, sizeof tmp, "%s/.%s-%ld.tmp", dir, base, (long)getpid());
    unlink(tmp); /* a leftover of this very pid is stale */
    int rc = ot_write_whole(tmp, 1, path, "the file", data, size);
    if (!rc && rename(tmp, path) != 0) {
        ot_error("%s: cannot rename %s into place: %s", path, tmp, strerror(errno));
        rc = OT_EIO;
    }
    if (rc) {
        unlink(tmp);
        return rc;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) { /* a file system that cannot sync a directory (EINVAL) is no error */
        if (fsync(dfd) != 0 && errno != EINVAL) {
            ot_error("%s: cannot sync the directory %s: %s", path, dir, strerror(errno));
            rc = OT_EIO;
        }
        close(dfd);
    }
    return rc;
}

int ot_outfile_is_stdout(const char *path)
{
    return path && strcmp(path, "-") == 0;
}

int ot_write_stdout(const char *flag, int binary, const void *data, size_t size)
{
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
