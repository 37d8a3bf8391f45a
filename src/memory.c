/* memory.c - memory before it is spent: a run's peak estimated from its config, network and
 * data, against what the machine and its cgroup offer (ot_memory.h). */
#include "ot_memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_dist.h"
#include "ot_engine.h"

/* What a run holds besides the parts estimated below: the program, HDF5, OpenBLAS, libgomp
 * and the C library (13 MB resident for `omptrain --help`), and HDF5's caches and buffers for
 * the history and checkpoint files (about 7 MB). Measured as the peak of one epoch of
 * configs/mnist.ini on 100 training and 100 test images, 23 MB, less its estimated parts. */
#define BASE_BYTES (19.0 * 1048576.0)
/* Each thread's own: its stack's touched pages, its TLS and libgomp's and the C library's
 * state for it. Measured: the peak of one epoch of configs/mnist.ini on 1,000 images at 256
 * and 4096 threads less the estimate without this term, over the threads, 68-71 KiB. */
#define THREAD_BYTES (72.0 * 1024.0)
/* Open MPI's own, in a process mpirun started (shared-memory queues and buffers for its
 * peers, its components). Measured the same way on 3,000 images under mpirun -np 1 to 8, the
 * first process's peak less the estimate without this term: 7 MB (1 and 2 processes) to 11 MB
 * (6 and 8). */
#define MPI_BYTES (9.0 * 1048576.0)

static double dataset_bytes(const ot_dataset_t *ds)
{
    /* the samples, a byte a pixel (IDX, uint8 HDF5) or a float a feature, and a byte a label */
    const double elem = ds->features ? (double)sizeof(float) : 1.0;
    double b = (double)ds->n * ((double)ds->dim * elem + 1.0);
    if (ds->nz_off) /* the lists: an offset per image, 3 bytes per nonzero pixel */
        b += (double)(ds->n + 1) * sizeof(uint32_t) + 3.0 * (double)ds->nz_off[ds->n];
    return b;
}

void ot_mem_estimate(ot_mem_t *m, const ot_config_t *c, const ot_net_t *net,
                     const ot_dataset_t *train, const ot_dataset_t *test, size_t opt_buffers,
                     size_t threads, size_t shards)
{
    const double P = (double)net->n_params * sizeof(float);
    const double state = (double)net->n_state * sizeof(float);
    memset(m, 0, sizeof *m);
    m->base = BASE_BYTES + (ot_dist_launched() ? MPI_BYTES : 0.0);
    m->data = dataset_bytes(train) + dataset_bytes(test) +
              (double)train->n * sizeof(uint32_t); /* the data order */
    m->model = P + state + (c->patience > 0 ? P + state : 0.0);
    m->optimizer = (double)opt_buffers * P;
    /* the step's, and each thread's own (not there yet when the estimate is checked) */
    m->engine = ot_engine_bytes(net, c->batch_size, shards, threads) +
                (double)threads * THREAD_BYTES;
    /* the file holds the blocks above and the order; HDF5's core driver keeps it in memory
     * while it is built and the image is copied out of it: twice */
    m->checkpoint = 2.0 * (m->model + m->optimizer + (double)train->n * sizeof(uint32_t));
    m->total = m->base + m->data + m->model + m->optimizer + m->engine + m->checkpoint;
    /* the training file is read whole, then the test file while the training set is held */
    const double train_load = (double)train->load_bytes;
    const double test_load = dataset_bytes(train) + (double)test->load_bytes;
    m->loading = train_load > test_load ? train_load : test_load;
    if (m->base + m->loading > m->total)
        m->total = m->base + m->loading;
}

/* A "Key:  123 kB" line of /proc/meminfo, in bytes; 0 when absent. */
static double meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    double v = 0.0;
    size_t klen = strlen(key);
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
            v = strtod(line + klen + 1, NULL) * 1024.0;
            break;
        }
    if (f)
        fclose(f);
    return v;
}

/* A number in a one-line file; -1 when absent or not a number ("max"). */
static double read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[64] = "";
    if (!f)
        return -1.0;
    char *ok = fgets(buf, sizeof buf, f);
    fclose(f);
    char *end;
    double v = ok ? strtod(buf, &end) : -1.0;
    return ok && end != buf ? v : -1.0;
}

double ot_mem_available(const char **what)
{
    const char *dummy;
    what = what ? what : &dummy;
    const char *env = getenv("OMPTRAIN_MEMORY_LIMIT");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (end != env && v > 0.0) {
            *what = "OMPTRAIN_MEMORY_LIMIT";
            return v;
        }
    }
    double avail = meminfo("MemAvailable");
    *what = "MemAvailable in /proc/meminfo";
    if (avail <= 0.0) {
        long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
        avail = pages > 0 && size > 0 ? (double)pages * (double)size : 0.0;
        *what = "physical memory";
    }
    /* cgroup v2, then v1: the limit less what the group already uses */
    double lim = read_number("/sys/fs/cgroup/memory.max");
    double use = read_number("/sys/fs/cgroup/memory.current");
    if (lim < 0.0) {
        lim = read_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        use = read_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
    if (lim > 0.0 && lim < 1e18 && use >= 0.0) {
        double room = lim > use ? lim - use : 0.0;
        if (avail <= 0.0 || room < avail) {
            avail = room;
            *what = "the cgroup's memory limit";
        }
    }
    static const struct {
        int resource;
        const char *name;
    } limits[] = {{RLIMIT_AS, "ulimit -v"}, {RLIMIT_DATA, "ulimit -d"}};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        struct rlimit rl;
        if (getrlimit(limits[i].resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
            (avail <= 0.0 || (double)rl.rlim_cur < avail)) {
            avail = (double)rl.rlim_cur;
            *what = limits[i].name;
        }
    }
    return avail;
}

int ot_mem_check(const ot_mem_t *m, double available, const char *where)
{
    const double MB = 1048576.0;
    const double needs = m->model + m->optimizer + m->engine + m->checkpoint;
    if (available <= 0.0)
        return OT_OK;
    if (needs > available) {
        ot_error("%s: the run needs about %.0f MB more (parameters %.0f, optimizer %.0f, "
                 "training step %.0f, checkpoint %.0f MB; %.0f MB in all with the data) but "
                 "%.0f MB is available; expected a smaller training.batch_size, "
                 "training.shards or model", where, needs / MB, m->model / MB,
                 m->optimizer / MB, m->engine / MB, m->checkpoint / MB, m->total / MB,
                 available / MB);
        return OT_ECONFIG;
    }
    if (needs > 0.8 * available) /* through ot_error: under mpirun, once (the others hold it) */
        ot_error("warning: %s: the run needs about %.0f MB more, %.0f%% of the %.0f MB available",
                 where, needs / MB, 100.0 * needs / available, available / MB);
    return OT_OK;
}

double ot_mem_peak_rss(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? (double)ru.ru_maxrss * 1024.0 : 0.0;
}
