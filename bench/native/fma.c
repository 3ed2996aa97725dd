// The machine's fp32 peak: independent fused multiply-adds on every OpenMP thread, nothing
// else, in the widest vectors the compiler is allowed (-march=native). Prints one JSON line.
// Build: cc -O2 -march=native -fopenmp fma.c -o fma; run: OMP_NUM_THREADS=2 ./fma [iterations]
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __AVX512F__
typedef __m512 vec;
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANES 16
#define ISA "AVX-512"
#else
typedef __m256 vec;
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANES 8
#define ISA "AVX2"
#endif
// Enough independent chains to hide the FMA latency on two pipes.
#define CHAINS 12

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
  const long iters = argc > 1 ? atol(argv[1]) : 100000000L;
  float sink = 0;
  double t = now();
#pragma omp parallel reduction(+ : sink)
  {
    vec acc[CHAINS], b = SET1(0.999999f), c = SET1(1e-7f);
    for (int i = 0; i < CHAINS; i++) acc[i] = SET1((float)i);
    for (long k = 0; k < iters; k++)
#pragma GCC unroll 12
      for (int i = 0; i < CHAINS; i++) acc[i] = FMA(acc[i], b, c);
    float lanes[LANES];
    for (int i = 0; i < CHAINS; i++) {
      memcpy(lanes, &acc[i], sizeof lanes);
      sink += lanes[0];
    }
  }
  t = now() - t;
  const int threads = omp_get_max_threads();
  const double gflops = (double)threads * iters * CHAINS * LANES * 2 / t / 1e9;
  // The sink is printed so the compiler cannot drop the chains.
  printf("{\"isa\":\"%s\",\"threads\":%d,\"gflops\":%.2f,\"perThread\":%.2f,\"sink\":%g}\n", ISA,
         threads, gflops, gflops / threads, sink);
  return 0;
}
