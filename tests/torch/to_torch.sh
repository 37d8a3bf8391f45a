#!/usr/bin/env bash
# to_torch.sh - scripts/to_torch.py: a checkpoint as a torch.nn.Sequential gives omptrain eval's
# test loss and accuracy to the printed digit, on
#   - MNIST (IDX) and the SimpleConvNet shape (the affine rows reordered after the flatten),
#     and convolutions marked winograd and winograd4;
#   - the user's own HDF5 data: 3-channel images stored NHWC, standardised per channel and per
#     feature, under a convolution and under the width syntax (which flattens 3 channels);
#     uint8 images stored NCHW with N x 1 labels; float64 vectors, standardised per feature;
# and --save writes a module that torch.load reads back (to_torch importable), a failed --save
# leaves no file, --save over the checkpoint or a history is refused, a run's directory stands
# for its latest.h5, a missing test file or --omptrain binary is one line. It needs python3-torch, which make test
# does not install (it is large, and CI would take minutes more): make check-torch installs it
# and runs this. Run from the repository root. OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
if ! "$py" -c 'import torch, h5py, numpy' 2> /dev/null; then
    echo "to_torch.sh: FAIL: $py lacks torch, h5py or numpy (make check-torch installs them)"
    exit 1
fi
tmp=$(mktemp -d /tmp/omptrain-to-torch.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "to_torch.sh: FAIL: $*" >&2; fails=$((fails + 1)); }

# agree NAME TRAIN-ARGS...: train into $tmp/NAME, then the torch model's test loss and
# accuracy must equal omptrain eval's
agree() {
    local name=$1; shift
    if ! "$bin" -t 2 -o "$tmp/$name" "$@" > "$tmp/$name.train" 2>&1; then
        fail "$name: training failed: $(tail -2 "$tmp/$name.train")"
        return
    fi
    if ! "$py" scripts/to_torch.py "$tmp/$name/latest.h5" --omptrain "$bin" > "$tmp/$name.out" 2>&1; then
        fail "$name: to_torch.py failed: $(tail -2 "$tmp/$name.out")"
        return
    fi
    local ours theirs
    theirs=$(sed -n 's/^torch    test loss \(\S*\)  acc \(\S*\)%.*/\1 \2/p' "$tmp/$name.out")
    ours=$(sed -n 's/^omptrain test loss \(\S*\)  acc \(\S*\)%.*/\1 \2/p' "$tmp/$name.out")
    if [ -z "$ours" ] || [ "$ours" != "$theirs" ]; then
        fail "$name: torch '$theirs', omptrain '$ours': $(cat "$tmp/$name.out")"
    else
        echo "ok   $name: test loss and accuracy $ours in both"
    fi
}

agree mnist-cnn --epochs 1 -S data.train_limit=3000 -S data.test_limit=500 -S training.learning_rate=0.005 \
    -S "model.layers=conv 4 5x5, relu, maxpool 2, affine 10" configs/mnist-cnn.ini
# winograd and winograd4 (configs/mnist-deep-cnn.ini) are kernel choices: the same Conv2d
agree mnist-winograd --epochs 1 -S data.train_limit=2000 -S data.test_limit=300 -S training.learning_rate=0.005 \
    -S "model.layers=conv 4 3x3 pad 1 winograd4, relu, conv 4 3x3 winograd, relu, maxpool 2, affine 10" configs/mnist-cnn.ini

# a run's directory stands for its latest.h5; --save never replaces an HDF5 file; a binary
# that cannot run is one line
"$py" scripts/to_torch.py "$tmp/mnist-cnn" --eval > "$tmp/dir.out" 2>&1 &&
    grep -q "^torch    test loss" "$tmp/dir.out" && echo "ok   a run's directory: its latest.h5" ||
    fail "a run's directory: $(cat "$tmp/dir.out")"
cp "$tmp/mnist-cnn/latest.h5" "$tmp/keep.h5"
for target in "$tmp/mnist-cnn/latest.h5" "$tmp/mnist-cnn/history.h5"; do
    "$py" scripts/to_torch.py "$tmp/mnist-cnn/latest.h5" --save "$target" > /dev/null 2> "$tmp/over.err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "^to_torch.py: --save $target: it is " "$tmp/over.err" &&
        [ "$(wc -l < "$tmp/over.err")" -eq 1 ] && cmp -s "$tmp/keep.h5" "$tmp/mnist-cnn/latest.h5" &&
        "$bin" verify "$target" > /dev/null 2>&1 && echo "ok   --save over $(basename "$target") refused, file kept" ||
        fail "--save over $target: exit $rc, $(cat "$tmp/over.err")"
done
"$py" scripts/to_torch.py "$tmp/mnist-cnn/latest.h5" --omptrain "$tmp/nonexistent" > /dev/null 2> "$tmp/bin.err"
rc=$?
[ $rc -eq 1 ] && grep -q "^to_torch.py: --omptrain $tmp/nonexistent: cannot run it" "$tmp/bin.err" &&
    [ "$(wc -l < "$tmp/bin.err")" -eq 1 ] && echo "ok   --omptrain that cannot run: one line" ||
    fail "--omptrain nonexistent: exit $rc, $(cat "$tmp/bin.err")"

"$py" - "$tmp" << 'EOF' || { fail "cannot make the data"; exit 1; }
import sys
import h5py
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
for name, n in (("train", 600), ("test", 300)):
    y = rng.integers(0, 3, n)
    # 3-channel images whose classes differ in one channel's level; channels on other scales
    x = rng.normal(size=(n, 6, 6, 3)) * [20, 1, 5] + [100, 0, -3]
    x[..., 0] += 30 * y[:, None, None]
    with h5py.File(f"{out}/{name}.h5", "w") as f:
        f["data"] = x.astype(np.float32)
        f["label"] = y
    u8 = np.clip(x.transpose(0, 3, 1, 2) + [[[0]], [[128]], [[128]]], 0, 255).astype(np.uint8)
    with h5py.File(f"{out}/{name}-nchw.h5", "w") as f:
        f["data"] = u8
        f["label"] = y.reshape(-1, 1)
    with h5py.File(f"{out}/{name}-flat.h5", "w") as f:
        f["data"] = x.reshape(n, -1)
        f["label"] = y
EOF
cat > "$tmp/own.ini" << EOF
[data]
train_file = $tmp/train.h5
test_file = $tmp/test.h5
classes = 3
normalize = mean_std

[model]
layers = conv 4 3x3 pad 1, relu, maxpool 2, affine 3

[training]
epochs = 4
batch_size = 50
learning_rate = 0.02
EOF
agree own-channel "$tmp/own.ini"
agree own-feature -S data.normalize_by=feature \
    -S "model.layers=conv 4 3x3, batchnorm, relu, avgpool 2, affine 3" "$tmp/own.ini"
agree own-widths -S "model.layers=108, 12, 3" "$tmp/own.ini"
agree own-nchw -S data.train_file="$tmp/train-nchw.h5" -S data.test_file="$tmp/test-nchw.h5" \
    -S data.layout=nchw -S data.normalize=none -S training.learning_rate=0.5 "$tmp/own.ini"
agree own-flat -S data.train_file="$tmp/train-flat.h5" -S data.test_file="$tmp/test-flat.h5" \
    -S data.normalize_by=feature -S "model.layers=affine 12, relu, affine 3" "$tmp/own.ini"
grep -q "Standardize" "$tmp/own-flat.out" || fail "own-flat: no Standardize: $(cat "$tmp/own-flat.out")"

# --save: a module torch.load reads back and that gives the same logits; a failed one no file
if "$py" scripts/to_torch.py "$tmp/own-feature/latest.h5" --save "$tmp/m.pt" > /dev/null 2>&1 &&
    "$py" - "$tmp" << 'EOF'
import sys
import h5py
import numpy as np
import torch
sys.path.insert(0, "scripts")
import to_torch  # noqa: E402 (the module a saved Standardize is found in)
m = torch.load(f"{sys.argv[1]}/m.pt")
with h5py.File(f"{sys.argv[1]}/own-feature/latest.h5") as f:
    ref = to_torch.build(f, {"model": {"layers": "conv 4 3x3, batchnorm, relu, avgpool 2, affine 3"}},
                         *to_torch.sample_of(f, {}))
x = torch.from_numpy(np.random.default_rng(1).normal(size=(5, 3, 6, 6)).astype(np.float32)) * 20
with torch.no_grad():
    sys.exit(0 if torch.equal(m(x), ref(x)) and isinstance(m[0], to_torch.Standardize) else 1)
EOF
then
    echo "ok   --save: torch.load reads the model back, the same logits"
else
    fail "--save: the saved model does not load or differs"
fi
"$py" scripts/to_torch.py "$tmp/own-channel/latest.h5" --save "$tmp/none/m.pt" > /dev/null 2> "$tmp/save.err"
rc=$?
[ $rc -eq 1 ] && grep -q "^to_torch.py: $tmp/none/m.pt: cannot write it" "$tmp/save.err" &&
    [ "$(wc -l < "$tmp/save.err")" -eq 1 ] || fail "--save into no folder: exit $rc, $(cat "$tmp/save.err")"
ls "$tmp" | grep -q "\.tmp" && fail "a failed --save left a file: $(ls "$tmp")"
mv "$tmp/test.h5" "$tmp/test.h5.away"
"$py" scripts/to_torch.py "$tmp/own-channel/latest.h5" --eval > /dev/null 2> "$tmp/missing.err"
rc=$?
[ $rc -eq 1 ] && [ "$(cat "$tmp/missing.err")" = "to_torch.py: $tmp/test.h5: no such file (the stored config's data paths are relative to the working directory: run from the repository root)" ] ||
    fail "missing test file: exit $rc, $(cat "$tmp/missing.err")"

[ $fails -eq 0 ] && echo "to_torch.sh: all passed (IDX, HDF5 NHWC standardised by channel and by feature, widths on 3 channels, uint8 NCHW, float64 vectors; --save)" ||
    echo "to_torch.sh: $fails failed"
exit $((fails > 0))
