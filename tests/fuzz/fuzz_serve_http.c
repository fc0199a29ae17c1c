/* The HTTP server before the body reaches api.c: libmicrohttpd's request
 * parsing (request line, headers, Content-Length, chunked bodies, several
 * requests on one connection) and http.c's handler behind it (routing by
 * method and URL, the Authorization check, the body limit, the error
 * answers). The daemon is serve_http_start's, as lm_serve makes it, but
 * listening on nothing: each input is written as raw bytes into one end of
 * a socketpair whose other end is handed to MHD_add_connection, and
 * MHD_run is driven from this thread (not a thread per connection) so
 * that each input ends deterministically, within a bounded time.
 *
 * No model runs: the serve has a tokenizer and a model description but no
 * session, no engine and no queue places, so /tokenize, /detokenize,
 * /v1/models, /metrics and /health are answered in full, and a completion
 * whose body parses is refused at serve_submit (503) as a full server's is.
 *
 * Byte 0: bit 0 sets an API key, bit 1 a 64-byte body limit (413 without
 * megabytes of input). The rest is what the client sends. Checked: every
 * answer starts with an HTTP status line, and without the key in the input
 * nothing but /health answers 200. */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "fuzz_serve.h"

#define API_KEY "fuzz-secret-key"
#define MAX_SECONDS 3.0 /* far above any answer; a hang is reported as one */

static serve sv;
static struct MHD_Daemon *daemon_;
/* queue 0 and no engine: serve_submit refuses every completion. */
static lm_serve_opts opts = {.model_ref = "Org/Fuzz-Model", .parallel = 1, .queue = 0,
                             .timeout_s = 60};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_serve_init(&sv, &opts);
    if (!(daemon_ = serve_http_start(&sv, MHD_USE_NO_LISTEN_SOCKET, NULL))) {
        fprintf(stderr, "fuzz_serve_http: cannot start libmicrohttpd\n");
        abort();
    }
    return 0;
}

static unsigned connections(void)
{
    const union MHD_DaemonInfo *di =
        MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return di ? di->num_connections : 0;
}

/* Bytes written to fd that its reader has not taken yet. */
static int unread(int fd)
{
    int n = 0;
    return ioctl(fd, FIONREAD, &n) == 0 ? n : 0;
}

/* What came back: kept up to its capacity, the rest counted and dropped. */
typedef struct answer {
    char v[65536];
    size_t n;
} answer;

static int drain(int fd, answer *a)
{
    int got = 0;
    char buf[4096];
    ssize_t r;
    while ((r = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0) {
        size_t k = (size_t)r < sizeof a->v - a->n ? (size_t)r : sizeof a->v - a->n;
        memcpy(a->v + a->n, buf, k);
        a->n += k;
        got = 1;
    }
    return got;
}

/* The invariants of the answers to one input (see the header comment). */
static void check(const answer *a, int keyed, const uint8_t *in, size_t n)
{
    if (a->n && (a->n < 5 || memcmp(a->v, "HTTP/", 5) != 0)) {
        fprintf(stderr, "fuzz_serve_http: an answer that is not HTTP: %.40s\n", a->v);
        abort();
    }
    if (!keyed || memmem(in, n, API_KEY, sizeof API_KEY - 1))
        return;
    static const char ok[] = "{\"status\":\"ok\"}";
    for (const char *p = a->v; (p = memmem(p, (size_t)(a->v + a->n - p), " 200 ", 5)); p += 5) {
        const char *body = memmem(p, (size_t)(a->v + a->n - p), "\r\n\r\n", 4);
        if (!body || (size_t)(a->v + a->n - body - 4) < sizeof ok - 1)
            break; /* cut short by the capacity */
        if (memcmp(body + 4, ok, sizeof ok - 1) != 0) {
            fprintf(stderr, "fuzz_serve_http: answered 200 without the API key:\n%.300s\n", p);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int keyed = data[0] & 1;
    opts.api_key = keyed ? API_KEY : NULL;
    opts.max_body = data[0] & 2 ? 64 : (size_t)8 << 20;
    const uint8_t *in = data + 1;
    size_t n = size - 1;

    int fds[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
        perror("fuzz_serve_http: socketpair");
        abort();
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (MHD_add_connection(daemon_, fds[1], (struct sockaddr *)&peer, sizeof peer) != MHD_YES) {
        fprintf(stderr, "fuzz_serve_http: MHD_add_connection failed\n");
        abort();
    }
    static answer a;
    a.n = 0;
    size_t sent = 0;
    double t0 = lm_now_seconds();
    /* Until everything is sent and read, and three rounds pass without I/O
     * (the server answered, or waits for bytes that will not come). */
    for (int idle = 0; idle < 3;) {
        int moved = 0;
        if (sent < n) {
            ssize_t w = send(fds[0], in + sent, n - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (w > 0) {
                sent += (size_t)w;
                moved = 1;
            }
        }
        MHD_run(daemon_);
        moved |= drain(fds[0], &a);
        idle = moved || sent < n || unread(fds[1]) ? 0 : idle + 1;
        if (lm_now_seconds() - t0 > MAX_SECONDS) {
            fprintf(stderr, "fuzz_serve_http: no end to the exchange after %.0f s\n", MAX_SECONDS);
            abort();
        }
    }
    if (getenv("FUZZ_SHOW")) /* to see what a seed does */
        fprintf(stderr, "---- %zu bytes back:\n%.*s\n", a.n, (int)a.n, a.v);
    check(&a, keyed, in, n);
    /* The client hangs up; the server must close and free the connection. */
    close(fds[0]);
    while (connections() > 0) {
        MHD_run(daemon_);
        if (lm_now_seconds() - t0 > MAX_SECONDS) {
            fprintf(stderr, "fuzz_serve_http: the connection outlived its client by %.0f s\n",
                    MAX_SECONDS);
            abort();
        }
    }
    return 0;
}
