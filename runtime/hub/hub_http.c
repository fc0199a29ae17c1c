#include "hub_http.h"
#include "hub_headers.h"
#include "../core/clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t lm_hub_interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    lm_hub_interrupted = 1;
}

void lm_hub_catch_interrupts(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_interrupt;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a blocking wait (a lock, a sleep) returns EINTR. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

#define MAX_REDIRECTS 10
#define MAX_RETRIES 5        /* as huggingface_hub's http_backoff */
#define RETRY_BASE_MS 1000L  /* then 2, 4, 8, 8 s */
#define MAX_BODY (64u << 20) /* a hub API answer larger than this is not one */

struct lm_hub_http {
    CURL *curl;
    char origin[1024];       /* scheme://host:port of the endpoint */
    char auth_header[4200];  /* "" without a token */
    char user_agent[256];
};

/* scheme://host:port of url, with the scheme's default port made explicit. */
static int origin_of(const char *url, char *buf, size_t cap)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK;
    if (ok)
        ok = snprintf(buf, cap, "%s://%s:%s", scheme, host, port) < (int)cap;
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

lm_hub_http *lm_hub_http_open(const char *endpoint, const char *token, const char *user_agent,
                              lm_err *e)
{
    static int global_done;
    if (!global_done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            lm_fail(e, "libcurl: cannot initialise");
            return NULL;
        }
        global_done = 1;
    }
    lm_hub_http *h = calloc(1, sizeof *h);
    if (!h) {
        lm_fail(e, "out of memory");
        return NULL;
    }
    if (origin_of(endpoint, h->origin, sizeof h->origin) != 0 ||
        (strncmp(endpoint, "http://", 7) != 0 && strncmp(endpoint, "https://", 8) != 0)) {
        lm_fail(e, "HF_ENDPOINT '%.200s': not an http or https URL", endpoint);
        free(h);
        return NULL;
    }
    if (token && *token &&
        snprintf(h->auth_header, sizeof h->auth_header, "Authorization: Bearer %s", token) >=
            (int)sizeof h->auth_header) {
        lm_fail(e, "HF_TOKEN: too long for a token");
        free(h);
        return NULL;
    }
    snprintf(h->user_agent, sizeof h->user_agent, "%s", user_agent);
    if (!(h->curl = curl_easy_init())) {
        lm_fail(e, "libcurl: cannot create a handle");
        free(h);
        return NULL;
    }
    return h;
}

void lm_hub_http_close(lm_hub_http *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->curl);
    memset(h->auth_header, 0, sizeof h->auth_header);
    free(h);
}

/* ---- one request ------------------------------------------------------ */

typedef struct transfer {
    lm_hub_http *h;
    /* memory body */
    char *body;
    size_t len, cap;
    int body_too_big;
    /* file body */
    const lm_hub_sink *sink;
    long long offset;        /* bytes in the file when this request started */
    long long written;       /* bytes taken by this request (written or pending) */
    char *pending;           /* bytes not yet written: up to the next 2 MiB offset */
    size_t pending_len;
    double pending_since;    /* monotonic seconds of the oldest pending byte */
    int started;             /* first body byte seen: status checked */
    int write_errno;
    int overflow;            /* the server sent more than expected */
    int bad_range;           /* a 206 that does not start where we asked */
} transfer;

static size_t on_memory(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t k = size * n;
    if (t->len + k + 1 > MAX_BODY) {
        t->body_too_big = 1;
        return 0;
    }
    if (t->len + k + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->len + k + 1)
            cap *= 2;
        char *nb = realloc(t->body, cap);
        if (!nb)
            return 0;
        t->body = nb;
        t->cap = cap;
    }
    memcpy(t->body + t->len, p, k);
    t->len += k;
    t->body[t->len] = '\0';
    return k;
}

/* Decides on the first byte whether this body belongs in the file. */
static int start_file_body(transfer *t)
{
    CURL *c = t->h->curl;
    long status = lm_hub_status(c);
    t->started = 1;
    if (status == 200 && t->offset > 0) {
        /* The server ignored our Range: start the file over. */
        if (ftruncate(t->sink->fd, 0) != 0 || lseek(t->sink->fd, 0, SEEK_SET) != 0) {
            t->write_errno = errno;
            return -1;
        }
        t->offset = 0;
        if (t->sink->restart)
            t->sink->restart(t->sink->ctx);
    } else if (status == 206) {
        if (lm_hub_range_start(c) != t->offset) {
            t->bad_range = 1;
            return -1;
        }
    }
    return 0;
}

/* A download reaches the file in pieces that end on 2 MiB offsets: the
 * page cache then holds a blob in 2 MiB folios, so the first run maps the
 * checkpoint on huge pages at once instead of reading it again
 * (weights/hugemap.h); curl's 16 KiB pieces would leave 4 KiB ones. */
#define FILE_PIECE ((size_t)2 << 20)

/* Writes the pending bytes; -1 with write_errno set when it cannot. */
static int flush_pending(transfer *t)
{
    for (size_t done = 0; done < t->pending_len;) {
        ssize_t w = write(t->sink->fd, t->pending + done, t->pending_len - done);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            t->write_errno = errno;
            t->pending_len = 0;
            return -1;
        }
        done += (size_t)w;
    }
    t->pending_len = 0;
    return 0;
}

static size_t on_file(char *p, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t k = size * n;
    long status = lm_hub_status(t->h->curl);
    if (status != 200 && status != 206)
        return k; /* an error page: its headers say what went wrong */
    if (!t->started && start_file_body(t) != 0)
        return 0;
    if (t->sink->expected >= 0 && t->offset + t->written + (long long)k > t->sink->expected) {
        t->overflow = 1;
        return 0;
    }
    if (!t->pending && !(t->pending = malloc(FILE_PIECE))) {
        t->write_errno = ENOMEM;
        return 0;
    }
    for (size_t done = 0; done < k;) {
        /* The pending bytes end at file offset offset + written. */
        size_t room = FILE_PIECE - (size_t)((t->offset + t->written) % (long long)FILE_PIECE);
        size_t step = k - done < room ? k - done : room;
        if (t->pending_len == 0)
            t->pending_since = lm_now_seconds();
        memcpy(t->pending + t->pending_len, p + done, step);
        t->pending_len += step;
        t->written += (long long)step;
        done += step;
        if (step == room && flush_pending(t) != 0)
            return 0;
    }
    if (t->sink->data)
        t->sink->data(t->sink->ctx, p, k);
    return k;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ult, curl_off_t uln)
{
    transfer *t = ud;
    if (lm_hub_interrupted)
        return 1;
    /* No byte waits more than a second: a slow stream's bytes are on disk
     * (and show) as they come; a fast one fills its 2 MiB pieces first. */
    if (t->sink && t->pending_len > 0 && lm_now_seconds() - t->pending_since > 1.0 && flush_pending(t) != 0)
        return 1;
    if (t->sink && t->sink->progress)
        t->sink->progress(t->sink->ctx, t->offset + t->written, t->sink->expected);
    return 0;
}

/* Seconds a 429 or 503 asks us to wait (Retry-After: SECONDS), else -1. */
static long retry_after(CURL *c)
{
    long long s = lm_hub_header_number(c, "Retry-After");
    return s < 0 ? -1 : s > 300 ? 300 : (long)s;
}

static CURLcode perform(lm_hub_http *h, const char *method, const char *url, transfer *t)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    struct curl_slist *hdrs = NULL;
    char origin[1024];
    /* The token only ever goes to the endpoint itself. */
    if (h->auth_header[0] && origin_of(url, origin, sizeof origin) == 0 && strcmp(origin, h->origin) == 0)
        hdrs = curl_slist_append(hdrs, h->auth_header);
    /* Real sizes, as huggingface_hub asks: no compressed bodies. */
    hdrs = curl_slist_append(hdrs, "Accept-Encoding: identity");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    /* A stalled connection (under 1 byte/s for a minute) counts as cut. */
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    char range[64];
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (t->sink) {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_file);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
        if (t->offset > 0) {
            snprintf(range, sizeof range, "%lld-", t->offset);
            curl_easy_setopt(c, CURLOPT_RANGE, range);
        }
    } else {
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_memory);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    return rc;
}

static int transient_code(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT: case CURLE_RECV_ERROR: case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE: case CURLE_GOT_NOTHING: case CURLE_OPERATION_TIMEDOUT:
    case CURLE_HTTP2: case CURLE_HTTP2_STREAM: case CURLE_SSL_CONNECT_ERROR:
        return 1;
    default:
        return 0;
    }
}

static int transient_status(long s)
{
    return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

/* Sleeps ms, waking early for Ctrl-C. */
static void wait_ms(long ms)
{
    while (ms > 0 && !lm_hub_interrupted) {
        long step = ms > 100 ? 100 : ms;
        struct timespec ts = { step / 1000, (step % 1000) * 1000000L };
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static int is_redirect(long s)
{
    return s == 301 || s == 302 || s == 303 || s == 307 || s == 308;
}

/* One request with retries and redirects. same_origin_only: stop at a
 * redirect to another host (HEAD). */
static int request(lm_hub_http *h, const char *method, const char *url0, transfer *t,
                   int same_origin_only, lm_hub_response *r, lm_err *e)
{
    char url[4096];
    snprintf(url, sizeof url, "%s", url0);
    int hops = 0, failures = 0;
    for (;;) {
        long long before = t->sink ? t->offset + t->written : 0;
        if (t->sink) {
            struct stat st;
            if (fstat(t->sink->fd, &st) != 0)
                return lm_fail(e, "%s: %s", url, strerror(errno));
            t->offset = st.st_size;
            t->written = 0;
            t->started = 0;
            if (t->sink->expected >= 0 && t->offset == t->sink->expected) {
                memset(r, 0, sizeof *r);
                r->status = 200;
                snprintf(r->url, sizeof r->url, "%s", url);
                return 0;
            }
        } else {
            t->len = 0;
        }
        CURLcode rc = perform(h, method, url, t);
        /* What arrived stays in the file, also from a cut or interrupted
         * request: the next one resumes after it. */
        if (t->sink && t->pending_len > 0)
            (void)flush_pending(t);
        if (lm_hub_interrupted)
            return lm_fail(e, "%s: interrupted", url);
        if (t->write_errno)
            return lm_fail(e, "cannot write the download: %s%s", strerror(t->write_errno),
                           t->write_errno == ENOSPC ? "; free disk space and pull again (it resumes)" : "");
        if (t->overflow)
            return lm_fail(e, "%s: the server sent more than the %lld bytes announced", url,
                           t->sink->expected);
        if (t->body_too_big)
            return lm_fail(e, "%s: the answer is larger than %u MB; not a hub API answer", url,
                           MAX_BODY >> 20);
        if (t->bad_range)
            return lm_fail(e, "%s: the server answered a different byte range than asked", url);
        long status = rc == CURLE_OK || rc == CURLE_WRITE_ERROR ? lm_hub_status(h->curl) : 0;
        /* A body that ended early without curl noticing (no Content-Length)
         * is a cut connection too. */
        if (rc == CURLE_OK && t->sink && (status == 200 || status == 206) && t->sink->expected >= 0 &&
            t->offset + t->written < t->sink->expected)
            rc = CURLE_PARTIAL_FILE;
        int retry = (rc != CURLE_OK && transient_code(rc)) || (rc == CURLE_OK && transient_status(status));
        if (rc != CURLE_OK && !retry)
            return lm_fail(e, "%s: %s; check the network and HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to "
                              "use the cache alone", url, curl_easy_strerror(rc));
        if (retry) {
            /* A download that made progress has not failed yet. */
            if (t->sink && t->offset + t->written > before)
                failures = 0;
            if (failures >= MAX_RETRIES) {
                if (rc != CURLE_OK)
                    return lm_fail(e, "%s: %s (after %d retries); check the network and HF_ENDPOINT, or "
                                      "set HF_HUB_OFFLINE=1 to use the cache alone",
                                   url, curl_easy_strerror(rc), failures);
                lm_hub_read_response(h->curl, url, r);
                return 0;
            }
            long wait = rc == CURLE_OK ? retry_after(h->curl) * 1000 : -1;
            if (wait < 0)
                wait = RETRY_BASE_MS << (failures < 3 ? failures : 3);
            fprintf(stderr, "lmcc: %s: %s; retrying in %.1f s\n", url,
                    rc != CURLE_OK ? curl_easy_strerror(rc) : status == 429 ? "HTTP 429 (rate limited)"
                                                                             : "server error",
                    wait / 1000.0);
            failures++;
            wait_ms(wait);
            if (lm_hub_interrupted)
                return lm_fail(e, "%s: interrupted", url);
            continue;
        }
        lm_hub_read_response(h->curl, url, r);
        if (is_redirect(status) && r->location[0]) {
            char a[1024], b[1024];
            if (same_origin_only && (origin_of(url, a, sizeof a) != 0 ||
                                     origin_of(r->location, b, sizeof b) != 0 || strcmp(a, b) != 0))
                return 0;
            if (++hops > MAX_REDIRECTS)
                return lm_fail(e, "%s: more than %d redirects", url0, MAX_REDIRECTS);
            snprintf(url, sizeof url, "%s", r->location);
            continue;
        }
        return 0;
    }
}

int lm_hub_get(lm_hub_http *h, const char *url, char **body, size_t *len, lm_hub_response *r,
               lm_err *e)
{
    transfer t = { .h = h };
    if (request(h, "GET", url, &t, 0, r, e) != 0) {
        free(t.body);
        return -1;
    }
    if (!t.body && !(t.body = calloc(1, 1)))
        return lm_fail(e, "out of memory");
    *body = t.body;
    if (len)
        *len = t.len;
    return 0;
}

int lm_hub_head(lm_hub_http *h, const char *url, lm_hub_response *r, lm_err *e)
{
    transfer t = { .h = h };
    int rc = request(h, "HEAD", url, &t, 1, r, e);
    free(t.body);
    return rc;
}

int lm_hub_download(lm_hub_http *h, const char *url, const lm_hub_sink *sink, lm_hub_response *r,
                    lm_err *e)
{
    transfer t = { .h = h, .sink = sink };
    int rc = request(h, "GET", url, &t, 0, r, e);
    free(t.pending);
    return rc;
}
