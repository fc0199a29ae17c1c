/* lmcc inspect DIR [--config C]
 *
 * Lists a checkpoint's tensors (name, dtype, shape, bytes). Given a config
 * (a YAML file, or MODEL:SIZE from the registry) it also prints the mapping
 * report: every tensor the architecture expects that is missing or has
 * another shape, every tensor the architecture does not use, and every
 * config.json field that disagrees with the config, all in one run, so a
 * broken conversion is diagnosed at once rather than one error per try. */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lua.h>

#include "../runtime/weights/checkpoint.h"
#include "commands.h"
#include "frontend.h"
#include "fsutil.h"
#include "registry.h"

static const char INSPECT_USAGE[] =
    "usage: lmcc inspect DIR [--config C]\n"
    "Lists the tensors of a Hugging Face checkpoint directory (name, dtype, shape, bytes).\n"
    "  -c, --config C   also check it against a config: a YAML file or MODEL:SIZE\n"
    "                   (e.g. qwen3:0.6B); reports every missing, unexpected and\n"
    "                   mis-shaped tensor and every differing config.json field,\n"
    "                   and exits 1 when there is any\n"
    "  -h, --help       this text\n";

static void format_shape(const int64_t *shape, int ndim, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, d ? ", " : "", shape[d]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static void format_size(size_t bytes, char *buf, size_t cap)
{
    if (bytes >= (size_t)1 << 30)
        snprintf(buf, cap, "%.2f GiB", (double)bytes / (double)((size_t)1 << 30));
    else if (bytes >= (size_t)1 << 20)
        snprintf(buf, cap, "%.2f MiB", (double)bytes / (double)((size_t)1 << 20));
    else
        snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024.0);
}

static void list_tensors(const lm_checkpoint *ck)
{
    size_t n = lm_checkpoint_count(ck), name_w = 4, shape_w = 5, total = 0, files = 0;
    char shape[256];
    for (size_t i = 0; i < n; i++) {
        const lm_tensor *t = lm_checkpoint_tensor(ck, i);
        format_shape(t->shape, t->ndim, shape, sizeof shape);
        if (strlen(t->name) > name_w)
            name_w = strlen(t->name);
        if (strlen(shape) > shape_w)
            shape_w = strlen(shape);
    }
    printf("%-*s  %-5s  %-*s  %s\n", (int)name_w, "NAME", "DTYPE", (int)shape_w, "SHAPE", "BYTES");
    for (size_t i = 0; i < n; i++) {
        const lm_tensor *t = lm_checkpoint_tensor(ck, i);
        format_shape(t->shape, t->ndim, shape, sizeof shape);
        printf("%-*s  %-5s  %-*s  %zu\n", (int)name_w, t->name, lm_st_dtype_name(t->dtype), (int)shape_w, shape,
               t->nbytes);
        total += t->nbytes;
        /* Shard names repeat; count each the first time it appears. */
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = strcmp(lm_checkpoint_tensor(ck, j)->file, t->file) == 0;
        files += !seen;
    }
    char human[64];
    format_size(total, human, sizeof human);
    printf("total: %zu tensor%s, %zu bytes (%s) in %zu file%s\n", n, n == 1 ? "" : "s", total, human, files,
           files == 1 ? "" : "s");
}

typedef struct problems {
    int missing, unexpected, misshaped, config;
} problems;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Compares the expected tensors (the spec's "tensors" list on top of the
 * stack) with the checkpoint. */
static int check_tensors(lua_State *L, const lm_checkpoint *ck, problems *p, lm_err *e)
{
    int n = (int)lua_rawlen(L, -1);
    const char **expected = calloc((size_t)(n ? n : 1), sizeof *expected);
    if (!expected)
        return lm_fail(e, "inspect: out of memory");
    char want[256], got[256];
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        const char *name = lua_tostring(L, -1); /* kept alive by the spec table */
        lua_pop(L, 1);
        expected[i - 1] = name;
        int64_t shape[LM_ST_MAX_DIMS];
        lua_getfield(L, -1, "shape");
        int ndim = (int)lua_rawlen(L, -1);
        if (ndim > LM_ST_MAX_DIMS)
            ndim = LM_ST_MAX_DIMS;
        for (int d = 0; d < ndim; d++) {
            lua_rawgeti(L, -1, d + 1);
            shape[d] = (int64_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
        format_shape(shape, ndim, want, sizeof want);
        const lm_tensor *t = lm_checkpoint_find(ck, name);
        if (!t) {
            printf("  missing     %s: expected shape %s\n", name, want);
            p->missing++;
            continue;
        }
        int same = t->ndim == ndim;
        for (int d = 0; same && d < ndim; d++)
            same = t->shape[d] == shape[d];
        if (!same) {
            format_shape(t->shape, t->ndim, got, sizeof got);
            printf("  mis-shaped  %s: shape %s, expected %s\n", name, got, want);
            p->misshaped++;
        }
    }
    qsort(expected, (size_t)n, sizeof *expected, cmp_str);
    for (size_t i = 0; i < lm_checkpoint_count(ck); i++) {
        const lm_tensor *t = lm_checkpoint_tensor(ck, i);
        if (!bsearch(&t->name, expected, (size_t)n, sizeof *expected, cmp_str)) {
            format_shape(t->shape, t->ndim, got, sizeof got);
            printf("  unexpected  %s: %s %s, not used by the architecture\n", t->name, lm_st_dtype_name(t->dtype),
                   got);
            p->unexpected++;
        }
    }
    free(expected);
    return 0;
}

/* Does config.json's value equal the Lua value at idx? */
static int json_equals_lua(json_t *j, lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_is_boolean(j) && json_is_true(j) == lua_toboolean(L, idx);
    case LUA_TSTRING: return json_is_string(j) && strcmp(json_string_value(j), lua_tostring(L, idx)) == 0;
    case LUA_TNUMBER: {
        if (!json_is_number(j))
            return 0;
        double a = json_number_value(j), b = lua_tonumber(L, idx);
        return a == b || fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
    }
    case LUA_TTABLE: {
        size_t n = lua_rawlen(L, idx);
        if (!json_is_array(j) || json_array_size(j) != n)
            return 0;
        int same = 1;
        for (size_t i = 0; i < n && same; i++) {
            lua_rawgeti(L, idx, (lua_Integer)i + 1);
            same = json_equals_lua(json_array_get(j, i), L, lua_gettop(L));
            lua_pop(L, 1);
        }
        return same;
    }
    default: return 0;
    }
}

/* A Lua value as config.json would spell it, for the report. */
static void lua_value_text(lua_State *L, int idx, char *buf, size_t cap)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: snprintf(buf, cap, "%s", lua_toboolean(L, idx) ? "true" : "false"); break;
    case LUA_TSTRING: snprintf(buf, cap, "\"%s\"", lua_tostring(L, idx)); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            snprintf(buf, cap, "%lld", (long long)lua_tointeger(L, idx));
        else
            snprintf(buf, cap, "%.17g", lua_tonumber(L, idx));
        break;
    case LUA_TTABLE: {
        size_t n = (size_t)snprintf(buf, cap, "[");
        for (lua_Integer i = 1; i <= (lua_Integer)lua_rawlen(L, idx) && n < cap; i++) {
            lua_rawgeti(L, idx, i);
            char item[256];
            lua_value_text(L, lua_gettop(L), item, sizeof item);
            lua_pop(L, 1);
            n += (size_t)snprintf(buf + n, cap - n, "%s%s", i > 1 ? "," : "", item);
        }
        if (n < cap)
            snprintf(buf + n, cap - n, "]");
        break;
    }
    default: snprintf(buf, cap, "?"); break;
    }
}

/* config.json against the config's fields (the spec's "config" list on top
 * of the stack). Fields config.json lacks are fine: Hugging Face fills in
 * defaults. The stored dtype may differ from the compiled one. */
static void check_config_json(lua_State *L, const char *dir, problems *p)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!json_is_object(root)) {
        printf("  config.json unreadable: %s\n", root ? "not a JSON object" : jerr.text);
        p->config++;
        json_decref(root);
        return;
    }
    int n = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        const char *key = lua_tostring(L, -2);
        json_t *j = key ? json_object_get(root, key) : NULL;
        if (j && strcmp(key, "torch_dtype") != 0 && !json_equals_lua(j, L, lua_gettop(L))) {
            char *found = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
            char want[512];
            lua_value_text(L, lua_gettop(L), want, sizeof want);
            printf("  config.json %s: %s, the config says %s\n", key, found ? found : "?", want);
            free(found);
            p->config++;
        }
        lua_pop(L, 3);
    }
    json_decref(root);
}

/* --config C: a YAML path, or MODEL:SIZE looked up in the registry. */
static int resolve_config(const char *arg, char *path, size_t cap, lm_err *e)
{
    const char *colon = strchr(arg, ':');
    if (!colon || fs_exists(arg)) {
        if (snprintf(path, cap, "%s", arg) >= (int)cap)
            return lm_fail(e, "--config: path is too long");
        return 0;
    }
    char model[128];
    snprintf(model, sizeof model, "%.*s", (int)(colon - arg < 127 ? colon - arg : 127), arg);
    registry_entry ent;
    if (registry_resolve(model, colon + 1, NULL, &ent, e) != 0)
        return -1;
    if (snprintf(path, cap, "%s", ent.config_path) >= (int)cap)
        return lm_fail(e, "--config: path is too long");
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, 0, 'c' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *config_arg = NULL;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config_arg = optarg; break;
        case 'h': fputs(INSPECT_USAGE, stdout); return 0;
        default: return usage_error("inspect", NULL, INSPECT_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("inspect", "expected one checkpoint DIR", INSPECT_USAGE);
    const char *dir = argv[optind];

    lm_err e;
    char config[4096];
    if (config_arg && resolve_config(config_arg, config, sizeof config, &e) != 0)
        return report_error(&e);
    lm_checkpoint *ck = lm_checkpoint_open(dir, &e);
    if (!ck)
        return report_error(&e);
    printf("checkpoint %s\n", dir);
    list_tensors(ck);
    if (!config_arg) {
        lm_checkpoint_close(ck);
        return 0;
    }

    frontend f;
    if (frontend_open(&f, &e) != 0) {
        lm_checkpoint_close(ck);
        return report_error(&e);
    }
    char model[256];
    fs_stem(config, ".yaml", model, sizeof model);
    frontend_opts fo = { .name = model };
    int rc = 1;
    problems p = { 0 };
    if (frontend_call(&f, "checkpoint_spec", config, &fo, &e) != 0)
        goto done;
    lua_State *L = f.L;
    lua_getfield(L, -1, "tensors");
    int n_expected = (int)lua_rawlen(L, -1);
    printf("\nmapping against %s (%d tensors expected)\n", config, n_expected);
    int failed = check_tensors(L, ck, &p, &e);
    lua_pop(L, 1);
    if (failed)
        goto done;
    lua_getfield(L, -1, "config");
    check_config_json(L, dir, &p);
    lua_pop(L, 1);
    int total = p.missing + p.unexpected + p.misshaped + p.config;
    if (total == 0) {
        printf("result: the checkpoint matches the config\n");
        rc = 0;
    } else {
        printf("result: %d problem%s: %d missing, %d unexpected, %d mis-shaped tensor%s, %d config.json "
               "field%s\n",
               total, total == 1 ? "" : "s", p.missing, p.unexpected, p.misshaped, p.misshaped == 1 ? "" : "s",
               p.config, p.config == 1 ? "" : "s");
        lm_fail(&e, "%s: does not match %s (%d problem%s); see the mapping report above", dir, config, total,
                total == 1 ? "" : "s");
    }
done:
    if (rc != 0)
        report_error(&e);
    frontend_close(&f);
    lm_checkpoint_close(ck);
    return rc;
}
