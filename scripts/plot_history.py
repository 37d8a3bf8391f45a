#!/usr/bin/python3
"""plot_history.py RUN_DIR|HISTORY.h5 - plot a run's loss and accuracy curves from
RUN_DIR/history.h5 into RUN_DIR/history.png (given a history file, into the same name with
.png).

Left: the training loss of every step (thin), its moving average, and the per-epoch mean
training and test losses. Right: training and test accuracy per epoch. The x axis is in
epochs; step k sits at k / steps_per_epoch. The history can be read while the run is still
going (omptrain flushes it after every epoch).

Needs Debian's python3-h5py and python3-matplotlib (scripts/setup.sh installs them).
Exit status: 0 written, 1 the history cannot be read or the plot written, 2 usage."""
import os
import sys

try:  # one line, not a traceback: the python3 first on PATH may lack them
    import matplotlib
    import numpy as np
    import h5py
except ImportError as e:  # pragma: no cover
    sys.exit(f"plot_history.py: {sys.executable} has no {e.name}: run it with /usr/bin/python3 "
             "(apt-get install python3-matplotlib python3-h5py python3-numpy)")

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402

METRICS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
OPTIONAL = ("val_loss", "val_acc")


def has_values(epochs, key):
    return key in epochs and len(epochs[key]) and np.isfinite(epochs[key]).any()


def read_history(path):
    """The step and epoch columns of history.h5 as numpy arrays."""
    with h5py.File(path, "r") as f:
        if "model" in f and "steps" not in f:
            raise KeyError("an omptrain checkpoint, not a history: give the run's directory or "
                           "its history.h5")
        for name in ("/steps/step", "/steps/loss") + tuple("/epochs/" + m for m in METRICS):
            if name not in f:
                raise KeyError("%s is missing (not an omptrain history)" % name)
        steps = {k: f["/steps/" + k][()] for k in ("step", "loss")}
        epochs = {k: f["/epochs/" + k][()] for k in METRICS}
        for k in OPTIONAL:  # NaN when the run has no validation split
            if "/epochs/" + k in f:
                epochs[k] = f["/epochs/" + k][()]
    return steps, epochs


def moving_average(y, n):
    if len(y) < n or n < 2:
        return None
    c = np.cumsum(np.insert(y.astype(np.float64), 0, 0.0))
    return (c[n:] - c[:-n]) / n


def plural(n, word):
    return "%d %s%s" % (n, word, "" if n == 1 else "s")


def plot(arg):
    """arg: a run directory (its history.h5 -> history.png) or a history file (-> .png)."""
    if os.path.isfile(arg):
        path, out, run_dir = arg, os.path.splitext(arg)[0] + ".png", os.path.dirname(arg) or "."
    else:
        path, out, run_dir = os.path.join(arg, "history.h5"), os.path.join(arg, "history.png"), arg
    try:
        steps, epochs = read_history(path)
    except OSError as e:  # h5py's text is long: the system's reason when there is one
        why = os.strerror(e.errno) if e.errno else str(e)
        print("plot_history.py: %s: cannot open it: %s" % (path, why), file=sys.stderr)
        return 1
    except KeyError as e:
        print("plot_history.py: %s: %s" % (path, e.args[0]), file=sys.stderr)
        return 1
    if len(epochs["epoch"]) == 0 and len(steps["step"]) == 0:
        print("plot_history.py: %s: no epoch finished yet" % path, file=sys.stderr)
        return 1

    ep = epochs["epoch"].astype(np.float64)
    # steps per epoch from the last finished epoch; all epochs have as many steps
    if len(ep) and len(steps["step"]):
        per_epoch = float(steps["step"][-1]) / ep[-1] if ep[-1] > 0 else 1.0
    else:
        per_epoch = max(float(len(steps["step"])), 1.0)
    x_steps = steps["step"].astype(np.float64) / per_epoch

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4.5))
    ax_loss.plot(x_steps, steps["loss"], lw=0.5, alpha=0.35, color="tab:blue",
                 label="train loss per step")
    window = max(1, int(round(per_epoch / 10)))
    ma = moving_average(steps["loss"], window)
    if ma is not None:
        ax_loss.plot(x_steps[window - 1:], ma, lw=1.2, color="tab:blue",
                     label="moving average (%d steps)" % window)
    if len(ep):
        ax_loss.plot(ep, epochs["train_loss"], "o-", color="tab:green", label="train loss (epoch)")
        ax_loss.plot(ep, epochs["test_loss"], "s-", color="tab:red", label="test loss")
        if has_values(epochs, "val_loss"):
            ax_loss.plot(ep, epochs["val_loss"], "^--", color="tab:orange", label="validation loss")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_yscale("log")
    ax_loss.set_ylabel("cross-entropy loss (log scale)")
    ax_loss.set_title("loss")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()

    if len(ep):
        ax_acc.plot(ep, 100 * epochs["train_acc"], "o-", color="tab:green", label="train")
        ax_acc.plot(ep, 100 * epochs["test_acc"], "s-", color="tab:red", label="test")
        if has_values(epochs, "val_acc"):
            ax_acc.plot(ep, 100 * epochs["val_acc"], "^--", color="tab:orange", label="validation")
        best = int(np.argmax(epochs["test_acc"]))
        ax_acc.annotate("%.2f%%" % (100 * epochs["test_acc"][best]),
                        (ep[best], 100 * epochs["test_acc"][best]),
                        textcoords="offset points", xytext=(0, 8), ha="center")
    ax_acc.margins(y=0.15)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_title("accuracy")
    ax_acc.grid(alpha=0.3)
    ax_acc.legend()

    fig.suptitle("%s: %s, %s" % (run_dir.rstrip("/") or "/", plural(len(ep), "epoch"),
                                  plural(len(x_steps), "step")))
    fig.tight_layout()
    try:
        fig.savefig(out, dpi=100)
    except OSError as e:
        print("plot_history.py: cannot write %s: %s" % (out, e), file=sys.stderr)
        return 1
    print("wrote %s (%s, %s)" % (out, plural(len(ep), "epoch"), plural(len(x_steps), "step")))
    return 0


def main(argv):
    if len(argv) != 2 or argv[1] in ("-h", "--help"):
        print("usage: plot_history.py RUN_DIR|HISTORY.h5   (reads RUN_DIR/history.h5, writes "
              "RUN_DIR/history.png; a history file gives its .png beside it)", file=sys.stderr)
        return 2
    return plot(argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
