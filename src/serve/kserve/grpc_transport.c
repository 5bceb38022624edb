/* gRPC over HTTP/2 with libnghttp2 on the h2o event loop (grpc_transport.h).
 *
 * A connection feeds what it reads to its nghttp2 session (mem_recv) and
 * writes what the session has to send (mem_send) with one h2o write at a
 * time; nghttp2 calls back per stream: headers, data chunks (gathered into
 * whole gRPC messages), end of stream, close. The answer of a call is its
 * queued messages (a DATA provider that defers while the queue is empty)
 * and then trailers; a call that fails before any message answers with
 * headers only ("Trailers-Only"). nghttp2 may not be re-entered from its
 * own callbacks, so sending waits until it returns (`busy`).
 */
#include "serve/kserve/grpc_transport.h"

#include "serve/core/server.h"
#include "util/clock.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WRITE_BATCH ((size_t)1 << 20)    /* bytes gathered for one socket write */
#define STREAM_WINDOW ((int32_t)4 << 20) /* a call's receive window */
#define CONN_WINDOW ((int32_t)32 << 20)  /* a connection's */

typedef struct grpc_conn grpc_conn;

typedef struct out_msg {
    struct out_msg *next;
    uint8_t *buf;
    size_t len, off;
} out_msg;

struct grpc_call {
    grpc_conn *conn;
    grpc_call *prev, *next; /* the connection's calls */
    int32_t id;
    char path[256];
    char timeout[24];
    char authorization[512];
    char token[512];
    char method[8];
    char content_type[64];
    char encoding[32];
    uint8_t *in; /* a message being gathered (prefix included) */
    size_t in_len, in_cap;
    out_msg *head, *tail;
    int started;       /* on_start ran */
    int responded;     /* response headers submitted */
    int finished;      /* grpc_call_finish ran */
    int ended;         /* trailers submitted, or a Trailers-Only answer */
    int refused;       /* over a limit: later data is dropped */
    int code;          /* the final status */
    char message[512]; /* percent-encoded grpc-message */
    char pushback[24]; /* grpc-retry-pushback-ms, "" if none */
    void *user;
};

struct grpc_conn {
    grpc_server *g;
    grpc_conn *prev, *next;
    h2o_socket_t *sock;
    nghttp2_session *ng;
    grpc_call *calls;
    uint8_t *wbuf;
    size_t wlen, wcap;
    int writing;
    int busy;         /* inside nghttp2: no mem_send now */
    int closing;      /* close once it returns */
    int got_frame;    /* the client's preface and a frame arrived */
    uint64_t last_ns; /* last read, or last call ended (clock_now_ns) */
};

struct grpc_server {
    h2o_evloop_t *loop;
    h2o_socket_t *listener;
    int fd, port;
    grpc_handler h;
    void *ud;
    size_t max_message;
    int max_connections, n_conns, draining;
    grpc_conn *conns;
};

static void conn_flush(grpc_conn *c);
static void conn_close(grpc_conn *c);

/* ---- calls ---- */

static void call_free(grpc_call *c)
{
    grpc_conn *cn = c->conn;
    cn->last_ns = clock_now_ns();
    if (c->started && cn->g->h.on_closed) cn->g->h.on_closed(c, cn->g->ud);
    if (c->prev)
        c->prev->next = c->next;
    else
        cn->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    for (out_msg *m = c->head, *n; m; m = n) {
        n = m->next;
        free(m->buf);
        free(m);
    }
    free(c->in);
    free(c);
}

const char *grpc_call_path(const grpc_call *c)
{
    return c->path;
}

const char *grpc_call_metadata(const grpc_call *c, const char *name)
{
    const char *v = !strcmp(name, "authorization")  ? c->authorization
                    : !strcmp(name, "x-api-token")  ? c->token
                    : !strcmp(name, "grpc-timeout") ? c->timeout
                                                    : "";
    return v[0] ? v : NULL;
}

uint64_t grpc_call_timeout_ns(const grpc_call *c)
{
    /* at most 8 digits and a unit: H M S m u n */
    char *end;
    errno = 0;
    unsigned long long v = strtoull(c->timeout, &end, 10);
    if (!c->timeout[0] || errno || end == c->timeout || end[0] == 0 || end[1] != 0 ||
        v > 99999999ull)
        return 0;
    static const char units[] = "HMSmun";
    static const uint64_t ns[] = {3600000000000ull, 60000000000ull, 1000000000ull,
                                  1000000ull,       1000ull,        1ull};
    const char *u = strchr(units, *end);
    return u ? v * ns[u - units] : 0;
}

socklen_t grpc_call_peer(const grpc_call *c, struct sockaddr *sa)
{
    return c->conn->sock ? h2o_socket_getpeername(c->conn->sock, sa) : 0;
}

void grpc_call_retry_pushback(grpc_call *c, int ms)
{
    snprintf(c->pushback, sizeof c->pushback, "%d", ms);
}

void grpc_call_set_user(grpc_call *c, void *user)
{
    c->user = user;
}

void *grpc_call_user(const grpc_call *c)
{
    return c->user;
}

static nghttp2_nv nv(const char *name, const char *value)
{
    return (nghttp2_nv){(uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
                        NGHTTP2_NV_FLAG_NONE};
}

/* grpc-status (code: its text), grpc-message and grpc-retry-pushback-ms
 * when set: the count of fields written to out (room for 3). */
static size_t status_fields(const grpc_call *c, const char *code, nghttp2_nv *out)
{
    size_t n = 0;
    out[n++] = nv("grpc-status", code);
    if (c->message[0]) out[n++] = nv("grpc-message", c->message);
    if (c->pushback[0]) out[n++] = nv("grpc-retry-pushback-ms", c->pushback);
    return n;
}

/* DATA of the call's answer: its queued messages, then trailers. */
static ssize_t read_data(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    (void)user;
    grpc_call *c = src->ptr;
    size_t n = 0;
    while (c->head && n < length) {
        out_msg *m = c->head;
        size_t k = m->len - m->off < length - n ? m->len - m->off : length - n;
        memcpy(buf + n, m->buf + m->off, k);
        n += k;
        m->off += k;
        if (m->off == m->len) {
            c->head = m->next;
            if (!c->head) c->tail = NULL;
            free(m->buf);
            free(m);
        }
    }
    if (c->head || n) return (ssize_t)n;
    if (!c->finished) return NGHTTP2_ERR_DEFERRED;
    char code[16];
    snprintf(code, sizeof code, "%d", c->code);
    nghttp2_nv tr[3];
    size_t n_tr = status_fields(c, code, tr);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (nghttp2_submit_trailer(ng, id, tr, n_tr) == 0) *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
    c->ended = 1;
    return 0;
}

static void respond_headers(grpc_call *c)
{
    nghttp2_nv h[2] = {
        {(uint8_t *)":status", (uint8_t *)"200", 7, 3, NGHTTP2_NV_FLAG_NONE},
        {(uint8_t *)"content-type", (uint8_t *)"application/grpc", 12, 16, NGHTTP2_NV_FLAG_NONE}};
    nghttp2_data_provider dp = {.source.ptr = c, .read_callback = read_data};
    nghttp2_submit_response(c->conn->ng, c->id, h, 2, &dp);
    c->responded = 1;
}

/* Queues a message (no flush). */
static int call_queue(grpc_call *c, uint8_t *buf, size_t len)
{
    out_msg *m = c->finished ? NULL : calloc(1, sizeof *m);
    if (!m) {
        free(buf);
        return -1;
    }
    buf[0] = 0;
    buf[1] = (uint8_t)(len >> 24);
    buf[2] = (uint8_t)(len >> 16);
    buf[3] = (uint8_t)(len >> 8);
    buf[4] = (uint8_t)len;
    m->buf = buf;
    m->len = len + GRPC_PREFIX;
    if (c->tail)
        c->tail->next = m;
    else
        c->head = m;
    c->tail = m;
    if (!c->responded)
        respond_headers(c);
    else
        nghttp2_session_resume_data(c->conn->ng, c->id);
    return 0;
}

int grpc_call_send(grpc_call *c, uint8_t *buf, size_t len)
{
    int rc = call_queue(c, buf, len);
    conn_flush(c->conn);
    return rc;
}

/* grpc-message is percent-encoded: bytes outside ' '..'~' and '%'. */
static void percent_encode(char *dst, size_t cap, const char *src)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)src; *p && n + 4 < cap; p++) {
        if (*p >= ' ' && *p <= '~' && *p != '%')
            dst[n++] = (char)*p;
        else
            n += (size_t)snprintf(dst + n, cap - n, "%%%02X", *p);
    }
    dst[n] = 0;
}

static void call_finish(grpc_call *c, int code, const char *message)
{
    c->finished = 1;
    c->code = code;
    percent_encode(c->message, sizeof c->message, message ? message : "");
    if (c->responded) {
        nghttp2_session_resume_data(c->conn->ng, c->id);
    } else { /* Trailers-Only */
        char cs[16];
        snprintf(cs, sizeof cs, "%d", code);
        nghttp2_nv h[5] = {nv(":status", "200"), nv("content-type", "application/grpc")};
        size_t n = 2 + status_fields(c, cs, h + 2);
        nghttp2_submit_response(c->conn->ng, c->id, h, n, NULL);
        c->responded = c->ended = 1;
    }
}

void grpc_call_finish(grpc_call *c, int code, const char *message)
{
    if (c->finished) return;
    call_finish(c, code, message);
    conn_flush(c->conn);
}

void grpc_call_reply(grpc_call *c, uint8_t *buf, size_t len)
{
    if (c->finished) {
        free(buf);
        return;
    }
    if (call_queue(c, buf, len))
        call_finish(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
    else
        call_finish(c, GRPC_OK, NULL);
    conn_flush(c->conn);
}

/* Ends a call the client got wrong, and drops what else it sends. */
static void refuse(grpc_call *c, int code, const char *msg)
{
    c->refused = 1;
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    grpc_call_finish(c, code, msg);
}

/* Appends a chunk of DATA and hands out every whole message. */
static void call_data(grpc_call *c, const uint8_t *p, size_t n)
{
    grpc_server *g = c->conn->g;
    while (!c->refused && !c->finished) {
        size_t want = GRPC_PREFIX; /* the prefix first, then exactly the message */
        if (c->in_len >= GRPC_PREFIX) {
            size_t len =
                (size_t)c->in[1] << 24 | (size_t)c->in[2] << 16 | (size_t)c->in[3] << 8 | c->in[4];
            if (c->in[0] != 0) {
                refuse(c, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
                return;
            }
            if (len > g->max_message) {
                char m[128];
                snprintf(m, sizeof m, "message of %zu bytes is over the limit (%zu)", len,
                         g->max_message);
                refuse(c, GRPC_RESOURCE_EXHAUSTED, m);
                return;
            }
            want = GRPC_PREFIX + len;
            if (c->in_len == want) { /* a whole message */
                c->in_len = 0;
                if (g->h.on_message) g->h.on_message(c, c->in + GRPC_PREFIX, len, g->ud);
                if (c->in_cap > ((size_t)1 << 20)) { /* big buffers are not kept */
                    free(c->in);
                    c->in = NULL;
                    c->in_cap = 0;
                }
                continue;
            }
        }
        if (!n) return;
        size_t k = want - c->in_len < n ? want - c->in_len : n;
        if (c->in_len + k > c->in_cap) {
            size_t cap = want < 4096 ? 4096 : want;
            uint8_t *b = realloc(c->in, cap);
            if (!b) {
                refuse(c, GRPC_RESOURCE_EXHAUSTED, "out of memory");
                return;
            }
            c->in = b;
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, p, k);
        c->in_len += k;
        p += k;
        n -= k;
    }
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    grpc_conn *cn = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    grpc_call *c = calloc(1, sizeof *c);
    if (!c) return NGHTTP2_ERR_CALLBACK_FAILURE;
    c->conn = cn;
    c->id = f->hd.stream_id;
    c->next = cn->calls;
    if (cn->calls) cn->calls->prev = c;
    cn->calls = c;
    nghttp2_session_set_stream_user_data(ng, c->id, c);
    return 0;
}

static void keep(char *dst, size_t cap, const uint8_t *v, size_t n)
{
    if (n >= cap) n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags;
    (void)user;
    grpc_call *c = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!c || f->hd.type != NGHTTP2_HEADERS || c->started) return 0;
#define IS(s) (namelen == sizeof(s) - 1 && !memcmp(name, s, namelen))
    if (IS(":path"))
        keep(c->path, sizeof c->path, value, valuelen);
    else if (IS(":method"))
        keep(c->method, sizeof c->method, value, valuelen);
    else if (IS("content-type"))
        keep(c->content_type, sizeof c->content_type, value, valuelen);
    else if (IS("grpc-timeout"))
        keep(c->timeout, sizeof c->timeout, value, valuelen);
    else if (IS("grpc-encoding"))
        keep(c->encoding, sizeof c->encoding, value, valuelen);
    else if (IS("authorization"))
        keep(c->authorization, sizeof c->authorization, value, valuelen);
    else if (IS("x-api-token"))
        keep(c->token, sizeof c->token, value, valuelen);
#undef IS
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    (void)flags;
    (void)user;
    grpc_call *c = nghttp2_session_get_stream_user_data(ng, id);
    if (c && c->started) call_data(c, data, len);
    return 0;
}

/* The request's headers are complete: check them and start the call. */
static void call_start(grpc_call *c)
{
    grpc_server *g = c->conn->g;
    c->started = 1;
    if (g->h.on_start) g->h.on_start(c, g->ud);
    if (c->finished) return;
    if (strcmp(c->method, "POST"))
        refuse(c, GRPC_UNIMPLEMENTED, "gRPC calls are POST");
    else if (strncmp(c->content_type, "application/grpc", 16) ||
             (c->content_type[16] && c->content_type[16] != '+' && c->content_type[16] != ';'))
        refuse(c, GRPC_INVALID_ARGUMENT, "content-type must be application/grpc");
    else if (c->encoding[0] && strcmp(c->encoding, "identity"))
        refuse(c, GRPC_UNIMPLEMENTED, "only the identity grpc-encoding is supported");
    else if (g->draining)
        refuse(c, GRPC_UNAVAILABLE, "the server is shutting down");
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    ((grpc_conn *)user)->got_frame = 1;
    if (f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) return 0;
    grpc_call *c = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!c) return 0;
    if (f->hd.type == NGHTTP2_HEADERS && !c->started) call_start(c);
    if (!(f->hd.flags & NGHTTP2_FLAG_END_STREAM) || c->refused || c->finished) return 0;
    if (c->in_len) {
        refuse(c, GRPC_INTERNAL, "the stream ended inside a message");
        return 0;
    }
    grpc_server *g = c->conn->g;
    if (g->h.on_half_close) g->h.on_half_close(c, g->ud);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *user)
{
    (void)error;
    (void)user;
    grpc_call *c = nghttp2_session_get_stream_user_data(ng, id);
    if (c) call_free(c);
    return 0;
}

/* ---- connections ---- */

static void conn_free(grpc_conn *c)
{
    while (c->calls)
        call_free(c->calls);
    nghttp2_session_del(c->ng);
    grpc_server *g = c->g;
    if (c->prev)
        c->prev->next = c->next;
    else
        g->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    g->n_conns--;
    free(c->wbuf);
    free(c);
}

static void conn_close(grpc_conn *c)
{
    if (c->busy) {
        c->closing = 1;
        return;
    }
    h2o_socket_t *sock = c->sock;
    c->sock = NULL;
    conn_free(c);
    if (sock) h2o_socket_close(sock);
}

static void on_write(h2o_socket_t *sock, const char *err)
{
    grpc_conn *c = sock->data;
    c->writing = 0;
    if (err) {
        conn_close(c);
        return;
    }
    conn_flush(c);
}

static void conn_flush(grpc_conn *c)
{
    if (c->busy || c->writing) return;
    if (c->closing) {
        conn_close(c);
        return;
    }
    c->wlen = 0;
    c->busy = 1;
    while (c->wlen < WRITE_BATCH) {
        const uint8_t *data;
        ssize_t n = nghttp2_session_mem_send(c->ng, &data);
        if (n < 0) {
            c->closing = 1;
            break;
        }
        if (n == 0) break;
        if (c->wlen + (size_t)n > c->wcap) {
            size_t cap = c->wcap ? c->wcap : 65536;
            while (cap < c->wlen + (size_t)n)
                cap *= 2;
            uint8_t *b = realloc(c->wbuf, cap);
            if (!b) {
                c->closing = 1;
                break;
            }
            c->wbuf = b;
            c->wcap = cap;
        }
        memcpy(c->wbuf + c->wlen, data, (size_t)n);
        c->wlen += (size_t)n;
    }
    c->busy = 0;
    if (c->closing) {
        conn_close(c);
        return;
    }
    if (c->wlen) {
        c->writing = 1;
        h2o_iovec_t b = h2o_iovec_init(c->wbuf, c->wlen);
        h2o_socket_write(c->sock, &b, 1, on_write);
        return;
    }
    if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) conn_close(c);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    grpc_conn *c = sock->data;
    if (err) {
        conn_close(c);
        return;
    }
    c->last_ns = clock_now_ns();
    c->busy = 1;
    ssize_t n =
        nghttp2_session_mem_recv(c->ng, (const uint8_t *)sock->input->bytes, sock->input->size);
    c->busy = 0;
    if (n < 0) c->closing = 1;
    h2o_buffer_consume(&sock->input, sock->input->size);
    conn_flush(c); /* closes it if it must */
}

static nghttp2_session_callbacks *callbacks(void)
{
    static nghttp2_session_callbacks *cb;
    if (cb) return cb;
    if (nghttp2_session_callbacks_new(&cb)) return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    return cb;
}

static void conn_open(grpc_server *g, int fd)
{
    grpc_conn *c = calloc(1, sizeof *c);
    nghttp2_session_callbacks *cb = callbacks();
    if (!c || !cb || nghttp2_session_server_new(&c->ng, cb, c)) {
        free(c);
        close(fd);
        return;
    }
    c->g = g;
    c->last_ns = clock_now_ns();
    c->next = g->conns;
    if (g->conns) g->conns->prev = c;
    g->conns = c;
    g->n_conns++;
    nghttp2_settings_entry iv[] = {{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, GRPC_MAX_STREAMS},
                                   {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, (uint32_t)STREAM_WINDOW},
                                   {NGHTTP2_SETTINGS_MAX_FRAME_SIZE, 1 << 20}};
    nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]);
    nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    c->sock = h2o_evloop_socket_create(g->loop, fd, H2O_SOCKET_FLAG_IS_ACCEPTED_CONNECTION);
    c->sock->data = c;
    h2o_socket_read_start(c->sock, on_read);
    conn_flush(c);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    grpc_server *g = listener->data;
    if (err) return;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(g->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        if (g->n_conns >= g->max_connections) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn_open(g, fd);
    }
}

grpc_server *grpc_server_create(h2o_evloop_t *loop, const char *host, int port,
                                const grpc_handler *h, void *ud, size_t max_message,
                                int max_connections, char *err, size_t err_size)
{
    grpc_server *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    g->loop = loop;
    g->h = *h;
    g->ud = ud;
    g->max_message = max_message;
    g->max_connections = max_connections;
    if (!host) return g; /* connections come from grpc_server_adopt */
    if ((g->fd = serve_listen_socket(host, port, &g->port, err, err_size)) < 0) {
        free(g);
        return NULL;
    }
    g->listener = h2o_evloop_socket_create(loop, g->fd, H2O_SOCKET_FLAG_DONT_READ);
    g->listener->data = g;
    h2o_socket_read_start(g->listener, on_accept);
    return g;
}

void grpc_server_adopt(grpc_server *g, int fd)
{
    conn_open(g, fd);
}

int grpc_server_port(const grpc_server *g)
{
    return g->port;
}

int grpc_server_connections(const grpc_server *g)
{
    return g->n_conns;
}

static void close_listener(grpc_server *g)
{
    if (!g->listener) return;
    h2o_socket_read_stop(g->listener);
    h2o_socket_close(g->listener);
    g->listener = NULL;
}

void grpc_server_drain(grpc_server *g)
{
    g->draining = 1;
    close_listener(g);
    for (grpc_conn *c = g->conns, *n; c; c = n) {
        n = c->next;
        nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->ng), NGHTTP2_NO_ERROR,
                              NULL, 0);
        conn_flush(c); /* may close (and free) c */
    }
}

void grpc_server_sweep(grpc_server *g, uint64_t now_ns, uint64_t preface_ns, uint64_t idle_ns)
{
    for (grpc_conn *c = g->conns, *n; c; c = n) {
        n = c->next;
        if (c->calls || c->writing || c->closing || now_ns < c->last_ns) continue;
        if (!c->got_frame && preface_ns && now_ns - c->last_ns > preface_ns) {
            conn_close(c); /* never spoke HTTP/2 */
        } else if (idle_ns && now_ns - c->last_ns > idle_ns) {
            nghttp2_session_terminate_session(c->ng, NGHTTP2_NO_ERROR); /* GOAWAY */
            conn_flush(c); /* closes it once the GOAWAY is out */
        }
    }
}

void grpc_server_free(grpc_server *g)
{
    if (!g) return;
    close_listener(g);
    while (g->conns)
        conn_close(g->conns);
    free(g);
}
