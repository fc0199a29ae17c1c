/* The tokenizer core on tiny hand-made vocabularies: merge order by rank,
 * the byte-level mapping of bytes no merge covers, added tokens, streaming
 * decode of split characters, tiktoken's rule, and load errors. */
#include "testutil.h"

#include <jansson.h>

#include "text/chat_template.h"
#include "text/tokenizer.h"

static const char QWEN_SPLIT[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static char g_dir[256];

/* Token id b for each byte b; then ab=256, bc=257, abc=258; merges ranked
 * (b,c) < (a,b) < (a,bc): "abc" reaches abc only when (b,c) goes first. Added: <|end|>=300 special,
 * <|end|>!=301 special, <x>=302 not special. */
static char *write_tiny_json(const char *name, int drop_byte, const char *bad_merge)
{
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char c[3];
        byte_char(b, c);
        if (b != drop_byte)
            json_object_set_new(vocab, c, json_integer(b));
    }
    json_object_set_new(vocab, "ab", json_integer(256));
    json_object_set_new(vocab, "bc", json_integer(257));
    json_object_set_new(vocab, "abc", json_integer(258));
    json_t *merges = json_pack("[s, [s, s], s]", "b c", "a", "b", "a bc");
    if (bad_merge)
        json_array_append_new(merges, json_string(bad_merge));
    json_t *added = json_pack(
        "[{s:i, s:s, s:b, s:b, s:b, s:b, s:b}, {s:i, s:s, s:b}, {s:i, s:s, s:b}]", "id", 300,
        "content", "<|end|>", "special", 1, "lstrip", 0, "rstrip", 0, "normalized", 0,
        "single_word", 0, "id", 301, "content", "<|end|>!", "special", 1, "id", 302, "content",
        "<x>", "special", 0);
    json_t *root = json_pack(
        "{s:o, s:{s:s}, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}, s:{s:s}, "
        "s:{s:s, s:o, s:o}}",
        "added_tokens", added, "normalizer", "type", "NFC", "pre_tokenizer", "type", "Sequence",
        "pretokenizers", "type", "Split", "pattern", "Regex", QWEN_SPLIT, "behavior", "Isolated",
        "invert", 0, "type", "ByteLevel", "add_prefix_space", 0, "use_regex", 0, "decoder", "type",
        "ByteLevel", "model", "type", "BPE", "vocab", vocab, "merges", merges);
    assert_non_null(root);
    char *path = malloc(512);
    snprintf(path, 512, "%s/%s", g_dir, name);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
    return path;
}

static lm_tokenizer *load_tiny(void)
{
    char *path = write_tiny_json("tokenizer.json", -1, NULL);
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(path, &e);
    if (!t)
        fail_msg("%s", e.msg);
    free(path);
    return t;
}

static void expect_ids(lm_tokenizer *t, const char *text, int allow_special, const int32_t *want,
                       size_t n)
{
    lm_ids ids = {0};
    lm_err e;
    assert_int_equal(lm_tokenizer_encode(t, text, strlen(text), allow_special, &ids, &e), 0);
    assert_int_equal(ids.n, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ids.v[i], want[i]);
    lm_ids_free(&ids);
}

static void merges_apply_by_rank(void **state)
{
    lm_tokenizer *t = load_tiny();
    /* (b,c) outranks (a,b): a|bc, then (a,bc) -> abc; merging (a,b) first
     * would strand ab|c, as no (ab,c) merge exists. */
    expect_ids(t, "abc", 1, (int32_t[]){258}, 1);
    /* ab ab: (a,b) merges twice, leftmost first. */
    expect_ids(t, "abab", 1, (int32_t[]){256, 256}, 2);
    /* "bcb": (b,c) first -> bc|b; nothing merges (bc,b). */
    expect_ids(t, "bcb", 1, (int32_t[]){257, 'b'}, 2);
    assert_int_equal(lm_tokenizer_vocab_size(t), 303);
    lm_tokenizer_free(t);
}

static void unmerged_bytes_map_to_byte_tokens(void **state)
{
    lm_tokenizer *t = load_tiny();
    /* "你" = e4 bd a0 and a space: no merges cover them; each byte is its own
     * byte-level token. The split puts the space before the word. */
    expect_ids(t, "\xe4\xbd\xa0 ab", 1, (int32_t[]){0xe4, 0xbd, 0xa0, ' ', 256}, 5);
    lm_ids ids = {0};
    lm_bytes out = {0};
    lm_err e;
    const char text[] = "x\ty\r\n\x01 \xc3\xa9";
    assert_int_equal(lm_tokenizer_encode(t, text, sizeof text - 1, 1, &ids, &e), 0);
    assert_int_equal(lm_tokenizer_decode(t, ids.v, ids.n, &out, &e), 0);
    assert_int_equal(out.n, sizeof text - 1);
    assert_memory_equal(out.v, text, sizeof text - 1);
    lm_ids_free(&ids);
    lm_bytes_free(&out);
    lm_tokenizer_free(t);
}

static void nfc_is_applied_outside_added_tokens(void **state)
{
    lm_tokenizer *t = load_tiny();
    /* e + U+0301 composes to U+00E9 = c3 a9. */
    expect_ids(t, "e\xcc\x81", 1, (int32_t[]){0xc3, 0xa9}, 2);
    lm_tokenizer_free(t);
}

static void added_tokens_match_longest_first(void **state)
{
    lm_tokenizer *t = load_tiny();
    expect_ids(t, "ab<|end|>ab", 1, (int32_t[]){256, 300, 256}, 3);
    expect_ids(t, "<|end|>!<|end|>", 1, (int32_t[]){301, 300}, 2);
    /* Not allowed: the special text is plain bytes; <x> is not special and still matches. */
    lm_ids ids = {0};
    lm_err e;
    assert_int_equal(lm_tokenizer_encode(t, "<|end|><x>", 10, 0, &ids, &e), 0);
    assert_true(ids.n > 2);
    assert_int_equal(ids.v[ids.n - 1], 302);
    for (size_t i = 0; i + 1 < ids.n; i++)
        assert_true(ids.v[i] < 256);
    lm_ids_free(&ids);
    assert_int_equal(lm_tokenizer_token_id(t, "<|end|>"), 300);
    assert_int_equal(lm_tokenizer_token_id(t, "<x>"), 302);
    assert_int_equal(lm_tokenizer_token_id(t, "abc"), 258);
    assert_int_equal(lm_tokenizer_token_id(t, "nope"), -1);
    assert_true(lm_tokenizer_is_special(t, 300));
    assert_false(lm_tokenizer_is_special(t, 302));
    assert_false(lm_tokenizer_is_special(t, 256));
    lm_bytes out = {0};
    assert_int_equal(lm_tokenizer_decode(t, (int32_t[]){256, 300, 302}, 3, &out, &e), 0);
    assert_string_equal(out.v, "ab<|end|><x>");
    /* 299 is a hole in the vocabulary and 5000 past it: no text, as
     * transformers decodes them; a negative id is an error. */
    out.n = 0;
    assert_int_equal(lm_tokenizer_decode(t, (int32_t[]){256, 299, 5000, 256}, 4, &out, &e), 0);
    assert_string_equal(out.v, "abab");
    assert_int_equal(lm_tokenizer_decode(t, (int32_t[]){-4}, 1, &out, &e), -1);
    assert_non_null(strstr(e.msg, "-4"));
    lm_bytes_free(&out);
    lm_tokenizer_free(t);
}

static void stream_holds_partial_characters(void **state)
{
    lm_tokenizer *t = load_tiny();
    lm_detok_stream s;
    lm_detok_init(&s, t);
    lm_bytes out = {0};
    lm_err e;
    /* 你 arrives one byte per token: nothing until the third. */
    assert_int_equal(lm_detok_feed(&s, 0xe4, &out, &e), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(lm_detok_feed(&s, 0xbd, &out, &e), 0);
    assert_int_equal(out.n, 0);
    assert_int_equal(lm_detok_feed(&s, 0xa0, &out, &e), 0);
    assert_string_equal(out.v, "\xe4\xbd\xa0");
    assert_int_equal(lm_detok_feed(&s, 256, &out, &e), 0);
    assert_string_equal(out.v, "\xe4\xbd\xa0" "ab");
    /* A 4-byte emoji's first byte, then an added token: never completes,
     * so it goes out before the token's text. */
    assert_int_equal(lm_detok_feed(&s, 0xf0, &out, &e), 0);
    assert_int_equal(lm_detok_feed(&s, 0x9f, &out, &e), 0);
    assert_string_equal(out.v, "\xe4\xbd\xa0" "ab");
    assert_int_equal(lm_detok_feed(&s, 300, &out, &e), 0);
    assert_string_equal(out.v, "\xe4\xbd\xa0" "ab\xf0\x9f<|end|>");
    /* A byte no character starts with is passed through at once. */
    assert_int_equal(lm_detok_feed(&s, 0xff, &out, &e), 0);
    assert_int_equal(out.v[out.n - 1], (char)0xff);
    /* Flush hands over what is held. */
    size_t before = out.n;
    assert_int_equal(lm_detok_feed(&s, 0xc3, &out, &e), 0);
    assert_int_equal(out.n, before);
    assert_int_equal(lm_detok_flush(&s, &out, &e), 0);
    assert_int_equal(out.n, before + 1);
    before = out.n;
    assert_int_equal(lm_detok_feed(&s, 5000, &out, &e), 0);
    assert_int_equal(out.n, before);
    assert_int_equal(lm_detok_feed(&s, -1, &out, &e), -1);
    lm_bytes_free(&out);
    lm_tokenizer_free(t);
}

static void invalid_utf8_becomes_replacement_characters(void **state)
{
    char *fixed;
    size_t n;
    lm_err e;
    assert_int_equal(lm_utf8_lossy("ok", 2, &fixed, &n, &e), 0);
    /* Maximal subparts: e6 a0 is one, c0 and af are one each, ed a0 80 is three. */
    const char bad[] = "\xe6\xa0|\xc0\xaf|\xed\xa0\x80|\xf0\x9f\x98";
    assert_int_equal(lm_utf8_lossy(bad, sizeof bad - 1, &fixed, &n, &e), 1);
    const char want[] = "\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd|\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd|"
                        "\xef\xbf\xbd";
    assert_int_equal(n, sizeof want - 1);
    assert_memory_equal(fixed, want, n);
    free(fixed);
    lm_tokenizer *t = load_tiny();
    lm_ids ids = {0};
    assert_int_equal(lm_tokenizer_encode(t, bad, sizeof bad - 1, 1, &ids, &e), 0);
    assert_true(ids.n > 0);
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
}

static void tiktoken_merges_by_concatenated_rank(void **state)
{
    char path[512];
    snprintf(path, sizeof path, "%s/qwen.tiktoken", g_dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int b = 0; b < 256; b++) /* one byte -> 2 chars + "==" */
        fprintf(f, "%c%c== %d\n", b64[b >> 2], b64[(b & 3) << 4], b);
    fprintf(f, "YWI= 256\nYWJj 257\n"); /* "ab", "abc" */
    fclose(f);
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(g_dir, &e); /* tokenizer.json absent: tiktoken */
    if (!t)
        fail_msg("%s", e.msg);
    assert_int_equal(lm_tokenizer_format_of(t), LM_TOKENIZER_TIKTOKEN);
    lm_chat_format chat;
    assert_int_equal(lm_chat_format_detect(g_dir, t, &chat, &e), 0);
    assert_int_equal(chat, LM_CHAT_CHATML); /* no chat_template: qwen.tiktoken means ChatML */
    /* abcab: ab+c+ab, then "abc" (257) outranks nothing else: abc|ab. */
    expect_ids(t, "abcab", 1, (int32_t[]){257, 256}, 2);
    expect_ids(t, "<|endoftext|><|im_start|><|im_end|><|extra_0|>", 1,
               (int32_t[]){258, 259, 260, 261}, 4);
    assert_int_equal(lm_tokenizer_token_id(t, "<|extra_204|>"), 258 + 3 + 204);
    assert_int_equal(lm_tokenizer_vocab_size(t), 258 + 3 + 205);
    lm_tokenizer_free(t);
    unlink(path);
}

static void chat_renders_qwen3_and_chatml(void **state)
{
    lm_chat_msg msgs[] = {
        {"user", "Q1", NULL},
        {"assistant", "<think>\nr1\n</think>\n\nA1", NULL},
        {"user", "Q2", NULL},
    };
    lm_bytes out = {0};
    lm_err e;
    lm_chat_opts o = {.add_generation_prompt = 1, .enable_thinking = 0};
    assert_int_equal(lm_chat_render(LM_CHAT_QWEN3, msgs, 3, o, &out, &e), 0);
    assert_string_equal(out.v, "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
                               "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\n"
                               "<think>\n\n</think>\n\n");
    out.n = 0;
    assert_int_equal(lm_chat_render(LM_CHAT_CHATML, msgs, 1, o, &out, &e), 0);
    assert_string_equal(out.v, "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                               "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\n");
    lm_chat_msg bad[] = {{"robot", "x", NULL}};
    assert_int_equal(lm_chat_render(LM_CHAT_QWEN3, bad, 1, o, &out, &e), -1);
    assert_non_null(strstr(e.msg, "robot"));
    lm_bytes_free(&out);
}

/* The tiny tokenizer with its post_processor replaced by pp (stolen). */
static char *write_with_post_processor(const char *name, json_t *pp)
{
    char *base = write_tiny_json(name, -1, NULL);
    json_error_t jerr;
    json_t *root = json_load_file(base, 0, &jerr);
    assert_non_null(root);
    json_object_set_new(root, "post_processor", pp);
    assert_int_equal(json_dump_file(root, base, 0), 0);
    json_decref(root);
    return base;
}

static json_t *template_processing(const char *before, const char *after)
{
    json_t *single = json_array();
    json_t *specials = json_object();
    const char *names[2] = {before, after};
    for (int i = 0; i < 2; i++) {
        if (i == 1)
            json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "Sequence", "id", "A", "type_id", 0));
        if (!names[i])
            continue;
        json_array_append_new(single, json_pack("{s:{s:s, s:i}}", "SpecialToken", "id", names[i], "type_id", 0));
        if (strcmp(names[i], "<unlisted>") != 0)
            json_object_set_new(specials, names[i], json_pack("{s:s, s:[i], s:[s]}", "id", names[i], "ids",
                                                              strcmp(names[i], "<x>") ? 300 : 302,
                                                              "tokens", names[i]));
    }
    return json_pack("{s:s, s:[{s:s}, {s:s, s:o, s:o}]}", "type", "Sequence", "processors", "type",
                     "ByteLevel", "type", "TemplateProcessing", "single", single, "special_tokens", specials);
}

static void post_processor_template_wraps_prompts(void **state)
{
    char *path = write_with_post_processor("templated.json", template_processing("<|end|>", "<x>"));
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(path, &e);
    if (!t)
        fail_msg("%s", e.msg);
    lm_ids ids = {0};
    assert_int_equal(lm_tokenizer_encode_prompt(t, "ab", 2, 1, &ids, &e), 0);
    assert_int_equal(ids.n, 3);
    assert_int_equal(ids.v[0], 300);
    assert_int_equal(ids.v[1], 256);
    assert_int_equal(ids.v[2], 302);
    ids.n = 0; /* lm_tokenizer_encode leaves the template out */
    assert_int_equal(lm_tokenizer_encode(t, "ab", 2, 1, &ids, &e), 0);
    assert_int_equal(ids.n, 1);
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
    free(path);

    path = write_with_post_processor("templated.json", template_processing("<unlisted>", NULL));
    assert_null(lm_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "single[0]"));
    free(path);
    path = write_with_post_processor("templated.json", json_pack("{s:s}", "type", "BertProcessing"));
    assert_null(lm_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "'BertProcessing' is not supported"));
    free(path);
}

static void write_config_template(const char *template)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", g_dir);
    json_t *root = json_pack("{s:s}", "chat_template", template);
    assert_int_equal(json_dump_file(root, path, 0), 0);
    json_decref(root);
}

static void chat_format_comes_from_the_template(void **state)
{
    lm_tokenizer *t = load_tiny();
    lm_chat_format f;
    lm_err e;
    write_config_template("{{ bos_token }}<|start_header_id|>{{ m }}<|end_header_id|>");
    assert_int_equal(lm_chat_format_detect(g_dir, t, &f, &e), 0);
    assert_int_equal(f, LM_CHAT_LLAMA3);
    write_config_template("{{- \"Cutting Knowledge Date: December 2023\" }}<|start_header_id|>");
    assert_int_equal(lm_chat_format_detect(g_dir, t, &f, &e), 0);
    assert_int_equal(f, LM_CHAT_LLAMA31);
    /* Llama 3's own file, whose model_max_length is no 64-bit integer
     * (found by the chat_detect fuzz target's seed). */
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer_config.json", g_dir);
    FILE *cfg = fopen(path, "w");
    assert_non_null(cfg);
    fputs("{\"chat_template\": \"<|start_header_id|>\", "
          "\"model_max_length\": 1000000000000000019884624838656}", cfg);
    fclose(cfg);
    assert_int_equal(lm_chat_format_detect(g_dir, t, &f, &e), 0);
    assert_int_equal(f, LM_CHAT_LLAMA3);
    write_config_template("{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}");
    assert_int_equal(lm_chat_format_detect(g_dir, t, &f, &e), -1);
    assert_non_null(strstr(e.msg, "not one lmcc renders"));
    assert_non_null(strstr(e.msg, "tokenizer_config.json"));
    for (int k = LM_CHAT_QWEN3; k <= LM_CHAT_GEMMA3; k++) {
        assert_int_equal(lm_chat_format_parse(lm_chat_format_name((lm_chat_format)k), &f), 0);
        assert_int_equal(f, k);
    }
    assert_int_equal(lm_chat_format_parse("llama4", &f), -1);

    /* Llama 3.1: the system block is always there; contents are trimmed. */
    lm_chat_msg msgs[] = {{"user", " \xE3\x80\x80Hi\n", NULL}};
    lm_bytes out = {0};
    lm_chat_opts o = {.add_generation_prompt = 1};
    assert_int_equal(lm_chat_render(LM_CHAT_LLAMA31, msgs, 1, o, &out, &e), 0);
    assert_string_equal(out.v, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
                               "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
                               "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                               "<|start_header_id|>assistant<|end_header_id|>\n\n");
    out.n = 0;
    assert_int_equal(lm_chat_render(LM_CHAT_QWEN25, msgs, 1, o, &out, &e), 0);
    assert_non_null(strstr(out.v, "You are Qwen, created by Alibaba Cloud."));
    lm_bytes_free(&out);
    lm_tokenizer_free(t);
}

static void load_errors_are_reported(void **state)
{
    lm_err e;
    assert_null(lm_tokenizer_load("/nonexistent/tokenizer.json", &e));
    assert_non_null(strstr(e.msg, "no such file"));
    char *path = write_tiny_json("nobyte.json", 0x41, NULL);
    assert_null(lm_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "0x41"));
    free(path);
    path = write_tiny_json("badmerge.json", -1, "a zz");
    assert_null(lm_tokenizer_load(path, &e));
    assert_non_null(strstr(e.msg, "merges[3]"));
    free(path);
    char bad[512];
    snprintf(bad, sizeof bad, "%s/broken.json", g_dir);
    FILE *f = fopen(bad, "w");
    fputs("{\"model\": {", f);
    fclose(f);
    assert_null(lm_tokenizer_load(bad, &e));
    assert_non_null(strstr(e.msg, "broken.json:"));
    snprintf(bad, sizeof bad, "%s/broken.tiktoken", g_dir);
    f = fopen(bad, "w");
    fputs("YQ== 0\nnot base64! 1\n", f);
    fclose(f);
    assert_null(lm_tokenizer_load(bad, &e));
    assert_non_null(strstr(e.msg, "broken.tiktoken:2"));
}

static int make_dir(void **state)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/lmcc-test-tokenizer-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    const char *names[] = {"tokenizer.json", "nobyte.json", "badmerge.json", "broken.json",
                           "broken.tiktoken", "qwen.tiktoken", "templated.json", "tokenizer_config.json"};
    char p[512];
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", g_dir, names[i]);
        unlink(p);
    }
    return rmdir(g_dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* tiktoken first: it needs the directory without tokenizer.json */
        cmocka_unit_test(tiktoken_merges_by_concatenated_rank),
        cmocka_unit_test(merges_apply_by_rank),
        cmocka_unit_test(unmerged_bytes_map_to_byte_tokens),
        cmocka_unit_test(nfc_is_applied_outside_added_tokens),
        cmocka_unit_test(added_tokens_match_longest_first),
        cmocka_unit_test(stream_holds_partial_characters),
        cmocka_unit_test(invalid_utf8_becomes_replacement_characters),
        cmocka_unit_test(chat_renders_qwen3_and_chatml),
        cmocka_unit_test(load_errors_are_reported),
        cmocka_unit_test(post_processor_template_wraps_prompts),
        cmocka_unit_test(chat_format_comes_from_the_template),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
