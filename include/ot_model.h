/* ot_model.h - a trained model as eval, predict and export use it: the config's network with
 * a checkpoint's parameters and running statistics, and the checkpoint's input (sample shape
 * and standardisation, ot_input.h). */
#ifndef OT_MODEL_H
#define OT_MODEL_H

#include "ot_checkpoint.h"
#include "ot_config.h"
#include "ot_input.h"
#include "ot_net.h"

typedef struct {
    ot_net_t net;        /* the config's network, the checkpoint's parameters */
    ot_input_t input;    /* what it takes: the checkpoint's /input */
    int has_input;       /* the checkpoint had /input (older ones have not: no
                            standardisation, the shape from the data) */
    ot_ckpt_info_t info; /* the checkpoint's root attributes and position */
} ot_model_t;

/* Load checkpoint ckpt into the network config c describes. data (may be NULL) is the shape
 * of the samples it will see, from data_path: it must be the shape the model was trained on.
 * Without data and without /input (a checkpoint from before /input), the shape comes from
 * c's test set, which is loaded for it. Returns 0, OT_ECONFIG (the config, the data or the
 * checkpoint disagree: one line naming what and both values) or the codes of ot_ckpt_info,
 * ot_ckpt_load_params and ot_input_load. Free with ot_model_free, also after a failure. */
int ot_model_load(ot_model_t *m, const ot_config_t *c, const char *ckpt,
                  const ot_shape_t *data, const char *data_path);

void ot_model_free(ot_model_t *m);

#endif
