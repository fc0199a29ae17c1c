/* What a pull shows while it works: on a terminal one redrawn line per file
 * (name, bytes, rate, time left); otherwise one line per file when it is
 * done; nothing when quiet. Everything goes to stderr, so stdout stays the
 * command's answer (the snapshot path). */
#ifndef LMRT_HUB_PROGRESS_H
#define LMRT_HUB_PROGRESS_H

typedef enum lm_hub_progress_style { LM_HUB_QUIET, LM_HUB_LINES, LM_HUB_BAR } lm_hub_progress_style;

typedef struct lm_hub_progress {
    lm_hub_progress_style style;
    const char *file;
    long long total;        /* -1 when unknown */
    long long resumed_from; /* bytes already there when the file started */
    double t_start, t_last;
    long long done;
} lm_hub_progress;

/* LM_HUB_BAR when stderr is a terminal, else LM_HUB_LINES; quiet wins. */
lm_hub_progress_style lm_hub_progress_style_for(int quiet);

void lm_hub_progress_begin(lm_hub_progress *p, const char *file, long long total, long long resumed);
/* Redraws at most ten times a second. */
void lm_hub_progress_update(void *p, long long done, long long total);
/* what: "downloaded", "cached", ... */
void lm_hub_progress_end(lm_hub_progress *p, const char *what);
/* One line for a file that needed no transfer. */
void lm_hub_progress_note(lm_hub_progress_style style, const char *file, long long size, const char *what);

/* "1.5 GB": bytes in decimal units, as the hub's pages show sizes. */
void lm_hub_format_bytes(long long n, char *buf, int cap);

#endif
