/* rlink: a Redis connection on h2o's event loop (see rlink.h). */
#include "serve/core/rlink.h"

#include <h2o/hostinfo.h>
#include <hiredis/async.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TICK_MS 50
#define CONNECT_TIMEOUT_NS 1000000000u
#define RESOLVE_TIMEOUT_NS 5000000000u
#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 1000

struct rlink {
    h2o_loop_t *loop;
    h2o_multithread_receiver_t *resolver;  /* h2o's getaddrinfo threads answer here */
    h2o_hostinfo_getaddr_req_t *resolving; /* a name being resolved, or NULL */
    char portstr[8];
    rlink_target t; /* host (or the socket's path), port (0: a unix socket), db, credentials */
    int timeout_ms;
    void (*on_up)(void *arg);
    void *arg;
    redisAsyncContext *ac; /* NULL: no connection (waiting to retry) */
    int connected;         /* ac's connect completed */
    uint64_t connect_start_ns, next_attempt_ns;
    int backoff_ms;
    int stall;        /* timeouts in a row */
    int auth_refused; /* the last AUTH was refused (logged) */
    int up_once;      /* connected since the last failure was logged */
    uint64_t rng;
    h2o_timeout_t cmd_timeout; /* timeout_ms */
    h2o_timeout_t tick_timeout;
    h2o_timeout_entry_t tick;
    rlink_stats st;
};

/* A command on its way: freed by hiredis's callback (which always runs). */
typedef struct rl_cmd {
    h2o_timeout_entry_t te;
    rlink *l;
    rlink_cb cb;
    void *arg;
    int done; /* cb has run */
} rl_cmd;

/* The h2o socket that watches hiredis's descriptor. */
typedef struct rsock {
    redisAsyncContext *ac;
    h2o_socket_t *sock;
} rsock;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* url with its password replaced by "***" (for messages). */
static void redact(const char *url, char *out, size_t cap)
{
    const char *at = strncmp(url, "redis://", 8) ? NULL : strchr(url + 8, '@');
    const char *colon = at ? memchr(url + 8, ':', (size_t)(at - url - 8)) : NULL;
    if (!colon)
        snprintf(out, cap, "%.200s", url);
    else
        snprintf(out, cap, "%.*s:***%.200s", (int)(colon - url), url, at);
}

int rlink_parse_url(const char *url, rlink_target *t, char *err, size_t err_size)
{
    char shown[320];
    redact(url, shown, sizeof shown);
    memset(t, 0, sizeof *t);
    if (!strncmp(url, "unix://", 7)) {
        const char *p = url + 7;
        const char *q = strchr(p, '?');
        size_t n = q ? (size_t)(q - p) : strlen(p);
        if (!n || p[0] != '/' || n >= sizeof t->host) {
            snprintf(err, err_size, "Redis URL '%s': want unix:///PATH[?db=N]", shown);
            return -1;
        }
        memcpy(t->host, p, n);
        if (q) {
            char *end;
            long v = strncmp(q, "?db=", 4) ? -1 : strtol(q + 4, &end, 10);
            if (v < 0 || v > 1000000 || *end) {
                snprintf(err, err_size, "Redis URL '%s': the query may only be ?db=N", shown);
                return -1;
            }
            t->db = (int)v;
        }
        return 0;
    }
    if (strncmp(url, "redis://", 8)) {
        snprintf(err, err_size,
                 "Redis URL '%s': want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
                 "unix:///PATH",
                 shown);
        return -1;
    }
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) { /* credentials: [USER]:PASSWORD (Redis 6 ACL users, or AUTH's password) */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : 0;
        size_t pl = colon ? (size_t)(at - colon - 1) : 0;
        if (!colon || !pl || ul >= sizeof t->user || pl >= sizeof t->password) {
            snprintf(err, err_size, "Redis URL '%s': credentials are [USER]:PASSWORD@", shown);
            return -1;
        }
        memcpy(t->user, p, ul);
        memcpy(t->password, colon + 1, pl);
        p = at + 1;
    }
    size_t n = strcspn(p, ":/");
    if (!n || n >= sizeof t->host) {
        snprintf(err, err_size, "Redis URL '%s': no host", shown);
        return -1;
    }
    memcpy(t->host, p, n);
    p += n;
    t->port = 6379;
    char *end;
    if (*p == ':') {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 1 || v > 65535 || (*end && *end != '/')) {
            snprintf(err, err_size, "Redis URL '%s': bad port", shown);
            return -1;
        }
        t->port = (int)v;
        p = end;
    }
    if (*p == '/' && p[1]) {
        long v = strtol(p + 1, &end, 10);
        if (end == p + 1 || v < 0 || v > 1000000 || *end) {
            snprintf(err, err_size, "Redis URL '%s': the path is the database number", shown);
            return -1;
        }
        t->db = (int)v;
    } else if (*p && strcmp(p, "/")) {
        snprintf(err, err_size, "Redis URL '%s': unexpected '%.100s'", shown, p);
        return -1;
    }
    return 0;
}

/* ---- hiredis on an h2o socket ---- */

static void on_readable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    rsock *p = sock->data;
    if (p) redisAsyncHandleRead(p->ac);
}

static void on_writable(h2o_socket_t *sock, const char *err)
{
    (void)err;
    rsock *p = sock->data;
    if (p) redisAsyncHandleWrite(p->ac);
}

static void ev_add_read(void *data)
{
    rsock *p = data;
    h2o_socket_read_start(p->sock, on_readable);
}

static void ev_del_read(void *data)
{
    rsock *p = data;
    h2o_socket_read_stop(p->sock);
}

static void ev_add_write(void *data)
{
    rsock *p = data;
    if (!h2o_socket_is_writing(p->sock)) h2o_socket_notify_write(p->sock, on_writable);
}

static void ev_del_write(void *data)
{
    (void)data; /* h2o cannot take a notification back: a spurious one writes nothing */
}

static void ev_cleanup(void *data)
{
    rsock *p = data;
    p->sock->data = NULL; /* h2o may still run a notification this turn */
    h2o_socket_close(p->sock);
    p->ac->c.fd = -1; /* closed with the h2o socket */
    free(p);
}

static int attach(redisAsyncContext *ac, h2o_loop_t *loop)
{
    rsock *p = calloc(1, sizeof *p);
    if (!p) return -1;
    p->ac = ac;
    p->sock = h2o_evloop_socket_create(loop, ac->c.fd, H2O_SOCKET_FLAG_DONT_READ);
    if (!p->sock) {
        free(p);
        return -1;
    }
    p->sock->data = p;
    ac->ev.data = p;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ---- connecting ---- */

static void arm_tick(rlink *l)
{
    if (!h2o_timeout_is_linked(&l->tick)) h2o_timeout_link(l->loop, &l->tick_timeout, &l->tick);
}

/* The connection is gone (ac freed or being freed): retry after a backoff. */
static void lost(rlink *l)
{
    l->ac = NULL;
    l->connected = 0;
    l->st.up = 0;
    l->st.failures++;
    l->rng ^= l->rng << 13;
    l->rng ^= l->rng >> 7;
    l->rng ^= l->rng << 17;
    int jitter = (int)(l->rng % (uint64_t)(l->backoff_ms / 2 + 1)); /* up to +50% */
    l->next_attempt_ns = now_ns() + (uint64_t)(l->backoff_ms + jitter) * 1000000u;
    l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : l->backoff_ms * 2;
    arm_tick(l);
}

/* AUTH's answer: refused credentials make the link down (retried with the
 * backoff, logged once until they work). */
static void on_auth(void *arg, const redisReply *r)
{
    rlink *l = arg;
    if (!r || r->type != REDIS_REPLY_ERROR) {
        if (r) l->auth_refused = 0;
        return;
    }
    if (!l->auth_refused)
        fprintf(stderr, "glint serve: Redis at %s refused the credentials: %.*s\n", l->t.host,
                (int)r->len, r->str);
    l->auth_refused = 1;
    if (l->ac) redisAsyncDisconnect(l->ac); /* safe in a callback: ends after it */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    rlink *l = ac->data;
    if (!l || l->ac != ac) return;
    if (status != REDIS_OK) { /* hiredis frees ac after this */
        if (!l->st.failures || l->up_once)
            fprintf(stderr, "glint serve: Redis at %s: %s (retrying)\n", l->t.host, ac->errstr);
        l->up_once = 0;
        lost(l);
        return;
    }
    if (!l->auth_refused) fprintf(stderr, "glint serve: connected to Redis at %s\n", l->t.host);
    l->up_once = 1;
    l->connected = 1;
    l->st.up = 1;
    l->st.connects++;
    l->stall = 0;           /* the backoff starts over at the first reply: a stalled Redis accepts
                               connections and answers nothing */
    if (l->t.password[0]) { /* first: every command after it needs it */
        const char *argv[3] = {"AUTH"};
        size_t lens[3] = {4};
        int n = 1;
        if (l->t.user[0]) {
            argv[n] = l->t.user;
            lens[n++] = strlen(l->t.user);
        }
        argv[n] = l->t.password;
        lens[n++] = strlen(l->t.password);
        rlink_command(l, on_auth, l, n, argv, lens);
    }
    if (l->t.db) {
        char dbs[16];
        int n = snprintf(dbs, sizeof dbs, "%d", l->t.db);
        const char *argv[] = {"SELECT", dbs};
        const size_t lens[] = {6, (size_t)n};
        rlink_command(l, NULL, NULL, 2, argv, lens);
    }
    if (l->on_up) l->on_up(l->arg);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    rlink *l = ac->data;
    if (!l || l->ac != ac) return;
    if (!l->auth_refused)
        fprintf(stderr, "glint serve: lost Redis at %s: %s (retrying)\n", l->t.host,
                ac->errstr[0] ? ac->errstr : "connection closed");
    lost(l);
}

/* Connects to host (a numeric address, or the socket's path). */
static void connect_to(rlink *l, const char *host)
{
    redisAsyncContext *ac =
        l->t.port ? redisAsyncConnect(host, l->t.port) : redisAsyncConnectUnix(host);
    l->connect_start_ns = now_ns();
    if (!ac || ac->err || attach(ac, l->loop)) {
        if (ac) redisAsyncFree(ac);
        lost(l);
        return;
    }
    ac->data = l;
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    /* hiredis learns that the connect finished from the first writable event */
    ev_add_write(ac->ev.data);
    arm_tick(l);
}

/* The host name's addresses, from h2o's resolver threads: the first one. */
static void on_resolved(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res,
                        void *arg)
{
    (void)req;
    rlink *l = arg;
    l->resolving = NULL;
    char ip[INET6_ADDRSTRLEN + 1];
    if (errstr || !res ||
        getnameinfo(res->ai_addr, res->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST)) {
        if (!l->st.failures || l->up_once)
            fprintf(stderr, "glint serve: Redis host %s: %s (retrying)\n", l->t.host,
                    errstr ? errstr : "no address");
        l->up_once = 0;
        lost(l);
        return;
    }
    connect_to(l, ip);
}

static void start_connect(rlink *l)
{
    struct in6_addr a;
    if (!l->t.port || !l->resolver || inet_pton(AF_INET, l->t.host, &a) == 1 ||
        inet_pton(AF_INET6, l->t.host, &a) == 1) {
        connect_to(l, l->t.host);
        return;
    }
    /* a name: resolved on h2o's resolver threads, never on the loop */
    l->connect_start_ns = now_ns();
    l->resolving =
        h2o_hostinfo_getaddr(l->resolver, h2o_iovec_init(l->t.host, strlen(l->t.host)),
                             h2o_iovec_init(l->portstr, strlen(l->portstr)), AF_UNSPEC, SOCK_STREAM,
                             IPPROTO_TCP, AI_ADDRCONFIG | AI_NUMERICSERV, on_resolved, l);
    arm_tick(l);
}

/* Drops the connection now (not from inside a hiredis callback). */
static void drop(rlink *l)
{
    redisAsyncContext *ac = l->ac;
    if (!ac) return;
    lost(l); /* l->ac = NULL first: the callbacks below then leave l alone */
    ac->data = NULL;
    redisAsyncFree(ac); /* pending commands' callbacks run with NULL */
}

static void on_tick(h2o_timeout_entry_t *te)
{
    rlink *l = H2O_STRUCT_FROM_MEMBER(rlink, tick, te);
    uint64_t now = now_ns();
    if (l->resolving && now - l->connect_start_ns > RESOLVE_TIMEOUT_NS) {
        h2o_hostinfo_getaddr_cancel(l->resolving);
        l->resolving = NULL;
        lost(l);
    } else if (l->ac && !l->connected && now - l->connect_start_ns > CONNECT_TIMEOUT_NS) {
        drop(l);
    } else if (!l->ac && !l->resolving && now >= l->next_attempt_ns) {
        start_connect(l);
    }
    if (!l->connected) arm_tick(l);
}

/* ---- commands ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *data)
{
    (void)ac;
    rl_cmd *c = data;
    if (!c) return;
    rlink *l = c->l;
    if (!c->done) {
        c->done = 1;
        h2o_timeout_unlink(&c->te);
        if (reply) {
            l->stall = 0;
            l->st.replies++;
            if (((redisReply *)reply)->type == REDIS_REPLY_ERROR)
                l->st.errors++;
            else /* Redis works: the next failure's backoff starts over */
                l->backoff_ms = BACKOFF_MIN_MS;
        } else {
            l->st.dropped++;
        }
        if (c->cb) c->cb(c->arg, reply);
    }
    free(c);
}

static void on_cmd_timeout(h2o_timeout_entry_t *te)
{
    rl_cmd *c = H2O_STRUCT_FROM_MEMBER(rl_cmd, te, te);
    rlink *l = c->l;
    c->done = 1; /* hiredis still holds c: on_reply frees it */
    l->st.timeouts++;
    if (c->cb) c->cb(c->arg, NULL);
    if (++l->stall >= RLINK_STALL_TIMEOUTS && l->ac) {
        fprintf(stderr, "glint serve: Redis gave no answer to %d commands in a row: reconnecting\n",
                l->stall);
        drop(l);
    }
}

int rlink_command(rlink *l, rlink_cb cb, void *arg, int argc, const char **argv, const size_t *lens)
{
    if (!l || !l->ac || !l->connected) return -1;
    rl_cmd *c = calloc(1, sizeof *c);
    if (!c) return -1;
    c->l = l;
    c->cb = cb;
    c->arg = arg;
    c->te.cb = on_cmd_timeout;
    if (redisAsyncCommandArgv(l->ac, on_reply, c, argc, argv, lens) != REDIS_OK) {
        free(c);
        return -1;
    }
    l->st.commands++;
    h2o_timeout_link(l->loop, &l->cmd_timeout, &c->te);
    return 0;
}

/* ---- the link ---- */

rlink *rlink_create(h2o_loop_t *loop, h2o_multithread_receiver_t *resolver, const char *url,
                    int timeout_ms, void (*on_up)(void *arg), void *arg, char *err, size_t err_size)
{
    rlink *l = calloc(1, sizeof *l);
    if (!l) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    if (rlink_parse_url(url, &l->t, err, err_size)) {
        free(l);
        return NULL;
    }
    l->loop = loop;
    l->resolver = resolver;
    snprintf(l->portstr, sizeof l->portstr, "%d", l->t.port);
    l->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    l->on_up = on_up;
    l->arg = arg;
    l->backoff_ms = BACKOFF_MIN_MS;
    l->rng = now_ns() | 1;
    h2o_timeout_init(loop, &l->cmd_timeout, (uint64_t)l->timeout_ms);
    h2o_timeout_init(loop, &l->tick_timeout, TICK_MS);
    l->tick.cb = on_tick;
    start_connect(l);
    return l;
}

void rlink_free(rlink *l)
{
    if (!l) return;
    if (l->resolving) h2o_hostinfo_getaddr_cancel(l->resolving);
    drop(l);
    if (h2o_timeout_is_linked(&l->tick)) h2o_timeout_unlink(&l->tick);
    h2o_timeout_dispose(l->loop, &l->cmd_timeout);
    h2o_timeout_dispose(l->loop, &l->tick_timeout);
    free(l);
}

int rlink_up(const rlink *l)
{
    return l && l->ac && l->connected;
}

void rlink_get_stats(const rlink *l, rlink_stats *out)
{
    *out = l->st;
}
