/* The one header generated models include: every kernel family. */
#ifndef LMRT_KERNELS_KERNELS_H
#define LMRT_KERNELS_KERNELS_H

#include "kernels/linear.h"

#endif
