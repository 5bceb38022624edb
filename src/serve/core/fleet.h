/* fleet: what the replicas of a glint fleet share through one Redis
 * (--redis URL; rlink.h is the connection):
 *
 *   - the digest key: cache keys hold a keyed hash of the image, and every
 *     replica must hash with the same key to find another's answers. The
 *     first replica to connect stores 16 random bytes under glint:digest-key
 *     (SET NX); every replica reads them back on each connect (and every 30
 *     s), so the fleet agrees without configuration and nobody without
 *     access to Redis can craft a colliding image;
 *   - the response cache's second level: glint:c:<key> holds an answer
 *     (SET PX ttl), values over FLEET_CACHE_VALUE_MAX not stored;
 *   - per-client rate limits across replicas: one EVALSHA per check (the
 *     script loaded once per connection) runs GCRA atomically on Redis's clock (glint:rl:<client>
 * holds the client's theoretical arrival time, in microseconds, expiring with it);
 *   - the replica count: each replica puts itself in the sorted set
 *     glint:replicas every second (score: Redis's time), and the set's size
 *     over the last FLEET_REPLICA_WINDOW_MS is how many replicas are up. With
 *     Redis down a replica enforces its share of a limit (the limit divided
 *     by the last count seen).
 *
 * Every call that asks Redis answers through a callback that runs once,
 * with the answer, or with nothing when Redis is down, slow (the link's
 * timeout) or says something unexpected: the caller then goes on without it.
 * Loop thread only. */
#ifndef GLINT_SERVE_CORE_FLEET_H
#define GLINT_SERVE_CORE_FLEET_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <stddef.h>
#include <stdint.h>

#include "serve/core/ratelimit.h"

#define FLEET_CACHE_VALUE_MAX ((size_t)1 << 20)
#define FLEET_REPLICA_WINDOW_MS 3000

typedef struct fleet fleet;

typedef struct fleet_stats {
    uint64_t cache_hits, cache_misses; /* answered GETs */
    uint64_t cache_unanswered;         /* GETs Redis did not answer in time */
    uint64_t cache_stores, cache_too_big;
    uint64_t rate_checks, rate_unanswered; /* checks; checks decided locally after asking */
    uint64_t commands, timeouts, errors, connects, failures;
    int up;
    int replicas;
    int key_known;
} fleet_stats;

/* A fleet over the Redis at url (rlink.h's forms, its host resolved through
 * `resolver`), commands timing out after timeout_ms. Connects in the
 * background. NULL with err. */
fleet *fleet_create(h2o_loop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                    int timeout_ms, char *err, size_t err_size);
void fleet_free(fleet *f);

/* Whether Redis is connected now. */
int fleet_up(const fleet *f);

/* The fleet's digest key: 1 with key set, or 0 while it is not known yet. */
int fleet_digest_key(const fleet *f, uint8_t key[16]);

/* The answer under key, or val NULL (absent, or Redis did not answer). */
typedef void (*fleet_get_cb)(void *arg, const void *val, size_t len);
/* Asks for key. 0: cb will run; -1: Redis is down (cb will not run). */
int fleet_cache_get(fleet *f, const void *key, size_t klen, fleet_get_cb cb, void *arg);
/* Stores (key, val) for ttl_s seconds, without waiting for the reply. */
void fleet_cache_put(fleet *f, const void *key, size_t klen, const void *val, size_t vlen,
                     int ttl_s);

/* The verdict on one more request of `client`, or v NULL (no answer: decide
 * locally). */
typedef void (*fleet_rate_cb)(void *arg, const ratelimit_verdict *v);
/* Counts one request of client against rps with burst. 0: cb will run; -1:
 * Redis is down. */
int fleet_rate_check(fleet *f, const char *client, size_t len, double rps, int burst,
                     fleet_rate_cb cb, void *arg);

/* Replicas seen in the last FLEET_REPLICA_WINDOW_MS (>= 1; the last count
 * while Redis is down). */
int fleet_replicas(const fleet *f);

/* Heartbeat and key refresh; call at least every 200 ms. */
void fleet_tick(fleet *f, uint64_t now_ns);

void fleet_get_stats(const fleet *f, fleet_stats *out);

#endif
