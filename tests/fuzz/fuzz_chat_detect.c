/* The chat format a checkpoint asks for (lm_chat_format_detect):
 * tokenizer_config.json read as JSON, its chat_template as a string or a
 * list of named templates, chat_template.jinja beside it, and without a
 * template the tokenizer's special tokens. The input is written to a
 * private directory, and the call gets a tokenizer loaded as the callers
 * load theirs (Qwen3's tokenizer.json, cut small, or qwen.tiktoken) and a
 * path as they pass one (the directory, or the tokenizer file in it).
 *
 * Byte 0: bit 0 picks the tiktoken tokenizer, bit 1 passes the tokenizer
 * file's path instead of the directory, bit 2 writes the rest to
 * chat_template.jinja instead of tokenizer_config.json, bit 3 writes no
 * file at all (the tokenizer decides). Checked: success gives a format
 * lmcc has a name for, and failure an error message. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "text/chat_template.h"

static lm_tokenizer *bpe, *tiktoken;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    bpe = fuzz_tokenizer("tokenizer.json");
    tiktoken = fuzz_tokenizer("qwen.tiktoken");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const char *file = flags & 4 ? "chat_template.jinja" : "tokenizer_config.json";
    fuzz_remove("chat_template.jinja");
    fuzz_remove("tokenizer_config.json");
    if (!(flags & 8))
        fuzz_put(file, data + 1, size - 1);
    char path[4200];
    snprintf(path, sizeof path, "%s%s", fuzz_dir(),
             flags & 2 ? (flags & 1 ? "/qwen.tiktoken" : "/tokenizer.json") : "");
    lm_chat_format f = (lm_chat_format)-1;
    lm_err e = {{0}};
    int rc = lm_chat_format_detect(path, flags & 1 ? tiktoken : bpe, &f, &e);
    if (getenv("FUZZ_SHOW")) /* to see what a seed does */
        fprintf(stderr, "%s\n", rc == 0 ? lm_chat_format_name(f) : e.msg);
    if (rc == 0) {
        if (strcmp(lm_chat_format_name(f), "?") == 0) {
            fprintf(stderr, "fuzz_chat_detect: detected a format with no name (%d)\n", (int)f);
            abort();
        }
    } else if (!e.msg[0]) {
        fprintf(stderr, "fuzz_chat_detect: failed without a message\n");
        abort();
    }
    return 0;
}
