/* tree.c - the fixed reduction tree over the shards (see ot_tree.h). */
#include "ot_tree.h"

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

void ot_tree_thread_shards(size_t S, size_t T, size_t t, size_t *a, size_t *b)
{
    *a = t * S / T;
    *b = (t + 1) * S / T;
}

/* The thread that takes shard s: s >= floor(t*S/T) exactly when t <= ((s+1)*T - 1) / S. */
static size_t owner(size_t s, size_t S, size_t T)
{
    return ((s + 1) * T - 1) / S;
}

size_t ot_tree_depth(size_t S)
{
    size_t d = 2;
    for (size_t h = 1; h < S; h *= 2)
        d++;
    return d;
}

/* Node (s, h) lies inside shards [a, b). */
static int inside(size_t s, size_t h, size_t S, size_t a, size_t b)
{
    return s >= a && min_sz(s + h, S) <= b;
}

size_t ot_tree_plan(size_t S, size_t a, size_t b, uint8_t *merges, size_t *roots)
{
    size_t top = 0;
    for (size_t s = a; s < b; s++) {
        size_t start = s, h = 1;
        uint8_t m = 0;
        while (h < S) {
            if (start & h) { /* right child of (start - h, 2h): its left sibling is on top */
                if (!inside(start - h, 2 * h, S, a, b))
                    break;
                start -= h;
                m++;
                top--;
            } else if (start + h < S || !inside(start, 2 * h, S, a, b)) {
                break; /* a left child waits for its sibling, or its parent spans threads */
            }          /* else: no right sibling, so the parent is this node: move up */
            h *= 2;
        }
        merges[s - a] = m;
        roots[top++] = start;
    }
    return top;
}

int ot_tree_spans_threads(size_t s, size_t h, size_t S, size_t T)
{
    return owner(s, S, T) != owner(min_sz(s + 2 * h, S) - 1, S, T);
}
