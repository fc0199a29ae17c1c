/* The digests the hub names files by: sha256 for LFS files (their etag and
 * the lfs.sha256 of the model API), git's blob sha1 for the others. Through
 * OpenSSL's EVP interface. */
#ifndef LMRT_HUB_DIGEST_H
#define LMRT_HUB_DIGEST_H

#include <stddef.h>

#include "../core/error.h"

typedef struct lm_hub_digest lm_hub_digest;

typedef enum lm_hub_digest_kind { LM_HUB_SHA256, LM_HUB_GIT_SHA1 } lm_hub_digest_kind;

/* A git blob's sha1 covers "blob <size>\0" first, so it needs the size. */
lm_hub_digest *lm_hub_digest_new(lm_hub_digest_kind kind, long long size, lm_err *e);
void lm_hub_digest_update(lm_hub_digest *d, const void *p, size_t n);
/* Starts over (a download that restarted from byte 0). */
void lm_hub_digest_reset(lm_hub_digest *d);
/* Lower-case hex into hex (65 bytes); frees nothing. */
void lm_hub_digest_hex(lm_hub_digest *d, char hex[65]);
void lm_hub_digest_free(lm_hub_digest *d);
/* Feeds the first n bytes of the open file fd. */
int lm_hub_digest_file(lm_hub_digest *d, int fd, long long n, lm_err *e);

#endif
