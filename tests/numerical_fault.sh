#!/usr/bin/env bash
# A diverging run (learning rate 1e6) stops with one line naming the epoch and step, exit 1,
# and the last good checkpoint stays the latest and loads.
set -u
omptrain=${OMPTRAIN:-./omptrain}
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails
small=(--set data.train_limit=2000 --set data.test_limit=200 -o "$tmp/run")
"$omptrain" "${small[@]}" --epochs 1 configs/mnist.ini >/dev/null 2>&1 || { echo "FAIL: the good epoch failed"; exit 1; }
"$omptrain" "${small[@]}" --epochs 3 --resume "$tmp/run/latest.h5" \
    --set training.learning_rate=1000000 configs/mnist.ini >"$tmp/out" 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] || { echo "FAIL: a diverging run exited $rc, expected 1"; fails=1; }
grep -q "epoch 2, step 2[0-9]: the training loss is .*diverged" "$tmp/err" && [ "$(wc -l <"$tmp/err")" -eq 1 ] ||
    { echo "FAIL: expected one line naming epoch 2 and its step, got: $(cat "$tmp/err")"; fails=1; }
[ "$(readlink "$tmp/run/latest.h5")" = checkpoint-e0001.h5 ] ||
    { echo "FAIL: latest.h5 -> $(readlink "$tmp/run/latest.h5"), expected checkpoint-e0001.h5"; fails=1; }
"$omptrain" eval --checkpoint "$tmp/run/latest.h5" "${small[@]}" configs/mnist.ini >/dev/null 2>&1 ||
    { echo "FAIL: the last good checkpoint does not load"; fails=1; }
[ $fails -eq 0 ] && echo "ok   numerical fault: lr 1e6 stops in epoch 2 with exit 1; checkpoint-e0001.h5 stays latest and loads"
exit $fails
