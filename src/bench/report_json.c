/* summary.json: writing it after a run and reading its "metrics" back for
 * `glint bench compare`; see report.h. NaN figures are written as null. */
#include "bench/report.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *jint(uint64_t v)
{
    return json_integer((json_int_t)v);
}

static json_t *metrics_json(const bench_metrics *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "rps", jnum(m->rps));
    json_object_set_new(o, "ok_rps", jnum(m->ok_rps));
    json_object_set_new(o, "steady_rps", jnum(m->steady_rps));
    json_object_set_new(o, "p50_ms", jnum(m->p50_ms));
    json_object_set_new(o, "p90_ms", jnum(m->p90_ms));
    json_object_set_new(o, "p95_ms", jnum(m->p95_ms));
    json_object_set_new(o, "p99_ms", jnum(m->p99_ms));
    json_object_set_new(o, "p999_ms", jnum(m->p999_ms));
    json_object_set_new(o, "max_ms", jnum(m->max_ms));
    json_object_set_new(o, "mean_ms", jnum(m->mean_ms));
    json_object_set_new(o, "error_pct", jnum(m->error_pct));
    json_object_set_new(o, "success_pct", jnum(m->success_pct));
    json_object_set_new(o, "requests", jnum(m->requests));
    return o;
}

static json_t *step_json(const bench_step *s)
{
    json_t *o = json_object();
    json_object_set_new(o, "index", json_integer(s->index));
    json_object_set_new(o, "level", json_integer(s->level));
    json_object_set_new(o, "start_s", jnum(s->start_s));
    json_object_set_new(o, "end_s", jnum(s->end_s));
    json_object_set_new(o, "offered_rps", jnum(s->offered_rps));
    json_object_set_new(o, "achieved_rps", jnum(s->achieved_rps));
    json_object_set_new(o, "ok_rps", jnum(s->ok_rps));
    json_object_set_new(o, "success_rate", jnum(s->success_rate));
    json_object_set_new(o, "finished", jint(s->finished));
    json_object_set_new(o, "ok", jint(s->ok));
    json_object_set_new(o, "failed", jint(s->failed));
    json_object_set_new(o, "p50_ms", jnum(s->p50_ms));
    json_object_set_new(o, "p90_ms", jnum(s->p90_ms));
    json_object_set_new(o, "p95_ms", jnum(s->p95_ms));
    json_object_set_new(o, "p99_ms", jnum(s->p99_ms));
    json_object_set_new(o, "max_ms", jnum(s->max_ms));
    json_object_set_new(o, "windows", json_integer(s->windows));
    json_object_set_new(o, "stable", s->stable < 0 ? json_null() : json_boolean(s->stable));
    json_object_set_new(o, "steady", json_boolean(s->steady));
    json_object_set_new(o, "server_cpu_cores", jnum(s->server_cpu));
    json_object_set_new(o, "server_rss_mb", jnum(s->server_rss_mb));
    return o;
}

static json_t *config_json(const bench_config *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "threads", json_integer(c->threads));
    json_object_set_new(o, "timeout_s", jnum(c->timeout_s));
    json_object_set_new(o, "retries", json_integer(c->retries));
    json_object_set_new(o, "retry_backoff_ms", jnum(c->backoff_ms));
    json_object_set_new(o, "max_requests", jint(c->max_requests));
    json_object_set_new(o, "duration_cap_s", jnum(c->duration_s));
    json_object_set_new(o, "payloads", json_integer(c->payloads ? c->payloads->n : 0));
    switch (c->mode) {
    case BENCH_RAMP:
        json_object_set_new(o, "start_clients",
                            json_integer(c->start_clients ? c->start_clients : c->step_size));
        json_object_set_new(o, "step_size", json_integer(c->step_size));
        json_object_set_new(o, "max_clients", json_integer(c->max_clients));
        json_object_set_new(o, "time_between_ramp_s", jnum(c->ramp_interval_s));
        json_object_set_new(o, "requests_per_second_per_client", jnum(c->client_rps));
        json_object_set_new(o, "client_start", json_string(c->spread ? "spread" : "sync"));
        break;
    case BENCH_RATE: {
        json_t *r = json_array();
        for (int i = 0; i < c->nrates; i++)
            json_array_append_new(r, jnum(c->rates[i]));
        json_object_set_new(o, "rates", r);
        json_object_set_new(o, "step_duration_s", jnum(c->step_duration_s));
        json_object_set_new(o, "arrivals", json_string(c->poisson ? "poisson" : "uniform"));
        json_object_set_new(o, "connections", json_integer(c->connections));
        break;
    }
    case BENCH_CONCURRENCY:
        json_object_set_new(o, "concurrency_start", json_integer(c->conc_start));
        json_object_set_new(o, "concurrency_end", json_integer(c->conc_end));
        json_object_set_new(o, "concurrency_step", json_integer(c->conc_step));
        json_object_set_new(o, "window_ms", json_integer(c->window_ms));
        json_object_set_new(o, "min_windows", json_integer(c->min_windows));
        json_object_set_new(o, "max_windows", json_integer(c->max_windows));
        json_object_set_new(o, "stability_pct", jnum(c->stability * 100));
        break;
    case BENCH_SPIKE:
        json_object_set_new(o, "burst", json_integer(c->burst));
        json_object_set_new(o, "server_cmd",
                            c->server_cmd ? json_string(c->server_cmd) : json_null());
        json_object_set_new(o, "ready_pattern",
                            c->ready_pattern ? json_string(c->ready_pattern) : json_null());
        break;
    }
    json_t *rule = json_object();
    json_object_set_new(rule, "min_achieved_ratio", jnum(c->rule.min_ratio));
    json_object_set_new(rule, "min_success_rate", jnum(c->rule.min_success));
    json_object_set_new(rule, "max_p99_ms", jnum(c->rule.max_p99_ms));
    json_object_set_new(o, "steady_rule", rule);
    return o;
}

static json_t *kinds_json(const uint64_t *k)
{
    json_t *o = json_object();
    for (int i = 0; i < BENCH_E_KINDS; i++)
        json_object_set_new(o, bench_errkind_name(i), jint(k[i]));
    return o;
}

static json_t *sla_json(const report_sla *r, const bench_metrics *m)
{
    if (!r || !r->sla) return json_null();
    json_t *o = json_object();
    json_object_set_new(o, "spec", json_string(r->text ? r->text : ""));
    json_object_set_new(o, "met", json_boolean(r->met));
    json_t *arr = json_array();
    for (int i = 0; i < r->sla->n; i++) {
        const sla_clause *c = &r->sla->clauses[i];
        char text[96];
        sla_clause_text(c, text, sizeof text);
        double v = sla_metric_value(m, c->metric);
        json_t *e = json_object();
        json_object_set_new(e, "clause", json_string(text));
        json_object_set_new(e, "metric", json_string(c->metric));
        json_object_set_new(e, "threshold", jnum(c->threshold));
        json_object_set_new(e, "value", jnum(v));
        json_object_set_new(e, "met", json_boolean(sla_clause_met(c, v)));
        json_array_append_new(arr, e);
    }
    json_object_set_new(o, "clauses", arr);
    return o;
}

static json_t *summary_json(const bench_config *cfg, const bench_result *r, const report_sla *sla)
{
    const bench_acc *a = &r->total;
    json_t *o = json_object();
    json_object_set_new(o, "tool", json_string("glint bench"));
    json_object_set_new(o, "format", json_integer(1));
    json_object_set_new(o, "mode", json_string(bench_mode_name(cfg->mode)));
    json_object_set_new(o, "url", json_string(cfg->url_text));
    json_object_set_new(o, "method", json_string(cfg->payloads ? cfg->payloads->method : ""));
    json_object_set_new(o, "started_at", json_string(r->started_at));
    json_object_set_new(o, "stop_reason", json_string(r->stop_reason));
    json_object_set_new(o, "duration_s", jnum(r->run_s));
    json_object_set_new(o, "elapsed_s", jnum(r->elapsed_s));
    json_object_set_new(o, "config", config_json(cfg));

    json_t *req = json_object();
    json_object_set_new(req, "offered", jint(a->offered));
    json_object_set_new(req, "sent", jint(a->sent));
    json_object_set_new(req, "finished", jint(a->ok + a->failed));
    json_object_set_new(req, "responses", jint(a->responses));
    json_object_set_new(req, "ok", jint(a->ok));
    json_object_set_new(req, "failed", jint(a->failed));
    json_object_set_new(req, "retries", jint(a->retries));
    json_object_set_new(req, "retried_ok", jint(a->retried_ok));
    json_object_set_new(req, "unsent", jint(a->unsent));
    json_object_set_new(req, "reconnects", jint(a->reconnects));
    json_object_set_new(req, "bytes_in", jint(a->bytes_in));
    json_object_set_new(req, "bytes_out", jint(a->bytes_out));
    json_object_set_new(o, "requests", req);

    json_object_set_new(o, "offered_rps", jnum(r->offered_rps));
    json_object_set_new(o, "achieved_rps", jnum(r->metrics.rps));
    json_object_set_new(o, "ok_rps", jnum(r->metrics.ok_rps));

    json_t *lat = json_object();
    const bench_metrics *m = &r->metrics;
    json_object_set_new(lat, "min", jnum(a->lat.count ? (double)a->lat.min / 1000 : NAN));
    json_object_set_new(lat, "p50", jnum(m->p50_ms));
    json_object_set_new(lat, "p90", jnum(m->p90_ms));
    json_object_set_new(lat, "p95", jnum(m->p95_ms));
    json_object_set_new(lat, "p99", jnum(m->p99_ms));
    json_object_set_new(lat, "p99.9", jnum(m->p999_ms));
    json_object_set_new(lat, "max", jnum(m->max_ms));
    json_object_set_new(lat, "mean", jnum(m->mean_ms));
    json_object_set_new(lat, "count", jint(a->lat.count));
    json_object_set_new(o, "latency_ms", lat);

    json_object_set_new(o, "errors", kinds_json(a->errors));
    json_object_set_new(o, "error_rate", jnum(m->error_pct / 100));
    json_object_set_new(o, "attempt_errors", kinds_json(a->attempt_errors));
    json_t *codes = json_object();
    for (int i = 0; i < 500; i++)
        if (a->status[i]) {
            char k[8];
            snprintf(k, sizeof k, "%d", i + 100);
            json_object_set_new(codes, k, jint(a->status[i]));
        }
    json_object_set_new(o, "status_codes", codes);

    char rule[512];
    bench_rule_text(&cfg->rule, rule, sizeof rule);
    json_object_set_new(o, "steady_rule", json_string(rule));
    json_object_set_new(o, "max_steady_rps", jnum(r->max_steady_rps));
    if (r->max_steady_step >= 0) {
        const bench_step *s = &r->steps[r->max_steady_step];
        json_t *ms = step_json(s);
        json_object_set_new(o, "max_steady", ms);
    } else {
        json_object_set_new(o, "max_steady", json_null());
    }
    json_t *steps = json_array();
    for (int i = 0; i < r->nsteps; i++)
        json_array_append_new(steps, step_json(&r->steps[i]));
    json_object_set_new(o, "steps", steps);
    json_object_set_new(o, "server_stats",
                        json_string(r->health       ? "health"
                                    : r->proc_stats ? "proc"
                                                    : "none"));
    if (cfg->mode == BENCH_SPIKE) {
        json_t *sp = json_object();
        json_object_set_new(sp, "burst", json_integer(r->spike.burst));
        json_object_set_new(sp, "server_started", json_boolean(r->spike.server_started));
        json_object_set_new(sp, "server_ready_s", jnum(r->spike.ready_s));
        json_object_set_new(sp, "first_answer_ms", jnum(r->spike.first_answer_ms));
        json_object_set_new(sp, "ok_within_timeout", jint(r->spike.ok));
        json_object_set_new(sp, "failed", jint(a->failed));
        json_object_set_new(sp, "clear_ms", jnum(r->spike.clear_ms));
        json_object_set_new(o, "spike", sp);
    }
    json_object_set_new(o, "metrics", metrics_json(m));
    json_object_set_new(o, "sla", sla_json(sla, m));
    json_t *files = json_object();
    json_object_set_new(files, "requests_logged", jint(r->logged));
    json_object_set_new(files, "requests_not_logged", jint(r->log_dropped));
    json_object_set_new(o, "requests_csv", files);
    return o;
}

bench_status report_write_summary(const char *path, const bench_config *cfg,
                                  const bench_result *res, const report_sla *sla)
{
    json_t *o = summary_json(cfg, res, sla);
    if (!o) return bench_fail(BENCH_ERR_NOMEM, "no memory for summary.json");
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_REAL_PRECISION(8));
    json_decref(o);
    if (rc) return bench_fail(BENCH_ERR_IO, "cannot write '%s'", path);
    return BENCH_OK;
}

static double get_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

bench_status report_load_metrics(const char *path, bench_metrics *m, char *label, size_t cap)
{
    json_error_t err;
    json_t *o = json_load_file(path, 0, &err);
    if (!o) {
        if (err.line <= 0 || !strncmp(err.text, "unable to open", 14))
            return bench_fail(BENCH_ERR_IO, "cannot read '%s': %s", path, err.text);
        return bench_fail(BENCH_ERR_PARSE, "'%s' line %d: %s", path, err.line, err.text);
    }
    json_t *met = json_object_get(o, "metrics");
    json_t *tool = json_object_get(o, "tool");
    if (!json_is_object(met) || !json_is_string(tool) ||
        strcmp(json_string_value(tool), "glint bench")) {
        json_decref(o);
        return bench_fail(BENCH_ERR_PARSE, "'%s' is not a glint bench summary.json", path);
    }
    m->rps = get_num(met, "rps");
    m->ok_rps = get_num(met, "ok_rps");
    m->steady_rps = get_num(met, "steady_rps");
    m->p50_ms = get_num(met, "p50_ms");
    m->p90_ms = get_num(met, "p90_ms");
    m->p95_ms = get_num(met, "p95_ms");
    m->p99_ms = get_num(met, "p99_ms");
    m->p999_ms = get_num(met, "p999_ms");
    m->max_ms = get_num(met, "max_ms");
    m->mean_ms = get_num(met, "mean_ms");
    m->error_pct = get_num(met, "error_pct");
    m->success_pct = get_num(met, "success_pct");
    m->requests = get_num(met, "requests");
    if (label && cap) {
        json_t *mode = json_object_get(o, "mode"), *url = json_object_get(o, "url"),
               *at = json_object_get(o, "started_at");
        snprintf(label, cap, "%s %s (%s)", json_is_string(mode) ? json_string_value(mode) : "?",
                 json_is_string(url) ? json_string_value(url) : "?",
                 json_is_string(at) ? json_string_value(at) : "?");
    }
    json_decref(o);
    return BENCH_OK;
}
