/* engine.c - the data-parallel step: shards, per-shard forward/backward, fixed-order reduction. */
#include "ot_engine.h"

#include <string.h>

#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_layers.h"

/* Floats per reduction chunk: large enough to stream, small enough to stay in L1/L2 while the
 * tree adds the shards' copies of it. */
#define REDUCE_CHUNK 2048

/* Bump allocator over a worker's single block: every buffer starts on a cache line. */
static void *carve(char **cursor, size_t bytes)
{
    void *p = *cursor;
    *cursor += (bytes + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    return p;
}

static size_t worker_bytes(const ot_net_t *net, size_t rows)
{
    size_t line = OT_ALIGN, total = 0;
#define ADD(b) (total += ((b) + line - 1) / line * line)
    ADD(rows * net->in_dim * sizeof(float));
    ADD(rows * sizeof(int32_t));
    ADD(rows * sizeof(int32_t));
    ADD(net->n_layers * sizeof(float *));
    for (size_t l = 0; l < net->n_layers; l++)
        ADD(rows * net->layers[l].out * sizeof(float));
    ADD(rows * net->max_width * sizeof(float));
    ADD(rows * net->max_width * sizeof(float));
    ADD(net->n_params * sizeof(float));
#undef ADD
    return total;
}

int ot_engine_init(ot_engine_t *e, ot_net_t *net, size_t max_batch, size_t n_shards)
{
    memset(e, 0, sizeof *e);
    e->net = net;
    e->n_shards = n_shards;
    e->max_batch = max_batch;
    e->max_rows = (max_batch + n_shards - 1) / n_shards;
    e->fault_layer = -1;
    e->workers = ot_alloc(n_shards * sizeof *e->workers);
    e->grad = ot_alloc(net->n_params * sizeof(float));
    if (!e->workers || !e->grad)
        goto fail;
    size_t bytes = worker_bytes(net, e->max_rows);
    for (size_t s = 0; s < n_shards; s++) {
        ot_worker_t *w = &e->workers[s];
        if (!(w->mem = ot_alloc(bytes)))
            goto fail;
        char *cur = w->mem;
        w->x = carve(&cur, e->max_rows * net->in_dim * sizeof(float));
        w->y = carve(&cur, e->max_rows * sizeof(int32_t));
        w->pred = carve(&cur, e->max_rows * sizeof(int32_t));
        w->act = carve(&cur, net->n_layers * sizeof(float *));
        for (size_t l = 0; l < net->n_layers; l++)
            w->act[l] = carve(&cur, e->max_rows * net->layers[l].out * sizeof(float));
        w->dbuf[0] = carve(&cur, e->max_rows * net->max_width * sizeof(float));
        w->dbuf[1] = carve(&cur, e->max_rows * net->max_width * sizeof(float));
        w->grad = carve(&cur, net->n_params * sizeof(float));
    }
    return OT_OK;
fail:
    ot_error("cannot allocate buffers for %zu shards of %zu rows", n_shards, e->max_rows);
    ot_engine_free(e);
    return OT_ENOMEM;
}

void ot_engine_free(ot_engine_t *e)
{
    if (e->workers)
        for (size_t s = 0; s < e->n_shards; s++)
            ot_free(e->workers[s].mem);
    ot_free(e->workers);
    ot_free(e->grad);
    memset(e, 0, sizeof *e);
}

/* Rows [lo, hi) of an n-row batch belong to shard s: a balanced split that depends on n and
 * the shard count only. */
static void shard_range(size_t n, size_t n_shards, size_t s, size_t *lo, size_t *hi)
{
    *lo = s * n / n_shards;
    *hi = (s + 1) * n / n_shards;
}

/* Forward through the whole stack for the worker's rows; fills loss, correct and act[]. */
static void worker_forward(const ot_net_t *net, ot_worker_t *w)
{
    const float *P = net->params;
    const float *in = w->x;
    size_t n = w->rows;
    w->loss = 0.0;
    w->correct = 0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        float *out = w->act[l];
        switch (L->kind) {
        case OT_LAYER_AFFINE:
            ot_affine_forward(in, P + L->w_off, P + L->b_off, out, n, L->in, L->out);
            break;
        case OT_LAYER_RELU:
            ot_relu_forward(in, out, n * L->out);
            break;
        case OT_LAYER_SIGMOID:
            ot_sigmoid_forward(in, out, n * L->out);
            break;
        case OT_LAYER_SOFTMAX_LOSS:
            w->loss = ot_softmax_loss_forward(in, w->y, out, n, L->out, &w->correct);
            break;
        }
        in = out;
    }
}

/* Test hook: flip the sign of what layer L's backward produced (its dW and db for an Affine,
 * its input gradient otherwise), so that gradcheck can be shown to catch a wrong backward. */
static void inject_fault(const ot_layer_t *L, float *G, float *dx, size_t n)
{
    float *v = L->kind == OT_LAYER_AFFINE ? G + L->w_off : dx;
    size_t len = L->kind == OT_LAYER_AFFINE ? L->b_off + L->out - L->w_off : n * L->in;
    for (size_t i = 0; i < len; i++)
        v[i] = -v[i];
}

/* The Affine backward of one shard, WRITING (not accumulating) dW and db: every Affine runs
 * once per shard and every parameter belongs to one Affine, so the whole gradient block is
 * written exactly once per step and needs no memset (that saves one pass over the block per
 * shard and a read in the dW GEMM). Same arithmetic as ot_affine_backward on a zeroed block
 * except that nothing is added to a zeroed buffer, which changes no bit but the sign of an
 * exactly zero sum (-0 instead of +0).
 * x (n, in), W (in, out), dy (n, out) -> dW (in, out) = x^T dy, db (out) = sum_rows dy,
 * dx (n, in) = dy W^T unless dx is NULL; n >= 1. */
static void affine_backward_set(const float *x, const float *W, const float *dy, float *dx,
                                float *dW, float *restrict db, size_t n, size_t in, size_t out)
{
    ot_gemm(true, false, in, out, n, 1.0f, x, in, dy, out, 0.0f, dW, out);
    memcpy(db, dy, out * sizeof(float));
    for (size_t r = 1; r < n; r++) {
        const float *restrict row = dy + r * out;
        for (size_t j = 0; j < out; j++)
            db[j] += row[j];
    }
    if (dx)
        ot_gemm(false, true, n, in, out, 1.0f, dy, out, W, out, 0.0f, dx, in);
}

/* Backward through the stack, writing the worker's gradient block. */
static void worker_backward(const ot_net_t *net, ot_worker_t *w, long fault_layer)
{
    const float *P = net->params;
    float *G = w->grad;
    size_t n = w->rows;
    if (n == 0) {
        /* a shard without rows (more shards than rows) contributes zeros */
        memset(G, 0, net->n_params * sizeof(float));
        return;
    }
    size_t last = net->n_layers - 1;
    float *dout = w->dbuf[0], *dnext = w->dbuf[1];
    ot_softmax_loss_backward(w->act[last], w->y, dout, n, net->layers[last].out);
    for (size_t l = last; l-- > 0;) {
        const ot_layer_t *L = &net->layers[l];
        const float *x = l > 0 ? w->act[l - 1] : w->x;
        switch (L->kind) {
        case OT_LAYER_AFFINE:
            affine_backward_set(x, P + L->w_off, dout, l > 0 ? dnext : NULL, G + L->w_off,
                                G + L->b_off, n, L->in, L->out);
            break;
        case OT_LAYER_RELU:
            ot_relu_backward(w->act[l], dout, dnext, n * L->out);
            break;
        case OT_LAYER_SIGMOID:
            ot_sigmoid_backward(w->act[l], dout, dnext, n * L->out);
            break;
        case OT_LAYER_SOFTMAX_LOSS: /* only ever last */
            break;
        }
        if ((long)l == fault_layer)
            inject_fault(L, G, dnext, n);
        float *t = dout;
        dout = dnext;
        dnext = t;
    }
}

/* Sum chunk c of the shard gradient blocks pairwise (stride 1, 2, 4, ...: a fixed tree whatever
 * the thread count) and divide by n into out. */
static void reduce_chunk(ot_worker_t *W, size_t S, size_t P, size_t c, float fn, float *out)
{
    size_t lo = c * REDUCE_CHUNK, len = P - lo < REDUCE_CHUNK ? P - lo : REDUCE_CHUNK;
    for (size_t stride = 1; stride < S; stride *= 2)
        for (size_t s = 0; s + stride < S; s += 2 * stride) {
            float *restrict a = W[s].grad + lo;
            const float *restrict b = W[s + stride].grad + lo;
            for (size_t i = 0; i < len; i++)
                a[i] += b[i];
        }
    const float *restrict g = W[0].grad + lo;
    float *restrict o = out + lo;
    for (size_t i = 0; i < len; i++)
        o[i] = g[i] / fn;
}

ot_batch_result_t ot_engine_gradient(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                                     size_t n)
{
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    float *out = e->grad;
    const size_t S = e->n_shards, P = net->n_params;
    const size_t n_chunks = (P + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    const float fn = (float)n;
    const long fault = e->fault_layer;
    /* one parallel region for the shards and the reduction: one fork/join per step, not two */
#pragma omp parallel default(none) shared(W, ds, idx, net, out) \
    firstprivate(S, P, n, n_chunks, fn, fault)
    {
#pragma omp for schedule(static)
        for (size_t s = 0; s < S; s++) {
            size_t lo, hi;
            shard_range(n, S, s, &lo, &hi);
            W[s].rows = hi - lo;
            ot_dataset_gather(ds, idx + lo, hi - lo, W[s].x, W[s].y);
            worker_forward(net, &W[s]);
            worker_backward(net, &W[s], fault);
        }
        /* the implied barrier: every shard's block is complete */
#pragma omp for schedule(static)
        for (size_t c = 0; c < n_chunks; c++)
            reduce_chunk(W, S, P, c, fn, out);
    }
    ot_batch_result_t r = {0.0, 0};
    for (size_t s = 0; s < S; s++) {
        r.loss += W[s].loss;
        r.correct += W[s].correct;
    }
    return r;
}

/* argmax of each row of the worker's probabilities into pred. */
static void worker_predict(const ot_net_t *net, ot_worker_t *w)
{
    size_t c = net->n_classes;
    const float *p = w->act[net->n_layers - 1];
    for (size_t r = 0; r < w->rows; r++) {
        size_t arg = 0;
        for (size_t j = 1; j < c; j++)
            if (p[r * c + j] > p[r * c + arg])
                arg = j;
        w->pred[r] = (int32_t)arg;
    }
}

ot_batch_result_t ot_engine_evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t limit,
                                     uint64_t *confusion)
{
    const ot_net_t *net = e->net;
    ot_worker_t *W = e->workers;
    const size_t S = e->n_shards, total = limit && limit < ds->n ? limit : ds->n;
    const size_t chunk = e->max_batch;
    const int want_pred = confusion != NULL;
    ot_batch_result_t r = {0.0, 0};
    for (size_t base = 0; base < total; base += chunk) {
        size_t n = total - base < chunk ? total - base : chunk;
#pragma omp parallel for schedule(static) default(none) shared(W, ds, net) firstprivate(S, n, base, want_pred)
        for (size_t s = 0; s < S; s++) {
            size_t lo, hi;
            shard_range(n, S, s, &lo, &hi);
            ot_worker_t *w = &W[s];
            w->rows = hi - lo;
            /* rows of the evaluation are consecutive samples: use pred as the index list */
            for (size_t i = 0; i < w->rows; i++)
                w->pred[i] = (int32_t)(base + lo + i);
            ot_dataset_gather(ds, (const uint32_t *)w->pred, w->rows, w->x, w->y);
            worker_forward(net, w);
            if (want_pred)
                worker_predict(net, w);
        }
        for (size_t s = 0; s < S; s++) {
            r.loss += W[s].loss;
            r.correct += W[s].correct;
            if (confusion)
                for (size_t i = 0; i < W[s].rows; i++)
                    confusion[(size_t)W[s].y[i] * net->n_classes + (size_t)W[s].pred[i]]++;
        }
    }
    return r;
}

void ot_engine_sgd(ot_engine_t *e, float lr)
{
    float *restrict p = e->net->params;
    const float *restrict g = e->grad;
    const size_t P = e->net->n_params;
#pragma omp parallel for simd schedule(static) default(none) shared(p, g) firstprivate(P, lr)
    for (size_t i = 0; i < P; i++)
        p[i] -= lr * g[i];
}
