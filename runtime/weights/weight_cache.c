#include "weight_cache.h"

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/files.h"
#include "hugemap.h"

/* 2: quantized slots interleaved by 16 rows (core/qlayout.h).
 * 3: the arena starts at a 2 MiB offset, so it can be mapped in place on
 *    2 MiB pages. */
static const char MAGIC[8] = "LMCCWQ3";

/* Where the arena starts in the file: after the header (magic, identity
 * length, arena length, identity), at the next 2 MiB boundary. Page-cache
 * folios sit at file offsets that are multiples of their size, so only an
 * arena at such an offset can be mapped with 2 MiB pages. */
static uint64_t payload_offset(uint64_t id_len)
{
    return (24 + id_len + LM_HUGE_BYTES - 1) / LM_HUGE_BYTES * LM_HUGE_BYTES;
}

/* Appends printf output to a growing buffer; on failure the buffer is freed. */
static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void append(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
    if (!*buf)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(*buf + *len, *cap - *len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            free(*buf);
            *buf = NULL;
            return;
        }
        if ((size_t)n < *cap - *len) {
            *len += (size_t)n;
            return;
        }
        char *nb = realloc(*buf, *cap * 2 + (size_t)n);
        if (!nb) {
            free(*buf);
            *buf = NULL;
            return;
        }
        *buf = nb;
        *cap = *cap * 2 + (size_t)n;
    }
}

/* $LMCC_WEIGHT_CACHE, else lmcc's cache root's weights/; -1 when off. */
static int cache_dir(char *buf, size_t cap)
{
    const char *v = getenv("LMCC_WEIGHT_CACHE");
    if (v && (strcmp(v, "0") == 0 || strcmp(v, "off") == 0))
        return -1;
    if (v && *v)
        return snprintf(buf, cap, "%s", v) < (int)cap ? 0 : -1;
    lm_err e;
    return lm_lmcc_cache_dir("weights", buf, cap, &e);
}

/* FNV-1a: names the file; the identity inside decides. */
static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

void lm_weight_cache_open(lm_weight_cache *c, const lm_model_desc *d, const lm_checkpoint *ck)
{
    memset(c, 0, sizeof *c);
    char dir[3800];
    if (cache_dir(dir, sizeof dir) != 0)
        return;
    size_t len = 0, cap = 4096;
    char *id = malloc(cap);
    if (id)
        id[0] = '\0';
    append(&id, &len, &cap, "lmcc weights 1\nmodel %s\n", d->name ? d->name : "");
    for (int i = 0; i < d->n_weights; i++) {
        const lm_weight_desc *w = &d->weights[i];
        append(&id, &len, &cap, "slot %s %d %d %lld %lld %lld %lld %d %d\n", w->hf_name, (int)w->dtype, w->ndim,
               (long long)w->shape[0], (long long)w->shape[1], (long long)w->shape[2], (long long)w->shape[3],
               (int)w->src_rows, (int)w->row_begin);
        /* The cache holds slots with their offset added (Gemma's norms):
         * the same tensor bound with another offset is other bytes. Slots
         * without one keep the lines caches were written with before. */
        if (w->offset != 0.0f)
            append(&id, &len, &cap, "offset %s %a\n", w->hf_name, (double)w->offset);
    }
    /* Each file of the checkpoint, as the file system identifies it: a
     * checkpoint replaced or rewritten is a different one. */
    for (size_t i = 0; i < lm_checkpoint_file_count(ck) && id; i++) {
        struct stat st;
        if (stat(lm_checkpoint_file_path(ck, i), &st) != 0) {
            free(id);
            return;
        }
        append(&id, &len, &cap, "file %s %llu %llu %lld %lld.%09ld\n", lm_checkpoint_file_path(ck, i),
               (unsigned long long)st.st_dev, (unsigned long long)st.st_ino, (long long)st.st_size,
               (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    }
    if (!id)
        return;
    c->identity = id;
    c->identity_len = len;
    snprintf(c->path, sizeof c->path, "%s/%s-%016llx.lmw", dir, d->name ? d->name : "model",
             (unsigned long long)fnv1a(id, len));
}

void lm_weight_cache_close(lm_weight_cache *c)
{
    free(c->identity);
    memset(c, 0, sizeof *c);
}

static int read_all(int fd, void *dst, size_t n, off_t off)
{
    char *p = dst;
    while (n > 0) {
        size_t step = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        ssize_t got = pread(fd, p, step, off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        off += got;
        n -= (size_t)got;
    }
    return 0;
}

typedef struct read_piece {
    int fd;
    char *dst;
    size_t n;
    off_t off;
    int rc;
} read_piece;

static void *read_piece_run(void *arg)
{
    read_piece *p = arg;
    p->rc = read_all(p->fd, p->dst, p->n, p->off);
    return NULL;
}

#define READ_MAX_THREADS 8
/* Pieces start on 2 MiB boundaries of dst, so no huge page of the arena is
 * faulted in by two threads. */
#define READ_PIECE_ALIGN ((size_t)2 << 20)

/* read_all with the payload split over the online CPUs: the copy out of the
 * page cache and the faults that back the arena run on every core (an 8B
 * model's 4.5 GB at q4_0 is about 1.3 s on one). A thread that cannot be
 * started leaves its piece to the calling thread. */
static int read_parallel(int fd, void *dst, size_t n, off_t off)
{
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = cpus < 1 ? 1 : cpus > READ_MAX_THREADS ? READ_MAX_THREADS : (int)cpus;
    size_t per = (n / (size_t)nt + READ_PIECE_ALIGN - 1) / READ_PIECE_ALIGN * READ_PIECE_ALIGN;
    if (nt == 1 || per == 0 || per >= n)
        return read_all(fd, dst, n, off);
    read_piece pieces[READ_MAX_THREADS];
    pthread_t th[READ_MAX_THREADS];
    int started[READ_MAX_THREADS] = { 0 }, np = 0;
    for (size_t b = 0; b < n && np < nt; b += per, np++)
        pieces[np] = (read_piece){ fd, (char *)dst + b, n - b < per ? n - b : per, off + (off_t)b, 0 };
    for (int k = 1; k < np; k++)
        started[k] = pthread_create(&th[k], NULL, read_piece_run, &pieces[k]) == 0;
    int rc = 0;
    for (int k = 0; k < np; k++) {
        if (k == 0 || !started[k])
            read_piece_run(&pieces[k]);
    }
    for (int k = 1; k < np; k++)
        if (started[k])
            pthread_join(th[k], NULL);
    for (int k = 0; k < np; k++)
        rc |= pieces[k].rc;
    return rc;
}

/* Opens the cache file when its header and identity are this model's and
 * its length is right; -1 otherwise. *payload_off: where the arena starts. */
static int open_matching(const lm_weight_cache *c, size_t bytes, off_t *payload_off)
{
    int fd = open(c->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int match = 0;
    char magic[8];
    uint64_t id_len, payload;
    struct stat st;
    if (fstat(fd, &st) == 0 && read_all(fd, magic, 8, 0) == 0 && memcmp(magic, MAGIC, 8) == 0 &&
        read_all(fd, &id_len, 8, 8) == 0 && read_all(fd, &payload, 8, 16) == 0 && id_len == c->identity_len &&
        payload == bytes && (uint64_t)st.st_size == payload_offset(id_len) + payload) {
        char *id = malloc(id_len ? id_len : 1);
        match = id && read_all(fd, id, id_len, 24) == 0 && memcmp(id, c->identity, id_len) == 0;
        free(id);
    }
    if (!match) {
        close(fd);
        return -1;
    }
    *payload_off = (off_t)payload_offset(id_len);
    return fd;
}

/* Puts anonymous memory back over [dst, dst + len) after a mapping of the
 * file there was not kept. */
static int remap_anonymous(void *dst, size_t len)
{
    void *p = mmap(dst, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    if (p == MAP_FAILED)
        return -1;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return 0;
}

int lm_weight_cache_load(const lm_weight_cache *c, void *dst, size_t bytes)
{
    if (!c->path[0] || bytes == 0)
        return LM_CACHE_MISS;
    off_t off;
    int fd = open_matching(c, bytes, &off);
    if (fd < 0)
        return LM_CACHE_MISS;
    const long page = sysconf(_SC_PAGESIZE);
    const size_t len = (bytes + (size_t)page - 1) / (size_t)page * (size_t)page;
    /* In place: no copy, and the page cache's copy is the only one. The
     * arena's slots were laid out at dst, so the file goes exactly there;
     * a failed MAP_FIXED may have unmapped dst, which is then mapped anew. */
    void *map = mmap(dst, len, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, off);
    if (map != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
        (void)madvise(map, len, MADV_HUGEPAGE);
#endif
        lm_huge_result h = lm_map_range_prefer_huge(map, bytes, c->path, (size_t)off);
        /* Where file pages cannot be 2 MiB pages (or the user turned them
         * off), the arena's own anonymous huge pages read faster every
         * token than the mapping would: copy instead. */
        if (h != LM_HUGE_UNSUPPORTED && h != LM_HUGE_OFF) {
            close(fd);
            return LM_CACHE_MAPPED;
        }
    }
    int got = LM_CACHE_BROKEN;
    if (remap_anonymous(dst, len) == 0)
        got = read_parallel(fd, dst, bytes, off) == 0 ? LM_CACHE_READ : LM_CACHE_MISS;
    close(fd);
    return got;
}

void lm_weight_cache_write(const lm_weight_cache *c, const void *src, size_t bytes)
{
    if (!c->path[0])
        return;
    lm_err e;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", c->path, (long)getpid());
    if (lm_mkdirs_parent(c->path, &e) != 0)
        return;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    uint64_t head[2] = { c->identity_len, bytes };
    int ok = write(fd, MAGIC, 8) == 8 && write(fd, head, 16) == 16 &&
             write(fd, c->identity, c->identity_len) == (ssize_t)c->identity_len;
    /* The arena in writes of up to 1 GiB from its 2 MiB boundary (the gap
     * before it a hole): the page cache then holds it in 2 MiB folios
     * already, so the next load maps it on huge pages without reading it
     * again (measured on ext4, Linux 6.18; 64 KiB writes leave 4 KiB ones). */
    const char *p = src;
    off_t at = (off_t)payload_offset(c->identity_len);
    for (size_t left = bytes; ok && left > 0;) {
        ssize_t w = pwrite(fd, p, left < ((size_t)1 << 30) ? left : ((size_t)1 << 30), at);
        if (w < 0 && errno == EINTR)
            continue;
        ok = w > 0;
        if (ok) {
            p += w;
            at += w;
            left -= (size_t)w;
        }
    }
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, c->path) != 0)
        unlink(tmp);
}
