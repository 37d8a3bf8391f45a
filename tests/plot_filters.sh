#!/usr/bin/env bash
# plot_filters.sh - scripts/plot_filters.py: a convolution's filters drawn from checkpoints and
# run directories (a row of filters each), the kernel's axes read in their stored order (a 3x5
# kernel is drawn 3 high and 5 wide), a layer over several channels as their mean; a model
# without the layer, --rgb on one channel, a missing file and an --out that cannot be written
# (no such directory, a directory) are one line, exit 1; an --out without an extension
# matplotlib writes is one line, exit 2, and nothing written. Run from the repository root
# (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
. tests/lib.sh # the shared helpers: $tmp, fail
small=(-e 2 -S data.train_limit=300 -S data.test_limit=100)

"$bin" "${small[@]}" -o "$tmp/cnn" -S "model.layers=conv 4 3x5, relu, conv 3 3x3, relu, affine 10" \
    configs/mnist-cnn.ini >/dev/null || { fail "cannot train the CNN"; exit 1; }
out=$("$py" scripts/plot_filters.py "$tmp/cnn/checkpoint-e0001.h5" "$tmp/cnn" 2>&1)
[ "$out" = "wrote $tmp/cnn/filters-conv1.png (conv1: 4 filters of 3x5, 2 checkpoints)" ] ||
    fail "two checkpoints: $out"
# what is drawn: filter f is W[:, :, :, f] of the stored (kh, kw, in, filters) kernel, 3 high
# and 5 wide, on its own grey scale (smallest 0, largest 1); over several channels their mean
"$py" - "$tmp/cnn/latest.h5" <<'PY' || fail "the drawn filters are not the stored kernel's"
import importlib.util, sys
import h5py
import numpy as np
spec = importlib.util.spec_from_file_location("plot_filters", "scripts/plot_filters.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
W = h5py.File(sys.argv[1])["model/conv1/W"][()]
w, epoch = m.read_filters(sys.argv[1], "conv1")
assert W.shape == (3, 5, 1, 4) and w.shape == (4, 3, 5, 1) and epoch == 2, (W.shape, w.shape, epoch)
for f in range(4):
    t = m.tile(w[f], False)
    assert t.shape == (3, 5), t.shape
    want = (W[:, :, 0, f] - W[:, :, 0, f].min()) / (W[:, :, 0, f].max() - W[:, :, 0, f].min())
    assert np.allclose(t, want) and t.min() == 0 and t.max() == 1, f
W2 = h5py.File(sys.argv[1])["model/conv2/W"][()]
w2, _ = m.read_filters(sys.argv[1], "conv2")
t = m.tile(w2[1], False)
mean = W2[:, :, :, 1].mean(axis=2)
assert np.allclose(t, (mean - mean.min()) / (mean.max() - mean.min()))
PY
[ -s "$tmp/cnn/filters-conv1.png" ] || fail "no filters-conv1.png"
out=$("$py" scripts/plot_filters.py --layer conv2 --out "$tmp/c2.png" "$tmp/cnn" 2>&1)
[ "$out" = "wrote $tmp/c2.png (conv2: 3 filters of 3x3, 1 checkpoint)" ] && [ -s "$tmp/c2.png" ] ||
    fail "conv2: $out"
# refusals: one line, exit 1 (2: usage)
"$bin" "${small[@]}" -o "$tmp/mlp" configs/mnist.ini >/dev/null || fail "cannot train the MLP"
"$bin" "${small[@]}" -e 1 -o "$tmp/other" -S "model.layers=conv 4 5x5, relu, affine 10" \
    configs/mnist-cnn.ini >/dev/null || fail "cannot train the other CNN"
expect() { # expect STATUS FRAGMENT ARGS...
    local want=$1 frag=$2; shift 2
    local err
    err=$("$py" scripts/plot_filters.py "$@" 2>&1 >/dev/null)
    local rc=$?
    if [ $rc -ne "$want" ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] || ! grep -qF -- "$frag" <<<"$err"; then
        fail "plot_filters.py $*: exit $rc (expected $want), stderr: $err"
    else
        echo "ok   plot_filters.py $* -> $want: $frag"
    fi
}
expect1() { expect 1 "$@"; } # expect1 FRAGMENT ARGS...
expect1 "$tmp/mlp/latest.h5: no /model/conv1/W; the model's convolutions: none" "$tmp/mlp"
expect1 "no /model/conv3/W; the model's convolutions: conv1, conv2" --layer conv3 "$tmp/cnn"
expect1 "--rgb needs a layer over 3 channels; conv1 has 1" --rgb "$tmp/cnn"
expect1 "$tmp/none.h5: no such file" "$tmp/none.h5"
expect1 "conv1 has other shapes in the inputs" "$tmp/cnn" "$tmp/other"
mkdir "$tmp/dir.png"
expect1 "$tmp/none/f.png: cannot write it: No such file or directory; expected a writable file in an existing directory" --out "$tmp/none/f.png" "$tmp/cnn"
expect1 "$tmp/dir.png: cannot write it: Is a directory; expected" --out "$tmp/dir.png" "$tmp/cnn"
expect 2 "$tmp/noext: no extension (matplotlib would write $tmp/noext.png); expected a file name ending in .png" --out "$tmp/noext" "$tmp/cnn"
[ ! -e "$tmp/noext.png" ] && [ ! -e "$tmp/noext" ] || fail "an --out without extension was written"
expect 2 "$tmp/cnn: no extension (matplotlib would write $tmp/cnn.png); expected" --out "$tmp/cnn" "$tmp/cnn"
expect 2 "$tmp/f.xyz: extension .xyz is no format matplotlib writes; expected a file name ending in .png" --out "$tmp/f.xyz" "$tmp/cnn"

[ $fails -eq 0 ] && echo "plot_filters.sh: all passed" || echo "plot_filters.sh: $fails failed"
exit $((fails > 0))
