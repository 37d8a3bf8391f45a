#!/bin/bash
# scaling.sh - the 1-16 thread measurements of issue 4 on the lent 16-core machine, in one run:
#   omptrain bench (b) and (d) at 1, 2, 4, 8, 16 threads (speed-up, efficiency, share of the
#   GEMM ceiling), then scripts/compare_pytorch.py on (b) and (d) at the same thread counts;
#   both with 16 shards, one per thread at 16 (bench-b.ini has 2: threads past 2 would share
#   them, with a barrier per layer).
# Prepare here with scripts/device/bundle.sh, then on the device, from the repository root:
#   OUT=$OUT bash scripts/device/scaling.sh        (run with carry: ["build/device"])
# THREADS (default 1,2,4,8,16) and SECONDS_PER (default 2) change the sweep, PYTHON the
# interpreter for the comparison. Writes at most
# 6 files to $OUT (default runs/device): machine.txt, bench.txt, bench-b.csv, bench-d.csv,
# compare.txt, compare.csv. Takes about 4 minutes with the defaults.
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/device}
THREADS=${THREADS:-1,2,4,8,16}
SECONDS_PER=${SECONDS_PER:-2}
work=$(mktemp -d)
mkdir -p "$OUT"
export LD_LIBRARY_PATH=$PWD/build/device/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export HDF5_DISABLE_VERSION_CHECK=2 # built against 1.10.8 headers, the machine has 1.10.x
isa=x86-64-v3
grep -qw avx512f /proc/cpuinfo && isa=x86-64-v4
bin=$PWD/build/device/omptrain-$isa
py=python3 # the first Python that has torch and numpy (PYTHON, python3, /usr/bin/python3)
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import torch, numpy' 2> /dev/null; then
        py=$p
        break
    fi
done
{
    echo "binary: $bin"
    "$bin" --version
    nproc
    lscpu
    "$py" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__); print(torch.__config__.show())'
} > "$OUT/machine.txt" 2>&1
for m in b d; do
    OT_BENCH_SECONDS=$SECONDS_PER "$bin" bench --threads "$THREADS" -o "$work/bench-$m" \
        -S training.shards=16 "configs/bench-$m.ini"
    cp "$work/bench-$m/bench.csv" "$OUT/bench-$m.csv"
done > "$OUT/bench.txt" 2>&1
"$py" scripts/compare_pytorch.py --omptrain "$bin" --models b,d --threads "$THREADS" \
    --shards 16 --seconds "$SECONDS_PER" --csv "$work/compare.csv" > "$OUT/compare.txt" 2>&1
cp "$work/compare.csv" "$OUT/compare.csv" 2>/dev/null
tail -n 30 "$OUT/bench.txt" "$OUT/compare.txt"
