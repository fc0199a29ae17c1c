/* Linears over few tokens, streaming the weights: dot products of up to 4
 * tokens x 4 rows for f32, f16 and bf16, and decode's row kernel for bf16
 * (q8_0 and q4_0 go through linear_quant.h). lm_linear_task (linear.h) takes these below LM_GEMM_MIN_TOKENS. */
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

LM_INLINE void lm_tile_dot(float out[LM_TILE][LM_TILE], const float *const xt[LM_TILE],
                           const void *w, lm_dtype dt, const size_t wr[LM_TILE], int K, int T)
{
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

/* ---- decode: one token, bf16 weights ----------------------------
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
#ifndef LM_GEMV_AHEAD
#define LM_GEMV_AHEAD 1024
#endif

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

/* out[r] = x . W_r for the bf16 rows starting at element offsets wr[r];
 * xv is x split as lm_gemv_bf16_row wants it. */
LM_INLINE void lm_gemv_rows(float out[LM_GEMV_ROWS], const float *restrict xv, const void *w,
                            const size_t wr[LM_GEMV_ROWS], int K)
{
    for (int r = 0; r < LM_GEMV_ROWS; r++)
        out[r] = lm_gemv_bf16_row((const uint16_t *)w + wr[r], xv, K);
}

/* ---- batched decode: a few tokens, bf16 weights ---------------------------
 * A server decodes several sequences per forward call, one token each. The
 * row kernel above generalizes: each 32-weight chunk is widened once (one
 * load, two bit operations) and multiplied into every token's even and odd
 * accumulators, a group of tokens at a time; a row's later groups find it
 * in L1, so the weights still come from memory once per call. On AVX2 (16
 * ymm registers) a group is 2 tokens: 8 accumulator registers, 4 for the
 * widened chunk. The 4-token dot-product tile below spills there: 2
 * tokens took 5.1x one token's time on Qwen3-0.6B (260 vs 51 ms a step).
 * AVX-512 keeps the tile (32 registers), not measured against this. */
#if defined(__AVX512F__)
#define LM_GEMV_MAX_TOKENS 1
#else
#define LM_GEMV_MAX_TOKENS 8
#endif
#define LM_GEMV_GROUP 2

/* out[g] = x_g . row for a group of LM_GEMV_GROUP tokens whose split
 * inputs (lm_split_even_odd) are xs[g]. */
LM_INLINE void lm_gemv_bf16_row_group(float out[LM_GEMV_GROUP], const uint16_t *restrict row,
                                      const float *const xs[LM_GEMV_GROUP], int K)
{
    const lm_u32x16 high = (lm_u32x16){ 0 } + 0xffff0000u;
    lm_v16 ae[LM_GEMV_GROUP], ao[LM_GEMV_GROUP];
    for (int g = 0; g < LM_GEMV_GROUP; g++)
        ae[g] = ao[g] = (lm_v16){ 0 };
    for (int k = 0; k < K; k += 32) {
        if ((k & 63) == 0)
            __builtin_prefetch((const char *)(row + k) + LM_GEMV_AHEAD);
        lm_u32x16 pair;
        memcpy(&pair, row + k, sizeof pair);
        const lm_v16 even = (lm_v16)(pair << 16), odd = (lm_v16)(pair & high);
        for (int g = 0; g < LM_GEMV_GROUP; g++) {
            ae[g] += even * lm_load16(xs[g] + k);
            ao[g] += odd * lm_load16(xs[g] + k + 16);
        }
    }
    for (int g = 0; g < LM_GEMV_GROUP; g++)
        out[g] = lm_hsum16(ae[g] + ao[g]);
}

/* out[t][r] = x_t . W_r for n <= LM_GEMV_MAX_TOKENS tokens whose split
 * inputs lie end to end in xs (K floats each) and the bf16 rows at element
 * offsets wr[r]; a partial group repeats its last token. */
LM_INLINE void lm_gemv_rows_tokens(float out[][LM_GEMV_ROWS], const float *restrict xs, int n, const void *w,
                                   const size_t wr[LM_GEMV_ROWS], int K)
{
    for (int r = 0; r < LM_GEMV_ROWS; r++)
        for (int t0 = 0; t0 < n; t0 += LM_GEMV_GROUP) {
            const float *xg[LM_GEMV_GROUP];
            for (int g = 0; g < LM_GEMV_GROUP; g++)
                xg[g] = xs + (size_t)(t0 + g < n ? t0 + g : n - 1) * (size_t)K;
            float dot[LM_GEMV_GROUP];
            lm_gemv_bf16_row_group(dot, (const uint16_t *)w + wr[r], xg, K);
            for (int g = 0; g < LM_GEMV_GROUP && t0 + g < n; g++)
                out[t0 + g][r] = dot[g];
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
