/* main.c - the command line. Only this file exits.
 *   omptrain [options] CONFIG                       train
 *   omptrain eval --checkpoint PATH [options] CONFIG
 *   omptrain predict --checkpoint PATH [predict options] [options] CONFIG INPUT
 *   omptrain export --checkpoint PATH --onnx MODEL.onnx [options] CONFIG
 *   omptrain gradcheck [gradcheck options] [options] CONFIG
 *   omptrain bench [--threads LIST] [--processes LIST] [options] CONFIG
 *   omptrain verify PATH...
 * Under mpirun (mpirun -np R omptrain [options] CONFIG) every process runs this: training and
 * bench use them all (ot_dist.h); only the first process prints to stdout. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <hdf5.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_bench.h"
#include "ot_common.h"
#include "ot_config.h"
#include "ot_dist.h"
#include "ot_gemm.h"
#include "ot_gradcheck.h"
#include "ot_run.h"
#include "ot_verify.h"

enum { EXIT_RUNTIME = 1, EXIT_USAGE = 2, DONE = 1 };

static const char usage[] =
    "usage: omptrain [options] CONFIG                  train\n"
    "       omptrain eval --checkpoint PATH [options] CONFIG\n"
    "                                                  loss, accuracy and confusion matrix\n"
    "                                                  of a checkpoint on the test set\n"
    "       omptrain predict --checkpoint PATH [predict options] [options] CONFIG INPUT\n"
    "                                                  class probabilities and arg-max of\n"
    "                                                  every sample of INPUT (IDX images or\n"
    "                                                  HDF5) to HDF5 (and CSV), the accuracy\n"
    "                                                  when it has labels\n"
    "       omptrain export --checkpoint PATH --onnx MODEL.onnx [options] CONFIG\n"
    "                                                  the model as an ONNX model (opset 13)\n"
    "       omptrain gradcheck [gradcheck options] [options] CONFIG\n"
    "                                                  backprop vs numerical gradient\n"
    "       omptrain bench [--threads LIST] [--processes LIST] [options] CONFIG\n"
    "                                                  samples/s, speed-up, efficiency and\n"
    "                                                  share of the GEMM ceiling per thread\n"
    "                                                  count (LIST: e.g. 1,2,4; default powers\n"
    "                                                  of two up to the cores); under mpirun\n"
    "                                                  per processes x threads (--processes:\n"
    "                                                  default 1 and mpirun's -np)\n"
    "       omptrain verify PATH...                    whether checkpoint and history files\n"
    "                                                  are intact (every checksum); a run\n"
    "                                                  directory: each of its files\n"
    "CONFIG is an INI file (every key is documented in configs/reference.ini).\n"
    "\n"
    "options:\n"
    "  -t, --threads N        OpenMP threads (default: OMP_NUM_THREADS or all cores)\n"
    "  -e, --epochs N         same as --set training.epochs=N\n"
    "  -s, --seed N           same as --set training.seed=N\n"
    "  -o, --output DIR       same as --set output.dir=DIR\n"
    "  -S, --set SEC.KEY=VAL  override one config key (repeatable, validated like the file)\n"
    "  -r, --resume PATH      continue the run saved in checkpoint PATH, or in the newest\n"
    "                         checkpoint of run directory PATH that verifies\n"
    "  -c, --checkpoint PATH  (eval, predict, export, gradcheck) the checkpoint to use,\n"
    "                         or the newest of run directory PATH that verifies\n"
    "predict options:\n"
    "      --predictions PATH the HDF5 file to write (default OUTPUT_DIR/predictions.h5)\n"
    "      --csv PATH         write a CSV file too: index, [file,] label, class,\n"
    "                         [class_name,] p0, p1, ... (- : to stdout, the report\n"
    "                         to stderr)\n"
    "      --labels PATH      an IDX label file for IDX images (HDF5 input: data.labels)\n"
    "export options:\n"
    "      --onnx PATH        the ONNX file to write (- : to stdout, the report to stderr)\n"
    "gradcheck options:\n"
    "      --samples N        training samples in the check (default 3)\n"
    "      --step H           central-difference step (default 1e-5)\n"
    "      --entries N        entries checked per tensor, 0 = all (default 1000)\n"
    "      --tolerance T      largest max relative error that passes (default 1e-2)\n"
    "      --tensors LIST     comma list of tensors, e.g. affine1/W,affine2/b (default all)\n"
    "  -h, --help             show this help\n"
    "  -V, --version          show the version\n"
    "\n"
    "More than one machine: mpirun -np R omptrain -t T CONFIG trains (and bench measures)\n"
    "with R processes of T threads, bit-identical to one process; the first one prints.\n"
    "\n"
    "exit status: 0 success, 1 runtime failure, 2 usage or config error\n";

typedef enum { CMD_TRAIN, CMD_EVAL, CMD_GRADCHECK, CMD_BENCH, CMD_PREDICT, CMD_EXPORT } command_t;

typedef struct {
    command_t cmd;
    int threads;            /* 0 = OpenMP's default */
    const char *config;     /* CONFIG path */
    const char *resume;     /* --resume */
    const char *checkpoint; /* --checkpoint (eval, predict, export, gradcheck) */
    const char *input;      /* predict: INPUT */
    const char *predictions; /* predict: --predictions */
    const char *csv;        /* predict: --csv */
    const char *labels;     /* predict: --labels */
    const char *onnx;       /* export: --onnx */
    const char **overrides; /* "section.key=value" in command-line order */
    const char **shown;     /* each as the user gave it, for messages: NULL for a --set,
                               "--epochs 3" for a shorthand */
    int n_overrides;
    char **owned;           /* the strings built for --epochs, --seed, --output, one a use */
    int n_owned;
    ot_gradcheck_opts_t gc; /* gradcheck options */
    const char *tensors;    /* --tensors */
    int gc_given;           /* a gradcheck option was given */
    const char *thread_list; /* bench: --threads LIST */
    const char *process_list; /* bench: --processes LIST */
} cli_t;

static int exit_code(int rc)
{
    return rc == OT_OK ? 0 : rc == OT_ECONFIG ? EXIT_USAGE : EXIT_RUNTIME;
}

/* The n arguments quoted, space-separated, into buf (n bytes): at most four, then "...". */
static const char *quoted_args(char **args, int n, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < size; i++) {
        int w = i < 4 ? snprintf(buf + used, size - used, "%s'%s'", i ? " " : "", args[i])
                      : snprintf(buf + used, size - used, " ...");
        if (w < 0)
            break;
        used += (size_t)w;
        if (i >= 4)
            break;
    }
    return buf;
}

/* Parse an int in [min, max] for a flag, or print why not (note: after the range). */
static int parse_int(const char *flag, const char *s, int min, int max, const char *note,
                     int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < min || v > max) {
        ot_error("%s: invalid value '%s', expected an integer in [%d, %d]%s", flag, s, min, max,
                 note);
        return OT_ECONFIG;
    }
    *out = (int)v;
    return OT_OK;
}

/* Parse an int in [1, max] for a flag, or print why not. */
static int parse_count(const char *flag, const char *s, int max, int *out)
{
    return parse_int(flag, s, 1, max, "", out);
}

/* Parse a double in (0, max] for a flag, or print why not. */
static int parse_positive(const char *flag, const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !(v > 0.0) || v > max) {
        ot_error("%s: invalid value '%s', expected a number in (0, %g]", flag, s, max);
        return OT_ECONFIG;
    }
    *out = v;
    return OT_OK;
}

/* --epochs N and friends (flag) are spelled as the --set they stand for, in its place among
 * the overrides: a string of its own each time, since the option may be given again (the last
 * one wins, as with --set); messages name the option as given. */
static int add_alias(cli_t *cli, const char *flag, const char *key, const char *value)
{
    size_t n = strlen(key) + strlen(value) + 2, m = strlen(flag) + strlen(value) + 2;
    char *kv = malloc(n), *as = malloc(m);
    if (!kv || !as) {
        free(kv), free(as);
        return OT_ENOMEM;
    }
    snprintf(kv, n, "%s=%s", key, value);
    snprintf(as, m, "%s %s", flag, value);
    cli->owned[cli->n_owned++] = kv;
    cli->owned[cli->n_owned++] = as;
    cli->shown[cli->n_overrides] = as;
    cli->overrides[cli->n_overrides++] = kv;
    return OT_OK;
}

/* The overrides as the options that give them again, "--set WORD " each (ot_shell_word), into
 * *out (malloc'd; NULL without overrides). */
static int overrides_text(const cli_t *cli, char **out)
{
    size_t n = 1;
    *out = NULL;
    if (!cli->n_overrides)
        return OT_OK;
    for (int i = 0; i < cli->n_overrides; i++) /* quoted, each character 4 at most */
        n += strlen("--set '' ") + 4 * strlen(cli->overrides[i]);
    char *text = malloc(n), *word = malloc(n);
    if (!text || !word) {
        free(text), free(word);
        return OT_ENOMEM;
    }
    size_t used = 0;
    for (int i = 0; i < cli->n_overrides; i++)
        used += (size_t)snprintf(text + used, n - used, "--set %s ",
                                 ot_shell_word(cli->overrides[i], word, n));
    free(word);
    *out = text;
    return OT_OK;
}

static void cli_free(cli_t *cli)
{
    free(cli->overrides);
    free(cli->shown);
    for (int i = 0; i < cli->n_owned; i++)
        free(cli->owned[i]);
    free(cli->owned);
}

/* The names of the commands that one process runs, for the refusals under mpirun
 * and of --resume. */
static const char *const single_names[] = {
    [CMD_EVAL] = "eval", [CMD_PREDICT] = "predict", [CMD_EXPORT] = "export",
    [CMD_GRADCHECK] = "gradcheck",
};

/* The gradcheck options, by their getopt codes 1..5. */
static int parse_gradcheck_opt(ot_gradcheck_opts_t *gc, const char **tensors, int ch,
                               const char *arg)
{
    int n, rc = OT_OK;
    switch (ch) {
    case 1:
        if (!(rc = parse_count("--samples", arg, 100000, &n)))
            gc->samples = (size_t)n;
        break;
    case 2: rc = parse_positive("--step", arg, 1.0, &gc->step); break;
    case 3:
        if (!(rc = parse_int("--entries", arg, 0, 1 << 30, " (0: all)", &n)))
            gc->max_entries = (size_t)n;
        break;
    case 4: rc = parse_positive("--tolerance", arg, 1.0, &gc->tolerance); break;
    default: *tensors = arg; break;
    }
    return rc;
}

/* Returns OT_OK, DONE (help or version printed) or OT_ECONFIG (message printed). */
static int parse_cli(int argc, char **argv, cli_t *cli)
{
    static const struct option opts[] = {
        {"threads", required_argument, 0, 't'}, {"epochs", required_argument, 0, 'e'},
        {"seed", required_argument, 0, 's'},    {"output", required_argument, 0, 'o'},
        {"set", required_argument, 0, 'S'},     {"resume", required_argument, 0, 'r'},
        {"checkpoint", required_argument, 0, 'c'}, {"help", no_argument, 0, 'h'},
        {"version", no_argument, 0, 'V'},       {"samples", required_argument, 0, 1},
        {"step", required_argument, 0, 2},      {"entries", required_argument, 0, 3},
        {"tolerance", required_argument, 0, 4}, {"tensors", required_argument, 0, 5},
        {"predictions", required_argument, 0, 6}, {"csv", required_argument, 0, 7},
        {"labels", required_argument, 0, 8},    {"onnx", required_argument, 0, 9},
        {"processes", required_argument, 0, 10},
        {0, 0, 0, 0},
    };
    memset(cli, 0, sizeof *cli);
    if (!(cli->overrides = calloc((size_t)argc, sizeof *cli->overrides)) ||
        !(cli->shown = calloc((size_t)argc, sizeof *cli->shown)) ||
        !(cli->owned = calloc(2 * (size_t)argc, sizeof *cli->owned)))
        return OT_ENOMEM;
    ot_gradcheck_defaults(&cli->gc);
    static const struct {
        const char *name;
        command_t cmd;
    } commands[] = {{"eval", CMD_EVAL},       {"gradcheck", CMD_GRADCHECK},
                    {"bench", CMD_BENCH},     {"predict", CMD_PREDICT},
                    {"export", CMD_EXPORT}};
    for (size_t i = 0; argc > 1 && i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            cli->cmd = commands[i].cmd;
            argv++;
            argc--;
            break;
        }
    opterr = 0;
    int ch, rc = OT_OK;
    /* an option that names one thing (a file, bench's lists, the tensors to check) given
     * twice: a slip, refused, rather than the first dropped without a word (--set and its
     * aliases --epochs, --seed, --output, and a training --threads, go by the last) */
    const char *once[128] = {0};
    while (!rc && (ch = getopt_long(argc, argv, ":t:e:s:o:S:r:c:hV", opts, NULL)) != -1) {
        const int single = ch == 'r' || ch == 'c' || (ch >= 1 && ch <= 10) ||
                           (ch == 't' && cli->cmd == CMD_BENCH);
        if (single && once[ch]) {
            const char *name = argv[optind - 1][1] == '-' ? argv[optind - 1] : NULL;
            char flag[32];
            if (!name || strchr(name, '=')) { /* --opt=value or -cVALUE: the long name */
                for (size_t i = 0; opts[i].name; i++)
                    if (opts[i].val == ch)
                        snprintf(flag, sizeof flag, "--%s", opts[i].name);
                name = flag;
            }
            ot_error("%s given twice ('%s', then '%s'), expected it once%s", name, once[ch],
                     optarg, ch == 5 ? " (a comma-separated list names several tensors)" : "");
            return OT_ECONFIG;
        }
        if (single)
            once[ch] = optarg;
        const char *path_opt = ch == 'r' ? "--resume" : ch == 'c' ? "--checkpoint"
                             : ch == 6   ? "--predictions" : ch == 7 ? "--csv"
                             : ch == 8   ? "--labels" : ch == 9 ? "--onnx" : NULL;
        if (path_opt && !optarg[0]) { /* else a file named "" fails late, as if "" were one */
            ot_error("%s: empty value, expected a path (see omptrain --help)", path_opt);
            return OT_ECONFIG;
        }
        switch (ch) {
        case 't':
            if (cli->cmd == CMD_BENCH)
                cli->thread_list = optarg;
            else
                rc = parse_count("--threads", optarg, OT_MAX_THREADS, &cli->threads);
            break;
        case 'e': rc = add_alias(cli, "--epochs", "training.epochs", optarg); break;
        case 's': rc = add_alias(cli, "--seed", "training.seed", optarg); break;
        case 'o': rc = add_alias(cli, "--output", "output.dir", optarg); break;
        case 'S': cli->overrides[cli->n_overrides++] = optarg; break;
        case 'r': cli->resume = optarg; break;
        case 'c': cli->checkpoint = optarg; break;
        case 'h': fputs(usage, stdout); return DONE;
        case 'V': printf("omptrain %s\n", OT_VERSION); return DONE;
        case 1: case 2: case 3: case 4: case 5:
            cli->gc_given = 1;
            rc = parse_gradcheck_opt(&cli->gc, &cli->tensors, ch, optarg);
            break;
        case 6: case 7: case 8:
            if (cli->cmd != CMD_PREDICT) {
                ot_error("--%s is a predict option (see omptrain --help)",
                         ch == 6 ? "predictions" : ch == 7 ? "csv" : "labels");
                return OT_ECONFIG;
            }
            *(ch == 6 ? &cli->predictions : ch == 7 ? &cli->csv : &cli->labels) = optarg;
            break;
        case 10:
            if (cli->cmd != CMD_BENCH) {
                ot_error("--processes is a bench option; to train with R processes run "
                         "mpirun -np R omptrain CONFIG (see omptrain --help)");
                return OT_ECONFIG;
            }
            cli->process_list = optarg;
            break;
        case 9:
            if (cli->cmd != CMD_EXPORT) {
                ot_error("--onnx is an export option (see omptrain --help)");
                return OT_ECONFIG;
            }
            cli->onnx = optarg;
            break;
        case ':':
            ot_error("option %s needs a value (see omptrain --help)", argv[optind - 1]);
            return OT_ECONFIG;
        default:
            ot_error("unknown option '%s' (see omptrain --help)", argv[optind - 1]);
            return OT_ECONFIG;
        }
    }
    if (rc)
        return rc;
    const int positional = cli->cmd == CMD_PREDICT ? 2 : 1;
    char list[512];
    if (argc - optind != positional) {
        if (optind == argc)
            ot_error("missing CONFIG (see omptrain --help)");
        else if (positional == 2 && argc - optind == 1)
            ot_error("predict: missing INPUT after CONFIG '%s', expected the IDX or HDF5 file "
                     "to predict (see omptrain --help)", argv[optind]);
        else
            ot_error("%s, got %d arguments: %s (see omptrain --help)",
                     positional == 2 ? "predict: expected CONFIG INPUT" : "expected one CONFIG",
                     argc - optind, quoted_args(argv + optind, argc - optind, list, sizeof list));
        return OT_ECONFIG;
    }
    if ((cli->cmd == CMD_EVAL || cli->cmd == CMD_PREDICT || cli->cmd == CMD_EXPORT) &&
        !cli->checkpoint) {
        ot_error("%s needs --checkpoint PATH (see omptrain --help)",
                 cli->cmd == CMD_EVAL ? "eval" : cli->cmd == CMD_PREDICT ? "predict" : "export");
        return OT_ECONFIG;
    }
    if (cli->predictions && strcmp(cli->predictions, "-") == 0) {
        ot_error("--predictions -: HDF5 cannot be written to standard output (the library "
                 "seeks in its file); expected a file name (--csv - writes the CSV there)");
        return OT_ECONFIG;
    }
    if (cli->cmd == CMD_EXPORT && !cli->onnx) {
        ot_error("export needs --onnx PATH, the ONNX file to write (see omptrain --help)");
        return OT_ECONFIG;
    }

    if (cli->cmd != CMD_GRADCHECK && cli->gc_given) {
        ot_error("--samples, --step, --entries, --tolerance and --tensors are gradcheck options "
                 "(see omptrain --help)");
        return OT_ECONFIG;
    }
    if (cli->cmd != CMD_TRAIN && cli->resume) { /* it was ignored there */
        if (cli->cmd == CMD_BENCH)
            ot_error("--resume is for training; bench times steps from the config's initial "
                     "parameters (see omptrain --help)");
        else
            ot_error("--resume is for training; %s reads a checkpoint given as --checkpoint "
                     "PATH", single_names[cli->cmd]);
        return OT_ECONFIG;
    }
    if (cli->cmd == CMD_TRAIN && cli->checkpoint) {
        ot_error("--checkpoint is for eval, predict, export and gradcheck; to continue "
                 "training use --resume PATH");
        return OT_ECONFIG;
    }
    cli->config = argv[optind];
    cli->input = positional == 2 ? argv[optind + 1] : NULL;
    return OT_OK;
}

/* FNV-1a of the string s (NULL as empty) on top of h, with a separator after it. */
static uint64_t fnv(uint64_t h, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (h ^ 0xffu) * 1099511628211ull;
}

/* With other processes: whether this process's command is the first one's (mpirun can give
 * each process its own command line; two commands, or bench's lists, that differ would wait
 * for each other forever). What must agree: the command (verify included), whether the line
 * parsed (rc), --resume, and bench's --threads and --processes lists; a training process's
 * own --threads may differ (its bits do not depend on it), and the configuration and its
 * overrides are compared by same_config. So must, for a bench without --threads, the CPUs its
 * default list goes up to (powers of two up to each process's own CPUs: processes given
 * different numbers of them by mpirun's mapping, or on different machines, would measure
 * different rows). Collective; 0, or OT_ECONFIG after one line. */
static int same_command(int verify, int rc, const cli_t *cli, const ot_dist_t *world)
{
    if (ot_dist_size(world) == 1)
        return OT_OK;
    char word[32];
    snprintf(word, sizeof word, "%d %d %d", verify, rc, verify || rc ? -1 : (int)cli->cmd);
    uint64_t mine[2] = {fnv(1469598103934665603ull, word), 0}, first[2];
    if (!verify && !rc) {
        mine[0] = fnv(mine[0], cli->resume);
        mine[0] = fnv(mine[0], cli->cmd == CMD_BENCH ? cli->thread_list : NULL);
        mine[0] = fnv(mine[0], cli->process_list);
        if (cli->cmd == CMD_BENCH && !cli->thread_list)
            mine[1] = (uint64_t)omp_get_num_procs();
    }
    memcpy(first, mine, sizeof first);
    ot_dist_bcast(world, first, sizeof first);
    if (rc) /* a line that did not parse: its own message says why */
        return OT_OK;
    if (mine[0] != first[0]) {
        ot_error("this process's command line differs from the first process's (its command, "
                 "--resume, or bench's --threads or --processes): every process must run the "
                 "same command; only a training process's --threads may differ");
        return OT_ECONFIG;
    }
    if (mine[1] != first[1]) {
        /* the example: the default list of the fewer CPUs, which both have */
        const int fewer = (int)(mine[1] < first[1] ? mine[1] : first[1]);
        char list[128];
        size_t used = 0;
        for (int t = 1; t <= fewer && used < sizeof list - 16; t *= 2)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%d", t > 1 ? "," : "", t);
        if (fewer & (fewer - 1)) /* not a power of two: the count itself last */
            snprintf(list + used, sizeof list - used, ",%d", fewer);
        ot_error("bench without --threads: this process may run on %d CPU%s and the first "
                 "process on %d, and each would measure powers of two up to its own; expected "
                 "--threads LIST, the same in every process (e.g. --threads %s)",
                 (int)mine[1], mine[1] == 1 ? "" : "s", (int)first[1], list);
        return OT_ECONFIG;
    }
    return OT_OK;
}

/* With other processes: whether this process's effective configuration is the first one's
 * (each read its own copy of the file, and mpirun can give each its own command line): 0, or
 * OT_ECONFIG with why. Collective. */
static int same_config(const ot_config_t *c, const ot_dist_t *world)
{
    if (ot_dist_size(world) == 1)
        return OT_OK;
    char *text = ot_config_to_ini(c);
    uint64_t mine = fnv(1469598103934665603ull, text), first;
    first = mine;
    ot_dist_bcast(world, &first, sizeof first);
    int rc = OT_OK;
    if (!text) {
        ot_error("cannot allocate the configuration's text");
        rc = OT_ENOMEM;
    } else if (mine != first) {
        ot_error("%s: this process's configuration differs from the first process's: every "
                 "process must train the same model on the same data (the same CONFIG and "
                 "options on every machine)", c->path);
        rc = OT_ECONFIG;
    }
    free(text);
    return rc;
}

/* omptrain's environment variables, when set, hold values their readers accept: a value they
 * would ignore (a typo) is a usage error here, not a silent default there. Returns 0 or
 * OT_ECONFIG after one line naming the variable, its value and what is expected. */
static int check_env(void)
{
    static const struct {
        const char *name;
        double lo, hi; /* a number in (lo, hi], or hi < 0: one of the words in `words` */
        const char *words, *what;
    } vars[] = {
        {"OMPTRAIN_MEMORY_LIMIT", 0.0, 1e18, NULL, "a number of bytes > 0"},
        {"OT_BENCH_SECONDS", 0.0, 3600.0, NULL, "seconds in (0, 3600]"},
        {"OT_XFER", 0.0, -1.0, " plain keep auto ", "plain, keep or auto"},
        {"OT_FUSE", 0.0, -1.0, " 0 1 ", "0 or 1"},
        {"OT_LIVE", 0.0, -1.0, " 0 1 ", "0 or 1"},
        {"OT_BLANK", 0.0, -1.0, " 0 1 ", "0 or 1"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i].name);
        if (!v)
            continue;
        int ok;
        if (vars[i].hi < 0.0) {
            char word[40];
            ok = strlen(v) < sizeof word - 2 && !strchr(v, ' ') && *v;
            snprintf(word, sizeof word, " %s ", v);
            ok = ok && strstr(vars[i].words, word) != NULL;
        } else {
            char *end;
            errno = 0;
            const double x = strtod(v, &end);
            ok = end != v && *end == '\0' && errno == 0 && x > vars[i].lo && x <= vars[i].hi;
        }
        if (!ok) {
            ot_error("environment variable %s='%s': expected %s", vars[i].name, v,
                     vars[i].what);
            return OT_ECONFIG;
        }
    }
    return OT_OK;
}

/* Without --threads the count is OMP_NUM_THREADS's (bench: its own list), held to the same
 * bound as --threads: 100000 set out to start them all. Returns 0 or OT_ECONFIG after one
 * line. */
static int check_threads(const cli_t *cli)
{
    if (cli->threads || cli->cmd == CMD_BENCH || omp_get_max_threads() <= OT_MAX_THREADS)
        return OT_OK;
    const char *v = getenv("OMP_NUM_THREADS");
    if (v)
        ot_error("environment variable OMP_NUM_THREADS='%s': %d threads, expected at most %d "
                 "(or give --threads N)", v, omp_get_max_threads(), OT_MAX_THREADS);
    else
        ot_error("this machine's %d cores are more threads than the %d a process takes; "
                 "expected --threads N (or OMP_NUM_THREADS) of at most %d",
                 omp_get_max_threads(), OT_MAX_THREADS, OT_MAX_THREADS);
    return OT_ECONFIG;
}

/* --checkpoint DIR (eval, predict, export, gradcheck): the newest checkpoint of run directory
 * DIR that verifies, as --resume DIR takes, into buf; said on stderr, since eval alone names
 * the file it reads. A file is left as given. */
static int checkpoint_of_dir(const char **path, char *buf, size_t n)
{
    struct stat st;
    if (!*path || stat(*path, &st) != 0 || !S_ISDIR(st.st_mode))
        return OT_OK;
    int rc = ot_verify_newest(*path, buf, n);
    if (rc)
        return rc;
    fprintf(stderr, "omptrain: --checkpoint %s: reading %s, the newest checkpoint there that "
            "verifies\n", *path, buf);
    *path = buf;
    return OT_OK;
}

/* The command line's command, in every process of world; returns the exit status. */
static int run(int argc, char **argv, const ot_dist_t *world)
{
    const int R = ot_dist_size(world);
    const int verify = argc > 1 && strcmp(argv[1], "verify") == 0;
    cli_t cli = {0};
    /* the environment and the thread count are each process's own (each machine has its
     * own): what is wrong with them goes through the agreement below like a bad option, so
     * that a process alone in refusing says why and the others do not wait for it for ever */
    int rc = check_env();
    if (!rc && !verify)
        rc = parse_cli(argc, argv, &cli);
    if (!rc && !verify)
        rc = check_threads(&cli);
    if (R > 1) {
        /* every process's line parsed, to the same command: one message for all, or from
         * the first whose line did not (help and version are a success everywhere) */
        const int mismatch = same_command(verify, rc, &cli, world);
        const int agreed = ot_dist_agree(world, rc == DONE ? mismatch : rc ? rc : mismatch);
        if (agreed || rc) {
            if (!verify)
                cli_free(&cli);
            return agreed ? exit_code(agreed) : 0;
        }
    }
    if (rc) { /* one process: parse_cli or a check has said why */
        cli_free(&cli);
        return rc == DONE ? 0 : exit_code(rc);
    }
    if (verify) { /* no CONFIG: files only */
        if (R > 1) {
            ot_error("verify runs in one process: run it without mpirun");
            return EXIT_USAGE;
        }
        /* its arguments are files: an option is a mistake, and "--" lets a file start with
         * '-' */
        char **files = argv + 2;
        int n = argc - 2;
        for (int i = 0; i < n && strcmp(files[i], "--") != 0; i++)
            if (files[i][0] == '-' && files[i][1]) {
                ot_error("verify: unknown option '%s', expected checkpoint or history files "
                         "(see omptrain --help)", files[i]);
                return EXIT_USAGE;
            }
        for (int i = 0; i < n; i++)
            if (strcmp(files[i], "--") == 0) { /* the first one: dropped */
                memmove(files + i, files + i + 1, (size_t)(n - i - 1) * sizeof *files);
                n--;
                break;
            }
        if (n == 0) {
            ot_error("verify needs one or more checkpoint or history files (see omptrain "
                     "--help)");
            return EXIT_USAGE;
        }
        return ot_verify_command(n, files) ? EXIT_RUNTIME : 0;
    }
    if (R > 1 && cli.cmd != CMD_TRAIN && cli.cmd != CMD_BENCH) {
        ot_error("%s runs in one process: run it without mpirun (training and bench use "
                 "every process)", single_names[cli.cmd]);
        cli_free(&cli);
        return EXIT_USAGE;
    }
    ot_config_t c;
    ot_config_defaults(&c);
    rc = ot_config_load(&c, cli.config);
    for (int i = 0; !rc && i < cli.n_overrides; i++)
        rc = ot_config_set_as(&c, cli.overrides[i], cli.shown[i]);
    if (!rc)
        rc = ot_config_check(&c);
    /* each process read its own copy of the file: one message for all, or from the first
     * that could not */
    if (!(rc = ot_dist_agree(world, rc)))
        rc = ot_dist_agree(world, same_config(&c, world));
    if (rc) {
        /* a config that cannot be read is a usage error as much as a malformed one */
        cli_free(&cli);
        return EXIT_USAGE;
    }
    /* keys the run will not use, said once (the first process) before it starts */
    if ((cli.cmd == CMD_TRAIN || cli.cmd == CMD_BENCH) && ot_dist_rank(world) == 0)
        ot_config_warn_unused(&c);
    if (cli.threads)
        omp_set_num_threads(cli.threads);
    ot_gemm_init();
    /* one process on a terminal: HDF5 data sets that take long show how far loading has come */
    if (R == 1 && isatty(STDERR_FILENO))
        ot_progress_set(stderr, 0.5);
    char *again = NULL;
    if (cli.cmd == CMD_TRAIN && overrides_text(&cli, &again)) {
        cli_free(&cli);
        return exit_code(OT_ENOMEM);
    }
    char newest[OT_PATH_MAX + 32];
    if ((rc = checkpoint_of_dir(&cli.checkpoint, newest, sizeof newest))) {
        free(again);
        cli_free(&cli);
        return exit_code(rc);
    }
    ot_run_opts_t ro = {.threads = omp_get_max_threads(), .resume = cli.resume, .dist = world,
                        .again = again};
    cli.gc.seed = c.seed;
    if (cli.cmd == CMD_EVAL)
        rc = ot_run_eval(&c, cli.checkpoint, &ro);
    else if (cli.cmd == CMD_PREDICT)
        rc = ot_run_predict(&c,
                            &(ot_predict_opts_t){cli.checkpoint, cli.input, cli.labels,
                                                 cli.predictions, cli.csv},
                            &ro);
    else if (cli.cmd == CMD_EXPORT)
        rc = ot_run_export(&c, cli.checkpoint, cli.onnx);
    else if (cli.cmd == CMD_BENCH)
        rc = ot_bench_command(&c, cli.thread_list, cli.process_list, world);
    else if (cli.cmd == CMD_GRADCHECK)
        rc = ot_gradcheck_command(&c, &cli.gc, cli.tensors, ro.threads, cli.checkpoint);
    else
        rc = ot_run_train(&c, &ro);
    free(again);
    cli_free(&cli);
    if (rc == OT_EINTR) /* the shell's convention: 128 + the signal (130 SIGINT, 143 SIGTERM) */
        return 128 + ot_run_signal();
    return exit_code(rc);
}

int main(int argc, char **argv)
{
    /* every HDF5 file is closed where it was opened; libhdf5's own exit handler, left out
     * before the library starts, would only add a report after omptrain's one line: after a
     * walk over damaged metadata (a checkpoint, an input file) it leaks free-list blocks and
     * writes "HDF5: infinite loop closing library" and a line of hundreds of names */
    H5dont_atexit();
    ot_dist_t *world;
    int rc = ot_dist_start(&argc, &argv, &world);
    if (rc)
        return exit_code(rc);
    /* the first process speaks for the run: the others' stdout goes nowhere (their errors are
     * held for ot_dist_agree) */
    if (ot_dist_rank(world) > 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            fflush(stdout);
            dup2(fd, STDOUT_FILENO);
            close(fd);
        }
    }
    int code = run(argc, argv, world);
    /* the report is the command's result: one that could not be written (a full disk, or
     * /dev/full) is a failure, not a silent success */
    errno = 0;
    if (fflush(stdout) != 0 || ferror(stdout)) {
        ot_error("cannot write the report to standard output: %s",
                 strerror(errno ? errno : EIO));
        if (code == 0)
            code = EXIT_RUNTIME;
    }
    ot_dist_end(world);
    return code;
}
