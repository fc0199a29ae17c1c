/* synth_checkpoint: deterministic bytes, a valid safetensors layout, shards
 * with an index, non-trivial norm weights, bf16 = rounded f32. */
#include "testutil.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "synth.h"

static const synth_tensor TENSORS[] = {
    {"model.embed_tokens.weight", 2, {40, 24}, SYNTH_EMBEDDING, 0.02},
    {"model.layers.0.input_layernorm.weight", 1, {24}, SYNTH_NORM, 0.1},
    {"model.layers.0.self_attn.q_proj.weight", 2, {32, 24}, SYNTH_MATRIX, 1.0},
    {"model.layers.0.self_attn.k_proj.weight", 2, {16, 24}, SYNTH_MATRIX, 1.0},
    {"model.layers.0.mlp.down_proj.weight", 2, {24, 48}, SYNTH_MATRIX, 1.0},
    {"model.norm.weight", 1, {24}, SYNTH_NORM, 0.1},
    {"lm_head.weight", 2, {40, 24}, SYNTH_MATRIX, 1.0},
};
#define NT (sizeof TENSORS / sizeof TENSORS[0])
static const char *CONFIG = "{\"vocab_size\": 40}";

typedef struct buf {
    uint8_t *p;
    size_t n;
} buf;

static buf read_file(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    buf b = {0};
    FILE *f = fopen(path, "rb");
    if (!f)
        return b;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b.p = malloc(n > 0 ? (size_t)n : 1);
    b.n = fread(b.p, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static int file_exists(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

static void make_tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/test_synth.XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void synth_ok(const char *dir, uint64_t seed, int bf16, int shards)
{
    synth_options opt = {.seed = seed, .bf16 = bf16, .shards = shards};
    lm_err e = {{0}};
    int rc = synth_checkpoint(dir, TENSORS, NT, CONFIG, &opt, &e);
    if (rc)
        fail_msg("synth_checkpoint: %s", e.msg);
}

/* The parsed header of a safetensors file, plus where its data starts. */
static json_t *parse_header(const buf *b, size_t *data_start)
{
    assert_true(b->n >= 8);
    uint64_t len = 0;
    for (int i = 0; i < 8; i++)
        len |= (uint64_t)b->p[i] << (8 * i);
    assert_int_equal(len % 8, 0);
    assert_true(8 + len <= b->n);
    json_error_t err;
    json_t *h = json_loadb((const char *)b->p + 8, (size_t)len, 0, &err);
    if (!h)
        fail_msg("header does not parse: %s", err.text);
    *data_start = 8 + (size_t)len;
    return h;
}

/* Values of tensor `name` in file b as f32 (malloc'd), checking its header
 * entry against the expected dtype and shape. */
static float *tensor_values(const buf *b, const synth_tensor *t, int bf16)
{
    size_t start;
    json_t *h = parse_header(b, &start);
    json_t *ent = json_object_get(h, t->name);
    if (!ent)
        fail_msg("tensor %s missing from header", t->name);
    assert_string_equal(json_string_value(json_object_get(ent, "dtype")), bf16 ? "BF16" : "F32");
    json_t *shape = json_object_get(ent, "shape");
    assert_int_equal(json_array_size(shape), t->ndim);
    size_t elems = 1;
    for (int d = 0; d < t->ndim; d++) {
        assert_int_equal(json_integer_value(json_array_get(shape, d)), t->shape[d]);
        elems *= (size_t)t->shape[d];
    }
    json_t *offs = json_object_get(ent, "data_offsets");
    size_t b0 = (size_t)json_integer_value(json_array_get(offs, 0));
    size_t b1 = (size_t)json_integer_value(json_array_get(offs, 1));
    assert_int_equal(b1 - b0, elems * (bf16 ? 2 : 4));
    assert_true(start + b1 <= b->n);
    float *v = malloc(elems * sizeof *v);
    const uint8_t *p = b->p + start + b0;
    for (size_t i = 0; i < elems; i++) {
        if (bf16) {
            uint16_t h16;
            memcpy(&h16, p + 2 * i, 2);
            v[i] = lm_bf16_to_f32(h16);
        } else {
            memcpy(&v[i], p + 4 * i, 4);
        }
    }
    json_decref(h);
    return v;
}

static size_t tensor_elems(const synth_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->ndim; d++)
        n *= (size_t)t->shape[d];
    return n;
}

static void test_same_seed_same_bytes(void **state)
{
    char a[64], b[64];
    make_tmpdir(a, sizeof a);
    make_tmpdir(b, sizeof b);
    synth_ok(a, 42, 0, 1);
    synth_ok(b, 42, 0, 1);
    buf fa = read_file(a, "model.safetensors"), fb = read_file(b, "model.safetensors");
    assert_true(fa.n > 0);
    assert_int_equal(fa.n, fb.n);
    assert_memory_equal(fa.p, fb.p, fa.n);
    buf ca = read_file(a, "config.json");
    assert_true(ca.n > 0);
    assert_memory_equal(ca.p, "{\"vocab_size\": 40}\n", ca.n);

    /* A different seed changes every tensor's data but not the header. */
    synth_ok(b, 43, 0, 1);
    buf fc = read_file(b, "model.safetensors");
    assert_int_equal(fa.n, fc.n);
    assert_memory_not_equal(fa.p, fc.p, fa.n);
    for (size_t i = 0; i < NT; i++) {
        float *x = tensor_values(&fa, &TENSORS[i], 0), *y = tensor_values(&fc, &TENSORS[i], 0);
        assert_memory_not_equal(x, y, tensor_elems(&TENSORS[i]) * sizeof *x);
        free(x);
        free(y);
    }
    free(fa.p);
    free(fb.p);
    free(fc.p);
    free(ca.p);
    remove_tree(a);
    remove_tree(b);
}

static void test_header_layout(void **state)
{
    char d[64];
    make_tmpdir(d, sizeof d);
    synth_ok(d, 7, 0, 1);
    buf f = read_file(d, "model.safetensors");
    size_t start;
    json_t *h = parse_header(&f, &start);
    assert_string_equal(json_string_value(json_object_get(json_object_get(h, "__metadata__"), "format")), "pt");
    assert_int_equal(json_object_size(h), NT + 1);
    /* Data is contiguous in the given order and fills the file exactly. */
    size_t off = 0;
    for (size_t i = 0; i < NT; i++) {
        json_t *offs = json_object_get(json_object_get(h, TENSORS[i].name), "data_offsets");
        assert_int_equal(json_integer_value(json_array_get(offs, 0)), off);
        off += tensor_elems(&TENSORS[i]) * 4;
        assert_int_equal(json_integer_value(json_array_get(offs, 1)), off);
        float *v = tensor_values(&f, &TENSORS[i], 0);
        free(v);
    }
    assert_int_equal(start + off, f.n);
    /* Padding is spaces, and nothing but JSON precedes it. */
    assert_true(f.p[start - 1] == ' ' || f.p[start - 1] == '}');
    json_decref(h);
    free(f.p);
    remove_tree(d);
}

static void test_values_follow_init(void **state)
{
    char d[64];
    make_tmpdir(d, sizeof d);
    synth_ok(d, 1, 0, 1);
    buf f = read_file(d, "model.safetensors");
    for (size_t i = 0; i < NT; i++) {
        const synth_tensor *t = &TENSORS[i];
        size_t n = tensor_elems(t);
        float *v = tensor_values(&f, t, 0);
        double mean = 0, var = 0;
        int ones = 0;
        for (size_t j = 0; j < n; j++) {
            assert_true(isfinite(v[j]));
            mean += v[j];
            ones += v[j] == 1.0f;
        }
        mean /= (double)n;
        for (size_t j = 0; j < n; j++)
            var += (v[j] - mean) * (v[j] - mean);
        double sd = sqrt(var / (double)(n - 1));
        double want_sd = t->init == SYNTH_MATRIX ? t->scale / sqrt((double)t->shape[t->ndim - 1]) : t->scale;
        double want_mean = t->init == SYNTH_NORM ? 1.0 : 0.0;
        /* Loose bounds: a few hundred samples, but a wrong init is far off. */
        assert_true(sd > 0.6 * want_sd && sd < 1.4 * want_sd);
        assert_true(fabs(mean - want_mean) < 4 * want_sd / sqrt((double)n) + 1e-9);
        if (t->init == SYNTH_NORM)
            assert_true(ones < (int)n / 2); /* not all ones */
        free(v);
    }
    free(f.p);
    remove_tree(d);
}

static void test_bf16_is_rounded_f32(void **state)
{
    char a[64], b[64];
    make_tmpdir(a, sizeof a);
    make_tmpdir(b, sizeof b);
    synth_ok(a, 5, 0, 1);
    synth_ok(b, 5, 1, 1);
    buf fa = read_file(a, "model.safetensors"), fb = read_file(b, "model.safetensors");
    int differ = 0;
    for (size_t i = 0; i < NT; i++) {
        size_t n = tensor_elems(&TENSORS[i]);
        float *x = tensor_values(&fa, &TENSORS[i], 0), *y = tensor_values(&fb, &TENSORS[i], 1);
        for (size_t j = 0; j < n; j++) {
            float want = lm_bf16_to_f32(lm_f32_to_bf16(x[j]));
            assert_memory_equal(&want, &y[j], sizeof want);
            differ += x[j] != y[j];
        }
        free(x);
        free(y);
    }
    assert_true(differ > 0); /* bf16 really lost precision */
    free(fa.p);
    free(fb.p);
    remove_tree(a);
    remove_tree(b);
}

static void test_shards_and_stale_files(void **state)
{
    char root[64], d[4096];
    make_tmpdir(root, sizeof root);
    snprintf(d, sizeof d, "%s/nested/ckpt", root); /* parents are created */
    synth_ok(d, 9, 0, 1);
    assert_true(file_exists(d, "model.safetensors"));
    buf single = read_file(d, "model.safetensors");

    synth_ok(d, 9, 0, 3);
    assert_false(file_exists(d, "model.safetensors"));
    buf idx = read_file(d, "model.safetensors.index.json");
    json_error_t err;
    json_t *index = json_loadb((const char *)idx.p, idx.n, 0, &err);
    assert_non_null(index);
    json_t *map = json_object_get(index, "weight_map");
    assert_int_equal(json_object_size(map), NT);
    size_t total = 0;
    const char *prev = "";
    for (size_t i = 0; i < NT; i++) {
        const char *file = json_string_value(json_object_get(map, TENSORS[i].name));
        assert_non_null(file);
        assert_true(strcmp(file, prev) >= 0); /* consecutive groups, in order */
        prev = file;
        buf s = read_file(d, file);
        assert_true(s.n > 0);
        float *x = tensor_values(&s, &TENSORS[i], 0), *y = tensor_values(&single, &TENSORS[i], 0);
        assert_memory_equal(x, y, tensor_elems(&TENSORS[i]) * sizeof *x);
        total += tensor_elems(&TENSORS[i]) * 4;
        free(x);
        free(y);
        free(s.p);
    }
    assert_int_equal(json_integer_value(json_object_get(json_object_get(index, "metadata"), "total_size")), total);
    for (int g = 1; g <= 3; g++) {
        char name[64];
        snprintf(name, sizeof name, "model-%05d-of-00003.safetensors", g);
        assert_true(file_exists(d, name)); /* no shard is empty */
    }
    json_decref(index);
    free(idx.p);

    /* Fewer shards: the old 3-shard files go, and so does the index for 1. */
    synth_ok(d, 9, 0, 2);
    assert_false(file_exists(d, "model-00003-of-00003.safetensors"));
    assert_false(file_exists(d, "model-00001-of-00003.safetensors"));
    assert_true(file_exists(d, "model-00002-of-00002.safetensors"));
    synth_ok(d, 9, 0, 1);
    assert_false(file_exists(d, "model.safetensors.index.json"));
    assert_false(file_exists(d, "model-00001-of-00002.safetensors"));
    assert_true(file_exists(d, "model.safetensors"));

    /* No temporaries are left behind. */
    DIR *dd = opendir(d);
    struct dirent *de;
    while ((de = readdir(dd)))
        assert_true(de->d_name[0] != '.' || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."));
    closedir(dd);
    free(single.p);
    remove_tree(root);
}

static void test_errors(void **state)
{
    char d[64];
    make_tmpdir(d, sizeof d);
    lm_err e = {{0}};
    synth_options opt = {.seed = 1, .bf16 = 0, .shards = 1};

    /* More shards than tensors */
    opt.shards = (int)NT + 1;
    assert_int_equal(synth_checkpoint(d, TENSORS, NT, CONFIG, &opt, &e), -1);
    assert_non_null(strstr(e.msg, "shards"));
    opt.shards = 1;

    /* Duplicate names */
    synth_tensor dup[2] = {TENSORS[1], TENSORS[1]};
    assert_int_equal(synth_checkpoint(d, dup, 2, CONFIG, &opt, &e), -1);
    assert_non_null(strstr(e.msg, "share a name"));

    /* Bad shape */
    synth_tensor bad = {"x", 2, {4, 0}, SYNTH_MATRIX, 1.0};
    assert_int_equal(synth_checkpoint(d, &bad, 1, CONFIG, &opt, &e), -1);
    assert_non_null(strstr(e.msg, "x"));

    /* Output path under a regular file: the message names the path. */
    char file[4096], sub[4096];
    snprintf(file, sizeof file, "%s/plain", d);
    FILE *f = fopen(file, "w");
    fclose(f);
    snprintf(sub, sizeof sub, "%s/ckpt", file);
    assert_int_equal(synth_checkpoint(sub, TENSORS, NT, CONFIG, &opt, &e), -1);
    assert_non_null(strstr(e.msg, file));

    /* A failed run leaves no temporaries and no checkpoint. */
    DIR *dd = opendir(d);
    struct dirent *de;
    while ((de = readdir(dd)))
        assert_true(!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") || !strcmp(de->d_name, "plain"));
    closedir(dd);
    remove_tree(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_seed_same_bytes),  cmocka_unit_test(test_header_layout),
        cmocka_unit_test(test_values_follow_init),    cmocka_unit_test(test_bf16_is_rounded_f32),
        cmocka_unit_test(test_shards_and_stale_files), cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
