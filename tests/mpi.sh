#!/usr/bin/env bash
# Processes x threads with Open MPI (mpirun -np R omptrain -t T), against one process:
# - /model, /optimizer, /state and the loss curves are bit-identical to the run without mpirun
#   at R x T = 1x1, 1x2, 2x1, 2x2, 3x1, 4x1, for an MLP with batch norm, dropout and adam
#   (tests/configs/repro.ini) and for a CNN (tests/configs/repro-cnn.ini); another seed differs,
#   so the comparison can fail; and at 2x3 on 2 shards, where a process's threads share its shard;
# - a checkpoint written by 2 processes resumes with 3, and one written by 2 with 1, to the bits
#   of the uninterrupted run;
# - command lines that differ between processes are refused in one line, not a hang, and so is
#   an environment variable (OT_FUSE, OMP_NUM_THREADS) wrong in one process only, and a bench
#   without --threads whose processes have different numbers of CPUs;
# - SIGTERM or SIGINT to mpirun: one "saved; continue with" message, a checkpoint, every
#   process ends;
# - SIGKILL of one process: the job ends within 30 s with Open MPI's message naming the
#   signal, and latest.h5 verifies;
# - a config error gives one message and exit 2, fewer shards than processes too; data missing
#   on one machine (one process's working directory) gives one message, from that process.
# As root, mpirun needs OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); --oversubscribe runs more processes
# than cores, and waiting OpenMP threads sleep (OMP_WAIT_POLICY=passive) for the same reason.
set -u
omptrain=${OMPTRAIN:-./omptrain}
case $omptrain in /*) ;; *) omptrain=$PWD/$omptrain ;; esac # for the -wdir case
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
# Open MPI's shared-memory transport reads large messages straight from the sender's memory
# (process_vm_readv), which a container's default seccomp profile forbids; CI may run in one,
# so the tests copy through shared memory instead (the same bytes arrive either way).
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi=(mpirun --oversubscribe --bind-to none)
# Under check-asan (ASAN_OPTIONS set): no leak check in the processes mpirun starts. Open MPI
# keeps allocations until exit and unloads its components (dlclose) in MPI_Finalize, so
# LeakSanitizer reports them, unattributable, as leaks; omptrain's own allocations are the
# same with and without mpirun and are leak-checked by every other test. Memory errors are
# still caught here.
[ -n "${ASAN_OPTIONS:-}" ] && mpi=(env "ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0" "${mpi[@]}")
# A job that hangs fails (exit 124, or 137 where mpirun ignores timeout's SIGTERM, as Open MPI
# 4.1's does while one of its processes has exited and another waits) rather than holding the
# test for ever. The signal tests below signal mpirun itself, so they start it bare.
mpi_bare=("${mpi[@]}")
mpi=(timeout -k 10 300 "${mpi_bare[@]}")
lim=(timeout -k 10 120) # the jobs that should end in seconds
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails
fail() { echo "FAIL mpi: $*"; fails=$((fails + 1)); } # its own: on stdout, as its ok lines
t_start=$(date +%s)

if ! command -v mpirun >/dev/null; then
    echo "FAIL mpi: no mpirun (scripts/setup.sh installs openmpi-bin)"; exit 1
fi
# an omptrain built without MPI refuses to run under mpirun; with it, one process prints
if ! "${mpi[@]}" -np 2 "$omptrain" --version >"$tmp/v" 2>&1 || [ "$(wc -l <"$tmp/v")" -ne 1 ]; then
    echo "FAIL mpi: mpirun -np 2 omptrain --version:"; cat "$tmp/v"; exit 1
fi

# same A B WHAT: A's and B's /model, /optimizer, /state and loss curves are equal
same() {
    local obj
    for obj in /model /optimizer /state; do
        h5diff -q "$1/latest.h5" "$2/latest.h5" $obj $obj >/dev/null 2>&1 ||
            fail "$3: $obj differs from one process's"
    done
    for obj in /steps/loss /epochs/train_loss /epochs/test_loss /epochs/test_acc; do
        h5diff -q "$1/history.h5" "$2/history.h5" $obj $obj >/dev/null 2>&1 ||
            fail "$3: history $obj differs from one process's"
    done
}
# train R T DIR CONFIG [options]: mpirun -np R omptrain -t T
train() {
    local R=$1 T=$2 d=$3
    shift 3
    "${mpi[@]}" -np "$R" "$omptrain" -t "$T" -o "$d" "$@" >"$d.log" 2>&1 ||
        { fail "$R x $T: the run failed: $(tail -3 "$d.log")"; return 1; }
}

# ---- the same bits at every R x T (MPI_MATRIX: make check-asan runs 2x1 2x2 3x1, which take
# every code path of the others; 2x1 and 3x1 are needed below)
read -r -a matrix <<<"${MPI_MATRIX:-1x1 1x2 2x1 2x2 3x1 4x1}"
for cfg in tests/configs/repro.ini tests/configs/repro-cnn.ini; do
    name=$(basename "$cfg" .ini)
    "$omptrain" -t 1 -o "$tmp/$name-ref" "$cfg" >/dev/null 2>&1 || fail "$name: one process failed"
    before=$fails
    for rt in "${matrix[@]}"; do
        d="$tmp/$name-$rt"
        train "${rt%x*}" "${rt#*x}" "$d" "$cfg" && same "$tmp/$name-ref" "$d" "$name $rt"
    done
    grep -q "3 processes x 1 thread," "$tmp/$name-3x1.log" ||
        fail "$name: the header line does not say 3 processes x 1 thread"
    # the comparison can fail: another seed gives other parameters
    train 2 1 "$tmp/$name-s8" --seed 8 "$cfg" &&
        h5diff -q "$tmp/$name-ref/latest.h5" "$tmp/$name-s8/latest.h5" /model /model \
            >/dev/null 2>&1 && fail "$name: seeds 7 and 8 gave identical models"
    [ $fails -eq $before ] &&
        echo "ok   mpi: $name: /model, /optimizer, /state, loss curves identical at ${matrix[*]}"
done

# ---- more threads than a process has shards: 2 processes of 3 threads over 2 shards, the
# three threads of each process sharing its one shard, against one process of one thread
d="$tmp/share-ref"
before=$fails
if "$omptrain" -t 1 --set training.shards=2 -o "$d" tests/configs/repro-cnn.ini >/dev/null 2>&1; then
    train 2 3 "$tmp/share-2x3" --set training.shards=2 tests/configs/repro-cnn.ini &&
        same "$d" "$tmp/share-2x3" "repro-cnn on 2 shards, 2x3"
else
    fail "repro-cnn on 2 shards: one process failed"
fi
[ $fails -eq $before ] &&
    echo "ok   mpi: repro-cnn on 2 shards: 2 processes x 3 threads (threads sharing a shard) identical to 1x1"

# ---- resume with another process count: the 2-process run's epoch-1 checkpoint, with 3, in
# a copy of its directory (the history is cut back to the checkpoint, then grows again)
d="$tmp/resume3"
cp -a "$tmp/repro-2x1" "$d"
if "${mpi[@]}" -np 3 "$omptrain" -t 1 --resume "$d/checkpoint-e0001.h5" -o "$d" \
    tests/configs/repro.ini >"$d.log" 2>&1; then
    before=$fails
    same "$tmp/repro-ref" "$d" "written by 2 processes, resumed by 3"
    grep -q "2 processes x 1 thread)" "$d.log" || fail "the resume line does not name the writer's 2 processes"
    [ $fails -eq $before ] && echo "ok   mpi: a checkpoint of 2 processes resumed by 3 ends bit-identical"
else
    fail "resume with 3 processes failed: $(tail -3 "$d.log")"
fi

# ---- SIGTERM and SIGINT to mpirun: the processes finish the same step, the first saves
before=$fails
cfg=tests/configs/signals.ini
long=(--epochs 12)
"$omptrain" -t 2 "${long[@]}" -o "$tmp/sig-ref" "$cfg" >/dev/null 2>&1 || fail "the long reference run failed"
wait_ckpt() { for _ in $(seq 1 2400); do [ -e "$1/latest.h5" ] && return 0; sleep 0.05; done; return 1; }
gone() { # the processes (pids) ended, within a few seconds of mpirun
    local p
    for _ in $(seq 1 50); do
        for p in "$@"; do kill -0 "$p" 2>/dev/null && break; p=; done
        [ -z "$p" ] && return 0
        sleep 0.1
    done
    return 1
}
for sig in TERM INT; do
    d="$tmp/$sig"
    "${mpi_bare[@]}" -np 2 "$omptrain" -t 1 "${long[@]}" -o "$d" "$cfg" >"$d.out" 2>"$d.err" &
    pid=$!
    wait_ckpt "$d" || fail "SIG$sig: no first checkpoint appeared"
    sleep 0.2
    kids=$(pgrep -P "$pid")
    kill -s "$sig" "$pid"
    wait "$pid"
    rc=$?
    [ "$rc" -ne 0 ] || fail "SIG$sig: mpirun exited 0"
    # shellcheck disable=SC2086
    gone $kids || fail "SIG$sig: a process is still running after mpirun ended"
    n=$(grep -c "saved; continue with: mpirun ... omptrain --set training.epochs=12 --set output.dir=$d --resume $d/latest.h5 $cfg\$" "$d.err")
    [ "$n" -eq 1 ] || fail "SIG$sig: $n resume hints, expected one: $(cat "$d.err")"
    grep -q "^epoch  12/12" "$d.out" && fail "SIG$sig: the run finished before the signal"
    # written by 2 processes, resumed by 1 (no mpirun)
    "$omptrain" -t 1 "${long[@]}" --resume "$d/latest.h5" -o "$d" "$cfg" >"$d.res" 2>&1 ||
        fail "SIG$sig: resume failed: $(tail -2 "$d.res")"
    for obj in /model /optimizer; do
        h5diff -q "$tmp/sig-ref/latest.h5" "$d/latest.h5" $obj $obj >/dev/null 2>&1 ||
            fail "SIG$sig: resumed by 1 process, $obj differs from the uninterrupted run"
    done
    h5diff -q "$tmp/sig-ref/history.h5" "$d/history.h5" /steps/loss /steps/loss >/dev/null 2>&1 ||
        fail "SIG$sig: the resumed loss curve differs"
done
[ $fails -eq $before ] && echo "ok   mpi: SIGTERM and SIGINT to mpirun: one message, a checkpoint, every process ended; resumed by 1 process, bit-identical"

# ---- SIGKILL of one process: the job ends, latest.h5 is intact
before=$fails
d="$tmp/kill"
"${mpi_bare[@]}" -np 2 "$omptrain" -t 1 "${long[@]}" -o "$d" "$cfg" >"$d.out" 2>"$d.err" &
pid=$!
wait_ckpt "$d" || fail "SIGKILL: no first checkpoint appeared"
sleep 0.3
kids=$(pgrep -P "$pid")
victim=$(echo "$kids" | tail -1)
t0=$(date +%s%N)
kill -9 "$victim"
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$rc" -ne 0 ] || fail "SIGKILL: mpirun exited 0"
[ "$ms" -lt 30000 ] || fail "SIGKILL: the job took $ms ms to end"
grep -q "exited on signal 9" "$d.err" || fail "SIGKILL: no message names the signal: $(cat "$d.err")"
# shellcheck disable=SC2086
gone $kids || fail "SIGKILL: a process is still running after mpirun ended"
"$omptrain" verify "$d/latest.h5" >/dev/null 2>&1 || fail "SIGKILL: latest.h5 does not verify"
[ $fails -eq $before ] && echo "ok   mpi: SIGKILL of one process ended the job in $ms ms (rc $rc), latest.h5 verifies"

# ---- errors: one message, the right status
before=$fails
one_message() { # WHAT RC_WANTED FILE NEEDLE
    local n
    n=$(grep -c "^omptrain: " "$3")
    [ "$n" -eq 1 ] || fail "$1: $n omptrain messages, expected one: $(cat "$3")"
    grep -q "$4" "$3" || fail "$1: the message does not say '$4': $(cat "$3")"
}
"${mpi[@]}" -np 3 "$omptrain" -S training.batch_size=0 -o "$tmp/bad" tests/configs/repro.ini \
    >/dev/null 2>"$tmp/bad.err"
rc=$?
[ $rc -eq 2 ] || fail "bad config: exit $rc, expected 2"
one_message "bad config" 2 "$tmp/bad.err" "training.batch_size"
"${mpi[@]}" -np 3 "$omptrain" -S training.shards=2 -o "$tmp/few" tests/configs/repro.ini \
    >/dev/null 2>"$tmp/few.err"
rc=$?
[ $rc -eq 2 ] || fail "2 shards for 3 processes: exit $rc, expected 2"
one_message "2 shards for 3 processes" 2 "$tmp/few.err" "2 shards cannot be split over 3 processes"
# a resume keeps its checkpoint's split (training.shards = 0: one a thread), which 3 processes
# cannot share: said of the checkpoint
"$omptrain" -t 2 -S training.shards=0 -S training.epochs=1 -o "$tmp/split" tests/configs/repro.ini \
    >/dev/null 2>&1 || fail "2 threads on a shard each: exit $?"
"${mpi[@]}" -np 3 "$omptrain" -t 1 -S training.shards=0 --resume "$tmp/split/latest.h5" \
    tests/configs/repro.ini >/dev/null 2>"$tmp/split.err"
rc=$?
[ $rc -eq 2 ] || fail "a checkpoint of 2 shards resumed by 3 processes: exit $rc, expected 2"
one_message "a checkpoint of 2 shards resumed by 3 processes" 2 "$tmp/split.err" \
    "$tmp/split/latest.h5: its run split batches into 2 shards, fewer than the 3 processes; expected at most 2 processes, or training.shards = 3 or more"
# the data on the first machine only: process 1 runs where data/ is missing
mkdir -p "$tmp/m0" "$tmp/m1"
ln -s "$PWD/data" "$tmp/m0/data"
cp tests/configs/repro.ini "$tmp/m0/repro.ini"
cp tests/configs/repro.ini "$tmp/m1/repro.ini"
"${mpi[@]}" -np 1 -wdir "$tmp/m0" "$omptrain" -o out repro.ini : \
    -np 1 -wdir "$tmp/m1" "$omptrain" -o out repro.ini >/dev/null 2>"$tmp/data.err"
rc=$?
[ $rc -ne 0 ] || fail "data missing on one machine: exit 0"
one_message "data missing on one machine" "$rc" "$tmp/data.err" "^omptrain: process 1 of 2 on .*data/mnist"
[ -e "$tmp/m0/out/latest.h5" ] && fail "data missing on one machine: the first process trained anyway"
[ $fails -eq $before ] && echo "ok   mpi: a config error, too few shards (of a config, of a checkpoint resumed), data missing on one machine: one message each, non-zero exit"

# ---- command lines that differ between processes (mpirun's ':'): refused in one line, exit 2,
# never a wait for ever (each used to hang: a train against a bench, two --threads lists); a
# bad option in the second process only is its message; a training process's own --threads may
# differ, and help is a success everywhere
before=$fails
differ() { # WHAT NEEDLE -- ARGS-OF-PROCESS-0 : ARGS-OF-PROCESS-1
    local what=$1 needle=$2 rc; shift 3
    local a=() b=()
    while [ "$1" != ":" ]; do a+=("$1"); shift; done
    shift
    b=("$@")
    OT_BENCH_SECONDS=0.2 "${lim[@]}" "${mpi_bare[@]}" -np 1 "$omptrain" "${a[@]}" : -np 1 "$omptrain" "${b[@]}" \
        >/dev/null 2>"$tmp/differ.err"
    rc=$?
    [ $rc -eq 2 ] || fail "$what: exit $rc, expected 2 (124 or 137: it hung): $(cat "$tmp/differ.err")"
    one_message "$what" 2 "$tmp/differ.err" "$needle"
}
r=(-S data.train_limit=200 -S data.test_limit=100 -S training.epochs=1 tests/configs/repro.ini)
differ "train against bench" "process 1 of 2 on .*command line differs from the first process's" -- \
    -o "$tmp/cmd" "${r[@]}" : bench --threads 1 "${r[@]}"
differ "two bench --threads lists" "command line differs" -- \
    bench --threads 1 "${r[@]}" : bench --threads 1,2 "${r[@]}"
differ "a bad option in process 1" "process 1 of 2 on .*unknown option\|process 1 of 2 on .*unrecognized" -- \
    -o "$tmp/cmd" "${r[@]}" : --no-such-option -o "$tmp/cmd" "${r[@]}"
differ "verify against train" "command line differs" -- \
    verify "$tmp/none.h5" : -o "$tmp/cmd" "${r[@]}"
# an environment variable wrong in one process only (each machine has its own environment):
# that process's line, exit 2, whichever process it is (each used to wait for ever)
env_differ() { # WHAT NEEDLE VAR=VALUE WHICH (0 or 1: the process that has it)
    local e0=() e1=() rc
    if [ "$4" = 0 ]; then e0=("$3"); else e1=("$3"); fi
    "${lim[@]}" "${mpi_bare[@]}" -np 1 env "${e0[@]}" "$omptrain" -o "$tmp/cmd" "${r[@]}" : \
        -np 1 env "${e1[@]}" "$omptrain" -o "$tmp/cmd" "${r[@]}" >/dev/null 2>"$tmp/differ.err"
    rc=$?
    [ $rc -eq 2 ] || fail "$1: exit $rc, expected 2 (124 or 137: it hung): $(cat "$tmp/differ.err")"
    one_message "$1" 2 "$tmp/differ.err" "$2"
}
env_differ "OT_FUSE=2 in process 1" "process 1 of 2 on .*OT_FUSE='2': expected 0 or 1" OT_FUSE=2 1
env_differ "OT_FUSE=2 in process 0" "^omptrain: environment variable OT_FUSE='2'" OT_FUSE=2 0
env_differ "OMP_NUM_THREADS=100000 in process 1" "process 1 of 2 on .*OMP_NUM_THREADS='100000'" \
    OMP_NUM_THREADS=100000 1
# bench without --threads measures powers of two up to each process's CPUs: a process given
# fewer (here one, by taskset; on a cluster, mpirun's mapping or another machine) would measure
# other rows than the first (it used to wait for ever); refused, naming both counts
if [ "$(nproc)" -ge 2 ]; then
    OT_BENCH_SECONDS=0.2 "${lim[@]}" "${mpi_bare[@]}" -np 1 "$omptrain" bench -o "$tmp/cmd" "${r[@]}" : \
        -np 1 taskset -c 0 "$omptrain" bench -o "$tmp/cmd" "${r[@]}" >/dev/null 2>"$tmp/differ.err"
    rc=$?
    [ $rc -eq 2 ] || fail "bench on 2 and 1 CPUs: exit $rc, expected 2 (124 or 137: it hung): $(cat "$tmp/differ.err")"
    one_message "bench on 2 and 1 CPUs" 2 "$tmp/differ.err" \
        "process 1 of 2 on .*bench without --threads: this process may run on 1 CPU and the first process on $(nproc),.*--threads 1)"
else
    echo "SKIP mpi: bench on 2 and 1 CPUs: this machine has one CPU"
fi
"${lim[@]}" "${mpi_bare[@]}" -np 1 "$omptrain" -t 1 -o "$tmp/cmd" "${r[@]}" : -np 1 "$omptrain" -t 2 -o "$tmp/cmd" "${r[@]}" \
    >/dev/null 2>"$tmp/threads.err" || fail "--threads 1 and 2 in two processes: exit $?: $(cat "$tmp/threads.err")"
"${lim[@]}" "${mpi_bare[@]}" -np 2 "$omptrain" --help >/dev/null 2>&1 || fail "--help under mpirun: exit $?"
# a warning every process meets is said once, as an error is
OMPTRAIN_MEMORY_LIMIT=4300000 "${lim[@]}" "${mpi_bare[@]}" -np 3 -x OMPTRAIN_MEMORY_LIMIT "$omptrain" -t 1 \
    -o "$tmp/warn" -S data.train_limit=2000 -S data.test_limit=500 -S training.epochs=1 \
    configs/mnist.ini >/dev/null 2>"$tmp/warn.err" || fail "a memory warning in 3 processes: exit $?: $(cat "$tmp/warn.err")"
n=$(grep -c "warning: configs/mnist.ini: the run needs about" "$tmp/warn.err")
[ "$n" -eq 1 ] || fail "a memory warning in 3 processes: said $n times, expected once: $(cat "$tmp/warn.err")"
# the note on binding only where mpirun bound the processes: unbound, more threads than the
# machine's CPUs get the note on taking turns instead
cpus=$(nproc)
"${lim[@]}" "${mpi_bare[@]}" -np 2 "$omptrain" -t $((cpus + 1)) -o "$tmp/note" "${r[@]}" >"$tmp/note.out" 2>&1 ||
    fail "2 processes of $((cpus + 1)) threads: exit $?: $(cat "$tmp/note.out")"
grep -q "mpirun binds" "$tmp/note.out" && fail "--bind-to none: a note on binding: $(grep note "$tmp/note.out")"
grep -q "^note: $((cpus + 1)) threads on $cpus CPU" "$tmp/note.out" ||
    fail "$((cpus + 1)) threads on $cpus CPUs: no note: $(cat "$tmp/note.out")"
if [ "$cpus" -gt 1 ]; then
    "${lim[@]}" env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0" mpirun --oversubscribe --bind-to core \
        -np 2 "$omptrain" -t 2 -o "$tmp/note" "${r[@]}" \
        >"$tmp/note.out" 2>&1 || fail "2 processes bound to a core each: exit $?: $(cat "$tmp/note.out")"
    grep -q "^note: the first process may run on 1 CPU but has 2 threads: mpirun binds" "$tmp/note.out" ||
        fail "2 processes bound to a core each: no note on binding: $(cat "$tmp/note.out")"
fi
[ $fails -eq $before ] && echo "ok   mpi: differing command lines (train and bench, two thread lists, a bad option, verify), an environment variable wrong in one process, bench's default threads over different CPUs: refused in one line, exit 2; --threads may differ; a warning said once; the note on binding only when bound"

secs=$(($(date +%s) - t_start))
[ $fails -eq 0 ] && echo "mpi: all passed ($secs s)" || echo "mpi: $fails failed ($secs s)"
exit $((fails > 0))
