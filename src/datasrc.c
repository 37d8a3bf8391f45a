/* datasrc.c - the config's data sets, from IDX or HDF5 files (see ot_datasrc.h). */
#include "ot_datasrc.h"

#include <errno.h>
#include <stdio.h>
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
        return ot_h5data_load(ds, path, &o, NULL);
    }
    const char *images = test ? c->test_images : c->train_images;
    const char *labels = test ? c->test_labels : c->train_labels;
    if ((rc = openable(c, test ? "data.test_images" : "data.train_images", images)) ||
        (rc = openable(c, test ? "data.test_labels" : "data.train_labels", labels)))
        return rc;
    return ot_dataset_load(ds, images, labels, c->n_classes, limit);
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
        return ot_h5data_load(ds, path, &o, has_labels);
    }
    *has_labels = labels_path != NULL;
    return ot_dataset_load(ds, path, labels_path, c->n_classes, 0);
}
