/* ot_onnx.h - ONNX export: a trained network as a standard ONNX model (opset 13, IR version
 * 7), written with protobuf-c on the schema Debian's libonnx-dev ships (onnx.proto; the C
 * code is generated from it at build time).
 *
 * The model (what netron and other tools show):
 *   input          "input", float32, (N, C, H, W) for images (NCHW: the usual ONNX layout;
 *                  omptrain itself works NHWC) or (N, D) for vectors; the values as omptrain's
 *                  gather makes them before standardising: bytes u as u / 255 in [0, 1],
 *                  float features as stored
 *   standardise    data.normalize = mean_std: Sub "input/sub_mean" and Div "input/div_std"
 *                  with the checkpoint's statistics (initializers input/mean, input/std)
 *   layers         one node (or a few) per layer, named after it ("conv1", "affine2"), each
 *                  kind emitting its own through the interface below (ot_layer_ops_t.onnx):
 *                  Conv, Relu, Sigmoid, MaxPool, AveragePool, Flatten, Gemm,
 *                  BatchNormalization (running statistics), Softmax; Dropout emits nothing
 *   outputs        "probabilities", float32 (N, classes), and "class", int64 (N): its
 *                  arg-max (ArgMax, the first of equal maxima, as omptrain)
 *
 * NHWC to NCHW: a convolution's kernel (kh, kw, c, filters) is written as (filters, c, kh,
 * kw); a flat vector made from an image (by Flatten, or by an Affine on an image) is in
 * (c, h, w) order in ONNX and (h, w, c) in omptrain, so the exporter keeps the permutation
 * between the two (ot_onnx_feature) and the kinds with per-feature parameters (an Affine's
 * rows, batch norm on a vector) write theirs in ONNX's order.
 *
 * The exporter core (src/onnx.c) never asks which kind a layer is: it builds the input, calls
 * every layer's onnx op in stack order and adds the outputs. */
#ifndef OT_ONNX_H
#define OT_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "ot_input.h"
#include "ot_layer.h"

#define OT_ONNX_OPSET 13     /* the default domain's opset the model imports */
#define OT_ONNX_IR_VERSION 7 /* the IR version of opset 13 (ONNX 1.8) */
/* the largest model file: one protobuf message is at most 2 GiB - 1 bytes, and onnx and ONNX
 * Runtime refuse a larger one ("Protobuf parsing failed"); a model past it would need ONNX's
 * external data, which the exporter does not write */
#define OT_ONNX_MAX_BYTES 2147483647u

struct ot_net;

/* A graph being built (src/onnx.c): the nodes, the initializers, and the value flowing from
 * one layer to the next. */
typedef struct ot_onnx ot_onnx_t;

/* How the value entering a layer is laid out in the ONNX graph. */
typedef enum {
    OT_ONNX_IMAGE,    /* (N, C, H, W): the layer's input image, NCHW */
    OT_ONNX_FLAT,     /* (N, D), features in omptrain's order */
    OT_ONNX_FLAT_CHW, /* (N, D) flattened from an NCHW image: ONNX feature i is omptrain's
                         (NHWC) feature ot_onnx_feature(g, i) */
    OT_ONNX_KEEP,     /* (ot_onnx_node's out only) the node's output is laid out as its input:
                         an element-wise operation */
} ot_onnx_layout_t;

/* A node attribute: an int, a list of ints or a float. */
typedef enum { OT_ONNX_ATTR_INT, OT_ONNX_ATTR_INTS, OT_ONNX_ATTR_FLOAT } ot_onnx_attr_kind_t;
typedef struct {
    const char *name;
    ot_onnx_attr_kind_t kind;
    int64_t i;            /* OT_ONNX_ATTR_INT */
    const int64_t *ints;  /* OT_ONNX_ATTR_INTS: n_ints of them */
    size_t n_ints;
    float f;              /* OT_ONNX_ATTR_FLOAT */
} ot_onnx_attr_t;

#define OT_ONNX_INT(n, v) ((ot_onnx_attr_t){.name = (n), .kind = OT_ONNX_ATTR_INT, .i = (v)})
#define OT_ONNX_INTS(n, p, k) \
    ((ot_onnx_attr_t){.name = (n), .kind = OT_ONNX_ATTR_INTS, .ints = (p), .n_ints = (k)})
#define OT_ONNX_FLOAT(n, v) ((ot_onnx_attr_t){.name = (n), .kind = OT_ONNX_ATTR_FLOAT, .f = (v)})

/* ---- for a kind's onnx op: what the layer being exported takes, and what it emits.
 * A call that fails (out of memory, a name too long) records the failure in g, which the
 * exporter reports once; the op then returns -1. ---- */

/* The name of the value entering the layer, and its layout. */
const char *ot_onnx_value(const ot_onnx_t *g);
ot_onnx_layout_t ot_onnx_layout(const ot_onnx_t *g);

/* For a flat value: the omptrain (NHWC-order) index of its ONNX feature i (i itself unless it
 * was flattened from an image). */
size_t ot_onnx_feature(const ot_onnx_t *g, size_t i);

/* Make the value flat: an image gets a Flatten node "<layer>/flatten" (ONNX flattens
 * (c, h, w): the value is then OT_ONNX_FLAT_CHW); a flat value is left alone. 0 or -1. */
int ot_onnx_flatten(ot_onnx_t *g);

/* Make the value flat in omptrain's own feature order (what the loss needs: class j is
 * feature j): ot_onnx_flatten, then, when the order differs, a Gather "<layer>/to_nhwc" that
 * puts the features in omptrain's order. 0 or -1. */
int ot_onnx_flatten_natural(ot_onnx_t *g);

/* A float initializer "<layer>/<what>" of the given ONNX shape (rank 1 to 4): returns its
 * data, dims[0] * ... * dims[rank-1] floats zeroed for the caller to fill (owned by g), and
 * its name in *name (owned by g), or NULL. */
float *ot_onnx_tensor(ot_onnx_t *g, const char *what, size_t rank, const int64_t *dims,
                      const char **name);

/* A node of operator op ("Conv") whose inputs are inputs[0..n_in) (input 0 is usually
 * ot_onnx_value(g)), with attributes attrs[0..n_attrs). It is named "<layer>" (or
 * "<layer>/<suffix>" when suffix is not NULL), documented with the layer's model.layers text,
 * and its one output, named like it (the last layer's: "probabilities"), becomes the value the
 * next layer takes, laid out as out says (OT_ONNX_IMAGE, OT_ONNX_FLAT or OT_ONNX_KEEP). 0 or
 * -1. */
int ot_onnx_node(ot_onnx_t *g, const char *op, const char *suffix, const char *const *inputs,
                 size_t n_in, const ot_onnx_attr_t *attrs, size_t n_attrs,
                 ot_onnx_layout_t out);

/* ---- the exporter ---- */

/* The ONNX model of net (parameters and running statistics loaded) taking in's samples, as
 * bytes: *data malloc'd (the caller frees it), *size bytes. doc is the model's description
 * (the config's model.layers, say). Returns 0, OT_EINVAL (a layer kind without an onnx op:
 * one line naming the layer, or a model larger than OT_ONNX_MAX_BYTES), OT_ENOMEM or
 * OT_EFORMAT (the model could not be serialised); one line printed. */
int ot_onnx_export(const struct ot_net *net, const ot_input_t *in, const char *doc,
                   void **data, size_t *size);

#endif
