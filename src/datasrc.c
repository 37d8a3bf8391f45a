/* datasrc.c - the config's data sets, from IDX or HDF5 files (see ot_datasrc.h). */
#include "ot_datasrc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_h5data.h"

static ot_h5data_opts_t h5_opts(const ot_config_t *c, size_t limit, int labels_optional)
{
    double after;
    FILE *progress = ot_progress_get(&after);
    return (ot_h5data_opts_t){c->features, c->labels, c->layout, c->n_classes, limit,
                              labels_optional, 0, progress, after};
}

int ot_data_layout_hint(const ot_config_t *c, const ot_dataset_t *ds, char *buf, size_t n)
{
    if (n > 0)
        buf[0] = '\0';
    if (!c->train_file[0] || ds->flat || ds->chans < 2)
        return 0;
    const int nhwc = c->layout == OT_LAYOUT_NHWC;
    const size_t few = nhwc ? ds->rows : ds->cols, a = nhwc ? ds->cols : ds->rows;
    if (few > 4 || a <= 4 || a != ds->chans)
        return 0;
    snprintf(buf, n,
             "data.layout = %s reads the samples of %s (%zux%zux%zu as stored) as %zux%zu "
             "images of %zu channels; if its axes are N x %s, set data.layout = %s",
             ot_layout_name(c->layout), c->train_file, nhwc ? ds->rows : ds->chans,
             nhwc ? ds->cols : ds->rows, nhwc ? ds->chans : ds->cols, ds->rows, ds->cols,
             ds->chans, nhwc ? "C x H x W" : "H x W x C", nhwc ? "nchw" : "nhwc");
    return 1;
}

const char *ot_data_path(const ot_config_t *c, int test)
{
    if (c->train_file[0])
        return test ? c->test_file : c->train_file;
    return test ? c->test_images : c->train_images;
}

/* The file the config's key names can be opened: else one line naming the config, the key,
 * the path and why, with a hint where one helps (a relative path is the current directory's,
 * not the config's; Fashion-MNIST comes from a Debian package), and OT_EIO. */
static int openable(const ot_config_t *c, const char *key, const char *path)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) { /* fopen opens one, then reads fail */
        ot_error("%s: %s: cannot open '%s': it is a directory, expected a file", c->path, key,
                 path);
        return OT_EIO;
    }
    FILE *f = fopen(path, "rb");
    if (f) {
        fclose(f);
        return OT_OK;
    }
    const int e = errno;
    char hint[OT_PATH_MAX + 96] = "", cwd[OT_PATH_MAX];
    static const char fashion[] = "/usr/share/datasets/fashion-mnist/";
    if (e == ENOENT && path[0] != '/' && getcwd(cwd, sizeof cwd))
        snprintf(hint, sizeof hint, " (a relative path is read from the current directory, %s)",
                 cwd);
    else if (e == ENOENT && strncmp(path, fashion, sizeof fashion - 1) == 0)
        snprintf(hint, sizeof hint, " (Debian's dataset-fashion-mnist package holds it: "
                 "apt-get install dataset-fashion-mnist, or scripts/setup.sh)");
    ot_error("%s: %s: cannot open '%s': %s%s", c->path, key, path, strerror(e), hint);
    return OT_EIO;
}

/* ---------------------------------------------------------------- data.class_names */

/* A name's longest form in bytes (h5data.c cuts an HDF5 file's names at the same length), and
 * the largest names file read (256 such names take 17 KiB). */
#define CLASS_NAME_MAX 64
#define NAMES_FILE_MAX 65536

/* Length of the UTF-8 sequence starting at s (at most len bytes), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    size_t n = s[0] < 0x80 ? 1 : (s[0] & 0xe0) == 0xc0 ? 2 : (s[0] & 0xf0) == 0xe0 ? 3
             : (s[0] & 0xf8) == 0xf0 ? 4 : 0;
    if (n == 0 || n > len || (n == 2 && s[0] < 0xc2) || (n == 4 && s[0] > 0xf4))
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && s[0] == 0xe0 && s[1] < 0xa0) || (n == 3 && s[0] == 0xed && s[1] >= 0xa0) ||
        (n == 4 && s[0] == 0xf0 && s[1] < 0x90) || (n == 4 && s[0] == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong forms, surrogates, past U+10FFFF */
    return n;
}

/* Line `line` of the names file (s, len bytes, without its '\n') into name, without its outer
 * blanks; else one line saying what is wrong with it, and OT_EFORMAT. */
static int take_name(const char *cfg, const char *path, size_t line, const char *s, size_t len,
                     char *name)
{
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\r'))
        len--;
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    const char *why = NULL;
    char what[48];
    if (len == 0)
        why = "an empty line";
    else if (len > CLASS_NAME_MAX)
        snprintf(what, sizeof what, "a name of %zu bytes", len), why = what;
    for (size_t i = 0; !why && i < len;) {
        const unsigned char *u = (const unsigned char *)s + i;
        size_t k = utf8_seq(u, len - i);
        if (k == 0)
            why = "bytes that are not UTF-8 text";
        else if (u[0] < 0x20 || u[0] == 0x7f)
            why = "a control character";
        i += k ? k : 1;
    }
    if (why) {
        ot_error("%s: data.class_names: %s:%zu: %s, expected one class name a line (1 to %d "
                 "bytes of UTF-8 text)", cfg, path, line, why, CLASS_NAME_MAX);
        return OT_EFORMAT;
    }
    memcpy(name, s, len);
    name[len] = '\0';
    return OT_OK;
}

int ot_class_names_read(const char *cfg, const char *path, size_t n, char ***out)
{
    char *text = NULL, **names = NULL;
    int rc = OT_EIO;
    *out = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
        ot_error("%s: data.class_names: cannot open '%s': %s, expected a text file of %zu "
                 "class names, one a line", cfg, path, !f ? strerror(errno)
                 : S_ISDIR(st.st_mode) ? "it is a directory" : strerror(errno), n);
        goto out;
    }
    size_t got = 0;
    if (!(text = malloc(NAMES_FILE_MAX + 1)) ||
        !(names = malloc(n * (sizeof(char *) + CLASS_NAME_MAX + 1)))) {
        ot_error("%s: data.class_names: out of memory reading '%s'", cfg, path);
        rc = OT_ENOMEM;
        goto out;
    }
    got = fread(text, 1, NAMES_FILE_MAX + 1, f);
    if (ferror(f)) {
        ot_error("%s: data.class_names: cannot read '%s': %s", cfg, path, strerror(errno));
        goto out;
    }
    rc = OT_EFORMAT;
    if (got > NAMES_FILE_MAX) {
        ot_error("%s: data.class_names: '%s' is larger than %d bytes, expected a text file of "
                 "%zu class names, one a line", cfg, path, NAMES_FILE_MAX, n);
        goto out;
    }
    size_t at = got >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0 ? 3 : 0; /* a BOM */
    size_t count = 0;
    while (at < got) {
        const char *nl = memchr(text + at, '\n', got - at);
        size_t len = nl ? (size_t)(nl - (text + at)) : got - at;
        if (count == n) {
            ot_error("%s: data.class_names: %s:%zu: more names than data.classes = %zu, "
                     "expected one class name a line", cfg, path, count + 1, n);
            goto out;
        }
        names[count] = (char *)(names + n) + count * (CLASS_NAME_MAX + 1);
        if ((rc = take_name(cfg, path, count + 1, text + at, len, names[count])))
            goto out;
        rc = OT_EFORMAT;
        count++;
        at += len + 1;
    }
    if (count < n) {
        ot_error("%s: data.class_names: '%s' holds %zu names, expected data.classes = %zu, one "
                 "a line", cfg, path, count, n);
        goto out;
    }
    *out = names;
    names = NULL;
    rc = OT_OK;
out:
    if (f)
        fclose(f);
    free(text);
    free(names);
    return rc;
}

/* ds as loaded, with the names of data.class_names in the place of its file's, if it has
 * any; on failure ds is freed. */
static int named(ot_dataset_t *ds, const ot_config_t *c, int rc)
{
    char **names;
    if (rc || !c->class_names[0])
        return rc;
    if ((rc = openable(c, "data.class_names", c->class_names)) ||
        (rc = ot_class_names_read(c->path, c->class_names, (size_t)c->n_classes, &names))) {
        ot_dataset_free(ds);
        return rc;
    }
    free(ds->class_names);
    ds->class_names = names;
    ds->class_names_note[0] = '\0'; /* the file's names, used or not, are not wanted */
    return OT_OK;
}

int ot_data_load(ot_dataset_t *ds, const ot_config_t *c, int test)
{
    const size_t limit = test ? c->test_limit : c->train_limit;
    int rc;
    memset(ds, 0, sizeof *ds); /* as the loaders leave it on failure */
    if (c->train_file[0]) {
        ot_h5data_opts_t o = h5_opts(c, limit, 0);
        const char *path = test ? c->test_file : c->train_file;
        if ((rc = openable(c, test ? "data.test_file" : "data.train_file", path)))
            return rc;
        return named(ds, c, ot_h5data_load(ds, path, &o, NULL));
    }
    const char *images = test ? c->test_images : c->train_images;
    const char *labels = test ? c->test_labels : c->train_labels;
    if ((rc = openable(c, test ? "data.test_images" : "data.train_images", images)) ||
        (rc = openable(c, test ? "data.test_labels" : "data.train_labels", labels)))
        return rc;
    return named(ds, c, ot_dataset_load(ds, images, labels, c->n_classes, limit));
}

int ot_data_load_input(ot_dataset_t *ds, const ot_config_t *c, const char *path,
                       const char *labels_path, int *has_labels)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        ot_error("cannot open '%s': it is a directory, expected IDX images or an HDF5 file",
                 path);
        return OT_EIO;
    }
    if (ot_h5data_is_hdf5(path) == 1) {
        if (labels_path) {
            ot_error("%s: --labels goes with IDX images; an HDF5 input holds its labels in "
                     "the dataset data.labels names ('%s')", path, c->labels);
            return OT_ECONFIG;
        }
        ot_h5data_opts_t o = h5_opts(c, 0, 1);
        return named(ds, c, ot_h5data_load(ds, path, &o, has_labels));
    }
    *has_labels = labels_path != NULL;
    return named(ds, c, ot_dataset_load(ds, path, labels_path, c->n_classes, 0));
}
