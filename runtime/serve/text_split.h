/* What a server answers with, cut out of the text a model generates:
 *
 *   stop strings  OpenAI's "stop": the text ends before the first
 *                 occurrence of any of them, wherever the token boundaries
 *                 fall; while streaming, the tail that could still grow into
 *                 one is held back;
 *   reasoning     Qwen3's thinking: text between a leading "<think>" and
 *                 "</think>" is reasoning_content, the rest content (as
 *                 vLLM's and llama-server's Qwen3 parsers split it).
 *
 * Both work on the whole text generated so far (they are called after each
 * token), so they need no state of their own and hold for any split of the
 * text into pieces. */
#ifndef LMRT_SERVE_TEXT_SPLIT_H
#define LMRT_SERVE_TEXT_SPLIT_H

#include <stddef.h>

/* The offset of the first occurrence of any stop in text[0..n), or n when
 * none occurs. */
size_t lm_stop_find(const char *text, size_t n, const char *const *stops, int n_stops);

/* How much of text[0..n) (which holds no stop) can be sent now: n less the
 * longest tail that is a proper prefix of some stop. */
size_t lm_stop_safe(const char *text, size_t n, const char *const *stops, int n_stops);

/* Where reasoning and content lie in text[0..n): reasoning is
 * [*r0, *r1), content [*c0, *c1). Text that does not start with "<think>"
 * (after whitespace) is all content. Leading whitespace of each part is
 * dropped. When final is 0 the text may still grow: a tail that could be
 * the start of "<think>" or "</think>" is left out of both parts. When
 * final is 1, trailing whitespace of the reasoning is dropped too, and an
 * unclosed "<think>" makes everything after it reasoning. */
void lm_reasoning_split(const char *text, size_t n, int final, size_t *r0, size_t *r1, size_t *c0,
                        size_t *c1);

#endif
