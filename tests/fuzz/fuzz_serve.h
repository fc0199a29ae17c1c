/* What the two server targets share: a serve that answers requests
 * without a model. It has the small tokenizer.json, a model description
 * (the fields api.c reads) and Qwen3's chat format, but no session and no
 * engine, so nothing can generate. */
#ifndef LMCC_FUZZ_SERVE_H
#define LMCC_FUZZ_SERVE_H

#include "serve/serve_internal.h"

/* Fills sv for options o (which stay the caller's, to change per input). */
void fuzz_serve_init(serve *sv, const lm_serve_opts *o);

#endif
