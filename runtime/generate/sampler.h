/* Picking the next token from a row of logits, with the semantics and order of
 * Hugging Face `generate()`:
 *
 *   1. repetition penalty (RepetitionPenaltyLogitsProcessor): every distinct
 *      id in the context (prompt + generated so far) once:
 *      score = score < 0 ? score * penalty : score / penalty
 *   2. temperature == 0: greedy, argmax with the lowest id winning ties; stop.
 *   3. temperature (TemperatureLogitsWarper): score /= temperature
 *   4. top-k (TopKLogitsWarper): keep every token whose score is >= the k-th
 *      highest score (ties at the boundary are all kept)
 *   5. top-p (TopPLogitsWarper): on the softmax of what is left, sorted
 *      ascending, drop tokens whose cumulative probability is <= 1 - top_p;
 *      the most probable token is always kept
 *   6. min-p (MinPLogitsWarper): on the softmax of what is left, keep tokens
 *      with probability >= min_p * the highest probability
 *   7. draw from the softmax of what is left
 *
 * Scores stay float32 through steps 1-4 exactly as in PyTorch; softmaxes and
 * cumulative sums are computed in double. Where HF's order among equal scores
 * is unspecified (torch.sort is not stable), equal scores are ordered by
 * ascending token id: the lower id counts as more probable.
 *
 * Random numbers: xoshiro256** whose 256-bit state is filled by four outputs
 * of splitmix64 started at the seed. Each sampled token uses exactly one
 * 64-bit output u, turned into the double (u >> 11) * 2^-53 in [0, 1); the
 * token is the first one, walking the kept tokens in ascending id order, at
 * which the running sum of their weights exp(score - max) exceeds that
 * fraction of the total. Only integer and IEEE double arithmetic in a fixed
 * order is involved, so one seed gives one sequence on every machine (given
 * the same logits). Greedy decoding draws no number. */
#ifndef LMRT_GENERATE_SAMPLER_H
#define LMRT_GENERATE_SAMPLER_H

#include <stdint.h>

#include "../core/error.h"

typedef struct lm_sampler_params {
    float temperature;        /* 0: greedy; otherwise > 0 */
    int top_k;                /* 0: off */
    float top_p;              /* in [0, 1]; 1: off */
    float min_p;              /* in [0, 1]; 0: off */
    float repetition_penalty; /* > 0; 1: off */
    uint64_t seed;
} lm_sampler_params;

typedef struct lm_sampler lm_sampler;

/* Greedy, every filter off, seed 0. */
lm_sampler_params lm_sampler_params_default(void);

/* Checks the parameters (an out-of-range one is an error naming it) and
 * allocates the working buffers for a vocabulary of vocab_size tokens. */
lm_sampler *lm_sampler_new(const lm_sampler_params *p, int vocab_size, lm_err *e);
void lm_sampler_free(lm_sampler *s);

/* The next token for one row of vocab_size logits, given the context the
 * repetition penalty looks at. logits is not modified. Returns the token id,
 * or -1 when a context id is outside the vocabulary or the logits hold a NaN
 * or +inf or no finite value at all. */
int32_t lm_sampler_next(lm_sampler *s, const float *logits, const int32_t *context,
                        int n_context, lm_err *e);

/* The distribution lm_sampler_next would draw from, for tests and tools:
 * writes the kept token ids in ascending order into ids and their final
 * probabilities (summing to 1) into probs, both of room vocab_size, and
 * returns how many were kept (1 for greedy), or -1 like lm_sampler_next.
 * Draws no random number. */
int lm_sampler_distribution(lm_sampler *s, const float *logits, const int32_t *context,
                            int n_context, int32_t *ids, double *probs, lm_err *e);

/* Restarts the random sequence as if the sampler had just been made with seed. */
void lm_sampler_reseed(lm_sampler *s, uint64_t seed);

/* Greedy decoding without a sampler: the index of the largest logit; the
 * lowest index wins ties, NaNs are skipped, as torch.argmax for finite
 * values. */
int lm_argmax(const float *logits, int n);

#endif
