#!/usr/bin/env bash
# gradcheck passes on every shipped config, and reports a failing verdict as exit status 1
# only through real disagreement (checked in the CUnit suite `gradcheck`).
set -u
omptrain=${OMPTRAIN:-./omptrain} # the binary under test; make check-asan points it elsewhere
# extra gradcheck options: 200 random entries per tensor (the default 1000 takes minutes on the
# 1024-wide bench configs, whose double reference forward is plain loops); make check-asan
# checks 10
read -r -a extra <<<"${GRADCHECK_ARGS:---entries 200}"
status=0
for c in configs/*.ini; do
    if out=$("$omptrain" gradcheck --threads 2 "${extra[@]}" "$c" 2>&1); then
        echo "ok   gradcheck $c"
    else
        echo "FAIL gradcheck $c"; echo "$out"; status=1
    fi
done
# an unknown tensor, or an empty name (an empty list checked nothing and passed; a comma at
# either end or doubled was skipped), is a usage error of one line naming the tensors there are
for list in nope/W "" affine1/b, ,affine1/b affine1/b,,affine2/b; do
    out=$("$omptrain" gradcheck --tensors "$list" configs/mnist.ini 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] &&
        [[ $out == *"expected "*"affine1/W, affine1/b, affine2/W, affine2/b" ]]; then
        echo "ok   gradcheck --tensors '$list' exits 2 with one line"
    else
        echo "FAIL gradcheck --tensors '$list' exited $rc, expected 2 and one line:"; echo "$out"
        status=1
    fi
done
# more samples than the training set has: named as --samples, not as training.batch_size
out=$("$omptrain" gradcheck --samples 500 --set data.train_limit=400 configs/mnist.ini 2>&1)
rc=$?
if [ $rc -eq 2 ] && [ "$out" = "omptrain: configs/mnist.ini: gradcheck --samples: 500 is larger than the 400 training samples; expected at most 400" ]; then
    echo "ok   gradcheck --samples 500 of 400 exits 2 naming --samples"
else
    echo "FAIL gradcheck --samples 500 of 400 exited $rc, expected 2 naming --samples:"; echo "$out"
    status=1
fi

# --checkpoint takes the checkpoint's input as eval does (until 2026-12 it loaded the parameters
# alone): a config whose standardisation differs, a checkpoint without /input under a config
# that standardises, and samples of another shape are refused with eval's one line (exit 2),
# and the samples are standardised with the checkpoint's statistics (/input), not refitted on
# this run's (data.train_limit = 100: 100 copies of one sample, which eval's test set holds)
py=/usr/bin/python3
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp
check() { # check WHAT COMMAND...: ok, or FAIL with the command's output
    local what=$1
    shift
    if "$@"; then
        echo "ok   $what"
    else
        echo "FAIL $what:"; cat "$tmp/gc.out" "$tmp/gc.err"; status=1
    fi
}
"$py" - "$tmp" <<'EOF' || { echo "FAIL cannot make the HDF5 data"; exit 1; }
import sys
import h5py
import numpy as np
out = sys.argv[1]
rng = np.random.default_rng(7)
y = rng.integers(0, 3, 300)
x = (rng.random((300, 6, 6)) * 120 + 60 * y[:, None, None]).astype(np.uint8)
x[:100], y[:100] = x[0], 1  # the first 100 samples: one sample, 100 times
for name, xs, ys in (("train", x, y), ("test", x[:20], y[:20]),
                     ("4x9", x.reshape(300, 4, 9), y)):
    with h5py.File(f"{out}/{name}.h5", "w") as f:
        f["data"], f["label"] = xs, ys.astype(np.int32)
EOF
cfg=$tmp/ms.ini
printf '[data]\ntrain_file = %s/train.h5\ntest_file = %s/test.h5\nclasses = 3\nnormalize = mean_std\n[model]\nlayers = 36, 8, 3\n[training]\nepochs = 1\nbatch_size = 10\nlearning_rate = 0.1\n' \
    "$tmp" "$tmp" >"$cfg"
"$omptrain" -t 2 -o "$tmp/run" "$cfg" >"$tmp/train.out" 2>&1 ||
    { echo "FAIL training on $tmp/train.h5:"; cat "$tmp/train.out"; exit 1; }
ck=$tmp/run/latest.h5
cp "$ck" "$tmp/old.h5" # a checkpoint from before /input
"$py" -c "import h5py; del h5py.File('$tmp/old.h5', 'a')['input']" ||
    { echo "FAIL cannot delete /input"; exit 1; }
# same_refusal CHECKPOINT SET...: eval and gradcheck, each with -S SET..., exit 2 with the same
# one line
same_refusal() {
    local ck=$1 sets=() s
    shift
    for s in "$@"; do sets+=(-S "$s"); done
    "$omptrain" eval -c "$ck" "${sets[@]}" "$cfg" >/dev/null 2>"$tmp/eval.err"
    local erc=$?
    "$omptrain" gradcheck -c "$ck" "${sets[@]}" "$cfg" >"$tmp/gc.out" 2>"$tmp/gc.err"
    local grc=$?
    echo "(eval exited $erc: $(cat "$tmp/eval.err"); gradcheck exited $grc)" >>"$tmp/gc.out"
    [ $erc -eq 2 ] && [ $grc -eq 2 ] && [ "$(wc -l <"$tmp/gc.err")" -eq 1 ] &&
        cmp -s "$tmp/eval.err" "$tmp/gc.err"
}
check "gradcheck -c refuses data.normalize = none as eval does" \
    same_refusal "$ck" data.normalize=none
check "gradcheck -c refuses data.normalize_by = feature as eval does" \
    same_refusal "$ck" data.normalize_by=feature
check "gradcheck -c refuses a checkpoint without /input under mean_std as eval does" \
    same_refusal "$tmp/old.h5"
check "gradcheck -c refuses 4x9 samples of a 6x6 model as eval does" \
    same_refusal "$ck" "data.train_file=$tmp/4x9.h5" "data.test_file=$tmp/4x9.h5"
# the forward loss at copies of sample 0 (train_limit: the first 100) is eval's on them
standardised_as_eval() {
    "$omptrain" gradcheck -c "$ck" -S data.train_limit=100 "$cfg" >"$tmp/gc.out" 2>"$tmp/gc.err" ||
        return 1
    local got want
    got=$(sed -n 's/^forward .*(loss \([^,]*\),.*/\1/p' "$tmp/gc.out")
    want=$("$omptrain" eval -c "$ck" "$cfg" | sed -n 's/^test loss \([^ ]*\) .*/\1/p')
    echo "(gradcheck's forward loss $got, eval's test loss $want)" >>"$tmp/gc.err"
    awk -v g="$got" -v w="$want" \
        'BEGIN { d = g - w; exit !(g != "" && w != "" && d < 1e-4 && d > -1e-4) }'
}
check "gradcheck -c -S data.train_limit=100 standardises with the checkpoint's /input" \
    standardised_as_eval
exit $status
