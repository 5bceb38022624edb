/* API keys: the hashed keys file, constant-time checks, reloads (see auth.h). */
#include "serve/core/auth.h"

#include "model/fileio.h"
#include "serve/core/metrics.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define AUTH_MAX_KEYS 4096
#define AUTH_MAX_FILE (1 << 20)

typedef struct key {
    char name[AUTH_NAME_MAX];
    uint8_t hash[32];
    uint64_t requests; /* answered with this key (kept across reloads by name) */
} key;

struct auth {
    char *path;
    struct stat st; /* of the file when read */
    key *keys;
    int n;
    uint64_t refused;
};

static int hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Parses the file's text into keys (malloc'ed); their count, or -1 with err. */
static int parse(const char *path, const char *text, size_t len, key **out, char *err,
                 size_t err_size)
{
    key *keys = NULL;
    int n = 0, line = 0;
    for (size_t at = 0; at < len;) {
        const char *l = text + at, *nl = memchr(l, '\n', len - at);
        size_t ll = nl ? (size_t)(nl - l) : len - at;
        at += ll + 1;
        line++;
        char buf[256];
        if (ll >= sizeof buf) {
            snprintf(err, err_size, "%s: line %d is too long", path, line);
            goto fail;
        }
        memcpy(buf, l, ll);
        buf[ll] = 0;
        char *hash = strchr(buf, '#');
        if (hash) *hash = 0;
        char name[AUTH_NAME_MAX + 1], hex[80], extra[2];
        int f = sscanf(buf, "%64s %79s %1s", name, hex, extra);
        if (f <= 0) continue; /* blank or a comment */
        if (f != 2 || strlen(hex) != 64) {
            snprintf(err, err_size,
                     "%s: line %d: expected NAME and the key's SHA-256 in hex "
                     "(64 digits)",
                     path, line);
            goto fail;
        }
        if (strlen(name) >= AUTH_NAME_MAX) {
            snprintf(err, err_size, "%s: line %d: the name is longer than %d bytes", path, line,
                     AUTH_NAME_MAX - 1);
            goto fail;
        }
        if (n == AUTH_MAX_KEYS) {
            snprintf(err, err_size, "%s: more than %d keys", path, AUTH_MAX_KEYS);
            goto fail;
        }
        key *nk = realloc(keys, (size_t)(n + 1) * sizeof *nk);
        if (!nk) {
            snprintf(err, err_size, "out of memory");
            goto fail;
        }
        keys = nk;
        key *k = &keys[n];
        memset(k, 0, sizeof *k);
        snprintf(k->name, sizeof k->name, "%s", name);
        for (int i = 0; i < 32; i++) {
            int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                snprintf(err, err_size, "%s: line %d: the SHA-256 is not hex", path, line);
                goto fail;
            }
            k->hash[i] = (uint8_t)(hi << 4 | lo);
        }
        for (int j = 0; j < n; j++)
            if (!strcmp(keys[j].name, k->name)) {
                snprintf(err, err_size, "%s: line %d: key '%s' is named twice", path, line,
                         k->name);
                goto fail;
            }
        n++;
    }
    if (!n) {
        snprintf(err, err_size, "%s holds no key", path);
        goto fail;
    }
    *out = keys;
    return n;
fail:
    free(keys);
    return -1;
}

/* Reads and parses path; 0 with a's keys replaced (counts kept by name), or -1. */
static int read_keys(auth *a, char *err, size_t err_size)
{
    struct stat st;
    if (stat(a->path, &st)) {
        snprintf(err, err_size, "--api-keys %s: %s", a->path, strerror(errno));
        return -1;
    }
    size_t len = 0;
    char *text = fileio_read(a->path, AUTH_MAX_FILE, &len);
    if (!text) {
        snprintf(err, err_size, "--api-keys %s: %s", a->path, strerror(errno));
        return -1;
    }
    key *keys = NULL;
    int n = parse(a->path, text, len, &keys, err, err_size);
    free(text);
    if (n < 0) return -1;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < a->n; j++)
            if (!strcmp(keys[i].name, a->keys[j].name)) keys[i].requests = a->keys[j].requests;
    free(a->keys);
    a->keys = keys;
    a->n = n;
    a->st = st;
    return 0;
}

auth *auth_load(const char *path, char *err, size_t err_size)
{
    auth *a = calloc(1, sizeof *a);
    if (!a || !(a->path = strdup(path))) {
        snprintf(err, err_size, "out of memory");
        free(a);
        return NULL;
    }
    if (read_keys(a, err, err_size)) {
        auth_free(a);
        return NULL;
    }
    return a;
}

void auth_free(auth *a)
{
    if (!a) return;
    free(a->keys);
    free(a->path);
    free(a);
}

int auth_reload(auth *a, char *err, size_t err_size)
{
    struct stat st;
    if (stat(a->path, &st)) {
        snprintf(err, err_size, "--api-keys %s: %s (the keys read before stay)", a->path,
                 strerror(errno));
        return a->st.st_ino ? (a->st.st_ino = 0, -1) : 0; /* say it once */
    }
    if (st.st_ino == a->st.st_ino && st.st_size == a->st.st_size &&
        st.st_mtim.tv_sec == a->st.st_mtim.tv_sec && st.st_mtim.tv_nsec == a->st.st_mtim.tv_nsec)
        return 0;
    if (read_keys(a, err, err_size)) {
        a->st = st; /* not again until it changes */
        return -1;
    }
    return 1;
}

int auth_check(auth *a, const char *token, size_t len)
{
    uint8_t h[32];
    unsigned int hl = 0;
    if (!token || !len || !EVP_Digest(token, len, h, &hl, EVP_sha256(), NULL) || hl != 32) {
        a->refused++;
        return -1;
    }
    int found = -1;
    for (int i = 0; i < a->n; i++) /* every key, whichever matches */
        if (!CRYPTO_memcmp(h, a->keys[i].hash, 32)) found = i;
    if (found < 0)
        a->refused++;
    else
        a->keys[found].requests++;
    return found;
}

int auth_count(const auth *a)
{
    return a ? a->n : 0;
}

void auth_metrics(const auth *a, strbuf *sb)
{
    if (!a) return;
    metrics_write_family(sb, "glint_api_key_requests_total", METRICS_COUNTER,
                         "Requests that presented this API key.");
    for (int i = 0; i < a->n; i++) {
        metrics_label l = {"key", a->keys[i].name};
        metrics_write_u64(sb, "glint_api_key_requests_total", &l, 1, a->keys[i].requests);
    }
    metrics_write_family(sb, "glint_api_key_refused_total", METRICS_COUNTER,
                         "Requests refused 401: no API key, or an unknown one.");
    metrics_write_u64(sb, "glint_api_key_refused_total", NULL, 0, a->refused);
}
