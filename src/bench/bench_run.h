/* glint bench's load generator: drives an HTTP endpoint in one of four
 * modes and measures it.
 *
 *   ramp         clients join in steps (step_size every ramp_interval_s, up
 *                to max_clients); each has one request in flight at most and
 *                paces itself to client_rps, so the offered load is
 *                clients x client_rps; every client runs until the end.
 *                A joining client sends at once (spread = 0: every client
 *                in phase when the step is a multiple of the period, as
 *                cameras started together), or after a random fraction of
 *                its period (spread = 1: phases spread, as independent
 *                cameras).
 *   rate         open loop at rates[i] requests/s for step_duration_s each,
 *                uniform or Poisson arrivals over `connections` keep-alive
 *                connections; latency counts from each request's intended
 *                send time (coordinated omission corrected, as wrk2).
 *   concurrency  closed loop, N requests in flight for N over
 *                conc_start..conc_end by conc_step; each step runs windows
 *                of window_ms until the last three agree within `stability`
 *                (throughput and p99; as perf_analyzer) or max_windows.
 *   spike        `burst` requests released at once (when a started server
 *                prints its ready line, or at once); reports time to first
 *                answer, successes within the timeout, time to clear.
 *
 * Engine: `threads` worker threads, each with its own epoll loop over
 * non-blocking keep-alive TCP connections (TCP_NODELAY, one write per
 * request); a coordinator (the calling thread) cuts the measurements every
 * 100 ms, drives the steps, prints the live line and decides the end. Every
 * run is bounded: duration_s (at most BENCH_MAX_DURATION_S), max_requests
 * (at most BENCH_MAX_REQUESTS), and a drain of at most timeout_s.
 * Memory is fixed after start: histograms, rings and slots are sized from
 * the configuration.
 */
#ifndef GLINT_BENCH_RUN_H
#define GLINT_BENCH_RUN_H

#include <stdint.h>
#include <stdio.h>

#include "bench/bench_stats.h"
#include "bench/bench_status.h"
#include "bench/httpc.h"
#include "bench/payload.h"

#define BENCH_MAX_STEPS 1000
#define BENCH_MAX_SLOTS 20000
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_DURATION_S 86400.0
#define BENCH_MAX_REQUESTS 1000000000ULL
#define BENCH_MAX_SECONDS 90000 /* per-second rows kept */

typedef enum bench_mode { BENCH_RAMP = 0, BENCH_RATE, BENCH_CONCURRENCY, BENCH_SPIKE } bench_mode;

/* "ramp", "rate", "concurrency", "spike". */
const char *bench_mode_name(bench_mode m);

typedef struct bench_config {
    bench_mode mode;
    char url_text[2400];
    httpc_url url;
    const payload_set *payloads; /* borrowed, n >= 1 */
    int threads;                 /* 1..BENCH_MAX_THREADS */
    double timeout_s;            /* per attempt */
    int retries;                 /* extra attempts after a failure, 0..10 */
    double backoff_ms;           /* first retry delay (then x2, with jitter) */
    double backoff_max_ms;
    double duration_s;     /* cap on the whole run */
    uint64_t max_requests; /* cap on requests started */
    /* ramp */
    int start_clients, step_size, max_clients;
    double ramp_interval_s, client_rps;
    int spread;
    /* rate */
    double rates[BENCH_MAX_STEPS];
    int nrates;
    double step_duration_s;
    int poisson;
    int connections;
    /* concurrency */
    int conc_start, conc_end, conc_step;
    int window_ms, min_windows, max_windows;
    double stability; /* fraction, 0.10 */
    /* spike */
    int burst;
    const char *server_cmd;    /* run with /bin/sh -c, or NULL */
    const char *ready_pattern; /* POSIX extended regex, or NULL */
    double ready_timeout_s;
    /* measurement and output */
    bench_rule rule;
    int quiet;                 /* no live line */
    const char *health_url;    /* NULL: <url origin>/health; "off": none */
    const char *requests_path; /* requests.csv, or NULL */
    uint64_t log_requests;     /* most rows written there */
    uint64_t seed;
} bench_config;

/* Sets every field to its default (ramp, 1 thread, 10 s timeout, ...). */
void bench_config_defaults(bench_config *c);

typedef struct bench_spike {
    int burst;
    double ready_s;         /* server start -> ready line, NAN when no server was started */
    double first_answer_ms; /* release -> first response (any status), NAN when none */
    double clear_ms;        /* release -> last request finished */
    uint64_t ok;            /* succeeded */
    int server_started;
    /* requests finished per millisecond since the release (the last bin
     * also holds everything later), owned by the result: the timeline */
    uint32_t *ok_per_ms, *failed_per_ms;
    int nms;
} bench_spike;

#define BENCH_SPIKE_MS 120000 /* timeline bins: two minutes of milliseconds */

typedef struct bench_result {
    bench_acc total;       /* every request of the run, drain included */
    double run_s;          /* from the start to the end of load generation */
    double elapsed_s;      /* including the drain */
    double offered_rps;    /* average offered rate, NAN when the mode has none */
    bench_second *seconds; /* owned: per-second rows */
    int nseconds;
    bench_step *steps; /* owned: per-step rows */
    int nsteps;
    int max_steady_step;   /* -1 when none */
    double max_steady_rps; /* NAN when none */
    bench_metrics metrics;
    bench_spike spike;
    int health;                   /* 1 when the server's /health gave CPU/RSS figures */
    int proc_stats;               /* 1 when they came from /proc of the started server */
    uint64_t logged, log_dropped; /* requests.csv rows written / left out */
    char started_at[40];          /* ISO 8601 UTC */
    char stop_reason[64];         /* "duration", "max-requests", "steps done", "interrupted", ... */
} bench_result;

/* Runs the load described by cfg (validated with bench_config_check) and
 * fills *res (dispose with bench_result_dispose). Errors: BENCH_ERR_NET
 * (resolving the host, epoll/socket setup, the server command never became
 * ready), BENCH_ERR_IO (requests.csv), BENCH_ERR_NOMEM. A server that
 * refuses, stalls or errors is not a tool error: it is measured. */
bench_status bench_run(const bench_config *cfg, bench_result *res);
void bench_result_dispose(bench_result *res);

/* Checks ranges and combinations; BENCH_ERR_INVALID with the option name. */
bench_status bench_config_check(const bench_config *cfg);

/* Asks a running bench_run (from a signal handler) to stop early: it
 * drains and reports what it measured. Async-signal-safe. */
void bench_request_stop(void);

#endif
