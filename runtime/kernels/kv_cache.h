/* The KV cache: its layout, the attention call's arguments that point
 * into it, rows of an f32 or bf16 cache, and a head's key or query as the
 * cache and the scores hold it. Below both query paths (attention.h for
 * decode, attention_tile.h for a batch), which read it alike. */
#ifndef LMRT_KERNELS_KV_CACHE_H
#define LMRT_KERNELS_KV_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/model.h"
#include "../core/pages.h"
#include "base.h"
#include "norm.h"
#include "rope.h"

/* ---- layout ----------------------------------------------------------------
 * The KV cache of one layer is [kv_heads][context][head_dim] for keys, then
 * the same for values: each head's positions are contiguous, so attention
 * streams them and crosses a 4 KiB page every 8 positions (head_dim 128).
 * Position-major ([context][kv_heads][head_dim]) put each position of
 * Qwen3-0.6B on a page of its own per head read, a TLB miss per position:
 * decode after 512 positions lost a fifth of its speed. The cache is
 * reserved address space, so a short prompt costs a page per head and
 * layer, and memory grows with the positions in use. Keys are
 * stored after their per-head norm and RoPE. */

typedef struct lm_attn_args {
    const float *q, *k, *v;     /* [n, heads*D], [n, kv_heads*D], [n, kv_heads*D] */
    float rope_base;            /* this call's RoPE base (dynamic NTK may raise it) */
    lm_rope_scaling rope_scaling; /* config.json's rope_scaling; zero: none */
    const float *q_norm;        /* [D] or NULL */
    const float *k_norm;        /* [D] or NULL */
    float *cache;               /* this layer's K then V cache */
    float *out;                 /* [n, heads*D] */
    float *scratch;
    size_t scratch_stride;
    float softcap;              /* scores capped to softcap * tanh(s / softcap); 0: not */
    int n, pos;
} lm_attn_args;

/* A forward call's attention: its rows belong to one or more sequences
 * (lm_span), each in a KV-cache slot of its own. The kernels run each span
 * as an lm_attn_args of its rows, its slot's cache and its positions. */
typedef struct lm_attn_call {
    lm_attn_args a;        /* every row of the call; slot 0's cache; n, pos unused */
    const lm_span *spans;
    int n_spans;
    size_t slot_floats;    /* floats from one slot's cache to the next's */
    double ntk_base;       /* with ntk: the RoPE base dynamic NTK scales per sequence */
    int ntk;               /* Qwen1's dynamic NTK seq_length, or 0 */
} lm_attn_call;

/* Span s of c, whose first row is `row`, as the kernels take it. */
LM_INLINE lm_attn_args lm_attn_span(const lm_attn_call *c, int s, int row, int H, int KVH, int D, int rot)
{
    const lm_span *sp = &c->spans[s];
    lm_attn_args a = c->a;
    a.q += (size_t)row * H * D;
    a.out += (size_t)row * H * D;
    a.k += (size_t)row * KVH * D;
    a.v += (size_t)row * KVH * D;
    a.cache += (size_t)sp->slot * c->slot_floats;
    a.n = sp->n;
    a.pos = sp->pos;
    if (c->ntk)
        a.rope_base = lm_ntk_base(c->ntk_base, rot, sp->seq_tokens, c->ntk);
    return a;
}

/* The first of a span's work items that thread tid takes, the call's items
 * being dealt round robin over the threads and the span's starting at
 * `base`: a decode step of many one-token spans keeps every thread busy
 * even when a span has fewer items than there are threads. */
LM_INLINE int lm_attn_first_item(int tid, int base, int nthreads)
{
    return ((tid - base) % nthreads + nthreads) % nthreads;
}

/* ---- the KV cache: f32, or bf16 (lmcc build --kv-dtype bf16) -------------
 * A bf16 cache holds each key (after its norm and RoPE) and value rounded
 * to bf16: half the bytes a decode step reads per cached position, half
 * the memory per position. kv16 is a constant of each generated call. */

typedef uint16_t lm_u16x16 __attribute__((vector_size(32)));

/* Largest head dimension of a bf16 cache (a key is built in f32 first). */
#define LM_KV16_MAX_D 512

/* Row `row` ([D] values) of the cache region base. */
LM_INLINE const void *lm_kv_row(const float *base, size_t row, int D, int kv16)
{
    return kv16 ? (const void *)((const uint16_t *)base + row * (size_t)D) : (const void *)(base + row * (size_t)D);
}

LM_INLINE lm_v16 lm_kv_load16(const void *row, int i, int kv16)
{
    if (!kv16)
        return lm_load16((const float *)row + i);
    lm_u16x16 h;
    memcpy(&h, (const uint16_t *)row + i, sizeof h);
    const lm_u32x16 w = __builtin_convertvector(h, lm_u32x16) << 16;
    lm_v16 v;
    memcpy(&v, &w, sizeof v);
    return v;
}

LM_INLINE float lm_kv_at(const void *row, int i, int kv16)
{
    return kv16 ? lm_bf16_to_f32(((const uint16_t *)row)[i]) : ((const float *)row)[i];
}

/* dst[0..D) = the row as f32 (a bf16 row converted, an f32 one copied). */
LM_INLINE void lm_kv_to_f32(float *restrict dst, const void *row, int D, int kv16)
{
    if (!kv16) {
        memcpy(dst, row, sizeof(float) * (size_t)D);
        return;
    }
    for (int i = 0; i < D; i++)
        dst[i] = lm_bf16_to_f32(((const uint16_t *)row)[i]);
}

LM_INLINE void lm_kv_prefetch_row(const void *row, int D, int kv16)
{
    const int bytes = D * (kv16 ? 2 : 4);
    for (int i = 0; i < bytes; i += 64)
        __builtin_prefetch((const char *)row + i);
}

/* Where the values start in a layer's cache: after the keys. */
LM_INLINE float *lm_kv_values(const lm_attn_args *a, int KVH, int CTX, int D, int kv16)
{
    return a->cache + (size_t)KVH * CTX * D / (kv16 ? 2 : 1);
}

/* Rows [row, row + n) of a cache region (keys or values of one head) made
 * resident in one call before a batch writes them, instead of a page
 * fault per 4 KiB. */
LM_INLINE void lm_kv_populate(const float *base, size_t row, int n, int D, int kv16)
{
    const size_t esz = kv16 ? 2 : 4;
    lm_pages_populate_write((char *)base + row * (size_t)D * esz, (size_t)n * (size_t)D * esz);
}

/* One head's key or query as attention uses it: normalized (or copied)
 * into dst, then rotated for position p. */
LM_INLINE void lm_attn_head_row(float *restrict dst, const float *restrict src, const float *norm_w, int D,
                                float eps, int rot, int p, lm_rope_cs *cs, const float *inv)
{
    if (norm_w)
        lm_rmsnorm_row(dst, src, norm_w, D, eps);
    else
        memcpy(dst, src, sizeof(float) * D);
    if (rot) {
        lm_rope_at(cs, p, rot, inv);
        lm_rope_head(dst, rot, cs);
    }
}

/* Positions per block in which both query paths read the cache and
 * update their online softmax (why blocks: phase 2 in attention.h). */
#define LM_ATTN_BLOCK 64

/* ---- sliding windows ---------------------------------------------------------
 * A layer with a sliding window of win positions (Gemma 3's local layers)
 * lets the query at position p see positions p - win + 1 .. p only, so its
 * cache is a ring of CTX rows per head, position j in row j % CTX: memory
 * bounded by the window, not the context. CTX (the emitter's ring rows)
 * is at least win + the most tokens of one call - 1: a call's new keys
 * then never overwrite a position one of its queries still sees. It is a
 * multiple of LM_ATTN_BLOCK, so a block of positions that starts at a
 * multiple of the block is a run of consecutive rows, which the batch
 * paths read as one. win 0: no window, CTX rows are positions. */
LM_INLINE size_t lm_kv_pos_row(int j, int CTX, int win)
{
    return win ? (size_t)(j % CTX) : (size_t)j;
}

/* The first position the query at p sees. */
LM_INLINE int lm_attn_first_pos(int p, int win)
{
    return win && p >= win ? p - win + 1 : 0;
}

#endif
