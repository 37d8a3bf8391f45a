#!/usr/bin/env bash
# checkpoint_crash.sh - a run killed with SIGKILL in the middle (whatever it was doing: a
# step, the history append, a checkpoint write) leaves a readable history and a loadable
# latest.h5; resumed from there it ends, bit for bit, where an uninterrupted run ends, and its
# history has exactly one row per epoch and per step, without duplicates or gaps.
# Run from the repository root (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
cfg=tests/configs/ckpt-small.ini
. tests/lib.sh # the shared helpers: $tmp, fail
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT # lib.sh's, and the run
rows() { h5dump -H -d "$2" "$1" 2>/dev/null | sed -n 's/.*SIMPLE { ( \([0-9]*\) ).*/\1/p'; }
scalar() { h5dump -A 0 -d "$2" "$1" 2>/dev/null | sed -n 's/.*(0): \([0-9]*\).*/\1/p'; }

# 10000 samples, 100 steps per epoch, 200 epochs: it is killed long before the end
long=(--set data.train_limit=10000 --set output.keep=0)
"$bin" -t 2 --epochs 200 "${long[@]}" -o "$tmp/run" "$cfg" >"$tmp/run.out" 2>"$tmp/run.err" &
pid=$!
# wait until the first checkpoint is on disk, then kill at once, mid-flight
for _ in $(seq 1 3000); do
    grep -q '^checkpoint ' "$tmp/run.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.01
done
if ! kill -9 "$pid" 2>/dev/null; then
    fail "the run was not running when it was to be killed: $(cat "$tmp/run.out" "$tmp/run.err")"
    exit 1
fi
wait "$pid" 2>/dev/null
pid=

# what the crash left: a readable history, a loadable latest checkpoint
h5dump -H "$tmp/run/history.h5" >/dev/null 2>&1 || fail "history.h5 is not readable after the kill"
epoch=$(scalar "$tmp/run/latest.h5" /state/epoch)
[ -n "$epoch" ] && [ "$epoch" -ge 1 ] || { fail "latest.h5 is not readable after the kill"; exit 1; }
hist=$(rows "$tmp/run/history.h5" /epochs/epoch)
[ -n "$hist" ] && [ "$hist" -ge "$epoch" ] ||
    fail "the history holds $hist epochs, fewer than the checkpoint's $epoch"

# resume to two epochs past the checkpoint; compare with an uninterrupted run of as many
total=$((epoch + 2))
"$bin" -t 2 --resume "$tmp/run/latest.h5" --epochs "$total" "${long[@]}" -o "$tmp/run" "$cfg" \
    >"$tmp/resume.out" 2>"$tmp/resume.err" || fail "resume exited $?: $(cat "$tmp/resume.err")"
"$bin" -t 2 --epochs "$total" "${long[@]}" -o "$tmp/ref" "$cfg" >/dev/null 2>"$tmp/ref.err" ||
    fail "the reference run failed: $(cat "$tmp/ref.err")"
out=$(h5diff "$tmp/ref/latest.h5" "$tmp/run/latest.h5" /model /model 2>&1) ||
    fail "killed at epoch $epoch and resumed, /model differs from an uninterrupted run: $out"
[ "$(rows "$tmp/run/history.h5" /epochs/epoch)" = "$total" ] ||
    fail "history has $(rows "$tmp/run/history.h5" /epochs/epoch) epochs, expected $total"
[ "$(rows "$tmp/run/history.h5" /steps/step)" = $((total * 100)) ] ||
    fail "history has $(rows "$tmp/run/history.h5" /steps/step) steps, expected $((total * 100))"
for d in /steps/step /steps/loss /epochs/epoch /epochs/test_loss; do
    h5diff -q "$tmp/ref/history.h5" "$tmp/run/history.h5" "$d" "$d" >/dev/null 2>&1 ||
        fail "history $d differs from the uninterrupted run's"
done
ls -a "$tmp/run" | grep -q '\.tmp$' && fail "temporary files of the killed run are left: $(ls -a "$tmp/run")"
[ "$(ls "$tmp/run" | grep -c '^checkpoint-e')" = 1 ] || fail "keep = 0 left: $(ls "$tmp/run")"

[ "$fails" -eq 0 ] || exit 1
echo "checkpoint_crash.sh: ok (killed after epoch $epoch's checkpoint, resumed to $total: bit-exact, history intact)"
