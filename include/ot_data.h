/* ot_data.h - IDX files (MNIST format, raw or gzip) and in-memory data sets.
 * Images stay uint8 in memory (or float32, for float features from HDF5: ot_h5data.h); a batch
 * is converted to floats when it is used: bytes u to u / 255 in [0,1], floats as they are,
 * then standardised when the data set has statistics (mean, std). */
#ifndef OT_DATA_H
#define OT_DATA_H

#include <stddef.h>
#include <stdint.h>

/* The largest IDX file accepted, decompressed (guards against absurd headers). */
#define OT_IDX_MAX_BYTES ((size_t)1 << 32)

typedef struct {
    uint8_t *images; /* n * dim pixels, row-major, one image after another (NHWC); NULL when
                        the samples are floats (features) */
    uint8_t *labels; /* n labels, each < n_classes */
    size_t n;        /* number of samples */
    size_t rows;     /* image height (1 for vectors) */
    size_t cols;     /* image width (1 for vectors) */
    size_t dim;      /* rows * cols * chans: floats per sample */
    int n_classes;   /* labels lie in [0, n_classes) */
    float nonzero;   /* fraction of the pixels that are not zero (MNIST: 0.19, Fashion-MNIST:
                        0.50); the engine leaves zero pixels out of the first layer's
                        products below ot_kgemm_sparse_below(). 1 when the first layer gets
                        anything but bytes scaled to [0,1] (float features, standardised
                        data): the lists of nonzero pixels hold bytes, and a standardised 0 is
                        not 0. */
    /* each image's nonzero pixels, listed once by ot_dataset_index when the images are mostly
     * zero (OT_INDEX_BELOW): image s's are nz_pix and nz_val [nz_off[s], nz_off[s + 1]), in
     * pixel order; NULL when not listed (ot_dataset_gather_sparse then scans the images) */
    uint32_t *nz_off; /* (n + 1) */
    uint16_t *nz_pix; /* pixel indices (dim <= OT_SPARSE_MAX_DIM) */
    uint8_t *nz_val;  /* pixel values */
    /* data sets that are not MNIST-like images (HDF5, ot_h5data.h) */
    float *features;  /* n * dim floats, laid out as images, when the samples are not bytes;
                         else NULL */
    size_t chans;     /* channels (NHWC: innermost); a vector's width; 0 or 1 for IDX */
    int flat;         /* the samples are vectors (HDF5 N x D), not images */
    const float *mean; /* (dim) standardisation x -> (x - mean) / std per feature, applied by
                          the gathers; NULL = none (not owned: ot_input.h) */
    const float *std;  /* (dim) */
    size_t load_bytes; /* what loading held at its peak (the memory estimate's): from IDX the
                          images kept (a limit reads the rest without keeping it) and the whole
                          label file; from HDF5 the samples read (bytes or floats) and labels */
    char **class_names; /* (n_classes) the classes' names from the data file (HDF5: the root
                           attribute class_names, as scripts/to_hdf5.py keeps a PNG folder's),
                           one block; NULL without them. They label output only */
    char **sample_names; /* (n) the samples' names (omptrain predict on HDF5: the dataset
                            file_names, as scripts/to_hdf5.py keeps the PNG files' names), one
                            block; NULL without them. They label output only */
    char class_names_note[160]; /* why the data file's class names, or its file_names, are
                                   not used ("attribute class_names holds 2 names, not
                                   data.classes = 3"), for the caller to say; "" when they
                                   are, or it has none */
} ot_dataset_t;

/* The most pixels an image may have for the lists of nonzero pixels, whose indices are
 * uint16: ot_dataset_index and ot_dataset_gather_sparse. */
#define OT_SPARSE_MAX_DIM 65536

/* A pixel u (0..255) stands for the float (float)u * OT_PIXEL_SCALE, in [0,1]. */
#define OT_PIXEL_SCALE (1.0f / 255.0f)

/* ot_dataset_load lists the nonzero pixels (3 bytes each) only below this fraction, where the
 * list is smaller than the images (1 byte a pixel); above it the gather scans the images,
 * which measured as fast on Fashion-MNIST (49.8% nonzero) and saves 70 MB there. */
#define OT_INDEX_BELOW (1.0f / 3.0f)

/* Read an IDX image file (magic 0x00000803: n, rows, cols, big-endian) into *images
 * (malloc'd, owned by the caller). Raw and gzip files are both accepted (told apart by gzip's
 * magic; a gzip file may hold several members back to back, as gzip -d takes them).
 * Returns 0, OT_EIO (cannot open or read), OT_EFORMAT (wrong magic, truncated header or body,
 * zero images, trailing bytes, a corrupt or cut gzip stream, or bytes after it that begin no
 * gzip member) or OT_ENOMEM; on error prints one line naming the file. */
int ot_idx_read_images(const char *path, uint8_t **images, size_t *n, size_t *rows, size_t *cols);

/* Read an IDX label file (magic 0x00000801: n, big-endian) into *labels (malloc'd).
 * Same return codes as ot_idx_read_images. */
int ot_idx_read_labels(const char *path, uint8_t **labels, size_t *n);

/* Load an image file and its label file into ds. Checks that the counts agree and that every
 * label is < n_classes; labels_path NULL: no labels (all 0). limit > 0 keeps only the first
 * limit samples: the images after them are read and checked as without a limit, not kept.
 * Images with fewer than OT_INDEX_BELOW nonzero pixels get them listed (ot_dataset_index).
 * Returns 0 or an OT_E* code after printing one line; ds is left empty on error. Free with
 * ot_dataset_free(). */
int ot_dataset_load(ot_dataset_t *ds, const char *images_path, const char *labels_path,
                    int n_classes, size_t limit);

/* List each image's nonzero pixels in ds->nz_* (replacing any earlier list). Returns 0, or
 * OT_ENOMEM after printing one line (ds is left without a list), or OT_EFORMAT when an image
 * has more than OT_SPARSE_MAX_DIM pixels (no list; nothing printed). */
int ot_dataset_index(ot_dataset_t *ds);

/* Fraction of the n bytes at p that are not zero (0 when n is 0): ds->nonzero. */
float ot_nonzero_fraction(const uint8_t *p, size_t n);

/* Sample s's values (dim of them) as the gather makes them, into x. */
void ot_dataset_sample(const ot_dataset_t *ds, size_t s, float *x);

/* Standardise ds from now on: the gathers map x to (x - mean[j]) / std[j] (dim entries each,
 * not owned: they must outlive ds's use); NULL, NULL: no more. With statistics it sets
 * ds->nonzero to 1 and frees the lists of nonzero pixels (a standardised 0 is not 0), so ds
 * must own them: standardise a data set before taking views of it (ot_dataset_tail). */
void ot_dataset_standardise(ot_dataset_t *ds, const float *mean, const float *std);

/* The samples of ds from sample `from` on, as a view (no copy; not to be freed): what the
 * validation split of a training set is. */
ot_dataset_t ot_dataset_tail(const ot_dataset_t *ds, size_t from);

/* Release ds's memory and zero it. Safe on a zeroed ds. */
void ot_dataset_free(ot_dataset_t *ds);

/* Gather samples idx[0..n) into x (n, dim) as floats (bytes scaled to [0,1], floats as they
 * are, then standardised when ds->mean is set) and y (n) as class indices.
 * x and y are caller-owned. Pure function: no allocation. */
void ot_dataset_gather(const ot_dataset_t *ds, const uint32_t *idx, size_t n, float *x, int32_t *y);

/* Training images moved by up to `max` pixels along each axis (data augmentation), by a
 * counter-based hash of (seed, step, sample) like dropout's masks: the same shift whichever
 * shard or thread gathers the sample. */
typedef struct {
    uint64_t seed; /* the run's seed */
    uint64_t step; /* the optimizer step */
    int max;       /* largest shift, pixels; > 0 */
} ot_shift_key_t;

/* The shift of sample `sample` under k: dy, dx in [-max, max]. */
void ot_shift_of(const ot_shift_key_t *k, uint32_t sample, int *dy, int *dx);

/* ot_dataset_gather with each image moved by its shift (ot_shift_of): pixel (r, c) comes from
 * (r - dy, c - dx), zero where that is outside the image. */
void ot_dataset_gather_shifted(const ot_dataset_t *ds, const uint32_t *idx, size_t n, float *x,
                               int32_t *y, const ot_shift_key_t *k);

/* A batch of images as their nonzero pixels (a pixel value u stands for (float)u *
 * OT_PIXEL_SCALE): by row (for y = x W) and, when col_n is not NULL, by column (for
 * dW = x^T dy). The arrays are the caller's. */
typedef struct {
    uint32_t *row_n;          /* (n) nonzero pixels of row p */
    const uint16_t **row_pix; /* (n) row p's pixel indices, increasing: the data set's own list
                                 (ot_dataset_index), or pix_buf + p * ld */
    const uint8_t **row_val;  /* (n) their values, alike */
    uint16_t *pix_buf;        /* (n, ld) room for rows found by scanning the images, when the */
    uint8_t *val_buf;         /*         data set has no list; ld >= dim */
    size_t ld;
    uint32_t *col_n;    /* (dim) the column lists' lengths so far, which each call extends (the
                           caller zeroes them before a batch's first call); NULL: no column
                           lists */
    uint32_t *col_code; /* (n, dim) those rows, increasing, with the pixel's value: the k-th
                           at k * dim + i, (row << 8) | value (pixels next to each other share
                           cache lines, both when the lists are built row by row and when they
                           are read pixel by pixel); rows < 2^24 */
    size_t first;       /* the column lists' number for this call's row 0 */
} ot_sparse_batch_t;

/* ot_dataset_gather for mostly-zero images (dim <= OT_SPARSE_MAX_DIM): samples idx[0..n) into sb (the
 * pixels of ot_dataset_gather's floats that are not zero; appended to the column lists as rows
 * first..first + n - 1) and y. */
void ot_dataset_gather_sparse(const ot_dataset_t *ds, const uint32_t *idx, size_t n,
                              const ot_sparse_batch_t *sb, int32_t *y);

/* Start fetching samples idx[0..n) into the cache (a hint: no effect on any result). */
void ot_dataset_prefetch(const ot_dataset_t *ds, const uint32_t *idx, size_t n);

#endif
