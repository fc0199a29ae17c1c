/* Linears over a batch with f32 FMAs: the path every CPU has, and the
 * blocking (LM_GEMM_ROWS x LM_GEMM_TOKENS) the bf16 kernels share. */
#ifndef LMRT_KERNELS_LINEAR_GEMM_H
#define LMRT_KERNELS_LINEAR_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/model.h"
#include "base.h"

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
#if !defined(__AVX512F__)
/* AVX2 has 16 ymm registers, not the 32 x 16 floats the tile's
 * accumulators need: the tile is taken as four sub-tiles of 4 tokens x 16
 * rows (8 accumulators, two weight vectors, a broadcast), each a pass over
 * its half of the packed rows, which stay in L2. */
LM_INLINE void lm_gemm_tile(float out[LM_GEMM_TOKENS][LM_GEMM_ROWS], const float *const xt[LM_GEMM_TOKENS],
                            const float *restrict wp, int K, int T)
{
    enum { SUB = 4 };
    for (int h = 0; h < LM_GEMM_ROWS; h += 16)
        for (int t0 = 0; t0 < T; t0 += SUB) {
            lm_v8 a0[SUB], a1[SUB];
            const float *x[SUB];
            for (int t = 0; t < SUB; t++) {
                a0[t] = a1[t] = lm_splat8(0.0f);
                x[t] = xt[t0 + t < T ? t0 + t : T - 1];
            }
            for (int k = 0; k < K; k++) {
                const float *wk = wp + (size_t)k * LM_GEMM_ROWS + h;
                const lm_v8 w0 = lm_load8(wk), w1 = lm_load8(wk + 8);
                for (int t = 0; t < SUB; t++) {
                    const lm_v8 xv = lm_splat8(x[t][k]);
                    a0[t] += xv * w0;
                    a1[t] += xv * w1;
                }
            }
            for (int t = 0; t < SUB && t0 + t < T; t++) {
                lm_store8(out[t0 + t] + h, a0[t]);
                lm_store8(out[t0 + t] + h + 8, a1[t]);
            }
        }
}
#else
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
#endif

#endif
