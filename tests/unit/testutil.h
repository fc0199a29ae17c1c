/* Helpers the unit tests share: temporary directories and files, GPT-2's
 * byte alphabet, a toy model's fixed fields and running lm_main in-process
 * with its output captured.
 *
 * Each tests/unit/test_*.c is its own executable (tests/tests.cmake), so
 * the helpers are static functions in this header, not a library; `inline`
 * keeps the compiler quiet about the ones a test does not use. */
#ifndef LMCC_TESTUTIL_H
#define LMCC_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/model.h"

/* ---- files and directories ------------------------------------------- */

static inline int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* rm -r path (a file or a directory tree); links are removed, not followed. */
static inline void remove_tree(const char *path)
{
    nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* For a cmocka setup: a fresh directory made from template (ending in
 * XXXXXX), malloc'd, in *state. */
static inline int setup_temp_dir(void **state, const char *template)
{
    char *dir = strdup(template);
    if (!dir || !mkdtemp(dir)) {
        free(dir);
        return -1;
    }
    *state = dir;
    return 0;
}

/* The cmocka teardown of setup_temp_dir. */
static inline int teardown_temp_dir(void **state)
{
    remove_tree(*state);
    free(*state);
    return 0;
}

static inline void write_file(const char *dir, const char *name, const void *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (len)
        assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* A checkpoint with no tensors: config.json as given and a
 * model.safetensors whose header is "{}". */
static inline void write_empty_checkpoint(const char *dir, const char *config_json)
{
    write_file(dir, "config.json", config_json, strlen(config_json));
    /* u64 header length 8, then the header "{}" padded with spaces. */
    const unsigned char st[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    write_file(dir, "model.safetensors", st, sizeof st);
}

/* ---- tokenizers ------------------------------------------------------- */

/* GPT-2's byte -> printable character, as UTF-8 into out (<= 2 bytes + NUL). */
static inline void byte_char(int b, char *out)
{
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174;
    int cp = b;
    if (!printable) {
        cp = 256;
        for (int k = 0; k < b; k++)
            if (!((k >= 33 && k <= 126) || (k >= 161 && k <= 172) || k >= 174))
                cp++;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    }
}

/* ---- toy models -------------------------------------------------------- */

/* The fields a weightless toy lm_model_desc shares; the test adds its name,
 * sizes, config checks and forward as designated initializers. */
#define TOY_MODEL_DESC(...)                                                                        \
    {                                                                                              \
        .arch = "toy", .lmcc_version = "test", .dtype_name = "f32", .hidden = 1,                   \
        .params_per_token = 1000, .weight_bytes_per_token = 4000, __VA_ARGS__                      \
    }

/* ---- lm_main in-process ----------------------------------------------- */

typedef struct cli_result {
    int status;
    char out[16384];
    char err[8192];
} cli_result;

static inline void slurp(int fd, char *buf, size_t size)
{
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
}

/* Runs lm_main(d, arg0, ...) with stdin from input (empty when NULL) and
 * stdout, stderr captured in r; the argument list ends with NULL. */
static inline void run_main_captured(cli_result *r, const lm_model_desc *d, const char *input,
                                     const char *arg0, va_list ap)
{
    char *argv[40];
    int argc = 0;
    for (const char *a = arg0; a && argc < 39; a = va_arg(ap, const char *))
        argv[argc++] = strdup(a);
    argv[argc] = NULL;

    char in_path[] = "/tmp/lmcc_cli_in_XXXXXX", out_path[] = "/tmp/lmcc_cli_out_XXXXXX",
         err_path[] = "/tmp/lmcc_cli_err_XXXXXX";
    int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
    assert_true(in_fd >= 0 && out_fd >= 0 && err_fd >= 0);
    unlink(in_path);
    unlink(out_path);
    unlink(err_path);
    if (input)
        assert_int_equal(write(in_fd, input, strlen(input)), (ssize_t)strlen(input));
    lseek(in_fd, 0, SEEK_SET);
    fflush(stdout);
    fflush(stderr);
    int saved_in = dup(0), saved_out = dup(1), saved_err = dup(2);
    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    clearerr(stdin);
    r->status = lm_main(d, argc, argv);
    fflush(stdout);
    fflush(stderr);
    fflush(stdin); /* drops what the run left unread, while fd 0 is still ours */
    dup2(saved_in, 0);
    dup2(saved_out, 1);
    dup2(saved_err, 2);
    clearerr(stdin);
    close(saved_in);
    close(saved_out);
    close(saved_err);
    slurp(out_fd, r->out, sizeof r->out);
    slurp(err_fd, r->err, sizeof r->err);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
}

static inline void expect_status(const cli_result *r, int status)
{
    if (r->status != status)
        fail_msg("exit %d, expected %d; stdout '%s' stderr '%s'", r->status, status, r->out, r->err);
}

/* --bench's stdout as a JSON object; the test fails when it is not one. */
static inline json_t *bench_json(const cli_result *r)
{
    json_error_t jerr;
    json_t *j = json_loads(r->out, 0, &jerr);
    if (!j)
        fail_msg("bench output is not JSON: '%s'", r->out);
    return j;
}

#endif
