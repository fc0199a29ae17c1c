/* Scratch files for fuzz inputs (fuzz_files.h). */
#include "fuzz_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "text/tokenizer.h"

static char scratch[64];

static void remove_scratch(void)
{
    DIR *d = opendir(scratch);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    rmdir(scratch);
}

const char *fuzz_dir(void)
{
    if (!scratch[0]) {
        snprintf(scratch, sizeof scratch, "/tmp/lmcc-fuzz-XXXXXX");
        if (!mkdtemp(scratch)) {
            perror("fuzz: mkdtemp /tmp/lmcc-fuzz-XXXXXX");
            abort();
        }
        atexit(remove_scratch);
    }
    return scratch;
}

const char *fuzz_put(const char *name, const void *data, size_t n)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w <= 0) {
            perror(path);
            abort();
        }
        p += w;
        n -= (size_t)w;
    }
    close(fd);
    return path;
}

void fuzz_remove(const char *name)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    unlink(path);
}

const char *fuzz_data(const char *name)
{
    static char path[4200];
    snprintf(path, sizeof path, "%s/%s", FUZZ_DATA_DIR, name);
    return path;
}

lm_tokenizer *fuzz_tokenizer(const char *name)
{
    lm_err e;
    lm_tokenizer *t = lm_tokenizer_load(fuzz_data(name), &e);
    if (!t) {
        lm_print_error("fuzz", &e);
        abort();
    }
    return t;
}
