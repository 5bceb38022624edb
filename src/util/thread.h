/* Scheduling of the server's worker threads (header only). */
#ifndef GLINT_UTIL_THREAD_H
#define GLINT_UTIL_THREAD_H

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

/* Marks the calling thread as batch work (Linux SCHED_BATCH): the same CPU
 * share as any thread of its nice level, but the scheduler treats it as
 * CPU-bound, so a thread waking up (the event loop with a request to answer
 * or refuse) preempts it at once instead of waiting its turn. Threads it
 * creates (OpenMP's team) inherit it. GLINT_SCHED_BATCH=0 leaves threads as
 * they are (for measuring the difference). */
static inline void thread_mark_batch(void)
{
#ifdef SCHED_BATCH
    const char *e = getenv("GLINT_SCHED_BATCH");
    if (e && !strcmp(e, "0")) return;
    struct sched_param p;
    memset(&p, 0, sizeof p);
    pthread_setschedparam(pthread_self(), SCHED_BATCH, &p);
#endif
}

#endif
