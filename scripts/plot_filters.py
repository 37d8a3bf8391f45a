#!/usr/bin/python3
"""plot_filters.py CHECKPOINT|RUN_DIR... [--layer convK] [--out PNG] - draw a convolution's
filters as images, the textbook's look at what the first layer learned (chapter 7: from
random noise to edge and blob detectors; with mnist-cnn.ini's He initialisation conv1 stays
much closer to its random start, README "Checkpoints, loss curves, resume").

Each input is a checkpoint, or a run directory (its latest.h5); several give one row of
filters each, in the order given, so that `plot_filters.py run/checkpoint-e0001.h5 run`
shows the filters after the first epoch above the last ones. Each filter is drawn on its
own grey scale (its smallest weight white, its largest black, as the textbook draws them);
a filter over several input channels is drawn as their mean, over three as RGB when
--rgb is given.

  --layer convK   the convolution (default conv1)
  --out PNG       the image to write (default: beside the first input, filters-convK.png);
                  its extension picks the format and must be one matplotlib writes (.png,
                  .pdf, .svg, ...): a name without one is refused rather than silently
                  written to NAME.png, which is what matplotlib does with it
  --rgb           a 3-channel layer's filters in colour instead of their mean

Needs Debian's python3-h5py and python3-matplotlib (scripts/setup.sh installs them).
Exit status: 0 written, 1 an input cannot be read or the image written, 2 usage (an --out
without a known extension included). Errors are one line on stderr."""
import argparse
import os
import sys

try:  # one line, not a traceback: the python3 first on PATH may lack them
    import matplotlib
    import numpy as np
    import h5py
except ImportError as e:  # pragma: no cover
    sys.exit(f"plot_filters.py: {sys.executable} has no {e.name}: run it with /usr/bin/python3 "
             "(apt-get install python3-matplotlib python3-h5py python3-numpy)")

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402


class Fail(Exception):
    """One line for stderr; exit status 1, or status."""

    def __init__(self, msg, status=1):
        super().__init__(msg)
        self.status = status


def check_image_name(out):
    """Refuse an output name whose extension matplotlib does not write (status 2)."""
    kinds = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(out)[1][1:].lower()
    if ext not in kinds:
        why = (f"extension .{ext[:10]} is no format matplotlib writes" if ext else
               f"no extension (matplotlib would write {out}.png)")
        raise Fail(f"{out}: {why}; expected a file name ending in .png (or "
                   f"{', '.join('.' + k for k in sorted(kinds) if k != 'png')})", 2)


def checkpoint_of(path):
    """A checkpoint file: path itself, or a run directory's latest.h5."""
    if os.path.isdir(path):
        latest = os.path.join(path, "latest.h5")
        if not os.path.exists(latest):
            raise Fail(f"{path}: a directory without latest.h5, expected a run directory or "
                       "a checkpoint")
        return latest
    if not os.path.exists(path):
        raise Fail(f"{path}: no such file")
    return path


def read_filters(path, layer):
    """(filters as (F, kh, kw, c) float32, the epoch) of a checkpoint's layer."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise Fail(f"{path}: not a readable HDF5 file ({e})") from e
    with f:
        if "model" not in f:
            raise Fail(f"{path}: no /model group (not an omptrain checkpoint?)")
        convs = sorted((k for k in f["model"] if k.startswith("conv")),
                       key=lambda k: int(k[4:]) if k[4:].isdigit() else 0)
        if f"model/{layer}/W" not in f:
            raise Fail(f"{path}: no /model/{layer}/W; the model's convolutions: "
                       f"{', '.join(convs) if convs else 'none'}")
        w = f[f"model/{layer}/W"][()]
        if w.ndim != 4:
            raise Fail(f"{path}: /model/{layer}/W has shape {w.shape}, expected (kh, kw, "
                       "in_channels, filters)")
        epoch = int(f["state/epoch"][()]) if "state/epoch" in f else None
    return np.transpose(w, (3, 0, 1, 2)), epoch  # HWIO -> (filters, kh, kw, c)


def tile(w, rgb):
    """A filter (kh, kw, c) as an image: grey (kh, kw) scaled to [0, 1], or RGB."""
    img = w if rgb else w.mean(axis=2)
    lo, hi = img.min(), img.max()
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def main(argv):
    p = argparse.ArgumentParser(prog="plot_filters.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                usage=argparse.SUPPRESS)
    p.add_argument("inputs", nargs="+", metavar="CHECKPOINT|RUN_DIR")
    p.add_argument("--layer", default="conv1")
    p.add_argument("--out")
    p.add_argument("--rgb", action="store_true")
    a = p.parse_args(argv)
    if a.out is not None:
        check_image_name(a.out)
    rows = []
    for path in a.inputs:
        ck = checkpoint_of(path)
        w, epoch = read_filters(ck, a.layer)
        if a.rgb and w.shape[3] != 3:
            raise Fail(f"{ck}: --rgb needs a layer over 3 channels; {a.layer} has {w.shape[3]}")
        rows.append((ck, w, epoch))
    shapes = {w.shape[:3] for _, w, _ in rows}
    if len(shapes) > 1:
        raise Fail(f"{a.layer} has other shapes in the inputs ({', '.join(str(s) for s in shapes)}): "
                   "expected runs of one model")
    n = rows[0][1].shape[0]
    cols = min(n, 10)
    lines = (n + cols - 1) // cols
    fig = plt.figure(layout="constrained",
                     figsize=(max(cols, 4) * 0.7, len(rows) * (lines * 0.7 + 0.35) + 0.3))
    subs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    for sub, (ck, w, epoch) in zip(subs, rows):
        axes = sub.subplots(lines, cols, squeeze=False)
        for i in range(lines * cols):
            ax = axes[i // cols][i % cols]
            ax.set_xticks([])
            ax.set_yticks([])
            if i < n:
                ax.imshow(tile(w[i], a.rgb), cmap=None if a.rgb else "gray_r",
                          interpolation="nearest", vmin=0.0, vmax=1.0)
            else:
                ax.axis("off")
        real = os.path.realpath(ck)  # latest.h5 is a link: the checkpoint's own name
        sub.suptitle(os.path.join(os.path.basename(os.path.dirname(real)),
                                  os.path.basename(real)) +
                     (f", epoch {epoch}" if epoch is not None else ""), fontsize=8, x=0.02,
                     ha="left")
    kh, kw, c = rows[0][1].shape[1:]
    fig.suptitle(f"{a.layer}: {n} filters of {kh}x{kw}"
                 + (f" over {c} channels ({'RGB' if a.rgb else 'their mean'})" if c > 1 else ""),
                 fontsize=9)
    out = a.out or os.path.join(a.inputs[0] if os.path.isdir(a.inputs[0])
                                else os.path.dirname(a.inputs[0]) or ".",
                                f"filters-{a.layer}.png")
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        raise Fail(f"{out}: cannot write it: {e.strerror}; expected a writable file in an "
                   "existing directory") from e
    print(f"wrote {out} ({a.layer}: {n} filters of {kh}x{kw}, {len(rows)} "
          f"checkpoint{'s' if len(rows) > 1 else ''})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        print(f"plot_filters.py: {e}", file=sys.stderr)
        sys.exit(e.status)
