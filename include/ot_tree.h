/* ot_tree.h - the fixed reduction tree that sums the shards' gradients.
 *
 * Node (s, h), h a power of two and s a multiple of h, covers shards [s, min(s + h, S)); it is
 * (s, h/2) + (s + h/2, h/2), or just (s, h/2) when s + h/2 >= S; leaf (s, 1) is shard s, the
 * root is (0, the smallest power of two >= S). Node (s, h) is kept in shard s's block. The
 * tree depends on S only, so the sum has the same bits whatever the number of threads.
 *
 * Thread t of T takes shards [t*S/T, (t+1)*S/T). It forms every node inside its own shards
 * (ot_tree_plan says how, leaf by leaf, with a stack); the nodes that span threads are then
 * formed level by level (ot_tree_spans_threads says which). */
#ifndef OT_TREE_H
#define OT_TREE_H

#include <stddef.h>
#include <stdint.h>

/* Shards [*a, *b) of thread t of T (an empty range when T > S leaves t without one). */
void ot_tree_thread_shards(size_t S, size_t T, size_t t, size_t *a, size_t *b);

/* Nodes a thread's stack holds at most while it walks its shards. */
size_t ot_tree_depth(size_t S);

/* The walk over shards [a, b): after leaf s is formed, merges[s - a] times the stack top is
 * added to it (top + current), then it is pushed. When the walk ends the stack holds the
 * maximal nodes inside [a, b); their first shards go to roots (ot_tree_depth(S) entries), and
 * the count is returned. */
size_t ot_tree_plan(size_t S, size_t a, size_t b, uint8_t *merges, size_t *roots);

/* Whether node (s, 2h) = (s, h) + (s + h, h), with s + h < S, has children formed by
 * different threads of T (then it is formed after every thread's walk). */
int ot_tree_spans_threads(size_t s, size_t h, size_t S, size_t T);

#endif
