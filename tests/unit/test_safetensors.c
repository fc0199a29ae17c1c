/* Reading safetensors files and checkpoint directories: valid single files,
 * sharded directories, and every malformed input the parser must reject
 * with a message instead of crashing. Files are written into a fresh
 * mkdtemp directory per test. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "weights/checkpoint.h"

/* ---- fixtures ---------------------------------------------------------- */

static int setup_dir(void **state)
{
    return setup_temp_dir(state, "/tmp/lmcc-st-XXXXXX");
}

/* Writes a safetensors file: length prefix, header (padded with spaces to
 * pad_to bytes when pad_to > 0, as Hugging Face does), then data. */
static void write_st_raw(const char *dir, const char *name, uint64_t declared_len,
                         const char *header, size_t header_bytes, const void *data, size_t data_len)
{
    size_t total = 8 + header_bytes + data_len;
    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(declared_len >> (8 * i));
    memcpy(buf + 8, header, header_bytes);
    if (data_len)
        memcpy(buf + 8 + header_bytes, data, data_len);
    write_file(dir, name, buf, total);
    free(buf);
}

static void write_st(const char *dir, const char *name, const char *header, const void *data,
                     size_t data_len)
{
    size_t n = strlen(header), padded = (n + 7) / 8 * 8;
    char *h = malloc(padded);
    assert_non_null(h);
    memcpy(h, header, n);
    memset(h + n, ' ', padded - n);
    write_st_raw(dir, name, padded, h, padded, data, data_len);
    free(h);
}

/* Opens dir, expecting failure with a message containing want. */
static void expect_open_error(const char *dir, const char *want)
{
    lm_err e = {{0}};
    lm_checkpoint *ck = lm_checkpoint_open(dir, &e);
    if (ck || !strstr(e.msg, want))
        fail_msg("expected an error containing \"%s\", got %s: \"%s\"", want,
                 ck ? "success" : "failure", e.msg);
}

/* model.safetensors with one header and data_len zero bytes, expecting want. */
static void expect_bad_header(const char *dir, const char *header, size_t data_len,
                              const char *want)
{
    unsigned char *data = calloc(data_len ? data_len : 1, 1);
    assert_non_null(data);
    write_st(dir, "model.safetensors", header, data, data_len);
    free(data);
    expect_open_error(dir, want);
    /* Every message names the file. */
    lm_err e = {{0}};
    assert_null(lm_checkpoint_open(dir, &e));
    assert_non_null(strstr(e.msg, "model.safetensors"));
}

/* ---- valid files ------------------------------------------------------- */

static void test_single_file(void **state)
{
    const char *dir = *state;
    /* Data region: b (F32 [2,3]) at 0..24, a (BF16 [4]) at 24..32, c (F16
     * [2,2]) at 32..40, then 5 trailing bytes, which are allowed. */
    unsigned char data[45] = {0};
    float b[6] = {0.5f, -1.0f, 2.0f, 3.25f, -4.5f, 1e-3f};
    uint16_t a[4] = {0x3f80, 0xc000, 0x0000, 0x4049}; /* 1, -2, 0, 3.140625 */
    uint16_t c[4] = {0x3c00, 0x3800, 0xbc00, 0x4200}; /* 1, 0.5, -1, 3 */
    memcpy(data, b, 24);
    memcpy(data + 24, a, 8);
    memcpy(data + 32, c, 8);
    write_st(dir, "model.safetensors",
             "{\"__metadata__\": {\"format\": \"pt\"},"
             " \"b.weight\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
             " \"a.weight\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [24, 32]},"
             " \"c\": {\"dtype\": \"F16\", \"shape\": [2, 2], \"data_offsets\": [32, 40]},"
             " \"scalar\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [40, 44]},"
             " \"empty\": {\"dtype\": \"I64\", \"shape\": [0, 7], \"data_offsets\": [4, 4]}}",
             data, sizeof data);
    lm_err e = {{0}};
    lm_checkpoint *ck = lm_checkpoint_open(dir, &e);
    if (!ck)
        fail_msg("%s", e.msg);
    assert_string_equal(lm_checkpoint_dir(ck), dir);
    assert_int_equal(lm_checkpoint_count(ck), 5);
    const char *order[] = {"a.weight", "b.weight", "c", "empty", "scalar"};
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(lm_checkpoint_tensor(ck, i)->name, order[i]);
    assert_null(lm_checkpoint_tensor(ck, 5));

    const lm_tensor *tb = lm_checkpoint_find(ck, "b.weight");
    assert_non_null(tb);
    assert_int_equal(tb->dtype, LM_ST_F32);
    assert_int_equal(tb->ndim, 2);
    assert_int_equal(tb->shape[0], 2);
    assert_int_equal(tb->shape[1], 3);
    assert_int_equal(tb->nbytes, 24);
    assert_string_equal(tb->file, "model.safetensors");
    assert_memory_equal(tb->data, b, sizeof b);

    const lm_tensor *ta = lm_checkpoint_find(ck, "a.weight");
    assert_non_null(ta);
    assert_int_equal(ta->dtype, LM_ST_BF16);
    assert_int_equal(ta->ndim, 1);
    assert_int_equal(ta->shape[0], 4);
    assert_memory_equal(ta->data, a, sizeof a);
    assert_ptr_equal((const char *)ta->data, (const char *)tb->data + 24);

    const lm_tensor *tc = lm_checkpoint_find(ck, "c");
    assert_int_equal(tc->dtype, LM_ST_F16);
    assert_memory_equal(tc->data, c, sizeof c);
    assert_int_equal(lm_checkpoint_find(ck, "scalar")->ndim, 0);
    assert_int_equal(lm_checkpoint_find(ck, "empty")->nbytes, 0);
    assert_null(lm_checkpoint_find(ck, "b"));
    assert_null(lm_checkpoint_find(ck, "zzz"));
    assert_null(lm_checkpoint_find(ck, "__metadata__"));

    assert_string_equal(lm_st_dtype_name(LM_ST_BF16), "BF16");
    assert_int_equal(lm_st_dtype_size(LM_ST_F32), 4);
    assert_int_equal(lm_st_dtype_size(LM_ST_F8_E5M2), 1);
    lm_checkpoint_close(ck);
}

static void write_two_shards(const char *dir)
{
    float x[4] = {1, 2, 3, 4}, y[2] = {5, 6}, z[3] = {7, 8, 9};
    unsigned char d1[24];
    memcpy(d1, x, 16);
    memcpy(d1 + 16, y, 8);
    write_st(dir, "model-00001-of-00002.safetensors",
             "{\"x\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
             " \"y\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [16, 24]}}",
             d1, sizeof d1);
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"z\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", z, 12);
}

static void write_index(const char *dir, const char *weight_map)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "{\"metadata\": {\"total_size\": 36}, \"weight_map\": %s}",
             weight_map);
    write_file(dir, "model.safetensors.index.json", buf, strlen(buf));
}

static const char *const good_map =
    "{\"x\": \"model-00001-of-00002.safetensors\", \"z\": \"model-00002-of-00002.safetensors\","
    " \"y\": \"model-00001-of-00002.safetensors\"}";

static void test_sharded(void **state)
{
    const char *dir = *state;
    write_two_shards(dir);
    write_index(dir, good_map);
    /* The index wins over a stray model.safetensors. */
    write_st(dir, "model.safetensors",
             "{\"stray\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
             "abcd", 4);
    lm_err e = {{0}};
    lm_checkpoint *ck = lm_checkpoint_open(dir, &e);
    if (!ck)
        fail_msg("%s", e.msg);
    assert_int_equal(lm_checkpoint_count(ck), 3);
    assert_string_equal(lm_checkpoint_tensor(ck, 0)->name, "x");
    assert_string_equal(lm_checkpoint_tensor(ck, 1)->name, "y");
    assert_string_equal(lm_checkpoint_tensor(ck, 2)->name, "z");
    const lm_tensor *z = lm_checkpoint_find(ck, "z");
    assert_string_equal(z->file, "model-00002-of-00002.safetensors");
    assert_true(((const float *)z->data)[2] == 9.0f);
    const lm_tensor *y = lm_checkpoint_find(ck, "y");
    assert_string_equal(y->file, "model-00001-of-00002.safetensors");
    assert_true(((const float *)y->data)[1] == 6.0f);
    assert_null(lm_checkpoint_find(ck, "stray"));
    lm_checkpoint_close(ck);
}

/* ---- malformed single files -------------------------------------------- */

static void test_truncated_file(void **state)
{
    write_file(*state, "model.safetensors", "\x10\x00\x00", 3);
    expect_open_error(*state, "truncated");
    write_file(*state, "model.safetensors", "", 0);
    expect_open_error(*state, "truncated");
}

static void test_header_past_file(void **state)
{
    const char *h = "{}      ";
    write_st_raw(*state, "model.safetensors", 9999999, h, 8, NULL, 0);
    expect_open_error(*state, "header length 9999999 exceeds file size 16");
    /* A length with the top bit set must not wrap any arithmetic. */
    write_st_raw(*state, "model.safetensors", UINT64_MAX - 3, h, 8, NULL, 0);
    expect_open_error(*state, "exceeds file size");
}

static void test_header_over_limit(void **state)
{
    /* A sparse file just over 100 MiB, so only the limit can reject it. */
    uint64_t n = ((uint64_t)100 << 20) + 8;
    write_st_raw(*state, "model.safetensors", n, "{}", 2, NULL, 0);
    char path[512];
    snprintf(path, sizeof path, "%s/model.safetensors", (const char *)*state);
    assert_int_equal(truncate(path, (off_t)(n + 8)), 0);
    expect_open_error(*state, "100 MiB limit");
}

static void test_bad_json(void **state)
{
    expect_bad_header(*state, "{\"a\": ", 0, "not valid JSON");
    expect_bad_header(*state, "[1, 2]", 0, "not a JSON object");
    expect_bad_header(*state, "{\"__metadata__\": 3}", 0, "\"__metadata__\" is not an object");
    expect_bad_header(*state, "{\"a\": 7}", 0, "tensor 'a': header entry is not an object");
    /* Header bytes that are not UTF-8 and a NUL inside the header. */
    write_st_raw(*state, "model.safetensors", 8, "{\"\xff\": 1}", 8, NULL, 0);
    expect_open_error(*state, "not valid JSON");
    write_st_raw(*state, "model.safetensors", 8, "{}\0\0\0\0\0\0", 8, NULL, 0);
    expect_open_error(*state, "not valid JSON");
}

static void test_bad_dtype(void **state)
{
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F7\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                      4, "tensor 'w': unknown dtype \"F7\"");
    expect_bad_header(*state, "{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4,
                      "tensor 'w': \"dtype\" is missing");
}

static void test_bad_shape(void **state)
{
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}",
                      16, "tensor 'w': \"shape\" is missing or not an array");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [-4], \"data_offsets\": [0, 16]}}",
                      16, "non-negative integers");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4.0], \"data_offsets\": [0, 16]}}",
                      16, "non-negative integers");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"4\"], \"data_offsets\": [0, 16]}}",
                      16, "non-negative integers");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"U8\", \"shape\": [1,1,1,1,1,1,1,1,1], "
                      "\"data_offsets\": [0, 1]}}",
                      1, "9 dimensions");
}

static void test_bad_offsets(void **state)
{
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [8, 4]}}",
                      8, "tensor 'w': \"data_offsets\" must be [begin, end]");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}",
                      8, "\"data_offsets\" must be");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}",
                      8, "\"data_offsets\" must be");
    expect_bad_header(*state, "{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 8,
                      "\"data_offsets\" must be");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]}}",
                      10, "tensor 'w': data ends at byte 16, 6 bytes past the end");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": "
                      "[0, 9223372036854775807]}}",
                      8, "bytes past the end");
    /* Past 64-bit range: jansson refuses the number itself. */
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": "
                      "[0, 18446744073709551615]}}",
                      8, "not valid JSON");
}

static void test_size_mismatch(void **state)
{
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"BF16\", \"shape\": [2, 3], \"data_offsets\": [0, 16]}}",
                      16, "tensor 'w': data_offsets span 16 bytes but shape [2, 3] of BF16 needs 12");
    /* numel * size overflows 64 bits: must not wrap to a small size. */
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], "
                      "\"data_offsets\": [0, 0]}}",
                      8, "overflows");
    expect_bad_header(*state,
                      "{\"w\": {\"dtype\": \"F32\", \"shape\": [4611686018427387904], "
                      "\"data_offsets\": [0, 0]}}",
                      8, "overflows");
}

static void test_overlap(void **state)
{
    expect_bad_header(*state,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [20, 28]},"
                      " \"c\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [12, 28]}}",
                      28, "overlap");
    /* Listed in any order, the message names both tensors. */
    expect_bad_header(*state,
                      "{\"late\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [4, 12]},"
                      " \"early\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}",
                      12, "tensors 'early' (bytes 0..8) and 'late' (bytes 4..12) overlap");
    /* Identical ranges overlap too. */
    expect_bad_header(*state,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}",
                      4, "overlap");
}

static void test_duplicate_name(void **state)
{
    expect_bad_header(*state,
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                      8, "duplicate");
}

/* ---- malformed directories --------------------------------------------- */

static void test_empty_dir(void **state)
{
    expect_open_error(*state, "found neither model.safetensors nor model.safetensors.index.json");
    char path[512];
    snprintf(path, sizeof path, "%s/does-not-exist", (const char *)*state);
    expect_open_error(path, "No such file or directory");
}

static void test_bad_shard_names(void **state)
{
    const char *dir = *state;
    write_two_shards(dir);
    write_index(dir, "{\"x\": \"../model-00001-of-00002.safetensors\"}");
    expect_open_error(dir, "not a plain file name");
    write_index(dir, "{\"x\": \"/etc/passwd\"}");
    expect_open_error(dir, "not a plain file name");
    write_index(dir, "{\"x\": \"\"}");
    expect_open_error(dir, "not a plain file name");
    write_index(dir, "{\"x\": \"..\"}");
    expect_open_error(dir, "not a plain file name");
    write_index(dir, "{\"x\": 3}");
    expect_open_error(dir, "weight_map entry 'x' is not a file name string");
    write_index(dir, "{\"x\": \"model-00009-of-00009.safetensors\"}");
    expect_open_error(dir, "model-00009-of-00009.safetensors: cannot open");
}

static void test_bad_index(void **state)
{
    const char *dir = *state;
    write_two_shards(dir);
    write_file(dir, "model.safetensors.index.json", "{\"weight_map\": {\n  \"x\": }", 25);
    expect_open_error(dir, "model.safetensors.index.json:2:");
    write_file(dir, "model.safetensors.index.json", "{\"metadata\": {}}", 16);
    expect_open_error(dir, "no \"weight_map\" object");
    write_index(dir, "{}");
    expect_open_error(dir, "\"weight_map\" is empty");
}

static void test_index_disagrees_with_shards(void **state)
{
    const char *dir = *state;
    write_two_shards(dir);
    /* Listed but absent from its shard. */
    write_index(dir,
                "{\"x\": \"model-00001-of-00002.safetensors\", \"y\": "
                "\"model-00001-of-00002.safetensors\", \"z\": \"model-00002-of-00002.safetensors\","
                " \"ghost\": \"model-00002-of-00002.safetensors\"}");
    expect_open_error(dir, "index lists tensor 'ghost' in model-00002-of-00002.safetensors, but "
                           "model-00002-of-00002.safetensors has no such tensor");
    /* In a shard but not listed. */
    write_index(dir, "{\"x\": \"model-00001-of-00002.safetensors\", \"z\": "
                     "\"model-00002-of-00002.safetensors\"}");
    expect_open_error(dir, "tensor 'y' in model-00001-of-00002.safetensors is not listed");
    /* Listed for the wrong shard. */
    write_index(dir, "{\"x\": \"model-00001-of-00002.safetensors\", \"y\": "
                     "\"model-00002-of-00002.safetensors\", \"z\": "
                     "\"model-00002-of-00002.safetensors\"}");
    expect_open_error(dir, "but it is in model-00001-of-00002.safetensors");
}

static void test_duplicate_across_shards(void **state)
{
    const char *dir = *state;
    write_two_shards(dir);
    float w[3] = {0};
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"z\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]},"
             " \"x\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [0, 0]}}",
             w, 12);
    write_index(dir, good_map);
    expect_open_error(dir, "duplicate tensor across shards");
}

static void test_bad_shard_contents(void **state)
{
    /* A shard's own validation errors come through with the shard's path. */
    const char *dir = *state;
    write_two_shards(dir);
    write_st(dir, "model-00002-of-00002.safetensors",
             "{\"z\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", "", 0);
    write_index(dir, good_map);
    expect_open_error(dir, "model-00002-of-00002.safetensors: tensor 'z': data ends at byte 12");
}

#define DIR_TEST(f) cmocka_unit_test_setup_teardown(f, setup_dir, teardown_temp_dir)

int main(void)
{
    const struct CMUnitTest tests[] = {
        DIR_TEST(test_single_file),
        DIR_TEST(test_sharded),
        DIR_TEST(test_truncated_file),
        DIR_TEST(test_header_past_file),
        DIR_TEST(test_header_over_limit),
        DIR_TEST(test_bad_json),
        DIR_TEST(test_bad_dtype),
        DIR_TEST(test_bad_shape),
        DIR_TEST(test_bad_offsets),
        DIR_TEST(test_size_mismatch),
        DIR_TEST(test_overlap),
        DIR_TEST(test_duplicate_name),
        DIR_TEST(test_empty_dir),
        DIR_TEST(test_bad_shard_names),
        DIR_TEST(test_bad_index),
        DIR_TEST(test_index_disagrees_with_shards),
        DIR_TEST(test_duplicate_across_shards),
        DIR_TEST(test_bad_shard_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
