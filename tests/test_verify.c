/* test_verify.c - the verifier (src/verify.c) on files that declare odd things: what it reads
 * from a file is checked before it is read. */
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_test.h"
#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_h5.h"
#include "ot_test.h"
#include "ot_verify.h"

static int setup(void)
{
    return ot_test_scratch_init("verify");
}

/* A file whose root attribute format_version holds n integers (1, 2, ...), with its root
 * attributes' checksum renewed so that verification gets past it. */
static void make_format(const char *path, hsize_t n)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    int32_t v[4] = {2, 7, 9, 11};
    hid_t s = H5Screate_simple(1, &n, NULL);
    hid_t a = H5Acreate2(f, "format_version", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT32, v) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    CU_ASSERT(ot_h5_attrs_crc_set(f) == 0);
    H5Fclose(f);
}

/* fuzz_ckpt's first finding: a format_version of two integers was read into one int (a stack
 * overflow, under ASan). It is no version now; one integer still is. */
static void test_format_version_not_one_integer(void)
{
    char path[256];
    ot_verify_t v;
    ot_test_path(path, sizeof path, "two.h5");
    make_format(path, 2);
    memset(&v, 0x5a, sizeof v);
    (void)ot_verify_file(path, &v);
    CU_ASSERT_EQUAL(v.format_version, 0);
    ot_test_path(path, sizeof path, "one.h5");
    make_format(path, 1);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_OK);
    CU_ASSERT_EQUAL(v.format_version, 2);
    /* the input the fuzzer found, a checkpoint of tests/fuzz/configs/bn-adam.ini mutated */
    memset(&v, 0x5a, sizeof v);
    CU_ASSERT_EQUAL(ot_verify_file(OT_TEST_DIR "/fuzz/regress/ckpt/format-version-two-values.h5",
                                   &v), OT_EFORMAT);
    CU_ASSERT_EQUAL(v.format_version, 0);
}

/* A dataset omptrain would not write (here external storage, which would make HDF5 open
 * another file to checksum it) is named, not read. */
static void test_external_storage_not_read(void)
{
    char path[256];
    ot_verify_t v;
    ot_test_path(path, sizeof path, "external.h5");
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hsize_t n = 4;
    hid_t s = H5Screate_simple(1, &n, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "/nonexistent/omptrain-test-external", 0, H5F_UNLIMITED);
    hid_t d = H5Dcreate2(f, "x", H5T_IEEE_F32LE, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CU_ASSERT_FATAL(d >= 0);
    uint32_t crc = 0;
    hid_t one = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(d, OT_H5_CRC, H5T_STD_U32LE, one, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_UINT32, &crc) >= 0);
    H5Aclose(a);
    H5Sclose(one);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(s);
    CU_ASSERT(ot_h5_attrs_crc_set(f) == 0);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EFORMAT);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.why, "/x has its values in 1 external file"));
}

/* A file without HDF5's signature is not called damaged alone (verify prints NOT HDF5): it may
 * be a checkpoint whose first bytes were hit, or a text file given by mistake. */
static void test_not_hdf5(void)
{
    char path[256];
    ot_verify_t v;
    ot_test_path(path, sizeof path, "empty.h5");
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EFORMAT);
    CU_ASSERT_STRING_EQUAL(v.why, "an empty file");
    CU_ASSERT_FALSE(v.intact);
    CU_ASSERT_TRUE(v.not_hdf5);
    ot_test_path(path, sizeof path, "notes.txt");
    f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("[training]\nepochs = 3\n", f);
    fclose(f);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EFORMAT);
    CU_ASSERT_STRING_EQUAL(v.why, "no HDF5 signature (a damaged file, or another kind of file)");
    CU_ASSERT_TRUE(v.not_hdf5);
}

/* Only a regular file is opened: a character device read as "an empty file" (/dev/zero has
 * no size), and a FIFO would have had verify wait for a writer for ever. An empty path is said
 * to be one. */
static void test_not_a_regular_file(void)
{
    char path[256];
    ot_verify_t v;
    ot_test_path(path, sizeof path, "null.h5");
    CU_ASSERT_FATAL(ot_test_chardev(path, 0) == 0);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EIO);
    CU_ASSERT_FALSE(v.not_hdf5);
    CU_ASSERT_STRING_EQUAL(v.why, "is a character device, expected a checkpoint or history "
                           "file");
    /* a FIFO, held open here for reading and writing with bytes in it, so that a verifier
     * that opens it reads them (and does not hang this test) */
    ot_test_path(path, sizeof path, "fifo.h5");
    int fd = ot_test_fifo(path);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EIO);
    close(fd);
    CU_ASSERT_STRING_EQUAL(v.why, "is a FIFO (named pipe), expected a checkpoint or history "
                           "file");
    CU_ASSERT_EQUAL(ot_verify_file("", &v), OT_EIO);
    CU_ASSERT_STRING_EQUAL(v.why, "an empty path, expected a checkpoint or history file");
    CU_ASSERT_FALSE(v.intact);
}

/* A group whose attributes cannot be searched (here the dataspace message of one of them has
 * another version) is damaged: it had passed as a group without a checksum, and verify had
 * said ok of a checkpoint whose /input eval then called incomplete. */
static void test_group_attributes_unreadable(void)
{
    char path[256];
    ot_verify_t v;
    ot_test_path(path, sizeof path, "input.h5");
    make_format(path, 1);
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    hid_t g = H5Gcreate2(f, "input", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(g >= 0);
    CU_ASSERT(ot_h5_attr_str(g, "normalize", "none") == 0);
    CU_ASSERT(ot_h5_attrs_crc_set(g) == 0);
    H5Gclose(g);
    H5Fclose(f);
    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_OK);

    /* the attribute message (version 1): version, reserved, the sizes of its name, datatype and
     * dataspace (2 bytes each), then each of them padded to 8 bytes */
    static unsigned char b[1 << 16];
    FILE *fp = fopen(path, "rb");
    CU_ASSERT_FATAL(fp != NULL);
    size_t n = fread(b, 1, sizeof b, fp);
    fclose(fp);
    CU_ASSERT_FATAL(n > 0 && n < sizeof b);
    size_t at = 0;
    while (at + 10 <= n && memcmp(b + at, "normalize", 10) != 0)
        at++;
    CU_ASSERT_FATAL(at >= 8 && at + 10 <= n && b[at - 8] == 1);
    const size_t name = b[at - 6] | b[at - 5] << 8, type = b[at - 4] | b[at - 3] << 8;
    const size_t space = at + (name + 7) / 8 * 8 + (type + 7) / 8 * 8;
    CU_ASSERT_FATAL(space < n && (b[space] == 1 || b[space] == 2));
    b[space] ^= 0x80;
    fp = fopen(path, "wb");
    CU_ASSERT_FATAL(fp != NULL);
    CU_ASSERT(fwrite(b, 1, n, fp) == n);
    fclose(fp);

    CU_ASSERT_EQUAL(ot_verify_file(path, &v), OT_EFORMAT);
    CU_ASSERT_STRING_EQUAL(v.why, "/input: its attributes cannot be read (damaged file?)");
}

/* good copied to bad, then one thing of it changed as a flipped bit on disk would change it,
 * with no checksum renewed unless said: "beta1" /optimizer's attribute beta1 another value;
 * "optimizer-crc", "input-crc", "root-crc" the crc32 attribute of /optimizer, /input or the
 * root renamed (crc33); "link" /state/epoch renamed "epoch\x01"; "float-type"
 * /state/best_val_loss stored with its bytes as they were but a float64 type whose exponent
 * bias is 1022 (HDF5 converts from it; its checksum, of the bytes, still agrees); "before"
 * the file as a build before the groups' checksums wrote it (no crc32 on /optimizer, no root
 * attribute crc32_groups; the root's checksum renewed). 0 or -1. */
static int change(const char *good, const char *bad, const char *what)
{
    if (ot_ck_copy_file(good, bad, 0))
        return -1;
    hid_t f = H5Fopen(bad, H5F_ACC_RDWR, H5P_DEFAULT);
    if (f < 0)
        return -1;
    herr_t r = -1;
    if (strcmp(what, "beta1") == 0) {
        hid_t g = H5Gopen2(f, "/optimizer", H5P_DEFAULT);
        hid_t a = g >= 0 ? H5Aopen(g, "beta1", H5P_DEFAULT) : -1;
        double v = 0.45;
        r = a >= 0 ? H5Awrite(a, H5T_NATIVE_DOUBLE, &v) : -1;
        if (a >= 0)
            H5Aclose(a);
        if (g >= 0)
            H5Gclose(g);
    } else if (strcmp(what, "optimizer-crc") == 0 || strcmp(what, "input-crc") == 0 ||
               strcmp(what, "root-crc") == 0) {
        const char *obj = what[0] == 'o' ? "/optimizer" : what[0] == 'i' ? "/input" : "/";
        r = H5Arename_by_name(f, obj, OT_H5_CRC, "crc33", H5P_DEFAULT);
    } else if (strcmp(what, "link") == 0) {
        r = H5Lmove(f, "/state/epoch", f, "/state/epoch\x01", H5P_DEFAULT, H5P_DEFAULT);
    } else if (strcmp(what, "float-type") == 0) {
        unsigned char bytes[8];
        hid_t d = H5Dopen2(f, "/state/best_val_loss", H5P_DEFAULT), t = H5Tcopy(H5T_IEEE_F64LE),
              one = H5Screate(H5S_SCALAR);
        r = d >= 0 ? H5Dread(d, H5T_IEEE_F64LE, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes) : -1;
        if (d >= 0)
            H5Dclose(d);
        if (r >= 0)
            r = H5Tset_ebias(t, 1022);
        if (r >= 0)
            r = H5Ldelete(f, "/state/best_val_loss", H5P_DEFAULT);
        if (r >= 0 && (d = H5Dcreate2(f, "/state/best_val_loss", t, one, H5P_DEFAULT,
                                      H5P_DEFAULT, H5P_DEFAULT)) >= 0) {
            r = H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes); /* the bytes as they were */
            if (r >= 0)
                r = ot_h5_crc_set(d);
            H5Dclose(d);
        }
        H5Tclose(t);
        H5Sclose(one);
    } else if (strcmp(what, "model-link") == 0) { /* a flipped bit in a tensor's link name */
        r = H5Lmove(f, "/model/affine1/W", f, "/model/affine1/V", H5P_DEFAULT, H5P_DEFAULT);
    } else if (strcmp(what, "model-shape") == 0) { /* a bias one longer, its checksum renewed */
        hsize_t len = 0;
        hid_t d = H5Dopen2(f, "/model/affine1/b", H5P_DEFAULT);
        hid_t s = d >= 0 ? H5Dget_space(d) : -1;
        r = s >= 0 ? H5Sget_simple_extent_dims(s, &len, NULL) : -1;
        if (s >= 0)
            H5Sclose(s);
        if (d >= 0)
            H5Dclose(d);
        float *v = calloc((size_t)len + 1, sizeof *v);
        len++;
        hid_t s2 = H5Screate_simple(1, &len, NULL);
        if (r >= 0 && v && (r = H5Ldelete(f, "/model/affine1/b", H5P_DEFAULT)) >= 0 &&
            (d = H5Dcreate2(f, "/model/affine1/b", H5T_IEEE_F32LE, s2, H5P_DEFAULT, H5P_DEFAULT,
                            H5P_DEFAULT)) >= 0) {
            r = H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
            if (r >= 0)
                r = ot_h5_crc_set(d);
            H5Dclose(d);
        } else {
            r = -1;
        }
        H5Sclose(s2);
        free(v);
    } else if (strncmp(what, "format3", 7) == 0) { /* "format3-stamped": checksum renewed */
        const int32_t three = 3;
        hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
        r = a >= 0 ? H5Awrite(a, H5T_NATIVE_INT32, &three) : -1;
        if (a >= 0)
            H5Aclose(a);
        if (r >= 0 && strcmp(what, "format3-stamped") == 0)
            r = ot_h5_attrs_crc_set(f);
    } else if (strcmp(what, "before") == 0) {
        r = H5Adelete_by_name(f, "/optimizer", OT_H5_CRC, H5P_DEFAULT);
        if (r >= 0)
            r = H5Adelete(f, OT_H5_CRC_GROUPS);
        if (r >= 0)
            r = ot_h5_attrs_crc_set(f);
    }
    return H5Fclose(f) < 0 || r < 0 ? -1 : 0;
}

/* A small trainer's checkpoint written to scratch good.h5 (good: 256 bytes), and the scratch
 * path bad_name (bad: 256 bytes) for its damaged copies. */
static void good_checkpoint(ot_trainer_t *t, char *good, char *bad, const char *bad_name)
{
    CU_ASSERT_FATAL(ot_ck_make_trainer(t, 9, 20, 300) == 0);
    ot_test_path(good, 256, "good.h5");
    ot_test_path(bad, 256, bad_name);
    CU_ASSERT_FATAL(ot_ckpt_write(t, good) == 0);
}

/* What the audit of every single-bit flip of a checkpoint found passing verify while it changed
 * what a loader gets: each is damage now, said in one line that eval and --resume say too. A
 * checkpoint as the build before wrote it (no checksum on /optimizer) still verifies and
 * loads. */
static void test_damage_that_had_passed(void)
{
    ot_trainer_t t;
    char good[256], bad[256];
    ot_verify_t v;
    good_checkpoint(&t, good, bad, "bad.h5");
    CU_ASSERT_EQUAL(ot_verify_file(good, &v), OT_OK);
    const struct {
        const char *what, *why;
    } cases[] = {
        {"beta1", "/optimizer: its attributes are damaged: their checksum is 0x"},
        {"optimizer-crc", "/optimizer has no checksum over its attributes (attribute crc32), "
                          "which this file's format writes"},
        {"input-crc", "/input has no checksum over its attributes (attribute crc32), which this "
                      "file's format writes"},
        {"root-crc", "the root attributes have no checksum (attribute crc32), which format 2 "
                     "writes"},
        {"link", "/state/epoch is missing (not a complete omptrain checkpoint)"},
        {"float-type", "/state/best_val_loss is stored as F64LE of a non-IEEE layout, expected "
                       "F64LE as omptrain writes it"},
        {"model-link", "/model/affine1/W is missing (not a complete omptrain checkpoint)"},
        {"model-shape", "/model/affine1/b has shape 21, expected 20"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CU_ASSERT_FATAL(change(good, bad, cases[i].what) == 0);
        CU_ASSERT_EQUAL(ot_verify_file(bad, &v), OT_EFORMAT);
        CU_ASSERT_FALSE(v.unchecked);
        CU_ASSERT_PTR_NOT_NULL(strstr(v.why, cases[i].why));
        if (!strstr(v.why, cases[i].why))
            fprintf(stderr, "\n  %s: %s", cases[i].what, v.why);
        OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, cases[i].why);
        OT_EXPECT_ONE_LINE(ot_ckpt_info(bad, &(ot_ckpt_info_t){0}), OT_EFORMAT, cases[i].why);
    }
    CU_ASSERT_FATAL(change(good, bad, "before") == 0);
    CU_ASSERT_EQUAL(ot_verify_file(bad, &v), OT_OK);
    CU_ASSERT_EQUAL(ot_ckpt_load(bad, &t), OT_OK);
    ot_trainer_free(&t);
}

/* A checkpoint of a format past this build's, its root attributes intact, is a later
 * omptrain's, not damaged: verify says so (NEWER FORMAT), and so do the loaders, in one line.
 * The same version without its checksum renewed is damage (a flipped bit of the version). */
static void test_newer_format(void)
{
    ot_trainer_t t;
    char good[256], bad[256];
    ot_verify_t v;
    good_checkpoint(&t, good, bad, "newer.h5");
    const char *want = "format_version 3, written by a later omptrain: this one (" OT_VERSION
                       ") reads checkpoint formats 1 to 2";
    CU_ASSERT_FATAL(change(good, bad, "format3-stamped") == 0);
    CU_ASSERT_EQUAL(ot_verify_file(bad, &v), OT_EFORMAT);
    CU_ASSERT_EQUAL(v.newer, 1);
    CU_ASSERT_STRING_EQUAL(v.why, want);
    OT_EXPECT_ONE_LINE(ot_ckpt_load(bad, &t), OT_EFORMAT, want);
    CU_ASSERT_FATAL(change(good, bad, "format3") == 0);
    CU_ASSERT_EQUAL(ot_verify_file(bad, &v), OT_EFORMAT);
    CU_ASSERT_EQUAL(v.newer, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v.why, "the root attributes are damaged"));
    /* a run directory of such a checkpoint alone: skipped for its reason, and the summary does
     * not call it damaged */
    char dir[256], in_dir[300], want2[1024];
    ot_test_path(dir, sizeof dir, "newer-run");
    CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
    snprintf(in_dir, sizeof in_dir, "%s/checkpoint-e0001.h5", dir);
    CU_ASSERT_FATAL(change(good, in_dir, "format3-stamped") == 0);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_verify_newest(dir, bad, sizeof bad), OT_EFORMAT);
    char *got = ot_test_capture_end();
    snprintf(want2, sizeof want2, "omptrain: %s: skipped: %s\nomptrain: %s: no checkpoint that "
             "verifies (1 checkpoint-eNNNN.h5 file, each skipped above)\n", in_dir, want, dir);
    CU_ASSERT_STRING_EQUAL(got, want2);
    free(got);
    ot_trainer_free(&t);
}

/* An HDF5 file at path with a top-level group (group) and a root attribute (attr), either
 * NULL for none. */
static void make_named(const char *path, const char *group, const char *attr)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(f >= 0);
    if (attr) {
        hid_t s = H5Screate(H5S_SCALAR);
        hid_t a = H5Acreate2(f, attr, H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT);
        const int32_t one = 1;
        CU_ASSERT(a >= 0 && H5Awrite(a, H5T_NATIVE_INT32, &one) >= 0);
        H5Aclose(a);
        H5Sclose(s);
    }
    if (group) {
        hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        CU_ASSERT(g >= 0);
        H5Gclose(g);
    }
    H5Fclose(f);
}

/* An output is not written over a checkpoint or history, known by the names verify knows them
 * by: a history with /epochs alone (its link name "steps" damaged) had been replaceable, and so
 * had a checkpoint whose link name "model" is damaged (its attribute config and /state left).
 * Anything else may be replaced: predict's own output, which carries the attribute config
 * without /state, for one. */
static void test_replaceable(void)
{
    static const struct {
        const char *group, *attr;
        const char *kind; /* NULL: replaceable */
    } cases[] = {
        {"model", NULL, "checkpoint"}, {"state", "config", "checkpoint"},
        {"steps", NULL, "history"},    {"epochs", NULL, "history"},
        {NULL, "config", NULL},        {"probabilities", "config", NULL},
        {"other", NULL, NULL},         {NULL, "other", NULL},
    };
    char path[256], want[512];
    ot_test_path(path, sizeof path, "out.h5");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_named(path, cases[i].group, cases[i].attr);
        if (cases[i].kind) {
            snprintf(want, sizeof want, "%s: holds an omptrain %s, which this would replace; "
                     "expected another file name", path, cases[i].kind);
            OT_EXPECT_ONE_LINE(ot_verify_replaceable(path), OT_EIO, want);
        } else {
            CU_ASSERT_EQUAL(ot_verify_replaceable(path), OT_OK);
        }
    }
    ot_test_path(path, sizeof path, "absent.h5");
    CU_ASSERT_EQUAL(ot_verify_replaceable(path), OT_OK);
}

OT_TEST_SUITE(verify, setup, ot_test_scratch_free,
              {"format_version not one integer", test_format_version_not_one_integer},
              {"external storage named, not read", test_external_storage_not_read},
              {"a file that is not HDF5", test_not_hdf5},
              {"not a regular file, or an empty path", test_not_a_regular_file},
              {"a group's attributes unreadable", test_group_attributes_unreadable},
              {"damage that had passed verify", test_damage_that_had_passed},
              {"a later omptrain's format", test_newer_format},
              {"what an output may replace", test_replaceable})
