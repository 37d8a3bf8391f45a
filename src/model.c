/* model.c - a checkpoint's model for eval, predict and export (see ot_model.h). */
#include "ot_model.h"

#include <string.h>

#include "ot_common.h"
#include "ot_datasrc.h"

int ot_model_load(ot_model_t *m, const ot_config_t *c, const char *ckpt,
                  const ot_shape_t *data, const char *data_path)
{
    char a[64];
    int rc;
    memset(m, 0, sizeof *m);
    if ((rc = ot_ckpt_info(ckpt, &m->info)) ||
        (rc = ot_input_load(ckpt, &m->input, &m->has_input, data, data_path)) ||
        (rc = ot_input_check(&m->input, m->has_input, c, data, ckpt, data_path)))
        return rc;
    ot_shape_t shape;
    if (m->has_input) {
        shape = m->input.shape;
    } else if (data) {
        shape = *data;
    } else { /* an older checkpoint: the shape of the config's test samples */
        ot_dataset_t test;
        if ((rc = ot_data_load(&test, c, 1)))
            return rc;
        shape = ot_data_shape(&test);
        ot_dataset_free(&test);
    }
    if (!m->has_input)
        ot_input_init(&m->input, &shape);
    if (!c->stack[0] && ot_shape_size(&shape) != c->sizes[0]) {
        char at[OT_PATH_MAX + 16];
        ot_error("%s: model.layers: input width %zu, but the samples of %s are %s; expected "
                 "an input width of %zu",
                 ot_config_layers_where(c, at, sizeof at), c->sizes[0],
                 m->has_input ? ckpt : data_path ? data_path : ot_data_path(c, 1),
                 ot_shape_str(&shape, a, sizeof a), ot_shape_size(&shape));
        return OT_ECONFIG;
    }
    if ((rc = ot_net_init(&m->net, c, &shape)) || (rc = ot_ckpt_load_params(ckpt, &m->net)))
        return rc;
    return OT_OK;
}

void ot_model_free(ot_model_t *m)
{
    ot_net_free(&m->net);
    ot_input_free(&m->input);
}
