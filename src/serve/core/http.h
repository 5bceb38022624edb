/* HTTP helpers of the core for every protocol: responses, query parameters
 * and headers of an h2o request. Loop thread (h2o requests are the loop's).
 */
#ifndef GLINT_SERVE_CORE_HTTP_H
#define GLINT_SERVE_CORE_HTTP_H

#define H2O_USE_LIBUV 0
#include <h2o.h>
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>

typedef struct server server;

/* Sends a complete response; body copied. */
void serve_respond(h2o_req_t *req, int status, const char *ctype, const char *body, size_t len);
/* {"error": msg} with `status` (counted as a 4xx or 5xx). */
void serve_respond_error(server *s, h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* {key: msg} with `status` (the edge API says "detail"). */
void serve_respond_errorv(server *s, h2o_req_t *req, int status, const char *key, const char *fmt,
                          va_list ap);
/* A json_t answer (stolen) as `status`. */
void serve_respond_json(h2o_req_t *req, int status, json_t *j);
/* Value of query parameter `name` of req (NUL-terminated, percent-decoded
 * copy in buf), or NULL. */
const char *serve_query(h2o_req_t *req, const char *name, char *buf, size_t size);
/* Value of request header `name` (lower case) copied into buf, or NULL. */
const char *serve_header(h2o_req_t *req, const char *name, char *buf, size_t size);
/* 1 if req's method is `m` ("GET", "POST", ...). */
int serve_method_is(const h2o_req_t *req, const char *m);
/* 1 if p[0..n) is exactly the string lit. */
int serve_path_is(const char *p, size_t n, const char *lit);
/* 1 if p[0..n) starts with lit and is longer. */
int serve_path_starts(const char *p, size_t n, const char *lit);

#endif
