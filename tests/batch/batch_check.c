/* Several sequences in one forward call give each the logits it gets alone.
 *
 *   batch_check CHECKPOINT_DIR [--seqs S] [--tol MAX] [--mean-tol MEAN] [--seed N]
 *
 * Linked with one generated model (MODEL_DESC, MODEL_HEADER: see
 * tests/batch/batch.sh), it makes S token sequences of different lengths,
 * runs each alone (lm_session_feed, every position's logits), then all of
 * them through lm_session_feed_batch as a server would: sequences join at
 * different steps, and each step gives every running sequence a random
 * chunk (one token, as decode, about half the time; or a prompt chunk), the
 * chunks together at most the model's batch. Every logits row a batched
 * step returns is compared with the same position's row alone. It prints
 * one JSON line and exits 1 when the largest or the mean difference is
 * past its tolerance or a greedy choice differs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate/session.h"
#include MODEL_HEADER

#define MAX_SEQS 16

static uint64_t rng_state;

static uint32_t next_random(void)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(rng_state >> 33);
}

static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

static void usage_exit(const char *why)
{
    fprintf(stderr, "batch_check: error: %s\n"
                    "usage: batch_check CHECKPOINT_DIR [--seqs S] [--tol MAX] [--mean-tol MEAN] [--seed N]\n",
            why);
    exit(2);
}

int main(int argc, char **argv)
{
    const lm_model_desc *d = &MODEL_DESC;
    const char *ckpt = NULL;
    int seqs = 4;
    double tol = 1e-4, mean_tol = 1e-5;
    rng_state = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seqs") == 0 && i + 1 < argc)
            seqs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--tol") == 0 && i + 1 < argc)
            tol = atof(argv[++i]);
        else if (strcmp(argv[i], "--mean-tol") == 0 && i + 1 < argc)
            mean_tol = atof(argv[++i]);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            rng_state = strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && !ckpt)
            ckpt = argv[i];
        else
            usage_exit("unknown argument");
    }
    if (!ckpt)
        usage_exit("no checkpoint directory");
    if (seqs < 1 || seqs > MAX_SEQS || seqs > d->batch)
        usage_exit("--seqs must be 1 to 16 and at most the model's batch");

    lm_err e = {{0}};
    lm_session *s = lm_session_open(d, ckpt, 0, &e);
    if (!s) {
        lm_print_error("batch_check", &e);
        return 2;
    }
    const size_t vocab = (size_t)d->vocab_size;
    int len[MAX_SEQS];
    int32_t *tok[MAX_SEQS];
    float *alone[MAX_SEQS];
    /* Lengths from a few tokens to most of the context, so some prompts
     * cross a batch boundary and attention's tile path meets its decode
     * path within one call. */
    const int longest = d->context < 64 ? d->context : 64;
    for (int q = 0; q < seqs; q++) {
        len[q] = 3 + (int)(next_random() % (uint32_t)(longest - 2));
        tok[q] = malloc(sizeof(int32_t) * (size_t)len[q]);
        alone[q] = malloc(sizeof(float) * vocab * (size_t)len[q]);
        if (!tok[q] || !alone[q]) {
            fprintf(stderr, "batch_check: error: out of memory\n");
            return 2;
        }
        for (int i = 0; i < len[q]; i++)
            tok[q][i] = (int32_t)(next_random() % (uint32_t)d->vocab_size);
        lm_session_rewind(s, 0);
        if (lm_session_feed(s, tok[q], len[q], alone[q], &e) != 0) {
            lm_print_error("batch_check", &e);
            return 2;
        }
    }

    if (lm_session_set_slots(s, seqs, &e) != 0) {
        lm_print_error("batch_check", &e);
        return 2;
    }
    float *got = malloc(sizeof(float) * vocab * (size_t)seqs);
    if (!got) {
        fprintf(stderr, "batch_check: error: out of memory\n");
        return 2;
    }
    int fed[MAX_SEQS] = {0}, slot_of[MAX_SEQS];
    lm_feed feeds[MAX_SEQS];
    double max_diff = 0, sum_diff = 0;
    long rows = 0, calls = 0, multi = 0, greedy_differs = 0;
    for (int step = 0;; step++) {
        int n_feeds = 0, budget = d->batch, running = 0;
        for (int q = 0; q < seqs; q++) {
            if (fed[q] == len[q])
                continue;
            running++;
            /* Sequence q joins at step 2q, in slot seqs-1-q (not its index). */
            if (step < 2 * q || budget == 0)
                continue;
            int left = len[q] - fed[q];
            int chunk = next_random() % 2 ? 1 : 1 + (int)(next_random() % 12);
            chunk = chunk < left ? chunk : left;
            chunk = chunk < budget ? chunk : budget;
            slot_of[n_feeds] = q;
            feeds[n_feeds++] = (lm_feed){.slot = seqs - 1 - q, .tokens = tok[q] + fed[q], .n = chunk,
                                         .prompt_tokens = fed[q] == 0 ? len[q] : 0};
            budget -= chunk;
        }
        if (running == 0)
            break;
        if (n_feeds == 0)
            continue;
        if (lm_session_feed_batch(s, feeds, n_feeds, got, &e) != 0) {
            lm_print_error("batch_check", &e);
            return 2;
        }
        calls++;
        multi += n_feeds > 1;
        for (int f = 0; f < n_feeds; f++) {
            const int q = slot_of[f];
            fed[q] += feeds[f].n;
            const float *want = alone[q] + (size_t)(fed[q] - 1) * vocab, *row = got + (size_t)f * vocab;
            for (size_t v = 0; v < vocab; v++) {
                double diff = fabs((double)row[v] - (double)want[v]);
                if (!(diff <= max_diff))
                    max_diff = isnan(diff) ? INFINITY : diff;
                sum_diff += diff;
            }
            greedy_differs += argmax(row, (int)vocab) != argmax(want, (int)vocab);
            rows++;
        }
    }
    const double mean_diff = sum_diff / ((double)rows * (double)vocab);
    const int ok = max_diff <= tol && mean_diff <= mean_tol && greedy_differs == 0;
    printf("{\"model\": \"%s\", \"sequences\": %d, \"forward_calls\": %ld, \"calls_with_several\": %ld, "
           "\"rows\": %ld, \"max_abs_diff\": %.3g, \"mean_abs_diff\": %.3g, \"greedy_differs\": %ld, "
           "\"ok\": %s}\n",
           d->name, seqs, calls, multi, rows, max_diff, mean_diff, greedy_differs, ok ? "true" : "false");
    for (int q = 0; q < seqs; q++) {
        free(tok[q]);
        free(alone[q]);
    }
    free(got);
    lm_session_close(s);
    return ok ? 0 : 1;
}
