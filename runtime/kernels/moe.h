/* Mixture of experts: the router (softmax over the experts, top k,
 * optional renormalization) and the experts' SwiGLU MLPs, run on the
 * linear op's kernels (linear.h) one expert at a time over the tokens that
 * chose it.
 *
 * The experts run in three pool runs, each split over all threads:
 *   gather  each token's row (normalized when the node took in the norm)
 *           copied once per expert that chose it, grouped by expert, so
 *           each expert's tokens are contiguous rows; y set to the residual
 *   up      for each chosen expert, silu(x Wg^T) * (x Wu^T) over its rows
 *   down    for each chosen expert, y[token] += weight * (h Wd^T)
 * Every thread takes its share of the rows of every expert's matrices, so a
 * skewed routing (many tokens on one expert) keeps every core busy, and a
 * decode step reads exactly the k chosen experts' weights. The down pass
 * accumulates into y without locks: every linear path splits a matrix's
 * output rows into the same 32-row blocks per thread (lm_split over
 * LM_GEMM_ROWS-row or 2 x LM_QROWS-row blocks), so a thread owns the same
 * columns of y for every expert, and adds the experts in index order. */
#ifndef LMRT_KERNELS_MOE_H
#define LMRT_KERNELS_MOE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/pool.h"
#include "linear.h"
#include "norm.h"
#include "rowwise.h"

/* The most experts a router chooses among (ops/experts.lua checks it). */
#define LM_MOE_MAX_EXPERTS 512

/* route[t] = the top k experts' indices (as floats), then their weights. */
LM_INLINE void lm_router_row(float *restrict route, const float *restrict scores, int E, int k, int renorm)
{
    float mx = scores[0];
    for (int e = 1; e < E; e++)
        mx = scores[e] > mx ? scores[e] : mx;
    float sum = 0.0f;
    for (int e = 0; e < E; e++)
        sum += expf(scores[e] - mx);
    /* Selection by value: the largest not yet taken, the lower index on a
     * tie (strictly greater replaces), as torch.topk orders its result. The
     * softmax is monotonic, so the logits choose as the probabilities do;
     * the probabilities are what the weights are. */
    uint64_t taken[(LM_MOE_MAX_EXPERTS + 63) / 64] = { 0 };
    float chosen = 0.0f;
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            if (taken[e / 64] >> (e % 64) & 1)
                continue;
            if (best < 0 || scores[e] > scores[best])
                best = e;
        }
        taken[best / 64] |= (uint64_t)1 << (best % 64);
        route[j] = (float)best;
        route[k + j] = expf(scores[best] - mx) / sum;
        chosen += route[k + j];
    }
    if (renorm)
        for (int j = 0; j < k; j++)
            route[k + j] /= chosen;
}

LM_INLINE void lm_router_task(const lm_rows_args *a, int tid, int nthreads, int E, int k, int renorm)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_router_row(a->y + (size_t)t * 2 * k, a->a + (size_t)t * E, E, k, renorm);
}

typedef struct lm_experts_args {
    const float *x;          /* [n, D] input, before any norm */
    const float *norm_w;     /* [D]: RMSNorm the input first, or NULL */
    const float *route;      /* [n, 2k] from lm_router_task */
    const void *const *w;    /* per expert e: w[3e] gate, w[3e + 1] up, w[3e + 2] down */
    const float *residual;   /* [n, D] added to y, or NULL */
    float *y;                /* [n, D] */
    float *xs;               /* [n k, D]: the gathered input rows */
    float *hs;               /* [n k, F]: silu(gate) * up of each row */
    uint64_t *counts;        /* [E]: tokens routed to each expert, or NULL */
    float *scratch;          /* per-thread scratch base */
    size_t scratch_stride;   /* floats per thread */
    int n;
} lm_experts_args;

/* The route's n k assignments grouped by expert: expert e's are
 * [start[e], start[e + 1]), in token order, each with its token and weight. */
typedef struct lm_moe_groups {
    int32_t *start;
    int32_t *token;
    float *weight;
} lm_moe_groups;

/* Floats of a thread's scratch the grouping takes (at its end). */
#define LM_MOE_GROUP_FLOATS(E, assignments) ((size_t)(E) + 1 + 2 * (size_t)(assignments))

/* Each thread groups the route on its own (n k items, no barrier needed)
 * into the end of its scratch, which the linear kernels leave alone. */
LM_INLINE lm_moe_groups lm_moe_group(const lm_experts_args *a, int tid, int E, int k)
{
    const int n = a->n;
    float *base = a->scratch + (size_t)tid * a->scratch_stride + a->scratch_stride -
                  LM_MOE_GROUP_FLOATS(E, (size_t)n * k);
    lm_moe_groups g = { (int32_t *)base, (int32_t *)base + E + 1, base + E + 1 + (size_t)n * k };
    memset(g.start, 0, (size_t)(E + 1) * sizeof *g.start);
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k; j++)
            g.start[(int)a->route[(size_t)t * 2 * k + j] + 1]++;
    for (int e = 0; e < E; e++)
        g.start[e + 1] += g.start[e];
    /* Fill with start[e] as expert e's cursor, then shift back. */
    for (int t = 0; t < n; t++)
        for (int j = 0; j < k; j++) {
            const int e = (int)a->route[(size_t)t * 2 * k + j];
            const int i = g.start[e]++;
            g.token[i] = t;
            g.weight[i] = a->route[(size_t)t * 2 * k + k + j];
        }
    for (int e = E; e > 0; e--)
        g.start[e] = g.start[e - 1];
    g.start[0] = 0;
    return g;
}

LM_INLINE void lm_experts_gather_task(const lm_experts_args *a, int tid, int nthreads, int D, float eps, int E,
                                      int k)
{
    const lm_moe_groups g = lm_moe_group(a, tid, E, k);
    if (a->counts && tid == 0)
        for (int x = 0; x < E; x++)
            a->counts[x] += (uint64_t)(g.start[x + 1] - g.start[x]);
    int b, e;
    lm_split(a->n * k, tid, nthreads, &b, &e);
    for (int i = b; i < e; i++) {
        const float *src = a->x + (size_t)g.token[i] * D;
        if (a->norm_w)
            lm_rmsnorm_row(a->xs + (size_t)i * D, src, a->norm_w, D, eps);
        else
            memcpy(a->xs + (size_t)i * D, src, (size_t)D * sizeof(float));
    }
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++) {
        if (a->residual)
            memcpy(a->y + (size_t)t * D, a->residual + (size_t)t * D, (size_t)D * sizeof(float));
        else
            memset(a->y + (size_t)t * D, 0, (size_t)D * sizeof(float));
    }
}

LM_INLINE void lm_experts_up_task(const lm_experts_args *a, int tid, int nthreads, int D, int F, int E, int k,
                                  lm_dtype dt, int xbf16)
{
    const lm_moe_groups g = lm_moe_group(a, tid, E, k);
    const int outs[2] = { F, F };
    for (int e = 0; e < E; e++) {
        const int m = g.start[e + 1] - g.start[e];
        if (m == 0)
            continue;
        const lm_linear_args la = {
            .x = a->xs + (size_t)g.start[e] * D,
            .w = { a->w[3 * e], a->w[3 * e + 1] },
            .y = { a->hs + (size_t)g.start[e] * F },
            .scratch = a->scratch, .scratch_stride = a->scratch_stride, .n = m,
        };
        lm_linear_task(&la, tid, nthreads, D, 0.0f, 2, outs, dt, LM_LINEAR_SWIGLU, xbf16);
    }
}

LM_INLINE void lm_experts_down_task(const lm_experts_args *a, int tid, int nthreads, int D, int F, int E, int k,
                                    lm_dtype dt, int xbf16)
{
    const lm_moe_groups g = lm_moe_group(a, tid, E, k);
    const int outs[1] = { D };
    for (int e = 0; e < E; e++) {
        const int m = g.start[e + 1] - g.start[e];
        if (m == 0)
            continue;
        const lm_linear_args la = {
            .x = a->hs + (size_t)g.start[e] * F,
            .w = { a->w[3 * e + 2] },
            .y = { a->y },
            .y_rows = g.token + g.start[e],
            .y_scale = g.weight + g.start[e],
            .scratch = a->scratch, .scratch_stride = a->scratch_stride, .n = m,
        };
        lm_linear_task(&la, tid, nthreads, F, 0.0f, 1, outs, dt, LM_LINEAR_PLAIN, xbf16);
    }
}

#endif
