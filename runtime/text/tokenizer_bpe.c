/* tokenizer.json (Hugging Face "tokenizers"): byte-level BPE as Qwen2/Qwen3
 * and Llama 3 ship it, or BPE over characters with byte fallback as Gemma
 * ships it: vocabulary, merges, added tokens, the split pattern and the
 * post-processor's template; the normalizer and decoder steps are read by
 * tokenizer_normalize.c and tokenizer_decoder.c. Anything the file asks for that we do not implement is an error
 * naming the field, never a silent difference in the ids. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenizer_internal.h"

/* GPT-2's pre-split, for a ByteLevel pre-tokenizer with use_regex true. */
static const char GPT2_SPLIT[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* GPT-2's bytes_to_unicode: printable bytes stand for themselves, the other
 * 68 (controls, space, DEL, NBSP, soft hyphen...) for U+0100 onwards in byte
 * order, so every byte string is a printable string. unicode_to_byte[c] is
 * the byte code point c stands for, or -1. */
static void byte_level_table(int16_t unicode_to_byte[324])
{
    for (int c = 0; c < 324; c++)
        unicode_to_byte[c] = -1;
    int next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        unicode_to_byte[printable ? b : next++] = (int16_t)b;
    }
}

/* A vocabulary string (UTF-8 of byte-level characters) -> the bytes it stands
 * for; out holds at least strlen(s) bytes. -1 when a character is not one of
 * the 256 byte-level characters. */
static long byte_level_decode(const int16_t u2b[324], const char *s, size_t n, unsigned char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        int cp;
        if (c < 0x80) {
            cp = c;
            i += 1;
        } else if ((c & 0xE0) == 0xC0 && i + 1 < n) {
            cp = (c & 0x1F) << 6 | (s[i + 1] & 0x3F);
            i += 2;
        } else {
            return -1; /* every byte-level character is below U+0800 */
        }
        if (cp >= 324 || u2b[cp] < 0)
            return -1;
        out[o++] = (unsigned char)u2b[cp];
    }
    return (long)o;
}

/* What the table keeps of a vocabulary string: a byte-level file's bytes,
 * or the string itself (with its "▁" space markers) for a file over
 * characters; -1 when it is not a byte-level string or exceeds cap. */
static long token_bytes(const lm_tokenizer *t, const int16_t u2b[324], const char *s, size_t n,
                        unsigned char *out, size_t cap)
{
    if (n > cap)
        return -1;
    if (t->byte_level)
        return byte_level_decode(u2b, s, n, out);
    memcpy(out, s, n);
    return (long)n;
}

static int bool_field(json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k));
}

/* A String pattern is matched literally: the regex of its characters, each
 * one escaped so that none is special. */
static int compile_literal_split(lm_tokenizer *t, const char *literal, const char *path, lm_err *e)
{
    size_t n = strlen(literal);
    char *re = malloc(2 * n + 1);
    if (!re)
        return lm_fail(e, "%s: out of memory for the split pattern", path);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)literal[i];
        if (c < 0x80 && !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
            re[o++] = '\\';
        re[o++] = (char)c;
    }
    re[o] = 0;
    int rc = tok_compile_split(t, re, path, e);
    free(re);
    return rc;
}

static int load_pre_tokenizer(lm_tokenizer *t, json_t *pre, const char *path, lm_err *e)
{
    const char *type = json_string_value(json_object_get(pre, "type"));
    if (!type)
        return lm_fail(e, "%s: pre_tokenizer has no type; lmcc needs a byte-level BPE tokenizer", path);
    if (strcmp(type, "Sequence") == 0)
        return tok_load_sequence(t, pre, "pretokenizers", load_pre_tokenizer, path, e);
    if (strcmp(type, "Split") == 0) {
        json_t *pattern = json_object_get(pre, "pattern");
        const char *re = json_string_value(json_object_get(pattern, "Regex"));
        const char *literal = json_string_value(json_object_get(pattern, "String"));
        const char *behavior = json_string_value(json_object_get(pre, "behavior"));
        int isolated = behavior && strcmp(behavior, "Isolated") == 0;
        int merged = behavior && strcmp(behavior, "MergedWithPrevious") == 0;
        if (!re && (!literal || !*literal))
            return lm_fail(e, "%s: Split pre_tokenizer has neither a Regex nor a String pattern", path);
        if ((!isolated && !merged) || bool_field(pre, "invert"))
            return lm_fail(e, "%s: Split behavior '%s' (invert %d) is not supported; lmcc implements "
                              "Isolated and MergedWithPrevious", path, behavior ? behavior : "?",
                           bool_field(pre, "invert"));
        if (t->split)
            return lm_fail(e, "%s: more than one split regex is not supported", path);
        t->split_merged_with_previous = merged;
        if (re)
            return tok_compile_split(t, re, path, e);
        return compile_literal_split(t, literal, path, e);
    }
    if (strcmp(type, "ByteLevel") == 0) {
        t->byte_level = 1;
        if (bool_field(pre, "add_prefix_space"))
            return lm_fail(e, "%s: ByteLevel add_prefix_space is not supported", path);
        if (bool_field(pre, "use_regex")) {
            if (t->split)
                return lm_fail(e, "%s: a Split regex followed by ByteLevel use_regex is not supported", path);
            return tok_compile_split(t, GPT2_SPLIT, path, e);
        }
        return 0;
    }
    return lm_fail(e, "%s: pre_tokenizer '%s' is not supported; lmcc implements Split + ByteLevel",
                   path, type);
}

static int load_model(lm_tokenizer *t, json_t *model, json_t *added, const int16_t u2b[324],
                      const char *path, lm_err *e)
{
    const char *type = json_string_value(json_object_get(model, "type"));
    if (type && strcmp(type, "BPE") != 0)
        return lm_fail(e, "%s: model type '%s' is not supported; lmcc implements BPE", path, type);
    int byte_fallback = bool_field(model, "byte_fallback");
    if (t->byte_level && byte_fallback)
        return lm_fail(e, "%s: BPE byte_fallback with a ByteLevel pre_tokenizer is not supported",
                       path);
    if (!t->byte_level && !byte_fallback)
        return lm_fail(e, "%s: a BPE that is neither byte-level (ByteLevel pre_tokenizer) nor has "
                          "byte_fallback is not supported (its unknown characters would need "
                          "unk_token)", path);
    const char *pre = json_string_value(json_object_get(model, "continuing_subword_prefix"));
    const char *suf = json_string_value(json_object_get(model, "end_of_word_suffix"));
    if ((pre && *pre) || (suf && *suf))
        return lm_fail(e, "%s: BPE subword prefixes/suffixes are not supported", path);
    t->whole_piece_first = bool_field(model, "ignore_merges");

    json_t *vocab = json_object_get(model, "vocab");
    json_t *merges = json_object_get(model, "merges");
    if (!json_is_object(vocab) || !json_is_array(merges))
        return lm_fail(e, "%s: model.vocab (object) or model.merges (array) missing; is this a BPE "
                          "tokenizer.json?", path);

    json_int_t max_id = -1;
    const char *key;
    json_t *val;
    json_object_foreach(vocab, key, val) {
        if (!json_is_integer(val) || json_integer_value(val) < 0)
            return lm_fail(e, "%s: vocab entry '%s' has no non-negative integer id", path, key);
        if (json_integer_value(val) > max_id)
            max_id = json_integer_value(val);
    }
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *id = json_object_get(a, "id");
        if (!json_is_integer(id) || json_integer_value(id) < 0)
            return lm_fail(e, "%s: added_tokens[%zu] has no non-negative integer id", path, i);
        if (json_integer_value(id) > max_id)
            max_id = json_integer_value(id);
    }
    if (max_id < 0 || max_id >= (1 << 24))
        return lm_fail(e, "%s: largest token id %lld; expected 0 to %d", path, (long long)max_id,
                       (1 << 24) - 1);
    if (tok_alloc_ids(t, (int32_t)max_id + 1, e) != 0)
        return -1;

    unsigned char buf[1024];
    json_object_foreach(vocab, key, val) {
        size_t n = strlen(key);
        long nb = token_bytes(t, u2b, key, n, buf, sizeof buf);
        if (nb < 0)
            return lm_fail(e, "%s: vocab entry '%s' is not a byte-level token (or longer than %zu "
                              "bytes); lmcc implements byte-level BPE, or BPE with byte_fallback",
                           path, key, sizeof buf);
        if (tok_set_token(t, (int32_t)json_integer_value(val), buf, (size_t)nb, e) != 0)
            return -1;
    }
    if (tok_build_vocab_map(t, e) != 0 || (byte_fallback && tok_find_byte_tokens(t, path, e) != 0))
        return -1;

    if (tok_pair_map_init(&t->merges, json_array_size(merges), e) != 0)
        return -1;
    json_t *m;
    json_array_foreach(merges, i, m) {
        const char *left, *right;
        size_t left_n, right_n;
        if (json_is_string(m)) { /* "a b": byte-level text never holds a raw space */
            left = json_string_value(m);
            const char *sp = strchr(left, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return lm_fail(e, "%s: merges[%zu] '%s' is not two tokens separated by a space",
                               path, i, left);
            left_n = (size_t)(sp - left);
            right = sp + 1;
            right_n = strlen(right);
        } else if (json_is_array(m) && json_array_size(m) == 2 &&
                   json_is_string(json_array_get(m, 0)) && json_is_string(json_array_get(m, 1))) {
            left = json_string_value(json_array_get(m, 0));
            right = json_string_value(json_array_get(m, 1));
            left_n = strlen(left);
            right_n = strlen(right);
        } else {
            return lm_fail(e, "%s: merges[%zu] is neither \"a b\" nor [\"a\", \"b\"]", path, i);
        }
        long nl = token_bytes(t, u2b, left, left_n, buf, sizeof buf);
        long nr = nl >= 0 ? token_bytes(t, u2b, right, right_n, buf + nl, sizeof buf - (size_t)nl) : -1;
        int32_t l = nl >= 0 ? tok_vocab_lookup(t, buf, (size_t)nl) : -1;
        int32_t r = nr >= 0 ? tok_vocab_lookup(t, buf + nl, (size_t)nr) : -1;
        int32_t merged = l >= 0 && r >= 0 ? tok_vocab_lookup(t, buf, (size_t)(nl + nr)) : -1;
        if (merged < 0)
            return lm_fail(e, "%s: merges[%zu] ('%.*s' + '%.*s') names a token the vocabulary lacks",
                           path, i, (int)left_n, left, (int)right_n, right);
        tok_pair_insert(&t->merges, l, r, (int32_t)i, merged);
    }
    return 0;
}

/* One piece of a TemplateProcessing "single" list: {"SpecialToken": {"id":
 * NAME}} appends special_tokens[NAME].ids; {"Sequence": {"id": "A"}} marks
 * where the text goes. */
static int load_template_piece(lm_tokenizer *t, json_t *piece, json_t *specials, int *seen_text,
                               const char *path, size_t k, lm_err *e)
{
    json_t *seq = json_object_get(piece, "Sequence");
    json_t *special = json_object_get(piece, "SpecialToken");
    if (seq) {
        const char *id = json_string_value(json_object_get(seq, "id"));
        if (!id || strcmp(id, "A") != 0 || *seen_text)
            return lm_fail(e, "%s: post_processor single[%zu]: expected the sequence \"A\" once, "
                              "found '%s'", path, k, id ? id : "?");
        *seen_text = 1;
        return 0;
    }
    const char *name = json_string_value(json_object_get(special, "id"));
    json_t *ids = json_object_get(json_object_get(specials, name ? name : ""), "ids");
    if (!name || !json_is_array(ids))
        return lm_fail(e, "%s: post_processor single[%zu] is neither a Sequence nor a SpecialToken "
                          "listed in special_tokens with its ids", path, k);
    lm_ids *dst = *seen_text ? &t->template_after : &t->template_before;
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id) {
        json_int_t v = json_integer_value(id);
        if (!json_is_integer(id) || v < 0 || v >= t->n_ids)
            return lm_fail(e, "%s: post_processor special token '%s': ids[%zu] is not a token id "
                              "of the vocabulary (0..%d)", path, name, i, t->n_ids - 1);
        if (lm_ids_push(dst, (int32_t)v, e) != 0)
            return -1;
    }
    return 0;
}

/* The tokens Hugging Face adds around one sequence (add_special_tokens):
 * TemplateProcessing's "single" template; ByteLevel only moves offsets,
 * which lmcc does not report. */
static int load_post_processor(lm_tokenizer *t, json_t *pp, const char *path, lm_err *e)
{
    if (!pp || json_is_null(pp))
        return 0;
    const char *type = json_string_value(json_object_get(pp, "type"));
    if (type && strcmp(type, "ByteLevel") == 0)
        return 0;
    if (type && strcmp(type, "Sequence") == 0)
        return tok_load_sequence(t, pp, "processors", load_post_processor, path, e);
    if (type && strcmp(type, "TemplateProcessing") == 0) {
        json_t *single = json_object_get(pp, "single");
        json_t *specials = json_object_get(pp, "special_tokens");
        if (t->template_before.n || t->template_after.n)
            return lm_fail(e, "%s: more than one TemplateProcessing post_processor", path);
        if (!json_is_array(single))
            return lm_fail(e, "%s: TemplateProcessing post_processor has no \"single\" list", path);
        int seen_text = 0;
        size_t k;
        json_t *piece;
        json_array_foreach(single, k, piece)
            if (load_template_piece(t, piece, specials, &seen_text, path, k, e) != 0)
                return -1;
        if (!seen_text)
            return lm_fail(e, "%s: TemplateProcessing \"single\" has no sequence \"A\"", path);
        return 0;
    }
    return lm_fail(e, "%s: post_processor '%s' is not supported; lmcc implements ByteLevel and "
                      "TemplateProcessing", path, type ? type : "?");
}

static int load_added(lm_tokenizer *t, json_t *added, const char *path, lm_err *e)
{
    size_t i;
    json_t *a;
    json_array_foreach(added, i, a) {
        json_t *content = json_object_get(a, "content");
        if (!json_is_string(content))
            return lm_fail(e, "%s: added_tokens[%zu] has no content string", path, i);
        const char *flag = bool_field(a, "lstrip") ? "lstrip"
                           : bool_field(a, "rstrip") ? "rstrip"
                           : bool_field(a, "single_word") ? "single_word" : NULL;
        if (flag)
            return lm_fail(e, "%s: added token '%s' sets %s, which lmcc does not implement", path,
                           json_string_value(content), flag);
        /* "normalized" is ignored: added tokens are matched in the raw text,
         * which equals the NFC text for the ASCII markers Qwen uses. */
        if (tok_add_added(t, (int32_t)json_integer_value(json_object_get(a, "id")),
                          json_string_value(content), json_string_length(content),
                          bool_field(a, "special"), e) != 0)
            return -1;
    }
    return tok_finish_added(t, e);
}

int tok_load_hf_json(lm_tokenizer *t, const char *path, lm_err *e)
{
    /* Parse from memory: json_load_file reads the 11 MB byte by byte with getc. */
    size_t size;
    char *text = lm_read_file(path, &size, e);
    if (!text)
        return -1;
    json_error_t jerr;
    json_t *root = json_loadb(text, size, 0, &jerr);
    free(text);
    if (!root)
        return lm_fail(e, "%s:%d:%d: %s; is this a Hugging Face tokenizer.json?", path, jerr.line,
                       jerr.column, jerr.text);
    int rc = -1;
    int16_t u2b[324];
    byte_level_table(u2b);
    json_t *added = json_object_get(root, "added_tokens");
    json_t *pre = json_object_get(root, "pre_tokenizer");
    if (!json_is_object(root) || !json_is_object(json_object_get(root, "model")))
        lm_fail(e, "%s: no \"model\" object; is this a Hugging Face tokenizer.json?", path);
    else if (added && !json_is_array(added))
        lm_fail(e, "%s: added_tokens is not an array", path);
    else if (pre && !json_is_null(pre) && !json_is_object(pre))
        lm_fail(e, "%s: pre_tokenizer is not an object", path);
    else if (tok_load_normalizer(t, json_object_get(root, "normalizer"), path, e) == 0 &&
             (!json_is_object(pre) || load_pre_tokenizer(t, pre, path, e) == 0) &&
             load_model(t, json_object_get(root, "model"), added, u2b, path, e) == 0 &&
             load_added(t, added, path, e) == 0 &&
             tok_load_decoder(t, json_object_get(root, "decoder"), path, e) == 0 &&
             load_post_processor(t, json_object_get(root, "post_processor"), path, e) == 0) {
        /* A file over characters may leave its text unsplit (one piece per
         * stretch); a byte-level one without a regex would merge across words. */
        if (t->byte_level && !t->split)
            lm_fail(e, "%s: pre_tokenizer has no split regex; lmcc needs Split or ByteLevel "
                       "use_regex", path);
        else
            rc = 0;
    }
    json_decref(root);
    return rc;
}
