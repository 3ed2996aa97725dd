#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "recurrent.h"

/*
 * exp, sigmoid and tanh written so that the compiler vectorizes the loops that call them
 * (libm's expf and tanhf are calls it cannot): over the gates of a default-sized segment the
 * scalar calls took longer than the recurrent matMuls. exp is Cephes' expf (range reduction by
 * ln 2 in two parts, degree-6 polynomial, relative error ~1e-7); tanh(x) = 2σ(2x) - 1 (absolute
 * error ~1e-7). NaN passes through; ±Inf saturate as the libm functions do.
 */
static inline float vexpf(float x) {
  const float in = x;
  /* NaN is replaced before the float -> int conversion below (undefined for NaN) and put back
     at the end; the clamps keep n in [-126, 127], so the exponent shift never sees a negative. */
  x = in != in ? 0.0f : x;
  x = x > 88.3762626647949f ? 88.3762626647949f : x;
  x = x < -87.3365447504f ? -87.3365447504f : x;
  const float n = floorf(x * 1.44269504088896341f + 0.5f);
  const float f = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500E-4f;
  p = p * f + 1.3981999507E-3f;
  p = p * f + 8.3334519073E-3f;
  p = p * f + 4.1665795894E-2f;
  p = p * f + 1.6666665459E-1f;
  p = p * f + 5.0000001201E-1f;
  const float y = p * f * f + f + 1.0f;
  union {
    int32_t i;
    float f;
  } scale = {.i = (int32_t)((uint32_t)((int32_t)n + 127) << 23)};
  const float r = y * scale.f;
  return in != in ? in : r;
}

static inline float sigmoidf(float z) { return 1.0f / (1.0f + vexpf(-z)); }

static inline float vtanhf(float z) { return 2.0f / (1.0f + vexpf(-2.0f * z)) - 1.0f; }

/*
 * The kernels are compiled twice on x86-64, for AVX2 and for the baseline, and the loader
 * picks the one the CPU runs (the image must run on any x86-64 host).
 */
#if defined(__x86_64__) && defined(__GNUC__)
#define VECTORIZE __attribute__((target_clones("avx2", "default")))
#else
#define VECTORIZE
#endif

/*
 * The gate math of one row (one sequence of the batch at one step). Each block of the gates
 * gets its own restrict pointer: written through one base pointer with offsets, the blocks
 * could overlap as far as the compiler knows, and the loops would stay scalar.
 */
static inline void lstm_row_forward(int H, float *restrict zi, float *restrict zf, float *restrict zo,
                                    float *restrict zg, const float *restrict c_prev, float *restrict c,
                                    float *restrict h) {
  for (int j = 0; j < H; j++) {
    const float i = sigmoidf(zi[j]), f = sigmoidf(zf[j]), o = sigmoidf(zo[j]), g = vtanhf(zg[j]);
    const float cn = f * c_prev[j] + i * g;
    zi[j] = i;
    zf[j] = f;
    zo[j] = o;
    zg[j] = g;
    c[j] = cn;
    h[j] = o * vtanhf(cn);
  }
}

/* Writes the row's pre-activation gradients and returns dc for step t-1 (scaled) in dc. */
static inline void lstm_row_backward(int H, float s, const float *restrict i_, const float *restrict f_,
                                     const float *restrict o_, const float *restrict g_,
                                     const float *restrict c, const float *restrict c_prev,
                                     const float *restrict dy, const float *restrict dh,
                                     float *restrict dc, float *restrict di, float *restrict df,
                                     float *restrict d_o, float *restrict dg) {
  for (int j = 0; j < H; j++) {
    const float i = i_[j], f = f_[j], og = o_[j], g = g_[j];
    const float tc = vtanhf(c[j]);
    const float dht = dy[j] + dh[j];
    const float dct = dc[j] + dht * og * (1.0f - tc * tc);
    di[j] = dct * g * i * (1.0f - i);
    df[j] = dct * c_prev[j] * f * (1.0f - f);
    d_o[j] = dht * tc * og * (1.0f - og);
    dg[j] = dct * i * (1.0f - g * g);
    dc[j] = dct * f * s;
  }
}

static inline void gru_row_forward(int H, float *restrict zr, float *restrict zu, float *restrict zn,
                                   const float *restrict hr, const float *restrict hu,
                                   const float *restrict hh, const float *restrict recurrent_bias,
                                   const float *restrict h_prev, float *restrict hn, float *restrict h) {
  for (int j = 0; j < H; j++) {
    const float r = sigmoidf(zr[j] + hr[j]), u = sigmoidf(zu[j] + hu[j]);
    const float hnj = hh[j] + recurrent_bias[j];
    const float n = vtanhf(zn[j] + r * hnj);
    zr[j] = r;
    zu[j] = u;
    zn[j] = n;
    hn[j] = hnj;
    h[j] = n + u * (h_prev[j] - n);
  }
}

static inline void gru_row_backward(int H, const float *restrict r_, const float *restrict u_,
                                    const float *restrict n_, const float *restrict hn,
                                    const float *restrict h_prev, const float *restrict dy,
                                    const float *restrict dh, float *restrict xr, float *restrict xu,
                                    float *restrict xn, float *restrict hr, float *restrict hu,
                                    float *restrict hh, float *restrict dht) {
  for (int j = 0; j < H; j++) {
    const float r = r_[j], u = u_[j], n = n_[j];
    const float g = dy[j] + dh[j];
    const float dan = g * (1.0f - u) * (1.0f - n * n);
    const float dar = dan * hn[j] * r * (1.0f - r);
    const float dau = g * (h_prev[j] - n) * u * (1.0f - u);
    xr[j] = dar;
    hr[j] = dar;
    xu[j] = dau;
    hu[j] = dau;
    xn[j] = dan;
    hh[j] = dan * r;
    dht[j] = g * u;
  }
}

/*
 * Below this many rows of output a product runs as one sgemv per row: OpenBLAS's sgemm packs
 * the whole of b on every call, and for a few rows that packing costs more than the
 * arithmetic. Measured on [m, 256] x [256, 1024], one thread: m = 1 0.073 ms against 0.012,
 * m = 2 0.078 against 0.028, m = 4 even (0.063); sgemm wins from m = 8 on.
 */
#define SGEMV_ROWS 4

void rnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
  if (m <= SGEMV_ROWS) {
    /* Row j of op(a) is a's column j (strided by lda) when a is transposed, else its row j. */
    const int inc_a = trans_a ? lda : 1;
    for (int j = 0; j < m; j++) {
      const float *row = trans_a ? a + j : a + (size_t)j * lda;
      float *out = c + (size_t)j * ldc;
      if (trans_b)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, n, k, alpha, b, ldb, row, inc_a, beta, out, 1);
      else
        cblas_sgemv(CblasRowMajor, CblasTrans, k, n, alpha, b, ldb, row, inc_a, beta, out, 1);
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m, n, k,
              alpha, a, lda, b, ldb, beta, c, ldc);
}

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

VECTORIZE void lstm_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                  const float *bias, const float *h0, const float *c0, float *out, float *cells,
                  float *gates) {
  const int T = d->steps, B = d->batch, IN = d->input, H = d->hidden, G = 4 * H;
  input_projection((size_t)T * B, IN, G, x, kernel, bias, gates);
  const float *h_prev = h0, *c_prev = c0;
  for (int t = 0; t < T; t++) {
    float *z = gates + (size_t)t * B * G;
    float *h = out + (size_t)t * B * H, *c = cells + (size_t)t * B * H;
    rnn_sgemm(0, 0, B, G, H, 1.0f, h_prev, H, recurrent, G,
                1.0f, z, G);
    for (int b = 0; b < B; b++) {
      float *zb = z + (size_t)b * G;
      const size_t o = (size_t)b * H;
      lstm_row_forward(H, zb, zb + H, zb + 2 * H, zb + 3 * H, c_prev + o, c + o, h + o);
    }
    h_prev = h;
    c_prev = c;
  }
}

VECTORIZE int lstm_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
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
  for (int t = T - 1; t >= 0; t--) {
    const float *z = gates + (size_t)t * B * G;
    const float *c = cells + (size_t)t * state;
    const float *c_prev = t > 0 ? cells + (size_t)(t - 1) * state : c0;
    const float *dy = d_out + (size_t)t * state;
    float *dzt = dz + (size_t)t * B * G;
    const float s = scale == NULL ? 1.0f : scale[t];
    for (int b = 0; b < B; b++) {
      const float *zb = z + (size_t)b * G;
      float *db = dzt + (size_t)b * G;
      const size_t o = (size_t)b * H;
      lstm_row_backward(H, s, zb, zb + H, zb + 2 * H, zb + 3 * H, c + o, c_prev + o, dy + o, dh + o,
                        dc + o, db, db + H, db + 2 * H, db + 3 * H);
    }
    if (t > 0) {
      /* dh = s · dz_t · recurrentᵀ: the state gradient for step t-1. */
      rnn_sgemm(0, 1, B, H, G, s, dzt, G, recurrent, G, 0.0f,
                  dh, H);
    }
  }
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

VECTORIZE int gru_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *bias, const float *recurrent_bias, const float *h0, float *out,
                 float *hn_all, float *gates) {
  const int T = d->steps, B = d->batch, H = d->hidden, G = 3 * H;
  input_projection((size_t)T * B, d->input, G, x, kernel, bias, gates);
  float *hw = malloc(sizeof(float) * (size_t)B * G);
  if (hw == NULL) return -1;
  const float *h_prev = h0;
  for (int t = 0; t < T; t++) {
    float *z = gates + (size_t)t * B * G;
    float *h = out + (size_t)t * B * H, *hn = hn_all + (size_t)t * B * H;
    rnn_sgemm(0, 0, B, G, H, 1.0f, h_prev, H, recurrent, G, 0.0f,
                hw, G);
    for (int b = 0; b < B; b++) {
      float *zb = z + (size_t)b * G;
      const float *hwb = hw + (size_t)b * G;
      const size_t o = (size_t)b * H;
      gru_row_forward(H, zb, zb + H, zb + 2 * H, hwb, hwb + H, hwb + 2 * H, recurrent_bias, h_prev + o,
                      hn + o, h + o);
    }
    h_prev = h;
  }
  free(hw);
  return 0;
}

VECTORIZE int gru_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
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
  for (int t = T - 1; t >= 0; t--) {
    const float *z = gates + (size_t)t * B * G;
    const float *hn = hn_all + (size_t)t * state;
    const float *h_prev = t > 0 ? out + (size_t)(t - 1) * state : h0;
    const float *dy = d_out + (size_t)t * state;
    float *dx_t = dzx + (size_t)t * B * G, *dh_t = dzh + (size_t)t * B * G;
    const float s = scale == NULL ? 1.0f : scale[t];
    for (int b = 0; b < B; b++) {
      const float *zb = z + (size_t)b * G;
      float *ax = dx_t + (size_t)b * G, *ah = dh_t + (size_t)b * G;
      const size_t o = (size_t)b * H;
      gru_row_backward(H, zb, zb + H, zb + 2 * H, hn + o, h_prev + o, dy + o, dh + o, ax, ax + H,
                       ax + 2 * H, ah, ah + H, ah + 2 * H, dht + o);
    }
    if (t > 0) {
      /* dh = s · (dht ⊙ u + dzh_t · recurrentᵀ) */
      memcpy(dh, dht, sizeof(float) * state);
      rnn_sgemm(0, 1, B, H, G, 1.0f, dh_t, G, recurrent, G, 1.0f, dh,
                  H);
      if (s != 1.0f)
        for (size_t k = 0; k < state; k++) dh[k] *= s;
    }
  }
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

VECTORIZE void rnn_forward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
                 const float *bias, const float *h0, float *out) {
  const int T = d->steps, B = d->batch, H = d->hidden;
  const size_t rows = (size_t)T * B;
  input_projection(rows, d->input, H, x, kernel, bias, out);
  const float *h_prev = h0;
  for (int t = 0; t < T; t++) {
    float *h = out + (size_t)t * B * H;
    rnn_sgemm(0, 0, B, H, H, 1.0f, h_prev, H, recurrent, H, 1.0f, h,
                H);
    for (size_t k = 0; k < (size_t)B * H; k++) h[k] = vtanhf(h[k]);
    h_prev = h;
  }
}

VECTORIZE int rnn_backward(const rnn_dims *d, const float *x, const float *kernel, const float *recurrent,
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
  for (int t = T - 1; t >= 0; t--) {
    const float *h = out + (size_t)t * state, *dy = d_out + (size_t)t * state;
    float *dzt = dz + (size_t)t * state;
    for (size_t k = 0; k < state; k++) dzt[k] = (dy[k] + dh[k]) * (1.0f - h[k] * h[k]);
    if (t > 0) {
      const float s = scale == NULL ? 1.0f : scale[t];
      rnn_sgemm(0, 1, B, H, H, s, dzt, H, recurrent, H, 0.0f, dh, H);
    }
  }
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
