/* The Hugging Face hub cache, laid out exactly as huggingface_hub lays it out
 * so that lmcc, transformers and llama.cpp share one download:
 *
 *   $HF_HUB_CACHE (else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 *   else ~/.cache/huggingface/hub)
 *     models--ORG--NAME/
 *       blobs/<etag>                 file contents, named by their etag
 *       blobs/<etag>.incomplete      a download under way or interrupted
 *       snapshots/<commit>/<file>    relative symbolic links ../../blobs/<etag>
 *       refs/<revision>              the commit a branch or tag pointed at
 *     .locks/models--ORG--NAME/<etag>.lock
 *
 * This part needs no network: the executables resolve `-m ORG/NAME` here. */
#ifndef LMRT_HUB_CACHE_H
#define LMRT_HUB_CACHE_H

#include <stddef.h>

#include "../core/error.h"

#define LM_HUB_COMMIT_LEN 40

/* The cache root, from the environment as huggingface_hub reads it. */
int lm_hub_cache_dir(char *buf, size_t cap, lm_err *e);
/* HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is 1, on, yes or true. */
int lm_hub_offline(void);

/* A repository id as the hub allows it: NAME or ORG/NAME, each part of
 * letters, digits, '-', '_' and '.', not starting or ending with '-' or '.',
 * no "--" or "..", the name at most 96 characters. */
int lm_hub_check_repo_id(const char *id, lm_err *e);
/* A branch, tag or commit: printable, no "..", no leading '/'. */
int lm_hub_check_revision(const char *rev, lm_err *e);
/* 40 lower-case hex digits. */
int lm_hub_is_commit(const char *rev);

/* <cache>/models--ORG--NAME */
int lm_hub_repo_dir(const char *cache, const char *repo, char *buf, size_t cap, lm_err *e);
/* <cache>/.locks/models--ORG--NAME */
int lm_hub_locks_dir(const char *cache, const char *repo, char *buf, size_t cap, lm_err *e);

/* The commit refs/<revision> records: 1 when found, 0 when absent. */
int lm_hub_read_ref(const char *repo_dir, const char *revision, char commit[LM_HUB_COMMIT_LEN + 1],
                    lm_err *e);
/* Records revision -> commit (atomically); nothing when revision is the commit. */
int lm_hub_write_ref(const char *repo_dir, const char *revision, const char *commit, lm_err *e);

/* The snapshot directory of repo at revision (a branch, tag or commit) that
 * the cache already holds, with a config.json in it; an error that says how
 * to download it when there is none. */
int lm_hub_resolve_cached(const char *repo, const char *revision, char *buf, size_t cap, lm_err *e);

/* "ORG/NAME" or "ORG/NAME@REV" split into repo and revision (default main);
 * 1 when spec has that form and is not an existing path, else 0. */
int lm_hub_parse_model_ref(const char *spec, char *repo, size_t repo_cap, char *rev, size_t rev_cap);

#endif
