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
    "usage: lmcc tokenize PATH (TEXT | -f FILE | --chat CONV.json) [options]\n"
    "Prints the token ids of a text, comma-separated on one line.\n"
    "PATH is a tokenizer.json, a qwen.tiktoken or a checkpoint directory.\n"
    "  -f, --file FILE    tokenize the file's bytes exactly\n"
    "      --chat CONV    render a conversation (JSON list of {\"role\", \"content\"}) with\n"
    "                     the model's chat template, then tokenize it\n"
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
    "      --bench        print load time and encode speed as one JSON object instead\n"
    "  -h, --help         this text\n";

static const char DETOKENIZE_USAGE[] =
    "usage: lmcc detokenize PATH IDS\n"
    "Prints the text of comma-separated token ids (e.g. 9707,11,1879): exactly the\n"
    "decoded bytes, with no newline added. PATH as for 'lmcc tokenize'.\n"
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

static void print_ids(const lm_ids *ids)
{
    for (size_t i = 0; i < ids->n; i++)
        printf(i ? ",%d" : "%d", ids->v[i]);
    putchar('\n');
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, NULL, 'f'}, {"chat", required_argument, NULL, 'c'},
        {"think", no_argument, NULL, 'T'},      {"no-think", no_argument, NULL, 'N'},
        {"render", no_argument, NULL, 'r'},     {"no-special", no_argument, NULL, 's'},
        {"bench", no_argument, NULL, 'b'},      {"help", no_argument, NULL, 'h'},
        {"no-add-special-tokens", no_argument, NULL, 'A'},
        {"chat-format", required_argument, NULL, 'F'}, {"date", required_argument, NULL, 'D'},
        {NULL, 0, NULL, 0},
    };
    const char *file = NULL, *chat = NULL, *format_name = NULL, *date = NULL;
    int think = 1, render = 0, allow_special = 1, add_special = 1, bench = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case 'c': chat = optarg; break;
        case 'T': think = 1; break;
        case 'N': think = 0; break;
        case 'r': render = 1; break;
        case 's': allow_special = 0; break;
        case 'A': add_special = 0; break;
        case 'F': format_name = optarg; break;
        case 'D': date = optarg; break;
        case 'b': bench = 1; break;
        case 'h': fputs(TOKENIZE_USAGE, stdout); return 0;
        default: return usage_error("tokenize", NULL, TOKENIZE_USAGE);
        }
    }
    int n_pos = argc - optind;
    int sources = (file != NULL) + (chat != NULL) + (n_pos == 2);
    if (n_pos < 1 || n_pos > 2 || sources != 1)
        return usage_error("tokenize", "expected PATH and exactly one of TEXT, -f FILE, --chat CONV",
                           TOKENIZE_USAGE);
    if ((render || format_name || date) && !chat)
        return usage_error("tokenize", "--render, --chat-format and --date need --chat",
                           TOKENIZE_USAGE);
    lm_chat_format f = LM_CHAT_QWEN3;
    if (format_name && lm_chat_format_parse(format_name, &f) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "--chat-format '%.64s' is not a chat format; expected one of %s",
                 format_name, lm_chat_format_names());
        return usage_error("tokenize", msg, TOKENIZE_USAGE);
    }

    lm_err err;
    double t0 = now_seconds();
    lm_tokenizer *tok = lm_tokenizer_load(argv[optind], &err);
    if (!tok)
        return report_error(&err);
    double load_s = now_seconds() - t0;

    int rc = 1;
    char *text = NULL;
    size_t len = 0;
    json_t *conv_root = NULL;
    lm_chat_msg *msgs = NULL;
    lm_ids ids = {0};
    lm_bytes rendered = {0};
    if (chat) {
        size_t n_msgs;
        msgs = load_conversation(chat, &conv_root, &n_msgs, &err);
        lm_chat_opts o = {.add_generation_prompt = 1, .enable_thinking = think, .date = date};
        if (!msgs || (!format_name && lm_chat_format_detect(argv[optind], tok, &f, &err) != 0) ||
            (render ? lm_chat_render(f, msgs, n_msgs, o, &rendered, &err)
                    : lm_chat_encode(tok, f, msgs, n_msgs, o, &ids, &err)) != 0)
            goto done;
        if (render)
            fwrite(rendered.v ? rendered.v : "", 1, rendered.n, stdout);
        else
            print_ids(&ids);
        rc = 0;
        goto done;
    }
    if (file) {
        if (!(text = lm_read_file(file, &len, &err)))
            goto done;
    } else {
        len = strlen(argv[optind + 1]);
        text = malloc(len + 1);
        if (!text) {
            lm_fail(&err, "tokenize: out of memory");
            goto done;
        }
        memcpy(text, argv[optind + 1], len + 1);
    }
    t0 = now_seconds();
    if ((add_special ? lm_tokenizer_encode_prompt(tok, text, len, allow_special, &ids, &err)
                     : lm_tokenizer_encode(tok, text, len, allow_special, &ids, &err)) != 0)
        goto done;
    double encode_s = now_seconds() - t0;
    if (bench)
        printf("{\"load_seconds\": %.4f, \"bytes\": %zu, \"tokens\": %zu, \"encode_seconds\": %.4f, "
               "\"encode_mb_per_second\": %.2f}\n",
               load_s, len, ids.n, encode_s, encode_s > 0 ? (double)len / 1e6 / encode_s : 0.0);
    else
        print_ids(&ids);
    rc = 0;
done:
    if (rc)
        report_error(&err);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "lmcc: error: tokenize: cannot write the output: %s\n", strerror(errno));
        rc = 1;
    }
    free(text);
    free(msgs);
    json_decref(conv_root);
    lm_ids_free(&ids);
    lm_bytes_free(&rendered);
    lm_tokenizer_free(tok);
    return rc;
}

int cmd_detokenize(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        if (c == 'h') {
            fputs(DETOKENIZE_USAGE, stdout);
            return 0;
        }
        return usage_error("detokenize", NULL, DETOKENIZE_USAGE);
    }
    if (argc - optind != 2)
        return usage_error("detokenize", "expected PATH and IDS", DETOKENIZE_USAGE);
    lm_err err;
    int n = 0;
    int32_t *ids = lm_parse_token_list(argv[optind + 1], &n, &err);
    if (!ids)
        return report_error(&err);
    lm_tokenizer *tok = lm_tokenizer_load(argv[optind], &err);
    if (!tok) {
        free(ids);
        return report_error(&err);
    }
    lm_bytes text = {0};
    int rc = lm_tokenizer_decode(tok, ids, (size_t)n, &text, &err);
    if (rc == 0) {
        if (text.n)
            fwrite(text.v, 1, text.n, stdout);
        if (fflush(stdout) != 0)
            rc = lm_fail(&err, "detokenize: cannot write the output: %s", strerror(errno));
    }
    if (rc)
        report_error(&err);
    lm_bytes_free(&text);
    lm_tokenizer_free(tok);
    free(ids);
    return rc ? 1 : 0;
}
