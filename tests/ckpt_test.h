/* ckpt_test.h - helpers of the checkpoint tests (ckpt_fixtures.c). Trainers load the first
 * samples of data/mnist (the tests run from the repository root); files go under the suite's
 * scratch directory (ot_test_scratch_init). */
#ifndef CKPT_TEST_H
#define CKPT_TEST_H

#include <hdf5.h>
#include <stddef.h>

#include "ot_train.h"

/* adam with every feature that carries state or depends on the step; nesterov with a step
 * schedule (NULL-terminated "section.key=value" lists) */
extern const char *const ot_ck_adam_opts[];
extern const char *const ot_ck_momentum_opts[];

/* A small trainer: 784-hidden-10 on the first train_limit MNIST images, batches of 50, 4
 * shards, 2 threads; opts: NULL or settings applied over those. 0 or -1. */
int ot_ck_make_trainer_opts(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit,
                            const char *const *opts);
int ot_ck_make_trainer(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit);
/* n epochs of training: 0 or -1 */
int ot_ck_run_epochs(ot_trainer_t *t, int n);
int ot_ck_blocks_equal(const float *a, const float *b, size_t n);
int ot_ck_params_equal(const ot_net_t *a, const ot_net_t *b);
/* files in dir whose name holds ".tmp" */
int ot_ck_count_tmp_files(const char *dir);
int ot_ck_file_exists(const char *p);
/* copy the first `bytes` bytes of src to dst (all of it when bytes is 0): 0 or -1 */
int ot_ck_copy_file(const char *src, const char *dst, long bytes);
/* The whole 1-D dataset name of the HDF5 file path, read as the memory type mtype into buf
 * (max values at most); returns its length, or -1. */
long ot_ck_read_1d(const char *path, const char *name, hid_t mtype, void *buf, size_t max);

#endif
