/* What the server's files share (serve.h is the interface):
 *   http.c        libmicrohttpd: routing, bodies, authorization, errors,
 *                 waiting for and streaming a job's output; lm_serve
 *   api.c         the OpenAI requests read into jobs, and the answers
 *   engine.c      the thread that owns the session and its slots, and runs
 *                 the jobs' choices side by side
 *   text_split.c  stop strings and Qwen3's reasoning in generated text */
#ifndef LMRT_SERVE_INTERNAL_H
#define LMRT_SERVE_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include <jansson.h>

#include "../generate/generate.h"
#include "../generate/sampler.h"
#include "../text/arrays.h"
#include "../text/chat_template.h"
#include "../text/tokenizer.h"
#include "serve.h"

#define SERVE_MAX_STOPS 4
#define SERVE_MAX_N 16

typedef struct serve_choice {
    lm_bytes text;         /* generated so far, cut at a stop string */
    size_t sent_r, sent_c; /* streamed so far: reasoning and content ends */
    int n_tokens;
    const char *finish;    /* "stop" or "length" */
} serve_choice;

/* One request, shared by its connection's thread and the engine; fields
 * below "state" are under the server's mutex. */
typedef struct serve_job {
    int chat;              /* chat.completion, else text_completion */
    lm_ids prompt;
    int max_tokens;        /* -1: until the context is full */
    lm_sampler_params sp;
    char *stops[SERVE_MAX_STOPS];
    int n_stops;
    size_t stop_longest;   /* bytes of the longest stop */
    int n;
    int stream, include_usage;
    int ignore_eos;        /* end tokens are generated as text (vLLM's and llama-server's field) */
    int split_reasoning;
    char id[64];
    long long created;
    double queued_at, deadline;
    int fd;                /* the client's socket, watched for a hangup */
    int next_choice;       /* the engine's: choices given a slot so far */
    int choices_left;      /* the engine's: choices not finished */

    /* state */
    lm_bytes out;          /* bytes ready for the client: SSE events, or the body */
    size_t out_sent;
    int started, done, cancelled, refs;
    int expired;           /* cancelled because its --timeout passed */
    int status;            /* HTTP status of the answer (200 unless it failed) */
    serve_choice choices[SERVE_MAX_N];
    double first_token_at;
    struct serve_job *next;
} serve_job;

typedef struct serve_slot serve_slot;

typedef struct serve_metrics {
    uint64_t requests, requests_failed, prompt_tokens, completion_tokens;
    double ttft_sum_s;
    double busy_s;         /* seconds the engine ran forward calls */
    uint64_t steps;        /* forward calls */
    uint64_t step_sequences; /* sequences in them, summed: / steps = mean batch */
    uint64_t ttft_count;
} serve_metrics;

typedef struct serve {
    const lm_model_desc *d;
    const lm_serve_opts *o;
    lm_tokenizer *tok;
    pthread_mutex_t tok_mu; /* encoding uses the tokenizer's scratch */
    lm_chat_format chat_format;
    int chat_format_known;
    lm_sampler_params defaults;
    lm_ids eos;
    lm_session *s;

    pthread_mutex_t mu;
    pthread_cond_t work;    /* a job was queued, or stopping */
    pthread_cond_t progress; /* some job has new output or is done */
    serve_job *head, *tail;
    int queued;
    int running;        /* jobs with choices in slots */
    int busy_slots;
    int stopping;
    serve_metrics m;

    /* The engine's; n_slots and busy_slots under mu. */
    serve_slot *slots;  /* [n_slots] */
    int n_slots;
    long admitted;      /* choices given a slot so far */
    lm_feed *feeds;     /* [n_slots]: a step's forward call */
    serve_slot **feed_slots;
    float *logits;      /* [n_slots][vocab] */
    pthread_t engine;
    int engine_started;
} serve;

/* ---- http.c ---- */
struct MHD_Daemon;
struct sockaddr_in;
/* libmicrohttpd's daemon answering sv's routes (MHD_USE_* flags; addr: the
 * address to listen on). lm_serve's is a thread per connection on a port;
 * the serve_http fuzz target's listens on nothing (MHD_USE_NO_LISTEN_SOCKET)
 * and hands it socketpairs, so both run the same handler and options. */
struct MHD_Daemon *serve_http_start(serve *sv, unsigned flags, const struct sockaddr_in *addr);

/* ---- engine.c ---- */
/* Gives the session `parallel` slots and starts the engine thread. */
int serve_engine_start(serve *sv, int parallel, lm_err *e);
/* Cancels the running jobs and every queued one, then joins the thread. */
void serve_engine_stop(serve *sv);
void serve_engine_free(serve *sv);
/* Queues job (refs taken for the engine); -1 when the queue is full. */
int serve_submit(serve *sv, serve_job *job);

/* ---- api.c ---- */
/* Drops one reference (under sv->mu); frees the job at zero. */
void serve_job_release(serve *sv, serve_job *job);
/* Reads a request body into a new job; on a client error returns NULL
 * with the HTTP status in *status, the message in e and the parameter
 * that is wrong (or NULL) in *param. */
serve_job *serve_parse_completion(serve *sv, int chat, const char *body, size_t n, int *status,
                                  const char **param, lm_err *e);
/* The non-streamed answer, and the streamed events, appended to out. */
int serve_answer_json(const serve *sv, const serve_job *job, lm_bytes *out, lm_err *e);
int serve_event_delta(const serve *sv, const serve_job *job, int index, const char *reasoning,
                      size_t rn, const char *content, size_t cn, int first, lm_bytes *out,
                      lm_err *e);
int serve_event_finish(const serve *sv, const serve_job *job, int index, lm_bytes *out, lm_err *e);
int serve_event_usage(const serve *sv, const serve_job *job, lm_bytes *out, lm_err *e);
/* An OpenAI error object. */
char *serve_error_json(const char *message, const char *type, const char *param, const char *code);
/* /tokenize, /detokenize, /v1/models, /health, /metrics bodies. */
int serve_tokenize(serve *sv, const char *body, size_t n, lm_bytes *out, int *status,
                   lm_err *e);
int serve_detokenize(serve *sv, const char *body, size_t n, lm_bytes *out, int *status,
                     lm_err *e);
char *serve_models_json(const serve *sv);
int serve_metrics_text(serve *sv, lm_bytes *out, lm_err *e);

int serve_prompt_tokens(const serve_job *job);
int serve_completion_tokens(const serve_job *job);

#endif
