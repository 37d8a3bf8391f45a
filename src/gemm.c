/* gemm.c - GEMM through OpenBLAS's CBLAS interface, pinned to one thread. */
#include "ot_gemm.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

/* OpenBLAS's own controls (declared in its cblas.h; repeated so that a CBLAS without them is a
 * link error rather than a silent multi-threaded BLAS). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);

void ot_gemm_init(void)
{
    openblas_set_num_threads(1);
}

void ot_gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha,
             const float *A, size_t lda, const float *B, size_t ldb, float beta, float *C,
             size_t ldc)
{
    if (m == 0 || n == 0)
        return;
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                A, (blasint)lda, B, (blasint)ldb, beta, C, (blasint)ldc);
}

const char *ot_gemm_backend(void)
{
    return openblas_get_config();
}

int ot_gemm_max_callers_of(const char *config)
{
    /* OpenBLAS keeps 2 x MAX_THREADS buffers, one per call in flight; past them it prints a
     * warning, adds an array of its own, and past that (about 600 callers with MAX_THREADS=64)
     * ends the program or crashes */
    const char *m = config ? strstr(config, "MAX_THREADS=") : NULL;
    long n = m ? strtol(m + strlen("MAX_THREADS="), NULL, 10) : 0;
    return n > 0 && n < 1 << 20 ? 2 * (int)n : 128;
}

int ot_gemm_max_callers(void)
{
    return ot_gemm_max_callers_of(openblas_get_config());
}
