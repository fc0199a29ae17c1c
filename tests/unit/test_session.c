/* The session and the CLI driver, run against a toy model.
 *
 * The toy model has no weights, a 23-token vocabulary, batch 4 and context
 * 16. Its forward stores each token in the KV cache and makes the logits of
 * position p depend on every token up to p (read back from the cache), so a
 * wrong position, a lost chunk or a bad rewind changes the logits. It runs
 * on the thread pool and records every call, so chunking can be checked. */
#include "testutil.h"

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "core/pool.h"
#include "generate/perplexity.h"
#include "generate/sampler.h"
#include "generate/session.h"
#include "weights/npy.h"

#define VOCAB 23
#define BATCH 4
#define CTX 16
#define SCRATCH 8

/* ---- the toy model ---------------------------------------------------- */

typedef struct forward_call {
    int n, pos, all_logits, n_spans;
} forward_call;

static forward_call calls[64];
static int n_calls;
static int contract_violations;

/* The logits row of position p, given the tokens at positions 0..p. The
 * target id gets a clearly largest value so greedy decoding picks it. */
static int toy_target(const int32_t *history, int p)
{
    int64_t sum = 0;
    for (int j = 0; j <= p; j++)
        sum += (int64_t)history[j] * (j + 1);
    return (int)((sum + 5 * p) % VOCAB);
}

static float toy_logit(int target, int p, int v)
{
    return v == target ? 50.0f + (float)p : (float)((v * 7 + p) % VOCAB) * 0.1f;
}

typedef struct logits_job {
    const lm_ctx *ctx;
    const float *kv; /* the span's slot */
    int pos;       /* position of row 0 */
    int rows;
    int first_row; /* position offset of the first row written */
    float *out;
} logits_job;

static void fill_logits(void *arg, int tid, int nthreads)
{
    logits_job *job = arg;
    /* Touch this thread's scratch slice: ASan flags a short allocation. */
    float *scratch = job->ctx->scratch + (size_t)tid * SCRATCH;
    scratch[0] = (float)tid;
    scratch[SCRATCH - 1] = (float)nthreads;
    int begin, end;
    lm_split(VOCAB, tid, nthreads, &begin, &end);
    for (int r = 0; r < job->rows; r++) {
        int p = job->pos + job->first_row + r;
        int32_t history[CTX];
        for (int j = 0; j <= p; j++)
            history[j] = (int32_t)job->kv[j];
        int target = toy_target(history, p);
        for (int v = begin; v < end; v++)
            job->out[(size_t)r * VOCAB + v] = toy_logit(target, p, v);
    }
}

/* Each span in its slot's cache (CTX floats a slot), as the generated
 * forward keeps them apart. */
static void toy_forward(const lm_ctx *ctx, const lm_batch *b, float *logits, int all_logits)
{
    const int n = b->n, pos = b->spans[0].pos;
    int span_tokens = 0;
    for (int s = 0; s < b->n_spans; s++) {
        const lm_span *sp = &b->spans[s];
        if (sp->n < 1 || sp->pos < 0 || sp->pos + sp->n > CTX)
            contract_violations++;
        span_tokens += sp->n;
    }
    if (n < 1 || n > BATCH || b->n_spans < 1 || span_tokens != n)
        contract_violations++;
    if (n_calls < 64)
        calls[n_calls] = (forward_call){n, pos, all_logits, b->n_spans};
    n_calls++;
    for (int i = 0; i < n; i++)
        ctx->arena[i] = (float)b->tokens[i];
    if (ctx->dump) {
        ctx->dump(ctx->dump_user, "toy.tokens", ctx->arena, n, 1);
        float pairs[BATCH * 2];
        for (int i = 0; i < n; i++) {
            pairs[2 * i] = (float)(pos + i);
            pairs[2 * i + 1] = (float)b->tokens[i];
        }
        ctx->dump(ctx->dump_user, "toy.layer/0", pairs, n, 2);
    }
    for (int s = 0, row = 0, out = 0; s < b->n_spans; s++) {
        const lm_span *sp = &b->spans[s];
        float *kv = ctx->kv + (size_t)sp->slot * CTX;
        for (int i = 0; i < sp->n; i++)
            kv[sp->pos + i] = (float)b->tokens[row + i];
        logits_job job = {ctx, kv, sp->pos, all_logits ? sp->n : 1, all_logits ? 0 : sp->n - 1,
                          logits + (size_t)out * VOCAB};
        lm_pool_run(ctx->pool, fill_logits, &job);
        row += sp->n;
        out += all_logits ? sp->n : 1;
    }
}

static const lm_config_check toy_checks[] = {
    {"vocab_size", LM_CFG_INT, VOCAB, 0, NULL},
};

static const lm_model_desc toy_model = TOY_MODEL_DESC(
    .name = "toy-model", .config_path = "tests/unit/test_session.c", .vocab_size = VOCAB,
    .context = CTX, .batch = BATCH, .n_config_checks = 1, .config_checks = toy_checks,
    .arena_floats = BATCH, .scratch_floats = SCRATCH, .kv_floats = CTX, .kv_full_position_floats = 1,
    .forward = toy_forward);

/* Expected [n][VOCAB] logits of feeding tokens after the history prefix. */
static void expected_logits(const int32_t *all_tokens, int first, int n, float *out)
{
    for (int r = 0; r < n; r++) {
        int p = first + r;
        int target = toy_target(all_tokens, p);
        for (int v = 0; v < VOCAB; v++)
            out[(size_t)r * VOCAB + v] = toy_logit(target, p, v);
    }
}

/* ---- a checkpoint directory with no tensors --------------------------- */

static char ckpt[64];

static int make_checkpoint(void **state)
{
    (void)state;
    snprintf(ckpt, sizeof ckpt, "/tmp/lmcc_test_session_XXXXXX");
    if (!mkdtemp(ckpt))
        return -1;
    write_empty_checkpoint(ckpt, "{\"vocab_size\": 23, \"model_type\": \"toy\"}\n");
    return 0;
}

static int remove_checkpoint(void **state)
{
    (void)state;
    remove_tree(ckpt);
    return 0;
}

static lm_session *open_toy(int threads)
{
    lm_err e = {{0}};
    lm_session *s = lm_session_open(&toy_model, ckpt, threads, &e);
    if (!s)
        print_message("open failed: %s\n", e.msg);
    assert_non_null(s);
    n_calls = 0;
    contract_violations = 0;
    return s;
}

/* ---- session tests ---------------------------------------------------- */

static void test_feed_chunks_and_collects_logits(void **state)
{
    (void)state;
    lm_session *s = open_toy(3);
    assert_int_equal(lm_session_threads(s), 3);
    assert_null(lm_session_logits(s));
    int32_t tokens[10] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
    float got[10 * VOCAB], want[10 * VOCAB];
    lm_err e = {{0}};
    assert_int_equal(lm_session_feed(s, tokens, 10, got, &e), 0);

    assert_int_equal(n_calls, 3);
    assert_int_equal(contract_violations, 0);
    const forward_call expect[3] = {{4, 0, 1, 1}, {4, 4, 1, 1}, {2, 8, 1, 1}};
    for (int i = 0; i < 3; i++) {
        assert_int_equal(calls[i].n, expect[i].n);
        assert_int_equal(calls[i].pos, expect[i].pos);
        assert_int_equal(calls[i].all_logits, 1);
    }
    expected_logits(tokens, 0, 10, want);
    assert_memory_equal(got, want, sizeof want);
    assert_non_null(lm_session_logits(s));
    assert_memory_equal(lm_session_logits(s), want + 9 * VOCAB, VOCAB * sizeof(float));
    assert_int_equal(lm_session_position(s), 10);
    assert_int_equal(lm_session_forward_tokens(s), 10);
    assert_true(lm_session_load_seconds(s) >= 0);
    lm_session_close(s);
}

static void test_feed_without_all_logits_keeps_last(void **state)
{
    (void)state;
    lm_session *s = open_toy(2);
    int32_t tokens[7] = {22, 0, 7, 7, 11, 13, 1};
    lm_err e = {{0}};
    /* In two feeds: the second continues at position 5. */
    assert_int_equal(lm_session_feed(s, tokens, 5, NULL, &e), 0);
    assert_int_equal(lm_session_feed(s, tokens + 5, 2, NULL, &e), 0);
    assert_int_equal(n_calls, 3);
    assert_int_equal(calls[0].n, 4);
    assert_int_equal(calls[1].n, 1);
    assert_int_equal(calls[1].pos, 4);
    assert_int_equal(calls[2].n, 2);
    assert_int_equal(calls[2].pos, 5);
    for (int i = 0; i < 3; i++)
        assert_int_equal(calls[i].all_logits, 0);
    float want[7 * VOCAB];
    expected_logits(tokens, 0, 7, want);
    assert_memory_equal(lm_session_logits(s), want + 6 * VOCAB, VOCAB * sizeof(float));
    /* Feeding nothing changes nothing. */
    assert_int_equal(lm_session_feed(s, tokens, 0, NULL, &e), 0);
    assert_int_equal(lm_session_position(s), 7);
    assert_int_equal(n_calls, 3);
    lm_session_close(s);
}

static void test_bad_ids_and_overflow_run_nothing(void **state)
{
    (void)state;
    lm_session *s = open_toy(1);
    lm_err e = {{0}};
    int32_t bad[4] = {1, 2, VOCAB, 3};
    assert_int_equal(lm_session_feed(s, bad, 4, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "token id 23 at index 2"));
    assert_non_null(strstr(e.msg, "[0, 23)"));
    bad[2] = -5;
    assert_int_equal(lm_session_feed(s, bad, 4, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "token id -5 at index 2"));
    assert_int_equal(n_calls, 0);
    assert_int_equal(lm_session_position(s), 0);

    int32_t many[CTX + 1] = {0};
    assert_int_equal(lm_session_feed(s, many, CTX + 1, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "17 tokens"));
    assert_non_null(strstr(e.msg, "16 tokens"));
    assert_non_null(strstr(e.msg, "--ctx"));
    assert_int_equal(lm_session_feed(s, many, 10, NULL, &e), 0);
    assert_int_equal(lm_session_feed(s, many, 7, NULL, &e), -1);
    assert_non_null(strstr(e.msg, "7 more tokens after 10"));
    assert_int_equal(lm_session_position(s), 10);
    assert_int_equal(lm_session_feed(s, many, 6, NULL, &e), 0); /* exactly full */
    assert_int_equal(lm_session_position(s), CTX);
    assert_int_equal(contract_violations, 0);
    lm_session_close(s);
}

static void test_rewind_reuses_prefix(void **state)
{
    (void)state;
    lm_session *s = open_toy(2);
    lm_err e = {{0}};
    int32_t first[6] = {5, 6, 7, 8, 9, 10};
    int32_t second[6] = {5, 6, 7, 20, 21, 22};
    assert_int_equal(lm_session_feed(s, first, 6, NULL, &e), 0);
    lm_session_rewind(s, 9); /* beyond the position: no change */
    assert_int_equal(lm_session_position(s), 6);
    assert_non_null(lm_session_logits(s));
    lm_session_rewind(s, 3);
    assert_int_equal(lm_session_position(s), 3);
    assert_null(lm_session_logits(s));
    n_calls = 0;
    float got[3 * VOCAB], want[6 * VOCAB];
    assert_int_equal(lm_session_feed(s, second + 3, 3, got, &e), 0);
    assert_int_equal(calls[0].pos, 3);
    expected_logits(second, 0, 6, want);
    assert_memory_equal(got, want + 3 * VOCAB, sizeof got);
    lm_session_rewind(s, -4);
    assert_int_equal(lm_session_position(s), 0);
    lm_session_close(s);
}

/* The toy as if some of its layers had sliding-window rings with a slack
 * of 3 positions (core/model.h): a rewind within 3 of the furthest
 * position the slot reached keeps what was asked, a longer one starts
 * the sequence over. */
static const lm_model_desc toy_window_model = TOY_MODEL_DESC(
    .name = "toy-window", .config_path = "tests/unit/test_session.c", .vocab_size = VOCAB,
    .context = CTX, .batch = BATCH, .n_config_checks = 1, .config_checks = toy_checks,
    .arena_floats = BATCH, .scratch_floats = SCRATCH, .kv_floats = CTX, .kv_full_position_floats = 1,
    .kv_window_floats = 1, .window = 2, .window_slack = 3, .forward = toy_forward);

static void test_rewind_within_window_slack(void **state)
{
    (void)state;
    lm_err e = {{0}};
    lm_session *s = lm_session_open(&toy_window_model, ckpt, 1, &e);
    assert_non_null(s);
    int32_t ids[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assert_int_equal(lm_session_feed(s, ids, 10, NULL, &e), 0);
    assert_int_equal(lm_session_rewind(s, 12), 10); /* beyond: no change */
    assert_int_equal(lm_session_rewind(s, 7), 7);   /* 3 back from 10 */
    assert_int_equal(lm_session_position(s), 7);
    /* Fed to 9: the slot reached 10 before, so 6 is 4 back from it. */
    assert_int_equal(lm_session_feed(s, ids + 7, 2, NULL, &e), 0);
    assert_int_equal(lm_session_rewind(s, 6), 0);
    assert_int_equal(lm_session_position(s), 0);
    /* Started over, the reach is the new sequence's. */
    assert_int_equal(lm_session_feed(s, ids, 5, NULL, &e), 0);
    assert_int_equal(lm_session_rewind(s, 2), 2);
    assert_int_equal(lm_session_slot_rewind(s, 1, 0), -1); /* no such slot */
    lm_session_close(s);
}

typedef struct dump_log {
    int count;
    char names[8][32];
    int rows[8];
} dump_log;

static void record_dump(void *user, const char *name, const float *data, int rows, int cols)
{
    (void)data;
    (void)cols;
    dump_log *log = user;
    if (log->count < 8) {
        snprintf(log->names[log->count], sizeof log->names[0], "%s", name);
        log->rows[log->count] = rows;
    }
    log->count++;
}

#define FEED(s, t, k) {.slot = (s), .tokens = (t), .n = (k)}

/* Several sequences in one forward call: each span in its own slot, the
 * logits those of each sequence fed alone; refusals run nothing. */
static void test_feed_batch_keeps_sequences_apart(void **state)
{
    (void)state;
    lm_session *s = open_toy(2);
    lm_err e = {{0}};
    assert_int_equal(lm_session_set_slots(s, 3, &e), 0);
    assert_int_equal(lm_session_slots(s), 3);
    const int32_t a[5] = {3, 1, 4, 1, 5}, b[3] = {9, 2, 6};
    float got[3 * VOCAB], want[5 * VOCAB];

    /* A prompt chunk of a (slot 1) beside all of b (slot 2): 2 + 2 tokens. */
    lm_feed f[2] = {FEED(1, a, 2), FEED(2, b, 2)};
    assert_int_equal(lm_session_feed_batch(s, f, 2, got, &e), 0);
    assert_int_equal(n_calls, 1);
    assert_int_equal(calls[0].n, 4);
    assert_int_equal(calls[0].n_spans, 2);
    assert_int_equal(calls[0].all_logits, 0);
    expected_logits(a, 0, 2, want);
    assert_memory_equal(got, want + VOCAB, VOCAB * sizeof(float));
    expected_logits(b, 0, 2, want);
    assert_memory_equal(got + VOCAB, want + VOCAB, VOCAB * sizeof(float));
    assert_int_equal(lm_session_slot_position(s, 1), 2);
    assert_int_equal(lm_session_slot_position(s, 2), 2);
    assert_int_equal(lm_session_position(s), 0); /* slot 0 untouched */

    /* Next step: one token of b, the rest of a (4 tokens, the batch). */
    lm_feed g[2] = {FEED(2, b + 2, 1), FEED(1, a + 2, 3)};
    n_calls = 0;
    assert_int_equal(lm_session_feed_batch(s, g, 2, got, &e), 0);
    assert_int_equal(n_calls, 1);
    assert_int_equal(calls[0].n_spans, 2);
    expected_logits(b, 0, 3, want);
    assert_memory_equal(got, want + 2 * VOCAB, VOCAB * sizeof(float));
    expected_logits(a, 0, 5, want);
    assert_memory_equal(got + VOCAB, want + 4 * VOCAB, VOCAB * sizeof(float));
    assert_int_equal(lm_session_slot_position(s, 1), 5);
    assert_int_equal(lm_session_slot_position(s, 2), 3);

    /* Refused, running nothing: too many tokens, a slot twice, a slot the
     * session lacks, an empty feed, an id outside the vocabulary, a
     * sequence past the context (slot 2 filled to 15 of 16 first). */
    const int32_t bad[1] = {VOCAB}, zeros[4] = {0};
    const lm_feed fill[1] = {FEED(2, zeros, 4)};
    for (int i = 0; i < 3; i++)
        assert_int_equal(lm_session_feed_batch(s, fill, 1, got, &e), 0);
    assert_int_equal(lm_session_slot_position(s, 2), 15);
    const struct {
        lm_feed f[2];
        int n;
        const char *msg;
    } refused[] = {
        {{FEED(0, a, 4), FEED(1, a, 1)}, 2, "more than 4 tokens"},
        {{FEED(1, a, 1), FEED(1, b, 1)}, 2, "slot 1 appears twice"},
        {{FEED(3, a, 1)}, 1, "slot 3 of a batch is not one of the session's 3"},
        {{FEED(0, a, 0)}, 1, "has no tokens"},
        {{FEED(0, bad, 1)}, 1, "outside the vocabulary"},
        {{FEED(0, a, 1), FEED(2, zeros, 2)}, 2, "exceed the model's context"},
    };
    n_calls = 0;
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        lm_err err = {{0}};
        assert_int_equal(lm_session_feed_batch(s, refused[i].f, refused[i].n, got, &err), -1);
        assert_non_null(strstr(err.msg, refused[i].msg));
    }
    assert_int_equal(n_calls, 0);
    assert_int_equal(lm_session_slot_position(s, 0), 0);
    lm_err err = {{0}};
    assert_int_equal(lm_session_feed_batch(s, f, 0, got, &err), -1);
    assert_int_equal(n_calls, 0);

    /* A slot's rewind leaves the others; slot 0 is the plain feed's. */
    lm_session_slot_rewind(s, 1, 2);
    assert_int_equal(lm_session_slot_position(s, 1), 2);
    assert_int_equal(lm_session_slot_position(s, 2), 15);
    assert_int_equal(lm_session_slot_position(s, 7), -1);
    assert_int_equal(lm_session_feed(s, b, 3, NULL, &e), 0);
    assert_int_equal(lm_session_slot_position(s, 0), 3);
    expected_logits(b, 0, 3, want);
    assert_memory_equal(lm_session_logits(s), want + 2 * VOCAB, VOCAB * sizeof(float));

    assert_int_equal(lm_session_set_slots(s, 0, &err), -1);
    assert_non_null(strstr(err.msg, "use 1 to 4"));
    assert_int_equal(lm_session_set_slots(s, 5, &err), -1);
    lm_session_close(s);
}

static void test_dump_covers_one_forward_call(void **state)
{
    (void)state;
    lm_session *s = open_toy(1);
    lm_err e = {{0}};
    dump_log log = {0};
    lm_session_set_dump(s, record_dump, &log);
    int32_t tokens[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(lm_session_feed(s, tokens, 6, NULL, &e), 0);
    assert_int_equal(n_calls, 2);
    assert_int_equal(log.count, 2);
    assert_string_equal(log.names[0], "toy.tokens");
    assert_string_equal(log.names[1], "toy.layer/0");
    assert_int_equal(log.rows[0], 4);
    assert_int_equal(lm_session_feed(s, tokens, 1, NULL, &e), 0);
    assert_int_equal(log.count, 2);
    lm_session_close(s);
}

static void test_open_errors(void **state)
{
    (void)state;
    lm_err e = {{0}};
    assert_null(lm_session_open(&toy_model, "/nonexistent/lmcc/ckpt", 1, &e));
    assert_non_null(strstr(e.msg, "config.json"));

    lm_config_check wrong = {"vocab_size", LM_CFG_INT, 24, 0, NULL};
    lm_model_desc other = toy_model;
    other.config_checks = &wrong;
    assert_null(lm_session_open(&other, ckpt, 1, &e));
    assert_non_null(strstr(e.msg, "vocab_size"));

    /* Default threads: every usable CPU, at least one. */
    lm_session *s = lm_session_open(&toy_model, ckpt, 0, &e);
    assert_non_null(s);
    assert_true(lm_session_threads(s) >= 1);
    lm_session_close(s);
}

/* ---- CLI helpers ------------------------------------------------------ */

static void test_parse_token_list(void **state)
{
    (void)state;
    lm_err e = {{0}};
    int n;
    int32_t *ids = lm_parse_token_list("--tokens", "0,17,2147483647", &n, &e);
    assert_non_null(ids);
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 0);
    assert_int_equal(ids[1], 17);
    assert_int_equal(ids[2], 2147483647);
    free(ids);

    const struct {
        const char *text, *needle;
    } bad[] = {
        {"", "empty"},          {"1,,2", "item 2 ''"},     {"1,2,", "item 3 ''"},
        {"-1", "item 1 '-1'"},  {"+1", "item 1 '+1'"},     {" 1", "item 1 ' 1'"},
        {"1,x7", "item 2 'x7'"}, {"2147483648", "item 1"}, {"3,4a", "item 2 '4a'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(lm_parse_token_list("--tokens", bad[i].text, &n, &e));
        if (!strstr(e.msg, bad[i].needle))
            fail_msg("'%s': message '%s' lacks '%s'", bad[i].text, e.msg, bad[i].needle);
    }
}

static void test_argmax(void **state)
{
    (void)state;
    float x[5] = {1, 3, 3, -2, 0};
    assert_int_equal(lm_argmax(x, 5), 1); /* lowest id wins ties */
    float y[3] = {__builtin_nanf(""), -5, -1};
    assert_int_equal(lm_argmax(y, 3), 2);
}

/* lm_perplexity: chunks from an empty cache, a chunk's first token
 * unscored, the mean in double; against the toy's own logits. */
static void test_perplexity_chunks(void **state)
{
    (void)state;
    lm_session *s = open_toy(2);
    int32_t ids[11];
    for (int i = 0; i < 11; i++)
        ids[i] = (int32_t)((i * 5 + 3) % VOCAB);
    lm_perplexity_result r;
    lm_err e = {{0}};
    assert_int_equal(lm_perplexity(s, ids, 11, 4, &r, &e), 0);
    assert_int_equal(r.chunks, 3);
    assert_int_equal(r.scored, 3 + 3 + 2);
    assert_int_equal(n_calls, 3); /* each chunk fits one forward call (batch 4) */
    assert_int_equal(contract_violations, 0);
    double total = 0;
    for (int c0 = 0; c0 < 11; c0 += 4) {
        int len = 11 - c0 < 4 ? 11 - c0 : 4;
        float want[4 * VOCAB];
        expected_logits(ids + c0, 0, len, want);
        for (int j = 0; j + 1 < len; j++) {
            double sum = 0;
            for (int v = 0; v < VOCAB; v++)
                sum += exp((double)want[j * VOCAB + v]);
            total += log(sum) - want[j * VOCAB + ids[c0 + j + 1]];
        }
    }
    assert_true(fabs(r.nll - total / 8) < 1e-9);
    assert_true(fabs(r.perplexity - exp(total / 8)) < 1e-6 * r.perplexity);

    /* A chunk longer than a forward call: two calls for each of 8 tokens. */
    n_calls = 0;
    assert_int_equal(lm_perplexity(s, ids, 11, 8, &r, &e), 0);
    assert_int_equal(r.chunks, 2);
    assert_int_equal(r.scored, 7 + 2);
    assert_int_equal(n_calls, 2 + 1);

    /* A last chunk of one token scores nothing and runs nothing. */
    n_calls = 0;
    assert_int_equal(lm_perplexity(s, ids, 9, 4, &r, &e), 0);
    assert_int_equal(r.chunks, 2);
    assert_int_equal(r.scored, 6);
    assert_int_equal(n_calls, 2);

    n_calls = 0;
    assert_int_equal(lm_perplexity(s, ids, 11, 1, &r, &e), -1);
    assert_non_null(strstr(e.msg, "chunk of 1"));
    assert_int_equal(lm_perplexity(s, ids, 11, CTX + 1, &r, &e), -1);
    assert_int_equal(lm_perplexity(s, ids, 1, 4, &r, &e), -1);
    assert_non_null(strstr(e.msg, "at least 2"));
    ids[9] = 99;
    assert_int_equal(lm_perplexity(s, ids, 11, 4, &r, &e), -1);
    assert_non_null(strstr(e.msg, "token 9 is id 99"));
    assert_int_equal(n_calls, 0);
    lm_session_close(s);
}

/* ---- lm_main in-process ----------------------------------------------- */

/* Runs lm_main with stdout and stderr captured. args ends with NULL. */
static void run_cli(cli_result *r, const char *arg0, ...)
{
    va_list ap;
    va_start(ap, arg0);
    n_calls = 0;
    run_main_captured(r, &toy_model, NULL, arg0, ap);
    va_end(ap);
}

static void test_cli_greedy_generation(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "/some/dir/toy-model", "-m", ckpt, "--tokens", "1,2,3", "-n", "5", "-t", "2", NULL);
    expect_status(&r, 0);
    int32_t history[8] = {1, 2, 3};
    char want[128] = "";
    for (int i = 0; i < 5; i++) {
        history[3 + i] = toy_target(history, 2 + i);
        snprintf(want + strlen(want), sizeof want - strlen(want), i ? ",%d" : "%d", history[3 + i]);
    }
    strcat(want, "\n");
    assert_string_equal(r.out, want);
    /* One prefill call, then one per generated id except the last. */
    assert_int_equal(n_calls, 1 + 4);

    /* Default: 16 new ids when --logits is not given, fewer when the
     * context (16) ends first. */
    run_cli(&r, "toy", "--model", ckpt, "--tokens=7", NULL);
    expect_status(&r, 0);
    int commas = 0;
    for (const char *p = r.out; *p; p++)
        commas += *p == ',';
    assert_int_equal(commas, 14);
    run_cli(&r, "toy", "--model", ckpt, "--tokens=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, "\n");

    run_cli(&r, "toy", "-m", ckpt, "--tokens", "4", "-n", "0", NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, "\n");
}

static void test_cli_logits_and_dump(void **state)
{
    (void)state;
    char logits_path[128], dump_dir[128], path[256];
    snprintf(logits_path, sizeof logits_path, "%s/out.npy", ckpt);
    snprintf(dump_dir, sizeof dump_dir, "%s/dump/nested", ckpt);
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "9,8,7,6,5,4", "--logits", logits_path, "--dump",
            dump_dir, NULL);
    expect_status(&r, 0);
    assert_string_equal(r.out, "\n"); /* -n defaults to 0 with --logits */

    int rows, cols;
    lm_err e = {{0}};
    float *logits = lm_npy_read_f32(logits_path, &rows, &cols, &e);
    assert_non_null(logits);
    assert_int_equal(rows, 6);
    assert_int_equal(cols, VOCAB);
    int32_t tokens[6] = {9, 8, 7, 6, 5, 4};
    float want[6 * VOCAB];
    expected_logits(tokens, 0, 6, want);
    assert_memory_equal(logits, want, sizeof want);
    free(logits);

    /* The first forward call only: 4 of the 6 tokens. */
    snprintf(path, sizeof path, "%s/toy.tokens.npy", dump_dir);
    float *dumped = lm_npy_read_f32(path, &rows, &cols, &e);
    assert_non_null(dumped);
    assert_int_equal(rows, 4);
    assert_int_equal(cols, 1);
    for (int i = 0; i < 4; i++)
        assert_true(dumped[i] == (float)tokens[i]);
    free(dumped);
    snprintf(path, sizeof path, "%s/toy.layer_0.npy", dump_dir);
    dumped = lm_npy_read_f32(path, &rows, &cols, &e);
    assert_non_null(dumped);
    assert_int_equal(cols, 2);
    free(dumped);

    /* --logits together with generation. */
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--logits", logits_path, "-n", "2", NULL);
    expect_status(&r, 0);
    int32_t h[3] = {1};
    h[1] = toy_target(h, 0);
    h[2] = toy_target(h, 1);
    char line[64];
    snprintf(line, sizeof line, "%d,%d\n", h[1], h[2]);
    assert_string_equal(r.out, line);
}

static void test_cli_usage_errors(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "./bin/toy", "-m", ckpt, "--tokens", "1", "--bogus", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "toy: error: unknown or malformed option '--bogus'"));
    assert_non_null(strstr(r.err, "--help"));
    assert_string_equal(r.out, "");

    /* Modes that do not combine. */
    run_cli(&r, "./bin/toy", "-m", ckpt, "--tokens", "1", "--chat", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "toy: error: '--chat' takes text, not '--tokens'"));
    run_cli(&r, "toy", "-m", ckpt, "--chat", "--interactive", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--chat", "--logits", "x.npy", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "'--logits' does not work with '--chat'"));
    run_cli(&r, "toy", "-m", ckpt, "-p", "x", "--system", "s", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "'--system' only applies to --chat"));
    run_cli(&r, "toy", "-m", ckpt, "-p", "x", "-f", "y", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--temperature", "-1", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "--temperature"));
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--top-p", "1.5", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--num-return-sequences", "0", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--seed", "-5", NULL);
    expect_status(&r, 2);
    assert_int_equal(n_calls, 0);

    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "-p", "hello", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "'-p'"));

    run_cli(&r, "toy", "--tokens", "1", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "-m"));

    run_cli(&r, "toy", "-m", ckpt, NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "no prompt"));

    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,x,3", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "item 2 'x'"));

    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "-n", "-3", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "-t", "0", NULL);
    expect_status(&r, 2);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "extra", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "'extra'"));
    run_cli(&r, "toy", "-m", ckpt, "--tokens", NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "'--tokens' needs a value"));
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1", "--bandwidth-gbs", "fast", NULL);
    expect_status(&r, 2);
    assert_int_equal(n_calls, 0);
}

/* "toy -m CKPT a b [c]" is a usage error (exit 2) whose message holds needle. */
static void expect_usage_error(const char *needle, const char *a, const char *b, const char *c)
{
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, a, b, c, NULL);
    expect_status(&r, 2);
    if (!strstr(r.err, needle))
        fail_msg("'%s %s %s': stderr lacks \"%s\": %s", a, b, c ? c : "", needle, r.err);
    assert_int_equal(n_calls, 0);
}

/* --perplexity scores a file: no prompt, generation or sampling with it. */
static void test_cli_perplexity_usage(void **state)
{
    (void)state;
    const char *drop = "'--perplexity' scores a file and generates nothing; drop ";
    expect_usage_error("drop '--tokens'", "--perplexity=x.txt", "--tokens", "1");
    expect_usage_error(drop, "--perplexity=x.txt", "--temperature", "0.5");
    expect_usage_error("drop 'a sampling option'", "--perplexity=x.txt", "--seed", "3");
    expect_usage_error("drop '-n'", "--perplexity=x.txt", "-n", "3");
    expect_usage_error("drop '-p'", "--perplexity=x.txt", "-p", "hi");
    expect_usage_error("'--chunk' only applies to --perplexity", "--tokens=1", "--chunk", "4");
    expect_usage_error("--chunk", "--perplexity=x.txt", "--chunk", "1");
    expect_usage_error("context holds 16", "--perplexity=x.txt", "--chunk", "17");
}

static void test_cli_runtime_errors(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "--perplexity", "/nonexistent/file.txt", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "--perplexity: cannot open /nonexistent/file.txt"));
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,99", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "toy: error: prompt: token id 99 at index 1"));

    /* 10 prompt tokens + 7 new > 16: refused before anything runs. */
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3,4,5,6,7,8,9,10", "-n", "7", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "context of 16"));
    assert_int_equal(n_calls, 0);
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3,4,5,6,7,8,9,10", "-n", "6", NULL);
    expect_status(&r, 0);

    run_cli(&r, "toy", "-m", "/nonexistent/lmcc", "--tokens", "1", NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "config.json"));
    /* One line per failure. */
    int lines = 0;
    for (const char *p = r.err; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 1);
}

static void test_cli_help_and_version(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "--help", NULL);
    expect_status(&r, 0);
    const char *options[] = {"--model", "--tokens", "--max-tokens", "--logits", "--dump",
                             "--threads", "--bench", "--bandwidth-gbs", "--fma-gflops",
                             "--stats", "--help", "--version"};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++)
        if (!strstr(r.out, options[i]))
            fail_msg("--help does not list %s", options[i]);
    run_cli(&r, "toy", "--version", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.out, "toy-model"));
}

static void test_cli_bench_json(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3,4,5", "-n", "4", "--bench", NULL);
    expect_status(&r, 0);
    json_t *j = bench_json(&r);
    assert_int_equal(strchr(r.out, '\n') - r.out, (long)strlen(r.out) - 1); /* one line */
    assert_string_equal(json_string_value(json_object_get(j, "model")), "toy-model");
    assert_string_equal(json_string_value(json_object_get(j, "dtype")), "f32");
    assert_int_equal(json_integer_value(json_object_get(j, "weight_bytes_per_token")), 4000);
    assert_int_equal(json_integer_value(json_object_get(j, "prefill_tokens")), 5);
    assert_int_equal(json_integer_value(json_object_get(j, "decode_tokens")), 3);
    assert_true(json_is_null(json_object_get(j, "prefill_fraction")));
    assert_true(json_is_null(json_object_get(j, "decode_fraction")));
    const char *numbers[] = {"prefill_tps", "decode_tps", "ttft_s", "load_s", "peak_rss_bytes"};
    for (size_t i = 0; i < 5; i++)
        assert_true(json_is_number(json_object_get(j, numbers[i])));
    assert_true(json_integer_value(json_object_get(j, "peak_rss_bytes")) > 0);
    assert_true(json_is_null(json_object_get(j, "moe_routing"))); /* a dense model */
    assert_string_equal(json_string_value(json_object_get(j, "matmul_input")), "f32");
    assert_string_equal(json_string_value(json_object_get(j, "matmul_kernel")), "f32-fma");
    /* What a decode step reads: the weights, and the toy's 4 bytes of KV
     * cache a position for the 5 + (3 + 1) / 2 positions attended on average. */
    assert_int_equal(json_integer_value(json_object_get(j, "decode_bytes_per_token")), 4000 + 4 * 7);
    assert_int_equal(json_object_size(j), 16);
    json_decref(j);
    /* The ids went to stderr, so stdout stays one JSON object. */
    assert_non_null(strchr(r.err, ','));

    /* An f32-FMA model is measured against the FMA peak only. */
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2,3,4,5", "-n", "1", "--bench", "--amx-gflops", "100",
            "--bf16-dot-gflops", "50", NULL);
    expect_status(&r, 0);
    j = bench_json(&r);
    assert_true(json_is_null(json_object_get(j, "prefill_fraction")));
    json_decref(j);

    run_cli(&r, "toy", "-m", ckpt, "--tokens", "1,2", "-n", "3", "--bench", "--bandwidth-gbs", "2",
            "--fma-gflops", "0.5", NULL);
    expect_status(&r, 0);
    j = bench_json(&r);
    assert_non_null(j);
    double decode_tps = json_number_value(json_object_get(j, "decode_tps"));
    double prefill_tps = json_number_value(json_object_get(j, "prefill_tps"));
    double df = json_number_value(json_object_get(j, "decode_fraction"));
    double pf = json_number_value(json_object_get(j, "prefill_fraction"));
    assert_true(json_is_real(json_object_get(j, "decode_fraction")));
    assert_true(json_is_real(json_object_get(j, "prefill_fraction")));
    /* 2 prompt tokens, 2 decode steps: 3.5 positions of 4 bytes on average. */
    assert_true(fabs(df - decode_tps * (4000 + 4 * 3.5) / 2e9) <= 1e-6 * df);
    assert_true(fabs(pf - prefill_tps * 2 * 1000 / 0.5e9) <= 1e-6 * pf);
    json_decref(j);
}

static void test_cli_stats(void **state)
{
    (void)state;
    cli_result r;
    run_cli(&r, "toy", "-m", ckpt, "--tokens", "3,1,4", "-n", "2", "--stats", NULL);
    expect_status(&r, 0);
    int32_t h[3] = {3, 1, 4};
    int top = toy_target(h, 2);
    char want[64];
    snprintf(want, sizeof want, "top-5: %d (52)", top);
    if (!strstr(r.err, want))
        fail_msg("stats lack '%s': %s", want, r.err);
    assert_non_null(strstr(r.err, "load:"));
    assert_non_null(strstr(r.err, "prefill: 3 tokens"));
    assert_non_null(strstr(r.err, "decode: 1 tokens"));
    assert_non_null(strstr(r.err, "max 52"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feed_chunks_and_collects_logits),
        cmocka_unit_test(test_feed_without_all_logits_keeps_last),
        cmocka_unit_test(test_bad_ids_and_overflow_run_nothing),
        cmocka_unit_test(test_rewind_reuses_prefix),
        cmocka_unit_test(test_rewind_within_window_slack),
        cmocka_unit_test(test_feed_batch_keeps_sequences_apart),
        cmocka_unit_test(test_dump_covers_one_forward_call),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_parse_token_list),
        cmocka_unit_test(test_argmax),
        cmocka_unit_test(test_perplexity_chunks),
        cmocka_unit_test(test_cli_greedy_generation),
        cmocka_unit_test(test_cli_logits_and_dump),
        cmocka_unit_test(test_cli_usage_errors),
        cmocka_unit_test(test_cli_perplexity_usage),
        cmocka_unit_test(test_cli_runtime_errors),
        cmocka_unit_test(test_cli_help_and_version),
        cmocka_unit_test(test_cli_bench_json),
        cmocka_unit_test(test_cli_stats),
    };
    return cmocka_run_group_tests(tests, make_checkpoint, remove_checkpoint);
}
