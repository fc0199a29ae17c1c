/* Chat formats: their names, which one a checkpoint's files ask for, the
 * roles each accepts, and rendering and encoding by format. The renderers
 * are in chat_qwen.c, chat_llama.c and chat_gemma.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <jansson.h>

#include "chat_internal.h"

static const struct {
    lm_chat_format f;
    const char *name;
} FORMATS[] = {
    {LM_CHAT_QWEN3, "qwen3"},     {LM_CHAT_QWEN25, "qwen2.5"},   {LM_CHAT_CHATML, "chatml"},
    {LM_CHAT_LLAMA3, "llama3"},   {LM_CHAT_LLAMA31, "llama3.1"}, {LM_CHAT_LLAMA32, "llama3.2"},
    {LM_CHAT_GEMMA3, "gemma3"},
};
#define N_FORMATS (sizeof FORMATS / sizeof *FORMATS)

const char *lm_chat_format_name(lm_chat_format f)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (FORMATS[i].f == f)
            return FORMATS[i].name;
    return "?";
}

int lm_chat_format_parse(const char *name, lm_chat_format *f)
{
    for (size_t i = 0; i < N_FORMATS; i++)
        if (strcmp(FORMATS[i].name, name) == 0) {
            *f = FORMATS[i].f;
            return 0;
        }
    return -1;
}

const char *lm_chat_format_names(void)
{
    return "qwen3, qwen2.5, chatml, llama3, llama3.1, llama3.2, gemma3";
}

/* ---- which format ---- */

/* What each template writes that the others do not. */
static int format_of_template(const char *tpl, lm_chat_format *f)
{
    if (strstr(tpl, "<start_of_turn>")) {
        *f = LM_CHAT_GEMMA3;
        return 0;
    }
    if (strstr(tpl, "<|start_header_id|>")) {
        *f = !strstr(tpl, "Cutting Knowledge Date") ? LM_CHAT_LLAMA3
             : strstr(tpl, "strftime_now")          ? LM_CHAT_LLAMA32
                                                    : LM_CHAT_LLAMA31;
        return 0;
    }
    if (strstr(tpl, "<|im_start|>")) {
        if (strstr(tpl, "<think>")) {
            *f = LM_CHAT_QWEN3;
            return 0;
        }
        if (strstr(tpl, "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.")) {
            *f = LM_CHAT_QWEN25;
            return 0;
        }
    }
    return -1;
}

static int format_of_tokenizer(const lm_tokenizer *t, lm_chat_format *f)
{
    if (lm_tokenizer_format_of(t) == LM_TOKENIZER_TIKTOKEN)
        *f = LM_CHAT_CHATML;
    else if (lm_tokenizer_token_id(t, "<|start_header_id|>") >= 0)
        *f = LM_CHAT_LLAMA31;
    else if (lm_tokenizer_token_id(t, "<start_of_turn>") >= 0)
        *f = LM_CHAT_GEMMA3;
    else if (lm_tokenizer_token_id(t, "<think>") >= 0)
        *f = LM_CHAT_QWEN3;
    else if (lm_tokenizer_token_id(t, "<|im_start|>") >= 0)
        *f = LM_CHAT_QWEN25;
    else
        return -1;
    return 0;
}

/* dir of a checkpoint directory or of a file in one. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(dir, cap, "%s", path);
        return;
    }
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(dir, cap, ".");
    else
        snprintf(dir, cap, "%.*s", (int)(slash - path) > 0 ? (int)(slash - path) : 1, path);
}

/* tokenizer_config.json's chat_template: a string, or a list of named
 * templates of which "default" is the chat one. NULL when absent. */
static const char *config_template(json_t *root)
{
    json_t *tpl = json_object_get(root, "chat_template");
    if (json_is_string(tpl))
        return json_string_value(tpl);
    size_t i;
    json_t *item;
    json_array_foreach(tpl, i, item) {
        const char *name = json_string_value(json_object_get(item, "name"));
        if (name && strcmp(name, "default") == 0)
            return json_string_value(json_object_get(item, "template"));
    }
    return NULL;
}

/* chat_template.jinja (newer transformers save the template there) into
 * *text, NULL when there is none. */
static int read_jinja(const char *dir, char **text, lm_err *e)
{
    char path[4096];
    size_t n;
    struct stat st;
    snprintf(path, sizeof path, "%s/chat_template.jinja", dir);
    *text = NULL;
    if (stat(path, &st) != 0)
        return 0;
    return (*text = lm_read_file(path, &n, e)) ? 0 : -1;
}

int lm_chat_format_detect(const char *tokenizer_path, const lm_tokenizer *t, lm_chat_format *f,
                          lm_err *e)
{
    char dir[4096], path[4200];
    dir_of(tokenizer_path, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    json_error_t jerr;
    json_t *root = NULL;
    struct stat st;
    if (stat(path, &st) == 0) {
        /* As reals: Llama 3's file says "model_max_length":
         * 1000000000000000019884624838656, past jansson's integers. */
        if (!(root = json_load_file(path, JSON_DECODE_INT_AS_REAL, &jerr)))
            return lm_fail(e, "%s:%d: %s; fix the file or pass --chat-format (%s)", path, jerr.line,
                           jerr.text, lm_chat_format_names());
    } else if (errno != ENOENT) {
        return lm_fail(e, "%s: cannot open: %s", path, strerror(errno));
    }
    char *jinja;
    if (read_jinja(dir, &jinja, e) != 0) {
        json_decref(root);
        return -1;
    }
    const char *tpl = jinja ? jinja : config_template(root);
    int rc = 0;
    if (tpl) {
        if (format_of_template(tpl, f) != 0)
            rc = lm_fail(e, "%s: the chat_template is not one lmcc renders (%s); pass --chat-format "
                            "NAME to choose the closest",
                         jinja ? "chat_template.jinja" : path, lm_chat_format_names());
    } else if (format_of_tokenizer(t, f) != 0) {
        rc = lm_fail(e, "%s: no chat_template in tokenizer_config.json and a tokenizer of no known "
                        "chat format; pass --chat-format (%s)", dir, lm_chat_format_names());
    }
    free(jinja);
    json_decref(root);
    return rc;
}

/* ---- rendering ---- */

static int check_messages(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_err *e)
{
    int tools = f != LM_CHAT_CHATML, ipython = f == LM_CHAT_LLAMA31 || f == LM_CHAT_LLAMA32;
    for (size_t i = 0; i < n; i++) {
        const lm_chat_msg *m = &msgs[i];
        if (!m->role || !m->content)
            return lm_fail(e, "chat: message %zu has no role or no content", i);
        int ok = chat_is_role(m, "system") || chat_is_role(m, "user") ||
                 chat_is_role(m, "assistant") || (tools && chat_is_role(m, "tool")) ||
                 (ipython && chat_is_role(m, "ipython"));
        if (!ok)
            return lm_fail(e, "chat: message %zu has role '%s'; the %s format has system, user, "
                              "assistant%s%s", i, m->role, lm_chat_format_name(f),
                           tools ? ", tool" : "", ipython ? ", ipython" : "");
    }
    return 0;
}

static int render(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o, lm_bytes *out,
                  lm_err *e)
{
    switch (f) {
    case LM_CHAT_QWEN3: return chat_render_qwen3(msgs, n, o, out, e);
    case LM_CHAT_QWEN25: return chat_render_qwen25(msgs, n, o, out, e);
    case LM_CHAT_CHATML: return chat_render_chatml(msgs, n, o, out, e);
    case LM_CHAT_GEMMA3: return chat_render_gemma(msgs, n, o, out, e);
    default: return chat_render_llama3(f, msgs, n, o, out, e);
    }
}

int lm_chat_render(lm_chat_format f, const lm_chat_msg *msgs, size_t n, lm_chat_opts o,
                   lm_bytes *out, lm_err *e)
{
    if (check_messages(f, msgs, n, e) != 0)
        return -1;
    return render(f, msgs, n, o, out, e);
}

int lm_chat_encode(lm_tokenizer *t, lm_chat_format f, const lm_chat_msg *msgs, size_t n,
                   lm_chat_opts o, lm_ids *out, lm_err *e)
{
    if (check_messages(f, msgs, n, e) != 0)
        return -1;
    if (f == LM_CHAT_CHATML)
        return chat_encode_chatml(t, msgs, n, o, out, e);
    lm_bytes text = {0};
    int rc = render(f, msgs, n, o, &text, e);
    if (rc == 0)
        rc = lm_tokenizer_encode(t, text.v ? text.v : "", text.n, 1, out, e);
    lm_bytes_free(&text);
    return rc;
}
