/* ot_winograd.h - Winograd's minimal filtering F(m x m, 3x3), m = 2 or 4, for 3x3, stride-1
 * convolutions over NHWC images (src/winograd.c): each m x m block of output (a tile) from the
 * (m + 2) x (m + 2) block of input under it, with (m + 2)^2 multiplications per channel pair
 * instead of 9 m^2 (16 instead of 36 for m = 2, 36 instead of 144 for m = 4),
 *
 *     Y = A^T [ U (.) V ] A,   U = G g G^T (the filter),   V = B^T d B (the input tile),
 *
 * the sum over input channels inside (.) being one GEMM per point xi of the transformed tile
 * (its "points", ot_wino_points): M[xi] (tiles, F) = V[xi] (tiles, C) U[xi] (C, F). Backward
 * is the exact adjoint of that forward, reusing its transforms: dM = A dY A^T,
 * dU[xi] = V[xi]^T dM[xi] (summed over tiles), dg = G^T dU G, dV[xi] = dM[xi] U[xi]^T,
 * dd = B dV B^T added onto the input tiles (which overlap by 2). In exact arithmetic every one
 * of these equals the direct convolution's; in floats they differ from it by rounding, more for
 * m = 4 (entries up to 8 and 1/6, 1/24) than for m = 2 (0, +-1, +-1/2).
 *
 * Tiles of an image are numbered row by row, (ty, tx) with ty < th = ceil(oh / m), tx < tw;
 * a tile's input block starts at input row m ty - pad, column m tx - pad. A block of images is
 * first copied into a zero-bordered buffer (ot_wino_pad) of ph = m th + 2 rows and
 * pw = m tw + 2 columns, so that every tile's input block lies inside it. Transformed data of a
 * call on T tiles are a plane of (T, channels) per point, plane xi at xi ps for the caller's
 * plane stride ps (best not a multiple of 4 KiB: the planes are written together). Kernels are
 * pure. */
#ifndef OT_WINOGRAD_H
#define OT_WINOGRAD_H

#include <stddef.h>

/* A 3x3, stride-1 convolution of (h, w, c) images with pad (0, 1 or 2) to (oh, ow, f). */
typedef struct {
    size_t h, w, c, f, pad;
    size_t oh, ow; /* h + 2 pad - 2, likewise */
    size_t th, tw; /* tiles down and across: ceil(oh / m), ceil(ow / m) */
    size_t m;      /* a tile's output side: 2 for F(2x2, 3x3), 4 for F(4x4, 3x3) */
} ot_wino_geom_t;

/* The geometry of that convolution by F(m x m, 3x3), m 2 or 4. */
ot_wino_geom_t ot_wino_geom(size_t h, size_t w, size_t c, size_t f, size_t pad, size_t m);

/* Points of a transformed tile, (m + 2)^2: the planes of V, M and U. */
size_t ot_wino_points(const ot_wino_geom_t *g);

/* Floats of one padded image: (2 th + 2) (2 tw + 2) c. */
size_t ot_wino_pad_floats(const ot_wino_geom_t *g);

/* Images x (n, h, w, c) into buf (n padded images, zero border). */
void ot_wino_pad(const ot_wino_geom_t *g, const float *x, size_t n, float *buf);

/* The plane stride for U and dU that ot_wino_filter and ot_wino_filter_grad take: c f and 16
 * floats, so that the planes do not fall on the same cache sets. */
size_t ot_wino_filter_stride(const ot_wino_geom_t *g);

/* U (a plane of (c, f) per point, plane stride ups) = G g G^T for every channel pair of
 * W (3, 3, c, f) (HWIO) with input channel in [c0, c1). */
void ot_wino_filter(const ot_wino_geom_t *g, const float *W, size_t c0, size_t c1, float *U,
                    size_t ups);

/* dW (3, 3, c, f) = G^T dU G for dU (a plane of (c, f) per point, plane stride ups); input
 * channels [c0, c1) only. */
void ot_wino_filter_grad(const ot_wino_geom_t *g, const float *dU, size_t ups, size_t c0,
                         size_t c1, float *dW);

/* V (a plane per point of (n th tw, c), plane stride ps floats) = B^T d B for every tile of the n
 * padded images buf (ot_wino_pad). */
void ot_wino_input(const ot_wino_geom_t *g, const float *buf, size_t n, float *V, size_t ps);

/* y (n, oh, ow, f) = A^T M A + bias (NULL: none) for M (a plane per point of (n th tw, f), plane
 * stride ps). */
void ot_wino_output(const ot_wino_geom_t *g, const float *M, size_t ps, const float *bias,
                    size_t n, float *y);

/* dM (a plane per point of (n th tw, f), plane stride ps) = A dY A^T for dy (n, oh, ow, f), the
 * positions of a tile past the output's edge taken as zeros. */
void ot_wino_output_grad(const ot_wino_geom_t *g, const float *dy, size_t n, float *dM,
                         size_t ps);

/* dbuf (n padded images, zeroed by the caller) += B dV B^T of every tile, tile by tile in
 * order; then ot_wino_unpad takes the images' part. */
void ot_wino_input_grad(const ot_wino_geom_t *g, const float *dV, size_t ps, size_t n,
                        float *dbuf);

/* dx (n, h, w, c) = the inside of the n padded images dbuf, each plus 0.0f: a zero of either
 * sign is stored as +0, the bits of adding it onto a zeroed dx. */
void ot_wino_unpad(const ot_wino_geom_t *g, const float *dbuf, size_t n, float *dx);

#endif
