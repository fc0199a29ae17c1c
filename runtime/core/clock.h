/* The one clock timings use: monotonic seconds, as a double. */
#ifndef LMRT_CORE_CLOCK_H
#define LMRT_CORE_CLOCK_H

/* Monotonic wall-clock seconds (CLOCK_MONOTONIC): differences are
 * durations, unmoved by changes to the system time. */
double lm_now_seconds(void);

#endif
