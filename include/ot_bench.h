/* ot_bench.h - the scaling benchmark: training throughput per thread count against the
 * machine's GEMM ceiling measured in the same run. */
#ifndef OT_BENCH_H
#define OT_BENCH_H

#include "ot_config.h"

/* Benchmark c's model at each thread count in the comma list `threads` (NULL = 1, 2, 4, ... up
 * to the number of cores), print the table and save it as CSV in c's output directory.
 * Returns 0 or an OT_E* code (message printed); a malformed list is OT_ECONFIG. */
int ot_bench_command(const ot_config_t *c, const char *threads);

#endif
