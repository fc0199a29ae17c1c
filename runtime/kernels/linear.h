/* The linear op: lm_linear_task takes each call to the multiply path that
 * suits it (linear_gemv.h, linear_gemm.h, linear_bf16.h, linear_amx.h,
 * linear_quant.h, linear_quant_amx.h), all of which store through
 * linear_epilogue.h. */
#ifndef LMRT_KERNELS_LINEAR_H
#define LMRT_KERNELS_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "../core/model.h"
#include "../core/pool.h"
#include "linear_amx.h"
#include "linear_bf16.h"
#include "linear_epilogue.h"
#include "linear_gemm.h"
#include "linear_gemv.h"
#include "linear_quant.h"
#include "linear_quant_amx.h"
#include "norm.h"

/* One thread's share of a fused linear. The parts' output rows are laid end
 * to end and cut into equal runs of 32-row blocks, one run per thread, so
 * each thread reads a disjoint slice of the weights exactly once per call.
 * Per-thread scratch: the normalized input (n x K, with a norm prologue),
 * then packed weights (32 x K, twice when gated). */
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
    if (lm_dtype_is_quantized(dt)) {
#if LM_AMX_INT8
        if (n >= LM_GEMM_MIN_TOKENS && lm_amx_ready()) {
            lm_linear_quant_amx_task(a, x, scratch, tid, nthreads, K, nparts, outs, dt, mode, xbf16);
            return;
        }
#endif
        lm_linear_quant_task(a, x, scratch, tid, nthreads, K, nparts, outs, dt, mode, xbf16);
        return;
    }
    /* The bf16 kernels (linear_bf16.h, linear_amx.h) take the input from a
     * region of scratch ((n + 32) x K floats more): for AMX (a batch),
     * packed in the tiles' layout, rounded to bf16 with --matmul-input
     * bf16, else as two bf16 parts (x = hi + lo within 2^-17; products
     * exact, sums in f32; two tile products per weight tile, three for f16
     * weights, split the same way); without AMX, bf16 inputs are
     * bf16 bits for the vdpbf16ps kernels, or rounded f32 values for the
     * f32 kernels below. */
    const uint16_t *xh = NULL;
    const uint32_t *xp = NULL;
    float *region = scratch;
#if LM_AMX
    const uint32_t *xl = NULL;
    if ((xbf16 || dt == LM_BF16 || dt == LM_F16) && K % 32 == 0 && n >= LM_GEMM_MIN_TOKENS &&
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
    const int gated = mode != LM_LINEAR_PLAIN; /* two weights, one output */
    /* A few tokens of bf16 weights (one, or a batched decode where
     * LM_GEMV_MAX_TOKENS allows): the row-streaming gemv, each token's x
     * split once per call. */
    const float *xv = NULL;
    if (!xh && !xp && n <= LM_GEMV_MAX_TOKENS && K % 32 == 0 && dt == LM_BF16) {
        for (int t = 0; t < n; t++)
            lm_split_even_odd(scratch + (size_t)t * K, x + (size_t)t * K, K);
        xv = scratch;
    }
    const int gemm = !xv && n >= LM_GEMM_MIN_TOKENS;
    const int nouts = gated ? 1 : nparts;
    int total = 0;
    for (int p = 0; p < nouts; p++)
        total += (outs[p] + LM_GEMM_ROWS - 1) / LM_GEMM_ROWS;
    int bb, be;
    lm_split(total, tid, nthreads, &bb, &be);

    /* AMX reads bf16 weights in place, in passes of tokens whose packed
     * inputs stay in L2 (lm_amx_pass_tokens); every other path goes in one
     * pass. (f16 rows are converted for the tiles, and a pass
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
                    lm_linear_block_amx(a, p, out, r0, nr, xp, xl, K, dt, mode, (uint16_t *)scratch, t_begin, t_end);
                    continue;
                }
#endif
#if LM_DPBF16
                if (xh) {
                    lm_linear_block_dpbf16(a, p, out, r0, nr, xh, K, mode, scratch);
                    continue;
                }
#endif
                if (gemm) {
                    float *wp = scratch, *wu = scratch + (size_t)K * LM_GEMM_ROWS;
                    lm_pack_rows(wp, a->w[p], dt, r0, nr, K);
                    if (gated)
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
                        if (gated)
                            lm_gemm_tile(up, xt, wu, K, LM_GEMM_TOKENS);
                        lm_linear_store(a, mode, p, out, t0, nt, r0, nr, &acc[0][0], gated ? &up[0][0] : NULL,
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
                        float acc[LM_GEMV_MAX_TOKENS][LM_GEMV_ROWS], up[LM_GEMV_MAX_TOKENS][LM_GEMV_ROWS];
                        if (n == 1) {
                            lm_gemv_rows(acc[0], xv, a->w[p], wr, K);
                            if (gated)
                                lm_gemv_rows(up[0], xv, a->w[1], wr, K);
                        } else {
                            lm_gemv_rows_tokens(acc, xv, n, a->w[p], wr, K);
                            if (gated)
                                lm_gemv_rows_tokens(up, xv, n, a->w[1], wr, K);
                        }
                        lm_linear_store(a, mode, p, out, 0, n, q0, qn, &acc[0][0], gated ? &up[0][0] : NULL,
                                        LM_GEMV_ROWS);
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
                        if (gated)
                            lm_tile_dot_n(up, xt, a->w[1], dt, wr, K, nt);
                        lm_linear_store(a, mode, p, out, t0, nt, q0, qn, &acc[0][0], gated ? &up[0][0] : NULL,
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

#endif
