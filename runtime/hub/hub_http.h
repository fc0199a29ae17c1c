/* HTTP for the hub, through libcurl: the requests huggingface_hub makes,
 * with its retry and credential rules.
 *
 * - The token ($HF_TOKEN) goes in "Authorization: Bearer" only to the
 *   endpoint's own scheme, host and port. Redirects are followed here, not
 *   by curl, so that rule holds for every hop: large files redirect to a CDN
 *   with a signed URL, which must not see the token.
 * - Connection failures, resets and cut transfers, 408, 429 and 5xx are
 *   retried with exponential backoff (1, 2, 4, 8, 8 s), or after the
 *   Retry-After the server asks for; a download resumes where it stopped.
 * - SIGINT (lm_hub_interrupt) stops a transfer at once. */
#ifndef LMRT_HUB_HTTP_H
#define LMRT_HUB_HTTP_H

#include <signal.h>
#include <stddef.h>

#include "../core/error.h"

typedef struct lm_hub_http lm_hub_http;

/* What a response said that the hub protocol uses. */
typedef struct lm_hub_response {
    long status;
    char url[4096];            /* the URL that answered */
    char location[4096];       /* Location, made absolute; "" when none */
    char repo_commit[64];      /* X-Repo-Commit */
    char etag[256];            /* ETag, as sent */
    char linked_etag[256];     /* X-Linked-Etag (an LFS file's sha256) */
    long long linked_size;     /* X-Linked-Size, -1 when absent */
    long long content_length;  /* Content-Length, -1 when absent */
    char error_code[64];       /* X-Error-Code: RepoNotFound, GatedRepo, ... */
    char error_message[512];   /* X-Error-Message */
} lm_hub_response;

/* Called while bytes arrive: done of total (total -1 when unknown). */
typedef void (*lm_hub_progress_fn)(void *ctx, long long done, long long total);

/* Set on SIGINT and SIGTERM once lm_hub_catch_interrupts has run; every
 * transfer and wait checks it, so Ctrl-C stops a download cleanly instead
 * of killing the process mid-write. */
extern volatile sig_atomic_t lm_hub_interrupted;
void lm_hub_catch_interrupts(void);

/* endpoint: "https://huggingface.co" or $HF_ENDPOINT; token may be NULL. */
lm_hub_http *lm_hub_http_open(const char *endpoint, const char *token, const char *user_agent,
                              lm_err *e);
void lm_hub_http_close(lm_hub_http *h);

/* GET into memory (NUL-terminated, caller frees), following redirects; the
 * status is in r. Fails only when no response came back. */
int lm_hub_get(lm_hub_http *h, const char *url, char **body, size_t *len, lm_hub_response *r,
               lm_err *e);
/* HEAD, following redirects only within the same host (a renamed repo), as
 * huggingface_hub does: a redirect elsewhere is returned with its Location. */
int lm_hub_head(lm_hub_http *h, const char *url, lm_hub_response *r, lm_err *e);
/* GET url appending to the open file fd, from its current size (Range), until
 * expected bytes are there; a server that ignores Range restarts the file.
 * on_data sees every byte written, in order, and whether the file restarted. */
typedef struct lm_hub_sink {
    int fd;
    long long expected;
    void (*restart)(void *ctx);                            /* file truncated to 0 */
    void (*data)(void *ctx, const void *p, size_t n);
    lm_hub_progress_fn progress;
    void *ctx;
} lm_hub_sink;
int lm_hub_download(lm_hub_http *h, const char *url, const lm_hub_sink *sink, lm_hub_response *r,
                    lm_err *e);

#endif
