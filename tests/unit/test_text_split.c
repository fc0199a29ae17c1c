/* Stop strings and Qwen3's reasoning in generated text (serve/text_split.h):
 * the answer must not depend on how the text was cut into tokens, so each
 * case is also fed one byte at a time, as a stream sees it. */
#include "testutil.h"

#include "serve/text_split.h"

static const char *const STOPS[] = {"END", "\n\nUser:"};

static void stop_found_at_first_occurrence(void **state)
{
    (void)state;
    const char *t = "abc\n\nUser: hi END";
    assert_int_equal(lm_stop_find(t, strlen(t), STOPS, 2), 3);
    assert_int_equal(lm_stop_find("no stop here", 12, STOPS, 2), 12);
    assert_int_equal(lm_stop_find("xEND", 4, STOPS, 2), 1);
    assert_int_equal(lm_stop_find("EN", 2, STOPS, 2), 2);
}

static void stream_holds_back_a_partial_stop(void **state)
{
    (void)state;
    /* "...EN" might become "END": hold 2 bytes; "\n\nUs": 4. */
    assert_int_equal(lm_stop_safe("abcEN", 5, STOPS, 2), 3);
    assert_int_equal(lm_stop_safe("abc\n\nUs", 7, STOPS, 2), 3);
    assert_int_equal(lm_stop_safe("abcE", 4, STOPS, 2), 3);
    assert_int_equal(lm_stop_safe("abc", 3, STOPS, 2), 3);
    assert_int_equal(lm_stop_safe("abc", 3, STOPS, 0), 3);
    /* Whatever the pieces, what is sent before the stop is what precedes it. */
    const char *t = "one two EN three ENDfour";
    size_t want = lm_stop_find(t, strlen(t), STOPS, 2), sent = 0;
    for (size_t n = 1; n <= strlen(t); n++) {
        size_t hit = lm_stop_find(t, n, STOPS, 2);
        if (hit < n) {
            sent = hit;
            break;
        }
        size_t safe = lm_stop_safe(t, n, STOPS, 2);
        assert_true(safe >= sent); /* never takes back what was sent */
        sent = safe;
    }
    assert_int_equal(sent, want);
}

static void split(const char *t, int final, char *reasoning, char *content)
{
    size_t r0, r1, c0, c1;
    lm_reasoning_split(t, strlen(t), final, &r0, &r1, &c0, &c1);
    sprintf(reasoning, "%.*s", (int)(r1 - r0), t + r0);
    sprintf(content, "%.*s", (int)(c1 - c0), t + c0);
}

static void reasoning_split_final(void **state)
{
    (void)state;
    char r[128], c[128];
    split("<think>\nI should greet.\n</think>\n\nHello!", 1, r, c);
    assert_string_equal(r, "I should greet.");
    assert_string_equal(c, "Hello!");
    split("Hello, no thinking.", 1, r, c);
    assert_string_equal(r, "");
    assert_string_equal(c, "Hello, no thinking.");
    split("<think>\ncut off mid-thought  ", 1, r, c);
    assert_string_equal(r, "cut off mid-thought");
    assert_string_equal(c, "");
    split("<think>\n\n</think>\n\nJust content", 1, r, c);
    assert_string_equal(r, "");
    assert_string_equal(c, "Just content");
}

/* Fed a byte at a time, the parts only grow, never show a tag, and end as
 * the final split says (less the reasoning's trailing whitespace). */
static void reasoning_split_streamed(void **state)
{
    (void)state;
    const char *t = "<think>\nweigh it</think>\n\nThe answer.";
    size_t sr = 0, sc = 0;
    char r[128] = "", c[128] = "";
    size_t rl = 0, cl = 0;
    for (size_t n = 1; n <= strlen(t); n++) {
        size_t r0, r1, c0, c1;
        lm_reasoning_split(t, n, 0, &r0, &r1, &c0, &c1);
        size_t rs = sr > r0 ? sr : r0, cs = sc > c0 ? sc : c0;
        if (r1 > rs) {
            memcpy(r + rl, t + rs, r1 - rs);
            rl += r1 - rs;
            sr = r1;
        }
        if (c1 > cs) {
            memcpy(c + cl, t + cs, c1 - cs);
            cl += c1 - cs;
            sc = c1;
        }
    }
    r[rl] = c[cl] = '\0';
    assert_string_equal(r, "weigh it");
    assert_string_equal(c, "The answer.");
    assert_null(strchr(r, '<'));
    assert_null(strchr(c, '<'));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stop_found_at_first_occurrence),
        cmocka_unit_test(stream_holds_back_a_partial_stop),
        cmocka_unit_test(reasoning_split_final),
        cmocka_unit_test(reasoning_split_streamed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
