/*
 * The inference forward pass of one recurrent layer, written by hand rather than run on
 * oneDNN's RNN primitive (fwd.c says where and why it wins): one input GEMM for every step of
 * a segment, then per step the recurrent product on weights packed once per weight version,
 * with the cell's gate math fused after it. Cells and layouts are onednn.h's: the weights come
 * in oneDNN's plain ldigo/ldgo layouts and gate order, and pack() reorders them.
 */
#ifndef RNNLM_FWD_H
#define RNNLM_FWD_H

#include <stddef.h>

#include "onednn.h"

typedef struct fwd_packed fwd_packed;

/* A layer's weights packed for fwd_run; NULL when out of memory. */
fwd_packed *fwd_pack(rnn_cell cell, int input, int hidden, const rnn_weights *w);
void fwd_free(fwd_packed *p);
/* Bytes a packed layer holds (for the JavaScript garbage collector's accounting). */
size_t fwd_bytes(const fwd_packed *p);
/* Whether `p` was packed for this cell and these sizes. */
int fwd_fits(const fwd_packed *p, const rnn_shape *s);

/* The forward pass of rnn_forward (no workspace), on packed weights; 0 or a negative status. */
int fwd_run(rnn_ctx *ctx, const rnn_shape *s, const fwd_packed *p, const rnn_io *io);

#endif
