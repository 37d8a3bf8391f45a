/* registry.c - the layer kinds omptrain knows: one line each. A kind's file (src/layers/) holds
 * everything about it; this list is the only place that names them all. */
#include <stdio.h>
#include <string.h>

#include "ot_layer.h"

extern const ot_layer_ops_t ot_affine_ops, ot_relu_ops, ot_sigmoid_ops, ot_batchnorm_ops,
    ot_dropout_ops, ot_softmax_loss_ops, ot_conv2d_ops, ot_maxpool_ops, ot_avgpool_ops,
    ot_flatten_ops;

const ot_layer_ops_t *const ot_layer_kinds[] = {
    &ot_affine_ops,
    &ot_relu_ops,
    &ot_sigmoid_ops,
    &ot_batchnorm_ops,
    &ot_dropout_ops,
    &ot_softmax_loss_ops,
    &ot_conv2d_ops,
    &ot_maxpool_ops,
    &ot_avgpool_ops,
    &ot_flatten_ops,
    NULL,
};

const ot_layer_ops_t *ot_layer_find(const char *name)
{
    for (size_t i = 0; ot_layer_kinds[i]; i++) {
        const ot_layer_ops_t *k = ot_layer_kinds[i];
        if (strcmp(k->kind, name) == 0 || (k->prefix && strcmp(k->prefix, name) == 0))
            return k;
    }
    return NULL;
}

void ot_layer_kind_list(char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; ot_layer_kinds[i]; i++) {
        if (ot_layer_kinds[i]->is_loss)
            continue; /* it closes every stack by itself */
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", ot_layer_kinds[i]->kind);
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}
