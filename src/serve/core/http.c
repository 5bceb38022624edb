/* HTTP helpers of the core: responses, query parameters, headers (see
 * http.h). Loop thread. */
#include "serve/core/server_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 416:
        return "Range Not Satisfiable";
    case 422:
        return "Unprocessable Content";
    case 429:
        return "Too Many Requests";
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

void serve_note_error(server *s, int status, const char *path, size_t path_len, const char *msg)
{
    struct recent_error *e = &s->recent_errors[s->next_error];
    s->next_error = (s->next_error + 1) % SERVE_RECENT_ERRORS;
    if (s->n_errors < SERVE_RECENT_ERRORS) s->n_errors++;
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(e->time, sizeof e->time, "%Y-%m-%dT%H:%M:%SZ", &tm);
    e->status = status;
    snprintf(e->path, sizeof e->path, "%.*s", (int)(path_len < 95 ? path_len : 95),
             path ? path : "");
    snprintf(e->error, sizeof e->error, "%s", msg ? msg : "");
}

json_t *serve_recent_errors_json(const server *s)
{
    json_t *a = json_array();
    for (int k = 0; a && k < s->n_errors; k++) {
        int i = (s->next_error - s->n_errors + k + SERVE_RECENT_ERRORS) % SERVE_RECENT_ERRORS;
        const struct recent_error *e = &s->recent_errors[i];
        json_array_append_new(a, json_pack("{s:s, s:i, s:o, s:o}", "time", e->time, "status",
                                           e->status, "path", answer_text(e->path), "error",
                                           answer_text(e->error)));
    }
    return a;
}

void serve_respond_errorv(server *s, h2o_req_t *req, int status, const char *key, const char *fmt,
                          va_list ap)
{
    char msg[SERVE_ERR_MAX];
    vsnprintf(msg, sizeof msg, fmt, ap);
    serve_note_error(s, status, req->path_normalized.base, req->path_normalized.len, msg);
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

int serve_method_is(const h2o_req_t *req, const char *m)
{
    return serve_path_is(req->method.base, req->method.len, m);
}

int serve_path_is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(p, lit, n);
}

int serve_path_starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n > l && !memcmp(p, lit, l);
}
