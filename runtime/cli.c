/* The generated executable's driver: options, then one of the modes
 *   --tokens      ids in, ids out (greedy by default), with --logits, --dump,
 *                 --bench and --stats;
 *   -p / -f       text completion;
 *   --chat        multi-turn chat REPL in the model's chat format;
 *   --interactive completion REPL;
 * (see cli.h, generate.h and DESIGN.md). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chat_template.h"
#include "generate.h"
#include "npy.h"
#include "sampler.h"
#include "session.h"
#include "tokenizer.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define MAX_THREADS 4096
#define DEFAULT_MAX_TOKENS 16
#define DEFAULT_INTERACTIVE_TOKENS 128
#define MAX_SEQUENCES 100000

typedef enum cli_mode { MODE_NONE, MODE_TOKENS, MODE_TEXT, MODE_CHAT, MODE_INTERACTIVE } cli_mode;

typedef struct cli_options {
    const char *model_dir;
    const char *tokens_text;
    const char *prompt_text;  /* -p */
    const char *prompt_file;  /* -f */
    const char *tokenizer_path;
    const char *system_text;
    int chat, interactive;
    int think;                /* -1: not given (on) */
    int stream;               /* -1: not given (on when stdout is a terminal) */
    int max_tokens;           /* -1: not given */
    int num_sequences;
    const char *logits_path;
    const char *dump_dir;
    int threads;              /* 0: every usable CPU */
    int bench;
    int stats;
    double bandwidth_gbs;     /* 0: not given */
    double fma_gflops;
    /* Sampling flags; has_* says which were given. */
    int has_temperature, has_top_k, has_top_p, has_min_p, has_penalty, has_seed;
    double temperature, top_p, min_p, penalty;
    int top_k;
    uint64_t seed;
    cli_mode mode;
} cli_options;

enum {
    OPT_TOKENS = 256,
    OPT_LOGITS,
    OPT_DUMP,
    OPT_BENCH,
    OPT_STATS,
    OPT_BANDWIDTH,
    OPT_FMA,
    OPT_VERSION,
    OPT_CHAT,
    OPT_INTERACTIVE,
    OPT_SYSTEM,
    OPT_THINK,
    OPT_NO_THINK,
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
    {"stream", no_argument, NULL, OPT_STREAM},
    {"no-stream", no_argument, NULL, OPT_NO_STREAM},
    {"tokenizer", required_argument, NULL, OPT_TOKENIZER},
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
    {"stats", no_argument, NULL, OPT_STATS},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static void print_usage(FILE *out, const char *prog, const lm_model_desc *d)
{
    fprintf(out,
            "Usage: %s -m CHECKPOINT_DIR (-p TEXT | -f FILE | --chat | --interactive | --tokens IDS)\n"
            "          [options]\n"
            "Runs %s (%s, %s weights, context %d tokens), compiled by lmcc.\n"
            "\n"
            "Input (one of):\n"
            "  -p, --prompt TEXT        complete TEXT; the generated text goes to stdout\n"
            "  -f, --file PATH          complete the exact bytes of PATH (no newline stripping)\n"
            "      --chat               chat: each line of stdin is a user turn, answered in the\n"
            "                           model's chat format (\"> \" is shown when stdin is a\n"
            "                           terminal; empty lines are skipped; end with EOF/Ctrl-D).\n"
            "                           With -p or -f, that text is the first user turn\n"
            "      --interactive        completion REPL: each line of stdin (without its newline)\n"
            "                           is appended to the text so far and the model continues\n"
            "                           it (an empty line just continues); -p/-f give the start\n"
            "      --tokens 1,2,3       prompt as comma-separated token ids; stdout is one line of\n"
            "                           generated ids per sequence, comma-separated\n"
            "\n"
            "Model and tokenizer:\n"
            "  -m, --model DIR          Hugging Face checkpoint directory (config.json, *.safetensors)\n"
            "      --tokenizer PATH     tokenizer.json, qwen.tiktoken or a directory holding one\n"
            "                           (default: the -m directory; not needed with --tokens)\n"
            "\n"
            "Chat:\n"
            "      --system TEXT        system message of the conversation\n"
            "      --think, --no-think  Qwen3 thinking on (default) or off, as its chat template\n"
            "                           renders enable_thinking; ignored for ChatML (Qwen1) models\n"
            "\n"
            "Generation:\n"
            "  -n, --max-tokens N       most new tokens per generation. Default: --tokens: %d\n"
            "                           (fewer if the context ends first; an explicit N that does\n"
            "                           not fit is an error); --interactive: %d per turn; -p, -f,\n"
            "                           --chat: until an end token or the context is full. 0 with\n"
            "                           --logits\n"
            "      --temperature T      0 is greedy; T > 0 samples\n"
            "      --top-k K            keep the K most likely tokens (0: off)\n"
            "      --top-p P            keep the smallest set of probability mass >= P (1: off)\n"
            "      --min-p P            keep tokens with probability >= P * the highest (0: off)\n"
            "      --repetition-penalty R  Hugging Face's repetition penalty (1: off)\n"
            "      --seed S             random seed, for reproducible samples (default: the clock)\n"
            "      --num-return-sequences N  N samples of the same prompt (-p, -f, --tokens); the\n"
            "                           prompt is processed once. Each ends with a newline on\n"
            "                           stdout; before the 2nd and later, stderr gets a line\n"
            "                           \"--- sequence I of N ---\"\n"
            "  Defaults: with --tokens greedy, every filter off; otherwise the checkpoint's\n"
            "  generation_config.json as Hugging Face reads it (do_sample, temperature, top_k,\n"
            "  top_p, min_p, repetition_penalty; top_k 50 and top_p 1.0 when do_sample is true\n"
            "  and they are absent), or greedy without one. Flags override. Generation stops at\n"
            "  the end-of-sequence ids of generation_config.json (else config.json) and the\n"
            "  tokenizer's <|im_end|> and <|endoftext|>, which are not printed (--tokens does not\n"
            "  stop early).\n"
            "      --stream, --no-stream  write text as it is generated (default when stdout is\n"
            "                           a terminal) or each generation when it is complete\n"
            "\n"
            "Context: a prompt longer than the context (%d tokens) is an error (exit 1). When a\n"
            "generation or a chat fills the context, it stops cleanly: what was generated is\n"
            "printed, stderr says \"context full\" (rebuild with a larger --ctx for more room),\n"
            "and the exit status is 0.\n"
            "\n"
            "Diagnostics:\n"
            "      --logits OUT.npy     write float32 [n_tokens, vocab] logits of every prompt\n"
            "                           position (--tokens, -p, -f)\n"
            "      --dump DIR           write each named intermediate tensor of the first forward\n"
            "                           call as DIR/<name>.npy (--tokens, -p, -f)\n"
            "  -t, --threads N          worker threads (default: every usable CPU)\n"
            "      --bench              print one JSON object of speed measurements on stdout\n"
            "                           (the generated ids or text then go to stderr)\n"
            "      --bandwidth-gbs X    memory bandwidth in GB/s, for --bench's decode_fraction\n"
            "      --fma-gflops Y       peak multiply-add GFLOP/s, for --bench's prefill_fraction\n"
            "      --stats              print load time, tokens/s and a logits summary on stderr\n"
            "  -h, --help               show this help and exit\n"
            "      --version            show the model and lmcc version and exit\n"
            "\n"
            "Exit status: 0 success, 1 runtime error, 2 usage error.\n",
            prog, d->name ? d->name : "this model", d->arch ? d->arch : "?",
            d->dtype_name ? d->dtype_name : "?", d->context, DEFAULT_MAX_TOKENS,
            DEFAULT_INTERACTIVE_TOKENS, d->context);
}

static void print_version(const char *prog, const lm_model_desc *d)
{
    printf("%s: %s (arch %s, %s weights, context %d, batch %d), compiled from %s by lmcc %s\n",
           prog, d->name ? d->name : "?", d->arch ? d->arch : "?",
           d->dtype_name ? d->dtype_name : "?", d->context, d->batch,
           d->config_path ? d->config_path : "?", d->lmcc_version ? d->lmcc_version : "?");
}

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

static int parse_positive_double(const char *s, double *out)
{
    return parse_double_in(s, 0, HUGE_VAL, 1, out);
}

int32_t *lm_parse_token_list(const char *text, int *n, lm_err *e)
{
    *n = 0;
    if (!text || !*text) {
        lm_fail(e, "--tokens: empty list; pass at least one id, e.g. --tokens 1,2,3");
        return NULL;
    }
    size_t items = 1;
    for (const char *p = text; *p; p++)
        items += *p == ',';
    if (items > INT32_MAX / 2) {
        lm_fail(e, "--tokens: too many items");
        return NULL;
    }
    int32_t *ids = malloc(items * sizeof *ids);
    if (!ids) {
        lm_fail(e, "--tokens: out of memory for %zu ids", items);
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
            lm_fail(e, "--tokens: item %zu '%.*s' is not a non-negative integer; "
                       "pass ids as --tokens 1,2,3",
                    i + 1, (int)(len > 40 ? 40 : len), item);
            free(ids);
            return NULL;
        }
        ids[i] = (int32_t)v;
        item = comma ? comma + 1 : item + len;
    }
    *n = (int)items;
    return ids;
}

int lm_argmax(const float *logits, int n)
{
    int best = 0;
    float best_value = -INFINITY;
    int found = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(logits[i]))
            continue;
        if (!found || logits[i] > best_value) {
            best = i;
            best_value = logits[i];
            found = 1;
        }
    }
    return best;
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

/* Which options go together; returns 0 or -1 with the clash in e. */
static int check_combination(const char *prog, cli_options *o, lm_err *e)
{
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
    if (!o->chat && (o->system_text || o->think >= 0))
        return lm_fail(e, "'%s' only applies to --chat",
                       o->system_text ? "--system" : o->think ? "--think" : "--no-think");
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
        return lm_fail(e, "no prompt given; pass -p TEXT, -f FILE, --chat, --interactive or "
                          "--tokens 1,2,3 (run '%s --help' for usage)",
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
    /* getopt keeps global state; lm_main may run more than once per process
     * (tests, embedding), so restart the scan. */
#ifdef __GLIBC__
    optind = 0;
#else
    optind = 1;
#endif
    opterr = 0;
    char name[80];
    long v;
    int c;
    while ((c = getopt_long(argc, argv, ":m:n:t:p:f:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model_dir = optarg;
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
        case OPT_STREAM:
            o->stream = 1;
            break;
        case OPT_NO_STREAM:
            o->stream = 0;
            break;
        case OPT_TOKENIZER:
            o->tokenizer_path = optarg;
            break;
        case 'n':
            if (parse_int(optarg, 0, INT32_MAX, &v) != 0)
                return lm_fail(e, "-n/--max-tokens: '%.40s' is not a non-negative integer", optarg);
            o->max_tokens = (int)v;
            break;
        case OPT_TEMPERATURE:
            if (parse_double_in(optarg, 0, HUGE_VAL, 0, &o->temperature) != 0)
                return lm_fail(e, "--temperature: '%.40s' is not a number >= 0 (0 is greedy)",
                               optarg);
            o->has_temperature = 1;
            break;
        case OPT_TOP_K:
            if (parse_int(optarg, 0, INT32_MAX, &v) != 0)
                return lm_fail(e, "--top-k: '%.40s' is not a non-negative integer (0 is off)",
                               optarg);
            o->top_k = (int)v;
            o->has_top_k = 1;
            break;
        case OPT_TOP_P:
            if (parse_double_in(optarg, 0, 1, 0, &o->top_p) != 0)
                return lm_fail(e, "--top-p: '%.40s' is not a number in [0, 1] (1 is off)", optarg);
            o->has_top_p = 1;
            break;
        case OPT_MIN_P:
            if (parse_double_in(optarg, 0, 1, 0, &o->min_p) != 0)
                return lm_fail(e, "--min-p: '%.40s' is not a number in [0, 1] (0 is off)", optarg);
            o->has_min_p = 1;
            break;
        case OPT_PENALTY:
            if (parse_positive_double(optarg, &o->penalty) != 0)
                return lm_fail(e, "--repetition-penalty: '%.40s' is not a number > 0 (1 is off)",
                               optarg);
            o->has_penalty = 1;
            break;
        case OPT_SEED:
            if (parse_u64(optarg, &o->seed) != 0)
                return lm_fail(e, "--seed: '%.40s' is not a non-negative 64-bit integer", optarg);
            o->has_seed = 1;
            break;
        case OPT_SEQUENCES:
            if (parse_int(optarg, 1, MAX_SEQUENCES, &v) != 0)
                return lm_fail(e, "--num-return-sequences: '%.40s' is not an integer in [1, %d]",
                               optarg, MAX_SEQUENCES);
            o->num_sequences = (int)v;
            break;
        case OPT_LOGITS:
            o->logits_path = optarg;
            break;
        case OPT_DUMP:
            o->dump_dir = optarg;
            break;
        case 't':
            if (parse_int(optarg, 1, MAX_THREADS, &v) != 0)
                return lm_fail(e, "-t/--threads: '%.40s' is not an integer in [1, %d]", optarg,
                               MAX_THREADS);
            o->threads = (int)v;
            break;
        case OPT_BENCH:
            o->bench = 1;
            break;
        case OPT_STATS:
            o->stats = 1;
            break;
        case OPT_BANDWIDTH:
            if (parse_positive_double(optarg, &o->bandwidth_gbs) != 0)
                return lm_fail(e, "--bandwidth-gbs: '%.40s' is not a positive number of GB/s",
                               optarg);
            break;
        case OPT_FMA:
            if (parse_positive_double(optarg, &o->fma_gflops) != 0)
                return lm_fail(e, "--fma-gflops: '%.40s' is not a positive number of GFLOP/s",
                               optarg);
            break;
        case 'h':
            print_usage(stdout, prog, d);
            return 1;
        case OPT_VERSION:
            print_version(prog, d);
            return 1;
        case ':':
            return lm_fail(e, "option '%s' needs a value; run '%s --help' for usage",
                           option_text(argc, argv, optind, optopt, name, sizeof name), prog);
        default:
            return lm_fail(e, "unknown or malformed option '%s'; run '%s --help' for usage",
                           option_text(argc, argv, optind, optopt, name, sizeof name), prog);
        }
    }
    if (optind < argc)
        return lm_fail(e, "unexpected argument '%.60s'; run '%s --help' for usage", argv[optind],
                       prog);
    if (!o->model_dir)
        return lm_fail(e, "no checkpoint given; pass -m CHECKPOINT_DIR (run '%s --help' for usage)",
                       prog);
    return check_combination(prog, o, e);
}

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir, lm_err *e)
{
    size_t len = strlen(dir);
    char *path = malloc(len + 1);
    if (!path)
        return lm_fail(e, "--dump: out of memory");
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        struct stat st;
        if (mkdir(path, 0777) != 0 && !(errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
            int err = errno;
            lm_fail(e, "--dump: cannot create directory %s: %s", path,
                    err == EEXIST ? "a file of that name exists" : strerror(err));
            free(path);
            return -1;
        }
        path[i] = saved;
    }
    free(path);
    return 0;
}

typedef struct dump_state {
    const char *dir;
    int written;
    int failed;
    lm_err err;
} dump_state;

/* The forward's dump hook: one .npy per named tensor. Errors are kept and
 * reported after the forward, which cannot be interrupted. */
static void dump_tensor(void *user, const char *name, const float *data, int rows, int cols)
{
    dump_state *ds = user;
    if (ds->failed)
        return;
    size_t size = strlen(ds->dir) + strlen(name) + 16;
    char *path = malloc(size);
    if (!path) {
        ds->failed = 1;
        lm_fail(&ds->err, "--dump: out of memory");
        return;
    }
    int n = snprintf(path, size, "%s/", ds->dir);
    /* Tensor names are dotted paths; keep them one file each. */
    for (const char *p = *name ? name : "unnamed"; *p; p++)
        path[n++] = *p == '/' ? '_' : *p;
    memcpy(path + n, ".npy", 5);
    if (lm_npy_write_f32(path, data, rows, cols, &ds->err) != 0)
        ds->failed = 1;
    else
        ds->written++;
    free(path);
}

static long long peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f) {
        char line[256];
        long long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
                break;
        fclose(f);
        if (kb >= 0)
            return kb * 1024;
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        return (long long)ru.ru_maxrss * 1024; /* kB on Linux */
    return -1;
}

/* A real, or null when the measurement does not exist. */
static json_t *json_rate(double numerator, double seconds)
{
    if (!(seconds > 0) || !isfinite(numerator / seconds))
        return json_null();
    return json_real(numerator / seconds);
}

typedef struct run_timing {
    double load_s;
    int prefill_tokens;
    double prefill_s;
    double ttft_s;
    int decode_tokens;
    double decode_s;
} run_timing;

static int print_bench(const lm_model_desc *d, const cli_options *o, const run_timing *t,
                       lm_err *e)
{
    json_t *prefill_tps = json_rate(t->prefill_tokens, t->prefill_s);
    json_t *decode_tps = json_rate(t->decode_tokens, t->decode_s);
    json_t *prefill_fraction = json_null(), *decode_fraction = json_null();
    if (o->fma_gflops > 0 && json_is_real(prefill_tps))
        prefill_fraction = json_real(json_real_value(prefill_tps) * 2.0 *
                                     (double)d->params_per_token / (o->fma_gflops * 1e9));
    if (o->bandwidth_gbs > 0 && json_is_real(decode_tps))
        decode_fraction = json_real(json_real_value(decode_tps) *
                                    (double)d->weight_bytes_per_token / (o->bandwidth_gbs * 1e9));
    long long rss = peak_rss_bytes();
    json_t *obj = json_object();
    json_object_set_new(obj, "model", json_string(d->name ? d->name : ""));
    json_object_set_new(obj, "dtype", json_string(d->dtype_name ? d->dtype_name : ""));
    json_object_set_new(obj, "weight_bytes_per_token", json_integer(d->weight_bytes_per_token));
    json_object_set_new(obj, "prefill_tokens", json_integer(t->prefill_tokens));
    json_object_set_new(obj, "prefill_tps", prefill_tps);
    json_object_set_new(obj, "prefill_fraction", prefill_fraction);
    json_object_set_new(obj, "decode_tokens", json_integer(t->decode_tokens));
    json_object_set_new(obj, "decode_tps", decode_tps);
    json_object_set_new(obj, "decode_fraction", decode_fraction);
    json_object_set_new(obj, "ttft_s", json_real(t->ttft_s));
    json_object_set_new(obj, "load_s", json_real(t->load_s));
    json_object_set_new(obj, "peak_rss_bytes", rss >= 0 ? json_integer(rss) : json_null());
    char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!text)
        return lm_fail(e, "--bench: cannot format the JSON report");
    printf("%s\n", text);
    free(text);
    return 0;
}

typedef struct logits_summary {
    int position;
    float min, max;
    double mean;
    int top_ids[5];
    float top_values[5];
    int top_n;
} logits_summary;

static void summarize_logits(const float *x, int n, int position, logits_summary *s)
{
    memset(s, 0, sizeof *s);
    s->position = position;
    s->min = INFINITY;
    s->max = -INFINITY;
    double sum = 0;
    for (int i = 0; i < n; i++) {
        s->min = fminf(s->min, x[i]);
        s->max = fmaxf(s->max, x[i]);
        sum += x[i];
        /* Insert into the sorted top list; earlier ids win ties. */
        int k = s->top_n < 5 ? s->top_n : 5;
        while (k > 0 && x[i] > s->top_values[k - 1])
            k--;
        if (k < 5) {
            int last = s->top_n < 5 ? s->top_n : 4;
            for (int j = last; j > k; j--) {
                s->top_ids[j] = s->top_ids[j - 1];
                s->top_values[j] = s->top_values[j - 1];
            }
            s->top_ids[k] = i;
            s->top_values[k] = x[i];
            if (s->top_n < 5)
                s->top_n++;
        }
    }
    s->mean = n > 0 ? sum / n : 0;
}

static void print_stats(const lm_session *s, const run_timing *t, const logits_summary *ls)
{
    fprintf(stderr, "load: %.3f s, %d threads\n", t->load_s, lm_session_threads(s));
    fprintf(stderr, "prefill: %d tokens in %.3f s (%.2f tokens/s), first token after %.3f s\n",
            t->prefill_tokens, t->prefill_s, t->prefill_s > 0 ? t->prefill_tokens / t->prefill_s : 0,
            t->ttft_s);
    if (t->decode_tokens > 0)
        fprintf(stderr, "decode: %d tokens in %.3f s (%.2f tokens/s)\n", t->decode_tokens,
                t->decode_s, t->decode_s > 0 ? t->decode_tokens / t->decode_s : 0);
    else
        fprintf(stderr, "decode: no tokens\n");
    fprintf(stderr, "logits at position %d: min %.6g max %.6g mean %.6g; top-5:", ls->position,
            ls->min, ls->max, ls->mean);
    for (int i = 0; i < ls->top_n; i++)
        fprintf(stderr, " %d (%.6g)", ls->top_ids[i], ls->top_values[i]);
    fprintf(stderr, "\n");
}

static void print_ids(FILE *out, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(out, i ? ",%d" : "%d", ids[i]);
    fprintf(out, "\n");
}

/* ---- sampling settings ------------------------------------------------- */

/* Explicit flags over the defaults in *p; a seed from the clock when none
 * is given, so unseeded samples differ between runs as in Hugging Face. */
static void apply_sampling_flags(const cli_options *o, lm_sampler_params *p)
{
    if (o->has_temperature)
        p->temperature = (float)o->temperature;
    if (o->has_top_k)
        p->top_k = o->top_k;
    if (o->has_top_p)
        p->top_p = (float)o->top_p;
    if (o->has_min_p)
        p->min_p = (float)o->min_p;
    if (o->has_penalty)
        p->repetition_penalty = (float)o->penalty;
    if (o->has_seed) {
        p->seed = o->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p->seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
                  ((uint64_t)getpid() << 32);
    }
}

/* A sampler, or NULL with *e untouched when plain argmax decides (greedy
 * and no repetition penalty); *failed tells the two NULLs apart. */
static lm_sampler *make_sampler(const lm_sampler_params *p, int vocab, int *failed, lm_err *e)
{
    *failed = 0;
    if (p->temperature == 0 && p->repetition_penalty == 1.0f)
        return NULL;
    lm_sampler *s = lm_sampler_new(p, vocab, e);
    *failed = !s;
    return s;
}

/* ---- --tokens ---------------------------------------------------------- */

static int collect_id(void *user, int32_t id, lm_err *e)
{
    return lm_ids_push(user, id, e);
}

static void sequence_separator(int i, int n)
{
    if (i > 0) {
        fflush(stdout);
        fprintf(stderr, "--- sequence %d of %d ---\n", i + 1, n);
    }
}

/* Everything after option parsing for --tokens; returns the exit status. */
static int run_tokens(const lm_model_desc *d, const cli_options *o, const int32_t *prompt,
                      int n_prompt, lm_err *e)
{
    if (lm_check_tokens(d, prompt, n_prompt, 0, e) != 0)
        return EXIT_RUNTIME;
    if ((int64_t)n_prompt + o->max_tokens > d->context) {
        lm_fail(e, "-n: %d prompt tokens plus %d new tokens exceed the model's context of %d tokens; "
                   "lower -n or build the model with a larger --ctx",
                n_prompt, o->max_tokens, d->context);
        return EXIT_RUNTIME;
    }
    if (o->dump_dir && make_dirs(o->dump_dir, e) != 0)
        return EXIT_RUNTIME;

    lm_sampler_params sp = lm_sampler_params_default();
    apply_sampling_flags(o, &sp);
    int failed;
    lm_sampler *sampler = make_sampler(&sp, d->vocab_size, &failed, e);
    if (failed)
        return EXIT_RUNTIME;

    int status = EXIT_RUNTIME;
    float *all_logits = NULL;
    lm_ids generated = {0};
    lm_gen *g = NULL;
    dump_state dump = {.dir = o->dump_dir};
    lm_session *s = lm_session_open(d, o->model_dir, o->threads, e);
    if (!s)
        goto done;
    if (!(g = lm_gen_new(s, e)))
        goto done;

    if (o->logits_path) {
        size_t count = (size_t)n_prompt * (size_t)d->vocab_size;
        all_logits = malloc(count * sizeof(float));
        if (!all_logits) {
            lm_fail(e, "--logits: cannot allocate %zu bytes for %d x %d logits", count * sizeof(float),
                    n_prompt, d->vocab_size);
            goto done;
        }
    }
    if (o->dump_dir)
        lm_session_set_dump(s, dump_tensor, &dump);

    run_timing t = {.load_s = lm_session_load_seconds(s), .prefill_tokens = n_prompt};
    double start = lm_now_seconds();
    if (lm_gen_prefill(g, prompt, n_prompt, all_logits, e) < 0)
        goto done;
    t.prefill_s = lm_now_seconds() - start;
    t.ttft_s = t.prefill_s;

    if (o->dump_dir) {
        if (dump.failed) {
            *e = dump.err;
            goto done;
        }
        fprintf(stderr, "dumped %d tensors to %s\n", dump.written, o->dump_dir);
    }
    if (o->logits_path &&
        lm_npy_write_f32(o->logits_path, all_logits, n_prompt, d->vocab_size, e) != 0)
        goto done;

    logits_summary summary;
    summarize_logits(lm_session_logits(s), d->vocab_size, n_prompt - 1, &summary);

    /* --tokens generates exactly -n ids: no stop ids. */
    lm_gen_opts go = {.max_new = o->max_tokens, .on_token = collect_id, .user = &generated};
    for (int seq = 0; seq < o->num_sequences; seq++) {
        lm_gen_result r;
        generated.n = 0;
        if (seq > 0 && lm_gen_prefill(g, prompt, n_prompt, NULL, e) < 0)
            goto done;
        if (lm_gen_run(g, sampler, &go, &r, e) != 0)
            goto done;
        if (seq == 0) {
            if (r.first_token_at > 0)
                t.ttft_s = r.first_token_at - start;
            t.decode_tokens = r.fed;
            if (r.fed > 0)
                t.decode_s = r.end_at - r.first_token_at;
        }
        sequence_separator(seq, o->num_sequences);
        print_ids(o->bench ? stderr : stdout, generated.v, (int)generated.n);
    }
    if (o->bench && print_bench(d, o, &t, e) != 0)
        goto done;
    fflush(stdout);
    if (o->stats)
        print_stats(s, &t, &summary);
    status = 0;

done:
    lm_ids_free(&generated);
    free(all_logits);
    lm_gen_free(g);
    lm_session_close(s);
    lm_sampler_free(sampler);
    return status;
}

/* ---- text modes -------------------------------------------------------- */

typedef struct text_run {
    const lm_model_desc *d;
    const cli_options *o;
    const char *prog;
    lm_tokenizer *tok;
    lm_sampler *sampler; /* NULL: argmax */
    lm_ids stop;
    lm_session *s;
    lm_gen *g;
    lm_text_out out;
    lm_bytes first; /* the text of -p or -f, when given */
    int has_first;
} text_run;

static int read_whole_file(const char *path, lm_bytes *out, lm_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_fail(e, "-f: cannot open %s: %s", path, strerror(errno));
    char buf[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        if ((rc = lm_bytes_append(out, buf, n, e)) != 0)
            break;
    if (rc == 0 && ferror(f))
        rc = lm_fail(e, "-f: cannot read %s: %s", path, strerror(errno));
    fclose(f);
    /* Make text exist and be NUL-terminated even for an empty file. */
    return rc == 0 ? lm_bytes_append(out, "", 0, e) : -1;
}

/* The tokenizer, sampling settings, stop ids and the first text: all that
 * can fail before the checkpoint is opened. */
static int text_prepare(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    if (o->prompt_file) {
        if (read_whole_file(o->prompt_file, &tr->first, e) != 0)
            return -1;
        tr->has_first = 1;
    } else if (o->prompt_text) {
        if (lm_bytes_append(&tr->first, o->prompt_text, strlen(o->prompt_text), e) != 0)
            return -1;
        tr->has_first = 1;
    }
    const char *tok_path = o->tokenizer_path ? o->tokenizer_path : o->model_dir;
    if (!(tr->tok = lm_tokenizer_load(tok_path, e)))
        return -1;
    lm_sampler_params sp;
    int found;
    if (lm_gen_config_load(o->model_dir, &sp, &found, e) != 0)
        return -1;
    apply_sampling_flags(o, &sp);
    int failed;
    tr->sampler = make_sampler(&sp, tr->d->vocab_size, &failed, e);
    if (failed)
        return -1;
    if (lm_gen_eos_ids(o->model_dir, &tr->stop, e) != 0 ||
        lm_gen_tokenizer_stops(tr->tok, &tr->stop, e) != 0)
        return -1;
    int stream = o->stream >= 0 ? o->stream : isatty(fileno(stdout));
    lm_text_out_init(&tr->out, tr->tok, o->bench ? stderr : stdout, o->bench ? 0 : stream);
    return 0;
}

static int text_open(text_run *tr, lm_err *e)
{
    if (!(tr->s = lm_session_open(tr->d, tr->o->model_dir, tr->o->threads, e)))
        return -1;
    return (tr->g = lm_gen_new(tr->s, e)) ? 0 : -1;
}

static void text_close(text_run *tr)
{
    lm_text_out_free(&tr->out);
    lm_gen_free(tr->g);
    lm_session_close(tr->s);
    lm_sampler_free(tr->sampler);
    lm_ids_free(&tr->stop);
    lm_tokenizer_free(tr->tok);
    lm_bytes_free(&tr->first);
}

static void report_context_full(const text_run *tr, int needed)
{
    fflush(stdout);
    if (needed > 0)
        fprintf(stderr, "%s: context full: the conversation needs %d tokens, the model's context "
                        "holds %d; stopping. Build the model with a larger --ctx for longer "
                        "conversations.\n",
                tr->prog, needed, tr->d->context);
    else
        fprintf(stderr, "%s: context full: all %d tokens of the model's context are used; "
                        "stopping. Build the model with a larger --ctx for longer generations.\n",
                tr->prog, tr->d->context);
}

/* Generates after the prefilled prompt into tr->out (streamed or written
 * at the end), then ends the text with a newline. */
static int generate_text(text_run *tr, int max_new, lm_gen_result *r, lm_err *e)
{
    lm_text_out_begin(&tr->out);
    lm_gen_opts go = {.max_new = max_new, .stop = tr->stop.v, .n_stop = (int)tr->stop.n,
                      .on_token = lm_text_out_token, .user = &tr->out};
    if (lm_gen_run(tr->g, tr->sampler, &go, r, e) != 0 || lm_text_out_finish(&tr->out, e) != 0)
        return -1;
    if (fputc('\n', tr->out.f) == EOF || fflush(tr->out.f) != 0)
        return lm_fail(e, "output: write failed: %s", strerror(errno));
    if (r->end == LM_GEN_CONTEXT_FULL)
        report_context_full(tr, 0);
    return 0;
}

/* -p / -f: completion, optionally several samples of one prompt. */
static int run_completion(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    const lm_model_desc *d = tr->d;
    lm_ids ids = {0};
    float *all_logits = NULL;
    dump_state dump = {.dir = o->dump_dir};
    int status = EXIT_RUNTIME;
    if (lm_tokenizer_encode(tr->tok, tr->first.v, tr->first.n, 1, &ids, e) != 0)
        goto done;
    int n = (int)ids.n;
    if (n == 0) {
        lm_fail(e, "prompt: the prompt is empty; give some text with -p or -f");
        goto done;
    }
    if (n > d->context) {
        lm_fail(e, "prompt: %d tokens exceed the model's context of %d tokens; shorten the input "
                   "or build the model with a larger --ctx",
                n, d->context);
        goto done;
    }
    if (lm_check_tokens(d, ids.v, n, 0, e) != 0)
        goto done;
    if (o->dump_dir && make_dirs(o->dump_dir, e) != 0)
        goto done;
    if (text_open(tr, e) != 0)
        goto done;
    if (o->logits_path) {
        size_t count = (size_t)n * (size_t)d->vocab_size;
        if (!(all_logits = malloc(count * sizeof(float)))) {
            lm_fail(e, "--logits: cannot allocate %zu bytes for %d x %d logits",
                    count * sizeof(float), n, d->vocab_size);
            goto done;
        }
    }
    if (o->dump_dir)
        lm_session_set_dump(tr->s, dump_tensor, &dump);

    run_timing t = {.load_s = lm_session_load_seconds(tr->s), .prefill_tokens = n};
    double start = lm_now_seconds();
    if (lm_gen_prefill(tr->g, ids.v, n, all_logits, e) < 0)
        goto done;
    t.prefill_s = lm_now_seconds() - start;
    t.ttft_s = t.prefill_s;
    if (o->dump_dir) {
        if (dump.failed) {
            *e = dump.err;
            goto done;
        }
        fprintf(stderr, "dumped %d tensors to %s\n", dump.written, o->dump_dir);
    }
    if (o->logits_path && lm_npy_write_f32(o->logits_path, all_logits, n, d->vocab_size, e) != 0)
        goto done;
    logits_summary summary;
    summarize_logits(lm_session_logits(tr->s), d->vocab_size, n - 1, &summary);

    int max_new = o->max_tokens >= 0 ? o->max_tokens : o->logits_path ? 0 : -1;
    for (int seq = 0; seq < o->num_sequences; seq++) {
        lm_gen_result r;
        /* Later samples reuse the prompt's cache and logits: nothing is fed. */
        if (seq > 0 && lm_gen_prefill(tr->g, ids.v, n, NULL, e) < 0)
            goto done;
        sequence_separator(seq, o->num_sequences);
        if (generate_text(tr, max_new, &r, e) != 0)
            goto done;
        if (seq == 0) {
            if (r.first_token_at > 0)
                t.ttft_s = r.first_token_at - start;
            t.decode_tokens = r.fed;
            if (r.fed > 0)
                t.decode_s = r.end_at - r.first_token_at;
        }
    }
    if (o->bench && print_bench(d, o, &t, e) != 0)
        goto done;
    fflush(stdout);
    if (o->stats)
        print_stats(tr->s, &t, &summary);
    status = 0;
done:
    free(all_logits);
    lm_ids_free(&ids);
    return status;
}

/* One line of stdin without its line ending, or NULL at EOF. The marker
 * is shown only to a person at a terminal. */
static char *read_line(char **buf, size_t *cap)
{
    if (isatty(fileno(stdin))) {
        fputs("> ", stdout);
        fflush(stdout);
    }
    ssize_t len = getline(buf, cap, stdin);
    if (len < 0)
        return NULL;
    while (len > 0 && ((*buf)[len - 1] == '\n' || (*buf)[len - 1] == '\r'))
        (*buf)[--len] = '\0';
    return *buf;
}

/* Encoded prompt that must fit: on the first turn a prompt longer than the
 * context is an error; later, the conversation has filled it. Returns 1 to
 * go on, 0 to stop cleanly, -1 on error. */
static int check_turn_fits(text_run *tr, const lm_ids *ids, int turn, lm_err *e)
{
    if (ids->n <= (size_t)tr->d->context)
        return 1;
    if (turn == 0)
        return lm_fail(e, "prompt: %zu tokens exceed the model's context of %d tokens; shorten "
                          "the input or build the model with a larger --ctx",
                       ids->n, tr->d->context);
    report_context_full(tr, (int)ids->n);
    return 0;
}

typedef struct chat_log {
    lm_chat_msg *v;
    size_t n, cap;
} chat_log;

/* Appends a message that owns a copy of content. */
static int chat_push(chat_log *c, const char *role, const char *content, lm_err *e)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        lm_chat_msg *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return lm_fail(e, "chat: out of memory");
        c->v = v;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy)
        return lm_fail(e, "chat: out of memory");
    c->v[c->n++] = (lm_chat_msg){.role = role, .content = copy, .reasoning = NULL};
    return 0;
}

static void chat_free(chat_log *c)
{
    for (size_t i = 0; i < c->n; i++)
        free((char *)c->v[i].content);
    free(c->v);
}

/* --chat: the whole conversation is rendered every turn; the generator
 * feeds only what differs from the cache. */
static int run_chat(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    chat_log log = {0};
    lm_ids ids = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int status = EXIT_RUNTIME;
    lm_chat_format format = lm_chat_format_for(tr->tok);
    lm_chat_opts opts = {.add_generation_prompt = 1, .enable_thinking = o->think != 0};
    if (o->system_text && chat_push(&log, "system", o->system_text, e) != 0)
        goto done;
    if (text_open(tr, e) != 0)
        goto done;
    int from_first = tr->has_first;
    for (int turn = 0;; turn++) {
        const char *user;
        if (from_first) {
            user = tr->first.v;
            from_first = 0;
        } else {
            do {
                user = read_line(&line, &line_cap);
            } while (user && !*user);
            if (!user) {
                if (isatty(fileno(stdin)))
                    fputs("\n", stdout);
                break;
            }
        }
        if (chat_push(&log, "user", user, e) != 0)
            goto done;
        ids.n = 0;
        if (lm_chat_encode(tr->tok, format, log.v, log.n, opts, &ids, e) != 0)
            goto done;
        int fits = check_turn_fits(tr, &ids, turn, e);
        if (fits < 0)
            goto done;
        if (fits == 0)
            break;
        lm_gen_result r;
        if (lm_gen_prefill(tr->g, ids.v, (int)ids.n, NULL, e) < 0 ||
            generate_text(tr, o->max_tokens, &r, e) != 0)
            goto done;
        /* What the model said, without its end token, as the template
         * renders it in the next turn. */
        if (chat_push(&log, "assistant", tr->out.text.v ? tr->out.text.v : "", e) != 0)
            goto done;
        if (r.end == LM_GEN_CONTEXT_FULL)
            break;
    }
    status = 0;
done:
    free(line);
    lm_ids_free(&ids);
    chat_free(&log);
    return status;
}

/* --interactive: the text grows by each input line and each continuation. */
static int run_interactive(text_run *tr, lm_err *e)
{
    const cli_options *o = tr->o;
    lm_bytes text = {0};
    lm_ids ids = {0};
    char *line = NULL;
    size_t line_cap = 0;
    int status = EXIT_RUNTIME;
    int max_new = o->max_tokens >= 0 ? o->max_tokens : DEFAULT_INTERACTIVE_TOKENS;
    if (text_open(tr, e) != 0)
        goto done;
    int from_first = tr->has_first;
    if (from_first && lm_bytes_append(&text, tr->first.v, tr->first.n, e) != 0)
        goto done;
    for (int turn = 0;;) {
        if (!from_first) {
            const char *add = read_line(&line, &line_cap);
            if (!add) {
                if (isatty(fileno(stdin)))
                    fputs("\n", stdout);
                break;
            }
            if (lm_bytes_append(&text, add, strlen(add), e) != 0)
                goto done;
        }
        from_first = 0;
        ids.n = 0;
        if (lm_tokenizer_encode(tr->tok, text.v ? text.v : "", text.n, 1, &ids, e) != 0)
            goto done;
        if (ids.n == 0)
            continue; /* nothing to continue from yet */
        int fits = check_turn_fits(tr, &ids, turn, e);
        if (fits < 0)
            goto done;
        if (fits == 0)
            break;
        lm_gen_result r;
        if (lm_gen_prefill(tr->g, ids.v, (int)ids.n, NULL, e) < 0 ||
            generate_text(tr, max_new, &r, e) != 0)
            goto done;
        if (lm_bytes_append(&text, tr->out.text.v, tr->out.text.n, e) != 0)
            goto done;
        turn++;
        if (r.end == LM_GEN_CONTEXT_FULL)
            break;
    }
    status = 0;
done:
    free(line);
    lm_ids_free(&ids);
    lm_bytes_free(&text);
    return status;
}

static int run_text(const lm_model_desc *d, const cli_options *o, const char *prog, lm_err *e)
{
    text_run tr = {.d = d, .o = o, .prog = prog};
    int status = EXIT_RUNTIME;
    if (text_prepare(&tr, e) == 0) {
        if (o->mode == MODE_CHAT)
            status = run_chat(&tr, e);
        else if (o->mode == MODE_INTERACTIVE)
            status = run_interactive(&tr, e);
        else
            status = run_completion(&tr, e);
    }
    text_close(&tr);
    return status;
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
    if (o.mode != MODE_TOKENS) {
        int status = run_text(d, &o, prog, &e);
        if (status != 0)
            lm_print_error(prog, &e);
        return status;
    }
    int n_prompt = 0;
    int32_t *prompt = lm_parse_token_list(o.tokens_text, &n_prompt, &e);
    if (!prompt) {
        lm_print_error(prog, &e);
        return EXIT_USAGE;
    }
    /* An explicit -n that does not fit is an error (run_tokens checks); the
     * default just stops at the end of the context. */
    if (o.max_tokens < 0) {
        int room = d->context - n_prompt;
        o.max_tokens = o.logits_path ? 0 : DEFAULT_MAX_TOKENS;
        if (o.max_tokens > room)
            o.max_tokens = room > 0 ? room : 0;
    }
    int status = run_tokens(d, &o, prompt, n_prompt, &e);
    free(prompt);
    if (status != 0)
        lm_print_error(prog, &e);
    return status;
}
