/* Writing a random checkpoint in Hugging Face layout (lmcc synth).
 *
 * The tensors and config.json come from the architecture script; this file
 * only makes the bytes: deterministic random values from the seed, written as
 * model.safetensors or as K shards with model.safetensors.index.json, exactly
 * as the hub lays them out. */
#ifndef LMCC_SYNTH_H
#define LMCC_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "../runtime/core/error.h"

typedef enum synth_init {
    SYNTH_MATRIX,   /* normal(0, std) with std = scale / sqrt(fan_in = last dim) */
    SYNTH_EMBEDDING,/* normal(0, scale) */
    SYNTH_NORM,     /* 1 + normal(0, scale): a norm weight that is not all ones */
    SYNTH_BIAS,     /* normal(0, scale) */
    SYNTH_NORM_DELTA, /* normal(0, scale): a norm weight the model adds one to (Gemma) */
} synth_init;

typedef struct synth_tensor {
    const char *name;
    int ndim;
    int64_t shape[4];
    synth_init init;
    double scale;
} synth_tensor;

typedef struct synth_options {
    uint64_t seed;
    int bf16;       /* 1: store BF16, 0: store F32 */
    int shards;     /* 1: model.safetensors; K > 1: K shards + index */
} synth_options;

/* Writes config_json (already formatted) as DIR/config.json and the tensors
 * in the given order. Files are written under temporary names and renamed
 * when complete, so a failure leaves no half-written checkpoint. */
int synth_checkpoint(const char *dir, const synth_tensor *tensors, size_t n,
                     const char *config_json, const synth_options *opt, lm_err *e);

#endif
