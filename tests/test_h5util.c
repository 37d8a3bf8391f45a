/* test_h5util.c - the HDF5 helpers (src/h5util.c) on objects made here, in the suite's scratch
 * directory or in memory: HDF5's error printer silenced and put back, dataspaces, attributes,
 * the reason of a failure, the checksums of datasets and attributes (one flipped value found),
 * file images, the storage, type and link checks on a file from someone else (each refusal with
 * its words), ot_h5_open_ds's one-line refusals, the layout check's entries, and the UTC time
 * stamp. */
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "ot_common.h"
#include "ot_h5.h"
#include "ot_test.h"

static int setup(void)
{
    return ot_test_scratch_init("h5util");
}

/* A new HDF5 file: in the scratch directory (name), or in memory (core driver, no backing
 * store) when mem; < 0 on failure. */
static hid_t new_file(const char *name, int mem)
{
    char p[256];
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), f = H5I_INVALID_HID;
    if (fapl < 0 || (mem && H5Pset_fapl_core(fapl, 1 << 16, 0) < 0))
        goto out;
    f = H5Fcreate(mem ? name : ot_test_path(p, sizeof p, name), H5F_ACC_TRUNC, H5P_DEFAULT,
                  fapl);
out:
    if (fapl >= 0)
        H5Pclose(fapl);
    return f;
}

/* Dataset name of file type ftype and shape dims (rank 0: a scalar) under loc with creation
 * properties dcpl, written from buf (NULL: left unwritten); its id, or < 0. */
static hid_t make_ds(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                     hid_t dcpl, hid_t mtype, const void *buf)
{
    hid_t s = ot_h5_space(rank, dims), d = H5I_INVALID_HID;
    if (s >= 0)
        d = H5Dcreate2(loc, name, ftype, s, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0 && buf && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        H5Dclose(d);
        d = H5I_INVALID_HID;
    }
    if (s >= 0)
        H5Sclose(s);
    return d;
}

/* attributes of obj, or -1 */
static long n_attrs(hid_t obj)
{
    H5O_info_t oi;
    return H5Oget_info2(obj, &oi, H5O_INFO_NUM_ATTRS) < 0 ? -1 : (long)oi.num_attrs;
}

static uint32_t crc_of(const void *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* a dataset's crc32 attribute, or 0 */
static uint32_t stored(hid_t d)
{
    uint32_t v = 0;
    hid_t a = H5Aopen(d, OT_H5_CRC, H5P_DEFAULT);
    if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_UINT32, &v) < 0)
            v = 0;
        H5Aclose(a);
    }
    return v;
}

/* ---------------------------------------------------------------- error printer */

static int printed;

static herr_t count_printer(hid_t stack, void *data)
{
    (void)stack;
    (*(int *)data)++;
    return 0;
}

/* ot_h5_quiet saves the installed printer and installs none; ot_h5_restore puts the saved
 * one back: an HDF5 failure reaches it again. */
static void test_quiet_restore(void)
{
    H5E_auto2_t fn0, fn;
    void *data0, *data;
    CU_ASSERT_FATAL(H5Eget_auto2(H5E_DEFAULT, &fn0, &data0) >= 0);
    CU_ASSERT_FATAL(H5Eset_auto2(H5E_DEFAULT, count_printer, &printed) >= 0);
    hid_t f = new_file("quiet.h5", 1);
    CU_ASSERT_FATAL(f >= 0);
    printed = 0;
    CU_ASSERT(H5Dopen2(f, "nothing", H5P_DEFAULT) < 0);
    CU_ASSERT_EQUAL(printed, 1); /* guard: the printer is called on a failure */

    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    CU_ASSERT(q.fn == count_printer);
    CU_ASSERT(q.data == &printed);
    CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &fn, &data) >= 0);
    CU_ASSERT(fn == NULL);
    CU_ASSERT(H5Dopen2(f, "nothing", H5P_DEFAULT) < 0);
    CU_ASSERT_EQUAL(printed, 1);

    ot_h5_restore(&q);
    CU_ASSERT(H5Eget_auto2(H5E_DEFAULT, &fn, &data) >= 0);
    CU_ASSERT(fn == count_printer && data == &printed);
    CU_ASSERT(H5Dopen2(f, "nothing", H5P_DEFAULT) < 0);
    CU_ASSERT_EQUAL(printed, 2);
    H5Fclose(f);
    H5Eset_auto2(H5E_DEFAULT, fn0, data0);
}

/* ---------------------------------------------------------------- dataspaces, attributes */

static void test_space(void)
{
    hid_t s = ot_h5_space(0, NULL);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_type(s), H5S_SCALAR);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_npoints(s), 1);
    H5Sclose(s);
    hsize_t dims[3] = {3, 4, 5}, got[3] = {0};
    s = ot_h5_space(3, dims);
    CU_ASSERT_FATAL(s >= 0);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_type(s), H5S_SIMPLE);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_dims(s, got, NULL), 3);
    CU_ASSERT(got[0] == 3 && got[1] == 4 && got[2] == 5);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_npoints(s), 60);
    H5Sclose(s);
}

/* A shape as the messages write it: "scalar", one axis, several; cut to the buffer. */
static void test_dims_str(void)
{
    const hsize_t d[3] = {60000, 28, 28};
    char buf[32], small[8];
    CU_ASSERT_STRING_EQUAL(ot_h5_dims_str(0, NULL, buf, sizeof buf), "scalar");
    CU_ASSERT_STRING_EQUAL(ot_h5_dims_str(1, d + 1, buf, sizeof buf), "28");
    CU_ASSERT_PTR_EQUAL(ot_h5_dims_str(3, d, buf, sizeof buf), buf);
    CU_ASSERT_STRING_EQUAL(buf, "60000x28x28");
    CU_ASSERT_STRING_EQUAL(ot_h5_dims_str(3, d, small, sizeof small), "60000x2");
}

/* attr_open: the attribute, its type and dataspace, or -1 with nothing left open; attr_close
 * closes what opened and marks it closed. */
static void test_attr_open(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("attr-open.h5", 1);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_FATAL(ot_h5_attr_str(f, "name", "adam") == 0);
    ot_h5_attr_t at;
    CU_ASSERT_EQUAL(ot_h5_attr_open(f, "name", &at), 0);
    CU_ASSERT(at.a >= 0 && at.type >= 0 && at.space >= 0);
    CU_ASSERT_EQUAL(H5Tget_class(at.type), H5T_STRING);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_npoints(at.space), 1);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ATTR), 1); /* guard: the count sees it */
    ot_h5_attr_close(&at);
    CU_ASSERT(at.a < 0 && at.type < 0 && at.space < 0);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ATTR), 0);
    CU_ASSERT_EQUAL(ot_h5_attr_open(f, "missing", &at), -1);
    CU_ASSERT(at.a < 0 && at.type < 0 && at.space < 0);
    ot_h5_attr_close(&at); /* nothing to close */
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ATTR), 0);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* write_ds: a dataset of the file type and shape asked for, its values and its checksum,
 * groups made on the way with an lcpl that makes them; an empty one from NULL; a failure is -1
 * with HDF5's reason, nothing left open. */
static void test_write_ds(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("write-ds.h5", 1), lcpl = H5Pcreate(H5P_LINK_CREATE), d;
    CU_ASSERT_FATAL(f >= 0 && lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0);
    const float x[6] = {1.5f, -2.0f, 0.25f, 3.0f, 1e-7f, -0.0f};
    const hsize_t dims[2] = {2, 3}, none[1] = {0};
    const uint64_t t = 0x0102030405060708ull;
    char reason[128] = "";
    CU_ASSERT_EQUAL(ot_h5_write_ds(f, "/g/h/x", lcpl, H5T_IEEE_F32BE, H5T_NATIVE_FLOAT, 2, dims, x,
                                   reason), 0);
    CU_ASSERT_EQUAL(ot_h5_write_ds(f, "t", H5P_DEFAULT, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, NULL,
                                   &t, reason), 0);
    CU_ASSERT_EQUAL(ot_h5_write_ds(f, "empty", H5P_DEFAULT, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 1,
                                   none, NULL, reason), 0);
    CU_ASSERT_STRING_EQUAL(reason, "");
    float back[6] = {0};
    uint64_t t_back = 0;
    uint32_t have = 0, want = 1;
    hsize_t got[2] = {0};
    CU_ASSERT_FATAL((d = H5Dopen2(f, "/g/h/x", H5P_DEFAULT)) >= 0);
    hid_t type = H5Dget_type(d), space = H5Dget_space(d);
    CU_ASSERT(H5Tequal(type, H5T_IEEE_F32BE) > 0);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_dims(space, got, NULL), 2);
    CU_ASSERT(got[0] == 2 && got[1] == 3);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, back) >= 0);
    CU_ASSERT_EQUAL(memcmp(back, x, sizeof x), 0);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 0);
    CU_ASSERT_EQUAL(have, want);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = H5Dopen2(f, "t", H5P_DEFAULT)) >= 0);
    space = H5Dget_space(d);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_type(space), H5S_SCALAR);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &t_back) >= 0);
    CU_ASSERT(t_back == t);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 0);
    H5Sclose(space);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = H5Dopen2(f, "empty", H5P_DEFAULT)) >= 0);
    space = H5Dget_space(d);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_npoints(space), 0);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 0);
    H5Sclose(space);
    H5Dclose(d);
    /* a name taken: -1, HDF5's reason, no dataset or dataspace left open */
    CU_ASSERT_EQUAL(ot_h5_write_ds(f, "t", H5P_DEFAULT, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, NULL,
                                   &t, reason), -1);
    CU_ASSERT(reason[0] != '\0' && strcmp(reason, "HDF5 error") != 0);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_DATASET), 0);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_DATASET | H5F_OBJ_DATATYPE | H5F_OBJ_ATTR), 0);
    H5Pclose(lcpl);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* A string attribute is a scalar NUL-terminated UTF-8 string of the value's length; a
 * scalar one has the file type asked for and the value given; an existing name is -1. */
static void test_attrs(void)
{
    hid_t f = new_file("attrs.h5", 1), a, t, s;
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_EQUAL(ot_h5_attr_str(f, "name", "adam"), 0);
    uint64_t big = 0x0102030405060708ull, back = 0;
    CU_ASSERT_EQUAL(ot_h5_attr_scalar(f, "big", H5T_STD_U64BE, H5T_NATIVE_UINT64, &big), 0);
    double lr = 0.125, lr_back = 0;
    CU_ASSERT_EQUAL(ot_h5_attr_scalar(f, "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &lr), 0);

    CU_ASSERT_FATAL((a = H5Aopen(f, "name", H5P_DEFAULT)) >= 0);
    t = H5Aget_type(a);
    s = H5Aget_space(a);
    CU_ASSERT_EQUAL(H5Tget_class(t), H5T_STRING);
    CU_ASSERT_EQUAL(H5Tget_size(t), 5);
    CU_ASSERT_EQUAL(H5Tis_variable_str(t), 0);
    CU_ASSERT_EQUAL(H5Tget_strpad(t), H5T_STR_NULLTERM);
    CU_ASSERT_EQUAL(H5Tget_cset(t), H5T_CSET_UTF8);
    CU_ASSERT_EQUAL(H5Sget_simple_extent_type(s), H5S_SCALAR);
    char text[8] = "xxxxxxx";
    CU_ASSERT(H5Aread(a, t, text) >= 0);
    CU_ASSERT_STRING_EQUAL(text, "adam");
    H5Sclose(s);
    H5Tclose(t);
    H5Aclose(a);

    CU_ASSERT_FATAL((a = H5Aopen(f, "big", H5P_DEFAULT)) >= 0);
    t = H5Aget_type(a);
    CU_ASSERT(H5Tequal(t, H5T_STD_U64BE) > 0);
    CU_ASSERT(H5Aread(a, H5T_NATIVE_UINT64, &back) >= 0);
    CU_ASSERT_EQUAL(back, big);
    H5Tclose(t);
    H5Aclose(a);
    CU_ASSERT_FATAL((a = H5Aopen(f, "lr", H5P_DEFAULT)) >= 0);
    t = H5Aget_type(a);
    CU_ASSERT(H5Tequal(t, H5T_IEEE_F64LE) > 0);
    CU_ASSERT(H5Aread(a, H5T_NATIVE_DOUBLE, &lr_back) >= 0);
    CU_ASSERT_EQUAL(lr_back, 0.125);
    H5Tclose(t);
    H5Aclose(a);

    /* an attribute that is there already: -1, no message */
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    char txt[256];
    ot_test_capture_begin();
    int r1 = ot_h5_attr_str(f, "name", "sgd");
    int r2 = ot_h5_attr_scalar(f, "lr", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &lr);
    CU_ASSERT_EQUAL(ot_test_capture_lines(txt, sizeof txt), 0);
    ot_h5_restore(&q);
    CU_ASSERT_EQUAL(r1, -1);
    CU_ASSERT_EQUAL(r2, -1);
    CU_ASSERT_EQUAL(n_attrs(f), 3);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1); /* nothing left open */
    H5Fclose(f);
}

/* Reading attributes back: a string cut to fit, a number in the memory type asked for, and
 * each way of being wrong named in why, with nothing left open. */
static void test_attr_get(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("attr-get.h5", 1);
    CU_ASSERT_FATAL(f >= 0);
    uint64_t big = 0x0102030405060708ull, back = 0;
    double half = 0.5, half_back = 0.0;
    CU_ASSERT_FATAL(ot_h5_attr_str(f, "name", "momentum") == 0);
    CU_ASSERT_FATAL(ot_h5_attr_scalar(f, "big", H5T_STD_U64BE, H5T_NATIVE_UINT64, &big) == 0);
    CU_ASSERT_FATAL(ot_h5_attr_scalar(f, "half", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &half) == 0);
    char text[16], why[128];
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "name", H5T_STRING, -1, text, sizeof text, 16, why,
                                   sizeof why), 0);
    CU_ASSERT_STRING_EQUAL(text, "momentum");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "name", H5T_STRING, -1, text, 4, 16, why, sizeof why), 0);
    CU_ASSERT_STRING_EQUAL(text, "mom"); /* cut to out's size */
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "big", H5T_INTEGER, H5T_NATIVE_UINT64, &back, 0, 0, why,
                                   sizeof why), 0);
    CU_ASSERT_EQUAL(back, big);
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "half", H5T_FLOAT, H5T_NATIVE_DOUBLE, &half_back, 0, 0,
                                   NULL, 0), 0);
    CU_ASSERT_EQUAL(half_back, 0.5);

    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "none", H5T_INTEGER, H5T_NATIVE_INT, &back, 0, 0, why,
                                   sizeof why), OT_H5_ATTR_MISSING);
    CU_ASSERT_STRING_EQUAL(why, "is missing");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "name", H5T_INTEGER, H5T_NATIVE_INT, &back, 0, 0, why,
                                   sizeof why), OT_H5_ATTR_BAD);
    CU_ASSERT_STRING_EQUAL(why, "must be a single integer");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "big", H5T_STRING, -1, text, sizeof text, 16, why,
                                   sizeof why), OT_H5_ATTR_BAD);
    CU_ASSERT_STRING_EQUAL(why, "must be a single fixed-length string");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "big", H5T_FLOAT, H5T_NATIVE_DOUBLE, &half_back, 0, 0, why,
                                   sizeof why), OT_H5_ATTR_BAD);
    CU_ASSERT_STRING_EQUAL(why, "must be a single float");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "name", H5T_STRING, -1, text, sizeof text, 8, why,
                                   sizeof why), OT_H5_ATTR_BAD); /* 9 bytes with the NUL */
    CU_ASSERT_STRING_EQUAL(why, "is a string of 9 bytes, expected 1 to 8");

    /* a variable-length string and an array of two are not single values */
    hid_t vl = H5Tcopy(H5T_C_S1), one = H5Screate(H5S_SCALAR), a;
    H5Tset_size(vl, H5T_VARIABLE);
    const char *word = "vl";
    CU_ASSERT_FATAL((a = H5Acreate2(f, "vl", vl, one, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Awrite(a, vl, &word) >= 0);
    H5Aclose(a);
    const hsize_t two = 2;
    const int32_t pair[2] = {1, 2};
    hid_t s2 = H5Screate_simple(1, &two, NULL);
    CU_ASSERT_FATAL((a = H5Acreate2(f, "pair", H5T_STD_I32LE, s2, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT32, pair) >= 0);
    H5Aclose(a);
    H5Sclose(s2);
    H5Sclose(one);
    H5Tclose(vl);
    int32_t v = 7;
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "vl", H5T_STRING, -1, text, sizeof text, 16, why,
                                   sizeof why), OT_H5_ATTR_BAD);
    CU_ASSERT_STRING_EQUAL(why, "must be a single fixed-length string");
    CU_ASSERT_EQUAL(ot_h5_attr_get(f, "pair", H5T_INTEGER, H5T_NATIVE_INT32, &v, 0, 0, why,
                                   sizeof why), OT_H5_ATTR_BAD);
    CU_ASSERT_STRING_EQUAL(why, "must be a single integer");
    CU_ASSERT_EQUAL(v, 7); /* nothing read */
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1); /* nothing left open */
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* The reason of the last failure: the system's for a file driver error, else HDF5's own
 * description; "HDF5 error" with nothing on the stack. */
static void test_reason(void)
{
    char buf[128], p[256];
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    CU_ASSERT(H5Fopen(ot_test_path(p, sizeof p, "no/such.h5"), H5F_ACC_RDONLY, H5P_DEFAULT) < 0);
    CU_ASSERT_STRING_EQUAL(ot_h5_reason(buf), "No such file or directory");
    hid_t f = new_file("reason.h5", 1);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT(H5Gopen2(f, "nothing", H5P_DEFAULT) < 0);
    CU_ASSERT_STRING_EQUAL(ot_h5_reason(buf), "object 'nothing' doesn't exist");
    H5Eclear2(H5E_DEFAULT);
    CU_ASSERT_STRING_EQUAL(ot_h5_reason(buf), "HDF5 error");
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* ---------------------------------------------------------------- checksums */

/* crc32 of a dataset's values little-endian in their own type, whatever byte order the file
 * has: a pinned value ("123456789" is zlib's check 0xcbf43926), a big-endian dataset, a
 * scalar, an empty one, and datasets of more than OT_H5_SLAB bytes read in slabs (a partial
 * last block of rows, several rows of the axis before it). */
static void test_crc_values(void)
{
    hid_t f = new_file("crc.h5", 1), d;
    CU_ASSERT_FATAL(f >= 0);
    uint32_t crc = 0;

    hid_t s9 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s9, 9);
    CU_ASSERT_FATAL((d = make_ds(f, "check", s9, 0, NULL, H5P_DEFAULT, s9, "123456789")) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, 0xcbf43926u);
    H5Dclose(d);
    H5Tclose(s9);

    /* the values' little-endian bytes, from a big-endian and a little-endian dataset */
    int32_t v[3] = {1, -2, 300000};
    const unsigned char le[12] = {1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xe0, 0x93, 0x04, 0};
    hsize_t n3 = 3;
    CU_ASSERT_FATAL((d = make_ds(f, "be", H5T_STD_I32BE, 1, &n3, H5P_DEFAULT, H5T_NATIVE_INT32,
                                 v)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(le, sizeof le));
    H5Dclose(d);
    CU_ASSERT_FATAL((d = make_ds(f, "le", H5T_STD_I32LE, 1, &n3, H5P_DEFAULT, H5T_NATIVE_INT32,
                                 v)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(le, sizeof le));
    H5Dclose(d);

    double x = 0.5; /* 0x3fe0000000000000 */
    const unsigned char xle[8] = {0, 0, 0, 0, 0, 0, 0xe0, 0x3f};
    CU_ASSERT_FATAL((d = make_ds(f, "scalar", H5T_IEEE_F64BE, 0, NULL, H5P_DEFAULT,
                                 H5T_NATIVE_DOUBLE, &x)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(xle, sizeof xle));
    H5Dclose(d);

    hsize_t zero = 0;
    crc = 77;
    CU_ASSERT_FATAL((d = make_ds(f, "empty", H5T_IEEE_F32LE, 1, &zero, H5P_DEFAULT,
                                 H5T_NATIVE_FLOAT, NULL)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, 0);
    H5Dclose(d);

    /* 2 x 2 x 3 x 350000 bytes: rows of 350000 bytes, two at a time (the last block of
     * one), for each index of the first two axes (the last one fastest) */
    hsize_t big[4] = {2, 2, 3, 350000};
    size_t nb = 2 * 2 * 3 * 350000;
    unsigned char *b = malloc(nb);
    CU_ASSERT_FATAL(b != NULL);
    for (size_t i = 0; i < nb; i++)
        b[i] = (unsigned char)((i * 2654435761u) >> 13);
    CU_ASSERT_FATAL((d = make_ds(f, "slabs", H5T_STD_U8LE, 4, big, H5P_DEFAULT,
                                 H5T_NATIVE_UCHAR, b)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(b, nb));
    H5Dclose(d);
    /* 2 x (OT_H5_SLAB + 1) bytes: each row in two reads, the second of one value */
    hsize_t wide[2] = {2, OT_H5_SLAB + 1};
    CU_ASSERT_FATAL((d = make_ds(f, "wide", H5T_STD_U8LE, 2, wide, H5P_DEFAULT,
                                 H5T_NATIVE_UCHAR, b)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(b, 2 * (OT_H5_SLAB + 1)));
    H5Dclose(d);
    free(b);
    H5Fclose(f);
}

/* Values that are not plain bytes (variable-length strings would give pointers, compounds
 * are not omptrain's) are not checksummed: -1. */
static void test_crc_refuses(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("crc-refuses.h5", 1), d;
    CU_ASSERT_FATAL(f >= 0);
    hid_t vl = H5Tcopy(H5T_C_S1);
    H5Tset_size(vl, H5T_VARIABLE);
    const char *words[2] = {"a", "bc"};
    hsize_t n2 = 2;
    uint32_t crc = 0;
    CU_ASSERT_FATAL((d = make_ds(f, "vl", vl, 1, &n2, H5P_DEFAULT, vl, words)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), -1);
    CU_ASSERT_EQUAL(ot_h5_crc_set(d), -1);
    CU_ASSERT_EQUAL(H5Aexists(d, OT_H5_CRC), 0);
    H5Dclose(d);
    H5Tclose(vl);
    hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ct, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(ct, "b", 4, H5T_NATIVE_FLOAT);
    CU_ASSERT_FATAL((d = make_ds(f, "compound", ct, 1, &n2, H5P_DEFAULT, ct, NULL)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), -1);
    H5Dclose(d);
    H5Tclose(ct);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* crc_set stores the crc (U32LE) and crc_check agrees; one bit flipped in one value is found
 * (1, with the stored and the computed crc); set again, they agree again; without the
 * attribute -1; an attribute that is not one integer, or a dataset omptrain does not write,
 * -2. */
static void test_crc_check(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("crc-check.h5", 0), d;
    CU_ASSERT_FATAL(f >= 0);
    float w[12];
    for (int i = 0; i < 12; i++)
        w[i] = 0.25f * (float)i - 1.0f;
    hsize_t dims[2] = {4, 3};
    uint32_t have = 0, want = 0, crc = 0;
    CU_ASSERT_FATAL((d = make_ds(f, "w", H5T_IEEE_F32LE, 2, dims, H5P_DEFAULT,
                                 H5T_NATIVE_FLOAT, w)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), -1); /* no checksum yet */
    CU_ASSERT_EQUAL(ot_h5_crc_set(d), 0);
    hid_t a = H5Aopen(d, OT_H5_CRC, H5P_DEFAULT), t = a >= 0 ? H5Aget_type(a) : -1;
    CU_ASSERT(H5Tequal(t, H5T_STD_U32LE) > 0);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    CU_ASSERT_EQUAL(stored(d), crc_of(w, sizeof w));
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 0);
    CU_ASSERT_EQUAL(have, want);
    CU_ASSERT_EQUAL(have, crc_of(w, sizeof w));
    uint32_t good = have;

    /* the lowest bit of w[2][1] */
    hsize_t start[2] = {2, 1}, count[2] = {1, 1}, one = 1;
    uint32_t bits;
    float flipped;
    memcpy(&bits, &w[7], 4);
    bits ^= 1;
    memcpy(&flipped, &bits, 4);
    hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &one, NULL);
    CU_ASSERT(H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0);
    CU_ASSERT_FATAL(H5Dwrite(d, H5T_NATIVE_FLOAT, ms, fs, H5P_DEFAULT, &flipped) >= 0);
    H5Sclose(ms);
    H5Sclose(fs);
    w[7] = flipped;
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 1);
    CU_ASSERT_EQUAL(have, good);
    CU_ASSERT_EQUAL(want, crc_of(w, sizeof w));
    CU_ASSERT(want != good);
    CU_ASSERT_EQUAL(ot_h5_crc_set(d), 0); /* the attribute is replaced */
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), 0);
    CU_ASSERT_EQUAL(have, crc_of(w, sizeof w));
    CU_ASSERT_EQUAL(n_attrs(d), 1);

    /* a crc32 attribute that is a float, or two integers */
    CU_ASSERT_FATAL(H5Adelete(d, OT_H5_CRC) >= 0);
    float fcrc = (float)good;
    CU_ASSERT_FATAL(ot_h5_attr_scalar(d, OT_H5_CRC, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &fcrc) == 0);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), -2);
    CU_ASSERT_FATAL(H5Adelete(d, OT_H5_CRC) >= 0);
    hsize_t n2 = 2;
    uint32_t two[2] = {good, good};
    hid_t s2 = H5Screate_simple(1, &n2, NULL);
    a = H5Acreate2(d, OT_H5_CRC, H5T_STD_U32LE, s2, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(a >= 0);
    H5Awrite(a, H5T_NATIVE_UINT32, two);
    H5Aclose(a);
    H5Sclose(s2);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), -2);
    H5Dclose(d);

    /* compressed: its crc can be computed and stored, but it is no dataset of omptrain's */
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hsize_t n12 = 12;
    H5Pset_chunk(dcpl, 1, &n12);
    H5Pset_deflate(dcpl, 1);
    CU_ASSERT_FATAL((d = make_ds(f, "z", H5T_IEEE_F32LE, 1, &n12, dcpl, H5T_NATIVE_FLOAT, w)) >=
                    0);
    CU_ASSERT_EQUAL(ot_h5_crc(d, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(w, sizeof w));
    CU_ASSERT_EQUAL(ot_h5_crc_set(d), 0);
    CU_ASSERT_EQUAL(ot_h5_crc_check(d, &have, &want), -2);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* The attributes' crc32: each name with its NUL, then its value as stored (numbers
 * little-endian), by name order, leaving out crc32 itself; a changed value is found. */
static void test_attrs_crc(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("attrs-crc.h5", 1), g, a;
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_FATAL((g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    uint32_t crc = 1, have = 0, want = 0;
    CU_ASSERT_EQUAL(ot_h5_attrs_crc(g, &crc), 0);
    CU_ASSERT_EQUAL(crc, 0); /* no attributes: crc32 of nothing */
    int32_t five = 5;
    double half = 0.5;
    /* made out of name order: b, a, c */
    CU_ASSERT_FATAL(ot_h5_attr_str(g, "b", "xy") == 0);
    CU_ASSERT_FATAL(ot_h5_attr_scalar(g, "a", H5T_STD_I32BE, H5T_NATIVE_INT32, &five) == 0);
    CU_ASSERT_FATAL(ot_h5_attr_scalar(g, "c", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &half) == 0);
    const unsigned char expect[] = {'a', 0, 5, 0, 0, 0, 'b', 0, 'x', 'y', 0,
                                    'c', 0, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f};
    CU_ASSERT_EQUAL(ot_h5_attrs_crc(g, &crc), 0);
    CU_ASSERT_EQUAL(crc, crc_of(expect, sizeof expect));
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), -1); /* none stored yet */
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_set(g), 0);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc(g, &crc), 0); /* crc32 itself is left out */
    CU_ASSERT_EQUAL(crc, crc_of(expect, sizeof expect));
    CU_ASSERT_EQUAL(stored(g), crc);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), 0);
    CU_ASSERT(have == crc && want == crc);

    int32_t six = 6;
    CU_ASSERT_FATAL((a = H5Aopen(g, "a", H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT32, &six) >= 0);
    H5Aclose(a);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), 1);
    CU_ASSERT_EQUAL(have, crc);
    unsigned char changed[sizeof expect];
    memcpy(changed, expect, sizeof expect);
    changed[2] = 6;
    CU_ASSERT_EQUAL(want, crc_of(changed, sizeof changed));
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_set(g), 0); /* replaced */
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), 0);
    CU_ASSERT_EQUAL(n_attrs(g), 4);

    /* a variable-length string cannot be checksummed */
    hid_t vl = H5Tcopy(H5T_C_S1), one = H5Screate(H5S_SCALAR);
    H5Tset_size(vl, H5T_VARIABLE);
    const char *word = "vl";
    CU_ASSERT_FATAL((a = H5Acreate2(g, "d", vl, one, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Awrite(a, vl, &word) >= 0);
    H5Aclose(a);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc(g, &crc), -1);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_set(g), -1);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(g, &have, &want), -2);
    H5Tclose(vl);
    H5Sclose(one);
    H5Gclose(g);
    H5Fclose(f);

    /* an attribute of more than OT_H5_MAX_ATTR bytes (dense storage holds one) is not read */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_fapl_core(fapl, 1 << 16, 0);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    f = H5Fcreate("attrs-big.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    CU_ASSERT_FATAL(f >= 0);
    hsize_t n = OT_H5_MAX_ATTR / 4 + 1;
    int32_t *big = calloc(n, 4);
    CU_ASSERT_FATAL(big != NULL);
    hid_t s = H5Screate_simple(1, &n, NULL);
    CU_ASSERT_FATAL((a = H5Acreate2(f, "big", H5T_STD_I32LE, s, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT32, big) >= 0);
    H5Aclose(a);
    H5Sclose(s);
    free(big);
    uint32_t zero = 0;
    CU_ASSERT_FATAL(ot_h5_attr_scalar(f, OT_H5_CRC, H5T_STD_U32LE, H5T_NATIVE_UINT32, &zero) == 0);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc(f, &crc), -1);
    CU_ASSERT_EQUAL(ot_h5_attrs_crc_check(f, &have, &want), -2);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* ---------------------------------------------------------------- files from elsewhere */

/* is_hdf5: an HDF5 file, a text file, a missing one. */
static void test_is_hdf5(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    char p[256];
    hid_t f = new_file("is.h5", 0);
    CU_ASSERT_FATAL(f >= 0);
    H5Fclose(f);
    CU_ASSERT(ot_h5_is_hdf5(ot_test_path(p, sizeof p, "is.h5"), H5P_DEFAULT) > 0);
    FILE *fp = fopen(ot_test_path(p, sizeof p, "is.txt"), "w");
    CU_ASSERT_FATAL(fp != NULL);
    fputs("plain text, longer than an HDF5 signature\n", fp);
    fclose(fp);
    CU_ASSERT_EQUAL(ot_h5_is_hdf5(p, H5P_DEFAULT), 0);
    CU_ASSERT(ot_h5_is_hdf5(ot_test_path(p, sizeof p, "is-missing.h5"), H5P_DEFAULT) < 0);
    ot_h5_restore(&q);
}

/* create_image: a file in memory only, nothing on disk under its name; a name in use is < 0
 * with HDF5's reason. get_image: its flushed bytes, the file left open; a failure is -1 with
 * no image. */
static void test_get_image(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    char p[256], reason[128] = "";
    ot_test_path(p, sizeof p, "created-image.h5");
    hid_t f = ot_h5_create_image(p, 1 << 16, reason), d;
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_STRING_EQUAL(reason, "");
    CU_ASSERT(ot_h5_create_image(p, 1 << 16, reason) < 0); /* open already */
    CU_ASSERT(reason[0] != '\0' && strcmp(reason, "HDF5 error") != 0);
    float v[3] = {1, 2, 3}, got[3] = {0};
    hsize_t n3 = 3;
    CU_ASSERT_FATAL((d = make_ds(f, "x", H5T_IEEE_F32LE, 1, &n3, H5P_DEFAULT, H5T_NATIVE_FLOAT,
                                 v)) >= 0);
    H5Dclose(d);
    void *img = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL_FATAL(ot_h5_get_image(f, &img, &n), 0);
    CU_ASSERT_FATAL(img != NULL && n > 0);
    CU_ASSERT_EQUAL(H5Fget_file_image(f, NULL, 0), (ssize_t)n);
    CU_ASSERT(H5Iis_valid(f) > 0); /* left open */
    H5Fclose(f);
    CU_ASSERT(access(p, F_OK) != 0); /* never on disk */
    f = ot_h5_open_image(img, n, ot_test_path(p, sizeof p, "got-image.h5"), 0);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_FATAL((d = H5Dopen2(f, "x", H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    CU_ASSERT(memcmp(got, v, sizeof v) == 0);
    H5Dclose(d);
    H5Fclose(f);
    free(img);
    img = (void *)&n;
    CU_ASSERT_EQUAL(ot_h5_get_image(H5I_INVALID_HID, &img, &n), -1);
    CU_ASSERT_PTR_NULL(img);
    CU_ASSERT_EQUAL(n, 0);
    ot_h5_restore(&q);
}

/* An image opened from memory: its bytes are copied (the buffer may change afterwards),
 * read-only unless rw, and a writable one never reaches the disk; bytes that are not HDF5 or
 * none at all are < 0, without a message. */
static void test_open_image(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("image-src.h5", 1), d;
    CU_ASSERT_FATAL(f >= 0);
    float v[3] = {1, 2, 3}, got[3] = {0}, w[3] = {4, 5, 6};
    hsize_t n3 = 3;
    CU_ASSERT_FATAL((d = make_ds(f, "x", H5T_IEEE_F32LE, 1, &n3, H5P_DEFAULT, H5T_NATIVE_FLOAT,
                                 v)) >= 0);
    H5Dclose(d);
    CU_ASSERT_FATAL(H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0);
    ssize_t n = H5Fget_file_image(f, NULL, 0);
    CU_ASSERT_FATAL(n > 0);
    unsigned char *img = malloc((size_t)n), *copy = malloc((size_t)n);
    CU_ASSERT_FATAL(img && copy);
    CU_ASSERT_FATAL(H5Fget_file_image(f, img, (size_t)n) == n);
    memcpy(copy, img, (size_t)n);
    H5Fclose(f);

    /* names of files that are not there: HDF5's core driver refuses to open an image under
     * the name of a file on disk */
    char txt[256], p[256];
    ot_test_capture_begin();
    CU_ASSERT(ot_h5_open_image(img, 16, ot_test_path(p, sizeof p, "short.h5"), 0) < 0);
    CU_ASSERT(ot_h5_open_image(img, 0, ot_test_path(p, sizeof p, "none.h5"), 0) < 0);
    unsigned char text[512];
    memset(text, 'x', sizeof text);
    CU_ASSERT(ot_h5_open_image(text, sizeof text, ot_test_path(p, sizeof p, "text.h5"), 0) < 0);
    CU_ASSERT_EQUAL(ot_test_capture_lines(txt, sizeof txt), 0);

    f = ot_h5_open_image(img, (size_t)n, ot_test_path(p, sizeof p, "ro.h5"), 0);
    CU_ASSERT_FATAL(f >= 0);
    memset(img, 0, (size_t)n); /* copied: the open file does not see this */
    CU_ASSERT_FATAL((d = H5Dopen2(f, "x", H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    CU_ASSERT(memcmp(got, v, sizeof v) == 0);
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) < 0); /* read-only */
    H5Dclose(d);
    H5Fclose(f);

    ot_test_path(p, sizeof p, "rw.h5");
    f = ot_h5_open_image(copy, (size_t)n, p, 1);
    CU_ASSERT_FATAL(f >= 0);
    CU_ASSERT_FATAL((d = H5Dopen2(f, "x", H5P_DEFAULT)) >= 0);
    CU_ASSERT(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, w) >= 0);
    CU_ASSERT(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0);
    CU_ASSERT(memcmp(got, w, sizeof w) == 0);
    H5Dclose(d);
    CU_ASSERT(H5Fflush(f, H5F_SCOPE_GLOBAL) >= 0);
    H5Fclose(f);
    FILE *disk = fopen(p, "rb");
    CU_ASSERT_PTR_NULL(disk); /* written in memory only */
    if (disk)
        fclose(disk);
    free(img);
    free(copy);
    ot_h5_restore(&q);
}

/* A dataset with creation properties dcpl (H5P_DEFAULT: contiguous), 1-D of n values of type
 * t (2-D rows x cols when rows > 0), unwritten. */
static hid_t storage_ds(hid_t f, const char *name, hid_t t, hsize_t rows, hsize_t cols,
                        hid_t dcpl)
{
    hsize_t dims[2] = {rows, cols};
    return rows ? make_ds(f, name, t, 2, dims, dcpl, t, NULL)
                : make_ds(f, name, t, 1, &dims[1], dcpl, t, NULL);
}

/* Storage that stays in the file and in bounded memory passes; a virtual dataset, external
 * storage, a chunk of more than max_chunk bytes, filters when none are allowed and filters
 * other than deflate, shuffle and fletcher32 are refused, each with its reason. */
static void test_storage_check(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("storage.h5", 0), d, dcpl;
    CU_ASSERT_FATAL(f >= 0);
    char why[128];
    const size_t max = 65536;

    CU_ASSERT_FATAL((d = storage_ds(f, "contiguous", H5T_IEEE_F32LE, 0, 10, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), 0);
    H5Dclose(d);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_layout(dcpl, H5D_COMPACT);
    CU_ASSERT_FATAL((d = storage_ds(f, "compact", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), 0);
    H5Dclose(d);
    H5Pclose(dcpl);

    /* chunks of exactly max bytes, and of one value more */
    hsize_t ok[2] = {16, 1024}, over[2] = {16, 1025};
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, ok);
    CU_ASSERT_FATAL((d = storage_ds(f, "chunk-ok", H5T_IEEE_F32LE, 32, 2048, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), 0);
    H5Dclose(d);
    H5Pset_chunk(dcpl, 2, over);
    CU_ASSERT_FATAL((d = storage_ds(f, "chunk-big", H5T_IEEE_F32LE, 32, 2050, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "has chunks of 16x1025 values, more than the 65536 bytes a "
                                "chunk may take");
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, 16 * 1025 * 4, 0, why), 0);
    H5Dclose(d);
    H5Pclose(dcpl);

    /* values in one, then two, external files */
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_external(dcpl, "/nonexistent/omptrain-ext-1", 0, 40);
    CU_ASSERT_FATAL((d = storage_ds(f, "external1", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "has its values in 1 external file, expected them in this file");
    H5Dclose(d);
    H5Pset_external(dcpl, "/nonexistent/omptrain-ext-2", 0, 40);
    CU_ASSERT_FATAL((d = storage_ds(f, "external2", H5T_IEEE_F32LE, 0, 20, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "has its values in 2 external files, expected them in this file");
    H5Dclose(d);
    H5Pclose(dcpl);

    /* a virtual dataset, mapped from a file that is not there */
    hsize_t n10 = 10;
    hid_t vs = H5Screate_simple(1, &n10, NULL), ss = H5Screate_simple(1, &n10, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    CU_ASSERT_FATAL(H5Pset_virtual(dcpl, vs, "/nonexistent/omptrain-src.h5", "/x", ss) >= 0);
    CU_ASSERT_FATAL((d = storage_ds(f, "virtual", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "is a virtual dataset (its values are mapped from other datasets "
                                "or files), expected its values in this file");
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(vs);
    H5Sclose(ss);

    /* h5py's filters pass only when filters are allowed; scale-offset never */
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &n10);
    H5Pset_deflate(dcpl, 4);
    CU_ASSERT_FATAL((d = storage_ds(f, "deflate", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "is compressed or filtered (1 filter), which omptrain never "
                                "writes");
    H5Dclose(d);
    H5Pclose(dcpl);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &n10);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
    H5Pset_fletcher32(dcpl);
    CU_ASSERT_FATAL((d = storage_ds(f, "h5py", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 0, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "is compressed or filtered (3 filters), which omptrain never "
                                "writes");
    H5Dclose(d);
    H5Pclose(dcpl);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &n10);
    H5Pset_deflate(dcpl, 4);
    H5Pset_scaleoffset(dcpl, H5Z_SO_INT, H5Z_SO_INT_MINBITS_DEFAULT);
    CU_ASSERT_FATAL((d = storage_ds(f, "scaleoffset", H5T_STD_I32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_storage_check(d, max, 1, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "passes its values through HDF5 filter 6 (scaleoffset), "
                                "expected only gzip (deflate), shuffle or fletcher32");
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* A dataset as omptrain writes them: storage checked with OT_H5_OWN_CHUNK and no filter,
 * plain values of at most OT_H5_MAX_ELEMENT bytes, no more values than the file has bytes. */
static void test_own_dataset(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("own.h5", 0), d, dcpl;
    CU_ASSERT_FATAL(f >= 0);
    char why[128];
    CU_ASSERT_FATAL((d = storage_ds(f, "floats", H5T_IEEE_F32BE, 3, 4, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), 0);
    H5Dclose(d);
    hid_t s8 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s8, 8);
    CU_ASSERT_FATAL((d = storage_ds(f, "strings", s8, 0, 4, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), 0);
    H5Dclose(d);

    /* a chunk of 2 MiB; a filter */
    hsize_t chunk[2] = {512, 1024}, n10 = 10;
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    CU_ASSERT_FATAL((d = storage_ds(f, "big-chunk", H5T_IEEE_F32LE, 512, 1024, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "has chunks of 512x1024 values, more than the 1048576 bytes a "
                                "chunk may take");
    H5Dclose(d);
    H5Pclose(dcpl);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &n10);
    H5Pset_shuffle(dcpl);
    CU_ASSERT_FATAL((d = storage_ds(f, "shuffled", H5T_IEEE_F32LE, 0, 10, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "is compressed or filtered (1 filter), which omptrain never "
                                "writes");
    H5Dclose(d);
    H5Pclose(dcpl);

    /* a compound, a variable-length string, a string longer than OT_H5_MAX_ELEMENT */
    hid_t ct = H5Tcreate(H5T_COMPOUND, 16);
    H5Tinsert(ct, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(ct, "b", 8, H5T_NATIVE_DOUBLE);
    CU_ASSERT_FATAL((d = storage_ds(f, "compound", ct, 0, 2, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "holds values of HDF5 class 6 and 16 bytes, expected integers, "
                                "floats or fixed-length strings");
    H5Dclose(d);
    H5Tclose(ct);
    hid_t vl = H5Tcopy(H5T_C_S1);
    H5Tset_size(vl, H5T_VARIABLE);
    CU_ASSERT_FATAL((d = storage_ds(f, "vlen", vl, 0, 2, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    char expect[128];
    snprintf(expect, sizeof expect, "holds values of HDF5 class 3 and %zu bytes, expected "
             "integers, floats or fixed-length strings", sizeof(char *));
    CU_ASSERT_STRING_EQUAL(why, expect);
    H5Dclose(d);
    H5Tclose(vl);
    H5Tset_size(s8, OT_H5_MAX_ELEMENT + 1);
    CU_ASSERT_FATAL((d = storage_ds(f, "long-string", s8, 0, 1, H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    CU_ASSERT_STRING_EQUAL(why, "holds values of HDF5 class 3 and 65537 bytes, expected "
                                "integers, floats or fixed-length strings");
    H5Dclose(d);
    H5Tclose(s8);

    /* a billion values declared, none stored (chunks are made as they are written) */
    hsize_t n1024 = 1024;
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &n1024);
    CU_ASSERT_FATAL((d = storage_ds(f, "huge", H5T_IEEE_F32LE, 0, 1000000000, dcpl)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_own_dataset(d, why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "declares 1000000000 values of 4 bytes, more than the "
                                       "file's "));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, " bytes hold"));
    H5Dclose(d);
    H5Pclose(dcpl);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1); /* nothing left open */
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* /a/b/c a dataset; links of each kind under /a; soft links in chains of 8 (followed) and 9
 * (too long), and one that points at itself. */
static hid_t links_file(void)
{
    hid_t f = new_file("links.h5", 1), lcpl = H5Pcreate(H5P_LINK_CREATE),
          s = H5Screate(H5S_SCALAR), d;
    int32_t one = 1;
    char name[16], target[16], longer[1200];
    H5Pset_create_intermediate_group(lcpl, 1);
    d = H5Dcreate2(f, "/a/b/c", H5T_STD_I32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Sclose(s);
    if (d < 0)
        goto fail;
    H5Dwrite(d, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, &one);
    H5Dclose(d);
    if (H5Lcreate_external("/nonexistent/omptrain-other.h5", "/x", f, "/a/e", H5P_DEFAULT,
                           H5P_DEFAULT) < 0 ||
        H5Lcreate_soft("/a/b", f, "/a/s", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
        H5Lcreate_soft("b", f, "/a/r", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
        H5Lcreate_soft("/a/nothing", f, "/a/dangling", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
        H5Lcreate_soft("/a/e", f, "/a/to-external", H5P_DEFAULT, H5P_DEFAULT) < 0 ||
        H5Lcreate_soft("/loop", f, "/loop", H5P_DEFAULT, H5P_DEFAULT) < 0)
        goto fail;
    for (int i = 1; i <= 9; i++) { /* /l1 -> /l2 ... /l8 -> /a/b; /m1 -> ... /m9 -> /a/b */
        for (int k = 0; k < 2; k++) {
            int last = k ? 9 : 8;
            if (i > last)
                continue;
            snprintf(name, sizeof name, "/%c%d", k ? 'm' : 'l', i);
            snprintf(target, sizeof target, "/%c%d", k ? 'm' : 'l', i + 1);
            if (H5Lcreate_soft(i == last ? "/a/b" : target, f, name, H5P_DEFAULT,
                               H5P_DEFAULT) < 0)
                goto fail;
        }
    }
    /* targets of 1100 bytes, and of 1021 (1024 with "/a/" before it) */
    memset(longer, 'x', sizeof longer);
    longer[0] = '/';
    longer[1100] = '\0';
    if (H5Lcreate_soft(longer, f, "/a/too-long", H5P_DEFAULT, H5P_DEFAULT) < 0)
        goto fail;
    longer[1022] = '\0';
    if (H5Lcreate_soft(longer + 1, f, "/a/long", H5P_DEFAULT, H5P_DEFAULT) < 0)
        goto fail;
    H5Pclose(lcpl);
    return f;
fail:
    H5Pclose(lcpl);
    H5Fclose(f);
    return H5I_INVALID_HID;
}

/* Where an object is and whether its links stay in the file: 1 there, 0 missing, -1 with the
 * link that leaves the file (never followed) or cannot be followed. */
static void test_find(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = links_file(), g;
    CU_ASSERT_FATAL(f >= 0);
    char why[OT_H5_PATH_MAX + 128], p[OT_H5_PATH_MAX + 1];
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/b/c", 0, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "a/b/c", 0, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/b/", 0, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a//b", 0, why, sizeof why), 1);
    CU_ASSERT_FATAL((g = H5Gopen2(f, "/a", H5P_DEFAULT)) >= 0);
    CU_ASSERT_EQUAL(ot_h5_find(g, "b/c", 0, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(g, "c", 0, why, sizeof why), 0);
    H5Gclose(g);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/x", 1, why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/nothing/deeper/still", 1, why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/b/c/d", 1, why, sizeof why), 0); /* c is no group */

    /* an external link, and a path through it: named, never opened */
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/e", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/e is an external link (to another file), expected an "
                                "object in this file");
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/e/y", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/e is an external link (to another file), expected an "
                                "object in this file");

    /* soft links: refused unless soft_ok, then followed (absolute and relative targets) */
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/s/c", 0, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/s is a soft link, expected an object in this file");
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/s/c", 1, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/r/c", 1, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/s/nothing", 1, why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/dangling", 1, why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/to-external", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/e is an external link (to another file), expected an "
                                "object in this file");

    /* OT_H5_SOFT_DEPTH soft links in a row are followed, one more is not, nor a loop */
    CU_ASSERT_EQUAL(OT_H5_SOFT_DEPTH, 8);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/l1/c", 1, why, sizeof why), 1);
    CU_ASSERT_EQUAL(ot_h5_find(f, "/m1/c", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/m9 is a chain of soft links too long, expected an object in "
                                "this file");
    CU_ASSERT_EQUAL(ot_h5_find(f, "/loop", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/loop is a chain of soft links too long, expected an object "
                                "in this file");

    /* paths too long: given, a soft link's target, a relative target with its group */
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/too-long", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/too-long is a soft link that cannot be read");
    CU_ASSERT_EQUAL(ot_h5_find(f, "/a/long", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/a/long is a soft link to a path too long");
    memset(p, 'a', OT_H5_PATH_MAX);
    p[0] = '/';
    p[OT_H5_PATH_MAX] = '\0';
    CU_ASSERT_EQUAL(ot_h5_find(f, p, 1, why, sizeof why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "' is not a path of at most 1023 bytes"));
    p[OT_H5_PATH_MAX - 1] = '\0'; /* 1023 bytes: a path, not there */
    CU_ASSERT_EQUAL(ot_h5_find(f, p, 1, why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_find(f, "", 1, why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "'' is not a path of at most 1023 bytes");
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1);
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* A dataset opened for reading: there, reached by hard links, omptrain's kind, the class,
 * size and rank asked for, dims read; every refusal one line naming the file and the path,
 * with nothing left open. */
static void test_open_ds(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = new_file("ds.h5", 0), d, dcpl;
    CU_ASSERT_FATAL(f >= 0);
    float v[12] = {0};
    double w[2] = {0};
    int32_t k[5] = {0};
    hsize_t d34[2] = {3, 4}, n2 = 2, n5 = 5, chunk[2] = {512, 1024};
    CU_ASSERT_FATAL((d = make_ds(f, "f32", H5T_IEEE_F32LE, 2, d34, H5P_DEFAULT, H5T_NATIVE_FLOAT,
                                 v)) >= 0);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = make_ds(f, "scalar", H5T_IEEE_F32LE, 0, NULL, H5P_DEFAULT,
                                 H5T_NATIVE_FLOAT, v)) >= 0);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = make_ds(f, "f64", H5T_IEEE_F64LE, 1, &n2, H5P_DEFAULT,
                                 H5T_NATIVE_DOUBLE, w)) >= 0);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = make_ds(f, "i32", H5T_STD_I32LE, 1, &n5, H5P_DEFAULT, H5T_NATIVE_INT32,
                                 k)) >= 0);
    H5Dclose(d);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    CU_ASSERT_FATAL((d = storage_ds(f, "big", H5T_IEEE_F32LE, 512, 1024, dcpl)) >= 0);
    H5Dclose(d);
    H5Pclose(dcpl);
    hid_t g = H5Gcreate2(f, "grp", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CU_ASSERT_FATAL(g >= 0);
    H5Gclose(g);
    CU_ASSERT_FATAL(H5Lcreate_external("/nonexistent/omptrain-other.h5", "/x", f, "el",
                                       H5P_DEFAULT, H5P_DEFAULT) >= 0);
    CU_ASSERT_FATAL(H5Lcreate_soft("/f32", f, "sl", H5P_DEFAULT, H5P_DEFAULT) >= 0);

    hsize_t dims[2] = {0, 0};
    d = H5I_INVALID_HID;
    CU_ASSERT_EQUAL(ot_h5_open_ds(f, "ds.h5", "/f32", H5T_FLOAT, 4, 2, dims, &d), OT_OK);
    CU_ASSERT(d >= 0 && dims[0] == 3 && dims[1] == 4);
    if (d >= 0)
        H5Dclose(d);
    dims[0] = dims[1] = 99; /* any rank: no dimensions read */
    CU_ASSERT_EQUAL(ot_h5_open_ds(f, "ds.h5", "f32", H5T_FLOAT, 0, -1, dims, &d), OT_OK);
    CU_ASSERT(d >= 0 && dims[0] == 99 && dims[1] == 99);
    if (d >= 0)
        H5Dclose(d);
    CU_ASSERT_EQUAL(ot_h5_open_ds(f, "ds.h5", "/scalar", H5T_FLOAT, 4, 0, dims, &d), OT_OK);
    CU_ASSERT(d >= 0 && dims[0] == 99);
    if (d >= 0)
        H5Dclose(d);
    CU_ASSERT_EQUAL(ot_h5_open_ds(f, "ds.h5", "/i32", H5T_INTEGER, 4, 1, dims, &d), OT_OK);
    CU_ASSERT(d >= 0 && dims[0] == 5);
    if (d >= 0)
        H5Dclose(d);
    CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1);

#define REFUSED(p, cls, bytes, rank, text)                                                    \
    do {                                                                                      \
        d = 12345;                                                                            \
        OT_EXPECT_ONE_LINE(ot_h5_open_ds(f, "ds.h5", p, cls, bytes, rank, dims, &d),          \
                           OT_EFORMAT, text);                                                 \
        CU_ASSERT_EQUAL(d, H5I_INVALID_HID);                                                  \
        CU_ASSERT_EQUAL(H5Fget_obj_count(f, H5F_OBJ_ALL), 1);                                 \
    } while (0)
    REFUSED("/nothing", H5T_FLOAT, 4, 1,
            "ds.h5: /nothing is missing (not a complete omptrain checkpoint)\n");
    REFUSED("/grp/nothing", H5T_FLOAT, 4, 1, "ds.h5: /grp/nothing is missing");
    REFUSED("/el", H5T_FLOAT, 4, 1,
            "ds.h5: /el is an external link (to another file), expected an object in this "
            "file\n");
    REFUSED("/sl", H5T_FLOAT, 4, 2, "ds.h5: /sl is a soft link, expected an object in this "
                                    "file\n");
    REFUSED("/grp", H5T_FLOAT, 4, 1, "ds.h5: /grp is not a readable dataset\n");
    REFUSED("/big", H5T_FLOAT, 4, 2,
            "ds.h5: /big has chunks of 512x1024 values, more than the 1048576 bytes a chunk "
            "may take\n");
    REFUSED("/i32", H5T_FLOAT, 4, 1, "ds.h5: /i32 must hold 32-bit floats\n");
    REFUSED("/i32", H5T_FLOAT, 0, 1, "ds.h5: /i32 must hold floats\n");
    REFUSED("/f32", H5T_INTEGER, 4, 2, "ds.h5: /f32 must hold 32-bit integers\n");
    REFUSED("/f64", H5T_FLOAT, 4, 1, "ds.h5: /f64 must hold 32-bit floats\n");
    REFUSED("/f32", H5T_FLOAT, 4, 1, "ds.h5: /f32 has rank 2, expected 1\n");
    REFUSED("/scalar", H5T_FLOAT, 4, 1, "ds.h5: /scalar has rank 0, expected 1\n");
#undef REFUSED
    H5Fclose(f);
    ot_h5_restore(&q);
}

/* ---------------------------------------------------------------- time */

/* Now, in UTC whatever the local time zone (here 5 hours east), as YYYY-MM-DDTHH:MM:SSZ
 * (between two readings of the clock); "unknown" when the buffer is too small for it. */
static void test_utc_now(void)
{
    char before[32], now[32], after[32], small[12], tz[64] = "";
    const char *old_tz = getenv("TZ");
    if (old_tz)
        snprintf(tz, sizeof tz, "%s", old_tz);
    CU_ASSERT_FATAL(setenv("TZ", "OTZ-5", 1) == 0);
    tzset();
    time_t t0 = time(NULL);
    struct tm tm;
    CU_ASSERT_FATAL(gmtime_r(&t0, &tm) != NULL);
    strftime(before, sizeof before, "%Y-%m-%dT%H:%M:%SZ", &tm);
    memset(now, 'x', sizeof now);
    ot_h5_utc_now(now, sizeof now);
    time_t t1 = time(NULL);
    if (old_tz)
        setenv("TZ", tz, 1);
    else
        unsetenv("TZ");
    tzset();
    CU_ASSERT_FATAL(gmtime_r(&t1, &tm) != NULL);
    strftime(after, sizeof after, "%Y-%m-%dT%H:%M:%SZ", &tm);
    CU_ASSERT_EQUAL(strlen(now), 20);
    CU_ASSERT(strcmp(before, now) <= 0 && strcmp(now, after) <= 0); /* ISO order is time order */
    int y, mo, da, h, mi, s;
    char z = 0;
    CU_ASSERT_EQUAL(sscanf(now, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &da, &h, &mi, &s, &z), 7);
    CU_ASSERT_EQUAL(z, 'Z');
    char exact[21];
    ot_h5_utc_now(exact, sizeof exact); /* 20 characters and the NUL fit */
    CU_ASSERT_EQUAL(strlen(exact), 20);
    ot_h5_utc_now(small, sizeof small);
    CU_ASSERT_STRING_EQUAL(small, "unknown");
}

/* type_is: exactly the standard type or a fixed-length string, each mismatch in its words; and
 * layout_check over each kind of entry, every refusal named. */
static void test_layout_check(void)
{
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    char why[OT_H5_PATH_MAX + 256];
    hid_t bias = H5Tcopy(H5T_IEEE_F64LE), vstr = H5Tcopy(H5T_C_S1), fstr = H5Tcopy(H5T_C_S1);
    CU_ASSERT_FATAL(bias >= 0 && vstr >= 0 && fstr >= 0);
    CU_ASSERT_FATAL(H5Tset_ebias(bias, 1022) >= 0 && H5Tset_size(vstr, H5T_VARIABLE) >= 0 &&
                    H5Tset_size(fstr, 6) >= 0);
    CU_ASSERT_EQUAL(ot_h5_type_is(H5T_IEEE_F64LE, OT_H5_F64, "/x", why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_type_is(H5T_STD_U64LE, OT_H5_U64, "/x", why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_type_is(fstr, OT_H5_STR, "/x", why, sizeof why), 0);
    CU_ASSERT_EQUAL(ot_h5_type_is(H5T_IEEE_F32LE, OT_H5_F64, "/x", why, sizeof why), -1);
    CU_ASSERT_STRING_EQUAL(why, "/x is stored as F32LE, expected F64LE as omptrain writes it (a "
                                "damaged datatype?)");
    CU_ASSERT_EQUAL(ot_h5_type_is(H5T_IEEE_F64BE, OT_H5_F64, "/x", why, sizeof why), -1);
    CU_ASSERT_EQUAL(ot_h5_type_is(bias, OT_H5_F64, "/x", why, sizeof why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "stored as F64LE of a non-IEEE layout, expected F64LE"));
    CU_ASSERT_EQUAL(ot_h5_type_is(H5T_STD_I32LE, OT_H5_U32, "/x", why, sizeof why), -1);
    CU_ASSERT_EQUAL(ot_h5_type_is(vstr, OT_H5_STR, "attribute a of /", why, sizeof why), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "attribute a of / is stored as a variable-length string"));
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "expected a fixed-length string as omptrain writes it"));

    /* /g/x (F64LE, rank 1), /g/y (U32LE scalar), attributes s (string) and n (I32LE) of /,
     * /s a soft link to /g */
    hid_t f = new_file("layout.h5", 1), g = H5I_INVALID_HID, d = H5I_INVALID_HID;
    CU_ASSERT_FATAL(f >= 0);
    const hsize_t three = 3;
    const int one = 1;
    CU_ASSERT_FATAL((g = H5Gcreate2(f, "g", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0);
    CU_ASSERT_FATAL((d = make_ds(g, "x", H5T_IEEE_F64LE, 1, &three, H5P_DEFAULT, 0, NULL)) >= 0);
    H5Dclose(d);
    CU_ASSERT_FATAL((d = make_ds(g, "y", H5T_STD_U32LE, 0, NULL, H5P_DEFAULT, 0, NULL)) >= 0);
    H5Dclose(d);
    H5Gclose(g);
    CU_ASSERT_FATAL(ot_h5_attr_str(f, "s", "text") == 0 &&
                    ot_h5_attr_scalar(f, "n", H5T_STD_I32LE, H5T_NATIVE_INT, &one) == 0);
    CU_ASSERT_FATAL(H5Lcreate_soft("/g", f, "s", H5P_DEFAULT, H5P_DEFAULT) >= 0);
    const struct {
        ot_h5_layout_t e;
        const char *why; /* NULL: it passes */
    } cases[] = {
        {{"/g", NULL, OT_H5_GROUP, 0, 0}, NULL},
        {{"/g/x", NULL, OT_H5_F64, 1, 0}, NULL},
        {{"/g/y", NULL, OT_H5_U32, 0, 0}, NULL},
        {{"/", "s", OT_H5_STR, 0, 0}, NULL},
        {{"/", "n", OT_H5_I32, 0, 0}, NULL},
        {{"/g/z", NULL, OT_H5_F64, 1, 1}, NULL},
        {{"/", "m", OT_H5_I32, 0, 1}, NULL},
        {{"/g/z", NULL, OT_H5_F64, 1, 0}, "/g/z is missing (not a complete omptrain thing)"},
        {{"/h/x", NULL, OT_H5_F64, 1, 0}, "/h/x is missing (not a complete omptrain thing)"},
        {{"/g", NULL, OT_H5_F64, 1, 0}, "/g is not a dataset (not a complete omptrain thing)"},
        {{"/g/x", NULL, OT_H5_GROUP, 0, 0}, "/g/x is not a group (not a complete omptrain thing)"},
        {{"/g/x", NULL, OT_H5_F32, 1, 0}, "/g/x is stored as F64LE, expected F32LE as omptrain "
                                          "writes it (a damaged datatype?)"},
        {{"/g/x", NULL, OT_H5_F64, 0, 0}, "/g/x has rank 1, expected 0"},
        {{"/", "m", OT_H5_I32, 0, 0}, "attribute m of / is missing"},
        {{"/", "n", OT_H5_U32, 0, 0}, "attribute n of / is stored as I32LE, expected U32LE as "
                                      "omptrain writes it (a damaged datatype?)"},
        {{"/", "s", OT_H5_I32, 0, 0}, "attribute s of / is stored as a fixed-length string of 5 "
                                      "bytes, expected I32LE as omptrain writes it (a damaged "
                                      "datatype?)"},
        {{"/s/x", NULL, OT_H5_F64, 1, 0}, "/s is a soft link, expected an object in this file"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        why[0] = '\0';
        const int r = ot_h5_layout_check(f, &cases[i].e, "thing", why, sizeof why);
        CU_ASSERT_EQUAL(r, cases[i].why ? -1 : 0);
        if (cases[i].why)
            CU_ASSERT_STRING_EQUAL(why, cases[i].why);
    }
    H5Fclose(f);
    H5Tclose(bias);
    H5Tclose(vstr);
    H5Tclose(fstr);
    ot_h5_restore(&q);
}

OT_TEST_SUITE(h5util, setup, ot_test_scratch_free,
              {"quiet silences HDF5's error printer, restore puts it back", test_quiet_restore},
              {"space: scalar and simple", test_space},
              {"dims_str: scalar, one axis, several, cut to fit", test_dims_str},
              {"attributes: string and scalar types and values", test_attrs},
              {"attr_open and attr_close: the three ids, nothing left open", test_attr_open},
              {"write_ds: type, shape, values and checksum; a failure's reason", test_write_ds},
              {"attr_get: strings and numbers read back, each wrong kind named", test_attr_get},
              {"reason: the system's, HDF5's, or none", test_reason},
              {"crc: values little-endian as stored, read in slabs", test_crc_values},
              {"crc: variable-length strings and compounds refused", test_crc_refuses},
              {"crc_set and crc_check: one flipped bit found", test_crc_check},
              {"attrs_crc: names and values by name, a changed value found", test_attrs_crc},
              {"open_image: copied, read-only or writable in memory", test_open_image},
              {"is_hdf5: HDF5, not HDF5, missing", test_is_hdf5},
              {"create_image and get_image: a file in memory, its bytes", test_get_image},
              {"storage_check: virtual, external, chunks, filters", test_storage_check},
              {"own_dataset: storage, types, declared size", test_own_dataset},
              {"find: hard, soft and external links, missing paths", test_find},
              {"open_ds: good datasets, each refusal in one line", test_open_ds},
              {"type_is and layout_check: each kind of entry, each refusal", test_layout_check},
              {"utc_now: ISO-8601 UTC", test_utc_now})
