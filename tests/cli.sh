#!/usr/bin/env bash
# The command line: exit statuses (0 ok, 1 runtime, 2 usage/config) and one-line messages.
set -u
omptrain=${OMPTRAIN:-./omptrain} # the binary under test; make check-asan points it elsewhere
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails (its own expect below)

# expect STATUS FRAGMENT -- ARGS...: run $omptrain ARGS, check the exit status, and that
# stderr is exactly one line containing FRAGMENT (or empty when FRAGMENT is).
expect() {
    local want=$1 frag=$2; shift 3
    "$omptrain" "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$? lines
    lines=$(wc -l <"$tmp/err")
    local ok=1
    [ "$got" -eq "$want" ] || ok=0
    if [ -n "$frag" ]; then
        grep -qF -- "$frag" "$tmp/err" && [ "$lines" -eq 1 ] || ok=0
    else
        [ ! -s "$tmp/err" ] || ok=0
    fi
    if [ $ok -eq 0 ]; then
        echo "FAIL omptrain $*: exit $got (want $want), stderr:"; sed 's/^/    /' "$tmp/err"
        fails=$((fails + 1))
    else
        echo "ok   omptrain $* -> $got${frag:+: $frag}"
    fi
}

small=(--set data.train_limit=300 --set data.test_limit=100 --output "$tmp/run")
expect 0 "" -- --help
grep -q "usage: omptrain" "$tmp/out" || { echo "FAIL --help prints no usage"; fails=$((fails + 1)); }
expect 0 "" -- --version
grep -qx "omptrain [0-9.]*" "$tmp/out" || { echo "FAIL --version prints '$(cat "$tmp/out")'"; fails=$((fails + 1)); }
expect 2 "unknown option '--bogus'" -- --bogus configs/mnist.ini
expect 2 "--threads: invalid value '0'" -- --threads 0 configs/mnist.ini
expect 2 "--threads: invalid value '-3'" -- --threads -3 configs/mnist.ini
expect 2 "--threads: invalid value 'abc'" -- --threads abc configs/mnist.ini
expect 2 "--entries: invalid value '-1', expected an integer in [0, 1073741824] (0: all)" -- gradcheck --entries -1 configs/mnist.ini
expect 2 "option --threads needs a value" -- configs/mnist.ini --threads
expect 2 "missing CONFIG" --
expect 2 "expected one CONFIG, got 2 arguments: 'configs/mnist.ini' '3' (see omptrain --help)" -- configs/mnist.ini --set training.epochs= 3
expect 2 "expected one CONFIG" -- configs/mnist.ini configs/mnist.ini
expect 2 "cannot open config 'nope.ini'" -- nope.ini
expect 2 "--set training.epochs=abc: training.epochs: invalid value 'abc'" -- --set training.epochs=abc configs/mnist.ini
expect 2 "--set epochs: " -- --set epochs configs/mnist.ini
expect 2 "--set model.nope=1: " -- --set model.nope=1 configs/mnist.ini
expect 2 "--epochs 0: training.epochs: invalid value '0'" -- --epochs 0 configs/mnist.ini
expect 2 "--seed -1: training.seed: invalid value '-1'" -- --seed=-1 configs/mnist.ini
expect 2 "eval needs --checkpoint" -- eval configs/mnist.ini

printf '[model]\nlayers = 784, 50, 10\nactivation = tanh\n' >"$tmp/bad.ini"
expect 2 "$tmp/bad.ini:3: model.activation: " -- "$tmp/bad.ini"
printf '[model]\nlayers = 100, 10\n' >"$tmp/width.ini"
expect 2 "$tmp/width.ini:2: model.layers: input width 100, expected 784" -- "${small[@]}" "$tmp/width.ini"
printf '[training]\nbatch_size = 5000\n' >"$tmp/batch.ini"
expect 2 "training.batch_size: 5000 is larger than the 300 training samples; expected at most 300" -- "${small[@]}" "$tmp/batch.ini"
printf '[data]\ntrain_images = %s/none.gz\n' "$tmp" >"$tmp/data.ini"
expect 1 "configs/mnist.ini: data.train_images: cannot open '$tmp': it is a directory, expected a file" \
    -- --set data.train_images="$tmp" configs/mnist.ini
expect 1 "$tmp/data.ini: data.train_images: cannot open '$tmp/none.gz': No such file or directory" \
    -- "${small[@]}" "$tmp/data.ini"
# a relative data path is the current directory's, which the message says (run from $tmp)
abs=$(realpath "$omptrain")
(cd "$tmp" && "$abs" -o "$tmp/rel" "$OLDPWD/configs/mnist.ini") >/dev/null 2>"$tmp/err"
[ $? = 1 ] && grep -qF "configs/mnist.ini: data.train_images: cannot open 'data/mnist/train-images-idx3-ubyte.gz': No such file or directory (a relative path is read from the current directory, $tmp)" "$tmp/err" ||
    { echo "FAIL a relative data path from another directory: $(cat "$tmp/err")"; fails=$((fails + 1)); }

# a short real run: one line per epoch on stdout, nothing on stderr when it is not a terminal
expect 0 "" -- "${small[@]}" --epochs 2 --threads 2 configs/mnist.ini
[ "$(grep -c '^epoch' "$tmp/out")" -eq 2 ] && [ ! -s "$tmp/err" ] ||
    { echo "FAIL a 2-epoch run printed:"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1)); }

# omptrain's environment variables: a value their readers would ignore is a usage error
OT_BENCH_SECONDS=abc expect 2 "environment variable OT_BENCH_SECONDS='abc': expected seconds in (0, 3600]" \
    -- "${small[@]}" configs/mnist.ini
OMPTRAIN_MEMORY_LIMIT=8G expect 2 "environment variable OMPTRAIN_MEMORY_LIMIT='8G': expected a number of bytes" \
    -- "${small[@]}" configs/mnist.ini
OMP_NUM_THREADS=5000 expect 2 "environment variable OMP_NUM_THREADS='5000': 5000 threads, expected at most 4096 (or give --threads N)" \
    -- "${small[@]}" configs/mnist.ini
OMP_NUM_THREADS=5000 expect 0 "" -- "${small[@]}" --threads 2 configs/mnist.ini
OT_XFER=plian expect 2 "environment variable OT_XFER='plian': expected plain, keep or auto" \
    -- "${small[@]}" configs/mnist.ini
OT_BLANK=no expect 2 "environment variable OT_BLANK='no': expected 0 or 1" \
    -- "${small[@]}" configs/mnist.ini
OT_XFER=auto OT_FUSE=1 OT_LIVE=0 OT_BLANK=1 OT_BENCH_SECONDS=0.5 expect 0 "" -- "${small[@]}" --epochs 1 configs/mnist.ini

# more threads than the CPUs it may run on (taskset: one): a note on stdout; as many: none
taskset -c 0 "$omptrain" "${small[@]}" --epochs 1 --threads 3 configs/mnist.ini >"$tmp/out" 2>"$tmp/err"
grep -q "^note: 3 threads on 1 CPU: the threads beyond the CPUs take turns" "$tmp/out" &&
    grep -q ", 3 threads, memory" "$tmp/out" && [ ! -s "$tmp/err" ] ||
    { echo "FAIL 3 threads on 1 CPU: no note:"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1)); }
taskset -c 0 "$omptrain" "${small[@]}" --epochs 1 --threads 1 configs/mnist.ini >"$tmp/out" 2>"$tmp/err"
! grep -q "^note: .* on 1 CPU" "$tmp/out" && grep -q ", 1 thread, memory" "$tmp/out" ||
    { echo "FAIL 1 thread on 1 CPU:"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1)); }

# batch norm on vectors, each epoch ending with a batch of 1 sample (301 = 3 x 100 + 1): a note
# naming the layer; 302 samples (a last batch of 2), or a convolution's batch norm (its
# statistics also run over the positions): none
bn=(--set data.test_limit=100 --set training.batch_size=100 --epochs 1 --output "$tmp/bn")
expect 0 "" -- "${bn[@]}" --set data.train_limit=301 configs/mnist-mlp-bn-adam.ini
grep -q "^note: each epoch ends with a batch of 1 sample (301 = 3 x 100 + 1), over which bn1 normalises each feature by itself" "$tmp/out" ||
    { echo "FAIL batch norm with a last batch of 1: no note:"; cat "$tmp/out"; fails=$((fails + 1)); }
expect 0 "" -- "${bn[@]}" --set data.train_limit=302 configs/mnist-mlp-bn-adam.ini
! grep -q "^note: each epoch ends" "$tmp/out" || { echo "FAIL a last batch of 2: a note"; fails=$((fails + 1)); }
expect 0 "" -- "${bn[@]}" --set data.train_limit=301 --set "model.layers=conv 4 3x3, batchnorm, relu, affine 10" configs/mnist-mlp-bn-adam.ini
! grep -q "^note: each epoch ends" "$tmp/out" || { echo "FAIL a conv batch norm, last batch of 1: a note"; fails=$((fails + 1)); }

# an empty path is a usage error naming its option (until 2026-12 some ran first, predict's
# HDF5 file was written before an empty --csv failed, and the messages began "omptrain: : ")
expect 2 "--csv: empty value, expected a path" -- predict -c "$tmp/bn" --csv "" configs/mnist.ini data/mnist/t10k-images-idx3-ubyte.gz
expect 2 "--predictions: empty value, expected a path" -- predict -c "$tmp/bn" --predictions= configs/mnist.ini data/mnist/t10k-images-idx3-ubyte.gz
expect 2 "--labels: empty value, expected a path" -- predict -c "$tmp/bn" --labels "" configs/mnist.ini data/mnist/t10k-images-idx3-ubyte.gz
expect 2 "--onnx: empty value, expected a path" -- export -c "$tmp/bn" --onnx "" configs/mnist.ini
expect 2 "--checkpoint: empty value, expected a path" -- eval -c "" configs/mnist.ini
expect 2 "--resume: empty value, expected a path" -- --resume "" configs/mnist.ini
# verify takes files: an option is named as unknown (it had said "needs one or more files", or
# tried to open "--foo"), and "--" ends the options
expect 2 "verify: unknown option '--bogus', expected checkpoint or history files" -- verify --bogus "$tmp/bn/latest.h5"
expect 2 "verify: unknown option '--foo'" -- verify "$tmp/bn/latest.h5" --foo
expect 2 "verify needs one or more checkpoint or history files" -- verify --
"$omptrain" verify -- "$tmp/bn/latest.h5" >"$tmp/out" 2>&1 && grep -q "latest.h5: ok (checkpoint" "$tmp/out" ||
    { echo "FAIL verify -- FILE:"; cat "$tmp/out"; fails=$((fails + 1)); }

# verify DIR names the earlier runs set aside in DIR/previous (three runs went into $tmp/bn)
"$omptrain" verify "$tmp/bn" >"$tmp/out" 2>&1 &&
    grep -qx "$tmp/bn/previous: an earlier run, set aside by a later one (not verified here: omptrain verify $tmp/bn/previous)" "$tmp/out" ||
    { echo "FAIL verify DIR says nothing of DIR/previous:"; cat "$tmp/out"; fails=$((fails + 1)); }

# a key the other choices leave unused: one warning; the config a checkpoint keeps, saved as a
# file, trains without one (it wrote every unused key as a plain key: 12 warnings)
expect 0 "warning: configs/mnist.ini: training.momentum is set, but with training.optimizer = sgd it is unused" \
    -- "${small[@]}" --epochs 1 --set training.momentum=0.9 -o "$tmp/unused" configs/mnist.ini
/usr/bin/python3 -c "import h5py, sys; sys.stdout.write(h5py.File(sys.argv[1])['/'].attrs['config'].decode())" \
    "$tmp/unused/latest.h5" >"$tmp/stored.ini" &&
    grep -qx "; momentum = 0.9" "$tmp/stored.ini" && grep -qx "learning_rate = 0.1" "$tmp/stored.ini" ||
    { echo "FAIL the stored config: $(head -c 300 "$tmp/stored.ini")"; fails=$((fails + 1)); }
expect 0 "" -- --epochs 1 -o "$tmp/unused2" "$tmp/stored.ini"

# a data limit above the file's samples: a note naming the file (all of it is used); below: none
expect 0 "" -- "${small[@]}" --set data.test_limit=20000 --epochs 1 configs/mnist.ini
grep -q "^note: data.test_limit 20000 is above the 10000 samples of data/mnist/t10k-images-idx3-ubyte.gz: all of them are used$" "$tmp/out" &&
    grep -q " 300 train / 10000 test samples" "$tmp/out" ||
    { echo "FAIL a test_limit above the file's samples: no note:"; cat "$tmp/out"; fails=$((fails + 1)); }
expect 0 "" -- "${small[@]}" --epochs 1 configs/mnist.ini
! grep -q "^note: data" "$tmp/out" || { echo "FAIL a note for limits below the samples:"; cat "$tmp/out"; fails=$((fails + 1)); }

# a run that fails to start (here its data) leaves no directory it made; one that was there stays
expect 1 "wrong magic" -- --set data.train_images=configs/mnist.ini --output "$tmp/new/a/b" configs/mnist.ini
[ ! -e "$tmp/new" ] || { echo "FAIL a run that failed to start left $(find "$tmp/new")"; fails=$((fails + 1)); }
mkdir "$tmp/there"
expect 1 "wrong magic" -- --set data.train_images=configs/mnist.ini --output "$tmp/there/a" configs/mnist.ini
[ -d "$tmp/there" ] && [ ! -e "$tmp/there/a" ] ||
    { echo "FAIL a run that failed to start: $(find "$tmp/there")"; fails=$((fails + 1)); }

# scripts/compare_pytorch.py refuses counts and times omptrain bench would (until 2026-12
# --threads 0 and --seconds -1 were found only when its first bench failed); these come before
# it looks for torch, so they hold on a machine without it
for args in "--threads 0|--threads 0: expected comma-separated thread counts in [1, 4096]" \
            "--threads 1,,2|--threads 1,,2: expected comma-separated thread counts" \
            "--seconds -1|--seconds -1: expected seconds in (0, 3600]" \
            "--shards 0|--shards 0: expected an integer in [1, 1024]"; do
    a=${args%%|*} want=${args#*|}
    # shellcheck disable=SC2086
    out=$(/usr/bin/python3 scripts/compare_pytorch.py $a 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && [[ $(tail -1 <<<"$out") == "compare_pytorch.py: error: $want"* ]]; then
        echo "ok   compare_pytorch.py $a -> 2: $want"
    else
        echo "FAIL compare_pytorch.py $a: exit $rc (want 2), output: $out"; fails=$((fails + 1))
    fi
done

# --resume outside training was ignored; now a usage error naming what the command takes
expect 2 "--resume is for training; eval reads a checkpoint given as --checkpoint PATH" -- eval --checkpoint x.h5 --resume y.h5 configs/mnist.ini
expect 2 "--resume is for training; bench times steps from the config's initial parameters" -- bench --resume y.h5 configs/mnist.ini
expect 2 "--resume is for training; gradcheck reads a checkpoint given as --checkpoint PATH" -- gradcheck -r y.h5 configs/mnist.ini
expect 2 "--checkpoint is for eval, predict, export and gradcheck; to continue training use --resume PATH" -- --checkpoint x.h5 configs/mnist.ini

# an option given twice: the last one wins, as with --set (-e, -s and -o each keep their own
# string: the first one's was freed when the second came, and read after; make check-asan)
expect 0 "" -- -e 1 -e 2 -s 3 -s 4 "${small[@]}" -o "$tmp/twice" configs/mnist.ini
grep -q "^epoch   2/2 " "$tmp/out" && [ -e "$tmp/twice/checkpoint-e0002.h5" ] ||
    { echo "FAIL -e 1 -e 2 -o A -o B: not 2 epochs into B: $(tail -2 "$tmp/out")"; fails=$((fails + 1)); }

# --checkpoint DIR takes the newest checkpoint there that verifies, as --resume DIR does (it
# was refused: "is a directory"); a damaged newest one is skipped, with a line saying so
expect 0 "--checkpoint $tmp/twice: reading $tmp/twice/checkpoint-e0002.h5, the newest checkpoint there that verifies" \
    -- eval "${small[@]}" --checkpoint "$tmp/twice" configs/mnist.ini
grep -q "^omptrain [0-9.]*: eval $tmp/twice/checkpoint-e0002.h5 (epoch 2," "$tmp/out" ||
    { echo "FAIL eval --checkpoint DIR did not evaluate checkpoint-e0002.h5: $(head -1 "$tmp/out")"; fails=$((fails + 1)); }
expect 0 "reading $tmp/twice/checkpoint-e0002.h5" -- export -c "$tmp/twice" --onnx "$tmp/twice.onnx" configs/mnist.ini
[ -s "$tmp/twice.onnx" ] || { echo "FAIL export -c DIR wrote no model"; fails=$((fails + 1)); }
truncate -s 5000 "$tmp/twice/checkpoint-e0002.h5"
"$omptrain" eval "${small[@]}" -c "$tmp/twice" configs/mnist.ini >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && grep -q "checkpoint-e0002.h5: skipped: " "$tmp/err" &&
    grep -q "reading $tmp/twice/checkpoint-e0001.h5, the newest" "$tmp/err"; then
    echo "ok   eval -c DIR with its newest checkpoint damaged reads checkpoint-e0001.h5"
else
    echo "FAIL eval -c DIR with its newest checkpoint damaged:"; sed 's/^/    /' "$tmp/err"; fails=$((fails + 1))
fi
mkdir "$tmp/empty"
expect 1 "$tmp/empty: no checkpoint that verifies (0 checkpoint-eNNNN.h5 files found)" -- predict -c "$tmp/empty" configs/mnist.ini data/mnist/t10k-images-idx3-ubyte.gz

# an option that names one thing, given twice, is refused (the first had been dropped without
# a word); --set and its aliases, and a training --threads, go by the last
expect 2 "--onnx given twice ('$tmp/a.onnx', then '$tmp/b.onnx'), expected it once" -- export -c "$tmp/bn" --onnx "$tmp/a.onnx" --onnx="$tmp/b.onnx" configs/mnist.ini
[ -e "$tmp/a.onnx" ] || [ -e "$tmp/b.onnx" ] && { echo "FAIL --onnx twice wrote a model"; fails=$((fails + 1)); }
expect 2 "--tensors given twice ('affine1/W', then 'affine2/b'), expected it once (a comma-separated list" -- gradcheck --tensors affine1/W --tensors affine2/b configs/mnist.ini
expect 2 "--checkpoint given twice ('$tmp/bn', then '$tmp/twice')" -- eval -c "$tmp/bn" -c"$tmp/twice" configs/mnist.ini
expect 2 "--threads given twice ('1', then '2')" -- bench -t 1 --threads 2 configs/mnist.ini
expect 0 "" -- -t 1 -t 2 --epochs 1 "${small[@]}" configs/mnist.ini

# a CONFIG without line breaks is refused after its first 64 KiB (/dev/zero had been read into
# memory until it ran out); a report that cannot be written to stdout is exit 1 (it was 0)
expect 2 "/dev/zero:1: syntax error: line contains a NUL byte" -- eval -c "$tmp/bn" /dev/zero
head -c 70000 /dev/zero | tr '\0' 'x' >"$tmp/oneline.ini"
expect 2 "$tmp/oneline.ini:1: line too long (over 65536 characters), expected at most 197" -- "$tmp/oneline.ini"
if [ -w /dev/full ]; then
    "$omptrain" eval "${small[@]}" -c "$tmp/twice/checkpoint-e0001.h5" configs/mnist.ini >/dev/full 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "cannot write the report to standard output: No space left on device" "$tmp/err" &&
        echo "ok   eval > /dev/full -> 1" || { echo "FAIL eval > /dev/full: exit $rc: $(cat "$tmp/err")"; fails=$((fails + 1)); }
fi

# a checkpoint it cannot read is named so, not "truncated or damaged" (as root: run as nobody
# where nobody can run this binary)
cp "$tmp/twice/checkpoint-e0001.h5" "$tmp/locked.h5" && chmod 000 "$tmp/locked.h5"
as=()
[ "$(id -u)" -eq 0 ] && as=(runuser -u nobody --)
if [ ${#as[@]} -eq 0 ] || { chmod a+rx "$tmp" && "${as[@]}" "$omptrain" --version >/dev/null 2>&1; }; then
    "${as[@]}" "$omptrain" eval -c "$tmp/locked.h5" configs/mnist.ini >/dev/null 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && [ "$(cat "$tmp/err")" = "omptrain: $tmp/locked.h5: cannot read the checkpoint: Permission denied" ] &&
        echo "ok   eval of an unreadable checkpoint -> 1: Permission denied" ||
        { echo "FAIL eval of an unreadable checkpoint: exit $rc: $(cat "$tmp/err")"; fails=$((fails + 1)); }
    "${as[@]}" "$omptrain" verify "$tmp/locked.h5" >"$tmp/out" 2>&1
    grep -qx "$tmp/locked.h5: CANNOT READ: Permission denied" "$tmp/out" &&
        echo "ok   verify of an unreadable checkpoint: CANNOT READ: Permission denied" ||
        { echo "FAIL verify of an unreadable checkpoint: $(cat "$tmp/out")"; fails=$((fails + 1)); }
else
    echo "skip an unreadable checkpoint: user nobody cannot run $omptrain here"
fi

# HDF5 given where IDX is read: named as HDF5, and through a pipe why that cannot work
expect 1 "(IDX images; this is an HDF5 file: data.train_file and data.test_file take HDF5)" -- \
    --set data.train_images="$tmp/bn/latest.h5" "${small[@]}" configs/mnist.ini
expect 1 "this is an HDF5 file through a pipe, and HDF5 reads only a regular file it can seek in" -- \
    predict -c "$tmp/twice/checkpoint-e0001.h5" --predictions "$tmp/pipe.h5" configs/mnist.ini <(cat "$tmp/bn/latest.h5")

# bench from another folder (the config's data there by a link) finds the plotter beside the
# executable; a binary without scripts/ beside it (make check-asan's) skips this
exe=$(readlink -f "$omptrain")
if [ -f "$(dirname "$exe")/scripts/plot_scaling.py" ]; then
    mkdir "$tmp/away" && ln -s "$PWD/data" "$tmp/away/data" && cp configs/bench-a.ini "$tmp/away/"
    (cd "$tmp/away" && OT_BENCH_SECONDS=0.1 "$exe" bench --threads 1 -o run bench-a.ini) >"$tmp/out" 2>&1
    if grep -qx "plot: run/bench-speedup.png" "$tmp/out" && [ -s "$tmp/away/run/bench-speedup.png" ]; then
        echo "ok   bench from another folder: plot: run/bench-speedup.png"
    else
        echo "FAIL bench from another folder drew no plot: $(tail -3 "$tmp/out")"; fails=$((fails + 1))
    fi
fi

[ $fails -eq 0 ] && echo "cli: all passed" || echo "cli: $fails failed"
exit $((fails > 0))
