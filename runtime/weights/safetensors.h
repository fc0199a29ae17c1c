/* One .safetensors file, mapped read-only and validated (runtime-internal).
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON mapping
 * each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} with
 * offsets relative to the data region that follows, and an optional
 * "__metadata__" object. lm_st_file_open checks every field before any tensor
 * is exposed, so later code may trust data/nbytes. */
#ifndef LMRT_WEIGHTS_SAFETENSORS_H
#define LMRT_WEIGHTS_SAFETENSORS_H

#include <stddef.h>

#include "../core/error.h"
#include "checkpoint.h"

/* Headers above this are treated as hostile rather than parsed. */
#define LM_ST_MAX_HEADER ((size_t)100 << 20)

typedef struct lm_st_file {
    char *path;          /* as opened, for messages */
    char *name;          /* file name within its directory */
    void *map;           /* whole file, PROT_READ */
    size_t map_size;
    lm_tensor *tensors;  /* in header order; names owned here */
    size_t n_tensors;
} lm_st_file;

/* Maps and validates path; display_name becomes each tensor's .file.
 * On failure f is left empty (safe to close) and e says what is wrong. */
int lm_st_file_open(lm_st_file *f, const char *path, const char *display_name, lm_err *e);
void lm_st_file_close(lm_st_file *f);

/* Parses "BF16" etc.; -1 when unknown. */
int lm_st_dtype_parse(const char *s, lm_st_dtype *out);

#endif
