#include "pages.h"

#include <stdint.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

void lm_pages_populate_write(void *p, size_t bytes)
{
#if defined(__linux__) && defined(MADV_POPULATE_WRITE)
    static uintptr_t page;
    if (page == 0) {
        long ps = sysconf(_SC_PAGESIZE);
        page = ps > 0 ? (uintptr_t)ps : 4096;
    }
    uintptr_t lo = (uintptr_t)p & ~(page - 1), hi = (uintptr_t)p + bytes;
    if (bytes > 0)
        (void)madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE); /* Linux 5.14+; a hint */
#else
    (void)p;
    (void)bytes;
#endif
}
