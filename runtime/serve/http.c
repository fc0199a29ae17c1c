/* The HTTP side (libmicrohttpd, a thread per connection): bodies up to the
 * cap, the API key, routing, and each completion's wait for the engine.
 * A connection's thread blocks on the job while watching its socket, so a
 * client that hangs up cancels its request at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "../weights/hugemap.h"
#include "serve_internal.h"

typedef struct conn {
    lm_bytes body;
    int too_big;
} conn;

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t n)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ok = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ok;
}

static const char *error_type(unsigned status)
{
    return status == 401 ? "authentication_error" : status == 404 ? "not_found_error"
           : status == 503 ? "server_busy" : status >= 500 ? "server_error"
                           : "invalid_request_error";
}

static enum MHD_Result reply_error(struct MHD_Connection *c, unsigned status, const char *msg,
                                   const char *param)
{
    char *body = serve_error_json(msg, error_type(status), param, NULL);
    if (!body)
        return MHD_NO;
    enum MHD_Result ok = reply(c, status, "application/json", body, strlen(body));
    free(body);
    return ok;
}

/* 1 when the peer has closed its end (a read would return 0 or fail). */
static int peer_gone(int fd)
{
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP))
        return 1;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Waits (under sv->mu) until job has unsent output or is done; cancels it
 * when the client hangs up. Returns 0 or -1 when the client is gone. */
static int wait_job(serve *sv, serve_job *job, int want_done)
{
    while (!job->done && (want_done || job->out.n == job->out_sent)) {
        if (peer_gone(job->fd)) {
            job->cancelled = 1;
            return -1;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000 * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&sv->progress, &sv->mu, &ts);
    }
    return 0;
}

typedef struct stream_ctx {
    serve *sv;
    serve_job *job;
} stream_ctx;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *s = cls;
    serve *sv = s->sv;
    serve_job *job = s->job;
    pthread_mutex_lock(&sv->mu);
    ssize_t n;
    if (wait_job(sv, job, 0) != 0) {
        n = MHD_CONTENT_READER_END_WITH_ERROR;
    } else if (job->out.n > job->out_sent) {
        size_t k = job->out.n - job->out_sent;
        if (k > max)
            k = max;
        memcpy(buf, job->out.v + job->out_sent, k);
        job->out_sent += k;
        n = (ssize_t)k;
    } else {
        n = job->cancelled && !job->out.n ? MHD_CONTENT_READER_END_WITH_ERROR
                                          : MHD_CONTENT_READER_END_OF_STREAM;
    }
    pthread_mutex_unlock(&sv->mu);
    return n;
}

static void stream_free(void *cls)
{
    stream_ctx *s = cls;
    pthread_mutex_lock(&s->sv->mu);
    if (!s->job->done)
        s->job->cancelled = 1; /* the connection ended first */
    serve_job_release(s->sv, s->job);
    pthread_mutex_unlock(&s->sv->mu);
    free(s);
}

static void log_request(serve *sv, const serve_job *job, unsigned status, double t0)
{
    fprintf(stderr, "%s: %s %s status=%u prompt_tokens=%d completion_tokens=%d n=%d stream=%d "
                    "seconds=%.3f%s\n",
            sv->d->name, job->chat ? "chat" : "completion", job->id, status,
            serve_prompt_tokens(job), serve_completion_tokens(job), job->n, job->stream,
            lm_now_seconds() - t0, job->cancelled ? " cancelled" : "");
}

static enum MHD_Result completion(serve *sv, struct MHD_Connection *c, int chat, conn *cn)
{
    double t0 = lm_now_seconds();
    int status;
    const char *param;
    lm_err e = {{0}};
    serve_job *job = serve_parse_completion(sv, chat, cn->body.v ? cn->body.v : "", cn->body.n,
                                            &status, &param, &e);
    if (!job)
        return reply_error(c, (unsigned)status, e.msg, param);
    static unsigned long long counter;
    snprintf(job->id, sizeof job->id, "%s-%llx%04llx", chat ? "chatcmpl" : "cmpl",
             (unsigned long long)time(NULL), __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED));
    job->created = (long long)time(NULL);
    job->queued_at = t0;
    job->deadline = t0 + sv->o->timeout_s;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    job->fd = ci ? ci->connect_fd : -1;
    if (serve_submit(sv, job) != 0) {
        pthread_mutex_lock(&sv->mu);
        serve_job_release(sv, job);
        pthread_mutex_unlock(&sv->mu);
        return reply_error(c, 503, "the server is busy: every slot and queue place is taken; "
                                   "retry later",
                           NULL);
    }
    if (job->stream) {
        stream_ctx *s = malloc(sizeof *s);
        struct MHD_Response *r =
            s ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, s,
                                                  stream_free)
              : NULL;
        if (!r) {
            free(s);
            pthread_mutex_lock(&sv->mu);
            job->cancelled = 1;
            serve_job_release(sv, job);
            pthread_mutex_unlock(&sv->mu);
            return MHD_NO;
        }
        *s = (stream_ctx){sv, job}; /* the job's reference passes to the stream */
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        enum MHD_Result ok = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        fprintf(stderr, "%s: %s %s stream started prompt_tokens=%d\n", sv->d->name,
                chat ? "chat" : "completion", job->id, serve_prompt_tokens(job));
        return ok;
    }
    pthread_mutex_lock(&sv->mu);
    int gone = wait_job(sv, job, 1);
    enum MHD_Result ok = MHD_NO;
    unsigned st = (unsigned)job->status;
    if (gone == 0 && job->done && job->cancelled) {
        st = 503;
        ok = reply_error(c, st, job->expired ? "the request ran past the server's --timeout"
                                             : "the request was cancelled: the server is shutting down",
                         NULL);
    } else if (gone == 0) {
        ok = reply(c, st, "application/json", job->out.v, job->out.n);
    }
    log_request(sv, job, gone ? 499 : st, t0);
    serve_job_release(sv, job);
    pthread_mutex_unlock(&sv->mu);
    return ok;
}

/* ---- routes: each answers one path and method ---- */

typedef enum MHD_Result (*route_fn)(serve *sv, struct MHD_Connection *c, conn *cn);

static enum MHD_Result chat_completion(serve *sv, struct MHD_Connection *c, conn *cn)
{
    return completion(sv, c, 1, cn);
}

static enum MHD_Result text_completion(serve *sv, struct MHD_Connection *c, conn *cn)
{
    return completion(sv, c, 0, cn);
}

static enum MHD_Result health(serve *sv, struct MHD_Connection *c, conn *cn)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    return reply(c, 200, "application/json", ok, sizeof ok - 1);
}

/* /tokenize and /detokenize: the body in, JSON out. */
static enum MHD_Result tokens_route(serve *sv, struct MHD_Connection *c, conn *cn, int decode)
{
    lm_bytes out = {0};
    lm_err e = {{0}};
    int status = 200;
    const char *b = cn->body.v ? cn->body.v : "";
    int rc = decode ? serve_detokenize(sv, b, cn->body.n, &out, &status, &e)
                    : serve_tokenize(sv, b, cn->body.n, &out, &status, &e);
    enum MHD_Result ok = rc == 0 ? reply(c, 200, "application/json", out.v, out.n)
                                 : reply_error(c, (unsigned)status, e.msg, NULL);
    lm_bytes_free(&out);
    return ok;
}

static enum MHD_Result tokenize(serve *sv, struct MHD_Connection *c, conn *cn)
{
    return tokens_route(sv, c, cn, 0);
}

static enum MHD_Result detokenize(serve *sv, struct MHD_Connection *c, conn *cn)
{
    return tokens_route(sv, c, cn, 1);
}

static enum MHD_Result models(serve *sv, struct MHD_Connection *c, conn *cn)
{
    char *s = serve_models_json(sv);
    enum MHD_Result ok = s ? reply(c, 200, "application/json", s, strlen(s)) : MHD_NO;
    free(s);
    return ok;
}

static enum MHD_Result metrics(serve *sv, struct MHD_Connection *c, conn *cn)
{
    lm_bytes out = {0};
    lm_err e = {{0}};
    enum MHD_Result ok = serve_metrics_text(sv, &out, &e) == 0
                             ? reply(c, 200, "text/plain; version=0.0.4", out.v, out.n)
                             : reply_error(c, 500, e.msg, NULL);
    lm_bytes_free(&out);
    return ok;
}

static const struct route {
    const char *path, *method;
    route_fn fn;
    int open; /* answered without the API key */
} ROUTES[] = {
    {"/health", "GET", health, 1},
    {"/v1/chat/completions", "POST", chat_completion, 0},
    {"/v1/completions", "POST", text_completion, 0},
    {"/tokenize", "POST", tokenize, 0},
    {"/detokenize", "POST", detokenize, 0},
    {"/v1/models", "GET", models, 0},
    {"/metrics", "GET", metrics, 0},
};

/* Compares in time independent of where the strings differ. */
static int same_secret(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    unsigned char diff = (unsigned char)(na != nb);
    for (size_t i = 0; i < nb; i++)
        diff |= (unsigned char)((i < na ? a[i] : 0) ^ b[i]);
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **state)
{
    serve *sv = cls;
    conn *cn = *state;
    if (!cn) {
        if (!(cn = calloc(1, sizeof *cn)))
            return MHD_NO;
        *state = cn;
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cn->too_big && cn->body.n + *upload_size > sv->o->max_body)
            cn->too_big = 1;
        lm_err e;
        if (!cn->too_big && lm_bytes_append(&cn->body, upload, *upload_size, &e) != 0)
            cn->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cn->too_big) {
        char msg[128];
        snprintf(msg, sizeof msg, "the request body exceeds %zu bytes", sv->o->max_body);
        return reply_error(c, 413, msg, NULL);
    }
    const struct route *route = NULL;
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES && !route; i++)
        if (strcmp(url, ROUTES[i].path) == 0)
            route = &ROUTES[i];
    int method_ok = route && strcmp(method, route->method) == 0;
    if (sv->o->api_key && !(method_ok && route->open)) {
        const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        char want[1024];
        snprintf(want, sizeof want, "Bearer %s", sv->o->api_key);
        if (!auth || !same_secret(auth, want))
            return reply_error(c, 401, "invalid or missing API key: send 'Authorization: Bearer KEY'",
                               NULL);
    }
    if (method_ok)
        return route->fn(sv, c, cn);
    char msg[320];
    if (route)
        snprintf(msg, sizeof msg, "%s does not take %.16s", url, method);
    else
        snprintf(msg, sizeof msg, "no endpoint %.200s", url);
    return reply_error(c, route ? 405 : 404, msg, NULL);
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
                      enum MHD_RequestTerminationCode why)
{
    conn *cn = *state;
    if (cn) {
        lm_bytes_free(&cn->body);
        free(cn);
        *state = NULL;
    }
}

struct MHD_Daemon *serve_http_start(serve *sv, unsigned flags, const struct sockaddr_in *addr)
{
    return MHD_start_daemon(flags, 0, NULL, NULL, handle, sv, MHD_OPTION_SOCK_ADDR, addr,
                            MHD_OPTION_NOTIFY_COMPLETED, completed, sv,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)(sv->o->queue + 64),
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
}

static int load(serve *sv, lm_err *e)
{
    const lm_serve_opts *o = sv->o;
    const char *tok_path = o->tokenizer_path ? o->tokenizer_path : o->model_dir;
    if (!(sv->tok = lm_tokenizer_load(tok_path, e)))
        return -1;
    int found;
    if (lm_gen_config_load(o->model_dir, &sv->defaults, &found, e) != 0)
        return -1;
    if (lm_gen_text_stops(o->model_dir, sv->tok, &sv->eos, e) != 0)
        return -1;
    if (o->has_chat_format) {
        sv->chat_format = o->chat_format;
        sv->chat_format_known = 1;
    } else {
        lm_err ignored;
        sv->chat_format_known =
            lm_chat_format_detect(tok_path, sv->tok, &sv->chat_format, &ignored) == 0;
    }
    lm_huge_set_progress(isatty(fileno(stderr)) ? stderr : NULL); /* as cli_session_open */
    if (!(sv->s = lm_session_open(sv->d, o->model_dir, o->threads, e)))
        return -1;
    char note[512];
    if (lm_session_skipped_note(sv->s, note, sizeof note))
        fprintf(stderr, "note: %s\n", note);
    return 0;
}

int lm_serve(const lm_model_desc *d, const lm_serve_opts *o, lm_err *e)
{
    serve sv = {.d = d, .o = o};
    pthread_mutex_init(&sv.mu, NULL);
    pthread_mutex_init(&sv.tok_mu, NULL);
    pthread_cond_init(&sv.work, NULL);
    pthread_cond_init(&sv.progress, NULL);
    int rc = -1;
    struct MHD_Daemon *daemon = NULL;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    const char *host = o->host ? o->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        lm_fail(e, "--serve: '%s' is not an IPv4 address", host);
        goto done;
    }
    /* Signals go to sigwait below, not to the threads about to start. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (load(&sv, e) != 0 || serve_engine_start(&sv, o->parallel, e) != 0) {
        serve_engine_stop(&sv);
        goto done;
    }
    daemon = serve_http_start(&sv, MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD,
                              &addr);
    if (!daemon) {
        lm_fail(e, "--serve: cannot listen on %s:%d: %s", host, o->port, strerror(errno));
        serve_engine_stop(&sv);
        goto done;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    fprintf(stderr, "%s: serving on http://%s:%u (model '%s', %d slots, queue %d)\n", d->name, host,
            di ? di->port : (unsigned)o->port, d->name, o->parallel, o->queue);
    int sig;
    sigwait(&sigs, &sig);
    fprintf(stderr, "%s: %s: cancelling what is in flight and stopping\n", d->name,
            sig == SIGTERM ? "SIGTERM" : "SIGINT");
    serve_engine_stop(&sv);
    MHD_stop_daemon(daemon);
    rc = 0;
done:
    serve_engine_free(&sv);
    lm_session_close(sv.s);
    lm_ids_free(&sv.eos);
    lm_tokenizer_free(sv.tok);
    return rc;
}
