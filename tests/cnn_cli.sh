#!/usr/bin/env bash
# cnn_cli.sh - a list of layers that cannot be built, from the command line: each is refused
# before any training with exit status 2 and one line that names the config file (and the line
# when a line of it set the list) or the --set, the layer and its input, the value and what was
# expected; nothing crashes or allocates for an absurd model. A list with rows commented out
# trains. Run from the repository root (make check).
set -u
omptrain=${OMPTRAIN:-./omptrain} # the binary under test; make check-asan points it elsewhere
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" # the shared helpers: $tmp, fails (its own expect below)
small=(--threads 1 --epochs 1 --set data.train_limit=300 --set data.test_limit=100
       --output "$tmp/run")

# expect STATUS FRAGMENT -- ARGS...: run $omptrain ARGS, check the exit status, and that
# stderr is exactly one line containing FRAGMENT.
expect() {
    local want=$1 frag=$2; shift 3
    "$omptrain" "$@" >"$tmp/out" 2>"$tmp/err"
    local got=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ "$got" -eq "$want" ] && [ "$lines" -eq 1 ] && grep -qF -- "$frag" "$tmp/err"; then
        echo "ok   $frag"
    else
        echo "FAIL omptrain $*: exit $got (want $want), stderr:"; sed 's/^/    /' "$tmp/err"
        fails=$((fails + 1))
    fi
}

# bad LAYERS FRAGMENT: --set model.layers=LAYERS on the CNN config is refused so
bad() {
    expect 2 "$2" -- "${small[@]}" --set "model.layers=$1" configs/mnist-cnn.ini
}

# the words of a layer: the value, its range or form
bad "conv 30 5x5 stride 0, affine 10" "layer 1 'conv 30 5x5 stride 0': 'stride 0': S must be an integer in [1, 65536]"
bad "conv 30 5x5 pad -1, affine 10" "'pad -1': P must be an integer in [0, 65536]"
bad "conv 99999999999 5x5, affine 10" "'99999999999': FILTERS must be an integer in [1, 1048576]"
bad "conv 30 5x, affine 10" "'5x': KHxKW must be two integers in [1, 65536]"
bad "conv 30 x5, affine 10" "'x5': KHxKW must be two integers"
bad "conv 30 0x5, affine 10" "'0x5': KHxKW must be two integers"
bad "conv 30 5x5, maxpool 0, affine 10" "layer 2 'maxpool 0': '0': WINDOW must be an integer in [1, 65536], or two as KHxKW"
bad "affine 1e3, affine 10" "layer 1 'affine 1e3': '1e3': UNITS must be an integer in [1, 1048576]"
bad "conv 30 5x5, dropout 1, affine 10" "'1': RATE must be a fraction in [0, 1)"
bad "conv 30 5x5, batchnorm 3, affine 10" "layer 2 'batchnorm 3': no arguments, expected batchnorm"
bad "conv 30 5x5 relu, affine 10" "'relu' is not stride S or pad P"
# the list itself: kinds, empty items, the loss
bad "CONV 30 5x5, relu, affine 10" "unknown kind 'CONV' (kinds are lower case: conv), expected one of affine"
bad "conv 30 5x5, rleu, affine 10" "layer 2 'rleu': unknown kind 'rleu', expected one of affine"
bad "conv 30 5x5, affine 10, softmax, affine 10" "layer 3 'softmax': unknown kind 'softmax'"
bad "conv 30 5x5,, affine 10" "layer 2 is empty"
bad ",conv 30 5x5, affine 10" "model.layers: layer 1 is empty, expected a layer such as"
bad "conv 30 5x5, affine 10," "layer 3 is empty, expected a layer such as 'affine 100' or 'relu' (the list ends with a comma"
bad "conv 30 5x5, affine 10, softmax_loss" "softmax_loss closes every stack by itself"
# shapes, against the data's 28x28x1: the layer, its input, what was expected
bad "conv 30 29x29, affine 10" "configs/mnist-cnn.ini: model.layers: conv1 (conv) on input 28x28x1: the window (29) is larger than the height (28 with padding 0), expected at most 28"
bad "conv 30 5x5 stride 2, affine 10" "conv1 (conv) on input 28x28x1: stride 2 does not fit the height"
bad "conv 30 5x5, flatten, maxpool 2, affine 10" "maxpool1 (maxpool) on input 17280: expected an image (HxWxC), got a flat vector"
bad "affine 100, conv 30 5x5, affine 10" "conv1 (conv) on input 100: expected an image (HxWxC), got a flat vector; put convolutions before"
bad "conv 30 5x5, flatten, flatten, affine 10" "flatten2 (flatten) on input 17280: the input is flat already"
bad "conv 30 5x5, maxpool 25, affine 10" "maxpool1 (maxpool) on input 24x24x30: the window (25) is larger than the height (24 with padding 0)"
bad "conv 30 5x5, avgpool 25, affine 10" "avgpool1 (avgpool) on input 24x24x30: the window (25) is larger"
bad "conv 30 5x5, relu" "the last layer, relu1, gives 17280 outputs, expected data.classes = 10"
bad "conv 30 5x5 winograd, affine 10" "model.layers: conv1 (conv) on input 28x28x1: winograd needs a 3x3 kernel"
# absurd sizes: refused by count before any buffer is allocated
bad "conv 1048576 3x3, affine 10" "parameters up to affine1, expected at most 1073741824"
bad "conv 1024 1x1 pad 2000, avgpool 4028, affine 10" "the run needs about"
bad "$(printf 'conv 1 1 pad 65536,%.0s' {1..8})affine 10" "conv8 (conv) on input 917532x917532x1 gives 1048604x1048604x1 outputs a sample, expected at most 2^40"

# a list from a file names the line that set it; parse errors too; a comment or a blank line
# between rows does not end the list; more parameter tensors than a net holds
printf '[model]\n; the list\nlayers = conv 30 5x5, relu,\n    conv 10 25x25, affine 10\n' >"$tmp/shape.ini"
expect 2 "$tmp/shape.ini:3: model.layers: conv2 (conv) on input 24x24x30: the window (25) is larger" -- "${small[@]}" "$tmp/shape.ini"
printf '[model]\nlayers = conv 30 5x5, maxpool 0,\n    affine 10\n' >"$tmp/parse.ini"
expect 2 "$tmp/parse.ini:2: model.layers: layer 2 'maxpool 0': '0': WINDOW must be" -- "${small[@]}" "$tmp/parse.ini"
printf '[model]\nlayers = conv 8 3x3 pad 1, relu,\n;   conv 8 3x3 pad 1, relu,\n    maxpool 2,\n\n    # flatten,\n    affine 10\ninit = bad\n' >"$tmp/rows.ini"
expect 2 "$tmp/rows.ini:8: model.init: unknown init 'bad'" -- "${small[@]}" "$tmp/rows.ini"
sed -i 's/^init = bad$/init = he/' "$tmp/rows.ini"
if "$omptrain" "${small[@]}" "$tmp/rows.ini" >"$tmp/out" 2>&1 &&
    grep -qF "model conv 8 3x3 pad 1, relu, maxpool 2, affine 10 (" "$tmp/out"; then
    echo "ok   a list with rows commented out and a blank line trains"
else
    echo "FAIL a list with rows commented out:"; sed 's/^/    /' "$tmp/out"; fails=$((fails + 1))
fi
{ printf '[model]\nlayers = '; printf 'conv 2 1x1, batchnorm,\n    %.0s' {1..63}; printf 'affine 10\n'; } >"$tmp/tensors.ini"
expect 2 "$tmp/tensors.ini:2: model.layers: 250 parameter tensors up to conv63, expected at most 248" -- "${small[@]}" "$tmp/tensors.ini"

# a layer key given with --set on a list of layers: the list holds them
expect 2 "model.activation (given with --set) goes with a list of widths" -- "${small[@]}" --set model.activation=sigmoid configs/mnist-cnn.ini
expect 2 "--set model.layer=conv 8 3: unknown key model.layer in [model]" -- "${small[@]}" --set "model.layer=conv 8 3" configs/mnist-cnn.ini
expect 2 "--set conv1.filters=8: unknown section [conv1]" -- "${small[@]}" --set conv1.filters=8 configs/mnist-cnn.ini

[ "$fails" -eq 0 ] && echo "cnn_cli.sh: all ok" || echo "cnn_cli.sh: $fails failed"
[ "$fails" -eq 0 ]
