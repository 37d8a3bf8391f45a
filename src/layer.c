/* layer.c - what every layer kind shares: shapes as text, the init scale, and the ops of kinds
 * without arguments (see ot_layer.h). */
#include "ot_layer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

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
