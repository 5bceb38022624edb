/* glint's own routes:
 *   GET  /v1/models                         the models and their state
 *   POST /v1/models/{name}/{task}          an image (raw body, or
 *        multipart/form-data with one or more `image` parts) -> the answer
 *        `glint run` gives for it (several parts: {"model", "results": [...]});
 *        {task} is the model's: detect, classify, text_detect, text_recognize
 * Query parameters: score, iou, max_det, agnostic, top_k, timeout_ms (also the
 * X-Timeout-Ms header), cache=0 (neither read nor fill the response cache).
 * {name} may be a split (split.h): its version for this client answers.
 *   GET    /v1/splits                      the splits, their weights and canaries
 *   GET    /v1/splits/{name}
 *   PUT    /v1/splits/{name}               a split from a JSON body (until the
 *                                          --splits file changes)
 *   DELETE /v1/splits/{name}
 *   POST   /v1/splits/{name}/promote       the canary takes all the weight
 *   POST   /v1/splits/{name}/rollback      the canary's weight goes to 0
 * Loop thread. */
#include "serve/v1/v1.h"

#include "serve/core/multipart.h"
#include "serve/core/server_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A /v1 request's own state (request.h's proto). */
typedef struct v1_req {
    answer_params params;
    int multi;            /* answers as {"model", "results": [...]} */
    multipart_part image; /* the one image, while the fleet's cache is asked */
    const char *split;    /* the split the name was (the answer names its version), or NULL */
    uint64_t lookup_ns;   /* spent looking in the caches */
} v1_req;

/* Reads a number parameter into *v if present; -1 (answered 400) if bad. */
static int num_param(server *s, h2o_req_t *req, const char *name, double lo, double hi, double *v)
{
    char buf[64];
    const char *t = serve_query(req, name, buf, sizeof buf);
    if (!t) return 0;
    char *end;
    errno = 0;
    double x = strtod(t, &end);
    if (!*t || *end || errno || !(x >= lo && x <= hi)) {
        serve_respond_error(s, req, 400, "parameter %s must be a number in [%g, %g], got '%s'",
                            name, lo, hi, t);
        return -1;
    }
    *v = x;
    return 0;
}

/* Request parameters over the model's; 0, or -1 (answered 400). */
static int read_params(server *s, h2o_req_t *req, repo_model *m, answer_params *p,
                       int64_t *timeout_ms)
{
    *p = answer_params_of(m->conf);
    double score = -1, iou = -1, max_det = 0, agnostic = -1, top_k = 0, tmo = 0;
    if (num_param(s, req, "score", 0, 1, &score) || num_param(s, req, "iou", 0, 1, &iou) ||
        num_param(s, req, "max_det", 1, 10000, &max_det) ||
        num_param(s, req, "agnostic", 0, 1, &agnostic) ||
        num_param(s, req, "top_k", 1, 1000, &top_k) ||
        num_param(s, req, "timeout_ms", 1, 3600000, &tmo))
        return -1;
    char hb[32];
    const char *h = serve_header(req, "x-timeout-ms", hb, sizeof hb);
    if (h && !tmo) {
        char *end;
        long v = strtol(h, &end, 10);
        if (*end || v < 1 || v > 3600000) {
            serve_respond_error(s, req, 400, "X-Timeout-Ms must be 1..3600000, got '%s'", h);
            return -1;
        }
        tmo = (double)v;
    }
    if (score >= 0) p->detect.score_threshold = (float)score;
    if (iou >= 0) p->detect.iou_threshold = (float)iou;
    if (max_det > 0) p->detect.max_det = (int)max_det;
    if (agnostic >= 0) p->detect.agnostic = agnostic > 0;
    if (top_k > 0) p->top_k = (int)top_k;
    *timeout_ms = tmo > 0 ? (int64_t)tmo : m->timeout_ms;
    return 0;
}

static void list_models(server *s, h2o_req_t *req)
{
    json_t *arr = json_array();
    for (int i = 0; i < s->n_entries; i++) {
        const repo_entry *e = s->entries[i];
        json_t *o = json_pack("{s:s, s:s}", "name", e->name, "state",
                              e->state == ENTRY_READY ? "READY" : "UNAVAILABLE");
        if (o && e->model)
            json_object_set_new(o, "task", json_string(model_task_name(e->model->conf->task)));
        if (o && e->model && e->model->chain)
            json_object_set_new(o, "pipeline", chain_json(e->model));
        if (o && e->state != ENTRY_READY && e->reason[0])
            json_object_set_new(o, "reason", json_string(e->reason));
        json_array_append_new(arr, o);
    }
    serve_respond_json(req, 200, json_pack("{s:o}", "models", arr));
}

/* The image spans of the body: the whole body, or every multipart part named
 * "image". Returns the count, or -1 (answered 400). */
static int image_parts(server *s, h2o_req_t *req, multipart_part *parts, int max)
{
    char ct[512];
    const char *t = serve_header(req, "content-type", ct, sizeof ct);
    if (t && !strncasecmp(t, "multipart/", 10)) {
        int n = 0;
        char err[256];
        if (multipart_parse(t, strlen(t), (const uint8_t *)req->entity.base, req->entity.len, parts,
                            max, &n, err, sizeof err)) {
            serve_respond_error(s, req, 400, "multipart body: %s", err);
            return -1;
        }
        int k = 0;
        for (int i = 0; i < n; i++)
            if (multipart_name_is(&parts[i], "image")) parts[k++] = parts[i];
        if (!k) serve_respond_error(s, req, 400, "multipart body has no part named 'image'");
        return k ? k : -1;
    }
    if (!req->entity.base || !req->entity.len) {
        serve_respond_error(s, req, 400, "empty body: send a JPEG or PNG image");
        return -1;
    }
    memset(&parts[0], 0, sizeof parts[0]);
    parts[0].data = (const uint8_t *)req->entity.base;
    parts[0].size = req->entity.len;
    return 1;
}

/* The cache key of a one-image request: the digests of what the answer
 * depends on besides the image (model name, its files' identity when
 * replicas share the cache, the split that routed it, the parameters) and
 * of the image, 32 bytes. */
static size_t cache_key(server *s, const repo_model *m, const char *split_name,
                        const answer_params *p, const uint8_t *img, size_t len, uint8_t *key,
                        size_t cap)
{
    char params[SERVE_ERR_MAX];
    int n = snprintf(params, sizeof params, "%s|%s|%016llx|%g|%g|%d|%d|%d", m->name,
                     split_name ? split_name : "", (unsigned long long)m->content_id,
                     (double)p->detect.score_threshold, (double)p->detect.iou_threshold,
                     p->detect.max_det, p->detect.agnostic, p->top_k);
    if (n < 0 || (size_t)n >= sizeof params || cap < 32) return 0;
    serve_cache_digest(s, params, (size_t)n, key);
    serve_cache_digest(s, img, len, key + 16);
    return 32;
}

/* Answers r from a cached answer (`where`: hit, shared) and counts it. */
static void answer_cached(server *s, h2o_req_t *req, sreq *r, const void *val, size_t vlen,
                          const char *where)
{
    const v1_req *v = r->proto;
    uint64_t ns = v->lookup_ns;
    atomic_fetch_add(&r->rm->stats.cache_hit_count, 1);
    atomic_fetch_add(&r->rm->stats.cache_hit_ns, ns);
    atomic_fetch_add(&r->rm->stats.success_count, 1);
    atomic_fetch_add(&r->rm->stats.success_ns, serve_now_ns() - r->t_start);
    char t[32];
    int n = snprintf(t, sizeof t, "cache;desc=%s", where);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("server-timing"), 0, NULL,
                          h2o_strdup(&req->pool, t, (size_t)n).base, (size_t)n);
    serve_respond(req, 200, "application/json", val, vlen);
}

static void count_miss(sreq *r)
{
    const v1_req *v = r->proto;
    atomic_fetch_add(&r->rm->stats.cache_miss_count, 1);
    atomic_fetch_add(&r->rm->stats.cache_miss_ns, v->lookup_ns);
}

/* Answers from the local cache if it holds this request; 1 if answered. */
static int try_cache(server *s, h2o_req_t *req, sreq *r)
{
    const void *val;
    size_t vlen;
    v1_req *v = r->proto;
    uint64_t t0 = serve_now_ns();
    int hit = resp_cache_get(s->cache, r->cache_key, r->cache_klen, t0, &val, &vlen);
    v->lookup_ns = serve_now_ns() - t0;
    if (!hit) {
        metrics_counter_inc(&s->cache_misses);
        return 0;
    }
    metrics_counter_inc(&s->cache_hits);
    answer_cached(s, req, r, val, vlen, "hit");
    return 1;
}

/* Builds r's items over a private copy of the body. 0 or -1 (OOM). */
static int make_items(sreq *r, h2o_req_t *req, const multipart_part *parts, int n)
{
    if (sreq_copy_body(r, req) || sreq_items(r, n)) return -1;
    for (int i = 0; i < n; i++) {
        sitem *it = &r->items[i];
        it->data = r->body + (parts[i].data - (const uint8_t *)req->entity.base);
        it->size = parts[i].size;
        if (parts[i].filename &&
            !(it->name = arena_strndup(r->mem, parts[i].filename, parts[i].filename_len)))
            return -1;
    }
    return 0;
}

/* ---- the answer (request.h's sreq_ops) ---- */

static int item_ran(sitem *it, const batch_result *res)
{
    const v1_req *v = it->owner->proto;
    return pipeline_answer(it, res, &v->params);
}

static json_t *item_error_json(const sitem *it)
{
    json_t *j = json_object();
    if (j && it->name) json_object_set_new(j, "image", answer_text(it->name));
    if (j) json_object_set_new(j, "error", answer_text(it->err));
    return j;
}

/* The response of a request whose items are all answered (any thread). */
static void finished(sreq *r)
{
    const v1_req *v = r->proto;
    json_t *body = NULL;
    int status;
    if (!v->multi) {
        sitem *it = &r->items[0];
        status = it->status;
        if (it->status == 200) {
            body = it->answer;
            it->answer = NULL;
            r->cacheable = r->cache_klen > 0;
        } else {
            body = json_pack("{s:o}", "error", answer_text(it->err));
        }
    } else {
        json_t *arr = json_array();
        int ok = 0, first_fail = 0;
        for (int i = 0; i < r->n_items; i++) {
            sitem *it = &r->items[i];
            if (it->status == 200) {
                ok++;
                json_array_append(arr, it->answer);
            } else {
                if (!first_fail) first_fail = it->status;
                json_array_append_new(arr, item_error_json(it));
            }
        }
        status = ok ? 200 : first_fail;
        body = json_pack("{s:o, s:o}", "model", answer_text(r->rm->name), "results", arr);
    }
    if (body && v->split && status == 200) { /* which version answered */
        json_object_set_new(body, "split", json_string(v->split));
        json_object_set_new(body, "version", answer_text(r->rm->name));
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
    json_decref(body);
    sreq_set_body(r, status, text);
    if (!text) r->cacheable = 0;
    sreq_finish(r);
}

static const sreq_ops v1_ops = {.item_ran = item_ran, .finished = finished};

/* Runs r's n images (parts of req's body) through the model. */
static void run_images(server *s, h2o_req_t *req, sreq *r, const multipart_part *parts, int n)
{
    repo_model *m = r->rm;
    char why[160];
    if (sreq_admit(r, n, why, sizeof why)) {
        serve_respond_error(s, req, 503, "model %s: %s", m->name, why);
        sreq_destroy(r);
        return;
    }
    if (make_items(r, req, parts, n)) {
        atomic_fetch_sub(&m->pending, n);
        serve_respond_error(s, req, 500, "out of memory");
        sreq_destroy(r);
        return;
    }
    sreq_track(r);
    pipeline_submit_images(r);
}

/* The fleet's cache answered r (val NULL: not there, or Redis did not say). */
static void on_shared_cache(void *arg, const void *val, size_t len)
{
    sreq *r = arg;
    server *s = r->srv;
    v1_req *v = r->proto;
    sreq_untrack(r);
    h2o_req_t *req = r->req;
    if (!req) { /* the client went away */
        sreq_destroy(r);
        return;
    }
    v->lookup_ns = serve_now_ns() - r->t_start;
    if (s->draining || s->stopping) {
        serve_respond_error(s, req, 503, "the server is shutting down");
        sreq_destroy(r);
        return;
    }
    if (val) {
        metrics_counter_inc(&s->cache_shared_hits);
        resp_cache_put(s->cache, r->cache_key, r->cache_klen, val, len, serve_now_ns());
        answer_cached(s, req, r, val, len, "shared");
        sreq_destroy(r);
        return;
    }
    count_miss(r);
    run_images(s, req, r, &v->image, 1);
}

static void infer_images(server *s, h2o_req_t *req, repo_model *m, model_task want,
                         const char *split_name)
{
    if (m->conf->task != want) {
        serve_respond_error(s, req, 400, "model %s is a %s model: POST to /v1/models/%s/%s",
                            m->name, model_task_name(m->conf->task), m->name,
                            model_task_name(m->conf->task));
        goto release;
    }
    answer_params params;
    int64_t timeout_ms;
    if (read_params(s, req, m, &params, &timeout_ms)) goto release;
    multipart_part parts[SERVE_MAX_IMAGES];
    int n = image_parts(s, req, parts, SERVE_MAX_IMAGES);
    if (n < 0) goto release;
    if (s->draining) {
        serve_respond_error(s, req, 503, "the server is shutting down");
        goto release;
    }
    sreq *r = sreq_create(s, req, m, &v1_ops, sizeof(v1_req));
    if (!r) { /* m released */
        serve_respond_error(s, req, 500, "out of memory");
        return;
    }
    v1_req *v = r->proto;
    v->params = params;
    v->multi = n > 1;
    v->split = split_name ? arena_strndup(r->mem, split_name, strlen(split_name)) : NULL;
    r->deadline_ns = r->t_start + (uint64_t)timeout_ms * 1000000u;
    char nc[8];
    const char *use_cache = serve_query(req, "cache", nc, sizeof nc);
    if (n == 1 && s->cache && !(use_cache && !strcmp(use_cache, "0"))) {
        r->cache_klen = cache_key(s, m, split_name, &params, parts[0].data, parts[0].size,
                                  r->cache_key, sizeof r->cache_key);
        if (try_cache(s, req, r)) {
            sreq_destroy(r);
            return;
        }
        v->image = parts[0];
        if (!fleet_cache_get(s->fleet, r->cache_key, r->cache_klen, on_shared_cache, r)) {
            sreq_track(r); /* until Redis answers (at most its timeout) */
            return;
        }
        count_miss(r);
    }
    run_images(s, req, r, parts, n);
    return;
release:
    repo_model_release(m);
}

static int splits_route(server *s, h2o_req_t *req, const char *path, size_t len);

static int route(server *s, void *state, h2o_req_t *req, const char *path, size_t len)
{
    (void)state;
    if (!splits_route(s, req, path, len)) return 0;
    static const char prefix[] = "/v1/models";
    const size_t pl = sizeof prefix - 1;
    if (len < pl || memcmp(path, prefix, pl)) return -1;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    if (len == pl || (len == pl + 1 && path[pl] == '/')) {
        if (!get) serve_respond_error(s, req, 405, "use GET on /v1/models");
        if (get) list_models(s, req);
        return 0;
    }
    if (path[pl] != '/') return -1;
    const char *name = path + pl + 1;
    const char *slash = memchr(name, '/', (size_t)(path + len - name));
    if (!slash) return -1;
    size_t nlen = (size_t)(slash - name);
    const char *verb = slash + 1;
    size_t vlen = (size_t)(path + len - verb);
    model_task want = MODEL_TASK_NONE; /* the verb is the task's name */
    for (int t = MODEL_TASK_DETECT; t <= MODEL_TASK_TEXT_RECOGNIZE && !want; t++)
        if (h2o_memis(verb, vlen, model_task_name((model_task)t),
                      strlen(model_task_name((model_task)t))))
            want = (model_task)t;
    if (want == MODEL_TASK_NONE) return -1;
    if (!post) {
        serve_respond_error(s, req, 405, "use POST with an image body");
        return 0;
    }
    char client[RATELIMIT_KEY_MAX + 8], err[SERVE_ERR_MAX];
    size_t cl = serve_req_client(req, client, sizeof client);
    int status;
    repo_model *m = serve_route_model(s, name, nlen, client, cl, &status, err, sizeof err);
    if (!m) {
        serve_respond_error(s, req, status, "%s", err);
        return 0;
    }
    if (!serve_model_limit(s, req, m)) { /* model.yaml's rate_limit: answered 429 */
        repo_model_release(m);
        return 0;
    }
    const split *sp = split_find(&s->splits, name, nlen);
    infer_images(s, req, m, want, sp ? sp->name : NULL);
    return 0;
}

/* ---- /v1/splits ---- */

static int splits_route(server *s, h2o_req_t *req, const char *path, size_t len)
{
    static const char prefix[] = "/v1/splits";
    const size_t pl = sizeof prefix - 1;
    if (len < pl || memcmp(path, prefix, pl) || (len > pl && path[pl] != '/')) return -1;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    int del = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("DELETE"));
    if (len <= pl + 1) {
        if (!get) serve_respond_error(s, req, 405, "use GET on /v1/splits");
        if (get) serve_respond_json(req, 200, serve_splits_json(s));
        return 0;
    }
    const char *name = path + pl + 1;
    const char *end = path + len;
    const char *slash = memchr(name, '/', (size_t)(end - name));
    size_t nlen = (size_t)((slash ? slash : end) - name);
    char nm[SPLIT_NAME_MAX];
    if (!nlen || nlen >= sizeof nm) {
        serve_respond_error(s, req, 404, "no such split");
        return 0;
    }
    memcpy(nm, name, nlen);
    nm[nlen] = 0;
    split *sp = split_find(&s->splits, name, nlen);
    if (slash) { /* promote / rollback */
        size_t vl = (size_t)(end - slash - 1);
        int promote = h2o_memis(slash + 1, vl, H2O_STRLIT("promote"));
        int rollback = h2o_memis(slash + 1, vl, H2O_STRLIT("rollback"));
        if (!promote && !rollback) return -1;
        if (!post) {
            serve_respond_error(s, req, 405, "use POST");
            return 0;
        }
        if (!sp) {
            serve_respond_error(s, req, 404, "no split '%s'", nm);
            return 0;
        }
        if (sp->canary.version < 0) {
            serve_respond_error(s, req, 409, "split %s has no canary", nm);
            return 0;
        }
        split_settle(sp, promote, "asked through the API");
        fprintf(stderr, "glint serve: split %s: %s\n", sp->name, sp->verdict);
        serve_respond_json(req, 200, split_json(sp));
        return 0;
    }
    if (get) {
        if (sp) serve_respond_json(req, 200, split_json(sp));
        if (!sp) serve_respond_error(s, req, 404, "no split '%s'", nm);
        return 0;
    }
    if (del) {
        if (!sp) {
            serve_respond_error(s, req, 404, "no split '%s'", nm);
            return 0;
        }
        int i = (int)(sp - s->splits.s);
        memmove(sp, sp + 1, (size_t)(s->splits.n - i - 1) * sizeof *sp);
        s->splits.n--;
        fprintf(stderr, "glint serve: split %s deleted through the API\n", nm);
        serve_respond_json(req, 200, json_pack("{s:s}", "deleted", nm));
        return 0;
    }
    if (!put) {
        serve_respond_error(s, req, 405, "use GET, PUT or DELETE on /v1/splits/%s", nm);
        return 0;
    }
    json_error_t je;
    json_t *body = json_loadb(req->entity.base, req->entity.len, 0, &je);
    if (!body) {
        serve_respond_error(s, req, 400, "the body is not JSON: %s", je.text);
        return 0;
    }
    split next;
    char err[SERVE_ERR_MAX];
    int bad = split_parse_one(nm, body, &next, err, sizeof err);
    json_decref(body);
    if (bad) {
        serve_respond_error(s, req, 400, "%s", err);
        return 0;
    }
    int created = !sp;
    if (split_put(&s->splits, &next)) {
        serve_respond_error(s, req, 507, "no room for another split (at most %d)", SPLIT_MAX);
        return 0;
    }
    fprintf(stderr, "glint serve: split %s %s through the API\n", nm,
            created ? "created" : "replaced");
    serve_respond_json(req, created ? 201 : 200, split_json(split_find(&s->splits, nm, nlen)));
    return 0;
}

static serve_access v1_access(const h2o_req_t *req, const char *path, size_t len)
{
    static const char prefix[] = "/v1/splits";
    if (len >= sizeof prefix - 1 && !memcmp(path, prefix, sizeof prefix - 1) &&
        !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET")))
        return SERVE_ACCESS_ADMIN;
    return SERVE_ACCESS_DEFAULT;
}

const serve_module v1_module = {.name = "v1", .access = v1_access, .route = route};
