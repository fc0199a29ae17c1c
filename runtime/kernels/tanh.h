/* tanh for 16 lanes, and what Gemma builds on it: the GELU-tanh gate
 * (gelu_pytorch_tanh, for GeGLU: the linear epilogue and the standalone
 * op) and logit softcapping, cap * tanh(y / cap). */
#ifndef LMRT_KERNELS_TANH_H
#define LMRT_KERNELS_TANH_H

#include <stdint.h>
#include <string.h>

#include "base.h"
#include "exp.h"

/* tanh(x), within 3e-7 relative of the exact value (tests/unit/
 * test_activation.c). Below |x| = 0.625, |x| + |x|^3 P(x^2) with P a
 * degree-4 fit of relative error 7e-8 (fitted for lmcc by reweighted
 * least squares in 40-digit arithmetic); from there (1 - e) / (1 + e)
 * with e = e^-2|x|, where 1 - e > 0.71 loses nothing to cancellation. The
 * sign is put back last. */
LM_INLINE lm_v16 lm_tanh16(lm_v16 x)
{
    const lm_v16 one = (lm_v16){ 0 } + 1.0f;
    const lm_i32x16 sign = (lm_i32x16){ 0 } + INT32_MIN;
    lm_i32x16 xi;
    memcpy(&xi, &x, sizeof xi);
    const lm_i32x16 ai = xi & ~sign;
    lm_v16 a;
    memcpy(&a, &ai, sizeof a);
    const lm_v16 s = a * a;
    lm_v16 p = (lm_v16){ 0 } - 5.717045628e-03f;
    p = p * s + 2.065058798e-02f;
    p = p * s - 5.374349654e-02f;
    p = p * s + 1.333149076e-01f;
    p = p * s - 3.333328366e-01f;
    const lm_v16 small = a + a * s * p;
    const lm_v16 e = lm_exp16_nonpos(a * -2.0f);
    const lm_v16 large = (one - e) / (one + e);
    const lm_i32x16 is_small = a < 0.625f;
    lm_i32x16 si, li;
    memcpy(&si, &small, sizeof si);
    memcpy(&li, &large, sizeof li);
    const lm_i32x16 yi = ((si & is_small) | (li & ~is_small)) | (xi & sign);
    lm_v16 y;
    memcpy(&y, &yi, sizeof y);
    return y;
}

/* gelu_tanh(g) * u for 16 lanes. transformers' gelu_pytorch_tanh is
 * 0.5 g (1 + tanh(t)), t = sqrt(2/pi) (g + 0.044715 g^3); 0.5 (1 + tanh(t))
 * is sigmoid(2t) exactly, and that form (shared with SiLU) keeps its
 * relative accuracy where tanh(t) nears -1 and 1 + tanh(t) would cancel. */
LM_INLINE lm_v16 lm_gelu_tanh16_mul(lm_v16 g, lm_v16 u)
{
    /* 2 sqrt(2/pi) and 2 sqrt(2/pi) 0.044715 */
    const lm_v16 z = g * (1.5957691216057308f + 0.07135481627260025f * (g * g));
    lm_v16 num, den;
    lm_sigmoid16_parts(z, &num, &den);
    return g * num / den * u;
}

/* cap * tanh(y / cap), divided as transformers divides. */
LM_INLINE lm_v16 lm_softcap16(lm_v16 y, float cap)
{
    return lm_tanh16(y / cap) * cap;
}

/* y = gelu_tanh(g) * u over n floats (y may be g or u). */
LM_INLINE void lm_geglu_row(float *y, const float *g, const float *u, int n)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        lm_store16(y + i, lm_gelu_tanh16_mul(lm_load16(g + i), lm_load16(u + i)));
    if (i < n)
        lm_store16_part(y + i, lm_gelu_tanh16_mul(lm_load16_part(g + i, n - i), lm_load16_part(u + i, n - i)), n - i);
}

/* y = cap * tanh(x / cap) over n floats (y may be x). */
LM_INLINE void lm_softcap_row(float *y, const float *x, int n, float cap)
{
    int i = 0;
    for (; i + 16 <= n; i += 16)
        lm_store16(y + i, lm_softcap16(lm_load16(x + i), cap));
    if (i < n)
        lm_store16_part(y + i, lm_softcap16(lm_load16_part(x + i, n - i), cap), n - i);
}

#endif
