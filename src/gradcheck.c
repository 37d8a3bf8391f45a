/* gradcheck.c - backprop vs. central differences of an independent double-precision forward. */
#include "ot_gradcheck.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_input.h"
#include "ot_rng.h"
#include "ot_train.h"

void ot_gradcheck_defaults(ot_gradcheck_opts_t *o)
{
    o->samples = 3;
    o->step = 1e-5;
    o->max_entries = 1000;
    o->tolerance = 1e-2;
    o->seed = 42;
    o->on_result = NULL;
    o->on_entry = NULL;
    o->arg = NULL;
}

/* What the reference passes of one check share. */
typedef struct {
    const ot_net_t *net;
    const ot_engine_t *e;         /* dropout's key */
    const double *x;              /* (n, in_dim) the samples */
    const int32_t *y;             /* (n) their labels */
    const uint32_t *ids;          /* (n) their indices */
    size_t n;
    double *const *base;          /* each layer's output in the unperturbed pass */
    unsigned char *const *masks;  /* each layer's kinks */
} ref_run_t;

/* Mean loss of the n samples R->x (n, in_dim, in double) with labels R->y, computed in double
 * by every layer's reference forward: the definition of the network, written apart from the
 * float kernels. Batch norm uses the batch's statistics and dropout the mask of the engine's
 * current key, as the training pass does.
 *
 * The unperturbed pass (record = 1, from = 0) keeps every layer's output in R->base[l] and
 * records the kinks in R->masks[l]; a perturbed pass (record = 0) starts at layer `from`, the
 * perturbed tensor's, from base[from - 1] (the layers before it do not depend on the tensor),
 * reuses the kinks, so that the numerical derivative is taken on the same linear piece as
 * backprop's chain rule, and works in a and b (n * max_width doubles each). */
static double reference_loss(const ref_run_t *R, const double *P, size_t from, double *a,
                             double *b, int record)
{
    const ot_net_t *net = R->net;
    const double *in = from > 0 ? R->base[from - 1] : R->x;
    ot_ref_t r = {R->n, P, net->state, NULL, record, R->e->seed, R->e->step, R->ids, R->y, 0.0};
    for (size_t l = from; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        double *out = record ? R->base[l] : in == a ? b : a;
        r.mask = R->masks[l];
        L->ops->reference(L, &r, in, out);
        in = out;
    }
    return r.loss / (double)R->n;
}

/* The layer whose parameters hold entry i of the block. */
static size_t layer_of(const ot_net_t *net, size_t i)
{
    size_t l = 0;
    while (l + 1 < net->n_layers && !(net->layers[l].p_len > 0 && i >= net->layers[l].p_off &&
                                       i < net->layers[l].p_off + net->layers[l].p_len))
        l++;
    return l;
}

/* A network at its initial point sits on exact kinks: zero biases over MNIST's all-zero
 * background give pre-activations of exactly 0, where a ReLU's derivative is a choice, the
 * reference's (0) and the float kernels' (a Winograd F(4x4, 3x3) leaves residues of 1e-8 of
 * either sign there, so about half of them pass). So that the check compares derivatives and
 * not choices, every tensor that is all zeros moves off zero, to 0.01 N(0, 1) from the check's
 * seed, for the check (moved[t] set), and unmove() puts it back. A trained network (a
 * checkpoint) has none. */
static void move_off_zero(const ot_net_t *net, uint64_t seed, unsigned char *moved)
{
    ot_rng_t rng;
    ot_rng_seed(&rng, seed ^ 0x6b696e6bull);
    for (size_t t = 0; t < net->n_tensors; t++) {
        const ot_tensor_t *T = &net->tensors[t];
        float *v = net->params + T->off;
        size_t i = 0;
        while (i < T->size && v[i] == 0.0f)
            i++;
        moved[t] = T->size > 0 && i == T->size;
        for (i = 0; moved[t] && i < T->size; i++)
            v[i] = (float)(0.01 * ot_rng_normal(&rng));
    }
}

static void unmove(const ot_net_t *net, const unsigned char *moved)
{
    for (size_t t = 0; t < net->n_tensors; t++)
        if (moved[t])
            memset(net->params + net->tensors[t].off, 0, net->tensors[t].size * sizeof(float));
}

/* The m entries of a tensor of `size` to check, into pick[0..m): every entry in order when
 * m == size; else m distinct ones drawn from rng by a partial Fisher-Yates shuffle of
 * 0..size-1 (pick holds size entries), so that "checked m" means m different entries (drawn
 * with replacement, 999 draws of 1000 entries covered about 632 of them). */
static void pick_entries(ot_rng_t *rng, size_t size, size_t m, size_t *pick)
{
    for (size_t i = 0; i < size; i++)
        pick[i] = i;
    for (size_t k = 0; m < size && k < m; k++) {
        const size_t j = k + (size_t)ot_rng_below(rng, size - k);
        const size_t t = pick[k];
        pick[k] = pick[j];
        pick[j] = t;
    }
}

/* A numerical gradient at most ZERO_NUM of the network's largest is a double-precision 0
 * (central differences of the double forward err by about 1e-10 of the loss there); backprop
 * passes on such an entry while it stays below ZERO_FLOOR x tolerance of the network's largest
 * (1e-3 with the default tolerance), the float noise of a sum that cancels. */
#define ZERO_NUM 1e-6
#define ZERO_FLOOR 1e-1

/* The central differences of the m entries pick[0..m) of tensor T (whose layer is `from`) into
 * num[0..m), the entries shared among the threads: thread t moves its entry in its own copy
 * of the parameters, P + t * n_params, and works in its own two buffers of ab. Each entry's
 * number is the same whichever thread takes it. o->on_entry hears from the calling thread how
 * many are done, in increasing counts, the last m. */
static void numerical(const ref_run_t *R, const ot_gradcheck_opts_t *o, const ot_tensor_t *T,
                      const size_t *pick, size_t m, size_t from, double *P, double *ab,
                      double *num)
{
    const size_t P_n = R->net->n_params, ab_n = R->n * R->net->max_width;
    size_t done = 0, told = 0;
#pragma omp parallel default(none) shared(R, o, T, pick, P, ab, num, done, told) \
    firstprivate(m, from, P_n, ab_n)
    {
        const size_t t = (size_t)omp_get_thread_num();
        double *Pt = P + t * P_n, *a = ab + 2 * t * ab_n, *b = a + ab_n;
#pragma omp for schedule(dynamic, 1)
        for (size_t k = 0; k < m; k++) {
            const size_t i = T->off + pick[k];
            const double keep = Pt[i];
            Pt[i] = keep + o->step;
            const double up = reference_loss(R, Pt, from, a, b, 0);
            Pt[i] = keep - o->step;
            const double down = reference_loss(R, Pt, from, a, b, 0);
            Pt[i] = keep;
            num[k] = (up - down) / (2.0 * o->step);
            size_t now;
#pragma omp atomic capture
            now = ++done;
            if (t == 0 && o->on_entry) /* the progress line is the caller's; counts grow */
                o->on_entry(T, told = now, m, o->arg);
        }
    }
    if (o->on_entry && told < m)
        o->on_entry(T, m, m, o->arg);
}

int ot_gradcheck(ot_engine_t *e, const ot_dataset_t *ds, const ot_gradcheck_opts_t *o,
                 const unsigned char *check, ot_gradcheck_row_t *rows, ot_gradcheck_fwd_t *fwd)
{
    const ot_net_t *net = e->net;
    const size_t n = o->samples;
    int rc = OT_ENOMEM, all_pass = 1;
    /* the perturbed passes, entries shared among the threads: each its own copy of the
     * parameters (one entry moved at a time) and its own two layer buffers */
    const size_t nt = (size_t)omp_get_max_threads(), P_n = net->n_params;
    const size_t ab_n = n * net->max_width;
    uint32_t *idx = malloc(n * sizeof *idx);
    float *x = malloc(n * net->in_dim * sizeof *x);
    int32_t *y = malloc(n * sizeof *y);
    double *P = malloc(nt * P_n * sizeof *P);
    double *ab = malloc(nt * 2 * ab_n * sizeof *ab);
    double *xd = malloc(n * net->in_dim * sizeof *xd), *base[OT_MAX_STACK];
    size_t mask_bytes = 0, base_n = 0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        mask_bytes += L->ops->ref_mask ? n * L->ops->ref_mask(L) : 0;
        base_n += n * L->out_size;
    }
    unsigned char *mask = malloc(mask_bytes + 1), *masks[OT_MAX_STACK];
    unsigned char *moved = calloc(net->n_tensors + 1, 1);
    double *base_mem = malloc(base_n * sizeof *base_mem);
    size_t largest = 1; /* the largest tensor's size: the entries a subset is drawn from */
    for (size_t t = 0; t < net->n_tensors; t++)
        largest = net->tensors[t].size > largest ? net->tensors[t].size : largest;
    size_t *pick = malloc(largest * sizeof *pick);
    double *num = malloc(largest * sizeof *num); /* each entry's numerical gradient */
    if (!idx || !x || !y || !P || !ab || !xd || !mask || !moved || !base_mem || !pick || !num) {
        ot_error("gradcheck: out of memory for %zu parameters in double, a copy for each of %zu "
                 "threads (fewer --threads need less)", P_n, nt);
        goto done;
    }
    move_off_zero(net, o->seed, moved);
    for (size_t l = 0, off = 0, boff = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        masks[l] = mask + off;
        off += L->ops->ref_mask ? n * L->ops->ref_mask(L) : 0;
        base[l] = base_mem + boff;
        boff += n * L->out_size;
    }
    ot_rng_t rng;
    ot_rng_seed(&rng, o->seed);
    for (size_t i = 0; i < n; i++)
        idx[i] = (uint32_t)ot_rng_below(&rng, ds->n);
    /* the samples as the training pass sees them: moved, when the run augments */
    if (e->augment_shift > 0)
        ot_dataset_gather_shifted(ds, idx, n, x, y,
                                  &(ot_shift_key_t){e->seed, e->step, e->augment_shift});
    else
        ot_dataset_gather(ds, idx, n, x, y);
    for (size_t i = 0; i < n * net->in_dim; i++)
        xd[i] = x[i];

    /* backprop: the data-parallel training path, mean gradient over the n samples */
    ot_gradcheck_fwd_t f;
    f.loss = ot_engine_gradient(e, ds, idx, n).loss / (double)n;
    for (size_t i = 0; i < P_n; i++)
        P[i] = net->params[i];
    for (size_t t = 1; t < nt; t++)
        memcpy(P + t * P_n, P, P_n * sizeof *P);
    const ref_run_t R = {net, e, xd, y, idx, n, base, masks};
    f.ref_loss = reference_loss(&R, P, 0, ab, ab + ab_n, 1);
    f.rel_err = fabs(f.loss - f.ref_loss) / fmax(fabs(f.ref_loss), 1e-12);
    f.pass = f.rel_err < 1e-4;
    all_pass &= f.pass;
    if (fwd)
        *fwd = f;
    if (o->on_result)
        o->on_result(&f, NULL, o->arg);

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
         * noise, not bugs: e.g. a convolution's bias before batch norm, whose true gradient is
         * 0 and whose float one is what is left of a sum over every position that cancels */
        double floor = fmax(fmax(1e-3 * gmax, 1e-3 * gall), 1e-12);
        double sum_abs = 0.0, worst = 0.0;
        const size_t from = layer_of(net, T->off);
        pick_entries(&rng, T->size, m, pick);
        numerical(&R, o, T, pick, m, from, P, ab, num);
        for (size_t k = 0; k < m; k++) { /* in order: the same sums at any thread count */
            const size_t i = T->off + pick[k];
            const double bp = e->grad[i], diff = fabs(bp - num[k]);
            sum_abs += diff;
            /* a double-precision 0 (a bias before batch norm, or a convolution's bias when only
             * linear layers lie between it and batch norm): the float gradient is what is left
             * of a sum that cancels, and with few samples batch norm's 1/std scales that up;
             * below 1e-3 of the network's largest it is noise, and a sign error cannot show on
             * a 0 */
            const double at =
                fabs(num[k]) <= ZERO_NUM * gall ? fmax(floor, ZERO_FLOOR * gall) : floor;
            worst = fmax(worst, diff / fmax(fabs(bp) + fabs(num[k]), at));
        }
        row->checked = m;
        row->mean_abs_diff = sum_abs / (double)m;
        row->max_rel_err = worst;
        /* a gradient that is zero everywhere passes when the numerical one is (to the floor):
         * backprop agrees, but nothing was compared, which the row says */
        row->pass = worst < o->tolerance;
        row->zero = row->pass && gmax == 0.0;
        all_pass &= row->pass;
        if (o->on_result)
            o->on_result(NULL, row, o->arg);
    }
    rc = all_pass;
done:
    if (moved)
        unmove(net, moved);
    free(moved);
    free(idx);
    free(x);
    free(y);
    free(P);
    free(ab);
    free(xd);
    free(base_mem);
    free(mask);
    free(pick);
    free(num);
    return rc;
}

/* Mark the tensors named in the comma list (NULL = all). An unknown name, or an empty one (an
 * empty list, or a comma at either end or doubled), is an error naming the tensors there are:
 * an empty list checked nothing and passed. */
static int select_tensors(const ot_net_t *net, const char *list, unsigned char *check)
{
    memset(check, list ? 0 : 1, net->n_tensors);
    if (!list)
        return OT_OK;
    char names[512] = "";
    for (size_t i = 0; i < net->n_tensors; i++) {
        size_t used = strlen(names);
        snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", net->tensors[i].name);
    }
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (len == 0) {
            ot_error("gradcheck: --tensors: %s%s%s, expected a comma list of one or more of %s",
                     *list ? "'" : "an empty list", *list ? list : "",
                     *list ? "' has an empty name" : "", names);
            return OT_ECONFIG;
        }
        size_t t = 0;
        while (t < net->n_tensors &&
               (strlen(net->tensors[t].name) != len || strncmp(net->tensors[t].name, p, len)))
            t++;
        if (t == net->n_tensors) {
            ot_error("gradcheck: --tensors: unknown tensor '%.*s', expected one of %s", (int)len,
                     p, names);
            return OT_ECONFIG;
        }
        check[t] = 1;
        if (!p[len])
            return OT_OK;
        p += len + 1;
    }
}

/* What the command prints as the check goes: each result's line at once (flushed, so that a
 * pipe sees it too), and on a terminal (ot_progress_get) the entries done of the tensor being
 * checked, once it has taken the progress delay, at most ten times a second. */
typedef struct {
    char zeros[256]; /* the first tensors whose gradient is 0 everywhere, for the verdict */
    size_t n_zero;
    FILE *out;       /* the terminal, or NULL */
    double after;    /* the progress delay, from the start of each tensor */
    ot_bar_t bar;    /* the line of the tensor being checked */
    const ot_tensor_t *tensor; /* the one bar counts */
} report_t;

static void print_result(const ot_gradcheck_fwd_t *f, const ot_gradcheck_row_t *r, void *arg)
{
    report_t *p = arg;
    ot_bar_end(&p->bar);
    if (f) {
        printf("%-12s %-11s %8s %14.3e %14.3e  %s  (loss %.9g, reference %.9g)\n", "forward",
               "loss", "", fabs(f->loss - f->ref_loss), f->rel_err, f->pass ? "ok" : "FAIL",
               f->loss, f->ref_loss);
    } else {
        char shape[64];
        ot_tensor_shape_str(r->tensor, shape, sizeof shape);
        printf("%-12s %-11s %8zu %14.3e %14.3e  %s\n", r->tensor->name, shape, r->checked,
               r->mean_abs_diff, r->max_rel_err, r->zero ? "zero" : r->pass ? "ok" : "FAIL");
        if (r->zero && p->n_zero++ < 4) {
            const size_t u = strlen(p->zeros);
            snprintf(p->zeros + u, sizeof p->zeros - u, "%s%s", u ? ", " : "", r->tensor->name);
        }
    }
    fflush(stdout);
}

static void show_entry(const ot_tensor_t *T, size_t done, size_t m, void *arg)
{
    report_t *p = arg;
    if (p->tensor != T) {
        p->tensor = T;
        ot_bar_begin(&p->bar, p->out, p->after);
    }
    if (done < m)
        ot_bar_show(&p->bar, "  %s: %zu of %zu entries (%.0f%%)", T->name, done, m,
                    100.0 * (double)done / (double)m);
}

/* Checkpoint ck's model into t as eval takes it (ot_model_load): the checkpoint's input,
 * checked as eval checks it against the config (data.normalize, data.normalize_by) and the
 * training samples' shape, standardises them with its statistics in place of those
 * ot_trainer_init fitted on this run's samples (another data.train_limit, another file:
 * other numbers); then its parameters and running statistics. Returns 0 or the codes of
 * ot_ckpt_info, ot_input_load, ot_input_check and ot_ckpt_load_params (one line printed). */
static int load_checkpoint(ot_trainer_t *t, const char *ck)
{
    const ot_shape_t shape = t->input.shape; /* the training samples' */
    const char *data = ot_data_path(&t->cfg, 0);
    ot_ckpt_info_t info;
    ot_input_t in = {0};
    int has_input = 0, rc;
    if ((rc = ot_ckpt_info(ck, &info)) ||
        (rc = ot_input_load(ck, &in, &has_input, &shape, data)) ||
        (rc = ot_input_check(&in, has_input, &t->cfg, &shape, ck, data)) ||
        (rc = ot_ckpt_load_params(ck, &t->net))) {
        ot_input_free(&in);
        return rc;
    }
    if (has_input) /* without /input (an older checkpoint) there is no standardisation */
        ot_trainer_use_input(t, &in);
    return OT_OK;
}

int ot_gradcheck_command(const ot_config_t *c, const ot_gradcheck_opts_t *o, const char *tensors,
                         int threads, const char *ck)
{
    ot_config_t cc = *c;
    cc.batch_size = o->samples; /* the engine holds exactly the checked samples */
    cc.batch_name = "gradcheck --samples";
    ot_trainer_t t;
    int rc = ot_trainer_init(&t, &cc, threads);
    if (rc)
        return rc;
    unsigned char check[OT_MAX_TENSORS];
    ot_gradcheck_row_t rows[OT_MAX_TENSORS];
    if ((rc = select_tensors(&t.net, tensors, check)))
        goto done;
    if (ck && (rc = load_checkpoint(&t, ck)))
        goto done;
    printf("gradcheck %s%s%s: %zu samples, step %g, tolerance %g, %d thread%s, %zu shards\n",
           c->path, ck ? " at " : "", ck ? ck : "", o->samples, o->step, o->tolerance, threads,
           threads == 1 ? "" : "s", t.eng.n_shards);
    printf("%-12s %-11s %8s %14s %14s  %s\n", "tensor", "shape", "checked", "mean |diff|",
           "max rel err", "verdict");
    fflush(stdout);
    report_t rep = {.out = NULL};
    rep.out = ot_progress_get(&rep.after);
    ot_gradcheck_opts_t oo = *o;
    oo.on_result = print_result;
    oo.on_entry = show_entry;
    oo.arg = &rep;
    rc = ot_gradcheck(&t.eng, &t.train, &oo, check, rows, NULL);
    ot_bar_end(&rep.bar);
    if (rc < 0)
        goto done;
    const char *zeros = rep.zeros;
    const size_t n_zero = rep.n_zero;
    int batch_stats = 0; /* a layer normalizing with the batch's statistics: batch norm */
    for (size_t l = 0; l < t.net.n_layers; l++)
        batch_stats |= t.net.layers[l].ops->stats != NULL;
    if (!rc && batch_stats && o->samples < 10)
        printf("gradcheck: FAIL: backprop disagrees with the numerical gradient (the model "
               "normalizes with the statistics of %zu samples, where float backprop can be "
               "off by a few 1e-2 when a feature's spread is far below its mean: try "
               "--samples 10)\n",
               o->samples);
    else if (!rc)
        printf("gradcheck: FAIL: backprop disagrees with the numerical gradient\n");
    else if (n_zero)
        printf("gradcheck: PASS, but %s%s: a gradient of 0 at these samples, backprop and "
               "numerical alike: nothing compared (a unit no sample reaches, or a bias before "
               "batch norm)\n",
               zeros, n_zero > 4 ? " and others" : "");
    else
        printf("gradcheck: PASS\n");
    rc = rc ? OT_OK : OT_ENUM;
done:
    ot_trainer_free(&t);
    return rc;
}
