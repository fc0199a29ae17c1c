/* The generated executable's command line: its main() is just
 *
 *   int main(int argc, char **argv) { return lm_main(&model, argc, argv); }
 *
 * Exit status: 0 on success, 1 for runtime errors (bad checkpoint, token id
 * outside the vocabulary, prompt longer than the context), 2 for usage errors
 * (unknown option, malformed value, missing -m or prompt). */
#ifndef LMRT_CLI_CLI_H
#define LMRT_CLI_CLI_H

#include <stdint.h>

#include "../core/error.h"
#include "../core/model.h"

int lm_main(const lm_model_desc *d, int argc, char **argv);

/* Parses "1,2,3" strictly: every item a non-negative decimal integer that
 * fits in int32, no empty items, no spaces or signs. Returns a malloc'd
 * array and its length in *n, or NULL with the bad item named in e, after
 * what (where the list came from: "--tokens", "ids.txt:3"). */
int32_t *lm_parse_token_list(const char *what, const char *text, int *n, lm_err *e);

#endif
