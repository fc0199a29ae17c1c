/* The lmcc subcommands; each returns the process exit status. */
#ifndef LMCC_COMMANDS_H
#define LMCC_COMMANDS_H

#include "../runtime/core/error.h"

int cmd_build(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_new_arch(int argc, char **argv);
int cmd_pull(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_rm(int argc, char **argv);
/* lmcc list --cached */
int list_cached(void);

/* Prints "lmcc: error: ..." and returns 1. */
int report_error(const lm_err *e);
/* Prints "lmcc <cmd>: <msg>" and the usage text on stderr; returns 2. */
int usage_error(const char *cmd, const char *msg, const char *usage);

#endif
