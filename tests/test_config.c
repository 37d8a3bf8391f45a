/* test_config.c - the config module: golden good and bad INI files, --set overrides, the
 * INI writer's round trip, and every shipped file in configs/. */
#include <CUnit/CUnit.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_config.h"
#include "ot_test.h"

#define GOOD_DIR OT_TEST_DIR "/config/good"
#define BAD_DIR OT_TEST_DIR "/config/bad"
#define CONFIGS_DIR OT_TEST_DIR "/../configs"

/* Every key the module must know, as the spec lists them. */
static const char *const all_keys[] = {
    "train_images", "train_labels", "test_images", "test_labels", "classes", "class_names",
    "train_limit",
    "test_limit", "train_file", "test_file", "features", "labels", "layout", "normalize",
    "normalize_by", "layers", "activation", "init", "init_std", "dropout", "batchnorm",
    "bn_momentum", "epochs", "batch_size", "learning_rate", "seed", "shards", "sparse_input",
    "augment_shift", "optimizer",
    "momentum", "rmsprop_decay", "beta1", "beta2", "epsilon", "weight_decay", "clip_norm",
    "schedule", "step_epochs", "step_factor", "warmup_epochs", "patience", "validation",
    "divergence_loss", "dir",
    "checkpoint_every", "keep",
};
#define N_ALL_KEYS (sizeof all_keys / sizeof all_keys[0])

/* ---------------------------------------------------------------- helpers */

/* Whole file as a malloc'd string, or NULL. */
static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0) {
        long n = ftell(f);
        if (n >= 0 && (text = malloc((size_t)n + 1)) != NULL) {
            rewind(f);
            size_t got = fread(text, 1, (size_t)n, f);
            text[got] = '\0';
        }
    }
    fclose(f);
    return text;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* s with the first occurrence of from replaced by to, malloc'd; NULL if out of memory. */
static char *replace_first(const char *s, const char *from, const char *to)
{
    const char *at = strstr(s, from);
    size_t len = strlen(s), nf = strlen(from), nt = strlen(to);
    char *out = malloc(len + nt + 1);
    if (!out)
        return NULL;
    if (!at) {
        memcpy(out, s, len + 1);
        return out;
    }
    size_t head = (size_t)(at - s);
    memcpy(out, s, head);
    memcpy(out + head, to, nt);
    memcpy(out + head + nt, at + nf, len - head - nf + 1);
    return out;
}

/* Name of the first field where a and b differ (path not compared), or NULL. */
static const char *config_diff(const ot_config_t *a, const ot_config_t *b)
{
#define STR(f) if (strcmp(a->f, b->f) != 0) return #f
#define NUM(f) if (a->f != b->f) return #f
    STR(train_images);
    STR(train_labels);
    STR(test_images);
    STR(test_labels);
    NUM(n_classes);
    STR(class_names);
    NUM(train_limit);
    NUM(test_limit);
    STR(train_file);
    STR(test_file);
    STR(features);
    STR(labels);
    NUM(layout);
    NUM(normalize);
    NUM(normalize_by);
    NUM(n_layers);
    if (memcmp(a->sizes, b->sizes, sizeof a->sizes) != 0)
        return "sizes";
    if (memcmp(a->act, b->act, sizeof a->act) != 0)
        return "act";
    NUM(init);
    if (memcmp(&a->init_std, &b->init_std, sizeof a->init_std) != 0) /* bit-exact */
        return "init_std";
    NUM(epochs);
    NUM(batch_size);
    if (memcmp(&a->lr, &b->lr, sizeof a->lr) != 0)
        return "lr";
    NUM(seed);
    NUM(shards);
    NUM(sparse_input);
    NUM(augment_shift);
    NUM(dropout);
    NUM(batchnorm);
    NUM(bn_momentum);
    NUM(optimizer);
    NUM(momentum);
    NUM(rmsprop_decay);
    NUM(beta1);
    NUM(beta2);
    NUM(epsilon);
    NUM(weight_decay);
    NUM(clip_norm);
    NUM(schedule);
    NUM(step_epochs);
    NUM(step_factor);
    NUM(warmup_epochs);
    NUM(patience);
    NUM(validation);
    NUM(divergence_loss);
    STR(out_dir);
    NUM(checkpoint_every);
    NUM(keep);
    return NULL;
#undef STR
#undef NUM
}

static void assert_same(const ot_config_t *a, const ot_config_t *b, const char *what)
{
    const char *d = config_diff(a, b);
    if (d)
        fprintf(stderr, "\n  %s: field %s differs\n", what, d);
    CU_ASSERT_PTR_NULL(d);
}

/* Load path into a fresh default config; returns the status, stderr must stay silent on
 * success. */
static int load(ot_config_t *c, const char *path)
{
    ot_config_defaults(c);
    return ot_config_load(c, path);
}

/* dir + "/" + name into out (size n); CUnit-fails on truncation. */
static void join_path(char *out, size_t n, const char *dir, const char *name)
{
    int w = snprintf(out, n, "%s/%s", dir, name);
    CU_ASSERT_FATAL(w > 0 && (size_t)w < n);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Names of the *.ini files in dir, sorted; returns how many (at most max). */
static int list_ini(const char *dir, char names[][256], int max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len > 4 && len < 256 && strcmp(e->d_name + len - 4, ".ini") == 0 && n < max)
            snprintf(names[n++], 256, "%s", e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, 256, compare_names);
    return n;
}

/* text with the "; " that comments out a key removed at the start of every line. */
static char *uncommented(const char *text)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    for (const char *p = text; *p;) {
        if ((p == text || p[-1] == '\n') && strncmp(p, "; ", 2) == 0)
            p += 2;
        *o++ = *p++;
    }
    *o = '\0';
    return out;
}

/* ot_config_warn_unused(c)'s count; what it printed in *text (to free) when text is not
 * NULL. */
static int warnings(const ot_config_t *c, char **text)
{
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int n = ot_config_warn_unused(c);
    char *got = ot_test_capture_end();
    if (text)
        *text = got;
    else
        free(got);
    return n;
}

/* ot_config_to_ini's text records c exactly (its keys left unused as comments, which read
 * back uncommented give c), reads back as a config without a warning, from a file and from
 * memory alike, and writing that again gives the same text. */
static void assert_round_trip(const ot_config_t *c, const char *what)
{
    char path[] = "/tmp/ot_config_rtXXXXXX";
    ot_config_t back, want = *c;
    /* output.dir "" (never loaded) is written as the directory a load would have chosen */
    if (!want.out_dir[0])
        snprintf(want.out_dir, sizeof want.out_dir, "runs/omptrain");
    char *text = ot_config_to_ini(c), *whole;
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    ot_config_t full;
    ot_config_defaults(&full);
    CU_ASSERT_EQUAL(ot_config_load_text(&full, whole = uncommented(text), what), OT_OK);
    assert_same(&want, &full, what);
    free(whole);
    int fd = mkstemp(path);
    CU_ASSERT_FATAL(fd >= 0);
    close(fd);
    CU_ASSERT_EQUAL(write_text(path, text), 0);
    CU_ASSERT_EQUAL(load(&back, path), OT_OK);
    char *said;
    const int warned = warnings(&back, &said);
    if (warned)
        fprintf(stderr, "\n  %s read back warns: %s", what, said);
    CU_ASSERT_EQUAL(warned, 0);
    free(said);
    /* the same text from memory (a checkpoint's config attribute) */
    ot_config_t mem;
    ot_config_defaults(&mem);
    CU_ASSERT_EQUAL(ot_config_load_text(&mem, text, path), OT_OK);
    snprintf(mem.path, sizeof mem.path, "%s", back.path);
    assert_same(&back, &mem, what);
    char *again = ot_config_to_ini(&full);
    CU_ASSERT_PTR_NOT_NULL(again);
    if (again)
        CU_ASSERT_STRING_EQUAL(again, text);
    /* every key is written, once; with a list of layers, the widths syntax's keys not */
    for (size_t i = 0; i < N_ALL_KEYS; i++) {
        char line[64], as_comment[64];
        snprintf(line, sizeof line, "\n%s = ", all_keys[i]);
        snprintf(as_comment, sizeof as_comment, "\n; %s = ", all_keys[i]);
        const char *at = strstr(text, line);
        if (!at && (at = strstr(text, as_comment)))
            snprintf(line, sizeof line, "%s", as_comment);
        const char *k = all_keys[i];
        if ((c->stack[0] && (strcmp(k, "activation") == 0 || strcmp(k, "batchnorm") == 0 ||
                             strcmp(k, "dropout") == 0)) ||
            (!c->train_file[0] && strcmp(k, "train_file") == 0) ||
            (!c->test_file[0] && strcmp(k, "test_file") == 0) ||
            (!c->class_names[0] && strcmp(k, "class_names") == 0) ||
            (c->train_file[0] && (strcmp(k, "train_images") == 0 ||
                                  strcmp(k, "train_labels") == 0 ||
                                  strcmp(k, "test_images") == 0 ||
                                  strcmp(k, "test_labels") == 0))) {
            /* the widths syntax's keys with a list of layers; unset HDF5 files; the IDX keys
             * that HDF5 files replace; no file of class names */
            CU_ASSERT_PTR_NULL(at);
            continue;
        }
        CU_ASSERT_PTR_NOT_NULL(at);
        if (at)
            CU_ASSERT_PTR_NULL(strstr(at + 1, line));
    }
    free(again);
    free(text);
    remove(path);
}

/* ---------------------------------------------------------------- defaults and good files */

static void test_defaults(void)
{
    ot_config_t c;
    memset(&c, 0xAB, sizeof c);
    ot_config_defaults(&c);
    CU_ASSERT_STRING_EQUAL(c.train_images, "data/mnist/train-images-idx3-ubyte.gz");
    CU_ASSERT_STRING_EQUAL(c.train_labels, "data/mnist/train-labels-idx1-ubyte.gz");
    CU_ASSERT_STRING_EQUAL(c.test_images, "data/mnist/t10k-images-idx3-ubyte.gz");
    CU_ASSERT_STRING_EQUAL(c.test_labels, "data/mnist/t10k-labels-idx1-ubyte.gz");
    CU_ASSERT_EQUAL(c.n_classes, 10);
    CU_ASSERT_EQUAL(c.train_limit, 0);
    CU_ASSERT_EQUAL(c.test_limit, 0);
    CU_ASSERT_EQUAL(c.n_layers, 2);
    CU_ASSERT_EQUAL(c.sizes[0], 784);
    CU_ASSERT_EQUAL(c.sizes[1], 50);
    CU_ASSERT_EQUAL(c.sizes[2], 10);
    CU_ASSERT_EQUAL(c.act[0], OT_ACT_RELU);
    CU_ASSERT_EQUAL(c.init, OT_INIT_STD);
    CU_ASSERT_DOUBLE_EQUAL(c.init_std, 0.01, 0);
    CU_ASSERT_EQUAL(c.epochs, 17);
    CU_ASSERT_EQUAL(c.batch_size, 100);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.01, 0); /* the textbook's SGD default */
    CU_ASSERT_EQUAL(c.seed, 42);
    CU_ASSERT_EQUAL(c.shards, 8);
    CU_ASSERT_EQUAL(c.optimizer, OT_OPT_SGD);
    CU_ASSERT_DOUBLE_EQUAL(c.momentum, 0.9, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.rmsprop_decay, 0.99, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.beta1, 0.9, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.beta2, 0.999, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.epsilon, 1e-8, 0);
    CU_ASSERT_EQUAL(c.schedule, OT_SCHED_CONSTANT);
    CU_ASSERT_EQUAL(c.batchnorm, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.dropout, 0.0, 0);
    CU_ASSERT_STRING_EQUAL(c.out_dir, "");
    CU_ASSERT_EQUAL(c.checkpoint_every, 1);
    CU_ASSERT_EQUAL(c.keep, 3);
    CU_ASSERT_STRING_EQUAL(c.path, "");
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(ot_act_name(OT_ACT_RELU), "relu");
    CU_ASSERT_STRING_EQUAL(ot_act_name(OT_ACT_SIGMOID), "sigmoid");
    CU_ASSERT_STRING_EQUAL(ot_init_name(OT_INIT_STD), "std");
    CU_ASSERT_STRING_EQUAL(ot_init_name(OT_INIT_HE), "he");
    CU_ASSERT_STRING_EQUAL(ot_init_name(OT_INIT_XAVIER), "xavier");
}

static void test_good_minimal(void)
{
    ot_config_t c, d;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/minimal.ini"), OT_OK);
    ot_config_defaults(&d);
    CU_ASSERT_EQUAL(c.epochs, 5);
    d.epochs = 5;
    CU_ASSERT_STRING_EQUAL(c.path, GOOD_DIR "/minimal.ini");
    /* output.dir left unset: runs/<file name without .ini> */
    CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/minimal");
    snprintf(d.out_dir, sizeof d.out_dir, "runs/minimal");
    assert_same(&c, &d, "minimal.ini vs defaults");
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

static void test_good_full(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/full.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.train_images, "/tmp/omptrain test/train images.gz");
    CU_ASSERT_STRING_EQUAL(c.train_labels, "train-labels");
    CU_ASSERT_STRING_EQUAL(c.test_images, "test-images");
    CU_ASSERT_STRING_EQUAL(c.test_labels, "test-labels");
    CU_ASSERT_EQUAL(c.n_classes, 20);
    CU_ASSERT_EQUAL(c.train_limit, 1000);
    CU_ASSERT_EQUAL(c.test_limit, 500);
    CU_ASSERT_EQUAL(c.n_layers, 3);
    CU_ASSERT_EQUAL(c.sizes[0], 100);
    CU_ASSERT_EQUAL(c.sizes[1], 64);
    CU_ASSERT_EQUAL(c.sizes[2], 32);
    CU_ASSERT_EQUAL(c.sizes[3], 20);
    CU_ASSERT_EQUAL(c.act[0], OT_ACT_SIGMOID);
    CU_ASSERT_EQUAL(c.act[1], OT_ACT_RELU);
    CU_ASSERT_EQUAL(c.init, OT_INIT_XAVIER);
    CU_ASSERT_DOUBLE_EQUAL(c.init_std, 0.5, 0);
    CU_ASSERT_EQUAL(c.epochs, 3);
    CU_ASSERT_EQUAL(c.batch_size, 32);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.025, 0);
    CU_ASSERT_EQUAL(c.seed, UINT64_MAX);
    CU_ASSERT_EQUAL(c.shards, 0);
    CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/full-test");
    CU_ASSERT_EQUAL(c.checkpoint_every, 0);
    CU_ASSERT_EQUAL(c.keep, 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

static void test_good_no_hidden(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/no_hidden.ini"), OT_OK);
    CU_ASSERT_EQUAL(c.n_layers, 1);
    CU_ASSERT_EQUAL(c.sizes[0], 784);
    CU_ASSERT_EQUAL(c.sizes[1], 10);
    CU_ASSERT_EQUAL(c.sizes[2], 0);
    CU_ASSERT_EQUAL(c.init, OT_INIT_XAVIER);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

static void test_good_layout(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/layout.ini"), OT_OK);
    CU_ASSERT_EQUAL(c.n_layers, 3);
    CU_ASSERT_EQUAL(c.sizes[0], 784);
    CU_ASSERT_EQUAL(c.sizes[1], 300);
    CU_ASSERT_EQUAL(c.sizes[2], 100);
    CU_ASSERT_EQUAL(c.sizes[3], 10);
    CU_ASSERT_EQUAL(c.act[0], OT_ACT_RELU);
    CU_ASSERT_EQUAL(c.act[1], OT_ACT_SIGMOID);
    CU_ASSERT_EQUAL(c.init, OT_INIT_HE);
    CU_ASSERT_DOUBLE_EQUAL(c.init_std, 0.25, 0);
    CU_ASSERT_EQUAL(c.epochs, 2);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.01, 0);
    CU_ASSERT_EQUAL(c.batch_size, 64);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

/* A list of layers over three lines: blanks normalized, the comment and the line breaks gone. */
static void test_good_stack(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/stack.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.stack, "conv 16 3x3 pad 1, batchnorm, relu, maxpool 2, conv 32 5x5 "
                                    "stride 1 pad 2, relu, avgpool 2 stride 2, flatten, dropout "
                                    "0.25, affine 64, sigmoid, affine 10");
    CU_ASSERT_EQUAL(c.init, OT_INIT_HE);
    CU_ASSERT_DOUBLE_EQUAL(c.bn_momentum, 0.8, 0);
    CU_ASSERT_EQUAL(c.epochs, 3); /* the lines after the list are read as before */
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
    char model[OT_STACK_TEXT];
    ot_config_model_str(&c, model, sizeof model);
    CU_ASSERT_STRING_EQUAL(model, c.stack);
    /* --set takes a list too, and a list of widths replaces it */
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 100, 10"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.stack, "");
    CU_ASSERT_EQUAL(c.sizes[1], 100);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=affine 100,relu ,affine 10"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.stack, "affine 100, relu, affine 10");
    /* blank lines between rows, as configparser reads them, do not end the list */
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_load_text(&c, "[model]\nlayers = affine 20,\n   relu,\n\n  \n   "
                                            "affine 10\n\n[training]\nepochs = 2\n", "blank.ini"),
                    OT_OK);
    CU_ASSERT_STRING_EQUAL(c.stack, "affine 20, relu, affine 10");
    CU_ASSERT_EQUAL(c.epochs, 2);
}

/* Where model.layers was set, for the messages of a network that does not fit its data: the
 * file's line (a continued list's first), or the file alone once --set or nothing set it */
static void test_layers_where(void)
{
    ot_config_t c;
    char at[OT_PATH_MAX + 16];
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/stack.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at), GOOD_DIR "/stack.ini:3");
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/stack_comments.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at),
                           GOOD_DIR "/stack_comments.ini:3");
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.epochs=2"), OT_OK); /* another key: kept */
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at),
                           GOOD_DIR "/stack_comments.ini:3");
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=affine 10"), OT_OK);
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at),
                           GOOD_DIR "/stack_comments.ini");
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/minimal.ini"), OT_OK); /* no model.layers */
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at), GOOD_DIR "/minimal.ini");
    ot_config_defaults(&c);
    CU_ASSERT_STRING_EQUAL(ot_config_layers_where(&c, at, sizeof at), "(config)");
}

/* A list with rows commented out, at the margin and indented: the list goes on after them (they
 * had ended it, on a comma) */
static void test_good_stack_comments(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/stack_comments.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.stack, "conv 8 3x3 pad 1, relu, maxpool 2, affine 10");
    CU_ASSERT_EQUAL(c.init, OT_INIT_HE);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

/* HDF5 data: the files, dataset names, layout and standardisation; the IDX keys are not
 * written back (the HDF5 files replace them) */
static void test_good_hdf5(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/hdf5.ini"), OT_OK);
    CU_ASSERT_STRING_EQUAL(c.train_file, "data/own/train.h5");
    CU_ASSERT_STRING_EQUAL(c.test_file, "data/own/test.h5");
    CU_ASSERT_STRING_EQUAL(c.class_names, "data/own/classes.names");
    CU_ASSERT_STRING_EQUAL(c.features, "/images/x");
    CU_ASSERT_STRING_EQUAL(c.labels, "y");
    CU_ASSERT_EQUAL(c.layout, OT_LAYOUT_NCHW);
    CU_ASSERT_EQUAL(c.normalize, OT_NORM_MEAN_STD);
    CU_ASSERT_EQUAL(c.normalize_by, OT_NORM_BY_FEATURE);
    CU_ASSERT_EQUAL(c.idx_keys, 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
    char *text = ot_config_to_ini(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NULL(strstr(text, "train_images"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\ntrain_file = data/own/train.h5\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nclass_names = data/own/classes.names\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nlayout = nchw\nnormalize = mean_std\n"
                                        "normalize_by = feature\n"));
    free(text);
    /* an IDX key given with --set makes the pair an error again */
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.train_images=x.gz"), OT_OK);
    CU_ASSERT_EQUAL(c.idx_keys, OT_KEYS_SET);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_ECONFIG);
    char *got = ot_test_capture_end();
    CU_ASSERT(got && strstr(got, "data.train_images (given with --set) names an "
                                 "IDX file, but data.train_file and data.test_file "
                                 "(HDF5) replace the IDX files"));
    free(got);
    CU_ASSERT_STRING_EQUAL(ot_layout_name(OT_LAYOUT_NCHW), "nchw");
    CU_ASSERT_STRING_EQUAL(ot_normalize_name(OT_NORM_MEAN_STD), "mean_std");
    CU_ASSERT_STRING_EQUAL(ot_norm_by_name(OT_NORM_BY_CHANNEL), "channel");
}

static void test_good_extremes(void)
{
    ot_config_t c;
    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/extremes.ini"), OT_OK);
    CU_ASSERT_EQUAL(c.n_classes, 256);
    CU_ASSERT_EQUAL(c.train_limit, (size_t)9223372036854775807ULL);
    CU_ASSERT_EQUAL(c.n_layers, 2);
    CU_ASSERT_EQUAL(c.sizes[1], OT_MAX_UNITS);
    CU_ASSERT_DOUBLE_EQUAL(c.init_std, 10.0, 0);
    CU_ASSERT_EQUAL(c.epochs, 1000000);
    CU_ASSERT_EQUAL(c.batch_size, 1048576);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 1e6, 0);
    CU_ASSERT_EQUAL(c.seed, 0);
    CU_ASSERT_EQUAL(c.shards, OT_MAX_SHARDS);
    CU_ASSERT_EQUAL(c.checkpoint_every, 2147483647);
    CU_ASSERT_EQUAL(c.keep, 1000);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

/* Load dir/name and check it: both must succeed without a word on stderr. Returns the load's
 * status. */
static int load_silently(ot_config_t *c, const char *dir, const char *name)
{
    char path[600];
    join_path(path, sizeof path, dir, name);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int rc = load(c, path);
    int rc_check = rc == OT_OK ? ot_config_check(c) : rc;
    char *err = ot_test_capture_end();
    if (rc != OT_OK || rc_check != OT_OK)
        fprintf(stderr, "\n  %s: %s", name, err ? err : "?");
    CU_ASSERT_EQUAL(rc, OT_OK);
    CU_ASSERT_EQUAL(rc_check, OT_OK);
    CU_ASSERT(err && err[0] == '\0');
    free(err);
    return rc;
}

/* Every good file loads and checks silently, and round-trips through the writer. */
static void test_good_all(void)
{
    char names[64][256];
    int n = list_ini(GOOD_DIR, names, 64);
    CU_ASSERT_FATAL(n >= 5);
    for (int i = 0; i < n; i++) {
        ot_config_t c;
        if (load_silently(&c, GOOD_DIR, names[i]) == OT_OK)
            assert_round_trip(&c, names[i]);
    }
}

/* ---------------------------------------------------------------- bad files */

/* Each bad/NAME.ini fails ot_config_load (or, when it parses, ot_config_check) with
 * OT_ECONFIG, printing exactly the one line in bad/NAME.expected, and a failed load leaves
 * the config untouched. The .expected files name the fixtures as tests/config/bad/NAME.ini. */
static void test_bad_golden(void)
{
    char names[128][256], path[600], expected_path[600];
    int n = list_ini(BAD_DIR, names, 128);
    CU_ASSERT_FATAL(n >= 40);
    for (int i = 0; i < n; i++) {
        ot_config_t c, d;
        join_path(path, sizeof path, BAD_DIR, names[i]);
        join_path(expected_path, sizeof expected_path - 5, BAD_DIR, names[i]);
        strcpy(expected_path + strlen(expected_path) - 4, ".expected"); /* room kept above */
        char *expected = read_text(expected_path);
        if (!expected)
            fprintf(stderr, "\n  missing %s", expected_path);
        CU_ASSERT_PTR_NOT_NULL(expected);
        if (!expected)
            continue;

        ot_config_defaults(&d);
        ot_config_defaults(&c);
        CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
        int rc = ot_config_load(&c, path);
        int loaded = rc == OT_OK;
        if (loaded)
            rc = ot_config_check(&c);
        char *got = ot_test_capture_end();
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);

        /* the messages name the file as given; the goldens as tests/config/bad/NAME.ini */
        char *shown = replace_first(got, BAD_DIR "/", "tests/config/bad/");
        CU_ASSERT_PTR_NOT_NULL_FATAL(shown);
        if (rc != OT_ECONFIG || strcmp(shown, expected) != 0)
            fprintf(stderr, "\n  %s: rc %d\n  got:      %s  expected: %s", names[i], rc, shown,
                    expected);
        CU_ASSERT_EQUAL(rc, OT_ECONFIG);
        CU_ASSERT_STRING_EQUAL(shown, expected);
        /* one line, ending in a newline */
        char *nl = strchr(got, '\n');
        CU_ASSERT(nl && nl[1] == '\0');
        if (!loaded)
            assert_same(&c, &d, names[i]);
        free(shown);
        free(got);
        free(expected);
    }
}

static void test_bad_open(void)
{
    ot_config_t c;
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int rc = load(&c, BAD_DIR "/no-such-file.ini");
    char *got = ot_test_capture_end();
    CU_ASSERT_EQUAL(rc, OT_EIO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, "omptrain: cannot open config '" BAD_DIR
                                "/no-such-file.ini': No such file or directory\n");
    free(got);

    /* fopen() opens a directory; reading it fails */
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    rc = load(&c, BAD_DIR);
    got = ot_test_capture_end();
    CU_ASSERT_EQUAL(rc, OT_EIO);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, "omptrain: cannot read config '" BAD_DIR "': Is a directory\n");
    free(got);
}

/* ---------------------------------------------------------------- --set */

static void test_set_good(void)
{
    ot_config_t c, d;
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.epochs=5"), OT_OK);
    CU_ASSERT_EQUAL(c.epochs, 5);
    CU_ASSERT_EQUAL(ot_config_set(&c, "  model.layers =  784, 10  "), OT_OK);
    CU_ASSERT_EQUAL(c.n_layers, 1);
    CU_ASSERT_EQUAL(c.sizes[1], 10);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model . activation=sigmoid"), OT_OK);
    CU_ASSERT_EQUAL(c.act[0], OT_ACT_SIGMOID);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.learning_rate=1e-3"), OT_OK);
    CU_ASSERT_DOUBLE_EQUAL(c.lr, 1e-3, 0);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.seed=18446744073709551615"), OT_OK);
    CU_ASSERT_EQUAL(c.seed, UINT64_MAX);
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.train_images=a=b:c.gz"), OT_OK); /* first '=' */
    CU_ASSERT_STRING_EQUAL(c.train_images, "a=b:c.gz");
    /* the same key twice is an override, not a duplicate */
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.epochs=7"), OT_OK);
    CU_ASSERT_EQUAL(c.epochs, 7);

    /* override keys the file set */
    CU_ASSERT_EQUAL_FATAL(load(&d, GOOD_DIR "/full.ini"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&d, "training.epochs=9"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&d, "output.dir=elsewhere"), OT_OK);
    CU_ASSERT_EQUAL(d.epochs, 9);
    CU_ASSERT_STRING_EQUAL(d.out_dir, "elsewhere");

    /* the other form of a choice with --set replaces the file's: a list of layers drops its
     * widths syntax's keys (full.ini sets model.activation), HDF5 files its IDX files; a key
     * of the replaced form given with --set as well is still an error */
    CU_ASSERT_EQUAL(d.width_keys, OT_KEYS_FILE);
    CU_ASSERT_EQUAL(ot_config_set(&d, "model.layers=conv 2 3x3, relu, affine 20"), OT_OK);
    CU_ASSERT_EQUAL(d.width_keys, 0);
    CU_ASSERT_EQUAL(d.idx_keys, OT_KEYS_FILE);
    CU_ASSERT_EQUAL(ot_config_set(&d, "data.train_file=t.h5"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&d, "data.test_file=v.h5"), OT_OK);
    CU_ASSERT_EQUAL(d.idx_keys, 0);
    CU_ASSERT_EQUAL(ot_config_check(&d), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&d, "model.dropout=0.5"), OT_OK);
    CU_ASSERT_EQUAL(d.width_keys, OT_KEYS_SET);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_check(&d), OT_ECONFIG);
    char *got = ot_test_capture_end();
    CU_ASSERT(got && strstr(got, "model.layers lists layers"));
    /* the key and where it came from (until 2026-12 the message listed all three and blamed
     * the file) */
    CU_ASSERT(got && strstr(got, ": model.dropout (given with --set) goes with a "
                                 "list of widths (model.layers = 784, 100, 10)"));
    free(got);
    /* a list of widths with --set keeps them */
    CU_ASSERT_EQUAL_FATAL(load(&d, GOOD_DIR "/full.ini"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&d, "model.layers=100, 30, 20, 20"), OT_OK);
    CU_ASSERT_EQUAL(d.width_keys, OT_KEYS_FILE);
    CU_ASSERT_EQUAL(ot_config_check(&d), OT_OK);

    /* activation list first, layers later: only ot_config_check counts them */
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.activation=relu, sigmoid, relu"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 30, 20, 10, 10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
    CU_ASSERT_EQUAL(c.act[2], OT_ACT_RELU);
    CU_ASSERT_EQUAL(c.act[1], OT_ACT_SIGMOID);
}

/* assignment -> exact stderr line (without "omptrain: " and the newline) */
static const struct {
    const char *assignment;
    const char *message;
} bad_sets[] = {
    {"training.epochs=abc", "--set training.epochs=abc: training.epochs: invalid value 'abc', "
                            "expected an integer in [1, 1000000]"},
    {"training.epochs=0", "--set training.epochs=0: training.epochs: invalid value '0', "
                          "expected an integer in [1, 1000000]"},
    {"training.epochs=", "--set training.epochs=: training.epochs: empty value '', expected an "
                         "integer in [1, 1000000]"},
    {"training.batch_size=12x", "--set training.batch_size=12x: training.batch_size: invalid "
                                "value '12x', expected an integer in [1, 1048576]"},
    {"training.learning_rate=inf", "--set training.learning_rate=inf: training.learning_rate: "
                                   "invalid value 'inf', expected a number in (0, 1e+06]"},
    {"model.layers=784, 1000000000000, 10",
     "--set model.layers=784, 1000000000000, 10: model.layers: invalid layer size "
     "'1000000000000' in '784, 1000000000000, 10', expected an integer in [1, 1048576]"},
    {"model.init=he2", "--set model.init=he2: model.init: unknown init 'he2', expected std, he or "
                       "xavier"},
    {"", "--set: empty assignment, expected section.key=value, e.g. training.epochs=5"},
    {"   ", "--set: empty assignment, expected section.key=value, e.g. training.epochs=5"},
    {"epochs", "--set epochs: missing '=', expected section.key=value, e.g. training.epochs=5"},
    {"epochs=5", "--set epochs=5: missing section in 'epochs', expected section.key=value, e.g. "
                 "training.epochs=5"},
    {".epochs=5", "--set .epochs=5: malformed key '.epochs', expected section.key=value, e.g. "
                  "training.epochs=5"},
    {"training.=5", "--set training.=5: malformed key 'training.', expected section.key=value, "
                    "e.g. training.epochs=5"},
    {"=5", "--set =5: missing section in '', expected section.key=value, e.g. "
           "training.epochs=5"},
    {"train.epochs=5", "--set train.epochs=5: unknown section [train], expected one of [data] "
                       "[model] [training] [output]"},
    {"training.epoch=5", "--set training.epoch=5: unknown key training.epoch in [training], "
                         "expected one of epochs, batch_size, learning_rate, seed, shards, "
                         "sparse_input, augment_shift, optimizer, momentum, rmsprop_decay, beta1, "
                         "beta2, epsilon, "
                         "weight_decay, clip_norm, schedule, step_epochs, step_factor, "
                         "warmup_epochs, patience, validation, divergence_loss"},
    {"data.train_images=a ;b", "--set data.train_images=a ;b: data.train_images: invalid value "
                               "'a ;b', expected no line break and no ';' at the start or after "
                               "a blank (it starts an INI comment)"},
};

static void test_set_bad(void)
{
    for (size_t i = 0; i < sizeof bad_sets / sizeof bad_sets[0]; i++) {
        ot_config_t c, d;
        char expected[1024];
        ot_config_defaults(&c);
        ot_config_defaults(&d);
        snprintf(expected, sizeof expected, "omptrain: %s\n", bad_sets[i].message);
        CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
        int rc = ot_config_set(&c, bad_sets[i].assignment);
        char *got = ot_test_capture_end();
        CU_ASSERT_PTR_NOT_NULL_FATAL(got);
        if (rc != OT_ECONFIG || strcmp(got, expected) != 0)
            fprintf(stderr, "\n  '%s': rc %d\n  got:      %s  expected: %s",
                    bad_sets[i].assignment, rc, got, expected);
        CU_ASSERT_EQUAL(rc, OT_ECONFIG);
        CU_ASSERT_STRING_EQUAL(got, expected);
        assert_same(&c, &d, bad_sets[i].assignment); /* nothing changed */
        free(got);
    }

    /* a value too long to be written back as one INI line */
    ot_config_t c;
    char long_set[400];
    ot_config_defaults(&c);
    memset(long_set, 'x', sizeof long_set - 1);
    long_set[sizeof long_set - 1] = '\0';
    memcpy(long_set, "output.dir=", 11);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int rc = ot_config_set(&c, long_set);
    char *got = ot_test_capture_end();
    CU_ASSERT_EQUAL(rc, OT_ECONFIG);
    CU_ASSERT_PTR_NOT_NULL(got ? strstr(got, ": output.dir: value too long (388 characters), "
                                             "expected at most 191\n") : NULL);
    CU_ASSERT_STRING_EQUAL(c.out_dir, "");
    free(got);
}

/* ---------------------------------------------------------------- writer and round trip */

static void test_round_trip(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    assert_round_trip(&c, "defaults"); /* out_dir "" is written as runs/omptrain */

    CU_ASSERT_EQUAL_FATAL(load(&c, GOOD_DIR "/full.ini"), OT_OK);
    assert_round_trip(&c, "full.ini");

    /* values no file line produced: doubles that need 17 digits, every list form */
    c.lr = 1.0 / 3.0;
    c.init_std = 0.1 + 0.2;
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 512, 256, 128, 64, 10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.activation=sigmoid,relu,relu,sigmoid"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.classes=10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
    assert_round_trip(&c, "lists and 17-digit doubles");

    /* the longest layer list the file format holds: written without blanks */
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=9999,9999,9999,9999,9999,9999,9999,9999,9999,"
                                      "9999,9999,9999,9999,9999,9999,9999,9999,9999,9999,9999,"
                                      "9999,9999,9999,9999,9999,9999,9999,9999,9999,9999,9999,"
                                      "9999,10"), OT_OK);
    CU_ASSERT_EQUAL(c.n_layers, OT_MAX_LAYERS);
    assert_round_trip(&c, "33 layer sizes");

    /* text that does not parse: the code, and not a word on stderr */
    ot_config_defaults(&c);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_load_text(&c, "[training]\nepochs = 0\n", "ck.h5"), OT_ECONFIG);
    CU_ASSERT_EQUAL(ot_config_load_text(&c, "[nope]\n", "ck.h5"), OT_ECONFIG);
    CU_ASSERT_EQUAL(ot_config_load_text(&c, "", "ck.h5"), OT_ECONFIG);
    char err[256];
    CU_ASSERT_EQUAL(ot_test_capture_lines(err, sizeof err), 0);
    CU_ASSERT_EQUAL(c.epochs, 17); /* untouched */

    /* per-layer activations written into the struct directly: the effective list is kept */
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 40, 30, 10"), OT_OK);
    c.act[1] = OT_ACT_SIGMOID;
    char *text = ot_config_to_ini(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "\nactivation = relu, sigmoid\n"));
    free(text);
}

static void test_to_ini_text(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "configs/mnist.ini");
    char *text = ot_config_to_ini(&c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text,
                           "[data]\n"
                           "train_images = data/mnist/train-images-idx3-ubyte.gz\n"
                           "train_labels = data/mnist/train-labels-idx1-ubyte.gz\n"
                           "test_images = data/mnist/t10k-images-idx3-ubyte.gz\n"
                           "test_labels = data/mnist/t10k-labels-idx1-ubyte.gz\n"
                           "classes = 10\n"
                           "train_limit = 0\n"
                           "test_limit = 0\n"
                           "; features = data\n"
                           "; labels = label\n"
                           "; layout = nhwc\n"
                           "normalize = none\n"
                           "; normalize_by = channel\n"
                           "\n[model]\n"
                           "layers = 784, 50, 10\n"
                           "activation = relu\n"
                           "init = std\n"
                           "init_std = 0.01\n"
                           "dropout = 0\n"
                           "batchnorm = false\n"
                           "; bn_momentum = 0.9\n"
                           "\n[training]\n"
                           "epochs = 17\n"
                           "batch_size = 100\n"
                           "learning_rate = 0.01\n"
                           "seed = 42\n"
                           "shards = 8\n"
                           "sparse_input = true\n"
                           "augment_shift = 0\n"
                           "optimizer = sgd\n"
                           "; momentum = 0.9\n"
                           "; rmsprop_decay = 0.99\n"
                           "; beta1 = 0.9\n"
                           "; beta2 = 0.999\n"
                           "; epsilon = 1e-08\n"
                           "weight_decay = 0\n"
                           "clip_norm = 0\n"
                           "schedule = constant\n"
                           "; step_epochs = 10\n"
                           "; step_factor = 0.1\n"
                           "warmup_epochs = 0\n"
                           "patience = 0\n"
                           "validation = 0\n"
                           "divergence_loss = 1000\n"
                           "\n[output]\n"
                           "dir = runs/mnist\n"
                           "checkpoint_every = 1\n"
                           "keep = 3\n");
    free(text);
}

/* ---------------------------------------------------------------- check */

static void test_check(void)
{
    ot_config_t c;
    char *got;

    /* parameters: sum of in*out + out; 1060109335 passes, 1085276170 > 2^30 fails */
    ot_config_defaults(&c);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=1000, 1048575, 10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=1024, 1048576, 10"), OT_OK);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_ECONFIG);
    got = ot_test_capture_end();
    CU_ASSERT_STRING_EQUAL(got, "omptrain: (defaults): model.layers: 1085276170 parameters in "
                                "'1024, 1048576, 10', expected at most 1073741824\n");
    free(got);

    /* activations counted against hidden layers after both keys are set */
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "x.ini");
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.activation=relu, relu"), OT_OK);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_ECONFIG);
    got = ot_test_capture_end();
    CU_ASSERT_STRING_EQUAL(got, "omptrain: x.ini: model.activation: 2 names for 0 hidden "
                                "layers, expected 1\n");
    free(got);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.layers=784, 20, 20, 10"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);

    /* a warm-up longer than the training, against training.epochs whichever came first */
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.warmup_epochs=6"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.epochs=5"), OT_OK);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_ECONFIG);
    got = ot_test_capture_end();
    CU_ASSERT_STRING_EQUAL(got, "omptrain: x.ini: training.warmup_epochs: 6 is longer than the "
                                "5 epochs of training, expected at most training.epochs (5)\n");
    free(got);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.warmup_epochs=5"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_check(&c), OT_OK);
}

/* ---------------------------------------------------------------- keys left unused */

/* A key given that the other choices leave unused: one warning line each, from the file or
 * --set alike; a key the choice uses, or one not given (its default), none. The trap it is
 * for: a PyTorch user's optimizer = sgd with momentum = 0.9, which trained plain SGD. */
static void test_warn_unused(void)
{
    ot_config_t c;
    char *got;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "x.ini");
    CU_ASSERT_EQUAL(warnings(&c, NULL), 0); /* defaults: nothing given */
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.momentum=0.9"), OT_OK);
    CU_ASSERT_EQUAL(warnings(&c, &got), 1);
    CU_ASSERT_STRING_EQUAL(got, "omptrain: warning: x.ini: training.momentum is set, but with "
                                "training.optimizer = sgd it is unused (momentum and nesterov "
                                "use it; momentum SGD is training.optimizer = momentum)\n");
    free(got);
    /* a file that sets no key (empty, or comments and a header alone) trains the defaults:
     * said once; one key set is enough to quiet it */
    const char *none[] = {"; nothing here\n", "[model]\n\n; layers = affine 50\n"};
    for (size_t i = 0; i < 2; i++) {
        ot_config_t e;
        ot_config_defaults(&e);
        CU_ASSERT_EQUAL_FATAL(ot_config_load_text(&e, none[i], "none.ini"), OT_OK);
        CU_ASSERT_EQUAL(warnings(&e, &got), 1);
        CU_ASSERT_STRING_EQUAL(got, "omptrain: warning: none.ini sets no key, so every setting "
                                    "not given with --set is its default (configs/reference.ini "
                                    "lists them)\n");
        free(got);
        CU_ASSERT_EQUAL(ot_config_load_text(&e, "[training]\nepochs = 2\n", "one.ini"), OT_OK);
        CU_ASSERT_EQUAL(warnings(&e, NULL), 0);
    }
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.optimizer=nesterov"), OT_OK);
    CU_ASSERT_EQUAL(warnings(&c, NULL), 0);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.beta2=0.99"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.step_factor=0.5"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.layout=nchw"), OT_OK);
    CU_ASSERT_EQUAL(warnings(&c, &got), 3);
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "training.beta2 is set, but with training.optimizer = "
                                       "nesterov it is unused (adam and adamw use it)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "training.step_factor is set, but with "
                                       "training.schedule = constant it is unused"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "data.layout is set, but with IDX files it is unused"));
    free(got);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.optimizer=adam"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "training.schedule=step"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.train_file=t.h5"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "data.test_file=v.h5"), OT_OK);
    CU_ASSERT_EQUAL(warnings(&c, NULL), 1); /* momentum, under adam */
    /* the model's: init_std beside another init, bn_momentum without a batch norm (in either
     * syntax; a word like "batchnorms" or a dropout named elsewhere is no batch norm) */
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.init_std=0.1"), OT_OK);
    CU_ASSERT_EQUAL(ot_config_set(&c, "model.bn_momentum=0.8"), OT_OK);
    /* momentum, still; init std (the default) uses init_std; bn_momentum */
    CU_ASSERT_EQUAL(warnings(&c, &got), 2);
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "model.bn_momentum is set, but with no batch norm in the "
                                       "model it is unused"));
    free(got);
    const struct {
        const char *set;
        int warnings;
    } model[] = {{"model.init=he", 2},           {"model.batchnorm=true", 1},
                 {"model.init=std", 0},          {"model.layers=affine 50, relu, affine 10", 1},
                 {"model.layers=affine 50, batchnorm, relu, affine 10", 0},
                 {"model.layers=conv 8 3x3,batchnorm , relu, affine 10", 0},
                 {"model.layers=conv 8 3x3, relu, dropout 0.5, affine 10", 1}};
    for (size_t i = 0; i < sizeof model / sizeof model[0]; i++) {
        CU_ASSERT_EQUAL(ot_config_set(&c, model[i].set), OT_OK);
        int w = warnings(&c, NULL) - 1; /* less momentum's */
        if (w != model[i].warnings)
            fprintf(stderr, "\n  after --set %s: %d warnings, expected %d", model[i].set, w,
                    model[i].warnings);
        CU_ASSERT_EQUAL(w, model[i].warnings);
    }
    /* the widths syntax's layer keys without a hidden layer ("784, 10"): each unused, and
     * batchnorm = true makes no batch norm there (until 2026-12 all were taken silently) */
    ot_config_t w;
    ot_config_defaults(&w);
    snprintf(w.path, sizeof w.path, "w.ini");
    CU_ASSERT(ot_config_set(&w, "model.layers=784, 10") == OT_OK &&
              ot_config_set(&w, "model.activation=sigmoid") == OT_OK &&
              ot_config_set(&w, "model.batchnorm=true") == OT_OK &&
              ot_config_set(&w, "model.dropout=0.5") == OT_OK &&
              ot_config_set(&w, "model.bn_momentum=0.5") == OT_OK);
    CU_ASSERT_EQUAL(warnings(&w, &got), 4);
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "w.ini: model.dropout is set, but with no hidden layer in "
                                       "model.layers it is unused (it acts after each hidden "
                                       "layer's activation)\n"));
    CU_ASSERT_PTR_NOT_NULL(strstr(got, "model.bn_momentum is set, but with no batch norm"));
    free(got);
    CU_ASSERT(ot_config_set(&w, "model.layers=784, 20, 10") == OT_OK);
    CU_ASSERT_EQUAL(warnings(&w, NULL), 0);
    /* every shipped config uses what it sets */
    char names[64][256], path[600];
    int n = list_ini(CONFIGS_DIR, names, 64);
    CU_ASSERT(n >= 10);
    for (int i = 0; i < n; i++) {
        join_path(path, sizeof path, CONFIGS_DIR, names[i]);
        CU_ASSERT_EQUAL_FATAL(load(&c, path), OT_OK);
        int w = warnings(&c, &got);
        if (w)
            fprintf(stderr, "\n  %s: %s", names[i], got);
        CU_ASSERT_EQUAL(w, 0);
        free(got);
    }
}

/* ---------------------------------------------------------------- shipped configs */

static void test_configs_dir(void)
{
    char names[64][256];
    int n = list_ini(CONFIGS_DIR, names, 64), seen = 0;
    CU_ASSERT_FATAL(n >= 4);
    for (int i = 0; i < n; i++) {
        ot_config_t c;
        if (load_silently(&c, CONFIGS_DIR, names[i]) != OT_OK)
            continue;
        assert_round_trip(&c, names[i]);
        if (strcmp(names[i], "mnist.ini") == 0) {
            seen++;
            CU_ASSERT_EQUAL(c.n_layers, 2);
            CU_ASSERT(c.sizes[0] == 784 && c.sizes[1] == 50 && c.sizes[2] == 10);
            CU_ASSERT_EQUAL(c.act[0], OT_ACT_RELU);
            CU_ASSERT_EQUAL(c.init, OT_INIT_STD);
            CU_ASSERT_DOUBLE_EQUAL(c.init_std, 0.01, 0);
            CU_ASSERT_DOUBLE_EQUAL(c.lr, 0.1, 0);
            CU_ASSERT_EQUAL(c.batch_size, 100);
            CU_ASSERT_EQUAL(c.epochs, 17);
            CU_ASSERT_EQUAL(c.seed, 42);
            CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/mnist");
        } else if (strcmp(names[i], "mnist-mlp.ini") == 0) {
            seen++;
            CU_ASSERT_EQUAL(c.n_layers, 3);
            CU_ASSERT(c.sizes[0] == 784 && c.sizes[1] == 512 && c.sizes[2] == 512 &&
                      c.sizes[3] == 10);
            CU_ASSERT_EQUAL(c.init, OT_INIT_HE);
        } else if (strcmp(names[i], "fashion-mnist.ini") == 0) {
            seen++;
            CU_ASSERT_STRING_EQUAL(c.train_images,
                                   "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
            CU_ASSERT_STRING_EQUAL(c.test_labels,
                                   "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
            CU_ASSERT(c.sizes[0] == 784 && c.sizes[1] == 100 && c.sizes[2] == 10);
            CU_ASSERT_EQUAL(c.epochs, 15);
        } else if (strcmp(names[i], "reference.ini") == 0) {
            /* the reference documents the defaults: loading it changes nothing */
            ot_config_t d;
            seen++;
            ot_config_defaults(&d);
            snprintf(d.out_dir, sizeof d.out_dir, "runs/reference");
            assert_same(&c, &d, "reference.ini vs defaults");
        }
    }
    CU_ASSERT_EQUAL(seen, 4);
}

/* reference.ini names every key (output.dir only in a comment: its default is unset). */
static void test_reference_lists_every_key(void)
{
    char *text = read_text(CONFIGS_DIR "/reference.ini");
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    for (size_t i = 0; i < N_ALL_KEYS; i++) {
        char line[64], commented[64];
        snprintf(line, sizeof line, "\n%s = ", all_keys[i]);
        snprintf(commented, sizeof commented, "\n; %s = ", all_keys[i]);
        int found = strstr(text, line) || strstr(text, commented);
        if (!found)
            fprintf(stderr, "\n  reference.ini lacks %s", all_keys[i]);
        CU_ASSERT(found);
    }
    free(text);
}

/* What a resume notes besides the schedule: the keys that shape how training goes on, each
 * "KEY A -> B" (values with blanks quoted); the schedule's keys, the seed, the shards, the
 * test set and the output are not among them (noted elsewhere, refused, or no change to the
 * training); an unused key's value counts too (optimizer = sgd with another momentum: the
 * next optimizer that uses it would). Until 2026-12 a resume said nothing of these. */
static void test_train_diff(void)
{
    ot_config_t a, b;
    char buf[1024];
    ot_config_defaults(&a);
    b = a;
    CU_ASSERT_EQUAL(ot_config_train_diff(&a, &b, buf, sizeof buf), 0);
    CU_ASSERT_STRING_EQUAL(buf, "");
    CU_ASSERT_FATAL(ot_config_set(&b, "training.learning_rate=0.5") == OT_OK &&
                    ot_config_set(&b, "training.seed=9") == OT_OK &&
                    ot_config_set(&b, "training.shards=2") == OT_OK &&
                    ot_config_set(&b, "data.test_limit=50") == OT_OK &&
                    ot_config_set(&b, "output.keep=1") == OT_OK);
    CU_ASSERT_EQUAL(ot_config_train_diff(&a, &b, buf, sizeof buf), 0);
    CU_ASSERT_FATAL(ot_config_set(&b, "training.weight_decay=0.1") == OT_OK &&
                    ot_config_set(&b, "model.dropout=0.5") == OT_OK &&
                    ot_config_set(&b, "data.train_labels=other.gz") == OT_OK);
    CU_ASSERT_EQUAL(ot_config_train_diff(&a, &b, buf, sizeof buf), 3);
    CU_ASSERT_STRING_EQUAL(buf, "training.weight_decay 0 -> 0.1, model.dropout 0 -> 0.5, "
                                "data.train_labels data/mnist/train-labels-idx1-ubyte.gz -> "
                                "other.gz");
    ot_config_t c = a, d = a;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=affine 20, dropout 0.5, affine 10") == OT_OK &&
                    ot_config_set(&d, "model.layers=affine 20, dropout 0.25, affine 10") == OT_OK);
    CU_ASSERT_EQUAL(ot_config_train_diff(&c, &d, buf, sizeof buf), 1);
    CU_ASSERT_STRING_EQUAL(buf, "model.layers 'affine 20, dropout 0.5, affine 10' -> 'affine 20, "
                                "dropout 0.25, affine 10'");
    /* what does not fit is left out, the count stays */
    CU_ASSERT_EQUAL(ot_config_train_diff(&a, &b, buf, 40), 3);
    CU_ASSERT_STRING_EQUAL(buf, "training.weight_decay 0 -> 0.1");
}

OT_TEST_SUITE(config, NULL, NULL,
              {"defaults", test_defaults},
              {"names", test_names},
              {"good minimal", test_good_minimal},
              {"good full", test_good_full},
              {"good no hidden layer", test_good_no_hidden},
              {"good list of layers over three lines", test_good_stack},
              {"good list of layers with rows commented out", test_good_stack_comments},
              {"where model.layers was set: file and line, or file", test_layers_where},
              {"good layout (BOM, CRLF, comments, indentation)", test_good_layout},
              {"good extremes", test_good_extremes},
              {"good HDF5 data", test_good_hdf5},
              {"good all load, check and round-trip", test_good_all},
              {"bad golden files", test_bad_golden},
              {"bad open and read", test_bad_open},
              {"set good", test_set_good},
              {"set bad and malformed", test_set_bad},
              {"to_ini round trip", test_round_trip},
              {"to_ini text", test_to_ini_text},
              {"check", test_check},
              {"keys given but unused: one warning each", test_warn_unused},
              {"configs/ all load and check", test_configs_dir},
              {"reference.ini lists every key", test_reference_lists_every_key},
              {"a resume's keys that shape the training: what differs", test_train_diff})
