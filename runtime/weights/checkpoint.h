/* A Hugging Face checkpoint directory, mapped read-only.
 *
 * Opens config.json's sibling weights exactly as the hub serves them:
 * model.safetensors, or model-0000N-of-0000M.safetensors shards listed by
 * model.safetensors.index.json. Every header is validated before any tensor
 * is used (offsets inside the file, no overlaps, byte size == dtype x shape). */
#ifndef LMRT_WEIGHTS_CHECKPOINT_H
#define LMRT_WEIGHTS_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/error.h"

/* Element types a safetensors file may declare. */
typedef enum lm_st_dtype {
    LM_ST_F32, LM_ST_BF16, LM_ST_F16, LM_ST_F64,
    LM_ST_I64, LM_ST_I32, LM_ST_I16, LM_ST_I8, LM_ST_U8, LM_ST_BOOL,
    LM_ST_F8_E4M3, LM_ST_F8_E5M2,
} lm_st_dtype;

#define LM_ST_MAX_DIMS 8

typedef struct lm_tensor {
    const char *name;
    lm_st_dtype dtype;
    int ndim;
    int64_t shape[LM_ST_MAX_DIMS];
    const void *data;   /* inside the read-only mapping */
    size_t nbytes;
    const char *file;   /* shard file name, for messages */
} lm_tensor;

typedef struct lm_checkpoint lm_checkpoint;

lm_checkpoint *lm_checkpoint_open(const char *dir, lm_err *e);
void lm_checkpoint_close(lm_checkpoint *ck);

size_t lm_checkpoint_count(const lm_checkpoint *ck);
/* Tensors in name order. */
const lm_tensor *lm_checkpoint_tensor(const lm_checkpoint *ck, size_t i);
const lm_tensor *lm_checkpoint_find(const lm_checkpoint *ck, const char *name);
const char *lm_checkpoint_dir(const lm_checkpoint *ck);

/* Puts the shard file named file (lm_tensor.file) on 2 MiB pages where the
 * kernel can (hugemap.h); for the files whose tensors are used in place. */
void lm_checkpoint_prefer_huge(const lm_checkpoint *ck, const char *file);
/* Bytes of all shards' mappings that are on 2 MiB pages now. */
size_t lm_checkpoint_huge_bytes(const lm_checkpoint *ck);
/* Bytes of all shard files. */
size_t lm_checkpoint_bytes(const lm_checkpoint *ck);
/* The shard files, as opened (dir/name). */
size_t lm_checkpoint_file_count(const lm_checkpoint *ck);
const char *lm_checkpoint_file_path(const lm_checkpoint *ck, size_t i);

const char *lm_st_dtype_name(lm_st_dtype t);  /* "BF16", as in the header */
size_t lm_st_dtype_size(lm_st_dtype t);

#endif
