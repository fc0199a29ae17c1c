/* The generated executable's driver: options, prompt, greedy generation,
 * --logits, --dump, --bench and --stats (see cli.h and DESIGN.md). */
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

#include "npy.h"
#include "session.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define MAX_THREADS 4096
#define DEFAULT_MAX_TOKENS 16

typedef struct cli_options {
    const char *model_dir;
    const char *tokens_text;
    int max_tokens; /* -1: not given */
    const char *logits_path;
    const char *dump_dir;
    int threads; /* 0: every usable CPU */
    int bench;
    int stats;
    double bandwidth_gbs; /* 0: not given */
    double fma_gflops;
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
};

static const struct option long_options[] = {
    {"model", required_argument, NULL, 'm'},
    {"tokens", required_argument, NULL, OPT_TOKENS},
    {"max-tokens", required_argument, NULL, 'n'},
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
            "Usage: %s -m CHECKPOINT_DIR --tokens IDS [options]\n"
            "Runs %s (%s, %s weights, context %d tokens), compiled by lmcc.\n"
            "\n"
            "  -m, --model DIR          Hugging Face checkpoint directory (config.json, *.safetensors)\n"
            "      --tokens 1,2,3       prompt as comma-separated token ids\n"
            "  -n, --max-tokens N       generate N tokens greedily (default %d, fewer if the context\n"
            "                           ends first; 0 with --logits)\n"
            "      --logits OUT.npy     write float32 [n_tokens, vocab] logits of every prompt position\n"
            "      --dump DIR           write each named intermediate tensor of the first forward\n"
            "                           call as DIR/<name>.npy\n"
            "  -t, --threads N          worker threads (default: every usable CPU)\n"
            "      --bench              print one JSON object of speed measurements on stdout\n"
            "                           (the generated ids then go to stderr)\n"
            "      --bandwidth-gbs X    memory bandwidth in GB/s, for --bench's decode_fraction\n"
            "      --fma-gflops Y       peak multiply-add GFLOP/s, for --bench's prefill_fraction\n"
            "      --stats              print load time, tokens/s and a logits summary on stderr\n"
            "  -h, --help               show this help and exit\n"
            "      --version            show the model and lmcc version and exit\n"
            "\n"
            "Without --bench, stdout is one line: the generated ids, comma-separated.\n",
            prog, d->name ? d->name : "this model", d->arch ? d->arch : "?",
            d->dtype_name ? d->dtype_name : "?", d->context, DEFAULT_MAX_TOKENS);
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

static int parse_positive_double(const char *s, double *out)
{
    if (!s || !*s || *s == ' ')
        return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v <= 0)
        return -1;
    *out = v;
    return 0;
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

/* Returns 0 to run, 1 when --help or --version was handled (exit 0), or -1
 * on a usage error (message in e). */
static int parse_options(const lm_model_desc *d, const char *prog, int argc, char **argv,
                         cli_options *o, lm_err *e)
{
    memset(o, 0, sizeof *o);
    o->max_tokens = -1;
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
    while ((c = getopt_long(argc, argv, ":m:n:t:h", long_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            o->model_dir = optarg;
            break;
        case OPT_TOKENS:
            o->tokens_text = optarg;
            break;
        case 'n':
            if (parse_int(optarg, 0, INT32_MAX, &v) != 0)
                return lm_fail(e, "-n/--max-tokens: '%.40s' is not a non-negative integer", optarg);
            o->max_tokens = (int)v;
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
    if (!o->tokens_text)
        return lm_fail(e, "no prompt given; pass --tokens 1,2,3 (run '%s --help' for usage)", prog);
    return 0;
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

/* Everything after option parsing; returns the exit status. */
static int run(const lm_model_desc *d, const cli_options *o, const int32_t *prompt, int n_prompt,
               lm_err *e)
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

    int status = EXIT_RUNTIME;
    float *all_logits = NULL;
    int32_t *generated = NULL;
    dump_state dump = {.dir = o->dump_dir};
    lm_session *s = lm_session_open(d, o->model_dir, o->threads, e);
    if (!s)
        return EXIT_RUNTIME;

    if (o->logits_path) {
        size_t count = (size_t)n_prompt * (size_t)d->vocab_size;
        all_logits = malloc(count * sizeof(float));
        if (!all_logits) {
            lm_fail(e, "--logits: cannot allocate %zu bytes for %d x %d logits", count * sizeof(float),
                    n_prompt, d->vocab_size);
            goto done;
        }
    }
    generated = malloc(((size_t)o->max_tokens + 1) * sizeof *generated);
    if (!generated) {
        lm_fail(e, "-n: cannot allocate %d ids", o->max_tokens);
        goto done;
    }
    if (o->dump_dir)
        lm_session_set_dump(s, dump_tensor, &dump);

    run_timing t = {.load_s = lm_session_load_seconds(s), .prefill_tokens = n_prompt};
    double start = lm_now_seconds();
    if (lm_session_feed(s, prompt, n_prompt, all_logits, e) != 0)
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

    double decode_start = 0;
    for (int i = 0; i < o->max_tokens; i++) {
        int32_t next = lm_argmax(lm_session_logits(s), d->vocab_size);
        generated[i] = next;
        if (i == 0) {
            decode_start = lm_now_seconds();
            t.ttft_s = decode_start - start;
        }
        /* The last id needs no forward: nobody reads its logits. The
         * up-front check guarantees room for the others. */
        if (i + 1 == o->max_tokens || lm_session_position(s) >= d->context)
            break;
        if (lm_session_feed(s, &next, 1, NULL, e) != 0)
            goto done;
        t.decode_tokens++;
    }
    if (t.decode_tokens > 0)
        t.decode_s = lm_now_seconds() - decode_start;

    if (o->bench) {
        print_ids(stderr, generated, o->max_tokens);
        if (print_bench(d, o, &t, e) != 0)
            goto done;
    } else {
        print_ids(stdout, generated, o->max_tokens);
    }
    fflush(stdout);
    if (o->stats)
        print_stats(s, &t, &summary);
    status = 0;

done:
    free(generated);
    free(all_logits);
    lm_session_close(s);
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
    int n_prompt = 0;
    int32_t *prompt = lm_parse_token_list(o.tokens_text, &n_prompt, &e);
    if (!prompt) {
        lm_print_error(prog, &e);
        return EXIT_USAGE;
    }
    /* An explicit -n that does not fit is an error (run() checks); the
     * default just stops at the end of the context. */
    if (o.max_tokens < 0) {
        int room = d->context - n_prompt;
        o.max_tokens = o.logits_path ? 0 : DEFAULT_MAX_TOKENS;
        if (o.max_tokens > room)
            o.max_tokens = room > 0 ? room : 0;
    }
    int status = run(d, &o, prompt, n_prompt, &e);
    free(prompt);
    if (status != 0)
        lm_print_error(prog, &e);
    return status;
}
