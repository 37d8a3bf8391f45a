/* ot_dist.h - the processes of a run. Under mpirun (Open MPI) a run is R processes, each
 * taking a contiguous part of every batch's shards (ot_engine.h) with its own threads; without
 * mpirun it is one process and MPI is never started, so a plain ./omptrain starts as fast as
 * it always did. A build without MPI (make OT_MPI=0, or no libopenmpi-dev when it was built)
 * has the same interface with one process, and refuses to run under mpirun.
 *
 * Every operation here that combines processes moves data only (gather, broadcast, point to
 * point) or combines integers: the arithmetic on floats stays in the engine, in the order of
 * the shard tree, so that the result does not depend on how MPI chose to combine.
 *
 * All calls are made by the process's main thread (MPI_THREAD_FUNNELED), every process
 * making the same collective calls in the same order. A NULL ot_dist_t is one process alone.
 * MPI's own failures (a process that died, a broken link) end the whole job with MPI's
 * message: its default error handler, which this module keeps. */
#ifndef OT_DIST_H
#define OT_DIST_H

#include <stddef.h>

typedef struct ot_dist ot_dist_t;

/* Start the world: MPI_Init_thread (funneled) when the environment says that mpirun (or
 * another PMIx launcher) started this process, else a world of one process without MPI.
 * Messages from processes other than the first are held back from then on (ot_error_hold),
 * for ot_dist_agree to print once. Returns 0 with *world set (NULL for one process without
 * MPI), or OT_ECONFIG when launched by mpirun but built without MPI, or when MPI cannot give
 * the thread support needed (message printed). */
int ot_dist_start(int *argc, char ***argv, ot_dist_t **world);

/* End the world (MPI_Finalize); safe on NULL. */
void ot_dist_end(ot_dist_t *world);

/* This process's number (0 = the first: it prints and writes files) and how many there are;
 * 0 and 1 for NULL. */
int ot_dist_rank(const ot_dist_t *d);
int ot_dist_size(const ot_dist_t *d);

/* "Open MPI v4.1.4" (the library's version string, first line) or "no MPI", into buf. */
const char *ot_dist_library(char *buf, size_t n);

/* Collective: every process's status; returns the status of the first process (in rank order)
 * whose rc is not 0, or 0, to every process. That process's held-back messages are printed
 * (the first process printed its own already), prefixed with its rank and host; the others'
 * are dropped. So an error that every process meets is printed once, and one that a single
 * process meets is printed by that one. Without MPI: rc. */
int ot_dist_agree(const ot_dist_t *d, int rc);

/* Collective: the largest v over the processes (integers: exact in any order). */
int ot_dist_max(const ot_dist_t *d, int v);

/* Collective: the bytes at buf of the first process, to every process. */
void ot_dist_bcast(const ot_dist_t *d, void *buf, size_t bytes);

/* Collective: process q holds items [off[q], off[q+1]) of buf, each `unit` bytes (off has
 * size + 1 entries, increasing); afterwards every process holds them all. Data movement only
 * (MPI_Iallgatherv in place, waited for without holding the core: see ot_dist_exchange). Each
 * process's part must fit an int count of items. */
void ot_dist_allgather(const ot_dist_t *d, void *buf, size_t unit, const size_t *off);

/* One message of ot_dist_exchange: bytes at buf, to or from process peer. */
typedef struct {
    void *buf;
    size_t bytes; /* at most INT_MAX */
    int peer;     /* the other process */
    int tag;      /* matches a send with its receive */
    int send;     /* 1 send buf, 0 receive into buf */
} ot_dist_msg_t;

/* Post every message of m (non-blocking sends and receives) and wait for all of them; the
 * matching messages must be posted by the peers. The wait tests and yields the core in turn
 * (sched_yield) rather than spinning, so that processes sharing a core do not each hold it
 * for a time slice while the other has the message to send. */
void ot_dist_exchange(const ot_dist_t *d, const ot_dist_msg_t *m, size_t n);

/* Collective over d: a world of d's first n processes (n <= size). Returns it in *sub for
 * those (NULL for the others, who take no part in it). Returns 0 or OT_ENOMEM. */
int ot_dist_split(const ot_dist_t *d, int n, ot_dist_t **sub);

/* Free a world from ot_dist_split; safe on NULL. */
void ot_dist_free(ot_dist_t *d);

/* Collective: wait for every process of d, sleeping rather than spinning, so that a process
 * with nothing to do leaves the cores to those at work (the bench's idle processes). */
void ot_dist_wait(const ot_dist_t *d);

/* Whether a launcher (mpirun, srun) started this process as one of a job, so that omptrain
 * starts MPI (an omptrain built without MPI then refuses to run). */
int ot_dist_launched(void);

/* The CPUs this process may run on (its affinity mask: mpirun binds each process to a core
 * by default), 0 when unknown. */
int ot_dist_cpus(void);

/* Whether this process is held to fewer CPUs than the machine has online (mpirun's binding,
 * taskset): 1, else 0 (unknown: 0). */
int ot_dist_bound(void);

#endif
