/* The executable's --help and --version text. */
#include <stdio.h>

#include "internal.h"

void cli_print_usage(FILE *out, const char *prog, const lm_model_desc *d)
{
    fprintf(out,
            "Usage: %s -m CHECKPOINT_DIR (-p TEXT | -f FILE | --chat | --interactive | --tokens IDS)\n"
            "          [options]\n"
            "Runs %s (%s, %s weights, context %d tokens), compiled by lmcc.\n"
            "\n"
            "Input (one of):\n"
            "  -p, --prompt TEXT        complete TEXT; the generated text goes to stdout\n"
            "  -f, --file PATH          complete the exact bytes of PATH (no newline stripping)\n"
            "      --chat               chat: each line of stdin is a user turn, answered in the\n"
            "                           model's chat format (\"> \" is shown when stdin is a\n"
            "                           terminal; empty lines are skipped; end with EOF/Ctrl-D).\n"
            "                           With -p or -f, that text is the first user turn\n"
            "      --interactive        completion REPL: each line of stdin (without its newline)\n"
            "                           is appended to the text so far and the model continues\n"
            "                           it (an empty line just continues); -p/-f give the start\n"
            "      --tokens 1,2,3       prompt as comma-separated token ids; stdout is one line of\n"
            "                           generated ids per sequence, comma-separated\n"
            "\n"
            "Model and tokenizer:\n"
            "  -m, --model DIR          Hugging Face checkpoint directory (config.json, *.safetensors)\n"
            "      --tokenizer PATH     tokenizer.json, qwen.tiktoken or a directory holding one\n"
            "                           (default: the -m directory; not needed with --tokens)\n"
            "\n"
            "Chat:\n"
            "      --system TEXT        system message of the conversation\n"
            "      --think, --no-think  Qwen3 thinking on (default) or off, as its chat template\n"
            "                           renders enable_thinking; ignored by the other formats\n"
            "      --chat-format NAME   render the conversation as NAME (qwen3, qwen2.5, chatml,\n"
            "                           llama3, llama3.1, llama3.2). Default: the format the\n"
            "                           chat_template of the tokenizer's tokenizer_config.json\n"
            "                           asks for (without one: by the tokenizer's tokens)\n"
            "\n"
            "Generation:\n"
            "  -n, --max-tokens N       most new tokens per generation. Default: --tokens: %d\n"
            "                           (fewer if the context ends first; an explicit N that does\n"
            "                           not fit is an error); --interactive: %d per turn; -p, -f,\n"
            "                           --chat: until an end token or the context is full. 0 with\n"
            "                           --logits\n"
            "      --temperature T      0 is greedy; T > 0 samples\n"
            "      --top-k K            keep the K most likely tokens (0: off)\n"
            "      --top-p P            keep the smallest set of probability mass >= P (1: off)\n"
            "      --min-p P            keep tokens with probability >= P * the highest (0: off)\n"
            "      --repetition-penalty R  Hugging Face's repetition penalty (1: off)\n"
            "      --seed S             random seed, for reproducible samples (default: the clock)\n"
            "      --num-return-sequences N  N samples of the same prompt (-p, -f, --tokens); the\n"
            "                           prompt is processed once. Each ends with a newline on\n"
            "                           stdout; before the 2nd and later, stderr gets a line\n"
            "                           \"--- sequence I of N ---\"\n"
            "  Defaults: with --tokens greedy, every filter off; otherwise the checkpoint's\n"
            "  generation_config.json as Hugging Face reads it (do_sample, temperature, top_k,\n"
            "  top_p, min_p, repetition_penalty; top_k 50 and top_p 1.0 when do_sample is true\n"
            "  and they are absent), or greedy without one. Flags override. Generation stops at\n"
            "  the end-of-sequence ids of generation_config.json (else config.json) and the\n"
            "  tokenizer's <|im_end|> and <|endoftext|>, which are not printed (--tokens does not\n"
            "  stop early).\n"
            "      --stream, --no-stream  write text as it is generated (default when stdout is\n"
            "                           a terminal) or each generation when it is complete\n"
            "\n"
            "Context: a prompt longer than the context (%d tokens) is an error (exit 1). When a\n"
            "generation or a chat fills the context, it stops cleanly: what was generated is\n"
            "printed, stderr says \"context full\" (rebuild with a larger --ctx for more room),\n"
            "and the exit status is 0.\n"
            "\n"
            "Diagnostics:\n"
            "      --logits OUT.npy     write float32 [n_tokens, vocab] logits of every prompt\n"
            "                           position (--tokens, -p, -f)\n"
            "      --dump DIR           write each named intermediate tensor of the first forward\n"
            "                           call as DIR/<name>.npy (--tokens, -p, -f)\n"
            "  -t, --threads N          worker threads (default: every usable CPU)\n"
            "      --bench              print one JSON object of speed measurements on stdout\n"
            "                           (the generated ids or text then go to stderr)\n"
            "      --bandwidth-gbs X    memory bandwidth in GB/s, for --bench's decode_fraction\n"
            "      --fma-gflops Y       peak f32 multiply-add GFLOP/s, for --bench's prefill_fraction\n"
            "      --bf16-dot-gflops Y  the same for AVX-512 BF16 dot products and\n"
            "      --amx-gflops Y       for AMX tiles: a model built with --matmul-input bf16 is\n"
            "                           measured against the peak of the kernel it uses\n"
            "      --stats              print load time, tokens/s and a logits summary on stderr\n"
            "  -h, --help               show this help and exit\n"
            "      --version            show the model and lmcc version and exit\n"
            "\n"
            "Environment: LMCC_HUGE_PAGES=0 keeps the checkpoint's pages as the page cache has\n"
            "them. By default a checkpoint cached in 4 KiB pages is read once more onto 2 MiB\n"
            "pages, which decode reads faster (--stats shows how much is on them).\n"
            "\n"
            "Exit status: 0 success, 1 runtime error, 2 usage error.\n",
            prog, d->name ? d->name : "this model", d->arch ? d->arch : "?",
            d->dtype_name ? d->dtype_name : "?", d->context, DEFAULT_MAX_TOKENS,
            DEFAULT_INTERACTIVE_TOKENS, d->context);
}

void cli_print_version(const char *prog, const lm_model_desc *d)
{
    printf("%s: %s (arch %s, %s weights, context %d, batch %d), compiled from %s by lmcc %s\n",
           prog, d->name ? d->name : "?", d->arch ? d->arch : "?",
           d->dtype_name ? d->dtype_name : "?", d->context, d->batch,
           d->config_path ? d->config_path : "?", d->lmcc_version ? d->lmcc_version : "?");
}
