#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int lm_fail(lm_err *e, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void lm_print_error(const char *prog, const lm_err *e)
{
    /* Keep it one line even when a message quotes input with newlines. */
    char line[sizeof e->msg];
    size_t n = strnlen(e->msg, sizeof e->msg - 1);
    for (size_t i = 0; i < n; i++)
        line[i] = (e->msg[i] == '\n' || e->msg[i] == '\r') ? ' ' : e->msg[i];
    line[n] = '\0';
    fprintf(stderr, "%s: error: %s\n", prog, line);
}
