/* The embedding op: each token's row of the table, as f32. */
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

#endif
