/* xcore.c - what moving cache lines between two cores costs on this machine: the round trip
 * of one line, and a block of floats read, or written, by one core just after the other
 * read or wrote it, with plain stores, with stores past the caches (ot_stream_floats), and
 * with every line asked for, for writing, before the stores (prefetchw).
 * The step's reduction and update (engine.c, optim.c) are arranged by these figures.
 *
 *   gcc -O3 -march=native -fopenmp -Iinclude scripts/xcore.c -o /tmp/xcore && /tmp/xcore [KB]
 *
 * Two threads, on cores 0 and 1 unless OMP_PLACES / GOMP_CPU_AFFINITY say otherwise. */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_simd.h"

enum { REPS = 4000, TRIPS = 100000 };

/* What core 0 does to the block, then what core 1 does, timed. */
typedef enum { READ, WRITE, READ_WRITE, READ_STREAM, PREFETCH_WRITE } op_t;

static float sink;

static void touch(float *b, size_t n, int write, float v)
{
    if (write) {
        for (size_t i = 0; i < n; i++)
            b[i] = v;
    } else {
        float s = 0.0f;
        for (size_t i = 0; i < n; i += 16) /* one load a line */
            s += b[i];
        sink += s;
    }
}

static void run(op_t op, float *b, float *src, size_t n, float v)
{
    if (op == PREFETCH_WRITE) {
        for (size_t i = 0; i < n; i += 16)
            __builtin_prefetch(b + i, 1, 3);
        touch(b, n, 1, v);
        return;
    }
    if (op != WRITE)
        touch(b, n, 0, 0.0f);
    if (op == WRITE || op == READ_WRITE)
        touch(b, n, 1, v);
    if (op == READ_STREAM) {
        ot_stream_floats(b, src, n);
        V_STREAM_FENCE();
    }
}

/* Microseconds for core 1 to do `mine` to n floats that core 0 has just done `other` to. */
static double trial(float *b, float *src, size_t n, op_t other, op_t mine)
{
    double total = 0.0;
#pragma omp parallel num_threads(2)
    {
        const int me = omp_get_thread_num();
        for (int r = 0; r < REPS; r++) {
            if (me == 1) /* this core wrote it last time: start from its copy being modified */
                touch(b, n, 1, (float)r);
#pragma omp barrier
            if (me == 0)
                run(other, b, src, n, (float)r);
#pragma omp barrier
            if (me == 1) {
                const double t0 = omp_get_wtime();
                run(mine, b, src, n, (float)r);
                total += omp_get_wtime() - t0;
            }
#pragma omp barrier
        }
    }
    return total / REPS * 1e6;
}

static double round_trip_ns(void)
{
    static _Alignas(64) atomic_int flag;
    double dt = 0.0;
    atomic_store(&flag, 0);
#pragma omp parallel num_threads(2)
    {
        const int me = omp_get_thread_num();
#pragma omp barrier
        const double t0 = omp_get_wtime();
        for (int i = 0; i < TRIPS; i++) {
            if (me == 0) {
                atomic_store(&flag, 2 * i + 1);
                while (atomic_load(&flag) != 2 * i + 2)
                    ;
            } else {
                while (atomic_load(&flag) != 2 * i + 1)
                    ;
                atomic_store(&flag, 2 * i + 2);
            }
        }
        if (me == 0)
            dt = omp_get_wtime() - t0;
    }
    return dt / TRIPS * 1e9;
}

int main(int argc, char **argv)
{
    const size_t kb = argc > 1 ? (size_t)atol(argv[1]) : 78, n = kb * 1024 / sizeof(float);
    float *b = aligned_alloc(64, n * sizeof(float)), *src = aligned_alloc(64, n * sizeof(float));
    if (!b || !src || n == 0) {
        fprintf(stderr, "xcore: cannot allocate %zu KB\n", kb);
        return 1;
    }
    memset(src, 0, n * sizeof(float));
    touch(b, n, 1, 0.0f);
    printf("round trip of one line between the two cores: %.0f ns\n", round_trip_ns());
    const char *name[] = {"read it", "write it", "read it, then write it",
                          "read it, then write it past the caches",
                          "prefetchw every line, then write it"};
    printf("%zu KB: microseconds for core 1 to ...  just after core 0 %s\n", kb,
           "read it / read+wrote it / read+streamed it");
    for (op_t mine = READ; mine <= PREFETCH_WRITE; mine++) {
        printf("  %-42s", name[mine]);
        for (op_t other = READ; other <= READ_STREAM; other++)
            if (other != WRITE)
                printf(" %12.2f", trial(b, src, n, other, mine));
        printf("\n");
    }
    free(b);
    free(src);
    return sink == 12345.0f;
}
