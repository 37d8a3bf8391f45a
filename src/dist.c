/* dist.c - the processes of a run (ot_dist.h): Open MPI when mpirun launched this process,
 * else one process. The only file that calls MPI. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "ot_dist.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ot_common.h"

#ifndef OT_MPI
#define OT_MPI 0
#endif
#if OT_MPI
#include <mpi.h>
#endif

struct ot_dist {
    int rank, size; /* this process's number, how many */
#if OT_MPI
    MPI_Comm comm;  /* MPI_COMM_WORLD, or a split of it */
    int owns;       /* comm is a split: ot_dist_free frees it */
    int *counts, *displs; /* (size) ot_dist_allgather's scratch, main thread only */
#endif
};

/* Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE, PMIx launchers (mpirun too, Slurm's srun
 * --mpi=pmix) PMIX_RANK. */
int ot_dist_launched(void)
{
    return getenv("OMPI_COMM_WORLD_SIZE") != NULL || getenv("PMIX_RANK") != NULL;
}

int ot_dist_rank(const ot_dist_t *d)
{
    return d ? d->rank : 0;
}

int ot_dist_size(const ot_dist_t *d)
{
    return d ? d->size : 1;
}

int ot_dist_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
}

int ot_dist_bound(void)
{
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    const int cpus = ot_dist_cpus();
    return cpus > 0 && online > 0 && cpus < online;
}

#if OT_MPI

/* A world over comm, with its scratch; NULL when out of memory. */
static ot_dist_t *make(MPI_Comm comm, int owns)
{
    ot_dist_t *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->comm = comm;
    d->owns = owns;
    MPI_Comm_rank(comm, &d->rank);
    MPI_Comm_size(comm, &d->size);
    d->counts = calloc((size_t)d->size, sizeof(int));
    d->displs = calloc((size_t)d->size, sizeof(int));
    if (!d->counts || !d->displs) {
        free(d->counts);
        free(d->displs);
        free(d);
        return NULL;
    }
    return d;
}

int ot_dist_start(int *argc, char ***argv, ot_dist_t **world)
{
    *world = NULL;
    if (!ot_dist_launched())
        return OT_OK;
    int provided = 0;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        ot_error("MPI_Init_thread failed: cannot start the processes of this run");
        return OT_ECONFIG;
    }
    ot_dist_t *d = make(MPI_COMM_WORLD, 0);
    if (!d || provided < MPI_THREAD_FUNNELED) {
        int rank = 0;
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        if (rank == 0)
            ot_error(d ? "the MPI library gives thread support level %d, expected at least "
                         "MPI_THREAD_FUNNELED (%d) for OpenMP threads in each process"
                       : "cannot allocate the processes' table (level %d of %d)",
                     provided, MPI_THREAD_FUNNELED);
        ot_dist_free(d);
        MPI_Finalize();
        return OT_ECONFIG;
    }
    if (d->rank > 0)
        ot_error_hold(1);
    *world = d;
    return OT_OK;
}

void ot_dist_end(ot_dist_t *world)
{
    if (!world)
        return;
    ot_dist_free(world);
    MPI_Finalize();
}

const char *ot_dist_library(char *buf, size_t n)
{
    char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[len < MPI_MAX_LIBRARY_VERSION_STRING ? len : MPI_MAX_LIBRARY_VERSION_STRING - 1] = '\0';
    v[strcspn(v, ",\n")] = '\0';
    snprintf(buf, n, "%s", v);
    return buf;
}

int ot_dist_agree(const ot_dist_t *d, int rc)
{
    if (!d || d->size == 1)
        return rc;
    /* the first failing process, then its status from it: integers, so the reduction's
     * order does not matter */
    int mine = rc ? d->rank : d->size, first = d->size, code = rc;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, d->comm);
    if (first == d->size) {
        ot_error_release(0, NULL);
        return OT_OK;
    }
    MPI_Bcast(&code, 1, MPI_INT, first, d->comm);
    if (first == d->rank && first != 0) {
        char host[MPI_MAX_PROCESSOR_NAME], who[MPI_MAX_PROCESSOR_NAME + 64];
        int len = 0;
        MPI_Get_processor_name(host, &len);
        snprintf(who, sizeof who, "process %d of %d on %s", d->rank, d->size, host);
        ot_error_release(1, who);
    } else {
        ot_error_release(0, NULL);
    }
    return code;
}

int ot_dist_max(const ot_dist_t *d, int v)
{
    if (!d || d->size == 1)
        return v;
    int out = v;
    MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, d->comm);
    return out;
}

void ot_dist_bcast(const ot_dist_t *d, void *buf, size_t bytes)
{
    if (!d || d->size == 1)
        return;
    for (size_t done = 0; done < bytes;) { /* in pieces an int counts */
        size_t n = bytes - done < INT_MAX ? bytes - done : INT_MAX;
        MPI_Bcast((char *)buf + done, (int)n, MPI_BYTE, 0, d->comm);
        done += n;
    }
}

/* Wait for the n requests of req, yielding the core between tests rather than spinning in
 * MPI_Waitall: when two processes of a run share a core (mpirun --oversubscribe, or a machine
 * busy with other work), a process spinning for its partner's message holds the core the
 * partner needs to send it, for a whole scheduler time slice (measured here: 20-25 ms per
 * step instead of well under 1 ms). sched_yield returns at once when nothing else waits. */
static void wait_all(int n, MPI_Request *req)
{
    int done = 0;
    for (;;) {
        MPI_Testall(n, req, &done, MPI_STATUSES_IGNORE);
        if (done)
            return;
        sched_yield();
    }
}

/* A fatal error of this module's own (MPI's are fatal through its error handler): say it and
 * end the job, as MPI would. */
static void fail(const ot_dist_t *d, const char *what)
{
    ot_error_hold(0);
    ot_error("process %d of %d: %s; ending the job", d->rank, d->size, what);
    MPI_Abort(d->comm, 1);
}

void ot_dist_allgather(const ot_dist_t *d, void *buf, size_t unit, const size_t *off)
{
    if (!d || d->size == 1)
        return;
    for (int q = 0; q < d->size; q++) {
        if (off[q + 1] - off[q] > INT_MAX || off[q] > INT_MAX)
            fail(d, "a part of an all-gather is larger than an int counts");
        d->counts[q] = (int)(off[q + 1] - off[q]);
        d->displs[q] = (int)off[q];
    }
    if (unit > INT_MAX)
        fail(d, "an all-gather's item is larger than an int counts");
    MPI_Datatype t;
    MPI_Type_contiguous((int)unit, MPI_BYTE, &t);
    MPI_Type_commit(&t);
    MPI_Request r;
    MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, d->counts, d->displs, t, d->comm,
                    &r);
    wait_all(1, &r);
    MPI_Type_free(&t);
}

void ot_dist_exchange(const ot_dist_t *d, const ot_dist_msg_t *m, size_t n)
{
    if (!d || d->size == 1 || n == 0)
        return;
    MPI_Request *req = malloc(n * sizeof *req);
    if (!req)
        fail(d, "cannot allocate the requests of a gradient exchange");
    /* receives first, so that a send finds its receive posted */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            if (m[i].send != pass)
                continue;
            if (m[i].bytes > INT_MAX)
                fail(d, "a message is larger than an int counts");
            if (m[i].send)
                MPI_Isend(m[i].buf, (int)m[i].bytes, MPI_BYTE, m[i].peer, m[i].tag, d->comm,
                          &req[i]);
            else
                MPI_Irecv(m[i].buf, (int)m[i].bytes, MPI_BYTE, m[i].peer, m[i].tag, d->comm,
                          &req[i]);
        }
    wait_all((int)n, req);
    free(req);
}

int ot_dist_split(const ot_dist_t *d, int n, ot_dist_t **sub)
{
    *sub = NULL;
    if (!d)
        return OT_OK;
    MPI_Comm c = MPI_COMM_NULL;
    MPI_Comm_split(d->comm, d->rank < n ? 0 : MPI_UNDEFINED, d->rank, &c);
    if (c == MPI_COMM_NULL)
        return OT_OK;
    if (!(*sub = make(c, 1))) {
        MPI_Comm_free(&c);
        ot_error("cannot allocate a world of %d processes", n);
        return OT_ENOMEM;
    }
    return OT_OK;
}

void ot_dist_free(ot_dist_t *d)
{
    if (!d)
        return;
    if (d->owns)
        MPI_Comm_free(&d->comm);
    free(d->counts);
    free(d->displs);
    free(d);
}

void ot_dist_wait(const ot_dist_t *d)
{
    if (!d || d->size == 1)
        return;
    MPI_Request r;
    int done = 0;
    MPI_Ibarrier(d->comm, &r);
    for (;;) {
        MPI_Test(&r, &done, MPI_STATUS_IGNORE);
        if (done)
            return;
        nanosleep(&(struct timespec){0, 1000000}, NULL); /* 1 ms */
    }
}

#else /* one process: no MPI in this build */

int ot_dist_start(int *argc, char ***argv, ot_dist_t **world)
{
    (void)argc, (void)argv;
    *world = NULL;
    if (!ot_dist_launched())
        return OT_OK;
    /* every process would say it: only the first does */
    const char *r = getenv("OMPI_COMM_WORLD_RANK");
    if (!r || strcmp(r, "0") == 0)
        ot_error("started by mpirun, but this omptrain was built without MPI (OT_MPI=0: "
                 "libopenmpi-dev was missing when it was built); run scripts/setup.sh, then "
                 "make clean all");
    return OT_ECONFIG;
}

void ot_dist_end(ot_dist_t *world)
{
    (void)world;
}

const char *ot_dist_library(char *buf, size_t n)
{
    snprintf(buf, n, "no MPI");
    return buf;
}

int ot_dist_agree(const ot_dist_t *d, int rc)
{
    (void)d;
    return rc;
}

int ot_dist_max(const ot_dist_t *d, int v)
{
    (void)d;
    return v;
}

void ot_dist_bcast(const ot_dist_t *d, void *buf, size_t bytes)
{
    (void)d, (void)buf, (void)bytes;
}

void ot_dist_allgather(const ot_dist_t *d, void *buf, size_t unit, const size_t *off)
{
    (void)d, (void)buf, (void)unit, (void)off;
}

void ot_dist_exchange(const ot_dist_t *d, const ot_dist_msg_t *m, size_t n)
{
    (void)d, (void)m, (void)n;
}

int ot_dist_split(const ot_dist_t *d, int n, ot_dist_t **sub)
{
    (void)d, (void)n;
    *sub = NULL;
    return OT_OK;
}

void ot_dist_free(ot_dist_t *d)
{
    (void)d;
}

void ot_dist_wait(const ot_dist_t *d)
{
    (void)d;
}

#endif
