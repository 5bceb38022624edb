/* Per-client rate limits with GCRA (ratelimit.h). */
#include "serve/core/ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint64_t hash; /* 0: empty */
    uint64_t tat;  /* theoretical arrival time of the next request, ns */
    uint8_t len;
    char key[RATELIMIT_KEY_MAX];
} slot;

struct ratelimit {
    uint64_t interval;  /* ns between requests at the rate */
    uint64_t tolerance; /* (burst - 1) x interval: how far ahead tat may run */
    int burst;
    slot *slots;
    size_t mask; /* capacity - 1 */
    int n;
};

/* FNV-1a, never 0. */
static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
    return h ? h : 1;
}

ratelimit *ratelimit_create(double rps, int burst, int capacity)
{
    if (!(rps > 0) || burst < 1 || capacity < 16) return NULL;
    ratelimit *r = calloc(1, sizeof *r);
    size_t cap = 16;
    while (cap < (size_t)capacity)
        cap *= 2;
    if (!r || !(r->slots = calloc(cap, sizeof *r->slots))) {
        free(r);
        return NULL;
    }
    r->mask = cap - 1;
    r->interval = (uint64_t)llround(1e9 / rps);
    if (!r->interval) r->interval = 1;
    r->burst = burst;
    r->tolerance = (uint64_t)(burst - 1) * r->interval;
    return r;
}

void ratelimit_free(ratelimit *r)
{
    if (!r) return;
    free(r->slots);
    free(r);
}

int ratelimit_clients(const ratelimit *r)
{
    return r->n;
}

/* Re-inserts every slot whose client still owes time (tat > now): the
 * others are as good as new. */
static void forget_passed(ratelimit *r, uint64_t now)
{
    size_t cap = r->mask + 1;
    slot *old = r->slots;
    slot *fresh = calloc(cap, sizeof *fresh);
    if (!fresh) return;
    r->slots = fresh;
    r->n = 0;
    for (size_t i = 0; i < cap; i++) {
        if (!old[i].hash || old[i].tat <= now) continue;
        size_t j = old[i].hash & r->mask;
        while (fresh[j].hash)
            j = (j + 1) & r->mask;
        fresh[j] = old[i];
        r->n++;
    }
    free(old);
}

/* The slot of key: found, or a new one (NULL if the table is full of
 * clients that still owe time: then the one owing least is reused). */
static slot *find(ratelimit *r, const char *key, size_t len, uint64_t now)
{
    uint64_t h = hash_key(key, len);
    size_t kl = len < RATELIMIT_KEY_MAX ? len : RATELIMIT_KEY_MAX;
    for (int pass = 0; pass < 2; pass++) {
        size_t i = h & r->mask;
        for (size_t probes = 0; probes <= r->mask; probes++, i = (i + 1) & r->mask) {
            slot *s = &r->slots[i];
            if (s->hash == h && s->len == kl && !memcmp(s->key, key, kl)) return s;
            if (!s->hash) {
                if (!pass && (size_t)r->n * 4 >= (r->mask + 1) * 3) break; /* 75%: make room */
                s->hash = h;
                s->len = (uint8_t)kl;
                memcpy(s->key, key, kl);
                s->tat = now;
                r->n++;
                return s;
            }
        }
        forget_passed(r, now);
    }
    /* still full: every client owes time; the one owing least goes */
    slot *least = &r->slots[0];
    for (size_t i = 1; i <= r->mask; i++)
        if (r->slots[i].tat < least->tat) least = &r->slots[i];
    /* it keeps its place (probe chains stay intact): only its key changes */
    least->hash = h;
    least->len = (uint8_t)kl;
    memcpy(least->key, key, kl);
    least->tat = now;
    return least;
}

void ratelimit_verdict_of(int allowed, uint64_t ahead_ns, uint64_t interval_ns, int burst,
                          ratelimit_verdict *v)
{
    uint64_t tolerance = (uint64_t)(burst - 1) * interval_ns;
    v->allowed = allowed;
    v->limit = burst;
    v->reset_s = (double)ahead_ns / 1e9;
    if (!allowed) {
        v->remaining = 0;
        v->retry_after_s = ahead_ns > tolerance ? (double)(ahead_ns - tolerance) / 1e9 : 0;
        return;
    }
    v->retry_after_s = 0;
    uint64_t room = tolerance + interval_ns;
    v->remaining = interval_ns && ahead_ns <= room ? (int)((room - ahead_ns) / interval_ns) : 0;
}

void ratelimit_check(ratelimit *r, const char *key, size_t len, uint64_t now_ns,
                     ratelimit_verdict *v)
{
    slot *s = find(r, key, len, now_ns);
    uint64_t tat = s->tat > now_ns ? s->tat : now_ns;
    if (tat - now_ns > r->tolerance) { /* a request now would run past the burst */
        ratelimit_verdict_of(0, tat - now_ns, r->interval, r->burst, v);
        return;
    }
    s->tat = tat + r->interval;
    ratelimit_verdict_of(1, s->tat - now_ns, r->interval, r->burst, v);
}

void ratelimit_set_rate(ratelimit *r, double rps, int burst)
{
    if (!(rps > 0) || burst < 1) return;
    r->interval = (uint64_t)llround(1e9 / rps);
    if (!r->interval) r->interval = 1;
    r->burst = burst;
    r->tolerance = (uint64_t)(burst - 1) * r->interval;
}
