/* Elementwise optimizer updates and the squared norm, over host arrays of n floats. */
#ifndef RNNLM_UPDATE_H
#define RNNLM_UPDATE_H

#include <stddef.h>

typedef enum { UPDATE_SGD = 0, UPDATE_ADAM = 1, UPDATE_RMSPROP = 2 } update_kind;

/*
 * One optimizer step: out = w - update(g · scale), with the moments m (Adam's first, unused
 * by the others) and v (Adam's second, RMSprop's mean square) updated in place. `h` holds the
 * hyper-parameters: lr, then Adam's beta1, beta2, eps, lr / (1 - beta1^t) folded as h[4] and
 * 1 / (1 - beta2^t) as h[5]; RMSprop's rho and eps as h[1], h[2].
 */
void update_step(update_kind kind, size_t n, const float *w, const float *g, float *m, float *v, float *out,
                 float scale, const double *h);

/* Σ x² in double precision. */
double update_sum_squares(size_t n, const float *x);

#endif
