/* The model repository of glint serve: a folder per model (model.onnx and
 * its model.yaml), loaded into a model, its configuration and a warmed
 * batcher. The table (server.entries) belongs to the loop thread; loading
 * itself runs where it is called (start-up, or a worker for the KServe
 * repository extension). */
#include "serve/server_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const repo_entry *)a)->name, ((const repo_entry *)b)->name);
}

/* 1 if dir/name/model.onnx is a regular file. */
static int has_model(const char *dir, const char *name)
{
    char path[4096];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
    return n > 0 && (size_t)n < sizeof path && !stat(path, &st) && S_ISREG(st.st_mode);
}

int repo_scan(server *s, char *err, size_t err_size)
{
    DIR *d = opendir(s->opt.models_dir);
    if (!d) {
        snprintf(err, err_size, "model repository %s: %s", s->opt.models_dir, strerror(errno));
        return -1;
    }
    int cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !has_model(s->opt.models_dir, de->d_name)) continue;
        if (s->n_entries == cap) {
            cap = cap ? cap * 2 : 8;
            repo_entry *e = realloc(s->entries, (size_t)cap * sizeof *e);
            if (!e) goto oom;
            s->entries = e;
        }
        repo_entry *e = &s->entries[s->n_entries];
        memset(e, 0, sizeof *e);
        if (!(e->name = strdup(de->d_name))) goto oom;
        snprintf(e->reason, sizeof e->reason, "not loaded");
        s->n_entries++;
    }
    closedir(d);
    if (s->n_entries > 1) qsort(s->entries, (size_t)s->n_entries, sizeof *s->entries, cmp_entry);
    return 0;
oom:
    closedir(d);
    snprintf(err, err_size, "out of memory");
    return -1;
}

repo_entry *repo_find(server *s, const char *name, size_t len)
{
    for (int i = 0; i < s->n_entries; i++)
        if (strlen(s->entries[i].name) == len && !memcmp(s->entries[i].name, name, len))
            return &s->entries[i];
    return NULL;
}

repo_model *repo_get(server *s, const char *name, size_t len)
{
    repo_entry *e = repo_find(s, name, len);
    if (!e || e->state != ENTRY_READY) return NULL;
    atomic_fetch_add(&e->model->refs, 1);
    return e->model;
}

static void model_free(repo_model *m)
{
    if (!m) return;
    batcher_destroy(m->batcher);
    model_conf_dispose(&m->conf);
    glint_model_free(m->model);
    free(m->name);
    free(m->dir);
    free(m);
}

void repo_model_release(repo_model *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) model_free(m);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 1024 ? 1024 : (int)n;
}

/* Batcher settings: model.yaml first, then the server's flags. */
static void batch_options(const server *s, const repo_model *m, batcher_options *o)
{
    const model_serving *sv = &m->conf.serving;
    memset(o, 0, sizeof *o);
    o->instances = sv->instances ? sv->instances : s->opt.instances ? s->opt.instances : cores();
    if (o->instances > BATCHER_MAX_INSTANCES) o->instances = BATCHER_MAX_INSTANCES;
    int per = cores() / o->instances;
    o->threads = sv->threads ? sv->threads : s->opt.threads ? s->opt.threads : per < 1 ? 1 : per;
    o->max_batch = sv->max_batch ? sv->max_batch : s->opt.max_batch;
    if (!m->conf.batch_free) o->max_batch = 1;
    if (o->max_batch > BATCHER_MAX_BATCH) o->max_batch = BATCHER_MAX_BATCH;
    o->max_queue_delay_us = sv->max_batch || sv->max_queue_delay_us ? sv->max_queue_delay_us
                                                                    : s->opt.max_queue_delay_us;
    for (int i = 0; i < sv->n_preferred; i++)
        if (sv->preferred[i] <= o->max_batch) o->preferred[o->n_preferred++] = sv->preferred[i];
    o->input_dims[1] = 3;
    o->input_dims[2] = m->conf.spec.height;
    o->input_dims[3] = m->conf.spec.width;
}

static void stats_init(model_stats *st)
{
    metrics_histogram_init(&st->request_seconds, metrics_latency_bounds,
                           METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    metrics_histogram_init(&st->queue_seconds, metrics_latency_bounds, METRICS_LATENCY_BOUNDS_COUNT,
                           METRICS_SCALE_NANO);
    metrics_histogram_init(&st->compute_seconds, metrics_latency_bounds,
                           METRICS_LATENCY_BOUNDS_COUNT, METRICS_SCALE_NANO);
    metrics_histogram_init(&st->batch_size, metrics_batch_bounds, METRICS_BATCH_BOUNDS_COUNT,
                           METRICS_SCALE_ONE);
}

/* The verdict of glint quantize's agreement report beside the int8 model:
 * 1 if it passes, else 0 with why. */
static int report_passes(const char *dir, char *why, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/model.int8.onnx.report.json", dir);
    json_t *r = json_load_file(path, 0, NULL);
    if (!r) {
        snprintf(why, size, "no agreement report %s (write it with glint quantize)", path);
        return 0;
    }
    const json_t *c = json_object_get(r, "chosen_report");
    int ok = json_is_true(json_object_get(c, "passes"));
    if (!ok && json_object_get(c, "f1"))
        snprintf(why, size, "agreement below the bar: detection F1 %.3f < %.2f",
                 json_number_value(json_object_get(c, "f1")),
                 json_number_value(json_object_get(c, "bar_f1")));
    else if (!ok)
        snprintf(why, size, "agreement below the bar: top-1 %.3f < %.2f",
                 json_number_value(json_object_get(c, "top1_agreement")),
                 json_number_value(json_object_get(c, "bar_top1")));
    json_decref(r);
    return ok;
}

/* Median ms of one batch-1 run of models a and b (interleaved, so that both
 * see the same machine), on `threads` threads. -1 on failure. */
static int time_models(glint_model *a, glint_model *b, int threads, double *ma, double *mb)
{
    enum { RUNS = 9 };
    glint_context_options o = {.threads = threads, .max_batch = 1};
    glint_context *ca = NULL, *cb = NULL;
    double ta[RUNS], tb[RUNS];
    int rc = -1;
    if (glint_context_create(a, &o, &ca) || glint_context_create(b, &o, &cb) ||
        glint_context_warm(ca) || glint_context_warm(cb))
        goto out;
    for (int i = 0; i < RUNS; i++) {
        uint64_t t0 = serve_now_ns();
        if (glint_context_warm(ca)) goto out; /* one run on zeroed inputs */
        uint64_t t1 = serve_now_ns();
        if (glint_context_warm(cb)) goto out;
        ta[i] = (double)(t1 - t0) / 1e6;
        tb[i] = (double)(serve_now_ns() - t1) / 1e6;
    }
    qsort(ta, RUNS, sizeof *ta, cmp_double);
    qsort(tb, RUNS, sizeof *tb, cmp_double);
    *ma = ta[RUNS / 2];
    *mb = tb[RUNS / 2];
    rc = 0;
out:
    glint_context_free(ca);
    glint_context_free(cb);
    return rc;
}

/* Settles m's precision (f32, int8 or auto) and swaps in model.int8.onnx
 * when int8 is chosen; m->precision_note says why. 0 or -1 with err. */
static int choose_precision(server *s, repo_model *m, int prec, char *err, size_t err_size)
{
    char path[4096];
    m->precision = MODEL_PRECISION_F32;
    if (prec != MODEL_PRECISION_INT8 && prec != MODEL_PRECISION_AUTO) {
        snprintf(m->precision_note, sizeof m->precision_note, "f32 as configured");
        return 0;
    }
    snprintf(path, sizeof path, "%s/model.int8.onnx", m->dir);
    glint_model *q = NULL;
    if (prec == MODEL_PRECISION_AUTO) {
        char why[SERVE_ERR_MAX];
        struct stat st;
        if (stat(path, &st)) {
            snprintf(m->precision_note, sizeof m->precision_note, "auto: f32 (no model.int8.onnx)");
            return 0;
        }
        if (!report_passes(m->dir, why, sizeof why)) {
            snprintf(m->precision_note, sizeof m->precision_note, "auto: f32, int8 refused: %s",
                     why);
            return 0;
        }
    }
    if (glint_model_load(path, &q)) {
        snprintf(err, err_size, "precision int8: %s (write it with glint quantize)",
                 glint_last_error());
        return -1;
    }
    if (prec == MODEL_PRECISION_AUTO) {
        batcher_options bo;
        batch_options(s, m, &bo);
        double f32_ms, int8_ms;
        if (time_models(m->model, q, bo.threads, &f32_ms, &int8_ms)) {
            snprintf(err, err_size, "precision auto: timing failed: %s", glint_last_error());
            glint_model_free(q);
            return -1;
        }
        int use = int8_ms < f32_ms;
        snprintf(m->precision_note, sizeof m->precision_note,
                 "auto: %s (batch 1, %d thread(s): int8 %.2f ms, f32 %.2f ms; agreement report "
                 "passes)",
                 use ? "int8" : "f32", bo.threads, int8_ms, f32_ms);
        if (!use) {
            glint_model_free(q);
            return 0;
        }
    } else {
        snprintf(m->precision_note, sizeof m->precision_note, "int8 as configured");
    }
    glint_model_free(m->model);
    m->model = q;
    m->precision = MODEL_PRECISION_INT8;
    return 0;
}

int repo_entry_load(server *s, const repo_entry *e, repo_model **out, char *err, size_t err_size)
{
    *out = NULL;
    uint64_t t0 = serve_now_ns();
    repo_model *m = calloc(1, sizeof *m);
    char path[4096], cerr[MODEL_CONF_ERR_MAX];
    if (!m || !(m->name = strdup(e->name))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    snprintf(path, sizeof path, "%s/%s", s->opt.models_dir, e->name);
    m->dir = strdup(path);
    m->file_sig = repo_file_sig(s, e->name); /* before reading: a later change is seen */
    snprintf(path, sizeof path, "%s/%s/model.onnx", s->opt.models_dir, e->name);
    if (!m->dir || glint_model_load(path, &m->model)) {
        snprintf(err, err_size, "%s", m->dir ? glint_last_error() : "out of memory");
        goto fail;
    }
    if (model_conf_load(&m->conf, path, m->model, cerr, sizeof cerr)) {
        snprintf(err, err_size, "%s", cerr);
        goto fail;
    }
    int prec = s->opt.precision ? s->opt.precision : m->conf.serving.precision;
    if (choose_precision(s, m, prec, err, err_size)) goto fail;
    batcher_options bo;
    batch_options(s, m, &bo);
    if (batcher_create(m->model, &bo, &m->batcher, cerr, sizeof cerr)) {
        snprintf(err, err_size, "%s: %s", path, cerr);
        goto fail;
    }
    m->max_queue = m->conf.serving.max_queue ? m->conf.serving.max_queue : s->opt.max_queue;
    m->timeout_ms = m->conf.serving.timeout_ms ? m->conf.serving.timeout_ms : s->opt.timeout_ms;
    stats_init(&m->stats);
    atomic_init(&m->refs, 1);
    m->load_ms = (double)(serve_now_ns() - t0) / 1e6;
    fprintf(stderr,
            "glint serve: model %s ready in %.0f ms (%s, %s, %dx%d, %d instance(s) x %d "
            "thread(s), max batch %d, queue delay %lld us)%s%s\n",
            m->name, m->load_ms, model_task_name(m->conf.task),
            m->precision == MODEL_PRECISION_INT8 ? "int8" : "f32", m->conf.spec.width,
            m->conf.spec.height, bo.instances, bo.threads, bo.max_batch,
            (long long)bo.max_queue_delay_us,
            strncmp(m->precision_note, "auto", 4) ? "" : "; precision ",
            strncmp(m->precision_note, "auto", 4) ? "" : m->precision_note);
    *out = m;
    return 0;
fail:
    model_free(m);
    return -1;
}

void repo_free(server *s)
{
    for (int i = 0; i < s->n_entries; i++) {
        repo_model_release(s->entries[i].model);
        free(s->entries[i].name);
    }
    free(s->entries);
    s->entries = NULL;
    s->n_entries = 0;
}

/* ---- reloading a model beside the one serving ---- */

uint64_t repo_file_sig(const server *s, const char *name)
{
    static const char *const files[] = {"model.onnx", "model.int8.onnx", "model.yaml"};
    uint64_t sig = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s/%s", s->opt.models_dir, name, files[i]);
        if (stat(path, &st)) continue;
        sig = sig * 1000003u + (uint64_t)st.st_mtim.tv_sec * 1000000000u +
              (uint64_t)st.st_mtim.tv_nsec + (uint64_t)st.st_size * 7919u + (uint64_t)st.st_ino;
    }
    return sig;
}

typedef struct reload_job {
    h2o_multithread_message_t msg; /* to the loop, when loaded or failed */
    workq_job job;
    server *srv;
    repo_entry *entry;
    int generation;
    uint64_t sig;
    repo_model *loaded;
    char err[SERVE_ERR_MAX];
} reload_job;

static void reload_work(workq_job *job)
{
    reload_job *rj = H2O_STRUCT_FROM_MEMBER(reload_job, job, job);
    rj->sig = repo_file_sig(rj->srv, rj->entry->name);
    repo_entry_load(rj->srv, rj->entry, &rj->loaded, rj->err, sizeof rj->err);
    h2o_multithread_send_message(&rj->srv->reload_rx, &rj->msg);
}

/* Installs one finished reload (loop thread). */
static void reload_installed(server *s, reload_job *rj)
{
    repo_entry *e = rj->entry;
    if (s->stopping || rj->generation != e->generation) { /* unloaded meanwhile */
        repo_model_release(rj->loaded);
        if (!s->stopping) e->reloading = 0;
        return;
    }
    e->reloading = 0;
    if (!rj->loaded) {
        e->failed_sig = rj->sig;
        e->load_failures++;
        snprintf(e->last_error, sizeof e->last_error, "%s", rj->err);
        fprintf(stderr, "glint serve: model %s: reload failed, %s: %s\n", e->name,
                e->state == ENTRY_READY ? "the previous version keeps serving" : "not serving",
                rj->err);
        if (e->state == ENTRY_LOADING) {
            e->state = ENTRY_UNAVAILABLE;
            snprintf(e->reason, sizeof e->reason, "%s", rj->err);
        }
        return;
    }
    repo_model *old = e->model;
    e->model = rj->loaded;
    e->state = ENTRY_READY;
    e->reason[0] = e->last_error[0] = 0;
    if (s->cache) resp_cache_clear(s->cache);
    fprintf(stderr, "glint serve: model %s: %s\n", e->name,
            old ? "new version swapped in" : "loaded");
    repo_model_release(old); /* freed once its last request is answered */
}

static void on_reloaded(h2o_multithread_receiver_t *rx, h2o_linklist_t *messages)
{
    server *s = H2O_STRUCT_FROM_MEMBER(server, reload_rx, rx);
    while (!h2o_linklist_is_empty(messages)) {
        h2o_multithread_message_t *m =
            H2O_STRUCT_FROM_MEMBER(h2o_multithread_message_t, link, messages->next);
        h2o_linklist_unlink(&m->link);
        reload_job *rj = H2O_STRUCT_FROM_MEMBER(reload_job, msg, m);
        reload_installed(s, rj);
        free(rj);
    }
}

void repo_reload_init(server *s)
{
    h2o_multithread_register_receiver(s->queue, &s->reload_rx, on_reloaded);
}

void repo_reload(server *s, repo_entry *e)
{
    if (e->reloading || e->state == ENTRY_LOADING || s->draining) return;
    reload_job *rj = calloc(1, sizeof *rj);
    if (!rj) return;
    rj->srv = s;
    rj->entry = e;
    rj->generation = e->generation;
    rj->job.fn = reload_work;
    e->reloading = 1;
    if (e->state != ENTRY_READY) e->state = ENTRY_LOADING;
    workq_push(s->workers, &rj->job);
}
