/* ot_test.h - CUnit suites register themselves: each tests/test_*.c file declares its suite with
 * OT_TEST_SUITE(name, init, cleanup, {"test name", fn}, ...) and test_main.c runs them all.
 * No file lists the suites, so adding one touches nothing else. */
#ifndef OT_TEST_H
#define OT_TEST_H

#include <CUnit/CUnit.h>
#include <stdint.h>

#include "ot_data.h"

typedef struct {
    const char *name;
    CU_TestFunc fn;
} ot_test_case_t;

typedef struct ot_test_suite {
    const char *name;
    CU_InitializeFunc init;
    CU_CleanupFunc cleanup;
    const ot_test_case_t *cases;
    struct ot_test_suite *next;
} ot_test_suite_t;

void ot_test_register(ot_test_suite_t *s);

#define OT_TEST_SUITE(sname, sinit, sclean, ...)                                        \
    static const ot_test_case_t ot_cases_##sname[] = {__VA_ARGS__, {NULL, NULL}};        \
    static ot_test_suite_t ot_suite_##sname = {#sname, sinit, sclean, ot_cases_##sname,   \
                                               NULL};                                     \
    __attribute__((constructor)) static void ot_register_##sname(void)                    \
    {                                                                                     \
        ot_test_register(&ot_suite_##sname);                                              \
    }

/* Fill ds with n random images (rows x cols) and labels in [0, classes); free with
 * ot_dataset_free(). Returns 0 or -1 when out of memory. */
int ot_test_dataset(ot_dataset_t *ds, size_t n, size_t rows, size_t cols, int classes,
                    uint64_t seed);

/* Redirect stderr into a temporary file (0, or -1 on failure) until ot_test_capture_end(),
 * which restores it and returns what was written, malloc'd (NULL only when out of memory). */
int ot_test_capture_begin(void);
char *ot_test_capture_end(void);

/* Directory holding test fixtures (tests/), set by the Makefile. */
#ifndef OT_TEST_DIR
#define OT_TEST_DIR "tests"
#endif

#endif
