/* The decoder of a tokenizer.json: how ids become text.
 *
 * Byte-level files (Qwen, Llama 3) declare ByteLevel: the token table
 * already holds each token's bytes. Files converted from SentencePiece
 * (Gemma) declare a Sequence of Replace("▁" -> " "), ByteFallback and Fuse.
 * Hugging Face runs Replace and ByteFallback on each token on its own and
 * Fuse only joins them, so each token's decoded text is computed once here
 * and decode concatenates them. ByteFallback turns "<0xNN>" into the byte
 * NN; where such bytes split a character, Hugging Face prints U+FFFD and
 * lmcc returns the bytes (tokenizer.h: decode may give invalid UTF-8, the
 * streaming decoder holds them until the character is whole). A step lmcc
 * does not implement (Strip, Metaspace, WordPiece...) is an error naming
 * it. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

enum { STEP_REPLACE, STEP_BYTE_FALLBACK, STEP_FUSE };

typedef struct decoder_step {
    int kind;
    const char *pattern, *content; /* Replace; into the parsed JSON */
    size_t pattern_len, content_len;
} decoder_step;

enum { MAX_STEPS = 8 };

static int load_step(json_t *d, decoder_step *steps, size_t *n, const char *path, lm_err *e)
{
    const char *type = json_string_value(json_object_get(d, "type"));
    if (*n == MAX_STEPS)
        return lm_fail(e, "%s: decoder has more than %d steps", path, MAX_STEPS);
    if (*n > 0 && steps[*n - 1].kind == STEP_FUSE)
        return lm_fail(e, "%s: decoder step '%s' after Fuse is not supported; lmcc decodes each "
                          "token on its own", path, type ? type : "?");
    decoder_step *s = &steps[(*n)++];
    if (type && strcmp(type, "Replace") == 0) {
        json_t *pattern = json_object_get(json_object_get(d, "pattern"), "String");
        json_t *content = json_object_get(d, "content");
        if (!json_is_string(pattern) || !json_string_length(pattern) || !json_is_string(content))
            return lm_fail(e, "%s: decoder Replace needs a non-empty {\"String\": ...} pattern and a "
                              "content string; lmcc does not implement Regex patterns", path);
        *s = (decoder_step){STEP_REPLACE, json_string_value(pattern), json_string_value(content),
                            json_string_length(pattern), json_string_length(content)};
        return 0;
    }
    if (type && strcmp(type, "ByteFallback") == 0) {
        s->kind = STEP_BYTE_FALLBACK;
        return 0;
    }
    if (type && strcmp(type, "Fuse") == 0) {
        s->kind = STEP_FUSE;
        return 0;
    }
    return lm_fail(e, "%s: decoder '%s' is not supported; lmcc implements ByteLevel, and Replace, "
                      "ByteFallback and Fuse for files that are not byte-level", path,
                   type ? type : "?");
}

static int hex_digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0'
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
         : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* One token's text through the steps, appended to out. */
static int decode_token(const decoder_step *steps, size_t n_steps, const char *text, size_t len,
                        lm_bytes *scratch, lm_bytes *out, lm_err *e)
{
    scratch->n = 0;
    if (lm_bytes_append(scratch, text, len, e) != 0)
        return -1;
    for (size_t k = 0; k < n_steps; k++) {
        const decoder_step *s = &steps[k];
        const char *cur = scratch->v;
        size_t cur_len = scratch->n;
        if (s->kind == STEP_BYTE_FALLBACK && cur_len == 6 && memcmp(cur, "<0x", 3) == 0 &&
            cur[5] == '>' && hex_digit(cur[3]) >= 0 && hex_digit(cur[4]) >= 0) {
            scratch->v[0] = (char)(hex_digit(cur[3]) << 4 | hex_digit(cur[4]));
            scratch->n = 1;
        } else if (s->kind == STEP_REPLACE && memmem(cur, cur_len, s->pattern, s->pattern_len)) {
            size_t start = out->n; /* build the replaced text at the end of out, then move it */
            const char *from = cur, *p;
            while ((p = memmem(from, cur_len - (size_t)(from - cur), s->pattern, s->pattern_len))) {
                if (lm_bytes_append(out, from, (size_t)(p - from), e) != 0 ||
                    lm_bytes_append(out, s->content, s->content_len, e) != 0)
                    return -1;
                from = p + s->pattern_len;
            }
            if (lm_bytes_append(out, from, cur_len - (size_t)(from - cur), e) != 0)
                return -1;
            scratch->n = 0;
            if (lm_bytes_append(scratch, out->v + start, out->n - start, e) != 0)
                return -1;
            out->n = start;
        }
    }
    return lm_bytes_append(out, scratch->v, scratch->n, e);
}

int tok_load_decoder(lm_tokenizer *t, json_t *decoder, const char *path, lm_err *e)
{
    const char *type = json_string_value(json_object_get(decoder, "type"));
    if (t->byte_level) {
        if (!decoder || json_is_null(decoder) || (type && strcmp(type, "ByteLevel") == 0))
            return 0;
        return lm_fail(e, "%s: decoder '%s' is not supported for a byte-level file; lmcc implements "
                          "ByteLevel", path, type ? type : "?");
    }
    if (type && strcmp(type, "ByteLevel") == 0)
        return lm_fail(e, "%s: decoder ByteLevel but the pre_tokenizer is not byte-level", path);
    if (!decoder || json_is_null(decoder))
        return lm_fail(e, "%s: no decoder; lmcc needs one (Replace, ByteFallback, Fuse) for a file "
                          "that is not byte-level", path);
    decoder_step steps[MAX_STEPS];
    size_t n_steps = 0;
    /* A Sequence's members are the steps; any other decoder is one step. */
    json_t *members = json_object_get(decoder, "decoders");
    int sequence = type && strcmp(type, "Sequence") == 0;
    if (sequence && !json_is_array(members))
        return lm_fail(e, "%s: decoder Sequence has no \"decoders\" list", path);
    for (size_t i = 0; i < (sequence ? json_array_size(members) : 1); i++)
        if (load_step(sequence ? json_array_get(members, i) : decoder, steps, &n_steps, path, e) != 0)
            return -1;

    t->dec_off = malloc((size_t)t->n_ids * sizeof *t->dec_off);
    t->dec_len = malloc((size_t)t->n_ids * sizeof *t->dec_len);
    if (!t->dec_off || !t->dec_len)
        return lm_fail(e, "tokenizer: out of memory for %d decoded tokens", t->n_ids);
    lm_bytes scratch = {0};
    int rc = 0;
    for (int32_t id = 0; id < t->n_ids && rc == 0; id++) {
        t->dec_off[id] = (uint32_t)t->dec_blob.n;
        t->dec_len[id] = UINT32_MAX;
        if (t->tok_len[id] == UINT32_MAX)
            continue;
        rc = decode_token(steps, n_steps, t->blob + t->tok_off[id], t->tok_len[id], &scratch,
                          &t->dec_blob, e);
        if (rc == 0 && t->dec_blob.n > UINT32_MAX - 1)
            rc = lm_fail(e, "tokenizer: decoded token texts exceed 4 GiB");
        t->dec_len[id] = (uint32_t)(t->dec_blob.n - t->dec_off[id]);
    }
    lm_bytes_free(&scratch);
    return rc;
}
