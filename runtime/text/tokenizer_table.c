/* The tokenizer's tables: token bytes by id, bytes -> id, merge pairs,
 * added tokens and the split regex. Filled by the format loaders. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_internal.h"

/* A fast non-cryptographic hash (multiply-xorshift over 8-byte words);
 * the keys are token strings we load ourselves, not attacker-chosen. */
uint64_t tok_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xFF51AFD7ED558CCDull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 32;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

int tok_alloc_ids(lm_tokenizer *t, int32_t n_ids, lm_err *e)
{
    if (n_ids <= 0 || n_ids > (1 << 24))
        return lm_fail(e, "tokenizer: %d token ids; expected 1 to %d", n_ids, 1 << 24);
    t->n_ids = n_ids;
    t->tok_off = calloc((size_t)n_ids, sizeof *t->tok_off);
    t->tok_len = malloc((size_t)n_ids * sizeof *t->tok_len);
    t->is_special = calloc((size_t)n_ids, 1);
    if (!t->tok_off || !t->tok_len || !t->is_special)
        return lm_fail(e, "tokenizer: out of memory for %d tokens", n_ids);
    for (int32_t i = 0; i < n_ids; i++)
        t->tok_len[i] = UINT32_MAX;
    return 0;
}

int tok_set_token(lm_tokenizer *t, int32_t id, const void *bytes, size_t len, lm_err *e)
{
    if (id < 0 || id >= t->n_ids)
        return lm_fail(e, "tokenizer: token id %d outside 0..%d", id, t->n_ids - 1);
    if (t->tok_len[id] != UINT32_MAX)
        return lm_fail(e, "tokenizer: token id %d is given twice; the file is corrupt", id);
    if (t->blob_len + len > UINT32_MAX - 1)
        return lm_fail(e, "tokenizer: token texts exceed 4 GiB");
    if (t->blob_len + len > t->blob_cap) {
        size_t cap = t->blob_cap ? t->blob_cap : 1 << 20;
        while (cap < t->blob_len + len)
            cap *= 2;
        char *b = realloc(t->blob, cap);
        if (!b)
            return lm_fail(e, "tokenizer: out of memory for token texts");
        t->blob = b;
        t->blob_cap = cap;
    }
    memcpy(t->blob + t->blob_len, bytes, len);
    t->tok_off[id] = (uint32_t)t->blob_len;
    t->tok_len[id] = (uint32_t)len;
    t->blob_len += len;
    return 0;
}

/* Call after the vocabulary's tokens are set and before the added ones. */
int tok_build_vocab_map(lm_tokenizer *t, lm_err *e)
{
    size_t cap = pow2_at_least((size_t)t->n_ids * 2);
    t->vocab.slot = malloc(cap * sizeof *t->vocab.slot);
    if (!t->vocab.slot)
        return lm_fail(e, "tokenizer: out of memory for the vocabulary map");
    memset(t->vocab.slot, 0xff, cap * sizeof *t->vocab.slot);
    t->vocab.mask = cap - 1;
    for (int32_t id = 0; id < t->n_ids; id++) {
        if (t->tok_len[id] == UINT32_MAX)
            continue;
        const char *k = t->blob + t->tok_off[id];
        size_t len = t->tok_len[id];
        size_t i = tok_hash(k, len) & t->vocab.mask;
        for (;; i = (i + 1) & t->vocab.mask) {
            int32_t o = t->vocab.slot[i];
            if (o < 0) {
                t->vocab.slot[i] = id;
                break;
            }
            if (t->tok_len[o] == len && memcmp(t->blob + t->tok_off[o], k, len) == 0)
                return lm_fail(e, "tokenizer: tokens %d and %d have the same text; the file is corrupt",
                               o, id);
        }
    }
    if (!t->byte_level)
        return 0; /* byte fallback's <0xNN> tokens are found by tok_find_byte_tokens */
    for (int b = 0; b < 256; b++) {
        unsigned char c = (unsigned char)b;
        t->byte_id[b] = tok_vocab_lookup(t, &c, 1);
        if (t->byte_id[b] < 0)
            return lm_fail(e, "tokenizer: no token for byte 0x%02x; a byte-level BPE vocabulary "
                              "needs all 256 bytes", b);
    }
    return 0;
}

int32_t tok_vocab_lookup(const lm_tokenizer *t, const void *bytes, size_t len)
{
    size_t i = tok_hash(bytes, len) & t->vocab.mask;
    for (;; i = (i + 1) & t->vocab.mask) {
        int32_t o = t->vocab.slot[i];
        if (o < 0)
            return -1;
        if (t->tok_len[o] == len && memcmp(t->blob + t->tok_off[o], bytes, len) == 0)
            return o;
    }
}

int tok_pair_map_init(tok_pair_map *m, size_t n, lm_err *e)
{
    size_t cap = pow2_at_least(n * 2);
    m->key = calloc(cap, sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->merged = malloc(cap * sizeof *m->merged);
    m->mask = cap - 1;
    if (!m->key || !m->rank || !m->merged)
        return lm_fail(e, "tokenizer: out of memory for %zu merges", n);
    return 0;
}

static size_t pair_slot(uint64_t k, size_t mask)
{
    k *= 0x9E3779B97F4A7C15ull;
    return (size_t)(k ^ (k >> 31)) & mask;
}

int tok_pair_insert(tok_pair_map *m, int32_t left, int32_t right, int32_t rank, int32_t merged)
{
    uint64_t k = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    for (size_t i = pair_slot(k, m->mask);; i = (i + 1) & m->mask) {
        if (m->key[i] == k) {
            m->rank[i] = rank;
            m->merged[i] = merged;
            return 0;
        }
        if (m->key[i] == 0) {
            m->key[i] = k;
            m->rank[i] = rank;
            m->merged[i] = merged;
            return 1;
        }
    }
}

int tok_pair_lookup(const tok_pair_map *m, int32_t left, int32_t right, int32_t *merged)
{
    uint64_t k = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) + 1;
    for (size_t i = pair_slot(k, m->mask);; i = (i + 1) & m->mask) {
        if (m->key[i] == k) {
            *merged = m->merged[i];
            return m->rank[i];
        }
        if (m->key[i] == 0)
            return -1;
    }
}

void tok_pair_map_free(tok_pair_map *m)
{
    free(m->key);
    free(m->rank);
    free(m->merged);
    memset(m, 0, sizeof *m);
}

int tok_add_added(lm_tokenizer *t, int32_t id, const char *text, size_t len, int special,
                  lm_err *e)
{
    if (len == 0)
        return lm_fail(e, "tokenizer: added token %d has empty content", id);
    if (id >= 0 && id < t->n_ids && t->tok_len[id] != UINT32_MAX) {
        /* Some files list a vocabulary token again as an added token. */
        if (t->tok_len[id] != len || memcmp(t->blob + t->tok_off[id], text, len) != 0)
            return lm_fail(e, "tokenizer: added token %d ('%.*s') has a different text in the "
                              "vocabulary; the file is corrupt", id, (int)len, text);
    } else if (tok_set_token(t, id, text, len, e) != 0) {
        return -1;
    }
    tok_added *a = realloc(t->added, (t->n_added + 1) * sizeof *a);
    if (!a)
        return lm_fail(e, "tokenizer: out of memory for added tokens");
    t->added = a;
    /* 2 marks "added, not special" so the vocabulary map skips it too. */
    t->is_special[id] = special ? 1 : 2;
    a[t->n_added++] = (tok_added){.id = id, .special = special, .len = len};
    return 0;
}

static int by_length_desc(const void *pa, const void *pb)
{
    const tok_added *a = pa, *b = pb;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int tok_finish_added(lm_tokenizer *t, lm_err *e)
{
    /* Texts point into the blob only now: it moves while tokens are added. */
    for (size_t i = 0; i < t->n_added; i++)
        t->added[i].text = t->blob + t->tok_off[t->added[i].id];
    if (t->n_added)
        qsort(t->added, t->n_added, sizeof *t->added, by_length_desc);
    memset(t->added_first, 0, sizeof t->added_first);
    for (size_t i = 0; i < t->n_added; i++)
        t->added_first[(unsigned char)t->added[i].text[0]] = 1;

    size_t cap = pow2_at_least(t->n_added * 2);
    t->added_map.slot = malloc(cap * sizeof *t->added_map.slot);
    t->added_lens = malloc((t->n_added + 1) * sizeof *t->added_lens);
    if (!t->added_map.slot || !t->added_lens)
        return lm_fail(e, "tokenizer: out of memory for %zu added tokens", t->n_added);
    memset(t->added_map.slot, 0xff, cap * sizeof *t->added_map.slot);
    t->added_map.mask = cap - 1;
    for (size_t k = 0; k < t->n_added; k++) {
        const tok_added *a = &t->added[k];
        size_t i = tok_hash(a->text, a->len) & t->added_map.mask;
        while (t->added_map.slot[i] >= 0) {
            const tok_added *o = &t->added[t->added_map.slot[i]];
            if (o->len == a->len && memcmp(o->text, a->text, a->len) == 0)
                return lm_fail(e, "tokenizer: added tokens %d and %d have the same text '%.*s'; the "
                                  "file is corrupt", o->id, a->id, (int)a->len, a->text);
            i = (i + 1) & t->added_map.mask;
        }
        t->added_map.slot[i] = (int32_t)k;
    }
    /* Distinct lengths per first byte, longest first (added is sorted so). */
    uint32_t n_lens = 0;
    for (int b = 0; b < 256; b++) {
        t->added_len_at[b] = n_lens;
        uint32_t last = 0;
        for (size_t k = 0; k < t->n_added; k++)
            if ((unsigned char)t->added[k].text[0] == b && t->added[k].len != last)
                t->added_lens[n_lens++] = last = (uint32_t)t->added[k].len;
    }
    t->added_len_at[256] = n_lens;
    return 0;
}

int32_t tok_added_lookup(const lm_tokenizer *t, const char *s, size_t n)
{
    if (!t->added_map.slot)
        return -1;
    for (size_t i = tok_hash(s, n) & t->added_map.mask;; i = (i + 1) & t->added_map.mask) {
        int32_t k = t->added_map.slot[i];
        if (k < 0)
            return -1;
        if (t->added[k].len == n && memcmp(t->added[k].text, s, n) == 0)
            return k;
    }
}

int tok_compile_split(lm_tokenizer *t, const char *pattern, const char *where, lm_err *e)
{
    int err;
    PCRE2_SIZE off;
    t->split = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                             &err, &off, NULL);
    if (!t->split) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        return lm_fail(e, "%s: split regex does not compile at offset %zu: %s; lmcc runs it with PCRE2",
                       where, (size_t)off, (const char *)msg);
    }
    t->match = pcre2_match_data_create_from_pattern(t->split, NULL);
    t->match_ctx = pcre2_match_context_create(NULL);
    if (!t->match || !t->match_ctx)
        return lm_fail(e, "%s: out of memory for the split regex", where);
    /* The JIT is several times faster; without it (unsupported CPU) the
     * interpreter gives the same matches. A large JIT stack keeps long
     * whitespace runs from failing with "JIT stack limit". */
    t->jit = pcre2_jit_compile(t->split, PCRE2_JIT_COMPLETE) == 0;
    if (t->jit) {
        t->jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, NULL);
        if (t->jit_stack)
            pcre2_jit_stack_assign(t->match_ctx, NULL, t->jit_stack);
    }
    return 0;
}

int tok_load_sequence(lm_tokenizer *t, json_t *stage, const char *key, tok_stage_loader load,
                      const char *path, lm_err *e)
{
    json_t *members = json_object_get(stage, key);
    if (!json_is_array(members))
        return lm_fail(e, "%s: a Sequence has no \"%s\" list", path, key);
    size_t i;
    json_t *m;
    json_array_foreach(members, i, m)
        if (load(t, m, path, e) != 0)
            return -1;
    return 0;
}
