/* ot_net.h - a network: an ordered stack of layers (ot_layer.h) over one contiguous parameter
 * block and one state block. Named tensors (affine1/W, conv1/b, bn1/running_mean, ...) are
 * views into the blocks, so the reduction, the optimizer and the checkpoint are flat loops over
 * n_params.
 *
 * The stack comes from model.layers: either widths ("784, 50, 10", with model.activation,
 * model.batchnorm and model.dropout adding a layer after each hidden Affine) or a list of
 * layers ("conv 30 5x5, relu, maxpool 2, affine 100, relu, affine 10"). Both are read by the
 * same parser (ot_stack_parse), and SoftmaxWithLoss always closes the stack. */
#ifndef OT_NET_H
#define OT_NET_H

#include <stddef.h>

#include "ot_config.h"
#include "ot_layer.h"
#include "ot_rng.h"

#define OT_MAX_STACK 128                 /* layers in a stack, the loss included */
#define OT_MAX_TENSORS (2 * OT_MAX_STACK) /* parameter (or state) tensors */
/* floats of one sample's activation at any layer: 2^40 (4 TiB), so that a batch's buffers (up
 * to 2^20 rows of doubles) never overflow a size_t; a larger one is refused by name */
#define OT_MAX_SAMPLE_FLOATS ((size_t)1 << 40)

typedef struct ot_net {
    size_t n_layers;                   /* layers in the stack, loss included */
    ot_layer_t layers[OT_MAX_STACK];
    size_t n_tensors;                  /* parameter tensors, in stack order */
    ot_tensor_t tensors[OT_MAX_TENSORS];
    size_t n_params;                   /* floats in the parameter block */
    float *params;                     /* the block, OT_ALIGN-aligned, owned */
    size_t n_state_tensors;            /* state that is not trained: running statistics */
    ot_tensor_t state_tensors[OT_MAX_TENSORS];
    size_t n_state;                    /* floats in the state block */
    float *state;                      /* the state block (may be NULL when n_state is 0) */
    ot_shape_t input;                  /* one sample's input */
    size_t in_dim;                     /* its floats */
    size_t n_classes;                  /* output width */
    size_t max_width;                  /* widest layer input or output, in floats per sample */
} ot_net_t;

/* Parse a stack "kind args, kind args, ..." into layers[0..*n) (kind and arguments only; at
 * most max of them). Returns 0, or -1 with one line in err naming the item and what was
 * expected. */
int ot_stack_parse(const char *text, ot_layer_t *layers, size_t max, size_t *n, char *err,
                   size_t err_n);

/* Build c's stack on an input of shape in (the data's; NULL: c's first width, flat): layers,
 * shapes, tensors; allocates the zeroed parameter and state blocks. Returns 0, OT_ECONFIG (a
 * shape that does not fit, or an output width other than data.classes: one line naming the
 * layer, its input and what was expected) or OT_ENOMEM. */
int ot_net_init(ot_net_t *net, const ot_config_t *c, const ot_shape_t *in);

/* ot_net_init without the allocation: layers, shapes and the tensors' layout only (params and
 * state stay NULL), e.g. to size a run before its memory is spent. Same returns. */
int ot_net_layout(ot_net_t *net, const ot_config_t *c, const ot_shape_t *in);

/* Draw the initial parameters layer by layer in stack order (each kind's init: weights from
 * rng as c says, biases zero, batch norm the identity). */
void ot_net_init_params(ot_net_t *net, const ot_config_t *c, ot_rng_t *rng);

/* Release the blocks; safe on a zeroed net. */
void ot_net_free(ot_net_t *net);

/* Find a parameter tensor by name ("affine1/W"); NULL when there is none. */
const ot_tensor_t *ot_net_tensor(const ot_net_t *net, const char *name);

/* Trainable parameters: the sum of the tensors' sizes (n_params also counts the padding that
 * aligns each tensor). */
size_t ot_net_count(const ot_net_t *net);

/* Find a layer by name ("conv1"); NULL when there is none. */
const ot_layer_t *ot_net_layer(const ot_net_t *net, const char *name);

/* For a kind's declare: a parameter (state) tensor "<layer>/<what>" of rank dims, at the next
 * cache-line-aligned offset of its block; extends the layer's range there. decay: weight
 * decay applies to it. */
void ot_net_param(ot_net_t *net, ot_layer_t *L, const char *what, size_t rank,
                  const size_t *dims, int decay);
void ot_net_state(ot_net_t *net, ot_layer_t *L, const char *what, size_t rank,
                  const size_t *dims);

/* "784 > affine1 50 > relu1 > affine2 10 > softmax_loss" style: the input and every layer
 * with its output shape where it changes, into buf. */
void ot_net_summary(const ot_net_t *net, char *buf, size_t n);

#endif
