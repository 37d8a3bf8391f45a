#!/usr/bin/python3
"""compare.py - an exported ONNX model against omptrain's own predictions, by two consumers
omptrain did not write: onnx.checker.check_model (full check: schema and shape inference) and
ONNX Runtime (onnxruntime-node, through ort_run.js) over every sample of the input.

usage: /usr/bin/python3 tests/onnx/compare.py MODEL.onnx PREDICTIONS.h5 INPUT
           [--features NAME] [--layout nhwc|nchw] [--work DIR] [--node-path DIR]

INPUT is what `omptrain predict` read: IDX images (raw or gzip) or an HDF5 file (the features
dataset --features, axis order --layout as data.layout). Its samples go to the model as
omptrain's gather makes them before standardising: bytes u as float32 u * (1/255), floats as
stored, images NCHW. PREDICTIONS.h5 is predict's output (/probabilities, /class).

Prints one line: the checker's verdict, how many arg-max agree and the largest probability
difference. Exit 0 when the checker passes, at least 99.9% of the arg-max agree and no
probability differs by more than 1e-4; 1 otherwise."""
import argparse
import gzip
import os
import subprocess
import sys

import h5py
import numpy as np
import onnx

MIN_AGREE = 0.999
MAX_DIFF = 1e-4


def read_input(path, features, layout):
    """The samples as the model takes them: float32, (N, C, H, W) or (N, D)."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith(b"\x89HDF"):
        with h5py.File(path, "r") as f:
            x = f[features][()]
        if x.dtype == np.uint8:
            x = x.astype(np.float32) * np.float32(1.0 / 255.0)
        x = x.astype(np.float32)
        if x.ndim == 3:
            x = x[:, None, :, :]
        elif x.ndim == 4 and layout == "nhwc":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x)
    opener = gzip.open if head[:2] == b"\x1f\x8b" else open
    with opener(path, "rb") as f:
        raw = f.read()
    n, rows, cols = (int.from_bytes(raw[4 * i:4 * i + 4], "big") for i in (1, 2, 3))
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, rows, cols)
    return x.astype(np.float32) * np.float32(1.0 / 255.0)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("predictions")
    p.add_argument("input")
    p.add_argument("--features", default="data")
    p.add_argument("--layout", default="nhwc")
    p.add_argument("--work", default=".")
    p.add_argument("--node-path", default="build/npm/node_modules")
    a = p.parse_args()

    model = onnx.load(a.model)
    onnx.checker.check_model(model, full_check=True)

    x = read_input(a.input, a.features, a.layout)
    with h5py.File(a.predictions, "r") as f:
        want_p = f["probabilities"][()]
        want_c = f["class"][()]
    base = os.path.join(a.work, os.path.basename(a.model))
    x.astype("<f4").tofile(base + ".in.f32")
    env = dict(os.environ, NODE_PATH=os.path.abspath(a.node_path))
    run = subprocess.run(["node", os.path.join(os.path.dirname(__file__), "ort_run.js"), a.model,
                          base + ".in.f32", ",".join(map(str, x.shape[1:])), base + ".p.f32",
                          base + ".c.i64"], env=env, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"compare.py: {a.model}: ONNX Runtime failed: {run.stderr.strip()}")
    got_p = np.fromfile(base + ".p.f32", "<f4").reshape(want_p.shape)
    got_c = np.fromfile(base + ".c.i64", "<i8")
    agree = int((got_c == want_c).sum())
    n = want_c.shape[0]
    diff = float(np.abs(got_p - want_p).max())
    ok = agree >= MIN_AGREE * n and diff <= MAX_DIFF
    print(f"{a.model}: onnx.checker (full) ok; {run.stdout.strip()}; arg-max agrees with "
          f"omptrain on {agree} of {n} ({100.0 * agree / n:.2f}%), largest probability "
          f"difference {diff:.2e}: {'ok' if ok else 'FAIL'} (need >= {100 * MIN_AGREE:.1f}% "
          f"and <= {MAX_DIFF:g})")
    for suffix in (".in.f32", ".p.f32", ".c.i64"):
        os.remove(base + suffix)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
