/* Growable arrays of ids and bytes, and reading a whole file: what the
 * text files share. Below the tokenizer, so that its BPE merge
 * (tokenizer_merge.c) and its encode pipeline (tokenizer.c) both append ids
 * without needing each other, and the tokenizer and chat-template loaders
 * read their files the same way. */
#ifndef LMRT_TEXT_ARRAYS_H
#define LMRT_TEXT_ARRAYS_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* Growable arrays the API appends to; start from {0}, free with *_free. */
typedef struct lm_ids {
    int32_t *v;
    size_t n, cap;
} lm_ids;

typedef struct lm_bytes {
    char *v;
    size_t n, cap;
} lm_bytes;

void lm_ids_free(lm_ids *a);
void lm_bytes_free(lm_bytes *b);
int lm_ids_push(lm_ids *a, int32_t id, lm_err *e);
/* How many leading ids a[0..na) and b[0..nb) share (a cache against a
 * prompt), and whether v[0..n) holds id (a stop id). */
size_t lm_ids_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb);
int lm_ids_contains(const int32_t *v, size_t n, int32_t id);
int lm_bytes_append(lm_bytes *b, const void *data, size_t n, lm_err *e);

/* The whole file, NUL-terminated (malloc'd), its length in *n; NULL + e
 * when it cannot be opened or read. */
char *lm_read_file(const char *path, size_t *n, lm_err *e);

#endif
