/* Clocks for every layer (header only, no state): monotonic time for
 * durations and deadlines, wall time for timestamps. Any thread. */
#ifndef GLINT_UTIL_CLOCK_H
#define GLINT_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds: durations, deadlines. */
static inline uint64_t clock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds, as a double (CLI timings). */
static inline double clock_now_ms(void)
{
    return (double)clock_now_ns() / 1e6;
}

/* Wall-clock time in Unix milliseconds (timestamps that leave the process). */
static inline int64_t clock_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
