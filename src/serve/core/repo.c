/* The model repository of glint serve: a folder per model (model.onnx and
 * its model.yaml), loaded into a model, its configuration and a warmed
 * batcher. The table (server.entries) belongs to the loop thread; loading
 * itself runs where it is called (start-up, or a worker for the KServe
 * repository extension). */
#include "model/model_conf.h"
#include "model/precision.h"
#include "serve/core/server_impl.h"
#include "util/cpus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int cmp_entry(const void *a, const void *b)
{
    return strcmp((*(repo_entry *const *)a)->name, (*(repo_entry *const *)b)->name);
}

static void entry_free(repo_entry *e)
{
    if (!e) return;
    free(e->name);
    free(e->dir);
    free(e->source);
    free(e);
}

/* Appends a new unloaded entry called name, serving folder dir (the table
 * is not re-sorted). NULL when out of memory. */
static repo_entry *entry_append(server *s, const char *name, const char *dir)
{
    if (s->n_entries == s->cap_entries) {
        int cap = s->cap_entries ? s->cap_entries * 2 : 8;
        repo_entry **n = realloc(s->entries, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        s->entries = n;
        s->cap_entries = cap;
    }
    repo_entry *e = calloc(1, sizeof *e);
    if (!e || !(e->name = strdup(name)) || !(e->dir = strdup(dir))) {
        entry_free(e);
        return NULL;
    }
    snprintf(e->reason, sizeof e->reason, "not loaded");
    s->entries[s->n_entries++] = e;
    return e;
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
    struct dirent *de;
    char dir[4096], yaml[4200], sha[65], cerr[SERVE_ERR_MAX];
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(dir, sizeof dir, "%s/%s", s->opt.models_dir, de->d_name);
        snprintf(yaml, sizeof yaml, "%s/model.yaml", dir);
        char *source = NULL;
        if (model_conf_read_source(yaml, &source, sha, cerr, sizeof cerr)) {
            fprintf(stderr, "glint serve: model %s: %s\n", de->d_name, cerr);
            source = NULL; /* its load reports the file again */
        }
        int pipeline = !source && chain_is_folder(dir);
        if (!has_model(s->opt.models_dir, de->d_name) && !source && !pipeline) continue;
        repo_entry *e = entry_append(s, de->d_name, dir);
        if (!e) {
            free(source);
            goto oom;
        }
        e->pipeline = pipeline;
        e->source = source; /* new versions come from there (edge_pull.h) */
        snprintf(e->source_sha256, sizeof e->source_sha256, "%s", sha);
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
        if (strlen(s->entries[i]->name) == len && !memcmp(s->entries[i]->name, name, len))
            return s->entries[i];
    return NULL;
}

repo_entry *repo_add(server *s, const char *name, const char *dir, char *err, size_t err_size)
{
    if (repo_find(s, name, strlen(name))) {
        snprintf(err, err_size, "the repository already has a model called %s", name);
        return NULL;
    }
    repo_entry *e = entry_append(s, name, dir);
    if (!e) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    qsort(s->entries, (size_t)s->n_entries, sizeof *s->entries, cmp_entry);
    return e;
}

int repo_entry_set_dir(repo_entry *e, const char *dir)
{
    char *d = strdup(dir);
    if (!d) return -1;
    free(e->dir);
    e->dir = d;
    return 0;
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
    if (m->chain) m->batcher = NULL; /* a pipeline borrows its first model's */
    chain_free(m->chain);
    batcher_destroy(m->batcher);
    ratelimit_free(m->limits);
    model_package_close(&m->pkg);
    pthread_mutex_destroy(&m->stats.compute_mu);
    free(m->name);
    free(m);
}

void model_stats_compute(model_stats *st, int batch, uint64_t input_ns, uint64_t infer_ns,
                         uint64_t output_ns)
{
    pthread_mutex_lock(&st->compute_mu);
    struct compute_stats *c[2] = {&st->compute, NULL};
    if (batch > 0 && batch <= BATCHER_MAX_BATCH) c[1] = &st->compute_by_batch[batch];
    for (int i = 0; i < 2 && c[i]; i++) {
        c[i]->count++;
        c[i]->input_ns += input_ns;
        c[i]->infer_ns += infer_ns;
        c[i]->output_ns += output_ns;
    }
    pthread_mutex_unlock(&st->compute_mu);
}

void repo_model_release(repo_model *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1) model_free(m);
}

/* Batcher settings: model.yaml first, then the server's flags; by default
 * as many instances as the process may use CPUs (util/cpus.h), each with
 * its share of them, so that instances x threads fits a container's limit. */
static void batch_options(const server *s, const repo_model *m, batcher_options *o)
{
    const model_serving *sv = &m->pkg.conf.serving;
    memset(o, 0, sizeof *o);
    int cpus = cpus_usable();
    o->instances = sv->instances ? sv->instances : s->opt.instances ? s->opt.instances : cpus;
    if (o->instances > BATCHER_MAX_INSTANCES) o->instances = BATCHER_MAX_INSTANCES;
    int per = cpus / o->instances;
    o->threads = sv->threads ? sv->threads : s->opt.threads ? s->opt.threads : per < 1 ? 1 : per;
    o->max_batch = sv->max_batch ? sv->max_batch : s->opt.max_batch;
    if (!m->pkg.conf.batch_free) o->max_batch = 1;
    if (o->max_batch > BATCHER_MAX_BATCH) o->max_batch = BATCHER_MAX_BATCH;
    o->max_queue_delay_us = sv->max_batch || sv->max_queue_delay_us ? sv->max_queue_delay_us
                                                                    : s->opt.max_queue_delay_us;
    for (int i = 0; i < sv->n_preferred; i++)
        if (sv->preferred[i] <= o->max_batch) o->preferred[o->n_preferred++] = sv->preferred[i];
    o->input_dims[1] = 3;
    o->input_dims[2] = m->pkg.conf.spec.height;
    o->input_dims[3] = m->pkg.conf.spec.width;
    int mh, mw;
    model_conf_max_hw(&m->pkg.conf, &mh, &mw);
    o->max_hw[0] = mh;
    o->max_hw[1] = mw;
    o->bf16 = m->pkg.precision == MODEL_PRECISION_BF16;
    /* a lone request on all the usable CPUs, when the instances split them */
    int solo = sv->solo_threads ? sv->solo_threads : s->opt.solo_threads;
    o->solo_threads = solo < 0 ? cpus : solo;
    if (o->instances < 2 || o->solo_threads <= o->threads) o->solo_threads = 0;
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

/* What a model's answers depend on, the same on every replica that holds
 * the same files: SipHash of its files' bytes and the precision that runs
 * (cache keys shared in Redis name it, so that replicas on different
 * versions of a model never answer with each other's results). */
static uint64_t content_id(const char *dir, int precision)
{
    static const char *const files[] = {"model.onnx", "model.int8.onnx", "model.yaml"};
    static const uint8_t zero[16];
    uint64_t id = (uint64_t)precision;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0) continue;
        uint64_t h = 0;
        if (!fstat(fd, &st) && st.st_size > 0) {
            void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
            if (p != MAP_FAILED) {
                cache_siphash(zero, 1, 3, p, (size_t)st.st_size, (uint8_t *)&h, 8);
                munmap(p, (size_t)st.st_size);
            }
        }
        close(fd);
        id = (id ^ h) * 0x9e3779b97f4a7c15ull + i;
    }
    return id;
}

int repo_load_dir(server *s, const char *name, const char *path, int precision, repo_model **out,
                  char *err, size_t err_size)
{
    *out = NULL;
    uint64_t t0 = serve_now_ns();
    repo_model *m = calloc(1, sizeof *m);
    if (m) pthread_mutex_init(&m->stats.compute_mu, NULL);
    char cerr[SERVE_ERR_MAX];
    if (!m || !(m->name = strdup(name))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    m->file_sig = model_package_sig(path); /* before reading: a later change is seen */
    if (model_package_open(&m->pkg, path, err, err_size)) goto fail;
    m->model = m->pkg.model;
    m->conf = &m->pkg.conf;
    batcher_options bo;
    batch_options(s, m, &bo);
    int prec = s->opt.precision ? s->opt.precision : precision; /* the flag wins */
    if (model_package_settle(&m->pkg, prec, bo.threads, err, err_size)) goto fail;
    m->model = m->pkg.model; /* the int8 form, if chosen */
    if (s->opt.redis_url) m->content_id = content_id(path, m->pkg.precision);
    batch_options(s, m, &bo);
    if (batcher_create(m->model, &bo, &m->batcher, cerr, sizeof cerr)) {
        snprintf(err, err_size, "%s: %s", m->pkg.onnx_path, cerr);
        goto fail;
    }
    const model_serving *sv = &m->conf->serving;
    m->limit_burst = sv->rate_limit_burst ? sv->rate_limit_burst : (int)ceil(sv->rate_limit);
    if (sv->rate_limit > 0 &&
        !(m->limits = ratelimit_create(sv->rate_limit, m->limit_burst, 4096))) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    m->limit_share = 1;
    m->max_queue = m->conf->serving.max_queue ? m->conf->serving.max_queue : s->opt.max_queue;
    m->timeout_ms = m->conf->serving.timeout_ms ? m->conf->serving.timeout_ms : s->opt.timeout_ms;
    int qms = m->conf->serving.max_queue_ms;
    m->max_queue_ms = qms < 0 ? 0 : qms ? qms : s->opt.max_queue_ms;
    stats_init(&m->stats);
    atomic_init(&m->refs, 1);
    m->load_ms = (double)(serve_now_ns() - t0) / 1e6;
    const char *note = m->pkg.precision_note;
    int is_auto = !strncmp(note, "auto", 4);
    char solo[48] = "";
    if (bo.solo_threads)
        snprintf(solo, sizeof solo, ", a lone request on %d thread(s)", bo.solo_threads);
    fprintf(stderr,
            "glint serve: model %s ready in %.0f ms (%s, %s, %dx%d, %d instance(s) x %d "
            "thread(s)%s, max batch %d, queue delay %lld us)%s%s\n",
            m->name, m->load_ms, model_task_name(m->conf->task), precision_name(m->pkg.precision),
            m->conf->spec.width, m->conf->spec.height, bo.instances, bo.threads, solo, bo.max_batch,
            (long long)bo.max_queue_delay_us, is_auto ? "; precision " : "", is_auto ? note : "");
    *out = m;
    return 0;
fail:
    model_free(m);
    return -1;
}

int repo_entry_load(server *s, const repo_entry *e, repo_model **out, char *err, size_t err_size)
{
    return repo_load_dir(s, e->name, e->dir, e->precision, out, err, err_size);
}

void repo_install(server *s, repo_entry *e, repo_model *m)
{
    repo_model *old = e->model;
    e->model = m;
    e->state = ENTRY_READY;
    e->reason[0] = e->last_error[0] = 0;
    if (s->cache) resp_cache_clear(s->cache);
    repo_model_release(old); /* freed once its last request is answered */
    if (!e->pipeline) chain_refresh(s, e->name, 0);
}

void repo_unload(server *s, repo_entry *e)
{
    if (e->state != ENTRY_READY) return;
    repo_model *m = e->model;
    e->model = NULL;
    e->state = ENTRY_UNAVAILABLE;
    e->generation++;
    snprintf(e->reason, sizeof e->reason, "unloaded");
    e->chain_waiting = 0;
    if (s->cache) resp_cache_clear(s->cache);
    repo_model_release(m); /* freed once its last request is answered */
    if (!e->pipeline) chain_refresh(s, e->name, 1);
}

void repo_free(server *s)
{
    for (int i = 0; i < s->n_entries; i++) {
        repo_model_release(s->entries[i]->model);
        entry_free(s->entries[i]);
    }
    free(s->entries);
    s->entries = NULL;
    s->n_entries = s->cap_entries = 0;
}

/* ---- reloading a model beside the one serving ---- */

typedef struct reload_job {
    h2o_multithread_message_t msg; /* to the loop, when loaded or failed */
    workq_job job;
    server *srv;
    repo_entry *entry;
    char *dir; /* the entry's folder when the reload started (the loop may change it) */
    int precision;
    int generation;
    uint64_t sig;
    repo_model *loaded;
    char err[SERVE_ERR_MAX];
} reload_job;

static void reload_work(workq_job *job)
{
    reload_job *rj = H2O_STRUCT_FROM_MEMBER(reload_job, job, job);
    rj->sig = model_package_sig(rj->dir);
    repo_load_dir(rj->srv, rj->entry->name, rj->dir, rj->precision, &rj->loaded, rj->err,
                  sizeof rj->err);
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
    fprintf(stderr, "glint serve: model %s: %s\n", e->name,
            e->model ? "new version swapped in" : "loaded");
    repo_install(s, e, rj->loaded);
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
        free(rj->dir);
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
    if (e->pipeline) { /* no engine to load: read on the loop, over the models it names */
        chain_reload(s, e, NULL);
        return;
    }
    reload_job *rj = calloc(1, sizeof *rj);
    if (!rj || !(rj->dir = strdup(e->dir))) {
        free(rj);
        return;
    }
    rj->srv = s;
    rj->entry = e;
    rj->precision = e->precision;
    rj->generation = e->generation;
    rj->job.fn = reload_work;
    e->reloading = 1;
    if (e->state != ENTRY_READY) e->state = ENTRY_LOADING;
    workq_push(s->workers, &rj->job);
}

void repo_reload_changed(server *s)
{
    for (int i = 0; i < s->n_entries; i++) {
        repo_entry *e = s->entries[i];
        if (e->state != ENTRY_READY || e->reloading) continue;
        uint64_t sig = model_package_sig(e->dir);
        if (sig != e->model->file_sig && sig != e->failed_sig) repo_reload(s, e);
    }
}

void repo_set_poll_interval(server *s, double seconds)
{
    if (!(seconds > 0)) return;
    s->poll_ns = (uint64_t)(seconds * 1e9);
    s->next_poll_ns = serve_now_ns() + s->poll_ns;
}

void repo_tick(server *s)
{
    uint64_t now = serve_now_ns();
    if (now < s->next_poll_ns) return;
    s->next_poll_ns = now + s->poll_ns;
    repo_reload_changed(s);
}

fail_reason serve_fail_reason(int status)
{
    return status == 504   ? FAIL_TIMEOUT
           : status == 503 ? FAIL_REJECTED
           : status >= 500 ? FAIL_INTERNAL
                           : FAIL_BAD_REQUEST;
}
