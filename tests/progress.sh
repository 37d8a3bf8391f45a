#!/usr/bin/env bash
# progress.sh - what a terminal shows while omptrain works (run under script(1), which gives
# it one): the epoch's bar, redrawn in place and erased before the epoch's line; a message
# while the bar is up (here a diverging run) erases the bar's line first and stands on a line
# of its own (until 2026-12 it trailed the bar: "... loss 2.3032omptrain: epoch 1, ..."); and
# off a terminal, no bar and no escape sequences at all. SIGINT while the bar is up: the bar is
# erased before the checkpoint's line (which trailed it until 2026-12) and the message. (The bar of a long HDF5 load, drawn
# the same way, is tested in tests/test_h5data.c.) Run from the repository root (make check).
set -u
bin=${OMPTRAIN:-./omptrain}
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails
fail() { echo "progress.sh: FAIL: $*"; fails=$((fails + 1)); } # its own: on stdout
command -v script >/dev/null || { echo "progress.sh: FAIL: script(1) (util-linux) is missing"; exit 1; }
esc=$'\033'

# a short run on a terminal: the bar, then the epoch's line
script -qec "$bin -t 1 -e 1 -S data.train_limit=3000 -S data.test_limit=500 -o $tmp/ok configs/mnist.ini" \
    /dev/null >"$tmp/ok.tty" 2>&1
rc=$?
[ $rc = 0 ] || fail "a short run on a terminal: exit $rc: $(tail -c 300 "$tmp/ok.tty")"
grep -aqF "  epoch 1/1 [" "$tmp/ok.tty" || fail "no epoch bar on a terminal: $(head -c 300 "$tmp/ok.tty")"
grep -aqF "${esc}[Kepoch   1/1  train loss" "$tmp/ok.tty" ||
    fail "the bar is not erased before the epoch's line: $(tail -c 300 "$tmp/ok.tty" | cat -A)"

# a diverging run on a terminal: the message replaces the bar's line
script -qec "$bin -t 1 -e 1 -S training.learning_rate=1000 -o $tmp/nan configs/mnist.ini" \
    /dev/null >"$tmp/nan.tty" 2>&1
rc=$?
[ $rc = 1 ] || fail "a diverging run: exit $rc, expected 1"
grep -aqF "${esc}[K"$'\r'"${esc}[Komptrain: epoch 1, step 2: the training loss is" "$tmp/nan.tty" ||
    fail "the message after the bar does not erase it first: $(tail -c 400 "$tmp/nan.tty" | cat -A)"

# SIGINT while the bar is up: the bar is erased before the checkpoint's line and the message
script -qec "$bin -t 1 -e 1 -o $tmp/sig configs/mnist-cnn.ini" /dev/null >"$tmp/sig.tty" 2>&1 &
waiter=$!
for _ in $(seq 600); do
    grep -aqF "  epoch 1/1 [" "$tmp/sig.tty" && break
    sleep 0.1
done
pkill -INT -f "^$bin -t 1 -e 1 -o $tmp/sig" || fail "no run to interrupt: $(head -c 300 "$tmp/sig.tty")"
wait $waiter
rc=$?
[ $rc = 130 ] || fail "an interrupted run: exit $rc, expected 130"
grep -aqF "${esc}[K"$'\r'"${esc}[Kcheckpoint $tmp/sig/checkpoint-e0001.h5" "$tmp/sig.tty" ||
    fail "the bar is not erased before the checkpoint's line: $(tail -c 400 "$tmp/sig.tty" | cat -A)"
grep -aq "^omptrain: interrupted (SIGINT) at epoch 1, step [0-9]*: saved" "$tmp/sig.tty" ||
    fail "no interrupted message on a line of its own: $(tail -c 400 "$tmp/sig.tty" | cat -A)"

# off a terminal: the same run's stderr is the message alone
"$bin" -t 1 -e 1 -S training.learning_rate=1000 -o "$tmp/nan2" configs/mnist.ini \
    >"$tmp/nan.out" 2>"$tmp/nan.err"
rc=$?
[ $rc = 1 ] || fail "a diverging run off a terminal: exit $rc, expected 1"
grep -q "^omptrain: epoch 1, step 2: the training loss is" "$tmp/nan.err" && [ "$(wc -l <"$tmp/nan.err")" = 1 ] ||
    fail "off a terminal, stderr is not the one message: $(cat -A "$tmp/nan.err")"
! grep -aq "$esc" "$tmp/nan.err" "$tmp/nan.out" || fail "escape sequences off a terminal: $(cat -A "$tmp/nan.err")"

[ $fails = 0 ] || exit 1
echo "progress.sh: ok (the epoch bar on a terminal, erased before the epoch line, a message and an interrupted run's checkpoint line; none off a terminal)"
