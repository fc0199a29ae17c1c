/* What the tokenizer files share; not part of the public API. */
#ifndef LMRT_TEXT_TOKENIZER_INTERNAL_H
#define LMRT_TEXT_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <jansson.h>

#include "tokenizer.h"

/* Byte strings -> id, open addressing over ids; keys live in the token table. */
typedef struct tok_bytes_map {
    int32_t *slot; /* id or -1 */
    size_t mask;
} tok_bytes_map;

/* (left id, right id) -> merge rank and merged id (tokenizer.json merges). */
typedef struct tok_pair_map {
    uint64_t *key; /* (left << 32 | right) + 1; 0 = empty */
    int32_t *rank;
    int32_t *merged;
    size_t mask;
} tok_pair_map;

typedef struct tok_added {
    int32_t id;
    int special;
    const char *text; /* into lm_tokenizer.blob */
    size_t len;
} tok_added;

/* Encoded pieces already seen: piece bytes -> ids. Cleared when full. */
typedef struct tok_cache {
    struct tok_cache_entry {
        uint64_t hash;
        uint32_t key_off, key_len, ids_off, n_ids;
    } *entry;
    size_t mask, used;
    lm_bytes keys;
    lm_ids ids;
} tok_cache;

/* Scratch for merging one piece. */
typedef struct tok_symbol {
    int32_t start, len, id, prev, next;
} tok_symbol;

/* One normalizer step, applied to each stretch between added tokens in the
 * file's order (tokenizer_normalize.c). */
typedef enum tok_norm_kind { TOK_NORM_NFC, TOK_NORM_REPLACE, TOK_NORM_PREPEND } tok_norm_kind;

typedef struct tok_norm_step {
    tok_norm_kind kind;
    char *pattern, *content; /* malloc'd; Replace: pattern -> content; Prepend: content */
    size_t pattern_len, content_len;
} tok_norm_step;

typedef struct tok_candidate {
    int32_t rank, left, right, merged, left_len, right_len;
} tok_candidate;

struct lm_tokenizer {
    lm_tokenizer_format format;
    char *path; /* the file it was loaded from, for encode's errors */
    int32_t n_ids;      /* one more than the largest id */
    uint32_t *tok_off;  /* [n_ids] offset of each token's bytes in blob */
    uint32_t *tok_len;  /* [n_ids]; UINT32_MAX for ids no token has */
    unsigned char *is_special; /* [n_ids] */
    char *blob;
    size_t blob_len, blob_cap;

    int32_t byte_id[256]; /* token of each single byte */
    tok_bytes_map vocab;  /* ordinary tokens' bytes -> id */
    tok_pair_map merges;  /* HF only */
    int whole_piece_first; /* tiktoken; HF's ignore_merges */
    /* Byte-level BPE (GPT-2's alphabet: a piece starts as one symbol per
     * byte, byte_id holds each byte's token), or BPE over characters with
     * byte fallback (SentencePiece's, as Gemma ships it: a piece starts as
     * one symbol per character, a character the vocabulary lacks as its
     * bytes' <0xNN> tokens, which byte_id then holds). */
    int byte_level;

    tok_norm_step *norm; /* the normalizer, in order */
    size_t n_norm;
    int split_merged_with_previous; /* Split "MergedWithPrevious": a match ends its piece */

    /* What decode gives for each id when it differs from the vocabulary's
     * text (tok_off/tok_len): the file's decoder steps (Replace "▁" by " ",
     * ByteFallback, Fuse) applied to each token; NULL for byte-level files,
     * whose table holds the bytes themselves. */
    uint32_t *dec_off, *dec_len;
    lm_bytes dec_blob;

    /* What the post-processor (tokenizer.json's TemplateProcessing) puts
     * before and after one sequence: Llama 3's <|begin_of_text|>. */
    lm_ids template_before, template_after;

    tok_added *added; /* sorted by length, longest first */
    size_t n_added;
    unsigned char added_first[256]; /* first bytes of added tokens */
    /* Matching at one position looks up each length an added token
     * starting with that byte has, longest first, instead of trying every
     * added token: Gemma has 6415, 6322 of them starting with '<'. */
    tok_bytes_map added_map;  /* added text -> index into added */
    uint32_t added_len_at[257]; /* added_lens[added_len_at[b] .. added_len_at[b+1]) */
    uint32_t *added_lens;       /* distinct lengths per first byte, longest first */

    pcre2_code *split;
    pcre2_match_data *match;
    pcre2_match_context *match_ctx;
    pcre2_jit_stack *jit_stack;
    int jit;

    tok_cache cache;
    tok_symbol *sym;
    tok_candidate *heap;
    size_t sym_cap, heap_cap;
    lm_bytes scratch;
};

/* Format loaders (tokenizer_bpe.c, tokenizer_tiktoken.c): fill t. */
int tok_load_hf_json(lm_tokenizer *t, const char *path, lm_err *e);
int tok_load_tiktoken(lm_tokenizer *t, const char *path, lm_err *e);

/* A stage of the pipeline (normalizer, pre-tokenizer, post-processor) and
 * a "Sequence" of them: each member of stage[key] in order (tokenizer_table.c). */
typedef int (*tok_stage_loader)(lm_tokenizer *t, json_t *stage, const char *path, lm_err *e);
int tok_load_sequence(lm_tokenizer *t, json_t *stage, const char *key, tok_stage_loader load,
                      const char *path, lm_err *e);

/* Normalizer steps (tokenizer_normalize.c). tok_load_normalizer reads the
 * file's "normalizer" (NFC, Replace with a string pattern, Prepend,
 * Sequence); tok_normalize applies them to s[0..n) and returns 1 with *out
 * (malloc'd) when anything changed, 0 when s is unchanged, -1 on failure. */
int tok_load_normalizer(lm_tokenizer *t, json_t *norm, const char *path, lm_err *e);
int tok_add_norm_step(lm_tokenizer *t, tok_norm_kind kind, const char *pattern, size_t pattern_len,
                      const char *content, size_t content_len, lm_err *e);
int tok_normalize(const lm_tokenizer *t, const char *s, size_t n, char **out, size_t *out_len,
                  lm_err *e);
void tok_free_normalizer(lm_tokenizer *t);

/* BPE over characters with byte fallback (tokenizer_fallback.c).
 * tok_find_byte_tokens fills byte_id with the <0xNN> tokens (all 256
 * needed); tok_char_symbols writes the first symbols of piece p[0..n)
 * (valid UTF-8) into sym and returns how many. */
int tok_find_byte_tokens(lm_tokenizer *t, const char *path, lm_err *e);
size_t tok_char_symbols(const lm_tokenizer *t, const unsigned char *p, size_t n, tok_symbol *sym);

/* The decoder (tokenizer_decoder.c): reads the file's "decoder" and, for a
 * file that is not byte-level, fills dec_off/dec_len with each token's text
 * after its steps. Call after every token (added ones too) is set. */
int tok_load_decoder(lm_tokenizer *t, json_t *decoder, const char *path, lm_err *e);

/* Table building (tokenizer_table.c). */
uint64_t tok_hash(const void *p, size_t n);
int tok_alloc_ids(lm_tokenizer *t, int32_t n_ids, lm_err *e);
/* Stores the bytes of token id; fails when id already has bytes. */
int tok_set_token(lm_tokenizer *t, int32_t id, const void *bytes, size_t len, lm_err *e);
int tok_build_vocab_map(lm_tokenizer *t, lm_err *e); /* over the ids set so far */
int32_t tok_vocab_lookup(const lm_tokenizer *t, const void *bytes, size_t len);
int tok_pair_map_init(tok_pair_map *m, size_t n, lm_err *e);
/* Returns 1 when inserted, 0 when the pair was there: the later merge wins,
 * as when Hugging Face collects the merges into a map. */
int tok_pair_insert(tok_pair_map *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
int tok_pair_lookup(const tok_pair_map *m, int32_t left, int32_t right, int32_t *merged);
void tok_pair_map_free(tok_pair_map *m);
int tok_add_added(lm_tokenizer *t, int32_t id, const char *text, size_t len, int special,
                  lm_err *e);
int tok_finish_added(lm_tokenizer *t, lm_err *e); /* sorts, builds the matching index */
/* Index into added of the added token whose text is s[0..n), or -1. */
int32_t tok_added_lookup(const lm_tokenizer *t, const char *s, size_t n);
int tok_compile_split(lm_tokenizer *t, const char *pattern, const char *where, lm_err *e);

/* BPE over one piece's bytes (tokenizer_merge.c): appends ids to out. */
int tok_bpe_piece(lm_tokenizer *t, const unsigned char *p, size_t n, lm_ids *out, lm_err *e);

#endif
