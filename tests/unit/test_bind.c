/* Binding checkpoint tensors to weight slots and checking config.json:
 * in-place binding, dtype conversion, Q8_0 quantization, row slices, tied
 * slots, and one message that lists every problem. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dtype.h"
#include "core/qlayout.h"
#include "weights/bind.h"
#include "weights/checkpoint.h"
#include "weights/hugemap.h"
#include "weights/weight_cache.h"

/* ---- fixtures ---------------------------------------------------------- */

static int setup_dir(void **state)
{
    return setup_temp_dir(state, "/tmp/lmcc-bind-XXXXXX");
}

/* One tensor for write_model: name, dtype string, shape, raw bytes. */
typedef struct fixture_tensor {
    const char *name;
    const char *dtype;
    int ndim;
    int64_t shape[4];
    const void *data;
    size_t nbytes;
} fixture_tensor;

/* Writes DIR/model.safetensors holding the tensors back to back. The header
 * is padded with spaces to a length == pad_rem (mod 8), so pad_rem = 1 puts
 * the data region at an odd address. */
static void write_model(const char *dir, const fixture_tensor *t, int n, int pad_rem)
{
    char header[4096];
    size_t len = 0, off = 0;
    len += (size_t)snprintf(header + len, sizeof header - len, "{");
    for (int i = 0; i < n; i++) {
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "%s\"%s\": {\"dtype\": \"%s\", \"shape\": [", i ? ", " : "",
                                t[i].name, t[i].dtype);
        for (int k = 0; k < t[i].ndim; k++)
            len += (size_t)snprintf(header + len, sizeof header - len, "%s%lld", k ? ", " : "",
                                    (long long)t[i].shape[k]);
        len += (size_t)snprintf(header + len, sizeof header - len,
                                "], \"data_offsets\": [%zu, %zu]}", off, off + t[i].nbytes);
        off += t[i].nbytes;
    }
    len += (size_t)snprintf(header + len, sizeof header - len, "}");
    while (len % 8 != (size_t)pad_rem)
        header[len++] = ' ';
    size_t total = 8 + len + off;
    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)len >> (8 * i));
    memcpy(buf + 8, header, len);
    off = 8 + len;
    for (int i = 0; i < n; i++) {
        memcpy(buf + off, t[i].data, t[i].nbytes);
        off += t[i].nbytes;
    }
    write_file(dir, "model.safetensors", buf, total);
    free(buf);
}

static lm_checkpoint *open_ok(const char *dir)
{
    lm_err e = {{0}};
    lm_checkpoint *ck = lm_checkpoint_open(dir, &e);
    if (!ck)
        fail_msg("%s", e.msg);
    return ck;
}

static lm_model_desc model_with(const lm_weight_desc *w, int n)
{
    lm_model_desc d;
    memset(&d, 0, sizeof d);
    d.name = "test-model";
    d.arch = "test";
    d.n_weights = n;
    d.weights = w;
    return d;
}

static void bind_ok(const lm_model_desc *d, const lm_checkpoint *ck, lm_weights *w)
{
    lm_err e = {{0}};
    if (lm_bind_weights(d, ck, w, &e) != 0)
        fail_msg("%s", e.msg);
    assert_int_equal(w->n, d->n_weights);
}

#define SLOT2(name, dt, r, c) {(name), (dt), 2, {(r), (c)}, (r), 0, 0.0f}

/* ---- binding ----------------------------------------------------------- */

static void test_in_place(void **state)
{
    float f[16];
    uint16_t h[32];
    for (int i = 0; i < 16; i++)
        f[i] = (float)i * 0.25f - 1.0f;
    for (int i = 0; i < 32; i++)
        h[i] = lm_f32_to_bf16((float)i);
    const fixture_tensor t[] = {
        {"w.f32", "F32", 2, {4, 4}, f, sizeof f},
        {"w.bf16", "BF16", 2, {4, 8}, h, sizeof h},
        {"w.f16", "F16", 1, {2}, h, 4},
    };
    write_model(*state, t, 3, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {
        SLOT2("w.bf16", LM_BF16, 4, 8),
        SLOT2("w.f32", LM_F32, 4, 4),
        {"w.f16", LM_F16, 1, {2}, 2, 0, 0.0f},
    };
    lm_model_desc d = model_with(slots, 3);
    lm_weights w;
    bind_ok(&d, ck, &w);
    /* The very bytes of the mapping, not a copy. */
    assert_ptr_equal(w.ptr[0], lm_checkpoint_find(ck, "w.bf16")->data);
    assert_ptr_equal(w.ptr[1], lm_checkpoint_find(ck, "w.f32")->data);
    assert_ptr_equal(w.ptr[2], lm_checkpoint_find(ck, "w.f16")->data);
    assert_null(w.owned[0]);
    assert_null(w.owned[1]);
    assert_null(w.owned[2]);
    assert_true(((const float *)w.ptr[1])[5] == f[5]);
    assert_int_equal(((const uint16_t *)w.ptr[0])[31], h[31]);
    lm_weights_free(&w);
    assert_null(w.ptr);
    lm_checkpoint_close(ck);
}

static void test_misaligned_source_is_copied(void **state)
{
    uint16_t h[8];
    for (int i = 0; i < 8; i++)
        h[i] = lm_f32_to_bf16((float)i - 3.5f);
    const fixture_tensor t[] = {{"w", "BF16", 2, {2, 4}, h, sizeof h}};
    write_model(*state, t, 1, 1); /* data region at an odd offset */
    lm_checkpoint *ck = open_ok(*state);
    assert_int_equal((uintptr_t)lm_checkpoint_find(ck, "w")->data % 2, 1);
    const lm_weight_desc slots[] = {SLOT2("w", LM_BF16, 2, 4)};
    lm_model_desc d = model_with(slots, 1);
    lm_weights w;
    bind_ok(&d, ck, &w);
    assert_non_null(w.owned[0]);
    assert_int_equal((uintptr_t)w.ptr[0] % 64, 0);
    assert_memory_equal(w.ptr[0], h, sizeof h);
    lm_weights_free(&w);
    lm_checkpoint_close(ck);
}

static void test_conversions(void **state)
{
    /* f32 -> bf16 rounds to nearest even: 1 + 2^-8 is a tie that goes down
     * to 1.0 (0x3f80), 1 + 3 * 2^-8 a tie that goes up to 0x3f82. */
    float f[4] = {1.0f, 1.00390625f, 1.01171875f, -2.0f};
    const uint16_t f_as_bf16[4] = {0x3f80, 0x3f80, 0x3f82, 0xc000};
    uint16_t b[4] = {0x3fc0, 0xbf80, 0x0000, 0x4049}; /* 1.5, -1, 0, 3.140625 */
    const float b_as_f32[4] = {1.5f, -1.0f, 0.0f, 3.140625f};
    uint16_t h[4] = {0x3c00, 0xc000, 0x3555, 0x0001}; /* f16: 1, -2, 0.333252, 2^-24 */
    const float h_as_f32[4] = {1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-08f};
    const fixture_tensor t[] = {
        {"f", "F32", 2, {1, 4}, f, sizeof f},
        {"b", "BF16", 2, {1, 4}, b, sizeof b},
        {"h", "F16", 2, {1, 4}, h, sizeof h},
    };
    write_model(*state, t, 3, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {
        SLOT2("f", LM_BF16, 1, 4), SLOT2("b", LM_F32, 1, 4), SLOT2("h", LM_F32, 1, 4),
        SLOT2("h", LM_BF16, 1, 4), SLOT2("f", LM_F16, 1, 4),
    };
    lm_model_desc d = model_with(slots, 5);
    lm_weights w;
    bind_ok(&d, ck, &w);
    for (int i = 0; i < 5; i++) {
        assert_non_null(w.owned[i]);
        assert_int_equal((uintptr_t)w.ptr[i] % 64, 0);
    }
    const uint16_t *fb = w.ptr[0], *hb = w.ptr[3], *fh = w.ptr[4];
    const float *bf = w.ptr[1], *hf = w.ptr[2];
    const uint16_t h_as_bf16[4] = {0x3f80, 0xc000, 0x3eab, 0x3380};
    const uint16_t f_as_f16[4] = {0x3c00, 0x3c04, 0x3c0c, 0xc000};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(fb[i], f_as_bf16[i]);
        assert_true(bf[i] == b_as_f32[i]);
        assert_true(hf[i] == h_as_f32[i]);
        assert_int_equal(hb[i], h_as_bf16[i]);
        assert_int_equal(fh[i], f_as_f16[i]);
    }
    lm_weights_free(&w);
    lm_checkpoint_close(ck);
}

static void test_row_slices(void **state)
{
    /* A fused [12, 4] weight (as Qwen1's c_attn) split into q, k, v. */
    float f[48];
    for (int i = 0; i < 48; i++)
        f[i] = (float)i;
    const fixture_tensor t[] = {{"qkv", "F32", 2, {12, 4}, f, sizeof f}};
    write_model(*state, t, 1, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {
        {"qkv", LM_F32, 2, {4, 4}, 12, 0, 0.0f},
        {"qkv", LM_F32, 2, {4, 4}, 12, 4, 0.0f},
        {"qkv", LM_F32, 2, {4, 4}, 12, 8, 0.0f},
        {"qkv", LM_BF16, 2, {4, 4}, 12, 8, 0.0f},
    };
    lm_model_desc d = model_with(slots, 4);
    lm_weights w;
    bind_ok(&d, ck, &w);
    const float *base = lm_checkpoint_find(ck, "qkv")->data;
    for (int s = 0; s < 3; s++) {
        assert_ptr_equal(w.ptr[s], base + 16 * s);
        const float *rows = w.ptr[s];
        for (int i = 0; i < 16; i++)
            assert_true(rows[i] == (float)(16 * s + i));
    }
    const uint16_t *v = w.ptr[3];
    for (int i = 0; i < 16; i++)
        assert_true(lm_bf16_to_f32(v[i]) == (float)(32 + i));
    lm_weights_free(&w);
    lm_checkpoint_close(ck);
}

/* Offset slots (Gemma's 1 + w norms): an f32 norm of an f32 checkpoint,
 * which would bind in place, is copied with the offset added in f32; one
 * tensor with two offsets is two bindings, with one offset a shared one;
 * a bf16 source is converted and offset alike. The weight cache tells
 * the offsets apart. */
static void test_offset_slots(void **state)
{
    const float f[4] = { -0.25f, 0.0f, 0.125f, 3.0f };
    uint16_t h[4];
    for (int i = 0; i < 4; i++)
        h[i] = lm_f32_to_bf16(f[i] * 1.5f);
    const fixture_tensor t[] = {{"n", "F32", 1, {4}, f, sizeof f}, {"nb", "BF16", 1, {4}, h, sizeof h}};
    write_model(*state, t, 2, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {
        {"n", LM_F32, 1, {4}, 4, 0, 0.0f},
        {"n", LM_F32, 1, {4}, 4, 0, 1.0f},
        {"n", LM_F32, 1, {4}, 4, 0, 1.0f},
        {"n", LM_F32, 1, {4}, 4, 0, 0.5f},
        {"nb", LM_F32, 1, {4}, 4, 0, 1.0f},
    };
    lm_model_desc d = model_with(slots, 5);
    lm_weights w;
    bind_ok(&d, ck, &w);
    assert_ptr_equal(w.ptr[0], lm_checkpoint_find(ck, "n")->data);
    assert_ptr_not_equal(w.ptr[1], w.ptr[0]);
    assert_ptr_equal(w.ptr[2], w.ptr[1]);
    assert_ptr_not_equal(w.ptr[3], w.ptr[1]);
    for (int i = 0; i < 4; i++) {
        assert_true(((const float *)w.ptr[0])[i] == f[i]);
        assert_true(((const float *)w.ptr[1])[i] == 1.0f + f[i]);
        assert_true(((const float *)w.ptr[3])[i] == 0.5f + f[i]);
        assert_true(((const float *)w.ptr[4])[i] == 1.0f + lm_bf16_to_f32(h[i]));
    }
    lm_weights_free(&w);

    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", (const char *)*state);
    setenv("LMCC_WEIGHT_CACHE", dir, 1);
    lm_weight_cache one, half, none;
    lm_weight_cache_open(&one, &d, ck);
    lm_weight_desc other[5];
    memcpy(other, slots, sizeof other);
    other[1].offset = other[2].offset = 0.5f;
    lm_model_desc d2 = model_with(other, 5);
    lm_weight_cache_open(&half, &d2, ck);
    other[1].offset = other[2].offset = other[3].offset = other[4].offset = 0.0f;
    lm_model_desc d0 = model_with(other, 5);
    lm_weight_cache_open(&none, &d0, ck);
    setenv("LMCC_WEIGHT_CACHE", "0", 1);
    assert_true(one.path[0] && half.path[0]);
    assert_string_not_equal(one.path, half.path);
    /* No offset: the identity caches were written with before offsets. */
    assert_null(strstr(none.identity, "offset"));
    assert_non_null(strstr(one.identity, "offset n 0x1p+0\n"));
    lm_weight_cache_close(&one);
    lm_weight_cache_close(&half);
    lm_weight_cache_close(&none);
    lm_checkpoint_close(ck);
}

static void test_tied_slots(void **state)
{
    float emb[8 * 32];
    for (int i = 0; i < 8 * 32; i++)
        emb[i] = sinf((float)i);
    const fixture_tensor t[] = {{"model.embed_tokens.weight", "F32", 2, {8, 32}, emb, sizeof emb}};
    write_model(*state, t, 1, 0);
    lm_checkpoint *ck = open_ok(*state);
    /* Embedding and lm_head name one tensor; the two bf16 conversions may
     * share memory, which must then be freed once (ASan checks). */
    const lm_weight_desc slots[] = {
        SLOT2("model.embed_tokens.weight", LM_F32, 8, 32),
        SLOT2("model.embed_tokens.weight", LM_BF16, 8, 32),
        SLOT2("model.embed_tokens.weight", LM_BF16, 8, 32),
        SLOT2("model.embed_tokens.weight", LM_Q8_0, 8, 32),
    };
    lm_model_desc d = model_with(slots, 4);
    lm_weights w;
    bind_ok(&d, ck, &w);
    assert_ptr_equal(w.ptr[0], lm_checkpoint_find(ck, "model.embed_tokens.weight")->data);
    assert_memory_equal(w.ptr[1], w.ptr[2], 8 * 32 * 2);
    assert_true(lm_bf16_to_f32(((const uint16_t *)w.ptr[2])[77]) ==
                lm_bf16_to_f32(lm_f32_to_bf16(emb[77])));
    assert_non_null(w.ptr[3]);
    lm_weights_free(&w);
    lm_checkpoint_close(ck);
}

/* Checks a bound Q8_0 slot for x[rows * cols] against core/model.h's
 * quantization, read through core/qlayout.h's interleaving. */
static int8_t q8_at(const unsigned char *slot, size_t cols, size_t r, size_t k, float *scale)
{
    const uint8_t *g = lm_qgroup_block(slot, LM_Q8_0, cols, r, k / 32);
    *scale = lm_f16_to_f32((uint16_t)(g[2 * (r % LM_QROWS)] | g[2 * (r % LM_QROWS) + 1] << 8));
    return *scale == 0.0f ? 0 : (int8_t)lrintf(lm_qweight_at(slot, LM_Q8_0, cols, r, k) / *scale);
}

static void check_q8(const unsigned char *q8, const float *x, size_t n, size_t cols)
{
    for (size_t b = 0; b < n / 32; b++) {
        const float *xb = x + b * 32;
        const size_t r = b * 32 / cols, k0 = b * 32 % cols;
        float dh;
        (void)q8_at(q8, cols, r, k0, &dh);
        float amax = 0;
        for (int i = 0; i < 32; i++)
            amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f;
        /* The scale is stored as f16: relative error at most 2^-11, or half
         * the subnormal spacing (2^-25) once d drops below 2^-14. */
        assert_true(fabsf(dh - d) <= d * 0x1p-11f + 0x1p-25f);
        int saw_max = amax == 0;
        for (int i = 0; i < 32; i++) {
            int q = q8_at(q8, cols, r, k0 + (size_t)i, &dh);
            assert_true(q >= -127 && q <= 127);
            if (amax == 0) {
                assert_int_equal(q, 0);
                continue;
            }
            /* Rounding x / d costs at most d / 2 = max|x| / 254; the f16
             * scale adds at most 127 * |dh - d| on top. */
            float err = fabsf(xb[i] - dh * (float)q);
            if (err > amax / 254.0f + 127.0f * fabsf(dh - d) + 1e-6f * amax)
                fail_msg("block %zu element %d: x %g, q %d, scale %g: error %g", b, i,
                         (double)xb[i], q, (double)dh, (double)err);
            if (fabsf(xb[i]) == amax)
                saw_max |= q == 127 || q == -127;
        }
        assert_true(saw_max);
    }
}

static void test_q8_0(void **state)
{
    /* Four blocks per row, each at its own scale, one all zero. */
    enum { ROWS = 2, COLS = 128 };
    float f[ROWS * COLS];
    const float scales[8] = {1.0f, 1e-3f, 0.0f, 100.0f, 0.02f, 7.0f, 1e-5f, 0.5f};
    uint32_t seed = 12345;
    for (int i = 0; i < ROWS * COLS; i++) {
        seed = seed * 1664525u + 1013904223u;
        float u = (float)(seed >> 8) / (float)(1u << 24) * 2.0f - 1.0f;
        f[i] = u * scales[i / 32];
    }
    uint16_t b[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++)
        b[i] = lm_f32_to_bf16(f[i]);
    const fixture_tensor t[] = {
        {"f", "F32", 2, {ROWS, COLS}, f, sizeof f},
        {"b", "BF16", 2, {ROWS, COLS}, b, sizeof b},
    };
    write_model(*state, t, 2, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {SLOT2("f", LM_Q8_0, ROWS, COLS),
                                    SLOT2("b", LM_Q8_0, ROWS, COLS)};
    lm_model_desc d = model_with(slots, 2);
    lm_weights w;
    bind_ok(&d, ck, &w);
    assert_int_equal((uintptr_t)w.ptr[0] % 64, 0);
    check_q8(w.ptr[0], f, ROWS * COLS, COLS);
    float fb[ROWS * COLS];
    for (int i = 0; i < ROWS * COLS; i++)
        fb[i] = lm_bf16_to_f32(b[i]);
    check_q8(w.ptr[1], fb, ROWS * COLS, COLS);
    /* A value at exactly +-max gets +-127 and the block's sign pattern holds. */
    for (int i = 0; i < 32; i++) {
        float dh;
        const int8_t q = q8_at(w.ptr[0], COLS, 0, (size_t)i, &dh);
        if (f[i] != 0)
            assert_true((q >= 0) == (f[i] > 0) || q == 0);
    }
    lm_weights_free(&w);
    lm_checkpoint_close(ck);
}

/* The weight cache: a second bind of a q8_0 slot comes from the cache's
 * file, byte for byte what the first quantized; mapped in place where the
 * kernel keeps file pages on 2 MiB pages (then read-only), read into the
 * arena where it cannot, and read whenever LMCC_HUGE_PAGES=0. The slot is
 * 8.9 MB at q8_0, above the 6 MiB below which a file is not worth
 * putting on huge pages. */
static void test_weight_cache_round_trip(void **state)
{
    enum { BIG_ROWS = 2048, BIG_COLS = 4096 };
    uint16_t *b = malloc((size_t)BIG_ROWS * BIG_COLS * sizeof *b);
    assert_non_null(b);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < (size_t)BIG_ROWS * BIG_COLS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = lm_f32_to_bf16((float)(int32_t)x * 0x1p-31f);
    }
    const fixture_tensor t[] = {{"w", "BF16", 2, {BIG_ROWS, BIG_COLS}, b, (size_t)BIG_ROWS * BIG_COLS * 2}};
    write_model(*state, t, 1, 0);
    free(b);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/cache", (const char *)*state);
    setenv("LMCC_WEIGHT_CACHE", dir, 1);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {SLOT2("w", LM_Q8_0, BIG_ROWS, BIG_COLS)};
    lm_model_desc d = model_with(slots, 1);
    const size_t bytes = (size_t)BIG_ROWS * BIG_COLS / 32 * 34;
    lm_weights w;
    bind_ok(&d, ck, &w);
    assert_int_equal(w.from_cache, 0);
    unsigned char *want = malloc(bytes);
    assert_non_null(want);
    memcpy(want, w.ptr[0], bytes);
    lm_weights_free(&w);

    bind_ok(&d, ck, &w);
    assert_true(w.from_cache == LM_CACHE_MAPPED || w.from_cache == LM_CACHE_READ);
    assert_true(w.from_cache != LM_CACHE_MAPPED || w.cache_map == w.ptr[0]);
    assert_memory_equal(w.ptr[0], want, bytes);
    if (w.from_cache == LM_CACHE_MAPPED)
        print_message("weight cache mapped, %zu of %zu bytes on 2 MiB pages\n",
                      lm_map_huge_bytes(&w.cache_map, 1), bytes);
    else
        print_message("weight cache read: this kernel keeps the file in small pages\n");
    lm_weights_free(&w);

    setenv("LMCC_HUGE_PAGES", "0", 1);
    bind_ok(&d, ck, &w);
    unsetenv("LMCC_HUGE_PAGES");
    assert_int_equal(w.from_cache, LM_CACHE_READ);
    assert_null(w.cache_map);
    assert_memory_equal(w.ptr[0], want, bytes);
    lm_weights_free(&w);
    setenv("LMCC_WEIGHT_CACHE", "0", 1);
    free(want);
    lm_checkpoint_close(ck);
}

static void expect_bind_error(const lm_model_desc *d, const lm_checkpoint *ck, const char **want,
                              int n_want)
{
    lm_err e = {{0}};
    lm_weights w;
    assert_int_equal(lm_bind_weights(d, ck, &w, &e), -1);
    assert_null(w.ptr);
    assert_null(w.owned);
    for (int i = 0; i < n_want; i++)
        if (!strstr(e.msg, want[i]))
            fail_msg("expected \"%s\" in \"%s\"", want[i], e.msg);
}

static void test_q8_needs_blocks(void **state)
{
    float f[2 * 48] = {0};
    const fixture_tensor t[] = {{"w", "F32", 2, {2, 48}, f, sizeof f}};
    write_model(*state, t, 1, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {SLOT2("w", LM_Q8_0, 2, 48)};
    lm_model_desc d = model_with(slots, 1);
    const char *want[] = {"1 problem binding weights",
                          "tensor 'w' cannot be quantized to q8_0: last dimension 48"};
    expect_bind_error(&d, ck, want, 2);
    lm_checkpoint_close(ck);
}

static void test_all_problems_in_one_message(void **state)
{
    float f[12] = {0};
    int32_t ids[2] = {1, 2};
    const fixture_tensor t[] = {
        {"b", "F32", 1, {4}, f, 16},
        {"c", "F32", 2, {3, 4}, f, sizeof f},
        {"ids", "I32", 2, {1, 2}, ids, sizeof ids},
        {"ok", "F32", 1, {2}, f, 8},
    };
    write_model(*state, t, 4, 0);
    lm_checkpoint *ck = open_ok(*state);
    const lm_weight_desc slots[] = {
        SLOT2("a", LM_BF16, 64, 64),
        SLOT2("c", LM_F32, 4, 4),
        SLOT2("ids", LM_F32, 1, 2),
        {"ok", LM_F32, 1, {2}, 2, 0, 0.0f},
    };
    lm_model_desc d = model_with(slots, 4);
    const char *want[] = {
        "4 problems binding weights: ",
        "missing tensor 'a' (expected [64, 64]",
        "unexpected tensor 'b'",
        "tensor 'c' has shape [3, 4], expected [4, 4]",
        "tensor 'ids' has unsupported dtype I32",
        "; check that the checkpoint matches the compiled model",
    };
    expect_bind_error(&d, ck, want, 6);
    char dir_prefix[300];
    snprintf(dir_prefix, sizeof dir_prefix, "%s: 4 problems", (const char *)*state);
    lm_err e = {{0}};
    lm_weights w;
    assert_int_equal(lm_bind_weights(&d, ck, &w, &e), -1);
    assert_non_null(strstr(e.msg, dir_prefix));
    assert_null(strstr(e.msg, "'ok'"));
    lm_checkpoint_close(ck);
}

static void test_many_problems_truncated(void **state)
{
    float f[1] = {0};
    const fixture_tensor t[] = {{"only", "F32", 1, {1}, f, 4}};
    write_model(*state, t, 1, 0);
    lm_checkpoint *ck = open_ok(*state);
    enum { N = 200 };
    static char names[N][64];
    lm_weight_desc slots[N];
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i], "model.layers.%d.mlp.gate_proj.weight", i);
        slots[i] = (lm_weight_desc)SLOT2(names[i], LM_F32, 8, 8);
    }
    lm_model_desc d = model_with(slots, N);
    const char *want[] = {"201 problems binding weights", "missing tensor 'model.layers.0.",
                          "more; check that the checkpoint matches"};
    expect_bind_error(&d, ck, want, 3);
    lm_checkpoint_close(ck);
}

/* ---- config.json ------------------------------------------------------- */

static const lm_config_check checks[] = {
    {"hidden_size", LM_CFG_INT, 64, 0, NULL},
    {"num_attention_heads", LM_CFG_INT, 4, 0, NULL},
    {"rope_theta", LM_CFG_FLOAT, 1000000.0, 0, NULL},
    {"rms_norm_eps", LM_CFG_FLOAT, 1e-6, 0, NULL},
    {"tie_word_embeddings", LM_CFG_BOOL, 1, 0, NULL},
    {"attention_bias", LM_CFG_BOOL, 0, 1, NULL},
    {"max_position_embeddings", LM_CFG_INT, 128, 1, NULL},
    {"hidden_act", LM_CFG_STRING, 0, 1, "silu"},
    {"rope_scaling", LM_CFG_STRING, 0, 0, NULL}, /* must be absent or null */
};

static lm_model_desc config_model(void)
{
    lm_model_desc d;
    memset(&d, 0, sizeof d);
    d.name = "qwen3-tiny";
    d.n_config_checks = (int)(sizeof checks / sizeof checks[0]);
    d.config_checks = checks;
    return d;
}

static void write_config(const char *dir, const char *json)
{
    write_file(dir, "config.json", json, strlen(json));
}

static void test_config_matches(void **state)
{
    lm_model_desc d = config_model();
    lm_err e = {{0}};
    /* Defaults absent; an integral real for an int; an int for a float. */
    write_config(*state, "{\"hidden_size\": 64.0, \"num_attention_heads\": 4, "
                         "\"rope_theta\": 1000000, \"rms_norm_eps\": 1e-06, "
                         "\"tie_word_embeddings\": true, \"model_type\": \"qwen3\"}");
    if (lm_check_hf_config(&d, *state, &e) != 0)
        fail_msg("%s", e.msg);
    /* Present and equal is fine too, and float equality is relative. */
    write_config(*state, "{\"hidden_size\": 64, \"num_attention_heads\": 4, "
                         "\"rope_theta\": 1000000.0000001, \"rms_norm_eps\": 0.000001, "
                         "\"tie_word_embeddings\": true, \"attention_bias\": false, "
                         "\"max_position_embeddings\": 128, \"hidden_act\": \"silu\", "
                         "\"rope_scaling\": null}");
    if (lm_check_hf_config(&d, *state, &e) != 0)
        fail_msg("%s", e.msg);
}

static void test_config_differs(void **state)
{
    lm_model_desc d = config_model();
    lm_err e = {{0}};
    write_config(*state, "{\"hidden_size\": 64, \"num_attention_heads\": 8, "
                         "\"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-5, "
                         "\"tie_word_embeddings\": \"yes\", \"attention_bias\": true, "
                         "\"max_position_embeddings\": 128.5, \"hidden_act\": \"gelu\", "
                         "\"rope_scaling\": {\"rope_type\": \"linear\"}}");
    assert_int_equal(lm_check_hf_config(&d, *state, &e), -1);
    const char *want[] = {
        "/config.json: does not match the compiled model qwen3-tiny: ",
        "num_attention_heads is 8, compiled 4",
        "rope_theta is 10000, compiled 1000000",
        "rms_norm_eps is 1e-05, compiled 1e-06",
        "tie_word_embeddings is the string \"yes\", compiled true",
        "attention_bias is true, compiled false",
        "max_position_embeddings is 128.5, compiled 128",
        "hidden_act is the string \"gelu\", compiled \"silu\"",
        "rope_scaling is an object, compiled without it",
        "; rebuild from this config (lmcc import) or use the matching checkpoint",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(e.msg, want[i]))
            fail_msg("expected \"%s\" in \"%s\"", want[i], e.msg);
    assert_null(strstr(e.msg, "hidden_size"));

    /* A required field that is absent. */
    write_config(*state, "{\"num_attention_heads\": 4, \"rope_theta\": 1e6, "
                         "\"rms_norm_eps\": 1e-6, \"tie_word_embeddings\": true}");
    assert_int_equal(lm_check_hf_config(&d, *state, &e), -1);
    assert_non_null(strstr(e.msg, "hidden_size is missing, compiled 64"));
}

static void test_config_unreadable(void **state)
{
    lm_model_desc d = config_model();
    lm_err e = {{0}};
    assert_int_equal(lm_check_hf_config(&d, *state, &e), -1);
    assert_non_null(strstr(e.msg, "config.json: cannot open"));
    write_config(*state, "{\n  \"hidden_size\": 64,\n  \"oops\"\n}");
    assert_int_equal(lm_check_hf_config(&d, *state, &e), -1);
    assert_non_null(strstr(e.msg, "config.json:4:"));
    write_config(*state, "[64]");
    assert_int_equal(lm_check_hf_config(&d, *state, &e), -1);
    assert_non_null(strstr(e.msg, "not a JSON object"));
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_temp_dir)

int main(void)
{
    /* Quantizing binds would write the user's weight cache otherwise; the
     * tests that want a cache set their own directory. */
    setenv("LMCC_WEIGHT_CACHE", "0", 1);
    const struct CMUnitTest tests[] = {
        DIR_TEST(test_in_place),
        DIR_TEST(test_misaligned_source_is_copied),
        DIR_TEST(test_conversions),
        DIR_TEST(test_row_slices),
        DIR_TEST(test_tied_slots),
        DIR_TEST(test_offset_slots),
        DIR_TEST(test_q8_0),
        DIR_TEST(test_q8_needs_blocks),
        DIR_TEST(test_weight_cache_round_trip),
        DIR_TEST(test_all_problems_in_one_message),
        DIR_TEST(test_many_problems_truncated),
        DIR_TEST(test_config_matches),
        DIR_TEST(test_config_differs),
        DIR_TEST(test_config_unreadable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
