/* What every kernel stands on: vector types, loads and stores, lane sums,
 * and one weight of any compiled dtype as f32.
 *
 * Vectors use the GCC/clang vector extension so the same code compiles to
 * AVX-512, AVX2 or NEON for whatever -march the model is built for. */
#ifndef LMRT_KERNELS_BASE_H
#define LMRT_KERNELS_BASE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__F16C__) || defined(__AVX512BW__)
#include <immintrin.h>
#endif

#include "../core/dtype.h"
#include "../core/model.h"
#include "../core/qlayout.h"

#define LM_INLINE static inline __attribute__((always_inline))

/* Unroll the next loop n times (clang and GCC both read this pragma). */
#define LM_PRAGMA(x) _Pragma(#x)
#define LM_UNROLL(n) LM_PRAGMA(GCC unroll n)

typedef float lm_v8 __attribute__((vector_size(32)));
typedef uint32_t lm_u32x8 __attribute__((vector_size(32)));
typedef uint16_t lm_u16x8 __attribute__((vector_size(16)));
typedef int8_t lm_i8x8 __attribute__((vector_size(8)));
typedef int32_t lm_i32x8 __attribute__((vector_size(32)));
typedef float lm_v16 __attribute__((vector_size(64)));
typedef int32_t lm_i32x16 __attribute__((vector_size(64)));
typedef uint32_t lm_u32x16 __attribute__((vector_size(64)));

LM_INLINE lm_v8 lm_load8(const float *p)
{
    lm_v8 v;
    memcpy(&v, p, sizeof v);
    return v;
}

LM_INLINE void lm_store8(float *p, lm_v8 v)
{
    memcpy(p, &v, sizeof v);
}

LM_INLINE lm_v16 lm_load16(const float *p)
{
    lm_v16 v;
    memcpy(&v, p, sizeof v);
    return v;
}

LM_INLINE void lm_store16(float *p, lm_v16 v)
{
    memcpy(p, &v, sizeof v);
}

/* The first n (< 16) floats at p as a vector, zeros after, and its
 * store: a row's tail goes through the same vector code as its body, so
 * an element's value does not depend on where in the row it stands. */
LM_INLINE lm_v16 lm_load16_part(const float *p, int n)
{
    float b[16] = { 0 };
    memcpy(b, p, sizeof(float) * (size_t)n);
    return lm_load16(b);
}

LM_INLINE void lm_store16_part(float *p, lm_v16 v, int n)
{
    float b[16];
    lm_store16(b, v);
    memcpy(p, b, sizeof(float) * (size_t)n);
}

LM_INLINE lm_v8 lm_load8_bf16(const uint16_t *p)
{
    lm_u16x8 h;
    memcpy(&h, p, sizeof h);
    return (lm_v8)(__builtin_convertvector(h, lm_u32x8) << 16);
}

LM_INLINE lm_v8 lm_load8_i8(const int8_t *p)
{
    lm_i8x8 q;
    memcpy(&q, p, sizeof q);
    return __builtin_convertvector(q, lm_v8);
}

/* Sums the lanes in a fixed order, so results do not depend on the target. */
LM_INLINE float lm_hsum8(lm_v8 v)
{
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

LM_INLINE lm_v8 lm_splat8(float f)
{
    return (lm_v8){ f, f, f, f, f, f, f, f };
}

LM_INLINE float lm_hsum16(lm_v16 v)
{
    lm_v8 lo, hi;
    memcpy(&lo, &v, sizeof lo);
    memcpy(&hi, (const char *)&v + sizeof lo, sizeof hi);
    return lm_hsum8(lo + hi);
}

/* ---- weights: one element, and rows as f32 ---------------------------- */

/* The f16 scale d of a Q8_0 block; one instruction where the CPU has F16C. */
LM_INLINE float lm_q8_scale(const uint8_t *blk)
{
    uint16_t h;
    memcpy(&h, blk, 2);
#if defined(__F16C__)
    return _cvtsh_ss(h);
#else
    return lm_f16_to_f32(h);
#endif
}

LM_INLINE float lm_weight_at(const void *w, lm_dtype dt, size_t i)
{
    switch (dt) {
    case LM_F32: return ((const float *)w)[i];
    case LM_BF16: return lm_bf16_to_f32(((const uint16_t *)w)[i]);
    case LM_F16: return lm_f16_to_f32(((const uint16_t *)w)[i]);
    case LM_Q8_0:
    case LM_Q4_0:
    case LM_Q4_K8: break; /* grouped by rows: lm_qweight_at */
    }
    return 0.0f;
}

/* Row r of a [rows, K] weight, as f32. */
LM_INLINE void lm_weight_row(float *out, const void *w, lm_dtype dt, size_t r, int K)
{
    if (lm_dtype_is_quantized(dt)) {
        for (int i = 0; i < K; i++)
            out[i] = lm_qweight_at(w, dt, (size_t)K, r, (size_t)i);
        return;
    }
    for (int i = 0; i < K; i++)
        out[i] = lm_weight_at(w, dt, r * (size_t)K + (size_t)i);
}

#endif
