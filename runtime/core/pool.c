/* The persistent thread pool behind every parallel op.
 *
 * A forward pass calls lm_pool_run 10-20 times per layer per token, so a run
 * must cost microseconds, not a thread spawn or a syscall each. Workers wait
 * for a new run by spinning on a generation counter for a bounded time (the
 * next op usually follows within microseconds), and only then sleep on a
 * condition variable, so an idle pool does not burn CPU.
 *
 * Publication protocol: the caller writes fn/arg, sets `pending` to the
 * number of workers, then bumps `generation` (release). A worker that sees
 * the new generation (acquire) reads fn/arg, runs its share and decrements
 * `pending` (release); the caller returns once `pending` is 0 (acquire).
 * The next run cannot start before every worker has finished the previous
 * one, so each worker observes every generation exactly once. For the same
 * reason a task must not call lm_pool_run on its own pool (it would wait
 * for itself), and one pool serves one calling thread at a time.
 *
 * Sleeping without lost wake-ups: a worker increments `sleepers` and then
 * re-reads `generation` (both seq_cst) under the mutex before waiting; the
 * caller bumps `generation` and then reads `sleepers` (both seq_cst). By the
 * total order of seq_cst operations, either the worker sees the new
 * generation, or the caller sees the sleeper and broadcasts under the mutex. */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* Waiting has three phases. Pure spinning (with a pause instruction) for
 * POOL_SPIN_NS bridges the gap between two ops of a forward. Spinning with
 * sched_yield until POOL_YIELD_NS hands the core over when there are more
 * runnable threads than cores (a busy machine, or -t above the CPU count),
 * where pure spinning would starve the very thread being waited for. After
 * that a worker sleeps, so a paused model costs no CPU. */
#define POOL_SPIN_NS 20000L
#define POOL_YIELD_NS 300000L
/* Check the clock only every so many spins: a clock read costs ~20 ns. */
#define POOL_SPINS_PER_CLOCK 256

struct lm_pool {
    int threads;
    pthread_t *workers; /* threads - 1 of them; tid 0 is the caller */

    lm_task_fn fn;
    void *arg;

    _Atomic unsigned generation;
    _Atomic int pending; /* workers still running the current generation */
    _Atomic int sleepers;
    _Atomic int stopping;

    pthread_mutex_t lock;
    pthread_cond_t wake;
};

typedef struct worker_start {
    lm_pool *pool;
    int tid;
} worker_start;

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
    __asm__ __volatile__("yield");
#else
    atomic_signal_fence(memory_order_seq_cst);
#endif
}

static long elapsed_ns(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000000000L + (now.tv_nsec - since->tv_nsec);
}

/* Waits until the generation differs from seen; returns the new one. */
static unsigned wait_for_generation(lm_pool *p, unsigned seen)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int yielding = 0;
    for (unsigned spins = 1;; spins++) {
        unsigned g = atomic_load_explicit(&p->generation, memory_order_acquire);
        if (g != seen)
            return g;
        if (yielding) {
            sched_yield();
            if (spins % 16 == 0 && elapsed_ns(&start) > POOL_YIELD_NS)
                break;
        } else {
            cpu_relax();
            if (spins % POOL_SPINS_PER_CLOCK == 0 && elapsed_ns(&start) > POOL_SPIN_NS)
                yielding = 1;
        }
    }
    pthread_mutex_lock(&p->lock);
    atomic_fetch_add(&p->sleepers, 1);
    unsigned g;
    while ((g = atomic_load(&p->generation)) == seen)
        pthread_cond_wait(&p->wake, &p->lock);
    atomic_fetch_sub(&p->sleepers, 1);
    pthread_mutex_unlock(&p->lock);
    return g;
}

static void *worker_main(void *start_arg)
{
    worker_start start = *(worker_start *)start_arg;
    free(start_arg);
    lm_pool *p = start.pool;
    unsigned seen = 0;
    for (;;) {
        seen = wait_for_generation(p, seen);
        if (atomic_load_explicit(&p->stopping, memory_order_acquire))
            return NULL;
        p->fn(p->arg, start.tid, p->threads);
        atomic_fetch_sub_explicit(&p->pending, 1, memory_order_release);
    }
}

static void publish_generation(lm_pool *p)
{
    atomic_fetch_add(&p->generation, 1); /* seq_cst: pairs with the sleepers check */
    if (atomic_load(&p->sleepers) > 0) {
        pthread_mutex_lock(&p->lock);
        pthread_cond_broadcast(&p->wake);
        pthread_mutex_unlock(&p->lock);
    }
}

static void stop_workers(lm_pool *p, int started)
{
    atomic_store_explicit(&p->stopping, 1, memory_order_release);
    publish_generation(p);
    for (int i = 0; i < started; i++)
        pthread_join(p->workers[i], NULL);
}

lm_pool *lm_pool_create(int threads)
{
    if (threads < 1)
        threads = 1;
    lm_pool *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->threads = threads;
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->stopping, 0);
    if (threads == 1)
        return p;
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    if (!p->workers || pthread_mutex_init(&p->lock, NULL) != 0) {
        free(p->workers);
        free(p);
        return NULL;
    }
    if (pthread_cond_init(&p->wake, NULL) != 0) {
        pthread_mutex_destroy(&p->lock);
        free(p->workers);
        free(p);
        return NULL;
    }
    for (int i = 0; i < threads - 1; i++) {
        worker_start *ws = malloc(sizeof *ws);
        if (ws) {
            ws->pool = p;
            ws->tid = i + 1;
        }
        if (!ws || pthread_create(&p->workers[i], NULL, worker_main, ws) != 0) {
            free(ws);
            stop_workers(p, i);
            pthread_cond_destroy(&p->wake);
            pthread_mutex_destroy(&p->lock);
            free(p->workers);
            free(p);
            return NULL;
        }
    }
    return p;
}

void lm_pool_destroy(lm_pool *p)
{
    if (!p)
        return;
    if (p->threads > 1) {
        stop_workers(p, p->threads - 1);
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->lock);
    }
    free(p->workers);
    free(p);
}

int lm_pool_threads(const lm_pool *p)
{
    return p ? p->threads : 1;
}

void lm_pool_run(lm_pool *p, lm_task_fn fn, void *arg)
{
    if (!p || p->threads == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->threads - 1, memory_order_relaxed);
    publish_generation(p);

    fn(arg, 0, p->threads);

    /* Workers normally finish within the same op; if one was descheduled,
     * yield the core rather than spin against it. */
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int yielding = 0;
    for (unsigned spins = 1; atomic_load_explicit(&p->pending, memory_order_acquire) != 0; spins++) {
        if (yielding) {
            sched_yield();
        } else {
            cpu_relax();
            if (spins % POOL_SPINS_PER_CLOCK == 0 && elapsed_ns(&start) > POOL_SPIN_NS)
                yielding = 1;
        }
    }
}
