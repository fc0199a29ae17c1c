/* Weight files on 2 MiB pages.
 *
 * Decode reads every weight once per token, so how fast the pages can be
 * read is the speed limit, and with 4 KiB pages the TLB misses cost a
 * quarter of it (measured: two cores read a mapped checkpoint at 32 GB/s on
 * 4 KiB pages, 43 GB/s on 2 MiB pages). A read-only file mapping is mapped
 * with 2 MiB pages only where the page cache holds the file in 2 MiB folios,
 * and the page cache keeps a file in the folio sizes it was first read or
 * written with: a checkpoint just downloaded (or made by lmcc synth) sits
 * in small folios, while one read through a MADV_HUGEPAGE mapping lands in
 * 2 MiB folios on kernels and file systems that support large folios
 * (ext4 from Linux 6.16, XFS earlier).
 *
 * So the file bound in place is mapped in full at load (decode reads all
 * of it every token anyway), and when less than 90% of it lands on huge
 * pages its clean pages are dropped from the page cache and read again
 * through the mapping; later loads find it on huge pages. Where nothing is
 * on huge pages yet, a 2 MiB extent is tried first, so where the kernel
 * cannot do it the cost is one 2 MiB re-read, not the whole file. Pointers
 * into the mapping stay valid throughout. Set LMCC_HUGE_PAGES=0 in the
 * environment to leave the page cache alone. */
#ifndef LMRT_WEIGHTS_HUGEMAP_H
#define LMRT_WEIGHTS_HUGEMAP_H

#include <stddef.h>

#include <stdio.h>

/* A transparent huge page, and a page-cache folio that can be mapped as one. */
#define LM_HUGE_BYTES ((size_t)2 << 20)

/* Outcome, for --stats and tests. */
typedef enum lm_huge_result {
    LM_HUGE_OFF,        /* LMCC_HUGE_PAGES=0, or transparent huge pages disabled */
    LM_HUGE_TOO_SMALL,  /* under 3 huge pages, or the mapping is not 2 MiB aligned */
    LM_HUGE_TOO_LARGE,  /* over 3/4 of the RAM: it cannot stay in the page cache */
    LM_HUGE_ALREADY,    /* the page cache already held 90% of it in 2 MiB folios */
    LM_HUGE_REREAD,     /* dropped and read again onto 2 MiB pages */
    LM_HUGE_UNSUPPORTED,/* the kernel or file system keeps it in small folios */
} lm_huge_result;

/* map: a PROT_READ mapping of the whole file at path, size bytes from
 * offset 0. Best effort: never fails, never changes the mapped bytes. */
lm_huge_result lm_map_prefer_huge(void *map, size_t size, const char *path);
/* The same for a mapping of size bytes of the file from file_off (the
 * weight cache's arena, after its header). */
lm_huge_result lm_map_range_prefer_huge(void *map, size_t size, const char *path, size_t file_off);

/* Where a re-read that lasts over half a second redraws one progress line
 * (the executables pass stderr when it is a terminal); NULL, the default:
 * nowhere, as a library embedded in another program should be. */
void lm_huge_set_progress(FILE *out);

/* Bytes of the n mappings starting at maps[i] that are mapped with 2 MiB
 * pages (FilePmdMapped in /proc/self/smaps, read once); 0 when the kernel
 * does not say. */
size_t lm_map_huge_bytes(const void *const *maps, size_t n);

#endif
