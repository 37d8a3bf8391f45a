/* ot_graph.h - the textbook's computational-graph nodes: Mul and Add, forward and backward,
 * element-wise over n values. */
#ifndef OT_GRAPH_H
#define OT_GRAPH_H

#include <stddef.h>

/* out = x * y */
void ot_mul_forward(const float *x, const float *y, float *out, size_t n);
/* dx = dout * y, dy = dout * x (the swap of the inputs is the derivative of a product) */
void ot_mul_backward(const float *x, const float *y, const float *dout, float *dx, float *dy,
                     size_t n);
/* out = x + y */
void ot_add_forward(const float *x, const float *y, float *out, size_t n);
/* dx = dout, dy = dout */
void ot_add_backward(const float *dout, float *dx, float *dy, size_t n);

#endif
