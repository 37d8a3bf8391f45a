#!/usr/bin/env bash
# check-portable.sh DIR - the CUnit suites that run the kernels (GEMM, tree, layers, engine,
# gradcheck) on DIR/test_omptrain, built -O1 without any -march: the portable kernels, one float
# a "vector" and no masks (src/kgemm.c picks them when neither AVX-512 nor AVX2 with FMA is
# there). Every other build here (the real one, the sanitizers', valgrind's) runs the AVX-512 or
# AVX2 kernels, so without this a fault of the portable ones would go unseen. Then four short
# trainings by both binaries, which must give the same bits.
set -u
dir=$(cd "$1" && pwd)
t0=$(date +%s)
status=0
for suite in kgemm conv_sparse tree grad engine gradcheck registry affine avgpool batchnorm \
        conv2d dropout flatten maxpool relu sigmoid softmax_loss; do
    if out=$("$dir/test_omptrain" "$suite" 2>&1); then
        echo "ok   portable $suite: $(echo "$out" | grep -o 'asserts *[0-9]* *[0-9]* *[0-9]*' |
                                      awk '{print $4 " asserts passed"}')"
    else
        echo "$out"
        echo "check-portable: FAIL: suite $suite on the portable kernels"
        status=1
    fi
done
# The same bits on every instruction set: each element of every GEMM is one FMA chain in a
# fixed order whatever the vector width, and every other sum runs in a fixed order, so
# ./omptrain (this CPU's kernels, -O3 -march=native) and DIR/omptrain (the portable kernels,
# -O1) must write equal /model, /optimizer and /state: an MLP with batch norm, dropout and
# Adam, a CNN with stride, padding, pooling and batch norm, Winograd's two convolutions, and a
# CNN whose Affine takes its input's blank value out (skipping the images' blank margins).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
wino=(--set "model.layers=conv 8 3x3 pad 1, relu, conv 8 3x3 pad 1 winograd4, relu, maxpool 2, conv 16 3x3 pad 1 winograd, relu, maxpool 2, affine 10"
      --set data.train_limit=400)
runs=("mlp tests/configs/repro.ini" "cnn tests/configs/repro-cnn.ini" "winograd tests/configs/repro-cnn.ini"
      "blank tests/configs/repro-blank.ini")
for r in "${runs[@]}"; do
    read -r name cfg <<<"$r"
    extra=(--epochs 1)
    [ "$name" = winograd ] && extra+=("${wino[@]}")
    for b in native portable; do
        bin=./omptrain
        [ $b = portable ] && bin=$dir/omptrain
        if ! "$bin" --threads 2 --output "$tmp/$name-$b" "${extra[@]}" "$cfg" >"$tmp/$name-$b.log" 2>&1; then
            cat "$tmp/$name-$b.log"
            echo "check-portable: FAIL: $bin $cfg did not train"
            status=1
            continue 2
        fi
    done
    same=1
    for obj in /model /optimizer /state; do
        h5diff -q "$tmp/$name-native/latest.h5" "$tmp/$name-portable/latest.h5" $obj $obj \
            >/dev/null 2>&1 || { echo "check-portable: FAIL: $name: $obj differs from ./omptrain's"; same=0; status=1; }
    done
    [ $same = 1 ] && echo "ok   portable $name: /model, /optimizer, /state equal to ./omptrain's"
done
echo "check-portable: $([ $status = 0 ] && echo ok || echo FAIL) ($(( $(date +%s) - t0 )) s)"
exit $status
