#!/bin/bash
# bundle.sh - build omptrain for the lent 16-core machine (see scaling.sh): run here, from the
# repository root, then carry build/device to the device.
#
# That machine runs Ubuntu 24.04 with gcc, libgomp and HDF5 1.10 but no inih, no OpenBLAS and
# no package registry. So: two binaries (AVX-512 and AVX2; scaling.sh picks by the CPU), inih
# linked in statically, OpenBLAS (the ceiling's BLAS) and its Fortran runtime copied into
# build/device/lib, HDF5 and zlib taken from the machine itself (same sonames).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/device
mkdir -p "$out/lib"
cflags="-O3 -std=c11 -D_POSIX_C_SOURCE=200809L -fopenmp -Wall -Wextra -Iinclude
        $(pkg-config --cflags hdf5 inih zlib openblas)"
libs="$(pkg-config --libs-only-L inih) -Wl,-Bstatic -linih -Wl,-Bdynamic
      $(pkg-config --libs hdf5 zlib openblas) -lm"
for isa in x86-64-v4 x86-64-v3; do
    # shellcheck disable=SC2086
    cc $cflags -march="$isa" -o "$out/omptrain-$isa" src/*.c $libs
done
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
    path=$(ldd "$out/omptrain-x86-64-v4" | awk -v l="$lib" '$1 == l {print $3}')
    [ -n "$path" ] && cp -L "$path" "$out/lib/"
done
ls -l "$out" "$out/lib"
du -sh "$out"
