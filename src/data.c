/* data.c - IDX files (MNIST format), raw or gzip-compressed (inflated with zlib), and the
 * in-memory data set: uint8 images and labels, converted to floats per batch. */
#include "ot_data.h"

#include "ot_common.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <zlib.h>

#if defined(__AVX2__) || defined(__AVX512BW__)
#include <immintrin.h>
#endif

#define IDX_MAGIC_LABELS 0x00000801u /* unsigned bytes, 1 dimension (n) */
#define IDX_MAGIC_IMAGES 0x00000803u /* unsigned bytes, 3 dimensions (n, rows, cols) */
#define IDX_IN_BUFFER (256u * 1024u) /* bytes of the file read at a time */
#define IDX_GZ_CHUNK (1u << 30)      /* at most this much output an inflate call (uInt) */
#define IDX_FIRST_CHUNK ((size_t)1 << 20) /* first size of the body buffer; it then doubles */
#define IDX_SKIP_CHUNK (64u * 1024u) /* the items not kept pass through a buffer this large */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* ---------------------------------------------------------------- reading: raw or gzip */

/* An IDX file being read: its bytes as they are, or, when it starts with gzip's magic, one or
 * more gzip members back to back (what gzip -d takes), inflated here. Not through gzread: a
 * gzread that fails counts none of the bytes it decompressed (gztell then named a point
 * before the error), and gzread drops the bytes after the last member without a word. */
typedef struct {
    const char *path;  /* for messages */
    FILE *f;
    unsigned char *in; /* IDX_IN_BUFFER bytes of the file; z.next_in, z.avail_in: those unused */
    z_stream z;        /* its next_in and avail_in serve raw files too */
    int gzip;          /* the file starts with gzip's magic 1f 8b */
    int inflating;     /* inflateInit2 done: inflateEnd to do */
    int in_member;     /* inside a gzip member, whose end inflate has not reached */
    int done;          /* nothing more to deliver: the file's end, or junk after the last member */
    size_t pos;        /* bytes delivered so far: the file's, or decompressed ones */
    size_t junk;       /* bytes after the last gzip member that begin no other member */
    int junk_more;     /* ... and there are more than junk of them */
} idx_in_t;

/* The unused input moved to the buffer's start, and the rest of the buffer filled from the
 * file; *n the bytes read (0 at the end of the file). OT_OK, or OT_EIO after one line. */
static int in_more(idx_in_t *r, size_t *n)
{
    const size_t keep = r->z.avail_in;
    if (keep)
        memmove(r->in, r->z.next_in, keep);
    errno = 0;
    *n = fread(r->in + keep, 1, IDX_IN_BUFFER - keep, r->f);
    if (*n < IDX_IN_BUFFER - keep && ferror(r->f)) {
        ot_error("%s: read error: %s", r->path, errno ? strerror(errno) : "unknown error");
        return OT_EIO;
    }
    r->z.next_in = r->in;
    r->z.avail_in = (uInt)(keep + *n);
    return OT_OK;
}

static void in_close(idx_in_t *r)
{
    if (r->inflating)
        inflateEnd(&r->z);
    if (r->f)
        fclose(r->f);
    free(r->in);
    memset(r, 0, sizeof *r);
}

/* Open path for reading and tell raw from gzip by its first bytes. OT_OK, or OT_EIO or
 * OT_ENOMEM after one line (r closed). */
static int in_open(idx_in_t *r, const char *path)
{
    size_t n;
    int rc;
    memset(r, 0, sizeof *r);
    r->path = path;
    errno = 0;
    if (!(r->f = fopen(path, "rb"))) {
        const int e = errno;
        ot_error("cannot open '%s': %s", path, e ? strerror(e) : "unknown error");
        return e == ENOMEM ? OT_ENOMEM : OT_EIO;
    }
    if (!(r->in = malloc(IDX_IN_BUFFER))) {
        ot_error("%s: cannot allocate a read buffer of %u bytes", path, IDX_IN_BUFFER);
        in_close(r);
        return OT_ENOMEM;
    }
    if ((rc = in_more(r, &n))) {
        in_close(r);
        return rc;
    }
    r->gzip = n >= 2 && r->in[0] == 0x1f && r->in[1] == 0x8b;
    if (r->gzip) {
        rc = inflateInit2(&r->z, 15 + 16); /* a gzip header and trailer, a 32 KiB window */
        if (rc != Z_OK) {
            if (rc == Z_MEM_ERROR)
                ot_error("%s: zlib out of memory", path);
            else
                ot_error("%s: zlib cannot start inflating (status %d)", path, rc);
            in_close(r);
            return rc == Z_MEM_ERROR ? OT_ENOMEM : OT_EIO;
        }
        r->inflating = 1;
    }
    return OT_OK;
}

/* The bytes after the last gzip member, which begin no other one: counted (in a pipe the
 * first IDX_IN_BUFFER of them, and whether there are more) and dropped. */
static int in_junk(idx_in_t *r)
{
    size_t n;
    int rc = in_more(r, &n);
    if (rc)
        return rc;
    struct stat st;
    const off_t at = ftello(r->f); /* the file's offset past the bytes in the buffer */
    r->junk = r->z.avail_in;
    if (fstat(fileno(r->f), &st) == 0 && S_ISREG(st.st_mode) && at >= (off_t)r->junk &&
        st.st_size >= at) /* counted to the file's end */
        r->junk += (size_t)(st.st_size - at);
    else /* a pipe: the first IDX_IN_BUFFER bytes counted */
        r->junk_more = r->junk == IDX_IN_BUFFER && fgetc(r->f) != EOF;
    r->z.avail_in = 0;
    r->done = 1;
    return OT_OK;
}

/* Read up to len bytes into buf; *got is how many arrived before the end of the data. A short
 * read is not an error here (the caller knows what it expected), but a gzip stream that is
 * corrupt or ends early is: reported with the bytes decompressed until then, this call's
 * included, and OT_EFORMAT (OT_EIO for a read error, OT_ENOMEM). */
static int in_read(idx_in_t *r, unsigned char *buf, size_t len, size_t *got)
{
    size_t n;
    int rc;
    *got = 0;
    while (*got < len && !r->done) {
        if (!r->gzip) {
            if (r->z.avail_in == 0 && ((rc = in_more(r, &n)) || n == 0)) {
                r->done = rc == OT_OK;
                return rc;
            }
            const size_t k = r->z.avail_in < len - *got ? r->z.avail_in : len - *got;
            memcpy(buf + *got, r->z.next_in, k);
            r->z.next_in += k;
            r->z.avail_in -= (uInt)k;
            *got += k;
            r->pos += k;
            continue;
        }
        if (!r->in_member) { /* the file's start or a member's end: another, or the end */
            if (r->z.avail_in < 2 && (rc = in_more(r, &n)))
                return rc;
            if (r->z.avail_in == 0) {
                r->done = 1;
                break;
            }
            if (r->z.avail_in < 2 || r->z.next_in[0] != 0x1f || r->z.next_in[1] != 0x8b)
                return in_junk(r);
            if (inflateReset(&r->z) != Z_OK) {
                ot_error("%s: zlib cannot start the next gzip member", r->path);
                return OT_EIO;
            }
            r->in_member = 1;
        }
        if (r->z.avail_in == 0) {
            if ((rc = in_more(r, &n)))
                return rc;
            if (n == 0) {
                ot_error("%s: truncated gzip stream (unexpected end of file) after %zu "
                         "decompressed bytes", r->path, r->pos);
                return OT_EFORMAT;
            }
        }
        const uInt out = len - *got < IDX_GZ_CHUNK ? (uInt)(len - *got) : IDX_GZ_CHUNK;
        r->z.next_out = buf + *got;
        r->z.avail_out = out;
        const int z = inflate(&r->z, Z_NO_FLUSH);
        const size_t made = out - r->z.avail_out; /* delivered, whatever inflate says next */
        *got += made;
        r->pos += made;
        if (z == Z_STREAM_END) {
            r->in_member = 0;
        } else if (z == Z_MEM_ERROR) {
            ot_error("%s: zlib out of memory", r->path);
            return OT_ENOMEM;
        } else if (z != Z_OK && z != Z_BUF_ERROR) { /* Z_BUF_ERROR: its input used up */
            ot_error("%s: corrupt gzip data (%s) after %zu decompressed bytes", r->path,
                     r->z.msg ? r->z.msg : "unknown zlib error", r->pos);
            return OT_EFORMAT;
        }
    }
    return OT_OK;
}

/* Read one IDX file of unsigned bytes with ndim (1 or 3) dimensions. On success *data holds
 * the first keep items (all dims[0] of them if keep is 0 or larger), dims[1] * ... bytes each
 * (malloc'd, owned by the caller); the items after them are read and checked all the same (the
 * body's length, the gzip trailer's CRC) but not kept, so a run on a few images of a large
 * file does not hold, or touch the pages of, the rest. what names the items ("images" or
 * "labels"), unit what the body holds ("pixels" or "labels"). */
static int idx_read(const char *path, uint32_t magic, unsigned ndim, const char *what,
                    const char *unit, size_t keep, uint32_t dims[3], uint8_t **data)
{
    unsigned char hdr[16];
    unsigned char extra[IDX_SKIP_CHUNK];
    size_t hdr_len = 4 + 4 * (size_t)ndim;
    size_t got = 0, nbytes = 1, kept;
    uint8_t *buf = NULL;
    idx_in_t in;
    int rc;

    *data = NULL;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen opens one, then reads fail */
        ot_error("cannot open '%s': it is a directory, expected an IDX file", path);
        return OT_EIO;
    }
    if ((rc = in_open(&in, path)))
        return rc;

    rc = in_read(&in, hdr, hdr_len, &got);
    if (rc)
        goto fail;
    if (got >= 4 && be32(hdr) != magic) {
        uint32_t m = be32(hdr);
        const char *hint = "";
        if (m == IDX_MAGIC_LABELS)
            hint = "; this is an IDX label file";
        else if (m == IDX_MAGIC_IMAGES)
            hint = "; this is an IDX image file";
        else if (m == 0x89484446u) /* "\x89HDF", HDF5's signature */
            hint = stat(path, &st) != 0 || S_ISREG(st.st_mode)
                       ? "; this is an HDF5 file: data.train_file and data.test_file take HDF5"
                       : "; this is an HDF5 file through a pipe, and HDF5 reads only a regular "
                         "file it can seek in: expected the file's path";
        ot_error("%s: wrong magic 0x%08x, expected 0x%08x (IDX %s%s)", path, (unsigned)m,
                 (unsigned)magic, what, hint);
        rc = OT_EFORMAT;
        goto fail;
    }
    if (got < hdr_len) {
        ot_error("%s: truncated header (read %zu of %zu bytes)", path, got, hdr_len);
        rc = OT_EFORMAT;
        goto fail;
    }

    for (unsigned d = 0; d < ndim; d++)
        dims[d] = be32(hdr + 4 + 4 * d);
    if (dims[0] == 0) {
        ot_error("%s: zero %s", path, what);
        rc = OT_EFORMAT;
        goto fail;
    }
    if (ndim == 3 && (dims[1] == 0 || dims[2] == 0)) {
        ot_error("%s: zero-sized images (%u x %u)", path, (unsigned)dims[1], (unsigned)dims[2]);
        rc = OT_EFORMAT;
        goto fail;
    }
    for (unsigned d = 0; d < ndim; d++) {
        if (ot_mul_size(nbytes, dims[d], &nbytes) != OT_OK || nbytes > OT_IDX_MAX_BYTES) {
            nbytes = 0;
            break;
        }
    }
    if (nbytes == 0) {
        if (ndim == 3)
            ot_error("%s: header claims %u images of %u x %u pixels, more than the limit of "
                     "%zu bytes",
                     path, (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2],
                     OT_IDX_MAX_BYTES);
        else
            ot_error("%s: header claims %u labels, more than the limit of %zu bytes", path,
                     (unsigned)dims[0], OT_IDX_MAX_BYTES);
        rc = OT_EFORMAT;
        goto fail;
    }

    /* The buffer grows with the body (doubling from IDX_FIRST_CHUNK) instead of taking what
     * the header claims at once: a corrupt 16-byte file must not reserve 4 GiB before its
     * truncation is seen (found by tests/fuzz/fuzz_idx.c). */
    kept = keep > 0 && keep < dims[0] ? keep * (nbytes / dims[0]) : nbytes;
    got = 0;
    for (size_t cap = kept < IDX_FIRST_CHUNK ? kept : IDX_FIRST_CHUNK;;
         cap = cap > kept / 2 ? kept : 2 * cap) {
        size_t more = 0;
        uint8_t *grown = realloc(buf, cap);
        if (!grown) {
            ot_error("%s: out of memory allocating %zu bytes for %u %s", path, cap,
                     (unsigned)dims[0], what);
            rc = OT_ENOMEM;
            goto fail;
        }
        buf = grown;
        rc = in_read(&in, buf + got, cap - got, &more);
        if (rc)
            goto fail;
        got += more;
        if (got < cap || cap == kept)
            break;
    }
    if (got == kept) { /* the items not kept: read, counted, dropped */
        while (got < nbytes) {
            size_t more = 0, want = nbytes - got < sizeof extra ? nbytes - got : sizeof extra;
            rc = in_read(&in, extra, want, &more);
            if (rc)
                goto fail;
            got += more;
            if (more < want)
                break;
        }
    }
    if (got < nbytes) {
        if (ndim == 3)
            ot_error("%s: truncated body: expected %zu bytes of %s (%u images of %u x %u), "
                     "got %zu",
                     path, nbytes, unit, (unsigned)dims[0], (unsigned)dims[1],
                     (unsigned)dims[2], got);
        else
            ot_error("%s: truncated body: expected %zu bytes of %s, got %zu", path, nbytes, unit,
                     got);
        rc = OT_EFORMAT;
        goto fail;
    }

    /* Trailing bytes mean the header and the body disagree: refuse rather than guess. This
     * read also makes inflate verify the gzip trailer (CRC and length), and looks past the
     * last member: another may follow (gzip -d takes members back to back), nothing else. */
    rc = in_read(&in, extra, sizeof extra, &got);
    if (rc)
        goto fail;
    if (got > 0) {
        ot_error("%s: trailing data after %u %s (%s%zu extra bytes)", path, (unsigned)dims[0],
                 what, got == sizeof extra ? "at least " : "", got);
        rc = OT_EFORMAT;
        goto fail;
    }
    if (in.junk > 0) {
        ot_error("%s: trailing data after %u %s (%s%zu extra bytes after the gzip stream, not "
                 "another gzip member)", path, (unsigned)dims[0], what,
                 in.junk_more ? "more than " : "", in.junk);
        rc = OT_EFORMAT;
        goto fail;
    }

    in_close(&in);
    *data = buf;
    return OT_OK;

fail:
    in_close(&in);
    free(buf);
    return rc;
}

/* The first keep images (all if keep is 0), *n the count the file holds. */
static int idx_read_images(const char *path, size_t keep, uint8_t **images, size_t *n,
                           size_t *rows, size_t *cols)
{
    uint32_t dims[3] = {0, 0, 0};
    int rc = idx_read(path, IDX_MAGIC_IMAGES, 3, "images", "pixels", keep, dims, images);
    if (rc)
        return rc;
    *n = dims[0];
    *rows = dims[1];
    *cols = dims[2];
    return OT_OK;
}

int ot_idx_read_images(const char *path, uint8_t **images, size_t *n, size_t *rows, size_t *cols)
{
    return idx_read_images(path, 0, images, n, rows, cols);
}

int ot_idx_read_labels(const char *path, uint8_t **labels, size_t *n)
{
    uint32_t dims[3] = {0, 0, 0};
    int rc = idx_read(path, IDX_MAGIC_LABELS, 1, "labels", "labels", 0, dims, labels);
    if (rc)
        return rc;
    *n = dims[0];
    return OT_OK;
}

float ot_nonzero_fraction(const uint8_t *p, size_t n)
{
    size_t nz = 0;
    for (size_t i = 0; i < n; i++)
        nz += p[i] != 0;
    return n ? (float)((double)nz / (double)n) : 0.0f;
}

int ot_dataset_load(ot_dataset_t *ds, const char *images_path, const char *labels_path,
                    int n_classes, size_t limit)
{
    size_t n_labels = 0, kept;
    int rc;

    memset(ds, 0, sizeof *ds);
    if (n_classes < 2 || n_classes > 256) {
        ot_error("n_classes %d is out of range for labels in %s, expected 2..256", n_classes,
                 labels_path ? labels_path : images_path);
        return OT_EINVAL;
    }
    rc = idx_read_images(images_path, limit, &ds->images, &ds->n, &ds->rows, &ds->cols);
    if (rc)
        goto fail;
    kept = limit > 0 && limit < ds->n ? limit : ds->n;
    if (!labels_path) { /* unlabelled: every label 0 */
        n_labels = ds->n;
        if (!(ds->labels = calloc(ds->n, 1))) {
            ot_error("%s: cannot allocate %zu labels", images_path, ds->n);
            rc = OT_ENOMEM;
            goto fail;
        }
    } else if ((rc = ot_idx_read_labels(labels_path, &ds->labels, &n_labels))) {
        goto fail;
    }
    if (n_labels != ds->n) {
        ot_error("%s has %zu images but %s has %zu labels; expected one label per image",
                 images_path, ds->n, labels_path, n_labels);
        rc = OT_EFORMAT;
        goto fail;
    }
    /* every label in the file is checked, also those a limit drops: the file is wrong */
    for (size_t i = 0; i < n_labels; i++) {
        if (ds->labels[i] >= n_classes) {
            ot_error("%s: label %u at index %zu is out of range, expected < %d", labels_path,
                     (unsigned)ds->labels[i], i, n_classes);
            rc = OT_EFORMAT;
            goto fail;
        }
    }
    ds->chans = 1;
    ds->dim = ds->rows * ds->cols; /* cannot overflow: idx_read bounded n * rows * cols */
    ds->n_classes = n_classes;
    ds->load_bytes = kept * ds->dim + ds->n;

    if (kept < ds->n) {
        /* shrink in place; if realloc cannot, the larger block is still valid */
        uint8_t *p = realloc(ds->labels, kept);
        if (p)
            ds->labels = p;
        ds->n = kept;
    }
    ds->nonzero = ot_nonzero_fraction(ds->images, ds->n * ds->dim);
    if (ds->nonzero < OT_INDEX_BELOW && ds->dim <= OT_SPARSE_MAX_DIM) {
        rc = ot_dataset_index(ds);
        if (rc)
            goto fail;
    }
    return OT_OK;

fail:
    ot_dataset_free(ds);
    return rc;
}

static void index_free(ot_dataset_t *ds)
{
    free(ds->nz_off);
    free(ds->nz_pix);
    free(ds->nz_val);
    ds->nz_off = NULL;
    ds->nz_pix = NULL;
    ds->nz_val = NULL;
}

int ot_dataset_index(ot_dataset_t *ds)
{
    index_free(ds);
    if (ds->dim > OT_SPARSE_MAX_DIM)
        return OT_EFORMAT;
    size_t total = 0;
    for (size_t i = 0; i < ds->n * ds->dim; i++)
        total += ds->images[i] != 0;
    ds->nz_off = malloc((ds->n + 1) * sizeof *ds->nz_off);
    ds->nz_pix = malloc((total ? total : 1) * sizeof *ds->nz_pix);
    ds->nz_val = malloc(total ? total : 1);
    if (!ds->nz_off || !ds->nz_pix || !ds->nz_val || total > UINT32_MAX) {
        index_free(ds);
        ot_error("cannot list the nonzero pixels of %zu images (%zu bytes)", ds->n, total * 3);
        return OT_ENOMEM;
    }
    size_t q = 0;
    for (size_t s = 0; s < ds->n; s++) {
        const uint8_t *img = ds->images + s * ds->dim;
        ds->nz_off[s] = (uint32_t)q;
        for (size_t j = 0; j < ds->dim; j++)
            if (img[j]) {
                ds->nz_pix[q] = (uint16_t)j;
                ds->nz_val[q++] = img[j];
            }
    }
    ds->nz_off[ds->n] = (uint32_t)q;
    return OT_OK;
}

void ot_dataset_standardise(ot_dataset_t *ds, const float *mean, const float *std)
{
    ds->mean = mean;
    ds->std = std;
    if (mean) {
        index_free(ds);
        ds->nonzero = 1.0f;
    }
}

ot_dataset_t ot_dataset_tail(const ot_dataset_t *ds, size_t from)
{
    ot_dataset_t v = *ds;
    assert(from <= ds->n);
    v.n = ds->n - from;
    if (v.images)
        v.images += from * ds->dim;
    if (v.features)
        v.features += from * ds->dim;
    v.labels += from;
    if (v.nz_off) /* the lists' offsets are absolute: the tail's start where its samples do */
        v.nz_off += from;
    return v;
}

void ot_dataset_free(ot_dataset_t *ds)
{
    if (!ds)
        return;
    free(ds->images);
    free(ds->features);
    free(ds->labels);
    free(ds->class_names);
    free(ds->sample_names);
    index_free(ds);
    memset(ds, 0, sizeof *ds);
}

/* src (dim) uint8 -> dst (dim) floats in [0,1]. restrict on the parameters (GCC ignores it on
 * block-scope pointers) lets the widening multiply vectorize without an aliasing check. */
static void u8_to_unit(const uint8_t *restrict src, float *restrict dst, size_t dim)
{
    const float scale = OT_PIXEL_SCALE;
    for (size_t j = 0; j < dim; j++)
        dst[j] = (float)src[j] * scale;
}

/* Rows between the one converted and the one prefetched. */
#define GATHER_AHEAD 4

/* Ask for row idx[i] (if i < n) while another is converted, so that several misses are in
 * flight: the rows are random samples. */
static void prefetch_row(const ot_dataset_t *ds, const uint32_t *idx, size_t n, size_t i)
{
    if (i < n)
        for (size_t o = 0; o < ds->dim; o += 64)
            __builtin_prefetch(ds->images + (size_t)idx[i] * ds->dim + o);
}

/* x (dim) -> (x - mean) / std, element-wise: a division, as the exported ONNX model's Div */
static void standardise(float *restrict x, const float *restrict mean, const float *restrict std,
                        size_t dim)
{
    for (size_t j = 0; j < dim; j++)
        x[j] = (x[j] - mean[j]) / std[j];
}

void ot_dataset_sample(const ot_dataset_t *ds, size_t s, float *x)
{
    assert(s < ds->n);
    if (ds->images)
        u8_to_unit(ds->images + s * ds->dim, x, ds->dim);
    else
        memcpy(x, ds->features + s * ds->dim, ds->dim * sizeof(float));
    if (ds->mean)
        standardise(x, ds->mean, ds->std, ds->dim);
}

/* samples (ds->n, dim), idx (n) -> x (n, dim) as ot_dataset_sample makes them, y (n) */
void ot_dataset_gather(const ot_dataset_t *ds, const uint32_t *idx, size_t n, float *x, int32_t *y)
{
    const size_t dim = ds->dim;
    if (!ds->images || ds->mean) { /* floats, or standardised bytes */
        for (size_t i = 0; i < n; i++) {
            ot_dataset_sample(ds, idx[i], x + i * dim);
            y[i] = ds->labels[idx[i]];
        }
        return;
    }
    for (size_t i = 0; i < GATHER_AHEAD; i++)
        prefetch_row(ds, idx, n, i);
    for (size_t i = 0; i < n; i++) {
        assert(idx[i] < ds->n);
        prefetch_row(ds, idx, n, i + GATHER_AHEAD);
        u8_to_unit(ds->images + (size_t)idx[i] * dim, x + i * dim, dim);
        y[i] = ds->labels[idx[i]];
    }
}

/* A 64-bit finalizer (splitmix64's): every input bit affects every output bit. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void ot_shift_of(const ot_shift_key_t *k, uint32_t sample, int *dy, int *dx)
{
    uint64_t h = mix64(mix64(mix64(k->seed ^ 0x3c6ef372fe94f82bULL) ^ k->step) ^ sample);
    const uint64_t span = 2 * (uint64_t)k->max + 1;
    *dy = (int)(h % span) - k->max;
    *dx = (int)((h >> 32) % span) - k->max;
}

void ot_dataset_gather_shifted(const ot_dataset_t *ds, const uint32_t *idx, size_t n, float *x,
                               int32_t *y, const ot_shift_key_t *k)
{
    const long rows = (long)ds->rows, cols = (long)ds->cols;
    const size_t C = ds->chans > 1 ? ds->chans : 1; /* NHWC: a pixel's channels together */
    for (size_t i = 0; i < n; i++) {
        assert(idx[i] < ds->n);
        const size_t s = idx[i];
        float *out = x + i * ds->dim;
        int dy, dx;
        ot_shift_of(k, idx[i], &dy, &dx);
        /* out(r, c) = sample(r - dy, c - dx), zero outside the frame; then standardised like
         * every gathered sample */
        for (long r = 0; r < rows; r++)
            for (long c = 0; c < cols; c++) {
                const long sr = r - dy, sc = c - dx;
                float *o = out + ((size_t)r * (size_t)cols + (size_t)c) * C;
                const int inside = sr >= 0 && sr < rows && sc >= 0 && sc < cols;
                const size_t from = s * ds->dim + ((size_t)sr * (size_t)cols + (size_t)sc) * C;
                for (size_t ch = 0; ch < C; ch++)
                    o[ch] = !inside     ? 0.0f
                            : ds->images ? (float)ds->images[from + ch] * OT_PIXEL_SCALE
                                         : ds->features[from + ch];
            }
        if (ds->mean)
            standardise(out, ds->mean, ds->std, ds->dim);
        y[i] = ds->labels[s];
    }
}

/* Bit j set where p[j] is not zero, j < len <= 64. */
static uint64_t nonzero_bits(const uint8_t *p, size_t len)
{
#if defined(__AVX512BW__)
    __m512i v = _mm512_maskz_loadu_epi8(len == 64 ? ~0ull : (1ull << len) - 1, p);
    return _mm512_test_epi8_mask(v, v);
#else
    uint64_t m = 0;
#if defined(__AVX2__)
    if (len == 64) {
        const __m256i z = _mm256_setzero_si256();
        uint32_t lo = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)p), z));
        uint32_t hi = (uint32_t)_mm256_movemask_epi8(
            _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(const void *)(p + 32)), z));
        return ~((uint64_t)hi << 32 | lo);
    }
#endif
    for (size_t j = 0; j < len; j++)
        m |= (uint64_t)(p[j] != 0) << j;
    return m;
#endif
}

/* Image s's nonzero pixels into pix/val, found by scanning it; returns how many. */
static size_t scan_nonzero(const ot_dataset_t *ds, size_t s, uint16_t *pix, uint8_t *val)
{
    const size_t dim = ds->dim;
    const uint8_t *src = ds->images + s * dim;
    size_t q = 0;
    for (size_t j0 = 0; j0 < dim; j0 += 64)
        for (uint64_t m = nonzero_bits(src + j0, dim - j0 < 64 ? dim - j0 : 64); m; m &= m - 1) {
            const size_t i = j0 + (size_t)__builtin_ctzll(m);
            pix[q] = (uint16_t)i;
            val[q++] = src[i];
        }
    return q;
}

void ot_dataset_gather_sparse(const ot_dataset_t *ds, const uint32_t *idx, size_t n,
                              const ot_sparse_batch_t *sb, int32_t *y)
{
    const size_t dim = ds->dim;
    assert(dim <= OT_SPARSE_MAX_DIM);
    if (!ds->nz_off)
        for (size_t i = 0; i < GATHER_AHEAD; i++)
            prefetch_row(ds, idx, n, i);
    for (size_t p = 0; p < n; p++) {
        assert(idx[p] < ds->n);
        const uint16_t *pix;
        const uint8_t *val;
        size_t c;
        if (ds->nz_off) { /* the data set's list: nothing to copy */
            const size_t o = ds->nz_off[idx[p]];
            pix = ds->nz_pix + o;
            val = ds->nz_val + o;
            c = ds->nz_off[idx[p] + 1] - o;
        } else {
            prefetch_row(ds, idx, n, p + GATHER_AHEAD);
            uint16_t *pb = sb->pix_buf + p * sb->ld;
            uint8_t *vb = sb->val_buf + p * sb->ld;
            c = scan_nonzero(ds, idx[p], pb, vb);
            pix = pb;
            val = vb;
        }
        sb->row_n[p] = (uint32_t)c;
        sb->row_pix[p] = pix;
        sb->row_val[p] = val;
        y[p] = ds->labels[idx[p]];
        if (sb->col_n) { /* row p is the next of each column list */
            const uint32_t row = (uint32_t)(sb->first + p) << 8;
            for (size_t q = 0; q < c; q++) {
                const size_t i = pix[q], k = sb->col_n[i]++ * dim + i;
                sb->col_code[k] = row | val[q];
            }
        }
    }
}

void ot_dataset_prefetch(const ot_dataset_t *ds, const uint32_t *idx, size_t n)
{
    if (ds->nz_off) { /* the lists are what the sparse gather reads */
        for (size_t i = 0; i < n; i++) {
            const size_t o = ds->nz_off[idx[i]], c = ds->nz_off[idx[i] + 1] - o;
            for (size_t b = 0; b < c * sizeof *ds->nz_pix; b += 64)
                __builtin_prefetch((const char *)(ds->nz_pix + o) + b, 0, 2);
            for (size_t b = 0; b < c; b += 64)
                __builtin_prefetch(ds->nz_val + o + b, 0, 2);
        }
        return;
    }
    const size_t bytes = ds->images ? ds->dim : ds->dim * sizeof(float);
    for (size_t i = 0; i < n; i++) {
        const char *p = ds->images ? (const char *)(ds->images + (size_t)idx[i] * ds->dim)
                                   : (const char *)(ds->features + (size_t)idx[i] * ds->dim);
        for (size_t o = 0; o < bytes; o += 64)
            __builtin_prefetch(p + o, 0, 2); /* to L2: the step's own data keeps L1 */
    }
}
