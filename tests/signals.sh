#!/usr/bin/env bash
# Signals and crashes lose nothing:
# - SIGINT / SIGTERM finish the current step, save a checkpoint, exit 130 / 143 and give the
#   command that continues the run (the command line's --output and --set in it, quoted, the
#   output directory here with a space); that command, run as given, ends bit-identical to an
#   uninterrupted run in the same directory (the checkpoint is mid-epoch when the signal
#   lands inside an epoch, which the clock decides: on a fast machine mostly at an epoch's end;
#   test_ckpt_read.c's test_resume_mid_epoch stops a run inside an epoch every time);
# - a second SIGINT exits at once (130) and leaves every checkpoint loadable;
# - bench stops at a segment's end, keeps the rows finished in its table and CSV, and exits
#   130 / 143 too;
# - 20 SIGKILLs at random moments (checkpoint writes included): after each, latest.h5 loads,
#   and the run resumed after the last one still ends bit-identical.
set -u
omptrain=${OMPTRAIN:-./omptrain}
cfg=tests/configs/signals.ini
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails
fail() { echo "FAIL signals: $*"; fails=$((fails + 1)); } # its own: on stdout, as its ok lines

"$omptrain" --threads 2 -o "$tmp/ref" "$cfg" >/dev/null 2>&1 || fail "the reference run failed"
# the signalled runs are longer, so that the signal lands mid-run however fast the machine is
long=(--epochs 12)
"$omptrain" --threads 2 "${long[@]}" -o "$tmp/ref_long" "$cfg" >/dev/null 2>&1 ||
    fail "the long reference run failed"

# wait until the run has written its first checkpoint, then a little more (into epoch 2)
wait_ckpt() { for _ in $(seq 1 2400); do [ -e "$1/latest.h5" ] && return 0; sleep 0.05; done; return 1; }

before=$fails
for sig in INT TERM; do
    d="$tmp/$sig run"
    "$omptrain" --threads 2 "${long[@]}" -o "$d" -S data.test_limit=200 "$cfg" >"$d.out" 2>"$d.err" &
    pid=$!
    wait_ckpt "$d" || fail "no first checkpoint appeared"
    sleep 0.1
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ "$rc" -eq "$want" ] || fail "SIG$sig: exit $rc, expected $want"
    again=$(sed -n 's/.*: saved; continue with: omptrain //p' "$d.err")
    [ "$again" = "--set training.epochs=12 --set 'output.dir=$d' --set data.test_limit=200 --resume '$d/latest.h5' $cfg" ] ||
        fail "SIG$sig: the resume command is not the run's options with --resume: $(cat "$d.err")"
    [ "$(wc -l <"$d.err")" -eq 1 ] || fail "SIG$sig: stderr is not one line: $(cat "$d.err")"
    eval "\"\$omptrain\" --threads 1 $again" >"$d.res" 2>&1 || fail "SIG$sig: resume failed: $(cat "$d.res")"
    # the resume names the epoch as the interrupt did, and does not take the checkpoint it
    # resumes for a later one (until 2026-12: "epoch 1" after "at epoch 2", and a note that the
    # directory held a checkpoint of a later epoch, the very file)
    at=$(sed -n 's/.* at epoch \([0-9]*\), step \([0-9]*\): saved.*/\1 \2/p' "$d.err")
    grep -qE "^resumed from .*: (inside epoch ${at% *} after [0-9]+ batches|epoch ${at% *}), step ${at#* } " "$d.res" ||
        fail "SIG$sig: the resume does not name the interrupt's epoch and step ($at): $(head -3 "$d.res")"
    ! grep -q "of later epochs" "$d.res" || fail "SIG$sig: the resumed checkpoint taken for a later one: $(grep "later epochs" "$d.res")"
    h5diff "$tmp/ref_long/latest.h5" "$d/latest.h5" /model /model >/dev/null 2>&1 ||
        fail "SIG$sig: the resumed run differs from the uninterrupted one"
    h5diff "$tmp/ref_long/history.h5" "$d/history.h5" /steps/loss /steps/loss >/dev/null 2>&1 ||
        fail "SIG$sig: the resumed loss curve differs"
done
[ $fails -eq $before ] && echo "ok   signals: SIGINT -> 130 and SIGTERM -> 143 with a checkpoint; resumed runs are bit-identical"

# a second SIGINT: out at once, nothing corrupted
before=$fails
d="$tmp/twice"
"$omptrain" --threads 2 -o "$d" "$cfg" >/dev/null 2>&1 &
pid=$!
wait_ckpt "$d" || fail "no first checkpoint appeared"
kill -s INT "$pid"; kill -s INT "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 130 ] || fail "double SIGINT: exit $rc, expected 130"
"$omptrain" eval --checkpoint "$d/latest.h5" "$cfg" >/dev/null 2>&1 || fail "double SIGINT: latest.h5 does not load"
[ $fails -eq $before ] && echo "ok   signals: a second SIGINT exits 130 at once, latest.h5 still loads"

# bench: a signal ends the table at the last row finished; the CSV holds those rows (a run
# stopped before any keeps the CSV that was there), and the exit status is 128 + the signal
before=$fails
b="$tmp/bench"
mkdir -p "$b"
echo "an earlier CSV" >"$b/bench.csv"
wait_line() { for _ in $(seq 1 1200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done; return 1; }
for case in "TERM 0 ^procs" "INT 1 ^    1       1 "; do
    read -r sig rows line <<<"$case"
    OT_BENCH_SECONDS=1 "$omptrain" bench --threads 1,2 -o "$b" "$cfg" >"$b.out" 2>"$b.err" &
    pid=$!
    wait_line "$b.out" "$line" || fail "bench: no line '$line' appeared: $(cat "$b.out" "$b.err")"
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    want=$([ $sig = INT ] && echo 130 || echo 143)
    [ "$rc" -eq "$want" ] || fail "bench SIG$sig: exit $rc, expected $want"
    grep -q "^bench: .*(SIG$sig) after $rows of 2 rows" "$b.out" ||
        fail "bench SIG$sig: no line 'after $rows of 2 rows': $(cat "$b.out")"
    grep -q "^plot: skipped (stopped)" "$b.out" || [ "$rows" -eq 0 ] ||
        fail "bench SIG$sig: the plot was not skipped: $(cat "$b.out")"
    [ -s "$b.err" ] && fail "bench SIG$sig: stderr: $(cat "$b.err")"
    if [ "$rows" -eq 0 ]; then
        [ "$(cat "$b/bench.csv")" = "an earlier CSV" ] || fail "bench SIG$sig: the earlier CSV was replaced"
    else
        [ "$(wc -l <"$b/bench.csv")" -eq 2 ] && grep -q "^[^,]*,[0-9]*,1,1," "$b/bench.csv" ||
            fail "bench SIG$sig: the CSV is not the 1-thread row alone: $(cat "$b/bench.csv")"
    fi
done
[ $fails -eq $before ] && echo "ok   signals: bench stopped by SIGTERM before a row (143, the earlier CSV kept) and by SIGINT after one (130, its row in the CSV)"

# 20 SIGKILLs at random moments, each followed by a resume from whatever latest.h5 is. A run
# that finishes before its kill is compared with the reference and started afresh, so the
# kills keep coming until 20 have landed.
before=$fails
d="$tmp/kill"
kills=0
finished=0
RANDOM=7
check_finished() {
    h5diff "$tmp/ref/latest.h5" "$d/latest.h5" /model /model >/dev/null 2>&1 ||
        fail "after $kills kills and resumes the model differs from the uninterrupted run"
    finished=$((finished + 1))
}
for i in $(seq 1 100); do
    [ $kills -ge 20 ] && break
    if [ -e "$d/latest.h5" ]; then
        "$omptrain" --threads 2 --resume "$d/latest.h5" -o "$d" "$cfg" >/dev/null 2>&1 &
    else
        "$omptrain" --threads 2 -o "$d" "$cfg" >/dev/null 2>&1 &
    fi
    pid=$!
    sleep "0.$((RANDOM % 6))$((RANDOM % 10))"
    if kill -9 "$pid" 2>/dev/null; then
        kills=$((kills + 1))
        wait "$pid" 2>/dev/null
    else
        wait "$pid" 2>/dev/null && { check_finished; rm -rf "$d"; }
    fi
    if [ -e "$d/latest.h5" ]; then
        "$omptrain" eval --checkpoint "$d/latest.h5" "$cfg" >/dev/null 2>&1 || fail "after kill $kills latest.h5 does not load"
    fi
done
[ $kills -ge 20 ] || fail "only $kills kills landed"
if [ -e "$d/latest.h5" ]; then
    "$omptrain" --threads 2 --resume "$d/latest.h5" -o "$d" "$cfg" >"$d.fin" 2>&1
else
    "$omptrain" --threads 2 -o "$d" "$cfg" >"$d.fin" 2>&1
fi
rc=$?
[ $rc -eq 0 ] || fail "the final resume after the kills failed: $(tail -2 "$d.fin")"
check_finished
# a killed write leaves only a temporary name, which the next save removes
ls "$d"/.ckpt-* >/dev/null 2>&1 && fail "stale temporary files remain: $(ls -a "$d")"
[ $fails -eq $before ] && echo "ok   signals: $kills SIGKILLs at random moments; every latest.h5 loaded; all $finished finished runs are bit-identical"
[ $fails -eq 0 ] && echo "signals: all passed" || echo "signals: $fails failed"
exit $((fails > 0))
