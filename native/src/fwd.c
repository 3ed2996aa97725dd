/*
 * Why by hand: oneDNN's RNN primitive, given plain weights, reorders them on every call, and
 * at batch 1 its per-step product is a general GEMM. Here a segment's input product for all
 * steps is one dnnl_sgemm; each step's recurrent product is dnnl_sgemm on columns packed so
 * that every unit's gates sit side by side (batch > 1; LSTM's runs on the panels, see gemm4),
 * or, at batch 1, a matrix-vector product
 * streaming a panel of 16 units' weights that is contiguous in memory; the gate math runs on
 * those units straight after. Against the primitive as rnnForward runs it, interleaved, best of
 * 7 (native/bench/fwd.c; AVX-512 EPYC, 2 threads, shared with another job so only ratios
 * hold): LSTM H256 B32 T64 1.5-1.8x, B1 T256 1.8-2.4x, B1 T1 1.3-1.5x; lbr_gru and tanh RNN
 * alike (1.3-2.9x). Every cell is faster here, so no cell stays on the primitive for inference.
 *
 * Vectors are GCC's vector extension (16 floats), compiled for AVX-512, AVX2 and the baseline
 * and picked at load time, so one build serves every CPU. exp and tanh are Cephes' single-
 * precision polynomials (relative error ~1e-7), vectorised. The vector helpers are always
 * inlined: GCC's note on the ABI of passing 64-byte vectors never applies (-Wno-psabi).
 */
#include "fwd.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define LANES 16
/* x86-64-v3 is AVX2 with FMA; fp-contract lets a·b + c be one FMA (ISO C mode turns it off). */
#define CLONES                                                                         \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), \
                 optimize("fp-contract=fast")))
#define INLINE static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(LANES * sizeof(float))));
typedef int v16i __attribute__((vector_size(LANES * sizeof(int))));

/*
 * Columns of a packed [K, cols] matrix run by block of 16 units, then gate, then unit:
 * column (j / 16) * G * 16 + g * 16 + j % 16 holds gate g of unit j; units past H are zero.
 */
struct fwd_packed {
  rnn_cell cell;
  int input, hidden, gates, blocks, cols;
  float *wx;    /* [I, cols]: the input product of a whole segment (sgemm) */
  float *wh;    /* [H, cols]: the recurrent product at batch > 1 (sgemm) */
  float *panel; /* [blocks, I + H, G, 16]: both products at batch 1, a block's weights contiguous */
  float *bias;  /* [cols] */
  float *rbias; /* [blocks * 16]: lbr_gru's recurrent bias of the candidate; zeros otherwise */
  size_t bytes;
};

static size_t col(int gates, int g, int j) {
  return (size_t)(j / LANES) * gates * LANES + (size_t)g * LANES + j % LANES;
}

fwd_packed *fwd_pack(rnn_cell cell, int input, int hidden, const rnn_weights *w) {
  fwd_packed *p = calloc(1, sizeof *p);
  if (p == NULL) return NULL;
  const int G = rnn_gates(cell), I = input, H = hidden, blocks = (H + LANES - 1) / LANES;
  const size_t cols = (size_t)blocks * G * LANES;
  const size_t bytes = ((size_t)(2 * (I + H) + 1) * cols + (size_t)blocks * LANES) * sizeof(float);
  float *all = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (all == NULL) {
    free(p);
    return NULL;
  }
  memset(all, 0, bytes);
  *p = (fwd_packed){cell, I, H, G, blocks, (int)cols, all, all + (size_t)I * cols, all + (size_t)(I + H) * cols,
                    all + (size_t)2 * (I + H) * cols, all + (size_t)(2 * (I + H) + 1) * cols, bytes};
  for (int k = 0; k < I + H; k++) {
    const float *src = k < I ? w->layer + (size_t)k * G * H : w->iter + (size_t)(k - I) * G * H;
    float *rm = k < I ? p->wx + (size_t)k * cols : p->wh + (size_t)(k - I) * cols;
    for (int g = 0; g < G; g++)
      for (int j = 0; j < H; j++) {
        const float v = src[(size_t)g * H + j];
        rm[col(G, g, j)] = v;
        p->panel[((size_t)(j / LANES) * (I + H) + k) * G * LANES + (size_t)g * LANES + j % LANES] = v;
      }
  }
  for (int g = 0; g < G; g++)
    for (int j = 0; j < H; j++) p->bias[col(G, g, j)] = w->bias[(size_t)g * H + j];
  if (cell == RNN_GRU) memcpy(p->rbias, w->bias + (size_t)G * H, (size_t)H * sizeof(float));
  return p;
}

void fwd_free(fwd_packed *p) {
  if (p == NULL) return;
  free(p->wx);
  free(p);
}

size_t fwd_bytes(const fwd_packed *p) { return p->bytes + sizeof *p; }

int fwd_fits(const fwd_packed *p, const rnn_shape *s) {
  return p->cell == s->cell && p->input == s->input && p->hidden == s->hidden;
}

/* ---- vector math ---- */

INLINE v16 splat(float x) { return (v16){0} + x; }
INLINE v16 select(v16i m, v16 a, v16 b) { return (v16)((m & (v16i)a) | (~m & (v16i)b)); }
INLINE v16 vmin(v16 a, v16 b) { return select(a < b, a, b); }
INLINE v16 vmax(v16 a, v16 b) { return select(a > b, a, b); }

/* Cephes expf: e^x = 2^n · e^r, |r| ≤ ln2 / 2, e^r by a degree-6 polynomial. */
INLINE v16 vexp(v16 x) {
  x = vmax(vmin(x, splat(88.0f)), splat(-87.0f));
  v16 fx = x * 1.44269504088896341f + 0.5f;
  v16 t = __builtin_convertvector(__builtin_convertvector(fx, v16i), v16);
  t = select(t > fx, t - 1.0f, t); /* floor: the conversion truncates toward zero */
  x = x - t * 0.693359375f - t * -2.12194440e-4f;
  v16 z = x * x;
  v16 y = ((((1.9875691500e-4f * x + 1.3981999507e-3f) * x + 8.3334519073e-3f) * x + 4.1665795894e-2f) * x +
           1.6666665459e-1f) *
              x +
          5.0000001201e-1f;
  y = y * z + x + 1.0f;
  v16i e = (__builtin_convertvector(t, v16i) + 127) << 23;
  return y * (v16)e;
}

INLINE v16 vsigmoid(v16 x) { return 1.0f / (1.0f + vexp(-x)); }

/* Cephes tanhf: an odd polynomial below |x| = 0.625, 1 − 2 / (e^2|x| + 1) above. */
INLINE v16 vtanh(v16 x) {
  v16 ax = vmax(x, -x);
  v16 z = x * x;
  v16 small =
      ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z + 1.33314422036e-1f) * z -
       3.33332819422e-1f) *
          z * x +
      x;
  v16 big = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
  big = select(x < 0.0f, -big, big);
  return select(ax < 0.625f, small, big);
}

INLINE v16 load(const float *p) { return *(const v16 *)p; }
INLINE void store(float *p, v16 v) { *(v16 *)p = v; }

/*
 * The gate math of blocks [b0, b1) of one row. xg and hg are the row's input and recurrent
 * products ([cols]), h and c the row's state ([blocks * 16]); h_next gets the new output.
 * oneDNN's cells: LSTM i, f, c~, o; lbr_gru u, r, o with h' = u·h + (1 − u)·o; tanh RNN.
 */
CLONES static void epilogue(rnn_cell cell, int b0, int b1, const float *xg, const float *hg, const float *bias,
                            const float *rbias, const float *h, float *h_next, float *c) {
  for (int b = b0; b < b1; b++) {
    const size_t u = (size_t)b * LANES;
    switch (cell) {
      case RNN_LSTM: {
        const size_t o = u * 4;
#define PRE(g) (load(xg + o + (g) * LANES) + load(hg + o + (g) * LANES) + load(bias + o + (g) * LANES))
        v16 cn = vsigmoid(PRE(1)) * load(c + u) + vsigmoid(PRE(0)) * vtanh(PRE(2));
        store(c + u, cn);
        store(h_next + u, vsigmoid(PRE(3)) * vtanh(cn));
        break;
      }
      case RNN_GRU: {
        const size_t o = u * 3;
        v16 z = vsigmoid(PRE(0));
        v16 r = vsigmoid(PRE(1));
        v16 cand = vtanh(load(xg + o + 2 * LANES) + load(bias + o + 2 * LANES) +
                         r * (load(hg + o + 2 * LANES) + load(rbias + u)));
        store(h_next + u, z * load(h + u) + (1.0f - z) * cand);
        break;
      }
      case RNN_TANH:
        store(h_next + u, vtanh(load(xg + u) + load(hg + u) + load(bias + u)));
        break;
#undef PRE
    }
  }
}

/*
 * out[block] = v · panel rows [k0, k0 + k) of each block in [b0, b1): a block's G·16 columns
 * at a time, in named accumulators (an array of them stayed in memory). Two sets: one chain
 * of dependent adds per gate would wait on the FMA's latency.
 */
INLINE void gemv_g(const int G, const float *panel, size_t rows, int k0, int k, const float *v, int b0, int b1,
                   float *out) {
  const v16 zero = {0};
  for (int b = b0; b < b1; b++) {
    const float *w = panel + ((size_t)b * rows + k0) * G * LANES;
    v16 a0 = zero, a1 = zero, a2 = zero, a3 = zero, c0 = zero, c1 = zero, c2 = zero, c3 = zero;
    int i = 0;
    for (; i + 2 <= k; i += 2, w += 2 * G * LANES) {
      const float x = v[i], y = v[i + 1];
      const float *u = w + G * LANES;
      a0 += x * load(w);
      c0 += y * load(u);
      if (G > 1) {
        a1 += x * load(w + LANES);
        c1 += y * load(u + LANES);
        a2 += x * load(w + 2 * LANES);
        c2 += y * load(u + 2 * LANES);
      }
      if (G > 3) {
        a3 += x * load(w + 3 * LANES);
        c3 += y * load(u + 3 * LANES);
      }
    }
    if (i < k) {
      a0 += v[i] * load(w);
      if (G > 1) {
        a1 += v[i] * load(w + LANES);
        a2 += v[i] * load(w + 2 * LANES);
      }
      if (G > 3) a3 += v[i] * load(w + 3 * LANES);
    }
    float *o = out + (size_t)b * G * LANES;
    store(o, a0 + c0);
    if (G > 1) {
      store(o + LANES, a1 + c1);
      store(o + 2 * LANES, a2 + c2);
    }
    if (G > 3) store(o + 3 * LANES, a3 + c3);
  }
}

CLONES static void gemv(int G, const float *panel, size_t rows, int k0, int k, const float *v, int b0, int b1,
                        float *out) {
  if (G == 4) gemv_g(4, panel, rows, k0, k, v, b0, b1, out);
  else if (G == 3) gemv_g(3, panel, rows, k0, k, v, b0, b1, out);
  else gemv_g(1, panel, rows, k0, k, v, b0, b1, out);
}

/*
 * LSTM at batch > 1: out[r] = v[r] · panel rows [k0, k0 + k) of each block in [b0, b1), four
 * rows at a time so each load of a block's 4 × 16 weights feeds 16 FMAs, in named
 * accumulators. In place of dnnl_sgemm, which packs the whole weight matrix again on every
 * call (native/bench/fwd.c, this pass before and after, AVX-512 EPYC, best of 7, I = H = 256
 * unless said): B32 T1 446 -> 370 us on one thread, 368 -> 245 on two; B32 T64 I64 16.1 ->
 * 14.6 ms and 8.7 -> 7.6; B4 T64 3.6 -> 2.7 ms either way. The AVX2 build has not been timed:
 * there its 16 accumulators are 32 ymm registers, more than the 16 it has.
 */
#define ROW4(a0, a1, a2, a3, x)                                  \
  do {                                                           \
    const v16 s_ = splat(x);                                     \
    a0 += s_ * w0;                                               \
    a1 += s_ * w1;                                               \
    a2 += s_ * w2;                                               \
    a3 += s_ * w3;                                               \
  } while (0)
#define STORE4(o, a0, a1, a2, a3) \
  do {                            \
    store((o), a0);               \
    store((o) + LANES, a1);       \
    store((o) + 2 * LANES, a2);   \
    store((o) + 3 * LANES, a3);   \
  } while (0)

CLONES static void gemm4(const float *panel, size_t rows, int k0, int k, const float *v, size_t ldv, int nrows,
                         int b0, int b1, float *out, size_t ldo) {
  const v16 zero = {0};
  for (int b = b0; b < b1; b++) {
    const float *wb = panel + ((size_t)b * rows + k0) * 4 * LANES;
    float *ob = out + (size_t)b * 4 * LANES;
    int r = 0;
    for (; r + 4 <= nrows; r += 4) {
      const float *v0 = v + (size_t)r * ldv, *v1 = v0 + ldv, *v2 = v1 + ldv, *v3 = v2 + ldv;
      v16 a00 = zero, a01 = zero, a02 = zero, a03 = zero, a10 = zero, a11 = zero, a12 = zero, a13 = zero;
      v16 a20 = zero, a21 = zero, a22 = zero, a23 = zero, a30 = zero, a31 = zero, a32 = zero, a33 = zero;
      const float *w = wb;
      for (int i = 0; i < k; i++, w += 4 * LANES) {
        const v16 w0 = load(w), w1 = load(w + LANES), w2 = load(w + 2 * LANES), w3 = load(w + 3 * LANES);
        ROW4(a00, a01, a02, a03, v0[i]);
        ROW4(a10, a11, a12, a13, v1[i]);
        ROW4(a20, a21, a22, a23, v2[i]);
        ROW4(a30, a31, a32, a33, v3[i]);
      }
      float *o = ob + (size_t)r * ldo;
      STORE4(o, a00, a01, a02, a03);
      STORE4(o + ldo, a10, a11, a12, a13);
      STORE4(o + 2 * ldo, a20, a21, a22, a23);
      STORE4(o + 3 * ldo, a30, a31, a32, a33);
    }
    /* The last rows, one at a time: batch 1's product. */
    for (; r < nrows; r++) gemv_g(4, panel, rows, k0, k, v + (size_t)r * ldv, b, b + 1, out + (size_t)r * ldo);
  }
}
#undef ROW4
#undef STORE4

/* ---- the pass ---- */

/*
 * From this many rows a thread, the threads split the batch (each its rows, every unit) and
 * never wait for each other; below it they split the units and meet after every step. LSTM
 * H256 B32 T64, two threads, AVX-512 EPYC shared with another job: by rows 7.6 / 11.7 ms
 * (I 64 / 256), by units 8.2 / 12.0, and a step's barrier stalls whenever the other core is
 * taken.
 */
#define ROWS_A_THREAD 8

typedef struct {
  const rnn_shape *s;
  const fwd_packed *p;
  const rnn_io *io;
} fwd_job;

/* The state buffers of a pass: h double-buffered (threads read all of h_t while writing h_t+1), c in place. */
typedef struct {
  float *xg, *hg, *h[2], *c;
} buffers;

static int buffers_get(rnn_ctx *ctx, const fwd_job *j, size_t xg_rows, buffers *b) {
  const fwd_packed *p = j->p;
  const size_t width = (size_t)p->blocks * LANES, B = (size_t)j->s->batch, H = (size_t)p->hidden;
  float *all = rnn_scratch(ctx, (xg_rows + B) * p->cols + 3 * B * width);
  if (all == NULL) return RNN_ERR_NO_MEMORY;
  b->xg = all;
  b->hg = all + xg_rows * p->cols;
  b->h[0] = b->hg + B * p->cols;
  b->h[1] = b->h[0] + B * width;
  b->c = b->h[1] + B * width;
  memset(b->h[0], 0, 3 * B * width * sizeof(float));
  for (size_t r = 0; r < B; r++) {
    memcpy(b->h[0] + r * width, j->io->h0 + r * H, H * sizeof(float));
    if (p->cell == RNN_LSTM) memcpy(b->c + r * width, j->io->c0 + r * H, H * sizeof(float));
  }
  return 0;
}

/* Units [b0·16, b1·16) ∩ [0, H) of a padded state row into a row of H. */
static void unpad(const float *from, float *to, int b0, int b1, int hidden) {
  const int lo = b0 * LANES, hi = b1 * LANES < hidden ? b1 * LANES : hidden;
  if (hi > lo) memcpy(to + lo, from + lo, (size_t)(hi - lo) * sizeof(float));
}

static void finish(const fwd_job *j, const buffers *b, int last) {
  const fwd_packed *p = j->p;
  const size_t width = (size_t)p->blocks * LANES;
  for (int r = 0; r < j->s->batch; r++) {
    float *h_last = j->io->h_last + (size_t)r * p->hidden;
    unpad(b->h[last] + r * width, h_last, 0, p->blocks, p->hidden);
    if (p->cell == RNN_LSTM) unpad(b->c + r * width, j->io->c_last + (size_t)r * p->hidden, 0, p->blocks, p->hidden);
  }
}

/* A barrier the threads of one pass meet at after every step; they spin briefly, then yield the core. */
typedef struct {
  atomic_int count, phase;
} barrier;

static void barrier_wait(barrier *bar, int threads, int *phase) {
  const int next = *phase + 1;
  *phase = next;
  if (atomic_fetch_add(&bar->count, 1) == threads - 1) {
    atomic_store(&bar->count, 0);
    atomic_store(&bar->phase, next);
    return;
  }
  for (int spins = 0; atomic_load(&bar->phase) != next; spins++)
    if (spins > 2000) sched_yield();
}

/*
 * The OpenMP threads this call runs with share the rows of the batch, or its units (each its
 * blocks' columns of every gate), in one parallel region for the whole segment. A step's
 * recurrent product is dnnl_sgemm at batch > 1 (inside the region oneDNN runs it on the
 * calling thread alone) and the panels' matrix-vector product at batch 1, where each thread
 * streams its share of the panels from its own core's cache.
 */
static int pass(rnn_ctx *ctx, const void *args) {
  const fwd_job *j = args;
  const fwd_packed *p = j->p;
  const int T = j->s->steps, B = j->s->batch, I = p->input, H = p->hidden, G = p->gates, N = p->cols;
  const size_t width = (size_t)p->blocks * LANES, rows = (size_t)I + H;
  /* One step of batch 1 reads its input product from the panels too: a GEMM of one row is a slow GEMV. */
  const int panel_input = T == 1 && B == 1;
  /* One step of LSTM at batch > 1: its input product comes from the panels too, in gemm4. */
  const int one_step = T == 1 && B > 1 && G == 4;
  buffers b;
  int status = buffers_get(ctx, j, (size_t)T * B, &b);
  if (status != 0) return status;
  if (!panel_input && !one_step) {
    dnnl_status_t st = dnnl_sgemm('N', 'N', T * B, N, I, 1.0f, j->io->x, I, p->wx, N, 0.0f, b.xg, N);
    if (st != dnnl_success) return -(int)st;
  }
  int threads = omp_get_max_threads();
  const int by_rows = B >= ROWS_A_THREAD * threads;
  if (!by_rows && threads > p->blocks) threads = p->blocks;
  barrier bar = {0, 0};
  atomic_int failed = 0;
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    const int n = omp_get_num_threads(), me = omp_get_thread_num();
    const int b0 = by_rows ? 0 : p->blocks * me / n, b1 = by_rows ? p->blocks : p->blocks * (me + 1) / n;
    const int r0 = by_rows ? B * me / n : 0, r1 = by_rows ? B * (me + 1) / n : B;
    const size_t c0 = (size_t)b0 * G * LANES;
    int phase = 0;
    if (panel_input) gemv(G, p->panel, rows, 0, I, j->io->x, b0, b1, b.xg);
    for (int t = 0; t < T; t++) {
      const float *h = b.h[t & 1];
      float *h_next = b.h[(t + 1) & 1];
      if (B == 1) gemv(G, p->panel, rows, I, H, h, b0, b1, b.hg);
      else if (G == 4) {
        if (one_step) gemm4(p->panel, rows, 0, I, j->io->x + (size_t)r0 * I, I, r1 - r0, b0, b1, b.xg + (size_t)r0 * N, N);
        gemm4(p->panel, rows, I, H, h + r0 * width, width, r1 - r0, b0, b1, b.hg + (size_t)r0 * N, N);
      } else if (b1 > b0 && r1 > r0 &&
               dnnl_sgemm('N', 'N', r1 - r0, (b1 - b0) * G * LANES, H, 1.0f, h + r0 * width, (int)width,
                          p->wh + c0, N, 0.0f, b.hg + (size_t)r0 * N + c0, N) != dnnl_success)
        atomic_store(&failed, 1);
      for (int r = r0; r < r1; r++) {
        const size_t row = (size_t)t * B + r;
        epilogue(p->cell, b0, b1, b.xg + row * N, b.hg + (size_t)r * N, p->bias, p->rbias, h + r * width,
                 h_next + r * width, b.c + r * width);
        unpad(h_next + r * width, j->io->out + row * H, b0, b1, H);
      }
      if (n > 1 && !by_rows) barrier_wait(&bar, n, &phase);
    }
  }
  if (atomic_load(&failed)) return -(int)dnnl_runtime_error;
  finish(j, &b, T & 1);
  return 0;
}

/*
 * Threads: a batch-1 segment shares its steps' products between the context's threads (each
 * core keeps half the recurrent weights in its cache); one step of batch 1 and narrow batches
 * stay on one (onednn.c, NARROW_BATCH), as rnn_run decides from the work's size.
 */
int fwd_run(rnn_ctx *ctx, const rnn_shape *s, const fwd_packed *p, const rnn_io *io) {
  fwd_job j = {s, p, io};
  return rnn_run(ctx, s, s->batch == 1 && s->steps > 1, pass, &j);
}
