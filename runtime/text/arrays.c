/* Growable arrays of ids and bytes (see arrays.h). */
#include "arrays.h"

#include <stdlib.h>
#include <string.h>

void lm_ids_free(lm_ids *a)
{
    free(a->v);
    memset(a, 0, sizeof *a);
}

void lm_bytes_free(lm_bytes *b)
{
    free(b->v);
    memset(b, 0, sizeof *b);
}

int lm_ids_push(lm_ids *a, int32_t id, lm_err *e)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        int32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v)
            return lm_fail(e, "tokenizer: out of memory for %zu ids", cap);
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return 0;
}

int lm_bytes_append(lm_bytes *b, const void *data, size_t n, lm_err *e)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *v = realloc(b->v, cap);
        if (!v)
            return lm_fail(e, "tokenizer: out of memory for %zu bytes", cap);
        b->v = v;
        b->cap = cap;
    }
    if (n)
        memcpy(b->v + b->n, data, n);
    b->n += n;
    b->v[b->n] = 0; /* always NUL-terminated for convenience */
    return 0;
}
