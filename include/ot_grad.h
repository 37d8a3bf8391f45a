/* ot_grad.h - how a layer's backward hands its parameter gradients to the shard reduction tree
 * (ot_tree.h) without seeing it. The calling thread owns shards [a, b) of S; each shard has a
 * gradient block laid out like the parameters. A kind writes each of its shards' leaves and
 * then asks for the thread's nodes of the tree (ot_grad_leaf, ot_grad_leaves_done), or lets a
 * kernel form them in registers (ot_grad_tree for ot_kgemm_tn_tree). Either way the thread
 * leaves its roots in their first shard's block, and the engine adds the nodes that span
 * threads (and processes) afterwards. When there are more threads than shards, the threads
 * of one shard share its gradient by rows (ot_grad_share). Element-wise kinds have no
 * parameters and never use this. */
#ifndef OT_GRAD_H
#define OT_GRAD_H

#include <stddef.h>
#include <stdint.h>

#include "ot_kgemm.h"

typedef struct ot_grad {
    float *const *blocks; /* (S) every shard's gradient block */
    size_t S;             /* shards */
    size_t a, b;          /* the calling thread's shards */
    size_t n_roots;       /* nodes the thread leaves for the others (ot_tree_plan) */
    const size_t *roots;  /* (n_roots) their first shards */
    const uint8_t *merges; /* (b - a) the thread's walk */
    const size_t *seg;    /* (b - a + 1) the shards' first rows, relative to the thread's */
    size_t *seg_rows;     /* (b - a + 1) room for seg scaled by rows per sample */
    float **root_p;       /* (n_roots) room for where a tensor's roots go */
    size_t member, members; /* more threads than shards: the calling thread is member `member`
                               of the `members` threads that share its one shard; else 0, 1 */
} ot_grad_t;

/* The calling thread's share [*lo, *hi) of the `rows` rows of a parameter gradient matrix:
 * all of them unless threads share a shard, when they split the rows in runs of `align`
 * (a vector, one row, goes to one of them). Every element of a gradient is one chain over
 * the shard's rows whichever thread forms it, so the split changes no bit. */
void ot_grad_share(const ot_grad_t *g, size_t rows, size_t align, size_t *lo, size_t *hi);

/* Where leaf i's (0 <= i < b - a) gradient of the parameters at offset off of the block is
 * written. */
float *ot_grad_leaf(ot_grad_t *g, size_t i, size_t off);

/* The leaves of [off, off + len) are all written: form the thread's nodes of the tree from
 * them, in place. */
void ot_grad_leaves_done(ot_grad_t *g, size_t off, size_t len);

/* For a kernel that forms the tree itself (ot_kgemm_tn_tree): *t describes the thread's
 * leaves as row ranges of a matrix with rows_per_row rows per sample, and roots at offset off
 * of the blocks with row stride ld. Valid until the next call. */
void ot_grad_tree(ot_grad_t *g, size_t off, size_t ld, size_t rows_per_row, ot_ktree_t *t);

#endif
