#include "parallel.h"

#include <cblas.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#define MAX_THREADS 64
/*
 * A helper that finished a part waits this long for the next one before it sleeps: the parts
 * of one training step or one generated token follow each other within microseconds, and
 * waking a sleeping thread costs tens of them; beyond that it would only take a core from
 * whatever else the process does next.
 */
#define SPIN_NS 50000L

static inline void relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static long long now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

typedef struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  /* Parts posted to and finished by this helper; equal when it is idle. */
  atomic_uint posted, finished;
  parts_fn fn;
  void *ctx;
  int begin, end;
} helper;

static helper helpers[MAX_THREADS - 1];
static int started;
static atomic_int threads = 1;
/* Held by the call that is using the helpers. */
static pthread_mutex_t pool = PTHREAD_MUTEX_INITIALIZER;

static void *helper_main(void *arg) {
  helper *h = arg;
  unsigned seen = 0;
  for (;;) {
    unsigned posted = atomic_load_explicit(&h->posted, memory_order_acquire);
    if (posted == seen) {
      const long long idle_since = now_ns();
      for (int spins = 1; posted == seen; spins++) {
        relax();
        posted = atomic_load_explicit(&h->posted, memory_order_acquire);
        if (posted == seen && spins % 64 == 0 && now_ns() - idle_since > SPIN_NS) {
          pthread_mutex_lock(&h->mu);
          while ((posted = atomic_load_explicit(&h->posted, memory_order_acquire)) == seen)
            pthread_cond_wait(&h->cv, &h->mu);
          pthread_mutex_unlock(&h->mu);
        }
      }
    }
    seen = posted;
    h->fn(h->ctx, h->begin, h->end);
    atomic_store_explicit(&h->finished, seen, memory_order_release);
  }
  return NULL;
}

/* Helpers up to `n`, started on first use; returns how many are running. */
static int ensure_helpers(int n) {
  while (started < n) {
    helper *h = &helpers[started];
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    atomic_init(&h->posted, 0);
    atomic_init(&h->finished, 0);
    if (pthread_create(&h->thread, NULL, helper_main, h) != 0) break;
    pthread_detach(h->thread);
    started++;
  }
  return started < n ? started : n;
}

void rnn_set_threads(int n) {
  atomic_store(&threads, n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : n);
  openblas_set_num_threads(1);
}

int rnn_threads(void) { return atomic_load(&threads); }

static pthread_once_t defaults = PTHREAD_ONCE_INIT;

static void take_blas_default(void) { rnn_set_threads(openblas_get_num_threads()); }

void rnn_init_threads(void) { pthread_once(&defaults, take_blas_default); }

void rnn_parallel(int total, int min_part, parts_fn fn, void *ctx) {
  int parts = rnn_threads();
  if (min_part < 1) min_part = 1;
  if (parts > total / min_part) parts = total / min_part;
  if (parts < 2 || pthread_mutex_trylock(&pool) != 0) {
    fn(ctx, 0, total);
    return;
  }
  parts = 1 + ensure_helpers(parts - 1);
  unsigned ids[MAX_THREADS - 1];
  for (int i = 1; i < parts; i++) {
    helper *h = &helpers[i - 1];
    h->fn = fn;
    h->ctx = ctx;
    h->begin = (int)((long long)total * i / parts);
    h->end = (int)((long long)total * (i + 1) / parts);
    pthread_mutex_lock(&h->mu);
    ids[i - 1] = atomic_fetch_add_explicit(&h->posted, 1, memory_order_acq_rel) + 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
  }
  fn(ctx, 0, (int)((long long)total / parts));
  for (int i = 1; i < parts; i++) {
    helper *h = &helpers[i - 1];
    for (int spins = 1; atomic_load_explicit(&h->finished, memory_order_acquire) != ids[i - 1]; spins++) {
      if (spins % 1024 == 0)
        sched_yield();
      else
        relax();
    }
  }
  pthread_mutex_unlock(&pool);
}
