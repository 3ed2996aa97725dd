/*
 * Matrix products of the kernels: rnn_sgemm for any product (split over the kernels' threads
 * when it is big enough), and step_matrix for the many small products of a step loop by the
 * same recurrent matrix.
 */
#ifndef RNNLM_PRODUCTS_H
#define RNNLM_PRODUCTS_H

/* Products of at most this many rows run as one sgemv per row. */
#define SGEMV_ROWS 4

/* Row-major c [m, n] = alpha · op(a) · op(b) + beta · c, as cblas_sgemm. */
void rnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc);

/* The recurrent matrix (or its transpose) as a segment's step loop multiplies by it. */
typedef struct {
  int trans, k, n;
  const float *b;
  /* b in panels, or NULL: too few steps or rows for packing to pay (generation), or no memory. */
  float *packed;
} step_matrix;

/* op(b) [k, n] (b is [k, n], or [n, k] when trans) for a loop of `steps` products of `rows` rows. */
step_matrix step_matrix_of(int trans, int k, int n, const float *b, int steps, int rows);
void step_matrix_free(step_matrix *s);

/* c [m, n] = alpha · a [m, k] · op(b) (+ c when accumulate), a and c dense. */
void step_product(const step_matrix *s, int m, float alpha, const float *a, int accumulate, float *c);

#endif
