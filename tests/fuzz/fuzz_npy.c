/* .npy files: lm_npy_read_f32 parses the magic, the header dict (descr,
 * fortran_order, shape) and the data; what it accepts is written back with
 * lm_npy_write_f32 (the --logits and --dump path) and must read back
 * equal. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "weights/npy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_put("in.npy", data, size);
    lm_err e;
    int rows, cols;
    float *v = lm_npy_read_f32(path, &rows, &cols, &e);
    if (!v)
        return 0;
    char out[4200];
    snprintf(out, sizeof out, "%s/out.npy", fuzz_dir());
    if (lm_npy_write_f32(out, v, rows, cols, &e) != 0)
        abort(); /* what was read must be writable */
    int rows2, cols2;
    float *w = lm_npy_read_f32(out, &rows2, &cols2, &e);
    if (!w || rows2 != rows || cols2 != cols ||
        memcmp(v, w, (size_t)rows * (size_t)cols * sizeof *v) != 0)
        abort(); /* the round trip changed the tensor */
    free(v);
    free(w);
    return 0;
}
