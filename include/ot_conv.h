/* ot_conv.h - the kernels of the convolution and pooling kinds (src/layers/conv2d.c,
 * maxpool.c, avgpool.c), over images stored NHWC: sample, row, column, channel innermost.
 *
 * A convolution is a GEMM over its im2col (column) matrix: one row per sample and output
 * position (q = (sample * oh + oy) * ow + ox), one column per kernel tap and input channel
 * ((ky * kw + kx) * c + ch, the order of W's rows, HWIO); taps outside the image are zeros
 * (padding). The matrix is not stored: its element (q, k) is src[row[q] + col[k]], read where
 * the images lie (ot_conv_windows, ot_conv_taps). Kernels are pure: no allocation, no I/O, no
 * globals. */
#ifndef OT_CONV_H
#define OT_CONV_H

#include <stddef.h>
#include <stdint.h>

/* The geometry of a convolution or pooling window over an (h, w, c) image. */
typedef struct {
    size_t h, w, c;     /* input */
    size_t kh, kw;      /* window */
    size_t stride, pad; /* the same along both axes */
    size_t oh, ow;      /* output positions: (h + 2 pad - kh) / stride + 1, likewise */
} ot_conv_geom_t;

/* col[k], k < kh kw c: tap k's offset in a window of the images as ot_conv_windows gives them
 * (with padding, images of (h + 2 pad, w + 2 pad)). */
void ot_conv_taps(const ot_conv_geom_t *g, size_t *col);

/* Floats of the buffer ot_conv_windows needs for blocks of up to m rows: 0 without padding. */
size_t ot_conv_pad_floats(const ot_conv_geom_t *g, size_t m);

/* Column-matrix rows per block of a convolution with K taps: about 256 KiB of them (in L2
 * with the GEMM's operands, for dx's block of dcol), at least 64 and a multiple of 8. */
size_t ot_conv_block_rows(size_t K);

/* The end of the block of rows that starts at q0 (< hi): MB rows, but with padding whole
 * images when one fits (MB >= P, g's rows an image), else not past the end of q0's image, so
 * that consecutive blocks read the same padded images or none in common and each image is
 * copied once a pass. */
size_t ot_conv_block_end(const ot_conv_geom_t *g, size_t q0, size_t hi, size_t MB);

/* Which images a buffer of padded copies holds: images [s0, s1) of x (x NULL: none yet). */
typedef struct {
    const float *x;
    size_t s0, s1;
} ot_conv_held_t;

/* Rows [q0, q0 + m) of the column matrix of the images x (n, h, w, c): row[r] the offset of
 * row q0 + r's window in the returned images, so that the matrix's element (q0 + r, k) is
 * src[row[r] + col[k]] (col from ot_conv_taps). src is x itself without padding, else buf
 * (ot_conv_pad_floats(g, m) floats): the block's images copied with a border of pad zeros,
 * unless held (NULL: always copy; else zeroed before a run of calls on one buf) says buf holds
 * them already. */
const float *ot_conv_windows(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m,
                             float *buf, ot_conv_held_t *held, size_t *row);

/* Whether ot_conv_live_windows takes g: padded images up to 64 pixels wide (a row's mask in a
 * 64-bit word). */
int ot_conv_live_fits(const ot_conv_geom_t *g);

/* Words of the mask room ot_conv_live_windows needs for blocks of up to m rows. */
size_t ot_conv_live_words(const ot_conv_geom_t *g, size_t m);

/* ot_conv_windows for the rows of [q0, q0 + m) whose windows hold a value whose bits are not
 * all zero (a -0 or a NaN counts): row[] gets their offsets alone, in order, live[r] is 1 for
 * each of them and 0 for the others, and *n_live their count. Every tap of any other window
 * is +0, so the GEMM of its row is, bit for bit, the GEMM of a row of +0s. mask: room for
 * ot_conv_live_words(g, m) words. For geometries ot_conv_live_fits accepts. */
const float *ot_conv_live_windows(const ot_conv_geom_t *g, const float *x, size_t q0, size_t m,
                                  float *buf, ot_conv_held_t *held, uint64_t *mask,
                                  size_t *row, uint8_t *live, size_t *n_live);

/* The adjoint of the column matrix: rows [q0, q0 + m) of dcol (m, kh kw c) added into the
 * images' gradient dx (n, h, w, c), row by row, tap by tap (a fixed order). */
void ot_col2im_add(const ot_conv_geom_t *g, const float *dcol, size_t q0, size_t m, float *dx);

/* The weight gradient of the first convolution on one-channel images that are mostly zero,
 * from their nonzero pixels alone (src/conv_sparse.c): the same FMA chains as
 * ot_kgemm_tn_acc_gather on the column matrix with the zero pixels' terms left out, so the
 * same bits. For the geometries ot_conv_sparse_fits accepts (one channel, stride 1, at most 32
 * taps, images up to 256 x 256 padded), and images whose share of nonzero pixels is below
 * ot_conv_sparse_below() (where it pays, by vector width). work: ot_conv_sparse_work_size(g)
 * bytes, private to the calling thread. */
int ot_conv_sparse_fits(const ot_conv_geom_t *g);
float ot_conv_sparse_below(void);
size_t ot_conv_sparse_work_size(const ot_conv_geom_t *g);

/* The geometry's tables the kernels read (tab: ot_conv_sparse_table_len(g) entries), set once. */
size_t ot_conv_sparse_table_len(const ot_conv_geom_t *g);
void ot_conv_sparse_tables(const ot_conv_geom_t *g, uint32_t *tab);

/* Rows [k0, k1) of dW (kh kw, F) = (acc: dW's rows +) col^T dy over the n images x and their
 * dy (n P, F), each element one chain over the rows in order. */
void ot_conv_sparse_dw(const ot_conv_geom_t *g, const uint32_t *tab, const float *x, size_t n,
                       const float *dy, size_t F, size_t k0, size_t k1, float *dW, int acc,
                       void *work);

/* The most inputs a max-pooling window may have: its taps are recorded in a byte. */
#define OT_MAXPOOL_TAPS 255

/* Max pooling of x (n, h, w, c) into y (n, oh, ow, c); tap (n, oh, ow, c) gets the window
 * position (ky * kw + kx) of the input that gave each maximum: the first of the window's
 * largest values in window order (row by row, left to right), so ties go to the top-left
 * one. */
void ot_maxpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y,
                        uint8_t *tap);

/* The same for images given position by position: rows[(s h + iy) w + ix] holds the c
 * channels of image s's input (iy, ix), so that rows need not lie one after another. */
void ot_maxpool_forward_rows(const ot_conv_geom_t *g, const float *const *rows, size_t n,
                             float *y, uint8_t *tap);

/* dx (n, h, w, c) = zero, then dy added output by output to the input its tap names. */
void ot_maxpool_backward(const ot_conv_geom_t *g, const float *dy, const uint8_t *tap,
                         size_t n, float *dx);

/* Average pooling (padding counts as zeros, and the divisor is always kh kw). */
void ot_avgpool_forward(const ot_conv_geom_t *g, const float *x, size_t n, float *y);

/* dx (n, h, w, c) = dy / (kh kw) spread over each window: zero, then added output by
 * output. */
void ot_avgpool_backward(const ot_conv_geom_t *g, const float *dy, size_t n, float *dx);

#endif
