/* batchnorm.c - the batch normalization kind: y = gamma (x - mean) / sqrt(var + eps) + beta
 * per feature (per channel of an image), with the mean and variance of the whole mini-batch
 * in training (across shards and threads: the batch-statistics hooks) and the running
 * statistics in evaluation. Kernels' shapes are in ot_batchnorm.h. */
#include "ot_batchnorm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ot_common.h"
#include "ot_net.h"
#include "ot_onnx.h"

void ot_bn_partial_sum(const float *x, size_t n, size_t d, double *s)
{
    for (size_t f = 0; f < d; f++)
        s[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++)
            s[f] += x[r * d + f];
}

void ot_bn_partial_sqdev(const float *x, const double *mean, size_t n, size_t d, double *s)
{
    for (size_t f = 0; f < d; f++)
        s[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            double dev = x[r * d + f] - mean[f];
            s[f] += dev * dev;
        }
}

void ot_bn_forward(const float *x, const float *mean, const float *inv_std, const float *gamma,
                   const float *beta, float *y, size_t n, size_t d)
{
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++)
            y[r * d + f] = gamma[f] * ((x[r * d + f] - mean[f]) * inv_std[f]) + beta[f];
}

void ot_bn_partial_backward(const float *x, const float *dy, const float *mean,
                            const float *inv_std, size_t n, size_t d, double *sum_dy,
                            double *sum_dy_xhat)
{
    for (size_t f = 0; f < d; f++)
        sum_dy[f] = sum_dy_xhat[f] = 0.0;
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            float xhat = (x[r * d + f] - mean[f]) * inv_std[f];
            sum_dy[f] += dy[r * d + f];
            sum_dy_xhat[f] += (double)dy[r * d + f] * xhat;
        }
}

void ot_bn_backward(const float *x, const float *dy, const float *mean, const float *inv_std,
                    const float *gamma, const double *sum_dy, const double *sum_dy_xhat,
                    size_t batch, float *dx, size_t n, size_t d)
{
    /* the batch's mean of dy and of dy * xhat, per feature, as floats for the row loop */
    const float inv_n = (float)(1.0 / (double)batch);
    for (size_t r = 0; r < n; r++)
        for (size_t f = 0; f < d; f++) {
            float xhat = (x[r * d + f] - mean[f]) * inv_std[f];
            float mdy = (float)sum_dy[f] * inv_n, mdyx = (float)sum_dy_xhat[f] * inv_n;
            dx[r * d + f] = gamma[f] * inv_std[f] * (dy[r * d + f] - mdy - xhat * mdyx);
        }
}

/* ---------------------------------------------------------------- the kind */

typedef struct {
    float momentum; /* decay of the running statistics (model.bn_momentum) */
} bn_args_t;
OT_LAYER_ARGS_FIT(bn_args_t);

/* Features: an image's channels (statistics over the batch and every position, as
 * BatchNorm2d), or a vector's units. */
static size_t feats(const ot_layer_t *L)
{
    return L->in.c;
}

/* Rows per sample: the positions of an image, 1 for a vector. */
static size_t positions(const ot_layer_t *L)
{
    return L->in.h * L->in.w;
}

/* Its buffers in an engine: the statistics a pass normalizes with. */
typedef struct {
    float *batch;        /* (2d) the batch's mean, then 1/std */
    float *eval;         /* (2d) the same from the running statistics */
    double *mean;        /* (d) the batch's mean in double, for the squared deviations */
    double *sum_dy;      /* (d) backward: the batch's sums of dy */
    double *sum_dy_xhat; /* (d) and of dy * xhat */
} bn_rt_t;

static int shape(ot_layer_t *L, const ot_config_t *c, char *err, size_t n)
{
    (void)err, (void)n;
    OT_LAYER_ARGS(bn_args_t, L)->momentum = (float)c->bn_momentum;
    L->out = L->in;
    return 0;
}

static void declare(ot_layer_t *L, ot_net_t *net)
{
    size_t d[1] = {feats(L)};
    ot_net_param(net, L, "gamma", 1, d, 0);
    ot_net_param(net, L, "beta", 1, d, 0);
    ot_net_state(net, L, "running_mean", 1, d);
    ot_net_state(net, L, "running_var", 1, d);
}

/* the identity: gamma 1, beta 0; running mean 0, variance 1 */
static void init(const ot_layer_t *L, const ot_config_t *c, float *params, float *state,
                 ot_rng_t *rng)
{
    (void)c, (void)rng;
    const size_t d = feats(L);
    for (size_t i = 0; i < d; i++) {
        params[L->p_off + i] = 1.0f;
        state[L->s_off + L->s_len - d + i] = 1.0f;
    }
}

static void rt_free(void *p)
{
    bn_rt_t *rt = p;
    if (!rt)
        return;
    ot_free(rt->batch);
    ot_free(rt->eval);
    ot_free(rt->mean);
    ot_free(rt->sum_dy);
    ot_free(rt->sum_dy_xhat);
    ot_free(rt);
}

static int setup(const ot_layer_t *L, size_t max_batch, size_t n_shards, void **out)
{
    (void)max_batch, (void)n_shards;
    const size_t d = feats(L);
    bn_rt_t *rt = ot_alloc(sizeof *rt);
    *out = rt;
    if (!rt || !(rt->batch = ot_alloc(2 * d * sizeof(float))) ||
        !(rt->eval = ot_alloc(2 * d * sizeof(float))) ||
        !(rt->mean = ot_alloc(d * sizeof(double))) ||
        !(rt->sum_dy = ot_alloc(d * sizeof(double))) ||
        !(rt->sum_dy_xhat = ot_alloc(d * sizeof(double))))
        return OT_ENOMEM;
    return OT_OK;
}

static size_t rt_bytes(const ot_layer_t *L, size_t B, size_t n_shards)
{
    (void)B, (void)n_shards;
    return sizeof(bn_rt_t) + feats(L) * (4 * sizeof(float) + 3 * sizeof(double));
}

/* an evaluation normalizes with the running statistics, as mean and 1/std */
static void begin(const ot_layer_t *L, void *p, const float *params, const float *state,
                  const ot_pass_info_t *pi)
{
    bn_rt_t *rt = p;
    (void)params;
    if (pi->train)
        return;
    const size_t d = feats(L);
    const float *mean = state + L->s_off, *var = state + L->s_off + L->s_len - d;
    for (size_t f = 0; f < d; f++) {
        rt->eval[f] = mean[f];
        rt->eval[d + f] = (float)(1.0 / sqrt((double)var[f] + OT_BN_EPS));
    }
}

static void forward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const bn_rt_t *rt = c->rt;
    const size_t d = feats(L);
    const float *st = c->train ? rt->batch : rt->eval, *gamma = c->params + L->p_off;
    ot_bn_forward(c->x, st, st + d, gamma, gamma + L->p_len - d, c->y, c->n * positions(L), d);
}

static size_t stats(const ot_layer_t *L)
{
    return 2 * feats(L);
}

/* forward: round 0 the shard's sums, round 1 its squared deviations from the batch's mean;
 * backward: its sums of dy and of dy * xhat */
static void partial(const ot_layer_t *L, const ot_ctx_t *c, int backward, int round,
                    double *part)
{
    const bn_rt_t *rt = c->rt;
    const size_t d = feats(L), rows = c->n * positions(L);
    if (backward)
        ot_bn_partial_backward(c->x, c->dy, rt->batch, rt->batch + d, rows, d, part, part + d);
    else if (round == 0)
        ot_bn_partial_sum(c->x, rows, d, part);
    else
        ot_bn_partial_sqdev(c->x, rt->mean, rows, d, part);
}

/* The shards' partial sums in shard order: the batch's mean (round 0), then its variance,
 * 1/std and the running statistics' step (round 1); backward, the two sums over the batch.
 * Two passes over the data (mean first, then squared deviations) for accuracy. */
static void combine(const ot_layer_t *L, void *p, float *state, int backward, int round,
                    const double *parts, size_t S, size_t batch)
{
    bn_rt_t *rt = p;
    const size_t d = feats(L), k = stats(L), n = batch * positions(L);
    if (backward) {
        for (size_t f = 0; f < d; f++) {
            rt->sum_dy[f] = rt->sum_dy_xhat[f] = 0.0;
            for (size_t s = 0; s < S; s++) {
                rt->sum_dy[f] += parts[s * k + f];
                rt->sum_dy_xhat[f] += parts[s * k + d + f];
            }
        }
        return;
    }
    float *mean = rt->batch, *inv_std = rt->batch + d;
    if (round == 0) {
        for (size_t f = 0; f < d; f++) {
            rt->mean[f] = 0.0;
            for (size_t s = 0; s < S; s++)
                rt->mean[f] += parts[s * k + f];
            rt->mean[f] /= (double)n;
            mean[f] = (float)rt->mean[f];
        }
        return;
    }
    float *run_mean = state + L->s_off, *run_var = state + L->s_off + L->s_len - d;
    const float m = OT_LAYER_ARGS(const bn_args_t, L)->momentum;
    for (size_t f = 0; f < d; f++) {
        double var = 0.0;
        for (size_t s = 0; s < S; s++)
            var += parts[s * k + f];
        var /= (double)n;
        inv_std[f] = (float)(1.0 / sqrt(var + OT_BN_EPS));
        run_mean[f] = m * run_mean[f] + (1.0f - m) * mean[f];
        run_var[f] = m * run_var[f] + (1.0f - m) * (float)var;
    }
}

/* The shards' sums of dy * xhat and dy are also their dgamma and dbeta: leaves of the tree.
 * Then dx from the batch's sums, unless this is the first layer (no dx). */
static void backward(const ot_layer_t *L, const ot_ctx_t *c)
{
    const bn_rt_t *rt = c->rt;
    const size_t d = feats(L), k = stats(L), beta = L->p_off + L->p_len - d, P = positions(L);
    size_t f0, f1; /* threads sharing a shard write a part of its features each */
    ot_grad_share(c->grad, d, 1, &f0, &f1);
    for (size_t i = 0; i < c->n_leaves; i++) {
        const double *part = c->parts + (c->first_shard + i) * k;
        float *dgamma = ot_grad_leaf(c->grad, i, L->p_off), *dbeta = ot_grad_leaf(c->grad, i, beta);
        for (size_t f = f0; f < f1; f++) {
            dgamma[f] = (float)part[d + f];
            dbeta[f] = (float)part[f];
        }
    }
    ot_grad_leaves_done(c->grad, L->p_off, L->p_len);
    if (c->dx)
        ot_bn_backward(c->x, c->dy, rt->batch, rt->batch + d, c->params + L->p_off,
                       rt->sum_dy, rt->sum_dy_xhat, c->batch * P, c->dx, c->n * P, d);
}

/* batch statistics, as in training */
static void reference(const ot_layer_t *L, ot_ref_t *r, const double *x, double *y)
{
    const size_t d = feats(L), n = r->n * positions(L);
    const double *gamma = r->P + L->p_off, *beta = gamma + L->p_len - d;
    for (size_t j = 0; j < d; j++) {
        double mean = 0.0, var = 0.0;
        for (size_t i = 0; i < n; i++)
            mean += x[i * d + j];
        mean /= (double)n;
        for (size_t i = 0; i < n; i++)
            var += (x[i * d + j] - mean) * (x[i * d + j] - mean);
        var /= (double)n;
        double inv_std = 1.0 / sqrt(var + OT_BN_EPS);
        for (size_t i = 0; i < n; i++)
            y[i * d + j] = gamma[j] * (x[i * d + j] - mean) * inv_std + beta[j];
    }
}

/* BatchNormalization with the running statistics (evaluation), per channel of an NCHW image
 * or per feature of a vector (in the ONNX input's feature order) */
static int onnx(const ot_layer_t *L, ot_onnx_t *g, const float *params, const float *state)
{
    const size_t d = feats(L);
    const float *src[4] = {params + L->p_off, params + L->p_off + L->p_len - d, state + L->s_off,
                           state + L->s_off + L->s_len - d};
    static const char *const what[4] = {"gamma", "beta", "running_mean", "running_var"};
    const char *in[5] = {ot_onnx_value(g)};
    const int64_t dims[1] = {(int64_t)d};
    const int flat = ot_onnx_layout(g) != OT_ONNX_IMAGE;
    for (int t = 0; t < 4; t++) {
        float *v = ot_onnx_tensor(g, what[t], 1, dims, &in[t + 1]);
        if (!v)
            return -1;
        for (size_t f = 0; f < d; f++)
            v[f] = src[t][flat ? ot_onnx_feature(g, f) : f];
    }
    const ot_onnx_attr_t attrs[2] = {OT_ONNX_FLOAT("epsilon", (float)OT_BN_EPS),
                                     OT_ONNX_FLOAT("momentum", OT_LAYER_ARGS(const bn_args_t,
                                                                             L)->momentum)};
    return ot_onnx_node(g, "BatchNormalization", NULL, in, 5, attrs, 2, OT_ONNX_KEEP);
}

const ot_layer_ops_t ot_batchnorm_ops = {
    .kind = "batchnorm",
    .prefix = "bn",
    .usage = "batchnorm",
    .example = "conv 3 3x3, batchnorm, relu",
    .parse = ot_layer_parse_none,
    .format = ot_layer_format_none,
    .shape = shape,
    .declare = declare,
    .init = init,
    .setup = setup,
    .free = rt_free,
    .bytes = rt_bytes,
    .begin = begin,
    .forward = forward,
    .backward = backward,
    .stats = stats,
    .fwd_rounds = 2,
    .bwd_rounds = 1,
    .partial = partial,
    .combine = combine,
    .reference = reference,
    .onnx = onnx,
};
