#include "hub_scan.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "../core/files.h"
#include "hub_cache.h"

/* models--ORG--NAME -> ORG/NAME; names never hold "--", so the first one
 * after the prefix is the separator. */
static int repo_of_folder(const char *folder, char *buf, size_t cap)
{
    if (strncmp(folder, "models--", 8) != 0)
        return -1;
    const char *rest = folder + 8, *sep = strstr(rest, "--");
    int n = sep ? snprintf(buf, cap, "%.*s/%s", (int)(sep - rest), rest, sep + 2)
                : snprintf(buf, cap, "%s", rest);
    return n > 0 && (size_t)n < cap ? 0 : -1;
}

static void read_refs(lm_hub_cached_repo *r, const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *ent;
    while ((ent = readdir(d)) && r->n_refs < LM_HUB_SCAN_MAX_REFS) {
        if (ent->d_name[0] == '.')
            continue;
        char name[256], path[4400];
        snprintf(name, sizeof name, "%s%s", prefix, ent->d_name);
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        if (ent->d_type == DT_DIR) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s/", name);
            read_refs(r, path, sub); /* refs/pr/1 */
            continue;
        }
        char commit[LM_HUB_COMMIT_LEN + 1];
        lm_err ignored;
        if (lm_hub_read_ref(r->dir, name, commit, &ignored) != 1)
            continue;
        snprintf(r->refs[r->n_refs], sizeof r->refs[0], "%s", name);
        snprintf(r->ref_commits[r->n_refs], sizeof r->ref_commits[0], "%s", commit);
        r->n_refs++;
    }
    closedir(d);
}

static int count_entries(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    size_t sl = suffix ? strlen(suffix) : 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        size_t len = strlen(ent->d_name);
        if (!suffix || (len > sl && strcmp(ent->d_name + len - sl, suffix) == 0))
            n++;
    }
    closedir(d);
    return n;
}

int lm_hub_scan(const char *cache, void (*fn)(const lm_hub_cached_repo *r, void *ctx), void *ctx,
                lm_err *e)
{
    DIR *d = opendir(cache);
    if (!d)
        return 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        lm_hub_cached_repo r;
        memset(&r, 0, sizeof r);
        if (repo_of_folder(ent->d_name, r.repo, sizeof r.repo) != 0)
            continue;
        snprintf(r.dir, sizeof r.dir, "%s/%s", cache, ent->d_name);
        char sub[4200];
        snprintf(sub, sizeof sub, "%s/refs", r.dir);
        read_refs(&r, sub, "");
        snprintf(sub, sizeof sub, "%s/snapshots", r.dir);
        r.n_snapshots = count_entries(sub, NULL);
        snprintf(sub, sizeof sub, "%s/blobs", r.dir);
        r.incomplete = count_entries(sub, ".incomplete");
        r.bytes = lm_tree_bytes(r.dir);
        fn(&r, ctx);
    }
    closedir(d);
    return 0;
}
