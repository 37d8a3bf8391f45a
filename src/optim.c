/* optim.c - update rules (the textbook's, with the maths fixed where its snippets slip),
 * learning-rate schedules, L2 weight decay and global-norm gradient clipping. */
#include "ot_optim.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_simd.h"

/* Floats per partial sum of the gradient norm: fixed, so the summation order is too. */
#define NORM_CHUNK 4096

/* Floats of a shared update formed in L1 before they are streamed out (ot_optim_span). */
#define STREAM_BLOCK 256

int ot_optim_init(ot_optim_t *o, const ot_config_t *c, const ot_net_t *net)
{
    memset(o, 0, sizeof *o);
    o->kind = c->optimizer;
    o->momentum = c->momentum;
    o->decay = c->rmsprop_decay;
    o->beta1 = c->beta1;
    o->beta2 = c->beta2;
    o->eps = c->epsilon;
    o->weight_decay = c->weight_decay;
    o->net = net;
    o->n = net->n_params;
    size_t bufs = ot_optim_n_buffers(o), bytes = o->n * sizeof(float);
    if ((bufs >= 1 && !(o->m = ot_alloc(bytes))) || (bufs >= 2 && !(o->v = ot_alloc(bytes)))) {
        ot_error("cannot allocate %s state for %zu parameters", ot_optimizer_name(o->kind), o->n);
        ot_optim_free(o);
        return OT_ENOMEM;
    }
    return OT_OK;
}

void ot_optim_free(ot_optim_t *o)
{
    ot_free(o->m);
    ot_free(o->v);
    o->m = o->v = NULL;
}

size_t ot_optim_n_buffers(const ot_optim_t *o)
{
    switch (o->kind) {
    case OT_OPT_SGD:
        return 0;
    case OT_OPT_ADAM:
    case OT_OPT_ADAMW:
        return 2;
    default:
        return 1;
    }
}

/* Adam's bias corrections at update count t: 1 / (1 - beta^t) (0 for the other rules). */
static float bias_correction(const ot_optim_t *o, double beta, uint64_t t)
{
    const int adam = o->kind == OT_OPT_ADAM || o->kind == OT_OPT_ADAMW;
    return adam ? (float)(1.0 / (1.0 - pow(beta, (double)t))) : 0.0f;
}

/* The update of the n elements at p, g and the rule's state m, v (NULL where the rule has
 * none), with decoupled weight decay wd (adamw, weights; else 0) and adam's bias corrections
 * c1, c2, by the calling thread. */
static void update_block(const ot_optim_t *o, float *restrict p, const float *restrict g,
                         float *restrict m, float *restrict v, size_t n, float lr, float wd,
                         float c1, float c2)
{
    const float mu = (float)o->momentum, rho = (float)o->decay, eps = (float)o->eps;
    const float b1 = (float)o->beta1, b2 = (float)o->beta2;
    /* Adam's bias corrections fold into the step: lr_t = lr sqrt(1 - b2^t) / (1 - b1^t) is the
     * usual efficient form, but it moves eps; keep the paper's form m^ / (sqrt(v^) + eps). */
    switch (o->kind) {
    case OT_OPT_SGD:
#pragma omp simd
        for (size_t i = 0; i < n; i++)
            p[i] -= lr * g[i];
        break;
    case OT_OPT_MOMENTUM:
        /* v = mu v - lr g; p += v */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] - lr * g[i];
            p[i] += m[i];
        }
        break;
    case OT_OPT_NESTEROV:
        /* v = mu v - lr g; p += mu v - lr g: the look-ahead step (Sutskever et al. 2013), i.e.
         * p += mu^2 v_old - (1 + mu) lr g. (The textbook's snippet applies mu^2 to the NEW v.) */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] = mu * m[i] - lr * g[i];
            p[i] += mu * m[i] - lr * g[i];
        }
        break;
    case OT_OPT_ADAGRAD:
        /* h += g^2; p -= lr g / (sqrt(h) + eps) */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] += g[i] * g[i];
            p[i] -= lr * g[i] / (sqrtf(m[i]) + eps);
        }
        break;
    case OT_OPT_RMSPROP:
        /* h = rho h + (1 - rho) g^2; p -= lr g / (sqrt(h) + eps) */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] = rho * m[i] + (1.0f - rho) * g[i] * g[i];
            p[i] -= lr * g[i] / (sqrtf(m[i]) + eps);
        }
        break;
    case OT_OPT_ADAM:
    case OT_OPT_ADAMW:
        /* m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr (m^/(sqrt(v^)+eps) + wd p) */
#pragma omp simd
        for (size_t i = 0; i < n; i++) {
            m[i] = b1 * m[i] + (1.0f - b1) * g[i];
            v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
            p[i] -= lr * (m[i] * c1 / (sqrtf(v[i] * c2) + eps) + wd * p[i]);
        }
        break;
    }
}

/* The update of elements [a, b) with their mean gradient grad[0 .. b - a). shared: in blocks
 * in this thread's L1, each streamed out to params past the caches (ot_stream_floats), so
 * that the other cores' copies are dropped without this core waiting on each
 * (scripts/xcore.c). */
static void update_part(const ot_optim_t *o, float *params, const float *grad, size_t a,
                        size_t b, float lr, float wd, float c1, float c2, int shared)
{
    for (size_t i = a; i < b;) {
        const size_t len = shared && b - i > STREAM_BLOCK ? STREAM_BLOCK : b - i;
        float *m = o->m ? o->m + i : NULL, *v = o->v ? o->v + i : NULL;
        if (!shared) {
            update_block(o, params + i, grad + (i - a), m, v, len, lr, wd, c1, c2);
        } else {
            float block[STREAM_BLOCK];
            memcpy(block, params + i, len * sizeof(float));
            update_block(o, block, grad + (i - a), m, v, len, lr, wd, c1, c2);
            ot_stream_floats(params + i, block, len);
        }
        i += len;
    }
}

void ot_optim_span(const ot_optim_t *o, float *params, float *grad, size_t lo, size_t hi,
                   double lr, int shared)
{
    const ot_net_t *net = o->net;
    const int adamw = o->kind == OT_OPT_ADAMW;
    const float wd = (float)o->weight_decay;
    const int l2 = !adamw && o->weight_decay > 0.0;
    const float c1 = bias_correction(o, o->beta1, o->t + 1);
    const float c2 = bias_correction(o, o->beta2, o->t + 1);
    /* tensor by tensor where [lo, hi) meets one: only weights (decay) get weight decay */
    for (size_t t = 0; t < net->n_tensors && lo < hi; t++) {
        const ot_tensor_t *T = &net->tensors[t];
        const size_t a = lo > T->off ? lo : T->off;
        const size_t b = hi < T->off + T->size ? hi : T->off + T->size;
        if (a >= b)
            continue;
        float *restrict g = grad + (a - lo); /* element a's (grad[0] is element lo's) */
        if (T->decay && l2) { /* L2: grad += wd * param, then the rule */
            const float *restrict p = params + a;
#pragma omp simd
            for (size_t i = 0; i < b - a; i++)
                g[i] += wd * p[i];
        }
        update_part(o, params, g, a, b, (float)lr, T->decay && adamw ? wd : 0.0f, c1, c2,
                    shared);
    }
    if (shared)
        V_STREAM_FENCE();
}

void ot_optim_commit(ot_optim_t *o)
{
    o->t++;
}

void ot_optim_step(ot_optim_t *o, float *params, float *grad, double lr)
{
    const size_t n = o->n;
    /* each thread its part (ot_param_part): the parameters whose mean gradient it formed and
     * whose packed copy it makes next (engine.c), memory its own core holds; stored as they
     * fall (the update inside the engine's step chooses: ot_xfer_t) */
#pragma omp parallel default(none) shared(o, params, grad) firstprivate(n, lr)
    {
        size_t a, b;
        ot_param_part(n, (size_t)omp_get_num_threads(), (size_t)omp_get_thread_num(), &a, &b);
        ot_optim_span(o, params, grad + a, a, b, lr, 0);
    }
    ot_optim_commit(o);
}

/* Append "KEY A -> B" to buf (n bytes, used so far) when it fits whole */
static void add_diff(char *buf, size_t n, size_t *used, const char *key, const char *a,
                     const char *b)
{
    char item[160];
    int w = snprintf(item, sizeof item, "%s%s %s -> %s", *used ? ", " : "", key, a, b);
    if (w > 0 && (size_t)w < sizeof item && (size_t)w < n - *used) {
        memcpy(buf + *used, item, (size_t)w + 1);
        *used += (size_t)w;
    }
}

size_t ot_schedule_diff(const ot_config_t *was, const ot_config_t *now, char *buf, size_t n)
{
    char a[32], b[32];
    size_t used = 0, count = 0;
    if (n)
        buf[0] = '\0';
#define DIFF(cond, key, fmt, x, y)                                                         \
    if (cond) {                                                                            \
        snprintf(a, sizeof a, fmt, x);                                                     \
        snprintf(b, sizeof b, fmt, y);                                                     \
        add_diff(buf, n, &used, "training." key, a, b);                                    \
        count++;                                                                           \
    }
    DIFF(was->schedule != now->schedule, "schedule", "%s", ot_schedule_name(was->schedule),
         ot_schedule_name(now->schedule))
    DIFF(was->lr != now->lr, "learning_rate", "%g", was->lr, now->lr)
    DIFF(was->warmup_epochs != now->warmup_epochs, "warmup_epochs", "%d", was->warmup_epochs,
         now->warmup_epochs)
    /* the keys of the schedule in use now */
    DIFF(now->schedule == OT_SCHED_COSINE && was->epochs != now->epochs, "epochs", "%d",
         was->epochs, now->epochs)
    DIFF(now->schedule == OT_SCHED_STEP && was->step_epochs != now->step_epochs, "step_epochs",
         "%d", was->step_epochs, now->step_epochs)
    DIFF(now->schedule == OT_SCHED_STEP && was->step_factor != now->step_factor, "step_factor",
         "%g", was->step_factor, now->step_factor)
#undef DIFF
    return count;
}

double ot_schedule_lr(const ot_config_t *c, uint64_t step, size_t steps_per_epoch)
{
    double base = c->lr, epoch = (double)step / (double)steps_per_epoch, lr = base;
    switch (c->schedule) {
    case OT_SCHED_CONSTANT:
        break;
    case OT_SCHED_STEP:
        lr = base * pow(c->step_factor, floor(epoch / c->step_epochs));
        break;
    case OT_SCHED_COSINE: {
        double total = (double)c->epochs * (double)steps_per_epoch;
        lr = 0.5 * base * (1.0 + cos(3.14159265358979323846 * (double)step / total));
        break;
    }
    }
    uint64_t warm = (uint64_t)c->warmup_epochs * steps_per_epoch;
    if (step < warm)
        lr *= (double)(step + 1) / (double)warm;
    return lr;
}

/* Sum of squares of chunk c of grad[0..n), in double. */
static double chunk_sq(const float *grad, size_t n, size_t c)
{
    double s = 0.0;
    for (size_t i = c * NORM_CHUNK; i < n && i < (c + 1) * NORM_CHUNK; i++)
        s += (double)grad[i] * grad[i];
    return s;
}

double ot_grad_norm(const float *grad, size_t n)
{
    size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double stack[256], *part = chunks <= 256 ? stack : malloc(chunks * sizeof *part);
    double s = 0.0;
    if (!part) { /* no room for the partial sums: the same order on one thread */
        for (size_t c = 0; c < chunks; c++)
            s += chunk_sq(grad, n, c);
        return sqrt(s);
    }
#pragma omp parallel for schedule(static) default(none) shared(grad, part) firstprivate(n, chunks)
    for (size_t c = 0; c < chunks; c++)
        part[c] = chunk_sq(grad, n, c);
    for (size_t c = 0; c < chunks; c++)
        s += part[c];
    if (part != stack)
        free(part);
    return sqrt(s);
}

double ot_grad_clip(float *grad, size_t n, double max_norm)
{
    double norm = ot_grad_norm(grad, n);
    if (max_norm > 0.0 && norm > max_norm) {
        const float scale = (float)(max_norm / norm);
#pragma omp parallel for simd schedule(static) default(none) shared(grad) firstprivate(n, scale)
        for (size_t i = 0; i < n; i++)
            grad[i] *= scale;
    }
    return norm;
}
