/* test_outdir.c - a run's output directory (src/outdir.c): its default name, making it with
 * its parents, and refusing one that cannot take files. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ot_common.h"
#include "ot_config.h"
#include "ot_outdir.h"
#include "ot_test.h"

static int setup(void)
{
    return ot_test_scratch_init("outdir");
}

static void test_output_dir(void)
{
    char dir[256], p[300];
    ot_config_t c;
    ot_config_defaults(&c);
    snprintf(c.path, sizeof c.path, "configs/mnist.ini");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/mnist");
    snprintf(c.path, sizeof c.path, "my.conf");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "runs/my.conf");
    snprintf(c.out_dir, sizeof c.out_dir, "/tmp/x");
    CU_ASSERT_EQUAL(ot_output_dir(&c, p, sizeof p), 0);
    CU_ASSERT_STRING_EQUAL(p, "/tmp/x");

    /* parents are made */
    ot_test_path(dir, sizeof dir, "out/a/b/c");
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0);
    struct stat st;
    CU_ASSERT(stat(dir, &st) == 0 && S_ISDIR(st.st_mode));
    CU_ASSERT_EQUAL(ot_output_dir_prepare(dir), 0); /* and an existing one is fine */
    /* under a regular file: even root cannot */
    ot_test_path(p, sizeof p, "regular");
    FILE *f = fopen(p, "w");
    CU_ASSERT_FATAL(f != NULL);
    fclose(f);
    ot_test_path(dir, sizeof dir, "regular/sub");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(dir), OT_EIO, "Not a directory");
    OT_EXPECT_ONE_LINE(ot_output_dir_prepare(p), OT_EIO, "Not a directory");
}

OT_TEST_SUITE(outdir, setup, ot_test_scratch_free,
              {"output directory", test_output_dir})
