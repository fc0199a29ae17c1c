/* File helpers for the host: whole-file reads, directories, and writes that
 * never leave a half-written file behind (temporary name, then rename). */
#ifndef LMCC_FSUTIL_H
#define LMCC_FSUTIL_H

#include <stddef.h>

#include "../runtime/core/error.h"

/* mkdir -p */
int fs_mkdirs(const char *path, lm_err *e);
/* Writes data to path through a temporary file in the same directory. */
int fs_write_atomic(const char *path, const void *data, size_t len, lm_err *e);
/* Reads a whole file; the caller frees *out (NUL-terminated). */
int fs_read_file(const char *path, char **out, size_t *len, lm_err *e);
int fs_exists(const char *path);
/* "dir/name" into buf; an error when it does not fit. */
int fs_join(char *buf, size_t cap, const char *dir, const char *name, lm_err *e);
/* The file name without directory and without the given extension. */
void fs_stem(const char *path, const char *ext, char *buf, size_t cap);

#endif
