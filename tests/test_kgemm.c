/* test_kgemm.c - the GEMM kernels compute exactly their defined arithmetic: every element one
 * fmaf chain over k in order, from the bias or zero, at every edge of the tiling, with A
 * stored or read through offset tables (an implicit GEMM); the
 * weight-gradient kernels (dense and sparse) combine the shards' chains into exactly the
 * nodes of the tree of ot_tree.h. The tree itself is tested in test_tree.c. */
#include <math.h>
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

/* Elements of C (m, n, row stride n) whose bits differ from the scalar chain from bias[j] (0
 * without) over p < k of fmaf(A(i, p), B(p, j), .), A(i, p) at A[i ai + p ap] and B(p, j) at
 * B[p bp + j bj]: the reference every dense kernel below is held to. */
static size_t chain_mismatches(size_t m, size_t n, size_t k, const float *A, size_t ai,
                               size_t ap, const float *B, size_t bp, size_t bj,
                               const float *bias, const float *C)
{
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float c = bias ? bias[j] : 0.0f;
            for (size_t p = 0; p < k; p++)
                c = fmaf(A[i * ai + p * ap], B[p * bp + j * bj], c);
            bad += memcmp(&c, &C[i * n + j], sizeof c) != 0;
        }
    return bad;
}

/* C = bias + A op(B) through ot_kgemm against the scalar chain; returns mismatches. */
static size_t check_gemm(size_t m, size_t n, size_t k, int trans, int with_bias, ot_rng_t *r)
{
    float *A = random_block(m * k, r), *B = random_block(k * n, r), *b = random_block(n, r);
    float *C = ot_alloc(m * n * sizeof(float));
    float *Bp = ot_alloc(ot_kpack_size(k, n) * sizeof(float));
    float *work = ot_alloc(ot_kgemm_work_size(k) * sizeof(float));
    CU_ASSERT_FATAL(C && Bp && work);
    ot_kpack_b(B, trans ? k : n, trans, k, n, Bp, 0, SIZE_MAX, false);
    ot_kgemm(m, n, k, A, k, Bp, with_bias ? b : NULL, C, n, work);
    const size_t bad = chain_mismatches(m, n, k, A, k, 1, B, trans ? 1 : n, trans ? k : 1,
                                        with_bias ? b : NULL, C);
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
    const size_t ks[] = {1, 13, 16, 32, 64, 256, 300, 600}; /* 16, 32, 64: tile_tall's strides */
    size_t bad = 0, cases = 0;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++, cases++)
                bad += check_gemm(ms[a], ns[b], ks[c], (int)(cases % 2), (int)(cases % 3 != 0),
                                  &r);
    CU_ASSERT_EQUAL(bad, 0);
}

/* C = A Bp through ot_kgemm_skip, A with a share `zeros` of +0s and -0s, against the scalar
 * chain over every term (the zeros' included); the listed product (skip_below past 1) and the
 * dense one it falls back to (skip_below 0) alike. Returns mismatches. */
static size_t check_skip(size_t m, size_t n, size_t k, double zeros, float skip_below,
                         ot_rng_t *r)
{
    float *A = random_block(m * k, r), *B = random_block(k * n, r);
    float *C = ot_alloc(m * n * sizeof(float));
    float *Bp = ot_alloc(ot_kpack_size(k, n) * sizeof(float));
    float *work = ot_alloc(ot_kgemm_skip_work_size(m, k) * sizeof(float));
    CU_ASSERT_FATAL(C && Bp && work);
    size_t nonzero = 0;
    for (size_t i = 0; i < m * k; i++) {
        if (ot_rng_uniform(r) < zeros)
            A[i] = i % 2 ? -0.0f : 0.0f;
        nonzero += A[i] != 0.0f;
    }
    ot_kpack_b(B, n, false, k, n, Bp, 0, SIZE_MAX, false);
    CU_ASSERT_EQUAL(ot_kgemm_skip(m, n, k, A, k, Bp, C, n, skip_below, work), nonzero);
    const size_t bad = chain_mismatches(m, n, k, A, k, 1, B, n, 1, NULL, C);
    ot_free(A), ot_free(B), ot_free(C), ot_free(Bp), ot_free(work);
    return bad;
}

/* Both of ot_kgemm_skip's paths give ot_kgemm's bits: every chunk width up to and past a
 * pass's 12 vectors, rows with no entry, k past the dense kernel's slice. */
static void test_skip_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 23);
    const size_t ns[] = {1, 5, 16, 33, 95, 96, 97, 200, 4320};
    size_t bad = 0;
    for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
        bad += check_skip(50, ns[b], 100, 0.32, 2.0f, &r); /* (e)'s dx: dy below a ReLU */
        bad += check_skip(7, ns[b], 13, 0.9, 2.0f, &r);
        bad += check_skip(3, ns[b], 300, 0.5, 2.0f, &r);
        bad += check_skip(9, ns[b], 40, 0.32, 0.0f, &r); /* the dense fallback */
    }
    bad += check_skip(4, 64, 20, 1.0, 2.0f, &r); /* every row empty: +0s */
    CU_ASSERT_EQUAL(bad, 0);
}

/* Offsets of a matrix that is not stored (ot_kgemm_gather): row i at row[i], column p at
 * col[p] within it, over a buffer of X floats; rows and columns overlap, as a convolution's
 * windows and taps do. */
enum { X_FLOATS = 4096 };

static void random_offsets(size_t *row, size_t m, size_t *col, size_t k, ot_rng_t *r)
{
    for (size_t i = 0; i < m; i++)
        row[i] = (size_t)(ot_rng_uniform(r) * (X_FLOATS / 2));
    for (size_t p = 0; p < k; p++)
        col[p] = (size_t)(ot_rng_uniform(r) * (X_FLOATS / 2));
}

/* C = bias + A Bp through ot_kgemm_gather, A(i, p) = x[row[i] + col[p]], against the scalar
 * chain; returns mismatches. */
static size_t check_gather(size_t m, size_t n, size_t k, int with_bias, ot_rng_t *r)
{
    float *x = random_block(X_FLOATS, r), *B = random_block(k * n, r), *b = random_block(n, r);
    size_t *row = ot_alloc(m * sizeof(size_t)), *col = ot_alloc(k * sizeof(size_t));
    float *C = ot_alloc(m * n * sizeof(float));
    float *Bp = ot_alloc(ot_kpack_size(k, n) * sizeof(float));
    float *work = ot_alloc(ot_kgemm_work_size(k) * sizeof(float));
    CU_ASSERT_FATAL(row && col && C && Bp && work);
    random_offsets(row, m, col, k, r);
    ot_kpack_b(B, n, false, k, n, Bp, 0, SIZE_MAX, false);
    ot_kgemm_gather(m, n, k, x, row, col, Bp, with_bias ? b : NULL, C, n, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float c = with_bias ? b[j] : 0.0f;
            for (size_t p = 0; p < k; p++)
                c = fmaf(x[row[i] + col[p]], B[p * n + j], c);
            bad += memcmp(&c, &C[i * n + j], sizeof c) != 0;
        }
    ot_free(x), ot_free(B), ot_free(b), ot_free(row), ot_free(col), ot_free(C), ot_free(Bp);
    ot_free(work);
    return bad;
}

static void test_gather_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 6);
    const size_t ms[] = {1, 7, 8, 9, 17, 100};
    const size_t ns[] = {1, 8, 9, 16, 25, 30, 33, 64};
    const size_t ks[] = {1, 9, 25, 300};
    size_t bad = 0, cases = 0;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++)
            for (size_t c = 0; c < sizeof ks / sizeof ks[0]; c++, cases++)
                bad += check_gather(ms[a], ns[b], ks[c], (int)(cases % 3 != 0), &r);
    CU_ASSERT_EQUAL(bad, 0);
}

/* C = x^T dy over rows [0, r1) then continued over [r1, rows) (acc), through
 * ot_kgemm_tn_acc_gather (x(r, i) = xs[row[r] + col[i]]), against the scalar chain over all
 * the rows in order; returns mismatches. */
static size_t check_tn_acc(size_t m, size_t n, size_t rows, size_t r1, ot_rng_t *r)
{
    float *xs = random_block(X_FLOATS, r), *dy = random_block(rows * n, r);
    float *x = ot_alloc(rows * m * sizeof(float)), *G = ot_alloc(m * n * sizeof(float));
    size_t *row = ot_alloc(rows * sizeof(size_t)), *col = ot_alloc(m * sizeof(size_t));
    float *work = ot_alloc(ot_kgemm_tn_acc_work_size(rows, n) * sizeof(float));
    CU_ASSERT_FATAL(x && G && row && col && work);
    random_offsets(row, rows, col, m, r);
    for (size_t q = 0; q < rows; q++) /* the same matrix, stored, for the reference */
        for (size_t i = 0; i < m; i++)
            x[q * m + i] = xs[row[q] + col[i]];
    ot_kgemm_tn_acc_gather(m, n, r1, xs, row, col, dy, n, G, n, 0, work);
    ot_kgemm_tn_acc_gather(m, n, rows - r1, xs, row + r1, col, dy + r1 * n, n, G, n, 1, work);
    const size_t bad = chain_mismatches(m, n, rows, x, 1, m, dy, n, 1, NULL, G);
    ot_free(xs), ot_free(dy), ot_free(x), ot_free(G), ot_free(row), ot_free(col);
    ot_free(work);
    return bad;
}

static void test_tn_acc_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 7);
    const size_t ms[] = {1, 8, 9, 17, 25, 144};
    const size_t ns[] = {1, 16, 30, 33, 64};
    size_t bad = 0;
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof ns / sizeof ns[0]; b++) {
            bad += check_tn_acc(ms[a], ns[b], 37, 20, &r);
            bad += check_tn_acc(ms[a], ns[b], 1, 0, &r); /* an empty first block */
        }
    CU_ASSERT_EQUAL(bad, 0);
}

/* ot_kpack_b_rows over any split of the rows packs what ot_kpack_b packs whole, streamed or
 * not; and ot_kpack_b of B^T streamed (its panels formed 8 rows at a time) packs what it packs
 * with plain stores, for narrow and wide panels and row counts around 8. */
static void test_pack_rows(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 9);
    const size_t k = 37, ns[] = {1, 30, 33, 100};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++) {
        const size_t n = ns[a], bytes = ot_kpack_size(k, n) * sizeof(float);
        float *B = random_block(k * (n + 2), &r), *whole = ot_alloc(bytes);
        float *split = ot_alloc(bytes);
        CU_ASSERT_FATAL(whole && split);
        ot_kpack_b(B, n + 2, false, k, n, whole, 0, SIZE_MAX, false);
        memset(split, 0xff, bytes);
        const size_t cuts[] = {0, 1, 16, 17, 37};
        for (int stream = 0; stream <= 1; stream++) {
            memset(split, 0xff, bytes);
            for (size_t c = 0; c + 1 < sizeof cuts / sizeof cuts[0]; c++)
                ot_kpack_b_rows(B, n + 2, k, n, split, cuts[c], cuts[c + 1], stream);
            CU_ASSERT(memcmp(whole, split, bytes) == 0);
        }
        ot_free(B), ot_free(whole), ot_free(split);
    }
    const size_t ks[] = {1, 7, 8, 37, 64};
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ks / sizeof ks[0]; b++) {
            const size_t n = ns[a], kk = ks[b], bytes = ot_kpack_size(kk, n) * sizeof(float);
            float *B = random_block(n * (kk + 3), &r), *plain = ot_alloc(bytes);
            float *streamed = ot_alloc(bytes);
            CU_ASSERT_FATAL(plain && streamed);
            memset(streamed, 0xff, bytes);
            ot_kpack_b(B, kk + 3, true, kk, n, plain, 0, SIZE_MAX, false);
            ot_kpack_b(B, kk + 3, true, kk, n, streamed, 0, SIZE_MAX, true);
            CU_ASSERT(memcmp(plain, streamed, bytes) == 0);
            ot_free(B), ot_free(plain), ot_free(streamed);
        }
}

/* ot_kcolsum: each column's sum one chain over the rows in order, added to what sum held, for
 * widths around the vector and chunk edges and a row stride past the width. */
static void test_colsum_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 8);
    const size_t ns[] = {1, 15, 16, 17, 30, 100, 129, 1024};
    const size_t ms[] = {0, 1, 7, 37};
    size_t bad = 0;
    for (size_t a = 0; a < sizeof ns / sizeof ns[0]; a++)
        for (size_t b = 0; b < sizeof ms / sizeof ms[0]; b++) {
            const size_t n = ns[a], m = ms[b], ld = n + 3;
            float *x = random_block(m * ld, &r), *sum = random_block(n, &r);
            float *want = ot_alloc(n * sizeof(float));
            CU_ASSERT_FATAL(want != NULL);
            for (size_t j = 0; j < n; j++) {
                want[j] = sum[j];
                for (size_t i = 0; i < m; i++)
                    want[j] += x[i * ld + j];
            }
            ot_kcolsum(m, n, x, ld, sum);
            bad += memcmp(want, sum, n * sizeof(float)) != 0;
            ot_free(x), ot_free(sum), ot_free(want);
        }
    CU_ASSERT_EQUAL(bad, 0);
}

/* The leaves' chains combined in the tree's order, node (0, H): the reference root. */
static float tree_sum(float *leaf, size_t S)
{
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = 0; s + h < S; s += 2 * h)
            leaf[s] += leaf[s + h];
    return leaf[0];
}

/* The tree of S leaves splitting rows evenly (seg, S + 1 entries), planned with its one root
 * at *root_p (n columns a row); merges: room for S. */
static ot_ktree_t even_tree(size_t S, size_t rows, size_t n, size_t *seg, uint8_t *merges,
                            float **root_p)
{
    size_t roots[16];
    CU_ASSERT_FATAL(ot_tree_depth(S) <= 16);
    for (size_t q = 0; q <= S; q++)
        seg[q] = q * rows / S;
    const size_t n_roots = ot_tree_plan(S, 0, S, merges, roots);
    CU_ASSERT_FATAL(n_roots == 1 && roots[0] == 0);
    return (ot_ktree_t){S, seg, merges, 1, root_p, n};
}

/* The weight gradient over S shards on one thread (every node inside): the root against the
 * leaves' chains summed in the tree's order. */
static void check_tree(size_t m, size_t n, size_t rows, size_t S, ot_rng_t *r)
{
    float *x = random_block(rows * m, r), *dy = random_block(rows * n, r);
    float *dW = ot_alloc(m * n * sizeof(float));
    float *leaf = ot_alloc(S * sizeof(float));
    size_t depth = ot_tree_depth(S), seg[65];
    uint8_t merges[64];
    float *work = ot_alloc(ot_kgemm_tree_work_size(rows, m, n, S, depth) * sizeof(float));
    CU_ASSERT_FATAL(dW && leaf && work && S <= 64 && depth <= 16);
    float *root_p[1] = {dW};
    ot_ktree_t t = even_tree(S, rows, n, seg, merges, root_p);
    ot_kgemm_tn_tree(m, n, x, m, dy, n, &t, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            for (size_t s = 0; s < S; s++) {
                leaf[s] = 0.0f;
                for (size_t p = seg[s]; p < seg[s + 1]; p++)
                    leaf[s] = fmaf(x[p * m + i], dy[p * n + j], leaf[s]);
            }
            float root = tree_sum(leaf, S);
            bad += memcmp(&root, &dW[i * n + j], sizeof(float)) != 0;
        }
    CU_ASSERT_EQUAL(bad, 0);
    ot_free(x), ot_free(dy), ot_free(dW), ot_free(leaf), ot_free(work);
}

static void test_tree_gemm_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 6);
    check_tree(784, 50, 100, 8, &r);  /* x read in place, narrow panels */
    check_tree(13, 7, 5, 3, &r);      /* ragged panel, a shard without rows */
    check_tree(300, 40, 64, 6, &r);   /* truncated tree */
    check_tree(200, 100, 700, 7, &r); /* x packed (too large, dy four panels wide) */
    /* roots over 1 MiB: the full tiles written past the caches (root_streams), x in place and
     * x packed, with ragged edge tiles stored plainly beside them */
    check_tree(640, 512, 40, 2, &r);
    check_tree(600, 480, 300, 3, &r);
}

/* The sparse weight gradient of shards [a, b) of S on one thread: each root it leaves against
 * that node of the tree built from chains over the nonzero entries of each leaf. */
static size_t check_tree_sparse(size_t m, size_t n, size_t rows, size_t S, size_t a, size_t b,
                                ot_rng_t *r)
{
    /* 8-bit values: u stands for (float)u * scale */
    const float scale = S % 2 ? 1.0f / 255.0f : 0.37f;
    uint8_t *u = ot_alloc(rows * m);
    float *x = ot_alloc(rows * m * sizeof(float)), *dy = random_block(rows * n, r);
    float *leaf = ot_alloc(S * sizeof(float));
    size_t depth = ot_tree_depth(S), seg[65], gseg[65], roots[16];
    uint8_t merges[64];
    CU_ASSERT_FATAL(u && x && leaf && S <= 64 && depth <= 16 && a < b && b <= S);
    for (size_t k = 0; k < rows * m; k++) { /* mostly zero; some features zero in every row */
        u[k] = ot_rng_uniform(r) < 0.8 || k % m % 5 == 0 ? 0 : (uint8_t)ot_rng_below(r, 256);
        x[k] = (float)u[k] * scale;
    }
    for (size_t s = 0; s <= S; s++)
        seg[s] = s * rows / S;
    for (size_t s = a; s <= b; s++) /* the thread's rows, from its first */
        gseg[s - a] = seg[s] - seg[a];
    const size_t g0 = seg[a], grows = seg[b] - seg[a];
    size_t n_roots = ot_tree_plan(S, a, b, merges, roots);
    float *root_p[16];
    for (size_t k = 0; k < n_roots; k++)
        CU_ASSERT_FATAL((root_p[k] = ot_alloc(m * n * sizeof(float))) != NULL);
    /* the thread's rows by column, the end of each leaf noted in every list */
    uint32_t *count = ot_alloc(m * sizeof(uint32_t)), *ends = ot_alloc(S * m * sizeof(uint32_t));
    uint32_t *code = ot_alloc((grows ? grows : 1) * m * sizeof(uint32_t));
    CU_ASSERT_FATAL(count && ends && code);
    for (size_t s = a; s < b; s++) {
        for (size_t p = seg[s]; p < seg[s + 1]; p++)
            for (size_t i = 0; i < m; i++)
                if (u[p * m + i])
                    code[count[i]++ * m + i] = (uint32_t)(p - g0) << 8 | u[p * m + i];
        memcpy(ends + (s - a) * m, count, m * sizeof(uint32_t));
    }
    float *work = ot_alloc(ot_kgemm_tree_sparse_work_size(grows, depth) * sizeof(float));
    CU_ASSERT_FATAL(work != NULL);
    ot_ktree_t t = {b - a, gseg, merges, n_roots, root_p, n};
    ot_kcsc_t xs = {ends, code, scale};
    ot_kgemm_tn_tree_sparse(m, n, &xs, dy + g0 * n, n, &t, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            for (size_t s = a; s < b; s++) {
                leaf[s] = 0.0f;
                for (size_t p = seg[s]; p < seg[s + 1]; p++)
                    if (x[p * m + i] != 0.0f)
                        leaf[s] = fmaf(x[p * m + i], dy[p * n + j], leaf[s]);
            }
            for (size_t k = 0; k < n_roots; k++) { /* root k: node (s0, h) inside [a, b) */
                size_t s0 = roots[k], end = k + 1 < n_roots ? roots[k + 1] : b;
                float node = tree_sum(leaf + s0, end - s0);
                bad += memcmp(&node, &root_p[k][i * n + j], sizeof(float)) != 0;
            }
        }
    for (size_t k = 0; k < n_roots; k++)
        ot_free(root_p[k]);
    ot_free(u), ot_free(count), ot_free(ends), ot_free(code);
    ot_free(x), ot_free(dy), ot_free(leaf), ot_free(work);
    return bad;
}

static void test_tree_sparse_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 8);
    size_t bad = 0;
    /* widths through every vector count, the masked last vector and the column passes */
    const size_t ns[] = {1, 5, 16, 17, 50, 100, 128, 129, 300};
    for (size_t c = 0; c < sizeof ns / sizeof ns[0]; c++)
        bad += check_tree_sparse(61, ns[c], 40, 8, 0, 8, &r);
    bad += check_tree_sparse(784, 50, 100, 8, 0, 8, &r); /* the MNIST shape */
    bad += check_tree_sparse(30, 20, 37, 1, 0, 1, &r);   /* one leaf */
    bad += check_tree_sparse(30, 20, 5, 7, 0, 7, &r);    /* shards without rows */
    bad += check_tree_sparse(30, 33, 90, 16, 0, 16, &r); /* a stack deeper than registers */
    /* a thread's part of the tree: several roots left for the cross-thread pass */
    bad += check_tree_sparse(30, 20, 64, 8, 3, 8, &r);
    bad += check_tree_sparse(30, 20, 64, 16, 1, 11, &r);
    /* rows past one chunk of dy (64 rows), leaves across the chunks' edges: (c)'s shape at one
     * thread (dy's column blocks copied out of wider rows; its 3.2 MB root written past the
     * caches), uneven leaves, a deep stack, a thread's part with several roots, more features
     * than a group (64) */
    bad += check_tree_sparse(784, 1024, 256, 2, 0, 2, &r);
    bad += check_tree_sparse(61, 300, 200, 5, 0, 5, &r);
    bad += check_tree_sparse(30, 20, 150, 16, 0, 16, &r);
    bad += check_tree_sparse(70, 33, 300, 16, 3, 14, &r);
    CU_ASSERT_EQUAL(bad, 0);
}

/* The sparse product against the chain over each row's nonzero entries, with B in place and
 * in column blocks (ot_kpack_sp). */
static void test_sparse_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 7);
    /* rows (past one group of rows, odd counts) x width x depth (past one chunk of B's rows),
     * and whether each row's entries lie in a band of B's rows (an image's digit: chunks a row
     * has no entry in), every fifth row empty */
    const size_t shapes[][4] = {{100, 50, 784, 0}, {7, 100, 30, 0}, {3, 10, 5, 0},
                                {20, 1024, 300, 0}, {1, 129, 40, 0}, {9, 16, 8, 0},
                                {4, 1, 9, 0},      {5, 300, 50, 0}, {130, 1024, 784, 1},
                                {70, 50, 784, 1}};
    size_t bad = 0;
    for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
        size_t m = shapes[c][0], n = shapes[c][1], k = shapes[c][2], ldb = n + c % 2;
        const int band = shapes[c][3] != 0;
        const float scale = c % 2 ? 1.0f / 255.0f : 0.37f; /* u stands for u * scale */
        float *B = random_block(k * ldb, &r), *b = random_block(n, &r);
        float *C = ot_alloc(m * n * sizeof(float));
        uint8_t *U = ot_alloc(m * k), *val = ot_alloc(m * k);
        uint16_t *pix = ot_alloc(m * k * sizeof(uint16_t));
        uint32_t *cnt = ot_alloc(m * sizeof(uint32_t));
        const uint16_t **rp = ot_alloc(m * sizeof *rp);
        const uint8_t **rv = ot_alloc(m * sizeof *rv);
        CU_ASSERT_FATAL(C && U && val && pix && cnt && rp && rv);
        for (size_t i = 0; i < m; i++) { /* mostly zero, by rows */
            rp[i] = pix + i * k, rv[i] = val + i * k;
            const size_t lo = band ? (size_t)ot_rng_below(&r, k * 4 / 5) : 0;
            for (size_t p = 0; p < k; p++) {
                const int out = band && (i % 5 == 4 || p < lo || p >= lo + k / 5);
                U[i * k + p] = out || ot_rng_uniform(&r) < 0.8 ? 0
                                                              : (uint8_t)ot_rng_below(&r, 256);
                if (U[i * k + p]) {
                    pix[i * k + cnt[i]] = (uint16_t)p;
                    val[i * k + cnt[i]++] = U[i * k + p];
                }
            }
        }
        const ot_krows_t x = {cnt, rp, rv, scale};
        ot_kspmm(m, n, &x, B, ldb, c % 2 ? NULL : b, C, n);
        /* B in column blocks, packed in two row ranges as two threads would, then the same
         * product from the blocks: the same bits */
        float *Bp = ot_alloc(k * n * sizeof(float)), *C2 = ot_alloc(m * n * sizeof(float));
        CU_ASSERT_FATAL(Bp && C2);
        ot_kpack_sp(B, ldb, k, n, Bp, k / 3, k);
        ot_kpack_sp(B, ldb, k, n, Bp, 0, k / 3);
        ot_kspmm_packed(m, n, k, &x, Bp, c % 2 ? NULL : b, C2, n);
        bad += memcmp(C, C2, m * n * sizeof(float)) != 0;
        for (size_t i = 0; i < m; i++)
            for (size_t j = 0; j < n; j++) {
                float acc = c % 2 ? 0.0f : b[j];
                for (size_t p = 0; p < k; p++)
                    if (U[i * k + p])
                        acc = fmaf((float)U[i * k + p] * scale, B[p * ldb + j], acc);
                bad += memcmp(&acc, &C[i * n + j], sizeof acc) != 0;
            }
        ot_free(Bp), ot_free(C2);
        ot_free(B), ot_free(b), ot_free(C), ot_free(U), ot_free(val), ot_free(pix);
        ot_free(cnt), ot_free((void *)rp), ot_free((void *)rv);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* The weight gradient of x - shift with each leaf's correction row, for S shards on one
 * thread: x's rows hold the shift in a third of the features' panels (blank positions), a few
 * shift entries are zero. Each root against the tree of the leaves' chains: over every row,
 * fmaf(x - s, dy, .), then fmaf(s, corr_l, .); the zero terms, left out by the kernel, leave a
 * chain as it is, so the bits must match. Returns mismatches; *far: elements far from x^T dy. */
static size_t check_tree_shift(size_t m, size_t n, size_t rows, size_t S, ot_rng_t *r,
                               size_t *far)
{
    float *x = random_block(rows * m, r), *dy = random_block(rows * n, r);
    float *s = random_block(m, r), *corr = ot_alloc(S * n * sizeof(float));
    float *dW = ot_alloc(m * n * sizeof(float)), *leaf = ot_alloc(S * sizeof(float));
    double *ref = ot_alloc(S * sizeof(double));
    size_t depth = ot_tree_depth(S), seg[65];
    uint8_t merges[64];
    float *work = ot_alloc(ot_kgemm_tree_work_size(rows, m, n, S, depth) * sizeof(float));
    CU_ASSERT_FATAL(corr && dW && leaf && ref && work && S <= 64 && depth <= 16);
    for (size_t i = 0; i < m; i += 7)
        s[i] = 0.0f;
    for (size_t p = 0; p < rows; p++) /* blank in a third of the (row, 6-feature group)s */
        for (size_t i = 0; i < m; i++)
            if ((p * 7 + i / 6) % 3 == 0)
                x[p * m + i] = s[i];
    float *root_p[1] = {dW};
    ot_ktree_t t = even_tree(S, rows, n, seg, merges, root_p);
    for (size_t q = 0; q < S; q++) /* the caller's sums of dy over each leaf */
        for (size_t j = 0; j < n; j++) {
            corr[q * n + j] = 0.0f;
            for (size_t p = seg[q]; p < seg[q + 1]; p++)
                corr[q * n + j] += dy[p * n + j];
        }
    ot_kgemm_tn_tree_shift(m, n, x, m, s, dy, n, corr, &t, work);
    size_t bad = 0;
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            double exact = 0.0;
            for (size_t q = 0; q < S; q++) {
                leaf[q] = 0.0f;
                for (size_t p = seg[q]; p < seg[q + 1]; p++) {
                    leaf[q] = fmaf(x[p * m + i] - s[i], dy[p * n + j], leaf[q]);
                    exact += (double)x[p * m + i] * dy[p * n + j];
                }
                leaf[q] = fmaf(s[i], corr[q * n + j], leaf[q]);
            }
            float root = tree_sum(leaf, S);
            bad += memcmp(&root, &dW[i * n + j], sizeof(float)) != 0;
            *far += fabs(root - exact) > 1e-4 * (1.0 + fabs(exact));
        }
    ot_free(x), ot_free(dy), ot_free(s), ot_free(corr), ot_free(dW), ot_free(leaf);
    ot_free(ref), ot_free(work);
    return bad;
}

/* ot_kgemm_tn_tree_chunks from rows packed chunk by chunk of ch features (as the Affine's
 * forward packs them) against ot_kgemm_tn_tree_shift on x itself: the same bits. x holds the
 * shift in whole chunks of a third of its rows, and in single features elsewhere (a panel
 * whose values are all zero inside a live chunk); a few shift entries are zero. Returns
 * mismatches. */
static size_t check_tree_chunks(size_t ch, size_t chunks, size_t n, size_t rows, size_t S,
                                ot_rng_t *r)
{
    const size_t m = ch * chunks, lda = ot_kpack_rows_ld(ch, ot_kgemm_vl()), depth = ot_tree_depth(S);
    float *x = random_block(rows * m, r), *dy = random_block(rows * n, r);
    float *s = random_block(m, r), *corr = random_block(S * n, r);
    float *dW = ot_alloc(m * n * sizeof(float)), *dW2 = ot_alloc(m * n * sizeof(float));
    float *A = ot_alloc(chunks * rows * lda * sizeof(float));
    uint32_t *idx = ot_alloc(chunks * rows * sizeof(uint32_t));
    size_t *cseg = ot_alloc(chunks * (S + 1) * sizeof(size_t)), seg[65];
    uint8_t merges[64];
    const size_t ws = ot_kgemm_tree_work_size(rows, m, n, S, depth);
    const size_t wc = ot_kgemm_tn_tree_chunks_work_size(rows, n, S, depth);
    float *work = ot_alloc((ws > wc ? ws : wc) * sizeof(float));
    CU_ASSERT_FATAL(dW && dW2 && A && idx && cseg && work && S <= 64 && depth <= 16);
    for (size_t i = 0; i < m; i += 7)
        s[i] = 0.0f;
    for (size_t p = 0; p < rows; p++)
        for (size_t i = 0; i < m; i++)
            if ((p * 5 + i / ch) % 3 == 0 || i % 11 == 3)
                x[p * m + i] = s[i];
    float *root_p[1] = {dW};
    ot_ktree_t t = even_tree(S, rows, n, seg, merges, root_p);
    ot_kgemm_tn_tree_shift(m, n, x, m, s, dy, n, corr, &t, work);
    size_t at = 0;
    for (size_t q = 0; q < chunks; q++) {
        const size_t cnt = ot_kpack_rows_shift(rows, ch, x + q * ch, m, s + q * ch,
                                               A + at * lda, lda, idx + at);
        for (size_t l = 0, k = 0; l <= S; l++) {
            while (l < S && k < cnt && idx[at + k] < seg[l])
                k++;
            cseg[q * (S + 1) + l] = l < S ? at + k : at + cnt;
        }
        at += cnt;
    }
    root_p[0] = dW2;
    const ot_kchunks_t xs = {ch, A, lda, idx, cseg};
    ot_kgemm_tn_tree_chunks(m, n, &xs, s, dy, n, corr, &t, work);
    const size_t bad = memcmp(dW, dW2, m * n * sizeof(float)) != 0;
    ot_free(x), ot_free(dy), ot_free(s), ot_free(corr), ot_free(dW), ot_free(dW2), ot_free(A);
    ot_free(idx), ot_free(cseg), ot_free(work);
    return bad;
}

/* Chunks of 24 features are whole tiles in every build (MR 4, 6 or 8); (e)'s 30 in the AVX2
 * one (MR 6). */
static void test_tree_chunks_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 29);
    size_t bad = 0;
    bad += check_tree_chunks(24, 5, 100, 50, 2, &r); /* the 4-column tail */
    bad += check_tree_chunks(24, 3, 37, 13, 3, &r);  /* ragged column panel, uneven leaves */
    bad += check_tree_chunks(24, 2, 16, 7, 1, &r);
    if (30 % ot_kgemm_mr() == 0)
        bad += check_tree_chunks(30, 144, 100, 100, 2, &r); /* (e)'s Affine, one thread */
    CU_ASSERT_EQUAL(bad, 0);
}

static void test_tree_shift_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 16);
    size_t bad = 0, far = 0;
    bad += check_tree_shift(120, 37, 60, 3, &r, &far);  /* ragged column panel */
    bad += check_tree_shift(13, 7, 5, 3, &r, &far);     /* ragged row panel, a shard without rows */
    bad += check_tree_shift(300, 100, 50, 2, &r, &far); /* the 4-column tail of (e)'s Affine */
    bad += check_tree_shift(97, 64, 40, 8, &r, &far);   /* panels past one MC block */
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(far, 0);
}

/* C's rows crow[i] += A B_k0 (rows [k0, k0 + k) of a packed B) against the scalar chain; the
 * rows crow leaves out are untouched. */
static size_t check_acc_rows(size_t m, size_t n, size_t K, size_t k0, size_t k, ot_rng_t *r)
{
    const size_t nr = ot_kgemm_nr(), rows = 2 * m + 3;
    float *A = random_block(m * k, r), *B = random_block(K * n, r), *C = random_block(rows * n, r);
    float *C0 = ot_alloc(rows * n * sizeof(float)), *Bp = ot_alloc(ot_kpack_size(K, n) * sizeof(float));
    uint32_t *crow = ot_alloc((m ? m : 1) * sizeof(uint32_t));
    CU_ASSERT_FATAL(C0 && Bp && crow);
    memcpy(C0, C, rows * n * sizeof(float));
    for (size_t i = 0; i < m; i++) /* every other row, from the back */
        crow[i] = (uint32_t)(rows - 1 - 2 * i);
    ot_kpack_b(B, n, false, K, n, Bp, 0, SIZE_MAX, false);
    ot_kgemm_acc_rows(m, n, k, A, k, Bp + k0 * nr, K * nr, C, n, crow);
    size_t bad = 0;
    for (size_t q = 0; q < rows; q++)
        for (size_t j = 0; j < n; j++) {
            float c = C0[q * n + j];
            for (size_t i = 0; i < m; i++)
                if (crow[i] == q)
                    for (size_t p = 0; p < k; p++)
                        c = fmaf(A[i * k + p], B[(k0 + p) * n + j], c);
            bad += memcmp(&c, &C[q * n + j], sizeof c) != 0;
        }
    ot_free(A), ot_free(B), ot_free(C), ot_free(C0), ot_free(Bp), ot_free(crow);
    return bad;
}

static void test_acc_rows_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 17);
    size_t bad = 0;
    bad += check_acc_rows(65, 100, 4320, 30, 30, &r); /* (e)'s Affine: one position */
    bad += check_acc_rows(1, 16, 40, 0, 40, &r);      /* a lone row */
    bad += check_acc_rows(13, 7, 20, 5, 9, &r);       /* narrow: a masked vector */
    bad += check_acc_rows(20, 33, 50, 49, 1, &r);     /* one term past a panel's width */
    bad += check_acc_rows(7, 64, 12, 0, 12, &r);      /* whole panels */
    CU_ASSERT_EQUAL(bad, 0);
}

/* Rows less a shift, packed, the all-zero ones left out: the kept rows' values and numbers in
 * order, for widths below, at and past a vector. */
static void test_pack_rows_shift(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 19);
    size_t bad = 0;
    const size_t widths[] = {30, 3, 16, 33};
    for (size_t t = 0; t < 4; t++) {
        const size_t k = widths[t], n = 41, ldx = k + 5, lda = ot_kpack_rows_ld(k, ot_kgemm_vl());
        float *x = random_block(n * ldx, &r), *s = random_block(k, &r);
        float *A = ot_alloc(n * lda * sizeof(float));
        uint32_t idx[41];
        CU_ASSERT_FATAL(A != NULL);
        for (size_t i = 0; i < n; i += 3) /* every third row holds s: left out */
            memcpy(x + i * ldx, s, k * sizeof(float));
        x[9 * ldx + k - 1] = s[k - 1] + 1.0f; /* but not one that differs in its last column */
        const size_t cnt = ot_kpack_rows_shift(n, k, x, ldx, s, A, lda, idx);
        size_t want = 0;
        for (size_t i = 0; i < n; i++) {
            if (i % 3 == 0 && i != 9)
                continue;
            bad += want >= cnt || idx[want] != i;
            for (size_t j = 0; j < k && want < cnt; j++) {
                const float v = x[i * ldx + j] - s[j];
                bad += memcmp(&v, &A[want * lda + j], sizeof v) != 0;
            }
            want++;
        }
        bad += cnt != want;
        ot_free(x), ot_free(s), ot_free(A);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

/* y += s W over W's rows, the rows whose s is zero left out: the scalar chain's bits. */
static void test_axpy_rows_bits(void)
{
    ot_rng_t r;
    ot_rng_seed(&r, 18);
    size_t bad = 0;
    const size_t shapes[][2] = {{4320, 100}, {30, 7}, {5, 200}, {1, 1}, {64, 64}};
    for (size_t t = 0; t < sizeof shapes / sizeof shapes[0]; t++) {
        const size_t k = shapes[t][0], n = shapes[t][1];
        float *s = random_block(k, &r), *W = random_block(k * n, &r), *y = random_block(n, &r);
        float *want = ot_alloc(n * sizeof(float));
        CU_ASSERT_FATAL(want != NULL);
        for (size_t f = 0; f < k; f += 3)
            s[f] = 0.0f;
        W[0] = INFINITY; /* s[0] = 0: left out, so y stays finite */
        memcpy(want, y, n * sizeof(float));
        for (size_t f = 0; f < k; f++)
            for (size_t j = 0; j < n && s[f] != 0.0f; j++)
                want[j] = fmaf(s[f], W[f * n + j], want[j]);
        ot_kaxpy_rows(k, n, s, W, n, y);
        bad += memcmp(want, y, n * sizeof(float)) != 0;
        ot_free(s), ot_free(W), ot_free(y), ot_free(want);
    }
    CU_ASSERT_EQUAL(bad, 0);
}

OT_TEST_SUITE(kgemm, NULL, NULL,
              {"GEMM: exactly the fmaf chain at every tile edge", test_gemm_bits},
              {"GEMM through offset tables: exactly the fmaf chain", test_gather_bits},
              {"GEMM with A's zeros left out: the bits of the chain over every term",
               test_skip_bits},
              {"weight gradient in blocks through offsets: one chain over the rows",
               test_tn_acc_bits},
              {"column sums: one chain per column over the rows", test_colsum_bits},
              {"packing by rows: any split packs what the whole does", test_pack_rows},
              {"weight gradient: exactly the tree of leaf chains", test_tree_gemm_bits},
              {"sparse weight gradient: the tree of chains over nonzero entries, any part of it",
               test_tree_sparse_bits},
              {"sparse first layer: exactly the chain over the nonzero entries", test_sparse_bits},
              {"weight gradient of x - shift: the chains with the correction row, zeros left out",
               test_tree_shift_bits},
              {"weight gradient of x - shift from rows packed by chunks: the same bits",
               test_tree_chunks_bits},
              {"a product added to scattered rows: the chains continued from C",
               test_acc_rows_bits},
              {"y += s W: one chain per column, rows of zero s left out", test_axpy_rows_bits},
              {"rows less a shift, packed, all-zero rows left out", test_pack_rows_shift})
