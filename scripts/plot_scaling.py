#!/usr/bin/python3
"""plot_scaling.py CSV [PNG] - speed-up against processes x threads from `omptrain bench`'s CSV.

One curve per process count (`mpirun -np R omptrain bench --processes 1,2 --threads 1,2`
gives rows of several; without mpirun all rows are one process), drawn against the workers
(processes x threads) with the ideal (linear) line. Speed-up and efficiency are recomputed
from samples_per_s against the 1x1 row, or where the CSV has none the row of fewest workers
(fewest processes among those); each point is annotated with its samples/s and efficiency.
Read from the CSV: the columns processes, threads, samples_per_s, config, batch, shards.

PNG defaults to CSV with .png. Its extension picks the format and must be one matplotlib
writes (.png, .pdf, .svg, ...): a name without one is refused rather than silently written
to NAME.png, which is what matplotlib does with it.

Run with /usr/bin/python3 (Debian's matplotlib); uses the Agg backend, no display needed.
Exit status: 0 written, 1 the CSV cannot be read or the image written, 2 usage (an output
name without a known extension included). Errors are one line on stderr."""
import argparse
import csv
import math
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
from matplotlib.backend_bases import FigureCanvasBase  # noqa: E402

COLUMNS = ("processes", "threads", "samples_per_s", "config", "batch", "shards")
EXPECTED = ("expected the CSV that omptrain bench writes (header config,batch,processes,"
            "threads,shards,...,samples_per_s,...)")


class Fail(Exception):
    """One line for stderr; exit status 1, or status."""

    def __init__(self, msg, status=1):
        super().__init__(msg)
        self.status = status


def short(s, n=40):
    """s cut to n characters, for quoting a field of an unknown file."""
    return s if len(s) <= n else s[:n] + "..."


def check_image_name(png):
    """Refuse an output name whose extension matplotlib does not write (status 2)."""
    kinds = FigureCanvasBase.get_supported_filetypes()
    ext = os.path.splitext(png)[1][1:].lower()
    if ext not in kinds:
        why = f"extension .{short(ext, 10)} is no format matplotlib writes" if ext else \
            f"no extension (matplotlib would write {png}.png)"
        raise Fail(f"{png}: {why}; expected a file name ending in .png (or "
                   f"{', '.join('.' + k for k in sorted(kinds) if k != 'png')})", 2)


def read_rows(path):
    """The CSV's rows as dicts with processes, threads (int), samples_per_s (float) added."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise Fail(f"{path}: cannot read it: {e.strerror}; {EXPECTED}") from e
    try:
        if b"\0" in data:
            raise UnicodeError
        text = data.decode("utf-8")
    except UnicodeError:
        raise Fail(f"{path}: binary data, not text; {EXPECTED}") from None
    lines = text.splitlines()
    try:
        table = list(csv.reader(lines))
    except csv.Error as e:
        raise Fail(f"{path}: not CSV ({e}); {EXPECTED}") from e
    if not table or not any(table[0]):
        raise Fail(f"{path}: empty; {EXPECTED}")
    head = table[0]
    missing = [c for c in COLUMNS if c not in head]
    if missing:
        raise Fail(f"{path}: no column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                   f"in its first line ({short(','.join(head))!r}); {EXPECTED}")
    rows = []
    for n, fields in enumerate(table[1:], start=2):
        if not fields:
            continue
        if len(fields) != len(head):
            raise Fail(f"{path}: line {n}: {len(fields)} fields; expected {len(head)}, as in "
                       "its first line")
        r = dict(zip(head, fields))
        for col, kind in (("processes", int), ("threads", int), ("samples_per_s", float)):
            try:
                v = kind(r[col])
            except ValueError:
                v = None
            if v is None or not (v >= 1 if kind is int else v >= 0 or math.isnan(v)):
                raise Fail(f"{path}: line {n}: {col} is {short(r[col])!r}; "
                           f"expected {'a count >= 1' if kind is int else 'a rate >= 0'}")
            r[col] = v
        rows.append(r)
    if not rows:
        raise Fail(f"{path}: a header and no rows; expected a row per processes x threads")
    return rows


def base_row(rows):
    """The 1x1 row, else the one of fewest workers (fewest processes among those)."""
    return min(rows, key=lambda r: (r["processes"] * r["threads"] != 1,
                                    r["processes"] * r["threads"], r["processes"]))


def plot(path, rows, png):
    """Draw rows (read_rows(path)) into png; the figure drawn."""
    base = base_row(rows)
    b_w = base["processes"] * base["threads"]
    if not base["samples_per_s"] > 0:
        raise Fail(f"{path}: the base row ({base['processes']}x{base['threads']}) has "
                   f"samples_per_s {base['samples_per_s']}; expected a rate > 0")
    by_p = {}
    for r in rows:
        by_p.setdefault(r["processes"], []).append(r)
    mpi = sorted(by_p) != [1]
    workers = sorted({r["processes"] * r["threads"] for r in rows})
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot(workers, [w / b_w for w in workers], "--", color="grey", label="ideal")
    for k, p in enumerate(sorted(by_p)):
        curve = sorted(by_p[p], key=lambda r: r["threads"])
        x = [p * r["threads"] for r in curve]
        s = [r["samples_per_s"] / base["samples_per_s"] for r in curve]
        ax.plot(x, s, "o-", label=f"{p} process{'es' if p > 1 else ''}" if mpi else "omptrain")
        for r, xi, si in zip(curve, x, s):
            eff = si * b_w / xi
            note = (f"{p}x{r['threads']} " if mpi else "") + \
                f"{r['samples_per_s'] / 1e3:.0f}k/s, {eff:.0%}"
            ax.annotate(note, (xi, si), textcoords="offset points", xytext=(4, -12 - 9 * k),
                        fontsize=7)
    ax.set_xlabel("processes x threads" if mpi else "threads")
    ax.set_ylabel(f"speed-up over {base['processes']}x{base['threads']}" if mpi else
                  f"speed-up over {b_w} thread{'s' if b_w > 1 else ''}")
    ax.set_xticks(workers)
    ax.margins(x=0.25)  # room for the last point's note
    first = rows[0]
    ax.set_title(f"{os.path.basename(first['config'])}: batch {first['batch']}, "
                 f"shards {first['shards']}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(png, dpi=100)
    except OSError as e:
        raise Fail(f"{png}: cannot write it: {e.strerror}; expected a writable file in an "
                   "existing directory") from e
    return fig


def main(argv):
    p = argparse.ArgumentParser(prog="plot_scaling.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                usage=argparse.SUPPRESS)
    p.add_argument("csv", metavar="CSV")
    p.add_argument("png", metavar="PNG", nargs="?")
    a = p.parse_args(argv)
    png = a.png if a.png is not None else os.path.splitext(a.csv)[0] + ".png"
    check_image_name(png)
    plot(a.csv, read_rows(a.csv), png)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        print(f"plot_scaling.py: {e}", file=sys.stderr)
        sys.exit(e.status)
