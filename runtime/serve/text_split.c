/* Stop strings and Qwen3's reasoning, found in generated text (text_split.h). */
#include "text_split.h"

#include <string.h>

size_t lm_stop_find(const char *text, size_t n, const char *const *stops, int n_stops)
{
    size_t best = n;
    for (int i = 0; i < n_stops; i++) {
        size_t len = strlen(stops[i]);
        if (len == 0 || len > n)
            continue;
        const char *hit = memmem(text, n, stops[i], len);
        if (hit && (size_t)(hit - text) < best)
            best = (size_t)(hit - text);
    }
    return best;
}

/* The longest tail of text[0..n) that is a proper prefix of word. */
static size_t partial_tail(const char *text, size_t n, const char *word)
{
    size_t len = strlen(word);
    for (size_t k = len > 1 ? len - 1 : 0; k > 0; k--)
        if (k <= n && memcmp(text + n - k, word, k) == 0)
            return k;
    return 0;
}

size_t lm_stop_safe(const char *text, size_t n, const char *const *stops, int n_stops)
{
    size_t hold = 0;
    for (int i = 0; i < n_stops; i++) {
        size_t k = partial_tail(text, n, stops[i]);
        if (k > hold)
            hold = k;
    }
    return n - hold;
}

static int is_space(char c)
{
    return c == ' ' || c == '\n' || c == '\t' || c == '\r';
}

static size_t skip_space(const char *text, size_t i, size_t n)
{
    while (i < n && is_space(text[i]))
        i++;
    return i;
}

void lm_reasoning_split(const char *text, size_t n, int final, size_t *r0, size_t *r1, size_t *c0,
                        size_t *c1)
{
    static const char open[] = "<think>", close[] = "</think>";
    const size_t open_len = sizeof open - 1, close_len = sizeof close - 1;
    size_t start = skip_space(text, 0, n);
    size_t rest = n - start;
    *r0 = *r1 = start;
    *c0 = start;
    *c1 = n;
    if (rest < open_len && memcmp(text + start, open, rest) == 0 && !final) {
        *c1 = start; /* "<thi": not known yet */
        return;
    }
    if (rest < open_len || memcmp(text + start, open, open_len) != 0) {
        if (!final)
            *c1 = n; /* plain content: nothing to hold */
        return;
    }
    size_t body = skip_space(text, start + open_len, n);
    const char *end = memmem(text + body, n - body, close, close_len);
    if (!end) {
        /* Still thinking: all reasoning, less a tail that may be "</think". */
        *r0 = body;
        *r1 = final ? n : n - partial_tail(text + body, n - body, close);
        if (final)
            while (*r1 > *r0 && is_space(text[*r1 - 1]))
                (*r1)--;
        *c0 = *c1 = n;
        return;
    }
    *r0 = body;
    *r1 = (size_t)(end - text);
    if (final)
        while (*r1 > *r0 && is_space(text[*r1 - 1]))
            (*r1)--;
    *c0 = skip_space(text, (size_t)(end - text) + close_len, n);
    *c1 = n;
}
