/* What lmcc reads from a hub response's headers, once libcurl has parsed
 * them: the status, Location (made absolute), X-Repo-Commit, ETag,
 * X-Linked-Etag, X-Linked-Size, Content-Length, the error headers,
 * Content-Range and Retry-After. Each value is copied bounded and
 * NUL-terminated (a longer one is cut), each number is a whole decimal
 * that is not negative or counts as absent. Apart from hub_http.c so that
 * the hub_headers fuzz target reads a response exactly as a pull does. */
#ifndef LMRT_HUB_HEADERS_H
#define LMRT_HUB_HEADERS_H

#include <stddef.h>

#include <curl/curl.h>

#include "hub_http.h"

/* The HTTP status of c's last response; 0 when none came or its status
 * line had no 3-digit code (libcurl passes on what it found there). */
long lm_hub_status(CURL *c);

/* The value of the last response's header name into buf (cap bytes, cut
 * to fit); its length, 0 and "" when absent. */
size_t lm_hub_header_value(CURL *c, const char *name, char *buf, size_t cap);

/* Header name as a whole non-negative decimal; -1 when absent or not one. */
long long lm_hub_header_number(CURL *c, const char *name);

/* The first byte of "Content-Range: bytes START-END/SIZE"; -1 when absent
 * or unreadable (a caller compares it with the offset it asked for). */
long long lm_hub_range_start(CURL *c);

/* Everything the hub protocol uses of c's last response to url, into r. */
void lm_hub_read_response(CURL *c, const char *url, lm_hub_response *r);

#endif
