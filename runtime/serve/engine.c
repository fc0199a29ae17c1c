/* The engine: one thread owns the session and runs the queued jobs one at
 * a time. Each choice of a job is prefilled (the generator feeds only what
 * the KV cache does not already hold, so the n choices of one prompt, and a
 * chat's next turn, reuse it) and generated; every token's text goes
 * through the stop strings and, streaming, out to the client as events. */
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "text_split.h"

typedef struct token_ctx {
    serve *sv;
    serve_job *job;
    int index;
    lm_detok_stream detok;
    int hit_stop;  /* a stop string ended the text */
    int aborted;   /* cancelled, or past the deadline */
} token_ctx;

int serve_submit(serve *sv, serve_job *job)
{
    pthread_mutex_lock(&sv->mu);
    if (sv->stopping || sv->queued >= sv->o->queue + (sv->current ? 0 : 1)) {
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

/* Streams what of text[0..upto) has not been sent, as reasoning and
 * content deltas; under sv->mu. */
static int stream_parts(token_ctx *c, size_t upto, int final, lm_err *e)
{
    serve_job *job = c->job;
    serve_choice *ch = &job->choices[c->index];
    const char *t = ch->text.v;
    size_t r0 = 0, r1 = 0, c0 = ch->sent_c, c1 = upto;
    if (job->split_reasoning)
        lm_reasoning_split(t, upto, final, &r0, &r1, &c0, &c1);
    size_t rs = ch->sent_r > r0 ? ch->sent_r : r0;
    size_t cs = ch->sent_c > c0 ? ch->sent_c : c0;
    size_t rn = r1 > rs ? r1 - rs : 0, cn = c1 > cs ? c1 - cs : 0;
    if (rn == 0 && cn == 0)
        return 0;
    if (serve_event_delta(c->sv, job, c->index, rn ? t + rs : NULL, rn, cn ? t + cs : NULL, cn, 0,
                          &job->out, e) != 0)
        return -1;
    if (rn)
        ch->sent_r = r1;
    if (cn)
        ch->sent_c = c1;
    pthread_cond_broadcast(&c->sv->progress);
    return 0;
}

static int on_token(void *user, int32_t id, lm_err *e)
{
    token_ctx *c = user;
    serve *sv = c->sv;
    serve_job *job = c->job;
    serve_choice *ch = &job->choices[c->index];
    pthread_mutex_lock(&sv->mu);
    int rc = 0;
    if (job->first_token_at == 0)
        job->first_token_at = lm_now_seconds();
    if (job->cancelled || lm_now_seconds() > job->deadline) {
        c->aborted = 1;
        rc = lm_fail(e, "request cancelled");
        goto out;
    }
    ch->n_tokens++;
    size_t before = ch->text.n;
    /* Checkpoints pad the embedding past the tokenizer (Qwen3: 151936 rows,
     * 151669 tokens); an id there has no text, as transformers' decode
     * skips it. */
    if (id >= lm_tokenizer_vocab_size(sv->tok))
        goto out;
    if (lm_detok_feed(&c->detok, id, &ch->text, e) != 0) {
        rc = -1;
        goto out;
    }
    /* A stop may begin in the earlier text: look back one stop's length. */
    size_t from = before > job->stop_longest ? before - job->stop_longest : 0;
    size_t hit = from + lm_stop_find(ch->text.v + from, ch->text.n - from,
                                     (const char *const *)job->stops, job->n_stops);
    if (hit < ch->text.n) {
        ch->text.n = hit;
        ch->text.v[hit] = '\0';
        c->hit_stop = 1;
        rc = lm_fail(e, "stop string");
        goto out;
    }
    if (job->stream)
        rc = stream_parts(c, lm_stop_safe(ch->text.v, ch->text.n, (const char *const *)job->stops,
                                          job->n_stops),
                          0, e);
out:
    pthread_mutex_unlock(&sv->mu);
    return rc;
}

/* One choice: prefill (mostly cached), generate, end its text. */
static int run_choice(serve *sv, serve_job *job, lm_sampler *sampler, int index, lm_err *e)
{
    serve_choice *ch = &job->choices[index];
    if (lm_bytes_append(&ch->text, "", 0, e) != 0)
        return -1;
    if (lm_gen_prefill(sv->g, job->prompt.v, (int)job->prompt.n, NULL, e) < 0)
        return -1;
    if (sampler && job->has_seed)
        lm_sampler_reseed(sampler, job->sp.seed + (uint64_t)index);
    if (job->stream && job->chat) {
        pthread_mutex_lock(&sv->mu);
        int rc = serve_event_delta(sv, job, index, NULL, 0, "", 0, 1, &job->out, e);
        pthread_cond_broadcast(&sv->progress);
        pthread_mutex_unlock(&sv->mu);
        if (rc != 0)
            return -1;
    }
    token_ctx c = {.sv = sv, .job = job, .index = index};
    lm_detok_init(&c.detok, sv->tok);
    int room = sv->d->context - (int)job->prompt.n;
    int max_new = job->max_tokens >= 0 && job->max_tokens < room ? job->max_tokens : room;
    lm_gen_opts go = {.max_new = max_new, .stop = sv->eos.v, .n_stop = (int)sv->eos.n,
                      .on_token = on_token, .user = &c};
    lm_gen_result r;
    int rc = lm_gen_run(sv->g, sampler, &go, &r, e);
    pthread_mutex_lock(&sv->mu);
    if (rc != 0 && !c.hit_stop) {
        pthread_mutex_unlock(&sv->mu);
        return c.aborted ? 1 : -1;
    }
    if (!c.hit_stop && lm_detok_flush(&c.detok, &ch->text, e) != 0) {
        pthread_mutex_unlock(&sv->mu);
        return -1;
    }
    ch->finish = c.hit_stop || r.end == LM_GEN_STOP ? "stop" : "length";
    rc = 0;
    if (job->stream && (stream_parts(&c, ch->text.n, 1, e) != 0 ||
                        serve_event_finish(sv, job, index, &job->out, e) != 0))
        rc = -1;
    pthread_cond_broadcast(&sv->progress);
    pthread_mutex_unlock(&sv->mu);
    return rc;
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
    sv->current = NULL;
    pthread_cond_broadcast(&sv->progress);
    serve_job_release(sv, job);
}

static void run_job(serve *sv, serve_job *job)
{
    lm_err e = {{0}};
    int rc = 0;
    lm_sampler *sampler = NULL;
    if (job->sp.temperature > 0 || job->sp.repetition_penalty != 1.0f)
        if (!(sampler = lm_sampler_new(&job->sp, sv->d->vocab_size, &e)))
            rc = -1;
    double t0 = lm_now_seconds();
    for (int i = 0; rc == 0 && i < job->n; i++)
        rc = run_choice(sv, job, sampler, i, &e);
    lm_sampler_free(sampler);
    pthread_mutex_lock(&sv->mu);
    sv->m.requests++;
    sv->m.prompt_tokens += job->prompt.n;
    sv->m.completion_tokens += (uint64_t)serve_completion_tokens(job);
    if (job->first_token_at > 0) {
        sv->m.ttft_sum_s += job->first_token_at - job->queued_at;
        sv->m.ttft_count++;
        sv->m.decode_s += lm_now_seconds() - t0;
    }
    if (rc == 0) {
        if (job->stream) {
            if ((job->include_usage && serve_event_usage(sv, job, &job->out, &e) != 0) ||
                lm_bytes_append(&job->out, "data: [DONE]\n\n", 14, &e) != 0)
                rc = -1;
        } else if (serve_answer_json(sv, job, &job->out, &e) != 0) {
            rc = -1;
        }
    }
    if (rc < 0)
        fail_job(sv, job, &e);
    else if (rc > 0)
        job->cancelled = 1;
    end_job(sv, job);
    pthread_mutex_unlock(&sv->mu);
}

static void *engine_main(void *arg)
{
    serve *sv = arg;
    for (;;) {
        pthread_mutex_lock(&sv->mu);
        while (!sv->head && !sv->stopping)
            pthread_cond_wait(&sv->work, &sv->mu);
        if (sv->stopping) {
            pthread_mutex_unlock(&sv->mu);
            return NULL;
        }
        serve_job *job = sv->head;
        sv->head = job->next;
        if (!sv->head)
            sv->tail = NULL;
        sv->queued--;
        sv->current = job;
        job->started = 1;
        if (job->cancelled) { /* its client left while it waited */
            end_job(sv, job);
            pthread_mutex_unlock(&sv->mu);
            continue;
        }
        pthread_mutex_unlock(&sv->mu);
        run_job(sv, job);
    }
}

int serve_engine_start(serve *sv, lm_err *e)
{
    if (pthread_create(&sv->engine, NULL, engine_main, sv) != 0)
        return lm_fail(e, "serve: cannot start the engine thread");
    return 0;
}

void serve_engine_stop(serve *sv)
{
    pthread_mutex_lock(&sv->mu);
    sv->stopping = 1;
    if (sv->current)
        sv->current->cancelled = 1;
    for (serve_job *j = sv->head; j; j = j->next)
        j->cancelled = 1;
    pthread_cond_broadcast(&sv->work);
    pthread_mutex_unlock(&sv->mu);
    pthread_join(sv->engine, NULL);
    /* Jobs still queued: the engine never took them. */
    pthread_mutex_lock(&sv->mu);
    while (sv->head) {
        serve_job *j = sv->head;
        sv->head = j->next;
        j->done = 1;
        serve_job_release(sv, j);
    }
    sv->tail = NULL;
    sv->queued = 0;
    pthread_cond_broadcast(&sv->progress);
    pthread_mutex_unlock(&sv->mu);
}
