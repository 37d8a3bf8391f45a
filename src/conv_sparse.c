/* conv_sparse.c - the weight gradient of the first convolution on mostly-zero one-channel
 * images (MNIST's digits are 81% zero pixels) from their nonzero pixels alone: dW = col^T dy
 * with every element the same FMA chain as ot_kgemm_tn_acc_gather computes over the column
 * matrix, the terms of zero pixels left out. Leaving out fma(0, d, a) = a changes no bit, so
 * the bits are the dense kernel's (tests/test_conv_sparse.c).
 *
 * An image is listed as its nonzero pixels in raster order, and its output positions worked
 * through in bands of a few rows (their dy in L1). For tap (ky, kx) a pixel feeds one output
 * position q, and the kernel adds v dy[q] to row k of dW, held in registers for a few taps at
 * a time: over the bands and, in each, the pixels in raster order, each element's chain runs
 * over q in increasing order, image after image, as the dense kernel's.
 *
 * Only the gradient: the forward from the same lists (a scatter of v W[k] into the outputs, or
 * per strip of outputs in registers) was slower than omptrain's dense GEMM on both vector
 * widths, and the gradient pays on AVX2 alone (ot_conv_sparse_below). */
#include <string.h>

#include "ot_conv.h"
#include "ot_simd.h"

/* Columns handled at once: CV vectors, the last one masked. */
#define CV 4
/* Bytes of a band's dy rows: in L1 with the rest. */
#define BAND_BYTES 16384

/* A nonzero pixel of an image's list. */
typedef struct {
    int32_t at;    /* where dy's row of the position its tap 0 feeds starts (as if inside the
                      output; tap k's starts off[k] rows before), in floats */
    uint32_t taps; /* bit k: tap k feeds a position inside the output */
    float v;       /* its value */
} pixel_t;

/* The work: an image's pixel list, then where each of its rows starts in it. */
size_t ot_conv_sparse_work_size(const ot_conv_geom_t *g)
{
    return g->h * g->w * sizeof(pixel_t) + (g->h + 1) * sizeof(uint32_t);
}

static uint32_t *row_starts(const ot_conv_geom_t *g, void *work)
{
    return (uint32_t *)(void *)((char *)work + g->h * g->w * sizeof(pixel_t));
}

/* One channel, stride 1, a tap mask in 32 bits; images up to 256 x 256 (padded), so that a
 * pixel's row offset fits in 32 bits for any filter count up to 2^15. */
int ot_conv_sparse_fits(const ot_conv_geom_t *g)
{
    return g->c == 1 && g->stride == 1 && g->kh * g->kw <= 32 && g->h + 2 * g->pad <= 256 &&
           g->w + 2 * g->pad <= 256;
}

/* Measured with omptrain bench, model (e) at 1 thread, the sparse gradient against the dense
 * kernel's (docs/benchmarks.md): AVX2, +12% at 19% nonzero (MNIST), even at 50%
 * (Fashion-MNIST); AVX-512, even at 19%, so below what MNIST has. The portable kernel's value
 * is not measured: half, as the Affine's. */
float ot_conv_sparse_below(void)
{
#if defined(OT_SIMD_AVX512)
    return 0.1f;
#elif defined(OT_SIMD_AVX2)
    return 0.4f;
#else
    return 0.5f;
#endif
}

size_t ot_conv_sparse_table_len(const ot_conv_geom_t *g)
{
    return g->kh * g->kw + g->h + g->w;
}

/* Bits of the taps (ky, kx) with lo <= ky < hi (row) or lo <= kx < hi (column). */
static uint32_t tap_bits(const ot_conv_geom_t *g, long lo, long hi, int row)
{
    uint32_t m = 0;
    for (size_t k = 0; k < g->kh * g->kw; k++) {
        const long t = (long)(row ? k / g->kw : k % g->kw);
        if (t >= lo && t < hi)
            m |= 1u << k;
    }
    return m;
}

/* tab: off[k] = ky ow + kx, the rows from tap 0's position back to tap k's; then for each
 * image row and column the taps that keep a pixel there inside the output. A pixel at padded
 * (py, px) feeds output (py - ky, px - kx) by tap (ky, kx): inside for py - oh < ky <= py,
 * likewise for kx. */
void ot_conv_sparse_tables(const ot_conv_geom_t *g, uint32_t *tab)
{
    const size_t K = g->kh * g->kw;
    for (size_t k = 0; k < K; k++)
        tab[k] = (uint32_t)(k / g->kw * g->ow + k % g->kw);
    for (size_t y = 0; y < g->h; y++) {
        const long py = (long)(y + g->pad);
        tab[K + y] = tap_bits(g, py - (long)g->oh + 1, py + 1, 1);
    }
    for (size_t i = 0; i < g->w; i++) {
        const long px = (long)(i + g->pad);
        tab[K + g->h + i] = tap_bits(g, px - (long)g->ow + 1, px + 1, 0);
    }
}

/* Bit i set where x[i] != 0, for n <= 64 floats. */
static inline uint64_t nonzero_bits(const float *x, size_t n)
{
    uint64_t m = 0;
    size_t i = 0;
#if defined(OT_SIMD_AVX512)
    for (; i < n; i += VL) {
        const vf_t v = n - i >= VL ? V_LOAD(x + i) : V_LOADN(x + i, V_MASK(n - i));
        m |= (uint64_t)_mm512_cmp_ps_mask(v, V_ZERO(), _CMP_NEQ_UQ) << i;
    }
#elif defined(OT_SIMD_AVX2)
    for (; i < n; i += VL) {
        const vf_t v = n - i >= VL ? V_LOAD(x + i) : V_LOADN(x + i, V_MASK(n - i));
        m |= (uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(v, V_ZERO(), _CMP_NEQ_UQ))
             << i;
    }
#else
    for (; i < n; i++)
        m |= (uint64_t)(x[i] != 0.0f) << i;
#endif
    return m;
}

/* The nonzero pixels of image x (g->h, g->w, one channel) in raster order, into list, their
 * rows' starts in units of scale floats; start[y]: the first of row y's (start[h]: the
 * count). */
static void list_pixels(const ot_conv_geom_t *g, const float *x, const uint32_t *tab,
                        size_t scale, pixel_t *list, uint32_t *start)
{
    const uint32_t *rows = tab + g->kh * g->kw, *cols = rows + g->h;
    size_t n = 0;
    for (size_t y = 0; y < g->h; y++) {
        start[y] = (uint32_t)n;
        const int32_t base = (int32_t)((y + g->pad) * g->ow + g->pad);
        for (size_t i0 = 0; i0 < g->w; i0 += 64) {
            const float *xr = x + y * g->w + i0;
            for (uint64_t m = nonzero_bits(xr, g->w - i0 < 64 ? g->w - i0 : 64); m;
                 m &= m - 1) {
                const size_t i = (size_t)__builtin_ctzll(m);
                list[n++] = (pixel_t){(base + (int32_t)(i0 + i)) * (int32_t)scale,
                                      rows[y] & cols[i0 + i], xr[i]};
            }
        }
    }
    start[g->h] = (uint32_t)n;
}

/* Output rows per band for rows of ld floats. */
static size_t band_rows(const ot_conv_geom_t *g, size_t ld)
{
    const size_t r = BAND_BYTES / (g->ow * ld * sizeof(float));
    return r ? r : 1;
}

/* The list's pixels that feed output rows [oy0, oy1) by taps of row ky: those of image rows
 * [oy0 + ky - pad, oy1 + ky - pad) within the image. */
static void band_pixels(const ot_conv_geom_t *g, const uint32_t *start, size_t oy0,
                        size_t oy1, size_t ky, size_t *i0, size_t *i1)
{
    const long lo = (long)(oy0 + ky) - (long)g->pad, hi = (long)(oy1 + ky) - (long)g->pad;
    const long a = lo < 0 ? 0 : lo > (long)g->h ? (long)g->h : lo;
    const long b = hi < 0 ? 0 : hi > (long)g->h ? (long)g->h : hi;
    *i0 = start[a], *i1 = start[b];
}

/* The vectors of columns [j, j + w) of a row: nv whole but the last, which is either masked by
 * tail (at (nv - 1) VL) or, with ovl, whole at last (w - VL: it overlaps the one before,
 * whose shared columns get the same chains twice, stored twice with the same bits). */
static inline __attribute__((always_inline)) void load_cols(vf_t *r, const float *row, int nv,
                                                            int ovl, size_t last, vmask_t tail)
{
    for (int v = 0; v < nv - 1; v++)
        r[v] = V_LOAD(row + v * VL);
    r[nv - 1] = ovl ? V_LOAD(row + last) : V_LOADN(row + (nv - 1) * VL, tail);
    (void)tail; /* the portable build has no partial vectors */
}

static inline __attribute__((always_inline)) void store_cols(float *row, const vf_t *r, int nv,
                                                             int ovl, size_t last, vmask_t tail)
{
    for (int v = 0; v < nv - 1; v++)
        V_STORE(row + v * VL, r[v]);
    if (ovl)
        V_STORE(row + last, r[nv - 1]);
    else
        V_STOREN(row + (nv - 1) * VL, r[nv - 1], tail);
    (void)tail;
}

/* Taps of one kernel row whose dW rows a pass holds in registers: 8 vectors' chains, or 12
 * when no vector is masked (then each dy load can be an FMA's operand, and 12 accumulators
 * and the pixel fit AVX2's 16 registers). */
#define DW_TAPS(nv, ovl) ((nv) >= ((ovl) ? 12 : 8) ? 1 : ((ovl) ? 12 : 8) / (nv))

/* dW's rows [k0, k1), columns [j, j + nv VL), += v dy[q] over the pixels of one image, a band
 * of output rows at a time and, in it, up to DW_TAPS taps of a kernel row at a time, so that
 * their chains hide each other's FMA latency. */
static inline __attribute__((always_inline)) void dw_cols(
    int nv, int ovl, const ot_conv_geom_t *g, const pixel_t *list, const uint32_t *start,
    const uint32_t *off, const float *dys, size_t F, size_t k0, size_t k1, float *dW,
    size_t last, vmask_t tail)
{
    enum { T = 12 };
    const int nt = DW_TAPS(nv, ovl);
    const size_t BH = band_rows(g, F);
    for (size_t oy0 = 0; oy0 < g->oh; oy0 += BH) {
        const size_t oy1 = g->oh - oy0 < BH ? g->oh : oy0 + BH;
        for (size_t k = k0; k < k1;) {
            const size_t ky = k / g->kw, row_end = (ky + 1) * g->kw;
            const size_t end = k1 < row_end ? k1 : row_end; /* this kernel row's taps */
            const int m = (int)(end - k < (size_t)nt ? end - k : (size_t)nt);
            size_t i0, i1;
            band_pixels(g, start, oy0, oy1, ky, &i0, &i1);
            vf_t a[T][CV];
            int32_t o[T];
            for (int t = 0; t < nt; t++) { /* taps past m: zeros, never stored */
                for (int u = 0; u < nv; u++)
                    a[t][u] = V_ZERO();
                o[t] = 0;
                if (t < m) {
                    load_cols(a[t], dW + (k + (size_t)t) * F, nv, ovl, last, tail);
                    o[t] = (int32_t)(off[k + (size_t)t] * F);
                }
            }
            for (size_t i = i0; i < i1; i++) {
                const vf_t v = V_BCAST(list[i].v);
                const uint32_t bits = list[i].taps >> k;
                for (int t = 0; t < nt; t++) {
                    if (t >= m || !(bits >> t & 1))
                        continue;
                    vf_t d[CV];
                    load_cols(d, dys + (list[i].at - o[t]), nv, ovl, last, tail);
                    for (int u = 0; u < nv; u++)
                        a[t][u] = V_FMA(v, d[u], a[t][u]);
                }
            }
            for (int t = 0; t < nt; t++)
                if (t < m)
                    store_cols(dW + (k + (size_t)t) * F, a[t], nv, ovl, last, tail);
            k += (size_t)m;
        }
    }
}

/* CALL, an expression in the constant NVC, compiled for NVC = 1..CV and run for nv. */
#define CV_CASE(k, CALL) V_CONST_CASE(k, NVC, CALL)
#define CV_DISPATCH(nv, CALL)                                                              \
    switch (nv) {                                                                          \
        CV_CASE(1, CALL)                                                                   \
        CV_CASE(2, CALL)                                                                   \
        CV_CASE(3, CALL)                                                                   \
    default:                                                                               \
        CV_CASE(4, CALL)                                                                   \
    }

void ot_conv_sparse_dw(const ot_conv_geom_t *g, const uint32_t *tab, const float *x, size_t n,
                       const float *dy, size_t F, size_t k0, size_t k1, float *dW, int acc,
                       void *work)
{
    const size_t P = g->oh * g->ow, in = g->h * g->w;
    pixel_t *list = work;
    uint32_t *start = row_starts(g, work);
    if (!acc)
        memset(dW + k0 * F, 0, (k1 - k0) * F * sizeof(float));
    for (size_t s = 0; s < n; s++) {
        list_pixels(g, x + s * in, tab, F, list, start);
        for (size_t j = 0; j < F; j += CV * VL) {
            const size_t w = F - j < CV * VL ? F - j : CV * VL;
            const int nv = (int)((w + VL - 1) / VL);
            const vmask_t tail = V_MASK(w - (size_t)(nv - 1) * VL);
            const float *dyj = dy + s * P * F + j;
            if (w >= VL) { /* the last vector ends at the block's end, all of it the block's */
                const size_t last = w - VL;
                CV_DISPATCH(nv, dw_cols(NVC, 1, g, list, start, tab, dyj, F, k0, k1, dW + j,
                                        last, tail))
            } else {
                CV_DISPATCH(nv, dw_cols(NVC, 0, g, list, start, tab, dyj, F, k0, k1, dW + j, 0,
                                        tail))
            }
        }
    }
}
