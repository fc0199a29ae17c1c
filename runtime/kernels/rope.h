/* Positions: rotary embedding (RoPE) and Qwen1's long-context rules
 * (dynamic NTK base, logn query scale). Below the KV cache, whose keys are
 * stored rotated, and both query paths, which rotate the same way. */
#ifndef LMRT_KERNELS_ROPE_H
#define LMRT_KERNELS_ROPE_H

#include <math.h>

#include "base.h"

/* inv_freq_i = 1 / base^(2i/rot), rounded through f32 at each step as
 * transformers computes it. */
LM_INLINE float lm_rope_inv_freq(int i, int rot, float base)
{
    float e = (float)(2 * i) / (float)rot;
    return 1.0f / powf(base, e);
}

/* How a model rescales RoPE's frequencies: config.json's rope_scaling, as
 * transformers' rope initialisers compute it. A zero-initialised value is
 * plain RoPE, so a model without scaling never names it. */
typedef enum lm_rope_kind {
    LM_ROPE_DEFAULT = 0,
    LM_ROPE_LINEAR, /* inv_freq / factor */
    LM_ROPE_LLAMA3, /* Llama 3.1's piecewise rescaling by wavelength */
} lm_rope_kind;

typedef struct lm_rope_scaling {
    lm_rope_kind kind;
    float factor;
    float low_freq_factor, high_freq_factor; /* llama3 */
    float original_context;                  /* llama3: original_max_position_embeddings */
} lm_rope_scaling;

/* Llama 3's rule (transformers' _compute_llama3_parameters), in f32 as its
 * tensors are: frequencies whose wavelength 2 pi / f is longer than
 * original_context / low_freq_factor are divided by factor, those shorter
 * than original_context / high_freq_factor are kept, and the band between
 * blends the two by how many wavelengths fit the original context. The
 * thresholds are Python floats (double) compared as f32; scalar / tensor
 * is the tensor's reciprocal times the scalar, as torch computes it. */
LM_INLINE float lm_rope_llama3(float f, const lm_rope_scaling *s)
{
    const float low_wavelen = (float)((double)s->original_context / (double)s->low_freq_factor);
    const float high_wavelen = (float)((double)s->original_context / (double)s->high_freq_factor);
    const float wavelen = (1.0f / f) * (float)(2.0 * 3.14159265358979323846);
    const float scaled = wavelen > low_wavelen ? f / s->factor : f;
    if (wavelen < high_wavelen || wavelen > low_wavelen)
        return scaled;
    const float smooth = ((1.0f / wavelen) * s->original_context - s->low_freq_factor)
                         / (float)((double)s->high_freq_factor - (double)s->low_freq_factor);
    return (1.0f - smooth) * scaled / s->factor + smooth * scaled;
}

/* The inverse frequencies of one call, computed once instead of per head
 * and position (powf per element cost more than the rotation itself). */
#define LM_MAX_ROT 512
LM_INLINE void lm_rope_table(float *inv, int rot, float base, const lm_rope_scaling *s)
{
    for (int i = 0; i < rot / 2; i++) {
        float f = lm_rope_inv_freq(i, rot, base);
        if (s->kind == LM_ROPE_LINEAR)
            f = f / s->factor;
        else if (s->kind == LM_ROPE_LLAMA3)
            f = lm_rope_llama3(f, s);
        inv[i] = f;
    }
}

/* cos and sin of pos * inv_freq for one position, kept while a thread's
 * items stay at that position: the heads of a position share them
 * (cosf and sinf per head were 4.5% of an AMX prefill). */
typedef struct lm_rope_cs {
    int pos;
    float c[LM_MAX_ROT / 2], s[LM_MAX_ROT / 2];
} lm_rope_cs;

LM_INLINE void lm_rope_at(lm_rope_cs *cs, int pos, int rot, const float *inv)
{
    if (cs->pos == pos)
        return;
    cs->pos = pos;
    for (int i = 0; i < rot / 2; i++) {
        const float ang = (float)pos * inv[i];
        cs->c[i] = cosf(ang);
        cs->s[i] = sinf(ang);
    }
}

/* Rotate-half RoPE of the first rot dims of one head, in place: pairs
 * (i, i + rot/2); dims past rot pass through (Qwen1's rotary_pct). */
LM_INLINE void lm_rope_head(float *x, int rot, const lm_rope_cs *cs)
{
    const int half = rot / 2;
    for (int i = 0; i < half; i++) {
        const float c = cs->c[i], sn = cs->s[i];
        const float x1 = x[i], x2 = x[i + half];
        x[i] = x1 * c - x2 * sn;
        x[i + half] = x2 * c + x1 * sn;
    }
}

/* Qwen1's dynamic NTK: when a sequence starts with more than seq_length
 * tokens, the rotary base grows to base * alpha^(rot / (rot - 2)) with
 * alpha = 2^ceil(log2(len / seq_length) + 1) - 1, computed in double as
 * Qwen's Python does (math.log(x, 2) is log(x) / log(2)). */
LM_INLINE float lm_ntk_base(double base, int rot, int seq_tokens, int seq_length)
{
    if (seq_tokens <= 0)
        return (float)base;
    double context = log((double)seq_tokens / (double)seq_length) / log(2.0) + 1.0;
    double alpha = pow(2.0, ceil(context)) - 1.0;
    if (alpha < 1.0)
        alpha = 1.0;
    return (float)(base * pow(alpha, (double)rot / (double)(rot - 2)));
}

/* Qwen1's logn attention: a query at position p is scaled by
 * log(p + 1) / log(seq_length) once p + 1 > seq_length. */
LM_INLINE float lm_logn_scale(int pos, int seq_length)
{
    if (seq_length <= 0 || pos + 1 <= seq_length)
        return 1.0f;
    return (float)(log((double)(pos + 1)) / log((double)seq_length));
}

#endif
