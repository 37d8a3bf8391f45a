/* ot_net.h - a network: an ordered stack of layers over one contiguous parameter block.
 * Named tensors (affine1/W, affine1/b, ...) are views into the block, so the reduction, the
 * optimizer and the checkpoint are flat loops over n_params. */
#ifndef OT_NET_H
#define OT_NET_H

#include <stddef.h>

#include "ot_config.h"
#include "ot_rng.h"

typedef enum {
    OT_LAYER_AFFINE,
    OT_LAYER_RELU,
    OT_LAYER_SIGMOID,
    OT_LAYER_SOFTMAX_LOSS,
    OT_LAYER_BATCHNORM, /* needs batch sums across shards in forward and backward */
    OT_LAYER_DROPOUT,
} ot_layer_kind_t;

#define OT_NAME_MAX 32
/* Affine, batch norm, activation and dropout per layer, plus the loss */
#define OT_MAX_STACK (4 * OT_MAX_LAYERS + 1)
#define OT_MAX_TENSORS (4 * OT_MAX_LAYERS) /* W, b per Affine; gamma, beta per batch norm */

typedef struct {
    ot_layer_kind_t kind;
    char name[OT_NAME_MAX]; /* "affine1", "relu1", ..., "softmax_loss" */
    size_t in, out;         /* input and output widths (equal for element-wise layers) */
    size_t w_off, b_off;    /* Affine: offsets of W (in, out) and b (out) in the block;
                               batch norm: offsets of gamma (out) and beta (out) */
    size_t s_off;           /* batch norm: running mean (out) at s_off, then running variance
                               (out) at s_off + out, in the state block */
    float rate;             /* dropout: fraction of units dropped in training */
} ot_layer_t;

typedef struct {
    char name[2 * OT_NAME_MAX]; /* "affine1/W" */
    size_t off;                 /* offset in the parameter block */
    size_t rank;                /* 1 or 2 */
    size_t shape[2];            /* rows, cols (rank 2) or length (rank 1) */
    size_t size;                /* product of the shape */
} ot_tensor_t;

typedef struct {
    size_t n_layers;                   /* layers in the stack, loss included */
    ot_layer_t layers[OT_MAX_STACK];
    size_t n_tensors;                  /* parameter tensors: W and b of every Affine, ... */
    ot_tensor_t tensors[OT_MAX_TENSORS];
    size_t n_params;                   /* floats in the parameter block */
    float *params;                     /* the block, OT_ALIGN-aligned, owned */
    size_t n_state_tensors;            /* state that is not trained: running statistics */
    ot_tensor_t state_tensors[OT_MAX_TENSORS];
    size_t n_state;                    /* floats in the state block */
    float *state;                      /* the state block (may be NULL when n_state is 0) */
    float bn_momentum;                 /* decay of the running statistics */
    size_t in_dim;                     /* input width */
    size_t n_classes;                  /* output width */
    size_t max_width;                  /* widest layer output, input included */
} ot_net_t;

/* Build the layer stack described by c: per hidden layer Affine, [batch norm], activation,
 * [dropout]; then the last Affine and SoftmaxWithLoss. Allocates a zeroed parameter block and
 * the state block. Returns 0 or OT_ENOMEM (message printed). */
int ot_net_init(ot_net_t *net, const ot_config_t *c);

/* Draw the weights from rng as c says (std * randn, He sqrt(2/in), Xavier sqrt(1/in));
 * biases are zero, batch norm starts as the identity (gamma 1, beta 0, running mean 0 and
 * variance 1). The draws go tensor by tensor in stack order. */
void ot_net_init_params(ot_net_t *net, const ot_config_t *c, ot_rng_t *rng);

/* Release the parameter block; safe on a zeroed net. */
void ot_net_free(ot_net_t *net);

/* Find a parameter tensor by name ("affine1/W"); NULL when there is none. */
const ot_tensor_t *ot_net_tensor(const ot_net_t *net, const char *name);

#endif
