/* cache: byte-bounded LRU response cache with a TTL, and the keyed SipHash
 * digest that names its entries (see cache.h).
 *
 * Layout: every entry is one malloc block (links, then the value, then the
 * key). It sits on three lists: its hash chain (singly linked), the recency
 * list (head = most recently used, tail = next victim) and the age list
 * (insertion order, head = oldest). With one TTL for all entries the age
 * list is also expiry order, so expired entries are found at its head in
 * O(1). */
#include "cache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- SipHash ---- */

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3)                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = ROTL64(v1, 13);                                                                       \
        v1 ^= v0;                                                                                  \
        v0 = ROTL64(v0, 32);                                                                       \
        v2 += v3;                                                                                  \
        v3 = ROTL64(v3, 16);                                                                       \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = ROTL64(v3, 21);                                                                       \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = ROTL64(v1, 17);                                                                       \
        v1 ^= v2;                                                                                  \
        v2 = ROTL64(v2, 32);                                                                       \
    } while (0)

static inline uint64_t load64_le(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline void store64_le(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof v);
}

/* SipHash-c-d of in[0..len) under (k0, k1); out[0] (and out[1] in the
 * 128-bit mode) receive the output words. Inlined into each caller so that
 * constant round counts unroll. */
static inline __attribute__((always_inline)) void siphash_words(uint64_t k0, uint64_t k1, int c,
                                                                int d, const unsigned char *in,
                                                                size_t len, int out128,
                                                                uint64_t out[2])
{
    uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
    uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
    uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
    uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
    if (out128) v1 ^= 0xee;
    size_t i = 0;
    for (; len - i >= 8; i += 8) {
        uint64_t m = load64_le(in + i);
        v3 ^= m;
        for (int r = 0; r < c; r++)
            SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    unsigned char tail[8] = {0};
    if (len - i > 0) memcpy(tail, in + i, len - i);
    uint64_t b = ((uint64_t)len << 56) | load64_le(tail);
    v3 ^= b;
    for (int r = 0; r < c; r++)
        SIPROUND(v0, v1, v2, v3);
    v0 ^= b;
    v2 ^= out128 ? 0xee : 0xff;
    for (int r = 0; r < d; r++)
        SIPROUND(v0, v1, v2, v3);
    out[0] = v0 ^ v1 ^ v2 ^ v3;
    if (!out128) return;
    v1 ^= 0xdd;
    for (int r = 0; r < d; r++)
        SIPROUND(v0, v1, v2, v3);
    out[1] = v0 ^ v1 ^ v2 ^ v3;
}

void cache_siphash(const uint8_t key[16], int c_rounds, int d_rounds, const void *data, size_t len,
                   uint8_t *out, size_t outlen)
{
    if (outlen != 8 && outlen != 16) return;
    uint64_t w[2];
    siphash_words(load64_le(key), load64_le(key + 8), c_rounds, d_rounds, data, len, outlen == 16,
                  w);
    store64_le(out, w[0]);
    if (outlen == 16) store64_le(out + 8, w[1]);
}

/* ---- the per-process key ---- */

/* Words 0-1: the digest key; words 2-3: the hash-table key. */
static uint64_t process_key[4];
static pthread_once_t process_key_once = PTHREAD_ONCE_INIT;

/* Fills buf with n random bytes from getrandom(), else /dev/urandom.
 * Returns 0 on success. */
static int os_random(void *buf, size_t n)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(p + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got == n) return 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

static void process_key_init(void)
{
    if (os_random(process_key, sizeof process_key) == 0) return;
    /* No kernel randomness at all (no getrandom, no /dev/urandom): fall back
     * to what varies per process (time, pid, addresses under ASLR). Weak, but
     * still unknown to a remote client. */
    struct timespec ts[2];
    clock_gettime(CLOCK_REALTIME, &ts[0]);
    clock_gettime(CLOCK_MONOTONIC, &ts[1]);
    uint64_t seed[4] = {(uint64_t)ts[0].tv_nsec ^ ((uint64_t)ts[0].tv_sec << 30),
                        (uint64_t)ts[1].tv_nsec ^ ((uint64_t)getpid() << 32),
                        (uint64_t)(uintptr_t)&ts, (uint64_t)(uintptr_t)&process_key_init};
    for (int i = 0; i < 4; i++)
        siphash_words(seed[i], seed[(i + 1) & 3], 2, 4, (const unsigned char *)seed, sizeof seed, 0,
                      &process_key[i]);
}

static const uint64_t *keys(void)
{
    pthread_once(&process_key_once, process_key_init);
    return process_key;
}

void cache_digest(const void *data, size_t len, uint8_t out[16])
{
    const uint64_t *k = keys();
    uint64_t w[2];
    siphash_words(k[0], k[1], 1, 3, data, len, 1, w);
    store64_le(out, w[0]);
    store64_le(out + 8, w[1]);
}

/* ---- the LRU cache ---- */

typedef struct rc_entry rc_entry;
struct rc_entry {
    rc_entry *hnext;               /* hash chain */
    rc_entry *lru_prev, *lru_next; /* recency list: head = most recent */
    rc_entry *age_prev, *age_next; /* insertion order: head = oldest */
    uint64_t hash;
    uint64_t expires_ns; /* UINT64_MAX: never */
    size_t klen, vlen;
    unsigned char bytes[]; /* value (8-byte aligned), then key */
};

_Static_assert(sizeof(rc_entry) == RESP_CACHE_ENTRY_OVERHEAD, "update RESP_CACHE_ENTRY_OVERHEAD");
_Static_assert(offsetof(rc_entry, bytes) % 8 == 0, "values must stay 8-byte aligned");

#define RC_MAX_BUCKETS ((size_t)1 << 30)
#define RC_MAX_IOV 16

/* A doubly linked list through one pair of links of rc_entry. */
typedef struct rc_list {
    rc_entry *head, *tail;
} rc_list;

struct resp_cache {
    rc_entry **table;
    size_t nbuckets; /* power of two */
    rc_list lru;
    rc_list age;
    size_t max_bytes;
    size_t max_entry;
    uint64_t ttl_ns;
    uint64_t hkey0, hkey1;
    resp_cache_stats st;
};

size_t resp_cache_entry_bytes(size_t klen, size_t vlen)
{
    if (klen > SIZE_MAX - RESP_CACHE_ENTRY_OVERHEAD ||
        vlen > SIZE_MAX - RESP_CACHE_ENTRY_OVERHEAD - klen)
        return SIZE_MAX;
    return RESP_CACHE_ENTRY_OVERHEAD + klen + vlen;
}

static size_t entry_bytes(const rc_entry *e)
{
    return RESP_CACHE_ENTRY_OVERHEAD + e->klen + e->vlen;
}

static const unsigned char *entry_key(const rc_entry *e)
{
    return e->bytes + e->vlen;
}

/* List operations, parameterised by which links: lru (0) or age (1). */
static rc_entry **link_prev(rc_entry *e, int which)
{
    return which ? &e->age_prev : &e->lru_prev;
}

static rc_entry **link_next(rc_entry *e, int which)
{
    return which ? &e->age_next : &e->lru_next;
}

static void list_unlink(rc_list *l, rc_entry *e, int which)
{
    rc_entry *prev = *link_prev(e, which), *next = *link_next(e, which);
    if (prev)
        *link_next(prev, which) = next;
    else
        l->head = next;
    if (next)
        *link_prev(next, which) = prev;
    else
        l->tail = prev;
    *link_prev(e, which) = *link_next(e, which) = NULL;
}

/* For the lru list: push at the head (most recent). */
static void list_push_head(rc_list *l, rc_entry *e, int which)
{
    *link_prev(e, which) = NULL;
    *link_next(e, which) = l->head;
    if (l->head)
        *link_prev(l->head, which) = e;
    else
        l->tail = e;
    l->head = e;
}

/* For the age list: append at the tail (newest). */
static void list_push_tail(rc_list *l, rc_entry *e, int which)
{
    *link_next(e, which) = NULL;
    *link_prev(e, which) = l->tail;
    if (l->tail)
        *link_next(l->tail, which) = e;
    else
        l->head = e;
    l->tail = e;
}

static uint64_t key_hash(const resp_cache *c, const void *key, size_t klen)
{
    uint64_t h[2];
    siphash_words(c->hkey0, c->hkey1, 1, 3, key, klen, 0, h);
    return h[0];
}

resp_cache *resp_cache_create(size_t max_bytes, uint64_t ttl_ns)
{
    if (max_bytes < RESP_CACHE_MIN_BYTES) return NULL;
    resp_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->nbuckets = RESP_CACHE_MIN_BUCKETS;
    c->table = calloc(c->nbuckets, sizeof *c->table);
    if (!c->table) {
        free(c);
        return NULL;
    }
    c->max_bytes = max_bytes;
    c->max_entry = max_bytes / RESP_CACHE_ENTRY_FRACTION;
    c->ttl_ns = ttl_ns;
    const uint64_t *k = keys();
    c->hkey0 = k[2];
    c->hkey1 = k[3];
    c->st.bytes = c->nbuckets * sizeof *c->table;
    c->st.buckets = c->nbuckets;
    c->st.max_bytes = max_bytes;
    return c;
}

/* Frees every entry; the table is left empty. */
static void free_entries(resp_cache *c)
{
    rc_entry *e = c->lru.head;
    while (e) {
        rc_entry *next = e->lru_next;
        free(e);
        e = next;
    }
    memset(c->table, 0, c->nbuckets * sizeof *c->table);
    c->lru.head = c->lru.tail = c->age.head = c->age.tail = NULL;
    c->st.entries = 0;
    c->st.bytes = c->nbuckets * sizeof *c->table;
}

void resp_cache_destroy(resp_cache *c)
{
    if (!c) return;
    free_entries(c);
    free(c->table);
    free(c);
}

void resp_cache_clear(resp_cache *c)
{
    if (c) free_entries(c);
}

static rc_entry *find(const resp_cache *c, const void *key, size_t klen, uint64_t hash)
{
    for (rc_entry *e = c->table[hash & (c->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == hash && e->klen == klen && (klen == 0 || !memcmp(entry_key(e), key, klen)))
            return e;
    return NULL;
}

/* Unlinks e from everything and frees it. */
static void drop(resp_cache *c, rc_entry *e)
{
    rc_entry **pp = &c->table[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    list_unlink(&c->lru, e, 0);
    list_unlink(&c->age, e, 1);
    c->st.bytes -= entry_bytes(e);
    c->st.entries--;
    free(e);
}

static int expired(const rc_entry *e, uint64_t now_ns)
{
    return e->expires_ns != UINT64_MAX && now_ns >= e->expires_ns;
}

void resp_cache_expire(resp_cache *c, uint64_t now_ns)
{
    if (!c) return;
    while (c->age.head && expired(c->age.head, now_ns)) {
        drop(c, c->age.head);
        c->st.expirations++;
    }
}

int resp_cache_get(resp_cache *c, const void *key, size_t klen, uint64_t now_ns, const void **val,
                   size_t *vlen)
{
    if (val) *val = NULL;
    if (vlen) *vlen = 0;
    if (!c || !val || !vlen || (!key && klen > 0)) return 0;
    resp_cache_expire(c, now_ns);
    rc_entry *e = find(c, key, klen, key_hash(c, key, klen));
    if (e && expired(e, now_ns)) { /* possible when the clock went backwards before */
        drop(c, e);
        c->st.expirations++;
        e = NULL;
    }
    if (!e) {
        c->st.misses++;
        return 0;
    }
    list_unlink(&c->lru, e, 0);
    list_push_head(&c->lru, e, 0);
    c->st.hits++;
    *val = e->bytes;
    *vlen = e->vlen;
    return 1;
}

int resp_cache_remove(resp_cache *c, const void *key, size_t klen)
{
    if (!c || (!key && klen > 0)) return 0;
    rc_entry *e = find(c, key, klen, key_hash(c, key, klen));
    if (!e) return 0;
    drop(c, e);
    return 1;
}

/* Bytes the bucket array would grow by to take one more entry (0 if no
 * growth is due or possible). */
static size_t growth_due(const resp_cache *c)
{
    if (c->st.entries + 1 <= c->nbuckets || c->nbuckets >= RC_MAX_BUCKETS) return 0;
    return c->nbuckets * sizeof *c->table;
}

/* Doubles the bucket array; on allocation failure keeps the old one (chains
 * just get longer). */
static void grow_table(resp_cache *c)
{
    size_t n = c->nbuckets * 2;
    rc_entry **t = calloc(n, sizeof *t);
    if (!t) return;
    for (size_t i = 0; i < c->nbuckets; i++) {
        rc_entry *e = c->table[i];
        while (e) {
            rc_entry *next = e->hnext;
            rc_entry **slot = &t[e->hash & (n - 1)];
            e->hnext = *slot;
            *slot = e;
            e = next;
        }
    }
    free(c->table);
    c->st.bytes += (n - c->nbuckets) * sizeof *t;
    c->table = t;
    c->nbuckets = n;
    c->st.buckets = n;
}

/* Evicts least recently used entries until `need` more bytes (plus any due
 * table growth) fit. Returns 1 if they do. Expired entries are gone already. */
static int make_room(resp_cache *c, size_t need)
{
    for (;;) {
        size_t grow = growth_due(c);
        if (c->st.bytes <= c->max_bytes && need + grow <= c->max_bytes - c->st.bytes) return 1;
        if (!c->lru.tail) return 0; /* empty, so no growth is due: need alone does not fit */
        drop(c, c->lru.tail);
        c->st.evictions++;
    }
}

serve_status resp_cache_putv(resp_cache *c, const void *key, size_t klen, const struct iovec *iov,
                             int iovcnt, uint64_t now_ns)
{
    if (!c || (!key && klen > 0) || iovcnt < 0 || iovcnt > RC_MAX_IOV || (iovcnt > 0 && !iov))
        return SERVE_ERR_INVALID;
    size_t vlen = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_base && iov[i].iov_len > 0) return SERVE_ERR_INVALID;
        if (iov[i].iov_len > SIZE_MAX - vlen) return SERVE_ERR_LIMIT;
        vlen += iov[i].iov_len;
    }
    uint64_t hash = key_hash(c, key, klen);
    rc_entry *old = find(c, key, klen, hash);
    int replacing = old && !expired(old, now_ns);
    if (old) drop(c, old);
    if (old && !replacing) c->st.expirations++;
    resp_cache_expire(c, now_ns);

    size_t cost = resp_cache_entry_bytes(klen, vlen);
    if (cost > c->max_entry) {
        c->st.refused++;
        return SERVE_ERR_LIMIT;
    }
    if (!make_room(c, cost))
        return SERVE_ERR_LIMIT; /* only if the bucket array alone fills the cache */
    rc_entry *e = malloc(cost);
    if (!e) return SERVE_ERR_NOMEM;
    if (growth_due(c)) /* make_room() left room for it */
        grow_table(c);

    e->hash = hash;
    e->klen = klen;
    e->vlen = vlen;
    e->expires_ns =
        c->ttl_ns == 0 || now_ns > UINT64_MAX - c->ttl_ns ? UINT64_MAX : now_ns + c->ttl_ns;
    size_t off = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (iov[i].iov_len > 0) memcpy(e->bytes + off, iov[i].iov_base, iov[i].iov_len);
        off += iov[i].iov_len;
    }
    if (klen > 0) memcpy(e->bytes + vlen, key, klen);
    rc_entry **slot = &c->table[hash & (c->nbuckets - 1)];
    e->hnext = *slot;
    *slot = e;
    list_push_head(&c->lru, e, 0);
    list_push_tail(&c->age, e, 1);
    c->st.bytes += cost;
    c->st.entries++;
    c->st.insertions++;
    if (replacing) c->st.replacements++;
    return SERVE_OK;
}

serve_status resp_cache_put(resp_cache *c, const void *key, size_t klen, const void *val,
                            size_t vlen, uint64_t now_ns)
{
    struct iovec iov = {(void *)(uintptr_t)val, vlen};
    return resp_cache_putv(c, key, klen, &iov, 1, now_ns);
}

void resp_cache_get_stats(const resp_cache *c, resp_cache_stats *out)
{
    if (!c || !out) {
        if (out) memset(out, 0, sizeof *out);
        return;
    }
    *out = c->st;
}
