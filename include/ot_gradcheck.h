/* ot_gradcheck.h - backprop checked against numerical differentiation.
 *
 * The backprop side is the training path itself: ot_engine_gradient over the samples, with the
 * config's shards at the current thread count, so the split and the reduction are checked too.
 * The numerical side is a central difference of the same mean loss computed by an independent
 * double-precision forward pass (plain loops, no BLAS): in float the difference quotient would
 * be dominated by rounding, in double it is accurate to ~1e-10, so the comparison measures the
 * backprop gradient's own error (~1e-6 relative, from float arithmetic). */
#ifndef OT_GRADCHECK_H
#define OT_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_data.h"
#include "ot_engine.h"

typedef struct ot_gradcheck_row ot_gradcheck_row_t;
typedef struct ot_gradcheck_fwd ot_gradcheck_fwd_t;

typedef struct {
    size_t samples;      /* training samples in the check (textbook: 3) */
    double step;         /* central-difference step h */
    size_t max_entries;  /* entries checked per tensor at most (distinct ones, drawn from
                            seed, when the tensor has more); 0 = all */
    double tolerance;    /* a tensor passes when its max relative error is below this */
    uint64_t seed;       /* picks the samples and the subsets */
    /* Told each result as soon as it is known (NULL: not told), for a command that prints as
     * it goes: the forward check (row NULL), then each checked tensor's row (fwd NULL) */
    void (*on_result)(const ot_gradcheck_fwd_t *fwd, const ot_gradcheck_row_t *row, void *arg);
    /* Told as a tensor's entries are done (done of m), for a progress line (NULL: not told):
     * from the calling thread while the threads share the entries, the counts increasing, the
     * last m */
    void (*on_entry)(const ot_tensor_t *tensor, size_t done, size_t m, void *arg);
    void *arg; /* both callbacks' */
} ot_gradcheck_opts_t;

struct ot_gradcheck_row {
    const ot_tensor_t *tensor; /* the tensor checked */
    size_t checked;            /* entries compared, each a different one */
    double mean_abs_diff;      /* mean |backprop - numerical| */
    double max_rel_err;        /* max |b - n| / max(|b| + |n|, floor) */
    int pass;                  /* max_rel_err < tolerance */
    int zero;                  /* backprop's gradient is 0 in every entry at these samples, and
                                  it passed: the numerical one is as good as 0 too (a ReLU that
                                  no sample reaches, a bias before batch norm), so the row
                                  agrees without having compared anything */
};

/* The forward pass itself: the engine's float loss against the reference's double loss on the
 * same samples, so that a float forward that disagrees with the reference (which the gradient
 * check alone would not see) fails too. */
struct ot_gradcheck_fwd {
    double loss;       /* the engine's mean loss */
    double ref_loss;   /* the reference's */
    double rel_err;    /* |loss - ref_loss| / max(|ref_loss|, 1e-12) */
    int pass;          /* rel_err < 1e-4 */
};

/* Defaults: 3 samples, h = 1e-5, 1000 entries per tensor, tolerance 1e-2, seed 42, no
 * callbacks.
 * Why 1e-2: float backprop of a correct network measures ~1e-6 to ~5e-4 (the larger where deep
 * sigmoid stacks leave the first layer's gradient as a small difference of larger terms); a
 * sign error measures 1, a factor of 2 measures 0.33. */
void ot_gradcheck_defaults(ot_gradcheck_opts_t *o);

/* Check every tensor whose row has check[i] != 0 (check may be NULL: all tensors) of e's
 * network on o->samples random samples of ds, and the forward loss (into *fwd, which may be
 * NULL). rows has net->n_tensors entries. The numerical derivatives run on omp_get_max_threads()
 * threads, the entries shared among them, with the same results at any count. Returns 1 when
 * the forward and every checked tensor pass, 0 when one fails, or OT_ENOMEM. */
int ot_gradcheck(ot_engine_t *e, const ot_dataset_t *ds, const ot_gradcheck_opts_t *o,
                 const unsigned char *check, ot_gradcheck_row_t *rows, ot_gradcheck_fwd_t *fwd);

/* The gradcheck command: build c's network (initial parameters, or those of checkpoint ck
 * when it is not NULL, verified as every load is, with the checkpoint's input as eval takes
 * it: the training samples standardised with its /input statistics, and a config or samples
 * that do not fit them refused as ot_input_check does), check the tensors in the comma list
 * `tensors` (NULL = all) and print one row per tensor and a verdict. Returns 0 when every
 * tensor passes, OT_ENUM when one fails, OT_ECONFIG for an unknown tensor name or an input
 * that differs from the checkpoint's, or the error of loading the data or the checkpoint. */
int ot_gradcheck_command(const ot_config_t *c, const ot_gradcheck_opts_t *o, const char *tensors,
                         int threads, const char *ck);

#endif
