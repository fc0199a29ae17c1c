/* A persistent thread pool: threads are started once at load and woken for
 * each parallel op, so no op pays for a thread spawn. */
#ifndef LMRT_CORE_POOL_H
#define LMRT_CORE_POOL_H

typedef struct lm_pool lm_pool;

/* fn runs once on each of the pool's threads (tid 0 is the caller). */
typedef void (*lm_task_fn)(void *arg, int tid, int nthreads);

lm_pool *lm_pool_create(int threads);
void lm_pool_destroy(lm_pool *p);
int lm_pool_threads(const lm_pool *p);
/* Runs fn(arg, tid, n) on every thread and returns when all have finished. */
void lm_pool_run(lm_pool *p, lm_task_fn fn, void *arg);

/* The slice [begin, end) of n items that thread tid of nthreads owns. */
static inline void lm_split(int n, int tid, int nthreads, int *begin, int *end)
{
    int base = n / nthreads, extra = n % nthreads;
    *begin = tid * base + (tid < extra ? tid : extra);
    *end = *begin + base + (tid < extra ? 1 : 0);
}

#endif
