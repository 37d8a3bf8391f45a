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
 * More threads than shards (than the process's shards, with processes) do not sit idle:
 * thread t of T over L shards helps shard floor(t*L/T) with the other threads that map to it. They split the shard's rows for forward and for dx, and the rows of
 * each parameter gradient (ot_grad_share) for dW: every element of it is still one chain over
 * the shard's rows, so the bits stay those of one thread per shard. A shard's loss and batch
 * statistics are formed by its first thread over all its rows; the threads of a shard meet at
 * a barrier before each layer's backward. The shards, not the threads, fix every sum.
 *
 * Layers that need the whole batch (batch norm: the batch-statistics hooks of ot_layer.h)
 * split the pass: every shard runs up to such a layer, writes its partial sums, one thread
 * adds them in shard order, and every shard goes on with the batch's statistics. Forward and
 * backward both work this way, inside one parallel region.
 *
 * Processes (ot_engine_distribute): with R of them (ot_dist.h), process r takes the shards
 * [r*S/R, (r+1)*S/R) and its threads split those as above. Its threads form the tree's nodes
 * inside its shards; its roots (maximal nodes) go, cut in R chunks of the parameters, to the
 * process that owns each chunk, which forms the nodes that span processes on its chunk, in the
 * tree's order, and divides by n; the chunks of the mean are then gathered by every process.
 * Batch statistics gather every shard's partial sums before each process combines them all in
 * shard order; losses and hits are gathered per shard and summed in shard order. Every sum is
 * the one process's, so the bits do not depend on R either.
 *
 * The engine knows no layer kinds: it calls each layer's table (ot_layer.h), hands parameter
 * gradients to the tree through ot_grad, and owns only the batch-wide activations. */
#ifndef OT_ENGINE_H
#define OT_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "ot_data.h"
#include "ot_dist.h"
#include "ot_layer.h"
#include "ot_net.h"

/* How a step of several threads hands lines between cores: as they fall, or kept out of the
 * shared state: the packed weights that every thread reads stored past the caches
 * (ot_layer_ops_t.prepare's stream) and, when each thread's part of the parameters stays in
 * its core's cache (ot_param_part_cached), the cross-thread tree's right children cleared once
 * added and the update streamed out past the caches (scripts/xcore.c). The same bits either
 * way; which is faster depends on the machine (on a shared VM, on the hour:
 * docs/benchmarks.md), so by default the engine times both. */
typedef enum {
    OT_XFER_AUTO,  /* a few steps the other way at the start and every 256 after; keep the
                      faster (engine.c) */
    OT_XFER_PLAIN, /* as they fall */
    OT_XFER_KEEP   /* kept out of the shared state */
} ot_xfer_t;

/* Steps of each way whose times OT_XFER_AUTO compares, by their medians. */
#define OT_XFER_SAMPLES 15

/* What the caller runs inside ot_engine_gradient once the batch's gradient is formed: the
 * update, applied chunk by chunk while each chunk of the mean gradient is still in the cache
 * of the thread that formed it, in the same parallel region. When span is set and ok (called
 * by every thread, with the batch's summed loss and row count: it must be pure) says yes,
 * each thread calls span on every chunk [lo, hi) of the mean gradient it formed, its part of
 * the parameters (ot_param_part) in order, with the chunk in grad[0 .. hi - lo) (a buffer of
 * the thread's, which span may modify) and shared set when the step keeps the parameter
 * lines out of the shared state (ot_xfer_t; ot_optim_span); ot_engine_gradient then sets
 * e->applied, and e->grad does not hold this step's mean. Alone only: with other processes
 * the chunks of the mean arrive later, and applied stays 0. */
typedef struct {
    int (*ok)(void *arg, double loss, size_t n);
    void (*span)(void *arg, float *grad, size_t lo, size_t hi, int shared);
    void *arg;
} ot_step_hook_t;

/* One shard of the current batch. Its activations are rows [lo, lo + rows) of the engine's
 * batch-wide buffers; its gradient block is its own. */
typedef struct {
    size_t lo, rows;  /* the shard's rows of the current batch */
    float *grad;      /* (n_params) this shard's node of the reduction tree, same layout as
                         params */
    double loss;      /* summed loss of the last forward */
    size_t correct;   /* correct predictions of the last forward */
} ot_worker_t;

/* What the test hook flips in the backward of layer fault_layer. */
typedef enum {
    OT_FAULT_AUTO,   /* its parameter gradient if it has parameters, else its dx */
    OT_FAULT_PARAMS, /* the gradient of its parameters */
    OT_FAULT_DX,     /* the gradient it passes down */
} ot_fault_t;

typedef struct {
    ot_net_t *net;          /* the network (not owned) */
    size_t n_shards;        /* fixed split of every batch */
    size_t max_batch;       /* largest batch the buffers hold */
    ot_worker_t *workers;   /* n_shards workers */
    float **blocks;         /* (n_shards) their gradient blocks, for ot_grad */
    /* batch-wide buffers, row r belonging to the shard whose range holds it */
    float *x;               /* (max_batch, in_dim) inputs as floats (unless layer 0 gathers
                               its input itself) */
    int32_t *y;             /* (max_batch) labels */
    int32_t *pred;          /* (max_batch) argmax predictions of an evaluation */
    uint32_t *rows_idx;     /* (max_batch) sample indices of an evaluation's rows */
    const uint32_t *next_idx; /* a hint the caller may set before ot_engine_gradient: the
                               samples of the next batch (next_n of them), fetched into cache
                               while this one computes; NULL = none */
    size_t next_n;
    int sparse_ok;          /* the first layer may take mostly-zero images as lists of their
                               nonzero pixels (training.sparse_input; 1 after ot_engine_init) */
    int augment_shift;      /* training passes move each image by up to this many pixels
                               (training.augment_shift; 0 = off), keyed by (seed, step, sample) */
    ot_xfer_t xfer;         /* in: OT_XFER_AUTO after ot_engine_init, unless the environment
                               has OT_XFER=plain or keep */
    struct {
        int keep;           /* AUTO's current choice */
        uint64_t k;         /* steps timed */
        double now[OT_XFER_SAMPLES], other[OT_XFER_SAMPLES]; /* seconds of the last steps
                               run each way (engine.c) */
    } xfer_auto;
    uint64_t xfer_steps[2]; /* out: steps run plain [0] and kept [1] (alone, with several
                               threads), summed over ot_engine_gradient calls */
    int fuse;               /* an element-wise layer after one that fuses_next runs inside it,
                               sharing its output buffer (1 after ot_engine_init unless the
                               environment has OT_FUSE=0: the same bits either way) */
    float **act;            /* act[l] (max_batch, layers[l].out_size): output of layer l
                               (act[l] == act[l - 1] when layer l is fused into l - 1) */
    float *dbuf[2];         /* (max_batch, max_width) ping-pong activation gradients */
    void **rt;              /* rt[l]: layer l's own buffers (its ops->setup) */
    float *blank;           /* the values the layers' inputs hold where the data are zero
                               (ot_layer_ops_t.blank), layer l's at blank_off[l], for layers
                               [1, n_blank); NULL when no layer uses them */
    size_t *blank_off;      /* (n_layers) */
    size_t n_blank;
    int blank_ok;           /* layers [1, blank_ok) have theirs this training pass */
    double *parts;          /* batch statistics' partial sums: layer l's (n_shards, its
                               ops->stats) at part_off[l], so that no layer's overwrite
                               another's while a slower thread still reads them */
    size_t *part_off;       /* (n_layers) */
    struct ot_engine_ws *ws; /* ws[t]: workspace of thread t (engine.c) */
    size_t n_ws;            /* threads that have one */
    float *grad;            /* (n_params) mean gradient of the last batch */
    long fault_layer;       /* test hook: layer whose backward is sign-flipped; -1 = none */
    ot_fault_t fault_what;  /* what of it */
    uint64_t seed;          /* dropout masks are keyed by (seed, step, sample, layer, unit) */
    uint64_t step;          /* the current optimizer step; the trainer sets it per batch */
    const ot_dist_t *dist;  /* the processes (ot_engine_distribute); NULL: this one alone */
    size_t lo, hi;          /* this process's shards [lo, hi): all of them when alone */
    struct ot_engine_job *job; /* the exchange with the other processes (engine.c); NULL alone */
    double combine_s;       /* seconds spent combining the shards' gradients into grad (across
                               threads, and processes), summed over ot_engine_gradient calls */
    int flag;               /* in: this process's word for the step (the trainer's stop
                               signal); travels with the gradient exchange */
    int flag_max;           /* out, after ot_engine_gradient: the largest flag of the
                               processes (alone: flag) */
    ot_step_hook_t hook;    /* in: the update to run in the step (zeroed: none) */
    int applied;            /* out, after ot_engine_gradient: hook.span ran over every
                               parameter */
    double *phase_s;        /* in: NULL, or (phase_threads, OT_PHASE_STRIDE): ot_engine_gradient
                               adds the seconds thread t spends in phase k to
                               phase_s[t * OT_PHASE_STRIDE + k] */
    size_t phase_threads;
} ot_engine_t;

/* The phases of a training step (ot_engine_gradient) as each thread spends it: from the call to
 * its shards set up, the gather of its rows, the layers' preparation (ends with a barrier),
 * forward, backward (with the prefetch of the next batch), the barrier after it (waiting for
 * the slowest thread), and the reduction across threads and processes with the update. */
typedef enum {
    OT_PHASE_START,
    OT_PHASE_GATHER,
    OT_PHASE_PREPARE,
    OT_PHASE_FORWARD,
    OT_PHASE_BACKWARD,
    OT_PHASE_WAIT,
    OT_PHASE_REDUCE,
    OT_PHASES
} ot_phase_t;

/* Their names, for tables ("start", "gather", ...). */
extern const char *const ot_phase_name[OT_PHASES];

/* Doubles per thread in ot_engine_t.phase_s: a cache line, so that no two threads' timers share
 * one (with phase_s from ot_alloc). */
#define OT_PHASE_STRIDE 8
_Static_assert(OT_PHASES <= OT_PHASE_STRIDE, "a thread's phase timers fit its cache line");

typedef struct {
    double loss;    /* summed loss over the batch (divide by n for the mean) */
    size_t correct; /* correctly classified rows */
} ot_batch_result_t;

/* Test hook: flip the sign of what layer `name` ("conv1") hands on in backward (what:
 * OT_FAULT_PARAMS its parameters' gradient, OT_FAULT_DX the gradient it passes down,
 * OT_FAULT_AUTO the first if it has parameters), so that gradcheck can be shown to catch a
 * wrong backward by name. Returns 0, or OT_EINVAL when the network has no such layer. */
int ot_engine_set_fault(ot_engine_t *e, const char *name, ot_fault_t what);

/* Allocate workers for batches of up to max_batch rows split into n_shards shards.
 * Returns 0 or OT_ENOMEM (message printed). */
int ot_engine_init(ot_engine_t *e, ot_net_t *net, size_t max_batch, size_t n_shards);

/* The bytes ot_engine_init would allocate for net, and its workspaces for `threads` threads, in
 * double (a size that would not fit size_t is still a size to refuse). */
double ot_engine_bytes(const ot_net_t *net, size_t max_batch, size_t n_shards, size_t threads);

/* Split the work with the other processes of d (NULL or one process: alone, as after
 * ot_engine_init): this process takes its part of every batch's shards, and ot_engine_gradient
 * and ot_engine_evaluate become collective calls that every process makes, with the same
 * batches, and that return the same bits to each as one process would compute. Every process
 * needs the same network, parameters and shard count. Returns 0, OT_ECONFIG when there are
 * fewer shards than processes, or OT_ENOMEM (message printed). The confusion matrix,
 * probabilities and classes of ot_engine_evaluate and ot_engine_predict are one process's
 * only. */
int ot_engine_distribute(ot_engine_t *e, const ot_dist_t *d);

/* Whether the next step of several threads keeps lines out of the shared state (ot_xfer_t);
 * and OT_XFER_AUTO's note of a step's time, which ot_engine_gradient takes after each such
 * step of a process alone (exposed for tests). */
int ot_engine_xfer_keep(const ot_engine_t *e);
void ot_engine_xfer_note(ot_engine_t *e, double dt);

/* Release everything ot_engine_init allocated; safe on a zeroed engine. */
void ot_engine_free(ot_engine_t *e);

/* Forward and backward over rows idx[0..n) of ds (1 <= n <= max_batch) in training mode
 * (batch statistics, dropout keyed by e->seed and e->step; batch norm's running statistics are
 * updated): leaves the mean gradient (sum over rows / n) in e->grad and returns the summed loss
 * and hits. With e->hook set, the update instead when the hook says so (see ot_step_hook_t). */
ot_batch_result_t ot_engine_gradient(ot_engine_t *e, const ot_dataset_t *ds, const uint32_t *idx,
                                     size_t n);

/* Forward only, in evaluation mode (running statistics, no dropout), over the first `limit`
 * samples of ds in order (limit 0 = all): summed loss and hits. confusion, when not NULL, is a (n_classes, n_classes) table, [true][pred] += 1. */
ot_batch_result_t ot_engine_evaluate(ot_engine_t *e, const ot_dataset_t *ds, size_t limit,
                                     uint64_t *confusion);

/* ot_engine_evaluate over every sample of ds that also keeps, for sample i, the class
 * probabilities (the softmax of the last layer) in probs[i * n_classes ..] and their arg-max
 * (the first of equal maxima) in classes[i] (either may be NULL; both caller-owned, ds->n
 * rows). Each thread copies its own rows. */
ot_batch_result_t ot_engine_predict(ot_engine_t *e, const ot_dataset_t *ds, float *probs,
                                    int32_t *classes, uint64_t *confusion);

#endif
