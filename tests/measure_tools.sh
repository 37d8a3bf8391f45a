#!/usr/bin/env bash
# measure_tools.sh - the measuring programs under scripts/ (fma_feed.c, xcore.c) still build with
# the command their first lines give, which docs/benchmarks.md quotes: no build of omptrain
# compiles them, so without this a change to include/ or the compiler could leave the documented
# command broken unseen. Each is built to a temporary file and must give an executable; none is
# run (they time the machine for seconds, which a test has no use for). Run from the repository root.
set -u
test_name=measure_tools.sh
case "$(uname -m)" in x86_64) ;; *) echo "$test_name: ok (skipped: their intrinsics are x86-64's)"; exit 0 ;; esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
built=()
for src in scripts/fma_feed.c scripts/xcore.c; do
    # the command of the header: the first comment line that starts with "gcc", up to "&&"
    cmd=$(sed -n 's/^ \*   \(gcc .*\)$/\1/p' "$src" | head -n 1 | sed 's/ *&&.*//')
    if [ -z "$cmd" ] || ! grep -q -- "-o /tmp/[a-z_]*$" <<<"$cmd"; then
        echo "$test_name: FAIL: $src: no 'gcc ... -o /tmp/NAME' line among its first lines" >&2
        fails=$((fails + 1))
        continue
    fi
    out="$tmp/$(basename "$src" .c)"
    cmd=$(sed "s|-o /tmp/[a-z_]*$|-o $out|" <<<"$cmd")
    if ! log=$(eval "$cmd" 2>&1) || [ ! -x "$out" ]; then
        echo "$test_name: FAIL: $src: '$cmd' did not build:" >&2
        echo "$log" >&2
        fails=$((fails + 1))
        continue
    fi
    built+=("$(basename "$src")")
done
[ "$fails" -eq 0 ] || exit 1
echo "$test_name: ok (${built[*]} build with the commands of their first lines)"
