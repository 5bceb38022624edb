/* cache: the server's response cache and the digest that names its entries.
 *
 * resp_cache is an LRU cache of opaque value bytes under opaque keys, bounded
 * in total bytes and with a time to live:
 *   - get and put are O(1) on average: a hash table (chains, keyed SipHash
 *     of the key, so that request-derived keys cannot be made to collide)
 *     plus a doubly linked recency list;
 *   - every entry expires ttl_ns after it was put (a hit does not extend it;
 *     an expiry time past UINT64_MAX saturates to "never");
 *     an expired entry is never returned: it is dropped when touched, and
 *     expired entries are dropped before any live entry is evicted;
 *   - the byte bound counts what the cache allocates: per entry
 *     resp_cache_entry_bytes(klen, vlen) (the key, the value and
 *     RESP_CACHE_ENTRY_OVERHEAD bytes of links and bookkeeping), plus 8 bytes
 *     per hash bucket. The bucket array starts at RESP_CACHE_MIN_BUCKETS and
 *     doubles when an insertion would leave more entries than buckets; that
 *     growth is paid for like an entry (least recently used entries are
 *     evicted to make room). malloc's own per-block headers are not counted.
 *     stats.bytes <= max_bytes always holds;
 *   - an entry larger than max_bytes / RESP_CACHE_ENTRY_FRACTION is refused,
 *     so one response cannot flush the cache.
 * Time is whatever the caller passes as now_ns (a monotonic clock; tests use
 * a fake one). If it goes backwards entries just live longer.
 *
 * Typical use (the response is stored as one value, e.g. a small header with
 * the content type followed by the body, via resp_cache_putv):
 *
 *     uint8_t key[16];
 *     cache_digest(image, image_len, key);      // any thread
 *     ...                                       // event-loop thread:
 *     if (resp_cache_get(c, key, 16, now, &v, &vlen)) answer from a copy of v
 *     else { run the model; resp_cache_putv(c, key, 16, iov, 2, now); }
 *
 * Thread-safety: a resp_cache belongs to one thread (the event loop); no call
 * takes a lock, so every call on one cache, resp_cache_get_stats() included,
 * must come from that thread. cache_digest() and cache_siphash() are
 * reentrant and may be called from any thread.
 */
#ifndef GLINT_SERVE_CACHE_H
#define GLINT_SERVE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "serve/core/status.h"

#define RESP_CACHE_MIN_BYTES 4096 /* smallest max_bytes accepted */
#define RESP_CACHE_ENTRY_FRACTION 8
#define RESP_CACHE_ENTRY_OVERHEAD 72 /* bytes per entry besides key and value */
#define RESP_CACHE_MIN_BUCKETS 16

typedef struct resp_cache resp_cache;

typedef struct resp_cache_stats {
    uint64_t hits;         /* gets that returned a value */
    uint64_t misses;       /* gets that did not (absent or expired) */
    uint64_t insertions;   /* successful puts, replacements included */
    uint64_t replacements; /* puts that replaced a live entry of the same key */
    uint64_t evictions;    /* live entries dropped to make room */
    uint64_t expirations;  /* expired entries dropped */
    uint64_t refused;      /* puts refused as too big */
    size_t bytes;          /* entries + bucket array, as described above */
    size_t entries;
    size_t buckets;
    size_t max_bytes;
} resp_cache_stats;

/* Creates an empty cache of at most max_bytes (>= RESP_CACHE_MIN_BYTES)
 * whose entries live ttl_ns nanoseconds (0: no expiry). Returns NULL if
 * max_bytes is too small or memory is short. Free with resp_cache_destroy(). */
resp_cache *resp_cache_create(size_t max_bytes, uint64_t ttl_ns);

/* Frees the cache and every entry. Accepts NULL. */
void resp_cache_destroy(resp_cache *c);

/* Looks `key` up (klen bytes; key may be NULL when klen is 0). On a hit
 * returns 1, makes the entry the most recently used and sets *val (8-byte
 * aligned) and *vlen; the bytes belong to the cache and stay valid until the
 * next resp_cache_* call on this cache other than resp_cache_get_stats()
 * (copy them before handing them to anything asynchronous). On a miss
 * (absent, expired, or bad arguments) returns 0 with *val = NULL, *vlen = 0.
 * An expired entry found here is dropped. */
int resp_cache_get(resp_cache *c, const void *key, size_t klen, uint64_t now_ns, const void **val,
                   size_t *vlen);

/* Stores a copy of (key, value), valid until now_ns + ttl, as the most
 * recently used entry, replacing any entry of the same key. Drops expired
 * entries, then evicts least recently used ones until the entry fits. On
 * SERVE_ERR_LIMIT or _NOMEM nothing new is stored and an existing
 * entry of the same key is removed all the same (the caller meant to
 * replace it). SERVE_ERR_INVALID changes nothing. */
serve_status resp_cache_put(resp_cache *c, const void *key, size_t klen, const void *val,
                            size_t vlen, uint64_t now_ns);

/* resp_cache_put() of a value given in pieces, stored concatenated
 * (0 <= iovcnt <= 16). */
serve_status resp_cache_putv(resp_cache *c, const void *key, size_t klen, const struct iovec *iov,
                             int iovcnt, uint64_t now_ns);

/* Removes `key` if present; returns 1 if an entry was removed. */
int resp_cache_remove(resp_cache *c, const void *key, size_t klen);

/* Removes every entry (e.g. after a model reload). Counters are kept. */
void resp_cache_clear(resp_cache *c);

/* Drops every expired entry now (put and get already do this). */
void resp_cache_expire(resp_cache *c, uint64_t now_ns);

/* Copies the counters and sizes. */
void resp_cache_get_stats(const resp_cache *c, resp_cache_stats *out);

/* Bytes an entry of this key and value length is charged,
 * RESP_CACHE_ENTRY_OVERHEAD + klen + vlen, or SIZE_MAX on overflow. */
size_t resp_cache_entry_bytes(size_t klen, size_t vlen);

/* ---- digest ---- */

/* 128-bit keyed digest of `len` bytes at `data` (any length, 0 included,
 * any alignment; data may be NULL when len is 0): SipHash-1-3 in its 128-bit
 * output mode under a 128-bit key drawn once per process from getrandom()
 * (on the first call; /dev/urandom if getrandom is unavailable). Digests are
 * therefore not stable across processes, and nobody without the key can
 * craft two inputs with equal digests. Speed: about 4.5 GB/s on one core
 * (x86-64, 64 KB..1 MB inputs), i.e. ~0.25 ms for a 1 MB image. Any thread. */
void cache_digest(const void *data, size_t len, uint8_t out[16]);

/* SipHash-c-d (c_rounds, d_rounds >= 1) of data under `key`, with 8 or 16
 * bytes of output (outlen; the 16-byte form is SipHash's 128-bit mode),
 * written little-endian as in the reference implementation; any other
 * outlen writes nothing. The primitive under cache_digest(), exposed for
 * test vectors. */
void cache_siphash(const uint8_t key[16], int c_rounds, int d_rounds, const void *data, size_t len,
                   uint8_t *out, size_t outlen);

#endif
