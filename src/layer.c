/* layer.c - what every layer kind shares: shapes as text, the init scale, and the ops of kinds
 * without arguments (see ot_layer.h). */
#include "ot_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_onnx.h"

const char *ot_shape_str(const ot_shape_t *s, char *buf, size_t n)
{
    if (s->flat)
        snprintf(buf, n, "%zu", ot_shape_size(s));
    else
        snprintf(buf, n, "%zux%zux%zu", s->h, s->w, s->c);
    return buf;
}

const char *ot_tensor_shape_str(const struct ot_tensor *t, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < t->rank && used < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%zu", i ? "x" : "", t->shape[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

double ot_init_std(const ot_config_t *c, size_t fan_in)
{
    return c->init == OT_INIT_HE       ? sqrt(2.0 / (double)fan_in)
           : c->init == OT_INIT_XAVIER ? sqrt(1.0 / (double)fan_in)
                                       : c->init_std;
}

int ot_layer_parse_size(const char *word, size_t lo, size_t hi, size_t *out)
{
    if (!word || *word < '0' || *word > '9')
        return -1;
    char *end;
    unsigned long long v = strtoull(word, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = (size_t)v;
    return 0;
}

int ot_layer_parse_none(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    (void)L, (void)argv;
    if (argc > 0) {
        snprintf(err, n, "no arguments");
        return -1;
    }
    return 0;
}

int ot_shape_eq(const ot_shape_t *a, const ot_shape_t *b)
{
    return a->c == b->c && a->h == b->h && a->w == b->w && !a->flat == !b->flat;
}

void ot_layer_format_none(const ot_layer_t *L, char *buf, size_t n)
{
    (void)L;
    if (n > 0)
        buf[0] = '\0';
}

int ot_layer_shape_same(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)c, (void)err, (void)n;
    L->out = L->in;
    return 0;
}

/* "5x5" or "5" into kh, kw */
int ot_layer_parse_window(const char *w, size_t *kh, size_t *kw)
{
    char a[32], *x;
    if (strlen(w) >= sizeof a)
        return -1;
    snprintf(a, sizeof a, "%s", w);
    if ((x = strchr(a, 'x'))) {
        *x = '\0';
        return ot_layer_parse_size(a, 1, OT_MAX_SIDE, kh) < 0 ||
                       ot_layer_parse_size(x + 1, 1, OT_MAX_SIDE, kw) < 0
                   ? -1
                   : 0;
    }
    if (ot_layer_parse_size(a, 1, OT_MAX_SIDE, kh) < 0)
        return -1;
    *kw = *kh;
    return 0;
}

/* "stride S" and "pad P", in any order, each once, after the leading words */
int ot_layer_parse_stride_pad(int argc, char **argv, size_t *stride, size_t *pad, char *err,
                              size_t n)
{
    int at[2] = {-1, -1}; /* where stride and pad were given */
    for (int i = 0; i < argc; i += 2) {
        size_t *to = strcmp(argv[i], "stride") == 0 ? stride
                     : strcmp(argv[i], "pad") == 0 && pad ? pad
                                                          : NULL;
        size_t lo = to == stride ? 1 : 0;
        if (!to) {
            snprintf(err, n, "'%s' is not %s", argv[i], pad ? "stride S or pad P" : "stride S");
            return -1;
        }
        if (i + 1 == argc) {
            snprintf(err, n, "'%s' without its value", argv[i]);
            return -1;
        }
        if (ot_layer_parse_size(argv[i + 1], lo, OT_MAX_SIDE, to) < 0) {
            snprintf(err, n, "'%s %s': %s must be an integer in [%zu, %d]", argv[i], argv[i + 1],
                     to == stride ? "S" : "P", lo, OT_MAX_SIDE);
            return -1;
        }
        int *first = &at[to != stride];
        if (*first >= 0) {
            snprintf(err, n, "'%s %s' after '%s %s': %s once", argv[i], argv[i + 1],
                     argv[*first], argv[*first + 1], to == stride ? "stride S" : "pad P");
            return -1;
        }
        *first = i;
    }
    return 0;
}

/* One side of the output: (in + 2 pad - k) / stride + 1, which must come out whole. Returns
 * 0, or -1 with why in err. */
int ot_layer_out_side(const char *axis, size_t in, size_t k, size_t stride, size_t pad,
                      size_t *out, char *err, size_t n)
{
    if (k > in + 2 * pad) {
        snprintf(err, n, "the window (%zu) is larger than the %s (%zu with padding %zu), "
                 "expected at most %zu", k, axis, in, pad, in + 2 * pad);
        return -1;
    }
    /* the windows that fit; the input rows after the last one's end must be padding only */
    size_t o = (in + 2 * pad - k) / stride + 1, end = (o - 1) * stride + k; /* in padded rows */
    if (end < in + pad) {
        snprintf(err, n, "stride %zu does not fit the %s: windows of %zu at stride %zu (pad "
                 "%zu) leave out the last %zu of its %zu %s; expected a stride, window or "
                 "padding that covers them", stride, axis, k, stride, pad, in + pad - end, in,
                 strcmp(axis, "width") == 0 ? "columns" : "rows");
        return -1;
    }
    *out = o;
    return 0;
}

/* ---- pooling kinds: "KIND WINDOW [stride S]", the stride the window's height by default */

int ot_pool_parse(ot_layer_t *L, int argc, char **argv, char *err, size_t n)
{
    ot_pool_args_t *a = OT_LAYER_ARGS(ot_pool_args_t, L);
    if (argc < 1) {
        snprintf(err, n, "a window size");
        return -1;
    }
    if (ot_layer_parse_window(argv[0], &a->kh, &a->kw) < 0) {
        snprintf(err, n, "'%s': WINDOW must be an integer in [1, %d], or two as KHxKW (2 for "
                 "2x2)", argv[0], OT_MAX_SIDE);
        return -1;
    }
    a->stride = a->kh;
    return ot_layer_parse_stride_pad(argc - 1, argv + 1, &a->stride, NULL, err, n);
}

void ot_pool_format(const ot_layer_t *L, char *buf, size_t n)
{
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, L);
    snprintf(buf, n, "%zux%zu stride %zu", a->kh, a->kw, a->stride);
}

int ot_pool_shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)c;
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, L);
    size_t oh, ow;
    if (L->in.flat) {
        snprintf(err, n, "expected an image (HxWxC), got a flat vector; put pooling before any "
                 "affine or flatten");
        return -1;
    }
    if (ot_layer_out_side("height", L->in.h, a->kh, a->stride, 0, &oh, err, n) < 0 ||
        ot_layer_out_side("width", L->in.w, a->kw, a->stride, 0, &ow, err, n) < 0)
        return -1;
    L->out = (ot_shape_t){L->in.c, oh, ow, 0};
    return 0;
}

ot_conv_geom_t ot_pool_geom(const ot_layer_t *L)
{
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, L);
    return (ot_conv_geom_t){L->in.h, L->in.w, L->in.c, a->kh, a->kw, a->stride, 0, L->out.h,
                            L->out.w};
}

int ot_pool_onnx(const ot_layer_t *L, ot_onnx_t *g, const char *op)
{
    const ot_pool_args_t *a = OT_LAYER_ARGS(const ot_pool_args_t, L);
    const int64_t k[2] = {(int64_t)a->kh, (int64_t)a->kw},
                  s[2] = {(int64_t)a->stride, (int64_t)a->stride};
    const ot_onnx_attr_t attrs[2] = {OT_ONNX_INTS("kernel_shape", k, 2),
                                     OT_ONNX_INTS("strides", s, 2)};
    const char *in[1] = {ot_onnx_value(g)};
    return ot_onnx_node(g, op, NULL, in, 1, attrs, 2, OT_ONNX_IMAGE);
}
