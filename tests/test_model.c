/* test_model.c - a checkpoint's model (src/model.c): ot_model_load of a tiny training's
 * checkpoint holds its parameters, batch norm's running statistics, its input (shape and
 * standardisation) and its position; a checkpoint without /input takes its shape from the data
 * or the config's test set; a config or data that do not fit, and a missing, foreign,
 * truncated or damaged file, are refused with one line. */
#include <hdf5.h>
#include <stdio.h>
#include <string.h>

#include "ckpt_test.h"
#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_model.h"
#include "ot_test.h"
#include "tiny_test.h"

static int setup(void)
{
    ot_gemm_init();
    return ot_test_scratch_init("model") || ot_tiny_make_data() ? 1 : 0;
}

/* batch norm (running statistics to load) and standardisation by feature (16 statistics) */
static const char *const bn_opts[] = {"model.batchnorm=true", "data.normalize=mean_std",
                                      "data.normalize_by=feature", NULL};

static const ot_shape_t tiny_shape = {1, OT_TINY_ROWS, OT_TINY_COLS, 0};

static int same_shape(const ot_shape_t *a, const ot_shape_t *b)
{
    return a->c == b->c && a->h == b->h && a->w == b->w && a->flat == b->flat;
}

/* m holds t's network: parameters and running statistics bit for bit */
static void expect_net(const ot_model_t *m, const ot_trainer_t *t)
{
    CU_ASSERT(ot_ck_params_equal(&m->net, &t->net));
    CU_ASSERT_EQUAL_FATAL(m->net.n_state, t->net.n_state);
    CU_ASSERT(!t->net.n_state || ot_ck_blocks_equal(m->net.state, t->net.state, t->net.n_state));
    CU_ASSERT_EQUAL(m->net.n_classes, OT_TINY_CLASSES);
}

/* The trained model as the checkpoint holds it, without data (the shape from /input) and with
 * data of its shape. */
static void test_load(void)
{
    ot_config_t c;
    ot_trainer_t t;
    ot_model_t m;
    char p[256];
    CU_ASSERT_FATAL(ot_tiny_config(&c, bn_opts) == 0);
    CU_ASSERT_FATAL(ot_tiny_checkpoint(&t, &c, ot_test_path(p, sizeof p, "bn.h5")) == 0);
    /* what the checks below stand on: trained biases and running statistics are not 0 */
    const ot_tensor_t *b = ot_net_tensor(&t.net, "affine2/b");
    CU_ASSERT_FATAL(b != NULL && t.net.n_state > 0);
    CU_ASSERT(t.net.params[b->off] != 0.0f && t.net.state[0] != 0.0f);

    CU_ASSERT_EQUAL_FATAL(ot_model_load(&m, &c, p, NULL, NULL), OT_OK);
    expect_net(&m, &t);
    CU_ASSERT_EQUAL(m.has_input, 1);
    CU_ASSERT(same_shape(&m.input.shape, &tiny_shape));
    CU_ASSERT(m.input.normalize == OT_NORM_MEAN_STD && m.input.by == OT_NORM_BY_FEATURE);
    CU_ASSERT_EQUAL_FATAL(m.input.n_stats, OT_TINY_DIM);
    CU_ASSERT(ot_ck_blocks_equal(m.input.mean, t.input.mean, OT_TINY_DIM));
    CU_ASSERT(ot_ck_blocks_equal(m.input.std, t.input.std, OT_TINY_DIM));
    CU_ASSERT(m.info.epoch == 1 && m.info.step == 3 && m.info.seed == 5 && m.info.shards == 2);
    ot_model_free(&m);

    CU_ASSERT_EQUAL_FATAL(ot_model_load(&m, &c, p, &tiny_shape, "in.idx"), OT_OK);
    expect_net(&m, &t);
    CU_ASSERT(same_shape(&m.input.shape, &tiny_shape));
    ot_model_free(&m);
    ot_trainer_free(&t);
}

/* Delete /input from the checkpoint at path: one written before omptrain kept it. */
static void drop_input(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(H5Ldelete(f, "/input", H5P_DEFAULT) >= 0);
    H5Fclose(f);
}

/* Without /input: the sample shape from the data given, else from the config's test set
 * (loaded for it), no standardisation; a width that does not fit the model is one line naming
 * the data; standardisation in the config is refused. */
static void test_old_checkpoint(void)
{
    ot_config_t c, small;
    ot_trainer_t t;
    ot_model_t m;
    char p[256], q[256], r[256], want[2048];
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    CU_ASSERT_FATAL(ot_tiny_checkpoint(&t, &c, ot_test_path(p, sizeof p, "old.h5")) == 0);
    drop_input(p);

    CU_ASSERT_EQUAL_FATAL(ot_model_load(&m, &c, p, NULL, NULL), OT_OK);
    expect_net(&m, &t);
    CU_ASSERT_EQUAL(m.has_input, 0);
    CU_ASSERT(same_shape(&m.input.shape, &tiny_shape));
    CU_ASSERT(m.input.normalize == OT_NORM_NONE && m.input.mean == NULL);
    ot_model_free(&m);
    CU_ASSERT_EQUAL_FATAL(ot_model_load(&m, &c, p, &tiny_shape, "in.idx"), OT_OK);
    CU_ASSERT(same_shape(&m.input.shape, &tiny_shape));
    expect_net(&m, &t);
    ot_model_free(&m);

    /* 3x3 images: from the data given, or as the config's test set (its training set stays
     * 4x4, so that the test set is the one read) */
    const ot_shape_t three = {1, 3, 3, 0};
    c.layers_line = 2; /* as if line 2 of the file set model.layers: the messages name it */
    snprintf(want, sizeof want, "%s:2: model.layers: input width 16, but the samples of in.idx "
             "are 3x3x1; expected an input width of 9", c.path);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, p, &three, "in.idx"), OT_ECONFIG, want);
    ot_model_free(&m);
    uint8_t px[2 * 9] = {0}, lab[2] = {0, 1};
    CU_ASSERT_FATAL(ot_tiny_write_images(ot_test_path(q, sizeof q, "three-images"), 0, 2, 3, 3,
                                         px) == 0);
    CU_ASSERT_FATAL(ot_tiny_write_labels(ot_test_path(r, sizeof r, "three-labels"), 0, 2, lab) ==
                    0);
    small = c;
    snprintf(small.test_images, sizeof small.test_images, "%s", q);
    snprintf(small.test_labels, sizeof small.test_labels, "%s", r);
    snprintf(want, sizeof want, "%s:2: model.layers: input width 16, but the samples of %s are "
             "3x3x1", c.path, q);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &small, p, NULL, NULL), OT_ECONFIG, want);
    ot_model_free(&m);

    small = c;
    small.normalize = OT_NORM_MEAN_STD;
    snprintf(want, sizeof want, "%s: the checkpoint has no input statistics (/input) but the "
             "config says data.normalize = mean_std; expected none", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &small, p, NULL, NULL), OT_ECONFIG, want);
    ot_model_free(&m);
    ot_trainer_free(&t);
}

/* A config whose model or standardisation differs from the checkpoint's, or data of another
 * shape: OT_ECONFIG and one line naming the checkpoint and both values. */
static void test_mismatch(void)
{
    static const char *const wider[] = {"model.layers=16, 6, 3", "model.batchnorm=true",
                                        "data.normalize=mean_std", "data.normalize_by=feature",
                                        NULL};
    static const char *const no_bn[] = {"data.normalize=mean_std", "data.normalize_by=feature",
                                        NULL};
    static const char *const by_channel[] = {"model.batchnorm=true", "data.normalize=mean_std",
                                             NULL};
    ot_config_t c, other;
    ot_trainer_t t;
    ot_model_t m;
    char p[256], want[2048];
    CU_ASSERT_FATAL(ot_tiny_config(&c, bn_opts) == 0);
    CU_ASSERT_FATAL(ot_tiny_checkpoint(&t, &c, ot_test_path(p, sizeof p, "fit.h5")) == 0);
    ot_trainer_free(&t);

    CU_ASSERT_FATAL(ot_tiny_config(&other, wider) == 0);
    snprintf(want, sizeof want, "%s: the checkpoint's model is 'affine 5, ", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &other, p, NULL, NULL), OT_ECONFIG, want);
    ot_model_free(&m);
    CU_ASSERT_FATAL(ot_tiny_config(&other, no_bn) == 0);
    snprintf(want, sizeof want, "%s: the checkpoint's model is 'affine 5, batchnorm, relu, "
             "affine 3' and the config's 'affine 5, relu, affine 3' (layer 2: batchnorm in the "
             "checkpoint, relu in the config)", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &other, p, NULL, NULL), OT_ECONFIG, want);
    ot_model_free(&m);
    CU_ASSERT_FATAL(ot_tiny_config(&other, by_channel) == 0);
    snprintf(want, sizeof want, "%s: the checkpoint's input was standardised as data.normalize "
             "= mean_std by feature but the config says mean_std by channel", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &other, p, NULL, NULL), OT_ECONFIG, want);
    ot_model_free(&m);

    const ot_shape_t three = {1, 3, 3, 0}, vec = {16, 1, 1, 1};
    snprintf(want, sizeof want, "%s: the model was trained on samples of 4x4x1 but in.idx "
             "holds samples of 3x3x1", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, p, &three, "in.idx"), OT_ECONFIG, want);
    ot_model_free(&m);
    /* as many values, but vectors: not the images it was trained on */
    snprintf(want, sizeof want, "%s: the model was trained on samples of 4x4x1 but in.h5 holds "
             "samples of 16", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, p, &vec, "in.h5"), OT_ECONFIG, want);
    ot_model_free(&m);
}

/* Overwrite value i of the dataset at name in the file at path, leaving its checksum. */
static void damage(const char *path, const char *name, size_t i)
{
    float v[64];
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    hid_t space = H5Dget_space(d);
    CU_ASSERT_FATAL(H5Sget_simple_extent_npoints(space) <= 64);
    H5Sclose(space);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    v[i] += 1.0f;
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    H5Dclose(d);
    H5Fclose(f);
}

/* A missing file, a file that is not HDF5, a truncated checkpoint and one whose values no
 * longer match their checksum: one line naming the file and what is wrong. */
static void test_bad_files(void)
{
    ot_config_t c;
    ot_trainer_t t;
    ot_model_t m;
    char good[256], p[256], want[2048];
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    CU_ASSERT_FATAL(ot_tiny_checkpoint(&t, &c, ot_test_path(good, sizeof good, "good.h5")) == 0);
    ot_trainer_free(&t);

    ot_test_path(p, sizeof p, "none.h5");
    snprintf(want, sizeof want, "%s: cannot open the checkpoint: No such file or directory", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, p, NULL, NULL), OT_EIO, want);
    ot_model_free(&m);
    snprintf(want, sizeof want, "%s: not an HDF5 file (expected an omptrain checkpoint)",
             c.test_labels);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, c.test_labels, NULL, NULL), OT_EFORMAT, want);
    ot_model_free(&m);
    long size = ot_tiny_file_size(good);
    CU_ASSERT_FATAL(size > 4096);
    ot_test_path(p, sizeof p, "truncated.h5");
    CU_ASSERT_FATAL(ot_ck_copy_file(good, p, size / 2) == 0);
    snprintf(want, sizeof want, "%s: cannot open as HDF5: the file is truncated or damaged", p);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, p, NULL, NULL), OT_EFORMAT, want);
    ot_model_free(&m);
    damage(good, "/model/affine2/b", 1);
    snprintf(want, sizeof want, "%s: /model/affine2/b is damaged: its checksum is", good);
    OT_EXPECT_ONE_LINE(ot_model_load(&m, &c, good, NULL, NULL), OT_EFORMAT, want);
    ot_model_free(&m);
}

OT_TEST_SUITE(model, setup, ot_test_scratch_free,
              {"parameters, running statistics, input and position", test_load},
              {"without /input: the shape from the data or the test set", test_old_checkpoint},
              {"bad: a config or data that do not fit the checkpoint", test_mismatch},
              {"bad: missing, not HDF5, truncated, damaged", test_bad_files})
