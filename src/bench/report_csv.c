/* seconds.csv, steps.csv and the end-of-run text; see report.h. Empty
 * cells stand for figures that do not apply (NaN). */
#include "bench/report.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* A number for a CSV cell or the terminal: "" / "-" when NaN. */
static const char *num(char *buf, size_t cap, double v, int prec, const char *none)
{
    if (!isfinite(v)) return none;
    snprintf(buf, cap, "%.*f", prec, v);
    return buf;
}

static bench_status write_seconds(const char *path, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return bench_fail(BENCH_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    fputs("t_s,step,level,offered_rps,achieved_rps,ok_rps,responses,ok,failed,timeouts,p50_ms,"
          "p90_ms,p99_ms,max_ms,inflight,server_cpu_cores,server_rss_mb\n",
          f);
    for (int i = 0; i < r->nseconds; i++) {
        const bench_second *s = &r->seconds[i];
        char a[32], b[32], c[32];
        fprintf(f, "%.1f,%d,%d,%s,%.3f,%.3f,%llu,%llu,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%d,%s,%s\n",
                s->t, s->step, s->level, num(a, sizeof a, s->offered_rps, 3, ""), s->achieved_rps,
                s->ok_rps, (unsigned long long)s->responses, (unsigned long long)s->ok,
                (unsigned long long)s->failed, (unsigned long long)s->timeouts, s->p50_ms,
                s->p90_ms, s->p99_ms, s->max_ms, s->inflight,
                num(b, sizeof b, s->server_cpu, 3, ""), num(c, sizeof c, s->server_rss_mb, 1, ""));
    }
    if (fclose(f)) return bench_fail(BENCH_ERR_IO, "cannot write '%s'", path);
    return BENCH_OK;
}

static bench_status write_steps(const char *path, const bench_result *r)
{
    FILE *f = fopen(path, "w");
    if (!f) return bench_fail(BENCH_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    fputs("step,level,start_s,end_s,offered_rps,achieved_rps,ok_rps,success_rate,finished,ok,"
          "failed,p50_ms,p90_ms,p95_ms,p99_ms,max_ms,windows,stable,steady,server_cpu_cores,"
          "server_rss_mb\n",
          f);
    for (int i = 0; i < r->nsteps; i++) {
        const bench_step *s = &r->steps[i];
        char a[32], b[32], c[32];
        fprintf(
            f,
            "%d,%d,%.1f,%.1f,%s,%.3f,%.3f,%.5f,%llu,%llu,%llu,%.3f,%.3f,%.3f,%.3f,%.3f,%d,%s,%d,"
            "%s,%s\n",
            s->index, s->level, s->start_s, s->end_s, num(a, sizeof a, s->offered_rps, 3, ""),
            s->achieved_rps, s->ok_rps, s->success_rate, (unsigned long long)s->finished,
            (unsigned long long)s->ok, (unsigned long long)s->failed, s->p50_ms, s->p90_ms,
            s->p95_ms, s->p99_ms, s->max_ms, s->windows,
            s->stable < 0 ? ""
            : s->stable   ? "1"
                          : "0",
            s->steady, num(b, sizeof b, s->server_cpu, 3, ""),
            num(c, sizeof c, s->server_rss_mb, 1, ""));
    }
    if (fclose(f)) return bench_fail(BENCH_ERR_IO, "cannot write '%s'", path);
    return BENCH_OK;
}

bench_status report_write_csvs(const char *dir, const bench_config *cfg, const bench_result *res)
{
    (void)cfg;
    char path[4200];
    snprintf(path, sizeof path, "%s/seconds.csv", dir);
    bench_status s = write_seconds(path, res);
    if (s) return s;
    snprintf(path, sizeof path, "%s/steps.csv", dir);
    return write_steps(path, res);
}

static const char *level_name(bench_mode m)
{
    return m == BENCH_RAMP          ? "clients"
           : m == BENCH_CONCURRENCY ? "conc"
           : m == BENCH_RATE        ? "conns"
                                    : "burst";
}

void report_print(FILE *f, const bench_config *cfg, const bench_result *r, const report_sla *sla,
                  const char *out_dir)
{
    char a[32], b[32], c[32], d[32], e[32], g[32];
    const bench_acc *t = &r->total;
    const bench_metrics *m = &r->metrics;
    fprintf(f, "\nglint bench %s %s — %.1f s, stopped: %s\n", bench_mode_name(cfg->mode),
            cfg->url_text, r->run_s, r->stop_reason);
    if (r->nsteps && cfg->mode != BENCH_SPIKE) {
        fprintf(f, "%4s %7s %10s %10s %8s %9s %9s %9s %7s %6s\n", "step", level_name(cfg->mode),
                "offered", "achieved", "success", "p50 ms", "p95 ms", "p99 ms", "steady", "cpu");
        for (int i = 0; i < r->nsteps; i++) {
            const bench_step *s = &r->steps[i];
            fprintf(f, "%4d %7d %10s %10.1f %7.2f%% %9.2f %9.2f %9.2f %7s %6s\n", s->index + 1,
                    s->level, num(a, sizeof a, s->offered_rps, 1, "-"), s->achieved_rps,
                    s->success_rate * 100, s->p50_ms, s->p95_ms, s->p99_ms,
                    s->steady        ? "yes"
                    : s->stable == 0 ? "unstable"
                                     : "no",
                    num(b, sizeof b, s->server_cpu, 2, "-"));
        }
    }
    fprintf(f, "requests: %llu finished, %llu ok, %llu failed",
            (unsigned long long)(t->ok + t->failed), (unsigned long long)t->ok,
            (unsigned long long)t->failed);
    if (t->retries)
        fprintf(f, ", %llu retries (%llu recovered)", (unsigned long long)t->retries,
                (unsigned long long)t->retried_ok);
    if (t->unsent) fprintf(f, ", %llu offered but never sent", (unsigned long long)t->unsent);
    fprintf(f, "\n");
    if (t->failed) {
        fprintf(f, "errors:");
        for (int k = 0; k < BENCH_E_KINDS; k++)
            if (t->errors[k])
                fprintf(f, " %s %llu", bench_errkind_name(k), (unsigned long long)t->errors[k]);
        fprintf(f, "\n");
    }
    fprintf(f, "achieved %.1f rps (offered %s); latency p50 %s p90 %s p99 %s p99.9 %s max %s ms\n",
            m->rps, num(a, sizeof a, r->offered_rps, 1, "-"), num(b, sizeof b, m->p50_ms, 2, "-"),
            num(c, sizeof c, m->p90_ms, 2, "-"), num(d, sizeof d, m->p99_ms, 2, "-"),
            num(e, sizeof e, m->p999_ms, 2, "-"), num(g, sizeof g, m->max_ms, 2, "-"));
    if (cfg->mode == BENCH_SPIKE) {
        fprintf(f, "spike: %d released", r->spike.burst);
        if (r->spike.server_started)
            fprintf(f, " when the server was ready (%.2f s after start)", r->spike.ready_s);
        fprintf(
            f,
            "; first answer after %s ms; %llu/%d ok within the %.1f s timeout; cleared in %s ms\n",
            num(a, sizeof a, r->spike.first_answer_ms, 1, "-"), (unsigned long long)r->spike.ok,
            r->spike.burst, cfg->timeout_s, num(b, sizeof b, r->spike.clear_ms, 1, "-"));
    } else {
        char rule[512];
        bench_rule_text(&cfg->rule, rule, sizeof rule);
        if (r->max_steady_step >= 0) {
            const bench_step *s = &r->steps[r->max_steady_step];
            fprintf(f, "MAX STEADY RPS: %.1f (step %d, %d %s, achieved %.1f, p99 %.2f ms",
                    r->max_steady_rps, s->index + 1, s->level, level_name(cfg->mode),
                    s->achieved_rps, s->p99_ms);
            if (isfinite(s->server_cpu) || isfinite(s->server_rss_mb))
                fprintf(f, ", server CPU %s cores, RSS %s MB",
                        num(a, sizeof a, s->server_cpu, 2, "-"),
                        num(b, sizeof b, s->server_rss_mb, 1, "-"));
            else
                fprintf(f, ", server CPU/RSS unknown: no /health figures");
            fprintf(f, ")\n");
        } else {
            fprintf(f, "MAX STEADY RPS: none — no step was steady\n");
        }
        fprintf(f, "  rule: %s\n", rule);
    }
    if (sla && sla->sla) {
        fprintf(f, "SLA \"%s\": %s\n", sla->text, sla->met ? "MET" : "MISSED");
        for (int i = 0; i < sla->sla->n; i++) {
            const sla_clause *cl = &sla->sla->clauses[i];
            double v = sla_metric_value(m, cl->metric);
            char text[96];
            sla_clause_text(cl, text, sizeof text);
            fprintf(f, "  %-24s measured %-12s %s\n", text, num(a, sizeof a, v, 3, "n/a"),
                    sla_clause_met(cl, v) ? "ok" : "MISSED");
        }
    }
    if (out_dir)
        fprintf(f, "report: %s/report.html (summary.json, steps.csv, seconds.csv, requests.csv)\n",
                out_dir);
}
