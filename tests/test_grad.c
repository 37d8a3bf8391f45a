/* test_grad.c - the parameter-gradient interface between a layer's backward and the shard tree
 * (src/grad.c, ot_grad.h), on an ot_grad_t built by hand for every S shards, T threads and
 * thread t, with the plan of ot_tree.h: ot_grad_leaf's addresses; ot_grad_leaves_done forms
 * in place exactly the thread's nodes of the tree, bit for bit against a reference sum in the
 * tree's order on values where the order of float additions shows, and writes nothing outside
 * its tensor and its shards; every thread's walk plus the cross-thread pass gives the whole
 * tree's sum at the root; ot_grad_tree's leaf segments (scaled by rows per sample), roots and
 * stride. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ot_grad.h"
#include "ot_rng.h"
#include "ot_test.h"
#include "ot_tree.h"

enum {
    MAX_S = 40,               /* shards tried: 1..MAX_S */
    OFF = 5, LEN = 37,        /* the tensor: floats [OFF, OFF + LEN) of every block */
    BLOCK = OFF + LEN + 6,    /* a block: the tensor with other parameters on both sides */
};
static const float GUARD = -7777.0f; /* the other parameters' gradients, never touched */

/* One thread's ot_grad_t and the room it points to. */
typedef struct {
    size_t seg[MAX_S + 1], seg_rows[MAX_S + 1], roots[16];
    uint8_t merges[MAX_S];
    float *root_p[16];
    size_t T;  /* threads in the split */
    ot_grad_t g;
} fixture_t;

/* Thread t of T over shards [0, S) of blocks, as the engine sets it up: its shards, its walk,
 * and shard s holding 2 s + 1 rows (its leaves' rows from the thread's first). */
static void fixture(fixture_t *f, float *const *blocks, size_t S, size_t T, size_t t)
{
    memset(f, 0, sizeof *f);
    f->g = (ot_grad_t){blocks, S, 0, 0, 0, f->roots, f->merges, f->seg, f->seg_rows,
                       f->root_p, 0, 1};
    f->T = T;
    ot_tree_part(0, S, T, t, &f->g.a, &f->g.b);
    CU_ASSERT_FATAL(ot_tree_depth(S) <= 16);
    f->g.n_roots = ot_tree_plan(S, f->g.a, f->g.b, f->merges, f->roots);
    for (size_t i = 1; i <= f->g.b - f->g.a; i++)
        f->seg[i] = f->seg[i - 1] + 2 * (f->g.a + i - 1) + 1;
}

/* Leaf values whose sums depend on the order of the additions: magnitudes from 1 to 1e7. */
static void fill_leaves(float leaf[][LEN], size_t S, ot_rng_t *r)
{
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < LEN; i++)
            leaf[s][i] = (float)(ot_rng_normal(r) * pow(10.0, (double)ot_rng_below(r, 8)));
}

/* Every block: GUARD, with shard s's leaf at [OFF, OFF + LEN). */
static void write_blocks(float blocks[][BLOCK], float leaf[][LEN], size_t S)
{
    for (size_t s = 0; s < S; s++) {
        for (size_t i = 0; i < BLOCK; i++)
            blocks[s][i] = GUARD;
        memcpy(blocks[s] + OFF, leaf[s], LEN * sizeof(float));
    }
}

/* Element i of the node over leaves [s0, end), s0 its first shard, summed in the tree's order
 * (ot_tree.h: (s, h) = (s, h/2) + (s + h/2, h/2)), which depends on the leaves' positions
 * relative to s0 only. */
static float tree_sum(float leaf[][LEN], size_t s0, size_t end, size_t i)
{
    float v[MAX_S];
    const size_t n = end - s0;
    for (size_t k = 0; k < n; k++)
        v[k] = leaf[s0 + k][i];
    for (size_t h = 1; h < n; h *= 2)
        for (size_t k = 0; k + h < n; k += 2 * h)
            v[k] += v[k + h];
    return v[0];
}

static int same_bits(float a, float b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

/* The blocks of every test: S of them used, blocks[s] at bp[s] (ot_grad_t.blocks). */
static float blocks[MAX_S][BLOCK];
static float *bp[MAX_S];

static int setup(void)
{
    for (size_t s = 0; s < MAX_S; s++)
        bp[s] = blocks[s];
    return 0;
}

/* A check of one thread's ot_grad_t: returns its mismatches; f->g says which thread. */
typedef size_t (*thread_check_fn)(fixture_t *f, ot_rng_t *r);

/* check on every thread t of every T up to S + 2 for every S up to MAX_S; the mismatches. */
static size_t every_thread(thread_check_fn check, uint64_t seed)
{
    ot_rng_t r;
    ot_rng_seed(&r, seed);
    size_t bad = 0;
    for (size_t S = 1; S <= MAX_S; S++)
        for (size_t T = 1; T <= S + 2; T++)
            for (size_t t = 0; t < T; t++) {
                fixture_t f;
                fixture(&f, bp, S, T, t);
                bad += check(&f, &r);
            }
    return bad;
}

/* ---------------------------------------------------------------- tests */

/* ot_grad_leaf: shard a + i's block, at off */
static size_t check_leaf(fixture_t *f, ot_rng_t *r)
{
    (void)r;
    size_t bad = 0;
    for (size_t i = 0; i < f->g.b - f->g.a; i++)
        bad += ot_grad_leaf(&f->g, i, OFF) != blocks[f->g.a + i] + OFF ||
               ot_grad_leaf(&f->g, i, 0) != blocks[f->g.a + i];
    return bad;
}

static void test_leaf(void)
{
    CU_ASSERT_EQUAL(every_thread(check_leaf, 0), 0);
}

/* Each thread alone: after ot_grad_leaves_done its roots hold, bit for bit, the nodes of the
 * tree over its shards; the blocks of other threads' shards and every float outside the
 * tensor are as they were. */
static size_t check_leaves_done(fixture_t *f, ot_rng_t *r)
{
    static float leaf[MAX_S][LEN], before[MAX_S][BLOCK];
    static size_t shown;
    const size_t S = f->g.S, a = f->g.a, b = f->g.b;
    size_t wrong_roots = 0, touched = 0;
    if (f->T == 1) /* new leaves for each S (its first case); every thread sees them */
        fill_leaves(leaf, S, r);
    write_blocks(blocks, leaf, S);
    memcpy(before, blocks, sizeof blocks);
    ot_grad_leaves_done(&f->g, OFF, LEN);
    for (size_t k = 0; k < f->g.n_roots; k++) { /* root k: shards [roots[k], end) */
        size_t s0 = f->roots[k], end = k + 1 < f->g.n_roots ? f->roots[k + 1] : b;
        for (size_t i = 0; i < LEN; i++)
            wrong_roots += !same_bits(blocks[s0][OFF + i], tree_sum(leaf, s0, end, i));
    }
    for (size_t s = 0; s < S; s++)
        for (size_t i = 0; i < BLOCK; i++) {
            int mine = s >= a && s < b && i >= OFF && i < OFF + LEN;
            touched += !mine && !same_bits(blocks[s][i], before[s][i]);
        }
    if (wrong_roots + touched && shown++ < 3) /* the first few, for the reader */
        fprintf(stderr, "\n  S %zu T %zu shards %zu..%zu: %zu wrong root floats, %zu touched "
                "outside", S, f->T, a, b, wrong_roots, touched);
    return wrong_roots + touched;
}

static void test_leaves_done(void)
{
    CU_ASSERT_EQUAL(every_thread(check_leaves_done, 31), 0);
}

/* Every thread's ot_grad_leaves_done, then the engine's cross-thread pass (the nodes that
 * span threads, level by level): block 0 holds the whole tree's sum, for any T. The guard: the
 * leaves' left-to-right sum differs from it, so a sum in another order cannot pass. */
static void test_whole_tree(void)
{
    static float leaf[MAX_S][LEN];
    ot_rng_t r;
    ot_rng_seed(&r, 32);
    size_t bad = 0, order_blind = 0;
    for (size_t S = 1; S <= MAX_S; S++) {
        fill_leaves(leaf, S, &r);
        size_t differ = 0; /* elements where the left-to-right sum is another float */
        for (size_t i = 0; i < LEN; i++) {
            float seq = 0.0f;
            for (size_t s = 0; s < S; s++)
                seq += leaf[s][i];
            differ += !same_bits(seq, tree_sum(leaf, 0, S, i));
        }
        order_blind += S >= 4 && differ == 0; /* S 3's tree, (0 + 1) + 2, is left to right */
        for (size_t T = 1; T <= S + 2; T++) {
            write_blocks(blocks, leaf, S);
            for (size_t t = 0; t < T; t++) {
                fixture_t f;
                fixture(&f, bp, S, T, t);
                ot_grad_leaves_done(&f.g, OFF, LEN);
            }
            for (size_t h = 1; h < S; h *= 2)
                for (size_t s = 0; s + h < S; s += 2 * h)
                    if (ot_tree_spans(s, h, S, 0, S, T))
                        for (size_t i = OFF; i < OFF + LEN; i++)
                            blocks[s][i] += blocks[s + h][i];
            for (size_t i = 0; i < LEN; i++)
                bad += !same_bits(blocks[0][OFF + i], tree_sum(leaf, 0, S, i));
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(order_blind, 0); /* from 4 shards on, the order shows in the bits */
}

/* ot_grad_tree: the thread's leaves as row ranges (seg as given, or scaled by rows per sample
 * into seg_rows), its walk, its roots in their first shards' blocks at off, the stride. */
static size_t check_grad_tree(fixture_t *f, ot_rng_t *r)
{
    const size_t n = f->g.b - f->g.a, rpr = 2 + ot_rng_below(r, 3);
    size_t seg[MAX_S + 1], bad = 0;
    memcpy(seg, f->seg, sizeof seg);
    ot_ktree_t k;
    for (int pass = 0; pass < 2; pass++) { /* 1 row per sample, then rpr */
        const size_t rows = pass ? rpr : 1, off = pass ? OFF : 2, ld = 7 + (size_t)pass;
        memset(&k, 0, sizeof k);
        ot_grad_tree(&f->g, off, ld, rows, &k);
        bad += k.n_leaves != n || k.merges != f->merges || k.n_roots != f->g.n_roots ||
               k.roots != f->root_p || k.ldr != ld;
        bad += rows == 1 ? k.seg != f->seg : k.seg != f->seg_rows;
        for (size_t i = 0; i <= n; i++)
            bad += k.seg[i] != seg[i] * rows || f->seg[i] != seg[i];
        for (size_t j = 0; j < f->g.n_roots; j++)
            bad += k.roots[j] != blocks[f->roots[j]] + off;
    }
    /* and back to one row per sample: the leaves' own segments again */
    ot_grad_tree(&f->g, OFF, 3, 1, &k);
    bad += k.seg != f->seg || k.seg[n] != seg[n];
    return bad;
}

static void test_grad_tree(void)
{
    CU_ASSERT_EQUAL(every_thread(check_grad_tree, 33), 0);
}

/* ot_grad_share: the members of a shard split rows 0..rows in runs of align, in member
 * order, without gap or overlap, each within a run of the even split; one member takes all. */
static void test_share(void)
{
    ot_grad_t g = {0};
    size_t lo, hi, bad = 0;
    g.members = 1;
    ot_grad_share(&g, 37, 4, &lo, &hi);
    bad += lo != 0 || hi != 37;
    g.members = 0; /* as a zeroed ot_grad_t says: not shared */
    ot_grad_share(&g, 5, 1, &lo, &hi);
    bad += lo != 0 || hi != 5;
    for (size_t k = 2; k <= 17; k++)
        for (size_t rows = 0; rows <= 40; rows++)
            for (size_t align = 1; align <= 8; align *= 2) {
                size_t next = 0;
                g.members = k;
                for (g.member = 0; g.member < k; g.member++) {
                    ot_grad_share(&g, rows, align, &lo, &hi);
                    bad += lo != next || hi < lo || hi > rows || (hi < rows && hi % align);
                    bad += hi - lo > ((rows + align - 1) / align + k - 1) / k * align;
                    next = hi;
                }
                bad += next != rows;
            }
    CU_ASSERT_EQUAL(bad, 0);
}

OT_TEST_SUITE(grad, setup, NULL,
              {"ot_grad_share: a shard's rows split among its threads, in order, whole", test_share},
              {"ot_grad_leaf: shard a + i's block at off", test_leaf},
              {"leaves_done: exactly the thread's nodes, bit for bit, nothing else touched",
               test_leaves_done},
              {"leaves_done of every thread + cross-thread pass: the whole tree, any T",
               test_whole_tree},
              {"ot_grad_tree: segments scaled by rows per sample, roots, stride", test_grad_tree})
