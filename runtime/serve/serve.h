/* --serve: an OpenAI-compatible HTTP server for one compiled model.
 *
 *   POST /v1/chat/completions, POST /v1/completions, GET /v1/models,
 *   GET /health, POST /tokenize, POST /detokenize, GET /metrics
 *
 * libmicrohttpd parses HTTP (a thread per connection); jansson reads and
 * writes the JSON. One engine thread owns the session and runs up to
 * --parallel sequences at once, every decode step of all of them in one
 * forward call, taking requests from a bounded queue (docs/serving.md). */
#ifndef LMRT_SERVE_SERVE_H
#define LMRT_SERVE_SERVE_H

#include "../core/error.h"
#include "../core/model.h"
#include "../text/chat_template.h"

typedef struct lm_serve_opts {
    const char *host;         /* address to bind; "127.0.0.1" by default */
    int port;                 /* 0: any free port (printed on stderr) */
    const char *model_dir;    /* the checkpoint */
    const char *model_ref;    /* what -m said (ORG/NAME or a path); also accepted as "model" */
    const char *tokenizer_path; /* NULL: the checkpoint's */
    const char *api_key;      /* NULL: no authorization */
    int has_chat_format;      /* else the checkpoint's files decide */
    lm_chat_format chat_format;
    int threads;
    int parallel;             /* sequences run at once: KV-cache slots (>= 1) */
    int queue;                /* requests that may wait for a slot */
    double timeout_s;         /* a request's limit, queueing included */
    size_t max_body;          /* bytes of a request body */
} lm_serve_opts;

/* Loads the model, serves until SIGTERM or SIGINT, then cancels what is in
 * flight and returns 0; -1 with e set when it cannot start. */
int lm_serve(const lm_model_desc *d, const lm_serve_opts *o, lm_err *e);

#endif
