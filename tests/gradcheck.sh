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
# an unknown tensor is a usage error
"$omptrain" gradcheck --tensors nope/W configs/mnist.ini >/dev/null 2>&1
rc=$?
[ $rc -eq 2 ] && echo "ok   gradcheck --tensors nope/W exits 2" || { echo "FAIL gradcheck --tensors nope/W exited $rc, expected 2"; status=1; }
exit $status
