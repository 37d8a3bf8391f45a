/* engine.c - the data-parallel step: shards, per-shard forward/backward, fixed-order reduction. */
#include "ot_engine.h"

#include <math.h>
#include <string.h>

#include "ot_batchnorm.h"
#include "ot_common.h"
#include "ot_dropout.h"
#include "ot_gemm.h"
#include "ot_layers.h"

/* Floats per reduction chunk: large enough to stream, small enough to stay in L1/L2 while the
 * tree adds the shards' copies of it. */
#define REDUCE_CHUNK 2048

/* Place `bytes` at offset *off of base, rounded up to a cache line; with base NULL only count. */
static void *carve(char *base, size_t *off, size_t bytes)
{
    void *p = base ? base + *off : NULL;
    *off += (bytes + OT_ALIGN - 1) / OT_ALIGN * OT_ALIGN;
    return p;
}

/* Lay a worker's buffers for `rows` rows out in base and return the bytes they take. Called
 * once with base NULL to size the block, then on the block: one list, so the size and the
 * layout cannot disagree. */
static size_t layout_worker(ot_worker_t *w, const ot_net_t *net, size_t rows, char *base)
{
    size_t off = 0;
    float *x = carve(base, &off, rows * net->in_dim * sizeof(float));
    int32_t *y = carve(base, &off, rows * sizeof(int32_t));
    int32_t *pred = carve(base, &off, rows * sizeof(int32_t));
    float **act = carve(base, &off, net->n_layers * sizeof(float *));
    for (size_t l = 0; l < net->n_layers; l++) {
        float *a = carve(base, &off, rows * net->layers[l].out * sizeof(float));
        if (base)
            act[l] = a;
    }
    float *d0 = carve(base, &off, rows * net->max_width * sizeof(float));
    float *d1 = carve(base, &off, rows * net->max_width * sizeof(float));
    float *grad = carve(base, &off, net->n_params * sizeof(float));
    double *p0 = carve(base, &off, net->max_width * sizeof(double));
    double *p1 = carve(base, &off, net->max_width * sizeof(double));
    if (base) {
        w->x = x;
        w->y = y;
        w->pred = pred;
        w->act = act;
        w->dbuf[0] = d0;
        w->dbuf[1] = d1;
        w->grad = grad;
        w->part[0] = p0;
        w->part[1] = p1;
    }
    return off;
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
    e->bn_batch = ot_alloc(net->n_state * sizeof(float));
    e->bn_eval = ot_alloc(net->n_state * sizeof(float));
    e->bn_sum[0] = ot_alloc(net->max_width * sizeof(double));
    e->bn_sum[1] = ot_alloc(net->max_width * sizeof(double));
    if (!e->workers || !e->grad || !e->bn_batch || !e->bn_eval || !e->bn_sum[0] || !e->bn_sum[1])
        goto fail;
    size_t bytes = layout_worker(NULL, net, e->max_rows, NULL);
    for (size_t s = 0; s < n_shards; s++) {
        ot_worker_t *w = &e->workers[s];
        if (!(w->mem = ot_alloc(bytes)))
            goto fail;
        layout_worker(w, net, e->max_rows, w->mem);
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
    ot_free(e->bn_batch);
    ot_free(e->bn_eval);
    ot_free(e->bn_sum[0]);
    ot_free(e->bn_sum[1]);
    memset(e, 0, sizeof *e);
}

/* Rows [lo, hi) of an n-row batch belong to shard s: a balanced split that depends on n and
 * the shard count only. */
static void shard_range(size_t n, size_t n_shards, size_t s, size_t *lo, size_t *hi)
{
    *lo = s * n / n_shards;
    *hi = (s + 1) * n / n_shards;
}

/* What a pass needs besides the network and the worker. */
typedef struct {
    int train;        /* batch statistics and dropout; else running statistics, no dropout */
    long fault;       /* test hook (see inject_fault); -1 = none */
    uint64_t seed;    /* dropout key */
    uint64_t step;
    const float *bn;  /* batch norm mean and 1/std per layer at its s_off (see ot_engine_t) */
} pass_t;

/* Forward through layers [lo, hi) for the worker's rows; the softmax layer fills loss and
 * correct. */
static void forward_range(const ot_net_t *net, ot_worker_t *w, size_t lo, size_t hi,
                          const pass_t *p)
{
    const float *P = net->params;
    size_t n = w->rows;
    for (size_t l = lo; l < hi; l++) {
        const ot_layer_t *L = &net->layers[l];
        const float *in = l > 0 ? w->act[l - 1] : w->x;
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
        case OT_LAYER_BATCHNORM:
            ot_bn_forward(in, p->bn + L->s_off, p->bn + L->s_off + L->out, P + L->w_off,
                          P + L->b_off, out, n, L->out);
            break;
        case OT_LAYER_DROPOUT:
            if (p->train) {
                ot_dropout_key_t k = {p->seed, p->step, (uint32_t)l, L->rate};
                ot_dropout_forward(&k, w->ids, in, out, n, L->out);
            } else {
                memcpy(out, in, n * L->out * sizeof(float));
            }
            break;
        case OT_LAYER_SOFTMAX_LOSS:
            w->loss = ot_softmax_loss_forward(in, w->y, out, n, L->out, &w->correct);
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

/* Test hook: flip the sign of what layer L's backward produced (its dW and db for an Affine,
 * its input gradient otherwise), so that gradcheck can be shown to catch a wrong backward. */
static void inject_fault(const ot_layer_t *L, float *G, float *dx, size_t n)
{
    int params = L->kind == OT_LAYER_AFFINE || L->kind == OT_LAYER_BATCHNORM;
    float *v = params ? G + L->w_off : dx;
    size_t len = params ? L->b_off + L->out - L->w_off : n * L->in;
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

/* Backward through layers hi-1 down to lo (hi = n_layers starts at the loss), writing the
 * worker's gradient block; a batch norm layer is left to the caller (it needs batch sums).
 * w->dout carries the gradient between calls. */
static void backward_range(const ot_net_t *net, ot_worker_t *w, size_t hi, size_t lo,
                           const pass_t *p)
{
    const float *P = net->params;
    float *G = w->grad;
    size_t n = w->rows, last = net->n_layers - 1;
    if (hi == net->n_layers) {
        w->dout = w->dbuf[0];
        ot_softmax_loss_backward(w->act[last], w->y, w->dout, n, net->layers[last].out);
        hi = last;
    }
    for (size_t l = hi; l-- > lo;) {
        const ot_layer_t *L = &net->layers[l];
        const float *x = l > 0 ? w->act[l - 1] : w->x;
        float *dnext = w->dout == w->dbuf[0] ? w->dbuf[1] : w->dbuf[0];
        switch (L->kind) {
        case OT_LAYER_AFFINE:
            affine_backward_set(x, P + L->w_off, w->dout, l > 0 ? dnext : NULL, G + L->w_off,
                                G + L->b_off, n, L->in, L->out);
            break;
        case OT_LAYER_RELU:
            ot_relu_backward(w->act[l], w->dout, dnext, n * L->out);
            break;
        case OT_LAYER_SIGMOID:
            ot_sigmoid_backward(w->act[l], w->dout, dnext, n * L->out);
            break;
        case OT_LAYER_DROPOUT: {
            ot_dropout_key_t k = {p->seed, p->step, (uint32_t)l, L->rate};
            ot_dropout_backward(&k, w->ids, w->dout, dnext, n, L->out);
            break;
        }
        case OT_LAYER_BATCHNORM:     /* never inside a range */
        case OT_LAYER_SOFTMAX_LOSS:  /* only ever last */
            break;
        }
        if ((long)l == p->fault)
            inject_fault(L, G, dnext, n);
        w->dout = dnext;
    }
}

/* Batch norm layer L (index l) in training mode, forward: the batch's mean and variance from
 * the shards' partial sums (two passes: mean first, then squared deviations, for accuracy),
 * combined in shard order by one thread; the running statistics move towards them. Called by
 * every thread of the team. */
static void batchnorm_forward_train(ot_engine_t *e, size_t l, size_t n, const pass_t *p)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    const size_t S = e->n_shards, d = L->out;
    ot_worker_t *W = e->workers;
    double *sum = e->bn_sum[0];
    float *mean = e->bn_batch + L->s_off, *inv_std = mean + d;
#pragma omp for schedule(static)
    for (size_t s = 0; s < S; s++)
        ot_bn_partial_sum(W[s].act[l - 1], W[s].rows, d, W[s].part[0]);
#pragma omp single
    for (size_t f = 0; f < d; f++) {
        sum[f] = 0.0;
        for (size_t s = 0; s < S; s++)
            sum[f] += W[s].part[0][f];
        sum[f] /= (double)n;
        mean[f] = (float)sum[f];
    }
#pragma omp for schedule(static)
    for (size_t s = 0; s < S; s++)
        ot_bn_partial_sqdev(W[s].act[l - 1], sum, W[s].rows, d, W[s].part[0]);
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
#pragma omp for schedule(static)
    for (size_t s = 0; s < S; s++)
        forward_range(net, &W[s], l, l + 1, p);
}

/* Batch norm layer l, backward: the batch sums of dy and dy * xhat (which are also dbeta and
 * dgamma) from the shards' partial sums, combined in shard order, then every shard's dx. */
static void batchnorm_backward(ot_engine_t *e, size_t l, size_t n, const pass_t *p)
{
    const ot_net_t *net = e->net;
    const ot_layer_t *L = &net->layers[l];
    const size_t S = e->n_shards, d = L->out;
    ot_worker_t *W = e->workers;
    const float *mean = e->bn_batch + L->s_off, *inv_std = mean + d;
    double *sum_dy = e->bn_sum[0], *sum_dy_xhat = e->bn_sum[1];
#pragma omp for schedule(static)
    for (size_t s = 0; s < S; s++) {
        ot_worker_t *w = &W[s];
        ot_bn_partial_backward(w->act[l - 1], w->dout, mean, inv_std, w->rows, d, w->part[0],
                               w->part[1]);
        for (size_t f = 0; f < d; f++) { /* the shard's dgamma and dbeta, written */
            w->grad[L->w_off + f] = (float)w->part[1][f];
            w->grad[L->b_off + f] = (float)w->part[0][f];
        }
    }
#pragma omp single
    for (size_t f = 0; f < d; f++) {
        sum_dy[f] = sum_dy_xhat[f] = 0.0;
        for (size_t s = 0; s < S; s++) {
            sum_dy[f] += W[s].part[0][f];
            sum_dy_xhat[f] += W[s].part[1][f];
        }
    }
#pragma omp for schedule(static)
    for (size_t s = 0; s < S; s++) {
        ot_worker_t *w = &W[s];
        float *dnext = w->dout == w->dbuf[0] ? w->dbuf[1] : w->dbuf[0];
        ot_bn_backward(w->act[l - 1], w->dout, mean, inv_std, net->params + L->w_off, sum_dy,
                       sum_dy_xhat, n, dnext, w->rows, d);
        if ((long)l == p->fault)
            inject_fault(L, w->grad, dnext, w->rows);
        w->dout = dnext;
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
    const size_t S = e->n_shards, P = net->n_params, n_layers = net->n_layers;
    const size_t n_chunks = (P + REDUCE_CHUNK - 1) / REDUCE_CHUNK;
    const float fn = (float)n;
    const pass_t pass = {1, e->fault_layer, e->seed, e->step, e->bn_batch};
    const pass_t *p = &pass;
    /* one parallel region for the shards, the batch-norm reductions and the gradient
     * reduction: one fork/join per step */
#pragma omp parallel default(none) shared(e, W, ds, idx, net, out, p) \
    firstprivate(S, P, n, n_chunks, fn, n_layers)
    {
#pragma omp for schedule(static)
        for (size_t s = 0; s < S; s++) {
            size_t lo, hi;
            shard_range(n, S, s, &lo, &hi);
            W[s].rows = hi - lo;
            W[s].ids = idx + lo;
            W[s].loss = 0.0;
            W[s].correct = 0;
            ot_dataset_gather(ds, idx + lo, hi - lo, W[s].x, W[s].y);
            if (hi == lo) /* more shards than rows: this one contributes zeros */
                memset(W[s].grad, 0, P * sizeof(float));
        }
        /* forward, segment by segment between batch norm layers */
        for (size_t lo = 0;;) {
            size_t bn = next_batchnorm(net, lo);
#pragma omp for schedule(static)
            for (size_t s = 0; s < S; s++)
                forward_range(net, &W[s], lo, bn, p);
            if (bn == n_layers)
                break;
            batchnorm_forward_train(e, bn, n, p);
            lo = bn + 1;
        }
        /* backward, the same segments from the top */
        for (size_t hi = n_layers;;) {
            size_t bn = hi, lo = 0;
            for (size_t l = 0; l < hi; l++)
                if (net->layers[l].kind == OT_LAYER_BATCHNORM)
                    bn = l;
            lo = bn == hi ? 0 : bn + 1;
#pragma omp for schedule(static)
            for (size_t s = 0; s < S; s++)
                if (W[s].rows)
                    backward_range(net, &W[s], hi, lo, p);
            if (lo == 0)
                break;
            batchnorm_backward(e, bn, n, p);
            hi = bn;
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
    const pass_t pass = {0, -1, 0, 0, e->bn_eval};
    const pass_t *p = &pass;
    ot_batch_result_t r = {0.0, 0};
    for (size_t base = 0; base < total; base += chunk) {
        size_t n = total - base < chunk ? total - base : chunk;
#pragma omp parallel for schedule(static) default(none) shared(W, ds, net, p) firstprivate(S, n, base, want_pred)
        for (size_t s = 0; s < S; s++) {
            size_t lo, hi;
            shard_range(n, S, s, &lo, &hi);
            ot_worker_t *w = &W[s];
            w->rows = hi - lo;
            /* rows of the evaluation are consecutive samples: use pred as the index list */
            for (size_t i = 0; i < w->rows; i++)
                w->pred[i] = (int32_t)(base + lo + i);
            ot_dataset_gather(ds, (const uint32_t *)w->pred, w->rows, w->x, w->y);
            w->loss = 0.0;
            w->correct = 0;
            forward_range(net, w, 0, net->n_layers, p);
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
