/* What every linear path shares: the arguments of a fused linear and the
 * store of a finished tile (bias, residual, softcap, or act(gate) * up).
 * Below the multiply paths (f32 FMA, vdpbf16ps, AMX, int8) so each writes
 * through it. */
#ifndef LMRT_KERNELS_LINEAR_EPILOGUE_H
#define LMRT_KERNELS_LINEAR_EPILOGUE_H

#include <stddef.h>
#include <stdint.h>

#include "base.h"
#include "exp.h"
#include "tanh.h"

/* Up to this many weights share one input in a fused linear (q, k, v). */
#define LM_MAX_PARTS 4

typedef struct lm_linear_args {
    const float *x;                    /* [n, K] input, before any norm */
    const float *norm_w;               /* [K]: RMSNorm the input first, or NULL */
    const void *w[LM_MAX_PARTS];       /* [out_p, K] in the compiled dtype */
    const float *bias[LM_MAX_PARTS];   /* [out_p] or NULL */
    float *y[LM_MAX_PARTS];            /* [n, out_p]; swiglu: y[0] only */
    const float *residual;             /* [n, out_0] added to y[0], or NULL */
    /* Scatter-accumulate (one plain part; the experts' down projection,
     * moe.h): token t's row goes to y[0] row y_rows[t], which gains
     * y_scale[t] times it. NULL for a plain store. */
    const int32_t *y_rows;
    const float *y_scale;
    /* y = softcap * tanh(y / softcap) after the bias (Gemma's final logit
     * softcapping), or 0 for none. Plain parts only. */
    float softcap;
    float *scratch;                    /* per-thread scratch base */
    size_t scratch_stride;             /* floats per thread */
    int n;
} lm_linear_args;

typedef enum lm_linear_mode {
    LM_LINEAR_PLAIN,   /* y_p = x W_p^T + b_p for each part */
    LM_LINEAR_SWIGLU,  /* y = silu(x W_0^T) * (x W_1^T) */
    LM_LINEAR_GEGLU,   /* y = gelu_tanh(x W_0^T) * (x W_1^T) */
} lm_linear_mode;

/* Writes y[t0 + t][r0 + r] for a finished tile: bias, residual and
 * softcap, or for a gated mode act(gate) * up (up: the second weight's
 * tile; NULL when plain). */
LM_INLINE void lm_linear_store(const lm_linear_args *a, lm_linear_mode mode, int p, int out, int t0, int nt,
                               int r0, int nr, const float *acc, const float *up, int ld)
{
    for (int t = 0; t < nt; t++) {
        float *yrow = a->y[p] + (size_t)(t0 + t) * out + r0;
        const float *ar = acc + (size_t)t * ld;
        if (mode == LM_LINEAR_GEGLU) {
            lm_geglu_row(yrow, ar, up + (size_t)t * ld, nr);
            continue;
        }
        if (mode == LM_LINEAR_SWIGLU) {
            const float *ur = up + (size_t)t * ld;
            int r = 0;
            for (; r + 16 <= nr; r += 16)
                lm_store16(yrow + r, lm_silu16_mul(lm_load16(ar + r), lm_load16(ur + r)));
            for (; r < nr; r++)
                yrow[r] = lm_silu(ar[r]) * ur[r];
            continue;
        }
        const float *res = a->residual ? a->residual + (size_t)(t0 + t) * out + r0 : NULL;
        const float *bias = a->bias[p] ? a->bias[p] + r0 : NULL;
        if (a->y_scale) {
            const float s = a->y_scale[t0 + t];
            float *dst = a->y[p] + (size_t)a->y_rows[t0 + t] * out + r0;
            for (int r = 0; r < nr; r++)
                dst[r] += s * (bias ? ar[r] + bias[r] : ar[r]);
            continue;
        }
        for (int r = 0; r < nr; r++) {
            float v = ar[r];
            if (bias)
                v += bias[r];
            if (res)
                v += res[r];
            yrow[r] = v;
        }
        if (a->softcap != 0.0f)
            lm_softcap_row(yrow, yrow, nr, a->softcap);
    }
}

#endif
