/* Attention for a batch (prefill): query rows in vector lanes.
 *
 * Decode's attention (lm_attn_query_task) takes one token's query heads of
 * a KV group and computes each score as a dot product along the head
 * dimension, which ends in a horizontal sum per score: most of its time in
 * a prefill. With a batch there are more query rows than that, so here a
 * tile of rows (token, query head of the group) fills the 16 lanes of a
 * vector and everything runs lane-wise:
 *   - scores: per head dimension d, the tile's queries at d (one vector,
 *     packed once per tile as qt[d][lane]) times key j's value at d
 *     (broadcast) into one accumulator per key, eight keys at a time;
 *   - the online softmax: running maximum, sum and rescale are per lane,
 *     the causal mask a per-lane position compare;
 *   - values: out[d][lane] += p[j][lane] x v[j][d] (broadcast), sixteen
 *     head dimensions in registers at a time.
 * No horizontal sums at all; each key and value row loaded serves every
 * row of the tile. The same f32 products and online softmax as the decode
 * path, summed in another order. */
#ifndef LMRT_KERNELS_ATTENTION_TILE_H
#define LMRT_KERNELS_ATTENTION_TILE_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "base.h"
#include "exp.h"
#include "kv_cache.h"
#include "rope.h"
#include "tanh.h"

#define LM_ATTN_LANES 16
/* Keys per score step: one accumulator each, next to the query vector. */
#define LM_ATTN_KEYS 8
/* Scratch floats of one tile: queries and outputs [D][16], then a block of
 * scores [LM_ATTN_BLOCK + LM_ATTN_KEYS][16] (also the row buffer while the
 * queries are packed, so D <= 16 x that), then, for a bf16 cache, a step's
 * keys [LM_ATTN_KEYS][D] and a block's values [LM_ATTN_BLOCK][D] in f32. */
#define LM_ATTN_TILE_SCRATCH(D)                                                                       \
    ((size_t)2 * LM_ATTN_LANES * (size_t)(D) + (size_t)LM_ATTN_LANES * (LM_ATTN_BLOCK + LM_ATTN_KEYS) + \
     (size_t)(LM_ATTN_KEYS + LM_ATTN_BLOCK) * (size_t)(D))

LM_INLINE lm_v16 lm_max16(lm_v16 a, lm_v16 b)
{
    const lm_i32x16 gt = a > b;
    lm_i32x16 ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    const lm_i32x16 r = (ai & gt) | (bi & ~gt);
    lm_v16 v;
    memcpy(&v, &r, sizeof v);
    return v;
}

/* s where the lane's mask is 0, -inf where it is all ones. */
LM_INLINE lm_v16 lm_mask_ninf16(lm_v16 s, lm_i32x16 masked)
{
    const lm_v16 ninf = (lm_v16){ 0 } - INFINITY;
    lm_i32x16 si, ni;
    memcpy(&si, &s, sizeof si);
    memcpy(&ni, &ninf, sizeof ni);
    const lm_i32x16 r = (si & ~masked) | (ni & masked);
    lm_v16 v;
    memcpy(&v, &r, sizeof v);
    return v;
}

/* The lanes that do not see key j: past their position plane (causal),
 * or before their window of win positions. */
LM_INLINE lm_i32x16 lm_attn_unseen16(int j, lm_i32x16 plane, int win)
{
    const lm_i32x16 late = (lm_i32x16){ 0 } + j > plane;
    return win ? late | (plane - j >= win) : late;
}

/* Where a tile whose first token sits at pmin starts reading keys: the
 * block of its first token's first position (blocks of a ring are runs of
 * rows only from a multiple of the block on: kv_cache.h). */
LM_INLINE int lm_attn_first_block(int pmin, int win)
{
    return lm_attn_first_pos(pmin, win) / LM_ATTN_BLOCK * LM_ATTN_BLOCK;
}

/* Row r of a tile of T tokens from t0 (lane = token x group + head): its
 * position, and for r < T x group its query normalized and rotated into
 * row, rounded to bf16 when abf16 (attention's products from bf16, as
 * transformers' bf16 attention rounds its queries), then multiplied by its
 * score scale (and logn) when qscale is NULL, else with the scale left to
 * the caller in *qscale. Lanes past the rows compute on a zero query at
 * the last row's position, masked as it is, and are never written out. */
LM_INLINE int lm_attn_tile_query(const lm_attn_args *a, float *restrict row, int r, int t0, int T, int kvh, int H,
                                 int group, int D, float eps, int rot, float scale, int logn_seq,
                                 lm_rope_cs cs[LM_ATTN_LANES], const float *inv, int abf16, float *qscale)
{
    const int tt = r < T * group ? r / group : T - 1, p = a->pos + t0 + tt;
    const float row_scale = scale * (logn_seq ? lm_logn_scale(p, logn_seq) : 1.0f);
    if (qscale)
        *qscale = row_scale;
    if (r < T * group) {
        const float *src = a->q + (size_t)(t0 + tt) * H * D + (size_t)(kvh * group + r % group) * D;
        lm_attn_head_row(row, src, a->q_norm, D, eps, rot, p, &cs[tt], inv);
        for (int d = 0; d < D; d++) {
            const float q = abf16 ? lm_bf16_to_f32(lm_f32_to_bf16(row[d])) : row[d];
            row[d] = qscale ? q : q * row_scale;
        }
    }
    return p;
}

/* e rounded to bf16 (nearest even) and back, lane-wise in the integers as
 * lm_f32_to_bf16 rounds (the probabilities' rounding of abf16: finite,
 * never NaN). */
LM_INLINE lm_v16 lm_round_bf16_16(lm_v16 e)
{
    lm_u32x16 u;
    memcpy(&u, &e, sizeof u);
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    memcpy(&e, &u, sizeof e);
    return e;
}

/* The tile's outputs, row r (< R) of ot at r x rs + d x ds, over their
 * softmax sums l into the call's [n, heads x D] output. */
LM_INLINE void lm_attn_tile_out(const lm_attn_args *a, const float *ot, size_t rs, size_t ds, lm_v16 l, int t0,
                                int R, int group, int kvh, int H, int D)
{
    for (int r = 0; r < R; r++) {
        float *o = a->out + (size_t)(t0 + r / group) * H * D + (size_t)(kvh * group + r % group) * D;
        for (int d = 0; d < D; d++)
            o[d] = ot[(size_t)r * rs + (size_t)d * ds] / l[r];
    }
}

/* The running maximum to subtract: m, or 0 in the lanes where it is still
 * -inf. A lane of a sliding-window layer may see no key of a block (its
 * window starts after it), and -inf - -inf would be NaN; with 0 its masked
 * scores' exponentials and the rescale of its empty sums are 0, and its
 * maximum stays -inf. Without a window every lane sees key 0 in the first
 * block, and this changes nothing. */
LM_INLINE lm_v16 lm_attn_finite_max16(lm_v16 m)
{
    const lm_i32x16 none = m == (lm_v16){ 0 } - INFINITY;
    lm_i32x16 mi;
    memcpy(&mi, &m, sizeof mi);
    mi &= ~none;
    memcpy(&m, &mi, sizeof m);
    return m;
}

/* One block's step of the lane-wise online softmax: the running maximum m
 * raised to the block's mb, the sum l and the outputs ot ([D][16]) rescaled
 * to it, the block's nb scores in pt ([nb][16]) replaced by their
 * exponentials (rounded to bf16 when abf16; l sums them unrounded).
 * exp(-inf) of the first rescale is 0. */
LM_INLINE void lm_attn_tile_softmax(float *pt, int nb, lm_v16 mb, lm_v16 *m, lm_v16 *l, float *ot, int D, int abf16)
{
    enum { L = LM_ATTN_LANES };
    const lm_v16 mx = lm_max16(*m, mb), mn = lm_attn_finite_max16(mx);
    const lm_v16 c = lm_exp16_nonpos(*m - mn);
    *m = mx;
    *l *= c;
    for (int d = 0; d < D; d++)
        lm_store16(ot + (size_t)d * L, lm_load16(ot + (size_t)d * L) * c);
    for (int jj = 0; jj < nb; jj++) {
        const lm_v16 e = lm_exp16_nonpos(lm_load16(pt + (size_t)jj * L) - mn);
        lm_store16(pt + (size_t)jj * L, abf16 ? lm_round_bf16_16(e) : e);
        *l += e;
    }
}

/* Tokens [t0, t0 + T) of the call, query heads of KV head kvh: T x group
 * <= 16 lanes, lane = token x group + head. D a multiple of 16, at most
 * 16 x (LM_ATTN_BLOCK + LM_ATTN_KEYS). cs[tt] keeps the RoPE angles of the
 * tile's token tt, so a thread's next KV head of the same tile reuses them
 * (computed per tile and head they were 3% of a prefill). */
LM_INLINE void lm_attn_query_tile(const lm_attn_args *a, float *scratch, int t0, int T, int kvh, int H, int KVH,
                                  int D, int CTX, int win, float eps, int rot, float scale, int logn_seq,
                                  lm_rope_cs cs[LM_ATTN_LANES], const float *inv, int kv16, int abf16)
{
    enum { L = LM_ATTN_LANES };
    const int group = H / KVH, R = T * group;
    float *qt = scratch;               /* [D][L] */
    float *ot = qt + (size_t)D * L;    /* [D][L] */
    float *pt = ot + (size_t)D * L;    /* [LM_ATTN_BLOCK + LM_ATTN_KEYS][L]; first the row buffer */
    float *kt = pt + (size_t)(LM_ATTN_BLOCK + LM_ATTN_KEYS) * L; /* bf16 cache: [LM_ATTN_KEYS][D] */
    float *vt = kt + (size_t)LM_ATTN_KEYS * D;                   /* bf16 cache: [LM_ATTN_BLOCK][D] */
    const int pmax = a->pos + t0 + T - 1;
    lm_i32x16 plane;
    memset(qt, 0, sizeof(float) * (size_t)D * L);
    memset(ot, 0, sizeof(float) * (size_t)D * L);
    for (int r = 0; r < L; r++) {
        float *row = pt;
        plane[r] = lm_attn_tile_query(a, row, r, t0, T, kvh, H, group, D, eps, rot, scale, logn_seq, cs, inv, abf16,
                                      NULL);
        if (r < R)
            for (int d = 0; d < D; d++)
                qt[(size_t)d * L + r] = row[d];
    }
    const float *kc = a->cache, *vc = lm_kv_values(a, KVH, CTX, D, kv16);
    const size_t head = (size_t)kvh * CTX;
    lm_v16 m = (lm_v16){ 0 } - INFINITY, l = { 0 };
    for (int j0 = lm_attn_first_block(a->pos + t0, win); j0 <= pmax; j0 += LM_ATTN_BLOCK) {
        const int nb = pmax + 1 - j0 < LM_ATTN_BLOCK ? pmax + 1 - j0 : LM_ATTN_BLOCK;
        lm_v16 mb = (lm_v16){ 0 } - INFINITY;
        for (int jk = 0; jk < nb; jk += LM_ATTN_KEYS) {
            /* Keys past pmax (a partial step) repeat the last one; the
             * causal mask drops them. */
            const float *kr[LM_ATTN_KEYS];
            for (int k = 0; k < LM_ATTN_KEYS; k++) {
                const int j = j0 + jk + k;
                const void *row = lm_kv_row(kc, head + lm_kv_pos_row(j <= pmax ? j : pmax, CTX, win), D, kv16);
                if (kv16) {
                    lm_kv_to_f32(kt + (size_t)k * D, row, D, 1);
                    kr[k] = kt + (size_t)k * D;
                } else {
                    kr[k] = row;
                }
            }
            lm_v16 s[LM_ATTN_KEYS];
            for (int k = 0; k < LM_ATTN_KEYS; k++)
                s[k] = (lm_v16){ 0 };
            for (int d = 0; d < D; d++) {
                const lm_v16 qv = lm_load16(qt + (size_t)d * L);
                for (int k = 0; k < LM_ATTN_KEYS; k++)
                    s[k] += qv * kr[k][d];
            }
            for (int k = 0; k < LM_ATTN_KEYS; k++) {
                if (a->softcap > 0.0f)
                    s[k] = lm_softcap16(s[k], a->softcap);
                s[k] = lm_mask_ninf16(s[k], lm_attn_unseen16(j0 + jk + k, plane, win));
                lm_store16(pt + (size_t)(jk + k) * L, s[k]);
                mb = lm_max16(mb, s[k]);
            }
        }
        lm_attn_tile_softmax(pt, nb, mb, &m, &l, ot, D, abf16);
        /* A bf16 cache's values for the block, in f32 once. */
        if (kv16)
            for (int jj = 0; jj < nb; jj++)
                lm_kv_to_f32(vt + (size_t)jj * D, lm_kv_row(vc, head + lm_kv_pos_row(j0 + jj, CTX, win), D, 1), D, 1);
        const float *vb = kv16 ? vt : vc + (head + lm_kv_pos_row(j0, CTX, win)) * D;
        for (int d0 = 0; d0 < D; d0 += 16) {
            lm_v16 acc[16];
            for (int i = 0; i < 16; i++)
                acc[i] = lm_load16(ot + (size_t)(d0 + i) * L);
            for (int jj = 0; jj < nb; jj++) {
                const lm_v16 e = lm_load16(pt + (size_t)jj * L);
                const float *vr = vb + (size_t)jj * D + d0;
                for (int i = 0; i < 16; i++)
                    acc[i] += e * vr[i];
            }
            for (int i = 0; i < 16; i++)
                lm_store16(ot + (size_t)(d0 + i) * L, acc[i]);
        }
    }
    lm_attn_tile_out(a, ot, 1, L, l, t0, R, group, kvh, H, D);
}

#endif
