/* Linears on AMX tiles, where the CPU has them (LM_AMX, decided in
 * linear_bf16.h, which says how the operands become bf16). Their own file:
 * the tile state, Linux's permission for it and the packed input layout
 * are AMX's alone. */
#ifndef LMRT_KERNELS_LINEAR_AMX_H
#define LMRT_KERNELS_LINEAR_AMX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../core/dtype.h"
#include "../core/model.h"
#include "base.h"
#include "linear_bf16.h"
#include "linear_epilogue.h"

/* ---- AMX: tile matrix multiply ---------------------------------------
 * Where the CPU has AMX-BF16 (Intel Sapphire Rapids and later), a batch
 * goes through the tile unit: one tdpbf16ps multiplies a 16 x 32 bf16 tile
 * by a 32 x 16 one into 16 x 16 f32 sums, 8192 multiply-adds per
 * instruction, about 15 times the f32 FMA rate of the same core (measured
 * by lmcc-limits). The weights are the left operand, loaded as stored (16
 * rows of 32 values, the row stride K), so they are not packed; the input
 * is the right one, packed once per call in the pair layout the unit wants
 * (xp[group of 16 tokens][K / 2][16 tokens], a u32 pair each). Each 32
 * rows x 32 tokens block keeps four 16 x 16 sums in tiles 0-3, weights in
 * 4-5, inputs in 6-7; the sums come out rows by tokens and are transposed
 * for the epilogue. f32 inputs come as two packed parts (high, low) and
 * both multiply each weight tile; f16 weights are converted per block
 * into two bf16 parts, the low part multiplying the high inputs.
 * perf: most samples fall on the tile loads, not on the products. */
#if LM_AMX

/* Linux hands out the tile state on request only (arch_prctl
 * ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, once per process; the raw
 * system call, as strict C17 has no syscall()). A refusal (an older kernel)
 * leaves the other kernels in use: vdpbf16ps for bf16 inputs, f32 FMA for
 * f32 ones. */
LM_INLINE int lm_amx_ready(void)
{
    static int state; /* 0: not asked yet, 1: granted, -1: refused */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "0"(158L /* SYS_arch_prctl */), "D"(0x1023L /* ARCH_REQ_XCOMP_PERM */),
                           "S"(18L /* XFEATURE_XTILEDATA */)
                         : "rcx", "r11", "memory");
        s = ret == 0 ? 1 : -1;
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s > 0;
}

/* Palette 1 with tile i of rows[i] rows of colsb[i] bytes. Per thread:
 * each task that uses the tiles loads a configuration and releases the
 * tiles when done. */
LM_INLINE void lm_amx_configure(const uint8_t rows[8], const uint16_t colsb[8])
{
    struct {
        uint8_t palette, start_row, reserved[14];
        uint16_t colsb[16];
        uint8_t rows[16];
    } cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = 0; i < 8; i++) {
        cfg.colsb[i] = colsb[i];
        cfg.rows[i] = rows[i];
    }
    _tile_loadconfig(&cfg);
}

/* All eight tiles 16 rows of 64 bytes. */
LM_INLINE void lm_amx_begin(void)
{
    static const uint8_t rows[8] = { 16, 16, 16, 16, 16, 16, 16, 16 };
    static const uint16_t colsb[8] = { 64, 64, 64, 64, 64, 64, 64, 64 };
    lm_amx_configure(rows, colsb);
}

/* r[j][i] = r[i][j] for a 16 x 16 matrix of 32-bit values held in 16
 * registers: pairs of 32-bit values interleaved, then 64-bit ones, then
 * 128-bit lanes gathered in two steps (column 4L + c ends up from lane L
 * of the c-th register of each block of four). */
LM_INLINE void lm_transpose16(__m512i r[16])
{
    __m512i a[16], b[16];
    for (int i = 0; i < 16; i += 2) {
        a[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        a[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        b[i] = _mm512_unpacklo_epi64(a[i], a[i + 2]);
        b[i + 1] = _mm512_unpackhi_epi64(a[i], a[i + 2]);
        b[i + 2] = _mm512_unpacklo_epi64(a[i + 1], a[i + 3]);
        b[i + 3] = _mm512_unpackhi_epi64(a[i + 1], a[i + 3]);
    }
    for (int c = 0; c < 4; c++) {
        const __m512i p = _mm512_shuffle_i32x4(b[c], b[4 + c], 0x88), q = _mm512_shuffle_i32x4(b[c], b[4 + c], 0xdd);
        const __m512i p2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0x88);
        const __m512i q2 = _mm512_shuffle_i32x4(b[8 + c], b[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(p, p2, 0x88);
        r[8 + c] = _mm512_shuffle_i32x4(p, p2, 0xdd);
        r[4 + c] = _mm512_shuffle_i32x4(q, q2, 0x88);
        r[12 + c] = _mm512_shuffle_i32x4(q, q2, 0xdd);
    }
}

/* 32 values as bf16 (nearest even), in order; with lo, also what that
 * rounding left, as bf16: hi + lo is the value within 2^-17 relative. */
LM_INLINE __m512i lm_amx_round32(const float *src, __m512i *lo)
{
    const __m512 a = _mm512_loadu_ps(src), b = _mm512_loadu_ps(src + 16);
    const __m512bh h = _mm512_cvtne2ps_pbh(b, a);
    __m512i hi;
    memcpy(&hi, &h, sizeof hi);
    if (lo) {
        const __m512 ah = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_castsi512_si256(hi)), 16));
        const __m512 bh =
            _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm512_extracti64x4_epi64(hi, 1)), 16));
        const __m512bh l = _mm512_cvtne2ps_pbh(_mm512_sub_ps(b, bh), _mm512_sub_ps(a, ah));
        memcpy(lo, &l, sizeof l);
    }
    return hi;
}

/* The input x ([n, K], K a multiple of 32) rounded to bf16 and packed for
 * the tiles: groups of 16 tokens, a whole number of 32-token blocks, the
 * tokens past n zero. Per 16 tokens x 32 values: convert each token's 32
 * values to 16 pairs, transpose, store one 64-byte row per pair of k.
 * With xl, what the rounding left is packed there the same way. */
LM_INLINE void lm_amx_pack_x(uint32_t *restrict xp, uint32_t *restrict xl, const float *x, int n, int K)
{
    const int groups = (n + 31) / 32 * 2;
    for (int g = 0; g < groups; g++) {
        const size_t base = (size_t)g * (size_t)(K / 2) * 16;
        for (int k = 0; k < K; k += 32) {
            __m512i r[16], rl[16];
            for (int t = 0; t < 16; t++) {
                const int tok = g * 16 + t;
                if (tok >= n) {
                    r[t] = rl[t] = _mm512_setzero_si512();
                    continue;
                }
                r[t] = lm_amx_round32(x + (size_t)tok * K + k, xl ? &rl[t] : NULL);
            }
            lm_transpose16(r);
            for (int j = 0; j < 16; j++)
                memcpy(xp + base + (size_t)(k / 2 + j) * 16, &r[j], sizeof r[j]);
            if (xl) {
                lm_transpose16(rl);
                for (int j = 0; j < 16; j++)
                    memcpy(xl + base + (size_t)(k / 2 + j) * 16, &rl[j], sizeof rl[j]);
            }
        }
    }
}

/* Tiles 6-7 <- two groups of 16 packed tokens at column k; the sums in
 * tiles 0-3 += the weight tiles 4-5 times them. */
LM_INLINE void lm_amx_step(const uint32_t *x0, const uint32_t *x1, int k)
{
    _tile_loadd(6, x0 + (size_t)k * 8, 64);
    _tile_loadd(7, x1 + (size_t)k * 8, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
}

/* sums[r][t] for 32 weight rows (w, row stride K) by 32 packed tokens
 * (xp0, xp1: two groups of 16), plus the low parts xl0, xl1 when given,
 * plus the weights' low parts wl (same layout as w) times the inputs'
 * high parts when given. Meanwhile pf_rows rows from pf (stride K) are
 * fetched into the cache, a share of the next block's weights. */
LM_INLINE void lm_amx_32x32(float sums[32][32], const uint16_t *w, const uint16_t *wl, const uint32_t *xp0,
                            const uint32_t *xp1, const uint32_t *xl0, const uint32_t *xl1, int K, const uint16_t *pf,
                            int pf_rows)
{
    const size_t ldw = (size_t)K * sizeof(uint16_t);
    const uint16_t *w16 = w + (size_t)16 * K;
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (int k = 0; k < K; k += 32) {
        for (int i = 0; i < pf_rows; i++)
            __builtin_prefetch(pf + (size_t)i * K + k);
        _tile_loadd(4, w + k, ldw);
        _tile_loadd(5, w16 + k, ldw);
        lm_amx_step(xp0, xp1, k);
        if (xl0)
            lm_amx_step(xl0, xl1, k);
        if (wl) {
            _tile_loadd(4, wl + k, ldw);
            _tile_loadd(5, wl + (size_t)16 * K + k, ldw);
            lm_amx_step(xp0, xp1, k);
        }
    }
    _tile_stored(0, &sums[0][0], 128);
    _tile_stored(1, &sums[0][16], 128);
    _tile_stored(2, &sums[16][0], 128);
    _tile_stored(3, &sums[16][16], 128);
}

/* acc[t][r] = sums[r][t]: four 16 x 16 transposes. */
LM_INLINE void lm_amx_transpose(float acc[32][32], float sums[32][32])
{
    for (int bi = 0; bi < 2; bi++)
        for (int bj = 0; bj < 2; bj++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                memcpy(&r[i], &sums[bi * 16 + i][bj * 16], sizeof r[i]);
            lm_transpose16(r);
            for (int i = 0; i < 16; i++)
                memcpy(&acc[bj * 16 + i][bi * 16], &r[i], sizeof r[i]);
        }
}

/* Tokens per pass over a thread's weight blocks: the packed inputs of a
 * pass (bytes_per_token each) should stay in L2 while every block reads
 * them. With all 256 tokens of Qwen3-0.6B's down projection (K = 3072,
 * high and low parts: 3 MB) each block read them from L3 again; in passes
 * of 64 tokens (768 KB) the weights are read four times instead, from
 * memory, and the whole prefill ran 6% faster (512 KB or 1.5 MB passes:
 * no better). A multiple of 32, at least 32. */
#ifndef LM_AMX_PASS_BYTES
#define LM_AMX_PASS_BYTES ((size_t)1 << 20)
#endif
LM_INLINE int lm_amx_pass_tokens(int n, size_t bytes_per_token)
{
    size_t t = LM_AMX_PASS_BYTES / bytes_per_token / 32 * 32;
    if (t < 32)
        t = 32;
    return t >= (size_t)n ? n : (int)t;
}

/* Rows [r0, r0 + nr) of the f16 matrix w ([*, K]) as two bf16 parts, hi
 * ([32, K]) and lo (the same, after it), zero past nr: an f16 weight has
 * 11 significant bits, so hi + lo holds it exactly. */
LM_INLINE void lm_amx_split_rows(uint16_t *restrict hi, const void *w, lm_dtype dt, int r0, int nr, int K)
{
    uint16_t *lo = hi + (size_t)32 * K;
    for (int r = 0; r < 32; r++) {
        uint16_t *h = hi + (size_t)r * K, *l = lo + (size_t)r * K;
        if (r >= nr) {
            memset(h, 0, sizeof(uint16_t) * (size_t)K);
            memset(l, 0, sizeof(uint16_t) * (size_t)K);
            continue;
        }
        const size_t row = (size_t)(r0 + r) * (size_t)K;
        for (int k = 0; k < K; k += 32) {
            float v[32];
            for (int i = 0; i < 32; i++)
                v[i] = lm_weight_at(w, dt, row + (size_t)k + (size_t)i);
            __m512i lv;
            const __m512i hv = lm_amx_round32(v, &lv);
            memcpy(h + k, &hv, sizeof hv);
            memcpy(l + k, &lv, sizeof lv);
        }
    }
}

/* Output rows [r0, r0 + nr) of part p for tokens [t_begin, t_end) (t_begin
 * a multiple of 32) of the packed inputs xp (and their low parts xl, or
 * NULL). A bf16 block of fewer than 32 rows (a matrix's last) is copied,
 * zero-padded, to wpad ([32, K] bf16) so the tiles never read past the
 * weights; f16 blocks are split there into two bf16 parts
 * (lm_amx_split_rows; [32, K] x 2, twice when gated). */
LM_INLINE void lm_linear_block_amx(const lm_linear_args *a, int p, int out, int r0, int nr, const uint32_t *xp,
                                   const uint32_t *xl, int K, lm_dtype dt, lm_linear_mode mode, uint16_t *wpad,
                                   int t_begin, int t_end)
{
    const int gated = mode != LM_LINEAR_PLAIN;
    const uint16_t *wg, *wu = NULL, *wgl = NULL, *wul = NULL;
    if (dt != LM_BF16) {
        uint16_t *up_parts = wpad + (size_t)64 * K;
        lm_amx_split_rows(wpad, a->w[p], dt, r0, nr, K);
        wg = wpad;
        wgl = wpad + (size_t)32 * K;
        if (gated) {
            lm_amx_split_rows(up_parts, a->w[1], dt, r0, nr, K);
            wu = up_parts;
            wul = up_parts + (size_t)32 * K;
        }
    } else {
        wg = (const uint16_t *)a->w[p] + (size_t)r0 * K;
        wu = gated ? (const uint16_t *)a->w[1] + (size_t)r0 * K : NULL;
    }
    if (dt == LM_BF16 && nr < 32) {
        uint16_t *pad_u = wpad + (size_t)32 * K;
        memset(wpad, 0, sizeof(uint16_t) * 32 * (size_t)K * (gated ? 2 : 1));
        memcpy(wpad, wg, sizeof(uint16_t) * (size_t)nr * K);
        if (gated)
            memcpy(pad_u, wu, sizeof(uint16_t) * (size_t)nr * K);
        wg = wpad;
        wu = gated ? pad_u : NULL;
    }
    const size_t group = (size_t)(K / 2) * 16;
    /* The first token tile reads the block from memory, the others from
     * L2: each tile prefetches a share of the next block's rows, so the
     * hardware is not left to find 32 streams at 2K-byte strides. */
    const int tiles = (t_end - t_begin + 31) / 32;
    const int next = out - (r0 + 32) < 32 ? (out - (r0 + 32) > 0 ? out - (r0 + 32) : 0) : 32;
    const int share = (next + tiles - 1) / tiles;
    for (int t0 = t_begin; t0 < t_end; t0 += 32) {
        const int nt = t_end - t0 < 32 ? t_end - t0 : 32;
        const uint32_t *x0 = xp + (size_t)(t0 / 16) * group, *x1 = x0 + group;
        const uint32_t *l0 = xl ? xl + (size_t)(t0 / 16) * group : NULL, *l1 = xl ? l0 + group : NULL;
        const int pr0 = (t0 - t_begin) / 32 * share;
        const int prn = next - pr0 < share ? (next - pr0 > 0 ? next - pr0 : 0) : share;
        const size_t pf_off = (size_t)(r0 + 32 + pr0) * K;
        /* (Converted weights are in wpad already: nothing to fetch.) */
        const uint16_t *pg = prn && dt == LM_BF16 ? (const uint16_t *)a->w[p] + pf_off : NULL;
        const uint16_t *pu = prn && dt == LM_BF16 && gated ? (const uint16_t *)a->w[1] + pf_off : NULL;
        float sums[32][32], acc[32][32], up[32][32];
        lm_amx_32x32(sums, wg, wgl, x0, x1, l0, l1, K, pg, pg ? prn : 0);
        lm_amx_transpose(acc, sums);
        if (gated) {
            lm_amx_32x32(sums, wu, wul, x0, x1, l0, l1, K, pu, pu ? prn : 0);
            lm_amx_transpose(up, sums);
        }
        lm_linear_store(a, mode, p, out, t0, nt, r0, nr, &acc[0][0], gated ? &up[0][0] : NULL, 32);
    }
}
#endif /* AMX */

#endif
