/*
 * The training step's row operations around the layers and the output projection (sgemm):
 * written here because in JavaScript they were a tenth of a step.
 */
#include "rows.h"

#include <math.h>
#include <string.h>

int rows_gather(size_t n, size_t dim, size_t rows, const float *table, const int32_t *ids, float *out) {
  for (size_t r = 0; r < n; r++) {
    if (ids[r] < 0 || (size_t)ids[r] >= rows) return 0;
    memcpy(out + r * dim, table + (size_t)ids[r] * dim, dim * sizeof(float));
  }
  return 1;
}

int rows_scatter_add(size_t n, size_t dim, size_t rows, const float *src, const int32_t *ids, float *table) {
  for (size_t r = 0; r < n; r++)
    if (ids[r] < 0 || (size_t)ids[r] >= rows) return 0;
  for (size_t r = 0; r < n; r++) {
    float *dst = table + (size_t)ids[r] * dim;
    const float *row = src + r * dim;
    for (size_t j = 0; j < dim; j++) dst[j] += row[j];
  }
  return 1;
}

double rows_softmax_xent(size_t n, size_t v, float *logits, const float *bias, const int32_t *targets,
                         float *d_bias) {
  for (size_t r = 0; r < n; r++)
    if (targets[r] < 0 || (size_t)targets[r] >= v) return NAN;
  double total = 0;
  const float inv = 1.0f / (float)n;
  for (size_t r = 0; r < n; r++) {
    float *row = logits + r * v;
    float max = -INFINITY;
    for (size_t j = 0; j < v; j++) {
      row[j] += bias[j];
      if (row[j] > max) max = row[j];
    }
    const float picked = row[targets[r]];
    double sum = 0;
    for (size_t j = 0; j < v; j++) {
      row[j] = expf(row[j] - max);
      sum += row[j];
    }
    total += (double)max + log(sum) - (double)picked;
    const float scale = (float)(1.0 / sum) * inv;
    for (size_t j = 0; j < v; j++) row[j] *= scale;
    row[targets[r]] -= inv;
    for (size_t j = 0; j < v; j++) d_bias[j] += row[j];
  }
  return total / (double)n;
}

void rows_nll(size_t n, size_t v, const float *logits, const int32_t *targets, float *out) {
  for (size_t r = 0; r < n; r++) {
    const float *row = logits + r * v;
    float max = -INFINITY;
    for (size_t j = 0; j < v; j++)
      if (row[j] > max) max = row[j];
    double total = 0;
    for (size_t j = 0; j < v; j++) total += exp((double)row[j] - (double)max);
    out[r] = targets[r] < 0 || (size_t)targets[r] >= v ? NAN : (float)((double)max + log(total) - (double)row[targets[r]]);
  }
}

/*
 * Each entry's draw is a hash of (seed, index) (murmur3's finaliser), not the next state of a
 * serial generator: the loop has no dependency from one entry to the next, so it vectorises.
 * xorshift32's chain took 5.2 ms a step for the 1.2 M entries of the bench's 2x256 model.
 */
__attribute__((target_clones("avx512f", "avx2", "default"))) void rows_dropout(size_t n, const float *x,
                                                                                float *mask, float *out,
                                                                                double rate, uint32_t seed) {
  const float scale = (float)(1.0 / (1.0 - rate));
  const double t = rate * 4294967296.0;
  const uint32_t threshold = t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
  for (size_t i = 0; i < n; i++) {
    uint32_t h = (uint32_t)i * 0x9e3779b9u + seed;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    mask[i] = h >= threshold ? scale : 0.0f;
    out[i] = x[i] * mask[i];
  }
}

__attribute__((target_clones("avx512f", "avx2", "default"))) void rows_multiply(size_t n, const float *a,
                                                                                 const float *b, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}
