#include "perplexity.h"

#include <math.h>
#include <stdlib.h>

/* -log softmax(logits)[target], in double: the log-sum-exp after the
 * maximum is taken out, so no exponential overflows. */
static double token_nll(const float *logits, int vocab, int target)
{
    float max = logits[0];
    for (int i = 1; i < vocab; i++)
        if (logits[i] > max)
            max = logits[i];
    double sum = 0;
    for (int i = 0; i < vocab; i++)
        sum += exp((double)logits[i] - max);
    return log(sum) + max - logits[target];
}

int lm_perplexity(lm_session *s, const int32_t *ids, int64_t n, int chunk, lm_perplexity_result *r,
                  lm_err *e)
{
    const lm_model_desc *d = lm_session_model(s);
    if (chunk < 2 || chunk > d->context)
        return lm_fail(e, "perplexity: a chunk of %d tokens; it must hold 2 to %d (the context)",
                       chunk, d->context);
    if (n < 2)
        return lm_fail(e, "perplexity: %lld token%s; it takes at least 2", (long long)n,
                       n == 1 ? "" : "s");
    /* Every id checked first: a target is read before its own forward. */
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= d->vocab_size)
            return lm_fail(e, "perplexity: token %lld is id %d, outside the vocabulary [0, %d)",
                           (long long)i, ids[i], d->vocab_size);
    /* Logits of one forward call's tokens at a time, not of the chunk:
     * [batch][vocab] stays small for a large vocabulary and context. */
    const int piece = d->batch;
    float *logits = malloc(sizeof(float) * (size_t)piece * (size_t)d->vocab_size);
    if (!logits)
        return lm_fail(e, "perplexity: out of memory for %d x %d logits", piece, d->vocab_size);
    *r = (lm_perplexity_result){0};
    double total = 0, t0 = lm_now_seconds();
    int rc = 0;
    for (int64_t c0 = 0; c0 + 1 < n && rc == 0; c0 += chunk) {
        const int len = n - c0 < chunk ? (int)(n - c0) : chunk;
        if (len < 2)
            break; /* a last chunk of one token scores nothing */
        lm_session_rewind(s, 0);
        for (int p0 = 0; p0 < len && rc == 0; p0 += piece) {
            const int m = len - p0 < piece ? len - p0 : piece;
            if ((rc = lm_session_feed(s, ids + c0 + p0, m, logits, e)) != 0)
                break;
            /* Position p0 + j predicts token p0 + j + 1 of the chunk. */
            for (int j = 0; j < m && p0 + j + 1 < len; j++)
                total += token_nll(logits + (size_t)j * d->vocab_size, d->vocab_size, ids[c0 + p0 + j + 1]);
        }
        r->chunks++;
        r->scored += len - 1;
    }
    free(logits);
    if (rc != 0)
        return -1;
    r->seconds = lm_now_seconds() - t0;
    r->nll = total / (double)r->scored;
    r->perplexity = exp(r->nll);
    return 0;
}
