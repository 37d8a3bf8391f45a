#!/usr/bin/env bash
# hdf5_data.sh - data from HDF5 files made by scripts/to_hdf5.py:
#   - MNIST as CSV (the MNIST-as-CSV layout: label, then 784 pixels) -> uint8 N x 28 x 28:
#     training on it gives the IDX run's parameters bit for bit;
#   - the same as float32 in an .npz -> the same bits again (floats take the dense path, which
#     gives the sparse path's bits);
#   - 3-channel images as an .npy pair, NHWC and NCHW (data.layout): the same bits either way;
#   - a folder of PNG images, one subfolder per class; class names that eval and predict cannot
#     use (2 names for 3 classes, numbers) said in a note;
#   - data.normalize = mean_std: eval gives the training's test figures, and a resumed run the
#     uninterrupted one's bits; a validation split;
#   - all the samples in one chunk: read whole without a limit; with one, one line that says
#     why and the h5repack command that rewrites the file (which then trains);
#   - bad data and configs: one line, exit 1 (data) or 2 (config); to_hdf5.py's own errors.
# Run from the repository root (make check). OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
. tests/lib.sh # the shared helpers: $tmp, fail, run_cmd
# expect STATUS FRAGMENT COMMAND...: exit status STATUS and exactly one line on stderr with
# FRAGMENT (its own: any command, where lib.sh's runs $bin)
expect() {
    local want=$1 frag=$2; shift 2
    "$@" >"$tmp/x.out" 2>"$tmp/x.err"
    local got=$?
    if [ "$got" -ne "$want" ] || [ "$(wc -l <"$tmp/x.err")" -ne 1 ] ||
        ! grep -qF -- "$frag" "$tmp/x.err"; then
        fail "$*: exit $got (want $want), stderr: $(cat "$tmp/x.err")"
    else
        echo "ok   $(basename "$1") ... -> $got: $frag"
    fi
}
same() { # same A B GROUP...: h5diff finds no difference in each group
    local a=$1 b=$2; shift 2
    for g in "$@"; do
        h5diff "$a" "$b" "$g" "$g" >/dev/null 2>&1 || fail "$a and $b differ in $g"
    done
}

# the first 2000 training and 1000 test images in the forms to_hdf5.py reads
"$py" - "$tmp" <<'EOF' || { fail "cannot make the inputs"; exit 1; }
import gzip, os, sys
import numpy as np
out = sys.argv[1]
def idx(p, off):
    with gzip.open(p) as f:
        return np.frombuffer(f.read(), np.uint8, offset=off)
for part, n in (("train", 2000), ("t10k", 1000)):
    x = idx(f"data/mnist/{part}-images-idx3-ubyte.gz", 16).reshape(-1, 784)[:n]
    y = idx(f"data/mnist/{part}-labels-idx1-ubyte.gz", 8)[:n]
    with open(f"{out}/{part}.csv", "w") as f:  # MNIST as CSV: a header, label first
        f.write("label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29)) + "\n")
        np.savetxt(f, np.column_stack([y, x]), fmt="%d", delimiter=",")
    np.savez(f"{out}/{part}.npz", x=(x.astype(np.float32) * np.float32(1 / 255)).reshape(-1, 28, 28),
             y=y)
    # three channels (the image, its negative, its half), NHWC
    img = x.reshape(-1, 28, 28)
    rgb = np.stack([img, 255 - img, img // 2], axis=-1)
    np.save(f"{out}/{part}-rgb.npy", rgb)
    np.save(f"{out}/{part}-labels.npy", y.astype(np.int32))
# PNG folders: 3 classes of 8 gray 12x10 images
from PIL import Image
rng = np.random.default_rng(1)
for k, name in enumerate(["circle", "cross", "dot"]):
    os.makedirs(f"{out}/png/{name}")
    for i in range(8):
        a = (rng.random((10, 12)) * 60 + 80 * k).astype(np.uint8)
        Image.fromarray(a, "L").save(f"{out}/png/{name}/{i}.png")
# 16-bit grayscale: a 0..65535 ramp in 2 classes; and 32-bit integers beyond 16 bits (a TIFF)
ramp = np.linspace(0, 65535, 784).reshape(28, 28).astype(np.uint16)
for name in ("a", "b"):
    os.makedirs(f"{out}/png16/{name}")
    Image.fromarray(ramp).save(f"{out}/png16/{name}/0.png")
    os.makedirs(f"{out}/png32/{name}")
    Image.fromarray(ramp.astype(np.int32) * 2).save(f"{out}/png32/{name}/0.tif")
EOF

# CSV -> uint8 N x 28 x 28: the IDX run's parameters, bit for bit
for part in train t10k; do
    run_cmd "csv-$part" "$py" scripts/to_hdf5.py csv "$tmp/$part.csv" "$tmp/$part-csv.h5" \
        --shape 28x28
done
grep -q "^wrote $tmp/train-csv.h5: data 2000x28x28 uint8, label 2000 int64, 10 classes, gzip 4$" \
    "$tmp/csv-train.out" || fail "to_hdf5.py csv said: $(cat "$tmp/csv-train.out")"
h5() { printf '[data]\ntrain_file = %s\ntest_file = %s\n' "$1" "$2"; }
{ h5 "$tmp/train-csv.h5" "$tmp/t10k-csv.h5"; sed -n '/^\[model\]/,$p' tests/configs/ckpt-small.ini; } \
    >"$tmp/csv.ini"
run_cmd idx "$bin" -t 2 --epochs 2 -o "$tmp/idx" tests/configs/ckpt-small.ini || exit 1
run_cmd csv "$bin" -t 2 --epochs 2 -o "$tmp/csv" "$tmp/csv.ini" || exit 1
same "$tmp/idx/latest.h5" "$tmp/csv/latest.h5" /model /optimizer /state
fig() { sed -n 's/^\(epoch   2.*%\) .*/\1/p' "$1"; } # the epoch line without its timings
[ -n "$(fig "$tmp/idx.out")" ] && [ "$(fig "$tmp/idx.out")" = "$(fig "$tmp/csv.out")" ] ||
    fail "the CSV run reports other figures: $(grep '^epoch   2' "$tmp/csv.out")"

# .npz float32 (bytes / 255, as the gather makes them): the same bits again
for part in train t10k; do
    run_cmd "npz-$part" "$py" scripts/to_hdf5.py npz "$tmp/$part.npz" "$tmp/$part-npz.h5" \
        --compress 0
done
{ h5 "$tmp/train-npz.h5" "$tmp/t10k-npz.h5"; sed -n '/^\[model\]/,$p' tests/configs/ckpt-small.ini; } \
    >"$tmp/npz.ini"
run_cmd npz "$bin" -t 2 --epochs 2 -o "$tmp/npz" "$tmp/npz.ini" || exit 1
same "$tmp/idx/latest.h5" "$tmp/npz/latest.h5" /model /optimizer

# 3 channels, stored NHWC and NCHW: the same network either way
for part in train t10k; do
    run_cmd "npy-$part" "$py" scripts/to_hdf5.py npy "$tmp/$part-rgb.npy" "$tmp/$part-labels.npy" \
        "$tmp/$part-nhwc.h5"
    run_cmd "npy-$part-nchw" "$py" scripts/to_hdf5.py npy "$tmp/$part-rgb.npy" \
        "$tmp/$part-labels.npy" "$tmp/$part-nchw.h5" --layout nchw --features images --labels y
done
grep -q "data 1000x28x28x3 uint8, label 1000 int64, 10 classes, layout nhwc" "$tmp/npy-t10k.out" ||
    fail "to_hdf5.py npy said: $(cat "$tmp/npy-t10k.out")"
cnn='model.layers=conv 4 4x4 stride 3, relu, affine 10'
{ h5 "$tmp/train-nhwc.h5" "$tmp/t10k-nhwc.h5"; echo "[model]"; echo "init = he"; } >"$tmp/nhwc.ini"
{ h5 "$tmp/train-nchw.h5" "$tmp/t10k-nchw.h5"
  printf 'features = images\nlabels = y\nlayout = nchw\n[model]\ninit = he\n'; } >"$tmp/nchw.ini"
run_cmd nhwc "$bin" -t 2 --epochs 1 -S "$cnn" -o "$tmp/nhwc" "$tmp/nhwc.ini" || exit 1
run_cmd nchw "$bin" -t 2 --epochs 1 -S "$cnn" -o "$tmp/nchw" "$tmp/nchw.ini" || exit 1
same "$tmp/nhwc/latest.h5" "$tmp/nchw/latest.h5" /model
grep -q "model conv 4 4x4 stride 3, relu, affine 10 (3446 parameters), 2000 train / 1000 test" \
    "$tmp/nchw.out" || fail "the 3-channel run: $(head -1 "$tmp/nchw.out")"
# to_hdf5.py records the order in the attribute layout: read under the other one, refused
expect 2 "$tmp/train-nchw.h5: its attribute layout says the samples lie N x C x H x W, but data.layout = nhwc reads them as N x H x W x C; expected data.layout = nchw" \
    "$bin" -t 2 --epochs 1 -S "model.layers=affine 10" -S data.layout=nhwc -o "$tmp/wrong" "$tmp/nchw.ini"
# without the attribute, with layout left at nhwc the NCHW file is read as 28 x 3 x 28 images:
# the model cannot fit, and the one line says how the axes were read
for part in train t10k; do
    cp "$tmp/$part-nchw.h5" "$tmp/$part-bare.h5"
    "$py" -c "import h5py, sys; del h5py.File(sys.argv[1], 'r+').attrs['layout']" "$tmp/$part-bare.h5" ||
        fail "cannot remove the attribute layout"
done
sed "s|-nchw.h5|-bare.h5|" "$tmp/nchw.ini" >"$tmp/bare.ini"
expect 2 "; note: data.layout = nhwc reads the samples of $tmp/train-bare.h5 (3x28x28 as stored) as 3x28 images of 28 channels; if its axes are N x C x H x W, set data.layout = nchw" "$bin" -t 2 --epochs 1 -S "$cnn" -S data.layout=nhwc \
    -o "$tmp/wrong" "$tmp/bare.ini"
# a model that fits any shape trains on it, and a note says how the samples were read
run_cmd wrong-note "$bin" -t 2 --epochs 1 -S "model.layers=affine 10" -S data.layout=nhwc \
    -o "$tmp/wrong" "$tmp/bare.ini" || exit 1
grep -qF "note: data.layout = nhwc reads the samples of $tmp/train-bare.h5 (3x28x28 as stored) as 3x28 images of 28 channels; if its axes are N x C x H x W, set data.layout = nchw" \
    "$tmp/wrong-note.out" || fail "no layout note: $(head -3 "$tmp/wrong-note.out")"
grep -q "note: data.layout" "$tmp/nchw.out" "$tmp/nhwc.out" && fail "a layout note on the right layout"

# PNG folders
run_cmd png "$py" scripts/to_hdf5.py png "$tmp/png" "$tmp/png.h5" || exit 1
grep -q "data 24x10x12 uint8, label 24 int64, 3 classes (circle, cross, dot)" "$tmp/png.out" ||
    fail "to_hdf5.py png said: $(cat "$tmp/png.out")"
printf '[data]\ntrain_file = %s\ntest_file = %s\nclasses = 3\nnormalize = mean_std\n[model]\nlayers = 120, 3\n[training]\nbatch_size = 8\nlearning_rate = 0.1\n' \
    "$tmp/png.h5" "$tmp/png.h5" >"$tmp/png.ini"
run_cmd png-train "$bin" -t 2 --epochs 20 -o "$tmp/pngrun" "$tmp/png.ini" || exit 1
grep -q "^epoch  20/20 .*test loss [0-9.]* acc 100.00%" "$tmp/png-train.out" ||
    fail "the PNG classes (by brightness) were not learnt: $(tail -2 "$tmp/png-train.out")"
# class names that eval and predict cannot use (2 or 4 for 3 classes, numbers, one string):
# a note says so and why (they had been left out without a word); the right ones, none
"$py" - "$tmp" <<'EOF' || fail "cannot make the files of wrong class names"
import shutil, sys
import h5py, numpy as np
d = sys.argv[1]
for name, value in (("two", ["circle", "cross"]), ("four", ["a", "b", "c", "d"]),
                    ("numbers", np.arange(3, dtype=np.int32)), ("one", "circle, cross, dot")):
    shutil.copy(f"{d}/png.h5", f"{d}/names-{name}.h5")
    with h5py.File(f"{d}/names-{name}.h5", "a") as f:
        f.attrs["class_names"] = value
EOF
for c in "two:holds 2 names, not data.classes = 3" "four:holds 4 names, not data.classes = 3" \
    "numbers:holds int32, expected 3 strings, one a class" \
    "one:is a single string, expected a list of 3, one a class"; do
    f="$tmp/names-${c%%:*}.h5" note="note: $tmp/names-${c%%:*}.h5: attribute class_names ${c#*:}: not used"
    run_cmd "names-eval-${c%%:*}" "$bin" eval -t 2 -c "$tmp/pngrun/latest.h5" \
        -S "data.test_file=$f" "$tmp/png.ini" && { grep -qxF "$note" "$tmp/names-eval-${c%%:*}.out" ||
        fail "eval of $f: no '$note': $(cat "$tmp/names-eval-${c%%:*}.out")"; }
    run_cmd "names-predict-${c%%:*}" "$bin" predict -t 2 -c "$tmp/pngrun/latest.h5" \
        --predictions "$tmp/names-p.h5" "$tmp/png.ini" "$f" &&
        { grep -qxF "$note" "$tmp/names-predict-${c%%:*}.out" ||
        fail "predict of $f: no '$note': $(cat "$tmp/names-predict-${c%%:*}.out")"; }
done
run_cmd names-eval-png "$bin" eval -t 2 -c "$tmp/pngrun/latest.h5" "$tmp/png.ini" &&
    grep -q "note:" "$tmp/names-eval-png.out" && fail "a note on names that are used: $(cat "$tmp/names-eval-png.out")"
# 16-bit grayscale: scaled to 0..255 as round(v / 257) (convert("L") clipped 99.5% of the ramp
# to 255)
if run_cmd png16 "$py" scripts/to_hdf5.py png "$tmp/png16" "$tmp/png16.h5"; then
    "$py" - "$tmp/png16.h5" <<'EOF' || fail "the 16-bit PNGs are not the 8-bit ramp"
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    x = f["data"][:]
ramp = np.linspace(0, 65535, 784).reshape(28, 28).astype(np.uint16)
want = np.round(ramp / 257).astype(np.uint8)
if x.dtype != np.uint8 or x.shape != (2, 28, 28) or not (x == want).all() or want.max() != 255:
    sys.exit(f"{sys.argv[1]}: data {x.dtype} {x.shape}, values {x.min()}..{x.max()}, "
             f"{(x == 255).mean():.1%} of them 255")
EOF
fi

# standardisation: statistics in the checkpoint, eval gives the training's figures, resume is
# exact; a validation split
norm=(-S data.normalize=mean_std -S data.normalize_by=feature -S training.validation=500)
run_cmd norm "$bin" -t 2 --epochs 2 -o "$tmp/norm" "${norm[@]}" "$tmp/csv.ini" || exit 1
run_cmd norm-eval "$bin" eval -t 2 -c "$tmp/norm/latest.h5" "${norm[@]}" "$tmp/csv.ini" || exit 1
t=$(sed -n 's/^epoch   2.*test loss \([0-9.]*\) acc *\([0-9.]*%\).*/\1 \2/p' "$tmp/norm.out")
e=$(sed -n 's/^test loss \([0-9.]*\)  acc \([0-9.]*%\).*/\1 \2/p' "$tmp/norm-eval.out")
[ -n "$t" ] && [ "$t" = "$e" ] || fail "eval of the standardised model says '$e', training '$t'"
v=$(sed -n 's/^epoch   2.*val loss [0-9.]* acc *\([0-9]*\)\..*/\1/p' "$tmp/norm.out")
[ -n "$v" ] && [ "$v" -ge 30 ] || fail "validation accuracy '$v' after 2 epochs: $(grep '^epoch   2' "$tmp/norm.out")"
h5dump -A -g /input "$tmp/norm/latest.h5" | grep -q '"mean_std"' || fail "no /input statistics"
[ "$(h5dump -H -d /input/mean "$tmp/norm/latest.h5" | grep -c 'SIMPLE { ( 28, 28, 1 )')" -eq 1 ] ||
    fail "/input/mean is not 28x28x1 by feature"
run_cmd norm-part "$bin" -t 2 --epochs 1 -o "$tmp/part" "${norm[@]}" "$tmp/csv.ini" || exit 1
run_cmd norm-resume "$bin" -t 1 --resume "$tmp/part/latest.h5" --epochs 2 -o "$tmp/part" \
    "${norm[@]}" "$tmp/csv.ini" || exit 1
same "$tmp/norm/latest.h5" "$tmp/part/latest.h5" /model /optimizer /input
expect 2 "the checkpoint's input was standardised as data.normalize = mean_std by feature but the config says none" \
    "$bin" eval -c "$tmp/norm/latest.h5" -S training.validation=500 "$tmp/csv.ini"

# bad data: one line naming file and dataset, exit 1; bad configs exit 2
"$py" - "$tmp" <<'EOF' || fail "cannot make the bad files"
import sys
import h5py, numpy as np
d = sys.argv[1]
with h5py.File(f"{d}/badlabel.h5", "w") as f:
    f["data"] = np.zeros((10, 4, 4), np.uint8)
    f["label"] = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12])
with h5py.File(f"{d}/nan.h5", "w") as f:
    x = np.zeros((10, 4, 4), np.float32)
    x[3, 1, 2] = np.nan
    f["data"] = x
    f["label"] = np.zeros(10, np.int64)
with h5py.File(f"{d}/u64label.h5", "w") as f:  # past INT64_MAX: named as stored
    f["data"] = np.zeros((10, 4, 4), np.uint8)
    f["label"] = np.array([0, 1, 2, 3, 4, 5, 6, 9223372036854775813, 8, 9], np.uint64)
with h5py.File(f"{d}/vlen.h5", "w") as f:  # samples of varying length
    x = f.create_dataset("data", (10,), dtype=h5py.vlen_dtype(np.uint8))
    for i in range(10):
        x[i] = np.arange(i + 1, dtype=np.uint8)
    f["label"] = np.zeros(10, np.int64)
# all the samples in one gzip'd chunk of 18.8 MB: read whole without a limit, refused with one
x = np.tile(np.load(f"{d}/train-rgb.npy")[..., 0], (12, 1, 1))
with h5py.File(f"{d}/onechunk.h5", "w") as f:
    f.create_dataset("data", data=x, chunks=x.shape, compression="gzip")
    f["label"] = np.tile(np.load(f"{d}/train-labels.npy"), 12)
EOF
expect 1 "$tmp/badlabel.h5: dataset 'label' (data.labels): label 12 at index 9 is out of range, expected 0..9" \
    "$bin" -t 2 -S "data.train_file=$tmp/badlabel.h5" -S "data.test_file=$tmp/badlabel.h5" -o "$tmp/x" "$tmp/nhwc.ini"
expect 1 "$tmp/nan.h5: dataset 'data' (data.features): element (3, 1, 2) is NaN, expected finite numbers" \
    "$bin" -t 2 -S "data.train_file=$tmp/nan.h5" -S "data.test_file=$tmp/nan.h5" -o "$tmp/x" "$tmp/nhwc.ini"
expect 1 "$tmp/u64label.h5: dataset 'label' (data.labels): label 9223372036854775813 at index 7 is out of range, expected 0..9" \
    "$bin" -t 2 -S "data.train_file=$tmp/u64label.h5" -S "data.test_file=$tmp/u64label.h5" -o "$tmp/x" "$tmp/nhwc.ini"
expect 1 "$tmp/vlen.h5: dataset 'data' (data.features) holds variable-length sequences (a ragged array), expected uint8 (scaled to [0, 1]), float32 or float64, every sample of one shape" \
    "$bin" -t 2 -S "data.train_file=$tmp/vlen.h5" -S "data.test_file=$tmp/vlen.h5" -o "$tmp/x" "$tmp/nhwc.ini"
onechunk=(-t 2 --epochs 1 -S "data.train_file=$tmp/onechunk.h5" -S "data.test_file=$tmp/t10k-csv.h5")
run_cmd onechunk "$bin" "${onechunk[@]}" -o "$tmp/onechunk" "$tmp/csv.ini"
expect 1 "$tmp/onechunk.h5: dataset 'data' (data.features) has chunks of 24000x28x28 values, more than the 16777216 bytes a chunk may take; HDF5 decompresses a chunk whole, and one may take 16.0 MiB or the memory of the samples read (1.5 MiB for the 2000 samples a limit keeps; all 24000 would allow these chunks); expected smaller chunks: h5repack -l data:CHUNK=1000x28x28 $tmp/onechunk.h5 OUT.h5 rewrites them" \
    "$bin" "${onechunk[@]}" -S data.train_limit=2000 -o "$tmp/x" "$tmp/csv.ini"
# what the line says to do
h5repack -l data:CHUNK=1000x28x28 "$tmp/onechunk.h5" "$tmp/rechunked.h5" &&
    run_cmd rechunked "$bin" "${onechunk[@]}" -S "data.train_file=$tmp/rechunked.h5" \
        -S data.train_limit=2000 -o "$tmp/rechunked" "$tmp/csv.ini" ||
    fail "the file h5repack rewrote as the line says: $(cat "$tmp/rechunked.err" 2>/dev/null)"
# a damaged HDF5 input, a bit flipped in its first object headers: one line each, never
# libhdf5's exit report after it ("HDF5: infinite loop closing library" and a line of names)
"$py" -c 'import sys
src = open(sys.argv[1], "rb").read()
for pos in range(96, 128):
    b = bytearray(src); b[pos] ^= 1
    open(f"{sys.argv[2]}-{pos}.h5", "wb").write(b)' "$tmp/nan.h5" "$tmp/flip"
for pos in $(seq 96 127); do
    "$bin" predict -c "$tmp/onechunk/latest.h5" --predictions "$tmp/flip.out.h5" "$tmp/csv.ini" \
        "$tmp/flip-$pos.h5" >/dev/null 2>"$tmp/flip.err"
    if [ "$(wc -l <"$tmp/flip.err")" -gt 1 ]; then
        fail "predict on $tmp/nan.h5 with byte $pos flipped: $(head -c 300 "$tmp/flip.err")"
        break
    fi
done
expect 1 "$tmp/train-nhwc.h5: no dataset 'pixels' (data.features); the file holds 'data', 'label'" \
    "$bin" -t 2 -S data.features=pixels -o "$tmp/x" "$tmp/nhwc.ini"
expect 2 "data.test_file is set but data.train_file is not" \
    "$bin" -S "data.test_file=$tmp/nan.h5" configs/mnist.ini
# both forms in one file are a conflict; HDF5 files given with --set replace the file's IDX keys
sed "s|^classes = 10|classes = 10\ntrain_file = $tmp/nan.h5\ntest_file = $tmp/nan.h5|" configs/mnist.ini \
    >"$tmp/both.ini"
expect 2 "data.test_labels names an IDX file, but data.train_file and data.test_file (HDF5) replace the IDX files" \
    "$bin" "$tmp/both.ini"
expect 1 "$tmp/nan.h5: dataset 'data' (data.features): element (3, 1, 2) is NaN" \
    "$bin" -S "data.train_file=$tmp/nan.h5" -S "data.test_file=$tmp/nan.h5" configs/mnist.ini
[ -e "$tmp/x" ] && [ -n "$(ls "$tmp/x")" ] && fail "a failed run wrote into its output directory"

# to_hdf5.py's own errors: one line, exit 1; usage exit 2
printf 'label,a,b\n1,2,3\n4,5\n' >"$tmp/ragged.csv"
expect 1 "to_hdf5.py: $tmp/ragged.csv:3: 2 values, expected 3 like line 2" \
    "$py" scripts/to_hdf5.py csv "$tmp/ragged.csv" "$tmp/ragged.h5"
# a word among the numbers: its line and column, in one line (numpy's warning came first,
# and no place, until 2026-12)
printf 'label,a,b\n1,2,3\n0,5,x\n' >"$tmp/word.csv"
expect 1 "to_hdf5.py: $tmp/word.csv:3: column 3: 'x' is not a number" \
    "$py" scripts/to_hdf5.py csv "$tmp/word.csv" "$tmp/word.h5"
expect 1 "784 values per sample, which --shape 27x27 does not hold" \
    "$py" scripts/to_hdf5.py csv "$tmp/t10k.csv" "$tmp/x.h5" --shape 27x27
expect 2 "invalid shape '28by28'" "$py" scripts/to_hdf5.py csv "$tmp/t10k.csv" "$tmp/x.h5" --shape 28by28
# no features: a label column alone, or another separator than commas (a traceback and a
# temporary file before; with --compress 0, a file of 3x0 features that omptrain refused)
printf 'label\n0\n1\n2\n' >"$tmp/label.csv"
printf 'a;b;c\n1;3;4\n' >"$tmp/semicolon.csv"
for c in label:4 label:0 semicolon:4; do # the file, the gzip level
    expect 1 "to_hdf5.py: $tmp/${c%:*}.csv: no feature columns (one label column and nothing else)" \
        "$py" scripts/to_hdf5.py csv "$tmp/${c%:*}.csv" "$tmp/x.h5" --compress "${c#*:}"
done
"$py" -c 'import sys, numpy as np; np.savez(sys.argv[1], x=np.zeros((3, 0)), y=np.arange(3))' \
    "$tmp/nofeatures.npz" || fail "cannot make nofeatures.npz"
expect 1 "to_hdf5.py: $tmp/nofeatures.npz: samples of shape 0 hold no features" \
    "$py" scripts/to_hdf5.py npz "$tmp/nofeatures.npz" "$tmp/x.h5" --compress 0
# the other kind of NumPy file, or none (a traceback, or numpy's word of pickled data, before)
expect 1 "to_hdf5.py: $tmp/t10k-labels.npy: not a .npz archive (use the npy subcommand for .npy files)" \
    "$py" scripts/to_hdf5.py npz "$tmp/t10k-labels.npy" "$tmp/x.h5"
expect 1 "to_hdf5.py: $tmp/word.csv: not a .npz archive (expected a zip of .npy files" \
    "$py" scripts/to_hdf5.py npz "$tmp/word.csv" "$tmp/x.h5"
expect 1 "to_hdf5.py: $tmp/t10k.npz: not a .npy file (use the npz subcommand for .npz archives)" \
    "$py" scripts/to_hdf5.py npy "$tmp/t10k.npz" "$tmp/t10k-labels.npy" "$tmp/x.h5"
# integers beyond 16 bits cannot be scaled like 16-bit gray
expect 1 "to_hdf5.py: $tmp/png32/a/0.tif: a mode I image with values 0..131070, expected 16-bit values 0..65535" \
    "$py" scripts/to_hdf5.py png "$tmp/png32" "$tmp/x.h5"
expect 2 "to_hdf5.py: --shape is for csv, npz and npy" \
    "$py" scripts/to_hdf5.py png "$tmp/png" "$tmp/x.h5" --shape 10x12
# whatever stops the writing, no temporary file is left: here h5py's own error (not an OSError)
# at a second dataset named data
"$py" scripts/to_hdf5.py csv "$tmp/t10k.csv" "$tmp/x.h5" --labels data >/dev/null 2>&1 &&
    fail "to_hdf5.py --labels data (the features' name too) exited 0"
[ -e "$tmp/ragged.h5" ] || [ -e "$tmp/x.h5" ] || [ -e "$tmp/word.h5" ] && fail "a failed conversion left a file"
compgen -G "$tmp/*.tmp-*" >/dev/null && fail "a failed conversion left $(echo "$tmp"/*.tmp-*)"

[ $fails -eq 0 ] && echo "hdf5_data.sh: all passed" || echo "hdf5_data.sh: $fails failed"
exit $((fails > 0))
