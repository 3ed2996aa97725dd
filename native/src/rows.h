/* Row operations of the training step: the embedding's gather and scatter-add, the loss. */
#ifndef RNNLM_ROWS_H
#define RNNLM_ROWS_H

#include <stddef.h>
#include <stdint.h>

/* out[r] = table[ids[r]] for n rows of `dim` floats; false when an id is outside [0, rows). */
int rows_gather(size_t n, size_t dim, size_t rows, const float *table, const int32_t *ids, float *out);

/* table[ids[r]] += src[r] for n rows of `dim` floats; false when an id is outside [0, rows). */
int rows_scatter_add(size_t n, size_t dim, size_t rows, const float *src, const int32_t *ids, float *table);

/*
 * Adds `bias` [v] to each of the n rows of `logits` [n, v], then overwrites them with the
 * gradient of the mean NLL of `targets`, (softmax − onehot) / n, and adds its column sums into
 * `d_bias`. Returns the mean NLL (double), or NaN when a target is outside [0, v).
 */
double rows_softmax_xent(size_t n, size_t v, float *logits, const float *bias, const int32_t *targets,
                         float *d_bias);

/*
 * out[r] = −log softmax(logits[r])[targets[r]] for n rows [n, v], in double precision like
 * src/ml/logprobs.ts's logProbability (a NaN logit makes its row NaN, as there); NaN for a
 * target outside [0, v). Scoring's per-token NLL: in JavaScript it was a fifth of a B32 T64 chunk.
 */
void rows_nll(size_t n, size_t v, const float *logits, const int32_t *targets, float *out);

/*
 * Inverted dropout of n floats: mask[i] = 0 with probability `rate`, else 1 / (1 − rate), drawn
 * from a hash of `seed` and i (a mask needs speed, not statistical depth); out = x · mask.
 */
void rows_dropout(size_t n, const float *x, float *mask, float *out, double rate, uint32_t seed);

/* out = a · b, elementwise over n floats (the dropout mask applied to a gradient). */
void rows_multiply(size_t n, const float *a, const float *b, float *out);

#endif
