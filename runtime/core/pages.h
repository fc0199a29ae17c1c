/* Page hints the kernels give the OS. Here, not in the kernels' headers:
 * generated code is compiled as strict C17, which hides madvise. */
#ifndef LMRT_CORE_PAGES_H
#define LMRT_CORE_PAGES_H

#include <stddef.h>

/* Makes [p, p + bytes) resident and writable in one call, before a kernel
 * writes it (each first touch of a 4 KiB page is otherwise a fault of its
 * own). A hint: where the kernel refuses it, the writes fault as before. */
void lm_pages_populate_write(void *p, size_t bytes);

#endif
