/* BPE over one piece: start from one symbol per byte (byte-level files,
 * tiktoken) or per character with byte fallback (tokenizer_fallback.c) and
 * repeatedly merge the adjacent pair of lowest rank, leftmost first on ties.
 *
 * The rank of a pair is its merge's index in tokenizer.json, or for tiktoken
 * the rank (= id) of the two symbols' concatenated bytes. Both rules pick the
 * same pair as Hugging Face's and tiktoken's loops; a binary heap of
 * candidate pairs makes a piece O(n log n) instead of O(n^2), which matters
 * for long pieces (whitespace runs, base64, digits-free scripts). Heap
 * entries go stale when a neighbour merges; they remember the two symbols'
 * lengths and are dropped when popped if either changed. */
#include <stdlib.h>

#include "tokenizer_internal.h"

static int candidate_before(const tok_candidate *a, const tok_candidate *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->left < b->left;
}

static void heap_push(tok_candidate *h, size_t *n, tok_candidate c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!candidate_before(&c, &h[parent]))
            break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = c;
}

static tok_candidate heap_pop(tok_candidate *h, size_t *n)
{
    tok_candidate top = h[0];
    tok_candidate last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && candidate_before(&h[c + 1], &h[c]))
            c++;
        if (!candidate_before(&h[c], &last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = last;
    return top;
}

/* Rank of merging symbols l and r (and the id it makes), or -1. */
static int32_t pair_rank(const lm_tokenizer *t, const unsigned char *p, const tok_symbol *l,
                         const tok_symbol *r, int32_t *merged)
{
    if (t->format == LM_TOKENIZER_HF_BPE)
        return tok_pair_lookup(&t->merges, l->id, r->id, merged);
    int32_t id = tok_vocab_lookup(t, p + l->start, (size_t)(l->len + r->len));
    *merged = id;
    return id;
}

static void push_pair(const lm_tokenizer *t, const unsigned char *p, tok_symbol *sym,
                      tok_candidate *heap, size_t *n_heap, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return;
    int32_t merged;
    int32_t rank = pair_rank(t, p, &sym[l], &sym[r], &merged);
    if (rank < 0)
        return;
    heap_push(heap, n_heap, (tok_candidate){rank, l, r, merged, sym[l].len, sym[r].len});
}

static int reserve_scratch(lm_tokenizer *t, size_t n, lm_err *e)
{
    if (n > t->sym_cap) {
        size_t cap = n < 64 ? 64 : n;
        tok_symbol *s = realloc(t->sym, cap * sizeof *s);
        if (!s)
            return lm_fail(e, "tokenizer: out of memory for a %zu-byte piece", n);
        t->sym = s;
        t->sym_cap = cap;
    }
    if (3 * n > t->heap_cap) {
        size_t cap = 3 * n < 192 ? 192 : 3 * n;
        tok_candidate *h = realloc(t->heap, cap * sizeof *h);
        if (!h)
            return lm_fail(e, "tokenizer: out of memory for a %zu-byte piece", n);
        t->heap = h;
        t->heap_cap = cap;
    }
    return 0;
}

int tok_bpe_piece(lm_tokenizer *t, const unsigned char *p, size_t n, lm_ids *out, lm_err *e)
{
    if (n == 0)
        return 0;
    if (t->whole_piece_first) {
        int32_t id = tok_vocab_lookup(t, p, n);
        if (id >= 0)
            return lm_ids_push(out, id, e);
    }
    if (n == 1 && t->byte_level)
        return lm_ids_push(out, t->byte_id[p[0]], e);
    if (n > INT32_MAX / 4)
        return lm_fail(e, "tokenizer: a %zu-byte piece is too long", n);
    if (reserve_scratch(t, n, e) != 0)
        return -1;
    tok_symbol *sym = t->sym;
    size_t n_sym = n; /* a character-level piece has at most one symbol per byte */
    if (t->byte_level)
        for (size_t i = 0; i < n; i++)
            sym[i] = (tok_symbol){(int32_t)i, 1, t->byte_id[p[i]], (int32_t)i - 1,
                                  i + 1 < n ? (int32_t)i + 1 : -1};
    else
        n_sym = tok_char_symbols(t, p, n, sym);
    size_t n_heap = 0;
    for (size_t i = 0; i + 1 < n_sym; i++)
        push_pair(t, p, sym, t->heap, &n_heap, (int32_t)i, (int32_t)i + 1);

    while (n_heap > 0) {
        tok_candidate c = heap_pop(t->heap, &n_heap);
        tok_symbol *l = &sym[c.left], *r = &sym[c.right];
        if (l->len != c.left_len || l->next != c.right || r->len != c.right_len)
            continue; /* stale: a neighbour merged since this was pushed */
        l->len += r->len;
        l->id = c.merged;
        l->next = r->next;
        if (r->next >= 0)
            sym[r->next].prev = c.left;
        r->len = 0;
        push_pair(t, p, sym, t->heap, &n_heap, l->prev, c.left);
        push_pair(t, p, sym, t->heap, &n_heap, c.left, l->next);
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next)
        if (lm_ids_push(out, sym[i].id, e) != 0)
            return -1;
    return 0;
}
