/*
 * The gate math of one row (one sequence of the batch at one step) of each cell, forward and
 * backward, with exp, sigmoid and tanh the compiler can vectorize. Included by recurrent.c only.
 */
#ifndef RNNLM_GATES_H
#define RNNLM_GATES_H

#include <math.h>
#include <stdint.h>

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

#endif
