#!/usr/bin/env bash
# checkpoint_errors.sh - bad checkpoints and output directories: a truncated file, a non-HDF5
# file, a missing file, a checkpoint without a dataset, a model or training set that does not
# match, an output directory that cannot be made. Each must give exactly one line on stderr
# (never HDF5's error stack, never a crash), the documented exit status, and no training.
# Run from the repository root (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
cfg=tests/configs/ckpt-small.ini
py=/usr/bin/python3
. tests/lib.sh # the shared helpers: $tmp, fail

# expect STATUS PATTERN ARGS...: exit status STATUS, one stderr line matching PATTERN
# (grep -F), no HDF5 diagnostics, and no epoch trained
expect() {
    local want=$1 pattern=$2; shift 2
    "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -ne "$want" ]; then
        fail "'$*': exit $rc, expected $want; stderr: $(cat "$tmp/err")"
    elif [ "$lines" -ne 1 ]; then
        fail "'$*': $lines lines on stderr, expected 1: $(cat "$tmp/err")"
    elif grep -q 'HDF5-DIAG' "$tmp/err"; then
        fail "'$*': HDF5's error stack on stderr"
    elif ! grep -qF -- "$pattern" "$tmp/err"; then
        fail "'$*': stderr '$(cat "$tmp/err")' does not say '$pattern'"
    elif grep -q '^epoch ' "$tmp/out"; then
        fail "'$*': trained before failing"
    fi
}

"$bin" --epochs 2 -o "$tmp/good" "$cfg" >/dev/null 2>"$tmp/err" || {
    echo "checkpoint_errors.sh: FAIL: the good run failed: $(cat "$tmp/err")" >&2
    exit 1
}
good=$tmp/good/checkpoint-e0002.h5
cp "$tmp/good/history.h5" "$tmp/history.before"

# the file itself
head -c $(($(stat -c %s "$good") / 2)) "$good" >"$tmp/truncated.h5"
expect 1 "$tmp/truncated.h5: cannot open as HDF5: the file is truncated or damaged" \
    --resume "$tmp/truncated.h5" -o "$tmp/good" "$cfg"
expect 1 "$tmp/truncated.h5: cannot open as HDF5" eval --checkpoint "$tmp/truncated.h5" "$cfg"
printf 'epoch,loss\n1,0.5\n' >"$tmp/text.h5"
expect 1 "$tmp/text.h5: not an HDF5 file" --resume "$tmp/text.h5" -o "$tmp/good" "$cfg"
expect 1 "$tmp/text.h5: not an HDF5 file" eval --checkpoint "$tmp/text.h5" "$cfg"
expect 1 "$tmp/nothere.h5: cannot open the checkpoint: No such file or directory" \
    --resume "$tmp/nothere.h5" -o "$tmp/good" "$cfg"
expect 1 "$tmp/nothere.h5: cannot open the checkpoint: No such file or directory" \
    eval --checkpoint "$tmp/nothere.h5" "$cfg"

# the run's history given for its checkpoint
expect 1 "$tmp/good/history.h5: an omptrain history (loss curves), not a checkpoint: give one of the run's checkpoint-eNNNN.h5 files or its latest.h5" \
    --resume "$tmp/good/history.h5" -o "$tmp/good" "$cfg"
expect 1 "$tmp/good/history.h5: an omptrain history (loss curves), not a checkpoint" \
    eval --checkpoint "$tmp/good/history.h5" "$cfg"

# a dataset missing (deleted with h5py)
for d in /state/order /model/affine1/b /state/rng; do
    cp "$good" "$tmp/missing.h5"
    if ! $py -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); del f[sys.argv[2]]; f.close()" \
        "$tmp/missing.h5" "$d" 2>"$tmp/pyerr"; then
        fail "cannot delete $d with $py (python3-h5py installed?): $(cat "$tmp/pyerr")"
        continue
    fi
    expect 1 "$tmp/missing.h5: $d is missing" --resume "$tmp/missing.h5" -o "$tmp/good" "$cfg"
done
cp "$good" "$tmp/missing.h5"
$py -c "import h5py, sys; f = h5py.File(sys.argv[1], 'a'); del f['/model/affine2/W']; f.close()" \
    "$tmp/missing.h5"
expect 1 "$tmp/missing.h5: /model/affine2/W is missing" eval --checkpoint "$tmp/missing.h5" "$cfg"

# the config does not match the checkpoint: exit 2, both models named and the first layer
# that differs
wider="$good: the checkpoint's model is 'affine 50, relu, affine 10' and the config's 'affine 100, relu, affine 10' (layer 1, affine1: output 50 in the checkpoint, 100 in the config)"
expect 2 "$wider" --resume "$good" --epochs 4 --set model.layers=784,100,10 -o "$tmp/good" "$cfg"
expect 2 "$wider" eval --checkpoint "$good" --set model.layers=784,100,10 "$cfg"
expect 2 "$good: the checkpoint's model is 'affine 50, relu, affine 10' and the config's 'affine 50, relu, affine 20, relu, affine 10' (layer 3, affine2: output 10 in the checkpoint, 20 in the config)" \
    --resume "$good" --epochs 4 --set model.layers=784,50,20,10 -o "$tmp/good" "$cfg"
expect 2 "$good: /state/order is the order of 2000 training samples but the config's training set has 1500" \
    --resume "$good" --epochs 4 --set data.train_limit=1500 -o "$tmp/good" "$cfg"
# none of these touched the run's history
cmp -s "$tmp/good/history.h5" "$tmp/history.before" || fail "a failed resume changed history.h5"

# an output directory that cannot be made: fails before training, exit 1 (root can't either)
touch "$tmp/regular"
expect 1 "cannot create the output directory $tmp/regular/run: $tmp/regular: Not a directory" \
    -o "$tmp/regular/run" "$cfg"
expect 1 "cannot create the output directory $tmp/regular: Not a directory" -o "$tmp/regular" "$cfg"
expect 1 "cannot create the output directory /proc/omptrain-test" -o /proc/omptrain-test/run "$cfg"
expect 1 "cannot create the output directory $tmp/regular/run" \
    --resume "$good" --epochs 4 -o "$tmp/regular/run" "$cfg"
grep -q '^omptrain ' "$tmp/out" && fail "the output directory check came after the header line"

[ "$fails" -eq 0 ] || exit 1
echo "checkpoint_errors.sh: ok (truncated, non-HDF5, missing file, missing datasets, model and data mismatch, bad output dirs)"
