#!/usr/bin/env bash
# Random layer stacks (tests/stacks.py SEED: convolutions of every kernel, stride and padding
# the config accepts, Winograd, both poolings, batch norm and dropout anywhere, the first layer
# included), each trained for one short epoch at 1 and 3 threads on a fixed shard count and
# checked: both runs succeed, /model, /optimizer and /state are the same bits, and gradcheck
# passes. Under make check-asan the same runs go through AddressSanitizer. Seeds 3, 10, 11 and
# 26 put batch norm first, which wrote dx through NULL until 2026-12; at seeds 64 and 86 a
# tensor's gradient is exactly 0 (a convolution whose used windows see only blank pixels, a
# bias before batch norm) and at 38 and 79 biases before batch norm leave float noise where the
# gradient is 0, which gradcheck failed until then. STACK_SEEDS overrides the list.
set -u
omptrain=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3
[ -x "$py" ] || py=python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
read -r -a seeds <<<"${STACK_SEEDS:-1 3 4 7 10 11 17 21 26 27 29 38 45 64 79 86}"
status=0
for s in "${seeds[@]}"; do
    d=$tmp/s$s
    mkdir -p "$d"
    "$py" tests/stacks.py "$s" >"$d/c.ini" || { echo "FAIL seed $s: stacks.py"; status=1; continue; }
    what="seed $s ($(sed -n 's/^layers = //p' "$d/c.ini"))"
    ok=1
    for t in 1 3; do
        "$omptrain" --threads $t --output "$d/t$t" "$d/c.ini" >"$d/t$t.log" 2>&1
        rc=$?
        if [ $rc -ne 0 ]; then
            echo "FAIL $what: the run at $t threads exited $rc:"; tail -5 "$d/t$t.log"; ok=0
        fi
    done
    if [ $ok = 1 ]; then
        for obj in /model /optimizer /state; do
            h5dump -n "$d/t1/latest.h5" | grep -q " $obj\$" || continue # no state without bn
            if ! out=$(h5diff "$d/t1/latest.h5" "$d/t3/latest.h5" $obj $obj 2>&1); then
                echo "FAIL $what: $obj differs between 1 and 3 threads:"; echo "$out" | head -5; ok=0
            fi
        done
    fi
    if ! out=$("$omptrain" gradcheck --threads 2 --entries 40 "$d/c.ini" 2>&1); then
        echo "FAIL $what: gradcheck:"; echo "$out" | grep -v ' ok$'; ok=0
    fi
    [ $ok = 1 ] && echo "ok   $what" || status=1
done
[ $status = 0 ] && echo "ok   ${#seeds[@]} random layer stacks: runs, bits at 1 and 3 threads, gradcheck"
exit $status
