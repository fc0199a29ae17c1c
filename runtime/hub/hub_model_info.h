/* The hub's model API answer (GET /api/models/<repo>/revision/<rev>?blobs=true),
 * read into the commit and the files lmcc fetches. Untrusted input: a file
 * name that could leave the snapshot directory, a list too long, a missing
 * commit, each is one error naming the repository or the URL. */
#ifndef LMRT_HUB_MODEL_INFO_H
#define LMRT_HUB_MODEL_INFO_H

#include <stddef.h>

#include "../core/error.h"
#include "hub_cache.h"

#define LM_HUB_MAX_FILES 4096

/* What the model API announced of one file. */
typedef struct lm_hub_file {
    char *path;
    long long size;     /* -1 when the API did not say */
    char sha256[65];    /* "" for files outside LFS */
} lm_hub_file;

typedef struct lm_hub_model_info {
    char commit[LM_HUB_COMMIT_LEN + 1];
    lm_hub_file files[LM_HUB_MAX_FILES]; /* only those lmcc needs, top level */
    int n_files;
} lm_hub_model_info;

/* Reads body[0..n) (from url, for repo at revision, both for messages)
 * into info, which starts empty; it must have a config.json and
 * safetensors weights. On failure info may hold some files: free it. */
int lm_hub_parse_model_info(const char *repo, const char *revision, const char *url,
                            const char *body, size_t n, lm_hub_model_info *info, lm_err *e);
void lm_hub_model_info_free(lm_hub_model_info *info);

#endif
