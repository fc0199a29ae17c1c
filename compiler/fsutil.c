#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fs_mkdirs(const char *path, lm_err *e)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return lm_fail(e, "%s: bad directory path", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return lm_fail(e, "%s: cannot create directory: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return lm_fail(e, "%s: not a directory", path);
    return 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, lm_err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= (int)sizeof tmp)
        return lm_fail(e, "%s: path too long", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return lm_fail(e, "%s: cannot create: %s", path, strerror(errno));
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int err = errno;
            close(fd);
            unlink(tmp);
            return lm_fail(e, "%s: write failed: %s", path, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fchmod(fd, 0644) != 0 || close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        return lm_fail(e, "%s: write failed: %s", path, strerror(err));
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return lm_fail(e, "%s: cannot rename into place: %s", path, strerror(err));
    }
    return 0;
}

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
