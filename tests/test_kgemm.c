/* test_kgemm.c - the GEMM kernel computes exactly its defined arithmetic (every element one
 * fmaf chain over k in order, from the bias or zero) at every edge of its tiling, and the
 * reduction tree's walk plus the cross-thread pass form exactly the tree of ot_tree.h for
 * every shard and thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_common.h"
#include "ot_kgemm.h"
#include "ot_rng.h"
#include "ot_test.h"
#include "ot_tree.h"

static float *random_block(size_t n, ot_rng_t *r)
{
    float *p = ot_alloc((n ? n : 1) * sizeof(float));
    CU_ASSERT_FATAL(p != NULL);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)ot_rng_normal(r);
    return p;
}

/* C = bias + A op(B) through ot_kgemm against the scalar chain; returns mismatches. */
static size_t check_gemm(size_t m, size_t n, size_t k, int trans, int with_bias, ot_rng_t *r)
{
    float *A = random_block(m * k, r), *B = random_block(k * n, r), *b = random_block(n, r);
    float *C = ot_alloc(m * n * sizeof(float));
    float *Bp = ot_alloc(ot_kpack_size(k, n) * sizeof(float));
    float *work = ot_alloc(ot_kgemm_work_size(k) * sizeof(float));
    CU_ASSERT_FATAL(C && Bp && work);
    ot_kpack_b(B, trans ? k : n, trans, k, n, Bp, 0, SIZE_MAX);
    ot_kgemm(m, n, k, A, k, Bp, with_bias ? b : NULL, C, n, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float c = with_bias ? b[j] : 0.0f;
            for (size_t p = 0; p < k; p++)
                c = fmaf(A[i * k + p], trans ? B[j * k + p] : B[p * n + j], c);
            bad += memcmp(&c, &C[i * n + j], sizeof c) != 0;
        }
    ot_free(A), ot_free(B), ot_free(b), ot_free(C), ot_free(Bp), ot_free(work);
    return bad;
}

static void test_gemm_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 5);
    /* rows around the tile height, columns through every width class and panel edge, k
     * across the KC slice */
    const size_t ms[] = {1, 7, 8, 9, 17, 100};
    const size_t ns[] = {1, 4, 5, 8, 9, 16, 17, 24, 25, 32, 33, 50, 100};
    const size_t ks[] = {1, 13, 256, 300, 600};
    size_t bad = 0, cases = 0;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++, cases++)
                bad += check_gemm(ms[a], ns[b], ks[c], (int)(cases % 2), (int)(cases % 3 != 0),
                                  &r);
    CU_ASSERT_EQUAL(bad, 0);
}

/* Zero about `zero` of the n values: mostly-zero images. */
static void sparsify(float *x, size_t n, double zero, ot_rng_t *r)
{
    for (size_t i = 0; i < n; i++)
        if (ot_rng_uniform(r) < zero)
            x[i] = 0.0f;
}

/* The weight gradient over S shards on one thread (every node inside): the root against the
 * leaves' chains summed in the tree's order; with skip_zero the chains leave out the rows that
 * are zero in the element's whole block of block features. */
static void check_tree(size_t m, size_t n, size_t rows, size_t S, double zero, size_t block,
                       ot_rng_t *r)
{
    float *x = random_block(rows * m, r), *dy = random_block(rows * n, r);
    float *dW = ot_alloc(m * n * sizeof(float));
    float *leaf = ot_alloc(S * sizeof(float));
    size_t depth = ot_tree_depth(S), seg[65], roots[16];
    uint8_t merges[64];
    float *work = ot_alloc(ot_kgemm_tree_work_size(rows, m, n, S, depth) * sizeof(float));
    CU_ASSERT_FATAL(dW && leaf && work && S <= 64 && depth <= 16);
    sparsify(x, rows * m, zero, r);
    for (size_t s = 0; s <= S; s++)
        seg[s] = s * rows / S;
    size_t n_roots = ot_tree_plan(S, 0, S, merges, roots);
    CU_ASSERT_FATAL(n_roots == 1 && roots[0] == 0);
    float *root_p[1] = {dW};
    ot_ktree_t t = {S, seg, merges, 1, root_p, n, block > 0};
    ot_kgemm_tn_tree(m, n, x, m, dy, n, &t, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            for (size_t s = 0; s < S; s++) {
                leaf[s] = 0.0f;
                for (size_t p = seg[s]; p < seg[s + 1]; p++) {
                    int any = block == 0;
                    for (size_t f = i / (block ? block : 1) * block;
                         block && f < m && f < (i / block + 1) * block; f++)
                        any |= x[p * m + f] != 0.0f;
                    if (any)
                        leaf[s] = fmaf(x[p * m + i], dy[p * n + j], leaf[s]);
                }
            }
            for (size_t h = 1; h < S; h *= 2)
                for (size_t s = 0; s + h < S; s += 2 * h)
                    leaf[s] += leaf[s + h];
            bad += memcmp(&leaf[0], &dW[i * n + j], sizeof(float)) != 0;
        }
    CU_ASSERT_EQUAL(bad, 0);
    ot_free(x), ot_free(dy), ot_free(dW), ot_free(leaf), ot_free(work);
}

/* The kernel's block of features for skip_zero: its tile height (8 with AVX-512, 6 with
 * AVX2, 4 portable). */
static size_t tile_rows(void)
{
    const char *isa = ot_kgemm_isa();
    return strcmp(isa, "AVX-512") == 0 ? 8 : strcmp(isa, "AVX2") == 0 ? 6 : 4;
}

static void test_tree_gemm_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 6);
    check_tree(784, 50, 100, 8, 0.0, 0, &r);  /* x read in place, narrow panels */
    check_tree(13, 7, 5, 3, 0.0, 0, &r);      /* ragged panel, a shard without rows */
    check_tree(300, 40, 64, 6, 0.0, 0, &r);   /* truncated tree */
    check_tree(200, 100, 700, 7, 0.0, 0, &r); /* x packed (too large, dy four panels wide) */
    /* rows left out where a block is all zero: in place, ragged, packed */
    check_tree(784, 50, 100, 8, 0.8, tile_rows(), &r);
    check_tree(13, 7, 5, 3, 0.7, tile_rows(), &r);
    check_tree(200, 100, 700, 7, 0.9, tile_rows(), &r);
}

/* The sparse product against the chain over each row's nonzero entries. */
static void test_sparse_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 7);
    const size_t shapes[][3] = {{100, 50, 784}, {7, 100, 30}, {3, 10, 5}, {20, 1024, 300}};
    size_t bad = 0;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        size_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2];
        float *X = random_block(m * k, &r), *B = random_block(k * n, &r);
        float *b = random_block(n, &r), *C = ot_alloc(m * n * sizeof(float));
        float *val = ot_alloc(m * k * sizeof(float));
        uint32_t *col = ot_alloc(m * k * sizeof(uint32_t)), *nnz = ot_alloc(m * sizeof(uint32_t));
        float *Bp = ot_alloc(ot_kpack_size(k, n) * sizeof(float));
        float *work = ot_alloc(ot_kspmm_work_size(n) * sizeof(float));
        CU_ASSERT_FATAL(C && val && col && nnz && Bp && work);
        sparsify(X, m * k, 0.8, &r);
        for (size_t i = 0; i < m; i++) {
            nnz[i] = 0;
            for (size_t p = 0; p < k; p++)
                if (X[i * k + p] != 0.0f) {
                    col[i * k + nnz[i]] = (uint32_t)p;
                    val[i * k + nnz[i]++] = X[i * k + p];
                }
        }
        ot_kpack_b(B, n, false, k, n, Bp, 0, SIZE_MAX);
        ot_kspmm(m, n, k, col, val, k, nnz, Bp, c % 2 ? NULL : b, C, n, work);
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                float acc = c % 2 ? 0.0f : b[j];
                for (size_t p = 0; p < k; p++)
                    if (X[i * k + p] != 0.0f)
                        acc = fmaf(X[i * k + p], B[p * n + j], acc);
                bad += memcmp(&acc, &C[i * n + j], sizeof acc) != 0;
            }
        ot_free(X), ot_free(B), ot_free(b), ot_free(C), ot_free(val), ot_free(col);
        ot_free(nnz), ot_free(Bp), ot_free(work);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* Symbolic check of the tree: every node is a string, "(" left "+" right ")". */
#define EXPR 4096

static void canonical(size_t s, size_t h, size_t S, char *out)
{
    if (h == 1) {
        snprintf(out, EXPR, "%zu", s);
        return;
    }
    if (s + h / 2 >= S) {
        canonical(s, h / 2, S, out);
        return;
    }
    char *l = malloc(EXPR), *r = malloc(EXPR);
    CU_ASSERT_FATAL(l && r);
    canonical(s, h / 2, S, l);
    canonical(s + h / 2, h / 2, S, r);
    snprintf(out, EXPR, "(%s+%s)", l, r);
    free(l);
    free(r);
}

static void join(char *dst, const char *left, const char *right)
{
    char tmp[2 * EXPR + 4];
    int w = snprintf(tmp, sizeof tmp, "(%s+%s)", left, right);
    CU_ASSERT_FATAL(w > 0 && w < EXPR);
    memcpy(dst, tmp, (size_t)w + 1);
}

static void test_tree_plan(void)
{
    static char buf[40][EXPR], stack[16][EXPR], cur[EXPR], want[EXPR];
    size_t fails = 0;
    for (size_t S = 1; S <= 40; S++) {
        size_t H = 1;
        while (H < S)
            H *= 2;
        canonical(0, H, S, want);
        for (size_t T = 1; T <= S + 2; T++) {
            for (size_t s = 0; s < S; s++)
                buf[s][0] = '\0';
            for (size_t t = 0; t < T; t++) { /* each thread's walk */
                size_t a, b, roots[16], top = 0;
                uint8_t merges[40];
                ot_tree_thread_shards(S, T, t, &a, &b);
                size_t n_roots = ot_tree_plan(S, a, b, merges, roots);
                for (size_t s = a; s < b; s++) {
                    snprintf(cur, EXPR, "%zu", s);
                    for (unsigned m = merges[s - a]; m > 0; m--)
                        join(cur, stack[--top], cur);
                    memcpy(stack[top++], cur, EXPR);
                }
                fails += top != n_roots || top > ot_tree_depth(S);
                for (size_t i = 0; i < top; i++)
                    memcpy(buf[roots[i]], stack[i], EXPR);
            }
            for (size_t h = 1; h < S; h *= 2) /* the cross-thread pass */
                for (size_t s = 0; s + h < S; s += 2 * h)
                    if (ot_tree_spans_threads(s, h, S, T))
                        join(buf[s], buf[s], buf[s + h]);
            if (strcmp(buf[0], want) != 0 && fails++ < 3) /* the first few, for the reader */
                fprintf(stderr, "S %zu T %zu: %s, expected %s\n", S, T, buf[0], want);
        }
    }
    CU_ASSERT_EQUAL(fails, 0);
}

OT_TEST_SUITE(kgemm, NULL, NULL,
              {"GEMM: exactly the fmaf chain at every tile edge", test_gemm_bits},
              {"weight gradient: exactly the tree of leaf chains, zero blocks skipped or not",
               test_tree_gemm_bits},
              {"sparse first layer: exactly the chain over the nonzero entries", test_sparse_bits},
              {"tree: walks plus cross-thread pass form the tree, S 1..40, T 1..S+2",
               test_tree_plan})
