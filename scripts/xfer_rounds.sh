#!/bin/bash
# xfer_rounds.sh - the ways of handing lines between cores (ot_xfer_t: the packed weights, and the
# update where the parts stay cached) side by side:
# per round, the cache-line round trip between cores 0 and 1 (scripts/xcore.c), then
# `omptrain bench --threads 1,2 CONFIG` with OT_XFER=plain, keep and auto (the default), one
# after the other. Prints samples/s at 1 and 2 threads, 2t/1t, and the share of 2-thread steps
# that kept the lines out of the shared state. docs/benchmarks.md has a run.
#
#   scripts/xfer_rounds.sh configs/bench-a.ini 6      (from the repository root, after make)
set -euo pipefail
cfg=${1:?usage: scripts/xfer_rounds.sh CONFIG [ROUNDS]}
rounds=${2:-6}
xcore=$(mktemp)
trap 'rm -f "$xcore"' EXIT
gcc -O3 -march=native -fopenmp -Iinclude scripts/xcore.c -o "$xcore"
for _ in $(seq "$rounds"); do
    printf "round trip %s  " "$(OMP_PROC_BIND=true "$xcore" 4 | head -1 | grep -o '[0-9]* ns')"
    for x in plain keep auto; do
        OT_XFER=$x OT_BENCH_SECONDS=${OT_BENCH_SECONDS:-1} ./omptrain bench --threads 1,2 "$cfg" \
            2>/dev/null |
            awk -v x=$x '$1 == 1 && NF == 12 { v[$2] = $5 }
                         $3 == "mean" && $2 == 2 { k = $NF }
                         END { printf "%s 1t %7d 2t %7d %.2fx (kept %s)  ", x, v[1], v[2],
                                      v[2] / v[1], k }'
    done
    echo
done
