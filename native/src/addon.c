/*
 * N-API bindings of the fused recurrent kernels. Every array is a Float32Array owned by the
 * caller; the functions check the lengths against the dimensions and write into the output
 * arrays, so no memory crosses the boundary by ownership. Each layer function takes one options
 * object, read through a table of its fields (LAYER_FNS), so adding an array is one table row.
 */
#include <cblas.h>
#include <node_api.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "parallel.h"
#include "products.h"
#include "recurrent.h"

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

/* Every array any layer function takes; a function's table says which it reads. */
typedef struct {
  rnn_dims d;
  float *x, *kernel, *recurrent, *bias, *recurrent_bias, *h0, *c0, *out, *cells, *hn, *gates, *d_out,
      *d_cell_last, *scale, *d_x, *d_kernel, *d_recurrent, *d_bias, *d_recurrent_bias;
} layer_args;

/* An array's length as a product of the dimensions (G = gates per cell times H). */
typedef enum { ROWS_X_IN, ROWS_X_H, ROWS_X_G, IN_X_G, H_X_G, G_, H_, STATE, STEPS } extent;

typedef struct {
  const char *name;
  size_t offset;
  extent length;
  bool nullable;
} field;

typedef struct {
  const char *name;
  int gates;
  const field *fields;
  size_t count;
  /* Returns 0, or -1 when the kernel could not allocate its scratch memory. */
  int (*run)(const layer_args *a);
} layer_fn;

/* The lengths of every extent, or false (with a RangeError thrown) when one would overflow. */
static bool extents(napi_env env, const layer_fn *fn, const rnn_dims *d, size_t len[STEPS + 1]) {
  size_t rows, g;
  bool over = __builtin_mul_overflow((size_t)d->steps, (size_t)d->batch, &rows) ||
              __builtin_mul_overflow((size_t)fn->gates, (size_t)d->hidden, &g);
  /* sgemm takes int dimensions: T*B rows and G*H columns must fit. */
  over = over || rows > INT_MAX || g > INT_MAX;
  over = over || __builtin_mul_overflow(rows, (size_t)d->input, &len[ROWS_X_IN]) ||
         __builtin_mul_overflow(rows, (size_t)d->hidden, &len[ROWS_X_H]) ||
         __builtin_mul_overflow(rows, g, &len[ROWS_X_G]) ||
         __builtin_mul_overflow((size_t)d->input, g, &len[IN_X_G]) ||
         __builtin_mul_overflow((size_t)d->hidden, g, &len[H_X_G]) ||
         __builtin_mul_overflow((size_t)d->batch, (size_t)d->hidden, &len[STATE]);
  if (!over) {
    len[G_] = g;
    len[H_] = (size_t)d->hidden;
    len[STEPS] = (size_t)d->steps;
  }
  for (int e = 0; !over && e <= STEPS; e++) over = len[e] > SIZE_MAX / sizeof(float);
  if (over) {
    char msg[160];
    snprintf(msg, sizeof msg, "%s: steps %d, batch %d, input %d, hidden %d give arrays too large to address",
             fn->name, d->steps, d->batch, d->input, d->hidden);
    napi_throw_range_error(env, "RNNLM_NATIVE", msg);
    return false;
  }
  return true;
}

/* fn(options): reads the dimensions and every array of fn's table from one options object. */
static napi_value call_layer(napi_env env, napi_callback_info info, const layer_fn *fn) {
  size_t argc = 1;
  napi_value options;
  napi_valuetype type;
  CHECK(napi_get_cb_info(env, info, &argc, &options, NULL, NULL));
  if (argc != 1 || napi_typeof(env, options, &type) != napi_ok || type != napi_object) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s takes one options object", fn->name);
    napi_throw_type_error(env, "RNNLM_NATIVE", msg);
    return NULL;
  }
  layer_args a = {0};
  static const char *const dims[] = {"steps", "batch", "input", "hidden"};
  int *dim_out[] = {&a.d.steps, &a.d.batch, &a.d.input, &a.d.hidden};
  for (int i = 0; i < 4; i++) {
    napi_value v;
    CHECK(napi_get_named_property(env, options, dims[i], &v));
    if (!get_int(env, v, dims[i], dim_out[i])) return NULL;
  }
  size_t len[STEPS + 1];
  if (!extents(env, fn, &a.d, len)) return NULL;
  for (size_t i = 0; i < fn->count; i++) {
    const field *f = &fn->fields[i];
    napi_value v;
    CHECK(napi_get_named_property(env, options, f->name, &v));
    if (!get_floats(env, v, f->name, len[f->length], f->nullable, (float **)((char *)&a + f->offset)))
      return NULL;
  }
  if (fn->run(&a) != 0) {
    char msg[96];
    snprintf(msg, sizeof msg, "%s could not allocate its scratch memory", fn->name);
    napi_throw_error(env, "RNNLM_NATIVE_NO_MEMORY", msg);
  }
  return NULL;
}

#define F(js, member, extent) {js, offsetof(layer_args, member), extent, false}
#define F_NULLABLE(js, member, extent) {js, offsetof(layer_args, member), extent, true}
#define COUNT(table) (sizeof table / sizeof table[0])

static int run_lstm_forward(const layer_args *a) {
  lstm_forward(&a->d, a->x, a->kernel, a->recurrent, a->bias, a->h0, a->c0, a->out, a->cells, a->gates);
  return 0;
}
static int run_lstm_backward(const layer_args *a) {
  return lstm_backward(&a->d, a->x, a->kernel, a->recurrent, a->h0, a->c0, a->out, a->cells, a->gates,
                       a->d_out, a->d_cell_last, a->scale, a->d_x, a->d_kernel, a->d_recurrent, a->d_bias);
}
static int run_gru_forward(const layer_args *a) {
  return gru_forward(&a->d, a->x, a->kernel, a->recurrent, a->bias, a->recurrent_bias, a->h0, a->out, a->hn,
                     a->gates);
}
static int run_gru_backward(const layer_args *a) {
  return gru_backward(&a->d, a->x, a->kernel, a->recurrent, a->h0, a->out, a->hn, a->gates, a->d_out,
                      a->scale, a->d_x, a->d_kernel, a->d_recurrent, a->d_bias, a->d_recurrent_bias);
}
static int run_rnn_forward(const layer_args *a) {
  rnn_forward(&a->d, a->x, a->kernel, a->recurrent, a->bias, a->h0, a->out);
  return 0;
}
static int run_rnn_backward(const layer_args *a) {
  return rnn_backward(&a->d, a->x, a->kernel, a->recurrent, a->h0, a->out, a->d_out, a->scale, a->d_x,
                      a->d_kernel, a->d_recurrent, a->d_bias);
}

static const field LSTM_FORWARD[] = {
    F("x", x, ROWS_X_IN),         F("kernel", kernel, IN_X_G), F("recurrent", recurrent, H_X_G),
    F("bias", bias, G_),          F("h0", h0, STATE),          F("c0", c0, STATE),
    F("out", out, ROWS_X_H),      F("cells", cells, ROWS_X_H), F("gates", gates, ROWS_X_G),
};
static const field LSTM_BACKWARD[] = {
    F("x", x, ROWS_X_IN),
    F("kernel", kernel, IN_X_G),
    F("recurrent", recurrent, H_X_G),
    F("h0", h0, STATE),
    F("c0", c0, STATE),
    F("out", out, ROWS_X_H),
    F("cells", cells, ROWS_X_H),
    F("gates", gates, ROWS_X_G),
    F("dOut", d_out, ROWS_X_H),
    F("dCellLast", d_cell_last, STATE),
    F_NULLABLE("scale", scale, STEPS),
    F("dX", d_x, ROWS_X_IN),
    F("dKernel", d_kernel, IN_X_G),
    F("dRecurrent", d_recurrent, H_X_G),
    F("dBias", d_bias, G_),
};
static const field GRU_FORWARD[] = {
    F("x", x, ROWS_X_IN),    F("kernel", kernel, IN_X_G),           F("recurrent", recurrent, H_X_G),
    F("bias", bias, G_),     F("recurrentBias", recurrent_bias, H_), F("h0", h0, STATE),
    F("out", out, ROWS_X_H), F("hn", hn, ROWS_X_H),                  F("gates", gates, ROWS_X_G),
};
static const field GRU_BACKWARD[] = {
    F("x", x, ROWS_X_IN),
    F("kernel", kernel, IN_X_G),
    F("recurrent", recurrent, H_X_G),
    F("h0", h0, STATE),
    F("out", out, ROWS_X_H),
    F("hn", hn, ROWS_X_H),
    F("gates", gates, ROWS_X_G),
    F("dOut", d_out, ROWS_X_H),
    F_NULLABLE("scale", scale, STEPS),
    F("dX", d_x, ROWS_X_IN),
    F("dKernel", d_kernel, IN_X_G),
    F("dRecurrent", d_recurrent, H_X_G),
    F("dBias", d_bias, G_),
    F("dRecurrentBias", d_recurrent_bias, H_),
};
static const field RNN_FORWARD[] = {
    F("x", x, ROWS_X_IN), F("kernel", kernel, IN_X_G), F("recurrent", recurrent, H_X_G),
    F("bias", bias, G_),  F("h0", h0, STATE),          F("out", out, ROWS_X_H),
};
static const field RNN_BACKWARD[] = {
    F("x", x, ROWS_X_IN),
    F("kernel", kernel, IN_X_G),
    F("recurrent", recurrent, H_X_G),
    F("h0", h0, STATE),
    F("out", out, ROWS_X_H),
    F("dOut", d_out, ROWS_X_H),
    F_NULLABLE("scale", scale, STEPS),
    F("dX", d_x, ROWS_X_IN),
    F("dKernel", d_kernel, IN_X_G),
    F("dRecurrent", d_recurrent, H_X_G),
    F("dBias", d_bias, G_),
};

static const layer_fn LAYER_FNS[] = {
    {"lstmForward", 4, LSTM_FORWARD, COUNT(LSTM_FORWARD), run_lstm_forward},
    {"lstmBackward", 4, LSTM_BACKWARD, COUNT(LSTM_BACKWARD), run_lstm_backward},
    {"gruForward", 3, GRU_FORWARD, COUNT(GRU_FORWARD), run_gru_forward},
    {"gruBackward", 3, GRU_BACKWARD, COUNT(GRU_BACKWARD), run_gru_backward},
    {"rnnForward", 1, RNN_FORWARD, COUNT(RNN_FORWARD), run_rnn_forward},
    {"rnnBackward", 1, RNN_BACKWARD, COUNT(RNN_BACKWARD), run_rnn_backward},
};

/* The table entry travels as the callback's data pointer. */
static napi_value layer_js(napi_env env, napi_callback_info info) {
  void *fn;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, NULL, &fn));
  return call_layer(env, info, (const layer_fn *)fn);
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
  if (!get_floats(env, argv[5], "a", mk, false, &a) ||
      !get_floats(env, argv[6], "b", kn, false, &b) || !get_floats(env, argv[7], "c", mn, false, &c))
    return NULL;
  rnn_sgemm(trans_a, trans_b, m, n, k, 1.0f, a, trans_a ? m : k, b, trans_b ? k : n, 0.0f, c, n);
  return NULL;
}

/* setThreads(n): the kernels' threads (OpenBLAS itself stays at one, see parallel.h). */
static napi_value set_threads_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int n;
  if (argc != 1 || !get_int(env, argv[0], "threads", &n)) return NULL;
  rnn_set_threads(n);
  return NULL;
}

/* blas(): which BLAS build is linked, the kernel set it runs on this CPU, and its threads. */
static napi_value blas_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, core, threads;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(napi_create_string_utf8(env, openblas_get_corename(), NAPI_AUTO_LENGTH, &core));
  CHECK(napi_set_named_property(env, result, "core", core));
  CHECK(napi_create_int32(env, rnn_threads(), &threads));
  CHECK(napi_set_named_property(env, result, "config", config));
  CHECK(napi_set_named_property(env, result, "threads", threads));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  rnn_init_threads();
  napi_property_descriptor props[COUNT(LAYER_FNS) + 3];
  for (size_t i = 0; i < COUNT(LAYER_FNS); i++) {
    props[i] = (napi_property_descriptor){
        LAYER_FNS[i].name, NULL, layer_js, NULL, NULL, NULL, napi_enumerable, (void *)&LAYER_FNS[i]};
  }
  props[COUNT(LAYER_FNS)] =
      (napi_property_descriptor){"sgemm", NULL, sgemm_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[COUNT(LAYER_FNS) + 1] =
      (napi_property_descriptor){"setThreads", NULL, set_threads_js, NULL, NULL, NULL, napi_enumerable, NULL};
  props[COUNT(LAYER_FNS) + 2] =
      (napi_property_descriptor){"blas", NULL, blas_js, NULL, NULL, NULL, napi_enumerable, NULL};
  CHECK(napi_define_properties(env, exports, COUNT(props), props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
