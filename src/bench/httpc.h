/* The HTTP/1.1 client pieces of glint bench that need no event loop:
 * URL parsing, an incremental response parser, and a small blocking GET
 * (used off the hot path, e.g. to poll a server's /health).
 *
 * The response parser keeps fixed memory (one short line buffer): it reads
 * the status line and the headers it needs (Content-Length,
 * Transfer-Encoding, Connection), then skips the body (by length, chunked,
 * or until the connection closes), optionally copying up to a caller's
 * capacity of body bytes. Limits: a header block of at most
 * HTTPC_MAX_HEADER_BYTES bytes and HTTPC_MAX_HEADERS lines; anything else
 * malformed is HTTPC_ERROR with a reason, never a crash.
 * Thread-safety: a parser is used by one thread at a time; the rest is
 * reentrant.
 */
#ifndef GLINT_BENCH_HTTPC_H
#define GLINT_BENCH_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bench_status.h"

#define HTTPC_MAX_HEADER_BYTES (64 * 1024)
#define HTTPC_MAX_HEADERS 256
#define HTTPC_LINE_MAX 256 /* bytes of a header line kept; the rest is skipped */

/* A parsed http:// URL. host is a name or IPv4/IPv6 literal (brackets
 * removed); path starts with '/' and includes the query. */
typedef struct httpc_url {
    char host[256];
    int port;
    char path[2048];
    char authority[300]; /* "host:port" as sent in the Host header */
} httpc_url;

/* Parses "http://host[:port][/path]". Errors (BENCH_ERR_INVALID): another
 * scheme (https is refused with a message), an empty host, a bad port, a
 * host or path over the sizes above, spaces or control bytes. */
bench_status httpc_url_parse(const char *url, httpc_url *out);

typedef enum httpc_result {
    HTTPC_NEED_MORE = 0, /* feed more bytes (or call httpc_parser_eof) */
    HTTPC_DONE,          /* one full response was read */
    HTTPC_ERROR,         /* malformed: see parser->error */
} httpc_result;

typedef struct httpc_parser {
    int state;
    int status;         /* status code, once the status line is read */
    int minor;          /* HTTP/1.<minor> */
    int keep_alive;     /* 1 if the connection may be reused after DONE */
    int head;           /* the request was HEAD: no body follows */
    int chunked;        /* Transfer-Encoding: chunked */
    int has_length;     /* Content-Length was given */
    uint64_t length;    /* its value */
    uint64_t remaining; /* body (or chunk) bytes still to skip */
    uint64_t header_bytes;
    int retry_after_s; /* Retry-After in seconds (delta form), -1 if none or a date */
    uint64_t body_bytes;
    int headers;     /* header lines seen */
    size_t line_len; /* bytes of the current line (may exceed what is kept) */
    char line[HTTPC_LINE_MAX];
    char *body; /* optional copy of the body: caller's buffer */
    size_t body_cap;
    size_t body_len;
    const char *error; /* static reason when HTTPC_ERROR */
} httpc_parser;

/* Prepares p for the next response. head: the request was HEAD. body/cap:
 * where to copy the first `cap` body bytes (NULL/0 for none). */
void httpc_parser_reset(httpc_parser *p, int head, char *body, size_t cap);

/* Feeds `len` bytes. Returns HTTPC_DONE with *used = bytes that belonged to
 * this response (the rest, if any, is unsolicited data), HTTPC_NEED_MORE
 * with *used = len, or HTTPC_ERROR. After DONE or ERROR, reset before
 * feeding again. */
httpc_result httpc_parser_feed(httpc_parser *p, const char *buf, size_t len, size_t *used);

/* The connection closed: DONE if the response ended with it (a body
 * delimited by the close), else ERROR (a truncated response). */
httpc_result httpc_parser_eof(httpc_parser *p);

/* 1 if nothing of a response was received yet. */
int httpc_parser_empty(const httpc_parser *p);

/* Blocking GET of url's path on a fresh connection, with a deadline of
 * timeout_ms for the whole exchange. On BENCH_OK, *status is the HTTP
 * status and body[0..*len) the first cap-1 body bytes, NUL-terminated.
 * Errors: BENCH_ERR_NET (resolve, connect, timeout, closed),
 * BENCH_ERR_PARSE (malformed response). */
bench_status httpc_get(const httpc_url *url, int timeout_ms, int *status, char *body, size_t cap,
                       size_t *len);
/* The same with another method (POST, PUT, DELETE, HEAD: an empty body). */
bench_status httpc_call(const httpc_url *url, const char *method, int timeout_ms, int *status,
                        char *body, size_t cap, size_t *len);

#endif
