/* common.c - error reporting (printed on a line of its own, or held back on the processes of
 * a run other than the first), progress lines on a terminal, aligned memory, overflow-checked
 * sizes, clock, shell words for the commands that messages give. */
#include "ot_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Where messages and progress lines go: the process's one piece of reporting state, set once
 * by main (through ot_dist_start and ot_progress_set) and read on the main thread. While
 * `hold` is set, messages are kept in `held` (one per line, without the prefix; what does not
 * fit is cut) for ot_error_release. */
static struct {
    int hold;
    int mute;              /* messages are dropped (ot_error_mute) */
    size_t len;
    char held[4096];
    FILE *status;          /* a progress line is drawn there (ot_status_line) */
    FILE *progress;        /* where progress lines may go (ot_progress_set) */
    double progress_after; /* seconds of work before one shows */
} sink;

void ot_progress_set(FILE *out, double after)
{
    sink.progress = out;
    sink.progress_after = after;
}

FILE *ot_progress_get(double *after)
{
    *after = sink.progress_after;
    return sink.progress;
}

void ot_status_line(FILE *out)
{
    sink.status = out;
}

void ot_status_clear(void)
{
    if (sink.status) {
        fputs("\r\033[K", sink.status);
        fflush(sink.status);
        sink.status = NULL;
    }
}

void ot_bar_begin(ot_bar_t *b, FILE *out, double after)
{
    *b = (ot_bar_t){out, after, ot_now(), -1.0, 0};
}

void ot_bar_show(ot_bar_t *b, const char *fmt, ...)
{
    if (!b->out)
        return;
    const double now = ot_now();
    if (now - b->start < b->after || now - b->last < 0.1)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputc('\r', b->out);
    vfprintf(b->out, fmt, ap);
    fputs("\033[K", b->out);
    va_end(ap);
    fflush(b->out);
    ot_status_line(b->out);
    b->last = now;
    b->drawn = 1;
}

void ot_bar_end(ot_bar_t *b)
{
    if (b->out && b->drawn) {
        fputs("\r\033[K", b->out);
        fflush(b->out);
        ot_status_line(NULL);
    }
    b->drawn = 0;
}

void ot_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (sink.mute) {
        /* dropped */
    } else if (!sink.hold) {
        if (sink.status == stderr) /* the bar's line, erased */
            ot_status_clear();
        fputs("omptrain: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    } else if (sink.len + 1 < sizeof sink.held) {
        size_t room = sizeof sink.held - sink.len - 1; /* one byte kept for the newline */
        int w = vsnprintf(sink.held + sink.len, room, fmt, ap);
        sink.len += w < 0 ? 0 : (size_t)w < room ? (size_t)w : room - 1;
        sink.held[sink.len++] = '\n';
        sink.held[sink.len] = '\0';
    }
    va_end(ap);
}

void ot_error_hold(int on)
{
    sink.hold = on;
}

int ot_error_mute(int on)
{
    const int was = sink.mute;
    sink.mute = on;
    return was;
}

void ot_error_release(int print, const char *who)
{
    for (char *line = sink.held, *end; print && line < sink.held + sink.len; line = end + 1) {
        end = strchr(line, '\n');
        fprintf(stderr, "omptrain: %s%s%.*s\n", who ? who : "", who ? ": " : "",
                (int)(end - line), line);
    }
    sink.len = 0;
    sink.held[0] = '\0';
}

void *ot_alloc(size_t n)
{
    if (n == 0)
        n = OT_ALIGN;
    if (n > SIZE_MAX - OT_ALIGN)
        return NULL;
    n = (n + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    void *p = aligned_alloc(OT_ALIGN, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void ot_free(void *p)
{
    free(p);
}

int ot_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return OT_ENOMEM;
    *out = a * b;
    return OT_OK;
}

const char *ot_shell_word(const char *s, char *buf, size_t n)
{
    if (*s && s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                          "@%+=:,./_-")] == '\0') {
        snprintf(buf, n, "%s", s);
        return buf;
    }
    size_t j = 0;
    buf[j++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : (char[2]){*s, '\0'};
        const size_t len = strlen(piece);
        if (j + len + 2 > n)
            break;
        memcpy(buf + j, piece, len);
        j += len;
    }
    buf[j++] = '\'';
    buf[j] = '\0';
    return buf;
}

double ot_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
