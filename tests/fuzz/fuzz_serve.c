/* A serve without a model (fuzz_serve.h). */
#include "fuzz_serve.h"

#include "fuzz_files.h"

static lm_model_desc desc = {.name = "fuzz-model", .arch = "qwen3", .vocab_size = 1100,
                             .context = 512, .batch = 16};

void fuzz_serve_init(serve *sv, const lm_serve_opts *o)
{
    sv->tok = fuzz_tokenizer("tokenizer.json");
    sv->d = &desc;
    sv->o = o;
    sv->chat_format = LM_CHAT_QWEN3;
    sv->chat_format_known = 1;
    sv->defaults = lm_sampler_params_default();
    pthread_mutex_init(&sv->mu, NULL);
    pthread_mutex_init(&sv->tok_mu, NULL);
    pthread_cond_init(&sv->work, NULL);
    pthread_cond_init(&sv->progress, NULL);
}
