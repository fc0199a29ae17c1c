/* qwen.tiktoken (Qwen1): one "<base64 token bytes> <rank>" line per token,
 * rank = id. Qwen1's tokenizer (tokenization_qwen.py) adds its special
 * tokens after the ranks and splits text with its own pattern. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* PAT_STR of Qwen1's tokenization_qwen.py. */
static const char QWEN1_SPLIT[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

enum { QWEN1_EXTRAS = 205 };

static int base64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 with optional '=' padding; -1 on a bad character. */
static long base64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = base64_value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= cap)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

int tok_load_tiktoken(lm_tokenizer *t, const char *path, lm_err *e)
{
    size_t size;
    char *text = lm_read_file(path, &size, e);
    if (!text)
        return -1;
    int rc = -1;
    /* Pass 1 counts lines; pass 2 stores them. */
    size_t n_ranks = 0;
    for (size_t i = 0; i < size; i++)
        if (text[i] == '\n' || (i + 1 == size))
            n_ranks++;
    if (n_ranks == 0 || n_ranks > (1 << 23)) {
        lm_fail(e, "%s: %zu lines; expected a qwen.tiktoken vocabulary", path, n_ranks);
        goto done;
    }
    if (tok_alloc_ids(t, (int32_t)n_ranks + 3 + QWEN1_EXTRAS, e) != 0)
        goto done;
    unsigned char buf[1024];
    size_t line = 0, count = 0;
    for (char *p = text, *end = text + size; p < end;) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        line++;
        if (eol > p && eol[-1] == '\r')
            eol--;
        if (eol == p) { /* blank line (a trailing newline) */
            p = nl ? nl + 1 : end;
            continue;
        }
        char *sp = memchr(p, ' ', (size_t)(eol - p));
        char *num_end = NULL;
        long rank = sp ? strtol(sp + 1, &num_end, 10) : -1;
        long nb = sp ? base64_decode(p, (size_t)(sp - p), buf, sizeof buf) : -1;
        if (!sp || nb <= 0 || num_end != eol || rank < 0 || (size_t)rank >= n_ranks) {
            lm_fail(e, "%s:%zu: expected '<base64 token> <rank>' with rank below %zu", path, line,
                    n_ranks);
            goto done;
        }
        if (tok_set_token(t, (int32_t)rank, buf, (size_t)nb, e) != 0)
            goto done;
        count++;
        p = nl ? nl + 1 : end;
    }
    /* Special ids start right after the ranks (len(mergeable_ranks)), so the
     * ranks must be exactly 0..count-1. */
    for (size_t r = 0; r < count; r++)
        if (t->tok_len[r] == UINT32_MAX) {
            lm_fail(e, "%s: rank %zu is missing; ranks must be 0..%zu", path, r, count - 1);
            goto done;
        }
    t->n_ids = (int32_t)(count + 3 + QWEN1_EXTRAS);
    t->byte_level = 1; /* ranks are over bytes */
    if (tok_build_vocab_map(t, e) != 0)
        goto done;
    const char *named[3] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    int32_t id = (int32_t)count;
    for (int i = 0; i < 3; i++, id++)
        if (tok_add_added(t, id, named[i], strlen(named[i]), 1, e) != 0)
            goto done;
    for (int i = 0; i < QWEN1_EXTRAS; i++, id++) {
        char extra[32];
        int n = snprintf(extra, sizeof extra, "<|extra_%d|>", i);
        if (tok_add_added(t, id, extra, (size_t)n, 1, e) != 0)
            goto done;
    }
    if (tok_finish_added(t, e) != 0)
        goto done;
    t->whole_piece_first = 1; /* tiktoken looks the whole piece up before merging */
    /* QWenTokenizer.tokenize normalizes to NFC first. */
    if (tok_add_norm_step(t, TOK_NORM_NFC, "", 0, "", 0, e) != 0)
        goto done;
    rc = tok_compile_split(t, QWEN1_SPLIT, path, e);
done:
    free(text);
    return rc;
}
