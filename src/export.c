/* export.c - omptrain export: a checkpoint's model as an ONNX file (ot_onnx.h), written
 * atomically (in place on a device or a FIFO), or to standard output (--onnx -; the report
 * then goes to stderr). */
#include "ot_run.h"

#include <stdio.h>
#include <stdlib.h>

#include "ot_common.h"
#include "ot_model.h"
#include "ot_onnx.h"
#include "ot_outfile.h"
#include "ot_verify.h"

int ot_run_export(const ot_config_t *c, const char *checkpoint, const char *onnx_path)
{
    ot_model_t m = {0};
    void *bytes = NULL;
    size_t size = 0;
    char model[OT_STACK_TEXT], doc[OT_STACK_TEXT + 256], shape[64], how[160];
    int rc;
    /* not one of the files read: the checkpoint, the config, the config's data files */
    const char *files[2 + OT_OUTFILE_CONFIG_INPUTS] = {checkpoint, c->path};
    const char *what[2 + OT_OUTFILE_CONFIG_INPUTS] = {"the checkpoint (--checkpoint)",
                                                      "the config (CONFIG)"};
    const size_t nf = 2 + ot_outfile_config_inputs(c, files + 2, what + 2);
    const int to_stdout = ot_outfile_is_stdout(onnx_path);
    FILE *say = to_stdout ? stderr : stdout;
    if ((!to_stdout &&
         ((rc = ot_outfile_writable(onnx_path)) || (rc = ot_verify_replaceable(onnx_path)) ||
          (rc = ot_outfile_distinct(onnx_path, "--onnx", files, what, nf)))) ||
        (rc = ot_model_load(&m, c, checkpoint, NULL, NULL)))
        goto out;
    ot_config_model_str(c, model, sizeof model);
    snprintf(doc, sizeof doc, "omptrain %s model %s, %zu classes, from %s (epoch %d, step %llu)",
             OT_VERSION, model, m.net.n_classes, checkpoint, m.info.epoch,
             (unsigned long long)m.info.step);
    if ((rc = ot_onnx_export(&m.net, &m.input, doc, &bytes, &size)) ||
        (rc = ot_write_outputs(&(const ot_output_t){onnx_path, "--onnx", 1, bytes, size}, 1)))
        goto out;
    const ot_shape_t *s = &m.input.shape;
    fprintf(say, "omptrain %s: export %s (epoch %d, step %llu): model %s\n", OT_VERSION,
            checkpoint, m.info.epoch, (unsigned long long)m.info.step, model);
    if (s->flat)
        fprintf(say, "input  'input' float32 (N, %zu), %s\n", ot_shape_size(s),
                ot_input_str(&m.input, how, sizeof how));
    else
        fprintf(say, "input  'input' float32 (N, %zu, %zu, %zu) NCHW (omptrain's %s), %s\n",
                s->c, s->h, s->w, ot_shape_str(s, shape, sizeof shape),
                ot_input_str(&m.input, how, sizeof how));
    fprintf(say, "output 'probabilities' float32 (N, %zu), 'class' int64 (N)\n",
            m.net.n_classes);
    fprintf(say, "wrote %s: ONNX opset %d, %zu bytes\n",
            to_stdout ? "standard output" : onnx_path, OT_ONNX_OPSET, size);
    rc = OT_OK;
out:
    free(bytes);
    ot_model_free(&m);
    return rc;
}
