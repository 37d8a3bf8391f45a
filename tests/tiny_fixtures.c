/* tiny_fixtures.c - tiny IDX data, a config and a checkpoint for test_datasrc.c, test_model.c,
 * test_predict.c and test_export.c, and the file helpers they share. Declared in tiny_test.h. */
#include "tiny_test.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <zlib.h>

#include "ot_checkpoint.h"
#include "ot_common.h"
#include "ot_test.h"

uint8_t ot_tiny_pixel(size_t s, size_t j)
{
    return (uint8_t)((s * 37 + j * 11 + (s * j) % 7 * 19 + 3) % 256);
}

uint8_t ot_tiny_label(size_t s)
{
    return (uint8_t)((s * 5 + 1) % OT_TINY_CLASSES);
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* header (hlen bytes) then body (blen bytes) to path, gzip'd or not */
static int write_file(const char *path, int gz, const uint8_t *head, size_t hlen,
                      const uint8_t *body, size_t blen)
{
    if (gz) {
        gzFile f = gzopen(path, "wb");
        if (!f)
            return -1;
        int ok = gzwrite(f, head, (unsigned)hlen) == (int)hlen &&
                 (!blen || gzwrite(f, body, (unsigned)blen) == (int)blen);
        return gzclose(f) == Z_OK && ok ? 0 : -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(head, 1, hlen, f) == hlen && (!blen || fwrite(body, 1, blen, f) == blen);
    return fclose(f) == 0 && ok ? 0 : -1;
}

int ot_tiny_write_images(const char *path, int gz, size_t n, size_t rows, size_t cols,
                         const uint8_t *px)
{
    uint8_t head[16];
    put_be32(head, 0x803);
    put_be32(head + 4, (uint32_t)n);
    put_be32(head + 8, (uint32_t)rows);
    put_be32(head + 12, (uint32_t)cols);
    return write_file(path, gz, head, sizeof head, px, n * rows * cols);
}

int ot_tiny_write_labels(const char *path, int gz, size_t n, const uint8_t *labels)
{
    uint8_t head[8];
    put_be32(head, 0x801);
    put_be32(head + 4, (uint32_t)n);
    return write_file(path, gz, head, sizeof head, labels, n);
}

/* images s = first..first + n - 1 and their labels as NAME-images and NAME-labels (+ ".gz") */
static int make_set(const char *name, size_t first, size_t n, int gz)
{
    uint8_t px[64 * OT_TINY_DIM], lab[64];
    char p[256], q[256];
    for (size_t s = 0; s < n; s++) {
        for (size_t j = 0; j < OT_TINY_DIM; j++)
            px[s * OT_TINY_DIM + j] = ot_tiny_pixel(first + s, j);
        lab[s] = ot_tiny_label(first + s);
    }
    snprintf(q, sizeof q, "%s-images%s", name, gz ? ".gz" : "");
    if (ot_tiny_write_images(ot_test_path(p, sizeof p, q), gz, n, OT_TINY_ROWS, OT_TINY_COLS,
                             px))
        return -1;
    snprintf(q, sizeof q, "%s-labels%s", name, gz ? ".gz" : "");
    return ot_tiny_write_labels(ot_test_path(p, sizeof p, q), gz, n, lab);
}

int ot_tiny_make_data(void)
{
    return make_set("train", 0, OT_TINY_TRAIN, 1) || make_set("test", OT_TINY_TRAIN,
                                                              OT_TINY_TEST, 0) ? -1 : 0;
}

int ot_tiny_config(ot_config_t *c, const char *const *opts)
{
    const char *const base[] = {
        "data.train_images=%s/train-images.gz", "data.train_labels=%s/train-labels.gz",
        "data.test_images=%s/test-images", "data.test_labels=%s/test-labels",
        "output.dir=%s/run", "data.classes=3", "model.layers=16, 5, 3", "model.init=he",
        "training.batch_size=8", "training.shards=2", "training.learning_rate=0.1",
        "training.seed=5", "training.epochs=1", NULL,
    };
    char set[512];
    ot_config_defaults(c);
    snprintf(c->path, sizeof c->path, "%s/tiny.ini", ot_test_scratch);
    for (size_t i = 0; base[i]; i++) {
        snprintf(set, sizeof set, base[i], ot_test_scratch);
        if (ot_config_set(c, set))
            return -1;
    }
    for (size_t i = 0; opts && opts[i]; i++)
        if (ot_config_set(c, opts[i]))
            return -1;
    return ot_config_check(c) ? -1 : 0;
}

int ot_tiny_checkpoint(ot_trainer_t *t, const ot_config_t *c, const char *path)
{
    ot_epoch_stats_t st;
    if (ot_trainer_init(t, c, 1))
        return -1;
    return ot_trainer_epoch(t, &st, NULL, NULL) || ot_ckpt_write(t, path) ? -1 : 0;
}

int ot_tiny_suite_init(const char *tag, const char *const *opts, ot_config_t *c, ot_trainer_t *t,
                       char *ckpt, size_t n)
{
    return ot_test_scratch_init(tag) || ot_tiny_make_data() || ot_tiny_config(c, opts) ||
           ot_tiny_checkpoint(t, c, ot_test_path(ckpt, n, "ck.h5")) ? 1 : 0;
}

int ot_tiny_suite_free(ot_trainer_t *t)
{
    ot_trainer_free(t);
    return ot_test_scratch_free();
}

/* ---- files ---- */

static struct rlimit fsize_old;
static void (*fsize_handler)(int) = SIG_DFL;

int ot_tiny_fsize_limit(long bytes)
{
    if (getrlimit(RLIMIT_FSIZE, &fsize_old) != 0)
        return -1;
    struct rlimit lim = fsize_old;
    lim.rlim_cur = (rlim_t)bytes;
    fsize_handler = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0) {
        signal(SIGXFSZ, fsize_handler);
        return -1;
    }
    return 0;
}

void ot_tiny_fsize_restore(void)
{
    setrlimit(RLIMIT_FSIZE, &fsize_old);
    signal(SIGXFSZ, fsize_handler);
}

long ot_tiny_file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    fclose(f);
    return n;
}

void *ot_tiny_slurp(const char *path, size_t *size)
{
    long n = ot_tiny_file_size(path);
    FILE *f = n >= 0 ? fopen(path, "rb") : NULL;
    char *buf = f ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    if (f)
        fclose(f);
    if (buf)
        *size = (size_t)n;
    return buf;
}

int ot_tiny_holds(const char *path, const char *text)
{
    size_t n = 0;
    char *got = ot_tiny_slurp(path, &n);
    const int same = got && n == strlen(text) && memcmp(got, text, n) == 0;
    free(got);
    return same;
}
