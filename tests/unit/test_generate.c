/* The generation loop and the executable's text modes (-p, -f, --chat,
 * --interactive, sampling flags, stop ids, the context limit), run
 * in-process against a toy model and a byte-level tokenizer written here.
 *
 * The toy model has 300 ids: 0..255 are the tokenizer's byte tokens, 256..260
 * its added tokens (<|endoftext|>, <|im_start|>, <|im_end|>, <think>,
 * </think>). The logits of position p depend on every id up to p, read back
 * from the KV cache, so a wrong rewind or a lost prefix changes the output.
 * They favour one lowercase letter (a hash of the history), give the other
 * letters small values, and everything else -1e4, so generated text is
 * letters. After g_stop_after letters in a row the favoured id is g_stop_id. */
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "generate/generate.h"
#include "generate/sampler.h"
#include "generate/session.h"
#include "text/chat_template.h"
#include "text/tokenizer.h"
#include "weights/npy.h"

#define VOCAB 300
#define BATCH 8
#define CTX 96
#define ID_EOT 256
#define ID_IM_START 257
#define ID_IM_END 258

/* ---- the toy model ---------------------------------------------------- */

static int g_stop_after; /* 0: never */
static int32_t g_stop_id;
static int64_t g_forward_tokens;
static int g_calls_at_zero; /* forward calls starting at position 0 */
static int32_t g_fed[4096];  /* every id fed, in order */
static int g_n_fed;
static int g_violations;

static int is_letter(int32_t id) { return id >= 'a' && id <= 'z'; }

static int toy_target(const int32_t *h, int p)
{
    if (g_stop_after > 0) {
        int run = 0;
        for (int j = p; j >= 0 && is_letter(h[j]); j--)
            run++;
        if (run >= g_stop_after)
            return g_stop_id;
    }
    uint64_t x = 1469598103934665603ULL;
    for (int j = 0; j <= p; j++)
        x = (x ^ (uint64_t)h[j]) * 1099511628211ULL;
    return 'a' + (int)((x >> 17) % 26);
}

static void toy_row(const int32_t *h, int p, float *row)
{
    int target = toy_target(h, p);
    for (int v = 0; v < VOCAB; v++)
        row[v] = v == target ? 5.0f : is_letter(v) ? (float)((v * 7 + p) % 20) * 0.1f : -1e4f;
}

static void toy_forward(const lm_ctx *ctx, const lm_batch *b, float *logits, int all_logits)
{
    const int32_t *tokens = b->tokens;
    const int n = b->n, pos = b->spans[0].pos;
    if (n < 1 || n > BATCH || pos < 0 || pos + n > CTX || b->n_spans != 1 || b->spans[0].n != n)
        g_violations++;
    g_forward_tokens += n;
    g_calls_at_zero += pos == 0;
    for (int i = 0; i < n; i++) {
        ctx->kv[pos + i] = (float)tokens[i];
        if (g_n_fed < 4096)
            g_fed[g_n_fed++] = tokens[i];
    }
    int32_t h[CTX];
    for (int j = 0; j < pos + n; j++)
        h[j] = (int32_t)ctx->kv[j];
    int first = all_logits ? 0 : n - 1;
    for (int r = first; r < n; r++)
        toy_row(h, pos + r, logits + (size_t)(r - first) * VOCAB);
}

static const lm_config_check toy_checks[] = {
    {"vocab_size", LM_CFG_INT, VOCAB, 0, NULL},
};

static const lm_model_desc toy_model = TOY_MODEL_DESC(
    .name = "toy-gen", .config_path = "tests/unit/test_generate.c", .vocab_size = VOCAB,
    .context = CTX, .batch = BATCH, .n_config_checks = 1, .config_checks = toy_checks,
    .arena_floats = 1, .scratch_floats = 1, .kv_floats = CTX, .forward = toy_forward);

/* What the generator should produce from prompt: greedy when smp is NULL.
 * Stops as lm_gen_run does. Returns the number of ids written to out. */
static int simulate(const int32_t *prompt, int n, int max_new, lm_sampler *smp, const int32_t *stops,
                    int n_stops, int32_t *out, int *context_full)
{
    int32_t h[CTX + 1];
    memcpy(h, prompt, (size_t)n * sizeof *h);
    float row[VOCAB];
    int len = n, produced = 0;
    *context_full = 0;
    lm_err e;
    while (max_new < 0 || produced < max_new) {
        toy_row(h, len - 1, row);
        int32_t id = smp ? lm_sampler_next(smp, row, h, len, &e) : lm_argmax(row, VOCAB);
        assert_true(id >= 0);
        int stop = 0;
        for (int i = 0; i < n_stops; i++)
            stop |= stops[i] == id;
        if (stop)
            break;
        out[produced++] = id;
        if (len == CTX) {
            *context_full = 1;
            break;
        }
        h[len++] = id;
    }
    return produced;
}

static void ids_to_text(const int32_t *ids, int n, char *text)
{
    for (int i = 0; i < n; i++)
        text[i] = (char)ids[i];
    text[n] = 0;
}

/* ---- the checkpoint directory ----------------------------------------- */

static char ckpt[64];
static char tok_path[128];

static void write_text(const char *name, const char *text)
{
    write_file(ckpt, name, text, strlen(text));
}

static void remove_in_ckpt(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", ckpt, name);
    unlink(path);
}

/* Byte tokens 0..255 (no merges) and Qwen's added tokens at 256..260. */
static void write_tokenizer(void)
{
    json_t *vocab = json_object();
    for (int b = 0; b < 256; b++) {
        char c[3];
        byte_char(b, c);
        json_object_set_new(vocab, c, json_integer(b));
    }
    const char *added_names[5] = {"<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>",
                                  "</think>"};
    json_t *added = json_array();
    for (int i = 0; i < 5; i++)
        json_array_append_new(added, json_pack("{s:i, s:s, s:b}", "id", 256 + i, "content",
                                               added_names[i], "special", i < 3));
    json_t *root = json_pack(
        "{s:o, s:{s:s}, s:{s:s, s:[{s:s, s:{s:s}, s:s, s:b}, {s:s, s:b, s:b}]}, s:{s:s}, "
        "s:{s:s, s:o, s:[]}}",
        "added_tokens", added, "normalizer", "type", "NFC", "pre_tokenizer", "type", "Sequence",
        "pretokenizers", "type", "Split", "pattern", "Regex",
        "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
        "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
        "behavior", "Isolated", "invert", 0, "type", "ByteLevel", "add_prefix_space", 0,
        "use_regex", 0, "decoder", "type", "ByteLevel", "model", "type", "BPE", "vocab", vocab,
        "merges");
    assert_non_null(root);
    snprintf(tok_path, sizeof tok_path, "%s/tokenizer.json", ckpt);
    assert_int_equal(json_dump_file(root, tok_path, 0), 0);
    json_decref(root);
}

static int make_checkpoint(void **state)
{
    (void)state;
    snprintf(ckpt, sizeof ckpt, "/tmp/lmcc_test_generate_XXXXXX");
    if (!mkdtemp(ckpt))
        return -1;
    write_empty_checkpoint(ckpt,
                           "{\"vocab_size\": 300, \"model_type\": \"toy\", \"eos_token_id\": 256}\n");
    write_tokenizer();
    return 0;
}

static int remove_checkpoint(void **state)
{
    (void)state;
    remove_tree(ckpt);
    return 0;
}

/* Each test starts without stops or generation_config.json. */
static int reset(void **state)
{
    (void)state;
    g_stop_after = 0;
    g_stop_id = ID_IM_END;
    remove_in_ckpt("generation_config.json");
    return 0;
}

static lm_tokenizer *load_tokenizer(void)
{
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(tok_path, &e);
    if (!t)
        fail_msg("%s", e.msg);
    return t;
}

static int encode(const char *text, size_t len, int32_t *out)
{
    lm_tokenizer *t = load_tokenizer();
    lm_ids ids = {0};
    lm_err e;
    assert_int_equal(lm_tokenizer_encode(t, text, len, 1, &ids, &e), 0);
    int n = (int)ids.n;
    memcpy(out, ids.v, ids.n * sizeof *out);
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
    return n;
}

/* ---- lm_main in-process ----------------------------------------------- */

/* Runs lm_main with stdin from `input` and stdout, stderr captured. */
static void run_cli_in(cli_result *r, const char *input, const char *arg0, ...)
{
    g_forward_tokens = 0;
    g_calls_at_zero = 0;
    g_n_fed = 0;
    g_violations = 0;
    va_list ap;
    va_start(ap, arg0);
    run_main_captured(r, &toy_model, input, arg0, ap);
    va_end(ap);
    assert_int_equal(g_violations, 0);
}

#define run_cli(r, ...) run_cli_in(r, NULL, __VA_ARGS__)

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* ---- tests ------------------------------------------------------------ */

static void prompt_greedy_text(void **state)
{
    (void)state;
    int32_t prompt[64], gen[64];
    const char *text = "hi there";
    int n = encode(text, strlen(text), prompt);
    int full;
    int m = simulate(prompt, n, 6, NULL, NULL, 0, gen, &full);
    assert_int_equal(m, 6);
    char want[80];
    ids_to_text(gen, m, want);
    strcat(want, "\n");

    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", text, "-n", "6", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want);
    /* The prompt once, then each new id but the last. */
    assert_int_equal(g_forward_tokens, n + 5);
    assert_int_equal(g_calls_at_zero, 1);

    run_cli(&r, "toy", "-m", ckpt, "--prompt", text, "--max-tokens", "6", "--stream", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want);
    /* --temperature 0 is greedy too, whatever the seed. */
    run_cli(&r, "toy", "-m", ckpt, "-p", text, "-n", "6", "--temperature", "0", "--seed", "9",
            "--no-stream", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want);
}

static void file_prompt_is_exact_bytes(void **state)
{
    (void)state;
    const char content[] = "ab\r\n\tc  \n\n\xc3\xa9 z\n";
    write_file(ckpt, "prompt.txt", content, sizeof content - 1);
    char path[256];
    snprintf(path, sizeof path, "%s/prompt.txt", ckpt);
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-f", path, "-n", "0", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, "\n");
    /* Byte tokens without merges: the ids fed are the file's bytes. */
    assert_int_equal(g_n_fed, (int)sizeof content - 1);
    for (int i = 0; i < g_n_fed; i++)
        assert_int_equal(g_fed[i], (unsigned char)content[i]);

    run_cli(&r, "toy", "-m", ckpt, "-f", "/nonexistent/lmcc/prompt.txt", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "cannot open /nonexistent/lmcc/prompt.txt"));
}

static void logits_of_a_text_prompt(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "%s/text_logits.npy", ckpt);
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", "abcd", "--logits", path, NULL);
    expect_status(&r, 0);
    int rows, cols;
    lm_err e;
    float *logits = lm_npy_read_f32(path, &rows, &cols, &e);
    assert_non_null(logits);
    assert_int_equal(rows, 4);
    assert_int_equal(cols, VOCAB);
    int32_t h[4] = {'a', 'b', 'c', 'd'};
    float row[VOCAB];
    for (int p = 0; p < 4; p++) {
        toy_row(h, p, row);
        assert_memory_equal(logits + (size_t)p * VOCAB, row, sizeof row);
    }
    free(logits);
}

static void seeds_reproduce_and_differ(void **state)
{
    (void)state;
    cli_result a, b, c;
    run_cli(&a, "toy", "-m", ckpt, "-p", "once upon", "-n", "12", "--temperature", "1", "--seed",
            "7", NULL);
    expect_status(&a, 0);
    run_cli(&b, "toy", "-m", ckpt, "-p", "once upon", "-n", "12", "--temperature", "1", "--seed",
            "7", NULL);
    run_cli(&c, "toy", "-m", ckpt, "-p", "once upon", "-n", "12", "--temperature", "1", "--seed",
            "8", NULL);
    assert_string_equal(a.out, b.out);
    assert_string_not_equal(a.out, c.out);

    /* Exactly the sampler's choices over the toy's logits, with the prompt
     * in the repetition penalty's context. */
    lm_sampler_params p = lm_sampler_params_default();
    p.temperature = 1.0f;
    p.top_k = 10;
    p.repetition_penalty = 1.3f;
    p.seed = 7;
    lm_err e;
    lm_sampler *smp = lm_sampler_new(&p, VOCAB, &e);
    assert_non_null(smp);
    int32_t prompt[64], gen[64];
    int n = encode("once upon", 9, prompt);
    int full;
    int m = simulate(prompt, n, 12, smp, NULL, 0, gen, &full);
    char want[80];
    ids_to_text(gen, m, want);
    strcat(want, "\n");
    run_cli(&a, "toy", "-m", ckpt, "-p", "once upon", "-n", "12", "--temperature", "1", "--top-k",
            "10", "--repetition-penalty", "1.3", "--seed", "7", NULL);
    expect_status(&a, 0);
    assert_string_equal(a.out, want);
    lm_sampler_free(smp);
}

static void generation_config_gives_defaults(void **state)
{
    (void)state;
    write_text("generation_config.json",
               "{\"do_sample\": true, \"temperature\": 0.9, \"top_k\": 5, \"eos_token_id\": [256]}");
    cli_result a, b;
    run_cli(&a, "toy", "-m", ckpt, "-p", "xyz", "-n", "10", "--seed", "3", NULL);
    expect_status(&a, 0);
    reset(NULL);
    /* top_p absent: Hugging Face's 1.0. */
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", "-n", "10", "--seed", "3", "--temperature", "0.9",
            "--top-k", "5", "--top-p", "1", NULL);
    expect_status(&b, 0);
    assert_string_equal(a.out, b.out);
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", "-n", "10", NULL);
    cli_result greedy = b;
    write_text("generation_config.json", "{\"do_sample\": true, \"temperature\": 0.9}");
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", "-n", "10", "--temperature", "0", NULL);
    expect_status(&b, 0);
    assert_string_equal(b.out, greedy.out);
    /* do_sample false: greedy whatever the temperature says. */
    write_text("generation_config.json", "{\"do_sample\": false, \"temperature\": 0.9}");
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", "-n", "10", "--seed", "1", NULL);
    assert_string_equal(b.out, greedy.out);

    write_text("generation_config.json", "{\"do_sample\": \"yes\"}");
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", NULL);
    expect_status(&b, 1);
    assert_non_null(strstr(b.err, "do_sample"));
    write_text("generation_config.json", "{broken");
    run_cli(&b, "toy", "-m", ckpt, "-p", "xyz", NULL);
    expect_status(&b, 1);
    assert_non_null(strstr(b.err, "generation_config.json"));
}

static void several_sequences_reuse_the_prompt(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", "abc", "-n", "4", "--temperature", "1", "--seed", "3",
            "--num-return-sequences", "3", NULL);
    expect_status(&r, 0);
    /* The prompt is fed once; each sequence feeds 3 of its 4 ids. */
    assert_int_equal(g_forward_tokens, 3 + 3 * 3);
    assert_int_equal(g_calls_at_zero, 1);
    assert_non_null(strstr(r.err, "--- sequence 2 of 3 ---"));
    assert_non_null(strstr(r.err, "--- sequence 3 of 3 ---"));
    assert_null(strstr(r.err, "sequence 1 of"));

    /* One sampler across the sequences, each from the prompt. */
    lm_sampler_params p = lm_sampler_params_default();
    p.temperature = 1.0f;
    p.seed = 3;
    lm_err e;
    lm_sampler *smp = lm_sampler_new(&p, VOCAB, &e);
    int32_t prompt[3] = {'a', 'b', 'c'}, gen[8];
    char want[64] = "", line[16];
    int full;
    for (int s = 0; s < 3; s++) {
        int m = simulate(prompt, 3, 4, smp, NULL, 0, gen, &full);
        ids_to_text(gen, m, line);
        strcat(want, line);
        strcat(want, "\n");
    }
    lm_sampler_free(smp);
    assert_string_equal(r.out, want);

    /* --tokens: one line of ids per sequence. */
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "97,98", "-n", "2", "--num-return-sequences", "2",
            NULL);
    expect_status(&r, 0);
    assert_int_equal(count_lines(r.out), 2);
    assert_int_equal(g_forward_tokens, 2 + 1 + 1);
}

static void stops_at_end_tokens(void **state)
{
    (void)state;
    /* config.json's eos_token_id 256. */
    g_stop_after = 3;
    g_stop_id = ID_EOT;
    int32_t prompt[8] = {'1', '2'}, gen[16], stop = ID_EOT;
    int full;
    int m = simulate(prompt, 2, -1, NULL, &stop, 1, gen, &full);
    assert_int_equal(m, 3);
    char want[8];
    ids_to_text(gen, m, want);
    strcat(want, "\n");
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", "12", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want); /* the end token is not printed */
    assert_int_equal(g_forward_tokens, 2 + 3);

    /* The tokenizer's <|im_end|> stops too. */
    g_stop_id = ID_IM_END;
    run_cli(&r, "toy", "-m", ckpt, "-p", "12", "-n", "50", NULL);
    expect_status(&r, 0);
    assert_int_equal(strlen(r.out), 4);

    /* generation_config.json's list replaces config.json's id. */
    g_stop_id = 290;
    write_text("generation_config.json", "{\"eos_token_id\": [291, 290]}");
    run_cli(&r, "toy", "-m", ckpt, "-p", "12", "-n", "50", NULL);
    expect_status(&r, 0);
    assert_int_equal(strlen(r.out), 4);

    /* -n ends earlier than the stop. */
    run_cli(&r, "toy", "-m", ckpt, "-p", "12", "-n", "2", NULL);
    assert_int_equal(strlen(r.out), 3);

    /* --tokens does not stop early. */
    g_stop_id = ID_EOT;
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "49,50", "-n", "5", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.out, ",256,"));
}

static void prompt_and_context_limits(void **state)
{
    (void)state;
    char text[CTX + 2];
    memset(text, 'q', sizeof text);
    /* 93 prompt ids: 3 more fit, so 4 ids come out (the last not fed). */
    text[CTX - 3] = 0;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", text, NULL);
    expect_status(&r, 0);
    assert_int_equal(strlen(r.out), 5);
    assert_non_null(strstr(r.err, "context full"));
    assert_non_null(strstr(r.err, "--ctx"));
    assert_int_equal(count_lines(r.err), 1);
    assert_int_equal(g_forward_tokens, CTX);

    /* A prompt exactly the context's size still gives one id. */
    memset(text, 'q', sizeof text);
    text[CTX] = 0;
    run_cli(&r, "toy", "-m", ckpt, "-p", text, "-n", "5", NULL);
    expect_status(&r, 0);
    assert_int_equal(strlen(r.out), 2);
    assert_non_null(strstr(r.err, "context full"));

    text[CTX] = 'q';
    text[CTX + 1] = 0;
    run_cli(&r, "toy", "-m", ckpt, "-p", text, NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "97 tokens exceed the model's context of 96"));
    assert_int_equal(g_forward_tokens, 0);

    run_cli(&r, "toy", "-m", ckpt, "-p", "", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "empty"));
}

/* The ids lm_chat_encode gives for msgs. */
static int chat_ids(lm_chat_msg *msgs, size_t n, int think, int32_t *out)
{
    lm_tokenizer *t = load_tokenizer();
    lm_ids ids = {0};
    lm_err e;
    lm_chat_opts o = {.add_generation_prompt = 1, .enable_thinking = think};
    if (lm_chat_encode(t, LM_CHAT_QWEN3, msgs, n, o, &ids, &e) != 0)
        fail_msg("%s", e.msg);
    int count = (int)ids.n;
    assert_true(count <= 4 * CTX);
    memcpy(out, ids.v, ids.n * sizeof *out);
    lm_ids_free(&ids);
    lm_tokenizer_free(t);
    return count;
}

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
    int i = 0;
    while (i < na && i < nb && a[i] == b[i])
        i++;
    return i;
}

/* Two turns; the second may feed only what differs from the cache. */
static void check_chat(int think, const char *system)
{
    g_stop_after = 5;
    g_stop_id = ID_IM_END;
    const int32_t stops[2] = {ID_EOT, ID_IM_END};
    lm_chat_msg msgs[6];
    size_t n = 0;
    if (system)
        msgs[n++] = (lm_chat_msg){"system", system, NULL};
    msgs[n++] = (lm_chat_msg){"user", "hello", NULL};
    int32_t ids1[4 * CTX], ids2[4 * CTX], gen1[CTX], gen2[CTX], cache1[2 * CTX];
    int n1 = chat_ids(msgs, n, think, ids1);
    int full;
    int m1 = simulate(ids1, n1, -1, NULL, stops, 2, gen1, &full);
    assert_int_equal(m1, 5);
    char reply1[CTX], reply2[CTX];
    ids_to_text(gen1, m1, reply1);
    msgs[n++] = (lm_chat_msg){"assistant", reply1, NULL};
    msgs[n++] = (lm_chat_msg){"user", "second turn", NULL};
    int n2 = chat_ids(msgs, n, think, ids2);
    int m2 = simulate(ids2, n2, -1, NULL, stops, 2, gen2, &full);
    ids_to_text(gen2, m2, reply2);
    memcpy(cache1, ids1, (size_t)n1 * sizeof *ids1);
    memcpy(cache1 + n1, gen1, (size_t)m1 * sizeof *gen1);
    int common = common_prefix(ids2, n2, cache1, n1 + m1);
    /* With thinking on, the reply itself is reused; with it off, the
     * template drops the empty think block of turn 1's prompt, so the
     * cache is reused up to it. */
    if (think)
        assert_true(common > n1);
    else
        assert_true(common > 0 && common < n1);

    char want[3 * CTX];
    snprintf(want, sizeof want, "%s\n%s\n", reply1, reply2);
    cli_result r;
    if (system)
        run_cli_in(&r, "hello\n\nsecond turn\n", "toy", "-m", ckpt, "--chat", "--system", system,
                   think ? "--think" : "--no-think", NULL);
    else
        run_cli_in(&r, "hello\n\nsecond turn\n", "toy", "-m", ckpt, "--chat",
                   think ? "--think" : "--no-think", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want); /* no "> " marker: stdin is not a terminal */
    /* Turn 1 feeds its prompt and its reply; turn 2 only the rest. */
    assert_int_equal(g_forward_tokens, n1 + m1 + (n2 - common) + m2);
    assert_int_equal(g_calls_at_zero, 1);
    for (int i = 0; i < n1; i++)
        assert_int_equal(g_fed[i], ids1[i]);
    for (int i = 0; i < n2 - common; i++)
        assert_int_equal(g_fed[n1 + m1 + i], ids2[common + i]);
}

static void chat_reuses_the_cache(void **state)
{
    (void)state;
    check_chat(1, NULL);
}

static void chat_with_system_and_no_think(void **state)
{
    (void)state;
    check_chat(0, "be brief");
    /* The empty think block of --no-think is in the first prompt. */
    int think_ids = 0;
    for (int i = 0; i < g_n_fed; i++)
        think_ids += g_fed[i] == 259;
    assert_true(think_ids >= 1);
}

static void chat_fills_the_context(void **state)
{
    (void)state;
    g_stop_after = 5;
    g_stop_id = ID_IM_END;
    cli_result r;
    run_cli_in(&r, "a\nb\nc\nd\ne\nf\ng\nh\n", "toy", "-m", ckpt, "--chat", "--no-think", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.err, "context full"));
    int replies = count_lines(r.out);
    assert_true(replies >= 1 && replies < 8);

    /* A first turn that cannot fit is an error. */
    char system[CTX * 2];
    memset(system, 's', sizeof system - 1);
    system[sizeof system - 1] = 0;
    run_cli_in(&r, "hi\n", "toy", "-m", ckpt, "--chat", "--system", system, NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "exceed the model's context of 96"));
    assert_int_equal(g_forward_tokens, 0);
}

static void chat_first_turn_from_prompt(void **state)
{
    (void)state;
    g_stop_after = 4;
    g_stop_id = ID_IM_END;
    cli_result r;
    run_cli_in(&r, "", "toy", "-m", ckpt, "--chat", "-p", "hello", NULL);
    expect_status(&r, 0);
    assert_int_equal(count_lines(r.out), 1);
    assert_int_equal(strlen(r.out), 5);
}

static void interactive_appends_lines(void **state)
{
    (void)state;
    int32_t ids1[CTX], ids2[CTX], gen1[8], gen2[8], cache1[CTX];
    int full;
    int n1 = encode("abc", 3, ids1);
    int m1 = simulate(ids1, n1, 3, NULL, NULL, 0, gen1, &full);
    char text2[64] = "abc";
    ids_to_text(gen1, m1, text2 + 3);
    strcat(text2, "def");
    int n2 = encode(text2, strlen(text2), ids2);
    int m2 = simulate(ids2, n2, 3, NULL, NULL, 0, gen2, &full);
    memcpy(cache1, ids1, (size_t)n1 * sizeof *ids1);
    memcpy(cache1 + n1, gen1, 2 * sizeof *gen1); /* the last id is not fed */
    int common = common_prefix(ids2, n2, cache1, n1 + 2);
    assert_int_equal(common, n1 + 2);

    char want[32], line[8];
    ids_to_text(gen1, m1, line);
    snprintf(want, sizeof want, "%s\n", line);
    ids_to_text(gen2, m2, line);
    snprintf(want + strlen(want), sizeof want - strlen(want), "%s\n", line);
    cli_result r;
    run_cli_in(&r, "abc\ndef\n", "toy", "-m", ckpt, "--interactive", "-n", "3", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want);
    assert_int_equal(g_forward_tokens, n1 + 2 + (n2 - common) + 2);
    assert_int_equal(g_calls_at_zero, 1);
}

static void tokens_mode_is_unchanged(void **state)
{
    (void)state;
    /* No tokenizer needed for --tokens. */
    char moved[256];
    snprintf(moved, sizeof moved, "%s/elsewhere.json", ckpt);
    assert_int_equal(rename(tok_path, moved), 0);
    int32_t h[16] = {1, 2, 3};
    char want[128] = "";
    for (int i = 0; i < 5; i++) {
        h[3 + i] = toy_target(h, 2 + i);
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? ",%d" : "%d", h[3 + i]);
    }
    strcat(want, "\n");
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3", "-n", "5", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, want);
    assert_int_equal(g_forward_tokens, 3 + 4);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3", "-n", "5", "--temperature", "0", NULL);
    assert_string_equal(r.out, want);
    /* Sampling flags work with ids too, reproducibly. */
    cli_result a, b;
    run_cli(&a, "toy", "-m", ckpt, "--tokens", "97", "-n", "8", "--temperature", "1", "--seed", "5",
            NULL);
    run_cli(&b, "toy", "-m", ckpt, "--tokens", "97", "-n", "8", "--temperature", "1", "--seed", "5",
            NULL);
    expect_status(&a, 0);
    assert_string_equal(a.out, b.out);

    /* Text needs the tokenizer; --tokenizer says where it is. */
    run_cli(&r, "toy", "-m", ckpt, "-p", "abc", "-n", "2", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "tokenizer"));
    run_cli(&r, "toy", "-m", ckpt, "-p", "abc", "-n", "2", "--tokenizer", moved, NULL);
    expect_status(&r, 0);
    assert_int_equal(strlen(r.out), 3);
    assert_int_equal(rename(moved, tok_path), 0);
}

static void text_bench_and_stats(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "-p", "abcde", "-n", "4", "--bench", NULL);
    expect_status(&r, 0);
    json_t *j = bench_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "prefill_tokens")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "decode_tokens")), 3);
    json_decref(j);
    assert_int_equal(strlen(r.err), 5); /* the text went to stderr */
    run_cli(&r, "toy", "-m", ckpt, "-p", "abc", "-n", "2", "--stats", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.err, "prefill: 3 tokens"));
}

static void help_lists_every_option(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "--help", NULL);
    expect_status(&r, 0);
    const char *options[] = {"--model", "--tokens", "--prompt", "--file", "--chat",
                             "--interactive", "--system", "--think", "--no-think", "--stream",
                             "--no-stream", "--tokenizer", "--max-tokens", "--temperature",
                             "--top-k", "--top-p", "--min-p", "--repetition-penalty", "--seed",
                             "--num-return-sequences", "--logits", "--dump", "--threads",
                             "--bench", "--bandwidth-gbs", "--fma-gflops", "--stats", "--help",
                             "--version", "context full"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (!strstr(r.out, options[i]))
            fail_msg("--help does not mention %s", options[i]);
}

/* ---- the generator directly ------------------------------------------- */

static void generator_prefix_reuse(void **state)
{
    (void)state;
    lm_err e;
    lm_session *s = lm_session_open(&toy_model, ckpt, 1, &e);
    assert_non_null(s);
    lm_gen *g = lm_gen_new(s, &e);
    assert_non_null(g);
    int32_t a[6] = {'a', 'b', 'c', 'd', 'e', 'f'}, b[5] = {'a', 'b', 'c', 'x', 'y'};
    assert_int_equal(lm_gen_prefill(g, a, 6, NULL, &e), 6);
    assert_int_equal(lm_gen_prefill(g, b, 5, NULL, &e), 2);
    assert_int_equal(lm_session_position(s), 5);
    /* The same prompt again: its logits are kept, nothing is fed. */
    int64_t before = lm_session_forward_tokens(s);
    assert_int_equal(lm_gen_prefill(g, b, 5, NULL, &e), 0);
    assert_int_equal(lm_session_forward_tokens(s), before);
    /* A prefix of the cache: the last id is fed again for its logits. */
    assert_int_equal(lm_gen_prefill(g, b, 4, NULL, &e), 1);
    lm_gen_opts o = {.max_new = 3};
    lm_gen_result r;
    assert_int_equal(lm_gen_run(g, NULL, &o, &r, &e), 0);
    assert_int_equal(r.n_new, 3);
    assert_int_equal(r.fed, 2);
    assert_int_equal(r.end, LM_GEN_LENGTH);
    int n;
    lm_gen_cached(g, &n);
    assert_int_equal(n, 6);
    assert_int_equal(lm_session_position(s), 6);
    assert_int_equal(lm_gen_prefill(g, b, 0, NULL, &e), -1);
    assert_int_equal(lm_gen_prefill(g, (int32_t[]){VOCAB}, 1, NULL, &e), -1);
    assert_int_equal(lm_session_position(s), 6);
    lm_gen_free(g);
    lm_session_close(s);
}

static void stop_ids_from_files(void **state)
{
    (void)state;
    lm_err e;
    lm_ids stop = {0};
    assert_int_equal(lm_gen_eos_ids(ckpt, &stop, &e), 0);
    assert_int_equal(stop.n, 1);
    assert_int_equal(stop.v[0], 256);
    lm_tokenizer *t = load_tokenizer();
    assert_int_equal(lm_gen_tokenizer_stops(t, &stop, &e), 0);
    assert_int_equal(stop.n, 2); /* <|im_end|> added, <|endoftext|> already there */
    assert_int_equal(stop.v[1], ID_IM_END);
    lm_tokenizer_free(t);
    stop.n = 0;
    write_text("generation_config.json", "{\"eos_token_id\": 7}");
    assert_int_equal(lm_gen_eos_ids(ckpt, &stop, &e), 0);
    assert_int_equal(stop.n, 1);
    assert_int_equal(stop.v[0], 7);
    write_text("generation_config.json", "{\"eos_token_id\": \"x\"}");
    assert_int_equal(lm_gen_eos_ids(ckpt, &stop, &e), -1);
    assert_non_null(strstr(e.msg, "eos_token_id"));
    lm_ids_free(&stop);

    lm_sampler_params p;
    int found;
    write_text("generation_config.json", "{\"do_sample\": true, \"repetition_penalty\": 1.1}");
    assert_int_equal(lm_gen_config_load(ckpt, &p, &found, &e), 0);
    assert_int_equal(found, 1);
    assert_true(p.temperature == 1.0f && p.top_k == 50 && p.top_p == 1.0f && p.min_p == 0.0f);
    assert_true(p.repetition_penalty == 1.1f);
    remove_in_ckpt("generation_config.json");
    assert_int_equal(lm_gen_config_load(ckpt, &p, &found, &e), 0);
    assert_int_equal(found, 0);
    assert_true(p.temperature == 0.0f && p.top_k == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(prompt_greedy_text, reset),
        cmocka_unit_test_setup(file_prompt_is_exact_bytes, reset),
        cmocka_unit_test_setup(logits_of_a_text_prompt, reset),
        cmocka_unit_test_setup(seeds_reproduce_and_differ, reset),
        cmocka_unit_test_setup(generation_config_gives_defaults, reset),
        cmocka_unit_test_setup(several_sequences_reuse_the_prompt, reset),
        cmocka_unit_test_setup(stops_at_end_tokens, reset),
        cmocka_unit_test_setup(prompt_and_context_limits, reset),
        cmocka_unit_test_setup(chat_reuses_the_cache, reset),
        cmocka_unit_test_setup(chat_with_system_and_no_think, reset),
        cmocka_unit_test_setup(chat_fills_the_context, reset),
        cmocka_unit_test_setup(chat_first_turn_from_prompt, reset),
        cmocka_unit_test_setup(interactive_appends_lines, reset),
        cmocka_unit_test_setup(tokens_mode_is_unchanged, reset),
        cmocka_unit_test_setup(text_bench_and_stats, reset),
        cmocka_unit_test_setup(help_lists_every_option, reset),
        cmocka_unit_test_setup(generator_prefix_reuse, reset),
        cmocka_unit_test_setup(stop_ids_from_files, reset),
    };
    return cmocka_run_group_tests(tests, make_checkpoint, remove_checkpoint);
}
