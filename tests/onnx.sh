#!/usr/bin/env bash
# onnx.sh - omptrain export, checked by two consumers omptrain did not write: python3-onnx's
# onnx.checker.check_model (full check) and ONNX Runtime (the npm package onnxruntime-node,
# CPU) run on the exported model over the whole test set, against omptrain predict (whose
# numbers are omptrain eval's, checked here too): the arg-max must agree on >= 99.9% of the
# samples and no probability may differ by more than 1e-4 (tests/onnx/compare.py).
# Models: configs/mnist.ini, configs/mnist-mlp-bn-adam.ini and configs/mnist-cnn.ini, briefly
# trained; two stacks that take every other layer kind and layout path (batch norm after a
# flatten, avgpool, sigmoid, dropout, classes out of an image, standardisation by feature and
# by channel); float vectors from an HDF5 file; a checkpoint from before /input; bad uses, one
# line each (the config's data files as --onnx among them); --onnx on a character device or a
# FIFO written in place, through a symbolic link to its target; and
# scripts/onnx_example.js without a model gives its usage line, exit 2, from another directory
# prints predict's digits, and on a model of another input shape says why in one line, exit 1.
# ONNX Runtime is installed once into build/npm (npm install --ignore-scripts: the package
# holds the CPU library; its install script only fetches GPU extras, and fails offline). Run
# from the repository root (make check).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3 # Debian's, with numpy, h5py and onnx
npm_dir=build/npm
ort_version=1.30.0
. tests/lib.sh # the shared helpers: $tmp, fail, run_cmd, expect

if [ ! -f "$npm_dir/node_modules/onnxruntime-node/package.json" ]; then
    mkdir -p "$npm_dir"
    echo "onnx.sh: installing onnxruntime-node $ort_version into $npm_dir (once)"
    if ! npm install --prefix "$npm_dir" --ignore-scripts --no-audit --no-fund \
        --loglevel=error "onnxruntime-node@$ort_version" >"$tmp/npm.log" 2>&1; then
        cat "$tmp/npm.log" >&2
        fail "npm install onnxruntime-node@$ort_version failed (offline?)"
        exit 1
    fi
fi

# check NAME CONFIG INPUT LABELS [compare options] -- [training options]: train, eval on the
# test set, predict INPUT (LABELS: --labels FILE for IDX, "" for HDF5), which must print eval's
# loss and accuracy, export, compare.
check() {
    local name=$1 cfg=$2 input=$3 labels=$4; shift 4
    local copts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do copts+=("$1"); shift; done
    shift
    local d=$tmp/$name
    run_cmd "$name-train" "$bin" -o "$d" "$@" "$cfg" || return
    run_cmd "$name-eval" "$bin" eval -c "$d/latest.h5" -o "$d" "$@" "$cfg" || return
    # shellcheck disable=SC2086 # $labels is empty or "--labels FILE"
    run_cmd "$name-predict" "$bin" predict -c "$d/latest.h5" -o "$d" "$@" $labels "$cfg" "$input" ||
        return
    local e p
    e=$(sed -n 's/^test loss \([0-9.]*\)  acc \([0-9.]*%\)  (\([0-9]* of [0-9]*\) correct.*/\1 \2 \3/p' "$tmp/$name-eval.out")
    p=$(sed -n 's/^loss \([0-9.]*\)  acc \([0-9.]*%\)  (\([0-9]* of [0-9]*\) correct.*/\1 \2 \3/p' "$tmp/$name-predict.out")
    [ -n "$e" ] && [ "$e" = "$p" ] || fail "$name: predict says '$p', eval '$e'"
    run_cmd "$name-export" "$bin" export -c "$d/latest.h5" --onnx "$d/model.onnx" "$@" "$cfg" ||
        return
    if "$py" tests/onnx/compare.py "$d/model.onnx" "$d/predictions.h5" "$input" --work "$d" \
        --node-path "$npm_dir/node_modules" "${copts[@]}" >"$tmp/$name-compare.out" 2>&1; then
        echo "$name: $(sed "s|$tmp/||" "$tmp/$name-compare.out")"
    else
        fail "$name: $(cat "$tmp/$name-compare.out")"
    fi
}

images=data/mnist/t10k-images-idx3-ubyte.gz
labels="--labels data/mnist/t10k-labels-idx1-ubyte.gz"
check mnist configs/mnist.ini "$images" "$labels" -- -t 2 --epochs 1
check mnist-mlp-bn-adam configs/mnist-mlp-bn-adam.ini "$images" "$labels" -- \
    -t 2 --epochs 1 -S data.train_limit=5000
check mnist-cnn configs/mnist-cnn.ini "$images" "$labels" -- \
    -t 2 --epochs 1 -S data.train_limit=2000

# every other kind and layout path, standardised by feature and by channel
check zoo-flatten-bn configs/mnist-cnn.ini "$images" "$labels" -- -t 2 --epochs 1 \
    -S data.train_limit=1000 -S data.normalize=mean_std -S data.normalize_by=feature \
    -S "model.layers=conv 4 3x3 pad 1 stride 2, batchnorm, relu, maxpool 2, flatten, batchnorm, sigmoid, dropout 0.3, affine 10"
check zoo-classes-from-image configs/mnist-cnn.ini "$images" "$labels" -- -t 2 --epochs 1 \
    -S data.train_limit=1000 -S data.normalize=mean_std \
    -S "model.layers=conv 6 5x5, avgpool 2, relu, conv 5 11x12"

# float vectors from HDF5 (three Gaussian blobs in 5 dimensions), standardised
"$py" - "$tmp" <<'EOF' || fail "cannot make the blobs"
import sys, numpy as np
rng = np.random.default_rng(3)
for part, n in (("train", 900), ("test", 300)):
    y = rng.integers(0, 3, n)
    x = rng.normal(0, 1, (n, 5)) * [1, 2, 3, 4, 5] + np.eye(3, 5)[y] * 6 + 10
    np.savez(f"{sys.argv[1]}/blobs-{part}.npz", x=x.astype(np.float32), y=y)
EOF
for part in train test; do
    run_cmd "to_hdf5-$part" "$py" scripts/to_hdf5.py npz "$tmp/blobs-$part.npz" \
        "$tmp/blobs-$part.h5"
done
printf '[data]\ntrain_file = %s/blobs-train.h5\ntest_file = %s/blobs-test.h5\nclasses = 3\nnormalize = mean_std\n[model]\nlayers = 5, 16, 3\ninit = he\n[training]\nbatch_size = 30\nlearning_rate = 0.1\n' \
    "$tmp" "$tmp" >"$tmp/blobs.ini"
check blobs "$tmp/blobs.ini" "$tmp/blobs-test.h5" "" -- -t 2 --epochs 3

# a checkpoint from before /input (deleted here): not standardised, its shape from the
# config's test set; eval, predict and export still work and agree
cp "$tmp/mnist/latest.h5" "$tmp/old.h5"
"$py" -c "import h5py; del h5py.File('$tmp/old.h5', 'a')['input']" || fail "cannot delete /input"
run_cmd old-export "$bin" export -c "$tmp/old.h5" --onnx "$tmp/old.onnx" configs/mnist.ini &&
    run_cmd old-predict "$bin" predict -c "$tmp/old.h5" --predictions "$tmp/old-pred.h5" $labels \
        configs/mnist.ini "$images" &&
    if "$py" tests/onnx/compare.py "$tmp/old.onnx" "$tmp/old-pred.h5" "$images" --work "$tmp" \
        --node-path "$npm_dir/node_modules" >"$tmp/old-compare.out" 2>&1; then
        echo "pre-/input checkpoint: $(sed "s|$tmp/||" "$tmp/old-compare.out")"
    else
        fail "pre-/input checkpoint: $(cat "$tmp/old-compare.out")"
    fi
grep -q "as stored (data.normalize = none)" "$tmp/old-export.out" ||
    fail "pre-/input export: $(cat "$tmp/old-export.out")"

# bad uses: one line each, nothing written
ck=$tmp/mnist/latest.h5
expect 2 "export needs --onnx PATH" export -c "$ck" configs/mnist.ini
expect 2 "--onnx is an export option" predict -c "$ck" --onnx x.onnx configs/mnist.ini "$images"
expect 2 "model.layers: input width 100, but the samples of $ck are 28x28x1" \
    export -c "$ck" --onnx "$tmp/x.onnx" -S model.layers=100,10 configs/mnist.ini
expect 2 "(layer 1, affine1: output 50 in the checkpoint, 60 in the config)" \
    export -c "$ck" --onnx "$tmp/x.onnx" -S model.layers=784,60,10 configs/mnist.ini
expect 1 "$tmp/no/x.onnx: cannot create the file" export -c "$ck" --onnx "$tmp/no/x.onnx" \
    configs/mnist.ini
[ -e "$tmp/x.onnx" ] && fail "a failed export wrote $tmp/x.onnx"
# the config's data files are no outputs (until 2026-12 `--onnx` on data.train_images replaced
# it): one line, exit 2
mkdir "$tmp/d" && cp data/mnist/train-images-idx3-ubyte.gz "$tmp/d/"
dsum=$(md5sum <"$tmp/d/train-images-idx3-ubyte.gz")
expect 2 "$tmp/d/train-images-idx3-ubyte.gz: --onnx names the config's data.train_images, which it would replace" \
    export -c "$ck" -S data.train_images="$tmp/d/train-images-idx3-ubyte.gz" \
    --onnx "$tmp/d/train-images-idx3-ubyte.gz" configs/mnist.ini
[ "$(md5sum <"$tmp/d/train-images-idx3-ubyte.gz")" = "$dsum" ] || fail "a refused export changed data.train_images"
# outputs that are not regular files, never replaced by one (until 2026-12 they were; as root
# `--onnx /dev/null` replaced /dev/null): a character device written in place (nodes made here
# as root; another user, who cannot replace /dev/null, gets links to /dev/null and /dev/full),
# a full one one line, exit 1; a FIFO's reader gets the model; a symbolic link's target is
# replaced and the link kept
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then :
elif [ "$(id -u)" -ne 0 ]; then ln -s /dev/null "$tmp/null" && ln -s /dev/full "$tmp/full"
else fail "cannot make device nodes in $tmp as root"; fi
mkfifo "$tmp/fifo" || fail "cannot make a FIFO"
if [ -c "$tmp/null" ] && [ -c "$tmp/full" ] && [ -p "$tmp/fifo" ] &&
    run_cmd ref-export "$bin" export -c "$ck" --onnx "$tmp/ref.onnx" configs/mnist.ini; then
    run_cmd null-export "$bin" export -c "$ck" --onnx "$tmp/null" configs/mnist.ini
    [ -c "$tmp/null" ] || fail "--onnx on a character device replaced it: $(ls -l "$tmp/null")"
    expect 1 "$tmp/full: cannot write the file (0 of $(stat -c %s "$tmp/ref.onnx") bytes written): No space left on device" \
        export -c "$ck" --onnx "$tmp/full" configs/mnist.ini
    [ -c "$tmp/full" ] || fail "--onnx on a full device replaced it"
    timeout 60 cat "$tmp/fifo" >"$tmp/fifo.onnx" &
    reader=$!
    run_cmd fifo-export "$bin" export -c "$ck" --onnx "$tmp/fifo" configs/mnist.ini
    wait "$reader"
    [ -p "$tmp/fifo" ] && cmp -s "$tmp/fifo.onnx" "$tmp/ref.onnx" ||
        fail "--onnx on a FIFO: $(ls -l "$tmp/fifo"), $(wc -c <"$tmp/fifo.onnx") bytes read"
    echo old >"$tmp/target.onnx" && ln -s target.onnx "$tmp/link.onnx"
    run_cmd link-export "$bin" export -c "$ck" --onnx "$tmp/link.onnx" configs/mnist.ini
    [ -L "$tmp/link.onnx" ] && cmp -s "$tmp/target.onnx" "$tmp/ref.onnx" ||
        fail "--onnx through a symbolic link: $(ls -l "$tmp/link.onnx" "$tmp/target.onnx")"
    ls -a "$tmp" | grep -q '\.tmp$' && fail "a temporary file was left: $(ls -a "$tmp")"
fi

# onnx_example.js: the usage line before ONNX Runtime is looked for
if command -v node >/dev/null; then
    err=$(NODE_PATH='' node scripts/onnx_example.js 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
        grep -q "^usage: node scripts/onnx_example.js MODEL.onnx" <<<"$err"; then
        echo "ok   onnx_example.js -> 2: $err"
    else
        fail "onnx_example.js without arguments: exit $rc, stderr: $(head -c 600 <<<"$err")"
    fi
    # from another directory (it had read data/mnist from the working directory), on the
    # mnist model: predict's classes of the first five test images
    out=$(cd "$tmp" && NODE_PATH="$OLDPWD/$npm_dir/node_modules" node "$OLDPWD/scripts/onnx_example.js" \
        "$tmp/mnist/model.onnx" 2>&1)
    rc=$?
    want=$("$py" -c 'import h5py, sys; print(" ".join(str(c) for c in h5py.File(sys.argv[1])["class"][:5]))' \
        "$tmp/mnist/predictions.h5")
    got=$(sed -n 's/^image [0-4]: digit \([0-9]\), p = 0\.[0-9]*$/\1/p' <<<"$out" | tr '\n' ' ')
    if [ $rc -eq 0 ] && [ "$got" = "$want " ]; then
        echo "ok   onnx_example.js from another directory: digits $want, as omptrain predict"
    else
        fail "onnx_example.js from $tmp: exit $rc, digits '$got', predict's '$want': $(head -c 600 <<<"$out")"
    fi
    # a model of another input shape: ONNX Runtime's message of several lines is one, named
    err=$(NODE_PATH="$npm_dir/node_modules" node scripts/onnx_example.js "$tmp/blobs/model.onnx" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -eq 1 ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
        grep -qF "onnx_example.js: $tmp/blobs/model.onnx: " <<<"$err"; then
        echo "ok   onnx_example.js on a model of another input -> 1: one line"
    else
        fail "onnx_example.js on a model of another input: exit $rc, stderr: $(head -c 600 <<<"$err")"
    fi
fi

[ $fails -eq 0 ] && echo "onnx.sh: all passed" || echo "onnx.sh: $fails failed"
exit $((fails > 0))
