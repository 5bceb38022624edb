/* Private to src/bench/: the shared state between the coordinator
 * (bench_run.c), the worker event loops (bench_worker.c), the /health
 * poller (bench_health.c) and the server command (bench_server.c).
 *
 * Ownership: the coordinator creates everything before the workers start
 * and frees it after they are joined. Workers write only their own
 * bench_worker (their accumulator under `mu`) and the atomics marked so;
 * the coordinator changes the control atomics and kicks the worker's
 * eventfd so it sees them at once.
 */
#ifndef GLINT_BENCH_IMPL_H
#define GLINT_BENCH_IMPL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "bench/bench_run.h"
#include "bench/httpc.h"

enum { PH_WAIT = 0, PH_RUN, PH_DRAIN, PH_STOP };

#define BENCH_TICK_NS 100000000ULL /* the coordinator's measurement cut */
#define BENCH_BACKLOG_CAP 65536    /* rate mode: due requests waiting per worker */
#define BENCH_LOG_BUF (64 * 1024)

typedef struct bench_shared {
    const bench_config *cfg;
    int nworkers; /* worker threads (<= cfg->threads) */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    uint64_t t0_ns;                   /* start of load generation */
    _Atomic int phase;                /* PH_* */
    _Atomic int step;                 /* current step index, for requests.csv */
    _Atomic uint64_t started;         /* requests begun (cap: max_requests) */
    _Atomic int limit_hit;            /* a worker reached max_requests */
    _Atomic uint64_t release_ns;      /* spike: when to send, 0 = not yet */
    _Atomic uint64_t first_answer_ns; /* spike: earliest response */
    _Atomic uint64_t last_finish_ns;  /* spike: latest finish */
    _Atomic int spike_finished;       /* spike: requests finished */
    _Atomic uint32_t *spike_ok_ms;    /* spike: finished ok per ms since release */
    _Atomic uint32_t *spike_fail_ms;
    int spike_nms;
    _Atomic int drained; /* workers with nothing in flight after DRAIN */
    pthread_mutex_t log_mu;
    FILE *log;
    _Atomic uint64_t logged, log_dropped;
} bench_shared;

typedef struct bench_slot bench_slot;

typedef struct bench_worker {
    int index;
    bench_shared *sh;
    pthread_t thread;
    int thread_started;
    int epfd, kickfd;
    bench_slot *slots;
    int nslots;
    /* control, written by the coordinator */
    _Atomic int target;             /* ramp, concurrency: active slots wanted */
    _Atomic double rate;            /* rate: this worker's arrivals per second */
    _Atomic uint64_t rate_start_ns; /* rate: when that rate starts */
    _Atomic int rate_gen;           /* bumped on every rate change */
    _Atomic int inflight;           /* written by the worker */
    /* measurements, swapped out by the coordinator under mu */
    pthread_mutex_t mu;
    bench_acc acc;
    /* worker-private state */
    int active; /* slots active (ramp, concurrency) */
    int rate_gen_seen;
    double cur_rate;
    uint64_t next_arrival;
    uint64_t rng;
    uint64_t *backlog; /* rate: intended times of due requests (ring) */
    int bl_head, bl_count;
    int *idle; /* rate: idle slot stack */
    int nidle;
    int *heap; /* slots waiting for a due time */
    int nheap;
    bench_slot *fl_head, *fl_tail; /* attempts in flight, oldest first */
    int draining;                  /* start_drain ran */
    int drained;
    int released;
    int nflight; /* attempts in flight */
    uint64_t next_id;
    unsigned payload_next;
    char *rbuf;
    char *logbuf;
    size_t loglen;
} bench_worker;

/* Creates the worker's epoll, eventfd and slots for nslots connections.
 * Called by the coordinator before the thread starts. */
bench_status bench_worker_init(bench_worker *w, bench_shared *sh, int index, int nslots);
/* Frees what init made (safe on a partly initialised or zeroed worker). */
void bench_worker_dispose(bench_worker *w);
/* Thread entry: runs the event loop until phase is PH_STOP. */
void *bench_worker_main(void *arg);
/* Wakes the worker's loop (coordinator thread). */
void bench_worker_kick(bench_worker *w);

/* ---- server health (bench_health.c) ---- */

typedef struct bench_sample {
    uint64_t t_ns;
    double cpu_seconds; /* NAN unknown */
    double rss_bytes;   /* NAN unknown */
} bench_sample;

typedef struct bench_health bench_health;

/* Starts a thread polling url (GET, JSON with "cpu_seconds"/"rss_bytes")
 * once a second; with url NULL and pid > 0 it reads /proc/<pid> instead.
 * Returns NULL when neither is given or on failure to start. */
bench_health *bench_health_start(const httpc_url *url, pid_t pid);
/* Stops and joins the thread, frees everything. Accepts NULL. */
void bench_health_stop(bench_health *h);
/* Sets the pid to read from /proc when /health gives nothing (thread-safe). */
void bench_health_set_pid(bench_health *h, pid_t pid);
/* Average cores busy and peak RSS (MB) over [t1, t2] (ns), from the
 * samples in it; NAN when there are too few. *source: 1 health, 2 /proc. */
void bench_health_window(bench_health *h, uint64_t t1, uint64_t t2, double *cores, double *rss_mb,
                         int *source);

/* ---- server command (bench_server.c) ---- */

typedef struct bench_server bench_server;

/* Starts `/bin/sh -c cmd` in its own process group, its stdout and stderr
 * piped to us. With a pattern, waits until a line matches it; without, until
 * url accepts TCP connections; either way at most timeout_s.
 * *ready_s: seconds from start to ready. Errors: BENCH_ERR_INVALID (bad
 * regex), BENCH_ERR_NET (the command exited or never became ready; its last
 * output lines are in the message). On error the server is already killed. */
bench_status bench_server_start(const char *cmd, const char *pattern, const httpc_url *url,
                                double timeout_s, bench_server **out, double *ready_s);
pid_t bench_server_pid(const bench_server *s);
/* SIGTERM to the group, SIGKILL after 2 s, reaps it. Accepts NULL. */
void bench_server_stop(bench_server *s);

/* CLOCK_MONOTONIC in ns. */
uint64_t bench_now_ns(void);

#endif
