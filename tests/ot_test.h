/* ot_test.h - CUnit suites register themselves: each tests/test_*.c file declares its suite with
 * OT_TEST_SUITE(name, init, cleanup, {"test name", fn}, ...) and test_main.c runs them all.
 * No file lists the suites, so adding one touches nothing else. */
#ifndef OT_TEST_H
#define OT_TEST_H

#include <CUnit/CUnit.h>
#include <stddef.h>
#include <stdint.h>

#include "ot_data.h"
#include "ot_rng.h"

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

/* The same for stdout: redirected until ot_test_stdout_end(), which restores it and returns
 * what was written, malloc'd (empty when it was not redirected). */
int ot_test_stdout_begin(void);
char *ot_test_stdout_end(void);

/* Restore stderr (captured since ot_test_capture_begin()) and copy what was written into text
 * (n bytes); return the number of lines, or -1 when HDF5's own error stack ("HDF5-DIAG") or a
 * text that does not start with "omptrain: " appeared. */
int ot_test_capture_lines(char *text, size_t n);

/* Expect call to return code and to print exactly one "omptrain: " line containing needle;
 * prints the call, its status and its text when not. */
#define OT_EXPECT_ONE_LINE(call, code, needle)                                                \
    do {                                                                                      \
        char txt_[2048];                                                                      \
        ot_test_capture_begin();                                                              \
        int rc_ = (call);                                                                     \
        int lines_ = ot_test_capture_lines(txt_, sizeof txt_);                                \
        CU_ASSERT_EQUAL(rc_, code);                                                           \
        CU_ASSERT_EQUAL(lines_, 1);                                                           \
        CU_ASSERT_PTR_NOT_NULL(strstr(txt_, needle));                                         \
        if (rc_ != (code) || lines_ != 1 || !strstr(txt_, needle))                            \
            fprintf(stderr, "\n  %s -> %d, %d lines: %s", #call, rc_, lines_, txt_);        \
    } while (0)

/* The running suite's scratch directory: ot_test_scratch_init (from a suite's init) makes a
 * fresh /tmp/omptrain-TAG-XXXXXX and returns 0, or 1 when it cannot (CUnit's init failure);
 * ot_test_scratch_free (a suite's cleanup, or from one) removes it with everything under it and
 * returns 0. One suite runs at a time, so they share the one directory. */
int ot_test_scratch_init(const char *tag);
int ot_test_scratch_free(void);
extern char ot_test_scratch[64]; /* its path */

/* ot_test_scratch/name into buf (n bytes); returns buf. */
const char *ot_test_path(char *buf, size_t n, const char *name);

/* Remove path and, for a directory, everything under it (nothing when it does not exist). */
void ot_test_rm_rf(const char *path);

/* A full disk under the file at path, without filling one: from now on a pwrite(2) to it (HDF5
 * writes its files so) that ends past the size it has now fails with ENOSPC, until path NULL
 * is given, or, once set, after the first such write. Safe in a signal handler. Returns 0, or
 * -1 when path cannot be stat'd. */
int ot_test_disk_full(const char *path, int once);

/* A character device at path: the kernel's null (full 0) or full device, made by mknod
 * (root); for another user, who can neither mknod nor replace /dev/null, a symbolic link to
 * /dev/null or /dev/full. As root never such a link: a wrong write would replace the real
 * one. 0 or -1. */
int ot_test_chardev(const char *path, int full);

/* A FIFO at path, held open for reading and writing with 4 KiB of bytes in it, so that a
 * reader that opens it reads them rather than hanging the test. The open descriptor (to be
 * closed by the caller), or -1. */
int ot_test_fifo(const char *path);

/* Run fn(arg, out) in a child process, which sends out (n bytes) back and ends by exec'ing
 * /bin/true: what fn leaves behind ends with it, unseen by exit handlers and leak checkers, such
 * as a file whose flush failed, which HDF5 1.10 can neither close (it loses some of the file's
 * memory) nor clean up at exit (it crashes). fn must not use OpenMP: libgomp's threads do not
 * survive fork. Returns 0 when the child sent out whole and ended so, else -1. */
int ot_test_in_child(void (*fn)(void *arg, void *out), void *arg, void *out, size_t n);

/* ---- Numerical gradients (the layer and graph-node tests) ----
 * A layer f with output y gets the scalar loss L = sum(y * R) for a fixed random R, so
 * dL/dy = R is what backward receives. Each input is nudged by +-h and the central difference
 * of L (accumulated in double) is compared with the backward's gradient. */

typedef double (*ot_test_loss_fn)(void *ctx); /* forward, then L */

/* a[0..n) = scale * N(0, 1) from r, each value redrawn until |a[i]| >= avoid (to keep away
 * from kinks, ReLU's at 0). */
void ot_test_fill(float *a, size_t n, ot_rng_t *r, float scale, float avoid);

/* sum(y * R) over n values, in double. */
double ot_test_dot(const float *y, const float *R, size_t n);

/* Compare the analytic gradient g[0..n) of parameter p with the central difference of f (step
 * h); returns the largest relative error and asserts that g is not all zero (an all-zero
 * gradient must not pass). */
double ot_test_check_grad(float *p, const float *g, size_t n, ot_test_loss_fn f, void *ctx,
                          float h);

/* An element-wise kind's kernels: y = f(x); dx from the forward output y and dy. */
typedef void (*ot_test_act_forward)(const float *x, float *y, size_t n);
typedef void (*ot_test_act_backward)(const float *y, const float *dy, float *dx, size_t n);

/* The element-wise kind's backward against the numerical gradient on 20 values x drawn with
 * seed (2 N(0, 1), at least 0.05 from 0); returns ot_test_check_grad's largest relative
 * error. */
double ot_test_act_grad(ot_test_act_forward fwd, ot_test_act_backward bwd, uint64_t seed);

/* Directory holding test fixtures (tests/), set by the Makefile. */
#ifndef OT_TEST_DIR
#define OT_TEST_DIR "tests"
#endif

#endif
