/* datasrc.c - the config's data sets, from IDX or HDF5 files (see ot_datasrc.h). */
#include "ot_datasrc.h"

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

int ot_data_load(ot_dataset_t *ds, const ot_config_t *c, int test)
{
    const size_t limit = test ? c->test_limit : c->train_limit;
    if (c->train_file[0]) {
        ot_h5data_opts_t o = h5_opts(c, limit, 0);
        return ot_h5data_load(ds, test ? c->test_file : c->train_file, &o, NULL);
    }
    return ot_dataset_load(ds, test ? c->test_images : c->train_images,
                           test ? c->test_labels : c->train_labels, c->n_classes, limit);
}

int ot_data_load_input(ot_dataset_t *ds, const ot_config_t *c, const char *path,
                       const char *labels_path, int *has_labels)
{
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
