/* A hub response's headers into lm_hub_response (hub_headers.h). */
#include "hub_headers.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long lm_hub_status(CURL *c)
{
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* libcurl 7.88 takes "HTTP/2-5" as status -5 and "HTTP/21" as 1. */
    return status >= 100 && status <= 999 ? status : 0;
}

size_t lm_hub_header_value(CURL *c, const char *name, char *buf, size_t cap)
{
    struct curl_header *hd;
    buf[0] = '\0';
    if (curl_easy_header(c, name, 0, CURLH_HEADER, -1, &hd) != CURLHE_OK)
        return 0;
    snprintf(buf, cap, "%s", hd->value);
    return strlen(buf);
}

long long lm_hub_header_number(CURL *c, const char *name)
{
    char v[64];
    if (!lm_hub_header_value(c, name, v, sizeof v))
        return -1;
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    return errno || end == v || *end || n < 0 ? -1 : n;
}

long long lm_hub_range_start(CURL *c)
{
    char range[128];
    long long start = -1;
    if (lm_hub_header_value(c, "Content-Range", range, sizeof range))
        sscanf(range, "bytes %lld-", &start);
    return start;
}

/* location resolved against base, as a browser would (relative or absolute). */
static int resolve_url(const char *base, const char *location, char *buf, size_t cap)
{
    CURLU *u = curl_url();
    char *out = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
             curl_url_set(u, CURLUPART_URL, location, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_URL, &out, 0) == CURLUE_OK;
    if (ok)
        ok = snprintf(buf, cap, "%s", out) < (int)cap;
    curl_free(out);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

void lm_hub_read_response(CURL *c, const char *url, lm_hub_response *r)
{
    char loc[4096];
    memset(r, 0, sizeof *r);
    r->status = lm_hub_status(c);
    snprintf(r->url, sizeof r->url, "%s", url);
    if (lm_hub_header_value(c, "Location", loc, sizeof loc) &&
        resolve_url(url, loc, r->location, sizeof r->location) != 0)
        r->location[0] = '\0';
    lm_hub_header_value(c, "X-Repo-Commit", r->repo_commit, sizeof r->repo_commit);
    lm_hub_header_value(c, "ETag", r->etag, sizeof r->etag);
    lm_hub_header_value(c, "X-Linked-Etag", r->linked_etag, sizeof r->linked_etag);
    lm_hub_header_value(c, "X-Error-Code", r->error_code, sizeof r->error_code);
    lm_hub_header_value(c, "X-Error-Message", r->error_message, sizeof r->error_message);
    r->linked_size = lm_hub_header_number(c, "X-Linked-Size");
    r->content_length = lm_hub_header_number(c, "Content-Length");
}
