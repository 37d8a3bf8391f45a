/* tiny_test.h - what the tests of the data sources, the model, predict and export share
 * (tiny_fixtures.c): IDX files of a few 4x4 images made in the suite's scratch directory
 * (ot_test_scratch_init), a config that trains a 16-5-3 model on them, its checkpoint, and
 * file helpers (stdout is captured with ot_test_stdout_begin, ot_test.h). */
#ifndef TINY_TEST_H
#define TINY_TEST_H

#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_train.h"

enum {
    OT_TINY_ROWS = 4, OT_TINY_COLS = 4, OT_TINY_DIM = 16, /* one image */
    OT_TINY_CLASSES = 3,
    OT_TINY_TRAIN = 24, /* training images: 3 batches of 8 */
    OT_TINY_TEST = 10,  /* test images */
};

/* Pixel j of tiny image s (the test images are s >= OT_TINY_TRAIN) and its label. */
uint8_t ot_tiny_pixel(size_t s, size_t j);
uint8_t ot_tiny_label(size_t s);

/* An IDX image file at path of n images rows x cols, pixels px (n * rows * cols of them), or
 * an IDX label file of n labels; gzip-compressed when gz. 0 or -1. */
int ot_tiny_write_images(const char *path, int gz, size_t n, size_t rows, size_t cols,
                         const uint8_t *px);
int ot_tiny_write_labels(const char *path, int gz, size_t n, const uint8_t *labels);

/* The tiny data in the scratch directory: train-images.gz and train-labels.gz (gzip, the
 * OT_TINY_TRAIN images s = 0..), test-images and test-labels (raw, OT_TINY_TEST images
 * s = OT_TINY_TRAIN..). 0 or -1. */
int ot_tiny_make_data(void);

/* c: the defaults, the tiny IDX files, 3 classes, model 16-5-3 (he init), batches of 8 in 2
 * shards, learning rate 0.1, seed 5, one epoch, output.dir SCRATCH/run, config path
 * SCRATCH/tiny.ini; then opts (NULL or a NULL-terminated list of "section.key=value"), then
 * ot_config_check. 0 or -1. */
int ot_tiny_config(ot_config_t *c, const char *const *opts);

/* Train c one epoch on 1 thread and write the checkpoint at path; t is left for the caller to
 * compare with (free it with ot_trainer_free, also after a failure). 0 or -1. */
int ot_tiny_checkpoint(ot_trainer_t *t, const ot_config_t *c, const char *path);

/* A suite's init for tests of a checkpoint: the scratch directory (tag), the tiny data, c
 * from opts (ot_tiny_config) and its checkpoint SCRATCH/ck.h5 (the path into ckpt, n bytes)
 * written by t (ot_tiny_checkpoint). 0, or 1 (CUnit's init failure). The suite's cleanup,
 * ot_tiny_suite_free, frees t and removes the scratch directory. */
int ot_tiny_suite_init(const char *tag, const char *const *opts, ot_config_t *c, ot_trainer_t *t,
                       char *ckpt, size_t n);
int ot_tiny_suite_free(ot_trainer_t *t);

/* Limit the files this process writes to `bytes` bytes (SIGXFSZ ignored, so that a write
 * beyond fails with EFBIG, as on a full disk) until ot_tiny_fsize_restore. 0 or -1. */
int ot_tiny_fsize_limit(long bytes);
void ot_tiny_fsize_restore(void);

/* A file's size in bytes, or -1 when it cannot be read. Its bytes, malloc'd (*size of them,
 * and a NUL after them), or NULL. */
long ot_tiny_file_size(const char *path);
void *ot_tiny_slurp(const char *path, size_t *size);

/* Whether the file at path holds exactly text (1), or not or cannot be read (0). */
int ot_tiny_holds(const char *path, const char *text);

#endif
