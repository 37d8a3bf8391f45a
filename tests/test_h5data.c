/* test_h5data.c - the HDF5 data reader (src/h5data.c): files are made here with HDF5's C API
 * (contiguous and chunked + gzip), read back in every accepted layout and type, and every kind
 * of bad file is one test: its status code and the one line it prints, naming the file, the
 * dataset and what is wrong. */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_h5data.h"
#include "ot_test.h"

static int setup(void)
{
    return ot_test_scratch_init("h5data");
}

/* ---------------------------------------------------------------- making files */

/* A dataset of f: name, file type ftype from data of memory type mtype, rank dims; chunk_rows
 * > 0 makes it chunked (that many samples a chunk) and gzip-compressed. */
static void put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                const hsize_t *dims, const void *data, hsize_t chunk_rows)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (chunk_rows) {
        hsize_t chunk[4];
        for (int i = 0; i < rank; i++)
            chunk[i] = dims[i];
        chunk[0] = chunk_rows < dims[0] ? chunk_rows : dims[0];
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_deflate(dcpl, 4);
    }
    hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(f, name, ftype, space, lcpl, dcpl, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    if (data)
        CU_ASSERT(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Pclose(dcpl);
    H5Pclose(lcpl);
}

/* A fresh file in the scratch directory; its path into path (n bytes). */
static hid_t create(const char *name, char *path, size_t n)
{
    ot_test_path(path, n, name);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    return f;
}

enum { N = 6, H = 3, W = 4, C = 2, D = H * W * C };

/* Labels 0..N-1 mod 3 as int32. */
static void put_labels(hid_t f, const char *name, hsize_t n)
{
    int32_t y[64];
    for (hsize_t i = 0; i < n; i++)
        y[i] = (int32_t)(i % 3);
    put(f, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){n}, y, 0);
}

/* Value v(s, h, w, c) of the test images, distinct everywhere (fits in uint8). */
static unsigned val(size_t s, size_t h, size_t w, size_t c)
{
    return (unsigned)(((s * H + h) * W + w) * C + c + 3);
}

static ot_h5data_opts_t opts(void)
{
    return (ot_h5data_opts_t){"data", "label", OT_LAYOUT_NHWC, 3, 0, 0, 0, NULL, 0.0};
}

/* ---------------------------------------------------------------- good files */

/* uint8 N x H x W x C, chunked by 4 samples and gzip'd: bytes kept, shape NHWC, labels, and
 * the [0, 1] scale of the gather; a limit keeps a prefix. */
static void test_uint8_nhwc(void)
{
    char path[256];
    uint8_t x[N * D];
    for (size_t s = 0; s < N; s++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++)
                for (size_t c = 0; c < C; c++)
                    x[((s * H + h) * W + w) * C + c] = (uint8_t)val(s, h, w, c);
    hid_t f = create("u8.h5", path, sizeof path);
    put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, 4, (hsize_t[]){N, H, W, C}, x, 4);
    put_labels(f, "label", N);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = opts();
    int has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 1);
    CU_ASSERT(ds.n == N && ds.rows == H && ds.cols == W && ds.chans == C && ds.dim == D &&
              !ds.flat && ds.n_classes == 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds.images);
    CU_ASSERT_PTR_NULL(ds.features);
    CU_ASSERT_EQUAL(memcmp(ds.images, x, sizeof x), 0);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(ds.labels[i], i % 3);
    float s5[D];
    ot_dataset_sample(&ds, 5, s5);
    CU_ASSERT_EQUAL(s5[7], (float)x[5 * D + 7] * OT_PIXEL_SCALE);
    ot_dataset_free(&ds);
    o.limit = 2;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 2);
    CU_ASSERT_EQUAL(memcmp(ds.images, x, 2 * D), 0);
    ot_dataset_free(&ds);
}

/* float64 N x C x H x W (layout nchw), chunked by 4: kept as float32 and turned to NHWC. */
static void test_float64_nchw(void)
{
    char path[256];
    double x[N * D];
    for (size_t s = 0; s < N; s++)
        for (size_t c = 0; c < C; c++)
            for (size_t h = 0; h < H; h++)
                for (size_t w = 0; w < W; w++)
                    x[((s * C + c) * H + h) * W + w] = val(s, h, w, c) * 0.5 - 7.0;
    hid_t f = create("f64.h5", path, sizeof path);
    put(f, "/images/x", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, (hsize_t[]){N, C, H, W}, x, 4);
    put_labels(f, "y", N);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = {"/images/x", "y", OT_LAYOUT_NCHW, 3, 0, 0, 0, NULL, 0.0};
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(ds.rows == H && ds.cols == W && ds.chans == C && ds.dim == D);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ds.features);
    CU_ASSERT_EQUAL(ds.nonzero, 1.0f); /* floats never take the byte path */
    size_t wrong = 0;
    for (size_t s = 0; s < N; s++)
        for (size_t h = 0; h < H; h++)
            for (size_t w = 0; w < W; w++)
                for (size_t c = 0; c < C; c++)
                    wrong += ds.features[((s * H + h) * W + w) * C + c] !=
                             (float)(val(s, h, w, c) * 0.5 - 7.0);
    CU_ASSERT_EQUAL(wrong, 0);
    ot_dataset_free(&ds);
}

/* A root attribute layout with its value: a variable-length UTF-8 string as h5py writes one
 * (vlen), else fixed-length ASCII. */
static void put_layout(hid_t f, const char *value, int vlen)
{
    hid_t t = H5Tcopy(H5T_C_S1), sp = H5Screate(H5S_SCALAR);
    if (vlen) {
        H5Tset_size(t, H5T_VARIABLE);
        H5Tset_cset(t, H5T_CSET_UTF8);
    } else {
        H5Tset_size(t, strlen(value) + 1);
    }
    hid_t a = H5Acreate2(f, "layout", t, sp, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    CU_ASSERT(H5Awrite(a, t, vlen ? (const void *)&value : (const void *)value) >= 0);
    H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
}

/* The root attribute layout that scripts/to_hdf5.py --layout records: a data.layout that
 * contradicts it is refused in one line (the samples had been read with their axes mixed up,
 * silently where the image is not square); one that agrees, or another value of the
 * attribute, or rank-3 samples (no channel axis to place), load as before. */
static void test_layout_attribute(void)
{
    static const struct {
        const char *value;
        int vlen;
        ot_layout_t layout;
        int rank, ok;
    } cases[] = {
        {"nchw", 1, OT_LAYOUT_NHWC, 4, 0}, {"nchw", 0, OT_LAYOUT_NHWC, 4, 0},
        {"nhwc", 1, OT_LAYOUT_NCHW, 4, 0}, {"nchw", 1, OT_LAYOUT_NCHW, 4, 1},
        {"nhwc", 0, OT_LAYOUT_NHWC, 4, 1}, {"NCHW?", 1, OT_LAYOUT_NHWC, 4, 1},
        {"nchw", 1, OT_LAYOUT_NHWC, 3, 1},
    };
    static float x[N * D];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        hid_t f = create("layout.h5", path, sizeof path);
        put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, cases[i].rank,
            cases[i].rank == 4 ? (hsize_t[]){N, C, H, W} : (hsize_t[]){N, H, W * C}, x, 0);
        put_labels(f, "label", N);
        put_layout(f, cases[i].value, cases[i].vlen);
        H5Fclose(f);
        ot_dataset_t ds;
        ot_h5data_opts_t o = opts();
        o.layout = cases[i].layout;
        if (cases[i].ok) {
            CU_ASSERT_EQUAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
            ot_dataset_free(&ds);
            continue;
        }
        char want[512];
        const int nchw = cases[i].value[1] == 'c';
        snprintf(want, sizeof want, "%s: its attribute layout says the samples lie %s, but "
                 "data.layout = %s reads them as %s; expected data.layout = %s", path,
                 nchw ? "N x C x H x W" : "N x H x W x C", nchw ? "nhwc" : "nchw",
                 nchw ? "N x H x W x C" : "N x C x H x W", cases[i].value);
        OT_EXPECT_ONE_LINE(ot_h5data_load(&ds, path, &o, NULL), OT_ECONFIG, want);
    }
}

/* float32 N x D vectors and N x 1 int8 labels; N x H x W uint8 images (one channel). */
static void test_vectors_and_images(void)
{
    char path[256];
    float v[N * 5];
    int8_t y[N];
    for (size_t i = 0; i < N * 5; i++)
        v[i] = (float)i * 0.25f - 2.0f;
    for (size_t i = 0; i < N; i++)
        y[i] = (int8_t)(2 - i % 3);
    hid_t f = create("vec.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 5}, v, 0);
    put(f, "label", H5T_STD_I8LE, H5T_NATIVE_INT8, 2, (hsize_t[]){N, 1}, y, 0);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = opts();
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(ds.flat && ds.chans == 5 && ds.rows == 1 && ds.cols == 1 && ds.dim == 5);
    CU_ASSERT_EQUAL(memcmp(ds.features, v, sizeof v), 0);
    CU_ASSERT_EQUAL(ds.labels[1], 1);
    ot_dataset_free(&ds);

    uint8_t img[N * H * W];
    for (size_t i = 0; i < sizeof img; i++)
        img[i] = (uint8_t)(i % 5 == 0 ? 200 : 0); /* mostly zero: the pixels get listed */
    f = create("img.h5", path, sizeof path);
    put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, (hsize_t[]){N, H, W}, img, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(!ds.flat && ds.chans == 1 && ds.rows == H && ds.cols == W);
    CU_ASSERT(ds.nonzero < OT_INDEX_BELOW);
    CU_ASSERT_PTR_NOT_NULL(ds.nz_off);
    ot_dataset_free(&ds);
}

/* Many samples in chunks that the reader's blocks do not divide: every value in its place. */
static void test_many_chunks(void)
{
    enum { M = 50000, K = 7 };
    char path[256];
    float *x = malloc((size_t)M * K * sizeof *x);
    int32_t *y = malloc(M * sizeof *y);
    CU_ASSERT_FATAL(x && y);
    for (size_t i = 0; i < (size_t)M * K; i++)
        x[i] = (float)(i % 1000003);
    for (size_t i = 0; i < M; i++)
        y[i] = (int32_t)(i % 3);
    hid_t f = create("many.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){M, K}, x, 777);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){M}, y, 1000);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = opts();
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_EQUAL(ds.n, M);
    CU_ASSERT_EQUAL(memcmp(ds.features, x, (size_t)M * K * sizeof *x), 0);
    size_t wrong = 0;
    for (size_t i = 0; i < M; i++)
        wrong += ds.labels[i] != (uint8_t)(i % 3);
    CU_ASSERT_EQUAL(wrong, 0);
    ot_dataset_free(&ds);
    free(x);
    free(y);
}

/* Reading shown on a terminal (o.progress; here a file) once it has taken progress_after
 * seconds: a line redrawn after each block of about 16 MB (600,000 x 8 floats: blocks of
 * 524,288 samples), erased at the end; nothing before progress_after; a message on a line of
 * its own, the bar erased first. */
static void test_load_progress(void)
{
    enum { M = 600000, K = 8 };
    char path[256], want[1024];
    float *x = calloc((size_t)M * K, sizeof *x);
    int32_t *y = calloc(M, sizeof *y);
    CU_ASSERT_FATAL(x && y);
    hid_t f = create("progress.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){M, K}, x, 0);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){M}, y, 0);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = opts();
    for (int late = 0; late < 2; late++) {
        FILE *bar = tmpfile();
        CU_ASSERT_PTR_NOT_NULL_FATAL(bar);
        o.progress = bar;
        o.progress_after = late ? 1e9 : 0.0;
        CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
        CU_ASSERT_EQUAL(ds.n, M);
        ot_dataset_free(&ds);
        char got[1024] = "";
        rewind(bar);
        got[fread(got, 1, sizeof got - 1, bar)] = '\0';
        fclose(bar);
        snprintf(want, sizeof want,
                 "\r  loading %s 'data': 524288 of 600000 samples (87%%)\033[K\r\033[K", path);
        CU_ASSERT_STRING_EQUAL(got, late ? "" : want);
    }
    /* NaN in the second block: the message replaces the bar's line */
    x[(size_t)550000 * K + 3] = NAN;
    f = create("progress-nan.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){M, K}, x, 0);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){M}, y, 0);
    H5Fclose(f);
    o.progress = stderr;
    o.progress_after = 0.0;
    ot_test_capture_begin();
    const int rc = ot_h5data_load(&ds, path, &o, NULL);
    char *err = ot_test_capture_end();
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    snprintf(want, sizeof want,
             "\r  loading %s 'data': 524288 of 600000 samples (87%%)\033[K\r\033[Komptrain: %s: "
             "dataset 'data' (data.features): element (550000, 3) is NaN, expected finite "
             "numbers\n", path, path);
    CU_ASSERT_STRING_EQUAL(err, want);
    free(err);
    free(x);
    free(y);
}

/* No labels dataset, for predict: labels 0 and has_labels 0; an error for training. */
static void test_labels_optional(void)
{
    char path[256];
    float v[N * 2] = {0};
    hid_t f = create("nolabels.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, v, 0);
    H5Fclose(f);
    ot_dataset_t ds;
    ot_h5data_opts_t o = opts();
    o.labels_optional = 1;
    int has = -1;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, &has), OT_OK);
    CU_ASSERT_EQUAL(has, 0);
    CU_ASSERT(ds.labels && ds.labels[N - 1] == 0);
    ot_dataset_free(&ds);
    o.labels_optional = 0;
    OT_EXPECT_ONE_LINE(ot_h5data_load(&ds, path, &o, NULL), OT_EFORMAT,
                       "nolabels.h5: no dataset 'label' (data.labels); the file holds 'data'");
}

/* ---------------------------------------------------------------- bad files, one line each */

/* A file with features x (float32, rank and dims given) and labels y (int32, N of them). */
static void make_pair(const char *name, char *path, size_t n, int rank, const hsize_t *dims,
                      const float *x, hsize_t n_labels, const int32_t *y)
{
    hid_t f = create(name, path, n);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, rank, dims, x, 0);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){n_labels}, y, 0);
    H5Fclose(f);
}

static float zeros[1024];
static int32_t zlabels[64];

#define EXPECT_LOAD(o, code, needle)                                                         \
    do {                                                                                     \
        ot_dataset_t ds_;                                                                    \
        memset(&ds_, 0x5a, sizeof ds_);                                                      \
        OT_EXPECT_ONE_LINE(ot_h5data_load(&ds_, path, &(o), NULL), code, needle);            \
        CU_ASSERT(ds_.images == NULL && ds_.features == NULL && ds_.labels == NULL &&        \
                  ds_.n == 0); /* left empty */                                              \
    } while (0)

static void test_missing_file(void)
{
    char path[256];
    ot_h5data_opts_t o = opts();
    ot_test_path(path, sizeof path, "none.h5");
    EXPECT_LOAD(o, OT_EIO, "cannot open '");
    EXPECT_LOAD(o, OT_EIO, "none.h5': No such file or directory");
}

static void test_not_hdf5(void)
{
    char path[256];
    ot_test_path(path, sizeof path, "text.h5");
    FILE *fp = fopen(path, "w");
    CU_ASSERT_FATAL(fp != NULL);
    fputs("label,1x1\n3,0\n", fp);
    fclose(fp);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "text.h5: not an HDF5 file, expected an HDF5 file with datasets "
                               "'data' (data.features) and 'label' (data.labels)");
}

static void test_missing_features(void)
{
    char path[256];
    make_pair("nofeat.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, zlabels);
    ot_h5data_opts_t o = opts();
    o.features = "images";
    EXPECT_LOAD(o, OT_EFORMAT, "nofeat.h5: no dataset 'images' (data.features); the file holds "
                               "'data', 'label'");
    o.features = "/a/b/c"; /* a missing group on the way */
    EXPECT_LOAD(o, OT_EFORMAT, "no dataset '/a/b/c' (data.features)");
}

static void test_features_is_a_group(void)
{
    char path[256];
    hid_t f = create("group.h5", path, sizeof path);
    put(f, "data/x", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "group.h5: 'data' (data.features) is a group, expected a dataset");
    /* a named datatype: neither */
    f = create("named-type.h5", path, sizeof path);
    hid_t t = H5Tcopy(H5T_NATIVE_FLOAT);
    CU_ASSERT_FATAL(H5Tcommit2(f, "data", t, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT) >= 0);
    H5Tclose(t);
    put_labels(f, "label", N);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "named-type.h5: 'data' (data.features) is not a dataset, expected "
                               "a dataset");
}

static void test_n_mismatch(void)
{
    char path[256];
    make_pair("mismatch.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N - 1, zlabels);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "mismatch.h5: dataset 'data' (data.features) has 6 samples but "
                               "'label' (data.labels) has 5 labels; expected one label per sample");
}

static void test_label_out_of_range(void)
{
    char path[256];
    int32_t y[N] = {0, 1, 2, 3, 0, 1};
    make_pair("range.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, y);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "range.h5: dataset 'label' (data.labels): label 3 at index 3 is "
                               "out of range, expected 0..2 (data.classes = 3)");
    o.limit = 2; /* a limit does not hide a wrong label: the file is wrong */
    EXPECT_LOAD(o, OT_EFORMAT, "label 3 at index 3 is out of range");
    y[3] = -1;
    make_pair("negative.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, y);
    EXPECT_LOAD(o, OT_EFORMAT, "label -1 at index 3 is out of range");
    /* uint64 labels past INT64_MAX: named as the file holds them (it said 9223372036854775807,
     * the value's conversion to int64) */
    uint64_t u[N] = {0, 1, 2, 0, 9223372036854775813ull, UINT64_MAX};
    hid_t f = create("u64.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, (hsize_t[]){N}, u, 0);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "u64.h5: dataset 'label' (data.labels): label 9223372036854775813 "
                               "at index 4 is out of range, expected 0..2");
    u[4] = 1;
    f = create("u64max.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_STD_U64BE, H5T_NATIVE_UINT64, 1, (hsize_t[]){N}, u, 0);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "label 18446744073709551615 at index 5 is out of range");
    u[5] = 2; /* in range: read, whatever the width */
    f = create("u64ok.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_STD_U64LE, H5T_NATIVE_UINT64, 1, (hsize_t[]){N}, u, 0);
    H5Fclose(f);
    ot_dataset_t ds;
    o.limit = 0;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(ds.labels[2] == 2 && ds.labels[4] == 1 && ds.labels[5] == 2);
    ot_dataset_free(&ds);
    const int64_t most_negative[N] = {0, INT64_MIN, 0, 0, 0, 0};
    f = create("i64min.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, (hsize_t[]){N}, most_negative, 0);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "label -9223372036854775808 at index 1 is out of range");
}

static void test_bad_rank(void)
{
    char path[256];
    make_pair("rank1.h5", path, sizeof path, 1, (hsize_t[]){N}, zeros, N, zlabels);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "rank1.h5: dataset 'data' (data.features) has rank 1 (shape 6), "
                               "expected N x D, N x H x W, N x H x W x C or N x C x H x W");
    make_pair("rank5.h5", path, sizeof path, 5, (hsize_t[]){N, 1, 2, 2, 2}, zeros, N, zlabels);
    EXPECT_LOAD(o, OT_EFORMAT, "has rank 5 (shape 6x1x2x2x2)");
    make_pair("empty.h5", path, sizeof path, 2, (hsize_t[]){N, 0}, zeros, N, zlabels);
    EXPECT_LOAD(o, OT_EFORMAT, "has shape 6x0, expected no zero-sized axis");
    hid_t f = create("labels2.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){N, 2}, zlabels, 0);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "dataset 'label' (data.labels) has shape 6x2, expected N or N x 1 "
                               "labels");
    /* as many columns as classes: one-hot rows, said so */
    const float one_hot[N * 3] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
    f = create("onehot.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 3}, one_hot, 0);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "dataset 'label' (data.labels) has shape 6x3, expected N or N x 1 "
                               "labels (one-hot rows? store each row's class index instead: "
                               "numpy.argmax(y, axis=1))");
}

static void test_bad_types(void)
{
    char path[256];
    int32_t xi[N * 2] = {0};
    hid_t f = create("int32.h5", path, sizeof path);
    put(f, "data", H5T_STD_I32LE, H5T_NATIVE_INT32, 2, (hsize_t[]){N, 2}, xi, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "int32.h5: dataset 'data' (data.features) holds int32, expected "
                               "uint8 (scaled to [0, 1]), float32 or float64");
    f = create("int8.h5", path, sizeof path);
    put(f, "data", H5T_STD_I8LE, H5T_NATIVE_INT8, 2, (hsize_t[]){N, 2}, xi, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "holds int8, expected uint8");
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 4);
    char s[N][4] = {"a", "b", "c", "d", "e", "f"};
    f = create("strings.h5", path, sizeof path);
    put(f, "data", str, str, 1, (hsize_t[]){N}, s, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    H5Tclose(str);
    EXPECT_LOAD(o, OT_EFORMAT, "holds strings, expected uint8");
    str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, 4);
    f = create("slabels.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", str, str, 1, (hsize_t[]){N}, s, 0);
    H5Fclose(f);
    H5Tclose(str);
    EXPECT_LOAD(o, OT_EFORMAT, "slabels.h5: dataset 'label' (data.labels) holds strings, "
                               "expected integers (class indices), or floats holding whole "
                               "numbers");
    /* ragged samples (h5py.vlen_dtype): named, not "a type of HDF5 class 9" */
    hid_t vl = H5Tvlen_create(H5T_NATIVE_UINT8);
    uint8_t bytes[3] = {1, 2, 3};
    hvl_t seq[N];
    for (size_t i = 0; i < N; i++)
        seq[i] = (hvl_t){1 + i % 3, bytes};
    f = create("vlen.h5", path, sizeof path);
    put(f, "data", vl, vl, 1, (hsize_t[]){N}, seq, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "vlen.h5: dataset 'data' (data.features) holds variable-length "
                               "sequences (a ragged array), expected uint8 (scaled to [0, 1]), "
                               "float32 or float64, every sample of one shape (pad or crop the "
                               "samples to one size)");
    f = create("vlen-labels.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", vl, vl, 1, (hsize_t[]){N}, seq, 0);
    H5Fclose(f);
    H5Tclose(vl);
    EXPECT_LOAD(o, OT_EFORMAT, "dataset 'label' (data.labels) holds variable-length sequences (a "
                               "ragged array), expected integers");
    /* each value an array (numpy's sub-array dtypes): named too */
    hid_t arr = H5Tarray_create2(H5T_NATIVE_UINT8, 1, (hsize_t[]){2});
    f = create("array.h5", path, sizeof path);
    put(f, "data", arr, arr, 1, (hsize_t[]){N}, xi, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    H5Tclose(arr);
    EXPECT_LOAD(o, OT_EFORMAT, "array.h5: dataset 'data' (data.features) holds an array type "
                               "(each value an array), expected uint8");
    /* the other classes a numpy or HDF5 user may store, each by its name (no values written:
     * the type alone is read) */
    int8_t zero = 0;
    hid_t en = H5Tenum_create(H5T_NATIVE_INT8), cmp = H5Tcreate(H5T_COMPOUND, 1);
    H5Tenum_insert(en, "FALSE", &zero);
    H5Tinsert(cmp, "x", 0, H5T_NATIVE_UINT8);
    hid_t op = H5Tcreate(H5T_OPAQUE, 2);
    const struct {
        hid_t type;
        const char *said;
    } kinds[] = {
        {en, "holds an enum (numpy bool?), expected uint8"},
        {cmp, "holds a compound type (records), expected uint8"},
        {op, "holds opaque bytes, expected uint8"},
        {H5T_STD_B8LE, "holds bit fields, expected uint8"},
        {H5T_STD_REF_OBJ, "holds references to objects or regions, expected uint8"},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        f = create("kind.h5", path, sizeof path);
        put(f, "data", kinds[i].type, kinds[i].type, 1, (hsize_t[]){N}, NULL, 0);
        put_labels(f, "label", N);
        H5Fclose(f);
        EXPECT_LOAD(o, OT_EFORMAT, kinds[i].said);
    }
    H5Tclose(en);
    H5Tclose(cmp);
    H5Tclose(op);
}

/* Labels as floats, as Caffe's HDF5Data layer has them (float32, or float64, N x 1): taken
 * when each is a whole number of a class, else one line naming the first that is not. */
static void test_float_labels(void)
{
    char path[256];
    const float y32[N] = {0, 1, 2, 2, 1, 0};
    const double y64[N] = {2, 0, 1, 1, 0, 2};
    hid_t f = create("flabels.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put(f, "label", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1, (hsize_t[]){N}, y32, 0);
    put(f, "label64", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, (hsize_t[]){N, 1}, y64, 0);
    H5Fclose(f);
    ot_h5data_opts_t o = opts();
    ot_dataset_t ds;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(ds.labels[i], (uint8_t)y32[i]);
    ot_dataset_free(&ds);
    o.labels = "label64";
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    for (size_t i = 0; i < N; i++)
        CU_ASSERT_EQUAL(ds.labels[i], (uint8_t)y64[i]);
    ot_dataset_free(&ds);
    /* not classes: a fraction, beyond the classes, below 0, NaN; the first one named */
    const double bad[][2] = {{0.5, 0}, {3.0, 0}, {-1.0, 0}, {NAN, 0}, {2.0000000000000004, 0}};
    const char *said[] = {("label 0.5 at index 4 is not a class, expected a whole number in 0..2 "
                           "(data.classes = 3)"),
                          "label 3 at index 4 is not a class", "label -1 at index 4 is not",
                          "label nan at index 4 is not", "label 2.0000000000000004 at index 4"};
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        double y[N] = {0, 1, 2, 1, bad[k][0], 0.25};
        f = create("fbad.h5", path, sizeof path);
        put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
        put(f, "label", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, (hsize_t[]){N}, y, 0);
        H5Fclose(f);
        o.labels = "label";
        EXPECT_LOAD(o, OT_EFORMAT, said[k]);
    }
}

/* Root attribute class_names of f: k strings, variable length or fixed (size bytes). */
static void put_names(hid_t f, const char *const *names, hsize_t k, size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1), space = H5Screate_simple(1, &k, NULL);
    H5Tset_size(t, size ? size : H5T_VARIABLE);
    char fixed[64] = {0}; /* k strings of size bytes, back to back, NUL-padded */
    for (hsize_t i = 0; size && i < k; i++)
        memcpy(fixed + i * size, names[i], strlen(names[i]) < size ? strlen(names[i]) : size);
    hid_t a = H5Acreate2(f, "class_names", t, space, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    CU_ASSERT(H5Awrite(a, t, size ? (const void *)fixed : (const void *)names) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(t);
}

/* The classes' names of the root attribute class_names (scripts/to_hdf5.py's, h5py's
 * variable-length strings, or fixed-length ones): kept when there is one per class, control
 * characters made '?', a long one cut; none when the count differs or the attribute holds no
 * strings, and the data set loads either way, with why in class_names_note (eval and predict
 * say it; they had left the names out without a word). */
static void test_class_names(void)
{
    char path[256], long_name[200];
    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memcpy(long_name + 63, "\xc3\xa9", 2); /* an e-acute that the cut at 64 bytes would split */
    const char *names[3] = {"cat", "dog\nbig", long_name};
    ot_h5data_opts_t o = opts();
    const char *const four[4] = {"a", "b", "c", "d"};
    const char *const notes[] = {
        "", "", "attribute class_names holds 2 names, not data.classes = 3",
        "attribute class_names holds 4 names, not data.classes = 3",
        "attribute class_names is a single string, expected a list of 3, one a class",
        "attribute class_names has shape 3x1, expected a list of 3 strings, one a class"};
    for (int form = 0; form < 6; form++) {
        hid_t f = create("names.h5", path, sizeof path);
        put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
        put_labels(f, "label", N);
        if (form == 0)
            put_names(f, names, 3, 0);
        else if (form == 1)
            put_names(f, (const char *[]){"a", "bb", "ccc"}, 3, 3); /* ccc fills its 3 bytes */
        else if (form == 2)
            put_names(f, names, 2, 0); /* 2 names for 3 classes */
        else if (form == 3)
            put_names(f, four, 4, 0);
        if (form >= 4) { /* "a, b, c" as one string; 3 names in a column */
            hid_t t = H5Tcopy(H5T_C_S1);
            H5Tset_size(t, H5T_VARIABLE);
            hid_t space = form == 4 ? H5Screate(H5S_SCALAR)
                                    : H5Screate_simple(2, (hsize_t[]){3, 1}, NULL);
            hid_t a = H5Acreate2(f, "class_names", t, space, H5P_DEFAULT, H5P_DEFAULT);
            const char *abc[3] = {"a, b, c", "b", "c"};
            CU_ASSERT(H5Awrite(a, t, abc) >= 0);
            H5Aclose(a);
            H5Sclose(space);
            H5Tclose(t);
        }
        H5Fclose(f);
        ot_dataset_t ds;
        CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
        CU_ASSERT_STRING_EQUAL(ds.class_names_note, notes[form]);
        if (form == 0) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(ds.class_names);
            CU_ASSERT_STRING_EQUAL(ds.class_names[0], "cat");
            CU_ASSERT_STRING_EQUAL(ds.class_names[1], "dog?big");
            CU_ASSERT_EQUAL(strlen(ds.class_names[2]), 63); /* cut, and the split e-acute gone */
            CU_ASSERT_EQUAL(strspn(ds.class_names[2], "x"), 63);
        } else if (form == 1) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(ds.class_names);
            CU_ASSERT_STRING_EQUAL(ds.class_names[0], "a");
            CU_ASSERT_STRING_EQUAL(ds.class_names[1], "bb");
            CU_ASSERT_STRING_EQUAL(ds.class_names[2], "ccc");
        } else {
            CU_ASSERT_PTR_NULL(ds.class_names);
        }
        CU_ASSERT_EQUAL(ds.n, N);
        ot_dataset_free(&ds);
    }
    /* a numeric attribute of that name: no names */
    hid_t f = create("numnames.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put_labels(f, "label", N);
    const hsize_t three = 3;
    hid_t space = H5Screate_simple(1, &three, NULL);
    hid_t a = H5Acreate2(f, "class_names", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT32, (const int32_t[]){1, 2, 3}) >= 0);
    H5Aclose(a);
    H5Sclose(space);
    H5Fclose(f);
    ot_dataset_t ds;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_PTR_NULL(ds.class_names);
    CU_ASSERT_STRING_EQUAL(ds.class_names_note,
                           "attribute class_names holds int32, expected 3 strings, one a class");
    ot_dataset_free(&ds);
    /* no attribute: nothing to say */
    make_pair("nonames.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, zlabels);
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_PTR_NULL(ds.class_names);
    CU_ASSERT_STRING_EQUAL(ds.class_names_note, "");
    ot_dataset_free(&ds);
}

/* Dataset file_names of f: k strings, variable length or fixed (size bytes, at most 8). */
static void put_file_names(hid_t f, const char *const *names, hsize_t k, size_t size)
{
    hid_t t = H5Tcopy(H5T_C_S1), space = H5Screate_simple(1, &k, NULL);
    H5Tset_size(t, size ? size : H5T_VARIABLE);
    char fixed[64 * 8] = {0}; /* k strings of size bytes, back to back, NUL-padded */
    for (hsize_t i = 0; size && i < k; i++)
        memcpy(fixed + i * size, names[i], strlen(names[i]) < size ? strlen(names[i]) : size);
    hid_t d = H5Dcreate2(f, "file_names", t, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    CU_ASSERT(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT,
                       size ? (const void *)fixed : (const void *)names) >= 0);
    H5Dclose(d);
    H5Sclose(space);
    H5Tclose(t);
}

/* The samples' names of the dataset file_names (scripts/to_hdf5.py's PNG file names), read
 * for predict (labels optional) only: kept when there is one per sample (a limit keeps the
 * first), control characters made '?', a long one cut; none when there are fewer, when the
 * name is a group's, or when variable-length names would take more than 4096 bytes a sample;
 * the data set loads either way. */
static void test_file_names(void)
{
    char path[256], long_name[200];
    static char huge[30000];
    memset(long_name, 'y', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memset(huge, 'z', sizeof huge - 1);
    const char *names[N] = {"a.png", "b\tc.png", long_name, "d.png", "e.png", "f, g.png"};
    ot_h5data_opts_t o = opts();
    o.labels_optional = 1;
    for (int form = 0; form < 6; form++) {
        hid_t f = create("files.h5", path, sizeof path);
        put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
        if (form == 0 || form == 1)
            put_file_names(f, names, N, 0);
        else if (form == 2)
            put_file_names(f, (const char *[]){"1", "22", "333", "4", "5", "66666666"}, N, 8);
        else if (form == 3)
            put_file_names(f, names, N - 1, 0); /* fewer than the samples */
        else if (form == 4)
            H5Gclose(H5Gcreate2(f, "file_names", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
        else
            put_file_names(f, (const char *[]){"a", "b", huge, "d", "e", "f"}, N, 0);
        H5Fclose(f);
        ot_dataset_t ds;
        o.limit = form == 1 ? 4 : 0;
        CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
        CU_ASSERT_EQUAL(ds.n, form == 1 ? 4 : N);
        if (form <= 1) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(ds.sample_names);
            CU_ASSERT_STRING_EQUAL(ds.sample_names[0], "a.png");
            CU_ASSERT_STRING_EQUAL(ds.sample_names[1], "b?c.png");
            CU_ASSERT_EQUAL(strlen(ds.sample_names[2]), 64);
            CU_ASSERT_STRING_EQUAL(ds.sample_names[3], "d.png");
            if (form == 0)
                CU_ASSERT_STRING_EQUAL(ds.sample_names[5], "f, g.png");
        } else if (form == 2) {
            CU_ASSERT_PTR_NOT_NULL_FATAL(ds.sample_names);
            CU_ASSERT_STRING_EQUAL(ds.sample_names[2], "333");
            CU_ASSERT_STRING_EQUAL(ds.sample_names[5], "66666666");
        } else {
            CU_ASSERT_PTR_NULL(ds.sample_names);
        }
        ot_dataset_free(&ds);
    }
    /* training and eval (labels required) leave them unread */
    hid_t f = create("files-train.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put_labels(f, "label", N);
    put_file_names(f, names, N, 0);
    H5Fclose(f);
    ot_dataset_t ds;
    o = opts();
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_PTR_NULL(ds.sample_names);
    ot_dataset_free(&ds);
}

/* A dataset of f made with creation properties dcpl (the caller's), data written when given. */
static void put_dcpl(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
                     const hsize_t *dims, const void *data, hid_t dcpl)
{
    /* growable, so that chunks may be larger than the extents */
    hsize_t maxdims[4] = {H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED, H5S_UNLIMITED};
    hid_t space = H5Screate_simple(rank, dims, H5Pget_layout(dcpl) == H5D_CHUNKED ? maxdims
                                                                                : NULL);
    hid_t d = H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    if (data)
        CU_ASSERT(H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
    H5Dclose(d);
    H5Sclose(space);
}

/* File `name` (its path into path): 2-D "data" (dims) made with dcpl, written when data is
 * given, and N labels; dcpl is closed. */
static void make_dcpl_data(const char *name, char *path, size_t n, hid_t ftype, hid_t mtype,
                           const hsize_t *dims, const void *data, hid_t dcpl)
{
    hid_t f = create(name, path, n);
    put_dcpl(f, "data", ftype, mtype, 2, dims, data, dcpl);
    put_labels(f, "label", N);
    H5Fclose(f);
    H5Pclose(dcpl);
}

/* File `name`: N x 2 zero features and the labels y made with dcpl; dcpl is closed. */
static void make_dcpl_labels(const char *name, char *path, size_t n, const int32_t *y,
                             hid_t dcpl)
{
    hid_t f = create(name, path, n);
    put(f, "data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    put_dcpl(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){N}, y, dcpl);
    H5Fclose(f);
    H5Pclose(dcpl);
}

/* fuzz_h5data's finding: libhdf5 1.10 reads out of bounds decoding scale-offset behind deflate
 * or fletcher32 (tests/fuzz/libhdf5/README.md). Only h5py's filters pass: deflate, shuffle,
 * fletcher32, in any order; scale-offset and n-bit are refused before a value is read. */
static void test_filters(void)
{
    char path[256];
    int32_t y[N];
    for (int i = 0; i < N; i++)
        y[i] = i % 3;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, (hsize_t[]){N});
    H5Pset_fletcher32(dcpl);
    H5Pset_deflate(dcpl, 1);
    H5Pset_shuffle(dcpl);
    make_dcpl_labels("h5py-filters.h5", path, sizeof path, y, dcpl);
    ot_h5data_opts_t o = opts();
    ot_dataset_t ds;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(ds.n == N && ds.labels[4] == 1 && ds.labels[5] == 2);
    ot_dataset_free(&ds);

    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, (hsize_t[]){N});
    H5Pset_deflate(dcpl, 7);
    H5Pset_scaleoffset(dcpl, H5Z_SO_INT, 2);
    make_dcpl_labels("scaleoffset.h5", path, sizeof path, y, dcpl);
    EXPECT_LOAD(o, OT_EFORMAT, "scaleoffset.h5: dataset 'label' (data.labels) passes its values "
                               "through HDF5 filter 6 (scaleoffset), expected only gzip "
                               "(deflate), shuffle or fletcher32");
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, (hsize_t[]){N, 2});
    H5Pset_nbit(dcpl);
    make_dcpl_data("nbit.h5", path, sizeof path, H5T_STD_U8LE, H5T_NATIVE_UINT8,
                   (hsize_t[]){N, 2}, y, dcpl);
    EXPECT_LOAD(o, OT_EFORMAT, "dataset 'data' (data.features) passes its values through HDF5 "
                               "filter 5 (nbit)");
    /* the input the fuzzer found: data behind a soft link, labels through shuffle, deflate,
     * scale-offset */
    snprintf(path, sizeof path, "%s", OT_TEST_DIR "/fuzz/regress/h5data/scaleoffset-after-deflate.h5");
    o.labels = "/label";
    EXPECT_LOAD(o, OT_EFORMAT, "dataset '/label' (data.labels) passes its values through HDF5 "
                               "filter 6 (scaleoffset)");
}

/* What would make HDF5 open another file is refused before it does: an external link on the
 * way to a dataset, values in external files, a virtual dataset; a soft link within the file
 * is followed (h5py writes them). Compressed chunks larger than the data set and 16 MiB are
 * refused (HDF5 would hold one in memory to decompress it). */
static void test_links_and_storage(void)
{
    char path[256];
    ot_h5data_opts_t o = opts();
    hid_t f = create("elink.h5", path, sizeof path);
    H5Lcreate_external("/nonexistent/omptrain-other.h5", "/data", f, "data", H5P_DEFAULT,
                       H5P_DEFAULT);
    put_labels(f, "label", N);
    H5Fclose(f);
    EXPECT_LOAD(o, OT_EFORMAT, "elink.h5: dataset 'data' (data.features): data is an external "
                               "link (to another file), expected an object in this file");

    f = create("soft.h5", path, sizeof path);
    put(f, "/x/y", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, (hsize_t[]){N, 2}, zeros, 0);
    H5Lcreate_soft("/x/y", f, "data", H5P_DEFAULT, H5P_DEFAULT);
    H5Lcreate_soft("data", f, "loop", H5P_DEFAULT, H5P_DEFAULT);
    put_labels(f, "label", N);
    H5Fclose(f);
    ot_dataset_t ds;
    CU_ASSERT_EQUAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    ot_dataset_free(&ds);
    o.features = "loop"; /* loop -> data -> /x/y */
    CU_ASSERT_EQUAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    ot_dataset_free(&ds);
    o = opts();

    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "/nonexistent/omptrain-values", 0, H5F_UNLIMITED);
    make_dcpl_data("external.h5", path, sizeof path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                   (hsize_t[]){N, 2}, NULL, dcpl);
    EXPECT_LOAD(o, OT_EFORMAT, "external.h5: dataset 'data' (data.features) has its values in 1 "
                               "external file, expected them in this file");

    hsize_t dims[2] = {N, 2};
    hid_t space = H5Screate_simple(2, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_virtual(dcpl, space, "/nonexistent/omptrain-source.h5", "/x", space);
    make_dcpl_data("virtual.h5", path, sizeof path, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, dims,
                   NULL, dcpl);
    H5Sclose(space);
    EXPECT_LOAD(o, OT_EFORMAT, "virtual.h5: dataset 'data' (data.features) is a virtual dataset");

    /* 6 x 2 bytes in one gzip'd chunk of 4096 x 8192 bytes (32 MiB), written */
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, (hsize_t[]){4096, 8192});
    H5Pset_deflate(dcpl, 1);
    uint8_t px[N * 2] = {0};
    make_dcpl_data("bigchunk.h5", path, sizeof path, H5T_STD_U8LE, H5T_NATIVE_UINT8,
                   (hsize_t[]){N, 2}, px, dcpl);
    char want[768];
    snprintf(want, sizeof want, "bigchunk.h5: dataset 'data' (data.features) has chunks of "
             "4096x8192 values, more than the 16777216 bytes a chunk may take; HDF5 decompresses "
             "a chunk whole, and one may take 16.0 MiB or the memory of the samples read (18 "
             "bytes for 6 samples); expected smaller chunks: h5repack -l data:CHUNK=6x2 %s "
             "OUT.h5 rewrites them in chunks of about 1 MiB, as scripts/to_hdf5.py writes", path);
    EXPECT_LOAD(o, OT_EFORMAT, want);
}

/* One gzip'd chunk for all the samples (20 x 1000 x 1000 bytes: 19 MiB) is read whole, as
 * the data set is; a limit keeps 2 samples, and the chunk is then more than they and 16 MiB:
 * refused, the line saying why the limit matters and how to rewrite the file. Labels in one
 * chunk of 3 million, beyond 16 MiB, likewise. */
static void test_one_chunk(void)
{
    enum { M = 20, SIDE = 1000 };
    char path[256];
    uint8_t *x = calloc((size_t)M * SIDE * SIDE, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(x);
    x[(size_t)7 * SIDE * SIDE + 5] = 9;
    int32_t y[M] = {0};
    hid_t f = create("onechunk.h5", path, sizeof path);
    put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, 3, (hsize_t[]){M, SIDE, SIDE}, x, M);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){M}, y, 0);
    H5Fclose(f);
    free(x);
    ot_h5data_opts_t o = opts();
    ot_dataset_t ds;
    CU_ASSERT_EQUAL_FATAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT(ds.n == M && ds.images[(size_t)7 * SIDE * SIDE + 5] == 9);
    ot_dataset_free(&ds);
    o.limit = 2;
    EXPECT_LOAD(o, OT_EFORMAT, "onechunk.h5: dataset 'data' (data.features) has chunks of "
                               "20x1000x1000 values, more than the 16777216 bytes a chunk may "
                               "take; HDF5 decompresses a chunk whole, and one may take 16.0 MiB "
                               "or the memory of the samples read (1.9 MiB for the 2 samples a "
                               "limit keeps; all 20 would allow these chunks); expected smaller "
                               "chunks: h5repack -l data:CHUNK=1x1000x1000 ");

    /* 3 million int64 labels in one chunk (22.9 MiB) beside 3 million 1-byte samples */
    enum { L = 3000000 };
    int64_t *yl = calloc(L, sizeof *yl);
    CU_ASSERT_PTR_NOT_NULL_FATAL(yl);
    f = create("onechunk-labels.h5", path, sizeof path);
    put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, (hsize_t[]){L, 1}, yl, 1000);
    put(f, "label", H5T_STD_I64LE, H5T_NATIVE_INT64, 1, (hsize_t[]){L}, yl, L);
    H5Fclose(f);
    free(yl);
    o.limit = 0; /* 6 MB of samples and labels: a chunk may take 16 MiB */
    EXPECT_LOAD(o, OT_EFORMAT, "onechunk-labels.h5: dataset 'label' (data.labels) has chunks of "
                               "3000000 values, more than the 16777216 bytes a chunk may take; "
                               "HDF5 decompresses a chunk whole, and one may take 16.0 MiB or the "
                               "memory of the samples read (5.7 MiB for 3000000 samples); "
                               "expected smaller chunks: h5repack -l label:CHUNK=100000 ");
}

static void test_not_finite(void)
{
    char path[256];
    float x[N * 4] = {0};
    x[2 * 4 + 3] = NAN;
    make_pair("nan.h5", path, sizeof path, 2, (hsize_t[]){N, 4}, x, N, zlabels);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_EFORMAT, "nan.h5: dataset 'data' (data.features): element (2, 3) is NaN, "
                               "expected finite numbers");
    x[2 * 4 + 3] = 0.0f;
    x[5 * 4 + 1] = -INFINITY;
    make_pair("inf.h5", path, sizeof path, 2, (hsize_t[]){N, 4}, x, N, zlabels);
    EXPECT_LOAD(o, OT_EFORMAT, "element (5, 1) is -Inf (or beyond float32's range)");
    /* float64 beyond float32's range, in an N x C x H x W file: named as the file has it */
    double xd[N * D] = {0};
    xd[((1 * C + 1) * H + 2) * W + 3] = 1e300;
    hid_t f = create("big.h5", path, sizeof path);
    put(f, "data", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 4, (hsize_t[]){N, C, H, W}, xd, 0);
    put_labels(f, "label", N);
    H5Fclose(f);
    o.layout = OT_LAYOUT_NCHW;
    EXPECT_LOAD(o, OT_EFORMAT, "element (1, 1, 2, 3) is Inf (or beyond float32's range)");
}

/* A data set larger than the memory: said before reading, with both figures. A 10^7 x 10^5
 * chunked dataset never written takes no room in the file but 1 TB to read. */
static void test_too_large(void)
{
    char path[256];
    hid_t f = create("huge.h5", path, sizeof path);
    put(f, "data", H5T_STD_U8LE, H5T_NATIVE_UINT8, 2, (hsize_t[]){10000000, 100000}, NULL, 1000);
    put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, (hsize_t[]){10000000}, NULL, 100000);
    H5Fclose(f);
    ot_h5data_opts_t o = opts();
    EXPECT_LOAD(o, OT_ENOMEM, "huge.h5: dataset 'data' (data.features) of shape 10000000x100000 "
                              "needs 931.3 GiB in memory for 10000000 samples, more than the ");
    /* a limit brings it within a given budget: then it is read (and the unwritten labels,
     * HDF5's fill value 0, are fine) */
    o.limit = 2;
    o.mem_limit = 300000;
    ot_dataset_t ds;
    CU_ASSERT_EQUAL(ot_h5data_load(&ds, path, &o, NULL), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 2);
    ot_dataset_free(&ds);
    o.limit = 3; /* 300003 bytes */
    EXPECT_LOAD(o, OT_ENOMEM, "needs 293.0 KiB in memory for 3 samples, more than the 293.0 KiB "
                              "available (the limit given)");
}

static void test_classes_out_of_range(void)
{
    char path[256];
    make_pair("classes.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, zlabels);
    ot_h5data_opts_t o = opts();
    o.n_classes = 1;
    EXPECT_LOAD(o, OT_EINVAL, "data.classes 1 is out of range, expected 2..256");
}

static void test_is_hdf5(void)
{
    char path[256];
    make_pair("is.h5", path, sizeof path, 2, (hsize_t[]){N, 2}, zeros, N, zlabels);
    CU_ASSERT_EQUAL(ot_h5data_is_hdf5(path), 1);
    CU_ASSERT_EQUAL(ot_h5data_is_hdf5("data/mnist/t10k-labels-idx1-ubyte.gz"), 0);
}

OT_TEST_SUITE(h5data, setup, ot_test_scratch_free,
              {"the attribute layout against data.layout", test_layout_attribute},
              {"uint8 N x H x W x C, chunked and gzip'd; limit", test_uint8_nhwc},
              {"float64 N x C x H x W to NHWC float32", test_float64_nchw},
              {"float32 vectors, N x 1 labels; one-channel images", test_vectors_and_images},
              {"many samples over chunks the blocks do not divide", test_many_chunks},
              {"labels optional for predict only", test_labels_optional},
              {"reading shown on a terminal, erased; a message on its own line",
               test_load_progress},
              {"bad: missing file", test_missing_file},
              {"bad: not HDF5", test_not_hdf5},
              {"bad: missing features dataset", test_missing_features},
              {"bad: features is a group or a named type", test_features_is_a_group},
              {"bad: N of features and labels differ", test_n_mismatch},
              {"bad: label out of range", test_label_out_of_range},
              {"bad: rank or shape", test_bad_rank},
              {"bad: types", test_bad_types},
              {"labels as floats (Caffe): whole numbers taken, others named", test_float_labels},
              {"class names from the attribute class_names, when one per class", test_class_names},
              {"sample names from the dataset file_names, for predict", test_file_names},
              {"bad: filters other than gzip, shuffle, fletcher32", test_filters},
              {"bad: links and storage outside the file; big chunks", test_links_and_storage},
              {"one chunk for all: read whole, refused with a limit, said why", test_one_chunk},
              {"bad: NaN and Inf", test_not_finite},
              {"bad: larger than the memory", test_too_large},
              {"bad: classes out of range", test_classes_out_of_range},
              {"HDF5 or not; memory available", test_is_hdf5})
