/* Downloading a repository snapshot into the hub cache, as
 * huggingface_hub's snapshot_download does, for the files lmcc reads.
 *
 * 1. GET <endpoint>/api/models/<repo>/revision/<revision>?blobs=true: the
 *    commit (sha) and the files (siblings), with each LFS file's sha256 and
 *    size.
 * 2. For each file lmcc needs (config.json, generation_config.json, the
 *    tokenizer files, *.safetensors and their index, at the top level):
 *    HEAD <endpoint>/<repo>/resolve/<commit>/<file> gives X-Repo-Commit,
 *    the etag (X-Linked-Etag, else ETag, quotes and W/ dropped), the size
 *    (X-Linked-Size, else Content-Length) and, for LFS files, the CDN
 *    Location. A snapshot link already there means nothing to fetch.
 * 3. Under .locks/<repo folder>/<etag>.lock the bytes go to
 *    blobs/<etag>.incomplete (resumed with Range when one is there), are
 *    checked (size, then sha256 for LFS files and the git blob sha1 for the
 *    others) and renamed to blobs/<etag>; only then is the snapshot link
 *    made, so a link never points at nothing.
 * 4. refs/<revision> records the commit.
 *
 * HF_HUB_OFFLINE=1 skips the network and resolves the cache alone. */
#ifndef LMRT_HUB_PULL_H
#define LMRT_HUB_PULL_H

#include <stddef.h>

#include "../core/error.h"

typedef struct lm_hub_pull_opts {
    const char *repo;        /* ORG/NAME */
    const char *revision;    /* branch, tag or commit; NULL: main */
    int quiet;               /* no progress output */
    int brief;               /* no line for files already in the cache */
    const char *user_agent;  /* "lmcc/0.1.0" */
} lm_hub_pull_opts;

/* Pulls what lmcc needs of the repository into the cache; the snapshot
 * directory goes to snapshot. */
int lm_hub_pull(const lm_hub_pull_opts *o, char *snapshot, size_t cap, lm_err *e);

#endif
