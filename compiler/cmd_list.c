/* lmcc list [MODEL] | lmcc list --cached (cmd_cache.c)
 *
 * The registry as a table: one row per model type, size and variant, with
 * the Hugging Face repository, chat format and the config file (marked when
 * it is missing from the tree). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "fsutil.h"
#include "registry.h"

static const char LIST_USAGE[] =
    "usage: lmcc list [MODEL]\n"
    "       lmcc list --cached\n"
    "Lists the model types in configs/registry.yaml: each size and variant with its\n"
    "Hugging Face repository, chat format and config file.\n"
    "  MODEL        only this model type (e.g. qwen3)\n"
    "  --cached     the models in the Hugging Face cache: repository, revision, size on\n"
    "               disk, and which lmcc builds of them the build cache holds\n"
    "  -h, --help   this text\n";

enum { COL_MODEL, COL_SIZE, COL_VARIANT, COL_REPO, COL_ARCH, COL_CHAT, COL_CONFIG, N_COLS };

static const char *const HEADERS[N_COLS] = { "MODEL", "SIZE", "VARIANT", "REPOSITORY", "ARCH", "CHAT", "CONFIG" };

typedef struct row {
    char col[N_COLS][600];
} row;

/* The config path as the registry spells it, "(missing)" appended when the
 * file is not in the tree. */
static int config_cell(const registry_model *m, const char *size, char *buf, size_t cap, int *missing,
                       lm_err *e)
{
    char rel[2048], abs[4096];
    if (registry_config_rel(m, size, rel, sizeof rel, e) != 0 ||
        registry_config_path(m, size, abs, sizeof abs, e) != 0)
        return -1;
    *missing = !fs_exists(abs);
    snprintf(buf, cap, "%s%s", rel, *missing ? " (missing)" : "");
    return 0;
}

static void print_row(const char *const cells[N_COLS], const size_t width[N_COLS])
{
    for (int c = 0; c < N_COLS; c++) {
        if (c == N_COLS - 1)
            printf("%s\n", cells[c]);
        else
            printf("%-*s  ", (int)width[c], cells[c]);
    }
}

int cmd_list(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            fputs(LIST_USAGE, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--cached") == 0) {
            if (argc != 2)
                return usage_error("list", "--cached takes no MODEL", LIST_USAGE);
            return list_cached();
        }
        if (argv[i][0] == '-')
            return usage_error("list", "unknown option", LIST_USAGE);
        if (only)
            return usage_error("list", "at most one MODEL", LIST_USAGE);
        only = argv[i];
    }

    lm_err e;
    registry r;
    if (registry_load(&r, NULL, &e) != 0)
        return report_error(&e);
    int rc = 1;
    row *rows = NULL;
    const registry_model *one = NULL;
    if (only && !(one = registry_find_model(&r, only))) {
        registry_entry unused;
        registry_lookup(&r, only, NULL, NULL, &unused, &e); /* the error that lists what exists */
        goto done;
    }

    size_t n_rows = 0, cap = 0;
    int missing_configs = 0;
    for (int i = 0; i < r.n_models; i++) {
        const registry_model *m = &r.models[i];
        if (one && m != one)
            continue;
        for (int s = 0; s < m->n_sizes; s++) {
            char config[2200];
            int missing;
            if (config_cell(m, m->sizes[s], config, sizeof config, &missing, &e) != 0)
                goto done;
            missing_configs += missing;
            for (int v = 0; v < m->n_variants; v++) {
                const registry_variant *var = &m->variants[v];
                if (n_rows == cap) {
                    cap = cap ? 2 * cap : 32;
                    row *grown = realloc(rows, cap * sizeof *rows);
                    if (!grown) {
                        lm_fail(&e, "list: out of memory");
                        goto done;
                    }
                    rows = grown;
                }
                row *rw = &rows[n_rows++];
                char repo[512];
                const char *repo_size = registry_repo_size(m, m->sizes[s]);
                if (registry_substitute(var->repos[s], repo_size, 0, repo, sizeof repo, &e) != 0)
                    goto done;
                snprintf(rw->col[COL_MODEL], sizeof rw->col[0], "%s", m->name);
                snprintf(rw->col[COL_SIZE], sizeof rw->col[0], "%s", m->sizes[s]);
                snprintf(rw->col[COL_VARIANT], sizeof rw->col[0], "%s", var->name);
                snprintf(rw->col[COL_REPO], sizeof rw->col[0], "%s", repo);
                snprintf(rw->col[COL_ARCH], sizeof rw->col[0], "%s", m->arch);
                snprintf(rw->col[COL_CHAT], sizeof rw->col[0], "%s%s", var->chats[s],
                         var->thinking ? " (thinking)" : "");
                snprintf(rw->col[COL_CONFIG], sizeof rw->col[0], "%.590s", config);
            }
        }
    }

    size_t width[N_COLS];
    for (int c = 0; c < N_COLS; c++) {
        width[c] = strlen(HEADERS[c]);
        for (size_t i = 0; i < n_rows; i++)
            if (strlen(rows[i].col[c]) > width[c])
                width[c] = strlen(rows[i].col[c]);
    }
    print_row(HEADERS, width);
    for (size_t i = 0; i < n_rows; i++) {
        const char *cells[N_COLS];
        for (int c = 0; c < N_COLS; c++)
            cells[c] = rows[i].col[c];
        print_row(cells, width);
    }
    if (missing_configs)
        printf("\n%d config file%s named in %s %s missing; lmcc build needs them\n", missing_configs,
               missing_configs == 1 ? "" : "s", r.path, missing_configs == 1 ? "is" : "are");
    rc = 0;
done:
    if (rc != 0)
        report_error(&e);
    free(rows);
    registry_free(&r);
    return rc;
}
