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

#include "ot_simd.h"

/* The tile's shape and a half vector (the last columns of a narrow panel) by instruction set. */
#if defined(OT_SIMD_AVX512)
#define MR 8
#define NV 2
typedef __m256 vh_t;
#define HL 8
#define H_ZERO() _mm256_setzero_ps()
#define H_LOAD(p) _mm256_loadu_ps(p)
#define H_STORE(p, v) _mm256_storeu_ps(p, v)
#define H_LOW(v) _mm512_castps512_ps256(v) /* the low half of a broadcast: free */
#define H_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define H_ADD(a, b) _mm256_add_ps(a, b)
#elif defined(OT_SIMD_AVX2)
#define MR 6
#define NV 2
typedef __m128 vh_t;
#define HL 4
#define H_ZERO() _mm_setzero_ps()
#define H_LOAD(p) _mm_loadu_ps(p)
#define H_STORE(p, v) _mm_storeu_ps(p, v)
#define H_LOW(v) _mm256_castps256_ps128(v)
#define H_FMA(a, b, c) _mm_fmadd_ps(a, b, c)
#define H_ADD(a, b) _mm_add_ps(a, b)
#else
#define MR 4
#define NV 4
typedef float vh_t; /* never used: HL 0 */
#define HL 0
#define H_ZERO() 0.0f
#define H_LOAD(p) (*(p))
#define H_STORE(p, v) (*(p) = (v))
#define H_LOW(v) (v)
#define H_FMA(a, b, c) fmaf(a, b, c)
#define H_ADD(a, b) ((a) + (b))
#endif

#define NR (VL * NV) /* columns of a tile and of a packed B panel */
#define KC 256       /* depth of a k slice: a KC x NR panel of B stays in L1/L2 */
#define MC (MR * 12) /* rows of A per block: MC x KC floats stay in L2 */
#define TALL 2       /* MR-row panels in a tile of a narrow result (tile_tall); 3 measured slower */

/* dst[0..NR) = src[0..w) then zeros (0 <= w <= NR), in vectors: a packed panel's row. The
 * rows are short (NR floats), so a call to memcpy and memset per row cost more than the copy
 * (4% of a step of model (b) at 1 thread, measured with perf). With stream the row is stored
 * past the caches (dst aligned to a vector; NR floats are whole lines): for a packed W, which
 * other cores read and the next step rewrites. */
static inline void copy_row_pad(float *dst, const float *src, size_t w, bool stream)
{
    for (size_t j = 0; j < NR; j += VL) {
        const vf_t v = j + VL <= w ? V_LOAD(src + j)
                       : j < w     ? V_LOADN(src + j, V_MASK(w - j))
                                   : V_ZERO();
        if (stream)
            V_STREAM(dst + j, v);
        else
            V_STORE(dst + j, v);
    }
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* dst[0..n) = src[0..n) for n <= NR, in vectors (see copy_row_pad). */
static inline void copy_row(float *dst, const float *src, size_t n)
{
    size_t j = 0;
    for (; j + VL <= n; j += VL)
        V_STORE(dst + j, V_LOAD(src + j));
    if (j < n) {
        const vmask_t k = V_MASK(n - j);
        V_STOREN(dst + j, V_LOADN(src + j, k), k);
        (void)k; /* the portable build has no partial vectors */
    }
}

#if defined(__AVX2__)
/* dst rows t = 0..7 (row stride ldd) = column t of the 8 x 8 block at src (row stride lds). */
static inline void transpose8(const float *src, size_t lds, float *dst, size_t ldd)
{
    __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + lds),
           r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds),
           r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds),
           r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
    __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1),
           t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3),
           t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
           t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
    __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
           u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
           u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
           u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    _mm256_storeu_ps(dst, _mm256_permute2f128_ps(u0, u4, 0x20));
    _mm256_storeu_ps(dst + ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
    _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
    _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
    _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
    _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
    _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
    _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}
#endif

/* dst[kk * NR + jj] = src[jj * lds + kk] for jj < w, kk < k: w rows of B^T into a panel;
 * 8 x 8 blocks through registers where the instruction set has them (a 1024 x 1024 W^T:
 * 517 us element by element, measured). */
static void pack_rows_t(const float *src, size_t lds, size_t w, size_t k, float *dst)
{
    size_t j8 = 0, k8 = 0;
#if defined(__AVX2__)
    j8 = w / 8 * 8;
    k8 = k / 8 * 8;
    for (size_t jj = 0; jj < j8; jj += 8)
        for (size_t kk = 0; kk < k8; kk += 8)
            transpose8(src + jj * lds + kk, lds, dst + kk * NR + jj, NR);
#endif
    for (size_t jj = 0; jj < w; jj++) /* what the blocks left: their right and bottom edges */
        for (size_t kk = jj < j8 ? k8 : 0; kk < k; kk++)
            dst[kk * NR + jj] = src[jj * lds + kk];
    for (size_t kk = 0; kk < k && w < NR; kk++) /* a narrow panel's zeros */
        for (size_t jj = w; jj < NR; jj++)
            dst[kk * NR + jj] = 0.0f;
}

/* pack_rows_t, the panel stored past the caches 8 rows at a time, each row whole (the rows
 * formed in L1 first: a line streamed in pieces far apart in time costs more than a store).
 * At one thread pack_rows_t is faster: these loops with plain stores made (c)'s prepare phase
 * 840-908 us, against 625-683. */
static void pack_rows_t_stream(const float *src, size_t lds, size_t w, size_t k, float *dst)
{
    _Alignas(OT_ALIGN) float tmp[8 * NR]; /* 8 rows of the panel, whole, then streamed */
    for (size_t k0 = 0; k0 < k; k0 += 8) {
        const size_t kn = min_sz(8, k - k0);
        size_t j8 = 0;
#if defined(__AVX2__)
        if (kn == 8) {
            j8 = w / 8 * 8;
            for (size_t jj = 0; jj < j8; jj += 8)
                transpose8(src + jj * lds + k0, lds, tmp + jj, NR);
        }
#endif
        for (size_t r = 0; r < kn; r++) {
            for (size_t jj = j8; jj < w; jj++) /* what the blocks left: the right edge */
                tmp[r * NR + jj] = src[jj * lds + k0 + r];
            copy_row_pad(dst + (k0 + r) * NR, tmp + r * NR, w, true);
        }
    }
}

static size_t n_panels(size_t n)
{
    return (n + NR - 1) / NR;
}

size_t ot_kgemm_nr(void)
{
    return NR;
}

size_t ot_kgemm_vl(void)
{
    return VL;
}

const char *ot_kgemm_isa(void)
{
    return ISA;
}

/* Where the sparse first layer stops paying, by the dense kernel's vector width. Measured
 * with omptrain bench on Fashion-MNIST thinned to 20-45% nonzero pixels, models (a), (b), (c)
 * at 1 thread (docs/benchmarks.md, "Sparse or dense first layer"): sparse/dense samples/s
 * crosses 1 at 0.23-0.32 with the AVX-512 kernel and at 0.40-0.45 with the AVX2 one. The
 * portable kernel's value is not measured: half, as before the sweep. */
float ot_kgemm_sparse_below(void)
{
#if defined(__AVX512F__)
    return 0.25f;
#elif defined(__AVX2__) && defined(__FMA__)
    return 0.4f;
#else
    return 0.5f;
#endif
}

size_t ot_kpack_size(size_t k, size_t n)
{
    return n_panels(n) * NR * k;
}

void ot_kpack_b(const float *B, size_t ldb, bool trans, size_t k, size_t n, float *Bp, size_t p0,
                size_t p1, bool stream)
{
    p1 = min_sz(p1, n_panels(n));
    for (size_t p = p0; p < p1; p++) {
        float *dst = Bp + p * k * NR;
        size_t j0 = p * NR, w = min_sz(NR, n - j0);
        if (trans) { /* B stored (n, k): column j of op(B) is row j of B */
            if (stream)
                pack_rows_t_stream(B + j0 * ldb, ldb, w, k, dst);
            else
                pack_rows_t(B + j0 * ldb, ldb, w, k, dst);
        } else {
            for (size_t kk = 0; kk < k; kk++)
                copy_row_pad(dst + kk * NR, B + kk * ldb + j0, w, stream);
        }
    }
    if (stream)
        V_STREAM_FENCE();
}

void ot_kpack_b_rows(const float *B, size_t ldb, size_t k, size_t n, float *Bp, size_t k0,
                     size_t k1, bool stream)
{
    for (size_t p = 0; p < n_panels(n); p++) {
        float *dst = Bp + p * k * NR;
        size_t j0 = p * NR, w = min_sz(NR, n - j0);
        for (size_t kk = k0; kk < k1; kk++)
            copy_row_pad(dst + kk * NR, B + kk * ldb + j0, w, stream);
    }
    if (stream)
        V_STREAM_FENCE();
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

/* The helpers below work on a tile's first nm rows (nm <= MR, a constant in every copy: a
 * short last tile of a few rows computes only those), in width class (nv, half).
 * acc = rows of T (row stride ldt; NULL: zero; ldt 0: the same row for every row) */
static inline __attribute__((always_inline)) void acc_load(acc_t *a, int nm, int nv, int half,
                                                           const float *T, size_t ldt)
{
    for (int i = 0; i < nm; i++) {
        const float *r = T ? T + i * ldt : NULL;
        for (int v = 0; v < nv; v++)
            a->v[i][v] = r ? V_LOAD(r + v * VL) : V_ZERO();
        if (half)
            a->h[i] = r ? H_LOAD(r + nv * VL) : H_ZERO();
    }
}

static inline __attribute__((always_inline)) void acc_store(const acc_t *a, int nm, int nv,
                                                            int half, float *T, size_t ldt)
{
    for (int i = 0; i < nm; i++) {
        for (int v = 0; v < nv; v++)
            V_STORE(T + i * ldt + v * VL, a->v[i][v]);
        if (half)
            H_STORE(T + i * ldt + nv * VL, a->h[i]);
    }
}

/* acc += T (a tree node on the stack: left + right, the sum's only order) */
static inline __attribute__((always_inline)) void acc_add(acc_t *a, int nm, int nv, int half,
                                                          const float *T)
{
    for (int i = 0; i < nm; i++) {
        for (int v = 0; v < nv; v++)
            a->v[i][v] = V_ADD(V_LOAD(T + i * NR + v * VL), a->v[i][v]);
        if (half)
            a->h[i] = H_ADD(H_LOAD(T + i * NR + nv * VL), a->h[i]);
    }
}

/* acc += x B for one k: x[i * si] (i < nm) the column of A, or x[o[i]] when o is set; B the
 * row of Bp (NR floats). */
static inline __attribute__((always_inline)) void rank1(acc_t *a, int nm, int nv, int half,
                                                        const float *restrict x, size_t si,
                                                        const size_t *o,
                                                        const float *restrict B)
{
    vf_t b[NV];
    vh_t bh = H_ZERO();
    for (int v = 0; v < nv; v++)
        b[v] = V_LOAD(B + v * VL);
    if (half)
        bh = H_LOAD(B + nv * VL);
    for (int i = 0; i < nm; i++) {
        const vf_t xi = V_BCAST(o ? x[o[i]] : x[i * si]);
        for (int v = 0; v < nv; v++)
            a->v[i][v] = V_FMA(xi, b[v], a->v[i][v]);
        if (half)
            a->h[i] = H_FMA(H_LOW(xi), bh, a->h[i]);
    }
}

/* Where a tile reads A's element (i, p), i < MR, p < kc: x[i * si + p * sp] (a packed panel:
 * si 1, sp MR; MR rows of a row-major matrix: si its row stride, sp 1; or MR adjacent columns
 * of one: si 1, sp its row stride), or with op set x[oi[i] + op[p]]: a matrix that is not
 * stored, read through two tables of offsets (the im2col matrix of images where they lie). */
typedef struct {
    const float *x;
    size_t si, sp;
    const size_t *oi, *op;
} a_src_t;

/* acc += A (nm, kc) Bp (kc, NR), k in order: the only place C is computed. */
static inline __attribute__((always_inline)) void kloop(acc_t *a, int nm, int nv, int half,
                                                        size_t kc, const a_src_t *A,
                                                        const float *restrict Bp)
{
    if (A->op) {
        size_t o[MR]; /* in registers for the whole loop */
        for (int i = 0; i < nm; i++)
            o[i] = A->oi[i];
        for (size_t p = 0; p < kc; p++)
            rank1(a, nm, nv, half, A->x + A->op[p], 0, o, Bp + p * NR);
        return;
    }
    for (size_t p = 0; p < kc; p++)
        rank1(a, nm, nv, half, A->x + p * A->sp, A->si, NULL, Bp + p * NR);
}

enum { INIT_ZERO, INIT_ROW, INIT_C };

/* The full tile (MR rows, NV = 2 vectors), with its accumulators as named variables: through
 * acc_t (arrays indexed in loops that gcc unrolls only after its scalar replacement has run)
 * they stayed in memory, copied to the stack and back around the k loop of every tile; with a
 * short k (Winograd's 16 to 64, a 5x5 single-channel convolution's 25) that was a fifth of the
 * tile's time (AVX2, 1024 x 32 x 25: 64 -> 85 GFLOP/s; AVX-512, 1024 x 30 x 25: 171 -> 206).
 * Each element is the same chain as kloop's, so the bits are too. */
#if NV == 2 && MR == 6
#define FULL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)
#elif NV == 2 && MR == 8
#define FULL_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#endif
#if defined(FULL_ROWS)
static inline __attribute__((always_inline)) void full_tile(size_t kc, const a_src_t *A,
                                                            const float *restrict Bp,
                                                            const float *init, size_t ld0,
                                                            float *T, size_t ldt, int masked,
                                                            vmask_t last)
{
    const float *restrict x = A->x;
    const size_t si = A->si, sp = A->sp;
    const size_t *op = A->op;
#define FT_OFF(i) const size_t o##i = op ? A->oi[i] : (i) * si;
#define FT_DECL(i) vf_t c##i##0, c##i##1;
#define FT_INIT(i)                                                                         \
    c##i##0 = init ? V_LOAD(init + (i) * ld0) : V_ZERO();                                  \
    c##i##1 = !init ? V_ZERO() : masked ? V_LOADN(init + (i) * ld0 + VL, last)            \
                                        : V_LOAD(init + (i) * ld0 + VL);
#define FT_STEP(i)                                                                         \
    {                                                                                      \
        const vf_t xi = V_BCAST(xp[o##i]);                                                 \
        c##i##0 = V_FMA(xi, b0, c##i##0);                                                  \
        c##i##1 = V_FMA(xi, b1, c##i##1);                                                  \
    }
#define FT_STORE(i)                                                                        \
    V_STORE(T + (i) * ldt, c##i##0);                                                       \
    if (masked)                                                                            \
        V_STOREN(T + (i) * ldt + VL, c##i##1, last);                                       \
    else                                                                                   \
        V_STORE(T + (i) * ldt + VL, c##i##1);
    FULL_ROWS(FT_DECL)
    FULL_ROWS(FT_INIT)
    FULL_ROWS(FT_OFF)
    if (op) {
        for (size_t p = 0; p < kc; p++) {
            const float *restrict xp = x + op[p];
            const vf_t b0 = V_LOAD(Bp + p * NR), b1 = V_LOAD(Bp + p * NR + VL);
            FULL_ROWS(FT_STEP)
        }
    } else {
        for (size_t p = 0; p < kc; p++) {
            const float *restrict xp = x + p * sp;
            const vf_t b0 = V_LOAD(Bp + p * NR), b1 = V_LOAD(Bp + p * NR + VL);
            FULL_ROWS(FT_STEP)
        }
    }
    FULL_ROWS(FT_STORE)
#undef FT_OFF
#undef FT_DECL
#undef FT_INIT
#undef FT_STEP
#undef FT_STORE
}
#endif

/* The first nm rows of a tile in width class (nv, half): acc = init, acc += Ap Bp, stored to T
 * (row stride ldt). init INIT_ROW seeds every row with row[] (padded), INIT_C with T itself. */
static inline __attribute__((always_inline)) void tile_body(int nm, int nv, int half, size_t kc,
                                                            const a_src_t *A, const float *Bp,
                                                            int init, const float *row,
                                                            float *T, size_t ldt)
{
    const float *init_row = init == INIT_C ? T : init == INIT_ROW ? row : NULL;
    const size_t init_ld = init == INIT_C ? ldt : 0;
#if defined(FULL_ROWS)
    if (nm == MR && nv == NV && !half) {
        full_tile(kc, A, Bp, init_row, init_ld, T, ldt, 0, V_MASK(VL));
        return;
    }
#endif
    acc_t a;
    acc_load(&a, nm, nv, half, init_row, init_ld);
    kloop(&a, nm, nv, half, kc, A, Bp);
    acc_store(&a, nm, nv, half, T, ldt);
}

/* tile_body for every width class, nm rows. */
static inline __attribute__((always_inline)) void tile_rows(int nm, int cls, size_t kc,
                                                            const a_src_t *A, const float *Bp,
                                                            int init, const float *row,
                                                            float *T, size_t ldt)
{
    switch (cls) {
    case 0:
        tile_body(nm, 0, 1, kc, A, Bp, init, row, T, ldt);
        break;
    case 1:
        tile_body(nm, 1, 0, kc, A, Bp, init, row, T, ldt);
        break;
    case 2:
        tile_body(nm, 1, 1, kc, A, Bp, init, row, T, ldt);
        break;
    default:
        tile_body(nm, NV, 0, kc, A, Bp, init, row, T, ldt);
        break;
    }
}

/* A tile of MR rows whose last of nv full vectors holds only the lanes of `last`: loaded
 * (INIT_C) and stored through the mask, straight to C. */
static inline __attribute__((always_inline)) void tile_masked(int nv, size_t kc,
                                                              const a_src_t *A,
                                                              const float *Bp,
                                                              int init, const float *row,
                                                              float *C, size_t ldc,
                                                              vmask_t last)
{
#if defined(FULL_ROWS)
    if (nv == NV) { /* named accumulators, as in tile_body */
        full_tile(kc, A, Bp, init == INIT_C ? C : init == INIT_ROW ? row : NULL,
                  init == INIT_C ? ldc : 0, C, ldc, 1, last);
        return;
    }
#endif
    acc_t a;
    for (int i = 0; i < MR; i++) {
        const float *r = init == INIT_C ? C + i * ldc : init == INIT_ROW ? row : NULL;
        for (int v = 0; v < nv; v++)
            a.v[i][v] = !r ? V_ZERO() : v < nv - 1 ? V_LOAD(r + v * VL)
                                                   : V_LOADN(r + v * VL, last);
    }
    kloop(&a, MR, nv, 0, kc, A, Bp);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < nv; v++) {
            if (v < nv - 1)
                V_STORE(C + i * ldc + v * VL, a.v[i][v]);
            else
                V_STOREN(C + i * ldc + v * VL, a.v[i][v], last);
        }
    (void)last; /* the portable build has no partial vectors */
}

#if VL > 1
/* acc[0..TALL MR) += A B for rows of A si floats apart (tile_tall). With the stride a constant
 * (16, 32, 64: a Winograd plane's rows are C floats) the loads take it as an immediate instead
 * of TALL MR row pointers competing for registers. */
static inline __attribute__((always_inline)) void tall_body(vf_t *a, size_t kc,
                                                            const float *restrict x0, size_t si,
                                                            const float *restrict Bp)
{
    for (size_t p = 0; p < kc; p++) {
        const float *restrict x = x0 + p;
        const vf_t b = V_LOAD(Bp + p * NR);
        for (int i = 0; i < TALL * MR; i++)
            a[i] = V_FMA(V_BCAST(x[i * si]), b, a[i]);
    }
}

static inline __attribute__((always_inline)) void tall_rows(vf_t *a, size_t kc, const float *x,
                                                            size_t si, const float *Bp)
{
    switch (si) {
    case 16:
        tall_body(a, kc, x, 16, Bp);
        break;
    case 32:
        tall_body(a, kc, x, 32, Bp);
        break;
    case 64:
        tall_body(a, kc, x, 64, Bp);
        break;
    default:
        tall_body(a, kc, x, si, Bp);
        break;
    }
}

/* A narrow result (nr <= VL columns): a tile of TALL * MR full rows and one vector of columns,
 * the last lanes masked. An MR-row tile has only MR chains to hide the FMA latency behind and,
 * with a short k, little work to spread its set-up over; this one has TALL times both. A is
 * read as tile() reads it: rows A->si apart, or through the offsets A->oi (TALL * MR of them)
 * and A->op. Each element is the same chain as in tile(), so the bits are too. (In
 * ot_kgemm_tn_acc_gather, whose k is long, it measured no faster.) */
static void tile_tall(size_t kc, const a_src_t *A, const float *restrict Bp, int init,
                      const float *row, float *C, size_t ldc, vmask_t last)
{
    vf_t a[TALL * MR];
    for (int i = 0; i < TALL * MR; i++) {
        const float *r = init == INIT_C ? C + i * ldc : init == INIT_ROW ? row : NULL;
        a[i] = r ? V_LOADN(r, last) : V_ZERO();
    }
    if (A->op) {
        for (size_t p = 0; p < kc; p++) {
            const float *restrict x = A->x + A->op[p];
            const vf_t b = V_LOAD(Bp + p * NR);
            for (int i = 0; i < TALL * MR; i++)
                a[i] = V_FMA(V_BCAST(x[A->oi[i]]), b, a[i]);
        }
    } else {
        tall_rows(a, kc, A->x, A->si, Bp);
    }
    for (int i = 0; i < TALL * MR; i++)
        V_STOREN(C + i * ldc, a[i], last);
}
#endif

/* One tile: the (mr, nr) corner of the result is stored to C. */
static void tile(size_t kc, const a_src_t *A, const float *restrict Bp, int init,
                 const float *row, float *C, size_t ldc, size_t mr, size_t nr)
{
    /* a full-height tile whose width class has no half vector (nr in (HL, VL] or past
     * VL + HL): the last vector masked, no copy through tmp. Not in the portable build, whose
     * one-float "vectors" have no mask: there NV of them would store past nr columns. */
    const int cls = width_class(nr);
    if (VL > 1 && mr == MR && nr < NR && (cls == 1 || cls == 3)) {
        const int nv = cls == 1 ? 1 : NV;
        const vmask_t last = V_MASK(nr - (size_t)(nv - 1) * VL);
        if (nv == 1)
            tile_masked(1, kc, A, Bp, init, row, C, ldc, last);
        else
            tile_masked(NV, kc, A, Bp, init, row, C, ldc, last);
        return;
    }
    _Alignas(OT_ALIGN) float tmp[MR * NR];
    const int full = mr == MR && nr == NR;
    float *T = full ? C : tmp;
    size_t ldt = full ? ldc : NR;
    if (init == INIT_C && !full)
        for (size_t i = 0; i < MR; i++)
            for (size_t j = 0; j < NR; j++)
                tmp[i * NR + j] = i < mr && j < nr ? C[i * ldc + j] : 0.0f;
    /* a short tile computes 1, 2 or MR / 2 rows when those cover it, not MR: each row is its
     * own chain, so the bits are the same */
    if (mr > MR / 2 || MR / 2 <= 2)
        tile_rows(MR, cls, kc, A, Bp, init, row, T, ldt);
    else if (mr > 2)
        tile_rows(MR / 2, cls, kc, A, Bp, init, row, T, ldt);
    else if (mr == 2)
        tile_rows(2, cls, kc, A, Bp, init, row, T, ldt);
    else
        tile_rows(1, cls, kc, A, Bp, init, row, T, ldt);
    if (!full)
        for (size_t i = 0; i < mr; i++)
            copy_row(C + i * ldc, tmp + i * NR, nr);
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

/* A matrix operand: row-major A with row stride lda, or (row set) the matrix whose element
 * (i, p) is x[row[i] + col[p]]. */
typedef struct {
    const float *A;
    size_t lda;
    const size_t *row, *col;
} a_mat_t;

/* A's tile of h rows (MR, or TALL * MR for tile_tall) from row i0 of M, depth [pc, pc + kc), as
 * a tile reads it: rows of A in place (mr = h: a full tile), its packed copy Ap (a ragged one),
 * or M's offsets, the last row's repeated past mr (rows the tile computes and never stores).
 * o: room for h offsets. */
static a_src_t a_rows(const a_mat_t *M, size_t i0, size_t mr, size_t h, size_t pc,
                      const float *Ap, size_t *o)
{
    if (M->row) {
        for (size_t i = 0; i < h; i++)
            o[i] = M->row[i0 + min_sz(i, mr - 1)];
        return (a_src_t){M->A, 0, 0, o, M->col + pc};
    }
    if (mr == h)
        return (a_src_t){M->A + i0 * M->lda + pc, M->lda, 1, NULL, NULL};
    return (a_src_t){Ap, 1, MR, NULL, NULL};
}

static void gemm(size_t m, size_t n, size_t k, const a_mat_t *M, const float *Bp,
                 const float *bias, float *C, size_t ldc, float *work)
{
    float *Ap = work, *row = work + MC * min_sz(k, KC); /* only a ragged panel uses Ap */
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
            const size_t ragged = mc / MR * MR;
            if (mc % MR && !M->row)
                pack_a(M->A, M->lda, ic + ragged, mc % MR, pc, kc, Ap + ragged * kc);
            for (size_t jp = 0; jp < n_panels(n); jp++) {
                size_t j0 = jp * NR, nr = min_sz(NR, n - j0);
                int init = pc > 0 ? INIT_C : bias ? INIT_ROW : INIT_ZERO;
                const float *r = bias ? bias + j0 : NULL;
                if (init == INIT_ROW && nr < NR) { /* pad the last panel's bias */
                    memset(row, 0, NR * sizeof(float));
                    memcpy(row, bias + j0, nr * sizeof(float));
                    r = row;
                }
                const float *bp = Bp + (jp * k + pc) * NR;
                size_t ip = 0;
#if VL > 1
                for (; nr <= VL && (ip + TALL) * MR <= mc; ip += TALL) { /* tile_tall */
                    const size_t i0 = ic + ip * MR;
                    size_t o[TALL * MR];
                    const a_src_t A = a_rows(M, i0, TALL * MR, TALL * MR, pc, NULL, o);
                    tile_tall(kc, &A, bp, init, r, C + i0 * ldc + j0, ldc, V_MASK(nr));
                }
#endif
                for (; ip * MR < mc; ip++) {
                    const size_t mr = min_sz(MR, mc - ip * MR);
                    size_t o[MR];
                    const a_src_t A = a_rows(M, ic + ip * MR, mr, MR, pc, Ap + ip * MR * kc, o);
                    tile(kc, &A, bp, init, r, C + (ic + ip * MR) * ldc + j0, ldc, mr, nr);
                }
            }
        }
    }
}

void ot_kgemm(size_t m, size_t n, size_t k, const float *A, size_t lda, const float *Bp,
              const float *bias, float *C, size_t ldc, float *work)
{
    gemm(m, n, k, &(a_mat_t){A, lda, NULL, NULL}, Bp, bias, C, ldc, work);
}

void ot_kgemm_gather(size_t m, size_t n, size_t k, const float *x, const size_t *row,
                     const size_t *col, const float *Bp, const float *bias, float *C,
                     size_t ldc, float *work)
{
    gemm(m, n, k, &(a_mat_t){x, 0, row, col}, Bp, bias, C, ldc, work);
}

/* ---- rows of C here and there: a product added to scattered rows ---- */

/* The tile of MR rows and nv vectors (the last one's lanes `last`) at panel base Bp:
 * acc = C's rows o[i], acc += A's rows a[i] (k of them) times Bp, stored back. */
static inline __attribute__((always_inline)) void rows_tile(int nv, int masked, size_t k,
                                                            const float *const *a,
                                                            const float *restrict Bp,
                                                            float *const *o, vmask_t last)
{
#if defined(FULL_ROWS)
#define RT_LAST(p) (masked ? V_LOADN(p, last) : V_LOAD(p))
#define RT_DECL(i)                                                                         \
    const float *restrict a##i = a[i];                                                     \
    vf_t c##i##0 = nv == 1 ? RT_LAST(o[i]) : V_LOAD(o[i]);                                 \
    vf_t c##i##1 = nv == 1 ? V_ZERO() : RT_LAST(o[i] + VL);
#define RT_STEP(i)                                                                         \
    {                                                                                      \
        const vf_t xi = V_BCAST(a##i[p]);                                                  \
        c##i##0 = V_FMA(xi, b0, c##i##0);                                                  \
        if (nv > 1)                                                                        \
            c##i##1 = V_FMA(xi, b1, c##i##1);                                              \
    }
#define RT_STORE(i)                                                                        \
    if (nv == 1 && masked)                                                                 \
        V_STOREN(o[i], c##i##0, last);                                                     \
    else if (nv == 1)                                                                      \
        V_STORE(o[i], c##i##0);                                                            \
    else {                                                                                 \
        V_STORE(o[i], c##i##0);                                                            \
        if (masked)                                                                        \
            V_STOREN(o[i] + VL, c##i##1, last);                                            \
        else                                                                               \
            V_STORE(o[i] + VL, c##i##1);                                                   \
    }
    FULL_ROWS(RT_DECL)
    for (size_t p = 0; p < k; p++) {
        const vf_t b0 = V_LOAD(Bp + p * NR), b1 = nv > 1 ? V_LOAD(Bp + p * NR + VL) : V_ZERO();
        FULL_ROWS(RT_STEP)
    }
    FULL_ROWS(RT_STORE)
#undef RT_LAST
#undef RT_DECL
#undef RT_STEP
#undef RT_STORE
#else /* the portable build: NV one-float vectors, none partial */
    (void)last, (void)masked;
    vf_t c[MR][NV];
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < nv; v++)
            c[i][v] = V_LOAD(o[i] + v * VL);
    for (size_t p = 0; p < k; p++)
        for (int i = 0; i < MR; i++)
            for (int v = 0; v < nv; v++)
                c[i][v] = V_FMA(V_BCAST(a[i][p]), V_LOAD(Bp + p * NR + v * VL), c[i][v]);
    for (int i = 0; i < MR; i++)
        for (int v = 0; v < nv; v++)
            V_STORE(o[i] + v * VL, c[i][v]);
#endif
}

#if defined(FULL_ROWS)
/* rows_tile for the nm < MR rows of a short last tile: those rows' chains alone (repeating the
 * last row to fill MR cost a whole tile; model (e)'s positions leave 2.5 rows of it on
 * average). The same chains, so the same bits. */
static inline __attribute__((always_inline)) void rows_tile_short(int nm, int nv, int masked,
                                                                  size_t k,
                                                                  const float *const *a,
                                                                  const float *restrict Bp,
                                                                  float *const *o, vmask_t last)
{
    vf_t c[MR][2];
    for (int i = 0; i < nm; i++) {
        c[i][0] = nv == 1 && masked ? V_LOADN(o[i], last) : V_LOAD(o[i]);
        c[i][1] = nv == 1 ? V_ZERO() : masked ? V_LOADN(o[i] + VL, last) : V_LOAD(o[i] + VL);
    }
    for (size_t p = 0; p < k; p++) {
        const vf_t b0 = V_LOAD(Bp + p * NR), b1 = nv > 1 ? V_LOAD(Bp + p * NR + VL) : V_ZERO();
        for (int i = 0; i < nm; i++) {
            const vf_t xi = V_BCAST(a[i][p]);
            c[i][0] = V_FMA(xi, b0, c[i][0]);
            if (nv > 1)
                c[i][1] = V_FMA(xi, b1, c[i][1]);
        }
    }
    for (int i = 0; i < nm; i++) {
        if (nv == 1 && masked)
            V_STOREN(o[i], c[i][0], last);
        else
            V_STORE(o[i], c[i][0]);
        if (nv > 1 && masked)
            V_STOREN(o[i] + VL, c[i][1], last);
        else if (nv > 1)
            V_STORE(o[i] + VL, c[i][1]);
    }
}

/* rows_tile_short for every width class, nm rows. */
static inline __attribute__((always_inline)) void rows_short(int nm, size_t nr, size_t k,
                                                             const float *const *a,
                                                             const float *Bp, float *const *o,
                                                             vmask_t last)
{
    if (nr == NR)
        rows_tile_short(nm, 2, 0, k, a, Bp, o, last);
    else if (nr > VL)
        rows_tile_short(nm, 2, 1, k, a, Bp, o, last);
    else if (nr == VL)
        rows_tile_short(nm, 1, 0, k, a, Bp, o, last);
    else
        rows_tile_short(nm, 1, 1, k, a, Bp, o, last);
}
#endif

void ot_kgemm_acc_rows(size_t m, size_t n, size_t k, const float *A, size_t lda,
                       const float *Bp, size_t ldp, float *C, size_t ldc, const uint32_t *crow)
{
    for (size_t jp = 0; jp < n_panels(n); jp++) {
        const size_t j0 = jp * NR, nr = min_sz(NR, n - j0);
#if defined(FULL_ROWS)
        const int nv = nr > VL ? 2 : 1;
        const vmask_t last = V_MASK(nr - (size_t)(nv - 1) * VL);
#else
        const int nv = (int)((nr + VL - 1) / VL);
        const vmask_t last = V_MASK(VL);
#endif
        for (size_t i0 = 0; i0 < m; i0 += MR) {
            /* a short last tile repeats its last row, computing and storing it again */
            const float *a[MR];
            float *o[MR];
            for (size_t i = 0; i < MR; i++) {
                const size_t r = i0 + min_sz(i, m - i0 - 1);
                a[i] = A + r * lda;
                o[i] = C + (size_t)crow[r] * ldc + j0;
            }
            const float *bp = Bp + jp * ldp;
#if defined(FULL_ROWS)
            if (m - i0 < MR) {
                switch (m - i0) {
                case 1: rows_short(1, nr, k, a, bp, o, last); break;
                case 2: rows_short(2, nr, k, a, bp, o, last); break;
                case 3: rows_short(3, nr, k, a, bp, o, last); break;
                case 4: rows_short(4, nr, k, a, bp, o, last); break;
                case 5: rows_short(5, nr, k, a, bp, o, last); break;
#if MR > 6
                case 6: rows_short(6, nr, k, a, bp, o, last); break;
                case 7: rows_short(7, nr, k, a, bp, o, last); break;
#endif
                }
                continue;
            }
            if (nr == NR)
                rows_tile(2, 0, k, a, bp, o, last);
            else if (nv == 2)
                rows_tile(2, 1, k, a, bp, o, last);
            else if (nr == VL)
                rows_tile(1, 0, k, a, bp, o, last);
            else
                rows_tile(1, 1, k, a, bp, o, last);
#else
            switch (nv) {
            case 1: rows_tile(1, 0, k, a, bp, o, last); break;
            case 2: rows_tile(2, 0, k, a, bp, o, last); break;
            case 3: rows_tile(3, 0, k, a, bp, o, last); break;
            default: rows_tile(NV, 0, k, a, bp, o, last); break;
            }
#endif
        }
    }
}

size_t ot_kpack_rows_shift(size_t n, size_t k, const float *x, size_t ldx, const float *s,
                           float *A, size_t lda, uint32_t *idx)
{
    const size_t kv = k / VL * VL;
    const vmask_t last = V_MASK(k - kv > 0 ? k - kv : 1);
    size_t cnt = 0;
    for (size_t r = 0; r < n; r++) { /* stored, then kept when not all zero */
        const float *src = x + r * ldx;
        float *dst = A + cnt * lda;
        unsigned any = 0;
        for (size_t j = 0; j < kv; j += VL) {
            const vf_t v = V_SUB(V_LOAD(src + j), V_LOAD(s + j));
            V_STORE(dst + j, v);
            any |= V_NONZERO(v);
        }
        if (kv < k) {
            const vf_t v = V_SUB(V_LOADN(src + kv, last), V_LOADN(s + kv, last));
            V_STORE(dst + kv, v); /* lda leaves room for the whole vector */
            any |= V_NONZERO(v);
        }
        idx[cnt] = (uint32_t)r;
        cnt += any != 0;
    }
    (void)last;
    return cnt;
}

void ot_kaxpy_rows(size_t k, size_t n, const float *s, const float *W, size_t ldw, float *y)
{
    enum { BV = 8 }; /* vectors of y held at a time */
    for (size_t j0 = 0; j0 < n; j0 += BV * VL) {
        const size_t w = min_sz(BV * VL, n - j0), nv = (w + VL - 1) / VL;
        const vmask_t last = V_MASK(w - (nv - 1) * VL);
        vf_t acc[BV];
        for (size_t v = 0; v < BV; v++)
            acc[v] = v + 1 < nv ? V_LOAD(y + j0 + v * VL) : v + 1 == nv ? V_LOADN(y + j0 + v * VL, last)
                                                                    : V_ZERO();
        for (size_t f = 0; f < k; f++) {
            if (s[f] == 0.0f)
                continue;
            const vf_t sf = V_BCAST(s[f]);
            const float *row = W + f * ldw + j0;
            for (size_t v = 0; v + 1 < nv; v++)
                acc[v] = V_FMA(sf, V_LOAD(row + v * VL), acc[v]);
            acc[nv - 1] = V_FMA(sf, V_LOADN(row + (nv - 1) * VL, last), acc[nv - 1]);
        }
        for (size_t v = 0; v + 1 < nv; v++)
            V_STORE(y + j0 + v * VL, acc[v]);
        V_STOREN(y + j0 + (nv - 1) * VL, acc[nv - 1], last);
        (void)last;
    }
}

/* ---- the weight gradient over a tree of shards ---- */

/* Floats of a panel table: (MC / MR) panels' rows of uint32_t (idx) and segment ends (cseg). */
static size_t table_floats(size_t k, size_t leaves)
{
    return (MC / MR) * (k + 2 * (leaves + 1)) + 2; /* + 2: cseg's alignment */
}

size_t ot_kgemm_tree_work_size(size_t max_rows, size_t m, size_t n, size_t max_leaves,
                               size_t max_depth)
{
    (void)m;
    const size_t k = max_rows + max_leaves; /* a correction row per leaf (ot_kgemm_tn_tree_shift) */
    return ot_kpack_size(k, n) + MC * k + VL + table_floats(k, max_leaves) +
           max_depth * MR * NR;
}

/* One MR x NR tile of every leaf in width class (nv, half), combined through the stack. */
static inline __attribute__((always_inline)) void tree_body(int nv, int half,
                                                            const ot_ktree_t *t,
                                                            const size_t *seg,
                                                            const uint32_t *idx,
                                                            const float *Ap, size_t sa,
                                                            const float *Bp, float *stack,
                                                            float *direct, const float *ac,
                                                            size_t crow)
{
    size_t top = 0;
    for (size_t l = 0; l < t->n_leaves; l++) {
        size_t k0 = seg[l];
        acc_t a;
        acc_load(&a, MR, nv, half, NULL, 0);
        if (idx) {
            for (size_t p = k0; p < seg[l + 1]; p++)
                rank1(&a, MR, nv, half, Ap + p * sa, 1, NULL, Bp + (size_t)idx[p] * NR);
        } else {
            const a_src_t A = {Ap + k0 * sa, 1, sa, NULL, NULL};
            kloop(&a, MR, nv, half, seg[l + 1] - k0, &A, Bp + k0 * NR);
        }
        if (ac) /* the leaf's correction row */
            rank1(&a, MR, nv, half, ac, 1, NULL, Bp + (crow + l) * NR);
        for (unsigned m = t->merges[l]; m > 0; m--)
            acc_add(&a, MR, nv, half, stack + --top * MR * NR);
        if (direct && l + 1 == t->n_leaves) { /* the one root of a full tile: to its place */
            acc_store(&a, MR, nv, half, direct, t->ldr);
            return;
        }
        acc_store(&a, MR, nv, half, stack + top++ * MR * NR, NR);
    }
}

#if defined(FULL_ROWS)
/* tree_body for the full width class (NV vectors), the accumulators in named
 * variables as in full_tile (through acc_t they went to the stack and back around each leaf's
 * k loop): the same chains and the same adds in the same order. */
static inline __attribute__((always_inline)) void full_tree_body(const ot_ktree_t *t,
                                                                 const size_t *seg,
                                                                 const uint32_t *idx,
                                                                 const float *Ap, size_t sa,
                                                                 const float *Bp, float *stack,
                                                                 float *direct, int stream,
                                                                 const float *ac, size_t crow)
{
#define FT_DECL(i) vf_t c##i##0 = V_ZERO(), c##i##1 = V_ZERO();
#define FT_STEP(i)                                                                         \
    {                                                                                      \
        const vf_t xi = V_BCAST(xp[i]);                                                    \
        c##i##0 = V_FMA(xi, b0, c##i##0);                                                  \
        c##i##1 = V_FMA(xi, b1, c##i##1);                                                  \
    }
#define FT_ADD(i)                                                                          \
    c##i##0 = V_ADD(V_LOAD(node + (i) * NR), c##i##0);                                     \
    c##i##1 = V_ADD(V_LOAD(node + (i) * NR + VL), c##i##1);
#define FT_STORE(i)                                                                        \
    V_STORE(out + (i) * ld, c##i##0);                                                      \
    V_STORE(out + (i) * ld + VL, c##i##1);
#define FT_STREAM(i)                                                                       \
    V_STREAM(out + (i) * ld, c##i##0);                                                     \
    V_STREAM(out + (i) * ld + VL, c##i##1);
    size_t top = 0;
    for (size_t l = 0; l < t->n_leaves; l++) {
        FULL_ROWS(FT_DECL)
        for (size_t p = seg[l]; p < seg[l + 1]; p++) {
            const float *restrict xp = Ap + p * sa;
            const float *restrict bp = Bp + (idx ? (size_t)idx[p] : p) * NR;
            const vf_t b0 = V_LOAD(bp), b1 = V_LOAD(bp + VL);
            FULL_ROWS(FT_STEP)
        }
        if (ac) { /* the leaf's correction row */
            const float *restrict xp = ac, *restrict bp = Bp + (crow + l) * NR;
            const vf_t b0 = V_LOAD(bp), b1 = V_LOAD(bp + VL);
            FULL_ROWS(FT_STEP)
        }
        for (unsigned m = t->merges[l]; m > 0; m--) {
            const float *node = stack + --top * MR * NR;
            FULL_ROWS(FT_ADD)
        }
        const int last = direct && l + 1 == t->n_leaves; /* the one root: to its place */
        float *out = last ? direct : stack + top++ * MR * NR;
        const size_t ld = last ? t->ldr : NR;
        if (last && stream) {
            FULL_ROWS(FT_STREAM)
        } else {
            FULL_ROWS(FT_STORE)
        }
        if (last)
            return;
    }
#undef FT_DECL
#undef FT_STEP
#undef FT_ADD
#undef FT_STORE
#undef FT_STREAM
}
#endif

/* The tile at (i0, j0) of every leaf, combined; the roots' (mr, nr) corners are written to
 * t->roots, a full tile's past the caches with stream (see root_streams). */
static inline __attribute__((always_inline)) void tree_tile_rows(
    const ot_ktree_t *t, const size_t *seg, const uint32_t *idx, const float *restrict Ap,
    size_t sa, const float *restrict Bp, float *restrict stack, size_t i0, size_t j0, size_t mr,
    size_t nr, int stream, const float *ac, size_t crow)
{
    /* a full tile with one root is stored straight to it */
    float *direct = t->n_roots == 1 && mr == MR && nr == NR ? t->roots[0] + i0 * t->ldr + j0
                                                            : NULL;
    switch (width_class(nr)) {
    case 0:
        tree_body(0, 1, t, seg, idx, Ap, sa, Bp, stack, direct, ac, crow);
        break;
    case 1:
        tree_body(1, 0, t, seg, idx, Ap, sa, Bp, stack, direct, ac, crow);
        break;
    case 2:
        tree_body(1, 1, t, seg, idx, Ap, sa, Bp, stack, direct, ac, crow);
        break;
    default:
#if defined(FULL_ROWS)
        full_tree_body(t, seg, idx, Ap, sa, Bp, stack, direct, stream, ac, crow);
#else
        (void)stream;
        tree_body(NV, 0, t, seg, idx, Ap, sa, Bp, stack, direct, ac, crow);
#endif
        break;
    }
    if (direct)
        return;
    for (size_t r = 0; r < t->n_roots; r++)
        for (size_t i = 0; i < mr; i++)
            copy_row(t->roots[r] + (i0 + i) * t->ldr + j0, stack + r * MR * NR + i * NR, nr);
}

/* The tile at (i0, j0) of every leaf, each leaf rows t->seg of Ap and Bp. */
static void tree_tile(const ot_ktree_t *t, const float *restrict Ap, size_t sa,
                      const float *restrict Bp, float *restrict stack, size_t i0, size_t j0,
                      size_t mr, size_t nr, int stream)
{
    tree_tile_rows(t, t->seg, NULL, Ap, sa, Bp, stack, i0, j0, mr, nr, stream, NULL, 0);
}

/* The same from a panel without its zero rows (pack_xt_shift): leaf l is Ap's rows
 * [cseg[l], cseg[l + 1]), row p of them times Bp's row idx[p]. */
static void tree_tile_idx(const ot_ktree_t *t, const size_t *cseg, const uint32_t *idx,
                          const float *restrict Ap, const float *restrict Bp,
                          float *restrict stack, size_t i0, size_t j0, size_t mr, size_t nr,
                          int stream)
{
    tree_tile_rows(t, cseg, idx, Ap, MR, Bp, stack, i0, j0, mr, nr, stream, NULL, 0);
}

/* x^T's MR-row panel ip (features [i0, i0 + MR) of every row) packed, zero past m. A full
 * panel's row is one vector load and store (VL >= MR): the store's last VL - MR lanes fall on
 * the next row, written after it, and those of the panel's last row on the next panel's first
 * row (packed after this one) or on the VL floats of slack after the last (element by element,
 * this packing took 27% of the dW of model (e)'s 4320 x 100 layer, measured with perf). */
static void pack_xt(const float *x, size_t ldx, size_t m, size_t rows, size_t i0, float *Ap)
{
    size_t h = min_sz(MR, m - i0);
#if VL >= MR && VL > 1
    if (h == MR) {
        const vmask_t k = V_MASK(MR);
        for (size_t p = 0; p < rows; p++)
            V_STORE(Ap + p * MR, V_LOADN(x + p * ldx + i0, k));
        return;
    }
#endif
    for (size_t p = 0; p < rows; p++) {
        for (size_t ii = 0; ii < h; ii++)
            Ap[p * MR + ii] = x[p * ldx + i0 + ii];
        for (size_t ii = h; ii < MR; ii++)
            Ap[p * MR + ii] = 0.0f;
    }
}

/* x at most this many bytes (or dy at most two panels wide): x read in place instead of
 * packed (a full MR-row panel of x^T is MR adjacent columns of x). */
#define XT_IN_PLACE_BYTES (512u * 1024u)

/* Whether the full tiles of t's one (m, n) root go to memory with streaming stores: when it is
 * larger than a core's cache, so that its lines would be read from memory before being
 * written (the reduction and the update that read it next find it in memory either way),
 * and every tile row starts on a vector boundary. The same values: a store's kind changes no
 * bit. */
static int root_streams(const ot_ktree_t *t, size_t m, size_t n)
{
    return VL > 1 && t->n_roots == 1 && m * n * sizeof(float) > OT_L2_BYTES &&
           (uintptr_t)t->roots[0] % (VL * sizeof(float)) == 0 && t->ldr % VL == 0;
}

void ot_kgemm_tn_tree(size_t m, size_t n, const float *x, size_t ldx, const float *dy, size_t ldy,
                      const ot_ktree_t *t, float *work)
{
    const size_t rows = t->seg[t->n_leaves];
    /* work: packed dy | packed x^T block and VL floats of slack (pack_xt) | the stack (see
     * the size above) */
    float *Bp = work, *Ap = Bp + ot_kpack_size(rows, n), *stack = Ap + MC * rows + VL;
    const int stream = root_streams(t, m, n);
    ot_kpack_b(dy, ldy, false, rows, n, Bp, 0, SIZE_MAX, false);
    if (rows * m * sizeof(float) <= XT_IN_PLACE_BYTES || n_panels(n) <= 2) {
        /* only a ragged last panel is packed; the B panel stays in L1 while x streams (x is
         * read once per B panel: from L2 when it fits, and narrow outputs have one or two) */
        size_t full = m / MR * MR;
        if (full < m)
            pack_xt(x, ldx, m, rows, full, Ap);
        for (size_t jp = 0; jp < n_panels(n); jp++)
            for (size_t i0 = 0; i0 < m; i0 += MR)
                tree_tile(t, i0 < full ? x + i0 : Ap, i0 < full ? ldx : MR,
                          Bp + jp * rows * NR, stack, i0, jp * NR,
                          min_sz(MR, m - i0), min_sz(NR, n - jp * NR), stream);
    } else {
        for (size_t ic = 0; ic < m; ic += MC) {
            size_t mc = min_sz(MC, m - ic);
            /* A = x^T: feature rows [ic, ic + mc), every batch row, in MR-row panels */
            for (size_t ip = 0; ip * MR < mc; ip++)
                pack_xt(x, ldx, m, rows, ic + ip * MR, Ap + ip * MR * rows);
            for (size_t jp = 0; jp < n_panels(n); jp++)
                for (size_t ip = 0; ip * MR < mc; ip++)
                    tree_tile(t, Ap + ip * MR * rows, MR, Bp + jp * rows * NR, stack,
                              ic + ip * MR, jp * NR, min_sz(MR, mc - ip * MR),
                              min_sz(NR, n - jp * NR), stream);
        }
    }
    if (stream)
        V_STREAM_FENCE(); /* before the threads that read the root may look */
}

/* The dy panels and the leaves' correction rows packed as ot_kgemm_tn_tree_shift packs them:
 * kb = rows + leaves rows of NR floats a panel. */
static void pack_dy_corr(size_t n, const float *dy, size_t ldy, const float *corr, size_t rows,
                         size_t L, float *Bp)
{
    const size_t kb = rows + L;
    for (size_t jp = 0; jp < n_panels(n); jp++) {
        const size_t j0 = jp * NR, w = min_sz(NR, n - j0);
        float *dst = Bp + jp * kb * NR;
        for (size_t r = 0; r < rows; r++)
            copy_row_pad(dst + r * NR, dy + r * ldy + j0, w, false);
        for (size_t l = 0; l < L; l++)
            copy_row_pad(dst + (rows + l) * NR, corr + l * n + j0, w, false);
    }
}

/* Panel i0 of x'^T, x' = x - shift (features [i0, i0 + MR) of every row, zero past m), for
 * ot_kgemm_tn_tree_shift: leaf by leaf, its rows whose MR values are not all zero, then its
 * correction row (the panel's shift) unless that is zero, each with its row of the packed B in
 * idx (rows + l for leaf l's correction); cseg[l] the first of leaf l's. A row is stored
 * whole and then kept or written over, so that no branch depends on the data. Returns the
 * panel's rows. */
static size_t pack_xt_shift(const float *x, size_t ldx, size_t m, const ot_ktree_t *t, size_t i0,
                            const float *shift, float *Ap, uint32_t *idx, size_t *cseg)
{
    const size_t h = min_sz(MR, m - i0), rows = t->seg[t->n_leaves];
    size_t cnt = 0;
    cseg[0] = 0;
#if VL >= MR && VL > 1
    const vmask_t k = V_MASK(h);
    const vf_t sv = V_LOADN(shift + i0, k);
    const size_t live_s = V_NONZERO(sv) != 0;
    for (size_t l = 0; l < t->n_leaves; l++) {
        for (size_t p = t->seg[l]; p < t->seg[l + 1]; p++) {
            const vf_t v = V_SUB(V_LOADN(x + p * ldx + i0, k), sv);
            V_STORE(Ap + cnt * MR, v); /* lanes past MR fall on the next row, written after */
            idx[cnt] = (uint32_t)p;
            cnt += V_NONZERO(v) != 0;
        }
        V_STORE(Ap + cnt * MR, sv);
        idx[cnt] = (uint32_t)(rows + l);
        cnt += live_s;
        cseg[l + 1] = cnt;
    }
#else
    int live_s = 0;
    for (size_t ii = 0; ii < h; ii++)
        live_s |= shift[i0 + ii] != 0.0f;
    for (size_t l = 0; l < t->n_leaves; l++) {
        for (size_t p = t->seg[l]; p <= t->seg[l + 1]; p++) {
            const int corr = p == t->seg[l + 1];
            unsigned any = 0;
            for (size_t ii = 0; ii < MR; ii++) {
                const float v = ii >= h ? 0.0f : corr ? shift[i0 + ii]
                                                      : x[p * ldx + i0 + ii] - shift[i0 + ii];
                Ap[cnt * MR + ii] = v;
                any |= ot_bits_nonzero(v);
            }
            idx[cnt] = (uint32_t)(corr ? rows + l : p);
            cnt += corr ? (size_t)live_s : any;
        }
        cseg[l + 1] = cnt;
    }
#endif
    return cnt;
}

void ot_kgemm_tn_tree_shift(size_t m, size_t n, const float *x, size_t ldx, const float *shift,
                            const float *dy, size_t ldy, const float *corr, const ot_ktree_t *t,
                            float *work)
{
    const size_t rows = t->seg[t->n_leaves], L = t->n_leaves, kb = rows + L;
    /* work: packed dy and the correction rows | packed x'^T block and VL floats of slack |
     * the panels' tables | the stack */
    float *Bp = work, *Ap = Bp + ot_kpack_size(kb, n);
    uint32_t *idx = (uint32_t *)(Ap + MC * kb + VL);
    size_t *cseg = (size_t *)(((uintptr_t)(idx + (MC / MR) * kb) + sizeof(size_t) - 1) /
                              sizeof(size_t) * sizeof(size_t));
    float *stack = (float *)(cseg + (MC / MR) * (L + 1));
    const int stream = root_streams(t, m, n);
    pack_dy_corr(n, dy, ldy, corr, rows, L, Bp);
    for (size_t ic = 0; ic < m; ic += MC) {
        const size_t mc = min_sz(MC, m - ic);
        for (size_t ip = 0; ip * MR < mc; ip++)
            pack_xt_shift(x, ldx, m, t, ic + ip * MR, shift, Ap + ip * MR * kb, idx + ip * kb,
                          cseg + ip * (L + 1));
        for (size_t jp = 0; jp < n_panels(n); jp++)
            for (size_t ip = 0; ip * MR < mc; ip++)
                tree_tile_idx(t, cseg + ip * (L + 1), idx + ip * kb, Ap + ip * MR * kb,
                              Bp + jp * kb * NR, stack, ic + ip * MR, jp * NR,
                              min_sz(MR, mc - ip * MR), min_sz(NR, n - jp * NR), stream);
    }
    if (stream)
        V_STREAM_FENCE();
}

size_t ot_kgemm_mr(void)
{
    return MR;
}

size_t ot_kgemm_tn_tree_chunks_work_size(size_t max_rows, size_t n, size_t max_leaves,
                                         size_t max_depth)
{
    return ot_kpack_size(max_rows + max_leaves, n) + max_depth * MR * NR;
}

void ot_kgemm_tn_tree_chunks(size_t m, size_t n, const ot_kchunks_t *xs, const float *shift,
                             const float *dy, size_t ldy, const float *corr,
                             const ot_ktree_t *t, float *work)
{
    const size_t rows = t->seg[t->n_leaves], L = t->n_leaves, kb = rows + L, ch = xs->ch;
    float *Bp = work, *stack = Bp + ot_kpack_size(kb, n);
    const int stream = root_streams(t, m, n);
    pack_dy_corr(n, dy, ldy, corr, rows, L, Bp);
    /* chunk by chunk (its rows, in L1, against every dy panel), MR features of it a tile: a
     * panel's chains are those of ot_kgemm_tn_tree_shift with the chunk's rows whose MR
     * values are all zero added in as terms 0 dy, which change no bit */
    for (size_t q = 0; q * ch < m; q++) {
        const size_t *seg = xs->seg + q * (L + 1);
        for (size_t c0 = 0; c0 < ch; c0 += MR) {
            const size_t i0 = q * ch + c0;
            int live = 0; /* the panel's correction row: when its shift is not all zero */
            for (size_t i = 0; i < MR; i++)
                live |= (int)ot_bits_nonzero(shift[i0 + i]);
            for (size_t jp = 0; jp < n_panels(n); jp++)
                tree_tile_rows(t, seg, xs->idx, xs->A + c0, xs->lda, Bp + jp * kb * NR, stack,
                               i0, jp * NR, MR, min_sz(NR, n - jp * NR), stream,
                               live ? shift + i0 : NULL, rows);
        }
    }
    if (stream)
        V_STREAM_FENCE();
}

/* ---- the weight gradient of one leaf, in blocks of rows ---- */

size_t ot_kgemm_tn_acc_work_size(size_t max_rows, size_t n)
{
    return ot_kpack_size(max_rows, n);
}

#if MR == 8 && NV == 2
/* The last MR + 1 rows of x^T dy when the height leaves one row past a multiple of MR (a 5x5
 * or 3x3 convolution of one channel: 25 or 9 taps), as one tile of 2 (MR + 1) accumulators: the
 * odd row alone was a tile of NV chains, bound by the FMA latency and as slow as half a full
 * tile (AVX-512, 25 x 30 over 1152 rows: 24 rows 173 GFLOP/s, 25 rows 158). Columns in nv
 * vectors, the last one's lanes `last`; A through the gather offsets; every element the same
 * chain as in tile(), so the bits are too. */
#define PLUS1_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8)
static inline __attribute__((always_inline)) void plus1_body(int nv, size_t kc, const a_src_t *A,
                                                             const float *restrict Bp, int acc,
                                                             float *C, size_t ldc,
                                                             vmask_t last)
{
    const float *restrict x = A->x;
    const size_t *op = A->op;
#define P1_OFF(i) const size_t o##i = A->oi[i];
#define P1_INIT(i)                                                                         \
    vf_t c##i##0 = V_ZERO(), c##i##1 = V_ZERO();                                           \
    if (acc && nv == 1)                                                                    \
        c##i##0 = V_LOADN(C + (i) * ldc, last);                                            \
    else if (acc) {                                                                        \
        c##i##0 = V_LOAD(C + (i) * ldc);                                                   \
        c##i##1 = V_LOADN(C + (i) * ldc + VL, last);                                       \
    }
#define P1_STEP(i)                                                                         \
    {                                                                                      \
        const vf_t xi = V_BCAST(xp[o##i]);                                                 \
        c##i##0 = V_FMA(xi, b0, c##i##0);                                                  \
        if (nv > 1)                                                                        \
            c##i##1 = V_FMA(xi, b1, c##i##1);                                              \
    }
#define P1_STORE(i)                                                                        \
    if (nv == 1)                                                                           \
        V_STOREN(C + (i) * ldc, c##i##0, last);                                            \
    else {                                                                                 \
        V_STORE(C + (i) * ldc, c##i##0);                                                   \
        V_STOREN(C + (i) * ldc + VL, c##i##1, last);                                       \
    }
    PLUS1_ROWS(P1_OFF)
    PLUS1_ROWS(P1_INIT)
    for (size_t p = 0; p < kc; p++) {
        const float *restrict xp = x + op[p];
        const vf_t b0 = V_LOAD(Bp + p * NR), b1 = nv > 1 ? V_LOAD(Bp + p * NR + VL) : V_ZERO();
        PLUS1_ROWS(P1_STEP)
    }
    PLUS1_ROWS(P1_STORE)
#undef P1_OFF
#undef P1_INIT
#undef P1_STEP
#undef P1_STORE
}

/* plus1_body for nr columns (width classes 1 and 3: whole vectors, the last masked); 0 when
 * the class has a half vector, for tile() to take. */
static int tile_plus1(size_t kc, const a_src_t *A, const float *Bp, int acc, float *C,
                      size_t ldc, size_t nr)
{
    const int cls = width_class(nr);
    if (cls == 1)
        plus1_body(1, kc, A, Bp, acc, C, ldc, V_MASK(nr));
    else if (cls == 3)
        plus1_body(NV, kc, A, Bp, acc, C, ldc, V_MASK(nr - VL));
    return cls == 1 || cls == 3;
}
#endif

void ot_kgemm_tn_acc_gather(size_t m, size_t n, size_t rows, const float *x, const size_t *row,
                            const size_t *col, const float *dy, size_t ldy, float *C,
                            size_t ldc, int acc, float *work)
{
    float *Bp = work;
    if (rows == 0) {
        for (size_t i = 0; i < m && !acc; i++)
            memset(C + i * ldc, 0, n * sizeof(float));
        return;
    }
    ot_kpack_b(dy, ldy, false, rows, n, Bp, 0, SIZE_MAX, false);
    /* x^T's panel i0 reads x[row[r] + col[i0 + i]]; past m, the last column's offset again
     * (rows the tile computes and never stores) */
    for (size_t jp = 0; jp < n_panels(n); jp++)
        for (size_t i0 = 0; i0 < m; i0 += MR) {
            const size_t mr = min_sz(MR, m - i0), nr = min_sz(NR, n - jp * NR);
            size_t o[MR + 1];
            for (size_t i = 0; i <= MR; i++)
                o[i] = col[i0 + min_sz(i, mr - 1)];
            const a_src_t A = {x, 0, 0, o, row};
#if defined(PLUS1_ROWS)
            if (m - i0 == MR + 1) {
                o[MR] = col[m - 1];
                if (tile_plus1(rows, &A, Bp + jp * rows * NR, acc, C + i0 * ldc + jp * NR, ldc,
                               nr))
                    break;
            }
#endif
            tile(rows, &A, Bp + jp * rows * NR, acc ? INIT_C : INIT_ZERO, NULL,
                 C + i0 * ldc + jp * NR, ldc, mr, nr);
        }
}

/* ---- the weight gradient of a sparse x: the first layer on mostly-zero images ---- */



/* Columns of dy one pass of ot_kgemm_tn_tree_sparse covers: SP_NV vectors, kept in registers
 * with the leaf being formed. */
#define SP_NV 8
#define SP_COLS (SP_NV * VL)

/* CALL, an expression in the constant K, compiled for K = 1..SP_NV and run for K = nv: the
 * sparse kernels' vector count per column chunk, a constant in each copy of their loops. */
#define SP_K(k, CALL) V_CONST_CASE(k, K, CALL)
#define SP_DISPATCH(nv, CALL)                                                              \
    switch (nv) {                                                                          \
        SP_K(1, CALL)                                                                      \
        SP_K(2, CALL)                                                                      \
        SP_K(3, CALL)                                                                      \
        SP_K(4, CALL)                                                                      \
        SP_K(5, CALL)                                                                      \
        SP_K(6, CALL)                                                                      \
        SP_K(7, CALL)                                                                      \
    default:                                                                               \
        SP_K(8, CALL)                                                                      \
    }

/* lut[u] = u * scale for every byte u: a byte's float as a load, not a convert per entry. */
static void sp_lut(float lut[256], float scale)
{
    for (int u = 0; u < 256; u++)
        lut[u] = (float)u * scale;
}
/* The sparse weight gradient reads dy's column block SPW_BYTES at a time (a chunk of rows), each
 * chunk by every feature of a group of SPW_FEATS, so that the rows it reads come from L1; a
 * feature's leaf being formed and its stack of nodes wait in the workspace between chunks. The
 * block is first copied contiguous when dy has other columns: rows 4 KB apart fall into a few
 * cache sets, and a block of them would not stay in L1 or even L2. */
#define SPW_BYTES 40960
#define SPW_FEATS 64

size_t ot_kgemm_tree_sparse_work_size(size_t max_rows, size_t max_depth)
{
    return (max_rows + SPW_FEATS * (1 + max_depth)) * SP_COLS;
}

/* acc[0..nv) += x * the nv vectors at b, the last one masked by tail. */
static inline __attribute__((always_inline)) void sp_axpy(int nv, vf_t *acc, vf_t x,
                                                          const float *restrict b,
                                                          vmask_t tail)
{
    for (int v = 0; v < nv - 1; v++)
        acc[v] = V_FMA(x, V_LOAD(b + v * VL), acc[v]);
    acc[nv - 1] = V_FMA(x, V_LOADN(b + (nv - 1) * VL, tail), acc[nv - 1]);
    (void)tail; /* the portable build has no partial vectors */
}

/* The first w of a node's columns (nv vectors) to row dst. */
static inline __attribute__((always_inline)) void sp_store(const vf_t *a, int nv, size_t w,
                                                           float *dst, int stream)
{
    for (int v = 0; v < nv; v++) {
        const size_t left = w - (size_t)v * VL;
        if (left >= VL && stream) /* past the caches (root_streams) */
            V_STREAM(dst + v * VL, a[v]);
        else if (left >= VL)
            V_STORE(dst + v * VL, a[v]);
        else /* the last, partial vector */
            V_STOREN(dst + v * VL, a[v], V_MASK(left));
    }
}

static inline __attribute__((always_inline)) void sp_load(vf_t *a, int nv, const float *src)
{
    for (int v = 0; v < nv; v++)
        a[v] = V_LOAD(src + v * VL);
}

static inline __attribute__((always_inline)) void sp_keep(const vf_t *a, int nv, float *dst)
{
    for (int v = 0; v < nv; v++)
        V_STORE(dst + v * VL, a[v]);
}

/* Where a chunk starts, the same for every feature: leaves before l0 are done, leaving top
 * nodes on each feature's stack; leaf l0 began in an earlier chunk when seg[l0] < r0. */
typedef struct {
    size_t r0, r1, l0, top;
} sp_chunk_t;

#define SP_REG 3 /* stack nodes kept in registers (the cases of SP_POP and SP_PUSH) */

/* Feature i's part of a chunk, columns [c0, c0 + w) (nv vectors) of dy's block d (row stride
 * ld): for each leaf the chain over its rows where x is not zero, combined through the stack
 * (t->merges); the roots written when the last leaf is done. Within the chunk the leaf being
 * formed and the stack's first SP_REG nodes are in registers (every index below is a constant,
 * so the compiler keeps them there); between chunks, and for deeper nodes, they are in st:
 * st[0] the leaf, st[1 + j] node j. *cur: the feature's next entry. one: the chunk is the
 * whole call (a constant in each copy, so the checks for a chunk's edges fold away). stream:
 * the root's full vectors go past the caches (root_streams). */
static inline __attribute__((always_inline)) void sp_feature(int nv, const ot_ktree_t *t,
                                                             const ot_kcsc_t *xs, size_t m,
                                                             size_t i, const float *restrict d,
                                                             size_t ld, float *restrict st,
                                                             const sp_chunk_t *ch,
                                                             uint32_t *cur, size_t c0,
                                                             size_t w, vmask_t tail,
                                                             const float *restrict lut,
                                                             const int one, int stream)
{
    const uint32_t *restrict code = xs->code + i;
    const uint32_t *restrict ends = xs->ends + i;
    const size_t nl = t->n_leaves;
    vf_t a[SP_NV], s[SP_REG][SP_NV];
    if (ends[(nl - 1) * m] == 0) { /* x is zero in every row: every node is +0 */
        if (ch->r0 == 0) {
            for (int v = 0; v < nv; v++)
                a[v] = V_ZERO();
            for (size_t r = 0; r < t->n_roots; r++)
                sp_store(a, nv, w, t->roots[r] + i * t->ldr + c0, stream);
        }
        return;
    }
    size_t q = *cur, l = ch->l0, top = ch->top;
    const int begun = !one && t->seg[l] < ch->r0;
    if (begun && t->seg[l + 1] > ch->r1 &&
        (q == ends[l * m] || code[q * m] >> 8 >= ch->r1))
        return; /* no entry here and no leaf ends here: st holds the feature as it is */
    for (int j = 0; j < SP_REG; j++)
        if ((size_t)j < top)
            sp_load(s[j], nv, st + (1 + j) * SP_COLS);
        else
            for (int v = 0; v < nv; v++)
                s[j][v] = V_ZERO();
    if (begun)
        sp_load(a, nv, st);
    else
        for (int v = 0; v < nv; v++)
            a[v] = V_ZERO();
    for (; l < nl; l++) {
        const size_t qe = ends[l * m];
        if (!one && t->seg[l + 1] > ch->r1) { /* the leaf goes on past the chunk: to st */
            for (; q < qe && code[q * m] >> 8 < ch->r1; q++)
                sp_axpy(nv, a, V_BCAST(lut[code[q * m] & 255]),
                        d + (size_t)(code[q * m] >> 8) * ld, tail);
            sp_keep(a, nv, st);
            for (int j = 0; j < SP_REG; j++)
                if ((size_t)j < top)
                    sp_keep(s[j], nv, st + (1 + j) * SP_COLS);
            *cur = (uint32_t)q;
            return;
        }
        for (; q < qe; q++)
            sp_axpy(nv, a, V_BCAST(lut[code[q * m] & 255]),
                    d + (size_t)(code[q * m] >> 8) * ld, tail);
        for (unsigned k = t->merges[l]; k > 0; k--) {
            switch (--top) {
#define SP_POP(j)                                                                          \
    case j:                                                                                \
        for (int v = 0; v < nv; v++)                                                       \
            a[v] = V_ADD(s[j][v], a[v]);                                                   \
        break;
                SP_POP(0)
                SP_POP(1)
                SP_POP(2)
#undef SP_POP
            default:
                for (int v = 0; v < nv; v++)
                    a[v] = V_ADD(V_LOAD(st + (1 + top) * SP_COLS + v * VL), a[v]);
            }
        }
        if (t->n_roots == 1 && l + 1 == nl) { /* the whole tree: to its place */
            sp_store(a, nv, w, t->roots[0] + i * t->ldr + c0, stream);
            return;
        }
        switch (top++) {
#define SP_PUSH(j)                                                                         \
    case j:                                                                                \
        for (int v = 0; v < nv; v++)                                                       \
            s[j][v] = a[v];                                                                \
        break;
            SP_PUSH(0)
            SP_PUSH(1)
            SP_PUSH(2)
#undef SP_PUSH
        default:
            sp_keep(a, nv, st + top * SP_COLS);
        }
        for (int v = 0; v < nv; v++)
            a[v] = V_ZERO();
    }
    for (size_t r = 0; r < t->n_roots; r++) { /* the roots: the stack, bottom first */
        for (int v = 0; v < nv; v++)
            a[v] = r == 0 ? s[0][v] : r == 1 ? s[1][v] : r == 2 ? s[2][v]
                 : V_LOAD(st + (1 + r) * SP_COLS + v * VL);
        sp_store(a, nv, w, t->roots[r] + i * t->ldr + c0, stream);
    }
}

void ot_kgemm_tn_tree_sparse(size_t m, size_t n, const ot_kcsc_t *xs, const float *dy,
                             size_t ldy, const ot_ktree_t *t, float *work)
{
    const size_t rows = t->seg[t->n_leaves];
    float lut[256], *block = work, *state = work + rows * SP_COLS;
    const int stream = root_streams(t, m, n);
    size_t slots = 1; /* a feature's: its leaf being formed, then the stack's deepest */
    for (size_t l = 0, top = 0; l < t->n_leaves; l++) {
        top = top - t->merges[l] + 1;
        slots = top + 1 > slots ? top + 1 : slots;
    }
    sp_lut(lut, xs->scale);
    for (size_t c0 = 0; c0 < n; c0 += SP_COLS) {
        const size_t w = min_sz(SP_COLS, n - c0);
        const int nv = (int)((w + VL - 1) / VL);
        const vmask_t tail = V_MASK(w - (size_t)(nv - 1) * VL);
        const size_t chunk = SPW_BYTES / (w * sizeof(float));
        const float *d = dy + c0;
        size_t ld = ldy;
        if (ldy != w) { /* the block, contiguous */
            for (size_t r = 0; r < rows; r++)
                memcpy(block + r * w, dy + r * ldy + c0, w * sizeof(float));
            d = block, ld = w;
        }
        for (size_t f0 = 0; f0 < m; f0 += SPW_FEATS) {
            const size_t f1 = min_sz(f0 + SPW_FEATS, m);
            uint32_t cur[SPW_FEATS] = {0};
            sp_chunk_t ch = {0, 0, 0, 0};
            for (;; ch.r0 = ch.r1) {
                /* the last chunk reaches past every leaf, those without rows too */
                ch.r1 = rows - ch.r0 > chunk ? ch.r0 + chunk : SIZE_MAX;
                if (ch.r0 == 0 && ch.r1 == SIZE_MAX)
                    SP_DISPATCH(nv, for (size_t i = f0; i < f1; i++)
                                        sp_feature(K, t, xs, m, i, d, ld,
                                                   state + (i - f0) * slots * SP_COLS, &ch,
                                                   cur + (i - f0), c0, w, tail, lut, 1,
                                                   stream))
                else
                    SP_DISPATCH(nv, for (size_t i = f0; i < f1; i++)
                                        sp_feature(K, t, xs, m, i, d, ld,
                                                   state + (i - f0) * slots * SP_COLS, &ch,
                                                   cur + (i - f0), c0, w, tail, lut, 0,
                                                   stream))
                for (; ch.l0 < t->n_leaves && t->seg[ch.l0 + 1] <= ch.r1; ch.l0++)
                    ch.top = ch.top - t->merges[ch.l0] + 1;
                if (ch.l0 == t->n_leaves)
                    break;
            }
        }
    }
    if (stream)
        V_STREAM_FENCE(); /* before the threads that read the root may look */
}

/* ---- a sparse left operand: the first layer on mostly-zero images ---- */

/* The sparse forward reads a column block's rows of B SP_CHUNK_BYTES at a time (a chunk), each
 * chunk by every row of a group of SP_GROUP rows of X, so that B comes from L1 rather than L2 (a
 * block of 784 rows of 128 floats is 400 KB); a row's accumulators wait in C between chunks. */
#define SP_CHUNK_BYTES 65536
#define SP_GROUP 64

/* Columns [c0, c0 + w) of C (nv vectors, the last one masked by tail) for rows [0, m): each
 * element one FMA chain from the bias over the row's entries in order, carried in C (exactly)
 * from one chunk of B's rows to the next. */
static inline __attribute__((always_inline)) void sp_rows(int nv, size_t m, const ot_krows_t *x,
                                                          const float *B, size_t ldb,
                                                          const float *bias, float *C,
                                                          size_t ldc, size_t c0, vmask_t tail,
                                                          const float *restrict lut)
{
    vf_t b0[SP_NV];
    for (int v = 0; v < nv; v++)
        b0[v] = !bias ? V_ZERO() : v < nv - 1 ? V_LOAD(bias + c0 + v * VL)
                                              : V_LOADN(bias + c0 + v * VL, tail);
    const size_t kc = SP_CHUNK_BYTES / ((size_t)nv * VL * sizeof(float));
    for (size_t g = 0; g < m; g += SP_GROUP) {
        const size_t gm = min_sz(SP_GROUP, m - g);
        uint32_t cur[SP_GROUP]; /* each row's next entry */
        size_t kend = 0;        /* past the group's last column index */
        for (size_t r = 0; r < gm; r++) {
            const size_t n = x->n[g + r];
            cur[r] = 0;
            if (n > 0 && (size_t)x->pix[g + r][n - 1] + 1 > kend)
                kend = (size_t)x->pix[g + r][n - 1] + 1;
        }
        for (size_t k0 = 0; k0 == 0 || k0 < kend; k0 += kc) {
            const size_t k1 = k0 + kc;
            for (size_t r = 0; r < gm; r++) {
                const uint16_t *restrict pix = x->pix[g + r];
                const uint8_t *restrict val = x->val[g + r];
                const size_t n = x->n[g + r];
                size_t q = cur[r];
                float *o = C + (g + r) * ldc + c0;
                vf_t a[SP_NV];
                if (k0 == 0)
                    for (int v = 0; v < nv; v++)
                        a[v] = b0[v];
                else if (q == n || pix[q] >= k1)
                    continue; /* no entry in this chunk: C holds the chain */
                else {
                    for (int v = 0; v < nv - 1; v++)
                        a[v] = V_LOAD(o + v * VL);
                    a[nv - 1] = V_LOADN(o + (nv - 1) * VL, tail);
                }
                for (; q < n && pix[q] < k1; q++)
                    sp_axpy(nv, a, V_BCAST(lut[val[q]]), B + (size_t)pix[q] * ldb, tail);
                cur[r] = (uint32_t)q;
                for (int v = 0; v < nv - 1; v++)
                    V_STORE(o + v * VL, a[v]);
                V_STOREN(o + (nv - 1) * VL, a[nv - 1], tail);
            }
        }
    }
}

/* Column block by column block: block c0's rows at B + c0 with stride ldb (in place), or with
 * k > 0 at B + c0 k with the block's width as stride (ot_kpack_sp's panels). */
static void spmm(size_t m, size_t n, size_t k, const ot_krows_t *x, const float *B, size_t ldb,
                 const float *bias, float *C, size_t ldc)
{
    float lut[256];
    sp_lut(lut, x->scale);
    for (size_t c0 = 0; c0 < n; c0 += SP_COLS) {
        const size_t w = min_sz(SP_COLS, n - c0);
        const int nv = (int)((w + VL - 1) / VL);
        const vmask_t tail = V_MASK(w - (size_t)(nv - 1) * VL);
        const float *Bc = k ? B + c0 * k : B + c0;
        const size_t ld = k ? w : ldb;
        SP_DISPATCH(nv, sp_rows(K, m, x, Bc, ld, bias, C, ldc, c0, tail, lut))
    }
}

void ot_kspmm(size_t m, size_t n, const ot_krows_t *x, const float *B, size_t ldb,
              const float *bias, float *C, size_t ldc)
{
    spmm(m, n, 0, x, B, ldb, bias, C, ldc);
}

size_t ot_kspmm_cols(void)
{
    return SP_COLS;
}

void ot_kpack_sp(const float *B, size_t ldb, size_t k, size_t n, float *Bp, size_t k0, size_t k1)
{
    for (size_t c0 = 0; c0 < n; c0 += SP_COLS) {
        const size_t w = min_sz(SP_COLS, n - c0);
        for (size_t r = k0; r < k1; r++)
            memcpy(Bp + c0 * k + r * w, B + r * ldb + c0, w * sizeof(float));
    }
}

void ot_kspmm_packed(size_t m, size_t n, size_t k, const ot_krows_t *x, const float *Bp,
                     const float *bias, float *C, size_t ldc)
{
    spmm(m, n, k, x, Bp, 0, bias, C, ldc);
}

/* ---- a left operand with many zeros: the gradient below a ReLU ---- */

/* Rows of A a pass of ot_kgemm_skip takes together, and the vectors of C it holds of each:
 * 2 x 6 chains (whole panels in every build: 2 x 4 in the portable one, NV 4). The pair's
 * entries are the columns where either row is nonzero (below a ReLU the zeros of two rows
 * coincide often: in model (e), 32% of dy is zero and 24% of a pair's columns), so each load
 * of B feeds two FMAs: one row at a time, twelve loads of B an entry made the loads, not the
 * FMAs, its bound (1.19 times the dense kernel's time per FMA, measured). */
#define SKIP_G 2
#define SKIP_NV (NV == 4 ? 4 : 6)
#define SKIP_COLS (SKIP_NV * VL)

size_t ot_kgemm_skip_work_size(size_t max_m, size_t k)
{
    const size_t g = (max_m + SKIP_G - 1) / SKIP_G;
    const size_t lists = g + 1 + g * k * (1 + SKIP_G); /* starts; offsets and values */
    const size_t dense = ot_kgemm_work_size(k);
    return lists > dense ? lists : dense;
}

/* Columns [0, nv vectors) of C's rows [0, m), the last vector masked by tail, SKIP_G rows at a
 * time: each row an FMA chain from +0 over its group's entries start[g]..start[g + 1] in
 * order, entry e adding val[e SKIP_G + i] (row i of the group's value, maybe 0) times the row
 * of Bp at off[e] (a row's offset in its panel; the chunk's panels kNR floats apart). */
static inline __attribute__((always_inline)) void skip_rows(int nv, size_t m,
                                                            const uint32_t *restrict start,
                                                            const uint32_t *restrict off,
                                                            const float *restrict val,
                                                            const float *Bp, size_t kNR,
                                                            float *C, size_t ldc, vmask_t tail)
{
    for (size_t g = 0; g * SKIP_G < m; g++) {
        vf_t a[SKIP_G][SP_NV]; /* SP_DISPATCH's copies go to SP_NV; nv <= SKIP_NV runs */
        for (int i = 0; i < SKIP_G; i++)
            for (int v = 0; v < nv; v++)
                a[i][v] = V_ZERO();
        for (uint32_t e = start[g]; e < start[g + 1]; e++) {
            const float *b = Bp + off[e];
            vf_t x[SKIP_G];
            for (int i = 0; i < SKIP_G; i++)
                x[i] = V_BCAST(val[(size_t)e * SKIP_G + (size_t)i]);
            for (int v = 0; v < nv; v++) {
                const vf_t bv = V_LOAD(b + (size_t)(v / NV) * kNR + (size_t)(v % NV) * VL);
                for (int i = 0; i < SKIP_G; i++)
                    a[i][v] = V_FMA(x[i], bv, a[i][v]);
            }
        }
        for (int i = 0; i < SKIP_G && g * SKIP_G + (size_t)i < m; i++) {
            float *o = C + (g * SKIP_G + (size_t)i) * ldc;
            for (int v = 0; v < nv - 1; v++)
                V_STORE(o + v * VL, a[i][v]);
            V_STOREN(o + (nv - 1) * VL, a[i][nv - 1], tail);
        }
    }
    (void)tail; /* the portable build has no partial vectors */
}

size_t ot_kgemm_skip(size_t m, size_t n, size_t k, const float *A, size_t lda, const float *Bp,
                     float *C, size_t ldc, float skip_below, float *work)
{
    size_t cnt = 0;
    for (size_t r = 0; r < m; r++)
        for (size_t p = 0; p < k; p++)
            cnt += A[r * lda + p] != 0.0f;
    if ((float)cnt >= skip_below * (float)(m * k)) { /* too few zeros to pay */
        ot_kgemm(m, n, k, A, lda, Bp, NULL, C, ldc, work);
        return cnt;
    }
    const size_t groups = (m + SKIP_G - 1) / SKIP_G;
    uint32_t *start = (uint32_t *)(void *)work, *off = start + groups + 1;
    float *val = (float *)(void *)(off + groups * k);
    size_t e = 0;
    for (size_t g = 0; g < groups; g++) { /* each group's columns with a nonzero entry */
        start[g] = (uint32_t)e;
        for (size_t p = 0; p < k; p++) { /* written always, kept when not all zero */
            int any = 0;
            for (size_t i = 0; i < SKIP_G; i++) {
                const size_t r = g * SKIP_G + i;
                const float v = r < m ? A[r * lda + p] : 0.0f;
                val[e * SKIP_G + i] = v;
                any |= v != 0.0f;
            }
            off[e] = (uint32_t)(p * NR);
            e += (size_t)any;
        }
    }
    start[groups] = (uint32_t)e;
    _Static_assert(SKIP_COLS % NR == 0, "a chunk is whole panels");
    /* SKIP_NV vectors (whole panels) of C at a time, every group against them: a chunk of Bp
     * (k rows of SKIP_COLS floats) stays in L1 */
    for (size_t c0 = 0; c0 < n; c0 += SKIP_COLS) {
        const size_t w = min_sz(SKIP_COLS, n - c0);
        const int nv = (int)((w + VL - 1) / VL);
        const vmask_t tail = V_MASK(w - (size_t)(nv - 1) * VL);
        const float *Bc = Bp + c0 / NR * k * NR;
        SP_DISPATCH(nv, skip_rows(K, m, start, off, val, Bc, k * NR, C + c0, ldc, tail))
    }
    return cnt;
}

/* ---- column sums: a bias gradient ---- */

/* sum[0..nv vectors) += each of the m rows of x in order (the last vector masked by tail). */
static inline __attribute__((always_inline)) void col_sums(int nv, size_t m, const float *x,
                                                          size_t ldx, float *sum, vmask_t tail)
{
    vf_t a[SP_NV];
    for (int v = 0; v < nv - 1; v++)
        a[v] = V_LOAD(sum + v * VL);
    a[nv - 1] = V_LOADN(sum + (nv - 1) * VL, tail);
    for (size_t r = 0; r < m; r++) {
        const float *row = x + r * ldx;
        for (int v = 0; v < nv - 1; v++)
            a[v] = V_ADD(a[v], V_LOAD(row + v * VL));
        a[nv - 1] = V_ADD(a[nv - 1], V_LOADN(row + (nv - 1) * VL, tail));
    }
    for (int v = 0; v < nv - 1; v++)
        V_STORE(sum + v * VL, a[v]);
    V_STOREN(sum + (nv - 1) * VL, a[nv - 1], tail);
    (void)tail; /* the portable build has no partial vectors */
}

void ot_kcolsum(size_t m, size_t n, const float *x, size_t ldx, float *sum)
{
    for (size_t c0 = 0; c0 < n; c0 += SP_COLS) {
        const size_t w = min_sz(SP_COLS, n - c0);
        const int nv = (int)((w + VL - 1) / VL);
        const vmask_t tail = V_MASK(w - (size_t)(nv - 1) * VL);
        SP_DISPATCH(nv, col_sums(K, m, x + c0, ldx, sum + c0, tail))
    }
}
