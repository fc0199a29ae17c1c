#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_read_file(const char *path, char **out, size_t *len, lm_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return lm_fail(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf)
        return lm_fail(e, "%s: out of memory reading the file", path);
    if (bad) {
        free(buf);
        return lm_fail(e, "%s: read error", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return 0;
}

int fs_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int fs_join(char *buf, size_t cap, const char *dir, const char *name, lm_err *e)
{
    if (snprintf(buf, cap, "%s/%s", dir, name) >= (int)cap)
        return lm_fail(e, "%s/%s: path too long", dir, name);
    return 0;
}

void fs_stem(const char *path, const char *ext, char *buf, size_t cap)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    snprintf(buf, cap, "%s", base);
    size_t n = strlen(buf), el = strlen(ext);
    if (n > el && strcmp(buf + n - el, ext) == 0)
        buf[n - el] = '\0';
}
