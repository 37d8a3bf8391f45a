/* test_datasrc.c - the config's data sets (src/datasrc.c): training and test sets from IDX
 * files (gzip and raw) and from HDF5 files, with the config's limits, datasets and layout;
 * predict's input from either kind, with or without labels; a missing file, an HDF5 file
 * without the config's dataset and --labels with an HDF5 input refused with one line; the
 * classes' names of data.class_names, and each way such a file can be wrong. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_test.h"
#include "tiny_test.h"

static int setup(void)
{
    return ot_test_scratch_init("datasrc") || ot_tiny_make_data() ? 1 : 0;
}

/* ds holds images s = first..first + n - 1 of the tiny data and their labels */
static void expect_tiny(const ot_dataset_t *ds, size_t first, size_t n)
{
    CU_ASSERT_EQUAL_FATAL(ds->n, n);
    CU_ASSERT(ds->rows == OT_TINY_ROWS && ds->cols == OT_TINY_COLS && ds->dim == OT_TINY_DIM &&
              ds->n_classes == OT_TINY_CLASSES);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds->images);
    size_t wrong = 0;
    for (size_t s = 0; s < n; s++) {
        for (size_t j = 0; j < OT_TINY_DIM; j++)
            wrong += ds->images[s * OT_TINY_DIM + j] != ot_tiny_pixel(first + s, j);
        wrong += ds->labels[s] != ot_tiny_label(first + s);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* The training set from the gzip'd IDX files, the test set from the raw ones, each its own;
 * ot_data_path names the image files. */
static void test_idx(void)
{
    ot_config_t c;
    ot_dataset_t ds;
    char p[256];
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 0), OT_OK);
    expect_tiny(&ds, 0, OT_TINY_TRAIN);
    ot_dataset_free(&ds);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    expect_tiny(&ds, OT_TINY_TRAIN, OT_TINY_TEST);
    ot_dataset_free(&ds);
    CU_ASSERT_STRING_EQUAL(ot_data_path(&c, 0), ot_test_path(p, sizeof p, "train-images.gz"));
    CU_ASSERT_STRING_EQUAL(ot_data_path(&c, 1), ot_test_path(p, sizeof p, "test-images"));
}

/* data.train_limit keeps a prefix of the training set, data.test_limit one of the test set,
 * each limit its own set's only. */
static void test_idx_limits(void)
{
    static const char *const lim[] = {"data.train_limit=5", "data.test_limit=3", NULL};
    ot_config_t c;
    ot_dataset_t ds;
    CU_ASSERT_FATAL(ot_tiny_config(&c, lim) == 0);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 0), OT_OK);
    expect_tiny(&ds, 0, 5);
    ot_dataset_free(&ds);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    expect_tiny(&ds, OT_TINY_TRAIN, 3);
    ot_dataset_free(&ds);
}

/* ---------------------------------------------------------------- HDF5 */

enum { HN = 6, HC = 2, HH = 2, HW = 3, HD = HC * HH * HW };

/* Feature (c, h, w) of HDF5 sample s: distinct everywhere, exact in float32. */
static float h5_value(size_t s, size_t c, size_t h, size_t w)
{
    return (float)(s * 100 + c * 10 + h * 3 + w) + 0.5f;
}

/* An HDF5 file at scratch/name: /img/x, float32 HN x HC x HH x HW (NCHW) of the samples
 * first..first + HN - 1, and, when labels, y: their labels (s % 3) as int32. */
static void make_h5(const char *name, size_t first, int labels, char *path, size_t n)
{
    float x[HN * HD];
    int32_t y[HN];
    for (size_t s = 0; s < HN; s++) {
        for (size_t c = 0; c < HC; c++)
            for (size_t h = 0; h < HH; h++)
                for (size_t w = 0; w < HW; w++)
                    x[((s * HC + c) * HH + h) * HW + w] = h5_value(first + s, c, h, w);
        y[s] = (int32_t)((first + s) % 3);
    }
    ot_test_path(path, n, name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hsize_t xd[4] = {HN, HC, HH, HW}, yd[1] = {HN};
    hid_t sx = H5Screate_simple(4, xd, NULL);
    hid_t dx = H5Dcreate2(f, "/img/x", H5T_IEEE_F32LE, sx, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(dx >= 0);
    CU_ASSERT(H5Dwrite(dx, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) >= 0);
    H5Dclose(dx);
    H5Sclose(sx);
    if (labels) {
        hid_t sy = H5Screate_simple(1, yd, NULL);
        hid_t dy = H5Dcreate2(f, "y", H5T_STD_I32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT_FATAL(dy >= 0);
        CU_ASSERT(H5Dwrite(dy, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
        H5Dclose(dy);
        H5Sclose(sy);
    }
    H5Pclose(lcpl);
    H5Fclose(f);
}

/* A config of HDF5 files train.h5 and test.h5 (datasets /img/x and y, layout nchw), then
 * opts (NULL-terminated). */
static void h5_config(ot_config_t *c, const char *const *opts)
{
    char set[400];
    ot_config_defaults(c);
    snprintf(c->path, sizeof c->path, "%s/h5.ini", ot_test_scratch);
    snprintf(set, sizeof set, "data.train_file=%s/train.h5", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(c, set) == OT_OK);
    snprintf(set, sizeof set, "data.test_file=%s/test.h5", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(c, set) == OT_OK);
    CU_ASSERT_FATAL(ot_config_set(c, "data.features=/img/x") == OT_OK);
    CU_ASSERT_FATAL(ot_config_set(c, "data.labels=y") == OT_OK);
    CU_ASSERT_FATAL(ot_config_set(c, "data.layout=nchw") == OT_OK);
    CU_ASSERT_FATAL(ot_config_set(c, "data.classes=3") == OT_OK);
    for (size_t i = 0; opts && opts[i]; i++)
        CU_ASSERT_FATAL(ot_config_set(c, opts[i]) == OT_OK);
}

/* ds holds HDF5 samples first..first + n - 1 as NHWC float32, labelled when labels */
static void expect_h5(const ot_dataset_t *ds, size_t first, size_t n, int labels)
{
    CU_ASSERT_EQUAL_FATAL(ds->n, n);
    CU_ASSERT(ds->rows == HH && ds->cols == HW && ds->chans == HC && ds->dim == HD &&
              !ds->flat && ds->n_classes == 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds->features);
    size_t wrong = 0;
    for (size_t s = 0; s < n; s++) {
        for (size_t h = 0; h < HH; h++)
            for (size_t w = 0; w < HW; w++)
                for (size_t c = 0; c < HC; c++)
                    wrong += ds->features[((s * HH + h) * HW + w) * HC + c] !=
                             h5_value(first + s, c, h, w);
        wrong += ds->labels[s] != (labels ? (first + s) % 3 : 0);
    }
    CU_ASSERT_EQUAL(wrong, 0);
}

/* data.train_file and data.test_file: the datasets data.features and data.labels name, turned
 * from data.layout = nchw to NHWC; each set's limit; ot_data_path names the HDF5 files. */
static void test_h5(void)
{
    static const char *const lim[] = {"data.train_limit=4", "data.test_limit=2", NULL};
    ot_config_t c;
    ot_dataset_t ds;
    char p[256];
    make_h5("train.h5", 0, 1, p, sizeof p);
    make_h5("test.h5", 10, 1, p, sizeof p);
    h5_config(&c, NULL);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 0), OT_OK);
    expect_h5(&ds, 0, HN, 1);
    ot_dataset_free(&ds);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    expect_h5(&ds, 10, HN, 1);
    ot_dataset_free(&ds);
    CU_ASSERT_STRING_EQUAL(ot_data_path(&c, 0), ot_test_path(p, sizeof p, "train.h5"));
    CU_ASSERT_STRING_EQUAL(ot_data_path(&c, 1), ot_test_path(p, sizeof p, "test.h5"));

    h5_config(&c, lim);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 0), OT_OK);
    expect_h5(&ds, 0, 4, 1);
    ot_dataset_free(&ds);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    expect_h5(&ds, 10, 2, 1);
    ot_dataset_free(&ds);
}

/* ---------------------------------------------------------------- predict's input */

/* An HDF5 input with its labels dataset or without it (then labels 0 and has_labels 0), all
 * of it whatever the limits; IDX images with a label file or without one; told apart by
 * their contents, not their names. */
static void test_input(void)
{
    static const char *const lim[] = {"data.train_limit=1", "data.test_limit=1", NULL};
    ot_config_t c;
    ot_dataset_t ds;
    char p[256], q[256];
    int has = -1;
    h5_config(&c, lim);
    make_h5("in-labelled.h5", 20, 1, p, sizeof p);
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, p, NULL, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 1);
    expect_h5(&ds, 20, HN, 1);
    ot_dataset_free(&ds);
    make_h5("in-unlabelled.idx", 30, 0, p, sizeof p); /* HDF5 under another name */
    has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, p, NULL, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 0);
    expect_h5(&ds, 30, HN, 0);
    ot_dataset_free(&ds);

    /* IDX images (an HDF5 config: the files say what they are) */
    ot_test_path(p, sizeof p, "test-images");
    ot_test_path(q, sizeof q, "test-labels");
    has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, p, q, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 1);
    expect_tiny(&ds, OT_TINY_TRAIN, OT_TINY_TEST);
    ot_dataset_free(&ds);
    has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, p, NULL, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 0);
    CU_ASSERT_EQUAL_FATAL(ds.n, OT_TINY_TEST);
    size_t nonzero = 0;
    for (size_t s = 0; s < ds.n; s++)
        nonzero += ds.labels[s] != 0;
    CU_ASSERT_EQUAL(nonzero, 0);
    CU_ASSERT_EQUAL(ds.images[3 * OT_TINY_DIM + 5], ot_tiny_pixel(OT_TINY_TRAIN + 3, 5));
    ot_dataset_free(&ds);
}

/* ---------------------------------------------------------------- refusals */

/* Expect ot_data_load(&c, test) to fail with code and one line holding needle, ds empty. */
#define EXPECT_LOAD(c, test, code, needle)                                                    \
    do {                                                                                      \
        ot_dataset_t ds_;                                                                     \
        memset(&ds_, 0x5a, sizeof ds_);                                                       \
        OT_EXPECT_ONE_LINE(ot_data_load(&ds_, &(c), (test)), code, needle);                   \
        CU_ASSERT(ds_.images == NULL && ds_.features == NULL && ds_.labels == NULL);          \
    } while (0)

/* A missing IDX image or label file, a missing HDF5 file: one line naming the config, the key
 * and the file (the config and key since 2026-12). */
static void test_missing_files(void)
{
    ot_config_t c;
    char set[400], want[2600];
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    snprintf(set, sizeof set, "data.test_images=%s/none-images", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    snprintf(want, sizeof want, "%s: data.test_images: cannot open '%s/none-images': No such file",
             c.path, ot_test_scratch);
    EXPECT_LOAD(c, 1, OT_EIO, want);
    ot_dataset_t ds;
    CU_ASSERT_EQUAL(ot_data_load(&ds, &c, 0), OT_OK); /* the training set is still there */
    ot_dataset_free(&ds);
    snprintf(set, sizeof set, "data.train_labels=%s/none-labels.gz", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    snprintf(want, sizeof want, "%s: data.train_labels: cannot open '%s/none-labels.gz'", c.path,
             ot_test_scratch);
    EXPECT_LOAD(c, 0, OT_EIO, want);

    char p[256];
    make_h5("train.h5", 0, 1, p, sizeof p);
    h5_config(&c, NULL);
    snprintf(set, sizeof set, "data.test_file=%s/none.h5", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    snprintf(want, sizeof want, "%s: data.test_file: cannot open '%s/none.h5': No such file",
             c.path, ot_test_scratch);
    EXPECT_LOAD(c, 1, OT_EIO, want);
    /* predict's input: the same for either kind */
    ot_test_path(p, sizeof p, "none-input");
    snprintf(want, sizeof want, "cannot open '%s'", p);
    int has;
    OT_EXPECT_ONE_LINE(ot_data_load_input(&ds, &c, p, NULL, &has), OT_EIO, want);
}

/* An HDF5 file without the dataset the config names: one line naming the file, the dataset
 * and its key; for predict's input only the labels may be missing. */
static void test_missing_dataset(void)
{
    static const char *const feat[] = {"data.features=x", NULL};
    ot_config_t c;
    char p[256], want[400];
    make_h5("train.h5", 0, 1, p, sizeof p);
    make_h5("test.h5", 10, 0, p, sizeof p); /* no labels */
    h5_config(&c, NULL);
    snprintf(want, sizeof want, "%s: no dataset 'y' (data.labels); the file holds 'img'", p);
    EXPECT_LOAD(c, 1, OT_EFORMAT, want);
    h5_config(&c, feat);
    ot_test_path(p, sizeof p, "train.h5");
    snprintf(want, sizeof want, "%s: no dataset 'x' (data.features); the file holds 'img', 'y'",
             p);
    EXPECT_LOAD(c, 0, OT_EFORMAT, want);
    ot_dataset_t ds;
    int has;
    OT_EXPECT_ONE_LINE(ot_data_load_input(&ds, &c, p, NULL, &has), OT_EFORMAT, want);
}

/* --labels goes with IDX images: an HDF5 input has its own labels dataset. */
static void test_labels_with_h5(void)
{
    ot_config_t c;
    ot_dataset_t ds;
    char p[256], q[256], want[600];
    int has = -1;
    h5_config(&c, NULL);
    make_h5("in.h5", 0, 1, p, sizeof p);
    ot_test_path(q, sizeof q, "test-labels");
    snprintf(want, sizeof want, "%s: --labels goes with IDX images; an HDF5 input holds its "
             "labels in the dataset data.labels names ('y')", p);
    OT_EXPECT_ONE_LINE(ot_data_load_input(&ds, &c, p, q, &has), OT_ECONFIG, want);
}

/* ---------------------------------------------------------------- data.class_names */

/* text (len bytes) into the scratch file name; its path into path */
static void put_file(const char *name, const char *text, size_t len, char *path, size_t n)
{
    ot_test_path(path, n, name);
    FILE *f = fopen(path, "wb");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fwrite(text, 1, len, f) == len);
    CU_ASSERT(fclose(f) == 0);
}

/* The names file as written, each name without the blanks around it, a CRLF line end, a BOM
 * or the last line's missing '\n'; a name of blanks inside and of 64 bytes (4-byte UTF-8
 * included) kept whole; the names in the place of an HDF5 file's in the data sets and in
 * predict's input, IDX or HDF5. */
static void test_class_names(void)
{
    static const char text[] = "\xef\xbb\xbf  T-shirt/top \r\n\tAnkle  boot\n"
                               "\xf0\x9f\x91\x9f" "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz01234567";
    char p[256], set[400], **names = NULL;
    put_file("three.names", text, sizeof text - 1, p, sizeof p);
    CU_ASSERT_EQUAL_FATAL(ot_class_names_read("c.ini", p, 3, &names), OT_OK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(names);
    CU_ASSERT_STRING_EQUAL(names[0], "T-shirt/top");
    CU_ASSERT_STRING_EQUAL(names[1], "Ankle  boot");
    CU_ASSERT_EQUAL(strlen(names[2]), 64);
    CU_ASSERT_STRING_EQUAL(names[2], text + sizeof text - 1 - 64);
    free(names);

    ot_config_t c;
    ot_dataset_t ds;
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    CU_ASSERT_PTR_NULL(ds.class_names); /* IDX files have none */
    ot_dataset_free(&ds);
    snprintf(set, sizeof set, "data.class_names=%s", p);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    for (int test = 0; test < 2; test++) {
        CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, test), OT_OK);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ds.class_names);
        CU_ASSERT_STRING_EQUAL(ds.class_names[1], "Ankle  boot");
        expect_tiny(&ds, test ? OT_TINY_TRAIN : 0, test ? OT_TINY_TEST : OT_TINY_TRAIN);
        ot_dataset_free(&ds);
    }
    int has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, ot_data_path(&c, 1), NULL, &has), OT_OK);
    CU_ASSERT(has == 0 && ds.class_names && strcmp(ds.class_names[0], "T-shirt/top") == 0);
    ot_dataset_free(&ds);

    /* an HDF5 file with names of its own: the config's replace them */
    char h[256];
    make_h5("train.h5", 0, 1, h, sizeof h);
    make_h5("test.h5", 10, 1, h, sizeof h);
    hid_t f = H5Fopen(h, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, 4);
    hsize_t three = 3;
    hid_t sp = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(f, "class_names", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(a >= 0 && H5Awrite(a, t, "own\0cat\0dog\0") >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    H5Fclose(f);
    h5_config(&c, NULL);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    CU_ASSERT(ds.class_names && strcmp(ds.class_names[0], "own") == 0);
    ot_dataset_free(&ds);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    CU_ASSERT_EQUAL_FATAL(ot_data_load(&ds, &c, 1), OT_OK);
    CU_ASSERT(ds.class_names && strcmp(ds.class_names[0], "T-shirt/top") == 0);
    ot_dataset_free(&ds);
    CU_ASSERT_EQUAL_FATAL(ot_data_load_input(&ds, &c, h, NULL, &has), OT_OK);
    CU_ASSERT(has == 1 && ds.class_names && strcmp(ds.class_names[2], text + sizeof text - 1 - 64) == 0);
    ot_dataset_free(&ds);
}

/* A names file that does not hold data.classes names, one a line: one line naming the config,
 * the key, the file, its line where one is at fault, and what was expected; the data set is
 * not loaded. */
static void test_class_names_bad(void)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want; /* after "FILE" */
    } cases[] = {
        {"a\nb\n", 4, "' holds 2 names, expected data.classes = 3, one a line"},
        {"", 0, "' holds 0 names, expected data.classes = 3"},
        {"a\nb\nc\nd\n", 8, ":4: more names than data.classes = 3, expected one class name a line"},
        {"a\n\nc\n", 5, ":2: an empty line, expected one class name a line (1 to 64 bytes of "
                           "UTF-8 text)"},
        {"a\n \t\r\nc\n", 8, ":2: an empty line"},
        {"a\nb\tc\nd\n", 8, ":2: a control character"},
        {"a\nb\nc\xff\n", 7, ":3: bytes that are not UTF-8 text"},
        {"a\nb\n\xed\xa0\x80\n", 8, ":3: bytes that are not UTF-8 text"}, /* a surrogate */
        {"a\nb\n\xc0\xaf\n", 7, ":3: bytes that are not UTF-8 text"},      /* overlong '/' */
        {"a\nb\n\xe2\x82\n", 7, ":3: bytes that are not UTF-8 text"},      /* cut short */
        {"a\nb\n0123456789012345678901234567890123456789012345678901234567890123X\n", 70,
         ":3: a name of 65 bytes, expected one class name a line (1 to 64 bytes"},
    };
    char p[256], set[400], want[2600], **names = (char **)1;
    ot_config_t c;
    CU_ASSERT_FATAL(ot_tiny_config(&c, NULL) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.names", i);
        put_file(name, cases[i].text, cases[i].len, p, sizeof p);
        snprintf(want, sizeof want, "c.ini: data.class_names: %s%s",
                 cases[i].want[0] == '\'' ? "'" : "", p);
        strncat(want, cases[i].want, sizeof want - strlen(want) - 1);
        OT_EXPECT_ONE_LINE(ot_class_names_read("c.ini", p, 3, &names), OT_EFORMAT, want);
        CU_ASSERT_PTR_NULL(names);
        snprintf(set, sizeof set, "data.class_names=%s", p);
        CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
        snprintf(want, sizeof want, "%s: data.class_names: ", c.path);
        EXPECT_LOAD(c, 0, OT_EFORMAT, want);
    }
    /* a file past 64 KiB: refused before its lines are looked at */
    static char big[65537];
    memset(big, 'x', sizeof big);
    put_file("big.names", big, sizeof big, p, sizeof p);
    snprintf(want, sizeof want, "'%s' is larger than 65536 bytes, expected a text file of 3 "
             "class names, one a line", p);
    OT_EXPECT_ONE_LINE(ot_class_names_read("c.ini", p, 3, &names), OT_EFORMAT, want);
    /* missing, a directory: the key, the file and why, as for the data files */
    snprintf(set, sizeof set, "data.class_names=%s/none.names", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    snprintf(want, sizeof want, "%s: data.class_names: cannot open '%s/none.names': No such file",
             c.path, ot_test_scratch);
    EXPECT_LOAD(c, 1, OT_EIO, want);
    snprintf(set, sizeof set, "data.class_names=%s", ot_test_scratch);
    CU_ASSERT_FATAL(ot_config_set(&c, set) == OT_OK);
    snprintf(want, sizeof want, "data.class_names: cannot open '%s': it is a directory",
             ot_test_scratch);
    EXPECT_LOAD(c, 1, OT_EIO, want);
    int has;
    ot_dataset_t ds;
    OT_EXPECT_ONE_LINE(ot_data_load_input(&ds, &c, ot_data_path(&c, 1), NULL, &has), OT_EIO, want);
    snprintf(want, sizeof want, "c.ini: data.class_names: cannot open '%s': it is a directory",
             ot_test_scratch);
    OT_EXPECT_ONE_LINE(ot_class_names_read("c.ini", ot_test_scratch, 3, &names), OT_EIO, want);
}

OT_TEST_SUITE(datasrc, setup, ot_test_scratch_free,
              {"IDX: gzip'd training set, raw test set; their paths", test_idx},
              {"IDX: train_limit and test_limit, each its own set's", test_idx_limits},
              {"HDF5: the config's datasets, layout and limits; their paths", test_h5},
              {"predict's input: HDF5 or IDX, with or without labels", test_input},
              {"bad: a missing IDX or HDF5 file", test_missing_files},
              {"bad: an HDF5 file without the config's dataset", test_missing_dataset},
              {"bad: --labels with an HDF5 input", test_labels_with_h5},
              {"data.class_names: the names, in the place of an HDF5 file's", test_class_names},
              {"bad: data.class_names that are not data.classes names", test_class_names_bad})
