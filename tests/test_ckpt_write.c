/* test_ckpt_write.c - writing a checkpoint (src/ckpt_write.c), read back here with the HDF5 API
 * rather than the project's reader: every group, dataset, type, shape, attribute and checksum
 * of docs/hdf5.md's layout for SGD, nesterov and adam (with batch norm and early stopping);
 * unsafe tensor names and a failure inside HDF5 refused before the file is touched; a file
 * that cannot be created or written refused in one line, with HDF5 left as it was; whatever
 * was at the path replaced. The trainers are tiny, on random IDX files made by the suite. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt_test.h"
#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_config.h"
#include "ot_gemm.h"
#include "ot_h5.h"
#include "ot_optim.h"
#include "ot_outdir.h"
#include "ot_rng.h"
#include "ot_test.h"
#include "ot_train.h"

/* ---------------------------------------------------------------- tiny trainers */

/* The trainers read IDX files of N_TRAIN and N_TEST random 28 x 28 images that the suite's
 * init writes into its scratch directory (MNIST's, which ckpt_fixtures.c reads, take a second
 * to decompress for each trainer). */
#define N_TRAIN 150
#define N_TEST 20
static char data_opts[4][OT_PATH_MAX + 32];

/* An IDX file: images (rank 3, n x 28 x 28) or labels (rank 1, n in [0, 10)). 0 or -1. */
static int write_idx(const char *p, int images, size_t n, uint64_t seed)
{
    unsigned char hdr[16] = {0, 0, 8, images ? 3 : 1};
    size_t len = 8, bytes = images ? n * 28 * 28 : n;
    for (int k = 0; k < 4; k++)
        hdr[4 + k] = (unsigned char)(n >> (24 - 8 * k));
    if (images) {
        hdr[11] = hdr[15] = 28;
        len = 16;
    }
    ot_rng_t r;
    ot_rng_seed(&r, seed);
    unsigned char *v = malloc(bytes);
    FILE *f = fopen(p, "wb");
    int rc = -1;
    if (v && f) {
        for (size_t i = 0; i < bytes; i++)
            v[i] = (unsigned char)ot_rng_below(&r, images ? 256 : 10);
        if (fwrite(hdr, 1, len, f) == len && fwrite(v, 1, bytes, f) == bytes)
            rc = 0;
    }
    if (f && fclose(f) != 0)
        rc = -1;
    free(v);
    return rc;
}

static int setup(void)
{
    static const char *const keys[4] = {"train_images", "train_labels", "test_images",
                                        "test_labels"};
    char p[256];
    ot_gemm_init();
    if (ot_test_scratch_init("ckptw"))
        return 1;
    for (int i = 0; i < 4; i++) {
        ot_test_path(p, sizeof p, keys[i]);
        snprintf(data_opts[i], sizeof data_opts[i], "data.%s=%s", keys[i], p);
        if (write_idx(p, i % 2 == 0, i < 2 ? N_TRAIN : N_TEST, 11 + (uint64_t)i))
            return 1;
    }
    return 0;
}

/* ot_ck_make_trainer_opts on the suite's data: 784-hidden-10, n training images; extra: NULL
 * or more settings. 0 or -1. */
static int make_trainer(ot_trainer_t *t, unsigned seed, size_t hidden, size_t n,
                        const char *const *extra)
{
    const char *opts[16];
    size_t k = 0;
    for (int i = 0; i < 4; i++)
        opts[k++] = data_opts[i];
    for (size_t i = 0; extra && extra[i] && k + 1 < sizeof opts / sizeof opts[0]; i++)
        opts[k++] = extra[i];
    opts[k] = NULL;
    return ot_ck_make_trainer_opts(t, seed, hidden, n, opts);
}

/* ---------------------------------------------------------------- reading back */

/* Dataset p of f: of file type ftype (exactly), rank `rank` with dims (rank > 0), read as
 * mtype into out; its checksum must check. 0, or -1 after a note of what differs. */
static int read_ds(hid_t f, const char *p, hid_t ftype, int rank, const hsize_t *dims,
                   hid_t mtype, void *out)
{
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
    hsize_t got[H5S_MAX_RANK];
    uint32_t have, want;
    const char *bad = NULL;
    if (d < 0)
        bad = "missing";
    else if ((t = H5Dget_type(d)) < 0 || H5Tequal(t, ftype) <= 0)
        bad = "another type";
    else if ((s = H5Dget_space(d)) < 0 || H5Sget_simple_extent_ndims(s) != rank ||
             (rank == 0 && H5Sget_simple_extent_type(s) != H5S_SCALAR))
        bad = "another rank";
    else if (rank > 0 && (H5Sget_simple_extent_dims(s, got, NULL) != rank ||
                          memcmp(got, dims, (size_t)rank * sizeof *dims) != 0))
        bad = "another shape";
    else if (ot_h5_crc_check(d, &have, &want) != 0)
        bad = "a checksum that does not check";
    else if (H5Sget_simple_extent_npoints(s) > 0 &&
             H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
        bad = "unreadable values";
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
    if (bad)
        fprintf(stderr, "\n  %s: %s", p, bad);
    return bad ? -1 : 0;
}

/* Attribute name of obj: of file type ftype, scalar, read as mtype into out. 0 or -1. */
static int read_attr(hid_t obj, const char *name, hid_t ftype, hid_t mtype, void *out)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID;
    int ok = a >= 0 && (t = H5Aget_type(a)) >= 0 && H5Tequal(t, ftype) > 0 &&
             (s = H5Aget_space(a)) >= 0 && H5Sget_simple_extent_type(s) == H5S_SCALAR &&
             H5Aread(a, mtype, out) >= 0;
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    if (!ok)
        fprintf(stderr, "\n  attribute %s: missing or another type", name);
    return ok ? 0 : -1;
}

/* A string attribute, malloc'd (NULL when it is not a fixed-length string). */
static char *read_str(hid_t obj, const char *name)
{
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
    char *s = NULL;
    if (t >= 0 && H5Tget_class(t) == H5T_STRING && H5Tis_variable_str(t) == 0 &&
        (s = calloc(H5Tget_size(t) + 1, 1)) && H5Aread(a, t, s) < 0) {
        free(s);
        s = NULL;
    }
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return s;
}

/* Names joined by ',' in name order: obj's attributes (attrs) or the links of group p. */
static herr_t add_name(const char *name, char *list, size_t n)
{
    size_t used = strlen(list);
    snprintf(list + used, n - used, "%s%s", used ? "," : "", name);
    return 0;
}
static herr_t attr_name(hid_t obj, const char *name, const H5A_info_t *i, void *list)
{
    (void)obj;
    (void)i;
    return add_name(name, list, 512);
}
static herr_t link_name(hid_t g, const char *name, const H5L_info_t *i, void *list)
{
    (void)g;
    (void)i;
    return add_name(name, list, 512);
}
static const char *attr_names(hid_t obj, char list[512])
{
    hsize_t idx = 0;
    list[0] = '\0';
    H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_name, list);
    return list;
}
static const char *link_names(hid_t f, const char *p, char list[512])
{
    hsize_t idx = 0;
    list[0] = '\0';
    H5Literate_by_name(f, p, H5_INDEX_NAME, H5_ITER_INC, &idx, link_name, list, H5P_DEFAULT);
    return list;
}

/* names (attr_names, link_names) equal to want; prints them when not */
#define EXPECT_NAMES(names, want)                                                             \
    do {                                                                                      \
        const char *got_ = (names);                                                           \
        CU_ASSERT_STRING_EQUAL(got_, want);                                                   \
        if (strcmp(got_, want) != 0)                                                          \
            fprintf(stderr, "\n  %s: %s", #names, got_);                                      \
    } while (0)

/* Every dataset in the file, counted, each checked against its checksum. */
typedef struct {
    int datasets, bad;
} walk_t;
static herr_t visit(hid_t f, const char *name, const H5O_info_t *info, void *arg)
{
    walk_t *w = arg;
    if (info->type != H5O_TYPE_DATASET)
        return 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    uint32_t have, want;
    w->datasets++;
    if (d < 0 || ot_h5_crc_check(d, &have, &want) != 0) {
        fprintf(stderr, "\n  %s: checksum does not check", name);
        w->bad++;
    }
    if (d >= 0)
        H5Dclose(d);
    return 0;
}

/* Tensors ts[0..n) of block are datasets group/<name>, F32LE in the tensor's shape, with its
 * values bit for bit. Returns how many are not. */
static int tensors_in(hid_t f, const char *group, const ot_tensor_t *ts, size_t n,
                      const float *block)
{
    int wrong = 0;
    for (size_t i = 0; i < n; i++) {
        char p[160];
        hsize_t dims[OT_MAX_RANK];
        for (size_t k = 0; k < ts[i].rank; k++)
            dims[k] = ts[i].shape[k];
        float *v = malloc(ts[i].size * sizeof *v);
        snprintf(p, sizeof p, "%s/%s", group, ts[i].name);
        if (!v || read_ds(f, p, H5T_IEEE_F32LE, (int)ts[i].rank, dims, H5T_NATIVE_FLOAT, v) ||
            memcmp(v, block + ts[i].off, ts[i].size * sizeof *v) != 0) {
            fprintf(stderr, "\n  %s: not the tensor's values", p);
            wrong++;
        }
        free(v);
    }
    return wrong;
}

/* distinct values, so that a tensor read from the wrong place shows */
static void fill(float *a, size_t n, float base)
{
    for (size_t i = 0; i < n; i++)
        a[i] = base + 1e-3f * (float)(i % 1009) - 1e-6f * (float)i;
}

static void utc(time_t t, char buf[32])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---------------------------------------------------------------- tests */

/* An SGD trainer mid-epoch: the root's attributes (its config as INI text, the writer, the
 * time), /model's tensors, /optimizer without buffers, /state's position, PRNG and order, and
 * /input, each with the documented type and shape and a checksum that checks; the write
 * prints nothing and leaves no HDF5 object open. */
static void test_layout(void)
{
    ot_trainer_t t;
    char p[256], list[512], before[32], after[32];
    CU_ASSERT_FATAL(make_trainer(&t, 4, 8, 100, NULL) == 0);
    fill(t.net.params, t.net.n_params, 0.5f);
    t.epoch = 3;
    t.batch_in_epoch = 1;
    t.step = 7;
    t.optim.t = 9;
    t.samples_seen = 350;
    t.epoch_loss = 1.0 / 3.0;
    t.epoch_correct = 42;
    t.step_loss[0] = 0.75f;
    t.best_val_loss = INFINITY;
    ot_test_path(p, sizeof p, "layout.h5");
    char txt[256];
    time_t t0 = time(NULL);
    ot_test_capture_begin();
    int rc = ot_ckpt_write(&t, p);
    CU_ASSERT_EQUAL(ot_test_capture_lines(txt, sizeof txt), 0);
    CU_ASSERT_FATAL(rc == 0);
    utc(t0, before);
    utc(time(NULL), after);
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);

    hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT), g;
    CU_ASSERT_FATAL(f >= 0);
    EXPECT_NAMES(link_names(f, "/", list), "input,model,optimizer,state");

    /* the root's attributes, and their checksum */
    EXPECT_NAMES(attr_names(f, list), "config,crc32,crc32_groups,created,format_version,"
                                                "omptrain_version,processes,seed,shards,threads");
    int32_t i32 = 0;
    uint32_t u32 = 0, have, want;
    uint64_t u64 = 0;
    CU_ASSERT(read_attr(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT32, &i32) == 0 &&
              i32 == OT_CKPT_FORMAT);
    CU_ASSERT(read_attr(f, "threads", H5T_STD_I32LE, H5T_NATIVE_INT32, &i32) == 0 && i32 == 2);
    CU_ASSERT(read_attr(f, "processes", H5T_STD_I32LE, H5T_NATIVE_INT32, &i32) == 0 && i32 == 1);
    CU_ASSERT(read_attr(f, "shards", H5T_STD_U32LE, H5T_NATIVE_UINT32, &u32) == 0 && u32 == 4);
    CU_ASSERT(read_attr(f, "seed", H5T_STD_U64LE, H5T_NATIVE_UINT64, &u64) == 0 && u64 == 4);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(f, &have, &want), 0);
    char *s = read_str(f, "omptrain_version"), *ini = ot_config_to_ini(&t.cfg);
    CU_ASSERT(s && strcmp(s, OT_VERSION) == 0);
    free(s);
    s = read_str(f, "created");
    CU_ASSERT(s && strlen(s) == 20 && strcmp(before, s) <= 0 && strcmp(s, after) <= 0);
    free(s);
    s = read_str(f, "config");
    CU_ASSERT(s && ini && strcmp(s, ini) == 0);
    free(s);
    free(ini);
    /* the groups whose attributes carry a checksum too */
    s = read_str(f, OT_H5_CRC_GROUPS);
    CU_ASSERT(s && strcmp(s, "/input /optimizer") == 0);
    free(s);

    /* /model: each tensor with its shape and values; nothing else */
    EXPECT_NAMES(link_names(f, "/model", list), "affine1,affine2");
    EXPECT_NAMES(link_names(f, "/model/affine1", list), "W,b");
    CU_ASSERT_EQUAL(t.net.n_tensors, 4);
    CU_ASSERT_EQUAL(tensors_in(f, "/model", t.net.tensors, t.net.n_tensors, t.net.params), 0);
    hsize_t w1[2] = {784, 8};
    float *w = malloc(784 * 8 * sizeof *w);
    CU_ASSERT_FATAL(w != NULL);
    CU_ASSERT_EQUAL(read_ds(f, "/model/affine1/W", H5T_IEEE_F32LE, 2, w1, H5T_NATIVE_FLOAT, w),
                    0);
    CU_ASSERT(memcmp(w, t.net.params + ot_net_tensor(&t.net, "affine1/W")->off,
                     sizeof(float) * 784 * 8) == 0);
    free(w);

    /* /optimizer: the rule and its hyperparameters, its update count, no buffers for sgd */
    CU_ASSERT_FATAL((g = H5Gopen2(f, "optimizer", H5P_DEFAULT)) >= 0);
    EXPECT_NAMES(link_names(f, "/optimizer", list), "t");
    EXPECT_NAMES(attr_names(g, list), "beta1,beta2,crc32,epsilon,learning_rate,momentum,"
                                                "name,rmsprop_decay,weight_decay");
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), 0);
    s = read_str(g, "name");
    CU_ASSERT(s && strcmp(s, "sgd") == 0);
    free(s);
    const struct {
        const char *name;
        double want;
    } hyper[] = {{"learning_rate", t.cfg.lr}, {"momentum", t.optim.momentum},
                 {"rmsprop_decay", t.optim.decay}, {"beta1", t.optim.beta1},
                 {"beta2", t.optim.beta2}, {"epsilon", t.optim.eps},
                 {"weight_decay", t.optim.weight_decay}};
    for (size_t i = 0; i < sizeof hyper / sizeof hyper[0]; i++) {
        double v = -1;
        CU_ASSERT(read_attr(g, hyper[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v) == 0 &&
                  v == hyper[i].want);
    }
    H5Gclose(g);
    CU_ASSERT(read_ds(f, "/optimizer/t", H5T_STD_U64LE, 0, NULL, H5T_NATIVE_UINT64, &u64) == 0 &&
              u64 == 9);

    /* /state: the position, the PRNG, the order, early stopping's state */
    EXPECT_NAMES(link_names(f, "/state", list),
                           "batch_in_epoch,best_epoch,best_val_loss,epoch,epoch_correct,"
                           "epoch_loss,order,rng,samples_seen,step,step_loss,stopped");
    double f64 = 0;
    float f32 = 0;
    uint64_t rng[4] = {0};
    hsize_t n1 = 1, n4 = 4, n100 = 100;
    CU_ASSERT(read_ds(f, "/state/epoch", H5T_STD_U32LE, 0, NULL, H5T_NATIVE_UINT32, &u32) == 0 &&
              u32 == 3);
    CU_ASSERT(read_ds(f, "/state/batch_in_epoch", H5T_STD_U64LE, 0, NULL, H5T_NATIVE_UINT64,
                      &u64) == 0 && u64 == 1);
    CU_ASSERT(read_ds(f, "/state/step", H5T_STD_U64LE, 0, NULL, H5T_NATIVE_UINT64, &u64) == 0 &&
              u64 == 7);
    CU_ASSERT(read_ds(f, "/state/samples_seen", H5T_STD_U64LE, 0, NULL, H5T_NATIVE_UINT64,
                      &u64) == 0 && u64 == 350);
    CU_ASSERT(read_ds(f, "/state/epoch_loss", H5T_IEEE_F64LE, 0, NULL, H5T_NATIVE_DOUBLE,
                      &f64) == 0 && f64 == 1.0 / 3.0);
    CU_ASSERT(read_ds(f, "/state/epoch_correct", H5T_STD_U64LE, 0, NULL, H5T_NATIVE_UINT64,
                      &u64) == 0 && u64 == 42);
    CU_ASSERT(read_ds(f, "/state/step_loss", H5T_IEEE_F32LE, 1, &n1, H5T_NATIVE_FLOAT, &f32) ==
                  0 && f32 == 0.75f);
    CU_ASSERT(read_ds(f, "/state/rng", H5T_STD_U64LE, 1, &n4, H5T_NATIVE_UINT64, rng) == 0 &&
              memcmp(rng, t.rng.s, sizeof rng) == 0);
    uint32_t order[100] = {0};
    CU_ASSERT_EQUAL(t.train.n, 100);
    CU_ASSERT(read_ds(f, "/state/order", H5T_STD_U32LE, 1, &n100, H5T_NATIVE_UINT32, order) ==
                  0 && memcmp(order, t.order, sizeof order) == 0);
    CU_ASSERT(read_ds(f, "/state/best_val_loss", H5T_IEEE_F64LE, 0, NULL, H5T_NATIVE_DOUBLE,
                      &f64) == 0 && f64 == INFINITY);
    CU_ASSERT(read_ds(f, "/state/best_epoch", H5T_STD_U32LE, 0, NULL, H5T_NATIVE_UINT32,
                      &u32) == 0 && u32 == 0);
    CU_ASSERT(read_ds(f, "/state/stopped", H5T_STD_U32LE, 0, NULL, H5T_NATIVE_UINT32, &u32) ==
                  0 && u32 == 0);

    /* /input (input.c's part): there, with its attributes' checksum */
    CU_ASSERT_FATAL((g = H5Gopen2(f, "input", H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), 0);
    H5Gclose(g);

    /* every dataset carries a checksum that checks: 4 tensors, t, 12 of /state, and
     * /input/mean and /input/std when the input is standardised */
    walk_t wk = {0, 0};
    CU_ASSERT(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit, &wk, H5O_INFO_BASIC) >= 0);
    CU_ASSERT_EQUAL(wk.datasets, 4 + 1 + 12 + (t.input.normalize == OT_NORM_MEAN_STD ? 2 : 0));
    CU_ASSERT_EQUAL(wk.bad, 0);
    H5Fclose(f);
    ot_trainer_free(&t);
}

/* Write trainer t to file name and open it read-only (< 0 on failure). */
static hid_t write_open(const ot_trainer_t *t, const char *name)
{
    char p[256];
    ot_test_path(p, sizeof p, name);
    if (ot_ckpt_write(t, p))
        return H5I_INVALID_HID;
    return H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
}

/* The optimizer's buffers in the parameters' layout, tensor by tensor: none for sgd (above),
 * m for nesterov, m and v for adam; batch norm's running statistics with the parameters in
 * /model (not in the optimizer's buffers); early stopping's best parameters and statistics
 * under /state/best_params; every value bit for bit. */
static void test_optimizer_and_state(void)
{
    ot_trainer_t t;
    char list[512];
    hid_t f;
    CU_ASSERT_FATAL(make_trainer(&t, 5, 8, 100, ot_ck_momentum_opts) == 0);
    CU_ASSERT_FATAL(ot_optim_n_buffers(&t.optim) == 1);
    fill(t.optim.m, t.net.n_params, -2.0f);
    CU_ASSERT_FATAL((f = write_open(&t, "nesterov.h5")) >= 0);
    EXPECT_NAMES(link_names(f, "/optimizer", list), "m,t");
    char *s = read_str(f, "config");
    CU_ASSERT(s && strstr(s, "\noptimizer = nesterov\n"));
    free(s);
    hid_t g = H5Gopen2(f, "optimizer", H5P_DEFAULT);
    s = read_str(g, "name");
    CU_ASSERT(s && strcmp(s, "nesterov") == 0);
    free(s);
    double v = 0;
    CU_ASSERT(read_attr(g, "momentum", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v) == 0 &&
              v == t.optim.momentum && v > 0);
    H5Gclose(g);
    CU_ASSERT_EQUAL(tensors_in(f, "/optimizer/m", t.net.tensors, t.net.n_tensors, t.optim.m), 0);
    H5Fclose(f);
    ot_trainer_free(&t);

    const char *const opts[] = {"training.optimizer=adam", "training.weight_decay=0.001",
                                "training.validation=50", "training.patience=2",
                                "model.batchnorm=1", NULL};
    CU_ASSERT_FATAL(make_trainer(&t, 6, 8, N_TRAIN, opts) == 0);
    CU_ASSERT_FATAL(t.optim.m && t.optim.v && t.best_params && t.best_state);
    CU_ASSERT_FATAL(t.net.n_state_tensors == 2 && t.net.n_tensors == 6);
    fill(t.net.params, t.net.n_params, 0.5f);
    fill(t.net.state, t.net.n_state, 3.0f);
    fill(t.optim.m, t.net.n_params, -2.0f);
    fill(t.optim.v, t.net.n_params, 7.0f);
    fill(t.best_params, t.net.n_params, -0.5f);
    fill(t.best_state, t.net.n_state, 9.0f);
    t.best_epoch = 2;
    t.best_val_loss = 0.125;
    t.stopped = 1;
    CU_ASSERT_FATAL((f = write_open(&t, "adam-bn.h5")) >= 0);
    EXPECT_NAMES(link_names(f, "/model", list), "affine1,affine2,bn1");
    EXPECT_NAMES(link_names(f, "/model/bn1", list),
                           "beta,gamma,running_mean,running_var");
    EXPECT_NAMES(link_names(f, "/optimizer", list), "m,t,v");
    EXPECT_NAMES(link_names(f, "/optimizer/m/bn1", list), "beta,gamma");
    EXPECT_NAMES(link_names(f, "/state/best_params/bn1", list),
                           "beta,gamma,running_mean,running_var");
    const ot_net_t *net = &t.net;
    CU_ASSERT_EQUAL(tensors_in(f, "/model", net->tensors, net->n_tensors, net->params), 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/model", net->state_tensors, net->n_state_tensors,
                               net->state), 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/optimizer/m", net->tensors, net->n_tensors, t.optim.m), 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/optimizer/v", net->tensors, net->n_tensors, t.optim.v), 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/state/best_params", net->tensors, net->n_tensors,
                               t.best_params), 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/state/best_params", net->state_tensors,
                               net->n_state_tensors, t.best_state), 0);
    g = H5Gopen2(f, "optimizer", H5P_DEFAULT);
    s = read_str(g, "name");
    CU_ASSERT(s && strcmp(s, "adam") == 0);
    free(s);
    const struct {
        const char *name;
        double want;
    } hyper[] = {{"beta1", t.optim.beta1}, {"beta2", t.optim.beta2}, {"epsilon", t.optim.eps},
                 {"weight_decay", 0.001}};
    for (size_t i = 0; i < sizeof hyper / sizeof hyper[0]; i++) {
        v = -1;
        CU_ASSERT(read_attr(g, hyper[i].name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v) == 0 &&
                  v == hyper[i].want && v > 0);
    }
    H5Gclose(g);
    uint32_t u32 = 0;
    CU_ASSERT(read_ds(f, "/state/best_epoch", H5T_STD_U32LE, 0, NULL, H5T_NATIVE_UINT32,
                      &u32) == 0 && u32 == 2);
    CU_ASSERT(read_ds(f, "/state/stopped", H5T_STD_U32LE, 0, NULL, H5T_NATIVE_UINT32, &u32) ==
                  0 && u32 == 1);
    CU_ASSERT(read_ds(f, "/state/best_val_loss", H5T_IEEE_F64LE, 0, NULL, H5T_NATIVE_DOUBLE,
                      &v) == 0 && v == 0.125);
    walk_t wk = {0, 0};
    CU_ASSERT(H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_INC, visit, &wk, H5O_INFO_BASIC) >= 0);
    /* 6 parameters and 2 statistics in /model and best_params, 6 in m and in v, t, /state */
    CU_ASSERT_EQUAL(wk.datasets, 8 + 6 + 6 + 1 + 12 + 8 +
                                     (t.input.normalize == OT_NORM_MEAN_STD ? 2 : 0));
    CU_ASSERT_EQUAL(wk.bad, 0);
    H5Fclose(f);
    ot_trainer_free(&t);
}

/* Read a whole file into a malloc'd buffer; *n its size. */
static char *slurp(const char *p, size_t *n)
{
    FILE *f = fopen(p, "rb");
    char *buf = NULL;
    long len;
    if (f && fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (buf = malloc((size_t)len + 1)) && fread(buf, 1, (size_t)len, f) != (size_t)len) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        *n = (size_t)len;
    if (f)
        fclose(f);
    return buf;
}

/* A tensor name that is not a safe HDF5 path (empty, absolute, an empty component, a dot, a
 * space, a shell character) is refused with OT_EINVAL in one line, before the file at the path
 * is touched: a good checkpoint there stays as it was. Letters, digits, '_' and '-' pass. */
static void test_unsafe_names(void)
{
    ot_trainer_t t;
    char p[256], q[256], keep[sizeof t.net.tensors[0].name], want[512];
    CU_ASSERT_FATAL(make_trainer(&t, 7, 8, 100, NULL) == 0);
    ot_test_path(p, sizeof p, "names.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, p) == 0);
    size_t n0 = 0, n1 = 0;
    char *good = slurp(p, &n0);
    CU_ASSERT_FATAL(good != NULL);
    memcpy(keep, t.net.tensors[1].name, sizeof keep);
    const char *bad[] = {"", "/affine1/b", "affine1//b", "affine1/b/", "affine1/../b",
                         "affine1/b.0", "affine 1/b", "affine1/b;rm", "affine1/b\t", "/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(t.net.tensors[1].name, sizeof t.net.tensors[1].name, "%s", bad[i]);
        snprintf(want, sizeof want, "%s: tensor name '%s' is not a safe HDF5 path (expected "
                 "names like affine1/W)", p, bad[i]);
        OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, p), OT_EINVAL, want);
        char *now = slurp(p, &n1);
        CU_ASSERT(now && n1 == n0 && memcmp(now, good, n0) == 0);
        free(now);
    }
    /* the layer's name is a path of its own: /model/Aff-1_x/B9 */
    snprintf(t.net.tensors[1].name, sizeof t.net.tensors[1].name, "Aff-1_x/B9");
    ot_test_path(q, sizeof q, "names-ok.h5");
    CU_ASSERT_EQUAL(ot_ckpt_write(&t, q), 0);
    hid_t f = H5Fopen(q, H5F_ACC_RDONLY, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_EQUAL(tensors_in(f, "/model", t.net.tensors, t.net.n_tensors, t.net.params), 0);
    H5Fclose(f);
    memcpy(t.net.tensors[1].name, keep, sizeof keep);
    free(good);
    ot_trainer_free(&t);
}

static int printed;
static herr_t count_printer(hid_t stack, void *data)
{
    (void)stack;
    (*(int *)data)++;
    return 0;
}

/* A failure inside HDF5 while the image is built in memory (here two tensors of one name) is
 * OT_EIO in one line naming the dataset, with HDF5's own printer silent, before the file at
 * the path is touched. */
static void test_build_fails(void)
{
    ot_trainer_t t;
    char p[256], keep[sizeof t.net.tensors[0].name], want[512];
    H5E_auto2_t fn0;
    void *data0;
    CU_ASSERT_FATAL(make_trainer(&t, 12, 8, 100, NULL) == 0);
    ot_test_path(p, sizeof p, "build.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, p) == 0);
    size_t n0 = 0, n1 = 0;
    char *good = slurp(p, &n0);
    CU_ASSERT_FATAL(good != NULL);
    CU_ASSERT_FATAL(H5Eget_auto2(H5E_DEFAULT, &fn0, &data0) >= 0);
    CU_ASSERT_FATAL(H5Eset_auto2(H5E_DEFAULT, count_printer, &printed) >= 0);
    printed = 0;
    memcpy(keep, t.net.tensors[1].name, sizeof keep);
    memcpy(t.net.tensors[1].name, t.net.tensors[0].name, sizeof keep);
    snprintf(want, sizeof want, "%s: cannot build /model/%s of the checkpoint in memory: ", p,
             t.net.tensors[0].name);
    OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, p), OT_EIO, want);
    CU_ASSERT_EQUAL(printed, 0);
    H5E_auto2_t fn;
    void *data;
    CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &fn, &data) >= 0);
    CU_ASSERT(fn == count_printer && data == &printed);
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    char *now = slurp(p, &n1);
    CU_ASSERT(now && n1 == n0 && memcmp(now, good, n0) == 0);
    free(now);
    H5Eset_auto2(H5E_DEFAULT, fn0, data0);
    memcpy(t.net.tensors[1].name, keep, sizeof keep);
    free(good);
    ot_trainer_free(&t);
}

/* A path that cannot be created (no such directory, a directory, below a file) or written
 * (a full disk: /dev/full) is OT_EIO in one line naming it and the system's reason; what was
 * there stays; HDF5 printed nothing, its printer is put back and nothing is left open, so the
 * next write works. */
static void test_cannot_write(void)
{
    ot_trainer_t t;
    char p[300], good[256], dir[256], inner[300], want[512];
    H5E_auto2_t fn0;
    void *data0;
    CU_ASSERT_FATAL(make_trainer(&t, 8, 8, 100, NULL) == 0);
    CU_ASSERT_FATAL(H5Eget_auto2(H5E_DEFAULT, &fn0, &data0) >= 0);
    CU_ASSERT_FATAL(H5Eset_auto2(H5E_DEFAULT, count_printer, &printed) >= 0);
    printed = 0;
    ot_test_path(good, sizeof good, "good.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&t, good) == 0);
    size_t n0 = 0, n1 = 0;
    char *bytes = slurp(good, &n0);
    CU_ASSERT_FATAL(bytes != NULL);

    ot_test_path(p, sizeof p, "no/such/dir/x.h5");
    snprintf(want, sizeof want, "%s: cannot create the checkpoint: No such file or directory\n",
             p);
    OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, p), OT_EIO, want);
    CU_ASSERT(!ot_ck_file_exists(p));

    ot_test_path(dir, sizeof dir, "a-directory");
    snprintf(inner, sizeof inner, "%s/inside", dir);
    CU_ASSERT_FATAL(ot_output_dir_prepare(inner) == 0);
    snprintf(want, sizeof want, "%s: cannot create the checkpoint: Is a directory\n", dir);
    OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, dir), OT_EIO, want);
    struct stat st;
    CU_ASSERT(stat(inner, &st) == 0 && S_ISDIR(st.st_mode));

    snprintf(p, sizeof p, "%s/x.h5", good);
    snprintf(want, sizeof want, "%s: cannot create the checkpoint: Not a directory\n", p);
    OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, p), OT_EIO, want);
    char *now = slurp(good, &n1);
    CU_ASSERT(now && n1 == n0 && memcmp(now, bytes, n0) == 0);
    free(now);

    /* a full disk: every write(2) to /dev/full fails with ENOSPC */
    ot_test_path(p, sizeof p, "full.h5");
    CU_ASSERT_FATAL(symlink("/dev/full", p) == 0);
    snprintf(want, sizeof want, "%s: cannot write the checkpoint (0 of %zu bytes written): No "
             "space left on device\n", p, n0);
    OT_EXPECT_ONE_LINE(ot_ckpt_write(&t, p), OT_EIO, want);

    /* HDF5 as it was: its printer back, nothing open, never called; the next write works */
    H5E_auto2_t fn;
    void *data;
    CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &fn, &data) >= 0);
    CU_ASSERT(fn == count_printer && data == &printed);
    CU_ASSERT_EQUAL(printed, 0);
    CU_ASSERT_EQUAL(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL), 0);
    t.epoch = 5;
    CU_ASSERT_EQUAL(ot_ckpt_write(&t, good), 0);
    ot_ckpt_info_t info;
    CU_ASSERT_EQUAL(ot_ckpt_info(good, &info), 0);
    CU_ASSERT_EQUAL(info.epoch, 5);
    H5Eset_auto2(H5E_DEFAULT, fn0, data0);
    free(bytes);
    ot_trainer_free(&t);
}

/* Whatever is at the path is replaced: a longer file that is not HDF5, a bigger checkpoint;
 * the file is then exactly the new checkpoint, and loads. */
static void test_replaces(void)
{
    ot_trainer_t big, small;
    char p[256], ref[256];
    CU_ASSERT_FATAL(make_trainer(&big, 9, 20, 100, NULL) == 0);
    CU_ASSERT_FATAL(make_trainer(&small, 10, 8, 100, NULL) == 0);
    ot_test_path(ref, sizeof ref, "reference.h5");
    CU_ASSERT_FATAL(ot_ckpt_write(&small, ref) == 0);
    size_t n_ref = 0, n = 0;
    char *want = slurp(ref, &n_ref);
    CU_ASSERT_FATAL(want != NULL);

    ot_test_path(p, sizeof p, "replaced.h5");
    FILE *junk = fopen(p, "wb");
    CU_ASSERT_FATAL(junk != NULL);
    for (size_t i = 0; i < n_ref + 4096; i++)
        fputc('x', junk);
    CU_ASSERT_FATAL(fclose(junk) == 0);
    CU_ASSERT_EQUAL(ot_ckpt_write(&small, p), 0);
    char *got = slurp(p, &n);
    /* the reference's bytes but for the time stamp (20 characters) and the root attributes'
     * checksum over it (4 bytes), when the clock's second changed in between */
    size_t differ = 0;
    for (size_t i = 0; got && n == n_ref && i < n; i++)
        differ += got[i] != want[i];
    CU_ASSERT(got && n == n_ref && differ <= 24);
    free(got);

    CU_ASSERT_EQUAL(ot_ckpt_write(&big, p), 0);
    CU_ASSERT_EQUAL(ot_ckpt_write(&small, p), 0);
    got = slurp(p, &n);
    CU_ASSERT(got && n == n_ref);
    free(got);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_init(&net, &small.cfg, NULL) == 0);
    CU_ASSERT(!ot_ck_params_equal(&net, &small.net)); /* guard: zeroed, the load has work */
    CU_ASSERT_EQUAL(ot_ckpt_load_params(p, &net), 0);
    CU_ASSERT(ot_ck_params_equal(&net, &small.net));
    ot_net_free(&net);
    free(want);
    ot_trainer_free(&big);
    ot_trainer_free(&small);
}

OT_TEST_SUITE(ckpt_write, setup, ot_test_scratch_free,
              {"layout: groups, datasets, types, shapes, attributes, checksums", test_layout},
              {"optimizer buffers, batch norm and early-stopping state", test_optimizer_and_state},
              {"unsafe tensor names refused, the file left alone", test_unsafe_names},
              {"HDF5 failure while building: one line, the file left alone",
               test_build_fails},
              {"cannot create or write: one line, HDF5 left sound", test_cannot_write},
              {"whatever was at the path is replaced", test_replaces})
