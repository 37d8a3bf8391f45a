#!/usr/bin/env bash
# run-tests.sh [-j N] [TEST...] - the shell tests (default tests/*.sh but tests/lib.sh, the
# helpers they source), N at a time (default: the number of cores, or OT_TEST_JOBS), each with
# its own output kept apart.
#
# Each test makes its own temporary directory, and most of them run one core's work at a time
# (gradcheck's double reference, the h5 tools, short runs), so on 2 cores two at a time take
# about half as long. The longest tests start first. As each test ends its verdict line (the
# last line of its output) and its seconds are printed; a failed test's whole output follows,
# and the exit status is 1 if any failed. Run from the repository root; the tests read OMPTRAIN
# and the other variables of the environment as before.
set -u
jobs=${OT_TEST_JOBS:-$(nproc)}
if [ "${1:-}" = -j ]; then jobs=$2; shift 2; fi
[ "$jobs" -ge 1 ] 2>/dev/null || { echo "run-tests.sh: -j $jobs: expected a count >= 1" >&2; exit 2; }
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    for t in tests/*.sh; do [ "$t" = tests/lib.sh ] || tests+=("$t"); done # lib.sh: their helpers
fi

# longest first (their seconds in make check on 2 cores, AVX-512), so that no long test starts
# last and runs alone; the others follow in name order
long=(tests/gradcheck.sh tests/mpi.sh tests/integrity.sh tests/signals.sh tests/memory.sh
      tests/onnx.sh tests/repro_threads.sh)
order=()
for t in "${long[@]}"; do
    for u in "${tests[@]}"; do [ "$u" = "$t" ] && order+=("$t"); done
done
for u in "${tests[@]}"; do
    case " ${long[*]} " in *" $u "*) ;; *) order+=("$u") ;; esac
done

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
declare -A name_of start_of
status=0

# report the test that ran as process $1 with exit status $2
report() {
    local t=${name_of[$1]} rc=$2 secs=$(( $(date +%s) - ${start_of[$1]} ))
    local log="$logs/$(basename "$t").log"
    if [ "$rc" -eq 0 ]; then
        echo "== $t ($secs s): $(tail -n 1 "$log")"
    else
        echo "== $t ($secs s): FAIL (exit $rc)"
        cat "$log"
        status=1
    fi
}

# wait for the next test to end and report it
running=0
reap() {
    local pid rc
    wait -n -p pid; rc=$?
    report "$pid" $rc
    running=$((running - 1))
}

for t in "${order[@]}"; do
    [ $running -lt "$jobs" ] || reap
    bash "$t" >"$logs/$(basename "$t").log" 2>&1 &
    name_of[$!]=$t
    start_of[$!]=$(date +%s)
    running=$((running + 1))
done
while [ $running -gt 0 ]; do reap; done
exit $status
