/* bench.c - the scaling benchmark: training throughput per thread count, set against the
 * single-precision GEMM ceiling of the machine's BLAS (OpenBLAS) measured in the same run.
 *
 * For each thread count t: build the engine (shards as the config says; 0 = one per thread),
 * warm up, then time whole training steps (gather, forward, backward, reduction, the config's
 * optimizer) for about OT_BENCH_SECONDS (default 2) seconds in SEGMENTS segments; samples/s is
 * the best segment's. The ceiling for t is t threads each running one single-threaded CEIL_N^3
 * sgemm concurrently, the way workers use BLAS. */
#include "ot_bench.h"

#include <errno.h>
#include <omp.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ot_common.h"
#include "ot_data.h"
#include "ot_datasrc.h"
#include "ot_engine.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_net.h"
#include "ot_optim.h"
#include "ot_rng.h"
#include "ot_train.h"

extern char **environ;

#define MAX_COUNTS 64     /* thread counts in one list */
#define CEIL_N 1024       /* side of the ceiling's square GEMM */
#define CEIL_SECONDS 0.6  /* time spent on the ceiling per thread count */
#define WARMUP_SECONDS 0.3
#define SEGMENTS 5         /* timed segments per thread count; the best one counts */

typedef struct {
    int threads;
    size_t shards;
    size_t steps;
    double seconds;
    double samples_per_s;
    double speedup;
    double efficiency;
    double gflops;       /* achieved, counting only the Affine GEMM FLOPs */
    double ceiling;      /* GFLOP/s of t concurrent single-threaded sgemms */
    double share;        /* gflops / ceiling */
    double rss_mb;       /* peak resident set of the process so far */
} row_t;

/* Parse "1,2,4" into counts (each 1..4096); NULL = 1, 2, 4, ... up to the cores, plus the core
 * count itself when it is not a power of two. Returns the number of counts or OT_ECONFIG. */
static int parse_threads(const char *list, int *counts)
{
    int n = 0;
    if (!list) {
        int cores = omp_get_num_procs();
        for (int t = 1; t <= cores && n < MAX_COUNTS; t *= 2)
            counts[n++] = t;
        if (counts[n - 1] != cores && n < MAX_COUNTS)
            counts[n++] = cores;
        return n;
    }
    const char *p = list;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 4096 || (*end && *end != ',') || n == MAX_COUNTS) {
            ot_error("--threads: invalid list '%s', expected up to %d comma-separated integers "
                     "in [1, 4096], e.g. 1,2,4",
                     list, MAX_COUNTS);
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

/* GFLOP/s of t threads each running single-threaded CEIL_N^3 sgemms at the same time.
 * Returns a negative value when the buffers cannot be allocated. */
static double gemm_ceiling(int t)
{
    const size_t N = CEIL_N, sz = N * N * sizeof(float);
    int ok = 1;
    double reps_d = 0.0, seconds = 0.0;
    omp_set_num_threads(t);
#pragma omp parallel default(none) shared(ok, reps_d, seconds) firstprivate(N, sz)
    {
        float *A = ot_alloc(sz), *B = ot_alloc(sz), *C = ot_alloc(sz);
        int mine = A && B && C;
#pragma omp atomic
        ok &= mine;
#pragma omp barrier
        if (ok) {
            for (size_t i = 0; i < N * N; i++) {
                A[i] = (float)((i * 7) % 13) * 0.1f;
                B[i] = (float)((i * 5) % 11) * 0.1f;
            }
            /* warm-up call: page faults, packing buffers, clocks */
            double w0 = ot_now();
            ot_gemm(false, false, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N);
            double one = ot_now() - w0;
#pragma omp barrier
#pragma omp single
            {
                /* every thread runs the same count, from the master's estimate */
                double r = CEIL_SECONDS / (one > 1e-6 ? one : 1e-6);
                reps_d = r < 1.0 ? 1.0 : r > 1000.0 ? 1000.0 : (double)(long)r;
                seconds = ot_now();
            }
            for (long r = 0; r < (long)reps_d; r++)
                ot_gemm(false, false, N, N, N, 1.0f, A, N, B, N, 0.0f, C, N);
#pragma omp barrier
#pragma omp single
            seconds = ot_now() - seconds;
        }
        ot_free(A);
        ot_free(B);
        ot_free(C);
    }
    if (!ok)
        return -1.0;
    return (double)t * reps_d * 2.0 * (double)N * N * N / seconds / 1e9;
}

/* Time SGD steps on t threads; fills r (all but speed-up and efficiency). */
static int bench_threads(const ot_config_t *c, const ot_dataset_t *train, uint32_t *order,
                         int t, row_t *r)
{
    ot_net_t net;
    ot_engine_t eng;
    memset(&eng, 0, sizeof eng);
    const ot_shape_t in = ot_data_shape(train);
    int rc = ot_net_init(&net, c, &in);
    if (rc)
        return rc;
    ot_rng_t init;
    ot_rng_seed(&init, OT_SEED_INIT(c->seed));
    ot_net_init_params(&net, c, &init);
    size_t shards = c->shards > 0 ? (size_t)c->shards : (size_t)t;
    ot_optim_t opt;
    if ((rc = ot_optim_init(&opt, c, &net))) {
        ot_net_free(&net);
        return rc;
    }
    if ((rc = ot_engine_init(&eng, &net, c->batch_size, shards))) {
        ot_optim_free(&opt);
        ot_net_free(&net);
        return rc;
    }
    eng.sparse_ok = c->sparse_input;
    omp_set_num_threads(t);
    const size_t B = c->batch_size, per_epoch = train->n / B;
    size_t b = 0, steps = 0;
    const char *env = getenv("OT_BENCH_SECONDS");
    double run_s = env ? strtod(env, NULL) : 2.0;
    if (!(run_s > 0.0) || run_s > 3600.0)
        run_s = 2.0;
    /* segment 0 warms up; the rest split the timed run. On a shared machine a segment can
     * lose the core to another process, so the rate is the best segment's (peers are timed
     * the same way by scripts/compare_pytorch.py). The clock is read every step: a step is
     * far longer than a clock read. */
    double best = 0.0, seconds = 0.0;
    for (int seg = 0; seg <= SEGMENTS; seg++) {
        double target = seg == 0 ? WARMUP_SECONDS : run_s / SEGMENTS, dt;
        size_t k = 0;
        double t0 = ot_now();
        do {
            eng.next_idx = order + (b + 1) % per_epoch * B;
            eng.next_n = B;
            ot_engine_gradient(&eng, train, order + b * B, B);
            ot_optim_step(&opt, net.params, eng.grad, c->lr);
            b = (b + 1) % per_epoch;
            k++;
            dt = ot_now() - t0;
        } while (dt < target);
        if (seg == 0)
            continue;
        steps += k;
        seconds += dt;
        if ((double)(k * B) / dt > best)
            best = (double)(k * B) / dt;
    }
    r->threads = t;
    r->shards = shards;
    r->steps = steps;
    r->seconds = seconds;
    r->samples_per_s = best;
    r->gflops = r->samples_per_s * flops_per_sample(&net) / 1e9;
    ot_engine_free(&eng);
    ot_optim_free(&opt);
    ot_net_free(&net);
    return OT_OK;
}

/* mkdir -p for the output directory. */
static int make_dirs(const char *dir)
{
    char buf[OT_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) {
        ot_error("output directory '%s': empty or too long", dir);
        return OT_EIO;
    }
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char keep = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            ot_error("cannot create directory '%s': %s", buf, strerror(errno));
            return OT_EIO;
        }
        buf[i] = keep;
    }
    return OT_OK;
}

static int write_csv(const char *path, const ot_config_t *c, const row_t *rows, int n)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        ot_error("cannot write '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    fprintf(f, "config,batch,threads,shards,steps,seconds,samples_per_s,speedup,efficiency,"
               "gflops,gemm_ceiling_gflops,ceiling_share,peak_rss_mb\n");
    for (int i = 0; i < n; i++) {
        const row_t *r = &rows[i];
        fprintf(f, "%s,%zu,%d,%zu,%zu,%.4f,%.1f,%.4f,%.4f,%.3f,%.3f,%.4f,%.1f\n", c->path,
                c->batch_size, r->threads, r->shards, r->steps, r->seconds, r->samples_per_s,
                r->speedup, r->efficiency, r->gflops, r->ceiling, r->share, r->rss_mb);
    }
    if (fclose(f) != 0) {
        ot_error("cannot write '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    return OT_OK;
}

/* Run scripts/plot_scaling.py CSV PNG with /usr/bin/python3, when both exist. A missing or
 * failing plotter is reported but is not an error of the benchmark. */
static void plot(const char *csv, const char *png)
{
    const char *py = "/usr/bin/python3", *script = "scripts/plot_scaling.py";
    struct stat st;
    if (stat(py, &st) != 0 || stat(script, &st) != 0) {
        printf("plot: skipped (%s or %s not found)\n", py, script);
        return;
    }
    char *argv[] = {(char *)py, (char *)script, (char *)csv, (char *)png, NULL};
    pid_t pid;
    int status;
    if (posix_spawn(&pid, py, NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        printf("plot: %s failed; the CSV is still in %s\n", script, csv);
    else
        printf("plot: %s\n", png);
}

int ot_bench_command(const ot_config_t *c, const char *threads)
{
    int counts[MAX_COUNTS];
    int n = parse_threads(threads, counts);
    if (n < 0)
        return n;
    ot_dataset_t train;
    ot_input_t input;
    int rc = ot_data_load(&train, c, 0);
    if (rc)
        return rc;
    const ot_shape_t shape = ot_data_shape(&train);
    ot_input_init(&input, &shape);
    row_t rows[MAX_COUNTS];
    memset(rows, 0, sizeof rows);
    uint32_t *order = NULL;
    if (train.n < c->batch_size || (!c->stack[0] && train.dim != c->sizes[0])) {
        ot_error("%s: the model (input %zu, batch %zu) does not fit the %zu training samples of "
                 "width %zu",
                 c->path, c->stack[0] ? train.dim : c->sizes[0], c->batch_size, train.n,
                 train.dim);
        rc = OT_ECONFIG;
        goto done;
    }
    /* the samples as training gets them: standardised when the config says so */
    if (c->normalize == OT_NORM_MEAN_STD && (rc = ot_input_fit(&input, &train, c->normalize_by)))
        goto done;
    ot_input_apply(&input, &train);
    if (!(order = ot_alloc(train.n * sizeof *order))) {
        rc = OT_ENOMEM;
        ot_error("cannot allocate the data order");
        goto done;
    }
    for (size_t i = 0; i < train.n; i++)
        order[i] = (uint32_t)i;
    ot_rng_t rng;
    ot_rng_seed(&rng, OT_SEED_SHUFFLE(c->seed));
    ot_rng_shuffle(&rng, order, train.n);

    char model[OT_STACK_TEXT];
    ot_config_model_str(c, model, sizeof model);
    printf("bench: %s, layers %s", c->path, model);
    printf(", batch %zu, shards %s%d, lr %g\n", c->batch_size, c->shards ? "" : "per thread = ",
           c->shards, c->lr);
    printf("bench: training GEMM: omptrain's kernel (%s); ceiling = t concurrent single-threaded "
           "%dx%dx%d sgemms of %s\n",
           ot_kgemm_isa(), CEIL_N, CEIL_N, CEIL_N, ot_gemm_backend());
    printf("%7s %6s %7s %12s %8s %6s %9s %9s %6s %8s\n", "threads", "shards", "steps",
           "samples/s", "speed-up", "eff", "GFLOP/s", "ceiling", "share", "RSS MB");
    int base = 0; /* the 1-thread row if there is one, else the first */
    for (int i = 0; i < n; i++)
        if (counts[i] == 1) {
            base = i;
            break;
        }
    /* run the base first so every speed-up can be printed as its row completes */
    for (int k = 0; k < n; k++) {
        int i = k == 0 ? base : k <= base ? k - 1 : k;
        row_t *r = &rows[i];
        if ((rc = bench_threads(c, &train, order, counts[i], r)))
            goto done;
        double ceil = gemm_ceiling(counts[i]);
        if (ceil < 0.0) {
            ot_error("cannot allocate the ceiling's %dx%d matrices", CEIL_N, CEIL_N);
            rc = OT_ENOMEM;
            goto done;
        }
        r->ceiling = ceil;
        r->share = r->gflops / ceil;
        r->rss_mb = peak_rss_mb();
        const row_t *b0 = &rows[base];
        r->speedup = r->samples_per_s / b0->samples_per_s;
        r->efficiency = r->speedup * (double)b0->threads / (double)r->threads;
        printf("%7d %6zu %7zu %12.0f %8.2f %5.0f%% %9.1f %9.1f %5.1f%% %8.1f\n", r->threads,
               r->shards, r->steps, r->samples_per_s, r->speedup, 100.0 * r->efficiency,
               r->gflops, r->ceiling, 100.0 * r->share, r->rss_mb);
        fflush(stdout);
    }

    if ((rc = make_dirs(c->out_dir)))
        goto done;
    char csv[OT_PATH_MAX + 32], png[OT_PATH_MAX + 32];
    snprintf(csv, sizeof csv, "%s/bench.csv", c->out_dir);
    snprintf(png, sizeof png, "%s/bench-speedup.png", c->out_dir);
    if ((rc = write_csv(csv, c, rows, n)))
        goto done;
    printf("csv: %s\n", csv);
    plot(csv, png);
done:
    ot_free(order);
    ot_dataset_free(&train);
    ot_input_free(&input);
    return rc;
}
