/*
 * N-API bindings of the oneDNN recurrent layers and sgemm. Every array is a Float32Array owned
 * by the caller; the functions check the lengths against the dimensions and write into the
 * output arrays, so no memory crosses the boundary by ownership. Each layer function takes one
 * options object, read through a table of its fields, so adding an array is one table row.
 * Each JavaScript thread (the main one, the inference worker) gets its own oneDNN stream and
 * primitive cache, kept as the environment's instance data and freed with it.
 */
#include <limits.h>
#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fwd.h"
#include "onednn.h"
#include "rows.h"
#include "update.h"

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, "RNNLM_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                        \
    }                                                                     \
  } while (0)

static bool get_int(napi_env env, napi_value v, const char *name, int *out) {
  int32_t n;
  if (napi_get_value_int32(env, v, &n) != napi_ok || n <= 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a positive integer", name);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  *out = n;
  return true;
}

/* A Float32Array of exactly `length` elements (or null/undefined when `nullable`, giving NULL). */
static bool get_floats(napi_env env, napi_value v, const char *name, size_t length, bool nullable,
                       float **out) {
  napi_valuetype type;
  if (nullable && napi_typeof(env, v, &type) == napi_ok && (type == napi_null || type == napi_undefined)) {
    *out = NULL;
    return true;
  }
  bool is_typed = false;
  napi_typedarray_type kind;
  size_t n = 0;
  void *data = NULL;
  char msg[128];
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &kind, &n, &data, NULL, NULL) != napi_ok ||
      kind != napi_float32_array) {
    snprintf(msg, sizeof msg, "%s must be a Float32Array", name);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  if (n != length) {
    snprintf(msg, sizeof msg, "%s has %zu elements, expected %zu", name, n, length);
    napi_throw_range_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  *out = data;
  return true;
}

static rnn_ctx *context(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok || data == NULL) {
    napi_throw_error(env, "RNNLM_NATIVE_NO_MEMORY", "oneDNN could not be initialised");
    return NULL;
  }
  return data;
}

static void throw_status(napi_env env, const char *fn, int status) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: oneDNN failed (%s)", fn, rnn_status_str(status));
  napi_throw_error(env, status == RNN_ERR_NO_MEMORY ? "RNNLM_NATIVE_NO_MEMORY" : "RNNLM_NATIVE", msg);
}

/* Every array a layer function takes; a function's table says which it reads. */
typedef struct {
  rnn_shape s;
  rnn_weights w;
  rnn_io io;
  rnn_grads g;
  float *workspace;
  const fwd_packed *packed;
} layer_args;

/*
 * An array's length as a product of the dimensions (G = gates times H; G' counts lbr_gru's
 * extra bias block; C: B*H for LSTM's cell state, nothing for the other cells; WS: the
 * workspace of the shape's training primitives, in floats).
 */
/* The products of dimensions come first: extents() checks those for overflow. */
typedef enum { ROWS_X_IN, ROWS_X_H, IN_X_G, H_X_G, STATE, BIAS, CELL_STATE, WS, EXTENTS } extent;

typedef struct {
  const char *name;
  size_t offset;
  extent length;
  bool nullable;
} field;

typedef struct {
  const char *name;
  const field *fields;
  size_t count;
  bool training;
  int (*run)(rnn_ctx *ctx, layer_args *a);
  /* Whether it takes `packed`, an rnnPack result, for its weights. */
  bool packed;
} layer_fn;

static void free_packed(napi_env env, void *data, void *hint) {
  (void)hint;
  int64_t unused;
  napi_adjust_external_memory(env, -(int64_t)fwd_bytes(data), &unused);
  fwd_free(data);
}

/* The fwd_packed an rnnPack call returned, or NULL after throwing. */
static const fwd_packed *get_packed(napi_env env, napi_value options, const rnn_shape *s) {
  napi_value v;
  napi_valuetype type;
  void *data = NULL;
  if (napi_get_named_property(env, options, "packed", &v) != napi_ok || napi_typeof(env, v, &type) != napi_ok ||
      type != napi_external || napi_get_value_external(env, v, &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "packed must be what rnnPack returned");
    return NULL;
  }
  if (!fwd_fits(data, s)) {
    napi_throw_range_error(env, "RNNLM_NATIVE", "packed was packed for another cell, input or hidden size");
    return NULL;
  }
  return data;
}

static bool get_cell(napi_env env, napi_value options, rnn_cell *cell) {
  napi_value v;
  char name[8] = {0};
  size_t n = 0;
  if (napi_get_named_property(env, options, "cell", &v) == napi_ok &&
      napi_get_value_string_utf8(env, v, name, sizeof name, &n) == napi_ok) {
    if (strcmp(name, "lstm") == 0) *cell = RNN_LSTM;
    else if (strcmp(name, "gru") == 0) *cell = RNN_GRU;
    else if (strcmp(name, "rnn") == 0) *cell = RNN_TANH;
    else n = 0;
  }
  if (n == 0) napi_throw_type_error(env, "RNNLM_NATIVE", "cell must be \"lstm\", \"gru\" or \"rnn\"");
  return n != 0;
}

/* The lengths of every extent, or false (with a RangeError thrown) when one would overflow. */
static bool extents(napi_env env, rnn_ctx *ctx, const char *fn, const rnn_shape *s, bool training,
                    size_t len[EXTENTS]) {
  size_t rows, g;
  bool over = __builtin_mul_overflow((size_t)s->steps, (size_t)s->batch, &rows) ||
              __builtin_mul_overflow((size_t)rnn_gates(s->cell), (size_t)s->hidden, &g);
  /* oneDNN takes int64 dimensions, sgemm int ones: keep every extent within int. */
  over = over || rows > INT_MAX || g > INT_MAX;
  over = over || __builtin_mul_overflow(rows, (size_t)s->input, &len[ROWS_X_IN]) ||
         __builtin_mul_overflow(rows, (size_t)s->hidden, &len[ROWS_X_H]) ||
         __builtin_mul_overflow((size_t)s->input, g, &len[IN_X_G]) ||
         __builtin_mul_overflow((size_t)s->hidden, g, &len[H_X_G]) ||
         __builtin_mul_overflow((size_t)s->batch, (size_t)s->hidden, &len[STATE]);
  for (int e = 0; !over && e <= STATE; e++) over = len[e] > SIZE_MAX / sizeof(float);
  if (over) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: steps %d, batch %d, input %d, hidden %d give arrays too large to address", fn,
             s->steps, s->batch, s->input, s->hidden);
    napi_throw_range_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  len[BIAS] = (size_t)rnn_bias_gates(s->cell) * (size_t)s->hidden;
  len[CELL_STATE] = s->cell == RNN_LSTM ? len[STATE] : 0;
  len[WS] = 0;
  if (training) {
    size_t bytes = 0;
    int status = rnn_workspace_bytes(ctx, s, &bytes);
    if (status != 0) {
      throw_status(env, fn, status);
      return false;
    }
    len[WS] = (bytes + sizeof(float) - 1) / sizeof(float);
  }
  return true;
}

/* Reads the cell and the dimensions of an options object. */
static bool read_shape(napi_env env, napi_value options, const char *fn, rnn_shape *s) {
  napi_valuetype type;
  if (napi_typeof(env, options, &type) != napi_ok || type != napi_object) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s takes one options object", fn);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  if (!get_cell(env, options, &s->cell)) return false;
  static const char *const dims[] = {"steps", "batch", "input", "hidden"};
  int *dim_out[] = {&s->steps, &s->batch, &s->input, &s->hidden};
  for (int i = 0; i < 4; i++) {
    napi_value v;
    if (napi_get_named_property(env, options, dims[i], &v) != napi_ok || !get_int(env, v, dims[i], dim_out[i]))
      return false;
  }
  return true;
}

/* fn(options): reads the dimensions and every array of fn's table from one options object. */
static napi_value call_layer(napi_env env, napi_callback_info info, const layer_fn *fn) {
  size_t argc = 1;
  napi_value options;
  CHECK(napi_get_cb_info(env, info, &argc, &options, NULL, NULL));
  rnn_ctx *ctx = context(env);
  layer_args a;
  memset(&a, 0, sizeof a);
  if (ctx == NULL || argc != 1 || !read_shape(env, options, fn->name, &a.s)) {
    if (ctx != NULL && argc != 1) napi_throw_type_error(env, "RNNLM_NATIVE", "takes one options object");
    return NULL;
  }
  /* The forward pass is the training one when it is given a workspace. */
  bool training = fn->training;
  if (!training) {
    napi_value ws;
    napi_valuetype type;
    CHECK(napi_get_named_property(env, options, "workspace", &ws));
    CHECK(napi_typeof(env, ws, &type));
    training = type != napi_undefined && type != napi_null;
  }
  size_t len[EXTENTS];
  if (!extents(env, ctx, fn->name, &a.s, training, len)) return NULL;
  if (fn->packed && (a.packed = get_packed(env, options, &a.s)) == NULL) return NULL;
  for (size_t i = 0; i < fn->count; i++) {
    const field *f = &fn->fields[i];
    napi_value v;
    CHECK(napi_get_named_property(env, options, f->name, &v));
    bool nullable = f->nullable || len[f->length] == 0;
    if (!get_floats(env, v, f->name, len[f->length], nullable, (float **)((char *)&a + f->offset))) return NULL;
  }
  int status = fn->run(ctx, &a);
  if (status != 0) throw_status(env, fn->name, status);
  return NULL;
}

#define F(js, member, extent) {js, offsetof(layer_args, member), extent, false}
#define F_NULLABLE(js, member, extent) {js, offsetof(layer_args, member), extent, true}
#define COUNT(table) (sizeof table / sizeof table[0])

static int run_forward(rnn_ctx *ctx, layer_args *a) { return rnn_forward(ctx, &a->s, &a->w, &a->io, a->workspace); }
static int run_backward(rnn_ctx *ctx, layer_args *a) {
  return rnn_backward(ctx, &a->s, &a->w, &a->io, a->workspace, &a->g);
}
static int run_infer(rnn_ctx *ctx, layer_args *a) { return fwd_run(ctx, &a->s, a->packed, &a->io); }

#define IO_FIELDS                                                                                          \
  F("x", io.x, ROWS_X_IN), F("h0", io.h0, STATE), F("c0", io.c0, CELL_STATE), F("out", io.out, ROWS_X_H), \
      F("hLast", io.h_last, STATE), F("cLast", io.c_last, CELL_STATE)
#define FORWARD_FIELDS \
  IO_FIELDS, F("weightsLayer", w.layer, IN_X_G), F("weightsIter", w.iter, H_X_G), F("bias", w.bias, BIAS)

static const field FORWARD[] = {FORWARD_FIELDS, F_NULLABLE("workspace", workspace, WS)};
static const field INFER[] = {IO_FIELDS};
static const field BACKWARD[] = {
    FORWARD_FIELDS,
    F("workspace", workspace, WS),
    F("dOut", g.d_out, ROWS_X_H),
    F("dHLast", g.d_h_last, STATE),
    F("dCLast", g.d_c_last, CELL_STATE),
    F("dX", g.d_x, ROWS_X_IN),
    F("dH0", g.d_h0, STATE),
    F("dC0", g.d_c0, CELL_STATE),
    F("dWeightsLayer", g.d_layer, IN_X_G),
    F("dWeightsIter", g.d_iter, H_X_G),
    F("dBias", g.d_bias, BIAS),
};

static const layer_fn LAYER_FNS[] = {
    {"rnnForward", FORWARD, COUNT(FORWARD), false, run_forward, false},
    {"rnnBackward", BACKWARD, COUNT(BACKWARD), true, run_backward, false},
    {"rnnInfer", INFER, COUNT(INFER), false, run_infer, true},
};

/* The table entry travels as the callback's data pointer. */
static napi_value layer_js(napi_env env, napi_callback_info info) {
  void *fn;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, NULL, &fn));
  return call_layer(env, info, (const layer_fn *)fn);
}

/*
 * rnnPack({cell, input, hidden, weightsLayer, weightsIter, bias}): the weights packed for
 * rnnInfer (fwd.h), as an external value whose memory the garbage collector frees.
 */
static napi_value pack_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value options, result;
  CHECK(napi_get_cb_info(env, info, &argc, &options, NULL, NULL));
  rnn_shape s = {RNN_LSTM, 1, 1, 0, 0};
  napi_valuetype type;
  if (argc != 1 || napi_typeof(env, options, &type) != napi_ok || type != napi_object) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "rnnPack takes one options object");
    return NULL;
  }
  if (!get_cell(env, options, &s.cell)) return NULL;
  static const char *const dims[] = {"input", "hidden"};
  int *dim_out[] = {&s.input, &s.hidden};
  for (int i = 0; i < 2; i++) {
    napi_value v;
    if (napi_get_named_property(env, options, dims[i], &v) != napi_ok || !get_int(env, v, dims[i], dim_out[i]))
      return NULL;
  }
  rnn_ctx *ctx = context(env);
  size_t len[EXTENTS];
  if (ctx == NULL || !extents(env, ctx, "rnnPack", &s, false, len)) return NULL;
  static const field WEIGHTS[] = {F("weightsLayer", w.layer, IN_X_G), F("weightsIter", w.iter, H_X_G),
                                  F("bias", w.bias, BIAS)};
  layer_args a;
  memset(&a, 0, sizeof a);
  for (size_t i = 0; i < COUNT(WEIGHTS); i++) {
    napi_value v;
    CHECK(napi_get_named_property(env, options, WEIGHTS[i].name, &v));
    if (!get_floats(env, v, WEIGHTS[i].name, len[WEIGHTS[i].length], false,
                    (float **)((char *)&a + WEIGHTS[i].offset)))
      return NULL;
  }
  fwd_packed *p = fwd_pack(s.cell, s.input, s.hidden, &a.w);
  if (p == NULL) {
    napi_throw_error(env, "RNNLM_NATIVE_NO_MEMORY", "rnnPack: out of memory");
    return NULL;
  }
  if (napi_create_external(env, p, free_packed, NULL, &result) != napi_ok) {
    fwd_free(p);
    napi_throw_error(env, "RNNLM_NATIVE", "rnnPack: N-API call failed");
    return NULL;
  }
  int64_t unused;
  CHECK(napi_adjust_external_memory(env, (int64_t)fwd_bytes(p), &unused));
  return result;
}

/* rnnWorkspaceSize({cell, steps, batch, input, hidden}): the training workspace, in floats. */
static napi_value workspace_size_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value options, result;
  CHECK(napi_get_cb_info(env, info, &argc, &options, NULL, NULL));
  rnn_ctx *ctx = context(env);
  rnn_shape s;
  size_t len[EXTENTS];
  if (ctx == NULL || !read_shape(env, options, "rnnWorkspaceSize", &s) ||
      !extents(env, ctx, "rnnWorkspaceSize", &s, true, len))
    return NULL;
  CHECK(napi_create_double(env, (double)len[WS], &result));
  return result;
}

/*
 * sgemm(transA, transB, M, N, K, a, b, c): c [M, N] = op(a) · op(b), row-major, where op(a) is
 * [M, K] (a stored [K, M] when transposed) and op(b) is [K, N].
 */
static napi_value sgemm_js(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 8) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "sgemm takes 8 arguments");
    return NULL;
  }
  bool trans_a, trans_b;
  int m, n, k;
  if (napi_get_value_bool(env, argv[0], &trans_a) != napi_ok ||
      napi_get_value_bool(env, argv[1], &trans_b) != napi_ok) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "transA and transB must be booleans");
    return NULL;
  }
  if (!get_int(env, argv[2], "M", &m) || !get_int(env, argv[3], "N", &n) || !get_int(env, argv[4], "K", &k))
    return NULL;
  size_t mk, kn, mn;
  if (__builtin_mul_overflow((size_t)m, (size_t)k, &mk) || __builtin_mul_overflow((size_t)k, (size_t)n, &kn) ||
      __builtin_mul_overflow((size_t)m, (size_t)n, &mn)) {
    napi_throw_range_error(env, "RNNLM_NATIVE", "sgemm: M, N and K give arrays too large to address");
    return NULL;
  }
  float *a, *b, *c;
  if (!get_floats(env, argv[5], "a", mk, false, &a) || !get_floats(env, argv[6], "b", kn, false, &b) ||
      !get_floats(env, argv[7], "c", mn, false, &c))
    return NULL;
  rnn_ctx *ctx = context(env);
  if (ctx == NULL) return NULL;
  int status = rnn_sgemm(ctx, trans_a, trans_b, m, n, k, a, b, c);
  if (status != 0) throw_status(env, "sgemm", status);
  return NULL;
}

/* The length of a Float32Array, or false after throwing. */
static bool float_length(napi_env env, napi_value v, const char *name, size_t *n) {
  bool is_typed = false;
  napi_typedarray_type kind;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &kind, n, NULL, NULL, NULL) != napi_ok || kind != napi_float32_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be a Float32Array", name);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  return true;
}

/*
 * update(kind, w, g, m, v, out, scale, hyper): one optimizer step over equal-length arrays
 * (update.h); kind 0 SGD, 1 Adam, 2 RMSprop; m and v may be null where the rule has no such
 * moment; hyper a Float64Array of the rule's hyper-parameters.
 */
static napi_value update_js(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t kind;
  double scale;
  size_t n, hn = 0;
  if (argc != 8 || napi_get_value_int32(env, argv[0], &kind) != napi_ok || kind < 0 || kind > 2 ||
      napi_get_value_double(env, argv[6], &scale) != napi_ok) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "update takes (kind 0-2, w, g, m, v, out, scale, hyper)");
    return NULL;
  }
  if (!float_length(env, argv[1], "w", &n)) return NULL;
  float *w, *g, *m, *v, *out;
  if (!get_floats(env, argv[1], "w", n, false, &w) || !get_floats(env, argv[2], "g", n, false, &g) ||
      !get_floats(env, argv[3], "m", n, kind != UPDATE_ADAM, &m) ||
      !get_floats(env, argv[4], "v", n, kind == UPDATE_SGD, &v) || !get_floats(env, argv[5], "out", n, false, &out))
    return NULL;
  bool is_typed = false;
  napi_typedarray_type hkind;
  void *hdata = NULL;
  if (napi_is_typedarray(env, argv[7], &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, argv[7], &hkind, &hn, &hdata, NULL, NULL) != napi_ok ||
      hkind != napi_float64_array || hn < 6) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "hyper must be a Float64Array of 6 values");
    return NULL;
  }
  update_step((update_kind)kind, n, w, g, m, v, out, (float)scale, hdata);
  return NULL;
}

/* An Int32Array's data and length, or false after throwing. */
static bool get_ints(napi_env env, napi_value v, const char *name, int32_t **out, size_t *n) {
  bool is_typed = false;
  napi_typedarray_type kind;
  void *data = NULL;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed ||
      napi_get_typedarray_info(env, v, &kind, n, &data, NULL, NULL) != napi_ok || kind != napi_int32_array) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s must be an Int32Array", name);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  *out = data;
  return true;
}

/* The rows, ids and width of a gather or scatter: argv = (dense [n, dim], ids [n], table [rows, dim], dim). */
static bool row_args(napi_env env, napi_value *argv, float **dense, int32_t **ids, size_t *n, float **table,
                     size_t *rows, int *dim) {
  size_t dense_len, table_len;
  if (!get_int(env, argv[3], "dim", dim) || !get_ints(env, argv[1], "ids", ids, n) ||
      !float_length(env, argv[0], "rows", &dense_len) || !float_length(env, argv[2], "table", &table_len))
    return false;
  if (dense_len != *n * (size_t)*dim || table_len % (size_t)*dim != 0) {
    napi_throw_range_error(env, "RNNLM_NATIVE", "rows must be [ids.length, dim] and table [rows, dim]");
    return false;
  }
  *rows = table_len / (size_t)*dim;
  return get_floats(env, argv[0], "rows", dense_len, false, dense) &&
         get_floats(env, argv[2], "table", table_len, false, table);
}

/* A row operation between a dense [n, dim] array and a table [rows, dim] at n ids. */
typedef struct {
  const char *name;
  int (*run)(size_t n, size_t dim, size_t rows, float *dense, const int32_t *ids, float *table);
} row_op;

static int gather(size_t n, size_t dim, size_t rows, float *out, const int32_t *ids, float *table) {
  return rows_gather(n, dim, rows, table, ids, out);
}

static int scatter_add(size_t n, size_t dim, size_t rows, float *src, const int32_t *ids, float *table) {
  return rows_scatter_add(n, dim, rows, src, ids, table);
}

/* gatherRows(out, ids, table, dim): out[r] = table[ids[r]]; scatterAddRows(src, ids, table, dim): table[ids[r]] += src[r]. */
static const row_op ROW_OPS[] = {{"gatherRows", gather}, {"scatterAddRows", scatter_add}};

static napi_value row_op_js(napi_env env, napi_callback_info info) {
  size_t argc = 4, n, rows;
  napi_value argv[4];
  void *data;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, &data));
  const row_op *op = data;
  float *dense, *table;
  int32_t *ids;
  int dim;
  if (argc != 4 || !row_args(env, argv, &dense, &ids, &n, &table, &rows, &dim)) return NULL;
  if (!op->run(n, (size_t)dim, rows, dense, ids, table)) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s: an id is outside the table", op->name);
    napi_throw_range_error(env, "RNNLM_NATIVE", msg);
  }
  return NULL;
}

/* softmaxXent(logits [n, v], bias [v], targets [n], dBias [v]) -> mean NLL (rows.h). */
static napi_value softmax_xent_js(napi_env env, napi_callback_info info) {
  size_t argc = 4, n, len;
  napi_value argv[4], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *logits, *bias, *d_bias;
  int32_t *targets;
  if (argc != 4 || !get_ints(env, argv[2], "targets", &targets, &n) || !float_length(env, argv[1], "bias", &len))
    return NULL;
  if (n == 0 || len == 0) {
    napi_throw_range_error(env, "RNNLM_NATIVE", "softmaxXent needs rows and a vocabulary");
    return NULL;
  }
  if (!get_floats(env, argv[0], "logits", n * len, false, &logits) ||
      !get_floats(env, argv[1], "bias", len, false, &bias) || !get_floats(env, argv[3], "dBias", len, false, &d_bias))
    return NULL;
  CHECK(napi_create_double(env, rows_softmax_xent(n, len, logits, bias, targets, d_bias), &result));
  return result;
}

/* nllRows(logits [n, v], targets [n], out [n]): each row's NLL of its target (rows.h). */
static napi_value nll_rows_js(napi_env env, napi_callback_info info) {
  size_t argc = 3, n, len;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *logits, *out;
  int32_t *targets;
  if (argc != 3 || !get_ints(env, argv[1], "targets", &targets, &n) || !float_length(env, argv[0], "logits", &len))
    return NULL;
  if (n == 0 || len % n != 0) {
    napi_throw_range_error(env, "RNNLM_NATIVE", "nllRows: logits must be [targets.length, vocabulary]");
    return NULL;
  }
  if (!get_floats(env, argv[0], "logits", len, false, &logits) || !get_floats(env, argv[2], "out", n, false, &out))
    return NULL;
  rows_nll(n, len / n, logits, targets, out);
  return NULL;
}

/* dropout(x, mask, out, rate, seed): rows.h's inverted dropout; mask and out as long as x. */
static napi_value dropout_js(napi_env env, napi_callback_info info) {
  size_t argc = 5, n;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  double rate;
  uint32_t seed;
  float *x, *mask, *out;
  if (argc != 5 || napi_get_value_double(env, argv[3], &rate) != napi_ok || !(rate >= 0 && rate < 1) ||
      napi_get_value_uint32(env, argv[4], &seed) != napi_ok) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "dropout takes (x, mask, out, rate in [0, 1), seed)");
    return NULL;
  }
  if (!float_length(env, argv[0], "x", &n) || !get_floats(env, argv[0], "x", n, false, &x) ||
      !get_floats(env, argv[1], "mask", n, false, &mask) || !get_floats(env, argv[2], "out", n, false, &out))
    return NULL;
  rows_dropout(n, x, mask, out, rate, seed);
  return NULL;
}

/* multiply(a, b, out): out = a · b elementwise. */
static napi_value multiply_js(napi_env env, napi_callback_info info) {
  size_t argc = 3, n;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  float *a, *b, *out;
  if (argc != 3 || !float_length(env, argv[0], "a", &n) || !get_floats(env, argv[0], "a", n, false, &a) ||
      !get_floats(env, argv[1], "b", n, false, &b) || !get_floats(env, argv[2], "out", n, false, &out))
    return NULL;
  rows_multiply(n, a, b, out);
  return NULL;
}

/* sumSquares(x): Σ x² of a Float32Array, in double precision. */
static napi_value sum_squares_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  size_t n;
  float *x;
  if (argc != 1 || !float_length(env, argv[0], "x", &n) || !get_floats(env, argv[0], "x", n, false, &x)) return NULL;
  CHECK(napi_create_double(env, update_sum_squares(n, x), &result));
  return result;
}

/* setThreads(n): the OpenMP threads of this JavaScript thread's oneDNN calls. */
static napi_value set_threads_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int n;
  rnn_ctx *ctx = context(env);
  if (ctx == NULL || argc != 1 || !get_int(env, argv[0], "threads", &n)) return NULL;
  rnn_set_threads(ctx, n);
  return NULL;
}

/* info(): the library and version, the instruction set its kernels use here, and the threads. */
static napi_value info_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, library, isa, threads;
  rnn_ctx *ctx = context(env);
  if (ctx == NULL) return NULL;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, rnn_library(), NAPI_AUTO_LENGTH, &library));
  CHECK(napi_create_string_utf8(env, rnn_isa(), NAPI_AUTO_LENGTH, &isa));
  CHECK(napi_create_int32(env, rnn_threads(ctx), &threads));
  CHECK(napi_set_named_property(env, result, "library", library));
  CHECK(napi_set_named_property(env, result, "isa", isa));
  CHECK(napi_set_named_property(env, result, "threads", threads));
  return result;
}

static void free_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  rnn_ctx_free(data);
}

static napi_value init(napi_env env, napi_value exports) {
  /* A context that failed to initialise is reported by the first call that needs it. */
  rnn_ctx *ctx = rnn_ctx_create();
  if (ctx != NULL) CHECK(napi_set_instance_data(env, ctx, free_context, NULL));
  napi_property_descriptor props[COUNT(LAYER_FNS) + 13];
  for (size_t i = 0; i < COUNT(LAYER_FNS); i++) {
    props[i] = (napi_property_descriptor){
        LAYER_FNS[i].name, NULL, layer_js, NULL, NULL, NULL, napi_enumerable, (void *)&LAYER_FNS[i]};
  }
  size_t n = COUNT(LAYER_FNS);
  props[n++] = (napi_property_descriptor){
      "rnnWorkspaceSize", NULL, workspace_size_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"rnnPack", NULL, pack_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"sgemm", NULL, sgemm_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] =
      (napi_property_descriptor){"setThreads", NULL, set_threads_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"info", NULL, info_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"update", NULL, update_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] =
      (napi_property_descriptor){"sumSquares", NULL, sum_squares_js, NULL, NULL, NULL, napi_enumerable, NULL};
  for (size_t i = 0; i < COUNT(ROW_OPS); i++)
    props[n++] = (napi_property_descriptor){
        ROW_OPS[i].name, NULL, row_op_js, NULL, NULL, NULL, napi_enumerable, (void *)&ROW_OPS[i]};
  props[n++] =
      (napi_property_descriptor){"softmaxXent", NULL, softmax_xent_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"nllRows", NULL, nll_rows_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"dropout", NULL, dropout_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[n++] = (napi_property_descriptor){"multiply", NULL, multiply_js, NULL, NULL, NULL, napi_enumerable, NULL};
  CHECK(napi_define_properties(env, exports, n, props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
