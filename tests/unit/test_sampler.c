/* The sampler: each filter keeps exactly the set Hugging Face's warper keeps
 * (ties and the keep-at-least-one edge included), the filters run in HF's
 * order, the repetition penalty matches a hand-computed case, and a seed
 * fixes the token sequence (checked against an independent Python run of
 * splitmix64 + xoshiro256**) while draws follow the probabilities. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "generate/sampler.h"

#define MAXV 4096

static lm_sampler *make(lm_sampler_params p, int vocab)
{
    lm_err e = {{0}};
    lm_sampler *s = lm_sampler_new(&p, vocab, &e);
    if (!s)
        fail_msg("lm_sampler_new: %s", e.msg);
    return s;
}

static lm_sampler_params sampling(float temperature)
{
    lm_sampler_params p = lm_sampler_params_default();
    p.temperature = temperature;
    return p;
}

/* The kept ids of one distribution, checked against an expected list. */
static void expect_kept(lm_sampler_params p, const float *logits, int vocab,
                        const int32_t *context, int n_context, const int32_t *want, int n_want)
{
    lm_sampler *s = make(p, vocab);
    int32_t ids[MAXV];
    double probs[MAXV];
    lm_err e = {{0}};
    int n = lm_sampler_distribution(s, logits, context, n_context, ids, probs, &e);
    if (n < 0)
        fail_msg("lm_sampler_distribution: %s", e.msg);
    assert_int_equal(n, n_want);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(ids[i], want[i]);
        sum += probs[i];
    }
    assert_true(fabs(sum - 1.0) < 1e-12);
    lm_sampler_free(s);
}

/* logits = log(probs), so the softmax is probs again. */
static void log_of(const double *probs, float *logits, int n)
{
    for (int i = 0; i < n; i++)
        logits[i] = (float)log(probs[i]);
}

static void test_seed_fixes_the_sequence(void **state)
{
    (void)state;
    const float logits[8] = {0.5f, -1.0f, 2.0f, 1.5f, 0.0f, -0.5f, 1.0f, 0.25f};
    /* From an independent Python implementation of the documented scheme. */
    const int32_t want[32] = {2, 2, 3, 6, 7, 4, 3, 6, 3, 3, 3, 2, 4, 2, 3, 6,
                              3, 6, 3, 3, 2, 2, 2, 3, 2, 2, 2, 4, 3, 2, 2, 3};
    lm_sampler_params p = sampling(0.8f);
    p.seed = 42;
    lm_sampler *a = make(p, 8);
    p.seed = 43;
    lm_sampler *b = make(p, 8);
    lm_err e = {{0}};
    int differ = 0;
    int32_t first[32];
    for (int i = 0; i < 32; i++) {
        first[i] = lm_sampler_next(a, logits, NULL, 0, &e);
        assert_int_equal(first[i], want[i]);
        differ += lm_sampler_next(b, logits, NULL, 0, &e) != want[i];
    }
    assert_true(differ > 0);
    lm_sampler_reseed(a, 42); /* starts over */
    for (int i = 0; i < 32; i++)
        assert_int_equal(lm_sampler_next(a, logits, NULL, 0, &e), want[i]);
    lm_sampler_free(a);
    lm_sampler_free(b);
}

static void test_greedy_takes_lowest_id_of_the_max(void **state)
{
    (void)state;
    const float logits[6] = {1.0f, 4.0f, -INFINITY, 4.0f, 3.9f, 0.0f};
    for (uint64_t seed = 0; seed < 5; seed++) {
        lm_sampler_params p = lm_sampler_params_default();
        p.seed = seed;
        p.top_k = 1; /* filters do not apply to greedy */
        lm_sampler *s = make(p, 6);
        lm_err e = {{0}};
        assert_int_equal(lm_sampler_next(s, logits, NULL, 0, &e), 1);
        lm_sampler_free(s);
    }
    const int32_t one[] = {1};
    expect_kept(lm_sampler_params_default(), logits, 6, NULL, 0, one, 1);
}

/* lm_argmax against a plain scan: the first index of the largest value,
 * NaNs skipped, over lengths around its 16-lane step, with the maximum in
 * the vector part, in the tail, tied, or -inf everywhere. */
static int argmax_plain(const float *x, int n)
{
    int best = -1;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i]) && (best < 0 || x[i] > x[best]))
            best = i;
    return best < 0 ? 0 : best;
}

static void test_argmax_first_of_the_max(void **state)
{
    (void)state;
    float x[100];
    uint64_t r = 7;
    for (int n = 1; n <= 100; n++)
        for (int shape = 0; shape < 5; shape++) {
            for (int i = 0; i < n; i++) {
                r = r * 6364136223846793005ull + 1442695040888963407ull;
                x[i] = (float)(r >> 40) / (float)(1 << 24);
            }
            if (shape == 1)
                x[n - 1] = 2.0f; /* in the tail */
            if (shape == 2)
                x[n / 2] = x[n - 1] = 3.0f; /* tied: the first */
            if (shape == 3)
                for (int i = 0; i < n; i += 3)
                    x[i] = NAN;
            if (shape == 4)
                for (int i = 0; i < n; i++)
                    x[i] = i % 2 ? NAN : -INFINITY;
            if (lm_argmax(x, n) != argmax_plain(x, n))
                fail_msg("n %d shape %d: lm_argmax %d, plain scan %d", n, shape, lm_argmax(x, n),
                         argmax_plain(x, n));
        }
    for (int i = 0; i < 40; i++)
        x[i] = NAN;
    assert_int_equal(lm_argmax(x, 40), 0);
}

static void test_repetition_penalty_matches_hf(void **state)
{
    (void)state;
    const float logits[4] = {2.0f, -1.0f, 0.5f, 3.0f};
    /* Ids 0 and 1 appear twice but are penalized once: [1, -2, 0.5, 3]. */
    const int32_t context[4] = {0, 1, 1, 0};
    lm_sampler_params p = sampling(1.0f);
    p.repetition_penalty = 2.0f;
    lm_sampler *s = make(p, 4);
    int32_t ids[4];
    double probs[4];
    lm_err e = {{0}};
    assert_int_equal(lm_sampler_distribution(s, logits, context, 4, ids, probs, &e), 4);
    const double penalized[4] = {1.0, -2.0, 0.5, 3.0};
    double z = 0;
    for (int i = 0; i < 4; i++)
        z += exp(penalized[i]);
    for (int i = 0; i < 4; i++)
        assert_true(fabs(probs[i] - exp(penalized[i]) / z) < 1e-9);
    lm_sampler_free(s);

    /* Greedy after the penalty: 3 -> 1.5 loses to 2. */
    p.temperature = 0.0f;
    s = make(p, 4);
    const int32_t last[1] = {3};
    assert_int_equal(lm_sampler_next(s, logits, last, 1, &e), 0);
    assert_int_equal(lm_sampler_next(s, logits, NULL, 0, &e), 3);
    lm_sampler_free(s);
}

static void test_caller_logits_untouched(void **state)
{
    (void)state;
    float logits[4] = {2.0f, -1.0f, 0.5f, 3.0f}, copy[4];
    memcpy(copy, logits, sizeof copy);
    const int32_t context[2] = {0, 1};
    lm_sampler_params p = sampling(0.5f);
    p.repetition_penalty = 1.3f;
    p.top_k = 2;
    lm_sampler *s = make(p, 4);
    lm_err e = {{0}};
    assert_true(lm_sampler_next(s, logits, context, 2, &e) >= 0);
    assert_memory_equal(logits, copy, sizeof copy);
    lm_sampler_free(s);
}

static void test_temperature_scales_the_distribution(void **state)
{
    (void)state;
    const float logits[3] = {0.0f, 1.0f, 2.0f};
    const float temps[3] = {0.5f, 1.0f, 2.0f};
    double top[3];
    for (int t = 0; t < 3; t++) {
        lm_sampler *s = make(sampling(temps[t]), 3);
        int32_t ids[3];
        double probs[3];
        lm_err e = {{0}};
        assert_int_equal(lm_sampler_distribution(s, logits, NULL, 0, ids, probs, &e), 3);
        double z = 0;
        for (int i = 0; i < 3; i++)
            z += exp(logits[i] / temps[t]);
        for (int i = 0; i < 3; i++)
            assert_true(fabs(probs[i] - exp(logits[i] / temps[t]) / z) < 1e-7);
        top[t] = probs[2];
        lm_sampler_free(s);
    }
    assert_true(top[0] > top[1] && top[1] > top[2]); /* colder is sharper */
}

static void test_top_k_keeps_ties_at_the_boundary(void **state)
{
    (void)state;
    const float logits[6] = {1.0f, 3.0f, 2.0f, 3.0f, 0.0f, 2.0f};
    lm_sampler_params p = sampling(1.0f);
    p.top_k = 1;
    const int32_t both_threes[] = {1, 3};
    expect_kept(p, logits, 6, NULL, 0, both_threes, 2);
    p.top_k = 2;
    expect_kept(p, logits, 6, NULL, 0, both_threes, 2);
    p.top_k = 3; /* the 3rd highest is 2, tied with the 4th: both stay */
    const int32_t threes_and_twos[] = {1, 2, 3, 5};
    expect_kept(p, logits, 6, NULL, 0, threes_and_twos, 4);
    p.top_k = 5;
    const int32_t five[] = {0, 1, 2, 3, 5};
    expect_kept(p, logits, 6, NULL, 0, five, 5);
    p.top_k = 100; /* more than the vocabulary: off */
    const int32_t all[] = {0, 1, 2, 3, 4, 5};
    expect_kept(p, logits, 6, NULL, 0, all, 6);
}

static void test_top_p_keeps_the_nucleus(void **state)
{
    (void)state;
    const double probs[4] = {0.1, 0.2, 0.3, 0.4};
    float logits[4];
    log_of(probs, logits, 4);
    lm_sampler_params p = sampling(1.0f);
    /* Ranked 0.4, 0.3, 0.2, 0.1; a token stays while those above hold < top_p. */
    const int32_t top1[] = {3}, top2[] = {2, 3}, top3[] = {1, 2, 3}, all[] = {0, 1, 2, 3};
    p.top_p = 0.45f;
    expect_kept(p, logits, 4, NULL, 0, top2, 2);
    p.top_p = 0.69f;
    expect_kept(p, logits, 4, NULL, 0, top2, 2);
    p.top_p = 0.75f;
    expect_kept(p, logits, 4, NULL, 0, top3, 3);
    p.top_p = 0.95f;
    expect_kept(p, logits, 4, NULL, 0, all, 4);
    p.top_p = 0.39f;
    expect_kept(p, logits, 4, NULL, 0, top1, 1);
    p.top_p = 0.0f; /* min_tokens_to_keep = 1 */
    expect_kept(p, logits, 4, NULL, 0, top1, 1);

    /* Equal scores: the lower id ranks first. */
    const float flat[4] = {0, 0, 0, 0};
    const int32_t first[] = {0}, first_two[] = {0, 1};
    p.top_p = 0.2f;
    expect_kept(p, flat, 4, NULL, 0, first, 1);
    p.top_p = 0.3f;
    expect_kept(p, flat, 4, NULL, 0, first_two, 2);
    p.top_p = 0.0f;
    expect_kept(p, flat, 4, NULL, 0, first, 1);
    /* Exactly on the boundary (all exact in binary): ascending cumulative
     * 0.25, 0.5, 0.75, 1; HF drops cum <= 1 - 0.5, so two stay. */
    p.top_p = 0.5f;
    expect_kept(p, flat, 4, NULL, 0, first_two, 2);
}

/* HF's TopPLogitsWarper written out plainly: full ascending sort, cumulative
 * softmax, drop <= 1 - top_p, keep the last one. kept[id] = 1 if it stays. */
static int by_value_ascending(const void *a, const void *b)
{
    const double *x = a, *y = b;
    return (x[0] > y[0]) - (x[0] < y[0]);
}

static void reference_top_p(const float *scores, int n, double top_p, char *kept)
{
    static double pairs[MAXV][2];
    double max = -INFINITY, z = 0;
    for (int i = 0; i < n; i++)
        max = scores[i] > max ? scores[i] : max;
    for (int i = 0; i < n; i++) {
        pairs[i][0] = exp(scores[i] - max);
        pairs[i][1] = i;
        z += pairs[i][0];
    }
    qsort(pairs, (size_t)n, sizeof pairs[0], by_value_ascending);
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += pairs[i][0] / z;
        kept[(int)pairs[i][1]] = !(cum <= 1.0 - top_p) || i == n - 1;
    }
}

static uint32_t lcg(uint32_t *x)
{
    *x = *x * 1664525u + 1013904223u;
    return *x >> 8;
}

static void test_top_p_matches_full_sort_on_a_large_vocab(void **state)
{
    (void)state;
    enum { V = 3000 };
    static float logits[V];
    static char kept[V];
    static int32_t ids[V];
    static double probs[V];
    uint32_t x = 7;
    const float tops[] = {0.05f, 0.5f, 0.9f, 0.99f, 0.999f};
    for (int round = 0; round < 4; round++) {
        /* A few dominant tokens over a long tail, or a nearly flat spread. */
        for (int i = 0; i < V; i++)
            logits[i] = (float)(lcg(&x) % 100000) / 100000.0f * (round % 2 ? 1.0f : 12.0f);
        for (size_t t = 0; t < sizeof tops / sizeof tops[0]; t++) {
            reference_top_p(logits, V, tops[t], kept);
            lm_sampler_params p = sampling(1.0f);
            p.top_p = tops[t];
            lm_sampler *s = make(p, V);
            lm_err e = {{0}};
            int n = lm_sampler_distribution(s, logits, NULL, 0, ids, probs, &e);
            int want = 0;
            for (int i = 0; i < V; i++)
                want += kept[i];
            assert_int_equal(n, want);
            for (int i = 0; i < n; i++)
                assert_true(kept[ids[i]]);
            lm_sampler_free(s);
        }
    }
}

static void test_min_p_keeps_tokens_near_the_top(void **state)
{
    (void)state;
    const double probs[4] = {0.5, 0.25, 0.15, 0.1};
    float logits[4];
    log_of(probs, logits, 4);
    lm_sampler_params p = sampling(1.0f);
    const int32_t top1[] = {0}, top2[] = {0, 1}, top3[] = {0, 1, 2}, all[] = {0, 1, 2, 3};
    p.min_p = 0.45f; /* keep p >= 0.225 */
    expect_kept(p, logits, 4, NULL, 0, top2, 2);
    p.min_p = 0.25f; /* >= 0.125 */
    expect_kept(p, logits, 4, NULL, 0, top3, 3);
    p.min_p = 0.1f;
    expect_kept(p, logits, 4, NULL, 0, all, 4);
    p.min_p = 0.9f;
    expect_kept(p, logits, 4, NULL, 0, top1, 1);
    const float tie[3] = {2.0f, 2.0f, 1.0f};
    p.min_p = 1.0f; /* everything equal to the top stays */
    expect_kept(p, tie, 3, NULL, 0, top2, 2);
}

static void test_filters_run_in_hf_order(void **state)
{
    (void)state;
    const double probs[4] = {0.4, 0.3, 0.2, 0.1};
    float logits[4];
    log_of(probs, logits, 4);
    lm_sampler_params p = sampling(1.0f);
    p.top_p = 0.5f; /* alone: 0.4 above id 1 is < 0.5, so {0, 1} */
    const int32_t two[] = {0, 1}, one[] = {0};
    expect_kept(p, logits, 4, NULL, 0, two, 2);
    p.top_k = 2; /* after top-k the softmax is {4/7, 3/7}: 4/7 >= 0.5 drops id 1 */
    expect_kept(p, logits, 4, NULL, 0, one, 1);

    /* Temperature comes before top-p: hotter spreads the nucleus. */
    p = sampling(1.0f);
    p.top_p = 0.75f;
    const int32_t three[] = {0, 1, 2};
    expect_kept(p, logits, 4, NULL, 0, three, 3);
    p.temperature = 0.25f; /* probs ~ {0.70, 0.22, 0.04, 0.00}: 0.70 < 0.75 keeps id 1 */
    expect_kept(p, logits, 4, NULL, 0, two, 2);

    /* min-p: 0.3 / 0.4 = 0.75 stays, 0.5 goes; with top-k 1 only the top is left. */
    p = sampling(1.0f);
    p.min_p = 0.6f;
    expect_kept(p, logits, 4, NULL, 0, two, 2);
    p.top_k = 1;
    expect_kept(p, logits, 4, NULL, 0, one, 1);

    /* Repetition penalty comes first, even before greedy top-k. */
    p = sampling(1.0f);
    p.top_k = 1;
    p.repetition_penalty = 10.0f;
    const int32_t ctx[] = {0}, second[] = {1};
    expect_kept(p, logits, 4, ctx, 1, second, 1);
}

static void test_draws_follow_the_probabilities(void **state)
{
    (void)state;
    const double probs[5] = {0.05, 0.1, 0.15, 0.3, 0.4};
    float logits[5];
    log_of(probs, logits, 5);
    lm_sampler_params p = sampling(1.0f);
    p.seed = 1234;
    lm_sampler *s = make(p, 5);
    enum { DRAWS = 100000 };
    long count[5] = {0};
    lm_err e = {{0}};
    for (int i = 0; i < DRAWS; i++) {
        int32_t t = lm_sampler_next(s, logits, NULL, 0, &e);
        assert_true(t >= 0 && t < 5);
        count[t]++;
    }
    double chi2 = 0;
    for (int i = 0; i < 5; i++) {
        double expected = probs[i] * DRAWS;
        chi2 += (count[i] - expected) * (count[i] - expected) / expected;
    }
    /* 4 degrees of freedom: P(chi2 > 25) is about 5e-5. */
    assert_true(chi2 < 25.0);
    lm_sampler_free(s);

    /* Masked tokens are never drawn. */
    const float masked[4] = {-INFINITY, 0.0f, -INFINITY, 0.0f};
    s = make(p, 4);
    for (int i = 0; i < 1000; i++) {
        int32_t t = lm_sampler_next(s, masked, NULL, 0, &e);
        assert_true(t == 1 || t == 3);
    }
    lm_sampler_free(s);
}

static void test_bad_input_is_an_error(void **state)
{
    (void)state;
    lm_err e = {{0}};
    lm_sampler_params p = lm_sampler_params_default();
    lm_sampler_params bad;
    bad = p, bad.temperature = -1.0f;
    assert_null(lm_sampler_new(&bad, 4, &e));
    assert_non_null(strstr(e.msg, "temperature"));
    bad = p, bad.temperature = NAN;
    assert_null(lm_sampler_new(&bad, 4, &e));
    bad = p, bad.top_k = -1;
    assert_null(lm_sampler_new(&bad, 4, &e));
    assert_non_null(strstr(e.msg, "top-k"));
    bad = p, bad.top_p = 1.5f;
    assert_null(lm_sampler_new(&bad, 4, &e));
    assert_non_null(strstr(e.msg, "top-p"));
    bad = p, bad.min_p = -0.1f;
    assert_null(lm_sampler_new(&bad, 4, &e));
    assert_non_null(strstr(e.msg, "min-p"));
    bad = p, bad.repetition_penalty = 0.0f;
    assert_null(lm_sampler_new(&bad, 4, &e));
    assert_non_null(strstr(e.msg, "repetition penalty"));
    assert_null(lm_sampler_new(&p, 0, &e));

    lm_sampler *s = make(sampling(1.0f), 4);
    const float nan_logit[4] = {0, NAN, 0, 0};
    assert_int_equal(lm_sampler_next(s, nan_logit, NULL, 0, &e), -1);
    assert_non_null(strstr(e.msg, "NaN"));
    const float none[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
    assert_int_equal(lm_sampler_next(s, none, NULL, 0, &e), -1);
    assert_non_null(strstr(e.msg, "finite"));
    const float fine[4] = {0, 1, 2, 3};
    const int32_t outside[2] = {1, 4};
    assert_int_equal(lm_sampler_next(s, fine, outside, 2, &e), -1);
    assert_non_null(strstr(e.msg, "outside the vocabulary"));
    lm_sampler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_fixes_the_sequence),
        cmocka_unit_test(test_greedy_takes_lowest_id_of_the_max),
        cmocka_unit_test(test_argmax_first_of_the_max),
        cmocka_unit_test(test_repetition_penalty_matches_hf),
        cmocka_unit_test(test_caller_logits_untouched),
        cmocka_unit_test(test_temperature_scales_the_distribution),
        cmocka_unit_test(test_top_k_keeps_ties_at_the_boundary),
        cmocka_unit_test(test_top_p_keeps_the_nucleus),
        cmocka_unit_test(test_top_p_matches_full_sort_on_a_large_vocab),
        cmocka_unit_test(test_min_p_keeps_tokens_near_the_top),
        cmocka_unit_test(test_filters_run_in_hf_order),
        cmocka_unit_test(test_draws_follow_the_probabilities),
        cmocka_unit_test(test_bad_input_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
