#!/usr/bin/env bash
# plot_scaling.sh - scripts/plot_scaling.py on `omptrain bench`'s CSV (src/bench.c's header):
#   - rows of several process counts (mpirun) drawn as one curve per process count against
#     processes x threads, speed-ups against the 1x1 row wherever it stands in the file, or
#     without one against the row of fewest workers; one process alone drawn against threads;
#   - a missing or unwritable output directory, an output without a known extension, a binary
#     or other non-CSV input, a bad field: one line on stderr naming the file and what was
#     expected, exit 1 (2 for usage), no traceback; --help works;
# Run from the repository root (make check). OMPTRAIN overrides the binary (only read here).
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
bin=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
. tests/lib.sh # the shared helpers: $tmp, fail
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT # lib.sh's, read-only folders too
head=config,batch,processes,threads,shards,steps,seconds,samples_per_s,speedup,efficiency,gflops,gemm_ceiling_gflops,ceiling_share,peak_rss_mb,combine_ms,blas_ceiling_gflops,kernel_ceiling_gflops
row() { # row P T SAMPLES_PER_S: a bench row (its speedup column deliberately wrong: recomputed)
    echo "configs/bench-a.ini,100,$1,$2,8,100,1.0,$3,9.0,9.0,1.0,1.0,1.0,50.0,0.1,1.0,1.0"
}
{ echo "$head"; row 2 1 300; row 1 1 100; row 1 2 180; row 2 2 320; } >"$tmp/mpi.csv"
{ echo "$head"; row 2 2 300; row 1 2 200; } >"$tmp/no1x1.csv"
{ echo "$head"; row 1 1 100; row 1 2 190; } >"$tmp/one.csv"
printf '%s\n%s\n' "$head" "$(row 1 x 100)" >"$tmp/badfield.csv"
echo "$head" >"$tmp/header.csv"

# what is drawn: line labels, x (processes x threads) and y (speed-up over the base row)
"$py" - "$tmp" <<'PY' || fail "the curves drawn are not one per process count"
import importlib.util, sys
spec = importlib.util.spec_from_file_location("plot_scaling", "scripts/plot_scaling.py")
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
tmp = sys.argv[1]
def drawn(name):
    fig = m.plot(name, m.read_rows(f"{tmp}/{name}.csv"), f"{tmp}/{name}.png")
    ax = fig.axes[0]
    return ({l.get_label(): (list(l.get_xdata()), [round(y, 6) for y in l.get_ydata()])
             for l in ax.get_lines()}, ax.get_xlabel(), ax.get_ylabel())
got = drawn("mpi")
want = ({"ideal": ([1, 2, 4], [1, 2, 4]), "1 process": ([1, 2], [1, 1.8]),
         "2 processes": ([2, 4], [3, 3.2])}, "processes x threads", "speed-up over 1x1")
assert got == want, got
got = drawn("no1x1")
want = ({"ideal": ([2, 4], [1, 2]), "1 process": ([2], [1]), "2 processes": ([4], [1.5])},
        "processes x threads", "speed-up over 1x2")
assert got == want, got
got = drawn("one")
assert got == ({"ideal": ([1, 2], [1, 2]), "omptrain": ([1, 2], [1, 1.9])}, "threads",
               "speed-up over 1 thread"), got
PY
out=$("$py" scripts/plot_scaling.py "$tmp/mpi.csv" 2>&1)
[ -z "$out" ] && [ -s "$tmp/mpi.png" ] || fail "mpi.csv gave no mpi.png beside it: $out"
out=$("$py" scripts/plot_scaling.py --help 2>&1) && grep -q "^plot_scaling.py CSV \[PNG\]" <<<"$out" ||
    fail "--help: $out"

expect() { # expect STATUS FRAGMENT ARGS...: one line on stderr holding FRAGMENT, exit STATUS
    local want=$1 frag=$2; shift 2
    local err rc
    err=$("$py" scripts/plot_scaling.py "$@" 2>&1 >/dev/null)
    rc=$?
    if [ $rc -ne "$want" ] || [ "$(printf '%s\n' "$err" | wc -l)" -ne 1 ] ||
        ! grep -qF -- "$frag" <<<"$err"; then
        fail "plot_scaling.py $*: exit $rc (expected $want), stderr: $(head -c 600 <<<"$err")"
    else
        echo "ok   plot_scaling.py $* -> $want: $frag"
    fi
}
mkdir "$tmp/dir.png"
expect 1 "$tmp/none/x.png: cannot write it: No such file or directory; expected a writable file in an existing directory" "$tmp/mpi.csv" "$tmp/none/x.png"
expect 1 "$tmp/one.csv/x.png: cannot write it: Not a directory; expected" "$tmp/mpi.csv" "$tmp/one.csv/x.png"
expect 1 "$tmp/dir.png: cannot write it: Is a directory; expected" "$tmp/mpi.csv" "$tmp/dir.png"
if [ "$(id -u)" -ne 0 ]; then # root writes anywhere
    mkdir "$tmp/ro" && chmod 555 "$tmp/ro"
    expect 1 "$tmp/ro/x.png: cannot write it: Permission denied; expected" "$tmp/mpi.csv" "$tmp/ro/x.png"
fi
expect 2 "$tmp/noext: no extension (matplotlib would write $tmp/noext.png); expected a file name ending in .png" "$tmp/mpi.csv" "$tmp/noext"
[ ! -e "$tmp/noext.png" ] && [ ! -e "$tmp/noext" ] || fail "an output without extension was written"
expect 2 "$tmp/x.xyz: extension .xyz is no format matplotlib writes; expected a file name ending in .png" "$tmp/mpi.csv" "$tmp/x.xyz"
expect 1 "$bin: binary data, not text; expected the CSV that omptrain bench writes" "$bin" "$tmp/b.png"
expect 1 "t10k-labels-idx1-ubyte.gz: binary data, not text; expected the CSV" data/mnist/t10k-labels-idx1-ubyte.gz "$tmp/b.png"
expect 1 "$tmp/none.csv: cannot read it: No such file or directory; expected the CSV" "$tmp/none.csv"
expect 1 "README.md: no columns processes, threads, samples_per_s, config, batch, shards in its first line" README.md "$tmp/r.png"
expect 1 "$tmp/badfield.csv: line 2: threads is 'x'; expected a count >= 1" "$tmp/badfield.csv"
expect 1 "$tmp/header.csv: a header and no rows; expected" "$tmp/header.csv"
expect 2 "plot_scaling.py: error: the following arguments are required: CSV"
expect 2 "plot_scaling.py: error: unrecognized arguments: c" a b c
err=$("$py" scripts/plot_scaling.py "$bin" "$tmp/b.png" 2>&1)
[ ${#err} -lt 300 ] || fail "a binary input gave ${#err} bytes of message"

[ $fails -eq 0 ] && echo "plot_scaling.sh: all passed" || echo "plot_scaling.sh: $fails failed"
exit $((fails > 0))
