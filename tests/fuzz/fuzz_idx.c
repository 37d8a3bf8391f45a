/* fuzz_idx.c - libFuzzer target for the IDX reader (raw and gzip) and the data set loader.
 *
 * The input is a file's bytes. It is read, through a memfd's /proc/self/fd path,
 *   1. as it is, by ot_idx_read_images and ot_idx_read_labels (zlib reads it raw, or as gzip
 *      when it starts with the gzip magic: corrupt and truncated gzip streams come from here);
 *   2. gzip-compressed here, by the same two readers (the IDX checks behind a valid stream);
 *   3. as the image file of ot_dataset_load, with a label file made from it: the images' count
 *      (one fewer when the input's last byte is odd, to reach the count check) and labels
 *      taken from the pixels, n_classes and limit also taken from the input's last bytes.
 * A reader that succeeds must return sizes that agree with the input's header; the buffers are
 * touched end to end so that ASan sees any short allocation. Any violated property aborts. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zlib.h>

#define FUZZ_NAME "fuzz_idx"
#include "fuzz_util.h"

#include "ot_common.h"
#include "ot_data.h"

static int fd_raw = -1, fd_gz = -1, fd_labels = -1;
static char path_raw[64], path_gz[64], path_labels[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fd_raw = open_memfd("raw.idx", path_raw, sizeof path_raw);
    fd_gz = open_memfd("file.idx.gz", path_gz, sizeof path_gz);
    fd_labels = open_memfd("labels.idx", path_labels, sizeof path_labels);
    return 0;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Sum of all bytes: reads every byte of the buffer (ASan checks each access). */
static unsigned touch(const uint8_t *p, size_t n)
{
    unsigned s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

/* Read path both ways; on success the result must match the header in data[0..size), which
 * is the uncompressed file. */
static void read_both(const char *path, const uint8_t *data, size_t size)
{
    uint8_t *buf = NULL;
    size_t n = 0, rows = 0, cols = 0;
    if (ot_idx_read_images(path, &buf, &n, &rows, &cols) == OT_OK) {
        if (size < 16 || be32(data) != 0x803 || n != be32(data + 4) || rows != be32(data + 8) ||
            cols != be32(data + 12) || n == 0 || rows == 0 || cols == 0 ||
            16 + n * rows * cols != size || !buf)
            die("ot_idx_read_images accepted a file that disagrees with its header");
        if (memcmp(buf, data + 16, size - 16) != 0)
            die("ot_idx_read_images returned other pixels than the file holds");
    } else if (buf) {
        die("ot_idx_read_images failed but left a buffer");
    }
    free(buf);
    buf = NULL;
    if (ot_idx_read_labels(path, &buf, &n) == OT_OK) {
        if (size < 8 || be32(data) != 0x801 || n != be32(data + 4) || n == 0 || 8 + n != size ||
            !buf)
            die("ot_idx_read_labels accepted a file that disagrees with its header");
        if (memcmp(buf, data + 8, size - 8) != 0)
            die("ot_idx_read_labels returned other labels than the file holds");
    } else if (buf) {
        die("ot_idx_read_labels failed but left a buffer");
    }
    free(buf);
}

/* data gzip-compressed (level 1) into a malloc'd buffer; NULL when zlib fails. */
static uint8_t *gzip(const uint8_t *data, size_t size, size_t *out_size)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong cap = deflateBound(&z, (uLong)size);
    uint8_t *out = malloc(cap);
    if (!out) {
        deflateEnd(&z);
        return NULL;
    }
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)size;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int r = deflate(&z, Z_FINISH);
    *out_size = z.total_out;
    deflateEnd(&z);
    if (r != Z_STREAM_END) {
        free(out);
        return NULL;
    }
    return out;
}

/* What zlib's gzread makes of the file at path (the bytes themselves, or a gzip stream
 * decompressed), malloc'd into *out; -1 when zlib reports an error or it exceeds max bytes. */
static int plain_bytes(const char *path, size_t max, uint8_t **out, size_t *len)
{
    gzFile gz = gzopen(path, "rb");
    uint8_t *buf = malloc(max + 1);
    int got = -1, err = Z_OK;
    if (gz && buf) {
        got = gzread(gz, buf, (unsigned)max + 1);
        gzerror(gz, &err);
    }
    if (gz)
        gzclose(gz);
    if (got < 0 || (size_t)got > max || (err != Z_OK && err != Z_STREAM_END)) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = (size_t)got;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* 1. the bytes as they are; a gzip input is compared with what it decompresses to */
    put(fd_raw, data, size);
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
        uint8_t *plain = NULL;
        size_t plain_len = 0;
        if (plain_bytes(path_raw, (size_t)1 << 20, &plain, &plain_len) == 0) {
            read_both(path_raw, plain, plain_len);
            free(plain);
        } else {
            uint8_t *buf = NULL;
            size_t n, rows, cols;
            if (ot_idx_read_images(path_raw, &buf, &n, &rows, &cols) == OT_OK) /* no check */
                free(buf);
            else if (buf)
                die("ot_idx_read_images failed but left a buffer");
            if (ot_idx_read_labels(path_raw, &buf, &n) == OT_OK)
                free(buf);
            else if (buf)
                die("ot_idx_read_labels failed but left a buffer");
        }
    } else {
        read_both(path_raw, data, size);
    }

    /* 2. behind a valid gzip stream (skip inputs that already are gzip: 1. covers them) */
    if (!(size >= 2 && data[0] == 0x1f && data[1] == 0x8b)) {
        size_t gz_size = 0;
        uint8_t *gz = gzip(data, size, &gz_size);
        if (gz) {
            put(fd_gz, gz, gz_size);
            read_both(path_gz, data, size);
            free(gz);
        }
    }

    /* 3. the data set: these bytes as images (raw IDX only), labels made from them */
    if (size >= 16 && be32(data) == 0x803) {
        uint32_t n = be32(data + 4);
        uint8_t last = data[size - 1];
        uint32_t n_labels = (last & 1) && n > 0 ? n - 1 : n;
        size_t body = size - 16;
        if (n_labels <= body) { /* else the image body is short too: 1. covers that */
            uint8_t *labels = malloc(8 + (size_t)n_labels);
            if (!labels)
                return 0;
            put_be32(labels, 0x801);
            put_be32(labels + 4, n_labels);
            memcpy(labels + 8, data + 16, n_labels);
            put(fd_labels, labels, 8 + (size_t)n_labels);
            free(labels);
            int classes = 2 + (last >> 1) % 255;  /* 2..256 */
            size_t limit = size >= 2 ? data[size - 2] : 0;
            ot_dataset_t ds;
            if (ot_dataset_load(&ds, path_raw, path_labels, classes, limit) == OT_OK) {
                if (ds.n == 0 || ds.dim != ds.rows * ds.cols || (limit && ds.n > limit) ||
                    ds.n_classes != classes)
                    die("ot_dataset_load returned an inconsistent data set");
                for (size_t i = 0; i < ds.n; i++)
                    if (ds.labels[i] >= classes)
                        die("ot_dataset_load accepted a label out of range");
                (void)touch(ds.images, ds.n * ds.dim);
                /* gather a few samples as the engine does */
                float x[4 * 64];
                int32_t y[4];
                uint32_t idx[4];
                if (ds.dim <= 64) {
                    size_t k = ds.n < 4 ? ds.n : 4;
                    for (size_t i = 0; i < k; i++)
                        idx[i] = (uint32_t)(ds.n - 1 - i);
                    ot_dataset_gather(&ds, idx, k, x, y);
                    for (size_t i = 0; i < k * ds.dim; i++)
                        if (!(x[i] >= 0.0f && x[i] <= 1.0f))
                            die("ot_dataset_gather produced a pixel outside [0,1]");
                }
            } else if (ds.images || ds.labels || ds.n) {
                die("ot_dataset_load failed but left data behind");
            }
            ot_dataset_free(&ds);
        }
    }
    return 0;
}
