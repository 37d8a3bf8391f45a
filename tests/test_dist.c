/* test_dist.c - the processes of a run (src/dist.c, ot_dist.h) as a process started without
 * mpirun sees them: no world (NULL), rank 0 of 1, and every collective the identity (agree
 * returns the status it is given, max its value; broadcast, all-gather, exchange and wait
 * touch nothing); the library's name; the CPUs of the affinity mask. The calls across real
 * processes are tests/mpi.sh's (mpirun -np R). */
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_dist.h"
#include "ot_test.h"

static void test_dist_alone(void)
{
    /* a launcher's variables would make this an MPI process: the test runs without them */
    CU_ASSERT_PTR_NULL(getenv("OMPI_COMM_WORLD_SIZE"));
    CU_ASSERT_PTR_NULL(getenv("PMIX_RANK"));
    int argc = 1;
    char *args[] = {"test_omptrain", NULL}, **argv = args;
    ot_dist_t *world = (ot_dist_t *)&argc; /* overwritten: NULL for one process */
    CU_ASSERT_EQUAL(ot_dist_start(&argc, &argv, &world), OT_OK);
    CU_ASSERT_PTR_NULL(world);
    CU_ASSERT_EQUAL(argc, 1);
    CU_ASSERT_EQUAL(ot_dist_rank(world), 0);
    CU_ASSERT_EQUAL(ot_dist_size(world), 1);
    CU_ASSERT_EQUAL(ot_dist_agree(world, OT_OK), OT_OK);
    CU_ASSERT_EQUAL(ot_dist_agree(world, OT_ECONFIG), OT_ECONFIG);
    CU_ASSERT_EQUAL(ot_dist_agree(world, OT_EIO), OT_EIO);
    CU_ASSERT_EQUAL(ot_dist_max(world, 7), 7);
    CU_ASSERT_EQUAL(ot_dist_max(world, -3), -3);

    /* data movement alone: nothing moves */
    float buf[4] = {1, 2, 3, 4}, keep[4];
    memcpy(keep, buf, sizeof buf);
    size_t off[2] = {0, 4};
    ot_dist_bcast(world, buf, sizeof buf);
    ot_dist_allgather(world, buf, sizeof *buf, off);
    ot_dist_msg_t m = {buf, sizeof buf, 0, 0, 0};
    ot_dist_exchange(world, &m, 1);
    ot_dist_wait(world);
    CU_ASSERT_EQUAL(memcmp(buf, keep, sizeof buf), 0);

    ot_dist_t *sub = (ot_dist_t *)&argc;
    CU_ASSERT_EQUAL(ot_dist_split(world, 1, &sub), OT_OK);
    CU_ASSERT_PTR_NULL(sub);
    ot_dist_free(sub);
    ot_dist_end(world);
}

static void test_dist_library(void)
{
    char name[256];
    const char *s = ot_dist_library(name, sizeof name);
    CU_ASSERT_PTR_EQUAL(s, name);
#if OT_MPI
    CU_ASSERT_EQUAL(strncmp(name, "Open MPI v", 10), 0);
#else
    CU_ASSERT_STRING_EQUAL(name, "no MPI");
#endif
    CU_ASSERT_PTR_NULL(strchr(name, '\n')); /* the first line only */
    CU_ASSERT(ot_dist_cpus() >= 1);
}

OT_TEST_SUITE(dist, NULL, NULL,
              {"dist: without mpirun, one process: no world, collectives are the identity",
               test_dist_alone},
              {"dist: the library's name (its first line), the affinity mask's CPUs",
               test_dist_library})
