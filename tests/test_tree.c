/* test_tree.c - the fixed reduction tree of src/tree.c (ot_tree.h): the threads' walks
 * (ot_tree_plan) plus the cross-thread pass (ot_tree_spans) form exactly the tree for every
 * shard and thread count, and so do R processes of T threads that keep only their roots before
 * the cross-process pass, checked symbolically; ot_tree_part splits shards into contiguous,
 * balanced ranges in order; no walk's stack grows past ot_tree_depth. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ot_test.h"
#include "ot_tree.h"

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

/* The tree as R processes of T threads form it, symbolically: every thread walks its shards,
 * each process adds the nodes that span its threads, only the process's roots (its maximal
 * nodes, what it sends to the others) are kept, and the nodes that span processes are added
 * over those. The result must be the canonical tree. */
static size_t build(size_t S, size_t R, size_t T, char buf[][EXPR], char mine[][EXPR],
                    char stack[][EXPR])
{
    static char cur[EXPR];
    size_t fails = 0;
    for (size_t s = 0; s < S; s++)
        buf[s][0] = '\0';
    for (size_t r = 0; r < R; r++) {
        size_t lo, hi, roots[16];
        uint8_t merges[40];
        ot_tree_part(0, S, R, r, &lo, &hi);
        for (size_t s = 0; s < S; s++)
            mine[s][0] = '\0';
        for (size_t t = 0; t < T; t++) { /* each thread's walk */
            size_t a, b, top = 0;
            ot_tree_part(lo, hi, T, t, &a, &b);
            size_t n_roots = ot_tree_plan(S, a, b, merges, roots);
            for (size_t s = a; s < b; s++) {
                snprintf(cur, EXPR, "%zu", s);
                for (unsigned m = merges[s - a]; m > 0; m--)
                    join(cur, stack[--top], cur);
                memcpy(stack[top++], cur, EXPR);
            }
            fails += top != n_roots || top > ot_tree_depth(S);
            for (size_t i = 0; i < top; i++)
                memcpy(mine[roots[i]], stack[i], EXPR);
        }
        for (size_t h = 1; h < S; h *= 2) /* the cross-thread pass inside the process */
            for (size_t s = 0; s + h < S; s += 2 * h)
                if (ot_tree_inside(s, 2 * h, S, lo, hi) && ot_tree_spans(s, h, S, lo, hi, T)) {
                    fails += !mine[s][0] || !mine[s + h][0];
                    join(mine[s], mine[s], mine[s + h]);
                }
        size_t n_roots = ot_tree_plan(S, lo, hi, merges, roots); /* what it sends */
        for (size_t i = 0; i < n_roots; i++) {
            fails += !mine[roots[i]][0] || buf[roots[i]][0];
            memcpy(buf[roots[i]], mine[roots[i]], EXPR);
        }
    }
    for (size_t h = 1; h < S; h *= 2) /* the cross-process pass, over the roots */
        for (size_t s = 0; s + h < S; s += 2 * h)
            if (ot_tree_spans(s, h, S, 0, S, R)) {
                fails += !buf[s][0] || !buf[s + h][0];
                join(buf[s], buf[s], buf[s + h]);
            }
    return fails;
}

/* One process: S 1..40, T 1..S+2 (more threads than shards leaves some without one). */
static void test_tree_plan(void)
{
    static char buf[40][EXPR], mine[40][EXPR], stack[16][EXPR], want[EXPR];
    size_t fails = 0;
    for (size_t S = 1; S <= 40; S++) {
        size_t H = 1;
        while (H < S)
            H *= 2;
        canonical(0, H, S, want);
        for (size_t T = 1; T <= S + 2; T++) {
            size_t f = build(S, 1, T, buf, mine, stack);
            if ((f || strcmp(buf[0], want) != 0) && fails++ < 3) /* the first few */
                fprintf(stderr, "S %zu T %zu: %s, expected %s\n", S, T, buf[0], want);
        }
    }
    CU_ASSERT_EQUAL(fails, 0);
}

/* R processes of T threads: S 1..40, R 1..min(S, 9), T 1..S/R+2. */
static void test_tree_processes(void)
{
    static char buf[40][EXPR], mine[40][EXPR], stack[16][EXPR], want[EXPR];
    size_t fails = 0, tried = 0;
    for (size_t S = 1; S <= 40; S++) {
        size_t H = 1;
        while (H < S)
            H *= 2;
        canonical(0, H, S, want);
        for (size_t R = 1; R <= S && R <= 9; R++)
            for (size_t T = 1; T <= S / R + 2; T++) {
                size_t f = build(S, R, T, buf, mine, stack);
                tried++;
                if ((f || strcmp(buf[0], want) != 0) && fails++ < 3) /* the first few */
                    fprintf(stderr, "S %zu R %zu T %zu: %s, expected %s\n", S, R, T, buf[0],
                            want);
            }
    }
    CU_ASSERT_EQUAL(fails, 0);
    CU_ASSERT(tried > 1000);
}

/* Every S up to 64 and T up to S + 2, over [0, S) and over a process's range [lo, hi) of it:
 * thread t's shards follow thread t - 1's, the ranges cover [lo, hi) and differ in size by one
 * at most (T > hi - lo: the rest get none); each walk pops only what it pushed and its stack
 * stays within ot_tree_depth(S). */
/* Mismatches of [lo, hi) of S shards split into T parts. */
static size_t check_split(size_t S, size_t lo, size_t hi, size_t T)
{
    const size_t m = hi - lo, small = m / T, large = (m + T - 1) / T;
    size_t bad = 0, next = lo, empty = 0;
    for (size_t t = 0; t < T; t++) {
        size_t a, b, roots[16], top = 0, most = 0;
        uint8_t merges[64];
        ot_tree_part(lo, hi, T, t, &a, &b);
        bad += a != next || b < a || b - a < small || b - a > large;
        empty += a == b;
        next = b;
        if (b < a || b > hi)
            continue;
        size_t n_roots = ot_tree_plan(S, a, b, merges, roots);
        for (size_t s = a; s < b; s++) {
            bad += merges[s - a] > top; /* pops a node it never pushed */
            top -= merges[s - a] > top ? top : merges[s - a];
            if (++top > most)
                most = top;
        }
        bad += top != n_roots || most > ot_tree_depth(S);
    }
    return bad + (next != hi) + (empty != (T > m ? T - m : 0));
}

static void test_tree_threads(void)
{
    size_t bad = 0, shown = 0;
    for (size_t S = 1; S <= 64; S++)
        for (size_t T = 1; T <= S + 2; T++)
            for (size_t lo = 0; lo < S; lo += 1 + S / 3)
                for (size_t hi = lo + 1; hi <= S; hi += 1 + S / 4) {
                    size_t b = check_split(S, lo, hi, T);
                    if (b && shown++ < 3) /* the first few, for the reader */
                        fprintf(stderr, "S %zu [%zu, %zu) T %zu: bad split or walk\n", S, lo,
                                hi, T);
                    bad += b;
                }
    CU_ASSERT_EQUAL(bad, 0);
}

OT_TEST_SUITE(tree, NULL, NULL,
              {"tree: walks plus cross-thread pass form the tree, S 1..40, T 1..S+2",
               test_tree_plan},
              {"tree: processes x threads, their roots and the cross-process pass form the tree",
               test_tree_processes},
              {"tree: ot_tree_part splits [lo, hi) in order; walks stay within ot_tree_depth",
               test_tree_threads})
