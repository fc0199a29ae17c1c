/* File helpers for the host: whole-file reads and paths (directories and
 * atomic writes are the runtime's: core/files.h). */
#ifndef LMCC_FSUTIL_H
#define LMCC_FSUTIL_H

#include <stddef.h>

#include "../runtime/core/error.h"
#include "../runtime/core/files.h"

/* Reads a whole file; the caller frees *out (NUL-terminated). */
int fs_read_file(const char *path, char **out, size_t *len, lm_err *e);
int fs_exists(const char *path);
/* "dir/name" into buf; an error when it does not fit. */
int fs_join(char *buf, size_t cap, const char *dir, const char *name, lm_err *e);
/* The file name without directory and without the given extension. */
void fs_stem(const char *path, const char *ext, char *buf, size_t cap);

#endif
