/* predict.c - omptrain predict: a checkpoint's class probabilities and arg-max for every
 * sample of an IDX or HDF5 file, computed by the evaluation pass of the engine (batched, on
 * every thread: the numbers of omptrain eval), written to HDF5 (and CSV) atomically, both or
 * neither; the CSV may go to stdout instead (--csv -), or to a device or FIFO.
 *
 * The HDF5 file:
 *   /                attributes omptrain_version, created, checkpoint, input, config,
 *                    samples (u64), classes (u32); with labels also loss and accuracy (f64)
 *   /probabilities   f32 (samples, classes): softmax of the last layer
 *   /class           i32 (samples): the arg-max (the first of equal maxima)
 *   /label           i32 (samples): the input's labels, when it has them
 *   /class_names     strings (classes): the input's names of the classes, when its HDF5
 *                    file has them (the attribute class_names, as scripts/to_hdf5.py keeps a
 *                    PNG folder's); the CSV then has a class_name column after class
 *   /file_names      strings (samples): the input's names of the samples, when its HDF5 file
 *                    has them (the dataset file_names, as scripts/to_hdf5.py keeps the PNG
 *                    files'); the CSV then has a file column after index */
#include "ot_run.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_checkpoint.h"
#include "ot_h5.h"
#include "ot_outdir.h"
#include "ot_common.h"
#include "ot_datasrc.h"
#include "ot_engine.h"
#include "ot_h5data.h"
#include "ot_model.h"
#include "ot_outfile.h"
#include "ot_verify.h"

/* The files predict reads, and its predictions file, that an output may not be. */
enum { NFILES = 4 + OT_OUTFILE_CONFIG_INPUTS + 1 };

/* What predict computed. */
typedef struct {
    size_t n, k;          /* samples, classes */
    const float *probs;   /* (n, k) */
    const int32_t *cls;   /* (n) */
    const uint8_t *label; /* (n), or NULL without labels */
    double loss, acc;     /* with labels: mean loss and accuracy */
    char *const *names;   /* (k) the classes' names, or NULL */
    char *const *files;   /* (n) the samples' names, or NULL */
} result_t;

/* One dataset at name in f from buf. */
static int put(hid_t f, const char *name, hid_t ftype, hid_t mtype, int rank,
               const hsize_t *dims, const void *buf)
{
    hid_t space = H5Screate_simple(rank, dims, NULL), d = H5I_INVALID_HID;
    int rc = -1;
    if (space >= 0 &&
        (d = H5Dcreate2(f, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)) >= 0 &&
        H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0)
        rc = 0;
    if (d >= 0 && H5Dclose(d) < 0)
        rc = -1;
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Dataset `name` of f: the k names as UTF-8 strings of variable length (h5py reads them as
 * str). */
static int put_names(hid_t f, const char *name, char *const *names, size_t k)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    const hsize_t dims[1] = {k};
    int rc = t >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 && H5Tset_cset(t, H5T_CSET_UTF8) >= 0
                 ? put(f, name, t, t, 1, dims, names)
                 : -1;
    if (t >= 0)
        H5Tclose(t);
    return rc;
}

/* The HDF5 file as an image in memory (the core driver, as checkpoints): *image malloc'd. */
static int build_h5(const result_t *r, const ot_config_t *c, const ot_predict_opts_t *p,
                    void **image, size_t *size)
{
    hid_t f = H5I_INVALID_HID;
    char created[32], reason[128] = "";
    char *config = ot_config_to_ini(c);
    int32_t *labels = NULL;
    int rc = OT_EIO;
    *image = NULL;
    if (!config || (r->label && !(labels = malloc(r->n * sizeof *labels)))) {
        ot_error("%s: cannot allocate the predictions file", p->h5_out);
        rc = OT_ENOMEM;
        goto out;
    }
    uint64_t n = r->n;
    uint32_t k = (uint32_t)r->k;
    ot_h5_utc_now(created, sizeof created);
    if ((f = ot_h5_create_image(p->h5_out, r->n * (r->k + 2) * 4 + ((size_t)1 << 16),
                                reason)) < 0 ||
        ot_h5_attr_str(f, "omptrain_version", OT_VERSION) ||
        ot_h5_attr_str(f, "created", created) || ot_h5_attr_str(f, "checkpoint", p->checkpoint) ||
        ot_h5_attr_str(f, "input", p->input) || ot_h5_attr_str(f, "config", config) ||
        ot_h5_attr_scalar(f, "samples", H5T_STD_U64LE, H5T_NATIVE_UINT64, &n) ||
        ot_h5_attr_scalar(f, "classes", H5T_STD_U32LE, H5T_NATIVE_UINT32, &k))
        goto fail;
    if (r->label && (ot_h5_attr_scalar(f, "loss", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &r->loss) ||
                     ot_h5_attr_scalar(f, "accuracy", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                                       &r->acc)))
        goto fail;
    const hsize_t pd[2] = {r->n, r->k}, nd[1] = {r->n};
    if (put(f, "probabilities", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, pd, r->probs) ||
        put(f, "class", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, nd, r->cls))
        goto fail;
    if (r->label) {
        for (size_t i = 0; i < r->n; i++)
            labels[i] = r->label[i];
        if (put(f, "label", H5T_STD_I32LE, H5T_NATIVE_INT32, 1, nd, labels))
            goto fail;
    }
    if ((r->names && put_names(f, "class_names", r->names, r->k)) ||
        (r->files && put_names(f, "file_names", r->files, r->n)))
        goto fail;
    if ((rc = ot_h5_get_image(f, image, size)) == OT_ENOMEM) {
        ot_error("%s: cannot allocate %zu bytes for the file", p->h5_out, *size);
        goto out;
    }
    if (rc)
        goto fail;
    rc = OT_OK;
    goto out;
fail:
    if (!reason[0])
        ot_h5_reason(reason);
    ot_error("%s: cannot build the predictions file in memory: %s", p->h5_out, reason);
    rc = OT_EIO;
out: /* (*image is NULL unless ot_h5_get_image succeeded, the last step) */
    if (f >= 0)
        H5Fclose(f);
    free(config);
    free(labels);
    return rc;
}

/* name as one CSV field: in double quotes, each within doubled, when it holds a comma or a
 * quote (the data reader has made control characters '?'). */
static void csv_field(FILE *f, const char *name)
{
    if (!strpbrk(name, ",\"")) {
        fputs(name, f);
        return;
    }
    fputc('"', f);
    for (; *name; name++) {
        if (*name == '"')
            fputc('"', f);
        fputc(*name, f);
    }
    fputc('"', f);
}

/* "index[,file][,label],class[,class_name],p0,...": one line per sample, probabilities as
 * %.9g (they read back as the same floats). */
static int build_csv(const result_t *r, const char *path, char **text, size_t *size)
{
    FILE *f = open_memstream(text, size);
    if (!f) {
        ot_error("%s: cannot allocate the CSV text", path);
        return OT_ENOMEM;
    }
    fputs(r->files ? "index,file" : "index", f);
    fputs(r->label ? ",label,class" : ",class", f);
    if (r->names)
        fputs(",class_name", f);
    for (size_t j = 0; j < r->k; j++)
        fprintf(f, ",p%zu", j);
    fputc('\n', f);
    for (size_t i = 0; i < r->n; i++) {
        fprintf(f, "%zu", i);
        if (r->files) {
            fputc(',', f);
            csv_field(f, r->files[i]);
        }
        if (r->label)
            fprintf(f, ",%u", (unsigned)r->label[i]);
        fprintf(f, ",%d", (int)r->cls[i]);
        if (r->names) {
            fputc(',', f);
            csv_field(f, r->names[r->cls[i]]);
        }
        for (size_t j = 0; j < r->k; j++)
            fprintf(f, ",%.9g", (double)r->probs[i * r->k + j]);
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(*text);
        *text = NULL;
        ot_error("%s: cannot build the CSV text (out of memory?)", path);
        return OT_ENOMEM;
    }
    return OT_OK;
}

int ot_run_predict(const ot_config_t *c, const ot_predict_opts_t *p0, const ot_run_opts_t *o)
{
    ot_predict_opts_t p = *p0;
    ot_dataset_t ds = {0};
    ot_model_t m = {0};
    ot_engine_t eng = {0};
    float *probs = NULL;
    int32_t *cls = NULL;
    void *image = NULL;
    char *csv = NULL, dir[OT_PATH_MAX], out[OT_PATH_MAX + 32], shape_s[64];
    size_t image_size = 0, csv_size = 0;
    int rc, labelled = 0, made = 0; /* made: levels of the run's directory created here */

    /* --csv -: the CSV to stdout, and what predict says to stderr, so that stdout is the CSV */
    const int csv_stdout = ot_outfile_is_stdout(p.csv_out);
    FILE *say = csv_stdout ? stderr : stdout;
    if ((rc = ot_ckpt_info(p.checkpoint, &m.info)))
        goto out;
    if (!p.h5_out) { /* the run's directory */
        if ((rc = ot_output_dir(c, dir, sizeof dir)) || (rc = ot_output_dir_create(dir, &made)))
            goto out;
        snprintf(out, sizeof out, "%s/predictions.h5", dir);
        p.h5_out = out;
    }
    /* both outputs can be written, before either is and before any work: a wrong --csv leaves
     * no predictions.h5; neither is one of the files read (those of the config too), nor both
     * one file */
    const char *files[NFILES] = {p.checkpoint, p.input, p.labels, c->path};
    const char *what[NFILES] = {"the checkpoint (--checkpoint)", "the input file (INPUT)",
                                "the labels file (--labels)", "the config (CONFIG)"};
    size_t nf = 4 + ot_outfile_config_inputs(c, files + 4, what + 4);
    const char *const h5_flag = p0->h5_out ? "--predictions" : "the predictions file";
    if ((rc = ot_outfile_writable(p.h5_out)) ||
        (rc = ot_outfile_regular(p.h5_out, h5_flag, "which HDF5 cannot be written to (the "
                                 "library seeks in its file)")) ||
        (rc = ot_verify_replaceable(p.h5_out)) ||
        (rc = ot_outfile_distinct(p.h5_out, h5_flag, files, what, nf)))
        goto out;
    files[nf] = p.h5_out;
    what[nf++] = "the predictions file (--predictions)";
    if (p.csv_out && !csv_stdout &&
        ((rc = ot_outfile_writable(p.csv_out)) || (rc = ot_verify_replaceable(p.csv_out)) ||
         (rc = ot_outfile_distinct(p.csv_out, "--csv", files, what, nf))))
        goto out;
    if ((rc = ot_data_load_input(&ds, c, p.input, p.labels, &labelled)))
        goto out;
    const ot_shape_t shape = ot_data_shape(&ds);
    if ((rc = ot_model_load(&m, c, p.checkpoint, &shape, p.input)))
        goto out;
    ot_input_apply(&m.input, &ds);
    const size_t k = m.net.n_classes, shards = c->shards > 0 ? (size_t)c->shards
                                                             : (size_t)o->threads;
    size_t cells;
    /* chunks of training.batch_size, as eval's (the same bits); fewer samples are one chunk
     * either way, and buffers for them alone are enough */
    const size_t rows = c->batch_size < ds.n ? c->batch_size : ds.n;
    if ((rc = ot_engine_init(&eng, &m.net, rows > 0 ? rows : 1, shards)))
        goto out;
    eng.sparse_ok = c->sparse_input;
    if (ot_mul_size(ds.n, k, &cells) || !(probs = malloc(cells * sizeof *probs)) ||
        !(cls = malloc(ds.n * sizeof *cls))) {
        ot_error("cannot allocate the probabilities of %zu samples", ds.n);
        rc = OT_ENOMEM;
        goto out;
    }
    double t0 = ot_now();
    ot_batch_result_t br = ot_engine_predict(&eng, &ds, probs, cls, NULL);
    double secs = ot_now() - t0;
    result_t r = {ds.n, k, probs, cls, labelled ? ds.labels : NULL, br.loss / (double)ds.n,
                  (double)br.correct / (double)ds.n, ds.class_names, ds.sample_names};
    fprintf(say, "omptrain %s: predict %s (epoch %d, step %llu) on %s: %zu samples of %s, %d "
            "thread%s\n", OT_VERSION, p.checkpoint, m.info.epoch, (unsigned long long)m.info.step,
            p.input, ds.n, ot_shape_str(&shape, shape_s, sizeof shape_s), o->threads,
            o->threads == 1 ? "" : "s");
    if (ds.class_names_note[0])
        fprintf(say, "note: %s: %s: not used\n", p.input, ds.class_names_note);
    if (labelled)
        fprintf(say, "loss %.4f  acc %.2f%%  (%zu of %zu correct, %.2f s)\n", r.loss,
                100.0 * r.acc, br.correct, ds.n, secs);
    else if (ot_h5data_is_hdf5(p.input) == 1) /* a misspelt data.labels looks the same */
        fprintf(say, "no labels (%.2f s; %s has no dataset '%s', data.labels)\n", secs,
                p.input, c->labels);
    else
        fprintf(say, "no labels (%.2f s; --labels FILE gives IDX images theirs)\n", secs);
    ot_h5_quiet_t q;
    ot_h5_quiet(&q);
    rc = build_h5(&r, c, &p, &image, &image_size);
    ot_h5_restore(&q);
    if (rc || (p.csv_out && (rc = build_csv(&r, p.csv_out, &csv, &csv_size))))
        goto out;
    /* both written, or neither changed: two temporary files, then the renames */
    const ot_output_t outs[2] = {{p.h5_out, h5_flag, 1, image, image_size},
                                 {p.csv_out, "--csv", 0, csv, csv_size}};
    if ((rc = ot_write_outputs(outs, p.csv_out ? 2 : 1)))
        goto out;
    fprintf(say, "wrote %s: /probabilities %zux%zu, /class%s%s%s\n", p.h5_out, ds.n, k,
            labelled ? ", /label" : "", r.names ? ", /class_names" : "",
            r.files ? ", /file_names" : "");
    if (p.csv_out && !csv_stdout)
        printf("wrote %s\n", p.csv_out);
    rc = OT_OK;
out:
    if (rc) /* a directory made for a file that was not written goes again (each while empty) */
        ot_output_dir_unmake(dir, made);
    free(image);
    free(csv);
    free(probs);
    free(cls);
    ot_engine_free(&eng);
    ot_model_free(&m);
    ot_dataset_free(&ds);
    return rc;
}
