#!/usr/bin/env bash
# check-race.sh DIR - the OpenMP training path under ThreadSanitizer. DIR/omptrain and
# DIR/test_omptrain are built by clang with -fsanitize=thread against LLVM's OpenMP runtime
# (libomp), whose OMPT tool Archer (ARCHER=.../libarcher.so, from libomp-14-dev) tells TSan
# about OpenMP's synchronisation (barriers, the implicit barrier ending a worksharing loop,
# reductions), so that only real races in omptrain's code are reported. Fails on any TSan
# report, on any failed run, when Archer is not active, or when a deliberately racy canary
# is not caught (the detector must be able to fail).
#
# No suppression file. One runtime option, the one LLVM's Archer documentation prescribes:
#   ignore_noninstrumented_modules=1 - TSan's interceptors (pthread_mutex_*, memcpy, ...) take
#   no part when called from an uninstrumented library. Without it TSan reports libomp's own
#   sleep/wake handshake (a worker initialises its suspend mutex, announces it through an atomic
#   TSan cannot see because libomp is not instrumented, and the master then locks it: seen at 3+
#   threads on 2 cores, in pthread_mutex_init/pthread_mutex_lock called from libomp.so). Accesses
#   in omptrain's code, including in the loop bodies libomp calls, are all still checked; the
#   canary below is such a loop body.
# OpenBLAS and HDF5 are not instrumented either: their own loads and stores are invisible to
# TSan. Every GEMM reads and writes buffers of one worker only (see src/engine.c).
set -u
dir=$(cd "$1" && pwd)
reports=$dir/reports
rm -rf "$reports" && mkdir -p "$reports"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ -z "${ARCHER:-}" ]; then
    for ARCHER in /usr/lib/llvm-*/lib/libarcher.so; do break; done
fi
if [ ! -r "$ARCHER" ]; then
    echo "check-race: FAIL: libarcher.so not found (ARCHER='${ARCHER:-}'); install libomp-14-dev"
    exit 1
fi
export OMP_TOOL_LIBRARIES=$ARCHER
export ARCHER_OPTIONS="verbose=1"
tsan_common="ignore_noninstrumented_modules=1:exitcode=66:halt_on_error=0:second_deadlock_stack=1"
export TSAN_OPTIONS="$tsan_common:log_path=$reports/tsan"

status=0
t0=$(date +%s)

# The canary: a reduction written as a plain shared sum. It must be reported.
cat >"$tmp/canary.c" <<'C'
#include <stdio.h>
int main(void)
{
    static float a[4096];
    double sum = 0.0;
#pragma omp parallel for
    for (int i = 0; i < 4096; i++) {
        a[i] = (float)i; /* own element: fine */
        sum += a[i];     /* shared: a race */
    }
    printf("%g\n", sum);
    return 0;
}
C
if ! ${CLANG:-clang} -fopenmp -fsanitize=thread -g -O1 -o "$tmp/canary" "$tmp/canary.c"; then
    echo "check-race: FAIL: cannot build the canary"; exit 1
fi
TSAN_OPTIONS="$tsan_common:log_path=$tmp/canary-report" OMP_NUM_THREADS=4 "$tmp/canary" \
    >/dev/null 2>&1
if grep -q "WARNING: ThreadSanitizer: data race" "$tmp"/canary-report.* 2>/dev/null; then
    echo "ok   canary: a deliberate race is reported"
else
    echo "check-race: FAIL: the race detector missed the deliberate race in the canary"; exit 1
fi

# run NAME CMD...: run one command, keep its output, fail unless it exits 0 with Archer active
run() {
    local name=$1; shift
    if ! "$@" >"$tmp/$name.log" 2>&1; then
        cat "$tmp/$name.log"; echo "check-race: FAIL: $name exited non-zero"; status=1
    elif ! grep -q "Archer detected OpenMP application with TSan" "$tmp/$name.log"; then
        cat "$tmp/$name.log"; echo "check-race: FAIL: $name: Archer is not active"; status=1
    else
        echo "ok   $name"
    fi
}
small=(--epochs 1 --set data.train_limit=500 --set data.test_limit=100 configs/mnist.ini)
run "train, 2 threads" "$dir/omptrain" --threads 2 --output "$tmp/run2" "${small[@]}"
run "train, 4 threads" "$dir/omptrain" --threads 4 --output "$tmp/run4" "${small[@]}"
run "train, 3 threads, one shard per thread" "$dir/omptrain" --threads 3 \
    --set training.shards=0 --output "$tmp/run3" "${small[@]}"
run "eval, 4 threads" "$dir/omptrain" eval --checkpoint "$tmp/run4/latest.h5" --threads 4 \
    "${small[@]}"
run "train CNN with batch norm, 5 threads sharing 2 shards" "$dir/omptrain" --threads 5 \
    --set training.shards=2 --epochs 1 --set data.train_limit=256 --set data.test_limit=100 \
    --output "$tmp/run5" tests/configs/repro-cnn.ini
run "gradcheck, 2 threads" "$dir/omptrain" gradcheck --threads 2 configs/mnist.ini
run "CUnit suite engine" env OMP_NUM_THREADS=4 "$dir/test_omptrain" engine
run "CUnit suite train" env OMP_NUM_THREADS=4 "$dir/test_omptrain" train
run "CUnit suite registry (up to 16 threads on 5 shards)" "$dir/test_omptrain" registry
if compgen -G "$reports/*" >/dev/null; then
    for r in "$reports"/*; do echo "---- $r"; cat "$r"; done
    echo "check-race: FAIL: $(cat "$reports"/* | grep -c '^WARNING: ThreadSanitizer') TSan reports above"
    status=1
fi
[ $status -eq 0 ] && echo "check-race: ok, 0 ThreadSanitizer reports ($(( $(date +%s) - t0 )) s)"
exit $status
