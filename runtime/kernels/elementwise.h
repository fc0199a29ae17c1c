/* The elementwise ops fusion can leave standalone: the residual add,
 * SwiGLU, GeGLU and softcapping, row by row. */
#ifndef LMRT_KERNELS_ELEMENTWISE_H
#define LMRT_KERNELS_ELEMENTWISE_H

#include <stddef.h>

#include "../core/pool.h"
#include "exp.h"
#include "rowwise.h"
#include "tanh.h"

LM_INLINE void lm_add_task(const lm_rows_args *a, int tid, int nthreads, int K)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (size_t i = (size_t)b * K; i < (size_t)e * K; i++)
        a->y[i] = a->a[i] + a->b[i];
}

LM_INLINE void lm_swiglu_task(const lm_rows_args *a, int tid, int nthreads, int K)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (size_t i = (size_t)b * K; i < (size_t)e * K; i++)
        a->y[i] = lm_silu(a->a[i]) * a->b[i];
}

/* Rows as wholes, as the fused epilogue does them (tanh.h). */
LM_INLINE void lm_geglu_task(const lm_rows_args *a, int tid, int nthreads, int K)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_geglu_row(a->y + (size_t)t * K, a->a + (size_t)t * K, a->b + (size_t)t * K, K);
}

LM_INLINE void lm_softcap_task(const lm_rows_args *a, int tid, int nthreads, int K, float cap)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_softcap_row(a->y + (size_t)t * K, a->a + (size_t)t * K, K, cap);
}

#endif
