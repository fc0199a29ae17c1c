/* The normalizer of a tokenizer.json: the steps Hugging Face applies to
 * each stretch of text between added tokens before splitting it, in the
 * file's order. NFC (Qwen2/3, and Qwen1's tokenizer), Replace with a string
 * pattern (Gemma: " " -> "▁", SentencePiece's space marker) and Prepend
 * (Llama 2's "▁" before each stretch). Any other step is an error naming
 * it: a silently skipped step would change the ids. */
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "tokenizer_internal.h"

int tok_add_norm_step(lm_tokenizer *t, tok_norm_kind kind, const char *pattern, size_t pattern_len,
                      const char *content, size_t content_len, lm_err *e)
{
    tok_norm_step *steps = realloc(t->norm, (t->n_norm + 1) * sizeof *steps);
    if (!steps)
        return lm_fail(e, "tokenizer: out of memory for the normalizer");
    t->norm = steps;
    tok_norm_step *s = &steps[t->n_norm];
    *s = (tok_norm_step){.kind = kind, .pattern_len = pattern_len, .content_len = content_len};
    s->pattern = malloc(pattern_len + 1);
    s->content = malloc(content_len + 1);
    if (!s->pattern || !s->content) {
        free(s->pattern);
        free(s->content);
        return lm_fail(e, "tokenizer: out of memory for the normalizer");
    }
    if (pattern_len)
        memcpy(s->pattern, pattern, pattern_len);
    if (content_len)
        memcpy(s->content, content, content_len);
    s->pattern[pattern_len] = s->content[content_len] = 0;
    t->n_norm++;
    return 0;
}

void tok_free_normalizer(lm_tokenizer *t)
{
    for (size_t i = 0; i < t->n_norm; i++) {
        free(t->norm[i].pattern);
        free(t->norm[i].content);
    }
    free(t->norm);
    t->norm = NULL;
    t->n_norm = 0;
}

/* A string field of o as a NUL-free UTF-8 string (jansson allows NULs). */
static const char *string_field(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v))
        return NULL;
    *len = json_string_length(v);
    return strlen(json_string_value(v)) == *len ? json_string_value(v) : NULL;
}

int tok_load_normalizer(lm_tokenizer *t, json_t *norm, const char *path, lm_err *e)
{
    if (!norm || json_is_null(norm))
        return 0;
    const char *type = json_string_value(json_object_get(norm, "type"));
    if (type && strcmp(type, "NFC") == 0)
        return tok_add_norm_step(t, TOK_NORM_NFC, "", 0, "", 0, e);
    if (type && strcmp(type, "Sequence") == 0)
        return tok_load_sequence(t, norm, "normalizers", tok_load_normalizer, path, e);
    size_t content_len = 0, pattern_len = 0;
    const char *content = string_field(norm, "content", &content_len);
    if (type && strcmp(type, "Replace") == 0) {
        json_t *pattern = json_object_get(norm, "pattern");
        const char *literal = string_field(pattern, "String", &pattern_len);
        if (!literal || !pattern_len || !content)
            return lm_fail(e, "%s: normalizer Replace needs a non-empty {\"String\": ...} pattern and "
                              "a content string; lmcc does not implement Regex patterns", path);
        return tok_add_norm_step(t, TOK_NORM_REPLACE, literal, pattern_len, content, content_len, e);
    }
    if (type && strcmp(type, "Prepend") == 0) {
        const char *prepend = string_field(norm, "prepend", &content_len);
        if (!prepend)
            return lm_fail(e, "%s: normalizer Prepend has no \"prepend\" string", path);
        return tok_add_norm_step(t, TOK_NORM_PREPEND, "", 0, prepend, content_len, e);
    }
    return lm_fail(e, "%s: normalizer '%s' is not supported; lmcc implements NFC, Replace (string "
                      "pattern), Prepend and Sequence", path, type ? type : "?");
}

static int has_non_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return 1;
    return 0;
}

/* Every non-overlapping occurrence of the pattern, leftmost first, as
 * Rust's str::replace. 1 with *out when there was one, 0 when none, -1. */
static int replace_all(const tok_norm_step *st, const char *s, size_t n, char **out,
                       size_t *out_len, lm_err *e)
{
    size_t count = 0;
    for (const char *p = s; (p = memmem(p, n - (size_t)(p - s), st->pattern, st->pattern_len));
         p += st->pattern_len)
        count++;
    if (!count)
        return 0;
    size_t len = n - count * st->pattern_len + count * st->content_len;
    char *r = malloc(len + 1);
    if (!r)
        return lm_fail(e, "tokenizer: out of memory normalizing a %zu-byte text", n);
    size_t o = 0;
    const char *from = s;
    for (const char *p; (p = memmem(from, n - (size_t)(from - s), st->pattern, st->pattern_len));
         from = p + st->pattern_len) {
        memcpy(r + o, from, (size_t)(p - from));
        o += (size_t)(p - from);
        memcpy(r + o, st->content, st->content_len);
        o += st->content_len;
    }
    memcpy(r + o, from, n - (size_t)(from - s));
    r[len] = 0;
    *out = r;
    *out_len = len;
    return 1;
}

static int prepend(const tok_norm_step *st, const char *s, size_t n, char **out, size_t *out_len,
                   lm_err *e)
{
    if (n == 0) /* Hugging Face prepends to non-empty text only */
        return 0;
    char *r = malloc(st->content_len + n + 1);
    if (!r)
        return lm_fail(e, "tokenizer: out of memory normalizing a %zu-byte text", n);
    memcpy(r, st->content, st->content_len);
    memcpy(r + st->content_len, s, n);
    *out_len = st->content_len + n;
    r[*out_len] = 0;
    *out = r;
    return 1;
}

static int nfc(const char *s, size_t n, char **out, size_t *out_len, lm_err *e)
{
    if (!has_non_ascii(s, n))
        return 0;
    utf8proc_uint8_t *r = NULL;
    utf8proc_ssize_t m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &r,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (m < 0)
        return lm_fail(e, "tokenizer: NFC normalization failed: %s", utf8proc_errmsg(m));
    *out = (char *)r;
    *out_len = (size_t)m;
    return 1;
}

/* One step over s[0..n): 1 with a new buffer in *out, 0 when the step
 * leaves s as it is, -1 on failure. */
static int apply_step(const tok_norm_step *st, const char *s, size_t n, char **out,
                      size_t *out_len, lm_err *e)
{
    switch (st->kind) {
    case TOK_NORM_NFC:
        return nfc(s, n, out, out_len, e);
    case TOK_NORM_REPLACE:
        return replace_all(st, s, n, out, out_len, e);
    case TOK_NORM_PREPEND:
        return prepend(st, s, n, out, out_len, e);
    }
    return lm_fail(e, "tokenizer: unknown normalizer step %d", (int)st->kind);
}

int tok_normalize(const lm_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len,
                  lm_err *e)
{
    char *cur = NULL;
    size_t cur_len = n;
    for (size_t i = 0; i < t->n_norm; i++) {
        char *next = NULL;
        size_t len = 0;
        int r = apply_step(&t->norm[i], cur ? cur : s, cur_len, &next, &len, e);
        if (r < 0) {
            free(cur);
            return -1;
        }
        if (r > 0) {
            free(cur);
            cur = next;
            cur_len = len;
        }
    }
    if (!cur)
        return 0;
    *out = cur;
    *out_len = cur_len;
    return 1;
}
