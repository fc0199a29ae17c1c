/* Qwen's chat formats, each following its template statement by statement
 * for conversations without tools:
 *   Qwen3    the chat_template of Qwen3's tokenizer_config.json (thinking);
 *   Qwen2.5  the chat_template of Qwen2.5's (ChatML with a default system
 *            message naming Qwen);
 *   ChatML   Qwen1's make_context (qwen_generation_utils.py). */
#include "chat_internal.h"

static chat_view lstrip_nl(chat_view v)
{
    while (v.n && v.p[0] == '\n')
        v.p++, v.n--;
    return v;
}

static chat_view rstrip_nl(chat_view v)
{
    while (v.n && v.p[v.n - 1] == '\n')
        v.n--;
    return v;
}

/* Position of the first / last occurrence of needle in v, or -1. */
static long find_first(chat_view v, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= v.n; i++)
        if (memcmp(v.p + i, needle, k) == 0)
            return (long)i;
    return -1;
}

static long find_last(chat_view v, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = v.n >= k ? v.n - k + 1 : 0; i-- > 0;)
        if (memcmp(v.p + i, needle, k) == 0)
            return (long)i;
    return -1;
}

static int starts_with(chat_view v, const char *s)
{
    size_t k = strlen(s);
    return v.n >= k && memcmp(v.p, s, k) == 0;
}

static int ends_with(chat_view v, const char *s)
{
    size_t k = strlen(s);
    return v.n >= k && memcmp(v.p + v.n - k, s, k) == 0;
}

/* "<|im_start|>role\ncontent<|im_end|>\n" */
static int put_block(lm_bytes *out, const char *role, const char *content, lm_err *e)
{
    return chat_put(out, "<|im_start|>", e) || chat_put(out, role, e) || chat_put(out, "\n", e) ||
           chat_put(out, content, e) || chat_put(out, "<|im_end|>\n", e);
}

/* Qwen2.5 and Qwen3 wrap a run of tool messages into one user turn. */
static int put_tool(const lm_chat_msg *msgs, size_t i, size_t n, lm_bytes *out, lm_err *e)
{
    int rc = 0;
    if (i == 0 || !chat_is_role(&msgs[i - 1], "tool"))
        rc = chat_put(out, "<|im_start|>user", e);
    rc = rc || chat_put(out, "\n<tool_response>\n", e) || chat_put(out, msgs[i].content, e) ||
         chat_put(out, "\n</tool_response>", e);
    if (!rc && (i + 1 == n || !chat_is_role(&msgs[i + 1], "tool")))
        rc = chat_put(out, "<|im_end|>\n", e);
    return rc;
}

/* ---- Qwen3 ---- */

static int render_qwen3_assistant(const lm_chat_msg *m, int after_last_query, int is_last,
                                  lm_bytes *out, lm_err *e)
{
    chat_view content = chat_view_of(m->content), reasoning = {"", 0};
    if (m->reasoning) {
        reasoning = chat_view_of(m->reasoning);
    } else {
        long close_last = find_last(content, "</think>");
        if (close_last >= 0) {
            long close_first = find_first(content, "</think>");
            /* content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') */
            chat_view before = rstrip_nl((chat_view){content.p, (size_t)close_first});
            long open = find_last(before, "<think>");
            if (open >= 0)
                before = (chat_view){before.p + open + 7, before.n - (size_t)open - 7};
            reasoning = lstrip_nl(before);
            /* content.split('</think>')[-1].lstrip('\n') */
            content = lstrip_nl(
                (chat_view){content.p + close_last + 8, content.n - (size_t)close_last - 8});
        }
    }
    if (chat_put(out, "<|im_start|>assistant\n", e) != 0)
        return -1;
    if (after_last_query && (is_last || reasoning.n > 0)) {
        if (chat_put(out, "<think>\n", e) != 0 ||
            chat_put_view(out, lstrip_nl(rstrip_nl(reasoning)), e) != 0 ||
            chat_put(out, "\n</think>\n\n", e) != 0 || chat_put_view(out, lstrip_nl(content), e) != 0)
            return -1;
    } else if (chat_put_view(out, content, e) != 0) {
        return -1;
    }
    return chat_put(out, "<|im_end|>\n", e);
}

int chat_render_qwen3(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    if (n > 0 && chat_is_role(&msgs[0], "system") && put_block(out, "system", msgs[0].content, e))
        return -1;
    /* The last user message that is not a wrapped tool response. */
    size_t last_query = n ? n - 1 : 0;
    for (size_t i = n; i-- > 0;) {
        chat_view c = chat_view_of(msgs[i].content);
        if (chat_is_role(&msgs[i], "user") &&
            !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"))) {
            last_query = i;
            break;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        int rc = 0;
        if (chat_is_role(m, "user") || (chat_is_role(m, "system") && i > 0))
            rc = put_block(out, m->role, m->content, e);
        else if (chat_is_role(m, "assistant"))
            rc = render_qwen3_assistant(m, i > last_query, i + 1 == n, out, e);
        else if (chat_is_role(m, "tool"))
            rc = put_tool(msgs, i, n, out, e);
        if (rc)
            return -1;
    }
    if (o.add_generation_prompt) {
        if (chat_put(out, "<|im_start|>assistant\n", e) != 0)
            return -1;
        if (!o.enable_thinking && chat_put(out, "<think>\n\n</think>\n\n", e) != 0)
            return -1;
    }
    return 0;
}

/* ---- Qwen2.5 ---- */

static const char QWEN25_DEFAULT_SYSTEM[] =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";

int chat_render_qwen25(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    int has_system = n > 0 && chat_is_role(&msgs[0], "system");
    if (put_block(out, "system", has_system ? msgs[0].content : QWEN25_DEFAULT_SYSTEM, e))
        return -1;
    for (size_t i = has_system; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        /* Reasoning has no place in this template: assistant content as given. */
        if (chat_is_role(m, "tool") ? put_tool(msgs, i, n, out, e) : put_block(out, m->role, m->content, e))
            return -1;
    }
    return o.add_generation_prompt ? chat_put(out, "<|im_start|>assistant\n", e) : 0;
}

/* ---- Qwen1 ChatML ---- */

static const char QWEN1_DEFAULT_SYSTEM[] = "You are a helpful assistant.";

/* The (role, content) blocks make_context joins: the system first. */
static size_t chatml_first(const lm_chat_msg *msgs, size_t n, const char **system)
{
    if (n > 0 && chat_is_role(&msgs[0], "system")) {
        *system = msgs[0].content;
        return 1;
    }
    *system = QWEN1_DEFAULT_SYSTEM;
    return 0;
}

int chat_render_chatml(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e)
{
    const char *system;
    size_t first = chatml_first(msgs, n, &system);
    if (chat_put(out, "<|im_start|>system\n", e) || chat_put(out, system, e) ||
        chat_put(out, "<|im_end|>", e))
        return -1;
    for (size_t i = first; i < n; i++)
        if (chat_put(out, "\n<|im_start|>", e) || chat_put(out, msgs[i].role, e) ||
            chat_put(out, "\n", e) || chat_put(out, msgs[i].content, e) ||
            chat_put(out, "<|im_end|>", e))
            return -1;
    if (o.add_generation_prompt && chat_put(out, "\n<|im_start|>assistant\n", e))
        return -1;
    return 0;
}

static int encode_text(lm_tokenizer *t, const char *s, lm_ids *out, lm_err *e)
{
    return lm_tokenizer_encode(t, s, strlen(s), 0, out, e);
}

int chat_encode_chatml(lm_tokenizer *t, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
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
