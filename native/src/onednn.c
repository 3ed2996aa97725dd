#include "onednn.h"

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Shapes a context keeps primitives for. Training uses a handful (the segment lengths of one
 * run); serving one per (prompt length, batch) pair it meets, so the least recently used go.
 */
#define CACHE_SIZE 48

/* The calls an entry serves, each with its own argument list. */
enum { MEM_FORWARD, MEM_BACKWARD, MEM_USES };
#define MAX_ARGS 24

/*
 * A pass's weights (layer, iter) in the layouts its primitive picked, reordered from the plain
 * ones on every call (training's weights change every step), with the reorders' memory objects.
 */
typedef struct {
  dnnl_memory_desc_t md[2];
  dnnl_primitive_t to[2];
  void *data[2];
  dnnl_memory_t mem[2][2];
} relaid;

typedef struct {
  rnn_shape s;
  int training; /* whether the forward primitive is the training one, with a backward beside it */
  unsigned long long used;
  dnnl_primitive_t fwd, bwd;
  size_t workspace_bytes;
  /*
   * Training's forward and backward read the weights in layouts oneDNN picks. The forward's
   * is ldigo with its rows padded (1040 floats for 4 x 256 gates, not 1024): rows 4 KiB apart
   * alias in the cache: with the plain layout the whole training step, 2x256 LSTM B32 T64 on an AVX-512
   * EPYC, took 5-10 % longer (3 of 4 interleaved pairs of 24-step runs; the 4th was noise).
   */
  relaid fwd_w, bwd_w;
  /*
   * The memory objects of each call's arguments, by position, made on first use and pointed
   * at each call's arrays after: creating and destroying a dozen a call was 8 % of the
   * instructions of a batch-1 layer call (callgrind, LSTM B1 T1 H256: 257k then 235k a call).
   */
  dnnl_memory_t mem[MEM_USES][MAX_ARGS];
} entry;

/*
 * Work at least this big (in multiply-adds) runs on the context's compute thread. Measured on
 * an AVX2 EPYC, one OpenMP thread: oneDNN's LSTM forward at B32 T64 H256 took 134 ms called
 * from Node's main thread and 71 ms from any other thread of the same process (B32 T1: 2.21
 * vs 1.23 ms; B1 T1: 0.06 ms either way), while the same library called from Python's main
 * thread took 79 ms and the hand-written kernels this replaced ran alike on both. The cause in
 * Node's main thread is unknown; a hand-off costs ~10-20 us, so small calls stay where they are.
 */
#define OFFLOAD_MACS (1L << 22)

typedef struct {
  int (*fn)(rnn_ctx *ctx, const void *args);
  const void *args;
  /* OpenMP threads for this job; 0: the context's. */
  int threads;
  int result;
  int done;
} job;

/*
 * Below this batch a layer's call runs on one OpenMP thread: each step's product is too small
 * to share, and with OpenMP's idle threads asleep (OMP_WAIT_POLICY=passive, src/config.ts)
 * waking the second one every step costs more than it brings. oneDNN's LSTM forward, H256
 * T256 B1, AVX-512 EPYC, passive: 7.0 ms on one thread, 15.5 ms on two (4.6 ms on two that
 * spin instead, which a shared machine cannot afford).
 */
#define NARROW_BATCH 8

struct rnn_ctx {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  unsigned long long clock;
  entry cache[CACHE_SIZE];
  /* The OpenMP threads asked for: set on the calling thread at once, on the compute thread before its next job. */
  int threads;
  int started, stop;
  pthread_t compute;
  pthread_mutex_t mu;
  pthread_cond_t wake, finished;
  job *pending;
  /* rnn_scratch's buffer: the caller and the compute thread never run at once, so one serves both. */
  float *scratch;
  size_t scratch_floats;
};

#define TRY(call)                     \
  do {                                \
    dnnl_status_t st_ = (call);       \
    if (st_ != dnnl_success) {        \
      status = -(int)st_;             \
      goto done;                      \
    }                                 \
  } while (0)

int rnn_gates(rnn_cell cell) { return cell == RNN_LSTM ? 4 : cell == RNN_GRU ? 3 : 1; }
int rnn_bias_gates(rnn_cell cell) { return cell == RNN_GRU ? 4 : rnn_gates(cell); }

rnn_ctx *rnn_ctx_create(void) {
  rnn_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) return NULL;
  ctx->threads = omp_get_max_threads();
  omp_set_num_threads(1);
  pthread_mutex_init(&ctx->mu, NULL);
  pthread_cond_init(&ctx->wake, NULL);
  pthread_cond_init(&ctx->finished, NULL);
  if (dnnl_engine_create(&ctx->engine, dnnl_cpu, 0) != dnnl_success ||
      dnnl_stream_create(&ctx->stream, ctx->engine, dnnl_stream_default_flags) != dnnl_success) {
    if (ctx->engine != NULL) dnnl_engine_destroy(ctx->engine);
    free(ctx);
    return NULL;
  }
  return ctx;
}

static void relaid_free(relaid *r) {
  for (int i = 0; i < 2; i++) {
    if (r->to[i] != NULL) dnnl_primitive_destroy(r->to[i]);
    free(r->data[i]);
    for (int j = 0; j < 2; j++)
      if (r->mem[i][j] != NULL) dnnl_memory_destroy(r->mem[i][j]);
  }
}

static void entry_free(entry *e) {
  if (e->fwd != NULL) dnnl_primitive_destroy(e->fwd);
  if (e->bwd != NULL) dnnl_primitive_destroy(e->bwd);
  relaid_free(&e->fwd_w);
  relaid_free(&e->bwd_w);
  for (int u = 0; u < MEM_USES; u++)
    for (int i = 0; i < MAX_ARGS; i++)
      if (e->mem[u][i] != NULL) dnnl_memory_destroy(e->mem[u][i]);
  memset(e, 0, sizeof *e);
}

void rnn_ctx_free(rnn_ctx *ctx) {
  if (ctx == NULL) return;
  if (ctx->started) {
    pthread_mutex_lock(&ctx->mu);
    ctx->stop = 1;
    pthread_cond_signal(&ctx->wake);
    pthread_mutex_unlock(&ctx->mu);
    pthread_join(ctx->compute, NULL);
  }
  pthread_cond_destroy(&ctx->wake);
  pthread_cond_destroy(&ctx->finished);
  pthread_mutex_destroy(&ctx->mu);
  for (int i = 0; i < CACHE_SIZE; i++) entry_free(&ctx->cache[i]);
  free(ctx->scratch);
  dnnl_stream_destroy(ctx->stream);
  dnnl_engine_destroy(ctx->engine);
  free(ctx);
}

/* The memory descriptors of one shape, by role. */
typedef struct {
  dnnl_memory_desc_t x, state, layer, iter, bias, out;
} descs;

static dnnl_status_t init_descs(const rnn_shape *s, descs *d) {
  const int g = rnn_gates(s->cell);
  dnnl_status_t st;
  if ((st = dnnl_memory_desc_init_by_tag(&d->x, 3, (dnnl_dims_t){s->steps, s->batch, s->input}, dnnl_f32,
                                         dnnl_tnc)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&d->out, 3, (dnnl_dims_t){s->steps, s->batch, s->hidden}, dnnl_f32,
                                         dnnl_tnc)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&d->state, 4, (dnnl_dims_t){1, 1, s->batch, s->hidden}, dnnl_f32,
                                         dnnl_ldnc)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&d->layer, 5, (dnnl_dims_t){1, 1, s->input, g, s->hidden}, dnnl_f32,
                                         dnnl_ldigo)) != dnnl_success ||
      (st = dnnl_memory_desc_init_by_tag(&d->iter, 5, (dnnl_dims_t){1, 1, s->hidden, g, s->hidden}, dnnl_f32,
                                         dnnl_ldigo)) != dnnl_success)
    return st;
  return dnnl_memory_desc_init_by_tag(&d->bias, 4, (dnnl_dims_t){1, 1, rnn_bias_gates(s->cell), s->hidden},
                                      dnnl_f32, dnnl_ldgo);
}

static const dnnl_rnn_direction_t DIR = dnnl_unidirectional_left2right;

/* The weights in `layer` and `iter`'s layouts (plain, or `any`: the primitive's choice). */
static dnnl_status_t forward_desc(const rnn_shape *s, const descs *d, const dnnl_memory_desc_t *layer,
                                  const dnnl_memory_desc_t *iter, int training, dnnl_rnn_desc_t *rd) {
  const dnnl_prop_kind_t prop = training ? dnnl_forward_training : dnnl_forward_inference;
  switch (s->cell) {
    case RNN_LSTM:
      return dnnl_lstm_forward_desc_init(rd, prop, DIR, &d->x, &d->state, &d->state, layer, iter,
                                         &d->bias, &d->out, &d->state, &d->state, 0);
    case RNN_GRU:
      return dnnl_lbr_gru_forward_desc_init(rd, prop, DIR, &d->x, &d->state, layer, iter, &d->bias,
                                            &d->out, &d->state, 0);
    case RNN_TANH:
      return dnnl_vanilla_rnn_forward_desc_init(rd, prop, dnnl_eltwise_tanh, DIR, &d->x, &d->state, &d->layer,
                                                &d->iter, &d->bias, &d->out, &d->state, 0, 0.0f, 0.0f);
  }
  return dnnl_invalid_arguments;
}

/* Backward: the weights it reads in the layout it prefers (`any`), the gradients in plain ones. */
static dnnl_status_t any_layout(const descs *d, dnnl_memory_desc_t *layer_any, dnnl_memory_desc_t *iter_any) {
  dnnl_status_t st = dnnl_memory_desc_init_by_tag(layer_any, 5, d->layer.dims, dnnl_f32, dnnl_format_tag_any);
  return st != dnnl_success ? st : dnnl_memory_desc_init_by_tag(iter_any, 5, d->iter.dims, dnnl_f32, dnnl_format_tag_any);
}

static dnnl_status_t backward_desc(const rnn_shape *s, const descs *d, dnnl_rnn_desc_t *rd) {
  dnnl_memory_desc_t layer_any, iter_any;
  dnnl_status_t st = any_layout(d, &layer_any, &iter_any);
  if (st != dnnl_success) return st;
  switch (s->cell) {
    case RNN_LSTM:
      return dnnl_lstm_backward_desc_init(rd, dnnl_backward, DIR, &d->x, &d->state, &d->state, &layer_any,
                                          &iter_any, &d->bias, &d->out, &d->state, &d->state, &d->x, &d->state,
                                          &d->state, &d->layer, &d->iter, &d->bias, &d->out, &d->state,
                                          &d->state, 0);
    case RNN_GRU:
      return dnnl_lbr_gru_backward_desc_init(rd, dnnl_backward, DIR, &d->x, &d->state, &layer_any, &iter_any,
                                             &d->bias, &d->out, &d->state, &d->x, &d->state, &d->layer,
                                             &d->iter, &d->bias, &d->out, &d->state, 0);
    case RNN_TANH:
      return dnnl_vanilla_rnn_backward_desc_init(rd, dnnl_backward, dnnl_eltwise_tanh, DIR, &d->x, &d->state,
                                                 &layer_any, &iter_any, &d->bias, &d->out, &d->state, &d->x,
                                                 &d->state, &d->layer, &d->iter, &d->bias, &d->out, &d->state,
                                                 0, 0.0f, 0.0f);
  }
  return dnnl_invalid_arguments;
}

static dnnl_status_t reorder(rnn_ctx *ctx, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                             dnnl_primitive_t *out) {
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = dnnl_reorder_primitive_desc_create(&pd, from, ctx->engine, to, ctx->engine, NULL);
  if (st != dnnl_success) return st;
  st = dnnl_primitive_create(out, pd);
  dnnl_primitive_desc_destroy(pd);
  return st;
}

/* `r` for the weights `pd` reads (its weights 0 and 1), from the plain layouts in `d`. */
static int relaid_build(rnn_ctx *ctx, const descs *d, const_dnnl_primitive_desc_t pd, relaid *r) {
  const dnnl_memory_desc_t *plain[2] = {&d->layer, &d->iter};
  for (int i = 0; i < 2; i++) {
    r->md[i] = *dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, i);
    dnnl_status_t st = reorder(ctx, plain[i], &r->md[i], &r->to[i]);
    if (st != dnnl_success) return -(int)st;
    if ((r->data[i] = malloc(dnnl_memory_desc_get_size(&r->md[i]))) == NULL) return RNN_ERR_NO_MEMORY;
  }
  return 0;
}

static int build(rnn_ctx *ctx, const rnn_shape *s, int training, entry *e) {
  descs d;
  dnnl_rnn_desc_t fd, bd;
  dnnl_primitive_desc_t fpd = NULL, bpd = NULL;
  int status = 0;
  e->s = *s;
  e->training = training;
  dnnl_memory_desc_t layer_any, iter_any;
  TRY(init_descs(s, &d));
  TRY(any_layout(&d, &layer_any, &iter_any));
  TRY(training ? forward_desc(s, &d, &layer_any, &iter_any, 1, &fd) : forward_desc(s, &d, &d.layer, &d.iter, 0, &fd));
  TRY(dnnl_primitive_desc_create(&fpd, &fd, NULL, ctx->engine, NULL));
  TRY(dnnl_primitive_create(&e->fwd, fpd));
  if (training) {
    if ((status = relaid_build(ctx, &d, fpd, &e->fwd_w)) != 0) goto done;
    e->workspace_bytes = dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0));
    TRY(backward_desc(s, &d, &bd));
    TRY(dnnl_primitive_desc_create(&bpd, &bd, NULL, ctx->engine, fpd));
    TRY(dnnl_primitive_create(&e->bwd, bpd));
    status = relaid_build(ctx, &d, bpd, &e->bwd_w);
  }
done:
  if (fpd != NULL) dnnl_primitive_desc_destroy(fpd);
  if (bpd != NULL) dnnl_primitive_desc_destroy(bpd);
  if (status != 0) entry_free(e);
  return status;
}

static int same(const rnn_shape *a, const rnn_shape *b) {
  return a->cell == b->cell && a->steps == b->steps && a->batch == b->batch && a->input == b->input &&
         a->hidden == b->hidden;
}

/* The cached primitives of a shape, built on first use (the least recently used entry goes). */
static int lookup(rnn_ctx *ctx, const rnn_shape *s, int training, entry **out) {
  entry *victim = &ctx->cache[0];
  for (int i = 0; i < CACHE_SIZE; i++) {
    entry *e = &ctx->cache[i];
    if (e->fwd != NULL && e->training == training && same(&e->s, s)) {
      e->used = ++ctx->clock;
      *out = e;
      return 0;
    }
    if (e->fwd == NULL || (victim->fwd != NULL && e->used < victim->used)) victim = e;
  }
  entry_free(victim);
  int status = build(ctx, s, training, victim);
  if (status != 0) return status;
  victim->used = ++ctx->clock;
  *out = victim;
  return 0;
}

static void *compute_main(void *arg) {
  rnn_ctx *ctx = arg;
  int threads = 0;
  pthread_mutex_lock(&ctx->mu);
  for (;;) {
    while (ctx->pending == NULL && !ctx->stop) pthread_cond_wait(&ctx->wake, &ctx->mu);
    if (ctx->stop) break;
    job *j = ctx->pending;
    ctx->pending = NULL;
    int want = j->threads > 0 ? j->threads : ctx->threads;
    pthread_mutex_unlock(&ctx->mu);
    if (want != threads) omp_set_num_threads(threads = want);
    j->result = j->fn(ctx, j->args);
    pthread_mutex_lock(&ctx->mu);
    j->done = 1;
    pthread_cond_broadcast(&ctx->finished);
  }
  pthread_mutex_unlock(&ctx->mu);
  return NULL;
}

/* Runs fn on the compute thread (started on first use) and waits for it; inline when it cannot start. */
static int offload(rnn_ctx *ctx, int (*fn)(rnn_ctx *, const void *), const void *args, int threads) {
  if (!ctx->started) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    /* oneDNN's JIT kernels and OpenMP want more than the smallest default stacks. */
    pthread_attr_setstacksize(&attr, 8 << 20);
    ctx->started = pthread_create(&ctx->compute, &attr, compute_main, ctx) == 0;
    pthread_attr_destroy(&attr);
    if (!ctx->started) return fn(ctx, args);
  }
  job j = {fn, args, threads, 0, 0};
  pthread_mutex_lock(&ctx->mu);
  ctx->pending = &j;
  pthread_cond_signal(&ctx->wake);
  while (!j.done) pthread_cond_wait(&ctx->finished, &ctx->mu);
  pthread_mutex_unlock(&ctx->mu);
  return j.result;
}

static long layer_macs(const rnn_shape *s) {
  return (long)s->steps * s->batch * (s->input + s->hidden) * rnn_gates(s->cell) * s->hidden;
}

typedef struct {
  const rnn_shape *s;
  size_t *bytes;
} size_job;

static int workspace_job(rnn_ctx *ctx, const void *args) {
  const size_job *j = args;
  entry *e;
  int status = lookup(ctx, j->s, 1, &e);
  if (status == 0) *j->bytes = e->workspace_bytes;
  return status;
}

/*
 * A shape's primitives are built on the thread that runs them (oneDNN 2.6 sizes a thread's
 * scratchpad when it creates a primitive there), so this asks where the shape's calls run.
 */
int rnn_workspace_bytes(rnn_ctx *ctx, const rnn_shape *s, size_t *bytes) {
  size_job j = {s, bytes};
  return layer_macs(s) >= OFFLOAD_MACS ? offload(ctx, workspace_job, &j, s->batch < NARROW_BATCH ? 1 : 0) : workspace_job(ctx, &j);
}

/* Memory objects over the caller's arrays, made for one call. */
/* A call's arguments; their memory objects live in `slots` (an entry's, for one of its calls). */
typedef struct {
  dnnl_exec_arg_t args[MAX_ARGS];
  dnnl_memory_t *slots;
  int n;
  int status;
} arglist;

/* The next argument: its slot's memory object pointed at `data`, made with `md` the first time. */
static void arg(rnn_ctx *ctx, arglist *a, int name, const dnnl_memory_desc_t *md, const void *data) {
  if (a->status != 0) return;
  dnnl_memory_t *m = &a->slots[a->n];
  dnnl_status_t st = *m == NULL ? dnnl_memory_create(m, md, ctx->engine, (void *)data)
                                : dnnl_memory_set_data_handle(*m, (void *)data);
  if (st != dnnl_success) {
    a->status = -(int)st;
    return;
  }
  a->args[a->n] = (dnnl_exec_arg_t){name, *m};
  a->n++;
}

static int execute(rnn_ctx *ctx, dnnl_primitive_t p, arglist *a) {
  int status = a->status;
  if (status == 0) {
    dnnl_status_t st = dnnl_primitive_execute(p, ctx->stream, a->n, a->args);
    if (st == dnnl_success) st = dnnl_stream_wait(ctx->stream);
    if (st != dnnl_success) status = -(int)st;
  }
  return status;
}

/* The arguments a forward pass and the backward pass share: inputs, weights, outputs, states. */
static void forward_args(rnn_ctx *ctx, arglist *a, const descs *d, const rnn_shape *s, const rnn_weights *w,
                         const rnn_io *io) {
  arg(ctx, a, DNNL_ARG_SRC_LAYER, &d->x, io->x);
  arg(ctx, a, DNNL_ARG_SRC_ITER, &d->state, io->h0);
  arg(ctx, a, DNNL_ARG_BIAS, &d->bias, w->bias);
  arg(ctx, a, DNNL_ARG_DST_LAYER, &d->out, io->out);
  arg(ctx, a, DNNL_ARG_DST_ITER, &d->state, io->h_last);
  if (s->cell == RNN_LSTM) {
    arg(ctx, a, DNNL_ARG_SRC_ITER_C, &d->state, io->c0);
    arg(ctx, a, DNNL_ARG_DST_ITER_C, &d->state, io->c_last);
  }
}

/* Reorders `w`'s plain weights into `r` and adds them to `a` as the call's weights. */
static int relaid_run(rnn_ctx *ctx, relaid *r, const descs *d, const rnn_weights *w, arglist *a) {
  const dnnl_memory_desc_t *plain[2] = {&d->layer, &d->iter};
  const float *src[2] = {w->layer, w->iter};
  static const int names[2] = {DNNL_ARG_WEIGHTS_LAYER, DNNL_ARG_WEIGHTS_ITER};
  for (int i = 0; i < 2; i++) {
    arglist copy = {.slots = r->mem[i], .n = 0, .status = 0};
    arg(ctx, &copy, DNNL_ARG_FROM, plain[i], src[i]);
    arg(ctx, &copy, DNNL_ARG_TO, &r->md[i], r->data[i]);
    int status = execute(ctx, r->to[i], &copy);
    if (status != 0) return status;
    arg(ctx, a, names[i], &r->md[i], r->data[i]);
  }
  return 0;
}

static int forward_here(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io, void *workspace) {
  entry *e;
  descs d;
  int status = lookup(ctx, s, workspace != NULL, &e);
  if (status != 0) return status;
  if (init_descs(s, &d) != dnnl_success) return -(int)dnnl_invalid_arguments;
  arglist a = {.slots = e->mem[MEM_FORWARD], .n = 0, .status = 0};
  forward_args(ctx, &a, &d, s, w, io);
  if (workspace == NULL) {
    arg(ctx, &a, DNNL_ARG_WEIGHTS_LAYER, &d.layer, w->layer);
    arg(ctx, &a, DNNL_ARG_WEIGHTS_ITER, &d.iter, w->iter);
  } else {
    if ((status = relaid_run(ctx, &e->fwd_w, &d, w, &a)) != 0) return status;
    dnnl_memory_desc_t ws;
    dnnl_memory_desc_init_by_tag(&ws, 1, (dnnl_dims_t){(dnnl_dim_t)e->workspace_bytes}, dnnl_u8, dnnl_a);
    arg(ctx, &a, DNNL_ARG_WORKSPACE, &ws, workspace);
  }
  return execute(ctx, e->fwd, &a);
}

static int backward_here(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io,
                         void *workspace, const rnn_grads *g) {
  entry *e;
  descs d;
  int status = lookup(ctx, s, 1, &e);
  if (status != 0) return status;
  if (init_descs(s, &d) != dnnl_success) return -(int)dnnl_invalid_arguments;
  /* Whether the primitive adds to its weight gradients or overwrites them, they start at zero. */
  memset(g->d_layer, 0, dnnl_memory_desc_get_size(&d.layer));
  memset(g->d_iter, 0, dnnl_memory_desc_get_size(&d.iter));
  memset(g->d_bias, 0, dnnl_memory_desc_get_size(&d.bias));
  dnnl_memory_desc_t ws;
  dnnl_memory_desc_init_by_tag(&ws, 1, (dnnl_dims_t){(dnnl_dim_t)e->workspace_bytes}, dnnl_u8, dnnl_a);
  arglist a = {.slots = e->mem[MEM_BACKWARD], .n = 0, .status = 0};
  forward_args(ctx, &a, &d, s, w, io);
  if ((status = relaid_run(ctx, &e->bwd_w, &d, w, &a)) != 0) return status;
  arg(ctx, &a, DNNL_ARG_WORKSPACE, &ws, workspace);
  arg(ctx, &a, DNNL_ARG_DIFF_DST_LAYER, &d.out, g->d_out);
  arg(ctx, &a, DNNL_ARG_DIFF_DST_ITER, &d.state, g->d_h_last);
  arg(ctx, &a, DNNL_ARG_DIFF_SRC_LAYER, &d.x, g->d_x);
  arg(ctx, &a, DNNL_ARG_DIFF_SRC_ITER, &d.state, g->d_h0);
  arg(ctx, &a, DNNL_ARG_DIFF_WEIGHTS_LAYER, &d.layer, g->d_layer);
  arg(ctx, &a, DNNL_ARG_DIFF_WEIGHTS_ITER, &d.iter, g->d_iter);
  arg(ctx, &a, DNNL_ARG_DIFF_BIAS, &d.bias, g->d_bias);
  if (s->cell == RNN_LSTM) {
    arg(ctx, &a, DNNL_ARG_DIFF_DST_ITER_C, &d.state, g->d_c_last);
    arg(ctx, &a, DNNL_ARG_DIFF_SRC_ITER_C, &d.state, g->d_c0);
  }
  return execute(ctx, e->bwd, &a);
}

typedef struct {
  const rnn_shape *s;
  const rnn_weights *w;
  const rnn_io *io;
  void *workspace;
  const rnn_grads *g;
} layer_job;

static int forward_job(rnn_ctx *ctx, const void *args) {
  const layer_job *j = args;
  return forward_here(ctx, j->s, j->w, j->io, j->workspace);
}

static int backward_job(rnn_ctx *ctx, const void *args) {
  const layer_job *j = args;
  return backward_here(ctx, j->s, j->w, j->io, j->workspace, j->g);
}

int rnn_run(rnn_ctx *ctx, const rnn_shape *s, int wide, int (*fn)(rnn_ctx *, const void *), const void *args) {
  return layer_macs(s) >= OFFLOAD_MACS ? offload(ctx, fn, args, wide || s->batch >= NARROW_BATCH ? 0 : 1)
                                       : fn(ctx, args);
}

int rnn_forward(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io, void *workspace) {
  layer_job j = {s, w, io, workspace, NULL};
  return rnn_run(ctx, s, 0, forward_job, &j);
}

int rnn_backward(rnn_ctx *ctx, const rnn_shape *s, const rnn_weights *w, const rnn_io *io, void *workspace,
                 const rnn_grads *g) {
  layer_job j = {s, w, io, workspace, g};
  return rnn_run(ctx, s, 0, backward_job, &j);
}

float *rnn_scratch(rnn_ctx *ctx, size_t floats) {
  if (floats > ctx->scratch_floats) {
    free(ctx->scratch);
    /* 64-byte aligned, in whole cache lines, for the vector loads of fwd.c. */
    size_t bytes = (floats * sizeof(float) + 63) & ~(size_t)63;
    ctx->scratch = aligned_alloc(64, bytes);
    ctx->scratch_floats = ctx->scratch == NULL ? 0 : bytes / sizeof(float);
  }
  return ctx->scratch;
}

typedef struct {
  int trans_a, trans_b, m, n, k;
  const float *a, *b;
  float *c;
} sgemm_job;

static int sgemm_here(rnn_ctx *ctx, const void *args) {
  (void)ctx;
  const sgemm_job *j = args;
  dnnl_status_t st = dnnl_sgemm(j->trans_a ? 'T' : 'N', j->trans_b ? 'T' : 'N', j->m, j->n, j->k, 1.0f, j->a,
                                j->trans_a ? j->m : j->k, j->b, j->trans_b ? j->k : j->n, 0.0f, j->c, j->n);
  return st == dnnl_success ? 0 : -(int)st;
}

int rnn_sgemm(rnn_ctx *ctx, int trans_a, int trans_b, int m, int n, int k, const float *a, const float *b,
              float *c) {
  sgemm_job j = {trans_a, trans_b, m, n, k, a, b, c};
  return (long)m * n * k >= OFFLOAD_MACS ? offload(ctx, sgemm_here, &j, 0) : sgemm_here(ctx, &j);
}

/*
 * Calls below OFFLOAD_MACS run on the calling thread with one OpenMP thread: a batch-1 step is
 * too small to split (two threads made it slower), while every call big enough to gain from
 * more threads runs on the compute thread, with `threads`.
 */
void rnn_set_threads(rnn_ctx *ctx, int threads) {
  omp_set_num_threads(1);
  pthread_mutex_lock(&ctx->mu);
  ctx->threads = threads;
  pthread_mutex_unlock(&ctx->mu);
}

int rnn_threads(rnn_ctx *ctx) { return ctx->threads; }

const char *rnn_library(void) {
  static char name[48];
  const dnnl_version_t *v = dnnl_version();
  snprintf(name, sizeof name, "oneDNN %d.%d.%d", v->major, v->minor, v->patch);
  return name;
}

const char *rnn_isa(void) {
  const char *isa = dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa());
  return strncmp(isa, "cpu_isa_", 8) == 0 ? isa + 8 : isa;
}

const char *rnn_status_str(int status) {
  if (status == RNN_ERR_NO_MEMORY) return "out of memory";
  return dnnl_status2str((dnnl_status_t)(-status));
}
