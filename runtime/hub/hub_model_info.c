/* Reading the model API's answer (hub_model_info.h). */
#include "hub_model_info.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Whether lmcc needs a file of a repository (by its path in the repo). */
static int wanted_file(const char *path)
{
    static const char *const names[] = {
        "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
        "special_tokens_map.json", "qwen.tiktoken", "chat_template.jinja",
        "model.safetensors.index.json",
    };
    if (strchr(path, '/'))
        return 0; /* original/, onnx/ ...: other formats of the same weights */
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(path, names[i]) == 0)
            return 1;
    size_t n = strlen(path);
    return n > 12 && strcmp(path + n - 12, ".safetensors") == 0;
}

static int add_file(const char *repo, lm_hub_model_info *info, json_t *sib, lm_err *e)
{
    json_t *name = json_object_get(sib, "rfilename");
    if (!json_is_string(name))
        return lm_fail(e, "%s: the model API listed a file without rfilename", repo);
    if (!wanted_file(json_string_value(name)))
        return 0;
    if (info->n_files == LM_HUB_MAX_FILES)
        return lm_fail(e, "%s: more than %d files to fetch", repo, LM_HUB_MAX_FILES);
    lm_hub_file *a = &info->files[info->n_files];
    const char *path = json_string_value(name);
    /* A file name that could leave the snapshot directory is hostile. */
    if (!*path || path[0] == '.' || strlen(path) > 255)
        return lm_fail(e, "%s: the model API listed a bad file name '%.100s'", repo, path);
    a->path = strdup(path);
    a->size = json_is_integer(json_object_get(sib, "size")) ? json_integer_value(json_object_get(sib, "size")) : -1;
    json_t *lfs = json_object_get(sib, "lfs");
    json_t *sha = json_object_get(lfs, "sha256");
    a->sha256[0] = '\0';
    if (json_is_string(sha) && strlen(json_string_value(sha)) == 64)
        snprintf(a->sha256, sizeof a->sha256, "%s", json_string_value(sha));
    if (json_is_integer(json_object_get(lfs, "size")))
        a->size = json_integer_value(json_object_get(lfs, "size"));
    if (!a->path)
        return lm_fail(e, "out of memory");
    info->n_files++;
    return 0;
}

int lm_hub_parse_model_info(const char *repo, const char *revision, const char *url,
                            const char *body, size_t n, lm_hub_model_info *info, lm_err *e)
{
    json_error_t je;
    json_t *root = json_loadb(body, n, 0, &je);
    if (!json_is_object(root)) {
        json_decref(root);
        return lm_fail(e, "%s: the model API answered something that is not a JSON object (%s)", url,
                       root ? "an array or a value" : je.text);
    }
    int rc = 0;
    json_t *sha = json_object_get(root, "sha"), *sibs = json_object_get(root, "siblings");
    if (!json_is_string(sha) || !lm_hub_is_commit(json_string_value(sha)))
        rc = lm_fail(e, "%s: the model API gave no commit hash (sha)", url);
    else if (!json_is_array(sibs))
        rc = lm_fail(e, "%s: the model API gave no file list (siblings)", url);
    if (rc == 0) {
        snprintf(info->commit, sizeof info->commit, "%s", json_string_value(sha));
        size_t i;
        json_t *sib;
        json_array_foreach(sibs, i, sib) if (rc == 0) rc = add_file(repo, info, sib, e);
    }
    json_decref(root);
    if (rc != 0)
        return -1;
    int config = 0, weights = 0;
    for (int i = 0; i < info->n_files; i++) {
        config |= strcmp(info->files[i].path, "config.json") == 0;
        weights |= strstr(info->files[i].path, ".safetensors") && !strstr(info->files[i].path, ".index.json");
    }
    if (!config)
        return lm_fail(e, "%s@%s has no config.json: not a transformers model", repo, revision);
    if (!weights)
        return lm_fail(e, "%s@%s has no *.safetensors weights; lmcc reads safetensors only", repo,
                       revision);
    return 0;
}

void lm_hub_model_info_free(lm_hub_model_info *info)
{
    for (int i = 0; i < info->n_files; i++)
        free(info->files[i].path);
    info->n_files = 0;
}
