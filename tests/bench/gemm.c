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
 * of 5.
 *
 * Then, for each convolution of the convolutional models (e) and (f) (batch 100, one thread),
 * the forward product in the two layouts an im2col convolution can take, both on omptrain's
 * kernel, and the one src/layers/conv2d.c runs:
 *   NHWC    one im2col row per sample and position, C (n P, F) = col (n P, K) W (K, F), W
 *           packed once, the rows in the layer's blocks, from a stored column block;
 *   gather  the same product as conv2d.c runs it: the column matrix never stored, read where
 *           the images lie (ot_conv_windows, ot_kgemm_gather; with padding, the blocks' images
 *           copied with a zero border, which is timed);
 *   NCHW    per sample C (F, P) = W (F, K) col (K, P), the sample's column matrix (as an NCHW
 *           im2col writes it) packed as the B operand first.
 * (P output positions, K = kh kw c taps, F filters; block: NHWC's rows per call.) NHWC and NCHW
 * read a column buffer that stays in cache, as after an im2col (which is not timed), and all
 * leave the bias out (NCHW's runs along C's rows, which ot_kgemm's bias does not cover).
 * GFLOP/s is 2 n P K F, best of 5. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_conv.h"
#include "ot_data.h"
#include "ot_gemm.h"
#include "ot_kgemm.h"
#include "ot_tree.h"
#include "ot_winograd.h"

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

static void own(void *p)
{
    layer_t *L = p;
    ot_kpack_b(L->W, L->out, false, L->in, L->out, L->Wp, 0, SIZE_MAX, false);
    ot_kgemm(L->rows, L->out, L->in, L->x, L->in, L->Wp, NULL, L->y, L->out, L->work);
    float *root[1] = {L->part[0]};
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out};
    ot_kgemm_tn_tree(L->in, L->out, L->x, L->in, L->dy, L->out, &t, L->work);
    if (!L->first) {
        ot_kpack_b(L->W, L->out, true, L->out, L->in, L->Wtp, 0, SIZE_MAX, false);
        ot_kgemm(L->rows, L->in, L->out, L->dy, L->out, L->Wtp, NULL, L->dx, L->in, L->work);
    }
}

/* The first layer as the engine runs it on mostly-zero images (ds->nonzero < 0.5): the sparse
 * gather, forward and dW. */
static void own_sparse(void *p)
{
    layer_t *L = p;
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
    if (L->out > ot_kspmm_cols()) { /* W in column blocks, as affine.c packs it */
        ot_kpack_sp(L->W, L->out, L->in, L->out, L->Wp, 0, L->in);
        ot_kspmm_packed(L->rows, L->out, L->in, &x, L->Wp, NULL, L->y, L->out);
    } else {
        ot_kspmm(L->rows, L->out, &x, L->W, L->out, NULL, L->y, L->out);
    }
    float *root[1] = {L->part[0]};
    ot_ktree_t t = {L->S, L->seg, L->merges, 1, root, L->out};
    const ot_kcsc_t xs = {L->ends, L->sb.col_code, OT_PIXEL_SCALE};
    ot_kgemm_tn_tree_sparse(L->in, L->out, &xs, L->dy, L->out, &t, L->work);
}

static void blas_shards(void *p)
{
    layer_t *L = p;
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

static void blas_one(void *p)
{
    layer_t *L = p;
    ot_gemm(false, false, L->rows, L->out, L->in, 1.0f, L->x, L->in, L->W, L->out, 0.0f, L->y,
            L->out);
    ot_gemm(true, false, L->in, L->out, L->rows, 1.0f, L->x, L->in, L->dy, L->out, 0.0f,
            L->part[0], L->out);
    if (!L->first)
        ot_gemm(false, true, L->rows, L->in, L->out, 1.0f, L->dy, L->out, L->W, L->out, 0.0f,
                L->dx, L->in);
}

/* Seconds per call of f(arg): the best of 5 rounds of at least 50 ms, after one that warms up. */
static double best_seconds(void (*f)(void *), void *arg)
{
    double best = 1e30;
    for (int r = 0; r < 6; r++) {
        double t = ot_now();
        int reps = 0;
        do {
            f(arg);
            reps++;
        } while (ot_now() - t < 0.05);
        t = (ot_now() - t) / reps;
        if (r > 0 && t < best) /* the first round warms up */
            best = t;
    }
    return best;
}

static double gflops(void (*f)(void *), layer_t *L)
{
    double flop = 2.0 * (double)L->rows * L->in * L->out * (L->first ? 2 : 3);
    return flop / best_seconds(f, L) / 1e9;
}

/* ---------------------------------------------------------------- convolutions */

/* One convolution's forward product over a batch, in either layout. */
typedef struct {
    size_t n, P, K, F; /* samples, output positions, taps (kh kw c), filters */
    size_t MB;         /* NHWC: im2col rows per call */
    float *col;        /* NHWC: a block (MB, K); NCHW: one sample's (K, P) */
    float *W;          /* (K, F) for NHWC, (F, K) for NCHW */
    float *Wp;         /* NHWC: W packed */
    float *colp;       /* NCHW: col packed */
    float *y;          /* (n P, F) or (n, F, P) */
    float *work;       /* ot_kgemm's */
    ot_conv_geom_t g;  /* gather: the geometry, */
    float *x;          /* the images (n, h, w, c), */
    float *pad;        /* a block's padded copies, */
    size_t *row, *taps; /* the offsets */
} conv_t;

/* y (n P, F) = col (n P, K) W (K, F): W packed, then the rows block by block (every block
 * reads the same col, in cache like a block im2col just wrote). */
static void conv_nhwc(void *p)
{
    conv_t *c = p;
    const size_t rows = c->n * c->P;
    ot_kpack_b(c->W, c->F, false, c->K, c->F, c->Wp, 0, SIZE_MAX, false);
    for (size_t q0 = 0; q0 < rows; q0 += c->MB) {
        const size_t m = rows - q0 < c->MB ? rows - q0 : c->MB;
        ot_kgemm(m, c->F, c->K, c->col, c->K, c->Wp, NULL, c->y + q0 * c->F, c->F, c->work);
    }
}

/* y (n P, F) as conv2d.c's forward computes it: blocks of whole images (or within one) when
 * padded, each block's matrix read through its offsets. */
static void conv_gather(void *p)
{
    conv_t *c = p;
    const size_t rows = c->n * c->P;
    ot_kpack_b(c->W, c->F, false, c->K, c->F, c->Wp, 0, SIZE_MAX, false);
    ot_conv_held_t held = {0};
    for (size_t q0 = 0, q1; q0 < rows; q0 = q1) {
        q1 = ot_conv_block_end(&c->g, q0, rows, c->MB);
        const float *src = ot_conv_windows(&c->g, c->x, q0, q1 - q0, c->pad, &held, c->row);
        ot_kgemm_gather(q1 - q0, c->F, c->K, src, c->row, c->taps, c->Wp, NULL,
                        c->y + q0 * c->F, c->F, c->work);
    }
}

/* y_s (F, P) = W (F, K) col_s (K, P) for each sample s: col_s packed as B, then one product. */
static void conv_nchw(void *p)
{
    conv_t *c = p;
    for (size_t s = 0; s < c->n; s++) {
        ot_kpack_b(c->col, c->P, false, c->K, c->P, c->colp, 0, SIZE_MAX, false);
        ot_kgemm(c->F, c->P, c->K, c->W, c->K, c->colp, NULL, c->y + s * c->F * c->P, c->P,
                 c->work);
    }
}

/* The forward products of (e)'s and (f)'s convolutions (stride 1), NHWC against NCHW. */
static void conv_table(void)
{
    const size_t n = 100;
    const struct {
        const char *model;
        size_t h, w, c, k, pad, filters;
    } convs[] = {{"e", 28, 28, 1, 5, 0, 30},  {"f", 28, 28, 1, 3, 1, 16},
                 {"f", 28, 28, 16, 3, 1, 16}, {"f", 14, 14, 16, 3, 1, 32},
                 {"f", 14, 14, 32, 3, 2, 32}, {"f", 8, 8, 32, 3, 1, 64},
                 {"f", 8, 8, 64, 3, 1, 64}};
    printf("\nconvolution forward, batch %zu, one thread, GFLOP/s:\n"
           "  NHWC    C (n P, F) = col (n P, K) W (K, F), W packed once, `block` rows per call\n"
           "  gather  the same, col never stored: read where the images lie (conv2d.c's)\n"
           "  NCHW    C (F, P) = W (F, K) col (K, P) per sample, col packed per sample\n", n);
    printf("%-5s %-9s %-6s %3s %7s %6s %5s %6s %8s %8s %8s %9s\n", "model", "input", "kernel",
           "pad", "filters", "P", "K", "block", "NHWC", "gather", "NCHW", "NHWC/NCHW");
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const size_t k = convs[i].k, oh = convs[i].h + 2 * convs[i].pad - k + 1,
                     ow = convs[i].w + 2 * convs[i].pad - k + 1;
        conv_t c = {.n = n, .P = oh * ow, .K = k * k * convs[i].c, .F = convs[i].filters};
        c.MB = ot_conv_block_rows(c.K); /* conv2d.c's block */
        c.col = block((c.MB > c.P ? c.MB : c.P) * c.K, 1), c.W = block(c.K * c.F, 1);
        c.Wp = block(ot_kpack_size(c.K, c.F), 0), c.colp = block(ot_kpack_size(c.K, c.P), 0);
        c.y = block(n * c.P * c.F, 0), c.work = block(ot_kgemm_work_size(c.K), 0);
        c.g = (ot_conv_geom_t){convs[i].h, convs[i].w, convs[i].c, k, k, 1, convs[i].pad, oh, ow};
        c.x = block(n * convs[i].h * convs[i].w * convs[i].c, 1);
        c.pad = block(ot_conv_pad_floats(&c.g, c.MB) + 1, 0);
        c.row = calloc(c.MB, sizeof(size_t)), c.taps = calloc(c.K, sizeof(size_t));
        if (!c.row || !c.taps) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            exit(1);
        }
        ot_conv_taps(&c.g, c.taps);
        const double flop = 2.0 * (double)n * c.P * c.K * c.F;
        const double nhwc = flop / best_seconds(conv_nhwc, &c) / 1e9;
        const double gather = flop / best_seconds(conv_gather, &c) / 1e9;
        const double nchw = flop / best_seconds(conv_nchw, &c) / 1e9;
        char input[32], kernel[32];
        snprintf(input, sizeof input, "%zux%zux%zu", convs[i].h, convs[i].w, convs[i].c);
        snprintf(kernel, sizeof kernel, "%zux%zu", k, k);
        printf("%-5s %-9s %-6s %3zu %7zu %6zu %5zu %6zu %8.1f %8.1f %8.1f %8.2fx\n",
               convs[i].model, input, kernel, convs[i].pad, c.F, c.P, c.K, c.MB, nhwc, gather,
               nchw, nhwc / nchw);
        ot_free(c.col), ot_free(c.W), ot_free(c.Wp), ot_free(c.colp), ot_free(c.y);
        ot_free(c.work), ot_free(c.x), ot_free(c.pad), free(c.row), free(c.taps);
    }
}

/* ---------------------------------------------------------------- Winograd's products */

/* One block of a winograd4 convolution's forward: a GEMM per point, (T, C) V plane times the
 * point's packed (C, F) U into an M plane, as src/layers/conv2d.c runs it. */
typedef struct {
    size_t NP, T, C, F;
    float *v, *m, *up, *u, *work;
    size_t psc, psf, kp;
} wino_t;

static void wino_own(void *p)
{
    const wino_t *w = p;
    for (size_t xi = 0; xi < w->NP; xi++)
        ot_kgemm(w->T, w->F, w->C, w->v + xi * w->psc, w->C, w->up + xi * w->kp, NULL,
                 w->m + xi * w->psf, w->F, w->work);
}

static void wino_blas(void *p)
{
    const wino_t *w = p;
    for (size_t xi = 0; xi < w->NP; xi++)
        ot_gemm(false, false, w->T, w->F, w->C, 1.0f, w->v + xi * w->psc, w->C,
                w->u + xi * w->C * w->F, w->F, 0.0f, w->m + xi * w->psf, w->F);
}

/* The forward products of (f)'s winograd4 convolutions, a block of conv2d.c's size (whole
 * images, up to 128 tiles): omptrain's kernel against OpenBLAS, per point the same shapes. */
static void wino_table(void)
{
    const struct {
        size_t h, c, pad, f;
    } convs[] = {{28, 16, 1, 16}, {14, 16, 1, 32}, {14, 32, 2, 32}, {8, 32, 1, 64}, {8, 64, 1, 64}};
    printf("\nWinograd F(4x4, 3x3) forward products of (f), one block, one thread, GFLOP/s:\n"
           "  36 GEMMs (tiles, C) x (C, F), a V plane each, U packed once (conv2d.c's)\n");
    printf("%-9s %3s %7s %6s %8s %8s %9s\n", "input", "pad", "filters", "tiles", "own", "blas",
           "own/blas");
    for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
        const ot_wino_geom_t g = ot_wino_geom(convs[i].h, convs[i].h, convs[i].c, convs[i].f,
                                              convs[i].pad, 4);
        const size_t TI = g.th * g.tw, IB = 128 / TI ? 128 / TI : 1;
        wino_t w = {.NP = ot_wino_points(&g), .T = IB * TI, .C = g.c, .F = g.f};
        w.psc = w.T * w.C + 16, w.psf = w.T * w.F + 16, w.kp = ot_kpack_size(w.C, w.F);
        w.v = block(w.NP * w.psc, 1), w.m = block(w.NP * w.psf, 0);
        w.u = block(w.NP * w.C * w.F, 1), w.up = block(w.NP * w.kp, 0);
        w.work = block(ot_kgemm_work_size(w.C), 0);
        for (size_t xi = 0; xi < w.NP; xi++)
            ot_kpack_b(w.u + xi * w.C * w.F, w.F, false, w.C, w.F, w.up + xi * w.kp, 0, SIZE_MAX, false);
        const double flop = 2.0 * (double)w.NP * w.T * w.C * w.F;
        const double own_g = flop / best_seconds(wino_own, &w) / 1e9;
        const double blas_g = flop / best_seconds(wino_blas, &w) / 1e9;
        char input[32];
        snprintf(input, sizeof input, "%zux%zux%zu", convs[i].h, convs[i].h, convs[i].c);
        printf("%-9s %3zu %7zu %6zu %8.1f %8.1f %8.2fx\n", input, convs[i].pad, w.F, w.T, own_g,
               blas_g, own_g / blas_g);
        ot_free(w.v), ot_free(w.m), ot_free(w.u), ot_free(w.up), ot_free(w.work);
    }
}

int main(void)
{
    ot_gemm_init();
    omp_set_num_threads(1);
    const struct {
        const char *model;
        size_t rows, S, n;
        size_t sizes[4];
    } models[] = {/* batch and shards as configs/bench-*.ini say */
                  {"a", 100, 2, 3, {784, 50, 10}},
                  {"b", 100, 2, 3, {784, 100, 10}},
                  {"c", 256, 2, 4, {784, 1024, 1024, 10}},
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
                               ot_kgemm_tree_sparse_work_size(L.rows, depth),
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
    conv_table();
    wino_table();
    return 0;
}
