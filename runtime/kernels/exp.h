/* e^x, the sigmoid and SiLU, for attention's softmax weights, SwiGLU (the
 * linear epilogue and the standalone op) and tanh.h: one polynomial all
 * share. */
#ifndef LMRT_KERNELS_EXP_H
#define LMRT_KERNELS_EXP_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base.h"

LM_INLINE float lm_silu(float x)
{
    return x / (1.0f + expf(-x));
}

/* e^x for 16 lanes with x <= 0 (softmax weights after the maximum is
 * subtracted): x = n ln2 + r with |r| <= ln2/2, e^r by its degree-6 Taylor
 * polynomial (relative error under 2e-7 there, about 2 ulp), times 2^n
 * built in the exponent field. Below -87 the result is 0 where expf would
 * give a subnormal under 1.2e-38, nothing a softmax sum can see. Scalar
 * expf per score was 3% of a 512-token prefill; this took prefill up 2.5%.
 * The SwiGLU epilogue uses it too (lm_silu16). */
LM_INLINE lm_v16 lm_exp16_nonpos(lm_v16 x)
{
    const lm_v16 lo = (lm_v16){ 0 } - 87.0f;
    const lm_i32x16 under = x < lo; /* all ones where clamped */
    lm_i32x16 xi, loi;
    memcpy(&xi, &x, sizeof xi);
    memcpy(&loi, &lo, sizeof loi);
    xi = (xi & ~under) | (loi & under);
    memcpy(&x, &xi, sizeof x);
    /* Round to nearest by adding and subtracting 1.5 * 2^23. */
    const lm_v16 magic = (lm_v16){ 0 } + 12582912.0f;
    const lm_v16 n = (x * 1.44269504088896341f + magic) - magic;
    /* ln 2 in two parts so n * ln2_hi is exact */
    lm_v16 r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-6f;
    lm_v16 p = (lm_v16){ 0 } + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const lm_i32x16 e = (__builtin_convertvector(n, lm_i32x16) + 127) << 23;
    lm_v16 scale;
    memcpy(&scale, &e, sizeof scale);
    lm_v16 y = p * scale;
    lm_i32x16 yi;
    memcpy(&yi, &y, sizeof yi);
    yi &= ~under;
    memcpy(&y, &yi, sizeof y);
    return y;
}

/* sigmoid(z) = num / den for 16 lanes without overflow: with e = e^-|z|,
 * num = 1 for z >= 0 and e below, den = 1 + e. SiLU and GELU-tanh
 * (tanh.h) both are x sigmoid(z). */
LM_INLINE void lm_sigmoid16_parts(lm_v16 z, lm_v16 *num, lm_v16 *den)
{
    const lm_v16 one = (lm_v16){ 0 } + 1.0f;
    const lm_i32x16 neg = z < 0.0f, sign = (lm_i32x16){ 0 } + INT32_MIN;
    lm_i32x16 zi, oi;
    memcpy(&zi, &z, sizeof zi);
    memcpy(&oi, &one, sizeof oi);
    const lm_i32x16 mi = zi | sign; /* -|z| */
    lm_v16 m;
    memcpy(&m, &mi, sizeof m);
    const lm_v16 e = lm_exp16_nonpos(m);
    lm_i32x16 ei;
    memcpy(&ei, &e, sizeof ei);
    const lm_i32x16 fi = (ei & neg) | (oi & ~neg); /* e where z < 0, else 1 */
    memcpy(num, &fi, sizeof *num);
    *den = one + e;
}

/* silu(g) * u for 16 lanes: g sigmoid(g) u. The scalar expf call was a
 * fifth of an AMX SwiGLU linear. */
LM_INLINE lm_v16 lm_silu16_mul(lm_v16 g, lm_v16 u)
{
    lm_v16 num, den;
    lm_sigmoid16_parts(g, &num, &den);
    return g * num / den * u;
}

#endif
