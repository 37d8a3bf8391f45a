/* gemm.c - GEMM through OpenBLAS's CBLAS interface, pinned to one thread. */
#include "ot_gemm.h"

#include <cblas.h>

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
