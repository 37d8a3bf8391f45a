#!/usr/bin/env bash
# make_corpus.sh - make the seeds of the HDF5 fuzz targets again: real files made by omptrain
# and by scripts/to_hdf5.py, kept small (a few KiB each; a history is 100 KiB, its chunks
# being 4096 steps). Run from the repository root after `make`; it replaces
#   tests/fuzz/data/tiny.h5       40 images of 6x6 in 3 classes (to_hdf5.py, gzip chunks): the
#                                 data of tests/fuzz/configs/*.ini, which fuzz_ckpt.c trains on
#   tests/fuzz/corpus/ckpt/       checkpoints: mlp (SGD, epoch 2), bn-adam (batch norm, adam,
#                                 best parameters, /input by feature), cnn (conv, batch norm,
#                                 pooling, nesterov, /input by channel), mid-epoch (mlp
#                                 stopped inside epoch 2, as by SIGINT: batch_in_epoch 2)
#   tests/fuzz/corpus/history/    the history.h5 of the mlp run and of the resumed mid-epoch run
#   tests/fuzz/corpus/h5data/     data files from to_hdf5.py: uint8 N x H x W (gzip), float32
#                                 N x D (contiguous), uint8 N x C x H x W (nchw), names
#                                 features/labels, and one from h5py with N x 1 int32 labels
#                                 and a soft link
# The checkpoints' attribute created differs from run to run.
set -eu
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
fz=tests/fuzz
tmp=$(mktemp -d /tmp/omptrain-corpus.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p $fz/data $fz/corpus/ckpt $fz/corpus/history $fz/corpus/h5data
rm -f $fz/corpus/ckpt/*.h5 $fz/corpus/history/*.h5 $fz/corpus/h5data/*.h5

# the arrays, fixed by a seed
"$py" - "$tmp" <<'PY'
import sys
import numpy as np
out = sys.argv[1]
r = np.random.RandomState(17)
y = (np.arange(40) % 3).astype(np.int64)
x = (r.rand(40, 6, 6) * 64).astype(np.uint8) + (y[:, None, None] * 60).astype(np.uint8)
np.savez(f"{out}/tiny.npz", x=x, y=y)
np.savez(f"{out}/vec.npz", x=r.rand(8, 5).astype(np.float32), y=(np.arange(8) % 2))
np.savez(f"{out}/rgb.npz", x=(r.rand(6, 3, 4, 4) * 255).astype(np.uint8), y=np.arange(6) % 3)
PY
conv() { "$py" scripts/to_hdf5.py "$@" >/dev/null; }
conv npz "$tmp/tiny.npz" $fz/data/tiny.h5
cp $fz/data/tiny.h5 $fz/corpus/h5data/uint8-nhw-gzip.h5
conv npz "$tmp/vec.npz" $fz/corpus/h5data/float32-nd-contiguous.h5 --compress 0 --dtype float32
conv npz "$tmp/rgb.npz" $fz/corpus/h5data/uint8-nchw.h5 --layout nchw --compress 1
conv npz "$tmp/vec.npz" $fz/corpus/h5data/names-features-labels.h5 --features features \
    --labels labels --compress 0
"$py" - $fz/corpus/h5data/h5py-softlink-nx1.h5 <<'PY'
import sys
import h5py
import numpy as np
with h5py.File(sys.argv[1], "w") as f:
    g = f.create_group("train")
    g["data"] = (np.arange(4 * 3 * 3) % 200).astype(np.uint8).reshape(4, 3, 3)
    f["label"] = (np.arange(4) % 3).astype(np.int32).reshape(4, 1)
    f["data"] = h5py.SoftLink("/train/data")
    f.attrs["classes"] = 3
PY

# checkpoints and histories
train() { "$bin" --threads 1 -o "$tmp/$1" "${@:2}" >/dev/null; }
train mlp $fz/configs/mlp.ini
train bn-adam $fz/configs/bn-adam.ini
train cnn $fz/configs/cnn.ini
cp "$tmp/mlp/checkpoint-e0002.h5" $fz/corpus/ckpt/mlp-e2.h5
cp "$tmp/bn-adam/checkpoint-e0002.h5" $fz/corpus/ckpt/bn-adam-e2.h5
cp "$tmp/cnn/checkpoint-e0001.h5" $fz/corpus/ckpt/cnn-e1.h5
cp "$tmp/mlp/history.h5" $fz/corpus/history/mlp.h5

# mid-epoch: stopped after two steps of epoch 2, as SIGINT would (mid_epoch.c, built here
# against build/libomptrain.a)
${CC:-cc} -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -Iinclude $(pkg-config --cflags hdf5) \
    -o "$tmp/mid_epoch" $fz/mid_epoch.c build/libomptrain.a \
    $(pkg-config --libs hdf5 inih zlib openblas libprotobuf-c) -lm
ck=$fz/corpus/ckpt/mid-epoch.h5
"$tmp/mid_epoch" $fz/configs/mlp.ini $ck
# the history of a run resumed from it, one epoch on: cut back, then appended
"$bin" --threads 1 -o "$tmp/mid" --epochs 3 --resume $ck $fz/configs/mlp.ini >/dev/null
cp "$tmp/mid/history.h5" $fz/corpus/history/mid-epoch-resumed.h5
ls -l $fz/data $fz/corpus/ckpt $fz/corpus/history $fz/corpus/h5data
