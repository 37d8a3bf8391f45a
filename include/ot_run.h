/* ot_run.h - the commands: a training run (with its output directory, checkpoints and history),
 * evaluation of a checkpoint. main() parses the command line and calls these. */
#ifndef OT_RUN_H
#define OT_RUN_H

#include "ot_config.h"
#include "ot_dist.h"

typedef struct {
    int threads;         /* OpenMP threads in use */
    const char *resume;  /* checkpoint to resume from, or NULL */
    const ot_dist_t *dist; /* the processes of the run (ot_dist.h); NULL: this one alone */
    const char *again;   /* the command line's config overrides as options, each followed by
                            a space ("--set KEY=VALUE "), for the line that says how to resume a
                            stopped run; NULL: none */
} ot_run_opts_t;

/* Train as c says, printing one line per epoch (and a progress bar when stderr is a terminal).
 * SIGINT or SIGTERM finishes the current step, saves a checkpoint (and the history so far) and
 * returns OT_EINTR; a second SIGINT exits at once. Returns 0, OT_ECONFIG (the config does not
 * fit the data or checkpoint), OT_EINTR, or another OT_E* code; every failure has printed one
 * line.
 * With the processes of o->dist: every process calls it and trains its part of each batch
 * (ot_engine_distribute); the first process alone takes the output directory's lock and writes
 * checkpoints and history; every process reads the data (and the checkpoint to resume). A
 * signal to any process stops all of them after the same step; every failure is agreed on
 * (ot_dist_agree), so that all return the same status and one message is printed. The progress
 * bar goes to the terminal (/dev/tty) when there is one, since mpirun passes stderr through a
 * pipe. */
int ot_run_train(const ot_config_t *c, const ot_run_opts_t *o);

/* The signal that stopped the last ot_run_train or ot_bench_command (OT_EINTR), else 0. */
int ot_run_signal(void);

/* on: from now on the first SIGINT or SIGTERM is recorded for ot_run_stop_requested (and
 * ot_run_signal) instead of killing the process, and a second SIGINT exits at once (130); the
 * record starts empty. off: both back to their defaults. */
void ot_run_catch_signals(int on);

/* Whether a stop signal reached any process of d since ot_run_catch_signals(1): collective
 * (alone: this process's record); the others' signal is recorded here too. */
int ot_run_stop_requested(const ot_dist_t *d);

/* Load the checkpoint at path into the network that c describes and print its loss, accuracy
 * and confusion matrix on c's test set. Returns 0 or an OT_E* code (message printed). */
int ot_run_eval(const ot_config_t *c, const char *path, const ot_run_opts_t *o);

/* confusion (K, K), [true][predicted] sample counts, on stdout as eval prints it: up to 20
 * classes the matrix with each row's recall (and the class's name after it); past that each
 * class's recall, 8 a line, and the 10 largest off-diagonal counts, largest first (equal
 * counts in row order), then the names one a line. names: (K) the classes' names, or NULL. */
void ot_run_print_confusion(const uint64_t *confusion, size_t K, char *const *names);

/* What omptrain predict reads and writes. */
typedef struct {
    const char *checkpoint;  /* the model */
    const char *input;       /* the samples: an IDX image file or an HDF5 file */
    const char *labels;      /* an IDX label file for IDX input, or NULL (none) */
    const char *h5_out;      /* the HDF5 file to write; NULL: <output.dir>/predictions.h5 */
    const char *csv_out;     /* a CSV file to write too, or NULL */
} ot_predict_opts_t;

/* Run the checkpoint's model (with its standardisation) over every sample of p->input,
 * batched and on every thread, and write the class probabilities and their arg-max to an
 * HDF5 file (and a CSV file on request), each atomically; with labels, print the loss and the
 * accuracy (the numbers of ot_run_eval on the same samples). Returns 0, OT_ECONFIG (the input
 * or checkpoint does not fit the config) or another OT_E* code (message printed). */
int ot_run_predict(const ot_config_t *c, const ot_predict_opts_t *p, const ot_run_opts_t *o);

/* Write the checkpoint's model as an ONNX model at onnx_path (atomically): see ot_onnx.h.
 * Returns 0 or an OT_E* code (message printed). */
int ot_run_export(const ot_config_t *c, const char *checkpoint, const char *onnx_path);

#endif
