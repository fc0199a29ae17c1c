/* A .safetensors file: the 8-byte header length, the JSON header, the
 * offsets. Whatever lm_st_file_open accepts must be safe to read: every
 * tensor's bytes are touched, so a range past the mapping crashes here. */
#include <stdint.h>

#include "fuzz_files.h"
#include "weights/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_put("model.safetensors", data, size);
    lm_st_file f;
    lm_err e;
    if (lm_st_file_open(&f, path, "model.safetensors", &e) == 0) {
        volatile unsigned char sink = 0;
        for (size_t i = 0; i < f.n_tensors; i++) {
            const lm_tensor *t = &f.tensors[i];
            if (t->nbytes > 0)
                sink ^= ((const unsigned char *)t->data)[0] ^
                        ((const unsigned char *)t->data)[t->nbytes - 1];
        }
        (void)sink;
    }
    lm_st_file_close(&f);
    return 0;
}
