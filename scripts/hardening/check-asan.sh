#!/usr/bin/env bash
# check-asan.sh DIR - the whole test suite (CUnit binary and tests/*.sh) against DIR/test_omptrain
# and DIR/omptrain, built with -fsanitize=address,undefined -fno-sanitize-recover=all.
# Run from the repository root (make check-asan does). Fails on any failed test and on any
# sanitizer report. Reports go to DIR/reports/ rather than stderr, so that a test capturing
# stderr cannot swallow one, and one raised where a test expects a failure still counts.
set -u
dir=$(cd "$1" && pwd)
reports=$dir/reports
rm -rf "$reports" && mkdir -p "$reports"

# exitcode 86: a sanitizer stop is never mistaken for omptrain's own statuses 1 and 2.
# LeakSanitizer is on (default on Linux): a leak at exit is a report like any other.
# gcc 12's UBSan ignores log_path and always writes to stderr; its exit status 86 still fails
# the test that ran it (a CUnit test that captures stderr may hide the text: rerun that suite).
export ASAN_OPTIONS="log_path=$reports/asan:exitcode=86:detect_leaks=1:strict_string_checks=1:detect_invalid_pointer_pairs=1"
export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1:halt_on_error=1:exitcode=86"
export OMPTRAIN=$dir/omptrain
# gradcheck.sh: 10 entries per tensor instead of 1000 (200 in make check). Memory errors depend
# on the shapes and code paths, which every tensor of every config still takes; sanitized, the
# double reference forward of the 1024-wide bench configs would take 8 minutes at 1000, and at
# 50 the CNN configs took 4 minutes of CI (fashion-cnn 116 s, bench-f and mnist-deep-cnn 36 s
# each; at 10: 40 s and 10 s).
export GRADCHECK_ARGS="--entries 10"
# mpi.sh: the bits at 2x1, 2x2 and 3x1 processes x threads (make check adds 1x1, 1x2 and 4x1,
# whose code paths these take); sanitized, the whole matrix took 105-128 s of CI's mpi.sh.
export MPI_MATRIX="2x1 2x2 3x1"

status=0
t0=$(date +%s)
# The CUnit suite runs beside the shell tests, which run as many at a time as there are cores
# (scripts/run-tests.sh): sanitized, one after the other they took 66 s and 400 s of CI.
"$dir/test_omptrain" >"$dir/cunit.log" 2>&1 &
cunit=$!
echo "== check-asan: tests/*.sh (OMPTRAIN=$OMPTRAIN), and $dir/test_omptrain beside them"
scripts/run-tests.sh || { echo "check-asan: FAIL: a shell test failed (above)"; status=1; }
wait $cunit
rc=$?
echo "== check-asan: $dir/test_omptrain"
if [ $rc -ne 0 ]; then
    cat "$dir/cunit.log"
    echo "check-asan: FAIL: the CUnit suite failed under ASan/UBSan (exit $rc;" \
         "86: a sanitizer stopped it)"
    status=1
else
    sed -n '/^Run Summary/,/^Elapsed/p' "$dir/cunit.log"
fi
if compgen -G "$reports/*" >/dev/null; then
    for r in "$reports"/*; do echo "---- $r"; cat "$r"; done
    echo "check-asan: FAIL: sanitizer reports above"
    status=1
fi
[ $status -eq 0 ] && echo "check-asan: ok, no sanitizer report ($(( $(date +%s) - t0 )) s)"
exit $status
