/* fixtures.c - shared test data: a small random data set held in memory. */
#include <stdlib.h>

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
    return 0;
}
