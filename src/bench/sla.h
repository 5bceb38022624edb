/* Service-level checks for CI: `--sla "p99<150ms,rps>=40,errors<0.1%"`.
 *
 * Grammar (whitespace allowed around tokens):
 *   spec   := clause { "," clause }          (at most SLA_MAX_CLAUSES)
 *   clause := metric op number [unit]
 *   op     := "<" | "<=" | ">" | ">="
 *   metric := p50 | p90 | p95 | p99 | p99.9 (= p999) | max | mean
 *               latency; unit us | ms (default) | s; compared in ms
 *           | rps | ok_rps | steady_rps       requests per second; no unit
 *           | errors | success                percent of finished requests;
 *                                             unit "%" optional (always %)
 * Metrics are whole-run figures (bench_metrics); steady_rps is the max
 * steady RPS. A metric that could not be measured (no response at all, no
 * steady step) fails its clause.
 * Exit-code convention of the callers: 0 met, 2 missed, 1 tool error.
 */
#ifndef GLINT_BENCH_SLA_H
#define GLINT_BENCH_SLA_H

#include <stddef.h>

#include "bench/bench_stats.h"
#include "bench/bench_status.h"

#define SLA_MAX_CLAUSES 16

typedef enum sla_op { SLA_LT, SLA_LE, SLA_GT, SLA_GE } sla_op;

typedef struct sla_clause {
    char metric[16]; /* canonical name: "p99", "p999", "rps", "errors", ... */
    sla_op op;
    double threshold; /* ms for latency, % for errors/success, 1/s for rates */
} sla_clause;

typedef struct sla_spec {
    sla_clause clauses[SLA_MAX_CLAUSES];
    int n;
} sla_spec;

/* Parses text into *out. Errors: BENCH_ERR_INVALID with the offending
 * clause and what was expected. An empty spec is an error. */
bench_status sla_parse(const char *text, sla_spec *out);

/* The value of a canonical metric in m (NAN when unmeasured or unknown). */
double sla_metric_value(const bench_metrics *m, const char *metric);

/* 1 if value passes clause c (a NAN value never passes). */
int sla_clause_met(const sla_clause *c, double value);

/* 1 if every clause of s passes on m. */
int sla_met(const sla_spec *s, const bench_metrics *m);

/* The clause as text, e.g. "p99 < 150 ms". */
void sla_clause_text(const sla_clause *c, char *buf, size_t cap);

/* The p99 bound in ms the spec sets ("p99<" or "p99<="), NAN when none:
 * the steady-step rule adds it. */
double sla_p99_bound(const sla_spec *s);

#endif
