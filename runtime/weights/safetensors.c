/* Mapping and validating one .safetensors file.
 *
 * The header is untrusted input: every length, offset and shape is checked
 * (with overflow-safe arithmetic) before a tensor's data pointer is formed. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    lm_st_dtype dtype;
    size_t size;
} st_dtypes[] = {
    {"F32", LM_ST_F32, 4},         {"BF16", LM_ST_BF16, 2},       {"F16", LM_ST_F16, 2},
    {"F64", LM_ST_F64, 8},         {"I64", LM_ST_I64, 8},         {"I32", LM_ST_I32, 4},
    {"I16", LM_ST_I16, 2},         {"I8", LM_ST_I8, 1},           {"U8", LM_ST_U8, 1},
    {"BOOL", LM_ST_BOOL, 1},       {"F8_E4M3", LM_ST_F8_E4M3, 1}, {"F8_E5M2", LM_ST_F8_E5M2, 1},
};
#define N_ST_DTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

int lm_st_dtype_parse(const char *s, lm_st_dtype *out)
{
    for (size_t i = 0; i < N_ST_DTYPES; i++)
        if (strcmp(s, st_dtypes[i].name) == 0) {
            *out = st_dtypes[i].dtype;
            return 0;
        }
    return -1;
}

const char *lm_st_dtype_name(lm_st_dtype t)
{
    for (size_t i = 0; i < N_ST_DTYPES; i++)
        if (st_dtypes[i].dtype == t)
            return st_dtypes[i].name;
    return "?";
}

size_t lm_st_dtype_size(lm_st_dtype t)
{
    for (size_t i = 0; i < N_ST_DTYPES; i++)
        if (st_dtypes[i].dtype == t)
            return st_dtypes[i].size;
    return 0;
}

static const char *const fix_file = "re-download the file or regenerate the checkpoint";

static uint64_t read_le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* A JSON integer >= 0; -1 otherwise. */
static int get_nonneg(const json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* Byte range of one tensor, for the overlap check. */
typedef struct st_range {
    uint64_t begin, end;
    size_t index;
} st_range;

static int cmp_range(const void *a, const void *b)
{
    const st_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return 0;
}

/* Validates one header entry and fills t (name excepted). */
static int parse_entry(const char *path, const char *name, const json_t *v,
                       const unsigned char *data, uint64_t data_size, lm_tensor *t,
                       uint64_t *begin_out, uint64_t *end_out, lm_err *e)
{
    if (!json_is_object(v))
        return lm_fail(e, "%s: tensor '%s': header entry is not an object; %s", path, name,
                       fix_file);
    const json_t *jd = json_object_get(v, "dtype");
    if (!json_is_string(jd))
        return lm_fail(e, "%s: tensor '%s': \"dtype\" is missing or not a string; %s", path,
                       name, fix_file);
    if (lm_st_dtype_parse(json_string_value(jd), &t->dtype) != 0)
        return lm_fail(e,
                       "%s: tensor '%s': unknown dtype \"%s\" (expected F32, BF16, F16, F64, "
                       "I64, I32, I16, I8, U8, BOOL, F8_E4M3 or F8_E5M2); %s",
                       path, name, json_string_value(jd), fix_file);

    const json_t *js = json_object_get(v, "shape");
    if (!json_is_array(js))
        return lm_fail(e, "%s: tensor '%s': \"shape\" is missing or not an array; %s", path,
                       name, fix_file);
    size_t ndim = json_array_size(js);
    if (ndim > LM_ST_MAX_DIMS)
        return lm_fail(e, "%s: tensor '%s': shape has %zu dimensions, at most %d supported; %s",
                       path, name, ndim, LM_ST_MAX_DIMS, fix_file);
    uint64_t numel = 1;
    int overflow = 0;
    for (size_t i = 0; i < ndim; i++) {
        uint64_t d;
        if (get_nonneg(json_array_get(js, i), &d) != 0 || d > INT64_MAX)
            return lm_fail(e,
                           "%s: tensor '%s': shape must be an array of non-negative integers "
                           "(dimension %zu is not); %s",
                           path, name, i, fix_file);
        t->shape[i] = (int64_t)d;
        overflow |= __builtin_mul_overflow(numel, d, &numel);
    }
    t->ndim = (int)ndim;
    uint64_t want_bytes;
    overflow |= __builtin_mul_overflow(numel, (uint64_t)lm_st_dtype_size(t->dtype), &want_bytes);

    const json_t *jo = json_object_get(v, "data_offsets");
    uint64_t begin, end;
    if (!json_is_array(jo) || json_array_size(jo) != 2 ||
        get_nonneg(json_array_get(jo, 0), &begin) != 0 ||
        get_nonneg(json_array_get(jo, 1), &end) != 0 || begin > end)
        return lm_fail(e,
                       "%s: tensor '%s': \"data_offsets\" must be [begin, end] with "
                       "0 <= begin <= end; %s",
                       path, name, fix_file);
    if (end > data_size)
        return lm_fail(e,
                       "%s: tensor '%s': data ends at byte %" PRIu64 ", %" PRIu64
                       " bytes past the end of the %" PRIu64
                       "-byte data region (truncated file or bad header); %s",
                       path, name, end, end - data_size, data_size, fix_file);
    if (overflow || end - begin != want_bytes) {
        char shape[160];
        size_t off = 0;
        off += (size_t)snprintf(shape + off, sizeof shape - off, "[");
        for (size_t i = 0; i < ndim && off < sizeof shape; i++)
            off += (size_t)snprintf(shape + off, sizeof shape - off, "%s%" PRId64,
                                    i ? ", " : "", t->shape[i]);
        if (off < sizeof shape)
            snprintf(shape + off, sizeof shape - off, "]");
        if (overflow)
            return lm_fail(e, "%s: tensor '%s': shape %s of %s is too large (size overflows); %s",
                           path, name, shape, lm_st_dtype_name(t->dtype), fix_file);
        return lm_fail(e,
                       "%s: tensor '%s': data_offsets span %" PRIu64
                       " bytes but shape %s of %s needs %" PRIu64 "; %s",
                       path, name, end - begin, shape, lm_st_dtype_name(t->dtype), want_bytes,
                       fix_file);
    }
    t->data = data + begin;
    t->nbytes = (size_t)(end - begin);
    *begin_out = begin;
    *end_out = end;
    return 0;
}

/* Parses the header JSON into f->tensors; data points at the data region. */
static int parse_header(lm_st_file *f, const char *header, size_t header_len,
                        const unsigned char *data, uint64_t data_size, const char *display_name,
                        lm_err *e)
{
    json_error_t jerr;
    json_t *root = json_loadb(header, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (json_error_code(&jerr) == json_error_duplicate_key)
            return lm_fail(e, "%s: header names a tensor twice (duplicate name, %s at byte %d); %s",
                           f->path, jerr.text, jerr.position, fix_file);
        return lm_fail(e, "%s: header is not valid JSON: %s (line %d, column %d); %s", f->path,
                       jerr.text, jerr.line, jerr.column, fix_file);
    }
    int rc = -1;
    st_range *ranges = NULL;
    if (!json_is_object(root)) {
        lm_fail(e, "%s: header is not a JSON object; %s", f->path, fix_file);
        goto out;
    }
    const json_t *meta = json_object_get(root, "__metadata__");
    if (meta && !json_is_object(meta)) {
        lm_fail(e, "%s: \"__metadata__\" is not an object; %s", f->path, fix_file);
        goto out;
    }
    size_t n = json_object_size(root) - (meta ? 1 : 0);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    ranges = calloc(n ? n : 1, sizeof *ranges);
    if (!f->tensors || !ranges) {
        lm_fail(e, "%s: out of memory reading the header", f->path);
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        lm_tensor *t = &f->tensors[f->n_tensors];
        t->file = display_name;
        t->name = strdup(key);
        if (!t->name) {
            lm_fail(e, "%s: out of memory reading the header", f->path);
            goto out;
        }
        f->n_tensors++;
        st_range *r = &ranges[f->n_tensors - 1];
        r->index = f->n_tensors - 1;
        if (parse_entry(f->path, key, value, data, data_size, t, &r->begin, &r->end, e) != 0)
            goto out;
    }
    /* Sorted by start, two non-empty ranges overlap exactly when one starts
     * before the previous non-empty one ends. */
    qsort(ranges, f->n_tensors, sizeof *ranges, cmp_range);
    const st_range *prev = NULL;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const st_range *r = &ranges[i];
        if (r->begin == r->end)
            continue;
        if (prev && r->begin < prev->end) {
            lm_fail(e,
                    "%s: tensors '%s' (bytes %" PRIu64 "..%" PRIu64 ") and '%s' (bytes %" PRIu64
                    "..%" PRIu64 ") overlap; %s",
                    f->path, f->tensors[prev->index].name, prev->begin, prev->end,
                    f->tensors[r->index].name, r->begin, r->end, fix_file);
            goto out;
        }
        prev = r;
    }
    rc = 0;
out:
    free(ranges);
    json_decref(root);
    return rc;
}

void lm_st_file_close(lm_st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->tensors);
    if (f->map)
        munmap(f->map, f->map_size);
    free(f->path);
    free(f->name);
    memset(f, 0, sizeof *f);
}

int lm_st_file_open(lm_st_file *f, const char *path, const char *display_name, lm_err *e)
{
    memset(f, 0, sizeof *f);
    f->path = strdup(path);
    f->name = strdup(display_name);
    if (!f->path || !f->name) {
        lm_st_file_close(f);
        return lm_fail(e, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lm_fail(e, "%s: cannot open: %s; check the checkpoint directory", path, strerror(errno));
        lm_st_file_close(f);
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        lm_fail(e, "%s: not a regular file; check the checkpoint directory", path);
        close(fd);
        lm_st_file_close(f);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (size < 8) {
        lm_fail(e, "%s: file is %" PRIu64 " bytes, shorter than the 8-byte header length "
                   "(truncated); %s",
                path, size, fix_file);
        close(fd);
        lm_st_file_close(f);
        return -1;
    }
    void *map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file alive */
    if (map == MAP_FAILED) {
        lm_fail(e, "%s: cannot map %" PRIu64 " bytes: %s", path, size, strerror(errno));
        lm_st_file_close(f);
        return -1;
    }
    f->map = map;
    f->map_size = (size_t)size;
#ifdef MADV_HUGEPAGE
    (void)madvise(map, (size_t)size, MADV_HUGEPAGE); /* fewer TLB misses; fine if refused */
#endif
    const unsigned char *bytes = map;
    uint64_t header_len = read_le64(bytes);
    if (header_len > size - 8) {
        lm_fail(e, "%s: header length %" PRIu64 " exceeds file size %" PRIu64
                   " (truncated or not a safetensors file); %s",
                path, header_len, size, fix_file);
        lm_st_file_close(f);
        return -1;
    }
    if (header_len > LM_ST_MAX_HEADER) {
        lm_fail(e, "%s: header length %" PRIu64 " exceeds the %zu MiB limit; %s", path,
                header_len, LM_ST_MAX_HEADER >> 20, fix_file);
        lm_st_file_close(f);
        return -1;
    }
    const unsigned char *data = bytes + 8 + header_len;
    if (parse_header(f, (const char *)bytes + 8, (size_t)header_len, data, size - 8 - header_len,
                     f->name, e) != 0) {
        lm_st_file_close(f);
        return -1;
    }
    return 0;
}
