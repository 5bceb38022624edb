/* The edge module's service: its state and life cycle, the config (read,
 * checked against the repository, installed, persisted, reloaded when the
 * file changes), detectors' readiness, the rate limiter around the
 * escalation policy, and its parts of /health and /metrics (see
 * edge_impl.h). Loop thread unless noted. */
#include "serve/edge/edge_impl.h"

#include "model/fileio.h"
#include "serve/core/proc_stats.h"
#include "serve/edge/edge_iq.h"
#include "serve/edge/edge_pull.h"
#include "serve/edge/edge_samples.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECENT_CAPACITY 16384

edge_state *edge_of(const server *s)
{
    return serve_module_state(s, &edge_module);
}

/* ---- detectors ---- */

static int model_fits(const repo_model *m, edge_mode mode)
{
    if (mode == EDGE_MODE_MULTI_CLASS) return m->conf->task == MODEL_TASK_CLASSIFY;
    if (mode == EDGE_MODE_BOUNDING_BOX) return m->conf->task == MODEL_TASK_DETECT;
    return 1;
}

repo_model *edge_detector_serving_for(server *s, const edge_detector *d, const char *client,
                                      size_t clen)
{
    repo_model *m = repo_get(s, d->id, strlen(d->id)); /* a pulled version */
    int status;
    char err[SERVE_ERR_MAX];
    if (!m && d->model[0]) /* the config's model, or a split's version */
        m = serve_route_model(s, d->model, strlen(d->model), client, clen, &status, err,
                              sizeof err);
    return m;
}

repo_model *edge_detector_serving(server *s, const edge_detector *d)
{
    return edge_detector_serving_for(s, d, NULL, 0);
}

repo_model *edge_detector_oodd(server *s, const edge_detector *d)
{
    char pulled[EDGE_ID_MAX + 8];
    int n = snprintf(pulled, sizeof pulled, "%s" EDGE_OODD_SUFFIX, d->id);
    repo_model *m = repo_get(s, pulled, (size_t)n);
    if (!m && d->oodd_model[0]) m = repo_get(s, d->oodd_model, strlen(d->oodd_model));
    if (m && m->conf->task != MODEL_TASK_CLASSIFY) { /* a detector cannot say in or out */
        repo_model_release(m);
        m = NULL;
    }
    return m;
}

repo_model *edge_detector_model(edge_state *es, const edge_detector *d, const edge_preset *p,
                                const char *client, size_t clen, char *why, size_t size)
{
    if (!p->enabled) {
        snprintf(why, size, "edge inference is disabled for detector %s (preset %s)", d->id,
                 p->name);
        return NULL;
    }
    repo_model *m = edge_detector_serving_for(es->srv, d, client, clen);
    if (!m && !d->model[0]) {
        snprintf(why, size, "detector %s has no model on this edge endpoint", d->id);
        return NULL;
    }
    if (!m) {
        snprintf(why, size, "detector %s: model %s is not ready", d->id, d->model);
        return NULL;
    }
    if (!model_fits(m, d->mode)) {
        snprintf(why, size, "detector %s: mode %s needs a %s model, %s is a %s model", d->id,
                 edge_mode_name(d->mode), d->mode == EDGE_MODE_MULTI_CLASS ? "classify" : "detect",
                 m->name, model_task_name(m->conf->task));
        repo_model_release(m);
        return NULL;
    }
    return m;
}

static int detector_ready(edge_state *es, const edge_detector *d)
{
    char why[SERVE_ERR_MAX];
    repo_model *m =
        edge_detector_model(es, d, &es->cfg->presets[d->preset], NULL, 0, why, sizeof why);
    repo_model_release(m);
    return m != NULL;
}

json_t *edge_readiness_json(edge_state *es)
{
    const edge_config *c = es->cfg;
    json_t *o = json_object();
    for (int i = 0; o && i < c->n_detectors; i++)
        json_object_set_new(o, c->detectors[i].id,
                            json_pack("{s:b}", "ready", detector_ready(es, &c->detectors[i])));
    return o;
}

int edge_all_ready(edge_state *es)
{
    const edge_config *c = es->cfg;
    for (int i = 0; i < c->n_detectors; i++) {
        const edge_detector *d = &c->detectors[i];
        int needs = d->model[0] || edge_pull_waiting(es->pull, d->id); /* a stored version */
        if (c->presets[d->preset].enabled && needs && !detector_ready(es, d)) return 0;
    }
    return 1;
}

/* ---- the rate limiter around the policy ---- */

/* The slot of detector id, created if there is room; NULL if there is
 * none (the limiter then lets everything through). Under rate_mu. */
static rate_slot *rate_slot_of(edge_state *es, const char *id)
{
    for (int i = 0; i < es->n_rates; i++)
        if (!strcasecmp(es->rates[i].id, id)) return &es->rates[i];
    if (es->n_rates == es->cap_rates) {
        int cap = es->cap_rates ? es->cap_rates * 2 : 16;
        rate_slot *n = realloc(es->rates, (size_t)cap * sizeof *n);
        if (!n) return NULL;
        es->rates = n;
        es->cap_rates = cap;
    }
    rate_slot *slot = &es->rates[es->n_rates++];
    snprintf(slot->id, sizeof slot->id, "%s", id);
    slot->last_ns = 0;
    return slot;
}

edge_decision edge_decide(edge_state *es, const char *id, double gap_s, edge_policy_input *in)
{
    in->rate_allowed = 1;
    if (!in->always_return) return edge_policy_answered(in);
    uint64_t now = serve_now_ns();
    pthread_mutex_lock(&es->rate_mu);
    rate_slot *slot = rate_slot_of(es, id);
    in->rate_allowed = !slot || !slot->last_ns || now - slot->last_ns >= (uint64_t)(gap_s * 1e9);
    edge_decision d = edge_policy_answered(in);
    if (d == EDGE_UNCONFIDENT && slot) slot->last_ns = now;
    pthread_mutex_unlock(&es->rate_mu);
    return d;
}

/* ---- config ---- */

int edge_config_fits_repo(edge_state *es, const edge_config *c, char *err, size_t err_size)
{
    server *s = es->srv;
    for (int i = 0; i < c->n_detectors; i++) {
        const edge_detector *d = &c->detectors[i];
        if (d->model[0] && !repo_find(s, d->model, strlen(d->model)) &&
            !split_find(&s->splits, d->model, strlen(d->model))) {
            snprintf(err, err_size,
                     "detectors[%d].model: no model '%s' in the repository %s, nor a split", i,
                     d->model, s->opt.models_dir);
            return -1;
        }
        if (d->oodd_model[0] && !repo_find(s, d->oodd_model, strlen(d->oodd_model))) {
            snprintf(err, err_size, "detectors[%d].oodd_model: no model '%s' in the repository %s",
                     i, d->oodd_model, s->opt.models_dir);
            return -1;
        }
    }
    return 0;
}

static int open_outbox(edge_state *es, char *err, size_t err_size)
{
    if (es->outbox) return 0;
    es->outbox = edge_outbox_open(es->srv->opt.state_dir, es->recent, err, err_size);
    return es->outbox ? 0 : -1;
}

void edge_install_config(edge_state *es, edge_config *c)
{
    server *s = es->srv;
    char err[SERVE_ERR_MAX];
    if (c->upstream[0] && open_outbox(es, err, sizeof err))
        fprintf(stderr, "glint serve: edge: escalations are off: %s\n", err);
    if (es->outbox)
        edge_outbox_configure(es->outbox, c->upstream, c->upstream_token, c->outbox_max_pending,
                              c->outbox_retention_s);
    for (int i = 0; i < 2 * c->n_detectors; i++) { /* models detectors name are loaded */
        const edge_detector *d = &c->detectors[i / 2];
        const char *name = i % 2 ? d->oodd_model : d->model;
        repo_entry *e = name[0] ? repo_find(s, name, strlen(name)) : NULL;
        if (e && e->state == ENTRY_UNAVAILABLE && !e->reloading) repo_reload(s, e);
    }
    repo_set_poll_interval(s, c->refresh_rate); /* model files are looked at this often */
    edge_pull_configure(es->pull, c);
    edge_samples_configure(es->samples, c);
    edge_config_release(es->cfg);
    es->cfg = c;
    metrics_counter_inc(&es->config_reloads);
}

/* Reads the config file: a new config (one reference) or NULL with err. */
static edge_config *read_config(edge_state *es, const char *path, char *err, size_t err_size)
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
    if (c && edge_config_fits_repo(es, c, msg, sizeof msg)) {
        edge_config_release(c);
        c = NULL;
    }
    if (!c) snprintf(err, err_size, "%s: %s", path, msg);
    return c;
}

void edge_persist_config(edge_state *es, const json_t *doc)
{
    if (!es->config_path) return;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", es->config_path);
    /* JSON is YAML */
    if (json_dump_file(doc, tmp, JSON_INDENT(2)) || rename(tmp, es->config_path)) {
        fprintf(stderr, "glint serve: edge config %s not saved: %s\n", es->config_path,
                strerror(errno));
        return;
    }
    stat(es->config_path, &es->config_st); /* ours: not a change to pick up */
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_size == b->st_size && a->st_ino == b->st_ino;
}

static void check_config_file(edge_state *es)
{
    struct stat st;
    if (!es->config_path || stat(es->config_path, &st) || same_file(&st, &es->config_st)) return;
    es->config_st = st;
    char err[SERVE_ERR_MAX];
    edge_config *c = read_config(es, es->config_path, err, sizeof err);
    if (!c) {
        metrics_counter_inc(&es->config_errors);
        fprintf(stderr, "glint serve: edge config not reloaded, the previous one stays: %s\n", err);
        return;
    }
    edge_install_config(es, c);
    fprintf(stderr, "glint serve: edge config %s reloaded (%d detector(s))\n", es->config_path,
            c->n_detectors);
}

/* ---- resources ---- */

json_t *edge_resources_json(edge_state *es)
{
    proc_system ps;
    proc_system_read(&ps);
    double pct = 0;
    if (ps.cpu_total >= 0) {
        int64_t db = ps.cpu_busy - es->cpu_prev[0], dt = ps.cpu_total - es->cpu_prev[1];
        pct = dt > 0 ? 100.0 * (double)db / (double)dt : 0;
        es->cpu_prev[0] = ps.cpu_busy;
        es->cpu_prev[1] = ps.cpu_total;
    }
    int64_t mt = ps.mem_total_bytes, ma = ps.mem_available_bytes;
    return json_pack("{s:{s:{s:f}, s:{s:I, s:I}, s:{s:{s:f}, s:{s:I, s:I}}}}", "system",
                     "cpu_utilization_pct", "total", round(pct * 100) / 100, "ram_bytes", "total",
                     (json_int_t)mt, "used", (json_int_t)(mt >= 0 && ma >= 0 ? mt - ma : -1), "gpu",
                     "compute_utilization_pct", "total", 0.0, "vram_bytes", "total", (json_int_t)0,
                     "used", (json_int_t)0);
}

/* ---- life cycle (the module table) ---- */

int edge_service_start(server *s, void **state, char *err, size_t err_size)
{
    edge_state *es = calloc(1, sizeof *es);
    if (!es) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    *state = es; /* from here on edge_of(s) finds it; stop frees it */
    es->srv = s;
    pthread_mutex_init(&es->rate_mu, NULL);
    if (!(es->recent = edge_recent_create(RECENT_CAPACITY)) ||
        !(es->models = edge_models_create())) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    edge_now_iso(es->started_at, sizeof es->started_at);
    proc_system ps;
    proc_system_read(&ps);
    es->cpu_prev[0] = ps.cpu_busy;
    es->cpu_prev[1] = ps.cpu_total;
    if (!(es->samples = edge_samples_create(s, s->opt.state_dir))) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    if (!(es->pull = edge_pull_start(s, s->opt.state_dir, es->samples, err, err_size))) return -1;
    edge_config *c;
    if (s->opt.edge_config) {
        if (!(es->config_path = strdup(s->opt.edge_config))) {
            snprintf(err, err_size, "out of memory");
            return -1;
        }
        stat(es->config_path, &es->config_st);
        if (!(c = read_config(es, es->config_path, err, err_size))) return -1;
        /* the state folder holds the ids of image queries named by clients */
        if (open_outbox(es, err, err_size)) {
            edge_config_release(c);
            return -1;
        }
    } else if (!(c = edge_config_default())) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    edge_install_config(es, c);
    edge_pull_sources(es->pull);
    es->next_config_check = serve_now_ns() + 1000000000u;
    if (c->n_detectors)
        fprintf(stderr, "glint serve: edge: %d detector(s)%s%s\n", c->n_detectors,
                c->upstream[0] ? ", escalating to " : ", no upstream", c->upstream);
    return 0;
}

void edge_service_tick(server *s, void *state)
{
    edge_state *es = state;
    uint64_t now = serve_now_ns();
    if (es) edge_pull_tick(es->pull);
    if (!es || now < es->next_config_check) return;
    es->next_config_check = now + 1000000000u;
    check_config_file(es);
}

void edge_service_stop(server *s, void *state)
{
    edge_state *es = state;
    if (!es) return;
    edge_pull_stop(es->pull);
    edge_samples_destroy(es->samples);
    edge_outbox_close(es->outbox);
    edge_recent_destroy(es->recent);
    edge_models_destroy(es->models);
    edge_config_release(es->cfg);
    pthread_mutex_destroy(&es->rate_mu);
    free(es->rates);
    free(es->config_path);
    free(es);
}

/* ---- /health and /metrics ---- */

json_t *edge_service_health(server *s, void *state)
{
    edge_state *es = state;
    if (!es || !es->cfg) return json_null();
    const edge_config *c = es->cfg;
    int ready = 0;
    for (int i = 0; i < c->n_detectors; i++)
        ready += detector_ready(es, &c->detectors[i]);
    edge_outbox_stats os = {0};
    if (es->outbox) edge_outbox_stats_read(es->outbox, &os);
    return json_pack("{s:s?, s:i, s:i, s:s?, s:b, s:I, s:I, s:I, s:o}", "config", es->config_path,
                     "detectors", c->n_detectors, "detectors_ready", ready, "upstream",
                     c->upstream[0] ? c->upstream : NULL, "outbox", es->outbox != NULL,
                     "outbox_depth", (json_int_t)os.pending, "outbox_awaiting_answer",
                     (json_int_t)os.awaiting, "outbox_failed", (json_int_t)os.failed,
                     "model_updates", edge_pull_health(es->pull));
}

void edge_service_metrics(server *s, void *state, strbuf *sb)
{
    edge_state *es = state;
    if (!es) return;
    edge_outbox_stats os = {0};
    if (es->outbox) edge_outbox_stats_read(es->outbox, &os);
    const metrics_scalar g[] = {
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
    };
    metrics_write_scalars(sb, g, sizeof g / sizeof g[0]);
    edge_pull_metrics(es->pull, sb);
}
