/* test_input.c - the input's standardisation (src/input.c): statistics by channel and by
 * feature against values worked out by hand, a constant feature, what the gather makes of
 * them, the /input round trip through a checkpoint-like file, and the checks of a checkpoint's
 * input against the config and the data. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_h5.h"
#include "ot_input.h"
#include "ot_test.h"

static int setup(void)
{
    return ot_test_scratch_init("input");
}

/* 3 samples of 1x2 images with 2 channels (NHWC: p0c0 p0c1 p1c0 p1c1), as bytes. */
static const uint8_t bytes[3 * 4] = {0, 255, 51, 255, /**/ 102, 255, 153, 255, /**/ 204, 255,
                                     255, 255};

static ot_dataset_t byte_set(void)
{
    ot_dataset_t ds = {0};
    ds.images = (uint8_t *)bytes;
    ds.n = 3;
    ds.rows = 1;
    ds.cols = 2;
    ds.chans = 2;
    ds.dim = 4;
    ds.nonzero = 0.9f;
    return ds;
}

static const ot_shape_t shape = {2, 1, 2, 0};

/* Channel 0 holds 0, 0.2, 0.4, 0.6, 0.8, 1 (bytes / 255): mean 0.5, std sqrt(0.35/3);
 * channel 1 is constant 1: std 0, kept as 1. */
static void test_by_channel(void)
{
    ot_dataset_t ds = byte_set();
    ot_input_t in;
    ot_input_init(&in, &shape);
    CU_ASSERT_EQUAL_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_CHANNEL), OT_OK);
    CU_ASSERT_EQUAL(in.normalize, OT_NORM_MEAN_STD);
    CU_ASSERT_EQUAL_FATAL(in.n_stats, 2);
    CU_ASSERT_DOUBLE_EQUAL(in.mean[0], 0.5, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(in.std[0], sqrt(0.35 / 3.0), 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(in.mean[1], 1.0, 1e-7);
    CU_ASSERT_EQUAL(in.std[1], 1.0f);
    /* the per-feature copies follow the channels: feature j has channel j % 2 */
    CU_ASSERT(in.mean_x[0] == in.mean[0] && in.mean_x[2] == in.mean[0] &&
              in.std_x[3] == in.std[1]);
    /* the gather standardises; the byte lists no longer apply */
    ot_input_apply(&in, &ds);
    CU_ASSERT_EQUAL(ds.nonzero, 1.0f);
    float x[4];
    ot_dataset_sample(&ds, 2, x);
    CU_ASSERT_EQUAL(x[0], ((float)204 * OT_PIXEL_SCALE - in.mean[0]) / in.std[0]);
    CU_ASSERT_EQUAL(x[1], 0.0f); /* (1 - 1) / 1 */
    uint32_t idx[2] = {2, 0};
    float xb[8];
    int32_t y[2];
    uint8_t labels[3] = {1, 0, 1};
    ds.labels = labels;
    ot_dataset_gather(&ds, idx, 2, xb, y);
    CU_ASSERT_EQUAL(memcmp(xb, x, sizeof x), 0);
    CU_ASSERT(y[0] == 1 && y[1] == 1);
    ot_input_free(&in);
}

/* By feature: each of the 4 values its own mean and std, over the 3 samples. */
static void test_by_feature(void)
{
    ot_dataset_t ds = byte_set();
    ot_input_t in;
    ot_input_init(&in, &shape);
    CU_ASSERT_EQUAL_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_FEATURE), OT_OK);
    CU_ASSERT_EQUAL_FATAL(in.n_stats, 4);
    /* feature 0: 0, 0.4, 0.8 -> mean 0.4, std sqrt(0.32 / 3) */
    CU_ASSERT_DOUBLE_EQUAL(in.mean[0], 0.4, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(in.std[0], sqrt(0.32 / 3.0), 1e-7);
    /* feature 2: 0.2, 0.6, 1.0 -> mean 0.6 */
    CU_ASSERT_DOUBLE_EQUAL(in.mean[2], 0.6, 1e-7);
    CU_ASSERT_EQUAL(in.std[1], 1.0f);
    CU_ASSERT_EQUAL(memcmp(in.mean, in.mean_x, 4 * sizeof(float)), 0);
    /* refitting replaces what was there */
    CU_ASSERT_EQUAL_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_CHANNEL), OT_OK);
    CU_ASSERT_EQUAL(in.n_stats, 2);
    ot_input_free(&in);
}

/* Write /input, read it back the same; a checkpoint without it reads as absent. */
static void test_round_trip(void)
{
    char path[256];
    ot_dataset_t ds = byte_set();
    for (int by = 0; by < 3; by++) { /* none, by channel, by feature */
        ot_input_t in, back;
        ot_input_init(&in, &shape);
        if (by)
            CU_ASSERT_FATAL(ot_input_fit(&in, &ds, by == 1 ? OT_NORM_BY_CHANNEL
                                                            : OT_NORM_BY_FEATURE) == OT_OK);
        ot_test_path(path, sizeof path, "input.h5");
        hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        char reason[128];
        CU_ASSERT_EQUAL(ot_input_write(f, &in, reason), 0);
        H5Fclose(f);
        int present = 0;
        ot_input_init(&back, &(ot_shape_t){9, 9, 9, 1});
        CU_ASSERT_EQUAL_FATAL(ot_input_load(path, &back, &present, NULL, NULL), OT_OK);
        CU_ASSERT_EQUAL(present, 1);
        CU_ASSERT(back.shape.c == 2 && back.shape.h == 1 && back.shape.w == 2 &&
                  !back.shape.flat);
        CU_ASSERT_EQUAL(back.normalize, in.normalize);
        CU_ASSERT_EQUAL(back.n_stats, in.n_stats);
        if (by) {
            CU_ASSERT_EQUAL(back.by, in.by);
            CU_ASSERT_EQUAL(memcmp(back.mean, in.mean, in.n_stats * sizeof(float)), 0);
            CU_ASSERT_EQUAL(memcmp(back.std_x, in.std_x, 4 * sizeof(float)), 0);
        }
        ot_input_free(&in);
        ot_input_free(&back);
    }
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    ot_input_t none;
    int present = 1;
    ot_input_init(&none, &shape);
    CU_ASSERT_EQUAL(ot_input_load(path, &none, &present, NULL, NULL), OT_OK);
    CU_ASSERT_EQUAL(present, 0);
}

/* A failed write (/input there already) is -1 with HDF5's own reason. */
static void test_write_fails(void)
{
    char path[256], reason[128];
    ot_dataset_t ds = byte_set();
    ot_input_t in;
    ot_input_init(&in, &shape);
    CU_ASSERT_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_FEATURE) == OT_OK);
    ot_test_path(path, sizeof path, "twice.h5");
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_EQUAL(ot_input_write(f, &in, reason), 0);
    snprintf(reason, sizeof reason, "unset");
    CU_ASSERT_EQUAL(ot_input_write(f, &in, reason), -1); /* /input is there */
    CU_ASSERT(strcmp(reason, "unset") != 0 && strcmp(reason, "HDF5 error") != 0);
    H5Fclose(f);
    ot_h5_restore(&q);
    ot_input_free(&in);
}

/* A damaged /input/std: one line. */
static void test_bad_stats(void)
{
    char path[256];
    ot_dataset_t ds = byte_set();
    ot_input_t in;
    ot_input_init(&in, &shape);
    CU_ASSERT_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_CHANNEL) == OT_OK);
    in.std[1] = -2.0f;
    ot_test_path(path, sizeof path, "bad.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    char reason[128];
    CU_ASSERT_EQUAL(ot_input_write(f, &in, reason), 0);
    H5Fclose(f);
    ot_input_t back;
    int present;
    ot_input_init(&back, &shape);
    OT_EXPECT_ONE_LINE(ot_input_load(path, &back, &present, NULL, NULL), OT_EFORMAT,
                       "/input/mean or std entry 1 is 1, -2: expected finite numbers and a "
                       "positive std");
    ot_input_free(&in);
}

/* A file from elsewhere may declare any sample shape and string: they are checked before
 * anything is allocated for them. /input of a 2x1x2 input by feature (4 statistics) is
 * rewritten to claim 40000 x 40000 samples (3.2 * 10^9 statistics, 12.8 GB), then a 300-byte
 * normalize. */
static void test_declared_sizes(void)
{
    char path[256], reason[128];
    ot_dataset_t ds = byte_set();
    ot_input_t in, back;
    int present;
    ot_input_init(&in, &shape);
    CU_ASSERT_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_FEATURE) == OT_OK);
    ot_test_path(path, sizeof path, "huge.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_EQUAL_FATAL(ot_input_write(f, &in, reason), 0);
    hid_t g = H5Gopen2(f, "/input", H5P_DEFAULT);
    uint64_t big = 40000;
    hid_t a = H5Aopen(g, "height", H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_UINT64, &big) >= 0);
    H5Aclose(a);
    a = H5Aopen(g, "width", H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_UINT64, &big) >= 0);
    H5Aclose(a);
    H5Gclose(g);
    H5Fclose(f);
    ot_input_init(&back, &shape);
    OT_EXPECT_ONE_LINE(ot_input_load(path, &back, &present, NULL, NULL), OT_EFORMAT,
                       "/input/mean has 4 entries, expected 3200000000");
    OT_EXPECT_ONE_LINE(ot_input_load(path, &back, &present, &shape, "x.h5"), OT_ECONFIG,
                       "huge.h5: the model was trained on samples of 40000x40000x2 but x.h5 "
                       "holds samples of 1x2x2");
    /* a long string attribute */
    f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    g = H5Gopen2(f, "/input", H5P_DEFAULT);
    H5Adelete(g, "normalize");
    hid_t str = H5Tcopy(H5T_C_S1), one = H5Screate(H5S_SCALAR);
    H5Tset_size(str, 300);
    char text[300];
    memset(text, 'x', sizeof text);
    a = H5Acreate2(g, "normalize", str, one, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, str, text) >= 0);
    H5Aclose(a);
    H5Sclose(one);
    H5Tclose(str);
    H5Gclose(g);
    H5Fclose(f);
    OT_EXPECT_ONE_LINE(ot_input_load(path, &back, &present, NULL, NULL), OT_EFORMAT,
                       "attribute normalize of /input is a string of 300 bytes, expected 1 to "
                       "256");
    ot_input_free(&in);
}

/* The checks of a checkpoint's input against the config and the data. */
static void test_check(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    ot_input_t in;
    ot_input_init(&in, &shape);
    const ot_shape_t other = {1, 28, 28, 0};
    CU_ASSERT_EQUAL(ot_input_check(&in, 1, &c, &shape, "ck.h5", "x.h5"), OT_OK);
    OT_EXPECT_ONE_LINE(ot_input_check(&in, 1, &c, &other, "ck.h5", "x.h5"), OT_ECONFIG,
                       "ck.h5: the model was trained on samples of 1x2x2 but x.h5 holds samples "
                       "of 28x28x1");
    c.normalize = OT_NORM_MEAN_STD;
    OT_EXPECT_ONE_LINE(ot_input_check(&in, 1, &c, NULL, "ck.h5", NULL), OT_ECONFIG,
                       "ck.h5: the checkpoint's input was standardised as data.normalize = none "
                       "but the config says mean_std by channel");
    OT_EXPECT_ONE_LINE(ot_input_check(&in, 0, &c, NULL, "old.h5", NULL), OT_ECONFIG,
                       "old.h5: the checkpoint has no input statistics (/input) but the config "
                       "says data.normalize = mean_std");
    ot_dataset_t ds = byte_set();
    CU_ASSERT_FATAL(ot_input_fit(&in, &ds, OT_NORM_BY_FEATURE) == OT_OK);
    OT_EXPECT_ONE_LINE(ot_input_check(&in, 1, &c, NULL, "ck.h5", NULL), OT_ECONFIG,
                       "standardised as data.normalize = mean_std by feature but the config "
                       "says mean_std by channel");
    c.normalize_by = OT_NORM_BY_FEATURE;
    CU_ASSERT_EQUAL(ot_input_check(&in, 1, &c, &shape, "ck.h5", "x.h5"), OT_OK);
    ot_input_free(&in);
}

OT_TEST_SUITE(input, setup, ot_test_scratch_free,
              {"by channel: mean, std, a constant channel, the gather", test_by_channel},
              {"by feature", test_by_feature},
              {"/input round trip; a checkpoint without it", test_round_trip},
              {"damaged statistics: one line", test_bad_stats},
              {"a failed write: HDF5's reason", test_write_fails},
              {"declared sizes checked before allocating", test_declared_sizes},
              {"checkpoint input against config and data", test_check})
