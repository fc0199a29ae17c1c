#include "hub_progress.h"
#include "../core/clock.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

lm_hub_progress_style lm_hub_progress_style_for(int quiet)
{
    return quiet ? LM_HUB_QUIET : isatty(fileno(stderr)) ? LM_HUB_BAR : LM_HUB_LINES;
}

void lm_hub_format_bytes(long long n, char *buf, int cap)
{
    static const char *units[] = { "B", "kB", "MB", "GB", "TB" };
    double v = (double)n;
    int u = 0;
    while (v >= 1000 && u < 4) {
        v /= 1000;
        u++;
    }
    snprintf(buf, (size_t)cap, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
}

static void format_eta(double s, char *buf, int cap)
{
    if (s < 0 || s > 99 * 3600) {
        snprintf(buf, (size_t)cap, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, (size_t)cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, (size_t)cap, "%ld:%02ld", t / 60, t % 60);
}

void lm_hub_progress_begin(lm_hub_progress *p, const char *file, long long total, long long resumed)
{
    p->file = file;
    p->total = total;
    p->resumed_from = resumed;
    p->done = resumed;
    p->t_start = p->t_last = lm_now_seconds();
}

static double rate_of(const lm_hub_progress *p, double t)
{
    double dt = t - p->t_start;
    return dt > 0 ? (p->done - p->resumed_from) / dt : 0;
}

static void draw(const lm_hub_progress *p, double t)
{
    char done[32], total[32], rate[32], eta[32], bar[32];
    double r = rate_of(p, t);
    lm_hub_format_bytes(p->done, done, sizeof done);
    lm_hub_format_bytes(p->total, total, sizeof total);
    lm_hub_format_bytes((long long)r, rate, sizeof rate);
    format_eta(r > 0 && p->total > 0 ? (p->total - p->done) / r : -1, eta, sizeof eta);
    int width = 20, filled = p->total > 0 ? (int)(width * (double)p->done / p->total) : 0;
    for (int i = 0; i < width; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%-32.32s [%s] %9s / %-9s %9s/s ETA %s\033[K", p->file, bar, done,
            p->total >= 0 ? total : "?", rate, eta);
    fflush(stderr);
}

void lm_hub_progress_update(void *ctx, long long done, long long total)
{
    lm_hub_progress *p = ctx;
    p->done = done;
    if (p->style != LM_HUB_BAR)
        return;
    double t = lm_now_seconds();
    if (t - p->t_last < 0.1)
        return;
    p->t_last = t;
    draw(p, t);
}

void lm_hub_progress_end(lm_hub_progress *p, const char *what)
{
    double t = lm_now_seconds();
    if (p->style == LM_HUB_QUIET)
        return;
    if (p->style == LM_HUB_BAR) {
        draw(p, t);
        fputc('\n', stderr);
        return;
    }
    char size[32], rate[32];
    lm_hub_format_bytes(p->done, size, sizeof size);
    lm_hub_format_bytes((long long)rate_of(p, t), rate, sizeof rate);
    if (p->resumed_from > 0) {
        char from[32];
        lm_hub_format_bytes(p->resumed_from, from, sizeof from);
        fprintf(stderr, "lmcc: %s: %s %s (resumed at %s) in %.1f s, %s/s\n", p->file, what, size,
                from, t - p->t_start, rate);
    } else {
        fprintf(stderr, "lmcc: %s: %s %s in %.1f s, %s/s\n", p->file, what, size, t - p->t_start, rate);
    }
}

void lm_hub_progress_note(lm_hub_progress_style style, const char *file, long long size, const char *what)
{
    if (style == LM_HUB_QUIET)
        return;
    char s[32];
    lm_hub_format_bytes(size, s, sizeof s);
    fprintf(stderr, "lmcc: %s: %s (%s)\n", file, what, s);
}
