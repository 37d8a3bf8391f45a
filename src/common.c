/* common.c - error reporting, aligned memory, overflow-checked sizes, clock. */
#include "ot_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ot_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("omptrain: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
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

double ot_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
