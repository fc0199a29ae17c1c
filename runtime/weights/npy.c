/* .npy v1.0 writer and a reader for the same subset (see npy.h). */
#include "npy.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_PREFIX_V1 10 /* magic, 2 version bytes, uint16 header length */
#define NPY_ALIGN 64

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static uint32_t swap32(uint32_t v)
{
    return (v >> 24) | ((v >> 8) & 0xff00u) | ((v << 8) & 0xff0000u) | (v << 24);
}

/* Writes the floats little endian whatever the host's byte order. */
static int write_f32_le(FILE *f, const float *data, size_t count)
{
    if (host_is_little_endian())
        return count == 0 || fwrite(data, sizeof(float), count, f) == count ? 0 : -1;
    for (size_t i = 0; i < count; i++) {
        uint32_t u;
        memcpy(&u, &data[i], 4);
        u = swap32(u);
        if (fwrite(&u, 4, 1, f) != 1)
            return -1;
    }
    return 0;
}

int lm_npy_write_f32(const char *path, const float *data, int rows, int cols, lm_err *e)
{
    if (rows < 0 || cols < 0)
        return lm_fail(e, "%s: cannot write a .npy of shape (%d, %d); dimensions must be >= 0", path,
                       rows, cols);
    if (!data && (size_t)rows * (size_t)cols > 0)
        return lm_fail(e, "%s: no data to write", path);

    /* Header: the dict, spaces, then '\n', so that prefix + header is a
     * multiple of 64 bytes. */
    char header[256];
    int len = snprintf(header, sizeof header,
                       "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols);
    size_t total = (size_t)NPY_PREFIX_V1 + (size_t)len + 1;
    size_t padded = (total + NPY_ALIGN - 1) / NPY_ALIGN * NPY_ALIGN;
    size_t header_len = padded - NPY_PREFIX_V1;
    memset(header + len, ' ', header_len - 1 - (size_t)len);
    header[header_len - 1] = '\n';

    unsigned char prefix[NPY_PREFIX_V1];
    memcpy(prefix, NPY_MAGIC, NPY_MAGIC_LEN);
    prefix[6] = 1;
    prefix[7] = 0;
    prefix[8] = (unsigned char)(header_len & 0xff);
    prefix[9] = (unsigned char)(header_len >> 8);

    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    if (!tmp)
        return lm_fail(e, "%s: out of memory", path);
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());

    FILE *f = fopen(tmp, "wb");
    if (!f) {
        lm_fail(e, "%s: cannot create: %s; check that the directory exists and is writable", tmp,
                strerror(errno));
        free(tmp);
        return -1;
    }
    int bad = fwrite(prefix, 1, sizeof prefix, f) != sizeof prefix ||
              fwrite(header, 1, header_len, f) != header_len ||
              write_f32_le(f, data, (size_t)rows * (size_t)cols) != 0;
    int saved_errno = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved_errno = errno;
    }
    if (bad) {
        unlink(tmp);
        lm_fail(e, "%s: write failed: %s; check free disk space", path, strerror(saved_errno));
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        saved_errno = errno;
        unlink(tmp);
        lm_fail(e, "%s: cannot rename %s into place: %s", path, tmp, strerror(saved_errno));
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* Finds "'key':" in the header dict and returns what follows, spaces skipped. */
static const char *dict_value(const char *dict, const char *key)
{
    char quoted[64];
    snprintf(quoted, sizeof quoted, "'%s':", key);
    const char *p = strstr(dict, quoted);
    if (!p)
        return NULL;
    p += strlen(quoted);
    while (*p == ' ')
        p++;
    return p;
}

/* Parses "(R, C)", "(R, C,)", "(R,)" or "()" into rows and cols. */
static int parse_shape(const char *s, int *rows, int *cols)
{
    long dims[3];
    int nd = 0;
    if (*s++ != '(')
        return -1;
    for (;;) {
        while (*s == ' ')
            s++;
        if (*s == ')')
            break;
        if (nd == 3 || *s < '0' || *s > '9')
            return -1;
        char *end;
        errno = 0;
        dims[nd++] = strtol(s, &end, 10);
        if (errno || dims[nd - 1] > INT32_MAX)
            return -1;
        s = end;
        while (*s == ' ')
            s++;
        if (*s == ',')
            s++;
        else if (*s != ')')
            return -1;
    }
    if (nd == 0) {
        *rows = 1, *cols = 1;
    } else if (nd == 1) {
        *rows = 1, *cols = (int)dims[0];
    } else if (nd == 2) {
        *rows = (int)dims[0], *cols = (int)dims[1];
    } else {
        return -1;
    }
    return 0;
}

float *lm_npy_read_f32(const char *path, int *rows, int *cols, lm_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        lm_fail(e, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    float *out = NULL;
    char *header = NULL;
    unsigned char prefix[12];
    size_t header_len, prefix_len;
    if (fread(prefix, 1, 10, f) != 10 || memcmp(prefix, NPY_MAGIC, NPY_MAGIC_LEN) != 0) {
        lm_fail(e, "%s: not a .npy file (bad magic)", path);
        goto done;
    }
    if (prefix[6] == 1) {
        prefix_len = 10;
        header_len = prefix[8] | (size_t)prefix[9] << 8;
    } else if (prefix[6] == 2 || prefix[6] == 3) {
        if (fread(prefix + 10, 1, 2, f) != 2) {
            lm_fail(e, "%s: truncated .npy header", path);
            goto done;
        }
        prefix_len = 12;
        header_len = prefix[8] | (size_t)prefix[9] << 8 | (size_t)prefix[10] << 16 |
                     (size_t)prefix[11] << 24;
        if (header_len > (1u << 20)) {
            lm_fail(e, "%s: .npy header length %zu is implausible", path, header_len);
            goto done;
        }
    } else {
        lm_fail(e, "%s: unsupported .npy version %d.%d", path, prefix[6], prefix[7]);
        goto done;
    }
    header = malloc(header_len + 1);
    if (!header || fread(header, 1, header_len, f) != header_len) {
        lm_fail(e, "%s: truncated .npy header", path);
        goto done;
    }
    header[header_len] = '\0';
    const char *descr = dict_value(header, "descr");
    const char *order = dict_value(header, "fortran_order");
    const char *shape = dict_value(header, "shape");
    if (!descr || strncmp(descr, "'<f4'", 5) != 0) {
        lm_fail(e, "%s: .npy dtype is not '<f4' (float32 little endian)", path);
        goto done;
    }
    if (!order || strncmp(order, "False", 5) != 0) {
        lm_fail(e, "%s: .npy is in Fortran order; only C order is read", path);
        goto done;
    }
    if (!shape || parse_shape(shape, rows, cols) != 0) {
        lm_fail(e, "%s: .npy shape is not 0-, 1- or 2-dimensional", path);
        goto done;
    }
    size_t count = (size_t)*rows * (size_t)*cols;
    out = malloc(count ? count * sizeof(float) : 1);
    if (!out) {
        lm_fail(e, "%s: out of memory for %zu floats", path, count);
        goto done;
    }
    if (fread(out, sizeof(float), count, f) != count || fgetc(f) != EOF) {
        lm_fail(e, "%s: data size does not match shape (%d, %d) after a %zu-byte header", path,
                *rows, *cols, prefix_len + header_len);
        free(out);
        out = NULL;
        goto done;
    }
    if (!host_is_little_endian()) {
        for (size_t i = 0; i < count; i++) {
            uint32_t u;
            memcpy(&u, &out[i], 4);
            u = swap32(u);
            memcpy(&out[i], &u, 4);
        }
    }
done:
    free(header);
    fclose(f);
    return out;
}
