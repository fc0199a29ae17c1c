/* Text <-> token ids for Qwen, Llama 3 and Gemma 3 checkpoints, as Hugging
 * Face tokenizes them.
 *
 *   lm_err err;
 *   lm_tokenizer *tok = lm_tokenizer_load("Qwen3-0.6B/", &err);
 *   lm_ids ids = {0};
 *   lm_tokenizer_encode(tok, "Hello", 5, 1, &ids, &err);       // 9707
 *   lm_bytes text = {0};
 *   lm_tokenizer_decode(tok, ids.v, ids.n, &text, &err);       // "Hello"
 *   lm_ids_free(&ids); lm_bytes_free(&text); lm_tokenizer_free(tok);
 *
 * Two formats, one pipeline:
 *   tokenizer.json (Qwen2/Qwen3, Llama 3): byte-level BPE; the pre-split regex
 *     is taken verbatim from the file and run with PCRE2 (Qwen's splits digits
 *     one by one, Llama 3's in groups of up to three); merges ranked by their
 *     order; the normalizer (NFC or none) and the post-processor's template
 *     as the file says.
 *   tokenizer.json (Gemma 3, converted from SentencePiece): BPE over
 *     characters with byte fallback (a character the vocabulary lacks is
 *     its bytes' <0xNN> tokens); the normalizer's steps (Replace " " by
 *     "▁", Prepend, NFC) in order, a split on a literal string, the
 *     decoder's Replace "▁" by " ", ByteFallback and Fuse applied to each
 *     token.
 *   qwen.tiktoken (Qwen1): "<base64 bytes> <rank>" lines, rank = id; tiktoken's
 *     merge rule (lowest-ranked concatenation first) and Qwen1's split pattern;
 *     <|endoftext|>, <|im_start|>, <|im_end|>, <|extra_0..204|> follow the ranks.
 *
 * encode: (1) invalid UTF-8 is replaced by U+FFFD, one per maximal invalid
 * subpart, as Rust's String::from_utf8_lossy does (Hugging Face only accepts
 * valid strings, so this is our definition); (2) the text is split on added
 * tokens, leftmost match first, longest on ties (special ones only when
 * allow_special; non-special added tokens such as Qwen3's <think> always
 * match, as in Hugging Face); (3) each remaining stretch is NFC-normalized
 * when the file asks for it (Qwen2/3: NFC; Llama 3: no normalizer; Qwen1's
 * tokenizer normalizes to NFC before tiktoken),
 * split by the regex, each match and each gap between matches a piece; (4)
 * each piece is BPE-merged over its UTF-8 bytes.
 *
 * decode: ids -> the bytes they stand for (added tokens -> their text); the
 * result may be invalid UTF-8 when the ids split a character. An id no
 * token has (a checkpoint's padding rows past the tokenizer) has no text,
 * as in transformers; a negative id is an error.
 *
 * A tokenizer is read-only after load except for encode's piece cache and
 * scratch buffers: one thread at a time may encode with one tokenizer;
 * decoding and lookups are safe from any thread. */
#ifndef LMRT_TEXT_TOKENIZER_H
#define LMRT_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"
#include "arrays.h"

typedef struct lm_tokenizer lm_tokenizer;

typedef enum lm_tokenizer_format {
    LM_TOKENIZER_HF_BPE,   /* tokenizer.json */
    LM_TOKENIZER_TIKTOKEN, /* qwen.tiktoken */
} lm_tokenizer_format;

/* path: a tokenizer.json, a qwen.tiktoken, or a checkpoint directory
 * holding one of them (tokenizer.json preferred). NULL + e on failure. */
lm_tokenizer *lm_tokenizer_load(const char *path, lm_err *e);
void lm_tokenizer_free(lm_tokenizer *t);

lm_tokenizer_format lm_tokenizer_format_of(const lm_tokenizer *t);

/* One more than the largest id the tokenizer knows (added tokens included).
 * The model's embedding may have more rows than this. */
int32_t lm_tokenizer_vocab_size(const lm_tokenizer *t);

/* Id of the token whose text is exactly `text` (an added token's content,
 * e.g. "<|im_end|>", or an ordinary token's bytes; for a file over
 * characters its vocabulary string, "▁the"), or -1. */
int32_t lm_tokenizer_token_id(const lm_tokenizer *t, const char *text);

/* The bytes id stands for, as decode gives them (not NUL-terminated), and
 * their length, or NULL for ids outside the vocabulary. */
const char *lm_tokenizer_token_bytes(const lm_tokenizer *t, int32_t id, size_t *len);

/* Non-zero when id is an added token marked special (<|im_end|>, ...). */
int lm_tokenizer_is_special(const lm_tokenizer *t, int32_t id);

/* Appends the ids of text[0..len) to out. allow_special: match special
 * added tokens in the text (Hugging Face's default); when 0 their text is
 * tokenized as ordinary text. */
int lm_tokenizer_encode(lm_tokenizer *t, const char *text, size_t len, int allow_special,
                        lm_ids *out, lm_err *e);

/* What Hugging Face's tokenizer(text) gives with its default
 * add_special_tokens=True: the ids of text (as lm_tokenizer_encode) inside
 * the template of the file's post-processor for one sequence
 * (TemplateProcessing "single": Llama 3.1/3.2 put <|begin_of_text|> first;
 * Qwen's files have none, so this equals lm_tokenizer_encode). Prompts
 * given as text are encoded this way; chat templates write such tokens
 * themselves and use lm_tokenizer_encode. */
int lm_tokenizer_encode_prompt(lm_tokenizer *t, const char *text, size_t len, int allow_special,
                               lm_ids *out, lm_err *e);

/* Appends the bytes of ids[0..n) to out; fails on an id outside the vocabulary. */
int lm_tokenizer_decode(const lm_tokenizer *t, const int32_t *ids, size_t n, lm_bytes *out,
                        lm_err *e);

/* Streaming decode for generation: feed ids one at a time and get back only
 * whole UTF-8 characters. The bytes of a character split across tokens are
 * held until the rest arrives; bytes that can never form a character are
 * passed through as they are (so nothing is lost); flush at the end. */
typedef struct lm_detok_stream {
    const lm_tokenizer *tok;
    unsigned char held[4];
    int n_held;
} lm_detok_stream;

void lm_detok_init(lm_detok_stream *s, const lm_tokenizer *t);
/* Appends what is now complete to out. */
int lm_detok_feed(lm_detok_stream *s, int32_t id, lm_bytes *out, lm_err *e);
/* Appends any held bytes (an incomplete character) to out. */
int lm_detok_flush(lm_detok_stream *s, lm_bytes *out, lm_err *e);

/* Replaces invalid UTF-8 in s[0..n) by U+FFFD (maximal subparts, as
 * String::from_utf8_lossy); returns 1 and sets *out (malloc'd) and *out_len
 * when something was replaced, 0 when s is valid (nothing allocated), -1 on
 * allocation failure. */
int lm_utf8_lossy(const char *s, size_t n, char **out, size_t *out_len, lm_err *e);

#endif
