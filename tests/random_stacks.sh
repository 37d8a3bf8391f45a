#!/usr/bin/env bash
# Random layer stacks (tests/stacks.py SEED: convolutions of every kernel, stride and padding
# the config accepts, Winograd, both poolings, batch norm and dropout anywhere, the first layer
# included), each trained for one short epoch at 1 and 3 threads on a fixed shard count and
# checked: both runs succeed, /model, /optimizer and /state are the same bits, and gradcheck
# passes. On MNIST, and on images of 4 and 3 channels from HDF5 files made here (a first
# convolution over several channels). Under make check-asan the same runs go through
# AddressSanitizer. MNIST seeds 3, 10, 11 and 26 put batch norm first, which wrote dx through
# NULL until 2026-12; at 64 and 86 a tensor's gradient is exactly 0 (a convolution whose used
# windows see only blank pixels, a bias before batch norm) and at 38 and 79 biases before
# batch norm leave float noise where the gradient is 0, which gradcheck failed until then.
# STACK_SEEDS and IMAGE_SEEDS override the lists.
set -u
omptrain=${OMPTRAIN:-./omptrain}
py=/usr/bin/python3 # Debian's, with numpy and h5py
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp
read -r -a seeds <<<"${STACK_SEEDS:-1 3 4 7 10 11 17 21 26 27 29 38 45 64 79 86}"
read -r -a image_seeds <<<"${IMAGE_SEEDS:-1 8 10 16 27 38 45 50 67 68 70 73}"
status=0
n=0

# stack NAME STACKS_ARGS...: the config of tests/stacks.py STACKS_ARGS, run and checked
stack() {
    local d=$tmp/$1 ok=1 rc t obj out what
    shift
    mkdir -p "$d"
    "$py" tests/stacks.py "$@" >"$d/c.ini" || { echo "FAIL stacks.py $*"; status=1; return; }
    what="stacks.py $* ($(sed -n 's/^layers = //p' "$d/c.ini"))"
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
    n=$((n + 1))
    [ $ok = 1 ] && echo "ok   $what" || status=1
}

for s in "${seeds[@]}"; do
    stack "s$s" "$s"
done

# images of 20x11x4 and 9x13x3, 40% zeros, random labels
"$py" - "$tmp" <<'PY' || { echo "FAIL: cannot make the image data sets"; exit 1; }
import sys, h5py, numpy as np
r = np.random.default_rng(5)
for h, w, c in ((20, 11, 4), (9, 13, 3)):
    for part, n in (("train", 203), ("test", 50)):
        x = r.random((n, h, w, c)).astype(np.float32)
        x[x < 0.4] = 0
        with h5py.File(f"{sys.argv[1]}/img{h}x{w}x{c}-{part}.h5", "w") as f:
            f["data"] = x
            f["label"] = r.integers(0, 10, n).astype(np.uint8)
PY
for s in "${image_seeds[@]}"; do
    if [ $((s % 2)) = 0 ]; then
        stack "i$s" "$s" 20 11 4 "$tmp/img20x11x4"
    else
        stack "i$s" "$s" 9 13 3 "$tmp/img9x13x3"
    fi
done
[ $status = 0 ] && echo "ok   $n random layer stacks: runs, bits at 1 and 3 threads, gradcheck"
exit $status
