/* ot_kgemm.h - omptrain's own GEMM for the training step.
 *
 * The arithmetic is defined, not left to a library: every element of C is ONE chain of fused
 * multiply-adds over k in increasing order, started from zero (or from a bias), whatever the
 * sizes, the blocking, the alignment or the calling thread. So a forward pass over the rows of
 * several shards in one call gives the same bits as shard by shard, and a thread can take any
 * number of shards per call without changing a result.
 *
 * B operands are packed once into column panels (ot_kpack_b) and shared read-only by every
 * thread; A operands are packed by each call into the caller's workspace.
 *
 * The weight gradient has its own entry point, ot_kgemm_tn_tree: the product x^T dy summed over
 * shards in the engine's fixed reduction tree (see ot_engine.h), with every leaf and every
 * node the thread owns formed in registers and cache, so only the nodes other threads need are
 * written to memory.
 *
 * The first layer on mostly-zero images has sparse versions of both (ot_kspmm,
 * ot_kgemm_tn_tree_sparse): the same chains with the zero terms left out, x given as lists of
 * its nonzero 8-bit pixels by row and by column (ot_sparse_batch_t in ot_data.h). */
#ifndef OT_KGEMM_H
#define OT_KGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Floats of a packed (k, n) B operand. */
size_t ot_kpack_size(size_t k, size_t n);

/* Pack op(B) (k, n) into Bp (ot_kpack_size(k, n) floats, OT_ALIGN-aligned): op(B) = B, stored
 * (k, n) with row stride ldb, or with trans B^T, B stored (n, k) with row stride ldb. Panels
 * [p0, p1) of the ceil(n / ot_kgemm_nr()) column panels only, so that threads can share the
 * work; pass 0 and SIZE_MAX for all. stream: the panels are stored past this core's caches,
 * for a packed W that other threads read and the next step's packing rewrites (the store
 * then invalidates their copies without waiting on each; at one thread the caches are
 * faster). The same floats either way. */
void ot_kpack_b(const float *B, size_t ldb, bool trans, size_t k, size_t n, float *Bp, size_t p0,
                size_t p1, bool stream);

/* ot_kpack_b of B (k, n) (not transposed), rows [k0, k1) of every panel only: a split of the
 * packing by B's rows. */
void ot_kpack_b_rows(const float *B, size_t ldb, size_t k, size_t n, float *Bp, size_t k0,
                     size_t k1, bool stream);

/* Columns per packed panel. */
size_t ot_kgemm_nr(void);

/* Workspace floats ot_kgemm needs for k up to max_k. */
size_t ot_kgemm_work_size(size_t max_k);

/* C (m, n) = bias (broadcast over rows; zero when NULL) + A (m, k) Bp, C row stride ldc,
 * A row-major with row stride lda; Bp from ot_kpack_b with the same k and n. work: floats from
 * ot_kgemm_work_size(k), OT_ALIGN-aligned, private to the calling thread. */
void ot_kgemm(size_t m, size_t n, size_t k, const float *A, size_t lda, const float *Bp,
              const float *bias, float *C, size_t ldc, float *work);

/* ot_kgemm for the (m, k) matrix A whose element (i, p) is x[row[i] + col[p]], which is never
 * stored: the im2col matrix of images read where they lie (an implicit GEMM), with row[]
 * the offset of each output position's window and col[] each tap's offset in it. The same
 * arithmetic, and bits, as ot_kgemm on that matrix. */
void ot_kgemm_gather(size_t m, size_t n, size_t k, const float *x, const size_t *row,
                     const size_t *col, const float *Bp, const float *bias, float *C,
                     size_t ldc, float *work);

/* ot_kgemm without a bias for an A with many zeros (a gradient below a ReLU): each row's
 * nonzero entries listed, then each element of C the FMA chain from +0 over them in order:
 * ot_kgemm's chain with its terms 0 B(p, j) left out, and so the same bits, since adding +-0
 * to a chain that is not -0 changes no bit of it (a chain from +0 is -0 only after a product
 * below the smallest float; and B must be finite, where 0 inf is a NaN). When A's share of
 * nonzero entries is skip_below or more it runs ot_kgemm itself. Returns A's nonzero count.
 * work: ot_kgemm_skip_work_size(m, k) floats, OT_ALIGN-aligned. */
size_t ot_kgemm_skip_work_size(size_t max_m, size_t k);
size_t ot_kgemm_skip(size_t m, size_t n, size_t k, const float *A, size_t lda, const float *Bp,
                     float *C, size_t ldc, float skip_below, float *work);

/* C's row crow[i] (row stride ldc) += (A (m, k) Bp)(i, .) for i < m, its first n columns: each
 * element's chain continued from C with k more terms in order, as ot_kgemm's next KC slice
 * would. A row-major, row stride lda; Bp k rows of each column panel of a packed B, the panels
 * ldp floats apart (rows [k0, k0 + k) of ot_kpack_b(K, n): Bp + k0 * ot_kgemm_nr(), ldp = K *
 * ot_kgemm_nr()). */
void ot_kgemm_acc_rows(size_t m, size_t n, size_t k, const float *A, size_t lda,
                       const float *Bp, size_t ldp, float *C, size_t ldc, const uint32_t *crow);

/* Row stride of A for ot_kpack_rows_shift of k columns: k rounded up to whole vectors. */
static inline size_t ot_kpack_rows_ld(size_t k, size_t vl)
{
    return (k + vl - 1) / vl * vl;
}

/* The rows r < n of x (row stride ldx), columns [0, k), less s[0..k), into A (row stride at
 * least ot_kpack_rows_ld(k, ot_kgemm_vl())), each row kept only when it is not all +0: returns
 * how many were kept, idx[i] the i-th one's r. */
size_t ot_kpack_rows_shift(size_t n, size_t k, const float *x, size_t ldx, const float *s,
                           float *A, size_t lda, uint32_t *idx);

/* Floats per vector of this build's kernels. */
size_t ot_kgemm_vl(void);

/* y[j] += sum over f < k of s[f] W[f][j], j < n: each element one FMA chain over f in order,
 * continued from y, the terms with s[f] == 0 left out. W row-major, row stride ldw. */
void ot_kaxpy_rows(size_t k, size_t n, const float *s, const float *W, size_t ldw, float *y);

/* The shape of a weight-gradient call: leaf i (0 <= i < n_leaves) is rows [seg[i], seg[i+1])
 * of x and dy; after leaf i is formed, merges[i] times the node on top of a stack is added to
 * it (top + current), then it is pushed. When every leaf is done the stack holds n_roots
 * nodes, written bottom first to roots[0..n_roots) (each (m, n), row stride ldr). */
typedef struct {
    size_t n_leaves;
    const size_t *seg;       /* (n_leaves + 1) row offsets, seg[0] = 0 */
    const uint8_t *merges;   /* (n_leaves) */
    size_t n_roots;
    float *const *roots;     /* (n_roots) destinations */
    size_t ldr;
} ot_ktree_t;

/* Workspace floats ot_kgemm_tn_tree needs for up to max_rows rows, m x n products, up to
 * max_leaves leaves and a stack of up to max_depth nodes. */
size_t ot_kgemm_tree_work_size(size_t max_rows, size_t m, size_t n, size_t max_leaves,
                               size_t max_depth);

/* For each leaf, x[seg]^T (m, rows) dy[seg] (rows, n) as in ot_kgemm (a chain over the rows in
 * order, from zero), combined as t says. x (rows, m) row stride ldx,
 * dy (rows, n) row stride ldy. work: ot_kgemm_tree_work_size floats, private to the calling
 * thread. A single root over 1 MiB whose rows start on a vector boundary is written past the
 * caches (it would not stay in them), and fenced before the call returns. */
void ot_kgemm_tn_tree(size_t m, size_t n, const float *x, size_t ldx, const float *dy, size_t ldy,
                      const ot_ktree_t *t, float *work);

/* ot_kgemm_tn_tree of x' = x - shift (shift: m floats, one per feature), with the terms
 * where x' is zero left out, and each leaf l's chain ended by one more term, shift times
 * corr's row l (corr: n_leaves rows of n, the sum of dy over the leaf's rows for the caller):
 * x'^T dy + shift corr_l = x^T dy. Where x holds shift in many rows (an Affine above a
 * pooled image's blank positions, which hold the bias of the convolution below), those
 * terms cost nothing. The chains depend on x, shift and corr alone, so the bits are the same
 * at any split of the work. Same work size as ot_kgemm_tn_tree. */
void ot_kgemm_tn_tree_shift(size_t m, size_t n, const float *x, size_t ldx, const float *shift,
                            const float *dy, size_t ldy, const float *corr, const ot_ktree_t *t,
                            float *work);

/* Rows of x - shift packed chunk by chunk of ch features (ot_kpack_rows_shift, the rows whose
 * ch values are not all zero): chunk q's rows are A's rows (lda floats apart) [seg[q (L + 1)],
 * seg[q (L + 1) + L]), leaf l's from seg[q (L + 1) + l], each row's number in dy in idx. */
typedef struct {
    size_t ch;
    const float *A;
    size_t lda;
    const uint32_t *idx;
    const size_t *seg;
} ot_kchunks_t;

/* Rows in a tile of x^T: the chunk width ot_kgemm_tn_tree_chunks takes is a multiple of it. */
size_t ot_kgemm_mr(void);

/* ot_kgemm_tn_tree_shift from x - shift packed by chunks (for m a multiple of xs->ch, and
 * xs->ch of ot_kgemm_mr()): the same chains, so the same bits, without packing x again. work:
 * ot_kgemm_tn_tree_chunks_work_size floats. */
size_t ot_kgemm_tn_tree_chunks_work_size(size_t max_rows, size_t n, size_t max_leaves,
                                         size_t max_depth);
void ot_kgemm_tn_tree_chunks(size_t m, size_t n, const ot_kchunks_t *xs, const float *shift,
                             const float *dy, size_t ldy, const float *corr,
                             const ot_ktree_t *t, float *work);

/* Workspace floats ot_kgemm_tn_acc_gather needs for up to max_rows rows and n columns. */
size_t ot_kgemm_tn_acc_work_size(size_t max_rows, size_t n);

/* C (m, n) = (acc ? C : 0) + x^T dy over `rows` rows for the (rows, m) matrix x whose element
 * (r, i) is x[row[r] + col[i]] (as in ot_kgemm_gather): every element one FMA chain over the
 * rows in order, continued from C when acc, so that a chain over many rows can be formed block
 * by block with the same bits. dy (rows, n) row stride ldy, C row stride ldc. work:
 * ot_kgemm_tn_acc_work_size floats, private to the calling thread. */
void ot_kgemm_tn_acc_gather(size_t m, size_t n, size_t rows, const float *x, const size_t *row,
                            const size_t *col, const float *dy, size_t ldy, float *C,
                            size_t ldc, int acc, float *work);

/* x (rows, m) stored column by column, with 8-bit values: feature i's nonzero entries, rows in
 * increasing order, the k-th in code[k * m + i] as (row << 8) | u, which stands for the value
 * (float)u * scale (ot_sparse_batch_t's column lists); ends[l * m + i] of them lie in leaves
 * 0..l of the call's tree. */
typedef struct {
    const uint32_t *ends; /* (n_leaves, m) */
    const uint32_t *code; /* (rows, m) */
    float scale;          /* a byte's float: (float)u * scale */
} ot_kcsc_t;

/* Workspace floats ot_kgemm_tn_tree_sparse needs for up to max_rows rows and a stack of up to
 * max_depth nodes (any width). */
size_t ot_kgemm_tree_sparse_work_size(size_t max_rows, size_t max_depth);

/* ot_kgemm_tn_tree for a mostly-zero x given by columns (m features): each leaf's element is
 * the FMA chain over the leaf's rows where x is not zero, in order, from zero (the dense chain
 * with the zero terms left out), combined as t says. Only the nonzero entries cost FMAs; dy is
 * read a chunk of rows at a time by a group of features, from L1. dy (rows, n) row stride ldy.
 * work: ot_kgemm_tree_sparse_work_size floats. A large root goes past the caches as there. */
void ot_kgemm_tn_tree_sparse(size_t m, size_t n, const ot_kcsc_t *xs, const float *dy,
                             size_t ldy, const ot_ktree_t *t, float *work);

/* X (m, k) by rows, with 8-bit values: row i has n[i] nonzero entries, column indices pix[i][..]
 * in increasing order, values val[i][..], u standing for (float)u * scale (ot_sparse_batch_t's
 * row lists). */
typedef struct {
    const uint32_t *n;          /* (m) entries per row */
    const uint16_t *const *pix; /* (m) each row's column indices */
    const uint8_t *const *val;  /* (m) each row's bytes */
    float scale;                /* a byte's float: (float)u * scale */
} ot_krows_t;

/* C (m, n) = bias (zero when NULL) + X B for a sparse X; B (k, n) row-major with row stride
 * ldb, read in place. Every element of C is one FMA chain over the row's entries in order,
 * from the bias: the dense product with the zero terms left out. */
void ot_kspmm(size_t m, size_t n, const ot_krows_t *x, const float *B, size_t ldb,
              const float *bias, float *C, size_t ldc);

/* ot_kspmm's column blocks: it reads B ot_kspmm_cols() columns at a time, every row of X
 * against the block. B with more columns than that is best copied into blocks first
 * (ot_kpack_sp): B's rows are strided, and a block's slices of them (a 4 KB stride for 1024
 * columns) fall into a few cache sets and leave L2 before their next use; packed, a block is
 * contiguous (784 x 128 floats: 400 KB) and stays there, while each chunk of its rows passes
 * through L1 for a group of X's rows. */
size_t ot_kspmm_cols(void);

/* Rows [k0, k1) of B (k, n), row stride ldb, into Bp (k n floats) as ot_kspmm_packed reads it:
 * column block c0 at Bp + c0 k, its rows at the block's width. Disjoint row ranges may be
 * packed by different threads at once. */
void ot_kpack_sp(const float *B, size_t ldb, size_t k, size_t n, float *Bp, size_t k0, size_t k1);

/* ot_kspmm with B as ot_kpack_sp packed it: the same bits. */
void ot_kspmm_packed(size_t m, size_t n, size_t k, const ot_krows_t *x, const float *Bp,
                     const float *bias, float *C, size_t ldc);

/* "AVX-512", "AVX2" or "portable": the instruction set the kernel was built for. */
const char *ot_kgemm_isa(void);

/* sum[j] += x[r][j] for r = 0..m-1 in order, for each of n columns: one chain per column (a
 * bias gradient), x (m, n) with row stride ldx. */
void ot_kcolsum(size_t m, size_t n, const float *x, size_t ldx, float *sum);

/* The fraction of nonzero pixels below which the first layer leaves the zeros out (ot_kspmm,
 * ot_kgemm_tn_tree_sparse): where the sparse kernels beat this build's dense kernel. */
float ot_kgemm_sparse_below(void);

#endif
