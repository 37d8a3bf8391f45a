#!/usr/bin/python3
"""to_torch.py - an omptrain checkpoint as the equivalent torch.nn.Sequential.

usage: /usr/bin/python3 scripts/to_torch.py CHECKPOINT [--eval] [--omptrain ./omptrain]
                                            [--save MODEL.pt]

CHECKPOINT may be a run's directory (its latest.h5). Reads the run's config from the
checkpoint's root attribute `config`, the shape of a sample
and the input's standardisation from /input, and its parameters from /model, prints the model,
and with --eval runs it on the config's test set (data.test_images and data.test_labels, IDX
raw or gzip, or data.test_file, HDF5 with data.features, data.labels and data.layout; relative
to the working directory; data.test_limit honoured), read as omptrain reads it: uint8 values u
as float32 u * (1/255), floats as stored, images NCHW (N, channels, rows, cols), vectors (N, D).
--omptrain BINARY also runs `BINARY eval --checkpoint CHECKPOINT CONFIG` on the stored config
(implies --eval) and prints both results. --save writes the whole module with torch.save (never
over the checkpoint read or any other HDF5 file); a
model that standardises its input holds a to_torch.Standardize, so torch.load needs scripts/ on
sys.path (import to_torch) to read it back.

The mapping (omptrain stores images NHWC; torch works NCHW):
  data.normalize = mean_std        Standardize first: (x - mean) / std with /input/mean and
                                   /input/std (per channel, or per feature in (c, h, w) order)
  conv F KHxKW [stride S] [pad P]  Conv2d; weight = W.transpose(3, 2, 0, 1): W is (kh, kw, in, F)
    [winograd|winograd4]           (omptrain's kernel choice: the same Conv2d)
  maxpool / avgpool WIN [stride S] MaxPool2d / AvgPool2d (omptrain pools have no padding)
  flatten, or affine on an image   Flatten: torch flattens (c, h, w), omptrain (h, w, c)
  affine N                         Linear; weight = W[perm].T with perm taking the (c, h, w)
                                   flatten order to omptrain's (h, w, c) rows; W is (in, out)
  relu / sigmoid                   ReLU / Sigmoid
  batchnorm                        BatchNorm2d per channel on an image, BatchNorm1d on a vector;
                                   gamma, beta, running_mean, running_var; eps 1e-5,
                                   momentum 1 - model.bn_momentum
  dropout RATE                     left out (inverted dropout: evaluation never drops)
  (softmax loss)                   left out: the model returns logits
model.layers as widths ("784, 50, 10") means, per hidden layer, affine, [batchnorm if
model.batchnorm], model.activation (one name, or one per hidden layer), [dropout]; then the
last affine. The model takes NCHW images in both syntaxes (a width model starts with Flatten),
or (N, D) where the run's samples were vectors (HDF5 N x D data).

Needs Debian's python3-h5py, python3-numpy and python3-torch (apt-get install python3-torch);
run from the repository root. Exit status: 0 done, 1 a file cannot be read or does not match,
2 usage."""
import argparse
import configparser
import gzip
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import h5py
    import torch
    from torch import nn
except ImportError as e:
    sys.exit(f"to_torch.py: {e.name} is missing: run with /usr/bin/python3 (Debian's "
             "python3-h5py, python3-numpy, python3-torch: apt-get install python3-torch)")

BN_EPS = 1e-5  # OT_BN_EPS in include/ot_batchnorm.h


class Standardize(nn.Module):
    """data.normalize = mean_std: (x - mean) / std element-wise, as omptrain standardises its
    samples and as its ONNX export's Sub and Div do (float32, so the same bits)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std

    def extra_repr(self):
        return "(x - mean) / std, mean and std " + "x".join(map(str, self.mean.shape))


# torch.save records the class as to_torch.Standardize, run as a script or imported
Standardize.__module__ = "to_torch"
sys.modules.setdefault("to_torch", sys.modules[__name__])


class Fail(Exception):
    """One line for stderr, exit status 1."""


def read_idx(path, ndim):
    """An IDX file of unsigned bytes (raw or gzip) as a uint8 array of its ndim dimensions."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except OSError as e:
        raise Fail(f"{path}: {e.strerror} (the stored config's data paths are relative to the "
                   "working directory: run from the repository root)")
    if len(raw) < 4 + 4 * ndim or raw[:3] != b"\0\0\x08" or raw[3] != ndim:
        raise Fail(f"{path}: not an IDX file of unsigned bytes with {ndim} dimensions")
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    data = np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim)
    if data.size != np.prod(dims):
        raise Fail(f"{path}: {data.size} bytes of data, expected {'x'.join(map(str, dims))}")
    return data.reshape(dims)


def layer_items(model):
    """model.layers in the layer syntax, the width syntax expanded into it."""
    items = [s.strip() for s in model["layers"].split(",")]
    if not all(re.fullmatch(r"\d+", s) for s in items):
        return items
    widths = [int(s) for s in items]
    acts = [a.strip() for a in model.get("activation", "relu").split(",")]
    hidden = len(widths) - 2
    if len(acts) == 1:
        acts *= hidden
    if len(acts) != hidden:
        raise Fail(f"model.activation lists {len(acts)} names for {hidden} hidden layers")
    bn = model.get("batchnorm", "false") == "true"
    out = []
    for i, n in enumerate(widths[1:]):
        out.append(f"affine {n}")
        if i < hidden:
            out += ["batchnorm"] * bn + [acts[i]]
    return out


def window(word, item):
    m = re.fullmatch(r"(\d+)(?:x(\d+))?", word)
    if not m:
        raise Fail(f"layer '{item}': '{word}' is not a window size such as 5x5 or 2")
    return int(m[1]), int(m[2] or m[1])


def options(words, item, **defaults):
    """'stride S' and 'pad P' pairs into a dict over the defaults given."""
    opts = dict(defaults)
    for k, v in zip(words[::2], words[1::2]):
        if k not in opts or not v.isdigit():
            raise Fail(f"layer '{item}': unexpected '{k} {v}'")
        opts[k] = int(v)
    if len(words) % 2:
        raise Fail(f"layer '{item}': '{words[-1]}' has no value")
    return opts


def tensor(f, name, want, why="the stored config's model.layers needs it"):
    """Dataset /name of the checkpoint f as a float32 tensor of shape want."""
    if name not in f:
        raise Fail(f"{f.filename}: no dataset /{name} ({why})")
    a = f[name][()].astype(np.float32)
    if a.shape != tuple(want):
        raise Fail(f"{f.filename}: /{name} has shape {a.shape}, expected {tuple(want)} "
                   f"({why})")
    return torch.from_numpy(np.ascontiguousarray(a))


def text_attr(obj, name):
    v = obj.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def sample_of(f, data):
    """The shape of one sample the model takes, (channels, height, width) or (D,) for a vector,
    and its standardisation (a Standardize, or None): from the checkpoint's /input, or, in a
    checkpoint without it, from the header of the config's IDX test images."""
    if "input" not in f:
        return (1, *read_idx(data["test_images"], 3).shape[1:]), None
    g = f["input"]
    try:
        h, w, c = (int(g.attrs[k]) for k in ("height", "width", "channels"))
        flat, how = int(g.attrs["flat"]), text_attr(g, "normalize")
        by = text_attr(g, "normalize_by") if how == "mean_std" else None
    except KeyError as e:
        raise Fail(f"{f.filename}: /input lacks the attribute {e}")
    shape = (h * w * c,) if flat else (c, h, w)
    if how != "mean_std":
        return shape, None
    why = f"data.normalize = mean_std by {by}"
    if flat:
        want, order = shape, None
    elif by == "channel":
        want, order = (c,), None
    else:
        want, order = (h, w, c), (2, 0, 1)  # omptrain's (h, w, c) -> torch's (c, h, w)
    mean, std = (tensor(f, f"input/{k}", want, why) for k in ("mean", "std"))
    if order:
        mean, std = mean.permute(order).contiguous(), std.permute(order).contiguous()
    elif not flat:
        mean, std = mean.reshape(c, 1, 1), std.reshape(c, 1, 1)
    return shape, Standardize(mean, std)


def build(f, cfg, sample, standardize):
    """The nn.Sequential of the checkpoint f (an open h5py.File) under config cfg, for samples
    of shape sample ((c, h, w) or (D,)), standardize (a module or None) first."""
    items = layer_items(cfg["model"])
    mods, counts = [standardize] if standardize else [], {}
    # the activation: (c, h, w) image, or a vector of n features of which torch's feature j is
    # omptrain's feature perm[j] (perm None: the same order)
    shape, perm, n = (sample, None, None) if len(sample) == 3 else (None, None, sample[0])

    def tensor_of(name, want):
        return tensor(f, name, want)

    def flatten():
        nonlocal shape, perm, n
        c, h, w = shape
        # torch's flat index j = (ch * h + y) * w + x is omptrain's (y * w + x) * c + ch
        ch, y, x = np.unravel_index(np.arange(c * h * w), (c, h, w))
        perm = None if c == 1 else (y * w + x) * c + ch
        shape, n = None, c * h * w
        mods.append(nn.Flatten())

    for item in items:
        words = item.split()
        kind = words[0]
        prefix = {"batchnorm": "bn"}.get(kind, kind)
        counts[prefix] = counts.get(prefix, 0) + 1
        name = f"{prefix}{counts[prefix]}"
        if kind in ("conv", "maxpool", "avgpool") and shape is None:
            raise Fail(f"layer '{item}' needs an image, but its input is a vector")
        if kind == "conv":
            filters = int(words[1])
            kh, kw = window(words[2], item)
            # winograd and winograd4 pick omptrain's kernel, not the maths: Conv2d either way
            o = options([x for x in words[3:] if x not in ("winograd", "winograd4")], item,
                        stride=1, pad=0)
            c, h, w = shape
            W = tensor_of(f"model/{name}/W", (kh, kw, c, filters))
            m = nn.Conv2d(c, filters, (kh, kw), stride=o["stride"], padding=o["pad"])
            m.weight.data = W.permute(3, 2, 0, 1).contiguous()  # HWIO -> OIHW
            m.bias.data = tensor_of(f"model/{name}/b", (filters,))
            shape = (filters, (h + 2 * o["pad"] - kh) // o["stride"] + 1,
                     (w + 2 * o["pad"] - kw) // o["stride"] + 1)
        elif kind in ("maxpool", "avgpool"):
            kh, kw = window(words[1], item)
            o = options(words[2:], item, stride=kh)
            pool = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
            m = pool((kh, kw), stride=o["stride"])
            c, h, w = shape
            shape = (c, (h - kh) // o["stride"] + 1, (w - kw) // o["stride"] + 1)
        elif kind == "flatten":
            flatten()
            continue
        elif kind == "affine":
            if shape is not None:
                flatten()
            out = int(words[1])
            W = tensor_of(f"model/{name}/W", (n, out))
            m = nn.Linear(n, out)
            m.weight.data = (W if perm is None else W[torch.from_numpy(perm)]).T.contiguous()
            m.bias.data = tensor_of(f"model/{name}/b", (out,))
            perm, n = None, out
        elif kind == "batchnorm":
            d, bn = (n, nn.BatchNorm1d) if shape is None else (shape[0], nn.BatchNorm2d)
            # torch's momentum is the weight of the batch: 1 - model.bn_momentum (only training
            # uses it; omptrain's running_var averages the biased batch variance)
            decay = float(cfg["model"].get("bn_momentum", "0.9"))
            m = bn(d, eps=BN_EPS, momentum=round(1 - decay, 9))
            for ours, theirs in (("gamma", "weight"), ("beta", "bias"),
                                 ("running_mean", "running_mean"), ("running_var", "running_var")):
                t = tensor_of(f"model/{name}/{ours}", (d,))
                getattr(m, theirs).data = t if perm is None else t[torch.from_numpy(perm)]
        elif kind in ("relu", "sigmoid"):
            m = nn.ReLU() if kind == "relu" else nn.Sigmoid()
        elif kind == "dropout":
            continue
        else:
            raise Fail(f"layer '{item}': unknown kind '{kind}'")
        mods.append(m)
    return nn.Sequential(*mods).eval()


def test_set(data):
    """The config's test samples as omptrain reads them (float32, images NCHW, vectors N x D)
    and their labels (int64), data.test_limit honoured."""
    limit = int(data.get("test_limit", "0")) or None
    if "test_file" not in data:
        images = read_idx(data["test_images"], 3)[:limit, None]  # one channel
        labels = read_idx(data["test_labels"], 1)[:limit]
        path = data["test_images"]
    else:
        path = data["test_file"]
        names = (data.get("features", "data"), data.get("labels", "label"))
        if not os.path.isfile(path):
            raise Fail(f"{path}: no such file (the stored config's data paths are relative to "
                       "the working directory: run from the repository root)")
        try:
            h = h5py.File(path, "r")
        except OSError as e:
            raise Fail(f"{path}: not a readable HDF5 file ({e})")
        with h:
            for name in names:
                if name not in h:
                    raise Fail(f"{path}: no dataset '{name}'")
            images, labels = h[names[0]][:limit], h[names[1]][:limit]
        if images.ndim == 3:
            images = images[:, None]
        elif images.ndim == 4 and data.get("layout", "nhwc") == "nhwc":
            images = images.transpose(0, 3, 1, 2)
        labels = labels.reshape(len(labels), -1)[:, 0]
    if len(images) != len(labels):
        raise Fail(f"{path}: {len(images)} test samples but {len(labels)} labels")
    if images.dtype == np.uint8:  # as omptrain: u * (1/255) in float32
        images = images.astype(np.float32) * np.float32(1.0 / 255.0)
    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    return x, torch.from_numpy(labels.astype(np.int64))


def omptrain_eval(binary, ckpt, config_text):
    """(loss, accuracy in %) from `binary eval --checkpoint ckpt` on the stored config."""
    with tempfile.NamedTemporaryFile("w", suffix=".ini") as t:
        t.write(config_text)
        t.flush()
        try:
            r = subprocess.run([binary, "eval", "--checkpoint", ckpt, t.name],
                               capture_output=True, text=True)
        except OSError as e:
            raise Fail(f"--omptrain {binary}: cannot run it ({e.strerror or e})")
    m = re.search(r"test loss (\S+)\s+acc\s+(\S+)%", r.stdout)
    if r.returncode or not m:
        raise Fail(f"{binary} eval failed (exit status {r.returncode}): {r.stderr.strip()}")
    return float(m[1]), float(m[2])


def refuse_save(path, ckpt):
    """Fail if --save PATH would replace the checkpoint read or any HDF5 file (another
    checkpoint, a history): torch.save writes a zip archive over whatever is there."""
    if os.path.exists(path) and os.path.exists(ckpt) and os.path.samefile(path, ckpt):
        raise Fail(f"--save {path}: it is the checkpoint being read; give another path "
                   "(MODEL.pt)")
    if os.path.isdir(path):
        raise Fail(f"--save {path}: it is a directory; expected a file path such as MODEL.pt")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError:
        return
    if head == b"\x89HDF\r\n\x1a\n":
        raise Fail(f"--save {path}: it is an HDF5 file (a checkpoint or history?) that "
                   "torch.save would replace; give another path (MODEL.pt)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--eval", action="store_true", help="evaluate on the config's test set")
    ap.add_argument("--omptrain", metavar="BINARY", help="also run BINARY eval and compare")
    ap.add_argument("--save", metavar="PATH", help="torch.save the model to PATH")
    a = ap.parse_args()
    torch.set_num_threads(1)  # a shared 2-core machine; 10000 images take seconds
    try:
        if os.path.isdir(a.checkpoint):  # a run's directory: its latest checkpoint, as omptrain
            a.checkpoint = os.path.join(a.checkpoint, "latest.h5")
        if not os.path.isfile(a.checkpoint):
            raise Fail(f"{a.checkpoint}: no such file")
        if a.save:
            refuse_save(a.save, a.checkpoint)
        try:
            f = h5py.File(a.checkpoint, "r")
        except OSError as e:
            raise Fail(f"{a.checkpoint}: not a readable HDF5 file ({e})")
        with f:
            if "config" not in f.attrs:
                raise Fail(f"{a.checkpoint}: no root attribute 'config' (not an omptrain "
                           "checkpoint?)")
            text = f.attrs["config"]
            text = text.decode() if isinstance(text, bytes) else str(text)
            cfg = configparser.ConfigParser()
            cfg.read_string(text)
            data = cfg["data"]
            model = build(f, cfg, *sample_of(f, data))
        print(model)
        if a.save:  # whole or not at all: a file of the same name stays until it is written
            tmp = f"{a.save}.tmp{os.getpid()}"
            try:
                torch.save(model, tmp)
                os.replace(tmp, a.save)
            except (OSError, RuntimeError) as e:  # torch's own errors are RuntimeErrors
                raise Fail(f"{a.save}: cannot write it ({getattr(e, 'strerror', None) or e})")
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
            print(f"wrote {a.save}")
        if not (a.eval or a.omptrain):
            return 0
        x, y = test_set(data)
        with torch.no_grad():
            logits = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)])
        loss = nn.functional.cross_entropy(logits, y).item()
        correct = int((logits.argmax(1) == y).sum())
        print(f"torch    test loss {loss:.4f}  acc {100.0 * correct / len(y):.2f}%  "
              f"({correct} of {len(y)} correct)")
        if a.omptrain:
            l2, acc2 = omptrain_eval(a.omptrain, a.checkpoint, text)
            print(f"omptrain test loss {l2:.4f}  acc {acc2:.2f}%")
        return 0
    except Fail as e:
        print(f"to_torch.py: {e}", file=sys.stderr)
        return 1
    except (KeyError, ValueError) as e:
        print(f"to_torch.py: {a.checkpoint}: the stored config lacks or garbles {e}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
