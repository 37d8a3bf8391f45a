/* ckpt_fixtures.c - what the checkpoint tests share (test_ckpt_read.c, test_ckpt_save.c,
 * test_ckpt_write.c, test_verify.c): small trainers on the first MNIST images, comparisons,
 * file helpers. Declared in ckpt_test.h. */
#include "ckpt_test.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "ot_common.h"

/* Options of the optimizer tests: adam with every feature that carries state or depends on
 * the step (schedule, warm-up, weight decay, clipping, validation, early stopping). */
const char *const ot_ck_adam_opts[] = {
    "training.optimizer=adam", "training.schedule=cosine", "training.warmup_epochs=1",
    "training.weight_decay=0.001", "training.clip_norm=5", "training.validation=100",
    "training.patience=5", "training.epochs=3", NULL,
};
const char *const ot_ck_momentum_opts[] = {
    "training.optimizer=nesterov", "training.schedule=step", "training.step_epochs=1",
    "training.step_factor=0.5", NULL,
};

/* A small trainer on the first MNIST images: 784-hidden-10, batches of 50 (12 per epoch for
 * 600 images), 4 shards, 2 threads; opts: NULL or more "section.key=value" settings. */
int ot_ck_make_trainer_opts(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit,
                             const char *const *opts)
{
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "tests/ckpt-unit.ini");
    c.sizes[1] = hidden;
    c.train_limit = train_limit;
    c.test_limit = 200;
    c.batch_size = 50;
    c.shards = 4;
    c.seed = seed;
    for (size_t i = 0; opts && opts[i]; i++) /* over the fixture's values */
        if (ot_config_set(&c, opts[i]))
            return -1;
    if (ot_config_check(&c))
        return -1;
    return ot_trainer_init(t, &c, 2);
}

int ot_ck_make_trainer(ot_trainer_t *t, unsigned seed, size_t hidden, size_t train_limit)
{
    return ot_ck_make_trainer_opts(t, seed, hidden, train_limit, NULL);
}

int ot_ck_blocks_equal(const float *a, const float *b, size_t n)
{
    return a && b && memcmp(a, b, n * sizeof *a) == 0;
}

int ot_ck_run_epochs(ot_trainer_t *t, int n)
{
    for (int i = 0; i < n; i++) {
        ot_epoch_stats_t st;
        if (ot_trainer_epoch(t, &st, NULL, NULL))
            return -1;
    }
    return 0;
}

int ot_ck_params_equal(const ot_net_t *a, const ot_net_t *b)
{
    if (a->n_tensors != b->n_tensors)
        return 0;
    for (size_t i = 0; i < a->n_tensors; i++)
        if (a->tensors[i].size != b->tensors[i].size ||
            memcmp(a->params + a->tensors[i].off, b->params + b->tensors[i].off,
                   a->tensors[i].size * sizeof(float)) != 0)
            return 0;
    return 1;
}

int ot_ck_count_tmp_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        n += strstr(de->d_name, ".tmp") != NULL;
    if (d)
        closedir(d);
    return n;
}

int ot_ck_file_exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

/* Copy the first `bytes` bytes of src to dst (all of it when bytes is 0). */
int ot_ck_copy_file(const char *src, const char *dst, long bytes)
{
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int rc = -1;
    if (in && out) {
        char buf[8192];
        long left = bytes ? bytes : -1;
        size_t n;
        while (left != 0 && (n = fread(buf, 1, left > 0 && left < (long)sizeof buf
                                                   ? (size_t)left : sizeof buf, in)) > 0) {
            if (fwrite(buf, 1, n, out) != n)
                break;
            if (left > 0)
                left -= (long)n;
        }
        rc = 0;
    }
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        rc = -1;
    return rc;
}

long ot_ck_read_1d(const char *path, const char *name, hid_t mtype, void *buf, size_t max)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), d = H5I_INVALID_HID,
          s = H5I_INVALID_HID;
    long n = -1;
    hsize_t dims[1];
    if (f >= 0 && (d = H5Dopen2(f, name, H5P_DEFAULT)) >= 0 && (s = H5Dget_space(d)) >= 0 &&
        H5Sget_simple_extent_dims(s, dims, NULL) == 1 && dims[0] <= max &&
        (dims[0] == 0 || H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0))
        n = (long)dims[0];
    if (s >= 0)
        H5Sclose(s);
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    return n;
}
