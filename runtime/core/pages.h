/* Page hints: memory made resident in one call instead of a fault per
 * 4 KiB. Here, not in the kernels' headers: generated code is compiled as
 * strict C17, which hides madvise. Hints only: where the kernel refuses
 * them (before Linux 5.14), the accesses fault the pages in as before. */
#ifndef LMRT_CORE_PAGES_H
#define LMRT_CORE_PAGES_H

#include <stddef.h>

/* [p, p + bytes), about to be read (a checkpoint range to convert). */
void lm_pages_populate_read(const void *p, size_t bytes);
/* [p, p + bytes), about to be written (KV-cache rows of a batch). */
void lm_pages_populate_write(void *p, size_t bytes);

#endif
