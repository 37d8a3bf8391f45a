/* engine.c - the data-parallel step: shards taken by processes and their threads in
 * contiguous runs, forward and backward through the whole stack by each layer's table, the
 * gradient summed in a fixed tree (see ot_engine.h). */
#include "ot_engine.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_dist.h"
#include "ot_kgemm.h"
#include "ot_tree.h"

/* Floats per reduction chunk: large enough to stream, small enough to stay in L1/L2 while the
 * tree adds the shards' copies of it. */
#define REDUCE_CHUNK 2048

/* A thread's workspace: the layers' shared scratch, what each keeps over a pass, and the plan
 * of its part of the reduction tree. */
struct ot_engine_ws {
    void *scratch;    /* the largest of the layers' ops->workspace */
    void **keep;      /* (n_layers) each layer's kept bytes, or NULL */
    size_t *seg;      /* (n_shards + 1) row offsets of the thread's shards */
    size_t *seg_rows; /* (n_shards + 1) the same for a matrix of several rows per sample */
    uint8_t *merges;  /* (n_shards) see ot_ktree_t */
    size_t *roots;    /* (depth) first shard of each node the thread leaves for the others */
    float **root_p;   /* (depth) where a tensor's roots go */
    ot_leaf_t *leaves; /* (n_shards) the thread's shards as its layers see them */
    void *mem;        /* the one allocation behind the above */
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

/* One shard's loss and hits, as the processes exchange them. */
typedef struct {
    double loss;
    uint64_t correct;
} shard_res_t;

/* The work of a process among R (ot_engine_distribute): which shards and which part of the
 * parameters are its, and the messages of the gradient exchange. */
struct ot_engine_job {
    size_t R, r;          /* processes; this one */
    size_t *shard_off;    /* (R + 1) process q takes shards [shard_off[q], shard_off[q+1]) */
    size_t *chunk;        /* (R + 1) process q completes the tree for parameters
                             [chunk[q], chunk[q+1]) */
    ot_dist_msg_t *msgs;  /* the exchange: this process's roots' parts to their owners, the
                             other processes' roots' parts of its own chunk; its shards'
                             results and its flag to every other, theirs from them */
    size_t n_msgs;
    shard_res_t *res;     /* (S) every shard's loss and hits */
    int *flags;           /* (R) every process's ot_engine_t.flag */
};

/* ---- buffers ---- */

/* Whether layers are fused: unless the environment says OT_FUSE=0 (to compare). */
static int fusion_on(void)
{
    const char *v = getenv("OT_FUSE");
    return !(v && strcmp(v, "0") == 0);
}

/* OT_XFER=plain or keep fixes ot_engine_t.xfer (benchmarks); else (auto, or unset)
 * OT_XFER_AUTO. main checks the value. */
static ot_xfer_t xfer_from_env(void)
{
    const char *v = getenv("OT_XFER");
    return v && !strcmp(v, "plain") ? OT_XFER_PLAIN : v && !strcmp(v, "keep") ? OT_XFER_KEEP
                                                                            : OT_XFER_AUTO;
}

/* Whether layer l is fused into layer l - 1: an element-wise kind (ops->pointwise_fwd) after
 * one that fuses_next. Its output then shares l - 1's buffer, and l - 1's forward and
 * backward apply it block by block while the block is in cache, instead of a pass of its own
 * over the whole batch (the same arithmetic: the same bits). */
static int fused(const ot_engine_t *e, size_t l)
{
    const ot_net_t *net = e->net;
    return e->fuse && l > 0 && l < net->n_layers && net->layers[l].ops->pointwise_fwd &&
           net->layers[l - 1].ops->fuses_next;
}

/* Lay a thread's workspace out in base, sized for a thread that takes every shard; returns
 * the bytes it takes (one list for sizing and carving, so the two cannot disagree). */
static size_t layout_ws(struct ot_engine_ws *ws, const ot_engine_t *e, char *base)
{
    const ot_net_t *net = e->net;
    const size_t S = e->n_shards, depth = ot_tree_depth(S), L = net->n_layers;
    size_t scratch = 0, off = 0;
    for (size_t l = 0; l < L; l++) {
        const ot_layer_t *Ly = &net->layers[l];
        size_t keep = 0;
        if (Ly->ops->workspace) {
            size_t s = Ly->ops->workspace(Ly, e->max_batch, S, &keep);
            scratch = s > scratch ? s : scratch;
        }
    }
    void *scr = carve(base, &off, scratch);
    void **keeps = carve(base, &off, L * sizeof(void *));
    for (size_t l = 0; l < L; l++) {
        const ot_layer_t *Ly = &net->layers[l];
        size_t keep = 0;
        if (Ly->ops->workspace)
            Ly->ops->workspace(Ly, e->max_batch, S, &keep);
        void *k = keep ? carve(base, &off, keep) : NULL;
        if (base)
            keeps[l] = k;
    }
    size_t *seg = carve(base, &off, (S + 1) * sizeof(size_t));
    size_t *seg_rows = carve(base, &off, (S + 1) * sizeof(size_t));
    uint8_t *merges = carve(base, &off, S);
    size_t *roots = carve(base, &off, depth * sizeof(size_t));
    float **root_p = carve(base, &off, depth * sizeof(float *));
    ot_leaf_t *leaves = carve(base, &off, S * sizeof(ot_leaf_t));
    if (base)
        *ws = (struct ot_engine_ws){scr, keeps, seg, seg_rows, merges, roots, root_p, leaves,
                                    base};
    return off;
}

/* Layers [0, n) whose inputs' blank values (ot_layer_ops_t.blank) are worth forming: up to the
 * last that uses them above layer 0, when every layer below it can give one; 0 for none, and
 * when the environment says OT_BLANK=0 (to compare: other rounding, the same sums). Their
 * floats in *floats. */
static size_t blank_layers(const ot_net_t *net, size_t *floats)
{
    const char *v = getenv("OT_BLANK");
    size_t n = 0;
    *floats = 0;
    if (v && strcmp(v, "0") == 0)
        return 0;
    for (size_t l = 1; l < net->n_layers; l++) {
        const ot_layer_ops_t *below = net->layers[l - 1].ops;
        if (!below->blank && !below->pointwise_fwd)
            break;
        if (net->layers[l].ops->uses_blank)
            n = l + 1;
    }
    *floats = 0;
    for (size_t l = 0; l < n; l++)
        *floats += net->layers[l].in_size;
    return n;
}

double ot_engine_bytes(const ot_net_t *net, size_t max_batch, size_t n_shards, size_t threads)
{
    const ot_engine_t e = {.net = (ot_net_t *)net, .n_shards = n_shards, .max_batch = max_batch,
                           .fuse = fusion_on()};
    const double B = (double)max_batch, S = (double)n_shards, P = (double)net->n_params;
    double b = S * (sizeof(ot_worker_t) + sizeof(float *) + P * sizeof(float)) /* shards */
               + P * sizeof(float)                                           /* the mean */
               + B * (double)net->in_dim * sizeof(float)                     /* x */
               + 3.0 * B * sizeof(int32_t)                                   /* y, pred, rows */
               + 2.0 * B * (double)net->max_width * sizeof(float);           /* dbuf */
    size_t blank_floats;
    b += blank_layers(net, &blank_floats) ? (double)blank_floats * sizeof(float) : 0.0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        b += (fused(&e, l) ? 0.0 : B * (double)L->out_size * sizeof(float)) + sizeof(size_t) +
             3 * sizeof(void *) + sizeof(size_t);
        if (L->ops->stats)
            b += S * (double)L->ops->stats(L) * sizeof(double);
        if (L->ops->bytes)
            b += (double)L->ops->bytes(L, max_batch, n_shards);
    }
    return b + (double)threads * (double)(layout_ws(NULL, &e, NULL) + sizeof(struct ot_engine_ws));
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
    e->fuse = fusion_on();
    e->xfer = xfer_from_env();
    e->lo = 0;
    e->hi = n_shards;
    const size_t L = net->n_layers, B = max_batch;
    size_t n_parts = 0;
    if (!(e->part_off = ot_alloc(L * sizeof(size_t))))
        goto fail;
    for (size_t l = 0; l < L; l++) {
        const ot_layer_t *Ly = &net->layers[l];
        e->part_off[l] = n_parts;
        n_parts += Ly->ops->stats ? n_shards * Ly->ops->stats(Ly) : 0;
    }
    e->workers = ot_alloc(n_shards * sizeof *e->workers);
    e->blocks = ot_alloc(n_shards * sizeof *e->blocks);
    e->grad = ot_alloc(net->n_params * sizeof(float));
    e->parts = ot_alloc(n_parts * sizeof(double));
    e->x = ot_alloc(B * net->in_dim * sizeof(float));
    e->y = ot_alloc(B * sizeof(int32_t));
    e->pred = ot_alloc(B * sizeof(int32_t));
    e->rows_idx = ot_alloc(B * sizeof(uint32_t));
    e->act = ot_alloc(L * sizeof(float *));
    e->rt = ot_alloc(L * sizeof(void *));
    e->dbuf[0] = ot_alloc(B * net->max_width * sizeof(float));
    e->dbuf[1] = ot_alloc(B * net->max_width * sizeof(float));
    size_t blank_floats;
    if ((e->n_blank = blank_layers(net, &blank_floats)) > 0) {
        e->blank = ot_alloc(blank_floats * sizeof(float));
        e->blank_off = ot_alloc(L * sizeof(size_t));
        if (!e->blank || !e->blank_off)
            goto fail;
        size_t off = 0;
        for (size_t l = 0; l < e->n_blank; l++) {
            e->blank_off[l] = off;
            off += net->layers[l].in_size;
        }
    }
    if (!e->workers || !e->blocks || !e->grad || !e->parts || !e->x || !e->y || !e->pred || !e->rows_idx ||
        !e->act || !e->rt || !e->dbuf[0] || !e->dbuf[1])
        goto fail;
    for (size_t l = 0; l < L; l++) {
        const ot_layer_t *Ly = &net->layers[l];
        if (fused(e, l))
            e->act[l] = e->act[l - 1];
        else if (!(e->act[l] = ot_alloc(B * Ly->out_size * sizeof(float))))
            goto fail;
        if (Ly->ops->setup && Ly->ops->setup(Ly, B, n_shards, &e->rt[l]))
            goto fail;
    }
    for (size_t s = 0; s < n_shards; s++)
        if (!(e->blocks[s] = e->workers[s].grad = ot_alloc(net->n_params * sizeof(float))))
            goto fail;
    size_t want = (size_t)omp_get_max_threads();
    if (grow_ws(e, want < 1 ? 1 : want) == 0)
        goto fail;
    return OT_OK;
fail:
    ot_error("cannot allocate buffers for batches of %zu rows in %zu shards; expected a smaller "
             "training.batch_size or training.shards", max_batch, n_shards);
    ot_engine_free(e);
    return OT_ENOMEM;
}

static void job_free(struct ot_engine_job *j)
{
    if (!j)
        return;
    free(j->shard_off);
    free(j->chunk);
    free(j->msgs);
    free(j->res);
    free(j->flags);
    free(j);
}

void ot_engine_free(ot_engine_t *e)
{
    job_free(e->job);
    if (e->workers)
        for (size_t s = 0; s < e->n_shards; s++)
            ot_free(e->workers[s].grad);
    for (size_t t = 0; t < e->n_ws; t++)
        ot_free(e->ws[t].mem);
    if (e->net && e->act)
        for (size_t l = 0; l < e->net->n_layers; l++)
            if (!fused(e, l))
                ot_free(e->act[l]);
    if (e->net && e->rt)
        for (size_t l = 0; l < e->net->n_layers; l++)
            if (e->net->layers[l].ops->free)
                e->net->layers[l].ops->free(e->rt[l]);
    void *blocks[] = {e->workers, e->blocks, e->ws, e->grad, e->parts, e->part_off, e->x, e->y, e->pred, e->rows_idx,
                      e->act, e->rt, e->dbuf[0], e->dbuf[1], e->blank, e->blank_off};
    for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
        ot_free(blocks[i]);
    memset(e, 0, sizeof *e);
}

/* Parameters per process chunk are cut at multiples of this many floats (one cache line). */
#define CHUNK_ALIGN 16

int ot_engine_distribute(ot_engine_t *e, const ot_dist_t *d)
{
    const size_t R = (size_t)ot_dist_size(d), r = (size_t)ot_dist_rank(d);
    const size_t S = e->n_shards, P = e->net->n_params, depth = ot_tree_depth(S);
    job_free(e->job);
    e->job = NULL;
    e->dist = d;
    e->lo = 0;
    e->hi = S;
    if (R == 1)
        return OT_OK;
    if (R > S) {
        ot_error("training.shards: %zu shards cannot be split over %zu processes: expected at "
                 "least one shard per process (training.shards = %zu or more)", S, R, R);
        return OT_ECONFIG;
    }
    struct ot_engine_job *j = calloc(1, sizeof *j);
    size_t *roots = malloc(depth * sizeof *roots);
    uint8_t *merges = malloc(S);
    if (!j || !roots || !merges || !(j->shard_off = malloc((R + 1) * sizeof(size_t))) ||
        !(j->chunk = malloc((R + 1) * sizeof(size_t))) ||
        !(j->msgs = malloc(2 * (R - 1) * (depth + 2) * sizeof *j->msgs)) ||
        !(j->res = calloc(S, sizeof *j->res)) || !(j->flags = calloc(R, sizeof(int)))) {
        ot_error("cannot allocate the plan of an exchange between %zu processes", R);
        free(roots);
        free(merges);
        job_free(j);
        return OT_ENOMEM;
    }
    j->R = R;
    j->r = r;
    for (size_t q = 0; q < R; q++) {
        size_t b;
        ot_tree_part(0, S, R, q, &j->shard_off[q], &b);
        j->chunk[q] = q * P / R / CHUNK_ALIGN * CHUNK_ALIGN;
    }
    j->shard_off[R] = S;
    j->chunk[R] = P;
    /* Every process sends each of its roots (the maximal nodes inside its shards) in R parts,
     * part q to process q, and receives the other processes' roots' parts of its own chunk
     * into the same shards' blocks, where the tree keeps those nodes. Its shards' losses and
     * its flag travel in the same round (tags S and S + 1; a root's tag is its shard). */
    const size_t F = sizeof(float), mine = j->shard_off[r + 1] - j->shard_off[r];
    for (size_t q = 0; q < R; q++) {
        if (q == r)
            continue;
        size_t n = ot_tree_plan(S, j->shard_off[r], j->shard_off[r + 1], merges, roots);
        for (size_t i = 0; i < n && j->chunk[q + 1] > j->chunk[q]; i++)
            j->msgs[j->n_msgs++] = (ot_dist_msg_t){e->blocks[roots[i]] + j->chunk[q],
                                                   (j->chunk[q + 1] - j->chunk[q]) * F, (int)q,
                                                   (int)roots[i], 1};
        n = ot_tree_plan(S, j->shard_off[q], j->shard_off[q + 1], merges, roots);
        for (size_t i = 0; i < n && j->chunk[r + 1] > j->chunk[r]; i++)
            j->msgs[j->n_msgs++] = (ot_dist_msg_t){e->blocks[roots[i]] + j->chunk[r],
                                                   (j->chunk[r + 1] - j->chunk[r]) * F, (int)q,
                                                   (int)roots[i], 0};
        const size_t theirs = j->shard_off[q + 1] - j->shard_off[q];
        j->msgs[j->n_msgs++] = (ot_dist_msg_t){j->res + j->shard_off[r], mine * sizeof *j->res,
                                               (int)q, (int)S, 1};
        j->msgs[j->n_msgs++] = (ot_dist_msg_t){j->res + j->shard_off[q],
                                               theirs * sizeof *j->res, (int)q, (int)S, 0};
        j->msgs[j->n_msgs++] = (ot_dist_msg_t){&j->flags[r], sizeof(int), (int)q, (int)S + 1, 1};
        j->msgs[j->n_msgs++] = (ot_dist_msg_t){&j->flags[q], sizeof(int), (int)q, (int)S + 1, 0};
    }
    free(roots);
    free(merges);
    e->job = j;
    e->lo = j->shard_off[r];
    e->hi = j->shard_off[r + 1];
    return OT_OK;
}

int ot_engine_set_fault(ot_engine_t *e, const char *name, ot_fault_t what)
{
    const ot_layer_t *L = ot_net_layer(e->net, name);
    if (!L)
        return OT_EINVAL;
    e->fault_layer = (long)L->index;
    e->fault_what = what;
    return OT_OK;
}

/* ---- the split: shards, threads, the tree ---- */

/* Shard s of an n-row batch before a pass: rows [s*n/S, (s+1)*n/S), a balanced split that
 * depends on n and the shard count only; no loss or hits yet. */
static void start_shard(ot_worker_t *w, size_t n, size_t n_shards, size_t s)
{
    w->lo = s * n / n_shards;
    w->rows = (s + 1) * n / n_shards - w->lo;
    w->loss = 0.0;
    w->correct = 0;
}

/* What the calling thread works on: shards [a, b), rows [r0, r1) of the batch, of which it
 * runs rows [q0, q1) through the layers: all of them unless threads share a shard. */
typedef struct {
    size_t a, b, r0, r1, q0, q1;
    size_t parts;    /* the parts the process's shards are split into: its threads, or its
                        shards when they are fewer (the nodes that span parts come last) */
    int share;       /* more threads than shards: the team's threads share shards */
    struct ot_engine_ws *ws;
    ot_grad_t grad;  /* its shards' gradients, for the layers */
} group_t;

/* Whether a team of T threads shares shards: with more threads than the process has shards,
 * the threads of one shard split its rows for forward and dx and the rows of its parameter
 * gradients for backward (ot_grad_share), so that the shards, not the threads, fix every sum. */
static int shares(const ot_engine_t *e, size_t T)
{
    return T > e->hi - e->lo;
}

/* The calling thread's shards, rows, leaves and plan of the tree (ot_tree_plan). With more
 * threads T than the process's L shards, thread t helps its shard floor(t L / T) with the
 * others that map to it, and the tree is planned as if each shard had a thread of its own. */
static group_t my_group(ot_engine_t *e)
{
    const size_t S = e->n_shards, T = (size_t)omp_get_num_threads();
    const size_t t = (size_t)omp_get_thread_num(), L = e->hi - e->lo;
    const int share = shares(e, T);
    struct ot_engine_ws *ws = &e->ws[t];
    group_t g = {0, 0, 0, 0, 0, 0, share ? L : T, share, ws,
                 {e->blocks, S, 0, 0, 0, ws->roots, ws->merges, ws->seg, ws->seg_rows,
                  ws->root_p, 0, 1}};
    if (share) {
        const size_t i = t * L / T, first = (i * T + L - 1) / L, end = ((i + 1) * T + L - 1) / L;
        g.a = e->lo + i;
        g.b = g.a + 1;
        g.grad.member = t - first;
        g.grad.members = end - first;
    } else {
        ot_tree_part(e->lo, e->hi, T, t, &g.a, &g.b);
    }
    g.grad.a = g.a;
    g.grad.b = g.b;
    if (g.a == g.b)
        return g;
    const ot_worker_t *W = e->workers;
    g.r0 = W[g.a].lo;
    g.r1 = W[g.b - 1].lo + W[g.b - 1].rows;
    const size_t rows = g.r1 - g.r0, m = g.grad.member, k = g.grad.members;
    g.q0 = g.r0 + m * rows / k;
    g.q1 = g.r0 + (m + 1) * rows / k;
    g.grad.n_roots = ot_tree_plan(S, g.a, g.b, g.ws->merges, g.ws->roots);
    for (size_t s = g.a; s <= g.b; s++)
        g.ws->seg[s - g.a] = (s < g.b ? W[s].lo : g.r1) - g.r0;
    for (size_t s = g.a; s < g.b; s++)
        g.ws->leaves[s - g.a] = (ot_leaf_t){W[s].lo - g.r0, W[s].rows, 0.0, 0};
    return g;
}

/* Floats [off, off + len) of the nodes inside this process's shards [lo, hi) that span its T
 * threads, level by level (the nodes inside one thread are formed already). With clear, a
 * right child, once added, is left zero: the store leaves its lines modified in this core
 * alone, and the thread that writes that block next step takes them from here in one
 * transfer; lines left shared its stores would first have to invalidate here, several times
 * slower (scripts/xcore.c). Nothing reads a right child after its parent is formed. */
static void reduce_team(ot_worker_t *W, size_t S, size_t lo, size_t hi, size_t T, size_t off,
                        size_t len, int clear)
{
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = (lo + 2 * h - 1) / (2 * h) * (2 * h); s + h < hi; s += 2 * h) {
            if (!ot_tree_inside(s, 2 * h, S, lo, hi) || !ot_tree_spans(s, h, S, lo, hi, T))
                continue;
            float *restrict a = W[s].grad + off;
            float *restrict b = W[s + h].grad + off;
            for (size_t i = 0; i < len; i++)
                a[i] += b[i];
            if (clear)
                memset(b, 0, len * sizeof *b);
        }
}

/* Floats [off, off + len) of the nodes that span the R processes, level by level, over the
 * processes' roots (exchanged: each process's maximal nodes, in their first shards' blocks). */
static void reduce_top(ot_worker_t *W, size_t S, size_t R, size_t off, size_t len)
{
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = 0; s + h < S; s += 2 * h) {
            if (!ot_tree_spans(s, h, S, 0, S, R))
                continue;
            float *restrict a = W[s].grad + off;
            const float *restrict b = W[s + h].grad + off;
            for (size_t i = 0; i < len; i++)
                a[i] += b[i];
        }
}

/* The root's floats [off, off + len), divided by n, into out[0 .. len). */
static void mean_of(const ot_worker_t *W, size_t off, size_t len, float fn, float *out)
{
    const float *restrict g = W[0].grad + off;
    float *restrict o = out;
    for (size_t i = 0; i < len; i++)
        o[i] = g[i] / fn;
}

/* The calling thread's part of the parameters (ot_param_part), REDUCE_CHUNK floats at a time:
 * the nodes that span threads (parts of them), the mean into out, or with h into a chunk of
 * the thread's own that the update reads (keeping the lines out of the shared state or not,
 * ot_xfer_t) while it is in L1: a mean that nothing reads later is not stored. One process. */
static void reduce_own(ot_worker_t *W, size_t S, size_t parts, size_t P, float fn, float *out,
                       const ot_step_hook_t *h, int keep)
{
    const size_t T = (size_t)omp_get_num_threads();
    size_t a, b;
    ot_param_part(P, T, (size_t)omp_get_thread_num(), &a, &b);
    _Alignas(OT_ALIGN) float chunk[REDUCE_CHUNK];
    for (size_t off = a; off < b; off += REDUCE_CHUNK) {
        const size_t len = min_sz(b - off, REDUCE_CHUNK);
        reduce_team(W, S, 0, S, parts, off, len, keep);
        mean_of(W, off, len, fn, h ? chunk : out + off);
        if (h)
            h->span(h->arg, chunk, off, off + len, keep);
    }
}

/* The batch's summed loss: the shards' losses in shard order, whatever the split. */
static double batch_loss(const ot_worker_t *W, size_t S)
{
    double loss = 0.0;
    for (size_t s = 0; s < S; s++)
        loss += W[s].loss;
    return loss;
}

/* ---- passes ---- */

/* What a pass needs besides the network and the rows. */
typedef struct {
    int train;           /* batch statistics and dropout; else running statistics, no dropout */
    size_t n;            /* rows of the batch */
    const uint32_t *ids; /* sample index of every row of the batch: dropout's key */
} pass_t;

/* The calling thread's part of activation-gradient buffer `which`: rows r0.. of the group at
 * a fixed stride of max_width floats per row, so that threads working on layers of different
 * widths at the same time never overlap; inside it the rows are packed at the layer's width. */
static float *dpart(const ot_engine_t *e, const group_t *g, int which)
{
    return e->dbuf[which] + g->r0 * e->net->max_width;
}

/* The thread's rows [q0, q1) among its shards' rows: the offset of row q0, in floats, in a
 * buffer of `size` floats per row that starts at row r0. */
static size_t own(const group_t *g, size_t size)
{
    return (g->q0 - g->r0) * size;
}

/* Layer l's view of the thread's rows [q0, q1), or with whole of all its shards' rows [r0, r1)
 * (dy and dx are the backward's to set; sx is x). */
static ot_ctx_t layer_ctx(ot_engine_t *e, group_t *g, size_t l, const pass_t *p, int whole)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    const size_t r0 = whole ? g->r0 : g->q0, r1 = whole ? g->r1 : g->q1;
    const float *x = (l > 0 ? e->act[l - 1] : e->x);
    return (ot_ctx_t){
        .n = r1 - r0,
        .batch = p->n,
        .x = x + r0 * L->in_size,
        .y = e->act[l] + r0 * L->out_size,
        .params = net->params,
        .state = net->state,
        .rt = e->rt[l],
        .r0 = r0,
        .work = g->ws->scratch,
        .keep = g->ws->keep[l],
        .train = p->train,
        .seed = e->seed,
        .step = e->step,
        .ids = p->ids + r0,
        .labels = e->y + r0,
        .sx = x + g->r0 * L->in_size,
        .n_leaves = g->b - g->a,
        .leaves = g->ws->leaves,
        .first_shard = g->a,
        .parts = e->parts + e->part_off[l],
        .grad = &g->grad,
        .blank = l > 0 && l < (size_t)e->blank_ok ? e->blank + e->blank_off[l] : NULL,
    };
}

/* The layers' inputs' blank values for a training pass, from the data's 0 up, as far as every
 * layer below gives one (e->blank_ok). */
static void blank_pass(ot_engine_t *e)
{
    const ot_net_t *net = e->net;
    e->blank_ok = 0;
    if (!e->n_blank)
        return;
    memset(e->blank, 0, net->layers[0].in_size * sizeof(float));
    size_t l = 0;
    for (; l + 1 < e->n_blank; l++) {
        const ot_layer_t *L = &net->layers[l];
        const float *in = e->blank + e->blank_off[l];
        float *out = e->blank + e->blank_off[l + 1];
        if (L->ops->blank) {
            if (L->ops->blank(L, net->params, in, out) < 0)
                break;
        } else {
            memcpy(out, in, L->out_size * sizeof(float));
            L->ops->pointwise_fwd(out, L->out_size);
        }
    }
    e->blank_ok = (int)(l + 1);
}

/* Every layer's begin, on one thread before a pass by T threads. */
static void begin_pass(ot_engine_t *e, const ot_dataset_t *ds, int train, size_t T)
{
    const ot_net_t *net = e->net;
    /* moved images are gathered as floats, and so are the rows of shared shards (the lists
     * of nonzero pixels are by shard): the same bits either way */
    const ot_pass_info_t pi = {ds, train,
                               e->sparse_ok && !(train && e->augment_shift > 0) && !shares(e, T),
                               e->sparse_ok};
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (L->ops->begin)
            L->ops->begin(L, e->rt[l], net->params, net->state, &pi);
    }
    blank_pass(e);
}

/* Every layer's shared preparation, by every thread of the team, then a barrier; stream: what
 * the threads prepare for each other is stored past the caches (ot_layer_ops_t.prepare). */
static void prepare_pass(ot_engine_t *e, int backward, int stream)
{
    const ot_net_t *net = e->net;
    const size_t T = (size_t)omp_get_num_threads();
    size_t own[2];
    ot_param_part(net->n_params, T, (size_t)omp_get_thread_num(), &own[0], &own[1]);
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (L->ops->prepare)
            L->ops->prepare(L, e->rt[l], net->params, own, backward, stream);
    }
#pragma omp barrier
}

/* The thread's rows of the batch from ds: the labels, and the inputs as floats into e->x
 * unless the first layer takes them in a form of its own. */
static void gather_group(ot_engine_t *e, group_t *g, const ot_dataset_t *ds, const pass_t *p,
                         int by_column)
{
    const ot_layer_t *L0 = &e->net->layers[0];
    if (g->a == g->b)
        return;
    ot_ctx_t c = layer_ctx(e, g, 0, p, 0);
    if (L0->ops->gather && L0->ops->gather(L0, &c, ds, by_column))
        return;
    float *x = e->x + g->q0 * e->net->in_dim;
    if (p->train && e->augment_shift > 0)
        ot_dataset_gather_shifted(ds, c.ids, c.n, x, c.labels,
                                  &(ot_shift_key_t){e->seed, e->step, e->augment_shift});
    else
        ot_dataset_gather(ds, c.ids, c.n, x, c.labels);
}

/* The batch statistics of layer l before its forward (backward): rounds of partial sums per
 * shard, each combined by one thread in shard order. c: the thread's shards whole (dy set for
 * the backward). Called by every thread of the team. */
static void batch_stats(ot_engine_t *e, group_t *g, size_t l, const ot_ctx_t *c, int backward,
                        const pass_t *p)
{
    const ot_layer_t *L = &e->net->layers[l];
    const int rounds = backward ? L->ops->bwd_rounds : L->ops->fwd_rounds;
    const size_t k = L->ops->stats(L);
    if (g->share) { /* a shard's sums are one thread's, over rows that all its threads wrote */
#pragma omp barrier
    }
    const int sums = g->a < g->b && g->grad.member == 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < c->n_leaves && sums; i++) {
            const ot_leaf_t *f = &c->leaves[i];
            ot_ctx_t one = *c; /* the shard's rows alone */
            one.n = f->rows;
            one.x = c->x + f->lo * L->in_size;
            one.y = c->y + f->lo * L->out_size;
            one.dy = c->dy ? c->dy + f->lo * L->out_size : NULL;
            L->ops->partial(L, &one, backward, r, e->parts + e->part_off[l] + (g->a + i) * k);
        }
#pragma omp barrier
        /* the master thread (the one that may call MPI): with other processes, every shard's
         * partial sums are gathered first, so that each process combines all of them in shard
         * order, the same doubles in the same order as one process would */
#pragma omp master
        {
            if (e->job)
                ot_dist_allgather(e->dist, e->parts + e->part_off[l], k * sizeof(double),
                                  e->job->shard_off);
            L->ops->combine(L, e->rt[l], e->net->state, backward, r, e->parts + e->part_off[l],
                            e->n_shards, p->n);
        }
#pragma omp barrier
    }
}

/* The layer that runs inside layer l (ot_ctx_t.next), or 0 for none: a sample-wise kind
 * (ops->block_fwd) right after a kind that chains_next, or after the element-wise layer fused
 * into it when it folds that layer's backward in, unless threads share shards (a shard's dW
 * reads dy of all its rows, formed by several threads) or the test hook flips either layer's
 * backward (which the engine then runs over all the thread's rows). */
static size_t chained(const ot_engine_t *e, const group_t *g, size_t l)
{
    const ot_net_t *net = e->net;
    if (!e->fuse || g->share || !net->layers[l].ops->chains_next)
        return 0;
    const int between = fused(e, l + 1);
    const size_t j = l + 1 + (size_t)between;
    if (j >= net->n_layers || !net->layers[j].ops->block_fwd)
        return 0;
    if (between && !(net->layers[j].ops->folds && net->layers[j].ops->folds(&net->layers[j])))
        return 0;
    return e->fault_layer > (long)l && e->fault_layer <= (long)j ? 0 : j;
}

/* Whether layer l runs inside the layer one or two before it (chained). */
static int in_chain(const ot_engine_t *e, const group_t *g, size_t l)
{
    return (l >= 1 && chained(e, g, l - 1) == l) || (l >= 2 && chained(e, g, l - 2) == l);
}

/* Forward through every layer for the thread's rows; the loss layer fills every shard's loss
 * and hits. Called by every thread of the team. */
static void forward_group(ot_engine_t *e, group_t *g, const pass_t *p)
{
    const ot_net_t *net = e->net;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (fused(e, l) || in_chain(e, g, l)) /* done by layer l - 1 or l - 2 */
            continue;
        ot_ctx_t c = layer_ctx(e, g, l, p, 0);
        if (fused(e, l + 1))
            c.post_fwd = net->layers[l + 1].ops->pointwise_fwd;
        const size_t j = chained(e, g, l);
        ot_next_t next;
        if (j) {
            next = (ot_next_t){&net->layers[j], layer_ctx(e, g, j, p, 0)};
            c.next = &next;
        }
        if (p->train && L->ops->stats && L->ops->fwd_rounds) {
            ot_ctx_t whole = layer_ctx(e, g, l, p, 1);
            batch_stats(e, g, l, &whole, 0, p);
        }
        if (g->share && L->ops->is_loss) { /* the shard's loss: one thread, over every row */
#pragma omp barrier
            c = layer_ctx(e, g, l, p, 1);
            if (g->grad.member != 0)
                continue;
        }
        if (g->a < g->b)
            L->ops->forward(L, &c);
    }
    if (g->share) { /* the probabilities of every row are in place */
#pragma omp barrier
        if (g->grad.member != 0)
            return;
    }
    for (size_t s = g->a; s < g->b; s++) {
        e->workers[s].loss = g->ws->leaves[s - g->a].loss;
        e->workers[s].correct = g->ws->leaves[s - g->a].correct;
    }
}

/* Test hook: flip the sign of v[0..len), what a layer's backward produced, so that gradcheck
 * can be shown to catch a wrong backward. */
static void flip(float *v, size_t len)
{
    for (size_t i = 0; i < len; i++)
        v[i] = -v[i];
}

/* The test hook after layer l's backward: its parameters' gradient (the thread's roots hold
 * its share of the sum) or its dx. */
static void inject_fault(ot_engine_t *e, const group_t *g, const ot_layer_t *L, const ot_ctx_t *c)
{
    const int params = e->fault_what == OT_FAULT_PARAMS ||
                       (e->fault_what == OT_FAULT_AUTO && L->p_len > 0);
    if (params && g->share) { /* the shard's gradient is whole once all its threads are done */
#pragma omp barrier
        if (g->grad.member != 0)
            return;
    }
    if (params)
        for (size_t r = 0; r < g->grad.n_roots; r++)
            flip(e->workers[g->ws->roots[r]].grad + L->p_off, L->p_len);
    else if (c->dx)
        flip(c->dx, c->n * L->in_size);
}

/* Whether the backward of fused layer l (see fused) is the engine's, over the thread's rows
 * before layer l - 1's backward: when threads share shards (layer l - 1 reads every row's dy
 * of the shard) and when the test hook flips it. Else layer l - 1 applies it block by block. */
static int fused_by_engine(const ot_engine_t *e, const group_t *g, size_t l)
{
    return g->share || e->fault_layer == (long)l;
}

/* Backward from the loss down to layer 0 for the thread's rows, through the ping-pong
 * buffers. Layer 0 gets no dx (the data need no gradient), so a layer 0 without parameters
 * has nothing to do. A fused layer works on its dy in place (the buffer does not change).
 * Called by every thread of the team. */
static void backward_group(ot_engine_t *e, group_t *g, const pass_t *p)
{
    const ot_net_t *net = e->net;
    int cur = 1; /* the loss writes its dx into buffer 0 */
    for (size_t l = net->n_layers; l-- > 0;
         cur = fused(e, l) || in_chain(e, g, l) ? cur : !cur) {
        const ot_layer_t *L = &net->layers[l];
        if ((fused(e, l) && !fused_by_engine(e, g, l)) || in_chain(e, g, l))
            continue; /* done by layer l - 1 (or l - 2), its dy left in buffer cur */
        ot_ctx_t c = layer_ctx(e, g, l, p, 0);
        if (g->share) { /* dy of every row of the shard is in place, and dx's buffer is free */
#pragma omp barrier
        }
        float *sdy = L->ops->is_loss ? NULL : dpart(e, g, cur);
        c.sdy = sdy;
        c.dy = sdy ? sdy + own(g, L->out_size) : NULL;
        c.dx = l > 0 ? dpart(e, g, !cur) + own(g, L->in_size) : NULL;
        if (fused(e, l)) { /* the engine's: in place on the thread's rows */
            if (g->a < g->b)
                L->ops->pointwise_bwd(c.y, c.dy, c.n * L->out_size);
            c.dx = c.dy;
            if ((long)l == e->fault_layer)
                inject_fault(e, g, L, &c);
            continue;
        }
        const size_t j = chained(e, g, l);
        ot_next_t next;
        if (j) { /* layer j's dy is in buffer cur; this layer's dy lives in its scratch */
            next = (ot_next_t){&net->layers[j], layer_ctx(e, g, j, p, 0)};
            next.c.dy = sdy + own(g, net->layers[j].out_size);
            if (fused(e, l + 1))
                next.c.post_bwd = net->layers[l + 1].ops->pointwise_bwd;
            c.next = &next;
            c.sdy = c.dy = NULL;
        } else if (fused(e, l + 1) && !fused_by_engine(e, g, l + 1)) {
            c.post_bwd = net->layers[l + 1].ops->pointwise_bwd;
        }
        if (L->ops->stats && L->ops->bwd_rounds) {
            ot_ctx_t whole = layer_ctx(e, g, l, p, 1);
            whole.dy = sdy;
            batch_stats(e, g, l, &whole, 1, p);
        }
        if (g->a == g->b || (l == 0 && L->p_len == 0))
            continue;
        L->ops->backward(L, &c);
        if ((long)l == e->fault_layer)
            inject_fault(e, g, L, &c);
    }
}

/* Threads for the next parallel region: as many as OpenMP would use, if they have
 * workspaces. */
static int team_size(ot_engine_t *e)
{
    size_t want = (size_t)omp_get_max_threads();
    want = want < 1 ? 1 : want;
    return (int)min_sz(want, grow_ws(e, want));
}

/* With other processes, after every thread's walk: the nodes inside this process that span
 * its T threads; the exchange of its roots (with every shard's loss and hits, and the flags);
 * the top of the tree, over the roots of all, on its own chunk of the parameters, and the
 * mean; then every process's chunk of the mean to every process: two rounds of messages per
 * step. Called by every thread of the team.
 *
 * Why not MPI_Allreduce: it promises neither the order of its additions nor the same order on
 * every process (Open MPI picks an algorithm by message size and process count), so its sum
 * could differ in the last bits from one process's, and between processes. Here MPI only
 * moves floats (point-to-point messages and an all-gather); every addition is a node of the
 * shard tree, formed in the tree's order by the one process that owns that chunk. The volume
 * is that of a reduce-scatter plus an all-gather, what a bandwidth-optimal allreduce moves,
 * times the number of roots a process has (one when R divides S in powers of two). */
static void reduce_processes(ot_engine_t *e, size_t T, float fn)
{
    struct ot_engine_job *j = e->job;
    ot_worker_t *W = e->workers;
    const size_t S = e->n_shards, P = e->net->n_params;
    const size_t n_chunks = (P + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
#pragma omp for schedule(static)
    for (size_t c = 0; c < n_chunks; c++) {
        const size_t off = c * REDUCE_CHUNK;
        reduce_team(W, S, e->lo, e->hi, T, off, min_sz(P - off, REDUCE_CHUNK), 0);
    }
    /* (the loop's barrier: this process's roots are complete) */
#pragma omp master
    {
        for (size_t s = e->lo; s < e->hi; s++)
            j->res[s] = (shard_res_t){W[s].loss, W[s].correct};
        j->flags[j->r] = e->flag;
        ot_dist_exchange(e->dist, j->msgs, j->n_msgs);
        e->flag_max = e->flag;
        for (size_t q = 0; q < j->R; q++)
            e->flag_max = j->flags[q] > e->flag_max ? j->flags[q] : e->flag_max;
    }
#pragma omp barrier
    const size_t c0 = j->chunk[j->r], c1 = j->chunk[j->r + 1];
    const size_t mine = (c1 - c0 + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
#pragma omp for schedule(static)
    for (size_t c = 0; c < mine; c++) {
        const size_t off = c0 + c * REDUCE_CHUNK, len = min_sz(c1 - off, REDUCE_CHUNK);
        reduce_top(W, S, j->R, off, len);
        mean_of(W, off, len, fn, e->grad + off);
    }
#pragma omp master
    ot_dist_allgather(e->dist, e->grad, sizeof(float), j->chunk);
}

/* OT_XFER_AUTO: every XFER_PERIOD steps, XFER_TRIAL run the other way; the median times of the
 * last OT_XFER_SAMPLES steps of each way (a trial's first step still pays for the way before
 * it; a median, since on a shared machine one step that lost its core outweighs the rest)
 * are compared, and the faster way stays. The first trial, at the start, is compared with the
 * steps right after it, so that a run decides within 2 XFER_TRIAL steps, not XFER_PERIOD. */
#define XFER_PERIOD 256
#define XFER_TRIAL (OT_XFER_SAMPLES + 1)

static double median_of(const double *t, size_t n)
{
    double s[OT_XFER_SAMPLES];
    for (size_t i = 0; i < n; i++) { /* insertion sort: n is 15 */
        size_t j = i;
        for (; j > 0 && s[j - 1] > t[i]; j--)
            s[j] = s[j - 1];
        s[j] = t[i];
    }
    return s[n / 2];
}

int ot_engine_xfer_keep(const ot_engine_t *e)
{
    if (e->xfer != OT_XFER_AUTO)
        return e->xfer == OT_XFER_KEEP;
    const int trial = e->xfer_auto.k % XFER_PERIOD < XFER_TRIAL;
    return trial ? !e->xfer_auto.keep : e->xfer_auto.keep;
}

void ot_engine_xfer_note(ot_engine_t *e, double dt)
{
    const uint64_t n = e->xfer_auto.k++, k = n % XFER_PERIOD;
    const int first = n < XFER_PERIOD;
    if (k >= 1 && k < XFER_TRIAL)
        e->xfer_auto.other[k - 1] = dt;
    else if (k >= XFER_PERIOD - OT_XFER_SAMPLES)
        e->xfer_auto.now[k - (XFER_PERIOD - OT_XFER_SAMPLES)] = dt;
    else if (first && k > XFER_TRIAL && k < 2 * XFER_TRIAL)
        e->xfer_auto.now[k - (XFER_TRIAL + 1)] = dt;
    /* the end of a trial with the steps before it timed, or of the steps after the first */
    const int decide = first ? k == 2 * XFER_TRIAL - 1 : k == XFER_TRIAL - 1;
    if (decide && median_of(e->xfer_auto.other, OT_XFER_SAMPLES) <
                      median_of(e->xfer_auto.now, OT_XFER_SAMPLES))
        e->xfer_auto.keep = !e->xfer_auto.keep;
}

const char *const ot_phase_name[OT_PHASES] = {"start",    "gather", "prepare", "forward",
                                               "backward", "wait",   "reduce"};

/* With e->phase_s: the time since *mark to the calling thread's phase k; *mark = now. */
static void phase_end(const ot_engine_t *e, double *mark, ot_phase_t k)
{
    if (!e->phase_s)
        return;
    const size_t t = (size_t)omp_get_thread_num();
    const double now = ot_now();
    if (t < e->phase_threads)
        e->phase_s[t * OT_PHASE_STRIDE + k] += now - *mark;
    *mark = now;
}

ot_batch_result_t ot_engine_gradient(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                                     size_t n)
{
    const double called = ot_now();
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    float *out = e->grad;
    const size_t S = e->n_shards, P = net->n_params;
    const float fn = (float)n;
    const pass_t pass = {1, n, idx};
    const pass_t *p = &pass;
    const int T = team_size(e);
    /* Alone with other threads, the step keeps lines out of the shared state or not
     * (ot_xfer_t, timed by default): the packed weights that every thread reads, and the
     * update's lines where each thread's part stays in its cache. With other processes the
     * update runs after the step, as it falls, and the packs are streamed. */
    const int timed = !e->job && T > 1;
    const int keep = timed && ot_engine_xfer_keep(e);
    const int keep_parts = keep && ot_param_part_cached(P, (size_t)T);
    const int stream = e->job ? T > 1 : keep;
    double t_combine = 0.0;
    e->applied = 0;
    begin_pass(e, ds, 1, (size_t)T);
    /* one parallel region for the shards, the batch-statistics reductions and the gradient
     * reduction: one fork/join per step */
#pragma omp parallel num_threads(T) default(none) shared(e, W, ds, out, p, t_combine) \
    firstprivate(S, P, n, fn, called, keep_parts, stream)
    {
        double mark = called;
#pragma omp for schedule(static)
        for (size_t s = 0; s < S; s++)
            start_shard(&W[s], n, S, s);
        group_t g = my_group(e);
        phase_end(e, &mark, OT_PHASE_START);
        gather_group(e, &g, ds, p, 1);
        phase_end(e, &mark, OT_PHASE_GATHER);
        prepare_pass(e, 1, stream); /* ends with a barrier: every shard's rows are in place */
        phase_end(e, &mark, OT_PHASE_PREPARE);
        forward_group(e, &g, p);
        phase_end(e, &mark, OT_PHASE_FORWARD);
        if (e->next_idx) { /* this process's rows of the next batch, a thread's share each */
            const size_t T_ = (size_t)omp_get_num_threads(), t_ = (size_t)omp_get_thread_num();
            const size_t m = e->next_n, r0 = e->lo * m / S, r1 = e->hi * m / S;
            const size_t a = r0 + t_ * (r1 - r0) / T_, b = r0 + (t_ + 1) * (r1 - r0) / T_;
            ot_dataset_prefetch(ds, e->next_idx + a, b - a);
        }
        backward_group(e, &g, p);
        phase_end(e, &mark, OT_PHASE_BACKWARD);
#pragma omp barrier
        phase_end(e, &mark, OT_PHASE_WAIT);
#pragma omp master
        t_combine = ot_now();
        /* every thread's nodes are complete: add the ones that span threads (and processes) */
        if (!e->job) { /* (the region's end waits for every thread's part) */
            const ot_step_hook_t *h = &e->hook;
            if (!h->span || !h->ok(h->arg, batch_loss(W, S), n))
                h = NULL;
            reduce_own(W, S, g.parts, P, fn, out, h, keep_parts);
            if (h) {
#pragma omp master
                e->applied = 1;
            }
        } else {
            reduce_processes(e, g.parts, fn);
        }
        phase_end(e, &mark, OT_PHASE_REDUCE);
    }
    const double done = ot_now();
    e->combine_s += done - t_combine;
    if (timed) {
        e->xfer_steps[keep]++;
        if (e->xfer == OT_XFER_AUTO)
            ot_engine_xfer_note(e, done - called);
    }
    if (!e->job)
        e->flag_max = e->flag;
    ot_batch_result_t r = {0.0, 0};
    for (size_t s = 0; s < S; s++) { /* in shard order, whatever the split (as batch_loss) */
        r.loss += e->job ? e->job->res[s].loss : W[s].loss;
        r.correct += e->job ? e->job->res[s].correct : W[s].correct;
    }
    return r;
}

/* argmax of each of the thread's rows of the probabilities into e->pred. */
static void predict_group(ot_engine_t *e, const group_t *g)
{
    const ot_net_t *net = e->net;
    size_t c = net->n_classes;
    const float *p = e->act[net->n_layers - 1];
    for (size_t r = g->q0; r < g->q1; r++) {
        size_t arg = 0;
        for (size_t j = 1; j < c; j++)
            if (p[r * c + j] > p[r * c + arg])
                arg = j;
        e->pred[r] = (int32_t)arg;
    }
}

/* The thread's rows of the probabilities and predictions into probs and classes (either may
 * be NULL), at the chunk's first sample base. */
static void copy_out(const ot_engine_t *e, const group_t *g, size_t base, float *probs,
                     int32_t *classes)
{
    const size_t c = e->net->n_classes;
    const float *p = e->act[e->net->n_layers - 1];
    if (probs && g->q1 > g->q0)
        memcpy(probs + (base + g->q0) * c, p + g->q0 * c, (g->q1 - g->q0) * c * sizeof(float));
    if (classes)
        for (size_t r = g->q0; r < g->q1; r++)
            classes[base + r] = e->pred[r];
}

/* ot_engine_evaluate and ot_engine_predict: forward over the first total samples of ds in
 * chunks of max_batch rows; on the progress sink (a terminal), once it takes a while, a line
 * that counts them, headed by what (the main thread draws it: the team's master). */
static ot_batch_result_t evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t total,
                                  uint64_t *confusion, float *probs, int32_t *classes,
                                  const char *what)
{
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    const size_t S = e->n_shards;
    const size_t chunk = e->max_batch;
    const size_t c = net->n_classes;
    const int want_pred = confusion != NULL || classes != NULL;
    ot_batch_result_t r = {0.0, 0};
    const int T = team_size(e);
    struct ot_engine_job *job = e->job;
    double after;
    FILE *out = ot_progress_get(&after);
    ot_bar_t bar;
    ot_bar_begin(&bar, out, after);
    begin_pass(e, ds, 0, (size_t)T);
#pragma omp parallel num_threads(T) default(none)                                             \
    shared(e, W, ds, r, confusion, probs, classes, bar) firstprivate(S, total, chunk, c,     \
                                                                     want_pred, job, what)
    {
        prepare_pass(e, 0, omp_get_num_threads() > 1);
        for (size_t base = 0; base < total; base += chunk) {
            size_t n = min_sz(total - base, chunk);
            const pass_t pass = {0, n, e->rows_idx};
#pragma omp for schedule(static)
            for (size_t s = 0; s < S; s++) {
                start_shard(&W[s], n, S, s);
                const size_t lo = W[s].lo, hi = lo + W[s].rows;
                for (size_t i = lo; i < hi; i++) /* the evaluation's rows: consecutive samples */
                    e->rows_idx[i] = (uint32_t)(base + i);
            }
            group_t g = my_group(e);
            gather_group(e, &g, ds, &pass, 0);
            forward_group(e, &g, &pass);
            if (want_pred)
                predict_group(e, &g);
            copy_out(e, &g, base, probs, classes);
#pragma omp barrier
            if (!job) {
#pragma omp single
                for (size_t s = 0; s < S; s++) { /* in shard order, whatever the thread count */
                    r.loss += W[s].loss;
                    r.correct += W[s].correct;
                    if (confusion)
                        for (size_t i = W[s].lo; i < W[s].lo + W[s].rows; i++)
                            confusion[(size_t)e->y[i] * c + (size_t)e->pred[i]]++;
                }
            } else { /* every process's shards, then the same sum in shard order */
#pragma omp master
                {
                    for (size_t s = e->lo; s < e->hi; s++)
                        job->res[s] = (shard_res_t){W[s].loss, W[s].correct};
                    ot_dist_allgather(e->dist, job->res, sizeof *job->res, job->shard_off);
                    for (size_t s = 0; s < S; s++) {
                        r.loss += job->res[s].loss;
                        r.correct += job->res[s].correct;
                    }
                }
#pragma omp barrier
            }
#pragma omp master
            if (base + n < total)
                ot_bar_show(&bar, "  %s: %zu of %zu samples (%.0f%%)", what, base + n, total,
                            100.0 * (double)(base + n) / (double)total);
        }
    }
    ot_bar_end(&bar);
    return r;
}

ot_batch_result_t ot_engine_evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t limit,
                                     uint64_t *confusion)
{
    return evaluate(e, ds, limit && limit < ds->n ? limit : ds->n, confusion, NULL, NULL,
                    "evaluating");
}

ot_batch_result_t ot_engine_predict(ot_engine_t *e, const ot_dataset_t *ds, float *probs,
                                    int32_t *classes, uint64_t *confusion)
{
    return evaluate(e, ds, ds->n, confusion, probs, classes, "predicting");
}
