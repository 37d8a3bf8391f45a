/* kgemm.c - omptrain's own GEMM: a register-tiled FMA kernel with a defined arithmetic (see
 * ot_kgemm.h). The loops follow the GotoBLAS/BLIS layering: KC-deep slices of k, MC-row blocks
 * of A, NR-column panels of B packed once per step; an MR x NR tile of C lives in registers
 * while k runs. A is read in place, MR rows at a time (a ragged last panel is packed with zero
 * rows). Splitting k into KC slices stores a tile and reloads it, which keeps the FMA chain of
 * every element intact. Measured against OpenBLAS: docs/benchmarks.md. */
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
typedef __m256 vh_t; /* half vector: the last columns of a narrow panel */
#define HL 8
#define H_ZERO() _mm256_setzero_ps()
#define H_LOAD(p) _mm256_loadu_ps(p)
#define H_STORE(p, v) _mm256_storeu_ps(p, v)
#define H_LOW(v) _mm512_castps512_ps256(v) /* the low half of a broadcast: free */
#define H_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define H_ADD(a, b) _mm256_add_ps(a, b)
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
typedef __m128 vh_t;
#define HL 4
#define H_ZERO() _mm_setzero_ps()
#define H_LOAD(p) _mm_loadu_ps(p)
#define H_STORE(p, v) _mm_storeu_ps(p, v)
#define H_LOW(v) _mm256_castps256_ps128(v)
#define H_FMA(a, b, c) _mm_fmadd_ps(a, b, c)
#define H_ADD(a, b) _mm_add_ps(a, b)
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
typedef float vh_t; /* never used: HL 0 */
#define HL 0
#define H_ZERO() 0.0f
#define H_LOAD(p) (*(p))
#define H_STORE(p, v) (*(p) = (v))
#define H_LOW(v) (v)
#define H_FMA(a, b, c) fmaf(a, b, c)
#define H_ADD(a, b) ((a) + (b))
#define ISA "portable"
#endif

#define NR (VL * NV) /* columns of a tile and of a packed B panel */
#define KC 256       /* depth of a k slice: a KC x NR panel of B stays in L1/L2 */
#define MC (MR * 12) /* rows of A per block: MC x KC floats stay in L2 */

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

/* A tile's accumulators: nv full vectors and, with half, one half vector per row. A panel
 * narrower than NR computes only the lanes it needs (a 50-wide layer: 32 + 16 + 8 lanes, not
 * 64); lanes past the panel's width hold zeros and are never stored. */
typedef struct {
    vf_t v[MR][NV];
    vh_t h[MR];
} acc_t;

/* The width classes, narrowest first: (0, half), (1, 0), (1, half), (NV, 0) as (full vectors,
 * half vector); tile() and tree_tile() switch on the class so that each is compiled with
 * constant widths. The narrowest class that covers nr columns: */
static int width_class(size_t nr)
{
    if (HL > 0 && nr <= HL)
        return 0;
    if (nr <= VL)
        return 1;
    if (HL > 0 && NV > 1 && nr <= VL + HL)
        return 2;
    return 3;
}

/* acc = rows of T (row stride ldt; NULL: zero; ldt 0: the same row for every row) */
static inline __attribute__((always_inline)) void acc_load(acc_t *a, int nv, int half,
                                                           const float *T, size_t ldt)
{
    for (int i = 0; i < MR; i++) {
        const float *r = T ? T + i * ldt : NULL;
        for (int v = 0; v < nv; v++)
            a->v[i][v] = r ? V_LOAD(r + v * VL) : V_ZERO();
        if (half)
            a->h[i] = r ? H_LOAD(r + nv * VL) : H_ZERO();
    }
}

static inline __attribute__((always_inline)) void acc_store(const acc_t *a, int nv, int half,
                                                            float *T, size_t ldt)
{
    for (int i = 0; i < MR; i++) {
        for (int v = 0; v < nv; v++)
            V_STORE(T + i * ldt + v * VL, a->v[i][v]);
        if (half)
            H_STORE(T + i * ldt + nv * VL, a->h[i]);
    }
}

/* acc += T (a tree node on the stack: left + right, the sum's only order) */
static inline __attribute__((always_inline)) void acc_add(acc_t *a, int nv, int half,
                                                          const float *T)
{
    for (int i = 0; i < MR; i++) {
        for (int v = 0; v < nv; v++)
            a->v[i][v] = V_ADD(V_LOAD(T + i * NR + v * VL), a->v[i][v]);
        if (half)
            a->h[i] = H_ADD(H_LOAD(T + i * NR + nv * VL), a->h[i]);
    }
}

/* acc += x B for one k: x[i * si] (i < MR) the column of A, B the row of Bp (NR floats). */
static inline __attribute__((always_inline)) void rank1(acc_t *a, int nv, int half,
                                                        const float *restrict x, size_t si,
                                                        const float *restrict B)
{
    vf_t b[NV];
    vh_t bh = H_ZERO();
    for (int v = 0; v < nv; v++)
        b[v] = V_LOAD(B + v * VL);
    if (half)
        bh = H_LOAD(B + nv * VL);
    for (int i = 0; i < MR; i++) {
        const vf_t xi = V_BCAST(x[i * si]);
        for (int v = 0; v < nv; v++)
            a->v[i][v] = V_FMA(xi, b[v], a->v[i][v]);
        if (half)
            a->h[i] = H_FMA(H_LOW(xi), bh, a->h[i]);
    }
}

/* acc += A (MR, kc) Bp (kc, NR), k in order: the only place C is computed. A's element
 * (i, p) is Ap[i * si + p * sp]: a packed panel (si 1, sp MR), MR rows of a row-major matrix
 * (si its row stride, sp 1) or MR adjacent columns of one (si 1, sp its row stride), the last
 * two read in place. */
static inline __attribute__((always_inline)) void kloop(acc_t *a, int nv, int half, size_t kc,
                                                        const float *restrict Ap, size_t si,
                                                        size_t sp, const float *restrict Bp)
{
    for (size_t p = 0; p < kc; p++)
        rank1(a, nv, half, Ap + p * sp, si, Bp + p * NR);
}

/* The same over the rows rows[0..nq) of a weight-gradient panel only (the others are zero in
 * A and are skipped): A's element (i, p) is Ap[i + p * sp], B's row p is Bp + p * NR. */
static inline __attribute__((always_inline)) void kloop_rows(acc_t *a, int nv, int half,
                                                             const uint32_t *restrict rows,
                                                             size_t nq, const float *restrict Ap,
                                                             size_t sp,
                                                             const float *restrict Bp)
{
    for (size_t q = 0; q < nq; q++)
        rank1(a, nv, half, Ap + rows[q] * sp, 1, Bp + rows[q] * NR);
}

enum { INIT_ZERO, INIT_ROW, INIT_C };

/* One tile in width class (nv, half): acc = init, acc += Ap Bp, stored to T (row stride ldt).
 * init INIT_ROW seeds every row with row[] (padded), INIT_C with T itself. */
static inline __attribute__((always_inline)) void tile_body(int nv, int half, size_t kc,
                                                            const float *Ap, size_t si,
                                                            size_t sp, const float *Bp,
                                                            int init, const float *row,
                                                            float *T, size_t ldt)
{
    acc_t a;
    acc_load(&a, nv, half, init == INIT_C ? T : init == INIT_ROW ? row : NULL,
             init == INIT_C ? ldt : 0);
    kloop(&a, nv, half, kc, Ap, si, sp, Bp);
    acc_store(&a, nv, half, T, ldt);
}

/* One tile: the (mr, nr) corner of the result is stored to C. A as in kloop: packed
 * (lda 0) or MR rows in place with row stride lda. */
static void tile(size_t kc, const float *restrict Ap, size_t lda, const float *restrict Bp,
                 int init, const float *row, float *C, size_t ldc, size_t mr, size_t nr)
{
    const size_t si = lda ? lda : 1, sp = lda ? 1 : MR;
    _Alignas(OT_ALIGN) float tmp[MR * NR];
    const int full = mr == MR && nr == NR;
    float *T = full ? C : tmp;
    size_t ldt = full ? ldc : NR;
    if (init == INIT_C && !full)
        for (size_t i = 0; i < MR; i++)
            for (size_t j = 0; j < NR; j++)
                tmp[i * NR + j] = i < mr && j < nr ? C[i * ldc + j] : 0.0f;
    switch (width_class(nr)) {
    case 0:
        tile_body(0, 1, kc, Ap, si, sp, Bp, init, row, T, ldt);
        break;
    case 1:
        tile_body(1, 0, kc, Ap, si, sp, Bp, init, row, T, ldt);
        break;
    case 2:
        tile_body(1, 1, kc, Ap, si, sp, Bp, init, row, T, ldt);
        break;
    default:
        tile_body(NV, 0, kc, Ap, si, sp, Bp, init, row, T, ldt);
        break;
    }
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
    float *Ap = work, *row = work + MC * min_sz(k, KC); /* only the ragged panel uses Ap */
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
            /* full MR-row panels are read in place (an MC x KC block stays in L2); a ragged
             * last one is packed with zero rows */
            if (mc % MR)
                pack_a(A, lda, ic + mc / MR * MR, mc % MR, pc, kc, Ap + mc / MR * MR * kc);
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
                for (size_t ip = 0; ip * MR < mc; ip++) {
                    const int direct = (ip + 1) * MR <= mc;
                    tile(kc, direct ? A + (ic + ip * MR) * lda + pc : Ap + ip * MR * kc,
                         direct ? lda : 0, bp, init, r, C + (ic + ip * MR) * ldc + j0, ldc,
                         min_sz(MR, mc - ip * MR), nr);
                }
            }
        }
    }
}

/* ---- the weight gradient over a tree of shards ---- */

/* Panels of MR features (rows of x^T) for m features. */
static size_t m_panels(size_t m)
{
    return (m + MR - 1) / MR;
}

size_t ot_kgemm_tree_work_size(size_t max_rows, size_t m, size_t n, size_t max_leaves,
                               size_t max_depth)
{
    /* lists: uint32 rows and size_t prefixes, counted in floats with room for rounding */
    size_t lists = m_panels(m) * (max_rows + 2 * (max_leaves + 1)) + 4;
    return ot_kpack_size(max_rows, n) + MC * max_rows + lists + max_depth * MR * NR;
}

/* One MR x NR tile of every leaf in width class (nv, half), combined through the stack. With
 * rows, leaf l runs over rows[qseg[l]..qseg[l+1]) only. */
static inline __attribute__((always_inline)) void tree_body(int nv, int half,
                                                            const ot_ktree_t *t,
                                                            const float *Ap, size_t sa,
                                                            const float *Bp, float *stack,
                                                            const uint32_t *rows,
                                                            const size_t *qseg, float *direct)
{
    size_t top = 0;
    for (size_t l = 0; l < t->n_leaves; l++) {
        size_t k0 = t->seg[l];
        acc_t a;
        acc_load(&a, nv, half, NULL, 0);
        if (rows)
            kloop_rows(&a, nv, half, rows + qseg[l], qseg[l + 1] - qseg[l], Ap, sa, Bp);
        else
            kloop(&a, nv, half, t->seg[l + 1] - k0, Ap + k0 * sa, 1, sa, Bp + k0 * NR);
        for (unsigned m = t->merges[l]; m > 0; m--)
            acc_add(&a, nv, half, stack + --top * MR * NR);
        if (direct && l + 1 == t->n_leaves) { /* the one root of a full tile: to its place */
            acc_store(&a, nv, half, direct, t->ldr);
            return;
        }
        acc_store(&a, nv, half, stack + top++ * MR * NR, NR);
    }
}

/* The tile at (i0, j0) of every leaf, combined; the roots' (mr, nr) corners are written to
 * t->roots. */
static void tree_tile(const ot_ktree_t *t, const float *restrict Ap, size_t sa,
                      const float *restrict Bp, float *restrict stack, const uint32_t *rows,
                      const size_t *qseg, size_t i0, size_t j0, size_t mr, size_t nr)
{
    /* a full tile with one root is stored straight to it */
    float *direct = t->n_roots == 1 && mr == MR && nr == NR ? t->roots[0] + i0 * t->ldr + j0
                                                            : NULL;
    switch (width_class(nr)) {
    case 0:
        tree_body(0, 1, t, Ap, sa, Bp, stack, rows, qseg, direct);
        break;
    case 1:
        tree_body(1, 0, t, Ap, sa, Bp, stack, rows, qseg, direct);
        break;
    case 2:
        tree_body(1, 1, t, Ap, sa, Bp, stack, rows, qseg, direct);
        break;
    default:
        tree_body(NV, 0, t, Ap, sa, Bp, stack, rows, qseg, direct);
        break;
    }
    if (direct)
        return;
    for (size_t r = 0; r < t->n_roots; r++)
        for (size_t i = 0; i < mr; i++)
            memcpy(t->roots[r] + (i0 + i) * t->ldr + j0, stack + r * MR * NR + i * NR,
                   nr * sizeof(float));
}

/* x^T's MR-row panel ip (features [i0, i0 + MR) of every row) packed, zero past m. */
static void pack_xt(const float *x, size_t ldx, size_t m, size_t rows, size_t i0, float *Ap)
{
    size_t h = min_sz(MR, m - i0);
    for (size_t p = 0; p < rows; p++) {
        for (size_t ii = 0; ii < h; ii++)
            Ap[p * MR + ii] = x[p * ldx + i0 + ii];
        for (size_t ii = h; ii < MR; ii++)
            Ap[p * MR + ii] = 0.0f;
    }
}

/* For every panel of MR features: the rows where one of them is not zero (rows + ip * n_rows,
 * their count-prefix per leaf in qseg + ip * (n_leaves + 1)). */
static void zero_skip_lists(const float *x, size_t ldx, size_t m, const ot_ktree_t *t,
                            uint32_t *rows, size_t *qseg)
{
    const size_t n_rows = t->seg[t->n_leaves], L = t->n_leaves;
    for (size_t ip = 0; ip < m_panels(m); ip++) {
        uint32_t *r = rows + ip * n_rows;
        size_t *qs = qseg + ip * (L + 1), q = 0, i0 = ip * MR, h = min_sz(MR, m - i0);
        for (size_t l = 0; l < L; l++) {
            qs[l] = q;
            for (size_t p = t->seg[l]; p < t->seg[l + 1]; p++) {
                /* the values' bits with the signs dropped (-0 counts as zero), two at a time */
                const uint64_t nosign = 0x7fffffff7fffffffull;
                uint64_t any = 0;
                size_t ii = 0;
                for (; ii + 2 <= h; ii += 2) {
                    uint64_t u;
                    memcpy(&u, &x[p * ldx + i0 + ii], sizeof u);
                    any |= u & nosign;
                }
                if (ii < h) {
                    uint32_t u;
                    memcpy(&u, &x[p * ldx + i0 + ii], sizeof u);
                    any |= u & 0x7fffffffu;
                }
                r[q] = (uint32_t)p; /* branch-free: the pattern is the data's */
                q += any != 0;
            }
        }
        qs[L] = q;
    }
}

/* x at most this many bytes (or dy at most two panels wide): x read in place instead of
 * packed (a full MR-row panel of x^T is MR adjacent columns of x). */
#define XT_IN_PLACE_BYTES (512u * 1024u)

void ot_kgemm_tn_tree(size_t m, size_t n, const float *x, size_t ldx, const float *dy, size_t ldy,
                      const ot_ktree_t *t, float *work)
{
    const size_t rows = t->seg[t->n_leaves], L = t->n_leaves;
    /* work: packed dy | packed x^T block | skip lists | the stack (see the size above) */
    float *Bp = work, *Ap = Bp + ot_kpack_size(rows, n);
    size_t *qseg = (size_t *)(void *)(Ap + (MC * rows + 1) / 2 * 2);
    uint32_t *skip = (uint32_t *)(qseg + m_panels(m) * (L + 1));
    float *stack = (float *)(skip + (m_panels(m) * rows + 1) / 2 * 2);
    if (!t->skip_zero)
        skip = NULL;
    else
        zero_skip_lists(x, ldx, m, t, skip, qseg);
#define PANEL_ROWS(ip) (skip ? skip + (ip) * rows : NULL), (skip ? qseg + (ip) * (L + 1) : NULL)
    ot_kpack_b(dy, ldy, false, rows, n, Bp, 0, SIZE_MAX);
    if (rows * m * sizeof(float) <= XT_IN_PLACE_BYTES || n_panels(n) <= 2) {
        /* only a ragged last panel is packed; the B panel stays in L1 while x streams (x is
         * read once per B panel: from L2 when it fits, and narrow outputs have one or two) */
        size_t full = m / MR * MR;
        if (full < m)
            pack_xt(x, ldx, m, rows, full, Ap);
        for (size_t jp = 0; jp < n_panels(n); jp++)
            for (size_t i0 = 0; i0 < m; i0 += MR)
                tree_tile(t, i0 < full ? x + i0 : Ap, i0 < full ? ldx : MR,
                          Bp + jp * rows * NR, stack, PANEL_ROWS(i0 / MR), i0, jp * NR,
                          min_sz(MR, m - i0), min_sz(NR, n - jp * NR));
        return;
    }
    for (size_t ic = 0; ic < m; ic += MC) {
        size_t mc = min_sz(MC, m - ic);
        /* A = x^T: feature rows [ic, ic + mc), every batch row, in MR-row panels */
        for (size_t ip = 0; ip * MR < mc; ip++)
            pack_xt(x, ldx, m, rows, ic + ip * MR, Ap + ip * MR * rows);
        for (size_t jp = 0; jp < n_panels(n); jp++)
            for (size_t ip = 0; ip * MR < mc; ip++)
                tree_tile(t, Ap + ip * MR * rows, MR, Bp + jp * rows * NR, stack,
                          PANEL_ROWS((ic / MR) + ip), ic + ip * MR, jp * NR,
                          min_sz(MR, mc - ip * MR), min_sz(NR, n - jp * NR));
    }
#undef PANEL_ROWS
}

/* ---- a sparse left operand: the first layer on mostly-zero images ---- */

size_t ot_kcompress(const float *x, size_t d, uint32_t *col, float *val)
{
    size_t n = 0, j = 0;
#if defined(__AVX512F__)
    /* compress in a register, then a plain store (a compressing store to memory is slow on
     * some cores); the slack of ot_kcompress's contract takes the full-vector stores */
    const __m512i step = _mm512_set1_epi32(16);
    __m512i idx = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (; j + 16 <= d; j += 16, idx = _mm512_add_epi32(idx, step)) {
        __m512 v = _mm512_loadu_ps(x + j);
        __mmask16 m = _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ);
        _mm512_storeu_ps(val + n, _mm512_maskz_compress_ps(m, v));
        _mm512_storeu_si512(col + n, _mm512_maskz_compress_epi32(m, idx));
        n += (size_t)__builtin_popcount((unsigned)m);
    }
#endif
    for (; j < d; j++) { /* branch-free: the pattern is the image's */
        col[n] = (uint32_t)j;
        val[n] = x[j];
        n += x[j] != 0.0f;
    }
    return n;
}

size_t ot_kspmm_work_size(size_t n)
{
    return n_panels(n) * NR + 2 * NR;
}

/* Row i's product with np (1 or 2) panels starting at Bp: acc = bias, then one FMA per nonzero
 * entry in column order; stored to out (np * NR floats). */
static inline __attribute__((always_inline)) void sp_row(int np, size_t nz,
                                                         const uint32_t *restrict col,
                                                         const float *restrict val,
                                                         const float *restrict Bp, size_t k,
                                                         const float *brow, float *out)
{
    vf_t acc[2][NV];
    for (int p = 0; p < np; p++)
        for (int v = 0; v < NV; v++)
            acc[p][v] = V_LOAD(brow + p * NR + v * VL);
    for (size_t q = 0; q < nz; q++) {
        const vf_t x = V_BCAST(val[q]);
        const float *b = Bp + (size_t)col[q] * NR;
        for (int p = 0; p < np; p++)
            for (int v = 0; v < NV; v++)
                acc[p][v] = V_FMA(x, V_LOAD(b + p * k * NR + v * VL), acc[p][v]);
    }
    for (int p = 0; p < np; p++)
        for (int v = 0; v < NV; v++)
            V_STORE(out + p * NR + v * VL, acc[p][v]);
}

void ot_kspmm(size_t m, size_t n, size_t k, const uint32_t *col, const float *val, size_t ld,
              const uint32_t *nnz, const float *Bp, const float *bias, float *C, size_t ldc,
              float *work)
{
    const size_t np = n_panels(n);
    float *brow = work, *out = work + np * NR;
    for (size_t j = 0; j < np * NR; j++)
        brow[j] = bias && j < n ? bias[j] : 0.0f;
    for (size_t i = 0; i < m; i++)
        for (size_t jp = 0; jp < np; jp += 2) {
            const int two = jp + 1 < np;
            if (two)
                sp_row(2, nnz[i], col + i * ld, val + i * ld, Bp + jp * k * NR, k,
                       brow + jp * NR, out);
            else
                sp_row(1, nnz[i], col + i * ld, val + i * ld, Bp + jp * k * NR, k,
                       brow + jp * NR, out);
            memcpy(C + i * ldc + jp * NR, out, min_sz((size_t)(two ? 2 : 1) * NR, n - jp * NR) *
                   sizeof(float));
        }
}
