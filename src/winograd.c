/* winograd.c - the transforms of Winograd's F(2x2, 3x3) and F(4x4, 3x3) for the convolution
 * kind (see ot_winograd.h for the maths and layouts): filter, input, output and their
 * adjoints, each vectorised over the channels, which are innermost (NHWC). F(4x4, 3x3)'s data
 * transforms take a vector of channels at a time (a column pass into a small array, then a
 * row pass, with few live pointers; BY_VECTORS), the last vector's lanes masked, so that a
 * channel's bits do not depend on where it falls. The GEMMs between them are omptrain's own
 * (src/kgemm.c), called by src/layers/conv2d.c.
 *
 * F(2x2, 3x3):
 *   B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
 *         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |         |  0    0    1  |
 * F(4x4, 3x3) (Lavin and Gray, 2016: the points 0, +-1, +-2):
 *   B^T = | 4  0 -5  0  1  0 |   G = |  1/4     0     0  |   A^T = | 1  1  1  1  1  0 |
 *         | 0 -4 -4  1  1  0 |       | -1/6  -1/6  -1/6 |         | 0  1 -1  2 -2  0 |
 *         | 0  4 -4 -1  1  0 |       | -1/6   1/6  -1/6 |         | 0  1  1  4  4  0 |
 *         | 0 -2 -1  2  1  0 |       | 1/24  1/12   1/6 |         | 0  1 -1  8 -8  1 |
 *         | 0  2 -1 -2  1  0 |       | 1/24 -1/12   1/6 |
 *         | 0  4  0 -5  0  1 |       |   0     0     1  | */
#include <string.h>

#include "ot_simd.h"
#include "ot_winograd.h"

ot_wino_geom_t ot_wino_geom(size_t h, size_t w, size_t c, size_t f, size_t pad, size_t m)
{
    const size_t oh = h + 2 * pad - 2, ow = w + 2 * pad - 2;
    return (ot_wino_geom_t){h, w, c, f, pad, oh, ow, (oh + m - 1) / m, (ow + m - 1) / m, m};
}

size_t ot_wino_points(const ot_wino_geom_t *g)
{
    return (g->m + 2) * (g->m + 2);
}

size_t ot_wino_filter_stride(const ot_wino_geom_t *g)
{
    return g->c * g->f + 16;
}

size_t ot_wino_pad_floats(const ot_wino_geom_t *g)
{
    return (g->m * g->th + 2) * (g->m * g->tw + 2) * g->c;
}

void ot_wino_pad(const ot_wino_geom_t *g, const float *x, size_t n, float *buf)
{
    const size_t c = g->c, p = g->pad, pw = g->m * g->tw + 2, ph = g->m * g->th + 2;
    const size_t right = (pw - p - g->w) * c; /* the pad and any column past it */
    for (size_t s = 0; s < n; s++) {
        float *img = buf + s * ph * pw * c;
        memset(img, 0, p * pw * c * sizeof(float));
        for (size_t y = 0; y < g->h; y++) {
            float *dst = img + (p + y) * pw * c;
            memset(dst, 0, p * c * sizeof(float));
            memcpy(dst + p * c, x + (s * g->h + y) * g->w * c, g->w * c * sizeof(float));
            memset(dst + (p + g->w) * c, 0, right * sizeof(float));
        }
        memset(img + (p + g->h) * pw * c, 0, (ph - p - g->h) * pw * c * sizeof(float));
    }
}

/* ---------------------------------------------------------------- the filter */

/* F(4x4, 3x3)'s G on one column (3 -> 6) and its transpose (6 -> 3), by the floats nearest
 * 1/6, 1/12, 1/24 */
#define R6 (1.0f / 6.0f)
#define R12 (1.0f / 12.0f)
#define R24 (1.0f / 24.0f)
#define G6(k, u)                                                                           \
    do {                                                                                   \
        u[0] = 0.25f * k[0];                                                               \
        u[1] = -R6 * (k[0] + k[1] + k[2]);                                                 \
        u[2] = -R6 * (k[0] - k[1] + k[2]);                                                 \
        u[3] = R24 * k[0] + R12 * k[1] + R6 * k[2];                                        \
        u[4] = R24 * k[0] - R12 * k[1] + R6 * k[2];                                        \
        u[5] = k[2];                                                                       \
    } while (0)
#define GT6(u, k)                                                                          \
    do {                                                                                   \
        k[0] = 0.25f * u[0] - R6 * (u[1] + u[2]) + R24 * (u[3] + u[4]);                    \
        k[1] = R6 * (u[2] - u[1]) + R12 * (u[3] - u[4]);                                   \
        k[2] = R6 * (u[3] + u[4] - u[1] - u[2]) + u[5];                                    \
    } while (0)

/* F(4x4, 3x3): U (36, c, f) = G g G^T of the pairs [e0, e1), and its adjoint. G and G^T are
 * macros on small arrays, written to and read in whole: with inline functions taking the rows
 * as pointers gcc left the pair loop scalar. */
static void filter6(const float *W, size_t cf, size_t e0, size_t e1, float *U, size_t ups)
{
#pragma omp simd
    for (size_t e = e0; e < e1; e++) {
        float t[6][3], x[6], y[6];
        _Pragma("GCC unroll 3")
        for (int j = 0; j < 3; j++) { /* t = G k, column j */
            _Pragma("GCC unroll 3")
            for (int i = 0; i < 3; i++)
                x[i] = W[(size_t)(i * 3 + j) * cf + e];
            G6(x, y);
            _Pragma("GCC unroll 6")
            for (int i = 0; i < 6; i++)
                t[i][j] = y[i];
        }
        _Pragma("GCC unroll 6")
        for (int i = 0; i < 6; i++) { /* U = t G^T, row i */
            _Pragma("GCC unroll 3")
            for (int j = 0; j < 3; j++)
                x[j] = t[i][j];
            G6(x, y);
            _Pragma("GCC unroll 6")
            for (int j = 0; j < 6; j++)
                U[(size_t)(i * 6 + j) * ups + e] = y[j];
        }
    }
}

static void filter6_grad(const float *dU, size_t ups, size_t cf, size_t e0, size_t e1,
                         float *dW)
{
#pragma omp simd
    for (size_t e = e0; e < e1; e++) {
        float t[6][3], x[6], y[3];
        _Pragma("GCC unroll 6")
        for (int i = 0; i < 6; i++) { /* t = dU G, row i */
            _Pragma("GCC unroll 6")
            for (int j = 0; j < 6; j++)
                x[j] = dU[(size_t)(i * 6 + j) * ups + e];
            GT6(x, y);
            _Pragma("GCC unroll 3")
            for (int j = 0; j < 3; j++)
                t[i][j] = y[j];
        }
        _Pragma("GCC unroll 3")
        for (int j = 0; j < 3; j++) { /* dW = G^T t, column j */
            _Pragma("GCC unroll 6")
            for (int i = 0; i < 6; i++)
                x[i] = t[i][j];
            GT6(x, y);
            _Pragma("GCC unroll 3")
            for (int i = 0; i < 3; i++)
                dW[(size_t)(i * 3 + j) * cf + e] = y[i];
        }
    }
}

/* U (points, c, f) = G g G^T, g each channel pair's 3x3 kernel */
void ot_wino_filter(const ot_wino_geom_t *g, const float *W, size_t c0, size_t c1, float *U,
                    size_t ups)
{
    const size_t cf = g->c * g->f;
    if (g->m == 4) {
        filter6(W, cf, c0 * g->f, c1 * g->f, U, ups);
        return;
    }
#pragma omp simd
    for (size_t e = c0 * g->f; e < c1 * g->f; e++) {
        float k[3][3], t[4][3];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < 9; i++)
            k[i / 3][i % 3] = W[(size_t)i * cf + e];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 3; j++) { /* t = G k */
            t[0][j] = k[0][j];
            t[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
            t[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
            t[3][j] = k[2][j];
        }
        _Pragma("GCC unroll 16")
        for (int i = 0; i < 4; i++) { /* U = t G^T */
            float *u = U + (size_t)i * 4 * ups + e;
            u[0] = t[i][0];
            u[ups] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            u[2 * ups] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            u[3 * ups] = t[i][2];
        }
    }
}

/* dW = G^T dU G: the adjoint of ot_wino_filter */
void ot_wino_filter_grad(const ot_wino_geom_t *g, const float *dU, size_t ups, size_t c0,
                         size_t c1, float *dW)
{
    const size_t cf = g->c * g->f;
    if (g->m == 4) {
        filter6_grad(dU, ups, cf, c0 * g->f, c1 * g->f, dW);
        return;
    }
#pragma omp simd
    for (size_t e = c0 * g->f; e < c1 * g->f; e++) {
        float u[4][4], t[4][3];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < 16; i++)
            u[i / 4][i % 4] = dU[(size_t)i * ups + e];
        _Pragma("GCC unroll 16")
        for (int i = 0; i < 4; i++) { /* t = dU G */
            t[i][0] = u[i][0] + 0.5f * (u[i][1] + u[i][2]);
            t[i][1] = 0.5f * (u[i][1] - u[i][2]);
            t[i][2] = 0.5f * (u[i][1] + u[i][2]) + u[i][3];
        }
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 3; j++) { /* dW = G^T t */
            dW[(size_t)j * cf + e] = t[0][j] + 0.5f * (t[1][j] + t[2][j]);
            dW[(size_t)(3 + j) * cf + e] = 0.5f * (t[1][j] - t[2][j]);
            dW[(size_t)(6 + j) * cf + e] = 0.5f * (t[1][j] + t[2][j]) + t[3][j];
        }
    }
}

/* ---------------------------------------------------------------- the data */

/* The tiles of n images in order: the call's tile index and where its block starts in the
 * padded images. */
#define FOR_TILES(g, n, t, at)                                                               \
    for (size_t s_ = 0, t = 0; s_ < (n); s_++)                                             \
        for (size_t ty_ = 0; ty_ < (g)->th; ty_++)                                         \
            for (size_t tx_ = 0, at = ((s_ * ((g)->m * (g)->th + 2) + (g)->m * ty_) *      \
                                           ((g)->m * (g)->tw + 2)) * (g)->c;               \
                 tx_ < (g)->tw; tx_++, t++, at += (g)->m * (g)->c)

/* F(4x4, 3x3)'s B^T on one column (6 -> 6) and its transpose */
#define BT6(x, y)                                                                          \
    do {                                                                                   \
        y[0] = 4.0f * x[0] - 5.0f * x[2] + x[4];                                           \
        y[1] = (x[3] + x[4]) - 4.0f * (x[1] + x[2]);                                       \
        y[2] = (x[4] - x[3]) + 4.0f * (x[1] - x[2]);                                       \
        y[3] = (x[4] - x[2]) + 2.0f * (x[3] - x[1]);                                       \
        y[4] = (x[4] - x[2]) - 2.0f * (x[3] - x[1]);                                       \
        y[5] = 4.0f * x[1] - 5.0f * x[3] + x[5];                                           \
    } while (0)
#define B6(y, x)                                                                           \
    do {                                                                                   \
        x[0] = 4.0f * y[0];                                                                \
        x[1] = 4.0f * (y[2] - y[1] + y[5]) + 2.0f * (y[4] - y[3]);                         \
        x[2] = -5.0f * y[0] - 4.0f * (y[1] + y[2]) - (y[3] + y[4]);                        \
        x[3] = (y[1] - y[2]) + 2.0f * (y[3] - y[4]) - 5.0f * y[5];                         \
        x[4] = y[0] + y[1] + y[2] + y[3] + y[4];                                           \
        x[5] = y[5];                                                                       \
    } while (0)
/* F(4x4, 3x3)'s A^T on one column (6 -> 4) and its transpose */
#define AT6(x, y)                                                                          \
    do {                                                                                   \
        y[0] = x[0] + (x[1] + x[2]) + (x[3] + x[4]);                                       \
        y[1] = (x[1] - x[2]) + 2.0f * (x[3] - x[4]);                                       \
        y[2] = (x[1] + x[2]) + 4.0f * (x[3] + x[4]);                                       \
        y[3] = (x[1] - x[2]) + 8.0f * (x[3] - x[4]) + x[5];                                \
    } while (0)
#define A6(y, x)                                                                           \
    do {                                                                                   \
        x[0] = y[0];                                                                       \
        x[1] = y[0] + y[1] + y[2] + y[3];                                                  \
        x[2] = y[0] - y[1] + y[2] - y[3];                                                  \
        x[3] = y[0] + 2.0f * y[1] + 4.0f * y[2] + 8.0f * y[3];                             \
        x[4] = y[0] - 2.0f * y[1] + 4.0f * y[2] - 8.0f * y[3];                             \
        x[5] = y[3];                                                                       \
    } while (0)

/* A vector's first `left` lanes (left = VL: the whole vector, unmasked) */
static inline __attribute__((always_inline)) vf_t ld(const float *p, size_t left, vmask_t k)
{
    (void)k; /* the portable build's vector is one lane: never masked */
    return left == VL ? V_LOAD(p) : V_LOADN(p, k);
}

static inline __attribute__((always_inline)) void st(float *p, vf_t v, size_t left, vmask_t k)
{
    (void)k;
    if (left == VL)
        V_STORE(p, v);
    else
        V_STOREN(p, v, k);
}

/* stmt for the channels [0, c) a vector at a time: c0 the vector's first channel, left its
 * lanes (VL, a constant, but for the last one) and k their mask */
#define BY_VECTORS(c, c0, left, k, stmt)                                                   \
    do {                                                                                   \
        size_t c0 = 0;                                                                     \
        for (; c0 + VL <= (c); c0 += VL) {                                                 \
            const size_t left = VL;                                                        \
            const vmask_t k = V_MASK(VL);                                                  \
            stmt;                                                                          \
        }                                                                                  \
        if (c0 < (c)) {                                                                    \
            const size_t left = (c) - c0;                                                  \
            const vmask_t k = V_MASK(left);                                                \
            stmt;                                                                          \
        }                                                                                  \
    } while (0)

/* F(4x4, 3x3): V = B^T d B of one tile's 6x6 block (rows rs apart, pixels c apart) for the
 * first `left` lanes of a vector of channels: r = B^T d in a small array, then each row of V
 * stored plane by plane. (Per lane with `omp simd`, gcc kept the 6x6 array and 36 plane
 * pointers per lane and spilled them.) */
static inline __attribute__((always_inline)) void tile_input6(const float *restrict d,
                                                              size_t rs, size_t c,
                                                              float *restrict v, size_t ps,
                                                              size_t left, vmask_t k)
{
    vf_t r[6][6];
    const float *d0 = d, *d1 = d0 + rs, *d2 = d1 + rs, *d3 = d2 + rs, *d4 = d3 + rs,
                *d5 = d4 + rs;
    _Pragma("GCC unroll 1")
    for (size_t j = 0, o = 0; j < 6; j++, o += c) { /* r = B^T d, column j */
        const vf_t x[6] = {ld(d0 + o, left, k), ld(d1 + o, left, k), ld(d2 + o, left, k),
                           ld(d3 + o, left, k), ld(d4 + o, left, k), ld(d5 + o, left, k)};
        vf_t y[6];
        BT6(x, y);
        r[0][j] = y[0], r[1][j] = y[1], r[2][j] = y[2];
        r[3][j] = y[3], r[4][j] = y[4], r[5][j] = y[5];
    }
    float *q = v;
    _Pragma("GCC unroll 1")
    for (int i = 0; i < 6; i++) { /* V = r B, row i */
        vf_t y[6];
        BT6(r[i], y);
        _Pragma("GCC unroll 6")
        for (int j = 0; j < 6; j++, q += ps)
            st(q, y[j], left, k);
    }
}

/* F(4x4, 3x3): d += B dV B^T for the first `left` lanes of a vector of channels, the adjoint
 * of tile_input6 (passes in the reverse order) */
static inline __attribute__((always_inline)) void tile_input6_grad(const float *restrict v,
                                                                   size_t ps, size_t c,
                                                                   float *restrict d,
                                                                   size_t rs, size_t left,
                                                                   vmask_t k)
{
    vf_t r[6][6];
    const float *q = v;
    _Pragma("GCC unroll 1")
    for (int i = 0; i < 6; i++) { /* r = dV B^T, row i */
        vf_t y[6];
        _Pragma("GCC unroll 6")
        for (int j = 0; j < 6; j++, q += ps)
            y[j] = ld(q, left, k);
        B6(y, r[i]);
    }
    float *d0 = d, *d1 = d0 + rs, *d2 = d1 + rs, *d3 = d2 + rs, *d4 = d3 + rs, *d5 = d4 + rs;
    _Pragma("GCC unroll 1")
    for (size_t j = 0, o = 0; j < 6; j++, o += c) { /* dd = B r, column j */
        const vf_t y[6] = {r[0][j], r[1][j], r[2][j], r[3][j], r[4][j], r[5][j]};
        vf_t x[6];
        B6(y, x);
        st(d0 + o, ld(d0 + o, left, k) + x[0], left, k);
        st(d1 + o, ld(d1 + o, left, k) + x[1], left, k);
        st(d2 + o, ld(d2 + o, left, k) + x[2], left, k);
        st(d3 + o, ld(d3 + o, left, k) + x[3], left, k);
        st(d4 + o, ld(d4 + o, left, k) + x[4], left, k);
        st(d5 + o, ld(d5 + o, left, k) + x[5], left, k);
    }
}

/* V = B^T d B of each tile's 4x4 block d */
void ot_wino_input(const ot_wino_geom_t *g, const float *buf, size_t n, float *V, size_t ps)
{
    const size_t c = g->c, rs = (g->m * g->tw + 2) * c;
    if (g->m == 4) {
        FOR_TILES(g, n, t, at)
            BY_VECTORS(c, c0, left, k,
                       tile_input6(buf + at + c0, rs, c, V + t * c + c0, ps, left, k));
        return;
    }
    FOR_TILES(g, n, t, at) {
        const float *d0 = buf + at, *d1 = d0 + rs, *d2 = d1 + rs, *d3 = d2 + rs;
        float *v = V + t * c;
#pragma omp simd
        for (size_t ch = 0; ch < c; ch++) {
            float r[4][4];
            for (int j = 0; j < 4; j++) { /* r = B^T d, column j */
                const size_t o = (size_t)j * c + ch;
                r[0][j] = d0[o] - d2[o];
                r[1][j] = d1[o] + d2[o];
                r[2][j] = d2[o] - d1[o];
                r[3][j] = d1[o] - d3[o];
            }
            for (int i = 0; i < 4; i++) { /* V = r B */
                float *vi = v + (size_t)i * 4 * ps + ch;
                vi[0] = r[i][0] - r[i][2];
                vi[ps] = r[i][1] + r[i][2];
                vi[2 * ps] = r[i][2] - r[i][1];
                vi[3 * ps] = r[i][1] - r[i][3];
            }
        }
    }
}

/* dd = B dV B^T added onto each tile's block: the adjoint of ot_wino_input */
void ot_wino_input_grad(const ot_wino_geom_t *g, const float *dV, size_t ps, size_t n,
                        float *dbuf)
{
    const size_t c = g->c, rs = (g->m * g->tw + 2) * c;
    if (g->m == 4) {
        FOR_TILES(g, n, t, at)
            BY_VECTORS(c, c0, left, k,
                       tile_input6_grad(dV + t * c + c0, ps, c, dbuf + at + c0, rs, left, k));
        return;
    }
    FOR_TILES(g, n, t, at) {
        float *d0 = dbuf + at, *d1 = d0 + rs, *d2 = d1 + rs, *d3 = d2 + rs;
        const float *v = dV + t * c;
#pragma omp simd
        for (size_t ch = 0; ch < c; ch++) {
            float r[4][4];
            for (int i = 0; i < 4; i++) { /* r = dV B^T, row i */
                const float *vi = v + (size_t)i * 4 * ps + ch;
                r[i][0] = vi[0];
                r[i][1] = vi[ps] - vi[2 * ps] + vi[3 * ps];
                r[i][2] = vi[ps] + vi[2 * ps] - vi[0];
                r[i][3] = -vi[3 * ps];
            }
            for (int j = 0; j < 4; j++) { /* dd = B r */
                const size_t o = (size_t)j * c + ch;
                d0[o] += r[0][j];
                d1[o] += r[1][j] - r[2][j] + r[3][j];
                d2[o] += r[1][j] + r[2][j] - r[0][j];
                d3[o] -= r[3][j];
            }
        }
    }
}

void ot_wino_unpad(const ot_wino_geom_t *g, const float *dbuf, size_t n, float *dx)
{
    const size_t c = g->c, p = g->pad, pw = g->m * g->tw + 2, ph = g->m * g->th + 2;
    for (size_t s = 0; s < n; s++)
        for (size_t y = 0; y < g->h; y++) {
            const float *src = dbuf + ((s * ph + p + y) * pw + p) * c;
            float *dst = dx + (s * g->h + y) * g->w * c;
            for (size_t i = 0; i < g->w * c; i++)
                dst[i] = src[i] + 0.0f;
        }
}

/* The tiles of n output images in order, with their top-left output position. */
#define FOR_OUT_TILES(g, n, t, s, oy, ox)                                                      \
    for (size_t s = 0, t = 0; s < (n); s++)                                                    \
        for (size_t oy = 0; oy < (g)->oh; oy += (g)->m)                                        \
            for (size_t ox = 0; ox < (g)->ow; ox += (g)->m, t++)

/* Channels at a time when a tile passes through a copy (the output's edge) */
enum { RUN = 64 };

/* A run of channels copied or zeroed in line: a call to memcpy per pixel cost more than the
 * copy (an edge tile makes up to 16 of them) */
static inline void copy_run(float *restrict dst, const float *restrict src, size_t r)
{
#pragma omp simd
    for (size_t k = 0; k < r; k++)
        dst[k] = src[k];
}

static inline void zero_run(float *dst, size_t r)
{
#pragma omp simd
    for (size_t k = 0; k < r; k++)
        dst[k] = 0.0f;
}

/* F(4x4, 3x3): the 4x4 block Y = A^T M A + bias of one tile into y (rows ry apart, columns
 * f apart) for the first `left` lanes of a vector of channels, as tile_input6 */
static inline __attribute__((always_inline)) void tile_output6(const float *restrict m,
                                                               size_t ps, const float *bias,
                                                               float *restrict y, size_t ry,
                                                               size_t f, size_t left, vmask_t k)
{
    vf_t t[4][6];
    const float *m0 = m, *m1 = m0 + 6 * ps, *m2 = m1 + 6 * ps, *m3 = m2 + 6 * ps,
                *m4 = m3 + 6 * ps, *m5 = m4 + 6 * ps;
    _Pragma("GCC unroll 1")
    for (size_t j = 0, o = 0; j < 6; j++, o += ps) { /* t = A^T M, column j */
        const vf_t x[6] = {ld(m0 + o, left, k), ld(m1 + o, left, k), ld(m2 + o, left, k),
                           ld(m3 + o, left, k), ld(m4 + o, left, k), ld(m5 + o, left, k)};
        vf_t u[4];
        AT6(x, u);
        t[0][j] = u[0], t[1][j] = u[1], t[2][j] = u[2], t[3][j] = u[3];
    }
    const vf_t b = bias ? ld(bias, left, k) : V_ZERO();
    _Pragma("GCC unroll 1")
    for (int i = 0; i < 4; i++) { /* Y = t A, row i */
        vf_t u[4];
        AT6(t[i], u);
        float *yi = y + (size_t)i * ry;
        st(yi, b + u[0], left, k);
        st(yi + f, b + u[1], left, k);
        st(yi + 2 * f, b + u[2], left, k);
        st(yi + 3 * f, b + u[3], left, k);
    }
}

static void output6(const ot_wino_geom_t *g, const float *M, size_t ps, const float *bias,
                    size_t n, float *y)
{
    const size_t f = g->f;
    FOR_OUT_TILES(g, n, t, s, oy, ox) {
        const float *m = M + t * f;
        float *y0 = y + ((s * g->oh + oy) * g->ow + ox) * f;
        const size_t rows = g->oh - oy < 4 ? g->oh - oy : 4, cols = g->ow - ox < 4 ? g->ow - ox : 4;
        if (rows == 4 && cols == 4) {
            BY_VECTORS(f, c0, left, k,
                       tile_output6(m + c0, ps, bias ? bias + c0 : NULL, y0 + c0, g->ow * f, f,
                                    left, k));
            continue;
        }
        float e[16 * RUN]; /* the whole block, then its part inside the output */
        for (size_t k0 = 0; k0 < f; k0 += RUN) {
            const size_t r = f - k0 < RUN ? f - k0 : RUN;
            BY_VECTORS(r, c0, left, k,
                       tile_output6(m + k0 + c0, ps, bias ? bias + k0 + c0 : NULL, e + c0,
                                    4 * r, r, left, k));
            for (size_t i = 0; i < rows; i++)
                for (size_t j = 0; j < cols; j++)
                    copy_run(y0 + (i * g->ow + j) * f + k0, e + (i * 4 + j) * r, r);
        }
    }
}

/* F(4x4, 3x3): dM = A dY A^T of one tile's 4x4 block of dY (rows ry apart, columns f apart)
 * for the first `left` lanes of a vector of channels, as tile_input6 */
static inline __attribute__((always_inline)) void tile_output6_grad(const float *restrict dy,
                                                                    size_t ry, size_t f,
                                                                    float *restrict m, size_t ps,
                                                                    size_t left, vmask_t k)
{
    vf_t t[6][4];
    const float *y0 = dy, *y1 = y0 + ry, *y2 = y1 + ry, *y3 = y2 + ry;
    _Pragma("GCC unroll 1")
    for (size_t j = 0, o = 0; j < 4; j++, o += f) { /* t = A dY, column j */
        const vf_t u[4] = {ld(y0 + o, left, k), ld(y1 + o, left, k), ld(y2 + o, left, k),
                           ld(y3 + o, left, k)};
        vf_t x[6];
        A6(u, x);
        t[0][j] = x[0], t[1][j] = x[1], t[2][j] = x[2];
        t[3][j] = x[3], t[4][j] = x[4], t[5][j] = x[5];
    }
    float *q = m;
    _Pragma("GCC unroll 1")
    for (int i = 0; i < 6; i++) { /* dM = t A^T, row i */
        vf_t x[6];
        A6(t[i], x);
        _Pragma("GCC unroll 6")
        for (int j = 0; j < 6; j++, q += ps)
            st(q, x[j], left, k);
    }
}

static void output6_grad(const ot_wino_geom_t *g, const float *dy, size_t n, float *dM,
                         size_t ps)
{
    const size_t f = g->f;
    FOR_OUT_TILES(g, n, t, s, oy, ox) {
        float *m = dM + t * f;
        const float *y0 = dy + ((s * g->oh + oy) * g->ow + ox) * f;
        const size_t rows = g->oh - oy < 4 ? g->oh - oy : 4, cols = g->ow - ox < 4 ? g->ow - ox : 4;
        if (rows == 4 && cols == 4) {
            BY_VECTORS(f, c0, left, k,
                       tile_output6_grad(y0 + c0, g->ow * f, f, m + c0, ps, left, k));
            continue;
        }
        float e[16 * RUN]; /* the block with zeros past the output's edge */
        for (size_t k0 = 0; k0 < f; k0 += RUN) {
            const size_t r = f - k0 < RUN ? f - k0 : RUN;
            for (size_t i = 0; i < 4; i++)
                for (size_t j = 0; j < 4; j++) {
                    float *d = e + (i * 4 + j) * r;
                    if (i < rows && j < cols)
                        copy_run(d, y0 + (i * g->ow + j) * f + k0, r);
                    else
                        zero_run(d, r);
                }
            BY_VECTORS(r, c0, left, k,
                       tile_output6_grad(e + c0, 4 * r, r, m + k0 + c0, ps, left, k));
        }
    }
}

/* Y = A^T M A + bias, positions inside the output only */
void ot_wino_output(const ot_wino_geom_t *g, const float *M, size_t ps, const float *bias,
                    size_t n, float *y)
{
    const size_t f = g->f;
    if (g->m == 4) {
        output6(g, M, ps, bias, n, y);
        return;
    }
    FOR_OUT_TILES(g, n, t, s, oy, ox) {
        const float *m = M + t * f;
        float *y0 = y + ((s * g->oh + oy) * g->ow + ox) * f, *y1 = y0 + g->ow * f;
        const int down = oy + 1 < g->oh, right = ox + 1 < g->ow;
#pragma omp simd
        for (size_t k = 0; k < f; k++) {
            float r[2][4];
            const float b = bias ? bias[k] : 0.0f;
            for (int j = 0; j < 4; j++) { /* r = A^T M, column j */
                const float *mj = m + (size_t)j * ps + k;
                r[0][j] = mj[0] + mj[4 * ps] + mj[8 * ps];
                r[1][j] = mj[4 * ps] - mj[8 * ps] - mj[12 * ps];
            }
            y0[k] = b + (r[0][0] + r[0][1] + r[0][2]);
            if (right)
                y0[f + k] = b + (r[0][1] - r[0][2] - r[0][3]);
            if (down) {
                y1[k] = b + (r[1][0] + r[1][1] + r[1][2]);
                if (right)
                    y1[f + k] = b + (r[1][1] - r[1][2] - r[1][3]);
            }
        }
    }
}

/* dM of one tile from its 2x2 block of dY: rows of A dY are (a, b), (a + c, b + d),
 * (a - c, b - d), (-c, -d), each times A^T. */
static inline __attribute__((always_inline)) void tile_output_grad(
    const float *restrict y0, const float *restrict y1, size_t f, float *restrict m, size_t ps)
{
#pragma omp simd
    for (size_t k = 0; k < f; k++) {
        const float a = y0[k], b = y0[f + k], c = y1[k], d = y1[f + k];
        const float p1 = a + c, q1 = b + d, p2 = a - c, q2 = b - d;
        m[k] = a, m[ps + k] = a + b, m[2 * ps + k] = a - b, m[3 * ps + k] = -b;
        m[4 * ps + k] = p1, m[5 * ps + k] = p1 + q1, m[6 * ps + k] = p1 - q1;
        m[7 * ps + k] = -q1;
        m[8 * ps + k] = p2, m[9 * ps + k] = p2 + q2, m[10 * ps + k] = p2 - q2;
        m[11 * ps + k] = -q2;
        m[12 * ps + k] = -c, m[13 * ps + k] = -c - d, m[14 * ps + k] = d - c;
        m[15 * ps + k] = d;
    }
}

/* dM = A dY A^T: the adjoint of ot_wino_output (without its bias). A tile past the output's
 * edge takes its 2x2 block from a copy with zeros where the output ends, in runs of 2 x 64
 * channels. */
void ot_wino_output_grad(const ot_wino_geom_t *g, const float *dy, size_t n, float *dM,
                         size_t ps)
{
    const size_t f = g->f;
    if (g->m == 4) {
        output6_grad(g, dy, n, dM, ps);
        return;
    }
    FOR_OUT_TILES(g, n, t, s, oy, ox) {
        float *m = dM + t * f;
        const float *y0 = dy + ((s * g->oh + oy) * g->ow + ox) * f, *y1 = y0 + g->ow * f;
        const int down = oy + 1 < g->oh, right = ox + 1 < g->ow;
        if (down && right) {
            tile_output_grad(y0, y1, f, m, ps);
            continue;
        }
        float e0[2 * RUN], e1[2 * RUN];
        for (size_t k0 = 0; k0 < f; k0 += RUN) {
            const size_t r = f - k0 < RUN ? f - k0 : RUN;
            for (size_t k = 0; k < r; k++) {
                e0[k] = y0[k0 + k];
                e0[r + k] = right ? y0[f + k0 + k] : 0.0f;
                e1[k] = down ? y1[k0 + k] : 0.0f;
                e1[r + k] = down && right ? y1[f + k0 + k] : 0.0f;
            }
            tile_output_grad(e0, e1, r, m + k0, ps);
        }
    }
}
