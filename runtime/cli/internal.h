/* What the files of the executable's driver share (not installed, not part
 * of the C API; cli.h is):
 *   cli.c       options, their validation, dispatch to a mode (lm_main)
 *   sampling.c  the sampler the flags ask for
 *   help.c      --help and --version text
 *   tokens.c    --tokens: ids in, ids out
 *   text.c      -p/-f completion, --chat and --interactive REPLs
 *   score.c     --perplexity: a file's mean negative log-likelihood
 *   report.c    one prompt's diagnostics: --logits, --dump, timing, the
 *               --bench JSON object, --stats lines */
#ifndef LMRT_CLI_INTERNAL_H
#define LMRT_CLI_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "../core/error.h"
#include "../core/model.h"
#include "../generate/generate.h"
#include "../generate/sampler.h"
#include "../generate/session.h"
#include "../text/chat_template.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE 2
#define DEFAULT_MAX_TOKENS 16
#define DEFAULT_INTERACTIVE_TOKENS 128

typedef enum cli_mode { MODE_NONE, MODE_TOKENS, MODE_TEXT, MODE_CHAT, MODE_INTERACTIVE, MODE_PERPLEXITY, MODE_SERVE } cli_mode;

typedef struct cli_options {
    const char *model_dir;      /* the checkpoint directory (-m, resolved) */
    const char *model_arg;      /* -m as given */
    char model_snapshot[4096];  /* -m ORG/NAME: its snapshot in the hub cache */
    const char *tokens_text;
    const char *prompt_text;  /* -p */
    const char *prompt_file;  /* -f */
    const char *tokenizer_path;
    const char *perplexity_file; /* --perplexity FILE */
    int chunk;                   /* --chunk N; 0: the context */
    const char *serve_text;      /* --serve [HOST:]PORT */
    const char *api_key;         /* --api-key KEY */
    int queue;                   /* --queue N; -1: not given */
    int parallel;                /* --parallel N; 0: not given */
    double timeout_s;            /* --timeout S; 0: not given */
    const char *system_text;
    const char *chat_format_name; /* --chat-format NAME, NULL: as the checkpoint's files say */
    lm_chat_format chat_format;   /* NAME parsed, when given */
    int chat, interactive;
    int think;                /* -1: not given (on) */
    int stream;               /* -1: not given (on when stdout is a terminal) */
    int max_tokens;           /* -1: not given */
    int num_sequences;
    const char *logits_path;
    const char *dump_dir;
    int threads;              /* 0: every usable CPU */
    int bench;
    int stats;
    double bandwidth_gbs;     /* 0: not given */
    double fma_gflops;        /* peaks of the three matmul kernels (lmcc-limits) */
    double bf16_dot_gflops;
    double int8_dot_gops;
    double amx_gflops;
    double amx_int8_gops;
    /* Sampling flags; has_* says which were given. */
    int has_temperature, has_top_k, has_top_p, has_min_p, has_penalty, has_seed;
    double temperature, top_p, min_p, penalty;
    int top_k;
    uint64_t seed;
    cli_mode mode;
} cli_options;

/* ---- help.c -------------------------------------------------------------- */

void cli_print_usage(FILE *out, const char *prog, const lm_model_desc *d);
void cli_print_version(const char *prog, const lm_model_desc *d);

/* ---- sampling.c ---------------------------------------------------------- */

/* The sampler for *p (the mode's defaults) with the sampling flags applied
 * over it, or NULL with *e untouched when plain argmax decides (greedy and
 * no repetition penalty); *failed tells the two NULLs apart. */
lm_sampler *cli_sampler_from_flags(const cli_options *o, lm_sampler_params *p, int vocab,
                                   int *failed, lm_err *e);

/* ---- the modes: each returns the exit status, the message in e ------------ */

int cli_run_tokens(const lm_model_desc *d, const cli_options *o, const int32_t *prompt,
                   int n_prompt, lm_err *e);
int cli_run_text(const lm_model_desc *d, const cli_options *o, const char *prog, lm_err *e);
int cli_run_perplexity(const lm_model_desc *d, const cli_options *o, lm_err *e);
int cli_run_serve(const lm_model_desc *d, const cli_options *o, lm_err *e);

/* lm_session_open for the modes, with the load's note (what it left
 * unread, lm_session_skipped_note) on stderr. */
lm_session *cli_session_open(const lm_model_desc *d, const cli_options *o, lm_err *e);

/* The whole file at path into out, NUL-terminated (what: the option, for
 * messages). */
int cli_read_file(const char *what, const char *path, lm_bytes *out, lm_err *e);

/* ---- report.c: one prompt's diagnostics (--tokens, -p, -f) -------------- */

typedef struct run_timing {
    double load_s;
    int prefill_tokens;
    double prefill_s;
    double ttft_s;
    int decode_tokens;
    double decode_s;
} run_timing;

typedef struct logits_summary {
    int position;
    float min, max;
    double mean;
    int top_ids[5];
    float top_values[5];
    int top_n;
} logits_summary;

/* What one prompt's run measures: timing for --bench and --stats, and the
 * logits of its last position for --stats. */
typedef struct prompt_run {
    run_timing t;
    double start; /* lm_now_seconds() when the prefill began */
    logits_summary summary;
} prompt_run;

/* mkdir -p, for --dump before the checkpoint is opened. */
int cli_make_dirs(const char *dir, lm_err *e);

/* Prefills ids[0..n) with what the diagnostics ask for: every position's
 * logits written to --logits, the first forward's tensors to --dump, the
 * prefill timed. Returns 0 or -1 with e set. */
int cli_prompt_prefill(const lm_model_desc *d, const cli_options *o, lm_session *s, lm_gen *g,
                       const int32_t *ids, int n, prompt_run *pr, lm_err *e);

/* The stderr line before the 2nd and later of n samples. */
void cli_sequence_separator(int seq, int n);

/* Records the decode timing of sample seq (the first one counts). */
void cli_prompt_sampled(prompt_run *pr, int seq, const lm_gen_result *r);

/* After the samples: --bench's JSON on stdout, then --stats on stderr. */
int cli_prompt_report(const lm_model_desc *d, const cli_options *o, const lm_session *s,
                      const prompt_run *pr, lm_err *e);

#endif
