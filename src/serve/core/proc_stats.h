/* proc_stats: this process's resource use, read from Linux (/proc/self,
 * getrusage, getrlimit), and the machine's (proc_system_read), for the server's /metrics page (the
 * standard Prometheus process_* metrics) and its logs.
 *
 * One call fills a struct; each field that could not be read is -1 and the
 * call says so, the others are still filled. Cost: a few small /proc reads
 * and one directory scan of /proc/self/fd (about 50 us plus a little per
 * open descriptor); call it when a page is rendered, not per request.
 *
 * Thread-safety: reentrant, keeps no global state; any thread.
 */
#ifndef GLINT_SERVE_PROC_STATS_H
#define GLINT_SERVE_PROC_STATS_H

#include <stdint.h>

typedef struct proc_stats {
    int64_t rss_bytes;         /* resident set size now (VmRSS) */
    int64_t peak_rss_bytes;    /* high-water mark of the RSS (VmHWM); the kernel keeps
                                  it from approximate counters, so it can trail an
                                  exact earlier rss_bytes by a few hundred KB */
    int64_t virtual_bytes;     /* virtual memory size (VmSize) */
    double cpu_user_seconds;   /* CPU time in user mode, all threads */
    double cpu_system_seconds; /* CPU time in the kernel, all threads */
    double cpu_seconds;        /* user + system */
    int64_t threads;           /* threads in the process */
    int64_t open_fds;          /* open file descriptors */
    int64_t max_fds;           /* soft RLIMIT_NOFILE; -1 also when unlimited */
    double start_time_seconds; /* process start, Unix epoch seconds (10 ms resolution) */
    double uptime_seconds;     /* time since the process started */
} proc_stats;

/* Fills *out. Returns 0 if every field was read, -1 if any is left at -1
 * (e.g. /proc is not mounted) or out is NULL. */
int proc_stats_read(proc_stats *out);

/* The machine's CPU time and memory (/proc/stat, /proc/meminfo): for a
 * utilisation figure, read twice and divide the busy delta by the total. */
typedef struct proc_system {
    int64_t cpu_busy;  /* jiffies of all CPUs not idle or waiting for I/O */
    int64_t cpu_total; /* jiffies of all CPUs */
    int64_t mem_total_bytes, mem_available_bytes;
} proc_system;

/* Fills *out; -1 if any field could not be read (left at -1). Any thread. */
int proc_system_read(proc_system *out);

#endif
