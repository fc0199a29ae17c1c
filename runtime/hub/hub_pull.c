#include "hub_pull.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../core/files.h"
#include "hub_cache.h"
#include "hub_digest.h"
#include "hub_http.h"
#include "hub_model_info.h"
#include "hub_progress.h"

typedef struct pull {
    const lm_hub_pull_opts *o;
    lm_hub_http *http;
    char endpoint[1024];
    int have_token;
    char cache[4096], repo_dir[4096], locks_dir[4096];
    lm_hub_model_info info; /* the commit and the files to fetch */
    lm_hub_progress_style style;
} pull;

/* $HF_ENDPOINT without a trailing '/', else the public hub. */
static void endpoint_of(char *buf, size_t cap)
{
    const char *v = getenv("HF_ENDPOINT");
    snprintf(buf, cap, "%s", v && *v ? v : "https://huggingface.co");
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '/')
        buf[--n] = '\0';
}

/* $HF_TOKEN, else the file huggingface-cli login writes. */
static char *read_token(void)
{
    const char *v = getenv("HF_TOKEN");
    if (!v || !*v)
        v = getenv("HUGGING_FACE_HUB_TOKEN");
    if (v && *v)
        return strdup(v);
    char path[4096];
    const char *tp = getenv("HF_TOKEN_PATH"), *home = getenv("HF_HOME"), *h = getenv("HOME");
    if (tp && *tp)
        snprintf(path, sizeof path, "%s", tp);
    else if (home && *home)
        snprintf(path, sizeof path, "%s/token", home);
    else if (h && *h)
        snprintf(path, sizeof path, "%s/.cache/huggingface/token", h);
    else
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char buf[512] = { 0 };
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && isspace((unsigned char)buf[n - 1]))
        buf[--n] = '\0';
    return n ? strdup(buf) : NULL;
}

/* The hub's answer as one error line. */
static int status_error(pull *p, const char *file, const lm_hub_response *r, lm_err *e)
{
    const char *repo = p->o->repo, *code = r->error_code;
    if (strcmp(code, "GatedRepo") == 0)
        return lm_fail(e, "%s is gated: accept its license at %s/%s while logged in, then %s", repo,
                       p->endpoint, repo,
                       p->have_token ? "pull again (HF_TOKEN must be a token of that account)"
                                     : "set HF_TOKEN to an access token of that account");
    if (strcmp(code, "RevisionNotFound") == 0)
        return lm_fail(e, "%s: revision '%s' not found; check the branch, tag or commit", repo,
                       p->o->revision);
    if (strcmp(code, "EntryNotFound") == 0 || (file && r->status == 404 && !code[0]))
        return lm_fail(e, "%s@%s: %s not found in the repository", repo, p->o->revision, file);
    if (strcmp(code, "RepoNotFound") == 0 || r->status == 404)
        return lm_fail(e, "%s: repository not found on %s%s", repo, p->endpoint,
                       p->have_token ? "" : " (if it is private, set HF_TOKEN)");
    if (r->status == 401)
        return lm_fail(e, "%s: %s answered 401 Unauthorized; set HF_TOKEN to a valid access token",
                       repo, p->endpoint);
    if (r->status == 403)
        return lm_fail(e, "%s: %s answered 403 Forbidden; the token has no access to it", repo,
                       p->endpoint);
    if (r->status == 0)
        return lm_fail(e, "%s: the answer from %s has no valid HTTP status line; check HF_ENDPOINT and any proxy",
                       repo, r->url);
    return lm_fail(e, "%s: HTTP %ld from %s%s%.300s", repo, r->status, r->url,
                   r->error_message[0] ? ": " : "", r->error_message);
}

/* ---- 1. the file list ------------------------------------------------- */

static int list_files(pull *p, lm_err *e)
{
    char url[4096];
    char *repo_rev = curl_easy_escape(NULL, p->o->revision, 0);
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s?blobs=true", p->endpoint, p->o->repo,
             repo_rev ? repo_rev : "main");
    curl_free(repo_rev);
    char *body = NULL;
    size_t n = 0;
    lm_hub_response r;
    if (lm_hub_get(p->http, url, &body, &n, &r, e) != 0)
        return -2; /* no answer at all */
    if (r.status != 200) {
        free(body);
        return status_error(p, NULL, &r, e);
    }
    int rc = lm_hub_parse_model_info(p->o->repo, p->o->revision, url, body, n, &p->info, e);
    free(body);
    return rc;
}

/* ---- 2-3. one file ----------------------------------------------------- */

/* An etag without W/ and quotes, as huggingface_hub's _normalize_etag. */
static void normalize_etag(const char *in, char *out, size_t cap)
{
    if (strncmp(in, "W/", 2) == 0)
        in += 2;
    size_t n = strlen(in);
    if (n >= 2 && in[0] == '"' && in[n - 1] == '"') {
        in++;
        n -= 2;
    }
    snprintf(out, cap, "%.*s", (int)n, in);
}

static int is_hex(const char *s, size_t n)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return i == n;
}

/* The etag names the blob file: printable ASCII only (no controls, no
 * spaces, no path separator), not starting with a dot. The hub's are hex. */
static int usable_etag(const char *s)
{
    if (!s[0] || s[0] == '.')
        return 0;
    for (; *s; s++)
        if (!isgraph((unsigned char)*s) || *s == '/' || *s == '\\')
            return 0;
    return 1;
}

typedef struct file_meta {
    char etag[256];
    long long size;
    char url[4096];      /* where the bytes are (the CDN for LFS files) */
} file_meta;

static int file_metadata(pull *p, const lm_hub_file *a, file_meta *m, lm_err *e)
{
    char url[4096];
    char *esc = curl_easy_escape(NULL, a->path, 0);
    snprintf(url, sizeof url, "%s/%s/resolve/%s/%s", p->endpoint, p->o->repo, p->info.commit, esc ? esc : "");
    curl_free(esc);
    lm_hub_response r;
    if (lm_hub_head(p->http, url, &r, e) != 0)
        return -1;
    int redirect = r.status >= 300 && r.status < 400;
    if (r.status != 200 && !redirect)
        return status_error(p, a->path, &r, e);
    if (!r.repo_commit[0])
        return lm_fail(e, "%s: no X-Repo-Commit in the answer; %s does not look like a Hugging Face hub "
                          "(check HF_ENDPOINT, proxy and certificates)", url, p->endpoint);
    if (strcmp(r.repo_commit, p->info.commit) != 0)
        return lm_fail(e, "%s: the hub answered for commit %s, not %s; pull again", a->path,
                       r.repo_commit, p->info.commit);
    normalize_etag(r.linked_etag[0] ? r.linked_etag : r.etag, m->etag, sizeof m->etag);
    if (!usable_etag(m->etag))
        return lm_fail(e, "%s: the hub sent no usable ETag for %s", p->o->repo, a->path);
    m->size = r.linked_size >= 0 ? r.linked_size : redirect ? -1 : r.content_length;
    if (m->size < 0)
        return lm_fail(e, "%s: the hub sent no size for %s", p->o->repo, a->path);
    snprintf(m->url, sizeof m->url, "%s", redirect && r.location[0] ? r.location : url);
    /* The API and the file's headers must tell the same story. */
    if (a->sha256[0] && strcmp(a->sha256, m->etag) != 0)
        return lm_fail(e, "%s: the hub's file list gives sha256 %s but the file's etag is %s; pull again",
                       a->path, a->sha256, m->etag);
    if (a->size >= 0 && a->size != m->size)
        return lm_fail(e, "%s: the hub's file list gives %lld bytes but the file's headers %lld; pull again",
                       a->path, a->size, m->size);
    return 0;
}

typedef struct fetch_ctx {
    lm_hub_digest *digest;
    lm_hub_progress progress;
} fetch_ctx;

static void on_restart(void *ctx)
{
    fetch_ctx *f = ctx;
    lm_hub_digest_reset(f->digest);
    f->progress.resumed_from = 0;
}

static void on_data(void *ctx, const void *d, size_t n)
{
    lm_hub_digest_update(((fetch_ctx *)ctx)->digest, d, n);
}

static void on_progress(void *ctx, long long done, long long total)
{
    lm_hub_progress_update(&((fetch_ctx *)ctx)->progress, done, total);
}

static void say_waiting(const char *what)
{
    fprintf(stderr, "lmcc: %s: another process is downloading it; waiting\n", what);
}

static int enough_space(const char *dir, long long need, const char *file, lm_err *e)
{
    struct statvfs vfs;
    if (need <= 0 || statvfs(dir, &vfs) != 0)
        return 0;
    long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
    if (avail >= need)
        return 0;
    char n[32], a[32];
    lm_hub_format_bytes(need, n, sizeof n);
    lm_hub_format_bytes(avail, a, sizeof a);
    return lm_fail(e, "%s: disk full: %s needs %s more and %s has %s free; free space and pull again",
                   file, file, n, dir, a);
}

/* The bytes of one file into blobs/<etag>, under its lock. */
static int fetch_blob(pull *p, const lm_hub_file *a, const file_meta *m, const char *blob, lm_err *e)
{
    char incomplete[4200], blobs_dir[4200];
    snprintf(incomplete, sizeof incomplete, "%s.incomplete", blob);
    snprintf(blobs_dir, sizeof blobs_dir, "%s/blobs", p->repo_dir);
    int fd = open(incomplete, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return lm_fail(e, "%s: cannot create: %s", incomplete, strerror(errno));
    struct stat st;
    fstat(fd, &st);
    if (st.st_size > m->size && ftruncate(fd, 0) != 0) {
        close(fd);
        return lm_fail(e, "%s: cannot truncate: %s", incomplete, strerror(errno));
    }
    long long have = st.st_size > m->size ? 0 : st.st_size;
    int lfs = is_hex(m->etag, 64);
    fetch_ctx f = { 0 };
    f.progress.style = p->style;
    int rc = -1;
    if (!(f.digest = lm_hub_digest_new(lfs ? LM_HUB_SHA256 : LM_HUB_GIT_SHA1, m->size, e)) ||
        lm_hub_digest_file(f.digest, fd, have, e) != 0 ||
        enough_space(blobs_dir, m->size - have, a->path, e) != 0)
        goto out;
    lm_hub_progress_begin(&f.progress, a->path, m->size, have);
    lm_hub_sink sink = { .fd = fd, .expected = m->size, .restart = on_restart, .data = on_data,
                         .progress = on_progress, .ctx = &f };
    lm_hub_response r;
    if (lm_hub_download(p->http, m->url, &sink, &r, e) != 0)
        goto out;
    if (r.status != 200 && r.status != 206) {
        status_error(p, a->path, &r, e);
        goto out;
    }
    fstat(fd, &st);
    if (st.st_size != m->size) {
        lm_fail(e, "%s: got %lld bytes of %lld; pull again to resume", a->path, (long long)st.st_size,
                m->size);
        goto out;
    }
    char hex[65];
    lm_hub_digest_hex(f.digest, hex);
    /* Only a git blob id (40 hex) or a sha256 (64 hex) can be checked. */
    if ((lfs || is_hex(m->etag, 40)) && strcasecmp(hex, m->etag) != 0) {
        unlink(incomplete);
        lm_fail(e, "%s: checksum mismatch: the hub announced %s %s, the bytes received hash to %s; "
                   "the download was removed, pull again",
                a->path, lfs ? "sha256" : "git sha1", m->etag, hex);
        goto out;
    }
    if (fsync(fd) != 0 || rename(incomplete, blob) != 0) {
        lm_fail(e, "%s: cannot move the download into place: %s", blob, strerror(errno));
        goto out;
    }
    lm_hub_progress_end(&f.progress, "downloaded");
    rc = 0;
out:
    if (rc != 0 && f.progress.style == LM_HUB_BAR && f.progress.file)
        fputc('\n', stderr);
    close(fd);
    lm_hub_digest_free(f.digest);
    return rc;
}

static int blob_ready(const char *blob, long long size)
{
    struct stat st;
    return stat(blob, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == size;
}

static int fetch_file(pull *p, const lm_hub_file *a, lm_err *e)
{
    char pointer[4200], blob[4600], lock[4600];
    snprintf(pointer, sizeof pointer, "%s/snapshots/%s/%s", p->repo_dir, p->info.commit, a->path);
    struct stat st;
    /* stat follows the link: the blob behind it is there. */
    if (stat(pointer, &st) == 0 && S_ISREG(st.st_mode)) {
        if (!p->o->brief)
            lm_hub_progress_note(p->style, a->path, st.st_size, "cached");
        return 0;
    }
    file_meta m;
    if (file_metadata(p, a, &m, e) != 0)
        return -1;
    snprintf(blob, sizeof blob, "%s/blobs/%s", p->repo_dir, m.etag);
    snprintf(lock, sizeof lock, "%s/%s.lock", p->locks_dir, m.etag);
    if (lm_mkdirs_parent(blob, e) != 0 || lm_mkdirs_parent(pointer, e) != 0)
        return -1;
    int cached = blob_ready(blob, m.size);
    if (!cached) {
        int fd = lm_lock(lock, say_waiting, a->path, e);
        if (fd < 0)
            return -1;
        cached = blob_ready(blob, m.size);
        int rc = cached ? 0 : fetch_blob(p, a, &m, blob, e);
        lm_unlock(fd);
        if (rc != 0)
            return -1;
    }
    if (cached && !p->o->brief)
        lm_hub_progress_note(p->style, a->path, m.size, "in the cache");
    char target[600];
    snprintf(target, sizeof target, "../../blobs/%s", m.etag);
    return lm_symlink_atomic(target, pointer, e);
}

/* ---- the whole pull --------------------------------------------------- */

static int setup(pull *p, const lm_hub_pull_opts *o, lm_err *e)
{
    p->o = o;
    p->style = lm_hub_progress_style_for(o->quiet);
    if (lm_hub_check_repo_id(o->repo, e) != 0 || lm_hub_check_revision(o->revision, e) != 0 ||
        lm_hub_cache_dir(p->cache, sizeof p->cache, e) != 0 ||
        lm_hub_repo_dir(p->cache, o->repo, p->repo_dir, sizeof p->repo_dir, e) != 0 ||
        lm_hub_locks_dir(p->cache, o->repo, p->locks_dir, sizeof p->locks_dir, e) != 0)
        return -1;
    if (!strchr(o->repo, '/'))
        return lm_fail(e, "'%s': give the repository as ORG/NAME (e.g. Qwen/Qwen3-0.6B)", o->repo);
    endpoint_of(p->endpoint, sizeof p->endpoint);
    return 0;
}

int lm_hub_pull(const lm_hub_pull_opts *o0, char *snapshot, size_t cap, lm_err *e)
{
    lm_hub_pull_opts o = *o0;
    if (!o.revision)
        o.revision = "main";
    pull *p = calloc(1, sizeof *p);
    if (!p)
        return lm_fail(e, "out of memory");
    int rc = -1;
    if (setup(p, &o, e) != 0)
        goto out;
    if (lm_hub_offline()) {
        rc = lm_hub_resolve_cached(o.repo, o.revision, snapshot, cap, e);
        if (rc != 0)
            lm_fail(e, "%s: not in the hub cache %s, and HF_HUB_OFFLINE=1 forbids downloading it; "
                       "pull it with HF_HUB_OFFLINE unset", o.repo, p->cache);
        goto out;
    }
    char *token = read_token();
    p->have_token = token != NULL;
    p->http = lm_hub_http_open(p->endpoint, token, o.user_agent, e);
    free(token);
    if (!p->http)
        goto out;
    int listed = list_files(p, e);
    if (listed != 0) {
        /* An unreachable hub: a snapshot already cached still serves, as in
         * huggingface_hub. An answer (404, 401, ...) does not fall back. */
        lm_err cached;
        if (listed == -2 && !lm_hub_interrupted &&
            lm_hub_resolve_cached(o.repo, o.revision, snapshot, cap, &cached) == 0) {
            fprintf(stderr, "lmcc: warning: %s; using the cached snapshot\n", e->msg);
            rc = 0;
        }
        goto out;
    }
    for (int i = 0; i < p->info.n_files; i++)
        if (fetch_file(p, &p->info.files[i], e) != 0)
            goto out;
    if (lm_hub_write_ref(p->repo_dir, o.revision, p->info.commit, e) != 0)
        goto out;
    if (snprintf(snapshot, cap, "%s/snapshots/%s", p->repo_dir, p->info.commit) >= (int)cap) {
        lm_fail(e, "%s: path too long", p->repo_dir);
        goto out;
    }
    rc = 0;
out:
    lm_hub_http_close(p->http);
    lm_hub_model_info_free(&p->info);
    free(p);
    return rc;
}
