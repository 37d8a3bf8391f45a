#!/usr/bin/env bash
# check-valgrind.sh DIR - valgrind memcheck on short runs of DIR/omptrain (train, eval, resume,
# predict, export and two failing runs) and on the CUnit suites of DIR/test_omptrain, both built -O1 -g without
# -march=native (valgrind 3.19 cannot execute AVX-512). Fails on any invalid read or write, use
# of uninitialised memory, bad free, or a definitely or indirectly lost block.
# Every suite runs except those in VALGRIND_SKIP_SUITES (default: train, ckpt_read and
# registry, 2 minutes or more each under memcheck; their code runs in the omptrain runs above,
# a CNN's included; and bench, whose GEMM ceiling runs at least four 1024^3 sgemms a thread
# count whatever OT_BENCH_SECONDS says: 10.5 minutes under memcheck).
# "Possibly lost" and "still reachable" blocks are not errors: libgomp keeps its thread pool
# and per-thread data until exit, and OpenBLAS and HDF5 keep their global state; none of that
# is memory omptrain owns. tests/valgrind.supp names any suppression, with its reason.
set -u
dir=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s)

# exit status 99: a memcheck error, never mistaken for omptrain's own statuses 1 and 2
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --track-origins=yes
    --suppressions=tests/valgrind.supp --num-callers=30)
status=0
# run WANT NAME ARGS...: one omptrain command under memcheck, expected to exit with WANT (its
# verdict comes at the end, from $tmp/NAME.rc; $tmp/runs lists the names in order)
run() {
    local want=$1 name=$2; shift 2
    "${vg[@]}" --log-file="$tmp/$name.vg" "$dir/omptrain" "$@" >"$tmp/$name.out" 2>&1
    echo "$? $want" >"$tmp/$name.rc"
    echo "$name" >>"$tmp/runs"
}
# verdict RC WANT NAME WHAT: one line for a memcheck run whose logs are $tmp/NAME.{out,vg}
verdict() {
    local rc=$1 want=$2 name=$3 what=$4
    if [ "$rc" -ne "$want" ] || ! grep -q "ERROR SUMMARY: 0 errors" "$tmp/$name.vg"; then
        cat "$tmp/$name.out" "$tmp/$name.vg"
        echo "check-valgrind: FAIL: $what (exit $rc, expected $want; 99: memcheck errors)"
        status=1
    else
        echo "ok   $name: $(grep -o 'ERROR SUMMARY: [0-9]* errors' "$tmp/$name.vg" | head -1);" \
             "$(grep -o 'definitely lost: .*' "$tmp/$name.vg" | head -1 || echo 'no leak')"
    fi
}
# The omptrain runs, one after another (eval, resume, predict and export read train's
# checkpoint): one job beside the suites below.
small=(--set data.train_limit=500 --set data.test_limit=100 configs/mnist.ini)
omptrain_runs() {
    run 0 train --epochs 2 --threads 2 --output "$tmp/run" "${small[@]}"
    run 0 eval eval --checkpoint "$tmp/run/latest.h5" --threads 2 "${small[@]}"
    run 0 resume --epochs 3 --threads 2 --resume "$tmp/run/latest.h5" --output "$tmp/run" "${small[@]}"
    run 0 predict predict --checkpoint "$tmp/run/latest.h5" --predictions "$tmp/p.h5" --csv "$tmp/p.csv" \
        --threads 2 "${small[@]}" data/mnist/t10k-images-idx3-ubyte.gz
    run 0 export export --checkpoint "$tmp/run/latest.h5" --onnx "$tmp/m.onnx" "${small[@]}"
    run 0 train-cnn --epochs 1 --threads 2 --output "$tmp/cnn" --set data.train_limit=200 \
        --set data.test_limit=50 --set "model.layers=conv 4 3x3 pad 1, batchnorm, relu, maxpool 2, conv 4 3x3 stride 2 pad 1, relu, avgpool 7, flatten, dropout 0.2, affine 10" \
        configs/mnist-cnn.ini
    run 2 bad-config --set training.epochs=0 configs/mnist.ini
    run 1 missing-data --set data.train_images=/nonexistent.gz configs/mnist.ini
}

# The runs and the suites, as many at a time as there are cores (memcheck runs a process's
# threads one at a time, so each uses one core): on 2 cores the suites took 4 minutes one by
# one. The longest suites start first (engine and kgemm about 60 s each under memcheck, then
# h5data, predict and run, about 20 s), so that none starts last and runs alone. Verdicts are
# printed in order once all have ended.
skip=" ${VALGRIND_SKIP_SUITES-train ckpt_read registry bench} "
jobs=$(nproc 2>/dev/null || echo 2)
omptrain_runs &
all=$(sed -n 's/^OT_TEST_SUITE(\([a-z_0-9]*\),.*/\1/p' tests/*.c tests/layers/*.c)
first=" engine kgemm h5data predict run "
suites=()
for suite in $first $(for s in $all; do [[ "$first" == *" $s "* ]] || echo "$s"; done); do
    [[ " $(echo $all) " == *" $suite "* ]] || continue # a suite of $first no longer there
    if [[ "$skip" == *" $suite "* ]]; then
        echo "skip suite $suite (VALGRIND_SKIP_SUITES)"
        continue
    fi
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    name=suite-$suite
    ( "${vg[@]}" --log-file="$tmp/$name.vg" "$dir/test_omptrain" "$suite" >"$tmp/$name.out" 2>&1
      echo $? >"$tmp/$name.rc" ) &
    suites+=("$suite")
done
wait
if [ -s "$tmp/runs" ]; then
    while read -r name; do
        read -r rc want <"$tmp/$name.rc"
        verdict "$rc" "$want" "$name" "$name"
    done <"$tmp/runs"
else
    echo "check-valgrind: FAIL: the omptrain runs under memcheck did not start"
    status=1
fi
for suite in "${suites[@]}"; do
    name=suite-$suite
    verdict "$(cat "$tmp/$name.rc")" 0 "$name" "CUnit suite $suite"
done
[ $status -eq 0 ] && echo "check-valgrind: ok, no memcheck error, nothing lost ($(( $(date +%s) - t0 )) s)"
exit $status
