/* ot_layer.h - what a layer kind is: one table of operations (ot_layer_ops_t), defined in one
 * file under src/layers/ and listed once in the registry (src/layers/registry.c), the way
 * KANN lists its operators. The network builder, the engine, gradcheck, the checkpoint, the
 * optimizer and the bench reach every kind through this table only: none of them asks which
 * kind a layer is. Adding a kind is one file, one registry line and its tests.
 *
 * Layout: every batch-wide buffer holds one row per sample. A sample's activation is its
 * shape's h * w * c floats in NHWC order (channels innermost); a flat vector of width d is
 * (c = d, h = w = 1, flat). A conv layer's GEMM then has one row per sample and position.
 *
 * The rules every kind keeps:
 *   - forward WRITES (=) its output rows; backward WRITES its input gradient dx (NULL for the
 *     first layer: the data need no gradient).
 *   - backward WRITES (=) each shard's parameter gradient through ot_grad (below), never
 *     accumulates: every parameter belongs to one layer, so no block is ever zeroed. A kind
 *     whose kernel forms the shard tree itself takes the tree from ot_grad_tree; one that
 *     writes per-shard leaves calls ot_grad_leaves_done after them. Element-wise kinds have no
 *     parameters and never see shards.
 *   - everything a kind computes depends on the rows it is given and never on how many there
 *     are per call, so any split of a batch across threads gives the same bits.
 *   - with more threads than shards, the threads of a shard share it: each runs forward and
 *     dx over its part of the rows (x, n), and a parameter gradient, a sum over the shard's
 *     rows (sx, sdy, the leaves), is split by the rows of the gradient (ot_grad_share). */
#ifndef OT_LAYER_H
#define OT_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_conv.h"
#include "ot_data.h"
#include "ot_grad.h"
#include "ot_kgemm.h"
#include "ot_rng.h"

#define OT_NAME_MAX 32       /* a layer's name, "conv1" */
#define OT_MAX_RANK 4        /* parameter tensors have rank 1 to 4 */
#define OT_LAYER_ARG_BYTES 64 /* room for a kind's own argument struct */

/* One sample's activation: channels, height, width; flat marks a vector (after an Affine or
 * a Flatten), which has no spatial layout for a convolution or pooling layer to use. */
typedef struct {
    size_t c, h, w;
    int flat;
} ot_shape_t;

/* Whether two shapes are the same, field by field (never memcmp: the struct has padding). */
int ot_shape_eq(const ot_shape_t *a, const ot_shape_t *b);

/* Floats of one sample of shape s. */
static inline size_t ot_shape_size(const ot_shape_t *s)
{
    return s->c * s->h * s->w;
}

/* The shape of ds's samples: {chans, rows, cols, flat} (a data set built by hand with chans
 * 0 has one channel). */
static inline ot_shape_t ot_data_shape(const ot_dataset_t *ds)
{
    return (ot_shape_t){ds->chans ? ds->chans : 1, ds->rows, ds->cols, ds->flat};
}

/* "784" for a flat shape, "28x28x1" (HxWxC) for an image, into buf; returns buf. */
const char *ot_shape_str(const ot_shape_t *s, char *buf, size_t n);

/* "784x50" (a tensor's shape, dimensions joined by x) into buf; returns buf. */
struct ot_tensor;
const char *ot_tensor_shape_str(const struct ot_tensor *t, char *buf, size_t n);

struct ot_layer_ops;
struct ot_net;
struct ot_onnx;

/* A layer of a network: its kind, where it sits, its shapes and its share of the parameter
 * and state blocks. */
typedef struct {
    const struct ot_layer_ops *ops; /* the kind */
    char name[OT_NAME_MAX];         /* kind and number among the layers of its kind: "conv1" */
    size_t index;                   /* position in the stack (dropout's key uses it) */
    ot_shape_t in, out;             /* one sample's input and output */
    size_t in_size, out_size;       /* floats per sample of each */
    size_t p_off, p_len;            /* its parameters: [p_off, p_off + p_len) of the block */
    size_t s_off, s_len;            /* its state (running statistics) in the state block */
    size_t t0, nt;                  /* its parameter tensors: net->tensors[t0, t0 + nt) */
    _Alignas(8) unsigned char arg[OT_LAYER_ARG_BYTES]; /* the kind's own argument struct */
} ot_layer_t;

/* A named tensor: a view into the parameter (or state) block. */
typedef struct ot_tensor {
    char name[2 * OT_NAME_MAX]; /* "conv1/W" */
    size_t off;                 /* offset in its block */
    size_t rank;                /* 1 to OT_MAX_RANK */
    size_t shape[OT_MAX_RANK];  /* the first `rank` entries count; the rest are 0 */
    size_t size;                /* product of the shape */
    int decay;                  /* weight decay applies: weights, not biases or scales */
} ot_tensor_t;

/* The parameter-gradient interface between a layer's backward and the shard reduction tree
 * (ot_grad.h). */
typedef struct ot_grad ot_grad_t;

/* One shard of the thread's rows: rows [lo, lo + rows) of the call's n, plus what the loss
 * layer's forward reports for it. */
typedef struct {
    size_t lo, rows;
    double loss;    /* loss layer: summed loss over the shard's rows (written) */
    size_t correct; /* loss layer: rows whose arg-max is the label (written) */
} ot_leaf_t;

/* What a layer's forward or backward works on: the calling thread's n rows of the batch. */
typedef struct {
    size_t n;               /* rows */
    size_t batch;           /* rows of the whole batch (batch statistics divide by it) */
    const float *x;         /* (n, in_size) input */
    float *y;               /* (n, out_size) output: forward writes it; backward reads it */
    float *dy;              /* backward: (n, out_size) gradient w.r.t. y; NULL at the loss
                               (writable for post_bwd alone) */
    float *dx;              /* backward: (n, in_size) gradient w.r.t. x; NULL for layer 0 */
    const float *params;    /* the whole parameter block (the layer's at L->p_off) */
    float *state;           /* the whole state block (the layer's at L->s_off) */
    void *rt;               /* the layer's buffers in this engine (ops->setup), batch-wide */
    size_t r0;              /* the call's first row in the batch, for rt's batch-wide buffers */
    void *work;             /* the thread's scratch, ops->workspace bytes, OT_ALIGN-aligned */
    void *keep;             /* the thread's bytes for this layer that last the whole pass */
    int train;              /* training pass: batch statistics, dropout */
    uint64_t seed, step;    /* the run's seed and the optimizer step: dropout's key */
    const uint32_t *ids;    /* (n) the rows' sample indices */
    int32_t *labels;        /* (n) the rows' labels (the first layer's gather may write them) */
    const float *sx;        /* backward: the input rows of the thread's shards, x unless
                               threads share a shard (x then holds the thread's part of it) */
    const float *sdy;       /* backward: dy of those rows */
    size_t n_leaves;        /* the shards among the rows (from sx) */
    ot_leaf_t *leaves;      /* (n_leaves) */
    size_t first_shard;     /* the batch-wide number of leaves[0] */
    const double *parts;    /* batch statistics: every shard's partial sums of the last round,
                               ops->stats doubles each, in shard order (the layer's own) */
    ot_grad_t *grad;        /* backward: where parameter gradients go */
    /* The element-wise layer after this one when it is fused into this one (ops->fuses_next;
     * else NULL): forward applies post_fwd to its output rows in place, a block at a time
     * while the block is in cache, so y holds the next layer's output; backward first applies
     * post_bwd(y, dy) in place to the dy rows it uses, which are the next layer's dy, and then
     * goes on with its own. post_bwd is NULL when the engine has applied it already. */
    void (*post_fwd)(float *y, size_t n);
    void (*post_bwd)(const float *y, float *dy, size_t n);
    /* The sample-wise layer after this one (and after post_fwd's) when it runs inside this
     * one (ops->chains_next; else NULL): a block of whole samples at a time, while the block
     * is in cache. Forward writes the block's output into a scratch block of its own, applies
     * post_fwd and then next's block_fwd to it; backward first has next's block_bwd write the
     * block's dy into its scratch (with post_bwd folded in, next->c.post_bwd) and goes on
     * from there: y and dy, and post_bwd, are not used. */
    const struct ot_next *next;
    /* For a kind that uses_blank: the value x holds, one sample's
     * in_size floats, wherever the data below it are zero (ops->blank, layer by layer from
     * the data's own 0), or NULL when a layer below has none. Only rounding depends on it. */
    const float *blank;
} ot_ctx_t;

/* A layer run inside the layer before it (ot_ctx_t.next): the layer, and its context over the
 * same rows as that layer's, as the engine would have given it a pass of its own (post_bwd:
 * the backward of the element-wise layer between them, or NULL). */
typedef struct ot_next {
    const ot_layer_t *L;
    ot_ctx_t c;
} ot_next_t;

/* What a pass is about, told to every layer before it starts (ops->begin). */
typedef struct {
    const ot_dataset_t *ds; /* the data the pass reads */
    int train;              /* training pass */
    int sparse_ok;          /* the first layer may take mostly-zero images as lists */
    int sparse_input;       /* training.sparse_input: a first layer may leave out the zero
                               pixels of the float images it is given */
} ot_pass_info_t;

/* The double-precision reference forward that gradcheck differentiates numerically. */
typedef struct {
    size_t n;               /* rows: the whole checked batch */
    const double *P;        /* parameters in double, the block's layout */
    const float *state;     /* the state block */
    unsigned char *mask;    /* ops->ref_mask(L) bytes per row for this layer */
    int record;             /* 1: record the kinks (ReLU signs, pooling arg-max) at this point;
                               0: reuse the recorded ones, so that a perturbation never moves
                               the difference quotient across a kink */
    uint64_t seed, step;    /* dropout's key, as in the engine's training pass */
    const uint32_t *ids;    /* (n) sample indices */
    const int32_t *labels;  /* (n) labels */
    double loss;            /* the loss layer adds its summed loss here */
} ot_ref_t;

/* The rows [*k0, *k1) of a (K, N) row-major weight at offset off of the parameter block whose
 * first element lies in own (a thread's ot_param_part, as ops->prepare gets it): the threads'
 * row ranges partition [0, K) in order. */
static inline void ot_own_rows(const size_t own[2], size_t off, size_t K, size_t N, size_t *k0,
                               size_t *k1)
{
    size_t r[2];
    for (int i = 0; i < 2; i++) {
        r[i] = own[i] <= off ? 0 : (own[i] - off + N - 1) / N;
        r[i] = r[i] < K ? r[i] : K;
    }
    *k0 = r[0];
    *k1 = r[1];
}

/* A kind. Every pointer that is not marked optional is set. */
typedef struct ot_layer_ops {
    const char *kind;   /* its name in model.layers: "conv" */
    const char *prefix; /* its layers' names: prefix and number, "conv1" (optional: kind);
                           model.layers takes it as well */
    const char *usage; /* its model.layers syntax, for messages: "conv FILTERS KHxKW ..." */
    const char *example; /* a small stack that exercises it on an image (a parameterised
                            layer first when it has none itself), for the conformance suite
                            (tests/layers/test_registry.c): the suite adds the output layer */

    /* model.layers: the words after the kind's name (argc may be 0) into L->arg (argv's
     * pointers may be reordered). Returns 0, or -1 with what is wrong in err. */
    int (*parse)(ot_layer_t *L, int argc, char **argv, char *err, size_t n);
    /* L->arg as the words parse reads back ("" when there are none). */
    void (*format)(const ot_layer_t *L, char *buf, size_t n);
    /* The words of format that fix what the layer computes from its input once trained,
     * without those that choose an algorithm or act in training alone (optional: format's):
     * a checkpoint loads into a model whose layers have the same kinds, shapes and these. */
    void (*computes)(const ot_layer_t *L, char *buf, size_t n);
    /* L->in is set: set L->out (and anything the kind derives from the shapes and c), or
     * return -1 with what is wrong, in terms of L->in, in err. */
    int (*shape)(ot_layer_t *L, const ot_config_t *c, char *err, size_t n);
    /* Declare its parameter and state tensors, in order, with ot_net_param and ot_net_state
     * (optional: none). */
    void (*declare)(ot_layer_t *L, struct ot_net *net);
    /* Initial values of its parameters and state; draws from rng in a fixed order
     * (optional: all zero). */
    void (*init)(const ot_layer_t *L, const ot_config_t *c, float *params, float *state,
                 ot_rng_t *rng);
    /* Training FLOPs per sample of its GEMMs (forward, dW, and dx unless it is layer 0), for
     * the bench (optional: 0). */
    double (*flops)(const ot_layer_t *L);

    /* Its buffers in an engine for batches of up to max_batch rows in n_shards shards: *rt
     * (optional: none). Returns 0 or OT_ENOMEM. free releases them; safe on NULL. */
    int (*setup)(const ot_layer_t *L, size_t max_batch, size_t n_shards, void **rt);
    void (*free)(void *rt);
    /* The bytes setup allocates, for the memory estimate before anything is (optional: 0). */
    size_t (*bytes)(const ot_layer_t *L, size_t max_batch, size_t n_shards);
    /* Bytes of per-thread scratch its calls need for up to max_rows rows (shared with the
     * other layers), and in *keep the bytes it keeps per thread for a whole pass (optional:
     * none). */
    size_t (*workspace)(const ot_layer_t *L, size_t max_rows, size_t n_shards, size_t *keep);

    /* Before a pass, on one thread (optional). */
    void (*begin)(const ot_layer_t *L, void *rt, const float *params, const float *state,
                  const ot_pass_info_t *pi);
    /* Inside the pass's parallel region, by every thread of the team, before any forward
     * (optional): shared preparation such as packing weights, split among the threads; the
     * engine adds the barrier. own: the calling thread's part [own[0], own[1]) of the
     * parameter block (ot_param_part), which it updated itself: a split by it reads local
     * memory. backward: the pass will run backward too. stream: store what it prepares past
     * the caches (ot_kpack_b's stream): the team has other threads, which read it, and the
     * engine chose to keep such lines out of the shared state (ot_xfer_t). */
    void (*prepare)(const ot_layer_t *L, void *rt, const float *params, const size_t own[2],
                    int backward, int stream);
    /* Layer 0 only (optional): take the thread's rows of ds (c->ids) in a form of its own,
     * writing c->labels; return 1, or 0 to have the engine gather floats into c->x.
     * by_column: the pass runs backward. */
    int (*gather)(const ot_layer_t *L, const ot_ctx_t *c, const ot_dataset_t *ds,
                  int by_column);

    void (*forward)(const ot_layer_t *L, const ot_ctx_t *c);
    void (*backward)(const ot_layer_t *L, const ot_ctx_t *c);
    /* An element-wise kind without parameters or state (optional): its forward and backward
     * as functions on n floats in place, y = f(y) and dy = dy f'(.) from the output y, with
     * the same arithmetic as forward and backward. After a layer that fuses_next, the engine
     * runs no pass of its own for it: that layer applies them (ot_ctx_t's post_fwd, post_bwd)
     * and the two layers' outputs share one buffer. */
    void (*pointwise_fwd)(float *y, size_t n);
    void (*pointwise_bwd)(const float *y, float *dy, size_t n);
    /* Set when forward applies c->post_fwd and backward c->post_bwd (see ot_ctx_t), and
     * backward never reads the layer's own output y (which the next layer overwrites). */
    int fuses_next;
    /* A kind that works sample by sample, without parameters or batch statistics (optional;
     * max pooling): its forward and backward over samples [s0, s1) of the call alone, c being
     * its context over all the call's rows. block_fwd reads x, the input rows of those
     * samples (sample s0's first), or, when rows is not NULL, the input row i of those
     * samples at rows[i] (a convolution that left out its blank windows points their rows
     * at one shared row instead of copying it); block_bwd writes their dx likewise, having
     * first applied c->post_bwd, when set, to its own y and dy rows in place: the backward of an
     * element-wise layer before it, folded in. That is exact for a kind whose every output is
     * one of its inputs (a maximum) and a post_bwd that is a function of the output and gives
     * +0 for a dy of +0 (ReLU, Sigmoid), the gradient of every other input being 0, and
     * when no input takes the gradients of several outputs (whose sum would be rounded before
     * the element-wise backward in the layers' own passes): folds says whether L's windows
     * allow it. After a kind that chains_next, the engine then runs no pass of its own for
     * it (ot_ctx_t.next), when there is no element-wise layer between them or L folds. */
    void (*block_fwd)(const ot_layer_t *L, const ot_ctx_t *c, const float *x,
                      const float *const *rows, size_t s0, size_t s1);
    void (*block_bwd)(const ot_layer_t *L, const ot_ctx_t *c, float *dx, size_t s0, size_t s1);
    int (*folds)(const ot_layer_t *L);
    /* Set when forward and backward run c->next (see ot_ctx_t) instead of writing y and
     * reading dy. */
    int chains_next;
    /* Its output, one sample, where its input holds `in` (one sample) because the data below
     * are zero (optional: none; an element-wise kind's is its pointwise_fwd): a convolution
     * of zeros gives its bias, a pooling the windows' values. Returns 0, or -1 when the
     * output depends on more than in and the parameters. A kind that uses_blank is then
     * given, in c->blank, what its input holds there, and may compute around it: the images'
     * blank margins (MNIST: a third of a pooled 12x12 grid sees no pixel) then hold a value
     * it knows. */
    int (*blank)(const ot_layer_t *L, const float *params, const float *in, float *out);
    int uses_blank;
    /* The loss kind's forward fills c->leaves' loss and correct; its backward ignores dy. It
     * is the last layer of every stack, and the only kind with is_loss set. */
    int is_loss;

    /* Batch statistics (optional: stats NULL; batch norm is the user). Before a training
     * forward the engine runs fwd_rounds rounds, before a backward bwd_rounds: every shard
     * writes stats(L) doubles of partial sums over its rows (partial, given a context of
     * that one shard's rows), then one thread combines every shard's, in shard order
     * (combine), into rt and state. Backward then finds the last round's partial sums in
     * c->parts. */
    size_t (*stats)(const ot_layer_t *L);
    int fwd_rounds, bwd_rounds;
    void (*partial)(const ot_layer_t *L, const ot_ctx_t *c, int backward, int round,
                    double *part);
    void (*combine)(const ot_layer_t *L, void *rt, float *state, int backward, int round,
                    const double *parts, size_t n_shards, size_t batch);

    /* The reference forward in double over r->n rows: x (n, in_size) -> y (n, out_size); the
     * loss kind adds to r->loss instead. Plain loops, written apart from the float kernels. */
    void (*reference)(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y);
    /* Bytes per row the reference records at kinks (optional: 0). */
    size_t (*ref_mask)(const ot_layer_t *L);

    /* ONNX export (optional: a stack with a kind without it cannot be exported): emit the
     * nodes and initializers of what the layer computes in evaluation mode, taking
     * ot_onnx_value(g), through the exporter interface of ot_onnx.h; params and state are the
     * whole blocks (the layer's at L->p_off, L->s_off). Returns 0 or -1. */
    int (*onnx)(const ot_layer_t *L, struct ot_onnx *g, const float *params,
                const float *state);
} ot_layer_ops_t;

/* ---- the registry (src/layers/registry.c) ---- */

/* The kind called name, or NULL. */
const ot_layer_ops_t *ot_layer_find(const char *name);

/* The registered kinds, NULL-terminated, in the registry's order. */
extern const ot_layer_ops_t *const ot_layer_kinds[];

/* The kind's names as "affine, relu, ..." for messages. */
void ot_layer_kind_list(char *buf, size_t n);

/* ---- helpers for kinds ---- */

/* Standard deviation of c's weight init for fan-in fan_in: init_std, He sqrt(2/fan_in) or
 * Xavier sqrt(1/fan_in). */
double ot_init_std(const ot_config_t *c, size_t fan_in);

/* A kind's argument struct in L->arg. */
#define OT_LAYER_ARGS(type, L) ((type *)(void *)(L)->arg)
#define OT_LAYER_ARGS_FIT(type) \
    _Static_assert(sizeof(type) <= OT_LAYER_ARG_BYTES, #type " does not fit in ot_layer_t.arg")

/* The ops of a kind without arguments whose output has its input's shape. */
int ot_layer_parse_none(ot_layer_t *L, int argc, char **argv, char *err, size_t n);
void ot_layer_format_none(const ot_layer_t *L, char *buf, size_t n);
int ot_layer_shape_same(ot_layer_t *L, const ot_config_t *c, char *err, size_t n);

/* Parse a non-negative integer word in [lo, hi]: 0 or -1. */
int ot_layer_parse_size(const char *word, size_t lo, size_t hi, size_t *out);

/* ---- helpers for windowed kinds (convolution, pooling) ---- */

#define OT_MAX_SIDE 65536 /* the largest window side, stride or padding accepted */

/* A window "5x5" (height x width) or "5" (square) into kh, kw: 0 or -1. */
int ot_layer_parse_window(const char *word, size_t *kh, size_t *kw);

/* The words "stride S" and (when pad is not NULL) "pad P", in any order: 0, or -1 with what
 * is wrong in err. */
int ot_layer_parse_stride_pad(int argc, char **argv, size_t *stride, size_t *pad, char *err,
                              size_t n);

/* The arguments and the ops that maxpool and avgpool share: "KIND WINDOW [stride S]", the
 * stride the window's height unless given, no padding, every window inside the image. */
typedef struct {
    size_t kh, kw, stride;
} ot_pool_args_t;
OT_LAYER_ARGS_FIT(ot_pool_args_t);
int ot_pool_parse(ot_layer_t *L, int argc, char **argv, char *err, size_t n);
void ot_pool_format(const ot_layer_t *L, char *buf, size_t n);
int ot_pool_shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n);
ot_conv_geom_t ot_pool_geom(const ot_layer_t *L);
/* Their ONNX node: op ("MaxPool", "AveragePool") with the window and stride, no padding. */
int ot_pool_onnx(const ot_layer_t *L, struct ot_onnx *g, const char *op);

/* One side of a window's output, (in + 2 pad - k) / stride + 1 rounded down, where what the
 * rounding leaves out may only be padding: 0, or -1 with why (naming axis, "height" or
 * "width") in err. */
int ot_layer_out_side(const char *axis, size_t in, size_t k, size_t stride, size_t pad,
                      size_t *out, char *err, size_t n);

#endif
