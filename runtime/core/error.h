/* One clear error message, carried up to the one place that prints it.
 *
 * Functions that can fail take an lm_err * and return -1 (or NULL) after
 * writing "<where>: <what>; <what to do>" into it. The program adds its own
 * name and "error:" when it prints, so messages read
 *   lmcc: error: model.safetensors: header length 9999999 exceeds file size 12; re-download the file */
#ifndef LMRT_CORE_ERROR_H
#define LMRT_CORE_ERROR_H

#include <stddef.h>

typedef struct lm_err {
    char msg[2048];
} lm_err;

/* Formats the message into e (when e is not NULL) and returns -1. */
int lm_fail(lm_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "<prog>: error: <msg>" as one line on stderr. */
void lm_print_error(const char *prog, const lm_err *e);

#endif
