/* test_net.c - building a network from model.layers (src/net.c): ot_stack_parse on good
 * stacks and on bad ones (each refused in one line naming the item and what was expected);
 * layer names (kind prefix and count); the widths syntax giving the same stack, tensors and
 * initial parameters as its list of layers; shapes, tensors and parameter count through a
 * small CNN; every tensor 64-byte aligned; ot_net_tensor and ot_net_layer; the summary line;
 * ot_net_init's shape errors, one line each naming the layer (and the config file's line). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_net.h"
#include "ot_test.h"

/* The small CNN of the brief and its input, one 8x8 grey image. */
#define CNN "conv 4 3x3 pad 1, relu, maxpool 2, flatten, affine 10"
static const ot_shape_t img8 = {1, 8, 8, 0};

/* Defaults, then each "section.key=value" of sets (NULL-terminated); messages name net.ini. */
static void config(ot_config_t *c, const char *const *sets)
{
    ot_config_defaults(c);
    for (size_t i = 0; sets[i]; i++)
        CU_ASSERT_FATAL(ot_config_set(c, sets[i]) == OT_OK);
    snprintf(c->path, sizeof c->path, "net.ini");
}

/* Build the net of sets on input in (NULL: the widths' first, flat); asserts it builds. */
static void build(ot_net_t *net, const char *const *sets, const ot_shape_t *in)
{
    ot_config_t c;
    config(&c, sets);
    CU_ASSERT_FATAL(ot_net_init(net, &c, in) == OT_OK);
}

/* The parsed layers as "kind args, kind args" (each kind's format), into buf. */
static const char *stack_text(const ot_layer_t *L, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        char args[128];
        L[i].ops->format(&L[i], args, sizeof args);
        int w = snprintf(buf + used, len - used, "%s%s%s%s", i ? ", " : "", L[i].ops->kind,
                         args[0] ? " " : "", args);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* The layers' names, space-separated, into buf. */
static const char *names(const ot_net_t *net, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t l = 0; l < net->n_layers && used < len; l++) {
        int w = snprintf(buf + used, len - used, "%s%s", l ? " " : "", net->layers[l].name);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

/* ---------------------------------------------------------------- parsing */

static void test_parse_good(void)
{
    ot_layer_t L[16];
    size_t n = 99;
    char err[512] = "", text[512];
    CU_ASSERT_EQUAL(ot_stack_parse(CNN, L, 16, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_STRING_EQUAL(stack_text(L, n, text, sizeof text),
                           "conv 4 3x3 stride 1 pad 1, relu, maxpool 2x2 stride 2, flatten, "
                           "affine 10");
    /* blanks and tabs anywhere between words; "bn" names batchnorm too; every kind */
    CU_ASSERT_EQUAL(ot_stack_parse("  conv 8 5x3 stride 2 ,\tbn,sigmoid , avgpool 3x2 stride 1,"
                                   "maxpool 2 , flatten, affine 50, batchnorm, dropout 0.25,"
                                   " relu ,affine   3 ",
                                   L, 16, &n, err, sizeof err),
                    0);
    CU_ASSERT_EQUAL(n, 11);
    CU_ASSERT_STRING_EQUAL(stack_text(L, n, text, sizeof text),
                           "conv 8 5x3 stride 2 pad 0, batchnorm, sigmoid, avgpool 3x2 stride 1, "
                           "maxpool 2x2 stride 2, flatten, affine 50, batchnorm, dropout 0.25, "
                           "relu, affine 3");
    /* exactly max layers is fine, one more is not */
    CU_ASSERT_EQUAL(ot_stack_parse("relu, relu", L, 2, &n, err, sizeof err), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(ot_stack_parse("relu, relu, relu", L, 2, &n, err, sizeof err), -1);
    CU_ASSERT_STRING_EQUAL(err, "more than 2 layers, expected at most 2");
}

/* Each bad stack: -1 and one line "layer N ..." that names the item (its number, and its text
 * where there is one) and what was expected. */
static void test_parse_bad(void)
{
    char long_item[320];
    memset(long_item, 'a', 300);
    long_item[300] = '\0';
    const struct {
        const char *stack;
        int item;        /* the item named: "layer N " */
        const char *err; /* what follows, after the item's text and its closing quote */
    } bad[] = {
        /* an unknown kind: the kinds it could be, never the loss */
        {"affine 50, tanh, affine 10", 2,
         "tanh': unknown kind 'tanh', expected one of affine, relu, sigmoid, batchnorm, "
         "dropout, conv, maxpool, avgpool, flatten"},
        /* a kind in upper case: said so (it had been only 'unknown') */
        {"Affine 50", 1, "'Affine 50': unknown kind 'Affine' (kinds are lower case: affine), "
                         "expected one of affine"},
        {"relu, MaxPool 2", 2, "'MaxPool 2': unknown kind 'MaxPool' (kinds are lower case: "
                               "maxpool), expected one of"},
        {"BN", 1, "'BN': unknown kind 'BN' (kinds are lower case: bn), expected"},
        {"Tanh", 1, "'Tanh': unknown kind 'Tanh', expected one of"},
        /* the item as written, without its blanks; too many words */
        {"affine 50,  tanh ", 2, "layer 2 'tanh': unknown kind"},
        {"conv 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", 1,
         "'conv 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16': more than 16 words, expected a kind "
         "and its arguments"},
        /* empty items */
        {"affine 50,, affine 10", 2,
         "is empty, expected a layer such as 'affine 100' or 'relu'"},
        {"affine 50, ", 2, "is empty, expected a layer such as 'affine 100' or 'relu' (the list "
                           "ends with a comma: it goes on over the next line only when that "
                           "line is indented)"},
        {"", 1, "is empty, expected a layer such as 'affine 100' or 'relu'"},
        {" ,relu", 1, "is empty, expected a layer such as 'affine 100' or 'relu'"},
        /* bad arguments: the kind's complaint, then its syntax */
        /* a bad value is named with its range (affine's and pooling's had not been) */
        {"affine fifty", 1, "affine fifty': 'fifty': UNITS must be an integer in [1, 1048576], "
                            "expected affine UNITS"},
        {"relu, affine", 2, "affine': one output width in [1, 1048576], expected affine UNITS"},
        {"affine 0", 1, "affine 0': '0': UNITS must be an integer in [1, 1048576], expected "
                        "affine UNITS"},
        {"affine 1e3", 1, "affine 1e3': '1e3': UNITS must be an integer in [1, 1048576]"},
        {"affine 10 20", 1, "affine 10 20': one output width in [1, 1048576]"},
        {"relu, relu 2", 2, "relu 2': no arguments, expected relu"},
        {"conv 4, relu", 1, "conv 4': a filter count and a kernel size, expected conv FILTERS "
                            "KHxKW [stride S] [pad P]"},
        {"conv 4 3x3 stride 0", 1, "conv 4 3x3 stride 0': 'stride 0': S must be an integer in "
                                   "[1, 65536], expected conv FILTERS KHxKW"},
        {"conv 4 3x3 pad", 1, "conv 4 3x3 pad': 'pad' without its value"},
        {"maxpool 2 pad 1", 1, "maxpool 2 pad 1': 'pad' is not stride S, expected maxpool "
                               "WINDOW [stride S]"},
        {"avgpool", 1, "avgpool': a window size, expected avgpool WINDOW"},
        {"maxpool 0", 1, "maxpool 0': '0': WINDOW must be an integer in [1, 65536], or two as "
                         "KHxKW (2 for 2x2), expected maxpool WINDOW [stride S]"},
        {"avgpool 65537", 1, "avgpool 65537': '65537': WINDOW must be an integer in [1, 65536]"},
        {"maxpool 2x", 1, "maxpool 2x': '2x': WINDOW must be"},
        {"maxpool x2", 1, "maxpool x2': 'x2': WINDOW must be"},
        {"dropout 1", 1, "dropout 1': '1': RATE must be a fraction in [0, 1), expected dropout "
                         "RATE"},
        {"dropout x", 1, "dropout x': 'x': RATE must be a fraction in [0, 1)"},
        {"dropout", 1, "dropout': one rate, expected dropout RATE"},
        {"flatten 2", 1, "flatten 2': no arguments, expected flatten"},
        /* the loss closes every stack by itself */
        {"affine 10, softmax_loss", 2, "softmax_loss': softmax_loss closes every stack by "
                                       "itself, leave it out of model.layers"},
        /* an item longer than the parser's buffer */
        {long_item, 1, "is too long (300 characters), expected at most 255"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ot_layer_t L[8];
        size_t n;
        char err[512] = "", head[32];
        int rc = ot_stack_parse(bad[i].stack, L, 8, &n, err, sizeof err);
        snprintf(head, sizeof head, "layer %d ", bad[i].item);
        int named = strncmp(err, head, strlen(head)) == 0;
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT_PTR_NULL(strchr(err, '\n')); /* one line */
        CU_ASSERT(named);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i].err));
        if (rc != -1 || !named || !strstr(err, bad[i].err))
            fprintf(stderr, "\n  '%.40s' -> %d: %s\n  expected: %s...%s", bad[i].stack, rc, err,
                    head, bad[i].err);
    }
    ot_layer_t L[8];
    size_t n;
    char err[512];
    CU_ASSERT_EQUAL(ot_stack_parse("tanh", L, 8, &n, err, sizeof err), -1);
    CU_ASSERT_PTR_NULL(strstr(err, "softmax_loss")); /* not offered as a kind */
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
    ot_net_t net;
    char buf[512];
    build(&net,
          (const char *const[]){"model.layers=conv 2 3x3 pad 1, bn, relu, conv 2 3x3 pad 1, "
                                "batchnorm, relu, maxpool 2, flatten, affine 16, batchnorm, "
                                "sigmoid, dropout 0.5, affine 10",
                                NULL},
          &img8);
    CU_ASSERT_STRING_EQUAL(names(&net, buf, sizeof buf),
                           "conv1 bn1 relu1 conv2 bn2 relu2 maxpool1 flatten1 affine1 bn3 "
                           "sigmoid1 dropout1 affine2 softmax_loss");
    for (size_t l = 0; l < net.n_layers; l++) {
        CU_ASSERT_EQUAL(net.layers[l].index, l);
        CU_ASSERT_PTR_EQUAL(ot_net_layer(&net, net.layers[l].name), &net.layers[l]);
    }
    /* tensors are named after their layer */
    const char *want[] = {"conv1/W", "conv1/b",   "bn1/gamma",  "bn1/beta", "conv2/W",
                          "conv2/b", "bn2/gamma", "bn2/beta",   "affine1/W", "affine1/b",
                          "bn3/gamma", "bn3/beta", "affine2/W", "affine2/b"};
    CU_ASSERT_FATAL(net.n_tensors == sizeof want / sizeof want[0]);
    for (size_t i = 0; i < net.n_tensors; i++)
        CU_ASSERT_STRING_EQUAL(net.tensors[i].name, want[i]);
    CU_ASSERT_FATAL(net.n_state_tensors == 6);
    CU_ASSERT_STRING_EQUAL(net.state_tensors[0].name, "bn1/running_mean");
    CU_ASSERT_STRING_EQUAL(net.state_tensors[1].name, "bn1/running_var");
    CU_ASSERT_STRING_EQUAL(net.state_tensors[5].name, "bn3/running_var");
    ot_net_free(&net);

    /* the widths syntax names its layers the same way */
    build(&net,
          (const char *const[]){"model.layers=784, 50, 30, 10", "model.activation=sigmoid",
                                "model.batchnorm=1", NULL},
          NULL);
    CU_ASSERT_STRING_EQUAL(names(&net, buf, sizeof buf),
                           "affine1 bn1 sigmoid1 affine2 bn2 sigmoid2 affine3 softmax_loss");
    ot_net_free(&net);
}

/* ---------------------------------------------------------------- widths = list of layers */

static int shape_eq(const ot_shape_t *a, const ot_shape_t *b)
{
    return a->c == b->c && a->h == b->h && a->w == b->w && a->flat == b->flat;
}

/* a and b are the same network: layers, shapes, blocks, tensors; then the same initial
 * parameters and state from the same seed. */
static void check_same(ot_net_t *a, ot_net_t *b, const ot_config_t *ca, const ot_config_t *cb)
{
    char ta[256], tb[256];
    CU_ASSERT_FATAL(a->n_layers == b->n_layers);
    for (size_t l = 0; l < a->n_layers; l++) {
        const ot_layer_t *x = &a->layers[l], *y = &b->layers[l];
        x->ops->format(x, ta, sizeof ta);
        y->ops->format(y, tb, sizeof tb);
        CU_ASSERT_PTR_EQUAL(x->ops, y->ops);
        CU_ASSERT_STRING_EQUAL(x->name, y->name);
        CU_ASSERT_STRING_EQUAL(ta, tb);
        CU_ASSERT(shape_eq(&x->in, &y->in) && shape_eq(&x->out, &y->out));
        CU_ASSERT(x->in_size == y->in_size && x->out_size == y->out_size);
        CU_ASSERT(x->p_off == y->p_off && x->p_len == y->p_len);
        CU_ASSERT(x->s_off == y->s_off && x->s_len == y->s_len);
        CU_ASSERT(x->t0 == y->t0 && x->nt == y->nt && x->index == y->index);
    }
    CU_ASSERT_FATAL(a->n_tensors == b->n_tensors && a->n_state_tensors == b->n_state_tensors);
    for (size_t k = 0; k < a->n_tensors + a->n_state_tensors; k++) {
        int st = k >= a->n_tensors;
        const ot_tensor_t *x = st ? &a->state_tensors[k - a->n_tensors] : &a->tensors[k];
        const ot_tensor_t *y = st ? &b->state_tensors[k - b->n_tensors] : &b->tensors[k];
        CU_ASSERT_STRING_EQUAL(x->name, y->name);
        CU_ASSERT(x->off == y->off && x->rank == y->rank && x->size == y->size &&
                  x->decay == y->decay);
        CU_ASSERT(memcmp(x->shape, y->shape, sizeof x->shape) == 0);
    }
    CU_ASSERT(a->n_params == b->n_params && a->n_state == b->n_state);
    CU_ASSERT(shape_eq(&a->input, &b->input));
    CU_ASSERT(a->in_dim == b->in_dim && a->n_classes == b->n_classes &&
              a->max_width == b->max_width);
    ot_rng_t ra, rb;
    ot_rng_seed(&ra, 77);
    ot_rng_seed(&rb, 77);
    ot_net_init_params(a, ca, &ra);
    ot_net_init_params(b, cb, &rb);
    CU_ASSERT(memcmp(a->params, b->params, a->n_params * sizeof(float)) == 0);
    CU_ASSERT(a->n_state == 0 || memcmp(a->state, b->state, a->n_state * sizeof(float)) == 0);
    /* and the parameters are drawn, not left zero */
    double sq = 0;
    for (size_t i = 0; i < a->n_params; i++)
        sq += (double)a->params[i] * a->params[i];
    CU_ASSERT(sq > 0);
}

static void same_as_list(const char *const *widths, const char *const *list, ot_shape_t in,
                         size_t n_layers)
{
    ot_config_t ca, cb;
    ot_net_t a, b;
    config(&ca, widths);
    config(&cb, list);
    CU_ASSERT_FATAL(ot_net_init(&a, &ca, NULL) == OT_OK);
    CU_ASSERT_FATAL(ot_net_init(&b, &cb, &in) == OT_OK);
    CU_ASSERT_EQUAL(a.n_layers, n_layers);
    check_same(&a, &b, &ca, &cb);
    ot_net_free(&a);
    ot_net_free(&b);
}

static void test_widths_equal_list(void)
{
    same_as_list((const char *const[]){"model.layers=784, 50, 10", "model.activation=relu",
                                       NULL},
                 (const char *const[]){"model.layers=affine 50, relu, affine 10", NULL},
                 (ot_shape_t){784, 1, 1, 1}, 4);
    /* every optional layer: batch norm after each hidden Affine, an activation each, dropout
     * after each activation; He init */
    same_as_list((const char *const[]){"model.layers=20, 16, 12, 5",
                                       "model.activation=relu, sigmoid", "model.batchnorm=1",
                                       "model.dropout=0.25", "model.init=he", "data.classes=5",
                                       NULL},
                 (const char *const[]){"model.layers=affine 16, batchnorm, relu, dropout 0.25, "
                                       "affine 12, batchnorm, sigmoid, dropout 0.25, affine 5",
                                       "model.init=he", "data.classes=5", NULL},
                 (ot_shape_t){20, 1, 1, 1}, 10);
    /* no hidden layer */
    same_as_list((const char *const[]){"model.layers=30, 10", NULL},
                 (const char *const[]){"model.layers=affine 10", NULL},
                 (ot_shape_t){30, 1, 1, 1}, 2);
}

/* ---------------------------------------------------------------- shapes, tensors, blocks */

static void expect_shape(const ot_shape_t *s, size_t c, size_t h, size_t w, int flat)
{
    CU_ASSERT(s->c == c && s->h == h && s->w == w && s->flat == flat);
    if (!(s->c == c && s->h == h && s->w == w && s->flat == flat))
        fprintf(stderr, "\n  shape c %zu h %zu w %zu flat %d, expected %zu %zu %zu %d", s->c,
                s->h, s->w, s->flat, c, h, w, flat);
}

static void expect_tensor(const ot_net_t *net, const char *name, size_t rank, size_t d0,
                          size_t d1, size_t d2, size_t d3, int decay)
{
    const ot_tensor_t *t = ot_net_tensor(net, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    const size_t want[OT_MAX_RANK] = {d0, d1, d2, d3};
    size_t size = 1;
    for (size_t i = 0; i < rank; i++)
        size *= want[i];
    CU_ASSERT_EQUAL(t->rank, rank);
    CU_ASSERT(memcmp(t->shape, want, sizeof want) == 0); /* unused dimensions 0 */
    CU_ASSERT_EQUAL(t->size, size);
    CU_ASSERT_EQUAL(t->decay, decay);
}

static void test_cnn_shapes(void)
{
    ot_net_t net;
    build(&net, (const char *const[]){"model.layers=" CNN, NULL}, &img8);
    CU_ASSERT_FATAL(net.n_layers == 6);
    const ot_layer_t *L = net.layers;
    expect_shape(&net.input, 1, 8, 8, 0);
    CU_ASSERT_EQUAL(net.in_dim, 64);
    expect_shape(&L[0].in, 1, 8, 8, 0);
    expect_shape(&L[0].out, 4, 8, 8, 0); /* conv1: pad 1 keeps 8x8 */
    expect_shape(&L[1].out, 4, 8, 8, 0); /* relu1 */
    expect_shape(&L[2].out, 4, 4, 4, 0); /* maxpool1 */
    expect_shape(&L[3].out, 64, 1, 1, 1); /* flatten1 */
    expect_shape(&L[4].out, 10, 1, 1, 1); /* affine1 */
    expect_shape(&L[5].in, 10, 1, 1, 1);  /* softmax_loss */
    for (size_t l = 0; l < net.n_layers; l++) {
        CU_ASSERT_EQUAL(L[l].in_size, ot_shape_size(&L[l].in));
        CU_ASSERT_EQUAL(L[l].out_size, ot_shape_size(&L[l].out));
        if (l > 0) /* each layer's input is the previous one's output */
            CU_ASSERT(shape_eq(&L[l].in, &L[l - 1].out));
    }
    CU_ASSERT_EQUAL(net.max_width, 256); /* 8x8x4 */
    CU_ASSERT_EQUAL(net.n_classes, 10);

    /* W (kh, kw, c, filters) with decay, b (filters) without; affine1 reads 4x4x4 = 64 */
    CU_ASSERT_EQUAL(net.n_tensors, 4);
    CU_ASSERT_EQUAL(net.n_state_tensors, 0);
    expect_tensor(&net, "conv1/W", 4, 3, 3, 1, 4, 1);
    expect_tensor(&net, "conv1/b", 1, 4, 0, 0, 0, 0);
    expect_tensor(&net, "affine1/W", 2, 64, 10, 0, 0, 1);
    expect_tensor(&net, "affine1/b", 1, 10, 0, 0, 0, 0);
    /* offsets rounded up to 16 floats: W 36 -> 48, b 4 -> 16, W 640, b 10 -> 16 */
    CU_ASSERT_EQUAL(net.n_params, 48 + 16 + 640 + 16);
    CU_ASSERT_EQUAL(net.n_state, 0);
    /* each layer's range of the block (first tensor's start to last one's end) and of the
     * tensor list */
    CU_ASSERT(L[0].p_off == 0 && L[0].p_len == 48 + 4 && L[0].t0 == 0 && L[0].nt == 2);
    CU_ASSERT(L[1].nt == 0 && L[1].p_len == 0 && L[2].nt == 0 && L[3].nt == 0);
    CU_ASSERT(L[4].p_off == 64 && L[4].p_len == 640 + 10 && L[4].t0 == 2 && L[4].nt == 2);
    CU_ASSERT(L[5].nt == 0 && L[5].p_len == 0);
    ot_net_free(&net);
}

/* Every tensor of the parameter and the state block starts on a cache line, in order, without
 * overlap, inside its block. */
static void check_aligned(const ot_net_t *net)
{
    size_t bad = 0;
    for (int st = 0; st < 2; st++) {
        const ot_tensor_t *t = st ? net->state_tensors : net->tensors;
        size_t n = st ? net->n_state_tensors : net->n_tensors;
        size_t total = st ? net->n_state : net->n_params;
        const float *block = st ? net->state : net->params;
        for (size_t i = 0; i < n; i++) {
            bad += t[i].off % (OT_ALIGN / sizeof(float)) != 0;
            bad += (uintptr_t)(block + t[i].off) % OT_ALIGN != 0;
            bad += t[i].off + t[i].size > (i + 1 < n ? t[i + 1].off : total);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_aligned(void)
{
    ot_net_t net;
    build(&net, (const char *const[]){"model.layers=" CNN, NULL}, &img8);
    check_aligned(&net);
    ot_net_free(&net);
    /* odd widths, batch norm state */
    build(&net,
          (const char *const[]){"model.layers=conv 3 3x3, batchnorm, relu, conv 5 2x2, bn, "
                                "flatten, affine 7, batchnorm, relu, affine 10",
                                NULL},
          &(ot_shape_t){3, 9, 9, 0});
    CU_ASSERT(net.n_state_tensors == 6 && net.n_state > 0);
    check_aligned(&net);
    ot_net_free(&net);
    build(&net,
          (const char *const[]){"model.layers=13, 7, 3, 10", "model.batchnorm=1", NULL}, NULL);
    check_aligned(&net);
    ot_net_free(&net);
}

/* ---------------------------------------------------------------- lookups and summary */

static void test_lookup(void)
{
    ot_net_t net;
    build(&net,
          (const char *const[]){"model.layers=conv 4 3x3 pad 1, batchnorm, relu, maxpool 2, "
                                "flatten, affine 10",
                                NULL},
          &img8);
    CU_ASSERT_PTR_EQUAL(ot_net_tensor(&net, "conv1/W"), &net.tensors[0]);
    CU_ASSERT_PTR_EQUAL(ot_net_tensor(&net, "bn1/beta"), &net.tensors[3]);
    CU_ASSERT_PTR_EQUAL(ot_net_tensor(&net, "affine1/b"), &net.tensors[5]);
    const char *no_tensor[] = {"conv1/w", "conv2/W", "conv1", "conv1/W/", "affine1/W ", "",
                               "bn1/running_mean" /* state, not a parameter */};
    for (size_t i = 0; i < sizeof no_tensor / sizeof no_tensor[0]; i++)
        CU_ASSERT_PTR_NULL(ot_net_tensor(&net, no_tensor[i]));
    CU_ASSERT_PTR_EQUAL(ot_net_layer(&net, "conv1"), &net.layers[0]);
    CU_ASSERT_PTR_EQUAL(ot_net_layer(&net, "bn1"), &net.layers[1]);
    CU_ASSERT_PTR_EQUAL(ot_net_layer(&net, "affine1"), &net.layers[5]);
    CU_ASSERT_PTR_EQUAL(ot_net_layer(&net, "softmax_loss"), &net.layers[6]);
    const char *no_layer[] = {"conv", "batchnorm1", "relu2", "affine1/W", "Conv1", ""};
    for (size_t i = 0; i < sizeof no_layer / sizeof no_layer[0]; i++)
        CU_ASSERT_PTR_NULL(ot_net_layer(&net, no_layer[i]));
    ot_net_free(&net);
}

static void test_summary(void)
{
    ot_net_t net;
    char buf[256];
    build(&net, (const char *const[]){"model.layers=" CNN, NULL}, &img8);
    ot_net_summary(&net, buf, sizeof buf);
    /* a layer shows its output where the size or the flatness changes */
    CU_ASSERT_STRING_EQUAL(buf, "8x8x1 > conv1 8x8x4 > relu1 > maxpool1 4x4x4 > flatten1 64 > "
                                "affine1 10 > softmax_loss");
    char small[16];
    memset(small, '#', sizeof small);
    ot_net_summary(&net, small, 10); /* cut at n, nothing written past it */
    CU_ASSERT_STRING_EQUAL(small, "8x8x1 > c");
    CU_ASSERT(small[10] == '#' && small[15] == '#');
    ot_net_free(&net);

    build(&net, (const char *const[]){"model.layers=784, 50, 10", NULL}, NULL);
    ot_net_summary(&net, buf, sizeof buf);
    CU_ASSERT_STRING_EQUAL(buf, "784 > affine1 50 > relu1 > affine2 10 > softmax_loss");
    ot_net_free(&net);
}

/* ---------------------------------------------------------------- shape errors */

/* ot_net_init of stack on input in fails with OT_ECONFIG and exactly the line want (after
 * "omptrain: "), and leaves no block behind. */
static void expect_error(const char *const *sets, const ot_shape_t *in, const char *want)
{
    ot_config_t c;
    ot_net_t net;
    config(&c, sets);
    OT_EXPECT_ONE_LINE(ot_net_init(&net, &c, in), OT_ECONFIG, want);
    CU_ASSERT_PTR_NULL(net.params);
    ot_net_free(&net);
}

static void test_shape_errors(void)
{
    /* a kernel larger than the input */
    expect_error((const char *const[]){"model.layers=conv 4 9x9", NULL}, &img8,
                 "net.ini: model.layers: conv1 (conv) on input 8x8x1: the window (9) is larger "
                 "than the height (8 with padding 0), expected at most 8\n");
    /* ... at the third convolution: the error names that one */
    expect_error((const char *const[]){"model.layers=conv 4 3x3 pad 1, conv 4 5x5, conv 4 5x5, "
                                       "flatten, affine 10",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: conv3 (conv) on input 4x4x4: the window (5) is larger "
                 "than the height (4 with padding 0), expected at most 4\n");
    /* a stride that leaves rows out */
    expect_error((const char *const[]){"model.layers=conv 4 3x3 stride 2, flatten, affine 10",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: conv1 (conv) on input 8x8x1: stride 2 does not fit the "
                 "height: windows of 3 at stride 2 (pad 0) leave out the last 1 of its 8 rows; "
                 "expected a stride, window or padding that covers them\n");
    expect_error((const char *const[]){"model.layers=conv 4 3x3 pad 1, relu, maxpool 3, "
                                       "flatten, affine 10",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: maxpool1 (maxpool) on input 8x8x4: stride 3 does not "
                 "fit the height: windows of 3 at stride 3 (pad 0) leave out the last 2 of its 8 "
                 "rows; expected a stride, window or padding that covers them\n");
    /* a max pooling larger than its input, or on a flat vector: that is what is wrong, not
     * that its window has more than 255 inputs (which avgpool would take) */
    expect_error((const char *const[]){"model.layers=conv 4 3x3 pad 1, maxpool 16, affine 10",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: maxpool1 (maxpool) on input 8x8x4: the window (16) is "
                 "larger than the height (8 with padding 0), expected at most 8\n");
    expect_error((const char *const[]){"model.layers=affine 10, maxpool 16", NULL}, &img8,
                 "net.ini: model.layers: maxpool1 (maxpool) on input 10: expected an image "
                 "(HxWxC), got a flat vector; put pooling before any affine or flatten\n");
    /* a window that fits but has more than 255 inputs */
    static const ot_shape_t img32 = {1, 32, 32, 0};
    expect_error((const char *const[]){"model.layers=maxpool 16, affine 10", NULL}, &img32,
                 "net.ini: model.layers: maxpool1 (maxpool) on input 32x32x1: a 16x16 window has "
                 "256 inputs, expected at most 255 (the arg-max of each window is kept in a "
                 "byte; avgpool takes any window)\n");
    /* a convolution or pooling after flatten or affine */
    expect_error((const char *const[]){"model.layers=flatten, conv 4 3x3, affine 10", NULL},
                 &img8,
                 "net.ini: model.layers: conv1 (conv) on input 64: expected an image (HxWxC), got "
                 "a flat vector; put convolutions before any affine or flatten\n");
    expect_error((const char *const[]){"model.layers=affine 10, maxpool 2", NULL}, &img8,
                 "net.ini: model.layers: maxpool1 (maxpool) on input 10: expected an image "
                 "(HxWxC), got a flat vector; put pooling before any affine or flatten\n");
    /* a convolution or pooling first on data of flat vectors: the data is at fault (the
     * advice had been to put the convolutions before any affine, which they were) */
    static const ot_shape_t flat64 = {1, 1, 64, 1};
    expect_error((const char *const[]){"model.layers=conv 4 3x3, affine 10", NULL}, &flat64,
                 "net.ini: model.layers: conv1 (conv) on input 64: expected an image, but the "
                 "data's samples are flat vectors (N x 64); give them as images, N x H x W or N x "
                 "H x W x C (scripts/to_hdf5.py --shape HxW[xC])\n");
    expect_error((const char *const[]){"model.layers=avgpool 2, affine 10", NULL}, &flat64,
                 "net.ini: model.layers: avgpool1 (avgpool) on input 64: expected an image, but "
                 "the data's samples are flat vectors (N x 64)");
    /* flatten twice */
    expect_error((const char *const[]){"model.layers=conv 2 3x3, flatten, flatten, affine 10",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: flatten2 (flatten) on input 72: the input is flat "
                 "already; flatten goes after the last convolution or pooling\n");
    /* the last width is not the number of classes */
    expect_error((const char *const[]){"model.layers=conv 4 3x3 pad 1, flatten, affine 7",
                                       NULL},
                 &img8,
                 "net.ini: model.layers: the last layer, affine1, gives 7 outputs, expected "
                 "data.classes = 10\n");
    expect_error((const char *const[]){"model.layers=conv 2 3x3", NULL}, &img8,
                 "net.ini: model.layers: the last layer, conv1, gives 72 outputs, expected "
                 "data.classes = 10\n");
    expect_error((const char *const[]){"model.layers=784, 50, 10", "data.classes=7", NULL}, NULL,
                 "net.ini: model.layers: the last layer, affine2, gives 10 outputs, expected "
                 "data.classes = 7\n");
    /* a list of layers needs the data's shape */
    expect_error((const char *const[]){"model.layers=affine 10", NULL}, NULL,
                 "net.ini: model.layers lists layers: the input shape must come from the data\n");
}

/* More parameter tensors than a net holds: said so, by count (it had been told as too many
 * parameters, "4000 parameters up to conv63, expected at most 1073741824") */
static void test_too_many_tensors(void)
{
    char stack[2048] = "model.layers=";
    for (int i = 0; i < 63; i++)
        strcat(stack, "conv 2 1,bn,"); /* short: a --set holds 1023 characters */
    strcat(stack, "affine 10"); /* 127 layers, the most a stack holds */
    expect_error((const char *const[]){stack, NULL}, &img8,
                 "net.ini: model.layers: 250 parameter tensors up to conv63, expected at most "
                 "248: fewer layers with parameters\n");
    /* 248 tensors build: 62 convolutions, 61 batch norms and the affine, 2 tensors each */
    char fits[2048] = "model.layers=";
    for (int i = 0; i < 61; i++)
        strcat(fits, "conv 2 1,bn,");
    strcat(fits, "conv 2 1,affine 10");
    ot_net_t net;
    build(&net, (const char *const[]){fits, NULL}, &img8);
    CU_ASSERT_EQUAL(net.n_tensors, 61 * 4 + 2 + 2);
    ot_net_free(&net);
}

/* A layer whose output holds more floats a sample than a size_t: refused by name (h w c had
 * wrapped around, to 2^43 + 2^20 here, and the stack had built). 31 paddings of 65536 and a
 * last one grow the side to 2^22 + 1, 2^20 filters make it 2^64 + 2^43 + 2^20, a stride of
 * 65536 then fits 65x65. */
static void test_sample_too_large(void)
{
    char stack[1024] = "model.layers=";
    for (int i = 0; i < 31; i++)
        strcat(stack, "conv 1 1 pad 65536,");
    strcat(stack, "conv 1 8x8 pad 65536,conv 1048576 1,conv 1 1 stride 65536,affine 10");
    expect_error((const char *const[]){stack, NULL}, &img8,
                 "net.ini: model.layers: conv8 (conv) on input 917512x917512x1 gives "
                 "1048584x1048584x1 outputs a sample, expected at most 2^40 (1099511627776)\n");
}

/* A list of layers from a line of the config file: its errors name that line, as the loader's
 * own do (they had named the file alone) */
static void test_shape_errors_line(void)
{
    ot_config_t c;
    ot_net_t net;
    config(&c, (const char *const[]){"model.layers=conv 4 9x9, affine 10", NULL});
    c.layers_line = 12; /* as ot_config_load records it */
    OT_EXPECT_ONE_LINE(ot_net_init(&net, &c, &img8), OT_ECONFIG,
                       "omptrain: net.ini:12: model.layers: conv1 (conv) on input 8x8x1: the "
                       "window (9) is larger than the height (8 with padding 0), expected at "
                       "most 8\n");
    ot_net_free(&net);
    config(&c, (const char *const[]){"model.layers=conv 4 3x3, affine 7", NULL});
    c.layers_line = 3;
    OT_EXPECT_ONE_LINE(ot_net_init(&net, &c, &img8), OT_ECONFIG,
                       "omptrain: net.ini:3: model.layers: the last layer, affine1, gives 7 "
                       "outputs, expected data.classes = 10\n");
    ot_net_free(&net);
}

OT_TEST_SUITE(net, NULL, NULL,
              {"stack_parse: good stacks, blanks, every kind, at most max", test_parse_good},
              {"stack_parse: bad stacks, one line naming the item and what was expected",
               test_parse_bad},
              {"layer names: kind prefix and count; tensor names", test_names},
              {"widths syntax: same stack, tensors and initial parameters as its layer list",
               test_widths_equal_list},
              {"small CNN: shapes, tensor ranks and shapes, parameter ranges", test_cnn_shapes},
              {"every tensor 64-byte aligned, in order, inside its block", test_aligned},
              {"ot_net_tensor and ot_net_layer", test_lookup},
              {"summary line, cut at n", test_summary},
              {"shape errors: one line naming the layer", test_shape_errors},
              {"shape errors: the config file's line", test_shape_errors_line},
              {"more parameter tensors than a net holds", test_too_many_tensors},
              {"a layer's output larger than 2^40 floats a sample", test_sample_too_large})
