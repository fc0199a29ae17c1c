/* The engine: one thread owns the session and its --parallel slots, each a
 * KV-cache region holding one sequence. A request's n choices take a slot
 * each. Every step runs ONE forward call over every running slot: one
 * token for each that is decoding, and prompt chunks of those still
 * prefilling in what is left of the model's batch; so running streams keep
 * flowing while a new prompt goes in, and decode reads each weight once for
 * all of them. Each slot's next token is then sampled from its row of
 * logits, and its text goes through the stop strings and, streaming, out
 * to the client as events. A request that is cancelled (its client hung
 * up, its deadline passed, the server stopping) frees its slots before the
 * next step. A slot keeps what its cache holds when its request ends, so a
 * prompt that shares a prefix with it (the n choices of one prompt, a
 * chat's next turn) feeds only the rest. */
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "text_split.h"

typedef enum slot_state { SLOT_FREE, SLOT_PREFILL, SLOT_DECODE } slot_state;

struct serve_slot {
    slot_state state;
    serve_job *job;
    int index;           /* the job's choice this slot generates */
    long order;          /* when it was admitted: prompts are prefilled first come first */
    lm_ids cached;       /* the ids in this slot's KV cache, in order */
    int32_t next;        /* decoding: the sampled id the next step feeds */
    lm_sampler *sampler; /* NULL: greedy */
    lm_detok_stream detok;
    int max_new;
    int hit_stop;        /* a stop string ended the text */
};

/* What a generated token did to its choice. */
typedef enum token_end { TOKEN_MORE, TOKEN_STOP, TOKEN_CANCELLED, TOKEN_ERROR } token_end;

int serve_submit(serve *sv, serve_job *job)
{
    pthread_mutex_lock(&sv->mu);
    if (sv->stopping || sv->queued >= sv->o->queue + (sv->n_slots - sv->busy_slots)) {
        pthread_mutex_unlock(&sv->mu);
        return -1;
    }
    job->refs++;
    job->next = NULL;
    if (sv->tail)
        sv->tail->next = job;
    else
        sv->head = job;
    sv->tail = job;
    sv->queued++;
    pthread_cond_signal(&sv->work);
    pthread_mutex_unlock(&sv->mu);
    return 0;
}

/* Streams what of the choice's text[0..upto) has not been sent, as
 * reasoning and content deltas; under sv->mu. */
static int stream_parts(serve *sv, serve_job *job, int index, size_t upto, int final, lm_err *e)
{
    serve_choice *ch = &job->choices[index];
    const char *t = ch->text.v;
    size_t r0 = 0, r1 = 0, c0 = ch->sent_c, c1 = upto;
    if (job->split_reasoning)
        lm_reasoning_split(t, upto, final, &r0, &r1, &c0, &c1);
    size_t rs = ch->sent_r > r0 ? ch->sent_r : r0;
    size_t cs = ch->sent_c > c0 ? ch->sent_c : c0;
    size_t rn = r1 > rs ? r1 - rs : 0, cn = c1 > cs ? c1 - cs : 0;
    if (rn == 0 && cn == 0)
        return 0;
    if (serve_event_delta(sv, job, index, rn ? t + rs : NULL, rn, cn ? t + cs : NULL, cn, 0, &job->out,
                          e) != 0)
        return -1;
    if (rn)
        ch->sent_r = r1;
    if (cn)
        ch->sent_c = c1;
    pthread_cond_broadcast(&sv->progress);
    return 0;
}

/* Whether job must end now, unanswered: its client left, or the server
 * is stopping. */
static int must_cancel(const serve *sv, const serve_job *job)
{
    return job->cancelled || sv->stopping;
}

/* A generated id into the choice's text: stop strings, streaming. */
static token_end emit_token(serve *sv, serve_slot *sl, int32_t id, lm_err *e)
{
    serve_job *job = sl->job;
    serve_choice *ch = &job->choices[sl->index];
    token_end end = TOKEN_MORE;
    pthread_mutex_lock(&sv->mu);
    if (job->first_token_at == 0)
        job->first_token_at = lm_now_seconds();
    if (must_cancel(sv, job)) {
        end = TOKEN_CANCELLED;
        goto out;
    }
    ch->n_tokens++;
    size_t before = ch->text.n;
    if (lm_detok_feed(&sl->detok, id, &ch->text, e) != 0) {
        end = TOKEN_ERROR;
        goto out;
    }
    /* A stop may begin in the earlier text: look back one stop's length. */
    size_t from = before > job->stop_longest ? before - job->stop_longest : 0;
    size_t hit = from + lm_stop_find(ch->text.v + from, ch->text.n - from, (const char *const *)job->stops,
                                     job->n_stops);
    if (hit < ch->text.n) {
        ch->text.n = hit;
        ch->text.v[hit] = '\0';
        sl->hit_stop = 1;
        end = TOKEN_STOP;
        goto out;
    }
    if (job->stream &&
        stream_parts(sv, job, sl->index,
                     lm_stop_safe(ch->text.v, ch->text.n, (const char *const *)job->stops, job->n_stops), 0,
                     e) != 0)
        end = TOKEN_ERROR;
out:
    pthread_mutex_unlock(&sv->mu);
    return end;
}

/* Frees the slot for the next choice; its cached ids stay (under sv->mu). */
static void release_slot(serve *sv, serve_slot *sl)
{
    lm_sampler_free(sl->sampler);
    sl->sampler = NULL;
    sl->job = NULL;
    sl->state = SLOT_FREE;
    sv->busy_slots--;
}

static void fail_job(serve *sv, serve_job *job, const lm_err *err)
{
    /* A stream's 200 went out when it was queued: it ends with an error
     * event. Otherwise the status can still say so. */
    char *body = serve_error_json(err->msg, "server_error", NULL, NULL);
    if (job->stream) {
        lm_err e2;
        lm_bytes_append(&job->out, "data: ", 6, &e2);
        if (body)
            lm_bytes_append(&job->out, body, strlen(body), &e2);
        lm_bytes_append(&job->out, "\n\n", 2, &e2);
    } else {
        job->status = 500;
        job->out.n = 0;
        job->out_sent = 0;
        if (body) {
            lm_err e2;
            lm_bytes_append(&job->out, body, strlen(body), &e2);
        }
    }
    free(body);
    sv->m.requests_failed++;
}

/* The engine is done with job (under sv->mu): its waiter wakes. */
static void end_job(serve *sv, serve_job *job)
{
    job->done = 1;
    pthread_cond_broadcast(&sv->progress);
    serve_job_release(sv, job);
}

/* Takes the job at the head of the queue off it (under sv->mu). */
static void dequeue(serve *sv)
{
    sv->head = sv->head->next;
    if (!sv->head)
        sv->tail = NULL;
    sv->queued--;
}

/* Ends a running job (under sv->mu): every choice done (err NULL), failed
 * (err set) or cancelled; its slots are freed, and it leaves the queue if
 * some of its choices were still waiting there for a slot. */
static void finish_job(serve *sv, serve_job *job, const lm_err *err, int cancelled)
{
    for (int i = 0; i < sv->n_slots; i++)
        if (sv->slots[i].job == job)
            release_slot(sv, &sv->slots[i]);
    if (sv->head == job)
        dequeue(sv);
    sv->running--;
    sv->m.requests++;
    sv->m.prompt_tokens += job->prompt.n;
    sv->m.completion_tokens += (uint64_t)serve_completion_tokens(job);
    if (job->first_token_at > 0) {
        sv->m.ttft_sum_s += job->first_token_at - job->queued_at;
        sv->m.ttft_count++;
    }
    lm_err e = {{0}};
    int rc = 0;
    if (!err && !cancelled) {
        if (job->stream) {
            if ((job->include_usage && serve_event_usage(sv, job, &job->out, &e) != 0) ||
                lm_bytes_append(&job->out, "data: [DONE]\n\n", 14, &e) != 0)
                rc = -1;
        } else if (serve_answer_json(sv, job, &job->out, &e) != 0) {
            rc = -1;
        }
    }
    if (err || rc != 0)
        fail_job(sv, job, err ? err : &e);
    else if (cancelled)
        job->cancelled = 1;
    end_job(sv, job);
}

/* Choice `index` of job is complete (under sv->mu): its text ends, and the
 * job with its last choice. sl is the slot that generated it, or NULL for
 * a choice that never got one (its job's time ran out first). Returns 1
 * when the job ended (and may be freed), else 0. */
static int finish_choice(serve *sv, serve_job *job, int index, serve_slot *sl, const char *finish)
{
    serve_choice *ch = &job->choices[index];
    lm_err e = {{0}};
    if (sl && !sl->hit_stop && lm_detok_flush(&sl->detok, &ch->text, &e) != 0) {
        finish_job(sv, job, &e, 0);
        return 1;
    }
    ch->finish = finish;
    if (lm_bytes_append(&ch->text, "", 0, &e) != 0 ||
        (job->stream && (stream_parts(sv, job, index, ch->text.n, 1, &e) != 0 ||
                         serve_event_finish(sv, job, index, &job->out, &e) != 0))) {
        finish_job(sv, job, &e, 0);
        return 1;
    }
    pthread_cond_broadcast(&sv->progress);
    if (sl)
        release_slot(sv, sl);
    if (--job->choices_left > 0)
        return 0;
    finish_job(sv, job, NULL, 0);
    return 1;
}

/* The slot's next id from its row of logits, with Hugging Face generate()'s
 * order of ends: a stop id; max_tokens; a full context. */
static void take_token(serve *sv, serve_slot *sl, const float *row)
{
    lm_err e = {{0}};
    int32_t id = sl->sampler ? lm_sampler_next(sl->sampler, row, sl->cached.v, (int)sl->cached.n, &e)
                             : lm_argmax(row, sv->d->vocab_size);
    token_end end = id < 0                                   ? TOKEN_ERROR
                    : !sl->job->ignore_eos && lm_ids_contains(sv->eos.v, sv->eos.n, id) ? TOKEN_STOP
                                                             : emit_token(sv, sl, id, &e);
    pthread_mutex_lock(&sv->mu);
    if (end == TOKEN_ERROR) {
        finish_job(sv, sl->job, &e, 0);
    } else if (end == TOKEN_CANCELLED) {
        finish_job(sv, sl->job, NULL, 1);
    } else if (end == TOKEN_STOP) {
        finish_choice(sv, sl->job, sl->index, sl, "stop");
    } else if (sl->job->choices[sl->index].n_tokens >= sl->max_new ||
               (int)sl->cached.n >= sv->d->context) {
        finish_choice(sv, sl->job, sl->index, sl, "length");
    } else {
        sl->next = id;
        sl->state = SLOT_DECODE;
    }
    pthread_mutex_unlock(&sv->mu);
}

/* Starts choice `index` of job in a free slot: the one whose cache shares
 * the longest prefix with the prompt (under sv->mu). */
static int start_choice(serve *sv, serve_job *job, int index, lm_err *e)
{
    serve_slot *sl = NULL;
    size_t best = 0;
    for (int i = 0; i < sv->n_slots; i++) {
        serve_slot *c = &sv->slots[i];
        size_t k = c->state == SLOT_FREE ? lm_ids_common_prefix(c->cached.v, c->cached.n, job->prompt.v, job->prompt.n) : 0;
        if (c->state == SLOT_FREE && (!sl || k > best)) {
            sl = c;
            best = k;
        }
    }
    /* At least the prompt's last id is fed: its logits start the choice.
     * With dynamic NTK the cached keys were rotated for another sequence's
     * length: nothing is reused. */
    if (best == job->prompt.n)
        best--;
    if (sv->d->rope_ntk)
        best = 0;
    const int slot = (int)(sl - sv->slots);
    /* Sliding-window rings may keep less of the cache than asked. */
    best = (size_t)lm_session_slot_rewind(sv->s, slot, (int)best);
    sl->cached.n = best;
    sl->state = SLOT_PREFILL;
    sl->job = job;
    sl->index = index;
    sl->order = sv->admitted++;
    sl->hit_stop = 0;
    lm_detok_init(&sl->detok, sv->tok);
    int room = sv->d->context - (int)job->prompt.n;
    sl->max_new = job->max_tokens >= 0 && job->max_tokens < room ? job->max_tokens : room;
    sv->busy_slots++;
    if (lm_bytes_append(&job->choices[index].text, "", 0, e) != 0)
        return -1;
    if (job->sp.temperature > 0 || job->sp.repetition_penalty != 1.0f) {
        lm_sampler_params p = job->sp;
        p.seed = job->sp.seed + (uint64_t)index; /* choice i: seed + i */
        if (!(sl->sampler = lm_sampler_new(&p, sv->d->vocab_size, e)))
            return -1;
    }
    if (job->stream && job->chat) {
        if (serve_event_delta(sv, job, index, NULL, 0, "", 0, 1, &job->out, e) != 0)
            return -1;
        pthread_cond_broadcast(&sv->progress);
    }
    return 0;
}

/* Jobs whose client left end; choices past their job's --timeout end as
 * if at max_tokens; queued jobs take the free slots, first come first
 * served, a job's choices in order (under sv->mu). Only the job at the
 * head of the queue can have some choices in slots and some waiting. */
static void schedule(serve *sv)
{
    const double now = lm_now_seconds();
    for (int i = 0; i < sv->n_slots; i++) {
        serve_slot *sl = &sv->slots[i];
        if (!sl->job)
            continue;
        if (must_cancel(sv, sl->job)) {
            finish_job(sv, sl->job, NULL, 1);
        } else if (now > sl->job->deadline) {
            sl->job->expired = 1;
            finish_choice(sv, sl->job, sl->index, sl, "length");
        }
    }
    while (sv->head) {
        serve_job *job = sv->head;
        if (must_cancel(sv, job) || (!job->started && now > job->deadline)) {
            /* A job still waiting when its time runs out gets a 503. */
            job->expired = !must_cancel(sv, job);
            if (job->started) {
                finish_job(sv, job, NULL, 1);
            } else {
                dequeue(sv);
                job->cancelled = 1;
                end_job(sv, job);
            }
            continue;
        }
        if (now > job->deadline) {
            /* Started, some choices still waiting for a slot: they end empty. */
            job->expired = 1;
            dequeue(sv);
            const int first = job->next_choice, n = job->n;
            job->next_choice = n;
            for (int c = first; c < n; c++)
                if (finish_choice(sv, job, c, NULL, "length"))
                    break;
            continue;
        }
        if (sv->busy_slots == sv->n_slots)
            break;
        if (!job->started) {
            job->started = 1;
            job->choices_left = job->n;
            sv->running++;
        }
        lm_err e = {{0}};
        if (start_choice(sv, job, job->next_choice++, &e) != 0)
            finish_job(sv, job, &e, 0);
        else if (job->next_choice == job->n)
            dequeue(sv);
    }
}

/* One forward call over every running slot, then each one's next id. */
static void step(serve *sv)
{
    const lm_model_desc *d = sv->d;
    lm_feed *feeds = sv->feeds;
    serve_slot **who = sv->feed_slots;
    int n = 0, budget = d->batch;
    for (int i = 0; i < sv->n_slots; i++) {
        serve_slot *sl = &sv->slots[i];
        if (sl->state == SLOT_DECODE && budget > 0) {
            feeds[n] = (lm_feed){.slot = i, .tokens = &sl->next, .n = 1};
            who[n++] = sl;
            budget--;
        }
    }
    /* Prompts in what is left of the batch, the oldest first: each pass
     * takes the prefilling slot admitted next after the last one taken. */
    for (long after = -1; budget > 0;) {
        serve_slot *first = NULL;
        for (int i = 0; i < sv->n_slots; i++) {
            serve_slot *sl = &sv->slots[i];
            if (sl->state == SLOT_PREFILL && sl->order > after && (!first || sl->order < first->order))
                first = sl;
        }
        if (!first)
            break;
        after = first->order;
        const serve_job *job = first->job;
        int left = (int)(job->prompt.n - first->cached.n);
        int chunk = left < budget ? left : budget;
        feeds[n] = (lm_feed){.slot = (int)(first - sv->slots), .tokens = job->prompt.v + first->cached.n,
                             .n = chunk, .prompt_tokens = first->cached.n == 0 ? (int)job->prompt.n : 0};
        who[n++] = first;
        budget -= chunk;
    }
    if (n == 0)
        return;
    lm_err e = {{0}};
    double t0 = lm_now_seconds();
    int rc = lm_session_feed_batch(sv->s, feeds, n, sv->logits, &e);
    for (int f = 0; f < n && rc == 0; f++)
        for (int i = 0; i < feeds[f].n && rc == 0; i++)
            rc = lm_ids_push(&who[f]->cached, feeds[f].tokens[i], &e);
    pthread_mutex_lock(&sv->mu);
    sv->m.busy_s += lm_now_seconds() - t0;
    sv->m.steps++;
    sv->m.step_sequences += (uint64_t)n;
    if (rc != 0) {
        /* Nothing ran, or a slot's record of its cache is short: end the
         * jobs in the call and forget those caches. */
        for (int f = 0; f < n; f++) {
            const int slot = feeds[f].slot;
            lm_session_slot_rewind(sv->s, slot, 0);
            who[f]->cached.n = 0;
            if (who[f]->job)
                finish_job(sv, who[f]->job, &e, 0);
        }
        pthread_mutex_unlock(&sv->mu);
        return;
    }
    pthread_mutex_unlock(&sv->mu);
    for (int f = 0; f < n; f++) {
        serve_slot *sl = who[f];
        /* An earlier slot's failure may have ended this one's job. */
        if (!sl->job || (sl->state == SLOT_PREFILL && sl->cached.n < sl->job->prompt.n))
            continue;
        take_token(sv, sl, sv->logits + (size_t)f * (size_t)d->vocab_size);
    }
}

static void *engine_main(void *arg)
{
    serve *sv = arg;
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        while (!sv->head && sv->busy_slots == 0 && !sv->stopping)
            pthread_cond_wait(&sv->work, &sv->mu);
        schedule(sv);
        const int stop = sv->stopping;
        pthread_mutex_unlock(&sv->mu);
        if (stop)
            return NULL;
        step(sv);
    }
}

int serve_engine_start(serve *sv, int parallel, lm_err *e)
{
    const size_t vocab = (size_t)sv->d->vocab_size;
    if (lm_session_set_slots(sv->s, parallel, e) != 0)
        return -1;
    sv->slots = calloc((size_t)parallel, sizeof *sv->slots);
    sv->feeds = calloc((size_t)parallel, sizeof *sv->feeds);
    sv->feed_slots = calloc((size_t)parallel, sizeof *sv->feed_slots);
    sv->logits = malloc(sizeof(float) * vocab * (size_t)parallel);
    if (!sv->slots || !sv->feeds || !sv->feed_slots || !sv->logits)
        return lm_fail(e, "serve: out of memory for %d slots", parallel);
    sv->n_slots = parallel;
    if (pthread_create(&sv->engine, NULL, engine_main, sv) != 0)
        return lm_fail(e, "serve: cannot start the engine thread");
    sv->engine_started = 1;
    return 0;
}

void serve_engine_stop(serve *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->stopping = 1;
    pthread_cond_broadcast(&sv->work);
    pthread_mutex_unlock(&sv->mu);
    if (sv->engine_started)
        pthread_join(sv->engine, NULL);
    sv->engine_started = 0;
    /* The engine ended every job on its way out (schedule() with stopping
     * set); without it, the queue is empty. */
    pthread_mutex_lock(&sv->mu);
    pthread_cond_broadcast(&sv->progress);
    pthread_mutex_unlock(&sv->mu);
}

void serve_engine_free(serve *sv)
{
    for (int i = 0; i < sv->n_slots; i++) {
        lm_sampler_free(sv->slots[i].sampler);
        lm_ids_free(&sv->slots[i].cached);
    }
    free(sv->slots);
    free(sv->feeds);
    free(sv->feed_slots);
    free(sv->logits);
    sv->slots = NULL;
    sv->n_slots = 0;
}
