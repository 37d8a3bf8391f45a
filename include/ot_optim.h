/* ot_optim.h - optimizers, learning-rate schedules, weight decay and gradient clipping.
 *
 * Every update is a flat loop over the contiguous parameter block, parallel over parameters,
 * applied once per step AFTER the reduction across shards (for each element: the engine may
 * update a chunk as soon as its mean is formed, ot_optim_span): each element's update depends
 * on that element alone, so the result never depends on the thread count or the pieces. The optimizer's state
 * buffers share the parameter block's layout. */
#ifndef OT_OPTIM_H
#define OT_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_net.h"

typedef struct {
    ot_optimizer_t kind;  /* which update rule */
    double momentum;      /* momentum, nesterov */
    double decay;         /* rmsprop: decay of the squared-gradient average */
    double beta1, beta2;  /* adam, adamw */
    double eps;           /* adagrad, rmsprop, adam, adamw */
    double weight_decay;  /* L2 on weights (adamw: decoupled) */
    const ot_net_t *net;  /* the parameters' layout: which ranges are weights */
    size_t n;             /* floats in the parameter block */
    float *m;             /* (n) velocity, squared-gradient sum/average, or first moment */
    float *v;             /* (n) adam/adamw second moment; NULL otherwise */
    uint64_t t;           /* updates applied (adam's bias correction) */
} ot_optim_t;

/* Set up c's optimizer for net's parameter block: zeroed state. Returns 0 or OT_ENOMEM. */
int ot_optim_init(ot_optim_t *o, const ot_config_t *c, const ot_net_t *net);

/* Release the state; safe on a zeroed optimizer. */
void ot_optim_free(ot_optim_t *o);

/* Number of state buffers (0, 1 or 2): m, then v. */
size_t ot_optim_n_buffers(const ot_optim_t *o);

/* One update of params with the mean gradient grad at learning rate lr. Weight decay (L2,
 * weights only) is added into grad first, except for adamw which decays the weights directly.
 * grad is modified. The same as ot_optim_span over [0, n) in any pieces, then
 * ot_optim_commit. */
void ot_optim_step(ot_optim_t *o, float *params, float *grad, double lr);

/* The next update (the one ot_optim_step would apply now) of elements [lo, hi) alone, with
 * their mean gradient in grad[0 .. hi - lo) (modified as by ot_optim_step), by the calling
 * thread: threads may update disjoint spans at once (the engine runs it chunk by
 * chunk as it forms the mean gradient). Each element's update reads that element alone, so
 * the pieces give the same bits as one ot_optim_step. Once every element is updated,
 * ot_optim_commit. shared: other threads read these parameters before this one writes them
 * again, so they go to memory past this core's caches (ot_stream_floats), the same bits. */
void ot_optim_span(const ot_optim_t *o, float *params, float *grad, size_t lo, size_t hi,
                   double lr, int shared);

/* Count the update ot_optim_span applied (adam's bias correction uses the count). */
void ot_optim_commit(ot_optim_t *o);

/* Learning rate of c's schedule (with warm-up) for the step with 0-based index `step`, when an
 * epoch has steps_per_epoch steps. */
double ot_schedule_lr(const ot_config_t *c, uint64_t step, size_t steps_per_epoch);

/* The keys that shape the learning rate (schedule, learning_rate, warmup_epochs, and epochs
 * for cosine, step_epochs and step_factor for step) where now differs from was, as
 * "training.epochs 2 -> 4, ..." into buf[n]; returns how many. A resumed run whose count is
 * not 0 follows another curve than the run it continues. */
size_t ot_schedule_diff(const ot_config_t *was, const ot_config_t *now, char *buf, size_t n);

/* L2 norm of grad[0..n), summed in a fixed order (chunks of fixed size, then the chunk sums in
 * order), so it is the same at any thread count. */
double ot_grad_norm(const float *grad, size_t n);

/* Scale grad so its global L2 norm is at most max_norm (0 = off). Returns the norm before. */
double ot_grad_clip(float *grad, size_t n, double max_norm);

#endif
