/* gradcheck.c - backprop vs. central differences of an independent double-precision forward. */
#include "ot_gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_batchnorm.h"
#include "ot_common.h"
#include "ot_dropout.h"
#include "ot_rng.h"
#include "ot_train.h"

void ot_gradcheck_defaults(ot_gradcheck_opts_t *o)
{
    o->samples = 3;
    o->step = 1e-5;
    o->max_entries = 1000;
    o->tolerance = 1e-2;
    o->seed = 42;
}

/* Mean loss of the n samples x (n, in_dim) with labels y, computed in double with plain loops:
 * the definition of the network, written independently of the float kernels. a and b are
 * scratch arrays of n * net->max_width doubles. Batch norm uses the batch's statistics and
 * dropout the mask of the engine's current key, as the training pass does.
 *
 * ReLU's kink: a perturbation of h can move an input across 0, and then the difference quotient
 * mixes two linear pieces and disagrees with any correct backprop. So the ReLU masks are
 * recorded at the unperturbed point (record = 1) and reused for the perturbed ones (record = 0):
 * the numerical derivative is then taken on the same piece as backprop's chain rule. */
static double reference_loss(const ot_net_t *net, const ot_engine_t *e, const double *P,
                             const float *x, const int32_t *y, const uint32_t *ids, size_t n,
                             double *a, double *b, unsigned char *mask, int record)
{
    /* the whole batch layer by layer: batch norm needs every row's value of a feature */
    size_t w = net->in_dim;
    for (size_t i = 0; i < n * w; i++)
        a[i] = x[i];
    double total = 0.0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        const size_t d = L->out;
        switch (L->kind) {
        case OT_LAYER_AFFINE: {
            const double *W = P + L->w_off, *bias = P + L->b_off;
            /* row by row of W, so the inner loop runs along memory */
            for (size_t r = 0; r < n; r++) {
                double *out = b + r * d;
                for (size_t j = 0; j < d; j++)
                    out[j] = bias[j];
                for (size_t k = 0; k < L->in; k++) {
                    const double ark = a[r * L->in + k], *Wk = W + k * d;
                    for (size_t j = 0; j < d; j++)
                        out[j] += ark * Wk[j];
                }
            }
            double *t = a;
            a = b;
            b = t;
            break;
        }
        case OT_LAYER_RELU:
            for (size_t i = 0; i < n * d; i++, mask++) {
                if (record)
                    *mask = a[i] > 0.0;
                a[i] = *mask ? a[i] : 0.0;
            }
            break;
        case OT_LAYER_SIGMOID:
            for (size_t i = 0; i < n * d; i++)
                a[i] = 1.0 / (1.0 + exp(-a[i]));
            break;
        case OT_LAYER_BATCHNORM: /* batch statistics, as in training */
            for (size_t j = 0; j < d; j++) {
                double mean = 0.0, var = 0.0;
                for (size_t r = 0; r < n; r++)
                    mean += a[r * d + j];
                mean /= (double)n;
                for (size_t r = 0; r < n; r++)
                    var += (a[r * d + j] - mean) * (a[r * d + j] - mean);
                var /= (double)n;
                double inv_std = 1.0 / sqrt(var + OT_BN_EPS);
                for (size_t r = 0; r < n; r++)
                    a[r * d + j] = P[L->w_off + j] * (a[r * d + j] - mean) * inv_std +
                                   P[L->b_off + j];
            }
            break;
        case OT_LAYER_DROPOUT: { /* the training pass's mask: the same key */
            ot_dropout_key_t k = {e->seed, e->step, (uint32_t)l, L->rate};
            for (size_t r = 0; r < n; r++)
                for (size_t j = 0; j < d; j++)
                    a[r * d + j] *= ot_dropout_scale(&k, ids[r], j);
            break;
        }
        case OT_LAYER_SOFTMAX_LOSS:
            for (size_t r = 0; r < n; r++) {
                const double *row = a + r * d;
                double max = row[0], sum = 0.0;
                for (size_t j = 1; j < d; j++)
                    max = fmax(max, row[j]);
                for (size_t j = 0; j < d; j++)
                    sum += exp(row[j] - max);
                total += log(sum) - (row[y[r]] - max);
            }
            break;
        }
    }
    return total / (double)n;
}

int ot_gradcheck(ot_engine_t *e, const ot_dataset_t *ds, const ot_gradcheck_opts_t *o,
                 const unsigned char *check, ot_gradcheck_row_t *rows)
{
    const ot_net_t *net = e->net;
    const size_t n = o->samples;
    int rc = OT_ENOMEM, all_pass = 1;
    uint32_t *idx = malloc(n * sizeof *idx);
    float *x = malloc(n * net->in_dim * sizeof *x);
    int32_t *y = malloc(n * sizeof *y);
    double *P = malloc(net->n_params * sizeof *P);
    double *a = malloc(n * net->max_width * sizeof *a);
    double *b = malloc(n * net->max_width * sizeof *b);
    size_t relu_units = 0;
    for (size_t l = 0; l < net->n_layers; l++)
        relu_units += net->layers[l].kind == OT_LAYER_RELU ? net->layers[l].out : 0;
    unsigned char *mask = malloc(n * relu_units + 1);
    if (!idx || !x || !y || !P || !a || !b || !mask) {
        ot_error("gradcheck: out of memory for %zu parameters in double", net->n_params);
        goto done;
    }
    ot_rng_t rng;
    ot_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)ot_rng_below(&rng, ds->n);
    ot_dataset_gather(ds, idx, n, x, y);

    /* backprop: the data-parallel training path, mean gradient over the n samples */
    ot_engine_gradient(e, ds, idx, n);
    for (size_t i = 0; i < net->n_params; i++)
        P[i] = net->params[i];
    reference_loss(net, e, P, x, y, idx, n, a, b, mask, 1);

    /* the network's largest gradient sets a scale below which differences are float noise:
     * e.g. the bias of an Affine followed by batch norm has a true gradient of exactly 0 */
    double gall = 0.0;
    for (size_t i = 0; i < net->n_params; i++)
        gall = fmax(gall, fabs(e->grad[i]));
    for (size_t t = 0; t < net->n_tensors; t++) {
        ot_gradcheck_row_t *row = &rows[t];
        const ot_tensor_t *T = &net->tensors[t];
        memset(row, 0, sizeof *row);
        row->tensor = T;
        if (check && !check[t])
            continue;
        size_t m = o->max_entries && o->max_entries < T->size ? o->max_entries : T->size;
        double gmax = 0.0;
        for (size_t i = 0; i < T->size; i++)
            gmax = fmax(gmax, fabs(e->grad[T->off + i]));
        /* relative errors of entries far below the tensor's or the network's scale are float
         * noise, not bugs */
        double floor = fmax(fmax(1e-3 * gmax, 1e-4 * gall), 1e-12);
        double sum_abs = 0.0, worst = 0.0;
        for (size_t k = 0; k < m; k++) {
            size_t i = T->off + (m == T->size ? k : (size_t)ot_rng_below(&rng, T->size));
            double keep = P[i];
            P[i] = keep + o->step;
            double up = reference_loss(net, e, P, x, y, idx, n, a, b, mask, 0);
            P[i] = keep - o->step;
            double down = reference_loss(net, e, P, x, y, idx, n, a, b, mask, 0);
            P[i] = keep;
            double num = (up - down) / (2.0 * o->step), bp = e->grad[i];
            double diff = fabs(bp - num);
            sum_abs += diff;
            worst = fmax(worst, diff / fmax(fabs(bp) + fabs(num), floor));
        }
        row->checked = m;
        row->mean_abs_diff = sum_abs / (double)m;
        row->max_rel_err = worst;
        /* a gradient that is zero everywhere checks nothing: it cannot pass */
        row->pass = worst < o->tolerance && gmax > 0.0;
        all_pass &= row->pass;
    }
    rc = all_pass;
done:
    free(idx);
    free(x);
    free(y);
    free(P);
    free(a);
    free(b);
    free(mask);
    return rc;
}

/* Mark the tensors named in the comma list (NULL = all); an unknown name is an error. */
static int select_tensors(const ot_net_t *net, const char *list, unsigned char *check)
{
    memset(check, list ? 0 : 1, net->n_tensors);
    if (!list)
        return OT_OK;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        size_t t = 0;
        while (t < net->n_tensors &&
               (strlen(net->tensors[t].name) != len || strncmp(net->tensors[t].name, p, len)))
            t++;
        if (t == net->n_tensors) {
            char names[512] = "";
            for (size_t i = 0; i < net->n_tensors; i++) {
                size_t used = strlen(names);
                snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                         net->tensors[i].name);
            }
            ot_error("gradcheck: --tensors: unknown tensor '%.*s', expected one of %s", (int)len,
                     p, names);
            return OT_ECONFIG;
        }
        check[t] = 1;
        p += len + (p[len] == ',');
    }
    return OT_OK;
}

int ot_gradcheck_command(const ot_config_t *c, const ot_gradcheck_opts_t *o, const char *tensors,
                         int threads)
{
    ot_config_t cc = *c;
    cc.batch_size = o->samples; /* the engine holds exactly the checked samples */
    ot_trainer_t t;
    int rc = ot_trainer_init(&t, &cc, threads);
    if (rc)
        return rc;
    unsigned char check[OT_MAX_TENSORS];
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    if ((rc = select_tensors(&t.net, tensors, check)))
        goto done;
    printf("gradcheck %s: %zu samples, step %g, tolerance %g, %d threads, %zu shards\n", c->path,
           o->samples, o->step, o->tolerance, threads, t.eng.n_shards);
    printf("%-12s %-11s %8s %14s %14s  %s\n", "tensor", "shape", "checked", "mean |diff|",
           "max rel err", "verdict");
    rc = ot_gradcheck(&t.eng, &t.train, o, check, rows);
    if (rc < 0)
        goto done;
    for (size_t i = 0; i < t.net.n_tensors; i++) {
        const ot_gradcheck_row_t *r = &rows[i];
        if (!check[i])
            continue;
        char shape[48];
        if (r->tensor->rank == 2)
            snprintf(shape, sizeof shape, "%zux%zu", r->tensor->shape[0], r->tensor->shape[1]);
        else
            snprintf(shape, sizeof shape, "%zu", r->tensor->shape[0]);
        printf("%-12s %-11s %8zu %14.3e %14.3e  %s\n", r->tensor->name, shape, r->checked,
               r->mean_abs_diff, r->max_rel_err, r->pass ? "ok" : "FAIL");
    }
    printf("gradcheck: %s\n", rc ? "PASS" : "FAIL: backprop disagrees with the numerical gradient");
    rc = rc ? OT_OK : OT_ENUM;
done:
    ot_trainer_free(&t);
    return rc;
}
