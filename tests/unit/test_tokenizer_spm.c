/* BPE over characters with byte fallback (Gemma's kind of tokenizer.json)
 * on tests/data/tokenizer_spm/tokenizer.json: <bos>=1, <0x00>..<0xFF> =
 * 2..257, "▁"=258 "a"=259 "b"=260 "▁a"=261 "ab"=262 "▁ab"=263 "é"=264,
 * merges (▁,a) < (a,b) < (▁a,b); added <start_of_turn>=265 (special) and
 * "▁▁"=266; normalizer Replace " " -> "▁", decoder Replace "▁" -> " ",
 * ByteFallback, Fuse; TemplateProcessing puts <bos> first. The expected
 * ids are what @lenml/tokenizers (transformers.js) gives for the file. */
#include "testutil.h"

#include <jansson.h>

#include "text/tokenizer.h"

static const char SPM_JSON[] = TEST_DATA_DIR "/tokenizer_spm/tokenizer.json";

static int load_spm(void **state)
{
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(SPM_JSON, &e);
    if (!t)
        fail_msg("%s", e.msg);
    *state = t;
    return 0;
}

static int free_spm(void **state)
{
    lm_tokenizer_free(*state);
    return 0;
}

/* The ids of text must be want[0..n); a failure prints what came out. */
static void expect_ids(lm_tokenizer *t, const char *text, int allow_special, const int32_t *want,
                       size_t n)
{
    lm_ids got = {0};
    lm_err e;
    if (lm_tokenizer_encode(t, text, strlen(text), allow_special, &got, &e) != 0)
        fail_msg("encode '%s': %s", text, e.msg);
    int same = got.n == n && (n == 0 || memcmp(got.v, want, n * sizeof *want) == 0);
    char shown[256] = "";
    for (size_t i = 0, o = 0; !same && i < got.n && o < sizeof shown - 12; i++)
        o += (size_t)snprintf(shown + o, sizeof shown - o, "%d ", got.v[i]);
    lm_ids_free(&got);
    if (!same)
        fail_msg("encode '%s' gave %s(%zu ids, %zu expected)", text, shown, got.n, n);
}

#define EXPECT_IDS(t, text, special, ...)                                                          \
    do {                                                                                           \
        const int32_t want_[] = {__VA_ARGS__};                                                     \
        expect_ids(t, text, special, want_, sizeof want_ / sizeof *want_);                         \
    } while (0)

static void expect_text(const lm_tokenizer *t, const int32_t *ids, size_t n, const char *want)
{
    lm_bytes out = {0};
    lm_err e;
    assert_int_equal(lm_tokenizer_decode(t, ids, n, &out, &e), 0);
    assert_int_equal(out.n, strlen(want));
    assert_memory_equal(out.v, want, out.n);
    lm_bytes_free(&out);
}

static void space_marker_and_merges(void **state)
{
    lm_tokenizer *t = *state;
    EXPECT_IDS(t, " ab", 1, 263);          /* " " -> "▁", then ▁a, then ▁ab */
    EXPECT_IDS(t, "ab", 1, 262);
    EXPECT_IDS(t, "a b", 1, 259, 258, 260); /* the split on " " finds none after Replace */
    EXPECT_IDS(t, "\xE2\x96\x81" "a", 1, 261); /* a literal ▁ is the marker too */
    EXPECT_IDS(t, "  b", 1, 258, 258, 260);
    const int32_t ab[] = {263, 259, 258, 260};
    expect_text(t, ab, 4, " aba b");
    assert_int_equal(lm_tokenizer_token_id(t, "\xE2\x96\x81" "ab"), 263);
    lm_ids ids = {0};
    lm_err e;
    assert_int_equal(lm_tokenizer_encode_prompt(t, "ab", 2, 1, &ids, &e), 0);
    assert_int_equal(ids.n, 2);
    assert_int_equal(ids.v[0], 1);
    assert_int_equal(ids.v[1], 262);
    lm_ids_free(&ids);
}

static void unknown_characters_fall_back_to_bytes(void **state)
{
    lm_tokenizer *t = *state;
    EXPECT_IDS(t, "\xC3\xA9", 1, 264);      /* é is in the vocabulary */
    EXPECT_IDS(t, "\xC3\xBC", 1, 197, 190); /* ü is not: <0xC3> <0xBC> */
    EXPECT_IDS(t, "a\xF0\x9F\x98\x80", 1, 259, 242, 161, 154, 130); /* 😀: four byte tokens */
    const int32_t u[] = {197, 190};
    expect_text(t, u, 2, "\xC3\xBC");
}

static void added_tokens_match_the_raw_text(void **state)
{
    lm_tokenizer *t = *state;
    EXPECT_IDS(t, "<start_of_turn>ab", 1, 265, 262);
    /* not matched: '<' and the rest are not in the vocabulary, so bytes */
    EXPECT_IDS(t, "<s", 0, 2 + '<', 2 + 's');
    EXPECT_IDS(t, "\xE2\x96\x81\xE2\x96\x81" "b", 1, 266, 260); /* "▁▁" as written, not "  " */
    assert_int_equal(lm_tokenizer_token_id(t, "<start_of_turn>"), 265);
    assert_true(lm_tokenizer_is_special(t, 265));
    assert_false(lm_tokenizer_is_special(t, 266));
    const int32_t ids[] = {265, 266};
    expect_text(t, ids, 2, "<start_of_turn>  "); /* the decoder's Replace runs on added tokens too */
}

static void stream_holds_byte_tokens_of_one_character(void **state)
{
    lm_tokenizer *t = *state;
    lm_detok_stream s;
    lm_detok_init(&s, t);
    lm_bytes out = {0};
    lm_err e;
    const int32_t emoji[] = {242, 161, 154, 130}; /* F0 9F 98 80 */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lm_detok_feed(&s, emoji[i], &out, &e), 0);
        assert_int_equal(out.n, 0);
    }
    assert_int_equal(lm_detok_feed(&s, emoji[3], &out, &e), 0);
    assert_int_equal(out.n, 4);
    assert_memory_equal(out.v, "\xF0\x9F\x98\x80", 4);
    assert_int_equal(lm_detok_feed(&s, 263, &out, &e), 0);
    assert_int_equal(lm_detok_flush(&s, &out, &e), 0);
    assert_int_equal(out.n, 7);
    assert_memory_equal(out.v + 4, " ab", 3);
    lm_bytes_free(&out);
}

/* The tiny file with one field replaced, loaded: the error it gives. */
static void expect_load_error(const char *field, const char *json_value, const char *want)
{
    json_error_t jerr;
    json_t *root = json_load_file(SPM_JSON, 0, &jerr);
    assert_non_null(root);
    json_t *v = json_loads(json_value, JSON_DECODE_ANY, &jerr);
    assert_non_null(v);
    if (strcmp(field, "model.vocab.<0x41>") == 0) {
        json_object_del(json_object_get(json_object_get(root, "model"), "vocab"), "<0x41>");
        json_decref(v);
    } else {
        json_object_set_new(root, field, v);
    }
    char dir[] = "/tmp/lmcc-tok-spm-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(path, &e);
    remove_tree(dir);
    assert_null(t);
    if (!strstr(e.msg, want))
        fail_msg("expected '%s' in: %s", want, e.msg);
}

static void unsupported_steps_are_errors(void **state)
{
    (void)state;
    expect_load_error("decoder",
                      "{\"type\": \"Sequence\", \"decoders\": [{\"type\": \"ByteFallback\"}, "
                      "{\"type\": \"Fuse\"}, {\"type\": \"Strip\", \"content\": \" \", \"start\": 1, "
                      "\"stop\": 0}]}",
                      "decoder step 'Strip' after Fuse");
    expect_load_error("decoder", "{\"type\": \"Metaspace\"}", "decoder 'Metaspace' is not supported");
    expect_load_error("decoder", "null", "no decoder");
    expect_load_error("normalizer",
                      "{\"type\": \"Replace\", \"pattern\": {\"Regex\": \" +\"}, \"content\": \"x\"}",
                      "Regex patterns");
    expect_load_error("normalizer", "{\"type\": \"NFKC\"}", "normalizer 'NFKC' is not supported");
    expect_load_error("pre_tokenizer", "{\"type\": \"Metaspace\"}", "pre_tokenizer 'Metaspace'");
    expect_load_error("model.vocab.<0x41>", "0", "no token <0x41>");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(space_marker_and_merges, load_spm, free_spm),
        cmocka_unit_test_setup_teardown(unknown_characters_fall_back_to_bytes, load_spm, free_spm),
        cmocka_unit_test_setup_teardown(added_tokens_match_the_raw_text, load_spm, free_spm),
        cmocka_unit_test_setup_teardown(stream_holds_byte_tokens_of_one_character, load_spm,
                                        free_spm),
        cmocka_unit_test(unsupported_steps_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
