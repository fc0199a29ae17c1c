/* The linear op on q8_0 and q4_0 weights, for any number of tokens: the
 * input quantized once per call to int8 per 32-block (as llama.cpp does
 * for these types), then integer dot products over the 16-row groups of
 * core/qlayout.h, one f32 scale step per block.
 *
 * Per token and block b: xq (32 int8), xd = max|x| / 127 and xs = the sum
 * of xq. A row's block contributes dw * xd * (sum q_u * xq - off * xs),
 * where q_u is the stored unsigned quant and off its offset (128 for q8_0,
 * 8 for q4_0): the integer part is exact (|sum| < 2^24), so the only
 * rounding beyond the weights' own is the input's to int8 (relative 2^-8,
 * the weights' own step). With AVX-512 VNNI, one vpdpbusd multiplies 16
 * rows by 4 inputs; a block of 16 rows is 8 of them for 512 products,
 * against 16 conversions and FMAs per 16 products for f32 (measured on
 * Zen 4: q4_0 decode at 2.1x the int16 row kernel it replaces). */
#ifndef LMRT_KERNELS_LINEAR_QUANT_H
#define LMRT_KERNELS_LINEAR_QUANT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/pool.h"
#include "../core/qlayout.h"
#include "base.h"
#include "linear_epilogue.h"

/* Bytes of one token's quantized input: K int8, then K / 32 f32 scales,
 * then K / 32 int32 sums. */
#define LM_QX_BYTES(K) ((size_t)(K) + (size_t)(K) / 32 * 8)

/* How far ahead of its loads decode prefetches the weights (Qwen3-0.6B
 * q4_0 decode, 2 threads, in one run: none 77, 2 KiB 84, 4 KiB 90, 8 KiB
 * like 4, 16 KiB no better; tokens/s). */
#ifndef LM_QPREFETCH
#define LM_QPREFETCH 4096
#endif

/* Tokens that share one pass over a group's weights in a batch. */
#define LM_QTILE 8

#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
#define LM_QUANT_VNNI 1
#else
#define LM_QUANT_VNNI 0
#endif

/* One token's x[K] into dst (LM_QX_BYTES(K)); rounded to bf16 first when
 * xbf16 (--matmul-input bf16 applies before the int8 step). The int8 value
 * is x * (127 / max|x|) rounded to nearest, ties to even, in f32 (rintf in
 * the default rounding mode; vcvtps2dq the same). */
LM_INLINE void lm_quantize_x_q8(uint8_t *restrict dst, const float *restrict x, int K, int xbf16)
{
    int8_t *q = (int8_t *)dst;
    float *xd = (float *)(dst + K);
    int32_t *xs = (int32_t *)(dst + K + K / 32 * 4);
    for (int b = 0; b < K / 32; b++) {
        float v[32];
        for (int i = 0; i < 32; i++)
            v[i] = xbf16 ? lm_bf16_to_f32(lm_f32_to_bf16(x[b * 32 + i])) : x[b * 32 + i];
#if LM_QUANT_VNNI
        const __m512 v0 = _mm512_loadu_ps(v), v1 = _mm512_loadu_ps(v + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
        const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        const __m512i q0 = _mm512_cvtps_epi32(_mm512_mul_ps(v0, _mm512_set1_ps(id)));
        const __m512i q1 = _mm512_cvtps_epi32(_mm512_mul_ps(v1, _mm512_set1_ps(id)));
        _mm_storeu_si128((__m128i *)(q + b * 32), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(q + b * 32 + 16), _mm512_cvtepi32_epi8(q1));
        xs[b] = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
#else
        float amax = 0.0f;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(v[i]));
        const float id = amax > 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        for (int i = 0; i < 32; i++) {
            const int8_t qi = (int8_t)rintf(v[i] * id);
            q[b * 32 + i] = qi;
            sum += qi;
        }
        xs[b] = sum;
#endif
        xd[b] = amax / 127.0f;
    }
}

/* What a batch multiplies with (--bench's matmul_kernel). */
#if LM_QUANT_VNNI
#define LM_QUANT_KERNEL "int8-vnni"
#else
#define LM_QUANT_KERNEL "int8"
#endif

/* The output rows [*r0, *r1) of part p that thread tid takes: the parts'
 * rows laid end to end, cut into 32-row blocks (two groups), one run of
 * blocks per thread. */
LM_INLINE void lm_quant_thread_rows(int tid, int nthreads, int nouts, const int *outs, int p, int *r0, int *r1)
{
    enum { BLOCK_ROWS = 2 * LM_QROWS };
    int total = 0, block0 = 0;
    for (int q = 0; q < nouts; q++) {
        if (q < p)
            block0 += (outs[q] + BLOCK_ROWS - 1) / BLOCK_ROWS;
        total += (outs[q] + BLOCK_ROWS - 1) / BLOCK_ROWS;
    }
    int bb, be;
    lm_split(total, tid, nthreads, &bb, &be);
    const int pblocks = (outs[p] + BLOCK_ROWS - 1) / BLOCK_ROWS;
    const int b = bb > block0 ? bb - block0 : 0;
    const int e = be - block0 < pblocks ? be - block0 : pblocks;
    *r0 = b * BLOCK_ROWS;
    *r1 = e * BLOCK_ROWS < outs[p] ? e * BLOCK_ROWS : outs[p];
}

#if LM_QUANT_VNNI
/* The 16 rows' scales of group block blk (block b of its group): d, or for
 * q4_k8 ds * sc, with its mins dm * mn in *mw. ds and dm carry q4_k8's
 * super-block values from one block to the next. */
LM_INLINE __m512 lm_qblock_scales(const uint8_t *blk, lm_dtype dt, int b, __m512 *ds, __m512 *dm, __m512 *mw)
{
    if (dt != LM_Q4_K8) {
        *mw = _mm512_setzero_ps();
        return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)blk));
    }
    if (b % LM_Q4K8_SUPER == 0) {
        const uint8_t *head = blk - LM_Q4K8_HEADER_BYTES;
        *ds = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)head));
        *dm = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(head + 2 * LM_QROWS)));
    }
    *mw = _mm512_mul_ps(*dm, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(blk + LM_QROWS)))));
    return _mm512_mul_ps(*ds, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)blk))));
}

/* out[t][r] = x_t . row r of the group at g (its first group block), for
 * nt tokens (a constant where inlined; xt[t] their quantized inputs). */
LM_INLINE void lm_qgroup_dot(float out[][LM_QROWS], const uint8_t *restrict g, const uint8_t *const xt[], int K,
                             lm_dtype dt, int nt)
{
    const int nb = K / 32;
    const size_t gb = lm_qgroup_block_bytes(dt);
    const int off = dt == LM_Q4_0 ? 8 : dt == LM_Q8_0 ? 128 : 0;
    const __m512i nibble = _mm512_set1_epi8(15);
    __m512 ds = _mm512_setzero_ps(), dm = _mm512_setzero_ps(); /* q4_k8: the super-block's */
    /* The token loops unrolled in full, so acc stays in registers (left to
     * clang, down_proj's K = 3072 kept it on the stack: a third of the
     * speed). */
    __m512 acc[LM_QTILE];
    LM_UNROLL(LM_QTILE)
    for (int t = 0; t < nt; t++)
        acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const uint8_t *blk = g + lm_qblock_offset(dt, (size_t)b), *qs = blk + LM_QSCALES_BYTES;
        if (nt == 1)
            for (size_t line = 0; line < gb; line += 64)
                __builtin_prefetch(blk + LM_QPREFETCH + line);
        __m512i w[8];
        if (dt != LM_Q8_0) {
            for (int j = 0; j < 4; j++) {
                const __m512i v = _mm512_loadu_si512(qs + 64 * j);
                w[j] = _mm512_and_si512(v, nibble);
                w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nibble);
            }
        } else {
            for (int j = 0; j < 8; j++)
                w[j] = _mm512_loadu_si512(qs + 64 * j);
        }
        __m512 mw;
        const __m512 dw = lm_qblock_scales(blk, dt, b, &ds, &dm, &mw);
        LM_UNROLL(LM_QTILE)
        for (int t = 0; t < nt; t++) {
            const uint8_t *x = xt[t];
            int32_t x4[8];
            memcpy(x4, x + (size_t)b * 32, sizeof x4);
            const float xd = ((const float *)(x + K))[b];
            const int32_t xs = ((const int32_t *)(x + K + nb * 4))[b];
            __m512i d;
            if (nt == 1) {
                /* Decode: two chains of four, so a block is not one serial chain. */
                __m512i d0 = _mm512_dpbusd_epi32(_mm512_set1_epi32(-off * xs), w[0], _mm512_set1_epi32(x4[0]));
                __m512i d1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), w[1], _mm512_set1_epi32(x4[1]));
                d0 = _mm512_dpbusd_epi32(d0, w[2], _mm512_set1_epi32(x4[2]));
                d1 = _mm512_dpbusd_epi32(d1, w[3], _mm512_set1_epi32(x4[3]));
                d0 = _mm512_dpbusd_epi32(d0, w[4], _mm512_set1_epi32(x4[4]));
                d1 = _mm512_dpbusd_epi32(d1, w[5], _mm512_set1_epi32(x4[5]));
                d0 = _mm512_dpbusd_epi32(d0, w[6], _mm512_set1_epi32(x4[6]));
                d1 = _mm512_dpbusd_epi32(d1, w[7], _mm512_set1_epi32(x4[7]));
                d = _mm512_add_epi32(d0, d1);
            } else {
                /* A batch: the tokens are the independent chains, and one
                 * register a token keeps the tile clear of spills. */
                d = _mm512_set1_epi32(-off * xs);
                LM_UNROLL(8)
                for (int k = 0; k < 8; k++)
                    d = _mm512_dpbusd_epi32(d, w[k], _mm512_set1_epi32(x4[k]));
            }
            const __m512 dot = _mm512_cvtepi32_ps(d);
            acc[t] = _mm512_fmadd_ps(dot, _mm512_mul_ps(dw, _mm512_set1_ps(xd)), acc[t]);
            if (dt == LM_Q4_K8)
                acc[t] = _mm512_fnmadd_ps(mw, _mm512_set1_ps(xd * (float)xs), acc[t]);
        }
    }
    LM_UNROLL(LM_QTILE)
    for (int t = 0; t < nt; t++)
        _mm512_storeu_ps(out[t], acc[t]);
}
#else
/* The same sums in portable C, in the same order per row. */
LM_INLINE void lm_qgroup_dot(float out[][LM_QROWS], const uint8_t *restrict g, const uint8_t *const xt[], int K,
                             lm_dtype dt, int nt)
{
    const int nb = K / 32;
    const int off = dt == LM_Q4_0 ? 8 : dt == LM_Q8_0 ? 128 : 0;
    for (int t = 0; t < nt; t++) {
        const uint8_t *x = xt[t];
        const int8_t *xq = (const int8_t *)x;
        const float *xd = (const float *)(x + K);
        const int32_t *xs = (const int32_t *)(x + K + nb * 4);
        float acc[LM_QROWS] = { 0 };
        for (int b = 0; b < nb; b++) {
            const uint8_t *blk = g + lm_qblock_offset(dt, (size_t)b), *qs = blk + LM_QSCALES_BYTES;
            int32_t dot[LM_QROWS];
            for (int r = 0; r < LM_QROWS; r++)
                dot[r] = -off * xs[b];
            for (int k = 0; k < 8; k++) {
                /* Input dword k pairs with chunk k (q8_0), or with chunk k % 4's
                 * low (k < 4) or high nibbles (q4_0). */
                const int8_t *xk = xq + b * 32 + 4 * k;
                const uint8_t *chunk = qs + 64 * (dt == LM_Q8_0 ? k : k % 4);
                for (int r = 0; r < LM_QROWS; r++)
                    for (int i = 0; i < 4; i++) {
                        int q = chunk[4 * r + i];
                        if (dt != LM_Q8_0)
                            q = k < 4 ? q & 15 : q >> 4;
                        dot[r] += q * xk[i];
                    }
            }
            const uint8_t *head = dt == LM_Q4_K8 ? lm_q4k8_header(blk, (size_t)b) : NULL;
            for (int r = 0; r < LM_QROWS; r++) {
                if (dt == LM_Q4_K8) {
                    uint16_t ds, dm;
                    memcpy(&ds, head + 2 * r, 2);
                    memcpy(&dm, head + 2 * LM_QROWS + 2 * r, 2);
                    const float sw = lm_f16_to_f32(ds) * (float)blk[r], mw = lm_f16_to_f32(dm) * (float)blk[LM_QROWS + r];
                    acc[r] = fmaf((float)dot[r], sw * xd[b], acc[r]);
                    acc[r] = fmaf(-mw, xd[b] * (float)xs[b], acc[r]);
                    continue;
                }
                uint16_t h;
                memcpy(&h, blk + 2 * r, 2);
                acc[r] = fmaf((float)dot[r], lm_f16_to_f32(h) * xd[b], acc[r]);
            }
        }
        memcpy(out[t], acc, sizeof acc);
    }
}
#endif

/* One thread's share of a linear on quantized weights, called by
 * lm_linear_task with x already normalized. The parts' output rows are
 * laid end to end and cut into 32-row blocks, one run per thread; each
 * block is two groups, each group is read once per LM_QTILE tokens.
 * scratch: n * LM_QX_BYTES(K) bytes for the quantized input. */
LM_INLINE void lm_linear_quant_task(const lm_linear_args *a, const float *x, float *scratch, int tid, int nthreads,
                                    int K, int nparts, const int *outs, lm_dtype dt, lm_linear_mode mode, int xbf16)
{
    const int n = a->n;
    uint8_t *xq = (uint8_t *)scratch;
    for (int t = 0; t < n; t++)
        lm_quantize_x_q8(xq + (size_t)t * LM_QX_BYTES(K), x + (size_t)t * K, K, xbf16);
    const int gated = mode != LM_LINEAR_PLAIN; /* two weights, one output */
    const int nouts = gated ? 1 : nparts;
    for (int p = 0; p < nouts; p++) {
        const int out = outs[p];
        int r_begin, r_end;
        lm_quant_thread_rows(tid, nthreads, nouts, outs, p, &r_begin, &r_end);
        for (int r0 = r_begin; r0 < r_end; r0 += LM_QROWS) {
            const int nr = out - r0 < LM_QROWS ? out - r0 : LM_QROWS;
            const size_t group = (size_t)r0 / LM_QROWS * lm_qgroup_bytes(dt, (size_t)K);
            const uint8_t *g = (const uint8_t *)a->w[p] + group;
            const uint8_t *gu = gated ? (const uint8_t *)a->w[1] + group : NULL;
            for (int t0 = 0; t0 < n; t0 += LM_QTILE) {
                const int nt = n - t0 < LM_QTILE ? n - t0 : LM_QTILE;
                const uint8_t *xt[LM_QTILE];
                for (int t = 0; t < LM_QTILE; t++)
                    xt[t] = xq + (size_t)(t0 + (t < nt ? t : nt - 1)) * LM_QX_BYTES(K);
                float acc[LM_QTILE][LM_QROWS], up[LM_QTILE][LM_QROWS];
                /* Decode gets its own copy; a partial tile repeats its last
                 * token, so one batch kernel serves every other size. */
                if (nt == 1) {
                    lm_qgroup_dot(acc, g, xt, K, dt, 1);
                    if (gated)
                        lm_qgroup_dot(up, gu, xt, K, dt, 1);
                } else {
                    lm_qgroup_dot(acc, g, xt, K, dt, LM_QTILE);
                    if (gated)
                        lm_qgroup_dot(up, gu, xt, K, dt, LM_QTILE);
                }
                lm_linear_store(a, mode, p, out, t0, nt, r0, nr, &acc[0][0], gated ? &up[0][0] : NULL, LM_QROWS);
            }
        }
    }
}

#endif
