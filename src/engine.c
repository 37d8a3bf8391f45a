/* engine.c - the data-parallel step: shards taken by threads in contiguous runs, forward and
 * backward through the whole stack, the gradient summed in a fixed tree (see ot_engine.h). */
#include "ot_engine.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "ot_batchnorm.h"
#include "ot_common.h"
#include "ot_dropout.h"
#include "ot_kgemm.h"
#include "ot_layers.h"
#include "ot_tree.h"

/* Floats per reduction chunk: large enough to stream, small enough to stay in L1/L2 while the
 * tree adds the shards' copies of it. */
#define REDUCE_CHUNK 2048

/* A thread's workspace: GEMM scratch and the plan of its part of the reduction tree. */
struct ot_engine_ws {
    float *gemm;     /* ot_kgemm / ot_kgemm_tn_tree(_sparse) scratch */
    uint32_t *col_n; /* (in_dim) entries of each column list of the thread's rows */
    uint32_t *ends;  /* (n_shards, in_dim) col_n after each of the thread's shards */
    size_t *seg;     /* (n_shards + 1) row offsets of the thread's shards */
    uint8_t *merges; /* (n_shards) see ot_ktree_t */
    size_t *roots;   /* (depth) first shard of each node the thread leaves for the others */
    float **root_p;  /* (depth) where a layer's roots go */
    void *mem;       /* the one allocation behind the above */
};

/* Place `bytes` at offset *off of base, rounded up to a cache line; with base NULL only count. */
static void *carve(char *base, size_t *off, size_t bytes)
{
    void *p = base ? base + *off : NULL;
    *off += (bytes + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    return p;
}

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- buffers ---- */


/* Lay a shard's partial sums and gradient block out in base; returns the bytes they take (one
 * list for sizing and carving, so the two cannot disagree). */
static size_t layout_worker(ot_worker_t *w, const ot_net_t *net, char *base)
{
    size_t off = 0;
    double *p0 = carve(base, &off, net->max_width * sizeof(double));
    double *p1 = carve(base, &off, net->max_width * sizeof(double));
    float *grad = carve(base, &off, net->n_params * sizeof(float));
    if (base) {
        w->part[0] = p0;
        w->part[1] = p1;
        w->grad = grad;
    }
    return off;
}

/* The same for a thread's workspace, sized for a thread that takes every shard. */
static size_t layout_ws(struct ot_engine_ws *ws, const ot_engine_t *e, char *base)
{
    const ot_net_t *net = e->net;
    const size_t S = e->n_shards, depth = ot_tree_depth(S);
    size_t floats = ot_kgemm_work_size(net->max_width);
    for (size_t l = 0; l < net->n_layers; l++)
        if (net->layers[l].kind == OT_LAYER_AFFINE) {
            const ot_layer_t *L = &net->layers[l];
            size_t t = ot_kgemm_tree_work_size(e->max_batch, L->in, L->out, S, depth);
            if (l == 0) {
                size_t ts = ot_kgemm_tree_sparse_work_size(depth);
                t = ts > t ? ts : t;
            }
            floats = t > floats ? t : floats;
        }
    size_t off = 0;
    float *gemm = carve(base, &off, floats * sizeof(float));
    uint32_t *col_n = carve(base, &off, net->in_dim * sizeof(uint32_t));
    uint32_t *ends = carve(base, &off, S * net->in_dim * sizeof(uint32_t));
    size_t *seg = carve(base, &off, (S + 1) * sizeof(size_t));
    uint8_t *merges = carve(base, &off, S);
    size_t *roots = carve(base, &off, depth * sizeof(size_t));
    float **root_p = carve(base, &off, depth * sizeof(float *));
    if (base)
        *ws = (struct ot_engine_ws){gemm, col_n, ends, seg, merges, roots, root_p, base};
    return off;
}

/* Workspaces for up to `threads` threads; returns how many exist (fewer if memory ran out:
 * the step then runs on fewer threads, with the same result). */
static size_t grow_ws(ot_engine_t *e, size_t threads)
{
    if (threads <= e->n_ws)
        return e->n_ws;
    struct ot_engine_ws *ws = ot_alloc(threads * sizeof *ws);
    if (!ws)
        return e->n_ws;
    if (e->n_ws)
        memcpy(ws, e->ws, e->n_ws * sizeof *ws);
    ot_free(e->ws);
    e->ws = ws;
    size_t bytes = layout_ws(NULL, e, NULL);
    for (; e->n_ws < threads; e->n_ws++) {
        char *mem = ot_alloc(bytes);
        if (!mem)
            break;
        layout_ws(&ws[e->n_ws], e, mem);
    }
    return e->n_ws;
}

int ot_engine_init(ot_engine_t *e, ot_net_t *net, size_t max_batch, size_t n_shards)
{
    memset(e, 0, sizeof *e);
    e->net = net;
    e->n_shards = n_shards;
    e->max_batch = max_batch;
    e->fault_layer = -1;
    e->sparse_ok = 1;
    const size_t L = net->n_layers, B = max_batch;
    e->workers = ot_alloc(n_shards * sizeof *e->workers);
    e->grad = ot_alloc(net->n_params * sizeof(float));
    e->bn_batch = ot_alloc(net->n_state * sizeof(float));
    e->bn_eval = ot_alloc(net->n_state * sizeof(float));
    e->bn_sum[0] = ot_alloc(net->max_width * sizeof(double));
    e->bn_sum[1] = ot_alloc(net->max_width * sizeof(double));
    e->x = ot_alloc(B * net->in_dim * sizeof(float));
    e->y = ot_alloc(B * sizeof(int32_t));
    e->pred = ot_alloc(B * sizeof(int32_t));
    e->rows_idx = ot_alloc(B * sizeof(uint32_t));
    e->nz_n = ot_alloc(B * sizeof(uint32_t));
    e->nz_pix = ot_alloc(B * sizeof *e->nz_pix);
    e->nz_val = ot_alloc(B * sizeof *e->nz_val);
    e->nz_pix_buf = ot_alloc(B * net->in_dim * sizeof(uint16_t));
    e->nz_val_buf = ot_alloc(B * net->in_dim);
    e->csc_code = ot_alloc(B * net->in_dim * sizeof(uint32_t));
    e->act = ot_alloc(L * sizeof(float *));
    e->wpack = ot_alloc(L * sizeof(float *));
    e->wtpack = ot_alloc(L * sizeof(float *));
    e->dbuf[0] = ot_alloc(B * net->max_width * sizeof(float));
    e->dbuf[1] = ot_alloc(B * net->max_width * sizeof(float));
    if (!e->workers || !e->grad || !e->bn_batch || !e->bn_eval || !e->bn_sum[0] ||
        !e->bn_sum[1] || !e->x || !e->y || !e->pred || !e->rows_idx || !e->nz_pix ||
        !e->nz_val || !e->nz_n || !e->nz_pix_buf || !e->nz_val_buf || !e->csc_code ||
        !e->act || !e->wpack || !e->wtpack || !e->dbuf[0] || !e->dbuf[1])
        goto fail;
    for (size_t l = 0; l < L; l++) {
        const ot_layer_t *Ly = &net->layers[l];
        if (!(e->act[l] = ot_alloc(B * Ly->out * sizeof(float))))
            goto fail;
        if (Ly->kind != OT_LAYER_AFFINE)
            continue;
        if (!(e->wpack[l] = ot_alloc(ot_kpack_size(Ly->in, Ly->out) * sizeof(float))))
            goto fail;
        if (l > 0 && !(e->wtpack[l] = ot_alloc(ot_kpack_size(Ly->out, Ly->in) * sizeof(float))))
            goto fail;
    }
    size_t bytes = layout_worker(NULL, net, NULL);
    for (size_t s = 0; s < n_shards; s++) {
        ot_worker_t *w = &e->workers[s];
        if (!(w->mem = ot_alloc(bytes)))
            goto fail;
        layout_worker(w, net, w->mem);
    }
    size_t want = (size_t)omp_get_max_threads();
    if (grow_ws(e, want < 1 ? 1 : want) == 0)
        goto fail;
    return OT_OK;
fail:
    ot_error("cannot allocate buffers for batches of %zu rows in %zu shards", max_batch,
             n_shards);
    ot_engine_free(e);
    return OT_ENOMEM;
}

void ot_engine_free(ot_engine_t *e)
{
    if (e->workers)
        for (size_t s = 0; s < e->n_shards; s++)
            ot_free(e->workers[s].mem);
    for (size_t t = 0; t < e->n_ws; t++)
        ot_free(e->ws[t].mem);
    if (e->net && e->act)
        for (size_t l = 0; l < e->net->n_layers; l++) {
            ot_free(e->act[l]);
            ot_free(e->wpack[l]);
            ot_free(e->wtpack[l]);
        }
    void *blocks[] = {e->workers, e->ws, e->grad, e->bn_batch, e->bn_eval, e->bn_sum[0],
                      e->bn_sum[1], e->x, e->y, e->pred, e->rows_idx, (void *)e->nz_pix,
                      (void *)e->nz_val, e->nz_n, e->nz_pix_buf, e->nz_val_buf, e->csc_code,
                      e->act, e->wpack, e->wtpack, e->dbuf[0], e->dbuf[1]};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        ot_free(blocks[i]);
    memset(e, 0, sizeof *e);
}

/* ---- the split: shards, threads, the tree ---- */

/* Rows [lo, hi) of an n-row batch belong to shard s: a balanced split that depends on n and
 * the shard count only. */
static void shard_range(size_t n, size_t n_shards, size_t s, size_t *lo, size_t *hi)
{
    *lo = s * n / n_shards;
    *hi = (s + 1) * n / n_shards;
}

/* Shard s of an n-row batch before a pass: its rows, no loss or hits yet. */
static void start_shard(ot_worker_t *w, size_t n, size_t n_shards, size_t s)
{
    size_t lo, hi;
    shard_range(n, n_shards, s, &lo, &hi);
    w->lo = lo;
    w->rows = hi - lo;
    w->loss = 0.0;
    w->correct = 0;
}

/* What the calling thread works on: shards [a, b), rows [r0, r1) of the batch. */
typedef struct {
    size_t a, b, r0, r1;
    struct ot_engine_ws *ws;
    size_t n_roots;  /* nodes of the tree the thread leaves for the cross-thread sum */
} group_t;

/* The calling thread's shards, rows and plan of the tree (ot_tree_plan). */
static group_t my_group(ot_engine_t *e)
{
    const size_t S = e->n_shards, T = (size_t)omp_get_num_threads();
    const size_t t = (size_t)omp_get_thread_num();
    group_t g = {0, 0, 0, 0, &e->ws[t], 0};
    ot_tree_thread_shards(S, T, t, &g.a, &g.b);
    if (g.a == g.b)
        return g;
    const ot_worker_t *W = e->workers;
    g.r0 = W[g.a].lo;
    g.r1 = W[g.b - 1].lo + W[g.b - 1].rows;
    g.n_roots = ot_tree_plan(S, g.a, g.b, g.ws->merges, g.ws->roots);
    for (size_t s = g.a; s <= g.b; s++)
        g.ws->seg[s - g.a] = (s < g.b ? W[s].lo : g.r1) - g.r0;
    return g;
}

/* Form the nodes inside the thread's shards of the gradient entries [off, off + len), whose
 * leaves each shard has written into its block: the same nodes as the thread's walk, added in
 * place level by level. */
static void tree_local(ot_worker_t *W, size_t S, const group_t *g, size_t off, size_t len)
{
    const size_t T = (size_t)omp_get_num_threads();
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = (g->a + 2 * h - 1) / (2 * h) * (2 * h); s + h < g->b; s += 2 * h)
            if (!ot_tree_spans_threads(s, h, S, T)) {
                float *restrict x = W[s].grad + off;
                const float *restrict y = W[s + h].grad + off;
                for (size_t i = 0; i < len; i++)
                    x[i] += y[i];
            }
}

/* Sum chunk c of the nodes that span threads, level by level (the nodes inside a thread are
 * formed already), and divide the root by n into out. */
static void reduce_chunk(ot_worker_t *W, size_t S, size_t T, size_t P, size_t c, float fn,
                         float *out)
{
    size_t lo = c * REDUCE_CHUNK, len = min_sz(P - lo, REDUCE_CHUNK);
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = 0; s + h < S; s += 2 * h) {
            if (!ot_tree_spans_threads(s, h, S, T))
                continue;
            float *restrict a = W[s].grad + lo;
            const float *restrict b = W[s + h].grad + lo;
            for (size_t i = 0; i < len; i++)
                a[i] += b[i];
        }
    const float *restrict g = W[0].grad + lo;
    float *restrict o = out + lo;
    for (size_t i = 0; i < len; i++)
        o[i] = g[i] / fn;
}

/* The calling thread's part of activation-gradient buffer `which`: rows r0.. of the group at
 * a fixed stride of max_width floats per row, so that threads working on layers of different
 * widths at the same time never overlap; inside it the rows are packed at the layer's width. */
static float *dpart(const ot_engine_t *e, const group_t *g, int which)
{
    return e->dbuf[which] + g->r0 * e->net->max_width;
}

/* The thread's rows of the batch from ds: into e->x and e->y, or, when the first layer
 * leaves zeros out, as each row's nonzero entries (e->nz_*) and, for a training step
 * (by_column), the same by column for dW (e->csc_code at the group's first row). */
static void gather_group(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                         const group_t *g, int by_column)
{
    const size_t d = e->net->in_dim, r0 = g->r0, n = g->r1 - g->r0;
    if (g->a == g->b)
        return;
    if (!e->sparse) {
        ot_dataset_gather(ds, idx + r0, n, e->x + r0 * d, e->y + r0);
        return;
    }
    /* shard by shard; for a training step also by column, noting where each shard's entries
     * end in every column list */
    ot_sparse_batch_t sb = {.ld = d, .col_n = by_column ? g->ws->col_n : NULL,
                            .col_code = e->csc_code + r0 * d};
    if (by_column)
        memset(sb.col_n, 0, d * sizeof *sb.col_n);
    for (size_t s = g->a; s < g->b; s++) {
        const ot_worker_t *w = &e->workers[s];
        sb.row_n = e->nz_n + w->lo;
        sb.row_pix = e->nz_pix + w->lo;
        sb.row_val = e->nz_val + w->lo;
        sb.pix_buf = e->nz_pix_buf + w->lo * d;
        sb.val_buf = e->nz_val_buf + w->lo * d;
        sb.first = w->lo - r0;
        ot_dataset_gather_sparse(ds, idx + w->lo, w->rows, &sb, e->y + w->lo);
        if (by_column)
            memcpy(g->ws->ends + (s - g->a) * d, sb.col_n, d * sizeof *sb.col_n);
    }
}

/* Whether layer 0 leaves the zero pixels of ds out (decided per data set, so never by the
 * thread count). */
static int use_sparse(const ot_engine_t *e, const ot_dataset_t *ds)
{
    return e->sparse_ok && ds->nonzero < OT_SPARSE_BELOW && ds->dim <= OT_SPARSE_MAX_DIM &&
           e->net->layers[0].kind == OT_LAYER_AFFINE;
}

/* Pack every Affine's W, and with backward its W^T, for this pass's GEMMs; called by every
 * thread of the team. */
static void pack_weights(ot_engine_t *e, int backward)
{
    const ot_net_t *net = e->net;
    const size_t nr = ot_kgemm_nr();
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (L->kind != OT_LAYER_AFFINE)
            continue;
        const float *Wt = net->params + L->w_off;
        /* the sparse first layer reads W in place */
        const size_t np = l == 0 && e->sparse ? 0 : (L->out + nr - 1) / nr;
        const size_t npt = (L->in + nr - 1) / nr;
#pragma omp for schedule(static) nowait
        for (size_t p = 0; p < np; p++)
            ot_kpack_b(Wt, L->out, false, L->in, L->out, e->wpack[l], p, p + 1);
        if (backward && e->wtpack[l]) { /* W^T only serves dx */
#pragma omp for schedule(static) nowait
            for (size_t p = 0; p < npt; p++)
                ot_kpack_b(Wt, L->out, true, L->out, L->in, e->wtpack[l], p, p + 1);
        }
    }
#pragma omp barrier
}

/* ---- passes ---- */

/* What a pass needs besides the network and the rows. */
typedef struct {
    int train;        /* batch statistics and dropout; else running statistics, no dropout */
    long fault;       /* test hook (see inject_fault); -1 = none */
    uint64_t seed;    /* dropout key */
    uint64_t step;
    const float *bn;  /* batch norm mean and 1/std per layer at its s_off (see ot_engine_t) */
    const uint32_t *ids; /* sample index of every row of the batch: dropout's key */
} pass_t;

/* Width of layer l's input. */
static size_t in_width(const ot_net_t *net, size_t l)
{
    return l > 0 ? net->layers[l - 1].out : net->in_dim;
}

/* Forward through layers [lo, hi) for the thread's rows; the softmax layer fills every
 * shard's loss and hits. */
static void forward_group(ot_engine_t *e, const group_t *g, size_t lo, size_t hi,
                          const pass_t *p)
{
    const ot_net_t *net = e->net;
    const float *P = net->params;
    const size_t r0 = g->r0, n = g->r1 - g->r0;
    if (g->a == g->b)
        return;
    for (size_t l = lo; l < hi; l++) {
        const ot_layer_t *L = &net->layers[l];
        const size_t wi = in_width(net, l), wo = L->out;
        const float *in = (l > 0 ? e->act[l - 1] : e->x) + r0 * wi;
        float *out = e->act[l] + r0 * wo;
        switch (L->kind) {
        case OT_LAYER_AFFINE:
            if (l == 0 && e->sparse)
                ot_kspmm(n, wo, &(ot_krows_t){e->nz_n + r0, e->nz_pix + r0, e->nz_val + r0,
                                              OT_PIXEL_SCALE},
                         P + L->w_off, wo, P + L->b_off, out, wo);
            else
                ot_kgemm(n, wo, wi, in, wi, e->wpack[l], P + L->b_off, out, wo, g->ws->gemm);
            break;
        case OT_LAYER_RELU:
            ot_relu_forward(in, out, n * wo);
            break;
        case OT_LAYER_SIGMOID:
            ot_sigmoid_forward(in, out, n * wo);
            break;
        case OT_LAYER_BATCHNORM:
            ot_bn_forward(in, p->bn + L->s_off, p->bn + L->s_off + wo, P + L->w_off,
                          P + L->b_off, out, n, wo);
            break;
        case OT_LAYER_DROPOUT:
            if (p->train) {
                ot_dropout_key_t k = {p->seed, p->step, (uint32_t)l, L->rate};
                ot_dropout_forward(&k, p->ids + r0, in, out, n, wo);
            } else {
                memcpy(out, in, n * wo * sizeof(float));
            }
            break;
        case OT_LAYER_SOFTMAX_LOSS: /* loss and hits per shard: summed in shard order later */
            for (size_t s = g->a; s < g->b; s++) {
                ot_worker_t *w = &e->workers[s];
                size_t o = w->lo - r0;
                w->loss = ot_softmax_loss_forward(in + o * wi, e->y + w->lo, out + o * wo,
                                                  w->rows, wo, &w->correct);
            }
            break;
        }
    }
}

/* The first batch norm layer at or after lo, or n_layers. */
static size_t next_batchnorm(const ot_net_t *net, size_t lo)
{
    while (lo < net->n_layers && net->layers[lo].kind != OT_LAYER_BATCHNORM)
        lo++;
    return lo;
}

/* Test hook: flip the sign of v[0..len), what a layer's backward produced (the parameter
 * gradient of an Affine or batch norm layer, the input gradient of any other), so that
 * gradcheck can be shown to catch a wrong backward. */
static void flip(float *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        v[i] = -v[i];
}

/* The Affine backward of the thread's shards (dy and dx: the thread's rows): dW = x^T dy and db = column sums of dy for
 * every shard, formed through the tree as far as the thread's shards reach (the nodes it
 * leaves land in their first shard's block, WRITTEN, not accumulated: every parameter belongs
 * to one layer, so the blocks need no zeroing), and dx = dy W^T unless l is 0. */
static void affine_backward_group(ot_engine_t *e, const group_t *g, size_t l, const float *dy,
                                  float *dx, const pass_t *p)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    ot_worker_t *W = e->workers;
    const size_t r0 = g->r0, n = g->r1 - g->r0, in = L->in, out = L->out;
    const float *x = (l > 0 ? e->act[l - 1] : e->x) + r0 * in;
    for (size_t r = 0; r < g->n_roots; r++)
        g->ws->root_p[r] = W[g->ws->roots[r]].grad + L->w_off;
    ot_ktree_t t = {g->b - g->a, g->ws->seg, g->ws->merges, g->n_roots, g->ws->root_p, out};
    if (l == 0 && e->sparse) { /* x by columns: only its nonzero pixels cost FMAs */
        const ot_kcsc_t xs = {g->ws->ends, e->csc_code + r0 * in, OT_PIXEL_SCALE};
        ot_kgemm_tn_tree_sparse(in, out, &xs, dy, out, &t, g->ws->gemm);
    } else {
        ot_kgemm_tn_tree(in, out, x, in, dy, out, &t, g->ws->gemm);
    }
    for (size_t s = g->a; s < g->b; s++) { /* db leaves: a chain over the shard's rows */
        float *restrict db = W[s].grad + L->b_off;
        memset(db, 0, out * sizeof(float));
        for (size_t r = W[s].lo - r0; r < W[s].lo - r0 + W[s].rows; r++)
            for (size_t j = 0; j < out; j++)
                db[j] += dy[r * out + j];
    }
    tree_local(W, e->n_shards, g, L->b_off, out);
    if ((long)l == p->fault) /* the thread's roots hold its share of the sum */
        for (size_t r = 0; r < g->n_roots; r++)
            flip(W[g->ws->roots[r]].grad + L->w_off, L->b_off + out - L->w_off);
    if (dx)
        ot_kgemm(n, in, out, dy, out, e->wtpack[l], NULL, dx, in, g->ws->gemm);
}

/* Backward through layers hi-1 down to lo (hi = n_layers starts at the loss) for the thread's
 * rows; a batch norm layer is left to the caller. *cur names the dbuf holding the gradient
 * w.r.t. the output of layer hi-1 on entry and of layer lo-1 on return. */
static void backward_group(ot_engine_t *e, const group_t *g, size_t hi, size_t lo, int *cur,
                           const pass_t *p)
{
    const ot_net_t *net = e->net;
    const size_t r0 = g->r0, n = g->r1 - g->r0, last = net->n_layers - 1;
    const int idle = g->a == g->b; /* a thread without shards only keeps *cur in step */
    if (hi == net->n_layers) {
        const size_t c = net->layers[last].out;
        *cur = 0;
        if (!idle)
            ot_softmax_loss_backward(e->act[last] + r0 * c, e->y + r0, dpart(e, g, 0), n, c);
        hi = last;
    }
    for (size_t l = hi; l-- > lo; *cur = !*cur) {
        const ot_layer_t *L = &net->layers[l];
        const size_t wo = L->out, wi = in_width(net, l);
        const float *dy = dpart(e, g, *cur);
        float *dx = dpart(e, g, !*cur);
        if (idle)
            continue;
        switch (L->kind) {
        case OT_LAYER_AFFINE:
            affine_backward_group(e, g, l, dy, l > 0 ? dx : NULL, p);
            break;
        case OT_LAYER_RELU:
            ot_relu_backward(e->act[l] + r0 * wo, dy, dx, n * wo);
            break;
        case OT_LAYER_SIGMOID:
            ot_sigmoid_backward(e->act[l] + r0 * wo, dy, dx, n * wo);
            break;
        case OT_LAYER_DROPOUT: {
            ot_dropout_key_t k = {p->seed, p->step, (uint32_t)l, L->rate};
            ot_dropout_backward(&k, p->ids + r0, dy, dx, n, wo);
            break;
        }
        case OT_LAYER_BATCHNORM:     /* never inside a range */
        case OT_LAYER_SOFTMAX_LOSS:  /* only ever last */
            break;
        }
        if ((long)l == p->fault && L->kind != OT_LAYER_AFFINE)
            flip(dx, n * wi);
    }
}

/* Batch norm layer l in training mode, forward: the batch's mean and variance from the
 * shards' partial sums (two passes: mean first, then squared deviations, for accuracy),
 * combined in shard order by one thread; the running statistics move towards them. Called by
 * every thread of the team. */
static void batchnorm_forward_train(ot_engine_t *e, const group_t *g, size_t l, size_t n,
                                    const pass_t *p)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    const size_t S = e->n_shards, d = L->out;
    ot_worker_t *W = e->workers;
    const float *x = e->act[l - 1];
    double *sum = e->bn_sum[0];
    float *mean = e->bn_batch + L->s_off, *inv_std = mean + d;
    for (size_t s = g->a; s < g->b; s++)
        ot_bn_partial_sum(x + W[s].lo * d, W[s].rows, d, W[s].part[0]);
#pragma omp barrier
#pragma omp single
    for (size_t f = 0; f < d; f++) {
        sum[f] = 0.0;
        for (size_t s = 0; s < S; s++)
            sum[f] += W[s].part[0][f];
        sum[f] /= (double)n;
        mean[f] = (float)sum[f];
    }
    for (size_t s = g->a; s < g->b; s++)
        ot_bn_partial_sqdev(x + W[s].lo * d, sum, W[s].rows, d, W[s].part[0]);
#pragma omp barrier
#pragma omp single
    {
        float *run_mean = net->state + L->s_off, *run_var = run_mean + d;
        const float m = net->bn_momentum;
        for (size_t f = 0; f < d; f++) {
            double var = 0.0;
            for (size_t s = 0; s < S; s++)
                var += W[s].part[0][f];
            var /= (double)n;
            inv_std[f] = (float)(1.0 / sqrt(var + OT_BN_EPS));
            run_mean[f] = m * run_mean[f] + (1.0f - m) * mean[f];
            run_var[f] = m * run_var[f] + (1.0f - m) * (float)var;
        }
    }
    forward_group(e, g, l, l + 1, p);
}

/* Batch norm layer l, backward: the batch sums of dy and dy * xhat (which are also dbeta and
 * dgamma) from the shards' partial sums, combined in shard order, then the thread's dx. */
static void batchnorm_backward(ot_engine_t *e, const group_t *g, size_t l, size_t n, int *cur,
                               const pass_t *p)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    const size_t S = e->n_shards, d = L->out;
    ot_worker_t *W = e->workers;
    const float *mean = e->bn_batch + L->s_off, *inv_std = mean + d;
    const float *x = e->act[l - 1], *dy = dpart(e, g, *cur);
    float *dx = dpart(e, g, !*cur);
    double *sum_dy = e->bn_sum[0], *sum_dy_xhat = e->bn_sum[1];
    for (size_t s = g->a; s < g->b; s++) {
        ot_worker_t *w = &W[s];
        ot_bn_partial_backward(x + w->lo * d, dy + (w->lo - g->r0) * d, mean, inv_std, w->rows, d,
                               w->part[0], w->part[1]);
        for (size_t f = 0; f < d; f++) { /* the shard's dgamma and dbeta: leaves of the tree */
            w->grad[L->w_off + f] = (float)w->part[1][f];
            w->grad[L->b_off + f] = (float)w->part[0][f];
        }
        if ((long)l == p->fault)
            flip(w->grad + L->w_off, L->b_off + d - L->w_off);
    }
    tree_local(W, S, g, L->w_off, L->b_off + d - L->w_off);
#pragma omp barrier
#pragma omp single
    for (size_t f = 0; f < d; f++) {
        sum_dy[f] = sum_dy_xhat[f] = 0.0;
        for (size_t s = 0; s < S; s++) {
            sum_dy[f] += W[s].part[0][f];
            sum_dy_xhat[f] += W[s].part[1][f];
        }
    }
    if (g->a < g->b) {
        const size_t r0 = g->r0, rows = g->r1 - g->r0;
        ot_bn_backward(x + r0 * d, dy, mean, inv_std, net->params + L->w_off, sum_dy,
                       sum_dy_xhat, n, dx, rows, d);
    }
    *cur = !*cur;
}

/* Threads for the next parallel region: as many as OpenMP would use, if they have
 * workspaces. */
static int team_size(ot_engine_t *e)
{
    size_t want = (size_t)omp_get_max_threads();
    want = want < 1 ? 1 : want;
    return (int)min_sz(want, grow_ws(e, want));
}

ot_batch_result_t ot_engine_gradient(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                                     size_t n)
{
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    float *out = e->grad;
    const size_t S = e->n_shards, P = net->n_params, n_layers = net->n_layers;
    const size_t n_chunks = (P + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    const float fn = (float)n;
    const pass_t pass = {1, e->fault_layer, e->seed, e->step, e->bn_batch, idx};
    const pass_t *p = &pass;
    const int T = team_size(e);
    e->sparse = use_sparse(e, ds);
    /* one parallel region for the shards, the batch-norm reductions and the gradient
     * reduction: one fork/join per step */
#pragma omp parallel num_threads(T) default(none) shared(e, W, ds, idx, net, out, p) \
    firstprivate(S, P, n, n_chunks, fn, n_layers)
    {
#pragma omp for schedule(static)
        for (size_t s = 0; s < S; s++)
            start_shard(&W[s], n, S, s);
        const group_t g = my_group(e);
        gather_group(e, ds, idx, &g, 1);
        pack_weights(e, 1); /* ends with a barrier: every shard's rows are in place */
        /* forward, segment by segment between batch norm layers */
        for (size_t lo = 0;;) {
            size_t bn = next_batchnorm(net, lo);
            forward_group(e, &g, lo, bn, p);
            if (bn == n_layers)
                break;
            batchnorm_forward_train(e, &g, bn, n, p);
            lo = bn + 1;
        }
        if (e->next_idx) { /* the next batch's images, a thread's share each, into cache */
            const size_t T_ = (size_t)omp_get_num_threads(), t_ = (size_t)omp_get_thread_num();
            const size_t a = t_ * e->next_n / T_, b = (t_ + 1) * e->next_n / T_;
            ot_dataset_prefetch(ds, e->next_idx + a, b - a);
        }
        /* backward, the same segments from the top */
        int cur = 0;
        for (size_t hi = n_layers;;) {
            size_t bn = hi;
            for (size_t l = 0; l < hi; l++)
                if (net->layers[l].kind == OT_LAYER_BATCHNORM)
                    bn = l;
            size_t lo = bn == hi ? 0 : bn + 1;
            backward_group(e, &g, hi, lo, &cur, p);
            if (lo == 0)
                break;
            batchnorm_backward(e, &g, bn, n, &cur, p);
            hi = bn;
        }
#pragma omp barrier
        /* every thread's nodes are complete: add the ones that span threads */
        const size_t team = (size_t)omp_get_num_threads();
#pragma omp for schedule(static)
        for (size_t c = 0; c < n_chunks; c++)
            reduce_chunk(W, S, team, P, c, fn, out);
    }
    ot_batch_result_t r = {0.0, 0};
    for (size_t s = 0; s < S; s++) {
        r.loss += W[s].loss;
        r.correct += W[s].correct;
    }
    return r;
}

/* argmax of each of the thread's rows of the probabilities into e->pred. */
static void predict_group(ot_engine_t *e, const group_t *g)
{
    const ot_net_t *net = e->net;
    size_t c = net->n_classes;
    const float *p = e->act[net->n_layers - 1];
    for (size_t r = g->r0; r < g->r1; r++) {
        size_t arg = 0;
        for (size_t j = 1; j < c; j++)
            if (p[r * c + j] > p[r * c + arg])
                arg = j;
        e->pred[r] = (int32_t)arg;
    }
}

ot_batch_result_t ot_engine_evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t limit,
                                     uint64_t *confusion)
{
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    const size_t S = e->n_shards, total = limit && limit < ds->n ? limit : ds->n;
    const size_t chunk = e->max_batch, n_layers = net->n_layers;
    const size_t c = net->n_classes;
    const int want_pred = confusion != NULL;
    /* batch norm at evaluation: the running statistics, as mean and 1/std */
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (L->kind != OT_LAYER_BATCHNORM)
            continue;
        const float *run = net->state + L->s_off;
        float *ev = e->bn_eval + L->s_off;
        for (size_t f = 0; f < L->out; f++) {
            ev[f] = run[f];
            ev[L->out + f] = (float)(1.0 / sqrt((double)run[L->out + f] + OT_BN_EPS));
        }
    }
    const pass_t pass = {0, -1, 0, 0, e->bn_eval, e->rows_idx};
    const pass_t *p = &pass;
    ot_batch_result_t r = {0.0, 0};
    const int T = team_size(e);
    e->sparse = use_sparse(e, ds);
#pragma omp parallel num_threads(T) default(none) shared(e, W, ds, p, r, confusion) \
    firstprivate(S, total, chunk, n_layers, c, want_pred)
    {
        pack_weights(e, 0);
        for (size_t base = 0; base < total; base += chunk) {
            size_t n = min_sz(total - base, chunk);
#pragma omp for schedule(static)
            for (size_t s = 0; s < S; s++) {
                start_shard(&W[s], n, S, s);
                const size_t lo = W[s].lo, hi = lo + W[s].rows;
                for (size_t i = lo; i < hi; i++) /* the evaluation's rows: consecutive samples */
                    e->rows_idx[i] = (uint32_t)(base + i);
            }
            const group_t g = my_group(e);
            gather_group(e, ds, e->rows_idx, &g, 0);
            forward_group(e, &g, 0, n_layers, p);
            if (want_pred)
                predict_group(e, &g);
#pragma omp barrier
#pragma omp single
            for (size_t s = 0; s < S; s++) { /* in shard order, whatever the thread count */
                r.loss += W[s].loss;
                r.correct += W[s].correct;
                if (confusion)
                    for (size_t i = W[s].lo; i < W[s].lo + W[s].rows; i++)
                        confusion[(size_t)e->y[i] * c + (size_t)e->pred[i]]++;
            }
        }
    }
    return r;
}
