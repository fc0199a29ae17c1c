/* Running the C compiler and archiver as child processes. */
#ifndef LMCC_SUBPROCESS_H
#define LMCC_SUBPROCESS_H

#include "../runtime/core/error.h"

/* Runs argv (searched in PATH) and waits; non-zero exit is an error that
 * names the program. With verbose, echoes the command line to stderr. */
int spawn_run(char *const argv[], int verbose, lm_err *e);

#endif
