/* What the chat renderers share (chat_template.c dispatches, chat_qwen.c,
 * chat_llama.c and chat_gemma.c render, chat_strip.c has the strip they
 * share); not part of the public API. */
#ifndef LMRT_TEXT_CHAT_INTERNAL_H
#define LMRT_TEXT_CHAT_INTERNAL_H

#include <string.h>

#include "chat_template.h"

/* A (pointer, length) view: Python string methods the templates use
 * (split, strip, startswith) work on views of the messages. */
typedef struct chat_view {
    const char *p;
    size_t n;
} chat_view;

static inline chat_view chat_view_of(const char *s) { return (chat_view){s, strlen(s)}; }

static inline int chat_put(lm_bytes *out, const char *s, lm_err *e)
{
    return lm_bytes_append(out, s, strlen(s), e);
}

static inline int chat_put_view(lm_bytes *out, chat_view v, lm_err *e)
{
    return lm_bytes_append(out, v.p, v.n, e);
}

static inline int chat_is_role(const lm_chat_msg *m, const char *role)
{
    return strcmp(m->role, role) == 0;
}

/* Jinja's trim filter, Python's str.strip(): Unicode white space (what
 * str.isspace accepts) off both ends of UTF-8 text. */
chat_view chat_strip(chat_view v);

/* Renderers: append the conversation's text (roles already checked). */
int chat_render_qwen3(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e);
int chat_render_qwen25(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e);
int chat_render_chatml(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e);
int chat_encode_chatml(lm_tokenizer *t, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                       lm_ids *out, lm_err *e);
int chat_render_llama3(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                       lm_bytes *out, lm_err *e);
int chat_render_gemma(const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out, lm_err *e);

#endif
