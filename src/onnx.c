/* onnx.c - the ONNX exporter (see ot_onnx.h): the graph builder the layer kinds emit into,
 * and the model around it, as protobuf-c messages of the code generated from Debian's
 * onnx.proto, packed by libprotobuf-c.
 *
 * Every message, string and array of the model is allocated from one arena that the export
 * frees whole at its end; a failed allocation marks the builder failed, every later call
 * does nothing, and the export reports it once. */
#include "ot_onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "ot_common.h"
#include "ot_net.h"

#define NAME_MAX_LEN 96 /* node, value and initializer names */

struct ot_onnx {
    void **mem;               /* the arena: every allocation, freed by arena_free */
    size_t n_mem, cap_mem;
    int failed;               /* an allocation failed or a name did not fit */
    Onnx__NodeProto **nodes;  /* the graph's nodes, in order */
    size_t n_nodes, cap_nodes;
    Onnx__TensorProto **inits; /* its initializers */
    size_t n_inits, cap_inits;
    const char *value;        /* the value entering the next layer (arena) */
    ot_onnx_layout_t layout;  /* its layout: IMAGE, FLAT or FLAT_CHW */
    ot_shape_t from;          /* FLAT_CHW: the image it was flattened from */
    const ot_layer_t *L;      /* the layer being exported */
    int last;                 /* it is the last layer: its output is "probabilities" */
};

/* ---------------------------------------------------------------- the arena */

static void *arena(ot_onnx_t *g, size_t bytes)
{
    if (g->failed)
        return NULL;
    if (g->n_mem == g->cap_mem) {
        size_t cap = g->cap_mem ? 2 * g->cap_mem : 256;
        void **m = realloc(g->mem, cap * sizeof *m);
        if (!m) {
            g->failed = 1;
            return NULL;
        }
        g->mem = m;
        g->cap_mem = cap;
    }
    void *p = calloc(1, bytes ? bytes : 1);
    if (!p) {
        g->failed = 1;
        return NULL;
    }
    g->mem[g->n_mem++] = p;
    return p;
}

static void arena_free(ot_onnx_t *g)
{
    for (size_t i = 0; i < g->n_mem; i++)
        free(g->mem[i]);
    free(g->mem);
    free(g->nodes);
    free(g->inits);
}

/* A formatted string in the arena. */
__attribute__((format(printf, 2, 3))) static char *str(ot_onnx_t *g, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n < 0 ? NULL : arena(g, (size_t)n + 1);
    if (!s) {
        g->failed = 1;
        return NULL;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Append p to the growing array *v (count *n, room *cap). */
static void push(ot_onnx_t *g, void ***v, size_t *n, size_t *cap, void *p)
{
    if (g->failed || !p)
        return;
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 64;
        void **m = realloc(*v, c * sizeof *m);
        if (!m) {
            g->failed = 1;
            return;
        }
        *v = m;
        *cap = c;
    }
    (*v)[(*n)++] = p;
}

/* ---------------------------------------------------------------- graph pieces */

/* A node op(inputs) -> output, named name. */
static int add_node(ot_onnx_t *g, const char *name, const char *op, const char *const *inputs,
                    size_t n_in, const ot_onnx_attr_t *attrs, size_t n_attrs,
                    const char *output, const char *doc)
{
    Onnx__NodeProto *nd = arena(g, sizeof *nd);
    char **in = arena(g, n_in * sizeof *in), **out = arena(g, sizeof *out);
    Onnx__AttributeProto **at = arena(g, n_attrs * sizeof *at);
    if (!nd || !in || !out || !at)
        return -1;
    onnx__node_proto__init(nd);
    for (size_t i = 0; i < n_in; i++)
        in[i] = str(g, "%s", inputs[i]);
    out[0] = str(g, "%s", output);
    nd->n_input = n_in;
    nd->input = in;
    nd->n_output = 1;
    nd->output = out;
    nd->name = str(g, "%s", name);
    nd->op_type = str(g, "%s", op);
    nd->doc_string = doc ? str(g, "%s", doc) : NULL;
    for (size_t i = 0; i < n_attrs; i++) {
        Onnx__AttributeProto *a = arena(g, sizeof *a);
        if (!a)
            return -1;
        onnx__attribute_proto__init(a);
        a->name = str(g, "%s", attrs[i].name);
        a->has_type = 1;
        switch (attrs[i].kind) {
        case OT_ONNX_ATTR_INT:
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
            a->has_i = 1;
            a->i = attrs[i].i;
            break;
        case OT_ONNX_ATTR_INTS:
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
            a->n_ints = attrs[i].n_ints;
            if ((a->ints = arena(g, attrs[i].n_ints * sizeof *a->ints)))
                memcpy(a->ints, attrs[i].ints, attrs[i].n_ints * sizeof *a->ints);
            break;
        case OT_ONNX_ATTR_FLOAT:
            a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
            a->has_f = 1;
            a->f = attrs[i].f;
            break;
        }
        at[i] = a;
    }
    nd->n_attribute = n_attrs;
    nd->attribute = at;
    push(g, (void ***)&g->nodes, &g->n_nodes, &g->cap_nodes, nd);
    return g->failed ? -1 : 0;
}

/* An initializer named name of data type dtype and shape dims: its TensorProto, whose data
 * the caller points at (float_data or int64_data). */
static Onnx__TensorProto *add_init(ot_onnx_t *g, const char *name, int32_t dtype, size_t rank,
                                   const int64_t *dims)
{
    Onnx__TensorProto *t = arena(g, sizeof *t);
    int64_t *d = arena(g, rank * sizeof *d);
    if (!t || !d)
        return NULL;
    onnx__tensor_proto__init(t);
    memcpy(d, dims, rank * sizeof *d);
    t->n_dims = rank;
    t->dims = d;
    t->has_data_type = 1;
    t->data_type = dtype;
    t->name = str(g, "%s", name);
    push(g, (void ***)&g->inits, &g->n_inits, &g->cap_inits, t);
    return g->failed ? NULL : t;
}

static size_t count_of(size_t rank, const int64_t *dims)
{
    size_t n = 1;
    for (size_t i = 0; i < rank; i++)
        n *= (size_t)dims[i];
    return n;
}

/* A float initializer named name (rank 1 to 4): its zeroed data in the arena. */
static float *float_init(ot_onnx_t *g, const char *name, size_t rank, const int64_t *dims)
{
    const size_t n = count_of(rank, dims);
    Onnx__TensorProto *t = add_init(g, name, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, rank, dims);
    float *data = t ? arena(g, n * sizeof *data) : NULL;
    if (!data)
        return NULL;
    t->n_float_data = n;
    t->float_data = data;
    return data;
}

/* A value's type: float32 or int64 with the shape (N, dims...), N symbolic. */
static Onnx__ValueInfoProto *value_info(ot_onnx_t *g, const char *name, int32_t elem,
                                        size_t rank, const int64_t *dims, const char *doc)
{
    Onnx__ValueInfoProto *v = arena(g, sizeof *v);
    Onnx__TypeProto *tp = arena(g, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = arena(g, sizeof *tt);
    Onnx__TensorShapeProto *sh = arena(g, sizeof *sh);
    Onnx__TensorShapeProto__Dimension **d = arena(g, (rank + 1) * sizeof *d);
    if (!v || !tp || !tt || !sh || !d)
        return NULL;
    onnx__value_info_proto__init(v);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    onnx__tensor_shape_proto__init(sh);
    for (size_t i = 0; i <= rank; i++) {
        if (!(d[i] = arena(g, sizeof *d[i])))
            return NULL;
        onnx__tensor_shape_proto__dimension__init(d[i]);
        if (i == 0) {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d[i]->dim_param = str(g, "N");
        } else {
            d[i]->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d[i]->dim_value = dims[i - 1];
        }
    }
    sh->n_dim = rank + 1;
    sh->dim = d;
    tt->has_elem_type = 1;
    tt->elem_type = elem;
    tt->shape = sh;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    v->name = str(g, "%s", name);
    v->type = tp;
    v->doc_string = doc ? str(g, "%s", doc) : NULL;
    return v;
}

/* ---------------------------------------------------------------- the kinds' interface */

const char *ot_onnx_value(const ot_onnx_t *g)
{
    return g->value;
}

ot_onnx_layout_t ot_onnx_layout(const ot_onnx_t *g)
{
    return g->layout;
}

size_t ot_onnx_feature(const ot_onnx_t *g, size_t i)
{
    if (g->layout != OT_ONNX_FLAT_CHW)
        return i;
    const size_t C = g->from.c, H = g->from.h, W = g->from.w;
    const size_t c = i / (H * W), h = i / W % H, w = i % W; /* ONNX: (c, h, w) */
    return (h * W + w) * C + c;                               /* omptrain: (h, w, c) */
}

int ot_onnx_flatten(ot_onnx_t *g)
{
    if (g->layout != OT_ONNX_IMAGE)
        return g->failed ? -1 : 0;
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "%s/flatten", g->L->name);
    const char *in[1] = {g->value};
    const ot_onnx_attr_t axis = OT_ONNX_INT("axis", 1);
    if (add_node(g, name, "Flatten", in, 1, &axis, 1, name, NULL))
        return -1;
    g->value = g->nodes[g->n_nodes - 1]->output[0];
    g->layout = OT_ONNX_FLAT_CHW;
    g->from = g->L->in;
    return 0;
}

int ot_onnx_flatten_natural(ot_onnx_t *g)
{
    if (ot_onnx_flatten(g))
        return -1;
    if (g->layout != OT_ONNX_FLAT_CHW)
        return 0;
    const size_t D = ot_shape_size(&g->from);
    int identity = 1;
    for (size_t i = 0; i < D; i++)
        identity &= ot_onnx_feature(g, i) == i;
    if (identity) { /* one channel, or one position: the two orders agree */
        g->layout = OT_ONNX_FLAT;
        return 0;
    }
    /* Gather(x, idx, axis 1): output feature j (omptrain's) is ONNX feature idx[j] */
    char name[NAME_MAX_LEN], idx_name[NAME_MAX_LEN + 16];
    snprintf(name, sizeof name, "%s/to_nhwc", g->L->name);
    snprintf(idx_name, sizeof idx_name, "%s/indices", name);
    const int64_t dims[1] = {(int64_t)D};
    Onnx__TensorProto *t = add_init(g, idx_name, ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 1, dims);
    int64_t *idx = t ? arena(g, D * sizeof *idx) : NULL;
    if (!idx)
        return -1;
    for (size_t i = 0; i < D; i++)
        idx[ot_onnx_feature(g, i)] = (int64_t)i;
    t->n_int64_data = D;
    t->int64_data = idx;
    const char *in[2] = {g->value, t->name};
    const ot_onnx_attr_t axis = OT_ONNX_INT("axis", 1);
    if (add_node(g, name, "Gather", in, 2, &axis, 1, name, NULL))
        return -1;
    g->value = g->nodes[g->n_nodes - 1]->output[0];
    g->layout = OT_ONNX_FLAT;
    return 0;
}

float *ot_onnx_tensor(ot_onnx_t *g, const char *what, size_t rank, const int64_t *dims,
                      const char **name)
{
    char full[NAME_MAX_LEN];
    if (snprintf(full, sizeof full, "%s/%s", g->L->name, what) >= (int)sizeof full) {
        g->failed = 1;
        return NULL;
    }
    float *data = float_init(g, full, rank, dims);
    if (data && name)
        *name = g->inits[g->n_inits - 1]->name;
    return data;
}

int ot_onnx_node(ot_onnx_t *g, const char *op, const char *suffix, const char *const *inputs,
                 size_t n_in, const ot_onnx_attr_t *attrs, size_t n_attrs,
                 ot_onnx_layout_t out)
{
    char name[NAME_MAX_LEN], doc[256], args[192];
    const ot_layer_t *L = g->L;
    if (snprintf(name, sizeof name, "%s%s%s", L->name, suffix ? "/" : "",
                 suffix ? suffix : "") >= (int)sizeof name) {
        g->failed = 1;
        return -1;
    }
    L->ops->format(L, args, sizeof args);
    snprintf(doc, sizeof doc, "omptrain layer %s: %s%s%s", L->name, L->ops->kind,
             args[0] ? " " : "", args);
    if (add_node(g, name, op, inputs, n_in, attrs, n_attrs, g->last ? "probabilities" : name,
                 doc))
        return -1;
    g->value = g->nodes[g->n_nodes - 1]->output[0];
    if (out != OT_ONNX_KEEP)
        g->layout = out;
    return 0;
}

/* ---------------------------------------------------------------- the model */

/* The standardisation's Sub and Div after the input: mean and std in the input's ONNX
 * layout, (C, 1, 1) by channel or (C, H, W) by feature for an image, (D) for a vector. */
static int standardise(ot_onnx_t *g, const ot_input_t *in)
{
    const ot_shape_t *s = &in->shape;
    int64_t dims[3];
    size_t rank;
    if (s->flat) {
        dims[0] = (int64_t)ot_shape_size(s), rank = 1;
    } else if (in->by == OT_NORM_BY_CHANNEL) {
        dims[0] = (int64_t)s->c, dims[1] = dims[2] = 1, rank = 3;
    } else {
        dims[0] = (int64_t)s->c, dims[1] = (int64_t)s->h, dims[2] = (int64_t)s->w, rank = 3;
    }
    float *mean = float_init(g, "input/mean", rank, dims);
    float *std = float_init(g, "input/std", rank, dims);
    if (!mean || !std)
        return -1;
    const size_t n = count_of(rank, dims);
    for (size_t i = 0; i < n; i++) { /* ONNX (c, h, w) <- omptrain (h, w, c) */
        size_t j = i;
        if (!s->flat && in->by == OT_NORM_BY_FEATURE) {
            const size_t c = i / (s->h * s->w), h = i / s->w % s->h, w = i % s->w;
            j = (h * s->w + w) * s->c + c;
        }
        mean[i] = in->by == OT_NORM_BY_CHANNEL && !s->flat ? in->mean[i] : in->mean_x[j];
        std[i] = in->by == OT_NORM_BY_CHANNEL && !s->flat ? in->std[i] : in->std_x[j];
    }
    const char *sub_in[2] = {g->value, "input/mean"};
    if (add_node(g, "input/sub_mean", "Sub", sub_in, 2, NULL, 0, "input/sub_mean",
                 "data.normalize = mean_std: x - mean"))
        return -1;
    const char *div_in[2] = {"input/sub_mean", "input/std"};
    if (add_node(g, "input/div_std", "Div", div_in, 2, NULL, 0, "input/div_std",
                 "data.normalize = mean_std: (x - mean) / std"))
        return -1;
    g->value = g->nodes[g->n_nodes - 1]->output[0];
    return 0;
}

/* How the input is standardised, in a few words (ot_input_str's, without linking input.c,
 * which the fuzz targets leave out). */
static void input_how(const ot_input_t *in, char *buf, size_t n)
{
    if (in->normalize == OT_NORM_NONE)
        snprintf(buf, n, "as stored (data.normalize = none)");
    else
        snprintf(buf, n, "standardised by %s (data.normalize = mean_std): (x - input/mean) / "
                 "input/std", in->by == OT_NORM_BY_CHANNEL ? "channel" : "feature");
}

/* key = value metadata */
static Onnx__StringStringEntryProto *meta(ot_onnx_t *g, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = arena(g, sizeof *e);
    if (!e)
        return NULL;
    onnx__string_string_entry_proto__init(e);
    e->key = str(g, "%s", key);
    e->value = str(g, "%s", value);
    return e;
}

/* The refusal of a model larger than one protobuf message may be: bytes is its size (exact),
 * or what it is at least (exact 0). Returns OT_EINVAL after one line. */
static int too_big(const struct ot_net *net, size_t bytes, int exact)
{
    ot_error("the model's ONNX file would be %s%zu bytes (%zu parameters), over the %zu "
             "bytes of one protobuf message, the most onnx and ONNX Runtime read (omptrain "
             "does not write ONNX's external data); expected a model of fewer than %zu "
             "million parameters", exact ? "" : "at least ", bytes, net->n_params,
             (size_t)OT_ONNX_MAX_BYTES, (size_t)OT_ONNX_MAX_BYTES / sizeof(float) / 1000000);
    return OT_EINVAL;
}

int ot_onnx_export(const struct ot_net *net, const ot_input_t *in, const char *doc,
                   void **data, size_t *size)
{
    ot_onnx_t g = {0};
    char shape[64], input_doc[512], how[160];
    int rc = OT_ENOMEM;
    *data = NULL;
    *size = 0;
    /* every parameter is a float of some initializer: a model past the limit is refused
     * before its copy is made (the packed size is checked below too) */
    if (net->n_params > OT_ONNX_MAX_BYTES / sizeof(float))
        return too_big(net, net->n_params * sizeof(float), 0);
    const ot_shape_t *s = &in->shape;
    const int64_t img[3] = {(int64_t)s->c, (int64_t)s->h, (int64_t)s->w};
    const int64_t flat[1] = {(int64_t)ot_shape_size(s)};
    input_how(in, how, sizeof how);
    snprintf(input_doc, sizeof input_doc,
             "float32 %s: omptrain's samples of %s (NHWC) as %s, bytes u as u / 255 in [0, 1], "
             "float features as stored; then %s",
             s->flat ? "(N, D)" : "(N, C, H, W), NCHW", ot_shape_str(s, shape, sizeof shape),
             s->flat ? "vectors" : "images", how);
    Onnx__ValueInfoProto *vin = value_info(&g, "input", ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
                                           s->flat ? 1 : 3, s->flat ? flat : img, input_doc);
    g.value = "input";
    g.layout = s->flat ? OT_ONNX_FLAT : OT_ONNX_IMAGE;
    if (in->normalize == OT_NORM_MEAN_STD && standardise(&g, in))
        goto fail;

    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (!L->ops->onnx) {
            ot_error("layer %s (%s) cannot be exported: its kind has no ONNX op", L->name,
                     L->ops->kind);
            rc = OT_EINVAL;
            goto out;
        }
        g.L = L;
        g.last = l + 1 == net->n_layers;
        if (L->ops->onnx(L, &g, net->params, net->state))
            goto fail;
    }
    if (strcmp(g.value, "probabilities") != 0) {
        ot_error("the last layer (%s) left the value '%s', expected 'probabilities'",
                 net->layers[net->n_layers - 1].name, g.value);
        rc = OT_EINVAL;
        goto out;
    }
    const char *am_in[1] = {"probabilities"};
    const ot_onnx_attr_t am[2] = {OT_ONNX_INT("axis", 1), OT_ONNX_INT("keepdims", 0)};
    if (add_node(&g, "class", "ArgMax", am_in, 1, am, 2, "class",
                 "the most probable class (the first of equal maxima, as omptrain)"))
        goto fail;

    const int64_t k[1] = {(int64_t)net->n_classes};
    Onnx__ValueInfoProto *vp = value_info(&g, "probabilities",
                                          ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT, 1, k,
                                          "the class probabilities (softmax)");
    Onnx__ValueInfoProto *vc = value_info(&g, "class", ONNX__TENSOR_PROTO__DATA_TYPE__INT64, 0,
                                          NULL, "the arg-max of probabilities");
    Onnx__GraphProto *graph = arena(&g, sizeof *graph);
    Onnx__ValueInfoProto **ins = arena(&g, sizeof *ins), **outs = arena(&g, 2 * sizeof *outs);
    Onnx__OperatorSetIdProto *opset = arena(&g, sizeof *opset);
    Onnx__OperatorSetIdProto **opsets = arena(&g, sizeof *opsets);
    Onnx__StringStringEntryProto **props = arena(&g, 3 * sizeof *props);
    if (!graph || !ins || !outs || !opset || !opsets || !props || !vin || !vp || !vc)
        goto fail;
    onnx__graph_proto__init(graph);
    graph->name = str(&g, "omptrain");
    graph->doc_string = str(&g, "%s", doc);
    graph->n_node = g.n_nodes;
    graph->node = g.nodes;
    graph->n_initializer = g.n_inits;
    graph->initializer = g.inits;
    ins[0] = vin;
    outs[0] = vp;
    outs[1] = vc;
    graph->n_input = 1;
    graph->input = ins;
    graph->n_output = 2;
    graph->output = outs;
    onnx__operator_set_id_proto__init(opset);
    opset->domain = str(&g, "%s", "");
    opset->has_version = 1;
    opset->version = OT_ONNX_OPSET;
    opsets[0] = opset;
    props[0] = meta(&g, "input_layout", s->flat ? "N,D float32" : "N,C,H,W float32 (NCHW)");
    props[1] = meta(&g, "input_scale", "bytes u as u / 255, floats as stored");
    props[2] = meta(&g, "normalize", how);

    Onnx__ModelProto model = ONNX__MODEL_PROTO__INIT;
    model.has_ir_version = 1;
    model.ir_version = OT_ONNX_IR_VERSION;
    model.n_opset_import = 1;
    model.opset_import = opsets;
    model.producer_name = str(&g, "omptrain");
    model.producer_version = str(&g, "%s", OT_VERSION);
    model.has_model_version = 1;
    model.model_version = 1;
    model.doc_string = str(&g, "%s", doc);
    model.graph = graph;
    model.n_metadata_props = 3;
    model.metadata_props = props;
    if (g.failed || !props[0] || !props[1] || !props[2])
        goto fail;

    size_t n = onnx__model_proto__get_packed_size(&model);
    if (n > OT_ONNX_MAX_BYTES) {
        rc = too_big(net, n, 1);
        goto out;
    }
    if (!(*data = malloc(n ? n : 1)))
        goto fail;
    if (onnx__model_proto__pack(&model, *data) != n) {
        free(*data);
        *data = NULL;
        ot_error("the ONNX model could not be serialised");
        rc = OT_EFORMAT;
        goto out;
    }
    *size = n;
    rc = OT_OK;
    goto out;
fail:
    ot_error("cannot build the ONNX model: out of memory or a name longer than %d characters",
             NAME_MAX_LEN - 1);
    rc = OT_ENOMEM;
out:
    arena_free(&g);
    return rc;
}
