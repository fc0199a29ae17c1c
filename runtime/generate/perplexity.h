/* Perplexity of a token sequence: how well the model predicts it.
 *
 * The tokens are cut into consecutive chunks of `chunk` tokens (the last
 * one may be shorter); each chunk runs from an empty KV cache, and every
 * token of a chunk but its first is scored by the log-probability the
 * model gave it after the tokens before it in the chunk. The result is the
 * mean negative log-likelihood over the scored tokens (natural log) and
 * its exponential. This is the fixed-window scheme of Hugging Face's
 * perplexity guide with stride = window; llama.cpp's llama-perplexity
 * scores only the second half of each chunk, so its figures differ. */
#ifndef LMRT_GENERATE_PERPLEXITY_H
#define LMRT_GENERATE_PERPLEXITY_H

#include <stdint.h>

#include "../core/error.h"
#include "session.h"

typedef struct lm_perplexity_result {
    int chunks;        /* chunks run */
    int64_t scored;    /* tokens scored (n minus one per chunk) */
    double nll;        /* mean negative log-likelihood per scored token */
    double perplexity; /* exp(nll) */
    double seconds;    /* forward time */
} lm_perplexity_result;

/* Scores ids[0..n) in chunks of chunk tokens (2 <= chunk <= the context).
 * Rewinds the session to 0 before each chunk and leaves the last chunk in
 * its cache. Returns 0, or -1 with e set (a bad id, chunk or n < 2, out of
 * memory). */
int lm_perplexity(lm_session *s, const int32_t *ids, int64_t n, int chunk, lm_perplexity_result *r,
                  lm_err *e);

#endif
