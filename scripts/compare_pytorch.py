#!/usr/bin/python3
"""compare_pytorch.py - omptrain against PyTorch (CPU) and the numpy float32 textbook net.

Runs, back to back in one invocation, the benchmark models of configs/bench-{a,...,f}.ini:
  (a) 784-50-10 batch 100   (b) 784-100-10 batch 100
  (c) 784-1024-1024-10 batch 256   (d) the same, batch 1024
  (e) the textbook's SimpleConvNet (conv 30 5x5, relu, maxpool 2, affine 100, relu, affine 10)
  (f) the textbook's deep CNN (six 3x3 convolutions, three max poolings, affine 50, dropout)
      both batch 100
  (a') and (b'), named a-fashion and b-fashion: (a) and (b) on Fashion-MNIST, whose denser
      images leave omptrain's sparse first layer less to skip
with plain SGD at the config's learning rate, on the training set the config names (MNIST from
data/mnist/*.gz; Fashion-MNIST from Debian's dataset-fashion-mnist), at each thread count, in:
  omptrain      ./omptrain bench CONFIG --threads LIST (its CSV)
  torch/pth     PyTorch 1.13 (Debian) with OpenBLAS's pthread build (the system default)
  torch/omp     the same with LD_LIBRARY_PATH pointing at OpenBLAS's OpenMP build (left out,
                with a note, where libopenblas0-openmp is not installed)
  numpy         the float32 textbook two-layer net (models a and b only)
Every peer is timed like omptrain bench: warm-up, then SECONDS split in 5 segments, best
segment's samples/s. The PyTorch models are the configs' layers in torch.nn (NCHW images); for
the convolutional models each torch run times both memory formats, NCHW and channels_last
(NHWC, as omptrain), and keeps the faster (oneDNN's convolutions differ between the two). The
"best peer" of a row is the fastest of the peers at that thread count; ratio = omptrain / best
peer. FLOP per sample counts the GEMM work of a training step as omptrain bench does (forward,
dW and, but for the first layer, dx: 2 in out per Affine, 2 positions taps filters per
convolution); with it the share of the GEMM ceiling (measured by omptrain bench in the same
run, same thread count) is printed for omptrain and the best torch.

usage: /usr/bin/python3 scripts/compare_pytorch.py [--threads 1,2]
           [--models a,b,c,d,e,f,a-fashion,b-fashion]
           [--seconds 2] [--rounds 1] [--omptrain ./omptrain] [--csv runs/compare/compare.csv]
With --rounds R everything is measured R times, omptrain and the peers alternating, and each
keeps its best round: on a shared machine whose neighbours come and go, every side then gets
the quiet spells, not only whichever ran in one.
Run from the repository root. Needs python3-torch (apt-get install python3-torch).
"""
import argparse
import configparser
import csv
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import time

try:
    import numpy as np
except ImportError:  # one line, not a traceback: the python3 first on PATH may lack numpy
    sys.exit("compare_pytorch.py: needs numpy and torch: run it with /usr/bin/python3 "
             "(apt-get install python3-numpy python3-torch)")

SEGMENTS = 5
WARMUP = 0.3
OPENMP_BLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
MODELS = "a,b,c,d,e,f,a-fashion,b-fashion"
IMAGE = (1, 28, 28)  # MNIST as (channels, height, width)


def model_spec(m):
    """Layers, batch, lr and shards from configs/bench-M.ini. model.layers is either widths
    ("784, 50, 10": widths, relu between) or a list of layers ("conv 30 5x5, relu, ..."); both
    become stack, [(kind, words)], the layers after the input."""
    cp = configparser.ConfigParser(inline_comment_prefixes=(";",))
    path = f"configs/bench-{m}.ini"
    if not cp.read(path):
        sys.exit(f"compare_pytorch.py: cannot read {path} (run from the repository root)")
    items = [v.split() for v in cp["model"]["layers"].split(",") if v.strip()]
    widths = None
    if all(len(w) == 1 and w[0].isdigit() for w in items):
        widths = [int(w[0]) for w in items]
        stack = []
        for i, n in enumerate(widths[1:]):
            stack += [("affine", [str(n)])] + ([("relu", [])] if i < len(widths) - 2 else [])
        shape = (widths[0],)
    else:
        stack, shape = [(w[0], w[1:]) for w in items], IMAGE
    tr = cp["training"]
    return {"config": path, "images": cp["data"]["train_images"],
            "labels": cp["data"]["train_labels"], "widths": widths, "stack": stack, "input": shape,
            "batch": int(tr["batch_size"]), "lr": float(tr["learning_rate"]),
            "shards": int(tr.get("shards", "8"))}


def layer_shapes(spec):
    """Each layer of the stack as (kind, words, options, input shape, output shape); shapes are
    (c, h, w) for images, (n,) for vectors, sides as omptrain infers them."""
    def window(w):
        kh, _, kw = w.partition("x")
        return int(kh), int(kw or kh)

    def options(words, **opts):  # "stride S", "pad P"; "winograd" is how, not what
        words = [x for x in words if x not in ("winograd", "winograd4")]
        for k, v in zip(words[::2], words[1::2]):
            opts[k] = int(v)
        return opts

    out, shape = [], spec["input"]
    for kind, w in spec["stack"]:
        o = {}
        if kind in ("conv", "maxpool", "avgpool"):
            conv = kind == "conv"
            kh, kw = window(w[1] if conv else w[0])
            o = options(w[2:] if conv else w[1:], stride=1 if conv else kh, pad=0, kh=kh, kw=kw)
            c, h, wd = shape
            new = (int(w[0]) if conv else c, (h + 2 * o["pad"] - kh) // o["stride"] + 1,
                   (wd + 2 * o["pad"] - kw) // o["stride"] + 1)
        elif kind == "affine":
            new = (int(w[0]),)
        elif kind == "flatten":
            new = (int(np.prod(shape)),)
        elif kind in ("relu", "sigmoid", "dropout"):
            new = shape
        else:
            sys.exit(f"compare_pytorch.py: {spec['config']}: layer kind '{kind}' has no "
                     "PyTorch equivalent here")
        out.append((kind, w, o, shape, new))
        shape = new
    return out


def flops_per_sample(spec):
    """The GEMM FLOPs of one sample's training step, as omptrain bench counts them (each kind's
    ops->flops): forward, dW and, but for the stack's first layer, dx, each 2 in out for an
    Affine and 2 positions taps filters for a convolution."""
    f = 0
    for i, (kind, _, o, a, b) in enumerate(layer_shapes(spec)):
        if kind == "affine":
            mnk = int(np.prod(a)) * b[0]
        elif kind == "conv":
            mnk = b[1] * b[2] * o["kh"] * o["kw"] * a[0] * b[0]
        else:
            continue
        f += (4 if i == 0 else 6) * mnk
    return f


def load_idx(spec, cache={}):
    """The config's training images (n, 784) as float32 in [0, 1] and labels, from IDX files
    (gzip or raw); each file pair read once per process."""
    def idx(path, offset):
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    key = (spec["images"], spec["labels"])
    if key not in cache:
        x = idx(spec["images"], 16).reshape(-1, 784)
        y = idx(spec["labels"], 8)
        cache[key] = (x.astype(np.float32) / np.float32(255.0)), y.astype(np.int64)
    return cache[key]


def timed(step, n_batches, batch):
    """Warm up, then SEGMENTS segments; best segment's samples/s."""
    b = 0
    best = 0.0
    seconds = float(os.environ.get("OT_BENCH_SECONDS", "2"))
    for seg in range(SEGMENTS + 1):
        target = WARMUP if seg == 0 else seconds / SEGMENTS
        k = 0
        t0 = time.perf_counter()
        while True:
            step(b)
            b = (b + 1) % n_batches
            k += 1
            dt = time.perf_counter() - t0
            if dt >= target:
                break
        if seg:
            best = max(best, k * batch / dt)
    return best


# ---- peers (run in a worker process per library variant and thread count) ----

def torch_model(spec):
    """The stack in torch.nn, images NCHW; CrossEntropyLoss is the SoftmaxWithLoss."""
    import torch.nn as nn
    mods = []
    for kind, w, o, a, b in layer_shapes(spec):
        if kind == "conv":
            mods.append(nn.Conv2d(a[0], b[0], (o["kh"], o["kw"]), o["stride"], o["pad"]))
        elif kind in ("maxpool", "avgpool"):
            pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
            mods.append(pool((o["kh"], o["kw"]), o["stride"]))
        elif kind == "affine":
            if len(a) > 1:
                mods.append(nn.Flatten())
            mods.append(nn.Linear(int(np.prod(a)), b[0]))
        elif kind == "flatten":
            mods.append(nn.Flatten())
        elif kind == "dropout":
            mods.append(nn.Dropout(float(w[0])))
        else:
            mods.append(nn.ReLU() if kind == "relu" else nn.Sigmoid())
    return nn.Sequential(*mods)


def run_torch(spec, x, y, threads):
    """Best samples/s and the memory format that gave it (None for the dense models)."""
    import torch
    torch.set_num_threads(threads)
    image = len(spec["input"]) == 3
    formats = ((("NCHW", torch.contiguous_format), ("NHWC", torch.channels_last)) if image
               else ((None, torch.contiguous_format),))
    X, Y = torch.from_numpy(x), torch.from_numpy(y)
    B = spec["batch"]
    perm = torch.from_numpy(np.random.default_rng(42).permutation(len(x)))
    nb = len(x) // B
    best = (0.0, None)
    for name, fmt in formats:
        torch.manual_seed(42)
        model = torch_model(spec)
        if image:
            model = model.to(memory_format=fmt)
        opt = torch.optim.SGD(model.parameters(), lr=spec["lr"])
        lossf = torch.nn.CrossEntropyLoss()

        def step(b):
            idx = perm[b * B:(b + 1) * B]
            xb, yb = X.index_select(0, idx), Y.index_select(0, idx)
            if image:
                xb = xb.view(B, *spec["input"]).contiguous(memory_format=fmt)
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
        best = max(best, (timed(step, nb, B), name), key=lambda r: r[0])
    return best


def numpy_fits(spec):
    """Whether the numpy peer has the model: a two-layer net given by widths."""
    return spec["widths"] is not None and len(spec["widths"]) == 3


def run_numpy(spec, x, y, threads):
    """The float32 textbook two-layer net (affine, relu, affine, softmax-with-loss, SGD)."""
    if not numpy_fits(spec):
        return None
    layers = spec["widths"]
    rng = np.random.default_rng(42)
    n_in, n_h, n_out = layers
    W1 = (0.01 * rng.standard_normal((n_in, n_h))).astype(np.float32)
    b1 = np.zeros(n_h, np.float32)
    W2 = (0.01 * rng.standard_normal((n_h, n_out))).astype(np.float32)
    b2 = np.zeros(n_out, np.float32)
    lr = np.float32(spec["lr"])
    B = spec["batch"]
    perm = rng.permutation(len(x))
    nb = len(x) // B
    eye = np.eye(n_out, dtype=np.float32)

    def step(b):
        nonlocal W1, b1, W2, b2
        idx = perm[b * B:(b + 1) * B]
        xb, t = x[idx], eye[y[idx]]
        a1 = xb @ W1 + b1
        z1 = np.maximum(a1, 0)
        a2 = z1 @ W2 + b2
        a2 = a2 - a2.max(axis=1, keepdims=True)
        e = np.exp(a2)
        p = e / e.sum(axis=1, keepdims=True)
        loss = -np.sum(t * np.log(p + np.float32(1e-7))) / B  # noqa: F841 (computed, as in training)
        dy = (p - t) / np.float32(B)
        gW2 = z1.T @ dy
        gb2 = dy.sum(axis=0)
        dz = dy @ W2.T
        dz[a1 <= 0] = 0
        gW1 = xb.T @ dz
        gb1 = dz.sum(axis=0)
        W1 -= lr * gW1
        b1 -= lr * gb1
        W2 -= lr * gW2
        b2 -= lr * gb2
    return timed(step, nb, B), None


def worker(args):
    out = {}
    for m in args.models.split(","):
        spec = model_spec(m)
        fn = run_torch if args.worker == "torch" else run_numpy
        out[m] = fn(spec, *load_idx(spec), int(args.threads))  # (samples/s, torch's format) or None
    print(json.dumps(out))
    return 0


def cpu_busy(interval=0.5):
    """Cores busy over a short sample of /proc/stat (others' jobs make timings meaningless)."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = read()
    time.sleep(interval)
    t1, i1 = read()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(t1 - t0, 1))


def wait_idle(limit=10.0):
    """Wait (up to limit s) until under 0.3 cores are busy; say so when it gives up."""
    t0 = time.time()
    while time.time() - t0 < limit:
        busy = cpu_busy()
        if busy < 0.3:
            return
    print(f"  (machine still busy: {busy:.1f} cores in use; timing anyway)", flush=True)


def spawn_peer(kind, variant, threads, models, seconds):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OT_BENCH_SECONDS=str(seconds))
    if variant == "omp":
        env["LD_LIBRARY_PATH"] = OPENMP_BLAS + (":" + env["LD_LIBRARY_PATH"]
                                                if env.get("LD_LIBRARY_PATH") else "")
    wait_idle()
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", kind, "--threads",
           str(threads), "--models", ",".join(models)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr)
        sys.exit(f"compare_pytorch.py: {kind}/{variant} at {threads} threads failed")
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_omptrain(exe, m, threads, seconds, outdir, shards=None):
    env = dict(os.environ, OT_BENCH_SECONDS=str(seconds))
    d = os.path.join(outdir, f"omptrain-{m}")
    cmd = [exe, "bench", "--threads", ",".join(map(str, threads)), "-o", d]
    if shards is not None:
        cmd += ["-S", f"training.shards={shards}"]
    cmd.append(f"configs/bench-{m}.ini")
    wait_idle()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        sys.exit(f"compare_pytorch.py: {' '.join(cmd)} failed")
    with open(os.path.join(d, "bench.csv"), newline="") as f:
        return {int(row["threads"]): row for row in csv.DictReader(f)}


def keep(res, key, name, v):
    """res[key][name] = v if v beats what an earlier round had; whether it did."""
    row = res.setdefault(key, {})
    if v > row.get(name, 0.0):
        row[name] = v
        return True
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure everything this many times, alternating omptrain and the peers; "
                         "each keeps its best round")
    ap.add_argument("--omptrain", default="./omptrain")
    ap.add_argument("--csv", default="runs/compare/compare.csv")
    ap.add_argument("--shards", type=int,
                    help="omptrain's shard count instead of the config's (e.g. 16 for 16 threads)")
    ap.add_argument("--worker", choices=["torch", "numpy"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error(f"--rounds {args.rounds}: expected a whole number of at least 1")
    if args.worker:
        return worker(args)
    try:
        threads = [int(t) for t in args.threads.split(",")]
    except ValueError:
        threads = [0]
    if not all(1 <= t <= 4096 for t in threads):
        ap.error(f"--threads {args.threads}: expected comma-separated thread counts in "
                 "[1, 4096], e.g. 1,2")
    if not 0 < args.seconds <= 3600:
        ap.error(f"--seconds {args.seconds:g}: expected seconds in (0, 3600] (omptrain bench's "
                 "OT_BENCH_SECONDS)")
    if args.shards is not None and not 1 <= args.shards <= 1024:
        ap.error(f"--shards {args.shards}: expected an integer in [1, 1024] (training.shards)")
    models = args.models.split(",")
    unknown = [m for m in models if m not in MODELS.split(",")]
    if unknown:
        ap.error(f"--models: unknown model '{unknown[0]}', expected a comma list of {MODELS}")
    if not (os.path.isfile(args.omptrain) and os.access(args.omptrain, os.X_OK)):
        ap.error(f"--omptrain {args.omptrain}: not an executable file (build it with make)")
    if importlib.util.find_spec("torch") is None:  # said now, not after omptrain's first round
        sys.exit(f"compare_pytorch.py: {sys.executable} has no torch: apt-get install "
                 "python3-torch (Debian's PyTorch), then run it with /usr/bin/python3")
    outdir = os.path.dirname(args.csv) or "."
    os.makedirs(outdir, exist_ok=True)

    res = {}  # (model, threads) -> {name: samples/s, the best of the rounds}
    ceil = {}
    fmt = {}  # (model, threads, torch peer) -> torch's memory format (convolutional models)
    omp_fps = {}  # model -> FLOP per sample as omptrain bench counted it
    t_start = time.time()
    for rnd in range(args.rounds):
        if args.rounds > 1:
            print(f"round {rnd + 1}/{args.rounds}", flush=True)
        for m in models:
            rows = run_omptrain(args.omptrain, m, threads, args.seconds, outdir, args.shards)
            for t in threads:
                keep(res, (m, t), "omptrain", float(rows[t]["samples_per_s"]))
                ceil[(m, t)] = max(ceil.get((m, t), 0.0), float(rows[t]["gemm_ceiling_gflops"]))
                omp_fps[m] = float(rows[t]["gflops"]) * 1e9 / float(rows[t]["samples_per_s"])
            print(f"omptrain {m}: " + ", ".join(f"{t}t {float(rows[t]['samples_per_s']):.0f}/s"
                                               for t in threads), flush=True)
        for kind, variant in (("torch", "pth"), ("torch", "omp"), ("numpy", "pth")):
            if variant == "omp" and not os.path.isdir(OPENMP_BLAS):
                if rnd == 0:
                    print(f"torch/omp: left out, no {OPENMP_BLAS} (apt-get install "
                          "libopenblas0-openmp)", flush=True)
                continue
            ms = models if kind == "torch" else [m for m in models if numpy_fits(model_spec(m))]
            if not ms:
                continue
            for t in threads:
                out = spawn_peer(kind, variant, t, ms, args.seconds)
                name = f"torch/{variant}" if kind == "torch" else "numpy"
                for m, v in out.items():
                    if v is not None and keep(res, (m, t), name, v[0]) and v[1]:
                        fmt[(m, t, name)] = v[1]
                print(f"{name} {t}t: " + ", ".join(
                    f"{m} {v[0]:.0f}/s" + (f" ({v[1]})" if v[1] else "")
                    for m, v in out.items() if v), flush=True)

    peers = ["torch/pth", "torch/omp", "numpy"]
    hdr = (f"{'model':<10}{'thr':>4}{'omptrain':>11}{'torch/pth':>11}{'torch/omp':>11}"
           f"{'numpy':>11}  {'best peer':<10}{'ratio':>7}{'omp %ceil':>10}{'torch %ceil':>12}")
    print("\nGEMM FLOP per sample (forward, dW, dx; omptrain bench's count):")
    for m in models:
        fps = flops_per_sample(model_spec(m))
        note = ("" if abs(omp_fps[m] - fps) <= 1e-3 * fps
                else f"  (omptrain bench counted {omp_fps[m] / 1e6:.3f} M: the counts differ)")
        print(f"  {m:<10}{fps / 1e6:9.3f} M{note}")
    print("\nsamples/s (best of 5 segments of %.1f s each run%s); ratio = omptrain / best peer"
          % (args.seconds / SEGMENTS, ", best of %d rounds" % args.rounds if args.rounds > 1
             else ""))
    print(hdr)
    table = []
    for m in models:
        spec = model_spec(m)
        fps = flops_per_sample(spec)
        for t in threads:
            r = res[(m, t)]
            best = max((p for p in peers if p in r), key=lambda p: r[p])
            ratio = r["omptrain"] / r[best]
            best_torch = max(r.get("torch/pth", 0), r.get("torch/omp", 0))
            torch_fmt = fmt.get((m, t, max(("torch/pth", "torch/omp"),
                                           key=lambda p: r.get(p, 0))), "")
            oc = r["omptrain"] * fps / 1e9 / ceil[(m, t)]
            tc = best_torch * fps / 1e9 / ceil[(m, t)]
            cells = "".join(f"{r[p]:>11.0f}" if p in r else f"{'-':>11}" for p in peers)
            print(f"{m:<10}{t:>4}{r['omptrain']:>11.0f}{cells}  {best:<10}{ratio:>6.2f}x"
                  f"{100 * oc:>9.1f}%{100 * tc:>11.1f}%")
            table.append([m, spec["batch"], t, f"{r['omptrain']:.0f}"]
                         + [f"{r[p]:.0f}" if p in r else "" for p in peers]
                         + [best, f"{ratio:.3f}", f"{ceil[(m, t)]:.1f}", f"{oc:.4f}",
                            f"{tc:.4f}", f"{fps:.0f}", torch_fmt])
    layouts = [f"{m} {t}t {p} {v}" for (m, t, p), v in sorted(fmt.items())]
    if layouts:
        print("torch's faster memory format: " + ", ".join(layouts))
    with open(args.csv, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "batch", "threads", "omptrain", "torch_pthread", "torch_openmp",
                    "numpy", "best_peer", "ratio", "gemm_ceiling_gflops", "omptrain_share",
                    "torch_share", "flop_per_sample", "torch_format"])
        w.writerows(table)
    print(f"csv: {args.csv}  ({time.time() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
