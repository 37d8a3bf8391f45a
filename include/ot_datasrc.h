/* ot_datasrc.h - where the config's data come from: the IDX files (data.train_images, ...) or
 * the HDF5 files (data.train_file, data.test_file, with data.features, data.labels and
 * data.layout), and the input of omptrain predict (either kind, told apart by its contents). */
#ifndef OT_DATASRC_H
#define OT_DATASRC_H

#include "ot_config.h"
#include "ot_data.h"

/* Load c's training set (test = 0) or test set (test = 1) into ds, honouring
 * data.train_limit or data.test_limit; an HDF5 file's reading shows its progress where
 * ot_progress_set says. Returns 0 or the codes of ot_dataset_load and
 * ot_h5data_load (one line printed); free ds with ot_dataset_free. */
int ot_data_load(ot_dataset_t *ds, const ot_config_t *c, int test);

/* The file that holds c's training or test samples, for messages. */
const char *ot_data_path(const ot_config_t *c, int test);

/* Load the file at path as an input to predict: HDF5 (the datasets c names; the labels
 * dataset may be missing) or IDX images (labels from labels_path, or none when it is NULL).
 * *has_labels says whether there are labels. labels_path with an HDF5 file is OT_ECONFIG.
 * Returns 0 or the codes of ot_data_load. */
int ot_data_load_input(ot_dataset_t *ds, const ot_config_t *c, const char *path,
                       const char *labels_path, int *has_labels);

#endif
