/* Scalar conversions between the weight dtypes and f32. */
#ifndef LMRT_CORE_DTYPE_H
#define LMRT_CORE_DTYPE_H

#include <stdint.h>
#include <string.h>

static inline float lm_bf16_to_f32(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even, as torch's .to(torch.bfloat16); NaN stays NaN. */
static inline uint16_t lm_f32_to_bf16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float lm_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400u));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ffu) << 13);
        }
    } else if (exp == 0x1f) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Round to nearest even; overflow becomes infinity, NaN stays NaN. */
static inline uint16_t lm_f32_to_f16(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t abs = u & 0x7fffffffu;
    if (abs > 0x7f800000u)
        return sign | 0x7e00u;
    if (abs >= 0x477ff000u) /* rounds to >= 65520: infinity */
        return sign | 0x7c00u;
    if (abs < 0x38800000u) { /* below 2^-14: subnormal or zero */
        if (abs < 0x33000000u)
            return sign;
        /* The 24-bit significand loses 'drop' bits: 13 for the narrower
         * fraction plus one per step below the smallest normal. */
        uint32_t man = (abs & 0x7fffffu) | 0x800000u;
        uint32_t drop = 126u - (abs >> 23);
        uint32_t q = man >> drop;
        uint32_t rem = man & ((1u << drop) - 1);
        uint32_t mid = 1u << (drop - 1);
        if (rem > mid || (rem == mid && (q & 1u)))
            q++;
        return sign | (uint16_t)q;
    }
    uint32_t r = abs - 0x38000000u; /* rebias exponent 127 -> 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return sign | (uint16_t)(r >> 13);
}

#endif
