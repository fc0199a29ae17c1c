/* The generated executable's driver: options, their validation, then one
 * of the modes
 *   --tokens      ids in, ids out (greedy by default), with --logits, --dump,
 *                 --bench and --stats (tokens.c);
 *   -p / -f       text completion (text.c);
 *   --chat        multi-turn chat REPL in the model's chat format (text.c);
 *   --interactive completion REPL (text.c);
 * (see cli.h, internal.h, generate/generate.h and DESIGN.md). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "../hub/hub_cache.h"

#define MAX_THREADS 4096
#define MAX_SEQUENCES 100000
/* The same bounds as text, for messages built at compile time. */
#define STRINGIFY(x) #x
#define TEXT_OF(x) STRINGIFY(x)

enum {
    OPT_TOKENS = 256,
    OPT_LOGITS,
    OPT_DUMP,
    OPT_BENCH,
    OPT_STATS,
    OPT_BANDWIDTH,
    OPT_FMA,
    OPT_BF16_DOT,
    OPT_INT8_DOT,
    OPT_AMX,
    OPT_AMX_INT8,
    OPT_VERSION,
    OPT_CHAT,
    OPT_INTERACTIVE,
    OPT_SYSTEM,
    OPT_THINK,
    OPT_NO_THINK,
    OPT_CHAT_FORMAT,
    OPT_STREAM,
    OPT_NO_STREAM,
    OPT_TEMPERATURE,
    OPT_TOP_K,
    OPT_TOP_P,
    OPT_MIN_P,
    OPT_PENALTY,
    OPT_SEED,
    OPT_SEQUENCES,
    OPT_TOKENIZER,
    OPT_PERPLEXITY,
    OPT_CHUNK,
    OPT_SERVE,
    OPT_API_KEY,
    OPT_QUEUE,
    OPT_PARALLEL,
    OPT_TIMEOUT,
};

static const struct option long_options[] = {
    {"model", required_argument, NULL, 'm'},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"prompt", required_argument, NULL, 'p'},
    {"file", required_argument, NULL, 'f'},
    {"chat", no_argument, NULL, OPT_CHAT},
    {"interactive", no_argument, NULL, OPT_INTERACTIVE},
    {"system", required_argument, NULL, OPT_SYSTEM},
    {"think", no_argument, NULL, OPT_THINK},
    {"no-think", no_argument, NULL, OPT_NO_THINK},
    {"chat-format", required_argument, NULL, OPT_CHAT_FORMAT},
    {"stream", no_argument, NULL, OPT_STREAM},
    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
    {"perplexity", required_argument, NULL, OPT_PERPLEXITY},
    {"chunk", required_argument, NULL, OPT_CHUNK},
    {"serve", required_argument, NULL, OPT_SERVE},
    {"api-key", required_argument, NULL, OPT_API_KEY},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"parallel", required_argument, NULL, OPT_PARALLEL},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"max-tokens", required_argument, NULL, 'n'},
    {"temperature", required_argument, NULL, OPT_TEMPERATURE},
    {"top-k", required_argument, NULL, OPT_TOP_K},
    {"top-p", required_argument, NULL, OPT_TOP_P},
    {"min-p", required_argument, NULL, OPT_MIN_P},
    {"repetition-penalty", required_argument, NULL, OPT_PENALTY},
    {"seed", required_argument, NULL, OPT_SEED},
    {"num-return-sequences", required_argument, NULL, OPT_SEQUENCES},
    {"logits", required_argument, NULL, OPT_LOGITS},
    {"dump", required_argument, NULL, OPT_DUMP},
    {"threads", required_argument, NULL, 't'},
    {"bench", no_argument, NULL, OPT_BENCH},
    {"bandwidth-gbs", required_argument, NULL, OPT_BANDWIDTH},
    {"fma-gflops", required_argument, NULL, OPT_FMA},
    {"bf16-dot-gflops", required_argument, NULL, OPT_BF16_DOT},
    {"int8-dot-gops", required_argument, NULL, OPT_INT8_DOT},
    {"amx-gflops", required_argument, NULL, OPT_AMX},
    {"amx-int8-gops", required_argument, NULL, OPT_AMX_INT8},
    {"stats", no_argument, NULL, OPT_STATS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

/* Strict decimal integer in [lo, hi]: no sign, spaces or trailing text. */
static int parse_int(const char *s, long lo, long hi, long *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

/* A finite number in [lo, hi] (lo excluded when open_lo). */
static int parse_double_in(const char *s, double lo, double hi, int open_lo, double *out)
{
    if (!s || !*s || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi || (open_lo && v == lo))
        return -1;
    *out = v;
    return 0;
}

/* An option's numeric value, or "NAME: 'VALUE' is not WHAT" in e. given,
 * when not NULL, records that the flag was passed. */
static int int_option(const char *name, const char *arg, long lo, long hi, const char *what,
                      int *out, int *given, lm_err *e)
{
    long v;
    if (parse_int(arg, lo, hi, &v) != 0)
        return lm_fail(e, "%s: '%.40s' is not %s", name, arg, what);
    *out = (int)v;
    if (given)
        *given = 1;
    return 0;
}

static int double_option(const char *name, const char *arg, double lo, double hi, int open_lo,
                         const char *what, double *out, int *given, lm_err *e)
{
    if (parse_double_in(arg, lo, hi, open_lo, out) != 0)
        return lm_fail(e, "%s: '%.40s' is not %s", name, arg, what);
    if (given)
        *given = 1;
    return 0;
}

int32_t *lm_parse_token_list(const char *what, const char *text, int *n, lm_err *e)
{
    *n = 0;
    if (!text || !*text) {
        lm_fail(e, "%s: empty list; pass at least one id, e.g. 1,2,3", what);
        return NULL;
    }
    size_t items = 1;
    for (const char *p = text; *p; p++)
        items += *p == ',';
    if (items > INT32_MAX / 2) {
        lm_fail(e, "%s: too many items", what);
        return NULL;
    }
    int32_t *ids = malloc(items * sizeof *ids);
    if (!ids) {
        lm_fail(e, "%s: out of memory for %zu ids", what, items);
        return NULL;
    }
    const char *item = text;
    for (size_t i = 0; i < items; i++) {
        const char *comma = strchr(item, ',');
        size_t len = comma ? (size_t)(comma - item) : strlen(item);
        char buf[32];
        long v = -1;
        int ok = len > 0 && len < sizeof buf;
        if (ok) {
            memcpy(buf, item, len);
            buf[len] = '\0';
            ok = parse_int(buf, 0, INT32_MAX, &v) == 0;
        }
        if (!ok) {
            lm_fail(e, "%s: item %zu '%.*s' is not a non-negative integer; "
                       "pass ids as 1,2,3",
                    what, i + 1, (int)(len > 40 ? 40 : len), item);
            free(ids);
            return NULL;
        }
        ids[i] = (int32_t)v;
        item = comma ? comma + 1 : item + len;
    }
    *n = (int)items;
    return ids;
}

/* The offending option as the user typed it, for messages. */
static const char *option_text(int argc, char **argv, int index, int short_opt, char *buf,
                               size_t size)
{
    if (index > 0 && index <= argc && strncmp(argv[index - 1], "--", 2) == 0) {
        const char *arg = argv[index - 1];
        size_t len = strcspn(arg, "=");
        snprintf(buf, size, "%.*s", (int)(len > 60 ? 60 : len), arg);
    } else if (short_opt > 0 && short_opt < 128) {
        snprintf(buf, size, "-%c", short_opt);
    } else if (index > 0 && index <= argc) {
        snprintf(buf, size, "%.60s", argv[index - 1]);
    } else {
        snprintf(buf, size, "?");
    }
    return buf;
}

/* The first option given that picks a prompt, a generation mode or a
 * sampling setting, or NULL: what the modes that take none refuse. */
static const char *generation_option(const cli_options *o)
{
    return o->tokens_text ? "--tokens" : o->prompt_text ? "-p" : o->prompt_file ? "-f"
           : o->chat ? "--chat" : o->interactive ? "--interactive"
           : o->logits_path ? "--logits" : o->dump_dir ? "--dump" : o->bench ? "--bench"
           : o->max_tokens >= 0 ? "-n" : o->num_sequences > 1 ? "--num-return-sequences"
           : o->has_temperature || o->has_top_k || o->has_top_p || o->has_min_p || o->has_penalty ||
                   o->has_seed
               ? "a sampling option"
               : NULL;
}

/* --chat-format NAME into o->chat_format, when given. */
static int parse_chat_format(cli_options *o, lm_err *e)
{
    if (o->chat_format_name && lm_chat_format_parse(o->chat_format_name, &o->chat_format) != 0)
        return lm_fail(e, "--chat-format '%s' is not a chat format; expected one of %s",
                       o->chat_format_name, lm_chat_format_names());
    return 0;
}

/* Which options go together; returns 0 or -1 with the clash in e. */
static int check_combination(const char *prog, cli_options *o, lm_err *e)
{
    if (o->chunk && !o->perplexity_file)
        return lm_fail(e, "'--chunk' only applies to --perplexity");
    if (!o->serve_text && (o->api_key || o->queue >= 0 || o->parallel > 0 || o->timeout_s > 0))
        return lm_fail(e, "'%s' only applies to --serve",
                       o->api_key        ? "--api-key"
                       : o->queue >= 0   ? "--queue"
                       : o->parallel > 0 ? "--parallel"
                                         : "--timeout");
    if (o->serve_text) {
        /* The server takes its prompts and sampling settings per request. */
        const char *bad = o->perplexity_file ? "--perplexity" : o->system_text ? "--system"
                                                                : generation_option(o);
        if (bad)
            return lm_fail(e, "'--serve' takes prompts and sampling settings from each request; "
                              "drop '%s'",
                           bad);
        if (parse_chat_format(o, e) != 0)
            return -1;
        o->mode = MODE_SERVE;
        return 0;
    }
    if (o->perplexity_file) {
        /* It scores the file's own tokens: nothing is generated or sampled. */
        const char *bad = generation_option(o);
        if (bad)
            return lm_fail(e, "'--perplexity' scores a file and generates nothing; drop '%s'", bad);
        o->mode = MODE_PERPLEXITY;
        return 0;
    }
    int sources = !!o->tokens_text + !!o->prompt_text + !!o->prompt_file;
    if (sources > 1)
        return lm_fail(e, "%s give a prompt; pass only one of '-p' (--prompt), '-f' (--file) "
                          "and '--tokens'",
                       sources > 2                        ? "'-p', '-f' and '--tokens' all"
                       : o->tokens_text && o->prompt_text ? "'-p' and '--tokens' both"
                       : o->tokens_text                   ? "'-f' and '--tokens' both"
                                                          : "'-p' and '-f' both");
    if (o->chat && o->interactive)
        return lm_fail(e, "'--chat' and '--interactive' are different modes; pass one of them");
    int repl = o->chat || o->interactive;
    const char *repl_name = o->chat ? "--chat" : "--interactive";
    if (repl && o->tokens_text)
        return lm_fail(e, "'%s' takes text, not '--tokens'; give the first turn with -p or -f",
                       repl_name);
    if (repl) {
        const char *bad = o->logits_path ? "--logits" : o->dump_dir ? "--dump"
                          : o->bench     ? "--bench"
                          : o->stats     ? "--stats"
                          : o->num_sequences > 1 ? "--num-return-sequences"
                                                 : NULL;
        if (bad)
            return lm_fail(e, "'%s' does not work with '%s'; use it with -p, -f or --tokens", bad,
                           repl_name);
    }
    if (!o->chat && (o->system_text || o->think >= 0 || o->chat_format_name))
        return lm_fail(e, "'%s' only applies to --chat",
                       o->system_text ? "--system" : o->chat_format_name ? "--chat-format"
                                                   : o->think            ? "--think"
                                                                         : "--no-think");
    if (parse_chat_format(o, e) != 0)
        return -1;
    if (o->bench && o->num_sequences > 1)
        return lm_fail(e, "'--bench' measures one sequence; drop --num-return-sequences");
    if (o->chat)
        o->mode = MODE_CHAT;
    else if (o->interactive)
        o->mode = MODE_INTERACTIVE;
    else if (o->tokens_text)
        o->mode = MODE_TOKENS;
    else if (o->prompt_text || o->prompt_file)
        o->mode = MODE_TEXT;
    else
        return lm_fail(e, "no prompt given; pass -p TEXT, -f FILE, --chat, --interactive, "
                          "--tokens 1,2,3 or --perplexity FILE (run '%s --help' for usage)",
                       prog);
    return 0;
}

/* Returns 0 to run, 1 when --help or --version was handled (exit 0), or -1
 * on a usage error (message in e). */
static int parse_options(const lm_model_desc *d, const char *prog, int argc, char **argv,
                         cli_options *o, lm_err *e)
{
    memset(o, 0, sizeof *o);
    o->max_tokens = -1;
    o->think = -1;
    o->stream = -1;
    o->num_sequences = 1;
    o->queue = -1;
    /* getopt keeps global state; lm_main may run more than once per process
     * (tests, embedding), so restart the scan. */
#ifdef __GLIBC__
    optind = 0;
#else
    optind = 1;
#endif
    opterr = 0;
    char name[80];
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, ":m:n:t:p:f:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model_dir = o->model_arg = optarg;
            break;
        case OPT_TOKENS:
            o->tokens_text = optarg;
            break;
        case 'p':
            o->prompt_text = optarg;
            break;
        case 'f':
            o->prompt_file = optarg;
            break;
        case OPT_CHAT:
            o->chat = 1;
            break;
        case OPT_INTERACTIVE:
            o->interactive = 1;
            break;
        case OPT_SYSTEM:
            o->system_text = optarg;
            break;
        case OPT_THINK:
            o->think = 1;
            break;
        case OPT_NO_THINK:
            o->think = 0;
            break;
        case OPT_CHAT_FORMAT:
            o->chat_format_name = optarg;
            break;
        case OPT_STREAM:
            o->stream = 1;
            break;
        case OPT_NO_STREAM:
            o->stream = 0;
            break;
        case OPT_TOKENIZER:
            o->tokenizer_path = optarg;
            break;
        case OPT_PERPLEXITY:
            o->perplexity_file = optarg;
            break;
        case OPT_SERVE:
            o->serve_text = optarg;
            break;
        case OPT_API_KEY:
            if (!*optarg || strlen(optarg) > 512)
                return lm_fail(e, "--api-key: the key must be 1 to 512 bytes");
            o->api_key = optarg;
            break;
        case OPT_QUEUE:
            rc = int_option("--queue", optarg, 0, 4096, "an integer in [0, 4096]", &o->queue, NULL, e);
            break;
        case OPT_PARALLEL:
            rc = int_option("--parallel", optarg, 1, 4096, "an integer in [1, 4096]", &o->parallel, NULL, e);
            break;
        case OPT_TIMEOUT:
            rc = double_option("--timeout", optarg, 0, 86400, 1, "a number of seconds in (0, 86400]",
                               &o->timeout_s, NULL, e);
            break;
        case OPT_CHUNK:
            rc = int_option("--chunk", optarg, 2, INT32_MAX, "an integer >= 2", &o->chunk, NULL, e);
            break;
        case 'n':
            rc = int_option("-n/--max-tokens", optarg, 0, INT32_MAX, "a non-negative integer",
                            &o->max_tokens, NULL, e);
            break;
        case OPT_TEMPERATURE:
            rc = double_option("--temperature", optarg, 0, HUGE_VAL, 0,
                               "a number >= 0 (0 is greedy)", &o->temperature,
                               &o->has_temperature, e);
            break;
        case OPT_TOP_K:
            rc = int_option("--top-k", optarg, 0, INT32_MAX, "a non-negative integer (0 is off)",
                            &o->top_k, &o->has_top_k, e);
            break;
        case OPT_TOP_P:
            rc = double_option("--top-p", optarg, 0, 1, 0, "a number in [0, 1] (1 is off)",
                               &o->top_p, &o->has_top_p, e);
            break;
        case OPT_MIN_P:
            rc = double_option("--min-p", optarg, 0, 1, 0, "a number in [0, 1] (0 is off)",
                               &o->min_p, &o->has_min_p, e);
            break;
        case OPT_PENALTY:
            rc = double_option("--repetition-penalty", optarg, 0, HUGE_VAL, 1,
                               "a number > 0 (1 is off)", &o->penalty, &o->has_penalty, e);
            break;
        case OPT_SEED:
            if (parse_u64(optarg, &o->seed) != 0)
                return lm_fail(e, "--seed: '%.40s' is not a non-negative 64-bit integer", optarg);
            o->has_seed = 1;
            break;
        case OPT_SEQUENCES:
            rc = int_option("--num-return-sequences", optarg, 1, MAX_SEQUENCES,
                            "an integer in [1, " TEXT_OF(MAX_SEQUENCES) "]", &o->num_sequences,
                            NULL, e);
            break;
        case OPT_LOGITS:
            o->logits_path = optarg;
            break;
        case OPT_DUMP:
            o->dump_dir = optarg;
            break;
        case 't':
            rc = int_option("-t/--threads", optarg, 1, MAX_THREADS,
                            "an integer in [1, " TEXT_OF(MAX_THREADS) "]", &o->threads, NULL, e);
            break;
        case OPT_BENCH:
            o->bench = 1;
            break;
        case OPT_STATS:
            o->stats = 1;
            break;
        case OPT_BANDWIDTH:
            rc = double_option("--bandwidth-gbs", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GB/s", &o->bandwidth_gbs, NULL, e);
            break;
        case OPT_FMA:
            rc = double_option("--fma-gflops", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GFLOP/s", &o->fma_gflops, NULL, e);
            break;
        case OPT_BF16_DOT:
            rc = double_option("--bf16-dot-gflops", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GFLOP/s", &o->bf16_dot_gflops, NULL, e);
            break;
        case OPT_INT8_DOT:
            rc = double_option("--int8-dot-gops", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GOP/s", &o->int8_dot_gops, NULL, e);
            break;
        case OPT_AMX:
            rc = double_option("--amx-gflops", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GFLOP/s", &o->amx_gflops, NULL, e);
            break;
        case OPT_AMX_INT8:
            rc = double_option("--amx-int8-gops", optarg, 0, HUGE_VAL, 1,
                               "a positive number of GOP/s", &o->amx_int8_gops, NULL, e);
            break;
        case 'h':
            cli_print_usage(stdout, prog, d);
            return 1;
        case OPT_VERSION:
            cli_print_version(prog, d);
            return 1;
        case ':':
            return lm_fail(e, "option '%s' needs a value; run '%s --help' for usage",
                           option_text(argc, argv, optind, optopt, name, sizeof name), prog);
        default:
            return lm_fail(e, "unknown or malformed option '%s'; run '%s --help' for usage",
                           option_text(argc, argv, optind, optopt, name, sizeof name), prog);
        }
    }
    if (rc != 0)
        return -1;
    if (optind < argc)
        return lm_fail(e, "unexpected argument '%.60s'; run '%s --help' for usage", argv[optind],
                       prog);
    if (!o->model_dir)
        return lm_fail(e, "no checkpoint given; pass -m CHECKPOINT_DIR (run '%s --help' for usage)",
                       prog);
    /* -m ORG/NAME[@REV] that is not a directory here: the hub cache's copy. */
    char repo[256], rev[256];
    if (lm_hub_parse_model_ref(o->model_dir, repo, sizeof repo, rev, sizeof rev)) {
        if (lm_hub_resolve_cached(repo, rev, o->model_snapshot, sizeof o->model_snapshot, e) != 0)
            return -1;
        o->model_dir = o->model_snapshot;
    }
    return check_combination(prog, o, e);
}

int lm_main(const lm_model_desc *d, int argc, char **argv)
{
    const char *prog = argc > 0 && argv[0] ? argv[0] : "model";
    const char *slash = strrchr(prog, '/');
    if (slash && slash[1])
        prog = slash + 1;

    lm_err e = {{0}};
    cli_options o;
    int parsed = parse_options(d, prog, argc, argv, &o, &e);
    if (parsed > 0)
        return 0;
    if (parsed < 0) {
        lm_print_error(prog, &e);
        return EXIT_USAGE;
    }
    if (o.mode == MODE_SERVE) {
        int status = cli_run_serve(d, &o, &e);
        if (status != 0)
            lm_print_error(prog, &e);
        return status;
    }
    if (o.mode == MODE_PERPLEXITY) {
        int status = cli_run_perplexity(d, &o, &e);
        if (status != 0)
            lm_print_error(prog, &e);
        return status;
    }
    if (o.mode != MODE_TOKENS) {
        int status = cli_run_text(d, &o, prog, &e);
        if (status != 0)
            lm_print_error(prog, &e);
        return status;
    }
    int n_prompt = 0;
    int32_t *prompt = lm_parse_token_list("--tokens", o.tokens_text, &n_prompt, &e);
    if (!prompt) {
        lm_print_error(prog, &e);
        return EXIT_USAGE;
    }
    /* An explicit -n that does not fit is an error (cli_run_tokens checks); the
     * default just stops at the end of the context. */
    if (o.max_tokens < 0) {
        int room = d->context - n_prompt;
        o.max_tokens = o.logits_path ? 0 : DEFAULT_MAX_TOKENS;
        if (o.max_tokens > room)
            o.max_tokens = room > 0 ? room : 0;
    }
    int status = cli_run_tokens(d, &o, prompt, n_prompt, &e);
    free(prompt);
    if (status != 0)
        lm_print_error(prog, &e);
    return status;
}
