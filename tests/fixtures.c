/* fixtures.c - shared test helpers: a small random data set held in memory, stderr capture. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ot_rng.h"
#include "ot_test.h"

int ot_test_dataset(ot_dataset_t *ds, size_t n, size_t rows, size_t cols, int classes,
                    uint64_t seed)
{
    ot_rng_t r;
    ot_rng_seed(&r, seed);
    ds->n = n;
    ds->rows = rows;
    ds->cols = cols;
    ds->dim = rows * cols;
    ds->n_classes = classes;
    ds->images = malloc(n * ds->dim);
    ds->labels = malloc(n);
    if (!ds->images || !ds->labels)
        return -1;
    for (size_t i = 0; i < n * ds->dim; i++)
        ds->images[i] = (uint8_t)ot_rng_below(&r, 256);
    for (size_t i = 0; i < n; i++)
        ds->labels[i] = (uint8_t)ot_rng_below(&r, (uint64_t)classes);
    ds->nonzero = ot_nonzero_fraction(ds->images, n * ds->dim);
    return 0;
}

/* stderr is redirected into a temporary file between ot_test_capture_begin() and
 * ot_test_capture_end(). */
static FILE *cap_file;
static int cap_saved = -1;

int ot_test_capture_begin(void)
{
    fflush(stderr);
    cap_file = tmpfile();
    if (!cap_file)
        return -1;
    cap_saved = dup(STDERR_FILENO);
    if (cap_saved < 0 || dup2(fileno(cap_file), STDERR_FILENO) < 0) {
        fclose(cap_file);
        return -1;
    }
    return 0;
}

/* Restore stderr; returns what was written, malloc'd (never NULL unless out of memory). */
char *ot_test_capture_end(void)
{
    fflush(stderr);
    dup2(cap_saved, STDERR_FILENO);
    close(cap_saved);
    cap_saved = -1;
    long n = ftell(cap_file);
    char *text = malloc(n > 0 ? (size_t)n + 1 : 1);
    if (text) {
        rewind(cap_file);
        size_t got = n > 0 ? fread(text, 1, (size_t)n, cap_file) : 0;
        text[got] = '\0';
    }
    fclose(cap_file);
    return text;
}
