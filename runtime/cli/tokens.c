/* --tokens: raw ids in, one line of generated ids per sequence out; the
 * path the golden tests drive, so it never needs a tokenizer. */
#include <stdio.h>
#include <stdlib.h>

#include "internal.h"

static int collect_id(void *user, int32_t id, lm_err *e)
{
    return lm_ids_push(user, id, e);
}

static void print_ids(FILE *out, const int32_t *ids, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(out, i ? ",%d" : "%d", ids[i]);
    fprintf(out, "\n");
}

int cli_run_tokens(const lm_model_desc *d, const cli_options *o, const int32_t *prompt,
                   int n_prompt, lm_err *e)
{
    if (lm_check_tokens(d, prompt, n_prompt, 0, e) != 0)
        return EXIT_RUNTIME;
    if ((int64_t)n_prompt + o->max_tokens > d->context) {
        lm_fail(e, "-n: %d prompt tokens plus %d new tokens exceed the model's context of %d tokens; "
                   "lower -n or build the model with a larger --ctx",
                n_prompt, o->max_tokens, d->context);
        return EXIT_RUNTIME;
    }
    if (o->dump_dir && cli_make_dirs(o->dump_dir, e) != 0)
        return EXIT_RUNTIME;

    /* --tokens defaults to greedy with every filter off. */
    lm_sampler_params sp = lm_sampler_params_default();
    int failed;
    lm_sampler *sampler = cli_sampler_from_flags(o, &sp, d->vocab_size, &failed, e);
    if (failed)
        return EXIT_RUNTIME;

    int status = EXIT_RUNTIME;
    lm_ids generated = {0};
    lm_gen *g = NULL;
    lm_session *s = cli_session_open(d, o, e);
    if (!s)
        goto done;
    if (!(g = lm_gen_new(s, e)))
        goto done;
    prompt_run pr;
    if (cli_prompt_prefill(d, o, s, g, prompt, n_prompt, &pr, e) != 0)
        goto done;

    /* --tokens generates exactly -n ids: no stop ids. */
    lm_gen_opts go = {.max_new = o->max_tokens, .on_token = collect_id, .user = &generated};
    for (int seq = 0; seq < o->num_sequences; seq++) {
        lm_gen_result r;
        generated.n = 0;
        if (seq > 0 && lm_gen_prefill(g, prompt, n_prompt, NULL, e) < 0)
            goto done;
        if (lm_gen_run(g, sampler, &go, &r, e) != 0)
            goto done;
        cli_prompt_sampled(&pr, seq, &r);
        cli_sequence_separator(seq, o->num_sequences);
        print_ids(o->bench ? stderr : stdout, generated.v, (int)generated.n);
    }
    if (cli_prompt_report(d, o, s, &pr, e) != 0)
        goto done;
    status = 0;

done:
    lm_ids_free(&generated);
    lm_gen_free(g);
    lm_session_close(s);
    lm_sampler_free(sampler);
    return status;
}
