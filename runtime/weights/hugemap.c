/* Weight files on 2 MiB pages; see hugemap.h for why. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "hugemap.h"
#include "../core/clock.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Where lm_map_prefer_huge's re-read reports its progress; NULL: nowhere. */
static FILE *progress_out;

void lm_huge_set_progress(FILE *out)
{
    progress_out = out;
}

static int thp_enabled(void)
{
    const char *env = getenv("LMCC_HUGE_PAGES");
    if (env && strcmp(env, "0") == 0)
        return 0;
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return 0;
    char line[128] = "";
    int ok = fgets(line, sizeof line, f) != NULL && strstr(line, "[never]") == NULL;
    fclose(f);
    return ok;
}

size_t lm_map_huge_bytes(const void *const *maps, size_t n)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return 0;
    char line[512];
    int in_map = 0;
    size_t total = 0;
    while (fgets(line, sizeof line, f)) {
        uintptr_t lo, hi;
        /* A mapping's header line: "lo-hi perms offset dev inode path". */
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2) {
            in_map = 0;
            for (size_t i = 0; i < n && !in_map; i++)
                in_map = lo == (uintptr_t)maps[i];
            continue;
        }
        unsigned long long kib;
        if (in_map && sscanf(line, "FilePmdMapped: %llu kB", &kib) == 1)
            total += (size_t)kib * 1024;
    }
    fclose(f);
    return total;
}

/* One mapping's FilePmdMapped bytes. */
static size_t huge_bytes(const void *map)
{
    return lm_map_huge_bytes(&map, 1);
}

/* Maps [p, p + n) now, through the fault path that picks the page size. */
static void populate(char *p, size_t n)
{
#ifdef MADV_POPULATE_READ
    if (madvise(p, n, MADV_POPULATE_READ) == 0)
        return;
#endif
    volatile char sink = 0;
    for (size_t i = 0; i < n; i += 4096)
        sink ^= p[i];
    (void)sink;
}

/* Drops the n bytes at map, which maps the file from file_off, from this
 * mapping and from the page cache. Dirty pages cannot be dropped, so they
 * are written first (a file that was just written); pages another process
 * maps stay. */
static void drop(int fd, char *map, size_t file_off, size_t n)
{
    (void)sync_file_range(fd, (off_t)file_off, (off_t)n,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
    (void)madvise(map, n, MADV_DONTNEED);
    (void)posix_fadvise(fd, (off_t)file_off, (off_t)n, POSIX_FADV_DONTNEED);
}

/* The re-read, in 256 MiB steps so that a large file's (seconds from a
 * disk) can say how far it is: one line on the progress stream, redrawn,
 * once it has taken half a second. */
static void reread(char *base, size_t size, const char *path)
{
    const size_t step = (size_t)256 << 20;
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    const double t0 = lm_now_seconds();
    int shown = 0;
    for (size_t done = 0; done < size;) {
        size_t n = size - done < step ? size - done : step;
        populate(base + done, n);
        done += n;
        if (progress_out && (shown || lm_now_seconds() - t0 > 0.5)) {
            fprintf(progress_out, "\rlmcc: %s: reading it once more onto 2 MiB pages: %.1f of %.1f GB", name,
                    (double)done / 1e9, (double)size / 1e9);
            if (done == size)
                fprintf(progress_out, " in %.1f s\n", lm_now_seconds() - t0);
            fflush(progress_out);
            shown = 1;
        }
    }
}

lm_huge_result lm_map_prefer_huge(void *map, size_t size, const char *path)
{
    return lm_map_range_prefer_huge(map, size, path, 0);
}

lm_huge_result lm_map_range_prefer_huge(void *map, size_t size, const char *path, size_t file_off)
{
    if (!thp_enabled())
        return LM_HUGE_OFF;
    char *base = map;
    /* Folios sit at file offsets that are multiples of 2 MiB, so the
     * mapping must start on a 2 MiB boundary of both the address space
     * (Linux places large file mappings so) and the file; a small file is
     * not worth a re-read. */
    if (((uintptr_t)base & (LM_HUGE_BYTES - 1)) != 0 || (file_off & (LM_HUGE_BYTES - 1)) != 0 || size < 3 * LM_HUGE_BYTES)
        return LM_HUGE_TOO_SMALL;
    /* A file the page cache cannot hold is read from disk every token
     * anyway; mapping or re-reading it all here would only add a pass. */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages > 0 && page > 0 && size / 3 > (size_t)pages / 4 * (size_t)page)
        return LM_HUGE_TOO_LARGE;
    /* The first extent tells whether the file was ever read onto huge
     * pages. If it was, the whole file is mapped now (decode reads all of
     * it every token anyway) to see how much still is: parts of a file
     * fall back to small folios under reclaim, or when read by something
     * without MADV_HUGEPAGE. If it was not, one extent is re-read first to
     * learn whether this kernel and file system can do it at all. */
    const size_t whole = size / LM_HUGE_BYTES * LM_HUGE_BYTES;
    populate(base, LM_HUGE_BYTES);
    int probed = huge_bytes(map) >= LM_HUGE_BYTES;
    if (probed) {
        populate(base, size);
        if (huge_bytes(map) >= whole / 10 * 9)
            return LM_HUGE_ALREADY;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LM_HUGE_UNSUPPORTED;
    if (!probed) {
        drop(fd, base, file_off, LM_HUGE_BYTES);
        populate(base, LM_HUGE_BYTES);
        if (huge_bytes(map) < LM_HUGE_BYTES) {
            close(fd);
            return LM_HUGE_UNSUPPORTED;
        }
    }
    /* The kernel can: the whole file, read back now so the first token
     * does not pay for it. */
    drop(fd, base, file_off, whole);
    close(fd);
    reread(base, size, path);
    return LM_HUGE_REREAD;
}
