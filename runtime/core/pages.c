#include "pages.h"

#include <stdint.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#if defined(__linux__)
/* madvise(advice) over the pages that [p, p + bytes) touches. */
static void advise_pages(const void *p, size_t bytes, int advice)
{
    if (bytes == 0)
        return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    const uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = (uintptr_t)p + bytes;
    (void)madvise((void *)lo, hi - lo, advice);
}
#endif

void lm_pages_populate_read(const void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_POPULATE_READ)
    advise_pages(p, bytes, MADV_POPULATE_READ);
#else
    (void)p;
    (void)bytes;
#endif
}

void lm_pages_populate_write(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    advise_pages(p, bytes, MADV_POPULATE_WRITE);
#else
    (void)p;
    (void)bytes;
#endif
}
