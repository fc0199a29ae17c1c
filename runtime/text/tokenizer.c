/* Loading by path, the encode pipeline (added tokens, NFC, regex split,
 * piece cache), decoding and lookups. See tokenizer.h for the behaviour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tokenizer_internal.h"

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when invalid; *sub
 * gets the length of the maximal subpart to replace (>= 1), following the
 * Unicode ranges of Table 3-7 (no overlongs, surrogates or > U+10FFFF). */
static size_t utf8_valid_len(const unsigned char *s, size_t n, size_t *sub)
{
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else {
        *sub = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char a = i == 1 ? lo : 0x80, b = i == 1 ? hi : 0xBF;
        if (s[i] < a || s[i] > b)
            break;
    }
    if (i == need)
        return need;
    *sub = i;
    return 0;
}

int lm_utf8_lossy(const char *s, size_t n, char **out, size_t *out_len, lm_err *e)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, sub;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_valid_len(u + i, n - i, &sub);
        if (!k)
            break;
        i += k;
    }
    if (i == n)
        return 0;
    /* Each replaced subpart (>= 1 byte) grows to at most 3 bytes. */
    char *r = malloc(3 * n + 1);
    if (!r)
        return lm_fail(e, "tokenizer: out of memory for a %zu-byte text", n);
    memcpy(r, s, i);
    size_t o = i;
    while (i < n) {
        size_t k = utf8_valid_len(u + i, n - i, &sub);
        if (k) {
            memcpy(r + o, s + i, k);
            o += k;
            i += k;
        } else {
            memcpy(r + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i += sub;
        }
    }
    r[o] = 0;
    *out = r;
    *out_len = o;
    return 1;
}

/* ---- loading ---- */

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

lm_tokenizer *lm_tokenizer_load(const char *path, lm_err *e)
{
    char file[4096];
    lm_tokenizer_format format;
    if (is_dir(path)) {
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        format = LM_TOKENIZER_HF_BPE;
        if (!is_file(file)) {
            snprintf(file, sizeof file, "%s/qwen.tiktoken", path);
            format = LM_TOKENIZER_TIKTOKEN;
            if (!is_file(file)) {
                lm_fail(e, "%s: no tokenizer.json or qwen.tiktoken in this directory; download "
                           "the checkpoint's tokenizer files", path);
                return NULL;
            }
        }
    } else if (is_file(path)) {
        snprintf(file, sizeof file, "%s", path);
        format = ends_with(path, ".tiktoken") ? LM_TOKENIZER_TIKTOKEN : LM_TOKENIZER_HF_BPE;
    } else {
        lm_fail(e, "%s: no such file or directory; pass a tokenizer.json, a qwen.tiktoken or a "
                   "checkpoint directory", path);
        return NULL;
    }
    lm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        lm_fail(e, "tokenizer: out of memory");
        return NULL;
    }
    t->format = format;
    if (!(t->path = strdup(file))) {
        lm_fail(e, "tokenizer: out of memory");
        free(t);
        return NULL;
    }
    int rc = format == LM_TOKENIZER_HF_BPE ? tok_load_hf_json(t, file, e)
                                           : tok_load_tiktoken(t, file, e);
    if (rc != 0) {
        lm_tokenizer_free(t);
        return NULL;
    }
    return t;
}

static void cache_free(tok_cache *c)
{
    free(c->entry);
    lm_bytes_free(&c->keys);
    lm_ids_free(&c->ids);
    memset(c, 0, sizeof *c);
}

void lm_tokenizer_free(lm_tokenizer *t)
{
    if (!t)
        return;
    free(t->path);
    free(t->tok_off);
    free(t->tok_len);
    free(t->is_special);
    free(t->blob);
    free(t->vocab.slot);
    tok_pair_map_free(&t->merges);
    free(t->added);
    free(t->added_map.slot);
    free(t->added_lens);
    free(t->dec_off);
    free(t->dec_len);
    lm_bytes_free(&t->dec_blob);
    tok_free_normalizer(t);
    lm_ids_free(&t->template_before);
    lm_ids_free(&t->template_after);
    pcre2_match_data_free(t->match);
    pcre2_match_context_free(t->match_ctx);
    pcre2_jit_stack_free(t->jit_stack);
    pcre2_code_free(t->split);
    cache_free(&t->cache);
    free(t->sym);
    free(t->heap);
    lm_bytes_free(&t->scratch);
    free(t);
}

lm_tokenizer_format lm_tokenizer_format_of(const lm_tokenizer *t) { return t->format; }

int32_t lm_tokenizer_vocab_size(const lm_tokenizer *t) { return t->n_ids; }

int32_t lm_tokenizer_token_id(const lm_tokenizer *t, const char *text)
{
    size_t n = strlen(text);
    int32_t k = n ? tok_added_lookup(t, text, n) : -1;
    if (k >= 0)
        return t->added[k].id;
    return n ? tok_vocab_lookup(t, text, n) : -1;
}

const char *lm_tokenizer_token_bytes(const lm_tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_ids || t->tok_len[id] == UINT32_MAX)
        return NULL;
    if (t->dec_len) {
        *len = t->dec_len[id];
        return t->dec_blob.v + t->dec_off[id];
    }
    *len = t->tok_len[id];
    return t->blob + t->tok_off[id];
}

int lm_tokenizer_is_special(const lm_tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_ids && t->is_special[id] == 1;
}

/* ---- encoding ---- */

enum { CACHE_MAX_PIECE = 64, CACHE_MAX_ENTRIES = 1 << 16 };

/* Pieces repeat (words, indentation), so their ids are remembered. */
static int encode_piece(lm_tokenizer *t, const unsigned char *p, size_t n, lm_ids *out, lm_err *e)
{
    tok_cache *c = &t->cache;
    if (n > CACHE_MAX_PIECE)
        return tok_bpe_piece(t, p, n, out, e);
    if (!c->entry || c->used >= CACHE_MAX_ENTRIES) {
        /* Full (or first use): start over rather than track recency. */
        size_t cap = 2 * CACHE_MAX_ENTRIES;
        if (!c->entry && !(c->entry = malloc(cap * sizeof *c->entry)))
            return tok_bpe_piece(t, p, n, out, e);
        memset(c->entry, 0, cap * sizeof *c->entry);
        c->mask = cap - 1;
        c->used = 0;
        c->keys.n = 0;
        c->ids.n = 0;
    }
    uint64_t h = tok_hash(p, n) | 1; /* 0 marks an empty slot */
    size_t i = h & c->mask;
    for (; c->entry[i].hash; i = (i + 1) & c->mask) {
        struct tok_cache_entry *en = &c->entry[i];
        if (en->hash == h && en->key_len == n && memcmp(c->keys.v + en->key_off, p, n) == 0) {
            for (uint32_t k = 0; k < en->n_ids; k++)
                if (lm_ids_push(out, c->ids.v[en->ids_off + k], e) != 0)
                    return -1;
            return 0;
        }
    }
    size_t first = out->n;
    if (tok_bpe_piece(t, p, n, out, e) != 0)
        return -1;
    size_t key_off = c->keys.n, ids_off = c->ids.n;
    if (lm_bytes_append(&c->keys, p, n, e) != 0)
        return -1;
    for (size_t k = first; k < out->n; k++)
        if (lm_ids_push(&c->ids, out->v[k], e) != 0)
            return -1;
    c->entry[i] = (struct tok_cache_entry){h, (uint32_t)key_off, (uint32_t)n, (uint32_t)ids_off,
                                           (uint32_t)(out->n - first)};
    c->used++;
    return 0;
}

/* One stretch of valid UTF-8 without added tokens: normalize, split, merge. */
static int encode_stretch(lm_tokenizer *t, const char *s, size_t n, lm_ids *out, lm_err *e)
{
    char *normalized = NULL;
    size_t normalized_len = 0;
    int changed = tok_normalize(t, s, n, &normalized, &normalized_len, e);
    if (changed < 0)
        return -1;
    if (changed) {
        s = normalized;
        n = normalized_len;
    }
    int rc = 0;
    PCRE2_SIZE gap = 0, search = 0; /* gap: start of text not yet in a piece */
    while (t->split && search < n) {
        int r = t->jit ? pcre2_jit_match(t->split, (PCRE2_SPTR)s, n, search, PCRE2_NO_UTF_CHECK,
                                         t->match, t->match_ctx)
                       : pcre2_match(t->split, (PCRE2_SPTR)s, n, search, PCRE2_NO_UTF_CHECK,
                                     t->match, t->match_ctx);
        if (r == PCRE2_ERROR_NOMATCH)
            break;
        if (r < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(r, msg, sizeof msg);
            rc = lm_fail(e, "%s: split regex failed: %s, at byte %zu of a %zu-byte stretch of "
                            "the text; the pre_tokenizer's pattern cannot split this input (it "
                            "backtracks too much): fix the pattern, or encode the text in parts",
                         t->path, (const char *)msg, (size_t)search, n);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(t->match);
        PCRE2_SIZE start = ov[0], end = ov[1];
        if (end == start) { /* an empty match is no piece: search on from the next character */
            search = start + 1;
            while (search < n && ((unsigned char)s[search] & 0xC0) == 0x80)
                search++;
            continue;
        }
        if (t->split_merged_with_previous) {
            /* "MergedWithPrevious": the match ends the piece the gap begins. */
            if (encode_piece(t, (const unsigned char *)s + gap, end - gap, out, e) != 0) {
                rc = -1;
                break;
            }
        } else if ((start > gap &&
                    encode_piece(t, (const unsigned char *)s + gap, start - gap, out, e) != 0) ||
                   encode_piece(t, (const unsigned char *)s + start, end - start, out, e) != 0) {
            /* "Isolated": the gap before a match and the match are both pieces. */
            rc = -1;
            break;
        }
        gap = search = end;
    }
    if (rc == 0 && gap < n)
        rc = encode_piece(t, (const unsigned char *)s + gap, n - gap, out, e);
    free(normalized);
    return rc;
}

/* Leftmost added token at or after `from`, longest first; NULL if none. */
static const tok_added *next_added(const lm_tokenizer *t, const char *s, size_t n, size_t from,
                                   int allow_special, size_t *at)
{
    if (!t->n_added)
        return NULL;
    for (size_t i = from; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!t->added_first[c])
            continue;
        for (uint32_t k = t->added_len_at[c]; k < t->added_len_at[c + 1]; k++) {
            size_t len = t->added_lens[k];
            int32_t idx = len <= n - i ? tok_added_lookup(t, s + i, len) : -1;
            if (idx >= 0 && (allow_special || !t->added[idx].special)) {
                *at = i;
                return &t->added[idx];
            }
        }
    }
    return NULL;
}

int lm_tokenizer_encode(lm_tokenizer *t, const char *text, size_t len, int allow_special,
                        lm_ids *out, lm_err *e)
{
    char *fixed = NULL;
    size_t fixed_len;
    int lossy = lm_utf8_lossy(text, len, &fixed, &fixed_len, e);
    if (lossy < 0)
        return -1;
    if (lossy) {
        text = fixed;
        len = fixed_len;
    }
    int rc = 0;
    size_t pos = 0;
    while (pos < len && rc == 0) {
        size_t at = len;
        const tok_added *a = next_added(t, text, len, pos, allow_special, &at);
        if (at > pos)
            rc = encode_stretch(t, text + pos, at - pos, out, e);
        if (rc == 0 && a) {
            rc = lm_ids_push(out, a->id, e);
            at += a->len;
        }
        pos = at;
    }
    free(fixed);
    return rc;
}

int lm_tokenizer_encode_prompt(lm_tokenizer *t, const char *text, size_t len, int allow_special,
                               lm_ids *out, lm_err *e)
{
    for (size_t i = 0; i < t->template_before.n; i++)
        if (lm_ids_push(out, t->template_before.v[i], e) != 0)
            return -1;
    if (lm_tokenizer_encode(t, text, len, allow_special, out, e) != 0)
        return -1;
    for (size_t i = 0; i < t->template_after.n; i++)
        if (lm_ids_push(out, t->template_after.v[i], e) != 0)
            return -1;
    return 0;
}

/* ---- decoding ---- */

/* The text of id for decoding. An id no token has (a hole in the
 * vocabulary, or a checkpoint's padding rows past it: Qwen3 has 151936
 * embedding rows for 151669 tokens) has none, as transformers' decode skips
 * it; only a negative id is an error. */
static const char *token_text(const lm_tokenizer *t, int32_t id, size_t *len, lm_err *e)
{
    if (id < 0) {
        lm_fail(e, "tokenizer: token id %d is negative", id);
        return NULL;
    }
    const char *b = lm_tokenizer_token_bytes(t, id, len);
    if (!b)
        *len = 0;
    return b ? b : "";
}

int lm_tokenizer_decode(const lm_tokenizer *t, const int32_t *ids, size_t n, lm_bytes *out,
                        lm_err *e)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const char *b = token_text(t, ids[i], &len, e);
        if (!b)
            return -1;
        if (lm_bytes_append(out, b, len, e) != 0)
            return -1;
    }
    return 0;
}

void lm_detok_init(lm_detok_stream *s, const lm_tokenizer *t)
{
    memset(s, 0, sizeof *s);
    s->tok = t;
}

/* Length of the incomplete-but-so-far-valid character at the end of b[0..n),
 * 0 when b ends on a character boundary or with bytes that can never
 * complete (those are passed through). */
static size_t incomplete_tail(const unsigned char *b, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = b[n - back];
        if ((c & 0xC0) == 0x80)
            continue; /* a continuation byte: look further back for the lead */
        size_t sub = 0;
        if (c < 0xC2 || c > 0xF4 || utf8_valid_len(b + n - back, back, &sub))
            return 0; /* ASCII, a byte no character starts with, or a complete character */
        /* Invalid only for lack of bytes when the subpart reaches the end. */
        return sub == back ? back : 0;
    }
    return 0;
}

int lm_detok_feed(lm_detok_stream *s, int32_t id, lm_bytes *out, lm_err *e)
{
    size_t len = 0;
    const char *b = token_text(s->tok, id, &len, e);
    if (!b)
        return -1;
    /* Join the held bytes and the new ones in a small window to decide what
     * stays held; everything before the window's tail goes out. */
    size_t start = out->n;
    if (lm_bytes_append(out, s->held, (size_t)s->n_held, e) != 0 ||
        lm_bytes_append(out, b, len, e) != 0)
        return -1;
    size_t total = out->n - start;
    size_t hold = incomplete_tail((const unsigned char *)out->v + start, total);
    memcpy(s->held, out->v + out->n - hold, hold);
    s->n_held = (int)hold;
    out->n -= hold;
    out->v[out->n] = 0;
    return 0;
}

int lm_detok_flush(lm_detok_stream *s, lm_bytes *out, lm_err *e)
{
    int rc = lm_bytes_append(out, s->held, (size_t)s->n_held, e);
    s->n_held = 0;
    return rc;
}
