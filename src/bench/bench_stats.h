/* What glint bench measures, and the rule that turns it into an answer.
 *
 * bench_acc     counters + a latency histogram for an interval (a tick, a
 *               second, a window, a step, the run); merged, never resized.
 * bench_second  one row of the per-second table (seconds.csv, the charts).
 * bench_step    one row of the per-step table: a constant load level.
 * bench_rule    the steady-step rule: a step is steady when
 *                 achieved >= min_ratio x offered       (default 95%)
 *               and ok / finished >= min_success         (default 99%)
 *               and p99 <= max_p99_ms                    (when an SLA gives one)
 *               For a closed-loop step (concurrency: no offered rate) the
 *               first condition is replaced by "its windows were stable".
 *               Max steady RPS = the offered rate (achieved when there is
 *               none) of the steady step with the highest achieved rate.
 * bench_metrics the whole-run figures the SLA and `compare` look at.
 *
 * Definitions: a request is finished when it got a final response or a
 * final error (after retries). "ok" = status 2xx or 3xx. achieved RPS =
 * HTTP responses (any status) per second; ok RPS = ok responses per second.
 * Latency is recorded for requests that got a response, from the request's
 * intended send time (rate mode, coordinated-omission corrected) or its
 * first send (other modes) to the last byte of the final response.
 * Thread-safety: plain data; owners are stated by the users (bench_run).
 */
#ifndef GLINT_BENCH_STATS_H
#define GLINT_BENCH_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "bench/hdr.h"

typedef enum bench_errkind {
    BENCH_E_CONNECT = 0, /* connection refused/unreachable/failed */
    BENCH_E_TIMEOUT,     /* no full response within --timeout */
    BENCH_E_CLOSED,      /* the server closed or reset the connection mid-request */
    BENCH_E_PROTOCOL,    /* a malformed or unsolicited response */
    BENCH_E_HTTP_4XX,    /* status 400..499 */
    BENCH_E_HTTP_5XX,    /* status 500..599 */
    BENCH_E_KINDS
} bench_errkind;

/* "connect", "timeout", "closed", "protocol", "http_4xx", "http_5xx". */
const char *bench_errkind_name(int kind);

typedef struct bench_acc {
    uint64_t offered;               /* arrivals due (rate mode) or requests intended */
    uint64_t sent;                  /* first attempts sent */
    uint64_t retries;               /* further attempts sent (counted apart) */
    uint64_t responses;             /* finished with an HTTP response (any status) */
    uint64_t ok;                    /* finished with 2xx/3xx */
    uint64_t failed;                /* finished with an error of any kind (incl. 4xx/5xx) */
    uint64_t retried_ok;            /* ok after at least one retry */
    uint64_t unsent;                /* offered but never sent (rate mode backlog at the end) */
    uint64_t reconnects;            /* keep-alive connections found closed and reopened */
    uint64_t errors[BENCH_E_KINDS]; /* final outcomes by kind */
    uint64_t attempt_errors[BENCH_E_KINDS]; /* failed attempts that were retried */
    uint64_t status[500];                   /* final responses by code 100..599 */
    uint64_t bytes_in, bytes_out;
    hdr_hist lat; /* latency (µs) of finished requests that got a response */
} bench_acc;

void bench_acc_reset(bench_acc *a);
void bench_acc_merge(bench_acc *dst, const bench_acc *src);

typedef struct bench_second {
    double t;           /* seconds since the start, at the end of this second */
    int step;           /* step index */
    int level;          /* clients / concurrency / connections */
    double offered_rps; /* NAN when the mode has no offered rate */
    double achieved_rps, ok_rps;
    uint64_t responses, ok, failed, timeouts;
    double p50_ms, p90_ms, p99_ms, max_ms; /* 0 when nothing finished */
    int inflight;
    double server_cpu;    /* cores busy (delta cpu_seconds / delta t), NAN unknown */
    double server_rss_mb; /* NAN unknown */
} bench_second;

typedef struct bench_step {
    int index;
    int level; /* clients (ramp), concurrency, connections (rate), burst */
    double start_s, end_s;
    double offered_rps;  /* NAN for closed-loop steps */
    double achieved_rps; /* responses / step time */
    double ok_rps;
    double success_rate; /* ok / finished, 0..1 (0 when nothing finished) */
    uint64_t finished, ok, failed;
    double p50_ms, p90_ms, p95_ms, p99_ms, max_ms;
    int windows;                      /* measurement windows (concurrency), else 0 */
    int stable;                       /* 1/0 whether windows agreed; -1 not applicable */
    int steady;                       /* the rule's verdict */
    double server_cpu, server_rss_mb; /* during the step, NAN unknown */
} bench_step;

/* Fills the measured fields of s (offered, level, stable, steady and the
 * server fields are left alone) from acc over `seconds` of wall time. */
void bench_step_measure(bench_step *s, const bench_acc *acc, double seconds);

typedef struct bench_rule {
    double min_ratio;   /* achieved / offered, default 0.95 */
    double min_success; /* ok / finished, default 0.99 */
    double max_p99_ms;  /* NAN: no latency condition */
} bench_rule;

#define BENCH_RULE_DEFAULT                                                                         \
    {                                                                                              \
        0.95, 0.99, NAN                                                                            \
    }

/* 1 if s passes r (see above), else 0. */
int bench_step_is_steady(const bench_step *s, const bench_rule *r);
/* Index of the steady step (steps[].steady) with the highest achieved
 * rate, -1 when none; *rps gets its offered rate (its achieved rate for a
 * closed-loop step), NAN when none. */
int bench_max_steady(const bench_step *steps, int n, double *rps);
/* The rule as one English sentence, e.g. "a step is steady when achieved >=
 * 95% of offered and >= 99% of requests succeed; max steady RPS is ..." */
void bench_rule_text(const bench_rule *r, char *buf, size_t cap);

typedef struct bench_metrics {
    double rps; /* achieved over the run */
    double ok_rps;
    double steady_rps; /* NAN when no step is steady (or the mode has none) */
    double p50_ms, p90_ms, p95_ms, p99_ms, p999_ms, max_ms, mean_ms; /* NAN: no response */
    double error_pct;   /* failed / finished x 100, NAN when nothing finished */
    double success_pct; /* ok / finished x 100, NAN when nothing finished */
    double requests;    /* finished */
} bench_metrics;

/* Fills m from a whole-run acc over `seconds`, with a steady rps. */
void bench_metrics_from_acc(bench_metrics *m, const bench_acc *acc, double seconds,
                            double steady_rps);

#endif
