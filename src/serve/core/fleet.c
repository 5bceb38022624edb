/* fleet: the digest key, cache, rate limits and replica count that
 * replicas share through Redis (see fleet.h). */
#include "serve/core/fleet.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "serve/core/rlink.h"

#define KEY_REFRESH_NS 30000000000u
#define HEARTBEAT_NS 1000000000u

static const char digest_key_name[] = "glint:digest-key";
static const char replicas_key[] = "glint:replicas";

/* GCRA on Redis's clock, in microseconds (ratelimit.c's rule): KEYS[1] holds
 * the client's theoretical arrival time; ARGV: the emission interval and the
 * tolerance (interval x (burst - 1)). Returns {allowed, tat - now after the
 * request (or before, if refused)}. */
static const char gcra_script[] = "local t = redis.call('TIME')\n"
                                  "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
                                  "local T = tonumber(ARGV[1])\n"
                                  "local tau = tonumber(ARGV[2])\n"
                                  "local tat = tonumber(redis.call('GET', KEYS[1])) or now\n"
                                  "if tat < now then tat = now end\n"
                                  "if tat - now > tau then return {0, tat - now} end\n"
                                  "tat = tat + T\n"
                                  "redis.call('SET', KEYS[1], string.format('%.0f', tat), 'PX', "
                                  "math.ceil((tat - now) / 1000) + 1)\n"
                                  "return {1, tat - now}\n";

/* Puts ARGV[1] in KEYS[1] at Redis's time (ms), forgets members older than
 * ARGV[2] ms, returns the count. */
static const char heartbeat_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "redis.call('ZADD', KEYS[1], now, ARGV[1])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))\n"
    "redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)\n"
    "return redis.call('ZCARD', KEYS[1])\n";

struct fleet {
    rlink *link;
    uint8_t key[16];
    int key_known;
    uint8_t my_key[16]; /* offered with SET NX */
    char id[96];        /* this replica in glint:replicas */
    int replicas;
    int heartbeat_pending;
    uint64_t next_heartbeat_ns, next_key_ns;
    char gcra_sha[41]; /* the GCRA script's SHA1 in Redis's cache ("" while unknown: EVAL) */
    int loading;       /* a SCRIPT LOAD is under way */
    int rate_error;    /* a Redis error of a rate check was logged (until one works) */
    fleet_stats st;
};

/* A caller's callback on its way through rlink. */
typedef struct call {
    fleet *f;
    union {
        fleet_get_cb get;
        fleet_rate_cb rate;
    } cb;
    void *arg;
    double interval_us;
    int burst;
} call;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the digest key ---- */

static void on_key(void *arg, const redisReply *r)
{
    fleet *f = arg;
    if (!r || r->type != REDIS_REPLY_STRING || r->len != 16) {
        if (r && r->type == REDIS_REPLY_STRING)
            fprintf(stderr, "glint serve: Redis's %s is not 16 bytes: cache keys stay local\n",
                    digest_key_name);
        return;
    }
    if (f->key_known && memcmp(f->key, r->str, 16))
        fprintf(stderr, "glint serve: the fleet's digest key changed (Redis was emptied?)\n");
    memcpy(f->key, r->str, 16);
    f->key_known = 1;
}

static void ask_key(fleet *f)
{
    const char *set[] = {"SET", digest_key_name, (const char *)f->my_key, "NX"};
    const size_t setl[] = {3, sizeof digest_key_name - 1, 16, 2};
    const char *get[] = {"GET", digest_key_name};
    const size_t getl[] = {3, sizeof digest_key_name - 1};
    if (!rlink_command(f->link, NULL, NULL, 4, set, setl))
        rlink_command(f->link, on_key, f, 2, get, getl);
    f->next_key_ns = now_ns() + KEY_REFRESH_NS;
}

/* ---- the replica count ---- */

static void on_heartbeat(void *arg, const redisReply *r)
{
    fleet *f = arg;
    f->heartbeat_pending = 0;
    if (r && r->type == REDIS_REPLY_INTEGER && r->integer >= 1 && r->integer < 1000000)
        f->replicas = (int)r->integer;
}

static void heartbeat(fleet *f)
{
    char window[16];
    int n = snprintf(window, sizeof window, "%d", FLEET_REPLICA_WINDOW_MS);
    const char *argv[] = {"EVAL", heartbeat_script, "1", replicas_key, f->id, window};
    const size_t lens[] = {
        4, sizeof heartbeat_script - 1, 1, sizeof replicas_key - 1, strlen(f->id), (size_t)n};
    if (!rlink_command(f->link, on_heartbeat, f, 6, argv, lens)) f->heartbeat_pending = 1;
    f->next_heartbeat_ns = now_ns() + HEARTBEAT_NS;
}

/* ---- the GCRA script: sent once (SCRIPT LOAD), then named by its SHA1 ---- */

static void on_loaded(void *arg, const redisReply *r)
{
    fleet *f = arg;
    f->loading = 0;
    if (r && r->type == REDIS_REPLY_STRING && r->len == 40) memcpy(f->gcra_sha, r->str, 41);
}

static void load_script(fleet *f)
{
    const char *argv[] = {"SCRIPT", "LOAD", gcra_script};
    const size_t lens[] = {6, 4, sizeof gcra_script - 1};
    f->gcra_sha[0] = 0; /* EVAL until it is known */
    if (!f->loading && !rlink_command(f->link, on_loaded, f, 3, argv, lens)) f->loading = 1;
}

static void on_up(void *arg)
{
    fleet *f = arg;
    ask_key(f);
    heartbeat(f);
    load_script(f); /* a restarted Redis has none */
}

void fleet_tick(fleet *f, uint64_t now)
{
    if (!f || !rlink_up(f->link)) return;
    if (now >= f->next_key_ns) ask_key(f);
    if (now >= f->next_heartbeat_ns && !f->heartbeat_pending) heartbeat(f);
}

int fleet_replicas(const fleet *f)
{
    return f->replicas;
}

/* ---- the cache ---- */

static void on_get(void *arg, const redisReply *r)
{
    call *c = arg;
    fleet *f = c->f;
    if (!r)
        f->st.cache_unanswered++;
    else if (r->type == REDIS_REPLY_STRING)
        f->st.cache_hits++;
    else
        f->st.cache_misses++;
    if (r && r->type == REDIS_REPLY_STRING)
        c->cb.get(c->arg, r->str, r->len);
    else
        c->cb.get(c->arg, NULL, 0);
    free(c);
}

/* "glint:c:" + key, in buf (cap >= klen + 8). */
static size_t cache_name(char *buf, const void *key, size_t klen)
{
    memcpy(buf, "glint:c:", 8);
    memcpy(buf + 8, key, klen);
    return klen + 8;
}

int fleet_cache_get(fleet *f, const void *key, size_t klen, fleet_get_cb cb, void *arg)
{
    char name[256];
    if (!f || klen > sizeof name - 8 || !rlink_up(f->link)) return -1;
    call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    *c = (call){.f = f, .cb.get = cb, .arg = arg};
    const char *argv[] = {"GET", name};
    const size_t lens[] = {3, cache_name(name, key, klen)};
    if (rlink_command(f->link, on_get, c, 2, argv, lens)) {
        free(c);
        return -1;
    }
    return 0;
}

void fleet_cache_put(fleet *f, const void *key, size_t klen, const void *val, size_t vlen,
                     int ttl_s)
{
    char name[256], px[24];
    if (!f || klen > sizeof name - 8 || !rlink_up(f->link)) return;
    if (vlen > FLEET_CACHE_VALUE_MAX) {
        f->st.cache_too_big++;
        return;
    }
    int n = snprintf(px, sizeof px, "%lld", (long long)ttl_s * 1000);
    const char *argv[] = {"SET", name, val, "PX", px};
    const size_t lens[] = {3, cache_name(name, key, klen), vlen, 2, (size_t)n};
    if (!rlink_command(f->link, NULL, NULL, 5, argv, lens)) f->st.cache_stores++;
}

/* ---- rate limits ---- */

static void on_rate(void *arg, const redisReply *r)
{
    call *c = arg;
    fleet *f = c->f;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER) {
        f->st.rate_unanswered++;
        if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8))
            load_script(f); /* its script cache was flushed: decided locally meanwhile */
        else if (r && r->type == REDIS_REPLY_ERROR && !f->rate_error++)
            fprintf(stderr, "glint serve: Redis rate check: %.*s (logged once)\n", (int)r->len,
                    r->str);
        c->cb.rate(c->arg, NULL);
        free(c);
        return;
    }
    f->rate_error = 0;
    ratelimit_verdict v;
    long long ahead = r->element[1]->integer;
    ratelimit_verdict_of(r->element[0]->integer == 1, ahead > 0 ? (uint64_t)ahead * 1000u : 0,
                         (uint64_t)(c->interval_us * 1000.0), c->burst, &v);
    c->cb.rate(c->arg, &v);
    free(c);
}

int fleet_rate_check(fleet *f, const char *client, size_t len, double rps, int burst,
                     fleet_rate_cb cb, void *arg)
{
    char name[RATELIMIT_KEY_MAX + 16], t[32], tau[32];
    if (!f || !rlink_up(f->link) || rps <= 0 || burst < 1) return -1;
    call *c = calloc(1, sizeof *c);
    if (!c) return -1;
    *c = (call){.f = f, .cb.rate = cb, .arg = arg, .interval_us = 1e6 / rps, .burst = burst};
    size_t cl = len < RATELIMIT_KEY_MAX ? len : RATELIMIT_KEY_MAX;
    memcpy(name, "glint:rl:", 9);
    memcpy(name + 9, client, cl);
    int tn = snprintf(t, sizeof t, "%.0f", c->interval_us);
    int taun = snprintf(tau, sizeof tau, "%.0f", c->interval_us * (burst - 1));
    int sha = f->gcra_sha[0] != 0; /* the script's 40-byte name, not its 600 bytes */
    const char *argv[] = {
        sha ? "EVALSHA" : "EVAL", sha ? f->gcra_sha : gcra_script, "1", name, t, tau};
    const size_t lens[] = {sha ? 7u : 4u, sha ? 40u : sizeof gcra_script - 1, 1, cl + 9, (size_t)tn,
                           (size_t)taun};
    f->st.rate_checks++;
    if (rlink_command(f->link, on_rate, c, 6, argv, lens)) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- the fleet ---- */

fleet *fleet_create(h2o_loop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                    int timeout_ms, char *err, size_t err_size)
{
    fleet *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    f->replicas = 1;
    if (getrandom(f->my_key, sizeof f->my_key, 0) != (ssize_t)sizeof f->my_key) {
        snprintf(err, err_size, "no random bytes for the digest key");
        free(f);
        return NULL;
    }
    char host[64] = "glint";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = 0;
    snprintf(f->id, sizeof f->id, "%s:%d:%02x%02x%02x%02x", host, (int)getpid(), f->my_key[0],
             f->my_key[1], f->my_key[2], f->my_key[3]);
    if (!(f->link = rlink_create(loop, resolver, url, timeout_ms, on_up, f, err, err_size))) {
        free(f);
        return NULL;
    }
    return f;
}

void fleet_free(fleet *f)
{
    if (!f) return;
    rlink_free(f->link);
    free(f);
}

int fleet_up(const fleet *f)
{
    return f && rlink_up(f->link);
}

int fleet_digest_key(const fleet *f, uint8_t key[16])
{
    if (!f || !f->key_known) return 0;
    memcpy(key, f->key, 16);
    return 1;
}

void fleet_get_stats(const fleet *f, fleet_stats *out)
{
    *out = f->st;
    rlink_stats ls;
    rlink_get_stats(f->link, &ls);
    out->commands = ls.commands;
    out->timeouts = ls.timeouts;
    out->errors = ls.errors;
    out->connects = ls.connects;
    out->failures = ls.failures;
    out->up = ls.up;
    out->replicas = f->replicas;
    out->key_known = f->key_known;
}
