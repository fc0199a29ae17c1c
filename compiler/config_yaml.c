/* Config YAML -> Lua tables, driven by libyaml's event parser.
 *
 * The whole build runs inside lua_pcall so that a Lua memory error cannot
 * jump past the libyaml parser: the parser and its current event live in a
 * struct owned by the unprotected caller, which frees them whatever happens.
 * Only one event is alive at a time; everything needed from it is copied to
 * locals or onto the Lua stack before the next one is read. */
#include "config_yaml.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <yaml.h>

#define NULL_REGISTRY_KEY "lmcc.null"
/* Configs are a few hundred bytes; anything this big is not a config. */
#define MAX_CONFIG_BYTES (16u << 20)

/* Stack slots one mapping level uses at most (table, seen keys, key, path,
 * value, mark table and its fields), with headroom. */
#define SLOTS_PER_LEVEL 12

/* Stack indices inside the protected build. */
#define READER_INDEX 1
#define MARKS_INDEX 2

typedef struct reader {
    lua_State *L;
    yaml_parser_t parser;
    yaml_event_t event;
    int have_event;
    const char *name;
    const char *text;
    size_t len;
    lm_err *e;
    int failed; /* e holds a message written by the build */
} reader;

/* ---- messages ---------------------------------------------------------- */

static int fail_at(reader *r, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(reader *r, yaml_mark_t m, const char *fmt, ...)
{
    char what[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    r->failed = 1;
    return lm_fail(r->e, "%s:%zu:%zu: %s", r->name, m.line + 1, m.column + 1, what);
}

/* libyaml's reader errors carry a byte offset, not a mark. */
static yaml_mark_t mark_of_offset(const reader *r, size_t offset)
{
    yaml_mark_t m = {0, 0, 0};
    if (offset > r->len)
        offset = r->len;
    for (size_t i = 0; i < offset; i++) {
        if (r->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    m.index = offset;
    return m;
}

static int fail_syntax(reader *r)
{
    const yaml_parser_t *p = &r->parser;
    const char *problem = p->problem ? p->problem : "unknown problem";
    if (p->error == YAML_MEMORY_ERROR) {
        r->failed = 1;
        return lm_fail(r->e, "%s: out of memory while parsing YAML; free some memory", r->name);
    }
    if (p->error == YAML_READER_ERROR) {
        char value[32] = "";
        if (p->problem_value != -1)
            snprintf(value, sizeof value, " (0x%02x)", (unsigned)p->problem_value);
        return fail_at(r, mark_of_offset(r, p->problem_offset),
                       "YAML syntax error: %s%s; save the file as UTF-8 text", problem, value);
    }
    if (p->context)
        return fail_at(r, p->problem_mark, "YAML syntax error: %s %s (from line %zu); fix the YAML",
                       problem, p->context, p->context_mark.line + 1);
    return fail_at(r, p->problem_mark, "YAML syntax error: %s; fix the YAML", problem);
}

/* The key path on the stack at index, for messages; "" for the root. */
static const char *path_at(lua_State *L, int index)
{
    return index ? lua_tostring(L, index) : "";
}

/* ---- events ------------------------------------------------------------ */

static int next_event(reader *r)
{
    if (r->have_event) {
        yaml_event_delete(&r->event);
        r->have_event = 0;
    }
    if (!yaml_parser_parse(&r->parser, &r->event))
        return fail_syntax(r);
    r->have_event = 1;
    return 0;
}

static const char *event_kind(yaml_event_type_t t)
{
    switch (t) {
    case YAML_SCALAR_EVENT: return "a scalar";
    case YAML_SEQUENCE_START_EVENT: return "a sequence";
    case YAML_MAPPING_START_EVENT: return "a mapping";
    case YAML_ALIAS_EVENT: return "an alias";
    default: return "nothing";
    }
}

/* ---- scalar resolution (YAML 1.2 core schema) --------------------------- */

#define TAG_PREFIX "tag:yaml.org,2002:"

static int tag_is(const char *tag, const char *core_name)
{
    size_t n = sizeof TAG_PREFIX - 1;
    return strncmp(tag, TAG_PREFIX, n) == 0 && strcmp(tag + n, core_name) == 0;
}

static int is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return 1;
    return 0;
}

static int is_null_text(const char *s, size_t len)
{
    static const char *const words[] = {"~", "null", "Null", "NULL", NULL};
    return len == 0 || is_one_of(s, len, words);
}

/* Returns 1 and sets *out for a bool, 0 otherwise. */
static int parse_bool(const char *s, size_t len, int *out)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    if (is_one_of(s, len, yes))
        return *out = 1, 1;
    if (is_one_of(s, len, no))
        return *out = 0, 1;
    return 0;
}

static int all_digits(const char *s, size_t len, int base)
{
    if (len == 0)
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        int ok = base == 8    ? (c >= '0' && c <= '7')
                 : base == 10 ? (c >= '0' && c <= '9')
                              : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                 (c >= 'A' && c <= 'F'));
        if (!ok)
            return 0;
    }
    return 1;
}

/* Returns 1 and sets *out for an integer, 0 for text that is not one, -1 for
 * one that does not fit a lua_Integer. */
static int parse_int(const char *s, size_t len, lua_Integer *out)
{
    int base = 10;
    size_t skip = 0, sign = (len > 0 && (s[0] == '-' || s[0] == '+'));
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'o'))
        base = s[1] == 'x' ? 16 : 8, skip = 2;
    else
        skip = sign;
    if (!all_digits(s + skip, len - skip, base))
        return 0;
    /* Accumulate the magnitude by hand: exact, locale-free, overflow-checked. */
    int negative = base == 10 && s[0] == '-';
    unsigned long long limit = negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
    unsigned long long v = 0;
    for (size_t i = skip; i < len; i++) {
        char c = s[i];
        unsigned d = c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
        if (v > (limit - d) / (unsigned)base)
            return -1;
        v = v * (unsigned)base + d;
    }
    if (negative)
        *out = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    else
        *out = (lua_Integer)v;
    return 1;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int looks_like_float(const char *s, size_t len)
{
    size_t i = 0, int_digits = 0, frac_digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, int_digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, frac_digits++;
    }
    if (int_digits == 0 && frac_digits == 0)
        return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return 0;
    }
    return i == len;
}

/* Returns 1 and sets *out for a float, 0 for text that is not one, -1 for a
 * finite literal too large for a double. */
static int parse_float(const char *s, size_t len, lua_Number *out)
{
    static const char *const inf[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nan[] = {".nan", ".NaN", ".NAN", NULL};
    size_t sign = len > 0 && (s[0] == '-' || s[0] == '+');
    if (is_one_of(s + sign, len - sign, inf))
        return *out = (sign && s[0] == '-') ? -HUGE_VAL : HUGE_VAL, 1;
    if (is_one_of(s, len, nan))
        return *out = NAN, 1;
    if (!looks_like_float(s, len))
        return 0;
    /* The pattern allows no NUL, so the event's terminating NUL ends it. */
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && isinf(v))
        return -1;
    *out = v;
    return 1;
}

/* Pushes the value of a scalar event; path_index names its key. */
static int push_scalar(reader *r, int path_index)
{
    lua_State *L = r->L;
    const yaml_event_t *ev = &r->event;
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    yaml_mark_t at = ev->start_mark;
    const char *key = path_at(L, path_index);
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    lua_Integer i;
    lua_Number f;
    int b, got;

    if (tag && !(tag[0] == '!' && tag[1] == '\0') && strncmp(tag, TAG_PREFIX, sizeof TAG_PREFIX - 1))
        return fail_at(r, at, "key '%s': unsupported tag '%s'; remove the tag (only !!str, !!int, "
                              "!!float, !!bool and !!null are allowed)",
                       key, tag);
    if (!tag) {
        if (!plain) /* quoted and block scalars */
            return lua_pushlstring(L, s, len), 0;
        if (is_null_text(s, len))
            return config_push_null(L), 0;
        if (parse_bool(s, len, &b))
            return lua_pushboolean(L, b), 0;
        got = parse_int(s, len, &i);
        if (got < 0)
            return fail_at(r, at, "key '%s': integer %s is out of the 64-bit range; quote it to keep "
                                  "it as a string",
                           key, s);
        if (got)
            return lua_pushinteger(L, i), 0;
        got = parse_float(s, len, &f);
        if (got < 0)
            return fail_at(r, at, "key '%s': float %s is out of the double range; use .inf or a "
                                  "smaller number",
                           key, s);
        if (got)
            return lua_pushnumber(L, f), 0;
        return lua_pushlstring(L, s, len), 0;
    }
    /* The non-specific tag "!" means "not resolved": a string. */
    if (tag[1] == '\0' || tag_is(tag, "str"))
        return lua_pushlstring(L, s, len), 0;
    if (tag_is(tag, "null")) {
        if (!is_null_text(s, len))
            return fail_at(r, at, "key '%s': expected a null for !!null, found '%s'; write null or "
                                  "remove the tag",
                           key, s);
        return config_push_null(L), 0;
    }
    if (tag_is(tag, "bool")) {
        if (!parse_bool(s, len, &b))
            return fail_at(r, at, "key '%s': expected true or false for !!bool, found '%s'; fix the "
                                  "value or remove the tag",
                           key, s);
        return lua_pushboolean(L, b), 0;
    }
    if (tag_is(tag, "int")) {
        got = parse_int(s, len, &i);
        if (got < 0)
            return fail_at(r, at, "key '%s': integer %s is out of the 64-bit range; use a smaller "
                                  "number",
                           key, s);
        if (!got)
            return fail_at(r, at, "key '%s': expected an integer for !!int, found '%s'; fix the "
                                  "value or remove the tag",
                           key, s);
        return lua_pushinteger(L, i), 0;
    }
    if (tag_is(tag, "float")) {
        /* An integer literal tagged !!float is that number as a float. */
        got = parse_int(s, len, &i);
        if (got > 0)
            return lua_pushnumber(L, (lua_Number)i), 0;
        got = parse_float(s, len, &f);
        if (got <= 0)
            return fail_at(r, at, "key '%s': expected a float for !!float, found '%s'; fix the "
                                  "value or remove the tag",
                           key, s);
        return lua_pushnumber(L, f), 0;
    }
    return fail_at(r, at, "key '%s': unsupported tag '%s'; remove the tag (only !!str, !!int, "
                          "!!float, !!bool and !!null are allowed)",
                   key, tag);
}

/* ---- collections -------------------------------------------------------- */

static int parse_node(reader *r, int path_index, int depth);

/* Pushes parent .. "." .. child (or child alone at the root). */
static void push_child_path(lua_State *L, int parent_index, int child_index)
{
    if (!parent_index) {
        lua_pushvalue(L, child_index);
        return;
    }
    lua_pushvalue(L, parent_index);
    lua_pushliteral(L, ".");
    lua_pushvalue(L, child_index);
    lua_concat(L, 3);
}

static void record_mark(lua_State *L, int path_index, yaml_mark_t m)
{
    if (!path_index)
        return;
    lua_pushvalue(L, path_index);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)m.line + 1);
    lua_setfield(L, -2, "line");
    lua_pushinteger(L, (lua_Integer)m.column + 1);
    lua_setfield(L, -2, "col");
    lua_rawset(L, MARKS_INDEX);
}

static int check_collection_tag(reader *r, const char *tag, const char *core_name, int path_index)
{
    if (!tag || (tag[0] == '!' && tag[1] == '\0') || tag_is(tag, core_name))
        return 0;
    return fail_at(r, r->event.start_mark,
                   "key '%s': unsupported tag '%s' on a %s; remove the tag", path_at(r->L, path_index),
                   tag, strcmp(core_name, "map") == 0 ? "mapping" : "sequence");
}

/* Current event: MAPPING_START. Pushes the table. */
static int parse_mapping(reader *r, int path_index, int depth)
{
    lua_State *L = r->L;
    if (check_collection_tag(r, (const char *)r->event.data.mapping_start.tag, "map", path_index))
        return -1;
    lua_newtable(L);
    int table = lua_gettop(L);
    lua_newtable(L); /* key -> line of its first occurrence */
    int seen = table + 1;
    for (;;) {
        if (next_event(r))
            return -1;
        if (r->event.type == YAML_MAPPING_END_EVENT)
            break;
        yaml_mark_t key_mark = r->event.start_mark;
        if (r->event.type == YAML_ALIAS_EVENT)
            return fail_at(r, key_mark, "aliases (*%s) are not supported; write the value out",
                           (const char *)r->event.data.alias.anchor);
        if (r->event.type != YAML_SCALAR_EVENT)
            return fail_at(r, key_mark, "%s%s%skeys must be strings, found %s; use a plain key",
                           path_index ? "under key '" : "", path_at(L, path_index),
                           path_index ? "': " : "", event_kind(r->event.type));
        const char *tag = (const char *)r->event.data.scalar.tag;
        if (tag && !(tag[0] == '!' && tag[1] == '\0') && !tag_is(tag, "str"))
            return fail_at(r, key_mark, "key '%s': unsupported tag '%s' on a key; keys are strings, "
                                        "remove the tag",
                           (const char *)r->event.data.scalar.value, tag);
        lua_pushlstring(L, (const char *)r->event.data.scalar.value, r->event.data.scalar.length);
        int key = lua_gettop(L);
        lua_pushvalue(L, key);
        if (lua_rawget(L, seen) != LUA_TNIL) {
            lua_Integer first = lua_tointeger(L, -1);
            return fail_at(r, key_mark, "duplicate key '%s' (first at line %lld); remove one of them",
                           lua_tostring(L, key), (long long)first);
        }
        lua_pop(L, 1);
        lua_pushvalue(L, key);
        lua_pushinteger(L, (lua_Integer)key_mark.line + 1);
        lua_rawset(L, seen);
        push_child_path(L, path_index, key);
        int child_path = lua_gettop(L);
        if (next_event(r) || parse_node(r, child_path, depth + 1))
            return -1;
        /* [key path value] -> table[key] = value */
        lua_pushvalue(L, key);
        lua_insert(L, -2);
        lua_rawset(L, table);
        lua_settop(L, table + 1);
    }
    lua_settop(L, table);
    return 0;
}

/* Current event: SEQUENCE_START. Pushes the array. */
static int parse_sequence(reader *r, int path_index, int depth)
{
    lua_State *L = r->L;
    if (check_collection_tag(r, (const char *)r->event.data.sequence_start.tag, "seq", path_index))
        return -1;
    lua_newtable(L);
    int table = lua_gettop(L);
    for (lua_Integer n = 1;; n++) {
        if (next_event(r))
            return -1;
        if (r->event.type == YAML_SEQUENCE_END_EVENT)
            break;
        lua_pushfstring(L, "%I", (LUAI_UACINT)n); /* the item's number as a path part */
        int item = lua_gettop(L);
        push_child_path(L, path_index, item);
        if (parse_node(r, lua_gettop(L), depth + 1))
            return -1;
        lua_rawseti(L, table, n);
        lua_settop(L, table);
    }
    return 0;
}

/* Pushes the value of the node whose first event is current. */
static int parse_node(reader *r, int path_index, int depth)
{
    lua_State *L = r->L;
    yaml_mark_t at = r->event.start_mark;
    if (!lua_checkstack(L, SLOTS_PER_LEVEL))
        return fail_at(r, at, "out of memory growing the Lua stack; free some memory");
    switch (r->event.type) {
    case YAML_SCALAR_EVENT:
        record_mark(L, path_index, at);
        return push_scalar(r, path_index);
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (depth > CONFIG_YAML_MAX_DEPTH)
            return fail_at(r, at, "key '%s': nesting deeper than %d levels; flatten the config",
                           path_at(L, path_index), CONFIG_YAML_MAX_DEPTH);
        record_mark(L, path_index, at);
        return r->event.type == YAML_MAPPING_START_EVENT ? parse_mapping(r, path_index, depth)
                                                         : parse_sequence(r, path_index, depth);
    case YAML_ALIAS_EVENT:
        return fail_at(r, at, "key '%s': aliases (*%s) are not supported; write the value out",
                       path_at(L, path_index), (const char *)r->event.data.alias.anchor);
    default:
        return fail_at(r, at, "key '%s': unexpected YAML event; fix the YAML", path_at(L, path_index));
    }
}

/* ---- document ----------------------------------------------------------- */

/* Reads STREAM_START .. STREAM_END and pushes the config table. */
static int read_document(reader *r)
{
    if (next_event(r) || next_event(r)) /* STREAM_START, then DOCUMENT_START or the end */
        return -1;
    if (r->event.type == YAML_STREAM_END_EVENT)
        return fail_at(r, r->event.start_mark, "empty config; write one 'key: value' per line");
    if (next_event(r)) /* the root node */
        return -1;
    if (r->event.type != YAML_MAPPING_START_EVENT) {
        int empty = r->event.type == YAML_SCALAR_EVENT && r->event.data.scalar.length == 0 &&
                    r->event.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        return fail_at(r, r->event.start_mark,
                       "the top level must be a mapping of config keys, found %s; write "
                       "'key: value' lines",
                       empty ? "an empty document" : event_kind(r->event.type));
    }
    if (parse_node(r, 0, 1))
        return -1;
    if (next_event(r) || next_event(r)) /* DOCUMENT_END, then the end */
        return -1;
    if (r->event.type != YAML_STREAM_END_EVENT)
        return fail_at(r, r->event.start_mark,
                       "a second YAML document; a config is one document, remove the '---'");
    return 0;
}

/* Protected: [reader] -> [config marks], or nothing with r->failed set. */
static int build_config(lua_State *L)
{
    reader *r = lua_touserdata(L, READER_INDEX);
    lua_settop(L, READER_INDEX);
    lua_newtable(L); /* marks, at MARKS_INDEX */
    config_push_null(L); /* create the sentinel now, under protection */
    lua_pop(L, 1);
    if (read_document(r)) {
        r->failed = 1;
        return 0;
    }
    lua_insert(L, MARKS_INDEX); /* config before marks */
    return 2;
}

int config_load_yaml_string(lua_State *L, const char *text, size_t len, const char *name,
                            lm_err *e)
{
    int base = lua_gettop(L);
    if (!lua_checkstack(L, 8))
        return lm_fail(e, "%s: cannot grow the Lua stack (out of memory?); free some memory", name);
    reader *r = calloc(1, sizeof *r);
    if (!r)
        return lm_fail(e, "%s: out of memory; free some memory", name);
    r->L = L;
    r->name = name;
    r->text = text;
    r->len = len;
    r->e = e;
    if (!yaml_parser_initialize(&r->parser)) {
        free(r);
        return lm_fail(e, "%s: out of memory starting the YAML parser; free some memory", name);
    }
    yaml_parser_set_input_string(&r->parser, (const unsigned char *)text, len);

    lua_pushcfunction(L, build_config);
    lua_pushlightuserdata(L, r);
    int status = lua_pcall(L, 1, LUA_MULTRET, 0);
    int rc = 0;
    if (status != LUA_OK) {
        if (status == LUA_ERRMEM)
            rc = lm_fail(e, "%s: out of memory while reading the config; free some memory", name);
        else
            rc = lm_fail(e, "%s: %s; this is a bug in lmcc", name, lua_tostring(L, -1));
        lua_settop(L, base);
    } else if (r->failed || lua_gettop(L) != base + 2) {
        rc = r->failed ? -1 : lm_fail(e, "%s: config reader lost its result; this is a bug in lmcc", name);
        lua_settop(L, base);
    }
    if (r->have_event)
        yaml_event_delete(&r->event);
    yaml_parser_delete(&r->parser);
    free(r);
    return rc;
}

/* Reads the whole file; configs are small and messages need the text. */
static char *read_file(const char *path, size_t *len, lm_err *e)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        lm_fail(e, "%s: cannot open: %s; check the path", path, strerror(errno));
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_CONFIG_BYTES) {
                lm_fail(e, "%s: larger than %u bytes, not a config; check the path", path,
                        MAX_CONFIG_BYTES);
                free(buf);
                fclose(fp);
                return NULL;
            }
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (got == 0)
            break;
    }
    if (!buf) {
        lm_fail(e, "%s: out of memory reading the file; free some memory", path);
        fclose(fp);
        return NULL;
    }
    if (ferror(fp)) {
        lm_fail(e, "%s: cannot read: %s; check the path", path, strerror(errno));
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    *len = n;
    return buf;
}

int config_load_yaml(lua_State *L, const char *path, lm_err *e)
{
    size_t len = 0;
    char *text = read_file(path, &len, e);
    if (!text)
        return -1;
    int rc = config_load_yaml_string(L, text, len, path, e);
    free(text);
    return rc;
}

/* ---- the null sentinel -------------------------------------------------- */

static int null_tostring(lua_State *L)
{
    lua_pushliteral(L, "null");
    return 1;
}

void config_push_null(lua_State *L)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, NULL_REGISTRY_KEY) == LUA_TTABLE)
        return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 2);
    lua_pushliteral(L, NULL_REGISTRY_KEY);
    lua_setfield(L, -2, "__name");
    lua_pushcfunction(L, null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_REGISTRYINDEX, NULL_REGISTRY_KEY);
}
