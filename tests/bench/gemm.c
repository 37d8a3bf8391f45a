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
 *   sparse  omptrain's kernels as the engine runs them on mostly-zero images (the gather that
 *           lists the nonzero pixels by row and by column, in the loop; the forward and dW
 *           over those pixels only, W read in place);
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
    float *x, *W, *dy, *y, *dx, *Wp, *Wtp, *work, **part;
    const ot_dataset_t *ds;
    uint32_t *idx, *ends;
    int32_t *lab;
    ot_sparse_batch_t sb;
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
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out};
    ot_kgemm_tn_tree(L->in, L->out, L->x, L->in, L->dy, L->out, &t, L->work);
    if (!L->first) {
        ot_kpack_b(L->W, L->out, true, L->out, L->in, L->Wtp, 0, SIZE_MAX);
        ot_kgemm(L->rows, L->in, L->out, L->dy, L->out, L->Wtp, NULL, L->dx, L->in, L->work);
    }
}

/* The first layer as the engine runs it on mostly-zero images (ds->nonzero < 0.5): the sparse
 * gather, forward and dW. */
static void own_sparse(layer_t *L)
{
    ot_sparse_batch_t sb = L->sb;
    memset(sb.col_n, 0, L->in * sizeof *sb.col_n);
    for (size_t s = 0; s < L->S; s++) { /* shard by shard: where each leaf ends */
        const size_t lo = L->seg[s];
        sb.row_n = L->sb.row_n + lo;
        sb.row_pix = L->sb.row_pix + lo;
        sb.row_val = L->sb.row_val + lo;
        sb.pix_buf = L->sb.pix_buf + lo * sb.ld;
        sb.val_buf = L->sb.val_buf + lo * sb.ld;
        sb.first = lo;
        ot_dataset_gather_sparse(L->ds, L->idx + lo, L->seg[s + 1] - lo, &sb, L->lab + lo);
        memcpy(L->ends + s * L->in, sb.col_n, L->in * sizeof *sb.col_n);
    }
    const ot_krows_t x = {L->sb.row_n, L->sb.row_pix, L->sb.row_val, OT_PIXEL_SCALE};
    ot_kspmm(L->rows, L->out, &x, L->W, L->out, NULL, L->y, L->out);
    float *root[1] = {L->part[0]};
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out};
    const ot_kcsc_t xs = {L->ends, L->sb.col_code, OT_PIXEL_SCALE};
    ot_kgemm_tn_tree_sparse(L->in, L->out, &xs, L->dy, L->out, &t, L->work);
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
            const size_t depth = ot_tree_depth(L.S);
            L.work = block(ot_kgemm_work_size(L.in > L.out ? L.in : L.out) +
                               ot_kgemm_tree_work_size(L.rows, L.in, L.out, L.S, depth) +
                               ot_kgemm_tree_sparse_work_size(depth),
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
                const size_t R = L.rows, D = L.in;
                L.ds = &mnist;
                L.idx = malloc(R * sizeof *L.idx);
                L.lab = malloc(R * sizeof *L.lab);
                L.sb = (ot_sparse_batch_t){malloc(R * sizeof(uint32_t)),
                                           malloc(R * sizeof(uint16_t *)),
                                           malloc(R * sizeof(uint8_t *)),
                                           malloc(R * D * sizeof(uint16_t)), malloc(R * D), D,
                                           malloc(D * sizeof(uint32_t)),
                                           malloc(R * D * sizeof(uint32_t)), 0};
                L.ends = malloc(L.S * D * sizeof *L.ends);
                if (!L.idx || !L.lab || !L.sb.row_n || !L.sb.row_pix || !L.sb.row_val ||
                    !L.sb.pix_buf || !L.sb.val_buf || !L.sb.col_n || !L.sb.col_code ||
                    !L.ends) {
                    fprintf(stderr, "bench-gemm: out of memory\n");
                    return 1;
                }
                for (size_t r = 0; r < R; r++)
                    L.idx[r] = (uint32_t)r;
                ot_dataset_gather(&mnist, L.idx, R, L.x, L.lab);
                double g_sp = gflops(own_sparse, &L), g_s2 = gflops(blas_shards, &L);
                g_1 = gflops(blas_one, &L);
                snprintf(name, sizeof name, "%zux%zu MNIST", L.in, L.out);
                printf("%-5s %-15s %6zu %6zu %8.1f %8.1f %8.1f %8.2fx  (own: sparse)\n",
                       models[m].model, name, L.rows, L.S, g_sp, g_s2, g_1, g_sp / g_s2);
                free(L.idx), free(L.lab), free(L.sb.row_n), free((void *)L.sb.row_pix);
                free((void *)L.sb.row_val), free(L.sb.pix_buf), free(L.sb.val_buf);
                free(L.sb.col_n), free(L.sb.col_code), free(L.ends);
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
