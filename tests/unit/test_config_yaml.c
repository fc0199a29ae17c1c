/* Config YAML loader: core-schema scalar types, nesting, marks, the null
 * sentinel, every error with its line:col, and arbitrary bytes. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lauxlib.h>
#include <lualib.h>

#include "config_yaml.h"

#define NAME "t.yaml"

static lua_State *L;
static lm_err err;

static int open_lua(void **state)
{
    (void)state;
    L = luaL_newstate();
    return L ? 0 : -1;
}

static int close_lua(void **state)
{
    (void)state;
    lua_close(L);
    L = NULL;
    return 0;
}

/* Loads text; on success leaves [config marks] on the stack. */
static int load(const char *text)
{
    int top = lua_gettop(L);
    memset(&err, 0, sizeof err);
    int rc = config_load_yaml_string(L, text, strlen(text), NAME, &err);
    assert_int_equal(lua_gettop(L), top + (rc == 0 ? 2 : 0));
    if (rc != 0)
        assert_true(err.msg[0] != '\0');
    return rc;
}

static void load_ok(const char *text)
{
    if (load(text) != 0)
        fail_msg("unexpected error: %s", err.msg);
}

/* The text must fail with a message "t.yaml:line:col: ..." containing what. */
static void load_fails(const char *text, int line, int col, const char *what)
{
    int top = lua_gettop(L);
    assert_int_equal(load(text), -1);
    assert_int_equal(lua_gettop(L), top);
    char prefix[64];
    snprintf(prefix, sizeof prefix, NAME ":%d:%d: ", line, col);
    if (strncmp(err.msg, prefix, strlen(prefix)) != 0 || !strstr(err.msg, what))
        fail_msg("for %s expected '%s...%s', got '%s'", text, prefix, what, err.msg);
}

/* Pushes config[key] (config at index -2 after load: [config marks]). */
static int get(const char *key)
{
    return lua_getfield(L, -2, key);
}

static void check_mark(const char *path, int line, int col)
{
    assert_int_equal(lua_getfield(L, -1, path), LUA_TTABLE);
    lua_getfield(L, -1, "line");
    lua_getfield(L, -2, "col");
    if (lua_tointeger(L, -2) != line || lua_tointeger(L, -1) != col)
        fail_msg("mark of %s: expected %d:%d, got %lld:%lld", path, line, col,
                 (long long)lua_tointeger(L, -2), (long long)lua_tointeger(L, -1));
    lua_pop(L, 3);
}

static int is_null(int index)
{
    index = lua_absindex(L, index);
    config_push_null(L);
    int same = lua_rawequal(L, index, -1);
    lua_pop(L, 1);
    return same;
}

static void test_real_config(void **state)
{
    (void)state;
    int top = lua_gettop(L);
    /* TEST_DATA_DIR is <source>/tests/data, which need not exist yet; strip
     * the suffix textually rather than through "..". */
    char path[4096];
    const char *data = TEST_DATA_DIR;
    size_t root_len = strlen(data) - strlen("/tests/data");
    assert_string_equal(data + root_len, "/tests/data");
    snprintf(path, sizeof path, "%.*s/configs/test/qwen3-tiny.yaml", (int)root_len, data);
    if (config_load_yaml(L, path, &err) != 0)
        fail_msg("%s", err.msg);
    assert_int_equal(lua_gettop(L), top + 2);

    assert_int_equal(get("vocab_size"), LUA_TNUMBER);
    assert_true(lua_isinteger(L, -1));
    assert_int_equal(lua_tointeger(L, -1), 512);
    lua_pop(L, 1);

    assert_int_equal(get("epsilon"), LUA_TNUMBER);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 1e-6);
    lua_pop(L, 1);

    assert_int_equal(get("rope_base"), LUA_TNUMBER);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 1000000.0);
    lua_pop(L, 1);

    assert_int_equal(get("qk_norm"), LUA_TBOOLEAN);
    assert_true(lua_toboolean(L, -1));
    lua_pop(L, 1);

    assert_int_equal(get("arch"), LUA_TSTRING);
    assert_string_equal(lua_tostring(L, -1), "qwen3");
    lua_pop(L, 1);

    assert_int_equal(get("dtype"), LUA_TSTRING);
    assert_string_equal(lua_tostring(L, -1), "float32");
    lua_pop(L, 1);

    check_mark("arch", 2, 7);
    check_mark("vocab_size", 3, 13);
    check_mark("dtype", 15, 8);
    lua_settop(L, top);
}

/* One scalar form: YAML text after "v: " and what it must become. */
typedef struct scalar_case {
    const char *text;
    int type; /* LUA_TNUMBER with is_int, LUA_TBOOLEAN, LUA_TSTRING, or -1 for null */
    int is_int;
    long long i;
    double f;
    const char *s;
} scalar_case;

#define INT(t, v) {t, LUA_TNUMBER, 1, v, 0, NULL}
#define FLT(t, v) {t, LUA_TNUMBER, 0, 0, v, NULL}
#define BOOL(t, v) {t, LUA_TBOOLEAN, 0, v, 0, NULL}
#define STR(t, v) {t, LUA_TSTRING, 0, 0, 0, v}
#define NUL(t) {t, -1, 0, 0, 0, NULL}

static const scalar_case scalar_cases[] = {
    INT("0", 0), INT("-17", -17), INT("+5", 5), INT("007", 7), INT("1000000", 1000000),
    INT("0o17", 15), INT("0x1F", 31), INT("0xff", 255),
    INT("9223372036854775807", INT64_MAX), INT("-9223372036854775808", INT64_MIN),
    INT("0x7fffffffffffffff", INT64_MAX), INT("0o777777777777777777777", INT64_MAX),
    FLT("1.0e-6", 1e-6), FLT("1e-6", 1e-6), FLT("1000000.0", 1e6), FLT(".5", 0.5),
    FLT("-.5e3", -500.0), FLT("5.", 5.0), FLT("+1.5E+2", 150.0),
    FLT(".inf", HUGE_VAL), FLT("-.Inf", -HUGE_VAL), FLT("+.INF", HUGE_VAL),
    FLT(".nan", NAN), FLT(".NaN", NAN), FLT(".NAN", NAN),
    BOOL("true", 1), BOOL("True", 1), BOOL("TRUE", 1),
    BOOL("false", 0), BOOL("False", 0), BOOL("FALSE", 0),
    NUL("~"), NUL("null"), NUL("Null"), NUL("NULL"), NUL(""),
    STR("nUll", "nUll"), STR("TRue", "TRue"), STR("yes", "yes"), STR("0x", "0x"),
    STR("0o8", "0o8"), STR("-0x10", "-0x10"), STR("1.2.3", "1.2.3"), STR("1e", "1e"),
    STR("e5", "e5"), STR(".", "."), STR("-x", "-x"), STR("0b101", "0b101"), STR("1_000", "1_000"),
    STR(".infinity", ".infinity"), STR("-.nan", "-.nan"), STR("abc def", "abc def"),
    STR("'123'", "123"), STR("\"123\"", "123"), STR("'true'", "true"), STR("\"null\"", "null"),
    STR("''", ""), STR("\"1.0e-6\"", "1.0e-6"), STR("|\n  block\n", "block\n"),
    STR(">\n  folded\n  text\n", "folded text\n"), STR("\"a\\0b\"", NULL),
    STR("!!str 123", "123"), STR("!!str true", "true"), STR("! 12", "12"),
    INT("!!int \"42\"", 42), INT("!!int 0x10", 16), FLT("!!float 3", 3.0),
    FLT("!!float '2.5'", 2.5), BOOL("!!bool \"true\"", 1), NUL("!!null ''"), NUL("!!null ~"),
};

static void test_scalar_forms(void **state)
{
    (void)state;
    int top = lua_gettop(L);
    for (size_t k = 0; k < sizeof scalar_cases / sizeof scalar_cases[0]; k++) {
        const scalar_case *c = &scalar_cases[k];
        char text[256];
        snprintf(text, sizeof text, "v: %s\n", c->text);
        load_ok(text);
        int type = get("v");
        if (c->type == -1) {
            if (!is_null(-1))
                fail_msg("'%s' should be null", c->text);
        } else if (type != c->type) {
            fail_msg("'%s': expected %s, got %s", c->text, lua_typename(L, c->type),
                     lua_typename(L, type));
        } else if (type == LUA_TNUMBER) {
            if (lua_isinteger(L, -1) != c->is_int)
                fail_msg("'%s': integer/float subtype wrong", c->text);
            if (c->is_int && lua_tointeger(L, -1) != c->i)
                fail_msg("'%s': got %lld", c->text, (long long)lua_tointeger(L, -1));
            double f = lua_tonumber(L, -1);
            if (!c->is_int && !(isnan(c->f) ? isnan(f) : f == c->f))
                fail_msg("'%s': got %g", c->text, f);
        } else if (type == LUA_TBOOLEAN) {
            assert_int_equal(lua_toboolean(L, -1), (int)c->i);
        } else if (c->s) {
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (len != strlen(c->s) || memcmp(s, c->s, len) != 0)
                fail_msg("'%s': got '%s'", c->text, s);
        } else { /* "a\0b": the NUL survives */
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            assert_int_equal(len, 3);
            assert_memory_equal(s, "a\0b", 3);
        }
        lua_settop(L, top);
    }
}

static void test_nested_with_marks(void **state)
{
    (void)state;
    int top = lua_gettop(L);
    load_ok("rope_scaling:\n"            /* 1 */
            "  factor: 8.0\n"            /* 2 */
            "  type: \"yarn\"\n"         /* 3 */
            "stop:\n"                    /* 4 */
            "  - 1\n"                    /* 5 */
            "  - \"two\"\n"              /* 6 */
            "  - [3, 4]\n"               /* 7 */
            "  - {k: v, deep: {x: [~]}}\n" /* 8 */
            "empty_list: []\n"           /* 9 */
            "empty_map: {}\n"            /* 10 */
            "'quoted key': 1\n");        /* 11 */

    assert_int_equal(get("rope_scaling"), LUA_TTABLE);
    assert_int_equal(lua_getfield(L, -1, "factor"), LUA_TNUMBER);
    assert_false(lua_isinteger(L, -1));
    assert_true(lua_tonumber(L, -1) == 8.0);
    lua_pop(L, 1);
    assert_int_equal(lua_getfield(L, -1, "type"), LUA_TSTRING);
    assert_string_equal(lua_tostring(L, -1), "yarn");
    lua_pop(L, 2);

    assert_int_equal(get("stop"), LUA_TTABLE);
    assert_int_equal(lua_rawlen(L, -1), 4);
    assert_int_equal(lua_rawgeti(L, -1, 1), LUA_TNUMBER);
    assert_int_equal(lua_tointeger(L, -1), 1);
    lua_pop(L, 1);
    assert_int_equal(lua_rawgeti(L, -1, 2), LUA_TSTRING);
    assert_string_equal(lua_tostring(L, -1), "two");
    lua_pop(L, 1);
    assert_int_equal(lua_rawgeti(L, -1, 3), LUA_TTABLE);
    assert_int_equal(lua_rawlen(L, -1), 2);
    assert_int_equal(lua_rawgeti(L, -1, 2), LUA_TNUMBER);
    assert_int_equal(lua_tointeger(L, -1), 4);
    lua_pop(L, 2);
    assert_int_equal(lua_rawgeti(L, -1, 4), LUA_TTABLE);
    assert_int_equal(lua_getfield(L, -1, "k"), LUA_TSTRING);
    lua_pop(L, 1);
    assert_int_equal(lua_getfield(L, -1, "deep"), LUA_TTABLE);
    assert_int_equal(lua_getfield(L, -1, "x"), LUA_TTABLE);
    lua_rawgeti(L, -1, 1);
    assert_true(is_null(-1));
    lua_pop(L, 5);

    assert_int_equal(get("empty_list"), LUA_TTABLE);
    assert_int_equal(lua_rawlen(L, -1), 0);
    lua_pop(L, 1);
    assert_int_equal(get("empty_map"), LUA_TTABLE);
    lua_pop(L, 1);
    assert_int_equal(get("quoted key"), LUA_TNUMBER);
    lua_pop(L, 1);

    check_mark("rope_scaling", 2, 3);
    check_mark("rope_scaling.factor", 2, 11);
    check_mark("rope_scaling.type", 3, 9);
    check_mark("stop", 5, 3);
    check_mark("stop.1", 5, 5);
    check_mark("stop.2", 6, 5);
    check_mark("stop.3", 7, 5);
    check_mark("stop.3.2", 7, 9);
    check_mark("stop.4.k", 8, 9);
    check_mark("stop.4.deep.x.1", 8, 23);
    check_mark("empty_list", 9, 13);
    check_mark("quoted key", 11, 15);
    lua_settop(L, top);
}

static void test_null_sentinel(void **state)
{
    (void)state;
    int top = lua_gettop(L);
    load_ok("a: null\nb:\nc: [~, 1]\nd: 'null'\n");
    get("a");
    assert_true(is_null(-1));
    assert_string_equal(luaL_tolstring(L, -1, NULL), "null");
    lua_pop(L, 2);
    get("b");
    assert_true(is_null(-1));
    lua_pop(L, 1);
    get("c");
    assert_int_equal(lua_rawlen(L, -1), 2);
    lua_rawgeti(L, -1, 1);
    assert_true(is_null(-1));
    lua_pop(L, 2);
    get("d");
    assert_false(is_null(-1));
    lua_pop(L, 1);
    check_mark("b", 2, 3);
    /* The same sentinel across loads and from the registry. */
    get("a");
    lua_copy(L, -1, top + 1);
    lua_settop(L, top + 1);
    load_ok("x: ~\n");
    get("x");
    assert_true(lua_rawequal(L, top + 1, -1));
    assert_int_equal(lua_getfield(L, LUA_REGISTRYINDEX, "lmcc.null"), LUA_TTABLE);
    assert_true(lua_rawequal(L, top + 1, -1));
    lua_settop(L, top);
}

static char *nested(const char *prefix, int levels)
{
    char *s = malloc(strlen(prefix) + 2 * (size_t)levels + 2);
    size_t n = strlen(prefix);
    memcpy(s, prefix, n);
    for (int i = 0; i < levels; i++)
        s[n++] = '[';
    for (int i = 0; i < levels; i++)
        s[n++] = ']';
    s[n++] = '\n';
    s[n] = '\0';
    return s;
}

static void test_errors(void **state)
{
    (void)state;
    int top = lua_gettop(L);

    /* Syntax errors carry libyaml's problem and mark. */
    load_fails("a: 1\nb: [1, 2\n", 3, 1, "YAML syntax error: did not find expected ',' or ']' while parsing a flow sequence (from line 2)");
    load_fails("a: 1\n b: 2\n", 2, 3, "YAML syntax error: mapping values are not allowed");
    load_fails("a: \"open\n", 2, 1, "YAML syntax error: found unexpected end of stream");
    load_fails("a: \xff\n", 1, 4, "YAML syntax error: invalid leading UTF-8 octet (0xff)");
    load_fails("a: 1\n\tb: 2\n", 2, 1, "YAML syntax error");

    /* The document's shape. */
    load_fails("", 1, 1, "empty config");
    load_fails("# only a comment\n\n", 3, 1, "empty config");
    load_fails("- 1\n- 2\n", 1, 1, "top level must be a mapping of config keys, found a sequence");
    load_fails("\n42\n", 2, 1, "found a scalar");
    load_fails("---\n", 2, 1, "found an empty document");
    load_fails("a: 1\n---\nb: 2\n", 2, 1, "a second YAML document");

    /* Keys. */
    load_fails("? [1, 2]\n: x\n", 1, 3, "keys must be strings, found a sequence");
    load_fails("a:\n  ? {b: 1}\n  : x\n", 2, 5, "under key 'a': keys must be strings, found a mapping");
    load_fails("a: 1\nb: 2\na: 3\n", 3, 1, "duplicate key 'a' (first at line 1)");
    load_fails("m:\n  x: 1\n  y: 2\n  x: 3\n", 4, 3, "duplicate key 'x' (first at line 2)");
    load_fails("!!int 1: x\n", 1, 1, "unsupported tag 'tag:yaml.org,2002:int' on a key");

    /* Tags. */
    load_fails("a: !foo 1\n", 1, 4, "key 'a': unsupported tag '!foo'");
    load_fails("a: !!binary aGk=\n", 1, 4, "unsupported tag 'tag:yaml.org,2002:binary'");
    load_fails("a: !!int abc\n", 1, 4, "expected an integer for !!int, found 'abc'");
    load_fails("a: !!float x1\n", 1, 4, "expected a float for !!float");
    load_fails("a: !!bool yes\n", 1, 4, "expected true or false for !!bool, found 'yes'");
    load_fails("a: !!null 0\n", 1, 4, "expected a null for !!null, found '0'");
    load_fails("a: !!map [1]\n", 1, 4, "unsupported tag 'tag:yaml.org,2002:map' on a sequence");
    load_fails("a: !!seq {b: 1}\n", 1, 4, "unsupported tag 'tag:yaml.org,2002:seq' on a mapping");

    /* Numbers out of range. */
    load_fails("a: 9223372036854775808\n", 1, 4, "key 'a': integer 9223372036854775808 is out of");
    load_fails("x:\n  - -9223372036854775809\n", 2, 5, "key 'x.1': integer");
    load_fails("a: 0x8000000000000000\n", 1, 4, "out of the 64-bit range");
    load_fails("a: 0o1000000000000000000000\n", 1, 4, "out of the 64-bit range");
    load_fails("a: !!int 99999999999999999999\n", 1, 4, "out of the 64-bit range");
    load_fails("a: 1e999999\n", 1, 4, "key 'a': float 1e999999 is out of the double range");

    /* Aliases. */
    load_fails("a: &x 1\nb: *x\n", 2, 4, "key 'b': aliases (*x) are not supported");
    load_fails("a: &x 1\n*x : 2\n", 2, 1, "aliases (*x) are not supported");

    /* Nesting: the root is level 1, so 63 brackets reach level 64. */
    char *ok = nested("a: ", CONFIG_YAML_MAX_DEPTH - 1);
    char *deep = nested("a: ", CONFIG_YAML_MAX_DEPTH);
    load_ok(ok);
    lua_settop(L, top);
    load_fails(deep, 1, 3 + CONFIG_YAML_MAX_DEPTH, "nesting deeper than 64 levels");
    free(ok);
    free(deep);
    char *very_deep = nested("a: ", 100000);
    load_fails(very_deep, 1, 3 + CONFIG_YAML_MAX_DEPTH, "nesting deeper");
    free(very_deep);

    /* Files. */
    assert_int_equal(config_load_yaml(L, "/nonexistent/lmcc/x.yaml", &err), -1);
    assert_string_equal(err.msg,
                        "/nonexistent/lmcc/x.yaml: cannot open: No such file or directory; check the path");
    assert_int_equal(config_load_yaml(L, "/", &err), -1);
    assert_non_null(strstr(err.msg, "/: cannot read: Is a directory"));
    assert_int_equal(lua_gettop(L), top);
}

/* An allocator that refuses every request once its budget is spent. */
typedef struct budget {
    long allocs_left; /* < 0: unlimited */
} budget;

static void *budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    budget *b = ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (nsize > osize || !ptr) {
        if (b->allocs_left == 0)
            return NULL;
        if (b->allocs_left > 0)
            b->allocs_left--;
    }
    return realloc(ptr, nsize);
}

/* A Lua allocation failure at any point leaves the stack as it was, leaks
 * nothing (ASan checks) and reports "out of memory". */
static void test_lua_out_of_memory(void **state)
{
    (void)state;
    static const char text[] = "a: 1\nb: [x, {c: 2.5, d: [~, true]}]\ne: 'str'\nf: {g: {h: 1}}\n";
    int succeeded = 0;
    for (long limit = 0; limit < 400 && !succeeded; limit++) {
        budget b = {-1};
        lua_State *M = lua_newstate(budget_alloc, &b);
        assert_non_null(M);
        lua_pushinteger(M, 7); /* something below that must stay put */
        b.allocs_left = limit;
        lm_err e = {{0}};
        int rc = config_load_yaml_string(M, text, sizeof text - 1, NAME, &e);
        if (rc == 0) {
            assert_int_equal(lua_gettop(M), 3);
            succeeded = 1;
        } else {
            assert_int_equal(lua_gettop(M), 1);
            if (!strstr(e.msg, "out of memory"))
                fail_msg("limit %ld: %s", limit, e.msg);
        }
        assert_int_equal(lua_tointeger(M, 1), 7);
        b.allocs_left = -1;
        lua_close(M);
    }
    assert_true(succeeded);
}

/* xorshift64*: a fixed sequence, so failures reproduce. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static void fuzz_one(const char *bytes, size_t len)
{
    int top = lua_gettop(L);
    memset(&err, 0, sizeof err);
    int rc = config_load_yaml_string(L, bytes, len, NAME, &err);
    if (rc == 0) {
        assert_int_equal(lua_gettop(L), top + 2);
        assert_int_equal(lua_type(L, -2), LUA_TTABLE);
        assert_int_equal(lua_type(L, -1), LUA_TTABLE);
    } else {
        assert_int_equal(rc, -1);
        assert_int_equal(lua_gettop(L), top);
        assert_true(strncmp(err.msg, NAME ":", strlen(NAME ":")) == 0);
    }
    lua_settop(L, top);
}

static void test_random_bytes(void **state)
{
    (void)state;
    static const char seed[] = "arch: qwen3\nvocab_size: 512\nrope_scaling:\n  factor: 8.0\n"
                               "  type: 'yarn'\nstop: [1, \"two\", {k: v}]\nlist:\n  - a\n  - 0x1f\n"
                               "e: 1.0e-6\nq: !!str 12\nn: ~\n";
    static const char specials[] = ":-[]{},&*!|>'\"%@`#?\n\t \\\0\xff\xc3";
    char buf[512];
    for (int iter = 0; iter < 600; iter++) {
        size_t len;
        if (iter % 3 == 0) { /* raw random bytes, NULs and invalid UTF-8 included */
            len = rnd() % 200;
            for (size_t i = 0; i < len; i++)
                buf[i] = (char)(rnd() & 0xff);
        } else { /* the valid config with a few bytes changed, inserted or cut */
            len = sizeof seed - 1;
            memcpy(buf, seed, len);
            int edits = 1 + (int)(rnd() % 6);
            for (int k = 0; k < edits; k++) {
                size_t at = rnd() % (len + 1);
                char c = (rnd() & 1) ? specials[rnd() % (sizeof specials - 1)] : (char)(rnd() & 0xff);
                switch (rnd() % 3) {
                case 0:
                    if (at < len)
                        buf[at] = c;
                    break;
                case 1:
                    if (len < sizeof buf - 1) {
                        memmove(buf + at + 1, buf + at, len - at);
                        buf[at] = c;
                        len++;
                    }
                    break;
                default:
                    len = at;
                    break;
                }
            }
        }
        /* Copy to an exact-size heap block so ASan sees any over-read. */
        char *exact = malloc(len ? len : 1);
        memcpy(exact, buf, len);
        fuzz_one(exact, len);
        free(exact);
    }
    /* The unmodified seed must load: the mutations start from valid YAML. */
    load_ok(seed);
    lua_pop(L, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_config),
        cmocka_unit_test(test_scalar_forms),
        cmocka_unit_test(test_nested_with_marks),
        cmocka_unit_test(test_null_sentinel),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lua_out_of_memory),
        cmocka_unit_test(test_random_bytes),
    };
    return cmocka_run_group_tests(tests, open_lua, close_lua);
}
