/* fixtures.c - shared test helpers: a small random data set held in memory, stderr capture,
 * scratch directories, a full disk, central-difference gradient checks. */
#define _DEFAULT_SOURCE /* syscall */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ot_rng.h"
#include "ot_test.h"

int ot_test_dataset(ot_dataset_t *ds, size_t n, size_t rows, size_t cols, int classes,
                    uint64_t seed)
{
    ot_rng_t r;
    ot_rng_seed(&r, seed);
    memset(ds, 0, sizeof *ds);
    ds->n = n;
    ds->rows = rows;
    ds->cols = cols;
    ds->chans = 1;
    ds->dim = rows * cols;
    ds->n_classes = classes;
    ds->images = malloc(n * ds->dim);
    ds->labels = malloc(n);
    if (!ds->images || !ds->labels)
        return -1;
    for (size_t i = 0; i < n * ds->dim; i++)
        ds->images[i] = (uint8_t)ot_rng_below(&r, 256);
    for (size_t i = 0; i < n; i++)
        ds->labels[i] = (uint8_t)ot_rng_below(&r, (uint64_t)classes);
    ds->nonzero = ot_nonzero_fraction(ds->images, n * ds->dim);
    return 0;
}

/* A stream redirected into a temporary file: stderr between ot_test_capture_begin() and
 * ot_test_capture_end(), stdout between ot_test_stdout_begin() and ot_test_stdout_end(). */
typedef struct {
    FILE *stream; /* stderr or stdout */
    int fd;       /* its descriptor */
    FILE *file;   /* the temporary file, while redirected */
    int saved;    /* the descriptor's original, while redirected */
} redirect_t;

static redirect_t err_redirect = {NULL, STDERR_FILENO, NULL, -1};
static redirect_t out_redirect = {NULL, STDOUT_FILENO, NULL, -1};

static int redirect_begin(redirect_t *r, FILE *stream)
{
    r->stream = stream;
    fflush(stream);
    if (!(r->file = tmpfile()))
        return -1;
    r->saved = dup(r->fd);
    if (r->saved < 0 || dup2(fileno(r->file), r->fd) < 0) {
        fclose(r->file);
        r->file = NULL;
        return -1;
    }
    return 0;
}

/* Restore the stream; returns what was written, malloc'd (never NULL unless out of memory;
 * empty when it was not redirected). */
static char *redirect_end(redirect_t *r)
{
    if (!r->file)
        return calloc(1, 1);
    fflush(r->stream);
    dup2(r->saved, r->fd);
    close(r->saved);
    r->saved = -1;
    long n = ftell(r->file);
    char *text = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (text) {
        rewind(r->file);
        size_t got = n > 0 ? fread(text, 1, (size_t)n, r->file) : 0;
        text[got] = '\0';
    }
    fclose(r->file);
    r->file = NULL;
    return text;
}

int ot_test_capture_begin(void)
{
    return redirect_begin(&err_redirect, stderr);
}

char *ot_test_capture_end(void)
{
    return redirect_end(&err_redirect);
}

int ot_test_stdout_begin(void)
{
    return redirect_begin(&out_redirect, stdout);
}

char *ot_test_stdout_end(void)
{
    return redirect_end(&out_redirect);
}

int ot_test_capture_lines(char *text, size_t n)
{
    char *got = ot_test_capture_end();
    snprintf(text, n, "%s", got ? got : "");
    free(got);
    size_t len = strlen(text);
    int lines = 0;
    for (const char *s = text; *s; s++)
        if (*s == '\n')
            lines++;
    if (strstr(text, "HDF5-DIAG") || (len && strncmp(text, "omptrain: ", 10) != 0))
        return -1;
    return lines;
}

/* ---- scratch directories ---- */

char ot_test_scratch[64];

int ot_test_scratch_init(const char *tag)
{
    int w = snprintf(ot_test_scratch, sizeof ot_test_scratch, "/tmp/omptrain-%s-XXXXXX", tag);
    return w > 0 && (size_t)w < sizeof ot_test_scratch && mkdtemp(ot_test_scratch) ? 0 : 1;
}

int ot_test_scratch_free(void)
{
    if (ot_test_scratch[0])
        ot_test_rm_rf(ot_test_scratch);
    ot_test_scratch[0] = '\0';
    return 0;
}

const char *ot_test_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%s/%s", ot_test_scratch, name);
    return buf;
}

void ot_test_rm_rf(const char *p)
{
    struct stat st;
    if (lstat(p, &st) != 0)
        return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(p);
        struct dirent *de;
        while (d && (de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            char q[512];
            snprintf(q, sizeof q, "%s/%s", p, de->d_name);
            ot_test_rm_rf(q);
        }
        if (d)
            closedir(d);
        rmdir(p);
    } else {
        unlink(p);
    }
}

/* ---- a full disk ----
 * This pwrite stands in for the C library's (a program's own definition comes first, also for
 * the libraries it loads, HDF5's sec2 driver among them). While full.ino is set, a write to that
 * file ending past full.size fails with ENOSPC, as on a disk with no block left beyond those
 * the file had; growing the file with ftruncate still works, as on a full disk (the new part
 * takes no blocks). RLIMIT_FSIZE (ot_tiny_fsize_limit) fails that ftruncate too, after which
 * HDF5 leaves a file shorter than its superblock says, which no HDF5 program opens: not what a
 * full disk does. */
static struct {
    dev_t dev;
    ino_t ino;  /* the file on the full disk; 0: none */
    off_t size; /* the bytes it may hold */
    int once;   /* room again after the first failed write */
} full;

ssize_t pwrite(int fd, const void *buf, size_t n, off_t at)
{
    struct stat st;
    if (full.ino && fstat(fd, &st) == 0 && st.st_ino == full.ino && st.st_dev == full.dev &&
        at + (off_t)n > full.size) {
        if (full.once)
            full.ino = 0;
        errno = ENOSPC;
        return -1;
    }
    return syscall(SYS_pwrite64, fd, buf, n, at);
}

int ot_test_disk_full(const char *path, int once)
{
    struct stat st;
    full.ino = 0;
    if (!path)
        return 0;
    if (stat(path, &st) != 0)
        return -1;
    full.dev = st.st_dev;
    full.size = st.st_size;
    full.once = once;
    full.ino = st.st_ino;
    return 0;
}

int ot_test_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t n)
{
    int p[2], status;
    size_t got = 0;
    if (pipe(p) != 0)
        return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child == 0) {
        close(p[0]);
        fn(arg, out);
        for (size_t sent = 0; sent < n;) {
            ssize_t w = write(p[1], (char *)out + sent, n - sent);
            if (w <= 0)
                break;
            sent += (size_t)w;
        }
        /* ended by another program: exit handlers and leak checks run at exit (valgrind's
         * also at _exit and at a SIGKILL of itself), not at exec */
        execl("/bin/true", "true", (char *)NULL);
        _exit(1);
    }
    close(p[1]);
    ssize_t r;
    while (child > 0 && got < n && (r = read(p[0], (char *)out + got, n - got)) > 0)
        got += (size_t)r;
    close(p[0]);
    if (child < 0 || waitpid(child, &status, 0) != child)
        return -1;
    return got == n && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- numerical gradients (see ot_test.h) ---- */

void ot_test_fill(float *a, size_t n, ot_rng_t *r, float scale, float avoid)
{
    for (size_t i = 0; i < n; i++) {
        float v;
        do
            v = scale * (float)ot_rng_normal(r);
        while (fabsf(v) < avoid); /* keep away from kinks (ReLU at 0) */
        a[i] = v;
    }
}

double ot_test_dot(const float *y, const float *R, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)y[i] * R[i];
    return s;
}

double ot_test_check_grad(float *p, const float *g, size_t n, ot_test_loss_fn f, void *ctx,
                          float h)
{
    double worst = 0.0, gmax = 0.0;
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double lp = f(ctx);
        p[i] = keep - h;
        double lm = f(ctx);
        p[i] = keep;
        double num = (lp - lm) / (2.0 * (double)h);
        double err = fabs(num - g[i]) / fmax(1e-2, fabs(num) + fabs(g[i]));
        worst = fmax(worst, err);
        gmax = fmax(gmax, fabs(g[i]));
    }
    CU_ASSERT(gmax > 1e-3); /* an all-zero gradient must not pass */
    return worst;
}

enum { ACT_N = 20 }; /* values of the element-wise check */

typedef struct {
    ot_test_act_forward fwd;
    float x[ACT_N], y[ACT_N], R[ACT_N], dx[ACT_N];
} act_ctx;

static double act_loss(void *p)
{
    act_ctx *c = p;
    c->fwd(c->x, c->y, ACT_N);
    return ot_test_dot(c->y, c->R, ACT_N);
}

double ot_test_act_grad(ot_test_act_forward fwd, ot_test_act_backward bwd, uint64_t seed)
{
    act_ctx c = {.fwd = fwd};
    ot_rng_t r;
    ot_rng_seed(&r, seed);
    ot_test_fill(c.x, ACT_N, &r, 2, 0.05f);
    ot_test_fill(c.R, ACT_N, &r, 1, 0);
    act_loss(&c);
    bwd(c.y, c.R, c.dx, ACT_N);
    return ot_test_check_grad(c.x, c.dx, ACT_N, act_loss, &c, 1e-2f);
}

int ot_test_chardev(const char *path, int full)
{
    if (mknod(path, S_IFCHR | 0666, makedev(1, full ? 7 : 3)) == 0)
        return 0;
    return geteuid() == 0 ? -1 : symlink(full ? "/dev/full" : "/dev/null", path);
}

int ot_test_fifo(const char *path)
{
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    int fd = mkfifo(path, 0600) == 0 ? open(path, O_RDWR | O_NONBLOCK) : -1;
    if (fd >= 0 && write(fd, junk, sizeof junk) != (ssize_t)sizeof junk) {
        close(fd);
        fd = -1;
    }
    return fd;
}
