#include "products.h"

#include <cblas.h>
#include <stdlib.h>

#include "parallel.h"

/*
 * Below SGEMV_ROWS rows of output a product runs as one sgemv per row: OpenBLAS's sgemm packs
 * the whole of b on every call, and for a few rows that packing costs more than the
 * arithmetic. Measured on [m, 256] x [256, 1024], one thread: m = 1 0.073 ms against 0.012,
 * m = 2 0.078 against 0.028, m = 4 even (0.063); sgemm wins from m = 8 on.
 */
static void serial_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
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

/*
 * Products under this many multiply-adds run on the calling thread: handing a part to a
 * helper costs a microsecond or two even when it is awake.
 */
#define PARALLEL_MACS (1 << 17)

typedef struct {
  int trans_a, trans_b, m, n, k;
  float alpha;
  const float *a;
  int lda;
  const float *b;
  int ldb;
  float beta;
  float *c;
  int ldc;
} gemm_args;

/* Rows [begin, end) of c. */
static void gemm_rows(void *arg, int begin, int end) {
  const gemm_args *g = arg;
  const float *a = g->trans_a ? g->a + begin : g->a + (size_t)begin * g->lda;
  serial_sgemm(g->trans_a, g->trans_b, end - begin, g->n, g->k, g->alpha, a, g->lda, g->b, g->ldb, g->beta,
               g->c + (size_t)begin * g->ldc, g->ldc);
}

/* Columns [begin, end) of c: op(b)'s columns are b's rows when it is transposed. */
static void gemm_columns(void *arg, int begin, int end) {
  const gemm_args *g = arg;
  const float *b = g->trans_b ? g->b + (size_t)begin * g->ldb : g->b + begin;
  serial_sgemm(g->trans_a, g->trans_b, g->m, end - begin, g->k, g->alpha, g->a, g->lda, b, g->ldb, g->beta,
               g->c + begin, g->ldc);
}

void rnn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
               const float *b, int ldb, float beta, float *c, int ldc) {
  if ((double)m * n * k < PARALLEL_MACS || rnn_threads() < 2) {
    serial_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
  gemm_args g = {trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  /*
   * Split the longer side of c, so that each part packs only its share of the operand along it:
   * a weight gradient [I, 4H] summed over T·B rows splits by columns (each thread then packs
   * half of the [T·B, 4H] gradient, not all of it). A few rows (generation) split by columns
   * too, each part an sgemv per row.
   */
  if (m <= SGEMV_ROWS || n > m)
    rnn_parallel(n, 64, gemm_columns, &g);
  else
    rnn_parallel(m, 8, gemm_rows, &g);
}

/*
 * The step loops' products, c [m, n] = alpha · a [m, k] · op(b) (+ c), on b packed once per
 * layer call into panels of PANEL columns ([k][PANEL] each, zero-padded), and 4 × 64 tiles
 * of c accumulated in registers (16 AVX-512 registers). OpenBLAS's sgemm packs b anew on
 * every call, 64 times a segment for the same recurrent matrix: measured at [16,256] x
 * [256,1024], one thread, 171 us against 94 us here (the AVX2 clone: 154 us); at 32 rows
 * 254 against 191 us.
 */
#define PANEL 64
#define TILE_ROWS 4

#if defined(__x86_64__) && defined(__GNUC__)
#define KERNEL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define KERNEL_CLONES
#endif

/* op(b) [k, n] (b row-major [k, n], or [n, k] when trans) in panels; NULL when out of memory. */
static float *pack_panels(int trans, int k, int n, const float *b, int ldb) {
  const int panels = (n + PANEL - 1) / PANEL;
  float *packed = malloc(sizeof(float) * (size_t)panels * k * PANEL);
  if (packed == NULL) return NULL;
  float *p = packed;
  for (int j0 = 0; j0 < n; j0 += PANEL) {
    for (int kk = 0; kk < k; kk++) {
      for (int j = 0; j < PANEL; j++) {
        const int col = j0 + j;
        *p++ = col >= n ? 0.0f : trans ? b[(size_t)col * ldb + kk] : b[(size_t)kk * ldb + col];
      }
    }
  }
  return packed;
}

KERNEL_CLONES static void packed_gemm(int m, int n, int k, float alpha, const float *a, int lda,
                                      const float *packed, int accumulate, float *c, int ldc) {
  for (int j0 = 0; j0 < n; j0 += PANEL) {
    const float *panel = packed + (size_t)(j0 / PANEL) * k * PANEL;
    const int width = n - j0 < PANEL ? n - j0 : PANEL;
    int i0 = 0;
    for (; i0 + TILE_ROWS <= m; i0 += TILE_ROWS) {
      float acc[TILE_ROWS][PANEL];
      for (int i = 0; i < TILE_ROWS; i++)
        for (int j = 0; j < PANEL; j++) acc[i][j] = 0.0f;
      const float *rows = a + (size_t)i0 * lda;
      for (int kk = 0; kk < k; kk++) {
        const float *pk = panel + (size_t)kk * PANEL;
        for (int i = 0; i < TILE_ROWS; i++) {
          const float av = rows[(size_t)i * lda + kk];
          for (int j = 0; j < PANEL; j++) acc[i][j] += av * pk[j];
        }
      }
      for (int i = 0; i < TILE_ROWS; i++) {
        float *ci = c + (size_t)(i0 + i) * ldc + j0;
        for (int j = 0; j < width; j++) ci[j] = alpha * acc[i][j] + (accumulate ? ci[j] : 0.0f);
      }
    }
    for (; i0 < m; i0++) {
      float acc[PANEL];
      for (int j = 0; j < PANEL; j++) acc[j] = 0.0f;
      const float *row = a + (size_t)i0 * lda;
      for (int kk = 0; kk < k; kk++) {
        const float av = row[kk];
        const float *pk = panel + (size_t)kk * PANEL;
        for (int j = 0; j < PANEL; j++) acc[j] += av * pk[j];
      }
      float *ci = c + (size_t)i0 * ldc + j0;
      for (int j = 0; j < width; j++) ci[j] = alpha * acc[j] + (accumulate ? ci[j] : 0.0f);
    }
  }
}

step_matrix step_matrix_of(int trans, int k, int n, const float *b, int steps, int rows) {
  step_matrix s = {trans, k, n, b, NULL};
  if (steps > 1 && rows > SGEMV_ROWS) s.packed = pack_panels(trans, k, n, b, trans ? k : n);
  return s;
}

void step_matrix_free(step_matrix *s) {
  free(s->packed);
  s->packed = NULL;
}

void step_product(const step_matrix *s, int m, float alpha, const float *a, int accumulate, float *c) {
  if (s->packed != NULL)
    packed_gemm(m, s->n, s->k, alpha, a, s->k, s->packed, accumulate, c, s->n);
  else
    rnn_sgemm(0, s->trans, m, s->n, s->k, alpha, a, s->k, s->b, s->trans ? s->k : s->n, accumulate ? 1.0f : 0.0f,
              c, s->n);
}

