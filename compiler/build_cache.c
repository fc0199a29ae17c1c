#include "build_cache.h"

#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "fsutil.h"

int build_cache_dir(char *buf, size_t cap, lm_err *e)
{
    return lm_lmcc_cache_dir("", buf, cap, e);
}

static void key_of(const build_request *req, char key[17])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    char self[512] = "";
    struct stat st;
    if (stat("/proc/self/exe", &st) == 0)
        snprintf(self, sizeof self, "%lld:%lld", (long long)st.st_size, (long long)st.st_mtime);
    const char *parts[] = { "lmcc " LMCC_VERSION, self, req->config_yaml, req->dtype ? req->dtype : "",
                            req->ctx ? req->ctx : "", req->name };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
        EVP_DigestUpdate(ctx, parts[i], strlen(parts[i]) + 1);
    unsigned char md[32];
    unsigned int n;
    EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 8; i++)
        snprintf(key + 2 * i, 3, "%02x", md[i]);
}

static void say_waiting(const char *what)
{
    fprintf(stderr, "lmcc: %s: another lmcc is building it; waiting\n", what);
}

static int write_build_json(const build_request *req, const char *dir, lm_err *e)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s}", "repo", req->repo ? req->repo : "", "name", req->name,
                          "dtype", req->dtype ? req->dtype : "", "lmcc_version", LMCC_VERSION);
    char *text = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    if (!text)
        return lm_fail(e, "out of memory");
    char path[4200];
    snprintf(path, sizeof path, "%s/build.json", dir);
    int rc = lm_write_atomic(path, text, strlen(text), e);
    free(text);
    return rc;
}

/* lmcc build CONFIG -o dir --name name [--dtype D] [--ctx N], in-process. */
static int build_into(const build_request *req, const char *dir, lm_err *e)
{
    char config[4200];
    snprintf(config, sizeof config, "%s/config.yaml", dir);
    if (lm_mkdirs(dir, e) != 0 || lm_write_atomic(config, req->config_yaml, strlen(req->config_yaml), e) != 0)
        return -1;
    char *argv[16];
    int argc = 0;
    argv[argc++] = "build";
    argv[argc++] = config;
    argv[argc++] = "-o";
    argv[argc++] = (char *)dir;
    argv[argc++] = "--name";
    argv[argc++] = (char *)req->name;
    if (req->dtype) {
        argv[argc++] = "--dtype";
        argv[argc++] = (char *)req->dtype;
    }
    if (req->ctx) {
        argv[argc++] = "--ctx";
        argv[argc++] = (char *)req->ctx;
    }
    argv[argc] = NULL;
    if (!req->quiet)
        fprintf(stderr, "lmcc: compiling %s (once; kept in %s)\n", req->name, dir);
    if (cmd_build(argc, argv) != 0)
        return lm_fail(e, "%s: the build failed (the message above says why)", req->name);
    return write_build_json(req, dir, e);
}

int build_cache_ensure(const build_request *req, char *exe, size_t cap, lm_err *e)
{
    char root[4096], dir[4400], lock[4500], key[17], marker[4600];
    if (build_cache_dir(root, sizeof root, e) != 0)
        return -1;
    key_of(req, key);
    snprintf(dir, sizeof dir, "%s/models/%s-%s", root, req->name, key);
    snprintf(lock, sizeof lock, "%s.lock", dir);
    snprintf(marker, sizeof marker, "%s/build.json", dir);
    if (snprintf(exe, cap, "%s/%s", dir, req->name) >= (int)cap)
        return lm_fail(e, "%s: path too long", dir);
    /* build.json is written last: its presence means the build finished. */
    if (fs_exists(marker) && fs_exists(exe))
        return 0;
    int fd = lm_lock(lock, say_waiting, req->name, e);
    if (fd < 0)
        return -1;
    int rc = fs_exists(marker) && fs_exists(exe) ? 0 : build_into(req, dir, e);
    lm_unlock(fd);
    return rc;
}

int build_cache_scan(void (*fn)(const cached_build *b, void *ctx), void *ctx, lm_err *e)
{
    char root[4096], models[4200];
    if (build_cache_dir(root, sizeof root, e) != 0)
        return -1;
    snprintf(models, sizeof models, "%s/models", root);
    DIR *d = opendir(models);
    if (!d)
        return 0;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        cached_build b = { 0 };
        char path[4400];
        snprintf(b.dir, sizeof b.dir, "%s/%s", models, ent->d_name);
        snprintf(path, sizeof path, "%s/build.json", b.dir);
        json_t *j = json_load_file(path, 0, NULL);
        if (!json_is_object(j)) {
            json_decref(j);
            continue;
        }
        const char *repo = json_string_value(json_object_get(j, "repo"));
        const char *name = json_string_value(json_object_get(j, "name"));
        const char *dtype = json_string_value(json_object_get(j, "dtype"));
        snprintf(b.repo, sizeof b.repo, "%s", repo ? repo : "");
        snprintf(b.name, sizeof b.name, "%s", name ? name : ent->d_name);
        snprintf(b.dtype, sizeof b.dtype, "%s", dtype && *dtype ? dtype : "config dtype");
        json_decref(j);
        b.bytes = lm_tree_bytes(b.dir);
        fn(&b, ctx);
    }
    closedir(d);
    return 0;
}
