/* ot_memory.h - memory before it is spent: what a training run will hold at its peak, set
 * against what the machine offers, so that a run too large for it stops with both figures
 * before it allocates, instead of being killed or swapping later. */
#ifndef OT_MEMORY_H
#define OT_MEMORY_H

#include <stddef.h>

#include "ot_config.h"
#include "ot_data.h"
#include "ot_net.h"

/* A run's estimated peak resident memory, in bytes, by what holds it. */
typedef struct {
    double base;       /* the program and its libraries (measured: about 19 MB; 9 MB more
                          for Open MPI's in a process mpirun started) */
    double data;       /* the data sets as loaded: images, labels, lists of nonzero pixels */
    double model;      /* parameters, running statistics, the early-stopping copies */
    double optimizer;  /* the optimizer's buffers */
    double engine;     /* the step: per-shard gradients, batch-wide activations, the layers'
                          buffers, per-thread workspaces (ot_engine_bytes), and each thread's
                          own memory (stack, TLS) */
    double checkpoint; /* a checkpoint being saved: HDF5's in-memory file and its image */
    double loading;    /* the data files while they are read: whole, before a limit trims
                          them (an earlier peak than the run's when the limit is small) */
    double total;      /* the larger of the two peaks */
} ot_mem_t;

/* The estimate for config c, the network laid out as net (ot_net_layout), the loaded data
 * sets, optimizer buffers per parameter (0, 1 or 2), `threads` threads and `shards` shards. */
void ot_mem_estimate(ot_mem_t *m, const ot_config_t *c, const ot_net_t *net,
                     const ot_dataset_t *train, const ot_dataset_t *test, size_t opt_buffers,
                     size_t threads, size_t shards);

/* Bytes the process may still take: the smallest of MemAvailable (/proc/meminfo; else the
 * physical memory), the cgroup's limit less its usage, and the soft RLIMIT_AS and RLIMIT_DATA;
 * the environment variable OMPTRAIN_MEMORY_LIMIT (bytes), when set, replaces them all
 * (containers without a limit, tests). *what (may be NULL) names the one that decided. 0 when
 * nothing can be read. */
double ot_mem_available(const char **what);

/* Whether the part of m still to be allocated (all but base and data) fits in `available`:
 * 0; a one-line warning (ot_error) when it takes over 80% of it (still 0); OT_ECONFIG with one
 * line giving both figures and what to change when it does not fit. An available of 0
 * (unknown) passes. where names the config. */
int ot_mem_check(const ot_mem_t *m, double available, const char *where);

/* Peak resident set size of this process so far, in bytes (getrusage). */
double ot_mem_peak_rss(void);

#endif
