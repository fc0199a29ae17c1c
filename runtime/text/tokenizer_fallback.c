/* BPE over characters with byte fallback, as the tokenizer.json files
 * converted from SentencePiece declare it (Gemma: "byte_fallback": true,
 * no ByteLevel step). A piece starts as one symbol per character, the
 * character's vocabulary token; a character the vocabulary lacks becomes
 * one symbol per UTF-8 byte, the tokens <0x00>..<0xFF>, as Hugging Face's
 * BPE::merge_word does. The merges then run over these symbols as over
 * bytes (tokenizer_merge.c): pairs are looked up by id, so a byte symbol
 * merges only where a merge names its <0xNN> token. */
#include <stdio.h>

#include "tokenizer_internal.h"

int tok_find_byte_tokens(lm_tokenizer *t, const char *path, lm_err *e)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        t->byte_id[b] = tok_vocab_lookup(t, name, 6);
        /* Without all 256, Hugging Face falls back to the unknown token for
         * some characters; no published file lacks one, so none is an
         * error rather than a second path. */
        if (t->byte_id[b] < 0)
            return lm_fail(e, "%s: BPE byte_fallback but the vocabulary has no token %s; lmcc "
                              "needs all 256 byte tokens", path, name);
    }
    return 0;
}

/* Length of the UTF-8 character starting with lead byte c (text is valid). */
static size_t char_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

size_t tok_char_symbols(const lm_tokenizer *t, const unsigned char *p, size_t n, tok_symbol *sym)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t len = char_len(p[i]);
        if (len > n - i)
            len = n - i;
        int32_t id = tok_vocab_lookup(t, p + i, len);
        if (id >= 0) {
            sym[k] = (tok_symbol){(int32_t)i, (int32_t)len, id, (int32_t)k - 1, (int32_t)k + 1};
            k++;
        } else {
            for (size_t b = 0; b < len; b++, k++)
                sym[k] = (tok_symbol){(int32_t)(i + b), 1, t->byte_id[p[i + b]], (int32_t)k - 1,
                                      (int32_t)k + 1};
        }
        i += len;
    }
    if (k)
        sym[k - 1].next = -1;
    return k;
}
