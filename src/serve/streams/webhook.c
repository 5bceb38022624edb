/* The streams' webhooks: a durable outbox and its delivery thread (webhook.h). */
#include "serve/streams/webhook.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 60000

struct webhook_outbox {
    sqlite3 *db; /* under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    int started, stop;
    int max_msgs;
    webhook_stats st; /* under mu */
};

static const char schema[] = "PRAGMA journal_mode=WAL;"
                             "PRAGMA synchronous=FULL;"
                             "CREATE TABLE IF NOT EXISTS hooks ("
                             " seq INTEGER PRIMARY KEY AUTOINCREMENT,"
                             " id TEXT NOT NULL, url TEXT NOT NULL, body BLOB NOT NULL,"
                             " attempts INTEGER NOT NULL DEFAULT 0,"
                             " next_ms INTEGER NOT NULL DEFAULT 0);";

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t count_rows(sqlite3 *db)
{
    sqlite3_stmt *q;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM hooks", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW)
        n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* POSTs one message: 0 on a 2xx, else -1 with why. */
static int post(const char *url, const char *id, const void *body, int len, char *why, size_t cap)
{
    CURL *c = curl_easy_init();
    if (!c) {
        snprintf(why, cap, "out of memory");
        return -1;
    }
    char key[96];
    snprintf(key, sizeof key, "Idempotency-Key: %s", id);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, key);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK) {
        snprintf(why, cap, "%s: %s", url, curl_easy_strerror(rc));
        return -1;
    }
    if (status < 200 || status > 299) {
        snprintf(why, cap, "%s answered %ld", url, status);
        return -1;
    }
    return 0;
}

/* The delivery thread: the oldest due message, POSTed, deleted or put off. */
static void *run(void *arg)
{
    webhook_outbox *w = arg;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        sqlite3_stmt *q = NULL;
        int64_t now = wall_ms(), seq = 0, next = 0;
        int attempts = 0;
        char *url = NULL, *id = NULL, *body = NULL;
        int len = 0;
        if (sqlite3_prepare_v2(w->db,
                               "SELECT seq, id, url, body, attempts, next_ms FROM hooks "
                               "ORDER BY next_ms, seq LIMIT 1",
                               -1, &q, NULL) == SQLITE_OK &&
            sqlite3_step(q) == SQLITE_ROW) {
            seq = sqlite3_column_int64(q, 0);
            id = strdup((const char *)sqlite3_column_text(q, 1));
            url = strdup((const char *)sqlite3_column_text(q, 2));
            len = sqlite3_column_bytes(q, 3);
            body = malloc((size_t)len + 1);
            if (body) memcpy(body, sqlite3_column_blob(q, 3), (size_t)len);
            attempts = sqlite3_column_int(q, 4);
            next = sqlite3_column_int64(q, 5);
        }
        sqlite3_finalize(q);
        if (!seq || next > now || !id || !url || !body) { /* nothing due: wait */
            free(id);
            free(url);
            free(body);
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            int64_t wait_ms = seq && next > now ? next - now : 1000;
            if (wait_ms > 1000) wait_ms = 1000;
            ts.tv_sec += (time_t)(wait_ms / 1000);
            ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->cv, &w->mu, &ts);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        char why[256];
        int rc = post(url, id, body, len, why, sizeof why);
        pthread_mutex_lock(&w->mu);
        sqlite3_stmt *u = NULL;
        if (!rc) {
            w->st.delivered++;
            sqlite3_prepare_v2(w->db, "DELETE FROM hooks WHERE seq = ?", -1, &u, NULL);
            sqlite3_bind_int64(u, 1, seq);
        } else {
            w->st.attempts_failed++;
            snprintf(w->st.last_error, sizeof w->st.last_error, "%s", why);
            int64_t backoff = BACKOFF_MIN_MS;
            for (int i = 0; i < attempts && backoff < BACKOFF_MAX_MS; i++)
                backoff *= 2;
            if (backoff > BACKOFF_MAX_MS) backoff = BACKOFF_MAX_MS;
            sqlite3_prepare_v2(w->db,
                               "UPDATE hooks SET attempts = attempts + 1, next_ms = ? "
                               "WHERE seq = ?",
                               -1, &u, NULL);
            sqlite3_bind_int64(u, 1, wall_ms() + backoff);
            sqlite3_bind_int64(u, 2, seq);
        }
        if (u && sqlite3_step(u) == SQLITE_DONE && !rc && sqlite3_changes(w->db) > 0)
            w->st.pending--; /* (the row may have been dropped as the oldest meanwhile) */
        sqlite3_finalize(u);
        free(id);
        free(url);
        free(body);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

webhook_outbox *webhook_open(const char *dir, int max_msgs, char *err, size_t err_size)
{
    char path[4096];
    if (mkdir(dir, 0700) && errno != EEXIST) {
        snprintf(err, err_size, "webhooks: cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    snprintf(path, sizeof path, "%s/stream-webhooks.sqlite", dir);
    webhook_outbox *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    w->max_msgs = max_msgs > 0 ? max_msgs : 10000;
    curl_global_init(CURL_GLOBAL_DEFAULT); /* counted: one cleanup per init */
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    char *msg = NULL;
    if (sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) ||
        sqlite3_exec(w->db, schema, NULL, NULL, &msg)) {
        snprintf(err, err_size, "webhooks: %s: %s", path, msg ? msg : sqlite3_errmsg(w->db));
        sqlite3_free(msg);
        webhook_close(w);
        return NULL;
    }
    sqlite3_busy_timeout(w->db, 5000);
    w->st.pending = (uint64_t)count_rows(w->db);
    if (pthread_create(&w->thread, NULL, run, w)) {
        snprintf(err, err_size, "webhooks: cannot start a thread");
        webhook_close(w);
        return NULL;
    }
    w->started = 1;
    return w;
}

void webhook_close(webhook_outbox *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (w->started) pthread_join(w->thread, NULL);
    sqlite3_close(w->db);
    curl_global_cleanup();
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

int webhook_add(webhook_outbox *w, const char *url, const char *body, size_t len, char *err,
                size_t err_size)
{
    uint8_t r[16];
    char id[40];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) memset(r, 0, sizeof r);
    for (int i = 0; i < 16; i++)
        snprintf(id + 2 * i, 3, "%02x", r[i]);
    pthread_mutex_lock(&w->mu);
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (w->st.pending >= (uint64_t)w->max_msgs && /* full: the oldest goes */
        sqlite3_exec(w->db, "DELETE FROM hooks WHERE seq = (SELECT MIN(seq) FROM hooks)", NULL,
                     NULL, NULL) == SQLITE_OK) {
        w->st.dropped++;
        w->st.pending--;
    }
    if (sqlite3_prepare_v2(w->db, "INSERT INTO hooks (id, url, body) VALUES (?, ?, ?)", -1, &q,
                           NULL) == SQLITE_OK &&
        sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_text(q, 2, url, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_blob(q, 3, body, (int)len, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_DONE) {
        rc = 0;
        w->st.added++;
        w->st.pending++;
        pthread_cond_signal(&w->cv);
    } else {
        snprintf(err, err_size, "webhooks: %s", sqlite3_errmsg(w->db));
    }
    sqlite3_finalize(q);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void webhook_get_stats(webhook_outbox *w, webhook_stats *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->st;
    pthread_mutex_unlock(&w->mu);
}
