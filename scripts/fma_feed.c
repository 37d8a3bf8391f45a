/* fma_feed.c - how fast this CPU runs AVX2 FMAs that each take their own load, against FMAs
 * fed from registers as omptrain's GEMM tile feeds them, side by side in one run.
 *
 * The first convolution's sparse weight gradient (src/conv_sparse.c) is a stream of the first
 * kind: for each nonzero pixel, 12 accumulators (3 taps x 4 vectors of 30 filters) each take
 * an FMA whose other operand is a fresh load of dy (rows 30 floats apart, so some loads cross
 * a cache line). The GEMM's 6x16 tile loads 2 vectors of B and broadcasts 6 values of A for 12
 * FMAs. This program times both shapes over data in L1 and prints G FMA/s and their ratio,
 * which bounds what a faster sparse kernel of the same form could gain.
 *
 *   gcc -O3 -march=haswell scripts/fma_feed.c -o /tmp/fma_feed && /tmp/fma_feed
 * (docs/benchmarks.md, "Where (e)'s AVX2 step goes, 2026-12-04") */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PIXELS 200
#define REPS 200000

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_at(const void *a, const void *b)
{
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* sum of the accumulators' lanes, so that the compiler keeps the work */
static float lanes(const __m256 *a, int n)
{
    float s = 0.0f, v[8];
    for (int i = 0; i < n; i++) {
        _mm256_storeu_ps(v, a[i]);
        for (int j = 0; j < 8; j++)
            s += v[j];
    }
    return s;
}

/* 12 FMAs a pixel, each on its own load: 3 rows of `ld` floats, 4 vectors each (the last
 * at 22: columns 22-29 of 30) */
static double load_fed(const float *dy, const int32_t *at, const float *val, size_t ld,
                       float *sink)
{
    __m256 a[12];
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_setzero_ps();
    const double t0 = now();
    for (int rep = 0; rep < REPS; rep++)
        for (int i = 0; i < PIXELS; i++) {
            const __m256 v = _mm256_set1_ps(val[i]);
            for (int t = 0; t < 3; t++) {
                const float *p = dy + at[i] - (size_t)t * ld;
                a[4 * t + 0] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p), a[4 * t + 0]);
                a[4 * t + 1] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 8), a[4 * t + 1]);
                a[4 * t + 2] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 16), a[4 * t + 2]);
                a[4 * t + 3] = _mm256_fmadd_ps(v, _mm256_loadu_ps(p + 22), a[4 * t + 3]);
            }
        }
    const double t = now() - t0;
    *sink += lanes(a, 12);
    return 12.0 * PIXELS * REPS / t / 1e9;
}

/* the GEMM tile's shape: per k, 2 vectors of B and 6 broadcasts of A feed 12 FMAs */
static double register_fed(const float *A, const float *B, size_t kc, float *sink)
{
    __m256 c[12];
    for (int i = 0; i < 12; i++)
        c[i] = _mm256_setzero_ps();
    const size_t reps = (size_t)REPS * PIXELS / kc;
    const double t0 = now();
    for (size_t rep = 0; rep < reps; rep++)
        for (size_t p = 0; p < kc; p++) {
            const __m256 b0 = _mm256_load_ps(B + p * 16), b1 = _mm256_load_ps(B + p * 16 + 8);
            for (int i = 0; i < 6; i++) {
                const __m256 x = _mm256_broadcast_ss(A + p * 6 + i);
                c[2 * i] = _mm256_fmadd_ps(x, b0, c[2 * i]);
                c[2 * i + 1] = _mm256_fmadd_ps(x, b1, c[2 * i + 1]);
            }
        }
    const double t = now() - t0;
    *sink += lanes(c, 12);
    return 12.0 * (double)(reps * kc) / t / 1e9;
}

int main(void)
{
    const size_t ld = 30, rows = 100, kc = 200;
    float *dy = aligned_alloc(64, 4096 * sizeof(float));
    float *A = aligned_alloc(64, kc * 6 * sizeof(float));
    float *B = aligned_alloc(64, kc * 16 * sizeof(float));
    int32_t at[PIXELS];
    float val[PIXELS], sink = 0.0f;
    if (!dy || !A || !B)
        return 1;
    for (size_t i = 0; i < 4096; i++)
        dy[i] = (float)(i % 13) * 1e-3f;
    for (size_t i = 0; i < kc * 6; i++)
        A[i] = 1e-6f * (float)(i % 7);
    for (size_t i = 0; i < kc * 16; i++)
        B[i] = 1e-6f * (float)(i % 5);
    srand(1);
    for (int i = 0; i < PIXELS; i++) { /* positions 2..rows-1 of the rows, in order */
        at[i] = (int32_t)((2 + (size_t)rand() % (rows - 2)) * ld);
        val[i] = 0.5f + 1e-3f * (float)i;
    }
    qsort(at, PIXELS, sizeof at[0], by_at);
    double best_l = 0.0, best_r = 0.0;
    for (int round = 0; round < 3; round++) { /* alternating, best of three each */
        const double l = load_fed(dy, at, val, ld, &sink), r = register_fed(A, B, kc, &sink);
        best_l = l > best_l ? l : best_l;
        best_r = r > best_r ? r : best_r;
    }
    printf("load-fed FMAs (sparse dW's shape):  %.2f G FMA/s\n", best_l);
    printf("register-fed FMAs (GEMM tile 6x16): %.2f G FMA/s\n", best_r);
    printf("ratio: %.2f  (checksum %g)\n", best_l / best_r, (double)sink);
    free(dy);
    free(A);
    free(B);
    return 0;
}
