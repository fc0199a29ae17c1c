/* lmcc build CONFIG.yaml [-o DIR] [--dtype D] [--matmul-input P] [--kv-dtype T] [--ctx N] [--batch B] [--emit-only]
 *
 * Runs the frontend, writes the generated sources, then compiles them with
 * clang into lib<model>.a and the <model> executable. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>

#include "commands.h"
#include "frontend.h"
#include "registry.h"
#include "fsutil.h"
#include "subprocess.h"

static const char BUILD_USAGE[] =
    "usage: lmcc build CONFIG.yaml [options]\n"
    "       lmcc build MODEL --size S [options]     (a model type of the registry: lmcc list)\n"
    "Compiles a model config to specialized C and builds its executable and library.\n"
    "  -s, --size S      model size, with MODEL (e.g. 0.6B)\n"
    "  -o, --out DIR     output directory (default build/models/<model>)\n"
    "      --dtype D     weight dtype: float32, bfloat16, float16, q8_0, q4_0 or q4_k8\n"
    "                    (default: the config's; q8_0, q4_0 and q4_k8, lmcc's\n"
    "                    k-quant-like 4-bit type, are quantized at load)\n"
    "      --matmul-input P  precision of the activations fed to bf16 weights: bf16 (default\n"
    "                    for bf16 builds: rounded, as transformers runs a bf16 model; multiplies\n"
    "                    on AMX or with AVX-512 BF16 where the target has them) or f32 (on AMX\n"
    "                    as two bf16 parts, within 2^-17 relative); docs/performance.md\n"
    "      --kv-dtype T  what the KV cache stores keys and values as: bf16 (default for bf16\n"
    "                    builds: rounded, half the memory and half the bytes a decode step\n"
    "                    reads) or f32 (the default for every other dtype); with a bf16\n"
    "                    cache and bf16 or int8 linear inputs, attention also rounds its\n"
    "                    queries and probabilities to bf16, as transformers' bf16 attention\n"
    "                    does (on AMX or AVX-512 BF16 where the target has them)\n"
    "      --ctx N       KV-cache length in tokens (default: the config's context_length)\n"
    "      --batch B     most tokens per forward call, the prefill chunk (default 256)\n"
    "      --emit-only   write the C sources only; do not compile\n"
    "      --name NAME   model name (default: the config file's name)\n"
    "  -v, --verbose     echo compiler commands\n"
    "  -h, --help        this text\n"
    "Environment: LMCC_CC (C compiler, default " LMCC_CC_DEFAULT "), LMCC_CFLAGS (extra flags).\n";

static int parse_positive(const char *opt, const char *s, int *out, lm_err *e)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v <= 0 || v > 100000000)
        return lm_fail(e, "%s: expected a positive integer, found '%s'", opt, s);
    *out = (int)v;
    return 0;
}

/* Writes the files of the result table { files = { { name, text }, ... } }. */
static int write_sources(lua_State *L, const char *dir, lm_err *e)
{
    if (lm_mkdirs(dir, e) != 0)
        return -1;
    lua_getfield(L, -1, "files");
    int n = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= n; i++) {
        lua_rawgeti(L, -1, i);
        lua_rawgeti(L, -1, 1);
        lua_rawgeti(L, -2, 2);
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        char path[4096];
        if (fs_join(path, sizeof path, dir, lua_tostring(L, -2), e) != 0 ||
            lm_write_atomic(path, text, len, e) != 0) {
            lua_pop(L, 4);
            return -1;
        }
        lua_pop(L, 3);
    }
    lua_pop(L, 1);
    return 0;
}

/* Splits a space-separated flag string into argv entries. */
static int add_flags(char **argv, int argc, int cap, char *flags)
{
    for (char *tok = strtok(flags, " \t"); tok && argc < cap - 1; tok = strtok(NULL, " \t"))
        argv[argc++] = tok;
    return argc;
}

static int compile_model(const char *home, const char *dir, const char *cname, const char *name,
                         int verbose, lm_err *e)
{
    const char *cc = getenv("LMCC_CC");
    if (!cc || !*cc)
        cc = LMCC_CC_DEFAULT;
    const char *runtime_lib = getenv("LMCC_RUNTIME_LIB");
    if (!runtime_lib || !*runtime_lib)
        runtime_lib = LMCC_RUNTIME_LIB;
    if (!fs_exists(runtime_lib))
        return lm_fail(e, "%s: the lmcc runtime library is missing; build lmcc first (make build)", runtime_lib);

    char model_flags[] = LMCC_MODEL_CFLAGS;
    const char *extra_env = getenv("LMCC_CFLAGS");
    char *extra = strdup(extra_env ? extra_env : "");
    char inc_rt[4200], inc_src[4200], src[4200], main_src[4200], obj[4200], lib[4200], libtmp[4200],
        exe[4200], exetmp[4200];
    snprintf(inc_rt, sizeof inc_rt, "-I%s/runtime", home);
    snprintf(inc_src, sizeof inc_src, "-I%s", dir);
    snprintf(src, sizeof src, "%s/%s.c", dir, cname);
    snprintf(main_src, sizeof main_src, "%s/%s_main.c", dir, cname);
    snprintf(obj, sizeof obj, "%s/%s.o.tmp", dir, cname);
    snprintf(lib, sizeof lib, "%s/lib%s.a", dir, cname);
    snprintf(libtmp, sizeof libtmp, "%s/lib%s.a.tmp", dir, cname);
    snprintf(exe, sizeof exe, "%s/%s", dir, name);
    snprintf(exetmp, sizeof exetmp, "%s/%s.tmp", dir, name);
    int rc = -1;

    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)cc;
    argv[argc++] = "-std=c17";
    argc = add_flags(argv, argc, 40, model_flags);
    argc = add_flags(argv, argc, 48, extra);
    int flags_end = argc;
    argv[argc++] = inc_rt;
    argv[argc++] = inc_src;
    argv[argc++] = "-c";
    argv[argc++] = src;
    argv[argc++] = "-o";
    argv[argc++] = obj;
    argv[argc] = NULL;
    if (spawn_run(argv, verbose, e) != 0)
        goto out;

    unlink(libtmp);
    char *ar[] = { "ar", "rcs", libtmp, obj, NULL };
    if (spawn_run(ar, verbose, e) != 0)
        goto out;

    argc = flags_end;
    argv[argc++] = inc_rt;
    argv[argc++] = inc_src;
    argv[argc++] = main_src;
    argv[argc++] = libtmp;
    argv[argc++] = (char *)runtime_lib;
    char model_libs[] = LMCC_MODEL_LIBS;
    argc = add_flags(argv, argc, 60, model_libs);
    argv[argc++] = "-o";
    argv[argc++] = exetmp;
    argv[argc] = NULL;
    if (spawn_run(argv, verbose, e) != 0)
        goto out;

    if (rename(libtmp, lib) != 0 || rename(exetmp, exe) != 0) {
        lm_fail(e, "%s: cannot move the build into place", dir);
        goto out;
    }
    rc = 0;
out:
    unlink(obj);
    unlink(libtmp);
    unlink(exetmp);
    free(extra);
    return rc;
}

int cmd_build(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' },    { "dtype", required_argument, 0, 'd' },
        { "ctx", required_argument, 0, 'c' },    { "batch", required_argument, 0, 'b' },
        { "emit-only", no_argument, 0, 'e' },    { "name", required_argument, 0, 'N' },
        { "verbose", no_argument, 0, 'v' },      { "help", no_argument, 0, 'h' },
        { "size", required_argument, 0, 's' },   { "matmul-input", required_argument, 0, 'm' },
        { "kv-dtype", required_argument, 0, 'k' },
        { 0, 0, 0, 0 },
    };
    const char *out = NULL, *name = NULL, *size = NULL;
    frontend_opts fo = { 0 };
    int emit_only = 0, verbose = 0;
    lm_err e;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "o:s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': size = optarg; break;
        case 'o': out = optarg; break;
        case 'd': fo.dtype = optarg; break;
        case 'm': fo.matmul_input = optarg; break;
        case 'k': fo.kv_dtype = optarg; break;
        case 'c':
            if (parse_positive("--ctx", optarg, &fo.ctx, &e) != 0)
                return usage_error("build", e.msg, BUILD_USAGE);
            break;
        case 'b':
            if (parse_positive("--batch", optarg, &fo.batch, &e) != 0)
                return usage_error("build", e.msg, BUILD_USAGE);
            break;
        case 'e': emit_only = 1; break;
        case 'N': name = optarg; break;
        case 'v': verbose = 1; break;
        case 'h': fputs(BUILD_USAGE, stdout); return 0;
        default: return usage_error("build", NULL, BUILD_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("build", "expected one CONFIG.yaml or MODEL", BUILD_USAGE);
    const char *config = argv[optind];

    /* A name that is not a YAML file is a model type of the registry. */
    registry_entry entry;
    size_t alen = strlen(config);
    int is_yaml = alen > 5 && (strcmp(config + alen - 5, ".yaml") == 0 || strcmp(config + alen - 4, ".yml") == 0);
    if (!is_yaml && !fs_exists(config)) {
        if (!size) {
            registry_entry probe;
            if (registry_resolve(config, "", NULL, &probe, &e) != 0 && !strstr(e.msg, "size"))
                return report_error(&e);
            return usage_error("build", "--size is required with a model type (see lmcc list)", BUILD_USAGE);
        }
        if (registry_resolve(config, size, NULL, &entry, &e) != 0)
            return report_error(&e);
        config = entry.config_path;
    } else if (size) {
        return usage_error("build", "--size goes with a model type, not a config file", BUILD_USAGE);
    }

    char model[256];
    if (name)
        snprintf(model, sizeof model, "%s", name);
    else
        fs_stem(config, ".yaml", model, sizeof model);
    fo.name = model;
    char outdir[4096];
    if (out)
        snprintf(outdir, sizeof outdir, "%s", out);
    else
        snprintf(outdir, sizeof outdir, "build/models/%s", model);

    frontend f;
    if (frontend_open(&f, &e) != 0)
        return report_error(&e);
    int rc = 1;
    if (frontend_call(&f, "compile", config, &fo, &e) != 0)
        goto done;
    lua_getfield(f.L, -1, "c_name");
    char cname[256];
    snprintf(cname, sizeof cname, "%s", lua_tostring(f.L, -1));
    lua_pop(f.L, 1);
    if (write_sources(f.L, outdir, &e) != 0)
        goto done;
    if (!emit_only) {
        if (compile_model(f.home, outdir, cname, model, verbose, &e) != 0)
            goto done;
        fprintf(stderr, "lmcc: built %s/%s\n", outdir, model);
    } else {
        fprintf(stderr, "lmcc: wrote %s/%s.c\n", outdir, cname);
    }
    rc = 0;
done:
    if (rc != 0)
        report_error(&e);
    frontend_close(&f);
    return rc;
}
