/* RMSNorm: the row, which linears (their prologue) and attention (per
 * head) call inline, and the task for a norm fusion leaves standalone. */
#ifndef LMRT_KERNELS_NORM_H
#define LMRT_KERNELS_NORM_H

#include <math.h>
#include <stddef.h>

#include "../core/pool.h"
#include "base.h"
#include "rowwise.h"

/* y = x * rsqrt(mean(x^2) + eps) * w, in f32 as transformers' RMSNorm. */
LM_INLINE void lm_rmsnorm_row(float *restrict y, const float *restrict x, const float *restrict w,
                              int K, float eps)
{
    float ss = 0.0f;
    int i = 0;
    if (K >= 8) {
        lm_v8 acc = lm_splat8(0.0f);
        for (; i + 8 <= K; i += 8) {
            lm_v8 v = lm_load8(x + i);
            acc += v * v;
        }
        ss = lm_hsum8(acc);
    }
    for (; i < K; i++)
        ss += x[i] * x[i];
    float r = 1.0f / sqrtf(ss / (float)K + eps);
    for (i = 0; i < K; i++)
        y[i] = w[i] * (x[i] * r);
}

LM_INLINE void lm_rmsnorm_task(const lm_rows_args *a, int tid, int nthreads, int K, float eps)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_rmsnorm_row(a->y + (size_t)t * K, a->a + (size_t)t * K, a->w, K, eps);
}

#endif
