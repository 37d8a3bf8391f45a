/* ot_input.h - what a network takes in: the shape of one sample and its standardisation
 * (data.normalize = mean_std: x -> (x - mean) / std, per channel or per feature,
 * data.normalize_by). The statistics are computed once, from the training samples (after
 * data.train_limit, without the validation split), and kept in every checkpoint under /input,
 * so that resume, eval, predict and export apply exactly the same numbers:
 *
 *   /input        attributes height, width, channels (u64), flat (i32: a vector, not an
 *                 image), normalize ("none" or "mean_std"), normalize_by ("channel" or
 *                 "feature")
 *   /input/mean   f32 (channels) by channel, or (height, width, channels) by feature (NHWC,
 *   /input/std    as the samples); only with mean_std
 *
 * A feature (channel) that is constant over the training set has std 0; it is kept as 1, so
 * the standardised value is 0 rather than a division by zero. */
#ifndef OT_INPUT_H
#define OT_INPUT_H

#include <hdf5.h>
#include <stddef.h>

#include "ot_config.h"
#include "ot_data.h"
#include "ot_layer.h"

/* Below this a standard deviation counts as 0 (a constant feature): it is kept as 1. */
#define OT_INPUT_MIN_STD 1e-6

#define OT_INPUT_MAX_STRING 256 /* the longest string attribute of /input read */

typedef struct {
    ot_shape_t shape;         /* one sample: height, width, channels (NHWC); flat vectors */
    ot_normalize_t normalize; /* none or mean_std */
    ot_norm_by_t by;          /* statistics per channel or per feature */
    size_t n_stats;           /* entries of mean and std: channels, or h * w * c */
    float *mean, *std;        /* (n_stats), owned; NULL without statistics */
    float *mean_x, *std_x;    /* (h * w * c) the same for every feature, what the gathers use */
} ot_input_t;

/* An input of the given sample shape without standardisation (nothing allocated). */
void ot_input_init(ot_input_t *in, const ot_shape_t *shape);

/* Compute the standardisation's statistics (by channel or by feature) over ds's samples, as
 * the gather makes them before standardising (bytes scaled to [0, 1]), in double, two passes
 * (mean, then mean squared deviation), stored as floats. ds's shape must be in->shape.
 * Returns 0 or OT_ENOMEM (message printed). */
int ot_input_fit(ot_input_t *in, const ot_dataset_t *ds, ot_norm_by_t by);

/* Standardise ds with in's statistics (nothing when in has none). in must outlive ds's use. */
void ot_input_apply(const ot_input_t *in, ot_dataset_t *ds);

/* Release the statistics; safe on a zeroed or initialised input. */
void ot_input_free(ot_input_t *in);

/* Write /input into the open file f. Returns 0 or -1 with HDF5's reason in reason[128]. */
int ot_input_write(hid_t f, const ot_input_t *in, char *reason);

/* Read /input of checkpoint path (open as f) into in (replacing what it held): *present is 0
 * when the checkpoint has none (one written before omptrain kept it), in then untouched.
 * expect (may be NULL) is the shape of the data from data_path (NULL: "the config's data"):
 * a sample shape that differs is refused before anything is allocated for it, and so are
 * statistics whose size differs from what the shape and normalize_by need. Returns 0,
 * OT_ECONFIG (another shape than expect, as ot_input_check words it), OT_EFORMAT (malformed:
 * one line naming path and the item) or OT_ENOMEM. */
int ot_input_read(hid_t f, const char *path, ot_input_t *in, int *present,
                  const ot_shape_t *expect, const char *data_path);

/* ot_input_read on the checkpoint file at path, opened and closed here (HDF5's printer
 * silenced). Returns 0 or OT_EIO, OT_EFORMAT, OT_ECONFIG, OT_ENOMEM (one line printed). */
int ot_input_load(const char *path, ot_input_t *in, int *present, const ot_shape_t *expect,
                  const char *data_path);

/* Whether the checkpoint's input ck (present: it had one) fits the config c and the data of
 * shape data (NULL: no data to compare) from data_path: the same sample shape and the same
 * data.normalize and data.normalize_by. Returns 0, or OT_ECONFIG after one line naming the
 * checkpoint, both values and the key. */
int ot_input_check(const ot_input_t *ck, int present, const ot_config_t *c,
                   const ot_shape_t *data, const char *ckpt, const char *data_path);

/* "standardised by channel (3 means)" or "as stored": a few words for messages. */
const char *ot_input_str(const ot_input_t *in, char *buf, size_t n);

#endif
