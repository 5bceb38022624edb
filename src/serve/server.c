/* glint serve: the event loop, the listener, responses, request tracking,
 * start-up and drain (see server.h and server_impl.h). */
#include "serve/server_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
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

uint64_t serve_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void serve_options_default(serve_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->models_dir = "models";
    o->max_batch = 1;
    o->max_queue = 64;
    o->timeout_ms = 30000;
    o->max_body = (size_t)50 << 20;
    o->max_connections = 1024;
    o->idle_timeout_ms = 10000;
    o->cache_bytes = (size_t)64 << 20;
    o->cache_ttl_s = 300;
    o->slow_ms = 1000;
    o->drain_timeout_ms = 30000;
    o->state_dir = "glint-state";
}

/* ---- per-thread scratch ---- */

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    thread_scratch *t = p;
    if (!t) return;
    vision_decoder_destroy(t->dec);
    vision_image_dispose(&t->img);
    answer_ws_destroy(t->aw);
    free(t);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

thread_scratch *serve_scratch(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    thread_scratch *t = pthread_getspecific(scratch_key);
    if (t) return t;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    vision_image_init(&t->img);
    t->dec = vision_decoder_create(NULL);
    t->aw = answer_ws_create();
    if (!t->dec || !t->aw || pthread_setspecific(scratch_key, t)) {
        scratch_free(t);
        return NULL;
    }
    return t;
}

/* ---- responses ---- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Other";
    }
}

void serve_respond(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len)
{
    struct timeval now;
    gettimeofday(&now, NULL);
    const struct timeval *t0 = &req->timestamps.request_begin_at;
    double secs = (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_usec - t0->tv_usec) / 1e6;
    char pt[32];
    int n = snprintf(pt, sizeof pt, "%.6f", secs > 0 ? secs : 0.0);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-process-time"), 0, NULL, pt,
                          (size_t)n);
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctype,
                   strlen(ctype));
    if (status == 503)
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    req->res.content_length = len;
    h2o_send_inline(req, body, len);
}

void serve_respond_json(h2o_req_t *req, int status, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        serve_respond(req, 500, "application/json", oom, sizeof oom - 1);
        return;
    }
    serve_respond(req, status, "application/json", text, strlen(text));
    free(text);
}

void serve_respond_errorv(server *s, h2o_req_t *req, int status, const char *key,
                          const char *fmt, va_list ap)
{
    char msg[SERVE_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    metrics_counter_inc(status >= 500 ? &s->http_errors_5xx : &s->http_errors_4xx);
    serve_respond_json(req, status, json_pack("{s:o}", key, answer_text(msg)));
}

void serve_respond_error(server *s, h2o_req_t *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serve_respond_errorv(s, req, status, "error", fmt, ap);
    va_end(ap);
}

const char *serve_query(h2o_req_t *req, const char *name, char *buf, size_t size)
{
    if (req->query_at == SIZE_MAX) return NULL;
    const char *p = req->path.base + req->query_at + 1;
    const char *end = req->path.base + req->path.len;
    size_t nlen = strlen(name);
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *stop = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(stop - p));
        const char *kend = eq ? eq : stop;
        if ((size_t)(kend - p) == nlen && !memcmp(p, name, nlen)) {
            const char *v = eq ? eq + 1 : stop;
            size_t o = 0;
            for (; v < stop && o + 1 < size; v++) { /* percent-decoding of plain values */
                if (*v == '%' && stop - v >= 3) {
                    char hex[3] = {v[1], v[2], 0};
                    char *e;
                    long c = strtol(hex, &e, 16);
                    if (*e == 0 && c > 0) {
                        buf[o++] = (char)c;
                        v += 2;
                        continue;
                    }
                }
                buf[o++] = *v == '+' ? ' ' : *v;
            }
            buf[o] = 0;
            return buf;
        }
        p = stop + 1;
    }
    return NULL;
}

const char *serve_header(h2o_req_t *req, const char *name, char *buf, size_t size)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < req->headers.size; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (h->name->len == n && !memcmp(h->name->base, name, n)) {
            size_t len = h->value.len < size - 1 ? h->value.len : size - 1;
            memcpy(buf, h->value.base, len);
            buf[len] = 0;
            return buf;
        }
    }
    return NULL;
}

/* ---- requests in flight ---- */

static void on_req_dispose(void *p)
{
    sreq *r = *(sreq **)p;
    if (r) r->req = NULL;
}

sreq *sreq_create(server *s, h2o_req_t *req, repo_model *rm, sreq_kind kind)
{
    sreq *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->srv = s;
    r->req = req;
    r->rm = rm;
    r->kind = kind;
    r->t_start = serve_now_ns();
    r->header_len = -1;
    r->content_type = "application/json";
    pthread_mutex_init(&r->out_mu, NULL);
    return r;
}

void sreq_destroy(sreq *r)
{
    if (!r) return;
    for (int i = 0; i < r->n_items; i++) {
        json_decref(r->items[i].answer);
        free(r->items[i].name);
    }
    for (int i = 0; i < r->n_out; i++)
        free(r->outs[i].data);
    kserve_request_dispose(&r->kreq);
    pthread_mutex_destroy(&r->out_mu);
    free(r->items);
    free(r->body);
    free(r->resp);
    repo_model_release(r->rm);
    repo_model_release(r->loaded);
    free(r->load_err);
    edge_req_free(r->edge);
    free(r);
}

/* The h2o request owns a pointer back to r that clears r->req when h2o
 * frees the request (a client that went away). */
typedef struct tracker {
    sreq *r;
} tracker;

int serve_track(server *s, sreq *r)
{
    tracker *t = h2o_mem_alloc_shared(&r->req->pool, sizeof *t, on_req_dispose);
    t->r = r;
    s->in_flight++;
    r->tracker = t;
    return 0;
}

void serve_finish(sreq *r)
{
    h2o_multithread_send_message(&r->srv->done_rx, &r->msg);
}

void sreq_set_errorv(sreq *r, int status, const char *key, const char *fmt, va_list ap)
{
    char msg[SERVE_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    json_t *j = json_pack("{s:o}", key, answer_text(msg));
    r->status = status;
    r->reason = serve_fail_reason(status);
    r->content_type = "application/json";
    free(r->resp);
    r->resp = j ? json_dumps(j, JSON_COMPACT) : NULL;
    r->resp_len = r->resp ? strlen(r->resp) : 0;
    json_decref(j);
}

void sreq_set_error(sreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sreq_set_errorv(r, status, "error", fmt, ap);
    va_end(ap);
}

void serve_finish_error(sreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sreq_set_errorv(r, status, "error", fmt, ap);
    va_end(ap);
    serve_finish(r);
}

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
    }
    metrics_histogram_observe(&st->request_seconds, (double)ns / 1e9);
}

/* Writes r's answer, if its client is still there. Loop thread. */
static void deliver(server *s, sreq *r)
{
    uint64_t now = serve_now_ns();
    double ms = (double)(now - r->t_start) / 1e6;
    count_finished(s, r, now);
    if (r->status == 200 && r->cacheable && s->cache)
        resp_cache_put(s->cache, r->cache_key, r->cache_klen, r->resp, r->resp_len, now);
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
        if (r->on_loop) r->on_loop(r);
        deliver(s, r);
        if (r->req) ((tracker *)r->tracker)->r = NULL;
        sreq_destroy(r);
    }
}

/* ---- routing ---- */

static int on_req(h2o_handler_t *h, h2o_req_t *req)
{
    server *s = ((handler *)h)->srv;
    metrics_counter_inc(&s->http_requests);
    const char *p = req->path_normalized.base;
    size_t n = req->path_normalized.len;
    if (!route_ops(s, req, p, n) || !route_v1(s, req, p, n) || !route_v2(s, req, p, n) ||
        !route_edge(s, req, p, n))
        return 0;
    serve_respond_error(s, req, 404, "no such route: %.*s", (int)(n < 200 ? n : 200), p);
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

static int open_listener(server *s, char *err, size_t err_size)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->opt.port);
    int rc = getaddrinfo(s->opt.host, port, &hints, &ai);
    if (rc) {
        snprintf(err, err_size, "--listen %s: %s", s->opt.host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, SOMAXCONN)) {
        snprintf(err, err_size, "cannot listen on %s:%d: %s", s->opt.host, s->opt.port,
                 strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
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
        repo_entry *e = &s->entries[i];
        int want = !s->opt.load;
        for (int k = 0; k < s->opt.n_load; k++)
            want |= !strcmp(s->opt.load[k], e->name);
        if (!want) continue;
        if (repo_entry_load(s, e, &e->model, err, err_size)) return -1;
        e->state = ENTRY_READY;
        e->reason[0] = 0;
        loaded++;
    }
    if (!loaded) {
        snprintf(err, err_size, "no model to serve in %s", s->opt.models_dir);
        return -1;
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
    close_listener(s);
    fprintf(stderr, "glint serve: draining %d request(s)\n", s->in_flight);
    uint64_t until = serve_now_ns() + (uint64_t)s->opt.drain_timeout_ms * 1000000u;
    while (s->in_flight > 0 && serve_now_ns() < until)
        h2o_evloop_run(s->loop, 50);
    /* let the last responses reach their sockets */
    uint64_t flush = serve_now_ns() + 100000000u;
    while (serve_now_ns() < flush)
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
    repo_free(s); /* joins the instances */
    edge_stop(s); /* the delivery thread; nothing escalates any more */
    if (s->queue) {
        h2o_evloop_run(s->loop, 0); /* answers that came in after the drain */
        h2o_multithread_unregister_receiver(s->queue, &s->done_rx);
        h2o_multithread_unregister_receiver(s->queue, &s->reload_rx);
        h2o_multithread_destroy_queue(s->queue);
        free(s->queue); /* libh2o 2.2's evloop build does not free it */
    }
    resp_cache_destroy(s->cache);
    h2o_multithread_queue_t *ctx_queue = s->ctx.queue;
    h2o_context_dispose(&s->ctx);
    free(ctx_queue); /* (same) */
    h2o_config_dispose(&s->config);
    for (int i = 0; i < 3; i++) /* sockets closed above are freed by the loop */
        h2o_evloop_run(s->loop, 0);
    h2o_evloop_destroy(s->loop);
}

int serve_run(const serve_options *o)
{
    server *s = calloc(1, sizeof *s);
    char err[SERVE_ERR_MAX];
    if (!s) return 1;
    s->opt = *o;
    s->started_ns = serve_now_ns();
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    h2o_linklist_init_anchor(&s->conns);
    setup_h2o(s);
    int rc = 1;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    int workers = o->workers > 0 ? o->workers : nc < 1 ? 1 : (int)nc;
    if (!(s->workers = workq_create(workers))) {
        fprintf(stderr, "glint serve: cannot start %d workers\n", workers);
        goto done;
    }
    if (o->cache_bytes &&
        !(s->cache = resp_cache_create(o->cache_bytes, (uint64_t)o->cache_ttl_s * 1000000000u))) {
        fprintf(stderr, "glint serve: cannot create a %zu-byte cache\n", o->cache_bytes);
        goto done;
    }
    if (open_listener(s, err, sizeof err) || load_models(s, err, sizeof err) ||
        edge_start(s, err, sizeof err)) {
        fprintf(stderr, "glint serve: %s\n", err);
        goto done;
    }
    s->cold_start_ms = (double)(serve_now_ns() - s->started_ns) / 1e6;
    fprintf(stderr, "glint serve: ready on http://%s:%d in %.0f ms (%d worker(s))\n", o->host,
            s->port, s->cold_start_ms, workers);
    write_ready_file(s);
    while (!stop_requested) {
        h2o_evloop_run(s->loop, 200);
        edge_tick(s);
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
