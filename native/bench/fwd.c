/*
 * fwd.c's hand-written inference pass against oneDNN's RNN primitive (as the addon calls it,
 * plain weights) on one layer, interleaved, best of rounds; and the largest difference
 * between their outputs. Build and run from native/:
 *   cc -O2 -std=c11 -fopenmp bench/fwd.c src/fwd.c src/onednn.c -ldnnl -lm -o /tmp/fwd-bench
 *   OMP_WAIT_POLICY=passive /tmp/fwd-bench [threads]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../src/fwd.h"
#include "../src/onednn.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static float *fill(size_t n, unsigned seed) {
  float *p = malloc(n * sizeof *p);
  for (size_t i = 0; i < n; i++) p[i] = (float)(((i + seed) * 2654435761u) % 2000) * 1e-4f - 0.1f;
  return p;
}

int main(int argc, char **argv) {
  const int threads = argc > 1 ? atoi(argv[1]) : 2;
  rnn_ctx *ctx = rnn_ctx_create();
  rnn_set_threads(ctx, threads);
  const struct { rnn_cell cell; int T, B, I, H; } shapes[] = {
      {RNN_LSTM, 64, 32, 64, 256}, {RNN_LSTM, 64, 32, 256, 256}, {RNN_LSTM, 1, 1, 64, 256},
      {RNN_LSTM, 1, 1, 256, 256},  {RNN_LSTM, 256, 1, 64, 256},  {RNN_LSTM, 256, 1, 256, 256},
      {RNN_LSTM, 1, 32, 256, 256}, {RNN_LSTM, 64, 4, 256, 256},  {RNN_GRU, 64, 32, 256, 256},
      {RNN_GRU, 256, 1, 256, 256}, {RNN_GRU, 1, 1, 256, 256},    {RNN_TANH, 64, 32, 256, 256},
      {RNN_TANH, 256, 1, 256, 256}, {RNN_TANH, 1, 1, 256, 256},  {RNN_LSTM, 7, 3, 5, 13},
      {RNN_GRU, 7, 1, 5, 13},
  };
  static const char *names[] = {"lstm", "gru", "rnn"};
  printf("%-5s %4s %3s %4s %4s %10s %10s %7s %9s\n", "cell", "T", "B", "I", "H", "oneDNN us", "fwd us", "ratio",
         "max diff");
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
    rnn_shape s = {shapes[k].cell, shapes[k].T, shapes[k].B, shapes[k].I, shapes[k].H};
    const int G = rnn_gates(s.cell);
    const size_t rows = (size_t)s.steps * s.batch, state = (size_t)s.batch * s.hidden;
    rnn_weights w = {fill((size_t)s.input * G * s.hidden, 1), fill((size_t)s.hidden * G * s.hidden, 2),
                     fill((size_t)rnn_bias_gates(s.cell) * s.hidden, 3)};
    float *x = fill(rows * s.input, 4), *h0 = fill(state, 5), *c0 = fill(state, 6);
    float *out[2], *hl[2], *cl[2];
    for (int i = 0; i < 2; i++) {
      out[i] = calloc(rows * s.hidden, sizeof(float));
      hl[i] = calloc(state, sizeof(float));
      cl[i] = calloc(state, sizeof(float));
    }
    fwd_packed *p = fwd_pack(s.cell, s.input, s.hidden, &w);
    rnn_io io[2] = {{x, h0, c0, out[0], hl[0], cl[0]}, {x, h0, c0, out[1], hl[1], cl[1]}};
    const int reps = (int)(2e7 / ((double)rows * (s.input + s.hidden) * G * s.hidden)) + 1;
    double best[2] = {1e9, 1e9};
    for (int round = 0; round < 7; round++)
      for (int which = 0; which < 2; which++) {
        double t = now();
        for (int r = 0; r < reps; r++) {
          int st = which == 0 ? rnn_forward(ctx, &s, &w, &io[0], NULL) : fwd_run(ctx, &s, p, &io[1]);
          if (st != 0) {
            fprintf(stderr, "failed: %s\n", rnn_status_str(st));
            return 1;
          }
        }
        t = (now() - t) / reps;
        if (t < best[which]) best[which] = t;
      }
    double diff = 0;
    for (size_t i = 0; i < rows * s.hidden; i++) {
      double d = fabs(out[0][i] - out[1][i]) / (fabs(out[0][i]) + 1e-3);
      if (d > diff) diff = d;
    }
    for (size_t i = 0; i < state; i++) {
      double d = fabs(hl[0][i] - hl[1][i]) + (s.cell == RNN_LSTM ? fabs(cl[0][i] - cl[1][i]) : 0);
      if (d > diff) diff = d;
    }
    printf("%-5s %4d %3d %4d %4d %10.1f %10.1f %7.2f %9.2g\n", names[s.cell], s.steps, s.batch, s.input, s.hidden,
           best[0] * 1e6, best[1] * 1e6, best[0] / best[1], diff);
    fwd_free(p);
  }
  rnn_ctx_free(ctx);
  return 0;
}
