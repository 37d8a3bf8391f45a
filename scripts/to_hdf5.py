#!/usr/bin/python3
"""to_hdf5.py - a data set as the HDF5 file omptrain reads (data.train_file, data.test_file):
a features dataset and a labels dataset of N samples each (Caffe's HDF5Data layout, as h5py
users write it).

usage: /usr/bin/python3 scripts/to_hdf5.py csv FILE.csv OUT.h5 [options]
       /usr/bin/python3 scripts/to_hdf5.py npz FILE.npz OUT.h5 [options]
       /usr/bin/python3 scripts/to_hdf5.py npy FEATURES.npy LABELS.npy OUT.h5 [options]
       /usr/bin/python3 scripts/to_hdf5.py png FOLDER OUT.h5 [options]

  csv  one sample per line, the label in one column (--label-column, default 0: the layout of
       the widely shared MNIST-as-CSV files, "label,1x1,1x2,...,28x28"), the features in the
       others; a first line that is not numbers is a header and skipped
  npz  a NumPy archive holding the features (--x, default x) and the labels (--y, default y)
  npy  a pair of .npy files: the features (N, ...) and the labels (N)
  png  a folder with one subfolder per class (classes numbered in sorted name order, names
       kept in the attribute class_names, which omptrain predict and eval show), each holding
       that class's images (.png; also .jpg, .jpeg, .bmp, .gif, .tif, .tiff, .webp), all of
       one size (or --resize); grayscale images give N x H x W, colour ones N x H x W x C
       (--mode). 16-bit grayscale images (and 32-bit integer ones holding 0..65535) are
       scaled to 8 bits as round(v / 257), which undoes the usual 8-to-16-bit widening
       v * 257. A folder of images without subfolders gives samples without labels, for
       omptrain predict. Either way the files' names (class/file.png, or file.png) go into
       the dataset file_names, in sample order, which omptrain predict copies into its
       outputs

options:
  --shape HxW[xC]     give each sample this shape (csv, npz, npy; not png, see --resize):
                      28x28 for MNIST rows
  --dtype auto|uint8|float32
                      the features' type: auto (default) keeps uint8 data as uint8 (omptrain
                      scales it to [0, 1]), turns integers in 0..255 into uint8 and anything
                      else into float32 (used as stored)
  --layout nhwc|nchw  how rank-4 samples are stored: nhwc (default, N x H x W x C) or nchw
                      (N x C x H x W; then set data.layout = nchw); the input's own order is
                      channels last (NHWC) for PNG and --shape
  --features NAME     the features dataset's name (default data, omptrain's data.features)
  --labels NAME       the labels dataset's name (default label, omptrain's data.labels)
  --mode L|RGB|RGBA   (png) convert every image to this mode (default: L when every image is
                      grayscale, else RGB)
  --resize HxW        (png) scale every image to H x W pixels (Pillow's Lanczos filter), e.g.
                      28x28 for a model trained on MNIST
  --invert            (png) store 255 - v for every colour value: dark digits on a light
                      background (a scan, a photo) become MNIST's light digits on black
  --compress LEVEL    gzip level 0..9 of the chunked datasets (default 4; 0: contiguous,
                      uncompressed)
  --limit N           keep the first N samples

Every sample needs at least one feature. Labels are stored as int64, and must be integers
>= 0. The file gets the attributes classes (largest label + 1, or the number of class folders;
not for a folder without labels) and source. Prints one line on success.

Needs Debian's python3-numpy and python3-h5py (and python3-pil for png): run it with
/usr/bin/python3. Exit status: 0 done, 1 the input cannot be read or converted, 2 usage."""
import argparse
import os
import sys
import warnings

try:
    import numpy as np
    import h5py
except ImportError as e:
    sys.exit(f"to_hdf5.py: {e.name} is missing: run with /usr/bin/python3 (Debian's "
             "python3-numpy and python3-h5py)")


class Fail(Exception):
    """One line for stderr, exit status 1."""


def parse_shape(text):
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if not 2 <= len(dims) <= 3 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"invalid shape '{text}', expected HxW or HxWxC, "
                                         "e.g. 28x28")
    return dims


def read_csv(path, label_column):
    try:
        with open(path, "r", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise Fail(f"{path}: cannot read it: {e}") from e
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        raise Fail(f"{path}: no lines, expected one sample per line")
    first = 0
    try:
        [float(v) for v in lines[0].split(",")]
    except ValueError:
        first = 1  # a header
    rows = lines[first:]
    if not rows:
        raise Fail(f"{path}: only a header, expected one sample per line after it")
    cols = rows[0].count(",") + 1
    if cols < 2:  # often another separator (';', tabs): the whole line reads as one column
        raise Fail(f"{path}: no feature columns (one label column and nothing else), expected "
                   "the label and the features separated by commas")
    # NumPy's C parser: every line's values, commas between them (it stops at the first value
    # that is not a number, with a DeprecationWarning: found below by line and column instead)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(",".join(rows), dtype=np.float64, sep=",")
    if values.size != len(rows) * cols:
        for i, ln in enumerate(rows):
            if ln.count(",") + 1 != cols:
                raise Fail(f"{path}:{i + first + 1}: {ln.count(',') + 1} values, expected "
                           f"{cols} like line {first + 1}")
            for j, v in enumerate(ln.split(",")):
                try:
                    float(v)
                except ValueError:
                    raise Fail(f"{path}:{i + first + 1}: column {j + 1}: '{v.strip()}' is not a "
                               "number, expected numbers separated by commas") from None
        raise Fail(f"{path}: a value that is not a number, expected numbers separated by "
                   "commas")
    table = values.reshape(len(rows), cols)
    if not -cols <= label_column < cols:
        raise Fail(f"{path}: --label-column {label_column}, but the lines have {cols} columns")
    labels = table[:, label_column]
    features = np.delete(table, label_column % cols, axis=1)
    return features, labels


def numpy_kind(path):
    """'npz', 'npy' or None: np.load decides by these first bytes, and reads anything else as a
    pickle (its error then speaks of pickled data)."""
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise Fail(f"{path}: cannot read it: {e}") from e
    if magic.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a zip, or an empty one
        return "npz"
    return "npy" if magic == b"\x93NUMPY" else None


def read_npz(path, xkey, ykey):
    kind = numpy_kind(path)
    if kind != "npz":
        raise Fail(f"{path}: not a .npz archive (" + ("use the npy subcommand for .npy files)"
                   if kind == "npy" else "expected a zip of .npy files, as numpy.savez writes)"))
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = [k for k in (xkey, ykey) if k not in z.files]
            if missing:
                raise Fail(f"{path}: no array '{missing[0]}', the archive holds "
                           f"{', '.join(z.files) or 'nothing'} (--x and --y name them)")
            return z[xkey], z[ykey]
    except (OSError, ValueError) as e:
        raise Fail(f"{path}: cannot read it as .npz: {e}") from e


def read_npy(path):
    kind = numpy_kind(path)
    if kind != "npy":
        raise Fail(f"{path}: not a .npy file (" + ("use the npz subcommand for .npz archives)"
                   if kind == "npz" else "expected an array as numpy.save writes it)"))
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise Fail(f"{path}: cannot read it as .npy: {e}") from e


# the files a png folder's images are read from: Pillow reads each of these
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def read_png(folder, mode, resize, invert):
    """(images, labels or None, class names or None, file names) of a PNG folder."""
    try:
        from PIL import Image
    except ImportError as e:
        raise Fail("png needs Pillow: apt-get install python3-pil") from e
    if not os.path.isdir(folder):
        raise Fail(f"{folder}: not a folder, expected one subfolder per class, or images")
    classes = sorted(d for d in os.listdir(folder) if os.path.isdir(os.path.join(folder, d)))
    loose = sorted(f for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTS) and
                   os.path.isfile(os.path.join(folder, f)))
    files = []  # (path, label, name)
    if not classes:  # images to predict: no labels
        if not loose:
            raise Fail(f"{folder}: no class subfolders and no images ({', '.join(IMAGE_EXTS)}), "
                       "expected one subfolder per class, or images to predict")
        files = [(os.path.join(folder, f), None, f) for f in loose]
    elif len(classes) < 2:
        raise Fail(f"{folder}: {len(classes)} class subfolder, expected at least 2 (or only "
                   "images, to predict)")
    else:
        if loose:
            raise Fail(f"{folder}: images ({loose[0]}, ...) beside the class subfolders, "
                       "expected each image in its class's subfolder")
        for k, name in enumerate(classes):
            pngs = sorted(f for f in os.listdir(os.path.join(folder, name))
                          if f.lower().endswith(IMAGE_EXTS))
            if not pngs:
                raise Fail(f"{os.path.join(folder, name)}: no images ({', '.join(IMAGE_EXTS)})")
            files += [(os.path.join(folder, name, f), k, f"{name}/{f}") for f in pngs]
    images = []
    for path, _, _ in files:
        try:
            with Image.open(path) as im:
                im.load()
                im = im.copy()
        except OSError as e:
            raise Fail(f"{path}: cannot read it as an image: {e}") from e
        if im.mode.startswith("I"):  # 16-bit gray ("I;16", "I;16B"; "I": 32-bit integers)
            # convert("L") would clip every value above 255 to white: scale to 8 bits instead,
            # round(v / 257) = (v + 128) // 257, which maps 0..65535 onto 0..255 and an 8-bit
            # value widened as v * 257 back to v
            a = np.asarray(im, dtype=np.int64)
            if a.size and (a.min() < 0 or a.max() > 65535):
                raise Fail(f"{path}: a mode {im.mode} image with values {a.min()}..{a.max()}, "
                           "expected 16-bit values 0..65535")
            im = Image.fromarray(((a + 128) // 257).astype(np.uint8), "L")
        images.append(im)
    if mode is None:
        mode = "L" if all(im.mode in ("L", "1") for im in images) else "RGB"
    arrays = []
    size = (resize[1], resize[0]) if resize else images[0].size  # Pillow's (width, height)
    for (path, _, _), im in zip(files, images):
        im = im.convert(mode)
        if resize:
            im = im.resize(size, Image.LANCZOS)
        elif im.size != size:
            raise Fail(f"{path}: {im.size[0]}x{im.size[1]} pixels, expected "
                       f"{size[0]}x{size[1]} like {files[0][0]} (or --resize HxW)")
        a = np.asarray(im, dtype=np.uint8)
        if invert:  # the colours, not an alpha channel
            a = a.copy()
            if a.ndim == 3 and a.shape[2] == 4:
                a[..., :3] = 255 - a[..., :3]
            else:
                a = 255 - a
        arrays.append(a)
    labels = None if not classes else np.array([k for _, k, _ in files])
    return np.stack(arrays), labels, (classes or None), [n for _, _, n in files]


def to_features(x, shape, dtype, source):
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[0] == 0:
        raise Fail(f"{source}: no samples")
    if x.dtype.kind not in "uifb":
        raise Fail(f"{source}: features of type {x.dtype}, expected numbers")
    if shape:
        per = int(np.prod(x.shape[1:]))
        if per != int(np.prod(shape)):
            raise Fail(f"{source}: {per} values per sample, which --shape "
                       f"{'x'.join(map(str, shape))} does not hold")
        x = x.reshape((x.shape[0],) + shape)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x[0].size == 0:
        raise Fail(f"{source}: samples of shape {'x'.join(map(str, x.shape[1:]))} hold no "
                   "features, expected at least one value per sample")
    if x.ndim > 4:
        raise Fail(f"{source}: samples of shape {x.shape[1:]}, expected at most 3 axes")
    if dtype == "auto":
        if x.dtype == np.uint8:
            dtype = "uint8"
        elif x.dtype.kind in "uib" or (x.dtype.kind == "f" and np.all(np.isfinite(x)) and
                                       np.all(x == np.round(x))):
            dtype = "uint8" if x.size and x.min() >= 0 and x.max() <= 255 else "float32"
        else:
            dtype = "float32"
    if dtype == "uint8":
        if x.dtype.kind == "f" and not np.all(x == np.round(x)):
            raise Fail(f"{source}: --dtype uint8, but some features are not integers")
        if x.size and (x.min() < 0 or x.max() > 255):
            raise Fail(f"{source}: --dtype uint8, but the features span {x.min()}..{x.max()}, "
                       "expected 0..255")
        return x.astype(np.uint8)
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        i = np.argwhere(~np.isfinite(x))[0]
        raise Fail(f"{source}: feature {tuple(int(v) for v in i)} is {x[tuple(i)]}, expected "
                   "finite numbers")
    return x.astype(np.float32)


def to_labels(y, n, source):
    y = np.asarray(y).reshape(-1) if np.asarray(y).ndim == 2 and np.asarray(y).shape[1] == 1 \
        else np.asarray(y)
    if y.ndim != 1:
        raise Fail(f"{source}: labels of shape {y.shape}, expected N labels")
    if y.shape[0] != n:
        raise Fail(f"{source}: {n} samples but {y.shape[0]} labels, expected one label each")
    if y.dtype.kind not in "uif" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise Fail(f"{source}: labels of type {y.dtype} that are not integers, expected class "
                   "indices 0, 1, ...")
    if y.size and y.min() < 0:
        i = int(np.argmin(y))
        raise Fail(f"{source}: label {y[i]} at index {i}, expected class indices >= 0")
    return y.astype(np.int64)


class Parser(argparse.ArgumentParser):
    """argparse with one line for a usage error, as omptrain's own."""

    def error(self, message):
        self.exit(2, f"to_hdf5.py: {message} (see to_hdf5.py --help)\n")


def main(argv):
    p = Parser(prog="to_hdf5.py", description=__doc__,
               formatter_class=argparse.RawDescriptionHelpFormatter, usage=argparse.SUPPRESS)
    p.add_argument("kind", choices=["csv", "npz", "npy", "png"])
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--label-column", type=int, default=0)
    p.add_argument("--x", default="x")
    p.add_argument("--y", default="y")
    p.add_argument("--shape", type=parse_shape)
    p.add_argument("--dtype", choices=["auto", "uint8", "float32"], default="auto")
    p.add_argument("--layout", choices=["nhwc", "nchw"], default="nhwc")
    p.add_argument("--features", default="data")
    p.add_argument("--labels", default="label")
    p.add_argument("--mode", choices=["L", "RGB", "RGBA"])
    p.add_argument("--resize", type=parse_shape)
    p.add_argument("--invert", action="store_true")
    p.add_argument("--compress", type=int, choices=range(10), default=4, metavar="LEVEL")
    p.add_argument("--limit", type=int)
    a = p.parse_args(argv)
    want = {"csv": 2, "npz": 2, "npy": 3, "png": 2}[a.kind]
    if len(a.paths) != want:
        p.error(f"{a.kind} takes {want} paths, the last the HDF5 file to write; got "
                f"{len(a.paths)}")
    if a.limit is not None and a.limit < 1:
        p.error("--limit: expected a positive number of samples")
    if a.kind != "png" and (a.resize or a.invert or a.mode):
        p.error("--resize, --invert and --mode are for png")
    if a.kind == "png" and a.shape:
        p.error("--shape is for csv, npz and npy (png keeps the images' shape, or --resize HxW)")
    if a.resize and len(a.resize) != 2:
        p.error("--resize: expected HxW, e.g. 28x28")
    *inputs, out = a.paths
    source = ", ".join(inputs)
    class_names = file_names = None
    if a.kind == "csv":
        x, y = read_csv(inputs[0], a.label_column)
    elif a.kind == "npz":
        x, y = read_npz(inputs[0], a.x, a.y)
    elif a.kind == "npy":
        x, y = read_npy(inputs[0]), read_npy(inputs[1])
    else:
        x, y, class_names, file_names = read_png(inputs[0], a.mode, a.resize, a.invert)
    n = np.asarray(x).shape[0] if np.asarray(x).ndim else 0
    if y is not None:
        y = to_labels(y, n, source)
    if a.limit:
        x = x[:a.limit]
        y = None if y is None else y[:a.limit]
        file_names = None if file_names is None else file_names[:a.limit]
    x = to_features(x, a.shape, a.dtype, source)
    if x.ndim == 4 and a.layout == "nchw":
        x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    classes = len(class_names) if class_names else None if y is None else int(y.max()) + 1
    opts = {}
    if a.compress > 0:
        rows = max(1, min(x.shape[0], (1 << 20) // max(1, x[0].nbytes)))  # ~1 MiB chunks
        opts = {"chunks": (rows,) + x.shape[1:], "compression": "gzip",
                "compression_opts": a.compress}
    tmp = f"{out}.tmp-{os.getpid()}"
    try:
        with h5py.File(tmp, "w") as f:
            f.create_dataset(a.features, data=x, **opts)
            small = ({"chunks": True, "compression": "gzip", "compression_opts": a.compress}
                     if a.compress > 0 else {})
            if y is not None:
                f.create_dataset(a.labels, data=y, **small)
                f.attrs["classes"] = classes
            if file_names is not None:
                f.create_dataset("file_names", data=np.array(file_names, dtype=object),
                                 dtype=h5py.string_dtype(), **small)
            f.attrs["source"] = source
            if class_names:
                f.attrs["class_names"] = np.array(class_names, dtype=h5py.string_dtype())
            if x.ndim == 4:
                f.attrs["layout"] = a.layout
        os.replace(tmp, out)  # whole or not at all
    except OSError as e:
        raise Fail(f"{out}: cannot write it: {e}") from e
    finally:  # whatever stopped it (another error, Ctrl-C): no half-written file left
        if os.path.exists(tmp):
            os.remove(tmp)
    shape = "x".join(map(str, x.shape))
    print(f"wrote {out}: {a.features} {shape} {x.dtype}, " +
          (f"{a.labels} {y.shape[0]} int64, {classes} classes" if y is not None else
           "no labels (to predict)") +
          (f" ({', '.join(class_names)})" if class_names else "") +
          (f", file_names {len(file_names)}" if file_names is not None else "") +
          (f", layout {a.layout}" if x.ndim == 4 else "") +
          (f", gzip {a.compress}" if a.compress else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Fail as e:
        sys.exit(f"to_hdf5.py: {e}")
