#!/usr/bin/python3
"""h5same.py A B OBJECT... - exit 0 when each OBJECT (a dataset, or a group: every dataset under
it) holds the same bytes in the HDF5 files A and B (h5diff without tolerances, for machines without hdf5-tools: the lent
16-core machine has h5py but no h5diff). Prints each dataset that differs or is missing."""
import sys

import h5py
import numpy as np


def datasets(f, group):
    if isinstance(f[group], h5py.Dataset):
        return [""]
    names = []
    f[group].visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
    bad = 0
    for g in sys.argv[3:]:
        na, nb = datasets(a, g), datasets(b, g)
        if na != nb:
            print(f"{g}: datasets differ: {sorted(set(na) ^ set(nb))}")
            bad = 1
            continue
        for n in na:
            path = f"{g}/{n}" if n else g
            x, y = np.asarray(a[path][()]), np.asarray(b[path][()])
            if x.shape != y.shape or x.tobytes() != y.tobytes():
                print(f"{path} differs")
                bad = 1
    sys.exit(bad)


if __name__ == "__main__":
    main()
