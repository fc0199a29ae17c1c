/* Chat rendering for Qwen3 (its tokenizer_config.json chat_template, for
 * conversations without tools) and Qwen1 (ChatML as make_context builds it).
 * The Qwen3 code follows the Jinja template statement by statement; Python
 * string methods it uses (split, strip('\n'), startswith) are spelled out on
 * (pointer, length) views. */
#include <string.h>

#include "chat_template.h"

typedef struct view {
    const char *p;
    size_t n;
} view;

static view view_of(const char *s) { return (view){s, strlen(s)}; }

static view lstrip_nl(view v)
{
    while (v.n && v.p[0] == '\n')
        v.p++, v.n--;
    return v;
}

static view rstrip_nl(view v)
{
    while (v.n && v.p[v.n - 1] == '\n')
        v.n--;
    return v;
}

/* Position of the first / last occurrence of needle in v, or -1. */
static long find_first(view v, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= v.n; i++)
        if (memcmp(v.p + i, needle, k) == 0)
            return (long)i;
    return -1;
}

static long find_last(view v, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = v.n >= k ? v.n - k + 1 : 0; i-- > 0;)
        if (memcmp(v.p + i, needle, k) == 0)
            return (long)i;
    return -1;
}

static int starts_with(view v, const char *s)
{
    size_t k = strlen(s);
    return v.n >= k && memcmp(v.p, s, k) == 0;
}

static int ends_with(view v, const char *s)
{
    size_t k = strlen(s);
    return v.n >= k && memcmp(v.p + v.n - k, s, k) == 0;
}

static int put(lm_bytes *out, const char *s, lm_err *e) { return lm_bytes_append(out, s, strlen(s), e); }
static int put_view(lm_bytes *out, view v, lm_err *e) { return lm_bytes_append(out, v.p, v.n, e); }

static int is_role(const lm_chat_msg *m, const char *role) { return strcmp(m->role, role) == 0; }

static int check_messages(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_err *e)
{
    for (size_t i = 0; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        if (!m->role || !m->content)
            return lm_fail(e, "chat: message %zu has no role or no content", i);
        int ok = is_role(m, "system") || is_role(m, "user") || is_role(m, "assistant") ||
                 (f == LM_CHAT_QWEN3 && is_role(m, "tool"));
        if (!ok)
            return lm_fail(e, "chat: message %zu has role '%s'; expected system, user, assistant%s",
                           i, m->role, f == LM_CHAT_QWEN3 ? " or tool" : "");
    }
    return 0;
}

lm_chat_format lm_chat_format_for(const lm_tokenizer *t)
{
    return lm_tokenizer_format_of(t) == LM_TOKENIZER_TIKTOKEN ? LM_CHAT_CHATML : LM_CHAT_QWEN3;
}

/* ---- Qwen3 ---- */

static int render_qwen3_assistant(const lm_chat_msg *m, int after_last_query, int is_last,
                                  lm_bytes *out, lm_err *e)
{
    view content = view_of(m->content), reasoning = {"", 0};
    if (m->reasoning) {
        reasoning = view_of(m->reasoning);
    } else {
        long close_last = find_last(content, "</think>");
        if (close_last >= 0) {
            long close_first = find_first(content, "</think>");
            /* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
            view before = rstrip_nl((view){content.p, (size_t)close_first});
            long open = find_last(before, "<think>");
            if (open >= 0)
                before = (view){before.p + open + 7, before.n - (size_t)open - 7};
            reasoning = lstrip_nl(before);
            /* content.split('</think>')[-1].lstrip('\n') */
            content = lstrip_nl((view){content.p + close_last + 8, content.n - (size_t)close_last - 8});
        }
    }
    if (put(out, "<|im_start|>assistant\n", e) != 0)
        return -1;
    if (after_last_query && (is_last || reasoning.n > 0)) {
        if (put(out, "<think>\n", e) != 0 || put_view(out, lstrip_nl(rstrip_nl(reasoning)), e) != 0 ||
            put(out, "\n</think>\n\n", e) != 0 || put_view(out, lstrip_nl(content), e) != 0)
            return -1;
    } else if (put_view(out, content, e) != 0) {
        return -1;
    }
    return put(out, "<|im_end|>\n", e);
}

static int render_qwen3(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    if (n > 0 && is_role(&msgs[0], "system") &&
        (put(out, "<|im_start|>system\n", e) != 0 || put(out, msgs[0].content, e) != 0 ||
         put(out, "<|im_end|>\n", e) != 0))
        return -1;
    /* The last user message that is not a wrapped tool response. */
    size_t last_query = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;) {
        view c = view_of(msgs[i].content);
        if (is_role(&msgs[i], "user") &&
            !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        int rc = 0;
        if (is_role(m, "user") || (is_role(m, "system") && i > 0)) {
            rc = put(out, "<|im_start|>", e) || put(out, m->role, e) || put(out, "\n", e) ||
                 put(out, m->content, e) || put(out, "<|im_end|>\n", e);
        } else if (is_role(m, "assistant")) {
            rc = render_qwen3_assistant(m, i > last_query, i + 1 == n, out, e);
        } else if (is_role(m, "tool")) {
            if (i == 0 || !is_role(&msgs[i - 1], "tool"))
                rc = put(out, "<|im_start|>user", e);
            rc = rc || put(out, "\n<tool_response>\n", e) || put(out, m->content, e) ||
                 put(out, "\n</tool_response>", e);
            if (!rc && (i + 1 == n || !is_role(&msgs[i + 1], "tool")))
                rc = put(out, "<|im_end|>\n", e);
        }
        if (rc)
            return -1;
    }
    if (o.add_generation_prompt) {
        if (put(out, "<|im_start|>assistant\n", e) != 0)
            return -1;
        if (!o.enable_thinking && put(out, "<think>\n\n</think>\n\n", e) != 0)
            return -1;
    }
    return 0;
}

/* ---- Qwen1 ChatML ---- */

static const char QWEN1_DEFAULT_SYSTEM[] = "You are a helpful assistant.";

/* The (role, content) blocks make_context joins: the system first. */
static size_t chatml_first(const lm_chat_msg *msgs, size_t n, const char **system)
{
    if (n > 0 && is_role(&msgs[0], "system")) {
        *system = msgs[0].content;
        return 1;
    }
    *system = QWEN1_DEFAULT_SYSTEM;
    return 0;
}

static int render_chatml(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    const char *system;
    size_t first = chatml_first(msgs, n, &system);
    if (put(out, "<|im_start|>system\n", e) || put(out, system, e) || put(out, "<|im_end|>", e))
        return -1;
    for (size_t i = first; i < n; i++)
        if (put(out, "\n<|im_start|>", e) || put(out, msgs[i].role, e) || put(out, "\n", e) ||
            put(out, msgs[i].content, e) || put(out, "<|im_end|>", e))
            return -1;
    if (o.add_generation_prompt && put(out, "\n<|im_start|>assistant\n", e))
        return -1;
    return 0;
}

static int encode_text(lm_tokenizer *t, const char *s, lm_ids *out, lm_err *e)
{
    return lm_tokenizer_encode(t, s, strlen(s), 0, out, e);
}

static int encode_chatml(lm_tokenizer *t, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                         lm_ids *out, lm_err *e)
{
    int32_t im_start = lm_tokenizer_token_id(t, "<|im_start|>");
    int32_t im_end = lm_tokenizer_token_id(t, "<|im_end|>");
    if (im_start < 0 || im_end < 0)
        return lm_fail(e, "chat: the tokenizer has no <|im_start|>/<|im_end|>; it is not a Qwen "
                          "chat tokenizer");
    const char *system;
    size_t first = chatml_first(msgs, n, &system);
    /* Blocks: system, then every message after it. */
    size_t n_blocks = 1 + (n - first);
    for (size_t b = 0; b < n_blocks; b++) {
        const char *role = b == 0 ? "system" : msgs[first + b - 1].role;
        const char *content = b == 0 ? system : msgs[first + b - 1].content;
        if ((b > 0 && encode_text(t, "\n", out, e) != 0) || lm_ids_push(out, im_start, e) != 0 ||
            encode_text(t, role, out, e) != 0 || encode_text(t, "\n", out, e) != 0 ||
            encode_text(t, content, out, e) != 0 || lm_ids_push(out, im_end, e) != 0)
            return -1;
    }
    if (o.add_generation_prompt &&
        (encode_text(t, "\n", out, e) != 0 || lm_ids_push(out, im_start, e) != 0 ||
         encode_text(t, "assistant", out, e) != 0 || encode_text(t, "\n", out, e) != 0))
        return -1;
    return 0;
}

/* ---- public ---- */

int lm_chat_render(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                   lm_bytes *out, lm_err *e)
{
    if (check_messages(f, msgs, n, e) != 0)
        return -1;
    return f == LM_CHAT_QWEN3 ? render_qwen3(msgs, n, o, out, e) : render_chatml(msgs, n, o, out, e);
}

int lm_chat_encode(lm_tokenizer *t, lm_chat_format f, const lm_chat_msg *msgs, size_t n,
                   lm_chat_opts o, lm_ids *out, lm_err *e)
{
    if (check_messages(f, msgs, n, e) != 0)
        return -1;
    if (f == LM_CHAT_CHATML)
        return encode_chatml(t, msgs, n, o, out, e);
    lm_bytes text = {0};
    int rc = render_qwen3(msgs, n, o, &text, e);
    if (rc == 0)
        rc = lm_tokenizer_encode(t, text.v ? text.v : "", text.n, 1, out, e);
    lm_bytes_free(&text);
    return rc;
}
