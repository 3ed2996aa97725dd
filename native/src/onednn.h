/*
 * One recurrent layer on oneDNN's RNN primitives (lstm, lbr_gru, vanilla_rnn with tanh), f32,
 * unidirectional: forward inference, forward training (with the primitive's workspace) and
 * backward. Layouts are oneDNN's plain ones, row-major: x [T*B, I] (tnc), out [T*B, H], states
 * [B, H], weights_layer [I, G, H] and weights_iter [H, G, H] (ldigo), bias [G', H] (ldgo, G' =
 * G + 1 for lbr_gru). The gates are in oneDNN's order (LSTM i, f, c~, o; GRU u, r, o); the
 * caller maps its own layout onto them (src/ml/model/cells/).
 *
 * Primitives are created once per shape and kept in a small per-thread cache (rnn_ctx), so
 * segments of varying length, batch-1 generation and batched serving each build theirs once.
 * Big calls run on the context's own compute thread while the caller waits (onednn.c says why).
 * Every function returns 0, or a negative status: RNN_ERR_* or a dnnl_status_t negated.
 */
#ifndef RNNLM_ONEDNN_H
#define RNNLM_ONEDNN_H

#include <stddef.h>

typedef enum { RNN_LSTM = 0, RNN_GRU = 1, RNN_TANH = 2 } rnn_cell;

typedef struct {
  rnn_cell cell;
  int steps;  /* T */
  int batch;  /* B */
  int input;  /* I */
  int hidden; /* H */
} rnn_shape;

/* Gate blocks of a cell's weights, and of its bias (lbr_gru has one more bias block). */
int rnn_gates(rnn_cell cell);
int rnn_bias_gates(rnn_cell cell);

#define RNN_ERR_NO_MEMORY (-1000)

typedef struct rnn_ctx rnn_ctx;

/* A context per JavaScript thread: its stream, primitive cache and compute thread. */
rnn_ctx *rnn_ctx_create(void);
void rnn_ctx_free(rnn_ctx *ctx);

typedef struct {
  const float *layer, *iter, *bias;
} rnn_weights;

/* What a forward pass reads and writes; c0 and c_last are read/written by LSTM only. */
typedef struct {
  const float *x, *h0, *c0;
  float *out, *h_last, *c_last;
} rnn_io;

/* What a backward pass reads besides the forward's rnn_io, and writes. */
typedef struct {
  const float *d_out, *d_h_last, *d_c_last;
  float *d_x, *d_h0, *d_c0, *d_layer, *d_iter, *d_bias;
} rnn_grads;

/* Bytes of the workspace a training forward pass fills and its backward pass reads. */
int rnn_workspace_bytes(rnn_ctx *ctx, const rnn_shape *s, size_t *bytes);

/* Forward pass; with a workspace, the training one (the backward pass needs it). */
int rnn_forward(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io, void *workspace);

/* Backward pass from a training forward pass's io and workspace; writes every gradient. */
int rnn_backward(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io, void *workspace,
                 const rnn_grads *g);

/*
 * Runs fn(ctx, args) where a layer call of shape `s` runs: big ones on the compute thread
 * (with the context's OpenMP threads when `wide` or the batch is not narrow, else one), small
 * ones on the caller with one. fn must not call the functions here that choose for themselves.
 */
int rnn_run(rnn_ctx *ctx, const rnn_shape *s, int wide, int (*fn)(rnn_ctx *, const void *), const void *args);

/* A buffer of at least `floats` floats, 64-byte aligned, kept by the context between calls; NULL when out of memory. */
float *rnn_scratch(rnn_ctx *ctx, size_t floats);

/* Row-major c [m, n] = op(a) · op(b) (dnnl_sgemm). */
int rnn_sgemm(rnn_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
              float *c);

/* The OpenMP threads of the context's big oneDNN calls (on its compute thread; small ones run on the caller with one). */
void rnn_set_threads(rnn_ctx *ctx, int threads);
int rnn_threads(rnn_ctx *ctx);

/* "oneDNN 2.6.3" and the instruction set its kernels use on this CPU ("avx2", "avx512_core", …). */
const char *rnn_library(void);
const char *rnn_isa(void);
const char *rnn_status_str(int status);

#endif
