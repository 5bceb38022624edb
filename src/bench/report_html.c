/* report.html: one self-contained page (inline CSS and SVG, no script, no
 * network) that tells the story of a run: the answer (max steady RPS and
 * the rule), throughput and latency over time with the steps shaded
 * (green = steady), the latency distribution, the per-step curves and
 * table, errors, and the configuration. Every chart is an <svg
 * class="chart"> with one <path class="series"> per data series. */
#include "bench/report.h"
#include "bench/report_svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *CSS =
    "body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;"
    "max-width:920px;color:#1d2430;background:#fff}"
    "h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid "
    "#e3e6ea;padding-bottom:4px}"
    ".meta{color:#5b6574;margin:0 0 16px}.rule{color:#3d4654;background:#f6f8fa;padding:8px "
    "12px;border-left:3px solid #2e7d32}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #e3e6ea;border-radius:8px;"
    "padding:10px 14px;min-width:150px;flex:1}"
    ".card .k{color:#5b6574;font-size:12px;text-transform:uppercase;letter-spacing:.04em}"
    ".card .v{font-size:26px;font-weight:600}.card .s{color:#5b6574;font-size:12px}"
    ".card.big{border-color:#2e7d32;background:#f3faf3}.card.bad{border-color:#c62828;background:#"
    "fdf3f3}.card.good{border-color:#2e7d32;background:#f3faf3}"
    "table{border-collapse:collapse;width:100%;font-size:13px}th,td{padding:4px "
    "8px;text-align:right;border-bottom:1px solid #eef0f2}th{background:#f6f8fa}"
    "td:first-child,th:first-child{text-align:left}tr.steady td{background:#f3faf3}"
    "svg.chart{display:block;margin:6px 0 14px;max-width:100%;height:auto}"
    "svg .grid{stroke:#eef0f2}svg .axis{stroke:#9aa3ad}svg .xtick{stroke:#9aa3ad}"
    "svg .tick{font-size:11px;fill:#5b6574}svg .alabel{font-size:12px;fill:#3d4654}"
    "svg .ctitle{font-size:13px;font-weight:600;fill:#1d2430}svg "
    ".legend{font-size:12px;fill:#3d4654}"
    "svg .series{stroke-width:2;stroke-linejoin:round}svg .nodata{fill:#9aa3ad}"
    "code{background:#f6f8fa;padding:1px 4px;border-radius:3px}";

static void esc(FILE *f, const char *s)
{
    svg_escape(f, s);
}

static void fnum(FILE *f, double v, int prec)
{
    if (isfinite(v))
        fprintf(f, "%.*f", prec, v);
    else
        fputs("–", f);
}

typedef struct arrays {
    double *t, *off, *ach, *ok, *p50, *p90, *p99, *max, *err;
    int n;
} arrays;

static int arrays_make(arrays *a, const bench_result *r)
{
    int n = r->nseconds ? r->nseconds : 1;
    double **all[] = {&a->t, &a->off, &a->ach, &a->ok, &a->p50, &a->p90, &a->p99, &a->max, &a->err};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        *all[i] = calloc((size_t)n, sizeof(double));
        if (!*all[i]) return -1;
    }
    a->n = r->nseconds;
    for (int i = 0; i < r->nseconds; i++) {
        const bench_second *s = &r->seconds[i];
        int has = s->responses > 0;
        a->t[i] = (s->t + (i ? r->seconds[i - 1].t : 0)) / 2; /* the middle of the second */
        a->off[i] = s->offered_rps;
        a->ach[i] = s->achieved_rps;
        a->ok[i] = s->ok_rps;
        a->p50[i] = has ? s->p50_ms : NAN;
        a->p90[i] = has ? s->p90_ms : NAN;
        a->p99[i] = has ? s->p99_ms : NAN;
        a->max[i] = has ? s->max_ms : NAN;
        a->err[i] = (double)s->failed / (s->t - (i ? r->seconds[i - 1].t : 0));
    }
    return 0;
}

static void arrays_free(arrays *a)
{
    free(a->t);
    free(a->off);
    free(a->ach);
    free(a->ok);
    free(a->p50);
    free(a->p90);
    free(a->p99);
    free(a->max);
    free(a->err);
}

static svg_band *step_bands(const bench_result *r)
{
    svg_band *b = calloc((size_t)(r->nsteps ? r->nsteps : 1), sizeof *b);
    if (!b) return NULL;
    for (int i = 0; i < r->nsteps; i++) {
        b[i].x0 = r->steps[i].start_s;
        b[i].x1 = r->steps[i].end_s;
        b[i].color = r->steps[i].steady ? "#2e7d32" : (i % 2 ? "#9aa3ad" : "#c0c6cd");
        b[i].label = r->steps[i].steady ? "steady step" : "step not steady";
    }
    return b;
}

static void chart_time(FILE *f, const bench_config *cfg, const bench_result *r, const arrays *a,
                       const svg_band *bands)
{
    svg_series rps[4] = {
        {"achieved", "#1565c0", a->t, a->ach, a->n, 0, 0, 0},
        {"ok", "#2e7d32", a->t, a->ok, a->n, 0, 0, 0},
        {"errors/s", "#c62828", a->t, a->err, a->n, 0, 0, 0},
        {"offered", "#37474f", a->t, a->off, a->n, 1, 0, 0},
    };
    int has_off = cfg->mode == BENCH_RAMP || cfg->mode == BENCH_RATE;
    svg_chart c1 = {"chart-rps", "Requests per second: offered vs achieved",
                    "time (s)",  "requests / s",
                    0,           0,
                    rps,         has_off ? 4 : 3,
                    bands,       r->nsteps,
                    NULL,        0,
                    1,           0};
    svg_chart_write(f, &c1);
    svg_series lat[4] = {
        {"p50", "#2e7d32", a->t, a->p50, a->n, 0, 0, 0},
        {"p90", "#f9a825", a->t, a->p90, a->n, 0, 0, 0},
        {"p99", "#c62828", a->t, a->p99, a->n, 0, 0, 0},
        {"max", "#6a1b9a", a->t, a->max, a->n, 1, 0, 0},
    };
    svg_chart c2 = {"chart-latency",
                    "Latency percentiles per second (log scale)",
                    "time (s)",
                    "latency (ms)",
                    0,
                    1,
                    lat,
                    4,
                    bands,
                    r->nsteps,
                    NULL,
                    0,
                    0,
                    0};
    svg_chart_write(f, &c2);
}

static void chart_distribution(FILE *f, const bench_result *r)
{
    const hdr_hist *h = &r->total.lat;
    enum { NP = 70, NB = 48 };
    double px[NP], py[NP];
    int np = 0;
    double nines = h->count > 1 ? log10((double)h->count) : 1;
    for (int i = 0; i < NP && h->count; i++) {
        double e = i / 10.0; /* 10^-e of the requests are slower */
        if (e > nines + 0.05) break;
        double q = 1 - pow(10, -e);
        px[np] = pow(10, e);
        py[np] = hdr_percentile(h, q * 100) / 1000;
        np++;
    }
    if (np && h->count) { /* the max closes the curve */
        px[np] = pow(10, nines + 0.1);
        py[np] = (double)h->max / 1000;
        np++;
    }
    static const svg_tick ticks[] = {{1, "0%"},         {10, "90%"},       {100, "99%"},
                                     {1000, "99.9%"},   {10000, "99.99%"}, {1e5, "99.999%"},
                                     {1e6, "99.9999%"}, {1e7, "99.99999%"}};
    svg_series s1 = {"latency", "#1565c0", px, py, np, 0, 0, 0};
    svg_chart c1 = {"chart-percentiles",
                    "Latency by percentile (whole run)",
                    "percentile",
                    "latency (ms)",
                    1,
                    0,
                    &s1,
                    1,
                    NULL,
                    0,
                    ticks,
                    8,
                    1,
                    0};
    svg_chart_write(f, &c1);

    /* histogram over log-spaced bins between min and max */
    double bx[NB], by[NB];
    int nb = 0;
    if (h->count) {
        double lo = h->min > 0 ? (double)h->min : 1, hi = (double)h->max + 1;
        if (hi <= lo * 1.01) hi = lo * 1.5;
        double step = (log10(hi) - log10(lo)) / NB;
        for (int i = 0; i < NB; i++) {
            bx[i] = pow(10, log10(lo) + (i + 0.5) * step) / 1000;
            by[i] = 0;
        }
        for (int b = 0; b < HDR_BUCKETS; b++) {
            if (!h->counts[b]) continue;
            double v = ((double)hdr_bucket_lo(b) + (double)hdr_bucket_hi(b) - 1) / 2;
            if (v < lo) v = lo;
            int i = (int)((log10(v) - log10(lo)) / step);
            if (i < 0) i = 0;
            if (i >= NB) i = NB - 1;
            by[i] += (double)h->counts[b] * 100.0 / (double)h->count;
        }
        nb = NB;
    }
    svg_series s2 = {"share of requests", "#00838f", bx, by, nb, 0, 0, 1};
    svg_chart c2 = {"chart-histogram",
                    "Latency distribution (share of requests per bin)",
                    "latency (ms, log scale)",
                    "% of requests",
                    1,
                    0,
                    &s2,
                    1,
                    NULL,
                    0,
                    NULL,
                    0,
                    1,
                    0};
    svg_chart_write(f, &c2);
}

static void chart_steps(FILE *f, const bench_config *cfg, const bench_result *r)
{
    int n = r->nsteps;
    double *x = calloc((size_t)(n ? n : 1), sizeof *x),
           *off = calloc((size_t)(n ? n : 1), sizeof *x),
           *ach = calloc((size_t)(n ? n : 1), sizeof *x),
           *p50 = calloc((size_t)(n ? n : 1), sizeof *x),
           *p99 = calloc((size_t)(n ? n : 1), sizeof *x);
    if (!x || !off || !ach || !p50 || !p99) goto done;
    for (int i = 0; i < n; i++) {
        const bench_step *s = &r->steps[i];
        x[i] = cfg->mode == BENCH_RATE ? s->offered_rps : s->level;
        off[i] = s->offered_rps;
        ach[i] = s->achieved_rps;
        p50[i] = s->finished ? s->p50_ms : NAN;
        p99[i] = s->finished ? s->p99_ms : NAN;
    }
    const char *xl = cfg->mode == BENCH_RAMP          ? "clients"
                     : cfg->mode == BENCH_CONCURRENCY ? "requests in flight"
                     : cfg->mode == BENCH_RATE        ? "offered requests / s"
                                                      : "burst size";
    svg_series s1[2] = {{"offered", "#6b7785", x, off, n, 1, 1, 0},
                        {"achieved", "#1565c0", x, ach, n, 0, 1, 0}};
    int has_off = cfg->mode == BENCH_RAMP || cfg->mode == BENCH_RATE;
    svg_chart c1 = {"chart-steps",
                    "Per step: achieved vs offered requests per second",
                    xl,
                    "requests / s",
                    0,
                    0,
                    has_off ? s1 : s1 + 1,
                    has_off ? 2 : 1,
                    NULL,
                    0,
                    NULL,
                    0,
                    1,
                    0};
    svg_chart_write(f, &c1);
    svg_series s2[2] = {{"p50", "#2e7d32", ach, p50, n, 0, 1, 0},
                        {"p99", "#c62828", ach, p99, n, 0, 1, 0}};
    svg_chart c2 = {"chart-load-latency",
                    "Per step: latency vs achieved throughput",
                    "achieved requests / s",
                    "latency (ms)",
                    0,
                    0,
                    s2,
                    2,
                    NULL,
                    0,
                    NULL,
                    0,
                    1,
                    0};
    svg_chart_write(f, &c2);
done:
    free(x);
    free(off);
    free(ach);
    free(p50);
    free(p99);
}

/* Spike: cumulative ok and failed requests against ms since the release. */
static void chart_spike(FILE *f, const bench_result *r)
{
    int n = r->spike.nms;
    /* at most ~400 points: one per bin of `step` ms */
    int step = n > 400 ? (n + 399) / 400 : 1;
    int np = (n + step - 1) / step + 1;
    double *x = calloc((size_t)np, sizeof *x), *ok = calloc((size_t)np, sizeof *x),
           *bad = calloc((size_t)np, sizeof *x);
    if (x && ok && bad) {
        double cok = 0, cbad = 0;
        int k = 0;
        x[k] = 0;
        ok[k] = bad[k] = 0;
        k++;
        for (int i = 0; i < n; i++) {
            cok += r->spike.ok_per_ms[i];
            cbad += r->spike.failed_per_ms[i];
            if ((i + 1) % step == 0 || i == n - 1) {
                x[k] = i + 1;
                ok[k] = cok;
                bad[k] = cbad;
                k++;
            }
        }
        svg_series s[2] = {{"ok", "#2e7d32", x, ok, k, 0, 0, 0},
                           {"failed", "#c62828", x, bad, k, 0, 0, 0}};
        svg_chart c = {"chart-spike",
                       "Spike: requests finished since the release (cumulative)",
                       "ms since the release",
                       "requests",
                       0,
                       0,
                       s,
                       2,
                       NULL,
                       0,
                       NULL,
                       0,
                       1,
                       0};
        svg_chart_write(f, &c);
    }
    free(x);
    free(ok);
    free(bad);
}

static void cards(FILE *f, const bench_config *cfg, const bench_result *r, const report_sla *sla)
{
    const bench_metrics *m = &r->metrics;
    fputs("<section class=\"cards\">", f);
    if (cfg->mode == BENCH_SPIKE) {
        fprintf(f,
                "<div class=\"card big\"><div class=\"k\">Spike of %d</div><div class=\"v\">%llu "
                "ok</div>"
                "<div class=\"s\">within the %.1f s timeout</div></div>",
                r->spike.burst, (unsigned long long)r->spike.ok, cfg->timeout_s);
        fputs("<div class=\"card\"><div class=\"k\">First answer</div><div class=\"v\">", f);
        fnum(f, r->spike.first_answer_ms, 1);
        fputs(" ms</div><div class=\"s\">after the release</div></div>", f);
        fputs("<div class=\"card\"><div class=\"k\">Backlog cleared</div><div class=\"v\">", f);
        fnum(f, r->spike.clear_ms, 1);
        fputs(" ms</div><div class=\"s\">last request finished</div></div>", f);
    } else if (r->max_steady_step >= 0) {
        const bench_step *s = &r->steps[r->max_steady_step];
        fputs("<div class=\"card big\"><div class=\"k\">Max steady RPS</div><div class=\"v\" "
              "id=\"max-steady\">",
              f);
        fnum(f, r->max_steady_rps, 1);
        fprintf(f, "</div><div class=\"s\">step %d (%d), achieved %.1f, p99 %.2f ms", s->index + 1,
                s->level, s->achieved_rps, s->p99_ms);
        if (isfinite(s->server_cpu)) fprintf(f, ", server CPU %.2f cores", s->server_cpu);
        if (isfinite(s->server_rss_mb)) fprintf(f, ", RSS %.0f MB", s->server_rss_mb);
        fputs("</div></div>", f);
    } else {
        fputs("<div class=\"card bad\"><div class=\"k\">Max steady RPS</div><div class=\"v\" "
              "id=\"max-steady\">none</div>"
              "<div class=\"s\">no step was steady</div></div>",
              f);
    }
    fputs("<div class=\"card\"><div class=\"k\">Achieved</div><div class=\"v\">", f);
    fnum(f, m->rps, 1);
    fputs(" rps</div><div class=\"s\">offered ", f);
    fnum(f, r->offered_rps, 1);
    fputs(
        "</div></div><div class=\"card\"><div class=\"k\">Latency p50 / p99</div><div class=\"v\">",
        f);
    fnum(f, m->p50_ms, 2);
    fputs(" / ", f);
    fnum(f, m->p99_ms, 2);
    fputs(" ms</div><div class=\"s\">p99.9 ", f);
    fnum(f, m->p999_ms, 2);
    fputs(", max ", f);
    fnum(f, m->max_ms, 2);
    fputs(" ms</div></div>", f);
    fprintf(f,
            "<div class=\"card%s\"><div class=\"k\">Errors</div><div class=\"v\">%llu</div><div "
            "class=\"s\">",
            r->total.failed ? " bad" : "", (unsigned long long)r->total.failed);
    fnum(f, m->error_pct, 3);
    fprintf(f, "%% of %llu finished</div></div>",
            (unsigned long long)(r->total.ok + r->total.failed));
    if (sla && sla->sla) {
        fprintf(f,
                "<div class=\"card %s\"><div class=\"k\">SLA</div><div class=\"v\">%s</div><div "
                "class=\"s\">",
                sla->met ? "good" : "bad", sla->met ? "met" : "missed");
        esc(f, sla->text);
        fputs("</div></div>", f);
    }
    fputs("</section>\n", f);
}

static void steps_table(FILE *f, const bench_config *cfg, const bench_result *r)
{
    fputs("<table id=\"steps\"><tr><th>step</th><th>level</th><th>offered</th><th>achieved</th>"
          "<th>success</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>windows</th>"
          "<th>steady</th><th>server CPU</th><th>server RSS MB</th></tr>\n",
          f);
    for (int i = 0; i < r->nsteps; i++) {
        const bench_step *s = &r->steps[i];
        fprintf(f, "<tr%s><td>%d</td><td>%d</td><td>", s->steady ? " class=\"steady\"" : "",
                s->index + 1, s->level);
        fnum(f, s->offered_rps, 1);
        fprintf(f,
                "</td><td>%.1f</td><td>%.2f%%</td><td>%.2f</td><td>%.2f</td><td>%.2f</td><td>%d%s</"
                "td><td>%s</td><td>",
                s->achieved_rps, s->success_rate * 100, s->p50_ms, s->p95_ms, s->p99_ms, s->windows,
                s->stable == 1   ? " (stable)"
                : s->stable == 0 ? " (unstable)"
                                 : "",
                cfg->mode == BENCH_SPIKE ? "n/a"
                : s->steady              ? "yes"
                                         : "no");
        fnum(f, s->server_cpu, 2);
        fputs("</td><td>", f);
        fnum(f, s->server_rss_mb, 1);
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void errors_table(FILE *f, const bench_result *r)
{
    const bench_acc *a = &r->total;
    fputs("<table id=\"errors\"><tr><th>kind</th><th>final outcomes</th><th>retried "
          "attempts</th></tr>",
          f);
    for (int k = 0; k < BENCH_E_KINDS; k++)
        fprintf(f, "<tr><td>%s</td><td>%llu</td><td>%llu</td></tr>", bench_errkind_name(k),
                (unsigned long long)a->errors[k], (unsigned long long)a->attempt_errors[k]);
    fprintf(f,
            "</table><p>Retries sent: %llu (%llu requests recovered). Requests offered but never "
            "sent: %llu. Keep-alive connections found closed and reopened: %llu.</p>",
            (unsigned long long)a->retries, (unsigned long long)a->retried_ok,
            (unsigned long long)a->unsent, (unsigned long long)a->reconnects);
    fputs("<p>Status codes:", f);
    int any = 0;
    for (int i = 0; i < 500; i++)
        if (a->status[i]) {
            fprintf(f, " <code>%d</code> × %llu", i + 100, (unsigned long long)a->status[i]);
            any = 1;
        }
    fputs(any ? "</p>\n" : " none</p>\n", f);
}

static void config_table(FILE *f, const bench_config *cfg, const bench_result *r)
{
    fputs("<table id=\"config\">", f);
    fputs("<tr><td>mode</td><td>", f);
    esc(f, bench_mode_name(cfg->mode));
    fputs("</td></tr><tr><td>url</td><td>", f);
    esc(f, cfg->url_text);
    fprintf(f, "</td></tr><tr><td>method</td><td>%s</td></tr>", cfg->payloads->method);
    fprintf(f, "<tr><td>payloads</td><td>%d</td></tr>", cfg->payloads->n);
    fprintf(f, "<tr><td>threads</td><td>%d</td></tr><tr><td>timeout</td><td>%g s</td></tr>",
            cfg->threads, cfg->timeout_s);
    fprintf(f, "<tr><td>retries</td><td>%d (backoff %g ms, at most %g ms, jittered)</td></tr>",
            cfg->retries, cfg->backoff_ms, cfg->backoff_max_ms);
    switch (cfg->mode) {
    case BENCH_RAMP:
        fprintf(f,
                "<tr><td>ramp</td><td>+%d client(s) every %g s up to %d, %g requests/s per "
                "client, %s</td></tr>",
                cfg->step_size, cfg->ramp_interval_s, cfg->max_clients, cfg->client_rps,
                cfg->spread ? "phases spread" : "joining clients in phase");
        break;
    case BENCH_RATE:
        fprintf(f,
                "<tr><td>rate</td><td>%d step(s) of %g s, %s arrivals over %d connections; latency "
                "from the intended send time</td></tr>",
                cfg->nrates, cfg->step_duration_s, cfg->poisson ? "Poisson" : "uniform",
                cfg->connections);
        break;
    case BENCH_CONCURRENCY:
        fprintf(f,
                "<tr><td>concurrency</td><td>%d..%d by %d; windows of %d ms until 3 agree within "
                "%g%% (at least %d, at most %d)</td></tr>",
                cfg->conc_start, cfg->conc_end, cfg->conc_step, cfg->window_ms,
                cfg->stability * 100, cfg->min_windows, cfg->max_windows);
        break;
    case BENCH_SPIKE:
        fprintf(f, "<tr><td>spike</td><td>%d requests at once</td></tr>", cfg->burst);
        if (cfg->server_cmd) {
            fputs("<tr><td>server command</td><td><code>", f);
            esc(f, cfg->server_cmd);
            fputs("</code></td></tr>", f);
        }
        break;
    }
    fputs("<tr><td>started</td><td>", f);
    esc(f, r->started_at);
    fprintf(f, "</td></tr><tr><td>ran</td><td>%.1f s (%.1f s with the drain); stopped: ", r->run_s,
            r->elapsed_s);
    esc(f, r->stop_reason);
    fputs("</td></tr></table>\n", f);
}

bench_status report_write_html(const char *path, const bench_config *cfg, const bench_result *r,
                               const report_sla *sla)
{
    FILE *f = fopen(path, "w");
    if (!f) return bench_fail(BENCH_ERR_IO, "cannot write '%s': %s", path, strerror(errno));
    arrays a = {0};
    svg_band *bands = step_bands(r);
    if (arrays_make(&a, r) || !bands) {
        arrays_free(&a);
        free(bands);
        fclose(f);
        return bench_fail(BENCH_ERR_NOMEM, "no memory for the report");
    }
    fprintf(f,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width\"><title>glint bench %s: ",
            bench_mode_name(cfg->mode));
    esc(f, cfg->url_text);
    fprintf(f, "</title><style>%s</style></head><body>\n", CSS);
    fprintf(f, "<h1>glint bench %s: ", bench_mode_name(cfg->mode));
    esc(f, cfg->url_text);
    fputs("</h1><p class=\"meta\">", f);
    esc(f, r->started_at);
    fprintf(f, " · %s %s · ran %.1f s · stopped: ", cfg->payloads->method,
            cfg->payloads->n > 1 ? "(round-robin payloads)" : "", r->run_s);
    esc(f, r->stop_reason);
    fputs("</p>\n", f);
    cards(f, cfg, r, sla);
    if (cfg->mode != BENCH_SPIKE) {
        char rule[512];
        bench_rule_text(&cfg->rule, rule, sizeof rule);
        fputs("<p class=\"rule\">Rule: ", f);
        esc(f, rule);
        fputs(".</p>\n", f);
    }
    if (cfg->mode == BENCH_SPIKE && r->spike.nms > 0) {
        fputs("<h2>Spike</h2>\n", f);
        chart_spike(f, r);
    }
    fputs("<h2>Throughput</h2>\n<p class=\"meta\">Shaded bands are the steps; green ones are "
          "steady by the rule. Each point is one second.</p>\n",
          f);
    chart_time(f, cfg, r, &a, bands);
    fputs("<h2>Latency distribution</h2>\n", f);
    chart_distribution(f, r);
    fputs("<h2>Steps</h2>\n", f);
    chart_steps(f, cfg, r);
    steps_table(f, cfg, r);
    fputs("<h2>Errors</h2>\n", f);
    errors_table(f, r);
    fputs("<h2>Configuration</h2>\n", f);
    config_table(f, cfg, r);
    fputs("<p class=\"meta\">Latency is measured from the intended send time in rate mode "
          "(coordinated omission corrected) and from the first send otherwise, to the last byte "
          "of the final response; percentiles come from a histogram with at most 0.4% relative "
          "error.</p>\n</body></html>\n",
          f);
    arrays_free(&a);
    free(bands);
    if (fclose(f)) return bench_fail(BENCH_ERR_IO, "cannot write '%s'", path);
    return BENCH_OK;
}
