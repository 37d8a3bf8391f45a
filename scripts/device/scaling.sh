#!/bin/bash
# scaling.sh - everything a session does on the lent 16-core machine, in one run (issues 4, 12
# and 16): the bits at 16 threads, omptrain bench from 1 to 16 threads, and PyTorch beside it.
#   1. bits: tests/configs/repro.ini (MLP) and repro-cnn.ini (CNN) at 1 and 16 threads, on the
#      config's shards and on 2 (16 threads sharing 2 shards): /model, /optimizer, /state and
#      the loss curves must hold the same bytes at 16 threads as at 1 (h5same.py: h5py in the
#      place of h5diff, which that machine lacks).
#   2. omptrain bench on (b), (d), (e), (f) at THREADS with 16 shards (one per thread at 16;
#      speed-up, efficiency, share of the GEMM ceiling); (b) again on its config's 2 shards,
#      threads past 2 sharing them; (d) again at 1 and 16 threads with OMP_PROC_BIND=close
#      OMP_PLACES=cores.
#   3. scripts/compare_pytorch.py on (b) and (d), then (e) and (f), at THREADS, 16 shards.
# Prepare here with scripts/device/bundle.sh, then on the device, from the repository root:
#   OUT=$OUT bash scripts/device/scaling.sh        (run with carry: ["build/device"])
# THREADS (default 1,2,4,8,16) and SECONDS_PER (default 2) change the sweep, PYTHON the
# interpreter for the comparison. Writes 3 files to $OUT (default runs/device): machine.txt,
# log.txt (everything printed) and results.tar.gz (the CSVs and logs), the last re-made after
# each stage so that a run stopped at its limit still returns what it finished. About 6 minutes
# with the defaults.
set -u
cd "$(dirname "$0")/../.." || exit 1
OUT=${OUT:-runs/device}
THREADS=${THREADS:-1,2,4,8,16}
SECONDS_PER=${SECONDS_PER:-2}
work=$(mktemp -d)
mkdir -p "$OUT" "$work/lib" "$work/bits"
exec > >(tee "$OUT/log.txt") 2>&1
tar -xJf build/device/libs.tar.xz -C "$work/lib"
isa=x86-64-v3
grep -qw avx512f /proc/cpuinfo && isa=x86-64-v4
real=$PWD/build/device/omptrain-$isa
# the carried libraries for omptrain alone (Python and PyTorch keep the machine's own)
bin=$work/omptrain
printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/lib exec %s "$@"\n' "$work" "$real" > "$bin"
chmod +x "$bin"
py=python3 # the first Python that has torch, numpy and h5py (PYTHON, python3, /usr/bin/python3)
for p in ${PYTHON:-} python3 /usr/bin/python3; do
    if "$p" -c 'import torch, numpy, h5py' 2> /dev/null; then
        py=$p
        break
    fi
done
save() { tar -czf "$OUT/results.tar.gz" -C "$work" --exclude lib --exclude '*.h5' --exclude '*.png' . ; }
stage() { echo; echo "== $* ($(date -u +%H:%M:%S))"; }

{
    echo "binary: $real"
    "$bin" --version
    echo "nproc: $(nproc)"
    lscpu
    LD_LIBRARY_PATH=$work/lib ldd "$real"
    env | grep -E '^(OMP|GOMP|OPENBLAS|KMP)_' || true
    "$py" -c 'import torch, numpy; print("torch", torch.__version__, "numpy", numpy.__version__, "threads", torch.get_num_threads()); print(torch.__config__.show())'
} > "$OUT/machine.txt" 2>&1
if LD_LIBRARY_PATH=$work/lib ldd "$real" | grep -q 'not found' || ! "$bin" --version > /dev/null; then
    echo "scaling.sh: $real cannot run here:"
    cat "$OUT/machine.txt"
    exit 1
fi
stage "machine: $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $real"

stage "1. bits at 16 threads"
for cfg in repro repro-cnn; do
    for shards in config 2; do
        set_shards=()
        [ "$shards" = config ] || set_shards=(-S "training.shards=$shards")
        for t in 1 16; do
            d=$work/bits/$cfg-shards$shards-t$t
            "$bin" --threads "$t" "${set_shards[@]}" --output "$d" "tests/configs/$cfg.ini" \
                > "$d.log" 2>&1 || { echo "FAIL $cfg ($shards shards) at $t threads:"; tail -5 "$d.log"; }
        done
        base=$work/bits/$cfg-shards$shards-t1 d=$work/bits/$cfg-shards$shards-t16
        if "$py" scripts/device/h5same.py "$base/latest.h5" "$d/latest.h5" /model /optimizer /state &&
            "$py" scripts/device/h5same.py "$base/history.h5" "$d/history.h5" \
                /steps/loss /epochs/train_loss /epochs/test_loss /epochs/test_acc; then
            echo "same bits: $cfg ($shards shards) at 1 and 16 threads: $(grep "^epoch" "$d.log" | tail -1)"
        else
            echo "FAIL $cfg ($shards shards): the bits at 16 threads differ from 1 thread's"
        fi
    done
done
save

stage "2. omptrain bench, 16 shards, threads $THREADS"
for m in b d e f; do
    OT_BENCH_SECONDS=$SECONDS_PER "$bin" bench --threads "$THREADS" -o "$work/bench-$m" \
        -S training.shards=16 "configs/bench-$m.ini"
    save
done
stage "2b. (b) on its config's 2 shards; (d) with OMP_PROC_BIND=close OMP_PLACES=cores"
OT_BENCH_SECONDS=$SECONDS_PER "$bin" bench --threads 1,4,16 -o "$work/bench-b-shards2" \
    configs/bench-b.ini
OMP_PROC_BIND=close OMP_PLACES=cores OT_BENCH_SECONDS=$SECONDS_PER "$bin" bench --threads 1,16 \
    -o "$work/bench-d-bind" configs/bench-d.ini
save

stage "3. PyTorch beside it: (b), (d)"
"$py" scripts/compare_pytorch.py --omptrain "$bin" --models b,d --threads "$THREADS" \
    --shards 16 --seconds "$SECONDS_PER" --csv "$work/compare-bd.csv"
save
stage "3b. PyTorch beside it: (e), (f)"
"$py" scripts/compare_pytorch.py --omptrain "$bin" --models e,f --threads "$THREADS" \
    --shards 16 --seconds "$SECONDS_PER" --csv "$work/compare-ef.csv"
save
stage "done"
