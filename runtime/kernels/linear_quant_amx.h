/* The linear op on q8_0, q4_0 and q4_k8 weights for a batch, on AMX int8
 * tiles where the CPU has them (Intel Sapphire Rapids and later).
 *
 * The sums are linear_quant.h's, exactly: per token t, row r and 32-block
 * b, dw[r,b] * xd[t,b] * (integer dot of the weights' and the input's
 * int8 values), added in f32 block after block in the same order, so the
 * results equal the VNNI kernel's bit for bit. Only the integer dots move
 * to the tile unit: one tdpbssd multiplies 16 tokens' 32 int8 inputs (the
 * A tile, read in place from the quantized input: 16 rows of 32 bytes at
 * the token stride) by 16 weight rows' 32 int8 values (the B tile: 8 rows
 * of 64 bytes, row k holding elements 4k..4k+3 of each weight row, which
 * is core/qlayout.h's chunk order) into 16 x 16 int32 sums. The per-block
 * scales then need one f32 multiply-add per sum, in AVX-512, while the
 * tile unit works on the next block.
 *
 * The weights are stored unsigned (core/qlayout.h); a 16-row group is
 * unpacked once per call into a signed panel (q8_0: q; q4_0: q - 8; q4_k8:
 * q), with its scales as f32, and every 16-token tile of the batch then
 * reads it from L1/L2, so no offset correction is needed in the sums. */
#ifndef LMRT_KERNELS_LINEAR_QUANT_AMX_H
#define LMRT_KERNELS_LINEAR_QUANT_AMX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/pool.h"
#include "../core/qlayout.h"
#include "base.h"
#include "linear_amx.h"
#include "linear_epilogue.h"
#include "linear_quant.h"

#if LM_AMX && LM_QUANT_VNNI && (defined(__AMXINT8__) || defined(__AMX_INT8__))
#define LM_AMX_INT8 1
#else
#define LM_AMX_INT8 0
#endif

/* What a batch multiplies with (--bench's matmul_kernel). */
#if LM_AMX_INT8
#define LM_QBATCH_KERNEL "amx-int8"
#else
#define LM_QBATCH_KERNEL LM_QUANT_KERNEL
#endif

/* One 32-block of a group in the panel: 8 x 64 signed quants (the B tile),
 * then the 16 rows' scales and (q4_k8) mins as f32. */
#define LM_QPANEL_BLOCK_BYTES (512 + 2 * 64)

/* Scratch a thread needs for a batch of n tokens of width K: the quantized
 * input padded to whole 16-token tiles, then two panels (gate and up). */
#define LM_QAMX_SCRATCH_BYTES(n, K)                                                                                    \
    ((size_t)(((n) + 15) / 16 * 16) * LM_QX_BYTES(K) + 2 * (size_t)(K) / 32 * LM_QPANEL_BLOCK_BYTES)

#if LM_AMX_INT8

/* Two sets of tiles, so that one block's product runs while the one
 * before it is stored and scaled: sums 0 and 1 (16 tokens x 16 rows of
 * int32), inputs 2 and 4 (16 tokens x 32 int8), weights 3 and 5 (8 x 64).
 * With one set every block waited for its own product (perf: 60% of the
 * samples on the tile store after tdpbssd). */
LM_INLINE void lm_qamx_begin(void)
{
    static const uint8_t rows[8] = { 16, 16, 16, 8, 16, 8, 0, 0 };
    static const uint16_t colsb[8] = { 64, 64, 32, 64, 32, 64, 0, 0 };
    lm_amx_configure(rows, colsb);
}

/* The 16-row group at g (K / 32 group blocks) as a signed panel. */
LM_INLINE void lm_qamx_unpack(uint8_t *restrict panel, const uint8_t *restrict g, int K, lm_dtype dt)
{
    const __m512i nibble = _mm512_set1_epi8(15), eight = _mm512_set1_epi8(8), flip = _mm512_set1_epi8(-128);
    __m512 ds = _mm512_setzero_ps(), dm = _mm512_setzero_ps();
    for (int b = 0; b < K / 32; b++) {
        const uint8_t *blk = g + lm_qblock_offset(dt, (size_t)b), *qs = blk + LM_QSCALES_BYTES;
        uint8_t *dst = panel + (size_t)b * LM_QPANEL_BLOCK_BYTES;
        if (dt == LM_Q8_0) {
            for (int j = 0; j < 8; j++)
                _mm512_storeu_si512(dst + 64 * j, _mm512_xor_si512(_mm512_loadu_si512(qs + 64 * j), flip));
        } else {
            const __m512i off = dt == LM_Q4_0 ? eight : _mm512_setzero_si512();
            for (int j = 0; j < 4; j++) {
                const __m512i v = _mm512_loadu_si512(qs + 64 * j);
                _mm512_storeu_si512(dst + 64 * j, _mm512_sub_epi8(_mm512_and_si512(v, nibble), off));
                _mm512_storeu_si512(dst + 64 * (4 + j),
                                    _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(v, 4), nibble), off));
            }
        }
        __m512 mw;
        _mm512_storeu_ps(dst + 512, lm_qblock_scales(blk, dt, b, &ds, &dm, &mw));
        _mm512_storeu_ps(dst + 576, mw);
    }
}

/* acc[t] += the int32 sums s[t] (16 rows) scaled by the rows' dw and the
 * token's xd for block b; q4_k8 also takes off its mins times the input
 * block's sum, as linear_quant.h does. */
LM_INLINE void lm_qamx_scale(__m512 acc[16], const int32_t s[16][16], const uint8_t *pblk, const uint8_t *x0,
                             size_t stride, int K, int b, int mins)
{
    const __m512 dw = _mm512_loadu_ps(pblk + 512), mw = _mm512_loadu_ps(pblk + 576);
    LM_UNROLL(16)
    for (int t = 0; t < 16; t++) {
        const uint8_t *x = x0 + (size_t)t * stride;
        const float xd = ((const float *)(x + K))[b];
        const __m512 dot = _mm512_cvtepi32_ps(_mm512_loadu_si512(s[t]));
        acc[t] = _mm512_fmadd_ps(dot, _mm512_mul_ps(dw, _mm512_set1_ps(xd)), acc[t]);
        if (mins) {
            const int32_t xs = ((const int32_t *)(x + K + K / 32 * 4))[b];
            acc[t] = _mm512_fnmadd_ps(mw, _mm512_set1_ps(xd * (float)xs), acc[t]);
        }
    }
}

/* Block b's integer dots into sums tile C (inputs A, weights B). */
#define LM_QAMX_ISSUE(C, A, B, b)                                                                                      \
    do {                                                                                                               \
        _tile_loadd(A, x0 + (size_t)(b) * 32, stride);                                                                \
        _tile_loadd(B, panel + (size_t)(b) * LM_QPANEL_BLOCK_BYTES, 64);                                               \
        _tile_zero(C);                                                                                                 \
        _tile_dpbssd(C, A, B);                                                                                         \
    } while (0)

/* out[t][r] for the 16 tokens at x0 (quantized, the token stride apart) and
 * the 16 rows of panel. Block b + 1's product is issued on the other tile
 * set before block b's sums are stored, and those are scaled only after
 * block b + 1's are stored: vector loads of a tile store's data wait for
 * it to reach the cache (perf: the first loads of each block's sums took
 * half the samples when they followed the store at once). */
LM_INLINE void lm_qamx_tile(float out[16][16], const uint8_t *panel, const uint8_t *x0, size_t stride, int K,
                            int mins)
{
    __m512 acc[16];
    LM_UNROLL(16)
    for (int t = 0; t < 16; t++)
        acc[t] = _mm512_setzero_ps();
    int32_t s[2][16][16];
    const int nb = K / 32;
    LM_QAMX_ISSUE(0, 2, 3, 0);
    for (int b = 0; b < nb; b += 2) {
        if (b + 1 < nb)
            LM_QAMX_ISSUE(1, 4, 5, b + 1);
        _tile_stored(0, s[0], 64);
        if (b > 0)
            lm_qamx_scale(acc, (const int32_t (*)[16])s[1], panel + (size_t)(b - 1) * LM_QPANEL_BLOCK_BYTES, x0,
                          stride, K, b - 1, mins);
        if (b + 1 < nb) {
            if (b + 2 < nb)
                LM_QAMX_ISSUE(0, 2, 3, b + 2);
            _tile_stored(1, s[1], 64);
        }
        lm_qamx_scale(acc, (const int32_t (*)[16])s[0], panel + (size_t)b * LM_QPANEL_BLOCK_BYTES, x0, stride, K, b,
                      mins);
    }
    if (nb % 2 == 0)
        lm_qamx_scale(acc, (const int32_t (*)[16])s[1], panel + (size_t)(nb - 1) * LM_QPANEL_BLOCK_BYTES, x0, stride,
                      K, nb - 1, mins);
    LM_UNROLL(16)
    for (int t = 0; t < 16; t++)
        _mm512_storeu_ps(out[t], acc[t]);
}
#undef LM_QAMX_ISSUE

/* One thread's share of a batch linear on quantized weights (n >=
 * LM_GEMM_MIN_TOKENS), split as lm_linear_quant_task splits it: the
 * parts' rows end to end in 32-row blocks, one run per thread
 * (lm_quant_thread_rows). scratch:
 * LM_QAMX_SCRATCH_BYTES(n, K). */
LM_INLINE void lm_linear_quant_amx_task(const lm_linear_args *a, const float *x, float *scratch, int tid,
                                        int nthreads, int K, int nparts, const int *outs, lm_dtype dt,
                                        lm_linear_mode mode, int xbf16)
{
    const int n = a->n, padded = (n + 15) / 16 * 16;
    const size_t stride = LM_QX_BYTES(K);
    uint8_t *xq = (uint8_t *)scratch;
    for (int t = 0; t < n; t++)
        lm_quantize_x_q8(xq + (size_t)t * stride, x + (size_t)t * K, K, xbf16);
    /* Tokens past n: zero quants and scales, whose sums are dropped. */
    memset(xq + (size_t)n * stride, 0, (size_t)(padded - n) * stride);
    uint8_t *panel = xq + (size_t)padded * stride, *panel_up = panel + (size_t)K / 32 * LM_QPANEL_BLOCK_BYTES;
    const int gated = mode != LM_LINEAR_PLAIN; /* two weights, one output */
    const int nouts = gated ? 1 : nparts;
    lm_qamx_begin();
    for (int p = 0; p < nouts; p++) {
        const int out = outs[p];
        int r_begin, r_end;
        lm_quant_thread_rows(tid, nthreads, nouts, outs, p, &r_begin, &r_end);
        for (int r0 = r_begin; r0 < r_end; r0 += LM_QROWS) {
            const int nr = out - r0 < LM_QROWS ? out - r0 : LM_QROWS;
            const size_t group = (size_t)r0 / LM_QROWS * lm_qgroup_bytes(dt, (size_t)K);
            lm_qamx_unpack(panel, (const uint8_t *)a->w[p] + group, K, dt);
            if (gated)
                lm_qamx_unpack(panel_up, (const uint8_t *)a->w[1] + group, K, dt);
            for (int t0 = 0; t0 < n; t0 += 16) {
                const int nt = n - t0 < 16 ? n - t0 : 16;
                float acc[16][16], up[16][16];
                const uint8_t *x0 = xq + (size_t)t0 * stride;
                lm_qamx_tile(acc, panel, x0, stride, K, dt == LM_Q4_K8);
                if (gated)
                    lm_qamx_tile(up, panel_up, x0, stride, K, dt == LM_Q4_K8);
                lm_linear_store(a, mode, p, out, t0, nt, r0, nr, &acc[0][0], gated ? &up[0][0] : NULL, LM_QROWS);
            }
        }
    }
    _tile_release();
}

#endif /* LM_AMX_INT8 */

#endif
