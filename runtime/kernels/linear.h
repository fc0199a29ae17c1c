/* The kernels generated models are made of.
 *
 * Everything here is static inline: the emitter writes one small function
 * per distinct op shape that calls these with its dimensions as constants,
 * so clang specializes each instance (loop bounds, tails, dtype branches
 * folded away) while the file stays compact. Activations are f32; weights
 * are read in their compiled dtype. Work is split by the thread pool: each
 * task takes (tid, nthreads) and computes its own slice.
 *
 * Vectors use the GCC/clang vector extension so the same code compiles to
 * AVX-512, AVX2 or NEON for whatever -march the model is built for. */
#ifndef LMRT_KERNELS_LINEAR_H
#define LMRT_KERNELS_LINEAR_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__F16C__) || defined(__AVX512BW__)
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "core/model.h"
#include "core/pool.h"

#define LM_INLINE static inline __attribute__((always_inline))

typedef float lm_v8 __attribute__((vector_size(32)));
typedef uint32_t lm_u32x8 __attribute__((vector_size(32)));
typedef uint16_t lm_u16x8 __attribute__((vector_size(16)));
typedef int8_t lm_i8x8 __attribute__((vector_size(8)));
typedef int32_t lm_i32x8 __attribute__((vector_size(32)));
typedef float lm_v16 __attribute__((vector_size(64)));

LM_INLINE lm_v8 lm_load8(const float *p)
{
    lm_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

LM_INLINE void lm_store8(float *p, lm_v8 v)
{
    memcpy(p, &v, sizeof v);
}

LM_INLINE lm_v16 lm_load16(const float *p)
{
    lm_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

LM_INLINE void lm_store16(float *p, lm_v16 v)
{
    memcpy(p, &v, sizeof v);
}

LM_INLINE lm_v8 lm_load8_bf16(const uint16_t *p)
{
    lm_u16x8 h;
    memcpy(&h, p, sizeof h);
    return (lm_v8)(__builtin_convertvector(h, lm_u32x8) << 16);
}

LM_INLINE lm_v8 lm_load8_i8(const int8_t *p)
{
    lm_i8x8 q;
    memcpy(&q, p, sizeof q);
    return __builtin_convertvector(q, lm_v8);
}

/* Sums the lanes in a fixed order, so results do not depend on the target. */
LM_INLINE float lm_hsum8(lm_v8 v)
{
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

LM_INLINE lm_v8 lm_splat8(float f)
{
    return (lm_v8){ f, f, f, f, f, f, f, f };
}

/* ---- weights: one element, and rows as f32 ---------------------------- */

/* The f16 scale d of a Q8_0 block; one instruction where the CPU has F16C. */
LM_INLINE float lm_q8_scale(const uint8_t *blk)
{
    uint16_t h;
    memcpy(&h, blk, 2);
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return lm_f16_to_f32(h);
#endif
}

LM_INLINE float lm_weight_at(const void *w, lm_dtype dt, size_t i)
{
    switch (dt) {
    case LM_F32: return ((const float *)w)[i];
    case LM_BF16: return lm_bf16_to_f32(((const uint16_t *)w)[i]);
    case LM_F16: return lm_f16_to_f32(((const uint16_t *)w)[i]);
    case LM_Q8_0: {
        const uint8_t *b = (const uint8_t *)w + (i / LM_Q8_BLOCK) * LM_Q8_BLOCK_BYTES;
        return lm_q8_scale(b) * (float)(int8_t)b[2 + i % LM_Q8_BLOCK];
    }
    }
    return 0.0f;
}

/* Row r of a [rows, K] weight, as f32. */
LM_INLINE void lm_weight_row(float *out, const void *w, lm_dtype dt, size_t r, int K)
{
    for (int i = 0; i < K; i++)
        out[i] = lm_weight_at(w, dt, r * (size_t)K + (size_t)i);
}

/* ---- row-wise ops -------------------------------------------------------- */

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

LM_INLINE float lm_silu(float x)
{
    return x / (1.0f + expf(-x));
}

typedef int32_t lm_i32x16 __attribute__((vector_size(64)));

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

/* silu(g) * u for 16 lanes: with e = e^-|g|, silu(g) = g / (1 + e) for
 * g >= 0 and g e / (1 + e) below. The scalar expf call was a fifth of an
 * AMX SwiGLU linear. */
LM_INLINE lm_v16 lm_silu16_mul(lm_v16 g, lm_v16 u)
{
    const lm_v16 one = (lm_v16){ 0 } + 1.0f;
    const lm_i32x16 neg = g < 0.0f, sign = (lm_i32x16){ 0 } + INT32_MIN;
    lm_i32x16 gi, oi;
    memcpy(&gi, &g, sizeof gi);
    memcpy(&oi, &one, sizeof oi);
    const lm_i32x16 mi = gi | sign; /* -|g| */
    lm_v16 m;
    memcpy(&m, &mi, sizeof m);
    const lm_v16 e = lm_exp16_nonpos(m);
    lm_i32x16 ei;
    memcpy(&ei, &e, sizeof ei);
    const lm_i32x16 fi = (ei & neg) | (oi & ~neg); /* e where g < 0, else 1 */
    lm_v16 f;
    memcpy(&f, &fi, sizeof f);
    return g * f / (one + e) * u;
}

/* ---- matrix products -------------------------------------------------------
 * The core computes a tile of up to 4 tokens x 4 weight rows:
 * y[t][r] = x_t . W_r. A partial tile of rows repeats its last row, so the
 * inner loop never branches (the repeats are computed and dropped); the
 * token count is dispatched to a specialized copy instead. */

#define LM_TILE 4

LM_INLINE lm_v8 lm_wload8(const void *w, lm_dtype dt, size_t off)
{
    if (dt == LM_BF16)
        return lm_load8_bf16((const uint16_t *)w + off);
    if (dt == LM_F16) {
        const uint16_t *h = (const uint16_t *)w + off;
        lm_v8 v;
        for (int i = 0; i < 8; i++)
            v[i] = lm_f16_to_f32(h[i]);
        return v;
    }
    return lm_load8((const float *)w + off);
}

LM_INLINE void lm_tile_dot(float out[LM_TILE][LM_TILE], const float *const xt[LM_TILE],
                           const void *w, lm_dtype dt, const size_t wr[LM_TILE], int K, int T)
{
    if (dt == LM_Q8_0) {
        /* Per 32-wide block: products summed in a vector, then scaled by the
         * block's d into a vector accumulator; one horizontal sum per row
         * at the end. The next blocks are prefetched: decode is latency
         * bound like the bf16 path. */
        lm_v8 acc[LM_TILE][LM_TILE];
        for (int t = 0; t < T; t++)
            for (int r = 0; r < LM_TILE; r++)
                acc[t][r] = lm_splat8(0.0f);
        const int nb = K / LM_Q8_BLOCK;
        const uint8_t *row[LM_TILE];
        for (int r = 0; r < LM_TILE; r++)
            row[r] = (const uint8_t *)w + wr[r] / LM_Q8_BLOCK * LM_Q8_BLOCK_BYTES;
        for (int b = 0; b < nb; b++) {
            if (T == 1 && (b & 1) == 0)
                for (int r = 0; r < LM_TILE; r++)
                    __builtin_prefetch(row[r] + ((size_t)2 * LM_TILE * nb + (size_t)b) * LM_Q8_BLOCK_BYTES);
            lm_v8 d[LM_TILE], q0[LM_TILE], q1[LM_TILE], q2[LM_TILE], q3[LM_TILE];
            for (int r = 0; r < LM_TILE; r++) {
                const uint8_t *blk = row[r] + (size_t)b * LM_Q8_BLOCK_BYTES;
                d[r] = lm_splat8(lm_q8_scale(blk));
                const int8_t *q = (const int8_t *)(blk + 2);
                q0[r] = lm_load8_i8(q);
                q1[r] = lm_load8_i8(q + 8);
                q2[r] = lm_load8_i8(q + 16);
                q3[r] = lm_load8_i8(q + 24);
            }
            for (int t = 0; t < T; t++) {
                const float *xb = xt[t] + b * LM_Q8_BLOCK;
                lm_v8 x0 = lm_load8(xb), x1 = lm_load8(xb + 8), x2 = lm_load8(xb + 16), x3 = lm_load8(xb + 24);
                for (int r = 0; r < LM_TILE; r++)
                    acc[t][r] += d[r] * (x0 * q0[r] + x1 * q1[r] + x2 * q2[r] + x3 * q3[r]);
            }
        }
        for (int t = 0; t < T; t++)
            for (int r = 0; r < LM_TILE; r++)
                out[t][r] = lm_hsum8(acc[t][r]);
        return;
    }
    lm_v8 acc[LM_TILE][LM_TILE];
    for (int t = 0; t < T; t++)
        for (int r = 0; r < LM_TILE; r++)
            acc[t][r] = lm_splat8(0.0f);
    int i = 0;
    /* Decode streams each weight once and is bound by memory latency as
     * much as bandwidth: fetch two tiles ahead (measured on Qwen3-0.6B
     * bf16, one thread: 4 -> 8 tokens/s). */
    const size_t esize = dt == LM_F32 ? 4 : 2;
    for (; i + 8 <= K; i += 8) {
        lm_v8 wv[LM_TILE];
        if (T == 1 && dt != LM_Q8_0 && (i & 31) == 0)
            for (int r = 0; r < LM_TILE; r++)
                __builtin_prefetch((const char *)w + (wr[r] + (size_t)2 * LM_TILE * K + (size_t)i) * esize);
        for (int r = 0; r < LM_TILE; r++)
            wv[r] = lm_wload8(w, dt, wr[r] + (size_t)i);
        for (int t = 0; t < T; t++) {
            lm_v8 xv = lm_load8(xt[t] + i);
            for (int r = 0; r < LM_TILE; r++)
                acc[t][r] += xv * wv[r];
        }
    }
    for (int t = 0; t < T; t++)
        for (int r = 0; r < LM_TILE; r++) {
            float s = lm_hsum8(acc[t][r]);
            for (int j = i; j < K; j++)
                s += xt[t][j] * lm_weight_at(w, dt, wr[r] + (size_t)j);
            out[t][r] = s;
        }
}

/* ---- decode: one token, bf16 and q8_0 weights ----------------------------
 * Decode reads each weight once, so the loop must keep up with memory: at
 * 40 GB/s two cores take in 10 G bf16 weights/s each, about 4 per cycle.
 * Widening bf16 to f32 lane by lane (zero-extend, shift, FMA per 8) takes
 * about four instructions per 8 weights, too many to keep up. Instead 32
 * weights are loaded as 16 u32 pairs (Qwen3-0.6B decode on 2 MiB pages:
 * 21.3 -> 23.2 tokens/s):
 * pair << 16 is the even weight as f32, pair & 0xffff0000 the odd one, so
 * 32 weights cost one load, two bit operations and two FMAs against the
 * input split once per call into even and odd halves. Exact: the same f32
 * products as lm_tile_dot, summed in another order. */

typedef uint32_t lm_u32x16 __attribute__((vector_size(64)));

/* Per 32-element chunk of x: the 16 even elements, then the 16 odd ones. */
LM_INLINE void lm_split_even_odd(float *restrict xs, const float *restrict x, int K)
{
    for (int c = 0; c + 32 <= K; c += 32)
        for (int j = 0; j < 16; j++) {
            xs[c + j] = x[c + 2 * j];
            xs[c + 16 + j] = x[c + 2 * j + 1];
        }
}

LM_INLINE float lm_hsum16(lm_v16 v)
{
    lm_v8 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    return lm_hsum8(lo + hi);
}

/* Rows per call of the decode kernels: each row is read start to end, a
 * single stream the hardware prefetcher follows, with a software prefetch
 * LM_GEMV_AHEAD bytes ahead (measured on Qwen3-0.6B bf16: 4 rows read side
 * by side, 22.4 tokens/s; one row at a time, 23.0). */
#define LM_GEMV_ROWS 8
#define LM_GEMV_AHEAD 1024

/* One 32-weight chunk: ae += even weights x even inputs, ao += odd x odd. */
LM_INLINE void lm_bf16_chunk(lm_v16 *ae, lm_v16 *ao, const uint16_t *w, const float *xs)
{
    const lm_u32x16 high = (lm_u32x16){ 0 } + 0xffff0000u;
    lm_u32x16 pair;
    memcpy(&pair, w, sizeof pair);
    *ae += (lm_v16)(pair << 16) * lm_load16(xs);
    *ao += (lm_v16)(pair & high) * lm_load16(xs + 16);
}

/* x . row for one bf16 row of K (a multiple of 32) weights; xs is x split
 * by lm_split_even_odd. Four accumulators: independent FMA chains. */
LM_INLINE float lm_gemv_bf16_row(const uint16_t *restrict row, const float *restrict xs, int K)
{
    lm_v16 a0 = { 0 }, a1 = { 0 }, a2 = { 0 }, a3 = { 0 };
    int k = 0;
    /* The 128-byte steps start in the first half of a 128-byte line pair:
     * started in the second half (a tensor's offset in its file is only
     * 8-byte aligned), one core read Qwen-1.8B's lm_head at 11 GB/s instead
     * of 16. One 32-weight chunk first keeps xs's chunking. */
    if ((uintptr_t)row & 64) {
        lm_bf16_chunk(&a0, &a1, row, xs);
        k = 32;
    }
    for (; k + 64 <= K; k += 64) {
        /* Both lines of the step: one core reads 3% faster than with the
         * first alone and the adjacent-line prefetcher left to fetch the
         * second. */
        __builtin_prefetch((const char *)(row + k) + LM_GEMV_AHEAD);
        __builtin_prefetch((const char *)(row + k) + LM_GEMV_AHEAD + 64);
        lm_bf16_chunk(&a0, &a1, row + k, xs + k);
        lm_bf16_chunk(&a2, &a3, row + k + 32, xs + k + 32);
    }
    if (k < K) /* one 32-weight chunk left */
        lm_bf16_chunk(&a0, &a1, row + k, xs + k);
    return lm_hsum16((a0 + a2) + (a1 + a3));
}

typedef int8_t lm_i8x16 __attribute__((vector_size(16)));

LM_INLINE lm_v16 lm_load16_i8(const uint8_t *p)
{
    lm_i8x16 q;
    memcpy(&q, p, sizeof q);
    return __builtin_convertvector(q, lm_v16);
}

/* x . row for one q8_0 row of K (a multiple of 32) weights: per block,
 * 32 int8 widened to f32 in two 16-lane halves against plain x, then
 * scaled by the block's d; two blocks per step into two accumulators. */
LM_INLINE float lm_gemv_q8_row(const uint8_t *restrict row, const float *restrict x, int K)
{
    const int nb = K / LM_Q8_BLOCK;
    lm_v16 a0 = { 0 }, a1 = { 0 };
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *b0 = row + (size_t)b * LM_Q8_BLOCK_BYTES, *b1 = b0 + LM_Q8_BLOCK_BYTES;
        __builtin_prefetch(b0 + LM_GEMV_AHEAD);
        const float *xb = x + (size_t)b * LM_Q8_BLOCK;
        lm_v16 s0 = lm_load16_i8(b0 + 2) * lm_load16(xb) + lm_load16_i8(b0 + 18) * lm_load16(xb + 16);
        lm_v16 s1 = lm_load16_i8(b1 + 2) * lm_load16(xb + 32) + lm_load16_i8(b1 + 18) * lm_load16(xb + 48);
        a0 += lm_q8_scale(b0) * s0;
        a1 += lm_q8_scale(b1) * s1;
    }
    if (b < nb) {
        const uint8_t *b0 = row + (size_t)b * LM_Q8_BLOCK_BYTES;
        const float *xb = x + (size_t)b * LM_Q8_BLOCK;
        a0 += lm_q8_scale(b0) * (lm_load16_i8(b0 + 2) * lm_load16(xb) + lm_load16_i8(b0 + 18) * lm_load16(xb + 16));
    }
    return lm_hsum16(a0 + a1);
}

#if defined(__AVX512BW__)
/* With AVX-512BW, decode multiplies q8_0 weights in integers: x is
 * quantized once per call to int16 per 32-block (scale max|x| / 32767, a
 * relative error of 2^-15, far below the weights' own 2^-8), and one
 * vpmaddwd forms 32 int8 x int16 products summed in pairs into 16 exact
 * int32 lanes (|sum| <= 2 x 127 x 32767), converted to f32 once per block.
 * That halves the instructions per weight of widening int8 to f32. */
#define LM_Q8_INT16 1

/* xq[K] and xd[K / 32] from x[K]. */
LM_INLINE void lm_quantize_x_i16(int16_t *restrict xq, float *restrict xd, const float *restrict x, int K)
{
    for (int b = 0; b < K / LM_Q8_BLOCK; b++) {
        const float *xb = x + b * LM_Q8_BLOCK;
        float amax = 0.0f;
        for (int i = 0; i < LM_Q8_BLOCK; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        const float d = amax / 32767.0f, inv = amax > 0.0f ? 32767.0f / amax : 0.0f;
        xd[b] = d;
        for (int i = 0; i < LM_Q8_BLOCK; i++)
            xq[b * LM_Q8_BLOCK + i] = (int16_t)lrintf(xb[i] * inv);
    }
}

LM_INLINE __m512 lm_q8_block_i16(const uint8_t *blk, const int16_t *xq, float xd, __m512 acc)
{
    __m256i q;
    memcpy(&q, blk + 2, sizeof q);
    __m512i xv;
    memcpy(&xv, xq, sizeof xv);
    const __m512i prod = _mm512_madd_epi16(_mm512_cvtepi8_epi16(q), xv);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_set1_ps(lm_q8_scale(blk) * xd), acc);
}

LM_INLINE float lm_gemv_q8_row_i16(const uint8_t *restrict row, const int16_t *restrict xq,
                                   const float *restrict xd, int K)
{
    const int nb = K / LM_Q8_BLOCK;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *b0 = row + (size_t)b * LM_Q8_BLOCK_BYTES;
        __builtin_prefetch(b0 + LM_GEMV_AHEAD);
        a0 = lm_q8_block_i16(b0, xq + b * LM_Q8_BLOCK, xd[b], a0);
        a1 = lm_q8_block_i16(b0 + LM_Q8_BLOCK_BYTES, xq + (b + 1) * LM_Q8_BLOCK, xd[b + 1], a1);
    }
    if (b < nb)
        a0 = lm_q8_block_i16(row + (size_t)b * LM_Q8_BLOCK_BYTES, xq + b * LM_Q8_BLOCK, xd[b], a0);
    lm_v16 v;
    const __m512 sum = _mm512_add_ps(a0, a1);
    memcpy(&v, &sum, sizeof v);
    return lm_hsum16(v);
}
#endif

/* out[r] = x . W_r for the rows starting at element offsets wr[r]; xv is x
 * as the row kernel of dt wants it (split for bf16, plain for q8_0). */
LM_INLINE void lm_gemv_rows(float out[LM_GEMV_ROWS], const float *restrict xv, const void *w, lm_dtype dt,
                            const size_t wr[LM_GEMV_ROWS], int K)
{
    for (int r = 0; r < LM_GEMV_ROWS; r++) {
        if (dt != LM_Q8_0) {
            out[r] = lm_gemv_bf16_row((const uint16_t *)w + wr[r], xv, K);
            continue;
        }
        const uint8_t *row = (const uint8_t *)w + wr[r] / LM_Q8_BLOCK * LM_Q8_BLOCK_BYTES;
#if LM_Q8_INT16
        /* xv holds xq (K int16), then xd (K / 32 floats). */
        out[r] = lm_gemv_q8_row_i16(row, (const int16_t *)xv, xv + K / 2, K);
#else
        out[r] = lm_gemv_q8_row(row, xv, K);
#endif
    }
}

/* One token (decode) gets its own specialized copy, so it does no
 * redundant work; partial tiles of 2 or 3 tokens repeat their last token. */
LM_INLINE void lm_tile_dot_n(float out[LM_TILE][LM_TILE], const float *const xt[LM_TILE],
                             const void *w, lm_dtype dt, const size_t wr[LM_TILE], int K, int nt)
{
    if (nt == 1)
        lm_tile_dot(out, xt, w, dt, wr, K, 1);
    else
        lm_tile_dot(out, xt, w, dt, wr, K, LM_TILE);
}

/* Up to this many weights share one input in a fused linear (q, k, v). */
#define LM_MAX_PARTS 4

typedef struct lm_linear_args {
    const float *x;                    /* [n, K] input, before any norm */
    const float *norm_w;               /* [K]: RMSNorm the input first, or NULL */
    const void *w[LM_MAX_PARTS];       /* [out_p, K] in the compiled dtype */
    const float *bias[LM_MAX_PARTS];   /* [out_p] or NULL */
    float *y[LM_MAX_PARTS];            /* [n, out_p]; swiglu: y[0] only */
    const float *residual;             /* [n, out_0] added to y[0], or NULL */
    float *scratch;                    /* per-thread scratch base */
    size_t scratch_stride;             /* floats per thread */
    int n;
} lm_linear_args;

typedef enum lm_linear_mode {
    LM_LINEAR_PLAIN,   /* y_p = x W_p^T + b_p for each part */
    LM_LINEAR_SWIGLU,  /* y = silu(x W_0^T) * (x W_1^T) */
} lm_linear_mode;

/* ---- prefill: packed matrix-matrix ----------------------------------------
 * With several tokens, each block of 32 weight rows is converted once to
 * f32 and packed k-major (wp[k][32]) in the thread's scratch, then every
 * tile of up to 8 tokens runs an outer-product micro-kernel over it: per k,
 * two 16-wide weight vectors times eight broadcast inputs, 16 FMAs into 16
 * accumulators that stay in registers. Each weight is read from memory once
 * per call however many tokens there are. */

#define LM_GEMM_ROWS 32
/* 8 tokens x 32 rows: 16 accumulators, two weight loads and eight
 * broadcasts per 16 FMAs (Qwen3-0.6B prefill: 6 tokens 249, 8 tokens 258
 * tokens/s). */
#define LM_GEMM_TOKENS 8
/* Fewer tokens than this take the dot-product path, which streams weights
 * without packing (decode). */
#define LM_GEMM_MIN_TOKENS 4

/* Rows [r0, r0 + nr) of w ([*, K], dtype dt) as f32 into wp[K][32]; rows
 * past nr are zero. Works in chunks of 64 columns: 32 rows are converted
 * into an L1-resident buffer, then written out k-major, so the stores to
 * wp are sequential (scattered 4-byte stores made packing cost a fifth of
 * a prefill). */
LM_INLINE void lm_pack_rows(float *restrict wp, const void *w, lm_dtype dt, int r0, int nr, int K)
{
    enum { KC = 64 };
    float buf[LM_GEMM_ROWS][KC];
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kn = K - k0 < KC ? K - k0 : KC;
        for (int r = 0; r < LM_GEMM_ROWS; r++) {
            float *row = buf[r];
            if (r >= nr) {
                memset(row, 0, sizeof(float) * KC);
                continue;
            }
            const size_t base = (size_t)(r0 + r) * (size_t)K + (size_t)k0;
            if (dt == LM_BF16) {
                const uint16_t *src = (const uint16_t *)w + base;
                for (int k = 0; k < kn; k++)
                    row[k] = lm_bf16_to_f32(src[k]);
            } else if (dt == LM_F32) {
                memcpy(row, (const float *)w + base, sizeof(float) * (size_t)kn);
            } else if (dt == LM_Q8_0) {
                /* k0 and kn are whole blocks: K % 32 == 0 for q8_0. */
                const uint8_t *blk = (const uint8_t *)w + base / LM_Q8_BLOCK * LM_Q8_BLOCK_BYTES;
                for (int k = 0; k < kn; k += LM_Q8_BLOCK, blk += LM_Q8_BLOCK_BYTES) {
                    float dq = lm_q8_scale(blk);
                    for (int jj = 0; jj < LM_Q8_BLOCK; jj++)
                        row[k + jj] = dq * (float)(int8_t)blk[2 + jj];
                }
            } else {
                for (int k = 0; k < kn; k++)
                    row[k] = lm_weight_at(w, dt, base + (size_t)k);
            }
        }
        for (int k = 0; k < kn; k++) {
            float *dst = wp + (size_t)(k0 + k) * LM_GEMM_ROWS;
            for (int r = 0; r < LM_GEMM_ROWS; r++)
                dst[r] = buf[r][k];
        }
    }
}

/* out[t][0..32) = x_t . (packed rows), for T <= LM_GEMM_TOKENS tokens. */
LM_INLINE void lm_gemm_tile(float out[LM_GEMM_TOKENS][LM_GEMM_ROWS], const float *const xt[LM_GEMM_TOKENS],
                            const float *restrict wp, int K, int T)
{
    lm_v16 a0[LM_GEMM_TOKENS], a1[LM_GEMM_TOKENS];
    for (int t = 0; t < T; t++) {
        a0[t] = (lm_v16){ 0 };
        a1[t] = (lm_v16){ 0 };
    }
    for (int k = 0; k < K; k++) {
        lm_v16 w0 = lm_load16(wp + (size_t)k * LM_GEMM_ROWS);
        lm_v16 w1 = lm_load16(wp + (size_t)k * LM_GEMM_ROWS + 16);
        for (int t = 0; t < T; t++) {
            float xv = xt[t][k];
            a0[t] += xv * w0;
            a1[t] += xv * w1;
        }
    }
    for (int t = 0; t < T; t++) {
        lm_store16(out[t], a0[t]);
        lm_store16(out[t] + 16, a1[t]);
    }
}

/* Writes y[t0 + t][r0 + r] for a finished tile: bias, residual, or silu(gate) * up. */
LM_INLINE void lm_linear_store(const lm_linear_args *a, int p, int out, int t0, int nt, int r0, int nr,
                               const float *acc, const float *up, int ld)
{
    for (int t = 0; t < nt; t++) {
        float *yrow = a->y[p] + (size_t)(t0 + t) * out + r0;
        const float *ar = acc + (size_t)t * ld;
        if (up) {
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
        for (int r = 0; r < nr; r++) {
            float v = ar[r];
            if (bias)
                v += bias[r];
            if (res)
                v += res[r];
            yrow[r] = v;
        }
    }
}

#include "kernels/linear_bf16.h"

/* One thread's share of a fused linear. The parts' output rows are laid end
 * to end and cut into equal runs of 32-row blocks, one run per thread, so
 * each thread reads a disjoint slice of the weights exactly once per call.
 * Per-thread scratch: the normalized input (n x K, with a norm prologue),
 * then packed weights (32 x K, twice for swiglu). */
LM_INLINE void lm_linear_task(const lm_linear_args *a, int tid, int nthreads, int K, float eps,
                              int nparts, const int *outs, lm_dtype dt, lm_linear_mode mode, int xbf16)
{
    const int n = a->n;
    const float *x = a->x;
    float *scratch = a->scratch + (size_t)tid * a->scratch_stride;
    if (a->norm_w) {
        for (int t = 0; t < n; t++)
            lm_rmsnorm_row(scratch + (size_t)t * K, a->x + (size_t)t * K, a->norm_w, K, eps);
        x = scratch;
        scratch += (size_t)n * K;
    }
    /* The bf16 kernels (kernels_bf16.h) take the input from a region of
     * scratch ((n + 32) x K floats more): for AMX (a batch), packed in the
     * tiles' layout, rounded to bf16 with --matmul-input bf16, else as two
     * bf16 parts (x = hi + lo within 2^-17; products exact, sums in f32;
     * two tile products per weight tile, three for q8_0 and f16 weights,
     * split the same way); without AMX, bf16 inputs are bf16 bits for the
     * vdpbf16ps kernels, or rounded f32 values for the f32 kernels below. */
    const uint16_t *xh = NULL;
    const uint32_t *xp = NULL;
    float *region = scratch;
#if LM_AMX
    const uint32_t *xl = NULL;
    if ((xbf16 || dt == LM_BF16 || dt == LM_Q8_0 || dt == LM_F16) && K % 32 == 0 && n >= LM_GEMM_MIN_TOKENS &&
        lm_amx_ready()) {
        const size_t half = (size_t)((n + 31) / 32 * 32) * (size_t)K / 2;
        xp = (const uint32_t *)region;
        xl = xbf16 ? NULL : xp + half;
        lm_amx_pack_x((uint32_t *)region, (uint32_t *)xl, x, n, K);
        lm_amx_begin();
    }
#endif
#if LM_DPBF16
    if (xbf16 && !xp && K % 32 == 0) {
        lm_to_bf16((uint16_t *)region, x, (size_t)n * K);
        xh = (const uint16_t *)region;
    }
#endif
    if (xbf16 && !xp && !xh) {
        lm_round_bf16(region, x, (size_t)n * K);
        x = region;
    }
    if (xbf16 || xp)
        scratch += (size_t)(n + 32) * K;
    const int swiglu = mode == LM_LINEAR_SWIGLU;
    const int gemm = n >= LM_GEMM_MIN_TOKENS;
    /* One token of bf16 or q8_0 weights: the row-streaming gemv, with x
     * split once per call for bf16. */
    const float *xv = NULL;
    if (!xh && n == 1 && K % 32 == 0 && dt == LM_BF16) {
        lm_split_even_odd(scratch, x, K);
        xv = scratch;
    } else if (n == 1 && K % 32 == 0 && dt == LM_Q8_0) {
#if LM_Q8_INT16
        lm_quantize_x_i16((int16_t *)scratch, scratch + K / 2, x, K);
        xv = scratch;
#else
        xv = x;
#endif
    }
    const int nouts = swiglu ? 1 : nparts;
    int total = 0;
    for (int p = 0; p < nouts; p++)
        total += (outs[p] + LM_GEMM_ROWS - 1) / LM_GEMM_ROWS;
    int bb, be;
    lm_split(total, tid, nthreads, &bb, &be);

    /* AMX reads bf16 weights in place, in passes of tokens whose packed
     * inputs stay in L2 (lm_amx_pass_tokens); every other path goes in one
     * pass. (q8_0 and f16 blocks are converted for the tiles, and a pass
     * each would convert them again: one pass measured 7% faster.) */
    int pass = n;
#if LM_AMX
    if (xp && dt == LM_BF16)
        pass = lm_amx_pass_tokens(n, (size_t)K * sizeof(uint16_t) * (xl ? 2 : 1));
#endif
    for (int t_begin = 0; t_begin < n; t_begin += pass) {
        const int t_end = n - t_begin < pass ? n : t_begin + pass;
        (void)t_end; /* AMX only */
        int block0 = 0;
        for (int p = 0; p < nouts; p++) {
            const int out = outs[p];
            const int pblocks = (out + LM_GEMM_ROWS - 1) / LM_GEMM_ROWS;
            int b = bb > block0 ? bb - block0 : 0;
            int e = be - block0 < pblocks ? be - block0 : pblocks;
            block0 += pblocks;
            for (int blk = b; blk < e; blk++) {
                const int r0 = blk * LM_GEMM_ROWS;
                const int nr = out - r0 < LM_GEMM_ROWS ? out - r0 : LM_GEMM_ROWS;
#if LM_AMX
                if (xp) {
                    lm_linear_block_amx(a, p, out, r0, nr, xp, xl, K, dt, swiglu, (uint16_t *)scratch, t_begin, t_end);
                    continue;
                }
#endif
#if LM_DPBF16
                if (xh) {
                    lm_linear_block_dpbf16(a, p, out, r0, nr, xh, K, swiglu, scratch);
                    continue;
                }
#endif
                if (gemm) {
                    float *wp = scratch, *wu = scratch + (size_t)K * LM_GEMM_ROWS;
                    lm_pack_rows(wp, a->w[p], dt, r0, nr, K);
                    if (swiglu)
                        lm_pack_rows(wu, a->w[1], dt, r0, nr, K);
                    for (int t0 = 0; t0 < n; t0 += LM_GEMM_TOKENS) {
                        const int nt = n - t0 < LM_GEMM_TOKENS ? n - t0 : LM_GEMM_TOKENS;
                        const float *xt[LM_GEMM_TOKENS];
                        for (int t = 0; t < LM_GEMM_TOKENS; t++)
                            xt[t] = x + (size_t)(t0 + (t < nt ? t : nt - 1)) * K;
                        float acc[LM_GEMM_TOKENS][LM_GEMM_ROWS], up[LM_GEMM_TOKENS][LM_GEMM_ROWS];
                        /* A partial tile repeats its last token: one specialized
                         * micro-kernel, and compile time stays small. */
                        lm_gemm_tile(acc, xt, wp, K, LM_GEMM_TOKENS);
                        if (swiglu)
                            lm_gemm_tile(up, xt, wu, K, LM_GEMM_TOKENS);
                        lm_linear_store(a, p, out, t0, nt, r0, nr, &acc[0][0], swiglu ? &up[0][0] : NULL,
                                        LM_GEMM_ROWS);
                    }
                    continue;
                }
                if (xv) {
                    for (int q0 = r0; q0 < r0 + nr; q0 += LM_GEMV_ROWS) {
                        const int qn = r0 + nr - q0 < LM_GEMV_ROWS ? r0 + nr - q0 : LM_GEMV_ROWS;
                        size_t wr[LM_GEMV_ROWS];
                        for (int r = 0; r < LM_GEMV_ROWS; r++)
                            wr[r] = (size_t)(q0 + (r < qn ? r : qn - 1)) * (size_t)K;
                        float acc[LM_GEMV_ROWS], up[LM_GEMV_ROWS];
                        lm_gemv_rows(acc, xv, a->w[p], dt, wr, K);
                        if (swiglu)
                            lm_gemv_rows(up, xv, a->w[1], dt, wr, K);
                        lm_linear_store(a, p, out, 0, 1, q0, qn, acc, swiglu ? up : NULL, LM_GEMV_ROWS);
                    }
                    continue;
                }
                for (int q0 = r0; q0 < r0 + nr; q0 += LM_TILE) {
                    const int qn = r0 + nr - q0 < LM_TILE ? r0 + nr - q0 : LM_TILE;
                    size_t wr[LM_TILE];
                    for (int r = 0; r < LM_TILE; r++)
                        wr[r] = (size_t)(q0 + (r < qn ? r : qn - 1)) * (size_t)K;
                    for (int t0 = 0; t0 < n; t0 += LM_TILE) {
                        const int nt = n - t0 < LM_TILE ? n - t0 : LM_TILE;
                        const float *xt[LM_TILE];
                        for (int t = 0; t < LM_TILE; t++)
                            xt[t] = x + (size_t)(t0 + (t < nt ? t : nt - 1)) * K;
                        float acc[LM_TILE][LM_TILE], up[LM_TILE][LM_TILE];
                        lm_tile_dot_n(acc, xt, a->w[p], dt, wr, K, nt);
                        if (swiglu)
                            lm_tile_dot_n(up, xt, a->w[1], dt, wr, K, nt);
                        lm_linear_store(a, p, out, t0, nt, q0, qn, &acc[0][0], swiglu ? &up[0][0] : NULL,
                                        LM_TILE);
                    }
                }
            }
        }
    }
#if LM_AMX
    if (xp)
        _tile_release();
#endif
}

/* ---- embedding ------------------------------------------------------------ */

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

/* ---- elementwise ops (used when fusion leaves them standalone) ------------ */

typedef struct lm_rows_args {
    const float *a, *b, *w;
    float *y;
    int n;
} lm_rows_args;

LM_INLINE void lm_rmsnorm_task(const lm_rows_args *a, int tid, int nthreads, int K, float eps)
{
    int b, e;
    lm_split(a->n, tid, nthreads, &b, &e);
    for (int t = b; t < e; t++)
        lm_rmsnorm_row(a->y + (size_t)t * K, a->a + (size_t)t * K, a->w, K, eps);
}

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

/* ---- attention -----------------------------------------------------------
 * The KV cache of one layer is [kv_heads][context][head_dim] for keys, then
 * the same for values: each head's positions are contiguous, so attention
 * streams them and crosses a 4 KiB page every 8 positions (head_dim 128).
 * Position-major ([context][kv_heads][head_dim]) put each position of
 * Qwen3-0.6B on a page of its own per head read, a TLB miss per position:
 * decode after 512 positions lost a fifth of its speed. The cache is
 * reserved address space, so a short prompt costs a page per head and
 * layer, and memory grows with the positions in use. Keys are
 * stored after their per-head norm and RoPE. */

typedef struct lm_attn_args {
    const float *q, *k, *v;     /* [n, heads*D], [n, kv_heads*D], [n, kv_heads*D] */
    float rope_base;            /* this call's RoPE base (dynamic NTK may raise it) */
    const float *q_norm;        /* [D] or NULL */
    const float *k_norm;        /* [D] or NULL */
    float *cache;               /* this layer's K then V cache */
    float *out;                 /* [n, heads*D] */
    float *scratch;
    size_t scratch_stride;
    int n, pos;
} lm_attn_args;

/* inv_freq_i = 1 / base^(2i/rot), rounded through f32 at each step as
 * transformers computes it. */
LM_INLINE float lm_rope_inv_freq(int i, int rot, float base)
{
    float e = (float)(2 * i) / (float)rot;
    return 1.0f / powf(base, e);
}

/* The inverse frequencies of one call, computed once instead of per head
 * and position (powf per element cost more than the rotation itself). */
#define LM_MAX_ROT 512
LM_INLINE void lm_rope_table(float *inv, int rot, float base)
{
    for (int i = 0; i < rot / 2; i++)
        inv[i] = lm_rope_inv_freq(i, rot, base);
}

/* cos and sin of pos * inv_freq for one position, kept while a thread's
 * items stay at that position: the heads of a position share them
 * (cosf and sinf per head were 4.5% of an AMX prefill). */
typedef struct lm_rope_cs {
    int pos;
    float c[LM_MAX_ROT / 2], s[LM_MAX_ROT / 2];
} lm_rope_cs;

LM_INLINE void lm_rope_at(lm_rope_cs *cs, int pos, int rot, const float *inv)
{
    if (cs->pos == pos)
        return;
    cs->pos = pos;
    for (int i = 0; i < rot / 2; i++) {
        const float ang = (float)pos * inv[i];
        cs->c[i] = cosf(ang);
        cs->s[i] = sinf(ang);
    }
}

/* Rotate-half RoPE of the first rot dims of one head, in place: pairs
 * (i, i + rot/2); dims past rot pass through (Qwen1's rotary_pct). */
LM_INLINE void lm_rope_head(float *x, int rot, const lm_rope_cs *cs)
{
    const int half = rot / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs->c[i], sn = cs->s[i];
        const float x1 = x[i], x2 = x[i + half];
        x[i] = x1 * c - x2 * sn;
        x[i + half] = x2 * c + x1 * sn;
    }
}

/* Qwen1's dynamic NTK: when a sequence starts with more than seq_length
 * tokens, the rotary base grows to base * alpha^(rot / (rot - 2)) with
 * alpha = 2^ceil(log2(len / seq_length) + 1) - 1, computed in double as
 * Qwen's Python does (math.log(x, 2) is log(x) / log(2)). */
LM_INLINE float lm_ntk_base(double base, int rot, int seq_tokens, int seq_length)
{
    if (seq_tokens <= 0)
        return (float)base;
    double context = log((double)seq_tokens / (double)seq_length) / log(2.0) + 1.0;
    double alpha = pow(2.0, ceil(context)) - 1.0;
    if (alpha < 1.0)
        alpha = 1.0;
    return (float)(base * pow(alpha, (double)rot / (double)(rot - 2)));
}

/* Qwen1's logn attention: a query at position p is scaled by
 * log(p + 1) / log(seq_length) once p + 1 > seq_length. */
LM_INLINE float lm_logn_scale(int pos, int seq_length)
{
    if (seq_length <= 0 || pos + 1 <= seq_length)
        return 1.0f;
    return (float)(log((double)(pos + 1)) / log((double)seq_length));
}

/* ---- the KV cache: f32, or bf16 (lmcc build --kv-dtype bf16) -------------
 * A bf16 cache holds each key (after its norm and RoPE) and value rounded
 * to bf16: half the bytes a decode step reads per cached position, half
 * the memory per position. kv16 is a constant of each generated call. */

typedef uint16_t lm_u16x16 __attribute__((vector_size(32)));

/* Largest head dimension of a bf16 cache (a key is built in f32 first). */
#define LM_KV16_MAX_D 512

/* Row `row` ([D] values) of the cache region base. */
LM_INLINE const void *lm_kv_row(const float *base, size_t row, int D, int kv16)
{
    return kv16 ? (const void *)((const uint16_t *)base + row * (size_t)D) : (const void *)(base + row * (size_t)D);
}

LM_INLINE lm_v16 lm_kv_load16(const void *row, int i, int kv16)
{
    if (!kv16)
        return lm_load16((const float *)row + i);
    lm_u16x16 h;
    memcpy(&h, (const uint16_t *)row + i, sizeof h);
    const lm_u32x16 w = __builtin_convertvector(h, lm_u32x16) << 16;
    lm_v16 v;
    memcpy(&v, &w, sizeof v);
    return v;
}

LM_INLINE float lm_kv_at(const void *row, int i, int kv16)
{
    return kv16 ? lm_bf16_to_f32(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

/* dst[0..D) = the row as f32 (a bf16 row converted, an f32 one copied). */
LM_INLINE void lm_kv_to_f32(float *restrict dst, const void *row, int D, int kv16)
{
    if (!kv16) {
        memcpy(dst, row, sizeof(float) * (size_t)D);
        return;
    }
    for (int i = 0; i < D; i++)
        dst[i] = lm_bf16_to_f32(((const uint16_t *)row)[i]);
}

LM_INLINE void lm_kv_prefetch_row(const void *row, int D, int kv16)
{
    const int bytes = D * (kv16 ? 2 : 4);
    for (int i = 0; i < bytes; i += 64)
        __builtin_prefetch((const char *)row + i);
}

/* Where the values start in a layer's cache: after the keys. */
LM_INLINE float *lm_kv_values(const lm_attn_args *a, int KVH, int CTX, int D, int kv16)
{
    return a->cache + (size_t)KVH * CTX * D / (kv16 ? 2 : 1);
}

/* One head's key or query as attention uses it: normalized (or copied)
 * into dst, then rotated for position p. */
LM_INLINE void lm_attn_head_row(float *restrict dst, const float *restrict src, const float *norm_w, int D,
                                float eps, int rot, int p, lm_rope_cs *cs, const float *inv)
{
    if (norm_w)
        lm_rmsnorm_row(dst, src, norm_w, D, eps);
    else
        memcpy(dst, src, sizeof(float) * D);
    if (rot) {
        lm_rope_at(cs, p, rot, inv);
        lm_rope_head(dst, rot, cs);
    }
}

/* Phase 1: norm + RoPE of the new keys, and both into the cache. */
LM_INLINE void lm_attn_store_task(const lm_attn_args *a, int tid, int nthreads, int KVH, int D,
                                  int CTX, float eps, int rot, int kv16)
{
    float *kc = a->cache, *vc = lm_kv_values(a, KVH, CTX, D, kv16);
    float inv[LM_MAX_ROT / 2];
    lm_rope_cs cs = { .pos = -1 };
    if (rot)
        lm_rope_table(inv, rot, a->rope_base);
    for (int item = tid; item < a->n * KVH; item += nthreads) {
        int t = item / KVH, h = item % KVH, p = a->pos + t;
        const size_t slot = (size_t)h * CTX + (size_t)p;
        float krow[LM_KV16_MAX_D];
        float *kd = kv16 ? krow : kc + slot * D;
        const float *ks = a->k + (size_t)t * KVH * D + (size_t)h * D;
        const float *vs = a->v + (size_t)t * KVH * D + (size_t)h * D;
        lm_attn_head_row(kd, ks, a->k_norm, D, eps, rot, p, &cs, inv);
        if (kv16) {
            uint16_t *k16 = (uint16_t *)kc + slot * D, *v16 = (uint16_t *)vc + slot * D;
            for (int i = 0; i < D; i++) {
                k16[i] = lm_f32_to_bf16(kd[i]);
                v16[i] = lm_f32_to_bf16(vs[i]);
            }
        } else {
            memcpy(vc + slot * D, vs, sizeof(float) * D);
        }
    }
}

/* Phase 2: each (token, kv head) item attends, for every query head of its
 * group, to every cached position up to its own, with an online softmax.
 * Keys and values are read once per group (GQA), in blocks of
 * LM_ATTN_BLOCK positions: the block's scores first (independent dot
 * products, no chain through the softmax state), then its maximum, one
 * rescale of the running sum if the maximum grew, the exponentials, and
 * the weighted values. Per-position rescaling made attention a fifth of
 * decode time at 512 positions. */
#define LM_ATTN_BLOCK 64
/* Head dims up to 16 x this keep a head's accumulator in registers. */
#define LM_ATTN_MAX_D16 16
/* Query heads per kv head the scratch is sized for (Qwen3-32B: 8). */
#define LM_ATTN_MAX_GROUP 16

/* Scratch floats one thread needs for the query task: the decode path's
 * or a batch tile's (kernels_attn_tile.h), whichever is more. */
#define LM_ATTN_DECODE_SCRATCH(group, D) ((size_t)(group) * (2 * (size_t)(D) + LM_ATTN_BLOCK))
#define LM_ATTN_SCRATCH(group, D)                                                          \
    (LM_ATTN_DECODE_SCRATCH(group, D) > LM_ATTN_TILE_SCRATCH(D) ? LM_ATTN_DECODE_SCRATCH(group, D) \
                                                                 : LM_ATTN_TILE_SCRATCH(D))
/* Calls of at least this many tokens take the lane-wise batch path. */
#define LM_ATTN_TILE_MIN 4

/* q . row of the cache, f32 or bf16: two 16-lane chains, then the tail. */
LM_INLINE float lm_kv_dot(const float *restrict q, const void *row, int D, int kv16)
{
    int i = 0;
    float s = 0.0f;
    if (D >= 16) {
        lm_v16 s0 = { 0 }, s1 = { 0 };
        for (; i + 32 <= D; i += 32) {
            s0 += lm_load16(q + i) * lm_kv_load16(row, i, kv16);
            s1 += lm_load16(q + i + 16) * lm_kv_load16(row, i + 16, kv16);
        }
        for (; i + 16 <= D; i += 16)
            s0 += lm_load16(q + i) * lm_kv_load16(row, i, kv16);
        s = lm_hsum16(s0 + s1);
    }
    for (; i < D; i++)
        s += q[i] * lm_kv_at(row, i, kv16);
    return s;
}

#include "kernels/attention_tile.h"

/* Rows ahead that decode attention fetches its keys. */
#define LM_ATTN_AHEAD 4

LM_INLINE void lm_attn_query_task(const lm_attn_args *a, int tid, int nthreads, int H, int KVH,
                                  int D, int CTX, float eps, int rot, float scale, int logn_seq, int kv16)
{
    const float *kc = a->cache, *vc = lm_kv_values(a, KVH, CTX, D, kv16);
    const int group = H / KVH;
    float *q = a->scratch + (size_t)tid * a->scratch_stride; /* [group][D] */
    float *acc = q + (size_t)group * D;                      /* [group][D] */
    float *sc = acc + (size_t)group * D;                     /* [group][LM_ATTN_BLOCK] */
    float inv[LM_MAX_ROT / 2];
    lm_rope_cs cs = { .pos = -1 };
    if (rot)
        lm_rope_table(inv, rot, a->rope_base);
    if (a->n >= LM_ATTN_TILE_MIN && D % 16 == 0 && D <= 16 * (LM_ATTN_BLOCK + LM_ATTN_KEYS)) {
        /* A batch: tiles of 16 / group tokens, interleaved over the
         * threads as below. */
        const int T = LM_ATTN_LANES / group, tiles = (a->n + T - 1) / T;
        lm_rope_cs tcs[LM_ATTN_LANES];
        for (int i = 0; i < LM_ATTN_LANES; i++)
            tcs[i].pos = -1;
        for (int item = tid; item < tiles * KVH; item += nthreads) {
            const int t0 = item / KVH * T, kvh = item % KVH;
            lm_attn_query_tile(a, q, t0, a->n - t0 < T ? a->n - t0 : T, kvh, H, KVH, D, CTX, eps, rot, scale,
                               logn_seq, tcs, inv, kv16);
        }
        return;
    }
    /* Interleaved items balance the causal triangle across threads. */
    for (int item = tid; item < a->n * KVH; item += nthreads) {
        const int t = item / KVH, kvh = item % KVH, p = a->pos + t;
        /* The score scale (and logn) folded into the queries once. */
        const float qscale = scale * (logn_seq ? lm_logn_scale(p, logn_seq) : 1.0f);
        float m[LM_ATTN_MAX_GROUP], l[LM_ATTN_MAX_GROUP];
        for (int g = 0; g < group; g++) {
            float *qg = q + (size_t)g * D;
            const float *qs = a->q + (size_t)t * H * D + (size_t)(kvh * group + g) * D;
            lm_attn_head_row(qg, qs, a->q_norm, D, eps, rot, p, &cs, inv);
            for (int i = 0; i < D; i++)
                qg[i] *= qscale;
            memset(acc + (size_t)g * D, 0, sizeof(float) * D);
            m[g] = -INFINITY;
            l[g] = 0.0f;
        }
        const size_t head = (size_t)kvh * CTX;
        for (int j0 = 0; j0 <= p; j0 += LM_ATTN_BLOCK) {
            const int nb = p + 1 - j0 < LM_ATTN_BLOCK ? p + 1 - j0 : LM_ATTN_BLOCK;
            for (int jj = 0; jj < nb; jj++) {
                const size_t j = head + (size_t)(j0 + jj);
                const void *kj = lm_kv_row(kc, j, D, kv16);
                /* The first line of each row waited on memory (two fifths
                 * of decode attention): fetch keys LM_ATTN_AHEAD rows
                 * ahead, and this row's values for the weighted sum. */
                if (j0 + jj + LM_ATTN_AHEAD <= p)
                    lm_kv_prefetch_row(lm_kv_row(kc, j + LM_ATTN_AHEAD, D, kv16), D, kv16);
                lm_kv_prefetch_row(lm_kv_row(vc, j, D, kv16), D, kv16);
                for (int g = 0; g < group; g++)
                    sc[g * LM_ATTN_BLOCK + jj] = lm_kv_dot(q + (size_t)g * D, kj, D, kv16);
            }
            for (int g = 0; g < group; g++) {
                float *sg = sc + g * LM_ATTN_BLOCK;
                float mb = sg[0];
                for (int jj = 1; jj < nb; jj++)
                    mb = sg[jj] > mb ? sg[jj] : mb;
                if (mb > m[g]) {
                    const float c = expf(m[g] - mb); /* 0 for the first block */
                    l[g] *= c;
                    float *ag = acc + (size_t)g * D;
                    for (int i = 0; i < D; i++)
                        ag[i] *= c;
                    m[g] = mb;
                }
                float lsum = 0.0f;
                int jj = 0;
                for (; jj + 16 <= nb; jj += 16) {
                    const lm_v16 e = lm_exp16_nonpos(lm_load16(sg + jj) - m[g]);
                    lm_store16(sg + jj, e);
                    lsum += lm_hsum16(e);
                }
                for (; jj < nb; jj++) {
                    sg[jj] = expf(sg[jj] - m[g]);
                    lsum += sg[jj];
                }
                l[g] += lsum;
            }
            if (D % 16 == 0 && D <= 16 * LM_ATTN_MAX_D16) {
                /* The accumulator of a head stays in registers for the
                 * block (through memory it cost a load and a store per
                 * value and position). */
                for (int g = 0; g < group; g++) {
                    float *restrict ag = acc + (size_t)g * D;
                    lm_v16 av[LM_ATTN_MAX_D16];
                    for (int i = 0; i < D / 16; i++)
                        av[i] = lm_load16(ag + 16 * i);
                    for (int jj = 0; jj < nb; jj++) {
                        const void *vj = lm_kv_row(vc, head + (size_t)(j0 + jj), D, kv16);
                        const float e = sc[g * LM_ATTN_BLOCK + jj];
                        for (int i = 0; i < D / 16; i++)
                            av[i] += e * lm_kv_load16(vj, 16 * i, kv16);
                    }
                    for (int i = 0; i < D / 16; i++)
                        lm_store16(ag + 16 * i, av[i]);
                }
            } else {
                for (int jj = 0; jj < nb; jj++) {
                    const void *vj = lm_kv_row(vc, head + (size_t)(j0 + jj), D, kv16);
                    for (int g = 0; g < group; g++) {
                        float *restrict ag = acc + (size_t)g * D;
                        const float e = sc[g * LM_ATTN_BLOCK + jj];
                        for (int i = 0; i < D; i++)
                            ag[i] += e * lm_kv_at(vj, i, kv16);
                    }
                }
            }
        }
        for (int g = 0; g < group; g++) {
            float *o = a->out + (size_t)t * H * D + (size_t)(kvh * group + g) * D;
            for (int i = 0; i < D; i++)
                o[i] = acc[(size_t)g * D + i] / l[g];
        }
    }
}

#endif
