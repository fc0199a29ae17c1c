/* tokenizer.json loading: vocab, merges, added tokens, the pre-split regex
 * (compiled by PCRE2 as the file gives it), normalizer, post-processor. A
 * tokenizer that loads must then encode and decode. */
#include "fuzz_tokenizer_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tokenizer_file("tokenizer.json", data, size);
    return 0;
}
