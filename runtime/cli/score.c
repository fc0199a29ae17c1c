/* --perplexity FILE: the file tokenized as -f tokenizes a prompt (the
 * tokenizer's template, special tokens' text as those tokens), scored in
 * chunks of --chunk tokens (default: the model's context) by
 * lm_perplexity, and one JSON object on stdout. */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "../generate/perplexity.h"
#include "../text/tokenizer.h"
#include "internal.h"

int cli_run_perplexity(const lm_model_desc *d, const cli_options *o, lm_err *e)
{
    lm_bytes text = {0};
    lm_ids ids = {0};
    lm_tokenizer *tok = NULL;
    lm_session *s = NULL;
    int status = EXIT_RUNTIME;
    const int chunk = o->chunk ? o->chunk : d->context;
    if (chunk > d->context) {
        lm_fail(e, "--chunk %d: the model's context holds %d tokens; pass at most that", chunk,
                d->context);
        return EXIT_USAGE;
    }
    if (cli_read_file("--perplexity", o->perplexity_file, &text, e) != 0)
        goto done;
    if (!(tok = lm_tokenizer_load(o->tokenizer_path ? o->tokenizer_path : o->model_dir, e)))
        goto done;
    if (lm_tokenizer_encode_prompt(tok, text.v, text.n, 1, &ids, e) != 0)
        goto done;
    if (ids.n < 2) {
        lm_fail(e, "--perplexity: %s is %zu token%s; scoring needs at least 2", o->perplexity_file,
                ids.n, ids.n == 1 ? "" : "s");
        goto done;
    }
    if (!(s = cli_session_open(d, o, e)))
        goto done;
    lm_perplexity_result r;
    if (lm_perplexity(s, ids.v, (int64_t)ids.n, chunk, &r, e) != 0)
        goto done;
    json_t *obj = json_object();
    json_object_set_new(obj, "model", json_string(d->name ? d->name : ""));
    json_object_set_new(obj, "dtype", json_string(d->dtype_name ? d->dtype_name : ""));
    json_object_set_new(obj, "file", json_string(o->perplexity_file));
    json_object_set_new(obj, "bytes", json_integer((json_int_t)text.n));
    json_object_set_new(obj, "tokens", json_integer((json_int_t)ids.n));
    json_object_set_new(obj, "chunk", json_integer(chunk));
    json_object_set_new(obj, "chunks", json_integer(r.chunks));
    json_object_set_new(obj, "scored", json_integer(r.scored));
    json_object_set_new(obj, "nll", json_real(r.nll));
    json_object_set_new(obj, "perplexity", json_real(r.perplexity));
    json_object_set_new(obj, "seconds", json_real(r.seconds));
    json_object_set_new(obj, "tokens_per_second",
                        json_real(r.seconds > 0 ? (double)(r.scored + r.chunks) / r.seconds : 0.0));
    char *json = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(obj);
    if (!json) {
        lm_fail(e, "--perplexity: out of memory for the result");
        goto done;
    }
    status = printf("%s\n", json) > 0 && fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
    free(json);
    if (status)
        lm_fail(e, "--perplexity: cannot write the result to stdout");
done:
    lm_session_close(s);
    lm_tokenizer_free(tok);
    lm_ids_free(&ids);
    lm_bytes_free(&text);
    return status;
}
