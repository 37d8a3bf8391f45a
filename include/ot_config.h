/* ot_config.h - the run's configuration: INI file (parsed with inih) plus --set overrides.
 * Every key has a default (see configs/reference.ini); unknown sections or keys, malformed or
 * out-of-range values are errors reported as "file:line: ..." and returned as OT_ECONFIG. */
#ifndef OT_CONFIG_H
#define OT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define OT_MAX_LAYERS 32       /* most Affine layers in a model */
#define OT_MAX_UNITS (1 << 20) /* most units in one layer */
#define OT_MAX_PARAMS ((size_t)1 << 30) /* most parameters in a model (4 GiB of floats) */
#define OT_PATH_MAX 1024
#define OT_MAX_SHARDS 1024
#define OT_STACK_TEXT 4096     /* model.layers as a list of layers, at most this long */

typedef enum { OT_ACT_RELU, OT_ACT_SIGMOID } ot_act_t;
typedef enum { OT_INIT_STD, OT_INIT_HE, OT_INIT_XAVIER } ot_init_t;
typedef enum {
    OT_OPT_SGD,
    OT_OPT_MOMENTUM,
    OT_OPT_NESTEROV,
    OT_OPT_ADAGRAD,
    OT_OPT_RMSPROP,
    OT_OPT_ADAM,
    OT_OPT_ADAMW,
} ot_optimizer_t;
typedef enum { OT_SCHED_CONSTANT, OT_SCHED_STEP, OT_SCHED_COSINE } ot_schedule_t;
typedef enum { OT_LAYOUT_NHWC, OT_LAYOUT_NCHW } ot_layout_t; /* a rank-4 HDF5 features axis order */
typedef enum { OT_NORM_NONE, OT_NORM_MEAN_STD } ot_normalize_t;
typedef enum { OT_NORM_BY_CHANNEL, OT_NORM_BY_FEATURE } ot_norm_by_t;
/* Where keys of one form of a choice came from (ot_config_t.width_keys, idx_keys): the
 * config file, or --set. A --set of the other form drops the file's: on a config of widths,
 * --set model.layers=LIST drops its activation, batchnorm and dropout; on an IDX config,
 * --set data.train_file=... drops its IDX files. */
enum { OT_KEYS_FILE = 1, OT_KEYS_SET = 2 };

typedef struct {
    /* [data] */
    char train_images[OT_PATH_MAX]; /* IDX image file (raw or .gz) */
    char train_labels[OT_PATH_MAX]; /* IDX label file */
    char test_images[OT_PATH_MAX];
    char test_labels[OT_PATH_MAX];
    int n_classes;                  /* data.classes: labels lie in [0, classes) */
    char class_names[OT_PATH_MAX];  /* data.class_names: a text file of the classes' names,
                                       one a line ("" = none; an HDF5 file's own then) */
    size_t train_limit;             /* use only the first N training samples; 0 = all */
    size_t test_limit;              /* same for the test set */
    char train_file[OT_PATH_MAX];   /* HDF5 training set ("" = the IDX files above) */
    char test_file[OT_PATH_MAX];    /* HDF5 test set; set together with train_file */
    char features[OT_PATH_MAX];     /* data.features: the HDF5 features dataset ("data") */
    char labels[OT_PATH_MAX];       /* data.labels: the HDF5 labels dataset ("label") */
    ot_layout_t layout;             /* data.layout: axis order of rank-4 features */
    ot_normalize_t normalize;       /* data.normalize: none or mean_std (standardisation) */
    ot_norm_by_t normalize_by;      /* data.normalize_by: statistics per channel or feature */
    char idx_key[16];               /* the last of those keys set, for the message */
    int idx_keys;                   /* a train_/test_images or _labels key was set (bits
                                       OT_KEYS_FILE, OT_KEYS_SET): IDX keys, an error
                                       together with train_file */

    /* [model] */
    char stack[OT_STACK_TEXT];       /* model.layers as a list of layers ("conv 30 5x5, relu,
                                        maxpool 2, affine 10"), checked by the layer registry,
                                        items ", "-joined; "" when it lists widths (sizes) */
    size_t n_layers;                 /* number of Affine layers = entries in layers - 1 */
    size_t sizes[OT_MAX_LAYERS + 1]; /* model.layers: input, hidden..., output widths */
    ot_act_t act[OT_MAX_LAYERS];     /* model.activation: one per hidden layer */
    ot_init_t init;                  /* model.init: std, he or xavier */
    double init_std;                 /* model.init_std: stddev for init = std */
    double dropout;                  /* model.dropout: drop rate after each hidden activation */
    int batchnorm;                   /* model.batchnorm: batch norm after each hidden Affine */
    double bn_momentum;              /* model.bn_momentum: running statistics' decay */
    char width_key[16];              /* the last of those keys set, for the message */
    int width_keys;                  /* model.activation, batchnorm or dropout was set (bits
                                        OT_KEYS_FILE, OT_KEYS_SET): keys of the widths syntax,
                                        an error with a stack; a stack given with --set drops
                                        the file's */

    /* [training] */
    int epochs;          /* training.epochs */
    size_t batch_size;   /* training.batch_size */
    double lr;           /* training.learning_rate (default: the optimizer's) */
    int lr_set;          /* learning_rate was given, so changing the optimizer keeps it */
    uint64_t seed;       /* training.seed */
    int shards;          /* training.shards: fixed split of every batch; 0 = one per thread */
    int sparse_input;    /* training.sparse_input: the first layer leaves zero pixels out when
                            the images are mostly zero */
    int augment_shift;   /* training.augment_shift: each training image moved by up to this
                            many pixels along each axis, per step; 0 = off */
    ot_optimizer_t optimizer; /* training.optimizer */
    double momentum;     /* training.momentum (momentum, nesterov) */
    double rmsprop_decay; /* training.rmsprop_decay: decay of the squared-gradient average */
    double beta1, beta2; /* training.beta1, beta2 (adam, adamw) */
    double epsilon;      /* training.epsilon (adagrad, rmsprop, adam, adamw) */
    double weight_decay; /* training.weight_decay: L2 on weights (decoupled for adamw) */
    double clip_norm;    /* training.clip_norm: global gradient norm limit; 0 = off */
    ot_schedule_t schedule; /* training.schedule */
    int step_epochs;     /* training.step_epochs: epochs between step-schedule drops */
    double step_factor;  /* training.step_factor: the step schedule's factor */
    int warmup_epochs;   /* training.warmup_epochs: linear warm-up length; 0 = none */
    int patience;        /* training.patience: early stopping after N epochs without a better
                            validation loss; 0 = off */
    size_t validation;   /* training.validation: samples held out from the end of the
                            training set for early stopping; 0 = none */
    double divergence_loss; /* training.divergence_loss: a batch's mean loss above this stops
                               training as diverged; 0 = only NaN or Inf stop it */

    /* [output] */
    char out_dir[OT_PATH_MAX]; /* output.dir; "" = runs/<config file name without .ini> */
    int checkpoint_every;      /* output.checkpoint_every: epochs between checkpoints; 0 = end only */
    int keep;                  /* output.keep: checkpoints kept besides the latest */

    char path[OT_PATH_MAX];    /* the config file this came from, for messages */
    int layers_line;           /* the line of path that set model.layers (a continued list's
                                  first); 0 = --set or the default, for messages */
    const char *batch_name;    /* what set batch_size, for messages: NULL = training.batch_size
                                  (gradcheck: its --samples) */
    const char *shape_hint;    /* how the data's axes may have been misread, appended to a
                                  layer's shape error (ot_trainer_init sets it); NULL = none */
    uint64_t keys_given;       /* bit i: the i-th key of the table in config.c was given (file
                                  or --set), for ot_config_warn_unused */
    int file_keys;             /* keys the file set (ot_config_load); -1: no file read */
} ot_config_t;

/* One warning line on stderr ("omptrain: warning: ...") for each key given that c's other
 * choices leave unused: momentum with optimizer sgd (momentum SGD is optimizer = momentum),
 * beta1 or beta2 outside adam and adamw, step_epochs or step_factor without schedule = step,
 * the HDF5 keys with IDX files, normalize_by without normalize = mean_std; and one when the
 * config file set no key at all (an empty file given by mistake trains the defaults). Returns
 * how many. */
int ot_config_warn_unused(const ot_config_t *c);

/* Fill c with every key's documented default. */
void ot_config_defaults(ot_config_t *c);

/* Parse the INI file at path into c (call ot_config_defaults first). Returns 0, OT_EIO when the
 * file cannot be opened, or OT_ECONFIG after printing "path:line: ..." for the first bad line.
 * A value that ends with a comma goes on to the next line (model.layers may be longer than a
 * line). */
int ot_config_load(ot_config_t *c, const char *path);

/* The same for config text (a checkpoint's root attribute config) named name (a path, for
 * output.dir's default), silently: returns 0, or the code of the first error without printing
 * it (or OT_ENOMEM). */
int ot_config_load_text(ot_config_t *c, const char *text, const char *name);

/* Apply one override "section.key=value", validated exactly like a file line. Returns 0 or
 * OT_ECONFIG after printing "--set section.key=value: ...". */
int ot_config_set(ot_config_t *c, const char *assignment);

/* ot_config_set, its messages headed by shown (the option as the user spelt it, such as
 * "--epochs 1e3") instead of "--set section.key=value"; shown NULL: ot_config_set. */
int ot_config_set_as(ot_config_t *c, const char *assignment, const char *shown);

/* Cross-key checks that no single line can make (e.g. activations vs. layers). Returns 0 or
 * OT_ECONFIG after printing "path: key: ...". */
int ot_config_check(const ot_config_t *c);

/* Write the effective configuration as INI text into a malloc'd, NUL-terminated string owned
 * by the caller: every key, those that its choices leave unused (the warning's, e.g. momentum
 * under sgd) as comments with their values, so that the text read back as a config warns of
 * nothing. Returns NULL on allocation failure. */
char *ot_config_to_ini(const ot_config_t *c);

/* The keys that change how a resumed run goes on and that a resume neither refuses nor notes
 * elsewhere (the update's: weight_decay, clip_norm, momentum, beta1, beta2, epsilon,
 * rmsprop_decay; batch_size, augment_shift; the model's training-only layers: a dropout rate;
 * bn_momentum; the training data's files and datasets) where now differs from was, as
 * "training.weight_decay 0 -> 0.1, ..." into buf[n] (the items that fit whole); returns how
 * many differ. */
size_t ot_config_train_diff(const ot_config_t *was, const ot_config_t *now, char *buf,
                            size_t n);

/* Where model.layers was set, as a message's head: "path:line" when a line of the config
 * file set it, else the path ("(config)" when there is none); into buf, which it returns. */
const char *ot_config_layers_where(const ot_config_t *c, char *buf, size_t n);

/* model.layers as text: the stack, or the widths joined by '-' ("784-50-10"), into buf. */
void ot_config_model_str(const ot_config_t *c, char *buf, size_t n);

/* Names, for messages and the INI writer. */
const char *ot_act_name(ot_act_t a);
const char *ot_init_name(ot_init_t i);
const char *ot_optimizer_name(ot_optimizer_t o);
const char *ot_schedule_name(ot_schedule_t s);
const char *ot_layout_name(ot_layout_t l);
const char *ot_normalize_name(ot_normalize_t n);
const char *ot_norm_by_name(ot_norm_by_t b);

/* The textbook's learning rate for an optimizer: 0.001 for adam and adamw, else 0.01. */
double ot_optimizer_default_lr(ot_optimizer_t o);

#endif
