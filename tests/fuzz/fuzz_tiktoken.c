/* qwen.tiktoken loading: "<base64 bytes> <rank>" lines. A vocabulary that
 * loads must then encode and decode. */
#include "fuzz_tokenizer_file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tokenizer_file("qwen.tiktoken", data, size);
    return 0;
}
