/* test_history.c - the run's history file, RUN_DIR/history.h5 (src/history.c): appends,
 * readable by another process while open; a resume that cuts the curve back to its
 * checkpoint, at an epoch boundary and inside an epoch, then continues without gaps or
 * duplicates; a fresh run that starts over; a resume without history that creates one; a file
 * that is not a history refused in one line and left alone; an append that fails on a full
 * disk leaves the epochs before as they were; damage a checksum does not see (a link name, a
 * datatype, an attribute) refused by verify and the resume in the same words.
 *
 * Files go to a fresh directory under /tmp, removed at the end; h5dump must be on the path. */
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt_test.h"
#include "ot_h5.h"
#include "ot_history.h"
#include "ot_outdir.h"
#include "ot_common.h"
#include "ot_test.h"
#include "ot_verify.h"

static int setup(void)
{
    return ot_test_scratch_init("history");
}

/* Appends, a resume that cuts the history back (at an epoch boundary and inside an epoch),
 * a continuation without gaps or duplicates, and a fresh run that starts over. */
static void test_history(void)
{
    ot_history_t h;
    char dir[256], file[300];
    float loss[12];
    uint64_t steps[64];
    double acc[16];
    ot_test_path(dir, sizeof dir, "history");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    snprintf(file, sizeof file, "%s/history.h5", dir);
    ot_epoch_stats_t st = {0};
    st.threads = 2;

    CU_ASSERT_FATAL(ot_history_open(&h, dir, 0, 0, 0, NULL) == 0);
    for (int e = 1; e <= 3; e++) {
        for (int i = 0; i < 12; i++)
            loss[i] = (float)(e * 100 + i);
        st.epoch = e;
        st.test_acc = 0.5 + 0.1 * e;
        CU_ASSERT(ot_history_append(&h, (uint64_t)(e - 1) * 12, loss, 12, &st) == 0);
    }
    /* flushed: another process (h5dump) reads the 36 steps while the file is still open */
    char cmd[400], out[4096];
    snprintf(cmd, sizeof cmd, "h5dump -H -d /steps/step %s 2>&1", file);
    FILE *pp = popen(cmd, "r");
    CU_ASSERT_FATAL(pp != NULL);
    size_t got = fread(out, 1, sizeof out - 1, pp);
    out[got] = 0;
    CU_ASSERT_EQUAL(pclose(pp), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "SIMPLE { ( 36 ) / ( H5S_UNLIMITED ) }"));
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);

    /* resume from the checkpoint of epoch 1 (step 12): the curve goes back to it */
    int created = -1;
    CU_ASSERT_FATAL(ot_history_open(&h, dir, 1, 12, 1, &created) == 0);
    CU_ASSERT_EQUAL(created, 0);
    CU_ASSERT_EQUAL(h.n_steps, 12);
    CU_ASSERT_EQUAL(h.n_epochs, 1);
    for (int i = 0; i < 12; i++)
        loss[i] = (float)(900 + i);
    st.epoch = 2;
    st.test_acc = 0.95;
    CU_ASSERT(ot_history_append(&h, 12, loss, 12, &st) == 0);
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
    CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/steps/step", H5T_NATIVE_UINT64, steps, 64), 24);
    for (int i = 0; i < 24; i++)
        CU_ASSERT_EQUAL(steps[i], (uint64_t)i + 1);
    CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/epochs/test_acc", H5T_NATIVE_DOUBLE, acc, 16), 2);
    CU_ASSERT_DOUBLE_EQUAL(acc[0], 0.6, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(acc[1], 0.95, 1e-12);
    CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/epochs/epoch", H5T_NATIVE_UINT64, steps, 64), 2);
    CU_ASSERT_EQUAL(steps[1], 2);

    /* resume inside epoch 2 (step 18, 6 steps of it in the history): the epoch's append
     * writes only the 6 steps after the checkpoint */
    CU_ASSERT_FATAL(ot_history_open(&h, dir, 1, 18, 1, NULL) == 0);
    CU_ASSERT_EQUAL(h.n_steps, 18);
    CU_ASSERT_EQUAL(h.n_epochs, 1);
    CU_ASSERT(ot_history_append(&h, 12, loss, 12, &st) == 0);
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
    CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/steps/step", H5T_NATIVE_UINT64, steps, 64), 24);
    for (int i = 0; i < 24; i++)
        CU_ASSERT_EQUAL(steps[i], (uint64_t)i + 1);

    /* a fresh run starts a new history */
    CU_ASSERT_FATAL(ot_history_open(&h, dir, 0, 0, 0, NULL) == 0);
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
    CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/steps/step", H5T_NATIVE_UINT64, steps, 64), 0);

    /* resuming into a directory without history creates one and says so */
    char dir2[256];
    ot_test_path(dir2, sizeof dir2, "history2");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir2) == 0);
    CU_ASSERT_FATAL(ot_history_open(&h, dir2, 1, 12, 1, &created) == 0);
    CU_ASSERT_EQUAL(created, 1);
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);

    /* a history that is not one is refused, in one line, and left alone */
    FILE *f = fopen(file, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("not hdf5\n", f);
    fclose(f);
    OT_EXPECT_ONE_LINE(ot_history_open(&h, dir, 1, 12, 1, NULL), OT_EFORMAT, "history");
    ot_history_close(&h);
    struct stat sb;
    CU_ASSERT(stat(file, &sb) == 0 && sb.st_size == 9);
}

/* A history of 2 epochs of 3 steps in dir (steps 1..6); then /steps/step changed by how: 'h'
 * extended to 2^40 rows (never written: they would read as 0), 'd' row 2 set to 1 (a step
 * recorded twice) with its checksum renewed. */
static void make_changed(const char *dir, char how)
{
    ot_history_t h;
    char file[300];
    float loss[3] = {1, 2, 3};
    ot_epoch_stats_t st = {.threads = 1};
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    CU_ASSERT_FATAL(ot_history_open(&h, dir, 0, 0, 0, NULL) == 0);
    for (int e = 1; e <= 2; e++) {
        st.epoch = e;
        CU_ASSERT(ot_history_append(&h, (uint64_t)(e - 1) * 3, loss, 3, &st) == 0);
    }
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
    snprintf(file, sizeof file, "%s/history.h5", dir);
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/steps/step", H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    if (how == 'h') {
        hsize_t n = (hsize_t)1 << 40;
        CU_ASSERT(H5Dset_extent(d, &n) >= 0);
    } else {
        hsize_t at = 2, one = 1;
        uint64_t v = 1;
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
        H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &one, NULL);
        CU_ASSERT(H5Dwrite(d, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, &v) >= 0);
        CU_ASSERT(ot_h5_crc_set(d) == 0); /* a file made so, not damaged */
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(d);
    H5Fclose(f);
}

/* A history from elsewhere: the rows it declares are checked before they are read, and read
 * a block at a time. 2^40 steps (8 TiB, once read into one buffer) are more values than the
 * file holds; a step recorded twice is not a history's. */
static void test_declared_rows(void)
{
    ot_history_t h;
    char dir[256];
    ot_test_path(dir, sizeof dir, "huge");
    make_changed(dir, 'h');
    OT_EXPECT_ONE_LINE(ot_history_open(&h, dir, 1, 6, 2, NULL), OT_EFORMAT,
                       "/steps/step declares 1099511627776 values of 8 bytes, more than the "
                       "file's");
    ot_history_close(&h);
    ot_test_path(dir, sizeof dir, "dup");
    make_changed(dir, 'd');
    OT_EXPECT_ONE_LINE(ot_history_open(&h, dir, 1, 6, 2, NULL), OT_EFORMAT,
                       "/steps/step row 2 is 1 after 2, expected increasing numbers");
    ot_history_close(&h);
}

/* Epoch e's losses: 1500 steps (a new chunk of /steps every few epochs), all distinct. */
enum { FULL_STEPS = 1500 };
static void full_losses(int e, float *loss)
{
    for (int i = 0; i < FULL_STEPS; i++)
        loss[i] = (float)e + (float)i / FULL_STEPS;
}

/* What fill_up did: its appends' status (the last the failed one), its message, the epochs
 * the history held after it. */
typedef struct {
    int good, rc, lines;    /* good: the epochs before appended */
    uint64_t n_epochs;
    char err[1024];
} filled_t;

/* In a child process (ot_test_in_child): a history of *before epochs in dir, then the next
 * epoch appended on a disk full from then on, into out (a filled_t). */
static void fill_up(void *arg, void *out)
{
    const int before = *(const int *)arg;
    filled_t *r = out;
    ot_history_t h;
    char dir[256], file[300];
    static float loss[FULL_STEPS];
    ot_epoch_stats_t st = {.threads = 1};
    ot_test_path(dir, sizeof dir, "full");
    snprintf(file, sizeof file, "%s/history.h5", dir);
    r->good = ot_history_open(&h, dir, 0, 0, 0, NULL) == 0;
    for (int e = 1; e <= before && r->good; e++) {
        full_losses(e, loss);
        st.epoch = e;
        st.test_acc = 0.5 + 0.1 * e;
        r->good = ot_history_append(&h, (uint64_t)(e - 1) * FULL_STEPS, loss, FULL_STEPS,
                                    &st) == 0;
    }
    r->good = r->good && ot_test_disk_full(file, 0) == 0;
    full_losses(before + 1, loss);
    st.epoch = before + 1;
    ot_test_capture_begin();
    r->rc = ot_history_append(&h, (uint64_t)before * FULL_STEPS, loss, FULL_STEPS, &st);
    r->lines = ot_test_capture_lines(r->err, sizeof r->err);
    r->n_epochs = h.n_epochs;
    ot_history_close(&h);
}

/* An append that fails on a full disk says so in one line and leaves the file as it was after
 * the epoch before: every row there, bit for bit, and every checksum; verify says it is intact
 * and a resume goes on from it. Once after two epochs, when the third needs a new chunk of
 * /steps, and once at the first epoch, when the datasets get their first chunks. The disk
 * stays full until the append returns, so that it has to go back on a full disk; that leaves
 * HDF5 with a file it can neither close nor clean up at exit, hence the child process. */
static void test_full_disk(void)
{
    ot_verify_t v;
    char dir[256], file[300];
    static float loss[FULL_STEPS], got[3 * FULL_STEPS];
    double acc[8];
    ot_history_t h;
    ot_epoch_stats_t st = {.threads = 1};
    ot_test_path(dir, sizeof dir, "full");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    snprintf(file, sizeof file, "%s/history.h5", dir);
    for (int before = 2; before >= 0; before -= 2) {
        filled_t r = {0};
        CU_ASSERT_FATAL(ot_test_in_child(fill_up, &before, &r, sizeof r) == 0);
        CU_ASSERT_FATAL(r.good);
        CU_ASSERT_EQUAL(r.rc, OT_EIO);
        CU_ASSERT_EQUAL(r.lines, 1);
        CU_ASSERT_PTR_NOT_NULL(strstr(r.err, "No space left on device (it keeps the epochs "
                                             "before, as they were)"));
        CU_ASSERT_EQUAL(r.n_epochs, (uint64_t)before);
        if (r.rc != OT_EIO || r.lines != 1)
            fprintf(stderr, "\n  after %d epochs: %d, %d lines: %s", before, r.rc, r.lines,
                    r.err);

        CU_ASSERT_EQUAL(ot_verify_file(file, &v), 0);
        if (!v.intact)
            fprintf(stderr, "\n  after %d epochs: %s", before, v.why);
        CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/steps/loss", H5T_NATIVE_FLOAT, got,
                                      3 * FULL_STEPS), before * FULL_STEPS);
        for (int e = 1; e <= before; e++) {
            full_losses(e, loss);
            CU_ASSERT(memcmp(got + (e - 1) * FULL_STEPS, loss, sizeof loss) == 0);
        }
        CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/epochs/test_acc", H5T_NATIVE_DOUBLE, acc, 8),
                        before);
        for (int e = 1; e <= before; e++)
            CU_ASSERT_EQUAL(acc[e - 1], 0.5 + 0.1 * e);

        /* the resume from the checkpoint of the last good epoch goes on in place */
        CU_ASSERT_FATAL(ot_history_open(&h, dir, 1, (uint64_t)before * FULL_STEPS, before,
                                        NULL) == 0);
        CU_ASSERT_EQUAL(h.n_steps, (uint64_t)before * FULL_STEPS);
        CU_ASSERT_EQUAL(h.n_epochs, (uint64_t)before);
        full_losses(before + 1, loss);
        st.epoch = before + 1;
        CU_ASSERT(ot_history_append(&h, (uint64_t)before * FULL_STEPS, loss, FULL_STEPS,
                                    &st) == 0);
        CU_ASSERT_EQUAL(ot_history_close(&h), 0);
        CU_ASSERT_EQUAL(ot_verify_file(file, &v), 0);
        CU_ASSERT_EQUAL(ot_ck_read_1d(file, "/steps/loss", H5T_NATIVE_FLOAT, got,
                                      3 * FULL_STEPS), (before + 1) * FULL_STEPS);
        CU_ASSERT(memcmp(got + before * FULL_STEPS, loss, sizeof loss) == 0);
    }
}

/* Dataset p of f written anew from its values, read as rtype: stored as ftype, written from
 * memory of type wtype (ftype itself to keep the bytes as they were), chunked and growing
 * unless fixed, with its checksum renewed. 0 or -1. */
static int rewrite(hid_t f, const char *p, hid_t ftype, hid_t rtype, hid_t wtype, int fixed)
{
    unsigned char buf[4096];
    hsize_t dims[1], maxdims[1] = {H5S_UNLIMITED}, chunk[1] = {256};
    hid_t d = H5Dopen2(f, p, H5P_DEFAULT), space = d >= 0 ? H5Dget_space(d) : -1;
    herr_t r = space >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) == 1 &&
                       dims[0] * H5Tget_size(rtype) <= sizeof buf
                   ? H5Dread(d, rtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)
                   : -1;
    if (space >= 0)
        H5Sclose(space);
    if (d >= 0)
        H5Dclose(d);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    space = H5Screate_simple(1, dims, fixed ? NULL : maxdims);
    d = H5I_INVALID_HID;
    if (r >= 0 && dcpl >= 0 && space >= 0 && (fixed || H5Pset_chunk(dcpl, 1, chunk) >= 0) &&
        H5Ldelete(f, p, H5P_DEFAULT) >= 0 &&
        (d = H5Dcreate2(f, p, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) >= 0)
        r = H5Dwrite(d, wtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0 || ot_h5_crc_set(d) ? -1
                                                                                          : 0;
    else
        r = -1;
    if (d >= 0)
        H5Dclose(d);
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return r < 0 ? -1 : 0;
}

/* The history file of 2 epochs in dir changed as how says, as a flipped bit or an edit would
 * change it, checksums renewed where the edit would renew them: "link" /epochs/test_acc
 * renamed test_acc\x01; "steps" /steps renamed; "f32" /epochs/test_acc stored as F32LE;
 * "bias" /epochs/train_loss's bytes as they were under a float64 type whose exponent bias is
 * 1022 (HDF5 converts from it); "u64" /epochs/epoch stored as U64LE; "created" the root
 * attribute created removed; "fv-f64" format_version an F64LE; "fv-3" format_version 3;
 * "crc" /epochs/test_acc's crc32 removed; "fixed" /epochs/lr of a fixed size; "rows" /epochs/lr
 * one row longer than /epochs/epoch. 0 or -1. */
static int change_history(const char *file, const char *how)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT), t = H5I_INVALID_HID;
    if (f < 0)
        return -1;
    int r = -1;
    if (strcmp(how, "link") == 0) {
        r = H5Lmove(f, "/epochs/test_acc", f, "/epochs/test_acc\x01", H5P_DEFAULT, H5P_DEFAULT);
    } else if (strcmp(how, "steps") == 0) {
        r = H5Lmove(f, "/steps", f, "/steps\x01", H5P_DEFAULT, H5P_DEFAULT);
    } else if (strcmp(how, "f32") == 0) {
        r = rewrite(f, "/epochs/test_acc", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, H5T_NATIVE_FLOAT, 0);
    } else if (strcmp(how, "bias") == 0) {
        if ((t = H5Tcopy(H5T_IEEE_F64LE)) >= 0 && H5Tset_ebias(t, 1022) >= 0)
            r = rewrite(f, "/epochs/train_loss", t, H5T_IEEE_F64LE, t, 0);
    } else if (strcmp(how, "u64") == 0) {
        r = rewrite(f, "/epochs/epoch", H5T_STD_U64LE, H5T_NATIVE_UINT64, H5T_NATIVE_UINT64, 0);
    } else if (strcmp(how, "created") == 0) {
        r = H5Adelete(f, "created") < 0 ? -1 : ot_h5_attrs_crc_set(f);
    } else if (strcmp(how, "fv-f64") == 0 || strcmp(how, "fv-3") == 0) {
        const double two = 2;
        const int three = 3;
        r = H5Adelete(f, "format_version") < 0 ||
                    (how[3] == 'f'
                         ? ot_h5_attr_scalar(f, "format_version", H5T_IEEE_F64LE,
                                             H5T_NATIVE_DOUBLE, &two)
                         : ot_h5_attr_scalar(f, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT,
                                             &three))
                ? -1
                : ot_h5_attrs_crc_set(f);
    } else if (strcmp(how, "crc") == 0) {
        r = H5Adelete_by_name(f, "/epochs/test_acc", OT_H5_CRC, H5P_DEFAULT) < 0 ? -1 : 0;
    } else if (strcmp(how, "fixed") == 0) {
        r = rewrite(f, "/epochs/lr", H5T_IEEE_F64LE, H5T_IEEE_F64LE, H5T_IEEE_F64LE, 1);
    } else if (strcmp(how, "rows") == 0) {
        hid_t d = H5Dopen2(f, "/epochs/lr", H5P_DEFAULT);
        hsize_t three = 3;
        r = d < 0 || H5Dset_extent(d, &three) < 0 || ot_h5_crc_set(d) ? -1 : 0;
        if (d >= 0)
            H5Dclose(d);
    }
    if (t >= 0)
        H5Tclose(t);
    return H5Fclose(f) < 0 || r < 0 ? -1 : 0;
}

/* What a checksum does not see, in a history that had passed verify: a damaged link name, a
 * damaged or changed datatype, a required attribute gone, a dataset that cannot grow or whose
 * rows disagree. verify and a resume's open (which had appended to it, or stopped on what
 * verify passed) refuse each with the same words, and the resume leaves the file alone. */
static void test_layout_damage(void)
{
    const struct {
        const char *how, *why;
    } cases[] = {
        {"link", "/epochs/test_acc is missing (not a complete omptrain history)"},
        {"steps", "/steps is missing (not a complete omptrain history)"},
        {"f32", "/epochs/test_acc is stored as F32LE, expected F64LE as omptrain writes it"},
        {"bias", "/epochs/train_loss is stored as F64LE of a non-IEEE layout, expected F64LE "
                 "as omptrain writes it"},
        {"u64", "/epochs/epoch is stored as U64LE, expected U32LE as omptrain writes it"},
        {"created", "attribute created of / is missing"},
        {"fv-f64", "attribute format_version of / is stored as F64LE, expected I32LE"},
        {"fv-3", "format_version 3, written by a later omptrain: this one (" OT_VERSION
                 ") reads history formats 1 to 2"},
        {"crc", "/epochs/test_acc has no checksum (attribute crc32)"},
        {"fixed", "/epochs/lr cannot grow (its maximum size is 2 rows), expected an unlimited "
                  "one as omptrain writes it"},
        {"rows", "/epochs/lr has 3 rows but /epochs/epoch has 2"},
    };
    char dir[256], file[300], good[300];
    ot_history_t h;
    ot_verify_t v;
    float loss[3] = {1, 2, 3};
    ot_epoch_stats_t st = {.threads = 1};
    ot_test_path(dir, sizeof dir, "layout");
    CU_ASSERT_FATAL(ot_output_dir_prepare(dir) == 0);
    snprintf(file, sizeof file, "%s/history.h5", dir);
    ot_test_path(good, sizeof good, "layout-good.h5");
    CU_ASSERT_FATAL(ot_history_open(&h, dir, 0, 0, 0, NULL) == 0);
    for (int e = 1; e <= 2; e++) {
        st.epoch = e;
        CU_ASSERT(ot_history_append(&h, (uint64_t)(e - 1) * 3, loss, 3, &st) == 0);
    }
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
    CU_ASSERT_FATAL(ot_ck_copy_file(file, good, 0) == 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_FATAL(ot_ck_copy_file(good, file, 0) == 0);
        CU_ASSERT_FATAL(change_history(file, cases[i].how) == 0);
        CU_ASSERT_EQUAL(ot_verify_file(file, &v), OT_EFORMAT);
        CU_ASSERT_STRING_EQUAL(v.kind, "history");
        CU_ASSERT_PTR_NOT_NULL(strstr(v.why, cases[i].why));
        if (!strstr(v.why, cases[i].why))
            fprintf(stderr, "\n  verify, %s: %s", cases[i].how, v.why);
        struct stat before, after;
        CU_ASSERT(stat(file, &before) == 0);
        OT_EXPECT_ONE_LINE(ot_history_open(&h, dir, 1, 6, 2, NULL), OT_EFORMAT, cases[i].why);
        ot_history_close(&h);
        CU_ASSERT(stat(file, &after) == 0 && after.st_size == before.st_size);
        CU_ASSERT_EQUAL(ot_verify_file(file, &v), OT_EFORMAT); /* as it was */
    }
    /* the history as written verifies and is resumed */
    CU_ASSERT_FATAL(ot_ck_copy_file(good, file, 0) == 0);
    CU_ASSERT_EQUAL(ot_verify_file(file, &v), OT_OK);
    CU_ASSERT_EQUAL(ot_history_open(&h, dir, 1, 6, 2, NULL), OT_OK);
    CU_ASSERT_EQUAL(h.n_epochs, 2);
    CU_ASSERT_EQUAL(ot_history_close(&h), 0);
}

OT_TEST_SUITE(history, setup, ot_test_scratch_free,
              {"history append, truncate, continue", test_history},
              {"declared rows checked before they are read", test_declared_rows},
              {"a failed append keeps the epochs before", test_full_disk},
              {"layout damage: verify and the resume refuse it alike", test_layout_damage})
