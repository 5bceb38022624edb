/* `glint bench compare base.json new.json`: the two runs side by side and
 * the regression gate; see report.h for the rules. */
#include "bench/report.h"

#include <math.h>
#include <string.h>

typedef struct row {
    const char *name;
    size_t off;
    int better; /* +1 higher is better, -1 lower is better */
    int gated;
} row;

#define M(f) offsetof(bench_metrics, f)

static const row rows[] = {
    {"rps", M(rps), +1, 1},
    {"ok_rps", M(ok_rps), +1, 0},
    {"steady_rps", M(steady_rps), +1, 1},
    {"p50_ms", M(p50_ms), -1, 1},
    {"p90_ms", M(p90_ms), -1, 0},
    {"p95_ms", M(p95_ms), -1, 0},
    {"p99_ms", M(p99_ms), -1, 1},
    {"p99.9_ms", M(p999_ms), -1, 1},
    {"max_ms", M(max_ms), -1, 0},
    {"mean_ms", M(mean_ms), -1, 0},
    {"errors_%", M(error_pct), -1, 1},
    {"requests", M(requests), 0, 0},
};

static double get(const bench_metrics *m, size_t off)
{
    double v;
    memcpy(&v, (const char *)m + off, sizeof v);
    return v;
}

/* 1 if `nv` is a regression from `bv` for row r. */
static int regressed(const row *r, double bv, double nv, double tol)
{
    if (!r->gated) return 0;
    if (r->better > 0) {
        if (isfinite(bv) && !isfinite(nv) && !strcmp(r->name, "steady_rps")) return 1;
        return isfinite(bv) && isfinite(nv) && nv < bv * (1 - tol);
    }
    if (!isfinite(bv) || !isfinite(nv)) return 0;
    double slack = 0.1; /* ms for latencies, percentage points for errors */
    return nv > bv * (1 + tol) && nv - bv > slack;
}

static void cell(char *buf, size_t cap, double v)
{
    if (isfinite(v))
        snprintf(buf, cap, "%.3f", v);
    else
        snprintf(buf, cap, "-");
}

int report_compare(FILE *out, const char *base_path, const char *new_path, const sla_spec *sla,
                   double tolerance)
{
    bench_metrics b, n;
    char bl[512], nl[512];
    if (report_load_metrics(base_path, &b, bl, sizeof bl) ||
        report_load_metrics(new_path, &n, nl, sizeof nl)) {
        fprintf(stderr, "glint bench compare: %s\n", bench_last_error());
        return 1;
    }
    fprintf(out, "base: %s\n      %s\nnew:  %s\n      %s\n", base_path, bl, new_path, nl);
    fprintf(out, "%-12s %14s %14s %9s  %s\n", "metric", "base", "new", "change", "verdict");
    int bad = 0;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *r = &rows[i];
        double bv = get(&b, r->off), nv = get(&n, r->off);
        char bs[32], ns[32], ch[32] = "-";
        cell(bs, sizeof bs, bv);
        cell(ns, sizeof ns, nv);
        if (isfinite(bv) && isfinite(nv) && bv != 0)
            snprintf(ch, sizeof ch, "%+.1f%%", (nv - bv) / bv * 100);
        int reg = regressed(r, bv, nv, tolerance);
        bad |= reg;
        const char *verdict = !r->gated ? "" : reg ? "REGRESSION" : "ok";
        fprintf(out, "%-12s %14s %14s %9s  %s\n", r->name, bs, ns, ch, verdict);
    }
    fprintf(out, "gate: %.0f%% tolerance on rps, steady_rps, p50, p99, p99.9 and errors\n",
            tolerance * 100);
    if (sla) {
        int met = sla_met(sla, &n);
        fprintf(out, "SLA on new: %s\n", met ? "MET" : "MISSED");
        for (int i = 0; i < sla->n; i++) {
            char text[96], v[32];
            double val = sla_metric_value(&n, sla->clauses[i].metric);
            sla_clause_text(&sla->clauses[i], text, sizeof text);
            cell(v, sizeof v, val);
            fprintf(out, "  %-24s measured %-12s %s\n", text, v,
                    sla_clause_met(&sla->clauses[i], val) ? "ok" : "MISSED");
        }
        bad |= !met;
    }
    fprintf(out, "%s\n", bad ? "FAIL: new is worse than base" : "PASS");
    return bad ? 2 : 0;
}
