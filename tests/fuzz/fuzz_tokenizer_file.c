/* Loading a fuzzed tokenizer file and using it (fuzz_tokenizer_file.h). */
#include "fuzz_tokenizer_file.h"

#include "fuzz_files.h"
#include "text/tokenizer.h"

void fuzz_tokenizer_file(const char *file_name, const uint8_t *data, size_t size)
{
    const char *path = fuzz_put(file_name, data, size);
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(path, &e);
    if (!t)
        return;
    static const char text[] = "Hello, world! 123 <|im_start|>user\n\xe4\xbd\xa0\xe5\xa5\xbd\xff";
    lm_ids ids = {0};
    lm_bytes out = {0};
    if (lm_tokenizer_encode_prompt(t, text, sizeof text - 1, 1, &ids, &e) == 0)
        (void)lm_tokenizer_decode(t, ids.v, ids.n, &out, &e);
    lm_ids_free(&ids);
    lm_bytes_free(&out);
    lm_tokenizer_free(t);
}
