/* test_gemm.c - the BLAS wrapper (src/gemm.c, ot_gemm.h): every transposition, alpha and
 * beta, row strides wider than the rows, against a plain double-precision product. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ot_gemm.h"
#include "ot_rng.h"
#include "ot_test.h"

static int setup(void)
{
    ot_gemm_init();
    return 0;
}

/* X (rows, cols) with row stride ld, random in [-1, 1) */
static float *random_matrix(ot_rng_t *r, size_t rows, size_t ld)
{
    float *x = malloc(rows * ld * sizeof(float) + 1);
    for (size_t i = 0; x && i < rows * ld; i++)
        x[i] = (float)(2.0 * ot_rng_uniform(r) - 1.0);
    return x;
}

static void test_against_double(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 5);
    const size_t m = 13, n = 7, k = 29, pad = 3;
    size_t bad = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            /* op(A) (m, k), op(B) (k, n), as stored with padded row strides */
            const size_t ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
            const size_t lda = ac + pad, ldb = bc + pad, ldc = n + pad;
            float *A = random_matrix(&r, ar, lda), *B = random_matrix(&r, br, ldb);
            float *C = random_matrix(&r, m, ldc), *C0 = malloc(m * ldc * sizeof(float));
            CU_ASSERT_FATAL(A && B && C && C0);
            memcpy(C0, C, m * ldc * sizeof(float));
            const float alpha = 0.75f, beta = -0.5f;
            ot_gemm(ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
            for (size_t i = 0; i < m; i++) {
                for (size_t j = 0; j < n; j++) {
                    double s = 0.0;
                    for (size_t p = 0; p < k; p++) {
                        double a = ta ? A[p * lda + i] : A[i * lda + p];
                        double b = tb ? B[j * ldb + p] : B[p * ldb + j];
                        s += a * b;
                    }
                    double want = alpha * s + beta * (double)C0[i * ldc + j];
                    bad += fabs(C[i * ldc + j] - want) > 1e-5 * (1.0 + fabs(want));
                }
                for (size_t j = n; j < ldc; j++) /* the padding is not written */
                    bad += C[i * ldc + j] != C0[i * ldc + j];
            }
            free(A), free(B), free(C), free(C0);
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_PTR_NOT_NULL(ot_gemm_backend());
}

/* beta = 0 ignores what C held, NaN included (BLAS semantics) */
static void test_beta_zero(void)
{
    const float A[2] = {1.0f, 2.0f}, B[2] = {3.0f, 4.0f};
    float C[1] = {NAN};
    ot_gemm(false, false, 1, 1, 2, 1.0f, A, 2, B, 1, 0.0f, C, 1);
    CU_ASSERT_EQUAL(C[0], 11.0f);
}

/* How many threads may call the BLAS at once (bench's ceiling measures it with as many): twice
 * OpenBLAS's MAX_THREADS, which Debian's build names (until 2026-12 bench ran one sgemm a
 * thread at any count, and 600 threads crashed inside OpenBLAS). */
static void test_max_callers(void)
{
    CU_ASSERT_EQUAL(ot_gemm_max_callers_of("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH NO_AFFINITY "
                                           "Haswell MAX_THREADS=64"), 128);
    CU_ASSERT_EQUAL(ot_gemm_max_callers_of("OpenBLAS 0.3.26 MAX_THREADS=512 Zen"), 1024);
    CU_ASSERT_EQUAL(ot_gemm_max_callers_of("some BLAS"), 128);
    CU_ASSERT_EQUAL(ot_gemm_max_callers_of("MAX_THREADS=x"), 128);
    CU_ASSERT_EQUAL(ot_gemm_max_callers_of(NULL), 128);
    CU_ASSERT_EQUAL(ot_gemm_max_callers(), ot_gemm_max_callers_of(ot_gemm_backend()));
    CU_ASSERT(ot_gemm_max_callers() >= 2);
}

OT_TEST_SUITE(gemm, setup, NULL,
              {"every transposition, alpha, beta, padded strides vs double", test_against_double},
              {"beta 0 overwrites C, NaN included", test_beta_zero},
              {"the BLAS's concurrent callers, from its configuration", test_max_callers})
