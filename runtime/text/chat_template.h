/* Conversations -> the prompt text (and ids) the model was trained on.
 *
 * LM_CHAT_QWEN3: what the chat_template of Qwen3's tokenizer_config.json
 *   renders for system/user/assistant/tool messages without tools:
 *   a leading system message, earlier assistant turns stripped of their
 *   <think>...</think> reasoning (kept only after the last user query), and
 *   with add_generation_prompt "<|im_start|>assistant\n", followed by
 *   "<think>\n\n</think>\n\n" when thinking is disabled.
 * LM_CHAT_CHATML: Qwen1's make_context (qwen_generation_utils.py): a system
 *   block (default "You are a helpful assistant."), then one
 *   "<|im_start|>role\ncontent<|im_end|>" block per message, joined by "\n".
 *   No thinking. */
#ifndef LMRT_TEXT_CHAT_TEMPLATE_H
#define LMRT_TEXT_CHAT_TEMPLATE_H

#include "../core/error.h"
#include "tokenizer.h"

typedef enum lm_chat_format {
    LM_CHAT_QWEN3,
    LM_CHAT_CHATML,
} lm_chat_format;

typedef struct lm_chat_msg {
    const char *role;      /* "system", "user", "assistant" or "tool" */
    const char *content;
    const char *reasoning; /* assistant's reasoning_content, or NULL to take it
                              from <think>...</think> in content */
} lm_chat_msg;

typedef struct lm_chat_opts {
    int add_generation_prompt; /* end with the assistant's opening */
    int enable_thinking;       /* Qwen3: 0 appends an empty think block */
} lm_chat_opts;

/* The chat format a tokenizer's model uses: Qwen1 (qwen.tiktoken) ->
 * ChatML, tokenizer.json -> Qwen3's template. */
lm_chat_format lm_chat_format_for(const lm_tokenizer *t);

/* Appends the rendered conversation to out. Fails on an unknown role. */
int lm_chat_render(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                   lm_bytes *out, lm_err *e);

/* Appends the conversation's ids to out, tokenized as the reference does:
 * Qwen3 renders the text and encodes it with special tokens matched
 * (apply_chat_template); Qwen1 encodes each role and content separately
 * with special tokens NOT matched inside contents, between the ids of
 * <|im_start|>/<|im_end|> (make_context). */
int lm_chat_encode(lm_tokenizer *t, lm_chat_format f, const lm_chat_msg *msgs, size_t n,
                   lm_chat_opts o, lm_ids *out, lm_err *e);

#endif
