#!/usr/bin/env bash
# data_md5.sh - the four MNIST files in data/mnist/ are the canonical ones: md5sum -c against
# data/mnist/MD5SUMS. Run from anywhere; `make check` runs it from the repository root.
set -u
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/data/mnist"

if [ ! -r "$dir/MD5SUMS" ]; then
    echo "data_md5.sh: FAIL: $dir/MD5SUMS is missing" >&2
    exit 1
fi
# 4 entries expected: a truncated checksum file must not pass by checking fewer files
n=$(grep -c '^[0-9a-f]\{32\}  ' "$dir/MD5SUMS")
if [ "$n" -ne 4 ]; then
    echo "data_md5.sh: FAIL: $dir/MD5SUMS lists $n files, expected 4" >&2
    exit 1
fi
if ! out=$(cd "$dir" && md5sum --strict -c MD5SUMS 2>&1); then
    echo "$out" | grep -v ': OK$' >&2
    echo "data_md5.sh: FAIL: MNIST files in $dir do not match MD5SUMS (corrupt or replaced download?)" >&2
    exit 1
fi
echo "data_md5.sh: ok, 4 MNIST files match MD5SUMS"
