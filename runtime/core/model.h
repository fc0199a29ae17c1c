/* The contract between a generated model and the runtime.
 *
 * lmcc emits one C file per model that fills an lm_model_desc with constants
 * (dimensions, the weight table, the config.json fields to check, the arena
 * and KV-cache sizes) and a forward function. The runtime does everything that
 * does not depend on the model's shapes: mapping the checkpoint, binding
 * weights, the thread pool, the CLI driver. */
#ifndef LMRT_CORE_MODEL_H
#define LMRT_CORE_MODEL_H

#include <stddef.h>
#include <stdint.h>

typedef enum lm_dtype {
    LM_F32 = 0,
    LM_BF16 = 1,
    LM_F16 = 2,
    LM_Q8_0 = 3, /* blocks of 32 int8 with one f16 scale, as GGUF Q8_0 */
    LM_Q4_0 = 4, /* blocks of 32 4-bit values with one f16 scale, as GGUF Q4_0 */
    LM_Q4_K8 = 5, /* 4-bit values with a scale and a min per 32, in 8-bit steps of a
                   * per-256 f16 pair: k-quant-like (core/qlayout.h) */
} lm_dtype;

/* Q8_0 values, as GGUF's Q8_0: blocks of 32 weights along a row (cols % 32
 * == 0), each an f16 scale d and 32 int8 q; the weight is d * q.
 * Quantizing: d = max|x| / 127 over the block, q = round-half-away(x / d)
 * (q = 0 when d == 0). GGUF stores a block in 34 bytes; a bound slot
 * interleaves the blocks of 16 rows (core/qlayout.h). */
#define LM_Q8_BLOCK 32
#define LM_Q8_BLOCK_BYTES 34

/* Q4_0 values, as GGUF's Q4_0: blocks of 32 weights, each an f16 scale d and
 * 16 bytes whose low nibbles are elements 0..15 and high nibbles elements
 * 16..31, each q in [0, 15]; the weight is d * (q - 8). Quantizing, as
 * GGUF's reference does: m = the block's element of largest magnitude
 * (sign kept), d = m / -8, q = min(15, trunc(x / d + 8.5)) computed as
 * x * (1 / d) in f32 (q = 8 when d == 0). 18 bytes a block in GGUF; bound,
 * interleaved by 16 rows like Q8_0. */
#define LM_Q4_BLOCK 32
#define LM_Q4_BLOCK_BYTES 18

/* Q4_K8 values, lmcc's k-quant-like 4-bit type (GGUF's Q4_K idea with 8-bit
 * sub-scales, not its bit layout): along a row, super-blocks of 256 (the
 * last may be shorter) hold an f16 ds and dm; each of their 32-blocks an
 * 8-bit sc and mn and 32 nibbles q in [0, 15] (GGUF's Q4_0 nibble order);
 * the weight is ds * sc * q - dm * mn. 4.625 bits a weight (q4_0: 4.5).
 * Quantized per block by least squares over a few candidate steps, the
 * min clamped to at most 0 (bind.c). Before interleaving, a row's block
 * is 22 bytes: ds, dm (its super-block's), sc, mn, 16 bytes of nibbles. */
#define LM_Q4K8_SUPER 8
#define LM_Q4K8_BLOCK_BYTES 22

#define LM_MAX_DIMS 4

/* How a slot's data is derived from its checkpoint tensor. A plain slot binds
 * the whole tensor. A row slice binds rows [row_begin, row_begin + shape[0])
 * of a source tensor with src_rows rows: this is how a fused weight such as
 * Qwen1's c_attn is split into q, k and v, as the architecture script says.
 * A nonzero offset is added to every element, in f32, as the slot is bound:
 * Gemma's norms scale by (1 + w), and with 1 + w bound every kernel that
 * takes a norm weight serves them unchanged. Such a slot is always a copy. */
typedef struct lm_weight_desc {
    const char *hf_name;        /* tensor name in the checkpoint */
    lm_dtype dtype;             /* dtype the compiled code reads */
    int ndim;
    int64_t shape[LM_MAX_DIMS]; /* shape of the slot */
    int64_t src_rows;           /* rows of the source tensor; == shape[0] for a plain slot */
    int64_t row_begin;          /* first source row bound to this slot */
    float offset;               /* added to each element when bound; 0: none */
} lm_weight_desc;

typedef enum lm_config_kind {
    LM_CFG_INT,
    LM_CFG_FLOAT,
    LM_CFG_BOOL,
    LM_CFG_STRING,
    LM_CFG_INTS,
    LM_CFG_STRINGS,
} lm_config_kind;

/* One field of config.json that must equal the compiled constant. A field
 * absent from config.json is accepted when has_default says the Hugging Face
 * class would fill in the same value. LM_CFG_STRING compares text; with
 * text NULL the field must be absent or null (a model compiled without
 * rope_scaling refuses a checkpoint that has one). LM_CFG_INTS compares a
 * list of integers with text, the list written "0,3" ("" for an empty one,
 * which a null in config.json also matches, as transformers reads it);
 * LM_CFG_STRINGS a list of strings without commas (Gemma 3's layer_types),
 * written "a,b". */
typedef struct lm_config_check {
    const char *json_key;
    lm_config_kind kind;
    double value;
    int has_default;
    const char *text;
} lm_config_check;

struct lm_ctx;

/* One sequence's tokens in a forward call: the call's rows [row, row + n)
 * (row: the n of the spans before it) run at positions pos..pos+n-1 of
 * KV-cache slot `slot`, a region of desc->kv_floats floats of its own. */
typedef struct lm_span {
    int slot;
    int pos;
    int n;
    int seq_tokens; /* tokens the sequence started with (its first feed);
                       Qwen1's dynamic NTK depends on it */
} lm_span;

/* What one forward call runs: n tokens of n_spans sequences, span after
 * span. One sequence is one span; a server's decode step has one span per
 * active request, each a token long, and perhaps a prompt's chunk. */
typedef struct lm_batch {
    const int32_t *tokens; /* [n] */
    int n;                 /* 1 <= n <= desc->batch */
    const lm_span *spans;  /* [n_spans], distinct slots, each n >= 1 */
    int n_spans;
} lm_batch;

/* Called after each materialised op of a forward when --dump is on:
 * rows x cols float32 values named like "model.layers.0.self_attn.q_proj". */
typedef void (*lm_dump_fn)(void *user, const char *name, const float *data, int rows, int cols);

/* Runtime state handed to the generated forward. */
typedef struct lm_ctx {
    const void *const *w;   /* bound weight pointers, indexed by slot */
    float *arena;           /* activations: desc->arena_floats floats */
    float *scratch;         /* per-thread scratch: threads * desc->scratch_floats */
    float *kv;              /* KV cache: desc->kv_floats floats per slot, lazily backed */
    struct lm_pool *pool;
    int threads;
    lm_dump_fn dump;        /* NULL unless dumping */
    void *dump_user;
    uint64_t *expert_tokens; /* [moe_layers][moe_experts]: tokens routed to each
                                expert since the session opened, or NULL */
} lm_ctx;

typedef struct lm_model_desc {
    const char *name;          /* e.g. "qwen3-0.6b" */
    const char *arch;          /* e.g. "qwen3" */
    const char *lmcc_version;
    const char *config_path;   /* the YAML it was compiled from, for messages */
    const char *dtype_name;    /* compiled weight dtype, e.g. "bf16" */
    const char *matmul_input;  /* "f32", or "bf16": linears round their inputs to bf16 */
    const char *kv_dtype;      /* "f32", or "bf16": the KV cache holds bf16 keys and values */
    const char *matmul_kernel; /* what a batch's linears multiply with: "f32-fma",
                                * "avx512-bf16", "amx-bf16", "amx-bf16x2" (f32 inputs as
                                * two bf16 parts, two tile products each) or "amx-bf16x3"
                                * (q8_0 and f16 weights split in two parts too: three) */
    int vocab_size;
    int context;               /* KV-cache length in tokens */
    int batch;                 /* most tokens one forward call takes */
    int hidden;                /* width of the residual stream */
    int n_weights;
    const lm_weight_desc *weights;
    const char *hf_model_type; /* config.json's model_type, checked first (NULL: not checked) */
    int n_config_checks;
    const lm_config_check *config_checks;
    size_t arena_floats;
    size_t scratch_floats;     /* per thread */
    size_t kv_floats;
    int64_t params_per_token;  /* multiply-adds per token in linears (for benchmarks) */
    int64_t head_params;       /* of which the output head's: a forward call runs it for
                                * its last position only, unless all logits are asked for */
    int64_t weight_bytes_per_token;
    /* Mixture-of-experts layers and their experts (0 for a dense model):
     * the session counts the tokens routed to each (--bench's skew). */
    int moe_layers;
    int moe_experts;
    /* Dynamic NTK's seq_length (Qwen1), else 0. RoPE's base then depends on
     * each sequence's length, so keys cached for one sequence are not those
     * another would compute: a server must not reuse another request's
     * cached prefix. */
    int rope_ntk;
    /* The KV cache per slot (kv_floats) is every layer's: a layer without a
     * window holds kv_full_position_floats (summed over those layers) for
     * each of the context's positions; the sliding-window layers hold rings
     * of kv_window_floats in all, kv_window_position_floats per position
     * of their windows (runtime/kernels/kv_cache.h). window is the largest
     * window (0: none). A ring keeps the last rows it was written with, so
     * a sequence can go back by at most window_slack positions from the
     * furthest it reached and find its windows intact (-1: no rings). */
    size_t kv_full_position_floats;
    size_t kv_window_floats;
    size_t kv_window_position_floats;
    int window;
    int window_slack;
    /* Checkpoint tensors this model does not read, by name prefix, and
     * why: a multimodal checkpoint's image encoder beside the text model
     * the script compiles (Graph:skip_tensors). The binder leaves them
     * unread and counts them for a note; any other tensor no slot uses is
     * an error. */
    int n_skipped_prefixes;
    const char *const *skipped_prefixes;
    const char *skipped_why;
    /* Runs b's tokens, each span at its positions in its slot (pos + n <=
     * context), extending those slots' KV caches. Writes logits of every
     * row to logits[n][vocab] when all_logits, else of each span's last
     * row to logits[n_spans][vocab]. */
    void (*forward)(const lm_ctx *ctx, const lm_batch *b, float *logits, int all_logits);
} lm_model_desc;

#endif
