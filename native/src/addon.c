/*
 * N-API bindings of the fused recurrent kernels. Every array is a Float32Array owned by the
 * caller; the functions check the lengths against the dimensions and write into the output
 * arrays, so no memory crosses the boundary by ownership.
 */
#include <cblas.h>
#include <node_api.h>
#include <stdbool.h>
#include <stdio.h>

#include "recurrent.h"

#define MAX_ARGS 20

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, "RNNLM_NATIVE", "N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
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

/* A Float32Array of exactly `length` elements (or null when `nullable`, giving NULL). */
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

static bool get_dims(napi_env env, napi_value *argv, rnn_dims *d) {
  return get_int(env, argv[0], "steps", &d->steps) && get_int(env, argv[1], "batch", &d->batch) &&
         get_int(env, argv[2], "input", &d->input) && get_int(env, argv[3], "hidden", &d->hidden);
}

/* lstmForward(T, B, I, H, x, kernel, recurrent, bias, h0, c0, out, cells, gates) */
static napi_value lstm_forward_js(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "lstmForward takes 13 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, G = 4 * (size_t)d.hidden, state = (size_t)d.batch * d.hidden;
  float *x, *kernel, *recurrent, *bias, *h0, *c0, *out, *cells, *gates;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * G, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", (size_t)d.hidden * G, false, &recurrent) ||
      !get_floats(env, argv[7], "bias", G, false, &bias) ||
      !get_floats(env, argv[8], "h0", state, false, &h0) ||
      !get_floats(env, argv[9], "c0", state, false, &c0) ||
      !get_floats(env, argv[10], "out", rows * d.hidden, false, &out) ||
      !get_floats(env, argv[11], "cells", rows * d.hidden, false, &cells) ||
      !get_floats(env, argv[12], "gates", rows * G, false, &gates))
    return NULL;
  lstm_forward(&d, x, kernel, recurrent, bias, h0, c0, out, cells, gates);
  return NULL;
}

/*
 * lstmBackward(T, B, I, H, x, kernel, recurrent, h0, c0, out, cells, gates, dOut, dCellLast,
 *              scale | null, dX, dKernel, dRecurrent, dBias)
 */
static napi_value lstm_backward_js(napi_env env, napi_callback_info info) {
  size_t argc = 19;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 19) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "lstmBackward takes 19 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, G = 4 * (size_t)d.hidden, state = (size_t)d.batch * d.hidden;
  float *x, *kernel, *recurrent, *h0, *c0, *out, *cells, *gates, *d_out, *d_c_last, *scale, *d_x,
      *d_kernel, *d_recurrent, *d_bias;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * G, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", (size_t)d.hidden * G, false, &recurrent) ||
      !get_floats(env, argv[7], "h0", state, false, &h0) ||
      !get_floats(env, argv[8], "c0", state, false, &c0) ||
      !get_floats(env, argv[9], "out", rows * d.hidden, false, &out) ||
      !get_floats(env, argv[10], "cells", rows * d.hidden, false, &cells) ||
      !get_floats(env, argv[11], "gates", rows * G, false, &gates) ||
      !get_floats(env, argv[12], "dOut", rows * d.hidden, false, &d_out) ||
      !get_floats(env, argv[13], "dCellLast", state, false, &d_c_last) ||
      !get_floats(env, argv[14], "scale", (size_t)d.steps, true, &scale) ||
      !get_floats(env, argv[15], "dX", rows * d.input, false, &d_x) ||
      !get_floats(env, argv[16], "dKernel", (size_t)d.input * G, false, &d_kernel) ||
      !get_floats(env, argv[17], "dRecurrent", (size_t)d.hidden * G, false, &d_recurrent) ||
      !get_floats(env, argv[18], "dBias", G, false, &d_bias))
    return NULL;
  if (lstm_backward(&d, x, kernel, recurrent, h0, c0, out, cells, gates, d_out, d_c_last, scale, d_x,
                    d_kernel, d_recurrent, d_bias) != 0) {
    napi_throw_error(env, "RNNLM_NATIVE", "lstmBackward could not allocate its scratch memory");
  }
  return NULL;
}

/* gruForward(T, B, I, H, x, kernel, recurrent, bias, recurrentBias, h0, out, hn, gates) */
static napi_value gru_forward_js(napi_env env, napi_callback_info info) {
  size_t argc = 13;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 13) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "gruForward takes 13 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, H = d.hidden, G = 3 * H;
  float *x, *kernel, *recurrent, *bias, *rbias, *h0, *out, *hn, *gates;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * G, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", H * G, false, &recurrent) ||
      !get_floats(env, argv[7], "bias", G, false, &bias) ||
      !get_floats(env, argv[8], "recurrentBias", H, false, &rbias) ||
      !get_floats(env, argv[9], "h0", (size_t)d.batch * H, false, &h0) ||
      !get_floats(env, argv[10], "out", rows * H, false, &out) ||
      !get_floats(env, argv[11], "hn", rows * H, false, &hn) ||
      !get_floats(env, argv[12], "gates", rows * G, false, &gates))
    return NULL;
  if (gru_forward(&d, x, kernel, recurrent, bias, rbias, h0, out, hn, gates) != 0)
    napi_throw_error(env, "RNNLM_NATIVE", "gruForward could not allocate its scratch memory");
  return NULL;
}

/*
 * gruBackward(T, B, I, H, x, kernel, recurrent, h0, out, hn, gates, dOut, scale | null, dX,
 *             dKernel, dRecurrent, dBias, dRecurrentBias)
 */
static napi_value gru_backward_js(napi_env env, napi_callback_info info) {
  size_t argc = 18;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 18) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "gruBackward takes 18 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, H = d.hidden, G = 3 * H;
  float *x, *kernel, *recurrent, *h0, *out, *hn, *gates, *d_out, *scale, *d_x, *d_kernel, *d_recurrent,
      *d_bias, *d_rbias;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * G, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", H * G, false, &recurrent) ||
      !get_floats(env, argv[7], "h0", (size_t)d.batch * H, false, &h0) ||
      !get_floats(env, argv[8], "out", rows * H, false, &out) ||
      !get_floats(env, argv[9], "hn", rows * H, false, &hn) ||
      !get_floats(env, argv[10], "gates", rows * G, false, &gates) ||
      !get_floats(env, argv[11], "dOut", rows * H, false, &d_out) ||
      !get_floats(env, argv[12], "scale", (size_t)d.steps, true, &scale) ||
      !get_floats(env, argv[13], "dX", rows * d.input, false, &d_x) ||
      !get_floats(env, argv[14], "dKernel", (size_t)d.input * G, false, &d_kernel) ||
      !get_floats(env, argv[15], "dRecurrent", H * G, false, &d_recurrent) ||
      !get_floats(env, argv[16], "dBias", G, false, &d_bias) ||
      !get_floats(env, argv[17], "dRecurrentBias", H, false, &d_rbias))
    return NULL;
  if (gru_backward(&d, x, kernel, recurrent, h0, out, hn, gates, d_out, scale, d_x, d_kernel, d_recurrent,
                   d_bias, d_rbias) != 0)
    napi_throw_error(env, "RNNLM_NATIVE", "gruBackward could not allocate its scratch memory");
  return NULL;
}

/* rnnForward(T, B, I, H, x, kernel, recurrent, bias, h0, out) */
static napi_value rnn_forward_js(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 10) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "rnnForward takes 10 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, H = d.hidden;
  float *x, *kernel, *recurrent, *bias, *h0, *out;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * H, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", H * H, false, &recurrent) ||
      !get_floats(env, argv[7], "bias", H, false, &bias) ||
      !get_floats(env, argv[8], "h0", (size_t)d.batch * H, false, &h0) ||
      !get_floats(env, argv[9], "out", rows * H, false, &out))
    return NULL;
  rnn_forward(&d, x, kernel, recurrent, bias, h0, out);
  return NULL;
}

/* rnnBackward(T, B, I, H, x, kernel, recurrent, h0, out, dOut, scale | null, dX, dKernel, dRecurrent, dBias) */
static napi_value rnn_backward_js(napi_env env, napi_callback_info info) {
  size_t argc = 15;
  napi_value argv[MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc != 15) {
    napi_throw_type_error(env, "RNNLM_NATIVE", "rnnBackward takes 15 arguments");
    return NULL;
  }
  rnn_dims d;
  if (!get_dims(env, argv, &d)) return NULL;
  const size_t rows = (size_t)d.steps * d.batch, H = d.hidden;
  float *x, *kernel, *recurrent, *h0, *out, *d_out, *scale, *d_x, *d_kernel, *d_recurrent, *d_bias;
  if (!get_floats(env, argv[4], "x", rows * d.input, false, &x) ||
      !get_floats(env, argv[5], "kernel", (size_t)d.input * H, false, &kernel) ||
      !get_floats(env, argv[6], "recurrent", H * H, false, &recurrent) ||
      !get_floats(env, argv[7], "h0", (size_t)d.batch * H, false, &h0) ||
      !get_floats(env, argv[8], "out", rows * H, false, &out) ||
      !get_floats(env, argv[9], "dOut", rows * H, false, &d_out) ||
      !get_floats(env, argv[10], "scale", (size_t)d.steps, true, &scale) ||
      !get_floats(env, argv[11], "dX", rows * d.input, false, &d_x) ||
      !get_floats(env, argv[12], "dKernel", (size_t)d.input * H, false, &d_kernel) ||
      !get_floats(env, argv[13], "dRecurrent", H * H, false, &d_recurrent) ||
      !get_floats(env, argv[14], "dBias", H, false, &d_bias))
    return NULL;
  if (rnn_backward(&d, x, kernel, recurrent, h0, out, d_out, scale, d_x, d_kernel, d_recurrent, d_bias) != 0)
    napi_throw_error(env, "RNNLM_NATIVE", "rnnBackward could not allocate its scratch memory");
  return NULL;
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
  float *a, *b, *c;
  if (!get_floats(env, argv[5], "a", (size_t)m * k, false, &a) ||
      !get_floats(env, argv[6], "b", (size_t)k * n, false, &b) ||
      !get_floats(env, argv[7], "c", (size_t)m * n, false, &c))
    return NULL;
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, m,
              n, k, 1.0f, a, trans_a ? m : k, b, trans_b ? k : n, 0.0f, c, n);
  return NULL;
}

/* setThreads(n): OpenBLAS worker threads (benchmarks pin it to compare like with like). */
static napi_value set_threads_js(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int n;
  if (argc != 1 || !get_int(env, argv[0], "threads", &n)) return NULL;
  openblas_set_num_threads(n);
  return NULL;
}

/* blas(): which BLAS build is linked, and how many threads it uses. */
static napi_value blas_js(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, config, threads;
  CHECK(napi_create_object(env, &result));
  CHECK(napi_create_string_utf8(env, openblas_get_config(), NAPI_AUTO_LENGTH, &config));
  CHECK(napi_create_int32(env, openblas_get_num_threads(), &threads));
  CHECK(napi_set_named_property(env, result, "config", config));
  CHECK(napi_set_named_property(env, result, "threads", threads));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"lstmForward", NULL, lstm_forward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lstmBackward", NULL, lstm_backward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gruForward", NULL, gru_forward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gruBackward", NULL, gru_backward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rnnForward", NULL, rnn_forward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"rnnBackward", NULL, rnn_backward_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sgemm", NULL, sgemm_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setThreads", NULL, set_threads_js, NULL, NULL, NULL, napi_enumerable, NULL},
      {"blas", NULL, blas_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  CHECK(napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
