/* ot_tree.h - the fixed reduction tree that sums the shards' gradients.
 *
 * Node (s, h), h a power of two and s a multiple of h, covers shards [s, min(s + h, S)); it is
 * (s, h/2) + (s + h/2, h/2), or just (s, h/2) when s + h/2 >= S; leaf (s, 1) is shard s, the
 * root is (0, the smallest power of two >= S). Node (s, h) is kept in shard s's block. The
 * tree depends on S only, so the sum has the same bits whatever the number of processes and
 * threads.
 *
 * Work is split in two levels, each by ot_tree_part: process r of R takes shards
 * [r*S/R, (r+1)*S/R), and thread t of its T takes part t of that range. A thread forms every
 * node inside its own shards (ot_tree_plan says how, leaf by leaf, with a stack); the nodes
 * inside the process that span its threads are then formed level by level (ot_tree_spans
 * over the process's range and T says which), and the nodes that span processes after those
 * (ot_tree_spans over [0, S) and R). With one process the last kind does not occur. */
#ifndef OT_TREE_H
#define OT_TREE_H

#include <stddef.h>
#include <stdint.h>

/* Part i of n of the shards [lo, hi): [lo + i*(hi-lo)/n, lo + (i+1)*(hi-lo)/n), into *a, *b
 * (contiguous, in order, sizes differing by one at most; empty when n > hi - lo leaves part i
 * without one). Process r of R: ot_tree_part(0, S, R, r); thread t of T of a process with
 * shards [lo, hi): ot_tree_part(lo, hi, T, t). */
void ot_tree_part(size_t lo, size_t hi, size_t n, size_t i, size_t *a, size_t *b);

/* Nodes a thread's stack holds at most while it walks its shards. */
size_t ot_tree_depth(size_t S);

/* Whether node (s, h) of a tree over S shards lies inside shards [lo, hi). */
int ot_tree_inside(size_t s, size_t h, size_t S, size_t lo, size_t hi);

/* The walk over shards [a, b): after leaf s is formed, merges[s - a] times the stack top is
 * added to it (top + current), then it is pushed. When the walk ends the stack holds the
 * maximal nodes inside [a, b); their first shards go to roots (ot_tree_depth(S) entries), and
 * the count is returned. */
size_t ot_tree_plan(size_t S, size_t a, size_t b, uint8_t *merges, size_t *roots);

/* Whether node (s, 2h) = (s, h) + (s + h, h) of a tree over S shards (s + h < S), lying
 * inside [lo, hi), has children in different parts when [lo, hi) is split into n parts by
 * ot_tree_part (then it is formed after the parts' own nodes). */
int ot_tree_spans(size_t s, size_t h, size_t S, size_t lo, size_t hi, size_t n);

#endif
