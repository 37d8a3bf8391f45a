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
exit $status
