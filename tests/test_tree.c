/* test_tree.c - the fixed reduction tree of src/tree.c (ot_tree.h): the threads' walks
 * (ot_tree_plan) plus the cross-thread pass (ot_tree_spans_threads) form exactly the tree for
 * every shard and thread count, checked symbolically; ot_tree_thread_shards splits the shards
 * into contiguous, balanced ranges in thread order; no walk's stack grows past
 * ot_tree_depth. */
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

/* Every S up to 64 and T up to S + 2: thread t's shards follow thread t - 1's, the ranges
 * cover [0, S) and differ in size by one at most (T > S: T - S threads get none); each walk
 * pops only what it pushed and its stack stays within ot_tree_depth(S). */
static void test_tree_threads(void)
{
    size_t bad = 0, shown = 0;
    for (size_t S = 1; S <= 64; S++)
        for (size_t T = 1; T <= S + 2; T++) {
            size_t before = bad, next = 0, empty = 0, small = S / T, large = (S + T - 1) / T;
            for (size_t t = 0; t < T; t++) {
                size_t a, b, roots[16], top = 0, most = 0;
                uint8_t merges[64];
                ot_tree_thread_shards(S, T, t, &a, &b);
                bad += a != next || b < a || b - a < small || b - a > large;
                empty += a == b;
                next = b;
                if (b < a || b > S)
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
            bad += next != S || empty != (T > S ? T - S : 0);
            if (bad != before && shown++ < 3) /* the first few, for the reader */
                fprintf(stderr, "S %zu T %zu: bad split or walk\n", S, T);
        }
    CU_ASSERT_EQUAL(bad, 0);
}

OT_TEST_SUITE(tree, NULL, NULL,
              {"tree: walks plus cross-thread pass form the tree, S 1..40, T 1..S+2",
               test_tree_plan},
              {"tree: thread shards split [0, S) in order; walks stay within ot_tree_depth",
               test_tree_threads})
