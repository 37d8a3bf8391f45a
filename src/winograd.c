/* winograd.c - the transforms of Winograd's F(2x2, 3x3) for the convolution kind (see
 * ot_winograd.h for the maths and layouts): filter, input, output and their adjoints, each
 * vectorised over the channels, which are innermost (NHWC). The GEMMs between them are
 * omptrain's own (src/kgemm.c), called by src/layers/conv2d.c.
 *
 *   B^T = | 1  0 -1  0 |     G = |  1    0    0  |     A^T = | 1  1  1  0 |
 *         | 0  1  1  0 |         | 1/2  1/2  1/2 |           | 0  1 -1 -1 |
 *         | 0 -1  1  0 |         | 1/2 -1/2  1/2 |
 *         | 0  1  0 -1 |         |  0    0    1  | */
#include <string.h>

#include "ot_winograd.h"

ot_wino_geom_t ot_wino_geom(size_t h, size_t w, size_t c, size_t f, size_t pad)
{
    const size_t oh = h + 2 * pad - 2, ow = w + 2 * pad - 2;
    return (ot_wino_geom_t){h, w, c, f, pad, oh, ow, (oh + 1) / 2, (ow + 1) / 2};
}

size_t ot_wino_pad_floats(const ot_wino_geom_t *g)
{
    return (2 * g->th + 2) * (2 * g->tw + 2) * g->c;
}

void ot_wino_pad(const ot_wino_geom_t *g, const float *x, size_t n, float *buf)
{
    const size_t c = g->c, p = g->pad, pw = 2 * g->tw + 2, ph = 2 * g->th + 2;
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

/* U (16, c, f) = G g G^T, g each channel pair's 3x3 kernel */
void ot_wino_filter(const ot_wino_geom_t *g, const float *W, size_t c0, size_t c1, float *U)
{
    const size_t cf = g->c * g->f;
    for (size_t e = c0 * g->f; e < c1 * g->f; e++) {
        float k[3][3], t[4][3];
        for (int i = 0; i < 9; i++)
            k[i / 3][i % 3] = W[(size_t)i * cf + e];
        for (int j = 0; j < 3; j++) { /* t = G k */
            t[0][j] = k[0][j];
            t[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
            t[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
            t[3][j] = k[2][j];
        }
        for (int i = 0; i < 4; i++) { /* U = t G^T */
            float *u = U + (size_t)i * 4 * cf + e;
            u[0] = t[i][0];
            u[cf] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
            u[2 * cf] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
            u[3 * cf] = t[i][2];
        }
    }
}

/* dW = G^T dU G: the adjoint of ot_wino_filter */
void ot_wino_filter_grad(const ot_wino_geom_t *g, const float *dU, size_t c0, size_t c1,
                         float *dW)
{
    const size_t cf = g->c * g->f;
    for (size_t e = c0 * g->f; e < c1 * g->f; e++) {
        float u[4][4], t[4][3];
        for (int i = 0; i < 16; i++)
            u[i / 4][i % 4] = dU[(size_t)i * cf + e];
        for (int i = 0; i < 4; i++) { /* t = dU G */
            t[i][0] = u[i][0] + 0.5f * (u[i][1] + u[i][2]);
            t[i][1] = 0.5f * (u[i][1] - u[i][2]);
            t[i][2] = 0.5f * (u[i][1] + u[i][2]) + u[i][3];
        }
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
#define FOR_TILES(g, n, t, at)                                                                   \
    for (size_t s_ = 0, t = 0; s_ < (n); s_++)                                                 \
        for (size_t ty_ = 0; ty_ < (g)->th; ty_++)                                             \
            for (size_t tx_ = 0, at = ((s_ * (2 * (g)->th + 2) + 2 * ty_) * (2 * (g)->tw + 2) + \
                                       2 * tx_) * (g)->c;                                      \
                 tx_ < (g)->tw; tx_++, t++, at += 2 * (g)->c)

/* V = B^T d B of each tile's 4x4 block d */
void ot_wino_input(const ot_wino_geom_t *g, const float *buf, size_t n, float *V, size_t ps)
{
    const size_t c = g->c, rs = (2 * g->tw + 2) * c;
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
    const size_t c = g->c, rs = (2 * g->tw + 2) * c;
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

void ot_wino_unpad_add(const ot_wino_geom_t *g, const float *dbuf, size_t n, float *dx)
{
    const size_t c = g->c, p = g->pad, pw = 2 * g->tw + 2, ph = 2 * g->th + 2;
    for (size_t s = 0; s < n; s++)
        for (size_t y = 0; y < g->h; y++) {
            const float *src = dbuf + ((s * ph + p + y) * pw + p) * c;
            float *dst = dx + (s * g->h + y) * g->w * c;
            for (size_t i = 0; i < g->w * c; i++)
                dst[i] += src[i];
        }
}

/* The tiles of n output images in order, with their top-left output position. */
#define FOR_OUT_TILES(g, n, t, s, oy, ox)                                                      \
    for (size_t s = 0, t = 0; s < (n); s++)                                                    \
        for (size_t oy = 0; oy < (g)->oh; oy += 2)                                             \
            for (size_t ox = 0; ox < (g)->ow; ox += 2, t++)

/* Y = A^T M A + bias, positions inside the output only */
void ot_wino_output(const ot_wino_geom_t *g, const float *M, size_t ps, const float *bias,
                    size_t n, float *y)
{
    const size_t f = g->f;
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

/* dM of one tile from its four dY vectors (any of them NULL past the output's edge: zeros) */
static inline __attribute__((always_inline)) void tile_output_grad(
    const float *restrict a_, const float *restrict b_, const float *restrict c_,
    const float *restrict d_, size_t f, float *restrict m, size_t ps)
{
#pragma omp simd
    for (size_t k = 0; k < f; k++) {
        const float a = a_[k], b = b_ ? b_[k] : 0.0f, c = c_ ? c_[k] : 0.0f;
        const float d = d_ ? d_[k] : 0.0f;
        /* rows of A dY: (a, b), (a + c, b + d), (a - c, b - d), (-c, -d); each times A^T */
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

/* dM = A dY A^T: the adjoint of ot_wino_output (without its bias) */
void ot_wino_output_grad(const ot_wino_geom_t *g, const float *dy, size_t n, float *dM,
                         size_t ps)
{
    const size_t f = g->f;
    FOR_OUT_TILES(g, n, t, s, oy, ox) {
        float *m = dM + t * f;
        const float *y0 = dy + ((s * g->oh + oy) * g->ow + ox) * f, *y1 = y0 + g->ow * f;
        const int down = oy + 1 < g->oh, right = ox + 1 < g->ow;
        if (down && right) /* the inside: a copy with no tests */
            tile_output_grad(y0, y0 + f, y1, y1 + f, f, m, ps);
        else
            tile_output_grad(y0, right ? y0 + f : NULL, down ? y1 : NULL,
                             down && right ? y1 + f : NULL, f, m, ps);
    }
}
