/* graph.c - the textbook's computational-graph nodes, Mul and Add: backprop on a graph of
 * scalar operations (the apple-and-orange example of tests/test_graph.c), before the layers. */
#include "ot_graph.h"

void ot_mul_forward(const float *x, const float *y, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] * y[i];
}

void ot_mul_backward(const float *x, const float *y, const float *dout, float *dx, float *dy,
                     size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dx[i] = dout[i] * y[i];
        dy[i] = dout[i] * x[i];
    }
}

void ot_add_forward(const float *x, const float *y, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = x[i] + y[i];
}

void ot_add_backward(const float *dout, float *dx, float *dy, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        dx[i] = dout[i];
        dy[i] = dout[i];
    }
}
