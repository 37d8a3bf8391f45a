/* test_main.c - runs every self-registered CUnit suite; a suite name filter may be given:
 *   build/test_omptrain [SUITE]   */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "ot_test.h"

static ot_test_suite_t *suites;

void ot_test_register(ot_test_suite_t *s)
{
    /* constructors run in link order; keep registration order stable by appending */
    ot_test_suite_t **p = &suites;
    while (*p)
        p = &(*p)->next;
    s->next = NULL;
    *p = s;
}

int main(int argc, char **argv)
{
    const char *only = argc > 1 ? argv[1] : NULL;
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    for (ot_test_suite_t *s = suites; s; s = s->next) {
        if (only && strcmp(only, s->name) != 0)
            continue;
        CU_pSuite cs = CU_add_suite(s->name, s->init, s->cleanup);
        if (!cs)
            goto fail;
        for (const ot_test_case_t *t = s->cases; t->name; t++)
            if (!CU_add_test(cs, t->name, t->fn))
                goto fail;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed() +
                      CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    if (run == 0) {
        fprintf(stderr, "no test ran\n");
        return 1;
    }
    return failed ? 1 : 0;
fail:
    fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 1;
}
