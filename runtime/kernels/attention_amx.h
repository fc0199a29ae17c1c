/* Attention for a batch on AMX bf16 tiles, where the CPU has them and the
 * cache is bf16 (the default of bf16 and quantized builds).
 *
 * attention_tile.h's lane-wise f32 kernel runs at the FMA rate: at 512
 * tokens it was a fifth of a q4_0 prefill on the Intel host, and its share
 * grows with the prompt. Here the same tile of 16 query rows (token, query
 * head of the KV group) goes through the tile unit, flash-attention style,
 * per block of LM_ATTN_BLOCK keys:
 *   - scores transposed, S^T[key][row] = K x Q^T: the keys are the left
 *     operand straight from the cache (16 rows of 32 dimensions a tile);
 *     the queries, rounded to bf16 once per tile (the score scale applied
 *     to the f32 scores), are the right one, whose rows hold pairs of dimensions
 *     side by side (a 16 x 16 transpose of 32-bit pairs, once per tile).
 *     (Scores the other way round would need that transpose of every key
 *     block, for every tile: it was most of the kernel's time.)
 *   - the online softmax lane-wise as in attention_tile.h, in f32; the
 *     probabilities, as bf16 pairs of consecutive keys, transposed into
 *     the left operand of
 *   - O += P x V: the right operand is two consecutive value rows
 *     interleaved word by word, packed for the block before the scores so
 *     that its stores have left the core when the tiles load it; the
 *     partial sums of all head dimensions leave the tiles before any is
 *     added to the rescaled f32 output, for the same reason.
 * Products of bf16 values summed in f32, as transformers' bf16 attention
 * does (its PyTorch kernel also multiplies bf16 probabilities by bf16
 * values). */
#ifndef LMRT_KERNELS_ATTENTION_AMX_H
#define LMRT_KERNELS_ATTENTION_AMX_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base.h"
#include "exp.h"
#include "attention_dpbf16.h"
#include "attention_tile.h"
#include "kv_cache.h"
#include "linear_amx.h"
#include "rope.h"

/* -DLM_NO_AMX_ATTENTION keeps the f32 tiles (to compare). */
#if LM_AMX && !defined(LM_NO_AMX_ATTENTION)
#define LM_AMX_ATTENTION 1
#else
#define LM_AMX_ATTENTION 0
#endif

#if LM_AMX_ATTENTION

/* Key blocks are 64 keys: four score tiles, two probability tiles. */
#if LM_ATTN_BLOCK != 64
#error "attention_amx.h assumes LM_ATTN_BLOCK == 64"
#endif

/* Scratch floats of one AMX tile, at most LM_ATTN_TILE_SCRATCH(D) for the
 * head dimensions it serves (D a multiple of 32, at most 256): queries as
 * pairs [D / 32][16][16], outputs [16][D], scores [64][16], probabilities
 * as pairs [16][32], the block's values as pairs [D / 16][32][16], partial
 * sums [D / 16][16][16], the last keys of the call [16][D] bf16, a row
 * buffer [D]. */
#define LM_ATTN_AMX_SCRATCH(D) ((size_t)81 * (size_t)(D) + 1792)

LM_INLINE int lm_attn_amx_fits(int D)
{
    return D % 32 == 0 && D <= 256 && LM_ATTN_AMX_SCRATCH(D) <= LM_ATTN_TILE_SCRATCH(D);
}

/* Tiles: 0 scores, 1 keys, 2-5 queries (4 x 32 dimensions at most, the
 * rest reloaded), then for the values 0 partial sums, 1-2 probabilities
 * of the block's two halves, 3 values. All 16 rows of 64 bytes
 * (lm_amx_begin). */
LM_INLINE void lm_attn_query_tile_amx(const lm_attn_args *a, float *scratch, int t0, int T, int kvh, int H,
                                      int KVH, int D, int CTX, float eps, int rot, float scale, int logn_seq,
                                      lm_rope_cs cs[LM_ATTN_LANES], const float *inv)
{
    enum { L = LM_ATTN_LANES, B = LM_ATTN_BLOCK };
    const int group = H / KVH, R = T * group;
    uint32_t *qt = (uint32_t *)scratch;                 /* [D / 32][16][16] */
    float *ot = scratch + (size_t)8 * D;                /* [L][D] */
    float *st = ot + (size_t)L * D;                     /* [B][L] */
    uint32_t *pb = (uint32_t *)(st + (size_t)B * L);    /* [L][B / 2] */
    uint32_t *vp = pb + (size_t)L * B / 2;              /* [D / 16][B / 2][16] */
    float *part = (float *)(vp + (size_t)D / 16 * (B / 2) * 16); /* [D / 16][16][16] */
    uint16_t *klast = (uint16_t *)(part + (size_t)D * 16);       /* [16][D] */
    float *row = (float *)(klast + (size_t)16 * D);               /* [D] */
    const int pmax = a->pos + t0 + T - 1;
    lm_i32x16 plane;
    lm_v16 m = (lm_v16){ 0 } - INFINITY, l = { 0 };
    __m512i qv[16];
    memset(ot, 0, sizeof(float) * (size_t)L * D);
    /* The queries, one bf16 row each, then transposed per 32 dimensions. */
    uint16_t *qrows = (uint16_t *)part;
    memset(qrows, 0, sizeof(uint16_t) * (size_t)L * D);
    lm_v16 qsv;
    for (int r = 0; r < L; r++) {
        float qs;
        plane[r] = lm_attn_tile_query(a, row, r, t0, T, kvh, H, group, D, eps, rot, scale, logn_seq, cs, inv, 1, &qs);
        qsv[r] = qs;
        if (r < R)
            for (int d = 0; d < D; d++)
                qrows[(size_t)r * D + d] = lm_f32_to_bf16(row[d]);
    }
    for (int c = 0; c < D / 32; c++) {
        for (int r = 0; r < L; r++)
            qv[r] = _mm512_loadu_si512(qrows + (size_t)r * D + 32 * c);
        lm_transpose16(qv);
        for (int i = 0; i < 16; i++)
            _mm512_storeu_si512(qt + (size_t)c * 256 + 16 * i, qv[i]);
    }
    for (int c = 0; c < D / 32 && c < 4; c++)
        switch (c) {
        case 0: _tile_loadd(2, qt, 64); break;
        case 1: _tile_loadd(3, qt + 256, 64); break;
        case 2: _tile_loadd(4, qt + 512, 64); break;
        default: _tile_loadd(5, qt + 768, 64); break;
        }
    const uint16_t *kc = (const uint16_t *)a->cache;
    const uint16_t *vc = (const uint16_t *)lm_kv_values(a, KVH, CTX, D, 1);
    const size_t head = (size_t)kvh * CTX;
    for (int j0 = 0; j0 <= pmax; j0 += B) {
        /* The block's values as pairs of rows; rows past pmax repeat the
         * last one (finite: the mask gives them probability 0, and 0 x a
         * stale row could be NaN). */
        for (int d0 = 0; d0 < D; d0 += 16)
            for (int kp = 0; kp < B / 2; kp++) {
                const int ja = j0 + 2 * kp <= pmax ? j0 + 2 * kp : pmax;
                const int jb = j0 + 2 * kp + 1 <= pmax ? j0 + 2 * kp + 1 : pmax;
                _mm512_storeu_si512(vp + ((size_t)d0 / 16 * (B / 2) + kp) * 16,
                                    lm_bf16_rows_pairs(vc + (head + (size_t)ja) * D + d0,
                                                       vc + (head + (size_t)jb) * D + d0));
            }
        for (int c16 = 0; c16 < B / 16; c16++) {
            const int jc = j0 + 16 * c16;
            if (jc > pmax) {
                for (int k = 0; k < 16; k++)
                    lm_store16(st + (size_t)(16 * c16 + k) * L, (lm_v16){ 0 } - INFINITY);
                continue;
            }
            /* The call's last keys, past which the cache holds no rows
             * yet (or ends), from a copy that repeats the last. */
            const uint16_t *kb = kc + (head + (size_t)jc) * D;
            size_t kstride = 2 * (size_t)D;
            if (jc + 15 > pmax) {
                for (int k = 0; k < 16; k++)
                    memcpy(klast + (size_t)k * D, kc + (head + (size_t)(jc + k <= pmax ? jc + k : pmax)) * D,
                           sizeof(uint16_t) * D);
                kb = klast;
            }
            _tile_zero(0);
            for (int c = 0; c < D / 32; c++) {
                _tile_loadd(1, kb + 32 * c, kstride);
                switch (c) {
                case 0: _tile_dpbf16ps(0, 1, 2); break;
                case 1: _tile_dpbf16ps(0, 1, 3); break;
                case 2: _tile_dpbf16ps(0, 1, 4); break;
                case 3: _tile_dpbf16ps(0, 1, 5); break;
                default:
                    _tile_loadd(3, qt + (size_t)c * 256, 64);
                    _tile_dpbf16ps(0, 1, 3);
                    if (c == D / 32 - 1 && D / 32 > 4)
                        _tile_loadd(3, qt + 256, 64);
                    break;
                }
            }
            _tile_stored(0, st + (size_t)16 * c16 * L, 4 * L);
        }
        /* The score scale (in f32, after the bf16 product, as PyTorch
         * scales), the causal mask and the block's maximum, lane-wise. */
        lm_v16 mb = (lm_v16){ 0 } - INFINITY;
        for (int k = 0; k < B; k++) {
            lm_v16 sk = lm_load16(st + (size_t)k * L) * qsv;
            if (j0 + k > plane[0])
                sk = lm_mask_ninf16(sk, (lm_i32x16){ 0 } + (j0 + k) > plane);
            lm_store16(st + (size_t)k * L, sk);
            mb = lm_max16(mb, sk);
        }
        /* Every lane has key 0, so the maximum is finite from the first
         * block on; exp(-inf) of the first rescale is 0. */
        const lm_v16 mn = lm_max16(m, mb);
        const lm_v16 cv = lm_exp16_nonpos(m - mn);
        m = mn;
        l *= cv;
        __m512i w[16];
        for (int half = 0; half < 2; half++) {
            for (int kp = 0; kp < 16; kp++) {
                const int k = 32 * half + 2 * kp;
                const lm_v16 e0 = lm_exp16_nonpos(lm_load16(st + (size_t)k * L) - m);
                const lm_v16 e1 = lm_exp16_nonpos(lm_load16(st + (size_t)(k + 1) * L) - m);
                l += e0 + e1;
                w[kp] = lm_bf16_pairs(e0, e1);
            }
            /* w[kp] lane r is row r's pair kp; the left operand wants
             * row r's pairs along its row. */
            lm_transpose16(w);
            for (int r = 0; r < 16; r++)
                _mm512_storeu_si512(pb + (size_t)r * (B / 2) + 16 * half, w[r]);
        }
        _tile_loadd(1, pb, 2 * B);
        _tile_loadd(2, pb + 16, 2 * B);
        for (int d0 = 0; d0 < D; d0 += 16) {
            const uint32_t *vd = vp + (size_t)d0 / 16 * (B / 2) * 16;
            _tile_zero(0);
            _tile_loadd(3, vd, 64);
            _tile_dpbf16ps(0, 1, 3);
            _tile_loadd(3, vd + 256, 64);
            _tile_dpbf16ps(0, 2, 3);
            _tile_stored(0, part + (size_t)d0 * 16, 64);
        }
        /* Back to the queries for the next block's scores. */
        if (j0 + B <= pmax) {
            _tile_loadd(2, qt, 64);
            if (D / 32 > 1)
                _tile_loadd(3, qt + 256, 64);
        }
        float c_row[L];
        memcpy(c_row, &cv, sizeof c_row);
        for (int d0 = 0; d0 < D; d0 += 16)
            for (int r = 0; r < L; r++) {
                float *o = ot + (size_t)r * D + d0;
                lm_store16(o, lm_load16(o) * c_row[r] + lm_load16(part + (size_t)d0 * 16 + 16 * r));
            }
    }
    lm_attn_tile_out(a, ot, (size_t)D, 1, l, t0, R, group, kvh, H, D);
}

#endif
#endif
