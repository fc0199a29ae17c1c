/* lmcc synth: a random checkpoint laid out exactly as the Hugging Face hub
 * serves one (config.json + model.safetensors, or shards + index).
 *
 * Values are deterministic: each tensor draws from its own xoshiro256**
 * stream, seeded by splitmix64 from the seed and a hash of the tensor's name,
 * so a tensor's values depend only on (seed, name, shape, init), not on the
 * order, the dtype or the shard layout. BF16 files therefore hold exactly the
 * round-to-nearest-even images of the F32 files' values. */
#include "synth.h"

#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../runtime/core/dtype.h"

#define SYNTH_MAX_PATH 4096
#define SHARD_PATTERN "model-*-of-*.safetensors"
#define INDEX_NAME "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

/* ---- random numbers ---------------------------------------------------- */

typedef struct rng {
    uint64_t s[4];
} rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* FNV-1a: gives every tensor name its own stream. */
static uint64_t hash_name(const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void rng_seed(rng *r, uint64_t seed, const char *name)
{
    uint64_t x = seed ^ hash_name(name);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

/* Uniform in (0, 1]: 53 random bits, never 0 so log() is finite. */
static double rng_uniform(rng *r)
{
    return (double)((xoshiro_next(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
}

/* Standard normal by Box-Muller, one value per pair of uniforms so the
 * sequence has no hidden state besides the generator. Computed in double and
 * rounded to float, which hides any last-ulp differences between libms. */
static double rng_normal(rng *r)
{
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* ---- tensors ----------------------------------------------------------- */

static int tensor_elems(const synth_tensor *t, uint64_t *out, lm_err *e)
{
    if (!t->name || !*t->name)
        return lm_fail(e, "synth: a tensor has no name; fix the architecture script");
    if (t->ndim < 1 || t->ndim > 4)
        return lm_fail(e, "synth: tensor %s has %d dimensions, expected 1 to 4; fix the architecture script",
                       t->name, t->ndim);
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] < 1)
            return lm_fail(e, "synth: tensor %s has dimension %d of size %lld; sizes must be >= 1",
                           t->name, d, (long long)t->shape[d]);
        if ((uint64_t)t->shape[d] > (UINT64_C(1) << 40) / n)
            return lm_fail(e, "synth: tensor %s is too large to synthesize; use smaller dimensions", t->name);
        n *= (uint64_t)t->shape[d];
    }
    *out = n;
    return 0;
}

static double tensor_std(const synth_tensor *t)
{
    if (t->init == SYNTH_MATRIX)
        return t->scale / sqrt((double)t->shape[t->ndim - 1]);
    return t->scale;
}

/* ---- files ------------------------------------------------------------- */

/* Temporary files written so far, removed again if anything fails. */
typedef struct temp_list {
    char **tmp;   /* temporary path */
    char **final; /* path it becomes */
    size_t n, cap;
    char *iobuf;  /* the stdio buffer of the one file open at a time */
} temp_list;

#define SYNTH_IO_BUFFER ((size_t)2 << 20)

static void temp_list_free(temp_list *tl, int unlink_them)
{
    for (size_t i = 0; i < tl->n; i++) {
        if (unlink_them && tl->tmp[i])
            unlink(tl->tmp[i]);
        free(tl->tmp[i]);
        free(tl->final[i]);
    }
    free(tl->tmp);
    free(tl->final);
    free(tl->iobuf);
    memset(tl, 0, sizeof *tl);
}

static int join_path(char *out, const char *dir, const char *name, lm_err *e)
{
    int len = snprintf(out, SYNTH_MAX_PATH, "%s/%s", dir, name);
    if (len < 0 || len >= SYNTH_MAX_PATH)
        return lm_fail(e, "synth: path %s/%s is too long; use a shorter output directory", dir, name);
    return 0;
}

/* Opens a fresh temporary file in dir that will become dir/name, and records
 * it in tl. */
static FILE *open_temp(temp_list *tl, const char *dir, const char *name, lm_err *e)
{
    char final[SYNTH_MAX_PATH], tmp[SYNTH_MAX_PATH];
    if (join_path(final, dir, name, e))
        return NULL;
    int len = snprintf(tmp, sizeof tmp, "%s/.%s.tmp-XXXXXX", dir, name);
    if (len < 0 || len >= (int)sizeof tmp) {
        lm_fail(e, "synth: path %s/%s is too long; use a shorter output directory", dir, name);
        return NULL;
    }
    if (tl->n == tl->cap) {
        size_t cap = tl->cap ? 2 * tl->cap : 8;
        char **t = realloc(tl->tmp, cap * sizeof *t);
        if (t)
            tl->tmp = t;
        char **f = realloc(tl->final, cap * sizeof *f);
        if (f)
            tl->final = f;
        if (!t || !f) {
            lm_fail(e, "synth: out of memory");
            return NULL;
        }
        tl->cap = cap;
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        lm_fail(e, "synth: cannot create a temporary file for %s: %s; check that the directory is writable",
                final, strerror(errno));
        return NULL;
    }
    char *tdup = strdup(tmp), *fdup = strdup(final);
    if (!tdup || !fdup) {
        free(tdup);
        free(fdup);
        close(fd);
        unlink(tmp);
        lm_fail(e, "synth: out of memory");
        return NULL;
    }
    tl->tmp[tl->n] = tdup;
    tl->final[tl->n] = fdup;
    tl->n++;
    /* mkstemp makes 0600 files; a checkpoint is ordinary data. */
    fchmod(fd, 0644);
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        lm_fail(e, "synth: cannot open %s: %s", tdup, strerror(errno));
        close(fd);
        return NULL;
    }
    /* Written in 2 MiB pieces at 2 MiB offsets, the page cache holds the
     * file in 2 MiB folios, so its first load maps it on huge pages without
     * reading it again (runtime/weights/hugemap.h); stdio's 4 KiB writes
     * leave small folios. glibc takes a size only with a buffer, so the
     * list keeps one (files are written one at a time); without it a file
     * is only slower to load the first time. */
    if (!tl->iobuf)
        tl->iobuf = malloc(SYNTH_IO_BUFFER);
    if (tl->iobuf)
        (void)setvbuf(f, tl->iobuf, _IOFBF, SYNTH_IO_BUFFER);
    return f;
}

/* Closes f and reports any deferred write error against the final name. */
static int close_temp(FILE *f, const temp_list *tl, lm_err *e)
{
    const char *final = tl->final[tl->n - 1];
    int bad = ferror(f);
    int saved = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        saved = errno;
    }
    if (bad)
        return lm_fail(e, "synth: cannot write %s: %s; check free disk space", final, strerror(saved));
    return 0;
}

static int write_all(FILE *f, const void *p, size_t n, const temp_list *tl, lm_err *e)
{
    if (n && fwrite(p, 1, n, f) != n)
        return lm_fail(e, "synth: cannot write %s: %s; check free disk space",
                       tl->final[tl->n - 1], strerror(errno));
    return 0;
}

static int write_text_file(temp_list *tl, const char *dir, const char *name, const char *text, lm_err *e)
{
    FILE *f = open_temp(tl, dir, name, e);
    if (!f)
        return -1;
    size_t len = strlen(text);
    int rc = write_all(f, text, len, tl, e);
    if (!rc && (len == 0 || text[len - 1] != '\n'))
        rc = write_all(f, "\n", 1, tl, e);
    if (rc) {
        fclose(f);
        return -1;
    }
    return close_temp(f, tl, e);
}

/* Streams one tensor's values, converted to the stored dtype. */
static int write_tensor_data(FILE *f, const synth_tensor *t, uint64_t elems, const synth_options *opt,
                             const temp_list *tl, lm_err *e)
{
    enum { CHUNK = 4096 };
    float vals[CHUNK];
    uint16_t halves[CHUNK];
    rng r;
    rng_seed(&r, opt->seed, t->name);
    double sd = tensor_std(t);
    double base = t->init == SYNTH_NORM ? 1.0 : 0.0;
    for (uint64_t done = 0; done < elems;) {
        size_t n = elems - done < CHUNK ? (size_t)(elems - done) : CHUNK;
        for (size_t i = 0; i < n; i++)
            vals[i] = (float)(base + sd * rng_normal(&r));
        int rc;
        if (opt->bf16) {
            for (size_t i = 0; i < n; i++)
                halves[i] = lm_f32_to_bf16(vals[i]);
            rc = write_all(f, halves, n * sizeof *halves, tl, e);
        } else {
            rc = write_all(f, vals, n * sizeof *vals, tl, e);
        }
        if (rc)
            return -1;
        done += n;
    }
    return 0;
}

/* One safetensors file holding tensors [first, first + count). Safetensors
 * stores little-endian data; this writer, like the runtime that mmaps the
 * files, assumes a little-endian host. */
static int write_safetensors(temp_list *tl, const char *dir, const char *name, const synth_tensor *ts,
                             const uint64_t *elems, size_t first, size_t count, const synth_options *opt,
                             lm_err *e)
{
    size_t esize = opt->bf16 ? 2 : 4;
    json_t *hdr = json_object();
    json_t *meta = json_pack("{s:s}", "format", "pt");
    if (!hdr || !meta || json_object_set_new(hdr, "__metadata__", meta)) {
        json_decref(hdr);
        return lm_fail(e, "synth: out of memory");
    }
    uint64_t off = 0;
    for (size_t i = first; i < first + count; i++) {
        const synth_tensor *t = &ts[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer((json_int_t)t->shape[d]));
        uint64_t end = off + elems[i] * esize;
        json_t *entry = json_pack("{s:s,s:o,s:[I,I]}", "dtype", opt->bf16 ? "BF16" : "F32", "shape", shape,
                                  "data_offsets", (json_int_t)off, (json_int_t)end);
        if (!entry || json_object_set_new(hdr, t->name, entry)) {
            json_decref(hdr);
            return lm_fail(e, "synth: out of memory");
        }
        off = end;
    }
    if (json_object_size(hdr) != count + 1) {
        json_decref(hdr);
        return lm_fail(e, "synth: %s: two tensors share a name (or one is named __metadata__); fix the architecture script",
                       name);
    }
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    if (!text)
        return lm_fail(e, "synth: out of memory");
    /* Pad with spaces so tensor data starts 8-byte aligned, as the hub's
     * files do; JSON parsers ignore trailing whitespace. */
    size_t len = strlen(text);
    size_t padded = (len + 7) & ~(size_t)7;
    uint8_t prefix[8];
    for (int b = 0; b < 8; b++)
        prefix[b] = (uint8_t)((uint64_t)padded >> (8 * b));
    static const char spaces[8] = "        ";

    FILE *f = open_temp(tl, dir, name, e);
    int rc = f ? 0 : -1;
    if (!rc)
        rc = write_all(f, prefix, sizeof prefix, tl, e);
    if (!rc)
        rc = write_all(f, text, len, tl, e);
    if (!rc)
        rc = write_all(f, spaces, padded - len, tl, e);
    free(text);
    for (size_t i = first; !rc && i < first + count; i++)
        rc = write_tensor_data(f, &ts[i], elems[i], opt, tl, e);
    if (!f)
        return -1;
    if (rc) {
        fclose(f);
        return -1;
    }
    return close_temp(f, tl, e);
}

/* mkdir -p */
static int make_dirs(const char *dir, lm_err *e)
{
    char path[SYNTH_MAX_PATH];
    size_t len = strlen(dir);
    if (len == 0 || len >= sizeof path)
        return lm_fail(e, "synth: output directory '%s' is empty or too long; pass a directory with -o", dir);
    memcpy(path, dir, len + 1);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return lm_fail(e, "synth: cannot create directory %s: %s; check the path and permissions", path,
                           strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return lm_fail(e, "synth: %s is not a directory; choose another output path", dir);
    return 0;
}

/* Shard boundaries: shard g holds tensors [start[g], start[g+1]). Each shard
 * ends at the first tensor that reaches g/K of the bytes, but every shard
 * keeps at least one tensor. */
static void split_shards(const uint64_t *bytes, size_t n, int k, size_t *start)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += bytes[i];
    start[0] = 0;
    start[k] = n;
    size_t i = 0;
    uint64_t cum = 0;
    for (int g = 1; g < k; g++) {
        /* target = total * g / k without overflow for realistic sizes */
        double target = (double)total * g / k;
        while (i < n && (double)cum < target) {
            cum += bytes[i];
            i++;
        }
        /* stop before the tensor that crossed the target when that is closer */
        if (i > start[g - 1] + 1 && (double)cum - target > target - (double)(cum - bytes[i - 1])) {
            i--;
            cum -= bytes[i];
        }
        size_t b = i;
        if (b < start[g - 1] + 1)
            b = start[g - 1] + 1;
        if (b > n - (size_t)(k - g))
            b = n - (size_t)(k - g);
        start[g] = b;
        /* keep cum in step with the clamped boundary */
        while (i < b) {
            cum += bytes[i];
            i++;
        }
        while (i > b) {
            i--;
            cum -= bytes[i];
        }
    }
}

/* Removes checkpoint files in dir that the new layout does not have, so a
 * reader never mixes an older synth's shards with this one. */
static int remove_stale(const char *dir, int shards, lm_err *e)
{
    char path[SYNTH_MAX_PATH];
    if (shards > 1) {
        if (join_path(path, dir, SINGLE_NAME, e))
            return -1;
        if (unlink(path) != 0 && errno != ENOENT)
            return lm_fail(e, "synth: cannot remove stale %s: %s", path, strerror(errno));
    } else {
        if (join_path(path, dir, INDEX_NAME, e))
            return -1;
        if (unlink(path) != 0 && errno != ENOENT)
            return lm_fail(e, "synth: cannot remove stale %s: %s", path, strerror(errno));
    }
    DIR *d = opendir(dir);
    if (!d)
        return lm_fail(e, "synth: cannot list %s: %s", dir, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (!rc && (de = readdir(d))) {
        if (fnmatch(SHARD_PATTERN, de->d_name, 0) != 0)
            continue;
        int idx, of;
        char tail;
        int keep = shards > 1 && sscanf(de->d_name, "model-%5d-of-%5d.safetenso%c", &idx, &of, &tail) == 3 &&
                   of == shards && idx >= 1 && idx <= shards;
        if (keep) {
            char want[64];
            snprintf(want, sizeof want, "model-%05d-of-%05d.safetensors", idx, of);
            keep = strcmp(want, de->d_name) == 0;
        }
        if (keep)
            continue;
        if (join_path(path, dir, de->d_name, e))
            rc = -1;
        else if (unlink(path) != 0 && errno != ENOENT)
            rc = lm_fail(e, "synth: cannot remove stale %s: %s", path, strerror(errno));
    }
    closedir(d);
    return rc;
}

static int write_index(temp_list *tl, const char *dir, const synth_tensor *ts, const uint64_t *bytes, size_t n,
                       const size_t *start, int k, lm_err *e)
{
    json_t *map = json_object();
    uint64_t total = 0;
    for (int g = 0; g < k; g++) {
        char file[64];
        snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", g + 1, k);
        for (size_t i = start[g]; i < start[g + 1]; i++) {
            json_object_set_new(map, ts[i].name, json_string(file));
            total += bytes[i];
        }
    }
    (void)n;
    json_t *root = json_pack("{s:{s:I},s:o}", "metadata", "total_size", (json_int_t)total, "weight_map", map);
    char *text = root ? json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(root);
    if (!text)
        return lm_fail(e, "synth: out of memory");
    int rc = write_text_file(tl, dir, INDEX_NAME, text, e);
    free(text);
    return rc;
}

int synth_checkpoint(const char *dir, const synth_tensor *tensors, size_t n, const char *config_json,
                     const synth_options *opt, lm_err *e)
{
    if (!dir || !opt || !config_json || (n && !tensors))
        return lm_fail(e, "synth: missing argument");
    if (n == 0)
        return lm_fail(e, "synth: the architecture declares no tensors; fix the architecture script");
    if (opt->shards < 1 || opt->shards > 99999)
        return lm_fail(e, "synth: --shards %d is out of range; use 1 to 99999", opt->shards);
    if ((size_t)opt->shards > n)
        return lm_fail(e, "synth: --shards %d is more than the %zu tensors; use at most %zu shards", opt->shards,
                       n, n);

    uint64_t *elems = malloc(n * sizeof *elems);
    uint64_t *bytes = malloc(n * sizeof *bytes);
    size_t *start = malloc(((size_t)opt->shards + 1) * sizeof *start);
    temp_list tl = {0};
    int rc = (elems && bytes && start) ? 0 : lm_fail(e, "synth: out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        rc = tensor_elems(&tensors[i], &elems[i], e);
        if (!rc)
            bytes[i] = elems[i] * (opt->bf16 ? 2 : 4);
    }
    if (!rc)
        rc = make_dirs(dir, e);
    if (!rc)
        rc = write_text_file(&tl, dir, "config.json", config_json, e);
    if (!rc && opt->shards == 1) {
        rc = write_safetensors(&tl, dir, SINGLE_NAME, tensors, elems, 0, n, opt, e);
    } else if (!rc) {
        split_shards(bytes, n, opt->shards, start);
        for (int g = 0; !rc && g < opt->shards; g++) {
            char file[64];
            snprintf(file, sizeof file, "model-%05d-of-%05d.safetensors", g + 1, opt->shards);
            rc = write_safetensors(&tl, dir, file, tensors, elems, start[g], start[g + 1] - start[g], opt, e);
        }
        if (!rc)
            rc = write_index(&tl, dir, tensors, bytes, n, start, opt->shards, e);
    }
    /* Everything is written: put the files in place, then clear out what an
     * earlier synth with another layout left behind. */
    for (size_t i = 0; !rc && i < tl.n; i++) {
        if (rename(tl.tmp[i], tl.final[i]) != 0) {
            rc = lm_fail(e, "synth: cannot rename %s to %s: %s", tl.tmp[i], tl.final[i], strerror(errno));
        } else {
            free(tl.tmp[i]);
            tl.tmp[i] = NULL;
        }
    }
    if (!rc)
        rc = remove_stale(dir, opt->shards, e);
    temp_list_free(&tl, rc != 0);
    free(elems);
    free(bytes);
    free(start);
    return rc;
}
