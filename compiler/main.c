/* lmcc: the ahead-of-time compiler for language models. */
#include <stdio.h>
#include <string.h>

#include "commands.h"

static const char USAGE[] =
    "usage: lmcc <command> [options]\n"
    "\n"
    "commands:\n"
    "  build CONFIG.yaml | MODEL --size S   compile a model into an executable and a library\n"
    "  synth CONFIG.yaml -o DIR             write a random checkpoint in Hugging Face layout\n"
    "  import config.json                   write a config YAML from a Hugging Face config.json\n"
    "  inspect DIR [--config C]             list a checkpoint's tensors; check them against a config\n"
    "  pull MODEL --size S | ORG/NAME       download a model into the Hugging Face cache\n"
    "  run MODEL --size S | ORG/NAME ...    pull, compile once, and run a model\n"
    "  list [--cached]                      model types, sizes, variants and repositories;\n"
    "                                       --cached: the models downloaded and built\n"
    "  rm ORG/NAME | MODEL --size S         remove a model from the caches\n"
    "  tokenize PATH TEXT | -f FILE         print the token ids of a text\n"
    "  detokenize PATH 1,2,3                print the text of token ids\n"
    "  new-arch NAME [--from ARCH]          scaffold a new architecture in the lmcc tree\n"
    "  help                                 this text\n"
    "  version                              print the lmcc version\n"
    "\n"
    "Run 'lmcc <command> --help' for a command's options.\n";

/* Subcommands by name. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} COMMANDS[] = {
    { "build", cmd_build },       { "synth", cmd_synth },       { "import", cmd_import },
    { "inspect", cmd_inspect },   { "list", cmd_list },         { "tokenize", cmd_tokenize },
    { "detokenize", cmd_detokenize }, { "new-arch", cmd_new_arch },
    { "pull", cmd_pull },         { "run", cmd_run },           { "rm", cmd_rm },
};

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++)
        if (strcmp(cmd, COMMANDS[i].name) == 0)
            return COMMANDS[i].run(argc - 1, argv + 1);
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("lmcc %s\n", LMCC_VERSION);
        return 0;
    }
    fprintf(stderr, "lmcc: error: unknown command '%s'; see 'lmcc help'\n", cmd);
    return 2;
}
