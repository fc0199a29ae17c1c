/* lmcc synth CONFIG.yaml -o DIR [--seed N] [--dtype bf16|f32] [--shards K]
 *
 * Writes a random checkpoint in Hugging Face layout for a config: the
 * tensors the architecture script names, with their shapes, and the
 * config.json Hugging Face would write. For tests, benchmarks and demos. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <lua.h>

#include "commands.h"
#include "frontend.h"
#include "fsutil.h"
#include "synth.h"

static const char SYNTH_USAGE[] =
    "usage: lmcc synth CONFIG.yaml -o DIR [options]\n"
    "Writes a checkpoint with random weights in Hugging Face layout and naming.\n"
    "  -o, --out DIR     checkpoint directory to write (required)\n"
    "      --seed N      random seed (default 0); the same seed gives the same bytes\n"
    "      --dtype D     stored dtype: bf16 or f32 (default: the config's, f32 when it is q8_0)\n"
    "      --shards K    split into K safetensors shards with an index (default 1)\n"
    "  -h, --help        this text\n";

static json_t *lua_to_json(lua_State *L, int idx);

static int compare_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A Lua table with string keys -> a JSON object, keys in sorted order so
 * the file does not depend on Lua's hash order (rope_scaling). */
static json_t *lua_to_json_object(lua_State *L, int idx)
{
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        n += lua_type(L, -2) == LUA_TSTRING;
        lua_pop(L, 1);
    }
    json_t *o = json_object();
    const char **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!o || !keys) {
        free(keys);
        json_decref(o);
        return NULL;
    }
    size_t k = 0;
    lua_pushnil(L);
    while (lua_next(L, idx) != 0) {
        if (lua_type(L, -2) == LUA_TSTRING)
            keys[k++] = lua_tostring(L, -2); /* the key stays referenced by the table */
        lua_pop(L, 1);
    }
    qsort(keys, n, sizeof *keys, compare_keys);
    for (size_t i = 0; i < n; i++) {
        lua_getfield(L, idx, keys[i]);
        json_object_set_new(o, keys[i], lua_to_json(L, lua_gettop(L)));
        lua_pop(L, 1);
    }
    free(keys);
    return o;
}

/* Lua value at the top of the stack -> JSON (config.json field values): a
 * sequence (or an empty table) is an array, a table with string keys an
 * object. */
static json_t *lua_to_json(lua_State *L, int idx)
{
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return json_boolean(lua_toboolean(L, idx));
    case LUA_TSTRING: return json_string(lua_tostring(L, idx));
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx))
            return json_integer((json_int_t)lua_tointeger(L, idx));
        return json_real(lua_tonumber(L, idx));
    case LUA_TTABLE: {
        int n = (int)lua_rawlen(L, idx);
        if (n == 0) {
            /* An empty table is an empty list (mlp_only_layers: []). */
            lua_pushnil(L);
            if (lua_next(L, idx) == 0)
                return json_array();
            lua_pop(L, 2);
            return lua_to_json_object(L, idx);
        }
        json_t *a = json_array();
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            json_array_append_new(a, lua_to_json(L, lua_gettop(L)));
            lua_pop(L, 1);
        }
        return a;
    }
    default: return json_null();
    }
}

static synth_init init_kind(const char *s)
{
    if (strcmp(s, "embedding") == 0)
        return SYNTH_EMBEDDING;
    if (strcmp(s, "norm") == 0)
        return SYNTH_NORM;
    if (strcmp(s, "bias") == 0)
        return SYNTH_BIAS;
    if (strcmp(s, "norm_delta") == 0)
        return SYNTH_NORM_DELTA;
    return SYNTH_MATRIX;
}

/* The spread of each kind: matrices keep activations near unit scale;
 * embeddings are small (Hugging Face's initializer_range, 0.02) so a tied
 * head does not just predict the input token again and greedy runs exercise
 * every layer; norms vary around one so an ignored norm weight shows. */
static double init_scale(synth_init k)
{
    switch (k) {
    case SYNTH_EMBEDDING: return 0.02;
    case SYNTH_NORM:
    case SYNTH_NORM_DELTA: return 0.2;
    case SYNTH_BIAS: return 0.2;
    default: return 1.0;
    }
}

int cmd_synth(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' },  { "seed", required_argument, 0, 's' },
        { "dtype", required_argument, 0, 'd' }, { "shards", required_argument, 0, 'k' },
        { "help", no_argument, 0, 'h' },        { 0, 0, 0, 0 },
    };
    const char *out = NULL, *dtype = NULL;
    unsigned long long seed = 0;
    int shards = 1;
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 's':
            seed = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || optarg[0] == '-')
                return usage_error("synth", "--seed: expected a non-negative integer", SYNTH_USAGE);
            break;
        case 'd': dtype = optarg; break;
        case 'k': {
            long k = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || k < 1 || k > 999)
                return usage_error("synth", "--shards: expected an integer from 1 to 999", SYNTH_USAGE);
            shards = (int)k;
            break;
        }
        case 'h': fputs(SYNTH_USAGE, stdout); return 0;
        default: return usage_error("synth", NULL, SYNTH_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("synth", "expected one CONFIG.yaml", SYNTH_USAGE);
    if (!out)
        return usage_error("synth", "-o DIR is required", SYNTH_USAGE);
    const char *config = argv[optind];

    lm_err e;
    frontend f;
    if (frontend_open(&f, &e) != 0)
        return report_error(&e);
    char model[256];
    fs_stem(config, ".yaml", model, sizeof model);
    frontend_opts fo = { .name = model };
    int rc = 1;
    synth_tensor *tensors = NULL;
    json_t *cfg = NULL;
    char *cfg_text = NULL;
    lua_State *L = f.L;
    if (frontend_call(&f, "checkpoint_spec", config, &fo, &e) != 0)
        goto done;

    /* config.json, in the order the architecture lists its fields. */
    cfg = json_object();
    const char *stored = NULL;
    lua_getfield(L, -1, "config");
    int nf = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= nf; i++) {
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        const char *key = lua_tostring(L, -2);
        if (strcmp(key, "torch_dtype") == 0)
            stored = lua_tostring(L, -1);
        json_object_set_new(cfg, key, lua_to_json(L, lua_gettop(L)));
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    int bf16;
    if (dtype) {
        if (strcmp(dtype, "bf16") == 0 || strcmp(dtype, "bfloat16") == 0)
            bf16 = 1;
        else if (strcmp(dtype, "f32") == 0 || strcmp(dtype, "float32") == 0)
            bf16 = 0;
        else {
            lm_fail(&e, "--dtype: expected bf16 or f32, found '%s'", dtype);
            goto done;
        }
    } else {
        bf16 = stored && strcmp(stored, "bfloat16") == 0;
    }
    json_object_set_new(cfg, "torch_dtype", json_string(bf16 ? "bfloat16" : "float32"));
    cfg_text = json_dumps(cfg, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));

    lua_getfield(L, -1, "tensors");
    int nt = (int)lua_rawlen(L, -1);
    tensors = calloc((size_t)nt, sizeof *tensors);
    for (int i = 1; i <= nt; i++) {
        synth_tensor *t = &tensors[i - 1];
        lua_rawgeti(L, -1, i);
        lua_getfield(L, -1, "name");
        t->name = lua_tostring(L, -1); /* stays referenced by the spec table */
        lua_pop(L, 1);
        lua_getfield(L, -1, "init");
        t->init = init_kind(lua_tostring(L, -1));
        lua_pop(L, 1);
        t->scale = init_scale(t->init);
        lua_getfield(L, -1, "shape");
        t->ndim = (int)lua_rawlen(L, -1);
        for (int d = 0; d < t->ndim && d < 4; d++) {
            lua_rawgeti(L, -1, d + 1);
            t->shape[d] = (int64_t)lua_tointeger(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 2);
    }
    synth_options so = { .seed = seed, .bf16 = bf16, .shards = shards };
    if (synth_checkpoint(out, tensors, (size_t)nt, cfg_text, &so, &e) != 0)
        goto done;
    fprintf(stderr, "lmcc: wrote %s (%d tensors, %s, %d shard%s)\n", out, nt, bf16 ? "bf16" : "f32",
            shards, shards == 1 ? "" : "s");
    rc = 0;
done:
    if (rc != 0)
        report_error(&e);
    free(tensors);
    free(cfg_text);
    json_decref(cfg);
    frontend_close(&f);
    return rc;
}
