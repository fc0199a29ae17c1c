/* The cache of built models that `lmcc run` keeps, so a model is compiled
 * once: $LMCC_CACHE, else $XDG_CACHE_HOME/lmcc, else ~/.cache/lmcc.
 *
 *   models/<name>-<key>/        one build: the executable <name>, its library
 *                               and sources, build.json (what it was built from)
 *   models/<name>-<key>.lock    held while it builds: a second `lmcc run` of
 *                               the same model waits, then uses the build
 *
 * <key> is a sha256 prefix over what decides the generated code: the config
 * YAML's text, the build options, the lmcc version and the lmcc executable
 * itself (its size and modification time, so a rebuilt lmcc rebuilds). */
#ifndef LMCC_BUILD_CACHE_H
#define LMCC_BUILD_CACHE_H

#include <stddef.h>

#include "../runtime/core/error.h"

typedef struct build_request {
    const char *name;         /* model name: the executable's */
    const char *config_yaml;  /* the config's text */
    const char *dtype;        /* NULL: the config's */
    const char *ctx;          /* NULL: the config's context_length */
    const char *repo;         /* for build.json and lmcc list --cached */
    int quiet;
} build_request;

int build_cache_dir(char *buf, size_t cap, lm_err *e);

/* The executable for req, compiled now unless the cache has it. */
int build_cache_ensure(const build_request *req, char *exe, size_t cap, lm_err *e);

/* One build found in the cache. */
typedef struct cached_build {
    char dir[4096];
    char repo[512];
    char name[256];
    char dtype[32];
    long long bytes;
} cached_build;

/* Calls fn for each build whose build.json is readable. */
int build_cache_scan(void (*fn)(const cached_build *b, void *ctx), void *ctx, lm_err *e);

#endif
