/* .npy writer: the exact header numpy expects, 64-byte aligned data, the
 * float bytes unchanged, and no half-written files on failure. */
#include "testutil.h"

#include <dirent.h>

#include "weights/npy.h"

static char dir[64];

static int make_dir(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/lmcc_test_npy_XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    remove_tree(dir);
    return 0;
}

static unsigned char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static int count_entries(void)
{
    int n = 0;
    DIR *dp = opendir(dir);
    struct dirent *de;
    while (dp && (de = readdir(dp)))
        n += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (dp)
        closedir(dp);
    return n;
}

static void test_header_and_bytes(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    float data[3 * 5];
    for (int i = 0; i < 15; i++)
        data[i] = (float)i * 0.5f - 3.25f;
    lm_err e = {{0}};
    assert_int_equal(lm_npy_write_f32(path, data, 3, 5, &e), 0);

    size_t size;
    unsigned char *b = read_all(path, &size);
    assert_non_null(b);
    assert_memory_equal(b, "\x93NUMPY\x01\x00", 8);
    size_t header_len = b[8] | (size_t)b[9] << 8;
    size_t data_at = 10 + header_len;
    assert_int_equal(data_at % 64, 0);
    assert_int_equal(size, data_at + sizeof data);
    char header[256];
    assert_true(header_len < sizeof header);
    memcpy(header, b + 10, header_len);
    header[header_len] = '\0';
    assert_string_equal(header + header_len - 1, "\n");
    assert_int_equal(strncmp(header,
                             "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5), }", 59),
                     0);
    for (size_t i = 59; i < header_len - 1; i++)
        assert_int_equal(header[i], ' ');
    assert_memory_equal(b + data_at, data, sizeof data);
    free(b);
    assert_int_equal(count_entries(), 1); /* the temporary file is gone */

    int rows, cols;
    float *back = lm_npy_read_f32(path, &rows, &cols, &e);
    assert_non_null(back);
    assert_int_equal(rows, 3);
    assert_int_equal(cols, 5);
    assert_memory_equal(back, data, sizeof data);
    free(back);
    unlink(path);
}

static void test_large_and_empty_shapes(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/big.npy", dir);
    int rows = 7, cols = 151936;
    float *data = malloc((size_t)rows * cols * sizeof(float));
    assert_non_null(data);
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        data[i] = (float)(i % 1000) - 500.0f;
    lm_err e = {{0}};
    assert_int_equal(lm_npy_write_f32(path, data, rows, cols, &e), 0);
    int r, c;
    float *back = lm_npy_read_f32(path, &r, &c, &e);
    assert_non_null(back);
    assert_int_equal(r, rows);
    assert_int_equal(c, cols);
    assert_memory_equal(back, data, (size_t)rows * cols * sizeof(float));
    free(back);
    free(data);

    assert_int_equal(lm_npy_write_f32(path, NULL, 0, 4, &e), 0);
    back = lm_npy_read_f32(path, &r, &c, &e);
    assert_non_null(back);
    assert_int_equal(r, 0);
    assert_int_equal(c, 4);
    free(back);
    unlink(path);
}

static void test_overwrite_replaces_whole_file(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/o.npy", dir);
    float big[64] = {1}, small[2] = {7, 8};
    lm_err e = {{0}};
    assert_int_equal(lm_npy_write_f32(path, big, 8, 8, &e), 0);
    assert_int_equal(lm_npy_write_f32(path, small, 1, 2, &e), 0);
    int r, c;
    float *back = lm_npy_read_f32(path, &r, &c, &e);
    assert_non_null(back);
    assert_int_equal(r, 1);
    assert_int_equal(c, 2);
    assert_true(back[0] == 7 && back[1] == 8);
    free(back);
    unlink(path);
}

static void test_write_failures_leave_nothing(void **state)
{
    (void)state;
    char path[160];
    snprintf(path, sizeof path, "%s/missing/x.npy", dir);
    float v = 1;
    lm_err e = {{0}};
    assert_int_equal(lm_npy_write_f32(path, &v, 1, 1, &e), -1);
    assert_non_null(strstr(e.msg, "missing"));
    assert_int_equal(lm_npy_write_f32(path, &v, -1, 1, &e), -1);
    assert_non_null(strstr(e.msg, "(-1, 1)"));
    assert_int_equal(count_entries(), 0);
}

static void test_reader_rejects_bad_files(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    lm_err e = {{0}};
    int r, c;

    FILE *f = fopen(path, "wb");
    fputs("not numpy at all", f);
    fclose(f);
    assert_null(lm_npy_read_f32(path, &r, &c, &e));
    assert_non_null(strstr(e.msg, "magic"));

    /* A valid file cut short: the data no longer matches the shape. */
    float data[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(lm_npy_write_f32(path, data, 2, 3, &e), 0);
    size_t size;
    free(read_all(path, &size));
    assert_int_equal(truncate(path, (off_t)size - 4), 0);
    assert_null(lm_npy_read_f32(path, &r, &c, &e));
    assert_non_null(strstr(e.msg, "does not match shape (2, 3)"));
    unlink(path);

    assert_null(lm_npy_read_f32(path, &r, &c, &e));
    assert_non_null(strstr(e.msg, "cannot open"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_and_bytes),
        cmocka_unit_test(test_large_and_empty_shapes),
        cmocka_unit_test(test_overwrite_replaces_whole_file),
        cmocka_unit_test(test_write_failures_leave_nothing),
        cmocka_unit_test(test_reader_rejects_bad_files),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
