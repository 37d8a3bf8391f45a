/* config.c - the run's configuration: INI files parsed with inih, "--set section.key=value"
 * overrides, cross-key checks and the INI writer.
 *
 * One table (keys[]) drives everything: which sections and keys exist, how each value is
 * parsed and range-checked, what an error says is expected, and how the writer prints it.
 * File lines and --set overrides go through the same handler, on_key().
 *
 * inih is driven through ini_parse_stream() with our own line reader (read_line) because the
 * packaged libinih is built without INI_HANDLER_LINENO, so its handler never learns the line
 * number, which every message and the duplicate-key check need. The reader also
 *   - counts lines (inih calls it once per line, so the counts agree),
 *   - strips leading whitespace, so an indented line is never taken as a multi-line
 *     continuation of the previous value,
 *   - rejects lines longer than inih's line buffer (inih would silently split them),
 *   - checks every [section] header, so an empty misspelled section is an error too,
 *   - reports syntax errors with the offending text (inih only returns a line number),
 *   - stops the parse at the first error. */
#include "ot_config.h"
#include "ot_common.h"
#include "ot_net.h"

#include <errno.h>
#include <ini.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest line (without its line break) that inih's line buffer holds: it needs room for
 * "\r\n\0" (see INI_MAX_LINE in ini.h). Values longer than what fits in "key = value" are
 * rejected, so that ot_config_to_ini always writes a file ot_config_load can read back. */
#define LINE_CHARS ((size_t)INI_MAX_LINE - 3)

/* Marks the unused tail of act[] when model.activation is a list; a single name fills all
 * OT_MAX_LAYERS slots instead. A list has at most OT_MAX_LAYERS - 1 names (the most hidden
 * layers a model can have), so "all slots set" always means "one name for every layer". */
#define ACT_UNSET ((ot_act_t)-1)
#define MAX_ACT_LIST (OT_MAX_LAYERS - 1)

#define SIZE_LIMIT ((long long)(SIZE_MAX > (unsigned long long)LLONG_MAX ? LLONG_MAX : SIZE_MAX))

/* ---------------------------------------------------------------- the key table */

typedef enum {
    K_PATH,   /* char[OT_PATH_MAX] */
    K_INT,    /* int in [min, max] */
    K_SIZE,   /* size_t in [min, max] */
    K_U64,    /* uint64_t, any decimal value */
    K_DOUBLE, /* double in (0, dmax] */
    K_LAYERS, /* n_layers + sizes[] */
    K_ACT,    /* act[] */
    K_INIT,   /* init */
    K_ENUM,   /* int index into names[] */
    K_FRAC,   /* double in [0, 1) */
    K_NONNEG, /* double in [0, dmax] */
    K_BOOL,   /* int 0 or 1: true/false, yes/no, on/off, 1/0 */
} cfg_kind_t;

typedef struct {
    const char *section; /* "data", "model", "training" or "output" */
    const char *name;    /* key within the section */
    cfg_kind_t kind;
    size_t off;          /* offsetof the field in ot_config_t (scalar and path kinds) */
    long long min, max;  /* K_INT, K_SIZE: inclusive range */
    double dmax;         /* K_DOUBLE: values lie in (0, dmax]; K_NONNEG: [0, dmax] */
    const char *const *names; /* K_ENUM: the accepted names, NULL-terminated */
} cfg_key_t;

static const char *const optimizer_names[] = {"sgd",     "momentum", "nesterov", "adagrad",
                                              "rmsprop", "adam",     "adamw",    NULL};
static const char *const schedule_names[] = {"constant", "step", "cosine", NULL};
static const char *const layout_names[] = {"nhwc", "nchw", NULL};
static const char *const normalize_names[] = {"none", "mean_std", NULL};
static const char *const norm_by_names[] = {"channel", "feature", NULL};

#define OFF(f) offsetof(ot_config_t, f)

static const char *const sections[] = {"data", "model", "training", "output"};
#define N_SECTIONS (sizeof sections / sizeof sections[0])
#define SECTION_LIST "[data] [model] [training] [output]"

static const cfg_key_t keys[] = {
    {"data", "train_images", K_PATH, OFF(train_images), 0, 0, 0, NULL},
    {"data", "train_labels", K_PATH, OFF(train_labels), 0, 0, 0, NULL},
    {"data", "test_images", K_PATH, OFF(test_images), 0, 0, 0, NULL},
    {"data", "test_labels", K_PATH, OFF(test_labels), 0, 0, 0, NULL},
    {"data", "classes", K_INT, OFF(n_classes), 2, 256, 0, NULL},
    {"data", "class_names", K_PATH, OFF(class_names), 0, 0, 0, NULL},
    {"data", "train_limit", K_SIZE, OFF(train_limit), 0, SIZE_LIMIT, 0, NULL},
    {"data", "test_limit", K_SIZE, OFF(test_limit), 0, SIZE_LIMIT, 0, NULL},
    {"data", "train_file", K_PATH, OFF(train_file), 0, 0, 0, NULL},
    {"data", "test_file", K_PATH, OFF(test_file), 0, 0, 0, NULL},
    {"data", "features", K_PATH, OFF(features), 0, 0, 0, NULL},
    {"data", "labels", K_PATH, OFF(labels), 0, 0, 0, NULL},
    {"data", "layout", K_ENUM, OFF(layout), 0, 0, 0, layout_names},
    {"data", "normalize", K_ENUM, OFF(normalize), 0, 0, 0, normalize_names},
    {"data", "normalize_by", K_ENUM, OFF(normalize_by), 0, 0, 0, norm_by_names},
    {"model", "layers", K_LAYERS, 0, 0, 0, 0, NULL},
    {"model", "activation", K_ACT, 0, 0, 0, 0, NULL},
    {"model", "init", K_INIT, 0, 0, 0, 0, NULL},
    {"model", "init_std", K_DOUBLE, OFF(init_std), 0, 0, 10.0, NULL},
    {"model", "dropout", K_FRAC, OFF(dropout), 0, 0, 0, NULL},
    {"model", "batchnorm", K_BOOL, OFF(batchnorm), 0, 0, 0, NULL},
    {"model", "bn_momentum", K_FRAC, OFF(bn_momentum), 0, 0, 0, NULL},
    {"training", "epochs", K_INT, OFF(epochs), 1, 1000000, 0, NULL},
    {"training", "batch_size", K_SIZE, OFF(batch_size), 1, 1048576, 0, NULL},
    {"training", "learning_rate", K_DOUBLE, OFF(lr), 0, 0, 1e6, NULL},
    {"training", "seed", K_U64, OFF(seed), 0, 0, 0, NULL},
    {"training", "shards", K_INT, OFF(shards), 0, OT_MAX_SHARDS, 0, NULL},
    {"training", "sparse_input", K_BOOL, OFF(sparse_input), 0, 0, 0, NULL},
    {"training", "augment_shift", K_INT, OFF(augment_shift), 0, 8, 0, NULL},
    {"training", "optimizer", K_ENUM, OFF(optimizer), 0, 0, 0, optimizer_names},
    {"training", "momentum", K_FRAC, OFF(momentum), 0, 0, 0, NULL},
    {"training", "rmsprop_decay", K_FRAC, OFF(rmsprop_decay), 0, 0, 0, NULL},
    {"training", "beta1", K_FRAC, OFF(beta1), 0, 0, 0, NULL},
    {"training", "beta2", K_FRAC, OFF(beta2), 0, 0, 0, NULL},
    {"training", "epsilon", K_DOUBLE, OFF(epsilon), 0, 0, 1.0, NULL},
    {"training", "weight_decay", K_NONNEG, OFF(weight_decay), 0, 0, 1e3, NULL},
    {"training", "clip_norm", K_NONNEG, OFF(clip_norm), 0, 0, 1e9, NULL},
    {"training", "schedule", K_ENUM, OFF(schedule), 0, 0, 0, schedule_names},
    {"training", "step_epochs", K_INT, OFF(step_epochs), 1, 1000000, 0, NULL},
    {"training", "step_factor", K_DOUBLE, OFF(step_factor), 0, 0, 1.0, NULL},
    {"training", "warmup_epochs", K_INT, OFF(warmup_epochs), 0, 1000000, 0, NULL},
    {"training", "patience", K_INT, OFF(patience), 0, 1000000, 0, NULL},
    {"training", "validation", K_SIZE, OFF(validation), 0, SIZE_LIMIT, 0, NULL},
    {"training", "divergence_loss", K_NONNEG, OFF(divergence_loss), 0, 0, 1e30, NULL},
    {"output", "dir", K_PATH, OFF(out_dir), 0, 0, 0, NULL},
    {"output", "checkpoint_every", K_INT, OFF(checkpoint_every), 0, INT_MAX, 0, NULL},
    {"output", "keep", K_INT, OFF(keep), 0, 1000, 0, NULL},
};
#define N_KEYS (sizeof keys / sizeof keys[0])
_Static_assert(N_KEYS <= 64, "ot_config_t.keys_given has a bit a key");

static const struct {
    const char *name;
    ot_act_t act;
} act_names[] = {{"relu", OT_ACT_RELU}, {"sigmoid", OT_ACT_SIGMOID}};

static const struct {
    const char *name;
    ot_init_t init;
} init_names[] = {{"std", OT_INIT_STD}, {"he", OT_INIT_HE}, {"xavier", OT_INIT_XAVIER}};

const char *ot_act_name(ot_act_t a)
{
    switch (a) {
    case OT_ACT_RELU:
        return "relu";
    case OT_ACT_SIGMOID:
        return "sigmoid";
    }
    return "unknown";
}

const char *ot_init_name(ot_init_t i)
{
    switch (i) {
    case OT_INIT_STD:
        return "std";
    case OT_INIT_HE:
        return "he";
    case OT_INIT_XAVIER:
        return "xavier";
    }
    return "unknown";
}

const char *ot_optimizer_name(ot_optimizer_t o)
{
    return (unsigned)o < sizeof optimizer_names / sizeof optimizer_names[0] - 1
               ? optimizer_names[o]
               : "unknown";
}

const char *ot_schedule_name(ot_schedule_t s)
{
    return (unsigned)s < sizeof schedule_names / sizeof schedule_names[0] - 1 ? schedule_names[s]
                                                                             : "unknown";
}

/* names[i] for an enum value i of a NULL-terminated list of count + 1 entries */
static const char *enum_name(const char *const *names, size_t count, int i)
{
    return i >= 0 && (size_t)i < count ? names[i] : "unknown";
}
#define ENUM_NAME(names, i) enum_name(names, sizeof names / sizeof names[0] - 1, (int)(i))

const char *ot_layout_name(ot_layout_t l)
{
    return ENUM_NAME(layout_names, l);
}

const char *ot_normalize_name(ot_normalize_t n)
{
    return ENUM_NAME(normalize_names, n);
}

const char *ot_norm_by_name(ot_norm_by_t b)
{
    return ENUM_NAME(norm_by_names, b);
}

double ot_optimizer_default_lr(ot_optimizer_t o)
{
    return o == OT_OPT_ADAM || o == OT_OPT_ADAMW ? 0.001 : 0.01;
}

/* "a, b or c" for an enum's names */
static void enum_list(const char *const *names, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; names[i]; i++) {
        const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
        int w = snprintf(buf + used, n - used, "%s%s", sep, names[i]);
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

/* What a valid value of k looks like, for "expected ..." in messages. */
static void describe(const cfg_key_t *k, char *buf, size_t n)
{
    switch (k->kind) {
    case K_PATH:
        snprintf(buf, n, "a path");
        break;
    case K_INT:
    case K_SIZE:
        snprintf(buf, n, "an integer in [%lld, %lld]", k->min, k->max);
        break;
    case K_U64:
        snprintf(buf, n, "a decimal integer in [0, %llu]", (unsigned long long)UINT64_MAX);
        break;
    case K_DOUBLE:
        snprintf(buf, n, "a number in (0, %g]", k->dmax);
        break;
    case K_LAYERS:
        snprintf(buf, n, "2 to %d comma-separated integers in [1, %d] (widths), or a "
                 "comma-separated list of layers such as 'conv 30 5x5, relu, maxpool 2, "
                 "affine 10'", OT_MAX_LAYERS + 1, OT_MAX_UNITS);
        break;
    case K_ACT:
        snprintf(buf, n, "relu or sigmoid, or a comma-separated list of one per hidden layer");
        break;
    case K_INIT:
        snprintf(buf, n, "std, he or xavier");
        break;
    case K_ENUM:
        enum_list(k->names, buf, n);
        break;
    case K_FRAC:
        snprintf(buf, n, "a number in [0, 1)");
        break;
    case K_NONNEG:
        snprintf(buf, n, "a number in [0, %g]", k->dmax);
        break;
    case K_BOOL:
        snprintf(buf, n, "true or false");
        break;
    }
}

/* ---------------------------------------------------------------- parse state and errors */

typedef struct {
    ot_config_t *c;         /* where values go */
    const char *where;      /* file path, or the "--set ..." text */
    const char *where_pre;  /* "" for files, "--set " for overrides */
    int lineno;             /* current line; 0 when there is none */
    int track;              /* record lines in seen[] and reject duplicates (files only) */
    int seen[N_KEYS];       /* line each key was set on; 0 = not yet */
    int failed;             /* an error has been reported; stop */
    int quiet;              /* report nothing (a config read back from a checkpoint) */
    int rc;                 /* its status code */
    FILE *f;                /* file being read (files only) */
    char *buf;              /* get_line() buffer */
    size_t cap;
    char section[32];       /* the section of the lines being read */
    char *nbuf;             /* the line after buf, when it has been looked at */
    size_t ncap, next_len;
    int has_next;
    int skipped;            /* comment lines inside a continued value that the look-ahead
                               passed over: counted when the line after them is taken */
} parse_t;

/* Report the first error of a parse as "<where>[:<line>]: <message>" and remember rc.
 * Returns 0, which is also inih's "handler failed". */
__attribute__((format(printf, 3, 4))) static int fail(parse_t *p, int rc, const char *fmt, ...)
{
    char msg[4096];
    va_list ap;
    if (p->failed)
        return 0;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!p->quiet && p->lineno > 0)
        ot_error("%s%s:%d: %s", p->where_pre, p->where, p->lineno, msg);
    else if (!p->quiet)
        ot_error("%s%s: %s", p->where_pre, p->where, msg);
    p->failed = 1;
    p->rc = rc;
    return 0;
}

/* What a refused value with " #" in it adds: most likely a comment in another INI dialect's
 * form, which here is part of the value. */
static const char *hash_hint(const char *v)
{
    return strstr(v, " #") ? " (after a value a comment starts with ' ;', not '#')" : "";
}

/* Refuse value v of key k: what it is and what the key takes (describe). */
static void fail_value(parse_t *p, const cfg_key_t *k, const char *v)
{
    char want[256];
    describe(k, want, sizeof want);
    fail(p, OT_ECONFIG, "%s.%s: invalid value '%s', expected %s%s", k->section, k->name, v,
         want, hash_hint(v));
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\f' || ch == '\v' || ch == '\r' || ch == '\n';
}

static const char *skip_space(const char *s)
{
    while (is_space(*s))
        s++;
    return s;
}

/* Copy s[0..len) into buf (size n) without surrounding whitespace. Returns 0, or -1 if it
 * does not fit. */
static int trim_copy(const char *s, size_t len, char *buf, size_t n)
{
    while (len > 0 && is_space(*s))
        s++, len--;
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len >= n)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

/* ---------------------------------------------------------------- value parsers
 * Each stores the value, or reports the error through fail() (the caller then sees
 * p->failed). None writes a field before the whole value has been validated, so a rejected
 * --set leaves the config as it was. */

static int parse_ll(const char *v, long long *out)
{
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end != '\0' || errno == ERANGE)
        return -1;
    *out = x;
    return 0;
}

static void set_integer(parse_t *p, const cfg_key_t *k, const char *v)
{
    long long x;
    if (parse_ll(v, &x) < 0 || x < k->min || x > k->max) {
        fail_value(p, k, v);
        return;
    }
    char *field = (char *)p->c + k->off;
    if (k->kind == K_INT)
        *(int *)field = (int)x;
    else
        *(size_t *)field = (size_t)x;
}

static void set_u64(parse_t *p, const cfg_key_t *k, const char *v)
{
    char *end;
    /* strtoull accepts "-1" (and wraps it) and leading blanks: insist on a digit first */
    unsigned long long x = 0;
    int ok = *v >= '0' && *v <= '9';
    if (ok) {
        errno = 0;
        x = strtoull(v, &end, 10);
        ok = *end == '\0' && errno != ERANGE;
#if ULLONG_MAX > UINT64_MAX
        ok = ok && x <= UINT64_MAX;
#endif
    }
    if (!ok) {
        fail_value(p, k, v);
        return;
    }
    *(uint64_t *)((char *)p->c + k->off) = (uint64_t)x;
}

static void set_double(parse_t *p, const cfg_key_t *k, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    /* ERANGE: overflow, or underflow to a denormal or zero; neither is a sensible setting */
    if (end == v || *end != '\0' || errno == ERANGE || !isfinite(x) || !(x > 0.0) ||
        x > k->dmax) {
        fail_value(p, k, v);
        return;
    }
    *(double *)((char *)p->c + k->off) = x;
}

/* K_FRAC [0, 1) and K_NONNEG [0, dmax] */
static void set_real(parse_t *p, const cfg_key_t *k, const char *v)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    int ok = end != v && *end == '\0' && isfinite(x) && x >= 0.0 &&
             (k->kind == K_FRAC ? x < 1.0 : x <= k->dmax);
    /* ERANGE on underflow to a denormal is only harmless for an exact zero */
    if (!ok || (errno == ERANGE && x != 0.0)) {
        fail_value(p, k, v);
        return;
    }
    *(double *)((char *)p->c + k->off) = x;
}

static void set_enum(parse_t *p, const cfg_key_t *k, const char *v)
{
    char want[256];
    for (int i = 0; k->names[i]; i++)
        if (strcmp(v, k->names[i]) == 0) {
            *(int *)((char *)p->c + k->off) = i;
            return;
        }
    describe(k, want, sizeof want);
    fail(p, OT_ECONFIG, "%s.%s: unknown value '%s', expected %s", k->section, k->name, v, want);
}

static void set_bool(parse_t *p, const cfg_key_t *k, const char *v)
{
    static const char *const yes[] = {"true", "yes", "on", "1"}, *const no[] = {"false", "no",
                                                                                  "off", "0"};
    for (int i = 0; i < 4; i++)
        if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
            *(int *)((char *)p->c + k->off) = strcmp(v, yes[i]) == 0;
            return;
        }
    fail_value(p, k, v);
}

static void set_path(parse_t *p, const cfg_key_t *k, const char *v)
{
    char *field = (char *)p->c + k->off;
    size_t len = strlen(v);
    if (len >= OT_PATH_MAX) { /* unreachable while LINE_CHARS < OT_PATH_MAX; kept for safety */
        fail(p, OT_ECONFIG, "%s.%s: value too long (%zu characters), expected at most %d",
             k->section, k->name, len, OT_PATH_MAX - 1);
        return;
    }
    memcpy(field, v, len + 1);
}

/* Split v at commas into trimmed items, storing the first max_items. Returns the number of
 * items; *too_long is the index of the first stored item that did not fit in 32 characters
 * (it cannot be valid), or -1. */
static int split_list(const char *v, char items[][32], int max_items, int *too_long)
{
    int n = 0;
    *too_long = -1;
    for (const char *s = v;; n++) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (n < max_items && trim_copy(s, len, items[n], sizeof items[n]) < 0 && *too_long < 0)
            *too_long = n;
        if (!comma)
            return n + 1;
        s = comma + 1;
    }
}

/* Whether v is a list of widths ("784, 50, 10"), not of layers: its first item starts like a
 * number, where a layer starts with its kind's name. Empty items before it do not decide: a
 * stray comma before a list of layers is refused as its empty layer 1, not as a width. */
static int is_width_list(const char *v)
{
    while (*(v = skip_space(v)) == ',')
        v++;
    return (*v >= '0' && *v <= '9') || *v == '-' || *v == '+' || *v == '.' || !*v;
}

/* model.layers as a list of layers: checked by the layer registry, kept as its items with
 * single blanks, ", "-joined. */
static void set_stack(parse_t *p, const cfg_key_t *k, const char *v)
{
    ot_layer_t layers[OT_MAX_STACK];
    char err[512], text[OT_STACK_TEXT];
    size_t n, used = 0;
    if (ot_stack_parse(v, layers, OT_MAX_STACK - 1, &n, err, sizeof err) < 0) {
        fail(p, OT_ECONFIG, "%s.%s: %s", k->section, k->name, err);
        return;
    }
    text[0] = '\0';
    for (const char *s = v; *s;) {
        size_t w = strcspn(s, " \t\f\v\r\n,");
        const char *sep = *s == ',' ? ", " : w == 0 ? "" : used && text[used - 1] != ' ' ? " " : "";
        int m = snprintf(text + used, sizeof text - used, "%s%.*s", sep, (int)w, s);
        if (m < 0 || (size_t)m >= sizeof text - used) {
            fail(p, OT_ECONFIG, "%s.%s: the list of layers is too long, expected at most %d "
                 "characters", k->section, k->name, OT_STACK_TEXT - 1);
            return;
        }
        used += (size_t)m;
        s += w ? w : 1;
    }
    snprintf(p->c->stack, sizeof p->c->stack, "%s", text);
}

static void set_layers(parse_t *p, const cfg_key_t *k, const char *v)
{
    enum { MAX_ITEMS = OT_MAX_LAYERS + 1 };
    char items[MAX_ITEMS][32];
    size_t sizes[MAX_ITEMS];
    int too_long;
    if (!is_width_list(v)) {
        set_stack(p, k, v);
        return;
    }
    int n = split_list(v, items, MAX_ITEMS, &too_long);
    if (n < 2 || n > MAX_ITEMS) {
        fail(p, OT_ECONFIG, "%s.%s: invalid value '%s' (%d %s), expected 2 to %d "
             "comma-separated integers in [1, %d]%s", k->section, k->name, v, n,
             n == 1 ? "entry" : "entries", OT_MAX_LAYERS + 1, OT_MAX_UNITS, hash_hint(v));
        return;
    }
    for (int i = 0; i < n; i++) {
        long long x;
        if (i == too_long) {
            fail(p, OT_ECONFIG, "%s.%s: invalid layer size (entry %d) in '%s', expected an "
                 "integer in [1, %d]", k->section, k->name, i + 1, v, OT_MAX_UNITS);
            return;
        }
        if (parse_ll(items[i], &x) < 0 || x < 1 || x > OT_MAX_UNITS) {
            fail(p, OT_ECONFIG, "%s.%s: invalid layer size '%s' in '%s', expected an integer in "
                 "[1, %d]", k->section, k->name, items[i], v, OT_MAX_UNITS);
            return;
        }
        sizes[i] = (size_t)x;
    }
    ot_config_t *c = p->c;
    memset(c->sizes, 0, sizeof c->sizes);
    memcpy(c->sizes, sizes, (size_t)n * sizeof sizes[0]);
    c->n_layers = (size_t)n - 1;
    c->stack[0] = '\0';
}

static int find_act(const char *name, ot_act_t *out)
{
    for (size_t i = 0; i < sizeof act_names / sizeof act_names[0]; i++)
        if (strcmp(name, act_names[i].name) == 0) {
            *out = act_names[i].act;
            return 0;
        }
    return -1;
}

static void set_act(parse_t *p, const cfg_key_t *k, const char *v)
{
    char items[MAX_ACT_LIST][32];
    ot_act_t act[MAX_ACT_LIST];
    int too_long;
    int n = split_list(v, items, MAX_ACT_LIST, &too_long);
    if (n > MAX_ACT_LIST) {
        fail(p, OT_ECONFIG, "%s.%s: invalid value '%s' (%d names), expected at most %d names, "
             "one per hidden layer%s", k->section, k->name, v, n, MAX_ACT_LIST, hash_hint(v));
        return;
    }
    for (int i = 0; i < n; i++) {
        if (i != too_long && find_act(items[i], &act[i]) == 0)
            continue;
        if (n == 1)
            fail(p, OT_ECONFIG, "%s.%s: unknown activation '%s', expected relu or sigmoid",
                 k->section, k->name, v);
        else if (i == too_long)
            fail(p, OT_ECONFIG, "%s.%s: unknown activation (entry %d) in '%s', expected relu or "
                 "sigmoid", k->section, k->name, i + 1, v);
        else
            fail(p, OT_ECONFIG, "%s.%s: unknown activation '%s' in '%s', expected relu or "
                 "sigmoid", k->section, k->name, items[i], v);
        return;
    }
    /* one name: every layer; a list: one per hidden layer, counted by ot_config_check */
    ot_config_t *c = p->c;
    for (int i = 0; i < OT_MAX_LAYERS; i++)
        c->act[i] = n == 1 ? act[0] : i < n ? act[i] : ACT_UNSET;
}

static void set_init(parse_t *p, const cfg_key_t *k, const char *v)
{
    for (size_t i = 0; i < sizeof init_names / sizeof init_names[0]; i++)
        if (strcmp(v, init_names[i].name) == 0) {
            p->c->init = init_names[i].init;
            return;
        }
    fail(p, OT_ECONFIG, "%s.%s: unknown init '%s', expected std, he or xavier", k->section,
         k->name, v);
}

/* ---------------------------------------------------------------- the handler */

static int find_section(const char *name)
{
    for (size_t i = 0; i < N_SECTIONS; i++)
        if (strcmp(name, sections[i]) == 0)
            return (int)i;
    return -1;
}

/* "a, b, c" for the keys of a section */
static void key_list(const char *section, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_KEYS; i++) {
        if (strcmp(keys[i].section, section) != 0)
            continue;
        int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", keys[i].name);
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

/* ';' at the start of a value or after a blank starts an inline comment, and a value cannot
 * span lines: such values (possible only through --set) could not be written back. */
static int ini_safe(const char *v)
{
    for (const char *s = v; *s; s++) {
        if (*s == '\n' || *s == '\r')
            return 0;
        if (*s == ';' && (s == v || is_space(s[-1])))
            return 0;
    }
    return 1;
}

/* data.train_images, train_labels, test_images or test_labels */
static int idx_key(const cfg_key_t *k)
{
    return k->kind == K_PATH && (k->off == OFF(train_images) || k->off == OFF(train_labels) ||
                                 k->off == OFF(test_images) || k->off == OFF(test_labels));
}

/* inih handler, also called directly by ot_config_set. Returns 1 if the value was stored,
 * 0 after reporting an error. */
static int on_key(void *user, const char *section, const char *name, const char *value)
{
    parse_t *p = user;
    char buf[1024];
    if (p->failed)
        return 0;
    if (section[0] == '\0')
        return fail(p, OT_ECONFIG, "%s: key before any section, expected a [section] header "
                    "first, one of " SECTION_LIST, name);
    if (find_section(section) < 0)
        return fail(p, OT_ECONFIG, "unknown section [%s], expected one of " SECTION_LIST,
                    section);

    size_t ki = 0;
    while (ki < N_KEYS && !(strcmp(keys[ki].section, section) == 0 &&
                            strcmp(keys[ki].name, name) == 0))
        ki++;
    if (ki == N_KEYS) {
        key_list(section, buf, sizeof buf);
        return fail(p, OT_ECONFIG, "unknown key %s.%s in [%s], expected one of %s", section,
                    name, section, buf);
    }
    const cfg_key_t *k = &keys[ki];
    if (p->track && p->seen[ki])
        return fail(p, OT_ECONFIG, "duplicate key %s.%s (first set on line %d)", section, name,
                    p->seen[ki]);

    /* "key = value" on one line; a list of layers may go on over several */
    size_t len = strlen(value), room = LINE_CHARS - strlen(k->name) - 3;
    if (k->kind == K_LAYERS)
        room = OT_STACK_TEXT - 1;
    if (len == 0) {
        describe(k, buf, sizeof buf);
        return fail(p, OT_ECONFIG, "%s.%s: empty value '', expected %s", section, name, buf);
    }
    if (len > room)
        return fail(p, OT_ECONFIG, "%s.%s: value too long (%zu characters), expected at most "
                    "%zu", section, name, len, room);
    if (!ini_safe(value))
        return fail(p, OT_ECONFIG, "%s.%s: invalid value '%s', expected no line break and no ';' "
                    "at the start or after a blank (it starts an INI comment)%s", section, name,
                    value, hash_hint(value));

    switch (k->kind) {
    case K_PATH:
        set_path(p, k, value);
        break;
    case K_INT:
    case K_SIZE:
        set_integer(p, k, value);
        break;
    case K_U64:
        set_u64(p, k, value);
        break;
    case K_DOUBLE:
        set_double(p, k, value);
        break;
    case K_LAYERS:
        set_layers(p, k, value);
        break;
    case K_ACT:
        set_act(p, k, value);
        break;
    case K_INIT:
        set_init(p, k, value);
        break;
    case K_ENUM:
        set_enum(p, k, value);
        break;
    case K_FRAC:
    case K_NONNEG:
        set_real(p, k, value);
        break;
    case K_BOOL:
        set_bool(p, k, value);
        break;
    }
    if (p->failed)
        return 0;
    /* keys of the widths syntax, which a list of layers replaces: a list given with --set
     * replaces the file's form, keys and all */
    const int from = p->track ? OT_KEYS_FILE : OT_KEYS_SET;
    if (k->kind == K_ACT || k->off == OFF(batchnorm) || k->off == OFF(dropout)) {
        p->c->width_keys |= from;
        snprintf(p->c->width_key, sizeof p->c->width_key, "%s", k->name);
    }
    else if (k->kind == K_LAYERS && from == OT_KEYS_SET && p->c->stack[0])
        p->c->width_keys &= ~OT_KEYS_FILE;
    /* the IDX files' keys, which an HDF5 training and test file replace (likewise) */
    if (idx_key(k)) {
        p->c->idx_keys |= from;
        snprintf(p->c->idx_key, sizeof p->c->idx_key, "%s", k->name);
    }
    else if ((k->off == OFF(train_file) || k->off == OFF(test_file)) && from == OT_KEYS_SET)
        p->c->idx_keys &= ~OT_KEYS_FILE;
    /* the learning rate follows the optimizer until it is given explicitly */
    if (k->off == OFF(lr) && k->kind == K_DOUBLE)
        p->c->lr_set = 1;
    else if (k->off == OFF(optimizer) && k->kind == K_ENUM && !p->c->lr_set)
        p->c->lr = ot_optimizer_default_lr(p->c->optimizer);
    if (p->track)
        p->seen[ki] = p->lineno;
    if (k->kind == K_LAYERS)
        p->c->layers_line = p->track ? p->lineno : 0;
    p->c->keys_given |= (uint64_t)1 << ki;
    return 1;
}

/* ---------------------------------------------------------------- the line reader */

#define SYNTAX_EXPECTED "expected a [section] header, key = value or a ; comment"

/* A [section] header line s (leading blanks removed): 0 if fine, else reports and -1. */
static int check_header(parse_t *p, const char *s)
{
    const char *end = strchr(s, ']');
    char name[64];
    if (!end) {
        fail(p, OT_ECONFIG, "syntax error '%s', %s", s, SYNTAX_EXPECTED);
        return -1;
    }
    const char *rest = skip_space(end + 1);
    if (*rest && *rest != ';' && *rest != '#') {
        fail(p, OT_ECONFIG, "syntax error '%s', expected nothing but a ; comment after the "
             "section header", s);
        return -1;
    }
    /* inih keeps the name exactly as written between the brackets; so do we */
    int len = (int)(end - (s + 1));
    if (trim_copy(s + 1, (size_t)len, name, sizeof name) < 0 || strlen(name) != (size_t)len ||
        find_section(name) < 0) {
        fail(p, OT_ECONFIG, "unknown section [%.*s], expected one of " SECTION_LIST, len, s + 1);
        return -1;
    }
    return 0;
}

/* A key line s: inih needs '=' or ':' (before any inline comment) after a non-empty name. */
static int check_key_line(parse_t *p, const char *s)
{
    const char *q = s;
    int was_space = 0;
    while (*q && *q != '=' && *q != ':' && !(was_space && *q == ';')) {
        was_space = is_space(*q);
        q++;
    }
    if ((*q != '=' && *q != ':') || q == s) {
        fail(p, OT_ECONFIG, "syntax error '%s', %s", s, SYNTAX_EXPECTED);
        return -1;
    }
    return 0;
}

/* The end of s's value: where an inline comment (';' after a blank) starts, or its end. */
static size_t value_end(const char *s)
{
    for (size_t i = 0; s[i]; i++)
        if (s[i] == ';' && i > 0 && is_space(s[i - 1]))
            return i;
    return strlen(s);
}

/* Whether the value of s, without any inline comment, ends with a comma. */
static int ends_with_comma(const char *s)
{
    size_t e = value_end(s);
    while (e > 0 && is_space(s[e - 1]))
        e--;
    return e > 0 && s[e - 1] == ',';
}

/* getline() with a bound: a line is cut after OT_CONFIG_LINE_CUT bytes, which the reader then
 * refuses as too long (a file without line breaks, such as /dev/zero, had been read into
 * memory until it ran out). */
#define OT_CONFIG_LINE_CUT 65536
static ssize_t get_line(char **buf, size_t *cap, FILE *f)
{
    size_t n = 0;
    int ch;
    while ((ch = getc(f)) != EOF) {
        if (n + 2 > *cap) {
            const size_t c = *cap ? *cap * 2 : 256;
            char *b = realloc(*buf, c);
            if (!b) {
                errno = ENOMEM;
                return -1;
            }
            *buf = b, *cap = c;
        }
        (*buf)[n++] = (char)ch;
        if (ch == '\n' || n >= OT_CONFIG_LINE_CUT)
            break;
    }
    if (n == 0)
        return -1;
    (*buf)[n] = '\0';
    return (ssize_t)n;
}

/* Whether the next line goes on with the value of the current one: it is indented and holds
 * no section header (as in Python's configparser). It is read ahead into nbuf for the reader.
 * Comment lines and blank lines before it (a row of layers commented out, a list spaced out)
 * are passed over, as configparser does: they had ended the list, which then ended with a
 * comma. */
static int continuation(parse_t *p)
{
    for (;;) {
        if (!p->has_next) {
            errno = 0;
            ssize_t got = get_line(&p->nbuf, &p->ncap, p->f);
            if (got < 0)
                return 0; /* end of file, or an error the next read reports */
            p->next_len = (size_t)got;
            p->has_next = 1;
        }
        const char *q = p->nbuf, *t = skip_space(q);
        if (strlen(q) != p->next_len ||
            (p->next_len >= OT_CONFIG_LINE_CUT && q[p->next_len - 1] != '\n'))
            return 0; /* a NUL byte, or a line get_line cut: the reader reports it */
        if (*t == ';' || *t == '#' || !*t) { /* dropped here, counted with the next line */
            p->has_next = 0;
            p->skipped++;
            continue;
        }
        return (*q == ' ' || *q == '\t') && *t && *t != '[';
    }
}

/* The next line into p->buf: the one read ahead, or a new one (after the comment lines that
 * continuation passed over, which count). */
static ssize_t next_line(parse_t *p)
{
    p->lineno += p->skipped;
    p->skipped = 0;
    if (!p->has_next)
        return get_line(&p->buf, &p->cap, p->f);
    char *b = p->buf;
    size_t c = p->cap;
    p->buf = p->nbuf, p->cap = p->ncap;
    p->nbuf = b, p->ncap = c;
    p->has_next = 0;
    return (ssize_t)p->next_len;
}

/* Key line s (leading blanks removed) ends with a comma and the next line goes on with it:
 * join the value over every such line. inih's line buffer cannot hold the joined line, so
 * the value goes to on_key from here, and messages name the key's first line. Returns 0, or
 * -1 after reporting. */
static int continued(parse_t *p, const char *s)
{
    char value[OT_STACK_TEXT], name[64];
    const int first = p->lineno;
    size_t eq = strcspn(s, "=:"), used = 0;
    if (trim_copy(s, eq, name, sizeof name) < 0) {
        fail(p, OT_ECONFIG, "syntax error '%s', %s", s, SYNTAX_EXPECTED);
        return -1;
    }
    for (const char *part = s + eq + 1;;) {
        char piece[OT_STACK_TEXT];
        if (trim_copy(part, value_end(part), piece, sizeof piece) < 0 ||
            used + strlen(piece) + 2 > sizeof value) {
            fail(p, OT_ECONFIG, "%s.%s: value too long, expected at most %d characters",
                 p->section, name, OT_STACK_TEXT - 1);
            return -1;
        }
        used += (size_t)snprintf(value + used, sizeof value - used, "%s%s", used ? " " : "",
                                 piece);
        if (!used || value[used - 1] != ',' || !continuation(p))
            break;
        next_line(p);
        p->lineno++;
        part = p->buf;
    }
    const int last = p->lineno;
    p->lineno = first;
    int ok = on_key(p, p->section, name, value);
    p->lineno = last;
    return ok ? 0 : -1;
}

/* inih's fgets-style reader: hands inih one line at a time (see the file comment). */
static char *read_line(char *str, int num, void *stream)
{
    parse_t *p = stream;
    if (p->failed)
        return NULL; /* stop at the first error */
    errno = 0;
    ssize_t got = next_line(p);
    if (got < 0) {
        if (ferror(p->f) || errno == ENOMEM) { /* e.g. EISDIR: fopen() accepts a directory */
            int err = errno ? errno : EIO;
            if (!p->quiet)
                ot_error("cannot read config '%s': %s", p->where, strerror(err));
            p->failed = 1;
            p->rc = err == ENOMEM ? OT_ENOMEM : OT_EIO;
        }
        return NULL;
    }
    p->lineno++;
    char *s = p->buf;
    size_t len = (size_t)got;
    if (strlen(s) != len) {
        fail(p, OT_ECONFIG, "syntax error: line contains a NUL byte, expected text");
        return NULL;
    }
    if (len >= OT_CONFIG_LINE_CUT && s[len - 1] != '\n') { /* get_line cut it */
        fail(p, OT_ECONFIG, "line too long (over %d characters), expected at most %d",
             OT_CONFIG_LINE_CUT, num > 3 ? num - 3 : 0);
        return NULL;
    }
    if (p->lineno == 1 && strncmp(s, "\xEF\xBB\xBF", 3) == 0) /* UTF-8 byte order mark */
        s += 3, len -= 3;
    while (len > 0 && is_space(s[len - 1]))
        s[--len] = '\0';
    while (is_space(*s))
        s++, len--;
    size_t room = num > 3 ? (size_t)num - 3 : 0;
    if (len > room) {
        fail(p, OT_ECONFIG, "line too long (%zu characters), expected at most %zu", len, room);
        return NULL;
    }
    if (*s == '[') {
        if (check_header(p, s) < 0)
            return NULL;
        snprintf(p->section, sizeof p->section, "%.*s", (int)strcspn(s + 1, "]"), s + 1);
    } else if (*s && *s != ';' && *s != '#') {
        if (check_key_line(p, s) < 0)
            return NULL;
        if (ends_with_comma(s) && continuation(p)) {
            if (continued(p, s) < 0)
                return NULL;
            s = ";"; /* on_key has had the key: inih gets a comment line */
            len = 1;
        }
    }
    memcpy(str, s, len + 1);
    return str;
}

/* ---------------------------------------------------------------- public API */

void ot_config_defaults(ot_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->file_keys = -1;
    snprintf(c->train_images, sizeof c->train_images, "data/mnist/train-images-idx3-ubyte.gz");
    snprintf(c->train_labels, sizeof c->train_labels, "data/mnist/train-labels-idx1-ubyte.gz");
    snprintf(c->test_images, sizeof c->test_images, "data/mnist/t10k-images-idx3-ubyte.gz");
    snprintf(c->test_labels, sizeof c->test_labels, "data/mnist/t10k-labels-idx1-ubyte.gz");
    c->n_classes = 10;
    c->train_limit = 0;
    c->test_limit = 0;
    c->train_file[0] = '\0';
    c->test_file[0] = '\0';
    snprintf(c->features, sizeof c->features, "data");
    snprintf(c->labels, sizeof c->labels, "label");
    c->layout = OT_LAYOUT_NHWC;
    c->normalize = OT_NORM_NONE;
    c->normalize_by = OT_NORM_BY_CHANNEL;
    c->idx_keys = 0;

    c->n_layers = 2;
    c->sizes[0] = 784;
    c->sizes[1] = 50;
    c->sizes[2] = 10;
    for (int i = 0; i < OT_MAX_LAYERS; i++)
        c->act[i] = OT_ACT_RELU;
    c->init = OT_INIT_STD;
    c->init_std = 0.01;

    c->epochs = 17;
    c->batch_size = 100;
    c->optimizer = OT_OPT_SGD;
    c->lr = ot_optimizer_default_lr(OT_OPT_SGD);
    c->lr_set = 0;
    c->seed = 42;
    c->shards = 8;
    c->sparse_input = 1;
    c->momentum = 0.9;
    c->rmsprop_decay = 0.99;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->epsilon = 1e-8;
    c->weight_decay = 0.0;
    c->clip_norm = 0.0;
    c->schedule = OT_SCHED_CONSTANT;
    c->step_epochs = 10;
    c->step_factor = 0.1;
    c->warmup_epochs = 0;
    c->patience = 0;
    c->validation = 0;
    c->divergence_loss = 1000.0;
    c->dropout = 0.0;
    c->batchnorm = 0;
    c->bn_momentum = 0.9;

    c->out_dir[0] = '\0';
    c->checkpoint_every = 1;
    c->keep = 3;
    c->path[0] = '\0';
}

/* "runs/<base name of path without .ini>" into buf; "runs/omptrain" without a path. */
static void default_out_dir(const char *path, char *buf, size_t n)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 4 && strcmp(base + len - 4, ".ini") == 0)
        len -= 4;
    if (len == 0)
        snprintf(buf, n, "runs/omptrain");
    else
        snprintf(buf, n, "runs/%.*s", (int)len, base);
}

/* Parse the config in f (closed here), named path, into c; quiet: print nothing. */
static int load_stream(ot_config_t *c, FILE *f, const char *path, int quiet)
{
    ot_config_t tmp = *c; /* parse into a copy: c is left unchanged on error */
    parse_t p = {.c = &tmp, .where = path, .where_pre = "", .track = 1, .quiet = quiet, .f = f};
    int rc = OT_OK;
    snprintf(tmp.path, sizeof tmp.path, "%s", path);

    int ret = ini_parse_stream(read_line, &p, on_key, &p);
    if (!p.failed && ret > 0) { /* an error read_line did not foresee; no text to show */
        p.lineno = ret;
        fail(&p, OT_ECONFIG, "syntax error, %s", SYNTAX_EXPECTED);
    } else if (!p.failed && ret < 0) {
        p.lineno = 0;
        fail(&p, OT_ENOMEM, "out of memory while parsing");
    }
    if (p.failed) {
        rc = p.rc;
        goto fail;
    }
    tmp.file_keys = 0;
    for (size_t i = 0; i < N_KEYS; i++)
        tmp.file_keys += p.seen[i] > 0;

    /* output.dir = "" means runs/<config name>: fix it now, through the same checks as a
     * file line, so that the written config names the same directory wherever it is saved */
    if (tmp.out_dir[0] == '\0') {
        char dir[OT_PATH_MAX + 8];
        default_out_dir(path, dir, sizeof dir);
        p.lineno = 0;
        if (!on_key(&p, "output", "dir", dir)) {
            rc = p.rc;
            goto fail;
        }
    }
    *c = tmp;
fail:
    free(p.buf);
    free(p.nbuf);
    if (fclose(p.f) != 0 && rc == OT_OK) {
        if (!quiet)
            ot_error("cannot read config '%s': %s", path, strerror(errno));
        rc = OT_EIO;
    }
    return rc;
}

int ot_config_load(ot_config_t *c, const char *path)
{
    if (strlen(path) >= sizeof c->path) {
        ot_error("cannot open config '%s': %s", path, strerror(ENAMETOOLONG));
        return OT_EIO;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        ot_error("cannot open config '%s': %s", path, strerror(errno));
        return OT_EIO;
    }
    return load_stream(c, f, path, 0);
}

int ot_config_load_text(ot_config_t *c, const char *text, const char *name)
{
    if (!*text)
        return OT_ECONFIG;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    return f ? load_stream(c, f, name, 1) : OT_ENOMEM;
}

int ot_config_set(ot_config_t *c, const char *assignment)
{
    return ot_config_set_as(c, assignment, NULL);
}

int ot_config_set_as(ot_config_t *c, const char *assignment, const char *shown)
{
    char text[1024], section[64], key[64], value[1024];
    parse_t p = {.c = c, .where = shown ? shown : assignment, .where_pre = shown ? "" : "--set ",
                 .track = 0};

    if (!assignment || !*skip_space(assignment)) {
        ot_error("--set: empty assignment, expected section.key=value, e.g. training.epochs=5");
        return OT_ECONFIG;
    }
    size_t len = strlen(assignment);
    if (len >= sizeof text) {
        ot_error("--set %.40s...: assignment too long (%zu characters), expected at most %zu",
                 assignment, len, sizeof text - 1);
        return OT_ECONFIG;
    }
    memcpy(text, assignment, len + 1);
    char *eq = strchr(text, '=');
    char *dot = eq ? memchr(text, '.', (size_t)(eq - text)) : NULL;
    if (!eq)
        fail(&p, OT_ECONFIG, "missing '=', expected section.key=value, e.g. training.epochs=5");
    else if (!dot)
        fail(&p, OT_ECONFIG, "missing section in '%.*s', expected section.key=value, e.g. "
             "training.epochs=5", (int)(eq - text), text);
    else if (trim_copy(text, (size_t)(dot - text), section, sizeof section) < 0 ||
             trim_copy(dot + 1, (size_t)(eq - dot - 1), key, sizeof key) < 0 || !section[0] ||
             !key[0])
        fail(&p, OT_ECONFIG, "malformed key '%.*s', expected section.key=value, e.g. "
             "training.epochs=5", (int)(eq - text), text);
    else if (trim_copy(eq + 1, strlen(eq + 1), value, sizeof value) == 0)
        on_key(&p, section, key, value);
    return p.failed ? p.rc : OT_OK;
}

/* Number of leading act[] slots that hold a real activation (OT_MAX_LAYERS: one name for
 * every layer, or per-layer values set directly in the struct). */
static size_t act_count(const ot_config_t *c)
{
    size_t n = 0;
    while (n < OT_MAX_LAYERS && (c->act[n] == OT_ACT_RELU || c->act[n] == OT_ACT_SIGMOID))
        n++;
    return n;
}

/* sizes[] as "784, 50, 10" (sep ", ") or "784,50,10" */
static void format_layers(const ot_config_t *c, const char *sep, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i <= c->n_layers && i <= OT_MAX_LAYERS; i++) {
        int w = snprintf(buf + used, n - used, "%s%zu", i ? sep : "", c->sizes[i]);
        if (w < 0 || (size_t)w >= n - used)
            return;
        used += (size_t)w;
    }
}

void ot_config_model_str(const ot_config_t *c, char *buf, size_t n)
{
    if (c->stack[0])
        snprintf(buf, n, "%s", c->stack);
    else
        format_layers(c, "-", buf, n);
}

const char *ot_config_layers_where(const ot_config_t *c, char *buf, size_t n)
{
    const char *path = c->path[0] ? c->path : "(config)";
    if (c->layers_line > 0)
        snprintf(buf, n, "%s:%d", path, c->layers_line);
    else
        snprintf(buf, n, "%s", path);
    return buf;
}

/* The checks of a list of layers that need no data (the layers themselves were checked when
 * they were read; their shapes are checked against the data when the network is built). */
static int check_stack(const ot_config_t *c, const char *where)
{
    if (c->width_keys) {
        ot_error("%s: model.%s%s goes with a list of widths (model.layers = 784, 100, 10); "
                 "model.layers lists layers, so write relu, sigmoid, batchnorm or dropout RATE "
                 "into it instead", where, c->width_key,
                 c->width_keys & OT_KEYS_SET ? " (given with --set)" : "");
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* Whether key section.name was given. */
static int given(const ot_config_t *c, const char *section, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
            return (int)(c->keys_given >> i & 1);
    return 0;
}

/* Whether the list of layers (model.layers as layers) holds a layer of kind `kind`: an item
 * whose first word it is. */
static int stack_has(const ot_config_t *c, const char *kind)
{
    const size_t n = strlen(kind);
    for (const char *p = c->stack; *p;) {
        p += strspn(p, " \t");
        if (strncmp(p, kind, n) == 0 && strchr(" \t,", p[n]))
            return 1;
        const char *comma = strchr(p, ',');
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

/* A key that only some choices use, and whether c's choices use it: the choice that leaves it
 * unused and the ones that use it, for the warning. */
typedef struct {
    const char *section, *name;
    int used;
    const char *choice, *users;
} use_rule_t;

enum { N_USE_RULES = 16 };

/* The texts of c's choices that the rules quote. */
typedef struct {
    char by[64], sched[64], init[64];
} use_words_t;

static void use_rules(const ot_config_t *c, use_words_t *w, use_rule_t r[N_USE_RULES])
{
    const int opt = c->optimizer, hdf5 = c->train_file[0] != '\0';
    snprintf(w->by, sizeof w->by, "training.optimizer = %s", ot_optimizer_name(c->optimizer));
    snprintf(w->sched, sizeof w->sched, "training.schedule = %s",
             ot_schedule_name(c->schedule));
    snprintf(w->init, sizeof w->init, "model.init = %s", ot_init_name(c->init));
    /* the widths syntax's layer keys act on hidden layers: "784, 10" has none */
    const int hidden = c->stack[0] || c->n_layers > 1;
    const int bn = c->stack[0] ? stack_has(c, "batchnorm") : c->batchnorm && hidden;
    const use_rule_t rules[N_USE_RULES] = {
        {"training", "momentum", opt == OT_OPT_MOMENTUM || opt == OT_OPT_NESTEROV, w->by,
         "momentum and nesterov use it; momentum SGD is training.optimizer = momentum"},
        {"training", "rmsprop_decay", opt == OT_OPT_RMSPROP, w->by, "rmsprop uses it"},
        {"training", "beta1", opt == OT_OPT_ADAM || opt == OT_OPT_ADAMW, w->by,
         "adam and adamw use it"},
        {"training", "beta2", opt == OT_OPT_ADAM || opt == OT_OPT_ADAMW, w->by,
         "adam and adamw use it"},
        {"training", "epsilon", opt != OT_OPT_SGD && opt != OT_OPT_MOMENTUM &&
                                    opt != OT_OPT_NESTEROV,
         w->by, "adagrad, rmsprop, adam and adamw use it"},
        {"training", "step_epochs", c->schedule == OT_SCHED_STEP, w->sched,
         "schedule = step uses it"},
        {"training", "step_factor", c->schedule == OT_SCHED_STEP, w->sched,
         "schedule = step uses it"},
        {"data", "features", hdf5, "IDX files", "HDF5 files (data.train_file) use it"},
        {"data", "labels", hdf5, "IDX files", "HDF5 files (data.train_file) use it"},
        {"data", "layout", hdf5, "IDX files", "HDF5 files (data.train_file) use it"},
        {"data", "normalize_by", c->normalize == OT_NORM_MEAN_STD, "data.normalize = none",
         "data.normalize = mean_std uses it"},
        {"model", "init_std", c->init == OT_INIT_STD, w->init, "model.init = std uses it"},
        {"model", "bn_momentum", bn, "no batch norm in the model",
         "batch norm layers use it: model.batchnorm = true, or batchnorm in a list of layers"},
        {"model", "activation", hidden, "no hidden layer in model.layers",
         "it acts after each hidden layer's affine"},
        {"model", "batchnorm", hidden, "no hidden layer in model.layers",
         "it acts after each hidden layer's affine"},
        {"model", "dropout", hidden, "no hidden layer in model.layers",
         "it acts after each hidden layer's activation"},
    };
    memcpy(r, rules, sizeof rules);
}

/* Whether key k is one that c's choices leave unused. */
static int unused_key(const use_rule_t r[N_USE_RULES], const cfg_key_t *k)
{
    for (size_t i = 0; i < N_USE_RULES; i++)
        if (!r[i].used && strcmp(r[i].section, k->section) == 0 && strcmp(r[i].name, k->name) == 0)
            return 1;
    return 0;
}

int ot_config_warn_unused(const ot_config_t *c)
{
    use_words_t w;
    use_rule_t rules[N_USE_RULES];
    use_rules(c, &w, rules);
    int n = 0;
    if (c->file_keys == 0) {
        fprintf(stderr, "omptrain: warning: %s sets no key, so every setting not given with --set "
                "is its default (configs/reference.ini lists them)\n", c->path);
        n++;
    }
    for (size_t i = 0; i < N_USE_RULES; i++)
        if (!rules[i].used && given(c, rules[i].section, rules[i].name)) {
            fprintf(stderr, "omptrain: warning: %s: %s.%s is set, but with %s it is unused (%s)\n",
                    c->path[0] ? c->path : "(defaults)", rules[i].section, rules[i].name,
                    rules[i].choice, rules[i].users);
            n++;
        }
    return n;
}

int ot_config_check(const ot_config_t *c)
{
    const char *where = c->path[0] ? c->path : "(defaults)";
    char layers[512];
    format_layers(c, ", ", layers, sizeof layers);

    if (c->stack[0]) {
        if (check_stack(c, where))
            return OT_ECONFIG;
        goto training;
    }
    if (c->n_layers < 1 || c->n_layers > OT_MAX_LAYERS) {
        ot_error("%s: model.layers: %zu layers in '%s', expected 1 to %d", where, c->n_layers,
                 layers, OT_MAX_LAYERS);
        return OT_ECONFIG;
    }
    size_t params = 0;
    int overflow = 0;
    for (size_t i = 0; i < c->n_layers; i++) {
        size_t w;
        if (c->sizes[i] < 1 || c->sizes[i + 1] < 1 || c->sizes[i] > OT_MAX_UNITS ||
            c->sizes[i + 1] > OT_MAX_UNITS) {
            ot_error("%s: model.layers: invalid layer size in '%s', expected integers in "
                     "[1, %d]", where, layers, OT_MAX_UNITS);
            return OT_ECONFIG;
        }
        /* W (in, out) + b (out) */
        if (ot_mul_size(c->sizes[i], c->sizes[i + 1], &w) < 0 || w > SIZE_MAX - c->sizes[i + 1] ||
            w + c->sizes[i + 1] > SIZE_MAX - params) {
            overflow = 1;
            break;
        }
        params += w + c->sizes[i + 1];
    }
    if (overflow || params > OT_MAX_PARAMS) {
        if (overflow)
            ot_error("%s: model.layers: more than %zu parameters in '%s', expected at most %zu",
                     where, (size_t)SIZE_MAX, layers, OT_MAX_PARAMS);
        else
            ot_error("%s: model.layers: %zu parameters in '%s', expected at most %zu", where,
                     params, layers, OT_MAX_PARAMS);
        return OT_ECONFIG;
    }
    if (c->sizes[c->n_layers] != (size_t)c->n_classes) {
        ot_error("%s: model.layers: output layer of %zu units in '%s', expected data.classes = "
                 "%d units", where, c->sizes[c->n_layers], layers, c->n_classes);
        return OT_ECONFIG;
    }
    size_t hidden = c->n_layers - 1, names = act_count(c);
    if (names != OT_MAX_LAYERS && names != hidden) {
        if (hidden <= 1)
            ot_error("%s: model.activation: %zu names for %zu hidden layer%s, expected 1", where,
                     names, hidden, hidden == 1 ? "" : "s");
        else
            ot_error("%s: model.activation: %zu names for %zu hidden layers, expected 1 or %zu",
                     where, names, hidden, hidden);
        return OT_ECONFIG;
    }
training:
    if (!c->train_file[0] != !c->test_file[0]) {
        ot_error("%s: data.%s is set but data.%s is not: an HDF5 training set needs an HDF5 "
                 "test set, expected both keys (or neither, for the IDX files)", where,
                 c->train_file[0] ? "train_file" : "test_file",
                 c->train_file[0] ? "test_file" : "train_file");
        return OT_ECONFIG;
    }
    if (c->train_file[0] && c->idx_keys) {
        ot_error("%s: data.%s%s names an IDX file, but data.train_file and data.test_file "
                 "(HDF5) replace the IDX files (train_images, train_labels, test_images, "
                 "test_labels); expected one or the other", where, c->idx_key,
                 c->idx_keys & OT_KEYS_SET ? " (given with --set)" : "");
        return OT_ECONFIG;
    }
    if (c->patience > 0 && c->validation == 0) {
        ot_error("%s: training.patience: early stopping after %d epochs needs a validation "
                 "split, expected training.validation > 0", where, c->patience);
        return OT_ECONFIG;
    }
    if (c->warmup_epochs > c->epochs) {
        ot_error("%s: training.warmup_epochs: %d is longer than the %d epochs of training, "
                 "expected at most training.epochs (%d)",
                 where, c->warmup_epochs, c->epochs, c->epochs);
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* Shortest of %.15g, %.16g, %.17g that reads back as exactly x. */
static void format_double(double x, char *buf, size_t n)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            return;
    }
}

/* Value of k in c as the INI text that parses back to it; sep separates list items. */
static void format_value(const ot_config_t *c, const cfg_key_t *k, const char *sep, char *buf,
                         size_t n)
{
    const char *field = (const char *)c + k->off;
    switch (k->kind) {
    case K_PATH:
        if (field == c->out_dir && !c->out_dir[0])
            default_out_dir(c->path, buf, n); /* never loaded: what load would have set */
        else
            snprintf(buf, n, "%s", field);
        break;
    case K_INT:
        snprintf(buf, n, "%d", *(const int *)field);
        break;
    case K_SIZE:
        snprintf(buf, n, "%zu", *(const size_t *)field);
        break;
    case K_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)field);
        break;
    case K_DOUBLE:
        format_double(*(const double *)field, buf, n);
        break;
    case K_LAYERS:
        if (c->stack[0])
            snprintf(buf, n, "%s", c->stack);
        else
            format_layers(c, sep, buf, n);
        break;
    case K_ACT: {
        size_t names = act_count(c), used = 0, hidden = c->n_layers > 0 ? c->n_layers - 1 : 0;
        int same = 1;
        for (size_t i = 1; i < names; i++)
            same &= c->act[i] == c->act[0];
        if (names == OT_MAX_LAYERS)
            names = same || hidden == 0 ? 1 : hidden; /* the effective per-layer list */
        buf[0] = '\0';
        for (size_t i = 0; i < names; i++) {
            int w = snprintf(buf + used, n - used, "%s%s", i ? sep : "", ot_act_name(c->act[i]));
            if (w < 0 || (size_t)w >= n - used)
                break;
            used += (size_t)w;
        }
        break;
    }
    case K_INIT:
        snprintf(buf, n, "%s", ot_init_name(c->init));
        break;
    case K_ENUM:
        snprintf(buf, n, "%s", k->names[*(const int *)field]);
        break;
    case K_FRAC:
    case K_NONNEG:
        format_double(*(const double *)field, buf, n);
        break;
    case K_BOOL:
        snprintf(buf, n, "%s", *(const int *)field ? "true" : "false");
        break;
    }
}

/* "name = value"; a value longer than a line goes on over more lines, each ending with a
 * comma (how ot_config_load reads a list of layers). */
static void write_key(FILE *f, const char *name, const char *value)
{
    size_t width = LINE_CHARS - strlen(name) - 3;
    fprintf(f, "%s = ", name);
    while (strlen(value) > width) {
        size_t cut = 0; /* after the last ", " that leaves the line short enough */
        for (size_t i = 0; i + 1 < width; i++)
            if (value[i] == ',' && value[i + 1] == ' ')
                cut = i + 1;
        if (cut == 0)
            break;
        fprintf(f, "%.*s\n    ", (int)cut, value);
        value += cut + 1;
        width = LINE_CHARS - 4;
    }
    fprintf(f, "%s\n", value);
}

char *ot_config_to_ini(const ot_config_t *c)
{
    char *text = NULL, value[OT_STACK_TEXT + 64];
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return NULL;
    use_words_t words;
    use_rule_t rules[N_USE_RULES];
    use_rules(c, &words, rules);
    const char *section = NULL;
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key_t *k = &keys[i];
        if (!section || strcmp(section, k->section) != 0) {
            fprintf(f, "%s[%s]\n", section ? "\n" : "", k->section);
            section = k->section;
        }
        if (c->stack[0] && (k->kind == K_ACT || k->off == OFF(batchnorm) ||
                            k->off == OFF(dropout)))
            continue; /* the widths syntax's keys: the list of layers holds them */
        if ((k->off == OFF(train_file) && !c->train_file[0]) ||
            (k->off == OFF(test_file) && !c->test_file[0]) ||
            (k->off == OFF(class_names) && !c->class_names[0]) || (c->train_file[0] && idx_key(k)))
            continue; /* unset optional files; the IDX keys, which HDF5 files replace */
        format_value(c, k, ", ", value, sizeof value);
        if (strlen(k->name) + 3 + strlen(value) > LINE_CHARS && !c->stack[0])
            format_value(c, k, ",", value, sizeof value); /* lists: drop the blanks */
        if (unused_key(rules, k))
            fputs("; ", f); /* with its value, but as a comment: read back, it warns of nothing */
        write_key(f, k->name, value);
    }
    if (ferror(f)) {
        fclose(f);
        free(text);
        return NULL;
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

/* The value of key section.name in text (as ot_config_to_ini writes it: "[section]" headers,
 * "name = value" lines, "; name = value" for a key the choices leave unused), into buf;
 * "" when it is not there. */
static void ini_value(const char *text, const char *section, const char *name, char *buf,
                      size_t n)
{
    char head[32];
    snprintf(head, sizeof head, "[%s]\n", section);
    const char *p = strstr(text, head);
    const size_t len = strlen(name);
    buf[0] = '\0';
    for (p = p ? p + strlen(head) : NULL; p && *p && *p != '[';) {
        const char *key = strncmp(p, "; ", 2) == 0 ? p + 2 : p, *eol = strchr(p, '\n');
        if (strncmp(key, name, len) == 0 && strncmp(key + len, " = ", 3) == 0) {
            size_t v = (size_t)((eol ? eol : key + strlen(key)) - (key + len + 3));
            snprintf(buf, n, "%.*s", (int)v, key + len + 3);
            return;
        }
        p = eol ? eol + 1 : NULL;
    }
}

size_t ot_config_train_diff(const ot_config_t *was, const ot_config_t *now, char *buf,
                            size_t n)
{
    /* what the update, the model's training-only layers and the training data are: the keys
     * that change how the run goes on and that a resume neither refuses nor notes elsewhere
     * (schedule, seed, shards) */
    static const char *const keys_[][2] = {
        {"training", "weight_decay"}, {"training", "clip_norm"},   {"training", "momentum"},
        {"training", "beta1"},        {"training", "beta2"},       {"training", "epsilon"},
        {"training", "rmsprop_decay"}, {"training", "batch_size"}, {"training", "augment_shift"},
        {"model", "layers"},          {"model", "dropout"},        {"model", "bn_momentum"},
        {"data", "train_images"},     {"data", "train_labels"},    {"data", "train_file"},
        {"data", "features"},         {"data", "labels"},
    };
    char *a = ot_config_to_ini(was), *b = ot_config_to_ini(now);
    size_t used = 0, count = 0;
    if (n)
        buf[0] = '\0';
    for (size_t i = 0; a && b && i < sizeof keys_ / sizeof keys_[0]; i++) {
        char va[OT_STACK_TEXT + 64], vb[OT_STACK_TEXT + 64], item[2 * OT_STACK_TEXT + 200];
        ini_value(a, keys_[i][0], keys_[i][1], va, sizeof va);
        ini_value(b, keys_[i][0], keys_[i][1], vb, sizeof vb);
        if (strcmp(va, vb) == 0)
            continue;
        count++;
        int w = snprintf(item, sizeof item, "%s%s.%s %s%s%s -> %s%s%s", used ? ", " : "",
                         keys_[i][0], keys_[i][1], strchr(va, ' ') ? "'" : "",
                         va[0] ? va : "(none)", strchr(va, ' ') ? "'" : "",
                         strchr(vb, ' ') ? "'" : "", vb[0] ? vb : "(none)",
                         strchr(vb, ' ') ? "'" : "");
        if (w > 0 && (size_t)w < sizeof item && (size_t)w < n - used) {
            memcpy(buf + used, item, (size_t)w + 1);
            used += (size_t)w;
        }
    }
    free(a);
    free(b);
    return count;
}
