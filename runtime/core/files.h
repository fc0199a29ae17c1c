/* Files that are never seen half-written, directories, and advisory locks.
 *
 * Shared by the compiler (generated sources, imported configs) and the hub
 * cache (refs, snapshot links), which both promise that an interrupted run
 * leaves either the old file or the new one, never a mix. */
#ifndef LMRT_CORE_FILES_H
#define LMRT_CORE_FILES_H

#include <stddef.h>

#include "error.h"

/* mkdir -p */
int lm_mkdirs(const char *path, lm_err *e);
/* mkdir -p of the directory that holds path. */
int lm_mkdirs_parent(const char *path, lm_err *e);
/* Writes data to path through a temporary file in the same directory, then
 * renames it into place. */
int lm_write_atomic(const char *path, const void *data, size_t len, lm_err *e);
/* A symbolic link path -> target made atomically (temporary link, rename),
 * replacing whatever path was. */
int lm_symlink_atomic(const char *target, const char *path, lm_err *e);
/* A directory (following links). */
int lm_is_dir(const char *path);
/* rm -rf; a missing path is not an error. */
int lm_remove_tree(const char *path, lm_err *e);
/* Bytes the files under path occupy (st_blocks), not following links. */
long long lm_tree_bytes(const char *path);

/* lmcc's cache root, where built models (build_cache) and quantized weights
 * (weights/weight_cache) live: $LMCC_CACHE, else $XDG_CACHE_HOME/lmcc, else
 * ~/.cache/lmcc; with sub appended ("" for the root itself). */
int lm_lmcc_cache_dir(const char *sub, char *buf, size_t cap, lm_err *e);

/* An exclusive flock(2) on path (created, with its directory, if missing).
 * When another process holds it, calls waiting(what) once and blocks.
 * Returns the descriptor to pass to lm_unlock, or -1. */
int lm_lock(const char *path, void (*waiting)(const char *what), const char *what, lm_err *e);
void lm_unlock(int fd);

#endif
