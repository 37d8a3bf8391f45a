/* ot_engine.h - the data-parallel step.
 *
 * Every batch of n rows is cut into n_shards contiguous shards, shard s holding rows
 * [s*n/S, (s+1)*n/S). Each shard has its own worker: its input slice, its activation and
 * gradient buffers and its own gradient block, all allocated once. OpenMP threads take shards
 * (static schedule); each runs forward and backward for its shard through the whole stack.
 * The shard gradient blocks are then summed in a fixed pairwise tree and divided by n.
 *
 * The decomposition depends on n_shards, never on the thread count: with a fixed shard count
 * the loss and the gradient are bit-identical at any number of threads. With n_shards equal to
 * the thread count this is exactly one slice, one gradient block per thread.
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

typedef struct {
    size_t rows;      /* rows in this shard for the current batch */
    float *x;         /* (max_rows, in_dim) input slice as floats */
    int32_t *y;       /* (max_rows) labels */
    int32_t *pred;    /* (max_rows) argmax predictions of the last forward */
    const uint32_t *ids; /* (rows) sample indices of the shard's rows: dropout's key */
    float **act;      /* act[l] (max_rows, layers[l].out): output of layer l */
    float *dbuf[2];   /* (max_rows, max_width) ping-pong buffers for activation gradients */
    float *dout;      /* backward: gradient w.r.t. the output of the layer being processed */
    double *part[2];  /* (max_width) partial sums over the shard's rows (batch norm) */
    float *grad;      /* (n_params) this shard's gradient sum, same layout as params */
    double loss;      /* summed loss of the last forward */
    size_t correct;   /* correct predictions of the last forward */
    void *mem;        /* the one allocation behind the buffers above */
} ot_worker_t;

typedef struct {
    ot_net_t *net;          /* the network (not owned) */
    size_t n_shards;        /* fixed split of every batch */
    size_t max_batch;       /* largest batch the buffers hold */
    size_t max_rows;        /* rows per shard at most: ceil(max_batch / n_shards) */
    ot_worker_t *workers;   /* n_shards workers */
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
