/* The sampler the sampling flags ask for. Apart from the options (cli.c)
 * because the modes (tokens.c, text.c) call it while cli.c calls them. */
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/* Explicit flags over the defaults in *p; a seed from the clock when none
 * is given, so unseeded samples differ between runs as in Hugging Face. */
lm_sampler *cli_sampler_from_flags(const cli_options *o, lm_sampler_params *p, int vocab,
                                   int *failed, lm_err *e)
{
    if (o->has_temperature)
        p->temperature = (float)o->temperature;
    if (o->has_top_k)
        p->top_k = o->top_k;
    if (o->has_top_p)
        p->top_p = (float)o->top_p;
    if (o->has_min_p)
        p->min_p = (float)o->min_p;
    if (o->has_penalty)
        p->repetition_penalty = (float)o->penalty;
    if (o->has_seed) {
        p->seed = o->seed;
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        p->seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
                  ((uint64_t)getpid() << 32);
    }
    *failed = 0;
    if (p->temperature == 0 && p->repetition_penalty == 1.0f)
        return NULL;
    lm_sampler *s = lm_sampler_new(p, vocab, e);
    *failed = !s;
    return s;
}
