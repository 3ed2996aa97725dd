// oneDNN's LSTM primitive for one layer (input size = hidden size), f32, T steps of batch B:
// forward inference, and forward training + backward (the workspace kept between them), with
// the threads OMP_NUM_THREADS gives it. It times the primitive; the data is arbitrary and the
// results are not checked. Prints one JSON line.
// Build: cc -O2 lstm.c -ldnnl -o lstm; run: OMP_NUM_THREADS=2 ./lstm T B H REPS
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHECK(f)                                                           \
  do {                                                                     \
    dnnl_status_t s_ = (f);                                                \
    if (s_ != dnnl_success) {                                              \
      fprintf(stderr, "%s:%d %s -> %s\n", __FILE__, __LINE__, #f,         \
              dnnl_status2str(s_));                                        \
      exit(1);                                                             \
    }                                                                      \
  } while (0)

static dnnl_engine_t engine;
static dnnl_stream_t stream;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void desc(dnnl_memory_desc_t *d, int ndims, const dnnl_dims_t dims, dnnl_format_tag_t tag) {
  CHECK(dnnl_memory_desc_init_by_tag(d, ndims, dims, dnnl_f32, tag));
}

/** A memory of that description, filled with small arbitrary values. */
static dnnl_memory_t memory(const dnnl_memory_desc_t *d) {
  dnnl_memory_t m;
  CHECK(dnnl_memory_create(&m, d, engine, DNNL_MEMORY_ALLOCATE));
  float *p;
  CHECK(dnnl_memory_get_data_handle(m, (void **)&p));
  const size_t n = dnnl_memory_desc_get_size(d) / sizeof(float);
  for (size_t i = 0; i < n; i++) p[i] = ((i * 2654435761u) % 1000) * 1e-4f - 0.05f;
  return m;
}

static const dnnl_memory_desc_t *query(const_dnnl_primitive_desc_t pd, dnnl_query_t what, int index) {
  return dnnl_primitive_desc_query_md(pd, what, index);
}

/*
 * Weights in the layout the primitive asked for, made by a reorder from plain ldigo ones.
 * Filling the primitive's own layout directly is wrong for inference: there oneDNN picks its
 * packed-GEMM format (rnn_packed), whose buffer holds the packing's own bookkeeping, and
 * arbitrary floats in it made the forward pass skip most of its work (on an AVX2 EPYC: 0.002
 * ms for a B32 T1 step, 150 GFLOP/s against a 72 GFLOP/s FMA peak at T64).
 */
static dnnl_memory_t weights(const dnnl_memory_desc_t *want, int rows, int h) {
  dnnl_memory_desc_t plain;
  desc(&plain, 5, (dnnl_dims_t){1, 1, rows, 4, h}, dnnl_ldigo);
  const dnnl_memory_t from = memory(&plain);
  dnnl_memory_t to;
  CHECK(dnnl_memory_create(&to, want, engine, DNNL_MEMORY_ALLOCATE));
  dnnl_primitive_desc_t pd;
  dnnl_primitive_t reorder;
  CHECK(dnnl_reorder_primitive_desc_create(&pd, &plain, engine, want, engine, NULL));
  CHECK(dnnl_primitive_create(&reorder, pd));
  dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  CHECK(dnnl_primitive_execute(reorder, stream, 2, args));
  CHECK(dnnl_stream_wait(stream));
  return to;
}

/** The shapes of one layer: data in tnc, states in ldnc, weights in any layout oneDNN picks. */
struct layer {
  dnnl_memory_desc_t src, src_iter, src_iter_c, weights, weights_iter, bias, dst, dst_iter, dst_iter_c;
};

static struct layer layer_descs(int t, int b, int h) {
  struct layer l;
  const int i = h;
  desc(&l.src, 3, (dnnl_dims_t){t, b, i}, dnnl_tnc);
  desc(&l.dst, 3, (dnnl_dims_t){t, b, h}, dnnl_tnc);
  desc(&l.src_iter, 4, (dnnl_dims_t){1, 1, b, h}, dnnl_ldnc);
  desc(&l.src_iter_c, 4, (dnnl_dims_t){1, 1, b, h}, dnnl_ldnc);
  desc(&l.dst_iter, 4, (dnnl_dims_t){1, 1, b, h}, dnnl_ldnc);
  desc(&l.dst_iter_c, 4, (dnnl_dims_t){1, 1, b, h}, dnnl_ldnc);
  desc(&l.bias, 4, (dnnl_dims_t){1, 1, 4, h}, dnnl_ldgo);
  desc(&l.weights, 5, (dnnl_dims_t){1, 1, i, 4, h}, dnnl_format_tag_any);
  desc(&l.weights_iter, 5, (dnnl_dims_t){1, 1, h, 4, h}, dnnl_format_tag_any);
  return l;
}

/** One primitive with its arguments, ready to execute. */
struct run {
  dnnl_primitive_t primitive;
  dnnl_exec_arg_t args[24];
  int nargs;
};

static void arg(struct run *r, int what, dnnl_memory_t m) {
  r->args[r->nargs++] = (dnnl_exec_arg_t){what, m};
}

static void execute(const struct run *r) {
  CHECK(dnnl_primitive_execute(r->primitive, stream, r->nargs, r->args));
}

/** The forward primitive; with `training`, its workspace in `*workspace` for the backward. */
static struct run forward(struct layer *l, int training, dnnl_primitive_desc_t *pd_out,
                          dnnl_memory_t *workspace) {
  dnnl_rnn_desc_t d;
  CHECK(dnnl_lstm_forward_desc_init(&d, training ? dnnl_forward_training : dnnl_forward_inference,
                                    dnnl_unidirectional_left2right, &l->src, &l->src_iter,
                                    &l->src_iter_c, &l->weights, &l->weights_iter, &l->bias,
                                    &l->dst, &l->dst_iter, &l->dst_iter_c, 0));
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, engine, NULL));
  struct run r = {0};
  CHECK(dnnl_primitive_create(&r.primitive, pd));
  arg(&r, DNNL_ARG_SRC_LAYER, memory(&l->src));
  arg(&r, DNNL_ARG_SRC_ITER, memory(&l->src_iter));
  arg(&r, DNNL_ARG_SRC_ITER_C, memory(&l->src_iter_c));
  arg(&r, DNNL_ARG_WEIGHTS_LAYER, weights(query(pd, dnnl_query_weights_md, 0), (int)l->src.dims[2], (int)l->dst.dims[2]));
  arg(&r, DNNL_ARG_WEIGHTS_ITER, weights(query(pd, dnnl_query_weights_md, 1), (int)l->dst.dims[2], (int)l->dst.dims[2]));
  arg(&r, DNNL_ARG_BIAS, memory(&l->bias));
  arg(&r, DNNL_ARG_DST_LAYER, memory(&l->dst));
  arg(&r, DNNL_ARG_DST_ITER, memory(&l->dst_iter));
  arg(&r, DNNL_ARG_DST_ITER_C, memory(&l->dst_iter_c));
  arg(&r, DNNL_ARG_SCRATCHPAD, memory(query(pd, dnnl_query_scratchpad_md, 0)));
  if (training) {
    *workspace = memory(query(pd, dnnl_query_workspace_md, 0));
    arg(&r, DNNL_ARG_WORKSPACE, *workspace);
  }
  *pd_out = pd;
  return r;
}

/** The backward primitive of a training forward, reusing its data and workspace. */
static struct run backward(struct layer *l, const_dnnl_primitive_desc_t fwd_pd, const struct run *fwd,
                           dnnl_memory_t workspace) {
  dnnl_rnn_desc_t d;
  CHECK(dnnl_lstm_backward_desc_init(
      &d, dnnl_backward, dnnl_unidirectional_left2right, &l->src, &l->src_iter, &l->src_iter_c,
      &l->weights, &l->weights_iter, &l->bias, &l->dst, &l->dst_iter, &l->dst_iter_c, &l->src,
      &l->src_iter, &l->src_iter_c, &l->weights, &l->weights_iter, &l->bias, &l->dst,
      &l->dst_iter, &l->dst_iter_c, 0));
  dnnl_primitive_desc_t pd;
  CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, engine, fwd_pd));
  struct run r = {0};
  CHECK(dnnl_primitive_create(&r.primitive, pd));
  // The forward's data, states and bias; weights in the backward's own layout.
  for (int i = 0; i < fwd->nargs; i++) {
    const int what = fwd->args[i].arg;
    if (what == DNNL_ARG_WEIGHTS_LAYER || what == DNNL_ARG_WEIGHTS_ITER || what == DNNL_ARG_SCRATCHPAD ||
        what == DNNL_ARG_WORKSPACE)
      continue;
    arg(&r, what, fwd->args[i].memory);
  }
  arg(&r, DNNL_ARG_WEIGHTS_LAYER, weights(query(pd, dnnl_query_weights_md, 0), (int)l->src.dims[2], (int)l->dst.dims[2]));
  arg(&r, DNNL_ARG_WEIGHTS_ITER, weights(query(pd, dnnl_query_weights_md, 1), (int)l->dst.dims[2], (int)l->dst.dims[2]));
  arg(&r, DNNL_ARG_WORKSPACE, workspace);
  arg(&r, DNNL_ARG_DIFF_SRC_LAYER, memory(&l->src));
  arg(&r, DNNL_ARG_DIFF_SRC_ITER, memory(&l->src_iter));
  arg(&r, DNNL_ARG_DIFF_SRC_ITER_C, memory(&l->src_iter_c));
  arg(&r, DNNL_ARG_DIFF_WEIGHTS_LAYER, memory(query(pd, dnnl_query_diff_weights_md, 0)));
  arg(&r, DNNL_ARG_DIFF_WEIGHTS_ITER, memory(query(pd, dnnl_query_diff_weights_md, 1)));
  arg(&r, DNNL_ARG_DIFF_BIAS, memory(&l->bias));
  arg(&r, DNNL_ARG_DIFF_DST_LAYER, memory(&l->dst));
  arg(&r, DNNL_ARG_DIFF_DST_ITER, memory(&l->dst_iter));
  arg(&r, DNNL_ARG_DIFF_DST_ITER_C, memory(&l->dst_iter_c));
  arg(&r, DNNL_ARG_SCRATCHPAD, memory(query(pd, dnnl_query_scratchpad_md, 0)));
  return r;
}

/** Seconds per pass (forward, then backward when given): the best of three batches of `reps`. */
static double seconds_per_pass(const struct run *fwd, const struct run *bwd, int reps) {
  for (int w = 0; w < 3; w++) {
    execute(fwd);
    if (bwd) execute(bwd);
  }
  CHECK(dnnl_stream_wait(stream));
  double best = 1e30;
  for (int round = 0; round < 3; round++) {
    const double t = now();
    for (int i = 0; i < reps; i++) {
      execute(fwd);
      if (bwd) execute(bwd);
    }
    CHECK(dnnl_stream_wait(stream));
    const double per = (now() - t) / reps;
    if (per < best) best = per;
  }
  return best;
}

static void print_pass(const char *name, double seconds, int t, int b, double flops) {
  printf("\"%s\":{\"ms\":%.4f,\"tokPerSec\":%.1f,\"gflops\":%.2f}", name, seconds * 1e3, t * b / seconds,
         flops / seconds / 1e9);
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: lstm T B H REPS\n");
    return 2;
  }
  const int t = atoi(argv[1]), b = atoi(argv[2]), h = atoi(argv[3]), reps = atoi(argv[4]);
  CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
  struct layer l = layer_descs(t, b, h);
  // Textbook multiply-adds of the forward pass, 2 FLOPs each; the backward counts twice that.
  const double flops = 2.0 * 4 * h * (h + h) * (double)t * b;
  dnnl_primitive_desc_t pd;
  dnnl_memory_t workspace = NULL;
  const struct run inference = forward(&l, 0, &pd, &workspace);
  const double fwd = seconds_per_pass(&inference, NULL, reps);
  const struct run training = forward(&l, 1, &pd, &workspace);
  const struct run grad = backward(&l, pd, &training, workspace);
  const double train = seconds_per_pass(&training, &grad, reps);
  printf("{\"t\":%d,\"b\":%d,\"h\":%d,\"i\":%d,\"isa\":\"%s\",", t, b, h, h,
         dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
  print_pass("forward", fwd, t, b, flops);
  printf(",");
  print_pass("training", train, t, b, 3 * flops);
  printf("}\n");
  return 0;
}
