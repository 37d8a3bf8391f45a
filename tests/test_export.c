/* test_export.c - omptrain export (src/export.c): a tiny checkpoint (batch norm, standardised
 * by feature) to an ONNX file, read back with protobuf-c: its initializers are the
 * checkpoint's parameters, running statistics and input statistics, its description names the
 * checkpoint; the file is written whole or not at all, and refusals are one line; a FIFO
 * gets the model in place, a symbolic link's target gets it and the link stays; the config's
 * data files are no outputs. (What the exporter makes of each layer is test_onnx.c's.) */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_test.h"
#include "onnx.pb-c.h"
#include "ot_common.h"
#include "ot_gemm.h"
#include "ot_run.h"
#include "ot_test.h"
#include "tiny_test.h"

static const char *const bn_opts[] = {"model.batchnorm=true", "data.normalize=mean_std",
                                      "data.normalize_by=feature", NULL};
static ot_config_t cfg;
static ot_trainer_t tr; /* what wrote ckpt */
static char ckpt[256];

static int setup(void)
{
    ot_gemm_init();
    return ot_tiny_suite_init("export", bn_opts, &cfg, &tr, ckpt, sizeof ckpt);
}

static int cleanup(void)
{
    return ot_tiny_suite_free(&tr);
}

/* ot_run_export with stdout captured into *out (malloc'd; may be NULL) */
static int run_export(const ot_config_t *c, const char *ck, const char *path, char **out)
{
    ot_test_stdout_begin();
    int rc = ot_run_export(c, ck, path);
    char *text = ot_test_stdout_end();
    if (out)
        *out = text;
    else
        free(text);
    return rc;
}

/* the same with the files it writes limited to `bytes` (a disk that fills up mid-write) */
static int export_limited(const char *path, long bytes)
{
    if (ot_tiny_fsize_limit(bytes))
        return 1;
    int rc = run_export(&cfg, ckpt, path, NULL);
    ot_tiny_fsize_restore();
    return rc;
}

/* The ONNX file at path, unpacked (NULL when it cannot be read or parsed) */
static Onnx__ModelProto *read_model(const char *path)
{
    size_t size;
    void *bytes = ot_tiny_slurp(path, &size);
    Onnx__ModelProto *m = bytes ? onnx__model_proto__unpack(NULL, size, bytes) : NULL;
    free(bytes);
    return m;
}

static const Onnx__TensorProto *init_named(const Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_initializer; i++)
        if (strcmp(g->initializer[i]->name, name) == 0)
            return g->initializer[i];
    return NULL;
}

/* The initializer of name holds the n floats at want: 1, else 0 (and says which). */
static int holds(const Onnx__GraphProto *g, const char *name, const float *want, size_t n)
{
    const Onnx__TensorProto *t = init_named(g, name);
    if (t && t->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT && t->n_float_data == n &&
        memcmp(t->float_data, want, n * sizeof *want) == 0)
        return 1;
    fprintf(stderr, "\n  initializer %s: %s", name, t ? "other values" : "missing");
    return 0;
}

/* The model of ckpt: every parameter and running statistic of the trainer that wrote it, and
 * its input statistics, as initializers of the same names (one channel: ONNX's (c, h, w) order
 * is omptrain's (h, w, c)); a 1x4x4 input; a description naming the checkpoint and position. */
static void expect_model(const Onnx__ModelProto *m)
{
    const ot_net_t *net = &tr.net;
    const Onnx__GraphProto *g = m->graph;
    CU_ASSERT_EQUAL_FATAL(net->n_state_tensors, 2); /* bn1/running_mean, running_var */
    for (size_t i = 0; i < net->n_tensors; i++)
        CU_ASSERT(holds(g, net->tensors[i].name, net->params + net->tensors[i].off,
                        net->tensors[i].size));
    for (size_t i = 0; i < net->n_state_tensors; i++)
        CU_ASSERT(holds(g, net->state_tensors[i].name, net->state + net->state_tensors[i].off,
                        net->state_tensors[i].size));
    CU_ASSERT(holds(g, "input/mean", tr.input.mean, OT_TINY_DIM));
    CU_ASSERT(holds(g, "input/std", tr.input.std, OT_TINY_DIM));
    CU_ASSERT_EQUAL(g->n_initializer, net->n_tensors + net->n_state_tensors + 2);
    CU_ASSERT_EQUAL_FATAL(g->n_input, 1);
    const Onnx__TensorShapeProto *s = g->input[0]->type->tensor_type->shape;
    CU_ASSERT_EQUAL_FATAL(s->n_dim, 4);
    CU_ASSERT(s->dim[1]->dim_value == 1 && s->dim[2]->dim_value == 4 && s->dim[3]->dim_value == 4);
    char doc[512];
    snprintf(doc, sizeof doc, "omptrain %s model 16-5-3, 3 classes, from %s (epoch 1, step 3)",
             OT_VERSION, ckpt);
    CU_ASSERT_STRING_EQUAL(m->doc_string, doc);
}

/* The checkpoint's model in the file, and what export says it wrote. */
static void test_export(void)
{
    char path[256], line[512];
    char *out = NULL;
    CU_ASSERT_EQUAL_FATAL(run_export(&cfg, ckpt, ot_test_path(path, sizeof path, "m.onnx"), &out),
                          OT_OK);
    Onnx__ModelProto *m = read_model(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    expect_model(m);
    onnx__model_proto__free_unpacked(m, NULL);
    snprintf(line, sizeof line, "\nwrote %s: ONNX opset 13, %ld bytes\n", path,
             ot_tiny_file_size(path));
    CU_ASSERT(out && strstr(out, line));
    snprintf(line, sizeof line, "omptrain %s: export %s (epoch 1, step 3): model 16-5-3\n",
             OT_VERSION, ckpt);
    CU_ASSERT(out && strstr(out, line));
    free(out);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* Over an existing file: a successful export replaces it; a refused one, or one whose write is
 * cut short, leaves it byte for byte and no temporary file. */
static void test_atomic(void)
{
    static const char *const wider[] = {"model.layers=16, 6, 3", "model.batchnorm=true",
                                        "data.normalize=mean_std", "data.normalize_by=feature",
                                        NULL};
    char path[256], want[2048];
    ot_test_path(path, sizeof path, "old.onnx");
    FILE *f = fopen(path, "w");
    CU_ASSERT_FATAL(f != NULL);
    fputs("an older file\n", f);
    CU_ASSERT_FATAL(fclose(f) == 0);
    CU_ASSERT_EQUAL_FATAL(run_export(&cfg, ckpt, path, NULL), OT_OK);
    Onnx__ModelProto *m = read_model(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    expect_model(m);
    onnx__model_proto__free_unpacked(m, NULL);

    size_t before_n, after_n;
    char *before = ot_tiny_slurp(path, &before_n), *after;
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    ot_config_t c;
    CU_ASSERT_FATAL(ot_tiny_config(&c, wider) == 0);
    snprintf(want, sizeof want, "%s: the checkpoint's model is 'affine 5, ", ckpt);
    OT_EXPECT_ONE_LINE(run_export(&c, ckpt, path, NULL), OT_ECONFIG, want);
    after = ot_tiny_slurp(path, &after_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT(after_n == before_n && memcmp(after, before, before_n) == 0);
    free(after);

    CU_ASSERT_FATAL(before_n > 256);
    snprintf(want, sizeof want, "%s: cannot write the file (256 of %zu bytes written): File too "
             "large", path, before_n);
    OT_EXPECT_ONE_LINE(export_limited(path, 256), OT_EIO, want);
    after = ot_tiny_slurp(path, &after_n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT(after_n == before_n && memcmp(after, before, before_n) == 0);
    free(after);
    free(before);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* A missing checkpoint, a file that is not one, a directory that is not there: one line, and
 * no file. */
static void test_refusals(void)
{
    char path[256], none[256], want[2048];
    ot_test_path(path, sizeof path, "refused.onnx");
    ot_test_path(none, sizeof none, "none.h5");
    snprintf(want, sizeof want, "%s: cannot open the checkpoint: No such file or directory",
             none);
    OT_EXPECT_ONE_LINE(run_export(&cfg, none, path, NULL), OT_EIO, want);
    snprintf(want, sizeof want, "%s: not an HDF5 file (expected an omptrain checkpoint)",
             cfg.test_images);
    OT_EXPECT_ONE_LINE(run_export(&cfg, cfg.test_images, path, NULL), OT_EFORMAT, want);
    CU_ASSERT(!ot_ck_file_exists(path));
    ot_test_path(path, sizeof path, "no/m.onnx");
    snprintf(want, sizeof want, "%s: cannot create the file: ", path); /* before any work */
    OT_EXPECT_ONE_LINE(run_export(&cfg, ckpt, path, NULL), OT_EIO, want);
    CU_ASSERT(!ot_ck_file_exists(path));
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

/* Whether path (not followed) is of type mode (S_IFLNK, S_IFIFO, S_IFREG). */
static int is_type(const char *path, mode_t mode)
{
    struct stat st;
    return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == mode;
}

/* Outputs that are not plain files (until 2026-12 each was replaced by a regular file): a
 * FIFO, whose reader gets the model's bytes, the same as a file's; a symbolic link, whose
 * target gets them and which stays a link. And the config's data files, which are no outputs:
 * one line, a usage error, the file as it was (until 2026-12 the model replaced it). */
static void test_special_outputs(void)
{
    char file[256], fifo[256], link[256], target[256], names[256], want[2048];
    CU_ASSERT_EQUAL_FATAL(run_export(&cfg, ckpt, ot_test_path(file, sizeof file, "plain.onnx"),
                                     NULL), OT_OK);
    size_t size, got_n = 0;
    char *bytes = ot_tiny_slurp(file, &size);
    CU_ASSERT_FATAL(bytes && size > 0 && size < 65536); /* it fits in the pipe's buffer */
    CU_ASSERT_FATAL(mkfifo(ot_test_path(fifo, sizeof fifo, "fifo"), 0644) == 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader first: the write need not wait */
    CU_ASSERT_FATAL(rfd >= 0);
    CU_ASSERT_EQUAL(run_export(&cfg, ckpt, fifo, NULL), OT_OK);
    char *got = malloc(size + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    for (ssize_t r; got_n <= size && (r = read(rfd, got + got_n, size + 1 - got_n)) > 0;)
        got_n += (size_t)r;
    close(rfd);
    CU_ASSERT(got_n == size && memcmp(got, bytes, size) == 0);
    CU_ASSERT(is_type(fifo, S_IFIFO));
    free(got);

    ot_test_path(target, sizeof target, "target.onnx");
    FILE *f = fopen(target, "w");
    CU_ASSERT_FATAL(f && fputs("old\n", f) >= 0 && fclose(f) == 0);
    CU_ASSERT_FATAL(symlink("target.onnx", ot_test_path(link, sizeof link, "link.onnx")) == 0);
    CU_ASSERT_EQUAL(run_export(&cfg, ckpt, link, NULL), OT_OK);
    size_t n;
    char *text = ot_tiny_slurp(target, &n);
    CU_ASSERT(is_type(link, S_IFLNK) && text && n == size && memcmp(text, bytes, size) == 0);
    free(text);
    free(bytes);

    ot_config_t c = cfg;
    ot_test_path(names, sizeof names, "my.names");
    f = fopen(names, "w");
    CU_ASSERT_FATAL(f && fputs("a\nb\nc\n", f) >= 0 && fclose(f) == 0);
    snprintf(c.class_names, sizeof c.class_names, "%s", names);
    snprintf(want, sizeof want, "%s: --onnx names the config's data.class_names, which it would "
             "replace; expected another file name", names);
    OT_EXPECT_ONE_LINE(run_export(&c, ckpt, names, NULL), OT_ECONFIG, want);
    snprintf(want, sizeof want, "%s: --onnx names the config's data.test_images", cfg.test_images);
    OT_EXPECT_ONE_LINE(run_export(&c, ckpt, cfg.test_images, NULL), OT_ECONFIG, want);
    text = ot_tiny_slurp(names, &n);
    CU_ASSERT(text && n == 6 && memcmp(text, "a\nb\nc\n", 6) == 0);
    free(text);
    CU_ASSERT_EQUAL(ot_ck_count_tmp_files(ot_test_scratch), 0);
}

OT_TEST_SUITE(export, setup, cleanup,
              {"the checkpoint's weights, statistics and input in ONNX", test_export},
              {"written whole or not at all over an existing file", test_atomic},
              {"bad: missing checkpoint, not one, no directory", test_refusals},
              {"a FIFO, a link; not the config's data files", test_special_outputs})
