/* A loaded model ready to run: the embedding API.
 *
 *   lm_err err;
 *   lm_session *s = lm_session_open(&model, "Qwen3-0.6B/", 0, &err);
 *   if (!s) { lm_print_error("myprog", &err); return 1; }
 *   int32_t prompt[] = {9707, 11, 1879};
 *   if (lm_session_feed(s, prompt, 3, NULL, &err) != 0) ...
 *   const float *logits = lm_session_logits(s);   // [vocab], last position
 *   ...
 *   lm_session_close(s);
 *
 * A session holds the mapped checkpoint, the bound weights, the activation
 * arena, the KV cache and the thread pool. It is not thread-safe: one thread
 * drives it (the pool parallelises each forward internally). */
#ifndef LMRT_GENERATE_SESSION_H
#define LMRT_GENERATE_SESSION_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/clock.h"
#include "../core/model.h"

typedef struct lm_session lm_session;

/* Checks DIR/config.json against the compiled constants, maps the
 * checkpoint, binds the weights and allocates the arena, per-thread scratch
 * and KV cache. threads <= 0 uses every CPU this process may run on. */
lm_session *lm_session_open(const lm_model_desc *d, const char *checkpoint_dir, int threads,
                            lm_err *e);
void lm_session_close(lm_session *s);

/* Checks that tokens[0..n) are ids of the vocabulary and fit in the context
 * after pos tokens; what lm_session_feed checks before running anything. */
int lm_check_tokens(const lm_model_desc *d, const int32_t *tokens, int n, int pos, lm_err *e);

/* Runs n tokens at the current position (in forward calls of at most
 * d->batch tokens) and advances the position by n. When all_logits is not
 * NULL it receives [n][vocab] logits, one row per token. Nothing runs when
 * the tokens fail lm_check_tokens. */
int lm_session_feed(lm_session *s, const int32_t *tokens, int n, float *all_logits, lm_err *e);

/* Logits [vocab] of the last position fed, or NULL before the first feed and
 * after a rewind that dropped that position. Valid until the next feed. */
const float *lm_session_logits(const lm_session *s);

/* Tokens routed to each expert since the session opened,
 * [d->moe_layers][d->moe_experts], or NULL for a dense model. */
const uint64_t *lm_session_expert_tokens(const lm_session *s);

/* Tokens in the KV cache: the position the next fed token gets. */
int lm_session_position(const lm_session *s);

/* Truncates the KV cache to its first pos tokens (0 <= pos <= position;
 * values outside are clamped), e.g. to reuse a prompt prefix shared with
 * the previous turn, and returns the tokens it kept. The cache is causal,
 * so the dropped entries are simply overwritten by the next feed. A model
 * with sliding-window layers keeps fewer, 0, when the sequence went
 * further past pos than their rings' slack (window_slack in
 * core/model.h): the caller feeds from what is kept. */
int lm_session_rewind(lm_session *s, int pos);

/* ---- several sequences at once (a server's requests) ----------------
 * A session holds `slots` independent sequences, each with a KV cache of
 * its own; slot 0 is the one lm_session_feed, lm_session_logits,
 * lm_session_position and lm_session_rewind use. One forward call can run
 * tokens of several slots: decode reads every weight once for all of them. */

/* Makes the session hold `slots` sequences (1 to d->batch), all empty.
 * Reserves slots x the KV cache's address space; memory is used only as
 * positions fill. */
int lm_session_set_slots(lm_session *s, int slots, lm_err *e);
int lm_session_slots(const lm_session *s);

/* tokens[0..n) to feed to slot `slot` at its current position. A prompt
 * fed in chunks gives its whole length with its first chunk, as one
 * lm_session_feed would see it (Qwen1's dynamic NTK depends on it). */
typedef struct lm_feed {
    int slot;
    const int32_t *tokens;
    int n;
    int prompt_tokens; /* at position 0: the prompt's length; 0: n */
} lm_feed;

/* Runs every feed in ONE forward call (distinct slots, each n >= 1, at
 * most d->batch tokens in all, each fitting its slot's context) and
 * advances each slot's position. logits receives [n_feeds][vocab]: each
 * feed's last position. Nothing runs when a feed is refused. */
int lm_session_feed_batch(lm_session *s, const lm_feed *feeds, int n_feeds, float *logits, lm_err *e);

/* Tokens in slot's KV cache (-1 for a slot the session does not hold), and
 * its truncation to the first pos (as lm_session_rewind: returns the tokens
 * kept, -1 for a slot the session does not hold). */
int lm_session_slot_position(const lm_session *s, int slot);
int lm_session_slot_rewind(lm_session *s, int slot, int pos);

/* Calls fn for every named intermediate tensor of the NEXT forward call only
 * (feeding more than d->batch tokens makes several calls). */
void lm_session_set_dump(lm_session *s, lm_dump_fn fn, void *user);

const lm_model_desc *lm_session_model(const lm_session *s);
int lm_session_threads(const lm_session *s);
/* Bytes of the checkpoint's files, and how many of them are mapped on
 * 2 MiB pages now (see weights/hugemap.h); for --stats. */
size_t lm_session_checkpoint_bytes(const lm_session *s);
size_t lm_session_checkpoint_huge_bytes(const lm_session *s);
/* LM_CACHE_READ or LM_CACHE_MAPPED when the quantized weights came from
 * the weight cache (weights/weight_cache.h), 0 when quantized at this
 * load; and of a mapped cache, the bytes on 2 MiB pages now. */
int lm_session_weights_from_cache(const lm_session *s);
size_t lm_session_cache_huge_bytes(const lm_session *s);
/* What the load left unread: the checkpoint's tensors under the model's
 * skipped prefixes (desc->skipped_prefixes: a multimodal checkpoint's
 * image encoder), as one line for a note, into buf; 0 when there were
 * none. The executables print it to stderr as "note: ...". */
int lm_session_skipped_note(const lm_session *s, char *buf, size_t size);

/* Seconds lm_session_open took (config check, mapping, binding, allocation). */
double lm_session_load_seconds(const lm_session *s);
/* Total seconds spent in forward calls and the tokens they ran, since open. */
double lm_session_forward_seconds(const lm_session *s);
int64_t lm_session_forward_tokens(const lm_session *s);

/* lm_now_seconds (core/clock.h), for timing around the session. */

#endif
