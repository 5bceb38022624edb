/* Operator routes: GET /health (JSON), GET /metrics (Prometheus text, the
 * series Triton operators chart, under a glint_ prefix) and GET /status (a
 * self-contained page, src/serve/ops/status.html, that charts /health every
 * second). Loop thread. */
#include "serve/ops/ops.h"

#include "model/precision.h"
#include "serve/core/proc_stats.h"
#include "serve/core/server_impl.h"
#include "util/cpus.h"

#include "status_html.h"

#include <stdio.h>
#include <string.h>

#define METRICS_MAX_BYTES ((size_t)8 << 20)

static json_t *batch_sizes_json(const batcher_stats *bs)
{
    json_t *o = json_object();
    for (int b = 1; o && b <= BATCHER_MAX_BATCH; b++) {
        uint64_t n = atomic_load(&bs->by_size[b]);
        if (!n) continue;
        char k[8];
        snprintf(k, sizeof k, "%d", b);
        json_object_set_new(o, k, json_integer((json_int_t)n));
    }
    return o;
}

static json_t *model_health(const repo_entry *e)
{
    json_t *o = json_pack("{s:s, s:s}", "name", e->name, "state",
                          e->state == ENTRY_READY ? "READY" : "UNAVAILABLE");
    if (o && e->last_error[0]) { /* a reload that failed: the previous version serves */
        json_object_set_new(o, "last_load_error", json_string(e->last_error));
        json_object_set_new(o, "load_failures", json_integer((json_int_t)e->load_failures));
    }
    const repo_model *m = e->model;
    if (!o || !m || e->state != ENTRY_READY) {
        if (o && e->reason[0]) json_object_set_new(o, "reason", json_string(e->reason));
        return o;
    }
    const batcher_options *bo = batcher_get_options(m->batcher);
    const batcher_stats *bs = batcher_get_stats(m->batcher);
    json_t *d =
        json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I, s:I, s:o, s:f}", "task",
                  model_task_name(m->conf->task), "precision", precision_name(m->pkg.precision),
                  "queue_depth", atomic_load(&m->pending), "max_queue", m->max_queue, "instances",
                  bo->instances, "threads", bo->threads, "max_batch", bo->max_batch, "images",
                  (json_int_t)atomic_load(&m->stats.images), "executions",
                  (json_int_t)atomic_load(&bs->executions), "arena_bytes",
                  (json_int_t)batcher_arena_bytes(m->batcher), "batch_sizes", batch_sizes_json(bs),
                  "load_ms", m->load_ms);
    json_object_update(o, d);
    json_decref(d);
    json_object_set_new(o, "precision_note", json_string(m->pkg.precision_note));
    if (m->chain) json_object_set_new(o, "pipeline", chain_json(m));
    json_object_set_new(o, "max_queue_ms", json_integer(m->max_queue_ms));
    json_object_set_new(o, "solo_threads", json_integer(bo->solo_threads));
    json_object_set_new(o, "solo_runs", json_integer((json_int_t)atomic_load(&bs->solo_runs)));
    json_object_set_new(o, "solo_ready", json_boolean(atomic_load(&bs->solo_ready)));
    json_object_set_new(o, "weights_freed_bytes",
                        json_integer((json_int_t)atomic_load(&bs->weights_freed)));
    json_object_set_new(o, "requests_ok",
                        json_integer((json_int_t)atomic_load(&m->stats.success_count)));
    json_object_set_new(o, "requests_failed",
                        json_integer((json_int_t)atomic_load(&m->stats.fail_count)));
    metrics_histogram_snapshot hs;
    metrics_histogram_snapshot_read(&m->stats.request_seconds, &hs);
    json_t *bounds = json_array(), *cum = json_array();
    for (int i = 0; i <= hs.nbounds; i++) {
        if (i < hs.nbounds) json_array_append_new(bounds, json_real(hs.bounds[i]));
        json_array_append_new(cum, json_integer((json_int_t)hs.cumulative[i]));
    }
    json_object_set_new(o, "latency",
                        json_pack("{s:o, s:o}", "bounds_s", bounds, "cumulative", cum));
    json_object_set_new(o, "image_run_ms", json_real((double)atomic_load(&bs->image_ns) / 1e6));
    return o;
}

/* The CPUs the thread defaults were computed from (util/cpus.h). */
static json_t *cpus_json(void)
{
    const cpus_info *c = cpus_process();
    return json_pack("{s:i, s:i, s:i, s:i, s:f, s:s}", "usable", c->usable, "online", c->online,
                     "affinity", c->affinity, "cpuset", c->cpuset, "quota", c->quota, "limit",
                     c->limit);
}

/* The fleet's Redis in /health, or null without --redis. */
static json_t *redis_json(server *s)
{
    if (!s->fleet) return json_null();
    fleet_stats fs;
    fleet_get_stats(s->fleet, &fs);
    return json_pack("{s:b, s:i, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "up", fs.up, "replicas",
                     fs.replicas, "digest_key_shared", fs.key_known, "cache_hits",
                     (json_int_t)fs.cache_hits, "cache_misses", (json_int_t)fs.cache_misses,
                     "cache_unanswered", (json_int_t)fs.cache_unanswered, "rate_checks",
                     (json_int_t)fs.rate_checks, "rate_checks_local",
                     (json_int_t)metrics_counter_get(&s->rate_local), "timeouts",
                     (json_int_t)fs.timeouts, "failures", (json_int_t)fs.failures);
}

static void health(server *s, h2o_req_t *req)
{
    proc_stats ps;
    proc_stats_read(&ps);
    resp_cache_stats cs = {0};
    if (s->cache) resp_cache_get_stats(s->cache, &cs);
    uint64_t lookups = cs.hits + cs.misses;
    json_t *models = json_array();
    for (int i = 0; i < s->n_entries; i++)
        json_array_append_new(models, model_health(s->entries[i]));
    json_t *j = json_pack(
        "{s:s, s:s, s:f, s:f, s:I, s:f, s:i, s:i, s:i, s:{s:b, s:I, s:I, s:f, s:I, s:I}, s:o}",
        "status", s->draining ? "draining" : "ok", "version", GLINT_VERSION, "uptime_seconds",
        (double)(serve_now_ns() - s->started_ns) / 1e9, "cold_start_ms", s->cold_start_ms,
        "rss_bytes", (json_int_t)ps.rss_bytes, "cpu_seconds", ps.cpu_seconds, "connections",
        s->connections, "in_flight", s->in_flight, "workers_queue", workq_depth(s->workers),
        "cache", "enabled", s->cache != NULL, "hits", (json_int_t)cs.hits, "misses",
        (json_int_t)cs.misses, "hit_ratio", lookups ? (double)cs.hits / (double)lookups : 0.0,
        "entries", (json_int_t)cs.entries, "bytes", (json_int_t)cs.bytes, "models", models);
    json_object_set_new(j, "cpus", cpus_json());
    json_object_set_new(j, "redis", redis_json(s));
    json_object_set_new(j, "splits", serve_splits_json(s));
    json_object_set_new(j, "recent_errors", serve_recent_errors_json(s));
    serve_modules_health(s, j);
    serve_respond_json(req, 200, j);
}

/* One sample per ready model of a counter read by `get`. */
typedef uint64_t (*model_value)(const repo_model *m);

static void per_model(server *s, strbuf *sb, const char *name, metrics_type type, const char *help,
                      model_value get)
{
    metrics_write_family(sb, name, type, help);
    for (int i = 0; i < s->n_entries; i++) {
        const repo_model *m = s->entries[i]->model;
        if (s->entries[i]->state != ENTRY_READY) continue;
        metrics_label l = {"model", m->name};
        metrics_write_u64(sb, name, &l, 1, get(m));
    }
}

static uint64_t v_success(const repo_model *m)
{
    return atomic_load(&m->stats.success_count);
}
static uint64_t v_images(const repo_model *m)
{
    return atomic_load(&m->stats.images);
}
static uint64_t v_execs(const repo_model *m)
{
    return atomic_load(&batcher_get_stats(m->batcher)->executions);
}
static uint64_t v_pending(const repo_model *m)
{
    int p = atomic_load(&m->pending);
    return p < 0 ? 0 : (uint64_t)p;
}
static uint64_t v_queue_us(const repo_model *m)
{
    return atomic_load(&m->stats.queue_ns) / 1000u;
}
static uint64_t v_input_us(const repo_model *m)
{
    return atomic_load(&m->stats.input_ns) / 1000u;
}
static uint64_t v_infer_us(const repo_model *m)
{
    return atomic_load(&batcher_get_stats(m->batcher)->compute_ns) / 1000u;
}
static uint64_t v_output_us(const repo_model *m)
{
    return atomic_load(&m->stats.output_ns) / 1000u;
}
static uint64_t v_request_us(const repo_model *m)
{
    return (atomic_load(&m->stats.success_ns) + atomic_load(&m->stats.fail_ns)) / 1000u;
}
static uint64_t v_over_budget(const repo_model *m)
{
    return atomic_load(&m->stats.over_budget);
}
static uint64_t v_image_us(const repo_model *m)
{
    return atomic_load(&batcher_get_stats(m->batcher)->image_ns) / 1000u;
}
static uint64_t v_hits(const repo_model *m)
{
    return atomic_load(&m->stats.cache_hit_count);
}
static uint64_t v_misses(const repo_model *m)
{
    return atomic_load(&m->stats.cache_miss_count);
}

static void failures(server *s, strbuf *sb)
{
    static const char *const reasons[FAIL_COUNT] = {"BAD_REQUEST", "REJECTED", "TIMEOUT",
                                                    "INTERNAL"};
    const char *name = "glint_inference_request_failure_total";
    metrics_write_family(sb, name, METRICS_COUNTER, "Failed inference requests by reason");
    for (int i = 0; i < s->n_entries; i++) {
        const repo_model *m = s->entries[i]->model;
        if (s->entries[i]->state != ENTRY_READY) continue;
        for (int r = 0; r < FAIL_COUNT; r++) {
            metrics_label l[2] = {{"model", m->name}, {"reason", reasons[r]}};
            metrics_write_u64(sb, name, l, 2, atomic_load(&m->stats.fail_by[r]));
        }
    }
}

static void histograms(server *s, strbuf *sb)
{
    static const struct {
        const char *name, *help;
        size_t off;
    } h[] = {
        {"glint_request_duration_seconds", "Request time, arrival to answer",
         offsetof(model_stats, request_seconds)},
        {"glint_queue_duration_seconds", "Time an image waited for its batch to run",
         offsetof(model_stats, queue_seconds)},
        {"glint_compute_duration_seconds", "Time of one batch in the engine",
         offsetof(model_stats, compute_seconds)},
        {"glint_batch_size", "Images per batch run", offsetof(model_stats, batch_size)},
    };
    for (size_t k = 0; k < sizeof h / sizeof h[0]; k++) {
        metrics_write_family(sb, h[k].name, METRICS_HISTOGRAM, h[k].help);
        for (int i = 0; i < s->n_entries; i++) {
            const repo_model *m = s->entries[i]->model;
            if (s->entries[i]->state != ENTRY_READY) continue;
            metrics_label l = {"model", m->name};
            const metrics_histogram *hist =
                (const metrics_histogram *)((const char *)&m->stats + h[k].off);
            metrics_write_histogram(sb, h[k].name, &l, 1, hist);
        }
    }
}

static void process(server *s, strbuf *sb)
{
    proc_stats ps;
    proc_stats_read(&ps);
    resp_cache_stats cs = {0};
    if (s->cache) resp_cache_get_stats(s->cache, &cs);
    uint64_t load_failures = 0;
    for (int i = 0; i < s->n_entries; i++)
        load_failures += s->entries[i]->load_failures;
    const metrics_scalar g[] = {
        {"glint_process_cpu_seconds_total", "CPU time of the process", METRICS_COUNTER,
         ps.cpu_seconds},
        {"glint_process_resident_memory_bytes", "Resident memory", METRICS_GAUGE,
         (double)ps.rss_bytes},
        {"glint_process_threads", "Threads", METRICS_GAUGE, (double)ps.threads},
        {"glint_uptime_seconds", "Time since start", METRICS_GAUGE,
         (double)(serve_now_ns() - s->started_ns) / 1e9},
        {"glint_cold_start_seconds", "Process start to ready", METRICS_GAUGE,
         s->cold_start_ms / 1e3},
        {"glint_http_requests_total", "HTTP requests received", METRICS_COUNTER,
         (double)metrics_counter_get(&s->http_requests)},
        {"glint_connections", "Open client connections", METRICS_GAUGE, (double)s->connections},
        {"glint_connections_rejected_total", "Connections refused over the limit", METRICS_COUNTER,
         (double)metrics_counter_get(&s->conn_rejected)},
        {"glint_rate_limited_total", "Requests refused 429 over a client's rate limit",
         METRICS_COUNTER, (double)metrics_counter_get(&s->rate_limited)},
        {"glint_cache_hits_total", "Response cache hits", METRICS_COUNTER, (double)cs.hits},
        {"glint_cache_misses_total", "Response cache misses", METRICS_COUNTER, (double)cs.misses},
        {"glint_cache_entries", "Responses in the cache", METRICS_GAUGE, (double)cs.entries},
        {"glint_cache_bytes", "Bytes held by the cache", METRICS_GAUGE, (double)cs.bytes},
        {"glint_cache_evictions_total", "Cache entries evicted", METRICS_COUNTER,
         (double)cs.evictions},
        {"glint_model_load_failures_total", "Model (re)loads that failed", METRICS_COUNTER,
         (double)load_failures},
    };
    metrics_write_scalars(sb, g, sizeof g / sizeof g[0]);
    if (!s->fleet) return;
    fleet_stats fs;
    fleet_get_stats(s->fleet, &fs);
    const metrics_scalar r[] = {
        {"glint_redis_up", "1 while the fleet's Redis is connected", METRICS_GAUGE, fs.up},
        {"glint_redis_commands_total", "Commands sent to Redis", METRICS_COUNTER,
         (double)fs.commands},
        {"glint_redis_timeouts_total", "Redis commands unanswered within --redis-timeout-ms",
         METRICS_COUNTER, (double)fs.timeouts},
        {"glint_redis_errors_total", "Redis error replies", METRICS_COUNTER, (double)fs.errors},
        {"glint_redis_connects_total", "Connections made to Redis", METRICS_COUNTER,
         (double)fs.connects},
        {"glint_redis_failures_total", "Redis connections that failed or dropped", METRICS_COUNTER,
         (double)fs.failures},
        {"glint_fleet_replicas", "Replicas seen in Redis in the last 3 s", METRICS_GAUGE,
         fs.replicas},
        {"glint_cache_shared_hits_total", "Answers found in the fleet's cache (Redis)",
         METRICS_COUNTER, (double)fs.cache_hits},
        {"glint_cache_shared_misses_total", "Fleet cache lookups that found nothing",
         METRICS_COUNTER, (double)fs.cache_misses},
        {"glint_cache_shared_unanswered_total", "Fleet cache lookups Redis did not answer",
         METRICS_COUNTER, (double)fs.cache_unanswered},
        {"glint_cache_shared_stores_total", "Answers stored in the fleet's cache", METRICS_COUNTER,
         (double)fs.cache_stores},
        {"glint_cache_shared_too_big_total", "Answers over 1 MB kept out of the fleet's cache",
         METRICS_COUNTER, (double)fs.cache_too_big},
        {"glint_rate_checks_shared_total", "Rate checks asked of Redis", METRICS_COUNTER,
         (double)fs.rate_checks},
        {"glint_rate_checks_local_total",
         "Rate checks decided on this replica's share (Redis down or slow)", METRICS_COUNTER,
         (double)metrics_counter_get(&s->rate_local)},
    };
    metrics_write_scalars(sb, r, sizeof r / sizeof r[0]);
}

static void metrics(server *s, h2o_req_t *req)
{
    strbuf sb;
    strbuf_init(&sb, METRICS_MAX_BYTES);
    static const struct {
        const char *name, *help;
        metrics_type type;
        model_value get;
    } series[] = {
        {"glint_inference_request_success_total", "Successful inference requests", METRICS_COUNTER,
         v_success},
        {"glint_inference_count_total", "Images inferred (one per batch row)", METRICS_COUNTER,
         v_images},
        {"glint_inference_exec_count_total",
         "Batches run (inference count / exec count = mean batch size)", METRICS_COUNTER, v_execs},
        {"glint_inference_pending_request_count", "Images admitted and not yet answered",
         METRICS_GAUGE, v_pending},
        {"glint_inference_request_duration_us_total", "Cumulative request time", METRICS_COUNTER,
         v_request_us},
        {"glint_inference_queue_duration_us_total", "Cumulative time images waited for a batch",
         METRICS_COUNTER, v_queue_us},
        {"glint_inference_compute_input_duration_us_total",
         "Cumulative decode and preprocessing time", METRICS_COUNTER, v_input_us},
        {"glint_inference_compute_infer_duration_us_total", "Cumulative engine time",
         METRICS_COUNTER, v_infer_us},
        {"glint_inference_compute_output_duration_us_total", "Cumulative answer building time",
         METRICS_COUNTER, v_output_us},
        {"glint_admission_over_budget_total",
         "Requests refused (503) because their predicted queue wait was over max_queue_ms or "
         "past their deadline",
         METRICS_COUNTER, v_over_budget},
        {"glint_inference_image_run_us",
         "Per-image run time admission predicts waits with (moving average)", METRICS_GAUGE,
         v_image_us},
        {"glint_cache_hit_count_total", "Requests answered from the cache", METRICS_COUNTER,
         v_hits},
        {"glint_cache_miss_count_total", "Requests the cache did not hold", METRICS_COUNTER,
         v_misses},
    };
    for (size_t i = 0; i < sizeof series / sizeof series[0]; i++)
        per_model(s, &sb, series[i].name, series[i].type, series[i].help, series[i].get);
    failures(s, &sb);
    histograms(s, &sb);
    process(s, &sb);
    serve_splits_metrics(s, &sb);
    chain_metrics(s, &sb);
    auth_metrics(s->auth, &sb);
    serve_modules_metrics(s, &sb);
    if (strbuf_error(&sb)) {
        serve_respond_error(s, req, 500, "metrics: %s", serve_strerror(strbuf_error(&sb)));
    } else {
        serve_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8", strbuf_cstr(&sb),
                      strbuf_len(&sb));
    }
    strbuf_dispose(&sb);
}

static int route(server *s, void *state, h2o_req_t *req, const char *path, size_t len)
{
    int is_health = h2o_memis(path, len, H2O_STRLIT("/health"));
    int is_metrics = h2o_memis(path, len, H2O_STRLIT("/metrics"));
    int is_status = h2o_memis(path, len, H2O_STRLIT("/status"));
    if (!is_health && !is_metrics && !is_status) return -1;
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
        serve_respond_error(s, req, 405, "use GET");
        return 0;
    }
    if (is_health)
        health(s, req);
    else if (is_metrics)
        metrics(s, req);
    else /* the page reads /health every second */
        serve_respond(req, 200, "text/html; charset=utf-8", (const char *)glint_status_html,
                      glint_status_html_len);
    return 0;
}

const serve_module ops_module = {.name = "ops", .route = route};
