/* net.c - building a network from model.layers: the stack parsed through the layer registry,
 * shapes inferred layer by layer, tensors laid out in the parameter and state blocks. */
#include "ot_net.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"

/* Round offsets up to a cache line so that every tensor starts aligned. */
static size_t align_floats(size_t n)
{
    const size_t per_line = OT_ALIGN / sizeof(float);
    return (n + per_line - 1) / per_line * per_line;
}

/* ---------------------------------------------------------------- parsing a stack */

#define MAX_WORDS 16

/* Split item (modified) at blanks into words; returns their count, or -1 past MAX_WORDS. */
static int split_words(char *item, char **words)
{
    int n = 0;
    for (char *s = strtok(item, " \t"); s; s = strtok(NULL, " \t")) {
        if (n == MAX_WORDS)
            return -1;
        words[n++] = s;
    }
    return n;
}

int ot_stack_parse(const char *text, ot_layer_t *layers, size_t max, size_t *n, char *err,
                   size_t err_n)
{
    *n = 0;
    const char *s = text;
    for (size_t item = 1;; item++) {
        size_t len = strcspn(s, ",");
        char buf[256], copy[256], *words[MAX_WORDS], why[160] = "";
        if (len >= sizeof buf) {
            snprintf(err, err_n, "layer %zu is too long (%zu characters), expected at most %zu",
                     item, len, sizeof buf - 1);
            return -1;
        }
        memcpy(buf, s, len);
        buf[len] = '\0';
        /* the item as the messages show it: without surrounding blanks */
        size_t a = strspn(buf, " \t"), b = len;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t'))
            b--;
        snprintf(copy, sizeof copy, "%.*s", (int)(b - a), buf + a);
        int argc = split_words(buf, words);
        if (argc < 0) {
            snprintf(err, err_n, "layer %zu '%s': more than %d words, expected a kind and its "
                     "arguments", item, copy, MAX_WORDS);
            return -1;
        }
        if (argc == 0) {
            snprintf(err, err_n, "layer %zu is empty, expected a layer such as 'affine 100' or "
                     "'relu'%s", item, s[len] == '\0' && item > 1
                     ? " (the list ends with a comma: it goes on over the next line only when "
                       "that line is indented)" : "");
            return -1;
        }
        const ot_layer_ops_t *ops = ot_layer_find(words[0]);
        if (!ops) {
            char kinds[256], lower[64];
            size_t k = 0;
            ot_layer_kind_list(kinds, sizeof kinds);
            for (; words[0][k] && k + 1 < sizeof lower; k++)
                lower[k] = (char)tolower((unsigned char)words[0][k]);
            lower[k] = '\0';
            /* "Conv", "MaxPool": a kind in other case, said so (kinds are lower case, as the
             * config's other names are) */
            const ot_layer_ops_t *as_lower = words[0][k] ? NULL : ot_layer_find(lower);
            snprintf(err, err_n, "layer %zu '%s': unknown kind '%s'%s%s%s, expected one of %s",
                     item, copy, words[0], as_lower ? " (kinds are lower case: " : "",
                     as_lower ? lower : "", as_lower ? ")" : "", kinds);
            return -1;
        }
        if (ops->is_loss) {
            snprintf(err, err_n, "layer %zu '%s': %s closes every stack by itself, leave it "
                     "out of model.layers", item, copy, ops->kind);
            return -1;
        }
        if (*n == max) {
            snprintf(err, err_n, "more than %zu layers, expected at most %zu", max, max);
            return -1;
        }
        ot_layer_t *L = &layers[(*n)++];
        memset(L, 0, sizeof *L);
        L->ops = ops;
        if (ops->parse(L, argc - 1, words + 1, why, sizeof why) < 0) {
            snprintf(err, err_n, "layer %zu '%s': %s, expected %s", item, copy, why,
                     ops->usage);
            return -1;
        }
        s += len;
        if (!*s)
            return 0;
        s++;
    }
}

/* ---------------------------------------------------------------- building */

/* The stack of the legacy syntax, as the text of the layer syntax: per hidden layer affine,
 * [batchnorm], activation, [dropout]; then the last affine. */
static int legacy_stack(const ot_config_t *c, char *buf, size_t n)
{
    size_t used = 0;
    for (size_t l = 0; l < c->n_layers; l++) {
        char item[128];
        int w = snprintf(item, sizeof item, "%saffine %zu", l ? ", " : "", c->sizes[l + 1]);
        if (l + 1 < c->n_layers) {
            w += snprintf(item + w, sizeof item - (size_t)w, "%s, %s",
                          c->batchnorm ? ", batchnorm" : "", ot_act_name(c->act[l]));
            if (c->dropout > 0.0)
                snprintf(item + w, sizeof item - (size_t)w, ", dropout %.17g", c->dropout);
        }
        int k = snprintf(buf + used, n - used, "%s", item);
        if (k < 0 || (size_t)k >= n - used)
            return -1;
        used += (size_t)k;
    }
    return 0;
}

/* Tensor t of layer L: named "<layer>/<what>", at offset off, of the given shape. */
static void describe(ot_tensor_t *t, const ot_layer_t *L, const char *what, size_t off,
                     size_t rank, const size_t *dims, int decay)
{
    snprintf(t->name, sizeof t->name, "%s/%s", L->name, what);
    t->off = off;
    t->rank = rank;
    t->size = 1;
    for (size_t i = 0; i < OT_MAX_RANK; i++) {
        t->shape[i] = i < rank ? dims[i] : 0;
        if (i < rank)
            t->size *= dims[i];
    }
    t->decay = decay;
}

void ot_net_param(ot_net_t *net, ot_layer_t *L, const char *what, size_t rank,
                  const size_t *dims, int decay)
{
    ot_tensor_t *t = &net->tensors[net->n_tensors++];
    describe(t, L, what, net->n_params, rank, dims, decay);
    if (L->nt == 0) {
        L->t0 = net->n_tensors - 1;
        L->p_off = t->off;
    }
    L->nt++;
    net->n_params += align_floats(t->size);
    L->p_len = t->off + t->size - L->p_off;
}

void ot_net_state(ot_net_t *net, ot_layer_t *L, const char *what, size_t rank,
                  const size_t *dims)
{
    ot_tensor_t *t = &net->state_tensors[net->n_state_tensors++];
    describe(t, L, what, net->n_state, rank, dims, 0);
    if (L->s_len == 0)
        L->s_off = t->off;
    net->n_state += align_floats(t->size);
    L->s_len = t->off + t->size - L->s_off;
}

/* Name every layer "<kind><k>", k counting the layers of its kind. */
static void name_layers(ot_net_t *net)
{
    for (size_t l = 0; l < net->n_layers; l++) {
        ot_layer_t *L = &net->layers[l];
        size_t k = 1;
        for (size_t j = 0; j < l; j++)
            k += net->layers[j].ops == L->ops;
        const char *prefix = L->ops->prefix ? L->ops->prefix : L->ops->kind;
        if (L->ops->is_loss)
            snprintf(L->name, sizeof L->name, "%s", prefix);
        else
            snprintf(L->name, sizeof L->name, "%s%zu", prefix, k);
        L->index = l;
    }
}

int ot_net_layout(ot_net_t *net, const ot_config_t *c, const ot_shape_t *in)
{
    memset(net, 0, sizeof *net);
    char text[OT_STACK_TEXT], err[512], at[OT_PATH_MAX + 16];
    const char *where = ot_config_layers_where(c, at, sizeof at); /* the line, if a file's */
    if (c->stack[0]) {
        if (!in) {
            ot_error("%s: model.layers lists layers: the input shape must come from the data",
                     where);
            return OT_ECONFIG;
        }
        snprintf(text, sizeof text, "%s", c->stack);
    } else if (legacy_stack(c, text, sizeof text) < 0) {
        ot_error("%s: model.layers: the stack is too long", where);
        return OT_ECONFIG;
    }
    if (ot_stack_parse(text, net->layers, OT_MAX_STACK - 1, &net->n_layers, err,
                       sizeof err) < 0) {
        ot_error("%s: model.layers: %s", where, err);
        return OT_ECONFIG;
    }
    ot_layer_t *loss = &net->layers[net->n_layers++];
    memset(loss, 0, sizeof *loss);
    loss->ops = ot_layer_find("softmax_loss");
    name_layers(net);

    /* shapes, from the data's (the legacy syntax: its first width, flat) */
    net->input = in ? *in : (ot_shape_t){c->sizes[0], 1, 1, 1};
    net->in_dim = ot_shape_size(&net->input);
    net->max_width = net->in_dim;
    ot_shape_t s = net->input;
    for (size_t l = 0; l < net->n_layers; l++) {
        ot_layer_t *L = &net->layers[l];
        char why[256], shape[64];
        L->in = s;
        L->in_size = ot_shape_size(&s);
        if (L->ops->is_loss && L->in_size != (size_t)c->n_classes) {
            const ot_layer_t *last = &net->layers[l - 1];
            ot_error("%s: model.layers: the last layer, %s, gives %zu outputs, expected "
                     "data.classes = %d", where, last->name, L->in_size, c->n_classes);
            return OT_ECONFIG;
        }
        if (L->ops->shape(L, c, why, sizeof why) < 0) {
            if (l == 0 && s.flat) /* the kind's advice is about layers; here it is the data */
                snprintf(why, sizeof why, "expected an image, but the data's samples are flat "
                         "vectors (N x %zu); give them as images, N x H x W or N x H x W x C "
                         "(scripts/to_hdf5.py --shape HxW[xC])", ot_shape_size(&s));
            ot_error("%s: model.layers: %s (%s) on input %s: %s%s%s", where, L->name,
                     L->ops->kind, ot_shape_str(&s, shape, sizeof shape), why,
                     c->shape_hint ? "; note: " : "", c->shape_hint ? c->shape_hint : "");
            return OT_ECONFIG;
        }
        size_t hw; /* h w c can pass a size_t: 127 paddings of 65536 grow a side to 2^24 */
        if (ot_mul_size(L->out.h, L->out.w, &hw) || ot_mul_size(hw, L->out.c, &L->out_size) ||
            L->out_size > OT_MAX_SAMPLE_FLOATS) {
            ot_error("%s: model.layers: %s (%s) on input %s gives %zux%zux%zu outputs a "
                     "sample, expected at most 2^40 (%zu)", where, L->name, L->ops->kind,
                     ot_shape_str(&s, shape, sizeof shape), L->out.h, L->out.w, L->out.c,
                     (size_t)OT_MAX_SAMPLE_FLOATS);
            return OT_ECONFIG;
        }
        if (L->out_size == 0) {
            ot_error("%s: model.layers: %s on input %s has an empty output", where, L->name,
                     ot_shape_str(&s, shape, sizeof shape));
            return OT_ECONFIG;
        }
        s = L->out;
        if (L->out_size > net->max_width)
            net->max_width = L->out_size;
        if (L->ops->declare)
            L->ops->declare(L, net);
        /* room for the next layer's tensors (a kind declares at most a few) */
        const size_t max_tensors = OT_MAX_TENSORS - 8;
        if (net->n_tensors > max_tensors || net->n_state_tensors > max_tensors) {
            const int state = net->n_tensors <= max_tensors;
            ot_error("%s: model.layers: %zu %s tensors up to %s, expected at most %zu: fewer "
                     "layers with %s", where, state ? net->n_state_tensors : net->n_tensors,
                     state ? "state" : "parameter", L->name, max_tensors,
                     state ? "state" : "parameters");
            return OT_ECONFIG;
        }
        if (net->n_params > OT_MAX_PARAMS) {
            ot_error("%s: model.layers: %zu parameters up to %s, expected at most %zu", where,
                     net->n_params, L->name, (size_t)OT_MAX_PARAMS);
            return OT_ECONFIG;
        }
    }
    net->n_classes = (size_t)c->n_classes;
    return OT_OK;
}

int ot_net_init(ot_net_t *net, const ot_config_t *c, const ot_shape_t *in)
{
    int rc = ot_net_layout(net, c, in);
    if (rc)
        return rc;
    size_t bytes;
    if (ot_mul_size(net->n_params, sizeof(float), &bytes) || !(net->params = ot_alloc(bytes)) ||
        !(net->state = ot_alloc(net->n_state * sizeof(float)))) {
        ot_error("cannot allocate %zu parameters (%.1f MiB)", net->n_params,
                 net->n_params * 4.0 / 1048576.0);
        ot_net_free(net);
        return OT_ENOMEM;
    }
    return OT_OK;
}

void ot_net_init_params(ot_net_t *net, const ot_config_t *c, ot_rng_t *rng)
{
    memset(net->params, 0, net->n_params * sizeof(float));
    memset(net->state, 0, net->n_state * sizeof(float));
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        if (L->ops->init)
            L->ops->init(L, c, net->params, net->state, rng);
    }
}

void ot_net_free(ot_net_t *net)
{
    ot_free(net->params);
    ot_free(net->state);
    net->params = net->state = NULL;
}

const ot_tensor_t *ot_net_tensor(const ot_net_t *net, const char *name)
{
    for (size_t i = 0; i < net->n_tensors; i++)
        if (strcmp(net->tensors[i].name, name) == 0)
            return &net->tensors[i];
    return NULL;
}

size_t ot_net_count(const ot_net_t *net)
{
    size_t n = 0;
    for (size_t i = 0; i < net->n_tensors; i++)
        n += net->tensors[i].size;
    return n;
}

const ot_layer_t *ot_net_layer(const ot_net_t *net, const char *name)
{
    for (size_t l = 0; l < net->n_layers; l++)
        if (strcmp(net->layers[l].name, name) == 0)
            return &net->layers[l];
    return NULL;
}

void ot_net_summary(const ot_net_t *net, char *buf, size_t n)
{
    char shape[64];
    size_t used = 0;
    int w = snprintf(buf, n, "%s", ot_shape_str(&net->input, shape, sizeof shape));
    for (size_t l = 0; w >= 0 && (size_t)w < n - used && l < net->n_layers; l++) {
        used += (size_t)w;
        const ot_layer_t *L = &net->layers[l];
        int changed = L->in_size != L->out_size || L->in.flat != L->out.flat;
        w = snprintf(buf + used, n - used, " > %s%s%s", L->name, changed ? " " : "",
                     changed ? ot_shape_str(&L->out, shape, sizeof shape) : "");
    }
}
