/* Sliding-window attention on a ring cache (runtime/kernels/kv_cache.h)
 * against a direct computation: for each query position p, the softmax of
 * its scores over positions max(0, p - win + 1) .. p and the weighted sum
 * of their values, in double. The kernels store each call's keys in the
 * ring and attend; a sequence of 150 positions runs in calls of 1, 7 and
 * 33 tokens (the decode path and the batch tiles, blocks that start before
 * a window and lanes that see no key of a block), windows of 5 to 100
 * positions over rings that wrap several times. Compiled for this CPU, so
 * a bf16 cache with bf16 products takes the vdpbf16ps tiles where the CPU
 * has them. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../runtime/kernels/kernels.h"

static float rnd(uint64_t *s)
{
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((*s >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

static float bf16_round(float x, int on)
{
    return on ? lm_bf16_to_f32(lm_f32_to_bf16(x)) : x;
}

enum { N = 150, KVH = 2, GROUP = 2, H = KVH * GROUP };

/* The rows of a ring for a window and calls of up to `chunk` tokens, as
 * the emitter sizes it (ops/attention.lua cache_rows). */
static int ring_rows(int win, int chunk)
{
    return (win + chunk - 1 + 63) / 64 * 64;
}

static void run_case_capped(int D, int win, int chunk, int kv16, int abf16, int full, float cap)
{
    uint64_t s = 99u + (uint64_t)(D * 131 + win * 17 + chunk * 7 + kv16 * 3 + abf16);
    float *q = malloc(sizeof(float) * (size_t)N * H * D), *k = malloc(sizeof(float) * (size_t)N * KVH * D),
          *v = malloc(sizeof(float) * (size_t)N * KVH * D), *out = calloc((size_t)N * H * D, sizeof(float));
    for (int i = 0; i < N * H * D; i++)
        q[i] = 4.0f * rnd(&s);
    for (int i = 0; i < N * KVH * D; i++) {
        k[i] = 4.0f * rnd(&s);
        v[i] = 2.0f * rnd(&s);
    }
    /* full: the window as a mask over a plain cache of N rows (a window
     * at least the ring); else the ring. */
    const int CTX = full ? N : ring_rows(win, chunk);
    float *cache = calloc((size_t)2 * KVH * CTX * D, sizeof(float));
    float *scratch = malloc(sizeof(float) * LM_ATTN_SCRATCH(GROUP, D));
    const float scale = 1.0f / sqrtf((float)D);
    const int kwin = win >= N ? 0 : win; /* a window over all: none */
    for (int c0 = 0; c0 < N; c0 += chunk) {
        const int n = N - c0 < chunk ? N - c0 : chunk;
        lm_attn_args a = { .q = q + (size_t)c0 * H * D, .k = k + (size_t)c0 * KVH * D,
                           .v = v + (size_t)c0 * KVH * D, .cache = cache, .out = out + (size_t)c0 * H * D,
                           .scratch = scratch, .softcap = cap, .n = n, .pos = c0 };
        lm_attn_store_task(&a, 0, 1, KVH, D, CTX, kwin, 1e-6f, 0, kv16);
        lm_attn_query_task(&a, scratch, 0, 1, H, KVH, D, CTX, kwin, 1e-6f, 0, scale, 0, kv16, abf16);
    }
    double worst = 0;
    int worst_p = -1;
    double *sc = malloc(sizeof(double) * N);
    for (int p = 0; p < N; p++)
        for (int h = 0; h < H; h++) {
            const int kvh = h / GROUP, lo = p - win + 1 > 0 ? p - win + 1 : 0;
            double mx = -INFINITY, sum = 0;
            for (int j = lo; j <= p; j++) {
                double dot = 0;
                for (int d = 0; d < D; d++)
                    dot += (double)bf16_round(q[((size_t)p * H + h) * D + d], abf16) *
                           bf16_round(k[((size_t)j * KVH + kvh) * D + d], kv16);
                sc[j] = dot * scale;
                if (cap > 0)
                    sc[j] = cap * tanh(sc[j] / cap);
                mx = sc[j] > mx ? sc[j] : mx;
            }
            for (int j = lo; j <= p; j++) {
                sc[j] = exp(sc[j] - mx);
                sum += sc[j];
            }
            for (int d = 0; d < D; d++) {
                double o = 0;
                for (int j = lo; j <= p; j++)
                    o += sc[j] * bf16_round(v[((size_t)j * KVH + kvh) * D + d], kv16);
                const double err = fabs(o / sum - out[((size_t)p * H + h) * D + d]);
                if (err > worst || err != err) {
                    worst = err != err ? INFINITY : err;
                    worst_p = p;
                }
            }
        }
    /* f32 products in another order: 1e-5; abf16 rounds the probabilities
     * to bf16 as well: 1e-2 of values of magnitude 1. */
    const double tol = abf16 ? 1e-2 : 1e-4;
    if (!(worst <= tol))
        fail_msg("D %d, window %d, calls of %d, kv16 %d, abf16 %d, %s, softcap %g: max error %g at position %d", D,
                 win, chunk, kv16, abf16, full ? "plain cache" : "ring", cap, worst, worst_p);
    free(sc);
    free(scratch);
    free(cache);
    free(out);
    free(v);
    free(k);
    free(q);
}

static void run_case(int D, int win, int chunk, int kv16, int abf16, int full)
{
    run_case_capped(D, win, chunk, kv16, abf16, full, 0.0f);
}

static void test_window_f32(void **state)
{
    (void)state;
    const int Ds[] = { 16, 64, 128 }, wins[] = { 5, 40, 64, 100 }, chunks[] = { 1, 7, 33 };
    for (int di = 0; di < 3; di++)
        for (int wi = 0; wi < 4; wi++)
            for (int ci = 0; ci < 3; ci++) {
                run_case(Ds[di], wins[wi], chunks[ci], 0, 0, 0);
                run_case(Ds[di], wins[wi], chunks[ci], 0, 0, 1);
            }
}

static void test_window_bf16_cache(void **state)
{
    (void)state;
    const int Ds[] = { 64, 256 }, wins[] = { 5, 64, 100 }, chunks[] = { 1, 7, 33 };
    for (int di = 0; di < 2; di++)
        for (int wi = 0; wi < 3; wi++)
            for (int ci = 0; ci < 3; ci++) {
                run_case(Ds[di], wins[wi], chunks[ci], 1, 0, 0);
                run_case(Ds[di], wins[wi], chunks[ci], 1, 1, 0);
            }
}

/* Without a window (win 0) the same code is plain causal attention. */
static void test_no_window(void **state)
{
    (void)state;
    run_case(64, N, 7, 0, 0, 1);
    run_case(64, N, 33, 1, 1, 1);
}

/* Gemma 2's attention softcapping (2.0: scores of these queries reach
 * about 8, so the cap bends them), with and without a window. */
static void test_softcap(void **state)
{
    (void)state;
    const int chunks[] = { 1, 7, 33 };
    for (int ci = 0; ci < 3; ci++) {
        run_case_capped(64, 40, chunks[ci], 0, 0, 0, 2.0f);
        run_case_capped(64, N, chunks[ci], 0, 0, 1, 2.0f);
        run_case_capped(64, 40, chunks[ci], 1, 1, 0, 2.0f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_f32),
        cmocka_unit_test(test_window_bf16_cache),
        cmocka_unit_test(test_no_window),
        cmocka_unit_test(test_softcap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
