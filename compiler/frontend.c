#include "frontend.h"

#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lualib.h>

#include <jansson.h>

#include "config_yaml.h"

const char *lmcc_home(void)
{
    const char *h = getenv("LMCC_HOME");
    return h && *h ? h : LMCC_HOME_DEFAULT;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pushes the sorted list of architectures: compiler/archs/<name>.lua. */
static void push_arch_list(lua_State *L, const char *dir)
{
    lua_newtable(L);
    DIR *d = opendir(dir);
    if (!d)
        return;
    char *names[256];
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) && n < 256) {
        size_t len = strlen(ent->d_name);
        if (len > 4 && strcmp(ent->d_name + len - 4, ".lua") == 0 && ent->d_name[0] != '.')
            names[n++] = strndup(ent->d_name, len - 4);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof names[0], cmp_str);
    for (int i = 0; i < n; i++) {
        lua_pushstring(L, names[i]);
        lua_rawseti(L, -2, i + 1);
        free(names[i]);
    }
}

/* Message handler: compile errors (tables with msg) pass through as their
 * message; anything else is a bug and gets a traceback. */
static int on_error(lua_State *L)
{
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "msg");
        if (lua_isstring(L, -1))
            return 1;
        lua_pop(L, 1);
    }
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    lua_pushfstring(L, "internal error in the Lua frontend: %s", lua_tostring(L, -1));
    return 1;
}

int frontend_open(frontend *f, lm_err *e)
{
    snprintf(f->home, sizeof f->home, "%s", lmcc_home());
    f->L = luaL_newstate();
    if (!f->L)
        return lm_fail(e, "lua: cannot create a state (out of memory)");
    luaL_openlibs(f->L);
    lua_getglobal(f->L, "package");
    lua_pushfstring(f->L, "%s/compiler/frontend/?.lua", f->home);
    lua_setfield(f->L, -2, "path");
    lua_pushstring(f->L, "");
    lua_setfield(f->L, -2, "cpath");
    lua_pop(f->L, 1);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/compiler/frontend/driver.lua", f->home);
    FILE *fp = fopen(probe, "r");
    if (!fp) {
        lua_close(f->L);
        f->L = NULL;
        return lm_fail(e, "%s: the lmcc frontend is missing; set LMCC_HOME to the lmcc source tree", probe);
    }
    fclose(fp);
    return 0;
}

void frontend_close(frontend *f)
{
    if (f->L)
        lua_close(f->L);
    f->L = NULL;
}

/* JSON value -> Lua value (objects -> tables, arrays -> 1-based arrays,
 * null -> nil), for config.json. */
static void push_json(lua_State *L, json_t *v, int depth)
{
    luaL_checkstack(L, 4, "config.json nests too deeply");
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        lua_newtable(L);
        const char *k;
        json_t *item;
        json_object_foreach(v, k, item) {
            if (json_is_null(item) || depth > 32)
                continue;
            push_json(L, item, depth + 1);
            lua_setfield(L, -2, k);
        }
        break;
    }
    case JSON_ARRAY: {
        lua_newtable(L);
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item) {
            if (depth > 32)
                break;
            push_json(L, item, depth + 1);
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case JSON_STRING: lua_pushlstring(L, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: lua_pushinteger(L, (lua_Integer)json_integer_value(v)); break;
    case JSON_REAL: lua_pushnumber(L, json_real_value(v)); break;
    case JSON_TRUE: lua_pushboolean(L, 1); break;
    case JSON_FALSE: lua_pushboolean(L, 0); break;
    default: lua_pushnil(L); break;
    }
}

/* t[key] = value for the table on top of the stack; nothing for NULL. */
static void set_string_field(lua_State *L, const char *key, const char *value)
{
    if (!value)
        return;
    lua_pushstring(L, value);
    lua_setfield(L, -2, key);
}

/* Pushes the opts table every driver entry point takes. */
static void push_opts(frontend *f, const char *input_path, const frontend_opts *o)
{
    lua_State *L = f->L;
    lua_newtable(L);
    lua_pushstring(L, input_path);
    lua_setfield(L, -2, "config_path");
    set_string_field(L, "name", o->name);
    set_string_field(L, "dtype", o->dtype);
    set_string_field(L, "matmul_input", o->matmul_input);
    set_string_field(L, "kv_dtype", o->kv_dtype);
    if (o->batch > 0) {
        lua_pushinteger(L, o->batch);
        lua_setfield(L, -2, "batch");
    }
    if (o->ctx > 0) {
        lua_pushinteger(L, o->ctx);
        lua_setfield(L, -2, "ctx");
    }
    lua_pushfstring(L, "%s/compiler/archs", f->home);
    lua_setfield(L, -2, "arch_dir");
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/compiler/archs", f->home);
    push_arch_list(L, dir);
    lua_setfield(L, -2, "archs");
    lua_pushfstring(L, "%s/templates", f->home);
    lua_setfield(L, -2, "templates");
    lua_pushstring(L, LMCC_VERSION);
    lua_setfield(L, -2, "version");
}

/* Pushes the message handler and driver.<fn>; returns the handler's index. */
static int push_driver_fn(frontend *f, const char *fn, lm_err *e)
{
    lua_State *L = f->L;
    int base = lua_gettop(L);
    lua_pushcfunction(L, on_error);
    lua_getglobal(L, "require");
    lua_pushstring(L, "driver");
    if (lua_pcall(L, 1, 1, base + 1) != LUA_OK) {
        lm_fail(e, "%s", lua_tostring(L, -1));
        lua_settop(L, base);
        return -1;
    }
    lua_getfield(L, -1, fn);
    lua_remove(L, -2);
    return base + 1;
}

/* Calls the function under its arguments; leaves only the result. */
static int finish_call(frontend *f, int handler, int nargs, lm_err *e)
{
    lua_State *L = f->L;
    if (lua_pcall(L, nargs, 1, handler) != LUA_OK) {
        lm_fail(e, "%s", lua_tostring(L, -1));
        lua_settop(L, handler - 1);
        return -1;
    }
    lua_remove(L, handler);
    return 0;
}

int frontend_call(frontend *f, const char *fn, const char *config_path, const frontend_opts *o,
                  lm_err *e)
{
    int h = push_driver_fn(f, fn, e);
    if (h < 0)
        return -1;
    if (config_load_yaml(f->L, config_path, e) != 0) {
        lua_settop(f->L, h - 1);
        return -1;
    }
    push_opts(f, config_path, o);
    return finish_call(f, h, 3, e);
}

int frontend_call_json(frontend *f, const char *fn, const char *json_path, const frontend_opts *o,
                       lm_err *e)
{
    json_error_t je;
    json_t *root = json_load_file(json_path, JSON_DECODE_ANY, &je);
    if (!root)
        return lm_fail(e, "%s:%d:%d: %s; pass a Hugging Face config.json", json_path, je.line,
                       je.column, je.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return lm_fail(e, "%s: expected a JSON object; pass a Hugging Face config.json", json_path);
    }
    int h = push_driver_fn(f, fn, e);
    if (h < 0) {
        json_decref(root);
        return -1;
    }
    push_json(f->L, root, 0);
    json_decref(root);
    push_opts(f, json_path, o);
    return finish_call(f, h, 2, e);
}
