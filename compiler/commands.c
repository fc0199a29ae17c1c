/* How every subcommand reports a failure. Apart from main.c, which calls
 * the subcommands, so that they do not call back into it. */
#include "commands.h"

#include <stdio.h>

int report_error(const lm_err *e)
{
    lm_print_error("lmcc", e);
    return 1;
}

int usage_error(const char *cmd, const char *msg, const char *usage)
{
    if (msg)
        fprintf(stderr, "lmcc: error: %s: %s; see 'lmcc %s --help'\n", cmd, msg, cmd);
    else
        fprintf(stderr, "lmcc: error: %s: bad arguments; see 'lmcc %s --help'\n", cmd, cmd);
    (void)usage;
    return 2;
}
