/* ot_common.h - status codes, error reporting, progress lines and aligned memory shared by
 * every module. */
#ifndef OT_COMMON_H
#define OT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define OT_VERSION "0.1.0"

/* Status codes: library functions return 0 on success or one of these (negative). */
enum {
    OT_OK = 0,
    OT_ENOMEM = -1,  /* allocation failed or a size overflowed */
    OT_EIO = -2,     /* a file could not be opened, read or written */
    OT_EFORMAT = -3, /* a file's contents are malformed */
    OT_ECONFIG = -4, /* a configuration value is invalid (exit status 2) */
    OT_EINVAL = -5,  /* an argument is invalid */
    OT_ENUM = -6,    /* a numerical fault (NaN or Inf) */
    OT_EINTR = -7,   /* stopped by a signal after saving (exit status 128 + signal) */
};

/* Alignment of every float block: one cache line, also the AVX-512 vector width. */
#define OT_ALIGN 64

/* The most OpenMP threads a process takes (--threads, bench --threads, OMP_NUM_THREADS). */
#define OT_MAX_THREADS 4096

/* Print "omptrain: <message>\n" to stderr. Every module reports its errors through this, once,
 * with the context (file, line, key, value, what was expected). */
void ot_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* on: from now on ot_error keeps its messages (up to 4 KiB) instead of printing them; off:
 * prints them again. The processes of a run other than the first hold theirs, so that a
 * failure every process meets is reported once (ot_dist_agree). Main thread only. */
void ot_error_hold(int on);

/* on: from now on ot_error drops its messages (for a step whose failure only means a check
 * is skipped); off: back to printing or holding them. Returns the previous setting, to be
 * restored. Main thread only. */
int ot_error_mute(int on);

/* The messages held so far: printed to stderr as "omptrain: WHO: message" lines when print
 * (who NULL: "omptrain: message"), else dropped; either way forgotten. */
void ot_error_release(int print, const char *who);

/* Where long work may draw a progress line (a terminal; NULL, the default: nowhere), once it
 * has taken `after` seconds: set once by main, read by the loaders. Main thread only. */
void ot_progress_set(FILE *out, double after);
FILE *ot_progress_get(double *after);

/* A progress line is on out (redrawn in place with \r), or NULL: none any more. While it is
 * on stderr, ot_error first erases it, so that a message starts a line of its own instead of
 * trailing the bar. Main thread only. */
void ot_status_line(FILE *out);

/* Erase the progress line, if one is up (ot_status_line), before output of another kind. */
void ot_status_clear(void);

/* One progress line of long work on out (NULL: none), drawn once the work has taken `after`
 * seconds since ot_bar_begin, redrawn at most ten times a second, erased by ot_bar_end. Main
 * thread only. */
typedef struct {
    FILE *out;          /* where the line goes, or NULL */
    double after;       /* seconds of work before it shows */
    double start, last; /* when the work began, when the line was last drawn */
    int drawn;          /* whether it has been drawn */
} ot_bar_t;

void ot_bar_begin(ot_bar_t *b, FILE *out, double after);
/* The line "\r" + the printf-style text + "clear to the end of the line", when it is due. */
void ot_bar_show(ot_bar_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ot_bar_end(ot_bar_t *b);

/* Allocate n bytes aligned to OT_ALIGN (rounded up to a multiple of it), zero-filled.
 * Returns NULL on failure. Free with ot_free(). */
void *ot_alloc(size_t n);
void ot_free(void *p);

/* a * b with overflow check: returns 0 and sets *out, or OT_ENOMEM on overflow. */
int ot_mul_size(size_t a, size_t b, size_t *out);

/* Wall-clock seconds from a monotonic clock. */
double ot_now(void);

/* s as one word of a POSIX shell's command line, into buf (n > 2) and returned: as it is when
 * every character is one no shell treats specially (letters, digits, @%+=:,./_-), else in
 * single quotes, each ' within as '\''; "" as ''. A word longer than buf is cut short. For
 * messages that give a command to run again. */
const char *ot_shell_word(const char *s, char *buf, size_t n);

/* Thread t's part [*a, *b) of a block of n parameters among T threads: contiguous, in order,
 * cut at multiples of 16 floats (a cache line). The step's mean gradient (engine.c), the
 * optimizer's update and the layers' weight packing all split the parameters this way, so
 * that each thread reads again what it wrote itself, not what another core holds. */
static inline void ot_param_part(size_t n, size_t T, size_t t, size_t *a, size_t *b)
{
    const size_t lines = (n + 15) / 16, lo = t * lines / T * 16, hi = (t + 1) * lines / T * 16;
    *a = lo < n ? lo : n;
    *b = hi < n ? hi : n;
}

/* A core's L2 cache, the size the step's choices of where data lives are made against (this
 * machine's: 1 MiB; docs/benchmarks.md). */
#define OT_L2_BYTES (1024 * 1024)

/* Bytes of a thread's part up to which it stays in its core's cache from one step to the
 * next (a quarter of L2). */
#define OT_CACHED_PART_BYTES (OT_L2_BYTES / 4)

/* Whether the threads' parts of n parameters among T > 1 threads stay in their cores' caches
 * while the other cores read them: then the step may keep the lines the others take out of
 * the shared state, which the owner's next store would first have to invalidate in every
 * reader (ot_xfer_t: the engine's cleared right children, ot_optim_span's shared;
 * scripts/xcore.c). Larger parts leave the cache anyway, and the extra stores only cost
 * (docs/benchmarks.md). */
static inline int ot_param_part_cached(size_t n, size_t T)
{
    return T > 1 && (n + T - 1) / T * sizeof(float) <= OT_CACHED_PART_BYTES;
}

#endif
