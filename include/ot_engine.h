/* ot_engine.h - the data-parallel step.
 *
 * Every batch of n rows is cut into n_shards contiguous shards, shard s holding rows
 * [s*n/S, (s+1)*n/S). Thread t of T takes the contiguous shards [t*S/T, (t+1)*S/T) and runs
 * forward and backward for their rows through the whole stack, in its own rows of the
 * batch-wide buffers. Each shard's gradient is a leaf of a fixed pairwise tree: node (s, h)
 * covers shards [s, min(s + h, S)) (h a power of two, s a multiple of h) and is
 * (s, h/2) + (s + h/2, h/2), or just (s, h/2) when s + h/2 >= S. A thread forms the nodes
 * inside its own shards while they are in cache (ot_kgemm_tn_tree); the nodes that span
 * threads are then added across threads, and the root, divided by n, is the mean gradient.
 *
 * The decomposition depends on n_shards, never on the thread count, and every GEMM element is
 * a fixed chain of FMAs (ot_kgemm.h): with a fixed shard count the loss and the gradient are
 * bit-identical at any number of threads. With n_shards equal to the thread count this is
 * exactly one slice, one gradient block per thread.
 *
 * Layers that need the whole batch (batch norm) split the pass: every shard runs up to such a
 * layer, writes its partial sums, one thread adds them in shard order, and every shard goes on
 * with the batch's statistics. Forward and backward both work this way, inside one parallel
 * region. A later reduction across machines (MPI) slots into the same place. */
#ifndef OT_ENGINE_H
#define OT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "ot_data.h"
#include "ot_net.h"

/* One shard of the current batch. Its activations are rows [lo, lo + rows) of the engine's
 * batch-wide buffers; its gradient block is its own. */
typedef struct {
    size_t lo, rows;  /* the shard's rows of the current batch */
    double *part[2];  /* (max_width) partial sums over the shard's rows (batch norm) */
    float *grad;      /* (n_params) this shard's node of the reduction tree, same layout as
                         params */
    double loss;      /* summed loss of the last forward */
    size_t correct;   /* correct predictions of the last forward */
    void *mem;        /* the one allocation behind part and grad */
} ot_worker_t;

typedef struct {
    ot_net_t *net;          /* the network (not owned) */
    size_t n_shards;        /* fixed split of every batch */
    size_t max_batch;       /* largest batch the buffers hold */
    ot_worker_t *workers;   /* n_shards workers */
    /* batch-wide buffers, row r belonging to the shard whose range holds it */
    float *x;               /* (max_batch, in_dim) inputs as floats */
    int32_t *y;             /* (max_batch) labels */
    int32_t *pred;          /* (max_batch) argmax predictions of an evaluation */
    uint32_t *rows_idx;     /* (max_batch) sample indices of an evaluation's rows */
    const uint32_t *idx;    /* sample indices of the current batch: dropout's key */
    const uint32_t *next_idx; /* a hint the caller may set before ot_engine_gradient: the
                               samples of the next batch (next_n of them), fetched into cache
                               while this one computes; NULL = none */
    size_t next_n;
    int sparse_ok;          /* the first layer may leave zero pixels out (training.sparse_input;
                               1 after ot_engine_init) */
    int sparse;             /* this call's data is mostly zero (ds->nonzero < 0.5) and layer 0
                               is an Affine: its products leave the zero pixels out */
    uint32_t *nz_n;         /* (max_batch) row r's nonzero pixels: how many, */
    const uint16_t **nz_pix; /* (max_batch) where their indices are (the data set's list, or */
    const uint8_t **nz_val; /*  the buffers below) and their values */
    uint16_t *nz_pix_buf;   /* (max_batch, in_dim) rows scanned from a data set without a list */
    uint8_t *nz_val_buf;
    uint32_t *csc_code;     /* (max_batch, in_dim) the same entries by column for dW (see
                               ot_sparse_batch_t), a group's at its first row r0 * in_dim */
    float **act;            /* act[l] (max_batch, layers[l].out): output of layer l */
    float *dbuf[2];         /* (max_batch, max_width) ping-pong activation gradients */
    float **wpack;          /* Affine l: W packed for y = x W (ot_kpack_b); else NULL */
    float **wtpack;         /* Affine l > 0: W^T packed for dx = dy W^T; else NULL */
    struct ot_engine_ws *ws; /* ws[t]: workspace of thread t (engine.c) */
    size_t n_ws;            /* threads that have one */
    float *grad;            /* (n_params) mean gradient of the last batch */
    long fault_layer;       /* test hook: layer whose backward is sign-flipped; -1 = none */
    uint64_t seed;          /* dropout masks are keyed by (seed, step, sample, layer, unit) */
    uint64_t step;          /* the current optimizer step; the trainer sets it per batch */
    float *bn_batch;        /* (n_state) batch norm: the batch's mean and 1/std per layer, laid
                               out like the running statistics */
    float *bn_eval;         /* (n_state) the same from the running statistics, for evaluation */
    double *bn_sum[2];      /* (max_width) batch sums combined across shards */
} ot_engine_t;

typedef struct {
    double loss;    /* summed loss over the batch (divide by n for the mean) */
    size_t correct; /* correctly classified rows */
} ot_batch_result_t;

/* Allocate workers for batches of up to max_batch rows split into n_shards shards.
 * Returns 0 or OT_ENOMEM (message printed). */
int ot_engine_init(ot_engine_t *e, ot_net_t *net, size_t max_batch, size_t n_shards);

/* Release everything ot_engine_init allocated; safe on a zeroed engine. */
void ot_engine_free(ot_engine_t *e);

/* Forward and backward over rows idx[0..n) of ds (1 <= n <= max_batch) in training mode
 * (batch statistics, dropout keyed by e->seed and e->step; batch norm's running statistics are
 * updated): leaves the mean gradient (sum over rows / n) in e->grad and returns the summed loss
 * and hits. */
ot_batch_result_t ot_engine_gradient(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                                     size_t n);

/* Forward only, in evaluation mode (running statistics, no dropout), over the first `limit`
 * samples of ds in order (limit 0 = all): summed loss and hits. confusion, when not NULL, is a (n_classes, n_classes) table, [true][pred] += 1. */
ot_batch_result_t ot_engine_evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t limit,
                                     uint64_t *confusion);

#endif
