#include "files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

int lm_mkdirs(const char *path, lm_err *e)
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

int lm_mkdirs_parent(const char *path, lm_err *e)
{
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir)
        return lm_fail(e, "%.200s: path too long", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    return lm_mkdirs(dir, e);
}

int lm_write_atomic(const char *path, const void *data, size_t len, lm_err *e)
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

int lm_symlink_atomic(const char *target, const char *path, lm_err *e)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.link-%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return lm_fail(e, "%s: path too long", path);
    unlink(tmp);
    if (symlink(target, tmp) != 0)
        return lm_fail(e, "%s: cannot create a symbolic link: %s", path, strerror(errno));
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        return lm_fail(e, "%s: cannot rename into place: %s", path, strerror(err));
    }
    return 0;
}

int lm_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int lm_remove_tree(const char *path, lm_err *e)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : lm_fail(e, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d)
            return lm_fail(e, "%s: cannot open the directory: %s", path, strerror(errno));
        struct dirent *ent;
        int rc = 0;
        while (rc == 0 && (ent = readdir(d))) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char child[4096];
            if (snprintf(child, sizeof child, "%s/%s", path, ent->d_name) >= (int)sizeof child)
                rc = lm_fail(e, "%s/%s: path too long", path, ent->d_name);
            else
                rc = lm_remove_tree(child, e);
        }
        closedir(d);
        if (rc != 0)
            return rc;
        if (rmdir(path) != 0)
            return lm_fail(e, "%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    if (unlink(path) != 0)
        return lm_fail(e, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

long long lm_tree_bytes(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return 0;
    long long total = (long long)st.st_blocks * 512;
    if (!S_ISDIR(st.st_mode))
        return total;
    DIR *d = opendir(path);
    if (!d)
        return total;
    struct dirent *ent;
    while ((ent = readdir(d))) {
        if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
            continue;
        char child[4096];
        if (snprintf(child, sizeof child, "%s/%s", path, ent->d_name) < (int)sizeof child)
            total += lm_tree_bytes(child);
    }
    closedir(d);
    return total;
}

int lm_lmcc_cache_dir(const char *sub, char *buf, size_t cap, lm_err *e)
{
    const char *v = getenv("LMCC_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *sep = sub[0] ? "/" : "";
    int n;
    if (v && *v)
        n = snprintf(buf, cap, "%s%s%s", v, sep, sub);
    else if (xdg && *xdg)
        n = snprintf(buf, cap, "%s/lmcc%s%s", xdg, sep, sub);
    else if (home && *home)
        n = snprintf(buf, cap, "%s/.cache/lmcc%s%s", home, sep, sub);
    else
        return lm_fail(e, "HOME is not set; set LMCC_CACHE to a directory for lmcc's caches");
    if (n < 0 || (size_t)n >= cap)
        return lm_fail(e, "LMCC_CACHE: path too long");
    return 0;
}

int lm_lock(const char *path, void (*waiting)(const char *what), const char *what, lm_err *e)
{
    if (lm_mkdirs_parent(path, e) != 0)
        return -1;
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return lm_fail(e, "%s: cannot open the lock file: %s", path, strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return fd;
    if (errno == EWOULDBLOCK && waiting)
        waiting(what);
    /* EINTR is a signal such as Ctrl-C arriving while we wait: give up
     * rather than wait on, so the signal's handler gets to act. */
    if (flock(fd, LOCK_EX) != 0) {
        int err = errno;
        close(fd);
        return lm_fail(e, "%s: cannot lock: %s", path,
                       err == EINTR ? "interrupted while waiting" : strerror(err));
    }
    return fd;
}

void lm_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
