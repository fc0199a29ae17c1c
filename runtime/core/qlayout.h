/* How q8_0 and q4_0 weights lie in memory once bound: GGUF's blocks,
 * interleaved by groups of 16 rows.
 *
 * The values are GGUF's Q8_0 and Q4_0 exactly (core/model.h says how they
 * are quantized); only their order differs. A [rows, K] weight is cut into
 * groups of LM_QROWS rows (the last one padded with zero rows) and each
 * group into K / 32 group blocks, stored group after group, block after
 * block. A group block holds the 16 rows' f16 scales, then their quants in
 * chunks of 64 bytes: 4 bytes of row 0, 4 of row 1, ... 4 of row 15. So
 * one 64-byte load gives a vector whose 32-bit lane r holds 4 weights of
 * row r, and one int8 dot-product instruction (vpdpbusd) multiplies 16 rows
 * by 4 inputs broadcast from the activation: one activation load serves 16
 * rows, and the f16 scales of 16 rows convert in one instruction
 * (kernels/linear_quant.h).
 *
 *   q8_0 (544 bytes): d[16], then 8 chunks; chunk j holds elements 4j..4j+3
 *         of each row, stored as q + 128 (unsigned).
 *   q4_0 (288 bytes): d[16], then 4 chunks; chunk j holds GGUF's qs bytes
 *         4j..4j+3 of each row: low nibbles are elements 4j..4j+3, high
 *         nibbles elements 16+4j..16+4j+3, each q in [0, 15] for q - 8.
 *
 * Both keep the quants unsigned, the operand vpdpbusd wants unsigned; the
 * kernels subtract 128 or 8 times the activation block's sum. */
#ifndef LMRT_CORE_QLAYOUT_H
#define LMRT_CORE_QLAYOUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dtype.h"
#include "model.h"

#define LM_QROWS 16
#define LM_QSCALES_BYTES (LM_QROWS * 2)
#define LM_Q8_GROUP_BLOCK_BYTES (LM_QSCALES_BYTES + LM_QROWS * 32)
#define LM_Q4_GROUP_BLOCK_BYTES (LM_QSCALES_BYTES + LM_QROWS * 16)

static inline int lm_dtype_is_quantized(lm_dtype dt)
{
    return dt == LM_Q8_0 || dt == LM_Q4_0;
}

static inline size_t lm_qgroup_block_bytes(lm_dtype dt)
{
    return dt == LM_Q4_0 ? LM_Q4_GROUP_BLOCK_BYTES : LM_Q8_GROUP_BLOCK_BYTES;
}

/* Bytes of a [rows, K] quantized weight, its last group padded. */
static inline size_t lm_qweight_bytes(lm_dtype dt, size_t rows, size_t K)
{
    return (rows + LM_QROWS - 1) / LM_QROWS * (K / 32) * lm_qgroup_block_bytes(dt);
}

/* The group block holding row r's block b. */
static inline const uint8_t *lm_qgroup_block(const void *w, lm_dtype dt, size_t K, size_t r, size_t b)
{
    return (const uint8_t *)w + ((r / LM_QROWS) * (K / 32) + b) * lm_qgroup_block_bytes(dt);
}

/* Element k of row r, as f32. */
static inline float lm_qweight_at(const void *w, lm_dtype dt, size_t K, size_t r, size_t k)
{
    const uint8_t *g = lm_qgroup_block(w, dt, K, r, k / 32);
    const size_t lane = r % LM_QROWS, e = k % 32;
    uint16_t h;
    memcpy(&h, g + 2 * lane, 2);
    const uint8_t *q = g + LM_QSCALES_BYTES;
    int v;
    if (dt == LM_Q8_0) {
        v = (int)q[(e / 4) * 64 + lane * 4 + e % 4] - 128;
    } else {
        const size_t i = e % 16;
        const uint8_t byte = q[(i / 4) * 64 + lane * 4 + i % 4];
        v = (e < 16 ? byte & 15 : byte >> 4) - 8;
    }
    return lm_f16_to_f32(h) * (float)v;
}

/* Interleaves up to 16 rows of GGUF blocks (rows[r]: K / 32 blocks of row
 * r; nrows of them, the rest of the group zero) into one group's K / 32
 * group blocks at dst. */
static inline void lm_qgroup_pack(uint8_t *dst, const uint8_t *const rows[LM_QROWS], int nrows, lm_dtype dt,
                                  size_t K)
{
    const size_t gb = lm_qgroup_block_bytes(dt);
    const size_t src_bytes = dt == LM_Q4_0 ? LM_Q4_BLOCK_BYTES : LM_Q8_BLOCK_BYTES;
    const int chunks = dt == LM_Q4_0 ? 4 : 8;
    for (size_t b = 0; b < K / 32; b++, dst += gb) {
        memset(dst, 0, gb);
        if (dt == LM_Q8_0) /* a zero row's quants are 0 + 128 */
            memset(dst + LM_QSCALES_BYTES, 128, gb - LM_QSCALES_BYTES);
        for (int r = 0; r < nrows; r++) {
            const uint8_t *blk = rows[r] + b * src_bytes;
            memcpy(dst + 2 * r, blk, 2);
            for (int j = 0; j < chunks; j++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t q = blk[2 + 4 * j + i];
                    dst[LM_QSCALES_BYTES + 64 * j + 4 * r + i] = dt == LM_Q8_0 ? (uint8_t)(q ^ 0x80) : q;
                }
        }
    }
}

#endif
