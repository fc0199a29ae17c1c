/* lmcc new-arch NAME [--from ARCH]: the skeleton of a new architecture, in
 * the places docs/adding-a-model.md names, copied from a supported one so
 * that it builds, synthesizes and runs before anything is changed; then the
 * list of what remains to fill in.
 *
 * Everything is composed in memory and every target checked first, then
 * written file by file (each to a temporary name, then renamed), so a
 * refusal writes nothing and a failure part-way removes what this run
 * wrote.
 *
 * The default ARCH is qwen3: the shortest script of the dense decoders, one
 * weight per projection (qwen1 fuses q/k/v into c_attn), no biases to strip
 * (qwen2), no RoPE scaling or derived head_dim to unpick (llama); its one
 * extra, the q/k norms, is a single flag to turn off.
 *
 * configs/registry.yaml is left alone and its entry listed as a step: an
 * entry names hub repositories, end tokens and a chat format the copy cannot
 * know, and a placeholder there would show in lmcc list and be built by the
 * registry tests as a model that does not exist. */
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
    "  docs/models/Name.md                the model's page (my_model: MyModel.md)\n"
    "Nothing is written when NAME is taken or any of these files exists; the golden\n"
    "table is edited in place. Point LMCC_HOME at a scratch copy to try it out.\n"
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
    char camel[64];  /* NAME in CamelCase: the doc page and the class name */
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

/* In place: every line of text holding needle (and not skip) gains the
 * comment mark at its end, so each placeholder is found by its TODO. */
static int mark_lines(char **text, const char *needle, const char *skip, const char *mark,
                      lm_err *e)
{
    size_t count = 0, nm = strlen(mark);
    for (const char *p = *text; (p = strstr(p, needle)); p += strlen(needle))
        count++;
    char *out = malloc(strlen(*text) + count * nm + 1), *o = out;
    if (!out)
        return lm_fail(e, "new-arch: out of memory");
    for (const char *line = *text; *line;) {
        const char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        memcpy(o, line, n);
        o += n;
        if (memmem(line, n, needle, strlen(needle)) && !memmem(line, n, skip, strlen(skip)) &&
            !memmem(line, n, "TODO(new-arch)", 14)) {
            memcpy(o, mark, nm);
            o += nm;
        }
        if (!nl)
            break;
        *o++ = '\n';
        line = nl + 1;
    }
    *o = '\0';
    free(*text);
    *text = out;
    return 0;
}

/* asprintf leaves *out undefined on failure. */
static int out_of_memory(char **out, lm_err *e)
{
    *out = NULL;
    return lm_fail(e, "new-arch: out of memory");
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

/* In place: quoted from -> quoted to, when src names from after key. */
static int rename_quoted_after(char **src, const char *key, const char *to, lm_err *e)
{
    char from[128], quoted[160], with[160];
    if (lua_string_after(*src, key, from, sizeof from) != 0)
        return 0;
    snprintf(quoted, sizeof quoted, "\"%s\"", from);
    snprintf(with, sizeof with, "\"%s\"", to);
    return substitute(src, quoted, with, e);
}

/* The placeholder for one of ARCH's model types: FROM in it becomes NAME
 * ("gemma3_text" -> "mine_text"), any other becomes NAME. */
static void model_type_placeholder(const char *type, const skeleton *k, char *buf, size_t cap)
{
    const char *at = strstr(type, k->from);
    if (at)
        snprintf(buf, cap, "%.*s%s%s", (int)(at - type), type, k->name, at + strlen(k->from));
    else
        snprintf(buf, cap, "%s", k->name);
}

/* In place: every model type the script's hf_model_type lists (one string
 * or a list of them) renamed wherever it is quoted, each line marked. */
static int rename_model_types(char **src, const skeleton *k, const char *arch_to,
                              const char *mark, lm_err *e)
{
    enum { MAX_TYPES = 8 };
    char from[MAX_TYPES][128];
    int n = 0;
    const char *p = strstr(*src, "hf_model_type");
    if (!p)
        return 0;
    p += strlen("hf_model_type");
    while (*p == ' ' || *p == '=')
        p++;
    const char *end = *p == '{' ? strchr(p, '}') : NULL;
    if (*p == '{' && !end)
        return lm_fail(e, "new-arch: %s.lua: hf_model_type's list has no closing brace", k->from);
    for (const char *q = p; n < MAX_TYPES && (q = strchr(q, '"')) && (!end || q < end);) {
        const char *close = strchr(q + 1, '"');
        if (!close || (size_t)(close - q - 1) >= sizeof from[0])
            break;
        snprintf(from[n++], sizeof from[0], "%.*s", (int)(close - q - 1), q + 1);
        q = close + 1;
        if (!end)
            break; /* a single string */
    }
    for (int i = 0; i < n; i++) {
        char to[256], quoted_from[160], quoted_to[300];
        model_type_placeholder(from[i], k, to, sizeof to);
        snprintf(quoted_from, sizeof quoted_from, "\"%s\"", from[i]);
        snprintf(quoted_to, sizeof quoted_to, "\"%s\"", to);
        if (substitute(src, quoted_from, quoted_to, e) != 0 ||
            mark_lines(src, quoted_to, arch_to, mark, e) != 0)
            return -1;
    }
    return 0;
}

/* In place: ARCH's script renamed NAME, its Hugging Face model types and
 * class made placeholders (NAME, NameForCausalLM), each line holding one
 * marked TODO(new-arch). */
static int rename_script(char **src, const skeleton *k, lm_err *e)
{
    static const char MARK[] = "  -- TODO(new-arch): placeholder, the published name";
    char arch_from[96], arch_to[96], cls[96], quoted[sizeof cls + 2];
    snprintf(arch_from, sizeof arch_from, "arch \"%s\"", k->from);
    snprintf(arch_to, sizeof arch_to, "arch \"%s\"", k->name);
    snprintf(cls, sizeof cls, "%sForCausalLM", k->camel);
    /* The arch line holds quoted NAME too, but there it is the real name. */
    if (substitute(src, arch_from, arch_to, e) != 0 ||
        rename_model_types(src, k, arch_to, MARK, e) != 0 ||
        rename_quoted_after(src, "architectures", cls, e) != 0)
        return -1;
    snprintf(quoted, sizeof quoted, "\"%s\"", cls);
    if (mark_lines(src, quoted, arch_to, MARK, e) != 0)
        return -1;
    /* ARCH's other classes (Gemma3ForConditionalGeneration) likewise. */
    char from_camel[96], class_from[100], class_to[100];
    camel(k->from, from_camel, sizeof from_camel);
    snprintf(class_from, sizeof class_from, "\"%sFor", from_camel);
    snprintf(class_to, sizeof class_to, "\"%sFor", k->camel);
    return substitute(src, class_from, class_to, e) != 0 ? -1
                                                          : mark_lines(src, class_to, arch_to, MARK, e);
}

/* The architecture script: ARCH's, renamed, with a note on top. */
static int compose_script(skeleton *k, lm_err *e)
{
    char rel[512];
    snprintf(rel, sizeof rel, "compiler/archs/%s.lua", k->from);
    char *src, *out = NULL;
    if (read_tree(k, rel, &src, e) != 0)
        return -1;
    int rc = rename_script(&src, k, e);
    if (rc == 0 &&
        asprintf(&out,
                 "-- TODO(new-arch): %s, copied from %s.lua by lmcc new-arch. Make it the new\n"
                 "-- model: its params and checks, its config.json in hf_config (model_type\n"
                 "-- \"%s\" and the class %sForCausalLM are placeholders: use the published\n"
                 "-- names) and its forward pass (docs/architecture-scripts.md).\n%s",
                 k->name, k->from, k->name, k->camel, src) < 0)
        rc = out_of_memory(&out, e);
    free(src);
    snprintf(rel, sizeof rel, "compiler/archs/%s.lua", k->name);
    return rc == 0 ? add_file(k, rel, out, 0, e) : -1;
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
    char *out = NULL;
    int rc = substitute(&src, from_line, to_line, e);
    if (rc == 0 && asprintf(&out, "# TODO(new-arch): %s, copied from %s; %s\n%s", what, from_rel,
                            strstr(what, "tiny") ? "keep it small enough to test in seconds"
                                                 : "put in the published config.json's values",
                            src) < 0)
        rc = out_of_memory(&out, e);
    free(src);
    return rc == 0 ? add_file(k, to_rel, out, 0, e) : -1;
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
static int compose_golden(skeleton *k, const char *table, const char fields[6][256], lm_err *e)
{
    const char *set = strstr(table, GOLDEN_SET);
    const char *close = set ? strstr(set, "\")") : NULL;
    if (!close)
        return lm_fail(e, "new-arch: %s: no LMCC_GOLDEN_CASES list ending in '\")'", GOLDEN_CMAKE);
    char row[1024];
    snprintf(row, sizeof row, "\"%s-tiny|", k->name);
    if (strstr(set, row))
        return lm_fail(e, "new-arch: %s already has a golden row %s-tiny; architecture %s is "
                          "taken (pick another NAME or remove the row)", GOLDEN_CMAKE, k->name,
                       k->name);
    char *out = NULL;
    if (asprintf(&out, "%.*s\"\n  \"%s-tiny|configs/test/%s-tiny.yaml|%s|%s|%s|%s_ref.py\"%s",
                 (int)(close - table), table, k->name, k->name, fields[2], fields[3], fields[4],
                 k->name, close + 1) < 0)
        return out_of_memory(&out, e);
    return add_file(k, GOLDEN_CMAKE, out, 1, e);
}

static int compose_reference(skeleton *k, lm_err *e)
{
    char rel[512];
    snprintf(rel, sizeof rel, "tests/reference/%s_ref.py", k->from);
    char *src;
    if (read_tree(k, rel, &src, e) != 0)
        return -1;
    /* The note goes after a shebang line, which must stay first. */
    const char *body = strncmp(src, "#!", 2) == 0 && strchr(src, '\n') ? strchr(src, '\n') + 1 : src;
    char *out = NULL;
    int rc = 0;
    if (asprintf(&out,
                 "%.*s# TODO(new-arch): a copy of %s_ref.py, so the golden test passes before\n"
                 "# anything changes. Rewrite it from the model's own code (its transformers\n"
                 "# modeling file), never from compiler/archs/%s.lua: the golden test is only\n"
                 "# worth what this reference is independent.\n%s",
                 (int)(body - src), src, k->from, k->name, body) < 0)
        rc = out_of_memory(&out, e);
    free(src);
    snprintf(rel, sizeof rel, "tests/reference/%s_ref.py", k->name);
    return rc == 0 ? add_file(k, rel, out, 0, e) : -1;
}

static int compose_doc(skeleton *k, const char *size_rel, lm_err *e)
{
    char rel[512], *out = NULL;
    if (asprintf(&out,
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
             k->camel, k->from, k->camel, k->name, k->name, size_rel) < 0)
        return out_of_memory(&out, e);
    snprintf(rel, sizeof rel, "docs/models/%s.md", k->camel);
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
    /* The table is read once: ARCH's row seeds the tiny config and NAME's row. */
    int rc = golden_row_of(table, k->from, fields, e);
    if (rc == 0 && (compose_config(k, size_from, size_to, "a size config", e) != 0 ||
                    compose_config(k, fields[1], tiny_to, "the tiny test config", e) != 0 ||
                    compose_reference(k, e) != 0 || compose_doc(k, size_to, e) != 0 ||
                    compose_golden(k, table, fields, e) != 0))
        rc = -1;
    free(table);
    return rc;
}

/* Removes what write_all wrote before a failure: the new files, then the
 * directories it made, deepest first (rmdir leaves one that is not empty). */
static void roll_back(const skeleton *k, int written, char made[][4096], int n_made)
{
    char path[4096];
    lm_err ignored;
    for (int j = 0; j < written; j++)
        if (!k->files[j].replaces &&
            fs_join(path, sizeof path, k->home, k->files[j].rel, &ignored) == 0)
            unlink(path);
    for (int j = n_made - 1; j >= 0; j--)
        rmdir(made[j]);
}

/* The directories of path below the tree that do not exist yet, outermost
 * first, appended to made (each file adds at most two: configs/NAME/). */
static void note_missing_dirs(const char *home, const char *path, char made[][4096], int *n_made,
                              int cap)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    for (char *p = dir + strlen(home) + 1; (p = strchr(p, '/')) && *n_made < cap; p++) {
        *p = '\0';
        if (!fs_exists(dir))
            snprintf(made[(*n_made)++], 4096, "%s", dir);
        *p = '/';
    }
}

/* Writes every file, each to a temporary name and renamed; on a failure
 * removes what this run wrote (the golden table, rewritten last, is then
 * untouched). */
static int write_all(const skeleton *k, lm_err *e)
{
    char path[4096], dir[4096], made[16][4096];
    int n_made = 0;
    for (int i = 0; i < k->n; i++) {
        const out_file *f = &k->files[i];
        int rc = fs_join(path, sizeof path, k->home, f->rel, e);
        if (rc == 0) {
            note_missing_dirs(k->home, path, made, &n_made, 16);
            snprintf(dir, sizeof dir, "%s", path);
            *strrchr(dir, '/') = '\0';
            rc = lm_mkdirs(dir, e);
        }
        if (rc == 0)
            rc = lm_write_atomic(path, f->text, strlen(f->text), e);
        if (rc != 0) {
            roll_back(k, i, made, n_made);
            char why[sizeof e->msg];
            snprintf(why, sizeof why, "%s", e->msg);
            return lm_fail(e, "new-arch: writing %s: %s; removed what this run wrote", f->rel, why);
        }
    }
    return 0;
}

/* An architecture NAME already has its script: said first, as the reason. */
static int arch_free(const skeleton *k, lm_err *e)
{
    char rel[512], path[4096];
    snprintf(rel, sizeof rel, "compiler/archs/%s.lua", k->name);
    if (fs_join(path, sizeof path, k->home, rel, e) != 0)
        return -1;
    if (fs_exists(path))
        return lm_fail(e, "new-arch: architecture %s exists (%s); pick another NAME", k->name, rel);
    return 0;
}

/* Refuses before anything is written: a file of the skeleton that exists. */
static int check_free(const skeleton *k, lm_err *e)
{
    char path[4096];
    for (int i = 0; i < k->n; i++) {
        const out_file *f = &k->files[i];
        if (fs_join(path, sizeof path, k->home, f->rel, e) != 0)
            return -1;
        if (!f->replaces && fs_exists(path))
            return lm_fail(e, "new-arch: %s already exists; architecture %s is taken (pick another "
                              "NAME or remove its files)", f->rel, k->name);
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
    char msg[256];
    optind = 1;
    opterr = 0; /* one error line, ours, naming the argument */
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'F')
            k.from = optarg;
        else if (c == 'h') {
            fputs(NEW_ARCH_USAGE, stdout);
            return 0;
        } else {
            snprintf(msg, sizeof msg, "%s '%s'", optopt == 'F' ? "no ARCH after" : "unknown option",
                     argv[optind - 1]);
            return usage_error("new-arch", msg, NEW_ARCH_USAGE);
        }
    }
    if (argc - optind != 1)
        return usage_error("new-arch", "expected one NAME", NEW_ARCH_USAGE);
    k.name = argv[optind];
    lm_err err;
    if (!valid_name(k.name)) {
        lm_fail(&err, "new-arch: '%s' is not a name for an architecture; use a lower-case "
                      "identifier ([a-z][a-z0-9_]*, at most 40 bytes)", k.name);
        return report_error(&err);
    }
    /* ARCH names a file under the tree: no path of the caller's. */
    if (!valid_name(k.from)) {
        lm_fail(&err, "new-arch: --from '%s' is not an architecture name (compiler/archs/ARCH.lua)",
                k.from);
        return report_error(&err);
    }
    camel(k.name, k.camel, sizeof k.camel);
    int rc = arch_free(&k, &err);
    if (rc == 0)
        rc = compose(&k, &err);
    if (rc == 0)
        rc = check_free(&k, &err);
    if (rc == 0)
        rc = write_all(&k, &err);
    if (rc == 0)
        print_remaining(&k);
    for (int i = 0; i < k.n; i++)
        free(k.files[i].text);
    return rc == 0 ? 0 : report_error(&err);
}
