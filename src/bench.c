/* bench.c - the scaling benchmark: training throughput per processes x threads, set against
 * the single-precision GEMM ceiling of the machine's BLAS (OpenBLAS) measured in the same run.
 *
 * For each process count p (under mpirun: the first p processes; the others wait, asleep) and
 * thread count t: build the engine (shards as the config says; 0 = one per thread), warm up,
 * then time whole training steps (gather, forward, backward, reduction across threads and
 * processes, the config's optimizer) for about OT_BENCH_SECONDS (default 2) seconds in
 * SEGMENTS segments of the same number of steps in every process; samples/s is the best
 * segment's, as the first process times it. The time spent combining the shards' gradients
 * (ot_engine_t.combine_s) is reported per step, and so is each phase of the step
 * (ot_engine_t.phase_s: about 8 clock reads a thread a step) as the first process's threads
 * spend it. The ceiling for p x t is p x t threads each
 * running single-threaded CEIL_N^3 sgemms concurrently, the way workers use BLAS, timed in
 * segments like the model (the best counts): the faster of
 * the machine's BLAS (OpenBLAS) and omptrain's own kernel (ot_kgemm, B packed once), both
 * measured, so that a kernel built for wider vectors than the BLAS uses does not inflate the
 * share. */
#include "ot_bench.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_data.h"
#include "ot_datasrc.h"
#include "ot_dist.h"
#include "ot_engine.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_memory.h"
#include "ot_net.h"
#include "ot_optim.h"
#include "ot_outdir.h"
#include "ot_rng.h"
#include "ot_run.h"
#include "ot_train.h"

extern char **environ;

#define MAX_COUNTS 64     /* thread counts in one list */
#define CEIL_N 1024       /* side of the ceiling's square GEMM */
#define CEIL_SECONDS 0.6  /* time spent on each ceiling per thread count, in SEGMENTS */
#define WARMUP_SECONDS 0.3
#define WARMUP_KEEP 1024   /* warm-up step times kept for the median */
#define SEGMENTS 5         /* timed segments per thread count; the best one counts */

typedef struct {
    int processes;
    int threads;
    size_t shards;
    size_t steps;
    double seconds;
    double samples_per_s;
    double speedup;
    double efficiency;
    double gflops;       /* achieved, counting only the Affine GEMM FLOPs */
    double ceiling;      /* GFLOP/s of t concurrent single-threaded sgemms: the faster of */
    double blas_ceiling; /* the BLAS's and */
    double own_ceiling;  /* omptrain's kernel's */
    double share;        /* gflops / ceiling */
    double rss_mb;       /* peak resident set of the process so far */
    double combine_ms;   /* per step: combining the shards' gradients (ot_engine_t.combine_s) */
    double phase_us[OT_PHASES];     /* per step, each phase (ot_phase_t): mean over the threads */
    double phase_max_us[OT_PHASES]; /* and the thread that spent the most in it */
    double kept;         /* share of the steps that kept lines out of the shared state
                            (ot_xfer_t); -1: not a choice at this count (one thread, or
                            processes) */
} row_t;

/* Parse "1,2,4" into counts (each 1..max) for option flag; NULL = 1, 2, 4, ... up to deflt,
 * plus deflt itself when it is not a power of two. Returns the number of counts or
 * OT_ECONFIG. */
static int parse_counts(const char *flag, const char *list, int max, int deflt, int *counts)
{
    int n = 0;
    if (!list) {
        for (int t = 1; t <= deflt && n < MAX_COUNTS; t *= 2)
            counts[n++] = t;
        if (counts[n - 1] != deflt && n < MAX_COUNTS)
            counts[n++] = deflt;
        return n;
    }
    const char *p = list;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > max || (*end && *end != ',') || n == MAX_COUNTS) {
            ot_error("%s: invalid list '%s', expected up to %d comma-separated integers in "
                     "[1, %d]%s", flag, list, MAX_COUNTS, max,
                     strcmp(flag, "--processes") == 0
                         ? " (the processes that mpirun -np started)" : ", e.g. 1,2,4");
            return OT_ECONFIG;
        }
        counts[n++] = (int)v;
        if (!*end)
            return n;
        p = end + 1;
    }
}

/* FLOPs of one training sample through the layers' GEMMs (each kind's ops->flops). */
static double flops_per_sample(const ot_net_t *net)
{
    double f = 0.0;
    for (size_t l = 0; l < net->n_layers; l++) {
        const ot_layer_t *L = &net->layers[l];
        f += L->ops->flops ? L->ops->flops(L) : 0.0;
    }
    return f;
}

static double peak_rss_mb(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0.0;
    return (double)ru.ru_maxrss / 1024.0; /* ru_maxrss is in KiB on Linux */
}

/* C = A B, N x N, single-threaded: the BLAS's sgemm, or (own) omptrain's kernel on B packed
 * once beforehand. */
static void ceiling_gemm(int own, size_t N, const float *A, const float *B, const float *Bp,
                         float *C, float *work)
{
    if (own)
        ot_kgemm(N, N, N, A, N, Bp, NULL, C, N, work);
    else
        ot_gemm(false, false, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N);
}

/* Bytes one thread of the ceiling holds: A, B, C, and for omptrain's kernel B packed and its
 * workspace (the BLAS's own buffers are its, allocated once). */
static double ceiling_thread_bytes(void)
{
    const size_t N = CEIL_N;
    return (3.0 * (double)(N * N) + (double)ot_kpack_size(N, N) + (double)ot_kgemm_work_size(N)) *
           sizeof(float);
}

/* GFLOP/s of t threads each running single-threaded CEIL_N^3 sgemms (the BLAS's, or with own
 * omptrain's kernel) at the same time: the best of SEGMENTS segments of the same number of
 * calls in every thread, as the model's rate is the best segment's (a burst of noise in the
 * ceiling's time then lowers it no more than it lowers the model's rate, which would inflate
 * the share). Returns a negative value when the buffers cannot be allocated. */
static double gemm_ceiling(int t, int own)
{
    const size_t N = CEIL_N, sz = N * N * sizeof(float);
    const size_t psz = ot_kpack_size(N, N) * sizeof(float),
                 wsz = ot_kgemm_work_size(N) * sizeof(float);
    int ok = 1;
    double reps_d = 0.0, seconds = 0.0, best = INFINITY;
    omp_set_num_threads(t);
#pragma omp parallel default(none) shared(ok, reps_d, seconds, best) \
    firstprivate(N, sz, psz, wsz, own)
    {
        float *A = ot_alloc(sz), *B = ot_alloc(sz), *C = ot_alloc(sz);
        float *Bp = own ? ot_alloc(psz) : NULL, *work = own ? ot_alloc(wsz) : NULL;
        int mine = A && B && C && (!own || (Bp && work));
#pragma omp atomic
        ok &= mine;
#pragma omp barrier
        if (ok) {
            for (size_t i = 0; i < N * N; i++) {
                A[i] = (float)((i * 7) % 13) * 0.1f;
                B[i] = (float)((i * 5) % 11) * 0.1f;
            }
            if (own)
                ot_kpack_b(B, N, false, N, N, Bp, 0, SIZE_MAX, false);
            /* warm-up call: page faults, packing buffers, clocks */
            double w0 = ot_now();
            ceiling_gemm(own, N, A, B, Bp, C, work);
            double one = ot_now() - w0;
#pragma omp barrier
#pragma omp single
            {
                /* every thread runs the same count a segment, from the master's estimate */
                double r = CEIL_SECONDS / SEGMENTS / (one > 1e-6 ? one : 1e-6);
                reps_d = r < 1.0 ? 1.0 : r > 200.0 ? 200.0 : (double)(long)r;
            }
            /* timed as the model is (bench_run): the best of SEGMENTS segments */
            for (int seg = 0; seg < SEGMENTS; seg++) {
#pragma omp single
                seconds = ot_now();
                for (long r = 0; r < (long)reps_d; r++)
                    ceiling_gemm(own, N, A, B, Bp, C, work);
#pragma omp barrier
#pragma omp single
                {
                    const double dt = ot_now() - seconds;
                    best = dt < best ? dt : best;
                }
            }
        }
        ot_free(A);
        ot_free(B);
        ot_free(C);
        ot_free(Bp);
        ot_free(work);
    }
    if (!ok)
        return -1.0;
    return (double)t * reps_d * 2.0 * (double)N * N * N / best / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Steps to run: while the first process of d says go on (collective; alone: go). */
static int go_on(const ot_dist_t *d, int mine)
{
    return ot_dist_max(d, ot_dist_rank(d) == 0 ? mine : 0);
}

/* One timed SGD step, as the trainer runs it: the update inside the engine's step (alone),
 * or after it (with other processes). */
typedef struct {
    ot_engine_t *eng;
    ot_optim_t *opt;
    float *params;
    double lr;
} step_t;

static int always(void *arg, double loss, size_t n)
{
    (void)arg, (void)loss, (void)n;
    return 1;
}

static void bench_span(void *arg, float *grad, size_t lo, size_t hi, int shared)
{
    const step_t *s = arg;
    ot_optim_span(s->opt, s->params, grad, lo, hi, s->lr, shared);
}

static void bench_step(step_t *s, const ot_dataset_t *train, const uint32_t *idx, size_t n)
{
    s->eng->hook = (ot_step_hook_t){always, bench_span, s};
    ot_engine_gradient(s->eng, train, idx, n);
    if (s->eng->applied)
        ot_optim_commit(s->opt);
    else
        ot_optim_step(s->opt, s->params, s->eng->grad, s->lr);
}

/* Time SGD steps with the processes of d (NULL: this one alone), t threads each; fills r (all
 * but speed-up, efficiency and the ceiling). Collective over d. */
static int bench_run(const ot_config_t *c, const ot_dataset_t *train, uint32_t *order,
                     const ot_dist_t *d, int t, row_t *r)
{
    ot_net_t net;
    ot_engine_t eng;
    ot_optim_t opt;
    memset(&eng, 0, sizeof eng);
    memset(&opt, 0, sizeof opt);
    const ot_shape_t in = ot_data_shape(train);
    const int P = ot_dist_size(d);
    int rc = ot_net_init(&net, c, &in);
    if (rc)
        return rc;
    ot_rng_t init;
    ot_rng_seed(&init, OT_SEED_INIT(c->seed));
    ot_net_init_params(&net, c, &init);
    size_t shards = c->shards > 0 ? (size_t)c->shards : (size_t)(t * P);
    if ((rc = ot_optim_init(&opt, c, &net)) ||
        (rc = ot_engine_init(&eng, &net, c->batch_size, shards)) ||
        (rc = ot_engine_distribute(&eng, d)))
        goto done;
    eng.sparse_ok = c->sparse_input;
    omp_set_num_threads(t);
    const size_t B = c->batch_size, per_epoch = train->n / B;
    size_t b = 0, steps = 0;
    step_t step = {&eng, &opt, net.params, c->lr};
    const char *env = getenv("OT_BENCH_SECONDS");
    double run_s = env ? strtod(env, NULL) : 2.0;
    if (!(run_s > 0.0) || run_s > 3600.0)
        run_s = 2.0;
    /* Warm-up until the first process has spent WARMUP_SECONDS (the others follow its word,
     * step by step), then SEGMENTS timed segments of the same number of steps everywhere,
     * sized from the warm-up's pace: the median step (the first, with the page faults, left
     * out), since on a shared machine one step that lost its core to another process can take
     * a hundred times the others, and a mean would size the segments to a few steps. For the
     * same reason the rate is the best segment's (peers are timed the same way by
     * scripts/compare_pytorch.py). */
    double t0 = ot_now(), prev = t0, dts[WARMUP_KEEP];
    size_t k = 0, kept = 0;
    do {
        eng.next_idx = order + (b + 1) % per_epoch * B;
        eng.next_n = B;
        bench_step(&step, train, order + b * B, B);
        b = (b + 1) % per_epoch;
        double now = ot_now();
        if (k++ > 0 && kept < WARMUP_KEEP)
            dts[kept++] = now - prev;
        prev = now;
    } while (go_on(d, ot_now() - t0 < WARMUP_SECONDS && !ot_run_signal()));
    qsort(dts, kept, sizeof *dts, cmp_double);
    double pace = kept ? dts[kept / 2] : ot_now() - t0;
    uint64_t per_seg = (uint64_t)(run_s / SEGMENTS / (pace > 1e-9 ? pace : 1e-9));
    per_seg = per_seg < 1 ? 1 : per_seg;
    ot_dist_bcast(d, &per_seg, sizeof per_seg);
    double best = 0.0, seconds = 0.0;
    eng.combine_s = 0.0;
    double *phase = ot_alloc((size_t)t * OT_PHASE_STRIDE * sizeof *phase);
    eng.xfer_steps[0] = eng.xfer_steps[1] = 0;
    eng.phase_s = phase;
    eng.phase_threads = phase ? (size_t)t : 0;
    for (int seg = 0; seg < SEGMENTS; seg++) {
        double s0 = ot_now();
        for (uint64_t i = 0; i < per_seg; i++) {
            eng.next_idx = order + (b + 1) % per_epoch * B;
            eng.next_n = B;
            bench_step(&step, train, order + b * B, B);
            b = (b + 1) % per_epoch;
        }
        double dt = ot_now() - s0;
        steps += per_seg;
        seconds += dt;
        if ((double)(per_seg * B) / dt > best)
            best = (double)(per_seg * B) / dt;
        if (ot_run_stop_requested(d)) { /* the row is not finished: not reported */
            ot_free(phase);
            rc = OT_EINTR;
            goto done;
        }
    }
    r->processes = P;
    r->threads = t;
    r->shards = shards;
    r->steps = steps;
    r->seconds = seconds;
    r->samples_per_s = best;
    r->combine_ms = 1e3 * eng.combine_s / (double)steps;
    const uint64_t ways = eng.xfer_steps[0] + eng.xfer_steps[1];
    r->kept = ways ? (double)eng.xfer_steps[1] / (double)ways : -1.0;
    for (int k = 0; phase && k < OT_PHASES; k++) {
        double sum = 0.0, most = 0.0;
        for (int i = 0; i < t; i++) {
            const double s = phase[i * OT_PHASE_STRIDE + k];
            sum += s;
            most = s > most ? s : most;
        }
        r->phase_us[k] = 1e6 * sum / t / (double)steps;
        r->phase_max_us[k] = 1e6 * most / (double)steps;
    }
    ot_free(phase);
    r->gflops = r->samples_per_s * flops_per_sample(&net) / 1e9;
done:
    ot_engine_free(&eng);
    ot_optim_free(&opt);
    ot_net_free(&net);
    return rc;
}

/* Each row's step by phase: the threads' mean, and the most one thread spent (max). */
static void print_phases(const row_t *rows, int n)
{
    printf("step by phase, microseconds: the threads' mean, and the most one thread spent; "
           "kept: share of the steps that kept lines out of the shared state\n");
    printf("%5s %7s %4s", "procs", "threads", "");
    for (int k = 0; k < OT_PHASES; k++)
        printf(" %9s", ot_phase_name[k]);
    printf(" %6s\n", "kept");
    for (int i = 0; i < n; i++)
        for (int max = 0; max <= 1; max++) {
            if (!max)
                printf("%5d %7d %4s", rows[i].processes, rows[i].threads, "mean");
            else
                printf("%5s %7s %4s", "", "", "max");
            for (int k = 0; k < OT_PHASES; k++)
                printf(" %9.1f", max ? rows[i].phase_max_us[k] : rows[i].phase_us[k]);
            if (!max && rows[i].kept >= 0.0)
                printf(" %5.0f%%", 100.0 * rows[i].kept);
            else if (!max)
                printf(" %6s", "-");
            printf("\n");
        }
}

/* The GEMM ceiling of p x t threads (the BLAS's, or with own omptrain's kernel): each of d's
 * processes measures its t threads at the same time; the first process gets the sum (the
 * others' numbers are theirs). Collective. */
static double ceiling_of(const ot_dist_t *d, int t, int own)
{
    const int P = ot_dist_size(d);
    double *all = calloc((size_t)P, sizeof *all);
    size_t *off = calloc((size_t)P + 1, sizeof *off);
    double sum = -1.0;
    int ok = all && off;
    if (ot_dist_max(d, !ok)) /* every process or none */
        goto done;
    for (int q = 0; q <= P; q++)
        off[q] = (size_t)q;
    all[ot_dist_rank(d)] = gemm_ceiling(t, own);
    ot_dist_allgather(d, all, sizeof *all, off);
    sum = 0.0;
    for (int q = 0; q < P; q++)
        sum = all[q] < 0.0 || sum < 0.0 ? -1.0 : sum + all[q];
done:
    free(all);
    free(off);
    return sum;
}

static int write_csv(const char *path, const ot_config_t *c, const row_t *rows, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        ot_error("cannot write '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    fprintf(f, "config,batch,processes,threads,shards,steps,seconds,samples_per_s,speedup,"
               "efficiency,gflops,gemm_ceiling_gflops,ceiling_share,peak_rss_mb,combine_ms,"
               "blas_ceiling_gflops,kernel_ceiling_gflops\n");
    for (int i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        fprintf(f, "%s,%zu,%d,%d,%zu,%zu,%.4f,%.1f,%.4f,%.4f,%.3f,%.3f,%.4f,%.1f,%.4f,%.3f,%.3f\n",
                c->path, c->batch_size, r->processes, r->threads, r->shards, r->steps,
                r->seconds, r->samples_per_s, r->speedup, r->efficiency, r->gflops, r->ceiling,
                r->share, r->rss_mb, r->combine_ms, r->blas_ceiling, r->own_ceiling);
    }
    if (fclose(f) != 0) {
        ot_error("cannot write '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    return OT_OK;
}

#define PLOTTER "scripts/plot_scaling.py"

/* The plotter: PLOTTER from the working directory (a checkout), else beside the executable
 * (omptrain run from another folder), into buf; -1 where neither holds it (buf: PLOTTER). */
static int find_plotter(char *buf, size_t n)
{
    struct stat st;
    char exe[OT_PATH_MAX];
    snprintf(buf, n, "%s", PLOTTER);
    if (stat(buf, &st) == 0)
        return 0;
    const ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash = NULL;
    if (len > 0) {
        exe[len] = '\0';
        slash = strrchr(exe, '/');
    }
    if (!slash)
        return -1;
    *slash = '\0';
    if (snprintf(buf, n, "%s/%s", exe, PLOTTER) < (int)n && stat(buf, &st) == 0)
        return 0;
    snprintf(buf, n, "%s", PLOTTER);
    return -1;
}

/* Run the plotter on CSV into PNG with /usr/bin/python3, when both exist. A missing or failing
 * plotter is reported but is not an error of the benchmark. */
static void plot(const char *csv, const char *png)
{
    const char *py = "/usr/bin/python3";
    char script[OT_PATH_MAX + 32];
    struct stat st;
    if (stat(py, &st) != 0 || find_plotter(script, sizeof script) != 0) {
        printf("plot: skipped (%s, or %s here or beside the executable, not found)\n", py,
               PLOTTER);
        return;
    }
    char *argv[] = {(char *)py, script, (char *)csv, (char *)png, NULL};
    pid_t pid;
    int status;
    if (posix_spawn(&pid, py, NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("plot: %s failed; the CSV is still in %s\n", script, csv);
    else
        printf("plot: %s\n", png);
}

/* Whether every row's training fits in the memory available to a process (ot_mem_check, with
 * the rows' threads and shards; no test set, no checkpoint), into *available and *what. */
static int check_memory(const ot_config_t *c, const ot_dataset_t *train, const int *tc, int nt,
                        const int *pc, int np, double *available, const char **what)
{
    const ot_shape_t in = ot_data_shape(train);
    ot_net_t net;
    int rc = ot_net_layout(&net, c, &in);
    if (rc)
        return rc;
    const ot_dataset_t none = {0};
    const ot_optim_t kind = {.kind = c->optimizer};
    *available = ot_mem_available(what);
    ot_mem_t worst = {0};
    int worst_t = 0;
    for (int i = 0; i < nt * np; i++) {
        const size_t t = (size_t)tc[i % nt], p = (size_t)pc[i / nt];
        ot_mem_t m;
        ot_mem_estimate(&m, c, &net, train, &none, ot_optim_n_buffers(&kind), t,
                        c->shards > 0 ? (size_t)c->shards : t * p);
        m.total -= m.checkpoint; /* bench saves none */
        m.checkpoint = 0.0;
        if (m.engine + m.optimizer >= worst.engine + worst.optimizer) {
            worst = m;
            worst_t = (int)t;
        }
    }
    char where[OT_PATH_MAX + 64];
    snprintf(where, sizeof where, "bench %s at %d thread%s a process", c->path, worst_t,
             worst_t > 1 ? "s" : "");
    rc = ot_mem_check(&worst, *available, where);
    ot_net_free(&net);
    return rc;
}

/* One row: p processes of the world (the first p; the others wait asleep) with t threads
 * each, into r; the ceiling too when every process's run went well. Collective over the
 * world; returns the agreed status. */
static int bench_row(const ot_config_t *c, const ot_dataset_t *train, uint32_t *order,
                     const ot_dist_t *world, int p, int t, int ceil_fit, row_t *r)
{
    ot_dist_t *sub = NULL;
    int rc = ot_dist_split(world, p, &sub);
    if (!rc && ot_dist_rank(world) < p) {
        rc = bench_run(c, train, order, sub, t, r);
        if (!ot_dist_max(sub, rc != 0)) {
            /* the BLAS only where it takes t concurrent callers, and either one only where t
             * threads' matrices fit in memory (else NaN: not measured) */
            r->blas_ceiling = t <= ot_gemm_max_callers() && t <= ceil_fit ? ceiling_of(sub, t, 0)
                                                                           : NAN;
            r->own_ceiling = t <= ceil_fit ? ceiling_of(sub, t, 1) : NAN;
            r->ceiling = r->blas_ceiling < 0.0 || r->own_ceiling < 0.0 ? -1.0
                         : r->blas_ceiling > r->own_ceiling ? r->blas_ceiling : r->own_ceiling;
            if (r->ceiling < 0.0) {
                ot_error("cannot allocate the ceiling's %dx%d matrices", CEIL_N, CEIL_N);
                rc = OT_ENOMEM;
            }
        }
    }
    ot_dist_free(sub);
    ot_dist_wait(world);
    return ot_dist_agree(world, rc);
}

int ot_bench_command(const ot_config_t *c, const char *threads, const char *processes,
                     const ot_dist_t *world)
{
    const int R = ot_dist_size(world);
    int tc[MAX_COUNTS], pc[MAX_COUNTS];
    /* the same command line in every process: the first one says what is wrong */
    int nt = parse_counts("--threads", threads, OT_MAX_THREADS, omp_get_num_procs(), tc);
    if (nt < 0)
        return nt;
    int np = parse_counts("--processes", processes, R, R, pc);
    if (np < 0)
        return np;
    if (nt * np > MAX_COUNTS) {
        ot_error("--processes and --threads: %d x %d rows, expected at most %d", np, nt,
                 MAX_COUNTS);
        return OT_ECONFIG;
    }
    const int n = nt * np;
    ot_dataset_t train = {0};
    ot_input_t input = {0};
    row_t rows[MAX_COUNTS];
    memset(rows, 0, sizeof rows);
    uint32_t *order = NULL;
    double available = 0.0;
    const char *what = "";
    int rc = ot_data_load(&train, c, 0); /* every process reads the data */
    if (rc)
        goto agree;
    const ot_shape_t shape = ot_data_shape(&train);
    ot_input_init(&input, &shape);
    if (train.n < c->batch_size || (!c->stack[0] && train.dim != c->sizes[0])) {
        ot_error("%s: the model (input %zu, batch %zu) does not fit the %zu training samples of "
                 "width %zu",
                 c->path, c->stack[0] ? train.dim : c->sizes[0], c->batch_size, train.n,
                 train.dim);
        rc = OT_ECONFIG;
        goto agree;
    }
    /* the samples as training gets them: standardised when the config says so */
    if (c->normalize == OT_NORM_MEAN_STD && (rc = ot_input_fit(&input, &train, c->normalize_by)))
        goto agree;
    ot_input_apply(&input, &train);
    if (!(order = ot_alloc(train.n * sizeof *order))) {
        rc = OT_ENOMEM;
        ot_error("cannot allocate the data order");
        goto agree;
    }
    for (size_t i = 0; i < train.n; i++)
        order[i] = (uint32_t)i;
    ot_rng_t rng;
    ot_rng_seed(&rng, OT_SEED_SHUFFLE(c->seed));
    ot_rng_shuffle(&rng, order, train.n);
    /* where the CSV goes takes files before minutes are spent measuring (the first writes) */
    if (ot_dist_rank(world) == 0)
        rc = ot_output_dir_prepare(c->out_dir);
    /* the memory of the largest row (a process's; each process checks its own), before any */
    if (!rc)
        rc = check_memory(c, &train, tc, nt, pc, np, &available, &what);
agree:
    if ((rc = ot_dist_agree(world, rc)))
        goto done;

    char model[OT_STACK_TEXT];
    ot_config_model_str(c, model, sizeof model);
    printf("bench: %s, layers %s", c->path, model);
    printf(", batch %zu, shards %s%d, lr %g; %d process%s (", c->batch_size,
           c->shards ? "" : "per thread = ", c->shards, c->lr, R, R > 1 ? "es" : "");
    for (int i = 0; i < np; i++)
        printf("%s%d", i ? "," : "", pc[i]);
    printf(" used) x threads ");
    for (int i = 0; i < nt; i++)
        printf("%s%d", i ? "," : "", tc[i]);
    printf("\n");
    printf("bench: training GEMM: omptrain's kernel (%s); ceiling = t concurrent single-threaded "
           "%dx%dx%d sgemms, the faster of %s and omptrain's kernel (CSV: both)\n",
           ot_kgemm_isa(), CEIL_N, CEIL_N, CEIL_N, ot_gemm_backend());
    int t_max = 0;
    for (int i = 0; i < nt; i++)
        t_max = tc[i] > t_max ? tc[i] : t_max;
    /* the ceiling's threads whose matrices fit in 80% of the memory (ot_mem_check's margin) */
    const double fit = available > 0.0 ? 0.8 * available / ceiling_thread_bytes() : INT_MAX;
    const int ceil_fit = fit < (double)INT_MAX ? (int)fit : INT_MAX;
    if (t_max > ot_gemm_max_callers() && ot_gemm_max_callers() < ceil_fit)
        printf("note: above %d threads a process the ceiling is omptrain's kernel's alone: the "
               "BLAS takes no more concurrent callers (CSV: blas_ceiling_gflops nan)\n",
               ot_gemm_max_callers());
    if (t_max > ceil_fit)
        printf("note: above %d thread%s a process the ceiling is not measured: its matrices "
               "take %.0f MB a thread and %.0f MB is available (%s) (CSV: nan)\n",
               ceil_fit, ceil_fit == 1 ? "" : "s", ceiling_thread_bytes() / 1048576.0,
               available / 1048576.0, what);
    if (R > 1 && ot_dist_bound() && ot_dist_cpus() < tc[nt - 1])
        printf("note: the first process may run on %d CPU%s only: mpirun binds each process to "
               "a core unless told otherwise (mpirun --bind-to none)\n",
               ot_dist_cpus(), ot_dist_cpus() > 1 ? "s" : "");
    printf("%5s %7s %6s %7s %12s %8s %6s %10s %9s %9s %6s %8s\n", "procs", "threads", "shards",
           "steps", "samples/s", "speed-up", "eff", "combine ms", "GFLOP/s", "ceiling", "share",
           "RSS MB");
    fflush(stdout); /* the heading now, through a pipe too: each row takes seconds */
    int base = 0; /* the 1 x 1 row if there is one, else the first */
    for (int i = 0; i < n; i++)
        if (pc[i / nt] == 1 && tc[i % nt] == 1) {
            base = i;
            break;
        }
    /* run the base first so every speed-up can be printed as its row completes; a signal
     * (SIGINT, SIGTERM) ends the table at the last row finished, which the CSV then holds */
    int measured = 0, done_row[MAX_COUNTS] = {0};
    ot_run_catch_signals(1);
    for (int k = 0; k < n; k++) {
        int i = k == 0 ? base : k <= base ? k - 1 : k;
        row_t *r = &rows[i];
        rc = bench_row(c, &train, order, world, pc[i / nt], tc[i % nt], ceil_fit, r);
        if (rc == OT_EINTR)
            break;
        if (rc)
            goto done;
        done_row[i] = 1;
        measured++;
        r->share = r->gflops / r->ceiling;
        r->rss_mb = peak_rss_mb();
        const row_t *b0 = &rows[base];
        r->speedup = r->samples_per_s / b0->samples_per_s;
        r->efficiency = r->speedup * (double)(b0->threads * b0->processes) /
                        (double)(r->threads * r->processes);
        printf("%5d %7d %6zu %7zu %12.0f %8.2f %5.0f%% %10.3f %9.1f %9.1f %5.1f%% %8.1f\n",
               r->processes, r->threads, r->shards, r->steps, r->samples_per_s, r->speedup,
               100.0 * r->efficiency, r->combine_ms, r->gflops, r->ceiling, 100.0 * r->share,
               r->rss_mb);
        fflush(stdout);
        if (ot_run_stop_requested(world)) /* during the ceiling */
            break;
    }

    ot_run_stop_requested(world); /* every process learns of a signal to any */
    const int stopped = ot_run_signal();
    rc = OT_OK;
    /* said first, and the plot skipped: under mpirun the processes have seconds left */
    if (stopped && ot_dist_rank(world) == 0) {
        printf("bench: %s after %d of %d row%s%s\n",
               stopped == SIGINT ? "interrupted (SIGINT)" : "terminated (SIGTERM)", measured, n,
               n == 1 ? "" : "s", measured ? "; the CSV holds those measured" : "");
        fflush(stdout);
    }
    /* the rows measured, in the order asked */
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (done_row[i])
            rows[kept++] = rows[i];
    if (kept)
        print_phases(rows, kept);
    char csv[OT_PATH_MAX + 32], png[OT_PATH_MAX + 32];
    if (ot_dist_rank(world) == 0 && kept) { /* the first process writes */
        snprintf(csv, sizeof csv, "%s/bench.csv", c->out_dir);
        snprintf(png, sizeof png, "%s/bench-speedup.png", c->out_dir);
        if (!(rc = write_csv(csv, c, rows, kept))) {
            printf("csv: %s\n", csv);
            if (stopped) {
                char script[OT_PATH_MAX + 32];
                find_plotter(script, sizeof script);
                printf("plot: skipped (stopped); /usr/bin/python3 %s %s %s draws it\n", script,
                       csv, png);
            } else {
                plot(csv, png);
            }
        }
    }
    rc = ot_dist_agree(world, rc);
    if (!rc && stopped)
        rc = OT_EINTR;
done:
    ot_run_catch_signals(0);
    ot_free(order);
    ot_dataset_free(&train);
    ot_input_free(&input);
    return rc;
}
