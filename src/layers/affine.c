/* affine.c - the Affine layer kind: y = x W + b, x a sample's input seen as a flat vector
 * (an image in NHWC order), W (in, out), b (out).
 *
 * The training step runs on omptrain's own GEMM (ot_kgemm.h): W is packed once per pass into
 * panels every thread shares (and W^T for dx), dW = x^T dy is formed through the shard tree
 * inside the kernel, db leaf by leaf. As the first layer on mostly-zero images (MNIST: 81% of
 * the pixels are 0) it takes the images as lists of their nonzero pixels instead, by row for
 * the forward (ot_kspmm, W in column blocks when it is wide) and by column for dW
 * (ot_kgemm_tn_tree_sparse): the same FMA chains with the zero terms left out, so the bits
 * equal the dense path's. Above a convolution and pooling, where the engine gives the value
 * its input holds wherever the images are blank (ot_ctx_t.blank, s), it computes with x - s,
 * zero at a pooled image's blank margins (a third of MNIST's 12x12 grid), and leaves those
 * terms out: y = (x - s) W + (b + s W) position by position (forward_blank) and dW = (x - s)^T
 * dy + s db (ot_kgemm_tn_tree_shift), the same sums rounded otherwise (OT_BLANK=0 turns it
 * off). The textbook's BLAS version (ot_affine_forward/backward) is kept as the plain
 * statement of the maths. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_layers.h"
#include "ot_net.h"
#include "ot_onnx.h"
#include "ot_tree.h"

/* The share of nonzero entries in dy below which dx leaves its zeros out (ot_kgemm_skip);
 * where the listed product beats the dense one, measured: docs/benchmarks.md. */
#define SKIP_BELOW 0.8f

/* ---------------------------------------------------------------- the textbook kernels */

void ot_affine_forward(const float *x, const float *W, const float *b, float *y, size_t n,
                       size_t in, size_t out)
{
    /* seed every row with the bias, then y += x W in one GEMM */
    for (size_t r = 0; r < n; r++)
        memcpy(y + r * out, b, out * sizeof(float));
    ot_gemm(false, false, n, out, in, 1.0f, x, in, W, out, 1.0f, y, out);
}

void ot_affine_backward(const float *x, const float *W, const float *dy, float *dx, float *dW,
                        float *db, size_t n, size_t in, size_t out)
{
    if (n == 0)
        return;
    /* dW (in, out) += x^T (in, n) dy (n, out) */
    ot_gemm(true, false, in, out, n, 1.0f, x, in, dy, out, 1.0f, dW, out);
    for (size_t r = 0; r < n; r++) {
        const float *row = dy + r * out;
        for (size_t j = 0; j < out; j++)
            db[j] += row[j];
    }
    /* dx (n, in) = dy (n, out) W^T (out, in) */
    if (dx)
        ot_gemm(false, true, n, in, out, 1.0f, dy, out, W, out, 0.0f, dx, in);
}

/* ---------------------------------------------------------------- the kind */

typedef struct {
    size_t units; /* outputs */
} affine_args_t;
OT_LAYER_ARGS_FIT(affine_args_t);

/* Its buffers in an engine. */
typedef struct {
    float *wpack;  /* W packed for y = x W (ot_kpack_b; in a sparse pass ot_kpack_sp) */
    float *wtpack; /* W^T packed for dx = dy W^T; NULL for layer 0 (no dx) */
    int sparse;    /* this pass: the input rows are lists of nonzero pixels (layer 0 only) */
    /* layer 0: the batch's rows as lists of nonzero pixels (ot_sparse_batch_t), row r's */
    uint32_t *nz_n;          /* (max_batch) count, */
    const uint16_t **nz_pix; /* (max_batch) indices (the data set's list, or nz_pix_buf) */
    const uint8_t **nz_val;  /* (max_batch) and values */
    uint16_t *nz_pix_buf;    /* (max_batch, in) rows scanned from a data set without a list */
    uint8_t *nz_val_buf;
    uint32_t *csc_code;      /* (max_batch, in) the same by column for dW, a thread's at its
                                first row */
} affine_rt_t;

/* A thread's lists by column over a whole pass (layer 0): lengths so far, and after each of
 * its shards. */
typedef struct {
    uint32_t *col_n; /* (in) */
    uint32_t *ends;  /* (n_shards, in) */
} affine_keep_t;

static size_t units(const ot_layer_t *L)
{
    return OT_LAYER_ARGS(const affine_args_t, L)->units;
}

/* Layer 0 may take mostly-zero images as lists. */
static int sparse_capable(const ot_layer_t *L)
{
    return L->index == 0 && L->in_size <= OT_SPARSE_MAX_DIM;
}

/* The sparse forward reads W from column blocks (ot_kpack_sp) when W is wider than one; a
 * narrower W is one block already, read in place. */
static int sparse_blocks(const ot_layer_t *L)
{
    return L->out_size > ot_kspmm_cols();
}

static affine_keep_t keep_of(const ot_layer_t *L, void *keep)
{
    const size_t col_bytes = (L->in_size * sizeof(uint32_t) + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    return (affine_keep_t){keep, (uint32_t *)((char *)keep + col_bytes)};
}

static int parse(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    size_t u;
    if (argc != 1) {
        snprintf(err, n, "one output width in [1, %d]", OT_MAX_UNITS);
        return -1;
    }
    if (ot_layer_parse_size(argv[0], 1, OT_MAX_UNITS, &u) < 0) {
        snprintf(err, n, "'%s': UNITS must be an integer in [1, %d]", argv[0], OT_MAX_UNITS);
        return -1;
    }
    OT_LAYER_ARGS(affine_args_t, L)->units = u;
    return 0;
}

static void format(const ot_layer_t *L, char *buf, size_t n)
{
    snprintf(buf, n, "%zu", units(L));
}

static int shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)c, (void)err, (void)n;
    L->out = (ot_shape_t){units(L), 1, 1, 1};
    return 0;
}

static void declare(ot_layer_t *L, ot_net_t *net)
{
    size_t W[2] = {L->in_size, L->out_size}, b[1] = {L->out_size};
    ot_net_param(net, L, "W", 2, W, 1);
    ot_net_param(net, L, "b", 1, b, 0);
}

/* W ~ std * N(0, 1), fan-in = the input width; b = 0 */
static void init(const ot_layer_t *L, const ot_config_t *c, float *params, float *state,
                 ot_rng_t *rng)
{
    (void)state;
    double std = ot_init_std(c, L->in_size);
    float *W = params + L->p_off;
    for (size_t i = 0; i < L->in_size * L->out_size; i++)
        W[i] = (float)(std * ot_rng_normal(rng));
}

/* forward 2 in out, dW 2 in out, dx 2 in out (not for layer 0) */
static double flops(const ot_layer_t *L)
{
    double io = (double)L->in_size * (double)L->out_size;
    return (L->index > 0 ? 6.0 : 4.0) * io;
}

static void rt_free(void *p)
{
    affine_rt_t *rt = p;
    if (!rt)
        return;
    void *blocks[] = {rt->wpack, rt->wtpack, rt->nz_n, (void *)rt->nz_pix, (void *)rt->nz_val,
                      rt->nz_pix_buf, rt->nz_val_buf, rt->csc_code};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        ot_free(blocks[i]);
    ot_free(rt);
}

static int setup(const ot_layer_t *L, size_t B, size_t n_shards, void **out)
{
    (void)n_shards;
    const size_t in = L->in_size, o = L->out_size;
    affine_rt_t *rt = ot_alloc(sizeof *rt);
    *out = rt;
    if (!rt || !(rt->wpack = ot_alloc(ot_kpack_size(in, o) * sizeof(float))))
        return OT_ENOMEM;
    if (L->index > 0 && !(rt->wtpack = ot_alloc(ot_kpack_size(o, in) * sizeof(float))))
        return OT_ENOMEM;
    if (sparse_capable(L) &&
        (!(rt->nz_n = ot_alloc(B * sizeof(uint32_t))) ||
         !(rt->nz_pix = ot_alloc(B * sizeof *rt->nz_pix)) ||
         !(rt->nz_val = ot_alloc(B * sizeof *rt->nz_val)) ||
         !(rt->nz_pix_buf = ot_alloc(B * in * sizeof(uint16_t))) ||
         !(rt->nz_val_buf = ot_alloc(B * in)) ||
         !(rt->csc_code = ot_alloc(B * in * sizeof(uint32_t)))))
        return OT_ENOMEM;
    return OT_OK;
}

static size_t rt_bytes(const ot_layer_t *L, size_t B, size_t n_shards)
{
    (void)n_shards;
    const size_t in = L->in_size, o = L->out_size;
    size_t b = sizeof(affine_rt_t) + ot_kpack_size(in, o) * sizeof(float);
    if (L->index > 0)
        b += ot_kpack_size(o, in) * sizeof(float);
    if (sparse_capable(L)) /* counts, two pointers, scanned rows (2 + 1 bytes), column codes */
        b += B * (sizeof(uint32_t) + 2 * sizeof(void *) + in * (sizeof(uint16_t) + 1 +
                                                             sizeof(uint32_t)));
    return b;
}

static size_t max_sz(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* n floats rounded up to whole OT_ALIGN blocks: what a block at the start of a thread's workspace
 * takes (the shift's correction rows, a row of out per shard; b + s W) when a kernel's aligned
 * workspace follows it. */
static size_t aligned_floats(size_t n)
{
    const size_t per = OT_ALIGN / sizeof(float);
    return (n + per - 1) / per * per;
}

/* An image's positions hold `chunk` channels each: the unit of forward_blank. */
static size_t chunk(const ot_layer_t *L)
{
    return L->in.flat ? L->in_size : L->in.c;
}

/* A thread's rows of x - s over a pass (an image input with a blank value), chunk by chunk
 * as forward_blank packs them, for the weight gradient to read again (ot_kchunks_t); room for
 * a row more a chunk, since the pack stores each row before it knows whether to keep it. */
typedef struct {
    float *A;      /* (chunks, rows + 1, lda) */
    uint32_t *idx; /* (chunks, rows + 1) */
    size_t *seg;   /* (chunks, n_shards + 1) */
} blank_keep_t;

/* Whether forward_blank keeps its packed rows for dW: an image input whose chunks are whole
 * tiles of the weight-gradient kernel (ot_kgemm_mr). */
static int keeps_blank(const ot_layer_t *L)
{
    return L->index > 0 && !L->in.flat && chunk(L) % ot_kgemm_mr() == 0;
}

static size_t blank_keep_bytes(const ot_layer_t *L, size_t rows, size_t n_shards,
                               blank_keep_t *k, void *base)
{
    const size_t q = L->in_size / chunk(L), lda = ot_kpack_rows_ld(chunk(L), ot_kgemm_vl());
    const size_t a = q * (rows + 1) * lda * sizeof(float), i = q * (rows + 1) * sizeof(uint32_t);
    const size_t a_end = (a + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    const size_t i_end = a_end + (i + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    if (k)
        *k = (blank_keep_t){base, (uint32_t *)(void *)((char *)base + a_end),
                            (size_t *)(void *)((char *)base + i_end)};
    return i_end + q * (n_shards + 1) * sizeof(size_t);
}

/* forward_blank's workspace: b + s W, then a position's rows packed, then their numbers. */
static size_t blank_fwd_floats(const ot_layer_t *L, size_t rows)
{
    return aligned_floats(L->out_size) + rows * ot_kpack_rows_ld(chunk(L), ot_kgemm_vl()) + rows;
}

static size_t workspace(const ot_layer_t *L, size_t rows, size_t n_shards, size_t *keep)
{
    const size_t in = L->in_size, o = L->out_size, depth = ot_tree_depth(n_shards);
    size_t floats = max_sz(ot_kgemm_work_size(max_sz(in, o)),
                           aligned_floats(n_shards * o) +
                               ot_kgemm_tree_work_size(rows, in, o, n_shards, depth));
    floats = max_sz(floats, blank_fwd_floats(L, rows));
    floats = max_sz(floats, ot_kgemm_skip_work_size(rows, o));
    *keep = 0;
    if (keeps_blank(L)) {
        *keep = blank_keep_bytes(L, rows, n_shards, NULL, NULL);
        floats = max_sz(floats, ot_kgemm_tn_tree_chunks_work_size(rows, o, n_shards, depth));
    }
    if (sparse_capable(L)) {
        floats = max_sz(floats, ot_kgemm_tree_sparse_work_size(rows, depth));
        *keep = (in * sizeof(uint32_t) + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN +
                n_shards * in * sizeof(uint32_t);
    }
    return floats * sizeof(float);
}

static void begin(const ot_layer_t *L, void *p, const float *params, const float *state,
                  const ot_pass_info_t *pi)
{
    affine_rt_t *rt = p;
    (void)params, (void)state;
    rt->sparse = sparse_capable(L) && pi->sparse_ok && pi->ds->nonzero < ot_kgemm_sparse_below() &&
                 pi->ds->dim == L->in_size;
}

/* W packed for the step, each thread the rows of W it updated (ot_own_rows): for y = x W by
 * rows of every panel, for dx = dy W^T the panels of W^T, which are blocks of W's rows. */
static void prepare(const ot_layer_t *L, void *p, const float *params, const size_t own[2],
                    int backward, int stream)
{
    affine_rt_t *rt = p;
    const size_t nr = ot_kgemm_nr(), in = L->in_size, out = L->out_size;
    const float *W = params + L->p_off;
    size_t k0, k1;
    ot_own_rows(own, L->p_off, in, out, &k0, &k1);
    if (!rt->sparse)
        ot_kpack_b_rows(W, out, in, out, rt->wpack, k0, k1, stream);
    else if (sparse_blocks(L))
        ot_kpack_sp(W, out, in, out, rt->wpack, k0, k1);
    if (backward && rt->wtpack)
        ot_kpack_b(W, out, true, out, in, rt->wtpack, (k0 + nr - 1) / nr, (k1 + nr - 1) / nr,
                   stream);
}

/* The thread's rows as lists of nonzero pixels, shard by shard; for a training step also by
 * column, noting where each shard's entries end in every column list. */
static int gather(const ot_layer_t *L, const ot_ctx_t *c, const ot_dataset_t *ds, int by_column)
{
    affine_rt_t *rt = c->rt;
    if (!rt->sparse)
        return 0;
    const size_t d = L->in_size, r0 = c->r0;
    affine_keep_t k = keep_of(L, c->keep);
    ot_sparse_batch_t sb = {.ld = d, .col_n = by_column ? k.col_n : NULL,
                            .col_code = rt->csc_code + r0 * d};
    if (by_column)
        memset(sb.col_n, 0, d * sizeof *sb.col_n);
    for (size_t i = 0; i < c->n_leaves; i++) {
        const ot_leaf_t *f = &c->leaves[i];
        const size_t row = r0 + f->lo;
        sb.row_n = rt->nz_n + row;
        sb.row_pix = rt->nz_pix + row;
        sb.row_val = rt->nz_val + row;
        sb.pix_buf = rt->nz_pix_buf + row * d;
        sb.val_buf = rt->nz_val_buf + row * d;
        sb.first = f->lo;
        ot_dataset_gather_sparse(ds, c->ids + f->lo, f->rows, &sb, c->labels + f->lo);
        if (by_column)
            memcpy(k.ends + i * d, sb.col_n, d * sizeof *sb.col_n);
    }
    return 1;
}

/* y = x W + b with x's blank value s taken out: (x - s) W + (b + s W), position by position of
 * an image (chunk(L) rows of W each), over the rows where x - s is not all zero there (a
 * sample's blank margin costs nothing). Each element is one chain: from b + s W (itself a
 * chain over W's rows in order), then over the positions in order and each one's k, the zero
 * terms left out; so the bits depend on neither the rows' grouping nor the instruction set. */
static void forward_blank(const ot_layer_t *L, const ot_ctx_t *c)
{
    const affine_rt_t *rt = c->rt;
    const size_t in = L->in_size, out = L->out_size, ch = chunk(L), nr = ot_kgemm_nr();
    const size_t lda = ot_kpack_rows_ld(ch, ot_kgemm_vl());
    const float *W = c->params + L->p_off, *b = W + (L->p_len - out), *s = c->blank;
    float *bs = c->work, *A = bs + aligned_floats(out);
    uint32_t *rows = (uint32_t *)(A + c->n * lda);
    blank_keep_t k = {0};
    if (keeps_blank(L)) /* the packed rows kept for dW: one chunk's after another's */
        blank_keep_bytes(L, c->n, c->n_leaves, &k, c->keep);
    memcpy(bs, b, out * sizeof(float));
    ot_kaxpy_rows(in, out, s, W, out, bs);
    for (size_t r = 0; r < c->n; r++)
        memcpy(c->y + r * out, bs, out * sizeof(float));
    size_t at = 0; /* with k: where this chunk's rows go */
    for (size_t p0 = 0, q = 0; p0 < in; p0 += ch, q++) {
        float *Aq = k.A ? k.A + at * lda : A;
        uint32_t *rq = k.A ? k.idx + at : rows;
        const size_t cnt = ot_kpack_rows_shift(c->n, ch, c->x + p0, in, s + p0, Aq, lda, rq);
        if (cnt)
            ot_kgemm_acc_rows(cnt, out, ch, Aq, lda, rt->wpack + p0 * nr, in * nr, c->y, out,
                              rq);
        if (k.A) { /* each leaf's first row among them (the rows are in order) */
            size_t *seg = k.seg + q * (c->n_leaves + 1), r = 0;
            for (size_t l = 0; l < c->n_leaves; l++) {
                while (r < cnt && rq[r] < c->leaves[l].lo)
                    r++;
                seg[l] = at + r;
            }
            seg[c->n_leaves] = at + cnt;
            at += cnt;
        }
    }
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const affine_rt_t *rt = c->rt;
    const size_t in = L->in_size, out = L->out_size, r0 = c->r0;
    const float *W = c->params + L->p_off, *b = W + (L->p_len - out);
    const ot_krows_t rows = {rt->nz_n + r0, rt->nz_pix + r0, rt->nz_val + r0, OT_PIXEL_SCALE};
    if (c->blank && !L->in.flat)
        forward_blank(L, c);
    else if (rt->sparse && sparse_blocks(L))
        ot_kspmm_packed(c->n, out, in, &rows, rt->wpack, b, c->y, out);
    else if (rt->sparse)
        ot_kspmm(c->n, out, &rows, W, out, b, c->y, out);
    else
        ot_kgemm(c->n, out, in, c->x, in, rt->wpack, b, c->y, out, c->work);
    if (c->post_fwd) /* the fused element-wise layer */
        c->post_fwd(c->y, c->n * out);
}

/* Threads sharing one shard: dW's rows [i0, i1) and db's columns [j0, j1) of the thread's
 * share, each element the same chain over the shard's rows (sx, sdy) as unshared (with a
 * blank value, the shard's whole column sums of dy are each thread's correction row). */
static void backward_shared(const ot_layer_t *L, const ot_ctx_t *c)
{
    const size_t in = L->in_size, out = L->out_size, b_off = L->p_off + L->p_len - out;
    const size_t rows = c->leaves[0].rows;
    size_t i0, i1, j0, j1;
    ot_grad_share(c->grad, in, 1, &i0, &i1);
    ot_grad_share(c->grad, out, 1, &j0, &j1);
    if (i1 > i0) {
        ot_ktree_t t;
        ot_grad_tree(c->grad, L->p_off + i0 * out, out, 1, &t);
        if (c->blank) {
            float *corr = c->work;
            memset(corr, 0, out * sizeof(float));
            ot_kcolsum(rows, out, c->sdy, out, corr);
            ot_kgemm_tn_tree_shift(i1 - i0, out, c->sx + i0, in, c->blank + i0, c->sdy, out,
                                   corr, &t, corr + aligned_floats(out));
        } else {
            ot_kgemm_tn_tree(i1 - i0, out, c->sx + i0, in, c->sdy, out, &t, c->work);
        }
    }
    float *restrict db = ot_grad_leaf(c->grad, 0, b_off);
    for (size_t j = j0; j < j1; j++)
        db[j] = 0.0f;
    ot_kcolsum(rows, j1 - j0, c->sdy + j0, out, db + j0);
}

/* dx = dy W^T, dy's zeros left out (the same bits): below a ReLU a third or more of dy is
 * zero (model (e): 32% after a third of an epoch). */
static void dx_of(const ot_layer_t *L, const ot_ctx_t *c)
{
    const affine_rt_t *rt = c->rt;
    const size_t in = L->in_size, out = L->out_size;
    ot_kgemm_skip(c->n, in, out, c->dy, out, rt->wtpack, c->dx, in, SKIP_BELOW, c->work);
}

/* dW = x^T dy and db = column sums of dy, per shard through the tree; dx = dy W^T. Given the
 * value x holds where the data below are blank (c->blank, s), dW is formed as (x - s)^T dy + s
 * db, leaf by leaf: the blank positions' rows of x - s are zeros, which cost nothing. */
static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const affine_rt_t *rt = c->rt;
    const size_t in = L->in_size, out = L->out_size, b_off = L->p_off + L->p_len - out;
    ot_ktree_t t;
    if (c->grad->members > 1) {
        backward_shared(L, c);
        if (c->dx)
            dx_of(L, c);
        return;
    }
    if (c->post_bwd) /* the fused element-wise layer's backward first */
        c->post_bwd(c->y, c->dy, c->n * out);
    float *corr = c->work; /* with a blank value: the db leaves, copied */
    for (size_t i = 0; i < c->n_leaves; i++) { /* db leaves: a chain over the shard's rows */
        float *restrict db = ot_grad_leaf(c->grad, i, b_off);
        const ot_leaf_t *f = &c->leaves[i];
        memset(db, 0, out * sizeof(float));
        ot_kcolsum(f->rows, out, c->dy + f->lo * out, out, db);
        if (c->blank)
            memcpy(corr + i * out, db, out * sizeof(float));
    }
    ot_grad_leaves_done(c->grad, b_off, out);
    ot_grad_tree(c->grad, L->p_off, out, 1, &t);
    if (rt->sparse) { /* x by columns: only its nonzero pixels cost FMAs */
        const ot_kcsc_t xs = {keep_of(L, c->keep).ends, rt->csc_code + c->r0 * in,
                              OT_PIXEL_SCALE};
        ot_kgemm_tn_tree_sparse(in, out, &xs, c->dy, out, &t, c->work);
    } else if (c->blank && keeps_blank(L)) { /* x - s as the forward packed it */
        blank_keep_t k;
        blank_keep_bytes(L, c->n, c->n_leaves, &k, c->keep);
        const ot_kchunks_t xs = {chunk(L), k.A, ot_kpack_rows_ld(chunk(L), ot_kgemm_vl()), k.idx,
                                 k.seg};
        ot_kgemm_tn_tree_chunks(in, out, &xs, c->blank, c->dy, out, corr, &t,
                                corr + aligned_floats(c->n_leaves * out));
    } else if (c->blank) {
        ot_kgemm_tn_tree_shift(in, out, c->x, in, c->blank, c->dy, out, corr, &t,
                               corr + aligned_floats(c->n_leaves * out));
    } else {
        ot_kgemm_tn_tree(in, out, c->x, in, c->dy, out, &t, c->work);
    }
    if (c->dx)
        dx_of(L, c);
}

static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const size_t in = L->in_size, d = L->out_size;
    const double *W = r->P + L->p_off, *bias = W + (L->p_len - d);
    /* row by row of W, so the inner loop runs along memory */
    for (size_t i = 0; i < r->n; i++) {
        double *out = y + i * d;
        for (size_t j = 0; j < d; j++)
            out[j] = bias[j];
        for (size_t k = 0; k < in; k++) {
            const double xik = x[i * in + k], *Wk = W + k * d;
            for (size_t j = 0; j < d; j++)
                out[j] += xik * Wk[j];
        }
    }
}

/* Gemm(x, W, b), x flattened first when it is an image; W's rows in the order of the ONNX
 * input's features (ot_onnx_feature: (c, h, w) after an image, omptrain's (h, w, c)) */
static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    (void)state;
    const size_t in = L->in_size, out = L->out_size;
    const float *W = params + L->p_off, *b = W + (L->p_len - out);
    const char *wn, *bn;
    if (ot_onnx_flatten(g))
        return -1;
    float *w = ot_onnx_tensor(g, "W", 2, (const int64_t[]){(int64_t)in, (int64_t)out}, &wn);
    float *bb = ot_onnx_tensor(g, "b", 1, (const int64_t[]){(int64_t)out}, &bn);
    if (!w || !bb)
        return -1;
    for (size_t i = 0; i < in; i++)
        memcpy(w + i * out, W + ot_onnx_feature(g, i) * out, out * sizeof(float));
    memcpy(bb, b, out * sizeof(float));
    const char *inputs[3] = {ot_onnx_value(g), wn, bn};
    return ot_onnx_node(g, "Gemm", NULL, inputs, 3, NULL, 0, OT_ONNX_FLAT);
}

const ot_layer_ops_t ot_affine_ops = {
    .kind = "affine",
    .usage = "affine UNITS",
    .example = "affine 6, relu",
    .parse = parse,
    .format = format,
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
    .gather = gather,
    .forward = forward,
    .backward = backward,
    .fuses_next = 1,
    .uses_blank = 1,
    .reference = reference,
    .onnx = onnx,
};
