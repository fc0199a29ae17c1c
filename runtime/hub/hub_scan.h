/* What the hub cache holds, read from its layout (hub_cache.h) alone: the
 * model repositories, their refs and snapshots, and the bytes their blobs
 * take. huggingface_hub's scan_cache_dir reads the same things. */
#ifndef LMRT_HUB_SCAN_H
#define LMRT_HUB_SCAN_H

#include "../core/error.h"

#define LM_HUB_SCAN_MAX_REFS 16

typedef struct lm_hub_cached_repo {
    char repo[256];                       /* ORG/NAME */
    char dir[4096];                       /* models--ORG--NAME */
    char refs[LM_HUB_SCAN_MAX_REFS][128]; /* "main", ... */
    char ref_commits[LM_HUB_SCAN_MAX_REFS][48];
    int n_refs;
    int n_snapshots;
    long long bytes;                      /* on disk, blobs and partial downloads */
    int incomplete;                       /* partial downloads (*.incomplete) */
} lm_hub_cached_repo;

/* Calls fn for each model repository of the cache (none when it does not
 * exist yet), in directory order. */
int lm_hub_scan(const char *cache, void (*fn)(const lm_hub_cached_repo *r, void *ctx), void *ctx,
                lm_err *e);

#endif
