/* kgemm.c - omptrain's own GEMM: packed panels and a register-tiled FMA kernel with a defined
 * arithmetic (see ot_kgemm.h). The loops follow the usual GotoBLAS/BLIS layering: KC-deep
 * slices of k, MC-row blocks of A packed into MR-row panels, NR-column panels of B packed once
 * per step; an MR x NR tile of C lives in registers while k runs. Splitting k into KC slices
 * stores a tile and reloads it, which keeps the FMA chain of every element intact. */
#include "ot_kgemm.h"

#include <math.h>
#include <string.h>

#include "ot_common.h"

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vf_t;
#define VL 16
#define MR 8
#define NV 2
#define V_ZERO() _mm512_setzero_ps()
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_STORE(p, v) _mm512_storeu_ps(p, v)
#define V_BCAST(x) _mm512_set1_ps(x)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm512_add_ps(a, b)
#define ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vf_t;
#define VL 8
#define MR 6
#define NV 2
#define V_ZERO() _mm256_setzero_ps()
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_STORE(p, v) _mm256_storeu_ps(p, v)
#define V_BCAST(x) _mm256_set1_ps(x)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_ADD(a, b) _mm256_add_ps(a, b)
#define ISA "AVX2"
#else
typedef float vf_t;
#define VL 1
#define MR 4
#define NV 4
#define V_ZERO() 0.0f
#define V_LOAD(p) (*(p))
#define V_STORE(p, v) (*(p) = (v))
#define V_BCAST(x) (x)
#define V_FMA(a, b, c) fmaf(a, b, c)
#define V_ADD(a, b) ((a) + (b))
#define ISA "portable"
#endif

#define NR (VL * NV) /* columns of a tile and of a packed B panel */
#define KC 256       /* depth of a k slice: an MR x KC panel of A stays in L1 */
#define MC (MR * 12) /* rows of A packed per block: MC x KC floats stay in L2 */

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

static size_t n_panels(size_t n)
{
    return (n + NR - 1) / NR;
}

size_t ot_kgemm_nr(void)
{
    return NR;
}

const char *ot_kgemm_isa(void)
{
    return ISA;
}

size_t ot_kpack_size(size_t k, size_t n)
{
    return n_panels(n) * NR * k;
}

void ot_kpack_b(const float *B, size_t ldb, bool trans, size_t k, size_t n, float *Bp, size_t p0,
                size_t p1)
{
    p1 = min_sz(p1, n_panels(n));
    for (size_t p = p0; p < p1; p++) {
        float *dst = Bp + p * k * NR;
        size_t j0 = p * NR, w = min_sz(NR, n - j0);
        if (trans) { /* B stored (n, k): column j of op(B) is row j of B */
            for (size_t jj = 0; jj < w; jj++) {
                const float *src = B + (j0 + jj) * ldb;
                for (size_t kk = 0; kk < k; kk++)
                    dst[kk * NR + jj] = src[kk];
            }
            for (size_t kk = 0; kk < k && w < NR; kk++)
                memset(dst + kk * NR + w, 0, (NR - w) * sizeof(float));
        } else {
            for (size_t kk = 0; kk < k; kk++) {
                memcpy(dst + kk * NR, B + kk * ldb + j0, w * sizeof(float));
                if (w < NR)
                    memset(dst + kk * NR + w, 0, (NR - w) * sizeof(float));
            }
        }
    }
}

/* acc += Ap (kc, MR) Bp (kc, NR), k in order: the only place C is computed. */
static inline __attribute__((always_inline)) void kloop(size_t kc, const float *restrict Ap,
                                                        const float *restrict Bp,
                                                        vf_t acc[MR][NV])
{
    for (size_t p = 0; p < kc; p++) {
        vf_t b[NV];
        for (int v = 0; v < NV; v++)
            b[v] = V_LOAD(Bp + p * NR + v * VL);
        for (int i = 0; i < MR; i++) {
            vf_t a = V_BCAST(Ap[p * MR + i]);
            for (int v = 0; v < NV; v++)
                acc[i][v] = V_FMA(a, b[v], acc[i][v]);
        }
    }
}

enum { INIT_ZERO, INIT_ROW, INIT_C };

/* One tile: acc = init, acc += Ap Bp, the (mr, nr) corner stored to C. init INIT_ROW seeds
 * every row with row[0..NR) (padded), INIT_C with C itself (the previous k slice). */
static void tile(size_t kc, const float *restrict Ap, const float *restrict Bp, int init,
                 const float *row, float *C, size_t ldc, size_t mr, size_t nr)
{
    _Alignas(OT_ALIGN) float tmp[MR * NR];
    const int full = mr == MR && nr == NR;
    float *T = full ? C : tmp;
    size_t ldt = full ? ldc : NR;
    vf_t acc[MR][NV];
    if (init == INIT_C && !full) {
        memset(tmp, 0, sizeof tmp);
        for (size_t i = 0; i < mr; i++)
            memcpy(tmp + i * NR, C + i * ldc, nr * sizeof(float));
    }
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            acc[i][v] = init == INIT_C ? V_LOAD(T + i * ldt + v * VL)
                        : init == INIT_ROW ? V_LOAD(row + v * VL)
                                           : V_ZERO();
    kloop(kc, Ap, Bp, acc);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < NV; v++)
            V_STORE(T + i * ldt + v * VL, acc[i][v]);
    if (!full)
        for (size_t i = 0; i < mr; i++)
            memcpy(C + i * ldc, tmp + i * NR, nr * sizeof(float));
}

/* Rows [i0, i0 + mc) and columns [k0, k0 + kc) of A (row stride lda) into MR-row panels,
 * k-major, zero rows past mc. */
static void pack_a(const float *A, size_t lda, size_t i0, size_t mc, size_t k0, size_t kc,
                   float *Ap)
{
    for (size_t ip = 0; ip * MR < mc; ip++) {
        float *dst = Ap + ip * MR * kc;
        size_t h = min_sz(MR, mc - ip * MR);
        for (size_t ii = 0; ii < h; ii++) {
            const float *src = A + (i0 + ip * MR + ii) * lda + k0;
            for (size_t p = 0; p < kc; p++)
                dst[p * MR + ii] = src[p];
        }
        for (size_t ii = h; ii < MR; ii++)
            for (size_t p = 0; p < kc; p++)
                dst[p * MR + ii] = 0.0f;
    }
}

size_t ot_kgemm_work_size(size_t max_k)
{
    return MC * min_sz(max_k, KC) + NR;
}

void ot_kgemm(size_t m, size_t n, size_t k, const float *A, size_t lda, const float *Bp,
              const float *bias, float *C, size_t ldc, float *work)
{
    float *Ap = work, *row = work + MC * min_sz(k, KC);
    if (k == 0) { /* the empty sum */
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++)
                C[i * ldc + j] = bias ? bias[j] : 0.0f;
        return;
    }
    for (size_t pc = 0; pc < k; pc += KC) {
        size_t kc = min_sz(KC, k - pc);
        for (size_t ic = 0; ic < m; ic += MC) {
            size_t mc = min_sz(MC, m - ic);
            pack_a(A, lda, ic, mc, pc, kc, Ap);
            for (size_t jp = 0; jp < n_panels(n); jp++) {
                size_t j0 = jp * NR, nr = min_sz(NR, n - j0);
                int init = pc > 0 ? INIT_C : bias ? INIT_ROW : INIT_ZERO;
                const float *r = bias + j0;
                if (init == INIT_ROW && nr < NR) { /* pad the last panel's bias */
                    memset(row, 0, NR * sizeof(float));
                    memcpy(row, bias + j0, nr * sizeof(float));
                    r = row;
                }
                const float *bp = Bp + (jp * k + pc) * NR;
                for (size_t ip = 0; ip * MR < mc; ip++)
                    tile(kc, Ap + ip * MR * kc, bp, init, r, C + (ic + ip * MR) * ldc + j0, ldc,
                         min_sz(MR, mc - ip * MR), nr);
            }
        }
    }
}

/* ---- the weight gradient over a tree of shards ---- */

size_t ot_kgemm_tree_work_size(size_t max_rows, size_t n, size_t max_depth)
{
    return ot_kpack_size(max_rows, n) + MC * max_rows + max_depth * MR * NR;
}

/* One MR x NR tile of every leaf, combined through the stack; the roots' (mr, nr) corners are
 * written to t->roots at (i0, j0). */
static void tree_tile(const ot_ktree_t *t, const float *restrict Ap, const float *restrict Bp,
                      float *restrict stack, size_t i0, size_t j0, size_t mr, size_t nr)
{
    size_t top = 0;
    for (size_t l = 0; l < t->n_leaves; l++) {
        size_t k0 = t->seg[l], kc = t->seg[l + 1] - k0;
        vf_t acc[MR][NV];
        for (int i = 0; i < MR; i++)
            for (int v = 0; v < NV; v++)
                acc[i][v] = V_ZERO();
        kloop(kc, Ap + k0 * MR, Bp + k0 * NR, acc);
        for (unsigned m = t->merges[l]; m > 0; m--) {
            const float *s = stack + --top * MR * NR;
            for (int i = 0; i < MR; i++)
                for (int v = 0; v < NV; v++)
                    acc[i][v] = V_ADD(V_LOAD(s + i * NR + v * VL), acc[i][v]);
        }
        float *s = stack + top++ * MR * NR;
        for (int i = 0; i < MR; i++)
            for (int v = 0; v < NV; v++)
                V_STORE(s + i * NR + v * VL, acc[i][v]);
    }
    for (size_t r = 0; r < t->n_roots; r++)
        for (size_t i = 0; i < mr; i++)
            memcpy(t->roots[r] + (i0 + i) * t->ldr + j0, stack + r * MR * NR + i * NR,
                   nr * sizeof(float));
}

void ot_kgemm_tn_tree(size_t m, size_t n, const float *x, size_t ldx, const float *dy, size_t ldy,
                      const ot_ktree_t *t, float *work)
{
    const size_t rows = t->seg[t->n_leaves];
    float *Bp = work, *Ap = Bp + ot_kpack_size(rows, n);
    float *stack = Ap + MC * rows;
    ot_kpack_b(dy, ldy, false, rows, n, Bp, 0, SIZE_MAX);
    for (size_t ic = 0; ic < m; ic += MC) {
        size_t mc = min_sz(MC, m - ic);
        /* A = x^T: feature rows [ic, ic + mc), every batch row, in MR-row panels */
        for (size_t ip = 0; ip * MR < mc; ip++) {
            float *dst = Ap + ip * MR * rows;
            size_t h = min_sz(MR, mc - ip * MR);
            for (size_t p = 0; p < rows; p++) {
                const float *src = x + p * ldx + ic + ip * MR;
                for (size_t ii = 0; ii < h; ii++)
                    dst[p * MR + ii] = src[ii];
                for (size_t ii = h; ii < MR; ii++)
                    dst[p * MR + ii] = 0.0f;
            }
        }
        for (size_t jp = 0; jp < n_panels(n); jp++)
            for (size_t ip = 0; ip * MR < mc; ip++)
                tree_tile(t, Ap + ip * MR * rows, Bp + jp * rows * NR, stack, ic + ip * MR,
                          jp * NR, min_sz(MR, mc - ip * MR), min_sz(NR, n - jp * NR));
    }
}
