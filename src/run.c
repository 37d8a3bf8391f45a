/* run.c - the commands: training (header line, epochs with progress, per-epoch report,
 * checkpoints and history in the output directory, resume; in one process or several, see
 * ot_run.h) and eval of a checkpoint. */
#include "ot_run.h"

#include <signal.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_dist.h"
#include "ot_engine.h"
#include "ot_history.h"
#include "ot_model.h"
#include "ot_outdir.h"
#include "ot_train.h"
#include "ot_verify.h"

/* Progress bar on stderr when it is a terminal (with other processes: on the terminal, see
 * ot_run_train), redrawn at most ten times a second. */
typedef struct {
    ot_bar_t bar; /* drawn from the first step (no delay) */
    int epochs;
} progress_t;

static void show_progress(const ot_trainer_t *t, size_t done, size_t total, void *arg)
{
    progress_t *p = arg;
    if (done == total) {
        ot_bar_end(&p->bar);
        return;
    }
    enum { WIDTH = 30 };
    char bar[WIDTH + 1];
    size_t fill = done * WIDTH / total;
    for (size_t i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = 0;
    double rate = (double)(done * t->cfg.batch_size) / (ot_now() - p->bar.start + 1e-9);
    ot_bar_show(&p->bar, "  epoch %d/%d [%s] %zu/%zu  %.0f samples/s  loss %.4f", t->epoch + 1,
                p->epochs, bar, done, total, rate, t->step_loss[done - 1]);
}

/* The signal that asked the run to stop (SIGINT or SIGTERM), 0 while none did. A signal
 * handler can only talk through a static of type volatile sig_atomic_t: this is that one, and
 * only on_signal() writes it, except that with other processes the one they agreed on is
 * written here too (the main thread, between steps). */
static volatile sig_atomic_t stop_signal;

/* First SIGINT/SIGTERM: finish the current step, save, exit. A second SIGINT: exit at once;
 * every file is written atomically (temporary file, fsync, rename), so nothing is corrupted. */
static void on_signal(int sig)
{
    if (stop_signal && sig == SIGINT)
        _exit(128 + SIGINT);
    stop_signal = sig;
}

int ot_run_signal(void)
{
    return stop_signal;
}

void ot_run_catch_signals(int on)
{
    if (on)
        stop_signal = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on ? on_signal : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int ot_run_stop_requested(const ot_dist_t *d)
{
    int sig = ot_dist_max(d, stop_signal);
    if (sig && !stop_signal)
        stop_signal = sig;
    return sig != 0;
}

/* A checkpoint is due every checkpoint_every epochs (0: never in between) and at the end. */
static int checkpoint_due(const ot_config_t *c, int epoch)
{
    return epoch == c->epochs || (c->checkpoint_every > 0 && epoch % c->checkpoint_every == 0);
}

/* Save a checkpoint and say so: the first process's work; the others learn how it went. */
static int save(const ot_trainer_t *t, const char *dir, const ot_config_t *c, const ot_dist_t *d)
{
    int rc = OT_OK;
    if (ot_dist_rank(d) == 0) {
        ot_ckpt_saved_t sv;
        if (!(rc = ot_ckpt_save(t, dir, c->keep, &sv))) {
            printf("checkpoint %s  %.1f KiB  %.3f s\n", sv.path, (double)sv.bytes / 1024.0,
                   sv.seconds);
            fflush(stdout);
        }
    }
    return ot_dist_agree(d, rc);
}

/* After a stop signal: save the position (unless the epoch's checkpoint just did), say how to
 * resume, and return OT_EINTR (or the save's error). */
static int save_on_signal(const ot_trainer_t *t, const char *dir, const ot_config_t *c,
                          int saved, const ot_run_opts_t *o, const ot_dist_t *d)
{
    char latest[OT_PATH_MAX + 16], w1[4 * sizeof latest], w2[4 * OT_PATH_MAX];
    snprintf(latest, sizeof latest, "%s/latest.h5", dir);
    if (!saved) {
        int rc = save(t, dir, c, d);
        if (rc)
            return rc;
    }
    /* the command line's overrides again (the output directory, a data limit...): without
     * them the resume would go into the config's own directory, or not fit the data */
    ot_error("%s at epoch %d, step %llu: saved; continue with: %somptrain %s--resume %s %s",
             stop_signal == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)",
             t->epoch + (t->batch_in_epoch > 0), (unsigned long long)t->step,
             ot_dist_size(d) > 1 ? "mpirun ... " : "", o->again ? o->again : "",
             ot_shell_word(latest, w1, sizeof w1), ot_shell_word(c->path, w2, sizeof w2));
    return OT_EINTR;
}

/* --resume DIR: the newest checkpoint there that verifies, found by the first process (which
 * reads them all) and told to the others; into path. */
static int newest_checkpoint(const char *dir, char *path, size_t n, const ot_dist_t *d)
{
    int rc = ot_dist_rank(d) == 0 ? ot_verify_newest(dir, path, n) : OT_OK;
    if ((rc = ot_dist_agree(d, rc)))
        return rc;
    ot_dist_bcast(d, path, n);
    return OT_OK;
}

/* "4 threads", or "2 processes x 2 threads" for several processes, into buf. */
static const char *workers_str(int processes, int threads, char *buf, size_t n)
{
    const char *s = threads == 1 ? "" : "s";
    if (processes > 1)
        snprintf(buf, n, "%d processes x %d thread%s", processes, threads, s);
    else
        snprintf(buf, n, "%d thread%s", threads, s);
    return buf;
}

/* A note when this run's learning-rate schedule differs from the one the checkpoint at path
 * was trained under (its root attribute config): e.g. a cosine run given more epochs rises
 * again from where it had come down to, so it is not the run it continues; and one when
 * other keys that shape the training differ (ot_config_train_diff). */
static void schedule_note(const char *path, const ot_config_t *c, uint64_t step)
{
    char *text = ot_ckpt_config_text(path), diff[512];
    ot_config_t was;
    ot_config_defaults(&was);
    const int read = text && ot_config_load_text(&was, text, path) == OT_OK;
    if (read && ot_schedule_diff(&was, c, diff, sizeof diff) > 0)
        printf("note: %s differ%s from the checkpoint's run: the learning rate from step %llu "
               "on follows this config's schedule, not the one the checkpoint was trained "
               "under\n",
               diff, strchr(diff, ',') ? "" : "s", (unsigned long long)step);
    size_t k;
    if (read && (k = ot_config_train_diff(&was, c, diff, sizeof diff)) > 0)
        printf("note: %s differ%s from the checkpoint's run: the run goes on with this "
               "config's, so it is not the run it continues\n", diff, k > 1 ? "" : "s");
    free(text);
}

/* A note when a resume from epoch `epoch` (the epochs done) removed `removed` checkpoints of
 * later epochs, up to `last`, from dir (ot_ckpt_drop_later): they and the history past that
 * epoch belonged to the line of the run it leaves, which should not go unsaid. */
static void later_note(const char *dir, int epoch, size_t removed, long last)
{
    if (removed)
        printf("note: %s held %zu checkpoint%s of later epochs (up to %ld), of the line of the "
               "run this resume leaves: removed, with the history past epoch %d (a resume into "
               "another --output keeps a run's files)\n", dir, removed,
               removed == 1 ? "" : "s", last, epoch);
}

/* A note when data.train_limit or data.test_limit asks for more samples than the file holds:
 * the run uses them all, and the header's count alone would not say why. */
static void limit_note(const ot_config_t *c, size_t train_n, size_t test_n)
{
    const size_t limit[2] = {c->train_limit, c->test_limit}, n[2] = {train_n, test_n};
    for (int test = 0; test < 2; test++)
        if (limit[test] > n[test])
            printf("note: data.%s_limit %zu is above the %zu samples of %s: all of them are "
                   "used\n", test ? "test" : "train", limit[test], n[test], ot_data_path(c, test));
}

/* A note when each epoch ends with a batch too small for a batch norm's statistics (one value
 * per feature: 1 sample of a vector): a whole run of such batches is refused (train.c), one a
 * epoch only said, since the other steps train. */
static void last_batch_note(const ot_config_t *c, const ot_net_t *net, size_t n)
{
    const size_t last = n % c->batch_size;
    for (size_t i = 0; last > 0 && i < net->n_layers; i++) {
        const ot_layer_t *L = &net->layers[i];
        if (L->ops->stats && last * L->in.h * L->in.w < 2) {
            printf("note: each epoch ends with a batch of 1 sample (%zu = %zu x %zu + 1), over "
                   "which %s normalises each feature by itself: that step learns nothing below "
                   "it and moves its running statistics toward one sample; a "
                   "training.batch_size or data.train_limit that leaves no batch of 1 avoids "
                   "it\n", n, n / c->batch_size, c->batch_size, L->name);
            return;
        }
    }
}

/* A note when the training set's axes look read in the wrong order (ot_data_layout_hint). */
static void layout_note(const ot_config_t *c, const ot_dataset_t *ds)
{
    char hint[OT_PATH_MAX + 256];
    if (ot_data_layout_hint(c, ds, hint, sizeof hint))
        printf("note: %s\n", hint);
}

int ot_run_train(const ot_config_t *c0, const ot_run_opts_t *o0)
{
    int threads = o0->threads;
    ot_config_t c = *c0;
    ot_run_opts_t opts = *o0, *o = &opts;
    const ot_dist_t *d = o->dist;
    const int first = ot_dist_rank(d) == 0, R = ot_dist_size(d);
    ot_trainer_t t = {0};
    ot_history_t h = {0};
    ot_ckpt_info_t info = {0};
    char dir[OT_PATH_MAX], newest[OT_PATH_MAX + 32], workers[64];
    int rc, history_open = 0, lock = -1, kept_split = 0;

    /* every HDF5 file is closed explicitly; HDF5's own exit handler would crash on a history
     * whose flush failed (a full disk), turning a clean error into a segfault */
    H5dont_atexit();

    /* --resume DIR: the newest checkpoint there that verifies */
    struct stat st;
    if (o->resume && stat(o->resume, &st) == 0 && S_ISDIR(st.st_mode)) {
        if ((rc = newest_checkpoint(o->resume, newest, sizeof newest, d)))
            return rc;
        o->resume = newest;
    }

    /* a finished run is said before anything is written (every process reads the
     * checkpoint, and agrees on what it found) */
    if (o->resume) {
        if ((rc = ot_dist_agree(d, ot_ckpt_info(o->resume, &info))))
            return rc;
        if (info.stopped) {
            printf("omptrain: %s: the run stopped early at epoch %d (early stopping restored the "
                   "parameters of epoch %d); start a new run to train further\n",
                   o->resume, info.epoch, info.best_epoch);
            return OT_OK;
        }
        if (info.epoch >= c.epochs) {
            printf("omptrain: %s: the run already finished its %d epochs; raise training.epochs "
                   "(e.g. --epochs %d) to train further\n",
                   o->resume, info.epoch, info.epoch + 3);
            return OT_OK;
        }
        /* one shard per thread: keep the checkpoint's split, so the run continues exactly */
        if (c.shards == 0) {
            c.shards = (int)info.shards;
            kept_split = 1;
        }
    }
    /* one shard per thread of the whole job (the same count in every process) */
    if (c.shards == 0 && R > 1)
        c.shards = ot_dist_max(d, threads) * R;
    /* the output directory must take files, and be this run's alone, before any training
     * time is spent: the first process's, which alone writes there */
    rc = ot_output_dir(&c, dir, sizeof dir);
    size_t set_aside = 0;
    int made = 0; /* levels of dir this run created: removed again if it fails to start */
    if (!rc && first && !(rc = ot_output_dir_create(dir, &made)))
        rc = ot_output_dir_lock(dir, &lock);
    if ((rc = ot_dist_agree(d, rc)))
        goto out;
    /* every process: the data, the model, its part of each batch, the checkpoint */
    rc = ot_trainer_init(&t, &c, threads);
    if (!rc && kept_split && (size_t)R > info.shards) {
        ot_error("%s: its run split batches into %u shards, fewer than the %d processes; "
                 "expected at most %u processes, or training.shards = %d or more (the run then "
                 "goes on with other bits than it would have)",
                 o->resume, info.shards, R, info.shards, R);
        rc = OT_ECONFIG;
    } else if (!rc) {
        rc = ot_engine_distribute(&t.eng, d);
    }
    if (!rc && o->resume)
        rc = ot_ckpt_load(o->resume, &t);
    /* a resume goes on in its checkpoint's directory, or in one without another run (what is
     * wrong with the checkpoint itself said first) */
    if (!rc && first && o->resume)
        rc = ot_output_dir_check_resume(dir, o->resume);
    /* a new run keeps the last one's files in DIR/previous/ rather than replacing them, once
     * it has started (its data, model and memory checked): one that fails to start leaves the
     * directory's run where it was */
    if (!rc && first && !o->resume)
        rc = ot_output_dir_set_aside(dir, &set_aside);
    /* a resume from an earlier checkpoint: the later ones go before the history is cut */
    size_t dropped = 0;
    long dropped_last = 0;
    if (!rc && first && o->resume)
        rc = ot_ckpt_drop_later(dir, t.epoch + (t.batch_in_epoch > 0), o->resume, &dropped,
                                &dropped_last);
    if ((rc = ot_dist_agree(d, rc)))
        goto out;
    int created = 0;
    if (first) {
        rc = ot_history_open(&h, dir, o->resume != NULL, t.step, t.epoch, &created);
        history_open = 1; /* closed also after a failed open */
    }
    if ((rc = ot_dist_agree(d, rc)))
        goto out;

    char model[OT_STACK_TEXT];
    ot_config_model_str(&c, model, sizeof model);
    printf("omptrain %s: %s: model %s", OT_VERSION, c.path, model);
    printf(" (%zu parameters), %zu train / %zu test samples, batch %zu, %zu shards, %s, "
           "memory ~%.0f MB", ot_net_count(&t.net), t.train.n, t.test.n, c.batch_size,
           t.eng.n_shards, workers_str(R, threads, workers, sizeof workers),
           t.mem.total / 1048576.0);
    if (t.mem_available > 0.0)
        printf(" of %.0f MB", (t.mem_available + t.mem.base + t.mem.data) / 1048576.0);
    if (R > 1)
        printf(" per process");
    printf("\n");
    limit_note(&c, t.train.n + c.validation, t.test.n);
    layout_note(&c, &t.train);
    last_batch_note(&c, &t.net, t.train.n);
    if (set_aside) {
        char prev[OT_PATH_MAX + 16], word[4 * sizeof prev];
        snprintf(prev, sizeof prev, "%s/%s", dir, OT_PREVIOUS_NAME);
        ot_shell_word(prev, word, sizeof word);
        printf("note: %s held an earlier run: its %zu file%s %s now in %s/ (--resume %s "
               "--output %s continues it there)\n", dir, set_aside, set_aside == 1 ? "" : "s",
               set_aside == 1 ? "is" : "are", prev, word, word);
    }
    if (R > 1 && ot_dist_bound() && ot_dist_cpus() < threads)
        printf("note: the first process may run on %d CPU%s but has %d threads: mpirun binds "
               "each process to a core unless told otherwise (mpirun --bind-to none, or "
               "--map-by slot:PE=%d)\n", ot_dist_cpus(), ot_dist_cpus() > 1 ? "s" : "",
               threads, threads);
    else if (ot_dist_cpus() > 0 && ot_dist_cpus() < threads) /* (all the machine's CPUs) */
        printf("note: %d threads on %d CPU%s: the threads beyond the CPUs take turns with the "
               "others, and every step waits for the last one (--threads %d is likely faster; "
               "the results are the same bits)\n",
               threads, ot_dist_cpus(), ot_dist_cpus() > 1 ? "s" : "", ot_dist_cpus());
    if (o->resume) {
        char where[96];
        if (info.batch_in_epoch) /* as the interrupt's line numbers it: the epoch under way */
            snprintf(where, sizeof where, "inside epoch %d after %llu batches", t.epoch + 1,
                     (unsigned long long)info.batch_in_epoch);
        else
            snprintf(where, sizeof where, "epoch %d", t.epoch);
        printf("resumed from %s: %s, step %llu (written %s by omptrain %s, %u shards, %s)\n",
               o->resume, where, (unsigned long long)t.step, info.created, info.version,
               info.shards, workers_str(info.processes, info.threads, workers, sizeof workers));
        if (t.eng.n_shards != info.shards)
            printf("note: the checkpoint split batches into %u shards and this run into %zu: "
                   "the result will differ in the last bits from an uninterrupted run\n",
                   info.shards, t.eng.n_shards);
        if (created)
            printf("note: %s was not there; the new one starts at epoch %d\n", h.path,
                   t.epoch + 1);
        else if (first && h.last_epoch < (uint64_t)t.epoch) { /* e.g. a disk that filled up
                                                                 while the curve was written */
            char lack[64];
            const unsigned long long from = (unsigned long long)h.last_epoch + 1;
            if (from == (unsigned long long)t.epoch)
                snprintf(lack, sizeof lack, "epoch %llu", from);
            else
                snprintf(lack, sizeof lack, "epochs %llu to %d", from, t.epoch);
            char ends[64] = "holds no epoch";
            if (h.last_epoch)
                snprintf(ends, sizeof ends, "ends at epoch %llu",
                         (unsigned long long)h.last_epoch);
            printf("note: %s %s, and the checkpoint is of epoch %d: the curves will lack %s\n",
                   h.path, ends, t.epoch, lack);
        }
        schedule_note(o->resume, &c, t.step);
        if (info.seed != c.seed) /* the shuffle's generator is restored; these are keyed */
            printf("note: training.seed %llu -> %llu differs from the checkpoint's run: the "
                   "data order goes on from the checkpoint, but dropout masks and image shifts "
                   "follow seed %llu, so this is not the run it continues\n",
                   (unsigned long long)info.seed, (unsigned long long)c.seed,
                   (unsigned long long)c.seed);
        later_note(dir, t.epoch, dropped, dropped_last);
    }
    fflush(stdout);
    /* the bar: on stderr when it is a terminal; with other processes, mpirun passes stderr
     * through a pipe, so the first process draws it on the terminal itself, if it has one */
    FILE *bar = NULL;
    if (first && R == 1 && isatty(STDERR_FILENO))
        bar = stderr;
    else if (first && R > 1)
        bar = fopen("/dev/tty", "w");
    const size_t n_batches = ot_trainer_batches(&t);
    stop_signal = 0;
    t.interrupt = &stop_signal;
    ot_run_catch_signals(1);
    for (int e = t.epoch; e < c.epochs; e++) {
        progress_t p = {.epochs = c.epochs};
        ot_bar_begin(&p.bar, bar, 0.0);
        ot_epoch_stats_t st;
        int saved = 0;
        rc = ot_trainer_epoch(&t, &st, bar ? show_progress : NULL, &p);
        ot_status_clear(); /* a bar cut short by a signal or an error */
        if (rc) {
            if (rc == OT_EINTR)
                rc = save_on_signal(&t, dir, &c, 0, o, d);
            break;
        }
        printf("epoch %3d/%d  train loss %.4f acc %6.2f%%  ", st.epoch, c.epochs, st.train_loss,
               100.0 * st.train_acc);
        if (t.val.n > 0)
            printf("val loss %.4f acc %6.2f%%  ", st.val_loss, 100.0 * st.val_acc);
        printf("test loss %.4f acc %6.2f%%  %6.2f s  %8.0f samples/s\n", st.test_loss,
               100.0 * st.test_acc, st.seconds, st.samples_per_s);
        if (t.stopped)
            printf("early stopping: no better validation loss for %d epochs; the parameters of "
                   "epoch %d (val loss %.4f) are restored\n",
                   c.patience, t.best_epoch, t.best_val_loss);
        fflush(stdout);
        /* the curve first: a crash between the two leaves a history one epoch ahead of the
         * checkpoint, which a resume cuts back */
        rc = first ? ot_history_append(&h, t.step - n_batches, t.step_loss, n_batches, &st) : 0;
        if ((rc = ot_dist_agree(d, rc))) {
            /* the run stops, but the epochs trained since the last checkpoint need not be lost
             * with the curve: a checkpoint is saved whole or not at all, so trying cannot harm
             * the last one (on a full disk it most likely fails too, and says so). A resume
             * from it continues the history after this epoch, which the history then lacks. */
            save(&t, dir, &c, d);
            break;
        }
        if (t.stopped || checkpoint_due(&c, t.epoch)) {
            if ((rc = save(&t, dir, &c, d)))
                break;
            saved = 1;
        }
        if (t.stopped)
            break;
        if (ot_run_stop_requested(d)) {
            rc = save_on_signal(&t, dir, &c, saved, o, d);
            break;
        }
    }
    ot_run_catch_signals(0);
    if (bar && bar != stderr)
        fclose(bar);
    if (!rc)
        printf("peak memory %.0f MB (estimated %.0f MB)%s\n", ot_mem_peak_rss() / 1048576.0,
               t.mem.total / 1048576.0, R > 1 ? " in the first process" : "");
out:
    if (history_open) {
        int rc2 = ot_history_close(&h);
        if (!rc)
            rc = rc2;
    }
    rc = ot_dist_agree(d, rc); /* the history's close is the first process's */
    ot_trainer_free(&t);
    if (lock >= 0)
        close(lock); /* the directory is free for the next run */
    if (rc && !history_open && lock >= 0) /* failed to start: no trace of a new directory */
        ot_output_dir_unmake(dir, made);
    return rc;
}

/* Classes up to which eval prints the whole confusion matrix (lines of 16 + 7 K characters);
 * past it, each class's recall and the most frequent confusions (ot_run.h). */
#define CONFUSION_MAX_CLASSES 20

/* Row i's samples, and its recall as a "%6.2f%%" or "-" field of 7 characters into buf. */
static uint64_t recall_of(const uint64_t *confusion, size_t K, size_t i, char buf[16])
{
    uint64_t row = 0;
    for (size_t j = 0; j < K; j++)
        row += confusion[i * K + j];
    if (row)
        snprintf(buf, 16, "%6.2f%%", 100.0 * (double)confusion[i * K + i] / (double)row);
    else
        snprintf(buf, 16, "%7s", "-");
    return row;
}

void ot_run_print_confusion(const uint64_t *confusion, size_t K, char *const *names)
{
    char rec[16];
    if (K <= CONFUSION_MAX_CLASSES) {
        printf("confusion matrix (rows: true class, columns: predicted class)\n      ");
        for (size_t j = 0; j < K; j++)
            printf(" %6zu", j);
        printf(names ? "   recall  class\n" : "   recall\n");
        for (size_t i = 0; i < K; i++) {
            printf("%6zu", i);
            for (size_t j = 0; j < K; j++)
                printf(" %6llu", (unsigned long long)confusion[i * K + j]);
            recall_of(confusion, K, i, rec);
            printf("  %s%s%s\n", rec, names ? "  " : "", names ? names[i] : "");
        }
        return;
    }
    printf("recall by true class (%zu classes: the confusion matrix is printed for up to %d)",
           K, CONFUSION_MAX_CLASSES);
    for (size_t i = 0; i < K; i++) {
        recall_of(confusion, K, i, rec);
        printf("%s%6zu %s", i % 8 ? "  " : "\n", i, rec);
    }
    printf("\nmost frequent confusions (true class -> predicted class: samples):");
    size_t shown = 0;
    uint64_t below = UINT64_MAX; /* the next count taken is under this one, or equal further on */
    size_t after = 0;            /* ... and then after this cell */
    while (shown < 10) {
        size_t best = K * K;
        for (size_t q = 0; q < K * K; q++) {
            const uint64_t v = confusion[q];
            if (q / K == q % K || v == 0 || v > below || (v == below && q <= after))
                continue;
            if (best == K * K || v > confusion[best])
                best = q;
        }
        if (best == K * K)
            break;
        printf("%s%6zu -> %zu: %llu", shown % 4 ? "  " : "\n", best / K,
               best % K, (unsigned long long)confusion[best]);
        below = confusion[best];
        after = best;
        shown++;
    }
    printf(shown ? "\n" : "  none: every sample's class was predicted\n");
    if (names) { /* one a line: a name may hold blanks */
        printf("classes:\n");
        for (size_t i = 0; i < K; i++)
            printf("%6zu  %s\n", i, names[i]);
    }
}

int ot_run_eval(const ot_config_t *c, const char *path, const ot_run_opts_t *o)
{
    ot_dataset_t test = {0};
    ot_model_t m = {0};
    ot_engine_t eng = {0};
    uint64_t *confusion = NULL;
    int rc;
    if ((rc = ot_ckpt_info(path, &m.info)) || (rc = ot_data_load(&test, c, 1)))
        goto out;
    const ot_shape_t shape = ot_data_shape(&test);
    if ((rc = ot_model_load(&m, c, path, &shape, ot_data_path(c, 1))))
        goto out;
    ot_input_apply(&m.input, &test);
    ot_net_t *net = &m.net;
    const ot_ckpt_info_t info = m.info;
    size_t shards = c->shards > 0 ? (size_t)c->shards : (size_t)o->threads;
    size_t K = net->n_classes, cells;
    /* chunks of training.batch_size, as training's evaluation takes them (the same bits); a
     * smaller test set is one chunk either way, and buffers for it alone are enough */
    const size_t rows = c->batch_size < test.n ? c->batch_size : test.n;
    if ((rc = ot_engine_init(&eng, net, rows > 0 ? rows : 1, shards)))
        goto out;
    eng.sparse_ok = c->sparse_input;
    if (ot_mul_size(K, K, &cells) || !(confusion = calloc(cells, sizeof *confusion))) {
        ot_error("cannot allocate a %zux%zu confusion matrix", K, K);
        rc = OT_ENOMEM;
        goto out;
    }
    double t0 = ot_now();
    ot_batch_result_t r = ot_engine_evaluate(&eng, &test, 0, confusion);
    double secs = ot_now() - t0;

    printf("omptrain %s: eval %s (epoch %d, step %llu, written %s) on %s: %zu test samples\n",
           OT_VERSION, path, info.epoch, (unsigned long long)info.step, info.created,
           ot_data_path(c, 1), test.n);
    if (test.class_names_note[0])
        printf("note: %s: %s: not used\n", ot_data_path(c, 1), test.class_names_note);
    printf("test loss %.4f  acc %.2f%%  (%zu of %zu correct, %.2f s)\n", r.loss / (double)test.n,
           100.0 * (double)r.correct / (double)test.n, r.correct, test.n, secs);
    ot_run_print_confusion(confusion, K, test.class_names);
    rc = OT_OK;
out:
    free(confusion);
    ot_engine_free(&eng);
    ot_model_free(&m);
    ot_dataset_free(&test);
    return rc;
}
