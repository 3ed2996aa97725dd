// sgemm GFLOP/s of one library at the given shapes (row-major C[M,N] = A[M,K] B[K,N]), with
// the threads the environment gives it (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS). One library
// per process, so neither's idle threads spin beside the other's. Prints one JSON line.
// Build: cc -O2 sgemm.c -lopenblas -ldnnl -o sgemm
// Run:   ./sgemm openblas|dnnl SECONDS M N K [M N K ...]   (SECONDS: time per shape, about)
#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int use_dnnl;

static void gemm(int m, int n, int k, const float *a, const float *b, float *c) {
  if (use_dnnl)
    dnnl_sgemm('N', 'N', m, n, k, 1.f, a, k, b, n, 0.f, c, n);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.f, a, k, b, n, 0.f, c, n);
}

static double timed(int reps, int m, int n, int k, const float *a, const float *b, float *c) {
  double t = now();
  for (int i = 0; i < reps; i++) gemm(m, n, k, a, b, c);
  return now() - t;
}

// The best of three timed batches, each about a third of `seconds` long.
static double gflops(int m, int n, int k, double seconds) {
  float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * k * n),
        *c = malloc(sizeof(float) * m * n);
  for (int i = 0; i < m * k; i++) a[i] = (i % 13) * 0.01f;
  for (int i = 0; i < k * n; i++) b[i] = (i % 7) * 0.01f;
  int reps = 1;
  while (timed(reps, m, n, k, a, b, c) < seconds / 6 && reps < (1 << 24)) reps *= 2;
  double best = 1e30;
  for (int r = 0; r < 3; r++) {
    double t = timed(reps, m, n, k, a, b, c);
    if (t < best) best = t;
  }
  free(a);
  free(b);
  free(c);
  return 2.0 * m * n * k * reps / best / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 6 || (argc - 3) % 3 != 0) {
    fprintf(stderr, "usage: sgemm openblas|dnnl SECONDS M N K [M N K ...]\n");
    return 2;
  }
  use_dnnl = strcmp(argv[1], "dnnl") == 0;
  const double seconds = atof(argv[2]);
  if (use_dnnl) {
    const dnnl_version_t *v = dnnl_version();
    printf("{\"lib\":\"oneDNN %d.%d.%d\",\"isa\":\"%s\",\"threads\":%d,\"shapes\":[", v->major,
           v->minor, v->patch, dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()),
           atoi(getenv("OMP_NUM_THREADS") ? getenv("OMP_NUM_THREADS") : "0"));
  } else {
    printf("{\"lib\":\"OpenBLAS\",\"coretype\":\"%s\",\"config\":\"%s\",\"threads\":%d,\"shapes\":[",
           openblas_get_corename(), openblas_get_config(), openblas_get_num_threads());
  }
  for (int i = 3; i < argc; i += 3) {
    const int m = atoi(argv[i]), n = atoi(argv[i + 1]), k = atoi(argv[i + 2]);
    printf("%s{\"m\":%d,\"n\":%d,\"k\":%d,\"gflops\":%.2f}", i == 3 ? "" : ",", m, n, k,
           gflops(m, n, k, seconds));
    fflush(stdout);
  }
  printf("]}\n");
  return 0;
}
