/* test_data.c - IDX reader and data set: the shipped MNIST files, raw and gzip input, the
 * [0,1] conversion in gather, and one test per kind of broken file. Broken files are built
 * byte by byte in a mkdtemp directory; each error is checked for its status code and for the
 * one line it prints (captured from stderr). */
#include <CUnit/CUnit.h>

#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "ot_common.h"
#include "ot_data.h"
#include "ot_test.h"

#define MNIST_DIR "data/mnist/"
#define TRAIN_IMAGES MNIST_DIR "train-images-idx3-ubyte.gz"
#define TRAIN_LABELS MNIST_DIR "train-labels-idx1-ubyte.gz"
#define TEST_IMAGES MNIST_DIR "t10k-images-idx3-ubyte.gz"
#define TEST_LABELS MNIST_DIR "t10k-labels-idx1-ubyte.gz"

static char tmpdir[] = "/tmp/ot_test_data_XXXXXX";
static int tmpdir_made;
static char errbuf[4096]; /* what the last captured call printed on stderr */

/* ---------------------------------------------------------------- fixtures */

static int suite_init(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return -1;
    }
    tmpdir_made = 1;
    return 0;
}

static int suite_cleanup(void)
{
    if (!tmpdir_made)
        return 0;
    DIR *d = opendir(tmpdir);
    if (!d)
        return -1;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        if (rmdir(p) != 0 && unlink(p) != 0)
            perror(p);
    }
    closedir(d);
    return rmdir(tmpdir) == 0 ? 0 : -1;
}

/* Path of name inside the temporary directory, in one of 16 rotating static buffers: enough
 * for the few paths a test holds at once (stderr capture keeps its own). */
static const char *tmp(const char *name)
{
    static char bufs[16][512];
    static unsigned k;
    char *b = bufs[k++ % 16];
    snprintf(b, sizeof bufs[0], "%s/%s", tmpdir, name);
    return b;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Write len bytes to tmp(name) uncompressed; returns the path or NULL. */
static const char *write_raw(const char *name, const void *data, size_t len)
{
    const char *path = tmp(name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    size_t w = fwrite(data, 1, len, f);
    if (fclose(f) != 0 || w != len)
        return NULL;
    return path;
}

/* Write len bytes to tmp(name) gzip-compressed; returns the path or NULL. */
static const char *write_gz(const char *name, const void *data, size_t len)
{
    const char *path = tmp(name);
    gzFile gz = gzopen(path, "wb");
    if (!gz)
        return NULL;
    int w = len ? gzwrite(gz, data, (unsigned)len) : 0;
    if (gzclose(gz) != Z_OK || w != (int)len)
        return NULL;
    return path;
}

/* Read a whole file (at most cap bytes) into buf; returns its length or -1. */
static long slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t r = fread(buf, 1, cap, f);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : (long)r;
}

/* How many bytes the gzip stream gz (len bytes, perhaps cut short) inflates to before it ends
 * or errs: what gzip -dc | wc -c counts. */
static size_t inflated_size(const unsigned char *gz, size_t len)
{
    unsigned char out[4096];
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return 0;
    z.next_in = (unsigned char *)(uintptr_t)gz;
    z.avail_in = (uInt)len;
    int r;
    do {
        z.next_out = out;
        z.avail_out = sizeof out;
        r = inflate(&z, Z_NO_FLUSH);
    } while (r == Z_OK && z.avail_out == 0);
    const size_t n = z.total_out;
    inflateEnd(&z);
    return n;
}

/* An IDX image file: header (n, rows, cols) then body_len bytes of a fixed pattern.
 * buf must hold 16 + body_len bytes; returns the total length. */
static size_t make_images(unsigned char *buf, uint32_t magic, uint32_t n, uint32_t rows,
                          uint32_t cols, size_t body_len)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n);
    put_be32(buf + 8, rows);
    put_be32(buf + 12, cols);
    for (size_t i = 0; i < body_len; i++)
        buf[16 + i] = (unsigned char)(i * 37 + 11);
    return 16 + body_len;
}

/* An IDX label file with the given labels. buf must hold 8 + n bytes. */
static size_t make_labels(unsigned char *buf, uint32_t magic, uint32_t n_header,
                          const unsigned char *labels, size_t n)
{
    put_be32(buf, magic);
    put_be32(buf + 4, n_header);
    if (n)
        memcpy(buf + 8, labels, n);
    return 8 + n;
}

/* stderr capture: ot_error writes there, so the tests can check what was said. */
static void capture_end(void)
{
    char *text = ot_test_capture_end();
    snprintf(errbuf, sizeof errbuf, "%s", text ? text : "");
    free(text);
}

#define CAPTURE(stmt)       \
    do {                    \
        ot_test_capture_begin(); \
        stmt;               \
        capture_end();      \
    } while (0)

/* The captured output is exactly one "omptrain: ..." line naming path and containing want. */
static void check_message(const char *path, const char *want)
{
    const char *nl = strchr(errbuf, '\n');
    CU_ASSERT_PTR_NOT_NULL(nl);
    CU_ASSERT(nl && nl[1] == '\0'); /* one line only */
    CU_ASSERT_NSTRING_EQUAL(errbuf, "omptrain: ", 10);
    if (path)
        CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, path));
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, want));
    if (!strstr(errbuf, want))
        fprintf(stderr, "\n  expected \"%s\" in: %s", want, errbuf);
}

/* Read path as images expecting failure rc, and one line containing want. */
static void expect_images_error(const char *path, int rc_want, const char *want)
{
    uint8_t *img = (uint8_t *)&img; /* non-NULL, so the reset to NULL is observable */
    size_t n = 0, r = 0, c = 0;
    int rc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CAPTURE(rc = ot_idx_read_images(path, &img, &n, &r, &c));
    CU_ASSERT_EQUAL(rc, rc_want);
    CU_ASSERT_PTR_NULL(img);
    check_message(path, want);
    if (rc == OT_OK)
        free(img);
}

static void expect_labels_error(const char *path, int rc_want, const char *want)
{
    uint8_t *lab = (uint8_t *)&lab;
    size_t n = 0;
    int rc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    CAPTURE(rc = ot_idx_read_labels(path, &lab, &n));
    CU_ASSERT_EQUAL(rc, rc_want);
    CU_ASSERT_PTR_NULL(lab);
    check_message(path, want);
    if (rc == OT_OK)
        free(lab);
}

static int dataset_is_empty(const ot_dataset_t *ds)
{
    return !ds->images && !ds->labels && ds->n == 0 && ds->rows == 0 && ds->cols == 0 &&
           ds->dim == 0 && ds->n_classes == 0;
}

/* ---------------------------------------------------------------- the shipped files */

static void check_real(const char *images_path, const char *labels_path, size_t n_want,
                       const uint8_t first[5], const uint8_t last[3], uint64_t sum0,
                       uint64_t sum_last, uint64_t sum_all, uint64_t label_sum)
{
    uint8_t *img = NULL, *lab = NULL;
    size_t n = 0, rows = 0, cols = 0, nl = 0;
    int rc;

    CAPTURE(rc = ot_idx_read_images(images_path, &img, &n, &rows, &cols));
    CU_ASSERT_EQUAL_FATAL(rc, OT_OK);
    CU_ASSERT_STRING_EQUAL(errbuf, ""); /* success says nothing */
    CU_ASSERT_EQUAL(n, n_want);
    CU_ASSERT_EQUAL(rows, 28);
    CU_ASSERT_EQUAL(cols, 28);
    if (n == n_want && rows == 28 && cols == 28) {
        uint64_t s0 = 0, sl = 0, sa = 0;
        for (size_t j = 0; j < 784; j++) {
            s0 += img[j];
            sl += img[(n - 1) * 784 + j];
        }
        for (size_t j = 0; j < n * 784; j++)
            sa += img[j];
        CU_ASSERT_EQUAL(s0, sum0);
        CU_ASSERT_EQUAL(sl, sum_last);
        CU_ASSERT_EQUAL(sa, sum_all);
    }
    free(img);

    rc = ot_idx_read_labels(labels_path, &lab, &nl);
    CU_ASSERT_EQUAL_FATAL(rc, OT_OK);
    CU_ASSERT_EQUAL(nl, n_want);
    if (nl == n_want) {
        uint64_t ls = 0;
        for (size_t i = 0; i < 5; i++)
            CU_ASSERT_EQUAL(lab[i], first[i]);
        for (size_t i = 0; i < 3; i++)
            CU_ASSERT_EQUAL(lab[nl - 3 + i], last[i]);
        for (size_t i = 0; i < nl; i++)
            ls += lab[i];
        CU_ASSERT_EQUAL(ls, label_sum);
    }
    free(lab);
}

/* Reference values computed once with Python's gzip module over the decompressed bodies. */
static void test_train_files(void)
{
    static const uint8_t first[5] = {5, 0, 4, 1, 9}, last[3] = {5, 6, 8};
    check_real(TRAIN_IMAGES, TRAIN_LABELS, 60000, first, last, 27525, 20920, 1567298545ULL,
               267236);
}

static void test_t10k_files(void)
{
    static const uint8_t first[5] = {7, 2, 1, 0, 4}, last[3] = {4, 5, 6};
    check_real(TEST_IMAGES, TEST_LABELS, 10000, first, last, 18454, 41833, 264923200ULL, 44434);
}

static void test_dataset_load_real(void)
{
    ot_dataset_t ds;
    int rc = ot_dataset_load(&ds, TEST_IMAGES, TEST_LABELS, 10, 0);
    CU_ASSERT_EQUAL_FATAL(rc, OT_OK);
    CU_ASSERT_EQUAL(ds.n, 10000);
    CU_ASSERT_EQUAL(ds.rows, 28);
    CU_ASSERT_EQUAL(ds.cols, 28);
    CU_ASSERT_EQUAL(ds.dim, 784);
    CU_ASSERT_EQUAL(ds.n_classes, 10);
    CU_ASSERT_EQUAL(ds.labels[0], 7);
    CU_ASSERT_EQUAL(ds.labels[9999], 6);
    ot_dataset_free(&ds);
    CU_ASSERT(dataset_is_empty(&ds));

    /* limit keeps the first samples */
    rc = ot_dataset_load(&ds, TRAIN_IMAGES, TRAIN_LABELS, 10, 5);
    CU_ASSERT_EQUAL_FATAL(rc, OT_OK);
    CU_ASSERT_EQUAL(ds.n, 5);
    if (ds.n == 5) {
        static const uint8_t first[5] = {5, 0, 4, 1, 9};
        uint64_t s0 = 0;
        CU_ASSERT_EQUAL(memcmp(ds.labels, first, 5), 0);
        for (size_t j = 0; j < ds.dim; j++)
            s0 += ds.images[j];
        CU_ASSERT_EQUAL(s0, 27525);
    }
    ot_dataset_free(&ds);
}

/* ---------------------------------------------------------------- raw files, limit, gather */

/* Decompress the t10k images into a raw file and read it: same result as the gzip file. */
static void test_raw_file(void)
{
    const char *raw = tmp("t10k-images-idx3-ubyte");
    gzFile in = gzopen(TEST_IMAGES, "rb");
    FILE *out = fopen(raw, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(in);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    unsigned char chunk[65536];
    int r, ok = 1;
    size_t total = 0;
    while ((r = gzread(in, chunk, sizeof chunk)) > 0) {
        ok &= fwrite(chunk, 1, (size_t)r, out) == (size_t)r;
        total += (size_t)r;
    }
    ok &= r == 0;
    ok &= gzclose(in) == Z_OK;
    ok &= fclose(out) == 0;
    CU_ASSERT_FATAL(ok);
    CU_ASSERT_EQUAL_FATAL(total, 16 + 10000 * 784);

    /* the file really is raw: it starts with the IDX magic, not the gzip one */
    unsigned char head[4];
    CU_ASSERT_EQUAL_FATAL(slurp(raw, head, 4), 4);
    CU_ASSERT(head[0] == 0 && head[1] == 0 && head[2] == 8 && head[3] == 3);

    uint8_t *a = NULL, *b = NULL;
    size_t na = 0, ra = 0, ca = 0, nb = 0, rb = 0, cb = 0;
    CU_ASSERT_EQUAL_FATAL(ot_idx_read_images(raw, &a, &na, &ra, &ca), OT_OK);
    CU_ASSERT_EQUAL_FATAL(ot_idx_read_images(TEST_IMAGES, &b, &nb, &rb, &cb), OT_OK);
    CU_ASSERT(na == 10000 && ra == 28 && ca == 28);
    CU_ASSERT(na == nb && ra == rb && ca == cb);
    CU_ASSERT_EQUAL(memcmp(a, b, 10000 * 784), 0);
    free(a);
    free(b);

    /* a tiny raw label file too */
    unsigned char buf[16];
    static const unsigned char lab[3] = {2, 0, 1};
    const char *p = write_raw("raw-labels", buf, make_labels(buf, 0x801, 3, lab, 3));
    uint8_t *l = NULL;
    size_t nl = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL_FATAL(ot_idx_read_labels(p, &l, &nl), OT_OK);
    CU_ASSERT_EQUAL(nl, 3);
    CU_ASSERT_EQUAL(memcmp(l, lab, 3), 0);
    free(l);
}

/* limit larger than n keeps all; limit smaller keeps a prefix; counts come from the header. */
static void test_limit(void)
{
    unsigned char ibuf[16 + 3 * 6], lbuf[8 + 3];
    static const unsigned char lab[3] = {1, 0, 1};
    const char *ip = write_gz("lim-img.gz", ibuf, make_images(ibuf, 0x803, 3, 2, 3, 18));
    const char *lp = write_gz("lim-lab.gz", lbuf, make_labels(lbuf, 0x801, 3, lab, 3));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);

    ot_dataset_t ds;
    CU_ASSERT_EQUAL_FATAL(ot_dataset_load(&ds, ip, lp, 2, 100), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 3);
    CU_ASSERT_EQUAL(ds.rows, 2);
    CU_ASSERT_EQUAL(ds.cols, 3);
    CU_ASSERT_EQUAL(ds.dim, 6);
    CU_ASSERT_EQUAL(memcmp(ds.images, ibuf + 16, 18), 0);
    ot_dataset_free(&ds);

    CU_ASSERT_EQUAL_FATAL(ot_dataset_load(&ds, ip, lp, 2, 2), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 2);
    CU_ASSERT_EQUAL(memcmp(ds.images, ibuf + 16, 12), 0);
    CU_ASSERT_EQUAL(memcmp(ds.labels, lab, 2), 0);
    ot_dataset_free(&ds);
    CU_ASSERT(dataset_is_empty(&ds));
    ot_dataset_free(&ds); /* safe on a zeroed data set */
}

static void test_gather(void)
{
    enum { N = 3, DIM = 256, M = 4 };
    uint8_t *images = malloc(N * DIM), *labels = malloc(N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(images);
    CU_ASSERT_PTR_NOT_NULL_FATAL(labels);
    for (int j = 0; j < DIM; j++) {
        images[0 * DIM + j] = (uint8_t)j;         /* every value 0..255 */
        images[1 * DIM + j] = (uint8_t)(255 - j); /* reversed */
        images[2 * DIM + j] = 7;
    }
    labels[0] = 3;
    labels[1] = 1;
    labels[2] = 9;
    ot_dataset_t ds = {images, labels, N, 16, 16, DIM, 10, 1.0f, NULL, NULL, NULL, NULL, 1, 0,
                       NULL, NULL, 0, NULL, NULL, ""};

    static const uint32_t idx[M] = {2, 0, 1, 0};
    float x[M * DIM + 1];
    int32_t y[M + 1];
    for (int i = 0; i < M * DIM + 1; i++)
        x[i] = -1.0f;
    for (int i = 0; i < M + 1; i++)
        y[i] = -1;

    ot_dataset_gather(&ds, idx, M, x, y);

    int bad = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < DIM; j++) {
            float want = (float)images[idx[i] * DIM + j] / 255.0f;
            float got = x[i * DIM + j];
            if (!(got >= 0.0f && got <= 1.0f) || fabsf(got - want) > 1e-7f)
                bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* the ends are exact, and a mid value is where it should be */
    CU_ASSERT_EQUAL(x[1 * DIM + 0], 0.0f);
    CU_ASSERT_EQUAL(x[1 * DIM + 255], 1.0f);
    CU_ASSERT_EQUAL(x[2 * DIM + 0], 1.0f);
    CU_ASSERT_DOUBLE_EQUAL(x[0 * DIM + 5], 7.0 / 255.0, 1e-7);
    CU_ASSERT_DOUBLE_EQUAL(x[3 * DIM + 51], 0.2, 1e-7);
    CU_ASSERT_EQUAL(y[0], 9);
    CU_ASSERT_EQUAL(y[1], 3);
    CU_ASSERT_EQUAL(y[2], 1);
    CU_ASSERT_EQUAL(y[3], 3);
    /* nothing written past n samples */
    CU_ASSERT_EQUAL(x[M * DIM], -1.0f);
    CU_ASSERT_EQUAL(y[M], -1);
    free(images);
    free(labels);
}

/* The sparse gather holds exactly the dense gather's nonzero floats: by row in column order,
 * by column in row order; dims that are not a multiple of 64 leave a partial last block. */
static void test_gather_sparse(void)
{
    enum { N = 50, DIM = 150, M = 9 };
    uint8_t *images = malloc(N * DIM), *labels = malloc(N);
    CU_ASSERT_PTR_NOT_NULL_FATAL(images);
    CU_ASSERT_PTR_NOT_NULL_FATAL(labels);
    uint32_t h = 12345;
    for (int i = 0; i < N * DIM; i++) {
        h = h * 1103515245u + 12345u;
        images[i] = (h >> 16) % 4 == 0 ? (uint8_t)(h >> 24) : 0; /* ~75% zeros */
    }
    for (int j = 0; j < DIM; j++)
        images[3 * DIM + j] = 0; /* a blank image */
    for (int i = 0; i < N; i++)
        labels[i] = (uint8_t)(i % 10);
    ot_dataset_t ds = {images, labels, N, 10, 15, DIM, 10, 0.25f, NULL, NULL, NULL, NULL, 1, 0,
                       NULL, NULL, 0, NULL, NULL, ""};
    static const uint32_t idx[M] = {7, 3, 0, 49, 7, 12, 48, 1, 2};
    static float x[M * DIM];
    static uint32_t col_code[M * DIM], row_n[M], col_n[DIM];
    static uint16_t pix_buf[M * DIM];
    static uint8_t val_buf[M * DIM];
    static const uint16_t *row_pix[M];
    static const uint8_t *row_val[M];
    int32_t y[M], ys[M];
    ot_dataset_gather(&ds, idx, M, x, y);
    /* two calls, the second's rows numbered on from the first's */
    ot_sparse_batch_t sb = {row_n, row_pix, row_val, pix_buf, val_buf, DIM, col_n, col_code, 0};
    ot_dataset_gather_sparse(&ds, idx, 4, &sb, ys);
    ot_sparse_batch_t sb4 = sb;
    sb4.row_n += 4, sb4.row_pix += 4, sb4.row_val += 4, sb4.first = 4;
    sb4.pix_buf += 4 * DIM, sb4.val_buf += 4 * DIM;
    ot_dataset_gather_sparse(&ds, idx + 4, M - 4, &sb4, ys + 4);
    int bad = 0;
    size_t total = 0;
    for (int p = 0; p < M; p++) { /* the rows: the nonzero floats' pixels and bytes, in order */
        size_t q = 0;
        for (int j = 0; j < DIM; j++)
            if (x[p * DIM + j] != 0.0f) {
                bad += q >= row_n[p] || row_pix[p][q] != j ||
                       (float)row_val[p][q] * OT_PIXEL_SCALE != x[p * DIM + j];
                q++;
            }
        bad += q != row_n[p] || ys[p] != y[p];
        total += q;
    }
    CU_ASSERT_EQUAL(row_n[1], 0); /* the blank image */
    for (int j = 0; j < DIM; j++) {
        size_t k = 0;
        for (int p = 0; p < M; p++)
            if (x[p * DIM + j] != 0.0f) {
                bad += k >= col_n[j] ||
                       col_code[k * DIM + j] != ((uint32_t)p << 8 | images[idx[p] * DIM + j]);
                k++;
            }
        bad += k != col_n[j];
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT(total > M * DIM / 8 && total < M * DIM / 2);
    /* from the data set's list of nonzero pixels: the same entries, read in place */
    static uint32_t col_code2[M * DIM], row_n2[M], col_n2[DIM];
    static const uint16_t *row_pix2[M];
    static const uint8_t *row_val2[M];
    ot_sparse_batch_t sb2 = {row_n2, row_pix2, row_val2, NULL, NULL, DIM, col_n2, col_code2, 0};
    CU_ASSERT_FATAL(ot_dataset_index(&ds) == OT_OK);
    size_t all = 0;
    for (int i = 0; i < N * DIM; i++)
        all += images[i] != 0;
    CU_ASSERT_EQUAL(ds.nz_off[N], all);
    CU_ASSERT_EQUAL(ds.nz_off[4] - ds.nz_off[3], 0); /* the blank image */
    ot_dataset_gather_sparse(&ds, idx, M, &sb2, ys);
    CU_ASSERT(memcmp(row_n, row_n2, sizeof row_n) == 0 && memcmp(col_n, col_n2, sizeof col_n) == 0);
    for (int p = 0; p < M; p++) {
        CU_ASSERT(row_pix2[p] == ds.nz_pix + ds.nz_off[idx[p]]);
        CU_ASSERT(memcmp(row_pix[p], row_pix2[p], row_n[p] * sizeof(uint16_t)) == 0);
        CU_ASSERT(memcmp(row_val[p], row_val2[p], row_n[p]) == 0);
    }
    for (int j = 0; j < DIM; j++)
        for (size_t k = 0; k < col_n[j]; k++)
            bad += col_code[k * DIM + j] != col_code2[k * DIM + j];
    CU_ASSERT_EQUAL(bad, 0);
    free(ds.nz_off), free(ds.nz_pix), free(ds.nz_val);
    ds.nz_off = NULL;
    /* without column lists only the rows are written */
    sb.col_n = NULL;
    memset(row_n, 0, sizeof row_n);
    ot_dataset_gather_sparse(&ds, idx, M, &sb, ys);
    CU_ASSERT_EQUAL(row_n[0], row_n[4]); /* sample 7 twice */
    CU_ASSERT(row_n[0] > 0);
    free(images);
    free(labels);
}

/* ---------------------------------------------------------------- broken files */

static void test_wrong_magic(void)
{
    unsigned char buf[16 + 4];
    size_t len = make_images(buf, 0x802, 1, 2, 2, 4);
    expect_images_error(write_gz("magic.gz", buf, len), OT_EFORMAT,
                        "wrong magic 0x00000802, expected 0x00000803 (IDX images)");
    expect_images_error(write_raw("magic.raw", buf, len), OT_EFORMAT,
                        "wrong magic 0x00000802, expected 0x00000803 (IDX images)");

    /* files swapped: a label file given as images and the other way round */
    static const unsigned char lab[4] = {0, 1, 2, 3};
    unsigned char lbuf[8 + 4];
    const char *lp = write_gz("swap-labels.gz", lbuf, make_labels(lbuf, 0x801, 4, lab, 4));
    expect_images_error(lp, OT_EFORMAT, "wrong magic 0x00000801, expected 0x00000803");
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "label file"));
    const char *ip = write_gz("swap-images.gz", buf, make_images(buf, 0x803, 1, 2, 2, 4));
    expect_labels_error(ip, OT_EFORMAT,
                        "wrong magic 0x00000803, expected 0x00000801 (IDX labels");
}

static void test_truncated_header(void)
{
    unsigned char buf[16];
    make_images(buf, 0x803, 1, 28, 28, 0);
    expect_images_error(write_raw("hdr7", buf, 7), OT_EFORMAT,
                        "truncated header (read 7 of 16 bytes)");
    expect_images_error(write_gz("hdr15.gz", buf, 15), OT_EFORMAT,
                        "truncated header (read 15 of 16 bytes)");
    expect_images_error(write_raw("hdr3", buf, 3), OT_EFORMAT,
                        "truncated header (read 3 of 16 bytes)");
    expect_images_error(write_raw("hdr0", buf, 0), OT_EFORMAT,
                        "truncated header (read 0 of 16 bytes)");
    put_be32(buf, 0x801);
    expect_labels_error(write_gz("lhdr6.gz", buf, 6), OT_EFORMAT,
                        "truncated header (read 6 of 8 bytes)");
}

static void test_truncated_body(void)
{
    unsigned char buf[16 + 24];
    make_images(buf, 0x803, 2, 3, 4, 24);
    expect_images_error(write_gz("body.gz", buf, 16 + 10), OT_EFORMAT,
                        "truncated body: expected 24 bytes of pixels (2 images of 3 x 4), got 10");
    expect_images_error(write_raw("body.raw", buf, 16 + 23), OT_EFORMAT,
                        "truncated body: expected 24 bytes of pixels (2 images of 3 x 4), got 23");
    static const unsigned char lab[2] = {1, 2};
    unsigned char lbuf[8 + 2];
    make_labels(lbuf, 0x801, 5, lab, 2);
    expect_labels_error(write_gz("lbody.gz", lbuf, 10), OT_EFORMAT,
                        "truncated body: expected 5 bytes of labels, got 2");
}

static void test_trailing_data(void)
{
    unsigned char buf[16 + 29];
    make_images(buf, 0x803, 2, 3, 4, 29);
    expect_images_error(write_gz("trail.gz", buf, sizeof buf), OT_EFORMAT,
                        "trailing data after 2 images (5 extra bytes)");
    static const unsigned char lab[3] = {1, 2, 3};
    unsigned char lbuf[8 + 3];
    make_labels(lbuf, 0x801, 2, lab, 3);
    expect_labels_error(write_raw("ltrail", lbuf, sizeof lbuf), OT_EFORMAT,
                        "trailing data after 2 labels (1 extra bytes)");
}

static void test_corrupt_gzip(void)
{
    /* a gzip header followed by a deflate block of the reserved type 3 */
    static const unsigned char bad_deflate[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
                                                0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    expect_images_error(write_raw("deflate.gz", bad_deflate, sizeof bad_deflate), OT_EFORMAT,
                        "corrupt gzip data (invalid block type)");

    /* a good file whose CRC in the trailer is wrong: caught when the end is checked */
    enum { BODY = 4 * 10 * 10 };
    unsigned char buf[16 + BODY], gzbytes[4096];
    uint32_t s = 12345;
    make_images(buf, 0x803, 4, 10, 10, BODY);
    for (size_t i = 0; i < BODY; i++) { /* incompressible, so a cut loses pixels */
        s = s * 1103515245u + 12345u;
        buf[16 + i] = (unsigned char)(s >> 24);
    }
    const char *good = write_gz("good.gz", buf, sizeof buf);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    long len = slurp(good, gzbytes, sizeof gzbytes);
    CU_ASSERT_FATAL(len > 100 && len < (long)sizeof gzbytes);
    uint8_t *img = NULL;
    size_t n, r, c;
    CU_ASSERT_EQUAL_FATAL(ot_idx_read_images(good, &img, &n, &r, &c), OT_OK);
    CU_ASSERT_EQUAL(memcmp(img, buf + 16, BODY), 0);
    free(img);

    /* every byte was decompressed before the trailer was checked: the figure says so (it
     * said 0, the bytes before the read that failed) */
    gzbytes[len - 8] ^= 0x5a; /* first byte of the CRC-32 */
    expect_images_error(write_raw("crc.gz", gzbytes, (size_t)len), OT_EFORMAT,
                        "corrupt gzip data (incorrect data check) after 416 decompressed bytes");
    gzbytes[len - 8] ^= 0x5a;

    /* a download cut short: half the compressed stream, whose bytes all come out before the
     * end is missed (it said 16: the header's read had met the cut already) */
    char want[128];
    snprintf(want, sizeof want, "truncated gzip stream (unexpected end of file) after %zu "
             "decompressed bytes", inflated_size(gzbytes, (size_t)len / 2));
    CU_ASSERT(inflated_size(gzbytes, (size_t)len / 2) > 16 + BODY / 4);
    expect_images_error(write_raw("cut.gz", gzbytes, (size_t)len / 2), OT_EFORMAT, want);
}

/* gzip -d takes members back to back, so the reader does: the header in one, the body split
 * over others, an empty one among them. What follows the last member and begins no other
 * (junk a download or a tool appended) is refused like the bytes after a raw file's body,
 * counted to the file's end; gzread had dropped it without a word. */
static void test_gzip_members(void)
{
    enum { BODY = 2 * 3 * 4 };
    unsigned char buf[16 + BODY], file[4096];
    make_images(buf, 0x803, 2, 3, 4, BODY);
    size_t len = 0;
    const size_t cuts[] = {0, 16, 16, 21, 16 + BODY}; /* members [cuts[i], cuts[i + 1]) */
    for (size_t i = 0; i + 1 < sizeof cuts / sizeof *cuts; i++) {
        const char *part = write_gz("member.gz", buf + cuts[i], cuts[i + 1] - cuts[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(part);
        long l = slurp(part, file + len, sizeof file - len);
        CU_ASSERT_FATAL(l > 0);
        len += (size_t)l;
    }
    const char *members = write_raw("members.gz", file, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(members);
    uint8_t *img = NULL;
    size_t n = 0, r = 0, c = 0;
    CU_ASSERT_EQUAL_FATAL(ot_idx_read_images(members, &img, &n, &r, &c), OT_OK);
    CU_ASSERT(n == 2 && r == 3 && c == 4);
    CU_ASSERT_EQUAL(memcmp(img, buf + 16, BODY), 0);
    free(img);

    memcpy(file + len, "GARBAGE", 7);
    expect_images_error(write_raw("garbage.gz", file, len + 7), OT_EFORMAT,
                        "trailing data after 2 images (7 extra bytes after the gzip stream, not "
                        "another gzip member)");
    file[len] = 0x1f; /* the first byte of gzip's magic, and no second */
    expect_images_error(write_raw("magic1.gz", file, len + 1), OT_EFORMAT,
                        "(1 extra bytes after the gzip stream");
    memset(file + len, 0, 1000); /* zeros, as some tools pad a file */
    expect_images_error(write_raw("zeros.gz", file, len + 1000), OT_EFORMAT,
                        "(1000 extra bytes after the gzip stream");
    /* a label file too */
    static const unsigned char lab[3] = {1, 2, 3};
    unsigned char lbuf[8 + 3 + 4];
    const char *lgz = write_gz("ljunk.gz", lbuf, make_labels(lbuf, 0x801, 3, lab, 3));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lgz);
    long l = slurp(lgz, file, sizeof file);
    CU_ASSERT_FATAL(l > 0);
    memcpy(file + l, "\n\n\n", 3);
    expect_labels_error(write_raw("ljunk2.gz", file, (size_t)l + 3), OT_EFORMAT,
                        "trailing data after 3 labels (3 extra bytes after the gzip stream");
}

/* A limit keeps the first images, yet the rest of the file is still read and checked: a body
 * cut short, trailing bytes and a wrong CRC are refused as without a limit. Three images of
 * 200 x 200 pixels, so that the 80000 bytes not kept take more than one pass of the 64 KiB
 * buffer they go through. */
static void test_limit_reads_whole_file(void)
{
    enum { SIDE = 200, IMG = SIDE * SIDE, N = 3, BODY = N * IMG, EXTRA = 7 };
    unsigned char *buf = malloc(16 + BODY + EXTRA);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    uint32_t s = 777;
    make_images(buf, 0x803, N, SIDE, SIDE, 0);
    for (size_t i = 0; i < BODY + EXTRA; i++) { /* incompressible */
        s = s * 1103515245u + 12345u;
        buf[16 + i] = (unsigned char)(s >> 24);
    }
    static const unsigned char lab[N] = {4, 1, 7};
    unsigned char lbuf[8 + N];
    const char *labels = write_gz("limit-labels.gz", lbuf, make_labels(lbuf, 0x801, N, lab, N));
    ot_dataset_t ds;
    int rc;

    const char *good = write_gz("limit-good.gz", buf, 16 + BODY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(good);
    CU_ASSERT_EQUAL_FATAL(ot_dataset_load(&ds, good, labels, 10, 1), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 1);
    CU_ASSERT_EQUAL(ds.labels[0], 4);
    CU_ASSERT_EQUAL(memcmp(ds.images, buf + 16, IMG), 0);
    CU_ASSERT_EQUAL(ds.load_bytes, IMG + N); /* one image kept, all the labels read */
    ot_dataset_free(&ds);

    /* the third image cut short, trailing bytes, the CRC: none of them in the image kept */
    const char *cut = write_gz("limit-cut.gz", buf, 16 + BODY - IMG / 2);
    CAPTURE(rc = ot_dataset_load(&ds, cut, labels, 10, 1));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    check_message(cut, "truncated body: expected 120000 bytes of pixels (3 images of 200 x 200), "
                       "got 100000");
    const char *trail = write_gz("limit-trail.gz", buf, 16 + BODY + EXTRA);
    CAPTURE(rc = ot_dataset_load(&ds, trail, labels, 10, 1));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    check_message(trail, "trailing data after 3 images (7 extra bytes)");

    unsigned char *gzbytes = malloc(2 * BODY);
    CU_ASSERT_PTR_NOT_NULL_FATAL(gzbytes);
    long len = slurp(good, gzbytes, 2 * BODY);
    CU_ASSERT_FATAL(len > BODY && len < 2 * BODY);
    gzbytes[len - 8] ^= 0x5a; /* first byte of the CRC-32 */
    const char *crc = write_raw("limit-crc.gz", gzbytes, (size_t)len);
    CAPTURE(rc = ot_dataset_load(&ds, crc, labels, 10, 1));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    check_message(crc, "corrupt gzip data (incorrect data check) after 120016 decompressed "
                       "bytes");
    free(gzbytes);
    free(buf);
}

static void test_zero_images(void)
{
    unsigned char buf[16];
    expect_images_error(write_gz("zero.gz", buf, make_images(buf, 0x803, 0, 28, 28, 0)),
                        OT_EFORMAT, ": zero images");
    expect_images_error(write_gz("zerorows.gz", buf, make_images(buf, 0x803, 5, 0, 28, 0)),
                        OT_EFORMAT, "zero-sized images (0 x 28)");
    unsigned char lbuf[8];
    expect_labels_error(write_raw("zerol", lbuf, make_labels(lbuf, 0x801, 0, NULL, 0)),
                        OT_EFORMAT, ": zero labels");
}

/* Headers claiming more than OT_IDX_MAX_BYTES are refused before anything is allocated. */
static void test_absurd_size(void)
{
    unsigned char buf[16 + 8];
    expect_images_error(
        write_gz("huge.gz", buf, make_images(buf, 0x803, 0xffffffffu, 0xffffffffu, 0xffffffffu, 8)),
        OT_EFORMAT, "header claims 4294967295 images of 4294967295 x 4294967295 pixels");
    expect_images_error(write_gz("big.gz", buf, make_images(buf, 0x803, 65537, 256, 256, 8)),
                        OT_EFORMAT, "more than the limit of 4294967296 bytes");
}

static void test_missing_file(void)
{
    const char *p = tmp("no-such-file.gz");
    expect_images_error(p, OT_EIO, "No such file or directory");
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "cannot open '"));
    expect_labels_error(p, OT_EIO, "No such file or directory");
    /* a directory (which gzopen opens, and then reads fail on) is named as one */
    expect_images_error(tmpdir, OT_EIO, "it is a directory, expected an IDX file");
    expect_labels_error(tmpdir, OT_EIO, "it is a directory, expected an IDX file");
}

/* ---------------------------------------------------------------- data set checks */

static void test_count_mismatch(void)
{
    unsigned char ibuf[16 + 3 * 4], lbuf[8 + 2];
    static const unsigned char lab[2] = {0, 1};
    const char *ip = write_gz("cnt-img.gz", ibuf, make_images(ibuf, 0x803, 3, 2, 2, 12));
    const char *lp = write_gz("cnt-lab.gz", lbuf, make_labels(lbuf, 0x801, 2, lab, 2));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);
    ot_dataset_t ds;
    int rc;
    memset(&ds, 0xab, sizeof ds);
    CAPTURE(rc = ot_dataset_load(&ds, ip, lp, 10, 0));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    CU_ASSERT(dataset_is_empty(&ds));
    check_message(lp, "cnt-img.gz has 3 images but ");
    CU_ASSERT_PTR_NOT_NULL(strstr(errbuf, "cnt-lab.gz has 2 labels; expected one label per image"));
}

static void test_label_range(void)
{
    unsigned char ibuf[16 + 6 * 4], lbuf[8 + 6];
    static const unsigned char bad[6] = {1, 0, 4, 9, 2, 12};
    static const unsigned char edge[6] = {9, 0, 0, 10, 0, 0};
    static const unsigned char ok[6] = {9, 0, 8, 1, 0, 5};
    const char *ip = write_gz("rng-img.gz", ibuf, make_images(ibuf, 0x803, 6, 2, 2, 24));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ip);
    ot_dataset_t ds;
    int rc;

    const char *lp = write_gz("rng-bad.gz", lbuf, make_labels(lbuf, 0x801, 6, bad, 6));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);
    CAPTURE(rc = ot_dataset_load(&ds, ip, lp, 10, 0));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    CU_ASSERT(dataset_is_empty(&ds));
    check_message(lp, "label 12 at index 5 is out of range, expected < 10");

    /* a label equal to n_classes is already out; a limit does not hide it */
    lp = write_gz("rng-edge.gz", lbuf, make_labels(lbuf, 0x801, 6, edge, 6));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);
    CAPTURE(rc = ot_dataset_load(&ds, ip, lp, 10, 2));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    check_message(lp, "label 10 at index 3 is out of range, expected < 10");

    lp = write_gz("rng-ok.gz", lbuf, make_labels(lbuf, 0x801, 6, ok, 6));
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);
    CU_ASSERT_EQUAL(ot_dataset_load(&ds, ip, lp, 10, 0), OT_OK);
    CU_ASSERT_EQUAL(ds.n, 6);
    ot_dataset_free(&ds);
    /* the same labels with 9 classes fail on the 9 at index 0 */
    CAPTURE(rc = ot_dataset_load(&ds, ip, lp, 9, 0));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    check_message(lp, "label 9 at index 0 is out of range, expected < 9");
}

static void test_bad_n_classes(void)
{
    ot_dataset_t ds;
    int rc;
    CAPTURE(rc = ot_dataset_load(&ds, TEST_IMAGES, TEST_LABELS, 1, 0));
    CU_ASSERT_EQUAL(rc, OT_EINVAL);
    CU_ASSERT(dataset_is_empty(&ds));
    check_message(NULL, "n_classes 1 is out of range");
    CAPTURE(rc = ot_dataset_load(&ds, TEST_IMAGES, TEST_LABELS, 257, 0));
    CU_ASSERT_EQUAL(rc, OT_EINVAL);
    check_message(NULL, "n_classes 257 is out of range");
}

/* An error in either file reaches the caller, and ds stays empty. */
static void test_load_propagates(void)
{
    ot_dataset_t ds;
    int rc;
    const char *missing = tmp("missing-images.gz");
    memset(&ds, 0xab, sizeof ds);
    CAPTURE(rc = ot_dataset_load(&ds, missing, TEST_LABELS, 10, 0));
    CU_ASSERT_EQUAL(rc, OT_EIO);
    CU_ASSERT(dataset_is_empty(&ds));
    check_message(missing, "cannot open");

    unsigned char lbuf[8];
    const char *lp = write_raw("short-labels", lbuf, make_labels(lbuf, 0x801, 1, NULL, 0) - 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(lp);
    memset(&ds, 0xab, sizeof ds);
    CAPTURE(rc = ot_dataset_load(&ds, TEST_IMAGES, lp, 10, 0));
    CU_ASSERT_EQUAL(rc, OT_EFORMAT);
    CU_ASSERT(dataset_is_empty(&ds));
    check_message(lp, "truncated header (read 5 of 8 bytes)");
}

/* Augmentation: shifts stay in [-max, max], cover the range, depend on (seed, step, sample)
 * only; a shifted image is the image moved, zeros shifted in. */
static void test_gather_shifted(void)
{
    enum { R = 5, C = 6, DIM = R * C };
    uint8_t images[2 * DIM], labels[2] = {4, 7};
    for (int j = 0; j < 2 * DIM; j++)
        images[j] = (uint8_t)(10 + j);
    ot_dataset_t ds = {images, labels, 2, R, C, DIM, 10, 1.0f, NULL, NULL, NULL, NULL, 1, 0,
                       NULL, NULL, 0, NULL, NULL, ""};
    const ot_shift_key_t k = {5, 9, 2};
    int seen[5][5] = {{0}}, dy, dx, dy2, dx2;
    for (uint32_t s = 0; s < 2000; s++) {
        ot_shift_of(&k, s, &dy, &dx);
        CU_ASSERT_FATAL(dy >= -2 && dy <= 2 && dx >= -2 && dx <= 2);
        seen[dy + 2][dx + 2]++;
        ot_shift_of(&k, s, &dy2, &dx2);
        CU_ASSERT(dy == dy2 && dx == dx2);
    }
    for (int a = 0; a < 5; a++)
        for (int b = 0; b < 5; b++)
            CU_ASSERT(seen[a][b] > 40); /* every shift, about 80 times each */
    /* another step, another shift for some sample */
    int differ = 0;
    for (uint32_t s = 0; s < 50; s++) {
        ot_shift_of(&k, s, &dy, &dx);
        ot_shift_of(&(ot_shift_key_t){5, 10, 2}, s, &dy2, &dx2);
        differ += dy != dy2 || dx != dx2;
    }
    CU_ASSERT(differ > 0);
    const uint32_t idx[2] = {1, 0};
    float x[2 * DIM];
    int32_t y[2];
    ot_dataset_gather_shifted(&ds, idx, 2, x, y, &k);
    CU_ASSERT_EQUAL(y[0], 7);
    CU_ASSERT_EQUAL(y[1], 4);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        ot_shift_of(&k, idx[i], &dy, &dx);
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) {
                int sr = r - dy, sc = c - dx;
                float want = sr < 0 || sr >= R || sc < 0 || sc >= C
                                 ? 0.0f
                                 : (float)images[idx[i] * DIM + sr * C + sc] * OT_PIXEL_SCALE;
                bad += x[i * DIM + r * C + c] != want;
            }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

OT_TEST_SUITE(data, suite_init, suite_cleanup,
              {"augmentation: shifts keyed by (seed, step, sample), images moved",
               test_gather_shifted},
              {"train files: 60000 x 28 x 28, known labels and pixel sums", test_train_files},
              {"t10k files: 10000 x 28 x 28, known labels and pixel sums", test_t10k_files},
              {"ot_dataset_load on MNIST, with and without limit", test_dataset_load_real},
              {"raw (uncompressed) files read like gzip ones", test_raw_file},
              {"limit keeps a prefix, a limit above n keeps all", test_limit},
              {"gather converts to [0,1] floats and class indices", test_gather},
              {"sparse gather: the same nonzero floats by row and by column", test_gather_sparse},
              {"wrong magic -> OT_EFORMAT", test_wrong_magic},
              {"truncated header -> OT_EFORMAT", test_truncated_header},
              {"truncated body -> OT_EFORMAT", test_truncated_body},
              {"a limit still reads and checks the whole file", test_limit_reads_whole_file},
              {"trailing data -> OT_EFORMAT", test_trailing_data},
              {"corrupt or cut gzip -> OT_EFORMAT, after the bytes it gave", test_corrupt_gzip},
              {"gzip members back to back; junk after the last -> OT_EFORMAT", test_gzip_members},
              {"zero images or zero-sized images -> OT_EFORMAT", test_zero_images},
              {"absurd header sizes -> OT_EFORMAT before allocating", test_absurd_size},
              {"missing file or directory -> OT_EIO", test_missing_file},
              {"image and label counts disagree -> OT_EFORMAT", test_count_mismatch},
              {"label out of range -> OT_EFORMAT", test_label_range},
              {"n_classes outside 2..256 -> OT_EINVAL", test_bad_n_classes},
              {"errors from either file propagate, ds left empty", test_load_propagates})
