/* NumPy .npy files: how --logits and --dump hand tensors to reference tools.
 *
 * Files are format v1.0, dtype '<f4', C order, shape (rows, cols), with the
 * header padded so the data starts at a multiple of 64 bytes (numpy.load
 * and np.memmap read them directly). */
#ifndef LMRT_WEIGHTS_NPY_H
#define LMRT_WEIGHTS_NPY_H

#include "../core/error.h"

/* Writes rows x cols floats (row-major) to path, through a temporary file
 * renamed into place, so a failure never leaves a half-written path. */
int lm_npy_write_f32(const char *path, const float *data, int rows, int cols, lm_err *e);

/* Reads a 2-D (or 1-D, as one row) '<f4' C-order .npy file as written above.
 * Returns malloc'd rows*cols floats (free with free()), or NULL. */
float *lm_npy_read_f32(const char *path, int *rows, int *cols, lm_err *e);

#endif
