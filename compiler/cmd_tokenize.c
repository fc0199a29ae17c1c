/* lmcc tokenize / lmcc detokenize: the runtime's tokenizer on the command
 * line, for golden tests against Hugging Face and for looking at prompts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "../runtime/cli/cli.h"
#include "../runtime/text/chat_template.h"
#include "../runtime/text/tokenizer.h"
#include "commands.h"

static const char TOKENIZE_USAGE[] =
    "usage: lmcc tokenize PATH (TEXT | -f FILE... | --chat CONV.json...) [options]\n"
    "Prints the token ids of a text, comma-separated on one line.\n"
    "PATH is a tokenizer.json, a qwen.tiktoken or a checkpoint directory.\n"
    "  -f, --file FILE    tokenize the file's bytes exactly\n"
    "      --chat CONV    render a conversation (JSON list of {\"role\", \"content\"}) with\n"
    "                     the model's chat template, then tokenize it\n"
    "                     -f and --chat may repeat: the tokenizer is loaded once and each\n"
    "                     input, in the order given, prints its own line of ids; the\n"
    "                     first input that fails stops the command\n"
    "      --think        chat: leave thinking on (Qwen3; the default)\n"
    "      --no-think     chat: disable thinking (Qwen3 appends an empty think block)\n"
    "      --render       chat: print the rendered text instead of ids\n"
    "      --chat-format NAME\n"
    "                     chat: render as NAME (qwen3, qwen2.5, chatml, llama3, llama3.1,\n"
    "                     llama3.2) instead of the format tokenizer_config.json's\n"
    "                     chat_template asks for\n"
    "      --date DATE    chat: Llama 3.1/3.2's \"Today Date\" (default: 3.1 26 Jul 2024,\n"
    "                     3.2 today), e.g. \"01 Dec 2026\"\n"
    "      --no-special   treat special tokens in the text (<|im_start|>...) as plain text\n"
    "      --no-add-special-tokens\n"
    "                     leave out what the tokenizer.json's post-processor adds around a\n"
    "                     text (Llama 3.1/3.2: <|begin_of_text|> first; Qwen: nothing), as\n"
    "                     Hugging Face's add_special_tokens=False\n"
    "  -z, --null         end each output with a NUL byte instead (a rendering ends with\n"
    "                     nothing otherwise, so several --render need it)\n"
    "      --bench        print load time and encode speed as one JSON object instead\n"
    "  -h, --help         this text\n";

static const char DETOKENIZE_USAGE[] =
    "usage: lmcc detokenize PATH (IDS | -f FILE) [-z]\n"
    "Prints the text of comma-separated token ids (e.g. 9707,11,1879): exactly the\n"
    "decoded bytes, with no newline added. PATH as for 'lmcc tokenize'.\n"
    "  -f, --file FILE    decode each line of FILE (comma-separated ids, as 'lmcc tokenize\n"
    "                     -f A -f B' prints them; an empty line is no ids), in order\n"
    "  -z, --null         end each text with a NUL byte, to tell several apart\n"
    "  -h, --help         this text\n";

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CONV.json: [{"role": ..., "content": ..., "reasoning_content"?: ...}, ...]
 * or {"messages": [...]}. The messages point into *root. */
static lm_chat_msg *load_conversation(const char *path, json_t **root, size_t *n, lm_err *e)
{
    json_error_t jerr;
    *root = json_load_file(path, 0, &jerr);
    if (!*root) {
        lm_fail(e, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    json_t *list = json_is_object(*root) ? json_object_get(*root, "messages") : *root;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        lm_fail(e, "%s: expected a non-empty JSON list of {\"role\", \"content\"} messages", path);
        return NULL;
    }
    *n = json_array_size(list);
    lm_chat_msg *msgs = calloc(*n, sizeof *msgs);
    if (!msgs) {
        lm_fail(e, "%s: out of memory", path);
        return NULL;
    }
    size_t i;
    json_t *m;
    json_array_foreach(list, i, m) {
        json_t *role = json_object_get(m, "role"), *content = json_object_get(m, "content");
        json_t *reasoning = json_object_get(m, "reasoning_content");
        if (!json_is_string(role) || !json_is_string(content) ||
            (reasoning && !json_is_null(reasoning) && !json_is_string(reasoning))) {
            lm_fail(e, "%s: message %zu needs string \"role\" and \"content\"", path, i);
            free(msgs);
            return NULL;
        }
        msgs[i] = (lm_chat_msg){json_string_value(role), json_string_value(content),
                                json_is_string(reasoning) ? json_string_value(reasoning) : NULL};
    }
    return msgs;
}

static void print_ids(const lm_ids *ids, int end)
{
    for (size_t i = 0; i < ids->n; i++)
        printf(i ? ",%d" : "%d", ids->v[i]);
    putchar(end);
}

/* One input of lmcc tokenize: a file's bytes, a conversation, or the text
 * given on the command line. */
typedef struct tok_input {
    enum { INPUT_TEXT, INPUT_FILE, INPUT_CHAT } kind;
    const char *arg;
} tok_input;

typedef struct tok_settings {
    const char *path; /* the tokenizer's */
    lm_chat_format format;
    int detect_format, think, render, allow_special, add_special, bench, end;
    const char *date;
    double load_s;
} tok_settings;

/* Tokenizes (or renders) one input and prints its output. */
static int tokenize_one(lm_tokenizer *tok, tok_settings *s, const tok_input *in, lm_err *err)
{
    int rc = -1;
    char *text = NULL;
    size_t len = 0;
    json_t *conv_root = NULL;
    lm_chat_msg *msgs = NULL;
    lm_ids ids = {0};
    lm_bytes rendered = {0};
    if (in->kind == INPUT_CHAT) {
        size_t n_msgs;
        msgs = load_conversation(in->arg, &conv_root, &n_msgs, err);
        lm_chat_opts o = {.add_generation_prompt = 1, .enable_thinking = s->think, .date = s->date};
        if (!msgs ||
            (s->detect_format && lm_chat_format_detect(s->path, tok, &s->format, err) != 0) ||
            (s->render ? lm_chat_render(s->format, msgs, n_msgs, o, &rendered, err)
                       : lm_chat_encode(tok, s->format, msgs, n_msgs, o, &ids, err)) != 0)
            goto done;
        s->detect_format = 0; /* the checkpoint's template does not change */
        if (s->render) {
            fwrite(rendered.v ? rendered.v : "", 1, rendered.n, stdout);
            if (s->end == '\0')
                putchar('\0');
        } else {
            print_ids(&ids, s->end);
        }
        rc = 0;
        goto done;
    }
    if (in->kind == INPUT_FILE) {
        if (!(text = lm_read_file(in->arg, &len, err)))
            goto done;
    } else {
        len = strlen(in->arg);
        text = malloc(len + 1);
        if (!text) {
            lm_fail(err, "tokenize: out of memory");
            goto done;
        }
        memcpy(text, in->arg, len + 1);
    }
    double t0 = now_seconds();
    if ((s->add_special ? lm_tokenizer_encode_prompt(tok, text, len, s->allow_special, &ids, err)
                        : lm_tokenizer_encode(tok, text, len, s->allow_special, &ids, err)) != 0)
        goto done;
    double encode_s = now_seconds() - t0;
    if (s->bench)
        printf("{\"load_seconds\": %.4f, \"bytes\": %zu, \"tokens\": %zu, \"encode_seconds\": %.4f, "
               "\"encode_mb_per_second\": %.2f}\n",
               s->load_s, len, ids.n, encode_s, encode_s > 0 ? (double)len / 1e6 / encode_s : 0.0);
    else
        print_ids(&ids, s->end);
    rc = 0;
done:
    free(text);
    free(msgs);
    json_decref(conv_root);
    lm_ids_free(&ids);
    lm_bytes_free(&rendered);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"chat", required_argument, NULL, 'c'},
        {"think", no_argument, NULL, 'T'},      {"no-think", no_argument, NULL, 'N'},
        {"render", no_argument, NULL, 'r'},     {"no-special", no_argument, NULL, 's'},
        {"bench", no_argument, NULL, 'b'},      {"help", no_argument, NULL, 'h'},
        {"null", no_argument, NULL, 'z'},
        {"no-add-special-tokens", no_argument, NULL, 'A'},
        {"chat-format", required_argument, NULL, 'F'}, {"date", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *format_name = NULL;
    tok_settings s = {.think = 1, .allow_special = 1, .add_special = 1, .end = '\n'};
    /* Every -f and --chat, in command-line order; at most argc of them. */
    tok_input *inputs = calloc((size_t)argc + 1, sizeof *inputs);
    if (!inputs) {
        fputs("lmcc: error: tokenize: out of memory\n", stderr);
        return 1;
    }
    int n_inputs = 0, n_chats = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:zh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': inputs[n_inputs++] = (tok_input){INPUT_FILE, optarg}; break;
        case 'c': inputs[n_inputs++] = (tok_input){INPUT_CHAT, optarg}; n_chats++; break;
        case 'T': s.think = 1; break;
        case 'N': s.think = 0; break;
        case 'r': s.render = 1; break;
        case 's': s.allow_special = 0; break;
        case 'A': s.add_special = 0; break;
        case 'F': format_name = optarg; break;
        case 'D': s.date = optarg; break;
        case 'b': s.bench = 1; break;
        case 'z': s.end = '\0'; break;
        case 'h': free(inputs); fputs(TOKENIZE_USAGE, stdout); return 0;
        default: free(inputs); return usage_error("tokenize", NULL, TOKENIZE_USAGE);
        }
    }
    int n_pos = argc - optind;
    const char *msg = NULL;
    if (n_pos < 1 || n_pos > 2 || (n_pos == 2) == (n_inputs > 0))
        msg = "expected PATH and exactly one of TEXT, -f FILE..., --chat CONV...";
    else if ((s.render || format_name || s.date) && n_chats == 0)
        msg = "--render, --chat-format and --date need --chat";
    else if (s.render && n_chats != n_inputs)
        msg = "--render renders conversations; give only --chat inputs with it";
    else if (s.render && n_inputs > 1 && s.end != '\0')
        msg = "several --render outputs run together; add -z to end each with a NUL byte";
    else if (s.bench && (n_chats > 0 || n_inputs > 1))
        msg = "--bench measures one text or -f FILE";
    if (msg) {
        free(inputs);
        return usage_error("tokenize", msg, TOKENIZE_USAGE);
    }
    if (n_pos == 2)
        inputs[n_inputs++] = (tok_input){INPUT_TEXT, argv[optind + 1]};
    s.path = argv[optind];
    s.detect_format = format_name == NULL;
    if (format_name && lm_chat_format_parse(format_name, &s.format) != 0) {
        char text[256];
        snprintf(text, sizeof text, "--chat-format '%.64s' is not a chat format; expected one of %s",
                 format_name, lm_chat_format_names());
        free(inputs);
        return usage_error("tokenize", text, TOKENIZE_USAGE);
    }

    lm_err err;
    double t0 = now_seconds();
    lm_tokenizer *tok = lm_tokenizer_load(s.path, &err);
    if (!tok) {
        free(inputs);
        return report_error(&err);
    }
    s.load_s = now_seconds() - t0;
    int rc = 0;
    for (int i = 0; i < n_inputs && rc == 0; i++)
        if (tokenize_one(tok, &s, &inputs[i], &err) != 0)
            rc = report_error(&err);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "lmcc: error: tokenize: cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
    free(inputs);
    lm_tokenizer_free(tok);
    return rc;
}

/* The id lists lmcc detokenize decodes, all parsed before the tokenizer
 * loads, so a bad list fails at once. */
typedef struct id_lists {
    int32_t **ids;
    int *n;
    int count;
} id_lists;

static void id_lists_free(id_lists *l)
{
    for (int i = 0; i < l->count; i++)
        free(l->ids[i]);
    free(l->ids);
    free(l->n);
}

/* Appends the list in text (empty: no ids); what names it in messages. */
static int id_lists_add(id_lists *l, const char *what, const char *text, lm_err *e)
{
    int32_t **ids = realloc(l->ids, (size_t)(l->count + 1) * sizeof *ids);
    if (ids)
        l->ids = ids;
    int *n = ids ? realloc(l->n, (size_t)(l->count + 1) * sizeof *n) : NULL;
    if (n)
        l->n = n;
    if (!ids || !n)
        return lm_fail(e, "%s: out of memory", what);
    l->ids[l->count] = NULL;
    l->n[l->count] = 0;
    if (*text && !(l->ids[l->count] = lm_parse_token_list(what, text, &l->n[l->count], e)))
        return -1;
    l->count++;
    return 0;
}

/* FILE's lines, one list each; a last line without its newline counts. */
static int id_lists_read(id_lists *l, const char *file, lm_err *e)
{
    size_t len = 0;
    char *text = lm_read_file(file, &len, e);
    if (!text)
        return -1;
    int rc = 0;
    if (memchr(text, '\0', len))
        rc = lm_fail(e, "%s: a NUL byte; expected lines of comma-separated token ids", file);
    char *line = text;
    for (int no = 1; rc == 0 && line < text + len; no++) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (nl)
            *nl = '\0';
        char where[512];
        snprintf(where, sizeof where, "%.480s:%d", file, no);
        rc = id_lists_add(l, where, line, e);
        line = nl ? nl + 1 : text + len;
    }
    free(text);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    static const struct option opts[] = {{"file", required_argument, NULL, 'f'},
                                         {"null", no_argument, NULL, 'z'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int end = '\n', c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:zh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'z': end = '\0'; break;
        case 'h': fputs(DETOKENIZE_USAGE, stdout); return 0;
        default: return usage_error("detokenize", NULL, DETOKENIZE_USAGE);
        }
    }
    if (argc - optind != (file ? 1 : 2))
        return usage_error("detokenize", "expected PATH and one of IDS, -f FILE", DETOKENIZE_USAGE);
    lm_err err;
    id_lists lists = {0};
    if (file ? id_lists_read(&lists, file, &err)
             : (*argv[optind + 1] ? id_lists_add(&lists, "IDS", argv[optind + 1], &err)
                                  : lm_fail(&err, "IDS: empty list; pass at least one id, e.g. 1,2,3"))) {
        id_lists_free(&lists);
        return report_error(&err);
    }
    lm_tokenizer *tok = lm_tokenizer_load(argv[optind], &err);
    if (!tok) {
        id_lists_free(&lists);
        return report_error(&err);
    }
    int rc = 0;
    for (int i = 0; i < lists.count && rc == 0; i++) {
        lm_bytes text = {0};
        lm_err inner;
        if (lm_tokenizer_decode(tok, lists.ids[i], (size_t)lists.n[i], &text, &inner) != 0) {
            rc = file ? lm_fail(&err, "%s:%d: %s", file, i + 1, inner.msg)
                      : lm_fail(&err, "%s", inner.msg);
        } else {
            if (text.n)
                fwrite(text.v, 1, text.n, stdout);
            if (end == '\0')
                putchar('\0');
        }
        lm_bytes_free(&text);
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = lm_fail(&err, "detokenize: cannot write the output: %s", strerror(errno));
    if (rc)
        report_error(&err);
    lm_tokenizer_free(tok);
    id_lists_free(&lists);
    return rc ? 1 : 0;
}
