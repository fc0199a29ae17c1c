/* Llama 3's chat formats, following the chat_template of each
 * tokenizer_config.json for conversations without tools:
 *   Llama 3      <|begin_of_text|>, then per message
 *                "<|start_header_id|>role<|end_header_id|>\n\n" + trim(content)
 *                + "<|eot_id|>", then the assistant's header (always: that
 *                template ignores add_generation_prompt);
 *   Llama 3.1/3.2  the same blocks after a system block the template always
 *                writes: "Cutting Knowledge Date: December 2023", "Today
 *                Date: ..." (3.1: 26 Jul 2024 unless a date is given; 3.2:
 *                today, as strftime_now("%d %b %Y")), then the system
 *                message; tool results go in an "ipython" block as JSON. */
#include <stdio.h>
#include <time.h>

#include "chat_internal.h"

static const char BOS[] = "<|begin_of_text|>";

static int put_header(lm_bytes *out, const char *role, lm_err *e)
{
    return chat_put(out, "<|start_header_id|>", e) || chat_put(out, role, e) ||
           chat_put(out, "<|end_header_id|>\n\n", e);
}

/* header + content|trim + <|eot_id|> */
static int put_message(lm_bytes *out, const char *role, const char *content, lm_err *e)
{
    return put_header(out, role, e) || chat_put_view(out, chat_strip(chat_view_of(content)), e) ||
           chat_put(out, "<|eot_id|>", e);
}

/* A string through transformers' tojson filter (json.dumps with
 * ensure_ascii=False): quoted, with \" \\ and control characters escaped.
 * Not jansson's encoder: it writes \u001F where Python writes \u001f. */
static int put_json_string(lm_bytes *out, const char *s, lm_err *e)
{
    if (chat_put(out, "\"", e))
        return -1;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        const char *r = NULL;
        switch (*p) {
        case '"': r = "\\\""; break;
        case '\\': r = "\\\\"; break;
        case '\n': r = "\\n"; break;
        case '\r': r = "\\r"; break;
        case '\t': r = "\\t"; break;
        case '\b': r = "\\b"; break;
        case '\f': r = "\\f"; break;
        default:
            if (*p < 0x20) {
                snprintf(esc, sizeof esc, "\\u%04x", *p);
                r = esc;
            }
        }
        if (r ? chat_put(out, r, e) : lm_bytes_append(out, (const char *)p, 1, e))
            return -1;
    }
    return chat_put(out, "\"", e);
}

static int render_llama3(const lm_chat_msg *msgs, size_t n, lm_bytes *out, lm_err *e)
{
    for (size_t i = 0; i < n; i++)
        if ((i == 0 && chat_put(out, BOS, e)) || put_message(out, msgs[i].role, msgs[i].content, e))
            return -1;
    return put_header(out, "assistant", e);
}

static int render_llama31(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                          lm_bytes *out, lm_err *e)
{
    char today[32];
    const char *date = o.date;
    if (!date && f == LM_CHAT_LLAMA32) {
        time_t now = time(NULL);
        struct tm tm;
        if (!localtime_r(&now, &tm) || !strftime(today, sizeof today, "%d %b %Y", &tm))
            return lm_fail(e, "chat: cannot format today's date for the Llama 3.2 system block; "
                              "give one (--date \"26 Jul 2024\")");
        date = today;
    }
    int has_system = n > 0 && chat_is_role(&msgs[0], "system");
    chat_view system = has_system ? chat_strip(chat_view_of(msgs[0].content)) : (chat_view){"", 0};
    if (chat_put(out, BOS, e) || put_header(out, "system", e) ||
        chat_put(out, "Cutting Knowledge Date: December 2023\nToday Date: ", e) ||
        chat_put(out, date ? date : "26 Jul 2024", e) || chat_put(out, "\n\n", e) ||
        chat_put_view(out, system, e) || chat_put(out, "<|eot_id|>", e))
        return -1;
    for (size_t i = has_system; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        int rc;
        /* A string is "iterable" to Jinja, so the template writes it as JSON. */
        if (chat_is_role(m, "tool") || chat_is_role(m, "ipython"))
            rc = put_header(out, "ipython", e) || put_json_string(out, m->content, e) ||
                 chat_put(out, "<|eot_id|>", e);
        else
            rc = put_message(out, m->role, m->content, e);
        if (rc)
            return -1;
    }
    return o.add_generation_prompt ? put_header(out, "assistant", e) : 0;
}

int chat_render_llama3(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                       lm_bytes *out, lm_err *e)
{
    return f == LM_CHAT_LLAMA3 ? render_llama3(msgs, n, out, e)
                               : render_llama31(f, msgs, n, o, out, e);
}
