/* The thread pool: every run reaches every thread exactly once, results are
 * visible to the caller when lm_pool_run returns, and the pool survives
 * sleeping workers and repeated create/destroy. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/pool.h"

#define MAX_THREADS 8

/* One cache line per thread so the test itself does not false-share. */
typedef struct slot {
    int64_t total;
    int64_t calls;
    int last_nthreads;
    char pad[64 - 2 * sizeof(int64_t) - sizeof(int)];
} slot;

typedef struct tally {
    slot slots[MAX_THREADS];
    int64_t step;
} tally;

static void add_to_slot(void *arg, int tid, int nthreads)
{
    tally *t = arg;
    t->slots[tid].total += t->step * (tid + 1);
    t->slots[tid].calls++;
    t->slots[tid].last_nthreads = nthreads;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void check_tally(const tally *t, int threads, int64_t runs, int64_t step_sum)
{
    for (int tid = 0; tid < threads; tid++) {
        assert_int_equal(t->slots[tid].calls, runs);
        assert_int_equal(t->slots[tid].total, step_sum * (tid + 1));
        assert_int_equal(t->slots[tid].last_nthreads, threads);
    }
    for (int tid = threads; tid < MAX_THREADS; tid++)
        assert_int_equal(t->slots[tid].calls, 0);
}

static void test_many_runs_reach_every_thread(void **state)
{
    (void)state;
    for (int threads = 1; threads <= 4; threads++) {
        lm_pool *p = lm_pool_create(threads);
        assert_non_null(p);
        assert_int_equal(lm_pool_threads(p), threads);
        tally t;
        memset(&t, 0, sizeof t);
        const int64_t runs = 20000;
        int64_t step_sum = 0;
        for (int64_t r = 0; r < runs; r++) {
            /* Changing the argument between runs catches a worker that
             * reads a stale value or runs a generation twice. */
            t.step = r % 7 + 1;
            step_sum += t.step;
            lm_pool_run(p, add_to_slot, &t);
        }
        check_tally(&t, threads, runs, step_sum);
        lm_pool_destroy(p);
    }
}

typedef struct range_sum {
    const int32_t *values;
    int n;
    int64_t partial[MAX_THREADS];
    int seen[4096];
} range_sum;

static void sum_my_range(void *arg, int tid, int nthreads)
{
    range_sum *rs = arg;
    int begin, end;
    lm_split(rs->n, tid, nthreads, &begin, &end);
    int64_t s = 0;
    for (int i = begin; i < end; i++) {
        s += rs->values[i];
        rs->seen[i]++;
    }
    rs->partial[tid] = s;
}

static void test_split_work_sums_correctly(void **state)
{
    (void)state;
    static int32_t values[4096];
    for (int i = 0; i < 4096; i++)
        values[i] = (int32_t)((i * 2654435761u) % 1000);
    lm_pool *p = lm_pool_create(MAX_THREADS);
    assert_non_null(p);
    for (int n = 0; n <= 4096; n += n < 20 ? 1 : 311) {
        static range_sum rs;
        memset(&rs, 0, sizeof rs);
        rs.values = values;
        rs.n = n;
        lm_pool_run(p, sum_my_range, &rs);
        int64_t got = 0, want = 0;
        for (int tid = 0; tid < MAX_THREADS; tid++)
            got += rs.partial[tid];
        for (int i = 0; i < n; i++) {
            want += values[i];
            assert_int_equal(rs.seen[i], 1); /* every item exactly once */
        }
        assert_int_equal(got, want);
    }
    lm_pool_destroy(p);
}

static void test_runs_after_workers_sleep(void **state)
{
    (void)state;
    lm_pool *p = lm_pool_create(4);
    assert_non_null(p);
    tally t;
    memset(&t, 0, sizeof t);
    t.step = 3;
    for (int r = 0; r < 12; r++) {
        /* Longer than the spin budget, so workers are parked on the
         * condition variable and must be woken. */
        sleep_ms(r % 3 == 0 ? 5 : 1);
        lm_pool_run(p, add_to_slot, &t);
        lm_pool_run(p, add_to_slot, &t);
    }
    check_tally(&t, 4, 24, 24 * 3);
    lm_pool_destroy(p);
}

static void test_create_destroy_repeatedly(void **state)
{
    (void)state;
    for (int i = 0; i < 200; i++) {
        int threads = i % MAX_THREADS + 1;
        lm_pool *p = lm_pool_create(threads);
        assert_non_null(p);
        if (i % 3 != 0) { /* also destroy pools that never ran anything */
            tally t;
            memset(&t, 0, sizeof t);
            t.step = 1;
            for (int r = 0; r < i % 5 + 1; r++)
                lm_pool_run(p, add_to_slot, &t);
            check_tally(&t, threads, i % 5 + 1, i % 5 + 1);
        }
        lm_pool_destroy(p);
    }
    lm_pool_destroy(NULL);
}

typedef struct caller_check {
    pthread_t caller;
    int tid0_on_caller;
    int ran;
    int nthreads;
} caller_check;

static void note_caller(void *arg, int tid, int nthreads)
{
    caller_check *c = arg;
    if (tid == 0) {
        c->tid0_on_caller = pthread_equal(pthread_self(), c->caller);
        c->ran++;
        c->nthreads = nthreads;
    }
}

static void test_tid0_is_the_caller(void **state)
{
    (void)state;
    int counts[] = {0, 1, 3};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        lm_pool *p = lm_pool_create(counts[i]);
        assert_non_null(p);
        int expect = counts[i] < 1 ? 1 : counts[i];
        assert_int_equal(lm_pool_threads(p), expect);
        caller_check c = {.caller = pthread_self()};
        lm_pool_run(p, note_caller, &c);
        assert_int_equal(c.ran, 1);
        assert_true(c.tid0_on_caller);
        assert_int_equal(c.nthreads, expect);
        lm_pool_destroy(p);
    }
}

static void test_split_partitions(void **state)
{
    (void)state;
    for (int n = 0; n < 50; n++) {
        for (int threads = 1; threads <= 9; threads++) {
            int next = 0;
            for (int tid = 0; tid < threads; tid++) {
                int b, e;
                lm_split(n, tid, threads, &b, &e);
                assert_int_equal(b, next);
                assert_true(e >= b);
                assert_true(e - b <= n / threads + 1);
                next = e;
            }
            assert_int_equal(next, n);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_runs_reach_every_thread),
        cmocka_unit_test(test_split_work_sums_correctly),
        cmocka_unit_test(test_runs_after_workers_sleep),
        cmocka_unit_test(test_create_destroy_repeatedly),
        cmocka_unit_test(test_tid0_is_the_caller),
        cmocka_unit_test(test_split_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
