/* maxpool.c - the max-pooling kind: each output is the largest input of its window, per
 * channel. The gradient goes to the input that gave the maximum; of equal maxima the first in
 * window order (row by row, left to right) takes it, in the kernels and in the reference
 * alike. The forward records which tap of its window each maximum came from (a byte), the
 * backward routes the gradient there. Both also run a block of images at a time inside the
 * convolution before (ops->block_fwd, block_bwd; conv2d.c), the backward of a ReLU or Sigmoid
 * between them folded in when the windows do not overlap. */
#include <stdio.h>
#include <string.h>
/* the vector paths need AVX-512 F with the byte and 128-bit forms (BW, VL): every AVX-512 CPU
 * since Skylake-SP has them */
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__)
#define MAXPOOL_AVX512 1
#include <immintrin.h>
#elif defined(__AVX2__)
#define MAXPOOL_AVX2 1 /* the same paths in 8-channel vectors */
#include <immintrin.h>
#endif

#include "ot_common.h"

#include "ot_conv.h"
#include "ot_net.h"
#include "ot_onnx.h"

/* ---------------------------------------------------------------- the kernels */

/* Each tap's place in the window: (ky w + kx) c. */
static void tap_offsets(const ot_conv_geom_t *g, size_t *off)
{
    for (size_t t = 0; t < g->kh * g->kw; t++)
        off[t] = ((t / g->kw) * g->w + t % g->kw) * g->c;
}

/* Channels a general window handles at once: the running maxima and their taps on the stack. */
#define CH_CHUNK 64

/* The vector paths, written once over these: MP_VL channels a vector, its taps as 32-bit
 * lanes, masks for a last partial vector. */
#if defined(MAXPOOL_AVX512)
typedef __m512 mp_v;
typedef __m512i mp_vi;
typedef __mmask16 mp_k;
typedef __mmask16 mp_gt; /* a comparison's result */
#define MP_VL 16
#define MP_MAX_VECS 8 /* channels the backward's vector path takes: 128; wider, the loop */
#define MP_ZERO() _mm512_setzero_ps()
#define MP_LOAD(p) _mm512_loadu_ps(p)
#define MP_LOADN(p, k) _mm512_maskz_loadu_ps(k, p)
#define MP_STORE(p, v) _mm512_storeu_ps(p, v)
#define MP_STOREN(p, v, k) _mm512_mask_storeu_ps(p, k, v)
#define MP_ADD(a, b) _mm512_add_ps(a, b)
#define MP_GT(a, b) _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ)
#define MP_PICK(m, a, v) _mm512_mask_mov_ps(a, m, v) /* v where m, else a */
#define MP_PICKI(m, a, v) _mm512_mask_mov_epi32(a, m, v)
#define MP_ZEROI() _mm512_setzero_si512()
#define MP_SETI(t) _mm512_set1_epi32(t)
/* d where the lanes of tv equal t, +0 elsewhere */
#define MP_WHERE(tv, t, d) _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(tv, t), d)

/* The lanes below left (1 <= left <= 16) set. */
static inline mp_k mp_mask(size_t left)
{
    return (mp_k)((1u << left) - 1);
}

/* w (1 <= w <= 16) tap bytes as lanes, the rest zero. */
static inline mp_vi mp_load_taps(const uint8_t *p, size_t w)
{
    return _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(mp_mask(w), p));
}

/* The low byte of each of a's first w lanes to p: a whole vector's 16 bytes when whole. */
static inline void mp_store_taps(uint8_t *p, mp_vi a, size_t w, int whole)
{
    if (whole)
        _mm_storeu_si128((__m128i *)(void *)p, _mm512_cvtepi32_epi8(a));
    else
        _mm512_mask_cvtepi32_storeu_epi8(p, mp_mask(w), a);
}
#elif defined(MAXPOOL_AVX2)
typedef __m256 mp_v;
typedef __m256i mp_vi;
typedef __m256i mp_k;
typedef __m256 mp_gt;
#define MP_VL 8
#define MP_MAX_VECS 16
#define MP_ZERO() _mm256_setzero_ps()
#define MP_LOAD(p) _mm256_loadu_ps(p)
#define MP_LOADN(p, k) _mm256_maskload_ps(p, k)
#define MP_STORE(p, v) _mm256_storeu_ps(p, v)
#define MP_STOREN(p, v, k) _mm256_maskstore_ps(p, k, v)
#define MP_ADD(a, b) _mm256_add_ps(a, b)
#define MP_GT(a, b) _mm256_cmp_ps(a, b, _CMP_GT_OQ)
#define MP_PICK(m, a, v) _mm256_blendv_ps(a, v, m)
#define MP_PICKI(m, a, v) _mm256_blendv_epi8(a, v, _mm256_castps_si256(m))
#define MP_ZEROI() _mm256_setzero_si256()
#define MP_SETI(t) _mm256_set1_epi32(t)
#define MP_WHERE(tv, t, d) _mm256_and_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(tv, t)), d)

static inline mp_k mp_mask(size_t left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5,
                                                                              6, 7));
}

/* A whole vector's 8 bytes in one load; fewer byte by byte, since 8 could read past the
 * buffer. (Through a local copy the call to memcpy, and the 8-byte load of what it had just
 * stored a byte at a time, took a quarter of the backward: perf, model (e).) */
static inline mp_vi mp_load_taps(const uint8_t *p, size_t w)
{
    uint64_t u = 0;
    if (w == 8)
        memcpy(&u, p, 8);
    else
        for (size_t i = 0; i < w; i++)
            u |= (uint64_t)p[i] << (8 * i);
    return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)u));
}

static inline void mp_store_taps(uint8_t *p, mp_vi a, size_t w, int whole)
{
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1);
    const __m256i q = _mm256_shuffle_epi8(a, pick); /* 4 bytes at the start of each half */
    const __m128i bytes = _mm_unpacklo_epi32(_mm256_castsi256_si128(q),
                                             _mm256_extracti128_si256(q, 1));
    if (whole) {
        _mm_storel_epi64((__m128i *)(void *)p, bytes);
    } else {
        uint8_t tmp[16];
        _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
        memcpy(p, tmp, w);
    }
}
#endif

/* The window whose taps' channels start at tp[t] (kh kw of them) into best and at, for c
 * channels. A 2x2 window (the common one) has its four taps written out; any other runs tap by
 * tap over the channels.
 * Either way the taps go in window order, strictly greater replacing (a tie keeps the first),
 * and the tap is kept as a float so that every lane has one width and the loops vectorise. */
static inline __attribute__((always_inline)) void
window_max(const ot_conv_geom_t *g, const float *const *tp, float *restrict best,
           uint8_t *restrict at, size_t room)
{
    const size_t c = g->c;
#if defined(MP_VL)
    /* MP_VL channels a vector, the last ones masked: the compiler's loop left a channel count
     * like 30 with a scalar tail of 6 (AVX-512) or of 6 after three vectors (AVX2) that took
     * most of the time (perf, model (e)). Same comparisons in the same order, so the same maxima
     * and taps. The outputs of the windows after this one follow it and are written after it:
     * room floats (and bytes) from best on are the call's, so a last vector that fits in them
     * is stored whole (masked stores cost several plain ones), its extra lanes overwritten
     * later. */
#if defined(MAXPOOL_AVX2)
    /* At least a vector of channels (AVX2, whose masked loads and stores cost several plain
     * ones): the last vector is the last MP_VL channels, overlapping the one before it, whose
     * shared lanes it computes and stores again with the same values. No masks, nothing
     * stored outside this window's outputs. Faster than the masked loop below on AVX2 (model
     * (e)'s step, docs/benchmarks.md); AVX-512, whose masks cost little, keeps that loop. */
    if (g->kh == 2 && g->kw == 2 && c >= MP_VL) {
        const size_t nv = (c + MP_VL - 1) / MP_VL;
        for (size_t v = 0; v < nv; v++) {
            const size_t ch = v + 1 < nv ? v * MP_VL : c - MP_VL;
            mp_v b = MP_LOAD(tp[0] + ch);
            mp_vi a = MP_ZEROI();
            for (int t = 0; t < 3; t++) {
                const mp_v x = MP_LOAD(tp[t + 1] + ch);
                const mp_gt gt = MP_GT(x, b);
                a = MP_PICKI(gt, a, MP_SETI(t + 1));
                b = MP_PICK(gt, b, x);
            }
            MP_STORE(best + ch, b);
            mp_store_taps(at + ch, a, MP_VL, 1);
        }
        return;
    }
#endif
    if (g->kh == 2 && g->kw == 2) {
        for (size_t ch = 0; ch < c; ch += MP_VL) {
            const size_t left = c - ch < MP_VL ? c - ch : MP_VL;
            const mp_k k = mp_mask(left);
            mp_v b = left == MP_VL ? MP_LOAD(tp[0] + ch) : MP_LOADN(tp[0] + ch, k);
            mp_vi a = MP_ZEROI();
            for (int t = 0; t < 3; t++) {
                const float *p = tp[t + 1] + ch;
                const mp_v v = left == MP_VL ? MP_LOAD(p) : MP_LOADN(p, k);
                const mp_gt gt = MP_GT(v, b);
                a = MP_PICKI(gt, a, MP_SETI(t + 1));
                b = MP_PICK(gt, b, v);
            }
            const int whole = ch + MP_VL <= room;
            if (whole)
                MP_STORE(best + ch, b);
            else
                MP_STOREN(best + ch, b, k);
            mp_store_taps(at + ch, a, left, whole);
        }
        return;
    }
#else
    (void)room;
#endif
    if (g->kh == 2 && g->kw == 2) {
        for (size_t ch = 0; ch < c; ch++) {
            float b = tp[0][ch], a = 0.0f, v;
            v = tp[1][ch];
            a = v > b ? 1.0f : a;
            b = v > b ? v : b;
            v = tp[2][ch];
            a = v > b ? 2.0f : a;
            b = v > b ? v : b;
            v = tp[3][ch];
            a = v > b ? 3.0f : a;
            b = v > b ? v : b;
            best[ch] = b;
            at[ch] = (uint8_t)a;
        }
        return;
    }
    for (size_t c0 = 0; c0 < c; c0 += CH_CHUNK) {
        const size_t m = c - c0 < CH_CHUNK ? c - c0 : CH_CHUNK;
        float b[CH_CHUNK], a[CH_CHUNK];
        for (size_t ch = 0; ch < m; ch++) {
            b[ch] = tp[0][c0 + ch];
            a[ch] = 0.0f;
        }
        for (size_t t = 1; t < g->kh * g->kw; t++) {
            const float *restrict v = tp[t] + c0, ft = (float)t;
            for (size_t ch = 0; ch < m; ch++) {
                const int gt = v[ch] > b[ch];
                a[ch] = gt ? ft : a[ch];
                b[ch] = gt ? v[ch] : b[ch];
            }
        }
        for (size_t ch = 0; ch < m; ch++) {
            best[c0 + ch] = b[ch];
            at[c0 + ch] = (uint8_t)a[ch];
        }
    }
}

#if defined(MAXPOOL_AVX2)
/* 2x2 windows over 8 to 32 channels (nv vectors, the last one the last 8 channels, overlapping
 * the one before as in window_max): each vector's running maximum and tap as window_max forms
 * them (strictly greater replacing, in window order), so the same maxima and taps; then the
 * window's taps packed to bytes for all its vectors at once (two packs and a permute) rather
 * than vector by vector, and everything held in registers (nv a constant). Model (e)'s pooling
 * of its convolution's 24 x 24 x 30 output: docs/benchmarks.md. */
static inline __attribute__((always_inline)) void pool2_window(int nv, const float *const *q,
                                                               size_t last, float *restrict y,
                                                               uint8_t *restrict at)
{
    __m256i a[4];
    for (int v = 0; v < 4; v++)
        a[v] = _mm256_setzero_si256();
    for (int v = 0; v < nv; v++) {
        const size_t ch = v + 1 < nv ? (size_t)v * 8 : last;
        __m256 b = _mm256_loadu_ps(q[0] + ch);
        for (int t = 1; t < 4; t++) {
            const __m256 x = _mm256_loadu_ps(q[t] + ch);
            const __m256 gt = _mm256_cmp_ps(x, b, _CMP_GT_OQ);
            a[v] = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(a[v]),
                                                        _mm256_castsi256_ps(_mm256_set1_epi32(t)),
                                                        gt));
            b = _mm256_blendv_ps(b, x, gt);
        }
        _mm256_storeu_ps(y + ch, b);
    }
    /* bytes of a[0..3] in order: packs interleave the 128-bit halves, the permute undoes it */
    const __m256i w = _mm256_packus_epi16(_mm256_packs_epi32(a[0], a[1]),
                                          _mm256_packs_epi32(a[2], a[3]));
    const __m256i o = _mm256_permutevar8x32_epi32(w, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    const __m128i lo = _mm256_castsi256_si128(o), hi = _mm256_extracti128_si256(o, 1);
    for (int v = 0; v < nv; v++) {
        uint8_t *p = at + (v + 1 < nv ? (size_t)v * 8 : last);
        const __m128i h = v < 2 ? lo : hi;
        if (v % 2 == 0)
            _mm_storel_epi64((__m128i *)(void *)p, h);
        else
            _mm_storeh_pd((double *)(void *)p, _mm_castsi128_pd(h));
    }
}

#endif

/* 2x2 windows, the four taps' pointers by name, in registers: each window by pool2_window with
 * nv vectors (AVX2), or by window_max (nv 0). */
static inline __attribute__((always_inline)) void pool2(int nv, const ot_conv_geom_t *g,
                                                        const float *x,
                                                        const float *const *rows, size_t n,
                                                        float *y, uint8_t *tap)
{
    const size_t c = g->c, P = g->h * g->w, W = g->w, out = g->oh * g->ow * c;
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const size_t o = s * out + (oy * g->ow + ox) * c;
                const size_t at = s * P + oy * g->stride * W + ox * g->stride;
                const float *const q[4] = {
                    rows ? rows[at] : x + at * c, rows ? rows[at + 1] : x + (at + 1) * c,
                    rows ? rows[at + W] : x + (at + W) * c,
                    rows ? rows[at + W + 1] : x + (at + W + 1) * c};
#if defined(MAXPOOL_AVX2)
                if (nv > 0) {
                    pool2_window(nv, q, c - 8, y + o, tap + o);
                    continue;
                }
#else
                (void)nv;
#endif
                window_max(g, q, y + o, tap + o, n * out - o);
            }
}

/* The forward of both entry points: x's images, or (rows not NULL) each input position's
 * channels at rows[position], position s h w + iy w + ix. */
static void pool_forward(const ot_conv_geom_t *g, const float *x, const float *const *rows,
                         size_t n, float *y, uint8_t *tap)
{
    const size_t c = g->c, P = g->h * g->w, out = g->oh * g->ow * c, taps = g->kh * g->kw;
    size_t pos[OT_MAXPOOL_TAPS]; /* each tap's position from the window's first */
    const float *tp[OT_MAXPOOL_TAPS];
    for (size_t t = 0; t < taps; t++)
        pos[t] = t / g->kw * g->w + t % g->kw;
    if (g->kh == 2 && g->kw == 2) {
#if defined(MAXPOOL_AVX2)
        switch (c >= 8 && c <= 32 ? (c + 7) / 8 : 0) {
        case 1: pool2(1, g, x, rows, n, y, tap); return;
        case 2: pool2(2, g, x, rows, n, y, tap); return;
        case 3: pool2(3, g, x, rows, n, y, tap); return;
        case 4: pool2(4, g, x, rows, n, y, tap); return;
        }
#endif
        pool2(0, g, x, rows, n, y, tap);
        return;
    }
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const size_t o = s * out + (oy * g->ow + ox) * c;
                const size_t at = s * P + oy * g->stride * g->w + ox * g->stride;
                for (size_t t = 0; t < taps; t++)
                    tp[t] = rows ? rows[at + pos[t]] : x + (at + pos[t]) * c;
                window_max(g, tp, y + o, tap + o, n * out - o);
            }
}

void ot_maxpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y,
                        uint8_t *tap)
{
    pool_forward(g, x, NULL, n, y, tap);
}

void ot_maxpool_forward_rows(const ot_conv_geom_t *g, const float *const *rows, size_t n,
                             float *y, uint8_t *tap)
{
    pool_forward(g, NULL, rows, n, y, tap);
}

#if defined(MP_VL)
/* The backward of 2x2 windows that tile the input over at least a vector of channels, the
 * taps by name: nv vectors a window, a constant (AVX2, 8 to 32 channels, as pool2: its vectors
 * stay in registers), or 0 for as many as the channels take. */
static inline __attribute__((always_inline)) void unpool2(int nv, const ot_conv_geom_t *g,
                                                          const float *dy, const uint8_t *tap,
                                                          size_t n, float *dx)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c, W = g->w * c;
    const size_t nvec = nv > 0 ? (size_t)nv : (c + MP_VL - 1) / MP_VL;
    const mp_v zero = MP_ZERO();
    const mp_vi t1 = MP_SETI(1), t2 = MP_SETI(2), t3 = MP_SETI(3);
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++) {
            const float *d0 = dy + s * out + oy * g->ow * c;
            const uint8_t *a0 = tap + s * out + oy * g->ow * c;
            float *w0 = dx + s * in + oy * 2 * W;
            for (size_t ox = 0; ox < g->ow; ox++, d0 += c, a0 += c, w0 += 2 * c)
                for (size_t v = 0; v < nvec; v++) {
                    const size_t ch = v + 1 < nvec ? v * MP_VL : c - MP_VL;
                    const mp_vi tv = mp_load_taps(a0 + ch, MP_VL);
                    const mp_v d = MP_ADD(zero, MP_LOAD(d0 + ch));
                    MP_STORE(w0 + ch, MP_WHERE(tv, MP_ZEROI(), d));
                    MP_STORE(w0 + c + ch, MP_WHERE(tv, t1, d));
                    MP_STORE(w0 + W + ch, MP_WHERE(tv, t2, d));
                    MP_STORE(w0 + W + c + ch, MP_WHERE(tv, t3, d));
                }
        }
}
#endif

void ot_maxpool_backward(const ot_conv_geom_t *g, const float *dy, const uint8_t *tap,
                         size_t n, float *dx)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    size_t off[OT_MAXPOOL_TAPS];
    tap_offsets(g, off);
#if defined(MP_VL)
    /* Windows that tile the input exactly (stride = window, no rows or columns left over; 2x2
     * stride 2 on an even side): every input is in one window, so each window's taps are
     * written whole, MP_VL channels a vector: 0 + dy where the tap was the maximum (the sum the
     * scalar loop forms, -0 included), 0 elsewhere. No zeroing pass, no read of dx. */
    const int tiles = g->stride == g->kh && g->stride == g->kw && g->oh * g->kh == g->h &&
                      g->ow * g->kw == g->w && g->pad == 0 && g->kh * g->kw <= 16;
    /* With at least a vector of channels, the last vector is the last MP_VL channels,
     * overlapping the one before it (the shared lanes written twice, the same values): no
     * masks, nothing written outside the window's own inputs, so the taps go in any order.
     * About half the time of the loop below in model (e)'s AVX2 step (perf;
     * docs/benchmarks.md). */
    if (tiles && g->c >= MP_VL && g->kh == 2 && g->kw == 2) { /* the taps by name */
#if defined(MAXPOOL_AVX2)
        switch (c <= 32 ? (c + 7) / 8 : 0) {
        case 1: unpool2(1, g, dy, tap, n, dx); return;
        case 2: unpool2(2, g, dy, tap, n, dx); return;
        case 3: unpool2(3, g, dy, tap, n, dx); return;
        case 4: unpool2(4, g, dy, tap, n, dx); return;
        }
#endif
        unpool2(0, g, dy, tap, n, dx);
        return;
    }
    if (tiles && g->c >= MP_VL) {
        const mp_v zero = MP_ZERO();
        const size_t taps = g->kh * g->kw, nv = (c + MP_VL - 1) / MP_VL;
        for (size_t s = 0; s < n; s++)
            for (size_t oy = 0; oy < g->oh; oy++)
                for (size_t ox = 0; ox < g->ow; ox++) {
                    const size_t o = s * out + (oy * g->ow + ox) * c;
                    float *win = dx + s * in + (oy * g->stride * g->w + ox * g->stride) * c;
                    for (size_t v = 0; v < nv; v++) {
                        const size_t ch = v + 1 < nv ? v * MP_VL : c - MP_VL;
                        const mp_vi tv = mp_load_taps(tap + o + ch, MP_VL);
                        const mp_v d = MP_ADD(zero, MP_LOAD(dy + o + ch));
                        for (size_t t = 0; t < taps; t++)
                            MP_STORE(win + off[t] + ch, MP_WHERE(tv, MP_SETI((int)t), d));
                    }
                }
        return;
    }
    if (tiles && g->c <= MP_VL * MP_MAX_VECS) {
        const mp_v zero = MP_ZERO();
        const size_t taps = g->kh * g->kw, nv = (c + MP_VL - 1) / MP_VL;
        const size_t lastw = c - (nv - 1) * MP_VL;
        const mp_k kt = mp_mask(lastw); /* the last vector */
        size_t trow[16]; /* each tap's row in the window */
        for (size_t t = 0; t < taps; t++)
            trow[t] = t / g->kw;
        for (size_t s = 0; s < n; s++)
            for (size_t oy = 0; oy < g->oh; oy++)
                for (size_t ox = 0; ox < g->ow; ox++) {
                    const size_t o = s * out + (oy * g->ow + ox) * c;
                    float *win = dx + s * in + (oy * g->stride * g->w + ox * g->stride) * c;
                    mp_vi tv[MP_MAX_VECS];
                    mp_v d[MP_MAX_VECS];
                    for (size_t v = 0; v < nv; v++) {
                        const int last = v + 1 == nv;
                        const float *p = dy + o + v * MP_VL;
                        tv[v] = mp_load_taps(tap + o + v * MP_VL, last ? lastw : MP_VL);
                        d[v] = MP_ADD(zero, last ? MP_LOADN(p, kt) : MP_LOAD(p));
                    }
                    /* taps in window order: within an image row, what lies past a tap's
                     * channels belongs to the window's later taps or to later windows, written
                     * afterwards, so a last vector that ends inside the row is stored whole */
                    for (size_t t = 0; t < taps; t++) {
                        const float *row_end =
                            dx + s * in + ((oy * g->stride + trow[t]) * g->w + g->w) * c;
                        const mp_vi tt = MP_SETI((int)t);
                        for (size_t v = 0; v < nv; v++) {
                            const mp_v val = MP_WHERE(tv[v], tt, d[v]);
                            float *w = win + off[t] + v * MP_VL;
                            if (v + 1 < nv || w + MP_VL <= row_end)
                                MP_STORE(w, val);
                            else
                                MP_STOREN(w, val, kt);
                        }
                    }
                }
        return;
    }
#endif
    memset(dx, 0, n * in * sizeof(float));
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const size_t o = s * out + (oy * g->ow + ox) * c;
                float *win = dx + s * in + (oy * g->stride * g->w + ox * g->stride) * c;
                for (size_t ch = 0; ch < c; ch++)
                    win[off[tap[o + ch]] + ch] += dy[o + ch];
            }
}

/* ---------------------------------------------------------------- the kind */

/* Its buffers in an engine: the tap of every output of the batch. */
typedef struct {
    uint8_t *tap; /* (max_batch, out_size) */
} maxpool_rt_t;

static void rt_free(void *p)
{
    maxpool_rt_t *rt = p;
    if (rt)
        ot_free(rt->tap);
    ot_free(rt);
}

static int setup(const ot_layer_t *L, size_t B, size_t n_shards, void **out)
{
    (void)n_shards;
    maxpool_rt_t *rt = ot_alloc(sizeof *rt);
    *out = rt;
    if (!rt || !(rt->tap = ot_alloc(B * L->out_size)))
        return OT_ENOMEM;
    return OT_OK;
}

static size_t rt_bytes(const ot_layer_t *L, size_t B, size_t n_shards)
{
    (void)n_shards;
    return sizeof(maxpool_rt_t) + B * L->out_size;
}

/* a window's taps must fit the byte that records them */
static int shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, L);
    /* first whether the window fits its input at all (a flat vector, an image smaller than
     * it): that is the mistake to name, and avgpool would not fix it */
    if (ot_pool_shape(L, c, err, n) < 0)
        return -1;
    if (a->kh * a->kw > OT_MAXPOOL_TAPS) {
        snprintf(err, n, "a %zux%zu window has %zu inputs, expected at most %d (the arg-max of "
                 "each window is kept in a byte; avgpool takes any window)", a->kh, a->kw,
                 a->kh * a->kw, OT_MAXPOOL_TAPS);
        return -1;
    }
    return 0;
}

/* Samples [s0, s1) of the call: x and dx their rows, the output and the taps at sample s0's
 * place. A ReLU or Sigmoid before the pooling (c->post_bwd) is folded into the backward: a
 * window's maximum is the input that gets its gradient, so the element-wise backward at that
 * input, a function of its output, is the one at the window's output; every other input gets
 * +0 either way. */
static void block_fwd(const ot_layer_t *L, const ot_ctx_t *c, const float *x,
                      const float *const *rows, size_t s0, size_t s1)
{
    const maxpool_rt_t *rt = c->rt;
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t out = L->out_size;
    float *y = c->y + s0 * out;
    uint8_t *tap = rt->tap + (c->r0 + s0) * out;
    if (rows) /* the entry points the kernel tests run */
        ot_maxpool_forward_rows(&g, rows, s1 - s0, y, tap);
    else
        ot_maxpool_forward(&g, x, s1 - s0, y, tap);
}

static void block_bwd(const ot_layer_t *L, const ot_ctx_t *c, float *dx, size_t s0, size_t s1)
{
    const maxpool_rt_t *rt = c->rt;
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t out = L->out_size;
    float *dy = c->dy + s0 * out;
    if (c->post_bwd)
        c->post_bwd(c->y + s0 * out, dy, (s1 - s0) * out);
    ot_maxpool_backward(&g, dy, rt->tap + (c->r0 + s0) * out, s1 - s0, dx);
}

/* Windows that do not overlap: an input has at most one output's gradient. */
static int folds(const ot_layer_t *L)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    return g.stride >= g.kh && g.stride >= g.kw;
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    block_fwd(L, c, c->x, NULL, 0, c->n);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    block_bwd(L, c, c->dx, 0, c->n);
}

/* Each window's largest value of in. */
static int blank(const ot_layer_t *L, const float *params, const float *in, float *out)
{
    (void)params;
    const ot_conv_geom_t g = ot_pool_geom(L);
    for (size_t oy = 0; oy < g.oh; oy++)
        for (size_t ox = 0; ox < g.ow; ox++)
            for (size_t ch = 0; ch < g.c; ch++) {
                const float *at = in + (oy * g.stride * g.w + ox * g.stride) * g.c + ch;
                float m = at[0];
                for (size_t ky = 0; ky < g.kh; ky++)
                    for (size_t kx = 0; kx < g.kw; kx++)
                        m = at[(ky * g.w + kx) * g.c] > m ? at[(ky * g.w + kx) * g.c] : m;
                out[(oy * g.ow + ox) * g.c + ch] = m;
            }
    return 0;
}

/* The arg-max is the kink: recorded at the unperturbed point, then kept, so that a
 * perturbation that changes which input is largest does not mix two pieces. */
static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t c = g.c, in = L->in_size, out = L->out_size;
    uint32_t *rec = (uint32_t *)(void *)r->mask;
    for (size_t s = 0; s < r->n; s++)
        for (size_t oy = 0; oy < g.oh; oy++)
            for (size_t ox = 0; ox < g.ow; ox++)
                for (size_t ch = 0; ch < c; ch++) {
                    const size_t o = s * out + (oy * g.ow + ox) * c + ch;
                    if (r->record) {
                        size_t at = (oy * g.stride * g.w + ox * g.stride) * c + ch;
                        for (size_t ky = 0; ky < g.kh; ky++)
                            for (size_t kx = 0; kx < g.kw; kx++) {
                                size_t i = ((oy * g.stride + ky) * g.w + ox * g.stride + kx) * c + ch;
                                if (x[s * in + i] > x[s * in + at])
                                    at = i;
                            }
                        rec[o] = (uint32_t)at;
                    }
                    y[o] = x[s * in + rec[o]];
                }
}

static size_t ref_mask(const ot_layer_t *L)
{
    return L->out_size * sizeof(uint32_t);
}

static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)params, (void)state;
    return ot_pool_onnx(L, g, "MaxPool");
}

const ot_layer_ops_t ot_maxpool_ops = {
    .kind = "maxpool",
    .usage = "maxpool WINDOW [stride S] (e.g. maxpool 2, maxpool 3x3 stride 2)",
    .example = "conv 3 3x3 pad 1, maxpool 2",
    .parse = ot_pool_parse,
    .format = ot_pool_format,
    .shape = shape,
    .setup = setup,
    .free = rt_free,
    .bytes = rt_bytes,
    .forward = forward,
    .backward = backward,
    .block_fwd = block_fwd,
    .block_bwd = block_bwd,
    .folds = folds,
    .blank = blank,
    .reference = reference,
    .ref_mask = ref_mask,
    .onnx = onnx,
};
