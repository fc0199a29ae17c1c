/* lmcc pull MODEL --size S [--variant V] | ORG/NAME  [--revision R] [--quiet]
 *
 * Downloads what lmcc needs of a hub repository into the Hugging Face cache
 * (runtime/hub/hub_pull.h) and prints the snapshot directory. */
#include <getopt.h>
#include <stdio.h>

#include "commands.h"
#include "../runtime/hub/hub_http.h"
#include "../runtime/hub/hub_pull.h"
#include "model_ref.h"

static const char PULL_USAGE[] =
    "usage: lmcc pull MODEL --size S [--variant V] [options]\n"
    "       lmcc pull ORG/NAME [options]\n"
    "Downloads a model's config, tokenizer and safetensors weights from the Hugging Face hub\n"
    "into the hub cache (shared with transformers and llama.cpp) and prints the snapshot\n"
    "directory. Files already in the cache are not fetched again; an interrupted pull resumes.\n"
    "  -s, --size S       model size, with MODEL (lmcc list)\n"
    "      --variant V    base, instruct, reasoning, ... (default: instruct where there is one)\n"
    "      --revision R   branch, tag or commit (default main)\n"
    "  -q, --quiet        no progress output\n"
    "  -h, --help         this text\n"
    "Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (gated and private\n"
    "repositories), HF_HUB_CACHE / HF_HOME (where the cache is), HF_HUB_OFFLINE=1 (cache only).\n";

int cmd_pull(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "size", required_argument, 0, 's' },     { "variant", required_argument, 0, 'V' },
        { "revision", required_argument, 0, 'r' }, { "quiet", no_argument, 0, 'q' },
        { "help", no_argument, 0, 'h' },           { 0, 0, 0, 0 },
    };
    const char *size = NULL, *variant = NULL, *revision = NULL;
    int quiet = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "s:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 's': size = optarg; break;
        case 'V': variant = optarg; break;
        case 'r': revision = optarg; break;
        case 'q': quiet = 1; break;
        case 'h': fputs(PULL_USAGE, stdout); return 0;
        default: return usage_error("pull", "unknown option or missing value", PULL_USAGE);
        }
    }
    if (optind != argc - 1)
        return usage_error("pull", "expected one MODEL or ORG/NAME", PULL_USAGE);
    lm_err e;
    model_ref ref;
    if (model_ref_resolve(argv[optind], size, variant, revision, &ref, &e) != 0)
        return report_error(&e);
    lm_hub_catch_interrupts();
    lm_hub_pull_opts o = { .repo = ref.repo, .revision = ref.revision, .quiet = quiet,
                           .user_agent = "lmcc/" LMCC_VERSION };
    char snapshot[4096];
    if (lm_hub_pull(&o, snapshot, sizeof snapshot, &e) != 0) {
        report_error(&e);
        if (lm_hub_interrupted) {
            fprintf(stderr, "lmcc: interrupted; run the same command again to resume\n");
            return 130;
        }
        return 1;
    }
    puts(snapshot);
    return 0;
}
