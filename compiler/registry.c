/* configs/registry.yaml -> C structs, and lookups by model type, size and
 * variant. The YAML goes through the same loader as model configs, into a
 * Lua state of our own that lives only while the file is read; its marks
 * give every error a line and column. */
#include "registry.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lauxlib.h>
#include <lua.h>

#include "../runtime/text/chat_template.h"
#include "config_yaml.h"
#include "frontend.h"

/* Longest name each field may have: registry_entry copies them. */
#define MAX_MODEL 64
#define MAX_SIZE 32
#define MAX_VARIANT 32
#define MAX_EOS_TOKEN 64
#define MAX_CHAT 32

typedef struct loader {
    lua_State *L;
    int marks;          /* stack index of the marks table */
    const char *path;
    lm_err *e;
} loader;

int registry_default_path(char *buf, size_t cap, lm_err *e)
{
    int n = snprintf(buf, cap, "%s/configs/registry.yaml", lmcc_home());
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "registry: path under LMCC_HOME is too long; use a shorter LMCC_HOME");
    return 0;
}

/* "<file>:<line>:<col>: key '<key>': <what>", the position taken from the marks. */
static int fail_key(loader *ld, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail_key(loader *ld, const char *key, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    lua_State *L = ld->L;
    lua_getfield(L, ld->marks, key);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "line");
        lua_getfield(L, -2, "col");
        int line = (int)lua_tointeger(L, -2), col = (int)lua_tointeger(L, -1);
        lua_pop(L, 3);
        return lm_fail(ld->e, "%s:%d:%d: key '%s': %s", ld->path, line, col, key, what);
    }
    lua_pop(L, 1);
    return lm_fail(ld->e, "%s: key '%s': %s", ld->path, key, what);
}

static int is_null(lua_State *L, int idx);

static const char *describe(lua_State *L, int idx)
{
    if (lua_isnoneornil(L, idx))
        return "nothing";
    if (is_null(L, idx))
        return "null";
    if (lua_istable(L, idx))
        return lua_rawlen(L, idx) > 0 ? "a list" : "a mapping";
    if (lua_type(L, idx) == LUA_TNUMBER)
        return lua_isinteger(L, idx) ? "an integer" : "a float";
    return lua_typename(L, lua_type(L, idx));
}

static int is_null(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    config_push_null(L);
    int null = lua_rawequal(L, idx, -1);
    lua_pop(L, 1);
    return null;
}

/* A YAML mapping: a table without list items (an empty one counts), and not
 * the null sentinel. */
static int is_mapping(lua_State *L, int idx)
{
    return lua_istable(L, idx) && lua_rawlen(L, idx) == 0 && !is_null(L, idx);
}

static int is_list(lua_State *L, int idx)
{
    return lua_istable(L, idx) && lua_rawlen(L, idx) > 0;
}

/* Every key of the mapping at idx must be one of allowed (NULL-terminated). */
static int check_keys(loader *ld, int idx, const char *prefix, const char *const *allowed)
{
    lua_State *L = ld->L;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        const char *k = lua_tostring(L, -1);
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, k) == 0;
        if (!ok) {
            char key[512], list[256] = "";
            snprintf(key, sizeof key, "%s%s", prefix, k);
            for (const char *const *a = allowed; *a; a++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
            lua_pop(L, 1);
            return fail_key(ld, key, "unknown key; expected one of %s", list);
        }
    }
    return 0;
}

/* A copy of the string at idx, checked against max (bytes incl. NUL). */
static int dup_string(loader *ld, int idx, const char *key, size_t max, char **out)
{
    lua_State *L = ld->L;
    if (lua_type(L, idx) != LUA_TSTRING && lua_type(L, idx) != LUA_TNUMBER)
        return fail_key(ld, key, "expected a string, found %s", describe(L, idx));
    /* Sizes like 7 or 1.5 come in as numbers; use their YAML spelling. */
    lua_pushvalue(L, idx);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    if (len == 0 || len >= max || strlen(s) != len) {
        lua_pop(L, 1);
        return fail_key(ld, key, "expected a non-empty name shorter than %zu bytes", max);
    }
    *out = strdup(s);
    lua_pop(L, 1);
    if (!*out)
        return lm_fail(ld->e, "%s: out of memory", ld->path);
    return 0;
}

/* field of the table at idx, as a required string. */
static int field_string(loader *ld, int idx, const char *prefix, const char *field, size_t max, char **out)
{
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, field);
    lua_getfield(ld->L, idx, field);
    int rc = lua_isnil(ld->L, -1) ? fail_key(ld, key, "missing; it is required")
                                  : dup_string(ld, -1, key, max, out);
    lua_pop(ld->L, 1);
    return rc;
}

/* A list of strings at field; *n items into *out. */
static int field_list(loader *ld, int idx, const char *prefix, const char *field, size_t max, int max_items,
                      char ***out, int *n)
{
    lua_State *L = ld->L;
    char key[512];
    snprintf(key, sizeof key, "%s%s", prefix, field);
    lua_getfield(L, idx, field);
    int rc = 0;
    if (!is_list(L, -1)) {
        rc = fail_key(ld, key, "expected a non-empty list, found %s", describe(L, -1));
        goto done;
    }
    int count = (int)lua_rawlen(L, -1);
    if (count > max_items) {
        rc = fail_key(ld, key, "at most %d items, found %d", max_items, count);
        goto done;
    }
    *out = calloc((size_t)count, sizeof **out);
    if (!*out) {
        rc = lm_fail(ld->e, "%s: out of memory", ld->path);
        goto done;
    }
    for (int i = 1; i <= count && rc == 0; i++) {
        char item_key[600];
        snprintf(item_key, sizeof item_key, "%s.%d", key, i);
        lua_rawgeti(L, -1, i);
        rc = dup_string(ld, -1, item_key, max, &(*out)[i - 1]);
        lua_pop(L, 1);
        if (rc == 0)
            *n = i;
    }
done:
    lua_pop(L, 1);
    return rc;
}

typedef struct keyed {
    char *name;
    int line;
} keyed;

static int by_line(const void *a, const void *b)
{
    const keyed *x = a, *y = b;
    return x->line != y->line ? (x->line > y->line) - (x->line < y->line) : strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const keyed *)a)->name, ((const keyed *)b)->name);
}

/* The keys of the mapping at idx, in file order (sort_by_name: by name). The
 * caller frees each name and the array. */
static keyed *mapping_keys(loader *ld, int idx, const char *prefix, int sort_by_name, int *n)
{
    lua_State *L = ld->L;
    idx = lua_absindex(L, idx);
    int count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        count++;
    }
    keyed *keys = calloc((size_t)(count ? count : 1), sizeof *keys);
    if (!keys)
        return NULL;
    int i = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys[i].name = strdup(lua_tostring(L, -1));
        char key[512];
        snprintf(key, sizeof key, "%s%s", prefix, keys[i].name ? keys[i].name : "");
        lua_getfield(L, ld->marks, key);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "line");
            keys[i].line = (int)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        i++;
    }
    for (int j = 0; j < count; j++) {
        if (!keys[j].name) {
            for (int k = 0; k < count; k++)
                free(keys[k].name);
            free(keys);
            return NULL;
        }
    }
    qsort(keys, (size_t)count, sizeof *keys, sort_by_name ? by_name : by_line);
    *n = count;
    return keys;
}

static void free_keys(keyed *keys, int n)
{
    for (int i = 0; i < n; i++)
        free(keys[i].name);
    free(keys);
}

/* A chat format the runtime renders (text/chat_template.h), or none. */
static int check_chat(loader *ld, const char *key, const char *name)
{
    lm_chat_format f;
    if (strcmp(name, "none") == 0 || lm_chat_format_parse(name, &f) == 0)
        return 0;
    return fail_key(ld, key, "'%s' is not a chat format; expected none or one of %s", name,
                    lm_chat_format_names());
}

/* The index among m's sizes of a mapping's key (any case: 1.8b finds
 * 1.8B), else a failure naming key.size. */
static int size_index(loader *ld, const registry_model *m, const char *key, const char *size, int *i)
{
    for (*i = 0; size && *i < m->n_sizes; (*i)++)
        if (strcasecmp(m->sizes[*i], size) == 0)
            return 0;
    char skey[600];
    snprintf(skey, sizeof skey, "%s.%s", key, size ? size : "?");
    return fail_key(ld, skey, "'%s' is not one of the sizes", size ? size : "?");
}

/* A variant's field that is one string for every size or a mapping {size:
 * string} naming each size: chat (Llama 3.2's sizes have its template,
 * 3.1's theirs) and repo (Gemma 3's 270M base is google/gemma-3-270m, its
 * 1B base google/gemma-3-1b-pt). Absent: absent for every size, or a
 * failure when absent is NULL. check, when given, vets each value. */
static int load_per_size(loader *ld, int idx, const char *prefix, const registry_model *m, const char *field,
                         size_t max, const char *absent, int (*check)(loader *, const char *, const char *),
                         char ***out)
{
    lua_State *L = ld->L;
    char key[512], skey[600];
    snprintf(key, sizeof key, "%s%s", prefix, field);
    char **values = *out = calloc((size_t)m->n_sizes, sizeof *values);
    if (!values)
        return lm_fail(ld->e, "%s: out of memory", ld->path);
    lua_getfield(L, idx, field);
    int rc = 0, mapped = is_mapping(L, -1);
    if (lua_isnil(L, -1) && !absent)
        rc = fail_key(ld, key, "missing; it is required");
    for (int i = 0; i < m->n_sizes && rc == 0; i++) {
        snprintf(skey, sizeof skey, "%s.%s", key, m->sizes[i]);
        if (lua_isnil(L, -1)) {
            if (!(values[i] = strdup(absent)))
                rc = lm_fail(ld->e, "%s: out of memory", ld->path);
            continue;
        }
        if (mapped) {
            lua_getfield(L, -1, m->sizes[i]);
            rc = lua_isnil(L, -1) ? fail_key(ld, skey, "the %s mapping must name every size", field)
                                  : dup_string(ld, -1, skey, max, &values[i]);
            lua_pop(L, 1);
        } else {
            rc = dup_string(ld, -1, key, max, &values[i]);
        }
        if (rc == 0 && check)
            rc = check(ld, mapped ? skey : key, values[i]);
    }
    if (rc == 0 && mapped) { /* and nothing but sizes */
        lua_pushnil(L);
        int i;
        while (rc == 0 && lua_next(L, -2)) {
            if ((rc = size_index(ld, m, key, lua_tostring(L, -2), &i)) != 0)
                lua_pop(L, 1); /* the key lua_next left */
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 1);
    return rc;
}

static int load_variant(loader *ld, int idx, const char *prefix, const registry_model *m,
                        registry_variant *v)
{
    static const char *const allowed[] = { "repo", "eos", "chat", "thinking", NULL };
    lua_State *L = ld->L;
    if (check_keys(ld, idx, prefix, allowed) ||
        load_per_size(ld, idx, prefix, m, "repo", 256, NULL, NULL, &v->repos) ||
        field_list(ld, idx, prefix, "eos", MAX_EOS_TOKEN, REGISTRY_MAX_EOS, &v->eos, &v->n_eos) ||
        load_per_size(ld, idx, prefix, m, "chat", MAX_CHAT, "none", check_chat, &v->chats))
        return -1;
    char key[512];
    int rc = 0;
    lua_getfield(L, idx, "thinking");
    if (!lua_isnil(L, -1) && !lua_isboolean(L, -1)) {
        snprintf(key, sizeof key, "%sthinking", prefix);
        rc = fail_key(ld, key, "expected true or false, found %s", describe(L, -1));
    }
    v->thinking = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return rc;
}

/* Optional repo_size: {listed size: spelling in repository names}, for hubs
 * that spell a size differently from its config file (Qwen-1_8B). */
static int load_repo_sizes(loader *ld, int idx, const char *prefix, registry_model *m)
{
    lua_State *L = ld->L;
    char key[512];
    snprintf(key, sizeof key, "%srepo_size", prefix);
    m->repo_sizes = calloc((size_t)m->n_sizes, sizeof *m->repo_sizes);
    if (!m->repo_sizes)
        return lm_fail(ld->e, "%s: out of memory", ld->path);
    lua_getfield(L, idx, "repo_size");
    int rc = 0;
    if (lua_isnil(L, -1))
        goto done;
    if (!is_mapping(L, -1)) {
        rc = fail_key(ld, key, "expected a mapping from sizes to their spelling in repository names, found %s",
                      describe(L, -1));
        goto done;
    }
    lua_pushnil(L);
    int i;
    while (rc == 0 && lua_next(L, -2)) {
        const char *size = lua_tostring(L, -2);
        char skey[600];
        snprintf(skey, sizeof skey, "%s.%s", key, size ? size : "?");
        if ((rc = size_index(ld, m, key, size, &i)) == 0)
            rc = dup_string(ld, -1, skey, MAX_SIZE, &m->repo_sizes[i]);
        lua_pop(L, 1);
    }
    if (rc != 0)
        lua_pop(L, 1); /* the key lua_next left */
done:
    lua_pop(L, 1);
    return rc;
}

static int load_model(loader *ld, int idx, const char *prefix, registry_model *m)
{
    static const char *const allowed[] = { "arch", "config", "sizes", "repo_size", "variants", NULL };
    lua_State *L = ld->L;
    if (check_keys(ld, idx, prefix, allowed) || field_string(ld, idx, prefix, "arch", MAX_MODEL, &m->arch) ||
        field_string(ld, idx, prefix, "config", 1024, &m->config) ||
        field_list(ld, idx, prefix, "sizes", MAX_SIZE, 256, &m->sizes, &m->n_sizes))
        return -1;
    for (int i = 0; i < m->n_sizes; i++)
        for (int j = 0; j < i; j++)
            if (strcasecmp(m->sizes[i], m->sizes[j]) == 0) {
                char key[512];
                snprintf(key, sizeof key, "%ssizes.%d", prefix, i + 1);
                return fail_key(ld, key, "size '%s' is listed twice", m->sizes[i]);
            }
    if (load_repo_sizes(ld, idx, prefix, m) != 0)
        return -1;

    char key[512];
    snprintf(key, sizeof key, "%svariants", prefix);
    lua_getfield(L, idx, "variants");
    int rc = 0;
    if (!is_mapping(L, -1)) {
        rc = fail_key(ld, key, "expected a mapping of variant names, found %s", describe(L, -1));
        goto done;
    }
    char vprefix[512];
    snprintf(vprefix, sizeof vprefix, "%s.", key);
    int n;
    keyed *names = mapping_keys(ld, -1, vprefix, 0, &n);
    if (!names) {
        rc = lm_fail(ld->e, "%s: out of memory", ld->path);
        goto done;
    }
    if (n == 0)
        rc = fail_key(ld, key, "at least one variant is needed");
    m->variants = calloc((size_t)(n ? n : 1), sizeof *m->variants);
    if (!m->variants && rc == 0)
        rc = lm_fail(ld->e, "%s: out of memory", ld->path);
    for (int i = 0; i < n && rc == 0; i++) {
        registry_variant *v = &m->variants[i];
        m->n_variants = i + 1;
        char vkey[600];
        snprintf(vkey, sizeof vkey, "%s%s", vprefix, names[i].name);
        if (strlen(names[i].name) >= MAX_VARIANT) {
            rc = fail_key(ld, vkey, "variant names must be shorter than %d bytes", MAX_VARIANT);
            break;
        }
        v->name = strdup(names[i].name);
        if (!v->name) {
            rc = lm_fail(ld->e, "%s: out of memory", ld->path);
            break;
        }
        lua_getfield(L, -1, names[i].name);
        if (!is_mapping(L, -1))
            rc = fail_key(ld, vkey, "expected a mapping (repo, eos, chat, thinking), found %s", describe(L, -1));
        else {
            char vp[620];
            snprintf(vp, sizeof vp, "%s.", vkey);
            rc = load_variant(ld, lua_gettop(L), vp, m, v);
        }
        lua_pop(L, 1);
    }
    free_keys(names, n);
done:
    lua_pop(L, 1);
    return rc;
}

static int load_models(loader *ld, int cfg, registry *r)
{
    static const char *const top[] = { "models", NULL };
    lua_State *L = ld->L;
    if (check_keys(ld, cfg, "", top))
        return -1;
    lua_getfield(L, cfg, "models");
    int rc = 0;
    if (!is_mapping(L, -1)) {
        rc = fail_key(ld, "models", "expected a mapping of model types, found %s", describe(L, -1));
        goto done;
    }
    int n;
    keyed *names = mapping_keys(ld, -1, "models.", 1, &n);
    if (!names) {
        rc = lm_fail(ld->e, "%s: out of memory", ld->path);
        goto done;
    }
    if (n == 0)
        rc = fail_key(ld, "models", "at least one model type is needed");
    r->models = calloc((size_t)(n ? n : 1), sizeof *r->models);
    if (!r->models && rc == 0)
        rc = lm_fail(ld->e, "%s: out of memory", ld->path);
    for (int i = 0; i < n && rc == 0; i++) {
        registry_model *m = &r->models[i];
        r->n_models = i + 1;
        char prefix[600];
        snprintf(prefix, sizeof prefix, "models.%s", names[i].name);
        if (strlen(names[i].name) >= MAX_MODEL) {
            rc = fail_key(ld, prefix, "model type names must be shorter than %d bytes", MAX_MODEL);
            break;
        }
        for (int j = 0; j < i; j++)
            if (strcasecmp(names[i].name, names[j].name) == 0)
                rc = fail_key(ld, prefix, "model type '%s' differs from '%s' only in case", names[i].name,
                              names[j].name);
        m->name = strdup(names[i].name);
        if (rc == 0 && !m->name)
            rc = lm_fail(ld->e, "%s: out of memory", ld->path);
        if (rc)
            break;
        lua_getfield(L, -1, names[i].name);
        if (!is_mapping(L, -1))
            rc = fail_key(ld, prefix, "expected a mapping (arch, config, sizes, variants), found %s",
                          describe(L, -1));
        else {
            char p[620];
            snprintf(p, sizeof p, "%s.", prefix);
            rc = load_model(ld, lua_gettop(L), p, m);
        }
        lua_pop(L, 1);
    }
    free_keys(names, n);
done:
    lua_pop(L, 1);
    return rc;
}

int registry_load(registry *r, const char *path, lm_err *e)
{
    memset(r, 0, sizeof *r);
    if (path) {
        if (snprintf(r->path, sizeof r->path, "%s", path) >= (int)sizeof r->path)
            return lm_fail(e, "registry: path '%.64s...' is too long", path);
    } else if (registry_default_path(r->path, sizeof r->path, e) != 0) {
        return -1;
    }
    lua_State *L = luaL_newstate();
    if (!L)
        return lm_fail(e, "%s: out of memory", r->path);
    int rc = -1;
    if (config_load_yaml(L, r->path, e) == 0) {
        loader ld = { .L = L, .marks = lua_gettop(L), .path = r->path, .e = e };
        rc = load_models(&ld, lua_gettop(L) - 1, r);
    }
    lua_close(L);
    if (rc != 0)
        registry_free(r);
    return rc;
}

static void free_strings(char **s, int n)
{
    for (int i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

void registry_free(registry *r)
{
    for (int i = 0; r->models && i < r->n_models; i++) {
        registry_model *m = &r->models[i];
        for (int j = 0; m->variants && j < m->n_variants; j++) {
            registry_variant *v = &m->variants[j];
            free(v->name);
            free_strings(v->repos, v->repos ? m->n_sizes : 0);
            free_strings(v->chats, v->chats ? m->n_sizes : 0);
            free_strings(v->eos, v->n_eos);
        }
        free(m->variants);
        free(m->name);
        free(m->arch);
        free(m->config);
        free_strings(m->repo_sizes, m->repo_sizes ? m->n_sizes : 0);
        free_strings(m->sizes, m->n_sizes);
    }
    free(r->models);
    r->models = NULL;
    r->n_models = 0;
}

const registry_model *registry_find_model(const registry *r, const char *name)
{
    for (int i = 0; name && i < r->n_models; i++)
        if (strcasecmp(r->models[i].name, name) == 0)
            return &r->models[i];
    return NULL;
}

const registry_variant *registry_find_variant(const registry_model *m, const char *name)
{
    for (int i = 0; name && i < m->n_variants; i++)
        if (strcasecmp(m->variants[i].name, name) == 0)
            return &m->variants[i];
    return NULL;
}

const char *registry_find_size(const registry_model *m, const char *size)
{
    for (int i = 0; size && i < m->n_sizes; i++)
        if (strcasecmp(m->sizes[i], size) == 0)
            return m->sizes[i];
    return NULL;
}

const char *registry_repo_size(const registry_model *m, const char *size)
{
    for (int i = 0; m->repo_sizes && i < m->n_sizes; i++)
        if (strcasecmp(m->sizes[i], size) == 0 && m->repo_sizes[i])
            return m->repo_sizes[i];
    return size;
}

/* pattern with {size} -> size and {repo_size} -> repo_size (NULL: none allowed). */
static int substitute(const char *pattern, const char *size, const char *repo_size, int lower,
                      char *buf, size_t cap, lm_err *e)
{
    static const char SIZE[] = "{size}", REPO_SIZE[] = "{repo_size}";
    size_t n = 0;
    for (const char *p = pattern; *p;) {
        const char *value = NULL;
        if (strncmp(p, SIZE, sizeof SIZE - 1) == 0) {
            value = size;
            p += sizeof SIZE - 1;
        } else if (repo_size && strncmp(p, REPO_SIZE, sizeof REPO_SIZE - 1) == 0) {
            value = repo_size;
            p += sizeof REPO_SIZE - 1;
        }
        if (value) {
            size_t vlen = strlen(value);
            if (n + vlen >= cap)
                goto too_long;
            for (size_t i = 0; i < vlen; i++)
                buf[n++] = lower ? (char)tolower((unsigned char)value[i]) : value[i];
        } else {
            if (n + 1 >= cap)
                goto too_long;
            buf[n++] = *p++;
        }
    }
    buf[n] = '\0';
    return 0;
too_long:
    return lm_fail(e, "registry: '%s' with size '%s' is longer than %zu bytes; shorten the pattern", pattern,
                   size, cap - 1);
}

int registry_substitute(const char *pattern, const char *size, int lower, char *buf, size_t cap, lm_err *e)
{
    return substitute(pattern, size, NULL, lower, buf, cap, e);
}

int registry_config_rel(const registry_model *m, const char *size, char *buf, size_t cap, lm_err *e)
{
    return substitute(m->config, size, registry_repo_size(m, size), 1, buf, cap, e);
}

int registry_config_path(const registry_model *m, const char *size, char *buf, size_t cap, lm_err *e)
{
    char rel[2048];
    if (registry_config_rel(m, size, rel, sizeof rel, e) != 0)
        return -1;
    int n = rel[0] == '/' ? snprintf(buf, cap, "%s", rel) : snprintf(buf, cap, "%s/%s", lmcc_home(), rel);
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "registry: config path of %s %s is too long; use a shorter LMCC_HOME", m->name, size);
    return 0;
}

/* "a, b, c" of n names taken from get(i). */
static void join_names(char *buf, size_t cap, int n, const char *(*get)(const void *, int), const void *arg)
{
    buf[0] = '\0';
    for (int i = 0; i < n; i++) {
        size_t len = strlen(buf);
        snprintf(buf + len, cap - len, "%s%s", i ? ", " : "", get(arg, i));
    }
}

static const char *model_name_at(const void *r, int i) { return ((const registry *)r)->models[i].name; }
static const char *size_at(const void *m, int i) { return ((const registry_model *)m)->sizes[i]; }
static const char *variant_at(const void *m, int i) { return ((const registry_model *)m)->variants[i].name; }

int registry_lookup(const registry *r, const char *model, const char *size, const char *variant,
                    registry_entry *out, lm_err *e)
{
    char names[1024];
    memset(out, 0, sizeof *out);
    const registry_model *m = registry_find_model(r, model);
    if (!m) {
        join_names(names, sizeof names, r->n_models, model_name_at, r);
        return lm_fail(e, "unknown model type '%s'; known: %s (see 'lmcc list')", model ? model : "", names);
    }
    join_names(names, sizeof names, m->n_sizes, size_at, m);
    if (!size)
        return lm_fail(e, "%s: a size is needed (--size); sizes: %s", m->name, names);
    const char *listed = registry_find_size(m, size);
    if (!listed)
        return lm_fail(e, "%s: unknown size '%s'; sizes: %s", m->name, size, names);
    snprintf(out->model, sizeof out->model, "%s", m->name);
    snprintf(out->arch, sizeof out->arch, "%s", m->arch);
    snprintf(out->size, sizeof out->size, "%s", listed);
    if (registry_config_path(m, listed, out->config_path, sizeof out->config_path, e) != 0)
        return -1;
    if (!variant)
        return 0;
    const registry_variant *v = registry_find_variant(m, variant);
    if (!v) {
        join_names(names, sizeof names, m->n_variants, variant_at, m);
        return lm_fail(e, "%s: unknown variant '%s'; variants: %s", m->name, variant, names);
    }
    out->has_variant = 1;
    snprintf(out->variant, sizeof out->variant, "%s", v->name);
    for (int i = 0; i < m->n_sizes; i++)
        if (m->sizes[i] == listed) {
            if (registry_substitute(v->repos[i], registry_repo_size(m, listed), 0, out->repo, sizeof out->repo,
                                    e) != 0)
                return -1;
            snprintf(out->chat, sizeof out->chat, "%s", v->chats[i]);
        }
    for (int i = 0; i < v->n_eos && i < REGISTRY_MAX_EOS; i++)
        snprintf(out->eos[i], sizeof out->eos[i], "%s", v->eos[i]);
    out->n_eos = v->n_eos;
    out->thinking = v->thinking;
    return 0;
}

int registry_resolve(const char *model, const char *size, const char *variant, registry_entry *out, lm_err *e)
{
    registry r;
    if (registry_load(&r, NULL, e) != 0)
        return -1;
    int rc = registry_lookup(&r, model, size, variant, out, e);
    registry_free(&r);
    return rc;
}

int registry_find_repo(const registry *r, const char *repo, registry_entry *out, lm_err *e)
{
    for (int i = 0; i < r->n_models; i++) {
        const registry_model *m = &r->models[i];
        for (int v = 0; v < m->n_variants; v++)
            for (int s = 0; s < m->n_sizes; s++) {
                char name[512];
                if (registry_substitute(m->variants[v].repos[s], registry_repo_size(m, m->sizes[s]), 0, name,
                                        sizeof name, e) != 0)
                    return -1;
                if (strcasecmp(name, repo) == 0)
                    return registry_lookup(r, m->name, m->sizes[s], m->variants[v].name, out, e) == 0 ? 1 : -1;
            }
    }
    return 0;
}

const char *registry_default_variant(const registry_model *m)
{
    const registry_variant *v = registry_find_variant(m, "instruct");
    return v ? v->name : m->n_variants > 0 ? m->variants[0].name : NULL;
}
