/* Conversations -> the prompt text (and ids) the model was trained on.
 *
 * Each format renders what its model's chat_template renders for
 * system/user/assistant/tool messages without tool definitions (the Jinja
 * templates are followed statement by statement in chat_qwen.c,
 * chat_llama.c and chat_gemma.c; the tests render the real templates with Jinja2):
 *
 *   LM_CHAT_QWEN3    Qwen3: a leading system message, earlier assistant turns
 *                    stripped of their <think>...</think> reasoning (kept
 *                    only after the last user query), with
 *                    add_generation_prompt "<|im_start|>assistant\n", followed
 *                    by "<think>\n\n</think>\n\n" when thinking is disabled.
 *   LM_CHAT_QWEN25   Qwen2.5: ChatML blocks "<|im_start|>role\ncontent<|im_end|>\n",
 *                    first a system block (default "You are Qwen, created by
 *                    Alibaba Cloud. You are a helpful assistant.").
 *   LM_CHAT_CHATML   Qwen1's make_context (qwen_generation_utils.py): a system
 *                    block (default "You are a helpful assistant."), then the
 *                    blocks joined by "\n". No thinking.
 *   LM_CHAT_LLAMA3   Llama 3: <|begin_of_text|> and per message
 *                    "<|start_header_id|>role<|end_header_id|>\n\n" + trimmed
 *                    content + "<|eot_id|>", then the assistant's header.
 *   LM_CHAT_LLAMA31  Llama 3.1: the same after a system block it always writes
 *                    ("Cutting Knowledge Date: December 2023\nToday Date: 26 Jul
 *                    2024\n\n" + the system message, if any).
 *   LM_CHAT_LLAMA32  Llama 3.2: as 3.1 with today's date (strftime_now).
 *   LM_CHAT_GEMMA3   Gemma 3: "<bos>", then per message "<start_of_turn>role\n"
 *                    + trimmed content + "<end_of_turn>\n", the assistant's
 *                    role written "model", a system message's content and
 *                    "\n\n" put before the first turn's; roles alternate
 *                    user/assistant (chat_gemma.c). */
#ifndef LMRT_TEXT_CHAT_TEMPLATE_H
#define LMRT_TEXT_CHAT_TEMPLATE_H

#include "../core/error.h"
#include "tokenizer.h"

typedef enum lm_chat_format {
    LM_CHAT_QWEN3,
    LM_CHAT_QWEN25,
    LM_CHAT_CHATML,
    LM_CHAT_LLAMA3,
    LM_CHAT_LLAMA31,
    LM_CHAT_LLAMA32,
    LM_CHAT_GEMMA3,
} lm_chat_format;

typedef struct lm_chat_msg {
    const char *role;      /* "system", "user", "assistant" or "tool" ("ipython": Llama 3.1+) */
    const char *content;
    const char *reasoning; /* assistant's reasoning_content, or NULL to take it
                              from <think>...</think> in content */
} lm_chat_msg;

typedef struct lm_chat_opts {
    int add_generation_prompt; /* end with the assistant's opening */
    int enable_thinking;       /* Qwen3: 0 appends an empty think block */
    const char *date;          /* Llama 3.1/3.2 "Today Date", e.g. "26 Jul 2024";
                                  NULL: 3.1's fixed one, 3.2: today */
} lm_chat_opts;

/* Names as --chat-format takes them: qwen3, qwen2.5, chatml, llama3,
 * llama3.1, llama3.2, gemma3. Parse returns -1 for an unknown name. */
const char *lm_chat_format_name(lm_chat_format f);
int lm_chat_format_parse(const char *name, lm_chat_format *f);
/* "qwen3, qwen2.5, ..." for messages and --help. */
const char *lm_chat_format_names(void);

/* The format the model's own files ask for. tokenizer_path is a checkpoint
 * directory or a tokenizer file in one; its tokenizer_config.json (or
 * chat_template.jinja) holds the chat_template, which is recognized by what
 * it writes. Without a template (Qwen1, synthetic checkpoints) the
 * tokenizer decides: qwen.tiktoken -> ChatML, Llama 3's header tokens ->
 * Llama 3.1, <start_of_turn> -> Gemma 3, <think> -> Qwen3, else
 * <|im_start|> -> Qwen2.5. A template
 * lmcc does not render, or a tokenizer with none of those, is an error
 * naming the file (pass a format by name instead). */
int lm_chat_format_detect(const char *tokenizer_path, const lm_tokenizer *t, lm_chat_format *f,
                          lm_err *e);

/* Appends the rendered conversation to out. Fails on a role the format
 * does not have. */
int lm_chat_render(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                   lm_bytes *out, lm_err *e);

/* Appends the conversation's ids to out, tokenized as the reference does:
 * the rendered text encoded with special tokens matched and no
 * post-processor template (apply_chat_template; the templates write
 * <|begin_of_text|> themselves); Qwen1 encodes each role and content
 * separately with special tokens NOT matched inside contents, between the
 * ids of <|im_start|>/<|im_end|> (make_context). */
int lm_chat_encode(lm_tokenizer *t, lm_chat_format f, const lm_chat_msg *msgs, size_t n,
                   lm_chat_opts o, lm_ids *out, lm_err *e);

#endif
