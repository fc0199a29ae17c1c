/* The OpenAI requests, read into jobs, and the answers, written (jansson
 * both ways). Requests are checked field by field: a wrong type or a value
 * out of range is a 400 naming the parameter; fields that would change the
 * answer in ways lmcc does not do (tools, logprobs, logit_bias, ...) are
 * refused rather than ignored. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "serve_internal.h"
#include "text_split.h"

char *serve_error_json(const char *message, const char *type, const char *param, const char *code)
{
    json_t *err = json_pack("{s:{s:s, s:s, s:o, s:o}}", "error", "message", message, "type", type,
                            "param", param ? json_string(param) : json_null(), "code",
                            code ? json_string(code) : json_null());
    char *s = err ? json_dumps(err, JSON_COMPACT) : NULL;
    json_decref(err);
    return s;
}

/* Jobs are made here (serve_parse_completion) and freed here. */
void serve_job_release(serve *sv, serve_job *job)
{
    (void)sv;
    if (--job->refs > 0)
        return;
    lm_ids_free(&job->prompt);
    for (int i = 0; i < job->n_stops; i++)
        free(job->stops[i]);
    for (int i = 0; i < SERVE_MAX_N; i++)
        lm_bytes_free(&job->choices[i].text);
    lm_bytes_free(&job->out);
    free(job);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct req {
    json_t *root;
    int *status;
    const char **param;
    lm_err *e;
} req;

static int bad(req *r, const char *param, const char *fmt, const char *what)
{
    *r->status = 400;
    *r->param = param;
    return lm_fail(r->e, fmt, param, what);
}

static int get_number(req *r, const char *key, double lo, double hi, double *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return bad(r, key, "'%s' must be %s", "a number");
    double x = json_number_value(v);
    if (!(x >= lo && x <= hi)) {
        char range[80];
        snprintf(range, sizeof range, "in [%g, %g]", lo, hi);
        return bad(r, key, "'%s' must be a number %s", range);
    }
    *out = x;
    return 1;
}

static int get_int(req *r, const char *key, long long lo, long long hi, long long *out)
{
    json_t *v = json_object_get(r->root, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return bad(r, key, "'%s' must be %s", "an integer");
    long long x = json_integer_value(v);
    if (x < lo || x > hi) {
        char range[80];
        snprintf(range, sizeof range, "in [%lld, %lld]", lo, hi);
        return bad(r, key, "'%s' must be an integer %s", range);
    }
    *out = x;
    return 1;
}

/* The same, into the field they set (left as it is when the key is absent). */
static int get_float(req *r, const char *key, double lo, double hi, float *out)
{
    double x;
    int rc = get_number(r, key, lo, hi, &x);
    if (rc > 0)
        *out = (float)x;
    return rc;
}

static int get_int32(req *r, const char *key, int lo, int hi, int *out)
{
    long long x;
    int rc = get_int(r, key, lo, hi, &x);
    if (rc > 0)
        *out = (int)x;
    return rc;
}

static int get_bool(req *r, json_t *obj, const char *key, int *out)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return bad(r, key, "'%s' must be %s", "true or false");
    *out = json_is_true(v);
    return 1;
}

/* Fields whose meaning lmcc does not implement: refused when they ask for
 * something (a null, false, zero or empty value asks for nothing). */
static int refuse_unsupported(req *r)
{
    static const char *const keys[] = {"tools", "tool_choice", "functions", "function_call",
                                       "logprobs", "top_logprobs", "logit_bias", "echo",
                                       "best_of", "suffix", "presence_penalty",
                                       "frequency_penalty", "response_format", "audio",
                                       "modalities", "prediction"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        json_t *v = json_object_get(r->root, keys[i]);
        int asks = v && !json_is_null(v) && !json_is_false(v) &&
                   !(json_is_number(v) && json_number_value(v) == 0) &&
                   !(json_is_array(v) && json_array_size(v) == 0) &&
                   !(json_is_object(v) && json_object_size(v) == 0);
        if (asks && strcmp(keys[i], "response_format") == 0 && json_is_object(v)) {
            json_t *t = json_object_get(v, "type");
            asks = !(json_is_string(t) && strcmp(json_string_value(t), "text") == 0);
        }
        if (asks)
            return bad(r, keys[i], "'%s' is not supported by %s", "this server");
    }
    return 0;
}

static int read_stops(req *r, serve_job *job)
{
    json_t *v = json_object_get(r->root, "stop");
    if (!v || json_is_null(v))
        return 0;
    json_t *one[1] = {v};
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_string(v))
        return bad(r, "stop", "'%s' must be %s", "a string or an array of strings");
    if (n > SERVE_MAX_STOPS)
        return bad(r, "stop", "'%s' takes at most %s strings", "4");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_array(v) ? json_array_get(v, i) : one[0];
        if (!json_is_string(s) || json_string_length(s) == 0 || json_string_length(s) > 256)
            return bad(r, "stop", "'%s' must hold %s", "non-empty strings of at most 256 bytes");
        if (!(job->stops[job->n_stops] = strdup(json_string_value(s))))
            return lm_fail(r->e, "out of memory");
        if (json_string_length(s) > job->stop_longest)
            job->stop_longest = json_string_length(s);
        job->n_stops++;
    }
    return 0;
}

/* "content" as a string, or as an array of {"type": "text", "text": ...}
 * parts (joined); into *out, which the caller frees. */
static int message_text(req *r, json_t *content, char **out)
{
    if (json_is_string(content)) {
        *out = strdup(json_string_value(content));
    } else if (json_is_null(content) || !content) {
        *out = strdup("");
    } else if (json_is_array(content)) {
        lm_bytes b = {0};
        size_t i;
        json_t *part;
        json_array_foreach(content, i, part) {
            json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
            if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
                !json_is_string(text)) {
                lm_bytes_free(&b);
                return bad(r, "messages", "'%s': %s", "content parts must be {\"type\": \"text\", \"text\": ...}");
            }
            if (lm_bytes_append(&b, json_string_value(text), json_string_length(text), r->e) != 0) {
                lm_bytes_free(&b);
                return -1;
            }
        }
        if (lm_bytes_append(&b, "", 0, r->e) != 0)
            return -1;
        *out = b.v;
        return 0;
    } else {
        return bad(r, "messages", "'%s': %s", "content must be a string or an array of text parts");
    }
    return *out ? 0 : lm_fail(r->e, "out of memory");
}

static int encode_chat(serve *sv, req *r, serve_job *job, int thinking)
{
    json_t *msgs = json_object_get(r->root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return bad(r, "messages", "'%s' must be %s", "a non-empty array of messages");
    if (!sv->chat_format_known)
        return bad(r, "messages", "'%s': %s", "the model has no chat format; start the server with --chat-format");
    size_t n = json_array_size(msgs);
    lm_chat_msg *m = calloc(n, sizeof *m);
    char **texts = calloc(n, sizeof *texts);
    int rc = (m && texts) ? 0 : lm_fail(r->e, "out of memory");
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        json_t *role = json_object_get(msg, "role");
        if (!json_is_object(msg) || !json_is_string(role)) {
            rc = bad(r, "messages", "'%s': %s", "each message must be an object with a string 'role'");
            break;
        }
        if ((rc = message_text(r, json_object_get(msg, "content"), &texts[i])) != 0)
            break;
        m[i].role = json_string_value(role);
        m[i].content = texts[i];
        json_t *reasoning = json_object_get(msg, "reasoning_content");
        m[i].reasoning = json_is_string(reasoning) ? json_string_value(reasoning) : NULL;
    }
    if (rc == 0) {
        lm_chat_opts co = {.add_generation_prompt = 1, .enable_thinking = thinking};
        pthread_mutex_lock(&sv->tok_mu);
        rc = lm_chat_encode(sv->tok, sv->chat_format, m, n, co, &job->prompt, r->e);
        pthread_mutex_unlock(&sv->tok_mu);
        if (rc != 0) {
            *r->status = 400;
            *r->param = "messages";
        }
    }
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    free(m);
    return rc;
}

static int encode_prompt(serve *sv, req *r, serve_job *job)
{
    json_t *p = json_object_get(r->root, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1 && json_is_string(json_array_get(p, 0)))
        p = json_array_get(p, 0);
    if (json_is_string(p)) {
        pthread_mutex_lock(&sv->tok_mu);
        int rc = lm_tokenizer_encode_prompt(sv->tok, json_string_value(p), json_string_length(p), 1,
                                            &job->prompt, r->e);
        pthread_mutex_unlock(&sv->tok_mu);
        return rc;
    }
    if (!json_is_array(p) || json_array_size(p) == 0)
        return bad(r, "prompt", "'%s' must be %s", "a string or a non-empty array of token ids");
    size_t i;
    json_t *id;
    json_array_foreach(p, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 0 ||
            json_integer_value(id) >= sv->d->vocab_size)
            return bad(r, "prompt", "'%s': %s", "token ids must be integers in the vocabulary");
        if (lm_ids_push(&job->prompt, (int32_t)json_integer_value(id), r->e) != 0)
            return -1;
    }
    return 0;
}

static int read_request(serve *sv, req *r, serve_job *job, int chat)
{
    json_t *model = json_object_get(r->root, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model))
            return bad(r, "model", "'%s' must be %s", "a string");
        const char *name = json_string_value(model);
        if (strcmp(name, sv->d->name) != 0 && !(sv->o->model_ref && strcmp(name, sv->o->model_ref) == 0)) {
            *r->status = 404;
            *r->param = "model";
            return lm_fail(r->e, "the model '%.200s' does not exist; this server has '%s'", name,
                           sv->d->name);
        }
    }
    if (refuse_unsupported(r) != 0)
        return -1;
    job->sp = sv->defaults;
    job->max_tokens = -1;
    job->n = 1;
    const char *max_key = json_object_get(r->root, "max_completion_tokens") ? "max_completion_tokens"
                                                                            : "max_tokens";
    if (get_float(r, "temperature", 0, 2, &job->sp.temperature) < 0 ||
        get_float(r, "top_p", 0, 1, &job->sp.top_p) < 0 ||
        get_float(r, "min_p", 0, 1, &job->sp.min_p) < 0 ||
        get_float(r, "repetition_penalty", 1e-6, 100, &job->sp.repetition_penalty) < 0 ||
        get_int32(r, "top_k", -1, 1 << 30, &job->sp.top_k) < 0 ||
        get_int32(r, max_key, 1, sv->d->context, &job->max_tokens) < 0 ||
        get_int32(r, "n", 1, SERVE_MAX_N, &job->n) < 0)
        return -1;
    if (job->sp.top_k < 0)
        job->sp.top_k = 0; /* -1: off, as vLLM takes it */
    long long seed;
    int rc = get_int(r, "seed", INT64_MIN, INT64_MAX, &seed);
    if (rc < 0)
        return -1;
    job->sp.seed = rc ? (uint64_t)seed
                      : (uint64_t)(lm_now_seconds() * 1e9) ^ (uint64_t)(uintptr_t)job;
    if (get_bool(r, r->root, "stream", &job->stream) < 0 ||
        get_bool(r, r->root, "ignore_eos", &job->ignore_eos) < 0)
        return -1;
    json_t *so = json_object_get(r->root, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(r, "stream_options", "'%s' must be %s", "an object");
        if (!job->stream)
            return bad(r, "stream_options", "'%s' %s", "is only allowed when 'stream' is true");
        if (get_bool(r, so, "include_usage", &job->include_usage) < 0)
            return -1;
    }
    if (read_stops(r, job) != 0)
        return -1;
    if (chat) {
        int thinking = 1;
        json_t *kw = json_object_get(r->root, "chat_template_kwargs");
        if (kw && !json_is_null(kw)) {
            if (!json_is_object(kw))
                return bad(r, "chat_template_kwargs", "'%s' must be %s", "an object");
            if (get_bool(r, kw, "enable_thinking", &thinking) < 0)
                return -1;
        }
        if (encode_chat(sv, r, job, thinking) != 0)
            return -1;
        job->split_reasoning = sv->chat_format == LM_CHAT_QWEN3 && thinking;
    } else if (encode_prompt(sv, r, job) != 0) {
        return -1;
    }
    if (job->prompt.n == 0)
        return bad(r, chat ? "messages" : "prompt", "'%s' %s", "encodes to no tokens");
    if (job->prompt.n >= (size_t)sv->d->context) {
        *r->status = 400;
        *r->param = chat ? "messages" : "prompt";
        return lm_fail(r->e, "the prompt has %zu tokens; the model's context holds %d, and at "
                             "least one must be left to generate",
                       job->prompt.n, sv->d->context);
    }
    return 0;
}

serve_job *serve_parse_completion(serve *sv, int chat, const char *body, size_t n, int *status,
                                  const char **param, lm_err *e)
{
    *status = 400;
    *param = NULL;
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        lm_fail(e, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        lm_fail(e, "the body must be a JSON object");
        return NULL;
    }
    serve_job *job = calloc(1, sizeof *job);
    if (!job) {
        json_decref(root);
        *status = 500;
        lm_fail(e, "out of memory");
        return NULL;
    }
    job->chat = chat;
    job->refs = 1;
    job->status = 200;
    job->fd = -1;
    req r = {.root = root, .status = status, .param = param, .e = e};
    int rc = read_request(sv, &r, job, chat);
    json_decref(root);
    if (rc != 0) {
        serve_job_release(sv, job);
        return NULL;
    }
    return job;
}

/* ---- writing ------------------------------------------------------------ */

/* Generated text as a JSON string. A model may generate bytes that are not
 * UTF-8 (a byte token that never completes a character); JSON cannot carry
 * them, so they become U+FFFD, as the tokenizers' lossy decode does. NULL
 * only when memory runs out. */
static json_t *text_json(const char *s, size_t n)
{
    char *fixed;
    size_t fixed_n;
    lm_err e;
    int rc = lm_utf8_lossy(s ? s : "", n, &fixed, &fixed_n, &e);
    if (rc < 0)
        return NULL;
    if (rc == 0)
        return json_stringn(s ? s : "", n);
    json_t *v = json_stringn(fixed, fixed_n);
    free(fixed);
    return v;
}

int serve_prompt_tokens(const serve_job *job)
{
    return (int)job->prompt.n;
}

int serve_completion_tokens(const serve_job *job)
{
    int total = 0;
    for (int i = 0; i < job->n; i++)
        total += job->choices[i].n_tokens;
    return total;
}

static json_t *usage_json(const serve_job *job)
{
    int p = serve_prompt_tokens(job), c = serve_completion_tokens(job);
    return json_pack("{s:i, s:i, s:i}", "prompt_tokens", p, "completion_tokens", c, "total_tokens",
                     p + c);
}

static json_t *envelope(const serve *sv, const serve_job *job, int chunk)
{
    const char *object = job->chat ? (chunk ? "chat.completion.chunk" : "chat.completion")
                                   : "text_completion";
    return json_pack("{s:s, s:s, s:I, s:s}", "id", job->id, "object", object, "created",
                     (json_int_t)job->created, "model", sv->d->name);
}

static int append_json(json_t *v, int event, lm_bytes *out, lm_err *e)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    if (!s)
        return lm_fail(e, "out of memory writing JSON");
    int rc = (event ? lm_bytes_append(out, "data: ", 6, e) : 0) ||
             lm_bytes_append(out, s, strlen(s), e) ||
             (event ? lm_bytes_append(out, "\n\n", 2, e) : 0);
    free(s);
    return rc ? -1 : 0;
}

int serve_answer_json(const serve *sv, const serve_job *job, lm_bytes *out, lm_err *e)
{
    json_t *root = envelope(sv, job, 0);
    json_t *choices = json_array();
    for (int i = 0; i < job->n; i++) {
        const serve_choice *ch = &job->choices[i];
        const char *t = ch->text.v ? ch->text.v : "";
        size_t r0 = 0, r1 = 0, c0 = 0, c1 = ch->text.n;
        if (job->split_reasoning)
            lm_reasoning_split(t, ch->text.n, 1, &r0, &r1, &c0, &c1);
        json_t *c;
        if (job->chat) {
            json_t *msg = json_pack("{s:s, s:o*}", "role", "assistant", "content",
                                    text_json(t + c0, c1 - c0));
            if (msg && job->split_reasoning && r1 > r0)
                json_object_set_new(msg, "reasoning_content", text_json(t + r0, r1 - r0));
            c = json_pack("{s:i, s:o, s:o, s:s}", "index", i, "message", msg, "logprobs",
                          json_null(), "finish_reason", ch->finish ? ch->finish : "length");
        } else {
            c = json_pack("{s:i, s:o*, s:o, s:s}", "index", i, "text", text_json(t, ch->text.n),
                          "logprobs", json_null(), "finish_reason", ch->finish ? ch->finish : "length");
        }
        if (!c || json_array_append_new(choices, c) != 0) {
            json_decref(choices);
            json_decref(root);
            return lm_fail(e, "out of memory writing the answer");
        }
    }
    json_object_set_new(root, "choices", choices);
    json_object_set_new(root, "usage", usage_json(job));
    return append_json(root, 0, out, e);
}

static json_t *chunk_json(const serve *sv, const serve_job *job, json_t *choice)
{
    json_t *root = choice ? envelope(sv, job, 1) : NULL;
    if (!root) {
        json_decref(choice);
        return NULL; /* append_json reports it */
    }
    json_object_set_new(root, "choices", json_pack("[o]", choice));
    if (job->include_usage)
        json_object_set_new(root, "usage", json_null());
    return root;
}

int serve_event_delta(const serve *sv, const serve_job *job, int index, const char *reasoning,
                      size_t rn, const char *content, size_t cn, int first, lm_bytes *out,
                      lm_err *e)
{
    json_t *choice;
    if (job->chat) {
        json_t *delta = json_object();
        if (first)
            json_object_set_new(delta, "role", json_string("assistant"));
        if (reasoning)
            json_object_set_new(delta, "reasoning_content", text_json(reasoning, rn));
        if (content)
            json_object_set_new(delta, "content", text_json(content, cn));
        choice = json_pack("{s:i, s:o, s:o, s:o}", "index", index, "delta", delta, "logprobs",
                           json_null(), "finish_reason", json_null());
    } else {
        choice = json_pack("{s:i, s:o*, s:o, s:o}", "index", index, "text",
                           text_json(content, content ? cn : 0), "logprobs", json_null(),
                           "finish_reason", json_null());
    }
    return append_json(chunk_json(sv, job, choice), 1, out, e);
}

int serve_event_finish(const serve *sv, const serve_job *job, int index, lm_bytes *out, lm_err *e)
{
    const char *finish = job->choices[index].finish ? job->choices[index].finish : "length";
    json_t *choice = job->chat
                         ? json_pack("{s:i, s:{}, s:o, s:s}", "index", index, "delta", "logprobs",
                                     json_null(), "finish_reason", finish)
                         : json_pack("{s:i, s:s, s:o, s:s}", "index", index, "text", "", "logprobs",
                                     json_null(), "finish_reason", finish);
    return append_json(chunk_json(sv, job, choice), 1, out, e);
}

int serve_event_usage(const serve *sv, const serve_job *job, lm_bytes *out, lm_err *e)
{
    json_t *root = envelope(sv, job, 1);
    json_object_set_new(root, "choices", json_array());
    json_object_set_new(root, "usage", usage_json(job));
    return append_json(root, 1, out, e);
}

/* ---- the small endpoints ------------------------------------------------ */

static json_t *load_object(const char *body, size_t n, int *status, lm_err *e)
{
    json_error_t je;
    json_t *root = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    *status = 400;
    if (!root)
        lm_fail(e, "the body is not valid JSON: %s (line %d, column %d)", je.text, je.line,
                je.column);
    else if (!json_is_object(root)) {
        json_decref(root);
        root = NULL;
        lm_fail(e, "the body must be a JSON object");
    }
    return root;
}

int serve_tokenize(serve *sv, const char *body, size_t n, lm_bytes *out, int *status, lm_err *e)
{
    json_t *root = load_object(body, n, status, e);
    if (!root)
        return -1;
    json_t *content = json_object_get(root, "content");
    json_t *special = json_object_get(root, "add_special");
    if (!json_is_string(content) || (special && !json_is_boolean(special))) {
        json_decref(root);
        return lm_fail(e, "/tokenize takes {\"content\": string, \"add_special\": bool}");
    }
    lm_ids ids = {0};
    pthread_mutex_lock(&sv->tok_mu);
    int rc = json_is_true(special)
                 ? lm_tokenizer_encode_prompt(sv->tok, json_string_value(content),
                                              json_string_length(content), 1, &ids, e)
                 : lm_tokenizer_encode(sv->tok, json_string_value(content),
                                       json_string_length(content), 1, &ids, e);
    pthread_mutex_unlock(&sv->tok_mu);
    json_decref(root);
    if (rc != 0) {
        lm_ids_free(&ids);
        return -1;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < ids.n; i++)
        json_array_append_new(arr, json_integer(ids.v[i]));
    lm_ids_free(&ids);
    return append_json(json_pack("{s:o}", "tokens", arr), 0, out, e);
}

int serve_detokenize(serve *sv, const char *body, size_t n, lm_bytes *out, int *status, lm_err *e)
{
    json_t *root = load_object(body, n, status, e);
    if (!root)
        return -1;
    json_t *tokens = json_object_get(root, "tokens");
    lm_ids ids = {0};
    int rc = json_is_array(tokens) ? 0 : lm_fail(e, "/detokenize takes {\"tokens\": [ids]}");
    size_t i;
    json_t *id;
    if (rc == 0)
        json_array_foreach(tokens, i, id) {
            if (!json_is_integer(id) || json_integer_value(id) < 0 ||
                json_integer_value(id) >= sv->d->vocab_size) {
                rc = lm_fail(e, "/detokenize: token %zu is not an id of the vocabulary", i);
                break;
            }
            if ((rc = lm_ids_push(&ids, (int32_t)json_integer_value(id), e)) != 0)
                break;
        }
    json_decref(root);
    lm_bytes text = {0};
    if (rc == 0)
        rc = lm_tokenizer_decode(sv->tok, ids.v, ids.n, &text, e);
    lm_ids_free(&ids);
    if (rc == 0)
        rc = append_json(json_pack("{s:o*}", "content", text_json(text.v, text.n)), 0, out, e);
    lm_bytes_free(&text);
    return rc;
}

char *serve_models_json(const serve *sv)
{
    json_t *v = json_pack("{s:s, s:[{s:s, s:s, s:I, s:s}]}", "object", "list", "data", "id",
                          sv->d->name, "object", "model", "created", (json_int_t)0, "owned_by",
                          "lmcc");
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    return s;
}

int serve_metrics_text(serve *sv, lm_bytes *out, lm_err *e)
{
    char buf[4096];
    pthread_mutex_lock(&sv->mu);
    serve_metrics m = sv->m;
    int queued = sv->queued, running = sv->running, slots = sv->n_slots, busy = sv->busy_slots;
    pthread_mutex_unlock(&sv->mu);
    int n = snprintf(
        buf, sizeof buf,
        "# HELP lmcc_requests_total Completion requests answered.\n"
        "# TYPE lmcc_requests_total counter\nlmcc_requests_total %llu\n"
        "# HELP lmcc_requests_failed_total Completion requests that failed in the engine.\n"
        "# TYPE lmcc_requests_failed_total counter\nlmcc_requests_failed_total %llu\n"
        "# HELP lmcc_prompt_tokens_total Prompt tokens of answered requests.\n"
        "# TYPE lmcc_prompt_tokens_total counter\nlmcc_prompt_tokens_total %llu\n"
        "# HELP lmcc_completion_tokens_total Tokens generated.\n"
        "# TYPE lmcc_completion_tokens_total counter\nlmcc_completion_tokens_total %llu\n"
        "# HELP lmcc_queue_depth Requests waiting for the engine.\n"
        "# TYPE lmcc_queue_depth gauge\nlmcc_queue_depth %d\n"
        "# HELP lmcc_requests_running Requests the engine is running.\n"
        "# TYPE lmcc_requests_running gauge\nlmcc_requests_running %d\n"
        "# HELP lmcc_slots Sequences the engine can run at once (--parallel).\n"
        "# TYPE lmcc_slots gauge\nlmcc_slots %d\n"
        "# HELP lmcc_slots_busy Slots running a request's choice.\n"
        "# TYPE lmcc_slots_busy gauge\nlmcc_slots_busy %d\n"
        "# HELP lmcc_time_to_first_token_seconds Time from arrival to the first token.\n"
        "# TYPE lmcc_time_to_first_token_seconds summary\n"
        "lmcc_time_to_first_token_seconds_sum %.6f\nlmcc_time_to_first_token_seconds_count %llu\n"
        "# HELP lmcc_forward_calls_total Forward calls (engine steps).\n"
        "# TYPE lmcc_forward_calls_total counter\nlmcc_forward_calls_total %llu\n"
        "# HELP lmcc_forward_sequences_total Sequences the forward calls ran, summed.\n"
        "# TYPE lmcc_forward_sequences_total counter\nlmcc_forward_sequences_total %llu\n"
        "# HELP lmcc_tokens_per_second Tokens generated per second of forward calls.\n"
        "# TYPE lmcc_tokens_per_second gauge\nlmcc_tokens_per_second %.3f\n",
        (unsigned long long)m.requests, (unsigned long long)m.requests_failed,
        (unsigned long long)m.prompt_tokens, (unsigned long long)m.completion_tokens, queued,
        running, slots, busy, m.ttft_sum_s, (unsigned long long)m.ttft_count,
        (unsigned long long)m.steps, (unsigned long long)m.step_sequences,
        m.busy_s > 0 ? (double)m.completion_tokens / m.busy_s : 0.0);
    if (n < 0 || (size_t)n >= sizeof buf)
        return lm_fail(e, "metrics: the text does not fit its buffer");
    return lm_bytes_append(out, buf, (size_t)n, e);
}
