/* fuzz_util.h - what every libFuzzer target needs: die(), and inputs written to memfds, read
 * back through their /proc/self/fd paths by the file readers under test. Define FUZZ_NAME first. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* A violated property or a broken harness: say which, and abort so libFuzzer keeps the input. */
static void die(const char *what)
{
    fprintf(stderr, "%s: %s\n", FUZZ_NAME, what);
    abort();
}

/* Replace the contents of memfd fd with data[0..n). */
static inline void put(int fd, const void *data, size_t n)
{
    if (ftruncate(fd, 0) != 0 || (n > 0 && pwrite(fd, data, n, 0) != (ssize_t)n))
        die("cannot write the memfd");
}

/* A new memfd named name; its path (for fopen and gzopen) goes to path. */
static inline int open_memfd(const char *name, char *path, size_t len)
{
    int fd = memfd_create(name, 0);
    if (fd < 0)
        die("memfd_create failed");
    snprintf(path, len, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
