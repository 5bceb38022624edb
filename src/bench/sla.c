/* SLA parsing and evaluation; see sla.h. */
#include "bench/sla.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { KIND_LATENCY, KIND_RATE, KIND_PERCENT };

static const struct {
    const char *name, *canon;
    int kind;
} metrics[] = {
    {"p50", "p50", KIND_LATENCY},
    {"p90", "p90", KIND_LATENCY},
    {"p95", "p95", KIND_LATENCY},
    {"p99", "p99", KIND_LATENCY},
    {"p99.9", "p999", KIND_LATENCY},
    {"p999", "p999", KIND_LATENCY},
    {"max", "max", KIND_LATENCY},
    {"mean", "mean", KIND_LATENCY},
    {"rps", "rps", KIND_RATE},
    {"ok_rps", "ok_rps", KIND_RATE},
    {"steady_rps", "steady_rps", KIND_RATE},
    {"errors", "errors", KIND_PERCENT},
    {"success", "success", KIND_PERCENT},
};
#define NMETRICS ((int)(sizeof metrics / sizeof metrics[0]))

static int metric_kind(const char *canon)
{
    for (int i = 0; i < NMETRICS; i++)
        if (!strcmp(metrics[i].canon, canon)) return metrics[i].kind;
    return -1;
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Parses one clause from [s, e). */
static bench_status parse_clause(const char *s, const char *e, sla_clause *c)
{
    char text[128];
    size_t len = (size_t)(e - s);
    if (len >= sizeof text) return bench_fail(BENCH_ERR_INVALID, "--sla: clause too long");
    memcpy(text, s, len);
    text[len] = 0;
    const char *p = skip_ws(text);
    const char *m = p;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == '.')
        p++;
    size_t mlen = (size_t)(p - m);
    int found = -1;
    for (int i = 0; i < NMETRICS; i++)
        if (strlen(metrics[i].name) == mlen && !strncasecmp(metrics[i].name, m, mlen)) found = i;
    if (found < 0)
        return bench_fail(BENCH_ERR_INVALID,
                          "--sla clause '%s': unknown metric (use p50, p90, p95, p99, p99.9, "
                          "max, mean, rps, ok_rps, steady_rps, errors, success)",
                          text);
    snprintf(c->metric, sizeof c->metric, "%s", metrics[found].canon);
    p = skip_ws(p);
    if (p[0] == '<' && p[1] == '=') {
        c->op = SLA_LE;
        p += 2;
    } else if (p[0] == '>' && p[1] == '=') {
        c->op = SLA_GE;
        p += 2;
    } else if (p[0] == '<') {
        c->op = SLA_LT;
        p++;
    } else if (p[0] == '>') {
        c->op = SLA_GT;
        p++;
    } else {
        return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': expected <, <=, > or >=", text);
    }
    p = skip_ws(p);
    char *end;
    errno = 0;
    double v = strtod(p, &end);
    if (end == p || errno || !isfinite(v) || v < 0)
        return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': expected a number >= 0", text);
    p = skip_ws(end);
    char unit[8] = "";
    size_t ul = 0;
    while (*p && *p != ' ' && *p != '\t' && ul < sizeof unit - 1)
        unit[ul++] = *p++;
    unit[ul] = 0;
    if (*skip_ws(p))
        return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': junk after the unit", text);
    int kind = metrics[found].kind;
    if (kind == KIND_LATENCY) {
        if (!*unit || !strcmp(unit, "ms"))
            ;
        else if (!strcmp(unit, "us"))
            v /= 1000;
        else if (!strcmp(unit, "s"))
            v *= 1000;
        else
            return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': latency unit is us, ms or s",
                              text);
    } else if (kind == KIND_PERCENT) {
        if (*unit && strcmp(unit, "%"))
            return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': the unit is %%", text);
        if (v > 100) return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': over 100%%", text);
    } else if (*unit) {
        return bench_fail(BENCH_ERR_INVALID, "--sla clause '%s': a rate takes no unit", text);
    }
    c->threshold = v;
    return BENCH_OK;
}

bench_status sla_parse(const char *text, sla_spec *out)
{
    memset(out, 0, sizeof *out);
    if (!text || !*skip_ws(text)) return bench_fail(BENCH_ERR_INVALID, "--sla is empty");
    const char *s = text;
    for (;;) {
        const char *e = strchr(s, ',');
        if (!e) e = s + strlen(s);
        if (out->n == SLA_MAX_CLAUSES)
            return bench_fail(BENCH_ERR_INVALID, "--sla: at most %d clauses", SLA_MAX_CLAUSES);
        bench_status st = parse_clause(s, e, &out->clauses[out->n]);
        if (st) return st;
        out->n++;
        if (!*e) break;
        s = e + 1;
    }
    return BENCH_OK;
}

double sla_metric_value(const bench_metrics *m, const char *metric)
{
    static const struct {
        const char *name;
        size_t off;
    } fields[] = {
        {"p50", offsetof(bench_metrics, p50_ms)},
        {"p90", offsetof(bench_metrics, p90_ms)},
        {"p95", offsetof(bench_metrics, p95_ms)},
        {"p99", offsetof(bench_metrics, p99_ms)},
        {"p999", offsetof(bench_metrics, p999_ms)},
        {"max", offsetof(bench_metrics, max_ms)},
        {"mean", offsetof(bench_metrics, mean_ms)},
        {"rps", offsetof(bench_metrics, rps)},
        {"ok_rps", offsetof(bench_metrics, ok_rps)},
        {"steady_rps", offsetof(bench_metrics, steady_rps)},
        {"errors", offsetof(bench_metrics, error_pct)},
        {"success", offsetof(bench_metrics, success_pct)},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (!strcmp(fields[i].name, metric)) {
            double v;
            memcpy(&v, (const char *)m + fields[i].off, sizeof v);
            return v;
        }
    return NAN;
}

int sla_clause_met(const sla_clause *c, double v)
{
    if (isnan(v)) return 0;
    switch (c->op) {
    case SLA_LT:
        return v < c->threshold;
    case SLA_LE:
        return v <= c->threshold;
    case SLA_GT:
        return v > c->threshold;
    case SLA_GE:
        return v >= c->threshold;
    }
    return 0;
}

int sla_met(const sla_spec *s, const bench_metrics *m)
{
    for (int i = 0; i < s->n; i++)
        if (!sla_clause_met(&s->clauses[i], sla_metric_value(m, s->clauses[i].metric))) return 0;
    return 1;
}

void sla_clause_text(const sla_clause *c, char *buf, size_t cap)
{
    static const char *ops[] = {"<", "<=", ">", ">="};
    int kind = metric_kind(c->metric);
    const char *unit = kind == KIND_LATENCY ? " ms" : kind == KIND_PERCENT ? "%" : "";
    snprintf(buf, cap, "%s %s %g%s", c->metric, ops[c->op], c->threshold, unit);
}

double sla_p99_bound(const sla_spec *s)
{
    double b = NAN;
    for (int i = 0; s && i < s->n; i++)
        if (!strcmp(s->clauses[i].metric, "p99") &&
            (s->clauses[i].op == SLA_LT || s->clauses[i].op == SLA_LE))
            b = isnan(b) || s->clauses[i].threshold < b ? s->clauses[i].threshold : b;
    return b;
}
