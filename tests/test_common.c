/* test_common.c - error reporting (src/common.c): ot_error's "omptrain: " line; held messages
 * (ot_error_hold, as on the processes of a run other than the first) are not printed, then
 * printed once each with the process's name by ot_error_release(1, WHO), or dropped by
 * ot_error_release(0, ...) and not printed later. */
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_test.h"

static void test_common_error_hold(void)
{
    ot_test_capture_begin();
    ot_error("first %d", 1);
    char *out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "omptrain: first 1\n");
    free(out);

    /* held, then released with the process's name */
    ot_test_capture_begin();
    ot_error_hold(1);
    ot_error("a %s", "config error");
    ot_error("second line");
    char *held = ot_test_capture_end();
    ot_test_capture_begin();
    ot_error_release(1, "process 2 of 3 on h");
    ot_error_hold(0);
    char *released = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(held);
    CU_ASSERT_PTR_NOT_NULL_FATAL(released);
    CU_ASSERT_STRING_EQUAL(held, "");
    CU_ASSERT_STRING_EQUAL(released, "omptrain: process 2 of 3 on h: a config error\n"
                                     "omptrain: process 2 of 3 on h: second line\n");
    free(held);
    free(released);

    /* held, then dropped: nothing now, nothing at the next release */
    ot_test_capture_begin();
    ot_error_hold(1);
    ot_error("dropped");
    ot_error_release(0, NULL);
    ot_error_release(1, NULL);
    ot_error_hold(0);
    ot_error("after");
    out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    CU_ASSERT_STRING_EQUAL(out, "omptrain: after\n");
    free(out);

    /* more than the 4 KiB kept: cut, never past the buffer, and the hold still works */
    ot_test_capture_begin();
    ot_error_hold(1);
    char big[1500];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 5; i++)
        ot_error("%s", big);
    ot_error_release(1, NULL);
    ot_error_hold(0);
    out = ot_test_capture_end();
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    size_t lines = 0;
    for (const char *p = out; (p = strchr(p, '\n')); p++)
        lines++;
    CU_ASSERT(lines >= 2 && lines <= 5);
    CU_ASSERT(strlen(out) < 4096 + lines * strlen("omptrain: \n"));
    free(out);
}

OT_TEST_SUITE(common, NULL, NULL,
              {"common: ot_error; messages held, released once with the process's name, or "
               "dropped", test_common_error_hold})
