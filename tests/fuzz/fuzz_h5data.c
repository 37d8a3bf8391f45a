/* fuzz_h5data.c - libFuzzer target for the HDF5 data reader (h5data.c): a user's data set in
 * Caffe's HDF5Data layout, as h5py and scripts/to_hdf5.py write it.
 *
 * The input is an HDF5 file image, opened read-only from memory (ot_h5_open_image, HDF5's core
 * driver: no file is written) and read by ot_h5data_load_h5 with the options chosen by the
 * input's size among the ones a config can give: the dataset names (data/label,
 * features/labels, a soft link's path), the axis order of rank-4 features (nhwc, nchw), the
 * classes, a limit on the samples, optional labels (omptrain predict), and a memory limit of
 * 1 MiB for the data set. A data set that loads must be consistent: samples, their shape and
 * their values (bytes, or finite floats), labels below the classes, no more samples than the
 * limit, no more memory than the limit; its buffers are read end to end so that ASan sees a
 * short one. Every HDF5 id the reader opened must be closed again. libFuzzer's
 * -malloc_limit_mb (fuzz.sh: 64) fails any single allocation above it: with the data set held
 * to 1 MiB, what remains is HDF5's decompression of one chunk, which the reader bounds by 16
 * MiB (ot_h5data.h).
 * The mutator is fuzz_h5.h's (HDF5 edits through HDF5's own API). */
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_NAME "fuzz_h5data"
#include "fuzz_util.h"
#include "fuzz_h5.h"

#include "ot_common.h"
#include "ot_data.h"
#include "ot_h5data.h"

#define MEM_LIMIT ((size_t)1 << 20)

static const char *const names[] = {
    "data", "label", "features", "labels", "train", "test", "x", "y", "classes",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_names = names;
    fuzz_n_names = sizeof names / sizeof names[0];
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* the readers print their own one line */
    return 0;
}

/* The options a config (or omptrain predict) gives the reader. */
static const struct {
    const char *features, *labels;
    ot_layout_t layout;
    int classes;
    size_t limit;
    int labels_optional;
} variants[] = {
    {"data", "label", OT_LAYOUT_NHWC, 3, 0, 0},
    {"data", "label", OT_LAYOUT_NCHW, 3, 0, 0},
    {"features", "labels", OT_LAYOUT_NHWC, 2, 0, 0},
    {"/train/data", "/label", OT_LAYOUT_NHWC, 3, 2, 0},
    {"data", "label", OT_LAYOUT_NHWC, 256, 5, 1},
    {"data", "labels", OT_LAYOUT_NCHW, 2, 0, 1},
    {"x", "y", OT_LAYOUT_NHWC, 10, 0, 0},
};

static unsigned touch(const void *p, size_t n)
{
    const unsigned char *b = p;
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += b[i];
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    long ids = h5_open_ids();
    hid_t f = ot_h5_open_image(data, size, "fuzz-data.h5", 0);
    if (f < 0) {
        if (h5_open_ids() != ids)
            die("a failed open left HDF5 ids behind");
        return 0;
    }
    const size_t k = size % (sizeof variants / sizeof variants[0]);
    ot_h5data_opts_t o = {.features = variants[k].features, .labels = variants[k].labels,
                          .layout = variants[k].layout, .n_classes = variants[k].classes,
                          .limit = variants[k].limit,
                          .labels_optional = variants[k].labels_optional,
                          .mem_limit = MEM_LIMIT};
    ot_dataset_t ds;
    int has_labels = -1;
    if (ot_h5data_load_h5(&ds, f, "fuzz-data.h5", &o, &has_labels) == OT_OK) {
        if (ds.n == 0 || ds.dim == 0 || ds.n_classes != o.n_classes ||
            (o.limit && ds.n > o.limit) || !ds.labels || (!ds.images == !ds.features) ||
            (has_labels != 0 && has_labels != 1) || (!has_labels && !o.labels_optional))
            die("ot_h5data_load_h5 returned an inconsistent data set");
        size_t chans = ds.chans ? ds.chans : 1;
        if (ds.dim != ds.rows * ds.cols * chans)
            die("ot_h5data_load_h5 returned a sample size other than its shape");
        size_t bytes = ds.n * ds.dim * (ds.images ? 1 : sizeof(float)) + ds.n;
        if (bytes > MEM_LIMIT)
            die("ot_h5data_load_h5 took more memory than its limit");
        for (size_t i = 0; i < ds.n; i++)
            if (ds.labels[i] >= o.n_classes)
                die("ot_h5data_load_h5 accepted a label out of range");
        if (ds.images) {
            (void)touch(ds.images, ds.n * ds.dim);
        } else {
            for (size_t i = 0; i < ds.n * ds.dim; i++)
                if (!isfinite(ds.features[i]))
                    die("ot_h5data_load_h5 accepted a feature that is not finite");
        }
        ot_dataset_free(&ds);
    } else if (ds.images || ds.features || ds.labels) {
        die("ot_h5data_load_h5 failed but left a buffer");
    }
    H5Fclose(f);
    if (h5_open_ids() != ids)
        die("the data reader left HDF5 ids open");
    return 0;
}
