/* The quantized weights of a model kept on disk, so that quantizing is paid
 * once per checkpoint and not at every load (an 8B model to q4_0 takes
 * seconds; reading its 4.5 GB back, a fraction of that).
 *
 * One file per model and checkpoint: $LMCC_WEIGHT_CACHE, else
 * $LMCC_CACHE/weights, else $XDG_CACHE_HOME/lmcc/weights, else
 * ~/.cache/lmcc/weights; LMCC_WEIGHT_CACHE=0 turns it off. The file holds
 * an identity text (the model's slots: names, dtypes, shapes, rows; the
 * checkpoint's files: device, inode, size, modification time) and, from
 * the next 2 MiB offset, the converted arena as bind.c lays it out. A file whose identity differs, or
 * that is short, is not used; it is rewritten (atomically) after the next
 * conversion. */
#ifndef LMRT_WEIGHTS_WEIGHT_CACHE_H
#define LMRT_WEIGHTS_WEIGHT_CACHE_H

#include <stddef.h>

#include "../core/model.h"
#include "checkpoint.h"

typedef struct lm_weight_cache {
    char path[4096];   /* "" when the cache is off or has no place */
    char *identity;    /* what the file must say it holds */
    size_t identity_len;
} lm_weight_cache;

/* Where the cache of model d on checkpoint ck lives, and its identity. */
void lm_weight_cache_open(lm_weight_cache *c, const lm_model_desc *d, const lm_checkpoint *ck);
void lm_weight_cache_close(lm_weight_cache *c);

/* What lm_weight_cache_load did. */
enum {
    LM_CACHE_BROKEN = -1, /* dst could not be mapped again: out of memory */
    LM_CACHE_MISS = 0,    /* no matching file; dst is as it was */
    LM_CACHE_READ = 1,    /* read into dst */
    LM_CACHE_MAPPED = 2,  /* the file mapped over dst, read-only */
};

/* Puts the cached arena (bytes long) at dst, which must lie on a 2 MiB
 * boundary inside a private anonymous mapping that runs at least to the
 * page after dst + bytes. Where the kernel keeps file pages on 2 MiB pages
 * (hugemap.h) the file is mapped over dst in place: no copy, later loads
 * take milliseconds, and the page cache's copy is the only one. Elsewhere,
 * or with LMCC_HUGE_PAGES=0, it is read into dst. Either way dst is never
 * written again: a mapped arena is read-only. */
int lm_weight_cache_load(const lm_weight_cache *c, void *dst, size_t bytes);
/* Writes the arena; failures leave no file and are not errors. */
void lm_weight_cache_write(const lm_weight_cache *c, const void *src, size_t bytes);

#endif
