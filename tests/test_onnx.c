/* test_onnx.c - the ONNX exporter (src/onnx.c and every kind's onnx op): the model is packed,
 * read back with protobuf-c's own unpacker, and checked for the graph's names, shapes and
 * operators, and for the NHWC-to-NCHW conversions: a convolution's kernel, the rows of an
 * Affine and the statistics of a batch norm after a flattened image, the standardisation's
 * statistics and the Gather that puts classes back in omptrain's order. (The numbers of whole
 * models against ONNX Runtime and onnx.checker are tests/onnx.sh's.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx.pb-c.h"
#include "ot_common.h"
#include "ot_net.h"
#include "ot_onnx.h"
#include "ot_test.h"

/* A net of stack (model.layers) on input in with parameters and running statistics drawn at
 * random, exported and unpacked; returns the model (free with free_model). */
static Onnx__ModelProto *export_stack(ot_net_t *net, const char *stack, int classes,
                                      const ot_shape_t *in, const ot_input_t *input)
{
    ot_config_t c;
    char set[600];
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "onnx.ini");
    snprintf(set, sizeof set, "model.layers=%s", stack);
    c.n_classes = classes;
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    CU_ASSERT_FATAL(ot_net_init(net, &c, in) == OT_OK);
    ot_rng_t rng;
    ot_rng_seed(&rng, 7);
    ot_net_init_params(net, &c, &rng);
    for (size_t i = 0; i < net->n_params; i++) /* biases and batch norm away from 0 and 1 */
        net->params[i] += (float)(0.1 * ot_rng_normal(&rng));
    for (size_t i = 0; i < net->n_state; i++)
        net->state[i] = 0.5f + (float)ot_rng_uniform(&rng);
    ot_input_t plain;
    if (!input) {
        ot_input_init(&plain, in);
        input = &plain;
    }
    void *data = NULL;
    size_t size = 0;
    CU_ASSERT_FATAL(ot_onnx_export(net, input, "test", &data, &size) == OT_OK);
    Onnx__ModelProto *m = onnx__model_proto__unpack(NULL, size, data);
    free(data);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    return m;
}

static void free_model(Onnx__ModelProto *m, ot_net_t *net)
{
    onnx__model_proto__free_unpacked(m, NULL);
    ot_net_free(net);
}

/* The graph's node ops, space-separated, into buf. */
static const char *ops_of(const Onnx__GraphProto *g, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->n_node && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? " " : "", g->node[i]->op_type);
    return buf;
}

static const Onnx__TensorProto *init_named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

static const Onnx__NodeProto *node_named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_node; i++)
        if (strcmp(g->node[i]->name, name) == 0)
            return g->node[i];
    return NULL;
}

/* A value's dimensions as "N,1,28,28" (N: the symbolic batch). */
static const char *dims_of(const Onnx__ValueInfoProto *v, char *buf, size_t n)
{
    const Onnx__TensorShapeProto *s = v->type->tensor_type->shape;
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < s->n_dim && used < n; i++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            used += (size_t)snprintf(buf + used, n - used, "%s%s", i ? "," : "", d->dim_param);
        else
            used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? "," : "",
                                     (long long)d->dim_value);
    }
    return buf;
}

/* omptrain's (NHWC) index of ONNX feature i of an image of shape s flattened in (c, h, w)
 * order: written out here apart from the exporter's own */
static size_t nhwc_of_chw(const ot_shape_t *s, size_t i)
{
    const size_t c = i / (s->h * s->w), h = (i / s->w) % s->h, w = i % s->w;
    return h * s->w * s->c + w * s->c + c;
}

/* The textbook's MLP on MNIST images: names, shapes, operators, weights as they are. */
static void test_mlp(void)
{
    ot_net_t net;
    char buf[256];
    const ot_shape_t in = {1, 28, 28, 0};
    Onnx__ModelProto *m = export_stack(&net, "affine 50, relu, affine 10", 10, &in, NULL);
    const Onnx__GraphProto *g = m->graph;
    CU_ASSERT_EQUAL(m->ir_version, OT_ONNX_IR_VERSION);
    CU_ASSERT_EQUAL_FATAL(m->n_opset_import, 1);
    CU_ASSERT_EQUAL(m->opset_import[0]->version, 13);
    CU_ASSERT_STRING_EQUAL(m->opset_import[0]->domain, "");
    CU_ASSERT_STRING_EQUAL(m->producer_name, "omptrain");
    CU_ASSERT_EQUAL_FATAL(g->n_input, 1);
    CU_ASSERT_STRING_EQUAL(g->input[0]->name, "input");
    CU_ASSERT_STRING_EQUAL(dims_of(g->input[0], buf, sizeof buf), "N,1,28,28");
    CU_ASSERT_EQUAL(g->input[0]->type->tensor_type->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT);
    CU_ASSERT_EQUAL_FATAL(g->n_output, 2);
    CU_ASSERT_STRING_EQUAL(g->output[0]->name, "probabilities");
    CU_ASSERT_STRING_EQUAL(dims_of(g->output[0], buf, sizeof buf), "N,10");
    CU_ASSERT_STRING_EQUAL(g->output[1]->name, "class");
    CU_ASSERT_STRING_EQUAL(dims_of(g->output[1], buf, sizeof buf), "N");
    CU_ASSERT_EQUAL(g->output[1]->type->tensor_type->elem_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    CU_ASSERT_STRING_EQUAL(ops_of(g, buf, sizeof buf), "Flatten Gemm Relu Gemm Softmax ArgMax");
    static const char *const names[] = {"affine1/flatten", "affine1", "relu1", "affine2",
                                        "softmax_loss", "class"};
    for (size_t i = 0; i < g->n_node && i < 6; i++)
        CU_ASSERT_STRING_EQUAL(g->node[i]->name, names[i]);
    CU_ASSERT_STRING_EQUAL(g->node[4]->output[0], "probabilities"); /* the last layer's */
    CU_ASSERT_STRING_EQUAL(g->node[3]->doc_string, "omptrain layer affine2: affine 10");
    const Onnx__TensorProto *W = init_named(g, "affine1/W");
    CU_ASSERT_PTR_NOT_NULL_FATAL(W);
    CU_ASSERT(W->n_dims == 2 && W->dims[0] == 784 && W->dims[1] == 50);
    CU_ASSERT_EQUAL_FATAL(W->n_float_data, 784 * 50);
    /* one channel: (c, h, w) and (h, w, c) are the same order, the rows are W's own */
    const ot_tensor_t *t = ot_net_tensor(&net, "affine1/W");
    CU_ASSERT_EQUAL(memcmp(W->float_data, net.params + t->off, 784 * 50 * sizeof(float)), 0);
    free_model(m, &net);
}

/* A vector input (HDF5 N x D): (N, D), no Flatten. */
static void test_vectors(void)
{
    ot_net_t net;
    char buf[256];
    const ot_shape_t in = {4, 1, 1, 1};
    Onnx__ModelProto *m = export_stack(&net, "affine 8, sigmoid, dropout 0.5, affine 3", 3, &in,
                                       NULL);
    CU_ASSERT_STRING_EQUAL(dims_of(m->graph->input[0], buf, sizeof buf), "N,4");
    /* dropout emits nothing at inference */
    CU_ASSERT_STRING_EQUAL(ops_of(m->graph, buf, sizeof buf), "Gemm Sigmoid Gemm Softmax ArgMax");
    CU_ASSERT_STRING_EQUAL(m->graph->node[2]->input[0], "sigmoid1");
    free_model(m, &net);
}

/* A CNN on 6x6x2 images: the kernel as (F, C, KH, KW), batch norm per channel on the image
 * and per ONNX feature after the flatten, the Affine's rows in (c, h, w) order. */
static void test_cnn_layouts(void)
{
    ot_net_t net;
    char buf[256];
    const ot_shape_t in = {2, 6, 6, 0};
    Onnx__ModelProto *m = export_stack(&net, "conv 3 3x3 pad 1, batchnorm, relu, maxpool 2, "
                                             "flatten, batchnorm, affine 4, relu, affine 5",
                                       5, &in, NULL);
    const Onnx__GraphProto *g = m->graph;
    CU_ASSERT_STRING_EQUAL(ops_of(g, buf, sizeof buf),
                           "Conv BatchNormalization Relu MaxPool Flatten BatchNormalization "
                           "Gemm Relu Gemm Softmax ArgMax");
    /* the kernel */
    const Onnx__TensorProto *W = init_named(g, "conv1/W");
    const ot_tensor_t *t = ot_net_tensor(&net, "conv1/W");
    CU_ASSERT_PTR_NOT_NULL_FATAL(W);
    CU_ASSERT(W->n_dims == 4 && W->dims[0] == 3 && W->dims[1] == 2 && W->dims[2] == 3 &&
              W->dims[3] == 3);
    size_t wrong = 0;
    for (size_t f = 0; f < 3; f++)
        for (size_t c = 0; c < 2; c++)
            for (size_t ky = 0; ky < 3; ky++)
                for (size_t kx = 0; kx < 3; kx++)
                    wrong += W->float_data[((f * 2 + c) * 3 + ky) * 3 + kx] !=
                             net.params[t->off + ((ky * 3 + kx) * 2 + c) * 3 + f];
    CU_ASSERT_EQUAL(wrong, 0);
    const Onnx__NodeProto *conv = node_named(g, "conv1");
    CU_ASSERT_PTR_NOT_NULL_FATAL(conv);
    CU_ASSERT_EQUAL_FATAL(conv->n_attribute, 3);
    CU_ASSERT_STRING_EQUAL(conv->attribute[2]->name, "pads");
    CU_ASSERT(conv->attribute[2]->n_ints == 4 && conv->attribute[2]->ints[0] == 1 &&
              conv->attribute[2]->ints[3] == 1);
    /* batch norm on the image: per channel, as stored */
    const Onnx__TensorProto *g1 = init_named(g, "bn1/gamma");
    const ot_tensor_t *tg1 = ot_net_tensor(&net, "bn1/gamma");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g1);
    CU_ASSERT(g1->n_float_data == 3 &&
              memcmp(g1->float_data, net.params + tg1->off, 3 * sizeof(float)) == 0);
    /* after the flatten (of the 3x3x3 pooled image): ONNX feature i is omptrain's
     * nhwc_of_chw(i), for batch norm's parameters and running statistics and the Affine's
     * rows */
    const ot_shape_t pooled = {3, 3, 3, 0};
    const Onnx__TensorProto *g2 = init_named(g, "bn2/gamma"), *v2 = init_named(g, "bn2/running_var");
    const Onnx__TensorProto *A = init_named(g, "affine1/W");
    const ot_tensor_t *tg2 = ot_net_tensor(&net, "bn2/gamma"), *tA = ot_net_tensor(&net, "affine1/W");
    const ot_layer_t *bn2 = ot_net_layer(&net, "bn2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(g2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v2);
    CU_ASSERT_PTR_NOT_NULL_FATAL(A);
    CU_ASSERT(A->n_dims == 2 && A->dims[0] == 27 && A->dims[1] == 4);
    wrong = 0;
    size_t moved = 0;
    for (size_t i = 0; i < 27; i++) {
        const size_t j = nhwc_of_chw(&pooled, i);
        moved += j != i;
        wrong += g2->float_data[i] != net.params[tg2->off + j];
        wrong += v2->float_data[i] != net.state[bn2->s_off + bn2->s_len - 27 + j];
        wrong += memcmp(A->float_data + i * 4, net.params + tA->off + j * 4, 4 * sizeof(float)) != 0;
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT(moved > 0); /* the check would not notice a missing permutation otherwise */
    const Onnx__NodeProto *bn = node_named(g, "bn2");
    CU_ASSERT_PTR_NOT_NULL_FATAL(bn);
    CU_ASSERT_STRING_EQUAL(bn->input[0], "flatten1/flatten");
    CU_ASSERT_STRING_EQUAL(bn->attribute[0]->name, "epsilon");
    CU_ASSERT_DOUBLE_EQUAL(bn->attribute[0]->f, 1e-5, 1e-12);
    free_model(m, &net);
}

/* Classes that come out of an image of 2x1x5 (no Affine at the end): Softmax must see them in
 * omptrain's (h, w, c) order, which a Gather restores from ONNX's (c, h, w). */
static void test_classes_from_an_image(void)
{
    ot_net_t net;
    char buf[256];
    const ot_shape_t in = {1, 4, 4, 0};
    Onnx__ModelProto *m = export_stack(&net, "conv 5 3x4", 10, &in, NULL);
    const Onnx__GraphProto *g = m->graph;
    CU_ASSERT_STRING_EQUAL(ops_of(g, buf, sizeof buf), "Conv Flatten Gather Softmax ArgMax");
    const Onnx__TensorProto *idx = init_named(g, "softmax_loss/to_nhwc/indices");
    CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
    CU_ASSERT_EQUAL(idx->data_type, ONNX__TENSOR_PROTO__DATA_TYPE__INT64);
    CU_ASSERT_EQUAL_FATAL(idx->n_int64_data, 10);
    /* class j = (h, c) of the 2x1x5 image is ONNX's feature c * 2 + h */
    for (size_t j = 0; j < 10; j++)
        CU_ASSERT_EQUAL(idx->int64_data[j], (int64_t)((j % 5) * 2 + j / 5));
    free_model(m, &net);
}

/* data.normalize = mean_std by feature on 2x2x3 images: Sub and Div first, the statistics in
 * (c, h, w) order; by channel: (C, 1, 1). */
static void test_standardise(void)
{
    ot_net_t net;
    char buf[256];
    const ot_shape_t in = {3, 2, 2, 0};
    ot_dataset_t ds = {0};
    ot_input_t input;
    float x[5 * 12];
    for (size_t i = 0; i < 5 * 12; i++)
        x[i] = (float)((i * 7) % 11) * 0.25f;
    ds.features = x;
    ds.n = 5;
    ds.rows = ds.cols = 2;
    ds.chans = 3;
    ds.dim = 12;
    for (int by = 0; by < 2; by++) {
        ot_input_init(&input, &in);
        CU_ASSERT_FATAL(ot_input_fit(&input, &ds, by ? OT_NORM_BY_FEATURE : OT_NORM_BY_CHANNEL) ==
                        OT_OK);
        Onnx__ModelProto *m = export_stack(&net, "affine 2", 2, &in, &input);
        const Onnx__GraphProto *g = m->graph;
        CU_ASSERT_STRING_EQUAL(ops_of(g, buf, sizeof buf), "Sub Div Flatten Gemm Softmax ArgMax");
        CU_ASSERT_STRING_EQUAL(g->node[2]->input[0], "input/div_std");
        const Onnx__TensorProto *mean = init_named(g, "input/mean"), *sd = init_named(g, "input/std");
        CU_ASSERT_PTR_NOT_NULL_FATAL(mean);
        CU_ASSERT_PTR_NOT_NULL_FATAL(sd);
        CU_ASSERT_EQUAL_FATAL(mean->n_dims, 3);
        CU_ASSERT_EQUAL(mean->dims[0], 3);
        CU_ASSERT_EQUAL(mean->dims[1], by ? 2 : 1);
        size_t wrong = 0;
        for (size_t i = 0; i < mean->n_float_data; i++) {
            const size_t j = by ? nhwc_of_chw(&in, i) : i;
            wrong += mean->float_data[i] != input.mean[j] || sd->float_data[i] != input.std[j];
        }
        CU_ASSERT_EQUAL(wrong, 0);
        free_model(m, &net);
        ot_input_free(&input);
    }
}

/* Every registered kind exports in its conformance example (the loss closes every stack). */
static void test_every_kind(void)
{
    for (size_t k = 0; ot_layer_kinds[k]; k++) {
        const ot_layer_ops_t *ops = ot_layer_kinds[k];
        CU_ASSERT_PTR_NOT_NULL(ops->onnx);
        if (ops->is_loss)
            continue;
        char stack[512];
        snprintf(stack, sizeof stack, "%s%saffine 10", ops->example, ops->example[0] ? ", " : "");
        ot_net_t net;
        const ot_shape_t in = {1, 28, 28, 0};
        Onnx__ModelProto *m = export_stack(&net, stack, 10, &in, NULL);
        int found = 0;
        for (size_t i = 0; i < net.n_layers; i++)
            for (size_t j = 0; j < m->graph->n_node; j++)
                found |= net.layers[i].ops == ops &&
                         strncmp(m->graph->node[j]->name, net.layers[i].name,
                                 strlen(net.layers[i].name)) == 0;
        if (!found && strcmp(ops->kind, "dropout") != 0) /* dropout emits no node */
            fprintf(stderr, "\n  %s: no node named after its layer in '%s'", ops->kind, stack);
        CU_ASSERT(found || strcmp(ops->kind, "dropout") == 0);
        free_model(m, &net);
    }
}

/* A kind without an onnx op: one line naming the layer, OT_EINVAL. */
static void test_kind_without_onnx(void)
{
    ot_net_t net;
    ot_config_t c;
    ot_config_defaults(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=affine 6, relu, affine 10") == OT_OK);
    const ot_shape_t in = {1, 28, 28, 0};
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &in) == OT_OK);
    ot_layer_ops_t relu = *net.layers[1].ops; /* a copy without the op */
    relu.onnx = NULL;
    net.layers[1].ops = &relu;
    ot_input_t input;
    ot_input_init(&input, &in);
    void *data = NULL;
    size_t size = 0;
    OT_EXPECT_ONE_LINE(ot_onnx_export(&net, &input, "test", &data, &size), OT_EINVAL,
                       "layer relu1 (relu) cannot be exported");
    CU_ASSERT_PTR_NULL(data);
    ot_net_free(&net);
}

/* A model past one protobuf message (2 GiB - 1 bytes) is refused in one line before its copy
 * is made: onnx and ONNX Runtime cannot read such a file ("Protobuf parsing failed": a
 * 784-700000-10 model, 556 million parameters, had been written as 2226001229 bytes and
 * "wrote"). The count of a small net is raised here: the check reads nothing else. */
static void test_too_big(void)
{
    ot_net_t net;
    ot_config_t c;
    ot_config_defaults(&c);
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=784, 6, 10") == OT_OK);
    const ot_shape_t in = {1, 28, 28, 0};
    CU_ASSERT_FATAL(ot_net_init(&net, &c, &in) == OT_OK);
    ot_input_t input;
    ot_input_init(&input, &in);
    void *data = NULL;
    size_t size = 0;
    const size_t n_params = net.n_params;
    net.n_params = 556500016;
    OT_EXPECT_ONE_LINE(ot_onnx_export(&net, &input, "test", &data, &size), OT_EINVAL,
                       "the model's ONNX file would be at least 2226000064 bytes (556500016 "
                       "parameters), over the 2147483647 bytes of one protobuf message");
    CU_ASSERT_PTR_NULL(data);
    CU_ASSERT_EQUAL(size, 0);
    net.n_params = OT_ONNX_MAX_BYTES / sizeof(float); /* the most that may pass this check */
    CU_ASSERT_EQUAL(ot_onnx_export(&net, &input, "test", &data, &size), OT_OK);
    free(data);
    net.n_params = n_params;
    ot_net_free(&net);
}

OT_TEST_SUITE(onnx, NULL, NULL,
              {"MLP on images: names, shapes, operators, weights", test_mlp},
              {"vectors: (N, D) input, dropout left out", test_vectors},
              {"CNN: kernel OIHW, batch norm and Affine rows after a flatten", test_cnn_layouts},
              {"classes from an image: a Gather to omptrain's order", test_classes_from_an_image},
              {"standardisation by channel and by feature", test_standardise},
              {"every registered kind exports", test_every_kind},
              {"a kind without an onnx op: one line", test_kind_without_onnx},
              {"a model past protobuf's 2 GiB: one line", test_too_big})
