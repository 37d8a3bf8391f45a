/* fuzz_h5.h - what the HDF5 targets (fuzz_ckpt.c, fuzz_history.c, fuzz_h5data.c) share: each
 * input is an HDF5 file image, opened from memory through HDF5's core driver
 * (ot_h5_open_image: no file is written), and a structure-aware mutator.
 *
 * The mutator (LLVMFuzzerCustomMutator) opens the image read-write in memory and changes it
 * through HDF5's own API, the way a file from someone else may differ from what omptrain
 * wrote: a value (0, -1, the extremes, NaN, Inf, a bit flipped, another element's), a
 * dataset's shape (rank, zero and huge extents, stored in chunks that are never written), its
 * type (every integer and float width and byte order, strings fixed and variable, enum,
 * compound, array, opaque), its storage (compact, contiguous, chunked with every filter, a
 * fill value, external storage, a virtual dataset), an attribute (value, type, string length,
 * a null or multi-element dataspace), an object deleted, renamed, copied or added (groups,
 * datasets, soft, hard, cyclic and external links), with names from the target's
 * vocabulary. Most of the time it then renews every checksum the file carries (omptrain's
 * crc32 attributes), so that the checks behind the verification are reached. The image it
 * returns is the one libhdf5 wrote: the parser itself only ever sees well-formed files.
 *
 * OT_FUZZ_RAW=1 in the environment makes it libFuzzer's byte mutator instead: damaged
 * metadata, which found a leak inside libhdf5 1.10's H5Fopen/H5Fclose within about 130 inputs
 * (libhdf5/README.md); that mode is for exploring, not for make test.
 *
 * A target defines FUZZ_NAME, includes fuzz_util.h, then this file, and sets fuzz_names (its
 * vocabulary) in LLVMFuzzerInitialize. */
#ifndef FUZZ_H5_H
#define FUZZ_H5_H

#include <hdf5.h>
#include <math.h>
#include <sanitizer/lsan_interface.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_h5.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

/* The target's vocabulary: names of groups, datasets and attributes its files hold. */
static const char *const *fuzz_names;
static size_t fuzz_n_names;

/* Paths that must never be opened: a file that makes HDF5 open them (an external link,
 * external storage, a virtual dataset's source) reached the other file. */
#define FUZZ_FORBIDDEN "/nonexistent/fuzz-forbidden"

/* ---------------------------------------------------------------- ids */

/* Objects open in any file (files, groups, datasets, named datatypes, attributes): a reader
 * that leaves one open leaks it, and keeps its file open after H5Fclose. (HDF5 1.10 refuses
 * H5Inmembers on dataspaces and property lists, which this cannot count.) */
static long h5_open_ids(void)
{
    ssize_t n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    return n < 0 ? -1 : (long)n;
}

/* ---------------------------------------------------------------- randomness */

typedef struct {
    uint64_t s;
} frng_t;

static uint64_t fr_next(frng_t *r)
{
    /* splitmix64 */
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t fr_below(frng_t *r, size_t n)
{
    return n ? (size_t)(fr_next(r) % n) : 0;
}

/* a name of the vocabulary, now and then an odd one */
static const char *fr_name(frng_t *r)
{
    static const char *const odd[] = {"x", "crc32", "a b", "\xc3\xa9", "0", "..", "W", "b"};
    if (fuzz_n_names == 0 || fr_below(r, 8) == 0)
        return odd[fr_below(r, sizeof odd / sizeof odd[0])];
    return fuzz_names[fr_below(r, fuzz_n_names)];
}

/* ---------------------------------------------------------------- the file's objects */

#define FUZZ_MAX_OBJS 256
#define FUZZ_SMALL ((size_t)1 << 16) /* bytes of values the mutator reads or writes at most */

typedef struct {
    char path[OT_H5_PATH_MAX];
    H5O_type_t type;
} fobj_t;

typedef struct {
    fobj_t obj[FUZZ_MAX_OBJS];
    size_t n;
} fobjs_t;

static herr_t list_cb(hid_t o, const char *name, const H5O_info_t *info, void *arg)
{
    (void)o;
    fobjs_t *l = arg;
    if (l->n == FUZZ_MAX_OBJS)
        return 1;
    fobj_t *e = &l->obj[l->n];
    if (strcmp(name, ".") == 0)
        snprintf(e->path, sizeof e->path, "/");
    else if (snprintf(e->path, sizeof e->path, "/%s", name) >= (int)sizeof e->path)
        return 0;
    e->type = info->type;
    l->n++;
    return 0;
}

static void list_objects(hid_t f, fobjs_t *l)
{
    l->n = 0;
    H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, list_cb, l);
}

/* a random object of the given type (H5O_TYPE_UNKNOWN: any), or NULL */
static const fobj_t *pick(const fobjs_t *l, frng_t *r, H5O_type_t type)
{
    size_t idx[FUZZ_MAX_OBJS], n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (type == H5O_TYPE_UNKNOWN || l->obj[i].type == type)
            idx[n++] = i;
    return n ? &l->obj[idx[fr_below(r, n)]] : NULL;
}

/* a new path: a name of the vocabulary in a random group */
static void new_path(const fobjs_t *l, frng_t *r, char *buf, size_t n)
{
    const fobj_t *g = pick(l, r, H5O_TYPE_GROUP);
    const char *parent = g && strcmp(g->path, "/") != 0 ? g->path : "";
    snprintf(buf, n, "%s/%s", parent, fr_name(r));
}

/* ---------------------------------------------------------------- types, spaces, values */

static hid_t random_type(frng_t *r)
{
    static const hid_t *const fixed[] = {
        &H5T_STD_U8LE_g,  &H5T_STD_I8LE_g,  &H5T_STD_U16LE_g, &H5T_STD_I16BE_g, &H5T_STD_U32LE_g,
        &H5T_STD_U32BE_g, &H5T_STD_I32LE_g, &H5T_STD_U64LE_g, &H5T_STD_I64LE_g, &H5T_STD_I64BE_g,
        &H5T_IEEE_F32LE_g, &H5T_IEEE_F32BE_g, &H5T_IEEE_F64LE_g, &H5T_IEEE_F64BE_g,
        &H5T_STD_B8LE_g,
    };
    hid_t t = H5I_INVALID_HID;
    switch (fr_below(r, 10)) {
    case 0: { /* a fixed-length string */
        static const size_t lens[] = {1, 2, 8, 31, 32, 33, 256, 1025, 70000};
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, lens[fr_below(r, sizeof lens / sizeof lens[0])]);
        break;
    }
    case 1: /* a variable-length string */
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, H5T_VARIABLE);
        break;
    case 2: { /* an enum, as numpy's bool */
        t = H5Tenum_create(H5T_NATIVE_INT8);
        int8_t v = 0;
        H5Tenum_insert(t, "FALSE", &v);
        v = 1;
        H5Tenum_insert(t, "TRUE", &v);
        break;
    }
    case 3: { /* a compound or an array of two floats */
        if (fr_below(r, 2)) {
            t = H5Tcreate(H5T_COMPOUND, 8);
            H5Tinsert(t, "a", 0, H5T_NATIVE_FLOAT);
            H5Tinsert(t, "b", 4, H5T_NATIVE_INT32);
        } else {
            hsize_t two = 2;
            t = H5Tarray_create2(H5T_NATIVE_FLOAT, 1, &two);
        }
        break;
    }
    case 4: /* an odd precision: a 3-byte integer, a 16-bit float */
        if (fr_below(r, 2)) {
            t = H5Tcopy(H5T_STD_I32LE);
            H5Tset_precision(t, 24);
        } else {
            t = H5Tcopy(H5T_IEEE_F32LE);
            H5Tset_fields(t, 15, 10, 5, 0, 10);
            H5Tset_size(t, 2);
            H5Tset_ebias(t, 15);
        }
        break;
    default:
        t = H5Tcopy(*fixed[fr_below(r, sizeof fixed / sizeof fixed[0])]);
        break;
    }
    return t;
}

static hsize_t random_extent(frng_t *r, hsize_t d)
{
    static const hsize_t big[] = {255, 256, 784, 65536, (hsize_t)1 << 31, (hsize_t)1 << 32,
                                  ((hsize_t)1 << 32) + 1, (hsize_t)1 << 40, (hsize_t)1 << 62};
    switch (fr_below(r, 10)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 2 + fr_below(r, 3);
    case 3: return d + 1;
    case 4: return d > 0 ? d - 1 : 0;
    case 5: return d * 2;
    case 6: return d / 2;
    case 7: return big[fr_below(r, sizeof big / sizeof big[0])];
    default: return d;
    }
}

/* npoints * size, or SIZE_MAX when it does not fit */
static size_t space_bytes(hid_t space, hid_t type)
{
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t size = H5Tget_size(type);
    if (n < 0 || size == 0 || (size_t)n > SIZE_MAX / size)
        return SIZE_MAX;
    return (size_t)n * size;
}

/* May the mutator read or write d's values? Only where HDF5 does it in a bounded way: chunks of
 * at most 1 MiB (HDF5 allocates a whole chunk to write part of it; the targets run under
 * -malloc_limit_mb), no virtual dataset or external storage, and no filters but deflate,
 * shuffle and fletcher32 (ot_h5_storage_check): libhdf5 1.10's scale-offset decoder reads out
 * of bounds behind deflate or fletcher32 (libhdf5/README.md), which would crash the mutator
 * rather than the reader under test. The other datasets stay in the file, unread here:
 * omptrain must refuse them. */
static int mut_readable(hid_t d)
{
    char why[128];
    return ot_h5_storage_check(d, (size_t)1 << 20, 1, why) == 0;
}

/* Write values of type t (file type of d) made of random bytes, or from old[old_len]
 * cycled, into d when they take at most FUZZ_SMALL bytes. Numbers only: random bytes in a
 * variable-length string would be pointers. */
static void fill_values(hid_t d, hid_t t, hid_t space, frng_t *r, const unsigned char *old,
                        size_t old_len)
{
    size_t bytes = space_bytes(space, t);
    H5T_class_t cls = H5Tget_class(t);
    if (bytes == 0 || bytes > FUZZ_SMALL || cls == H5T_VLEN || cls == H5T_REFERENCE ||
        (cls == H5T_STRING && H5Tis_variable_str(t) > 0) || !mut_readable(d))
        return;
    unsigned char *buf = malloc(bytes);
    if (!buf)
        return;
    for (size_t i = 0; i < bytes; i++)
        buf[i] = old && old_len ? old[i % old_len] : (unsigned char)fr_below(r, 4);
    if (cls == H5T_FLOAT && !old) /* small numbers, not random bit patterns */
        memset(buf, 0, bytes);
    H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    free(buf);
}

/* ---------------------------------------------------------------- attributes */

/* Copy every attribute of src to dst (values up to FUZZ_SMALL bytes, in their own type). */
static herr_t copy_attr_cb(hid_t src, const char *name, const H5A_info_t *info, void *arg)
{
    (void)info;
    hid_t dst = *(hid_t *)arg;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID,
          b = H5I_INVALID_HID;
    if (a >= 0 && (t = H5Aget_type(a)) >= 0 && (s = H5Aget_space(a)) >= 0) {
        size_t bytes = space_bytes(s, t);
        int vlen = H5Tget_class(t) == H5T_VLEN || H5Tis_variable_str(t) > 0;
        if (!vlen && bytes <= FUZZ_SMALL && (b = H5Acreate2(dst, name, t, s, H5P_DEFAULT,
                                                            H5P_DEFAULT)) >= 0) {
            unsigned char *buf = malloc(bytes + 1);
            if (buf && (bytes == 0 || H5Aread(a, t, buf) >= 0) && bytes > 0)
                H5Awrite(b, t, buf);
            free(buf);
        }
    }
    if (b >= 0)
        H5Aclose(b);
    if (s >= 0)
        H5Sclose(s);
    if (t >= 0)
        H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
    return 0;
}

static void copy_attrs(hid_t src, hid_t dst)
{
    hsize_t idx = 0;
    H5Aiterate2(src, H5_INDEX_NAME, H5_ITER_INC, &idx, copy_attr_cb, &dst);
}

/* The name of obj's k-th attribute (by name order) into buf; 0 or -1. */
static int attr_name(hid_t obj, hsize_t k, char *buf, size_t n)
{
    ssize_t len = H5Aget_name_by_idx(obj, ".", H5_INDEX_NAME, H5_ITER_INC, k, buf, n,
                                     H5P_DEFAULT);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

/* Replace or add an attribute of obj: its value, type or dataspace changed, or delete it. */
static void mut_attr(hid_t obj, frng_t *r)
{
    char name[256];
    H5O_info_t oi;
    if (H5Oget_info2(obj, &oi, H5O_INFO_NUM_ATTRS) < 0)
        return;
    int have = oi.num_attrs > 0 && fr_below(r, 4) != 0;
    if (have) {
        if (attr_name(obj, fr_below(r, (size_t)oi.num_attrs), name, sizeof name) < 0)
            return;
    } else {
        snprintf(name, sizeof name, "%s", fr_name(r));
    }
    hid_t a = have ? H5Aopen(obj, name, H5P_DEFAULT) : H5I_INVALID_HID;
    hid_t t = a >= 0 ? H5Aget_type(a) : H5I_INVALID_HID;
    hid_t s = a >= 0 ? H5Aget_space(a) : H5I_INVALID_HID;
    unsigned char old[64] = {0};
    size_t old_len = 0;
    if (a >= 0 && t >= 0 && s >= 0) {
        size_t bytes = space_bytes(s, t);
        H5T_class_t cls = H5Tget_class(t);
        if (bytes <= sizeof old && cls != H5T_VLEN && H5Tis_variable_str(t) <= 0 &&
            H5Aread(a, t, old) >= 0)
            old_len = bytes;
    }
    if (a >= 0)
        H5Aclose(a);
    unsigned what = (unsigned)fr_below(r, 6);
    if (have && what == 0) { /* delete it */
        H5Adelete(obj, name);
        goto out;
    }
    hid_t nt = H5I_INVALID_HID, ns = H5I_INVALID_HID;
    if (what == 1 || t < 0) {
        nt = random_type(r);
    } else if (what == 2 && t >= 0 && H5Tget_class(t) == H5T_STRING) {
        static const size_t lens[] = {1, 5, 31, 32, 33, 255, 256, 1024, 1025, 4096, 60000};
        nt = H5Tcopy(t);
        if (fr_below(r, 5) == 0)
            H5Tset_size(nt, H5T_VARIABLE);
        else
            H5Tset_size(nt, lens[fr_below(r, sizeof lens / sizeof lens[0])]);
    } else {
        nt = t >= 0 ? H5Tcopy(t) : random_type(r);
    }
    if (what == 3 || s < 0) {
        hsize_t n = (hsize_t)(fr_below(r, 3) ? 1 + fr_below(r, 3) : 17);
        unsigned k = (unsigned)fr_below(r, 4);
        ns = k == 0 ? H5Screate(H5S_NULL) : k == 1 ? H5Screate(H5S_SCALAR)
                                                   : H5Screate_simple(1, &n, NULL);
    } else {
        ns = H5Scopy(s);
    }
    if (nt >= 0 && ns >= 0) {
        if (have)
            H5Adelete(obj, name);
        hid_t b = H5Acreate2(obj, name, nt, ns, H5P_DEFAULT, H5P_DEFAULT);
        size_t bytes = space_bytes(ns, nt);
        H5T_class_t cls = H5Tget_class(nt);
        if (b >= 0 && bytes > 0 && bytes <= FUZZ_SMALL && cls != H5T_VLEN &&
            H5Tis_variable_str(nt) <= 0) {
            unsigned char *buf = calloc(bytes, 1);
            if (buf) {
                if (old_len)
                    for (size_t i = 0; i < bytes; i++)
                        buf[i] = old[i % old_len];
                if (cls == H5T_STRING) {
                    for (size_t i = 0; i < bytes; i++)
                        buf[i] = old_len ? old[i % old_len] : (unsigned char)('a' + i % 26);
                } else if (what >= 4 && bytes >= 1) { /* a value changed */
                    unsigned op = (unsigned)fr_below(r, 4);
                    size_t at = fr_below(r, bytes);
                    if (op == 0)
                        memset(buf, 0, bytes);
                    else if (op == 1)
                        memset(buf, 0xff, bytes);
                    else if (op == 2)
                        buf[at] ^= (unsigned char)(1u << fr_below(r, 8));
                    else
                        buf[at] = (unsigned char)fr_next(r);
                }
                H5Awrite(b, nt, buf);
                free(buf);
            }
        } else if (b >= 0 && cls == H5T_STRING && H5Tis_variable_str(nt) > 0 &&
                   H5Sget_simple_extent_npoints(ns) == 1) {
            /* in memory as a native variable-length string: nt may be a copy of the file's
             * type, which HDF5 would take for a heap reference in the file */
            const char *v = fr_name(r);
            hid_t mt = H5Tcopy(H5T_C_S1);
            if (mt >= 0 && H5Tset_size(mt, H5T_VARIABLE) >= 0)
                H5Awrite(b, mt, &v);
            if (mt >= 0)
                H5Tclose(mt);
        }
        if (b >= 0)
            H5Aclose(b);
    }
    if (nt >= 0)
        H5Tclose(nt);
    if (ns >= 0)
        H5Sclose(ns);
out:
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
}

/* ---------------------------------------------------------------- datasets */

/* One element of d changed in place: set to an extreme, NaN or Inf, a bit flipped, or
 * another element's value. */
static void mut_value(hid_t d, frng_t *r)
{
    hid_t t = H5Dget_type(d), s = H5Dget_space(d), m = H5I_INVALID_HID;
    unsigned char *buf = NULL;
    size_t bytes = t >= 0 && s >= 0 ? space_bytes(s, t) : SIZE_MAX;
    H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
    if (bytes == 0 || bytes > FUZZ_SMALL || (cls != H5T_INTEGER && cls != H5T_FLOAT) ||
        !mut_readable(d))
        goto out;
    hssize_t n = H5Sget_simple_extent_npoints(s);
    /* numbers in the native type of their class, so that the special values mean what they
     * say whatever the file's width and byte order */
    int is_float = cls == H5T_FLOAT;
    m = H5Tcopy(is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_LLONG);
    if (!(buf = malloc((size_t)n * 8)) || H5Dread(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        goto out;
    size_t at = fr_below(r, (size_t)n), from = fr_below(r, (size_t)n);
    double *fv = (double *)(void *)buf;
    long long *iv = (long long *)(void *)buf;
    static const double fspecial[] = {0.0, -0.0, 1.0, -1.0, 1e30, -1e30, 1e-40, 3.5e38};
    static const long long ispecial[] = {0, 1, -1, 2, 255, 256, 65535, 2147483647LL,
                                         4294967295LL, 4294967296LL, 9223372036854775807LL,
                                         -9223372036854775807LL - 1};
    switch (fr_below(r, 6)) {
    case 0:
        if (is_float)
            fv[at] = fr_below(r, 3) == 0 ? NAN : fr_below(r, 2) ? INFINITY : -INFINITY;
        else
            iv[at] = ispecial[fr_below(r, sizeof ispecial / sizeof ispecial[0])];
        break;
    case 1:
        if (is_float)
            fv[at] = fspecial[fr_below(r, sizeof fspecial / sizeof fspecial[0])];
        else
            iv[at] = ispecial[fr_below(r, sizeof ispecial / sizeof ispecial[0])];
        break;
    case 2: /* another element's value: a permutation gets a duplicate */
        memcpy(buf + at * 8, buf + from * 8, 8);
        break;
    case 3:
        if (is_float)
            fv[at] += 1.0;
        else
            iv[at] = (long long)((unsigned long long)iv[at] + (fr_below(r, 2) ? 1ull : ~0ull));
        break;
    default: { /* a bit of the stored bytes */
        H5Tclose(m);
        m = H5Tcopy(t);
        size_t size = H5Tget_size(t);
        if (H5Dread(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            goto out;
        buf[at * size + fr_below(r, size)] ^= (unsigned char)(1u << fr_below(r, 8));
        break;
    }
    }
    H5Dwrite(d, m, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
out:
    free(buf);
    if (m >= 0)
        H5Tclose(m);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
}

/* A creation property list for a dataset of type t and space s: compact, contiguous or
 * chunked (random chunk shapes, filters), now and then with a fill value, external storage
 * or as a virtual dataset. *no_write: its values must not be written (they would go to
 * another file, or there is no room). */
static hid_t random_dcpl(frng_t *r, hid_t t, hid_t s, int *no_write)
{
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int rank = H5Sget_simple_extent_ndims(s);
    hsize_t dims[H5S_MAX_RANK] = {0};
    if (rank > 0)
        H5Sget_simple_extent_dims(s, dims, NULL);
    size_t bytes = space_bytes(s, t);
    *no_write = 0;
    unsigned k = (unsigned)fr_below(r, 12);
    if (bytes > FUZZ_SMALL || (rank > 0 && k < 6)) { /* chunked */
        if (rank == 0) {
            *no_write = 1;
            return dcpl; /* a scalar cannot be chunked: contiguous, unwritten */
        }
        hsize_t chunk[H5S_MAX_RANK];
        size_t cbytes = H5Tget_size(t);
        for (int i = 0; i < rank; i++) {
            unsigned c = (unsigned)fr_below(r, 4);
            chunk[i] = c == 0 ? 1 : c == 1 ? (dims[i] ? dims[i] : 1)
                       : c == 2 ? ((hsize_t)1 << (4 + fr_below(r, 20)))
                                : 1 + fr_below(r, 16);
            if (chunk[i] > ((hsize_t)1 << 31))
                chunk[i] = (hsize_t)1 << 31;
            cbytes = cbytes > SIZE_MAX / chunk[i] ? SIZE_MAX : cbytes * chunk[i];
        }
        if (cbytes >= ((size_t)1 << 32)) /* HDF5's own limit on a chunk */
            for (int i = 0; i < rank; i++)
                chunk[i] = 1;
        H5Pset_chunk(dcpl, rank, chunk);
        if (fr_below(r, 3) == 0)
            H5Pset_shuffle(dcpl);
        if (fr_below(r, 3) == 0)
            H5Pset_deflate(dcpl, (unsigned)fr_below(r, 10));
        if (fr_below(r, 6) == 0)
            H5Pset_fletcher32(dcpl);
        if (fr_below(r, 8) == 0 && H5Tget_class(t) == H5T_INTEGER)
            H5Pset_nbit(dcpl);
        if (fr_below(r, 8) == 0)
            H5Pset_scaleoffset(dcpl, H5Tget_class(t) == H5T_FLOAT ? H5Z_SO_FLOAT_DSCALE
                                                                   : H5Z_SO_INT,
                               H5Tget_class(t) == H5T_FLOAT ? 3 : H5Z_SO_INT_MINBITS_DEFAULT);
        /* HDF5 allocates a whole chunk to write into it: large ones stay unwritten (the
         * mutator keeps under the targets' -malloc_limit_mb) */
        if (bytes > FUZZ_SMALL || cbytes > ((size_t)1 << 20))
            *no_write = 1;
    } else if (k == 6 && bytes <= 16384) {
        H5Pset_layout(dcpl, H5D_COMPACT);
    } else if (k == 7) { /* values in another file */
        H5Pset_external(dcpl, FUZZ_FORBIDDEN "-external", 0, H5F_UNLIMITED);
        *no_write = 1;
    } else if (k == 8 && rank > 0) { /* a virtual dataset mapping another file's dataset */
        hid_t src = H5Scopy(s);
        H5Sselect_all(src);
        H5Pset_virtual(dcpl, s, FUZZ_FORBIDDEN "-vds.h5", "/x", src);
        H5Sclose(src);
        *no_write = 1;
    }
    if (fr_below(r, 8) == 0 && H5Tget_class(t) != H5T_VLEN && H5Tis_variable_str(t) <= 0 &&
        H5Tget_size(t) <= 64) {
        unsigned char fill[64];
        memset(fill, fr_below(r, 2) ? 0xff : 0x01, sizeof fill);
        H5Pset_fill_value(dcpl, t, fill);
    }
    return dcpl;
}

/* Recreate dataset path of f with another type, shape or storage (one of them, or several),
 * its attributes copied and its values carried over where they fit. */
static void mut_recreate(hid_t f, const char *path, frng_t *r)
{
    static const char tmp[] = "/.fuzz-old";
    hid_t old = H5Dopen2(f, path, H5P_DEFAULT), t = H5I_INVALID_HID, s = H5I_INVALID_HID,
          d = H5I_INVALID_HID, dcpl = H5I_INVALID_HID, lcpl = H5I_INVALID_HID;
    unsigned char *vals = NULL;
    size_t vals_len = 0;
    if (old < 0)
        return;
    unsigned what = (unsigned)fr_below(r, 7); /* 0..2 shape, 3..4 type, 5 storage, 6 all */
    hid_t ot = H5Dget_type(old), os = H5Dget_space(old);
    if (ot < 0 || os < 0)
        goto out;
    /* the type */
    t = (what == 3 || what == 4 || what == 6) ? random_type(r) : H5Tcopy(ot);
    /* the shape */
    if (what <= 2 || what == 6) {
        int rank = H5Sget_simple_extent_ndims(os);
        hsize_t dims[H5S_MAX_RANK] = {0}, nd[H5S_MAX_RANK];
        if (rank > 0)
            H5Sget_simple_extent_dims(os, dims, NULL);
        int nr = rank;
        if (fr_below(r, 4) == 0)
            nr = rank == 0 ? 1 : fr_below(r, 2) ? rank + 1 : rank - 1;
        if (nr > 5)
            nr = 5;
        for (int i = 0; i < nr; i++)
            nd[i] = random_extent(r, i < rank ? dims[i] : 1);
        /* extents whose product overflows are not a shape */
        hsize_t prod = 1;
        for (int i = 0; i < nr; i++)
            if (nd[i] && prod > ((hsize_t)1 << 62) / nd[i])
                nd[i] = 1;
            else
                prod *= nd[i] ? nd[i] : 1;
        s = nr == 0 ? H5Screate(H5S_SCALAR)
            : fr_below(r, 16) == 0 ? H5Screate(H5S_NULL) : H5Screate_simple(nr, nd, NULL);
    } else {
        s = H5Scopy(os);
    }
    if (t < 0 || s < 0)
        goto out;
    /* the values, when small and convertible */
    size_t nbytes = space_bytes(os, t);
    if (nbytes > 0 && nbytes <= FUZZ_SMALL && H5Tget_class(t) != H5T_VLEN &&
        H5Tis_variable_str(t) <= 0 && mut_readable(old) && (vals = malloc(nbytes)) &&
        H5Dread(old, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, vals) >= 0)
        vals_len = nbytes;
    int no_write = 0;
    dcpl = random_dcpl(r, t, s, &no_write);
    if (what != 5 && what != 6 && fr_below(r, 2)) { /* keep the storage kind when possible */
        H5Pclose(dcpl);
        dcpl = H5Pcreate(H5P_DATASET_CREATE);
        no_write = 0;
        if (space_bytes(s, t) > FUZZ_SMALL) {
            H5Pclose(dcpl);
            dcpl = random_dcpl(r, t, s, &no_write);
        }
    }
    if (dcpl < 0 || H5Lmove(f, path, f, tmp, H5P_DEFAULT, H5P_DEFAULT) < 0)
        goto out;
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    d = H5Dcreate2(f, path, t, s, lcpl, dcpl, H5P_DEFAULT);
    if (d < 0) { /* HDF5 refused the combination: put the old one back */
        H5Lmove(f, tmp, f, path, H5P_DEFAULT, H5P_DEFAULT);
        goto out;
    }
    copy_attrs(old, d);
    if (!no_write && H5Sget_simple_extent_type(s) != H5S_NULL)
        fill_values(d, t, s, r, vals, vals_len);
    H5Ldelete(f, tmp, H5P_DEFAULT);
out:
    free(vals);
    if (d >= 0)
        H5Dclose(d);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (ot >= 0)
        H5Tclose(ot);
    if (os >= 0)
        H5Sclose(os);
    H5Dclose(old);
}

/* A new object at a new path: a group, a small dataset, or a link (soft, hard to any object
 * including an ancestor, external). */
static void mut_add(hid_t f, const fobjs_t *l, frng_t *r)
{
    char p[OT_H5_PATH_MAX];
    new_path(l, r, p, sizeof p);
    const fobj_t *o = pick(l, r, H5O_TYPE_UNKNOWN);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    switch (fr_below(r, 6)) {
    case 0: {
        hid_t g = H5Gcreate2(f, p, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0)
            H5Gclose(g);
        break;
    }
    case 1:
        if (o)
            H5Lcreate_soft(fr_below(r, 4) ? o->path : "/nowhere", f, p, lcpl, H5P_DEFAULT);
        break;
    case 2:
        if (o)
            H5Lcreate_hard(f, o->path, f, p, lcpl, H5P_DEFAULT);
        break;
    case 3:
        H5Lcreate_external(FUZZ_FORBIDDEN "-elink.h5", "/x", f, p, lcpl, H5P_DEFAULT);
        break;
    default: {
        hsize_t dims[2] = {1 + fr_below(r, 8), 1 + fr_below(r, 8)};
        hid_t t = random_type(r), s = H5Screate_simple(1 + (int)fr_below(r, 2), dims, NULL);
        int no_write = 0;
        hid_t dcpl = t >= 0 && s >= 0 ? random_dcpl(r, t, s, &no_write) : H5I_INVALID_HID;
        hid_t d = dcpl >= 0 ? H5Dcreate2(f, p, t, s, lcpl, dcpl, H5P_DEFAULT) : H5I_INVALID_HID;
        if (d >= 0) {
            if (!no_write)
                fill_values(d, t, s, r, NULL, 0);
            H5Dclose(d);
        }
        if (dcpl >= 0)
            H5Pclose(dcpl);
        if (t >= 0)
            H5Tclose(t);
        if (s >= 0)
            H5Sclose(s);
        break;
    }
    }
    H5Pclose(lcpl);
}

/* ---------------------------------------------------------------- checksums */

/* Renew every checksum the file carries, as omptrain computes them: datasets (those small
 * enough to read here) and the attributes of groups that have one. */
static void renew_crcs(hid_t f, const fobjs_t *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const fobj_t *o = &l->obj[i];
        hid_t obj = H5Oopen(f, o->path, H5P_DEFAULT);
        if (obj < 0)
            continue;
        if (o->type == H5O_TYPE_DATASET) {
            hid_t t = H5Dget_type(obj), s = H5Dget_space(obj);
            char why[128];
            /* a dataset omptrain would refuse keeps its checksum: it is never read */
            if (t >= 0 && s >= 0 && space_bytes(s, t) <= ((size_t)16 << 20) &&
                ot_h5_own_dataset(obj, why) == 0)
                ot_h5_crc_set(obj);
            if (t >= 0)
                H5Tclose(t);
            if (s >= 0)
                H5Sclose(s);
        } else if (o->type == H5O_TYPE_GROUP && H5Aexists(obj, OT_H5_CRC) > 0) {
            ot_h5_attrs_crc_set(obj);
        }
        H5Oclose(obj);
    }
}

/* ---------------------------------------------------------------- the mutator */

/* Ends the process at once, before libhdf5's exit handler and LeakSanitizer's: see
 * mut_close. */
static void end_now(void)
{
    _exit(0);
}

/* Close the mutator's file. Now and then libhdf5 1.10 fails to (its metadata cache: "can't
 * remove tag info from list", after some of the mutator's writes), leaving the file half
 * closed in its tables: its exit handler then crashes on it (SEGV in H5F__close_cb) and its
 * memory is never freed, at the end of a run that found nothing (three 15-minute runs ended so).
 * That file is the mutator's, not a reader's: after it, the process ends with _exit(0) once
 * libFuzzer has given its report (atexit handlers run last-registered first). An input's
 * leaks are still caught as it runs (libFuzzer's -detect_leaks). */
static void mut_close(hid_t f)
{
    static int registered;
    if (H5Fclose(f) < 0 && !registered) {
        registered = 1;
        atexit(end_now);
    }
}

/* The image of f into data (max bytes): its size, or 0 when it does not fit. */
static size_t take_image(hid_t f, uint8_t *data, size_t max)
{
    if (H5Fflush(f, H5F_SCOPE_GLOBAL) < 0)
        return 0;
    ssize_t n = H5Fget_file_image(f, NULL, 0);
    if (n <= 0 || (size_t)n > max)
        return 0;
    return H5Fget_file_image(f, data, (size_t)n) == n ? (size_t)n : 0;
}

static size_t mutate(uint8_t *data, size_t size, size_t max, unsigned int seed);

/* The mutator's allocations are not the readers': LeakSanitizer ignores them (what libhdf5
 * holds for a file it failed to close, see mut_close, would otherwise be reported whenever
 * libFuzzer's per-input leak check next runs, against an innocent input). omptrain's own
 * allocations, made while an input runs, are checked as before. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
    __lsan_disable();
    size_t n = mutate(data, size, max, seed);
    __lsan_enable();
    return n;
}

static size_t mutate(uint8_t *data, size_t size, size_t max, unsigned int seed)
{
    static int raw = -1;
    if (raw < 0) {
        const char *e = getenv("OT_FUZZ_RAW");
        raw = e && strcmp(e, "1") == 0;
    }
    if (raw)
        return LLVMFuzzerMutate(data, size, max);
    frng_t r = {seed * 0x2545f4914f6cdd1dull + 1};
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    hid_t f = ot_h5_open_image(data, size, "mutating.h5", 1);
    if (f < 0) { /* not an image (libFuzzer's first empty input): an empty file */
        hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
        H5Pset_fapl_core(fapl, 1 << 16, 0);
        f = H5Fcreate("new.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        H5Pclose(fapl);
        if (f < 0) {
            ot_h5_restore(&q);
            return size;
        }
    }
    fobjs_t *l = malloc(sizeof *l);
    if (!l) {
        mut_close(f);
        ot_h5_restore(&q);
        return size;
    }
    int rounds = 1 + (int)fr_below(&r, 3);
    for (int k = 0; k < rounds; k++) {
        list_objects(f, l);
        const fobj_t *ds = pick(l, &r, H5O_TYPE_DATASET), *any = pick(l, &r, H5O_TYPE_UNKNOWN);
        char p[OT_H5_PATH_MAX];
        switch (fr_below(&r, 16)) {
        case 0: case 1: case 2: case 3: case 4: /* a value */
            if (ds) {
                hid_t d = H5Dopen2(f, ds->path, H5P_DEFAULT);
                if (d >= 0) {
                    mut_value(d, &r);
                    H5Dclose(d);
                }
            }
            break;
        case 5: case 6: case 7: /* shape, type, storage */
            if (ds)
                mut_recreate(f, ds->path, &r);
            break;
        case 8: case 9: case 10: /* an attribute */
            if (any) {
                hid_t o = H5Oopen(f, any->path, H5P_DEFAULT);
                if (o >= 0) {
                    mut_attr(o, &r);
                    H5Oclose(o);
                }
            }
            break;
        case 11: /* delete */
            if (any && strcmp(any->path, "/") != 0)
                H5Ldelete(f, any->path, H5P_DEFAULT);
            break;
        case 12: /* rename */
            if (any && strcmp(any->path, "/") != 0) {
                new_path(l, &r, p, sizeof p);
                H5Lmove(f, any->path, f, p, H5P_DEFAULT, H5P_DEFAULT);
            }
            break;
        case 13: /* copy */
            if (any && strcmp(any->path, "/") != 0) {
                new_path(l, &r, p, sizeof p);
                H5Ocopy(f, any->path, f, p, H5P_DEFAULT, H5P_DEFAULT);
            }
            break;
        default: /* add */
            mut_add(f, l, &r);
            break;
        }
    }
    if (fr_below(&r, 8) != 0) {
        list_objects(f, l);
        renew_crcs(f, l);
        if (H5Aexists(f, OT_H5_CRC) > 0)
            ot_h5_attrs_crc_set(f);
    }
    free(l);
    uint8_t *out = malloc(max);
    size_t n = out ? take_image(f, out, max) : 0;
    mut_close(f);
    ot_h5_restore(&q);
    if (n == 0) {
        free(out);
        return size; /* too large: the input stays as it was */
    }
    memcpy(data, out, n);
    free(out);
    return n;
}

#endif
