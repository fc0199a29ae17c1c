/* A loaded model: checkpoint, bound weights, buffers, KV cache, threads. */
#include "session.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/pool.h"
#include "../weights/bind.h"
#include "../weights/checkpoint.h"
#include "../weights/hugemap.h"

#define BUFFER_ALIGN 64

struct lm_session {
    const lm_model_desc *d;
    lm_checkpoint *ck;
    lm_weights weights;
    float *arena;
    float *scratch;
    float *kv;          /* anonymous mapping of kv_bytes, or NULL */
    size_t kv_bytes;
    float *last_logits; /* [vocab] */
    int logits_valid;
    lm_pool *pool;
    lm_ctx ctx;
    int slots;          /* KV-cache slots: independent sequences */
    lm_span *seq;       /* [slots]: each slot's position (pos) and seq_tokens */
    int *reach;         /* [slots]: the furthest position each slot's cache was
                           written to since it last started over (its
                           sliding-window rings hold the rows written last) */
    lm_span *spans;     /* [batch]: a forward call's spans */
    int32_t *tokens;    /* [batch]: a forward call's tokens */
    double load_s;
    double forward_s;
    int64_t forward_tokens;
};

/* CPUs this process may run on (taskset, cgroup cpusets), not the machine's. */
static int usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* 64-byte aligned, zeroed floats; never NULL for count 0 so the forward can
 * always take the address. */
static float *alloc_floats(size_t count, const char *what, lm_err *e)
{
    if (count > SIZE_MAX / sizeof(float) - BUFFER_ALIGN) {
        lm_fail(e, "session: %s of %zu floats does not fit in memory", what, count);
        return NULL;
    }
    size_t bytes = (count * sizeof(float) + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    if (bytes == 0)
        bytes = BUFFER_ALIGN;
    void *p = NULL;
    if (posix_memalign(&p, BUFFER_ALIGN, bytes) != 0) {
        lm_fail(e, "session: cannot allocate the %s (%zu bytes); free memory or use a smaller --batch",
                what, bytes);
        return NULL;
    }
    memset(p, 0, bytes);
    return p;
}

/* Reserves the KV cache of `slots` sequences as address space only: pages
 * cost memory when a position is first written, so a long --ctx (and each
 * further slot) costs nothing until used. */
static int map_kv_cache(lm_session *s, int slots, lm_err *e)
{
    size_t floats = s->d->kv_floats;
    if (floats == 0)
        return 0;
    if (floats > SIZE_MAX / sizeof(float) / (size_t)slots)
        return lm_fail(e, "session: KV cache of %d x %zu floats does not fit in the address space; "
                          "rebuild with a smaller --ctx or use fewer slots", slots, floats);
    size_t bytes = floats * sizeof(float) * (size_t)slots;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return lm_fail(e, "session: cannot reserve %zu bytes for the KV cache of %d sequences: %s; "
                          "rebuild with a smaller --ctx or use fewer slots",
                       bytes, slots, strerror(errno));
    if (s->kv)
        munmap(s->kv, s->kv_bytes);
    s->kv_bytes = bytes;
    /* No MADV_HUGEPAGE here: each head's K and V regions would cost a
     * zeroed 2 MiB page on first touch (900 MiB for Qwen3-0.6B) before a
     * single position is used; 4 KiB pages keep the cache's memory
     * proportional to the positions in use. */
    s->kv = p;
    s->ctx.kv = p;
    return 0;
}

lm_session *lm_session_open(const lm_model_desc *d, const char *checkpoint_dir, int threads,
                            lm_err *e)
{
    double start = lm_now_seconds();
    if (!d || !d->forward || d->vocab_size <= 0 || d->batch <= 0 || d->context <= 0) {
        lm_fail(e, "session: invalid model description; rebuild the model with lmcc");
        return NULL;
    }
    if (!checkpoint_dir) {
        lm_fail(e, "session: no checkpoint directory given; pass -m DIR");
        return NULL;
    }
    if (threads <= 0)
        threads = usable_cpus();

    lm_session *s = calloc(1, sizeof *s);
    if (!s) {
        lm_fail(e, "session: out of memory");
        return NULL;
    }
    s->d = d;

    if (lm_check_hf_config(d, checkpoint_dir, e) != 0)
        goto fail;
    s->ck = lm_checkpoint_open(checkpoint_dir, e);
    if (!s->ck)
        goto fail;
    if (lm_bind_weights(d, s->ck, &s->weights, e) != 0)
        goto fail;
    if ((size_t)threads > SIZE_MAX / sizeof(float) / (d->scratch_floats ? d->scratch_floats : 1)) {
        lm_fail(e, "session: scratch for %d threads does not fit in memory; use fewer -t threads",
                threads);
        goto fail;
    }
    if (!(s->arena = alloc_floats(d->arena_floats, "activation arena", e)) ||
        !(s->scratch = alloc_floats((size_t)threads * d->scratch_floats, "thread scratch", e)) ||
        !(s->last_logits = alloc_floats((size_t)d->vocab_size, "logits", e)))
        goto fail;
    s->slots = 1;
    s->seq = calloc(1, sizeof *s->seq);
    s->reach = calloc(1, sizeof *s->reach);
    s->spans = calloc((size_t)d->batch, sizeof *s->spans);
    s->tokens = calloc((size_t)d->batch, sizeof *s->tokens);
    if (!s->seq || !s->reach || !s->spans || !s->tokens) {
        lm_fail(e, "session: out of memory");
        goto fail;
    }
    if (map_kv_cache(s, 1, e) != 0)
        goto fail;
    s->pool = lm_pool_create(threads);
    if (!s->pool) {
        lm_fail(e, "session: cannot start %d threads; use fewer -t threads", threads);
        goto fail;
    }

    s->ctx.w = (const void *const *)s->weights.ptr;
    s->ctx.arena = s->arena;
    s->ctx.scratch = s->scratch;
    s->ctx.pool = s->pool;
    s->ctx.threads = threads;
    if (d->moe_layers > 0 && d->moe_experts > 0) {
        s->ctx.expert_tokens = calloc((size_t)d->moe_layers * (size_t)d->moe_experts, sizeof(uint64_t));
        if (!s->ctx.expert_tokens) {
            lm_fail(e, "session: out of memory for the expert counters");
            goto fail;
        }
    }
    s->load_s = lm_now_seconds() - start;
    return s;

fail:
    lm_session_close(s);
    return NULL;
}

void lm_session_close(lm_session *s)
{
    if (!s)
        return;
    lm_pool_destroy(s->pool);
    if (s->kv)
        munmap(s->kv, s->kv_bytes);
    free(s->last_logits);
    free(s->seq);
    free(s->reach);
    free(s->spans);
    free(s->tokens);
    free(s->ctx.expert_tokens);
    free(s->scratch);
    free(s->arena);
    /* The binder may have left a partial result on failure; freeing an
     * all-zero lm_weights is a no-op. */
    lm_weights_free(&s->weights);
    lm_checkpoint_close(s->ck);
    free(s);
}

int lm_check_tokens(const lm_model_desc *d, const int32_t *tokens, int n, int pos, lm_err *e)
{
    if (n < 0)
        return lm_fail(e, "prompt: negative token count %d", n);
    if (n > 0 && !tokens)
        return lm_fail(e, "prompt: no tokens given");
    for (int i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= d->vocab_size)
            return lm_fail(e, "prompt: token id %ld at index %d is outside the vocabulary [0, %d); "
                              "use ids from this model's tokenizer",
                           (long)tokens[i], i, d->vocab_size);
    }
    if ((int64_t)pos + n > d->context) {
        if (pos == 0)
            return lm_fail(e, "prompt: %d tokens exceed the model's context of %d tokens; "
                              "shorten the input or build the model with a larger --ctx",
                           n, d->context);
        return lm_fail(e, "prompt: %d more tokens after %d already in the cache exceed the model's "
                          "context of %d tokens; shorten the input or build the model with a "
                          "larger --ctx",
                       n, pos, d->context);
    }
    return 0;
}

/* One forward call of s->spans[0..n_spans) over s->tokens[0..n). */
static void run_forward(lm_session *s, int n, int n_spans, float *logits, int all_logits)
{
    lm_batch b = {.tokens = s->tokens, .n = n, .spans = s->spans, .n_spans = n_spans};
    double t0 = lm_now_seconds();
    s->d->forward(&s->ctx, &b, logits, all_logits);
    s->forward_s += lm_now_seconds() - t0;
    s->forward_tokens += n;
    s->ctx.dump = NULL; /* a dump covers one forward call */
    s->ctx.dump_user = NULL;
    for (int i = 0; i < n_spans; i++) {
        const int slot = s->spans[i].slot;
        s->seq[slot].pos += s->spans[i].n;
        if (s->seq[slot].pos > s->reach[slot])
            s->reach[slot] = s->seq[slot].pos;
    }
}

/* A slot's next span of n tokens. A sequence's first feed fixes what
 * position-dependent schemes such as Qwen1's dynamic NTK see as its
 * length, across all its chunks. */
static lm_span next_span(lm_session *s, int slot, int n, int first_feed_n)
{
    lm_span *q = &s->seq[slot];
    if (q->pos == 0)
        q->seq_tokens = first_feed_n;
    return (lm_span){.slot = slot, .pos = q->pos, .n = n, .seq_tokens = q->seq_tokens};
}

int lm_session_feed(lm_session *s, const int32_t *tokens, int n, float *all_logits, lm_err *e)
{
    const lm_model_desc *d = s->d;
    if (lm_check_tokens(d, tokens, n, s->seq[0].pos, e) != 0)
        return -1;
    size_t vocab = (size_t)d->vocab_size;
    for (int done = 0; done < n;) {
        int chunk = n - done < d->batch ? n - done : d->batch;
        s->spans[0] = next_span(s, 0, chunk, n);
        memcpy(s->tokens, tokens + done, sizeof(int32_t) * (size_t)chunk);
        if (all_logits) {
            float *rows = all_logits + (size_t)done * vocab;
            run_forward(s, chunk, 1, rows, 1);
            if (done + chunk == n)
                memcpy(s->last_logits, rows + (size_t)(chunk - 1) * vocab, vocab * sizeof(float));
        } else {
            /* Only the last chunk's logits are kept; the forward writes the
             * last position's row to logits[0..vocab). */
            run_forward(s, chunk, 1, s->last_logits, 0);
        }
        done += chunk;
    }
    if (n > 0)
        s->logits_valid = 1;
    return 0;
}

int lm_session_feed_batch(lm_session *s, const lm_feed *feeds, int n_feeds, float *logits, lm_err *e)
{
    const lm_model_desc *d = s->d;
    if (n_feeds < 1)
        return lm_fail(e, "session: a batch needs at least one sequence");
    int total = 0;
    for (int i = 0; i < n_feeds; i++) {
        const lm_feed *f = &feeds[i];
        if (f->slot < 0 || f->slot >= s->slots)
            return lm_fail(e, "session: slot %d of a batch is not one of the session's %d", f->slot,
                           s->slots);
        for (int j = 0; j < i; j++)
            if (feeds[j].slot == f->slot)
                return lm_fail(e, "session: slot %d appears twice in one batch", f->slot);
        if (f->n < 1)
            return lm_fail(e, "session: slot %d's part of a batch has no tokens", f->slot);
        if (f->n > d->batch - total)
            return lm_fail(e, "session: a batch of more than %d tokens", d->batch);
        if (lm_check_tokens(d, f->tokens, f->n, s->seq[f->slot].pos, e) != 0)
            return -1;
        total += f->n;
    }
    for (int i = 0, row = 0; i < n_feeds; i++) {
        s->spans[i] = next_span(s, feeds[i].slot, feeds[i].n,
                                feeds[i].prompt_tokens > 0 ? feeds[i].prompt_tokens : feeds[i].n);
        memcpy(s->tokens + row, feeds[i].tokens, sizeof(int32_t) * (size_t)feeds[i].n);
        row += feeds[i].n;
        if (feeds[i].slot == 0)
            s->logits_valid = 0; /* slot 0's logits are now in logits, not last_logits */
    }
    run_forward(s, total, n_feeds, logits, 0);
    return 0;
}

int lm_session_set_slots(lm_session *s, int slots, lm_err *e)
{
    if (slots < 1 || slots > s->d->batch)
        return lm_fail(e, "session: %d sequences; use 1 to %d (the model's --batch)", slots, s->d->batch);
    lm_span *seq = calloc((size_t)slots, sizeof *seq);
    int *reach = calloc((size_t)slots, sizeof *reach);
    if (!seq || !reach) {
        free(seq);
        free(reach);
        return lm_fail(e, "session: out of memory");
    }
    if (map_kv_cache(s, slots, e) != 0) {
        free(seq);
        free(reach);
        return -1;
    }
    free(s->seq);
    free(s->reach);
    s->seq = seq;
    s->reach = reach;
    s->slots = slots;
    s->logits_valid = 0;
    return 0;
}

int lm_session_slots(const lm_session *s)
{
    return s->slots;
}

const float *lm_session_logits(const lm_session *s)
{
    return s->logits_valid ? s->last_logits : NULL;
}

int lm_session_position(const lm_session *s)
{
    return s->seq[0].pos;
}

int lm_session_slot_position(const lm_session *s, int slot)
{
    return slot >= 0 && slot < s->slots ? s->seq[slot].pos : -1;
}

int lm_session_slot_rewind(lm_session *s, int slot, int pos)
{
    if (slot < 0 || slot >= s->slots)
        return -1;
    if (pos < 0)
        pos = 0;
    if (pos >= s->seq[slot].pos)
        return s->seq[slot].pos;
    /* The rings of sliding-window layers have overwritten the rows of the
     * window before pos once the slot went further past it than their
     * slack: the sequence starts over. */
    if (s->d->kv_window_floats > 0 && s->reach[slot] - pos > s->d->window_slack)
        pos = 0;
    if (pos == 0)
        s->reach[slot] = 0;
    s->seq[slot].pos = pos;
    if (slot == 0)
        s->logits_valid = 0; /* they belong to a position no longer in the cache */
    return pos;
}

int lm_session_rewind(lm_session *s, int pos)
{
    return lm_session_slot_rewind(s, 0, pos);
}

void lm_session_set_dump(lm_session *s, lm_dump_fn fn, void *user)
{
    s->ctx.dump = fn;
    s->ctx.dump_user = fn ? user : NULL;
}

const lm_model_desc *lm_session_model(const lm_session *s)
{
    return s->d;
}

int lm_session_threads(const lm_session *s)
{
    return s->ctx.threads;
}

double lm_session_load_seconds(const lm_session *s)
{
    return s->load_s;
}

double lm_session_forward_seconds(const lm_session *s)
{
    return s->forward_s;
}

int64_t lm_session_forward_tokens(const lm_session *s)
{
    return s->forward_tokens;
}

size_t lm_session_checkpoint_bytes(const lm_session *s)
{
    return lm_checkpoint_bytes(s->ck);
}

size_t lm_session_checkpoint_huge_bytes(const lm_session *s)
{
    return lm_checkpoint_huge_bytes(s->ck);
}

int lm_session_weights_from_cache(const lm_session *s)
{
    return s->weights.from_cache;
}

size_t lm_session_cache_huge_bytes(const lm_session *s)
{
    return s->weights.cache_map ? lm_map_huge_bytes(&s->weights.cache_map, 1) : 0;
}

int lm_session_skipped_note(const lm_session *s, char *buf, size_t size)
{
    const lm_model_desc *d = s->d;
    if (s->weights.skipped == 0 || size == 0)
        return 0;
    size_t len = (size_t)snprintf(buf, size, "%s: %d tensor%s (%.1f MB) under ", lm_checkpoint_dir(s->ck),
                                  s->weights.skipped, s->weights.skipped == 1 ? "" : "s",
                                  (double)s->weights.skipped_bytes / 1e6);
    for (int i = 0; i < d->n_skipped_prefixes && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", d->skipped_prefixes[i]);
    if (len < size)
        snprintf(buf + len, size - len, " left unread: %s", d->skipped_why ? d->skipped_why : "not this model's");
    return 1;
}

const uint64_t *lm_session_expert_tokens(const lm_session *s)
{
    return s->ctx.expert_tokens;
}
