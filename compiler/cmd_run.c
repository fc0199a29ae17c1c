/* lmcc run MODEL --size S [--variant V] | ORG/NAME  [run options] [executable options]
 *
 * From a name to text in one command: pulls the checkpoint into the hub
 * cache if it is not there, compiles the model once into the build cache
 * (build_cache.h), then runs the executable on the snapshot with the
 * variant's defaults (base: completion; instruct and chat: --chat;
 * reasoning: --chat --think). Every option lmcc run does not know goes to
 * the executable and overrides those defaults. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <lua.h>

#include "build_cache.h"
#include "commands.h"
#include "frontend.h"
#include "fsutil.h"
#include "../runtime/hub/hub_http.h"
#include "../runtime/hub/hub_pull.h"
#include "model_ref.h"

static const char RUN_USAGE[] =
    "usage: lmcc run MODEL --size S [--variant V] [run options] [executable options]\n"
    "       lmcc run ORG/NAME [run options] [executable options]\n"
    "Pulls the model into the Hugging Face cache if needed, compiles it once (kept in the build\n"
    "cache) and runs it. Base variants complete text; instruct and chat variants chat (--chat),\n"
    "reasoning variants chat with thinking on. With -p or -f it answers once and exits.\n"
    "run options:\n"
    "  -s, --size S        model size, with MODEL (lmcc list)\n"
    "      --variant V     base, instruct, reasoning, ... (default: instruct where there is one)\n"
    "      --revision R    branch, tag or commit of the repository (default main)\n"
    "      --dtype D       weight dtype to compile for: float32, bfloat16, float16, q8_0, q4_0, q4_k8\n"
    "                      (default: the config's)\n"
    "      --ctx N         KV-cache length to compile for (default: the model's context)\n"
    "      --completion    complete text even for a chat variant\n"
    "  -q, --quiet         no download progress or build messages\n"
    "  -h, --help          this text\n"
    "Any other option goes to the model executable (see its --help): -p, -n, --temperature, ...\n"
    "A repository the registry does not list is compiled from its config.json (lmcc import).\n"
    "Environment: as lmcc pull; LMCC_CACHE (built models, default ~/.cache/lmcc).\n";

typedef struct run_args {
    const char *model, *size, *variant, *revision, *dtype, *ctx;
    int completion, quiet;
    char **exe_args;
    int n_exe;
} run_args;

/* "--opt VALUE" or "--opt=VALUE" at argv[*i]; 1 when matched. */
static int take_value(int argc, char **argv, int *i, const char *lng, const char *shrt, const char **out,
                      lm_err *e, int *bad)
{
    const char *a = argv[*i];
    size_t n = strlen(lng);
    if (strncmp(a, lng, n) == 0 && a[n] == '=') {
        *out = a + n + 1;
        return 1;
    }
    if (strcmp(a, lng) == 0 || (shrt && strcmp(a, shrt) == 0)) {
        if (*i + 1 >= argc) {
            lm_fail(e, "%s needs a value", a);
            *bad = 1;
            return 1;
        }
        *out = argv[++*i];
        return 1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, run_args *r, lm_err *e)
{
    memset(r, 0, sizeof *r);
    r->exe_args = calloc((size_t)argc + 1, sizeof *r->exe_args);
    if (!r->exe_args)
        return lm_fail(e, "out of memory");
    int bad = 0;
    for (int i = 1; i < argc && !bad; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc)
                r->exe_args[r->n_exe++] = argv[i];
            break;
        }
        if (take_value(argc, argv, &i, "--size", "-s", &r->size, e, &bad) ||
            take_value(argc, argv, &i, "--variant", NULL, &r->variant, e, &bad) ||
            take_value(argc, argv, &i, "--revision", NULL, &r->revision, e, &bad) ||
            take_value(argc, argv, &i, "--dtype", NULL, &r->dtype, e, &bad) ||
            take_value(argc, argv, &i, "--ctx", NULL, &r->ctx, e, &bad))
            continue;
        if (strcmp(a, "--completion") == 0)
            r->completion = 1;
        else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
            r->quiet = 1;
        else if (!r->model && a[0] != '-')
            r->model = a;
        else if (!r->model)
            return lm_fail(e, "'%s' before the model: give MODEL or ORG/NAME first", a);
        else if (strcmp(a, "-m") == 0 || strcmp(a, "--model") == 0 || strncmp(a, "--model=", 8) == 0)
            return lm_fail(e, "'%s': lmcc run finds the checkpoint itself; run the executable "
                              "directly to give one", a);
        else
            r->exe_args[r->n_exe++] = argv[i];
    }
    if (bad)
        return -1;
    if (!r->model)
        return lm_fail(e, "expected MODEL or ORG/NAME");
    return 0;
}

static int has_arg(const run_args *r, const char *name)
{
    size_t n = strlen(name);
    for (int i = 0; i < r->n_exe; i++)
        if (strncmp(r->exe_args[i], name, n) == 0 && (r->exe_args[i][n] == '\0' || r->exe_args[i][n] == '='))
            return 1;
    return 0;
}

/* The model's config YAML: the registry's, else imported from config.json. */
static int config_text(const model_ref *ref, const char *snapshot, char **yaml, char *name, size_t cap,
                       lm_err *e)
{
    if (ref->in_registry) {
        fs_stem(ref->entry.config_path, ".yaml", name, cap);
        return fs_read_file(ref->entry.config_path, yaml, NULL, e);
    }
    /* Qwen/Qwen2.5-0.5B-Instruct -> qwen2.5-0.5b-instruct */
    const char *base = strchr(ref->repo, '/') + 1;
    size_t i = 0;
    for (; base[i] && i + 1 < cap; i++)
        name[i] = (char)tolower((unsigned char)base[i]);
    name[i] = '\0';
    char json[4200];
    snprintf(json, sizeof json, "%s/config.json", snapshot);
    frontend f;
    if (frontend_open(&f, e) != 0)
        return -1;
    frontend_opts fo = { 0 };
    int rc = -1;
    if (frontend_call_json(&f, "import_config", json, &fo, e) == 0) {
        size_t len;
        const char *text = lua_tolstring(f.L, -1, &len);
        *yaml = text ? strndup(text, len) : NULL;
        rc = *yaml ? 0 : lm_fail(e, "%s: the import gave no config", json);
    }
    frontend_close(&f);
    if (rc != 0)
        lm_fail(e, "%s is not in the registry and its config.json cannot be compiled: %.1800s", ref->repo,
                e->msg);
    return rc;
}

/* Chat unless the variant is a base model (or, outside the registry, the
 * repository's name says neither instruct nor chat). */
static int wants_chat(const model_ref *ref)
{
    if (ref->in_registry)
        return ref->entry.chat[0] && strcmp(ref->entry.chat, "none") != 0;
    const char *name = strchr(ref->repo, '/') + 1;
    return strcasestr(name, "instruct") || strcasestr(name, "chat") || strcasestr(name, "-it");
}

int cmd_run(int argc, char **argv)
{
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(RUN_USAGE, stdout);
            return 0;
        }
    lm_err e;
    run_args r;
    if (parse_args(argc, argv, &r, &e) != 0) {
        free(r.exe_args);
        return usage_error("run", e.msg, RUN_USAGE);
    }
    int rc = 1;
    char *yaml = NULL;
    model_ref ref;
    char snapshot[4096], name[256], exe[4096];
    if (model_ref_resolve(r.model, r.size, r.variant, r.revision, &ref, &e) != 0)
        goto fail;
    lm_hub_catch_interrupts();
    lm_hub_pull_opts po = { .repo = ref.repo, .revision = ref.revision, .quiet = r.quiet, .brief = 1,
                            .user_agent = "lmcc/" LMCC_VERSION };
    if (lm_hub_pull(&po, snapshot, sizeof snapshot, &e) != 0) {
        rc = lm_hub_interrupted ? 130 : 1;
        goto fail;
    }
    if (config_text(&ref, snapshot, &yaml, name, sizeof name, &e) != 0)
        goto fail;
    build_request br = { .name = name, .config_yaml = yaml, .dtype = r.dtype, .ctx = r.ctx,
                         .repo = ref.repo, .quiet = r.quiet };
    if (build_cache_ensure(&br, exe, sizeof exe, &e) != 0)
        goto fail;

    /* The executable's command line: the checkpoint, the variant's mode,
     * then the user's options, which win. */
    char **xargv = calloc((size_t)r.n_exe + 8, sizeof *xargv);
    if (!xargv) {
        lm_fail(&e, "out of memory");
        goto fail;
    }
    int n = 0;
    xargv[n++] = exe;
    xargv[n++] = "-m";
    xargv[n++] = snapshot;
    static const char *const other_modes[] = { "--chat", "--interactive", "--tokens", "--logits", "--dump",
                                               "--bench", "--stats", "--num-return-sequences", "--serve" };
    int chat = wants_chat(&ref) && !r.completion;
    for (size_t i = 0; chat && i < sizeof other_modes / sizeof other_modes[0]; i++)
        if (has_arg(&r, other_modes[i]))
            chat = 0;
    if (chat) {
        xargv[n++] = "--chat";
        if (ref.in_registry && strcmp(ref.entry.chat, "qwen3") == 0 && !has_arg(&r, "--think") &&
            !has_arg(&r, "--no-think"))
            xargv[n++] = ref.entry.thinking ? "--think" : "--no-think";
    }
    for (int i = 0; i < r.n_exe; i++)
        xargv[n++] = r.exe_args[i];
    xargv[n] = NULL;
    /* A chat given its first turn with -p or -f answers it and exits. */
    if (chat && (has_arg(&r, "-p") || has_arg(&r, "--prompt") || has_arg(&r, "-f") || has_arg(&r, "--file"))) {
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd >= 0) {
            dup2(null_fd, STDIN_FILENO);
            close(null_fd);
        }
    }
    fflush(stdout);
    fflush(stderr);
    execv(exe, xargv);
    lm_fail(&e, "%s: cannot run: %s", exe, strerror(errno));
    free(xargv);
fail:
    report_error(&e);
    free(yaml);
    free(r.exe_args);
    return rc;
}
