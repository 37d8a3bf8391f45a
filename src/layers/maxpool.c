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

/* Channels (in vectors of 16, or of 8 with AVX2) the backward's vector path takes; wider
 * layers take the loop. */
#define OT_CONV_MAX_VECS 8
#define AVX2_MAX_VECS 16

/* Channels a general window handles at once: the running maxima and their taps on the stack. */
#define CH_CHUNK 64

#if defined(MAXPOOL_AVX2)
/* The lanes below left (1 <= left <= 8) set. */
static inline __m256i avx2_mask(size_t left)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)left), _mm256_setr_epi32(0, 1, 2, 3, 4, 5,
                                                                              6, 7));
}

/* The low byte of each of a's 8 lanes (each 0..255), in order, in the low 8 bytes. */
static inline __m128i avx2_low_bytes(__m256i a)
{
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, -1);
    const __m256i p = _mm256_shuffle_epi8(a, pick); /* 4 bytes at the start of each half */
    return _mm_unpacklo_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}
#endif

/* The window at img (row stride W floats) into best and at, for c channels. A 2x2 window (the
 * common one) has its four taps written out; any other runs tap by tap over the channels.
 * Either way the taps go in window order, strictly greater replacing (a tie keeps the first),
 * and the tap is kept as a float so that every lane has one width and the loops vectorise. */
static void window_max(const ot_conv_geom_t *g, const size_t *off, const float *restrict img,
                       float *restrict best, uint8_t *restrict at, size_t room)
{
    const size_t c = g->c, W = g->w * c;
#if defined(MAXPOOL_AVX512)
    /* 16 channels a vector, the last ones masked: the compiler's loop left a channel count
     * like 30 with a scalar tail of 6 that took most of the time (perf, model (e)). Same
     * comparisons in the same order, so the same maxima and taps. The outputs of the windows
     * after this one follow it and are written after it: room floats (and bytes) from best on
     * are the call's, so a last vector that fits in them is stored whole (masked stores cost
     * several plain ones here), its extra lanes overwritten later. */
    if (g->kh == 2 && g->kw == 2) {
        for (size_t ch = 0; ch < c; ch += 16) {
            const __mmask16 k = c - ch >= 16 ? (__mmask16)0xFFFF
                                             : (__mmask16)((1u << (c - ch)) - 1);
            __m512 b = _mm512_maskz_loadu_ps(k, img + ch);
            __m512i a = _mm512_setzero_si512();
            const size_t o[3] = {c, W, W + c};
            for (int t = 0; t < 3; t++) {
                const __m512 v = _mm512_maskz_loadu_ps(k, img + o[t] + ch);
                const __mmask16 gt = _mm512_cmp_ps_mask(v, b, _CMP_GT_OQ);
                a = _mm512_mask_mov_epi32(a, gt, _mm512_set1_epi32(t + 1));
                b = _mm512_mask_mov_ps(b, gt, v);
            }
            if (ch + 16 <= room) {
                _mm512_storeu_ps(best + ch, b);
                _mm_storeu_si128((__m128i *)(at + ch), _mm512_cvtepi32_epi8(a));
            } else {
                _mm512_mask_storeu_ps(best + ch, k, b);
                _mm512_mask_cvtepi32_storeu_epi8(at + ch, k, a);
            }
        }
        return;
    }
#elif defined(MAXPOOL_AVX2)
    /* as above, 8 channels a vector (model (e)'s 30 channels: 3 vectors and a scalar tail of 6
     * in the compiler's loop). The taps' bytes leave through a local copy when the last vector
     * does not fit in room. */
    if (g->kh == 2 && g->kw == 2) {
        const size_t o[3] = {c, W, W + c};
        for (size_t ch = 0; ch < c; ch += 8) {
            const size_t left = c - ch < 8 ? c - ch : 8;
            const __m256i k = avx2_mask(left);
            __m256 b = left == 8 ? _mm256_loadu_ps(img + ch) : _mm256_maskload_ps(img + ch, k);
            __m256i a = _mm256_setzero_si256();
            for (int t = 0; t < 3; t++) {
                const float *p = img + o[t] + ch;
                const __m256 v = left == 8 ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, k);
                const __m256 gt = _mm256_cmp_ps(v, b, _CMP_GT_OQ);
                a = _mm256_blendv_epi8(a, _mm256_set1_epi32(t + 1), _mm256_castps_si256(gt));
                b = _mm256_blendv_ps(b, v, gt);
            }
            const __m128i bytes = avx2_low_bytes(a);
            if (ch + 8 <= room) {
                _mm256_storeu_ps(best + ch, b);
                _mm_storel_epi64((__m128i *)(void *)(at + ch), bytes);
            } else {
                uint8_t tmp[16];
                _mm256_maskstore_ps(best + ch, k, b);
                _mm_storeu_si128((__m128i *)(void *)tmp, bytes);
                memcpy(at + ch, tmp, left);
            }
        }
        return;
    }
#else
    (void)room;
#endif
    if (g->kh == 2 && g->kw == 2) {
        for (size_t ch = 0; ch < c; ch++) {
            float b = img[ch], a = 0.0f, v;
            v = img[c + ch];
            a = v > b ? 1.0f : a;
            b = v > b ? v : b;
            v = img[W + ch];
            a = v > b ? 2.0f : a;
            b = v > b ? v : b;
            v = img[W + c + ch];
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
            b[ch] = img[c0 + ch];
            a[ch] = 0.0f;
        }
        for (size_t t = 1; t < g->kh * g->kw; t++) {
            const float *restrict v = img + off[t] + c0, ft = (float)t;
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

void ot_maxpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y,
                        uint8_t *tap)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    size_t off[OT_MAXPOOL_TAPS];
    tap_offsets(g, off);
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < g->oh; oy++)
            for (size_t ox = 0; ox < g->ow; ox++) {
                const size_t o = s * out + (oy * g->ow + ox) * c;
                window_max(g, off, x + s * in + (oy * g->stride * g->w + ox * g->stride) * c,
                           y + o, tap + o, n * out - o);
            }
}

void ot_maxpool_backward(const ot_conv_geom_t *g, const float *dy, const uint8_t *tap,
                         size_t n, float *dx)
{
    const size_t c = g->c, in = g->h * g->w * c, out = g->oh * g->ow * c;
    size_t off[OT_MAXPOOL_TAPS];
    tap_offsets(g, off);
#if defined(MAXPOOL_AVX512)
    /* Windows that tile the input exactly (stride = window, no rows or columns left over; 2x2
     * stride 2 on an even side): every input is in one window, so each window's taps are
     * written whole, 16 channels a vector: 0 + dy where the tap was the maximum (the sum the
     * scalar loop forms, -0 included), 0 elsewhere. No zeroing pass, no read of dx. */
    if (g->stride == g->kh && g->stride == g->kw && g->oh * g->kh == g->h &&
        g->ow * g->kw == g->w && g->pad == 0 && g->kh * g->kw <= 16 &&
        g->c <= 16 * OT_CONV_MAX_VECS) {
        const __m512 zero = _mm512_setzero_ps();
        const size_t taps = g->kh * g->kw, nv = (c + 15) / 16;
        const __mmask16 kt = (__mmask16)((1u << (c - (nv - 1) * 16)) - 1); /* the last vector */
        for (size_t s = 0; s < n; s++)
            for (size_t oy = 0; oy < g->oh; oy++)
                for (size_t ox = 0; ox < g->ow; ox++) {
                    const size_t o = s * out + (oy * g->ow + ox) * c;
                    float *win = dx + s * in + (oy * g->stride * g->w + ox * g->stride) * c;
                    __m512i tv[OT_CONV_MAX_VECS];
                    __m512 d[OT_CONV_MAX_VECS];
                    for (size_t v = 0; v < nv; v++) {
                        const __mmask16 k = v + 1 < nv ? (__mmask16)0xFFFF : kt;
                        tv[v] = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(k, tap + o + v * 16));
                        d[v] = _mm512_add_ps(zero, _mm512_maskz_loadu_ps(k, dy + o + v * 16));
                    }
                    /* taps in window order: within an image row, what lies past a tap's
                     * channels belongs to the window's later taps or to later windows, written
                     * afterwards, so a last vector that ends inside the row is stored whole */
                    for (size_t t = 0; t < taps; t++) {
                        const float *row_end =
                            dx + s * in + ((oy * g->stride + t / g->kw) * g->w + g->w) * c;
                        for (size_t v = 0; v < nv; v++) {
                            const __mmask16 m = _mm512_cmpeq_epi32_mask(tv[v],
                                                                        _mm512_set1_epi32((int)t));
                            const __m512 val = _mm512_maskz_mov_ps(m, d[v]);
                            float *w = win + off[t] + v * 16;
                            if (v + 1 < nv || w + 16 <= row_end)
                                _mm512_storeu_ps(w, val);
                            else
                                _mm512_mask_storeu_ps(w, kt, val);
                        }
                    }
                }
        return;
    }
#elif defined(MAXPOOL_AVX2)
    /* the path above in 8-channel vectors; the taps' bytes of a last partial vector come
     * through a local copy (a whole 8-byte load could read past the buffer) */
    if (g->stride == g->kh && g->stride == g->kw && g->oh * g->kh == g->h &&
        g->ow * g->kw == g->w && g->pad == 0 && g->c <= 8 * AVX2_MAX_VECS) {
        const __m256 zero = _mm256_setzero_ps();
        const size_t taps = g->kh * g->kw, nv = (c + 7) / 8, lastw = c - (nv - 1) * 8;
        const __m256i kt = avx2_mask(lastw); /* the last vector */
        for (size_t s = 0; s < n; s++)
            for (size_t oy = 0; oy < g->oh; oy++)
                for (size_t ox = 0; ox < g->ow; ox++) {
                    const size_t o = s * out + (oy * g->ow + ox) * c;
                    float *win = dx + s * in + (oy * g->stride * g->w + ox * g->stride) * c;
                    __m256i tv[AVX2_MAX_VECS];
                    __m256 d[AVX2_MAX_VECS];
                    for (size_t v = 0; v < nv; v++) {
                        const int last = v + 1 == nv;
                        uint8_t b8[8] = {0};
                        memcpy(b8, tap + o + v * 8, last ? lastw : 8);
                        tv[v] = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(void *)b8));
                        d[v] = _mm256_add_ps(zero, last ? _mm256_maskload_ps(dy + o + v * 8, kt)
                                                        : _mm256_loadu_ps(dy + o + v * 8));
                    }
                    for (size_t t = 0; t < taps; t++) {
                        const float *row_end =
                            dx + s * in + ((oy * g->stride + t / g->kw) * g->w + g->w) * c;
                        const __m256i tt = _mm256_set1_epi32((int)t);
                        for (size_t v = 0; v < nv; v++) {
                            const __m256 m = _mm256_castsi256_ps(_mm256_cmpeq_epi32(tv[v], tt));
                            const __m256 val = _mm256_and_ps(m, d[v]);
                            float *w = win + off[t] + v * 8;
                            if (v + 1 < nv || w + 8 <= row_end)
                                _mm256_storeu_ps(w, val);
                            else
                                _mm256_maskstore_ps(w, kt, val);
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
    if (a->kh * a->kw > OT_MAXPOOL_TAPS) {
        snprintf(err, n, "a %zux%zu window has %zu inputs, expected at most %d", a->kh, a->kw,
                 a->kh * a->kw, OT_MAXPOOL_TAPS);
        return -1;
    }
    return ot_pool_shape(L, c, err, n);
}

/* Samples [s0, s1) of the call: x and dx their rows, the output and the taps at sample s0's
 * place. A ReLU or Sigmoid before the pooling (c->post_bwd) is folded into the backward: a
 * window's maximum is the input that gets its gradient, so the element-wise backward at that
 * input, a function of its output, is the one at the window's output; every other input gets
 * +0 either way. */
static void block_fwd(const ot_layer_t *L, const ot_ctx_t *c, const float *x, size_t s0,
                      size_t s1)
{
    const maxpool_rt_t *rt = c->rt;
    const ot_conv_geom_t g = ot_pool_geom(L);
    const size_t out = L->out_size;
    ot_maxpool_forward(&g, x, s1 - s0, c->y + s0 * out, rt->tap + (c->r0 + s0) * out);
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
    block_fwd(L, c, c->x, 0, c->n);
}

static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    block_bwd(L, c, c->dx, 0, c->n);
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
    .reference = reference,
    .ref_mask = ref_mask,
    .onnx = onnx,
};
