/* The Groundlight edge API (../docs/edge.md), answered locally:
 *   POST /device-api/v1/image-queries          an image -> an ImageQuery
 *   GET  /device-api/v1/image-queries/{id}     its latest state
 *   GET  /device-api/v1/detectors/{id}         the Detector
 *   GET  /device-api/v1/me, /v1/api-tokens/by-snippet/{s} (404)
 *   GET|PUT /edge-config, GET /edge-detector-readiness
 *   GET  /health/live, /health/ready, /ping, /status/resources.json
 *
 * An image query runs the detector's model through the same pipeline as
 * /v1 (decode -> batch -> answer), reads the answer by the detector's mode
 * (edge_iq.h) and escalates by the original's rules, with escalations
 * committed to the outbox (edge_outbox.h) before the client is answered.
 *
 * Threads: routing, parameter checks, deduplication and config changes run
 * on the loop; answers are built where the image's inference finished; a
 * request that writes the database (an escalation, a client-named id) is
 * finished by a worker so that no fsync runs on the loop or an engine
 * instance. A request copies the detector and preset it needs at admission:
 * a config swap never changes a request under way. */
#include "serve/edge_config.h"
#include "serve/edge_iq.h"
#include "serve/edge_outbox.h"
#include "serve/edge_recent.h"
#include "serve/fileio.h"
#include "serve/server_impl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define RECENT_CAPACITY 16384
#define METADATA_MAX 1024 /* bytes of metadata JSON, as the original */
#define QUERY_BUF 2048

/* A rate-limit slot: the last escalation of one detector, process-wide. */
typedef struct rate_slot {
    char id[EDGE_ID_MAX];
    uint64_t last_ns;
} rate_slot;

struct edge_state {
    edge_config *cfg; /* the active config (loop thread swaps it) */
    char *config_path;
    struct stat config_st; /* of the file last read */
    uint64_t next_config_check, next_model_check;
    edge_recent *recent;
    edge_outbox *outbox; /* NULL until a state folder is needed */
    char started_at[40];
    pthread_mutex_t rate_mu;
    rate_slot *rates;
    int n_rates, cap_rates;
    uint64_t cpu_prev[2]; /* /proc/stat busy, total at the last resources call */
    /* counters */
    metrics_counter iqs, confident, escalated_unconfident, escalated_audit, escalated_async,
        escalated_not_ready, rate_limited, duplicates, config_reloads, config_errors;
};

typedef enum { HR_DEFAULT, HR_ALWAYS, HR_NEVER } human_review;

struct edge_req {
    edge_state *es;
    edge_detector det; /* copies taken at admission */
    edge_preset preset;
    char iq_id[64], request_id[80], created_at[40], inspection_id[80];
    int client_id; /* iq_id came from the client: remember it durably */
    double threshold, patience, audit_rate, box_score, min_gap_s;
    human_review hr;
    int want_async, can_escalate;
    char token[EDGE_TEXT_MAX]; /* for the upstream */
    char content_type[80];
    json_t *metadata;    /* the client's metadata object (owned) or NULL */
    json_t *iq;          /* the image query as stored */
    json_t *edge_result; /* the local result, for the escalation's metadata */
    const char *escalate; /* why it escalates (NULL: it does not) */
};

void edge_req_free(edge_req *e)
{
    if (!e) return;
    json_decref(e->metadata);
    json_decref(e->iq);
    json_decref(e->edge_result);
    free(e);
}

static double rand01(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r) r = (uint32_t)serve_now_ns();
    return (double)r / 4294967296.0;
}

/* ---- answers ---- */

/* {"detail": msg} with `status` on the loop. */
static void respond_detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void respond_detail(server *s, h2o_req_t *req, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    serve_respond_errorv(s, req, status, "detail", fmt, ap);
    va_end(ap);
}

/* Sets r's answer to {"detail": msg} (any thread). */
static void set_detail(sreq *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(sreq *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    sreq_set_errorv(r, status, "detail", fmt, ap);
    va_end(ap);
}

static char *dump(const json_t *j)
{
    return j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;
}

/* Stores e->iq in the recent table and answers it (any thread). An async
 * request is answered with result null: its answer is read with GET. */
static void finish_iq(sreq *r)
{
    edge_req *e = r->edge;
    char *stored = dump(e->iq);
    if (!stored) {
        set_detail(r, 500, "out of memory");
        serve_finish(r);
        return;
    }
    edge_recent_put(e->es->recent, e->iq_id, e->request_id, stored);
    if (e->want_async && !json_is_null(json_object_get(e->iq, "result"))) {
        json_t *reply = json_deep_copy(e->iq);
        json_object_set_new(reply, "result", json_null());
        json_object_set_new(reply, "rois", json_null());
        json_object_set_new(reply, "done_processing", json_false());
        free(stored);
        stored = dump(reply);
        json_decref(reply);
    }
    free(r->resp);
    r->resp = stored;
    r->resp_len = stored ? strlen(stored) : 0;
    r->status = stored ? 200 : 500;
    serve_finish(r);
}

/* The metadata of an answer: the client's object plus is_from_edge. */
static json_t *iq_metadata(const edge_req *e, int from_edge)
{
    json_t *m = e->metadata ? json_deep_copy(e->metadata) : json_object();
    if (m && from_edge) json_object_set_new(m, "is_from_edge", json_true());
    return m;
}

static json_t *make_iq(const edge_req *e, json_t *result, json_t *rois, int done, int from_edge)
{
    json_t *meta = iq_metadata(e, from_edge);
    edge_iq q = {e->iq_id, e->created_at, &e->det, e->threshold, e->patience, result, rois,
                 meta,     done};
    json_t *j = edge_iq_json(&q);
    json_decref(meta);
    return j;
}

/* ---- escalation ---- */

static void b64url(const uint8_t *in, size_t n, char *out, size_t cap)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n && o + 5 < cap; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

/* Decodes base64url (padding optional) into out; length or -1. */
static long b64url_decode(const char *in, uint8_t *out, size_t cap)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p && *p != '='; p++) {
        int v = *p >= 'A' && *p <= 'Z'   ? *p - 'A'
                : *p >= 'a' && *p <= 'z' ? *p - 'a' + 26
                : *p >= '0' && *p <= '9' ? *p - '0' + 52
                : *p == '-' || *p == '+' ? 62
                : *p == '_' || *p == '/' ? 63
                                         : -1;
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        if ((bits += 6) >= 8) {
            bits -= 8;
            if (o == cap) return -1;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)o;
}

/* The escalation's metadata parameter: {"edge_result": result with its
 * rois (dropped first when over 1024 bytes), "is_edge_audit": true}. */
static void escalation_metadata(const edge_req *e, char *out, size_t cap)
{
    out[0] = 0;
    json_t *m = json_object();
    if (!m) return;
    if (e->edge_result) {
        json_t *r = json_deep_copy(e->edge_result);
        json_t *rois = json_object_get(e->iq, "rois");
        if (r && json_is_array(rois)) json_object_set(r, "rois", rois);
        json_object_set_new(m, "edge_result", r);
    }
    if (e->escalate && !strcmp(e->escalate, "audit")) json_object_set_new(m, "is_edge_audit", json_true());
    char *s = dump(m);
    if (s && strlen(s) > METADATA_MAX) {
        json_object_del(json_object_get(m, "edge_result"), "rois");
        free(s);
        s = dump(m);
    }
    if (s && strlen(s) > METADATA_MAX) {
        json_object_del(m, "edge_result");
        free(s);
        s = dump(m);
    }
    if (s) b64url((const uint8_t *)s, strlen(s), out, cap);
    free(s);
    json_decref(m);
}

/* The upstream POST's query string. */
static void escalation_query(const edge_req *e, char *q, size_t cap)
{
    char meta[QUERY_BUF];
    escalation_metadata(e, meta, sizeof meta);
    size_t n = (size_t)snprintf(q, cap,
                                "detector_id=%s&want_async=True&image_query_id=%s"
                                "&patience_time=%g&confidence_threshold=%g",
                                e->det.id, e->iq_id, e->patience, e->threshold);
    if (e->hr != HR_DEFAULT && n < cap)
        n += (size_t)snprintf(q + n, cap - n, "&human_review=%s",
                              e->hr == HR_ALWAYS ? "ALWAYS" : "NEVER");
    if (e->inspection_id[0] && n < cap)
        n += (size_t)snprintf(q + n, cap - n, "&inspection_id=%s", e->inspection_id);
    if (meta[0] && n < cap) {
        n += (size_t)snprintf(q + n, cap - n, "&metadata=");
        for (const char *p = meta; *p && n + 4 < cap; p++) /* '=' padding percent-encoded */
            n += (size_t)(*p == '=' ? snprintf(q + n, cap - n, "%%3D")
                                    : snprintf(q + n, cap - n, "%c", *p));
    }
}

/* Commits r's escalation to the outbox; 0, or -1 with r's error answer set
 * (an audit that does not fit is dropped, counted, not an error). */
static int commit_escalation(sreq *r)
{
    edge_req *e = r->edge;
    char query[QUERY_BUF * 2], err[SERVE_ERR_MAX];
    escalation_query(e, query, sizeof query);
    char *iq = dump(e->iq);
    edge_escalation x = {e->iq_id,    e->request_id,    e->det.id,         query,
                         e->token,    r->body,          r->body_len,       e->content_type,
                         iq ? iq : "{}", e->threshold};
    edge_outbox_status st = edge_outbox_add(e->es->outbox, &x, err, sizeof err);
    free(iq);
    if (st == EDGE_OUTBOX_OK) return 0;
    if (!strcmp(e->escalate, "audit")) { /* the answer stands; the audit is skipped */
        fprintf(stderr, "glint serve: audit of %s skipped: %s\n", e->iq_id, err);
        json_object_set_new(e->iq, "done_processing", json_true());
        return 0;
    }
    set_detail(r, st == EDGE_OUTBOX_FULL ? 503 : 500, "%s", err);
    return -1;
}

/* workq job: the database writes of a request, then its answer. */
static void commit_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    edge_req *e = r->edge;
    if (e->escalate && commit_escalation(r)) {
        serve_finish(r);
        return;
    }
    if (e->client_id && e->es->outbox) {
        char err[SERVE_ERR_MAX];
        char *iq = dump(e->iq);
        if (!iq) snprintf(err, sizeof err, "out of memory");
        int rc = iq ? edge_outbox_remember(e->es->outbox, e->iq_id, e->request_id, iq, err,
                                           sizeof err)
                    : -1;
        free(iq);
        if (rc) {
            set_detail(r, 500, "%s", err);
            serve_finish(r);
            return;
        }
    }
    finish_iq(r);
}

/* Finishes r now or through a worker when it writes the database. */
static void commit_or_finish(sreq *r)
{
    edge_req *e = r->edge;
    if (e->escalate || (e->client_id && e->es->outbox)) {
        r->job.fn = commit_job;
        workq_push(r->srv->workers, &r->job);
        return;
    }
    finish_iq(r);
}

/* 1 if detector id may escalate now (min_time_between_escalations,
 * process-wide), and records it. Any thread. */
static int rate_allow(edge_state *es, const char *id, double gap_s)
{
    uint64_t now = serve_now_ns();
    pthread_mutex_lock(&es->rate_mu);
    rate_slot *slot = NULL;
    for (int i = 0; i < es->n_rates; i++)
        if (!strcasecmp(es->rates[i].id, id)) slot = &es->rates[i];
    if (!slot && es->n_rates == es->cap_rates) {
        int cap = es->cap_rates ? es->cap_rates * 2 : 16;
        rate_slot *n = realloc(es->rates, (size_t)cap * sizeof *n);
        if (n) es->rates = n, es->cap_rates = cap;
    }
    if (!slot && es->n_rates < es->cap_rates) {
        slot = &es->rates[es->n_rates++];
        snprintf(slot->id, sizeof slot->id, "%s", id);
        slot->last_ns = 0;
    }
    int ok = !slot || !slot->last_ns || now - slot->last_ns >= (uint64_t)(gap_s * 1e9);
    if (ok && slot) slot->last_ns = now;
    pthread_mutex_unlock(&es->rate_mu);
    return ok;
}

/* ---- image queries ---- */

void edge_items_done(sreq *r)
{
    edge_req *e = r->edge;
    edge_state *es = e->es;
    sitem *it = &r->items[0];
    if (it->status != 200) {
        set_detail(r, it->status, "%s", it->err);
        serve_finish(r);
        return;
    }
    json_t *result, *rois;
    double conf;
    char err[SERVE_ERR_MAX];
    if (edge_result_from_answer(&e->det, e->box_score, it->answer, &result, &rois, &conf, err,
                                sizeof err)) {
        set_detail(r, 500, "detector %s: %s", e->det.id, err);
        serve_finish(r);
        return;
    }
    int confident = conf >= e->threshold;
    metrics_counter_inc(&es->iqs);
    if (confident) metrics_counter_inc(&es->confident);
    if (e->can_escalate && (e->want_async || e->hr == HR_ALWAYS)) {
        e->escalate = "direct"; /* the upstream answers; the local result stands meanwhile */
    } else if (e->can_escalate && e->hr != HR_NEVER) {
        if (confident) {
            if (rand01() < e->audit_rate) e->escalate = "audit";
        } else if (!e->preset.always_return || rate_allow(es, e->det.id, e->min_gap_s)) {
            e->escalate = "unconfident";
        } else {
            metrics_counter_inc(&es->rate_limited);
        }
    }
    if (e->escalate)
        metrics_counter_inc(!strcmp(e->escalate, "audit")    ? &es->escalated_audit
                            : !strcmp(e->escalate, "direct") ? &es->escalated_async
                                                             : &es->escalated_unconfident);
    int done = !e->escalate || !strcmp(e->escalate, "audit");
    e->iq = make_iq(e, result, rois, done, 1);
    e->edge_result = result;
    json_decref(rois);
    if (!e->iq) {
        set_detail(r, 500, "out of memory");
        serve_finish(r);
        return;
    }
    commit_or_finish(r);
}

/* Parses the query parameters into e; 0 or -1 (answered). Loop thread. */
static int read_iq_params(server *s, h2o_req_t *req, edge_req *e, char *det_id, size_t det_size)
{
    char b[QUERY_BUF];
    const char *v;
    if (!(v = serve_query(req, "detector_id", det_id, det_size)) || !v[0]) {
        respond_detail(s, req, 422, "query parameter detector_id is required");
        return -1;
    }
    e->threshold = -1;
    static const struct {
        const char *name;
        double lo, hi;
    } nums[] = {{"confidence_threshold", 0, 1}, {"patience_time", 0, 3600}};
    double *dst[] = {&e->threshold, &e->patience};
    for (int i = 0; i < 2; i++) {
        if (!(v = serve_query(req, nums[i].name, b, sizeof b))) continue;
        char *end;
        errno = 0;
        double x = strtod(v, &end);
        if (!*v || *end || errno || !(x >= nums[i].lo && x <= nums[i].hi)) {
            respond_detail(s, req, 422, "%s must be a number in [%g, %g], got '%.40s'",
                           nums[i].name, nums[i].lo, nums[i].hi, v);
            return -1;
        }
        *dst[i] = x;
    }
    if ((v = serve_query(req, "human_review", b, sizeof b))) {
        if (!strcasecmp(v, "ALWAYS")) e->hr = HR_ALWAYS;
        else if (!strcasecmp(v, "NEVER")) e->hr = HR_NEVER;
        else if (strcasecmp(v, "DEFAULT")) {
            respond_detail(s, req, 422, "human_review must be DEFAULT, ALWAYS or NEVER, got '%.40s'",
                           v);
            return -1;
        }
    }
    if ((v = serve_query(req, "want_async", b, sizeof b))) {
        if (!strcasecmp(v, "true") || !strcmp(v, "1")) e->want_async = 1;
        else if (strcasecmp(v, "false") && strcmp(v, "0")) {
            respond_detail(s, req, 422, "want_async must be True or False, got '%.40s'", v);
            return -1;
        }
    }
    if ((v = serve_query(req, "metadata", b, sizeof b))) {
        uint8_t raw[METADATA_MAX + 4];
        long n = b64url_decode(v, raw, sizeof raw);
        json_t *m = n >= 0 && n <= METADATA_MAX ? json_loadb((const char *)raw, (size_t)n, 0, NULL)
                                                : NULL;
        if (!json_is_object(m)) {
            json_decref(m);
            respond_detail(s, req, 422,
                           "metadata must be URL-safe base64 of a JSON object of at most %d bytes",
                           METADATA_MAX);
            return -1;
        }
        e->metadata = m;
    }
    if ((v = serve_query(req, "image_query_id", b, sizeof b))) {
        if (!edge_iq_id_valid(v)) {
            respond_detail(s, req, 422, "image_query_id must be iq_ and up to 60 letters, digits "
                                        "or '_', got '%.64s'", v);
            return -1;
        }
        snprintf(e->iq_id, sizeof e->iq_id, "%s", v);
        e->client_id = 1;
    }
    if ((v = serve_query(req, "inspection_id", b, sizeof b))) {
        if (strlen(v) >= sizeof e->inspection_id || strspn(v, "abcdefghijklmnopqrstuvwxyz"
                                                               "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                               "0123456789_-") != strlen(v)) {
            respond_detail(s, req, 422, "inspection_id must be letters, digits, '_' or '-'");
            return -1;
        }
        snprintf(e->inspection_id, sizeof e->inspection_id, "%s", v);
    }
    return 0;
}

/* Answers a stored image query again (a retried request). Loop thread. */
static int answer_stored(server *s, h2o_req_t *req, char *json)
{
    if (!json) return 0;
    metrics_counter_inc(&s->edge->duplicates);
    serve_respond(req, 200, "application/json", json, strlen(json));
    free(json);
    return 1;
}

static char *find_iq(edge_state *es, const char *id)
{
    char *j = edge_recent_get(es->recent, id);
    return j || !es->outbox ? j : edge_outbox_lookup(es->outbox, id);
}

static int model_fits(const repo_model *m, edge_mode mode)
{
    if (mode == EDGE_MODE_MULTI_CLASS) return m->conf.task == MODEL_TASK_CLASSIFY;
    if (mode == EDGE_MODE_BOUNDING_BOX) return m->conf.task == MODEL_TASK_DETECT;
    return 1;
}

/* The detector's model, ready and fit for its mode (a reference), or NULL
 * with the reason. Loop thread. */
static repo_model *detector_model(server *s, const edge_detector *d, const edge_preset *p,
                                  char *why, size_t size)
{
    if (!p->enabled) {
        snprintf(why, size, "edge inference is disabled for detector %s (preset %s)", d->id,
                 p->name);
        return NULL;
    }
    if (!d->model[0]) {
        snprintf(why, size, "detector %s has no model on this edge endpoint", d->id);
        return NULL;
    }
    repo_model *m = repo_get(s, d->model, strlen(d->model));
    if (!m) {
        snprintf(why, size, "detector %s: model %s is not ready", d->id, d->model);
        return NULL;
    }
    if (!model_fits(m, d->mode)) {
        snprintf(why, size, "detector %s: mode %s needs a %s model, %s is a %s model", d->id,
                 edge_mode_name(d->mode), d->mode == EDGE_MODE_MULTI_CLASS ? "classify" : "detect",
                 d->model, model_task_name(m->conf.task));
        repo_model_release(m);
        return NULL;
    }
    return m;
}

/* A request with its image copied in, no inference yet. */
static sreq *edge_sreq(server *s, h2o_req_t *req, repo_model *m, edge_req *e)
{
    sreq *r = sreq_create(s, req, m, SREQ_EDGE);
    if (!r) return NULL;
    r->edge = e;
    r->body = malloc(req->entity.len);
    if (!r->body) {
        r->edge = NULL;
        r->rm = NULL;
        sreq_destroy(r);
        return NULL;
    }
    memcpy(r->body, req->entity.base, req->entity.len);
    r->body_len = req->entity.len;
    return r;
}

/* Sends the image upstream without a local answer (no ready model here).
 * Loop thread; the commit runs on a worker. */
static void escalate_only(server *s, h2o_req_t *req, edge_req *e, const char *why)
{
    e->escalate = why;
    e->iq = make_iq(e, NULL, NULL, 0, 0);
    sreq *r = e->iq ? edge_sreq(s, req, NULL, e) : NULL;
    if (!r) {
        edge_req_free(e);
        respond_detail(s, req, 500, "out of memory");
        return;
    }
    metrics_counter_inc(!strcmp(why, "not_ready") ? &s->edge->escalated_not_ready
                                                   : &s->edge->escalated_async);
    serve_track(s, r);
    r->job.fn = commit_job;
    workq_push(s->workers, &r->job);
}

/* Runs the detector's model on the image. Loop thread; takes m. */
static void infer_local(server *s, h2o_req_t *req, repo_model *m, edge_req *e)
{
    e->box_score = e->det.box_score >= 0 ? e->det.box_score : m->conf.detect.score_threshold;
    sreq *r = edge_sreq(s, req, m, e);
    if (!r) {
        edge_req_free(e);
        repo_model_release(m);
        respond_detail(s, req, 500, "out of memory");
        return;
    }
    r->params = answer_params_of(&m->conf);
    /* boxes below box_score still lower the confidence: ask for them */
    r->params.detect.score_threshold = (float)fmin(0.05, e->box_score);
    r->params.top_k = 1;
    r->deadline_ns = r->t_start + (uint64_t)m->timeout_ms * 1000000u;
    if (atomic_fetch_add(&m->pending, 1) + 1 > m->max_queue) {
        atomic_fetch_sub(&m->pending, 1);
        atomic_fetch_add(&m->stats.fail_count, 1);
        atomic_fetch_add(&m->stats.fail_by[FAIL_REJECTED], 1);
        respond_detail(s, req, 503, "model %s: queue full (%d images waiting)", m->name,
                       m->max_queue);
        sreq_destroy(r);
        return;
    }
    r->items = calloc(1, sizeof *r->items);
    if (!r->items) {
        atomic_fetch_sub(&m->pending, 1);
        respond_detail(s, req, 500, "out of memory");
        sreq_destroy(r);
        return;
    }
    r->n_items = 1;
    atomic_init(&r->left, 1);
    r->items[0].owner = r;
    r->items[0].data = r->body;
    r->items[0].size = r->body_len;
    serve_track(s, r);
    pipeline_submit_images(r);
}

static void post_image_query(server *s, h2o_req_t *req)
{
    edge_state *es = s->edge;
    char ct[128], det_id[128], rid[96];
    const char *t = serve_header(req, "content-type", ct, sizeof ct);
    if (!t || strncasecmp(t, "image/", 6)) {
        respond_detail(s, req, 415, "Request body must be image bytes");
        return;
    }
    if (!req->entity.len) {
        respond_detail(s, req, 400, "the image is empty (0 bytes)");
        return;
    }
    if (s->draining) {
        respond_detail(s, req, 503, "the server is shutting down");
        return;
    }
    edge_req *e = calloc(1, sizeof *e);
    if (!e) {
        respond_detail(s, req, 500, "out of memory");
        return;
    }
    e->es = es;
    e->patience = -1;
    snprintf(e->content_type, sizeof e->content_type, "%s", ct);
    if (read_iq_params(s, req, e, det_id, sizeof det_id)) goto fail;
    const char *h = serve_header(req, "x-request-id", rid, sizeof rid);
    if (h && strlen(h) < sizeof e->request_id) snprintf(e->request_id, sizeof e->request_id, "%s", h);
    /* a client's retry, or an escalation the upstream already has */
    char *seen = edge_recent_get_by_request(es->recent, e->request_id);
    if (!seen && es->outbox) seen = edge_outbox_lookup_request(es->outbox, e->request_id);
    if (!seen && e->client_id) seen = find_iq(es, e->iq_id);
    if (answer_stored(s, req, seen)) goto fail;
    const edge_detector *d = edge_config_detector(es->cfg, det_id);
    if (!d) {
        respond_detail(s, req, 404, "detector %.64s is not configured on this edge endpoint",
                       det_id);
        goto fail;
    }
    e->det = *d;
    e->preset = es->cfg->presets[d->preset];
    if (e->threshold < 0) e->threshold = d->confidence_threshold;
    if (e->patience < 0) e->patience = d->patience_time;
    e->audit_rate = es->cfg->confident_audit_rate;
    e->min_gap_s = e->preset.min_time_between_escalations;
    snprintf(e->token, sizeof e->token, "%s",
             e->preset.api_token[0] ? e->preset.api_token : es->cfg->upstream_token);
    e->can_escalate = es->cfg->upstream[0] && es->outbox && !e->preset.disable_escalation;
    if (e->preset.always_return && (e->hr == HR_ALWAYS || e->want_async)) {
        respond_detail(s, req, 400, "%s cannot be combined with detector %s's preset %s "
                                    "(always_return_edge_prediction)",
                       e->want_async ? "want_async" : "human_review=ALWAYS", d->id,
                       e->preset.name);
        goto fail;
    }
    if (!e->client_id) edge_new_id("iq_", e->iq_id);
    edge_now_iso(e->created_at, sizeof e->created_at);
    char why[SERVE_ERR_MAX];
    repo_model *m = detector_model(s, d, &e->preset, why, sizeof why);
    if (!m) {
        if (e->can_escalate && !e->preset.always_return) {
            escalate_only(s, req, e, e->want_async || e->hr == HR_ALWAYS ? "direct" : "not_ready");
            return;
        }
        respond_detail(s, req, 503, "%s", why);
        goto fail;
    }
    infer_local(s, req, m, e);
    return;
fail:
    edge_req_free(e);
}

static void get_image_query(server *s, h2o_req_t *req, const char *id, size_t len)
{
    char key[80];
    if (len >= sizeof key) {
        respond_detail(s, req, 404, "no image query %.64s", id);
        return;
    }
    memcpy(key, id, len);
    key[len] = 0;
    char *j = find_iq(s->edge, key);
    if (!j) {
        respond_detail(s, req, 404, "no image query %s on this edge endpoint", key);
        return;
    }
    serve_respond(req, 200, "application/json", j, strlen(j));
    free(j);
}

/* ---- config ---- */

/* Checks a config against the repository; 0 or -1 with err. */
static int config_fits_repo(server *s, const edge_config *c, char *err, size_t err_size)
{
    for (int i = 0; i < c->n_detectors; i++) {
        const edge_detector *d = &c->detectors[i];
        if (d->model[0] && !repo_find(s, d->model, strlen(d->model))) {
            snprintf(err, err_size, "detectors[%d].model: no model '%s' in the repository %s", i,
                     d->model, s->opt.models_dir);
            return -1;
        }
    }
    return 0;
}

static int open_outbox(server *s, char *err, size_t err_size)
{
    edge_state *es = s->edge;
    if (es->outbox) return 0;
    es->outbox = edge_outbox_open(s->opt.state_dir, es->recent, err, err_size);
    return es->outbox ? 0 : -1;
}

/* Makes c the active config (takes the reference). Loop thread. */
static void install_config(server *s, edge_config *c)
{
    edge_state *es = s->edge;
    char err[SERVE_ERR_MAX];
    if (c->upstream[0] && open_outbox(s, err, sizeof err))
        fprintf(stderr, "glint serve: edge: escalations are off: %s\n", err);
    if (es->outbox)
        edge_outbox_configure(es->outbox, c->upstream, c->upstream_token, c->outbox_max_pending,
                              c->outbox_retention_s);
    for (int i = 0; i < c->n_detectors; i++) { /* models detectors name are loaded */
        repo_entry *e = repo_find(s, c->detectors[i].model, strlen(c->detectors[i].model));
        if (e && e->state == ENTRY_UNAVAILABLE && !e->reloading) repo_reload(s, e);
    }
    edge_config_release(es->cfg);
    es->cfg = c;
    metrics_counter_inc(&es->config_reloads);
}

/* Reads the config file: a new config (one reference) or NULL with err. */
static edge_config *read_config(server *s, const char *path, char *err, size_t err_size)
{
    size_t len;
    char *text = fileio_read(path, EDGE_CONFIG_MAX_BYTES, &len);
    if (!text) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    char msg[SERVE_ERR_MAX];
    edge_config *c = edge_config_parse(text, len, msg, sizeof msg);
    free(text);
    if (c && config_fits_repo(s, c, msg, sizeof msg)) {
        edge_config_release(c);
        c = NULL;
    }
    if (!c) snprintf(err, err_size, "%s: %s", path, msg);
    return c;
}

/* Writes the document to the config file (atomically), so that a restart
 * keeps what PUT said. JSON is YAML. */
static void persist_config(server *s, const json_t *doc)
{
    edge_state *es = s->edge;
    if (!es->config_path) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", es->config_path);
    if (json_dump_file(doc, tmp, JSON_INDENT(2)) || rename(tmp, es->config_path)) {
        fprintf(stderr, "glint serve: edge config %s not saved: %s\n", es->config_path,
                strerror(errno));
        return;
    }
    stat(es->config_path, &es->config_st); /* ours: not a change to pick up */
}

static void put_config(server *s, h2o_req_t *req)
{
    json_error_t je;
    json_t *doc = json_loadb(req->entity.base, req->entity.len, 0, &je);
    char err[SERVE_ERR_MAX];
    if (!doc) {
        respond_detail(s, req, 400, "body is not JSON: %s (line %d)", je.text, je.line);
        return;
    }
    edge_config *c = edge_config_from_json(doc, err, sizeof err);
    if (c && config_fits_repo(s, c, err, sizeof err)) {
        edge_config_release(c);
        c = NULL;
    }
    if (!c) {
        json_decref(doc);
        metrics_counter_inc(&s->edge->config_errors);
        metrics_counter_inc(&s->http_errors_4xx);
        char field[128] = "";
        const char *colon = strchr(err, ':');
        snprintf(field, sizeof field, "%.*s", colon ? (int)(colon - err) : 0, err);
        serve_respond_json(req, 422,
                           json_pack("{s:[{s:s, s:o, s:s}]}", "detail", "loc", field, "msg",
                                     answer_text(err), "type", "value_error"));
        return;
    }
    install_config(s, c);
    persist_config(s, doc);
    json_decref(doc);
    fprintf(stderr, "glint serve: edge config replaced by PUT /edge-config (%d detector(s))\n",
            c->n_detectors);
    serve_respond_json(req, 200, json_incref(c->doc));
}

/* ---- readiness, resources ---- */

static int detector_ready(server *s, const edge_detector *d, const edge_preset *p)
{
    char why[SERVE_ERR_MAX];
    repo_model *m = detector_model(s, d, p, why, sizeof why);
    repo_model_release(m);
    return m != NULL;
}

static void readiness(server *s, h2o_req_t *req)
{
    const edge_config *c = s->edge->cfg;
    json_t *o = json_object();
    for (int i = 0; o && i < c->n_detectors; i++)
        json_object_set_new(
            o, c->detectors[i].id,
            json_pack("{s:b}", "ready",
                      detector_ready(s, &c->detectors[i], &c->presets[c->detectors[i].preset])));
    serve_respond_json(req, 200, o);
}

static void health_ready(server *s, h2o_req_t *req)
{
    const edge_config *c = s->edge->cfg;
    for (int i = 0; i < c->n_detectors; i++) {
        const edge_detector *d = &c->detectors[i];
        const edge_preset *p = &c->presets[d->preset];
        if (p->enabled && d->model[0] && !detector_ready(s, d, p)) {
            serve_respond(req, 503, "application/json", "{\"detail\":\"not ready\"}", 23);
            return;
        }
    }
    serve_respond(req, 200, "application/json", "{\"status\":\"ready\"}", 18);
}

/* Busy and total jiffies of all CPUs (/proc/stat); 0 on success. */
static int cpu_jiffies(uint64_t *busy, uint64_t *total)
{
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 4) return -1;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += v[i];
    *busy = *total - v[3] - v[4]; /* minus idle and iowait */
    return 0;
}

static long long meminfo(const char *key)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    size_t n = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, n) && line[n] == ':') {
            kb = strtoll(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static void resources(server *s, h2o_req_t *req)
{
    edge_state *es = s->edge;
    uint64_t busy = 0, total = 0;
    double pct = 0;
    if (!cpu_jiffies(&busy, &total)) {
        uint64_t db = busy - es->cpu_prev[0], dt = total - es->cpu_prev[1];
        pct = dt ? 100.0 * (double)db / (double)dt : 0;
        es->cpu_prev[0] = busy;
        es->cpu_prev[1] = total;
    }
    long long mt = meminfo("MemTotal"), ma = meminfo("MemAvailable");
    serve_respond_json(
        req, 200,
        json_pack("{s:{s:{s:f}, s:{s:I, s:I}, s:{s:{s:f}, s:{s:I, s:I}}}}", "system",
                  "cpu_utilization_pct", "total", round(pct * 100) / 100, "ram_bytes", "total",
                  (json_int_t)mt, "used", (json_int_t)(mt >= 0 && ma >= 0 ? mt - ma : -1), "gpu",
                  "compute_utilization_pct", "total", 0.0, "vram_bytes", "total", (json_int_t)0,
                  "used", (json_int_t)0));
}

/* ---- routing ---- */

static int is(const char *p, size_t n, const char *lit)
{
    return strlen(lit) == n && !memcmp(p, lit, n);
}

static int starts(const char *p, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n > l && !memcmp(p, lit, l);
}

static void device_api(server *s, h2o_req_t *req, const char *p, size_t n, int get, int post)
{
    edge_state *es = s->edge;
    if (is(p, n, "/v1/image-queries")) {
        if (post)
            post_image_query(s, req);
        else
            respond_detail(s, req, 405, "use POST with image bytes");
        return;
    }
    if (!get) {
        respond_detail(s, req, 405, "use GET");
        return;
    }
    if (starts(p, n, "/v1/image-queries/")) {
        get_image_query(s, req, p + 18, n - 18);
    } else if (starts(p, n, "/v1/detectors/")) {
        char id[80];
        snprintf(id, sizeof id, "%.*s", (int)(n - 14 < 79 ? n - 14 : 79), p + 14);
        const edge_detector *d = edge_config_detector(es->cfg, id);
        if (d)
            serve_respond_json(req, 200, edge_detector_json(d, es->started_at));
        else
            respond_detail(s, req, 404, "detector %s is not configured on this edge endpoint", id);
    } else if (is(p, n, "/v1/me")) {
        serve_respond_json(req, 200,
                           json_pack("{s:s, s:s, s:b, s:b, s:s}", "email", "edge@glint.local",
                                     "username", "glint-edge", "is_superuser", 0, "is_staff", 0,
                                     "id", "usr_glintedge"));
    } else if (starts(p, n, "/v1/api-tokens/by-snippet/")) {
        respond_detail(s, req, 404, "Not found.");
    } else {
        respond_detail(s, req, 404, "no such route: /device-api%.*s", (int)(n < 200 ? n : 200), p);
    }
}

int route_edge(server *s, h2o_req_t *req, const char *p, size_t n)
{
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    int put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
    if (starts(p, n, "/device-api/")) {
        device_api(s, req, p + 11, n - 11, get, post);
        return 0;
    }
    if (is(p, n, "/edge-config")) {
        if (put)
            put_config(s, req);
        else if (get)
            serve_respond_json(req, 200, json_incref(s->edge->cfg->doc));
        else
            respond_detail(s, req, 405, "use GET or PUT");
        return 0;
    }
    static const char *const gets[] = {"/edge-detector-readiness", "/health/live", "/health/ready",
                                       "/ping", "/status/resources.json"};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (is(p, n, gets[i])) k = i;
    if (k < 0) return -1;
    if (!get) {
        respond_detail(s, req, 405, "use GET");
        return 0;
    }
    switch (k) {
    case 0: readiness(s, req); break;
    case 1: serve_respond(req, 200, "application/json", "{\"status\":\"alive\"}", 18); break;
    case 2: health_ready(s, req); break;
    case 3: serve_respond(req, 200, "application/json", "{\"message\":\"Hello!\"}", 20); break;
    default: resources(s, req);
    }
    return 0;
}

/* ---- life cycle ---- */

int edge_start(server *s, char *err, size_t err_size)
{
    edge_state *es = calloc(1, sizeof *es);
    if (!es || !(es->recent = edge_recent_create(RECENT_CAPACITY))) {
        free(es);
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    s->edge = es;
    pthread_mutex_init(&es->rate_mu, NULL);
    edge_now_iso(es->started_at, sizeof es->started_at);
    cpu_jiffies(&es->cpu_prev[0], &es->cpu_prev[1]);
    edge_config *c;
    if (s->opt.edge_config) {
        if (!(es->config_path = strdup(s->opt.edge_config))) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        stat(es->config_path, &es->config_st);
        if (!(c = read_config(s, es->config_path, err, err_size))) return -1;
        /* the state folder holds the ids of image queries named by clients */
        if (open_outbox(s, err, err_size)) return -1;
    } else if (!(c = edge_config_default())) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    install_config(s, c);
    uint64_t now = serve_now_ns();
    es->next_config_check = now + 1000000000u;
    es->next_model_check = now + (uint64_t)(c->refresh_rate * 1e9);
    if (c->n_detectors)
        fprintf(stderr, "glint serve: edge: %d detector(s)%s%s\n", c->n_detectors,
                c->upstream[0] ? ", escalating to " : ", no upstream", c->upstream);
    return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_size == b->st_size && a->st_ino == b->st_ino;
}

static void check_config_file(server *s)
{
    edge_state *es = s->edge;
    struct stat st;
    if (!es->config_path || stat(es->config_path, &st) || same_file(&st, &es->config_st)) return;
    es->config_st = st;
    char err[SERVE_ERR_MAX];
    edge_config *c = read_config(s, es->config_path, err, sizeof err);
    if (!c) {
        metrics_counter_inc(&es->config_errors);
        fprintf(stderr, "glint serve: edge config not reloaded, the previous one stays: %s\n",
                err);
        return;
    }
    install_config(s, c);
    fprintf(stderr, "glint serve: edge config %s reloaded (%d detector(s))\n", es->config_path,
            c->n_detectors);
}

static void check_models(server *s)
{
    for (int i = 0; i < s->n_entries; i++) {
        repo_entry *e = &s->entries[i];
        if (e->state != ENTRY_READY || e->reloading) continue;
        uint64_t sig = repo_file_sig(s, e->name);
        if (sig != e->model->file_sig && sig != e->failed_sig) repo_reload(s, e);
    }
}

void edge_tick(server *s)
{
    edge_state *es = s->edge;
    if (!es) return;
    uint64_t now = serve_now_ns();
    if (now >= es->next_config_check) {
        es->next_config_check = now + 1000000000u;
        check_config_file(s);
    }
    if (now >= es->next_model_check) {
        es->next_model_check = now + (uint64_t)(es->cfg->refresh_rate * 1e9);
        check_models(s);
    }
}

void edge_stop(server *s)
{
    edge_state *es = s->edge;
    if (!es) return;
    edge_outbox_close(es->outbox);
    edge_recent_destroy(es->recent);
    edge_config_release(es->cfg);
    pthread_mutex_destroy(&es->rate_mu);
    free(es->rates);
    free(es->config_path);
    free(es);
    s->edge = NULL;
}

/* ---- /health and metrics ---- */

json_t *edge_health(server *s)
{
    edge_state *es = s->edge;
    if (!es) return json_null();
    const edge_config *c = es->cfg;
    int ready = 0;
    for (int i = 0; i < c->n_detectors; i++)
        ready += detector_ready(s, &c->detectors[i], &c->presets[c->detectors[i].preset]);
    edge_outbox_stats os = {0};
    if (es->outbox) edge_outbox_stats_read(es->outbox, &os);
    return json_pack("{s:s?, s:i, s:i, s:s?, s:b, s:I, s:I, s:I}", "config", es->config_path,
                     "detectors", c->n_detectors, "detectors_ready", ready, "upstream",
                     c->upstream[0] ? c->upstream : NULL, "outbox", es->outbox != NULL,
                     "outbox_depth", (json_int_t)os.pending, "outbox_awaiting_answer",
                     (json_int_t)os.awaiting, "outbox_failed", (json_int_t)os.failed);
}


void edge_metrics(server *s, strbuf *sb)
{
    edge_state *es = s->edge;
    if (!es) return;
    edge_outbox_stats os = {0};
    if (es->outbox) edge_outbox_stats_read(es->outbox, &os);
    uint64_t load_failures = 0;
    for (int i = 0; i < s->n_entries; i++)
        load_failures += s->entries[i].load_failures;
    const struct {
        const char *name, *help;
        metrics_type type;
        double v;
    } g[] = {
        {"glint_edge_image_queries_total", "Image queries answered by a local model",
         METRICS_COUNTER, (double)metrics_counter_get(&es->iqs)},
        {"glint_edge_confident_total", "Local answers at or above their confidence threshold",
         METRICS_COUNTER, (double)metrics_counter_get(&es->confident)},
        {"glint_edge_escalations_unconfident_total", "Unconfident answers escalated",
         METRICS_COUNTER, (double)metrics_counter_get(&es->escalated_unconfident)},
        {"glint_edge_escalations_audit_total", "Confident answers escalated for audit",
         METRICS_COUNTER, (double)metrics_counter_get(&es->escalated_audit)},
        {"glint_edge_escalations_direct_total",
         "Image queries sent upstream without a local answer (async, human review)",
         METRICS_COUNTER, (double)metrics_counter_get(&es->escalated_async)},
        {"glint_edge_escalations_not_ready_total", "Image queries escalated: no ready model",
         METRICS_COUNTER, (double)metrics_counter_get(&es->escalated_not_ready)},
        {"glint_edge_escalations_rate_limited_total",
         "Unconfident answers not escalated (min_time_between_escalations)", METRICS_COUNTER,
         (double)metrics_counter_get(&es->rate_limited)},
        {"glint_edge_duplicates_total", "Repeated requests answered from the stored query",
         METRICS_COUNTER, (double)metrics_counter_get(&es->duplicates)},
        {"glint_edge_config_reloads_total", "Edge configs installed", METRICS_COUNTER,
         (double)metrics_counter_get(&es->config_reloads)},
        {"glint_edge_config_errors_total", "Edge configs refused", METRICS_COUNTER,
         (double)metrics_counter_get(&es->config_errors)},
        {"glint_edge_outbox_depth", "Escalations committed and not yet delivered", METRICS_GAUGE,
         (double)os.pending},
        {"glint_edge_outbox_awaiting_answer", "Delivered escalations whose answer is polled",
         METRICS_GAUGE, (double)os.awaiting},
        {"glint_edge_outbox_failed", "Escalations the upstream refused for good (kept)",
         METRICS_GAUGE, (double)os.failed},
        {"glint_edge_outbox_committed_total", "Escalations committed", METRICS_COUNTER,
         (double)os.committed},
        {"glint_edge_outbox_deliveries_total", "Escalations delivered", METRICS_COUNTER,
         (double)os.delivered},
        {"glint_edge_outbox_retries_total", "Delivery attempts that failed and will be retried",
         METRICS_COUNTER, (double)os.retries},
        {"glint_edge_outbox_failures_total", "Escalations refused for good by the upstream",
         METRICS_COUNTER, (double)os.failures},
        {"glint_edge_outbox_full_total", "Escalations refused because the outbox was full",
         METRICS_COUNTER, (double)os.rejected_full},
        {"glint_edge_upstream_answers_total", "Final upstream answers received", METRICS_COUNTER,
         (double)os.answers},
        {"glint_model_load_failures_total", "Model (re)loads that failed", METRICS_COUNTER,
         (double)load_failures},
    };
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        metrics_write_family(sb, g[i].name, g[i].type, g[i].help);
        metrics_write_double(sb, g[i].name, NULL, 0, g[i].v);
    }
}
