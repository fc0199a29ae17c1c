/* A checkpoint directory: one model.safetensors, or shards listed by
 * model.safetensors.index.json, merged into one name-sorted tensor table.
 *
 * The index is cross-checked against the shards both ways, so a stale or
 * hand-edited index cannot silently drop or double-bind a tensor. */
#include "checkpoint.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hugemap.h"
#include "safetensors.h"

struct lm_checkpoint {
    char *dir;
    lm_st_file *files;
    size_t n_files;
    lm_tensor *tensors; /* copies of the files' entries, sorted by name */
    size_t n_tensors;
};

static const char *const index_name = "model.safetensors.index.json";
static const char *const single_name = "model.safetensors";

static char *join_path(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int cmp_tensor_name(const void *a, const void *b)
{
    return strcmp(((const lm_tensor *)a)->name, ((const lm_tensor *)b)->name);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void lm_checkpoint_close(lm_checkpoint *ck)
{
    if (!ck)
        return;
    for (size_t i = 0; i < ck->n_files; i++)
        lm_st_file_close(&ck->files[i]);
    free(ck->files);
    free(ck->tensors);
    free(ck->dir);
    free(ck);
}

static int open_shard(lm_checkpoint *ck, const char *name, lm_err *e)
{
    char *path = join_path(ck->dir, name);
    if (!path)
        return lm_fail(e, "%s: out of memory", ck->dir);
    int rc = lm_st_file_open(&ck->files[ck->n_files], path, name, e);
    free(path);
    if (rc == 0)
        ck->n_files++;
    return rc;
}

/* Merges every file's tensors into ck->tensors, sorted, rejecting a name
 * that appears in two shards. */
static int merge_tensors(lm_checkpoint *ck, lm_err *e)
{
    size_t n = 0;
    for (size_t i = 0; i < ck->n_files; i++)
        n += ck->files[i].n_tensors;
    ck->tensors = calloc(n ? n : 1, sizeof *ck->tensors);
    if (!ck->tensors)
        return lm_fail(e, "%s: out of memory", ck->dir);
    for (size_t i = 0; i < ck->n_files; i++)
        for (size_t j = 0; j < ck->files[i].n_tensors; j++)
            ck->tensors[ck->n_tensors++] = ck->files[i].tensors[j];
    qsort(ck->tensors, ck->n_tensors, sizeof *ck->tensors, cmp_tensor_name);
    for (size_t i = 1; i < ck->n_tensors; i++)
        if (strcmp(ck->tensors[i - 1].name, ck->tensors[i].name) == 0)
            return lm_fail(e,
                           "%s: tensor '%s' appears in both %s and %s (duplicate tensor across "
                           "shards); re-download the checkpoint",
                           ck->dir, ck->tensors[i].name, ck->tensors[i - 1].file,
                           ck->tensors[i].file);
    return 0;
}

/* A shard name from the index must stay inside the checkpoint directory. */
static int plain_file_name(const char *s)
{
    return s[0] != '\0' && strchr(s, '/') == NULL && strcmp(s, ".") != 0 && strcmp(s, "..") != 0 &&
           strstr(s, "..") == NULL;
}

static int open_indexed(lm_checkpoint *ck, const char *index_path, lm_err *e)
{
    json_error_t jerr;
    json_t *root = json_load_file(index_path, 0, &jerr);
    if (!root)
        return lm_fail(e, "%s:%d:%d: %s; re-download the index", index_path, jerr.line,
                       jerr.column, jerr.text);
    int rc = -1;
    const char **shards = NULL;
    const json_t *map = json_is_object(root) ? json_object_get(root, "weight_map") : NULL;
    if (!json_is_object(map)) {
        lm_fail(e, "%s: no \"weight_map\" object; re-download the index", index_path);
        goto out;
    }
    size_t n_entries = json_object_size(map);
    if (n_entries == 0) {
        lm_fail(e, "%s: \"weight_map\" is empty; re-download the index", index_path);
        goto out;
    }
    shards = calloc(n_entries, sizeof *shards);
    if (!shards) {
        lm_fail(e, "%s: out of memory", index_path);
        goto out;
    }
    size_t n_shards = 0;
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)map, key, value) {
        if (!json_is_string(value)) {
            lm_fail(e, "%s: weight_map entry '%s' is not a file name string; re-download the index",
                    index_path, key);
            goto out;
        }
        const char *s = json_string_value(value);
        if (!plain_file_name(s)) {
            lm_fail(e,
                    "%s: weight_map entry '%s' names shard \"%s\", which is not a plain file "
                    "name in the checkpoint directory; fix the index",
                    index_path, key, s);
            goto out;
        }
        shards[n_shards++] = s;
    }
    /* Each distinct shard is opened once. */
    qsort(shards, n_shards, sizeof *shards, cmp_str);
    size_t distinct = 0;
    for (size_t i = 0; i < n_shards; i++)
        if (distinct == 0 || strcmp(shards[distinct - 1], shards[i]) != 0)
            shards[distinct++] = shards[i];
    ck->files = calloc(distinct, sizeof *ck->files);
    if (!ck->files) {
        lm_fail(e, "%s: out of memory", index_path);
        goto out;
    }
    for (size_t i = 0; i < distinct; i++)
        if (open_shard(ck, shards[i], e) != 0)
            goto out;
    if (merge_tensors(ck, e) != 0)
        goto out;
    /* The index and the shards must agree entry for entry. */
    json_object_foreach((json_t *)map, key, value) {
        const lm_tensor *t = lm_checkpoint_find(ck, key);
        const char *want = json_string_value(value);
        if (!t) {
            lm_fail(e, "%s: index lists tensor '%s' in %s, but %s has no such tensor; "
                       "re-download the checkpoint",
                    index_path, key, want, want);
            goto out;
        }
        if (strcmp(t->file, want) != 0) {
            lm_fail(e, "%s: index lists tensor '%s' in %s, but it is in %s; re-download the "
                       "checkpoint",
                    index_path, key, want, t->file);
            goto out;
        }
    }
    for (size_t i = 0; i < ck->n_tensors; i++) {
        const json_t *listed = json_object_get(map, ck->tensors[i].name);
        if (!listed) {
            lm_fail(e, "%s: tensor '%s' in %s is not listed in the index; re-download the "
                       "checkpoint",
                    index_path, ck->tensors[i].name, ck->tensors[i].file);
            goto out;
        }
    }
    rc = 0;
out:
    free(shards);
    json_decref(root);
    return rc;
}

static int open_single(lm_checkpoint *ck, const char *path, lm_err *e)
{
    ck->files = calloc(1, sizeof *ck->files);
    if (!ck->files)
        return lm_fail(e, "%s: out of memory", path);
    if (open_shard(ck, single_name, e) != 0)
        return -1;
    return merge_tensors(ck, e);
}

lm_checkpoint *lm_checkpoint_open(const char *dir, lm_err *e)
{
    lm_checkpoint *ck = calloc(1, sizeof *ck);
    char *index_path = NULL, *single_path = NULL;
    if (!ck || !(ck->dir = strdup(dir)) || !(index_path = join_path(dir, index_name)) ||
        !(single_path = join_path(dir, single_name))) {
        lm_fail(e, "%s: out of memory", dir);
        goto fail;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        lm_fail(e, "%s: %s; pass a Hugging Face checkpoint directory",
                dir, stat(dir, &st) != 0 ? strerror(errno) : "not a directory");
        goto fail;
    }
    int rc;
    if (file_exists(index_path))
        rc = open_indexed(ck, index_path, e);
    else if (file_exists(single_path))
        rc = open_single(ck, single_path, e);
    else
        rc = lm_fail(e, "%s: found neither %s nor %s; pass a Hugging Face checkpoint directory "
                        "(download it with lmcc pull or generate one with lmcc synth)",
                     dir, single_name, index_name);
    if (rc != 0)
        goto fail;
    free(index_path);
    free(single_path);
    return ck;
fail:
    free(index_path);
    free(single_path);
    lm_checkpoint_close(ck);
    return NULL;
}

size_t lm_checkpoint_count(const lm_checkpoint *ck)
{
    return ck->n_tensors;
}

const lm_tensor *lm_checkpoint_tensor(const lm_checkpoint *ck, size_t i)
{
    return i < ck->n_tensors ? &ck->tensors[i] : NULL;
}

const lm_tensor *lm_checkpoint_find(const lm_checkpoint *ck, const char *name)
{
    size_t lo = 0, hi = ck->n_tensors;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ck->tensors[mid].name, name);
        if (c == 0)
            return &ck->tensors[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *lm_checkpoint_dir(const lm_checkpoint *ck)
{
    return ck->dir;
}

void lm_checkpoint_prefer_huge(const lm_checkpoint *ck, const char *file)
{
    for (size_t i = 0; i < ck->n_files; i++)
        if (strcmp(ck->files[i].name, file) == 0)
            (void)lm_map_prefer_huge(ck->files[i].map, ck->files[i].map_size, ck->files[i].path);
}

size_t lm_checkpoint_huge_bytes(const lm_checkpoint *ck)
{
    /* One pass over /proc/self/smaps for all the shards. */
    const void **maps = malloc((ck->n_files ? ck->n_files : 1) * sizeof *maps);
    if (!maps)
        return 0;
    for (size_t i = 0; i < ck->n_files; i++)
        maps[i] = ck->files[i].map;
    size_t n = lm_map_huge_bytes(maps, ck->n_files);
    free(maps);
    return n;
}

size_t lm_checkpoint_file_count(const lm_checkpoint *ck)
{
    return ck->n_files;
}

const char *lm_checkpoint_file_path(const lm_checkpoint *ck, size_t i)
{
    return ck->files[i].path;
}

size_t lm_checkpoint_bytes(const lm_checkpoint *ck)
{
    size_t n = 0;
    for (size_t i = 0; i < ck->n_files; i++)
        n += ck->files[i].map_size;
    return n;
}
