/* Pipelines (chain.h): loading a `pipeline:` folder over models of the
 * repository, and the step after the first model's answer — crops (or the
 * whole picture) through the next models' batchers, merged into the answer. */
#include "serve/core/chain.h"

#include "model/fileio.h"
#include "serve/core/errmsg.h"
#include "serve/core/server_impl.h"
#include "serve/core/yaml_json.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CHAIN_YAML_MAX ((size_t)1 << 20)

/* One row a pipeline sends to its next model: a crop, or the picture. */
typedef struct chain_task {
    batch_item bi; /* first: the batcher's view */
    struct chain_run *run;
    repo_model *m;       /* the model it runs on (the pipeline holds it) */
    int stage;           /* index in the pipeline's stages */
    int det;             /* crop: its box's index in the answer's detections */
    int x0, y0, x1, y1;  /* its region in decoded pixels */
    double crop[4];      /* the same in the image's pixels */
    vision_transform tf; /* of its row */
    uint64_t prep_ns, end_ns;
    int status; /* 0 running, 200 answered, else an HTTP status */
    char err[200];
    json_t *result; /* its "classes" or "detections" */
} chain_task;

/* What a pipeline keeps of one item: the picture and its rows. */
typedef struct chain_run {
    workq_job job;
    sitem *it;
    vision_image own;        /* decoded by the worker */
    const vision_image *img; /* &own, or the protocol's picture */
    uint64_t t0;             /* the rows' job started */
    atomic_int left;         /* rows not yet answered */
    int n;
    chain_task tasks[];
} chain_run;

/* ---- loading ---- */

int chain_is_folder(const char *dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof path, "%s/model.onnx", dir);
    if (!stat(path, &st)) return 0;
    snprintf(path, sizeof path, "%s/model.yaml", dir);
    size_t n;
    char *text = fileio_read(path, CHAIN_YAML_MAX, &n);
    if (!text) return 0;
    char err[64];
    json_t *doc = yaml_to_json(text, n, err, sizeof err);
    free(text);
    int is = json_is_object(doc) && json_object_get(doc, "pipeline");
    json_decref(doc);
    return is;
}

void chain_free(chain *c)
{
    if (!c) return;
    for (int i = 0; i < c->n_stages; i++)
        repo_model_release(c->stages[i]);
    free(c->classes);
    free(c);
}

/* The ready, non-pipeline model called v (a JSON string) as a new
 * reference in *out, of task `task` unless MODEL_TASK_NONE. */
static int take_stage(server *s, const char *key, const json_t *v, model_task task,
                      repo_model **out, char *err, size_t cap)
{
    if (!json_is_string(v)) return errmsg_set(err, cap, "pipeline.%s must be a model's name", key);
    const char *name = json_string_value(v);
    repo_entry *e = repo_find(s, name, strlen(name));
    if (!e) return errmsg_set(err, cap, "pipeline.%s: no model %s in the repository", key, name);
    if (e->pipeline)
        return errmsg_set(err, cap, "pipeline.%s: %s is a pipeline, not a model", key, name);
    if (!(*out = repo_get(s, name, strlen(name))))
        return errmsg_set(err, cap, "pipeline.%s: model %s is not loaded (%s)", key, name,
                          e->reason);
    if (task != MODEL_TASK_NONE && (*out)->conf->task != task) {
        errmsg_set(err, cap, "pipeline.%s: %s is a %s model, not %s", key, name,
                   model_task_name((*out)->conf->task), model_task_name(task));
        repo_model_release(*out); /* not the caller's to release: it counts only what it got */
        *out = NULL;
        return -1;
    }
    return 0;
}

static int get_num(const json_t *p, const char *key, double lo, double hi, double *v, char *err,
                   size_t cap)
{
    const json_t *x = json_object_get(p, key);
    if (!x) return 0;
    if (!json_is_number(x) || !(json_number_value(x) >= lo && json_number_value(x) <= hi))
        return errmsg_set(err, cap, "pipeline.%s must be a number in [%g, %g]", key, lo, hi);
    *v = json_number_value(x);
    return 0;
}

static int get_int(const json_t *p, const char *key, int lo, int hi, int *v, char *err, size_t cap)
{
    double d = *v;
    if (get_num(p, key, lo, hi, &d, err, cap)) return -1;
    if (d != floor(d)) return errmsg_set(err, cap, "pipeline.%s must be a whole number", key);
    *v = (int)d;
    return 0;
}

/* classes: the detector's class names (or ids) whose boxes are cropped. */
static int read_classes(chain *c, const json_t *v, char *err, size_t cap)
{
    const task_labels *l = c->stages[0]->conf->labels;
    int n = l ? task_labels_count(l) : 0;
    if (!json_is_array(v) || !json_array_size(v) || n <= 0)
        return errmsg_set(err, cap, "pipeline.classes must be a list of %s's labels",
                          c->stages[0]->name);
    if (!(c->classes = calloc((size_t)n, 1))) return errmsg_set(err, cap, "out of memory");
    c->n_classes = n;
    size_t i;
    const json_t *x;
    json_array_foreach(v, i, x)
    {
        int found = -1;
        char buf[32];
        for (int k = 0; k < n && found < 0 && json_is_string(x); k++)
            if (!strcmp(task_labels_name(l, k, buf, sizeof buf), json_string_value(x))) found = k;
        if (json_is_integer(x) && json_integer_value(x) >= 0 && json_integer_value(x) < n)
            found = (int)json_integer_value(x);
        if (found < 0) {
            char names[256] = "";
            size_t used = 0;
            for (int k = 0; k < n && used < sizeof names - 40; k++)
                used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", k ? ", " : "",
                                         task_labels_name(l, k, buf, sizeof buf));
            return errmsg_set(err, cap, "pipeline.classes: %s has no class %s (it has: %s)",
                              c->stages[0]->name, json_is_string(x) ? json_string_value(x) : "?",
                              names);
        }
        c->classes[found] = 1;
    }
    return 0;
}

static int read_chain(server *s, const json_t *p, chain *c, char *err, size_t cap)
{
    static const char *const keys[] = {"detect",   "classify",  "recognize", "classes", "padding",
                                       "min_size", "max_crops", "top_k",     "relabel", "models"};
    if (!json_is_object(p)) return errmsg_set(err, cap, "pipeline must be a mapping");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)p, k, v)
    {
        int known = 0;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            known |= !strcmp(k, keys[i]);
        if (!known)
            return errmsg_set(
                err, cap,
                "pipeline has no key '%s' (it takes detect, classify or recognize, classes, "
                "padding, min_size, max_crops, top_k, relabel, or models)",
                k);
    }
    const json_t *models = json_object_get(p, "models");
    if (models) {
        if (json_object_get(p, "detect") || json_object_get(p, "classify") ||
            json_object_get(p, "recognize"))
            return errmsg_set(err, cap,
                              "pipeline takes either models (merged) or detect + classify");
        size_t n = json_array_size(models);
        if (!json_is_array(models) || n < 2 || n > CHAIN_MAX_STAGES)
            return errmsg_set(err, cap, "pipeline.models must list 2 to %d models",
                              CHAIN_MAX_STAGES);
        c->mode = CHAIN_MERGE;
        for (size_t i = 0; i < n; i++) {
            if (take_stage(s, "models", json_array_get(models, i), MODEL_TASK_NONE,
                           &c->stages[c->n_stages], err, cap))
                return -1;
            model_task t = c->stages[c->n_stages++]->conf->task;
            if (t != MODEL_TASK_DETECT && t != MODEL_TASK_CLASSIFY)
                return errmsg_set(err, cap,
                                  "pipeline.models: %s is a %s model (detectors and "
                                  "classifiers merge)",
                                  c->stages[i]->name, model_task_name(t));
        }
        return 0;
    }
    c->mode = CHAIN_CROP;
    const json_t *cls = json_object_get(p, "classify"), *rec = json_object_get(p, "recognize");
    if (!json_object_get(p, "detect") || !cls == !rec)
        return errmsg_set(err, cap,
                          "pipeline needs detect and either classify or recognize (or models)");
    /* an object or a text detector (a text detector's lines to a recogniser: PaddleOCR's
     * two stages; a detector's plates to one too) */
    if (take_stage(s, "detect", json_object_get(p, "detect"), MODEL_TASK_NONE, &c->stages[0], err,
                   cap))
        return -1;
    c->n_stages = 1;
    model_task t0 = c->stages[0]->conf->task;
    if (t0 != MODEL_TASK_DETECT && t0 != MODEL_TASK_TEXT_DETECT)
        return errmsg_set(err, cap, "pipeline.detect: %s is a %s model, not detect or text_detect",
                          c->stages[0]->name, model_task_name(t0));
    if (take_stage(s, cls ? "classify" : "recognize", cls ? cls : rec,
                   cls ? MODEL_TASK_CLASSIFY : MODEL_TASK_TEXT_RECOGNIZE, &c->stages[1], err, cap))
        return -1;
    c->n_stages = 2;
    const json_t *rl = json_object_get(p, "relabel");
    if (rl && !json_is_boolean(rl))
        return errmsg_set(err, cap, "pipeline.relabel must be true or false");
    c->relabel = json_is_true(rl);
    if (json_object_get(p, "classes") && read_classes(c, json_object_get(p, "classes"), err, cap))
        return -1;
    return get_num(p, "padding", 0, 2, &c->padding, err, cap) ||
           get_int(p, "min_size", 1, 100000, &c->min_size, err, cap) ||
           get_int(p, "max_crops", 1, CHAIN_MAX_CROPS, &c->max_crops, err, cap) ||
           get_int(p, "top_k", 1, 100, &c->top_k, err, cap);
}

static void free_pipeline(repo_model *m)
{
    chain_free(m->chain);
    pthread_mutex_destroy(&m->stats.compute_mu);
    free(m->name);
    free(m);
}

int chain_load(server *s, const char *name, const char *dir, repo_model **out, char *err,
               size_t err_size)
{
    *out = NULL;
    uint64_t t0 = serve_now_ns();
    char path[4200], cerr[SERVE_ERR_MAX];
    snprintf(path, sizeof path, "%s/model.yaml", dir);
    uint64_t sig = model_package_sig(dir); /* before reading: a later change is seen */
    size_t n;
    char *text = fileio_read(path, CHAIN_YAML_MAX, &n);
    if (!text) return errmsg_set(err, err_size, "%s: %s", path, strerror(errno));
    json_t *doc = yaml_to_json(text, n, cerr, sizeof cerr);
    free(text);
    if (!doc) return errmsg_set(err, err_size, "%s: %s", path, cerr);
    repo_model *m = calloc(1, sizeof *m);
    chain *c = calloc(1, sizeof *c);
    if (!m || !c || !(m->name = strdup(name))) {
        free(c);
        free(m);
        json_decref(doc);
        return errmsg_set(err, err_size, "out of memory");
    }
    pthread_mutex_init(&m->stats.compute_mu, NULL);
    m->chain = c;
    c->padding = 0.1;
    c->min_size = 8;
    c->max_crops = 32;
    c->top_k = 1;
    if (read_chain(s, json_object_get(doc, "pipeline"), c, cerr, sizeof cerr)) {
        json_decref(doc);
        free_pipeline(m);
        return errmsg_set(err, err_size, "%s: %s", path, cerr);
    }
    json_decref(doc);
    repo_model *first = c->stages[0];
    /* it answers as its first model: routes read that model's settings */
    m->model = first->model;
    m->conf = first->conf;
    m->batcher = first->batcher;
    m->pkg.precision = first->pkg.precision;
    m->file_sig = sig;
    m->max_queue = first->max_queue;
    m->max_queue_ms = first->max_queue_ms;
    m->timeout_ms = first->timeout_ms;
    m->limit_share = 1;
    uint64_t id = sig;
    for (int i = 0; i < c->n_stages; i++)
        id = (id ^ c->stages[i]->content_id ^ c->stages[i]->file_sig) * 0x9e3779b97f4a7c15ull;
    m->content_id = s->opt.redis_url ? id : 0;
    metrics_histogram_init(&m->stats.request_seconds, metrics_latency_bounds,
                           METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    metrics_histogram_init(&m->stats.queue_seconds, metrics_latency_bounds,
                           METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    metrics_histogram_init(&m->stats.compute_seconds, metrics_latency_bounds,
                           METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    metrics_histogram_init(&m->stats.batch_size, metrics_batch_bounds, METRICS_BATCH_BOUNDS_COUNT,
                           METRICS_SCALE_ONE);
    for (int i = 0; i < c->n_stages; i++)
        metrics_histogram_init(&c->stage_seconds[i], metrics_latency_bounds,
                               METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    atomic_init(&m->refs, 1);
    m->load_ms = (double)(serve_now_ns() - t0) / 1e6;
    char stages[256] = "";
    size_t used = 0;
    for (int i = 0; i < c->n_stages && used < sizeof stages - 1; i++)
        used += (size_t)snprintf(stages + used, sizeof stages - used, "%s%s",
                                 i ? (c->mode == CHAIN_CROP ? " -> crops -> " : " + ") : "",
                                 c->stages[i]->name);
    fprintf(stderr, "glint serve: pipeline %s ready (%s)\n", m->name, stages);
    *out = m;
    return 0;
}

/* 1 if pipeline m runs model `name`. */
static int names(const repo_model *m, const char *name)
{
    for (int i = 0; m && m->chain && i < m->chain->n_stages; i++)
        if (!strcmp(m->chain->stages[i]->name, name)) return 1;
    return 0;
}

int chain_reload(server *s, repo_entry *e, const char *gone)
{
    repo_model *m;
    char err[SERVE_ERR_MAX];
    if (!chain_load(s, e->name, e->dir, &m, err, sizeof err)) {
        e->chain_waiting = 0;
        repo_install(s, e, m);
        return 0;
    }
    snprintf(e->last_error, sizeof e->last_error, "%s", err);
    e->load_failures++;
    e->failed_sig = model_package_sig(e->dir);
    if (e->state == ENTRY_READY && gone) {
        repo_unload(s, e);
        snprintf(e->reason, sizeof e->reason, "model %s it runs was unloaded", gone);
        e->chain_waiting = 1;
        fprintf(stderr, "glint serve: pipeline %s: unloaded (model %s was)\n", e->name, gone);
    } else if (e->state != ENTRY_READY) {
        e->state = ENTRY_UNAVAILABLE;
        snprintf(e->reason, sizeof e->reason, "%s", err);
        if (!e->chain_waiting) fprintf(stderr, "glint serve: pipeline %s: %s\n", e->name, err);
    } else {
        fprintf(stderr,
                "glint serve: pipeline %s: reload failed, the previous one keeps serving: %s\n",
                e->name, err);
    }
    return -1;
}

void chain_refresh(server *s, const char *name, int unloaded)
{
    for (int i = 0; i < s->n_entries; i++) {
        repo_entry *e = s->entries[i];
        if (!e->pipeline || !strcmp(e->name, name)) continue;
        if (e->state == ENTRY_READY && names(e->model, name))
            chain_reload(s, e, unloaded ? name : NULL);
        else if (e->state != ENTRY_READY && e->chain_waiting && !unloaded)
            chain_reload(s, e, NULL);
    }
}

/* ---- running ---- */

static chain_run *run_of(sitem *it)
{
    if (it->run) return it->run;
    const chain *c = sitem_model(it)->chain;
    int max = c->mode == CHAIN_CROP ? c->max_crops : c->n_stages - 1;
    chain_run *run = calloc(1, sizeof *run + (size_t)max * sizeof run->tasks[0]);
    if (!run) return NULL;
    run->it = it;
    vision_image_init(&run->own);
    run->img = &run->own;
    it->run = run;
    return run;
}

vision_image *chain_image(sitem *it)
{
    chain_run *run = run_of(it);
    return run ? &run->own : NULL;
}

int chain_keep(sitem *it, const vision_image *img)
{
    chain_run *run = run_of(it);
    if (!run) return -1;
    run->img = img;
    return 0;
}

void chain_run_free(sitem *it)
{
    chain_run *run = it->run;
    if (!run) return;
    for (int i = 0; i < run->n; i++)
        json_decref(run->tasks[i].result);
    vision_image_dispose(&run->own);
    free(run);
    it->run = NULL;
}

/* The answer is complete: every row's part merged into it->answer. */
static void finish(chain_run *run)
{
    sitem *it = run->it;
    repo_model *pm = sitem_model(it);
    chain *c = pm->chain;
    uint64_t now = serve_now_ns();
    for (int i = 0; i < run->n; i++)
        if (run->tasks[i].status != 200) {
            const chain_task *t = &run->tasks[i];
            sitem_fail(it, t->status, "pipeline %s, model %s: %s", pm->name, t->m->name, t->err);
            return;
        }
    json_t *ans = it->answer;
    json_t *dets = json_object_get(ans, "detections");
    json_t *classes = json_object_get(ans, "classes");
    if (c->mode == CHAIN_CROP) {
        metrics_histogram_observe(&c->stage_seconds[1], (double)(now - run->t0) / 1e9);
        for (int i = 0; i < run->n; i++) {
            chain_task *t = &run->tasks[i];
            json_t *d = json_array_get(dets, (size_t)t->det);
            json_object_set_new(d, "crop",
                                json_pack("{s:f, s:f, s:f, s:f}", "x1", t->crop[0], "y1",
                                          t->crop[1], "x2", t->crop[2], "y2", t->crop[3]));
            if (json_is_object(t->result)) { /* a recogniser's {"text", "score"} */
                json_object_set(d, "text", json_object_get(t->result, "text"));
                json_object_set(d, "text_score", json_object_get(t->result, "score"));
                continue;
            }
            json_t *top = json_array_get(t->result, 0);
            if (c->relabel && top) {
                json_object_set(d, "detector_label", json_object_get(d, "label"));
                json_object_set(d, "detector_class_id", json_object_get(d, "class_id"));
                json_object_set(d, "label", json_object_get(top, "label"));
                json_object_set(d, "class_id", json_object_get(top, "class_id"));
            }
            json_object_set_new(d, "classes", t->result);
            t->result = NULL;
        }
    } else {
        for (int i = 0; i < run->n; i++) {
            chain_task *t = &run->tasks[i];
            metrics_histogram_observe(&c->stage_seconds[t->stage],
                                      (double)(t->end_ns - run->t0) / 1e9);
            int det = t->m->conf->task == MODEL_TASK_DETECT;
            json_t **into = det ? &dets : &classes;
            if (!*into) {
                *into = json_array();
                json_object_set_new(ans, det ? "detections" : "classes", *into);
            }
            size_t k;
            json_t *x;
            json_array_foreach(t->result, k, x)
            {
                json_object_set_new(x, "model", answer_text(t->m->name));
                json_array_append(*into, x);
            }
        }
    }
    chain_run_free(it);
    sitem_answered(it);
}

static void task_done(chain_task *t)
{
    chain_run *run = t->run;
    t->end_ns = serve_now_ns();
    if (atomic_fetch_sub(&run->left, 1) == 1) finish(run);
}

static void task_fail(chain_task *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void task_fail(chain_task *t, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->err, sizeof t->err, fmt, ap);
    va_end(ap);
    t->status = status;
    task_done(t);
}

/* batch_item.done of a row of the next model (instance thread). */
static void task_ran(batch_item *bi, const batch_result *res)
{
    chain_task *t = (chain_task *)bi;
    sitem *it = t->run->it;
    repo_model *m = t->m;
    const chain *c = sitem_model(it)->chain;
    uint64_t queue_ns = res->start_ns - bi->commit_ns;
    pipeline_count_run(m, queue_ns, res);
    atomic_fetch_sub(&m->pending, 1);
    if (res->status) {
        task_fail(t, 500, "inference failed: %s", res->error);
        return;
    }
    if (res->end_ns > it->owner->deadline_ns) {
        task_fail(t, 504, "deadline passed before the answer was ready");
        return;
    }
    uint64_t t0 = serve_now_ns();
    thread_scratch *sc = serve_scratch();
    if (!sc) {
        task_fail(t, 500, "out of memory");
        return;
    }
    answer_params p = answer_params_of(m->conf);
    if (c->mode == CHAIN_CROP) p.top_k = c->top_k;
    t->result =
        answer_items(sc->aw, m->conf, &p, res->ctx, res->row, &t->tf, t->err, sizeof t->err);
    pipeline_count_output(m, t->prep_ns, serve_now_ns() - t0, res);
    if (!t->result) {
        task_fail(t, 500, "%s", t->err);
        return;
    }
    atomic_fetch_add(&m->stats.images, 1);
    pipeline_count_step(m, serve_now_ns() - bi->commit_ns);
    t->status = 200;
    task_done(t);
}

/* workq job: cuts and prepares every row of a run into its model's batch
 * (worker). */
static void rows_work(workq_job *job)
{
    chain_run *run = H2O_STRUCT_FROM_MEMBER(chain_run, job, job);
    sreq *r = run->it->owner;
    run->t0 = serve_now_ns();
    int n = run->n; /* the last commit may finish and free the run */
    for (int i = 0; i < n; i++) {
        chain_task *t = &run->tasks[i];
        repo_model *m = t->m;
        if (serve_now_ns() > r->deadline_ns) {
            task_fail(t, 504, "deadline passed before row %d was cut", i);
            continue;
        }
        vision_image view = *run->img;
        if (t->det >= 0) {
            view.pixels = run->img->pixels + (size_t)t->y0 * run->img->stride + (size_t)t->x0 * 3;
            view.width = view.orig_width = t->x1 - t->x0;
            view.height = view.orig_height = t->y1 - t->y0;
            view.scale_num = view.scale_denom = 1;
            view.capacity = 0;
        }
        vision_spec spec = vision_spec_rect(&m->conf->spec, view.orig_width, view.orig_height);
        batch_slot slot;
        int rv = batcher_reserve_hw(m->batcher, spec.height, spec.width, &slot);
        if (rv) {
            task_fail(t, rv == -2 ? 400 : 503, "%s",
                      rv == -2 ? "the crop's tensor is larger than the model is served at"
                               : "the server is shutting down");
            continue;
        }
        uint64_t p0 = serve_now_ns();
        vision_error verr;
        vision_status vs = vision_prepare(&view, &spec, slot.data, slot.floats, &t->tf, &verr);
        t->prep_ns = serve_now_ns() - p0;
        atomic_fetch_add(&m->stats.input_count, 1);
        atomic_fetch_add(&m->stats.input_ns, t->prep_ns);
        if (vs) {
            batcher_commit(m->batcher, &slot, NULL);
            task_fail(t, 400, "crop: %s", verr.msg[0] ? verr.msg : vision_strerror(vs));
            continue;
        }
        atomic_fetch_add(&m->pending, 1);
        t->bi.done = task_ran;
        batcher_commit(m->batcher, &slot, &t->bi);
    }
}

/* The crops of the detections in ans, into run's tasks. */
static int plan_crops(chain *c, chain_run *run, json_t *ans)
{
    const vision_image *img = run->img;
    double sx = (double)img->width / img->orig_width, sy = (double)img->height / img->orig_height;
    json_t *dets = json_object_get(ans, "detections");
    int n = 0;
    size_t i;
    json_t *d;
    json_array_foreach(dets, i, d)
    {
        if (n == c->max_crops) {
            metrics_counter_add(&c->skipped, json_array_size(dets) - i);
            break;
        }
        json_int_t cid = json_integer_value(json_object_get(d, "class_id"));
        const json_t *b = json_object_get(d, "box");
        double x1 = json_number_value(json_object_get(b, "x1"));
        double y1 = json_number_value(json_object_get(b, "y1"));
        double x2 = json_number_value(json_object_get(b, "x2"));
        double y2 = json_number_value(json_object_get(b, "y2"));
        double w = x2 - x1, h = y2 - y1;
        if ((c->classes && (cid < 0 || cid >= c->n_classes || !c->classes[cid])) ||
            w < c->min_size || h < c->min_size) {
            metrics_counter_inc(&c->skipped);
            continue;
        }
        double px = w * c->padding, py = h * c->padding;
        x1 = fmax(0, x1 - px);
        y1 = fmax(0, y1 - py);
        x2 = fmin(img->orig_width, x2 + px);
        y2 = fmin(img->orig_height, y2 + py);
        chain_task *t = &run->tasks[n];
        t->x0 = (int)floor(x1 * sx);
        t->y0 = (int)floor(y1 * sy);
        t->x1 = (int)ceil(x2 * sx);
        t->y1 = (int)ceil(y2 * sy);
        if (t->x1 > img->width) t->x1 = img->width;
        if (t->y1 > img->height) t->y1 = img->height;
        if (t->x1 <= t->x0 || t->y1 <= t->y0) {
            metrics_counter_inc(&c->skipped);
            continue;
        }
        t->crop[0] = t->x0 / sx;
        t->crop[1] = t->y0 / sy;
        t->crop[2] = t->x1 / sx;
        t->crop[3] = t->y1 / sy;
        t->det = (int)i;
        t->stage = 1;
        t->m = c->stages[1];
        n++;
    }
    return n;
}

int chain_next(sitem *it)
{
    repo_model *pm = sitem_model(it);
    chain *c = pm->chain;
    chain_run *run = it->run;
    json_t *ans = it->answer;
    metrics_histogram_observe(&c->stage_seconds[0], (double)(it->queue_ns + it->infer_ns) / 1e9);
    if (!ans || !run) return 0; /* a protocol that answers with tensors: the first model's */
    json_object_set_new(ans, "model", answer_text(pm->name));
    json_t *st = json_array();
    for (int i = 0; i < c->n_stages; i++)
        json_array_append_new(st, answer_text(c->stages[i]->name));
    json_object_set_new(ans, "pipeline", st);
    int n = 0;
    if (c->mode == CHAIN_CROP) {
        n = plan_crops(c, run, ans);
        metrics_counter_add(&c->crops, (uint64_t)n);
    } else {
        const char *key = c->stages[0]->conf->task == MODEL_TASK_DETECT ? "detections" : "classes";
        size_t k;
        json_t *x;
        json_t *first = json_object_get(ans, key);
        json_array_foreach(first, k, x)
        {
            json_object_set_new(x, "model", answer_text(c->stages[0]->name));
        }
        for (; n < c->n_stages - 1; n++) {
            chain_task *t = &run->tasks[n];
            t->det = -1;
            t->stage = n + 1;
            t->m = c->stages[n + 1];
        }
    }
    if (!n) return 0;
    for (int i = 0; i < n; i++)
        run->tasks[i].run = run;
    run->n = n;
    atomic_store(&run->left, n);
    run->job.fn = rows_work;
    workq_push(it->owner->srv->workers, &run->job);
    return 1;
}

/* ---- reporting ---- */

json_t *chain_json(const repo_model *m)
{
    const chain *c = m->chain;
    json_t *st = json_array();
    for (int i = 0; i < c->n_stages; i++)
        json_array_append_new(st, answer_text(c->stages[i]->name));
    return json_pack("{s:s, s:o}", "mode", c->mode == CHAIN_CROP ? "crop" : "merge", "stages", st);
}

void chain_metrics(server *s, strbuf *sb)
{
    int any = 0;
    for (int i = 0; i < s->n_entries; i++)
        any |= s->entries[i]->state == ENTRY_READY && s->entries[i]->model->chain;
    if (!any) return;
    metrics_write_family(sb, "glint_pipeline_stage_seconds", METRICS_HISTOGRAM,
                         "Time of each stage of a pipeline: its first model's run (queue and "
                         "inference), then from cutting the rows to the last one's answer");
    for (int i = 0; i < s->n_entries; i++) {
        const repo_model *m = s->entries[i]->model;
        if (s->entries[i]->state != ENTRY_READY || !m->chain) continue;
        for (int k = 0; k < m->chain->n_stages; k++) {
            metrics_label l[] = {{"model", m->name}, {"stage", m->chain->stages[k]->name}};
            metrics_write_histogram(sb, "glint_pipeline_stage_seconds", l, 2,
                                    &m->chain->stage_seconds[k]);
        }
    }
    static const char *const names[] = {"glint_pipeline_crops_total",
                                        "glint_pipeline_boxes_skipped_total"};
    static const char *const helps[] = {
        "Crops a pipeline sent to its classifier",
        "Boxes a pipeline did not classify (class not listed, under min_size, over max_crops)"};
    for (int f = 0; f < 2; f++) {
        metrics_write_family(sb, names[f], METRICS_COUNTER, helps[f]);
        for (int i = 0; i < s->n_entries; i++) {
            const repo_model *m = s->entries[i]->model;
            if (s->entries[i]->state != ENTRY_READY || !m->chain) continue;
            metrics_label l[] = {{"model", m->name}};
            metrics_write_u64(sb, names[f], l, 1,
                              metrics_counter_get(f ? &m->chain->skipped : &m->chain->crops));
        }
    }
}
