/* grad.c - the parameter-gradient interface between layers and the shard tree (ot_grad.h). */
#include "ot_grad.h"

#include "ot_tree.h"

void ot_grad_share(const ot_grad_t *g, size_t rows, size_t align, size_t *lo, size_t *hi)
{
    if (g->members <= 1) {
        *lo = 0;
        *hi = rows;
        return;
    }
    const size_t units = (rows + align - 1) / align, m = g->member, k = g->members;
    size_t a = m * units / k * align, b = (m + 1) * units / k * align;
    *lo = a < rows ? a : rows;
    *hi = b < rows ? b : rows;
}

float *ot_grad_leaf(ot_grad_t *g, size_t i, size_t off)
{
    return g->blocks[g->a + i] + off;
}

void ot_grad_leaves_done(ot_grad_t *g, size_t off, size_t len)
{
    /* the same nodes as the thread's walk (those inside its shards), added in place level by
     * level */
    const size_t S = g->S;
    for (size_t h = 1; h < S; h *= 2)
        for (size_t s = (g->a + 2 * h - 1) / (2 * h) * (2 * h); s + h < g->b; s += 2 * h)
            if (ot_tree_inside(s, 2 * h, S, g->a, g->b)) {
                float *restrict x = g->blocks[s] + off;
                const float *restrict y = g->blocks[s + h] + off;
                for (size_t i = 0; i < len; i++)
                    x[i] += y[i];
            }
}

void ot_grad_tree(ot_grad_t *g, size_t off, size_t ld, size_t rows_per_row, ot_ktree_t *t)
{
    const size_t n = g->b - g->a;
    for (size_t r = 0; r < g->n_roots; r++)
        g->root_p[r] = g->blocks[g->roots[r]] + off;
    const size_t *seg = g->seg;
    if (rows_per_row != 1) {
        for (size_t i = 0; i <= n; i++)
            g->seg_rows[i] = g->seg[i] * rows_per_row;
        seg = g->seg_rows;
    }
    *t = (ot_ktree_t){n, seg, g->merges, g->n_roots, g->root_p, ld};
}
