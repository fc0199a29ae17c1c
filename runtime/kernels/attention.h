/* The attention op: phase 1 stores the new keys and values in the cache,
 * phase 2 attends each query to the cached positions up to its own (one
 * token's heads here, a batch in attention_tile.h's lane-wise tiles). */
#ifndef LMRT_KERNELS_ATTENTION_H
#define LMRT_KERNELS_ATTENTION_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "attention_amx.h"
#include "attention_dpbf16.h"
#include "attention_tile.h"
#include "base.h"
#include "exp.h"
#include "kv_cache.h"
#include "rope.h"
#include "tanh.h"

/* Positions of cache rows a decode step makes resident at once. */
#ifndef LM_KV_DECODE_AHEAD
#define LM_KV_DECODE_AHEAD 256
#endif

/* Phase 1: norm + RoPE of the new keys, and both into the cache; this
 * thread's items of one span, from `first` on, every nthreads-th. */
LM_INLINE void lm_attn_store_task(const lm_attn_args *a, int first, int nthreads, int KVH, int D,
                                  int CTX, int win, float eps, int rot, int kv16)
{
    float *kc = a->cache, *vc = lm_kv_values(a, KVH, CTX, D, kv16);
    float inv[LM_MAX_ROT / 2];
    lm_rope_cs cs = { .pos = -1 };
    if (rot)
        lm_rope_table(inv, rot, a->rope_base, &a->rope_scaling);
    /* A batch's rows of each head, keys and values, resident first: one
     * call each instead of a page fault per 4 KiB (perf on a 512-token
     * prefill: the kernel's fault path 5.1% -> 2.6-3.0% of the samples). */
    if (win) {
        /* A window's ring is small and reused: all of it resident when a
         * sequence starts in the slot. */
        if (a->pos == 0)
            for (int h = first; h < KVH; h += nthreads) {
                lm_kv_populate(kc, (size_t)h * CTX, CTX, D, kv16);
                lm_kv_populate(vc, (size_t)h * CTX, CTX, D, kv16);
            }
    } else if (a->n >= 16) {
        for (int h = first; h < KVH; h += nthreads) {
            lm_kv_populate(kc, (size_t)h * CTX + (size_t)a->pos, a->n, D, kv16);
            lm_kv_populate(vc, (size_t)h * CTX + (size_t)a->pos, a->n, D, kv16);
        }
    } else if (a->pos % LM_KV_DECODE_AHEAD == 0 || (a->pos + a->n - 1) / LM_KV_DECODE_AHEAD != a->pos / LM_KV_DECODE_AHEAD) {
        /* Decode: the next LM_KV_DECODE_AHEAD positions' rows in one call
         * as a step enters them, not a fault every 4 KiB of a row (a page
         * fault costs microseconds in a virtual machine; 28 layers x 16
         * rows fault every 16 positions of a bf16 cache). */
        const int start = (a->pos + a->n - 1) / LM_KV_DECODE_AHEAD * LM_KV_DECODE_AHEAD;
        const int rows = CTX - start < LM_KV_DECODE_AHEAD ? CTX - start : LM_KV_DECODE_AHEAD;
        for (int h = first; h < KVH; h += nthreads) {
            lm_kv_populate(kc, (size_t)h * CTX + (size_t)start, rows, D, kv16);
            lm_kv_populate(vc, (size_t)h * CTX + (size_t)start, rows, D, kv16);
        }
    }
    for (int item = first; item < a->n * KVH; item += nthreads) {
        int t = item / KVH, h = item % KVH, p = a->pos + t;
        const size_t slot = (size_t)h * CTX + lm_kv_pos_row(p, CTX, win);
        float krow[LM_KV16_MAX_D];
        float *kd = kv16 ? krow : kc + slot * D;
        const float *ks = a->k + (size_t)t * KVH * D + (size_t)h * D;
        const float *vs = a->v + (size_t)t * KVH * D + (size_t)h * D;
        lm_attn_head_row(kd, ks, a->k_norm, D, eps, rot, p, &cs, inv);
        if (kv16) {
            uint16_t *k16 = (uint16_t *)kc + slot * D, *v16 = (uint16_t *)vc + slot * D;
            for (int i = 0; i < D; i++) {
                k16[i] = lm_f32_to_bf16(kd[i]);
                v16[i] = lm_f32_to_bf16(vs[i]);
            }
        } else {
            memcpy(vc + slot * D, vs, sizeof(float) * D);
        }
    }
}

/* Phase 2: each (token, kv head) item attends, for every query head of its
 * group, to every cached position up to its own (of those in its window,
 * when the layer has one), with an online softmax.
 * Keys and values are read once per group (GQA), in blocks of
 * LM_ATTN_BLOCK positions: the block's scores first (independent dot
 * products, no chain through the softmax state), then its maximum, one
 * rescale of the running sum if the maximum grew, the exponentials, and
 * the weighted values. Per-position rescaling made attention a fifth of
 * decode time at 512 positions. */
/* Head dims up to 16 x this keep a head's accumulator in registers. */
#define LM_ATTN_MAX_D16 16
/* Query heads per kv head the scratch is sized for (Qwen3-32B: 8). */
#define LM_ATTN_MAX_GROUP 16

/* Scratch floats one thread needs for the query task: the decode path's
 * or a batch tile's (attention_tile.h), whichever is more. */
#define LM_ATTN_DECODE_SCRATCH(group, D) ((size_t)(group) * (2 * (size_t)(D) + LM_ATTN_BLOCK))
#define LM_ATTN_SCRATCH(group, D)                                                          \
    (LM_ATTN_DECODE_SCRATCH(group, D) > LM_ATTN_TILE_SCRATCH(D) ? LM_ATTN_DECODE_SCRATCH(group, D) \
                                                                 : LM_ATTN_TILE_SCRATCH(D))
/* Calls of at least this many tokens take the lane-wise batch path. */
#define LM_ATTN_TILE_MIN 4

/* q . row of the cache, f32 or bf16: two 16-lane chains, then the tail. */
LM_INLINE float lm_kv_dot(const float *restrict q, const void *row, int D, int kv16)
{
    int i = 0;
    float s = 0.0f;
    if (D >= 16) {
        lm_v16 s0 = { 0 }, s1 = { 0 };
        for (; i + 32 <= D; i += 32) {
            s0 += lm_load16(q + i) * lm_kv_load16(row, i, kv16);
            s1 += lm_load16(q + i + 16) * lm_kv_load16(row, i + 16, kv16);
        }
        for (; i + 16 <= D; i += 16)
            s0 += lm_load16(q + i) * lm_kv_load16(row, i, kv16);
        s = lm_hsum16(s0 + s1);
    }
    for (; i < D; i++)
        s += q[i] * lm_kv_at(row, i, kv16);
    return s;
}

/* Rows ahead that decode attention fetches its keys. */
#define LM_ATTN_AHEAD 4

/* Whether a span of n tokens takes the batch path, and its work items. */
LM_INLINE int lm_attn_tiled(int n, int D)
{
    return n >= LM_ATTN_TILE_MIN && D % 16 == 0 && D <= 16 * (LM_ATTN_BLOCK + LM_ATTN_KEYS);
}

LM_INLINE int lm_attn_query_items(int n, int group, int KVH, int D)
{
    const int T = LM_ATTN_LANES / group;
    return (lm_attn_tiled(n, D) ? (n + T - 1) / T : n) * KVH;
}

/* One span's queries: this thread's items from `first` on, every
 * nthreads-th, with scratch its own. */
LM_INLINE void lm_attn_query_task(const lm_attn_args *a, float *scratch, int first, int nthreads, int H,
                                  int KVH, int D, int CTX, int win, float eps, int rot, float scale,
                                  int logn_seq, int kv16, int abf16)
{
    const float *kc = a->cache, *vc = lm_kv_values(a, KVH, CTX, D, kv16);
    const int group = H / KVH;
    float *q = scratch;                                      /* [group][D] */
    float *acc = q + (size_t)group * D;                      /* [group][D] */
    float *sc = acc + (size_t)group * D;                     /* [group][LM_ATTN_BLOCK] */
    float inv[LM_MAX_ROT / 2];
    lm_rope_cs cs = { .pos = -1 };
    if (rot)
        lm_rope_table(inv, rot, a->rope_base, &a->rope_scaling);
    if (lm_attn_tiled(a->n, D)) {
        /* A batch: tiles of 16 / group tokens, interleaved over the
         * threads as below. */
        const int T = LM_ATTN_LANES / group, tiles = (a->n + T - 1) / T;
        lm_rope_cs tcs[LM_ATTN_LANES];
        for (int i = 0; i < LM_ATTN_LANES; i++)
            tcs[i].pos = -1;
#if LM_AMX_ATTENTION
        /* Attention from bf16 (abf16, which the emitter sets only with a
         * bf16 cache: its template asserts it) on AMX tiles
         * (attention_amx.h); a sliding window's layers and capped scores
         * take the vdpbf16ps tiles, which have them. */
        const int amx = abf16 && !win && a->softcap == 0.0f && lm_attn_amx_fits(D) && lm_amx_ready();
        if (amx)
            lm_amx_begin();
#endif
        for (int item = first; item < tiles * KVH; item += nthreads) {
            const int t0 = item / KVH * T, kvh = item % KVH, tn = a->n - t0 < T ? a->n - t0 : T;
#if LM_AMX_ATTENTION
            if (amx) {
                lm_attn_query_tile_amx(a, q, t0, tn, kvh, H, KVH, D, CTX, eps, rot, scale, logn_seq, tcs, inv);
                continue;
            }
#endif
#if LM_DPBF16_ATTENTION
            /* A bf16 cache on vdpbf16ps (attention_dpbf16.h). */
            if (abf16 && lm_attn_dp_fits(D)) {
                lm_attn_query_tile_dp(a, q, t0, tn, kvh, H, KVH, D, CTX, win, eps, rot, scale, logn_seq, tcs, inv);
                continue;
            }
#endif
            lm_attn_query_tile(a, q, t0, tn, kvh, H, KVH, D, CTX, win, eps, rot, scale, logn_seq, tcs, inv, kv16,
                               abf16);
        }
#if LM_AMX_ATTENTION
        if (amx)
            _tile_release();
#endif
        return;
    }
    /* Interleaved items balance the causal triangle across threads. */
    for (int item = first; item < a->n * KVH; item += nthreads) {
        const int t = item / KVH, kvh = item % KVH, p = a->pos + t;
        /* The score scale (and logn) folded into the queries once. */
        const float qscale = scale * (logn_seq ? lm_logn_scale(p, logn_seq) : 1.0f);
        float m[LM_ATTN_MAX_GROUP], l[LM_ATTN_MAX_GROUP];
        for (int g = 0; g < group; g++) {
            float *qg = q + (size_t)g * D;
            const float *qs = a->q + (size_t)t * H * D + (size_t)(kvh * group + g) * D;
            lm_attn_head_row(qg, qs, a->q_norm, D, eps, rot, p, &cs, inv);
            for (int i = 0; i < D; i++)
                qg[i] = (abf16 ? lm_bf16_to_f32(lm_f32_to_bf16(qg[i])) : qg[i]) * qscale;
            memset(acc + (size_t)g * D, 0, sizeof(float) * D);
            m[g] = -INFINITY;
            l[g] = 0.0f;
        }
        const size_t head = (size_t)kvh * CTX;
        /* A window's first block starts at its first position: every
         * block has a key the query sees. */
        for (int j0 = lm_attn_first_pos(p, win); j0 <= p; j0 += LM_ATTN_BLOCK) {
            const int nb = p + 1 - j0 < LM_ATTN_BLOCK ? p + 1 - j0 : LM_ATTN_BLOCK;
            for (int jj = 0; jj < nb; jj++) {
                const size_t j = head + lm_kv_pos_row(j0 + jj, CTX, win);
                const void *kj = lm_kv_row(kc, j, D, kv16);
                /* The first line of each row waited on memory (two fifths
                 * of decode attention): fetch keys LM_ATTN_AHEAD rows
                 * ahead, and this row's values for the weighted sum. */
                if (j0 + jj + LM_ATTN_AHEAD <= p)
                    lm_kv_prefetch_row(lm_kv_row(kc, head + lm_kv_pos_row(j0 + jj + LM_ATTN_AHEAD, CTX, win), D, kv16),
                                       D, kv16);
                lm_kv_prefetch_row(lm_kv_row(vc, j, D, kv16), D, kv16);
                for (int g = 0; g < group; g++)
                    sc[g * LM_ATTN_BLOCK + jj] = lm_kv_dot(q + (size_t)g * D, kj, D, kv16);
            }
            /* Gemma 2's attention logit softcapping (tanh.h). */
            if (a->softcap > 0.0f)
                for (int g = 0; g < group; g++)
                    lm_softcap_row(sc + g * LM_ATTN_BLOCK, sc + g * LM_ATTN_BLOCK, nb, a->softcap);
            for (int g = 0; g < group; g++) {
                float *sg = sc + g * LM_ATTN_BLOCK;
                float mb = sg[0];
                for (int jj = 1; jj < nb; jj++)
                    mb = sg[jj] > mb ? sg[jj] : mb;
                if (mb > m[g]) {
                    const float c = expf(m[g] - mb); /* 0 for the first block */
                    l[g] *= c;
                    float *ag = acc + (size_t)g * D;
                    for (int i = 0; i < D; i++)
                        ag[i] *= c;
                    m[g] = mb;
                }
                float lsum = 0.0f;
                int jj = 0;
                for (; jj + 16 <= nb; jj += 16) {
                    const lm_v16 e = lm_exp16_nonpos(lm_load16(sg + jj) - m[g]);
                    lm_store16(sg + jj, e);
                    lsum += lm_hsum16(e);
                }
                for (; jj < nb; jj++) {
                    sg[jj] = expf(sg[jj] - m[g]);
                    lsum += sg[jj];
                }
                l[g] += lsum;
                /* abf16: the values weighted by bf16 probabilities, as the
                 * batch kernels and transformers' bf16 attention do. */
                if (abf16) {
                    for (jj = 0; jj + 16 <= nb; jj += 16)
                        lm_store16(sg + jj, lm_round_bf16_16(lm_load16(sg + jj)));
                    for (; jj < nb; jj++)
                        sg[jj] = lm_bf16_to_f32(lm_f32_to_bf16(sg[jj]));
                }
            }
            if (D % 16 == 0 && D <= 16 * LM_ATTN_MAX_D16) {
                /* The accumulator of a head stays in registers for the
                 * block (through memory it cost a load and a store per
                 * value and position). */
                for (int g = 0; g < group; g++) {
                    float *restrict ag = acc + (size_t)g * D;
                    lm_v16 av[LM_ATTN_MAX_D16];
                    for (int i = 0; i < D / 16; i++)
                        av[i] = lm_load16(ag + 16 * i);
                    for (int jj = 0; jj < nb; jj++) {
                        const void *vj = lm_kv_row(vc, head + lm_kv_pos_row(j0 + jj, CTX, win), D, kv16);
                        const float e = sc[g * LM_ATTN_BLOCK + jj];
                        for (int i = 0; i < D / 16; i++)
                            av[i] += e * lm_kv_load16(vj, 16 * i, kv16);
                    }
                    for (int i = 0; i < D / 16; i++)
                        lm_store16(ag + 16 * i, av[i]);
                }
            } else {
                for (int jj = 0; jj < nb; jj++) {
                    const void *vj = lm_kv_row(vc, head + lm_kv_pos_row(j0 + jj, CTX, win), D, kv16);
                    for (int g = 0; g < group; g++) {
                        float *restrict ag = acc + (size_t)g * D;
                        const float e = sc[g * LM_ATTN_BLOCK + jj];
                        for (int i = 0; i < D; i++)
                            ag[i] += e * lm_kv_at(vj, i, kv16);
                    }
                }
            }
        }
        for (int g = 0; g < group; g++) {
            float *o = a->out + (size_t)t * H * D + (size_t)(kvh * group + g) * D;
            for (int i = 0; i < D; i++)
                o[i] = acc[(size_t)g * D + i] / l[g];
        }
    }
}

/* ---- a forward call's attention: every span, items dealt over all ---- */

LM_INLINE void lm_attn_store_call(const lm_attn_call *c, int tid, int nthreads, int H, int KVH, int D, int CTX,
                                  int win, float eps, int rot, int kv16)
{
    for (int s = 0, row = 0, base = 0; s < c->n_spans; s++) {
        const lm_attn_args a = lm_attn_span(c, s, row, H, KVH, D, rot);
        lm_attn_store_task(&a, lm_attn_first_item(tid, base, nthreads), nthreads, KVH, D, CTX, win, eps, rot, kv16);
        row += a.n;
        base += a.n * KVH;
    }
}

LM_INLINE void lm_attn_query_call(const lm_attn_call *c, int tid, int nthreads, int H, int KVH, int D, int CTX,
                                  int win, float eps, int rot, float scale, int logn_seq, int kv16, int abf16)
{
    float *scratch = c->a.scratch + (size_t)tid * c->a.scratch_stride;
    for (int s = 0, row = 0, base = 0; s < c->n_spans; s++) {
        const lm_attn_args a = lm_attn_span(c, s, row, H, KVH, D, rot);
        lm_attn_query_task(&a, scratch, lm_attn_first_item(tid, base, nthreads), nthreads, H, KVH, D, CTX, win,
                           eps, rot, scale, logn_seq, kv16, abf16);
        row += a.n;
        base += lm_attn_query_items(a.n, H / KVH, KVH, D);
    }
}

#endif
