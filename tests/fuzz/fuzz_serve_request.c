/* The HTTP server's request bodies, as http.c hands them to api.c: the
 * OpenAI completion and chat completion requests (every sampling field,
 * stop strings, messages with text parts, prompts as text or ids), and
 * /tokenize and /detokenize. No socket: a serve with a loaded tokenizer and
 * a model description, the parts api.c reads. A request that parses is
 * answered (empty choices), so the writing side runs too.
 * Byte 0 chooses the endpoint (mod 4); the rest is the body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_serve.h"

static serve sv;
static lm_serve_opts opts = {.model_ref = "Org/Fuzz-Model", .parallel = 1, .queue = 1};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_serve_init(&sv, &opts);
    return 0;
}

static void answer(serve_job *job)
{
    lm_err e;
    lm_bytes out = {0};
    for (int i = 0; i < job->n; i++)
        job->choices[i].finish = "stop";
    (void)serve_answer_json(&sv, job, &out, &e);
    (void)serve_event_delta(&sv, job, 0, "why", 3, "\xff text", 6, 1, &out, &e);
    (void)serve_event_finish(&sv, job, 0, &out, &e);
    (void)serve_event_usage(&sv, job, &out, &e);
    lm_bytes_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    size_t n = size - 1;
    int status;
    const char *param;
    lm_err e;
    lm_bytes out = {0};
    switch (data[0] % 4) {
    case 0:
    case 1: {
        serve_job *job = serve_parse_completion(&sv, data[0] % 4, body, n, &status, &param, &e);
        if (job) {
            answer(job);
            serve_job_release(&sv, job);
        } else {
            free(serve_error_json(e.msg, "invalid_request_error", param, NULL));
        }
        break;
    }
    case 2:
        (void)serve_tokenize(&sv, body, n, &out, &status, &e);
        break;
    case 3:
        (void)serve_detokenize(&sv, body, n, &out, &status, &e);
        break;
    }
    lm_bytes_free(&out);
    return 0;
}
