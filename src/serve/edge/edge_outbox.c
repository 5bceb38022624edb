/* The escalation outbox: SQLite (WAL) + a libcurl multi delivery thread
 * (see edge_outbox.h).
 *
 * Item states: PENDING (committed, to deliver) -> AWAITING (delivered, the
 * upstream's answer is polled) -> DONE (final answer, or polling gave up);
 * PENDING -> FAILED (a 4xx other than 408/425/429). A claimed item gets a
 * lease (next_ms in the future) so that a transfer in flight is not claimed
 * twice; a restart makes every lease due at once. */
#include "serve/edge/edge_outbox.h"
#include "util/clock.h"

#include "serve/core/errmsg.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

enum { ST_PENDING, ST_AWAITING, ST_DONE, ST_FAILED };

#define LEASE_MS 120000
#define POLL_HORIZON_MS 3600000 /* stop polling an answer an hour after delivery */
#define RESPONSE_MAX (1 << 20)
#define PRUNE_EVERY_MS 60000 /* at most; twice per retention period if shorter */

typedef struct xfer {
    CURL *easy;
    struct curl_slist *hdrs;
    char iq_id[64];
    int poll; /* 0: POST of the escalation; 1: GET of its answer */
    int attempts;
    double threshold;
    int64_t delivered_ms;
    uint8_t *image; /* POST body (owned) */
    char *resp;     /* response body */
    size_t resp_len;
    long retry_after; /* seconds, -1 if none */
} xfer;

struct edge_outbox {
    sqlite3 *wdb, *rdb; /* writer (mu), reader (rmu) */
    pthread_mutex_t mu, rmu;
    edge_recent *recent;
    char upstream[512], token[512]; /* guarded by mu */
    int max_pending;
    double retention_s;
    CURLM *multi;
    pthread_t thread;
    atomic_int stop;
    xfer xf[EDGE_OUTBOX_PARALLEL];
    int64_t last_prune_ms;
    /* counters */
    atomic_int_fast64_t pending, awaiting, failed;
    atomic_uint_fast64_t committed, delivered, retries, failures, rejected_full, answers;
};

static double rand01(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)clock_unix_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=FULL;"
    "CREATE TABLE IF NOT EXISTS outbox("
    " iq_id TEXT PRIMARY KEY, request_id TEXT, detector_id TEXT NOT NULL,"
    " query TEXT NOT NULL, token TEXT NOT NULL, content_type TEXT NOT NULL, image BLOB,"
    " iq_json TEXT NOT NULL, threshold REAL NOT NULL, state INTEGER NOT NULL,"
    " attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,"
    " created_ms INTEGER NOT NULL, delivered_ms INTEGER, last_error TEXT);"
    "CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_ms);"
    "CREATE INDEX IF NOT EXISTS outbox_req ON outbox(request_id);"
    "CREATE TABLE IF NOT EXISTS iq(id TEXT PRIMARY KEY, request_id TEXT,"
    " json TEXT NOT NULL, created_ms INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS iq_req ON iq(request_id);";

/* Runs one statement with bound int64/text arguments given as a format:
 * 'i' int64, 't' text, 'd' double. Returns SQLITE_DONE / SQLITE_ROW code
 * of the first step or an error code. Caller holds the connection's lock. */
static int exec(sqlite3 *db, const char *sql, const char *fmt, ...)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) return rc;
    va_list ap;
    va_start(ap, fmt);
    for (int i = 0; fmt && fmt[i]; i++) {
        if (fmt[i] == 'i')
            sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
        else if (fmt[i] == 'd')
            sqlite3_bind_double(st, i + 1, va_arg(ap, double));
        else
            sqlite3_bind_text(st, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
    }
    va_end(ap);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc;
}

static int64_t count_state(sqlite3 *db, int state)
{
    sqlite3_stmt *st;
    int64_t n = 0;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM outbox WHERE state=?", -1, &st, NULL))
        return 0;
    sqlite3_bind_int(st, 1, state);
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* ---- answers ---- */

/* 1 if the upstream's image query JSON holds a final answer. */
static int answer_final(const json_t *iq, double threshold)
{
    const json_t *r = json_object_get(iq, "result");
    if (!json_is_object(r)) return 0;
    const char *src = json_string_value(json_object_get(r, "source"));
    if (src && !strcmp(src, "STILL_PROCESSING")) return 0;
    const json_t *c = json_object_get(r, "confidence");
    return json_is_true(json_object_get(iq, "done_processing")) || !json_is_number(c) ||
           json_number_value(c) >= threshold;
}

/* Our stored image query with the upstream's result (and rois) in it, as
 * new JSON text, or NULL if the upstream has no result yet. */
static char *merge_answer(const char *ours, const json_t *up, int final)
{
    const json_t *r = json_object_get(up, "result");
    if (!json_is_object(r)) return NULL;
    json_t *q = json_loads(ours, 0, NULL);
    if (!q) return NULL;
    json_object_set(q, "result", (json_t *)r);
    const json_t *rois = json_object_get(up, "rois");
    json_object_set(q, "rois", rois ? (json_t *)rois : json_null());
    json_object_set_new(q, "done_processing", json_boolean(final));
    char *s = json_dumps(q, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(q);
    return s;
}

/* Saves an upstream answer into item id (writer lock held). */
static void save_answer(edge_outbox *o, const char *id, const json_t *up, int final)
{
    sqlite3_stmt *st;
    char *ours = NULL;
    if (sqlite3_prepare_v2(o->wdb, "SELECT iq_json FROM outbox WHERE iq_id=?", -1, &st, NULL))
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) ours = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    char *merged = ours ? merge_answer(ours, up, final) : NULL;
    if (merged) {
        exec(o->wdb, "UPDATE outbox SET iq_json=? WHERE iq_id=?", "tt", merged, id);
        if (o->recent) edge_recent_update(o->recent, id, merged);
    }
    free(merged);
    free(ours);
}

/* Records in item id's image query that the upstream refused it: it is
 * done (nothing better will come) and its metadata says why (writer lock
 * held). */
static void mark_refused(edge_outbox *o, const char *id, const char *why)
{
    sqlite3_stmt *st;
    json_t *q = NULL;
    if (sqlite3_prepare_v2(o->wdb, "SELECT iq_json FROM outbox WHERE iq_id=?", -1, &st, NULL))
        return;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW)
        q = json_loads((const char *)sqlite3_column_text(st, 0), 0, NULL);
    sqlite3_finalize(st);
    if (!q) return;
    json_t *meta = json_object_get(q, "metadata");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(q, "metadata", meta);
    }
    json_object_set_new(meta, "escalation_error", json_string(why));
    json_object_set_new(q, "done_processing", json_true());
    char *s = json_dumps(q, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(q);
    if (!s) return;
    exec(o->wdb, "UPDATE outbox SET iq_json=? WHERE iq_id=?", "tt", s, id);
    if (o->recent) edge_recent_update(o->recent, id, s);
    free(s);
}

/* ---- transfers ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (x->resp_len + len > RESPONSE_MAX) return 0; /* aborts the transfer */
    char *b = realloc(x->resp, x->resp_len + len + 1);
    if (!b) return 0;
    memcpy(b + x->resp_len, p, len);
    x->resp = b;
    x->resp_len += len;
    b[x->resp_len] = 0;
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    xfer *x = ud;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(p, "retry-after:", 12)) {
        char *end;
        long v = strtol(p + 12, &end, 10);
        if (end != p + 12 && v >= 0 && v <= 86400) x->retry_after = v;
    }
    return len;
}

static void xfer_reset(xfer *x)
{
    if (x->easy) curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    free(x->image);
    free(x->resp);
    memset(x, 0, sizeof *x);
}

static xfer *free_slot(edge_outbox *o)
{
    for (int i = 0; i < EDGE_OUTBOX_PARALLEL; i++)
        if (!o->xf[i].easy) return &o->xf[i];
    return NULL;
}

/* Starts the transfer of one claimed row (st positioned on it). */
static void start(edge_outbox *o, xfer *x, sqlite3_stmt *st, const char *base, const char *dtoken)
{
    /* columns: iq_id, state, query, token, content_type, image, threshold, attempts,
     * delivered_ms */
    memset(x, 0, sizeof *x);
    snprintf(x->iq_id, sizeof x->iq_id, "%s", (const char *)sqlite3_column_text(st, 0));
    x->poll = sqlite3_column_int(st, 1) == ST_AWAITING;
    const char *query = (const char *)sqlite3_column_text(st, 2);
    const char *token = (const char *)sqlite3_column_text(st, 3);
    x->threshold = sqlite3_column_double(st, 6);
    x->attempts = sqlite3_column_int(st, 7);
    x->delivered_ms = sqlite3_column_int64(st, 8);
    x->retry_after = -1;
    char url[2048], h[640];
    if (x->poll)
        snprintf(url, sizeof url, "%s/device-api/v1/image-queries/%s", base, x->iq_id);
    else
        snprintf(url, sizeof url, "%s/device-api/v1/image-queries?%s", base, query);
    if (!(x->easy = curl_easy_init())) return;
    snprintf(h, sizeof h, "x-api-token: %s", token[0] ? token : dtoken);
    x->hdrs = curl_slist_append(x->hdrs, h);
    x->hdrs = curl_slist_append(x->hdrs, "Accept: application/json");
    if (!x->poll) {
        /* the same request id on every attempt: the upstream's dedup key too */
        snprintf(h, sizeof h, "X-Request-Id: req_uu%s", x->iq_id + 3);
        x->hdrs = curl_slist_append(x->hdrs, h);
        snprintf(h, sizeof h, "Content-Type: %s", (const char *)sqlite3_column_text(st, 4));
        x->hdrs = curl_slist_append(x->hdrs, h);
        x->hdrs = curl_slist_append(x->hdrs, "Expect:");
        int len = sqlite3_column_bytes(st, 5);
        x->image = malloc(len ? (size_t)len : 1);
        if (x->image && len) memcpy(x->image, sqlite3_column_blob(st, 5), (size_t)len);
        curl_easy_setopt(x->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->image);
        curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    curl_easy_setopt(x->easy, CURLOPT_URL, url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->hdrs);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_multi_add_handle(o->multi, x->easy);
}

/* Claims the due items into free transfer slots. */
static void claim(edge_outbox *o)
{
    pthread_mutex_lock(&o->mu);
    char base[512], token[512];
    snprintf(base, sizeof base, "%s", o->upstream);
    snprintf(token, sizeof token, "%s", o->token);
    int slots = 0;
    for (int i = 0; i < EDGE_OUTBOX_PARALLEL; i++)
        slots += !o->xf[i].easy;
    sqlite3_stmt *st;
    if (!base[0] || !slots ||
        sqlite3_prepare_v2(o->wdb,
                           "SELECT iq_id, state, query, token, content_type, image, threshold,"
                           " attempts, delivered_ms FROM outbox WHERE state IN (0,1) AND"
                           " next_ms <= ? ORDER BY next_ms LIMIT ?",
                           -1, &st, NULL)) {
        pthread_mutex_unlock(&o->mu);
        return;
    }
    int64_t now = clock_unix_ms();
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int(st, 2, slots);
    xfer *x;
    while (sqlite3_step(st) == SQLITE_ROW && (x = free_slot(o))) {
        start(o, x, st, base, token);
        exec(o->wdb, "UPDATE outbox SET next_ms=? WHERE iq_id=?", "it", now + LEASE_MS, x->iq_id);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&o->mu);
}

/* Backoff before attempt n+1: 1 s doubling to 5 min, times [0.5, 1). */
static int64_t backoff_ms(int n)
{
    double s = n > 8 ? 300 : fmin(300, ldexp(1, n));
    return (int64_t)(s * 1000 * (0.5 + 0.5 * rand01()));
}

static void retry(edge_outbox *o, xfer *x, int64_t delay, const char *why)
{
    exec(o->wdb, "UPDATE outbox SET attempts=attempts+1, next_ms=?, last_error=? WHERE iq_id=?",
         "itt", clock_unix_ms() + delay, why, x->iq_id);
    if (!x->poll) atomic_fetch_add(&o->retries, 1);
}

static void posted(edge_outbox *o, xfer *x, long code, const char *why)
{
    if (code >= 200 && code < 300) {
        json_t *up = x->resp ? json_loads(x->resp, 0, NULL) : NULL;
        int final = up && answer_final(up, x->threshold);
        int64_t now = clock_unix_ms();
        exec(o->wdb,
             "UPDATE outbox SET state=?, attempts=0, next_ms=?, delivered_ms=?, image=NULL,"
             " last_error=NULL WHERE iq_id=?",
             "iiit", (int64_t)(final ? ST_DONE : ST_AWAITING), now + 250, now, x->iq_id);
        if (up) save_answer(o, x->iq_id, up, final);
        json_decref(up);
        atomic_fetch_sub(&o->pending, 1);
        atomic_fetch_add(&o->delivered, 1);
        if (final)
            atomic_fetch_add(&o->answers, 1);
        else
            atomic_fetch_add(&o->awaiting, 1);
        return;
    }
    int transient = !code || code == 408 || code == 425 || code == 429 || code >= 500;
    if (transient) {
        int64_t d = (code == 429 || code == 503) && x->retry_after >= 0 ? x->retry_after * 1000
                                                                        : backoff_ms(x->attempts);
        retry(o, x, d, why);
        return;
    }
    exec(o->wdb, "UPDATE outbox SET state=?, last_error=? WHERE iq_id=?", "itt", (int64_t)ST_FAILED,
         why, x->iq_id);
    mark_refused(o, x->iq_id, why);
    atomic_fetch_sub(&o->pending, 1);
    atomic_fetch_add(&o->failed, 1);
    atomic_fetch_add(&o->failures, 1);
    fprintf(stderr, "glint serve: escalation %s refused by the upstream for good: %s\n", x->iq_id,
            why);
}

static void polled(edge_outbox *o, xfer *x, long code)
{
    json_t *up = code >= 200 && code < 300 && x->resp ? json_loads(x->resp, 0, NULL) : NULL;
    int final = up && answer_final(up, x->threshold);
    if (up) save_answer(o, x->iq_id, up, final);
    json_decref(up);
    int64_t now = clock_unix_ms();
    if (final || now - x->delivered_ms > POLL_HORIZON_MS) {
        exec(o->wdb, "UPDATE outbox SET state=? WHERE iq_id=?", "it", (int64_t)ST_DONE, x->iq_id);
        atomic_fetch_sub(&o->awaiting, 1);
        if (final) atomic_fetch_add(&o->answers, 1);
        return;
    }
    double d = fmin(30000, 250 * pow(1.3, x->attempts + 1));
    exec(o->wdb, "UPDATE outbox SET attempts=attempts+1, next_ms=? WHERE iq_id=?", "it",
         now + (int64_t)d, x->iq_id);
}

static void finished(edge_outbox *o, CURLMsg *m)
{
    xfer *x = NULL;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
    long code = 0;
    char why[300];
    if (m->data.result == CURLE_OK) {
        curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
        snprintf(why, sizeof why, "HTTP %ld: %.200s", code, x->resp ? x->resp : "");
    } else {
        snprintf(why, sizeof why, "%s", curl_easy_strerror(m->data.result));
    }
    curl_multi_remove_handle(o->multi, m->easy_handle);
    pthread_mutex_lock(&o->mu);
    if (x->poll)
        polled(o, x, code);
    else
        posted(o, x, code, why);
    pthread_mutex_unlock(&o->mu);
    xfer_reset(x);
}

static void prune(edge_outbox *o)
{
    int64_t now = clock_unix_ms();
    pthread_mutex_lock(&o->mu);
    int64_t every = (int64_t)(o->retention_s * 500); /* twice per retention period */
    every = every < 1000 ? 1000 : every > PRUNE_EVERY_MS ? PRUNE_EVERY_MS : every;
    if (now - o->last_prune_ms >= every) {
        o->last_prune_ms = now;
        int64_t before = now - (int64_t)(o->retention_s * 1000);
        exec(o->wdb, "DELETE FROM outbox WHERE state=? AND delivered_ms < ?", "ii",
             (int64_t)ST_DONE, before);
        exec(o->wdb, "DELETE FROM iq WHERE created_ms < ?", "i", before);
    }
    pthread_mutex_unlock(&o->mu);
}

static void *deliver_main(void *arg)
{
    edge_outbox *o = arg;
    while (!atomic_load(&o->stop)) {
        claim(o);
        int running = 0;
        curl_multi_perform(o->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(o->multi, &left)))
            if (m->msg == CURLMSG_DONE) finished(o, m);
        prune(o);
        curl_multi_poll(o->multi, NULL, 0, 100, NULL);
    }
    return NULL;
}

/* ---- public ---- */

static sqlite3 *open_db(const char *path, char *err, size_t err_size)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL)) {
        errmsg_set(err, err_size, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &msg)) {
        errmsg_set(err, err_size, "%s: %s", path, msg ? msg : "schema failed");
        sqlite3_free(msg);
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

edge_outbox *edge_outbox_open(const char *dir, edge_recent *recent, char *err, size_t err_size)
{
    static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
    pthread_once(&curl_once, curl_init_once);
    char path[4096];
    mkdir(dir, 0700);
    snprintf(path, sizeof path, "%s/edge.db", dir);
    edge_outbox *o = calloc(1, sizeof *o);
    if (!o) {
        errmsg_set(err, err_size, "out of memory");
        return NULL;
    }
    o->recent = recent;
    o->max_pending = 10000;
    o->retention_s = 7 * 86400.0;
    pthread_mutex_init(&o->mu, NULL);
    pthread_mutex_init(&o->rmu, NULL);
    if (!(o->wdb = open_db(path, err, err_size)) || !(o->rdb = open_db(path, err, err_size)))
        goto fail;
    /* a previous run's leases are void */
    exec(o->wdb, "UPDATE outbox SET next_ms=? WHERE state IN (0,1)", "i", clock_unix_ms());
    atomic_init(&o->pending, count_state(o->wdb, ST_PENDING));
    atomic_init(&o->awaiting, count_state(o->wdb, ST_AWAITING));
    atomic_init(&o->failed, count_state(o->wdb, ST_FAILED));
    if (!(o->multi = curl_multi_init())) {
        errmsg_set(err, err_size, "curl_multi_init failed");
        goto fail;
    }
    if (pthread_create(&o->thread, NULL, deliver_main, o)) {
        errmsg_set(err, err_size, "cannot start the delivery thread");
        goto fail;
    }
    if (atomic_load(&o->pending))
        fprintf(stderr, "glint serve: outbox %s: %lld escalation(s) to deliver\n", path,
                (long long)atomic_load(&o->pending));
    return o;
fail:
    if (o->multi) curl_multi_cleanup(o->multi);
    sqlite3_close(o->wdb);
    sqlite3_close(o->rdb);
    free(o);
    return NULL;
}

void edge_outbox_close(edge_outbox *o)
{
    if (!o) return;
    atomic_store(&o->stop, 1);
    curl_multi_wakeup(o->multi);
    pthread_join(o->thread, NULL);
    for (int i = 0; i < EDGE_OUTBOX_PARALLEL; i++)
        if (o->xf[i].easy) {
            curl_multi_remove_handle(o->multi, o->xf[i].easy);
            xfer_reset(&o->xf[i]);
        }
    curl_multi_cleanup(o->multi);
    sqlite3_close(o->wdb);
    sqlite3_close(o->rdb);
    pthread_mutex_destroy(&o->mu);
    pthread_mutex_destroy(&o->rmu);
    free(o);
}

void edge_outbox_configure(edge_outbox *o, const char *upstream, const char *token, int max_pending,
                           double retention_s)
{
    pthread_mutex_lock(&o->mu);
    snprintf(o->upstream, sizeof o->upstream, "%s", upstream);
    snprintf(o->token, sizeof o->token, "%s", token);
    o->max_pending = max_pending;
    o->retention_s = retention_s;
    pthread_mutex_unlock(&o->mu);
    curl_multi_wakeup(o->multi);
}

serve_status edge_outbox_add(edge_outbox *o, const edge_escalation *e, char *err, size_t err_size)
{
    pthread_mutex_lock(&o->mu);
    if (atomic_load(&o->pending) >= o->max_pending) {
        pthread_mutex_unlock(&o->mu);
        atomic_fetch_add(&o->rejected_full, 1);
        errmsg_set(err, err_size, "the escalation outbox is full (%d undelivered)", o->max_pending);
        return SERVE_ERR_FULL;
    }
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        o->wdb,
        "INSERT OR IGNORE INTO outbox(iq_id, request_id, detector_id, query, token, content_type,"
        " image, iq_json, threshold, state, next_ms, created_ms) VALUES(?,?,?,?,?,?,?,?,?,0,?,?)",
        -1, &st, NULL);
    if (rc == SQLITE_OK) {
        int64_t now = clock_unix_ms();
        sqlite3_bind_text(st, 1, e->iq_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, e->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, e->detector_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, e->query, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, e->token, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, e->content_type, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 7, e->image, (int)e->image_len, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, e->iq_json, -1, SQLITE_STATIC);
        sqlite3_bind_double(st, 9, e->confidence_threshold);
        sqlite3_bind_int64(st, 10, now);
        sqlite3_bind_int64(st, 11, now);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    int added = rc == SQLITE_DONE && sqlite3_changes(o->wdb) > 0;
    if (rc != SQLITE_DONE) errmsg_set(err, err_size, "outbox: %s", sqlite3_errmsg(o->wdb));
    pthread_mutex_unlock(&o->mu);
    if (rc != SQLITE_DONE) return SERVE_ERR_IO;
    if (added) {
        atomic_fetch_add(&o->pending, 1);
        atomic_fetch_add(&o->committed, 1);
    }
    curl_multi_wakeup(o->multi);
    return SERVE_OK;
}

int edge_outbox_remember(edge_outbox *o, const char *id, const char *request_id,
                         const char *iq_json, char *err, size_t err_size)
{
    pthread_mutex_lock(&o->mu);
    int rc =
        exec(o->wdb, "INSERT OR IGNORE INTO iq(id, request_id, json, created_ms) VALUES(?,?,?,?)",
             "ttti", id, request_id, iq_json, clock_unix_ms());
    if (rc != SQLITE_DONE) errmsg_set(err, err_size, "state database: %s", sqlite3_errmsg(o->wdb));
    pthread_mutex_unlock(&o->mu);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The first column of the first row of `sql` with one text argument. */
static char *lookup(edge_outbox *o, const char *sql, const char *arg)
{
    if (!arg || !arg[0]) return NULL;
    pthread_mutex_lock(&o->rmu);
    sqlite3_stmt *st;
    char *s = NULL;
    if (sqlite3_prepare_v2(o->rdb, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) s = strdup((const char *)sqlite3_column_text(st, 0));
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&o->rmu);
    return s;
}

char *edge_outbox_lookup(edge_outbox *o, const char *id)
{
    char *s = lookup(o, "SELECT iq_json FROM outbox WHERE iq_id=?", id);
    return s ? s : lookup(o, "SELECT json FROM iq WHERE id=?", id);
}

char *edge_outbox_lookup_request(edge_outbox *o, const char *request_id)
{
    char *s = lookup(o, "SELECT iq_json FROM outbox WHERE request_id=?", request_id);
    return s ? s : lookup(o, "SELECT json FROM iq WHERE request_id=?", request_id);
}

void edge_outbox_stats_read(edge_outbox *o, edge_outbox_stats *s)
{
    s->pending = atomic_load(&o->pending);
    s->awaiting = atomic_load(&o->awaiting);
    s->failed = atomic_load(&o->failed);
    s->committed = atomic_load(&o->committed);
    s->delivered = atomic_load(&o->delivered);
    s->retries = atomic_load(&o->retries);
    s->failures = atomic_load(&o->failures);
    s->rejected_full = atomic_load(&o->rejected_full);
    s->answers = atomic_load(&o->answers);
}
