/* ot_train.h - the training loop: data, network, engine and the run's position, in one state
 * that checkpoints save and resume restores. */
#ifndef OT_TRAIN_H
#define OT_TRAIN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_config.h"
#include "ot_data.h"
#include "ot_engine.h"
#include "ot_input.h"
#include "ot_memory.h"
#include "ot_net.h"
#include "ot_optim.h"
#include "ot_rng.h"

typedef struct {
    int epoch;            /* 1-based epoch number */
    double train_loss;    /* mean loss over the epoch's training batches (running) */
    double train_acc;     /* accuracy over the epoch's training batches (running) */
    double test_loss;     /* mean loss on the test set after the epoch */
    double test_acc;      /* accuracy on the test set after the epoch */
    double val_loss;      /* mean loss on the validation split (NAN without one) */
    double val_acc;       /* accuracy on the validation split (NAN without one) */
    double lr;            /* learning rate of the epoch's last step */
    double seconds;       /* wall time of the epoch's training steps and test pass */
    double samples_per_s; /* training samples per second of training-step time */
    int threads;          /* OpenMP threads used */
} ot_epoch_stats_t;

typedef struct {
    ot_config_t cfg;        /* effective configuration */
    ot_dataset_t train;     /* training set */
    ot_dataset_t test;      /* test set */
    ot_dataset_t val;       /* validation split: a view of train's last samples (not owned) */
    ot_input_t input;       /* sample shape and standardisation (fitted on train), applied to
                               train, val and test */
    ot_net_t net;           /* network and its parameters */
    ot_engine_t eng;        /* data-parallel step */
    ot_optim_t optim;       /* optimizer and its state */
    ot_rng_t rng;           /* shuffle stream, advanced once per epoch */
    uint32_t *order;        /* (train.n) data order of the current epoch */
    int threads;            /* OpenMP threads */
    int epoch;              /* epochs completed */
    size_t batch_in_epoch;  /* batches done in the current epoch; 0 at an epoch boundary */
    uint64_t step;          /* optimizer steps done */
    double step_lr;         /* learning rate of the step under way (its update runs inside
                               the engine's step: ot_step_hook_t) */
    uint64_t samples_seen;  /* training samples processed */
    double epoch_loss;      /* summed loss of the current epoch so far */
    uint64_t epoch_correct; /* correct predictions of the current epoch so far */
    float *step_loss;       /* (batches per epoch) mean loss of each step of this epoch */
    double best_val_loss;   /* early stopping: best validation loss so far (INFINITY: none) */
    int best_epoch;         /* early stopping: epoch that reached it (0: none) */
    float *best_params;     /* early stopping: parameters at best_epoch (n_params), or NULL */
    float *best_state;      /* early stopping: running statistics at best_epoch (n_state) */
    int stopped;            /* early stopping ended the run; the best parameters are restored */
    ot_mem_t mem;           /* the run's estimated peak memory (ot_memory.h) */
    double mem_available;   /* what the machine offered when it was checked (0: unknown) */
    volatile sig_atomic_t *interrupt; /* polled between steps: non-zero ends the epoch early
                                         with OT_EINTR (a signal handler sets it); may be NULL.
                                         With other processes (t->eng.dist) any one's stops
                                         all after the same step, and the signal is written
                                         here in each */
} ot_trainer_t;

/* Stream seeds derived from the config seed, one per purpose. */
#define OT_SEED_INIT(seed) ((seed) ^ 0x1417ull)
#define OT_SEED_SHUFFLE(seed) ((seed) ^ 0x5a4ffull)

/* Load the data sets, hold out the validation split, check them against the model (input
#include "ot_input.h"
#include "ot_memory.h"
 * count (shards = 0 in the config means one shard per thread). Returns 0, OT_ECONFIG (data do
 * not fit the config), OT_EIO/OT_EFORMAT (data files) or OT_ENOMEM; message printed. */
int ot_trainer_init(ot_trainer_t *t, const ot_config_t *c, int threads);
/* (c must have passed ot_config_check.) */

/* Release everything; safe on a zeroed trainer. */
void ot_trainer_free(ot_trainer_t *t);

/* A checkpoint's standardisation (its /input, taken over: *in is t's afterwards) in place of
 * the one t fitted, applied to the training, validation and test sets (resume, gradcheck). */
void ot_trainer_use_input(ot_trainer_t *t, ot_input_t *in);

/* Batches in one epoch (the last one may be short). */
size_t ot_trainer_batches(const ot_trainer_t *t);

/* Called after every step with the steps done in this epoch, for progress reports. */
typedef void (*ot_progress_fn)(const ot_trainer_t *t, size_t done, size_t total, void *arg);

/* Run (the rest of) one epoch: shuffle at its start (unless resuming mid-epoch), one optimizer
 * step per batch (gradient, clipping, scheduled learning rate), then evaluate on the validation
 * split and the test set and fill st. With early stopping, keeps the best parameters and sets
 * t->stopped (restoring them) once training.patience epochs brought no better validation loss.
 * progress may be NULL. Returns 0, OT_ENUM when the loss stops being finite or exceeds
 * training.divergence_loss (the message names the epoch and step; that step is not applied), or OT_EINTR when *t->interrupt was set:
 * the current step finished and the position (batch_in_epoch) says where to resume. */
int ot_trainer_epoch(ot_trainer_t *t, ot_epoch_stats_t *st, ot_progress_fn progress, void *arg);

#endif
