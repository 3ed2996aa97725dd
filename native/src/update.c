/*
 * The optimizer's elementwise pass, one loop per rule: in JavaScript the Adam step over a
 * 2x256 model's 0.85 M weights took a tenth of a training step. Each loop is compiled for
 * AVX-512, AVX2 and the baseline, picked at load time, so one build serves every CPU.
 */
#include "update.h"

#include <math.h>

#define CLONES __attribute__((target_clones("avx512f", "avx2", "default")))

CLONES static void sgd(size_t n, const float *w, const float *g, float *out, float scale, float lr) {
  for (size_t i = 0; i < n; i++) out[i] = w[i] - lr * (g[i] * scale);
}

CLONES static void adam(size_t n, const float *w, const float *g, float *m, float *v, float *out, float scale,
                        float b1, float b2, float eps, float step, float c2inv) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] * scale;
    float mi = m[i] * b1 + gi * (1.0f - b1);
    float vi = v[i] * b2 + gi * gi * (1.0f - b2);
    m[i] = mi;
    v[i] = vi;
    out[i] = w[i] - (mi / (sqrtf(vi * c2inv) + eps)) * step;
  }
}

CLONES static void rmsprop(size_t n, const float *w, const float *g, float *v, float *out, float scale,
                           float lr, float rho, float eps) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] * scale;
    float vi = v[i] * rho + gi * gi * (1.0f - rho);
    v[i] = vi;
    out[i] = w[i] - (gi / (sqrtf(vi) + eps)) * lr;
  }
}

void update_step(update_kind kind, size_t n, const float *w, const float *g, float *m, float *v, float *out,
                 float scale, const double *h) {
  switch (kind) {
    case UPDATE_SGD:
      sgd(n, w, g, out, scale, (float)h[0]);
      break;
    case UPDATE_ADAM:
      adam(n, w, g, m, v, out, scale, (float)h[1], (float)h[2], (float)h[3], (float)h[4], (float)h[5]);
      break;
    case UPDATE_RMSPROP:
      rmsprop(n, w, g, v, out, scale, (float)h[0], (float)h[1], (float)h[2]);
      break;
  }
}

CLONES double update_sum_squares(size_t n, const float *x) {
  /* Sixteen float lanes per block of 4096, each block's sum added into a double: vectorised
   * without reassociating one serial sum, and exact enough for a norm. */
  double total = 0;
  for (size_t start = 0; start < n; start += 4096) {
    size_t end = start + 4096 < n ? start + 4096 : n;
    float acc[16] = {0};
    size_t i = start;
    for (; i + 16 <= end; i += 16)
      for (int j = 0; j < 16; j++) acc[j] += x[i + j] * x[i + j];
    float block = 0;
    for (; i < end; i++) block += x[i] * x[i];
    for (int j = 0; j < 16; j++) block += acc[j];
    total += block;
  }
  return total;
}
