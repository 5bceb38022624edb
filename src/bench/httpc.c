/* URL parsing, the incremental HTTP/1.1 response parser and a blocking GET;
 * see httpc.h. */
#include "bench/httpc.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
    S_STATUS = 0,
    S_HEADER,
    S_BODY_LEN,
    S_BODY_CLOSE,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_CRLF,
    S_TRAILER,
    S_DONE,
};

#define MAX_BODY_LENGTH (1ULL << 60)

/* ---- URL ---- */

bench_status httpc_url_parse(const char *url, httpc_url *out)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url) return bench_fail(BENCH_ERR_INVALID, "--url is empty");
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return bench_fail(BENCH_ERR_INVALID, "url '%s': space or control byte at offset %d",
                              url, (int)(c - url));
    if (!strncasecmp(url, "https://", 8))
        return bench_fail(BENCH_ERR_INVALID,
                          "url '%s': https is not supported (glint bench speaks plain HTTP/1.1)",
                          url);
    if (strncasecmp(url, "http://", 7))
        return bench_fail(BENCH_ERR_INVALID, "url '%s': must start with http://", url);
    const char *h = url + 7;
    const char *path = strchr(h, '/');
    const char *q = strchr(h, '?');
    if (q && (!path || q < path)) path = q;
    size_t auth_len = path ? (size_t)(path - h) : strlen(h);
    if (auth_len == 0) return bench_fail(BENCH_ERR_INVALID, "url '%s': no host", url);
    if (auth_len >= sizeof out->authority)
        return bench_fail(BENCH_ERR_INVALID, "url '%s': host is too long", url);
    char auth[sizeof out->authority];
    memcpy(auth, h, auth_len);
    auth[auth_len] = 0;
    if (strchr(auth, '@'))
        return bench_fail(BENCH_ERR_INVALID, "url '%s': user info is not supported", url);
    const char *port_s = NULL;
    if (auth[0] == '[') {
        char *rb = strchr(auth, ']');
        if (!rb || rb == auth + 1)
            return bench_fail(BENCH_ERR_INVALID, "url '%s': bad IPv6 literal", url);
        *rb = 0;
        snprintf(out->host, sizeof out->host, "%s", auth + 1);
        if (rb[1] == ':')
            port_s = rb + 2;
        else if (rb[1])
            return bench_fail(BENCH_ERR_INVALID, "url '%s': junk after ']'", url);
    } else {
        char *colon = strchr(auth, ':');
        if (colon) {
            *colon = 0;
            port_s = colon + 1;
        }
        if (!auth[0]) return bench_fail(BENCH_ERR_INVALID, "url '%s': no host", url);
        snprintf(out->host, sizeof out->host, "%s", auth);
    }
    out->port = 80;
    if (port_s) {
        char *end;
        errno = 0;
        long p = strtol(port_s, &end, 10);
        if (!*port_s || *end || errno || p < 1 || p > 65535)
            return bench_fail(BENCH_ERR_INVALID, "url '%s': port must be 1..65535", url);
        out->port = (int)p;
    }
    const char *pth = path ? path : "/";
    if (strlen(pth) + 2 > sizeof out->path)
        return bench_fail(BENCH_ERR_INVALID, "url '%s': path is longer than %zu bytes", url,
                          sizeof out->path - 2);
    if (*pth == '?')
        snprintf(out->path, sizeof out->path, "/%s", pth);
    else
        snprintf(out->path, sizeof out->path, "%s", pth);
    memcpy(out->authority, h, auth_len);
    out->authority[auth_len] = 0;
    return BENCH_OK;
}

/* ---- response parser ---- */

void httpc_parser_reset(httpc_parser *p, int head, char *body, size_t cap)
{
    memset(p, 0, sizeof *p);
    p->state = S_STATUS;
    p->head = head;
    p->body = body;
    p->body_cap = cap;
    p->retry_after_s = -1;
}

int httpc_parser_empty(const httpc_parser *p)
{
    return p->state == S_STATUS && p->line_len == 0 && p->header_bytes == 0;
}

static httpc_result fail(httpc_parser *p, const char *why)
{
    p->error = why;
    return HTTPC_ERROR;
}

/* Case-insensitive: does the comma-separated token list `v` hold `tok`? */
static int has_token(const char *v, const char *tok)
{
    size_t n = strlen(tok);
    while (*v) {
        while (*v == ' ' || *v == '\t' || *v == ',')
            v++;
        const char *e = v;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > v && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - v) == n && !strncasecmp(v, tok, n)) return 1;
        v = e;
    }
    return 0;
}

static httpc_result status_line(httpc_parser *p)
{
    const char *l = p->line;
    if (p->line_len < 12 || strncmp(l, "HTTP/1.", 7) || l[7] < '0' || l[7] > '9' || l[8] != ' ')
        return fail(p, "bad status line");
    if (l[9] < '1' || l[9] > '5' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9')
        return fail(p, "bad status code");
    if (p->line_len > 12 && l[12] != ' ') return fail(p, "bad status code");
    p->minor = l[7] - '0';
    p->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
    if (p->status == 101) return fail(p, "101 Switching Protocols is not supported");
    p->state = S_HEADER;
    p->headers = 0;
    p->has_length = 0;
    p->chunked = 0;
    p->keep_alive = p->minor >= 1;
    return HTTPC_NEED_MORE;
}

static httpc_result header_end(httpc_parser *p)
{
    if (p->status < 200) { /* 1xx interim response: the real one follows */
        p->state = S_STATUS;
        return HTTPC_NEED_MORE;
    }
    if (p->head || p->status == 204 || p->status == 304) {
        p->state = S_DONE;
        return HTTPC_DONE;
    }
    if (p->chunked) {
        p->state = S_CHUNK_SIZE;
        return HTTPC_NEED_MORE;
    }
    if (p->has_length) {
        p->remaining = p->length;
        p->state = p->length ? S_BODY_LEN : S_DONE;
        return p->length ? HTTPC_NEED_MORE : HTTPC_DONE;
    }
    p->keep_alive = 0;
    p->state = S_BODY_CLOSE;
    return HTTPC_NEED_MORE;
}

static httpc_result header_line(httpc_parser *p)
{
    if (p->line_len == 0) return header_end(p);
    if (++p->headers > HTTPC_MAX_HEADERS) return fail(p, "too many header lines");
    char *l = p->line;
    if (*l == ' ' || *l == '\t') return fail(p, "folded header line");
    char *colon = strchr(l, ':');
    if (!colon) {
        if (p->line_len >= HTTPC_LINE_MAX) return HTTPC_NEED_MORE; /* long, name cut off */
        return fail(p, "header line without ':'");
    }
    *colon = 0;
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vl = strlen(v);
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        v[--vl] = 0;
    if (!strcasecmp(l, "content-length")) {
        if (p->line_len >= HTTPC_LINE_MAX) return fail(p, "Content-Length too long");
        uint64_t n = 0;
        if (!*v) return fail(p, "empty Content-Length");
        for (const char *c = v; *c; c++) {
            if (*c < '0' || *c > '9') return fail(p, "bad Content-Length");
            n = n * 10 + (uint64_t)(*c - '0');
            if (n > MAX_BODY_LENGTH) return fail(p, "Content-Length too large");
        }
        if (p->has_length && p->length != n) return fail(p, "conflicting Content-Length");
        p->has_length = 1;
        p->length = n;
    } else if (!strcasecmp(l, "transfer-encoding")) {
        if (has_token(v, "chunked"))
            p->chunked = 1;
        else if (!has_token(v, "identity"))
            return fail(p, "unsupported Transfer-Encoding");
    } else if (!strcasecmp(l, "retry-after")) {
        /* the delta-seconds form; an HTTP date (or garbage) is ignored */
        int n = 0, ok = *v != 0;
        for (const char *c = v; *c && ok; c++) {
            ok = *c >= '0' && *c <= '9';
            n = ok && n < 1000000 ? n * 10 + (*c - '0') : n;
        }
        p->retry_after_s = ok ? n : -1;
    } else if (!strcasecmp(l, "connection")) {
        if (has_token(v, "close")) p->keep_alive = 0;
        if (has_token(v, "keep-alive") && p->minor == 0) p->keep_alive = 1;
    }
    return HTTPC_NEED_MORE;
}

static httpc_result chunk_size_line(httpc_parser *p)
{
    const char *c = p->line;
    uint64_t n = 0;
    int digits = 0;
    for (; *c; c++, digits++) {
        int d;
        if (*c >= '0' && *c <= '9')
            d = *c - '0';
        else if (*c >= 'a' && *c <= 'f')
            d = *c - 'a' + 10;
        else if (*c >= 'A' && *c <= 'F')
            d = *c - 'A' + 10;
        else
            break;
        n = n * 16 + (uint64_t)d;
        if (n > MAX_BODY_LENGTH) return fail(p, "chunk too large");
    }
    if (!digits || (*c && *c != ';' && *c != ' ' && *c != '\t')) return fail(p, "bad chunk size");
    if (n == 0) {
        p->state = S_TRAILER;
        return HTTPC_NEED_MORE;
    }
    p->remaining = n;
    p->state = S_CHUNK_DATA;
    return HTTPC_NEED_MORE;
}

/* A complete line sits in p->line (truncated to HTTPC_LINE_MAX-1). */
static httpc_result on_line(httpc_parser *p)
{
    switch (p->state) {
    case S_STATUS:
        return status_line(p);
    case S_HEADER:
        return header_line(p);
    case S_CHUNK_SIZE:
        return chunk_size_line(p);
    case S_CHUNK_CRLF:
        if (p->line_len) return fail(p, "chunk not followed by CRLF");
        p->state = S_CHUNK_SIZE;
        return HTTPC_NEED_MORE;
    case S_TRAILER:
        if (p->line_len == 0) {
            p->state = S_DONE;
            return HTTPC_DONE;
        }
        if (++p->headers > HTTPC_MAX_HEADERS) return fail(p, "too many trailer lines");
        return HTTPC_NEED_MORE;
    }
    return fail(p, "parser state");
}

static int in_header(const httpc_parser *p)
{
    return p->state == S_STATUS || p->state == S_HEADER;
}

static void take_body(httpc_parser *p, const char *b, size_t n)
{
    p->body_bytes += n;
    if (p->body && p->body_len < p->body_cap) {
        size_t k = p->body_cap - p->body_len < n ? p->body_cap - p->body_len : n;
        memcpy(p->body + p->body_len, b, k);
        p->body_len += k;
    }
}

httpc_result httpc_parser_feed(httpc_parser *p, const char *buf, size_t len, size_t *used)
{
    size_t i = 0;
    httpc_result r = HTTPC_NEED_MORE;
    if (p->state == S_DONE) return fail(p, "fed after the end");
    while (i < len) {
        if (p->state == S_BODY_LEN || p->state == S_CHUNK_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > p->remaining) n = (size_t)p->remaining;
            take_body(p, buf + i, n);
            i += n;
            p->remaining -= n;
            if (p->remaining == 0) {
                if (p->state == S_BODY_LEN) {
                    p->state = S_DONE;
                    r = HTTPC_DONE;
                    break;
                }
                p->state = S_CHUNK_CRLF;
            }
            continue;
        }
        if (p->state == S_BODY_CLOSE) {
            take_body(p, buf + i, len - i);
            i = len;
            break;
        }
        /* line-oriented states */
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t n = nl ? (size_t)(nl - (buf + i)) : len - i;
        if (in_header(p)) {
            p->header_bytes += n + (nl ? 1 : 0);
            if (p->header_bytes > HTTPC_MAX_HEADER_BYTES) {
                *used = i;
                return fail(p, "header block over 64 KiB");
            }
        } else if (p->line_len + n > 4096) {
            *used = i;
            return fail(p, "chunk line too long");
        }
        if (p->line_len < HTTPC_LINE_MAX - 1) {
            size_t k = HTTPC_LINE_MAX - 1 - p->line_len;
            if (k > n) k = n;
            memcpy(p->line + p->line_len, buf + i, k);
        }
        p->line_len += n;
        i += n;
        if (!nl) break;
        i++; /* the '\n' */
        size_t kept = p->line_len < HTTPC_LINE_MAX - 1 ? p->line_len : HTTPC_LINE_MAX - 1;
        if (kept && p->line[kept - 1] == '\r') {
            kept--;
            if (p->line_len < HTTPC_LINE_MAX - 1) p->line_len--;
        }
        p->line[kept] = 0;
        if (memchr(p->line, 0, kept)) {
            *used = i;
            return fail(p, "NUL byte in a header line");
        }
        r = on_line(p);
        p->line_len = 0;
        if (r != HTTPC_NEED_MORE) break;
    }
    *used = i;
    return r;
}

httpc_result httpc_parser_eof(httpc_parser *p)
{
    if (p->state == S_BODY_CLOSE) {
        p->state = S_DONE;
        return HTTPC_DONE;
    }
    if (p->state == S_DONE) return HTTPC_DONE;
    return fail(p, in_header(p) ? "connection closed before the response headers ended"
                                : "connection closed inside the body");
}

/* ---- blocking GET ---- */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for `events` on fd until the deadline; 1 ready, 0 timeout/error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) return 0;
        struct pollfd pfd = {fd, events, 0};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0) return 1;
        if (n < 0 && errno != EINTR) return 0;
    }
}

static int connect_deadline(const httpc_url *url, int64_t deadline)
{
    char port[16];
    snprintf(port, sizeof port, "%d", url->port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(url->host, port, &hints, &ai) || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) return -1;
    int err = 0;
    socklen_t el = sizeof err;
    if (!wait_fd(fd, POLLOUT, deadline) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) || err) {
        close(fd);
        return -1;
    }
    return fd;
}

bench_status httpc_get(const httpc_url *url, int timeout_ms, int *status, char *body, size_t cap,
                       size_t *len)
{
    return httpc_call(url, "GET", timeout_ms, status, body, cap, len);
}

bench_status httpc_call(const httpc_url *url, const char *method, int timeout_ms, int *status,
                        char *body, size_t cap, size_t *len)
{
    int64_t deadline = mono_ms() + timeout_ms;
    *status = 0;
    if (len) *len = 0;
    if (body && cap) body[0] = 0;
    int fd = connect_deadline(url, deadline);
    if (fd < 0) return bench_fail(BENCH_ERR_NET, "%s %s: cannot connect", method, url->path);
    char req[2700];
    int bodyless = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    int n = snprintf(req, sizeof req,
                     "%.16s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: glint-bench\r\n"
                     "%sConnection: close\r\n\r\n",
                     method, url->path, url->authority, bodyless ? "" : "Content-Length: 0\r\n");
    bench_status st = BENCH_OK;
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline))
            continue;
        st = bench_fail(BENCH_ERR_NET, "%s %s: send failed", method, url->path);
        goto done;
    }
    httpc_parser p;
    httpc_parser_reset(&p, !strcmp(method, "HEAD"), body, cap ? cap - 1 : 0);
    char buf[4096];
    for (;;) {
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        httpc_result res;
        if (r > 0) {
            size_t used;
            res = httpc_parser_feed(&p, buf, (size_t)r, &used);
        } else if (r == 0) {
            res = httpc_parser_eof(&p);
        } else if ((errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline)) {
            continue;
        } else {
            st = bench_fail(BENCH_ERR_NET, "%s %s: no answer in %d ms", method, url->path,
                            timeout_ms);
            goto done;
        }
        if (res == HTTPC_ERROR) {
            st = bench_fail(BENCH_ERR_PARSE, "%s %s: %s", method, url->path, p.error);
            goto done;
        }
        if (res == HTTPC_DONE) break;
    }
    *status = p.status;
    if (body && cap) body[p.body_len] = 0;
    if (len) *len = p.body_len;
done:
    close(fd);
    return st;
}
