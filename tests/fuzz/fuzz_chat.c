/* Chat template rendering and encoding: any roles, contents with the
 * formats' own markers (<think>, <|im_end|>, headers), empty and missing
 * fields, in every format lmcc renders.
 * Input: byte 0 the format (mod the number of formats), byte 1 the options
 * (bit 0 add_generation_prompt, bit 1 enable_thinking, bit 2 a date);
 * the rest is messages separated by 0x1e, each "role 0x1f content
 * [0x1f reasoning]" (no 0x1f: content missing). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "text/chat_template.h"

#define MAX_MSGS 64

static lm_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    tok = fuzz_tokenizer("tokenizer.json");
    return 0;
}

/* Splits s at sep in place (s is a NUL-terminated copy); returns the parts. */
static size_t split(char *s, char sep, char **parts, size_t max)
{
    size_t n = 0;
    parts[n++] = s;
    for (char *p = s; *p && n < max; p++)
        if (*p == sep) {
            *p = '\0';
            parts[n++] = p + 1;
        }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const lm_chat_format formats[] = {LM_CHAT_QWEN3, LM_CHAT_QWEN25, LM_CHAT_CHATML,
                                             LM_CHAT_LLAMA3, LM_CHAT_LLAMA31, LM_CHAT_LLAMA32};
    if (size < 2)
        return 0;
    lm_chat_format f = formats[data[0] % (sizeof formats / sizeof formats[0])];
    lm_chat_opts o = {.add_generation_prompt = data[1] & 1, .enable_thinking = (data[1] >> 1) & 1,
                      .date = (data[1] & 4) ? "26 Jul 2024" : NULL};
    char *text = malloc(size - 1);
    if (!text)
        abort();
    memcpy(text, data + 2, size - 2);
    text[size - 2] = '\0';

    char *parts[MAX_MSGS];
    size_t n_parts = split(text, 0x1e, parts, MAX_MSGS);
    lm_chat_msg msgs[MAX_MSGS];
    for (size_t i = 0; i < n_parts; i++) {
        char *fields[3] = {NULL, NULL, NULL};
        split(parts[i], 0x1f, fields, 3);
        msgs[i] = (lm_chat_msg){.role = fields[0], .content = fields[1], .reasoning = fields[2]};
    }
    lm_err e;
    lm_bytes out = {0};
    (void)lm_chat_render(f, msgs, n_parts, o, &out, &e);
    lm_bytes_free(&out);
    lm_ids ids = {0};
    (void)lm_chat_encode(tok, f, msgs, n_parts, o, &ids, &e);
    lm_ids_free(&ids);
    free(text);
    return 0;
}
