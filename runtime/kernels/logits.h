/* The rows the output head runs. Without all logits only each sequence's
 * last position needs them: a forward call of one prompt chunk computes
 * one row of logits, a server's decode step one per request. */
#ifndef LMRT_KERNELS_LOGITS_H
#define LMRT_KERNELS_LOGITS_H

#include <stddef.h>
#include <string.h>

#include "../core/model.h"
#include "base.h"

/* Moves the last row of each of b's spans, in order, to rows 0..n_spans-1
 * of x ([b->n, K]) and returns n_spans. Row s comes from a row at or after
 * s, so no row is overwritten before it is moved. */
LM_INLINE int lm_span_last_rows(float *x, int K, const lm_batch *b)
{
    for (int s = 0, end = 0; s < b->n_spans; s++) {
        end += b->spans[s].n;
        if (end - 1 != s)
            memmove(x + (size_t)s * K, x + (size_t)(end - 1) * K, sizeof(float) * (size_t)K);
    }
    return b->n_spans;
}

#endif
