/* Binding a checkpoint's tensors to a compiled model's weight slots.
 *
 * Each slot names its Hugging Face tensor; binding checks shape and dtype,
 * uses the mapped data in place when the compiled dtype matches the file's,
 * and converts (or quantizes) into owned memory otherwise. Every tensor of
 * the checkpoint must be used by some slot, or lie under one of the
 * model's skipped prefixes, and every slot must find its tensor: all
 * problems are reported in one message, not just the first. */
#ifndef LMRT_WEIGHTS_BIND_H
#define LMRT_WEIGHTS_BIND_H

#include "../core/error.h"
#include "../core/model.h"
#include "checkpoint.h"

typedef struct lm_weights {
    const void **ptr;   /* [n_weights] data of each slot, as desc->weights[i].dtype */
    void **owned;       /* [n_weights] data this binding converted (in arena), or NULL */
    void *arena;        /* one anonymous mapping holding every converted slot (the
                           weight cache's file mapped over part of it), or NULL */
    size_t arena_bytes;
    size_t arena_used;
    int n;
    int from_cache;     /* LM_CACHE_READ or _MAPPED: the quantized slots came from the
                           weight cache (weight_cache.h); 0 when converted */
    const void *cache_map; /* where the weight cache's file is mapped (LM_CACHE_MAPPED), or NULL */
    int skipped;        /* checkpoint tensors under desc->skipped_prefixes, left unread */
    size_t skipped_bytes;
} lm_weights;

int lm_bind_weights(const lm_model_desc *d, const lm_checkpoint *ck, lm_weights *out, lm_err *e);
void lm_weights_free(lm_weights *w);

/* Reads DIR/config.json and compares it with the compiled constants; the
 * message names every differing field. */
int lm_check_hf_config(const lm_model_desc *d, const char *dir, lm_err *e);

#endif
