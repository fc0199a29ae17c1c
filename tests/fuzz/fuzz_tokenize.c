/* Encoding arbitrary bytes (invalid UTF-8, added tokens' text, long runs)
 * with two loaded tokenizers, a byte-level BPE tokenizer.json and a
 * qwen.tiktoken, and decoding arbitrary ids, at once and streamed.
 * Byte 0 chooses: bit 0 the tokenizer, bit 1 allow_special, bit 2 the
 * post-processor's prompt encode; the rest is the text, and read as
 * little-endian int32s it is also the ids to decode. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "text/tokenizer.h"

static lm_tokenizer *tokenizers[2];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tokenizers[0] = fuzz_tokenizer("tokenizer.json");
    tokenizers[1] = fuzz_tokenizer("qwen.tiktoken");
    return 0;
}

/* Every id decoded must round-trip to the bytes decode gives at once. */
static void decode_ids(const lm_tokenizer *t, const int32_t *ids, size_t n)
{
    lm_err e;
    lm_bytes whole = {0}, streamed = {0};
    int rc = lm_tokenizer_decode(t, ids, n, &whole, &e);
    lm_detok_stream s;
    lm_detok_init(&s, t);
    int src = 0;
    for (size_t i = 0; i < n && src == 0; i++)
        src = lm_detok_feed(&s, ids[i], &streamed, &e);
    if (src == 0)
        src = lm_detok_flush(&s, &streamed, &e);
    if (rc == 0 && src == 0 &&
        (whole.n != streamed.n || (whole.n && memcmp(whole.v, streamed.v, whole.n) != 0)))
        abort(); /* streaming decode lost or changed bytes */
    lm_bytes_free(&whole);
    lm_bytes_free(&streamed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    lm_tokenizer *t = tokenizers[data[0] & 1];
    int allow_special = (data[0] >> 1) & 1, prompt = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    lm_err e;
    lm_ids ids = {0};
    int rc = prompt ? lm_tokenizer_encode_prompt(t, text, n, allow_special, &ids, &e)
                    : lm_tokenizer_encode(t, text, n, allow_special, &ids, &e);
    if (rc == 0)
        decode_ids(t, ids.v, ids.n);
    lm_ids_free(&ids);

    size_t n_ids = n / 4;
    int32_t *raw = malloc(n_ids ? n_ids * sizeof *raw : 1);
    if (!raw)
        abort();
    memcpy(raw, text, n_ids * sizeof *raw);
    decode_ids(t, raw, n_ids);
    free(raw);
    return 0;
}
