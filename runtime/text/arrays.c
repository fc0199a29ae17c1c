/* Growable arrays of ids and bytes, and whole files (see arrays.h). */
#include "arrays.h"

#include <errno.h>
#include <stdio.h>
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

size_t lm_ids_common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    size_t n = 0;
    while (n < na && n < nb && a[n] == b[n])
        n++;
    return n;
}

int lm_ids_contains(const int32_t *v, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == id)
            return 1;
    return 0;
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

char *lm_read_file(const char *path, size_t *n, lm_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lm_fail(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        char *b = cap < ((size_t)1 << 31) ? realloc(buf, cap * 2 + 1) : NULL;
        if (!b) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        lm_fail(e, "%s: cannot read the file (too large or I/O error)", path);
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}
