#include "hub_digest.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct lm_hub_digest {
    EVP_MD_CTX *ctx;
    lm_hub_digest_kind kind;
    long long size;
};

static void start(lm_hub_digest *d)
{
    EVP_DigestInit_ex(d->ctx, d->kind == LM_HUB_SHA256 ? EVP_sha256() : EVP_sha1(), NULL);
    if (d->kind == LM_HUB_GIT_SHA1) {
        char head[64];
        int n = snprintf(head, sizeof head, "blob %lld", d->size);
        EVP_DigestUpdate(d->ctx, head, (size_t)n + 1); /* with its NUL */
    }
}

lm_hub_digest *lm_hub_digest_new(lm_hub_digest_kind kind, long long size, lm_err *e)
{
    lm_hub_digest *d = calloc(1, sizeof *d);
    if (!d || !(d->ctx = EVP_MD_CTX_new())) {
        free(d);
        lm_fail(e, "out of memory");
        return NULL;
    }
    d->kind = kind;
    d->size = size;
    start(d);
    return d;
}

void lm_hub_digest_update(lm_hub_digest *d, const void *p, size_t n)
{
    EVP_DigestUpdate(d->ctx, p, n);
}

void lm_hub_digest_reset(lm_hub_digest *d)
{
    start(d);
}

void lm_hub_digest_hex(lm_hub_digest *d, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(d->ctx, md, &n);
    for (unsigned int i = 0; i < n && i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    hex[2 * (n < 32 ? n : 32)] = '\0';
}

void lm_hub_digest_free(lm_hub_digest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    free(d);
}

int lm_hub_digest_file(lm_hub_digest *d, int fd, long long n, lm_err *e)
{
    char buf[1 << 14];
    long long off = 0;
    while (off < n) {
        size_t want = n - off < (long long)sizeof buf ? (size_t)(n - off) : sizeof buf;
        ssize_t got = pread(fd, buf, want, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return lm_fail(e, "cannot read the partial download back: %s",
                           got < 0 ? strerror(errno) : "it is shorter than it was");
        EVP_DigestUpdate(d->ctx, buf, (size_t)got);
        off += got;
    }
    return 0;
}
