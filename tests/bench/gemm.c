/* gemm.c - `make bench-gemm`: the measurement behind the choice of GEMM for the training step.
 *
 * For each Affine layer of the benchmark models (a)-(d), one thread, the step's three products
 * timed three ways:
 *   own     omptrain's kernel as the engine calls it: forward and dx over all of the batch's
 *           rows, dW over the S shards with the tree formed in the kernel (ot_kgemm.h);
 *   blas/S  OpenBLAS (single-threaded) as the engine called it before: one call per shard, the
 *           S gradient blocks then added pairwise;
 *   blas/1  OpenBLAS on the whole batch in one call per product: the speed a non-reproducible
 *           trainer (the batch not split) gets.
 * and, for the first layer with the first rows of data/mnist's training images as x:
 *   sparse  omptrain's kernels as the engine runs them on mostly-zero images (forward over the
 *           nonzero pixels, dW skipping all-zero blocks of 8 pixels; the CSR built in the loop);
 *   blas/1 and blas/S on the same x, for comparison.
 * GFLOP/s is the layer's dense 2*rows*in*out per product (dx skipped for the first layer), best
 * of 5. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_data.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_tree.h"

typedef struct {
    size_t rows, in, out, S;
    int first;
    float *x, *W, *dy, *y, *dx, *Wp, *Wtp, *work, **part, *val;
    uint32_t *col, *nnz;
    size_t seg[65], roots[16];
    uint8_t merges[64];
} layer_t;

static float *block(size_t n, int fill)
{
    float *p = ot_alloc(n * sizeof(float));
    if (!p) {
        fprintf(stderr, "bench-gemm: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; fill && i < n; i++)
        p[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return p;
}

static void own(layer_t *L)
{
    ot_kpack_b(L->W, L->out, false, L->in, L->out, L->Wp, 0, SIZE_MAX);
    ot_kgemm(L->rows, L->out, L->in, L->x, L->in, L->Wp, NULL, L->y, L->out, L->work);
    float *root[1] = {L->part[0]};
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out, false};
    ot_kgemm_tn_tree(L->in, L->out, L->x, L->in, L->dy, L->out, &t, L->work);
    if (!L->first) {
        ot_kpack_b(L->W, L->out, true, L->out, L->in, L->Wtp, 0, SIZE_MAX);
        ot_kgemm(L->rows, L->in, L->out, L->dy, L->out, L->Wtp, NULL, L->dx, L->in, L->work);
    }
}

/* The first layer as the engine runs it on mostly-zero images (ds->nonzero < 0.5): the
 * sparse forward and the dW that skips all-zero feature blocks. */
static void own_sparse(layer_t *L)
{
    ot_kpack_b(L->W, L->out, false, L->in, L->out, L->Wp, 0, SIZE_MAX);
    size_t ld = L->in + OT_KCOMPRESS_SLACK;
    for (size_t r = 0; r < L->rows; r++)
        L->nnz[r] = (uint32_t)ot_kcompress(L->x + r * L->in, L->in, L->col + r * ld,
                                           L->val + r * ld);
    ot_kspmm(L->rows, L->out, L->in, L->col, L->val, ld, L->nnz, L->Wp, NULL, L->y, L->out,
             L->work);
    float *root[1] = {L->part[0]};
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out, true};
    ot_kgemm_tn_tree(L->in, L->out, L->x, L->in, L->dy, L->out, &t, L->work);
}

static void blas_shards(layer_t *L)
{
    for (size_t s = 0; s < L->S; s++) {
        size_t lo = L->seg[s], n = L->seg[s + 1] - lo;
        ot_gemm(false, false, n, L->out, L->in, 1.0f, L->x + lo * L->in, L->in, L->W, L->out,
                0.0f, L->y + lo * L->out, L->out);
        ot_gemm(true, false, L->in, L->out, n, 1.0f, L->x + lo * L->in, L->in,
                L->dy + lo * L->out, L->out, 0.0f, L->part[s], L->out);
        if (!L->first)
            ot_gemm(false, true, n, L->in, L->out, 1.0f, L->dy + lo * L->out, L->out, L->W,
                    L->out, 0.0f, L->dx + lo * L->in, L->in);
    }
    for (size_t h = 1; h < L->S; h *= 2)
        for (size_t s = 0; s + h < L->S; s += 2 * h)
            for (size_t i = 0; i < L->in * L->out; i++)
                L->part[s][i] += L->part[s + h][i];
}

static void blas_one(layer_t *L)
{
    ot_gemm(false, false, L->rows, L->out, L->in, 1.0f, L->x, L->in, L->W, L->out, 0.0f, L->y,
            L->out);
    ot_gemm(true, false, L->in, L->out, L->rows, 1.0f, L->x, L->in, L->dy, L->out, 0.0f,
            L->part[0], L->out);
    if (!L->first)
        ot_gemm(false, true, L->rows, L->in, L->out, 1.0f, L->dy, L->out, L->W, L->out, 0.0f,
                L->dx, L->in);
}

static double gflops(void (*f)(layer_t *), layer_t *L)
{
    double best = 1e30, flop = 2.0 * (double)L->rows * L->in * L->out * (L->first ? 2 : 3);
    for (int r = 0; r < 6; r++) {
        double t = ot_now();
        int reps = 0;
        do {
            f(L);
            reps++;
        } while (ot_now() - t < 0.05);
        t = (ot_now() - t) / reps;
        if (r > 0 && t < best) /* the first round warms up */
            best = t;
    }
    return flop / best / 1e9;
}

int main(void)
{
    ot_gemm_init();
    omp_set_num_threads(1);
    const struct {
        const char *model;
        size_t rows, S, n;
        size_t sizes[4];
    } models[] = {{"a", 100, 8, 3, {784, 50, 10}},
                  {"b", 100, 8, 3, {784, 100, 10}},
                  {"c", 256, 8, 4, {784, 1024, 1024, 10}},
                  {"d", 1024, 16, 4, {784, 1024, 1024, 10}}};
    ot_dataset_t mnist = {0};
    int have_mnist = ot_dataset_load(&mnist, "data/mnist/train-images-idx3-ubyte.gz",
                                     "data/mnist/train-labels-idx1-ubyte.gz", 10, 1024) == 0;
    printf("kernel: omptrain %s; BLAS: %s; one thread\n", ot_kgemm_isa(), ot_gemm_backend());
    printf("%-5s %-15s %6s %6s %8s %8s %8s %9s\n", "model", "layer", "rows", "shards", "own",
           "blas/S", "blas/1", "own/blasS");
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++)
        for (size_t l = 0; l + 1 < models[m].n; l++) {
            layer_t L = {.rows = models[m].rows, .in = models[m].sizes[l],
                         .out = models[m].sizes[l + 1], .S = models[m].S, .first = l == 0};
            L.x = block(L.rows * L.in, 1), L.W = block(L.in * L.out, 1);
            L.dy = block(L.rows * L.out, 1), L.y = block(L.rows * L.out, 0);
            L.dx = block(L.rows * L.in, 0);
            L.Wp = block(ot_kpack_size(L.in, L.out), 0);
            L.Wtp = block(ot_kpack_size(L.out, L.in), 0);
            L.work = block(ot_kgemm_work_size(L.in > L.out ? L.in : L.out) +
                               ot_kgemm_tree_work_size(L.rows, L.in, L.out, L.S, ot_tree_depth(L.S)),
                           0);
            L.part = malloc(L.S * sizeof *L.part);
            for (size_t s = 0; L.part && s < L.S; s++)
                L.part[s] = block(L.in * L.out, 0);
            for (size_t s = 0; s <= L.S; s++)
                L.seg[s] = s * L.rows / L.S;
            ot_tree_plan(L.S, 0, L.S, L.merges, L.roots);
            double g_own = gflops(own, &L), g_s = gflops(blas_shards, &L);
            double g_1 = gflops(blas_one, &L);
            char name[48];
            snprintf(name, sizeof name, "%zux%zu", L.in, L.out);
            printf("%-5s %-15s %6zu %6zu %8.1f %8.1f %8.1f %8.2fx\n", models[m].model, name,
                   L.rows, L.S, g_own, g_s, g_1, g_own / g_s);
            if (l == 0 && have_mnist && mnist.dim == L.in && mnist.n >= L.rows) {
                size_t ld = L.in + OT_KCOMPRESS_SLACK;
                uint32_t *idx = malloc(L.rows * sizeof *idx);
                int32_t *lab = malloc(L.rows * sizeof *lab);
                L.col = malloc(L.rows * ld * sizeof *L.col);
                L.val = malloc(L.rows * ld * sizeof *L.val);
                L.nnz = malloc(L.rows * sizeof *L.nnz);
                if (!idx || !lab || !L.col || !L.val || !L.nnz) {
                    fprintf(stderr, "bench-gemm: out of memory\n");
                    return 1;
                }
                for (size_t r = 0; r < L.rows; r++)
                    idx[r] = (uint32_t)r;
                ot_dataset_gather(&mnist, idx, L.rows, L.x, lab);
                double g_sp = gflops(own_sparse, &L), g_s2 = gflops(blas_shards, &L);
                g_1 = gflops(blas_one, &L);
                snprintf(name, sizeof name, "%zux%zu MNIST", L.in, L.out);
                printf("%-5s %-15s %6zu %6zu %8.1f %8.1f %8.1f %8.2fx  (own: sparse)\n",
                       models[m].model, name, L.rows, L.S, g_sp, g_s2, g_1, g_sp / g_s2);
                free(idx), free(lab), free(L.col), free(L.val), free(L.nnz);
            }
            for (size_t s = 0; s < L.S; s++)
                ot_free(L.part[s]);
            free(L.part);
            ot_free(L.x), ot_free(L.W), ot_free(L.dy), ot_free(L.y), ot_free(L.dx);
            ot_free(L.Wp), ot_free(L.Wtp), ot_free(L.work);
        }
    ot_dataset_free(&mnist);
    return 0;
}
