/* lmcc list --cached and lmcc rm: what the hub cache and the build cache
 * hold, and removing a model from them. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "build_cache.h"
#include "../runtime/core/files.h"
#include "commands.h"
#include "../runtime/hub/hub_cache.h"
#include "../runtime/hub/hub_progress.h"
#include "../runtime/hub/hub_scan.h"
#include "model_ref.h"

#define MAX_BUILDS 512

typedef struct builds {
    cached_build b[MAX_BUILDS];
    int n;
} builds;

static void add_build(const cached_build *b, void *ctx)
{
    builds *bs = ctx;
    if (bs->n < MAX_BUILDS)
        bs->b[bs->n++] = *b;
}

/* "qwen3-0.6b (bfloat16), ..." of the builds made from repo, or "no". */
static void built_cell(const builds *bs, const char *repo, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < bs->n; i++) {
        if (strcasecmp(bs->b[i].repo, repo) != 0)
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s (%s)", n ? ", " : "", bs->b[i].name, bs->b[i].dtype);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
    if (!n)
        snprintf(buf, cap, "no");
}

typedef struct list_ctx {
    builds *bs;
    int rows;
} list_ctx;

static void print_repo(const lm_hub_cached_repo *r, void *ctx)
{
    list_ctx *lc = ctx;
    char size[32], built[1024];
    lm_hub_format_bytes(r->bytes, size, sizeof size);
    built_cell(lc->bs, r->repo, built, sizeof built);
    if (r->incomplete)
        snprintf(built + strlen(built), sizeof built - strlen(built), "; %d partial download%s",
                 r->incomplete, r->incomplete == 1 ? "" : "s");
    if (r->n_refs == 0)
        printf("%-40s  %-10s  %-12s  %9s  %s\n", r->repo, "-",
               r->n_snapshots ? "(no ref)" : "(empty)", size, built);
    for (int i = 0; i < r->n_refs; i++)
        printf("%-40s  %-10s  %-12.12s  %9s  %s\n", r->repo, r->refs[i], r->ref_commits[i], size, built);
    lc->rows++;
}

int list_cached(void)
{
    lm_err e;
    char cache[4096], builds_dir[4096];
    if (lm_hub_cache_dir(cache, sizeof cache, &e) != 0 || build_cache_dir(builds_dir, sizeof builds_dir, &e) != 0)
        return report_error(&e);
    builds *bs = calloc(1, sizeof *bs);
    if (!bs) {
        lm_fail(&e, "out of memory");
        return report_error(&e);
    }
    list_ctx lc = { bs, 0 };
    int rc = 1;
    if (build_cache_scan(add_build, bs, &e) != 0)
        goto out;
    printf("%-40s  %-10s  %-12s  %9s  %s\n", "REPOSITORY", "REVISION", "COMMIT", "SIZE", "BUILT");
    if (lm_hub_scan(cache, print_repo, &lc, &e) != 0)
        goto out;
    printf("\n%d model%s in the hub cache %s; built models in %s/models\n", lc.rows, lc.rows == 1 ? "" : "s",
           cache, builds_dir);
    rc = 0;
out:
    if (rc != 0)
        report_error(&e);
    free(bs);
    return rc;
}

static const char RM_USAGE[] =
    "usage: lmcc rm ORG/NAME [--build]\n"
    "       lmcc rm MODEL --size S [--variant V] [--build]\n"
    "Removes a model's download from the Hugging Face cache and its builds from the lmcc build\n"
    "cache (lmcc list --cached shows both).\n"
    "  -s, --size S     model size, with MODEL\n"
    "      --variant V  with MODEL (default: instruct where there is one)\n"
    "      --build      remove the builds only; keep the download\n"
    "  -h, --help       this text\n";

int cmd_rm(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "size", required_argument, 0, 's' }, { "variant", required_argument, 0, 'V' },
        { "build", no_argument, 0, 'b' },      { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 },
    };
    const char *size = NULL, *variant = NULL;
    int builds_only = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "s:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': size = optarg; break;
        case 'V': variant = optarg; break;
        case 'b': builds_only = 1; break;
        case 'h': fputs(RM_USAGE, stdout); return 0;
        default: return usage_error("rm", "unknown option or missing value", RM_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("rm", "expected one ORG/NAME or MODEL", RM_USAGE);
    lm_err e;
    model_ref ref;
    char cache[4096], repo_dir[4096], locks[4096];
    if (model_ref_resolve(argv[optind], size, variant, NULL, &ref, &e) != 0 ||
        lm_hub_cache_dir(cache, sizeof cache, &e) != 0 ||
        lm_hub_repo_dir(cache, ref.repo, repo_dir, sizeof repo_dir, &e) != 0 ||
        lm_hub_locks_dir(cache, ref.repo, locks, sizeof locks, &e) != 0)
        return report_error(&e);
    builds *bs = calloc(1, sizeof *bs);
    if (!bs || build_cache_scan(add_build, bs, &e) != 0) {
        free(bs);
        return report_error(&e);
    }
    long long freed = 0;
    int removed = 0, rc = 0;
    for (int i = 0; i < bs->n && rc == 0; i++) {
        if (strcasecmp(bs->b[i].repo, ref.repo) != 0)
            continue;
        if ((rc = lm_remove_tree(bs->b[i].dir, &e)) == 0) {
            fprintf(stderr, "lmcc: removed the build %s\n", bs->b[i].dir);
            freed += bs->b[i].bytes;
            removed++;
        }
    }
    if (rc == 0 && !builds_only && lm_is_dir(repo_dir)) {
        long long bytes = lm_tree_bytes(repo_dir);
        if ((rc = lm_remove_tree(repo_dir, &e)) == 0 && (rc = lm_remove_tree(locks, &e)) == 0) {
            fprintf(stderr, "lmcc: removed the download %s\n", repo_dir);
            freed += bytes;
            removed++;
        }
    }
    free(bs);
    if (rc != 0)
        return report_error(&e);
    if (!removed) {
        lm_fail(&e, "%s: nothing of it is in the caches (lmcc list --cached)", ref.repo);
        return report_error(&e);
    }
    char f[32];
    lm_hub_format_bytes(freed, f, sizeof f);
    fprintf(stderr, "lmcc: freed %s\n", f);
    return 0;
}
