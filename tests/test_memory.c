/* test_memory.c - the run's memory before it is spent (src/memory.c): what the machine offers
 * and who says so, the estimate's parts adding up (and the step's equal to what the engine
 * allocates), the refusal with both figures and the warning near the limit. The estimate
 * against measured peaks is tests/memory.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_engine.h"
#include "ot_memory.h"
#include "ot_test.h"

static void test_available(void)
{
    const char *what = NULL;
    unsetenv("OMPTRAIN_MEMORY_LIMIT");
    double a = ot_mem_available(&what);
    CU_ASSERT(a > 1e6 && what != NULL);
    setenv("OMPTRAIN_MEMORY_LIMIT", "123456789", 1);
    CU_ASSERT_EQUAL(ot_mem_available(&what), 123456789.0);
    CU_ASSERT_STRING_EQUAL(what, "OMPTRAIN_MEMORY_LIMIT");
    setenv("OMPTRAIN_MEMORY_LIMIT", "garbage", 1); /* not a number: the machine's figure */
    CU_ASSERT(ot_mem_available(NULL) > 1e6);
    unsetenv("OMPTRAIN_MEMORY_LIMIT");
}

static void test_estimate_adds_up(void)
{
    ot_config_t c;
    ot_config_defaults(&c);
    c.n_classes = 4;
    c.batch_size = 8;
    c.optimizer = OT_OPT_ADAM;
    CU_ASSERT_FATAL(ot_config_set(&c, "model.layers=conv 3 3x3, relu, maxpool 2, affine 4") == 0);
    ot_dataset_t train, test;
    CU_ASSERT_FATAL(ot_test_dataset(&train, 40, 6, 6, 4, 1) == 0);
    CU_ASSERT_FATAL(ot_test_dataset(&test, 10, 6, 6, 4, 2) == 0);
    ot_net_t net;
    CU_ASSERT_FATAL(ot_net_layout(&net, &c, &(ot_shape_t){1, 6, 6, 0}) == OT_OK);
    CU_ASSERT_PTR_NULL(net.params); /* laid out, nothing allocated */
    ot_mem_t m;
    ot_mem_estimate(&m, &c, &net, &train, &test, 2, 3, 4);
    /* the step's bytes, and each thread's own (stack, TLS, libgomp's): 68-71 KiB measured */
    const double own = m.engine - ot_engine_bytes(&net, 8, 4, 3);
    CU_ASSERT(own >= 3 * 64.0 * 1024.0 && own <= 3 * 128.0 * 1024.0);
    CU_ASSERT_EQUAL(m.optimizer, 2.0 * (double)net.n_params * sizeof(float));
    CU_ASSERT(m.data >= 50.0 * 37.0); /* 50 images of 36 bytes and their labels */
    double sum = m.base + m.data + m.model + m.optimizer + m.engine + m.checkpoint;
    CU_ASSERT(m.total >= sum && m.total >= m.base + m.loading);
    /* more threads, more workspaces; more shards, more gradient blocks */
    /* in a process mpirun started, Open MPI's own memory too (measured 7-11 MB) */
    ot_mem_t mpi;
    CU_ASSERT_FATAL(getenv("OMPI_COMM_WORLD_SIZE") == NULL && getenv("PMIX_RANK") == NULL);
    CU_ASSERT_FATAL(setenv("OMPI_COMM_WORLD_SIZE", "2", 1) == 0);
    ot_mem_estimate(&mpi, &c, &net, &train, &test, 2, 3, 4);
    unsetenv("OMPI_COMM_WORLD_SIZE");
    CU_ASSERT_DOUBLE_EQUAL(mpi.base - m.base, 9.0 * 1048576.0, 1.0);
    CU_ASSERT_DOUBLE_EQUAL(mpi.total - m.total, 9.0 * 1048576.0, 1.0);
    CU_ASSERT(ot_engine_bytes(&net, 8, 4, 4) > m.engine - own);
    CU_ASSERT(ot_engine_bytes(&net, 8, 8, 3) > m.engine - own);
    /* the same samples as floats (HDF5 float features) hold 4 bytes each, not 1 (the estimate
     * counted a byte until 2026-12: a 1.2 GB float set was estimated at 326 MB) */
    const double bytes_data = m.data;
    free(train.images);
    train.images = NULL;
    CU_ASSERT_FATAL((train.features = calloc(40 * 36, sizeof(float))) != NULL);
    ot_mem_estimate(&m, &c, &net, &train, &test, 2, 3, 4);
    CU_ASSERT_DOUBLE_EQUAL(m.data - bytes_data, 40.0 * 36.0 * 3.0, 1e-9);
    ot_dataset_free(&train);
    ot_dataset_free(&test);
}

static void test_check(void)
{
    ot_mem_t m = {.base = 1e6, .data = 2e6, .model = 3e6, .optimizer = 1e6, .engine = 5e6,
                  .checkpoint = 1e6, .total = 13e6};
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int ok = ot_mem_check(&m, 100e6, "a.ini");
    char *quiet = ot_test_capture_end();
    CU_ASSERT_EQUAL(ok, OT_OK);
    CU_ASSERT(quiet && quiet[0] == '\0');
    free(quiet);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int near = ot_mem_check(&m, 11e6, "a.ini"); /* needs 10 MB of 11 */
    char *warn = ot_test_capture_end();
    CU_ASSERT_EQUAL(near, OT_OK);
    CU_ASSERT(warn && strstr(warn, "warning: a.ini: the run needs about 10 MB more, 91%"));
    free(warn);
    CU_ASSERT_FATAL(ot_test_capture_begin() == 0);
    int no = ot_mem_check(&m, 5e6, "a.ini");
    char *err = ot_test_capture_end();
    CU_ASSERT_EQUAL(no, OT_ECONFIG);
    CU_ASSERT(err && strstr(err, "a.ini: the run needs about 10 MB more") &&
              strstr(err, "but 5 MB is available"));
    free(err);
    CU_ASSERT_EQUAL(ot_mem_check(&m, 0.0, "a.ini"), OT_OK); /* unknown: no judgement */
}

OT_TEST_SUITE(memory, NULL, NULL,
              {"what is available, and who says so", test_available},
              {"the estimate's parts add up; the step's is the engine's and the threads'",
               test_estimate_adds_up},
              {"refused with both figures; a warning over 80%", test_check})
