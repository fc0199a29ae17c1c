/* The diagnostics of one prompt's run (--tokens, -p, -f): its prefill with
 * --logits and --dump, the timing of it and of the first sample, then
 * --bench's JSON object on stdout and --stats' lines on stderr. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../weights/hugemap.h"
#include "../weights/npy.h"
#include "../weights/weight_cache.h"
#include "internal.h"

/* mkdir -p: creates dir and its missing parents. */
int cli_make_dirs(const char *dir, lm_err *e)
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

/* How evenly a run routed its tokens: per layer, the busiest expert's
 * tokens over the mean (1 is perfectly even, E / k the worst: every token
 * on the same k experts), their mean and largest over the layers, and how
 * many (layer, expert) pairs got no token. Null for a dense model. */
static json_t *routing_skew(const lm_model_desc *d, const lm_session *s)
{
    const uint64_t *counts = lm_session_expert_tokens(s);
    if (!counts || d->moe_layers <= 0 || d->moe_experts <= 0)
        return json_null();
    double skew_sum = 0, skew_max = 0;
    uint64_t routed = 0, idle = 0;
    for (int l = 0; l < d->moe_layers; l++) {
        const uint64_t *c = counts + (size_t)l * d->moe_experts;
        uint64_t total = 0, most = 0;
        for (int x = 0; x < d->moe_experts; x++) {
            total += c[x];
            most = c[x] > most ? c[x] : most;
            idle += c[x] == 0;
        }
        routed += total;
        const double skew = total ? (double)most * d->moe_experts / (double)total : 0.0;
        skew_sum += skew;
        skew_max = skew > skew_max ? skew : skew_max;
    }
    json_t *obj = json_object();
    json_object_set_new(obj, "layers", json_integer(d->moe_layers));
    json_object_set_new(obj, "experts", json_integer(d->moe_experts));
    json_object_set_new(obj, "tokens_routed", json_integer((json_int_t)routed));
    json_object_set_new(obj, "skew_mean", json_real(skew_sum / d->moe_layers));
    json_object_set_new(obj, "skew_max", json_real(skew_max));
    json_object_set_new(obj, "idle_experts", json_integer((json_int_t)idle));
    return obj;
}

static int print_bench(const lm_model_desc *d, const cli_options *o, const lm_session *s,
                       const run_timing *t, lm_err *e)
{
    json_t *prefill_tps = json_rate(t->prefill_tokens, t->prefill_s);
    json_t *decode_tps = json_rate(t->decode_tokens, t->decode_s);
    json_t *prefill_fraction = json_null(), *decode_fraction = json_null();
    /* Against the peak of the instructions the linears use. */
    const char *kernel = d->matmul_kernel ? d->matmul_kernel : "f32-fma";
    const double peak = strcmp(kernel, "amx-bf16") == 0      ? o->amx_gflops
                        : strcmp(kernel, "amx-bf16x2") == 0  ? o->amx_gflops / 2
                        : strcmp(kernel, "amx-bf16x3") == 0  ? o->amx_gflops / 3
                        : strcmp(kernel, "amx-int8") == 0    ? o->amx_int8_gops
                        : strcmp(kernel, "avx512-bf16") == 0 ? o->bf16_dot_gflops
                        : strcmp(kernel, "int8-vnni") == 0   ? o->int8_dot_gops
                                                             : o->fma_gflops;
    if (peak > 0 && json_is_real(prefill_tps)) {
        /* The multiply-adds the prefill does: every linear for every token,
         * the output head once per forward call of up to `batch` tokens. */
        const int calls = (t->prefill_tokens + d->batch - 1) / d->batch;
        const double flops = 2.0 * ((double)(d->params_per_token - d->head_params) * t->prefill_tokens +
                                    (double)d->head_params * calls);
        prefill_fraction = json_real(flops / t->prefill_s / (peak * 1e9));
    }
    /* What a decode step reads: every weight, and the KV cache of every
     * position it attends to (step i of the decode sits at position
     * prefill_tokens + i and attends to one more), on average over the
     * steps measured. */
    const double seen = (double)t->prefill_tokens + (t->decode_tokens + 1) / 2.0;
    /* Sliding-window layers read at most their window. */
    const double window_seen = d->window > 0 && seen > d->window ? d->window : seen;
    const double decode_bytes = (double)d->weight_bytes_per_token +
                                4.0 * ((double)d->kv_full_position_floats * seen +
                                       (double)d->kv_window_position_floats * window_seen);
    if (o->bandwidth_gbs > 0 && json_is_real(decode_tps))
        decode_fraction = json_real(json_real_value(decode_tps) * decode_bytes / (o->bandwidth_gbs * 1e9));
    long long rss = peak_rss_bytes();
    json_t *obj = json_object();
    json_object_set_new(obj, "model", json_string(d->name ? d->name : ""));
    json_object_set_new(obj, "dtype", json_string(d->dtype_name ? d->dtype_name : ""));
    json_object_set_new(obj, "matmul_input", json_string(d->matmul_input ? d->matmul_input : "f32"));
    json_object_set_new(obj, "matmul_kernel", json_string(kernel));
    json_object_set_new(obj, "weight_bytes_per_token", json_integer(d->weight_bytes_per_token));
    json_object_set_new(obj, "prefill_tokens", json_integer(t->prefill_tokens));
    json_object_set_new(obj, "prefill_tps", prefill_tps);
    json_object_set_new(obj, "prefill_fraction", prefill_fraction);
    json_object_set_new(obj, "decode_tokens", json_integer(t->decode_tokens));
    json_object_set_new(obj, "decode_tps", decode_tps);
    json_object_set_new(obj, "decode_bytes_per_token", json_integer((json_int_t)decode_bytes));
    json_object_set_new(obj, "decode_fraction", decode_fraction);
    json_object_set_new(obj, "ttft_s", json_real(t->ttft_s));
    json_object_set_new(obj, "load_s", json_real(t->load_s));
    json_object_set_new(obj, "peak_rss_bytes", rss >= 0 ? json_integer(rss) : json_null());
    json_object_set_new(obj, "moe_routing", routing_skew(d, s));
    char *text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!text)
        return lm_fail(e, "--bench: cannot format the JSON report");
    printf("%s\n", text);
    free(text);
    return 0;
}

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
    char cached[128] = "";
    if (lm_session_weights_from_cache(s) == LM_CACHE_MAPPED)
        snprintf(cached, sizeof cached, "; quantized weights from the weight cache, mapped (%.1f MB on 2 MiB pages)",
                 (double)lm_session_cache_huge_bytes(s) / 1e6);
    else if (lm_session_weights_from_cache(s) == LM_CACHE_READ)
        snprintf(cached, sizeof cached, "; quantized weights from the weight cache, read");
    fprintf(stderr, "load: %.3f s, %d threads; checkpoint %.1f MB, %.1f MB of it mapped on 2 MiB pages%s\n",
            t->load_s, lm_session_threads(s), (double)lm_session_checkpoint_bytes(s) / 1e6,
            (double)lm_session_checkpoint_huge_bytes(s) / 1e6, cached);
    const lm_model_desc *d = lm_session_model(s);
    const int slots = lm_session_slots(s);
    if (d->kv_window_floats > 0)
        fprintf(stderr,
                "kv cache: %.1f MiB a sequence at the full context (%d sequences): %.1f MiB for the %d "
                "positions of the full layers, %.1f MiB of rings for windows of %d\n",
                (double)d->kv_floats * 4 / 1048576, slots,
                (double)(d->kv_floats - d->kv_window_floats) * 4 / 1048576, d->context,
                (double)d->kv_window_floats * 4 / 1048576, d->window);
    else
        fprintf(stderr, "kv cache: %.1f MiB a sequence at the full context of %d positions (%d sequences)\n",
                (double)d->kv_floats * 4 / 1048576, d->context, slots);
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


/* ---- one prompt's run ---------------------------------------------------- */

int cli_prompt_prefill(const lm_model_desc *d, const cli_options *o, lm_session *s, lm_gen *g,
                       const int32_t *ids, int n, prompt_run *pr, lm_err *e)
{
    float *all_logits = NULL;
    dump_state dump = {.dir = o->dump_dir};
    int rc = -1;
    if (o->logits_path) {
        size_t count = (size_t)n * (size_t)d->vocab_size;
        if (!(all_logits = malloc(count * sizeof(float)))) {
            lm_fail(e, "--logits: cannot allocate %zu bytes for %d x %d logits",
                    count * sizeof(float), n, d->vocab_size);
            return -1;
        }
    }
    if (o->dump_dir)
        lm_session_set_dump(s, dump_tensor, &dump);

    *pr = (prompt_run){.t = {.load_s = lm_session_load_seconds(s), .prefill_tokens = n}};
    pr->start = lm_now_seconds();
    if (lm_gen_prefill(g, ids, n, all_logits, e) < 0)
        goto done;
    pr->t.prefill_s = lm_now_seconds() - pr->start;
    pr->t.ttft_s = pr->t.prefill_s;
    if (o->dump_dir) {
        if (dump.failed) {
            *e = dump.err;
            goto done;
        }
        fprintf(stderr, "dumped %d tensors to %s\n", dump.written, o->dump_dir);
    }
    if (o->logits_path && lm_npy_write_f32(o->logits_path, all_logits, n, d->vocab_size, e) != 0)
        goto done;
    summarize_logits(lm_session_logits(s), d->vocab_size, n - 1, &pr->summary);
    rc = 0;
done:
    /* The session drops the hook after one forward call; a prefill that
     * failed before it must not leave it pointing at this frame. */
    if (o->dump_dir)
        lm_session_set_dump(s, NULL, NULL);
    free(all_logits);
    return rc;
}

void cli_sequence_separator(int seq, int n)
{
    if (seq > 0) {
        fflush(stdout);
        fprintf(stderr, "--- sequence %d of %d ---\n", seq + 1, n);
    }
}

void cli_prompt_sampled(prompt_run *pr, int seq, const lm_gen_result *r)
{
    if (seq > 0)
        return;
    if (r->first_token_at > 0)
        pr->t.ttft_s = r->first_token_at - pr->start;
    pr->t.decode_tokens = r->fed;
    if (r->fed > 0)
        pr->t.decode_s = r->end_at - r->first_token_at;
}

int cli_prompt_report(const lm_model_desc *d, const cli_options *o, const lm_session *s,
                      const prompt_run *pr, lm_err *e)
{
    if (o->bench && print_bench(d, o, s, &pr->t, e) != 0)
        return -1;
    fflush(stdout);
    if (o->stats)
        print_stats(s, &pr->t, &pr->summary);
    return 0;
}

lm_session *cli_session_open(const lm_model_desc *d, const cli_options *o, lm_err *e)
{
    /* A checkpoint's first load may read it once more onto 2 MiB pages:
     * seconds for a large one, which a terminal should see happening. */
    lm_huge_set_progress(isatty(fileno(stderr)) ? stderr : NULL);
    lm_session *s = lm_session_open(d, o->model_dir, o->threads, e);
    char note[512];
    if (s && lm_session_skipped_note(s, note, sizeof note))
        fprintf(stderr, "note: %s\n", note);
    return s;
}
