#!/usr/bin/env bash
# setup.sh [PACKAGE...] - install the Debian packages omptrain needs, and the ones named (make
# check-torch: python3-torch), only those missing (idempotent).
# As root it runs apt-get; otherwise sudo; otherwise it says what to install and fails.
set -euo pipefail

pkgs=(build-essential pkg-config libhdf5-dev hdf5-tools libcunit1-dev libinih-dev zlib1g-dev
      libopenblas-dev dataset-fashion-mnist python3-numpy python3-h5py python3-matplotlib
      protobuf-c-compiler libprotobuf-c-dev libonnx-dev # ONNX export: protoc-c on onnx.proto
      python3-onnx python3-pil # tests: onnx.checker; scripts/to_hdf5.py's PNG folders
      openmpi-bin libopenmpi-dev procps # mpirun -np R omptrain (src/dist.c); tests/mpi.sh's pgrep
      clang libclang-rt-14-dev libomp-14-dev valgrind # the last four: make check-hardening
      "$@")

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# tests/onnx.sh runs ONNX Runtime from npm under node: Debian's nodejs and npm, unless a node
# and an npm are there already (e.g. NodeSource's nodejs, which brings its own npm)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "setup.sh: missing packages: ${missing[*]}" >&2
    echo "setup.sh: not root and no password-less sudo; install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup.sh: done" >&2
