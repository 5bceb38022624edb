/* DeepStack's object detection API, as the NVR integrations that speak it
 * send it (Frigate's deepstack detector, Home Assistant's deepstack_object,
 * Blue Iris), written from DeepStack's published documentation:
 *   POST /v1/vision/detection          multipart/form-data: `image` (the
 *        picture), optional `min_confidence` (0..1, default 0.45) and
 *        `api_key`; runs the server's DeepStack model (--deepstack-model,
 *        else the first detection model of the repository)
 *   POST /v1/vision/custom/{model}     the same on model {model} (DeepStack's
 *        custom models)
 * -> {"success": true, "predictions": [{"label", "confidence", "x_min",
 *    "y_min", "x_max", "y_max"}], "duration": ms} with pixel coordinates of
 *    the picture as integers; a failure is {"success": false, "error": msg,
 *    "duration": 0} with its HTTP status (400 bad request, 404 no such
 *    model, 503 overloaded or shutting down, 500 inference failed; with API
 *    keys where every route wants one, 401 "Incorrect api key" unless the
 *    key comes as the `api_key` field or in the usual headers).
 * Loop thread, but for the answer (the instance thread). */
#include "serve/deepstack/deepstack.h"

#include "serve/core/multipart.h"
#include "serve/core/server_impl.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DS_MIN_CONFIDENCE 0.45 /* DeepStack's default */

typedef struct ds_req {
    answer_params params;
    double min_confidence;
} ds_req;

static void ds_error(h2o_req_t *req, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* {"success": false, "error": msg, "duration": 0} as `status`. */
static void ds_error(h2o_req_t *req, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    serve_respond_json(req, status,
                       json_pack("{s:b, s:s, s:i}", "success", 0, "error", msg, "duration", 0));
}

/* The prediction of one glint detection, or NULL below min_confidence. */
static json_t *prediction(const json_t *det, double min_confidence)
{
    double score = json_number_value(json_object_get(det, "score"));
    const json_t *box = json_object_get(det, "box");
    const json_t *label = json_object_get(det, "label");
    if (score < min_confidence || !box || !json_is_string(label)) return NULL;
    double b[4];
    static const char *const k[4] = {"x1", "y1", "x2", "y2"};
    for (int i = 0; i < 4; i++)
        b[i] = json_number_value(json_object_get(box, k[i]));
    return json_pack("{s:O, s:f, s:I, s:I, s:I, s:I}", "label", label, "confidence", score, "x_min",
                     (json_int_t)lround(b[0]), "y_min", (json_int_t)lround(b[1]), "x_max",
                     (json_int_t)lround(b[2]), "y_max", (json_int_t)lround(b[3]));
}

/* ---- the answer (request.h's sreq_ops) ---- */

static int item_ran(sitem *it, const batch_result *res)
{
    const ds_req *v = it->owner->proto;
    return pipeline_answer(it, res, &v->params);
}

static void finished(sreq *r)
{
    const ds_req *v = r->proto;
    sitem *it = &r->items[0];
    json_t *body;
    if (it->status == 200) {
        json_t *preds = json_array();
        const json_t *dets = json_object_get(it->answer, "detections");
        for (size_t i = 0; i < json_array_size(dets); i++) {
            json_t *p = prediction(json_array_get(dets, i), v->min_confidence);
            if (p) json_array_append_new(preds, p);
        }
        body = json_pack("{s:b, s:o, s:I}", "success", 1, "predictions", preds, "duration",
                         (json_int_t)((serve_now_ns() - r->t_start) / 1000000u));
    } else {
        body = json_pack("{s:b, s:s, s:i}", "success", 0, "error", it->err, "duration", 0);
    }
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(6)) : NULL;
    json_decref(body);
    sreq_set_body(r, text ? it->status : 500, text);
    sreq_finish(r);
}

static const sreq_ops ds_ops = {.item_ran = item_ran, .finished = finished};

/* The model /v1/vision/detection runs (a new reference), or NULL. */
static repo_model *default_model(server *s)
{
    if (s->opt.deepstack_model)
        return repo_get(s, s->opt.deepstack_model, strlen(s->opt.deepstack_model));
    for (int i = 0; i < s->n_entries; i++) {
        const repo_entry *e = s->entries[i];
        if (e->state == ENTRY_READY && e->model && e->model->conf->task == MODEL_TASK_DETECT)
            return repo_get(s, e->name, strlen(e->name));
    }
    return NULL;
}

/* Reads min_confidence from its form part into *v; -1 (answered) if bad. */
static int read_confidence(h2o_req_t *req, const multipart_part *p, double *v)
{
    char t[32];
    if (p->size == 0 || p->size >= sizeof t) goto bad;
    memcpy(t, p->data, p->size);
    t[p->size] = 0;
    char *end;
    errno = 0;
    double x = strtod(t, &end);
    while (*end == ' ' || *end == '\r' || *end == '\n')
        end++;
    if (*end || errno || !(x >= 0 && x <= 1)) goto bad;
    *v = x;
    return 0;
bad:
    ds_error(req, 400, "min_confidence must be a number in [0, 1]");
    return -1;
}

/* The request's form: the picture, the api_key field, min_confidence. */
typedef struct ds_form {
    const multipart_part *image, *key;
    double min_confidence;
    multipart_part parts[8];
} ds_form;

/* Parses the form into f; -1 when answered 400. */
static int read_form(h2o_req_t *req, ds_form *f)
{
    char ct[512];
    const char *t = serve_header(req, "content-type", ct, sizeof ct);
    f->image = f->key = NULL;
    f->min_confidence = DS_MIN_CONFIDENCE;
    if (!t || strncasecmp(t, "multipart/form-data", 19)) {
        ds_error(req, 400, "send the picture as multipart/form-data with a field named 'image'");
        return -1;
    }
    int n = 0;
    char err[256];
    if (multipart_parse(t, strlen(t), (const uint8_t *)req->entity.base, req->entity.len, f->parts,
                        8, &n, err, sizeof err)) {
        ds_error(req, 400, "multipart body: %s", err);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const multipart_part *p = &f->parts[i];
        if (multipart_name_is(p, "image") && !f->image)
            f->image = p;
        else if (multipart_name_is(p, "api_key") && !f->key)
            f->key = p;
        else if (multipart_name_is(p, "min_confidence") &&
                 read_confidence(req, p, &f->min_confidence))
            return -1;
    }
    return 0;
}

static void detect(server *s, h2o_req_t *req, repo_model *m, const ds_form *f)
{
    if (m->conf->task != MODEL_TASK_DETECT) {
        ds_error(req, 400, "model %s is a %s model, not an object detector", m->name,
                 model_task_name(m->conf->task));
        goto release;
    }
    const multipart_part *image = f->image;
    double min_confidence = f->min_confidence;
    if (!image || !image->size) {
        ds_error(req, 400, "no image: send the picture in a form field named 'image'");
        goto release;
    }
    if (s->draining) {
        ds_error(req, 503, "the server is shutting down");
        goto release;
    }
    sreq *r = sreq_create(s, req, m, &ds_ops, sizeof(ds_req));
    if (!r) { /* m released */
        ds_error(req, 500, "out of memory");
        return;
    }
    ds_req *v = r->proto;
    v->params = answer_params_of(m->conf);
    v->params.detect.score_threshold = (float)min_confidence; /* DeepStack's own threshold */
    v->min_confidence = min_confidence;
    r->deadline_ns = r->t_start + (uint64_t)m->timeout_ms * 1000000u;
    char why[160];
    if (sreq_admit(r, 1, why, sizeof why)) {
        ds_error(req, 503, "model %s: %s", m->name, why);
        sreq_destroy(r);
        return;
    }
    if (sreq_copy_body(r, req) || sreq_items(r, 1)) {
        atomic_fetch_sub(&m->pending, 1);
        ds_error(req, 500, "out of memory");
        sreq_destroy(r);
        return;
    }
    r->items[0].data = r->body + (image->data - (const uint8_t *)req->entity.base);
    r->items[0].size = image->size;
    sreq_track(r);
    pipeline_submit_images(r);
    return;
release:
    repo_model_release(m);
}

static int route(server *s, void *state, h2o_req_t *req, const char *path, size_t len)
{
    (void)state;
    static const char custom[] = "/v1/vision/custom/";
    int plain = serve_path_is(path, len, "/v1/vision/detection");
    if (!plain && !serve_path_starts(path, len, custom)) return -1;
    if (!serve_method_is(req, "POST")) {
        ds_error(req, 405, "use POST with multipart/form-data");
        return 0;
    }
    ds_form f;
    if (read_form(req, &f)) return 0;
    /* with API keys, DeepStack's clients send theirs as a form field */
    if (!serve_key_ok(s, req, f.key ? (const char *)f.key->data : NULL, f.key ? f.key->size : 0)) {
        ds_error(req, 401, "Incorrect api key");
        return 0;
    }
    repo_model *m;
    if (plain) {
        if (!(m = default_model(s))) {
            ds_error(req, 404, "no object detection model is loaded");
            return 0;
        }
    } else {
        const char *name = path + sizeof custom - 1;
        size_t nlen = len - (sizeof custom - 1);
        if (!(m = repo_get(s, name, nlen))) {
            ds_error(req, 404, "no model '%.*s'", (int)(nlen < 100 ? nlen : 100), name);
            return 0;
        }
    }
    if (!serve_model_limit(s, req, m)) { /* model.yaml's rate_limit: answered 429 */
        repo_model_release(m);
        return 0;
    }
    detect(s, req, m, &f);
    return 0;
}

/* Its paths check their key themselves (serve_key_ok): the form field. */
static serve_access ds_access(const h2o_req_t *req, const char *path, size_t len)
{
    (void)req;
    return serve_path_is(path, len, "/v1/vision/detection") ||
                   serve_path_starts(path, len, "/v1/vision/custom/")
               ? SERVE_ACCESS_OPEN
               : SERVE_ACCESS_DEFAULT;
}

const serve_module deepstack_module = {.name = "deepstack", .access = ds_access, .route = route};
