/* Gemma's element-wise kernels (runtime/kernels/tanh.h, elementwise.h,
 * embedding.h) against double-precision references: tanh, the GELU-tanh
 * gate, softcapping, their standalone row tasks on widths with and without
 * a 16-lane tail, and the scaled embedding's rounding. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/dtype.h"
#include "kernels/kernels.h"

/* transformers' gelu_pytorch_tanh, 0.5 x (1 + tanh(t)), in double as
 * x / (1 + e^-2t): the same value, without the cancellation that leaves
 * 1 + tanh(t) no correct digits in double where t < -19. */
static double gelu_tanh_ref(double x)
{
    const double t = 0.7978845608028654 * (x + 0.044715 * x * x * x); /* sqrt(2 / pi) */
    return x / (1.0 + exp(-2.0 * t));
}

/* f over 16 lanes of in, into out. */
typedef lm_v16 (*lanes_fn)(lm_v16);

static lm_v16 tanh_lanes(lm_v16 x)
{
    return lm_tanh16(x);
}

static lm_v16 gelu_lanes(lm_v16 x)
{
    return lm_gelu_tanh16_mul(x, (lm_v16){ 0 } + 1.0f);
}

/* The largest relative error of f against ref over [lo, hi] in steps, and
 * where; relative to FLT_MIN at least, as a value below it underflows to
 * a subnormal or zero in f32 (gelu_tanh far below zero). */
static double max_rel_error(lanes_fn f, double (*ref)(double), float lo, float hi, int steps, float *at)
{
    double worst = 0;
    for (int i = 0; i <= steps; i += 16) {
        float in[16], out[16];
        for (int l = 0; l < 16; l++)
            in[l] = lo + (hi - lo) * (float)(i + l < steps ? i + l : steps) / (float)steps;
        lm_store16(out, f(lm_load16(in)));
        for (int l = 0; l < 16; l++) {
            const double want = ref(in[l]);
            const double err = fabs(out[l] - want) / fmax(fabs(want), FLT_MIN);
            if (err > worst) {
                worst = err;
                *at = in[l];
            }
        }
    }
    return worst;
}

/* max_rel_error within bound, printed for the record. */
static void check_rel(const char *what, lanes_fn f, double (*ref)(double), float lo, float hi, int steps,
                      double bound)
{
    float at = 0;
    const double err = max_rel_error(f, ref, lo, hi, steps, &at);
    print_message("%s on [%g, %g]: max relative error %.3g at %.9g\n", what, lo, hi, err, at);
    if (!(err < bound))
        fail_msg("%s: relative error %.3g at %.9g, over %.3g", what, err, at, bound);
}

/* tanh within 3e-7 relative everywhere (measured 1.8e-7): the polynomial
 * below 0.625, the exponential form above, saturation, odd symmetry, and
 * within 2.5e-7 relative of libm's tanhf too. */
static void test_tanh16(void **state)
{
    (void)state;
    check_rel("tanh16", tanh_lanes, tanh, -1.0f, 1.0f, 400000, 3e-7);
    check_rel("tanh16", tanh_lanes, tanh, -20.0f, 20.0f, 400000, 3e-7);
    check_rel("tanh16", tanh_lanes, tanh, 1e-30f, 1e-3f, 40000, 3e-7);
    float in[16] = { 0.0f, -0.0f, 0.625f, -0.625f, 0.62499994f, 100.0f, -100.0f, INFINITY, -INFINITY, 1e-38f,
                     9.0f, -9.0f, 44.0f, 87.0f, 3.0f, -3.0f };
    float out[16];
    lm_store16(out, lm_tanh16(lm_load16(in)));
    assert_true(out[0] == 0.0f && !signbit(out[0]));
    assert_true(out[1] == 0.0f && signbit(out[1]));
    for (int l = 2; l < 16; l++) {
        const double want = tanh(in[l]);
        if (fabs(out[l] - want) > 3e-7 * fabs(want) + 1e-45)
            fail_msg("tanh(%.9g) = %.9g, want %.9g", in[l], out[l], want);
        if (fabs(out[l] - tanhf(in[l])) > 2.5e-7 * fabs(want) + 1e-45)
            fail_msg("tanh(%.9g) = %.9g, tanhf %.9g", in[l], out[l], tanhf(in[l]));
    }
    assert_true(out[7] == 1.0f && out[8] == -1.0f);
}

/* gelu_tanh within 1e-6 relative of the double formula from -2.5 up. In
 * the negative tail the value is about x e^2t, and t computed in f32 is
 * off by up to an ulp of t, which moves e^2t by 2t 6e-8 relative (2e-5 at
 * x = -9.5, where 2t = -76): within 2.5e-7 (1 + |2t|) there. Torch's f32 gelu,
 * 0.5 x (1 + tanh(t)), has no digits left there (1 + tanh(t) cancels; it
 * is 0 below about -5.5). Below -9.5, no larger than the tiny true value
 * (and 0 once 2t < -87). */
static void test_gelu_tanh16(void **state)
{
    (void)state;
    check_rel("gelu_tanh16", gelu_lanes, gelu_tanh_ref, -2.5f, 12.0f, 600000, 1e-6);
    check_rel("gelu_tanh16", gelu_lanes, gelu_tanh_ref, -1e-3f, 1e-3f, 40000, 1e-6);
    check_rel("gelu_tanh16", gelu_lanes, gelu_tanh_ref, -9.5f, -2.5f, 200000, 2.5e-7 * (1.0 + 76.0));
    for (float x = -9.5f; x > -30.0f; x -= 0.125f) {
        float in[16], out[16];
        for (int l = 0; l < 16; l++)
            in[l] = x;
        lm_store16(out, gelu_lanes(lm_load16(in)));
        assert_true(fabs(out[0]) <= 1.1 * fabs(gelu_tanh_ref(x)) + FLT_MIN);
    }
    float in[16] = { 0.0f, 1e30f, -1e30f, INFINITY, -INFINITY, -20.0f, 20.0f, 1.0f };
    float out[16];
    lm_store16(out, lm_gelu_tanh16_mul(lm_load16(in), (lm_v16){ 0 } + 1.0f));
    assert_true(out[0] == 0.0f);
    assert_true(out[1] == 1e30f);
    assert_true(out[2] == 0.0f);
    assert_true(out[3] == INFINITY);
    assert_true(out[6] == 20.0f);
}

/* Values in [-a, a): deterministic. */
static void fill(float *x, int n, float a, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = a * ((float)((seed >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f);
    }
}

/* The row tasks, on widths with 16-lane tails, split over threads: each
 * element as the reference, and a tail element exactly what the same
 * value gives in a row's body (so results do not depend on position). */
static void test_row_tasks(void **state)
{
    (void)state;
    const int widths[] = { 1, 7, 15, 16, 17, 33, 100 };
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
        const int K = widths[wi], n = 5;
        float *g = malloc(sizeof(float) * n * K), *u = malloc(sizeof(float) * n * K), *y = malloc(sizeof(float) * n * K);
        fill(g, n * K, 6.0f, 1 + (uint64_t)K);
        fill(u, n * K, 2.0f, 2 + (uint64_t)K);
        for (int threads = 1; threads <= 3; threads++) {
            const lm_rows_args a = { .a = g, .b = u, .y = y, .n = n };
            for (int tid = 0; tid < threads; tid++)
                lm_geglu_task(&a, tid, threads, K);
            for (int i = 0; i < n * K; i++) {
                const double want = gelu_tanh_ref(g[i]) * u[i];
                if (fabs(y[i] - want) > 1e-6 * fabs(want) + 1e-12)
                    fail_msg("geglu K %d at %d: got %.9g, want %.9g", K, i, y[i], want);
            }
            for (int tid = 0; tid < threads; tid++)
                lm_softcap_task(&a, tid, threads, K, 2.5f);
            for (int i = 0; i < n * K; i++) {
                const double want = 2.5 * tanh(g[i] / 2.5);
                if (fabs(y[i] - want) > 4e-7 * fabs(want))
                    fail_msg("softcap K %d at %d: got %.9g, want %.9g", K, i, y[i], want);
            }
        }
        /* The last element of each row again, in the body of a 16-wide row. */
        for (int t = 0; t < n; t++) {
            float body[16], out[16];
            for (int l = 0; l < 16; l++)
                body[l] = g[(size_t)t * K + K - 1];
            lm_softcap_row(out, body, 16, 2.5f);
            assert_true(out[3] == y[(size_t)t * K + K - 1]);
        }
        free(g);
        free(u);
        free(y);
    }
}

/* The scaled embedding: f32 rows times the f32 scale; a bf16 build's rows
 * times the scale rounded to bf16 (sqrt(2560) = 50.596 -> 50.5), each
 * product rounded to bf16, as torch's bf16 multiply. */
static void test_embed_scaled(void **state)
{
    (void)state;
    enum { VOCAB = 5, DIM = 40 };
    float tf[VOCAB * DIM];
    uint16_t tb[VOCAB * DIM];
    fill(tf, VOCAB * DIM, 0.1f, 9);
    for (int i = 0; i < VOCAB * DIM; i++)
        tb[i] = lm_f32_to_bf16(tf[i]);
    const int32_t tokens[3] = { 4, 0, 2 };
    const float scale = sqrtf(2560.0f);
    float y[3 * DIM];
    const lm_embed_args af = { .tokens = tokens, .table = tf, .y = y, .n = 3 };
    lm_embed_scaled_task(&af, 0, 1, DIM, LM_F32, scale, 0);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < DIM; i++)
            assert_true(y[t * DIM + i] == tf[tokens[t] * DIM + i] * scale);
    const lm_embed_args ab = { .tokens = tokens, .table = tb, .y = y, .n = 3 };
    for (int tid = 0; tid < 2; tid++)
        lm_embed_scaled_task(&ab, tid, 2, DIM, LM_BF16, scale, 1);
    assert_true(lm_bf16_to_f32(lm_f32_to_bf16(scale)) == 50.5f);
    for (int t = 0; t < 3; t++)
        for (int i = 0; i < DIM; i++) {
            const float want = lm_bf16_to_f32(lm_f32_to_bf16(lm_bf16_to_f32(tb[tokens[t] * DIM + i]) * 50.5f));
            assert_true(y[t * DIM + i] == want);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tanh16),
        cmocka_unit_test(test_gelu_tanh16),
        cmocka_unit_test(test_row_tasks),
        cmocka_unit_test(test_embed_scaled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
