/* test_predict.c - omptrain predict (src/predict.c): a tiny standardised 16-5-3 model over tiny
 * IDX and HDF5 inputs; its HDF5 file (and CSV) holds the probabilities of a forward pass done
 * here by hand from the checkpoint's parameters and statistics, their arg-max, the labels,
 * the loss and the accuracy; without labels there are none; refusals are one line and leave
 * no file, and an existing one as it was; the config's data files are no outputs; the CSV
 * goes in place onto a device and through a link, the HDF5 file onto neither a device nor a
 * FIFO; both files are written or neither; buffers no larger than the data. */
#define _XOPEN_SOURCE 700 /* mknod */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_test.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_run.h"
#include "ot_test.h"
#include "tiny_test.h"

enum { N = OT_TINY_TEST, K = OT_TINY_CLASSES, HID = 5 };

/* the model (standardised by feature) and its trainer, made once */
static const char *const std_opts[] = {"data.normalize=mean_std", "data.normalize_by=feature",
                                       NULL};
static ot_config_t cfg;
static ot_trainer_t tr;
static char ckpt[256];
static const ot_run_opts_t two = {.threads = 2}; /* 2 threads, alone */

static int setup(void)
{
    ot_gemm_init();
    return ot_tiny_suite_init("predict", std_opts, &cfg, &tr, ckpt, sizeof ckpt);
}

static int cleanup(void)
{
    return ot_tiny_suite_free(&tr);
}

/* ---------------------------------------------------------------- the expected numbers */

/* Test image s's class probabilities, by hand in double: x = (u / 255 - mean) / std per
 * feature, h = relu(x W1 + b1), softmax(h W2 + b2), with the trainer's parameters (W (in,
 * out), row-major). */
static void forward(size_t s, double p[K])
{
    const ot_net_t *net = &tr.net;
    const float *W1 = net->params + ot_net_tensor(net, "affine1/W")->off;
    const float *b1 = net->params + ot_net_tensor(net, "affine1/b")->off;
    const float *W2 = net->params + ot_net_tensor(net, "affine2/W")->off;
    const float *b2 = net->params + ot_net_tensor(net, "affine2/b")->off;
    double x[OT_TINY_DIM], h[HID], z[K], zmax = -INFINITY, sum = 0.0;
    for (size_t j = 0; j < OT_TINY_DIM; j++)
        x[j] = ((double)ot_tiny_pixel(OT_TINY_TRAIN + s, j) / 255.0 - tr.input.mean[j]) /
               tr.input.std[j];
    for (size_t k = 0; k < HID; k++) {
        h[k] = b1[k];
        for (size_t j = 0; j < OT_TINY_DIM; j++)
            h[k] += x[j] * W1[j * HID + k];
        h[k] = h[k] > 0.0 ? h[k] : 0.0;
    }
    for (size_t k = 0; k < K; k++) {
        z[k] = b2[k];
        for (size_t j = 0; j < HID; j++)
            z[k] += h[j] * W2[j * K + k];
        zmax = fmax(zmax, z[k]);
    }
    for (size_t k = 0; k < K; k++)
        sum += p[k] = exp(z[k] - zmax);
    for (size_t k = 0; k < K; k++)
        p[k] /= sum;
}

/* ---------------------------------------------------------------- reading the file */

typedef struct {
    float probs[N * K];
    int32_t cls[N], label[N];
    int has_label;           /* /label is there */
    uint64_t samples;        /* attributes */
    uint32_t classes;
    int has_loss;            /* loss and accuracy are there */
    double loss, accuracy;
    char checkpoint[256], input[256];
} pred_t;

static void read_ds(hid_t f, const char *name, hid_t mtype, void *buf, hsize_t n)
{
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    hid_t space = H5Dget_space(d);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_npoints(space), (hssize_t)n);
    H5Sclose(space);
    CU_ASSERT(H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0);
    H5Dclose(d);
}

static void read_attr(hid_t f, const char *name, hid_t mtype, void *buf)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    CU_ASSERT(H5Aread(a, mtype, buf) >= 0);
    H5Aclose(a);
}

/* a fixed-length string attribute into buf (n bytes) */
static void read_attr_str(hid_t f, const char *name, char *buf, size_t n)
{
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    hid_t t = H5Aget_type(a);
    CU_ASSERT_FATAL(!H5Tis_variable_str(t) && H5Tget_size(t) <= n);
    CU_ASSERT(H5Aread(a, t, buf) >= 0);
    buf[n - 1] = '\0';
    H5Tclose(t);
    H5Aclose(a);
}

/* predict's file at path into r */
static void read_pred(const char *path, pred_t *r)
{
    memset(r, 0, sizeof *r);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    read_ds(f, "probabilities", H5T_NATIVE_FLOAT, r->probs, N * K);
    hid_t d = H5Dopen2(f, "probabilities", H5P_DEFAULT);
    hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    CU_ASSERT(H5Sget_simple_extent_ndims(space) == 2);
    H5Sget_simple_extent_dims(space, dims, NULL);
    CU_ASSERT(dims[0] == N && dims[1] == K);
    H5Sclose(space);
    H5Dclose(d);
    read_ds(f, "class", H5T_NATIVE_INT32, r->cls, N);
    if ((r->has_label = H5Lexists(f, "label", H5P_DEFAULT) > 0))
        read_ds(f, "label", H5T_NATIVE_INT32, r->label, N);
    read_attr(f, "samples", H5T_NATIVE_UINT64, &r->samples);
    read_attr(f, "classes", H5T_NATIVE_UINT32, &r->classes);
    int loss = H5Aexists(f, "loss") > 0, acc = H5Aexists(f, "accuracy") > 0;
    CU_ASSERT_EQUAL(loss, acc);
    if ((r->has_loss = loss && acc)) {
        read_attr(f, "loss", H5T_NATIVE_DOUBLE, &r->loss);
        read_attr(f, "accuracy", H5T_NATIVE_DOUBLE, &r->accuracy);
    }
    read_attr_str(f, "checkpoint", r->checkpoint, sizeof r->checkpoint);
    read_attr_str(f, "input", r->input, sizeof r->input);
    H5Fclose(f);
}

/* The rows of r: each sums to 1, its class is the first of its largest probabilities, and
 * they are the hand forward's; the probabilities are not all alike (the check would pass a
 * uniform model too easily). */
static void expect_probs(const pred_t *r)
{
    size_t bad_sum = 0, bad_class = 0, bad_value = 0;
    double spread = 0.0;
    CU_ASSERT(r->samples == N && r->classes == K);
    for (size_t i = 0; i < N; i++) {
        const float *p = r->probs + i * K;
        double want[K], sum = 0.0;
        int best = 0;
        forward(i, want);
        for (size_t k = 0; k < K; k++) {
            sum += p[k];
            if (p[k] > p[best])
                best = (int)k;
            bad_value += fabs(p[k] - want[k]) > 1e-5;
            spread = fmax(spread, fabs(p[k] - p[0]));
        }
        bad_sum += fabs(sum - 1.0) > 1e-6;
        bad_class += r->cls[i] != best;
    }
    CU_ASSERT_EQUAL(bad_sum, 0);
    CU_ASSERT_EQUAL(bad_class, 0);
    CU_ASSERT_EQUAL(bad_value, 0);
    CU_ASSERT(spread > 0.05);
}

/* r's labels are the test labels, its loss the mean -log p[label] and its accuracy the share
 * of classes equal to the labels. */
static void expect_labels(const pred_t *r)
{
    double loss = 0.0;
    size_t hits = 0, wrong = 0;
    CU_ASSERT_FATAL(r->has_label && r->has_loss);
    for (size_t i = 0; i < N; i++) {
        double want[K];
        forward(i, want);
        wrong += r->label[i] != ot_tiny_label(OT_TINY_TRAIN + i);
        loss -= log(want[r->label[i]]);
        hits += r->cls[i] == r->label[i];
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_DOUBLE_EQUAL(r->loss, loss / N, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(r->accuracy, (double)hits / N, 1e-12);
}

/* ot_run_predict(c, p, two) with stdout captured into *out (malloc'd; may be NULL) */
static int predict(const ot_config_t *c, const ot_predict_opts_t *p, char **out)
{
    ot_test_stdout_begin();
    int rc = ot_run_predict(c, p, &two);
    char *text = ot_test_stdout_end();
    if (out)
        *out = text;
    else
        free(text);
    return rc;
}

/* predict with the files it writes limited to `bytes` (a disk that fills up mid-write) */
static int predict_limited(const ot_config_t *c, const ot_predict_opts_t *p, long bytes)
{
    if (ot_tiny_fsize_limit(bytes))
        return 1;
    int rc = predict(c, p, NULL);
    ot_tiny_fsize_restore();
    return rc;
}

/* ---------------------------------------------------------------- tests */

/* IDX images with their labels: the HDF5 file and the CSV file. */
static void test_labelled(void)
{
    char images[256], labels[256], h5[256], csv[256], line[400];
    char *out = NULL;
    pred_t r;
    ot_test_path(images, sizeof images, "test-images");
    ot_test_path(labels, sizeof labels, "test-labels");
    ot_predict_opts_t p = {ckpt, images, labels, ot_test_path(h5, sizeof h5, "p.h5"),
                           ot_test_path(csv, sizeof csv, "p.csv")};
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, &out), OT_OK);
    read_pred(h5, &r);
    expect_probs(&r);
    expect_labels(&r);
    CU_ASSERT_STRING_EQUAL(r.checkpoint, ckpt);
    CU_ASSERT_STRING_EQUAL(r.input, images);
    snprintf(line, sizeof line, "\nwrote %s: /probabilities 10x3, /class, /label\n", h5);
    CU_ASSERT(out && strstr(out, line));
    snprintf(line, sizeof line, "\nloss %.4f  acc %.2f%%", r.loss, 100.0 * r.accuracy);
    CU_ASSERT(out && strstr(out, line));
    free(out);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);

    /* the CSV: "index,label,class,p0,p1,p2", the same numbers (%.9g reads back exactly) */
    size_t size;
    char *text = ot_tiny_slurp(csv, &size);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    const char *head = "index,label,class,p0,p1,p2\n";
    CU_ASSERT_EQUAL_FATAL(strncmp(text, head, strlen(head)), 0);
    char *s = text + strlen(head);
    size_t rows = 0, wrong = 0;
    for (; *s && rows < N; rows++) {
        long idx = strtol(s, &s, 10), lab = strtol(s + 1, &s, 10), cls = strtol(s + 1, &s, 10);
        wrong += idx != (long)rows || lab != r.label[rows] || cls != r.cls[rows];
        for (size_t k = 0; k < K; k++)
            wrong += *s != ',' || strtof(s + 1, &s) != r.probs[rows * K + k];
        wrong += *s++ != '\n';
    }
    CU_ASSERT_EQUAL(rows, N);
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(*s, '\0');
    free(text);
}

/* Without labels: no /label, no loss or accuracy, the same probabilities; the file goes to
 * the run's directory (output.dir) when no path is given. */
static void test_unlabelled(void)
{
    char images[256], h5[256];
    char *out = NULL;
    pred_t r, first;
    ot_test_path(images, sizeof images, "test-images");
    ot_predict_opts_t p = {ckpt, images, NULL, NULL, NULL};
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, &out), OT_OK);
    ot_test_path(h5, sizeof h5, "run/predictions.h5");
    read_pred(h5, &r);
    expect_probs(&r);
    CU_ASSERT(!r.has_label && !r.has_loss);
    CU_ASSERT(out && strstr(out, "\nno labels ("));
    free(out);
    /* the labelled run's numbers, bit for bit */
    p.labels = ot_test_path(images, sizeof images, "test-labels");
    p.input = ot_test_path(h5, sizeof h5, "test-images");
    char h5b[256];
    p.h5_out = ot_test_path(h5b, sizeof h5b, "first.h5");
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, NULL), OT_OK);
    read_pred(h5b, &first);
    CU_ASSERT_EQUAL(memcmp(r.probs, first.probs, sizeof r.probs), 0);
    CU_ASSERT_EQUAL(memcmp(r.cls, first.cls, sizeof r.cls), 0);
}

/* An HDF5 input of the same images (uint8 N x 4 x 4, its labels in "label"): the IDX input's
 * numbers, bit for bit. */
static void test_h5_input(void)
{
    uint8_t px[N * OT_TINY_DIM];
    int32_t y[N];
    for (size_t s = 0; s < N; s++) {
        for (size_t j = 0; j < OT_TINY_DIM; j++)
            px[s * OT_TINY_DIM + j] = ot_tiny_pixel(OT_TINY_TRAIN + s, j);
        y[s] = ot_tiny_label(OT_TINY_TRAIN + s);
    }
    char in[256], h5[256], idx[256], out_idx[256];
    hid_t f = H5Fcreate(ot_test_path(in, sizeof in, "in.h5"), H5F_ACC_TRUNC, H5P_DEFAULT,
                        H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hsize_t xd[3] = {N, OT_TINY_ROWS, OT_TINY_COLS}, yd[1] = {N};
    hid_t sx = H5Screate_simple(3, xd, NULL), sy = H5Screate_simple(1, yd, NULL);
    hid_t dx = H5Dcreate2(f, "data", H5T_STD_U8LE, sx, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t dy = H5Dcreate2(f, "label", H5T_STD_I32LE, sy, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(dx >= 0 && dy >= 0);
    CU_ASSERT(H5Dwrite(dx, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, px) >= 0);
    CU_ASSERT(H5Dwrite(dy, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, y) >= 0);
    H5Dclose(dx);
    H5Dclose(dy);
    H5Sclose(sx);
    H5Sclose(sy);
    H5Fclose(f);
    ot_predict_opts_t p = {ckpt, in, NULL, ot_test_path(h5, sizeof h5, "h5in.h5"), NULL};
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, NULL), OT_OK);
    pred_t r, want;
    read_pred(h5, &r);
    expect_probs(&r);
    expect_labels(&r);
    ot_predict_opts_t q = {ckpt, ot_test_path(idx, sizeof idx, "test-images"), NULL,
                           ot_test_path(out_idx, sizeof out_idx, "idxin.h5"), NULL};
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &q, NULL), OT_OK);
    read_pred(out_idx, &want);
    CU_ASSERT_EQUAL(memcmp(r.probs, want.probs, sizeof r.probs), 0);
}

/* Refusals: one line, the status, and no file written (nor a temporary one); an existing file
 * is left as it was. */
static void test_refusals(void)
{
    static const char *const wider[] = {"model.layers=16, 6, 3", "data.normalize=mean_std",
                                        "data.normalize_by=feature", NULL};
    char images[256], small[256], out[256], none[256], want[2048];
    ot_test_path(images, sizeof images, "test-images");
    ot_test_path(out, sizeof out, "refused.h5");
    ot_predict_opts_t p = {ckpt, images, NULL, out, NULL};

    /* a missing checkpoint */
    p.checkpoint = ot_test_path(none, sizeof none, "none.h5");
    snprintf(want, sizeof want, "%s: cannot open the checkpoint", none);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, want);
    p.checkpoint = ckpt;
    /* a missing input */
    p.input = ot_test_path(none, sizeof none, "none-images");
    snprintf(want, sizeof want, "cannot open '%s'", none);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, want);
    /* images of another size */
    uint8_t px[2 * 9] = {0};
    CU_ASSERT_FATAL(ot_tiny_write_images(ot_test_path(small, sizeof small, "3x3-images"), 0, 2,
                                         3, 3, px) == 0);
    p.input = small;
    snprintf(want, sizeof want, "%s: the model was trained on samples of 4x4x1 but %s holds "
             "samples of 3x3x1", ckpt, small);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_ECONFIG, want);
    p.input = images;
    /* a config of another model */
    ot_config_t c;
    CU_ASSERT_FATAL(ot_tiny_config(&c, wider) == 0);
    snprintf(want, sizeof want, "%s: the checkpoint's model is 'affine 5, ", ckpt);
    OT_EXPECT_ONE_LINE(predict(&c, &p, NULL), OT_ECONFIG, want);
    CU_ASSERT(!ot_ck_file_exists(out));
    /* a directory that is not there */
    p.h5_out = ot_test_path(none, sizeof none, "no/p.h5");
    snprintf(want, sizeof want, "%s: cannot create the file", none);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, want);
    CU_ASSERT(!ot_ck_file_exists(none));
    /* the CSV's directory is not there: neither file is written (until 2026-12 the HDF5 file
     * was, and the command failed after it) */
    p.h5_out = out;
    p.csv_out = ot_test_path(none, sizeof none, "no/p.csv");
    snprintf(want, sizeof want, "%s: cannot create the file", none);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, want);
    CU_ASSERT(!ot_ck_file_exists(out));
    p.csv_out = NULL;
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, NULL), OT_OK);
    CU_ASSERT(ot_ck_file_exists(out));

    /* over an existing file, a refusal leaves it as it was */
    size_t before_n, after_n;
    char *before = ot_tiny_slurp(out, &before_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    p.input = small;
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_ECONFIG, "holds samples of 3x3x1");
    char *after = ot_tiny_slurp(out, &after_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT(before_n == after_n && memcmp(before, after, before_n) == 0);
    free(after);
    /* and so does a write cut short (the file is written whole or not at all) */
    p.input = images;
    CU_ASSERT_FATAL(before_n > 1024);
    snprintf(want, sizeof want, "%s: cannot write the file (1024 of %zu bytes written): File "
             "too large", out, before_n);
    OT_EXPECT_ONE_LINE(predict_limited(&cfg, &p, 1024), OT_EIO, want);
    after = ot_tiny_slurp(out, &after_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT(before_n == after_n && memcmp(before, after, before_n) == 0);
    free(before);
    free(after);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* ---------------------------------------------------------------- outputs */

/* Whether path (not followed) is of type mode (S_IFLNK, S_IFCHR, S_IFIFO, S_IFREG). */
static int is_type(const char *path, mode_t mode)
{
    struct stat st;
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == mode;
}

/* text (NUL-terminated) into the file at path (replaced); whether the file holds it. */
static void put_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs(text, f);
    CU_ASSERT_FATAL(fclose(f) == 0);
}

/* The config's data files are no outputs: --predictions on data.class_names, --csv on
 * data.train_labels are refused in one line, a usage error, the files as they were (until
 * 2026-12 both were replaced) and no output written. */
static void test_config_files(void)
{
    char images[256], names[256], out[256], want[2048];
    ot_config_t c = cfg;
    put_text(ot_test_path(names, sizeof names, "my.names"), "a\nb\nc\n");
    snprintf(c.class_names, sizeof c.class_names, "%s", names);
    ot_predict_opts_t p = {ckpt, ot_test_path(images, sizeof images, "test-images"), NULL, names,
                           NULL};
    snprintf(want, sizeof want, "%s: --predictions names the config's data.class_names, which "
             "it would replace; expected another file name", names);
    OT_EXPECT_ONE_LINE(predict(&c, &p, NULL), OT_ECONFIG, want);
    CU_ASSERT(ot_tiny_holds(names, "a\nb\nc\n"));
    size_t before_n, after_n;
    char *before = ot_tiny_slurp(cfg.train_labels, &before_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    p.h5_out = ot_test_path(out, sizeof out, "cfgfiles.h5");
    p.csv_out = cfg.train_labels;
    snprintf(want, sizeof want, "%s: --csv names the config's data.train_labels, which it "
             "would replace", cfg.train_labels);
    OT_EXPECT_ONE_LINE(predict(&c, &p, NULL), OT_ECONFIG, want);
    char *after = ot_tiny_slurp(cfg.train_labels, &after_n);
    CU_ASSERT(after && after_n == before_n && memcmp(after, before, before_n) == 0);
    free(before);
    free(after);
    CU_ASSERT(!ot_ck_file_exists(out));
}

/* The CSV onto a character device, written in place (the node stays: until 2026-12 a regular
 * file replaced it), through a symbolic link (which stays a link); onto a full device one
 * line, and the predictions file as it was; the HDF5 file onto a device or a FIFO refused
 * before any work, a usage error. */
static void test_special_outputs(void)
{
    char images[256], labels[256], h5[256], null[256], full[256], fifo[256], link[256];
    char target[256], want[2048];
    CU_ASSERT_FATAL(ot_test_chardev(ot_test_path(null, sizeof null, "null"), 0) == 0);
    CU_ASSERT_FATAL(ot_test_chardev(ot_test_path(full, sizeof full, "full"), 1) == 0);
    const mode_t dev = geteuid() == 0 ? S_IFCHR : S_IFLNK; /* the node, or the link to one */
    ot_predict_opts_t p = {ckpt, ot_test_path(images, sizeof images, "test-images"),
                           ot_test_path(labels, sizeof labels, "test-labels"),
                           ot_test_path(h5, sizeof h5, "special.h5"), null};
    CU_ASSERT_EQUAL(predict(&cfg, &p, NULL), OT_OK);
    CU_ASSERT(is_type(null, dev) && is_type(h5, S_IFREG));
    put_text(ot_test_path(target, sizeof target, "target.csv"), "old\n");
    CU_ASSERT_FATAL(symlink("target.csv", ot_test_path(link, sizeof link, "link.csv")) == 0);
    p.csv_out = link;
    CU_ASSERT_EQUAL(predict(&cfg, &p, NULL), OT_OK);
    size_t n;
    char *text = ot_tiny_slurp(target, &n);
    CU_ASSERT(is_type(link, S_IFLNK) && text && strncmp(text, "index,label,class,", 18) == 0);
    free(text);
    /* a full device: neither file changed */
    put_text(h5, "old predictions\n");
    p.csv_out = full;
    snprintf(want, sizeof want, "%s: cannot write the file (0 of ", full);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, want);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_EIO, "bytes written): No space left on device");
    CU_ASSERT(ot_tiny_holds(h5, "old predictions\n") && is_type(full, dev));
    /* HDF5 on a device or a FIFO */
    p.csv_out = NULL;
    p.h5_out = null;
    snprintf(want, sizeof want, "%s: --predictions is a character device, which HDF5 cannot be "
             "written to (the library seeks in its file); expected a regular file", null);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_ECONFIG, want);
    CU_ASSERT(is_type(null, dev));
    CU_ASSERT_FATAL(mkfifo(ot_test_path(fifo, sizeof fifo, "fifo"), 0644) == 0);
    p.h5_out = fifo;
    snprintf(want, sizeof want, "%s: --predictions is a FIFO, which HDF5", fifo);
    OT_EXPECT_ONE_LINE(predict(&cfg, &p, NULL), OT_ECONFIG, want);
    CU_ASSERT(is_type(fifo, S_IFIFO));
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* Both files or neither: a CSV that cannot be written whole (the files this process writes
 * limited to more bytes than the HDF5 file's, fewer than the CSV's: a disk that fills up)
 * leaves the predictions file as it was too (until 2026-12 it was replaced first). */
static void test_both_or_neither(void)
{
    enum { M = 1000 }; /* unlabelled samples: some 40 bytes of CSV each, 16 of HDF5 */
    uint8_t *px = malloc(M * OT_TINY_DIM);
    CU_ASSERT_PTR_NOT_NULL_FATAL(px);
    for (size_t i = 0; i < M * OT_TINY_DIM; i++)
        px[i] = (uint8_t)(i * 37 + i / 17);
    char images[256], h5[256], csv[256], want[2048];
    CU_ASSERT_FATAL(ot_tiny_write_images(ot_test_path(images, sizeof images, "many-images"), 0,
                                         M, OT_TINY_ROWS, OT_TINY_COLS, px) == 0);
    free(px);
    ot_predict_opts_t p = {ckpt, images, NULL, ot_test_path(h5, sizeof h5, "both.h5"),
                           ot_test_path(csv, sizeof csv, "both.csv")};
    CU_ASSERT_EQUAL_FATAL(predict(&cfg, &p, NULL), OT_OK);
    const long h5_size = ot_tiny_file_size(h5), csv_size = ot_tiny_file_size(csv);
    CU_ASSERT_FATAL(h5_size > 0 && csv_size > h5_size + 8192);
    put_text(h5, "old predictions\n");
    put_text(csv, "old csv\n");
    snprintf(want, sizeof want, "%s: cannot write the file (%ld of %ld bytes written): File too "
             "large", csv, h5_size + 4096, csv_size);
    OT_EXPECT_ONE_LINE(predict_limited(&cfg, &p, h5_size + 4096), OT_EIO, want);
    CU_ASSERT(ot_tiny_holds(h5, "old predictions\n"));
    CU_ASSERT(ot_tiny_holds(csv, "old csv\n"));
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* Buffers no larger than the data: with a training.batch_size far beyond any memory, a
 * predict of 10 samples sizes its batch for 10 (until 2026-12 it sized it by batch_size, and
 * failed here); on 1 thread its header says "1 thread" (it said "1 threads"). */
static void test_small_data(void)
{
    char images[256], labels[256], h5[256], line[512];
    char *out = NULL;
    ot_config_t c = cfg;
    c.batch_size = (size_t)1 << 44; /* 1 PiB of input rows: no allocation succeeds */
    const ot_run_opts_t one = {.threads = 1};
    ot_predict_opts_t p = {ckpt, ot_test_path(images, sizeof images, "test-images"),
                           ot_test_path(labels, sizeof labels, "test-labels"),
                           ot_test_path(h5, sizeof h5, "small.h5"), NULL};
    ot_test_stdout_begin();
    int rc = ot_run_predict(&c, &p, &one);
    out = ot_test_stdout_end();
    CU_ASSERT_EQUAL_FATAL(rc, OT_OK);
    pred_t r;
    read_pred(h5, &r);
    expect_probs(&r);
    expect_labels(&r);
    snprintf(line, sizeof line, "on %s: %d samples of 4x4x1, 1 thread\n", images, N);
    CU_ASSERT(out && strstr(out, line));
    free(out);
}

OT_TEST_SUITE(predict, setup, cleanup,
              {"IDX with labels: probabilities, class, labels, loss, CSV", test_labelled},
              {"without labels, into the run's directory", test_unlabelled},
              {"HDF5 input: the IDX input's numbers", test_h5_input},
              {"bad: checkpoint, input, shape, model, output: one line", test_refusals},
              {"the config's data files are no outputs", test_config_files},
              {"devices, FIFOs, links: in place, refused, followed", test_special_outputs},
              {"both files written or neither", test_both_or_neither},
              {"buffers sized by the data; \"1 thread\"", test_small_data})
