/* ot_bench.h - the scaling benchmark: training throughput per thread count against the
 * machine's GEMM ceiling measured in the same run. */
#ifndef OT_BENCH_H
#define OT_BENCH_H

#include "ot_config.h"
#include "ot_dist.h"

/* Benchmark c's model at each process count in the comma list `processes` (NULL = 1, 2, 4,
 * ... up to the processes of world, and their number; without mpirun only 1) times each thread
 * count in the comma list `threads` (NULL = 1, 2, 4, ... up to the number of cores), print the
 * table (the first process) and save it as CSV in c's output directory. Every process of
 * world calls it. Returns 0 or an OT_E* code, the same in every process (message printed
 * once); a malformed list is OT_ECONFIG. */
int ot_bench_command(const ot_config_t *c, const char *threads, const char *processes,
                     const ot_dist_t *world);

#endif
