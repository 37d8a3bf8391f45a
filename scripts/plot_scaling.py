#!/usr/bin/python3
"""plot_scaling.py CSV [PNG] - speed-up against thread count from `omptrain bench`'s CSV.

Draws the measured speed-up and the ideal (linear) line; PNG defaults to CSV with .png.
Run with /usr/bin/python3 (Debian's matplotlib); uses the Agg backend, no display needed."""
import csv
import os
import sys

try:
    import matplotlib
except ImportError:  # one line, not a traceback: omptrain bench prints its own after it
    print("plot_scaling.py: needs matplotlib (apt-get install python3-matplotlib)",
          file=sys.stderr)
    sys.exit(2)

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(argv):
    if len(argv) not in (2, 3):
        print("usage: plot_scaling.py CSV [PNG]", file=sys.stderr)
        return 2
    path = argv[1]
    png = argv[2] if len(argv) == 3 else os.path.splitext(path)[0] + ".png"
    try:
        with open(path, newline="") as f:
            rows = sorted(csv.DictReader(f), key=lambda r: int(r["threads"]))
        t = [int(r["threads"]) for r in rows]
        s = [float(r["speedup"]) for r in rows]
        notes = [f"{float(r['samples_per_s']) / 1e3:.0f}k/s" for r in rows]
        title = (f"{os.path.basename(rows[0]['config'])}: batch {rows[0]['batch']}, "
                 f"shards {rows[0]['shards']}" if rows else "")
    except OSError as e:
        print(f"plot_scaling.py: {path}: cannot read it: {e.strerror}", file=sys.stderr)
        return 1
    except (KeyError, ValueError, TypeError) as e:
        print(f"plot_scaling.py: {path}: not a CSV of omptrain bench ({e!r}), expected its "
              "columns threads, speedup, samples_per_s, config, batch, shards", file=sys.stderr)
        return 1
    if not rows:
        print(f"plot_scaling.py: {path}: no rows", file=sys.stderr)
        return 1
    base = t[0]
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(t, [x / base for x in t], "--", color="grey", label="ideal")
    ax.plot(t, s, "o-", label="omptrain")
    for ti, si, note in zip(t, s, notes):
        ax.annotate(note, (ti, si), textcoords="offset points", xytext=(4, -12), fontsize=8)
    ax.set_xlabel("threads")
    ax.set_ylabel(f"speed-up over {base} thread{'s' if base > 1 else ''}")
    ax.set_xticks(t)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
