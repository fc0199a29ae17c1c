/* A hub response's headers, as lmcc pull reads them: libcurl parses the
 * status line and the header lines (continuations, duplicates, junk), then
 * hub_headers.c takes what the hub protocol uses: Location resolved against
 * the URL, X-Repo-Commit, ETag, X-Linked-Etag, X-Linked-Size,
 * Content-Length, the error headers, Content-Range, Retry-After. The input
 * is what the server sends, bytes for bytes: libcurl's request for
 * huggingface.co goes to a unix socket in a private directory (no network,
 * no DNS), and this thread, driving curl's multi interface, accepts it and
 * answers with the input and the end of the stream, within a bounded time.
 *
 * Byte 0: bit 0 makes the request a HEAD (as for a file's metadata), else
 * a GET whose body is dropped. Checked: every string in lm_hub_response is
 * NUL-terminated inside its array, the sizes are -1 or more, the status is
 * a 3-digit code or 0, a Location kept is an absolute URL. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "generate/session.h"
#include "hub/hub_headers.h"

#define URL "http://huggingface.co/Org/Model/resolve/main/model.safetensors"
#define MAX_SECONDS 3.0 /* far above any answer; a hang is reported as one */

static int listener = -1;
static char socket_path[4200];

static size_t drop_body(char *p, size_t size, size_t n, void *ud)
{
    return size * n;
}

static void must(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_hub_headers: %s\n", what);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    must(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK, "libcurl: cannot initialise");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(socket_path, sizeof socket_path, "%s/hub.sock", fuzz_dir());
    must(strlen(socket_path) < sizeof a.sun_path, "the socket's path is too long");
    strcpy(a.sun_path, socket_path);
    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    must(listener >= 0 && bind(listener, (struct sockaddr *)&a, sizeof a) == 0 &&
             listen(listener, 4) == 0,
         "cannot listen on a unix socket");
    return 0;
}

#define TERMINATED(field) must(memchr(field, 0, sizeof field) != NULL, #field " is not NUL-terminated")

static void check(const lm_hub_response *r)
{
    TERMINATED(r->url);
    TERMINATED(r->location);
    TERMINATED(r->repo_commit);
    TERMINATED(r->etag);
    TERMINATED(r->linked_etag);
    TERMINATED(r->error_code);
    TERMINATED(r->error_message);
    must(strcmp(r->url, URL) == 0, "url is not the URL asked");
    must(r->linked_size >= -1 && r->content_length >= -1, "a negative size");
    must(r->status == 0 || (r->status >= 100 && r->status <= 999), "a status that is no HTTP code");
    must(!r->location[0] || strstr(r->location, "://"), "a Location that is not absolute");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    CURL *c = curl_easy_init();
    CURLM *m = curl_multi_init();
    must(c && m, "libcurl: cannot create a handle");
    curl_easy_setopt(c, CURLOPT_URL, URL);
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket_path);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(MAX_SECONDS * 1000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, drop_body);
    if (data[0] & 1)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (getenv("FUZZ_SHOW"))
        curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_multi_add_handle(m, c);

    /* curl connects, this thread accepts and answers: the whole input,
     * then end of stream. */
    int server = -1, running = 1, ended = 0;
    size_t sent = 1;
    double t0 = lm_now_seconds();
    while (running) {
        curl_multi_perform(m, &running);
        if (server < 0)
            server = accept4(listener, NULL, NULL, SOCK_NONBLOCK);
        if (server >= 0 && sent < size) {
            ssize_t w = send(server, data + sent, size - sent, MSG_NOSIGNAL);
            sent += w > 0 ? (size_t)w : 0;
        }
        if (server >= 0 && sent == size && !ended)
            ended = shutdown(server, SHUT_WR) == 0;
        if (running)
            curl_multi_poll(m, NULL, 0, 10, NULL);
        must(lm_now_seconds() - t0 < 2 * MAX_SECONDS, "libcurl ran past its timeout");
    }

    static lm_hub_response r; /* 9 KB of strings */
    lm_hub_read_response(c, URL, &r);
    check(&r);
    if (getenv("FUZZ_SHOW")) /* to see what a seed does */
        fprintf(stderr, "status %ld location '%s' commit '%s' etag '%s' linked '%s' %lld length %lld "
                        "error '%s' '%s' range %lld\n", r.status, r.location, r.repo_commit, r.etag,
                r.linked_etag, r.linked_size, r.content_length, r.error_code, r.error_message,
                lm_hub_range_start(c));
    must(lm_hub_header_number(c, "Retry-After") >= -1, "a negative Retry-After");

    curl_multi_remove_handle(m, c);
    curl_multi_cleanup(m);
    curl_easy_cleanup(c);
    if (server >= 0)
        close(server);
    return 0;
}
