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
 *   q4_k8 (288 bytes): sc[16], mn[16] (u8), then q4_0's 4 chunks of
 *         nibbles (q in [0, 15], no offset); each run of up to 8 group
 *         blocks (a super-block) follows a 64-byte header of the 16 rows'
 *         f16 ds[16], dm[16].
 *
 * All keep the quants unsigned, the operand vpdpbusd wants unsigned; the
 * kernels subtract 128 or 8 times the activation block's sum (q4_k8: its
 * min term, dm * mn times that sum). */
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
#define LM_Q4K8_HEADER_BYTES (LM_QROWS * 4)
#define LM_Q4K8_SUPER_BYTES (LM_Q4K8_HEADER_BYTES + LM_Q4K8_SUPER * LM_Q4_GROUP_BLOCK_BYTES)

static inline int lm_dtype_is_quantized(lm_dtype dt)
{
    return dt == LM_Q8_0 || dt == LM_Q4_0 || dt == LM_Q4_K8;
}

/* Bytes of one row's 32-block before interleaving: GGUF's for q8_0 and
 * q4_0, core/model.h's for q4_k8. */
static inline size_t lm_qrow_block_bytes(lm_dtype dt)
{
    return dt == LM_Q4_K8 ? LM_Q4K8_BLOCK_BYTES : dt == LM_Q4_0 ? LM_Q4_BLOCK_BYTES : LM_Q8_BLOCK_BYTES;
}

static inline size_t lm_qgroup_block_bytes(lm_dtype dt)
{
    return dt == LM_Q8_0 ? LM_Q8_GROUP_BLOCK_BYTES : LM_Q4_GROUP_BLOCK_BYTES;
}

/* Bytes of one group (16 rows, all K / 32 blocks, q4_k8's headers). */
static inline size_t lm_qgroup_bytes(lm_dtype dt, size_t K)
{
    const size_t nb = K / 32;
    if (dt == LM_Q4_K8)
        return (nb + LM_Q4K8_SUPER - 1) / LM_Q4K8_SUPER * LM_Q4K8_HEADER_BYTES + nb * LM_Q4_GROUP_BLOCK_BYTES;
    return nb * lm_qgroup_block_bytes(dt);
}

/* Where block b starts within its group (q4_k8: past its super-block's header). */
static inline size_t lm_qblock_offset(lm_dtype dt, size_t b)
{
    if (dt == LM_Q4_K8)
        return b / LM_Q4K8_SUPER * LM_Q4K8_SUPER_BYTES + LM_Q4K8_HEADER_BYTES + b % LM_Q4K8_SUPER * LM_Q4_GROUP_BLOCK_BYTES;
    return b * lm_qgroup_block_bytes(dt);
}

/* Bytes of a [rows, K] quantized weight, its last group padded. */
static inline size_t lm_qweight_bytes(lm_dtype dt, size_t rows, size_t K)
{
    return (rows + LM_QROWS - 1) / LM_QROWS * lm_qgroup_bytes(dt, K);
}

/* The group block holding row r's block b. */
static inline const uint8_t *lm_qgroup_block(const void *w, lm_dtype dt, size_t K, size_t r, size_t b)
{
    return (const uint8_t *)w + (r / LM_QROWS) * lm_qgroup_bytes(dt, K) + lm_qblock_offset(dt, b);
}

/* q4_k8: the header (ds[16], dm[16]) of the super-block holding block b,
 * whose group block starts at group_block. */
static inline uint8_t *lm_q4k8_header(const uint8_t *group_block, size_t b)
{
    return (uint8_t *)group_block - LM_Q4K8_HEADER_BYTES - b % LM_Q4K8_SUPER * LM_Q4_GROUP_BLOCK_BYTES;
}

/* Element k of row r, as f32. */
static inline float lm_qweight_at(const void *w, lm_dtype dt, size_t K, size_t r, size_t k)
{
    const uint8_t *g = lm_qgroup_block(w, dt, K, r, k / 32);
    const size_t lane = r % LM_QROWS, e = k % 32;
    uint16_t h;
    memcpy(&h, g + 2 * lane, 2);
    const uint8_t *q = g + LM_QSCALES_BYTES;
    if (dt == LM_Q8_0)
        return lm_f16_to_f32(h) * (float)((int)q[(e / 4) * 64 + lane * 4 + e % 4] - 128);
    const size_t i = e % 16;
    const uint8_t byte = q[(i / 4) * 64 + lane * 4 + i % 4];
    const int nib = e < 16 ? byte & 15 : byte >> 4;
    if (dt == LM_Q4_0)
        return lm_f16_to_f32(h) * (float)(nib - 8);
    const uint8_t *head = lm_q4k8_header(g, k / 32);
    uint16_t ds, dm;
    memcpy(&ds, head + 2 * lane, 2);
    memcpy(&dm, head + 2 * LM_QROWS + 2 * lane, 2);
    return lm_f16_to_f32(ds) * (float)g[lane] * (float)nib - lm_f16_to_f32(dm) * (float)g[LM_QROWS + lane];
}

/* Interleaves up to 16 rows of row blocks (rows[r]: K / 32 blocks of row
 * r, GGUF's for q8_0 and q4_0, core/model.h's 22-byte ones for q4_k8;
 * nrows of them, the rest of the group zero) into one group at dst. */
static inline void lm_qgroup_pack(uint8_t *dst, const uint8_t *const rows[LM_QROWS], int nrows, lm_dtype dt,
                                  size_t K)
{
    const size_t gb = lm_qgroup_block_bytes(dt);
    const size_t src_bytes = lm_qrow_block_bytes(dt);
    const size_t head = dt == LM_Q4_K8 ? 6 : 2; /* bytes before a row block's quants */
    const int chunks = dt == LM_Q8_0 ? 8 : 4;
    memset(dst, 0, lm_qgroup_bytes(dt, K));
    for (size_t b = 0; b < K / 32; b++) {
        uint8_t *g = dst + lm_qblock_offset(dt, b);
        if (dt == LM_Q8_0) /* a zero row's quants are 0 + 128 */
            memset(g + LM_QSCALES_BYTES, 128, gb - LM_QSCALES_BYTES);
        for (int r = 0; r < nrows; r++) {
            const uint8_t *blk = rows[r] + b * src_bytes;
            if (dt == LM_Q4_K8) {
                uint8_t *h = lm_q4k8_header(g, b);
                memcpy(h + 2 * r, blk, 2);
                memcpy(h + 2 * LM_QROWS + 2 * r, blk + 2, 2);
                g[r] = blk[4];
                g[LM_QROWS + r] = blk[5];
            } else {
                memcpy(g + 2 * r, blk, 2);
            }
            for (int j = 0; j < chunks; j++)
                for (int i = 0; i < 4; i++) {
                    const uint8_t q = blk[head + 4 * j + i];
                    g[LM_QSCALES_BYTES + 64 * j + 4 * r + i] = dt == LM_Q8_0 ? (uint8_t)(q ^ 0x80) : q;
                }
        }
    }
}

#endif
