/* lmcc new-arch NAME [--from ARCH]: the skeleton of a new architecture, in
 * the places docs/adding-a-model.md names, copied from a supported one so
 * that it builds, synthesizes and runs before anything is changed; then the
 * list of what remains to fill in.
 *
 * Everything is composed in memory and every target checked first, then
 * written file by file (each to a temporary name, then renamed), so a
 * refusal writes nothing and a failure part-way removes what this run
 * wrote. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "frontend.h"
#include "fsutil.h"
#include "registry.h"

static const char NEW_ARCH_USAGE[] =
    "usage: lmcc new-arch NAME [--from ARCH]\n"
    "Writes the skeleton of a new architecture NAME into the lmcc tree ($LMCC_HOME, else the\n"
    "tree lmcc was built from), copied from ARCH (default qwen3), and prints what remains:\n"
    "  compiler/archs/NAME.lua            the architecture script\n"
    "  configs/NAME/NAME-SIZE.yaml        a size config (ARCH's first registry size)\n"
    "  configs/test/NAME-tiny.yaml        a tiny config for the tests\n"
    "  tests/reference/NAME_ref.py        the PyTorch reference, to rewrite independently\n"
    "  tests/golden/golden.test.cmake     a golden-test row for the tiny config\n"
    "  docs/models/NAME.md                the model's page\n"
    "NAME: a lower-case identifier ([a-z][a-z0-9_]*) that no architecture has yet.\n"
    "  --from ARCH   the architecture to start from (qwen3, qwen2, qwen1, llama, ...)\n"
    "  -h, --help    this text\n";

/* The golden table and the row format (tests/golden/golden.test.cmake). */
static const char GOLDEN_CMAKE[] = "tests/golden/golden.test.cmake";
static const char GOLDEN_SET[] = "set(LMCC_GOLDEN_CASES";

typedef struct out_file {
    char rel[512];   /* under the tree */
    char *text;      /* owned */
    int replaces;    /* 1: an existing file this run rewrites (the golden table) */
} out_file;

typedef struct skeleton {
    const char *name, *from, *home;
    out_file files[6];
    int n;
} skeleton;

static int valid_name(const char *s)
{
    if (!s[0] || !islower((unsigned char)s[0]) || strlen(s) > 40)
        return 0;
    for (const char *p = s; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '_')
            return 0;
    return 1;
}

static int read_tree(const skeleton *k, const char *rel, char **text, lm_err *e)
{
    char path[4096];
    size_t len;
    if (fs_join(path, sizeof path, k->home, rel, e) != 0)
        return -1;
    if (!fs_exists(path))
        return lm_fail(e, "new-arch: %s: not in the tree %s; is --from %s an architecture with "
                          "its tests?", rel, k->home, k->from);
    return fs_read_file(path, text, &len, e);
}

/* text with every occurrence of from replaced by to (malloc'd), or NULL. */
static char *replace_all(const char *text, const char *from, const char *to)
{
    size_t nf = strlen(from), nt = strlen(to), count = 0;
    for (const char *p = text; (p = strstr(p, from)); p += nf)
        count++;
    char *out = malloc(strlen(text) + count * (nt > nf ? nt - nf : 0) + 1);
    if (!out)
        return NULL;
    char *o = out;
    for (const char *p = text;;) {
        const char *hit = strstr(p, from);
        size_t n = hit ? (size_t)(hit - p) : strlen(p);
        memcpy(o, p, n);
        o += n;
        if (!hit)
            break;
        memcpy(o, to, nt);
        o += nt;
        p = hit + nf;
    }
    *o = '\0';
    return out;
}

/* In place: text = text with from -> to. */
static int substitute(char **text, const char *from, const char *to, lm_err *e)
{
    char *r = replace_all(*text, from, to);
    if (!r)
        return lm_fail(e, "new-arch: out of memory");
    free(*text);
    *text = r;
    return 0;
}

/* The quoted string after `key` in a Lua source ("qwen3" in
 * `hf_model_type = "qwen3"`), into buf; 0 when found. */
static int lua_string_after(const char *src, const char *key, char *buf, size_t cap)
{
    const char *p = strstr(src, key);
    if (!p || !(p = strchr(p + strlen(key), '"')))
        return -1;
    const char *end = strchr(p + 1, '"');
    if (!end || (size_t)(end - p - 1) >= cap)
        return -1;
    snprintf(buf, cap, "%.*s", (int)(end - p - 1), p + 1);
    return 0;
}

static int add_file(skeleton *k, const char *rel, char *text, int replaces, lm_err *e)
{
    out_file *f = &k->files[k->n++];
    f->text = text;
    f->replaces = replaces;
    if ((size_t)snprintf(f->rel, sizeof f->rel, "%s", rel) >= sizeof f->rel)
        return lm_fail(e, "new-arch: path %s is too long", rel);
    return 0;
}

/* "my_model" -> "MyModel" (for the doc page and the class name). */
static void camel(const char *name, char *buf, size_t cap)
{
    size_t n = 0;
    int up = 1;
    for (const char *p = name; *p && n + 1 < cap; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        buf[n++] = up ? (char)toupper((unsigned char)*p) : *p;
        up = 0;
    }
    buf[n] = '\0';
}

/* The architecture script: ARCH's, renamed, with its Hugging Face names
 * (model_type, class) made the new model's, marked to be checked. */
static int compose_script(skeleton *k, lm_err *e)
{
    char rel[512], model_type[128], cls[128], quoted[160], with[160], Name[64];
    snprintf(rel, sizeof rel, "compiler/archs/%s.lua", k->from);
    char *src;
    if (read_tree(k, rel, &src, e) != 0)
        return -1;
    camel(k->name, Name, sizeof Name);
    int rc = 0;
    snprintf(quoted, sizeof quoted, "arch \"%s\"", k->from);
    snprintf(with, sizeof with, "arch \"%s\"", k->name);
    rc = substitute(&src, quoted, with, e);
    if (rc == 0 && lua_string_after(src, "hf_model_type", model_type, sizeof model_type) == 0) {
        snprintf(quoted, sizeof quoted, "\"%s\"", model_type);
        snprintf(with, sizeof with, "\"%s\"", k->name);
        rc = substitute(&src, quoted, with, e);
    }
    if (rc == 0 && lua_string_after(src, "architectures", cls, sizeof cls) == 0) {
        snprintf(quoted, sizeof quoted, "\"%s\"", cls);
        snprintf(with, sizeof with, "\"%sForCausalLM\"", Name);
        rc = substitute(&src, quoted, with, e);
    }
    if (rc != 0) {
        free(src);
        return -1;
    }
    size_t need = strlen(src) + 1024;
    char *out = malloc(need);
    if (!out) {
        free(src);
        return lm_fail(e, "new-arch: out of memory");
    }
    snprintf(out, need,
             "-- TODO(new-arch): %s, copied from %s.lua by lmcc new-arch. Make it the new\n"
             "-- model: its params and checks, its config.json in hf_config (model_type\n"
             "-- \"%s\" and the class %sForCausalLM are placeholders: use the published\n"
             "-- names) and its forward pass (docs/architecture-scripts.md).\n%s",
             k->name, k->from, k->name, Name, src);
    free(src);
    snprintf(rel, sizeof rel, "compiler/archs/%s.lua", k->name);
    return add_file(k, rel, out, 0, e);
}

/* A YAML config of ARCH with its arch key made NAME and a note on top. */
static int compose_config(skeleton *k, const char *from_rel, const char *to_rel, const char *what,
                          lm_err *e)
{
    char *src, from_line[96], to_line[96];
    if (read_tree(k, from_rel, &src, e) != 0)
        return -1;
    snprintf(from_line, sizeof from_line, "arch: %s\n", k->from);
    snprintf(to_line, sizeof to_line, "arch: %s\n", k->name);
    if (!strstr(src, from_line)) {
        free(src);
        return lm_fail(e, "new-arch: %s has no line '%.*s'", from_rel, (int)strlen(from_line) - 1,
                       from_line);
    }
    if (substitute(&src, from_line, to_line, e) != 0) {
        free(src);
        return -1;
    }
    size_t need = strlen(src) + 512;
    char *out = malloc(need);
    if (out)
        snprintf(out, need, "# TODO(new-arch): %s, copied from %s; %s\n%s", what, from_rel,
                 strstr(what, "tiny") ? "keep it small enough to test in seconds"
                                      : "put in the published config.json's values",
                 src);
    free(src);
    return out ? add_file(k, to_rel, out, 0, e) : lm_fail(e, "new-arch: out of memory");
}

/* The golden table's first row whose reference is ARCH's: its tiny config,
 * dtype, shards and tolerance seed the new row. fields[6] are the row's
 * first six fields. */
static int golden_row_of(const char *table, const char *from, char fields[6][256], lm_err *e)
{
    char ref[96];
    snprintf(ref, sizeof ref, "|%s_ref.py", from);
    const char *set = strstr(table, GOLDEN_SET);
    const char *close = set ? strchr(set, ')') : NULL;
    for (const char *p = set; p && p < close && (p = strchr(p, '"')) && p < close;) {
        const char *end = strchr(p + 1, '"');
        if (!end)
            break;
        char row[1024];
        snprintf(row, sizeof row, "%.*s", (int)(end - p - 1), p + 1);
        p = end + 1;
        if (!strstr(row, ref))
            continue;
        char *save, *f = strtok_r(row, "|", &save);
        int i = 0;
        for (; f && i < 6; f = strtok_r(NULL, "|", &save))
            snprintf(fields[i++], 256, "%s", f);
        if (i == 6)
            return 0;
    }
    return lm_fail(e, "new-arch: %s has no golden row for %s_ref.py to start from", GOLDEN_CMAKE,
                   from);
}

/* The golden table with a row for NAME's tiny config appended. */
static int compose_golden(skeleton *k, const char fields[6][256], lm_err *e)
{
    char *table;
    if (read_tree(k, GOLDEN_CMAKE, &table, e) != 0)
        return -1;
    const char *set = strstr(table, GOLDEN_SET);
    const char *close = set ? strstr(set, "\")") : NULL;
    if (!close) {
        free(table);
        return lm_fail(e, "new-arch: %s: no LMCC_GOLDEN_CASES list ending in '\")'", GOLDEN_CMAKE);
    }
    char row[1024];
    snprintf(row, sizeof row, "\"\n  \"%s-tiny|configs/test/%s-tiny.yaml|%s|%s|%s|%s_ref.py\"", k->name,
             k->name, fields[2], fields[3], fields[4], k->name);
    size_t at = (size_t)(close - table), need = strlen(table) + strlen(row) + 1;
    char *out = malloc(need);
    if (!out) {
        free(table);
        return lm_fail(e, "new-arch: out of memory");
    }
    snprintf(out, need, "%.*s%s%s", (int)at, table, row, close + 1);
    free(table);
    return add_file(k, GOLDEN_CMAKE, out, 1, e);
}

static int compose_reference(skeleton *k, lm_err *e)
{
    char rel[512];
    snprintf(rel, sizeof rel, "tests/reference/%s_ref.py", k->from);
    char *src;
    if (read_tree(k, rel, &src, e) != 0)
        return -1;
    /* After the shebang line, so the copy stays executable. */
    const char *body = strncmp(src, "#!", 2) == 0 && strchr(src, '\n') ? strchr(src, '\n') + 1 : src;
    size_t need = strlen(src) + 1024;
    char *out = malloc(need);
    if (out)
        snprintf(out, need,
                 "%.*s# TODO(new-arch): a copy of %s_ref.py, so the golden test passes before\n"
                 "# anything changes. Rewrite it from the model's own code (its transformers\n"
                 "# modeling file), never from compiler/archs/%s.lua: the golden test is only\n"
                 "# worth what this reference is independent.\n%s",
                 (int)(body - src), src, k->from, k->name, body);
    free(src);
    snprintf(rel, sizeof rel, "tests/reference/%s_ref.py", k->name);
    return out ? add_file(k, rel, out, 0, e) : lm_fail(e, "new-arch: out of memory");
}

static int compose_doc(skeleton *k, const char *size_rel, lm_err *e)
{
    char Name[64], rel[512];
    camel(k->name, Name, sizeof Name);
    size_t need = 4096;
    char *out = malloc(need);
    if (!out)
        return lm_fail(e, "new-arch: out of memory");
    snprintf(out, need,
             "# %s\n\n"
             "<!-- TODO(new-arch): written by lmcc new-arch from %s; fill in every section. -->\n\n"
             "Hugging Face `%sForCausalLM`, `model_type: %s` (TODO: the published names).\n"
             "Script: `compiler/archs/%s.lua`; configs: `%s`.\n\n"
             "```\nTODO: the block as a diagram (see docs/models/Qwen3.md)\n```\n\n"
             "| size | hidden | layers | heads / kv | head_dim | intermediate | vocab | tied |\n"
             "| --- | --- | --- | --- | --- | --- | --- | --- |\n"
             "| TODO | | | | | | | |\n\n"
             "## Config keys\n\nTODO: the keys beyond every decoder's, and which config.json "
             "fields are checked at load.\n\n"
             "## Tokenizer and chat\n\nTODO: what its tokenizer.json and chat_template need.\n\n"
             "## Tests\n\nTODO: the golden cases (`tests/golden/golden.test.cmake`) and what each "
             "shows.\n",
             Name, k->from, Name, k->name, k->name, size_rel);
    snprintf(rel, sizeof rel, "docs/models/%s.md", Name);
    return add_file(k, rel, out, 0, e);
}

/* ARCH's first size config in the registry, relative to the tree. */
static int first_size_config(const skeleton *k, char *rel, size_t cap, char *size, size_t size_cap,
                             lm_err *e)
{
    registry r;
    if (registry_load(&r, NULL, e) != 0)
        return -1;
    int rc = lm_fail(e, "new-arch: no model type of %s/configs/registry.yaml uses the "
                        "architecture %s; --from takes one that does", k->home, k->from);
    for (int i = 0; i < r.n_models; i++) {
        const registry_model *m = &r.models[i];
        if (strcmp(m->arch, k->from) != 0 || m->n_sizes == 0)
            continue;
        snprintf(size, size_cap, "%s", m->sizes[0]);
        rc = registry_config_rel(m, m->sizes[0], rel, cap, e);
        break;
    }
    registry_free(&r);
    return rc;
}

static int compose(skeleton *k, lm_err *e)
{
    char size_from[1024], size[32], size_to[512], tiny_to[512], lower[32];
    char fields[6][256];
    char *table;
    if (compose_script(k, e) != 0 || first_size_config(k, size_from, sizeof size_from, size, sizeof size, e) != 0)
        return -1;
    for (size_t i = 0; i <= strlen(size) && i < sizeof lower; i++)
        lower[i] = (char)tolower((unsigned char)size[i]);
    snprintf(size_to, sizeof size_to, "configs/%s/%s-%s.yaml", k->name, k->name, lower);
    snprintf(tiny_to, sizeof tiny_to, "configs/test/%s-tiny.yaml", k->name);
    if (read_tree(k, GOLDEN_CMAKE, &table, e) != 0)
        return -1;
    int rc = golden_row_of(table, k->from, fields, e);
    free(table);
    if (rc != 0 || compose_config(k, size_from, size_to, "a size config", e) != 0 ||
        compose_config(k, fields[1], tiny_to, "the tiny test config", e) != 0 ||
        compose_reference(k, e) != 0 || compose_doc(k, size_to, e) != 0 ||
        compose_golden(k, fields, e) != 0)
        return -1;
    return 0;
}

/* Writes every file; on a failure removes the new ones already written
 * (the golden table, rewritten last, is then untouched). */
static int write_all(const skeleton *k, lm_err *e)
{
    char path[4096];
    for (int i = 0; i < k->n; i++) {
        const out_file *f = &k->files[i];
        char dir[4096];
        int rc = fs_join(path, sizeof path, k->home, f->rel, e);
        if (rc == 0) {
            snprintf(dir, sizeof dir, "%s", path);
            *strrchr(dir, '/') = '\0';
            rc = fs_mkdirs(dir, e);
        }
        if (rc == 0)
            rc = fs_write_atomic(path, f->text, strlen(f->text), e);
        if (rc != 0) {
            for (int j = 0; j < i; j++)
                if (!k->files[j].replaces && fs_join(path, sizeof path, k->home, k->files[j].rel, e) == 0)
                    unlink(path);
            return -1;
        }
    }
    return 0;
}

static void print_remaining(const skeleton *k)
{
    printf("lmcc: new architecture %s from %s in %s:\n", k->name, k->from, k->home);
    for (int i = 0; i < k->n; i++)
        printf("  %s %s\n", k->files[i].replaces ? "added a row to" : "wrote", k->files[i].rel);
    printf("\nIt builds and runs as %s does. What remains (each file marks it TODO(new-arch)):\n"
           "  1. %s: the model's params, checks, hf_config names and forward pass\n"
           "  2. %s: the published config.json's values (lmcc import config.json)\n"
           "  3. %s: a tiny config exercising every option\n"
           "  4. %s: rewrite from the model's own code, independently of the Lua\n"
           "  5. %s: one row per option worth a golden case\n"
           "  6. %s: the model's page\n"
           "  7. configs/registry.yaml: a model type with its sizes, repositories, end tokens "
           "and chat format\n"
           "  8. tests/bad/bad_input.py and tests/data/hf_configs/: bad input and import round "
           "trips\n"
           "Check: lmcc build %s -o /tmp/m && lmcc synth %s -o /tmp/ck && /tmp/m/%s-tiny -m /tmp/ck "
           "--tokens 1,2,3 -n 8\n",
           k->from, k->files[0].rel, k->files[1].rel, k->files[2].rel, k->files[3].rel,
           GOLDEN_CMAKE, k->files[4].rel, k->files[2].rel, k->files[2].rel, k->name);
}

int cmd_new_arch(int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'F'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    skeleton k = {.from = "qwen3", .home = lmcc_home()};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'F')
            k.from = optarg;
        else if (c == 'h') {
            fputs(NEW_ARCH_USAGE, stdout);
            return 0;
        } else
            return usage_error("new-arch", NULL, NEW_ARCH_USAGE);
    }
    if (argc - optind != 1)
        return usage_error("new-arch", "expected one NAME", NEW_ARCH_USAGE);
    k.name = argv[optind];
    lm_err err;
    char path[4096];
    if (!valid_name(k.name)) {
        lm_fail(&err, "new-arch: '%s' is not a name for an architecture; use a lower-case "
                      "identifier ([a-z][a-z0-9_]*, at most 40 bytes)", k.name);
        return report_error(&err);
    }
    int rc = compose(&k, &err);
    for (int i = 0; rc == 0 && i < k.n; i++) {
        if (k.files[i].replaces)
            continue;
        if (fs_join(path, sizeof path, k.home, k.files[i].rel, &err) != 0)
            rc = -1;
        else if (fs_exists(path))
            rc = lm_fail(&err, "new-arch: %s already exists; architecture %s is taken (pick another "
                               "NAME or remove its files)", k.files[i].rel, k.name);
    }
    if (rc == 0)
        rc = write_all(&k, &err);
    if (rc == 0)
        print_remaining(&k);
    for (int i = 0; i < k.n; i++)
        free(k.files[i].text);
    return rc == 0 ? 0 : report_error(&err);
}
