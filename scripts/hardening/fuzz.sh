#!/usr/bin/env bash
# fuzz.sh DIR SECONDS TARGET... - run each libFuzzer target DIR/fuzz_TARGET for SECONDS, as many
# side by side as there are cores (FUZZ_JOBS, default nproc), and fail if any of them crashes,
# leaks, times out or violates a property its harness checks. Seeds: tests/fuzz/corpus/TARGET/
# (and, for config, the shipped configs and the golden test configs); inputs the run finds go to
# DIR/corpus/TARGET/, crashing inputs to DIR/crash-TARGET-*. Prints each target's closing
# "#N DONE cov: ..." line.
set -u
dir=$1 seconds=$2; shift 2
status=0
t0=$(date +%s)

seeds() {
    echo "tests/fuzz/corpus/$1"
    # inputs earlier runs found (their fixes' tests live in the suite), replayed first
    [ -d "tests/fuzz/regress/$1" ] && echo "tests/fuzz/regress/$1"
    [ "$1" = config ] && echo configs tests/config/good tests/config/bad
}
opts() {
    # libFuzzer's default -malloc_limit_mb (= -rss_limit_mb, 2048) holds: the IDX reader grows
    # its buffer with the data rather than allocating what a header claims.
    case $1 in
    config) echo "-max_len=4096 -dict=tests/fuzz/config.dict" ;;
    idx) echo "-max_len=4096" ;;
    # The HDF5 readers: file images up to 256 KiB (the seeds are 5-105 KiB). Their runs need a
    # few KiB to a MiB, so one allocation over 16 MiB is a size taken from the file unchecked;
    # the data reader lets HDF5 decompress one chunk of up to 16 MiB (ot_h5data.h): 64 MiB.
    ckpt | history) echo "-max_len=262144 -malloc_limit_mb=16" ;;
    h5data) echo "-max_len=262144 -malloc_limit_mb=64" ;;
    esac
}

jobs=${FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
pids=() rcs=()
for t in "$@"; do
    # at most $jobs at a time: wait for the one started $jobs targets ago
    if [ ${#pids[@]} -ge "$jobs" ]; then
        k=$(( ${#pids[@]} - jobs ))
        wait "${pids[$k]}"
        rcs[$k]=$?
    fi
    mkdir -p "$dir/corpus/$t"
    rm -f "$dir/crash-$t-"* "$dir/$t.log"
    # -close_fd_mask=2: the targets' one-line error messages stay out of the log; libFuzzer and
    # the sanitizers still report there. -timeout: one input taking 10 s is a hang.
    # the HDF5 targets: leaks inside libhdf5 itself are not omptrain's (tests/fuzz/lsan-libhdf5.supp)
    supp=
    case $t in ckpt | history | h5data) supp=suppressions=tests/fuzz/lsan-libhdf5.supp ;; esac
    # shellcheck disable=SC2046
    LSAN_OPTIONS=${supp:+$supp:}${LSAN_OPTIONS:-} "$dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 \
        -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" $(opts "$t") \
        "$dir/corpus/$t" $(seeds "$t") >"$dir/$t.log" 2>&1 &
    pids+=($!)
done
i=0
for t in "$@"; do
    if [ -n "${rcs[$i]:-}" ]; then
        rc=${rcs[$i]}
    else
        wait "${pids[$i]}"
        rc=$?
    fi
    i=$((i + 1))
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$dir/$t.log" | tail -n 1)
    execs=$(grep -E '^stat::number_of_executed_units' "$dir/$t.log" | awk '{print $2}')
    if [ $rc -ne 0 ]; then
        echo "fuzz $t: FAIL (exit $rc); the end of $dir/$t.log:"
        tail -n 60 "$dir/$t.log"
        for a in "$dir/crash-$t-"*; do
            [ -e "$a" ] || continue
            echo "---- reproduce: $dir/fuzz_$t $a"
            "$dir/fuzz_$t" "$a" 2>&1 | tail -n 40
        done
        status=1
    else
        echo "fuzz $t: ok, ${execs:-?} inputs in ${seconds} s: $done_line"
    fi
done
[ $status -eq 0 ] && echo "fuzz: ok, no crash ($(( $(date +%s) - t0 )) s)"
exit $status
