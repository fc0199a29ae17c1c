/* The embedding op: each token's row of the table, as f32, optionally
 * scaled (Gemma multiplies its embeddings by sqrt(hidden_size)). */
#ifndef LMRT_KERNELS_EMBEDDING_H
#define LMRT_KERNELS_EMBEDDING_H

#include <stddef.h>
#include <stdint.h>

#include "../core/model.h"
#include "../core/pool.h"
#include "base.h"

typedef struct lm_embed_args {
    const int32_t *tokens;
    const void *table;   /* [vocab, dim] */
    float *y;            /* [n, dim] */
    int n;
} lm_embed_args;

LM_INLINE void lm_embed_task(const lm_embed_args *a, int tid, int nthreads, int dim, lm_dtype dt)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_weight_row(a->y + (size_t)t * dim, a->table, dt, (size_t)a->tokens[t], dim);
}

/* Rows times scale as transformers' Gemma3TextScaledWordEmbedding
 * computes them: embedding(ids) * embed_scale.to(weight.dtype). With
 * round_bf16 (a build computing as a bf16 model does) the scale is rounded
 * to bf16 and so is each product; the product of two bf16 values is exact
 * in f32, so this is torch's bf16 multiply bit for bit. Otherwise the f32
 * product. */
LM_INLINE void lm_embed_scaled_task(const lm_embed_args *a, int tid, int nthreads, int dim, lm_dtype dt, float scale,
                                    int round_bf16)
{
    const float s = round_bf16 ? lm_bf16_to_f32(lm_f32_to_bf16(scale)) : scale;
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++) {
        float *y = a->y + (size_t)t * dim;
        lm_weight_row(y, a->table, dt, (size_t)a->tokens[t], dim);
        for (int i = 0; i < dim; i++)
            y[i] = round_bf16 ? lm_bf16_to_f32(lm_f32_to_bf16(y[i] * s)) : y[i] * s;
    }
}

#endif
