#!/usr/bin/env bash
# predict.sh - omptrain predict: on IDX images with labels it prints eval's loss and accuracy
# and writes /probabilities (rows summing to 1), /class (their arg-max) and /label, the same at
# 1 and 2 threads; --csv writes the same numbers as text; without labels there is no /label
# and no accuracy; an HDF5 input with or without its labels dataset; class names kept by
# scripts/to_hdf5.py (a PNG folder's) in /class_names, a CSV column (quoted where a name holds
# a comma or a quote) and eval's matrix; those of data.class_names in their place, for IDX
# and HDF5 data alike; bad uses are one line
# with exit 2 (usage, config) or 1 (runtime), and leave nothing behind; no output replaces an
# input (the config's data files too); a device, a FIFO, a symbolic link or /proc/self/fd/1 as
# --csv is written where it leads, never replaced, and HDF5 refuses a device or a FIFO; a
# failed CSV leaves the predictions as they were. Run from the repository root (make check).
# OMPTRAIN overrides the binary.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
cfg=tests/configs/ckpt-small.ini
images=data/mnist/t10k-images-idx3-ubyte.gz
labels=data/mnist/t10k-labels-idx1-ubyte.gz
. tests/lib.sh # the shared helpers: $tmp, fail, run, expect

run train -t 2 --epochs 1 -o "$tmp/run" "$cfg" || exit 1
ck=$tmp/run/latest.h5
run eval eval -t 2 -c "$ck" -S data.test_limit=0 "$cfg" || exit 1
run predict predict -t 2 -c "$ck" --predictions "$tmp/p2.h5" --csv "$tmp/p.csv" \
    --labels "$labels" "$cfg" "$images" || exit 1
run predict1 predict -t 1 -c "$ck" -o "$tmp/run" --labels "$labels" "$cfg" "$images" || exit 1

# eval's numbers, on all 10000 test images
e=$(sed -n 's/^test loss \([0-9.]*\)  acc \([0-9.]*%\)  (\([0-9]* of 10000\) correct.*/\1 \2 \3/p' "$tmp/eval.out")
p=$(sed -n 's/^loss \([0-9.]*\)  acc \([0-9.]*%\)  (\([0-9]* of 10000\) correct.*/\1 \2 \3/p' "$tmp/predict.out")
[ -n "$e" ] && [ "$e" = "$p" ] || fail "predict says '$p', eval says '$e'"
grep -q "^wrote $tmp/p2.h5: /probabilities 10000x10, /class, /label$" "$tmp/predict.out" ||
    fail "predict did not report its file: $(cat "$tmp/predict.out")"
[ -f "$tmp/run/predictions.h5" ] || fail "no default OUTPUT_DIR/predictions.h5"
grep -q ": 10000 samples of 28x28x1, 1 thread$" "$tmp/predict1.out" ||
    fail "predict -t 1 does not say '1 thread': $(head -1 "$tmp/predict1.out")"

# the same bits at 1 and 2 threads
h5diff "$tmp/p2.h5" "$tmp/run/predictions.h5" /probabilities /probabilities >/dev/null &&
    h5diff "$tmp/p2.h5" "$tmp/run/predictions.h5" /class /class >/dev/null ||
    fail "predict at 1 and 2 threads differs"

# --csv -: the CSV on stdout, byte for byte the file's, and the report on stderr (it wrote a
# file named '-'); --predictions - is refused, HDF5 needing a file it can seek in
run csvout predict -t 2 -c "$ck" --predictions "$tmp/p4.h5" --csv - --labels "$labels" \
    "$cfg" "$images" && {
    cmp -s "$tmp/csvout.out" "$tmp/p.csv" || fail "--csv - wrote other bytes than --csv FILE"
    grep -q "^loss [0-9.]*  acc " "$tmp/csvout.err" && grep -q "^wrote $tmp/p4.h5: " "$tmp/csvout.err" ||
        fail "--csv -: the report is not on stderr: $(cat "$tmp/csvout.err")"
    [ ! -e ./- ] && [ ! -e "$tmp/-" ] || fail "--csv - wrote a file named '-'"
}
expect 2 "--predictions -: HDF5 cannot be written to standard output" \
    predict -c "$ck" --predictions - "$cfg" "$images"
# export --onnx - likewise: the model's bytes on stdout, the same as --onnx FILE's, but never
# onto a terminal (script(1) gives the command one)
run onnxfile export -c "$ck" --onnx "$tmp/m.onnx" "$cfg" &&
    run onnxout export -c "$ck" --onnx - "$cfg" && {
    cmp -s "$tmp/onnxout.out" "$tmp/m.onnx" || fail "--onnx - wrote other bytes than --onnx FILE"
    grep -q "^wrote standard output: ONNX opset 13, $(stat -c %s "$tmp/m.onnx") bytes$" "$tmp/onnxout.err" ||
        fail "--onnx -: the report is not on stderr: $(cat "$tmp/onnxout.err")"
}
script -qec "$bin export -c $ck --onnx - $cfg" /dev/null >"$tmp/tty.out" 2>&1
[ $? -eq 2 ] && grep -q "^omptrain: --onnx -: standard output is a terminal" "$tmp/tty.out" ||
    fail "--onnx - on a terminal: $(cat "$tmp/tty.out")"

# the files themselves: rows of probabilities, their arg-max, the labels; the CSV alike
if ! out=$("$py" - "$tmp/p2.h5" "$tmp/p.csv" "$labels" 2>&1 <<'EOF'
import gzip, sys
import h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
p, c, y = f["probabilities"][()], f["class"][()], f["label"][()]
with gzip.open(sys.argv[3]) as g:
    want_y = np.frombuffer(g.read(), np.uint8, offset=8)
assert p.shape == (10000, 10) and p.dtype == np.float32, p.shape
assert np.abs(p.sum(axis=1) - 1).max() < 1e-5, "rows do not sum to 1"
assert (np.argmax(p, axis=1) == c).all(), "class is not the arg-max"
assert (y == want_y).all(), "labels differ from the IDX file"
assert abs(f.attrs["accuracy"] - (c == y).mean()) < 1e-12, "accuracy attribute"
assert f.attrs["samples"] == 10000 and f.attrs["classes"] == 10
lines = open(sys.argv[2]).read().splitlines()
assert lines[0] == "index,label,class," + ",".join(f"p{j}" for j in range(10)), lines[0]
t = np.loadtxt(sys.argv[2], delimiter=",", skiprows=1)
assert t.shape == (10000, 13), t.shape
assert (t[:, 0] == np.arange(10000)).all() and (t[:, 1] == y).all() and (t[:, 2] == c).all()
assert (t[:, 3:].astype(np.float32) == p).all(), "CSV probabilities differ from the HDF5 file"
EOF
); then
    fail "predictions file: $out"
fi

# no labels: no /label, no accuracy
run nolabels predict -c "$ck" --predictions "$tmp/nl.h5" "$cfg" "$images" || exit 1
grep -q "^no labels" "$tmp/nolabels.out" || fail "unlabelled input: $(cat "$tmp/nolabels.out")"
h5ls "$tmp/nl.h5" | grep -q '^label' && fail "unlabelled input wrote /label"
h5diff "$tmp/nl.h5" "$tmp/p2.h5" /probabilities /probabilities >/dev/null ||
    fail "labels changed the probabilities"

# HDF5 input, with and without its labels dataset
"$py" - "$tmp" "$images" "$labels" <<'EOF' || fail "cannot make the HDF5 inputs"
import gzip, sys
import h5py, numpy as np
with gzip.open(sys.argv[2]) as g:
    x = np.frombuffer(g.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:500]
with gzip.open(sys.argv[3]) as g:
    y = np.frombuffer(g.read(), np.uint8, offset=8)[:500]
with h5py.File(f"{sys.argv[1]}/in.h5", "w") as f:
    f["data"] = x
    f["label"] = y.astype(np.int16)
with h5py.File(f"{sys.argv[1]}/in-nolabels.h5", "w") as f:
    f["data"] = x
    f["other"] = x
with h5py.File(f"{sys.argv[1]}/in-32.h5", "w") as f:
    f["data"] = np.zeros((5, 32, 32), np.uint8)
EOF
run h5 predict -c "$ck" --predictions "$tmp/h5.h5" "$cfg" "$tmp/in.h5" || exit 1
grep -q "^loss [0-9.]*  acc [0-9.]*%  ([0-9]* of 500 correct" "$tmp/h5.out" ||
    fail "HDF5 input with labels: $(cat "$tmp/h5.out")"
run h5nl predict -c "$ck" --predictions "$tmp/h5nl.h5" "$cfg" "$tmp/in-nolabels.h5" || exit 1
grep -q "^no labels (.* s; $tmp/in-nolabels.h5 has no dataset 'label', data.labels)" "$tmp/h5nl.out" ||
    fail "HDF5 input without labels: $(cat "$tmp/h5nl.out")"
# file_names that do not name every sample are said to be left out (they were, silently)
"$py" -c "
import h5py, sys
with h5py.File(sys.argv[1], 'r') as f, h5py.File(sys.argv[2], 'w') as g:
    g['data'] = f['data'][:3]
    g['file_names'] = [b'a.png', b'b.png']
" "$tmp/in.h5" "$tmp/in-names.h5" || fail "cannot make in-names.h5"
run names predict -c "$ck" --predictions "$tmp/names.h5" "$cfg" "$tmp/in-names.h5" || exit 1
grep -q "^note: $tmp/in-names.h5: its dataset file_names holds 2 strings, expected one string per sample (3): not used" "$tmp/names.out" ||
    fail "file_names of 2 for 3 samples: $(cat "$tmp/names.out")"
# a data.labels that names no dataset is said, not taken for a file without labels in silence
run h5typo predict -c "$ck" --predictions "$tmp/h5typo.h5" -S data.labels=labelz "$cfg" "$tmp/in.h5" || exit 1
grep -q "^no labels (.* s; $tmp/in.h5 has no dataset 'labelz', data.labels)" "$tmp/h5typo.out" ||
    fail "a misspelt data.labels: $(cat "$tmp/h5typo.out")"
"$py" -c "
import sys, h5py
a = h5py.File('$tmp/h5.h5')['probabilities'][()]
b = h5py.File('$tmp/p2.h5')['probabilities'][:500]
sys.exit(0 if (a == b).all() else 1)" || fail "HDF5 input gives other probabilities than IDX"

# bad uses: one line each, nothing written
expect 2 "predict needs --checkpoint PATH" predict "$cfg" "$images"
expect 2 "predict: missing INPUT after CONFIG" predict -c "$ck" "$cfg"
expect 2 "--csv is a predict option" eval -c "$ck" --csv x.csv "$cfg"
expect 2 "--labels goes with IDX images" predict -c "$ck" --labels "$labels" "$cfg" "$tmp/in.h5"
expect 2 "the model was trained on samples of 28x28x1 but $tmp/in-32.h5 holds samples of 32x32x1" \
    predict -c "$ck" --predictions "$tmp/bad.h5" "$cfg" "$tmp/in-32.h5"
expect 1 "cannot open 'nope.gz'" predict -c "$ck" "$cfg" nope.gz
expect 1 "cannot open '$tmp': it is a directory, expected IDX images or an HDF5 file" \
    predict -c "$ck" "$cfg" "$tmp"
expect 1 "cannot open '$tmp': it is a directory, expected an IDX file" \
    predict -c "$ck" --labels "$tmp" "$cfg" "$images"
expect 1 "$images has 10000 images but data/mnist/train-labels-idx1-ubyte.gz has 60000 labels" \
    predict -c "$ck" --labels data/mnist/train-labels-idx1-ubyte.gz "$cfg" "$images"
expect 1 "$tmp/none/p.h5: cannot create the file" \
    predict -c "$ck" --predictions "$tmp/none/p.h5" "$cfg" "$images"
# a --csv that cannot be written stops the command before the predictions are written (they
# were, until 2026-12, and the command then failed)
expect 1 "$tmp/none/p.csv: cannot create the file: $tmp/none: No such file or directory" \
    predict -c "$ck" --predictions "$tmp/bad.h5" --csv "$tmp/none/p.csv" "$cfg" "$images"
# ... and leaves no run directory it made for the predictions (until 2026-12 an empty one)
expect 1 "$tmp/none/p.csv: cannot create the file" \
    predict -c "$ck" --set output.dir="$tmp/made/run" --csv "$tmp/none/p.csv" "$cfg" "$images"
[ ! -e "$tmp/made" ] || fail "a predict that wrote nothing left $(find "$tmp/made")"
expect 1 "$tmp: is a directory, expected a file name" \
    predict -c "$ck" --predictions "$tmp" "$cfg" "$images"
# an output named like the run's own files: refused, the checkpoint and history left intact
# (until 2026-12 `export --onnx run/latest.h5` replaced the checkpoint with the ONNX model)
expect 1 "$ck: holds an omptrain checkpoint, which this would replace" \
    predict -c "$ck" --predictions "$ck" "$cfg" "$images"
expect 1 "$tmp/run/history.h5: holds an omptrain history, which this would replace" \
    predict -c "$ck" --csv "$tmp/run/history.h5" "$cfg" "$images"
expect 1 "$ck: holds an omptrain checkpoint, which this would replace" \
    export -c "$ck" --onnx "$ck" "$cfg"
# an output that names one of the command's own inputs, or both outputs one file: refused, a
# usage error, the files left as they were (until 2026-12 `--csv INPUT` wrote the CSV over the
# images, and `--csv P --predictions P` the CSV over the predictions)
cp "$images" "$tmp/in.gz"
cp "$cfg" "$tmp/cfg.ini"
sums=$(cd "$tmp" && md5sum in.gz cfg.ini)
expect 2 "$tmp/in.gz: --csv names the input file (INPUT), which it would replace" \
    predict -c "$ck" --csv "$tmp/in.gz" "$cfg" "$tmp/in.gz"
expect 2 "$tmp/./in.gz: --predictions names the input file (INPUT), which it would replace" \
    predict -c "$ck" --predictions "$tmp/./in.gz" "$cfg" "$tmp/in.gz"
expect 2 "$tmp/cfg.ini: --csv names the config (CONFIG), which it would replace" \
    predict -c "$ck" --csv "$tmp/cfg.ini" "$tmp/cfg.ini" "$images"
expect 2 "$tmp/p3.h5: --csv names the predictions file (--predictions), which it would replace" \
    predict -c "$ck" --predictions "$tmp/p3.h5" --csv "$tmp/p3.h5" "$cfg" "$images"
expect 2 "$tmp/cfg.ini: --onnx names the config (CONFIG), which it would replace" \
    export -c "$ck" --onnx "$tmp/cfg.ini" "$tmp/cfg.ini"
[ "$(cd "$tmp" && md5sum in.gz cfg.ini)" = "$sums" ] || fail "a refused output changed an input"
[ -e "$tmp/p3.h5" ] && fail "a refused predict left $tmp/p3.h5"
"$bin" verify "$ck" "$tmp/run/history.h5" >/dev/null || fail "a refused output damaged the run's files"
[ -e "$tmp/bad.h5" ] && fail "a failed predict left $tmp/bad.h5"
ls -a "$tmp" | grep -q '\.tmp$' && fail "a temporary file was left: $(ls -a "$tmp")"

# the config's data files are no outputs either (until 2026-12 `--csv` on data.train_labels,
# `--predictions` on data.class_names and `export --onnx` on data.test_images replaced them):
# one line, exit 2, nothing written
mkdir "$tmp/d" && cp data/mnist/train-labels-idx1-ubyte.gz "$images" "$tmp/d/" &&
    printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n' >"$tmp/d/my.names"
dset=(-S data.train_labels="$tmp/d/train-labels-idx1-ubyte.gz"
      -S data.test_images="$tmp/d/t10k-images-idx3-ubyte.gz" -S data.class_names="$tmp/d/my.names")
dsums=$(cd "$tmp/d" && md5sum -- *)
expect 2 "$tmp/d/train-labels-idx1-ubyte.gz: --csv names the config's data.train_labels, which it would replace" \
    predict -c "$ck" "${dset[@]}" --predictions "$tmp/dp.h5" --csv "$tmp/d/train-labels-idx1-ubyte.gz" "$cfg" "$tmp/in.h5"
expect 2 "$tmp/d/my.names: --predictions names the config's data.class_names, which it would replace" \
    predict -c "$ck" "${dset[@]}" --predictions "$tmp/d/my.names" "$cfg" "$tmp/in.h5"
expect 2 "$tmp/d/t10k-images-idx3-ubyte.gz: --onnx names the config's data.test_images, which it would replace" \
    export -c "$ck" "${dset[@]}" --onnx "$tmp/d/t10k-images-idx3-ubyte.gz" "$cfg"
[ "$(cd "$tmp/d" && md5sum -- *)" = "$dsums" ] || fail "a refused output changed one of the config's data files"
[ -e "$tmp/dp.h5" ] && fail "a refused predict wrote $tmp/dp.h5"

# outputs that are not regular files (until 2026-12 each was replaced by a regular file; as
# root, `--csv /dev/null` replaced /dev/null itself): a character device is written in place
# (nodes made here as root; another user, who cannot replace /dev/null, gets links to /dev/null
# and /dev/full), a FIFO too, a symbolic link is followed (its target replaced, the link
# kept); the HDF5 file on a device or a FIFO is refused before any work, exit 2; a full device
# is one line, exit 1, and leaves the predictions file as it was, as does a CSV that cannot be
# created after all (until 2026-12 the predictions were replaced before the CSV failed)
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then :
elif [ "$(id -u)" -ne 0 ]; then ln -s /dev/null "$tmp/null" && ln -s /dev/full "$tmp/full"
else fail "cannot make device nodes in $tmp as root"; fi
mkfifo "$tmp/fifo" || fail "cannot make a FIFO"
if [ -c "$tmp/null" ] && [ -c "$tmp/full" ] && [ -p "$tmp/fifo" ] &&
    run ref predict -c "$ck" --predictions "$tmp/dev.h5" --csv "$tmp/ref.csv" "$cfg" "$tmp/in.h5"; then
    run csvnull predict -c "$ck" --predictions "$tmp/dev.h5" --csv "$tmp/null" "$cfg" "$tmp/in.h5"
    [ -c "$tmp/null" ] || fail "--csv on a character device replaced it: $(ls -l "$tmp/null")"
    timeout 60 cat "$tmp/fifo" >"$tmp/fifo.out" &
    reader=$!
    run csvfifo predict -c "$ck" --predictions "$tmp/dev.h5" --csv "$tmp/fifo" "$cfg" "$tmp/in.h5"
    wait "$reader"
    [ -p "$tmp/fifo" ] && cmp -s "$tmp/fifo.out" "$tmp/ref.csv" ||
        fail "--csv on a FIFO: $(ls -l "$tmp/fifo"), $(wc -c <"$tmp/fifo.out") bytes read"
    echo old >"$tmp/target.csv" && ln -s target.csv "$tmp/link.csv"
    run csvlink predict -c "$ck" --predictions "$tmp/dev.h5" --csv "$tmp/link.csv" "$cfg" "$tmp/in.h5"
    [ -L "$tmp/link.csv" ] && cmp -s "$tmp/target.csv" "$tmp/ref.csv" ||
        fail "--csv through a symbolic link: $(ls -l "$tmp/link.csv" "$tmp/target.csv")"
    "$bin" predict -c "$ck" --predictions "$tmp/dev.h5" --csv /proc/self/fd/1 "$cfg" "$tmp/in.h5" \
        >"$tmp/self.csv" 2>"$tmp/self.err" && cmp -s "$tmp/self.csv" "$tmp/ref.csv" ||
        fail "--csv /proc/self/fd/1 > FILE: $(cat "$tmp/self.err")"
    expect 2 "$tmp/null: --predictions is a character device, which HDF5 cannot be written to (the library seeks in its file); expected a regular file" \
        predict -c "$ck" --predictions "$tmp/null" "$cfg" "$tmp/in.h5"
    expect 2 "$tmp/fifo: --predictions is a FIFO, which HDF5 cannot be written to" \
        predict -c "$ck" --predictions "$tmp/fifo" --csv "$tmp/nope.csv" "$cfg" "$tmp/in.h5"
    [ -c "$tmp/null" ] && [ -p "$tmp/fifo" ] && [ ! -e "$tmp/nope.csv" ] ||
        fail "a refused HDF5 output changed $(ls -l "$tmp/null" "$tmp/fifo")"
    cp "$tmp/p2.h5" "$tmp/keep.h5"
    expect 1 "$tmp/full: cannot write the file (0 of $(stat -c %s "$tmp/ref.csv") bytes written): No space left on device" \
        predict -c "$ck" --predictions "$tmp/keep.h5" --csv "$tmp/full" "$cfg" "$tmp/in.h5"
    [ -c "$tmp/full" ] || fail "--csv on a full device replaced it"
    cmp -s "$tmp/keep.h5" "$tmp/p2.h5" || fail "a --csv that failed on a full device replaced the predictions"
    expect 1 "/proc/x.csv: cannot create the file" \
        predict -c "$ck" --predictions "$tmp/keep.h5" --csv /proc/x.csv "$cfg" "$tmp/in.h5"
    cmp -s "$tmp/keep.h5" "$tmp/p2.h5" || fail "a --csv that could not be created replaced the predictions"
    ls -a "$tmp" | grep -q '\.tmp$' && fail "a temporary file was left: $(ls -a "$tmp")"
fi

# class names: a PNG folder's classes (one name with a comma, one with quotes) through
# scripts/to_hdf5.py, trained briefly; predict names each row's class, eval lists the names
"$py" - "$tmp/png" <<'PY' || fail "cannot make the PNG folder"
import os, sys
import numpy as np
from PIL import Image
rng = np.random.default_rng(3)
for cls, level in (("cat", 40), ("dog, big", 128), ('"owl"', 215)):
    os.makedirs(f"{sys.argv[1]}/{cls}")
    for i in range(30):
        a = np.clip(rng.normal(level, 20, size=(6, 6)), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(f"{sys.argv[1]}/{cls}/{i}.png")
PY
"$py" scripts/to_hdf5.py png "$tmp/png" "$tmp/pets.h5" >/dev/null || fail "to_hdf5.py png failed"
printf '[data]\ntrain_file = %s\ntest_file = %s\nclasses = 3\n[model]\nlayers = affine 3\n[training]\nepochs = 20\nbatch_size = 10\nlearning_rate = 0.5\n' \
    "$tmp/pets.h5" "$tmp/pets.h5" >"$tmp/pets.ini"
if run pets-train -o "$tmp/pets" "$tmp/pets.ini" &&
    run pets-eval eval -c "$tmp/pets/latest.h5" "$tmp/pets.ini" &&
    run pets-predict predict -c "$tmp/pets/latest.h5" --predictions "$tmp/pets-p.h5" \
        --csv "$tmp/pets-p.csv" "$tmp/pets.ini" "$tmp/pets.h5"; then
    grep -q "^test loss .* acc 100.00%" "$tmp/pets-eval.out" ||
        fail "the pets did not train: $(cat "$tmp/pets-eval.out")"
    grep -q " recall  class$" "$tmp/pets-eval.out" &&
        grep -q '^     0 .*%  "owl"$' "$tmp/pets-eval.out" &&
        grep -q '^     2 .*%  dog, big$' "$tmp/pets-eval.out" ||
        fail "eval shows no class names: $(cat "$tmp/pets-eval.out")"
    grep -q ", /class_names, /file_names$" "$tmp/pets-predict.out" ||
        fail "predict wrote no /class_names and /file_names: $(cat "$tmp/pets-predict.out")"
    "$py" - "$tmp/pets-p.h5" "$tmp/pets-p.csv" <<'PY' || fail "class names in predict's outputs"
import csv, sys
import h5py
with h5py.File(sys.argv[1]) as f:
    names = [n.decode() for n in f["class_names"][()]]
    files = [n.decode() for n in f["file_names"][()]]
    cls, label = f["class"][()], f["label"][()]
assert names == ['"owl"', "cat", "dog, big"], names
# each class's files in name order (0.png, 1.png, 10.png, ...), the classes in name order
want = [f"{c}/{i}.png" for c in names for i in sorted(range(30), key=str)]
assert files == want, files[:5]
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert list(rows[0])[:5] == ["index", "file", "label", "class", "class_name"], list(rows[0])
assert len(rows) == len(cls) == 90
for r, c, y, name in zip(rows, cls, label, want):
    assert int(r["class"]) == c and r["class_name"] == names[c] and c == y, (r, c, y)
    assert r["file"] == name, (r["file"], name)
PY
fi

# data.class_names: a file of names, one a line, gives IDX data names (eval beside the matrix,
# predict in /class_names and the CSV), and replaces an HDF5 file's own; a bad one is one line
printf 'zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine, or 9\n' >"$tmp/digits.names"
printf 'a\nb\n"c"\n' >"$tmp/pets.names"
if run names-eval eval -c "$ck" -S data.class_names="$tmp/digits.names" "$cfg" &&
    run names-predict predict -c "$ck" -S data.class_names="$tmp/digits.names" \
        --predictions "$tmp/names.h5" --csv "$tmp/names.csv" --labels "$labels" "$cfg" "$images" &&
    run names-pets predict -c "$tmp/pets/latest.h5" -S data.class_names="$tmp/pets.names" \
        --predictions "$tmp/names-pets.h5" --csv "$tmp/names-pets.csv" "$tmp/pets.ini" "$tmp/pets.h5"; then
    grep -q '^     7 .*%  seven$' "$tmp/names-eval.out" &&
        grep -q '^     9 .*%  nine, or 9$' "$tmp/names-eval.out" ||
        fail "eval shows no names of data.class_names: $(cat "$tmp/names-eval.out")"
    "$py" - "$tmp/names.h5" "$tmp/names.csv" "$tmp/names-pets.h5" "$tmp/names-pets.csv" <<'PY' ||
import csv, sys
import h5py
for h5, table, want in ((sys.argv[1], sys.argv[2], "zero one two three four five six seven eight".split() + ["nine, or 9"]),
                        (sys.argv[3], sys.argv[4], ["a", "b", '"c"'])):
    with h5py.File(h5) as f:
        names = [n.decode() for n in f["class_names"][()]]
        cls = f["class"][()]
    assert names == want, names
    rows = list(csv.DictReader(open(table, newline="")))
    assert len(rows) == len(cls) and all(r["class_name"] == want[c] for r, c in zip(rows, cls))
PY
        fail "predict wrote other names than data.class_names'"
fi
printf 'zero\none\n' >"$tmp/two.names"
expect 1 "$cfg: data.class_names: '$tmp/two.names' holds 2 names, expected data.classes = 10, one a line" \
    eval -c "$ck" -S data.class_names="$tmp/two.names" "$cfg"
expect 1 "$cfg: data.class_names: cannot open '$tmp/none.names': No such file or directory" \
    -o "$tmp/nonames" -S data.class_names="$tmp/none.names" "$cfg"
[ ! -e "$tmp/nonames" ] || fail "a training run with a missing names file made its directory"

# images to classify: a folder of PNGs without class subfolders (the first 20 test digits as
# dark digits on white, 56x56: a scan's look) through to_hdf5.py --resize 28x28 --invert; their
# file names reach predict's outputs, and the classes are those of the IDX digits themselves
"$py" - "$tmp/scans" "$images" <<'PY' || fail "cannot make the scans"
import gzip, os, sys
import numpy as np
from PIL import Image
os.makedirs(sys.argv[1])
with gzip.open(sys.argv[2]) as g:
    x = np.frombuffer(g.read(), np.uint8, offset=16).reshape(-1, 28, 28)[:20]
for i, a in enumerate(x):
    Image.fromarray(255 - a).resize((56, 56), Image.BILINEAR).save(f"{sys.argv[1]}/scan-{i:02d}.png")
PY
if "$py" scripts/to_hdf5.py png --resize 28x28 --invert "$tmp/scans" "$tmp/scans.h5" >"$tmp/to_hdf5.out" &&
    run scans predict -c "$ck" --predictions "$tmp/scans-p.h5" --csv "$tmp/scans.csv" "$cfg" "$tmp/scans.h5"; then
    grep -q "data 20x28x28 uint8, no labels (to predict), file_names 20" "$tmp/to_hdf5.out" ||
        fail "to_hdf5.py on a folder of PNGs: $(cat "$tmp/to_hdf5.out")"
    grep -q "^no labels" "$tmp/scans.out" ||
        fail "predict on unlabelled PNGs: $(cat "$tmp/scans.out")"
    "$py" - "$tmp/scans.csv" "$tmp/p2.h5" <<'PY' || fail "the scans' predictions"
import csv, sys
import h5py
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert [r["file"] for r in rows] == [f"scan-{i:02d}.png" for i in range(20)], rows[0]
assert "label" not in rows[0], list(rows[0])
with h5py.File(sys.argv[2]) as f:
    idx = f["class"][:20]
same = sum(int(r["class"]) == c for r, c in zip(rows, idx))
assert same >= 18, f"{same} of 20 classes as on the IDX digits"
PY
else
    fail "to_hdf5.py png --resize --invert, or predict on it: $(cat "$tmp/to_hdf5.out")"
fi
"$py" scripts/to_hdf5.py png "$tmp/scans" "$tmp/x.h5" >/dev/null 2>&1 || fail "a folder of 56x56 PNGs was refused"
# a photo's formats too (JPEG, BMP): any file Pillow reads by those names
mkdir "$tmp/photos" && "$py" -c "
import sys
from PIL import Image
Image.new('RGB', (40, 30), (200, 10, 10)).save(sys.argv[1] + '/a.jpg')
Image.new('L', (30, 40), 90).save(sys.argv[1] + '/b.BMP')" "$tmp/photos" &&
    "$py" scripts/to_hdf5.py png --resize 28x28 --mode L "$tmp/photos" "$tmp/photos.h5" >"$tmp/x.out" &&
    grep -q "data 2x28x28 uint8, no labels (to predict), file_names 2" "$tmp/x.out" ||
    fail "a folder of JPEG and BMP images: $(cat "$tmp/x.out")"
"$py" scripts/to_hdf5.py npz x.npz "$tmp/x.h5" --invert >/dev/null 2>"$tmp/x.err"
[ $? -eq 2 ] && grep -q "to_hdf5.py: --resize, --invert and --mode are for png" "$tmp/x.err" ||
    fail "--invert with npz: $(cat "$tmp/x.err")"

[ $fails -eq 0 ] && echo "predict.sh: all passed" || echo "predict.sh: $fails failed"
exit $((fails > 0))
