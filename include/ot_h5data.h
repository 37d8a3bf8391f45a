/* ot_h5data.h - data sets in HDF5 files, the convention of Caffe's HDF5Data layer and of h5py
 * users: a features dataset of N samples and a labels dataset of N class indices, both named
 * by the config (data.features, data.labels).
 *
 *   features  N x D (vectors), N x H x W (one channel), N x H x W x C (data.layout = nhwc,
 *             the default) or N x C x H x W (nchw, turned to NHWC as it is read);
 *             uint8 (scaled to [0, 1] like IDX images, when used) or float32/float64 (as
 *             stored, kept as float32); chunked and compressed datasets are read by
 *             hyperslabs of whole chunk rows, so that every chunk is decompressed once
 *   labels    N or N x 1 integers of any width, or floats holding whole numbers (Caffe's
 *             HDF5Data layer keeps labels as floats), each in [0, data.classes)
 *   names     optional: the root attribute class_names, one string per class (as
 *             scripts/to_hdf5.py keeps a PNG folder's), into ot_dataset_t.class_names; for
 *             predict (labels_optional) the dataset file_names, one string per sample (the
 *             PNG files' names), into ot_dataset_t.sample_names. Names that are not such
 *             strings are left alone (they label output only), and so are a dataset's
 *             variable-length names past 4096 bytes a sample; why an attribute class_names
 *             was left goes to ot_dataset_t.class_names_note, for the caller to say.
 *
 * Every problem is one line naming the file, the dataset (and the config key that names it)
 * and what is wrong, before anything is kept: a missing dataset, a rank or type that cannot
 * be used, N that differs between features and labels, a label outside the classes (or a
 * float one that is not a whole number), NaN or
 * Inf among float features, and a data set that needs more memory than there is (checked
 * before reading, with both figures). */
#ifndef OT_H5DATA_H
#define OT_H5DATA_H

#include <hdf5.h>
#include <stddef.h>
#include <stdio.h>

#include "ot_config.h"
#include "ot_data.h"

typedef struct {
    const char *features;   /* the features dataset's name (an HDF5 path: "data", "/x/y") */
    const char *labels;     /* the labels dataset's name */
    ot_layout_t layout;     /* axis order of a rank-4 features dataset */
    int n_classes;          /* labels lie in [0, n_classes), 2..256 */
    size_t limit;           /* keep only the first limit samples; 0 = all */
    int labels_optional;    /* a missing labels dataset is no error: labels are all 0 and
                               *has_labels 0 (omptrain predict) */
    size_t mem_limit;       /* bytes the data set may take; 0 = what the system has (the
                               smaller of MemAvailable and the address-space and data limits) */
    FILE *progress;         /* a terminal to show how far reading the samples has come (one
                               line, redrawn at most ten times a second, then erased); NULL:
                               nothing shown */
    double progress_after;  /* seconds of reading before the line first shows */
} ot_h5data_opts_t;

/* Read the data set in the HDF5 file at path into ds (memset first; free with
 * ot_dataset_free). has_labels (may be NULL) is set to whether the labels dataset was there.
 * Returns 0, OT_EIO (the file cannot be opened or read), OT_EFORMAT (not HDF5, a dataset
 * missing or unusable, a bad label, NaN or Inf), OT_ENOMEM (more than the memory there is,
 * or an allocation failed) or OT_EINVAL (n_classes out of range); one line printed; ds is
 * left empty on error. Uses HDF5 from the calling thread only. */
int ot_h5data_load(ot_dataset_t *ds, const char *path, const ot_h5data_opts_t *o,
                   int *has_labels);

/* ot_h5data_load on a file already open (from a path, or from memory: ot_h5_open_image),
 * named name in messages, and left open. Same returns, but OT_EIO only for what cannot be
 * read. Besides its memory, a data set's storage is bounded: no dataset may keep its values
 * in other files (external storage, a virtual dataset, an external link on the way) or have
 * compressed chunks larger than the data set's memory or 16 MiB, whichever is more. */
int ot_h5data_load_h5(ot_dataset_t *ds, hid_t f, const char *name, const ot_h5data_opts_t *o,
                      int *has_labels);

/* Whether path is an HDF5 file (1), not one (0), or cannot be read (-1, nothing printed). */
int ot_h5data_is_hdf5(const char *path);


#endif
