#include "recurrent.h"

#include <stdlib.h>
#include <string.h>

#include "gates.h"
#include "parallel.h"
#include "products.h"

/* gates = bias + x · kernel for every step at once. */
static void input_projection(size_t rows, int in, int g, const float *x, const float *kernel,
                             const float *bias, float *gates) {
  for (size_t r = 0; r < rows; r++) memcpy(gates + r * g, bias, sizeof(float) * g);
  rnn_sgemm(0, 0, (int)rows, g, in, 1.0f, x, in, kernel, g, 1.0f,
              gates, g);
}

/* sum over rows of m [rows, n] into out [n] (overwritten). */
static void column_sums(const float *m, size_t rows, int n, int stride, float *out) {
  memset(out, 0, sizeof(float) * n);
  for (size_t r = 0; r < rows; r++) {
    const float *row = m + r * stride;
    for (int k = 0; k < n; k++) out[k] += row[k];
  }
}

/* d_recurrent = [h0; out_0 … out_{T-2}]ᵀ · dz: the previous states of every step against dz. */
static void recurrent_gradient(int T, int B, int H, int g, const float *h0, const float *out,
                               const float *dz, float *d_recurrent) {
  const size_t rows = (size_t)T * B;
  rnn_sgemm(1, 0, H, g, B, 1.0f, h0, H, dz, g, 0.0f, d_recurrent, g);
  if (T > 1) {
    rnn_sgemm(1, 0, H, g, (int)(rows - B), 1.0f, out, H,
                dz + (size_t)B * g, g, 1.0f, d_recurrent, g);
  }
}

/*
 * Rows of the batch are independent through the recurrence: row b's state at step t depends
 * only on row b's earlier states. So a segment's step loop runs over parts of the batch on the
 * kernels' threads at once, each part with its own products and gate math, and nothing is
 * shared until the loop ends. A two-thread sgemm per step instead splits each tiny product
 * anew and leaves the gate math on one core.
 */
#define SPLIT_ROWS 8

typedef struct {
  int T, B, H;
  const step_matrix *recurrent;
  const float *h0, *c0;
  float *out, *cells, *gates;
} lstm_fwd_ctx;

VECTORIZE static void lstm_forward_rows(void *arg, int b0, int b1) {
  const lstm_fwd_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, G = 4 * H, n = b1 - b0;
  const float *h_prev = p->h0 + (size_t)b0 * H, *c_prev = p->c0 + (size_t)b0 * H;
  for (int t = 0; t < T; t++) {
    const size_t first = (size_t)t * B + b0;
    float *z = p->gates + first * G;
    float *h = p->out + first * H, *c = p->cells + first * H;
    step_product(p->recurrent, n, 1.0f, h_prev, 1, z);
    for (int b = 0; b < n; b++) {
      float *zb = z + (size_t)b * G;
      const size_t o = (size_t)b * H;
      lstm_row_forward(H, zb, zb + H, zb + 2 * H, zb + 3 * H, c_prev + o, c + o, h + o);
    }
    h_prev = h;
    c_prev = c;
  }
}

void lstm_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                  const float *bias, const float *h0, const float *c0, float *out, float *cells,
                  float *gates) {
  const int H = d->hidden, G = 4 * H;
  input_projection((size_t)d->steps * d->batch, d->input, G, x, kernel, bias, gates);
  step_matrix r = step_matrix_of(0, H, G, recurrent, d->steps, d->batch);
  lstm_fwd_ctx p = {d->steps, d->batch, H, &r, h0, c0, out, cells, gates};
  rnn_parallel(d->batch, SPLIT_ROWS, lstm_forward_rows, &p);
  step_matrix_free(&r);
}

typedef struct {
  int T, B, H;
  const step_matrix *recurrent;
  const float *c0, *cells, *gates, *d_out, *scale;
  float *dz, *dh, *dc;
} lstm_bwd_ctx;

VECTORIZE static void lstm_backward_rows(void *arg, int b0, int b1) {
  const lstm_bwd_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, G = 4 * H, n = b1 - b0;
  const size_t state = (size_t)B * H, mine = (size_t)b0 * H;
  float *dh = p->dh + mine, *dc = p->dc + mine;
  for (int t = T - 1; t >= 0; t--) {
    const size_t first = (size_t)t * B + b0;
    const float *z = p->gates + first * G;
    const float *c = p->cells + first * H;
    const float *c_prev = (t > 0 ? p->cells + (size_t)(t - 1) * state : p->c0) + mine;
    const float *dy = p->d_out + first * H;
    float *dzt = p->dz + first * G;
    const float s = p->scale == NULL ? 1.0f : p->scale[t];
    for (int b = 0; b < n; b++) {
      const float *zb = z + (size_t)b * G;
      float *db = dzt + (size_t)b * G;
      const size_t o = (size_t)b * H;
      lstm_row_backward(H, s, zb, zb + H, zb + 2 * H, zb + 3 * H, c + o, c_prev + o, dy + o, dh + o,
                        dc + o, db, db + H, db + 2 * H, db + 3 * H);
    }
    /* dh = s · dz_t · recurrentᵀ: the state gradient for step t-1. */
    if (t > 0) step_product(p->recurrent, n, s, dzt, 0, dh);
  }
}

int lstm_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                  const float *h0, const float *c0, const float *out, const float *cells,
                  const float *gates, const float *d_out, const float *d_c_last, const float *scale,
                  float *d_x, float *d_kernel, float *d_recurrent, float *d_bias) {
  const int T = d->steps, B = d->batch, IN = d->input, H = d->hidden, G = 4 * H;
  const size_t rows = (size_t)T * B, state = (size_t)B * H;
  float *dz = malloc(sizeof(float) * rows * G);
  float *dh = calloc(state, sizeof(float));
  float *dc = malloc(sizeof(float) * state);
  if (dz == NULL || dh == NULL || dc == NULL) {
    free(dz);
    free(dh);
    free(dc);
    return -1;
  }
  memcpy(dc, d_c_last, sizeof(float) * state);
  step_matrix r = step_matrix_of(1, G, H, recurrent, T, B);
  lstm_bwd_ctx p = {T, B, H, &r, c0, cells, gates, d_out, scale, dz, dh, dc};
  rnn_parallel(B, SPLIT_ROWS, lstm_backward_rows, &p);
  step_matrix_free(&r);
  /* Weight gradients over the whole segment, one sgemm each. */
  rnn_sgemm(0, 1, (int)rows, IN, G, 1.0f, dz, G, kernel, G, 0.0f,
              d_x, IN);
  rnn_sgemm(1, 0, IN, G, (int)rows, 1.0f, x, IN, dz, G, 0.0f,
              d_kernel, G);
  recurrent_gradient(T, B, H, G, h0, out, dz, d_recurrent);
  column_sums(dz, rows, G, G, d_bias);
  free(dz);
  free(dh);
  free(dc);
  return 0;
}

typedef struct {
  int T, B, H;
  const step_matrix *recurrent;
  const float *recurrent_bias, *h0;
  float *out, *hn_all, *gates, *hw;
} gru_fwd_ctx;

VECTORIZE static void gru_forward_rows(void *arg, int b0, int b1) {
  const gru_fwd_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, G = 3 * H, n = b1 - b0;
  float *hw = p->hw + (size_t)b0 * G;
  const float *h_prev = p->h0 + (size_t)b0 * H;
  for (int t = 0; t < T; t++) {
    const size_t first = (size_t)t * B + b0;
    float *z = p->gates + first * G;
    float *h = p->out + first * H, *hn = p->hn_all + first * H;
    step_product(p->recurrent, n, 1.0f, h_prev, 0, hw);
    for (int b = 0; b < n; b++) {
      float *zb = z + (size_t)b * G;
      const float *hwb = hw + (size_t)b * G;
      const size_t o = (size_t)b * H;
      gru_row_forward(H, zb, zb + H, zb + 2 * H, hwb, hwb + H, hwb + 2 * H, p->recurrent_bias, h_prev + o,
                      hn + o, h + o);
    }
    h_prev = h;
  }
}

int gru_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                const float *bias, const float *recurrent_bias, const float *h0, float *out,
                float *hn_all, float *gates) {
  const int B = d->batch, G = 3 * d->hidden;
  input_projection((size_t)d->steps * B, d->input, G, x, kernel, bias, gates);
  float *hw = malloc(sizeof(float) * (size_t)B * G);
  if (hw == NULL) return -1;
  step_matrix r = step_matrix_of(0, d->hidden, G, recurrent, d->steps, B);
  gru_fwd_ctx p = {d->steps, B, d->hidden, &r, recurrent_bias, h0, out, hn_all, gates, hw};
  rnn_parallel(B, SPLIT_ROWS, gru_forward_rows, &p);
  step_matrix_free(&r);
  free(hw);
  return 0;
}

typedef struct {
  int T, B, H;
  const step_matrix *recurrent;
  const float *h0, *out, *hn_all, *gates, *d_out, *scale;
  float *dzx, *dzh, *dh, *dht;
} gru_bwd_ctx;

VECTORIZE static void gru_backward_rows(void *arg, int b0, int b1) {
  const gru_bwd_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, G = 3 * H, n = b1 - b0;
  const size_t state = (size_t)B * H, mine = (size_t)b0 * H, rows_state = (size_t)n * H;
  float *dh = p->dh + mine, *dht = p->dht + mine;
  for (int t = T - 1; t >= 0; t--) {
    const size_t first = (size_t)t * B + b0;
    const float *z = p->gates + first * G;
    const float *hn = p->hn_all + first * H;
    const float *h_prev = (t > 0 ? p->out + (size_t)(t - 1) * state : p->h0) + mine;
    const float *dy = p->d_out + first * H;
    float *dx_t = p->dzx + first * G, *dh_t = p->dzh + first * G;
    const float s = p->scale == NULL ? 1.0f : p->scale[t];
    for (int b = 0; b < n; b++) {
      const float *zb = z + (size_t)b * G;
      float *ax = dx_t + (size_t)b * G, *ah = dh_t + (size_t)b * G;
      const size_t o = (size_t)b * H;
      gru_row_backward(H, zb, zb + H, zb + 2 * H, hn + o, h_prev + o, dy + o, dh + o, ax, ax + H,
                       ax + 2 * H, ah, ah + H, ah + 2 * H, dht + o);
    }
    if (t > 0) {
      /* dh = s · (dht ⊙ u + dzh_t · recurrentᵀ) */
      memcpy(dh, dht, sizeof(float) * rows_state);
      step_product(p->recurrent, n, 1.0f, dh_t, 1, dh);
      if (s != 1.0f)
        for (size_t k = 0; k < rows_state; k++) dh[k] *= s;
    }
  }
}

int gru_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *h0, const float *out, const float *hn_all, const float *gates,
                 const float *d_out, const float *scale, float *d_x, float *d_kernel,
                 float *d_recurrent, float *d_bias, float *d_recurrent_bias) {
  const int T = d->steps, B = d->batch, IN = d->input, H = d->hidden, G = 3 * H;
  const size_t rows = (size_t)T * B, state = (size_t)B * H;
  float *dzx = malloc(sizeof(float) * rows * G);
  float *dzh = malloc(sizeof(float) * rows * G);
  float *dh = calloc(state, sizeof(float));
  float *dht = malloc(sizeof(float) * state);
  if (dzx == NULL || dzh == NULL || dh == NULL || dht == NULL) {
    free(dzx);
    free(dzh);
    free(dh);
    free(dht);
    return -1;
  }
  step_matrix r = step_matrix_of(1, G, H, recurrent, T, B);
  gru_bwd_ctx p = {T, B, H, &r, h0, out, hn_all, gates, d_out, scale, dzx, dzh, dh, dht};
  rnn_parallel(B, SPLIT_ROWS, gru_backward_rows, &p);
  step_matrix_free(&r);
  rnn_sgemm(0, 1, (int)rows, IN, G, 1.0f, dzx, G, kernel, G, 0.0f, d_x,
              IN);
  rnn_sgemm(1, 0, IN, G, (int)rows, 1.0f, x, IN, dzx, G, 0.0f,
              d_kernel, G);
  recurrent_gradient(T, B, H, G, h0, out, dzh, d_recurrent);
  column_sums(dzx, rows, G, G, d_bias);
  column_sums(dzh + 2 * H, rows, H, G, d_recurrent_bias);
  free(dzx);
  free(dzh);
  free(dh);
  free(dht);
  return 0;
}

typedef struct {
  int T, B, H;
  const step_matrix *recurrent;
  const float *h0, *out, *d_out, *scale;
  float *hs, *dz, *dh;
} rnn_ctx;

VECTORIZE static void rnn_forward_rows(void *arg, int b0, int b1) {
  const rnn_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, n = b1 - b0;
  const float *h_prev = p->h0 + (size_t)b0 * H;
  for (int t = 0; t < T; t++) {
    float *h = p->hs + ((size_t)t * B + b0) * H;
    step_product(p->recurrent, n, 1.0f, h_prev, 1, h);
    for (size_t k = 0; k < (size_t)n * H; k++) h[k] = vtanhf(h[k]);
    h_prev = h;
  }
}

void rnn_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *bias, const float *h0, float *out) {
  const int H = d->hidden;
  input_projection((size_t)d->steps * d->batch, d->input, H, x, kernel, bias, out);
  step_matrix r = step_matrix_of(0, H, H, recurrent, d->steps, d->batch);
  rnn_ctx p = {d->steps, d->batch, H, &r, h0, NULL, NULL, NULL, out, NULL, NULL};
  rnn_parallel(d->batch, SPLIT_ROWS, rnn_forward_rows, &p);
  step_matrix_free(&r);
}

VECTORIZE static void rnn_backward_rows(void *arg, int b0, int b1) {
  const rnn_ctx *p = arg;
  const int T = p->T, B = p->B, H = p->H, n = b1 - b0;
  const size_t rows_state = (size_t)n * H;
  float *dh = p->dh + (size_t)b0 * H;
  for (int t = T - 1; t >= 0; t--) {
    const size_t first = ((size_t)t * B + b0) * H;
    const float *h = p->out + first, *dy = p->d_out + first;
    float *dzt = p->dz + first;
    for (size_t k = 0; k < rows_state; k++) dzt[k] = (dy[k] + dh[k]) * (1.0f - h[k] * h[k]);
    if (t > 0) {
      const float s = p->scale == NULL ? 1.0f : p->scale[t];
      step_product(p->recurrent, n, s, dzt, 0, dh);
    }
  }
}

int rnn_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *h0, const float *out, const float *d_out, const float *scale, float *d_x,
                 float *d_kernel, float *d_recurrent, float *d_bias) {
  const int T = d->steps, B = d->batch, IN = d->input, H = d->hidden;
  const size_t rows = (size_t)T * B, state = (size_t)B * H;
  float *dz = malloc(sizeof(float) * rows * H);
  float *dh = calloc(state, sizeof(float));
  if (dz == NULL || dh == NULL) {
    free(dz);
    free(dh);
    return -1;
  }
  step_matrix r = step_matrix_of(1, H, H, recurrent, T, B);
  rnn_ctx p = {T, B, H, &r, h0, out, d_out, scale, NULL, dz, dh};
  rnn_parallel(B, SPLIT_ROWS, rnn_backward_rows, &p);
  step_matrix_free(&r);
  rnn_sgemm(0, 1, (int)rows, IN, H, 1.0f, dz, H, kernel, H, 0.0f, d_x,
              IN);
  rnn_sgemm(1, 0, IN, H, (int)rows, 1.0f, x, IN, dz, H, 0.0f, d_kernel,
              H);
  recurrent_gradient(T, B, H, H, h0, out, dz, d_recurrent);
  column_sums(dz, rows, H, H, d_bias);
  free(dz);
  free(dh);
  return 0;
}
