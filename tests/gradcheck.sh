#!/usr/bin/env bash
# gradcheck passes on every shipped config, and reports a failing verdict as exit status 1
# only through real disagreement (checked in the CUnit suite `gradcheck`).
set -u
status=0
for c in configs/*.ini; do
    if out=$(./omptrain gradcheck --threads 2 "$c" 2>&1); then
        echo "ok   gradcheck $c"
    else
        echo "FAIL gradcheck $c"; echo "$out"; status=1
    fi
done
# an unknown tensor is a usage error
./omptrain gradcheck --tensors nope/W configs/mnist.ini >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && echo "ok   gradcheck --tensors nope/W exits 2" || { echo "FAIL gradcheck --tensors nope/W exited $rc, expected 2"; status=1; }
exit $status
