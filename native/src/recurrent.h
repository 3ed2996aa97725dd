/*
 * Fused recurrent layers over a whole time-major segment, forward and backward (BPTT), on
 * OpenBLAS sgemm. The numbers and layouts are those of src/ml/model/cells.ts: row-major,
 * x [T*B, I], kernel [I, G*H], recurrent [H, G*H], bias [G*H]; LSTM gates i, f, o, g (G = 4),
 * GRU r, u, n (G = 3) with its recurrent bias [H] inside r ⊙ (·), RNN tanh (G = 1).
 * The backward passes return 0, or -1 when they could not allocate their scratch memory.
 */
#ifndef RNNLM_RECURRENT_H
#define RNNLM_RECURRENT_H

#include <stddef.h>

typedef struct {
  int steps;  /* T */
  int batch;  /* B */
  int input;  /* I */
  int hidden; /* H */
} rnn_dims;

/*
 * Forward pass. Writes the outputs h_t (out [T*B, H]), the cell states c_t (cells [T*B, H])
 * and the activated gates (gates [T*B, 4H]; the backward pass reads them).
 */
void lstm_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                  const float *bias, const float *h0, const float *c0, float *out, float *cells,
                  float *gates);

/*
 * Backward pass from the forward pass's saved values. d_out [T*B, H] is the gradient of the
 * outputs, d_c_last [B, H] that of the final cell state; scale (length T, or NULL for all
 * ones) multiplies the gradient flowing through the state from step t to t-1. Writes
 * d_x [T*B, I], d_kernel [I, 4H], d_recurrent [H, 4H] and d_bias [4H]. Returns 0, or -1 when
 * it could not allocate its scratch memory.
 */
int lstm_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                  const float *h0, const float *c0, const float *out, const float *cells,
                  const float *gates, const float *d_out, const float *d_c_last, const float *scale,
                  float *d_x, float *d_kernel, float *d_recurrent, float *d_bias);

/* GRU: gates [T*B, 3H] keep r, u, n; hn [T*B, H] keeps recurrent·h + recurrent_bias of n. */
int gru_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                const float *bias, const float *recurrent_bias, const float *h0, float *out, float *hn,
                float *gates);
int gru_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *h0, const float *out, const float *hn, const float *gates,
                 const float *d_out, const float *scale, float *d_x, float *d_kernel,
                 float *d_recurrent, float *d_bias, float *d_recurrent_bias);

/* Plain tanh RNN: the outputs are all the backward pass needs. */
void rnn_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *bias, const float *h0, float *out);
int rnn_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *h0, const float *out, const float *d_out, const float *scale, float *d_x,
                 float *d_kernel, float *d_recurrent, float *d_bias);

#endif
