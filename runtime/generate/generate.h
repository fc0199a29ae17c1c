/* The generation loop: prompt ids -> KV cache -> sample -> stop -> output.
 *
 *   lm_gen *g = lm_gen_new(session, &err);
 *   lm_gen_prefill(g, prompt, n, NULL, &err);   // feeds only what is not cached
 *   lm_gen_opts o = {.max_new = 64, .stop = stops, .n_stop = n_stops,
 *                    .on_token = print_token, .user = out};
 *   lm_gen_result r;
 *   lm_gen_run(g, sampler, &o, &r, &err);
 *
 * A generator remembers the ids currently in the session's KV cache. A new
 * prompt (the next chat turn rendered in full, or the same prompt again for
 * another sample) is compared with them: the cache is rewound to the longest
 * common prefix and only the rest is fed. The logits at the end of the last
 * prefill are kept, so sampling the same prompt again feeds nothing.
 *
 * Also here: the checkpoint's generation defaults (generation_config.json)
 * and stop ids, and lm_text_out, which turns generated ids into text for a
 * FILE, streamed piece by piece or written at the end. */
#ifndef LMRT_GENERATE_GENERATE_H
#define LMRT_GENERATE_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "../text/tokenizer.h"
#include "sampler.h"
#include "session.h"

/* ---- checkpoint defaults ---------------------------------------------- */

/* Sampling settings as Hugging Face generate() takes them from
 * DIR/generation_config.json: do_sample false (or absent) -> greedy;
 * do_sample true -> temperature (default 1.0), top_k (default 50), top_p
 * (default 1.0), min_p (default off). repetition_penalty applies in both
 * cases. Without the file, *p is greedy with every filter off and *found is
 * 0. A file that is not valid JSON or has a value of the wrong type is an
 * error. */
int lm_gen_config_load(const char *dir, lm_sampler_params *p, int *found, lm_err *e);

/* Appends the end-of-sequence ids: generation_config.json's "eos_token_id"
 * (an int or a list) when present, else config.json's. */
int lm_gen_eos_ids(const char *dir, lm_ids *stop, lm_err *e);

/* Appends the tokenizer's <|im_end|>, <|endoftext|> and <end_of_turn> when it has them and
 * they are not in stop yet. */
int lm_gen_tokenizer_stops(const lm_tokenizer *t, lm_ids *stop, lm_err *e);

/* Both: what text generation from the checkpoint in dir stops at. */
int lm_gen_text_stops(const char *dir, const lm_tokenizer *t, lm_ids *stop, lm_err *e);

/* ---- the loop --------------------------------------------------------- */

typedef struct lm_gen lm_gen;

lm_gen *lm_gen_new(lm_session *s, lm_err *e);
void lm_gen_free(lm_gen *g);

/* Makes the KV cache hold exactly ids[0..n) and the logits of its last
 * position current, feeding only the ids after the longest prefix shared
 * with what is cached. all_logits, when not NULL, receives [n][vocab] logits
 * of every position, so everything is fed. Returns the number of ids fed,
 * or -1 before anything changes: n == 0, n larger than the context
 * ("prompt: N tokens exceed the model's context ..."), or an id outside the
 * model's vocabulary. */
int lm_gen_prefill(lm_gen *g, const int32_t *ids, int n, float *all_logits, lm_err *e);

/* The ids in the KV cache, in order. */
const int32_t *lm_gen_cached(const lm_gen *g, int *n);

/* Called with each generated id (stop ids excluded); returns 0, or -1 with
 * e set to end the generation with that error. */
typedef int (*lm_gen_token_fn)(void *user, int32_t id, lm_err *e);

typedef struct lm_gen_opts {
    int max_new;           /* most ids to generate; < 0: no limit */
    const int32_t *stop;   /* ids that end the generation; not passed on */
    int n_stop;
    lm_gen_token_fn on_token; /* may be NULL */
    void *user;
} lm_gen_opts;

typedef enum lm_gen_end {
    LM_GEN_LENGTH,       /* max_new ids generated */
    LM_GEN_STOP,         /* a stop id was sampled */
    LM_GEN_CONTEXT_FULL, /* the cache is full: no room to feed the last id */
} lm_gen_end;

typedef struct lm_gen_result {
    lm_gen_end end;
    int32_t stop_id;     /* the stop id sampled, when end == LM_GEN_STOP; else -1 */
    int n_new;           /* ids passed to on_token */
    int fed;             /* of those, fed back into the model */
    double first_token_at; /* lm_now_seconds() when the first id was sampled; 0: none */
    double end_at;       /* lm_now_seconds() at the end */
} lm_gen_result;

/* Generates from the current logits (after lm_gen_prefill) until max_new,
 * a stop id or a full context. Each id is chosen by sampler, or by
 * lm_argmax when sampler is NULL; the repetition penalty sees every cached
 * id. The last id is never fed: nothing reads its logits. */
int lm_gen_run(lm_gen *g, lm_sampler *sampler, const lm_gen_opts *o, lm_gen_result *r, lm_err *e);

/* ---- text output ------------------------------------------------------ */

/* Generated ids -> text. When stream is set, each complete UTF-8 piece is
 * written to f and flushed as soon as it exists; otherwise the text is
 * written by lm_text_out_finish. text holds everything since the last
 * lm_text_out_begin (NUL-terminated). */
typedef struct lm_text_out {
    FILE *f;
    int stream;
    lm_detok_stream detok;
    lm_bytes text;
} lm_text_out;

void lm_text_out_init(lm_text_out *t, const lm_tokenizer *tok, FILE *f, int stream);
void lm_text_out_begin(lm_text_out *t);
/* An lm_gen_token_fn: user is the lm_text_out. */
int lm_text_out_token(void *user, int32_t id, lm_err *e);
/* Flushes held bytes and writes what has not been written yet. */
int lm_text_out_finish(lm_text_out *t, lm_err *e);
void lm_text_out_free(lm_text_out *t);

#endif
