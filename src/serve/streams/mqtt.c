/* mqtt: a bounded, non-blocking MQTT publisher over libmosquitto (see mqtt.h).
 *
 * Locks, outermost first: libmosquitto's callback_mutex (held while it runs
 * our callbacks) -> p->mu -> libmosquitto's message and packet mutexes (taken
 * inside mosquitto_publish) -> p->err_mu (a leaf: nothing is called with it
 * held). libmosquitto never takes its callback mutex while holding the
 * message or packet ones, so calling mosquitto_publish with p->mu held, from
 * a caller's thread or from a callback, cannot deadlock.
 *
 * Threads: the callers' (publish, stats, create, destroy); libmosquitto's
 * (the connection, the callbacks); the watch thread (owns libmosquitto's
 * thread after create: starts it again when it gave up, stops it at destroy).
 *
 * Only libc, pthread and libmosquitto: this file builds on its own. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* gethostname, strdup; the CMake build defines it */
#endif
#include "serve/streams/mqtt.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD 268435455u /* MQTT's remaining-length limit */
#define MAX_TOPIC 65535u
#define MAX_WINDOW 65535u /* MQTT packet identifiers in flight */
#define REAP_WAIT_MS 1000 /* how long destroy waits for libmosquitto's thread */
#define REAP_KICK_MS 100  /* ... saying disconnect again this often */
#define MS_PER_S 1000

/* A queued message: topic, NUL, payload, in one block. */
typedef struct pq_msg {
    size_t topic_len, len;
    int retain;
    char data[];
} pq_msg;

struct mqtt_pub {
    struct mosquitto *mosq;
    char shown[300]; /* "HOST:PORT": what messages name */
    int qos;
    size_t max_msgs, max_bytes;
    unsigned window;
    int flush_ms;
    int restart_min_ms, restart_max_ms; /* the watch thread's delays (the reconnect ones) */
    pthread_t watch;

    pthread_mutex_t mu; /* everything below but last_error */
    pthread_cond_t cv;  /* the ring drained, the connection went, the loop thread stopped */
    pq_msg **ring;      /* max_msgs slots */
    size_t head, count, bytes;
    int connected; /* a session is up (CONNACK accepted) */
    int hold;      /* reconnected with messages in flight: libmosquitto resends them first */
    int closing;   /* destroy is disconnecting: nothing more goes to libmosquitto */
    int loop_dead; /* libmosquitto's thread gave up (a "fatal" error): the watch restarts it */
    int restart_ms;
    int loop_started, loop_stopped, abandoned;
    mqtt_pub_stats st; /* counters (connected, queued, in_flight filled on reading) */

    pthread_mutex_t err_mu;
    char last_error[256];
};

static pthread_once_t lib_once = PTHREAD_ONCE_INIT;

static void lib_init(void)
{
    mosquitto_lib_init(); /* never cleaned up: publishers may come and go */
}

static void set_error(mqtt_pub *p, const char *fmt, ...)
{
    char msg[sizeof p->last_error];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&p->err_mu);
    memcpy(p->last_error, msg, sizeof msg);
    pthread_mutex_unlock(&p->err_mu);
}

static void add_ms(struct timespec *t, long ms)
{
    t->tv_sec += ms / 1000;
    t->tv_nsec += (ms % 1000) * 1000000L;
    if (t->tv_nsec >= 1000000000L) {
        t->tv_sec++;
        t->tv_nsec -= 1000000000L;
    }
}

/* ---- options ---- */

void mqtt_pub_options_init(mqtt_pub_options *o)
{
    memset(o, 0, sizeof *o);
    o->qos = MQTT_PUB_DEFAULT_QOS;
    o->keepalive_s = MQTT_PUB_DEFAULT_KEEPALIVE_S;
    o->max_msgs = MQTT_PUB_DEFAULT_MAX_MSGS;
    o->max_bytes = MQTT_PUB_DEFAULT_MAX_BYTES;
    o->window = MQTT_PUB_DEFAULT_WINDOW;
    o->reconnect_min_s = MQTT_PUB_DEFAULT_RECONNECT_MIN_S;
    o->reconnect_max_s = MQTT_PUB_DEFAULT_RECONNECT_MAX_S;
    o->flush_ms = MQTT_PUB_DEFAULT_FLUSH_MS;
}

/* Where a URL points. */
typedef struct mqtt_target {
    char host[256];
    int port;
    char user[256];
    char password[MQTT_PUB_MAX_PASSWORD + 1];
    int has_user, has_password;
} mqtt_target;

/* Parses mqtt://[USER[:PASSWORD]@]HOST[:PORT][/] into *t. 0, or -1 with err,
 * which shows the scheme and what follows the credentials, never them. */
static int parse_url(const char *url, mqtt_target *t, char *err, size_t err_size)
{
    memset(t, 0, sizeof *t);
    if (!strncmp(url, "mqtts://", 8) || !strncmp(url, "ssl://", 6)) {
        snprintf(err, err_size, "MQTT URL: TLS (mqtts://) is not supported yet; use mqtt://");
        return -1;
    }
    if (strncmp(url, "mqtt://", 7)) {
        const char *sep = strstr(url, "://");
        snprintf(err, err_size,
                 "MQTT URL: unknown scheme '%.*s'; want mqtt://[USER[:PASSWORD]@]HOST[:PORT]",
                 sep ? (int)(sep - url < 20 ? sep - url : 20) : 0, url);
        return -1;
    }
    const char *p = url + 7;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL; /* the last '@' before the path: a password may hold '@' */
    for (const char *q = p; q < end; q++)
        if (*q == '@') at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
        size_t pl = colon ? (size_t)(at - colon - 1) : 0;
        if (!ul || ul >= sizeof t->user || pl >= sizeof t->password) {
            snprintf(err, err_size,
                     "MQTT URL: credentials are USER[:PASSWORD]@ (a user is needed)");
            return -1;
        }
        memcpy(t->user, p, ul);
        t->has_user = 1;
        if (colon) {
            memcpy(t->password, colon + 1, pl);
            t->has_password = 1;
        }
        p = at + 1;
    }
    const char *hs = p, *he;
    if (*p == '[') { /* [IPv6] */
        he = memchr(p, ']', (size_t)(end - p));
        if (!he) {
            snprintf(err, err_size, "MQTT URL: '[' without ']' in the host");
            return -1;
        }
        hs = p + 1;
        p = he + 1;
    } else {
        he = p + strcspn(p, ":/?#");
        if (he > end) he = end;
        p = he;
    }
    size_t hl = (size_t)(he - hs);
    if (!hl || hl >= sizeof t->host) {
        snprintf(err, err_size, "MQTT URL: no host; want mqtt://[USER[:PASSWORD]@]HOST[:PORT]");
        return -1;
    }
    memcpy(t->host, hs, hl);
    t->port = MQTT_PUB_DEFAULT_PORT;
    if (*p == ':') {
        char *e;
        errno = 0;
        long v = strtol(p + 1, &e, 10);
        if (e == p + 1 || errno || v < 1 || v > 65535 || e != end) {
            snprintf(err, err_size, "MQTT URL for host %s: bad port (1..65535)", t->host);
            return -1;
        }
        t->port = (int)v;
        p = e;
    }
    if (p != end || (*end && strcmp(end, "/"))) {
        snprintf(err, err_size, "MQTT URL for host %s: unexpected '%.60s' (no path or query)",
                 t->host, p != end ? p : end);
        return -1;
    }
    return 0;
}

/* The first line of path (without its line end) into t->password. */
static int read_password(const char *path, mqtt_target *t, char *err, size_t err_size)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, err_size, "MQTT password file %s: %s", path, strerror(errno));
        return -1;
    }
    size_t n = fread(t->password, 1, sizeof t->password, f);
    int bad = ferror(f);
    fclose(f);
    size_t line = 0;
    while (line < n && t->password[line] != '\n' && t->password[line] != '\r')
        line++;
    if (bad || line == sizeof t->password) {
        memset(t->password, 0, sizeof t->password);
        if (bad)
            snprintf(err, err_size, "MQTT password file %s: read error", path);
        else
            snprintf(err, err_size, "MQTT password file %s: a line over %d bytes", path,
                     MQTT_PUB_MAX_PASSWORD);
        return -1;
    }
    memset(t->password + line, 0, sizeof t->password - line);
    t->has_password = 1;
    return 0;
}

static int check_options(const mqtt_pub_options *o, char *err, size_t err_size)
{
    const char *what = NULL;
    if (!o || !o->url)
        what = "no URL";
    else if (o->qos < 0 || o->qos > 2)
        what = "QoS must be 0, 1 or 2";
    else if (o->keepalive_s && (o->keepalive_s < 5 || o->keepalive_s > 65535))
        what = "keepalive must be 5..65535 s";
    else if (o->window > MAX_WINDOW)
        what = "window must be at most 65535";
    else if (o->reconnect_min_s < 0 || o->reconnect_max_s < 0 || o->reconnect_max_s > 3600 ||
             (o->reconnect_max_s && o->reconnect_min_s > o->reconnect_max_s))
        what = "reconnect delays must be 0 <= min <= max <= 3600 s";
    else if (o->flush_ms < 0)
        what = "flush_ms must be >= 0";
    else if (o->client_id && (!o->client_id[0] || strlen(o->client_id) > 65535))
        what = "client id must be 1..65535 bytes";
    if (!what) return 0;
    snprintf(err, err_size, "MQTT options: %s", what);
    return -1;
}

/* ---- the ring (p->mu held) ---- */

static pq_msg *ring_pop(mqtt_pub *p)
{
    pq_msg *m = p->ring[p->head];
    p->ring[p->head] = NULL;
    p->head = (p->head + 1) % p->max_msgs;
    p->count--;
    p->bytes -= m->topic_len + m->len;
    return m;
}

static void ring_push(mqtt_pub *p, pq_msg *m)
{
    size_t size = m->topic_len + m->len;
    while (p->count && (p->count == p->max_msgs || p->bytes + size > p->max_bytes)) {
        free(ring_pop(p));
        p->st.dropped++;
    }
    p->ring[(p->head + p->count) % p->max_msgs] = m;
    p->count++;
    p->bytes += size;
}

/* Hands messages to libmosquitto, oldest first, while a session is up and the
 * window has room. */
static void drain(mqtt_pub *p)
{
    while (p->connected && !p->hold && !p->closing && p->count && p->st.in_flight < p->window) {
        pq_msg *m = p->ring[p->head];
        int rc = mosquitto_publish(p->mosq, NULL, m->data, (int)m->len, m->data + m->topic_len + 1,
                                   p->qos, m->retain != 0);
        /* QoS 0 without a socket is not taken; QoS 1/2 is queued inside
         * libmosquitto before it finds no socket, and resent on reconnect */
        if (rc == MOSQ_ERR_NO_CONN && p->qos == 0) break;
        free(ring_pop(p));
        if (rc == MOSQ_ERR_SUCCESS || rc == MOSQ_ERR_NO_CONN) {
            p->st.published++;
            p->st.in_flight++;
        } else {
            p->st.failed++;
            set_error(p, "MQTT broker %s: a message was refused: %s", p->shown,
                      mosquitto_strerror(rc));
        }
    }
    if (!p->count && !p->st.in_flight) pthread_cond_broadcast(&p->cv);
}

/* ---- libmosquitto's callbacks (its thread, its callback mutex held) ---- */

static void on_connect(struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    mqtt_pub *p = arg;
    if (rc) {
        set_error(p, "MQTT broker %s refused the connection: %s", p->shown,
                  mosquitto_connack_string(rc));
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->connected = 1;
    p->st.connects++;
    p->restart_ms = p->restart_min_ms;
    /* libmosquitto resends what was in flight right after this callback:
     * newer messages wait until those are acknowledged, to keep the order */
    p->hold = p->st.in_flight > 0;
    drain(p);
    pthread_mutex_unlock(&p->mu);
}

/* The errors after which libmosquitto 2.0.11's mosquitto_loop_forever returns
 * instead of reconnecting (loop.c): its thread ends. A peer that answers
 * with bytes that are not MQTT (a wrong port, a proxy) gives
 * MOSQ_ERR_PROTOCOL. */
static int loop_gives_up(int rc)
{
    switch (rc) {
    case MOSQ_ERR_NOMEM:
    case MOSQ_ERR_PROTOCOL:
    case MOSQ_ERR_INVAL:
    case MOSQ_ERR_NOT_FOUND:
    case MOSQ_ERR_TLS:
    case MOSQ_ERR_PAYLOAD_SIZE:
    case MOSQ_ERR_NOT_SUPPORTED:
    case MOSQ_ERR_AUTH:
    case MOSQ_ERR_ACL_DENIED:
    case MOSQ_ERR_UNKNOWN:
    case MOSQ_ERR_EAI:
    case MOSQ_ERR_PROXY:
        return 1;
    default:
        return 0;
    }
}

static void on_disconnect(struct mosquitto *mosq, void *arg, int rc)
{
    (void)mosq;
    mqtt_pub *p = arg;
    pthread_mutex_lock(&p->mu);
    if (loop_gives_up(rc)) p->loop_dead = 1; /* the watch thread starts another */
    int was = p->connected;
    if (was) p->st.disconnects++;
    p->connected = 0;
    if (p->qos == 0) { /* QoS 0 packets not yet written are discarded at the reconnect */
        p->st.lost += p->st.in_flight;
        p->st.in_flight = 0;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (rc)
        set_error(p, "MQTT broker %s: %s: %s (retrying)", p->shown,
                  was ? "connection lost" : "cannot connect", mosquitto_strerror(rc));
}

static void on_publish(struct mosquitto *mosq, void *arg, int mid)
{
    (void)mosq;
    (void)mid;
    mqtt_pub *p = arg;
    pthread_mutex_lock(&p->mu);
    if (p->st.in_flight) p->st.in_flight--;
    p->st.acknowledged++;
    if (!p->st.in_flight) p->hold = 0;
    drain(p);
    pthread_mutex_unlock(&p->mu);
}

/* ---- the publisher ---- */

static void free_all(mqtt_pub *p)
{
    if (p->mosq && p->loop_started && !p->loop_stopped) { /* create failed before the watch */
        mosquitto_disconnect(p->mosq);                    /* the thread ends once it sees it */
        mosquitto_loop_stop(p->mosq, false);
    }
    if (p->mosq) mosquitto_destroy(p->mosq);
    while (p->count)
        free(ring_pop(p));
    free(p->ring);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->err_mu);
    free(p);
}

static int init_sync(mqtt_pub *p)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca)) return -1;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (rc) return -1;
    if (pthread_mutex_init(&p->mu, NULL)) {
        pthread_cond_destroy(&p->cv);
        return -1;
    }
    if (pthread_mutex_init(&p->err_mu, NULL)) {
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
        return -1;
    }
    return 0;
}

/* libmosquitto's client, configured (not connected). */
static int setup_client(mqtt_pub *p, const mqtt_pub_options *o, const mqtt_target *t, char *err,
                        size_t err_size)
{
    char id[128] = "";
    if (!o->client_id) {
        char host[64] = "";
        if (gethostname(host, sizeof host - 1)) snprintf(host, sizeof host, "host");
        host[strcspn(host, ".")] = '\0';
        snprintf(id, sizeof id, "glint-%s-%ld", host, (long)getpid());
    }
    p->mosq = mosquitto_new(o->client_id ? o->client_id : id, true, p); /* clean session */
    if (!p->mosq) {
        snprintf(err, err_size, "MQTT broker %s: cannot make a client: %s", p->shown,
                 strerror(errno));
        return -1;
    }
    int rc = mosquitto_int_option(p->mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    if (!rc && p->window) rc = mosquitto_int_option(p->mosq, MOSQ_OPT_SEND_MAXIMUM, (int)p->window);
    if (!rc && t->has_user)
        rc = mosquitto_username_pw_set(p->mosq, t->user, t->has_password ? t->password : NULL);
    if (!rc) {
        int lo = o->reconnect_min_s ? o->reconnect_min_s : MQTT_PUB_DEFAULT_RECONNECT_MIN_S;
        int hi = o->reconnect_max_s ? o->reconnect_max_s : MQTT_PUB_DEFAULT_RECONNECT_MAX_S;
        if (hi < lo) hi = lo;
        p->restart_min_ms = p->restart_ms = lo * MS_PER_S;
        p->restart_max_ms = hi * MS_PER_S;
        rc = mosquitto_reconnect_delay_set(p->mosq, (unsigned)lo, (unsigned)hi, true);
    }
    if (rc) {
        snprintf(err, err_size, "MQTT broker %s: %s", p->shown, mosquitto_strerror(rc));
        return -1;
    }
    mosquitto_connect_callback_set(p->mosq, on_connect);
    mosquitto_disconnect_callback_set(p->mosq, on_disconnect);
    mosquitto_publish_callback_set(p->mosq, on_publish);
    return 0;
}

/* Waits on p->cv until closing or ms pass (p->mu held). */
static void wait_closing(mqtt_pub *p, int ms)
{
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    add_ms(&dl, ms);
    while (!p->closing)
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) break;
}

/* The owner of libmosquitto's thread after create: starts it again when it
 * gave up (after a delay growing from reconnect_min_s to reconnect_max_s,
 * which a connection resets), and stops it once destroy says so. If destroy
 * gave up waiting for that, this thread frees what is left. */
static void *watch(void *arg)
{
    mqtt_pub *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->closing && !p->loop_dead)
            pthread_cond_wait(&p->cv, &p->mu);
        if (p->closing) break;
        pthread_mutex_unlock(&p->mu);
        mosquitto_loop_stop(p->mosq, false); /* joins it: it is ending */
        pthread_mutex_lock(&p->mu);
        wait_closing(p, p->restart_ms);
        if (p->closing) break;
        p->restart_ms =
            p->restart_ms * 2 > p->restart_max_ms ? p->restart_max_ms : p->restart_ms * 2;
        p->loop_dead = 0;
        pthread_mutex_unlock(&p->mu);
        int rc = mosquitto_loop_start(p->mosq); /* it reconnects by itself */
        pthread_mutex_lock(&p->mu);
        if (rc) {
            p->loop_dead = 1;
            set_error(p, "MQTT broker %s: cannot restart libmosquitto's thread: %s", p->shown,
                      mosquitto_strerror(rc));
        }
    }
    pthread_mutex_unlock(&p->mu);
    mosquitto_loop_stop(p->mosq, false); /* returns at once if it is not running */
    pthread_mutex_lock(&p->mu);
    p->loop_stopped = 1;
    int abandoned = p->abandoned;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    if (abandoned) free_all(p);
    return NULL;
}

mqtt_pub *mqtt_pub_create(const mqtt_pub_options *o, char *err, size_t err_size)
{
    mqtt_target t;
    mqtt_pub *p = NULL;
    if (check_options(o, err, err_size) || parse_url(o->url, &t, err, err_size)) return NULL;
    if (o->password_file) {
        if (t.has_password) {
            snprintf(err, err_size, "MQTT broker %s: a password in both the URL and a file",
                     t.host);
            goto fail;
        }
        if (read_password(o->password_file, &t, err, err_size)) goto fail;
    }
    if (t.has_password && !t.has_user) {
        snprintf(err, err_size, "MQTT broker %s: a password needs a user name", t.host);
        goto fail;
    }
    p = calloc(1, sizeof *p);
    if (!p || init_sync(p)) {
        free(p);
        p = NULL;
        snprintf(err, err_size, "MQTT: out of memory");
        goto fail;
    }
    snprintf(p->shown, sizeof p->shown, strchr(t.host, ':') ? "[%s]:%d" : "%s:%d", t.host, t.port);
    p->qos = o->qos;
    p->max_msgs = o->max_msgs ? o->max_msgs : MQTT_PUB_DEFAULT_MAX_MSGS;
    p->max_bytes = o->max_bytes ? o->max_bytes : MQTT_PUB_DEFAULT_MAX_BYTES;
    p->window = o->window ? o->window : MQTT_PUB_DEFAULT_WINDOW;
    p->flush_ms = o->flush_ms;
    p->ring =
        p->max_msgs <= SIZE_MAX / sizeof *p->ring ? calloc(p->max_msgs, sizeof *p->ring) : NULL;
    if (!p->ring) {
        snprintf(err, err_size, "MQTT: no memory for a ring of %zu messages", p->max_msgs);
        goto fail;
    }
    pthread_once(&lib_once, lib_init);
    if (setup_client(p, o, &t, err, err_size)) goto fail;
    /* libmosquitto's thread first: 2.0.11's thread waits for a first connect
     * to leave the state "new", which a connect_async that fails before the
     * thread runs never does (it would never retry: mosquitto issue #1903) */
    int rc = mosquitto_loop_start(p->mosq);
    if (rc) {
        snprintf(err, err_size, "MQTT broker %s: cannot start libmosquitto's thread: %s", p->shown,
                 mosquitto_strerror(rc));
        goto fail;
    }
    p->loop_started = 1;
    /* non-blocking connect (the name is resolved here); a broker that is down
     * is no error: libmosquitto's thread retries with the backoff */
    int keepalive = o->keepalive_s ? o->keepalive_s : MQTT_PUB_DEFAULT_KEEPALIVE_S;
    rc = mosquitto_connect_async(p->mosq, t.host, t.port, keepalive);
    if (rc == MOSQ_ERR_INVAL) {
        snprintf(err, err_size, "MQTT broker %s: bad host or port", p->shown);
        goto fail;
    }
    if (rc == MOSQ_ERR_ERRNO)
        set_error(p, "MQTT broker %s: %s (retrying)", p->shown, strerror(errno));
    else if (rc == MOSQ_ERR_EAI)
        set_error(p, "MQTT broker %s: cannot resolve the host (retrying)", p->shown);
    else if (rc)
        set_error(p, "MQTT broker %s: %s (retrying)", p->shown, mosquitto_strerror(rc));
    if (pthread_create(&p->watch, NULL, watch, p)) {
        snprintf(err, err_size, "MQTT broker %s: cannot start a thread", p->shown);
        goto fail;
    }
    memset(&t, 0, sizeof t);
    return p;
fail:
    memset(&t, 0, sizeof t);
    if (p) free_all(p);
    return NULL;
}

int mqtt_pub_publish(mqtt_pub *p, const char *topic, const void *payload, size_t len, int retain)
{
    if (!p || !topic || (len && !payload)) return -1;
    size_t tl = strlen(topic);
    if (!tl || tl > MAX_TOPIC || len > MAX_PAYLOAD || len > p->max_bytes ||
        tl > p->max_bytes - len || mosquitto_validate_utf8(topic, (int)tl) ||
        mosquitto_pub_topic_check2(topic, tl))
        return -1;
    pq_msg *m = malloc(sizeof *m + tl + 1 + len);
    if (!m) return -1;
    m->topic_len = tl;
    m->len = len;
    m->retain = retain;
    memcpy(m->data, topic, tl + 1);
    if (len) memcpy(m->data + tl + 1, payload, len);
    pthread_mutex_lock(&p->mu);
    p->st.accepted++;
    ring_push(p, m);
    drain(p);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void mqtt_pub_get_stats(const mqtt_pub *p, mqtt_pub_stats *out)
{
    mqtt_pub *w = (mqtt_pub *)p; /* the locks only */
    pthread_mutex_lock(&w->mu);
    *out = p->st;
    out->connected = p->connected;
    out->queued = p->count;
    out->queued_bytes = p->bytes;
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->err_mu);
    memcpy(out->last_error, p->last_error, sizeof out->last_error);
    pthread_mutex_unlock(&w->err_mu);
}

void mqtt_pub_destroy(mqtt_pub *p)
{
    if (!p) return;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    add_ms(&dl, p->flush_ms);
    pthread_mutex_lock(&p->mu);
    while (p->connected && (p->count || p->st.in_flight))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &dl) == ETIMEDOUT) break;
    /* libmosquitto's thread ends when it sees the state "disconnected"; it
     * may miss the first word while it (re)connects, so say it again until
     * it is gone */
    p->closing = 1;
    mosquitto_disconnect(p->mosq);
    pthread_cond_broadcast(&p->cv);
    clock_gettime(CLOCK_MONOTONIC, &dl);
    struct timespec end = dl;
    add_ms(&end, REAP_WAIT_MS);
    while (!p->loop_stopped) {
        add_ms(&dl, REAP_KICK_MS);
        int rc = pthread_cond_timedwait(&p->cv, &p->mu, &dl);
        if (p->loop_stopped) break;
        if (rc == ETIMEDOUT) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
                break;
            mosquitto_disconnect(p->mosq);
        }
    }
    if (!p->loop_stopped) { /* stuck (a blocking connect): the watch thread frees p */
        p->abandoned = 1;
        pthread_mutex_unlock(&p->mu);
        pthread_detach(p->watch);
        return;
    }
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->watch, NULL);
    free_all(p);
}
