/* Resource limits on hostile input (issue 18, item 2): each input below is
 * refused with one clear error, or handled in time and memory linear in
 * its size, never by exhausting either. The safetensors header limits
 * (a length near 2^64 or past the file, a header over 100 MiB, a shape
 * whose byte size overflows) are in test_safetensors.c. */
#include "testutil.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_yaml.h"
#include "registry.h"
#include "text/tokenizer.h"
#include "weights/bind.h"
#include "weights/checkpoint.h"

static int setup_dir(void **state)
{
    return setup_temp_dir(state, "/tmp/lmcc-limits-XXXXXX");
}

/* A growable string, for the large inputs the tests generate. */
typedef struct text {
    char *v;
    size_t n, cap;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->n + n + 1 > t->cap) {
        t->cap = (t->n + n + 1) * 2;
        t->v = realloc(t->v, t->cap);
        assert_non_null(t->v);
    }
    memcpy(t->v + t->n, s, n);
    t->n += n;
    t->v[t->n] = '\0';
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void expect_msg(const lm_err *e, const char *want)
{
    if (!strstr(e->msg, want))
        fail_msg("expected an error containing \"%s\", got \"%s\"", want, e->msg);
}

/* depth '[' then depth ']': JSON nested depth deep. */
static void nested_json(text *t, size_t depth)
{
    for (size_t i = 0; i < depth; i++)
        puts_(t, "[");
    for (size_t i = 0; i < depth; i++)
        puts_(t, "]");
}

/* ---- deeply nested JSON -------------------------------------------------- */

/* jansson stops at 2048 levels (JSON_PARSER_MAX_DEPTH), so a million
 * brackets cost one pass and no recursion: each JSON reader refuses them
 * as invalid JSON, naming the file. */
static void test_nested_json(void **state)
{
    const char *dir = *state;
    text j = {0};
    puts_(&j, "{\"a\":");
    nested_json(&j, 1000000);
    puts_(&j, "}");

    /* A safetensors header (padded to 8 bytes). */
    size_t padded = (j.n + 7) / 8 * 8;
    unsigned char *st = calloc(1, 8 + padded);
    assert_non_null(st);
    for (int i = 0; i < 8; i++)
        st[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(st + 8, j.v, j.n);
    memset(st + 8 + j.n, ' ', padded - j.n);
    write_file(dir, "model.safetensors", st, 8 + padded);
    free(st);
    lm_err e = {{0}};
    assert_null(lm_checkpoint_open(dir, &e));
    expect_msg(&e, "model.safetensors: header is not valid JSON");
    expect_msg(&e, "maximum parsing depth");

    /* model.safetensors.index.json */
    write_file(dir, "model.safetensors.index.json", j.v, j.n);
    assert_null(lm_checkpoint_open(dir, &e));
    expect_msg(&e, "model.safetensors.index.json:1:");
    expect_msg(&e, "maximum parsing depth");

    /* config.json */
    write_file(dir, "config.json", j.v, j.n);
    lm_model_desc d = {.name = "t", .arch = "qwen3"};
    assert_int_equal(lm_check_hf_config(&d, dir, &e), -1);
    expect_msg(&e, "config.json");
    expect_msg(&e, "maximum parsing depth");

    /* tokenizer.json */
    write_file(dir, "tokenizer.json", j.v, j.n);
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    assert_null(lm_tokenizer_load(path, &e));
    expect_msg(&e, "tokenizer.json:1:");
    expect_msg(&e, "maximum parsing depth");
    free(j.v);
}

/* ---- YAML alias expansion ------------------------------------------------ */

/* The billion laughs: nine levels of anchors, each alias used ten times,
 * expand to 10^9 strings. Configs and the registry take no aliases at all,
 * so the first one is refused where it stands, before anything expands. */
static void test_yaml_billion_laughs(void **state)
{
    text y = {0};
    puts_(&y, "arch: qwen3\nl0: &l0 \"lol\"\n");
    for (int level = 1; level <= 9; level++) {
        char line[256];
        snprintf(line, sizeof line, "l%d: &l%d [*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d,*l%d]\n",
                 level, level, level - 1, level - 1, level - 1, level - 1, level - 1, level - 1,
                 level - 1, level - 1, level - 1, level - 1);
        puts_(&y, line);
    }
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    lm_err e = {{0}};
    assert_int_equal(config_load_yaml_string(L, y.v, y.n, "laughs.yaml", &e), -1);
    expect_msg(&e, "laughs.yaml:3:");
    expect_msg(&e, "aliases (*l0) are not supported");
    lua_close(L);

    write_file(*state, "registry.yaml", y.v, y.n);
    char path[512];
    snprintf(path, sizeof path, "%s/registry.yaml", (const char *)*state);
    registry r;
    assert_int_equal(registry_load(&r, path, &e), -1);
    expect_msg(&e, "registry.yaml");
    free(y.v);
}

/* Nesting deeper than CONFIG_YAML_MAX_DEPTH is refused, not recursed into. */
static void test_yaml_deep_nesting(void **state)
{
    text y = {0};
    puts_(&y, "arch: qwen3\nx: ");
    for (int i = 0; i < 100000; i++)
        puts_(&y, "[");
    lua_State *L = luaL_newstate();
    lm_err e = {{0}};
    assert_int_equal(config_load_yaml_string(L, y.v, y.n, "deep.yaml", &e), -1);
    expect_msg(&e, "deep.yaml:");
    lua_close(L);
    free(y.v);
}

/* ---- tokenizer.json: millions of merges, a pathological regex ------------ */

/* The 92 printable ASCII characters that stand for themselves in the
 * byte-level alphabet and need no JSON escape. */
static const char *byte_level_chars(void)
{
    static char cs[128];
    if (!cs[0]) {
        int n = 0;
        for (int c = '!'; c <= '~'; c++)
            if (c != '"' && c != '\\')
                cs[n++] = (char)c;
        cs[n] = '\0';
    }
    return cs;
}

/* The character byte b stands for in the byte-level alphabet (GPT-2's:
 * printable bytes themselves, the others U+0100 onwards in byte order),
 * as a JSON string body. */
static void byte_level_json(int b, char *out)
{
    int cp = b, n = 0;
    if (!((b >= '!' && b <= '~') || (b >= 0xa1 && b <= 0xac) || b >= 0xae)) {
        for (int c = 0; c < b; c++)
            n += !((c >= '!' && c <= '~') || (c >= 0xa1 && c <= 0xac) || c >= 0xae);
        cp = 256 + n;
    }
    if (cp == '"' || cp == '\\')
        sprintf(out, "\\%c", cp);
    else if (cp < 0x80)
        sprintf(out, "%c", cp);
    else
        sprintf(out, "%c%c", 0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
}

/* A byte-level BPE tokenizer.json: the 256 byte tokens (ids 0..255), then
 * n_merges tokens, each an earlier printable token plus one of the 92
 * printable characters (breadth first), merged in that order; regex is the
 * Split pattern (a JSON string body). */
static void many_merges_json(text *t, size_t n_merges, const char *regex)
{
    const char *cs = byte_level_chars();
    size_t n_cs = strlen(cs), n_tok = n_cs + n_merges;
    char (*tok)[8] = calloc(n_tok, sizeof *tok);
    assert_non_null(tok);
    for (size_t i = 0; i < n_cs; i++)
        tok[i][0] = cs[i];
    for (size_t i = n_cs, parent = 0; i < n_tok; parent++)
        for (size_t c = 0; c < n_cs && i < n_tok; c++, i++)
            snprintf(tok[i], sizeof tok[i], "%s%c", tok[parent], cs[c]);
    puts_(t, "{\"normalizer\":null,\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"");
    puts_(t, regex);
    puts_(t, "\"},\"behavior\":\"Isolated\",\"invert\":false},{\"type\":\"ByteLevel\","
             "\"add_prefix_space\":false,\"trim_offsets\":false,\"use_regex\":false}]},"
             "\"post_processor\":null,\"decoder\":{\"type\":\"ByteLevel\"},\"added_tokens\":[],"
             "\"model\":{\"type\":\"BPE\",\"vocab\":{");
    char buf[64], ch[8];
    for (int b = 0; b < 256; b++) {
        byte_level_json(b, ch);
        snprintf(buf, sizeof buf, "%s\"%s\":%d", b ? "," : "", ch, b);
        puts_(t, buf);
    }
    for (size_t i = n_cs; i < n_tok; i++) {
        snprintf(buf, sizeof buf, ",\"%s\":%zu", tok[i], 256 + (i - n_cs));
        puts_(t, buf);
    }
    puts_(t, "},\"merges\":[");
    for (size_t i = n_cs; i < n_tok; i++) {
        size_t len = strlen(tok[i]);
        snprintf(buf, sizeof buf, "%s\"%.*s %c\"", i > n_cs ? "," : "", (int)(len - 1), tok[i],
                 tok[i][len - 1]);
        puts_(t, buf);
    }
    puts_(t, "]}}");
    free(tok);
}

/* many_merges_json written to dir/tokenizer.json and loaded. */
static lm_tokenizer *load_generated(const char *dir, size_t n_merges, const char *regex, lm_err *e)
{
    text j = {0};
    many_merges_json(&j, n_merges, regex);
    write_file(dir, "tokenizer.json", j.v, j.n);
    free(j.v);
    char path[512];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    return lm_tokenizer_load(path, e);
}

/* A million merges (a 25 MB file, 6.6 times Qwen's 151387) load in time
 * and memory linear in the file, and the deepest merge is applied. */
#define N_MERGES 1000000
static void test_millions_of_merges(void **state)
{
    lm_err e = {{0}};
    lm_tokenizer *t = load_generated(*state, N_MERGES, "[!-~]+", &e);
    if (!t)
        fail_msg("%s", e.msg);
    assert_int_equal(lm_tokenizer_vocab_size(t), 256 + N_MERGES);
    /* "!!!" is "!" + "!" (rank 0) then "!!" + "!": one token, two merges. */
    int32_t want = lm_tokenizer_token_id(t, "!!!");
    assert_true(want >= 256);
    lm_ids ids = {0};
    assert_int_equal(lm_tokenizer_encode(t, "!!!", 3, 0, &ids, &e), 0);
    assert_int_equal(ids.n, 1);
    assert_int_equal(ids.v[0], want);
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
}

/* A Split regex with catastrophic backtracking, (a+)+$, against 4096 'a'
 * and a '!': PCRE2's match limit (10^7 steps) ends the attempt, and the
 * encode fails with one error instead of running 2^4096 steps. */
static void test_pathological_regex(void **state)
{
    lm_err e = {{0}};
    lm_tokenizer *t = load_generated(*state, 100, "(a+)+$", &e);
    if (!t)
        fail_msg("%s", e.msg);
    char s[4098];
    memset(s, 'a', 4096);
    memcpy(s + 4096, "!", 2);
    lm_ids ids = {0};
    assert_int_equal(lm_tokenizer_encode(t, s, 4097, 0, &ids, &e), -1);
    expect_msg(&e, "split regex failed: match limit exceeded");
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
}

/* A regex PCRE2 cannot compile is refused at load, naming the file. */
static void test_bad_regex(void **state)
{
    lm_err e = {{0}};
    assert_null(load_generated(*state, 10, "(unclosed", &e));
    expect_msg(&e, "tokenizer.json");
}

/* ---- a prompt of a million bytes ----------------------------------------- */

/* A million bytes of mixed text (words, digits, CJK, contractions,
 * newlines, tabs) encode with Qwen3's pre-split regex in time linear in
 * the bytes, and decode back to the same text. */
static void test_million_byte_prompt(void **state)
{
    lm_err e = {{0}};
    lm_tokenizer *t = lm_tokenizer_load(TEST_DATA_DIR "/../fuzz/data/tokenizer.json", &e);
    if (!t)
        fail_msg("%s", e.msg);
    static const char unit[] = "Hello, world! 12345 \xe4\xbd\xa0\xe5\xa5\xbd it's\n\n  tabs\t";
    text p = {0};
    while (p.n < 1000000)
        puts_(&p, unit);
    lm_ids ids = {0};
    assert_int_equal(lm_tokenizer_encode(t, p.v, p.n, 1, &ids, &e), 0);
    assert_true(ids.n > p.n / 16);
    lm_bytes back = {0};
    assert_int_equal(lm_tokenizer_decode(t, ids.v, ids.n, &back, &e), 0);
    assert_int_equal(back.n, p.n);
    assert_memory_equal(back.v, p.v, p.n);
    lm_bytes_free(&back);
    lm_ids_free(&ids);
    free(p.v);
    lm_tokenizer_free(t);
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_temp_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DIR_TEST(test_nested_json),
        DIR_TEST(test_yaml_billion_laughs),
        cmocka_unit_test(test_yaml_deep_nesting),
        DIR_TEST(test_millions_of_merges),
        DIR_TEST(test_pathological_regex),
        DIR_TEST(test_bad_regex),
        cmocka_unit_test(test_million_byte_prompt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
