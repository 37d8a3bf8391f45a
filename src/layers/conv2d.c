/* conv2d.c - the 2-D convolution kind: y = x * W + b over NHWC images, W (kh, kw, c, filters)
 * stored as the (kh kw c, filters) matrix of its im2col GEMM (HWIO, as TensorFlow; PyTorch's
 * Conv2d.weight is W transposed to (filters, c, kh, kw)).
 *
 * The column matrix col (one row per sample and output position, one column per tap) is never
 * stored: omptrain's GEMM reads its element (q, k) where it lies in the images, at the offset
 * of position q's window plus that of tap k (ot_conv_windows, ot_conv_taps), from the input
 * itself or, with padding, from a zero-bordered copy of a block's images. Every call works
 * through its rows in blocks: forward y = col W + b (ot_kgemm_gather); backward, shard by
 * shard, dW += col^T dy continuing one FMA chain per element over the shard's rows
 * (ot_kgemm_tn_acc_gather), db likewise, and dx by col2im of dy W^T, a block of which is the
 * one column matrix formed. The blocks depend on the layer's shape alone, and a shard's chain
 * on its rows alone, so the bits do not depend on the thread count.
 *
 * The first layer's forward may leave out the windows that hold only +0s (the blank margins
 * of MNIST's digits: 42% of a 5x5 convolution's), whose GEMM rows all equal the GEMM of one row
 * of +0s: it forms that row once a pass, runs the GEMM over the other rows (ot_conv_live_windows)
 * and moves them into place or, with a max pooling inside it, hands the pooling a table of
 * where each row lies, with the same bits; where it pays (live_forced, LIVE_BELOW).
 *
 * A max pooling after it (with or without a ReLU or Sigmoid between) runs inside it
 * (ot_ctx_t.next), a block of whole images at a time: forward pools each block of output
 * while it is in cache, backward has the pooling write each block's dy into the same scratch
 * block just before dW and dx read it, so the convolution's output and its gradient never
 * pass through memory (model (e): 1.14x, docs/benchmarks.md).
 *
 * With `winograd` or `winograd4` a 3x3, stride-1 convolution runs by Winograd's minimal
 * filtering instead (the section "with winograd" below; src/winograd.c): fewer multiplications,
 * the same convolution up to rounding, the bits again fixed by the layer's shape alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_net.h"
#include "ot_onnx.h"
#include "ot_simd.h"
#include "ot_winograd.h"

/* ---------------------------------------------------------------- the kernels */

/* Row q of the column matrix is sample q / P, output position (oy, ox) = (p / ow, p % ow) for
 * p = q % P; the rows of a call are walked in order, so the position is counted on, not divided
 * out per row. */
typedef struct {
    size_t s, oy, ox;
} conv_pos_t;

static conv_pos_t pos_of(const ot_conv_geom_t *g, size_t q)
{
    const size_t P = g->oh * g->ow, p = q % P;
    return (conv_pos_t){q / P, p / g->ow, p % g->ow};
}

static void pos_next(const ot_conv_geom_t *g, conv_pos_t *u)
{
    if (++u->ox < g->ow)
        return;
    u->ox = 0;
    if (++u->oy < g->oh)
        return;
    u->oy = 0;
    u->s++;
}

size_t ot_conv_pad_floats(const ot_conv_geom_t *g, size_t m)
{
    if (g->pad == 0)
        return 0;
    const size_t P = g->oh * g->ow;
    return ((m + P - 1) / P + 1) * (g->h + 2 * g->pad) * (g->w + 2 * g->pad) * g->c;
}

void ot_conv_taps(const ot_conv_geom_t *g, size_t *col)
{
    const size_t wp = g->w + 2 * g->pad;
    for (size_t ky = 0, k = 0; ky < g->kh; ky++)
        for (size_t kx = 0; kx < g->kw; kx++)
            for (size_t ch = 0; ch < g->c; ch++)
                col[k++] = (ky * wp + kx) * g->c + ch;
}

/* Images [s0, s1) of x (h, w, c) into buf with a border of pad zeros around each. */
static void pad_images(const ot_conv_geom_t *g, const float *x, size_t s0, size_t s1,
                       float *buf)
{
    const size_t c = g->c, p = g->pad, wp = g->w + 2 * p, hp = g->h + 2 * p;
    for (size_t s = s0; s < s1; s++) {
        float *img = buf + (s - s0) * hp * wp * c;
        memset(img, 0, p * wp * c * sizeof(float));
        for (size_t y = 0; y < g->h; y++) {
            float *dst = img + (p + y) * wp * c;
            memset(dst, 0, p * c * sizeof(float));
            memcpy(dst + p * c, x + (s * g->h + y) * g->w * c, g->w * c * sizeof(float));
            memset(dst + (p + g->w) * c, 0, p * c * sizeof(float));
        }
        memset(img + (p + g->h) * wp * c, 0, p * wp * c * sizeof(float));
    }
}

/* The images rows [q0, q0 + m) read: x itself without padding, else buf with padded copies
 * (ot_conv_windows); *s0 the image they start with. */
static const float *block_images(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m,
                                 float *buf, ot_conv_held_t *held, size_t *s0)
{
    *s0 = pos_of(g, q0).s;
    if (g->pad == 0 || m == 0)
        return x + *s0 * g->h * g->w * g->c; /* without padding: the images themselves */
    const size_t s1 = pos_of(g, q0 + m - 1).s + 1;
    if (held && held->x == x && held->s0 <= *s0 && s1 <= held->s1) {
        *s0 = held->s0; /* buf holds them already */
    } else {
        pad_images(g, x, *s0, s1, buf);
        if (held)
            *held = (ot_conv_held_t){x, *s0, s1};
    }
    return buf;
}

/* The walk of rows [q0, q0 + m) an output row (or the part of it in the block) at a time:
 * for each, its image i (counted from s0), oy, and the positions [ox0, ox1). */
#define FOR_OUTPUT_ROWS(g, q0, m, s0, i, oy, ox0, ox1, BODY)                               \
    do {                                                                                   \
        conv_pos_t u_ = pos_of(g, q0);                                                     \
        for (size_t r_ = 0; r_ < (m);) {                                                   \
            const size_t i = u_.s - (s0), oy = u_.oy, ox0 = u_.ox;                         \
            const size_t ox1 = (g)->ow - ox0 < (m) - r_ ? (g)->ow : ox0 + ((m) - r_);      \
            BODY;                                                                          \
            r_ += ox1 - ox0;                                                               \
            u_.ox = 0;                                                                     \
            if (++u_.oy == (g)->oh) {                                                      \
                u_.oy = 0;                                                                 \
                u_.s++;                                                                    \
            }                                                                              \
        }                                                                                  \
    } while (0)

const float *ot_conv_windows(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m,
                             float *buf, ot_conv_held_t *held, size_t *row)
{
    const size_t c = g->c, wp = g->w + 2 * g->pad, hp = g->h + 2 * g->pad, st = g->stride;
    size_t s0;
    const float *src = block_images(g, x, q0, m, buf, held, &s0);
    size_t *r = row;
    FOR_OUTPUT_ROWS(g, q0, m, s0, i, oy, ox0, ox1, {
        const size_t at = (i * hp + oy * st) * wp * c;
        for (size_t ox = ox0; ox < ox1; ox++)
            *r++ = at + ox * st * c;
    });
    return src;
}

int ot_conv_live_fits(const ot_conv_geom_t *g)
{
    return g->w + 2 * g->pad <= 64; /* (and so is the window) */
}

size_t ot_conv_live_words(const ot_conv_geom_t *g, size_t m)
{
    const size_t P = g->oh * g->ow;
    return ((m + P - 1) / P + 1) * (g->h + 2 * g->pad);
}

/* mask[y], y < hp: bit x set where pixel (y, x) of the (hp, wp, c) image img has a channel whose
 * bits are not all zero. */
static void pixel_masks(const float *img, size_t hp, size_t wp, size_t c, uint64_t *mask)
{
    for (size_t y = 0; y < hp; y++, img += wp * c) {
        uint64_t bits = 0;
        if (c == 1) {
            size_t x = 0;
            for (; x + VL <= wp; x += VL)
                bits |= (uint64_t)V_NONZERO(V_LOAD(img + x)) << x;
            if (x < wp)
                bits |= (uint64_t)V_NONZERO(V_LOADN(img + x, V_MASK(wp - x))) << x;
        } else {
            for (size_t x = 0; x < wp; x++)
                for (size_t ch = 0; ch < c; ch++)
                    bits |= (uint64_t)ot_bits_nonzero(img[x * c + ch]) << x;
        }
        mask[y] = bits;
    }
}

const float *ot_conv_live_windows(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m,
                                  float *buf, ot_conv_held_t *held, uint64_t *mask,
                                  size_t *row, uint8_t *live, size_t *n_live)
{
    size_t s0, n = 0;
    const float *src = block_images(g, x, q0, m, buf, held, &s0);
    *n_live = 0;
    if (m == 0)
        return src;
    const size_t c = g->c, wp = g->w + 2 * g->pad, hp = g->h + 2 * g->pad, st = g->stride;
    const size_t i0 = pos_of(g, q0).s - s0, i1 = pos_of(g, q0 + m - 1).s - s0 + 1;
    for (size_t i = i0; i < i1; i++) /* the block's images */
        pixel_masks(src + i * hp * wp * c, hp, wp, c, mask + (i - i0) * hp);
    uint8_t *lv = live;
    FOR_OUTPUT_ROWS(g, q0, m, s0, i, oy, ox0, ox1, {
        const uint64_t *mk = mask + (i - i0) * hp + oy * st;
        uint64_t band = 0; /* the windows' image rows, or-ed */
        for (size_t ky = 0; ky < g->kh; ky++)
            band |= mk[ky];
        uint64_t any = 0; /* bit j: a pixel in columns [j, j + kw) */
        for (size_t kx = 0; kx < g->kw; kx++)
            any |= band >> kx;
        const size_t at = (i * hp + oy * st) * wp * c;
        for (size_t ox = ox0; ox < ox1; ox++) {
            const uint8_t k = any >> (ox * st) & 1;
            *lv++ = k;
            row[n] = at + ox * st * c;
            n += k;
        }
    });
    *n_live = n;
    return src;
}

void ot_col2im_add(const ot_conv_geom_t *g, const float *dcol, size_t q0, size_t m, float *dx)
{
    const size_t c = g->c, K = g->kh * g->kw * c, h = g->h, w = g->w;
    conv_pos_t u = pos_of(g, q0);
    /* a window row's taps inside the image are adjacent there as in dcol's row: one run of
     * (kx1 - kx0) c floats per window row. Each element of dx still gets the rows' terms in
     * the rows' order, so the bits are those of adding tap by tap. */
    for (size_t r = 0; r < m; r++, pos_next(g, &u)) {
        float *img = dx + u.s * h * w * c;
        const float *src = dcol + r * K;
        const long y0 = (long)(u.oy * g->stride) - (long)g->pad;
        const long x0 = (long)(u.ox * g->stride) - (long)g->pad;
        /* the taps inside: kx0 <= kx < kx1, none when the window lies wholly in the padding
         * (on either side: padding may be wider than the window) */
        const long lo = x0 < 0 ? -x0 : 0, hi = (long)w - x0 < (long)g->kw ? (long)w - x0
                                                                           : (long)g->kw;
        if (hi <= lo)
            continue;
        const size_t kx0 = (size_t)lo, kx1 = (size_t)hi;
        const size_t run = (kx1 - kx0) * c;
        for (size_t ky = 0; ky < g->kh; ky++) {
            const long iy = y0 + (long)ky;
            if (iy < 0 || iy >= (long)h)
                continue;
            float *restrict d = img + ((size_t)iy * w + (size_t)(x0 + (long)kx0)) * c;
            const float *restrict from = src + (ky * g->kw + kx0) * c;
            for (size_t i = 0; i < run; i++)
                d[i] += from[i];
        }
    }
}

/* ---------------------------------------------------------------- the kind */

typedef struct {
    size_t filters, kh, kw, stride, pad;
    size_t winograd; /* m of F(m x m, 3x3) (2 or 4) instead of the column matrix (3x3,
                        stride 1, pad <= 2); 0: the column matrix */
} conv_args_t;
OT_LAYER_ARGS_FIT(conv_args_t);

/* Its buffers in an engine. */
typedef struct {
    float *wpack;  /* W packed for y = col W; with winograd, U[xi] (c, f) packed, a point each */
    float *wtpack; /* W^T packed for dcol = dy W^T (with winograd U[xi]^T); NULL for layer 0 */
    size_t *taps;  /* (K) each tap's offset in a window (ot_conv_taps); winograd: (T) t c */
    float *u;      /* winograd: U (points, c, f) = G g G^T of every channel pair */
    int sparse;       /* this pass: dW from the nonzero pixels alone (ot_conv_sparse_dw) */
    int live_ok;      /* live_capable, and OT_LIVE does not say 0 */
    int live_force;   /* OT_LIVE=1: whatever the kernel and the data */
    int live;         /* this pass: the forward's GEMM leaves out blank windows (layer 0) */
    uint32_t *sp_tab; /* its tables (ot_conv_sparse_tables); layer 0 alone */
} conv_rt_t;

static const conv_args_t *args(const ot_layer_t *L)
{
    return OT_LAYER_ARGS(const conv_args_t, L);
}

static ot_conv_geom_t geom(const ot_layer_t *L)
{
    const conv_args_t *a = args(L);
    return (ot_conv_geom_t){L->in.h, L->in.w, L->in.c, a->kh, a->kw, a->stride, a->pad,
                            L->out.h, L->out.w};
}

/* K, the im2col matrix's width */
static size_t taps(const ot_layer_t *L)
{
    return args(L)->kh * args(L)->kw * L->in.c;
}

/* "FILTERS KHxKW", then "stride S", "pad P" and "winograd" or "winograd4", in any order */
static int parse(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    conv_args_t *a = OT_LAYER_ARGS(conv_args_t, L);
    *a = (conv_args_t){0, 0, 0, 1, 0, 0};
    if (argc < 2) {
        snprintf(err, n, "a filter count and a kernel size");
        return -1;
    }
    if (ot_layer_parse_size(argv[0], 1, OT_MAX_UNITS, &a->filters) < 0) {
        snprintf(err, n, "'%s': FILTERS must be an integer in [1, %d]", argv[0], OT_MAX_UNITS);
        return -1;
    }
    if (ot_layer_parse_window(argv[1], &a->kh, &a->kw) < 0) {
        snprintf(err, n, "'%s': KHxKW must be two integers in [1, %d] (5x5, or 5 for 5x5)",
                 argv[1], OT_MAX_SIDE);
        return -1;
    }
    int m = 2; /* the words left for stride and pad, moved down over the winograd one */
    for (int i = 2; i < argc; i++) {
        int w = strcmp(argv[i], "winograd") == 0 ? 2 : strcmp(argv[i], "winograd4") == 0 ? 4 : 0;
        if (w && a->winograd) {
            snprintf(err, n, "'%s' after '%s': one of winograd or winograd4", argv[i],
                     a->winograd == 4 ? "winograd4" : "winograd");
            return -1;
        }
        if (w)
            a->winograd = w;
        else
            argv[m++] = argv[i];
    }
    return ot_layer_parse_stride_pad(m - 2, argv + 2, &a->stride, &a->pad, err, n);
}

static void format(const ot_layer_t *L, char *buf, size_t n)
{
    const conv_args_t *a = args(L);
    snprintf(buf, n, "%zu %zux%zu stride %zu pad %zu%s", a->filters, a->kh, a->kw, a->stride,
             a->pad, a->winograd == 4 ? " winograd4" : a->winograd ? " winograd" : "");
}

/* format's words but Winograd's, which chooses an algorithm */
static void computes(const ot_layer_t *L, char *buf, size_t n)
{
    const conv_args_t *a = args(L);
    snprintf(buf, n, "%zu %zux%zu stride %zu pad %zu", a->filters, a->kh, a->kw, a->stride,
             a->pad);
}

static int shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)c;
    const conv_args_t *a = args(L);
    size_t oh, ow;
    if (L->in.flat) {
        snprintf(err, n, "expected an image (HxWxC), got a flat vector; put convolutions "
                 "before any affine or flatten");
        return -1;
    }
    if (ot_layer_out_side("height", L->in.h, a->kh, a->stride, a->pad, &oh, err, n) < 0 ||
        ot_layer_out_side("width", L->in.w, a->kw, a->stride, a->pad, &ow, err, n) < 0)
        return -1;
    if (a->winograd && (a->kh != 3 || a->kw != 3 || a->stride != 1 || a->pad > 2)) {
        snprintf(err, n, "winograd%s needs a 3x3 kernel, stride 1 and pad 0, 1 or 2, got "
                 "%zux%zu stride %zu pad %zu", a->winograd == 4 ? "4" : "", a->kh, a->kw,
                 a->stride, a->pad);
        return -1;
    }
    L->out = (ot_shape_t){a->filters, oh, ow, 0};
    return 0;
}

static void declare(ot_layer_t *L, ot_net_t *net)
{
    const conv_args_t *a = args(L);
    size_t W[4] = {a->kh, a->kw, L->in.c, a->filters}, b[1] = {a->filters};
    ot_net_param(net, L, "W", 4, W, 1);
    ot_net_param(net, L, "b", 1, b, 0);
}

/* W ~ std * N(0, 1) with fan-in kh kw c; b = 0 */
static void init(const ot_layer_t *L, const ot_config_t *c, float *params, float *state,
                 ot_rng_t *rng)
{
    (void)state;
    const size_t K = taps(L);
    double std = ot_init_std(c, K);
    float *W = params + L->p_off;
    for (size_t i = 0; i < K * args(L)->filters; i++)
        W[i] = (float)(std * ot_rng_normal(rng));
}

/* forward, dW and (not for layer 0) dx: 2 P K F each */
static double flops(const ot_layer_t *L)
{
    double pkf = (double)(L->out.h * L->out.w) * (double)taps(L) * (double)args(L)->filters;
    return (L->index > 0 ? 6.0 : 4.0) * pkf;
}

static void rt_free(void *p)
{
    conv_rt_t *rt = p;
    if (!rt)
        return;
    ot_free(rt->wpack);
    ot_free(rt->wtpack);
    ot_free(rt->taps);
    ot_free(rt->u);
    ot_free(rt->sp_tab);
    ot_free(rt);
}

size_t ot_conv_block_rows(size_t K)
{
    size_t m = 65536 / K;
    m = m < 64 ? 64 : m > 1024 ? 1024 : m;
    return m / 8 * 8;
}

static size_t block_rows(const ot_layer_t *L)
{
    return ot_conv_block_rows(taps(L));
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

size_t ot_conv_block_end(const ot_conv_geom_t *g, size_t q0, size_t hi, size_t MB)
{
    const size_t P = g->oh * g->ow, next = (q0 / P + 1) * P;
    size_t end = q0 + MB;
    if (g->pad > 0)
        end = MB >= P ? q0 - q0 % P + MB / P * P : end < next ? end : next;
    return end < hi ? end : hi;
}

/* Rows of a block of whole images when the next layer runs inside this one (ot_ctx_t.next):
 * as many whole images as fit in a block of MB rows, at least one. The blocks of MB rows
 * (ot_conv_block_end) are then taken inside each. */
static size_t chain_rows(const ot_layer_t *L)
{
    const ot_conv_geom_t g = geom(L);
    const size_t P = g.oh * g.ow, imgs = block_rows(L) / P;
    return (imgs ? imgs : 1) * P;
}

/* Whether dW may leave out the zero pixels of the layer's input: the first layer, the column
 * matrix (not winograd), a geometry ot_conv_sparse_dw takes and up to 2^15 filters (its row
 * offsets in 32 bits). */
static int sparse_capable(const ot_layer_t *L)
{
    const ot_conv_geom_t g = geom(L);
    return L->index == 0 && !args(L)->winograd && args(L)->filters <= 32768 &&
           ot_conv_sparse_fits(&g);
}

/* Whether the forward may leave out the rows whose windows hold only zeros
 * (ot_conv_live_windows): the first layer, whose input may have blank margins (MNIST's digits
 * leave 42% of model (e)'s windows blank), with the column matrix. */
static int live_capable(const ot_layer_t *L)
{
    const ot_conv_geom_t g = geom(L);
    return L->index == 0 && !args(L)->winograd && ot_conv_live_fits(&g);
}

/* Leaving them out pays, by measurement (model (e), docs/benchmarks.md), with the AVX2 kernel
 * (and the portable one) on images like MNIST's (19% of the pixels set, 42% of 5x5 windows
 * blank: +4%), not on Fashion-MNIST's (50%, 16% blank: -2%), hence the same 40% of pixels as
 * the sparse weight gradient's threshold there. With the AVX-512 kernel a window's GEMM row
 * costs so little that marking the blank ones and moving the rest took what it saved, until a
 * max pooling inside the convolution read the rows where they lie: since then (e) runs 3.6%
 * faster at 1 thread and 2.7% at 2 with them left out there too. */
#define LIVE_BELOW 0.4f

/* OT_LIVE=1 or OT_LIVE=0 forces the choice (tests, benchmarks): 1 or 0; else -1. */
static int live_forced(void)
{
    const char *v = getenv("OT_LIVE");
    return v && (!strcmp(v, "0") || !strcmp(v, "1")) ? v[0] == '1' : -1;
}

/* A block's scratch, carved from the thread's workspace. */
typedef struct {
    float *col;  /* (MB, K) dcol of a block, for dx */
    size_t *row; /* (MB) its windows' offsets */
    float *pad;  /* its images with a border of zeros (ot_conv_pad_floats), or NULL */
    float *gw;   /* the GEMMs' scratch */
    float *y;    /* (chain_rows, F) y or dy of a block of whole images, with ot_ctx_t.next */
    void *sp;    /* ot_conv_sparse_dw's work (layer 0, one channel) */
    uint64_t *mask; /* layer 0: ot_conv_live_windows's masks of a block's images */
    uint8_t *live;  /* (MB) which rows of a block it kept */
    float *zrow;    /* (F) y of a zero row, (K) zeros, then (F) that y after post_fwd */
    const float **rows; /* (chain_rows) with next, layer 0: where each row of the chain's
                           block is, its live rows where the GEMM left them */
} conv_ws_t;

static size_t round_up(size_t bytes)
{
    return (bytes + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
}

/* The scratch's layout in work (NULL: only its size, returned). */
static size_t carve_ws(const ot_layer_t *L, void *work, conv_ws_t *w)
{
    const ot_conv_geom_t g = geom(L);
    const size_t K = taps(L), F = args(L)->filters, MB = block_rows(L);
    const size_t pad = ot_conv_pad_floats(&g, MB);
    const int live = live_capable(L);
    const size_t sizes[10] = {round_up(MB * K * sizeof(float)), round_up(MB * sizeof(size_t)),
                             round_up(pad * sizeof(float)),
                             round_up(max_sz(ot_kgemm_work_size(max_sz(K, F)),
                                             ot_kgemm_tn_acc_work_size(MB, F)) * sizeof(float)),
                             round_up(chain_rows(L) * F * sizeof(float)),
                             round_up(sparse_capable(L) ? ot_conv_sparse_work_size(&g) : 0),
                             live ? round_up(ot_conv_live_words(&g, MB) * sizeof(uint64_t)) : 0,
                             live ? round_up(MB) : 0,
                             live ? round_up((2 * F + K) * sizeof(float)) : 0,
                             live ? round_up(chain_rows(L) * sizeof(float *)) : 0};
    size_t at[10], end = 0; /* offsets, not pointers: work is NULL when only sizing */
    for (int i = 0; i < 10; end += sizes[i++])
        at[i] = end;
    char *p = work;
    if (w)
        *w = (conv_ws_t){(float *)(void *)(p + at[0]), (size_t *)(void *)(p + at[1]),
                         pad ? (float *)(void *)(p + at[2]) : NULL,
                         (float *)(void *)(p + at[3]), (float *)(void *)(p + at[4]),
                         p + at[5], live ? (uint64_t *)(void *)(p + at[6]) : NULL,
                         live ? (uint8_t *)(p + at[7]) : NULL,
                         live ? (float *)(void *)(p + at[8]) : NULL,
                         live ? (const float **)(void *)(p + at[9]) : NULL};
    return end;
}

/* ---------------------------------------------------------------- with winograd */

/* Winograd's F(m x m, 3x3) (ot_winograd.h; `winograd` m = 2, `winograd4` m = 4) works through a
 * thread's images in blocks of whole images, up to WINO_TILES tiles (at least one image);
 * transformed data of a block are a plane per point, each padded by 16 floats so that the
 * planes do not fall on the same cache sets. With a next layer chained, a block is the
 * chain's block. */
#define WINO_TILES 128

static ot_wino_geom_t wgeom(const ot_layer_t *L)
{
    return ot_wino_geom(L->in.h, L->in.w, L->in.c, args(L)->filters, args(L)->pad,
                        args(L)->winograd);
}

static size_t wino_images(const ot_wino_geom_t *g)
{
    const size_t n = WINO_TILES / (g->th * g->tw);
    return n ? n : 1;
}

/* plane strides of a block's V (tiles, c) and M (tiles, f) */
static size_t wino_ps(const ot_wino_geom_t *g, size_t ch)
{
    return wino_images(g) * g->th * g->tw * ch + 16;
}

/* A block's scratch with winograd, carved from the thread's workspace. */
typedef struct {
    float *pad; /* the block's images padded (ot_wino_pad), or dx's padded images */
    float *v;   /* V, or dV (a plane per point, stride wino_ps(c)) */
    float *m;   /* M, or dM (a plane per point, stride wino_ps(f)) */
    float *du;  /* (points, c, f) dU over a leaf */
    float *gw;  /* the GEMMs' scratch */
    float *y;   /* (images, oh, ow, f) y or dy of a block, with ot_ctx_t.next */
} wino_ws_t;

static size_t carve_wino(const ot_layer_t *L, void *work, wino_ws_t *w)
{
    const ot_wino_geom_t g = wgeom(L);
    const size_t NP = ot_wino_points(&g);
    const size_t C = g.c, F = g.f, IB = wino_images(&g), T = IB * g.th * g.tw;
    const size_t sizes[6] = {round_up(IB * ot_wino_pad_floats(&g) * sizeof(float)),
                             round_up(NP * wino_ps(&g, C) * sizeof(float)),
                             round_up(NP * wino_ps(&g, F) * sizeof(float)),
                             round_up(NP * ot_wino_filter_stride(&g) * sizeof(float)),
                             round_up(max_sz(ot_kgemm_work_size(max_sz(C, F)),
                                             ot_kgemm_tn_acc_work_size(T, F)) * sizeof(float)),
                             IB * g.oh * g.ow * F * sizeof(float)};
    size_t at[6], end = 0; /* offsets, not pointers: work is NULL when only sizing */
    for (int i = 0; i < 6; end += sizes[i++])
        at[i] = end;
    char *p = work;
    if (w)
        *w = (wino_ws_t){(float *)(void *)(p + at[0]), (float *)(void *)(p + at[1]),
                         (float *)(void *)(p + at[2]), (float *)(void *)(p + at[3]),
                         (float *)(void *)(p + at[4]), (float *)(void *)(p + at[5])};
    return end;
}

/* U of the channels [c0, c1) that the thread's share of W's rows decides, packed for the
 * forward (rows c0..c1 of each U[xi]) and for dx (U[xi]^T's panels of those channels). */
static void wino_prepare(const ot_layer_t *L, conv_rt_t *rt, const float *params,
                         const size_t own[2], int backward, int stream)
{
    const ot_wino_geom_t g = wgeom(L);
    const size_t NP = ot_wino_points(&g);
    const size_t C = g.c, F = g.f, nr = ot_kgemm_nr(), np = (C + nr - 1) / nr;
    const size_t kp = ot_kpack_size(C, F), kt = ot_kpack_size(F, C);
    size_t k0, k1;
    ot_own_rows(own, L->p_off, 9 * C, F, &k0, &k1);
    const size_t p0 = k0 * np / (9 * C), p1 = k1 * np / (9 * C);
    const size_t c0 = p0 * nr, c1 = p1 * nr < C ? p1 * nr : C;
    if (c0 >= c1)
        return;
    const size_t ups = ot_wino_filter_stride(&g);
    ot_wino_filter(&g, params + L->p_off, c0, c1, rt->u, ups);
    for (size_t xi = 0; xi < NP; xi++) {
        const float *U = rt->u + xi * ups;
        ot_kpack_b_rows(U, F, C, F, rt->wpack + xi * kp, c0, c1, stream);
        if (backward && rt->wtpack)
            ot_kpack_b(U, F, true, F, C, rt->wtpack + xi * kt, p0, p1, stream);
    }
}

static void wino_forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const conv_rt_t *rt = c->rt;
    const ot_wino_geom_t g = wgeom(L);
    const size_t NP = ot_wino_points(&g);
    const size_t C = g.c, F = g.f, IB = wino_images(&g), TI = g.th * g.tw, P = g.oh * g.ow;
    const size_t psc = wino_ps(&g, C), psf = wino_ps(&g, F), kp = ot_kpack_size(C, F);
    const float *b = c->params + L->p_off + L->p_len - F;
    const ot_next_t *next = c->next;
    wino_ws_t w;
    carve_wino(L, c->work, &w);
    for (size_t s0 = 0; s0 < c->n; s0 += IB) {
        const size_t n = c->n - s0 < IB ? c->n - s0 : IB;
        float *y = next ? w.y : c->y + s0 * P * F;
        ot_wino_pad(&g, c->x + s0 * L->in_size, n, w.pad);
        ot_wino_input(&g, w.pad, n, w.v, psc);
        for (size_t xi = 0; xi < NP; xi++)
            ot_kgemm(n * TI, F, C, w.v + xi * psc, C, rt->wpack + xi * kp, NULL,
                     w.m + xi * psf, F, w.gw);
        ot_wino_output(&g, w.m, psf, b, n, y);
        if (c->post_fwd)
            c->post_fwd(y, n * P * F);
        if (next)
            next->L->ops->block_fwd(next->L, &next->c, w.y, NULL, s0, s0 + n);
    }
}

/* dU's rows [c0, c1) += V^T dM for the n images from image s0 on (relative to the thread's):
 * the block's V from x, its dM (ot_wino_output_grad) in w->m (acc: continue the chains, else
 * from zero). */
static void wino_du(const ot_layer_t *L, const ot_ctx_t *c, const wino_ws_t *w,
                    const float *x, size_t s0, size_t n, size_t c0, size_t c1, int acc)
{
    const conv_rt_t *rt = c->rt;
    const ot_wino_geom_t g = wgeom(L);
    const size_t NP = ot_wino_points(&g);
    const size_t C = g.c, F = g.f, T = n * g.th * g.tw;
    const size_t psc = wino_ps(&g, C), psf = wino_ps(&g, F);
    ot_wino_pad(&g, x + s0 * L->in_size, n, w->pad);
    ot_wino_input(&g, w->pad, n, w->v, psc);
    const size_t *col = rt->taps + wino_images(&g) * g.th * g.tw; /* after the rows */
    const size_t ups = ot_wino_filter_stride(&g);
    for (size_t xi = 0; xi < NP; xi++)
        ot_kgemm_tn_acc_gather(c1 - c0, F, T, w->v + xi * psc, rt->taps, col + c0,
                               w->m + xi * psf, F, w->du + xi * ups + c0 * F, F, acc, w->gw);
}

/* dx of the n images from s0 on from the block's dM in w->m: dV = dM U^T, then B dV B^T
 * onto the padded images and their inside into dx. */
static void wino_dx(const ot_layer_t *L, const ot_ctx_t *c, const wino_ws_t *w, size_t s0,
                    size_t n)
{
    const conv_rt_t *rt = c->rt;
    const ot_wino_geom_t g = wgeom(L);
    const size_t NP = ot_wino_points(&g);
    const size_t C = g.c, F = g.f, T = n * g.th * g.tw, kt = ot_kpack_size(F, C);
    const size_t psc = wino_ps(&g, C), psf = wino_ps(&g, F);
    for (size_t xi = 0; xi < NP; xi++)
        ot_kgemm(T, C, F, w->m + xi * psf, F, rt->wtpack + xi * kt, NULL, w->v + xi * psc, C,
                 w->gw);
    memset(w->pad, 0, n * ot_wino_pad_floats(&g) * sizeof(float));
    ot_wino_input_grad(&g, w->v, psc, n, w->pad);
    ot_wino_unpad(&g, w->pad, n, c->dx + s0 * L->in_size);
}

/* Threads sharing one shard: dW of the input channels [c0, c1) and db's columns [j0, j1) of
 * the thread's share over the shard's images, each element the same chain as unshared; then
 * dx of the thread's own images. */
static void wino_backward_shared(const ot_layer_t *L, const ot_ctx_t *c, const wino_ws_t *w)
{
    const ot_wino_geom_t g = wgeom(L);
    const size_t C = g.c, F = g.f, IB = wino_images(&g), P = g.oh * g.ow;
    const size_t hi = c->leaves[0].rows;
    size_t c0, c1, j0, j1;
    ot_grad_share(c->grad, C, 1, &c0, &c1);
    ot_grad_share(c->grad, F, 1, &j0, &j1);
    float *dW = ot_grad_leaf(c->grad, 0, L->p_off);
    float *db = ot_grad_leaf(c->grad, 0, L->p_off + L->p_len - F);
    for (size_t j = j0; j < j1; j++)
        db[j] = 0.0f;
    for (size_t s0 = 0; s0 < hi; s0 += IB) {
        const size_t n = hi - s0 < IB ? hi - s0 : IB;
        const float *dy = c->sdy + s0 * P * F;
        ot_kcolsum(n * P, j1 - j0, dy + j0, F, db + j0);
        if (c1 > c0) {
            ot_wino_output_grad(&g, dy, n, w->m, wino_ps(&g, F));
            wino_du(L, c, w, c->sx, s0, n, c0, c1, s0 > 0);
        }
    }
    if (hi == 0)
        memset(w->du, 0, ot_wino_points(&g) * ot_wino_filter_stride(&g) * sizeof(float));
    ot_wino_filter_grad(&g, w->du, ot_wino_filter_stride(&g), c0, c1, dW);
    if (!c->dx)
        return;
    for (size_t s0 = 0; s0 < c->n; s0 += IB) { /* each block writes its images' dx whole */
        const size_t n = c->n - s0 < IB ? c->n - s0 : IB;
        ot_wino_output_grad(&g, c->dy + s0 * P * F, n, w->m, wino_ps(&g, F));
        wino_dx(L, c, w, s0, n);
    }
}

/* Shard by shard: dW (through dU over the leaf's images), db, and dx. */
static void wino_backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const ot_wino_geom_t g = wgeom(L);
    const size_t C = g.c, F = g.f, IB = wino_images(&g), P = g.oh * g.ow;
    wino_ws_t w;
    carve_wino(L, c->work, &w);
    if (c->grad->members > 1) {
        wino_backward_shared(L, c, &w);
        return;
    }
    const ot_next_t *next = c->next; /* dx: each block writes its images' whole */
    for (size_t i = 0; i < c->n_leaves; i++) {
        const ot_leaf_t *f = &c->leaves[i];
        const size_t lo = f->lo, hi = f->lo + f->rows;
        float *dW = ot_grad_leaf(c->grad, i, L->p_off);
        float *db = ot_grad_leaf(c->grad, i, L->p_off + L->p_len - F);
        memset(db, 0, F * sizeof(float));
        if (lo == hi)
            memset(w.du, 0, ot_wino_points(&g) * ot_wino_filter_stride(&g) * sizeof(float));
        for (size_t s0 = lo; s0 < hi; s0 += IB) {
            const size_t n = hi - s0 < IB ? hi - s0 : IB;
            float *dy = next ? w.y : c->dy + s0 * P * F;
            if (next) /* the next layer's backward writes this block's dy */
                next->L->ops->block_bwd(next->L, &next->c, w.y, s0, s0 + n);
            if (c->post_bwd)
                c->post_bwd(c->y + s0 * P * F, dy, n * P * F);
            ot_kcolsum(n * P, F, dy, F, db);
            ot_wino_output_grad(&g, dy, n, w.m, wino_ps(&g, F));
            wino_du(L, c, &w, c->x, s0, n, 0, C, s0 > lo);
            if (c->dx)
                wino_dx(L, c, &w, s0, n);
        }
        ot_wino_filter_grad(&g, w.du, ot_wino_filter_stride(&g), 0, C, dW);
    }
    ot_grad_leaves_done(c->grad, L->p_off, L->p_len);
}

/* Floats of the packed W (or U) for the forward, for dx, and of U; entries of taps. */
static void rt_sizes(const ot_layer_t *L, size_t *pack, size_t *tpack, size_t *u, size_t *nt)
{
    const size_t K = taps(L), C = L->in.c, F = args(L)->filters;
    if (!args(L)->winograd) {
        *pack = ot_kpack_size(K, F), *tpack = ot_kpack_size(F, K), *u = 0, *nt = K;
    } else {
        const ot_wino_geom_t g = wgeom(L);
        const size_t NP = ot_wino_points(&g);
        *pack = NP * ot_kpack_size(C, F), *tpack = NP * ot_kpack_size(F, C);
        *u = NP * ot_wino_filter_stride(&g), *nt = wino_images(&g) * g.th * g.tw + C;
    }
    if (L->index == 0)
        *tpack = 0;
}

static int setup(const ot_layer_t *L, size_t B, size_t n_shards, void **out)
{
    (void)B, (void)n_shards;
    size_t pack, tpack, u, nt;
    rt_sizes(L, &pack, &tpack, &u, &nt);
    conv_rt_t *rt = ot_alloc(sizeof *rt);
    *out = rt;
    if (!rt || !(rt->wpack = ot_alloc(pack * sizeof(float))) ||
        !(rt->taps = ot_alloc(nt * sizeof(size_t))) ||
        (tpack && !(rt->wtpack = ot_alloc(tpack * sizeof(float)))) ||
        (u && !(rt->u = ot_alloc(u * sizeof(float)))))
        return OT_ENOMEM;
    const int forced = live_forced();
    rt->live_ok = live_capable(L) && forced != 0;
    rt->live_force = forced == 1;
    if (sparse_capable(L)) {
        const ot_conv_geom_t g = geom(L);
        if (!(rt->sp_tab = ot_alloc(ot_conv_sparse_table_len(&g) * sizeof(uint32_t))))
            return OT_ENOMEM;
        ot_conv_sparse_tables(&g, rt->sp_tab);
    }
    if (!args(L)->winograd) {
        const ot_conv_geom_t g = geom(L);
        ot_conv_taps(&g, rt->taps);
    } else { /* V's rows (t c) and columns (c) for dU's GEMM */
        const size_t C = L->in.c, T = nt - C;
        for (size_t t = 0; t < T; t++)
            rt->taps[t] = t * C;
        for (size_t ch = 0; ch < C; ch++)
            rt->taps[T + ch] = ch;
    }
    return OT_OK;
}

static size_t rt_bytes(const ot_layer_t *L, size_t B, size_t n_shards)
{
    (void)B, (void)n_shards;
    size_t pack, tpack, u, nt;
    rt_sizes(L, &pack, &tpack, &u, &nt);
    const ot_conv_geom_t g = geom(L);
    const size_t tab = sparse_capable(L) ? ot_conv_sparse_table_len(&g) * sizeof(uint32_t) : 0;
    return sizeof(conv_rt_t) + (pack + tpack + u) * sizeof(float) + nt * sizeof(size_t) + tab;
}

static size_t workspace(const ot_layer_t *L, size_t rows, size_t n_shards, size_t *keep)
{
    (void)rows, (void)n_shards;
    *keep = 0;
    return args(L)->winograd ? carve_wino(L, NULL, NULL) : carve_ws(L, NULL, NULL);
}

static void begin(const ot_layer_t *L, void *p, const float *params, const float *state,
                  const ot_pass_info_t *pi)
{
    conv_rt_t *rt = p;
    (void)params, (void)state;
    rt->sparse = sparse_capable(L) && pi->sparse_input && pi->ds->dim == L->in_size &&
                 pi->ds->nonzero < ot_conv_sparse_below();
    rt->live = rt->live_ok && pi->sparse_input &&
               (rt->live_force || (pi->ds && pi->ds->nonzero < LIVE_BELOW));
}

/* W packed for the step, each thread the rows (taps) of W it updated, as the Affine's. */
static void prepare(const ot_layer_t *L, void *p, const float *params, const size_t own[2],
                    int backward, int stream)
{
    conv_rt_t *rt = p;
    if (args(L)->winograd) {
        wino_prepare(L, rt, params, own, backward, stream);
        return;
    }
    const size_t nr = ot_kgemm_nr(), K = taps(L), F = args(L)->filters;
    const float *W = params + L->p_off;
    size_t k0, k1;
    ot_own_rows(own, L->p_off, K, F, &k0, &k1);
    ot_kpack_b_rows(W, F, K, F, rt->wpack, k0, k1, stream);
    if (backward && rt->wtpack)
        ot_kpack_b(W, F, true, F, K, rt->wtpack, (k0 + nr - 1) / nr, (k1 + nr - 1) / nr,
                   stream);
}

/* F floats from src to dst, apart (rows of y): whole vectors, the last one overlapping the one
 * before it rather than a masked store (slow on some CPUs). */
static void copy_row(float *restrict dst, const float *restrict src, size_t F)
{
    if (F < VL) {
        for (size_t j = 0; j < F; j++)
            dst[j] = src[j];
        return;
    }
    size_t j = 0;
    for (; j + VL <= F; j += VL)
        V_STORE(dst + j, V_LOAD(src + j));
    if (j < F)
        V_STORE(dst + F - VL, V_LOAD(src + F - VL));
}

/* The n kept rows at the top of y (m, F) to their places (live[r]), and z in every other:
 * from the last row back, a run of kept rows at a time (one move each: they lie together at
 * the top, and a move never reaches the rows still to move), until those left are in place. */
static void spread_live(float *y, const uint8_t *live, size_t m, size_t n, size_t F,
                        const float *z)
{
    for (size_t r = m; n < r;) {
        const size_t e = r;
        const uint8_t k = live[r - 1];
        while (r > 0 && live[r - 1] == k)
            r--;
        if (!k) {
            for (size_t q = r; q < e; q++)
                copy_row(y + q * F, z, F);
        } else {
            n -= e - r;
            memmove(y + r * F, y + n * F, (e - r) * F * sizeof(float));
        }
    }
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    if (args(L)->winograd) {
        wino_forward(L, c);
        return;
    }
    const conv_rt_t *rt = c->rt;
    const ot_conv_geom_t g = geom(L);
    const size_t K = taps(L), F = args(L)->filters, MB = block_rows(L);
    const size_t rows = c->n * g.oh * g.ow;
    const float *b = c->params + L->p_off + L->p_len - F;
    const ot_next_t *next = c->next;
    const size_t CB = next ? chain_rows(L) : rows, P = g.oh * g.ow;
    conv_ws_t w;
    carve_ws(L, c->work, &w);
    ot_conv_held_t held = {0};
    /* With next, the rows of blank windows are not written: next reads each row where it
     * lies (at, from w.rows), the live ones where the GEMM left them and the blank ones at
     * one copy of the zero row's output, post_fwd applied. Without, the live rows are spread
     * to their places and the blank ones filled. */
    const float **at = next && rt->live ? w.rows : NULL, *zact = NULL;
    if (rt->live) { /* the output of a zero row, which is every blank window's */
        float *zeros = w.zrow + F, *za = zeros + K;
        memset(zeros, 0, K * sizeof(float));
        ot_kgemm(1, F, K, zeros, K, rt->wpack, b, w.zrow, F, w.gw);
        copy_row(za, w.zrow, F);
        if (c->post_fwd)
            c->post_fwd(za, F);
        zact = za;
    }
    for (size_t b0 = 0; b0 < rows; b0 += CB) { /* with next, blocks of whole images */
        const size_t b1 = rows - b0 < CB ? rows : b0 + CB;
        float *y = next ? w.y : c->y + b0 * F; /* row b0's */
        for (size_t q0 = b0, q1; q0 < b1; q0 = q1) {
            q1 = ot_conv_block_end(&g, q0, b1, MB);
            size_t m = q1 - q0, n = m;
            float *yq = y + (q0 - b0) * F;
            const float *src =
                rt->live
                    ? ot_conv_live_windows(&g, c->x, q0, m, w.pad, &held, w.mask, w.row, w.live,
                                           &n)
                    : ot_conv_windows(&g, c->x, q0, m, w.pad, &held, w.row);
            ot_kgemm_gather(n, F, K, src, w.row, rt->taps, rt->wpack, b, yq, F, w.gw);
            if (at) { /* a pick by index, not a branch: the live pattern is irregular */
                const float **rq = at + (q0 - b0), *pick[2] = {zact, NULL};
                for (size_t r = 0, k = 0; r < m; r++) {
                    pick[1] = yq + k * F;
                    rq[r] = pick[w.live[r]];
                    k += w.live[r];
                }
            } else if (n < m) {
                spread_live(yq, w.live, m, n, F, w.zrow);
            }
            if (c->post_fwd) /* the fused element-wise layer, while the block is in cache */
                c->post_fwd(yq, (at ? n : m) * F);
        }
        if (next)
            next->L->ops->block_fwd(next->L, &next->c, w.y, at, b0 / P, b1 / P);
    }
}

/* dx of rows [q0, q0 + m): dcol = dy W^T into the block's room, then back onto the images. */
static void block_dx(const ot_layer_t *L, const ot_ctx_t *c, const conv_ws_t *w,
                     const ot_conv_geom_t *g, const float *dy, size_t q0, size_t m)
{
    const conv_rt_t *rt = c->rt;
    const size_t K = taps(L), F = args(L)->filters;
    ot_kgemm(m, K, F, dy, F, rt->wtpack, NULL, w->col, K, w->gw);
    ot_col2im_add(g, w->col, q0, m, c->dx);
}

/* Threads sharing one shard: dW's rows [k0, k1) (taps) and db's columns [j0, j1) of the
 * thread's share, over the shard's rows (sx, sdy), each element the same chain as unshared;
 * then dx of the thread's own rows. */
static void backward_shared(const ot_layer_t *L, const ot_ctx_t *c, const conv_ws_t *w)
{
    const conv_rt_t *rt = c->rt;
    const ot_conv_geom_t g = geom(L);
    const size_t K = taps(L), F = args(L)->filters, MB = block_rows(L), P = g.oh * g.ow;
    const size_t b_off = L->p_off + L->p_len - F, hi = c->leaves[0].rows * P;
    size_t k0, k1, j0, j1;
    ot_grad_share(c->grad, K, 1, &k0, &k1);
    ot_grad_share(c->grad, F, 1, &j0, &j1);
    float *dW = ot_grad_leaf(c->grad, 0, L->p_off), *db = ot_grad_leaf(c->grad, 0, b_off);
    for (size_t j = j0; j < j1; j++)
        db[j] = 0.0f;
    if (hi == 0)
        memset(dW + k0 * F, 0, (k1 - k0) * F * sizeof(float));
    if (rt->sparse && k1 > k0)
        ot_conv_sparse_dw(&g, rt->sp_tab, c->sx, hi / P, c->sdy, F, k0, k1, dW, 0, w->sp);
    ot_conv_held_t held = {0};
    for (size_t q0 = 0, q1; q0 < hi && (k1 > k0 || j1 > j0); q0 = q1) {
        q1 = ot_conv_block_end(&g, q0, hi, MB);
        const size_t m = q1 - q0;
        const float *dy = c->sdy + q0 * F;
        if (k1 > k0 && !rt->sparse) {
            const float *src = ot_conv_windows(&g, c->sx, q0, m, w->pad, &held, w->row);
            ot_kgemm_tn_acc_gather(k1 - k0, F, m, src, w->row, rt->taps + k0, dy, F,
                                   dW + k0 * F, F, q0 > 0, w->gw);
        }
        ot_kcolsum(m, j1 - j0, dy + j0, F, db + j0);
    }
    if (!c->dx)
        return;
    memset(c->dx, 0, c->n * L->in_size * sizeof(float));
    for (size_t q0 = 0; q0 < c->n * P; q0 += MB)
        block_dx(L, c, w, &g, c->dy + q0 * F, q0, c->n * P - q0 < MB ? c->n * P - q0 : MB);
}

/* Shard by shard: dW, db (leaves of the tree), and dx through col2im. */
static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    if (args(L)->winograd) {
        wino_backward(L, c);
        return;
    }
    const conv_rt_t *rt = c->rt;
    const ot_conv_geom_t g = geom(L);
    const size_t K = taps(L), F = args(L)->filters, MB = block_rows(L), P = g.oh * g.ow;
    const size_t b_off = L->p_off + L->p_len - F;
    conv_ws_t w;
    carve_ws(L, c->work, &w);
    if (c->grad->members > 1) {
        backward_shared(L, c, &w);
        return;
    }
    const ot_next_t *next = c->next;
    const size_t CB = next ? chain_rows(L) : c->n * P;
    if (c->dx)
        memset(c->dx, 0, c->n * L->in_size * sizeof(float));
    for (size_t i = 0; i < c->n_leaves; i++) {
        const ot_leaf_t *f = &c->leaves[i];
        const size_t lo = f->lo * P, hi = (f->lo + f->rows) * P;
        float *dW = ot_grad_leaf(c->grad, i, L->p_off), *db = ot_grad_leaf(c->grad, i, b_off);
        memset(db, 0, F * sizeof(float));
        if (lo == hi)
            memset(dW, 0, K * F * sizeof(float));
        ot_conv_held_t held = {0};
        for (size_t b0 = lo; b0 < hi; b0 += CB) { /* with next, blocks of whole images */
            const size_t b1 = hi - b0 < CB ? hi : b0 + CB;
            float *dyb = next ? w.y : c->dy + b0 * F; /* row b0's */
            if (next) /* the next layer's backward writes this block's dy */
                next->L->ops->block_bwd(next->L, &next->c, w.y, b0 / P, b1 / P);
            if (rt->sparse) { /* layer 0: no dx */
                if (c->post_bwd)
                    c->post_bwd(c->y + b0 * F, dyb, (b1 - b0) * F);
                ot_conv_sparse_dw(&g, rt->sp_tab, c->x + b0 / P * L->in_size, (b1 - b0) / P,
                                  dyb, F, 0, K, dW, b0 > lo, w.sp);
                ot_kcolsum(b1 - b0, F, dyb, F, db);
                continue;
            }
            for (size_t q0 = b0, q1; q0 < b1; q0 = q1) {
                q1 = ot_conv_block_end(&g, q0, b1, MB);
                const size_t m = q1 - q0;
                float *dy = dyb + (q0 - b0) * F;
                if (c->post_bwd) /* the fused element-wise layer's backward first */
                    c->post_bwd(c->y + q0 * F, dy, m * F);
                const float *src = ot_conv_windows(&g, c->x, q0, m, w.pad, &held, w.row);
                ot_kgemm_tn_acc_gather(K, F, m, src, w.row, rt->taps, dy, F, dW, F, q0 > lo,
                                       w.gw);
                ot_kcolsum(m, F, dy, F, db);
                if (c->dx)
                    block_dx(L, c, &w, &g, dy, q0, m);
            }
        }
    }
    ot_grad_leaves_done(c->grad, L->p_off, L->p_len);
}

/* direct convolution in double, tap by tap */
/* Zeros in, the bias out at every position (padding adds zeros too); -1 for any other input,
 * whose windows would differ near the border. */
static int blank(const ot_layer_t *L, const float *params, const float *in, float *out)
{
    const size_t F = L->out.c, P = L->out.h * L->out.w;
    for (size_t i = 0; i < L->in_size; i++)
        if (ot_bits_nonzero(in[i]))
            return -1;
    const float *b = params + L->p_off + L->p_len - F;
    for (size_t p = 0; p < P; p++)
        memcpy(out + p * F, b, F * sizeof(float));
    return 0;
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const ot_conv_geom_t g = geom(L);
    const size_t F = args(L)->filters, C = g.c;
    const double *W = r->P + L->p_off, *b = W + L->p_len - F;
    for (size_t s = 0; s < r->n; s++)
        for (size_t oy = 0; oy < g.oh; oy++)
            for (size_t ox = 0; ox < g.ow; ox++) {
                double *out = y + ((s * g.oh + oy) * g.ow + ox) * F;
                for (size_t f = 0; f < F; f++)
                    out[f] = b[f];
                for (size_t ky = 0; ky < g.kh; ky++)
                    for (size_t kx = 0; kx < g.kw; kx++) {
                        const long iy = (long)(oy * g.stride + ky) - (long)g.pad;
                        const long ix = (long)(ox * g.stride + kx) - (long)g.pad;
                        if (iy < 0 || iy >= (long)g.h || ix < 0 || ix >= (long)g.w)
                            continue;
                        const double *in = x + ((s * g.h + (size_t)iy) * g.w + (size_t)ix) * C;
                        for (size_t ch = 0; ch < C; ch++) {
                            const double *w = W + ((ky * g.kw + kx) * C + ch) * F;
                            for (size_t f = 0; f < F; f++)
                                out[f] += in[ch] * w[f];
                        }
                    }
            }
}

/* Conv with the kernel as ONNX wants it, (filters, c, kh, kw) from omptrain's (kh, kw, c,
 * filters); symmetric padding, floor rounding (ceil_mode 0) as omptrain's shapes */
static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)state;
    const conv_args_t *a = args(L);
    const size_t F = a->filters, C = L->in.c, KH = a->kh, KW = a->kw;
    const float *W = params + L->p_off, *b = W + L->p_len - F;
    const char *in[3] = {ot_onnx_value(g)};
    float *w = ot_onnx_tensor(g, "W", 4,
                              (const int64_t[]){(int64_t)F, (int64_t)C, (int64_t)KH, (int64_t)KW},
                              &in[1]);
    float *bb = ot_onnx_tensor(g, "b", 1, (const int64_t[]){(int64_t)F}, &in[2]);
    if (!w || !bb)
        return -1;
    for (size_t f = 0; f < F; f++)
        for (size_t c = 0; c < C; c++)
            for (size_t ky = 0; ky < KH; ky++)
                for (size_t kx = 0; kx < KW; kx++)
                    w[((f * C + c) * KH + ky) * KW + kx] = W[((ky * KW + kx) * C + c) * F + f];
    memcpy(bb, b, F * sizeof(float));
    const int64_t k[2] = {(int64_t)KH, (int64_t)KW}, s[2] = {(int64_t)a->stride, (int64_t)a->stride};
    const int64_t p = (int64_t)a->pad, pads[4] = {p, p, p, p};
    const ot_onnx_attr_t attrs[3] = {OT_ONNX_INTS("kernel_shape", k, 2),
                                     OT_ONNX_INTS("strides", s, 2), OT_ONNX_INTS("pads", pads, 4)};
    return ot_onnx_node(g, "Conv", NULL, in, 3, attrs, 3, OT_ONNX_IMAGE);
}

const ot_layer_ops_t ot_conv2d_ops = {
    .kind = "conv",
    .usage = "conv FILTERS KHxKW [stride S] [pad P] [winograd|winograd4] (e.g. conv 30 5x5, "
             "conv 16 3x3 pad 1 winograd)",
    .example = "conv 3 3x3 stride 2 pad 1, relu, conv 4 2x2, conv 3 3x3 pad 1 winograd, "
               "conv 2 3x3 winograd4",
    .parse = parse,
    .format = format,
    .computes = computes,
    .shape = shape,
    .declare = declare,
    .init = init,
    .flops = flops,
    .setup = setup,
    .free = rt_free,
    .bytes = rt_bytes,
    .workspace = workspace,
    .begin = begin,
    .prepare = prepare,
    .forward = forward,
    .backward = backward,
    .fuses_next = 1,
    .chains_next = 1,
    .blank = blank,
    .reference = reference,
    .onnx = onnx,
};
