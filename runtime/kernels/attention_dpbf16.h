/* Attention for a batch on AVX-512 BF16 dot products (vdpbf16ps), for a
 * bf16 cache on CPUs without AMX (Zen 4): attention_tile.h's lane-wise
 * tile, with both products on pairs.
 *
 * vdpbf16ps adds to each f32 lane the products of two bf16 pairs, so one
 * instruction does two of the f32 kernel's FMAs, and the cache's bf16 rows
 * are its operands as they are (the f32 kernel converts every key and
 * value row first):
 *   - scores: lane = a query row, its dimensions 2i and 2i + 1 as a pair
 *     (rounded to bf16 once per tile; the score scale applied after), times
 *     key j's pair i broadcast: a 32-bit load from the cache row;
 *   - values: lane = a query row, the probabilities of keys j and j + 1 as
 *     a pair, times dimension d of value rows j and j + 1 side by side
 *     (the block's value rows interleaved once per tile).
 * The softmax is the f32 kernel's. The same bf16 roundings as
 * attention_amx.h: transformers' own in a bf16 model. */
#ifndef LMRT_KERNELS_ATTENTION_DPBF16_H
#define LMRT_KERNELS_ATTENTION_DPBF16_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attention_tile.h"
#include "base.h"
#include "exp.h"
#include "kv_cache.h"
#include "linear_bf16.h"
#include "rope.h"

/* -DLM_NO_DPBF16_ATTENTION keeps the f32 tiles (to compare). */
#if LM_DPBF16 && !defined(LM_NO_DPBF16_ATTENTION)
#define LM_DPBF16_ATTENTION 1
#else
#define LM_DPBF16_ATTENTION 0
#endif

#if LM_DPBF16

/* bf16 pairs, shared with attention_amx.h (AMX implies AVX-512 BF16). */
LM_INLINE __m512bh lm_as_bh(__m512i v)
{
    __m512bh h;
    memcpy(&h, &v, sizeof h);
    return h;
}

/* Lane i of a and of b as one bf16 pair (a's in the low half). */
LM_INLINE __m512i lm_bf16_pairs(lm_v16 a, lm_v16 b)
{
    __m512 fa, fb;
    memcpy(&fa, &a, sizeof fa);
    memcpy(&fb, &b, sizeof fb);
    const __m512bh h = _mm512_cvtne2ps_pbh(fb, fa); /* a's 16, then b's */
    __m512i w;
    memcpy(&w, &h, sizeof w);
    const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                         21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
    return _mm512_permutexvar_epi16(idx, w);
}

/* 16 bf16 values of row a and of row b, word by word: pair i is
 * (a[i], b[i]), a's in the low half. */
LM_INLINE __m512i lm_bf16_rows_pairs(const uint16_t *a, const uint16_t *b)
{
    const __m512i idx = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8, 39, 7, 38, 6,
                                         37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
    const __m512i va = _mm512_castsi256_si512(_mm256_loadu_si256((const void *)a));
    const __m512i vb = _mm512_castsi256_si512(_mm256_loadu_si256((const void *)b));
    return _mm512_permutex2var_epi16(va, idx, vb);
}

#endif

#if LM_DPBF16_ATTENTION

/* Scratch floats of one tile (D even, at most 16 x (LM_ATTN_BLOCK +
 * LM_ATTN_KEYS) as the f32 tile's): queries as pairs [D / 2][16], outputs
 * [D][16], scores [LM_ATTN_BLOCK + LM_ATTN_KEYS][16] (first the row
 * buffer), the block's probabilities as pairs [LM_ATTN_BLOCK / 2][16],
 * its values as pairs [LM_ATTN_BLOCK / 2][D]: at most
 * LM_ATTN_TILE_SCRATCH(D). */
#define LM_ATTN_DP_SCRATCH(D) \
    ((size_t)56 * (size_t)(D) + (size_t)LM_ATTN_LANES * (LM_ATTN_BLOCK + LM_ATTN_KEYS + LM_ATTN_BLOCK / 2))

LM_INLINE int lm_attn_dp_fits(int D)
{
    return D % 16 == 0 && D <= 16 * (LM_ATTN_BLOCK + LM_ATTN_KEYS) && LM_ATTN_DP_SCRATCH(D) <= LM_ATTN_TILE_SCRATCH(D);
}

/* The tile of attention_tile.h's lm_attn_query_tile (same arguments, a
 * bf16 cache). */
LM_INLINE void lm_attn_query_tile_dp(const lm_attn_args *a, float *scratch, int t0, int T, int kvh, int H, int KVH,
                                     int D, int CTX, int win, float eps, int rot, float scale, int logn_seq,
                                     lm_rope_cs cs[LM_ATTN_LANES], const float *inv)
{
    enum { L = LM_ATTN_LANES, B = LM_ATTN_BLOCK, NK = LM_ATTN_KEYS };
    const int group = H / KVH, R = T * group;
    uint32_t *qp = (uint32_t *)scratch;                    /* [D / 2][L] */
    float *ot = scratch + (size_t)D / 2 * L;               /* [D][L] */
    float *pt = ot + (size_t)D * L;                        /* [B + NK][L]; first the row buffer */
    uint32_t *pp = (uint32_t *)(pt + (size_t)(B + NK) * L); /* [B / 2][L] */
    uint32_t *vp = pp + (size_t)B / 2 * L;                 /* [B / 2][D] */
    const int pmax = a->pos + t0 + T - 1;
    lm_i32x16 plane;
    memset(ot, 0, sizeof(float) * (size_t)D * L);
    /* The queries: each row's pairs into its lane of qp[i]. */
    lm_v16 qsv;
    for (int r = 0; r < L; r++) {
        float *row = pt, qs;
        plane[r] = lm_attn_tile_query(a, row, r, t0, T, kvh, H, group, D, eps, rot, scale, logn_seq, cs, inv, 1, &qs);
        qsv[r] = qs;
        for (int i = 0; i < D / 2; i++)
            qp[(size_t)i * L + r] = r < R ? (uint32_t)lm_f32_to_bf16(row[2 * i]) |
                                                (uint32_t)lm_f32_to_bf16(row[2 * i + 1]) << 16
                                          : 0u;
    }
    const uint16_t *kc = (const uint16_t *)a->cache;
    const uint16_t *vc = (const uint16_t *)lm_kv_values(a, KVH, CTX, D, 1);
    const size_t head = (size_t)kvh * CTX;
    lm_v16 m = (lm_v16){ 0 } - INFINITY, l = { 0 };
    for (int j0 = lm_attn_first_block(a->pos + t0, win); j0 <= pmax; j0 += B) {
        const int nb = pmax + 1 - j0 < B ? pmax + 1 - j0 : B;
        lm_v16 mb = (lm_v16){ 0 } - INFINITY;
        for (int jk = 0; jk < nb; jk += NK) {
            /* Keys past pmax (a partial step) repeat the last one; the
             * causal mask drops them. */
            const uint32_t *kr[NK];
            for (int k = 0; k < NK; k++) {
                const int j = j0 + jk + k;
                kr[k] = (const uint32_t *)(kc + (head + lm_kv_pos_row(j <= pmax ? j : pmax, CTX, win)) * D);
            }
            __m512 s[NK];
            for (int k = 0; k < NK; k++)
                s[k] = _mm512_setzero_ps();
            for (int i = 0; i < D / 2; i++) {
                const __m512bh qv = lm_as_bh(_mm512_loadu_si512(qp + (size_t)i * L));
                for (int k = 0; k < NK; k++)
                    s[k] = _mm512_dpbf16_ps(s[k], qv, lm_as_bh(_mm512_set1_epi32((int)kr[k][i])));
            }
            for (int k = 0; k < NK; k++) {
                lm_v16 sk;
                memcpy(&sk, &s[k], sizeof sk);
                sk *= qsv; /* the score scale in f32, after the product */
                if (a->softcap > 0.0f)
                    sk = lm_softcap16(sk, a->softcap);
                sk = lm_mask_ninf16(sk, lm_attn_unseen16(j0 + jk + k, plane, win));
                lm_store16(pt + (size_t)(jk + k) * L, sk);
                mb = lm_max16(mb, sk);
            }
        }
        lm_attn_tile_softmax(pt, nb, mb, &m, &l, ot, D, 0);
        /* An odd block's last pair: the missing key has probability 0 and
         * repeats the last value row (finite, as 0 x a stale row might
         * not be). */
        const int np = (nb + 1) / 2;
        if (nb % 2)
            lm_store16(pt + (size_t)nb * L, (lm_v16){ 0 });
        for (int kp = 0; kp < np; kp++) {
            _mm512_storeu_si512(pp + (size_t)kp * L,
                                lm_bf16_pairs(lm_load16(pt + (size_t)2 * kp * L), lm_load16(pt + (size_t)(2 * kp + 1) * L)));
            const uint16_t *va = vc + (head + lm_kv_pos_row(j0 + 2 * kp, CTX, win)) * D;
            const uint16_t *vb = 2 * kp + 1 < nb ? va + D : va;
            for (int d0 = 0; d0 < D; d0 += 16)
                _mm512_storeu_si512(vp + (size_t)kp * D + d0, lm_bf16_rows_pairs(va + d0, vb + d0));
        }
        for (int d0 = 0; d0 < D; d0 += 16) {
            __m512 acc[16];
            for (int i = 0; i < 16; i++)
                acc[i] = _mm512_loadu_ps(ot + (size_t)(d0 + i) * L);
            for (int kp = 0; kp < np; kp++) {
                const __m512bh e = lm_as_bh(_mm512_loadu_si512(pp + (size_t)kp * L));
                const uint32_t *vr = vp + (size_t)kp * D + d0;
                for (int i = 0; i < 16; i++)
                    acc[i] = _mm512_dpbf16_ps(acc[i], e, lm_as_bh(_mm512_set1_epi32((int)vr[i])));
            }
            for (int i = 0; i < 16; i++)
                _mm512_storeu_ps(ot + (size_t)(d0 + i) * L, acc[i]);
        }
    }
    lm_attn_tile_out(a, ot, 1, L, l, t0, R, group, kvh, H, D);
}

#endif
#endif
