/* --serve [HOST:]PORT: the options handed to the server (serve/serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define DEFAULT_QUEUE 16
#define DEFAULT_TIMEOUT_S 600.0
#define MAX_BODY_BYTES (8u << 20)

#ifdef LM_NO_SERVE
int cli_run_serve(const lm_model_desc *d, const cli_options *o, lm_err *e)
{
    return lm_fail(e, "--serve: this executable was built without the server (LM_NO_SERVE)");
}
#else
#include "../serve/serve.h"

int cli_run_serve(const lm_model_desc *d, const cli_options *o, lm_err *e)
{
    char host[64]; /* without one, lm_serve binds 127.0.0.1 */
    const char *port_text = o->serve_text;
    const char *colon = strrchr(o->serve_text, ':');
    if (colon) {
        size_t n = (size_t)(colon - o->serve_text);
        if (n == 0 || n >= sizeof host)
            return lm_fail(e, "--serve: '%.80s' is not [HOST:]PORT", o->serve_text);
        memcpy(host, o->serve_text, n);
        host[n] = '\0';
        port_text = colon + 1;
    }
    char *end;
    long port = port_text[0] >= '0' && port_text[0] <= '9' ? strtol(port_text, &end, 10) : -1;
    if (port < 0 || port > 65535 || *end)
        return lm_fail(e, "--serve: '%.80s' is not [HOST:]PORT with a port in [0, 65535]",
                       o->serve_text);
    lm_serve_opts so = {
        .host = colon ? host : NULL,
        .port = (int)port,
        .model_dir = o->model_dir,
        .model_ref = o->model_arg,
        .tokenizer_path = o->tokenizer_path,
        .api_key = o->api_key,
        .has_chat_format = o->chat_format_name != NULL,
        .chat_format = o->chat_format,
        .threads = o->threads,
        .parallel = o->parallel > 0 ? o->parallel : 1,
        .queue = o->queue >= 0 ? o->queue : DEFAULT_QUEUE,
        .timeout_s = o->timeout_s > 0 ? o->timeout_s : DEFAULT_TIMEOUT_S,
        .max_body = MAX_BODY_BYTES,
    };
    return lm_serve(d, &so, e) == 0 ? 0 : EXIT_RUNTIME;
}
#endif
