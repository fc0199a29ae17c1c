/* Linears on the bf16 instructions: AVX-512 BF16 dot products and AMX
 * tiles. Both multiply bf16 by bf16 into f32 sums, and a product of two
 * bf16 values is exact in f32, so what matters is how the operands become
 * bf16:
 *   - lmcc build --matmul-input bf16: a linear rounds its input to bf16
 *     (nearest even), as transformers does when it runs a bf16 model; the
 *     one change from f32 inputs (relative error at most 2^-9). Batches on
 *     AMX, else on vdpbf16ps (32 bf16 pairs into 16 f32 lanes per
 *     instruction, bf16 weights as stored); decode on vdpbf16ps; elsewhere
 *     the inputs are rounded in f32 for the f32 kernels: the same numbers.
 *   - f32 inputs (the default) on AMX: each input as two bf16 parts,
 *     hi + lo within 2^-17, both multiplied into the same sums; f16
 *     weights split into two parts the same way (linear_amx.h).
 *
 * This file decides which of the two the target has (LM_DPBF16, LM_AMX)
 * and holds the vdpbf16ps kernels; the AMX ones are in linear_amx.h. */
#ifndef LMRT_KERNELS_LINEAR_BF16_H
#define LMRT_KERNELS_LINEAR_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "base.h"
#include "linear_epilogue.h"
#include "linear_gemm.h"
#include "linear_gemv.h"

#if defined(__AVX512BF16__)
#define LM_DPBF16 1
#else
#define LM_DPBF16 0
#endif

/* AMX (its kernels, in linear_amx.h, need AVX-512 BF16 as well, which
 * every AMX CPU has); -DLM_NO_AMX leaves it out. */
#if LM_DPBF16 && (defined(__AMXBF16__) || defined(__AMX_BF16__)) && \
    (defined(__AMXTILE__) || defined(__AMX_TILE__)) && defined(__linux__) && defined(__x86_64__) && \
    !defined(LM_NO_AMX)
#define LM_AMX 1
#else
#define LM_AMX 0
#endif

/* What a batch multiplies with (--bench's matmul_kernel): bf16 inputs;
 * f32 inputs to bf16 weights (two tile products per weight tile); f32
 * inputs to f16 weights split in two bf16 parts too (three). The
 * AMX kernels fall back if Linux refuses the tile state, which
 * lmcc-limits then reports as missing too. */
#if LM_AMX
#define LM_BF16_KERNEL "amx-bf16"
#define LM_F32_BF16W_KERNEL "amx-bf16x2"
#define LM_F32_SPLITW_KERNEL "amx-bf16x3"
#else
#if LM_DPBF16
#define LM_BF16_KERNEL "avx512-bf16"
#else
#define LM_BF16_KERNEL "f32-fma"
#endif
#define LM_F32_BF16W_KERNEL "f32-fma"
#define LM_F32_SPLITW_KERNEL "f32-fma"
#endif

/* dst[i] = src[i] rounded to bf16 and back to f32, for the f32 kernels. */
LM_INLINE void lm_round_bf16(float *dst, const float *src, size_t count)
{
    for (size_t i = 0; i < count; i++)
        dst[i] = lm_bf16_to_f32(lm_f32_to_bf16(src[i]));
}

#if LM_DPBF16

/* dst[i] = src[i] as bf16 bits. (The instruction treats f32 subnormals as
 * zero; the scalar tail does not. Activations that small do not occur.) */
LM_INLINE void lm_to_bf16(uint16_t *restrict dst, const float *restrict src, size_t count)
{
    size_t i = 0;
    for (; i + 32 <= count; i += 32) {
        const __m512 lo = _mm512_loadu_ps(src + i), hi = _mm512_loadu_ps(src + i + 16);
        const __m512bh h = _mm512_cvtne2ps_pbh(hi, lo);
        memcpy(dst + i, &h, sizeof h);
    }
    for (; i < count; i++)
        dst[i] = lm_f32_to_bf16(src[i]);
}

LM_INLINE __m512bh lm_load_bh(const void *p)
{
    __m512bh v;
    memcpy(&v, p, sizeof v);
    return v;
}

LM_INLINE float lm_hsum_m512(__m512 v)
{
    lm_v16 u;
    memcpy(&u, &v, sizeof u);
    return lm_hsum16(u);
}

/* x . row for one bf16 row of K (a multiple of 32) weights against the
 * bf16 input xh: one vdpbf16ps per 64 bytes, two independent chains.
 * Prefetch and the start in a line pair's first half as lm_gemv_bf16_row. */
LM_INLINE float lm_gemv_dpbf16_row(const uint16_t *restrict row, const uint16_t *restrict xh, int K)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int k = 0;
    if ((uintptr_t)row & 64) {
        a0 = _mm512_dpbf16_ps(a0, lm_load_bh(row), lm_load_bh(xh));
        k = 32;
    }
    for (; k + 64 <= K; k += 64) {
        __builtin_prefetch((const char *)(row + k) + LM_GEMV_AHEAD);
        __builtin_prefetch((const char *)(row + k) + LM_GEMV_AHEAD + 64);
        a0 = _mm512_dpbf16_ps(a0, lm_load_bh(row + k), lm_load_bh(xh + k));
        a1 = _mm512_dpbf16_ps(a1, lm_load_bh(row + k + 32), lm_load_bh(xh + k + 32));
    }
    if (k < K)
        a0 = _mm512_dpbf16_ps(a0, lm_load_bh(row + k), lm_load_bh(xh + k));
    return lm_hsum_m512(_mm512_add_ps(a0, a1));
}

/* ---- a few tokens on rows as stored ---------------------------------------
 * Packing a 32-row block costs about a pass over its weights, paid once per
 * call: nothing for a dense prefill's 256-token chunk, most of the time for
 * a mixture-of-experts layer, whose experts each get a handful of a batch's
 * tokens. Below LM_DPBF16_PACK_TOKENS tokens the rows are multiplied as the
 * checkpoint stores them: per 32 columns, 4 rows' 64-byte loads and 6
 * tokens' inputs, 24 vdpbf16ps into 24 accumulators (each a row-token
 * pair's 16 partial sums, added up at the end). Measured on Zen 4, 2
 * threads (Qwen3-0.6B prompts; Qwen3-30B-A3B's layers, 512 tokens): from 4
 * to 100 tokens this is 1.0-1.7x the packed kernel, and a threshold of 128
 * gave the MoE prefill 382-401 tokens/s against 365-377 with 32 and
 * 345-348 with no packing at all; a dense 256-token chunk is 25% faster
 * packed. */
#define LM_DPT_ROWS 4
#define LM_DPT_TOKENS 6
#ifndef LM_DPBF16_PACK_TOKENS
#define LM_DPBF16_PACK_TOKENS 128
#endif

/* out[t][r] = x_t . row r, for LM_DPT_TOKENS inputs xt and LM_DPT_ROWS rows
 * wr of K (a multiple of 32) bf16 values. */
LM_INLINE void lm_dot_tile_dpbf16(float out[LM_DPT_TOKENS][LM_DPT_ROWS], const uint16_t *const wr[LM_DPT_ROWS],
                                  const uint16_t *const xt[LM_DPT_TOKENS], int K)
{
    __m512 acc[LM_DPT_TOKENS][LM_DPT_ROWS];
    LM_UNROLL(LM_DPT_TOKENS)
    for (int t = 0; t < LM_DPT_TOKENS; t++) {
        LM_UNROLL(LM_DPT_ROWS)
        for (int r = 0; r < LM_DPT_ROWS; r++)
            acc[t][r] = _mm512_setzero_ps();
    }
    for (int k = 0; k < K; k += 32) {
        __m512bh w[LM_DPT_ROWS];
        LM_UNROLL(LM_DPT_ROWS)
        for (int r = 0; r < LM_DPT_ROWS; r++)
            w[r] = lm_load_bh(wr[r] + k);
        LM_UNROLL(LM_DPT_TOKENS)
        for (int t = 0; t < LM_DPT_TOKENS; t++) {
            const __m512bh xv = lm_load_bh(xt[t] + k);
            LM_UNROLL(LM_DPT_ROWS)
            for (int r = 0; r < LM_DPT_ROWS; r++)
                acc[t][r] = _mm512_dpbf16_ps(acc[t][r], w[r], xv);
        }
    }
    LM_UNROLL(LM_DPT_TOKENS)
    for (int t = 0; t < LM_DPT_TOKENS; t++) {
        LM_UNROLL(LM_DPT_ROWS)
        for (int r = 0; r < LM_DPT_ROWS; r++)
            out[t][r] = lm_hsum_m512(acc[t][r]);
    }
}

/* xt[0..slots) = the bf16 inputs of tokens t0 .. t0 + nt - 1 of xh ([*, K]),
 * the last repeated to fill a tile (its extra sums are not stored). */
LM_INLINE void lm_tile_inputs(const uint16_t **xt, int slots, const uint16_t *xh, int t0, int nt, int K)
{
    for (int t = 0; t < slots; t++)
        xt[t] = xh + (size_t)(t0 + (t < nt ? t : nt - 1)) * K;
}

/* Output rows [r0, r0 + nr) of part p for the n tokens of xh, by
 * lm_dot_tile_dpbf16: a short row or token group repeats its last member,
 * whose extra sums are not stored. */
LM_INLINE void lm_linear_rows_dpbf16(const lm_linear_args *a, int p, int out, int r0, int nr, const uint16_t *xh,
                                     int K, lm_linear_mode mode)
{
    const int gated = mode != LM_LINEAR_PLAIN;
    const uint16_t *wg = (const uint16_t *)a->w[p], *wu = (const uint16_t *)a->w[1];
    for (int q0 = r0; q0 < r0 + nr; q0 += LM_DPT_ROWS) {
        const int qn = r0 + nr - q0 < LM_DPT_ROWS ? r0 + nr - q0 : LM_DPT_ROWS;
        const uint16_t *rg[LM_DPT_ROWS], *ru[LM_DPT_ROWS];
        for (int r = 0; r < LM_DPT_ROWS; r++) {
            const size_t off = (size_t)(q0 + (r < qn ? r : qn - 1)) * (size_t)K;
            rg[r] = wg + off;
            ru[r] = gated ? wu + off : rg[r];
        }
        for (int t0 = 0; t0 < a->n; t0 += LM_DPT_TOKENS) {
            const int nt = a->n - t0 < LM_DPT_TOKENS ? a->n - t0 : LM_DPT_TOKENS;
            const uint16_t *xt[LM_DPT_TOKENS];
            lm_tile_inputs(xt, LM_DPT_TOKENS, xh, t0, nt, K);
            float acc[LM_DPT_TOKENS][LM_DPT_ROWS], up[LM_DPT_TOKENS][LM_DPT_ROWS];
            lm_dot_tile_dpbf16(acc, rg, xt, K);
            if (gated)
                lm_dot_tile_dpbf16(up, ru, xt, K);
            lm_linear_store(a, mode, p, out, t0, nt, q0, qn, &acc[0][0], gated ? &up[0][0] : NULL, LM_DPT_ROWS);
        }
    }
}

/* Rows [r0, r0 + nr) of the bf16 matrix w ([*, K]) packed k-major in pairs
 * for the tile kernel: wp[k / 2][32] holds (w[r][k], w[r][k + 1]) as one
 * u32, low half first, as a row already stores them. Rows past nr are
 * zero. Chunks of 64 pairs go through an L1 buffer so the stores to wp are
 * sequential, as in lm_pack_rows. */
LM_INLINE void lm_pack_pairs(uint32_t *restrict wp, const uint16_t *w, int r0, int nr, int K)
{
    enum { KC = 64 };
    uint32_t buf[LM_GEMM_ROWS][KC];
    const int K2 = K / 2;
    for (int k0 = 0; k0 < K2; k0 += KC) {
        const int kn = K2 - k0 < KC ? K2 - k0 : KC;
        for (int r = 0; r < LM_GEMM_ROWS; r++) {
            if (r < nr)
                memcpy(buf[r], w + (size_t)(r0 + r) * (size_t)K + 2 * (size_t)k0, sizeof(uint32_t) * (size_t)kn);
            else
                memset(buf[r], 0, sizeof buf[r]);
        }
        for (int k = 0; k < kn; k++) {
            uint32_t *dst = wp + (size_t)(k0 + k) * LM_GEMM_ROWS;
            for (int r = 0; r < LM_GEMM_ROWS; r++)
                dst[r] = buf[r][k];
        }
    }
}

/* out[t][0..32) = x_t . (packed rows) for LM_GEMM_TOKENS tokens of bf16
 * input: per pair of k, two 16-row weight vectors times eight broadcast
 * input pairs, 16 vdpbf16ps into 16 accumulators, as lm_gemm_tile. */
LM_INLINE void lm_gemm_tile_dpbf16(float out[LM_GEMM_TOKENS][LM_GEMM_ROWS], const uint16_t *const xt[LM_GEMM_TOKENS],
                                   const uint32_t *restrict wp, int K)
{
    __m512 a0[LM_GEMM_TOKENS], a1[LM_GEMM_TOKENS];
    for (int t = 0; t < LM_GEMM_TOKENS; t++) {
        a0[t] = _mm512_setzero_ps();
        a1[t] = _mm512_setzero_ps();
    }
    for (int k2 = 0; k2 < K / 2; k2++) {
        const __m512bh w0 = lm_load_bh(wp + (size_t)k2 * LM_GEMM_ROWS);
        const __m512bh w1 = lm_load_bh(wp + (size_t)k2 * LM_GEMM_ROWS + 16);
        for (int t = 0; t < LM_GEMM_TOKENS; t++) {
            uint32_t pair;
            memcpy(&pair, xt[t] + 2 * k2, sizeof pair);
            const __m512bh xv = (__m512bh)_mm512_set1_epi32((int)pair);
            a0[t] = _mm512_dpbf16_ps(a0[t], xv, w0);
            a1[t] = _mm512_dpbf16_ps(a1[t], xv, w1);
        }
    }
    for (int t = 0; t < LM_GEMM_TOKENS; t++) {
        memcpy(out[t], &a0[t], sizeof a0[t]);
        memcpy(out[t] + 16, &a1[t], sizeof a1[t]);
    }
}

/* Output rows [r0, r0 + nr) of part p for all n tokens of the bf16 input
 * xh ([n, K]): the packed tile kernel for a batch, the row-streaming gemv
 * (token by token over rows still in cache) for fewer tokens. wp: scratch
 * for packed rows (32 x K floats, twice when gated). */
LM_INLINE void lm_linear_block_dpbf16(const lm_linear_args *a, int p, int out, int r0, int nr, const uint16_t *xh,
                                      int K, lm_linear_mode mode, float *wp)
{
    const int gated = mode != LM_LINEAR_PLAIN;
    const int n = a->n;
    if (n >= 2 && n < LM_DPBF16_PACK_TOKENS) {
        lm_linear_rows_dpbf16(a, p, out, r0, nr, xh, K, mode);
        return;
    }
    if (n >= LM_GEMM_MIN_TOKENS) {
        uint32_t *wg = (uint32_t *)wp, *wu = (uint32_t *)(wp + (size_t)K * LM_GEMM_ROWS);
        lm_pack_pairs(wg, (const uint16_t *)a->w[p], r0, nr, K);
        if (gated)
            lm_pack_pairs(wu, (const uint16_t *)a->w[1], r0, nr, K);
        for (int t0 = 0; t0 < n; t0 += LM_GEMM_TOKENS) {
            const int nt = n - t0 < LM_GEMM_TOKENS ? n - t0 : LM_GEMM_TOKENS;
            const uint16_t *xt[LM_GEMM_TOKENS];
            lm_tile_inputs(xt, LM_GEMM_TOKENS, xh, t0, nt, K);
            float acc[LM_GEMM_TOKENS][LM_GEMM_ROWS], up[LM_GEMM_TOKENS][LM_GEMM_ROWS];
            lm_gemm_tile_dpbf16(acc, xt, wg, K);
            if (gated)
                lm_gemm_tile_dpbf16(up, xt, wu, K);
            lm_linear_store(a, mode, p, out, t0, nt, r0, nr, &acc[0][0], gated ? &up[0][0] : NULL, LM_GEMM_ROWS);
        }
        return;
    }
    const uint16_t *wg = (const uint16_t *)a->w[p], *wu = (const uint16_t *)a->w[1];
    for (int q0 = r0; q0 < r0 + nr; q0 += LM_GEMV_ROWS) {
        const int qn = r0 + nr - q0 < LM_GEMV_ROWS ? r0 + nr - q0 : LM_GEMV_ROWS;
        for (int t = 0; t < n; t++) {
            const uint16_t *xr = xh + (size_t)t * K;
            float acc[LM_GEMV_ROWS], up[LM_GEMV_ROWS];
            for (int r = 0; r < qn; r++) {
                const size_t off = (size_t)(q0 + r) * (size_t)K;
                acc[r] = lm_gemv_dpbf16_row(wg + off, xr, K);
                if (gated)
                    up[r] = lm_gemv_dpbf16_row(wu + off, xr, K);
            }
            lm_linear_store(a, mode, p, out, t, 1, q0, qn, acc, gated ? up : NULL, LM_GEMV_ROWS);
        }
    }
}

#endif /* LM_DPBF16 */

#endif
