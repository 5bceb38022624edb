/* Unit tests of src/serve/cache: the LRU response cache (recency order, the
 * byte bound with its overhead and bucket array, TTL with a fake clock,
 * expired-before-live eviction, replacement, refusal of oversized entries,
 * statistics, and 200000 random operations checked against a simple model
 * written here) and the keyed digest (SipHash reference vectors, per-process
 * keys, any length and alignment). Expected sizes follow the accounting
 * rules stated in cache.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve/core/cache.h"

/* SipHash-2-4 reference vectors (github.com/veorq/SipHash vectors.h, CC0):
 * key 00..0f, message 00..len-1, output bytes in hex. */
static const char *const sip24_64[64] = {
    "310e0edd47db6f72", "fd67dc93c539f874", "5a4fa9d909806c0d", "2d7efbd796666785",
    "b7877127e09427cf", "8da699cd64557618", "cee3fe586e46c9cb", "37d1018bf50002ab",
    "6224939a79f5f593", "b0e4a90bdf82009e", "f3b9dd94c5bb5d7a", "a7ad6b22462fb3f4",
    "fbe50e86bc8f1e75", "903d84c02756ea14", "eef27a8e90ca23f7", "e545be4961ca29a1",
    "db9bc2577fcc2a3f", "9447be2cf5e99a69", "9cd38d96f0b3c14b", "bd6179a71dc96dbb",
    "98eea21af25cd6be", "c7673b2eb0cbf2d0", "883ea3e395675393", "c8ce5ccd8c030ca8",
    "94af49f6c650adb8", "eab8858ade92e1bc", "f315bb5bb835d817", "adcf6b0763612e2f",
    "a5c91da7acaa4dde", "716595876650a2a6", "28ef495c53a387ad", "42c341d8fa92d832",
    "ce7cf2722f512771", "e37859f94623f3a7", "381205bb1ab0e012", "ae97a10fd434e015",
    "b4a31508beff4d31", "81396229f0907902", "4d0cf49ee5d4dcca", "5c73336a76d8bf9a",
    "d0a704536ba93e0e", "925958fcd6420cad", "a915c29bc8067318", "952b79f3bc0aa6d4",
    "f21df2e41d4535f9", "87577519048f53a9", "10a56cf5dfcd9adb", "eb75095ccd986cd0",
    "51a9cb9ecba312e6", "96afadfc2ce666c7", "72fe52975a4364ee", "5a1645b276d592a1",
    "b274cb8ebf87870a", "6f9bb4203de7b381", "eaecb2a30b22a87f", "9924a43cc1315724",
    "bd838d3aafbf8db7", "0b1a2a3265d51aea", "135079a3231ce660", "932b2846e4d70666",
    "e1915f5cb1eca46c", "f325965ca16d629f", "575ff28e60381be5", "724506eb4c328a95",
};
static const char *const sip24_128[64] = {
    "a3817f04ba25a8e66df67214c7550293", "da87c1d86b99af44347659119b22fc45",
    "8177228da4a45dc7fca38bdef60affe4", "9c70b60c5267a94e5f33b6b02985ed51",
    "f88164c12d9c8faf7d0f6e7c7bcd5579", "1368875980776f8854527a07690e9627",
    "14eeca338b208613485ea0308fd7a15e", "a1f1ebbed8dbc153c0b84aa61ff08239",
    "3b62a9ba6258f5610f83e264f31497b4", "264499060ad9baabc47f8b02bb6d71ed",
    "00110dc378146956c95447d3f3d0fbba", "0151c568386b6677a2b4dc6f81e5dc18",
    "d626b266905ef35882634df68532c125", "9869e247e9c08b10d029934fc4b952f7",
    "31fcefac66d7de9c7ec7485fe4494902", "5493e99933b0a8117e08ec0f97cfc3d9",
    "6ee2a4ca67b054bbfd3315bf85230577", "473d06e8738db89854c066c47ae47740",
    "a426e5e423bf4885294da481feaef723", "78017731cf65fab074d5208952512eb1",
    "9e25fc833f2290733e9344a5e83839eb", "568e495abe525a218a2214cd3e071d12",
    "4a29b54552d16b9a469c10528eff0aae", "c9d184ddd5a9f5e0cf8ce29a9abf691c",
    "2db479ae78bd50d8882a8a178a6132ad", "8ece5f042d5e447b5051b9eacb8d8f6f",
    "9c0b53b4b3c307e87eaee08678141f66", "abf248af69a6eae4bfd3eb2f129eeb94",
    "0664da1668574b88b935f3027358aef4", "aa4b9dc4bf337de90cd4fd3c467c6ab7",
    "ea5c7f471faf6bde2b1ad7d4686d2287", "2939b0183223fafc1723de4f52c43d35",
    "7c3956ca5eeafc3e363e9d556546eb68", "77c6077146f01c32b6b69d5f4ea9ffcf",
    "37a6986cb8847edf0925f0f1309b54de", "a705f0e69da9a8f907241a2e923c8cc8",
    "3dc47d1f29c448461e9e76ed904f6711", "0d62bf01e6fc0e1a0d3c4751c5d3692b",
    "8c03468bca7c669ee4fd5e084bbee7b5", "528a5bb93baf2c9c4473cce5d0d22bd9",
    "df6a301e95c95dad97ae0cc8c6913bd8", "801189902c857f39e73591285e70b6db",
    "e617346ac9c231bb3650ae34ccca0c5b", "27d93437efb721aa401821dcec5adf89",
    "89237d9ded9c5e78d8b1c9b166cc7342", "4a6d8091bf5e7d651189fa94a250b14c",
    "0e33f96055e7ae893ffc0e3dcf492902", "e61c432b720b19d18ec8d84bdc63151b",
    "f7e5aef549f782cf379055a608269b16", "438d030fd0b7a54fa837f2ad201a6403",
    "a590d3ee4fbf04e3247e0d27f286423f", "5fe2c1a172fe93c4b15cd37caef9f538",
    "2c97325cbd06b36eb2133dd08b3a017c", "92c814227a6bca949ff0659f002ad39e",
    "dce850110bd8328cfbd50841d6911d87", "67f14984c7da791248e32bb5922583da",
    "1938f2cf72d54ee97e94166fa91d2a36", "74481e9646ed49fe0f6224301604698e",
    "57fca5de98a9d6d8006438d0583d8a1d", "9fecde1cefdc1cbed4763674d9575359",
    "e3040c00eb28f15366ca73cbd872e740", "7697009a6a831dfecca91c5993670f7a",
    "5853542321f567a005d547a4f04759bd", "5150d1772f50834a503e069a973fbd7c",
};

/* SipHash-1-3, same key and messages, from the reference siphash.c built with
 * -DcROUNDS=1 -DdROUNDS=3. */
static const struct {
    size_t len;
    const char *out64, *out128;
} sip13[] = {
    {0, "dcc40f055801acab", "e77ebcb22788a5befd62db6add303001"},
    {1, "93ca577df39bf4c9", "fc6f370460d3eda85e0573cc2b2ff063"},
    {7, "4011b19b987d92d3", "1084b923f2aae0c3a62f2ec80848ab77"},
    {8, "8e9a298d11959036", "aa12fee1d5e3dab4724f16ab35f9c799"},
    {9, "e43d066cb38ea425", "81ddb8042cf33994f4720e0094137c42"},
    {15, "5699512a6dd820d3", "c17e5505b2bd526c2921cdec1e7e0109"},
    {16, "668b907d1add4fcc", "d0a8d95715518eebb513b0f83d9e1793"},
    {17, "0cd8db639068f29c", "234126f93fbb668d975112e8febdf7ec"},
    {31, "bcd1218c1fdd7023", "42ea961c5b3c858b17c3e550dfa79010"},
    {63, "a8b3bbb76290199d", "4c5800e34efe426f079f6b0aa75260ad"},
};

static void hex_to_bytes(const char *hex, uint8_t *out, size_t n)
{
    assert_int_equal(strlen(hex), 2 * n);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

/* ---- digest ---- */

/* Must run first: no digest or cache call may have drawn the key yet. */
static void test_digest_key_differs_per_process(void **state)
{
    (void)state;
    uint8_t got[2][16];
    for (int k = 0; k < 2; k++) {
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            uint8_t d[16];
            cache_digest("same image", 10, d);
            _exit(write(fds[1], d, 16) == 16 ? 0 : 1);
        }
        close(fds[1]);
        assert_int_equal(read(fds[0], got[k], 16), 16);
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    assert_memory_not_equal(got[0], got[1], 16);
}

static void test_siphash_vectors(void **state)
{
    (void)state;
    uint8_t key[16], msg[64], out[16], want[16];
    for (int i = 0; i < 16; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 64; i++)
        msg[i] = (uint8_t)i;
    for (size_t len = 0; len < 64; len++) {
        cache_siphash(key, 2, 4, msg, len, out, 8);
        hex_to_bytes(sip24_64[len], want, 8);
        assert_memory_equal(out, want, 8);
        cache_siphash(key, 2, 4, msg, len, out, 16);
        hex_to_bytes(sip24_128[len], want, 16);
        assert_memory_equal(out, want, 16);
    }
    for (size_t i = 0; i < sizeof sip13 / sizeof sip13[0]; i++) {
        cache_siphash(key, 1, 3, msg, sip13[i].len, out, 8);
        hex_to_bytes(sip13[i].out64, want, 8);
        assert_memory_equal(out, want, 8);
        cache_siphash(key, 1, 3, msg, sip13[i].len, out, 16);
        hex_to_bytes(sip13[i].out128, want, 16);
        assert_memory_equal(out, want, 16);
    }
    /* Only 8 or 16 bytes of output exist: other lengths write nothing. */
    memset(out, 0xaa, sizeof out);
    cache_siphash(key, 2, 4, msg, 10, out, 4);
    for (int i = 0; i < 16; i++)
        assert_int_equal(out[i], 0xaa);
    /* Empty input may be NULL. */
    cache_siphash(key, 2, 4, NULL, 0, out, 16);
    hex_to_bytes(sip24_128[0], want, 16);
    assert_memory_equal(out, want, 16);
}

static void test_digest_properties(void **state)
{
    (void)state;
    enum { N = 4099 };
    uint8_t *buf = malloc(N + 8);
    assert_non_null(buf);
    for (int i = 0; i < N + 8; i++)
        buf[i] = (uint8_t)(i * 167 + 13);
    uint8_t a[16], b[16], zero_key[16] = {0}, plain[16];
    /* Same bytes at every alignment give the same digest. */
    uint8_t *aligned = malloc(N);
    assert_non_null(aligned);
    for (int off = 1; off < 8; off++) {
        memcpy(aligned, buf + off, N - off);
        cache_digest(aligned, N - off, a);
        cache_digest(buf + off, N - off, b);
        assert_memory_equal(a, b, 16);
    }
    /* Deterministic within the process; every length differs from its
     * neighbours; one flipped bit changes the digest. */
    uint8_t prev[16];
    cache_digest(NULL, 0, prev);
    cache_digest("", 0, a);
    assert_memory_equal(prev, a, 16);
    for (size_t len = 1; len <= 200; len++) {
        cache_digest(buf, len, a);
        assert_memory_not_equal(a, prev, 16);
        memcpy(prev, a, 16);
    }
    cache_digest(buf, N, a);
    buf[N / 2] ^= 0x10;
    cache_digest(buf, N, b);
    assert_memory_not_equal(a, b, 16);
    buf[N / 2] ^= 0x10;
    cache_digest(buf, N, b);
    assert_memory_equal(a, b, 16);
    /* It is keyed: not SipHash-1-3 under an all-zero key. */
    cache_siphash(zero_key, 1, 3, buf, N, plain, 16);
    assert_memory_not_equal(a, plain, 16);
    free(aligned);
    free(buf);
}

/* ---- cache ---- */

static uint8_t vbuf[8192];

static void key_of(int id, char key[16])
{
    memset(key, 0, 16);
    snprintf(key, 16, "key-%d", id);
}

static serve_status put_id(resp_cache *c, int id, size_t vlen, uint64_t now)
{
    char key[16];
    key_of(id, key);
    memset(vbuf, id & 0xff, vlen);
    return resp_cache_put(c, key, 16, vbuf, vlen, now);
}

/* 1 if id is cached with the value put_id() stores for it. */
static int has_id(resp_cache *c, int id, uint64_t now)
{
    char key[16];
    key_of(id, key);
    const void *v;
    size_t vlen;
    if (!resp_cache_get(c, key, 16, now, &v, &vlen)) return 0;
    assert_true(((uintptr_t)v & 7) == 0);
    for (size_t i = 0; i < vlen; i++)
        assert_int_equal(((const uint8_t *)v)[i], id & 0xff);
    return 1;
}

static resp_cache_stats stats(const resp_cache *c)
{
    resp_cache_stats s;
    resp_cache_get_stats(c, &s);
    return s;
}

static void test_create_args(void **state)
{
    (void)state;
    assert_null(resp_cache_create(RESP_CACHE_MIN_BYTES - 1, 0));
    resp_cache *c = resp_cache_create(RESP_CACHE_MIN_BYTES, 0);
    assert_non_null(c);
    resp_cache_stats s = stats(c);
    assert_int_equal(s.bytes, RESP_CACHE_MIN_BUCKETS * 8);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.max_bytes, RESP_CACHE_MIN_BYTES);
    assert_int_equal(resp_cache_put(c, NULL, 3, "v", 1, 0), SERVE_ERR_INVALID);
    assert_int_equal(resp_cache_put(c, "k", 1, NULL, 3, 0), SERVE_ERR_INVALID);
    assert_int_equal(resp_cache_put(NULL, "k", 1, "v", 1, 0), SERVE_ERR_INVALID);
    assert_int_equal(resp_cache_putv(c, "k", 1, NULL, 1, 0), SERVE_ERR_INVALID);
    assert_int_equal(resp_cache_putv(c, "k", 1, NULL, 17, 0), SERVE_ERR_INVALID);
    const void *v = (const void *)1;
    size_t vlen = 5;
    assert_int_equal(resp_cache_get(c, NULL, 2, 0, &v, &vlen), 0);
    assert_null(v);
    assert_int_equal(vlen, 0);
    assert_int_equal(resp_cache_get(NULL, "k", 1, 0, &v, &vlen), 0);
    /* Empty key and empty value are fine. */
    assert_int_equal(resp_cache_put(c, NULL, 0, NULL, 0, 0), SERVE_OK);
    assert_int_equal(resp_cache_get(c, "", 0, 0, &v, &vlen), 1);
    assert_int_equal(vlen, 0);
    assert_string_equal(serve_strerror(SERVE_ERR_LIMIT), "size limit reached");
    resp_cache_destroy(c);
    resp_cache_destroy(NULL);
}

static void test_lru_order(void **state)
{
    (void)state;
    /* Entries of 16 + 100 + 72 = 188 bytes: 20 fit in 4096 (see below). */
    resp_cache *c = resp_cache_create(4096, 0);
    for (int id = 0; id < 20; id++)
        assert_int_equal(put_id(c, id, 100, 0), SERVE_OK);
    assert_int_equal(stats(c).evictions, 0);
    /* Touch 0 and 1: 2 becomes the least recently used. */
    assert_true(has_id(c, 0, 0));
    assert_true(has_id(c, 1, 0));
    assert_int_equal(put_id(c, 20, 100, 0), SERVE_OK);
    assert_false(has_id(c, 2, 0));
    assert_true(has_id(c, 0, 0));
    assert_int_equal(put_id(c, 21, 100, 0), SERVE_OK);
    assert_false(has_id(c, 3, 0));
    assert_true(has_id(c, 1, 0));
    assert_true(has_id(c, 4, 0));
    assert_int_equal(stats(c).evictions, 2);
    /* remove() and clear(). */
    assert_int_equal(resp_cache_remove(c, "nope", 4), 0);
    char key[16];
    key_of(4, key);
    assert_int_equal(resp_cache_remove(c, key, 16), 1);
    assert_false(has_id(c, 4, 0));
    resp_cache_clear(c);
    resp_cache_stats s = stats(c);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, s.buckets * 8);
    assert_false(has_id(c, 0, 0));
    resp_cache_destroy(c);
}

static void test_byte_bound(void **state)
{
    (void)state;
    resp_cache *c = resp_cache_create(4096, 0);
    size_t cost = resp_cache_entry_bytes(16, 100);
    assert_int_equal(cost, 188);
    /* 16 entries fit the first 16 buckets; the 17th doubles them to 32
     * (+128 bytes). 256 + 20 * 188 = 4016 <= 4096; a 21st would need 4204,
     * so from then on every insertion evicts one entry. */
    for (int id = 0; id < 30; id++) {
        assert_int_equal(put_id(c, id, 100, 0), SERVE_OK);
        resp_cache_stats s = stats(c);
        assert_true(s.bytes <= 4096);
        assert_int_equal(s.bytes, s.buckets * 8 + s.entries * cost);
    }
    resp_cache_stats s = stats(c);
    assert_int_equal(s.entries, 20);
    assert_int_equal(s.buckets, 32);
    assert_int_equal(s.bytes, 4016);
    assert_int_equal(s.evictions, 10);
    assert_int_equal(s.insertions, 30);
    for (int id = 0; id < 10; id++)
        assert_false(has_id(c, id, 0));
    for (int id = 10; id < 30; id++)
        assert_true(has_id(c, id, 0));

    /* One bigger entry evicts as many as it needs: 16 + 400 + 72 = 488
     * bytes, 4016 - 188 * 3 + 488 = 3940. */
    assert_int_equal(put_id(c, 100, 400, 0), SERVE_OK);
    s = stats(c);
    assert_int_equal(s.entries, 18);
    assert_int_equal(s.bytes, 3940);
    assert_int_equal(s.evictions, 13);
    resp_cache_destroy(c);
}

static void test_refuse_oversized(void **state)
{
    (void)state;
    resp_cache *c = resp_cache_create(8000, 0);                  /* largest entry: 1000 bytes */
    assert_int_equal(put_id(c, 1, 1000 - 72 - 16, 0), SERVE_OK); /* exactly 1000 */
    assert_true(has_id(c, 1, 0));
    assert_int_equal(put_id(c, 2, 10, 0), SERVE_OK);
    /* One byte more is refused, and the old value of that key is dropped. */
    assert_int_equal(put_id(c, 2, 1000 - 72 - 16 + 1, 0), SERVE_ERR_LIMIT);
    assert_false(has_id(c, 2, 0));
    assert_true(has_id(c, 1, 0));
    resp_cache_stats s = stats(c);
    assert_int_equal(s.refused, 1);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.insertions, 2);
    /* Sizes that overflow are refused too. */
    assert_int_equal(resp_cache_entry_bytes(SIZE_MAX - 10, 20), SIZE_MAX);
    struct iovec iov[2] = {{vbuf, SIZE_MAX / 2 + 1}, {vbuf, SIZE_MAX / 2 + 1}};
    assert_int_equal(resp_cache_putv(c, "k", 1, iov, 2, 0), SERVE_ERR_LIMIT);
    resp_cache_destroy(c);
}

static void test_ttl(void **state)
{
    (void)state;
    resp_cache *c = resp_cache_create(65536, 1000);
    assert_int_equal(put_id(c, 1, 10, 0), SERVE_OK);
    assert_int_equal(put_id(c, 2, 10, 500), SERVE_OK);
    assert_true(has_id(c, 1, 999)); /* a hit does not extend the TTL */
    assert_false(has_id(c, 1, 1000));
    resp_cache_stats s = stats(c);
    assert_int_equal(s.expirations, 1);
    assert_int_equal(s.misses, 1);
    assert_int_equal(s.hits, 1);
    assert_int_equal(s.entries, 1);
    assert_true(has_id(c, 2, 1499));
    /* expire() drops what is due without a lookup. */
    resp_cache_expire(c, 1500);
    assert_int_equal(stats(c).entries, 0);
    assert_int_equal(stats(c).expirations, 2);
    /* Putting again restarts the clock; a replacement of an expired entry
     * counts as an expiration, not a replacement. */
    assert_int_equal(put_id(c, 3, 10, 2000), SERVE_OK);
    assert_int_equal(put_id(c, 3, 20, 3000), SERVE_OK);
    s = stats(c);
    assert_int_equal(s.replacements, 0);
    assert_int_equal(s.expirations, 3);
    assert_true(has_id(c, 3, 3999));
    assert_false(has_id(c, 3, 4000));
    /* ttl 0: never expires; huge times do not wrap. */
    resp_cache *forever = resp_cache_create(65536, 0);
    assert_int_equal(put_id(forever, 1, 10, UINT64_MAX - 5), SERVE_OK);
    assert_true(has_id(forever, 1, UINT64_MAX - 1));
    resp_cache_destroy(forever);
    resp_cache *big_ttl = resp_cache_create(65536, UINT64_MAX / 2);
    assert_int_equal(put_id(big_ttl, 1, 10, UINT64_MAX - 5), SERVE_OK);
    assert_true(has_id(big_ttl, 1, UINT64_MAX - 1));
    resp_cache_destroy(big_ttl);
    resp_cache_destroy(c);
}

/* When room is needed, expired entries go before live ones even if the live
 * ones are less recently used. */
static void test_expired_evicted_first(void **state)
{
    (void)state;
    resp_cache *c = resp_cache_create(4096, 1000);
    /* 10 entries at t=0, 10 at t=600: 256 + 20 * 188 = 4016 bytes. */
    for (int id = 0; id < 10; id++)
        assert_int_equal(put_id(c, id, 100, 0), SERVE_OK);
    for (int id = 10; id < 20; id++)
        assert_int_equal(put_id(c, id, 100, 600), SERVE_OK);
    /* Make the old ones the most recently used. */
    for (int id = 0; id < 10; id++)
        assert_true(has_id(c, id, 900));
    assert_int_equal(put_id(c, 20, 100, 1100), SERVE_OK);
    resp_cache_stats s = stats(c);
    assert_int_equal(s.expirations, 10);
    assert_int_equal(s.evictions, 0);
    for (int id = 10; id < 21; id++)
        assert_true(has_id(c, id, 1100));
    resp_cache_destroy(c);
}

static void test_replace_and_putv(void **state)
{
    (void)state;
    resp_cache *c = resp_cache_create(65536, 0);
    assert_int_equal(resp_cache_put(c, "k", 1, "first", 5, 0), SERVE_OK);
    size_t b1 = stats(c).bytes;
    struct iovec iov[3] = {{"application/json", 17}, {"{\"a\":1}", 7}, {NULL, 0}};
    assert_int_equal(resp_cache_putv(c, "k", 1, iov, 3, 0), SERVE_OK);
    const void *v;
    size_t vlen;
    assert_int_equal(resp_cache_get(c, "k", 1, 0, &v, &vlen), 1);
    assert_int_equal(vlen, 24);
    assert_memory_equal(v, "application/json\0{\"a\":1}", 24);
    resp_cache_stats s = stats(c);
    assert_int_equal(s.entries, 1);
    assert_int_equal(s.insertions, 2);
    assert_int_equal(s.replacements, 1);
    assert_int_equal(s.bytes, b1 - 5 + 24);
    /* Keys are compared in full: same prefix, different length. */
    assert_int_equal(resp_cache_get(c, "kk", 2, 0, &v, &vlen), 0);
    assert_int_equal(resp_cache_put(c, "k\0", 2, "x", 1, 0), SERVE_OK);
    assert_int_equal(resp_cache_get(c, "k", 1, 0, &v, &vlen), 1);
    assert_int_equal(vlen, 24);
    assert_int_equal(stats(c).entries, 2);
    resp_cache_destroy(c);
}

/* ---- randomized check against a model ---- */

enum { MODEL_KEYS = 300, MAX_BYTES = 16384, TTL = 12000, OPS = 200000 };

typedef struct model_entry {
    int present;
    size_t vlen;
    uint32_t version; /* value bytes are a function of (key, version) */
    uint64_t expires;
    uint64_t used;  /* recency stamp */
    uint64_t added; /* insertion stamp */
} model_entry;

typedef struct model {
    model_entry e[MODEL_KEYS];
    size_t buckets, bytes, entries;
    uint64_t stamp;
    resp_cache_stats st;
} model;

static size_t model_klen(int id)
{
    return (size_t)(id % 24) + 1; /* 1..24 bytes, some keys prefixes of none */
}

static void model_key(int id, uint8_t *key)
{
    for (size_t i = 0; i < model_klen(id); i++)
        key[i] = (uint8_t)(id * 31 + i * 7);
    key[0] = (uint8_t)id; /* ids differ in the first two bytes */
    if (model_klen(id) > 1) key[1] = (uint8_t)(id >> 8);
}

static void model_value(int id, uint32_t version, size_t vlen, uint8_t *out)
{
    for (size_t i = 0; i < vlen; i++)
        out[i] = (uint8_t)(id ^ (version * 13) ^ i);
}

static size_t model_cost(int id)
{
    return resp_cache_entry_bytes(model_klen(id), 0);
}

static void model_drop(model *m, int id)
{
    m->e[id].present = 0;
    m->bytes -= model_cost(id) + m->e[id].vlen;
    m->entries--;
}

static void model_expire(model *m, uint64_t now)
{
    for (int id = 0; id < MODEL_KEYS; id++)
        if (m->e[id].present && now >= m->e[id].expires) {
            model_drop(m, id);
            m->st.expirations++;
        }
}

static int model_lru(const model *m)
{
    int best = -1;
    for (int id = 0; id < MODEL_KEYS; id++)
        if (m->e[id].present && (best < 0 || m->e[id].used < m->e[best].used)) best = id;
    return best;
}

static size_t model_growth(const model *m)
{
    return m->entries + 1 > m->buckets ? m->buckets * 8 : 0;
}

static int model_get(model *m, int id, uint64_t now)
{
    model_expire(m, now);
    if (!m->e[id].present) {
        m->st.misses++;
        return 0;
    }
    m->e[id].used = ++m->stamp;
    m->st.hits++;
    return 1;
}

static serve_status model_put(model *m, int id, size_t vlen, uint32_t version, uint64_t now)
{
    int replacing = 0;
    if (m->e[id].present) {
        replacing = now < m->e[id].expires;
        model_drop(m, id);
        if (!replacing) m->st.expirations++;
    }
    model_expire(m, now);
    size_t cost = model_cost(id) + vlen;
    if (cost > MAX_BYTES / RESP_CACHE_ENTRY_FRACTION) {
        m->st.refused++;
        return SERVE_ERR_LIMIT;
    }
    while (m->bytes + cost + model_growth(m) > MAX_BYTES) {
        model_drop(m, model_lru(m));
        m->st.evictions++;
    }
    if (model_growth(m)) {
        m->bytes += m->buckets * 8;
        m->buckets *= 2;
    }
    m->e[id] = (model_entry){1, vlen, version, now + TTL, ++m->stamp, m->stamp};
    m->bytes += cost;
    m->entries++;
    m->st.insertions++;
    if (replacing) m->st.replacements++;
    return SERVE_OK;
}

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static void test_random_against_model(void **state)
{
    (void)state;
    static model m;
    memset(&m, 0, sizeof m);
    m.buckets = RESP_CACHE_MIN_BUCKETS;
    m.bytes = m.buckets * 8;
    resp_cache *c = resp_cache_create(MAX_BYTES, TTL);
    assert_non_null(c);
    uint8_t key[32], want[4096];
    uint64_t now = 1;
    uint32_t version = 0;
    for (int op = 0; op < OPS; op++) {
        now += rng() % 200; /* ~120 operations per TTL: entries both expire and get evicted */
        /* Skewed key choice, so some keys stay hot and survive. */
        int id = (int)(rng() % 4 == 0 ? rng() % 20 : rng() % MODEL_KEYS);
        model_key(id, key);
        unsigned r = (unsigned)(rng() % 100);
        if (r < 55) {
            const void *v;
            size_t vlen;
            int hit = resp_cache_get(c, key, model_klen(id), now, &v, &vlen);
            assert_int_equal(hit, model_get(&m, id, now));
            if (hit) {
                assert_int_equal(vlen, m.e[id].vlen);
                model_value(id, m.e[id].version, vlen, want);
                assert_memory_equal(v, want, vlen);
            }
        } else if (r < 97) {
            /* Mostly small values, some near and over the 2048-byte cap. */
            size_t vlen = rng() % 10 == 0 ? 1900 + rng() % 300 : rng() % 400;
            version++;
            model_value(id, version, vlen, want);
            serve_status got = resp_cache_put(c, key, model_klen(id), want, vlen, now);
            assert_int_equal(got, model_put(&m, id, vlen, version, now));
        } else if (r < 99) {
            int removed = resp_cache_remove(c, key, model_klen(id));
            assert_int_equal(removed, m.e[id].present);
            if (removed) model_drop(&m, id);
        } else if (rng() % 50 == 0) {
            resp_cache_clear(c);
            for (int k = 0; k < MODEL_KEYS; k++)
                if (m.e[k].present) model_drop(&m, k);
        }
        resp_cache_stats s = stats(c);
        assert_true(s.bytes <= MAX_BYTES);
        assert_int_equal(s.bytes, m.bytes);
        assert_int_equal(s.entries, m.entries);
        assert_int_equal(s.buckets, m.buckets);
        assert_int_equal(s.hits, m.st.hits);
        assert_int_equal(s.misses, m.st.misses);
        assert_int_equal(s.insertions, m.st.insertions);
        assert_int_equal(s.replacements, m.st.replacements);
        assert_int_equal(s.evictions, m.st.evictions);
        assert_int_equal(s.expirations, m.st.expirations);
        assert_int_equal(s.refused, m.st.refused);
    }
    /* The run exercised every path. */
    resp_cache_stats s = stats(c);
    assert_true(s.hits > 1000 && s.misses > 1000);
    assert_true(s.evictions > 1000 && s.expirations > 1000);
    assert_true(s.replacements > 100 && s.refused > 100);
    resp_cache_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_key_differs_per_process), /* first: see there */
        cmocka_unit_test(test_siphash_vectors),
        cmocka_unit_test(test_digest_properties),
        cmocka_unit_test(test_create_args),
        cmocka_unit_test(test_lru_order),
        cmocka_unit_test(test_byte_bound),
        cmocka_unit_test(test_refuse_oversized),
        cmocka_unit_test(test_ttl),
        cmocka_unit_test(test_expired_evicted_first),
        cmocka_unit_test(test_replace_and_putv),
        cmocka_unit_test(test_random_against_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
