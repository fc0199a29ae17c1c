/* Linears over few tokens, streaming the weights: dot products of up to 4
 * tokens x 4 rows for any dtype, and decode's row kernels for bf16, q8_0
 * and q4_0. lm_linear_task (linear.h) takes these below LM_GEMM_MIN_TOKENS. */
#ifndef LMRT_KERNELS_LINEAR_GEMV_H
#define LMRT_KERNELS_LINEAR_GEMV_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/model.h"
#include "base.h"

/* ---- dot-product tiles: up to 4 tokens, any dtype ---------------------------
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

typedef uint8_t lm_u8x8 __attribute__((vector_size(8)));
typedef int32_t lm_i32x8 __attribute__((vector_size(32)));

/* A Q4_0 block's 32 values q - 8 as four 8-lane vectors, in element order:
 * the low nibbles of bytes 0..15 are elements 0..15, the high ones 16..31. */
LM_INLINE void lm_q4_unpack8(const uint8_t *qs, lm_v8 q[4])
{
    for (int h = 0; h < 2; h++) {
        lm_u8x8 b;
        memcpy(&b, qs + 8 * h, sizeof b);
        const lm_i32x8 v = __builtin_convertvector(b, lm_i32x8);
        q[h] = __builtin_convertvector((v & 15) - 8, lm_v8);
        q[2 + h] = __builtin_convertvector((v >> 4) - 8, lm_v8);
    }
}

LM_INLINE void lm_tile_dot(float out[LM_TILE][LM_TILE], const float *const xt[LM_TILE],
                           const void *w, lm_dtype dt, const size_t wr[LM_TILE], int K, int T)
{
    if (dt == LM_Q8_0 || dt == LM_Q4_0) {
        /* Per 32-wide block: products summed in a vector, then scaled by the
         * block's d into a vector accumulator; one horizontal sum per row
         * at the end. The next blocks are prefetched: decode is latency
         * bound like the bf16 path. */
        lm_v8 acc[LM_TILE][LM_TILE];
        for (int t = 0; t < T; t++)
            for (int r = 0; r < LM_TILE; r++)
                acc[t][r] = lm_splat8(0.0f);
        const int nb = K / LM_Q8_BLOCK; /* both block kinds hold 32 weights */
        const size_t bytes = dt == LM_Q8_0 ? LM_Q8_BLOCK_BYTES : LM_Q4_BLOCK_BYTES;
        const uint8_t *row[LM_TILE];
        for (int r = 0; r < LM_TILE; r++)
            row[r] = (const uint8_t *)w + wr[r] / LM_Q8_BLOCK * bytes;
        for (int b = 0; b < nb; b++) {
            if (T == 1 && (b & 1) == 0)
                for (int r = 0; r < LM_TILE; r++)
                    __builtin_prefetch(row[r] + ((size_t)2 * LM_TILE * nb + (size_t)b) * bytes);
            lm_v8 d[LM_TILE], q0[LM_TILE], q1[LM_TILE], q2[LM_TILE], q3[LM_TILE];
            for (int r = 0; r < LM_TILE; r++) {
                const uint8_t *blk = row[r] + (size_t)b * bytes;
                d[r] = lm_splat8(lm_q8_scale(blk));
                if (dt == LM_Q4_0) {
                    lm_v8 q[4];
                    lm_q4_unpack8(blk + 2, q);
                    q0[r] = q[0];
                    q1[r] = q[1];
                    q2[r] = q[2];
                    q3[r] = q[3];
                    continue;
                }
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
        if (T == 1 && (i & 31) == 0)
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


/* Per 32-element chunk of x: the 16 even elements, then the 16 odd ones. */
LM_INLINE void lm_split_even_odd(float *restrict xs, const float *restrict x, int K)
{
    for (int c = 0; c + 32 <= K; c += 32)
        for (int j = 0; j < 16; j++) {
            xs[c + j] = x[c + 2 * j];
            xs[c + 16 + j] = x[c + 2 * j + 1];
        }
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

typedef uint8_t lm_u8x16 __attribute__((vector_size(16)));
typedef int32_t lm_i32x16 __attribute__((vector_size(64)));

/* x . row for one q4_0 row of K (a multiple of 32) weights: per block, the
 * 16 low nibbles (elements 0..15) and the 16 high ones (16..31) widened to
 * f32 less 8, against plain x, then scaled by the block's d. */
LM_INLINE float lm_gemv_q4_row(const uint8_t *restrict row, const float *restrict x, int K)
{
    const int nb = K / LM_Q4_BLOCK;
    lm_v16 a0 = { 0 }, a1 = { 0 };
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = row + (size_t)b * LM_Q4_BLOCK_BYTES;
        __builtin_prefetch(blk + LM_GEMV_AHEAD);
        lm_u8x16 qs;
        memcpy(&qs, blk + 2, sizeof qs);
        const lm_i32x16 v = __builtin_convertvector(qs, lm_i32x16);
        const float *xb = x + (size_t)b * LM_Q4_BLOCK;
        const lm_v16 s = __builtin_convertvector((v & 15) - 8, lm_v16) * lm_load16(xb) +
                         __builtin_convertvector((v >> 4) - 8, lm_v16) * lm_load16(xb + 16);
        if (b & 1)
            a1 += lm_q8_scale(blk) * s;
        else
            a0 += lm_q8_scale(blk) * s;
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

/* The q4_0 block the same way: the nibbles become 32 int8 q - 8 in element
 * order (low nibbles, then high), and one vpmaddwd against the int16 x. */
LM_INLINE __m512 lm_q4_block_i16(const uint8_t *blk, const int16_t *xq, float xd, __m512 acc)
{
    __m128i qs;
    memcpy(&qs, blk + 2, sizeof qs);
    const __m128i mask = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    const __m128i lo = _mm_sub_epi8(_mm_and_si128(qs, mask), eight);
    const __m128i hi = _mm_sub_epi8(_mm_and_si128(_mm_srli_epi16(qs, 4), mask), eight);
    __m512i xv;
    memcpy(&xv, xq, sizeof xv);
    const __m512i prod = _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_set_m128i(hi, lo)), xv);
    return _mm512_fmadd_ps(_mm512_cvtepi32_ps(prod), _mm512_set1_ps(lm_q8_scale(blk) * xd), acc);
}

/* x . row of q8_0 or q4_0 blocks (dt, a constant where it is inlined): two
 * blocks per step into two accumulators, independent FMA chains. (Picking
 * the accumulator by block parity instead measured q8_0 decode 45.5 ->
 * 37.0 tokens/s on Qwen3-0.6B.) */
LM_INLINE __m512 lm_block_i16(const uint8_t *blk, const int16_t *xq, float xd, __m512 acc, lm_dtype dt)
{
    return dt == LM_Q4_0 ? lm_q4_block_i16(blk, xq, xd, acc) : lm_q8_block_i16(blk, xq, xd, acc);
}

LM_INLINE float lm_gemv_blocks_row_i16(const uint8_t *restrict row, const int16_t *restrict xq,
                                       const float *restrict xd, int K, lm_dtype dt)
{
    const int nb = K / LM_Q8_BLOCK;
    const size_t bytes = dt == LM_Q4_0 ? LM_Q4_BLOCK_BYTES : LM_Q8_BLOCK_BYTES;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int b = 0;
    for (; b + 2 <= nb; b += 2) {
        const uint8_t *b0 = row + (size_t)b * bytes;
        __builtin_prefetch(b0 + LM_GEMV_AHEAD);
        a0 = lm_block_i16(b0, xq + b * LM_Q8_BLOCK, xd[b], a0, dt);
        a1 = lm_block_i16(b0 + bytes, xq + (b + 1) * LM_Q8_BLOCK, xd[b + 1], a1, dt);
    }
    if (b < nb)
        a0 = lm_block_i16(row + (size_t)b * bytes, xq + b * LM_Q8_BLOCK, xd[b], a0, dt);
    lm_v16 v;
    const __m512 sum = _mm512_add_ps(a0, a1);
    memcpy(&v, &sum, sizeof v);
    return lm_hsum16(v);
}
#endif

/* out[r] = x . W_r for the rows starting at element offsets wr[r]; xv is x
 * as the row kernel of dt wants it (split for bf16; plain, or quantized to
 * int16 with AVX-512BW, for q8_0 and q4_0). */
LM_INLINE void lm_gemv_rows(float out[LM_GEMV_ROWS], const float *restrict xv, const void *w, lm_dtype dt,
                            const size_t wr[LM_GEMV_ROWS], int K)
{
    for (int r = 0; r < LM_GEMV_ROWS; r++) {
        if (dt == LM_BF16) {
            out[r] = lm_gemv_bf16_row((const uint16_t *)w + wr[r], xv, K);
            continue;
        }
        if (dt == LM_Q4_0) {
            const uint8_t *row = (const uint8_t *)w + wr[r] / LM_Q4_BLOCK * LM_Q4_BLOCK_BYTES;
#if LM_Q8_INT16
            out[r] = lm_gemv_blocks_row_i16(row, (const int16_t *)xv, xv + K / 2, K, LM_Q4_0);
#else
            out[r] = lm_gemv_q4_row(row, xv, K);
#endif
            continue;
        }
        const uint8_t *row = (const uint8_t *)w + wr[r] / LM_Q8_BLOCK * LM_Q8_BLOCK_BYTES;
#if LM_Q8_INT16
        /* xv holds xq (K int16), then xd (K / 32 floats). */
        out[r] = lm_gemv_blocks_row_i16(row, (const int16_t *)xv, xv + K / 2, K, LM_Q8_0);
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

#endif
