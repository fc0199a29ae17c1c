#include "hub_cache.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "../core/files.h"

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* "~/x" as the shell would expand it; other paths unchanged. */
static int expand_home(const char *path, const char *suffix, char *buf, size_t cap, lm_err *e)
{
    const char *home = env_nonempty("HOME");
    int n;
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0')) {
        if (!home)
            return lm_fail(e, "%s: HOME is not set; set HF_HUB_CACHE to the hub cache directory", path);
        n = snprintf(buf, cap, "%s%s%s", home, path + 1, suffix);
    } else {
        n = snprintf(buf, cap, "%s%s", path, suffix);
    }
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "%.200s: hub cache path too long", path);
    return 0;
}

int lm_hub_cache_dir(char *buf, size_t cap, lm_err *e)
{
    /* The order huggingface_hub's constants.py reads them in. */
    const char *v;
    if ((v = env_nonempty("HF_HUB_CACHE")) || (v = env_nonempty("HUGGINGFACE_HUB_CACHE")))
        return expand_home(v, "", buf, cap, e);
    if ((v = env_nonempty("HF_HOME")))
        return expand_home(v, "/hub", buf, cap, e);
    if ((v = env_nonempty("XDG_CACHE_HOME")))
        return expand_home(v, "/huggingface/hub", buf, cap, e);
    return expand_home("~/.cache/huggingface/hub", "", buf, cap, e);
}

int lm_hub_offline(void)
{
    const char *names[] = { "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE" };
    for (size_t i = 0; i < 2; i++) {
        const char *v = env_nonempty(names[i]);
        if (v && (strcmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
                  strcasecmp(v, "true") == 0))
            return 1;
    }
    return 0;
}

static int name_char(int c)
{
    return isalnum(c) || c == '-' || c == '_' || c == '.';
}

/* One part of a repository id: [\w\-.]+, not starting or ending with - or . */
static int check_part(const char *id, const char *p, size_t n, size_t max, lm_err *e)
{
    if (n == 0 || n > max)
        return lm_fail(e, "'%.200s': not a repository id: each part of ORG/NAME has 1 to %zu characters",
                       id, max);
    for (size_t i = 0; i < n; i++)
        if (!name_char((unsigned char)p[i]))
            return lm_fail(e, "'%.200s': not a repository id: only letters, digits, '-', '_' and '.' "
                              "are allowed (ORG/NAME, e.g. Qwen/Qwen3-0.6B)", id);
    if (p[0] == '-' || p[0] == '.' || p[n - 1] == '-' || p[n - 1] == '.')
        return lm_fail(e, "'%.200s': not a repository id: a part may not start or end with '-' or '.'", id);
    return 0;
}

int lm_hub_check_repo_id(const char *id, lm_err *e)
{
    const char *slash = strchr(id, '/');
    if (slash && strchr(slash + 1, '/'))
        return lm_fail(e, "'%.200s': not a repository id: expected ORG/NAME with one '/'", id);
    if (strstr(id, "--") || strstr(id, ".."))
        return lm_fail(e, "'%.200s': not a repository id: '--' and '..' are not allowed", id);
    if (slash)
        return check_part(id, id, (size_t)(slash - id), 96, e) != 0 ? -1
               : check_part(id, slash + 1, strlen(slash + 1), 96, e);
    return check_part(id, id, strlen(id), 96, e);
}

int lm_hub_check_revision(const char *rev, lm_err *e)
{
    size_t n = strlen(rev);
    if (n == 0 || n > 255)
        return lm_fail(e, "revision '%.100s': expected 1 to 255 characters", rev);
    for (size_t i = 0; i < n; i++)
        if (!isgraph((unsigned char)rev[i]) || rev[i] == '\\')
            return lm_fail(e, "revision '%.100s': not a branch, tag or commit name", rev);
    if (rev[0] == '/' || strstr(rev, "..") || rev[n - 1] == '/')
        return lm_fail(e, "revision '%.100s': not a branch, tag or commit name", rev);
    return 0;
}

int lm_hub_is_commit(const char *rev)
{
    size_t i = 0;
    for (; rev[i]; i++)
        if (!isxdigit((unsigned char)rev[i]) || isupper((unsigned char)rev[i]))
            return 0;
    return i == LM_HUB_COMMIT_LEN;
}

/* models--ORG--NAME: huggingface_hub's repo_folder_name for a model. */
static int folder_name(const char *repo, char *buf, size_t cap, lm_err *e)
{
    size_t n = 0;
    n += (size_t)snprintf(buf, cap, "models--");
    for (const char *p = repo; *p && n + 3 < cap; p++) {
        if (*p == '/') {
            buf[n++] = '-';
            buf[n++] = '-';
        } else {
            buf[n++] = *p;
        }
    }
    if (n + 3 >= cap)
        return lm_fail(e, "%.200s: repository id too long", repo);
    buf[n] = '\0';
    return 0;
}

static int cache_path(const char *cache, const char *mid, const char *repo, char *buf, size_t cap,
                      lm_err *e)
{
    char folder[300];
    if (folder_name(repo, folder, sizeof folder, e) != 0)
        return -1;
    int n = snprintf(buf, cap, "%s/%s%s", cache, mid, folder);
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "%.200s: hub cache path too long", cache);
    return 0;
}

int lm_hub_repo_dir(const char *cache, const char *repo, char *buf, size_t cap, lm_err *e)
{
    return cache_path(cache, "", repo, buf, cap, e);
}

int lm_hub_locks_dir(const char *cache, const char *repo, char *buf, size_t cap, lm_err *e)
{
    return cache_path(cache, ".locks/", repo, buf, cap, e);
}

int lm_hub_read_ref(const char *repo_dir, const char *revision, char commit[LM_HUB_COMMIT_LEN + 1],
                    lm_err *e)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path)
        return lm_fail(e, "%.200s: path too long", repo_dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? 0 : lm_fail(e, "%s: cannot read: %s", path, strerror(errno));
    char text[LM_HUB_COMMIT_LEN + 2] = { 0 };
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    /* huggingface_hub writes the bare hash; tolerate a newline from editors. */
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    if (!lm_hub_is_commit(text))
        return lm_fail(e, "%s: not a commit hash; remove the file and pull again", path);
    memcpy(commit, text, LM_HUB_COMMIT_LEN + 1);
    return 1;
}

int lm_hub_write_ref(const char *repo_dir, const char *revision, const char *commit, lm_err *e)
{
    if (strcmp(revision, commit) == 0)
        return 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/refs/%s", repo_dir, revision) >= (int)sizeof path)
        return lm_fail(e, "%.200s: path too long", repo_dir);
    char old[LM_HUB_COMMIT_LEN + 1];
    lm_err ignored;
    if (lm_hub_read_ref(repo_dir, revision, old, &ignored) == 1 && strcmp(old, commit) == 0)
        return 0;
    if (lm_mkdirs_parent(path, e) != 0)
        return -1;
    return lm_write_atomic(path, commit, strlen(commit), e);
}

int lm_hub_resolve_cached(const char *repo, const char *revision, char *buf, size_t cap, lm_err *e)
{
    char cache[4096], repo_dir[4096], commit[LM_HUB_COMMIT_LEN + 1];
    if (lm_hub_check_repo_id(repo, e) != 0 || lm_hub_check_revision(revision, e) != 0 ||
        lm_hub_cache_dir(cache, sizeof cache, e) != 0 ||
        lm_hub_repo_dir(cache, repo, repo_dir, sizeof repo_dir, e) != 0)
        return -1;
    int found;
    if (lm_hub_is_commit(revision)) {
        memcpy(commit, revision, sizeof commit);
        found = 1;
    } else if ((found = lm_hub_read_ref(repo_dir, revision, commit, e)) < 0) {
        return -1;
    }
    if (!found)
        return lm_fail(e, "%s: revision %s is not in the hub cache %s; download it with "
                          "'lmcc pull %s%s%s'", repo, revision, cache, repo,
                       strcmp(revision, "main") ? " --revision " : "",
                       strcmp(revision, "main") ? revision : "");
    int n = snprintf(buf, cap, "%s/snapshots/%s", repo_dir, commit);
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "%s: path too long", repo_dir);
    char config[4200];
    struct stat st;
    snprintf(config, sizeof config, "%s/config.json", buf);
    if (stat(config, &st) != 0)
        return lm_fail(e, "%s: the cached snapshot %s has no config.json; download it with "
                          "'lmcc pull %s'", repo, commit, repo);
    return 0;
}

int lm_hub_parse_model_ref(const char *spec, char *repo, size_t repo_cap, char *rev, size_t rev_cap)
{
    struct stat st;
    if (stat(spec, &st) == 0 || spec[0] == '/' || spec[0] == '.' || spec[0] == '~')
        return 0;
    const char *slash = strchr(spec, '/');
    if (!slash || strchr(slash + 1, '/') || slash == spec)
        return 0;
    const char *at = strchr(slash, '@');
    size_t n = at ? (size_t)(at - spec) : strlen(spec);
    if (n >= repo_cap)
        return 0;
    memcpy(repo, spec, n);
    repo[n] = '\0';
    snprintf(rev, rev_cap, "%s", at ? at + 1 : "main");
    lm_err e;
    return lm_hub_check_repo_id(repo, &e) == 0 && lm_hub_check_revision(rev, &e) == 0;
}
