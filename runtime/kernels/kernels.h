/* The kernels generated models are made of.
 *
 * Everything here is static inline: the emitter writes one small function
 * per distinct op shape that calls these with its dimensions as constants,
 * so clang specializes each instance (loop bounds, tails, dtype branches
 * folded away) while the file stays compact. Activations are f32; weights
 * are read in their compiled dtype. Work is split by the thread pool: each
 * task takes (tid, nthreads) and computes its own slice. */
#ifndef LMRT_KERNELS_KERNELS_H
#define LMRT_KERNELS_KERNELS_H

/* The forward pass runs each kernel through lm_pool_run. */
#include "../core/pool.h"

#include "attention.h"
#include "elementwise.h"
#include "embedding.h"
#include "linear.h"
#include "logits.h"
#include "moe.h"
#include "norm.h"
#include "rope.h"

#endif
