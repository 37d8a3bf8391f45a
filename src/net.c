/* net.c - building the layer stack and laying out its parameter block. */
#include "ot_net.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ot_common.h"

/* Round offsets up to a cache line so that every tensor starts aligned. */
static size_t align_floats(size_t n)
{
    const size_t per_line = OT_ALIGN / sizeof(float);
    return (n + per_line - 1) / per_line * per_line;
}

/* Tensor "<kind><layer_no>/<what>" in list (tensors or state_tensors): the name is built from
 * the number, not copied from the layer, so it never aliases the struct it is written into. */
static void add_tensor(ot_tensor_t *list, size_t *count, const char *kind, size_t layer_no,
                       const char *what, size_t off, size_t rank, size_t rows, size_t cols)
{
    ot_tensor_t *t = &list[(*count)++];
    snprintf(t->name, sizeof t->name, "%s%zu/%s", kind, layer_no, what);
    t->off = off;
    t->rank = rank;
    t->shape[0] = rows;
    t->shape[1] = rank == 2 ? cols : 0;
    t->size = rank == 2 ? rows * cols : rows;
}

int ot_net_init(ot_net_t *net, const ot_config_t *c)
{
    memset(net, 0, sizeof *net);
    net->in_dim = c->sizes[0];
    net->n_classes = c->sizes[c->n_layers];
    net->max_width = net->in_dim;
    net->bn_momentum = (float)c->bn_momentum;
    size_t off = 0, soff = 0;
    for (size_t l = 0; l < c->n_layers; l++) {
        size_t in = c->sizes[l], out = c->sizes[l + 1];
        ot_layer_t *a = &net->layers[net->n_layers++];
        a->kind = OT_LAYER_AFFINE;
        snprintf(a->name, sizeof a->name, "affine%zu", l + 1);
        a->in = in;
        a->out = out;
        /* sizes are bounded by ot_config_check (OT_MAX_UNITS, OT_MAX_PARAMS): no overflow */
        a->w_off = off;
        add_tensor(net->tensors, &net->n_tensors, "affine", l + 1, "W", off, 2, in, out);
        off += align_floats(in * out);
        a->b_off = off;
        add_tensor(net->tensors, &net->n_tensors, "affine", l + 1, "b", off, 1, out, 0);
        off += align_floats(out);
        if (out > net->max_width)
            net->max_width = out;
        if (l + 1 == c->n_layers)
            break;
        if (c->batchnorm) {
            ot_layer_t *bn = &net->layers[net->n_layers++];
            bn->kind = OT_LAYER_BATCHNORM;
            snprintf(bn->name, sizeof bn->name, "bn%zu", l + 1);
            bn->in = bn->out = out;
            bn->w_off = off;
            add_tensor(net->tensors, &net->n_tensors, "bn", l + 1, "gamma", off, 1, out, 0);
            off += align_floats(out);
            bn->b_off = off;
            add_tensor(net->tensors, &net->n_tensors, "bn", l + 1, "beta", off, 1, out, 0);
            off += align_floats(out);
            bn->s_off = soff;
            add_tensor(net->state_tensors, &net->n_state_tensors, "bn", l + 1, "running_mean",
                       soff, 1, out, 0);
            add_tensor(net->state_tensors, &net->n_state_tensors, "bn", l + 1, "running_var",
                       soff + out, 1, out, 0);
            soff += align_floats(2 * out);
        }
        ot_layer_t *f = &net->layers[net->n_layers++];
        f->kind = c->act[l] == OT_ACT_RELU ? OT_LAYER_RELU : OT_LAYER_SIGMOID;
        snprintf(f->name, sizeof f->name, "%s%zu", ot_act_name(c->act[l]), l + 1);
        f->in = f->out = out;
        if (c->dropout > 0.0) {
            ot_layer_t *d = &net->layers[net->n_layers++];
            d->kind = OT_LAYER_DROPOUT;
            snprintf(d->name, sizeof d->name, "dropout%zu", l + 1);
            d->in = d->out = out;
            d->rate = (float)c->dropout;
        }
    }
    ot_layer_t *s = &net->layers[net->n_layers++];
    s->kind = OT_LAYER_SOFTMAX_LOSS;
    snprintf(s->name, sizeof s->name, "softmax_loss");
    s->in = s->out = net->n_classes;

    net->n_params = off;
    net->n_state = soff;
    size_t bytes;
    if (ot_mul_size(off, sizeof(float), &bytes) || !(net->params = ot_alloc(bytes)) ||
        !(net->state = ot_alloc(soff * sizeof(float)))) {
        ot_error("cannot allocate %zu parameters (%.1f MiB)", off, off * 4.0 / 1048576.0);
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
        const ot_layer_t *a = &net->layers[l];
        if (a->kind == OT_LAYER_BATCHNORM) {
            for (size_t i = 0; i < a->out; i++) {
                net->params[a->w_off + i] = 1.0f;                          /* gamma */
                net->state[a->s_off + a->out + i] = 1.0f;                  /* running var */
            }
            continue;
        }
        if (a->kind != OT_LAYER_AFFINE)
            continue;
        double std = c->init == OT_INIT_HE       ? sqrt(2.0 / (double)a->in)
                     : c->init == OT_INIT_XAVIER ? sqrt(1.0 / (double)a->in)
                                                 : c->init_std;
        float *W = net->params + a->w_off;
        for (size_t i = 0; i < a->in * a->out; i++)
            W[i] = (float)(std * ot_rng_normal(rng));
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
