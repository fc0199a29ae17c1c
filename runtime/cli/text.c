/* The text modes: -p / -f completion (one or more samples of a prompt),
 * --chat (a multi-turn REPL in the model's chat format) and --interactive
 * (a completion REPL), all streaming through lm_text_out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../text/chat_template.h"
#include "../text/tokenizer.h"
#include "internal.h"

typedef struct text_run {
    const lm_model_desc *d;
    const cli_options *o;
    const char *prog;
    lm_tokenizer *tok;
    lm_sampler *sampler; /* NULL: argmax */
    lm_ids stop;
    lm_session *s;
    lm_gen *g;
    lm_text_out out;
    lm_bytes first; /* the text of -p or -f, when given */
    int has_first;
} text_run;

int cli_read_file(const char *what, const char *path, lm_bytes *out, lm_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_fail(e, "%s: cannot open %s: %s", what, path, strerror(errno));
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if ((rc = lm_bytes_append(out, buf, n, e)) != 0)
            break;
    if (rc == 0 && ferror(f))
        rc = lm_fail(e, "%s: cannot read %s: %s", what, path, strerror(errno));
    fclose(f);
    /* Make text exist and be NUL-terminated even for an empty file. */
    return rc == 0 ? lm_bytes_append(out, "", 0, e) : -1;
}

/* The tokenizer, sampling settings, stop ids and the first text: all that
 * can fail before the checkpoint is opened. */
static int text_prepare(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    if (o->prompt_file) {
        if (cli_read_file("-f", o->prompt_file, &tr->first, e) != 0)
            return -1;
        tr->has_first = 1;
    } else if (o->prompt_text) {
        if (lm_bytes_append(&tr->first, o->prompt_text, strlen(o->prompt_text), e) != 0)
            return -1;
        tr->has_first = 1;
    }
    const char *tok_path = o->tokenizer_path ? o->tokenizer_path : o->model_dir;
    if (!(tr->tok = lm_tokenizer_load(tok_path, e)))
        return -1;
    /* The text modes default to the checkpoint's generation_config.json. */
    lm_sampler_params sp;
    int found;
    if (lm_gen_config_load(o->model_dir, &sp, &found, e) != 0)
        return -1;
    int failed;
    tr->sampler = cli_sampler_from_flags(o, &sp, tr->d->vocab_size, &failed, e);
    if (failed)
        return -1;
    if (lm_gen_text_stops(o->model_dir, tr->tok, &tr->stop, e) != 0)
        return -1;
    int stream = o->stream >= 0 ? o->stream : isatty(fileno(stdout));
    lm_text_out_init(&tr->out, tr->tok, o->bench ? stderr : stdout, o->bench ? 0 : stream);
    return 0;
}

static int text_open(text_run *tr, lm_err *e)
{
    if (!(tr->s = cli_session_open(tr->d, tr->o, e)))
        return -1;
    return (tr->g = lm_gen_new(tr->s, e)) ? 0 : -1;
}

static void text_close(text_run *tr)
{
    lm_text_out_free(&tr->out);
    lm_gen_free(tr->g);
    lm_session_close(tr->s);
    lm_sampler_free(tr->sampler);
    lm_ids_free(&tr->stop);
    lm_tokenizer_free(tr->tok);
    lm_bytes_free(&tr->first);
}

static void report_context_full(const text_run *tr, int needed)
{
    fflush(stdout);
    if (needed > 0)
        fprintf(stderr, "%s: context full: the conversation needs %d tokens, the model's context "
                        "holds %d; stopping. Build the model with a larger --ctx for longer "
                        "conversations.\n",
                tr->prog, needed, tr->d->context);
    else
        fprintf(stderr, "%s: context full: all %d tokens of the model's context are used; "
                        "stopping. Build the model with a larger --ctx for longer generations.\n",
                tr->prog, tr->d->context);
}

/* Encoded prompt that must fit: on the first turn a prompt longer than the
 * context is an error; later, the conversation has filled it. Returns 1 to
 * go on, 0 to stop cleanly, -1 on error. */
static int check_turn_fits(text_run *tr, const lm_ids *ids, int turn, lm_err *e)
{
    if (ids->n <= (size_t)tr->d->context)
        return 1;
    if (turn == 0)
        return lm_fail(e, "prompt: %zu tokens exceed the model's context of %d tokens; shorten "
                          "the input or build the model with a larger --ctx",
                       ids->n, tr->d->context);
    report_context_full(tr, (int)ids->n);
    return 0;
}

/* Generates after the prefilled prompt into tr->out (streamed or written
 * at the end), then ends the text with a newline. */
static int generate_text(text_run *tr, int max_new, lm_gen_result *r, lm_err *e)
{
    lm_text_out_begin(&tr->out);
    lm_gen_opts go = {.max_new = max_new, .stop = tr->stop.v, .n_stop = (int)tr->stop.n,
                      .on_token = lm_text_out_token, .user = &tr->out};
    if (lm_gen_run(tr->g, tr->sampler, &go, r, e) != 0 || lm_text_out_finish(&tr->out, e) != 0)
        return -1;
    if (fputc('\n', tr->out.f) == EOF || fflush(tr->out.f) != 0)
        return lm_fail(e, "output: write failed: %s", strerror(errno));
    if (r->end == LM_GEN_CONTEXT_FULL)
        report_context_full(tr, 0);
    return 0;
}

/* -p / -f: completion, optionally several samples of one prompt. */
static int run_completion(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    const lm_model_desc *d = tr->d;
    lm_ids ids = {0};
    int status = EXIT_RUNTIME;
    if (lm_tokenizer_encode_prompt(tr->tok, tr->first.v, tr->first.n, 1, &ids, e) != 0)
        goto done;
    int n = (int)ids.n;
    if (n == 0) {
        lm_fail(e, "prompt: the prompt is empty; give some text with -p or -f");
        goto done;
    }
    if (check_turn_fits(tr, &ids, 0, e) < 0)
        goto done;
    if (lm_check_tokens(d, ids.v, n, 0, e) != 0)
        goto done;
    if (o->dump_dir && cli_make_dirs(o->dump_dir, e) != 0)
        goto done;
    if (text_open(tr, e) != 0)
        goto done;
    prompt_run pr;
    if (cli_prompt_prefill(d, o, tr->s, tr->g, ids.v, n, &pr, e) != 0)
        goto done;

    int max_new = o->max_tokens >= 0 ? o->max_tokens : o->logits_path ? 0 : -1;
    for (int seq = 0; seq < o->num_sequences; seq++) {
        lm_gen_result r;
        /* Later samples reuse the prompt's cache and logits: nothing is fed. */
        if (seq > 0 && lm_gen_prefill(tr->g, ids.v, n, NULL, e) < 0)
            goto done;
        cli_sequence_separator(seq, o->num_sequences);
        if (generate_text(tr, max_new, &r, e) != 0)
            goto done;
        cli_prompt_sampled(&pr, seq, &r);
    }
    if (cli_prompt_report(d, o, tr->s, &pr, e) != 0)
        goto done;
    status = 0;
done:
    lm_ids_free(&ids);
    return status;
}

/* The next line of stdin without its line ending, or NULL at EOF. The
 * "> " marker, and the newline that ends it at EOF, are shown only to a
 * person at a terminal. */
static char *read_turn(char **buf, size_t *cap)
{
    int tty = isatty(fileno(stdin));
    if (tty) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    ssize_t len = getline(buf, cap, stdin);
    if (len < 0) {
        if (tty)
            fputs("\n", stdout);
        return NULL;
    }
    while (len > 0 && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
        (*buf)[--len] = '\0';
    return *buf;
}

typedef enum turn_result {
    TURN_ERROR = -1,
    TURN_NO_ROOM,   /* the prompt does not fit: stop cleanly */
    TURN_ANSWERED,
    TURN_LAST,      /* answered, and the answer filled the context */
} turn_result;

/* One REPL turn after its prompt is encoded: feeds what the cache lacks
 * and generates the answer into tr->out. */
static turn_result answer_turn(text_run *tr, const lm_ids *ids, int turn, int max_new, lm_err *e)
{
    int fits = check_turn_fits(tr, ids, turn, e);
    if (fits <= 0)
        return fits < 0 ? TURN_ERROR : TURN_NO_ROOM;
    lm_gen_result r;
    if (lm_gen_prefill(tr->g, ids->v, (int)ids->n, NULL, e) < 0 ||
        generate_text(tr, max_new, &r, e) != 0)
        return TURN_ERROR;
    return r.end == LM_GEN_CONTEXT_FULL ? TURN_LAST : TURN_ANSWERED;
}

typedef struct chat_log {
    lm_chat_msg *v;
    size_t n, cap;
} chat_log;

/* Appends a message that owns a copy of content. */
static int chat_push(chat_log *c, const char *role, const char *content, lm_err *e)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        lm_chat_msg *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return lm_fail(e, "chat: out of memory");
        c->v = v;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy)
        return lm_fail(e, "chat: out of memory");
    c->v[c->n++] = (lm_chat_msg){.role = role, .content = copy, .reasoning = NULL};
    return 0;
}

static void chat_free(chat_log *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((char *)c->v[i].content);
    free(c->v);
}

/* What tells the two REPLs apart: how a turn's input joins the prompt, and
 * how the answer does. */
typedef struct repl_ops {
    int skip_empty_lines; /* --chat: an empty line is no turn */
    /* Adds input[0..len) and encodes the whole prompt into ids (empty). */
    int (*add_input)(void *state, text_run *tr, const char *input, size_t len, lm_ids *ids,
                     lm_err *e);
    /* Adds the answer just generated, tr->out.text. */
    int (*add_answer)(void *state, text_run *tr, lm_err *e);
} repl_ops;

/* The REPL loop: the first input is -p/-f's text when given, then each line
 * of stdin; each turn's prompt is fed (only what the cache lacks) and
 * answered, until EOF or a full context. */
static int run_repl(text_run *tr, const repl_ops *ops, void *state, int max_new, lm_err *e)
{
    lm_ids ids = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int status = EXIT_RUNTIME;
    if (text_open(tr, e) != 0)
        goto done;
    int from_first = tr->has_first;
    for (int turn = 0;;) {
        const char *input;
        size_t len;
        if (from_first) {
            input = tr->first.v;
            len = tr->first.n;
            from_first = 0;
        } else {
            do {
                input = read_turn(&line, &line_cap);
            } while (input && ops->skip_empty_lines && !*input);
            if (!input)
                break;
            len = strlen(input);
        }
        ids.n = 0;
        if (ops->add_input(state, tr, input, len, &ids, e) != 0)
            goto done;
        if (ids.n == 0)
            continue; /* nothing to continue from yet */
        turn_result answered = answer_turn(tr, &ids, turn, max_new, e);
        if (answered == TURN_ERROR)
            goto done;
        if (answered == TURN_NO_ROOM)
            break;
        if (ops->add_answer(state, tr, e) != 0)
            goto done;
        turn++;
        if (answered == TURN_LAST)
            break;
    }
    status = 0;
done:
    free(line);
    lm_ids_free(&ids);
    return status;
}

/* --chat: the whole conversation is rendered every turn; the generator
 * feeds only what differs from the cache. */
typedef struct chat_state {
    chat_log log;
    lm_chat_format format;
    lm_chat_opts opts;
} chat_state;

static int chat_add_input(void *state, text_run *tr, const char *input, size_t len, lm_ids *ids,
                          lm_err *e)
{
    chat_state *c = state;
    (void)len; /* a turn is text: it ends at a NUL */
    if (chat_push(&c->log, "user", input, e) != 0)
        return -1;
    return lm_chat_encode(tr->tok, c->format, c->log.v, c->log.n, c->opts, ids, e);
}

static int chat_add_answer(void *state, text_run *tr, lm_err *e)
{
    chat_state *c = state;
    /* What the model said, without its end token, as the template renders
     * it in the next turn. */
    return chat_push(&c->log, "assistant", tr->out.text.v ? tr->out.text.v : "", e);
}

static int run_chat(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    static const repl_ops chat_ops = {1, chat_add_input, chat_add_answer};
    chat_state c = {.opts = {.add_generation_prompt = 1, .enable_thinking = o->think != 0}};
    const char *tok_path = o->tokenizer_path ? o->tokenizer_path : o->model_dir;
    if (o->chat_format_name)
        c.format = o->chat_format; /* parsed with the options */
    else if (lm_chat_format_detect(tok_path, tr->tok, &c.format, e) != 0)
        return EXIT_RUNTIME;
    int status = EXIT_RUNTIME;
    if (!o->system_text || chat_push(&c.log, "system", o->system_text, e) == 0)
        status = run_repl(tr, &chat_ops, &c, o->max_tokens, e);
    chat_free(&c.log);
    return status;
}

/* --interactive: the text grows by each input line and each continuation. */
static int interactive_add_input(void *state, text_run *tr, const char *input, size_t len,
                                 lm_ids *ids, lm_err *e)
{
    lm_bytes *text = state;
    if (lm_bytes_append(text, input, len, e) != 0)
        return -1;
    return lm_tokenizer_encode_prompt(tr->tok, text->v ? text->v : "", text->n, 1, ids, e);
}

static int interactive_add_answer(void *state, text_run *tr, lm_err *e)
{
    return lm_bytes_append(state, tr->out.text.v, tr->out.text.n, e);
}

static int run_interactive(text_run *tr, lm_err *e)
{
    static const repl_ops interactive_ops = {0, interactive_add_input, interactive_add_answer};
    const cli_options *o = tr->o;
    lm_bytes text = {0};
    int max_new = o->max_tokens >= 0 ? o->max_tokens : DEFAULT_INTERACTIVE_TOKENS;
    int status = run_repl(tr, &interactive_ops, &text, max_new, e);
    lm_bytes_free(&text);
    return status;
}

int cli_run_text(const lm_model_desc *d, const cli_options *o, const char *prog, lm_err *e)
{
    text_run tr = {.d = d, .o = o, .prog = prog};
    int status = EXIT_RUNTIME;
    if (text_prepare(&tr, e) == 0) {
        if (o->mode == MODE_CHAT)
            status = run_chat(&tr, e);
        else if (o->mode == MODE_INTERACTIVE)
            status = run_interactive(&tr, e);
        else
            status = run_completion(&tr, e);
    }
    text_close(&tr);
    return status;
}

