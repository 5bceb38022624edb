/* The Groundlight edge API (../docs/edge.md), answered locally:
 *   POST /device-api/v1/image-queries          an image -> an ImageQuery
 *   GET  /device-api/v1/image-queries/{id}     its latest state
 *   GET  /device-api/v1/detectors/{id}         the Detector
 *   GET  /device-api/v1/me, /v1/api-tokens/by-snippet/{s} (404)
 *   GET|PUT /edge-config, GET /edge-detector-readiness
 *   GET  /health/live, /health/ready, /ping, /status/resources.json
 *   GET  /edge-api/v1/fetch-model-urls/{id}/, /edge-api/v1/model-binaries/{sha256}.tar
 *        (glint as the upstream of other edge endpoints: edge_models.h)
 *   POST /edge-api/v1/detectors/{id}/rollback  the previous pulled version (edge_pull.h)
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
 * a config swap never changes a request under way.
 *
 * This file is the HTTP layer; the state, config and readiness are
 * edge_service.c's, the escalation rules edge_policy.c's. */
#include "serve/edge/edge_impl.h"

#include "serve/edge/edge_iq.h"
#include "serve/edge/edge_pull.h"
#include "serve/edge/edge_samples.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#define METADATA_MAX 1024 /* bytes of metadata JSON, as the original */
#define QUERY_BUF 2048

/* An image query's own state (request.h's proto, in the request's arena). */
typedef struct edge_req {
    edge_state *es;
    edge_detector det; /* copies taken at admission */
    edge_preset preset;
    answer_params params; /* what the local model is asked */
    char iq_id[64], request_id[80], created_at[40], inspection_id[80];
    int client_id; /* iq_id came from the client: remember it durably */
    double threshold, patience, audit_rate, box_score, min_gap_s;
    edge_review review;
    int want_async, can_escalate;
    char token[EDGE_TEXT_MAX]; /* for the upstream */
    char content_type[80];
    json_t *metadata;       /* the client's metadata object (owned) or NULL */
    json_t *iq;             /* the image query as stored */
    json_t *edge_result;    /* the local result, for the escalation's metadata */
    edge_decision decision; /* EDGE_KEEP: nothing goes up */
    repo_model *primary;    /* = the request's model (borrowed) */
    repo_model *oodd;       /* the out-of-domain model (a reference) or NULL */
    double p_out;           /* its answer: P(the picture is out of the domain) */
    int have_p_out;
    double raw_confidence; /* the primary's, before the OODD weighing */
    serve_image_done done; /* a picture from another module (a camera): its answer */
    void *done_arg;
} edge_req;

static void edge_req_dispose(sreq *r)
{
    edge_req *e = r->proto;
    json_decref(e->metadata);
    json_decref(e->iq);
    json_decref(e->edge_result);
    repo_model_release(e->oodd);
}

/* A model's version as the answer names it: a pulled version's number, else
 * "local" (a folder of the repository). */
static const char *model_version(const repo_model *m)
{
    const char *d = m->pkg.dir ? strrchr(m->pkg.dir, '/') : NULL;
    if (!d || !d[1] || strspn(d + 1, "0123456789") != strlen(d + 1)) return "local";
    return d + 1;
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
    edge_req *e = r->proto;
    char *stored = dump(e->iq);
    if (!stored) {
        set_detail(r, 500, "out of memory");
        sreq_finish(r);
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
    sreq_set_body(r, 200, stored);
    sreq_finish(r);
}

/* The metadata of an answer: the client's object plus is_from_edge. */
static json_t *iq_metadata(const edge_req *e, int from_edge)
{
    json_t *m = e->metadata ? json_deep_copy(e->metadata) : json_object();
    if (m && from_edge) json_object_set_new(m, "is_from_edge", json_true());
    if (m && from_edge && e->primary) { /* which models answered */
        json_t *mv = json_pack("{s:{s:s, s:s}}", "primary", "model", e->primary->name, "version",
                               model_version(e->primary));
        if (mv && e->oodd && e->have_p_out)
            json_object_set_new(mv, "oodd",
                                json_pack("{s:s, s:s, s:f, s:f}", "model", e->oodd->name, "version",
                                          model_version(e->oodd), "p_out", e->p_out,
                                          "raw_confidence", e->raw_confidence));
        json_object_set_new(m, "edge_models", mv);
    }
    return m;
}

static json_t *make_iq(const edge_req *e, json_t *result, json_t *rois, int done, int from_edge)
{
    json_t *meta = iq_metadata(e, from_edge);
    edge_iq q = {e->iq_id, e->created_at, &e->det, e->threshold, e->patience,
                 result,   rois,          meta,    done};
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
    if (e->decision == EDGE_AUDIT) json_object_set_new(m, "is_edge_audit", json_true());
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
    if (e->review != EDGE_REVIEW_DEFAULT && n < cap)
        n += (size_t)snprintf(q + n, cap - n, "&human_review=%s",
                              e->review == EDGE_REVIEW_ALWAYS ? "ALWAYS" : "NEVER");
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
    edge_req *e = r->proto;
    char query[QUERY_BUF * 2], err[SERVE_ERR_MAX];
    escalation_query(e, query, sizeof query);
    char *iq = dump(e->iq);
    edge_escalation x = {e->iq_id, e->request_id, e->det.id,       query,          e->token,
                         r->body,  r->body_len,   e->content_type, iq ? iq : "{}", e->threshold};
    serve_status st = edge_outbox_add(e->es->outbox, &x, err, sizeof err);
    free(iq);
    if (st == SERVE_OK) return 0;
    if (e->decision == EDGE_AUDIT) { /* the answer stands; the audit is skipped */
        fprintf(stderr, "glint serve: audit of %s skipped: %s\n", e->iq_id, err);
        json_object_set_new(e->iq, "done_processing", json_true());
        return 0;
    }
    set_detail(r, st == SERVE_ERR_FULL ? 503 : 500, "%s", err);
    return -1;
}

/* workq job: the database writes of a request, then its answer. */
static void commit_job(workq_job *job)
{
    sreq *r = H2O_STRUCT_FROM_MEMBER(sreq, job, job);
    edge_req *e = r->proto;
    if (edge_decision_escalates(e->decision) && commit_escalation(r)) {
        sreq_finish(r);
        return;
    }
    if (e->client_id && e->es->outbox) {
        char err[SERVE_ERR_MAX];
        char *iq = dump(e->iq);
        if (!iq) snprintf(err, sizeof err, "out of memory");
        int rc =
            iq ? edge_outbox_remember(e->es->outbox, e->iq_id, e->request_id, iq, err, sizeof err)
               : -1;
        free(iq);
        if (rc) {
            set_detail(r, 500, "%s", err);
            sreq_finish(r);
            return;
        }
    }
    finish_iq(r);
}

/* Finishes r now or through a worker when it writes the database. */
static void commit_or_finish(sreq *r)
{
    edge_req *e = r->proto;
    if (edge_decision_escalates(e->decision) || (e->client_id && e->es->outbox)) {
        r->job.fn = commit_job;
        workq_push(r->srv->workers, &r->job);
        return;
    }
    finish_iq(r);
}

/* ---- image queries ---- */

/* The counter of an escalation decision, or NULL. */
static metrics_counter *decision_counter(edge_state *es, edge_decision d)
{
    switch (d) {
    case EDGE_AUDIT:
        return &es->escalated_audit;
    case EDGE_UNCONFIDENT:
        return &es->escalated_unconfident;
    case EDGE_DIRECT:
        return &es->escalated_async;
    case EDGE_NOT_READY:
        return &es->escalated_not_ready;
    case EDGE_RATE_LIMITED:
        return &es->rate_limited;
    case EDGE_KEEP:
    case EDGE_REFUSE:
    case EDGE_DECISION_COUNT:
        return NULL;
    }
    return NULL;
}

/* batch row ran: the answer object of the local model (instance thread). */
static int edge_item_ran(sitem *it, const batch_result *res)
{
    edge_req *e = it->owner->proto;
    if (it->index == 0) return pipeline_answer(it, res, &e->params);
    /* the out-of-domain model: class 1 is "out" (one output: its probability) */
    glint_tensor out;
    glint_context_output(res->ctx, sitem_model(it)->conf->output, &out);
    int64_t n = out.ndim >= 2 ? out.dims[1] : 1;
    if (out.dtype != GLINT_F32 || n < 1 || n > 2) {
        snprintf(it->err, sizeof it->err, "the OODD model answers %lld classes, not 1 or 2",
                 (long long)n);
        return -1;
    }
    const float *row = (const float *)out.data + (int64_t)res->row * n;
    e->p_out = n == 2 ? row[1] : row[0];
    e->have_p_out = 1;
    return 0;
}

/* The chance confidence of detector d's answers: 1 / the answers it can give
 * (0 for bounding boxes), what an out-of-domain picture's confidence tends to. */
static double chance_of(const edge_detector *d, const repo_model *m)
{
    switch (d->mode) {
    case EDGE_MODE_BOUNDING_BOX:
        return 0;
    case EDGE_MODE_COUNT:
        return 1.0 / (d->max_count + 1);
    case EDGE_MODE_MULTI_CLASS: {
        int n = m->conf->labels ? task_labels_count(m->conf->labels) : 0;
        return n > 0 ? 1.0 / n : 0.5;
    }
    case EDGE_MODE_BINARY:
        break;
    }
    return 0.5;
}

/* The local answer is in: read it by the detector's mode, decide, commit
 * and answer (the thread of the inference, or a worker for the database). */
static void edge_items_done(sreq *r)
{
    edge_req *e = r->proto;
    edge_state *es = e->es;
    sitem *it = &r->items[0];
    if (it->status != 200) {
        set_detail(r, it->status, "%s", it->err);
        sreq_finish(r);
        return;
    }
    json_t *result, *rois;
    double conf;
    char err[SERVE_ERR_MAX];
    if (edge_result_from_answer(&e->det, e->box_score, it->answer, &result, &rois, &conf, err,
                                sizeof err)) {
        set_detail(r, 500, "detector %s: %s", e->det.id, err);
        sreq_finish(r);
        return;
    }
    e->raw_confidence = conf;
    if (r->n_items > 1 && r->items[1].status == 200 && e->have_p_out) {
        conf = edge_policy_oodd(conf, e->p_out, chance_of(&e->det, e->primary));
        json_object_set_new(result, "confidence", json_real(conf));
    } else if (r->n_items > 1) { /* the OODD model failed: the primary's answer stands */
        e->have_p_out = 0;
        fprintf(stderr, "glint serve: detector %s: out-of-domain model failed: %s\n", e->det.id,
                r->items[1].err);
    }
    metrics_counter_inc(&es->iqs);
    if (conf >= e->threshold) metrics_counter_inc(&es->confident);
    edge_policy_input in = {.can_escalate = e->can_escalate,
                            .want_async = e->want_async,
                            .review = e->review,
                            .always_return = e->preset.always_return,
                            .confidence = conf,
                            .threshold = e->threshold,
                            .audit_rate = e->audit_rate,
                            .draw = rand01()};
    e->decision = edge_decide(es, e->det.id, e->min_gap_s, &in);
    metrics_counter *c = decision_counter(es, e->decision);
    if (c) metrics_counter_inc(c);
    if (e->decision == EDGE_RATE_LIMITED) e->decision = EDGE_KEEP;
    e->iq = make_iq(e, result, rois, edge_decision_done(e->decision), 1);
    e->edge_result = result;
    json_decref(rois);
    if (!e->iq) {
        set_detail(r, 500, "out of memory");
        sreq_finish(r);
        return;
    }
    commit_or_finish(r);
}

/* A picture another module handed in: its answer goes back there. */
static void edge_on_loop(sreq *r)
{
    edge_req *e = r->proto;
    if (e->done) e->done(e->done_arg, r->status, r->resp ? r->resp : "", r->resp ? r->resp_len : 0);
}

static const sreq_ops edge_ops = {.item_ran = edge_item_ran,
                                  .finished = edge_items_done,
                                  .on_loop = edge_on_loop,
                                  .dispose = edge_req_dispose};

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
        if (!strcasecmp(v, "ALWAYS"))
            e->review = EDGE_REVIEW_ALWAYS;
        else if (!strcasecmp(v, "NEVER"))
            e->review = EDGE_REVIEW_NEVER;
        else if (strcasecmp(v, "DEFAULT")) {
            respond_detail(s, req, 422,
                           "human_review must be DEFAULT, ALWAYS or NEVER, got '%.40s'", v);
            return -1;
        }
    }
    if ((v = serve_query(req, "want_async", b, sizeof b))) {
        if (!strcasecmp(v, "true") || !strcmp(v, "1"))
            e->want_async = 1;
        else if (strcasecmp(v, "false") && strcmp(v, "0")) {
            respond_detail(s, req, 422, "want_async must be True or False, got '%.40s'", v);
            return -1;
        }
    }
    if ((v = serve_query(req, "metadata", b, sizeof b))) {
        uint8_t raw[METADATA_MAX + 4];
        long n = b64url_decode(v, raw, sizeof raw);
        json_t *m =
            n >= 0 && n <= METADATA_MAX ? json_loadb((const char *)raw, (size_t)n, 0, NULL) : NULL;
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
            respond_detail(s, req, 422,
                           "image_query_id must be iq_ and up to 60 letters, digits "
                           "or '_', got '%.64s'",
                           v);
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
    metrics_counter_inc(&edge_of(s)->duplicates);
    serve_respond(req, 200, "application/json", json, strlen(json));
    free(json);
    return 1;
}

static char *find_iq(edge_state *es, const char *id)
{
    char *j = edge_recent_get(es->recent, id);
    return j || !es->outbox ? j : edge_outbox_lookup(es->outbox, id);
}

/* A request with its image copied in, no inference yet. */
/* Sends the image upstream without a local answer (no ready model here:
 * DIRECT or NOT_READY). Loop thread; the commit runs on a worker. 0, or an
 * HTTP status with err (r destroyed). */
static int escalate_only(sreq *r, edge_decision d, char *err, size_t cap)
{
    edge_req *e = r->proto;
    e->decision = d;
    e->iq = make_iq(e, NULL, NULL, 0, 0);
    if (!e->iq || (!r->body && sreq_copy_body(r, r->req))) {
        snprintf(err, cap, "out of memory");
        sreq_destroy(r);
        return 500;
    }
    metrics_counter_inc(decision_counter(e->es, d));
    sreq_track(r);
    r->job.fn = commit_job;
    workq_push(r->srv->workers, &r->job);
    return 0;
}

/* Runs the detector's model m (a reference r takes) on the image. Loop
 * thread. */
static int infer_local(sreq *r, repo_model *m, char *err, size_t cap)
{
    server *s = r->srv;
    edge_req *e = r->proto;
    r->rm = m;
    e->box_score = e->det.box_score >= 0 ? e->det.box_score : m->conf->detect.score_threshold;
    e->params = answer_params_of(m->conf);
    /* boxes below box_score still lower the confidence: ask for them */
    e->params.detect.score_threshold = (float)fmin(0.05, e->box_score);
    e->params.top_k = 1;
    r->deadline_ns = r->t_start + (uint64_t)m->timeout_ms * 1000000u;
    char why[160];
    if (sreq_admit(r, 1, why, sizeof why)) {
        snprintf(err, cap, "model %s: %s", m->name, why);
        sreq_destroy(r);
        return 503;
    }
    e->primary = m;
    e->oodd = edge_detector_oodd(s, &e->det); /* runs beside the primary on each query */
    int n = e->oodd ? 2 : 1;
    if ((!r->body && sreq_copy_body(r, r->req)) || sreq_items(r, n)) {
        atomic_fetch_sub(&m->pending, 1);
        snprintf(err, cap, "out of memory");
        sreq_destroy(r);
        return 500;
    }
    for (int i = 0; i < n; i++) {
        r->items[i].data = r->body;
        r->items[i].size = r->body_len;
    }
    if (e->oodd) {
        r->items[1].rm = e->oodd;
        atomic_fetch_add(&e->oodd->pending, 1);
    }
    sreq_track(r);
    pipeline_submit_images(r);
    return 0;
}

/* Takes detector d (and its preset) into e: 0, or 400 with err. */
static int admit_detector(edge_req *e, const edge_detector *d, char *err, size_t cap)
{
    edge_state *es = e->es;
    e->det = *d;
    e->preset = es->cfg->presets[d->preset];
    if (e->threshold < 0) e->threshold = d->confidence_threshold;
    if (e->patience < 0) e->patience = d->patience_time;
    e->audit_rate = es->cfg->confident_audit_rate;
    e->min_gap_s = e->preset.min_time_between_escalations;
    snprintf(e->token, sizeof e->token, "%s",
             e->preset.api_token[0] ? e->preset.api_token : es->cfg->upstream_token);
    e->can_escalate = es->cfg->upstream[0] && es->outbox && !e->preset.disable_escalation;
    if (e->preset.always_return && (e->review == EDGE_REVIEW_ALWAYS || e->want_async)) {
        snprintf(err, cap,
                 "%s cannot be combined with detector %s's preset %s "
                 "(always_return_edge_prediction)",
                 e->want_async ? "want_async" : "human_review=ALWAYS", d->id, e->preset.name);
        return 400;
    }
    if (!e->client_id) edge_new_id("iq_", e->iq_id);
    edge_now_iso(e->created_at, sizeof e->created_at);
    return 0;
}

/* Reads the query's parameters and the detector into e: 0, or -1
 * (answered). Loop thread. */
static int admit_query(server *s, h2o_req_t *req, edge_req *e)
{
    edge_state *es = e->es;
    char det_id[128], rid[96];
    if (read_iq_params(s, req, e, det_id, sizeof det_id)) return -1;
    const char *h = serve_header(req, "x-request-id", rid, sizeof rid);
    if (h && strlen(h) < sizeof e->request_id)
        snprintf(e->request_id, sizeof e->request_id, "%s", h);
    /* a client's retry, or an escalation the upstream already has */
    char *seen = edge_recent_get_by_request(es->recent, e->request_id);
    if (!seen && es->outbox) seen = edge_outbox_lookup_request(es->outbox, e->request_id);
    if (!seen && e->client_id) seen = find_iq(es, e->iq_id);
    if (answer_stored(s, req, seen)) return -1;
    const edge_detector *d = edge_config_detector(es->cfg, det_id);
    if (!d) {
        respond_detail(s, req, 404, "detector %.64s is not configured on this edge endpoint",
                       det_id);
        return -1;
    }
    char why[SERVE_ERR_MAX];
    if (admit_detector(e, d, why, sizeof why)) {
        respond_detail(s, req, 400, "%s", why);
        return -1;
    }
    return 0;
}

/* No model of the detector is ready: the query goes upstream if it may.
 * 0, or an HTTP status with err (why no model, on entry; r destroyed). */
static int without_model(sreq *r, char *err, size_t cap)
{
    edge_req *e = r->proto;
    edge_policy_input in = {.can_escalate = e->can_escalate,
                            .want_async = e->want_async,
                            .review = e->review,
                            .always_return = e->preset.always_return};
    edge_decision d = edge_policy_no_model(&in);
    if (d != EDGE_REFUSE) return escalate_only(r, d, err, cap);
    sreq_destroy(r);
    return 503;
}

static void post_image_query(server *s, h2o_req_t *req)
{
    char ct[128];
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
    sreq *r = sreq_create(s, req, NULL, &edge_ops, sizeof(edge_req));
    if (!r) {
        respond_detail(s, req, 500, "out of memory");
        return;
    }
    edge_req *e = r->proto;
    e->es = edge_of(s);
    e->patience = -1;
    snprintf(e->content_type, sizeof e->content_type, "%s", ct);
    if (admit_query(s, req, e)) {
        sreq_destroy(r);
        return;
    }
    edge_samples_offer(e->es->samples, &e->det, req->entity.base, req->entity.len);
    char why[SERVE_ERR_MAX];
    char client[RATELIMIT_KEY_MAX + 8];
    size_t cl = serve_req_client(req, client, sizeof client);
    repo_model *m = edge_detector_model(e->es, &e->det, &e->preset, client, cl, why, sizeof why);
    if (m && !serve_model_limit(s, req, m)) { /* model.yaml's rate_limit: answered 429 */
        repo_model_release(m);
        sreq_destroy(r);
        return;
    }
    int st = m ? infer_local(r, m, why, sizeof why) : without_model(r, why, sizeof why);
    if (st) respond_detail(s, req, st, "%s", why); /* r is gone */
}

/* A picture another module hands in (a camera's frame, serve_submit_image)
 * for "detector:<id>": an image query as if a client had posted it with no
 * parameters, answered through done. */
static int image_from_module(server *s, void *state, const char *target, const void *jpeg,
                             size_t len, const char *client, serve_image_done done, void *arg,
                             char *err, size_t err_size)
{
    static const char prefix[] = "detector:";
    if (strncmp(target, prefix, sizeof prefix - 1)) return 1;
    const char *det_id = target + sizeof prefix - 1;
    edge_state *es = state;
    const edge_detector *d = es && es->cfg ? edge_config_detector(es->cfg, det_id) : NULL;
    if (!d) {
        snprintf(err, err_size, "detector %.64s is not configured on this edge endpoint%s", det_id,
                 es && es->cfg ? "" : " (no --edge-config)");
        return -1;
    }
    if (s->draining) {
        snprintf(err, err_size, "the server is shutting down");
        return -1;
    }
    sreq *r = sreq_create(s, NULL, NULL, &edge_ops, sizeof(edge_req));
    edge_req *e = r ? r->proto : NULL;
    if (r) {
        r->body = arena_memdup(r->mem, jpeg, len);
        r->body_len = len;
    }
    if (!r || !r->body) {
        snprintf(err, err_size, "out of memory");
        sreq_destroy(r);
        return -1;
    }
    e->es = es;
    e->threshold = e->patience = -1;
    e->done = done;
    e->done_arg = arg;
    snprintf(e->content_type, sizeof e->content_type, "image/jpeg");
    if (admit_detector(e, d, err, err_size)) {
        sreq_destroy(r);
        return -1;
    }
    edge_samples_offer(es->samples, &e->det, jpeg, len);
    repo_model *m =
        edge_detector_model(es, &e->det, &e->preset, client, strlen(client), err, err_size);
    int st = m ? infer_local(r, m, err, err_size) : without_model(r, err, err_size);
    return st ? -1 : 0;
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
    char *j = find_iq(edge_of(s), key);
    if (!j) {
        respond_detail(s, req, 404, "no image query %s on this edge endpoint", key);
        return;
    }
    serve_respond(req, 200, "application/json", j, strlen(j));
    free(j);
}

/* ---- config ---- */

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
    if (c && edge_config_fits_repo(edge_of(s), c, err, sizeof err)) {
        edge_config_release(c);
        c = NULL;
    }
    if (!c) {
        json_decref(doc);
        metrics_counter_inc(&edge_of(s)->config_errors);
        metrics_counter_inc(&s->http_errors_4xx);
        char field[128] = "";
        const char *colon = strchr(err, ':');
        snprintf(field, sizeof field, "%.*s", colon ? (int)(colon - err) : 0, err);
        serve_respond_json(req, 422,
                           json_pack("{s:[{s:s, s:o, s:s}]}", "detail", "loc", field, "msg",
                                     answer_text(err), "type", "value_error"));
        return;
    }
    edge_install_config(edge_of(s), c);
    edge_persist_config(edge_of(s), doc);
    json_decref(doc);
    fprintf(stderr, "glint serve: edge config replaced by PUT /edge-config (%d detector(s))\n",
            c->n_detectors);
    serve_respond_json(req, 200, json_incref(c->doc));
}

/* ---- routing ---- */

static void device_api(server *s, h2o_req_t *req, const char *p, size_t n, int get, int post)
{
    edge_state *es = edge_of(s);
    if (serve_path_is(p, n, "/v1/image-queries")) {
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
    if (serve_path_starts(p, n, "/v1/image-queries/")) {
        get_image_query(s, req, p + 18, n - 18);
    } else if (serve_path_starts(p, n, "/v1/detectors/")) {
        char id[80];
        snprintf(id, sizeof id, "%.*s", (int)(n - 14 < 79 ? n - 14 : 79), p + 14);
        const edge_detector *d = edge_config_detector(es->cfg, id);
        if (d) {
            repo_model *m = edge_detector_serving(s, d);
            serve_respond_json(req, 200,
                               edge_detector_json(d, m ? m->conf->labels : NULL, es->started_at));
            if (m) repo_model_release(m);
        } else
            respond_detail(s, req, 404, "detector %s is not configured on this edge endpoint", id);
    } else if (serve_path_is(p, n, "/v1/me")) {
        serve_respond_json(req, 200,
                           json_pack("{s:s, s:s, s:b, s:b, s:s}", "email", "edge@glint.local",
                                     "username", "glint-edge", "is_superuser", 0, "is_staff", 0,
                                     "id", "usr_glintedge"));
    } else if (serve_path_starts(p, n, "/v1/api-tokens/by-snippet/")) {
        respond_detail(s, req, 404, "Not found.");
    } else {
        respond_detail(s, req, 404, "no such route: /device-api%.*s", (int)(n < 200 ? n : 200), p);
    }
}

/* POST /edge-api/v1/detectors/{id}/rollback: back to the version before the
 * one serving (edge_pull.h); 202 while the updater swaps it in. */
static void rollback(server *s, h2o_req_t *req, const char *id, size_t n)
{
    char det[EDGE_ID_MAX], err[SERVE_ERR_MAX];
    snprintf(det, sizeof det, "%.*s", (int)(n < EDGE_ID_MAX - 1 ? n : EDGE_ID_MAX - 1), id);
    int from = 0, to = 0;
    int rc = edge_pull_rollback(edge_of(s)->pull, det, &from, &to, err, sizeof err);
    if (rc) {
        respond_detail(s, req, rc, "%s", err);
        return;
    }
    serve_respond_json(
        req, 202,
        json_pack("{s:s, s:i, s:i}", "detector_id", det, "from_version", from, "to_version", to));
}

static int route(server *s, void *state, h2o_req_t *req, const char *p, size_t n)
{
    edge_state *es = state;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
    int post = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"));
    int put = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("PUT"));
    if (serve_path_starts(p, n, "/device-api/")) {
        device_api(s, req, p + 11, n - 11, get, post);
        return 0;
    }
    if (serve_path_starts(p, n, "/edge-api/v1/detectors/") && n > 32 &&
        !memcmp(p + n - 9, "/rollback", 9)) {
        if (post)
            rollback(s, req, p + 23, n - 32);
        else
            respond_detail(s, req, 405, "use POST");
        return 0;
    }
    if (serve_path_starts(p, n, "/edge-api/")) { /* glint as an upstream */
        edge_models_route(s, es->models, req, p + 9, n - 9);
        return 0;
    }
    if (serve_path_is(p, n, "/edge-config")) {
        if (put)
            put_config(s, req);
        else if (get)
            serve_respond_json(req, 200, json_incref(es->cfg->doc));
        else
            respond_detail(s, req, 405, "use GET or PUT");
        return 0;
    }
    static const char *const gets[] = {"/edge-detector-readiness", "/health/live", "/health/ready",
                                       "/ping", "/status/resources.json"};
    int k = -1;
    for (int i = 0; i < 5; i++)
        if (serve_path_is(p, n, gets[i])) k = i;
    if (k < 0) return -1;
    if (!get) {
        respond_detail(s, req, 405, "use GET");
        return 0;
    }
    switch (k) {
    case 0:
        serve_respond_json(req, 200, edge_readiness_json(es));
        break;
    case 1:
        serve_respond(req, 200, "application/json", "{\"status\":\"alive\"}", 18);
        break;
    case 2:
        if (edge_all_ready(es))
            serve_respond(req, 200, "application/json", "{\"status\":\"ready\"}", 18);
        else
            serve_respond(req, 503, "application/json", "{\"detail\":\"not ready\"}", 23);
        break;
    case 3:
        serve_respond(req, 200, "application/json", "{\"message\":\"Hello!\"}", 20);
        break;
    default:
        serve_respond_json(req, 200, edge_resources_json(es));
    }
    return 0;
}

/* With API keys: the probes are open; replacing the edge config and rolling
 * a detector back are admin. */
static serve_access edge_access(const h2o_req_t *req, const char *p, size_t n)
{
    if (serve_path_is(p, n, "/health/live") || serve_path_is(p, n, "/health/ready") ||
        serve_path_is(p, n, "/ping"))
        return SERVE_ACCESS_OPEN;
    if ((serve_path_is(p, n, "/edge-config") && serve_method_is(req, "PUT")) ||
        (serve_path_starts(p, n, "/edge-api/v1/detectors/") && n > 32 &&
         !memcmp(p + n - 9, "/rollback", 9)))
        return SERVE_ACCESS_ADMIN;
    return SERVE_ACCESS_DEFAULT;
}

const serve_module edge_module = {.name = "edge",
                                  .access = edge_access,
                                  .start = edge_service_start,
                                  .route = route,
                                  .image = image_from_module,
                                  .tick = edge_service_tick,
                                  .stop = edge_service_stop,
                                  .health = edge_service_health,
                                  .metrics = edge_service_metrics};
