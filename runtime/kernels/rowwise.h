/* The arguments of the standalone row-wise ops (templates/rowwise.c.in
 * calls them when fusion leaves an op on its own): one struct for the norm
 * and the elementwise tasks, so neither family header needs the other. */
#ifndef LMRT_KERNELS_ROWWISE_H
#define LMRT_KERNELS_ROWWISE_H

typedef struct lm_rows_args {
    const float *a, *b, *w;
    float *y;
    int n;
} lm_rows_args;

#endif
