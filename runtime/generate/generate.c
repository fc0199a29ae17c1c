/* The generation loop with KV-cache prefix reuse, the checkpoint's
 * generation defaults, and generated ids -> text (see generate.h). */
#include "generate.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- checkpoint defaults ---------------------------------------------- */

/* Loads DIR/NAME; *root NULL (and 0 returned) when the file does not exist. */
static int load_json(const char *dir, const char *name, json_t **root, lm_err *e)
{
    *root = NULL;
    size_t size = strlen(dir) + strlen(name) + 2;
    char *path = malloc(size);
    if (!path)
        return lm_fail(e, "%s: out of memory", name);
    snprintf(path, size, "%s/%s", dir, name);
    struct stat st;
    if (stat(path, &st) != 0) {
        free(path);
        return 0;
    }
    json_error_t jerr;
    *root = json_load_file(path, 0, &jerr);
    if (!*root || !json_is_object(*root)) {
        lm_fail(e, "%s: %s; fix or remove the file", path,
                *root ? "not a JSON object" : jerr.text);
        json_decref(*root);
        *root = NULL;
        free(path);
        return -1;
    }
    free(path);
    return 0;
}

/* Reads root[key] as a number into *out when present and not null. */
static int get_number(json_t *root, const char *key, double *out, int *present, lm_err *e)
{
    json_t *v = json_object_get(root, key);
    *present = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return lm_fail(e, "generation_config.json: \"%s\" is not a number; fix the file", key);
    *out = json_number_value(v);
    *present = 1;
    return 0;
}

int lm_gen_config_load(const char *dir, lm_sampler_params *p, int *found, lm_err *e)
{
    *p = lm_sampler_params_default();
    *found = 0;
    json_t *root;
    if (load_json(dir, "generation_config.json", &root, e) != 0)
        return -1;
    if (!root)
        return 0;
    *found = 1;
    int rc = -1;
    json_t *do_sample = json_object_get(root, "do_sample");
    if (do_sample && !json_is_null(do_sample) && !json_is_boolean(do_sample)) {
        lm_fail(e, "generation_config.json: \"do_sample\" is not true or false; fix the file");
        goto done;
    }
    double v;
    int present;
    if (get_number(root, "repetition_penalty", &v, &present, e) != 0)
        goto done;
    if (present)
        p->repetition_penalty = (float)v;
    if (do_sample && json_is_true(do_sample)) {
        /* Hugging Face's GenerationConfig fallbacks for what is absent. */
        p->temperature = 1.0f;
        p->top_k = 50;
        p->top_p = 1.0f;
        if (get_number(root, "temperature", &v, &present, e) != 0)
            goto done;
        if (present)
            p->temperature = (float)v;
        if (get_number(root, "top_k", &v, &present, e) != 0)
            goto done;
        if (present) {
            if (v != floor(v) || v < 0 || v > INT32_MAX) {
                lm_fail(e, "generation_config.json: \"top_k\" %g is not a non-negative integer; "
                           "fix the file", v);
                goto done;
            }
            p->top_k = (int)v;
        }
        if (get_number(root, "top_p", &v, &present, e) != 0)
            goto done;
        if (present)
            p->top_p = (float)v;
        if (get_number(root, "min_p", &v, &present, e) != 0)
            goto done;
        if (present)
            p->min_p = (float)v;
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

static int contains(const lm_ids *ids, int32_t id)
{
    for (size_t i = 0; i < ids->n; i++)
        if (ids->v[i] == id)
            return 1;
    return 0;
}

static int push_unique(lm_ids *ids, int32_t id, lm_err *e)
{
    return contains(ids, id) ? 0 : lm_ids_push(ids, id, e);
}

/* Appends root["eos_token_id"]; *had says whether it was there. */
static int read_eos(json_t *root, const char *file, lm_ids *stop, int *had, lm_err *e)
{
    *had = 0;
    json_t *v = root ? json_object_get(root, "eos_token_id") : NULL;
    if (!v || json_is_null(v))
        return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(item) || json_integer_value(item) < 0 ||
            json_integer_value(item) > INT32_MAX)
            return lm_fail(e, "%s: \"eos_token_id\" must be a token id or a list of them; fix the "
                              "file", file);
        if (push_unique(stop, (int32_t)json_integer_value(item), e) != 0)
            return -1;
    }
    *had = 1;
    return 0;
}

int lm_gen_eos_ids(const char *dir, lm_ids *stop, lm_err *e)
{
    const char *files[2] = {"generation_config.json", "config.json"};
    for (int i = 0; i < 2; i++) {
        json_t *root;
        if (load_json(dir, files[i], &root, e) != 0)
            return -1;
        int had = 0;
        int rc = read_eos(root, files[i], stop, &had, e);
        json_decref(root);
        if (rc != 0)
            return -1;
        if (had)
            return 0;
    }
    return 0;
}

int lm_gen_tokenizer_stops(const lm_tokenizer *t, lm_ids *stop, lm_err *e)
{
    /* Qwen's turn and text ends, Gemma's turn end: a chat stops there even
     * when the checkpoint's generation_config.json does not list them. */
    const char *names[3] = {"<|im_end|>", "<|endoftext|>", "<end_of_turn>"};
    for (int i = 0; i < 3; i++) {
        int32_t id = lm_tokenizer_token_id(t, names[i]);
        if (id >= 0 && push_unique(stop, id, e) != 0)
            return -1;
    }
    return 0;
}

int lm_gen_text_stops(const char *dir, const lm_tokenizer *t, lm_ids *stop, lm_err *e)
{
    return lm_gen_eos_ids(dir, stop, e) == 0 && lm_gen_tokenizer_stops(t, stop, e) == 0 ? 0 : -1;
}

/* ---- the loop --------------------------------------------------------- */

struct lm_gen {
    lm_session *s;
    int vocab;
    int context;
    lm_ids cache;          /* ids in the KV cache, cache.n == session position */
    float *prompt_logits;  /* logits at position prompt_n - 1, after the last prefill */
    int prompt_n;          /* 0: none kept */
};

lm_gen *lm_gen_new(lm_session *s, lm_err *e)
{
    const lm_model_desc *d = lm_session_model(s);
    lm_gen *g = calloc(1, sizeof *g);
    if (!g) {
        lm_fail(e, "generate: out of memory");
        return NULL;
    }
    g->s = s;
    g->vocab = d->vocab_size;
    g->context = d->context;
    g->prompt_logits = malloc((size_t)d->vocab_size * sizeof(float));
    if (!g->prompt_logits) {
        lm_fail(e, "generate: out of memory for %d logits", d->vocab_size);
        free(g);
        return NULL;
    }
    /* The session may already hold tokens we did not see: start afresh. */
    lm_session_rewind(s, 0);
    return g;
}

void lm_gen_free(lm_gen *g)
{
    if (!g)
        return;
    lm_ids_free(&g->cache);
    free(g->prompt_logits);
    free(g);
}

const int32_t *lm_gen_cached(const lm_gen *g, int *n)
{
    *n = (int)g->cache.n;
    return g->cache.v;
}

static int append_cache(lm_gen *g, const int32_t *ids, int n, lm_err *e)
{
    for (int i = 0; i < n; i++)
        if (lm_ids_push(&g->cache, ids[i], e) != 0)
            return -1;
    return 0;
}

int lm_gen_prefill(lm_gen *g, const int32_t *ids, int n, float *all_logits, lm_err *e)
{
    if (n <= 0)
        return lm_fail(e, "prompt: the prompt has no tokens; give some text");
    if (n > g->context)
        return lm_fail(e, "prompt: %d tokens exceed the model's context of %d tokens; shorten "
                          "the input or build the model with a larger --ctx",
                       n, g->context);
    const lm_model_desc *d = lm_session_model(g->s);
    if (lm_check_tokens(d, ids, n, 0, e) != 0)
        return -1;
    int common = all_logits ? 0 : (int)lm_ids_common_prefix(g->cache.v, g->cache.n, ids, (size_t)n);
    if (common == n) {
        /* All of it is cached: its logits are kept when it was the last
         * prompt, else the last id is fed again to get them. */
        if (g->prompt_n == n && lm_session_rewind(g->s, n) == n) {
            g->cache.n = (size_t)n;
            return 0;
        }
        common = n - 1;
    }
    /* Sliding-window rings may keep less of the cache than asked. */
    common = lm_session_rewind(g->s, common);
    g->cache.n = (size_t)common;
    g->prompt_n = 0;
    if (lm_session_feed(g->s, ids + common, n - common,
                        all_logits ? all_logits + (size_t)common * (size_t)g->vocab : NULL, e) != 0)
        return -1;
    if (append_cache(g, ids + common, n - common, e) != 0) {
        lm_session_rewind(g->s, common);
        g->cache.n = (size_t)common;
        return -1;
    }
    memcpy(g->prompt_logits, lm_session_logits(g->s), (size_t)g->vocab * sizeof(float));
    g->prompt_n = n;
    return n - common;
}

int lm_gen_run(lm_gen *g, lm_sampler *sampler, const lm_gen_opts *o, lm_gen_result *r, lm_err *e)
{
    memset(r, 0, sizeof *r);
    r->end = LM_GEN_LENGTH;
    r->stop_id = -1;
    if (g->prompt_n == 0 || g->cache.n != (size_t)g->prompt_n)
        return lm_fail(e, "generate: no prompt prefilled; call lm_gen_prefill first");
    const float *logits = g->prompt_logits;
    int rc = 0;
    while (o->max_new < 0 || r->n_new < o->max_new) {
        int32_t id = sampler ? lm_sampler_next(sampler, logits, g->cache.v, (int)g->cache.n, e)
                             : lm_argmax(logits, g->vocab);
        if (id < 0) {
            rc = -1;
            break;
        }
        if (r->n_new == 0 && r->first_token_at == 0)
            r->first_token_at = lm_now_seconds();
        if (lm_ids_contains(o->stop, (size_t)o->n_stop, id)) {
            r->end = LM_GEN_STOP;
            r->stop_id = id;
            break;
        }
        r->n_new++;
        if (o->on_token && o->on_token(o->user, id, e) != 0) {
            rc = -1;
            break;
        }
        if (o->max_new >= 0 && r->n_new >= o->max_new)
            break;
        if (lm_session_position(g->s) >= g->context) {
            r->end = LM_GEN_CONTEXT_FULL;
            break;
        }
        if (lm_session_feed(g->s, &id, 1, NULL, e) != 0 || append_cache(g, &id, 1, e) != 0) {
            rc = -1;
            break;
        }
        r->fed++;
        logits = lm_session_logits(g->s);
    }
    r->end_at = lm_now_seconds();
    /* The cache may hold one id more than the session after an allocation
     * failure; keep them in step. */
    if (g->cache.n > (size_t)lm_session_position(g->s))
        g->cache.n = (size_t)lm_session_position(g->s);
    return rc;
}

/* ---- text output ------------------------------------------------------ */

void lm_text_out_init(lm_text_out *t, const lm_tokenizer *tok, FILE *f, int stream)
{
    memset(t, 0, sizeof *t);
    t->f = f;
    t->stream = stream;
    lm_detok_init(&t->detok, tok);
}

void lm_text_out_begin(lm_text_out *t)
{
    lm_detok_init(&t->detok, t->detok.tok);
    t->text.n = 0;
    if (t->text.v)
        t->text.v[0] = 0;
}

static int write_out(lm_text_out *t, const char *p, size_t n, lm_err *e)
{
    if (n && fwrite(p, 1, n, t->f) != n)
        return lm_fail(e, "output: write failed: %s", strerror(errno));
    if (fflush(t->f) != 0)
        return lm_fail(e, "output: write failed: %s", strerror(errno));
    return 0;
}

int lm_text_out_token(void *user, int32_t id, lm_err *e)
{
    lm_text_out *t = user;
    size_t before = t->text.n;
    if (lm_detok_feed(&t->detok, id, &t->text, e) != 0)
        return -1;
    if (t->stream)
        return write_out(t, t->text.v + before, t->text.n - before, e);
    return 0;
}

int lm_text_out_finish(lm_text_out *t, lm_err *e)
{
    size_t before = t->text.n;
    /* The empty append makes text.v exist and NUL-terminated. */
    if (lm_detok_flush(&t->detok, &t->text, e) != 0 || lm_bytes_append(&t->text, "", 0, e) != 0)
        return -1;
    if (t->stream)
        return write_out(t, t->text.v + before, t->text.n - before, e);
    return write_out(t, t->text.v, t->text.n, e);
}

void lm_text_out_free(lm_text_out *t)
{
    lm_bytes_free(&t->text);
}
