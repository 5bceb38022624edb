/* Per-client request rate limits (--rate-limit RPS, --rate-limit-burst N):
 * GCRA, the generic cell rate algorithm — a client may send `burst`
 * requests at once and then one every 1/rps seconds; each client is one
 * 64-bit "theoretical arrival time", so a limit costs no timers and a
 * client that stops costs nothing once its time has passed.
 *
 * A client is a key the caller forms (the API key's name, else the token it
 * presents, else its address). The table holds at most `capacity` clients:
 * clients whose time has passed are forgotten first (they are as good as
 * new), then the one closest to that. Without shared storage each replica
 * enforces the limit on its own (a fleet of N admits up to N times it).
 * Loop thread only (no locking).
 */
#ifndef GLINT_SERVE_CORE_RATELIMIT_H
#define GLINT_SERVE_CORE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_MAX 64 /* longer keys are cut (and stay distinct by their hash) */

typedef struct ratelimit ratelimit;

/* rps > 0, burst >= 1, capacity >= 16 (rounded up to a power of two).
 * NULL if out of memory. */
ratelimit *ratelimit_create(double rps, int burst, int capacity);
void ratelimit_free(ratelimit *r);

typedef struct ratelimit_verdict {
    int allowed;
    int limit;            /* the burst: requests a client may send at once */
    int remaining;        /* requests it may still send now */
    double reset_s;       /* until it may send `limit` at once again */
    double retry_after_s; /* refused: until the next request would pass (else 0) */
} ratelimit_verdict;

/* Counts one request of client key (len bytes) at now_ns (monotonic) and
 * says whether it passes. */
void ratelimit_check(ratelimit *r, const char *key, size_t len, uint64_t now_ns,
                     ratelimit_verdict *v);
/* The verdict of GCRA's rule for a request that was allowed (ahead_ns: how
 * far the client's arrival time runs ahead of now after it) or refused
 * (ahead_ns: how far it ran ahead before), at one request per interval_ns
 * with `burst` at once. Shared with the fleet's check in Redis. */
void ratelimit_verdict_of(int allowed, uint64_t ahead_ns, uint64_t interval_ns, int burst,
                          ratelimit_verdict *v);
/* Changes the rate (a fleet's share of a limit); clients keep their times. */
void ratelimit_set_rate(ratelimit *r, double rps, int burst);
/* Clients tracked now. */
int ratelimit_clients(const ratelimit *r);

#endif
