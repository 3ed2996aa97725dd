/*
 * The kernels' own threads. OpenBLAS runs single-threaded; the kernels split their work into
 * parts themselves and run the parts on a small pool (the calling thread plus helpers), so a
 * layer's step loop can keep both cores busy with no BLAS threads spinning beside it.
 */
#ifndef RNNLM_PARALLEL_H
#define RNNLM_PARALLEL_H

/* Runs fn(ctx, begin, end) over consecutive parts of [0, total). */
typedef void (*parts_fn)(void *ctx, int begin, int end);

/*
 * Once per process (later calls do nothing): as many threads as OpenBLAS would have used (its
 * OPENBLAS_NUM_THREADS, else the cores), and OpenBLAS itself at one.
 */
void rnn_init_threads(void);

/* Threads the kernels use (at least 1; the calling thread counts). Keeps OpenBLAS at one thread. */
void rnn_set_threads(int threads);
int rnn_threads(void);

/*
 * Splits [0, total) into up to rnn_threads() parts of at least min_part each and runs them at
 * once, the first on the calling thread; returns when all are done. Runs everything on the
 * calling thread when one part is all there is, or while another call holds the pool (a
 * second JavaScript thread, or a part that splits again).
 */
void rnn_parallel(int total, int min_part, parts_fn fn, void *ctx);

#endif
