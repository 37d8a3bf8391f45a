/* ot_gemm.h - the one place that calls BLAS, so the backend can be swapped and measured.
 * Every call runs single-threaded: parallelism comes from the shards, never from inside BLAS. */
#ifndef OT_GEMM_H
#define OT_GEMM_H

#include <stdbool.h>
#include <stddef.h>

/* Pin the BLAS library to one thread. Call once, before any parallel region. */
void ot_gemm_init(void);

/* C (m, n) = alpha * op(A) op(B) + beta * C, row-major; op(X) = X^T when trans_X.
 * op(A) is (m, k), op(B) is (k, n); lda, ldb, ldc are the row strides as stored. */
void ot_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
             const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
             size_t ldc);

/* Name of the backend, for reports ("OpenBLAS 0.3.21 ..."). */
const char *ot_gemm_backend(void);

/* The most threads of a process that may call ot_gemm at the same time (OpenBLAS: twice its
 * build's MAX_THREADS, e.g. 128; more make it warn, then abort or crash). */
int ot_gemm_max_callers(void);
/* The same from a backend's configuration string (ot_gemm_backend's): 2 x its MAX_THREADS=N,
 * 128 when it names none. */
int ot_gemm_max_callers_of(const char *config);

#endif
