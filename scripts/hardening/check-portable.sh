#!/usr/bin/env bash
# check-portable.sh DIR - the CUnit suites that run the kernels (GEMM, tree, layers, engine,
# gradcheck) on DIR/test_omptrain, built -O1 without any -march: the portable kernels, one float
# a "vector" and no masks (src/kgemm.c picks them when neither AVX-512 nor AVX2 with FMA is
# there). Every other build here (the real one, the sanitizers', valgrind's) runs the AVX-512 or
# AVX2 kernels, so without this a fault of the portable ones would go unseen.
set -u
dir=$(cd "$1" && pwd)
t0=$(date +%s)
status=0
for suite in kgemm tree grad engine gradcheck registry affine avgpool batchnorm conv2d dropout \
        flatten maxpool relu sigmoid softmax_loss; do
    if out=$("$dir/test_omptrain" "$suite" 2>&1); then
        echo "ok   portable $suite: $(echo "$out" | grep -o 'asserts *[0-9]* *[0-9]* *[0-9]*' |
                                      awk '{print $4 " asserts passed"}')"
    else
        echo "$out"
        echo "check-portable: FAIL: suite $suite on the portable kernels"
        status=1
    fi
done
echo "check-portable: $([ $status = 0 ] && echo ok || echo FAIL) ($(( $(date +%s) - t0 )) s)"
exit $status
