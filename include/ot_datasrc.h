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

/* The class names of the text file at path (data.class_names; cfg, the config's path, for
 * messages): n names, one a line, each 1 to 64 bytes of UTF-8 text without control
 * characters once the blanks around it are removed (a '\r' before the '\n' too; a UTF-8 BOM
 * is skipped). *out gets them in one allocation (free(*out)), as ot_dataset_t.class_names
 * holds them. Returns 0, OT_EIO (cannot open or read) or OT_EFORMAT (one line naming the
 * config, the key, the file and line, and what was expected). ot_data_load and
 * ot_data_load_input put them in the place of an HDF5 file's names when the key is set. */
int ot_class_names_read(const char *cfg, const char *path, size_t n, char ***out);

/* Whether ds, c's rank-4 HDF5 training set read in data.layout's axis order, looks like the
 * other order (a few, up to 4, rows of square "channels" under nhwc, or a few columns under
 * nchw: the stored 200x3x32x32 of a PyTorch user read as 3x32 images of 32 channels): 1 with
 * the advice in buf ("data.layout = nhwc reads the samples of ... set data.layout = nchw"),
 * else 0 and buf empty. */
int ot_data_layout_hint(const ot_config_t *c, const ot_dataset_t *ds, char *buf, size_t n);

/* The file that holds c's training or test samples, for messages. */
const char *ot_data_path(const ot_config_t *c, int test);

/* Load the file at path as an input to predict: HDF5 (the datasets c names; the labels
 * dataset may be missing) or IDX images (labels from labels_path, or none when it is NULL).
 * *has_labels says whether there are labels. labels_path with an HDF5 file is OT_ECONFIG.
 * Returns 0 or the codes of ot_data_load. */
int ot_data_load_input(ot_dataset_t *ds, const ot_config_t *c, const char *path,
                       const char *labels_path, int *has_labels);

#endif
