/* tree.c - the fixed reduction tree over the shards (see ot_tree.h). */
#include "ot_tree.h"

static size_t min_sz(size_t a, size_t b)
{
    return a < b ? a : b;
}

void ot_tree_part(size_t lo, size_t hi, size_t n, size_t i, size_t *a, size_t *b)
{
    const size_t m = hi - lo;
    *a = lo + i * m / n;
    *b = lo + (i + 1) * m / n;
}

/* The part of n that takes shard s of [lo, hi): with y = s - lo and m = hi - lo,
 * y >= floor(i*m/n) exactly when i <= ((y+1)*n - 1) / m. */
static size_t owner(size_t s, size_t lo, size_t hi, size_t n)
{
    return ((s - lo + 1) * n - 1) / (hi - lo);
}

size_t ot_tree_depth(size_t S)
{
    size_t d = 2;
    for (size_t h = 1; h < S; h *= 2)
        d++;
    return d;
}

int ot_tree_inside(size_t s, size_t h, size_t S, size_t lo, size_t hi)
{
    return s >= lo && min_sz(s + h, S) <= hi;
}

size_t ot_tree_plan(size_t S, size_t a, size_t b, uint8_t *merges, size_t *roots)
{
    size_t top = 0;
    for (size_t s = a; s < b; s++) {
        size_t start = s, h = 1;
        uint8_t m = 0;
        while (h < S) {
            if (start & h) { /* right child of (start - h, 2h): its left sibling is on top */
                if (!ot_tree_inside(start - h, 2 * h, S, a, b))
                    break;
                start -= h;
                m++;
                top--;
            } else if (start + h < S || !ot_tree_inside(start, 2 * h, S, a, b)) {
                break; /* a left child waits for its sibling, or its parent spans threads */
            }          /* else: no right sibling, so the parent is this node: move up */
            h *= 2;
        }
        merges[s - a] = m;
        roots[top++] = start;
    }
    return top;
}

int ot_tree_spans(size_t s, size_t h, size_t S, size_t lo, size_t hi, size_t n)
{
    return owner(s, lo, hi, n) != owner(min_sz(s + 2 * h, S) - 1, lo, hi, n);
}
