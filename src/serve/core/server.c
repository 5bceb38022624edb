/* glint serve's core: the event loop, the listener, the modules, answers
 * written back, start-up and drain (see server.h and server_impl.h). */
#include "serve/core/server_impl.h"
#include "util/cpus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;

typedef struct handler {
    h2o_handler_t super;
    server *srv;
} handler;

void serve_options_default(serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->models_dir = "models";
    o->max_batch = 1;
    o->max_queue = 64;
    o->max_queue_ms = 500;
    o->solo_threads = -1;
    o->timeout_ms = 30000;
    o->max_body = (size_t)50 << 20;
    o->max_connections = 1024;
    o->idle_timeout_ms = 10000;
    o->cache_bytes = (size_t)64 << 20;
    o->cache_ttl_s = 300;
    o->slow_ms = 1000;
    o->drain_timeout_ms = 30000;
    o->state_dir = "glint-state";
    o->redis_timeout_ms = 20;
}

/* ---- responses ---- */

/* ---- requests in flight ---- */

static void count_finished(server *s, sreq *r, uint64_t now)
{
    repo_model *m = r->rm;
    if (!m) return;
    uint64_t ns = now - r->t_start;
    model_stats *st = &m->stats;
    if (r->status == 200) {
        atomic_fetch_add(&st->success_count, 1);
        atomic_fetch_add(&st->success_ns, ns);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        atomic_store(&st->last_inference_ms,
                     (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
    } else {
        atomic_fetch_add(&st->fail_count, 1);
        atomic_fetch_add(&st->fail_ns, ns);
        atomic_fetch_add(&st->fail_by[r->reason], 1);
        metrics_counter_inc(r->status >= 500 ? &s->http_errors_5xx : &s->http_errors_4xx);
        char msg[200];
        snprintf(msg, sizeof msg, "%.*s", (int)(r->resp_len < 199 ? r->resp_len : 199),
                 r->resp ? r->resp : "");
        serve_note_error(s, r->status, r->req ? r->req->path_normalized.base : "",
                         r->req ? r->req->path_normalized.len : 0, msg);
    }
    metrics_histogram_observe(&st->request_seconds, (double)ns / 1e9);
}

/* Writes r's answer, if its client is still there. Loop thread. */
static void deliver(server *s, sreq *r)
{
    uint64_t now = serve_now_ns();
    double ms = (double)(now - r->t_start) / 1e6;
    count_finished(s, r, now);
    if (r->status == 200 && r->cacheable && s->cache) {
        resp_cache_put(s->cache, r->cache_key, r->cache_klen, r->resp, r->resp_len, now);
        fleet_cache_put(s->fleet, r->cache_key, r->cache_klen, r->resp, r->resp_len,
                        s->opt.cache_ttl_s);
    }
    if (ms > s->opt.slow_ms)
        fprintf(stderr, "glint serve: slow request: %s %d in %.1f ms (%s)\n",
                r->rm ? r->rm->name : "-", r->status, ms, r->timing);
    if (!r->req) return; /* the client went away */
    h2o_req_t *req = r->req;
    char pt[32];
    int n;
    if (r->timing[0])
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("server-timing"), 0, NULL,
                              r->timing, strlen(r->timing));
    if (r->resp_header_len) {
        n = snprintf(pt, sizeof pt, "%zu", r->resp_header_len);
        h2o_add_header_by_str(&req->pool, &req->res.headers,
                              H2O_STRLIT("inference-header-content-length"), 0, NULL, pt,
                              (size_t)n);
    }
    if (r->resp)
        serve_respond(req, r->status, r->content_type, r->resp, r->resp_len);
    else
        serve_respond(req, 500, "application/json", "{\"error\":\"no answer\"}", 21);
}

static void on_done(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    server *s = H2O_STRUCT_FROM_MEMBER(server, done_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, msg, m);
        s->in_flight--;
        if (r->ops && r->ops->on_loop) r->ops->on_loop(r);
        deliver(s, r);
        sreq_destroy(r);
    }
}

/* ---- modules ---- */

void *serve_module_state(const server *s, const serve_module *m)
{
    for (int i = 0; i < s->n_modules; i++)
        if (s->modules[i] == m) return s->module_state[i];
    return NULL;
}

int serve_submit_image(server *s, const char *target, const void *jpeg, size_t len,
                       const char *client, serve_image_done done, void *arg, char *err,
                       size_t err_size)
{
    for (int i = 0; i < s->n_started; i++) {
        if (!s->modules[i]->image) continue;
        int rc = s->modules[i]->image(s, s->module_state[i], target, jpeg, len, client, done, arg,
                                      err, err_size);
        if (rc <= 0) return rc;
    }
    snprintf(err, err_size, "nothing here takes pictures for '%s'", target);
    return -1;
}

void serve_modules_health(server *s, json_t *o)
{
    for (int i = 0; i < s->n_started; i++)
        if (s->modules[i]->health)
            json_object_set_new(o, s->modules[i]->name,
                                s->modules[i]->health(s, s->module_state[i]));
}

void serve_modules_metrics(server *s, strbuf *sb)
{
    for (int i = 0; i < s->n_started; i++)
        if (s->modules[i]->metrics) s->modules[i]->metrics(s, s->module_state[i], sb);
}

/* Starts the modules in order; a module whose start failed is stopped
 * with the others (with whatever state it set). */
static int start_modules(server *s, char *err, size_t err_size)
{
    while (s->n_started < s->n_modules) {
        int i = s->n_started++;
        const serve_module *m = s->modules[i];
        if (m->start && m->start(s, &s->module_state[i], err, err_size)) return -1;
    }
    return 0;
}

/* Re-reads the API keys file when it changed (at most once a second). */
static void tick_auth(server *s)
{
    uint64_t now = serve_now_ns();
    if (!s->auth || now < s->next_auth_ns) return;
    s->next_auth_ns = now + 1000000000u;
    char err[512];
    int rc = auth_reload(s->auth, err, sizeof err);
    if (rc > 0)
        fprintf(stderr, "glint serve: API keys reloaded (%d)\n", auth_count(s->auth));
    else if (rc < 0)
        fprintf(stderr, "glint serve: %s; the keys read before stay\n", err);
}

static void update_limit_share(server *s);

static void tick_modules(server *s)
{
    tick_auth(s);
    repo_tick(s);
    serve_splits_tick(s);
    if (s->fleet) {
        fleet_tick(s->fleet, serve_now_ns());
        update_limit_share(s);
    }
    for (int i = 0; i < s->n_started; i++)
        if (s->modules[i]->tick) s->modules[i]->tick(s, s->module_state[i]);
}

/* Stops the modules, last started first. */
static void stop_modules(server *s)
{
    while (s->n_started > 0) {
        int i = --s->n_started;
        if (s->modules[i]->stop) s->modules[i]->stop(s, s->module_state[i]);
        s->module_state[i] = NULL;
    }
}

/* ---- routing ---- */

/* The API key req presents (Authorization: Bearer, else x-api-token), or
 * NULL; *len its length. */
const char *serve_presented_key(h2o_req_t *req, size_t *len)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
    if (i >= 0) {
        const h2o_iovec_t *v = &req->headers.entries[i].value;
        if (v->len > 7 && !strncasecmp(v->base, "Bearer ", 7)) {
            *len = v->len - 7;
            return v->base + 7;
        }
    }
    i = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-api-token"), -1);
    if (i >= 0) {
        *len = req->headers.entries[i].value.len;
        return req->headers.entries[i].value.base;
    }
    return NULL;
}

int serve_key_ok(server *s, h2o_req_t *req, const char *form_key, size_t form_len)
{
    if (!s->auth || !s->beyond_loopback) return 1;
    size_t len = 0;
    const char *key = serve_presented_key(req, &len);
    if (!key) {
        key = form_key;
        len = form_len;
    }
    return auth_check(s->auth, key, len) >= 0;
}

/* How the modules say req is let in (DEFAULT unless one says otherwise). */
static serve_access route_access(server *s, h2o_req_t *req, const char *p, size_t n)
{
    serve_access a = SERVE_ACCESS_DEFAULT;
    for (int i = 0; i < s->n_started && a == SERVE_ACCESS_DEFAULT; i++)
        if (s->modules[i]->access) a = s->modules[i]->access(req, p, n);
    return a;
}

/* With API keys: whether req may go on; if not it is answered 401. */
static int let_in(server *s, h2o_req_t *req, serve_access a)
{
    if (a == SERVE_ACCESS_OPEN || (a == SERVE_ACCESS_DEFAULT && !s->beyond_loopback)) return 1;
    size_t len = 0;
    const char *key = serve_presented_key(req, &len);
    if (auth_check(s->auth, key, len) >= 0) return 1;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_WWW_AUTHENTICATE, NULL,
                   H2O_STRLIT("Bearer"));
    serve_respond_error(s, req, 401,
                        "%s: send it as 'Authorization: Bearer KEY' or "
                        "'x-api-token: KEY'",
                        key ? "this API key is not known" : "this route needs an API key");
    return 0;
}

/* Keeps limiter r at this replica's share of a limit of rps with `burst`
 * when n replicas share it (*share: the n it was last set for). */
static void keep_share(ratelimit *r, int *share, int n, double rps, int burst)
{
    if (n == *share) return;
    *share = n;
    ratelimit_set_rate(r, rps / n, (burst + n - 1) / n);
}

/* Keeps the global limiter at the replica's share of the limit while the
 * fleet's Redis counts replicas (what it enforces when Redis is down). */
static void update_limit_share(server *s)
{
    if (s->limits && s->fleet)
        keep_share(s->limits, &s->limit_share, fleet_replicas(s->fleet), s->opt.rate_limit_rps,
                   s->rate_burst);
}

int serve_rate_check(server *s, const char *client, size_t clen, ratelimit_verdict *v)
{
    if (!s->limits) {
        *v = (ratelimit_verdict){.allowed = 1};
        return 1;
    }
    ratelimit_check(s->limits, client, clen, serve_now_ns(), v);
    if (!v->allowed) metrics_counter_inc(&s->rate_limited);
    return v->allowed;
}

void serve_rate_refusal(char *buf, size_t cap, double rps, const ratelimit_verdict *v,
                        const char *model)
{
    snprintf(buf, cap,
             "rate limit%s%s: %g requests/s (bursts of %d) for this client; retry in %.2f s",
             model ? " on model " : "", model ? model : "", rps, v->limit, v->retry_after_s);
}

void serve_cache_digest(server *s, const void *data, size_t len, uint8_t out[16])
{
    uint8_t key[16];
    if (fleet_digest_key(s->fleet, key))
        cache_siphash(key, 1, 3, data, len, out, 16);
    else
        cache_digest(data, len, out);
}

static void add_int_header(h2o_req_t *req, const char *name, size_t nlen, long long v)
{
    char b[32];
    int n = snprintf(b, sizeof b, "%lld", v);
    h2o_add_header_by_str(&req->pool, &req->res.headers, name, nlen, 0, NULL,
                          h2o_strdup(&req->pool, b, (size_t)n).base, (size_t)n);
}

/* Puts the verdict's RateLimit-* headers on req; answers 429 if refused
 * (the limit: rps per client, on `model` if not NULL). Returns whether req
 * may go on. */
static int apply_verdict(server *s, h2o_req_t *req, const ratelimit_verdict *v, double rps,
                         const char *model)
{
    add_int_header(req, H2O_STRLIT("ratelimit-limit"), v->limit);
    add_int_header(req, H2O_STRLIT("ratelimit-remaining"), v->remaining);
    add_int_header(req, H2O_STRLIT("ratelimit-reset"), (long long)ceil(v->reset_s));
    if (v->allowed) return 1;
    add_int_header(req, H2O_STRLIT("retry-after"), (long long)ceil(v->retry_after_s));
    char msg[256];
    serve_rate_refusal(msg, sizeof msg, rps, v, model);
    serve_respond_error(s, req, 429, "%s", msg);
    return 0;
}

int serve_model_rate_check(server *s, repo_model *m, const char *client, size_t clen,
                           ratelimit_verdict *v)
{
    if (!m->limits) {
        *v = (ratelimit_verdict){.allowed = 1};
        return 1;
    }
    keep_share(m->limits, &m->limit_share, s->fleet ? fleet_replicas(s->fleet) : 1,
               m->conf->serving.rate_limit, m->limit_burst);
    ratelimit_check(m->limits, client, clen, serve_now_ns(), v);
    if (!v->allowed) metrics_counter_inc(&s->rate_limited);
    return v->allowed;
}

int serve_model_limit(server *s, h2o_req_t *req, repo_model *m)
{
    if (!m->limits) return 1;
    char client[RATELIMIT_KEY_MAX + 8];
    size_t cl = serve_req_client(req, client, sizeof client);
    ratelimit_verdict v;
    serve_model_rate_check(s, m, client, cl, &v);
    return apply_verdict(s, req, &v, m->conf->serving.rate_limit / m->limit_share, m->name);
}

static int within_rate(server *s, h2o_req_t *req)
{
    char client[RATELIMIT_KEY_MAX + 8];
    size_t cl = serve_req_client(req, client, sizeof client);
    ratelimit_verdict v;
    serve_rate_check(s, client, cl, &v);
    return apply_verdict(s, req, &v, s->opt.rate_limit_rps, NULL);
}

static void dispatch(server *s, h2o_req_t *req)
{
    const char *p = req->path_normalized.base;
    size_t n = req->path_normalized.len;
    for (int i = 0; i < s->n_started; i++)
        if (s->modules[i]->route && !s->modules[i]->route(s, s->module_state[i], req, p, n)) return;
    serve_respond_error(s, req, 404, "no such route: %.*s", (int)(n < 200 ? n : 200), p);
}

/* A request waiting for the fleet's verdict on its client's rate: the h2o
 * request's pool holds a pointer to it that forgets the request if h2o
 * frees it first (the client went away). */
typedef struct rate_wait {
    server *srv;
    h2o_req_t *req;
    struct rate_wait **back; /* in req's pool */
} rate_wait;

static void on_rate_wait_dispose(void *p)
{
    rate_wait *w = *(rate_wait **)p;
    if (w) w->req = NULL;
}

static void on_fleet_verdict(void *arg, const ratelimit_verdict *v)
{
    rate_wait *w = arg;
    server *s = w->srv;
    h2o_req_t *req = w->req;
    s->in_flight--;
    if (req) *w->back = NULL;
    free(w);
    if (!req) return;
    if (s->stopping) { /* the link was freed at exit */
        serve_respond_error(s, req, 503, "the server is shutting down");
        return;
    }
    if (v) {
        if (!v->allowed) metrics_counter_inc(&s->rate_limited);
        if (apply_verdict(s, req, v, s->opt.rate_limit_rps, NULL)) dispatch(s, req);
        return;
    }
    metrics_counter_inc(&s->rate_local); /* Redis did not answer: this replica's share */
    if (within_rate(s, req)) dispatch(s, req);
}

/* Asks the fleet's Redis about req's client; 0 if the verdict will come
 * (on_fleet_verdict goes on with req), -1 if Redis is down. */
static int ask_fleet_rate(server *s, h2o_req_t *req)
{
    char key[RATELIMIT_KEY_MAX + 8];
    size_t kl = serve_req_client(req, key, sizeof key);
    rate_wait *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->srv = s;
    w->req = req;
    if (fleet_rate_check(s->fleet, key, kl, s->opt.rate_limit_rps, s->rate_burst, on_fleet_verdict,
                         w)) {
        free(w);
        return -1;
    }
    w->back = h2o_mem_alloc_shared(&req->pool, sizeof *w->back, on_rate_wait_dispose);
    *w->back = w;
    s->in_flight++; /* the drain waits for the verdict (at most Redis's timeout) */
    return 0;
}

static int on_req(h2o_handler_t *h, h2o_req_t *req)
{
    server *s = ((handler *)h)->srv;
    metrics_counter_inc(&s->http_requests);
    const char *p = req->path_normalized.base;
    size_t n = req->path_normalized.len;
    serve_access a = s->auth || s->limits ? route_access(s, req, p, n) : SERVE_ACCESS_DEFAULT;
    if (s->auth && !let_in(s, req, a)) return 0;
    if (s->limits && a != SERVE_ACCESS_OPEN) {
        if (s->fleet && !ask_fleet_rate(s, req)) return 0; /* goes on when Redis answers */
        if (s->fleet) metrics_counter_inc(&s->rate_local);
        if (!within_rate(s, req)) return 0;
    }
    dispatch(s, req);
    return 0;
}

/* ---- connections ---- */

/* An open client connection, listed so that the drain can end idle
 * keep-alive connections (h2o 2.2 keeps them until their timeout). */
typedef struct client_conn {
    h2o_linklist_t link;
    server *srv;
    int fd;
} client_conn;

static void on_conn_close(void *data)
{
    client_conn *c = data;
    c->srv->connections--;
    h2o_linklist_unlink(&c->link);
    free(c);
}

static void reject_connection(server *s, int fd)
{
    static const char msg[] =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: 35\r\n\r\n"
        "{\"error\":\"too many connections\"}\r\n";
    metrics_counter_inc(&s->conn_rejected);
    ssize_t w = send(fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)w;
    close(fd);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    server *s = listener->data;
    if (err) return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (s->connections >= s->opt.max_connections) {
            reject_connection(s, fd);
            continue;
        }
        client_conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->srv = s;
        c->fd = fd;
        h2o_linklist_insert(&s->conns, &c->link);
        h2o_socket_t *sock =
            h2o_evloop_socket_create(s->loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
        sock->on_close.cb = on_conn_close;
        sock->on_close.data = c;
        s->connections++;
        h2o_accept(&s->accept_ctx, sock);
    }
}

int serve_is_loopback(const char *host)
{
    return !strcmp(host, "localhost") || !strcmp(host, "::1") || !strncmp(host, "127.", 4);
}

int serve_listen_socket(const char *host, int port, int *bound, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &ai);
    if (rc) {
        snprintf(err, err_size, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
        snprintf(err, err_size, "cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                            : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}

static int open_listener(server *s, char *err, size_t err_size)
{
    int fd = serve_listen_socket(s->opt.host, s->opt.port, &s->port, err, err_size);
    if (fd < 0) return -1;
    s->listen_fd = fd;
    s->listener = h2o_evloop_socket_create(s->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    s->listener->data = s;
    h2o_socket_read_start(s->listener, on_accept);
    return 0;
}

static void close_listener(server *s)
{
    if (!s->listener) return;
    h2o_socket_read_stop(s->listener);
    h2o_socket_close(s->listener); /* closes listen_fd */
    s->listener = NULL;
}

/* ---- start-up and shutdown ---- */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void setup_h2o(server *s)
{
    h2o_config_init(&s->config);
    s->config.server_name = h2o_iovec_init(H2O_STRLIT("glint"));
    s->config.max_request_entity_size = s->opt.max_body;
    s->config.http1.req_timeout = (uint64_t)s->opt.idle_timeout_ms;
    s->config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&s->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    handler *h = (handler *)h2o_create_handler(pc, sizeof *h);
    h->super.on_req = on_req;
    h->srv = s;
    s->loop = h2o_evloop_create();
    h2o_context_init(&s->ctx, s->loop, &s->config);
    s->accept_ctx.ctx = &s->ctx;
    s->accept_ctx.hosts = s->config.hosts;
    s->queue = h2o_multithread_create_queue(s->loop);
    h2o_multithread_register_receiver(s->queue, &s->done_rx, on_done);
    repo_reload_init(s);
}

/* 1 if model `name` loads at start (--load names it, or there is no --load). */
static int wanted(const server *s, const char *name)
{
    int want = !s->opt.load;
    for (int k = 0; k < s->opt.n_load; k++)
        want |= !strcmp(s->opt.load[k], name);
    return want;
}

static int load_models(server *s, char *err, size_t err_size)
{
    if (repo_scan(s, err, err_size)) return -1;
    for (int i = 0; i < s->opt.n_load; i++)
        if (!repo_find(s, s->opt.load[i], strlen(s->opt.load[i]))) {
            snprintf(err, err_size, "no model %s in %s (a folder with model.onnx)", s->opt.load[i],
                     s->opt.models_dir);
            return -1;
        }
    int loaded = 0;
    for (int i = 0; i < s->n_entries; i++) {
        repo_entry *e = s->entries[i];
        int want = wanted(s, e->name);
        if (!want) continue;
        if (e->pipeline) { /* after the models it runs */
            loaded++;
            continue;
        }
        char onnx[4200];
        struct stat st;
        snprintf(onnx, sizeof onnx, "%s/model.onnx", e->dir);
        if (e->source && stat(onnx, &st)) { /* nothing yet: its first version is pulled */
            snprintf(e->reason, sizeof e->reason, "waiting for its first version from %s",
                     e->source);
            loaded++;
            continue;
        }
        if (repo_entry_load(s, e, &e->model, err, err_size)) return -1;
        e->state = ENTRY_READY;
        e->reason[0] = 0;
        loaded++;
    }
    if (!loaded) {
        snprintf(err, err_size, "no model to serve in %s", s->opt.models_dir);
        return -1;
    }
    for (int i = 0; i < s->n_entries; i++) {
        repo_entry *e = s->entries[i];
        int want = wanted(s, e->name);
        if (!e->pipeline || !want) continue;
        if (chain_load(s, e->name, e->dir, &e->model, err, err_size)) return -1;
        e->state = ENTRY_READY;
        e->reason[0] = 0;
    }
    return 0;
}

static void write_ready_file(server *s)
{
    if (!s->opt.ready_file) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->opt.ready_file);
    FILE *f = fopen(tmp, "w");
    if (!f) return;
    fprintf(f, "%s:%d\n", s->opt.host, s->port);
    if (fclose(f) == 0) rename(tmp, s->opt.ready_file);
}

static void drain(server *s)
{
    s->draining = 1;
    for (int i = 0; i < s->n_started; i++)
        if (s->modules[i]->drain) s->modules[i]->drain(s, s->module_state[i]);
    /* the listener stays open while the work drains: a connection made now
     * (one already in the backlog, or a client that has not yet seen the
     * readiness probe fail) is accepted and its requests are answered 503
     * (draining) rather than reset by a closed port */
    fprintf(stderr, "glint serve: draining %d request(s)\n", s->in_flight);
    uint64_t until = serve_now_ns() + (uint64_t)s->opt.drain_timeout_ms * 1000000u;
    while (s->in_flight > 0 && serve_now_ns() < until)
        h2o_evloop_run(s->loop, 50);
    /* let the last responses reach their sockets */
    uint64_t flush = serve_now_ns() + 100000000u;
    while (serve_now_ns() < flush)
        h2o_evloop_run(s->loop, 10);
    /* new connections are refused from here; what the backlog holds is taken first */
    for (int i = 0; s->listener && i < 4; i++)
        on_accept(s->listener, NULL);
    close_listener(s);
    uint64_t settle = serve_now_ns() + 100000000u; /* their requests' 503s */
    while (serve_now_ns() < settle)
        h2o_evloop_run(s->loop, 10);
    /* idle keep-alive clients: end their connections; h2o closes them on EOF */
    for (h2o_linklist_t *l = s->conns.next; l != &s->conns; l = l->next)
        shutdown(H2O_STRUCT_FROM_MEMBER(client_conn, link, l)->fd, SHUT_RDWR);
    uint64_t until_closed = serve_now_ns() + 1000000000u;
    while (s->connections > 0 && serve_now_ns() < until_closed)
        h2o_evloop_run(s->loop, 10);
}

static void teardown(server *s)
{
    workq_destroy(s->workers); /* finishes queued jobs */
    s->stopping = 1;           /* reloads that finish now are dropped */
    if (s->queue) h2o_evloop_run(s->loop, 0);
    repo_free(s);    /* joins the instances */
    stop_modules(s); /* and their threads: nothing runs on a model any more */
    if (s->queue) {
        h2o_evloop_run(s->loop, 0); /* answers that came in after the drain */
        h2o_multithread_unregister_receiver(s->queue, &s->done_rx);
        h2o_multithread_unregister_receiver(s->queue, &s->reload_rx);
        h2o_multithread_destroy_queue(s->queue);
        free(s->queue); /* libh2o 2.2's evloop build does not free it */
    }
    resp_cache_destroy(s->cache);
    auth_free(s->auth);
    ratelimit_free(s->limits);
    fleet_free(s->fleet);
    split_table_dispose(&s->splits);
    h2o_multithread_queue_t *ctx_queue = s->ctx.queue;
    h2o_context_dispose(&s->ctx);
    free(ctx_queue); /* (same) */
    h2o_config_dispose(&s->config);
    for (int i = 0; i < 3; i++) /* sockets closed above are freed by the loop */
        h2o_evloop_run(s->loop, 0);
    h2o_evloop_destroy(s->loop);
}

int server_run(const serve_options *o, const serve_module *const *modules, int n)
{
    if (n > SERVE_MAX_MODULES) {
        fprintf(stderr, "glint serve: %d modules, at most %d\n", n, SERVE_MAX_MODULES);
        return 1;
    }
    server *s = calloc(1, sizeof *s);
    char err[SERVE_ERR_MAX];
    if (!s) return 1;
    s->opt = *o;
    for (int i = 0; i < n; i++)
        s->modules[i] = modules[i];
    s->n_modules = n;
    repo_set_poll_interval(s, 60);
    s->started_ns = serve_now_ns();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    h2o_linklist_init_anchor(&s->conns);
    setup_h2o(s);
    int rc = 1;
    const cpus_info *cpus = cpus_process();
    fprintf(stderr, "glint serve: %d CPU%s usable of %d online (%s)\n", cpus->usable,
            cpus->usable == 1 ? "" : "s", cpus->online, cpus->limit);
    int workers = o->workers > 0 ? o->workers : cpus->usable;
    if (!(s->workers = workq_create(workers))) {
        fprintf(stderr, "glint serve: cannot start %d workers\n", workers);
        goto done;
    }
    if (o->cache_bytes &&
        !(s->cache = resp_cache_create(o->cache_bytes, (uint64_t)o->cache_ttl_s * 1000000000u))) {
        fprintf(stderr, "glint serve: cannot create a %zu-byte cache\n", o->cache_bytes);
        goto done;
    }
    if (o->api_keys && !(s->auth = auth_load(o->api_keys, err, sizeof err))) {
        fprintf(stderr, "glint serve: %s\n", err);
        goto done;
    }
    s->rate_burst = o->rate_limit_burst > 0 ? o->rate_limit_burst : (int)ceil(o->rate_limit_rps);
    s->limit_share = 1;
    if (o->rate_limit_rps > 0 &&
        !(s->limits = ratelimit_create(o->rate_limit_rps, s->rate_burst, 65536))) {
        fprintf(stderr, "glint serve: cannot create the rate limiter\n");
        goto done;
    }
    if (o->redis_url &&
        !(s->fleet = fleet_create(s->loop, &s->ctx.receivers.hostinfo_getaddr, o->redis_url,
                                  o->redis_timeout_ms, err, sizeof err))) {
        fprintf(stderr, "glint serve: --redis: %s\n", err);
        goto done;
    }
    if (o->require_api_key && !o->api_keys) {
        fprintf(stderr, "glint serve: --require-api-key needs --api-keys FILE\n");
        goto done;
    }
    s->beyond_loopback = !serve_is_loopback(o->host) || o->require_api_key;
    if (open_listener(s, err, sizeof err) || load_models(s, err, sizeof err) ||
        serve_splits_load(s, err, sizeof err) || start_modules(s, err, sizeof err)) {
        fprintf(stderr, "glint serve: %s\n", err);
        goto done;
    }
    s->cold_start_ms = (double)(serve_now_ns() - s->started_ns) / 1e6;
    fprintf(stderr, "glint serve: ready on http://%s:%d in %.0f ms (%d worker(s))\n", o->host,
            s->port, s->cold_start_ms, workers);
    write_ready_file(s);
    while (!stop_requested) {
        h2o_evloop_run(s->loop, 200);
        tick_modules(s);
    }
    drain(s);
    rc = s->in_flight ? 1 : 0;
    fprintf(stderr, "glint serve: stopped%s\n", rc ? " with requests unanswered" : "");
done:
    close_listener(s);
    teardown(s);
    free(s);
    return rc;
}
