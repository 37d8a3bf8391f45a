/* train.c - the training loop: data order, SGD over the epoch's batches, test evaluation. */
#include "ot_train.h"

#include <math.h>
#include <string.h>

#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_dist.h"

/* The data must fit the model: input width and at least one full batch. (The output width
 * against data.classes is ot_config_check's, which every caller has passed.) */
static int check_data(const ot_config_t *c, const ot_dataset_t *train, const ot_dataset_t *test)
{
    char a[64], b[64], at[OT_PATH_MAX + 16];
    const ot_shape_t ts = ot_data_shape(train), es = ot_data_shape(test);
    if (!c->stack[0] && c->sizes[0] != train->dim) {
        ot_error("%s: model.layers: input width %zu, expected %zu (the %s samples of %s)",
                 ot_config_layers_where(c, at, sizeof at), c->sizes[0], train->dim, ot_shape_str(&ts, a, sizeof a),
                 ot_data_path(c, 0));
        return OT_ECONFIG;
    }
    if (es.c != ts.c || es.h != ts.h || es.w != ts.w || es.flat != ts.flat) {
        ot_error("%s: test samples are %s but training samples are %s; expected the same shape",
                 ot_data_path(c, 1), ot_shape_str(&es, a, sizeof a),
                 ot_shape_str(&ts, b, sizeof b));
        return OT_ECONFIG;
    }
    if (c->validation > 0 && c->validation + c->batch_size > train->n) {
        ot_error("%s: training.validation: %zu held-out samples leave fewer than a batch (%zu) "
                 "of the %zu training samples; expected at most %zu",
                 c->path, c->validation, c->batch_size, train->n,
                 train->n > c->batch_size ? train->n - c->batch_size : 0);
        return OT_ECONFIG;
    }
    if (c->batch_size > train->n) {
        ot_error("%s: %s: %zu is larger than the %zu training samples; expected at most %zu",
                 c->path, c->batch_name ? c->batch_name : "training.batch_size", c->batch_size,
                 train->n, train->n);
        return OT_ECONFIG;
    }
    if (c->augment_shift > 0 && ts.flat) {
        ot_error("%s: training.augment_shift: %d, but the samples of %s are vectors of %zu, not "
                 "images: expected 0", c->path, c->augment_shift, ot_data_path(c, 0),
                 train->dim);
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* A layer with batch statistics (batch norm) needs two values of each feature in a batch:
 * over one, every value is the batch's mean, so the layer gives beta alone and learns nothing
 * (PyTorch's BatchNorm1d refuses such a batch too). Over an image a feature's values are the
 * batch's samples times the positions, so a batch of 1 is enough there. */
static int check_batch_stats(const ot_config_t *c, const ot_net_t *net)
{
    for (size_t i = 0; i < net->n_layers; i++) {
        const ot_layer_t *L = &net->layers[i];
        if (L->ops->stats && c->batch_size * L->in.h * L->in.w < 2) {
            ot_error("%s: %s %zu: %s normalises each of its %zu features over the batch, "
                     "and over one value every output is beta alone (nothing is learned); "
                     "expected a batch of at least 2", c->path,
                     c->batch_name ? c->batch_name : "training.batch_size", c->batch_size,
                     L->name, L->in_size);
            return OT_ECONFIG;
        }
    }
    return OT_OK;
}

int ot_trainer_init(ot_trainer_t *t, const ot_config_t *c, int threads)
{
    memset(t, 0, sizeof *t);
    t->cfg = *c;
    t->threads = threads;
    int rc = ot_data_load(&t->train, c, 0);
    if (!rc)
        rc = ot_data_load(&t->test, c, 1);
    if (!rc)
        rc = check_data(c, &t->train, &t->test);
    const ot_shape_t in = ot_data_shape(&t->train);
    /* the run's memory, estimated and checked before the model and the step take it */
    size_t shards = c->shards > 0 ? (size_t)c->shards : (size_t)threads;
    /* a layer that does not fit the samples says so with how their axes may be misread */
    char hint[OT_PATH_MAX + 256];
    ot_config_t hinted = *c;
    if (!rc && ot_data_layout_hint(c, &t->train, hint, sizeof hint))
        hinted.shape_hint = hint;
    if (!rc && !(rc = ot_net_layout(&t->net, &hinted, &in)) &&
        !(rc = check_batch_stats(c, &t->net))) {
        ot_optim_t kind = {.kind = c->optimizer};
        ot_mem_estimate(&t->mem, c, &t->net, &t->train, &t->test, ot_optim_n_buffers(&kind),
                        (size_t)threads, shards);
        t->mem_available = ot_mem_available(NULL);
        rc = ot_mem_check(&t->mem, t->mem_available, c->path);
    }
    if (!rc)
        rc = ot_net_init(&t->net, c, &in);
    if (!rc)
        rc = ot_optim_init(&t->optim, c, &t->net);
    if (rc)
        goto fail;
    /* the standardisation: statistics of the training samples (not the validation split's),
     * applied to every set */
    ot_input_init(&t->input, &in);
    if (c->normalize == OT_NORM_MEAN_STD) {
        ot_dataset_t fit = t->train;
        fit.n -= c->validation;
        if ((rc = ot_input_fit(&t->input, &fit, c->normalize_by)))
            goto fail;
        ot_input_apply(&t->input, &t->train);
        ot_input_apply(&t->input, &t->test);
    }
    /* the validation split: the training file's last samples, never shuffled into training */
    t->val = ot_dataset_tail(&t->train, t->train.n - c->validation);
    t->train.n -= c->validation;
    t->best_val_loss = INFINITY;
    if (c->patience > 0 && (!(t->best_params = ot_alloc(t->net.n_params * sizeof(float))) ||
                            !(t->best_state = ot_alloc(t->net.n_state * sizeof(float))))) {
        ot_error("cannot allocate the early-stopping copy of %zu parameters", t->net.n_params);
        rc = OT_ENOMEM;
        goto fail;
    }
    if ((rc = ot_engine_init(&t->eng, &t->net, c->batch_size, shards)))
        goto fail;
    t->eng.seed = c->seed;
    t->eng.sparse_ok = c->sparse_input;
    t->eng.augment_shift = c->augment_shift;
    t->order = ot_alloc(t->train.n * sizeof *t->order);
    t->step_loss = ot_alloc(ot_trainer_batches(t) * sizeof *t->step_loss);
    if (!t->order || !t->step_loss) {
        ot_error("cannot allocate the data order for %zu samples", t->train.n);
        rc = OT_ENOMEM;
        goto fail;
    }
    for (size_t i = 0; i < t->train.n; i++)
        t->order[i] = (uint32_t)i;
    ot_rng_t init;
    ot_rng_seed(&init, OT_SEED_INIT(c->seed));
    ot_net_init_params(&t->net, c, &init);
    ot_rng_seed(&t->rng, OT_SEED_SHUFFLE(c->seed));
    return OT_OK;
fail:
    ot_trainer_free(t);
    return rc;
}

void ot_trainer_use_input(ot_trainer_t *t, ot_input_t *in)
{
    ot_input_free(&t->input);
    t->input = *in;
    memset(in, 0, sizeof *in);
    ot_input_apply(&t->input, &t->train);
    ot_input_apply(&t->input, &t->val);
    ot_input_apply(&t->input, &t->test);
}

void ot_trainer_free(ot_trainer_t *t)
{
    ot_free(t->best_params);
    ot_free(t->best_state);
    ot_optim_free(&t->optim);
    ot_engine_free(&t->eng);
    ot_net_free(&t->net);
    ot_dataset_free(&t->train);
    ot_dataset_free(&t->test);
    ot_input_free(&t->input);
    ot_free(t->order);
    ot_free(t->step_loss);
    memset(t, 0, sizeof *t);
}

/* After epoch t->epoch: remember the best parameters (and batch norm's running statistics);
 * after `patience` epochs without a better validation loss, restore them and stop. */
static void early_stopping(ot_trainer_t *t, double val_loss)
{
    size_t bytes = t->net.n_params * sizeof(float), sbytes = t->net.n_state * sizeof(float);
    if (val_loss < t->best_val_loss) {
        t->best_val_loss = val_loss;
        t->best_epoch = t->epoch;
        memcpy(t->best_params, t->net.params, bytes);
        memcpy(t->best_state, t->net.state, sbytes);
    } else if (t->epoch - t->best_epoch >= t->cfg.patience) {
        memcpy(t->net.params, t->best_params, bytes);
        memcpy(t->net.state, t->best_state, sbytes);
        t->stopped = 1;
    }
}

/* Whether to stop here: *t->interrupt, agreed by every process (a signal that reached any one
 * of them stops all after the same step), kept in *t->interrupt. Collective. */
static int interrupted(ot_trainer_t *t)
{
    if (!t->interrupt)
        return 0;
    int sig = ot_dist_max(t->eng.dist, *t->interrupt);
    if (sig && !*t->interrupt)
        *t->interrupt = sig;
    return sig != 0;
}

size_t ot_trainer_batches(const ot_trainer_t *t)
{
    return (t->train.n + t->cfg.batch_size - 1) / t->cfg.batch_size;
}

/* Whether a step's mean loss says the run diverged: not finite, or above
 * training.divergence_loss (0: no limit). Such a step is not applied. */
static int diverged(const ot_config_t *c, double loss)
{
    return !isfinite(loss) || (c->divergence_loss > 0.0 && loss > c->divergence_loss);
}

/* The step's update inside the engine's step (ot_step_hook_t), unless the step diverged. */
static int step_ok(void *arg, double loss, size_t n)
{
    const ot_trainer_t *t = arg;
    return !diverged(&t->cfg, loss / (double)n);
}

static void step_span(void *arg, float *grad, size_t lo, size_t hi, int shared)
{
    ot_trainer_t *t = arg;
    ot_optim_span(&t->optim, t->net.params, grad, lo, hi, t->step_lr, shared);
}

int ot_trainer_epoch(ot_trainer_t *t, ot_epoch_stats_t *st, ot_progress_fn progress, void *arg)
{
    const size_t N = t->train.n, B = t->cfg.batch_size, n_batches = ot_trainer_batches(t);
    double lr = t->cfg.lr;
    /* the interrupt is polled where the saved position says exactly what comes next: before
     * the epoch's shuffle, and after a step that is not the epoch's last */
    if (interrupted(t))
        return OT_EINTR;
    if (t->batch_in_epoch == 0) {
        ot_rng_shuffle(&t->rng, t->order, N);
        t->epoch_loss = 0.0;
        t->epoch_correct = 0;
    }
    double t0 = ot_now();
    size_t first = t->batch_in_epoch;
    for (size_t b = first; b < n_batches; b++) {
        size_t lo = b * B, n = N - lo < B ? N - lo : B;
        t->eng.step = t->step; /* dropout's masks are keyed by the step */
        t->eng.next_idx = b + 1 < n_batches ? t->order + lo + n : NULL;
        t->eng.next_n = b + 1 < n_batches ? (N - lo - n < B ? N - lo - n : B) : 0;
        t->eng.flag = t->interrupt ? *t->interrupt : 0; /* agreed with the step's gradient */
        /* the schedule follows the position in epochs (t->step itself, unless a checkpoint
         * was resumed at another batch size) */
        lr = t->step_lr = ot_schedule_lr(&t->cfg, (uint64_t)t->epoch * n_batches + b, n_batches);
        /* the update runs chunk by chunk inside the step, unless clipping needs the whole
         * gradient's norm first (or other processes: the engine leaves it then) */
        t->eng.hook = t->cfg.clip_norm > 0.0 ? (ot_step_hook_t){0}
                                             : (ot_step_hook_t){step_ok, step_span, t};
        ot_batch_result_t r = ot_engine_gradient(&t->eng, &t->train, t->order + lo, n);
        double loss = r.loss / (double)n;
        if (diverged(&t->cfg, loss)) {
            /* the likely causes: the learning rate, and two others when they are large (a
             * wide initial spread, a decay that overshoots: lr x weight_decay near 1) */
            char also[160] = "";
            const ot_config_t *c = &t->cfg;
            if (c->init == OT_INIT_STD && c->init_std > 0.1)
                snprintf(also, sizeof also, ", or a smaller model.init_std than %g", c->init_std);
            if (c->weight_decay * c->lr > 0.1)
                snprintf(also + strlen(also), sizeof also - strlen(also),
                         ", or a smaller training.weight_decay than %g", c->weight_decay);
            ot_error("epoch %d, step %llu: the training loss is %g%s; stopping without applying "
                     "this step (try a smaller training.learning_rate than %g%s)",
                     t->epoch + 1, (unsigned long long)t->step + 1, loss,
                     isfinite(loss) ? ", above training.divergence_loss: diverged" : "", c->lr,
                     also);
            return OT_ENUM;
        }
        if (t->eng.applied) {
            ot_optim_commit(&t->optim);
        } else {
            if (t->cfg.clip_norm > 0.0)
                ot_grad_clip(t->eng.grad, t->net.n_params, t->cfg.clip_norm);
            ot_optim_step(&t->optim, t->net.params, t->eng.grad, lr);
        }
        t->step_loss[b] = (float)loss;
        t->step++;
        t->samples_seen += n;
        t->epoch_loss += r.loss;
        t->epoch_correct += r.correct;
        t->batch_in_epoch = b + 1;
        if (progress)
            progress(t, b + 1, n_batches, arg);
        /* with other processes, the signal flags agreed with the step; alone, the flag now */
        int stop = ot_dist_size(t->eng.dist) > 1 ? t->eng.flag_max
                                                 : t->interrupt ? *t->interrupt : 0;
        if (b + 1 < n_batches && stop) {
            if (!*t->interrupt)
                *t->interrupt = stop;
            return OT_EINTR;
        }
    }
    double t1 = ot_now();
    st->val_loss = st->val_acc = NAN;
    if (t->val.n > 0) {
        ot_batch_result_t vr = ot_engine_evaluate(&t->eng, &t->val, 0, NULL);
        st->val_loss = vr.loss / (double)t->val.n;
        st->val_acc = (double)vr.correct / (double)t->val.n;
    }
    ot_batch_result_t ev = ot_engine_evaluate(&t->eng, &t->test, 0, NULL);
    double t2 = ot_now();
    t->epoch++;
    t->batch_in_epoch = 0;
    st->epoch = t->epoch;
    st->train_loss = t->epoch_loss / (double)N;
    st->train_acc = (double)t->epoch_correct / (double)N;
    st->test_loss = ev.loss / (double)t->test.n;
    st->test_acc = (double)ev.correct / (double)t->test.n;
    st->seconds = t2 - t0;
    size_t done = (n_batches - first) * B;
    if (done > N - first * B)
        done = N - first * B;
    st->samples_per_s = t1 > t0 ? (double)done / (t1 - t0) : 0.0;
    st->threads = t->threads;
    st->lr = lr;
    if (t->best_params)
        early_stopping(t, st->val_loss);
    return OT_OK;
}
