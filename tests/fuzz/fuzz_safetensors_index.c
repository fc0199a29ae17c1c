/* model.safetensors.index.json beside two small valid shards: the index's
 * weight_map (shard names, tensors per shard, names outside the directory)
 * is the input; lm_checkpoint_open reads it and opens what it names. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "fuzz_files.h"
#include "weights/checkpoint.h"

/* One shard holding one F32 tensor [1] named name. */
static void put_shard(const char *file, const char *name)
{
    char header[256];
    int n = snprintf(header, sizeof header,
                     "{\"%s\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", name);
    unsigned char buf[300] = {0};
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(buf + 8, header, (size_t)n);
    fuzz_put(file, buf, 8 + (size_t)n + 4);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    put_shard("model-00001-of-00002.safetensors", "a.weight");
    put_shard("model-00002-of-00002.safetensors", "b.weight");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_put("model.safetensors.index.json", data, size);
    lm_err e;
    lm_checkpoint *ck = lm_checkpoint_open(fuzz_dir(), &e);
    if (ck) {
        for (size_t i = 0; i < lm_checkpoint_count(ck); i++)
            (void)lm_checkpoint_find(ck, lm_checkpoint_tensor(ck, i)->name);
        lm_checkpoint_close(ck);
    }
    return 0;
}
