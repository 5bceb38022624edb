/* glint as the upstream: the packages of its detectors' models (see
 * edge_models.h). */
#include "serve/edge/edge_models.h"
#include "serve/core/errmsg.h"
#include "serve/core/http.h"
#include "serve/core/repo.h"
#include "model/precision.h"
#include "model/store.h"
#include "serve/edge/edge_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODELS_MAX 64 /* packages kept (one per model) */

typedef struct package {
    char name[EDGE_ID_MAX]; /* the model */
    uint64_t sig;           /* its folder's file signature when packed */
    char *buf;
    size_t len;
    char id[65];
} package;

struct edge_models {
    package p[MODELS_MAX];
    int n;
};

edge_models *edge_models_create(void)
{
    return calloc(1, sizeof(edge_models));
}

void edge_models_destroy(edge_models *em)
{
    if (!em) return;
    for (int i = 0; i < em->n; i++)
        free(em->p[i].buf);
    free(em);
}

/* The package of model m, packed now if its files changed; NULL with err. */
static const package *package_of(edge_models *em, const repo_model *m, char *err, size_t size)
{
    package *p = NULL;
    for (int i = 0; i < em->n && !p; i++)
        if (!strcmp(em->p[i].name, m->name)) p = &em->p[i];
    if (p && p->sig == m->file_sig && p->buf) return p;
    if (!m->pkg.dir) {
        errmsg_set(err, size, "model %s is a bare .onnx file, not a folder", m->name);
        return NULL;
    }
    if (!p) {
        if (em->n == MODELS_MAX) {
            errmsg_set(err, size, "more than %d models packaged", MODELS_MAX);
            return NULL;
        }
        p = &em->p[em->n++];
        snprintf(p->name, sizeof p->name, "%s", m->name);
    }
    free(p->buf);
    p->buf = NULL;
    if (model_store_pack(m->pkg.dir, &p->buf, &p->len, p->id, err, size)) return NULL;
    p->sig = m->file_sig;
    return p;
}

static char *read_text(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *t = NULL;
    size_t cap = 0, len = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            char *nt = realloc(t, cap = cap ? cap * 2 : 8192);
            if (!nt) {
                free(t);
                fclose(f);
                return NULL;
            }
            t = nt;
        }
        size_t got = fread(t + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
        if (len > (1u << 20)) break; /* a model.yaml is small */
    }
    fclose(f);
    t[len] = 0;
    return t;
}

static void detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serve_respond_errorv(s, req, status, "detail", fmt, ap);
    va_end(ap);
}

/* The URL of package id on this server, as the client reached it. */
static void binary_url(h2o_req_t *req, const char *id, char *url, size_t size)
{
    snprintf(url, size, "http://%.*s/edge-api/v1/model-binaries/%s.tar",
             (int)(req->authority.len < 300 ? req->authority.len : 300), req->authority.base, id);
}

static void fetch_model_urls(server *s, edge_models *em, h2o_req_t *req, const char *id, size_t n)
{
    edge_state *es = edge_of(s);
    char det_id[EDGE_ID_MAX];
    if (n && id[n - 1] == '/') n--;
    snprintf(det_id, sizeof det_id, "%.*s", (int)(n < EDGE_ID_MAX - 1 ? n : EDGE_ID_MAX - 1), id);
    const edge_detector *d = es ? edge_config_detector(es->cfg, det_id) : NULL;
    if (!d) {
        detail(s, req, 404, "detector %s is not configured here", det_id);
        return;
    }
    repo_model *m = edge_detector_serving(s, d);
    if (!m && !d->model[0]) {
        detail(s, req, 404, "detector %s has no model here", det_id);
        return;
    }
    if (!m) {
        detail(s, req, 503, "detector %s: model %s is not ready", det_id, d->model);
        return;
    }
    char err[SERVE_ERR_MAX];
    const package *p = package_of(em, m, err, sizeof err);
    if (!p) {
        detail(s, req, 500, "detector %s: %s", det_id, err);
        repo_model_release(m);
        return;
    }
    char *yaml = read_text(m->pkg.dir, "model.yaml");
    json_t *meta =
        json_pack("{s:s, s:s, s:s, s:s, s:I}", "model", m->name, "task",
                  model_task_name(m->conf->task), "precision", precision_name(m->pkg.precision),
                  "package", "tar", "package_bytes", (json_int_t)p->len);
    char *meta_text = meta ? json_dumps(meta, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(meta);
    char url[512];
    binary_url(req, p->id, url, sizeof url);
    json_t *doc = json_pack("{s:s, s:s, s:s, s:s, s:s}", "pipeline_config", yaml ? yaml : "",
                            "predictor_metadata", meta_text ? meta_text : "{}", "model_binary_id",
                            p->id, "model_binary_url", url, "oodd_pipeline_config", "");
    repo_model *om = edge_detector_oodd(s, d); /* its out-of-domain model, if any */
    const package *op = om ? package_of(em, om, err, sizeof err) : NULL;
    if (doc && op) {
        char *oyaml = read_text(om->pkg.dir, "model.yaml");
        binary_url(req, op->id, url, sizeof url);
        json_object_set_new(doc, "oodd_pipeline_config", json_string(oyaml ? oyaml : ""));
        json_object_set_new(doc, "oodd_model_binary_id", json_string(op->id));
        json_object_set_new(doc, "oodd_model_binary_url", json_string(url));
        free(oyaml);
    }
    serve_respond_json(req, 200, doc);
    free(yaml);
    free(meta_text);
    repo_model_release(om);
    repo_model_release(m);
}

/* The package whose id is `id`, packing the detectors' models as needed. */
static const package *find_package(server *s, edge_models *em, const char *id)
{
    for (int i = 0; i < em->n; i++)
        if (em->p[i].buf && !strcmp(em->p[i].id, id)) return &em->p[i];
    edge_state *es = edge_of(s);
    for (int i = 0; es && i < 2 * es->cfg->n_detectors; i++) { /* models and OODD models */
        const edge_detector *d = &es->cfg->detectors[i / 2];
        repo_model *m = i % 2 ? edge_detector_oodd(s, d) : edge_detector_serving(s, d);
        if (!m) continue;
        char err[SERVE_ERR_MAX];
        const package *p = package_of(em, m, err, sizeof err);
        repo_model_release(m);
        if (p && !strcmp(p->id, id)) return p;
    }
    return NULL;
}

/* The Range header of req over a body of len bytes (one range: "bytes=A-",
 * "bytes=A-B" or "bytes=-N"): 0 none or not understood (the whole body), 1
 * a satisfiable range [*from, *to], -1 unsatisfiable (416). */
static int parse_range(h2o_req_t *req, size_t len, size_t *from, size_t *to)
{
    ssize_t i = h2o_find_header(&req->headers, H2O_TOKEN_RANGE, -1);
    if (i < 0) return 0;
    const h2o_iovec_t *v = &req->headers.entries[i].value;
    char r[64];
    if (v->len >= sizeof r || v->len < 7 || memcmp(v->base, "bytes=", 6)) return 0;
    memcpy(r, v->base + 6, v->len - 6);
    r[v->len - 6] = 0;
    char *dash = strchr(r, '-'), *end;
    if (!dash || strchr(r, ',')) return 0;
    *dash = 0;
    if (!r[0]) { /* the last N bytes */
        unsigned long long k = strtoull(dash + 1, &end, 10);
        if (*end || !dash[1] || k == 0) return dash[1] ? -1 : 0;
        *from = k >= len ? 0 : len - (size_t)k;
        *to = len - 1;
        return len ? 1 : -1;
    }
    unsigned long long a = strtoull(r, &end, 10), b = len ? len - 1 : 0;
    if (*end) return 0;
    if (dash[1]) {
        b = strtoull(dash + 1, &end, 10);
        if (*end || b < a) return 0;
        if (b >= len) b = len - 1;
    }
    if (a >= len) return -1;
    *from = (size_t)a;
    *to = (size_t)b;
    return 1;
}

static void model_binary(server *s, edge_models *em, h2o_req_t *req, const char *name, size_t n)
{
    char id[65];
    int ok = n == 68 && !memcmp(name + 64, ".tar", 4);
    for (size_t i = 0; ok && i < 64; i++)
        ok = (name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f');
    if (!ok) {
        detail(s, req, 404, "no such model binary (want {sha256}.tar)");
        return;
    }
    memcpy(id, name, 64);
    id[64] = 0;
    const package *p = find_package(s, em, id);
    if (!p) {
        detail(s, req, 404, "no model binary %s here (a model changes its id)", id);
        return;
    }
    char etag[70];
    int en = snprintf(etag, sizeof etag, "\"%s\"", p->id);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ETAG, NULL, etag, (size_t)en);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ACCEPT_RANGES, NULL,
                   H2O_STRLIT("bytes"));
    size_t from, to;
    switch (parse_range(req, p->len, &from, &to)) {
    case 0:
        serve_respond(req, 200, "application/x-tar", p->buf, p->len);
        return;
    case 1: {
        char cr[80];
        int cn = snprintf(cr, sizeof cr, "bytes %zu-%zu/%zu", from, to, p->len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL,
                       h2o_strdup(&req->pool, cr, (size_t)cn).base, (size_t)cn);
        serve_respond(req, 206, "application/x-tar", p->buf + from, to - from + 1);
        return;
    }
    default: {
        char cr[40];
        int cn = snprintf(cr, sizeof cr, "bytes */%zu", p->len);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_RANGE, NULL,
                       h2o_strdup(&req->pool, cr, (size_t)cn).base, (size_t)cn);
        detail(s, req, 416, "range not satisfiable: the binary has %zu bytes", p->len);
    }
    }
}

void edge_models_route(server *s, edge_models *em, h2o_req_t *req, const char *p, size_t n)
{
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        detail(s, req, 405, "use GET");
    } else if (serve_path_starts(p, n, "/v1/fetch-model-urls/")) {
        fetch_model_urls(s, em, req, p + 21, n - 21);
    } else if (serve_path_starts(p, n, "/v1/model-binaries/")) {
        model_binary(s, em, req, p + 19, n - 19);
    } else {
        detail(s, req, 404, "no such route: /edge-api%.*s", (int)(n < 200 ? n : 200), p);
    }
}
